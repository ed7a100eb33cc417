"""The node's log in public: checkpoints, proofs, and co-signing the peers' logs.

Every node signs checkpoints of its own log on a schedule (or when an admin asks): a read never
signs. A proof is made against the latest signed checkpoint; an entry that no signed checkpoint
covers yet has no proof until the next one. As a witness, a node fetches each peer's latest
checkpoint with a consistency proof from the size it last co-signed, checks that the new
checkpoint extends that history (``gsomia.ledger.witness.cosign``), co-signs it and sends the
co-signature back; the peer attaches it to its stored checkpoint. A peer that shows two roots
for one size (a split view), shrinks its log (a rollback) or rewrites it (a failed consistency
proof) is refused; the refusal is stored with the peer's signed checkpoint as evidence and
surfaced to the node's users.

Witnesses tell each other what they co-signed (``gossip_document``, ``check_gossip``): each
round a node fetches from every peer the latest checkpoint of each log that peer co-signed, and
compares it with what it co-signed itself. Two roots for one size of one origin are kept as
split-view evidence (both signed notes) and the origin's checkpoints are not co-signed again.
A checkpoint of another size than the one co-signed here needs a consistency proof from the
origin between the two (``proof_wanted``, asked by the Cosigner, judged by ``judge_proof``):
an origin that refuses or gives a proof that does not verify showed two histories, and the same
evidence is kept; an origin that cannot be reached is asked again in a later round.
A checkpoint of the node's own log co-signed by a peer is attached (its co-signatures merged;
another root signed with the node's key is kept as evidence of a split view of its own log).

Inclusion proofs for an item use a small index from item ids to log entries
(``log_items``), brought up to date from the log itself before each lookup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import orjson

from gsomia.domain.instants import format_instant
from gsomia.errors import BadInput, Conflict, GsomiaError, NotFound, VerificationFailed
from gsomia.ledger.log import origin_of, party_of
from gsomia.ledger.note import (
    Cosignature,
    KeyDirectory,
    NoteSigner,
    parse_checkpoint,
    parse_note,
    verify_every_signature,
)
from gsomia.ledger.ports import StoredCheckpoint, WitnessedCheckpoint
from gsomia.ledger.proofs import ConsistencyProof, b64
from gsomia.ledger.witness import (
    ProofWanted,
    compare,
    cosign,
    proof_wanted,
    reconcile,
    refuse_split_origin,
)
from gsomia.node import agreementstate, audit, notes
from gsomia.node.config import User
from gsomia.node.results import (
    Attached,
    CheckpointDocument,
    Consistency,
    Cosignatures,
    CosignatureSeen,
    GossipDocument,
    Inclusion,
    LatestCosigned,
    PeerCheckpoint,
    Refusal,
    Refusals,
    SplitViewFound,
    SplitViewRecord,
    Witnessed,
    WitnessedLog,
)
from gsomia.node.service import Node

#: The entry types that record an item's arrival at a node, the default for an item's proof.
ARRIVAL_TYPES = ("item.published", "release.received")
INDEX_BATCH = 10_000
#: At most this many co-signed checkpoints are taken from one peer's gossip in one round.
MAX_GOSSIP_NOTES = 32
GOSSIP_VERSION = 1


# ------------------------------------------------------------------ keys
def keys(node: Node) -> KeyDirectory:
    """Public Ed25519 keys by note key name (``gsomia/<PARTY>``), from the node's key ring."""
    ring = node.keyring

    def lookup(name: str) -> Sequence[bytes]:
        party = party_of(name)
        return [] if party is None else ring.peer_ed25519(party)

    return lookup


def signer(node: Node) -> NoteSigner:
    _, seed = node.keyring.note_signer()
    return NoteSigner(origin_of(node.party), seed)


# ------------------------------------------------------------------ own checkpoints
def sign_checkpoint(node: Node) -> StoredCheckpoint:
    """Sign a checkpoint of the log as it is now (the stored one, if the log has not grown),
    carrying the node's digest of each agreement its party is a party to as extension lines
    (``agreementstate.checkpoint_lines``). Every note the node gives or receives is logged, so
    its digests change with its log; when they changed without it (the record or the notes
    held changed otherwise), the new digests are logged first, each an ``agreement.event``
    entry, so that a checkpoint of a new size can state them."""
    lines = agreementstate.checkpoint_lines(node)
    latest = node.log.latest_checkpoint()
    if latest is not None and latest.size == node.log.size():
        said = parse_checkpoint(parse_note(latest.note).text).extensions
        if list(said) != lines:
            _log_states(node, said, lines)
    stored, _ = node.log.checkpoint(signer(node), lines)
    return stored


