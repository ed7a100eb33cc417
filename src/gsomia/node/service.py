"""The use cases of a party's node: publish, read, and the bookkeeping of releases.

A node publishes what its own users post: it validates the STIX objects and their gsomia label,
decides with the engine for every peer at that instant, seals each object for exactly the
parties allowed (one batch, one signature), and stores the objects, the sealed items, the
decisions (allow and deny, with their reasons) in its transparency log, and the releases to push
in its outbox — all in one transaction. Reading filters every object by the user's clearance and
need-to-know (Art. 7). Handlers parse and render; everything decided is decided here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import logging
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import orjson

from gsomia.clock import Clock, SystemClock
from gsomia.domain.access import Clearance, check_access, provided_for
from gsomia.domain.instants import format_instant
from gsomia.domain.labels import Label
from gsomia.domain.notes import effective as with_disputes
from gsomia.domain.parties import Equivalence, Marking
from gsomia.domain.release import Decision, decide
from gsomia.domain.scenario import Scenario
from gsomia.errors import BadInput, Conflict, Denied, GsomiaError, NotFound, StoreFailure
from gsomia.ledger.entries import canonical_entry
from gsomia.ledger.log import TransparencyLog
from gsomia.node import audit
from gsomia.node.accesses import AccessRecorder
from gsomia.node.committer import Committer, Job
from gsomia.node.config import NodeConfig, User
from gsomia.node.results import PublishStatus, Stored
from gsomia.node.stix import (
    GSOMIA_LABEL_EXTENSION,
    OPTIONAL_LABEL_FIELDS,
    STIX_MEDIA_TYPE,
    StixObject,
    equivalent_marking,
    extension_definition,
    gsomia_identity,
    label_marking,
    launch_extension_definition,
    new_marking_id,
    parse_timestamp,
    party_identity,
    read_label_marking,
    taxii_timestamp,
    validate_object,
)
from gsomia.node.throttle import Throttle
from gsomia.seal.item import SealedLabel
from gsomia.seal.keys import KeyRing
from gsomia.seal.opener import Opener
from gsomia.seal.sealer import Sealer, SealRequest
from gsomia.seal.service import sealed_label
from gsomia.seal.verify import Verifier
from gsomia.seal.views import Grant
from gsomia.store.ports import (
    NewObject,
    NodeReader,
    NodeStore,
    NodeWriter,
    ObjectRow,
    ObjectScope,
)

MAX_OBJECTS_PER_ENVELOPE = 10_000
_DEFINITIONS = ("marking-definition", "extension-definition")
_ALREADY_STORED = "already stored"
MAX_PAGE = 1000
DEFAULT_PAGE = 100
VERSION_KEYWORDS = ("last", "first", "all")


def collection_alias(party: str, originator: str) -> str:
    """The TAXII ``alias`` of the collection of ``originator``'s items at ``party``'s node:
    ``originated-KOR`` for the node's own, ``received-JPN`` for those received (unique within
    the API root, as TAXII 2.1 §5.2.1 requires: one collection per originator)."""
    return f"originated-{originator}" if originator == party else f"received-{originator}"


@dataclass(frozen=True, slots=True)
class CollectionInfo:
    id: str
    originator: str
    alias: str
    title: str
    description: str
    can_write: bool

    def to_taxii(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "alias": self.alias,
            "can_read": True,
            "can_write": self.can_write,
            "media_types": [STIX_MEDIA_TYPE],
        }


@dataclass(frozen=True, slots=True)
class Filters:
    added_after: str | None = None
    ids: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    versions: tuple[str, ...] = ("last",)  # "last", "first", "all" or explicit versions
    spec_versions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Page:
    rows: tuple[ObjectRow, ...]
    more: bool
    next: str | None

    @property
    def first_added(self) -> str | None:
        return self.rows[0].date_added if self.rows else None

    @property
    def last_added(self) -> str | None:
        return self.rows[-1].date_added if self.rows else None


#: How often (wall seconds) a node reads its agreements' notes and peers' states again: another
#: process of a scaled-out node, or the witnessing of a peer's checkpoint, may have changed them.
REFRESH_SECONDS = 1.0
#: How long (wall seconds) reading the notes and peers' states may keep failing before the node
#: stops releasing under its agreements (every one disputed) until a read succeeds again.
FAIL_CLOSED_SECONDS = 10.0

log = logging.getLogger("gsomia.node")


@dataclass(frozen=True, slots=True)
class Generation:
    """The scenarios a node enforces, installed together: ``number`` goes up each time a
    changed pair is installed (a memo of decisions keyed on one generation is valid for it
    alone); ``read`` is the order of the read they came from (a read older than the one
    installed is never installed)."""

    number: int
    effective: Scenario  # the loaded scenario, the notes held, the disputes marked
    agreed: Scenario  # the same without the disputes
    read: int


@dataclass(frozen=True, slots=True)
class AgreementsRead:
    """One read of the notes held and the peers' states: the scenarios they make, and the
    order in which the read began (``Node.read_agreements``)."""

    read: int
    effective: Scenario
    agreed: Scenario


@dataclass
class Node:
    config: NodeConfig
    base_scenario: Scenario  # the scenario as loaded: its agreements' events, no notes
    keyring: KeyRing
    store: NodeStore
    log: TransparencyLog
    clock: Clock  # the scenario clock: it decides releases (simulated in the demo)
    wall: Clock = field(default_factory=SystemClock)  # sessions, windows, throttling, retries
    throttle: Throttle = field(init=False)  # failed credentials, console and API alike
    sealer: Sealer = field(init=False)
    verifier: Verifier = field(init=False)
    opener: Opener = field(init=False)
    committer: Committer[_Envelope, PublishStatus] = field(init=False)  # group commit
    accesses: AccessRecorder = field(init=False)  # the register of accesses (group commit)
    _collection_ids: dict[str, str] = field(init=False, repr=False)  # originator -> id
    _public: dict[tuple[str, str, str], dict[str, Any]] = field(init=False, repr=False)
    # the collections made from one ``_collection_ids`` dict (replaced, never changed in place)
    _collections_made: tuple[dict[str, str], tuple[CollectionInfo, ...]] | None = field(
        init=False, repr=False, default=None
    )
    # what is enforced: replaced whole by ``install_agreements``, never changed in place
    _generation: Generation = field(init=False, repr=False)
    # serialises reading and installing the agreements (``refresh_agreements``)
    _refreshing: threading.RLock = field(init=False, repr=False, default_factory=threading.RLock)
    _reads: itertools.count[int] = field(
        init=False, repr=False, default_factory=lambda: itertools.count(1)
    )
    # since when (wall) reading the agreements has failed without a success since; whether the
    # fail-closed disputes are installed
    _failing_since: datetime | None = field(init=False, repr=False, default=None)
    _failed_closed: bool = field(init=False, repr=False, default=False)
    _refresher: threading.Thread | None = field(init=False, repr=False, default=None)
    _closing: threading.Event = field(init=False, repr=False, default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._generation = Generation(0, self.base_scenario, self.base_scenario, read=0)
        self.throttle = Throttle(self.store, self.wall)
        self.sealer = Sealer(self.keyring)
        # one verifier and opener per node: verified batch roots and opened channels are cached
        self.verifier = Verifier(self.keyring, scenario=self.base_scenario)
        self.opener = Opener(self.keyring, self.verifier)
        self.committer = Committer(
            self._commit_envelopes, name=f"gsomia-committer-{self.party}", wall=self.wall
        )
        self.accesses = AccessRecorder(
            self.store, name=f"gsomia-accesses-{self.party}", wall=self.wall
        )
        self._collection_ids = self._open_collections()
        self._public = {
            (d["type"], d["id"], d["modified"]): d
            for party in self.scenario.policies
            for d in self.public_definitions(party)
        }
        self._store_public_definitions()
        self.refresh_agreements()

    def start_refresher(self) -> None:
        """Read the notes and peers' states again every ``REFRESH_SECONDS`` (wall) in a thread
        of its own, until ``close``: what other processes of a scaled-out node write reaches
        this one's decisions. A serving node starts it (``gsomia serve``); a node used for one
        command reads its agreements when it opens and after each note it handles."""
        if self._refresher is None:
            self._refresher = threading.Thread(
                target=self._refresh_loop, name=f"gsomia-agreements-{self.party}", daemon=True
            )
            self._refresher.start()

    @property
    def party(self) -> str:
        return self.config.party

    # ------------------------------------------------------------------ the agreements live
    @property
    def scenario(self) -> Scenario:
        """The effective scenario: the loaded one with the diplomatic notes this node holds
        among its agreements' events, and each agreement a peer party is known to see
        otherwise marked disputed (no release under it). Every decision reads this."""
        return self._generation.effective

    @property
    def agreed_scenario(self) -> Scenario:
        """The loaded scenario with the notes held, without disputes: what a note is judged
        against, and what the verifier re-decides received grants and releases in."""
        return self._generation.agreed

    @property
    def generation(self) -> Generation:
        """The effective and agreed scenarios with their generation, read in one go: a memo
        of decisions made in ``generation.effective`` holds while the number is the same."""
        return self._generation

    def read_agreements(self) -> AgreementsRead:
        """Read the notes held and the peers' states (one read of the store) into the
        effective and agreed scenarios, numbered in the order reads begin."""
        from gsomia.node import notes  # noqa: PLC0415 - the notes' use cases build on the node

        read = next(self._reads)
        effective, agreed = notes.scenarios(self)
        return AgreementsRead(read, effective, agreed)

    def install_agreements(self, found: AgreementsRead) -> bool:
        """Enforce what ``found`` read, unless a read begun after it is installed already (a
        stale read never undoes a newer one). The scenarios installed are kept, and the
        generation with them, when ``found``'s are the same (their agreements, events and
        disputes): the engine's and the verifier's memos of them live on. Returns whether a
        changed pair was installed."""
        with self._refreshing:
            held = self._generation
            if found.read <= held.read:
                return False
            effective = held.effective if found.effective == held.effective else found.effective
            agreed = held.agreed if found.agreed == held.agreed else found.agreed
            changed = effective is not held.effective or agreed is not held.agreed
            number = held.number + 1 if changed else held.number
            self._generation = Generation(number, effective, agreed, found.read)
            if agreed is not held.agreed:
                self.verifier.use_scenario(agreed)
            return changed

    def refresh_agreements(self) -> None:
        """Read the notes held and the peers' states again and install the effective and
        agreed scenarios they make (read and installed under one lock, so two refreshes
        install in the order they read). A read that fails is raised; once reads have failed
        for ``FAIL_CLOSED_SECONDS`` (wall), every agreement of this node's party is disputed
        (no release under it) until a read succeeds."""
        with self._refreshing:
            try:
                found = self.read_agreements()
            except Exception as exc:
                self._read_failed(exc)
                raise
            if self._failed_closed:
                log.warning("%s: agreements read again; releases under them resume", self.party)
            self._failing_since = None
            self._failed_closed = False
            self.install_agreements(found)

    def _read_failed(self, exc: Exception) -> None:
        """Keep when reads began failing; past the bound, install the fail-closed pair: the
        agreed scenario installed, each of this party's agreements disputed (said once)."""
        now = self.wall.now()
        since = self._failing_since
        if since is None:
            since = self._failing_since = now
        if self._failed_closed or now - since < timedelta(seconds=FAIL_CLOSED_SECONDS):
            return
        # the project's own errors say what failed, never a secret (a store names its database
        # without the password); another library's text might: its class name alone
        error = type(exc).__name__
        if isinstance(exc, GsomiaError):
            error = f"{error}: {str(exc)[:200]}"
        sentence = (
            "this node cannot read its notes and peers' states since "
            f"{format_instant(since.astimezone(UTC))} "
            f"({error}): no release under its agreements until it can"
        )
        agreed = self._generation.agreed
        disputes = {a.id: sentence for a in agreed.agreements if self.party in a.parties}
        closed = with_disputes(agreed, [], disputes)
        self.install_agreements(AgreementsRead(next(self._reads), closed, agreed))
        self._failed_closed = True
        log.error("%s: %s", self.party, sentence)

    def _refresh_loop(self) -> None:
        failing = False
        while not self._closing.wait(REFRESH_SECONDS):
            try:
                self.refresh_agreements()
            except Exception as exc:  # noqa: BLE001 - the store unreachable: see _read_failed
                if not failing:  # said once per failing stretch, not every second
                    log.warning("%s: agreements not refreshed: %s", self.party, type(exc).__name__)
                failing = True
            else:
                if failing:
                    log.warning("%s: agreements refreshed again", self.party)
                failing = False

    def close(self) -> None:
        """Stop the agreements' refresher, then the committer (the batch being written is
        finished, what waits is refused with ``StoreFailure``, nothing of it written), then
        close the store."""
        self._closing.set()
        if self._refresher is not None and self._refresher is not threading.current_thread():
            self._refresher.join(5)
        self.committer.stop()
        self.accesses.stop()
        self.store.close()

    # ------------------------------------------------------------------ collections
    def _open_collections(self) -> dict[str, str]:
        """The stored collection ids; those of scenario parties that have none yet (a new
        store, a party added to the scenario) made, random, and stored in one transaction."""
        with self.store.reading() as r:
            stored = r.collections()
        missing = ({self.party} | set(self.scenario.policies)) - set(stored)
        if not missing:
            return stored
        with self.store.writing() as w:
            return w.add_collections({p: str(uuid.uuid4()) for p in sorted(missing)})

    def collection_id(self, originator: str, w: NodeWriter | None = None) -> str:
        """The id of the collection of ``originator``'s items here: a version 4 UUID made once
        and stored, the same across restarts. One for an originator outside the scenario is
        made on demand, in ``w``'s transaction when the caller is writing (kept in memory only
        once that has committed and it is read again)."""
        found = self._collection_ids.get(originator)
        if found is not None:
            return found
        fresh = {originator: str(uuid.uuid4())}
        if w is not None:
            return w.add_collections(fresh)[originator]
        with self.store.writing() as own:
            stored = own.add_collections(fresh)
        self._collection_ids = stored
        return stored[originator]

    def collections(self) -> tuple[CollectionInfo, ...]:
        """The node's collections in one fixed order (TAXII 2.1 §3.3): its own, then those
        received, by originator. Made again only when the ids change (every request names a
        collection: this is on every request's path)."""
        ids = self._collection_ids
        made = self._collections_made
        if made is not None and made[0] is ids:
            return made[1]
        infos = self._make_collections(ids)
        self._collections_made = (ids, infos)
        return infos

    def _make_collections(self, ids: dict[str, str]) -> tuple[CollectionInfo, ...]:
        own = CollectionInfo(
            ids[self.party],
            self.party,
            collection_alias(self.party, self.party),
            f"{self.party}: originated here",
            f"Items {self.party} originated, with their labels. Post here to publish.",
            can_write=True,
        )
        received = tuple(
            CollectionInfo(
                ids[other],
                other,
                collection_alias(self.party, other),
                f"{self.party}: received from {other}",
                f"Items originated by {other}, marked with {self.party}'s equivalent "
                f"classification and {other}'s name.",
                can_write=False,
            )
            for other in sorted(ids)
            if other != self.party
        )
        return (own, *received)

    def collection(self, cid: str) -> CollectionInfo:
        """The collection whose id is ``cid``; NotFound otherwise."""
        for c in self.collections():
            if c.id == cid:
                return c
        raise NotFound(f"no collection {cid[:80]!r} at {self.party}")

    def find_collection(self, cid_or_alias: str) -> CollectionInfo:
        """The collection whose id or alias is ``cid_or_alias`` (TAXII 2.1 §5.2.1 lets a client
        name a collection by its alias in the URL); NotFound otherwise."""
        for c in self.collections():
            if cid_or_alias in (c.id, c.alias):
                return c
        raise NotFound(f"no collection {cid_or_alias[:80]!r} at {self.party}")

    # ------------------------------------------------------------------ public definitions
    def public_definitions(self, originator: str) -> tuple[dict[str, Any], ...]:
        """What every collection serves to every authenticated user, unlabelled (nothing in it
        is classified): gsomia's identity, the label and launch extension-definitions, and the
        identity of the collection's originator (if the scenario names one), so that the
        references of what the collection holds resolve."""
        policy = self.scenario.policies.get(originator)  # a party the scenario no longer names
        own = None if policy is None else party_identity(policy)
        fixed = (gsomia_identity(), extension_definition(), launch_extension_definition())
        return fixed if own is None else (*fixed, own)

    def _store_public_definitions(self) -> None:
        """Store the public definitions in every collection that lacks them (one transaction,
        none if nothing is missing)."""
        wanted = [
            (c.id, d) for c in self.collections() for d in self.public_definitions(c.originator)
        ]
        with self.store.reading() as r:
            missing = [
                (cid, d) for cid, d in wanted if r.object_scope(cid, d["id"], d["modified"]) is None
            ]
        if not missing:
            return
        now = self.clock.now()
        with self.store.writing() as w:
            for cid, d in missing:
                if not w.has_object(cid, d["id"], d["modified"]):
                    row = NewObject(
                        cid, d["id"], d["type"], d["modified"], None, None, (), _dumps(d)
                    )
                    w.add_object(row, self.next_date_added(w, now))

    # ------------------------------------------------------------------ publishing
    def publish(self, user: User, objects: Sequence[object], cid: str) -> PublishStatus:
        """Validate, decide, seal, store and log an envelope's objects; all or nothing.

        What an envelope may carry: STIX objects, each marked by exactly one gsomia label (a
        marking-definition with the gsomia label extension, posted in the same envelope, the
        only entry of its ``object_marking_refs``); those label markings; and the collection's
        public definitions exactly as ``public_definitions`` gives them (stored already: "already
        stored"). Any other marking-definition (a free-text statement, TLP, …),
        extension-definition, or object under the id of a public definition is refused
        (BadInput, naming it): stored beside the items it would be served to every user,
        whatever they may see. ``created`` and ``modified`` must have exactly millisecond
        precision (``validate_object``). Each label marking is stored with the class and topics
        of the label it carries, so it is served to exactly the users who may see an item it
        marks.

        Ids already in use. An object whose id is stored here already is accepted only when
        the user may see what is stored: for an item, its latest version (the one a new
        version would replace as the latest) and the version posted, if stored; for a label
        marking, that very marking, unchanged. Otherwise the envelope is refused with one
        neutral ``Conflict`` (``_ID_IN_USE``): the same words whether what is stored is hidden
        from the user or merely different, never naming its label or versions. A user posting
        under a stored id learns that the id is taken — which no honest store can hide from
        them — and nothing else; a version they may see answers "already stored".
        """
        target = self.collection(cid)
        if not target.can_write:
            self._refuse(
                user, f"write to collection {cid}", "only the node's own collection is writable"
            )
        if not objects:
            raise BadInput("envelope.objects: no objects")
        if len(objects) > MAX_OBJECTS_PER_ENVELOPE:
            raise BadInput(f"envelope.objects: more than {MAX_OBJECTS_PER_ENVELOPE} objects")
        now = self.clock.now()
        validated = [validate_object(o, f"objects[{i}]") for i, o in enumerate(objects)]
        definitions = self.public_definitions(target.originator)
        public = {
            obj.id
            for i, obj in enumerate(validated)
            if _public_posted(obj, definitions, f"objects[{i}] ({obj.id})")
        }
        markings = self._label_plans(user, validated)
        plans = [
            self._plan(obj, markings, f"objects[{i}]", now)
            for i, obj in enumerate(validated)
            if obj.type not in _DEFINITIONS and obj.id not in public
        ]
        envelope = _Envelope(user, cid, tuple(validated), frozenset(public), markings, plans, now)
        return self.committer.run(envelope, len(validated))

    def _commit_envelopes(self, jobs: Sequence[Job[_Envelope, PublishStatus]]) -> None:
        """Write a batch of envelopes (group commit, on the committer's thread): one batch
        signature over all their items, one transaction in which each envelope is written in a
        savepoint of its own (an envelope refused, e.g. ``Conflict`` on an id, gets its own
        error and the others commit), one append of all their log entries, one commit.

        The ids are checked as if the envelopes had come one after the other: against what is
        committed (the reader's snapshot, taken under the writer's lock) and what the batch's
        earlier envelopes wrote (``written``, kept here: the reader does not see the batch's
        uncommitted rows)."""
        sealed = self._seal_envelopes(jobs)
        done: list[tuple[Job[_Envelope, PublishStatus], PublishStatus]] = []
        entries: list[bytes] = []
        written: dict[tuple[str, str], list[ObjectRow]] = {}
        stored: dict[tuple[str, str], list[ObjectRow]] = {}
        with self.store.writing() as w:
            # under the writer's lock: no other write commits between the id checks and ours
            with self.store.reading() as r:
                for job, items in sealed:
                    mine: list[bytes] = []
                    fresh: list[ObjectRow] = []
                    try:
                        with w.savepoint():
                            checked = _Checked(r, written, stored)
                            status = self._write_envelope(w, checked, job.payload, items, mine)
                            fresh = checked.fresh(job.payload)
                    except StoreFailure:
                        raise
                    except GsomiaError as exc:
                        job.fail(exc)
                        continue
                    for row in fresh:
                        written.setdefault((row.collection, row.stix_id), []).append(row)
                    entries.extend(mine)
                    done.append((job, status))
            if entries:  # outside the savepoints: the log's in-memory view does not roll back
                self.log.append_in(w.log, entries)
        for job, status in done:
            job.done(status)

    def _seal_envelopes(
        self, jobs: Sequence[Job[_Envelope, PublishStatus]]
    ) -> list[tuple[Job[_Envelope, PublishStatus], list[tuple[bytes, bytes]]]]:
        """Each envelope's sealed items (and digests), sealed as one batch (one signature); if
        the batch is refused, each envelope alone, so that the refusal reaches its own caller."""
        requests = [p.request for job in jobs for p in job.payload.plans]
        try:
            sealed = self.sealer.seal_batch_digests(requests) if requests else []
        except GsomiaError:
            if len(jobs) == 1:
                raise
        else:
            parts: list[tuple[Job[_Envelope, PublishStatus], list[tuple[bytes, bytes]]]] = []
            start = 0
            for job in jobs:
                end = start + len(job.payload.plans)
                parts.append((job, sealed[start:end]))
                start = end
            return parts
        alone = []
        for job in jobs:
            try:
                alone.append((job, self._seal_envelopes([job])[0][1]))
            except GsomiaError as exc:
                job.fail(exc)
        return alone

    def _write_envelope(
        self,
        w: NodeWriter,
        r: _Checked,
        env: _Envelope,
        sealed: list[tuple[bytes, bytes]],
        entries: list[bytes],
    ) -> PublishStatus:
        """Store one envelope's rows and status; its log entries are added to ``entries``."""
        for i, obj in enumerate(env.objects):
            if obj.id not in env.public:
                self._check_id_free(env.user, r, env.cid, obj, f"objects[{i}]")
        successes = [
            _success(obj, _ALREADY_STORED)
            if obj.id in env.public
            else self._store_definition(w, env.cid, obj, env.markings[obj.id], env.now)
            for obj in env.objects
            if obj.type in _DEFINITIONS or obj.id in env.public
        ]
        for plan, (item, item_digest) in zip(env.plans, sealed, strict=True):
            successes.append(
                self._store_item(w, env.cid, plan, item, item_digest, env.now, entries)
            )
        status_id = str(uuid.uuid4())
        status = PublishStatus(status_id, taxii_timestamp(env.now), tuple(successes))
        w.put_status(status_id, env.user.name, status.to_json())
        return status

    def _label_plans(self, user: User, validated: list[StixObject]) -> dict[str, _LabelPlan]:
        """The envelope's label markings, each checked (markings posted twice are refused)."""
        markings: dict[str, _LabelPlan] = {}
        for i, obj in enumerate(validated):
            where = f"objects[{i}] ({obj.id})"
            if obj.type == "marking-definition":
                if obj.id in markings:
                    raise BadInput(f"{where}: marking-definition {obj.id} is posted twice")
                markings[obj.id] = self._label_plan(user, obj, f"objects[{i}]")
        return markings

    def _store_definition(
        self, w: NodeWriter, cid: str, obj: StixObject, scope: _LabelPlan, now: datetime
    ) -> Stored:
        """Store a label marking (with its label's class and topics), once."""
        if not w.has_object(cid, obj.id, obj.version):
            w.add_object(
                NewObject(
                    cid,
                    obj.id,
                    obj.type,
                    obj.version,
                    None,
                    scope.equivalence.value,
                    scope.label.topics,
                    _dumps(obj.body),
                ),
                self.next_date_added(w, now),
            )
        return _success(obj, "label stored")

    def _store_item(  # noqa: PLR0917 - one item's parts, stored in the envelope's transaction
        self,
        w: NodeWriter,
        cid: str,
        plan: _Plan,
        item: bytes,
        item_digest: bytes,
        now: datetime,
        entries: list[bytes],
    ) -> Stored:
        """Store one sealed item with its object, and add its log entries and queued releases
        (in the envelope's one transaction)."""
        obj = plan.stix
        if w.has_object(cid, obj.id, obj.version):
            return _success(obj, "already stored")
        if w.destroyed(plan.label.id) is not None:  # DOMAIN.md §7.5: an id is never reused
            raise Conflict(
                f"{obj.id}: item {plan.label.id} was destroyed at this node; "
                "publish it under a new id or version"
            )
        added = self.next_date_added(w, now)
        # an item written from another party's items is bound by the purposes its label gives
        # (their intersection, DOMAIN.md §7.6) at its writer too: a derived item must not launder
        # a source's purpose limit for the writer's own users; anything else of ours is not bound
        foreign = any(s.originator != self.party for s in plan.label.derived_from)
        w.add_object(
            NewObject(
                cid,
                obj.id,
                obj.type,
                obj.version,
                plan.label.id,
                plan.equivalence.value,
                plan.label.topics,
                _dumps(obj.body),
                plan.label.purposes if foreign else None,
            ),
            added,
        )
        w.add_item(plan.label.id, obj.id, self.party, item, None, added)
        if plan.label.derived_from:
            from gsomia.node import derived  # noqa: PLC0415 - as in _label_plan

            derived.index(w, plan.label.id, self.party, plan.label.derived_from)
        entries.append(
            self.entry(
                "item.published",
                now,
                {
                    "item": plan.label.id,
                    "originator": self.party,
                    "classification": plan.label.classification,
                    "releasable_to": list(plan.label.releasable_to),
                    "topics": list(plan.label.topics),
                    "digest": item_digest.hex(),
                },
            )
        )
        for decision in plan.decisions:
            entries.append(self.decision_entry(decision, now))
            if decision.allowed:
                w.queue(plan.label.id, decision.recipient, format_instant(now))
        return _success(obj)

    def _check_id_free(
        self, user: User, r: _Checked, cid: str, obj: StixObject, where: str
    ) -> None:
        """Raise the neutral ``Conflict`` unless ``obj`` may be stored under its id (see
        ``publish``); the real reason goes to the audit log only."""
        stored = r.versions(cid, obj.id)
        if not stored:
            return
        same = next((row for row in stored if row.version == obj.version), None)
        if obj.type == "marking-definition":
            free = (
                len(stored) == 1
                and same is not None
                and self.visible(user.clearance, same)
                and orjson.loads(same.body) == obj.body
            )
        else:
            free = self.visible(user.clearance, stored[-1]) and (
                same is None or self.visible(user.clearance, same)
            )
        if not free:
            audit.refused(
                f"publish {obj.id}",
                "id in use (hidden from the user, or a different marking)",
                user=user.name,
                party=self.party,
            )
            raise Conflict(_ID_IN_USE.format(where=where, id=obj.id))

    def _label_plan(self, user: User, obj: StixObject, where: str) -> _LabelPlan:
        """A posted marking-definition: a gsomia label of this node, which ``user`` is cleared
        for; anything else is refused."""
        marking = read_label_marking(obj, where)
        where = f"{where} ({obj.id})"
        if marking is None:
            raise BadInput(
                f"{where}: only gsomia label marking-definitions are accepted (this one carries "
                f"no {GSOMIA_LABEL_EXTENSION} extension: a statement, TLP or other marking "
                "would be served to every user, whatever they may see)"
            )
        label = Label.from_json(
            marking.label_document(obj.id),
            where=f"{where}: label",
            scenario=self.scenario,
        )
        if label.originator != self.party:
            raise BadInput(
                f"{where}: the label's originator is {label.originator}; "
                f"only {self.party} originates items at this node"
            )
        policy = self.scenario.policy(self.party)
        if marking.policy != policy.policy_id:
            raise BadInput(f"{where}: label policy {marking.policy!r} is not {policy.policy_id!r}")
        level = policy.level(label.classification)
        try:
            check_access(
                user.clearance, party=self.party, equivalence=level.equivalence, topics=label.topics
            )
        except Denied as exc:
            self._refuse(user, f"publish {obj.id}", str(exc))
        if label.derived_from:
            # node.derived finds sources through node.holdings, which imports this module
            from gsomia.node import derived  # noqa: PLC0415 - see the line above

            derived.check_publish(self, user, label, f"{where}: label")
        return _LabelPlan(label, level.equivalence)

    def _plan(
        self,
        obj: StixObject,
        markings: dict[str, _LabelPlan],
        where: str,
        now: datetime,
    ) -> _Plan:
        if not obj.marking_refs:
            raise BadInput(
                f"{where} ({obj.id}): no gsomia label — reference a marking-definition with the "
                "gsomia label extension in object_marking_refs (in the same envelope)"
            )
        for ref in obj.marking_refs:
            if ref not in markings:
                raise BadInput(
                    f"{where} ({obj.id}).object_marking_refs: {ref} is not a gsomia label "
                    "posted in this envelope (an object carries exactly one, posted beside it)"
                )
        if len(set(obj.marking_refs)) > 1:
            raise BadInput(f"{where} ({obj.id}): more than one gsomia label")
        scoped = markings[obj.marking_refs[0]]
        label = dataclasses.replace(scoped.label, id=f"{obj.id}/{obj.version}")
        decisions = tuple(
            decide(self.scenario, label, holder=self.party, recipient=peer, at=now)
            for peer in sorted(self.scenario.policies)
            if peer != self.party
        )
        configured = {p.party for p in self.config.peers}
        grants = tuple(
            Grant(d.recipient, d.agreements, now, d.recipient_marking.to_json())
            for d in decisions
            if d.allowed and d.recipient_marking is not None and d.recipient in configured
        )
        request = SealRequest(_dumps(obj.body), sealed_label(self.scenario, label, now), grants)
        return _Plan(obj, label, scoped.equivalence, decisions, request)

    def own_markings(  # noqa: PLR0917 - a label, where, and the receiving party's marking
        self,
        w: NodeWriter,
        cid: str,
        label: LabelText,
        mine: Marking | None,
        created: str,
        now: datetime,
    ) -> tuple[str, ...]:
        """The ids of the marking-definitions this node marks an object of ``cid`` with: the
        label, and (``mine``) this party's equivalent label beside it.

        Each is made once per collection and label, under a random (version-4) id kept in the
        store (``marking_ids``, looked up or made in this transaction): a second item with the
        same label reuses the marking. Each is stored with the class and topics of the label
        it carries, so it is served only to the users who may see an item it marks."""
        level = self.scenario.policy(label.originator).level(label.classification)
        topics = tuple(sorted(set(label.topics)))
        original, new = w.marking_id(_marking_key("label", cid, *label.key()), new_marking_id())
        if new:
            body = label_marking(
                policy=label.policy,
                originator=label.originator,
                classification=label.classification,
                releasable_to=label.releasable_to,
                topics=label.topics,
                created=created,
                marking_id=original,
                extra=orjson.loads(label.extra) if label.extra else None,
            )
            self._add_marking(w, cid, body, level.equivalence, topics, now)
        if mine is None:
            return (original,)
        equivalent, new = w.marking_id(
            _marking_key(
                "equivalent",
                cid,
                original,
                mine.party,
                mine.level,
                mine.native,
                mine.equivalence.value,
                mine.originator,
            ),
            new_marking_id(),
        )
        if new:
            body = equivalent_marking(original, mine, created, equivalent)
            self._add_marking(w, cid, body, mine.equivalence, topics, now)
        return original, equivalent

    def _add_marking(  # noqa: PLR0917 - one row's parts
        self,
        w: NodeWriter,
        cid: str,
        body: dict[str, Any],
        equivalence: Equivalence,
        topics: tuple[str, ...],
        now: datetime,
    ) -> None:
        row = NewObject(
            cid,
            body["id"],
            body["type"],
            body["created"],
            None,
            equivalence.value,
            topics,
            _dumps(body),
        )
        w.add_object(row, self.next_date_added(w, now))

    def next_date_added(self, w: NodeWriter, now: datetime) -> str:
        """A ``date_added`` after every one given before (microseconds, one fixed width)."""
        candidate = taxii_timestamp(now)
        last = w.last_date_added()
        if last is not None and candidate <= last:
            bumped = datetime.fromisoformat(last) + timedelta(microseconds=1)
            candidate = taxii_timestamp(bumped)
        w.set_last_date_added(candidate)
        return candidate

    def entry(self, kind: str, now: datetime, fields: dict[str, Any]) -> bytes:
        return canonical_entry(
            {"v": 1, "type": kind, "at": format_instant(now), "party": self.party, **fields}
        )

    def decision_entry(self, d: Decision, now: datetime) -> bytes:
        return self.entry(
            "release.decision",
            now,
            {
                "item": d.item,
                "holder": d.holder,
                "recipient": d.recipient,
                "decision": "allow" if d.allowed else "deny",
                "agreements": list(d.agreements),
                "reasons": [r[:4000] for r in d.reasons],
            },
        )

    def _refuse(self, user: User, action: str, reason: str) -> NoReturn:
        audit.refused(action, reason, user=user.name, party=self.party)
        raise Denied(f"{action}: {reason}")

    # ------------------------------------------------------------------ reading
    def provided_here(self, row: ObjectRow | ObjectScope) -> tuple[str, ...] | None:
        """What a stored row's item is provided for at this node now (DOMAIN.md §7.1): its
        purposes as received, widened by the originator's approvals in force at the scenario
        clock's now; None when no purpose bounds it (the node's own items, label markings,
        public definitions)."""
        if row.purposes is None or not row.approvals:
            return row.purposes
        return provided_for(
            row.purposes, standing=False, approvals=row.approvals, at=self.clock.now()
        )

    def visible(
        self, clearance: Clearance, row: ObjectRow | ObjectScope, *, use: bool = True
    ) -> bool:
        """Whether a user may see a stored row: an item, or a label marking (stored with its
        label's class and topics) under Art. 7; a public definition by anyone. With ``use``
        (every read of content), a received item also only when one of the user's purposes
        lies within what it is provided for here (``provided_here``, DOMAIN.md §7.2); without
        it, Art. 7 alone (an admin finding an item to ask an approval for it).

        A row without class is public only if it is one of the public definitions (its type,
        id and version, and its body when the row carries it, exactly as gsomia defines them).
        Anything else without a class is hidden from every user — fail closed, no backfill: a
        label marking stored by a version before labels were scoped (equivalence NULL), or a
        definition of an earlier version of gsomia."""
        if row.equivalence is None:
            public = self._public.get((row.stix_type, row.stix_id, row.version))
            return public is not None and (
                isinstance(row, ObjectScope) or orjson.loads(row.body) == public
            )
        try:
            check_access(
                clearance,
                party=self.party,
                equivalence=Equivalence(row.equivalence),
                topics=row.topics,
                purposes=self.provided_here(row) if use else None,
            )
        except Denied:
            return False
        return True

    def page(
        self, user: User, cid: str, filters: Filters, limit: int | None, cursor: str | None
    ) -> Page:
        """One page of a collection (TAXII 2.1 Get Objects, Manifest, Get an Object), in the
        order objects were added, with the filters applied and the objects ``user`` may not
        see left out."""
        self.collection(cid)
        size = _page_size(limit)
        after = decode_cursor(cursor)
        if not _spec_version_wanted(filters):
            return Page((), more=False, next=None)  # every object here is STIX 2.1
        wanted = _Versions.of(filters.versions)
        rows: list[ObjectRow] = []
        more = False
        with self.store.reading() as r:
            if after == 0 and filters.added_after is not None:
                after = r.seq_after(filters.added_after)
            # a batch shorter than asked for is all that matches: asking again would only
            # search the rest of the collection to find nothing
            while len(rows) <= size:
                asked = size + 1 - len(rows) + 16
                batch = r.page(
                    cid,
                    after_seq=after,
                    added_after=None,
                    latest_only=wanted.latest_only,
                    ids=filters.ids,
                    types=filters.types,
                    batch=asked,
                )
                rows.extend(
                    b for b in batch if wanted.keep(b, r) and self.visible(user.clearance, b)
                )
                if len(batch) < asked:
                    break
                after = batch[-1].seq
            if len(rows) > size:
                rows = rows[:size]
                more = True
        next_cursor = _encode_cursor(rows[-1].seq) if more and rows else None
        return Page(tuple(rows), more, next_cursor)

    def versions_of(self, user: User, cid: str, stix_id: str) -> list[ObjectRow]:
        self.collection(cid)
        with self.store.reading() as r:
            # decide on the index alone: a hidden object costs what a missing one does
            scopes = r.scopes(cid, stix_id)
            wanted = {x.version for x in scopes if self.visible(user.clearance, x)}
            rows = r.versions(cid, stix_id) if wanted else []
        visible = [row for row in rows if row.version in wanted]
        if not visible:  # hidden or missing: the same audit line, the same answer
            audit.refused(
                f"read {stix_id[:120]}",
                "clearance, need-to-know or purpose" if scopes else "not stored",
                user=user.name,
                party=self.party,
            )
            raise NotFound(f"no object {stix_id} in collection {cid}")
        return visible

    def version_page(  # noqa: PLR0917 - the versions endpoint's parameters, as for page
        self,
        user: User,
        cid: str,
        stix_id: str,
        filters: Filters,
        limit: int | None,
        cursor: str | None,
    ) -> Page:
        """One page of an object's versions (TAXII 2.1 Get Object Versions), oldest added
        first, with ``added_after``, ``match[spec_version]``, ``limit`` and ``next`` applied
        as for objects. A hidden object answers exactly as a missing one (``versions_of``)."""
        rows = self.versions_of(user, cid, stix_id)
        after = decode_cursor(cursor)
        if not _spec_version_wanted(filters):
            rows = []
        chosen = sorted(
            (
                row
                for row in rows
                if row.seq > after
                and (filters.added_after is None or row.date_added > filters.added_after)
            ),
            key=lambda row: row.seq,
        )
        size = _page_size(limit)
        more = len(chosen) > size
        kept = tuple(chosen[:size])
        return Page(kept, more, _encode_cursor(kept[-1].seq) if more else None)

    def delete_object(self, user: User, cid: str, stix_id: str) -> NoReturn:
        """TAXII 2.1 Delete an Object (§5.7), refused: a collection is the append-only record
        of what was shared. In a collection the user may not write (a received one), 403 for
        any object, as §5.7's table has it for can_write false — the same answer whatever is
        stored. In the node's own, an object this user may not see (or that is not stored) is
        404 as for GET, so the refusal tells nothing about hidden objects; one they see, 403."""
        if not self.collection(cid).can_write:
            self._refuse(
                user,
                f"delete {stix_id[:120]}",
                "this collection is read-only (received items); objects are never deleted",
            )
        self.versions_of(user, cid, stix_id)
        self._refuse(
            user,
            f"delete {stix_id[:120]}",
            "collections are append-only records of what was shared; objects are never deleted",
        )

    def status(self, user: User, status_id: str) -> PublishStatus:
        """A publish's status, for the user who published (an admin too sees only their own:
        a status names object ids that another user's clearance may not cover)."""
        with self.store.reading() as r:
            found = r.status(status_id)
        if found is None or found[0] != user.name:
            raise NotFound(f"no status {status_id[:80]}")
        return PublishStatus.from_json(found[1], f"status {status_id[:80]}")


