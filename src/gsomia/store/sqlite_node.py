"""A node's store in one SQLite file: its objects, sealed items, statuses, outbox — and its
transparency log, in the same file and the same transactions.

One writer connection (WAL, ``synchronous=FULL``, ``BEGIN IMMEDIATE``): an item, the decisions
about it, its log entries and its outbox rows commit together or not at all. Readers use their
own connections and see a consistent snapshot. The statements are ``gsomia.store.sql_node``'s,
shared with PostgreSQL; this module keeps the DDL, the connections and the file's habits.

Content is encrypted at rest (``sql_node``'s ``Sealed``). ``node_meta.at_rest`` names the
format; a store of the previous version (no marker, bodies in clear) is encrypted in place at
open, in one transaction, then vacuumed so that no page of the old plaintext stays in the file.

It implements ``gsomia.store.ports.NodeStore``. The log's tables are ``SqliteLogStore``'s; the
node's writes go through the connection of the log writer's transaction
(``SqlLogWriter.connection``), so both commit at once. ``node_meta.schema`` versions the node
tables (``NODE_SCHEMA_VERSION``): written at creation; a store written before versions were
kept is version 0, and one older than this code is refused at open unless it is opened to be
migrated (``gsomia node migrate``: the ``MIGRATIONS`` steps it lacks, in one transaction); a
newer one is refused before anything is written.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from gsomia.errors import BadInput, StoreFailure
from gsomia.store.ports import AtRestCipher
from gsomia.store.sql import Connection
from gsomia.store.sql_node import (
    AT_REST_FORMAT,
    BASE_VERSION,
    PURPOSE_COLUMNS,
    Migration,
    Sealed,
    SqlNodeReader,
    SqlNodeWriter,
    add_purposes,
    latest,
    schema_version,
    upgrade,
)
from gsomia.store.sqlite_log import SQLITE, SqliteLogStore

__all__ = ["AT_REST_FORMAT", "MIGRATIONS", "NODE_SCHEMA", "SqliteNodeStore"]

log_ = logging.getLogger("gsomia.store")

SCRUB_ATTEMPTS = 200  # 10 ms apart: a reader's snapshot is given about two seconds

NODE_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    seq          INTEGER PRIMARY KEY,
    collection   TEXT NOT NULL,
    stix_id      TEXT NOT NULL,
    stix_type    TEXT NOT NULL,
    version      TEXT NOT NULL,
    date_added   TEXT NOT NULL,
    item_id      TEXT,
    equivalence  TEXT,
    topics       TEXT NOT NULL,
    is_latest    INTEGER NOT NULL,
    body         BLOB NOT NULL,
    UNIQUE (collection, stix_id, version)
);
CREATE INDEX IF NOT EXISTS objects_latest ON objects (collection, is_latest, seq);
CREATE INDEX IF NOT EXISTS objects_id ON objects (collection, stix_id, version);
-- covering indexes: deciding whether a user may see an item reads neither a body nor a sealed
-- item, so a hidden item costs the same index probes as a missing one
CREATE INDEX IF NOT EXISTS objects_scope
    ON objects (collection, stix_id, version, stix_type, item_id, equivalence, topics);
CREATE INDEX IF NOT EXISTS objects_added ON objects (date_added);
CREATE TABLE IF NOT EXISTS items (
    item_id      TEXT PRIMARY KEY,
    stix_id      TEXT NOT NULL,
    originator   TEXT NOT NULL,
    sealed       BLOB NOT NULL,
    received_from TEXT,
    added        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS items_origin ON items (item_id, originator, received_from);
CREATE TABLE IF NOT EXISTS statuses (
    id           TEXT PRIMARY KEY,
    user         TEXT NOT NULL,
    body         BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    id           INTEGER PRIMARY KEY,
    item_id      TEXT NOT NULL,
    recipient    TEXT NOT NULL,
    queued_at    TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'pending',
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL DEFAULT 0,
    last_error   TEXT,
    UNIQUE (item_id, recipient)
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (state, next_attempt);
CREATE INDEX IF NOT EXISTS outbox_recipient ON outbox (state, recipient, id);
CREATE TABLE IF NOT EXISTS node_meta (
    key          TEXT PRIMARY KEY,
    value        TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS log_items (
    item_id      TEXT NOT NULL,
    idx          INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    PRIMARY KEY (item_id, idx)
);
CREATE TABLE IF NOT EXISTS witness_faults (
    id           INTEGER PRIMARY KEY,
    origin       TEXT NOT NULL,
    at           TEXT NOT NULL,
    size         INTEGER,
    cosigned_size INTEGER NOT NULL,
    reason       TEXT NOT NULL,
    note         BLOB
);
CREATE TABLE IF NOT EXISTS node_documents (
    kind         TEXT NOT NULL,
    key          TEXT NOT NULL,
    item_id      TEXT NOT NULL,
    body         BLOB NOT NULL,
    attachment   BLOB,
    PRIMARY KEY (kind, key)
);
CREATE INDEX IF NOT EXISTS node_documents_item ON node_documents (item_id, kind);
CREATE INDEX IF NOT EXISTS node_documents_scope ON node_documents (kind, key, item_id);
CREATE TABLE IF NOT EXISTS peer_messages (
    id           INTEGER PRIMARY KEY,
    recipient    TEXT NOT NULL,
    path         TEXT NOT NULL,
    ref          TEXT NOT NULL,
    body         BLOB NOT NULL,
    state        TEXT NOT NULL DEFAULT 'pending',
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL DEFAULT 0,
    last_error   TEXT
);
CREATE INDEX IF NOT EXISTS peer_messages_pending ON peer_messages (state, next_attempt);
-- the TAXII collection of each originator: a random (version 4) id, made once and kept
CREATE TABLE IF NOT EXISTS collections (
    originator   TEXT PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE
);
-- the random id of each marking-definition the node makes, by the SHA-256 of what it marks
CREATE TABLE IF NOT EXISTS marking_ids (
    key          TEXT PRIMARY KEY,
    id           TEXT NOT NULL
);
-- console sign-in sessions, by the SHA-256 of their id (a leaked file gives no usable cookie);
-- expiry in wall seconds since the epoch
CREATE TABLE IF NOT EXISTS console_sessions (
    key          TEXT PRIMARY KEY,
    user         TEXT NOT NULL,
    expires      REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS console_sessions_expires ON console_sessions (expires);
-- failed credentials per throttling key (user:NAME, addr:ADDRESS), wall seconds since the epoch
CREATE TABLE IF NOT EXISTS sign_in_failures (
    key          TEXT PRIMARY KEY,
    count        INTEGER NOT NULL,
    last         REAL NOT NULL,
    blocked_until REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sign_in_failures_last ON sign_in_failures (last)
"""


