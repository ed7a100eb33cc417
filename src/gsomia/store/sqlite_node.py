"""A node's store in one SQLite file: its objects, sealed items, statuses, outbox — and its
transparency log, in the same file and the same transactions.

One writer connection (WAL, ``synchronous=FULL``, ``BEGIN IMMEDIATE``): an item, the decisions
about it, its log entries and its outbox rows commit together or not at all. Readers use their
own connections and see a consistent snapshot.

Objects are kept in the order they were added (``seq``), with their TAXII ``date_added``,
strictly increasing; a page is a range scan from a cursor, so reading costs the same at 10
thousand objects as at a million.

Content is encrypted at rest (``AtRestCipher``, given at construction): the bodies of objects,
statuses, native documents (and their attachments) and queued peer messages are sealed with
AES-256-GCM, each bound to its place (table, column, row key) so that no value opens in another
row. What stays in clear is what queries need; docs/formats.md lists it, with the reason for
each column. ``node_meta.at_rest`` names the format; a store of the previous version (no
marker, bodies in clear) is encrypted in place at open, in one transaction, then vacuumed so
that no page of the old plaintext stays in the file.

It implements ``gsomia.store.ports.NodeStore``. The log's tables are ``SqliteLogStore``'s; the
node's writes go through the connection of the log writer's transaction
(``SqliteLogWriter.connection``), so both commit at once. ``node_meta.schema`` versions the node
tables (``NODE_SCHEMA_VERSION``): written at creation, stamped on an older store, and a newer
one refused before anything is written.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

import orjson

from gsomia.errors import BadInput, StoreFailure, VerificationFailed
from gsomia.ledger.hashing import HASH_LEN
from gsomia.ledger.ports import LogWriter, StoredCheckpoint, WitnessedCheckpoint
from gsomia.store.ports import (
    NODE_SCHEMA_VERSION,
    AtRestCipher,
    DocumentRow,
    FailureRow,
    MessageRow,
    NewObject,
    ObjectRow,
    ObjectScope,
    OutboxRow,
    SessionRow,
    WitnessFault,
)
from gsomia.store.sqlite_log import SqliteLogStore

AT_REST_FORMAT = "aes-256-gcm/v1"

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


class _Sealed:
    """The store's sealed columns: each value bound to its table, column and row key."""

    __slots__ = ("_cipher", "_path")

    def __init__(self, cipher: AtRestCipher, path: Path) -> None:
        self._cipher = cipher
        self._path = path

    def seal(self, plaintext: bytes, table: str, column: str, *key: str | int) -> bytes:
        return self._cipher.seal(plaintext, orjson.dumps([table, column, *key]))

    def open(self, value: bytes, table: str, column: str, *key: str | int) -> bytes:
        try:
            return self._cipher.open(bytes(value), orjson.dumps([table, column, *key]))
        except VerificationFailed:
            raise StoreFailure(
                f"node store {self._path}: {table}.{column} of row {list(key)} does not open "
                "(tampered, moved from another row, or sealed under a key this node lacks)"
            ) from None

    def document(self, r: tuple[Any, ...]) -> DocumentRow:
        kind, key = r[0], r[1]
        body = self.open(r[3], "node_documents", "body", kind, key)
        attachment = (
            None if r[4] is None else self.open(r[4], "node_documents", "attachment", kind, key)
        )
        return DocumentRow(kind, key, r[2], orjson.loads(body), attachment)

    def row(self, r: tuple[Any, ...]) -> ObjectRow:
        body = self.open(r[9], "objects", "body", r[1], r[2], r[4])
        return ObjectRow(
            r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], tuple(orjson.loads(r[8])), body
        )


def _object_key(obj: NewObject) -> tuple[str, str, str]:
    return obj.collection, obj.stix_id, obj.version


_DOC_COLUMNS = "kind, key, item_id, body, attachment"
_SCOPE_COLUMNS = "stix_id, version, stix_type, item_id, equivalence, topics"


