"""The transparency log's store in SQLite (the default ``LogStore``).

One file, WAL journal, ``synchronous=FULL``: a write transaction (``BEGIN IMMEDIATE``, so there
is one writer at a time) is on disk when ``COMMIT`` returns, and an append is acknowledged only
after that. A process killed mid-transaction leaves the last committed state: SQLite rolls the
unfinished transaction back on the next open, so the log is always a committed prefix — no gap,
no changed entry, no checkpoint without the entries it signs (a checkpoint is written in the
same transaction that reads the tree it signs).

The tables (``gsomia.store.sql_log`` reads and writes them) are schema version 1 here,
``PRAGMA user_version``.
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
from gsomia.store.sql import Dialect
from gsomia.store.sql_log import SqlLogReader, SqlLogWriter

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


def _no_hint(_index: str) -> str:
    return ""


def _indexed_by(index: str) -> str:
    return f"INDEXED BY {index}"


SQLITE = Dialect("sqlite", read_nodes=_READ_NODES, positions=_ints, indexed_by=_indexed_by)
"""SQLite's phrases: positions travel as JSON arrays; constant-time probes name their index."""


def _failure(exc: sqlite3.Error, what: str) -> StoreFailure:
    return StoreFailure(f"log store: {what}: {exc}")


class SqliteLogReader(SqlLogReader):
    """The log's reads, in the snapshot of ``SqliteLogStore.reading()``."""

    def __init__(self, con: sqlite3.Connection) -> None:
        super().__init__(con, SQLITE)


class SqliteLogWriter(SqlLogWriter):
    """The log's writes, in the transaction of ``SqliteLogStore.writing()``."""

    def __init__(self, con: sqlite3.Connection) -> None:
        super().__init__(con, SQLITE)


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
        # a deleted row's bytes are overwritten with zeros, not left in a free page: the node's
        # writes go through this connection, and a destroyed item must leave nothing behind
        con.execute("PRAGMA secure_delete=ON")
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

    def checkpoint_truncate(self) -> bool:
        """Copy the write-ahead file into the database and truncate it to zero bytes; True if
        a reader's snapshot kept it from completing (try again)."""
        with self._lock:
            try:
                busy = self._con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            except sqlite3.Error as exc:
                raise _failure(exc, "checkpoint failed") from exc
        return bool(busy)

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