_HAS_META = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'node_meta'"


def _make_tables(con: Connection) -> None:
    for statement in NODE_SCHEMA.split(";"):
        if statement.strip():
            con.execute(statement)


ACCESS_SCHEMA = """
CREATE TABLE IF NOT EXISTS access_records (
    seq          INTEGER PRIMARY KEY,
    item_id      TEXT NOT NULL,
    user_name    TEXT NOT NULL,
    purpose      TEXT NOT NULL,
    route        TEXT NOT NULL,
    at           TEXT NOT NULL,
    wall_ms      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS access_records_item ON access_records (item_id, seq);
CREATE INDEX IF NOT EXISTS access_records_user ON access_records (user_name, seq)
"""
"""The register of accesses to content (schema 3): append-only, ``seq`` 1, 2, 3… with no gap
(its place in the register's Merkle tree); nothing sealed, nothing of the content in it."""


def _make_access_records(con: Connection) -> None:
    for statement in ACCESS_SCHEMA.split(";"):
        if statement.strip():
            con.execute(statement)


DESTRUCTION_SCHEMA = """
CREATE TABLE IF NOT EXISTS item_keys (
    item_id      TEXT PRIMARY KEY,
    key          BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS item_retention (
    item_id      TEXT PRIMARY KEY,
    retain_until TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS item_retention_due ON item_retention (retain_until, item_id);
CREATE TABLE IF NOT EXISTS destroyed_items (
    item_id      TEXT PRIMARY KEY,
    originator   TEXT NOT NULL,
    digest       TEXT NOT NULL,
    equivalence  TEXT NOT NULL,
    topics       TEXT NOT NULL,
    destroyed_at TEXT NOT NULL,
    reason       TEXT NOT NULL,
    authorised_by TEXT NOT NULL,
    received_from TEXT,
    added        TEXT,
    label        BLOB NOT NULL
)
"""