def _log_states(node: Node, said: Sequence[str], lines: Sequence[str]) -> None:
    """Log each digest that differs from the one the latest checkpoint states."""
    before = agreementstate.parse_lines(said, where="the latest checkpoint")
    now = agreementstate.parse_lines(lines, where="this node's state")
    at = format_instant(node.clock.now())
    entries = [
        {
            "v": 1,
            "type": "agreement.event",
            "at": at,
            "party": node.party,
            "agreement": agreement,
            "event": "state",
            "note": (
                f"this node's state digest of {agreement} is now {b64(now[agreement])}"
                if agreement in now
                else f"this node no longer states a digest of {agreement}"
            ),
        }
        for agreement in sorted(before.keys() | now.keys())
        if before.get(agreement) != now.get(agreement)
    ]
    if entries:
        node.log.append(entries)


def latest_checkpoint(node: Node) -> StoredCheckpoint:
    stored = node.log.latest_checkpoint()
    if stored is None:
        raise NotFound(f"the log of {node.party} has no checkpoint yet")
    return stored


def checkpoint_at(node: Node, size: int) -> StoredCheckpoint:
    with node.log.store.reading() as r:
        stored = r.checkpoint_at(size)
    if stored is None:
        raise NotFound(f"the log of {node.party} has no checkpoint of size {size}")
    return stored


def cosignatures(node: Node, stored: StoredCheckpoint) -> tuple[Cosignature, ...]:
    """The verified co-signatures on one of the node's stored checkpoints."""
    note = parse_note(stored.note, where=f"checkpoint of size {stored.size}")
    return verify_every_signature(note, node.log.origin, keys(node))


def checkpoint_document(node: Node, stored: StoredCheckpoint) -> CheckpointDocument:
    return CheckpointDocument(
        node.log.origin,
        stored.size,
        b64(stored.root),
        stored.note.decode(),
        tuple(
            CosignatureSeen(party_of(c.name), c.name, c.timestamp)
            for c in cosignatures(node, stored)
        ),
    )


def latest_cosignatures(node: Node) -> Cosignatures:
    """The latest checkpoint with its co-signatures, and the latest each witness made."""
    return Cosignatures(checkpoint_document(node, latest_checkpoint(node)), cosigned_by(node))


def cosigned_by(node: Node, limit: int = 1000) -> dict[str, LatestCosigned]:
    """For each witness, the largest of the node's recent checkpoints it co-signed."""
    with node.store.reading() as r:
        recent = r.recent_checkpoints(limit)
    found: dict[str, LatestCosigned] = {}
    wanted = {p.party for p in node.config.peers}
    for cp in recent:
        for c in cosignatures(node, cp):
            party = party_of(c.name)
            if party is not None and party not in found:
                found[party] = LatestCosigned(cp.size, b64(cp.root), c.timestamp)
        if wanted <= set(found):
            break
    return found


# ------------------------------------------------------------------ proofs
def _proof_target(node: Node, size: int | None) -> StoredCheckpoint | int:
    """The checkpoint a proof is made against: the one of ``size`` when given (or the bare
    size, when no checkpoint of it was signed), else the latest signed one. Reading never
    signs: checkpoints are signed on the node's schedule or by an admin."""
    if size is not None:
        with node.log.store.reading() as r:
            found = r.checkpoint_at(size)
        return size if found is None else found
    latest = node.log.latest_checkpoint()
    if latest is None:
        raise NotFound(f"the log of {node.party} has no signed checkpoint yet{_when(node)}")
    return latest


def _when(node: Node) -> str:
    interval = node.config.cosign_interval
    schedule = f"every {interval:g} s" if interval > 0 else "only when an admin asks"
    return f" (checkpoints are signed {schedule})"


