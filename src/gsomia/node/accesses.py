"""Recording accesses to items' content (DOMAIN.md §7.3): who read which item, when, for which
purpose, by which route — the register a holder keeps and accounts for to an originator.

Content is an item's STIX object served to a user: TAXII object pages (objects, one object),
the native API's item, event-stream deliveries, the console's item page and feed. A manifest or
a list of versions shows no content and records nothing.

Recording is a write, and reads run on many threads at once: each read hands its records (a
TAXII page of 100 items: 100 records, one job) to the ``AccessRecorder``, a group committer of
its own (``gsomia.node.committer``) that writes the records of every read waiting in its window
in one transaction — one insert statement, one commit, one fsync for them all. The read waits
for that commit before it answers: a crash never loses the record of content already served
(nothing is buffered in memory past its reader's answer), and a read whose record cannot be
written fails instead of serving unrecorded content (fail closed). The cost is one shared commit
per window of concurrent reads, not one per read.

Each record's canonical bytes (``canonical_record``) are a leaf of the register's Merkle tree
(RFC 9162, in seq order), whose root is logged on the checkpoint schedule
(``gsomia.node.register``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

import orjson

from gsomia.clock import Clock, SystemClock
from gsomia.domain.purposes import DEFAULT, may_use
from gsomia.node.committer import Committer, Job
from gsomia.node.stix import GSOMIA_LABEL_EXTENSION
from gsomia.store.ports import AccessRow, NewAccess, NodeReader, NodeStore, ObjectRow

TAXII: Final = "taxii"
API: Final = "api"
EVENTS: Final = "events"
CONSOLE: Final = "console"
ROUTES: Final = (TAXII, API, EVENTS, CONSOLE)

RECORD_VERSION: Final = 1
MAX_RECORDS_PER_BATCH = 8192  # records in one transaction
MAX_PENDING_RECORDS = 65536  # records waiting before a read is refused (Overloaded)


def recorded_purpose(user_purposes: Sequence[str], item_purposes: Iterable[str]) -> str:
    """The purpose an access is recorded for: the first (sorted) of the user's purposes that
    lies within a purpose the item is provided for, or the user's first purpose when none does
    (the originator's own users are bound by clearance and need-to-know alone)."""
    provided = tuple(item_purposes)
    mine = sorted(user_purposes) or list(DEFAULT)
    return next((p for p in mine if may_use((p,), provided)), mine[0])


def label_purposes(
    r: NodeReader, row: ObjectRow, cache: dict[tuple[str, str], tuple[str, ...]]
) -> tuple[str, ...]:
    """The purposes of the gsomia label ``row`` is marked with (read from the label marking it
    references, stored beside it; ``cache`` keeps them per marking for a page); ``defense`` for
    a label that names none."""
    try:
        body = orjson.loads(row.body)
    except orjson.JSONDecodeError:
        return DEFAULT
    refs = body.get("object_marking_refs") if isinstance(body, dict) else None
    for ref in refs if isinstance(refs, list) else []:
        if not isinstance(ref, str):
            continue
        key = (row.collection, ref)
        if key not in cache:
            versions = r.versions(row.collection, ref)
            cache[key] = () if not versions else _marking_purposes(versions[-1].body)
        if cache[key]:
            return cache[key]
    return DEFAULT


def _marking_purposes(body: bytes) -> tuple[str, ...]:
    """A label marking's purposes (``defense`` when it names none); () if it is no label."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ()
    extensions = doc.get("extensions") if isinstance(doc, dict) else None
    ext = extensions.get(GSOMIA_LABEL_EXTENSION) if isinstance(extensions, dict) else None
    if not isinstance(ext, dict) or "equivalent_of" in ext:
        return ()
    purposes = ext.get("purposes")
    if isinstance(purposes, list) and purposes and all(isinstance(p, str) for p in purposes):
        return tuple(sorted(purposes))
    return DEFAULT


def canonical_record(row: AccessRow) -> bytes:
    """A record's canonical bytes: the leaf of the register's Merkle tree (sorted keys, no
    whitespace; ``seq`` binds its place, so records cannot be reordered unseen)."""
    return orjson.dumps(
        {
            "v": RECORD_VERSION,
            "seq": row.seq,
            "item": row.item_id,
            "user": row.user,
            "purpose": row.purpose,
            "route": row.route,
            "at": row.at,
            "wall_ms": row.wall_ms,
        },
        option=orjson.OPT_SORT_KEYS,
    )


class AccessRecorder:
    """Writes the records of concurrent reads together (group commit); see the module."""

    def __init__(self, store: NodeStore, *, name: str, wall: Clock | None = None) -> None:
        self._store = store
        self.committer: Committer[tuple[NewAccess, ...], None] = Committer(
            self._commit,
            name=name,
            wall=SystemClock() if wall is None else wall,
            max_batch=MAX_RECORDS_PER_BATCH,
            max_pending=MAX_PENDING_RECORDS,
        )

    def record(self, accesses: Sequence[NewAccess]) -> None:
        """Record ``accesses`` durably, sharing a commit with the reads that wait beside it;
        returns once they are committed (``StoreFailure`` or ``Overloaded`` otherwise)."""
        if accesses:
            self.committer.run(tuple(accesses), len(accesses))

    def _commit(self, jobs: Sequence[Job[tuple[NewAccess, ...], None]]) -> None:
        with self._store.writing() as w:
            w.add_accesses([a for job in jobs for a in job.payload])
        for job in jobs:
            job.done(None)

    def stop(self) -> None:
        self.committer.stop()