def _scope(r: tuple[Any, ...]) -> ObjectScope:
    return ObjectScope(r[0], r[1], r[2], r[3], r[4], tuple(orjson.loads(r[5])))


def _failures(con: sqlite3.Connection, keys: Sequence[str]) -> list[FailureRow]:
    if not keys:
        return []
    marks = ", ".join("?" * len(keys))
    rows = con.execute(
        "SELECT key, count, last, blocked_until FROM sign_in_failures "  # noqa: S608 - marks only
        f"WHERE key IN ({marks}) ORDER BY key",
        tuple(keys),
    )
    return [FailureRow(str(k), int(n), float(t), float(b)) for k, n, t, b in rows]


def _collections(con: sqlite3.Connection) -> dict[str, str]:
    return {str(o): str(i) for o, i in con.execute("SELECT originator, id FROM collections")}


_COLUMNS = (
    "seq, collection, stix_id, stix_type, version, date_added, item_id, equivalence, topics, body"
)


class SqliteNodeWriter:
    """The node's writes inside one transaction (which also holds the log's writer)."""

    def __init__(self, con: sqlite3.Connection, log: LogWriter, sealed: _Sealed) -> None:
        self._con = con
        self.log = log
        self._sealed = sealed
        self._last_added: str | None = None  # read once, written once per transaction
        self._last_dirty = False
        self._savepoints = 0

    def last_date_added(self) -> str | None:
        if self._last_added is None:
            row = self._con.execute(
                "SELECT value FROM node_meta WHERE key = 'last_date_added'"
            ).fetchone()
            self._last_added = None if row is None else str(row[0])
        return self._last_added

    def set_last_date_added(self, value: str) -> None:
        self._last_added = value
        self._last_dirty = True

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested part of the transaction (SQL ``SAVEPOINT``): undone alone on an exception."""
        self._savepoints += 1
        name = f"part_{self._savepoints}"
        self._con.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self._con.execute(f"ROLLBACK TO SAVEPOINT {name}")
            self._con.execute(f"RELEASE SAVEPOINT {name}")
            raise
        self._con.execute(f"RELEASE SAVEPOINT {name}")

    def flush(self) -> None:
        """Write what is kept in memory during the transaction (called before it commits)."""
        if self._last_dirty:
            self._con.execute(
                "INSERT INTO node_meta (key, value) VALUES ('last_date_added', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (self._last_added,),
            )
            self._last_dirty = False

    def add_collections(self, ids: dict[str, str]) -> dict[str, str]:
        """Store the collection ids (originator -> id) not stored yet; every stored id."""
        self._con.executemany(
            "INSERT INTO collections (originator, id) VALUES (?, ?) "
            "ON CONFLICT (originator) DO NOTHING",
            sorted(ids.items()),
        )
        return _collections(self._con)

    def has_object(self, collection: str, stix_id: str, version: str) -> bool:
        row = self._con.execute(
            "SELECT 1 FROM objects WHERE collection = ? AND stix_id = ? AND version = ?",
            (collection, stix_id, version),
        ).fetchone()
        return row is not None

    def marking_id(self, key: str, fresh: str) -> tuple[str, bool]:
        """The id stored for ``key``, or ``fresh``, stored now (True then): lookup-or-create in
        the writer's transaction, so the marking made under a new id commits with it."""
        self._con.execute(
            "INSERT INTO marking_ids (key, id) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
            (key, fresh),
        )
        found = str(
            self._con.execute("SELECT id FROM marking_ids WHERE key = ?", (key,)).fetchone()[0]
        )
        return found, found == fresh

    def has_item(self, item_id: str) -> bool:
        return (
            self._con.execute("SELECT 1 FROM items WHERE item_id = ?", (item_id,)).fetchone()
            is not None
        )

    def add_object(self, obj: NewObject, date_added: str) -> None:
        con = self._con
        latest = con.execute(
            "SELECT MAX(version) FROM objects WHERE collection = ? AND stix_id = ?",
            (obj.collection, obj.stix_id),
        ).fetchone()[0]
        is_latest = latest is None or obj.version > latest
        if is_latest and latest is not None:
            con.execute(
                "UPDATE objects SET is_latest = 0 "
                "WHERE collection = ? AND stix_id = ? AND is_latest = 1",
                (obj.collection, obj.stix_id),
            )
        con.execute(
            "INSERT INTO objects (collection, stix_id, stix_type, version, date_added, item_id, "
            "equivalence, topics, is_latest, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                obj.collection,
                obj.stix_id,
                obj.stix_type,
                obj.version,
                date_added,
                obj.item_id,
                obj.equivalence,
                orjson.dumps(list(obj.topics)),
                int(is_latest),
                self._sealed.seal(obj.body, "objects", "body", *_object_key(obj)),
            ),
        )

    def add_item(  # noqa: PLR0917 - the columns of one row
        self,
        item_id: str,
        stix_id: str,
        originator: str,
        sealed: bytes,
        received_from: str | None,
        added: str,
    ) -> None:
        self._con.execute(
            "INSERT INTO items (item_id, stix_id, originator, sealed, received_from, added) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (item_id, stix_id, originator, sealed, received_from, added),
        )

    def replace_item(self, item_id: str, sealed: bytes) -> None:
        self._con.execute("UPDATE items SET sealed = ? WHERE item_id = ?", (sealed, item_id))

    def queue(self, item_id: str, recipient: str, queued_at: str) -> None:
        self._con.execute(
            "INSERT INTO outbox (item_id, recipient, queued_at) VALUES (?, ?, ?) "
            "ON CONFLICT (item_id, recipient) DO NOTHING",
            (item_id, recipient, queued_at),
        )

    def outbox_done(self, outbox_id: int, state: str, error: str | None = None) -> None:
        self._con.execute(
            "UPDATE outbox SET state = ?, last_error = ? WHERE id = ?", (state, error, outbox_id)
        )

    def outbox_retry(self, outbox_id: int, next_attempt: float, error: str) -> None:
        self._con.execute(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt = ?, last_error = ? "
            "WHERE id = ?",
            (next_attempt, error, outbox_id),
        )

    def put_status(self, status_id: str, user: str, body: dict[str, Any]) -> None:
        self._con.execute(
            "INSERT INTO statuses (id, user, body) VALUES (?, ?, ?)",
            (status_id, user, self._sealed.seal(orjson.dumps(body), "statuses", "body", status_id)),
        )

    def log_indexed_upto(self) -> int:
        """How many log entries the item index (``log_items``) has looked at."""
        row = self._con.execute(
            "SELECT value FROM node_meta WHERE key = 'log_items_upto'"
        ).fetchone()
        return 0 if row is None else int(row[0])

    def index_log_items(self, found: Sequence[tuple[str, int, str]], upto: int) -> None:
        """Record (item id, entry index, entry type) rows; the index now covers ``upto``."""
        self._con.executemany(
            "INSERT OR IGNORE INTO log_items (item_id, idx, kind) VALUES (?, ?, ?)", found
        )
        self._con.execute(
            "INSERT INTO node_meta (key, value) VALUES ('log_items_upto', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(upto),),
        )

    def add_witness_fault(  # noqa: PLR0917 - the columns of one row
        self,
        origin: str,
        at: str,
        size: int | None,
        cosigned_size: int,
        reason: str,
        note: bytes | None,
    ) -> int:
        cur = self._con.execute(
            "INSERT INTO witness_faults (origin, at, size, cosigned_size, reason, note) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (origin, at, size, cosigned_size, reason, note),
        )
        return int(cur.lastrowid or 0)

    # ------------------------------------------------ native documents and peer messages
    def replace_object(self, obj: NewObject, date_added: str) -> None:
        """Store ``obj`` again in place of the same version (a new marking), added anew."""
        self._con.execute(
            "DELETE FROM objects WHERE collection = ? AND stix_id = ? AND version = ?",
            (obj.collection, obj.stix_id, obj.version),
        )
        self.add_object(obj, date_added)

    def put_document(
        self, kind: str, key: str, item_id: str, body: dict[str, Any], attachment: bytes | None
    ) -> None:
        self._con.execute(
            f"INSERT INTO node_documents ({_DOC_COLUMNS}) VALUES (?, ?, ?, ?, ?) "  # noqa: S608
            "ON CONFLICT (kind, key) DO UPDATE SET item_id = excluded.item_id, "
            "body = excluded.body, attachment = excluded.attachment",
            (
                kind,
                key,
                item_id,
                self._sealed.seal(orjson.dumps(body), "node_documents", "body", kind, key),
                None
                if attachment is None
                else self._sealed.seal(attachment, "node_documents", "attachment", kind, key),
            ),
        )

    def document(self, kind: str, key: str) -> DocumentRow | None:
        row = self._con.execute(
            f"SELECT {_DOC_COLUMNS} FROM node_documents WHERE kind = ? AND key = ?",  # noqa: S608
            (kind, key),
        ).fetchone()
        return None if row is None else self._sealed.document(row)

    def queue_message(self, recipient: str, path: str, ref: str, body: bytes) -> None:
        # the id is chosen here (one writer at a time) so that the body can be bound to it
        message_id = int(
            self._con.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM peer_messages").fetchone()[0]
        )
        self._con.execute(
            "INSERT INTO peer_messages (id, recipient, path, ref, body) VALUES (?, ?, ?, ?, ?)",
            (
                message_id,
                recipient,
                path,
                ref,
                self._sealed.seal(body, "peer_messages", "body", message_id),
            ),
        )

    def message_done(self, message_id: int, state: str, error: str | None = None) -> None:
        self._con.execute(
            "UPDATE peer_messages SET state = ?, last_error = ? WHERE id = ?",
            (state, error, message_id),
        )

    def message_retry(self, message_id: int, next_attempt: float, error: str) -> None:
        self._con.execute(
            "UPDATE peer_messages SET attempts = attempts + 1, next_attempt = ?, last_error = ? "
            "WHERE id = ?",
            (next_attempt, error, message_id),
        )

    # ------------------------------------------------ console sessions and sign-in throttling
    def add_session(self, row: SessionRow) -> None:
        self._con.execute(
            "INSERT INTO console_sessions (key, user, expires) VALUES (?, ?, ?)",
            (row.key, row.user, row.expires),
        )

    def end_session(self, key: str) -> bool:
        cur = self._con.execute("DELETE FROM console_sessions WHERE key = ?", (key,))
        return cur.rowcount > 0

    def end_sessions_expired(self, now: float) -> list[str]:
        rows = self._con.execute(
            "DELETE FROM console_sessions WHERE expires <= ? RETURNING key", (now,)
        )
        return [str(k) for (k,) in rows.fetchall()]

    def end_sessions_beyond(self, keep: int) -> list[str]:
        rows = self._con.execute(
            "DELETE FROM console_sessions WHERE key IN (SELECT key FROM console_sessions "
            "ORDER BY expires, rowid LIMIT max(0, (SELECT count(*) FROM console_sessions) - ?)) "
            "RETURNING key",
            (keep,),
        )
        return [str(k) for (k,) in rows.fetchall()]

    def sign_in_failures(self, keys: Sequence[str]) -> list[FailureRow]:
        return _failures(self._con, keys)

    def put_sign_in_failure(self, row: FailureRow) -> None:
        # deleted and inserted anew: the newest rowid marks the most recently failed key
        self._con.execute("DELETE FROM sign_in_failures WHERE key = ?", (row.key,))
        self._con.execute(
            "INSERT INTO sign_in_failures (key, count, last, blocked_until) VALUES (?, ?, ?, ?)",
            (row.key, row.count, row.last, row.blocked_until),
        )

    def forget_sign_in_failures(self, keys: Sequence[str]) -> None:
        self._con.executemany(
            "DELETE FROM sign_in_failures WHERE key = ?", [(key,) for key in keys]
        )

    def forget_sign_in_failures_before(self, last: float) -> None:
        self._con.execute("DELETE FROM sign_in_failures WHERE last < ?", (last,))

    def trim_sign_in_failures(self, keep: int) -> None:
        self._con.execute(
            "DELETE FROM sign_in_failures WHERE key IN (SELECT key FROM sign_in_failures "
            "ORDER BY last, rowid LIMIT max(0, (SELECT count(*) FROM sign_in_failures) - ?))",
            (keep,),
        )