def _covered(node: Node, target: StoredCheckpoint | int, index: int) -> None:
    """Refuse a proof of entry ``index`` against the latest checkpoint that does not cover it."""
    if isinstance(target, StoredCheckpoint) and index >= target.size:
        raise NotFound(
            f"entry {index} of the log of {node.party} is not covered by its latest signed "
            f"checkpoint (size {target.size}){_when(node)}"
        )


def _against(target: StoredCheckpoint | int) -> tuple[int, str | None]:
    if isinstance(target, StoredCheckpoint):
        return target.size, target.note.decode()
    return target, None


def inclusion(node: Node, index: int, size: int | None) -> Inclusion:
    """An inclusion proof of entry ``index`` (no entry bytes: they may name hidden items)."""
    if index < 0:
        raise BadInput(f"index {index} is negative")
    target = _proof_target(node, size)
    if size is None:
        _covered(node, target, index)
    tree_size, note = _against(target)
    proof = node.log.inclusion_proof(index, tree_size)
    return Inclusion(index, proof.to_json(), note)


def consistency(node: Node, old_size: int, new_size: int | None) -> Consistency:
    tree_size, note = _against(_proof_target(node, new_size))
    if old_size > tree_size:
        raise BadInput(
            f"old: size {old_size} is beyond the checkpoint of size {tree_size} it would be "
            "proved against"
        )
    proof = node.log.consistency_proof(old_size, tree_size)
    return Consistency(proof.to_json(), note)


def _catch_up_index(node: Node) -> None:
    """Index the entries appended since the last lookup: (item id, index, type)."""
    size = node.log.size()
    with node.store.reading() as r:
        done = r.log_indexed_upto()
    while done < size:
        stop = min(size, done + INDEX_BATCH)
        with node.store.writing() as w:
            done = w.log_indexed_upto()
            found: list[tuple[str, int, str]] = []
            for index in range(done, stop):
                doc = orjson.loads(w.log.entry(index))
                item = doc.get("item") if isinstance(doc, dict) else None
                if isinstance(item, str):
                    found.append((item, index, str(doc.get("type"))))
            w.index_log_items(found, max(done, stop))
            done = max(done, stop)


def item_inclusion(
    node: Node, user: User, item_id: str, *, kind: str | None, size: int | None
) -> Inclusion:
    """The proof that the log records ``item_id`` (its arrival here unless ``kind`` names
    another entry type), with the entry's bytes; only for an item the user may see."""
    _check_item_visible(node, user, item_id)
    _catch_up_index(node)
    with node.store.reading() as r:
        entries = r.log_item_entries(item_id)
    wanted = (kind,) if kind is not None else ARRIVAL_TYPES
    chosen = next((idx for idx, k in entries if k in wanted), None)
    if chosen is None:
        raise NotFound(f"no {' or '.join(wanted)} entry for item {item_id} in the log")
    entry = node.log.entry(chosen)
    doc = orjson.loads(entry)
    if not isinstance(doc, dict) or doc.get("item") != item_id:
        raise VerificationFailed(f"log entry {chosen} is not about {item_id}: the index is stale")
    kind_found = doc.get("type")
    if not isinstance(kind_found, str):
        raise VerificationFailed(f"log entry {chosen} has no type")
    return replace(
        inclusion(node, chosen, size), item=item_id, type=kind_found, entry=entry.decode()
    )


def _check_item_visible(node: Node, user: User, item_id: str) -> None:
    """Raise NotFound, the same for a hidden item as for a missing one: same status, same
    message, and the same work (one item lookup, one versions query, one audit line)."""
    stix_id, _, version = item_id.rpartition("/")
    with node.store.reading() as r:
        found = r.item(item_id)
        originator = node.party if found is None else found[0]
        rows = [
            row
            for row in r.versions(node.collection_id(originator), stix_id)
            if row.version == version
        ]
    visible = bool(rows) and node.visible(user.clearance, rows[0])
    if found is None or not visible:
        audit.refused(
            f"prove {item_id}",
            "no such item" if found is None or not rows else "clearance, need-to-know or purpose",
            user=user.name,
            party=node.party,
        )
        raise NotFound(f"no item {item_id} at {node.party}")


# ------------------------------------------------------------------ serving peers
def for_peer(node: Node, from_size: int) -> PeerCheckpoint:
    """The latest checkpoint and a consistency proof to it from ``from_size`` (none when
    ``from_size`` is beyond it: the witness then refuses the checkpoint as a rollback)."""
    stored = latest_checkpoint(node)
    proof = (
        node.log.consistency_proof(from_size, stored.size).to_json()
        if 0 <= from_size <= stored.size
        else None
    )
    return PeerCheckpoint(stored.note.decode(), proof)


