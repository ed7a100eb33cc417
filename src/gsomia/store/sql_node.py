"""The node's reads and writes in SQL, shared by the SQLite and PostgreSQL node stores
(``sqlite_node``, ``postgres_node``), which own the tables' DDL, the transactions, the locking
and the mapping of their errors to ``StoreFailure``.

Objects are kept in the order they were added (``seq``), with their TAXII ``date_added``,
strictly increasing; a page is a range scan from a cursor, so reading costs the same at 10
thousand objects as at a million.

Content is sealed at rest (``AtRestCipher``): the bodies of objects, statuses, native documents
(and their attachments) and queued peer messages, each bound to its place (table, column, row
key) so that no value opens in another row. What stays in clear is what queries need;
docs/formats.md lists it, with the reason for each column.

An item's content — its objects' bodies, its sealed bytes and the notice copy of them (the
attachment of a document keyed by the item's id) — is sealed under a key of its own
(``item_keys``, the key wrapped under the ring's data key; ``gsomia.seal.at_rest``): destroying
the item erases that row, and with it every copy of the item's ciphertext becomes unreadable
(crypto-shredding, DOMAIN.md §7.5). A value's format byte says which key sealed it: items
stored before schema 5 keep their bodies under the ring key and their sealed bytes as they came,
and are shredded by deleting their rows.

Rows with an insertion order of their own (``node_documents``, ``console_sessions``,
``sign_in_failures``) are ordered by ``rowid``: SQLite's own, a generated column of that name
on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson

from gsomia.domain.access import Approval
from gsomia.domain.instants import format_instant, parse_instant
from gsomia.domain.purposes import DEFAULT as DEFAULT_PURPOSES
from gsomia.domain.purposes import STANDING
from gsomia.errors import BadInput, GsomiaError, StoreFailure, VerificationFailed
from gsomia.ledger.hashing import HASH_LEN
from gsomia.ledger.ports import LogWriter, StoredCheckpoint, WitnessedCheckpoint
from gsomia.seal.at_rest import is_item_sealed, new_item_key, open_item_value, seal_item_value
from gsomia.seal.item import KIND_RELEASE, Core, Item, SealedLabel
from gsomia.store.ports import (
    AccessRow,
    AccessTally,
    AtRestCipher,
    DestroyedRow,
    DocumentRow,
    FailureRow,
    ItemRecord,
    MessageRow,
    NewAccess,
    NewObject,
    ObjectRow,
    ObjectScope,
    OutboxRow,
    SchemaBehind,
    SessionRow,
    TrackFrameRow,
    WitnessFault,
)
from gsomia.store.sql import Connection, Dialect

AT_REST_FORMAT = "aes-256-gcm/v1"

BASE_VERSION = 1
"""The schema a backend's DDL makes; later versions are reached by its ``Migration`` steps."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered step of a backend's schema history: it brings a store to ``version``."""

    version: int
    what: str
    apply: Callable[[Connection], None]


def latest(migrations: Sequence[Migration]) -> int:
    """The schema version a backend with these steps writes."""
    return max([BASE_VERSION, *(m.version for m in migrations)])


def schema_version(text: str | None, name: str, knows: int) -> int:
    """The stored ``node_meta`` schema value as a version (absent: 0, a store written before
    versions were kept); BadInput for one newer than ``knows``, or not a number."""
    if text is None:
        return 0
    if not text.isdecimal():
        raise BadInput(f"{name}: schema {text!r} is not a version number")
    version = int(text)
    if version > knows:
        raise BadInput(
            f"{name}: schema {version} is newer than this version of gsomia knows "
            f"(up to {knows}); it was written by a later gsomia: run that one"
        )
    return version


def upgrade(
    con: Connection, migrations: Sequence[Migration], found: int, *, name: str, migrate: bool
) -> tuple[int, int] | None:
    """Bring a store of schema ``found`` to the latest, in the caller's transaction: (from, to)
    if it changed; SchemaBehind, nothing written, if it is older and ``migrate`` is off."""
    target = latest(migrations)
    if found == target:
        return None
    if not migrate:
        raise SchemaBehind(name, found, target)
    for step in sorted(migrations, key=lambda m: m.version):
        if found < step.version <= target:
            step.apply(con)
    con.execute(
        "INSERT INTO node_meta (key, value) VALUES ('schema', ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (str(target),),
    )
    return found, target


class Sealed:
    """The store's sealed columns: each value bound to its table, column and row key."""

    __slots__ = ("_cipher", "_name")

    def __init__(self, cipher: AtRestCipher, name: str) -> None:
        self._cipher = cipher
        self._name = name  # the store, as its messages name it

    def seal(self, plaintext: bytes, table: str, column: str, *key: str | int) -> bytes:
        return self._cipher.seal(plaintext, orjson.dumps([table, column, *key]))

    def open(self, value: bytes, table: str, column: str, *key: str | int) -> bytes:
        try:
            return self._cipher.open(bytes(value), orjson.dumps([table, column, *key]))
        except VerificationFailed:
            raise StoreFailure(
                f"{self._name}: {table}.{column} of row {list(key)} does not open "
                "(tampered, moved from another row, or sealed under a key this node lacks)"
            ) from None

    # ------------------------------------------------ per-item keys
    def wrap_item_key(self, key: bytes, item_id: str) -> bytes:
        return self.seal(key, "item_keys", "key", item_id)

    def open_item(
        self, value: bytes, wrapped: bytes | None, item_id: str, table: str, column: str, *key: str
    ) -> bytes:
        """A content value: under its item's key (``wrapped``, as stored) if its format says
        so, else under the ring key as any other column (or, for sealed bytes stored before
        schema 5, as they came: ``None`` for ``column`` then)."""
        value = bytes(value)
        if not is_item_sealed(value):
            return value if column == "sealed" else self.open(value, table, column, *key)
        if wrapped is None:
            raise StoreFailure(
                f"{self._name}: {table}.{column} of row {list(key)} is sealed under the key of "
                f"item {item_id[:120]!r}, which is erased"
            )
        item_key = self.open(wrapped, "item_keys", "key", item_id)
        try:
            return open_item_value(item_key, value, orjson.dumps([table, column, *key]))
        except VerificationFailed:
            raise StoreFailure(
                f"{self._name}: {table}.{column} of row {list(key)} does not open under its "
                "item's key (tampered, or moved from another row)"
            ) from None

    def destroyed(self, r: tuple[Any, ...]) -> DestroyedRow:
        label = orjson.loads(self.open(r[8], "destroyed_items", "label", r[0]))
        return DestroyedRow(
            r[0], r[1], r[2], label, r[3], tuple(orjson.loads(r[4])), r[5], r[6], r[7], r[9], r[10]
        )

    def document(self, r: tuple[Any, ...]) -> DocumentRow:
        """A ``_DOC_READ`` row: the attachment under its item's key (``r[5]``, wrapped) if
        its format says so, else under the ring key (see ``put_document``)."""
        kind, key = r[0], r[1]
        body = self.open(r[3], "node_documents", "body", kind, key)
        attachment = (
            None
            if r[4] is None
            else self.open_item(r[4], r[5], r[2], "node_documents", "attachment", kind, key)
        )
        return DocumentRow(kind, key, r[2], orjson.loads(body), attachment)

    def row(self, r: tuple[Any, ...]) -> ObjectRow:
        body = self.open_item(r[9], r[12], r[6], "objects", "body", r[1], r[2], r[4])
        return ObjectRow(
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            r[5],
            r[6],
            r[7],
            tuple(orjson.loads(r[8])),
            body,
            _purposes(r[10]),
            _approvals(r[11], r[6]),
        )