#: The one answer to a publish under an id this user may not extend (see ``Node.publish``).
_ID_IN_USE = (
    "{where}: id {id} is already in use at this node and cannot take this object; "
    "publish it under a new id"
)


@dataclass(frozen=True, slots=True)
class _LabelPlan:
    """A posted label marking, checked: its label and that label's class as an equivalence."""

    label: Label
    equivalence: Equivalence


def _public_posted(obj: StixObject, definitions: tuple[dict[str, Any], ...], where: str) -> bool:
    """Whether a posted object is one of the collection's public ``definitions``, exactly as
    gsomia defines it (stored already); an extension-definition or an id of a public
    definition that is not exactly it is refused."""
    if obj.body in definitions:
        return True
    if obj.type == "extension-definition" or any(d["id"] == obj.id for d in definitions):
        raise BadInput(
            f"{where}: only gsomia's own definitions (its identity, the originator's "
            "identity and the label and launch extension-definitions, exactly as gsomia "
            "serves them) are accepted unlabelled; another definition would be served to "
            "every user, and the id of one of gsomia's takes no other object"
        )
    return False


@dataclass(frozen=True, slots=True)
class LabelText:
    """The fields of a gsomia label a node writes into a marking-definition."""

    policy: str
    originator: str
    classification: str
    releasable_to: tuple[str, ...]
    topics: tuple[str, ...]
    extra: str = ""  # DOMAIN.md §7's optional label fields, canonical JSON ("" when none)

    @classmethod
    def of(cls, label: SealedLabel, classification: str) -> LabelText:
        """A sealed label's text at ``classification`` (its current class)."""
        optional = {k: v for k, v in label.to_json().items() if k in OPTIONAL_LABEL_FIELDS}
        extra = "" if not optional else orjson.dumps(optional, option=orjson.OPT_SORT_KEYS).decode()
        return cls(
            label.policy,
            label.originator,
            classification,
            label.releasable_to,
            label.topics,
            extra,
        )

    def key(self) -> tuple[str, ...]:
        base = (
            self.policy,
            self.originator,
            self.classification,
            ",".join(self.releasable_to),
            ",".join(self.topics),
        )
        return base if not self.extra else (*base, self.extra)


