"""The transparency log's store in SQLite (the default ``LogStore``).

One file, WAL journal, ``synchronous=FULL``: a write transaction (``BEGIN IMMEDIATE``, so there
is one writer at a time) is on disk when ``COMMIT`` returns, and an append is acknowledged only
after that. A process killed mid-transaction leaves the last committed state: SQLite rolls the
unfinished transaction back on the next open, so the log is always a committed prefix — no gap,
no changed entry, no checkpoint without the entries it signs (a checkpoint is written in the
same transaction that reads the tree it signs).

Tables (schema version 1, ``PRAGMA user_version``):

- ``entries(idx, leaf_hash, data)`` — entry ``idx`` with its RFC 9162 leaf hash;
- ``nodes(pos, hash)`` — every complete interior perfect subtree, keyed by its in-order
  position (``gsomia.ledger.tree.inorder``);
- ``checkpoints(id, size, root, note)`` — the log's signed checkpoints (one per size);
- ``witnessed(id, origin, size, root, note, proof_from, proof)`` — other logs' checkpoints
  this node co-signed, with the consistency proof it checked (concatenated 32-byte hashes);
- ``split_views(id, origin, size, first, second)`` — evidence of a split view.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from gsomia.errors import BadInput, StoreFailure
from gsomia.ledger.hashing import HASH_LEN
from gsomia.ledger.ports import SplitView, StoredCheckpoint, WitnessedCheckpoint
from gsomia.ledger.tree import NodeKey, describe, from_inorder, inorder

SCHEMA_VERSION = 1
MMAP_BYTES = 1 << 32
CACHE_KIB = 64 * 1024
APPLICATION_ID = 0x67534C47  # "gSLG"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    idx INTEGER PRIMARY KEY,
    leaf_hash BLOB NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS nodes (
    pos INTEGER PRIMARY KEY,
    hash BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    id INTEGER PRIMARY KEY,
    size INTEGER NOT NULL UNIQUE,
    root BLOB NOT NULL,
    note BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS witnessed (
    id INTEGER PRIMARY KEY,
    origin TEXT NOT NULL,
    size INTEGER NOT NULL,
    root BLOB NOT NULL,
    note BLOB NOT NULL,
    proof_from INTEGER NOT NULL,
    proof BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS witnessed_origin ON witnessed (origin, id);
CREATE TABLE IF NOT EXISTS split_views (
    id INTEGER PRIMARY KEY,
    origin TEXT NOT NULL,
    size INTEGER NOT NULL,
    first BLOB NOT NULL,
    second BLOB NOT NULL
);
"""


_READ_NODES = """
SELECT 0, idx, leaf_hash FROM entries WHERE idx IN (SELECT value FROM json_each(?1))
UNION ALL
SELECT 1, pos, hash FROM nodes WHERE pos IN (SELECT value FROM json_each(?2))
"""


def _ints(values: Sequence[int]) -> str:
    return "[" + ",".join(map(str, values)) + "]"


def _failure(exc: sqlite3.Error, what: str) -> StoreFailure:
    return StoreFailure(f"log store: {what}: {exc}")