def _object_key(obj: NewObject) -> tuple[str, str, str]:
    return obj.collection, obj.stix_id, obj.version


_DOC_COLUMNS = "kind, key, item_id, body, attachment"
# what is read of a document: its columns and its item's wrapped key (for an attachment sealed
# under it; NULL when the item has none, or its key is erased)
_DOC_READ = (
    "kind, key, item_id, body, attachment, "
    "(SELECT item_keys.key FROM item_keys WHERE item_keys.item_id = node_documents.item_id)"
)
_SCOPE_COLUMNS = "stix_id, version, stix_type, item_id, equivalence, topics, purposes, approvals"


def _scope(r: tuple[Any, ...]) -> ObjectScope:
    return ObjectScope(
        r[0],
        r[1],
        r[2],
        r[3],
        r[4],
        tuple(orjson.loads(r[5])),
        _purposes(r[6]),
        _approvals(r[7], r[3]),
    )


# ------------------------------------------------------------------ purposes (DOMAIN.md §7.1)
def _purposes(value: str | None) -> tuple[str, ...] | None:
    """A stored ``objects.purposes``: None (no purpose bounds the row) or its purposes."""
    if value is None:
        return None
    found = orjson.loads(value)
    if not isinstance(found, list) or not all(isinstance(p, str) for p in found):
        raise StoreFailure(f"objects.purposes: {value[:80]!r} is not a list of purposes")
    return tuple(found)


def _approvals(value: str | None, item_id: str | None) -> tuple[Approval, ...]:
    """A stored ``objects.approvals``: ``[[purpose, granted_at, expires_at|null], …]``."""
    if value is None or item_id is None:
        return ()
    try:
        return tuple(
            Approval(
                item_id,
                str(purpose),
                parse_instant(granted, "objects.approvals"),
                None if expires is None else parse_instant(expires, "objects.approvals"),
            )
            for purpose, granted, expires in orjson.loads(value)
        )
    except (GsomiaError, TypeError, ValueError) as exc:
        raise StoreFailure(f"objects.approvals of {item_id[:120]}: not approvals ({exc})") from None


def _encode_purposes(purposes: tuple[str, ...] | None) -> str | None:
    return None if purposes is None else orjson.dumps(list(purposes)).decode()


def _encode_approvals(approvals: Sequence[Approval]) -> str | None:
    if not approvals:
        return None
    return orjson.dumps(
        [
            [
                a.purpose,
                format_instant(a.granted_at),
                None if a.expires_at is None else format_instant(a.expires_at),
            ]
            for a in approvals
        ]
    ).decode()