class SqliteNodeReader:
    def __init__(self, con: sqlite3.Connection, sealed: _Sealed) -> None:
        self._con = con
        self._sealed = sealed

    def page(
        self,
        collection: str,
        *,
        after_seq: int,
        added_after: str | None,
        latest_only: bool,
        ids: Sequence[str] = (),
        types: Sequence[str] = (),
        batch: int,
    ) -> list[ObjectRow]:
        """Up to ``batch`` rows after ``after_seq`` in order, with the cheap filters applied."""
        sql = [f"SELECT {_COLUMNS} FROM objects WHERE collection = ? AND seq > ?"]  # noqa: S608
        args: list[Any] = [collection, after_seq]
        if latest_only:
            sql.append("AND is_latest = 1")
        if added_after is not None:
            sql.append("AND date_added > ?")
            args.append(added_after)
        if ids:
            sql.append(f"AND stix_id IN ({','.join('?' * len(ids))})")
            args.extend(ids)
        if types:
            sql.append(f"AND stix_type IN ({','.join('?' * len(types))})")
            args.extend(types)
        sql.append("ORDER BY seq LIMIT ?")
        args.append(batch)
        query = " ".join(sql)  # only placeholders are interpolated: values are bound
        return [self._sealed.row(r) for r in self._con.execute(query, args)]

    def collections(self) -> dict[str, str]:
        """Every stored collection id, by originator."""
        return _collections(self._con)

    def rows_after(self, after_seq: int, limit: int) -> list[ObjectRow]:
        """Up to ``limit`` rows of any collection stored after ``after_seq``, in order."""
        return [
            self._sealed.row(r)
            for r in self._con.execute(
                f"SELECT {_COLUMNS} FROM objects "  # noqa: S608 - constant column list
                "WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            )
        ]

    def last_seq(self) -> int:
        """The seq of the last stored row (0 when there is none)."""
        return int(self._con.execute("SELECT MAX(seq) FROM objects").fetchone()[0] or 0)

    def log_item_entries(self, item_id: str) -> list[tuple[int, str]]:
        """(entry index, entry type) of the indexed log entries about ``item_id``, in order."""
        return [
            (int(idx), str(kind))
            for idx, kind in self._con.execute(
                "SELECT idx, kind FROM log_items WHERE item_id = ? ORDER BY idx", (item_id,)
            )
        ]

    def witness_faults(self, limit: int = 100, origin: str | None = None) -> list[WitnessFault]:
        """The most recent refusals to co-sign (of one origin, or all), newest first."""
        sql = "SELECT id, origin, at, size, cosigned_size, reason, note FROM witness_faults"
        args: tuple[Any, ...] = (limit,)
        if origin is not None:
            sql += " WHERE origin = ?"
            args = (origin, limit)
        return [
            WitnessFault(*r) for r in self._con.execute(sql + " ORDER BY id DESC LIMIT ?", args)
        ]

    def log_indexed_upto(self) -> int:
        """How many log entries the item index (``log_items``) has looked at."""
        row = self._con.execute(
            "SELECT value FROM node_meta WHERE key = 'log_items_upto'"
        ).fetchone()
        return 0 if row is None else int(row[0])

    def recent_checkpoints(self, limit: int) -> list[StoredCheckpoint]:
        """The log's ``limit`` largest checkpoints, largest first (bounded, unlike the log
        reader's ``checkpoints()``, which returns them all)."""
        return [
            StoredCheckpoint(*row)
            for row in self._con.execute(
                "SELECT id, size, root, note FROM checkpoints ORDER BY size DESC LIMIT ?",
                (limit,),
            )
        ]

    def last_witnessed(self, origin: str) -> WitnessedCheckpoint | None:
        """The last checkpoint of ``origin``'s log this node co-signed (one row, not all)."""
        row = self._con.execute(
            "SELECT id, origin, size, root, note, proof_from, proof FROM witnessed "
            "WHERE origin = ? ORDER BY id DESC LIMIT 1",
            (origin,),
        ).fetchone()
        if row is None:
            return None
        proof = bytes(row[6])
        path = tuple(proof[i : i + HASH_LEN] for i in range(0, len(proof), HASH_LEN))
        return WitnessedCheckpoint(row[0], row[1], row[2], row[3], row[4], row[5], path)

    def seq_after(self, date_added: str) -> int:
        """The largest seq whose date_added is at or before ``date_added`` (0 if none)."""
        # date_added grows with seq, so the last row at or before it, found through the index,
        # is the largest seq: one index probe, whatever the size of the store
        row = self._con.execute(
            "SELECT seq FROM objects WHERE date_added <= ? ORDER BY date_added DESC LIMIT 1",
            (date_added,),
        ).fetchone()
        return 0 if row is None else int(row[0])

    def versions(self, collection: str, stix_id: str) -> list[ObjectRow]:
        return [
            self._sealed.row(r)
            for r in self._con.execute(
                f"SELECT {_COLUMNS} FROM objects "  # noqa: S608 - constant column list
                "WHERE collection = ? AND stix_id = ? ORDER BY version",
                (collection, stix_id),
            )
        ]

    def count(self, collection: str) -> int:
        return int(
            self._con.execute(
                "SELECT COUNT(*) FROM objects WHERE collection = ?", (collection,)
            ).fetchone()[0]
        )

    def status(self, status_id: str) -> tuple[str, dict[str, Any]] | None:
        row = self._con.execute(
            "SELECT user, body FROM statuses WHERE id = ?", (status_id,)
        ).fetchone()
        if row is None:
            return None
        body = self._sealed.open(row[1], "statuses", "body", status_id)
        return str(row[0]), orjson.loads(body)

    def item_origin(self, item_id: str) -> tuple[str, str | None] | None:
        """The originator and sender of a held item, without its sealed bytes.

        The query yields one row whether or not the item is held (a left join from a constant),
        so a miss is decoded like a hit: probing for an item takes the same work either way."""
        row = self._con.execute(
            "SELECT i.originator, i.received_from FROM (SELECT 1) "
            "LEFT JOIN items AS i INDEXED BY items_origin ON i.item_id = ?",
            (item_id,),
        ).fetchone()
        return None if row[0] is None else (str(row[0]), row[1])

    def object_scope(self, collection: str, stix_id: str, version: str) -> ObjectScope | None:
        """One object version's class and topics: an index probe that reads no body, and one
        row decoded whether or not the version is stored (a miss costs what a hit does)."""
        row = self._con.execute(
            "SELECT o.stix_id, o.version, o.stix_type, o.item_id, o.equivalence, "
            "COALESCE(o.topics, '[]') FROM (SELECT 1) LEFT JOIN objects AS o "
            "INDEXED BY objects_scope "
            "ON o.collection = ? AND o.stix_id = ? AND o.version = ?",
            (collection, stix_id, version),
        ).fetchone()
        scope = _scope(row)
        return None if row[0] is None else scope

    def scopes(self, collection: str, stix_id: str) -> list[ObjectScope]:
        """Every version's class and topics, by version (index only; no body read). A missing
        object still yields one row, decoded and dropped, so a miss costs what a hit does."""
        rows = self._con.execute(
            "SELECT o.stix_id, o.version, o.stix_type, o.item_id, o.equivalence, "
            "COALESCE(o.topics, '[]') FROM (SELECT 1) LEFT JOIN objects AS o "
            "INDEXED BY objects_scope ON o.collection = ? AND o.stix_id = ? "
            "ORDER BY o.version",
            (collection, stix_id),
        ).fetchall()
        decoded = [_scope(r) for r in rows]
        return [x for x, r in zip(decoded, rows, strict=True) if r[0] is not None]

    def document_item(self, kind: str, key: str) -> str | None:
        """The item a node document is about, without reading (or opening) the document; one
        row decoded whether or not the document exists."""
        row = self._con.execute(
            "SELECT d.item_id FROM (SELECT 1) LEFT JOIN node_documents AS d "
            "INDEXED BY node_documents_scope ON d.kind = ? AND d.key = ?",
            (kind, key),
        ).fetchone()
        return None if row[0] is None else str(row[0])

    def item(self, item_id: str) -> tuple[str, bytes, str | None] | None:
        row = self._con.execute(
            "SELECT originator, sealed, received_from FROM items WHERE item_id = ?", (item_id,)
        ).fetchone()
        return None if row is None else (str(row[0]), bytes(row[1]), row[2])

    def due(self, now: float, limit: int = 100) -> list[OutboxRow]:
        return [
            OutboxRow(*r)
            for r in self._con.execute(
                "SELECT id, item_id, recipient, queued_at, attempts FROM outbox "
                "WHERE state = 'pending' AND next_attempt <= ? ORDER BY id LIMIT ?",
                (now, limit),
            )
        ]

    def due_for(self, recipient: str, limit: int = 100) -> list[OutboxRow]:
        """The oldest pending releases to one peer (an index range, whatever the backlog)."""
        return [
            OutboxRow(*r)
            for r in self._con.execute(
                "SELECT id, item_id, recipient, queued_at, attempts FROM outbox "
                "WHERE state = 'pending' AND recipient = ? ORDER BY id LIMIT ?",
                (recipient, limit),
            )
        ]

    def outbox_counts(self) -> dict[str, int]:
        return {
            str(s): int(n)
            for s, n in self._con.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state")
        }

    def document(self, kind: str, key: str) -> DocumentRow | None:
        row = self._con.execute(
            f"SELECT {_DOC_COLUMNS} FROM node_documents WHERE kind = ? AND key = ?",  # noqa: S608
            (kind, key),
        ).fetchone()
        return None if row is None else self._sealed.document(row)

    def documents(self, kind: str, item_id: str | None = None) -> list[DocumentRow]:
        """Every document of ``kind`` (about ``item_id`` if given), oldest first."""
        if item_id is None:
            rows = self._con.execute(
                f"SELECT {_DOC_COLUMNS} FROM node_documents WHERE kind = ? "  # noqa: S608
                "ORDER BY rowid",
                (kind,),
            )
        else:
            rows = self._con.execute(
                f"SELECT {_DOC_COLUMNS} FROM node_documents "  # noqa: S608
                "WHERE item_id = ? AND kind = ? ORDER BY rowid",
                (item_id, kind),
            )
        return [self._sealed.document(r) for r in rows]

    def due_messages(self, now: float, limit: int = 100) -> list[MessageRow]:
        return [
            MessageRow(
                r[0], r[1], r[2], r[3], self._sealed.open(r[4], "peer_messages", "body", r[0]), r[5]
            )
            for r in self._con.execute(
                "SELECT id, recipient, path, ref, body, attempts FROM peer_messages "
                "WHERE state = 'pending' AND next_attempt <= ? ORDER BY id LIMIT ?",
                (now, limit),
            )
        ]

    def session(self, key: str) -> SessionRow | None:
        row = self._con.execute(
            "SELECT key, user, expires FROM console_sessions WHERE key = ?", (key,)
        ).fetchone()
        return None if row is None else SessionRow(str(row[0]), str(row[1]), float(row[2]))

    def sign_in_failures(self, keys: Sequence[str]) -> list[FailureRow]:
        return _failures(self._con, keys)


def _schema_of(con: sqlite3.Connection, path: Path) -> int | None:
    """The node tables' schema version as stored (None: a new store, or one written before
    versions were kept); BadInput for one newer than this code knows, or not a version."""
    has_meta = con.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'node_meta'"
    ).fetchone()
    if has_meta is None:
        return None
    row = con.execute("SELECT value FROM node_meta WHERE key = 'schema'").fetchone()
    if row is None:
        return None
    text = str(row[0])
    if not text.isdecimal():
        raise BadInput(f"node store {path}: schema {text!r} is not a version number")
    version = int(text)
    if version > NODE_SCHEMA_VERSION:
        raise BadInput(
            f"node store {path}: schema {version} is newer than this version of gsomia knows "
            f"(up to {NODE_SCHEMA_VERSION}); it was written by a later gsomia: run that one"
        )
    return version