def _destruction_tables(con: Connection) -> None:
    """Schema 5 (DOMAIN.md §7.5): per-item keys, retention instants, destroyed items. Items
    stored before it keep their content under the ring key (their rows are deleted when they
    are destroyed); every item stored from now on gets a key of its own."""
    for statement in DESTRUCTION_SCHEMA.split(";"):
        if statement.strip():
            con.execute(statement)


def _add_purposes(con: Connection) -> None:
    have = {str(r[1]) for r in con.execute("PRAGMA table_info(objects)").fetchall()}
    for column in PURPOSE_COLUMNS:
        if column not in have:
            con.execute(f"ALTER TABLE objects ADD COLUMN {column} TEXT")
    add_purposes(con)
    # the covering index takes the new columns: deciding use still reads no body
    con.execute("DROP INDEX IF EXISTS objects_scope")
    con.execute(
        "CREATE INDEX objects_scope ON objects (collection, stix_id, version, stix_type, "
        "item_id, equivalence, topics, purposes, approvals)"
    )


TRACK_SCHEMA = """
CREATE TABLE IF NOT EXISTS track_frames (
    id           INTEGER PRIMARY KEY,
    track        TEXT NOT NULL,
    direction    TEXT NOT NULL,
    peer         TEXT NOT NULL,
    first_seq    INTEGER NOT NULL,
    last_seq     INTEGER NOT NULL,
    at           TEXT NOT NULL,
    frame        BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS track_frames_track ON track_frames (track, id);
CREATE TABLE IF NOT EXISTS track_links (
    track        TEXT NOT NULL,
    peer         TEXT NOT NULL,
    direction    TEXT NOT NULL,
    last_seq     INTEGER NOT NULL,
    PRIMARY KEY (track, peer, direction)
)
"""
"""Schema 6: missile-warning track frames as sent or received (sealed bytes, unchanged) and
each (track, peer, direction)'s last seq: a frame's ``prev`` is judged against it."""


def _track_tables(con: Connection) -> None:
    for statement in TRACK_SCHEMA.split(";"):
        if statement.strip():
            con.execute(statement)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1, "the tables a store written before versions lacks; the version stamped", _make_tables
    ),
    Migration(
        2,
        "objects gain purposes and approvals (DOMAIN.md §7.1): received items', from their labels",
        _add_purposes,
    ),
    Migration(3, "the register of accesses to content (access_records)", _make_access_records),
    Migration(5, "per-item keys, retention and destroyed items", _destruction_tables),
    Migration(6, "missile-warning track frames and link continuity", _track_tables),
)
"""SQLite's schema history: version 0 is a store written before versions were kept."""


class SqliteNodeWriter(SqlNodeWriter):
    """The node's writes inside one transaction (which also holds the log's writer)."""


class SqliteNodeReader(SqlNodeReader):
    """The node's reads, on a reader connection of its own."""


