"""The transparency log's reads and writes in SQL, shared by the SQLite and PostgreSQL log
stores (``sqlite_log``, ``postgres_log``), which own the tables' DDL, the transactions and the
locking. Every read is an indexed lookup; ``nodes`` fetches the hashes a proof needs in one
statement, so a proof costs O(log n) index probes on either database.

Tables (both backends):

- ``entries(idx, leaf_hash, data)`` — entry ``idx`` with its RFC 9162 leaf hash;
- ``nodes(pos, hash)`` — every complete interior perfect subtree, keyed by its in-order
  position (``gsomia.ledger.tree.inorder``);
- ``checkpoints(id, size, root, note)`` — the log's signed checkpoints (one per size);
- ``witnessed(id, origin, size, root, note, proof_from, proof)`` — other logs' checkpoints
  this node co-signed, with the consistency proof it checked (concatenated 32-byte hashes);
- ``split_views(id, origin, size, first, second)`` — evidence of a split view.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from gsomia.errors import StoreFailure
from gsomia.ledger.hashing import HASH_LEN
from gsomia.ledger.ports import SplitView, StoredCheckpoint, WitnessedCheckpoint
from gsomia.ledger.tree import NodeKey, describe, from_inorder, inorder
from gsomia.store.sql import Connection, Dialect


def witnessed_row(row: Sequence[Any]) -> WitnessedCheckpoint:
    """A ``witnessed`` row, its proof split back into hashes."""
    id_, origin, size, root, note, proof_from, proof = row
    raw = bytes(proof)
    path = tuple(raw[i : i + HASH_LEN] for i in range(0, len(raw), HASH_LEN))
    return WitnessedCheckpoint(
        int(id_),
        str(origin),
        int(size),
        bytes(root),
        bytes(note),
        int(proof_from),
        path,
    )


class SqlLogReader:
    """The log's reads, in the snapshot of a store's ``reading()`` (or its writer's)."""

    def __init__(self, con: Connection, dialect: Dialect) -> None:
        self._con = con
        self._dialect = dialect

    def size(self) -> int:
        row = self._con.execute("SELECT max(idx) FROM entries").fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def nodes(self, keys: Sequence[NodeKey]) -> list[bytes]:
        leaves = [k[1] for k in keys if k[0] == 0]
        interior = [inorder(k) for k in keys if k[0] > 0]
        positions = self._dialect.positions
        rows = self._con.execute(self._dialect.read_nodes, (positions(leaves), positions(interior)))
        found: dict[NodeKey, bytes] = {
            ((0, pos) if kind == 0 else from_inorder(pos)): bytes(h) for kind, pos, h in rows
        }
        out = []
        for key in keys:
            h = found.get(key)
            if h is None or len(h) != HASH_LEN:
                raise StoreFailure(f"log store: {describe(key)} is missing or malformed")
            out.append(h)
        return out

    def entry(self, index: int) -> bytes:
        row = self._con.execute("SELECT data FROM entries WHERE idx = ?", (index,)).fetchone()
        if row is None:
            raise StoreFailure(f"log store: entry {index} is missing")
        return bytes(row[0])

    def iter_entries(self) -> Iterator[tuple[int, bytes, bytes]]:
        cur = self._con.execute("SELECT idx, leaf_hash, data FROM entries ORDER BY idx")
        while rows := cur.fetchmany(4096):
            for idx, leaf, data in rows:
                yield int(idx), bytes(leaf), bytes(data)

    def iter_interior(self) -> Iterator[tuple[NodeKey, bytes]]:
        cur = self._con.execute("SELECT pos, hash FROM nodes ORDER BY pos")
        while rows := cur.fetchmany(4096):
            for pos, h in rows:
                yield from_inorder(pos), bytes(h)

    def checkpoints(self) -> list[StoredCheckpoint]:
        rows = self._con.execute("SELECT id, size, root, note FROM checkpoints ORDER BY id")
        return [checkpoint_row(row) for row in rows]

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        row = self._con.execute(
            "SELECT id, size, root, note FROM checkpoints ORDER BY size DESC LIMIT 1"
        ).fetchone()
        return None if row is None else checkpoint_row(row)

    def checkpoint_at(self, size: int) -> StoredCheckpoint | None:
        row = self._con.execute(
            "SELECT id, size, root, note FROM checkpoints WHERE size = ?", (size,)
        ).fetchone()
        return None if row is None else checkpoint_row(row)

    def witnessed(self, origin: str | None = None) -> list[WitnessedCheckpoint]:
        sql = "SELECT id, origin, size, root, note, proof_from, proof FROM witnessed"
        if origin is None:
            rows = self._con.execute(sql + " ORDER BY id").fetchall()
        else:
            rows = self._con.execute(sql + " WHERE origin = ? ORDER BY id", (origin,)).fetchall()
        return [witnessed_row(row) for row in rows]

    def split_views(self) -> list[SplitView]:
        rows = self._con.execute(
            "SELECT id, origin, size, first, second FROM split_views ORDER BY id"
        )
        return [SplitView(int(i), str(o), int(s), bytes(a), bytes(b)) for i, o, s, a, b in rows]


def checkpoint_row(row: Sequence[Any]) -> StoredCheckpoint:
    id_, size, root, note = row
    return StoredCheckpoint(
        int(id_),
        int(size),
        bytes(root),
        bytes(note),
    )


class SqlLogWriter(SqlLogReader):
    """The log's writes, in the transaction of a store's ``writing()``."""

    @property
    def connection(self) -> Connection:
        """The connection this transaction runs on. A store that keeps its own tables beside
        the log's (the node store) writes them through it, inside this block only, so that its
        rows commit with the log's entries in one transaction; it never begins, commits or
        rolls back on it (``writing()`` does)."""
        return self._con

    def append(
        self,
        start: int,
        leaves: Sequence[tuple[bytes, bytes]],
        nodes: Sequence[tuple[NodeKey, bytes]],
    ) -> None:
        con = self._con
        if leaves:
            con.executemany(
                "INSERT INTO entries (idx, leaf_hash, data) VALUES (?, ?, ?)",
                [(start + i, leaf, data) for i, (leaf, data) in enumerate(leaves)],
            )
        if nodes:
            con.executemany(
                "INSERT INTO nodes (pos, hash) VALUES (?, ?)",
                [(inorder(key), h) for key, h in nodes],
            )

    def add_checkpoint(self, size: int, root: bytes, note: bytes) -> int:
        row = self._con.execute(
            "INSERT INTO checkpoints (size, root, note) VALUES (?, ?, ?) RETURNING id",
            (size, root, note),
        ).fetchone()
        return int(row[0])

    def replace_checkpoint_note(self, checkpoint_id: int, note: bytes) -> None:
        self._con.execute("UPDATE checkpoints SET note = ? WHERE id = ?", (note, checkpoint_id))

    def add_witnessed(
        self,
        origin: str,
        size: int,
        root: bytes,
        note: bytes,
        *,
        proof_from: int,
        proof: Sequence[bytes],
    ) -> int:
        row = self._con.execute(
            "INSERT INTO witnessed (origin, size, root, note, proof_from, proof) "
            "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (origin, size, root, note, proof_from, b"".join(proof)),
        ).fetchone()
        return int(row[0])

    def add_split_view(self, origin: str, size: int, first: bytes, second: bytes) -> int:
        row = self._con.execute(
            "INSERT INTO split_views (origin, size, first, second) VALUES (?, ?, ?, ?) "
            "RETURNING id",
            (origin, size, first, second),
        ).fetchone()
        return int(row[0])