def received_purposes(sealed: bytes, received_from: str) -> tuple[str, ...]:
    """What a received item was provided for, read from its sealed bytes alone (for a store
    written before purposes were kept; nothing is verified or opened here): its label's
    purposes, or ``defense.warning`` alone when the sender is not the originator and any of
    the sender's release records rests on standing consent. A hub may have appended several
    relays to the copy it passed on; which of them was to this node the bytes do not say,
    so a standing relay among them limits the item (fail closed)."""
    item = Item.decode(sealed)
    label = SealedLabel.decode(Core.decode(item.core, "sealed item: core").label, "sealed label")
    if received_from != label.originator:
        for record in item.records:
            if record.kind != KIND_RELEASE:
                continue
            body = orjson.loads(record.body)
            if body.get("holder") == received_from and body.get("standing_consent") is not None:
                return STANDING
    return label.purposes or DEFAULT_PURPOSES


PURPOSE_COLUMNS = ("purposes", "approvals")
"""The columns schema 2 adds to ``objects`` (TEXT, NULL: JSON when set)."""


def add_purposes(con: Connection) -> None:
    """Schema 2 (DOMAIN.md §7.1), once the backend has added ``PURPOSE_COLUMNS``: every
    received item's rows get what it was provided for (``received_purposes``). The node's own
    items, label markings and public definitions keep NULL: no purpose bounds them."""
    held = con.execute(
        "SELECT item_id, sealed, received_from FROM items WHERE received_from IS NOT NULL"
    ).fetchall()
    for item_id, sealed, sender in held:
        try:
            purposes = received_purposes(bytes(sealed), str(sender))
        except (GsomiaError, ValueError) as exc:
            raise StoreFailure(
                f"items.sealed of {str(item_id)[:120]}: not a sealed item ({exc})"
            ) from None
        con.execute(
            "UPDATE objects SET purposes = ? WHERE item_id = ?",
            (_encode_purposes(purposes), item_id),
        )


def _failures(con: Connection, keys: Sequence[str]) -> list[FailureRow]:
    if not keys:
        return []
    marks = ", ".join("?" * len(keys))
    rows = con.execute(
        "SELECT key, count, last, blocked_until FROM sign_in_failures "  # noqa: S608 - marks only
        f"WHERE key IN ({marks}) ORDER BY key",
        tuple(keys),
    )
    return [FailureRow(str(k), int(n), float(t), float(b)) for k, n, t, b in rows]


def _destroyed(con: Connection, sealed: Sealed, item_id: str) -> DestroyedRow | None:
    row = con.execute(
        f"SELECT {_DESTROYED_COLUMNS} FROM destroyed_items WHERE item_id = ?",  # noqa: S608
        (item_id,),
    ).fetchone()
    return None if row is None else sealed.destroyed(row)


def _collections(con: Connection) -> dict[str, str]:
    return {str(o): str(i) for o, i in con.execute("SELECT originator, id FROM collections")}


_ACCESS_COLUMNS = "seq, item_id, user_name, purpose, route, at, wall_ms"
_IN_CHUNK = 500  # ids bound in one IN (...) list


def _access(r: tuple[Any, ...]) -> AccessRow:
    return AccessRow(int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5]), int(r[6]))


def _accesses_after(con: Connection, after_seq: int, limit: int) -> list[AccessRow]:
    rows = con.execute(
        f"SELECT {_ACCESS_COLUMNS} FROM access_records "  # noqa: S608 - constant column list
        "WHERE seq > ? ORDER BY seq LIMIT ?",
        (after_seq, limit),
    )
    return [_access(r) for r in rows]


_COLUMNS = (
    "objects.seq, objects.collection, objects.stix_id, objects.stix_type, objects.version, "
    "objects.date_added, objects.item_id, objects.equivalence, objects.topics, objects.body, "
    "objects.purposes, objects.approvals, item_keys.key"
)
#: Objects with their item's wrapped key (none for a label or a definition: no item).
_OBJECTS = "objects LEFT JOIN item_keys ON item_keys.item_id = objects.item_id"
_DESTROYED_COLUMNS = (
    "item_id, originator, digest, equivalence, topics, destroyed_at, reason, authorised_by, label, "
    "received_from, added"
)


_DIRECTIONS = frozenset(("in", "out"))


def _track_link(con: Connection, track: str, peer: str, direction: str) -> int:
    row = con.execute(
        "SELECT last_seq FROM track_links WHERE track = ? AND peer = ? AND direction = ?",
        (track, peer, direction),
    ).fetchone()
    return 0 if row is None else int(row[0])


def _track_links(
    con: Connection, tracks: Sequence[str], peer: str, direction: str
) -> dict[str, int]:
    wanted = list(dict.fromkeys(tracks))
    found = dict.fromkeys(wanted, 0)
    for i in range(0, len(wanted), 500):  # within any SQL engine's parameter limit
        chunk = wanted[i : i + 500]
        marks = ", ".join("?" * len(chunk))
        # only the placeholders are formatted in
        where = f"peer = ? AND direction = ? AND track IN ({marks})"
        query = "SELECT track, last_seq FROM track_links WHERE " + where  # noqa: S608 - placeholders only
        rows = con.execute(query, (peer, direction, *chunk)).fetchall()
        for track, seq in rows:
            found[str(track)] = int(seq)
    return found