def _schema_of(con: sqlite3.Connection, name: str, knows: int) -> int | None:
    """The node tables' schema version as stored (None: a new store; 0: one written before
    versions were kept); BadInput for one newer than this code knows, or not a version."""
    if con.execute(_HAS_META).fetchone() is None:
        return None
    row = con.execute("SELECT value FROM node_meta WHERE key = 'schema'").fetchone()
    return schema_version(None if row is None else str(row[0]), name, knows)


class SqliteNodeStore:
    """The node's SQLite file. Writes are serialised by a lock; reads use per-thread connections.

    ``cipher`` seals the content columns at rest (see the module's docstring). The node's tables
    carry a schema version (``node_meta`` key ``schema``): written at creation; a store of an
    older schema is brought up to date only when ``migrate`` is set (``migrated`` then says from
    and to), and refused (``SchemaBehind``) otherwise; a store of a newer schema is refused.
    Nothing is written when it is refused.
    """

    def __init__(
        self,
        path: Path,
        *,
        cipher: AtRestCipher,
        timeout: float = 30.0,
        migrate: bool = False,
        migrations: Sequence[Migration] = MIGRATIONS,
    ) -> None:
        self.path = path
        self.migrated: tuple[int, int] | None = None
        self._name = f"node store {path}"
        self._migrations = migrations
        self._log_store = SqliteLogStore(path, timeout=timeout)
        self._sealed = Sealed(cipher, self._name)
        self._lock = threading.RLock()
        # not the writer's lock: a new reader (a new thread) never waits for a write to end
        self._readers_lock = threading.Lock()
        self._local = threading.local()
        self._timeout = timeout
        self._readers: list[sqlite3.Connection] = []
        try:
            self._setup(migrate=migrate)
        except BaseException:
            self._log_store.close()
            raise

    @property
    def log_store(self) -> SqliteLogStore:
        """The node's log, in the same file (its writes share the node's transactions)."""
        return self._log_store

    def _setup(self, *, migrate: bool) -> None:
        """Create or check the node tables, on a connection of its own, closed after."""
        try:
            con = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreFailure(f"{self._name}: cannot open ({exc})") from exc
        try:
            con.execute("PRAGMA synchronous=FULL")
            con.execute("PRAGMA secure_delete=ON")
            encrypted = self._create(con, migrate=migrate)
            if encrypted:
                # the old pages held the plaintext: rebuild the file without them, empty the WAL
                con.execute("VACUUM")
                con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.DatabaseError as exc:
            raise BadInput(f"{self._name}: not a gsomia node database ({exc})") from exc
        finally:
            con.close()

    def _create(self, con: sqlite3.Connection, *, migrate: bool) -> bool:
        """In one transaction: check the schema, make or migrate the tables, mark (or encrypt)
        the store; True if plaintext rows were encrypted."""
        con.execute("BEGIN IMMEDIATE")
        try:
            found = _schema_of(con, self._name, latest(self._migrations))
            if found is None:  # a new store: made at the base schema, then every later step
                _make_tables(con)
                con.execute(
                    "INSERT INTO node_meta (key, value) VALUES ('schema', ?)", (str(BASE_VERSION),)
                )
                upgrade(con, self._migrations, BASE_VERSION, name=self._name, migrate=True)
            else:
                self.migrated = upgrade(
                    con, self._migrations, found, name=self._name, migrate=migrate
                )
                # tables added to the base schema after its first release (console sessions)
                _make_tables(con)
            encrypted = self._check_at_rest(con)
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
        return encrypted

    def _check_at_rest(self, con: sqlite3.Connection) -> bool:
        """Mark a new store, refuse an unknown format, encrypt a plaintext one (True then)."""
        row = con.execute("SELECT value FROM node_meta WHERE key = 'at_rest'").fetchone()
        if row is not None:
            if row[0] != AT_REST_FORMAT:
                raise BadInput(
                    f"{self._name}: at-rest format {row[0]!r} is not "
                    f"{AT_REST_FORMAT!r}; it was written by another version of gsomia"
                )
            return False
        plain = any(
            con.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None  # noqa: S608
            for table in ("objects", "statuses", "node_documents", "peer_messages")
        )
        if plain:
            self._encrypt_plain_rows(con)
        con.execute("INSERT INTO node_meta (key, value) VALUES ('at_rest', ?)", (AT_REST_FORMAT,))
        return plain

    def _encrypt_plain_rows(self, con: sqlite3.Connection) -> None:
        """Seal every content column of a store written before encryption at rest."""
        sealed = self._sealed
        rows = con.execute("SELECT seq, collection, stix_id, version, body FROM objects")
        for seq, collection, stix_id, version, body in rows.fetchall():
            con.execute(
                "UPDATE objects SET body = ? WHERE seq = ?",
                (sealed.seal(bytes(body), "objects", "body", collection, stix_id, version), seq),
            )
        for status_id, body in con.execute("SELECT id, body FROM statuses").fetchall():
            con.execute(
                "UPDATE statuses SET body = ? WHERE id = ?",
                (sealed.seal(bytes(body), "statuses", "body", status_id), status_id),
            )
        docs = con.execute("SELECT kind, key, body, attachment FROM node_documents").fetchall()
        for kind, key, body, attachment in docs:
            con.execute(
                "UPDATE node_documents SET body = ?, attachment = ? WHERE kind = ? AND key = ?",
                (
                    sealed.seal(bytes(body), "node_documents", "body", kind, key),
                    None
                    if attachment is None
                    else sealed.seal(bytes(attachment), "node_documents", "attachment", kind, key),
                    kind,
                    key,
                ),
            )
        for message_id, body in con.execute("SELECT id, body FROM peer_messages").fetchall():
            con.execute(
                "UPDATE peer_messages SET body = ? WHERE id = ?",
                (sealed.seal(bytes(body), "peer_messages", "body", message_id), message_id),
            )

    @contextmanager
    def writing(self) -> Iterator[SqliteNodeWriter]:
        """One durable transaction holding both the node's tables and the log's."""
        with self._lock, self._log_store.writing() as log:
            writer = SqliteNodeWriter(log.connection, log, self._sealed, SQLITE)
            yield writer
            writer.flush()

    def scrub(self) -> None:
        """After a destruction's commit: copy the write-ahead file into the database and
        truncate it to nothing (``wal_checkpoint(TRUNCATE)``), so that no frame of the pages
        the destruction changed stays there. The deleted cells were zeroed as they were deleted
        (``secure_delete``, on for every connection that writes). A reader holding an old
        snapshot makes the checkpoint wait: it is tried again, ``SCRUB_ATTEMPTS`` times."""
        pause = threading.Event()  # never set: a pause between attempts, not a clock
        for _ in range(SCRUB_ATTEMPTS):
            with self._lock:  # no write of this process in between
                if not self._log_store.checkpoint_truncate():
                    return
            pause.wait(0.01)
        log_.warning("%s: the write-ahead file could not be emptied (readers)", self._name)

    def _reader_con(self) -> sqlite3.Connection:
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:
            try:
                con = sqlite3.connect(
                    self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
                )
            except sqlite3.Error as exc:
                raise StoreFailure(f"{self._name}: cannot open a reader ({exc})") from exc
            con.execute("PRAGMA query_only=ON")
            self._local.con = con
            with self._readers_lock:
                self._readers.append(con)
        return con

    @contextmanager
    def reading(self) -> Iterator[SqliteNodeReader]:
        con = self._reader_con()
        try:
            con.execute("BEGIN")
            yield SqliteNodeReader(con, self._sealed, SQLITE)
        except sqlite3.Error as exc:
            raise StoreFailure(f"{self._name}: read failed ({exc})") from exc
        finally:
            if con.in_transaction:
                con.execute("COMMIT")

    def close(self) -> None:
        with self._lock, self._readers_lock:
            for con in self._readers:
                con.close()
            self._readers.clear()
            self._log_store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