def _marking_key(*parts: str) -> str:
    """The stored key of a node-made marking: the SHA-256 of what it marks (not the label in
    clear; see docs/formats.md, at rest)."""
    return hashlib.sha256(orjson.dumps(list(parts))).hexdigest()


@dataclass(frozen=True, slots=True)
class _Plan:
    stix: StixObject
    label: Label
    equivalence: Equivalence
    decisions: tuple[Decision, ...]
    request: SealRequest


class _Checked:
    """What an envelope's ids are checked against in a batch: the committed versions of an id
    (the reader's snapshot) and those the batch's earlier envelopes wrote, in version order.

    The snapshot does not change during the batch (the reader's one transaction, taken under
    the writer's lock), so each id's committed versions are read once per batch (``stored``,
    shared by the batch's envelopes): a label marking posted in every envelope of a batch is
    read and decrypted once, not twice per envelope."""

    def __init__(
        self,
        r: NodeReader,
        written: dict[tuple[str, str], list[ObjectRow]],
        stored: dict[tuple[str, str], list[ObjectRow]],
    ) -> None:
        self._r = r
        self._written = written
        self._stored = stored

    def versions(self, cid: str, stix_id: str) -> list[ObjectRow]:
        stored = self._stored.get((cid, stix_id))
        if stored is None:
            stored = self._stored[cid, stix_id] = self._r.versions(cid, stix_id)
        earlier = self._written.get((cid, stix_id))
        return sorted([*stored, *earlier], key=lambda row: row.version) if earlier else stored

    def fresh(self, env: _Envelope) -> list[ObjectRow]:
        """The rows ``env`` wrote (as a reader would see them), for the envelopes after it:
        each object posted, not public, and not stored before the batch or by an earlier
        envelope of it."""
        rows = []
        for obj in env.objects:
            if obj.id in env.public or any(
                row.version == obj.version for row in self.versions(env.cid, obj.id)
            ):
                continue
            if obj.type == "marking-definition":
                scope = env.markings[obj.id]
                equivalence, topics, item = scope.equivalence, scope.label.topics, None
            else:
                plan = next(p for p in env.plans if p.stix is obj)
                equivalence, topics, item = plan.equivalence, plan.label.topics, plan.label.id
            body = _dumps(obj.body)
            rows.append(
                ObjectRow(
                    0,
                    env.cid,
                    obj.id,
                    obj.type,
                    obj.version,
                    "",
                    item,
                    equivalence.value,
                    topics,
                    body,
                )
            )
        return rows