class SqliteLogReader:
    """The log's reads, in the snapshot of ``SqliteLogStore.reading()``."""

    def __init__(self, con: sqlite3.Connection) -> None:
        self._con = con

    def size(self) -> int:
        row = self._con.execute("SELECT max(idx) FROM entries").fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def nodes(self, keys: Sequence[NodeKey]) -> list[bytes]:
        # One statement of fixed text (so SQLite's prepared-statement cache keeps it) whatever
        # the number of keys: the positions travel as two JSON arrays.
        leaves = [k[1] for k in keys if k[0] == 0]
        interior = [inorder(k) for k in keys if k[0] > 0]
        rows = self._con.execute(_READ_NODES, (_ints(leaves), _ints(interior)))
        found: dict[NodeKey, bytes] = {
            ((0, pos) if kind == 0 else from_inorder(pos)): h for kind, pos, h in rows
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
            yield from rows

    def iter_interior(self) -> Iterator[tuple[NodeKey, bytes]]:
        cur = self._con.execute("SELECT pos, hash FROM nodes ORDER BY pos")
        while rows := cur.fetchmany(4096):
            for pos, h in rows:
                yield from_inorder(pos), h

    def checkpoints(self) -> list[StoredCheckpoint]:
        rows = self._con.execute("SELECT id, size, root, note FROM checkpoints ORDER BY id")
        return [StoredCheckpoint(*row) for row in rows]

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        row = self._con.execute(
            "SELECT id, size, root, note FROM checkpoints ORDER BY size DESC LIMIT 1"
        ).fetchone()
        return None if row is None else StoredCheckpoint(*row)

    def checkpoint_at(self, size: int) -> StoredCheckpoint | None:
        row = self._con.execute(
            "SELECT id, size, root, note FROM checkpoints WHERE size = ?", (size,)
        ).fetchone()
        return None if row is None else StoredCheckpoint(*row)

    def witnessed(self, origin: str | None = None) -> list[WitnessedCheckpoint]:
        sql = "SELECT id, origin, size, root, note, proof_from, proof FROM witnessed"
        if origin is None:
            rows = self._con.execute(sql + " ORDER BY id").fetchall()
        else:
            rows = self._con.execute(sql + " WHERE origin = ? ORDER BY id", (origin,)).fetchall()
        out = []
        for id_, org, size, root, note, proof_from, proof in rows:
            path = tuple(proof[i : i + HASH_LEN] for i in range(0, len(proof), HASH_LEN))
            out.append(WitnessedCheckpoint(id_, org, size, root, note, proof_from, path))
        return out

    def split_views(self) -> list[SplitView]:
        rows = self._con.execute("SELECT id, origin, size, first, second FROM split_views")
        return [SplitView(*row) for row in rows]


class SqliteLogWriter(SqliteLogReader):
    """The log's writes, in the transaction of ``SqliteLogStore.writing()``."""

    @property
    def connection(self) -> sqlite3.Connection:
        """The connection this transaction runs on. A store that keeps its own tables in the
        log's file (the node store) writes them through it, inside this block only, so that its
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
        con.executemany(
            "INSERT INTO entries (idx, leaf_hash, data) VALUES (?, ?, ?)",
            [(start + i, leaf, data) for i, (leaf, data) in enumerate(leaves)],
        )
        con.executemany(
            "INSERT INTO nodes (pos, hash) VALUES (?, ?)",
            [(inorder(key), h) for key, h in nodes],
        )

    def add_checkpoint(self, size: int, root: bytes, note: bytes) -> int:
        cur = self._con.execute(
            "INSERT INTO checkpoints (size, root, note) VALUES (?, ?, ?)", (size, root, note)
        )
        return int(cur.lastrowid or 0)

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
        cur = self._con.execute(
            "INSERT INTO witnessed (origin, size, root, note, proof_from, proof) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (origin, size, root, note, proof_from, b"".join(proof)),
        )
        return int(cur.lastrowid or 0)

    def add_split_view(self, origin: str, size: int, first: bytes, second: bytes) -> int:
        cur = self._con.execute(
            "INSERT INTO split_views (origin, size, first, second) VALUES (?, ?, ?, ?)",
            (origin, size, first, second),
        )
        return int(cur.lastrowid or 0)


def _create_private(path: Path) -> None:
    """Create the database file readable by its owner only (SQLite gives its -wal and -shm
    files the database file's mode), in an owner-only directory if it makes one; a file left
    readable by others by an earlier version is made owner-only."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError):
            if file.stat().st_mode & 0o077:
                file.chmod(0o600)


class SqliteLogStore:
    """A ``LogStore`` in one SQLite file. One connection, used by one thread at a time: a lock
    is held for each read and each write (the node reads and writes from worker threads)."""

    def __init__(self, path: Path, *, timeout: float = 30.0, read_only: bool = False) -> None:
        """Open (or create) the log at ``path``; ``read_only`` opens an existing one for
        reading only (a running node's, which goes on writing it), creating nothing."""
        self.path = path
        self._lock = threading.RLock()
        try:
            if read_only:
                uri = f"{path.resolve().as_uri()}?mode=ro"
                self._con = sqlite3.connect(
                    uri, timeout=timeout, isolation_level=None, uri=True, check_same_thread=False
                )
            else:
                _create_private(path)
                self._con = sqlite3.connect(
                    path, timeout=timeout, isolation_level=None, check_same_thread=False
                )
        except (OSError, sqlite3.Error) as exc:
            raise StoreFailure(f"log store {path}: cannot open ({exc})") from exc
        try:
            self._check() if read_only else self._setup()
        except sqlite3.DatabaseError as exc:
            self._con.close()
            raise BadInput(f"log store {path}: not a gsomia log database ({exc})") from exc

    def _check(self) -> None:
        """A log database of this schema, or DatabaseError (nothing is written)."""
        app_id = self._con.execute("PRAGMA application_id").fetchone()[0]
        version = self._con.execute("PRAGMA user_version").fetchone()[0]
        if app_id != APPLICATION_ID or version != SCHEMA_VERSION:
            msg = f"application id {app_id:#x}, schema version {version}"
            raise sqlite3.DatabaseError(msg)

    def _setup(self) -> None:
        con = self._con
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")
        con.execute("PRAGMA foreign_keys=ON")
        # Proofs read a few random pages of a large file: map it, and keep more pages cached.
        con.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
        con.execute(f"PRAGMA cache_size={-CACHE_KIB}")
        app_id = con.execute("PRAGMA application_id").fetchone()[0]
        version = con.execute("PRAGMA user_version").fetchone()[0]
        if app_id not in (0, APPLICATION_ID) or version not in (0, SCHEMA_VERSION):
            msg = f"application id {app_id:#x}, schema version {version}"
            raise sqlite3.DatabaseError(msg)
        if version == 0:
            con.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    con.execute(statement)
            con.execute(f"PRAGMA application_id={APPLICATION_ID}")
            con.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            con.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[SqliteLogReader]:
        with self._lock:
            yield from self._reading()

    def _reading(self) -> Iterator[SqliteLogReader]:
        try:
            self._con.execute("BEGIN")
        except sqlite3.Error as exc:
            raise _failure(exc, "cannot begin a read") from exc
        try:
            yield SqliteLogReader(self._con)
        except sqlite3.Error as exc:
            self._con.execute("ROLLBACK")
            raise _failure(exc, "read failed") from exc
        except BaseException:
            self._con.execute("ROLLBACK")
            raise
        else:
            self._con.execute("COMMIT")

    @contextmanager
    def writing(self) -> Iterator[SqliteLogWriter]:
        with self._lock:
            yield from self._writing()

    def _writing(self) -> Iterator[SqliteLogWriter]:
        try:
            self._con.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _failure(exc, "cannot take the writer lock") from exc
        try:
            yield SqliteLogWriter(self._con)
        except sqlite3.Error as exc:
            self._con.execute("ROLLBACK")
            raise _failure(exc, "write failed, nothing was stored") from exc
        except BaseException:
            self._con.execute("ROLLBACK")
            raise
        try:
            self._con.execute("COMMIT")
        except sqlite3.Error as exc:
            raise _failure(exc, "commit failed, nothing was stored") from exc

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
