"""The transparency log of one node: append, checkpoint, prove, attach co-signatures, audit."""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gsomia.errors import BadInput, Conflict, VerificationFailed
from gsomia.ledger.entries import canonical_entry, decode_entry
from gsomia.ledger.hashing import EMPTY_ROOT, hash_leaf
from gsomia.ledger.note import (
    Checkpoint,
    Cosignature,
    KeyDirectory,
    NoteSigner,
    SignedNote,
    check_extensions,
    origin_lines,
    parse_checkpoint,
    parse_note,
    verify_cosignature,
    verify_every_signature,
    verify_note_signature,
)
from gsomia.ledger.ports import LogReader, LogStore, LogWriter, StoredCheckpoint
from gsomia.ledger.proofs import ConsistencyProof, InclusionProof
from gsomia.ledger.tree import (
    Frontier,
    NodeKey,
    NodeReader,
    consistency_path,
    describe,
    inclusion_bundle,
    inorder,
    peaks,
    root_hash,
)
from gsomia.ledger.verify import verify_consistency

ORIGIN_PREFIX = "gsomia/"
CACHE_LEVEL = 6
CACHE_SIZE = 1 << 18


def origin_of(party: str) -> str:
    """The origin line (and note key name) of a party's log: ``gsomia/<PARTY>``."""
    return ORIGIN_PREFIX + party


def party_of(origin: str) -> str | None:
    """The party a key name or origin belongs to, or None when it is not a gsomia name."""
    if origin.startswith(ORIGIN_PREFIX):
        party = origin[len(ORIGIN_PREFIX) :]
        if len(party) == 3 and party.isascii() and party.isupper() and party.isalpha():
            return party
    return None


@dataclass(frozen=True)
class AuditReport:
    size: int
    root: bytes
    checkpoints: int
    cosignatures: int
    witnessed: int
    split_views: int
    #: The split-view evidence verified (origin, size, the two roots): a log signed two histories.
    evidence: tuple[tuple[str, int, bytes, bytes], ...] = ()


def _bad(where: str, exc: Exception) -> VerificationFailed:
    return VerificationFailed(f"{where}: {exc}")


