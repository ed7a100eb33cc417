"""Witnessing: co-sign another log's checkpoint only when it extends what was co-signed before.

A witness keeps, per origin, every checkpoint it co-signed together with the consistency proof
it checked. Given a new checkpoint and a consistency proof from the last co-signed size, it:

1. parses the checkpoint and verifies the origin's signature under the origin's known keys;
2. refuses a checkpoint smaller than the last one it co-signed (a rollback);
3. if it already holds a checkpoint of that origin at the same size with a different root, it
   stores both notes as split-view evidence and raises ``Conflict``;
4. verifies the consistency proof from (last size, last root) to (new size, new root) — the
   first checkpoint of an origin needs a proof from size 0 (trust on first use);
5. adds a timestamped ``cosignature/v1`` and stores the co-signed checkpoint.

A checkpoint's extension lines are part of the text the origin signs and the witness co-signs
(cosignature/v1 covers the whole note text), though the witness vouches only for the tree: a
checkpoint of a size and root co-signed before with other extension lines is refused, since its
origin then said two things of one tree.

Once split-view evidence against an origin is kept, none of its checkpoints is co-signed again
(``refuse_split_origin``): an origin that signed two histories is no longer vouched for.

Witnesses also tell each other what they co-signed (``compare``): a checkpoint of an origin
that another witness co-signed, validly signed by that origin, is compared with the history this
witness co-signed; two roots for one size are kept as split-view evidence, as above. A
checkpoint of another size is checked against the one co-signed here by a consistency proof that
the origin gives between the smaller and the larger (``proof_wanted``, ``reconcile``): an origin
that cannot or will not prove the two consistent showed two histories, and both notes are kept as
split-view evidence too (at the smaller size).

The witness's own log is never co-signed by itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gsomia.errors import BadInput, Conflict, VerificationFailed
from gsomia.ledger.hashing import EMPTY_ROOT
from gsomia.ledger.note import (
    SIG_COSIGNATURE_V1,
    SIG_ED25519,
    Checkpoint,
    KeyDirectory,
    NoteSigner,
    SignedNote,
    key_id,
    origin_lines,
    parse_checkpoint,
    parse_note,
    verify_cosignature,
    verify_note_signature,
)
from gsomia.ledger.ports import LogReader, LogStore, SplitView, WitnessedCheckpoint
from gsomia.ledger.proofs import ConsistencyProof
from gsomia.ledger.verify import verify_consistency


@dataclass(frozen=True)
class Cosigned:
    checkpoint: Checkpoint
    note: SignedNote
    previous_size: int


def _known_lines(note: SignedNote, origin: str, keys: KeyDirectory, witness: str) -> SignedNote:
    """Keep the origin's verified signatures and the cosignatures that verify under known keys.

    Only lines that verify are stored, so that ``log verify`` can require every stored line to.
    """
    origin_ids = {key_id(origin, SIG_ED25519, pub) for pub in keys(origin)}
    kept = []
    for sig in note.signatures:
        if sig.name == witness:
            continue
        if sig.name == origin and sig.key_id in origin_ids:
            kept.append(sig)  # verified by verify_note_signature before this is called
            continue
        try:
            verify_cosignature(note, sig, keys(sig.name))
        except VerificationFailed:
            continue
        kept.append(sig)
    return SignedNote(note.text, tuple(kept))


def _evidence(stored: bytes, origin: str, keys: Sequence[bytes]) -> bytes:
    return origin_lines(parse_note(stored, where="stored checkpoint"), origin, keys).encode()


def split_views_of(r: LogReader, origin: str) -> list[SplitView]:
    """The split-view evidence kept against ``origin``, oldest first."""
    return [v for v in r.split_views() if v.origin == origin]


def refuse_split_origin(r: LogReader, origin: str) -> None:
    """Raise ``Conflict`` when split-view evidence against ``origin`` is kept."""
    views = split_views_of(r, origin)
    if views:
        first = views[0]
        raise Conflict(
            f"split view: {origin} signed two histories (evidence {first.id}, at size "
            f"{first.size}); its checkpoints are no longer co-signed"
        )


def compare(store: LogStore, data: bytes, *, keys: KeyDirectory, witness: str) -> SplitView | None:
    """Compare a checkpoint another witness co-signed with the history co-signed here.

    The note must carry a valid signature of its origin (other lines are not needed: the
    evidence is the origin's own two signatures). Returns the split view it reveals and keeps
    (both notes, with the origin's signature lines only), or None when the note agrees with
    every checkpoint of that size co-signed here, no checkpoint of that size was co-signed
    here, or evidence against the origin is already kept.
    """
    note = parse_note(data, where="co-signed checkpoint")
    cp = parse_checkpoint(note.text, where="co-signed checkpoint")
    if cp.origin == witness:
        raise BadInput(f"co-signed checkpoint: {cp.origin} is this witness's own log")
    origin_keys = keys(cp.origin)
    if not origin_keys:
        raise BadInput(f"co-signed checkpoint: no known public key for the origin {cp.origin!r}")
    verify_note_signature(note, cp.origin, origin_keys)
    with store.writing() as w:
        if split_views_of(w, cp.origin):
            return None
        other = next(
            (h for h in w.witnessed(cp.origin) if h.size == cp.size and h.root != cp.root), None
        )
        if other is None:
            return None
        first = _evidence(other.note, cp.origin, origin_keys)
        second = origin_lines(note, cp.origin, origin_keys).encode()
        row = w.add_split_view(cp.origin, cp.size, first, second)
        return SplitView(row, cp.origin, cp.size, first, second)


@dataclass(frozen=True)
class ProofWanted:
    """A consistency proof to ask ``origin`` for: between the checkpoint of size ``cosigned``
    co-signed here and another witness's checkpoint (``note``) of another size."""

    origin: str
    cosigned: int
    note: bytes
    size: int
    root: bytes

    @property
    def old_size(self) -> int:
        return min(self.cosigned, self.size)

    @property
    def new_size(self) -> int:
        return max(self.cosigned, self.size)


@dataclass(frozen=True)
class Unproved:
    """Split-view evidence kept because the origin did not prove two checkpoints consistent."""

    view: SplitView
    reason: str


def proof_wanted(r: LogReader, data: bytes, *, keys: KeyDirectory) -> ProofWanted | None:
    """What to ask the origin of another witness's checkpoint: a consistency proof between it and
    the latest checkpoint of that origin co-signed here, when their sizes differ. None when no
    checkpoint of that origin was co-signed here, one of the same size was (``compare`` judges
    it), or evidence against the origin is already kept. The note must be validly signed by its
    origin: nothing is asked on the word of an unsigned note."""
    note = parse_note(data, where="co-signed checkpoint")
    cp = parse_checkpoint(note.text, where="co-signed checkpoint")
    origin_keys = keys(cp.origin)
    if not origin_keys:
        raise BadInput(f"co-signed checkpoint: no known public key for the origin {cp.origin!r}")
    verify_note_signature(note, cp.origin, origin_keys)
    if split_views_of(r, cp.origin):
        return None
    history = r.witnessed(cp.origin)
    if not history or any(h.size == cp.size for h in history):
        return None
    return ProofWanted(cp.origin, history[-1].size, data, cp.size, cp.root)


def _check_proof(wanted: ProofWanted, mine: bytes, proof: ConsistencyProof) -> None:
    """Raise ``VerificationFailed`` unless ``proof`` shows the two checkpoints consistent."""
    if (proof.origin, proof.old_size, proof.new_size) != (
        wanted.origin,
        wanted.old_size,
        wanted.new_size,
    ):
        raise VerificationFailed(
            f"the proof is for {proof.origin} from size {proof.old_size} to {proof.new_size}, "
            f"not from {wanted.old_size} to {wanted.new_size}"
        )
    old_root, new_root = (
        (mine, wanted.root) if wanted.cosigned < wanted.size else (wanted.root, mine)
    )
    verify_consistency(wanted.old_size, wanted.new_size, old_root, new_root, proof.path)


def reconcile(
    store: LogStore,
    wanted: ProofWanted,
    proof: ConsistencyProof | None,
    *,
    keys: KeyDirectory,
    refused: str = "it gave no proof",
) -> Unproved | None:
    """Judge the origin's answer to ``wanted``: None when ``proof`` verifies against both signed
    roots; else both notes (the origin's signature lines only) are kept as split-view evidence,
    at the smaller size, and returned with the reason. ``proof`` is None when the origin refused
    (``refused`` says how)."""
    origin_keys = keys(wanted.origin)
    theirs = parse_note(wanted.note, where="co-signed checkpoint")
    with store.writing() as w:
        if split_views_of(w, wanted.origin):
            return None
        mine = next((h for h in w.witnessed(wanted.origin) if h.size == wanted.cosigned), None)
        if mine is None:
            raise BadInput(f"no checkpoint of {wanted.origin} of size {wanted.cosigned} co-signed")
        if proof is None:
            reason = refused
        else:
            try:
                _check_proof(wanted, mine.root, proof)
            except VerificationFailed as exc:
                reason = f"its proof does not verify: {exc}"
            else:
                return None
        first = _evidence(mine.note, wanted.origin, origin_keys)
        second = origin_lines(theirs, wanted.origin, origin_keys).encode()
        row = w.add_split_view(wanted.origin, wanted.old_size, first, second)
        view = SplitView(row, wanted.origin, wanted.old_size, first, second)
    return Unproved(view, reason)


def _refuse_other_text(
    history: Sequence[WitnessedCheckpoint], cp: Checkpoint, note: SignedNote
) -> None:
    """Refuse a checkpoint whose size and root were co-signed here with another note text: the
    origin signed two sets of extension lines for one tree (no split view of the tree itself,
    but two statements where it makes one)."""
    for h in history:
        same_tree = h.size == cp.size and h.root == cp.root
        if same_tree and parse_note(h.note, where="stored checkpoint").text != note.text:
            raise VerificationFailed(
                f"checkpoint of {cp.origin} size {cp.size}: its extension lines differ from "
                "the checkpoint of that size co-signed here"
            )


def cosign(
    store: LogStore,
    data: bytes,
    proof: ConsistencyProof,
    *,
    signer: NoteSigner,
    keys: KeyDirectory,
    timestamp: int,
) -> Cosigned:
    note = parse_note(data, where="checkpoint")
    cp = parse_checkpoint(note.text, where="checkpoint")
    if cp.origin == signer.name:
        raise BadInput(f"checkpoint: {cp.origin} is this node's own log; a witness co-signs others")
    origin_keys = keys(cp.origin)
    if not origin_keys:
        raise BadInput(f"checkpoint: no known public key for the origin {cp.origin!r}")
    verify_note_signature(note, cp.origin, origin_keys)
    if proof.origin != cp.origin or proof.new_size != cp.size:
        raise BadInput(
            f"proof: it is for {proof.origin} size {proof.new_size}, "
            f"the checkpoint is {cp.origin} size {cp.size}"
        )
    note = _known_lines(note, cp.origin, keys, signer.name)
    conflict: SplitView | None = None
    with store.writing() as w:
        refuse_split_origin(w, cp.origin)
        history = w.witnessed(cp.origin)
        same = [h for h in history if h.size == cp.size and h.root != cp.root]
        _refuse_other_text(history, cp, note)
        if same:
            first = _evidence(same[0].note, cp.origin, origin_keys)
            second = origin_lines(note, cp.origin, origin_keys).encode()
            row = w.add_split_view(cp.origin, cp.size, first, second)
            conflict = SplitView(row, cp.origin, cp.size, first, second)
        else:
            last_size, last_root = (
                (history[-1].size, history[-1].root) if history else (0, EMPTY_ROOT)
            )
            if cp.size < last_size:
                raise VerificationFailed(
                    f"checkpoint of {cp.origin} has size {cp.size}, smaller than the size "
                    f"{last_size} already co-signed: refusing a rollback"
                )
            if proof.old_size != last_size:
                raise BadInput(
                    f"proof: starts at size {proof.old_size}, but the last checkpoint of "
                    f"{cp.origin} co-signed here has size {last_size}; ask for "
                    f"`gsomia log consistency {last_size} {cp.size}`"
                )
            try:
                verify_consistency(last_size, cp.size, last_root, cp.root, proof.path)
            except VerificationFailed as exc:
                raise VerificationFailed(
                    f"checkpoint of {cp.origin} size {cp.size} does not extend the history "
                    f"co-signed at size {last_size}: {exc}"
                ) from exc
            mine = key_id(signer.name, SIG_COSIGNATURE_V1, signer.public_key)
            kept = tuple(s for s in note.signatures if (s.name, s.key_id) != (signer.name, mine))
            cosigned = SignedNote(note.text, kept).with_signature(
                signer.cosign(note.text, timestamp)
            )
            w.add_witnessed(
                cp.origin,
                cp.size,
                cp.root,
                cosigned.encode(),
                proof_from=last_size,
                proof=proof.path,
            )
    if conflict is not None:
        raise Conflict(
            f"split view: {cp.origin} signed two checkpoints of size {cp.size} with different "
            f"roots; both are kept as evidence {conflict.id}"
        )
    return Cosigned(cp, cosigned, last_size)