def attach(node: Node, sender: str, data: bytes) -> Attached:
    """Attach a peer's co-signature to one of the node's checkpoints."""
    size, added = node.log.attach(data, keys(node))
    names = [c.name for c in added]
    if origin_of(sender) not in names and added:
        audit.accepted(
            "attach relayed co-signatures",
            party=node.party,
            sender=sender,
            size=size,
            witnesses=",".join(names),
        )
    return Attached(node.log.origin, size, tuple(names))


# ------------------------------------------------------------------ witnessing peers
def last_cosigned(node: Node, party: str) -> WitnessedCheckpoint | None:
    with node.store.reading() as r:
        return r.last_witnessed(origin_of(party))


def witnessed(node: Node) -> Witnessed:
    """The latest checkpoint of each peer's log that this node co-signed."""
    out: dict[str, WitnessedLog | None] = {}
    for peer in node.config.peers:
        last = last_cosigned(node, peer.party)
        out[peer.party] = (
            None
            if last is None
            else WitnessedLog(last.origin, last.size, b64(last.root), last.note.decode())
        )
    return Witnessed(out)


def cosign_peer(node: Node, party: str, doc: Any, now: datetime) -> bytes | None:
    """Check and co-sign a peer's checkpoint (``for_peer``'s document): the co-signed note to
    send back, or None when the peer already holds this node's co-signature on it. A refusal
    is stored as evidence and raised. ``now`` is wall time: a co-signature's timestamp is a
    POSIX time, whatever simulated time the node's clock keeps."""
    last = last_cosigned(node, party)
    note = doc.get("checkpoint") if isinstance(doc, dict) else None
    note_bytes = note.encode() if isinstance(note, str) else None
    try:
        return _cosign(node, party, doc, note_bytes, last=last, now=now)
    except (BadInput, VerificationFailed, Conflict) as exc:
        _record_fault(
            node, party, note_bytes, last_size=0 if last is None else last.size, exc=exc, now=now
        )
        raise


def _cosign(
    node: Node,
    party: str,
    doc: Any,
    note_bytes: bytes | None,
    *,
    last: WitnessedCheckpoint | None,
    now: datetime,
) -> bytes | None:
    origin = origin_of(party)
    if note_bytes is None:
        raise BadInput(f"{party}'s checkpoint: expected a JSON object with a 'checkpoint'")
    note = parse_note(note_bytes, where=f"{party}'s checkpoint")
    cp = parse_checkpoint(note.text, where=f"{party}'s checkpoint")
    if cp.origin != origin:
        raise VerificationFailed(f"{party}'s checkpoint is of the log {cp.origin!r}")
    states = agreementstate.parse_lines(cp.extensions, where=f"{party}'s checkpoint")
    with node.log.store.reading() as r:
        refuse_split_origin(r, origin)
    if last is not None and cp.size == last.size and cp.root == last.root:
        if parse_note(last.note, where="stored checkpoint").text != note.text:
            raise VerificationFailed(
                f"{party}'s checkpoint of size {cp.size}: its extension lines differ from the "
                "checkpoint of that size co-signed here"
            )
        _record_states(node, party, states, cp.size, now)
        mine = origin_of(node.party)
        held = any(sig.name == mine for sig in note.signatures)
        return None if held else last.note  # send it again: the last delivery was lost
    raw_proof = doc.get("consistency")
    if raw_proof is None:
        # The peer offers no proof from what was co-signed: only a smaller log lacks one.
        proof = ConsistencyProof(origin, cp.size, cp.size, ())
    else:
        proof = ConsistencyProof.from_json(raw_proof, where=f"{party}'s consistency proof")
    done = cosign(
        node.log.store,
        note_bytes,
        proof,
        signer=signer(node),
        keys=keys(node),
        timestamp=int(now.timestamp()),
    )
    _record_states(node, party, states, cp.size, now)
    return done.note.encode()