@dataclass(frozen=True, slots=True)
class _Envelope:
    """A publish checked and planned, waiting for the committer: what ``_write_envelope``
    writes."""

    user: User
    cid: str
    objects: tuple[StixObject, ...]
    public: frozenset[str]
    markings: dict[str, _LabelPlan]
    plans: list[_Plan]
    now: datetime


def _dumps(body: dict[str, Any]) -> bytes:
    return orjson.dumps(body)


def _success(obj: StixObject, message: str = "stored, sealed and logged") -> Stored:
    return Stored(obj.id, obj.version, message)


def _encode_cursor(seq: int) -> str:
    return f"s{seq:x}"


def _page_size(limit: int | None) -> int:
    return DEFAULT_PAGE if limit is None else max(1, min(limit, MAX_PAGE))


def decode_cursor(cursor: str | None) -> int:
    """The seq a ``next`` cursor stands for (0 for none); BadInput if no server gave it."""
    if cursor is None:
        return 0
    digits = cursor[1:] if cursor.startswith("s") else ""
    try:
        return int(digits, 16)
    except ValueError:
        raise BadInput(f"next: {cursor[:40]!r} is not a cursor this server gave") from None


def _spec_version_wanted(filters: Filters) -> bool:
    """Whether ``match[spec_version]`` (if given) names 2.1, the version of every object here."""
    return not filters.spec_versions or "2.1" in filters.spec_versions


