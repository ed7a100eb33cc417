"""The node store's port: what the node's use cases, the API and the console may ask of the
store, and the rows it gives and takes. ``gsomia.store.sqlite_node`` implements it (the
transparency log's own port is ``gsomia.ledger.ports``; a node store holds its log, in the same
transactions).

A ``NodeStore`` hands out a ``NodeWriter`` inside ``writing()`` — one durable transaction that
holds the node's tables and the log's writer (``NodeWriter.log``): an item, the decisions about
it, its log entries and its outbox rows commit together or not at all — and a ``NodeReader``
inside ``reading()``, which sees one consistent snapshot. Content is sealed at rest with the
``AtRestCipher`` the store is opened with; rows come out opened.

Only the composition root (``gsomia.app.stores``) names a backend; ``node``, ``api`` and
``console`` import this module (an import-linter contract holds them to it).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from gsomia.domain.access import Approval
from gsomia.errors import BadInput
from gsomia.ledger.ports import LogStore, LogWriter, StoredCheckpoint, WitnessedCheckpoint

NODE_SCHEMA_VERSION = 6
"""The version of the node tables this code writes (``node_meta`` key ``schema``); 2 added the
purposes of received items (``objects.purposes``, ``objects.approvals``), 3 the register of
accesses (``access_records``), 5 per-item keys, retention and destroyed items (4 is unused),
6 missile-warning track frames and each link's continuity (``track_frames``, ``track_links``)."""


class SchemaBehind(BadInput):
    """The store's schema is older than this code writes: ``gsomia node migrate`` brings it
    up to date (a node does not start on it; nothing was written)."""

    def __init__(self, name: str, found: int, expected: int, config: str = "NODE.toml") -> None:
        self.name = name
        self.found = found
        self.expected = expected
        super().__init__(
            f"{name}: schema {found} is older than this version of gsomia writes ({expected}): "
            f"run `gsomia node migrate --config {config}` to bring it up to date"
        )


@dataclass(frozen=True, slots=True)
class ObjectRow:
    seq: int
    collection: str
    stix_id: str
    stix_type: str
    version: str
    date_added: str
    item_id: str | None
    equivalence: str | None
    topics: tuple[str, ...]
    body: bytes
    purposes: tuple[str, ...] | None = None  # see ObjectScope
    approvals: tuple[Approval, ...] = ()


@dataclass(frozen=True, slots=True)
class ObjectScope:
    """What deciding visibility needs of a stored object: no body, nothing to decrypt."""

    stix_id: str
    version: str
    stix_type: str
    item_id: str | None
    equivalence: str | None
    topics: tuple[str, ...]
    # what a received item is provided for here (DOMAIN.md §7.1): its label's purposes, or
    # defense.warning when it arrived under standing consent; None for the node's own items,
    # label markings and public definitions (no purpose bounds them)
    purposes: tuple[str, ...] | None = None
    approvals: tuple[Approval, ...] = ()  # the originator's approvals for other purposes


@dataclass(frozen=True, slots=True)
class NewObject:
    collection: str
    stix_id: str
    stix_type: str
    version: str
    item_id: str | None
    equivalence: str | None
    topics: tuple[str, ...]
    body: bytes
    purposes: tuple[str, ...] | None = None  # see ObjectScope
    approvals: tuple[Approval, ...] = ()


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    item_id: str
    recipient: str
    queued_at: str
    attempts: int


@dataclass(frozen=True, slots=True)
class WitnessFault:
    """A peer's checkpoint this node refused to co-sign, and why (a rollback, a fork)."""

    id: int
    origin: str
    at: str
    size: int | None
    cosigned_size: int
    reason: str
    note: bytes | None


@dataclass(frozen=True, slots=True)
class DocumentRow:
    """A native-API document (consent request, loss report, notice) and its signed bytes."""

    kind: str
    key: str
    item_id: str
    body: dict[str, Any]
    attachment: bytes | None