class SqlNodeWriter:
    """The node's writes inside one transaction (which also holds the log's writer)."""

    def __init__(self, con: Connection, log: LogWriter, sealed: Sealed, dialect: Dialect) -> None:
        self._con = con
        self._dialect = dialect
        self.log = log
        self._sealed = sealed
        self._last_added: str | None = None  # read once, written once per transaction
        self._last_dirty = False
        self._savepoints = 0
        self._item_keys: dict[str, bytes] = {}  # this transaction's, never kept beyond it

    def _item_key(self, item_id: str) -> bytes:
        """The key of ``item_id``, made (and stored, wrapped) if it has none yet."""
        found = self._item_keys.get(item_id)
        if found is not None:
            return found
        row = self._con.execute(
            "SELECT key FROM item_keys WHERE item_id = ?", (item_id,)
        ).fetchone()
        if row is None:
            key = new_item_key()
            self._con.execute(
                "INSERT INTO item_keys (item_id, key) VALUES (?, ?)",
                (item_id, self._sealed.wrap_item_key(key, item_id)),
            )
        else:
            key = self._sealed.open(bytes(row[0]), "item_keys", "key", item_id)
        self._item_keys[item_id] = key
        return key

    def _seal_content(
        self, item_id: str, plaintext: bytes, table: str, column: str, *key: str
    ) -> bytes:
        return seal_item_value(
            self._item_key(item_id), plaintext, orjson.dumps([table, column, *key])
        )

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
            "equivalence, topics, is_latest, body, purposes, approvals) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                obj.collection,
                obj.stix_id,
                obj.stix_type,
                obj.version,
                date_added,
                obj.item_id,
                obj.equivalence,
                orjson.dumps(list(obj.topics)).decode(),
                int(is_latest),
                self._sealed.seal(obj.body, "objects", "body", *_object_key(obj))
                if obj.item_id is None
                else self._seal_content(
                    obj.item_id, obj.body, "objects", "body", *_object_key(obj)
                ),
                _encode_purposes(obj.purposes),
                _encode_approvals(obj.approvals),
            ),
        )

    def set_approvals(
        self, collection: str, stix_id: str, version: str, approvals: Sequence[Approval]
    ) -> None:
        self._con.execute(
            "UPDATE objects SET approvals = ? WHERE collection = ? AND stix_id = ? AND version = ?",
            (_encode_approvals(approvals), collection, stix_id, version),
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
            (
                item_id,
                stix_id,
                originator,
                self._seal_content(item_id, sealed, "items", "sealed", item_id),
                received_from,
                added,
            ),
        )

    def replace_item(self, item_id: str, sealed: bytes) -> None:
        self._con.execute(
            "UPDATE items SET sealed = ? WHERE item_id = ?",
            (self._seal_content(item_id, sealed, "items", "sealed", item_id), item_id),
        )

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
            'INSERT INTO statuses (id, "user", body) VALUES (?, ?, ?)',
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
            "INSERT INTO log_items (item_id, idx, kind) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            found,
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
        row = self._con.execute(
            "INSERT INTO witness_faults (origin, at, size, cosigned_size, reason, note) "
            "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (origin, at, size, cosigned_size, reason, note),
        ).fetchone()
        return int(row[0])

    # ------------------------------------------------ native documents and peer messages
    def replace_object(self, obj: NewObject, date_added: str) -> None:
        """Store ``obj`` again in place of the same version (a new marking), added anew; the
        approvals stored for it stay (only ``set_approvals`` changes them)."""
        key = (obj.collection, obj.stix_id, obj.version)
        kept = self._con.execute(
            "SELECT approvals FROM objects WHERE collection = ? AND stix_id = ? AND version = ?",
            key,
        ).fetchone()
        self._con.execute(
            "DELETE FROM objects WHERE collection = ? AND stix_id = ? AND version = ?", key
        )
        self.add_object(obj, date_added)
        if kept is not None and kept[0] is not None:
            self._con.execute(
                "UPDATE objects SET approvals = ? "
                "WHERE collection = ? AND stix_id = ? AND version = ?",
                (kept[0], *key),
            )

    def put_document(
        self, kind: str, key: str, item_id: str, body: dict[str, Any], attachment: bytes | None
    ) -> None:
        """Store a document. The attachment of a document keyed by its item's id (one of its
        kind per item: the notice copy of a sealed item) is sealed under the item's own key, so
        that erasing the key shreds it with the item; any other under the ring key."""
        place = ("node_documents", "attachment", kind, key)
        sealed_attachment = (
            None
            if attachment is None
            else self._seal_content(item_id, attachment, *place)
            if key == item_id
            else self._sealed.seal(attachment, *place)
        )
        self._con.execute(
            f"INSERT INTO node_documents ({_DOC_COLUMNS}) VALUES (?, ?, ?, ?, ?) "  # noqa: S608
            "ON CONFLICT (kind, key) DO UPDATE SET item_id = excluded.item_id, "
            "body = excluded.body, attachment = excluded.attachment",
            (
                kind,
                key,
                item_id,
                self._sealed.seal(orjson.dumps(body), "node_documents", "body", kind, key),
                sealed_attachment,
            ),
        )

    def document(self, kind: str, key: str) -> DocumentRow | None:
        row = self._con.execute(
            f"SELECT {_DOC_READ} FROM node_documents WHERE kind = ? AND key = ?",  # noqa: S608
            (kind, key),
        ).fetchone()
        return None if row is None else self._sealed.document(row)

    def documents(self, kind: str, item_id: str) -> list[DocumentRow]:
        """Every document of ``kind`` about ``item_id``, oldest first, as this transaction sees
        them (what a write that replaces a set of them must start from)."""
        rows = self._con.execute(
            f"SELECT {_DOC_READ} FROM node_documents "  # noqa: S608
            "WHERE item_id = ? AND kind = ? ORDER BY rowid",
            (item_id, kind),
        )
        return [self._sealed.document(r) for r in rows]

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

    def messages_on(self, path: str) -> list[MessageRow]:
        return [
            MessageRow(
                r[0], r[1], r[2], r[3], self._sealed.open(r[4], "peer_messages", "body", r[0]), r[5]
            )
            for r in self._con.execute(
                "SELECT id, recipient, path, ref, body, attempts FROM peer_messages "
                "WHERE path = ? ORDER BY id",
                (path,),
            ).fetchall()
        ]

    def drop_messages(self, ids: Sequence[int]) -> None:
        self._con.executemany("DELETE FROM peer_messages WHERE id = ?", [(i,) for i in ids])

    # ------------------------------------------------ destruction (DOMAIN.md §7.5)
    def set_retention(self, item_id: str, retain_until: str) -> None:
        self._con.execute(
            "INSERT INTO item_retention (item_id, retain_until) VALUES (?, ?) "
            "ON CONFLICT (item_id) DO UPDATE SET retain_until = excluded.retain_until",
            (item_id, retain_until),
        )

    def destroy_item(self, item_id: str, documents: Sequence[str]) -> None:
        con = self._con
        self._item_keys.pop(item_id, None)
        con.execute("DELETE FROM item_keys WHERE item_id = ?", (item_id,))
        objects = con.execute(
            "SELECT DISTINCT collection, stix_id FROM objects WHERE item_id = ?", (item_id,)
        ).fetchall()
        con.execute("DELETE FROM objects WHERE item_id = ?", (item_id,))
        for collection, stix_id in objects:  # another version of the object is the latest now
            con.execute(
                "UPDATE objects SET is_latest = 1 WHERE seq = (SELECT seq FROM objects "
                "WHERE collection = ? AND stix_id = ? ORDER BY version DESC LIMIT 1)",
                (collection, stix_id),
            )
        con.execute("DELETE FROM items WHERE item_id = ?", (item_id,))
        con.execute("DELETE FROM outbox WHERE item_id = ?", (item_id,))
        con.execute("DELETE FROM item_retention WHERE item_id = ?", (item_id,))
        con.executemany(
            "DELETE FROM node_documents WHERE item_id = ? AND kind = ?",
            [(item_id, kind) for kind in documents],
        )

    def add_destroyed(self, row: DestroyedRow) -> None:
        self._con.execute(
            f"INSERT INTO destroyed_items ({_DESTROYED_COLUMNS}) "  # noqa: S608 - constant columns
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.item_id,
                row.originator,
                row.digest,
                row.equivalence,
                orjson.dumps(list(row.topics)).decode(),
                row.destroyed_at,
                row.reason,
                row.authorised_by,
                self._sealed.seal(orjson.dumps(row.label), "destroyed_items", "label", row.item_id),
                row.received_from,
                row.added,
            ),
        )

    def destroyed(self, item_id: str) -> DestroyedRow | None:
        return _destroyed(self._con, self._sealed, item_id)

    def add_track_frame(self, frame: TrackFrameRow) -> None:
        if frame.direction not in _DIRECTIONS:
            raise BadInput(f"track frame: direction {frame.direction!r} is not in or out")
        self._con.execute(
            "INSERT INTO track_frames (track, direction, peer, first_seq, last_seq, at, frame) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                frame.track,
                frame.direction,
                frame.peer,
                frame.first_seq,
                frame.last_seq,
                frame.at,
                frame.frame,
            ),
        )
        self._con.execute(
            "INSERT INTO track_links (track, peer, direction, last_seq) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (track, peer, direction) DO UPDATE SET last_seq = excluded.last_seq",
            (frame.track, frame.peer, frame.direction, frame.last_seq),
        )

    def add_track_frames(self, frames: Sequence[TrackFrameRow]) -> None:
        if not frames:
            return
        for frame in frames:
            if frame.direction not in _DIRECTIONS:
                raise BadInput(f"track frame: direction {frame.direction!r} is not in or out")
        self._con.executemany(
            "INSERT INTO track_frames (track, direction, peer, first_seq, last_seq, at, frame) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (f.track, f.direction, f.peer, f.first_seq, f.last_seq, f.at, f.frame)
                for f in frames
            ],
        )
        last = {(f.track, f.peer, f.direction): f.last_seq for f in frames}  # each link's last
        self._con.executemany(
            "INSERT INTO track_links (track, peer, direction, last_seq) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (track, peer, direction) DO UPDATE SET last_seq = excluded.last_seq",
            [(*key, seq) for key, seq in last.items()],
        )

    def track_link(self, track: str, peer: str, direction: str) -> int:
        return _track_link(self._con, track, peer, direction)

    def track_links(self, tracks: Sequence[str], peer: str, direction: str) -> dict[str, int]:
        return _track_links(self._con, tracks, peer, direction)

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

    # ------------------------------------------------ the register of accesses
    def add_accesses(self, rows: Sequence[NewAccess]) -> None:
        """Append ``rows`` at the next seqs: chosen here (one writer at a time), so that the
        register has no gap and a record's seq is its place in the register's Merkle tree."""
        if not rows:
            return
        last = int(
            self._con.execute("SELECT COALESCE(MAX(seq), 0) FROM access_records").fetchone()[0]
        )
        self._con.executemany(
            f"INSERT INTO access_records ({_ACCESS_COLUMNS}) "  # noqa: S608 - constant columns
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (last + i, a.item_id, a.user, a.purpose, a.route, a.at, a.wall_ms)
                for i, a in enumerate(rows, start=1)
            ],
        )

    def accesses_after(self, after_seq: int, limit: int) -> list[AccessRow]:
        return _accesses_after(self._con, after_seq, limit)

    def register_state(self) -> str | None:
        row = self._con.execute("SELECT value FROM node_meta WHERE key = 'register'").fetchone()
        return None if row is None else str(row[0])

    def set_register_state(self, value: str) -> None:
        self._con.execute(
            "INSERT INTO node_meta (key, value) VALUES ('register', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (value,),
        )

    # ------------------------------------------------ console sessions and sign-in throttling
    def add_session(self, row: SessionRow) -> None:
        self._con.execute(
            'INSERT INTO console_sessions (key, "user", expires) VALUES (?, ?, ?)',
            (row.key, row.user, row.expires),
        )

    def end_session(self, key: str) -> bool:
        # RETURNING rather than rowcount: a PostgreSQL writer pipelines its statements, and
        # only a fetch waits for the answer
        cur = self._con.execute("DELETE FROM console_sessions WHERE key = ? RETURNING key", (key,))
        return bool(cur.fetchall())

    def end_sessions_expired(self, now: float) -> list[str]:
        rows = self._con.execute(
            "DELETE FROM console_sessions WHERE expires <= ? RETURNING key", (now,)
        )
        return [str(k) for (k,) in rows.fetchall()]

    def end_sessions_beyond(self, keep: int) -> list[str]:
        rows = self._con.execute(
            "DELETE FROM console_sessions WHERE key IN (SELECT key FROM console_sessions "
            "ORDER BY expires, rowid LIMIT (SELECT CASE WHEN count(*) > ? THEN count(*) - ? "
            "ELSE 0 END FROM console_sessions)) RETURNING key",
            (keep, keep),
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
            "ORDER BY last, rowid LIMIT (SELECT CASE WHEN count(*) > ? THEN count(*) - ? "
            "ELSE 0 END FROM sign_in_failures))",
            (keep, keep),
        )