def _instant_or_none(value: str) -> datetime | None:
    try:
        return parse_timestamp(value, "version")
    except BadInput:
        return None


@dataclass(frozen=True, slots=True)
class _Versions:
    """What ``match[version]`` selects (TAXII 2.1 §3.4.1): "last", "first", "all" or explicit
    versions, any of them (a comma-separated list is an OR). Explicit versions are compared as
    instants: ``…:00Z`` names the version stored as ``…:00.000Z``."""

    first: bool
    last: bool
    every: bool
    explicit: frozenset[datetime]

    @classmethod
    def of(cls, versions: tuple[str, ...]) -> _Versions:
        versions = versions or ("last",)
        explicit = frozenset(
            found
            for v in versions
            if v not in VERSION_KEYWORDS and (found := _instant_or_none(v)) is not None
        )
        return cls("first" in versions, "last" in versions, "all" in versions, explicit)

    @property
    def latest_only(self) -> bool:
        """Only the latest versions: applied in the query (``is_latest``), nothing per row."""
        return self.last and not (self.first or self.every or self.explicit)

    def keep(self, row: ObjectRow, r: NodeReader) -> bool:
        if self.every or self.latest_only:
            return True
        if self.explicit and _instant_or_none(row.version) in self.explicit:
            return True
        if not (self.first or self.last):
            return False
        stored = [x.version for x in r.scopes(row.collection, row.stix_id)]  # index only
        return (self.first and row.version == stored[0]) or (
            self.last and row.version == stored[-1]
        )