@dataclass(frozen=True, slots=True)
class ItemRecord:
    """An item this node holds or has held: its ``items`` row. ``sealed`` is None once its
    sealed bytes are gone (a destroyed item keeps its id, originator and arrival)."""

    item_id: str
    originator: str
    received_from: str | None
    added: str
    sealed: bytes | None


@dataclass(frozen=True, slots=True)
class MessageRow:
    """A signed peer message waiting in the outbox (consents, reports, notices)."""

    id: int
    recipient: str
    path: str
    ref: str
    body: bytes
    attempts: int


@dataclass(frozen=True, slots=True)
class NewAccess:
    """One access to an item's content, to be recorded (DOMAIN.md §7.3): who, when (the scenario
    instant, and wall time in milliseconds since the epoch), for which purpose, by which route."""

    item_id: str
    user: str
    purpose: str
    route: str
    at: str
    wall_ms: int


@dataclass(frozen=True, slots=True)
class AccessRow:
    """A recorded access: ``seq`` is its place in the register (1, 2, 3… with no gap)."""

    seq: int
    item_id: str
    user: str
    purpose: str
    route: str
    at: str
    wall_ms: int


@dataclass(frozen=True, slots=True)
class AccessTally:
    """What an accounting says of one item: accesses, distinct persons, accesses per purpose."""

    item_id: str
    accesses: int
    persons: int
    purposes: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A console sign-in session: ``key`` is the SHA-256 (hex) of its id, never the id; times
    are wall time, seconds since the epoch."""

    key: str
    user: str
    expires: float


@dataclass(frozen=True, slots=True)
class FailureRow:
    """Failed credentials counted against one throttling key (``user:NAME``, ``addr:ADDRESS``);
    times are wall time, seconds since the epoch."""

    key: str
    count: int
    last: float
    blocked_until: float


@dataclass(frozen=True, slots=True)
class TrackFrameRow:
    """A frame of a missile-warning track sent to (``out``) or received from (``in``) a peer:
    its sealed bytes exactly as sent or received, the seqs it carries and the instant the
    sender stated."""

    track: str
    direction: str  # "in" or "out"
    peer: str
    first_seq: int
    last_seq: int
    at: str
    frame: bytes


@dataclass(frozen=True, slots=True)
class DestroyedRow:
    """What a node keeps of an item it destroyed (DOMAIN.md §7.5): its id, originator, digest
    and label (the sealed label's JSON), the class and topics it had here (who may be told of
    it), and when, why and on whose authority it was destroyed."""

    item_id: str
    originator: str
    digest: str  # hex
    label: dict[str, Any]
    equivalence: str
    topics: tuple[str, ...]
    destroyed_at: str
    reason: str
    authorised_by: str
    received_from: str | None = None  # who pushed it here (None: originated here, or unknown)
    added: str | None = None  # when it came here (its object's date_added)


class AtRestCipher(Protocol):
    """Seals a stored value to its place, and opens it there only (``VerificationFailed``)."""

    def seal(self, plaintext: bytes, place: bytes) -> bytes: ...

    def open(self, value: bytes, place: bytes) -> bytes: ...


class NodeWriter(Protocol):
    """The node's writes inside one transaction, which also holds the log's writer."""

    @property
    def log(self) -> LogWriter:
        """The log's writer, in this transaction: entries appended here commit with the rows."""
        ...

    def last_date_added(self) -> str | None:
        """The TAXII ``date_added`` of the last stored object (None in an empty store)."""
        ...

    def set_last_date_added(self, value: str) -> None: ...

    def savepoint(self) -> AbstractContextManager[None]:
        """A nested part of the transaction: an exception inside it undoes the part's rows and
        leaves the rest of the transaction to commit (group commit runs each caller's write in
        one). The log's writer is not to be used inside a savepoint: the log's in-memory view
        would not roll back with it."""
        ...

    def add_collections(self, ids: dict[str, str]) -> dict[str, str]:
        """Store the collection ids (originator -> id) not stored yet; every stored id."""
        ...

    def has_object(self, collection: str, stix_id: str, version: str) -> bool: ...

    def marking_id(self, key: str, fresh: str) -> tuple[str, bool]:
        """The id stored for ``key``, or ``fresh``, stored now (True then)."""
        ...

    def has_item(self, item_id: str) -> bool: ...

    def add_object(self, obj: NewObject, date_added: str) -> None: ...

    def replace_object(self, obj: NewObject, date_added: str) -> None:
        """Store ``obj`` again in place of the same version (a new marking), added anew; the
        approvals stored for it stay (only ``set_approvals`` changes them)."""
        ...

    def add_item(  # noqa: PLR0917 - the columns of one row
        self,
        item_id: str,
        stix_id: str,
        originator: str,
        sealed: bytes,
        received_from: str | None,
        added: str,
    ) -> None: ...

    def replace_item(self, item_id: str, sealed: bytes) -> None: ...

    def set_approvals(
        self, collection: str, stix_id: str, version: str, approvals: Sequence[Approval]
    ) -> None:
        """Record the approvals in force for an object version (every one, replacing those
        recorded): read with its scope, so that deciding use needs no other read."""
        ...

    def queue(self, item_id: str, recipient: str, queued_at: str) -> None:
        """Queue a release of ``item_id`` to ``recipient`` (once per pair)."""
        ...

    def outbox_done(self, outbox_id: int, state: str, error: str | None = None) -> None: ...

    def outbox_retry(self, outbox_id: int, next_attempt: float, error: str) -> None: ...

    def put_status(self, status_id: str, user: str, body: dict[str, Any]) -> None: ...

    def log_indexed_upto(self) -> int:
        """How many log entries the item index has looked at."""
        ...

    def index_log_items(self, found: Sequence[tuple[str, int, str]], upto: int) -> None:
        """Record (item id, entry index, entry type) rows; the index now covers ``upto``."""
        ...

    def add_witness_fault(  # noqa: PLR0917 - the columns of one row
        self,
        origin: str,
        at: str,
        size: int | None,
        cosigned_size: int,
        reason: str,
        note: bytes | None,
    ) -> int: ...

    def put_document(
        self, kind: str, key: str, item_id: str, body: dict[str, Any], attachment: bytes | None
    ) -> None: ...

    def document(self, kind: str, key: str) -> DocumentRow | None: ...

    def documents(self, kind: str, item_id: str) -> list[DocumentRow]:
        """Every document of ``kind`` about ``item_id``, as this transaction sees them."""
        ...

    def queue_message(self, recipient: str, path: str, ref: str, body: bytes) -> None: ...

    def messages_on(self, path: str) -> list[MessageRow]:
        """Every stored peer message to ``path``, whatever its state (opened)."""
        ...

    def drop_messages(self, ids: Sequence[int]) -> None:
        """Delete these peer messages (sent or not)."""
        ...

    # ------------------------------------------------ destruction (DOMAIN.md §7.5)
    def set_retention(self, item_id: str, retain_until: str) -> None:
        """Record when ``item_id`` is to be destroyed (a UTC instant, ``retention_instant``)."""
        ...

    def destroy_item(self, item_id: str, documents: Sequence[str]) -> None:
        """Erase the item's key, its objects' bodies, its sealed bytes, its queued releases,
        its retention row and its documents of the kinds ``documents``."""
        ...

    def add_destroyed(self, row: DestroyedRow) -> None: ...

    def destroyed(self, item_id: str) -> DestroyedRow | None: ...

    # ------------------------------------------------ tracks (schema 6)
    def add_track_frame(self, frame: TrackFrameRow) -> None:
        """Keep a frame sent or received (its sealed bytes, unchanged) and move its link's
        continuity to the frame's last seq."""
        ...

    def track_link(self, track: str, peer: str, direction: str) -> int:
        """The last seq kept on the link (``in``: accepted from ``peer``; ``out``: sent to
        it) of ``track``; 0 when none."""
        ...

    def add_track_frames(self, frames: Sequence[TrackFrameRow]) -> None:
        """``add_track_frame`` for each of ``frames`` in order, in one statement for the frames
        and one for the links' positions (each link to its last frame's last seq)."""
        ...

    def track_links(self, tracks: Sequence[str], peer: str, direction: str) -> dict[str, int]:
        """``track_link`` for each of ``tracks`` at once: track -> last seq (0 when none)."""
        ...

    def message_done(self, message_id: int, state: str, error: str | None = None) -> None: ...

    def message_retry(self, message_id: int, next_attempt: float, error: str) -> None: ...

    # ------------------------------------------------ the register of accesses
    def add_accesses(self, rows: Sequence[NewAccess]) -> None:
        """Append ``rows`` to the register, in order, at the next seqs (one statement)."""
        ...

    def accesses_after(self, after_seq: int, limit: int) -> list[AccessRow]:
        """Up to ``limit`` records after ``after_seq``, in seq order (in this transaction)."""
        ...

    def register_state(self) -> str | None:
        """What the register's last logged root left (its size and peaks, JSON), or None."""
        ...

    def set_register_state(self, value: str) -> None: ...

    # ------------------------------------------------ console sessions and sign-in throttling
    def add_session(self, row: SessionRow) -> None: ...

    def end_session(self, key: str) -> bool:
        """Delete the session ``key``; True if it was there."""
        ...

    def end_sessions_expired(self, now: float) -> list[str]:
        """Delete every session expired at ``now``; their keys."""
        ...

    def end_sessions_beyond(self, keep: int) -> list[str]:
        """Delete the sessions that expire first until at most ``keep`` remain; their keys."""
        ...

    def sign_in_failures(self, keys: Sequence[str]) -> list[FailureRow]:
        """The failures counted against ``keys`` (those that have a row)."""
        ...

    def put_sign_in_failure(self, row: FailureRow) -> None:
        """Store ``row`` in place of its key's, as the most recently written."""
        ...

    def forget_sign_in_failures(self, keys: Sequence[str]) -> None: ...

    def forget_sign_in_failures_before(self, last: float) -> None:
        """Delete every key whose last failure is older than ``last``."""
        ...

    def trim_sign_in_failures(self, keep: int) -> None:
        """Delete the least recently failed keys until at most ``keep`` remain."""
        ...