class TransparencyLog:
    """A node's append-only log over a ``LogStore``."""

    def __init__(self, store: LogStore, origin: str) -> None:
        self.store = store
        self.origin = origin
        self._cache: dict[NodeKey, bytes] = {}

    def clear_cache(self) -> None:
        self._cache.clear()

    def _reader(self, r: LogReader) -> NodeReader:
        """``r.nodes`` with a process-local cache of the upper subtrees.

        A stored perfect subtree never changes, so a hash read once (from a committed snapshot)
        stays right. Only nodes of level >= CACHE_LEVEL are kept — one in 2**CACHE_LEVEL of the
        tree, shared by every proof — and at most CACHE_SIZE of them. ``audit`` never uses it.
        """
        cache = self._cache

        def read(keys: Sequence[NodeKey]) -> list[bytes]:
            missing = [k for k in keys if k not in cache]
            if missing:
                found = dict(zip(missing, r.nodes(missing), strict=True))
                if len(cache) + len(missing) > CACHE_SIZE:
                    cache.clear()
                for key, h in found.items():
                    if key[0] >= CACHE_LEVEL:
                        cache[key] = h
                return [cache[k] if k in cache else found[k] for k in keys]
            return [cache[k] for k in keys]

        return read

    # ------------------------------------------------------------------ appending

    def append(self, documents: Iterable[Mapping[str, Any]]) -> range:
        """Validate every document, then append them all in one durable transaction."""
        encoded = [canonical_entry(d, where=f"entry {i}") for i, d in enumerate(documents)]
        return self.append_canonical(encoded)

    def append_canonical(self, entries: Sequence[bytes]) -> range:
        """Append entries already in canonical form (from ``canonical_entry``)."""
        with self.store.writing() as w:
            return self.append_in(w, entries)

    def append_in(self, w: LogWriter, entries: Sequence[bytes]) -> range:
        """Append canonical entries inside a write transaction the caller holds (so that a
        node's own rows and their log entries commit together)."""
        start = w.size()
        frontier = Frontier(start, w.nodes(peaks(start)))
        leaves: list[tuple[bytes, bytes]] = []
        nodes: list[tuple[NodeKey, bytes]] = []
        push = frontier.push
        for data in entries:
            leaf = hash_leaf(data)
            leaves.append((leaf, data))
            push(leaf, nodes)
        w.append(start, leaves, nodes)
        return range(start, start + len(entries))

    # ------------------------------------------------------------------ reading

    def size(self) -> int:
        with self.store.reading() as r:
            return r.size()

    def entry(self, index: int) -> bytes:
        with self.store.reading() as r:
            _check_index(index, r.size())
            return r.entry(index)

    def root(self, size: int | None = None) -> bytes:
        with self.store.reading() as r:
            return root_hash(_size_or_current(size, r), self._reader(r))

    def checkpoint(
        self, signer: NoteSigner, extensions: Sequence[str] = ()
    ) -> tuple[StoredCheckpoint, SignedNote]:
        """Sign and store a checkpoint of the tree as stored now, carrying ``extensions`` as its
        extension lines (c2sp.org/tlog-checkpoint); if one of that size is stored already, it
        is returned as it is (one checkpoint per size: a log that wants other extension lines
        appends an entry first)."""
        if signer.name != self.origin:
            raise BadInput(f"signer {signer.name!r} cannot sign for the log {self.origin!r}")
        lines = check_extensions(tuple(extensions), where="checkpoint extensions")
        with self.store.writing() as w:
            size = w.size()
            existing = w.checkpoint_at(size)
            if existing is not None:
                return existing, parse_note(existing.note, where=f"checkpoint {existing.id}")
            root = root_hash(size, w.nodes)
            text = Checkpoint(self.origin, size, root, lines).text()
            note = SignedNote(text, (signer.sign_note(text),))
            row = w.add_checkpoint(size, root, note.encode())
            return StoredCheckpoint(row, size, root, note.encode()), note

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        with self.store.reading() as r:
            return r.latest_checkpoint()

    def inclusion_proof(self, index: int, size: int | None = None) -> InclusionProof:
        with self.store.reading() as r:
            tree_size = _size_or_current(size, r)
            _check_index(index, tree_size)
            leaf, root, path = inclusion_bundle(index, tree_size, self._reader(r))
        return InclusionProof(self.origin, index, tree_size, leaf, root, tuple(path))

    def consistency_proof(self, old_size: int, new_size: int) -> ConsistencyProof:
        with self.store.reading() as r:
            current = r.size()
            if not 0 <= old_size <= new_size <= current:
                raise BadInput(
                    f"consistency needs 0 <= OLD_SIZE <= NEW_SIZE <= {current} (the log size), "
                    f"got {old_size} and {new_size}"
                )
            path = consistency_path(old_size, new_size, self._reader(r))
        return ConsistencyProof(self.origin, old_size, new_size, tuple(path))

    # ------------------------------------------------------------------ co-signatures

    def attach(self, data: bytes, keys: KeyDirectory) -> tuple[int, tuple[Cosignature, ...]]:
        """Merge witnesses' cosignatures on one of this log's checkpoints into the stored note.

        Returns (checkpoint size, the cosignatures added). Every new signature line must be a
        valid cosignature by a known key, and the note text must be exactly the one this log
        signed at that size.
        """
        note = parse_note(data, where="co-signed checkpoint")
        cp = parse_checkpoint(note.text, where="co-signed checkpoint")
        if cp.origin != self.origin:
            raise BadInput(f"co-signed checkpoint: origin {cp.origin!r} is not this log's")
        split = None
        with self.store.writing() as w:
            stored = w.checkpoint_at(cp.size)
            if stored is None:
                raise BadInput(
                    f"co-signed checkpoint: this log issued no checkpoint of size {cp.size}"
                )
            mine = parse_note(stored.note, where=f"checkpoint {stored.id}")
            if mine.text != note.text:
                try:
                    verify_note_signature(note, self.origin, keys(self.origin))
                except VerificationFailed as exc:
                    raise VerificationFailed(
                        f"co-signed checkpoint of size {cp.size}: its root differs from the "
                        "checkpoint this log issued at that size"
                    ) from exc
                # Signed with this log's own key, yet not what it stored: a split view.
                own = keys(self.origin)
                split = w.add_split_view(
                    self.origin,
                    cp.size,
                    origin_lines(mine, self.origin, own).encode(),
                    origin_lines(note, self.origin, own).encode(),
                )
                added: list[Cosignature] = []
            else:
                added = self._merge(w, stored, mine, note, keys)
        if split is not None:
            raise Conflict(
                f"split view: a checkpoint of size {cp.size} signed with this log's key has "
                f"another root than the one stored; both are kept as evidence {split}"
            )
        return cp.size, tuple(added)

    def _merge(
        self,
        w: LogWriter,
        stored: StoredCheckpoint,
        mine: SignedNote,
        note: SignedNote,
        keys: KeyDirectory,
    ) -> list[Cosignature]:
        merged = list(mine.signatures)
        added: list[Cosignature] = []
        for sig in note.signatures:
            if sig in mine.signatures:
                continue
            if sig.name == self.origin:
                raise VerificationFailed(
                    "co-signed checkpoint: a signature in this log's name that it did not make"
                )
            added.append(verify_cosignature(note, sig, keys(sig.name)))
            merged = [s for s in merged if (s.name, s.key_id) != (sig.name, sig.key_id)]
            merged.append(sig)
        if added:
            w.replace_checkpoint_note(stored.id, SignedNote(mine.text, tuple(merged)).encode())
        return added

    # ------------------------------------------------------------------ audit

    def audit(self, keys: KeyDirectory) -> AuditReport:
        """Re-hash the whole stored log and check every stored note; raise at the first fault."""
        with self.store.reading() as r:
            stored_checkpoints = r.checkpoints()
            wanted = {cp.size for cp in stored_checkpoints}
            roots, size, root = _rehash(r, wanted)
            cosignatures = 0
            for cp in stored_checkpoints:
                cosignatures += self._check_checkpoint(cp, size, roots, keys)
            witnessed = _check_witnessed(r, keys)
            evidence = _check_split_views(r, keys)
        return AuditReport(
            size,
            root,
            len(stored_checkpoints),
            cosignatures,
            witnessed,
            len(evidence),
            tuple(evidence),
        )

    def _check_checkpoint(
        self, cp: StoredCheckpoint, size: int, roots: dict[int, bytes], keys: KeyDirectory
    ) -> int:
        where = f"checkpoint {cp.id} (size {cp.size})"
        try:
            note = parse_note(cp.note, where="note")
            body = parse_checkpoint(note.text, where="note")
        except BadInput as exc:
            raise _bad(where, exc) from exc
        if body.origin != self.origin:
            raise VerificationFailed(f"{where}: origin {body.origin!r} is not this log's")
        if body.size != cp.size or not hmac.compare_digest(body.root, cp.root):
            raise VerificationFailed(f"{where}: the stored size or root differs from the note")
        if cp.size > size:
            raise VerificationFailed(f"{where}: signs {cp.size} entries but {size} are stored")
        if not hmac.compare_digest(roots[cp.size], body.root):
            raise VerificationFailed(f"{where}: its root is not the root of the stored entries")
        try:
            return len(verify_every_signature(note, self.origin, keys))
        except VerificationFailed as exc:
            raise _bad(where, exc) from exc