def _record_states(
    node: Node, party: str, states: dict[str, bytes], size: int, now: datetime
) -> None:
    """Keep what a co-signed checkpoint of ``party`` states of the agreements both parties are
    party to (others are ignored), then let the node judge its agreements again, and deliver
    again what ``party`` shows it has lost (``notes.redeliver_lost``)."""
    both = {
        a.id for a in agreementstate.shared(node.agreed_scenario, node.party) if party in a.parties
    }
    wanted = {agreement: digest for agreement, digest in states.items() if agreement in both}
    if not wanted:
        return
    with node.store.reading() as r:
        kept = {row.key: row.body for row in r.documents(agreementstate.PEER_STATES)}
    if not all(
        kept.get(agreementstate.key_of(party, agreement), {}).get("digest") == digest.hex()
        and kept[agreementstate.key_of(party, agreement)].get("size") == size
        for agreement, digest in wanted.items()
    ):
        with node.store.writing() as w:
            changed = [
                agreementstate.record_peer_state(
                    w, party, agreement, digest, size, "checkpoint", now
                )
                for agreement, digest in sorted(wanted.items())
            ]
        if any(changed):
            notes.refresh(node)
    # a note ``party`` acknowledged and has shown for a while it no longer holds goes again
    notes.redeliver_lost(node, party)


def _record_fault(
    node: Node,
    party: str,
    note: bytes | None,
    *,
    last_size: int,
    exc: GsomiaError,
    now: datetime,
) -> None:
    size: int | None = None
    if note is not None:
        try:
            size = parse_checkpoint(parse_note(note).text).size
        except BadInput:
            size = None
    reason = f"{exc.kind}: {exc}"[:2000]
    with node.store.reading() as r:
        previous = r.witness_faults(limit=1, origin=origin_of(party))
    if previous and (previous[0].size, previous[0].reason) == (size, reason):
        return  # the same refusal as last time: the evidence is already kept
    audit.refused("co-sign", reason, party=node.party, log_of=party)
    with node.store.writing() as w:
        w.add_witness_fault(origin_of(party), format_instant(now), size, last_size, reason, note)


# ------------------------------------------------------------------ gossip between witnesses
def gossip_document(node: Node) -> GossipDocument:
    """For a peer: the latest checkpoint of each log this node co-signed (signed notes)."""
    notes: list[str] = []
    with node.store.reading() as r:
        for peer in node.config.peers:
            last = r.last_witnessed(origin_of(peer.party))
            if last is not None:
                notes.append(last.note.decode())
    return GossipDocument(GOSSIP_VERSION, tuple(notes))


@dataclass(frozen=True)
class Wanted:
    """A consistency proof to ask the peer ``party`` (the origin) for, learnt from ``sender``."""

    party: str
    sender: str
    proof: ProofWanted

    @property
    def key(self) -> tuple[str, int, int, bytes]:
        """What one answer settles: the origin, the size co-signed here, the other checkpoint."""
        p = self.proof
        return (p.origin, p.cosigned, p.size, p.root)


@dataclass
class Gossip:
    """What one peer's gossip revealed: split views found now, proofs to ask the origins for."""

    found: list[SplitViewFound] = field(default_factory=list)
    wanted: list[Wanted] = field(default_factory=list)


def check_gossip(node: Node, sender: str, doc: Any, now: datetime) -> Gossip:
    """Compare the checkpoints ``sender`` co-signed (``gossip_document``) with this node's.

    A checkpoint of another log is compared with what this node co-signed of that log
    (``gsomia.ledger.witness.compare``); one of this node's own log is attached. Returns the
    split views found now (each also stored as evidence and as a refusal), and the consistency
    proofs to ask for, where the sizes differ. A malformed note is skipped and logged; the
    others are still checked.
    """
    notes = doc.get("witnessed") if isinstance(doc, dict) else None
    if not isinstance(notes, list) or doc.get("v") != GOSSIP_VERSION:
        raise BadInput(f"{sender}'s co-signed checkpoints: expected {{'v': 1, 'witnessed': []}}")
    out = Gossip()
    for n, note in enumerate(notes[:MAX_GOSSIP_NOTES]):
        if not isinstance(note, str):
            audit.refused("check gossip", "not a string", party=node.party, sender=sender, note=n)
            continue
        try:
            _check_one(node, sender, note.encode(), now, out)
        except GsomiaError as exc:
            audit.refused("check gossip", str(exc), party=node.party, sender=sender, note=n)
    return out