class SqlNodeReader:
    """The node's reads, in the snapshot of a store's ``reading()``."""

    def __init__(self, con: Connection, sealed: Sealed, dialect: Dialect) -> None:
        self._con = con
        self._dialect = dialect
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
        """Up to ``batch`` rows after ``after_seq`` in order, with the cheap filters applied.

        With ``ids``, rows are found from their ids through the (collection, stix_id) index,
        then filtered and put in order. Given as one more condition beside the collection, the
        ids left the planner free to walk the collection in seq order (objects_latest) testing
        every row, reading it all to find one object (SQLite always did; so does PostgreSQL
        before it has statistics). Outside the subquery no condition names the collection, so
        that walk is not on offer; the SQL is the same on both."""
        if ids:
            marks = ",".join("?" * len(ids))
            sql = [
                (
                    f"SELECT {_COLUMNS} FROM {_OBJECTS} WHERE objects.seq IN "  # noqa: S608 - placeholders
                    f"(SELECT seq FROM objects WHERE collection = ? AND stix_id IN ({marks})) "
                    "AND objects.seq > ?"
                )
            ]
            args: list[Any] = [collection, *ids, after_seq]
        else:
            sql = [f"SELECT {_COLUMNS} FROM {_OBJECTS} WHERE collection = ? AND seq > ?"]  # noqa: S608
            args = [collection, after_seq]
        if latest_only:
            sql.append("AND is_latest = 1")
        if added_after is not None:
            sql.append("AND date_added > ?")
            args.append(added_after)
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
                f"SELECT {_COLUMNS} FROM {_OBJECTS} "  # noqa: S608 - constant column list
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
                f"SELECT {_COLUMNS} FROM {_OBJECTS} "  # noqa: S608 - constant column list
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
            'SELECT "user", body FROM statuses WHERE id = ?', (status_id,)
        ).fetchone()
        if row is None:
            return None
        body = self._sealed.open(row[1], "statuses", "body", status_id)
        return str(row[0]), orjson.loads(body)

    def item_origin(self, item_id: str) -> tuple[str, str | None] | None:
        """The originator and sender of a held item, without its sealed bytes.

        The query yields one row whether or not the item is held (a left join from a constant),
        so a miss is decoded like a hit: probing for an item takes the same work either way."""
        hint = self._dialect.indexed_by("items_origin")
        row = self._con.execute(
            "SELECT i.originator, i.received_from FROM (SELECT 1) AS one "  # noqa: S608 - an index name
            f"LEFT JOIN items AS i {hint} ON i.item_id = ?",
            (item_id,),
        ).fetchone()
        return None if row[0] is None else (str(row[0]), row[1])

    def object_scope(self, collection: str, stix_id: str, version: str) -> ObjectScope | None:
        """One object version's class and topics: an index probe that reads no body, and one
        row decoded whether or not the version is stored (a miss costs what a hit does)."""
        hint = self._dialect.indexed_by("objects_scope")
        row = self._con.execute(
            "SELECT o.stix_id, o.version, o.stix_type, o.item_id, o.equivalence, "  # noqa: S608 - an index name
            f"COALESCE(o.topics, '[]'), o.purposes, o.approvals "
            f"FROM (SELECT 1) AS one LEFT JOIN objects AS o {hint} "
            "ON o.collection = ? AND o.stix_id = ? AND o.version = ?",
            (collection, stix_id, version),
        ).fetchone()
        scope = _scope(row)
        return None if row[0] is None else scope

    def scopes(self, collection: str, stix_id: str) -> list[ObjectScope]:
        """Every version's class and topics, by version (index only; no body read). A missing
        object still yields one row, decoded and dropped, so a miss costs what a hit does."""
        hint = self._dialect.indexed_by("objects_scope")
        rows = self._con.execute(
            "SELECT o.stix_id, o.version, o.stix_type, o.item_id, o.equivalence, "  # noqa: S608 - an index name
            f"COALESCE(o.topics, '[]'), o.purposes, o.approvals "
            f"FROM (SELECT 1) AS one LEFT JOIN objects AS o {hint} "
            "ON o.collection = ? AND o.stix_id = ? ORDER BY o.version",
            (collection, stix_id),
        ).fetchall()
        decoded = [_scope(r) for r in rows]
        return [x for x, r in zip(decoded, rows, strict=True) if r[0] is not None]

    def document_item(self, kind: str, key: str) -> str | None:
        """The item a node document is about, without reading (or opening) the document; one
        row decoded whether or not the document exists."""
        hint = self._dialect.indexed_by("node_documents_scope")
        row = self._con.execute(
            f"SELECT d.item_id FROM (SELECT 1) AS one LEFT JOIN node_documents AS d {hint} "  # noqa: S608 - an index name
            "ON d.kind = ? AND d.key = ?",
            (kind, key),
        ).fetchone()
        return None if row[0] is None else str(row[0])

    def item(self, item_id: str) -> tuple[str, bytes, str | None] | None:
        row = self._con.execute(
            "SELECT items.originator, items.sealed, items.received_from, item_keys.key "
            "FROM items LEFT JOIN item_keys ON item_keys.item_id = items.item_id "
            "WHERE items.item_id = ?",
            (item_id,),
        ).fetchone()
        if row is None:
            return None
        sealed = self._sealed.open_item(row[1], row[3], item_id, "items", "sealed", item_id)
        return str(row[0]), sealed, row[2]

    def held_items(self, originator: str | None = None) -> list[ItemRecord]:
        """Every item row (of ``originator``'s if given), in the order they were added; an
        item whose sealed bytes are gone (NULL or empty) comes with ``sealed`` None."""
        query = (
            "SELECT items.item_id, items.originator, items.received_from, items.added, "
            "items.sealed, item_keys.key "
            "FROM items LEFT JOIN item_keys ON item_keys.item_id = items.item_id"
        )
        order = " ORDER BY items.added, items.item_id"
        rows = (
            self._con.execute(query + order)
            if originator is None
            else self._con.execute(query + " WHERE items.originator = ?" + order, (originator,))
        )
        return [
            ItemRecord(
                str(r[0]),
                str(r[1]),
                r[2],
                str(r[3]),
                (
                    self._sealed.open_item(r[4], r[5], str(r[0]), "items", "sealed", str(r[0]))
                    or None
                )
                if r[4]
                else None,
            )
            for r in rows
        ]

    def releases_to(self, recipient: str) -> list[tuple[str, str]]:
        return [
            (str(r[0]), str(r[1]))
            for r in self._con.execute(
                "SELECT item_id, state FROM outbox WHERE recipient = ? ORDER BY id", (recipient,)
            )
        ]

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
            f"SELECT {_DOC_READ} FROM node_documents WHERE kind = ? AND key = ?",  # noqa: S608
            (kind, key),
        ).fetchone()
        return None if row is None else self._sealed.document(row)

    def documents(self, kind: str, item_id: str | None = None) -> list[DocumentRow]:
        """Every document of ``kind`` (about ``item_id`` if given), oldest first."""
        if item_id is None:
            rows = self._con.execute(
                f"SELECT {_DOC_READ} FROM node_documents WHERE kind = ? "  # noqa: S608
                "ORDER BY rowid",
                (kind,),
            )
        else:
            rows = self._con.execute(
                f"SELECT {_DOC_READ} FROM node_documents "  # noqa: S608
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

    def accesses(
        self, *, item_id: str | None = None, after_seq: int = 0, limit: int = 1000
    ) -> list[AccessRow]:
        if item_id is None:
            return _accesses_after(self._con, after_seq, limit)
        rows = self._con.execute(
            f"SELECT {_ACCESS_COLUMNS} FROM access_records "  # noqa: S608 - constant columns
            "WHERE item_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (item_id, after_seq, limit),
        )
        return [_access(r) for r in rows]

    def held_item_ids(self, originator: str) -> list[str]:
        return [
            str(i)
            for (i,) in self._con.execute(
                "SELECT item_id FROM items WHERE originator = ? ORDER BY item_id", (originator,)
            )
        ]

    def latest_accesses(self, item_id: str, limit: int) -> list[AccessRow]:
        rows = self._con.execute(
            f"SELECT {_ACCESS_COLUMNS} FROM access_records "  # noqa: S608 - constant columns
            "WHERE item_id = ? ORDER BY seq DESC LIMIT ?",
            (item_id, limit),
        )
        return [_access(r) for r in reversed(rows.fetchall())]

    def last_accesses(self) -> dict[str, AccessRow]:
        rows = self._con.execute(
            f"SELECT {_ACCESS_COLUMNS} FROM access_records WHERE seq IN "  # noqa: S608
            "(SELECT MAX(seq) FROM access_records GROUP BY user_name)"
        )
        return {a.user: a for a in map(_access, rows)}

    def access_tallies(self, item_ids: Sequence[str]) -> list[AccessTally]:
        counts: dict[str, list[tuple[str, int]]] = {}
        persons: dict[str, int] = {}
        wanted = sorted(set(item_ids))
        for start in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            for item, purpose, n in self._con.execute(
                "SELECT item_id, purpose, COUNT(*) FROM access_records "  # noqa: S608 - marks
                f"WHERE item_id IN ({marks}) GROUP BY item_id, purpose ORDER BY item_id, purpose",
                chunk,
            ):
                counts.setdefault(str(item), []).append((str(purpose), int(n)))
            for item, n in self._con.execute(
                "SELECT item_id, COUNT(DISTINCT user_name) FROM access_records "  # noqa: S608
                f"WHERE item_id IN ({marks}) GROUP BY item_id",
                chunk,
            ):
                persons[str(item)] = int(n)
        return [
            AccessTally(item, sum(n for _, n in found), persons.get(item, 0), tuple(found))
            for item, found in sorted(counts.items())
        ]

    def destroyed(self, item_id: str) -> DestroyedRow | None:
        return _destroyed(self._con, self._sealed, item_id)

    def track_link(self, track: str, peer: str, direction: str) -> int:
        return _track_link(self._con, track, peer, direction)

    def track_frames(self, track: str, limit: int = 1000) -> list[TrackFrameRow]:
        return [
            TrackFrameRow(
                str(r[0]), str(r[1]), str(r[2]), int(r[3]), int(r[4]), str(r[5]), bytes(r[6])
            )
            for r in self._con.execute(
                "SELECT track, direction, peer, first_seq, last_seq, at, frame FROM track_frames "
                "WHERE track = ? ORDER BY id LIMIT ?",
                (track, limit),
            )
        ]

    def destroyed_items(self, limit: int = 1000) -> list[DestroyedRow]:
        return [
            self._sealed.destroyed(r)
            for r in self._con.execute(
                f"SELECT {_DESTROYED_COLUMNS} FROM destroyed_items "  # noqa: S608 - constant
                "ORDER BY destroyed_at DESC, item_id LIMIT ?",
                (limit,),
            )
        ]

    def retention_due(self, upto: str, limit: int = 100) -> list[str]:
        return [
            str(r[0])
            for r in self._con.execute(
                "SELECT item_id FROM item_retention WHERE retain_until <= ? "
                "ORDER BY retain_until, item_id LIMIT ?",
                (upto, limit),
            )
        ]

    def session(self, key: str) -> SessionRow | None:
        row = self._con.execute(
            'SELECT key, "user", expires FROM console_sessions WHERE key = ?', (key,)
        ).fetchone()
        return None if row is None else SessionRow(str(row[0]), str(row[1]), float(row[2]))

    def sign_in_failures(self, keys: Sequence[str]) -> list[FailureRow]:
        return _failures(self._con, keys)