def _size_or_current(size: int | None, r: LogReader) -> int:
    current = r.size()
    if size is None:
        return current
    if not 0 <= size <= current:
        raise BadInput(f"size {size} is not between 0 and the log size {current}")
    return size


def _check_index(index: int, size: int) -> None:
    if not 0 <= index < size:
        raise BadInput(f"index {index} is not below the tree size {size}")


def _rehash(r: LogReader, wanted: set[int]) -> tuple[dict[int, bytes], int, bytes]:
    """Recompute every leaf and interior hash in order and compare it with the stored one."""
    roots: dict[int, bytes] = {0: EMPTY_ROOT}
    frontier = Frontier(0, [])
    stored_nodes = r.iter_interior()
    pending: dict[NodeKey, bytes] = {}
    upcoming = next(stored_nodes, None)
    completed: list[tuple[NodeKey, bytes]] = []
    for expected, (index, stored_leaf, data) in enumerate(r.iter_entries()):
        if index != expected:
            raise VerificationFailed(f"entry {expected}: missing (the next stored is {index})")
        if not hmac.compare_digest(hash_leaf(data), stored_leaf):
            raise VerificationFailed(
                f"entry {index}: its stored leaf hash does not match its bytes"
            )
        try:
            decode_entry(data, where="bytes")
        except BadInput as exc:
            raise _bad(f"entry {index}", exc) from exc
        completed.clear()
        frontier.push(stored_leaf, completed)
        for key, computed in completed:
            position = inorder(key)
            while upcoming is not None and inorder(upcoming[0]) <= position:
                pending[upcoming[0]] = upcoming[1]
                upcoming = next(stored_nodes, None)
            stored = pending.pop(key, None)
            if stored is None:
                raise VerificationFailed(f"{describe(key)}: missing from the store")
            if not hmac.compare_digest(stored, computed):
                raise VerificationFailed(f"{describe(key)}: its stored hash is not its children's")
        if frontier.size in wanted:
            roots[frontier.size] = frontier.root()
    leftover = sorted(pending, key=inorder)
    if upcoming is not None:
        leftover.append(upcoming[0])
    if leftover:
        key = leftover[0]
        raise VerificationFailed(
            f"{describe(key)}: stored, but not part of the tree of {frontier.size} entries"
        )
    return roots, frontier.size, frontier.root()