class NodeReader(Protocol):
    """The node's reads, in one consistent snapshot."""

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
        """Up to ``batch`` rows after ``after_seq`` in order, with the cheap filters applied;
        fewer only when no more match (the node stops asking there)."""
        ...

    def collections(self) -> dict[str, str]:
        """Every stored collection id, by originator."""
        ...

    def rows_after(self, after_seq: int, limit: int) -> list[ObjectRow]:
        """Up to ``limit`` rows of any collection stored after ``after_seq``, in order."""
        ...

    def last_seq(self) -> int:
        """The seq of the last stored row (0 when there is none)."""
        ...

    def log_item_entries(self, item_id: str) -> list[tuple[int, str]]:
        """(entry index, entry type) of the indexed log entries about ``item_id``, in order."""
        ...

    def witness_faults(self, limit: int = 100, origin: str | None = None) -> list[WitnessFault]:
        """The most recent refusals to co-sign (of one origin, or all), newest first."""
        ...

    def log_indexed_upto(self) -> int: ...

    def recent_checkpoints(self, limit: int) -> list[StoredCheckpoint]:
        """The log's ``limit`` largest checkpoints, largest first."""
        ...

    def last_witnessed(self, origin: str) -> WitnessedCheckpoint | None:
        """The last checkpoint of ``origin``'s log this node co-signed."""
        ...

    def seq_after(self, date_added: str) -> int:
        """The largest seq whose date_added is at or before ``date_added`` (0 if none)."""
        ...

    def versions(self, collection: str, stix_id: str) -> list[ObjectRow]: ...

    def status(self, status_id: str) -> tuple[str, dict[str, Any]] | None: ...

    def item_origin(self, item_id: str) -> tuple[str, str | None] | None:
        """The originator and sender of a held item, without its sealed bytes; a miss costs
        what a hit does."""
        ...

    def object_scope(self, collection: str, stix_id: str, version: str) -> ObjectScope | None:
        """One object version's class and topics, reading no body; a miss costs what a hit
        does."""
        ...

    def scopes(self, collection: str, stix_id: str) -> list[ObjectScope]:
        """Every version's class and topics, by version; a miss costs what a hit does."""
        ...

    def document_item(self, kind: str, key: str) -> str | None:
        """The item a node document is about, without opening the document."""
        ...

    def item(self, item_id: str) -> tuple[str, bytes, str | None] | None:
        """(originator, sealed item, sender) of a held item."""
        ...

    def held_items(self, originator: str | None = None) -> list[ItemRecord]:
        """Every item row (of ``originator``'s items if given), in the order they were added."""
        ...

    def releases_to(self, recipient: str) -> list[tuple[str, str]]:
        """(item id, state) of every release this node queued to ``recipient``: ``pending``,
        ``sent``, ``refused``…, oldest first."""
        ...

    def due(self, now: float, limit: int = 100) -> list[OutboxRow]: ...

    def due_for(self, recipient: str, limit: int = 100) -> list[OutboxRow]:
        """The oldest pending releases to one peer."""
        ...

    def document(self, kind: str, key: str) -> DocumentRow | None: ...

    def documents(self, kind: str, item_id: str | None = None) -> list[DocumentRow]:
        """Every document of ``kind`` (about ``item_id`` if given), oldest first."""
        ...

    def due_messages(self, now: float, limit: int = 100) -> list[MessageRow]: ...

    def accesses(
        self, *, item_id: str | None = None, after_seq: int = 0, limit: int = 1000
    ) -> list[AccessRow]:
        """Up to ``limit`` records after ``after_seq`` (of ``item_id`` if given), in seq order."""
        ...

    def latest_accesses(self, item_id: str, limit: int) -> list[AccessRow]:
        """The latest ``limit`` records of ``item_id``, in seq order."""
        ...

    def held_item_ids(self, originator: str) -> list[str]:
        """The ids of the items held here that ``originator`` originated, in id order."""
        ...

    def last_accesses(self) -> dict[str, AccessRow]:
        """Each user's latest recorded access, by user name."""
        ...

    def access_tallies(self, item_ids: Sequence[str]) -> list[AccessTally]:
        """For each of ``item_ids`` with records: accesses, distinct users, per purpose."""

    def destroyed(self, item_id: str) -> DestroyedRow | None:
        """What is kept of ``item_id`` if this node destroyed it."""
        ...

    def track_link(self, track: str, peer: str, direction: str) -> int:
        """The last seq kept on the link (see ``NodeWriter.track_link``); 0 when none."""
        ...

    def track_frames(self, track: str, limit: int = 1000) -> list[TrackFrameRow]:
        """The frames of ``track`` kept here (sent and received), oldest first."""
        ...

    def destroyed_items(self, limit: int = 1000) -> list[DestroyedRow]:
        """The items this node destroyed, most recently destroyed first."""
        ...

    def retention_due(self, upto: str, limit: int = 100) -> list[str]:
        """The held items whose ``retain_until`` is at or before ``upto``, soonest first."""
        ...

    def session(self, key: str) -> SessionRow | None:
        """The console session whose id hashes to ``key``."""
        ...

    def sign_in_failures(self, keys: Sequence[str]) -> list[FailureRow]:
        """The failures counted against ``keys`` (those that have a row)."""
        ...


class NodeStore(Protocol):
    """A node's store: its tables and its transparency log, written in the same transactions."""

    @property
    def log_store(self) -> LogStore:
        """The node's log, in the same database (what ``TransparencyLog`` is built on)."""
        ...

    def reading(self) -> AbstractContextManager[NodeReader]:
        """A consistent snapshot; StoreFailure if the store cannot be read."""
        ...

    def writing(self) -> AbstractContextManager[NodeWriter]:
        """One durable transaction (node tables and log); nothing stays of it on an exception."""
        ...

    def scrub(self) -> None:
        """After a destruction has committed: leave nothing of the deleted rows where the
        database keeps old pages (SQLite: the write-ahead file, checkpointed and truncated;
        PostgreSQL: the touched tables vacuumed, the key table rewritten)."""
        ...

    def close(self) -> None: ...