class SqliteNodeStore:
    """The node's SQLite file. Writes are serialised by a lock; reads use per-thread connections.

    ``cipher`` seals the content columns at rest (see the module's docstring). The node's tables
    carry a schema version (``node_meta`` key ``schema``): written at creation, stamped on a
    store written before versions were kept (its tables are the same), and a store of a newer
    schema is refused, nothing written.
    """

    def __init__(self, path: Path, *, cipher: AtRestCipher, timeout: float = 30.0) -> None:
        self.path = path
        self._log_store = SqliteLogStore(path, timeout=timeout)
        self._sealed = _Sealed(cipher, path)
        self._lock = threading.RLock()
        # not the writer's lock: a new reader (a new thread) never waits for a write to end
        self._readers_lock = threading.Lock()
        self._local = threading.local()
        self._timeout = timeout
        self._readers: list[sqlite3.Connection] = []
        try:
            self._setup()
        except BaseException:
            self._log_store.close()
            raise

    @property
    def log_store(self) -> SqliteLogStore:
        """The node's log, in the same file (its writes share the node's transactions)."""
        return self._log_store

    def _setup(self) -> None:
        """Create or check the node tables, on a connection of its own, closed after."""
        try:
            con = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreFailure(f"node store {self.path}: cannot open ({exc})") from exc
        try:
            con.execute("PRAGMA synchronous=FULL")
            migrated = self._create(con)
            if migrated:
                # the old pages held the plaintext: rebuild the file without them, empty the WAL
                con.execute("VACUUM")
                con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.DatabaseError as exc:
            raise BadInput(f"node store {self.path}: not a gsomia node database ({exc})") from exc
        finally:
            con.close()

    def _create(self, con: sqlite3.Connection) -> bool:
        """In one transaction: check the schema, make the tables, mark (or encrypt) the store;
        True if plaintext rows were encrypted."""
        con.execute("BEGIN IMMEDIATE")
        try:
            _schema_of(con, self.path)
            for statement in NODE_SCHEMA.split(";"):
                if statement.strip():
                    con.execute(statement)
            con.execute(
                "INSERT INTO node_meta (key, value) VALUES ('schema', ?) "
                "ON CONFLICT (key) DO NOTHING",
                (str(NODE_SCHEMA_VERSION),),
            )
            migrated = self._check_at_rest(con)
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
        return migrated

    def _check_at_rest(self, con: sqlite3.Connection) -> bool:
        """Mark a new store, refuse an unknown format, encrypt a plaintext one (True then)."""
        row = con.execute("SELECT value FROM node_meta WHERE key = 'at_rest'").fetchone()
        if row is not None:
            if row[0] != AT_REST_FORMAT:
                raise BadInput(
                    f"node store {self.path}: at-rest format {row[0]!r} is not "
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
            writer = SqliteNodeWriter(log.connection, log, self._sealed)
            yield writer
            writer.flush()

    def _reader_con(self) -> sqlite3.Connection:
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:
            try:
                con = sqlite3.connect(
                    self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
                )
            except sqlite3.Error as exc:
                raise StoreFailure(f"node store {self.path}: cannot open a reader ({exc})") from exc
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
            yield SqliteNodeReader(con, self._sealed)
        except sqlite3.Error as exc:
            raise StoreFailure(f"node store {self.path}: read failed ({exc})") from exc
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