def _check_witnessed(r: LogReader, keys: KeyDirectory) -> int:
    last: dict[str, tuple[int, bytes]] = {}
    rows = r.witnessed()
    for row in rows:
        where = f"co-signed checkpoint {row.id} of {row.origin} (size {row.size})"
        try:
            note = parse_note(row.note, where="note")
            body = parse_checkpoint(note.text, where="note")
        except BadInput as exc:
            raise _bad(where, exc) from exc
        if (body.origin, body.size) != (row.origin, row.size) or body.root != row.root:
            raise VerificationFailed(
                f"{where}: the stored origin, size or root differs from the note"
            )
        previous_size, previous_root = last.get(row.origin, (0, EMPTY_ROOT))
        if row.proof_from != previous_size:
            raise VerificationFailed(f"{where}: its stored proof starts at size {row.proof_from}")
        try:
            verify_every_signature(note, row.origin, keys)
            verify_consistency(previous_size, row.size, previous_root, row.root, row.proof)
        except VerificationFailed as exc:
            raise _bad(where, exc) from exc
        last[row.origin] = (row.size, row.root)
    return len(rows)


def _check_split_views(r: LogReader, keys: KeyDirectory) -> list[tuple[str, int, bytes, bytes]]:
    views = r.split_views()
    out = []
    for view in views:
        where = f"split-view evidence {view.id} ({view.origin}, size {view.size})"
        try:
            notes = [parse_note(n, where="note") for n in (view.first, view.second)]
            bodies = [parse_checkpoint(n.text, where="note") for n in notes]
            for note in notes:
                verify_every_signature(note, view.origin, keys)
        except (BadInput, VerificationFailed) as exc:
            raise _bad(where, exc) from exc
        if bodies[0].size == bodies[1].size:
            if {(b.origin, b.size) for b in bodies} != {(view.origin, view.size)} or (
                bodies[0].root == bodies[1].root
            ):
                raise VerificationFailed(f"{where}: the two notes are not one size with two roots")
        elif {b.origin for b in bodies} != {view.origin} or view.size != min(
            b.size for b in bodies
        ):
            # Two sizes: the origin did not prove the smaller a prefix of the larger.
            raise VerificationFailed(f"{where}: the two notes are not of this origin and size")
        out.append((view.origin, view.size, bodies[0].root, bodies[1].root))
    return out