def _check_one(node: Node, sender: str, data: bytes, now: datetime, out: Gossip) -> None:
    cp = parse_checkpoint(parse_note(data, where="note").text, where="note")
    if cp.origin == node.log.origin:
        try:
            attach(node, sender, data)
        except Conflict as exc:  # the node's key signed another root: kept by attach
            audit.refused(
                "attach co-signature", f"split view: {exc}", party=node.party, sender=sender
            )
            out.found.append(SplitViewFound(cp.origin, cp.size, sender))
        return
    party = party_of(cp.origin)
    if party is None:
        raise BadInput(f"checkpoint of {cp.origin!r}: not a gsomia log")
    view = compare(node.log.store, data, keys=keys(node), witness=node.log.origin)
    if view is None:
        with node.log.store.reading() as r:
            wanted = proof_wanted(r, data, keys=keys(node))
        if wanted is not None:
            out.wanted.append(Wanted(party, sender, wanted))
        return
    found = Conflict(
        f"split view: {cp.origin} signed two checkpoints of size {cp.size} with different "
        f"roots, one co-signed here and one co-signed by {sender}; both are kept as evidence "
        f"{view.id}"
    )
    last = last_cosigned(node, party)
    _record_fault(node, party, data, last_size=0 if last is None else last.size, exc=found, now=now)
    out.found.append(SplitViewFound(cp.origin, cp.size, sender, evidence=view.id))


def judge_proof(
    node: Node, wanted: Wanted, answer: Any, *, refused: str | None, now: datetime
) -> SplitViewFound | None:
    """Judge the origin's answer to a consistency proof asked for (``witnessing.consistency``'s
    document, or ``refused`` saying how it refused): None when the proof verifies against both
    signed roots; else both notes are kept as split-view evidence, a refusal is recorded, and
    the origin's checkpoints are not co-signed again. Returns the split view found."""
    p = wanted.proof
    proof: ConsistencyProof | None = None
    reason = refused or "it gave no proof"
    if refused is None:
        raw = answer.get("proof") if isinstance(answer, dict) else None
        try:
            proof = ConsistencyProof.from_json(raw, where=f"{wanted.party}'s consistency proof")
        except BadInput as exc:
            reason = f"its answer is not a consistency proof: {exc}"
    unproved = reconcile(node.log.store, p, proof, keys=keys(node), refused=reason)
    if unproved is None:
        return None
    view = unproved.view
    found = Conflict(
        f"split view: {p.origin} did not prove its checkpoint of size {p.old_size} consistent "
        f"with its checkpoint of size {p.new_size} (one co-signed here, one co-signed by "
        f"{wanted.sender}): {unproved.reason}; both are kept as evidence {view.id}"
    )
    _record_fault(node, wanted.party, p.note, last_size=p.cosigned, exc=found, now=now)
    return SplitViewFound(
        p.origin, view.size, wanted.sender, evidence=view.id, sizes=(p.old_size, p.new_size)
    )


def _root_of(note: bytes) -> str | None:
    try:
        return b64(parse_checkpoint(parse_note(note).text).root)
    except BadInput:
        return None


def _size_of(note: bytes) -> int | None:
    try:
        return parse_checkpoint(parse_note(note).text).size
    except BadInput:
        return None


def refusals(node: Node, limit: int = 100) -> Refusals:
    """Split views (two signed roots for one size) and every refusal to co-sign."""
    with node.log.store.reading() as r:
        views = r.split_views()
    with node.store.reading() as r:
        faults = r.witness_faults(limit)
    return Refusals(
        tuple(
            SplitViewRecord(
                v.id,
                v.origin,
                party_of(v.origin),
                v.size,
                (_size_of(v.first), _size_of(v.second)),
                (_root_of(v.first), _root_of(v.second)),
                v.first.decode(errors="replace"),
                v.second.decode(errors="replace"),
            )
            for v in views
        ),
        tuple(sorted({v.origin for v in views if v.origin != node.log.origin})),
        tuple(
            Refusal(
                f.id,
                f.origin,
                party_of(f.origin),
                f.at,
                f.size,
                f.cosigned_size,
                f.reason,
                None if f.note is None else f.note.decode(errors="replace"),
            )
            for f in faults
        ),
    )
