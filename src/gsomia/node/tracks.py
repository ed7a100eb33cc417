"""Missile-warning tracks at a node: ingest, decisions, frames out and in, relays, the book.

A sensor posts a track's updates to its own node (``ingest``): the node checks them (its own
party's track, the warning topic and purpose, seqs strictly increasing), keeps the last
``KEEP`` of each track in memory (the *book*, what user streams start from), and queues them
for every peer the release engine allows at the node's scenario clock's now. The decision is
memoised per (track's label, holder, recipient, stretch), a stretch being the interval between
two of the scenario's boundaries (``Scenario.decision_cache``): a dict lookup per update. A
run of updates is queued as decided in one stretch; the sender decides again, and states, the
instant it seals a frame (its scenario now), and a sealed window it retries after a boundary
(or a consent's expiry) passed is decided and sealed anew (``outdated``; fail closed).

A node receiving frames (``receive``) opens each (``gsomia.seal.tracks.TrackOpener``, numbered
steps), then judges it itself: the frame's sender is the peer that signed the request; its
stated instant lies within the node's skew of its own scenario clock; the release engine
allows the sender to send it both at that instant and at this node's now (holder = sender,
recipient = this node: the 2023 link's standing consent, or an explicit consent (below),
covers the hub's relays); its ``prev`` is the last seq this node accepted from that sender on
that track (else a conflict naming the ``next`` seq wanted). A refused frame stores nothing;
an accepted one is stored as received (``track_frames``), enters the book, reaches the
streams, and — at a hub, when the engine allows every update of it to go on — is relayed
whole to the other parties.

Explicit consents. Before the 2023 link's standing consent, a hub relays a track only with the
originator's explicit consent (``grant``: the originator's admin consents to the track going to
a recipient through a hub). The consent is the token of an item's consent (``GSMC``, the same
fields, signed by the originator), its ``item`` the track id and its ``item_digest`` the
*track's digest* (``track_digest``): SHA-256 over a domain and the track's sealed label, which
every frame of the track carries unchanged. The originator keeps the tokens it granted (node
documents ``track.consent``) and sends them, with every request of frames of that track, to the
hub they are given through; a hub sends a token, with every request of relayed frames of the
track, to its recipient. The receiver verifies each token against the track's sealed label (a
token for no track in the request, or that fails, refuses the whole request) and decides with
the ones that serve: the hub before relaying, the recipient when it judges the relay. Tokens
travel with the frames, so no node needs to have kept one to judge a request.

Memory is bounded: a track without an update for ``IDLE_TTL`` (wall) leaves the book, with
its links' positions, the consent tokens read for it and the streams' last-delivered seq (at
most one sweep a ``SWEEP_EVERY``, on the ingest and receive paths); past ``MAX_TRACKS`` the
longest idle leaves for a new one; a peer request may introduce at most
``MAX_NEW_TRACKS_PER_POST`` tracks new to this node (the frames of the rest are refused as a
continuity conflict: 409 ``next``, and the sender resends them). The store keeps every frame;
the lists and the streams show the tracks in memory.

What is written to the log: one ``track.sent`` / ``track.received`` / ``track.relayed`` entry
when a track starts flowing on a link (its first frame on it), never one per update.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import threading
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, TypeVar

import orjson

from gsomia.domain.access import check_access, provided_for
from gsomia.domain.consents import Consent
from gsomia.domain.instants import format_instant, parse_instant
from gsomia.domain.labels import Label
from gsomia.domain.release import Decision, decide
from gsomia.domain.scenario import Scenario
from gsomia.domain.tracks import TRACK_PURPOSE, TRACK_TOPIC, TrackUpdate, track_id
from gsomia.errors import BadInput, Conflict, Denied, NotFound
from gsomia.node import audit
from gsomia.node.config import User
from gsomia.node.holdings import require_admin
from gsomia.node.receipts import skew
from gsomia.node.service import Node
from gsomia.seal.item import SealedLabel, SignedObject, consent_digest
from gsomia.seal.records import consent_token
from gsomia.seal.service import sealed_label
from gsomia.seal.tracks import FramePlan, OpenedFrame, RelayPlan, TrackOpener, TrackSealer
from gsomia.seal.trackwire import MAX_FRAME_UPDATES
from gsomia.store.ports import TrackFrameRow

log = logging.getLogger("gsomia.tracks")

KEEP = 2000  # updates kept per track in memory: what a stream starts from, what is resent
MAX_UPDATES_PER_POST = 1000  # updates in one sensor's post (of one track, or in all)
MAX_TRACKS_PER_POST = 64  # tracks in one sensor's post of several
MAX_FRAMES_PER_POST = 512  # frames in one peer request
MAX_TRACK_BODY = 16 * 1024 * 1024  # bytes of one peer request of frames
MEMO_LIMIT = 65_536  # memoised decisions before the memo starts again
IDLE_TTL = 3600.0  # wall seconds without an update after which a track leaves memory
MAX_TRACKS = 1000  # tracks kept in memory; a new one past it evicts the longest idle
MAX_NEW_TRACKS_PER_POST = 64  # tracks new to this node that one peer request may introduce
SWEEP_EVERY = 1.0  # wall seconds between two sweeps of the idle tracks
IN = "in"
OUT = "out"
TRACK_CONSENTS = "track.consent"  # node documents: the consents this node granted for its tracks
MAX_CONSENTS_PER_POST = 1024  # consent tokens in one peer request
MAX_CONSENTS_PER_TRACK = 16  # consent tokens a node keeps for one track (the newest)
_TRACK_DIGEST = b"gsomia/node/v1/track-label\x00"
P = TypeVar("P", FramePlan, RelayPlan)  # a plan of a window: a frame's or a relay's


def track_digest(sealed: SealedLabel) -> bytes:
    """What a consent for a track binds in place of an item's digest: SHA-256 over a domain and
    the track's sealed label (fixed for the track's life, carried by every frame of it)."""
    return hashlib.sha256(_TRACK_DIGEST + sealed.encode()).digest()


@dataclass(frozen=True, slots=True)
class Token:
    """A consent token for a track, as this node holds it: the originator's signed bytes, what
    they say, and (at the originator) the hub it was given through."""

    raw: bytes
    consent: Consent
    via: str | None = None

    def to_json(self) -> dict[str, object]:
        return {**self.consent.to_json(), "track": self.consent.item, "via": self.via}


# ------------------------------------------------------------------ values
@dataclass(frozen=True, slots=True)
class TrackEvent:
    """One update as a user stream delivers it: the track, its label, the update, the parties
    it came through (originator first) and the wall instant this node received it."""

    track: str
    label: Label
    update: TrackUpdate
    route: tuple[str, ...]
    received: datetime

    def to_json(self) -> dict[str, object]:
        return {
            "track": self.track,
            "label": self.label.to_json(),
            "update": self.update.to_json(),
            "route": list(self.route),
            "received": format_instant(self.received),
        }

    def sse(self) -> bytes:
        """The native stream's frame of this update."""
        return b"event: track\ndata: %s\n\n" % orjson.dumps(self.to_json())


@dataclass(frozen=True, slots=True)
class TrackSummary:
    """What a node knows of a track: its label, the instants of its first and last updates
    (the sensor's), its last seq and how many updates it kept."""

    track: str
    label: Label
    originator: str
    first_at: datetime
    last_at: datetime
    last_seq: int
    updates: int
    synthesized: bool

    def to_json(self) -> dict[str, object]:
        return {
            "track": self.track,
            "label": self.label.to_json(),
            "originator": self.originator,
            "first_at": format_instant(self.first_at),
            "last_at": format_instant(self.last_at),
            "last_seq": self.last_seq,
            "updates": self.updates,
            "synthesized": self.synthesized,
        }


@dataclass(eq=False)
class Track:
    """A track in the book: its label (fixed for its life) and its last ``KEEP`` updates."""

    label: Label
    sealed: SealedLabel
    events: deque[TrackEvent] = field(default_factory=lambda: deque(maxlen=KEEP))
    last_seq: int = 0
    first_at: datetime | None = None
    last_at: datetime | None = None
    synthesized: bool = False
    touched: float = 0.0  # wall epoch seconds of the last update received
    standing: bool = False  # some of it reached this node on standing consent (§7.1)

    def add(self, event: TrackEvent) -> bool:
        """Keep ``event`` if it is newer than every update kept (else a duplicate: False)."""
        if event.update.seq <= self.last_seq:
            return False
        self.events.append(event)
        self.last_seq = event.update.seq
        if self.first_at is None:
            self.first_at = event.update.at
            self.synthesized = event.update.synthesized
        self.last_at = event.update.at
        self.touched = event.received.timestamp()
        return True

    def summary(self) -> TrackSummary:
        first = self.first_at or datetime.fromtimestamp(0, tz=UTC)
        return TrackSummary(
            self.label.id,
            self.label,
            self.label.originator,
            first,
            self.last_at or first,
            self.last_seq,
            len(self.events),
            self.synthesized,
        )


@dataclass(frozen=True, slots=True)
class Run:
    """Updates of one track queued for one peer, decided at ``at`` (one stretch)."""

    track: str
    at: datetime
    stretch: int
    updates: tuple[TrackUpdate, ...]
    relay: bytes | None = None  # a received origin frame to pass on whole (at a hub)

    @property
    def first(self) -> int:
        return self.updates[0].seq

    @property
    def last(self) -> int:
        return self.updates[-1].seq


@dataclass(frozen=True, slots=True)
class Sealed:
    """A frame sealed for a peer, and what it carries."""

    track: str
    first: int
    last: int
    prev: int
    at: datetime
    raw: bytes
    relay: bool = False  # a relayed frame (a hub's)


@dataclass(frozen=True, slots=True)
class Received:
    """What one peer request of frames came to: the frames accepted (in order) and, for each
    track refused for its continuity, the seq this node wants next."""

    accepted: tuple[OpenedFrame, ...]
    conflicts: dict[str, int]


class Outlet(Protocol):
    """Where a node's queued runs go: the per-peer senders (``gsomia.api.tracks``)."""

    def queue(self, peer: str, run: Run) -> None: ...


class Listener(Protocol):
    """Who hears what enters the book (the user streams, ``gsomia.node.trackfeed``)."""

    def publish(self, events: Sequence[TrackEvent]) -> None: ...

    def forget(self, tracks: Sequence[str]) -> None:
        """``tracks`` left memory (idle, or evicted for room): drop what is kept for them."""


class Fanout(Protocol):
    """Who tells the node's other workers what entered this worker's book from a sensor or a
    peer, and of consents granted here (``gsomia.node.trackfeed.TrackBus``)."""

    def updates(
        self, sealed: SealedLabel, events: Sequence[TrackEvent], *, standing: bool = False
    ) -> None: ...

    def consented(self, track: str) -> None: ...


# ------------------------------------------------------------------ decisions
class Decisions:
    """``decide`` memoised per (label, holder, recipient, stretch, the consents that serve)
    within one generation of the node's scenarios: what is in force changes only at the
    scenario's boundaries, and the consents that serve only at their own instants (granted,
    expiring), which the key's last part follows. A note or a dispute installs a new generation
    (a dispute moves no boundary; a note may shift them): the memo of another is not used."""

    def __init__(self, node: Node) -> None:
        self.node = node
        # the generation the memo was made in, and the memo: replaced whole, never mixed
        self._memo: tuple[int, dict[tuple[Label, str, str, int, frozenset[Consent]], Decision]]
        self._memo = (node.generation.number, {})

    def stretch(self, at: datetime) -> int:
        return _stretch(self.node.scenario, at)

    def decide(
        self,
        label: Label,
        holder: str,
        recipient: str,
        at: datetime,
        consents: Iterable[Consent] = (),
    ) -> Decision:
        installed = self.node.generation  # one read: the scenario and its generation together
        number, memo = self._memo
        if number != installed.number:
            memo = {}
            self._memo = (installed.number, memo)
        scenario = installed.effective
        serving = frozenset(
            c for c in consents if c.serves(label.id, label.originator, recipient, at)
        )
        key = (label, holder, recipient, _stretch(scenario, at), serving)
        found = memo.get(key)
        if found is None:
            if len(memo) >= MEMO_LIMIT:
                memo.clear()
            found = decide(
                scenario,
                label,
                holder=holder,
                recipient=recipient,
                at=at,
                consents=tuple(serving),
            )
            memo[key] = found
        return found


def _stretch(scenario: Scenario, at: datetime) -> int:
    """The index of the stretch of ``scenario``'s boundaries ``at`` falls in."""
    return bisect_right(scenario.decision_cache()[1], at.timestamp())


# ------------------------------------------------------------------ the service
def _base64_list(doc: dict[str, object], key: str, limit: int, *, empty: bool) -> list[bytes]:
    found = doc.get(key, [] if empty else None)
    low = 0 if empty else 1
    if not isinstance(found, list) or not low <= len(found) <= limit:
        raise BadInput(f"track frames: {key!r} must list {low} to {limit} items")
    out = []
    for i, text in enumerate(found):
        if not isinstance(text, str):
            raise BadInput(f"track frames: {key}[{i}] must be base64 text")
        try:
            out.append(base64.b64decode(text, validate=True))
        except (binascii.Error, ValueError):
            raise BadInput(f"track frames: {key}[{i}] is not base64") from None
    return out


def parse_frames(body: bytes) -> tuple[list[bytes], list[bytes]]:
    """A peer request's frames and consent tokens: ``{"frames": [base64, ...], "consents":
    [base64, ...]}`` (``consents`` optional)."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadInput("track frames: the body is not JSON") from None
    if not isinstance(doc, dict) or not set(doc) <= {"frames", "consents"}:
        raise BadInput("track frames: expected an object with 'frames' and 'consents'")
    frames = _base64_list(doc, "frames", MAX_FRAMES_PER_POST, empty=False)
    return frames, _base64_list(doc, "consents", MAX_CONSENTS_PER_POST, empty=True)


def frames_body(frames: Iterable[bytes], consents: Iterable[bytes] = ()) -> bytes:
    doc = {"frames": [base64.b64encode(f).decode() for f in frames]}
    tokens = [base64.b64encode(c).decode() for c in consents]
    if tokens:
        doc["consents"] = tokens
    return orjson.dumps(doc)


class Tracks:
    """The tracks of one node (one per app): the book, the decisions, sealing and opening."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.decisions = Decisions(node)
        self.book: dict[str, Track] = {}
        self.sealer = TrackSealer(node.keyring, node.sealer.channels)
        self.opener = TrackOpener(node.keyring, audit=self._audit)
        self.outlet: Outlet | None = None
        self.listeners: list[Listener] = []
        self.fanout: Fanout | None = None  # the node's other workers (a shared bus)
        self._sent: dict[tuple[str, str], int] = {}  # (track, peer) -> last seq sent
        self._tokens: dict[str, dict[bytes, Token]] = {}  # track -> consent tokens held
        self._lock = threading.Lock()  # the book and the links' positions, across threads
        self._swept = 0.0  # wall epoch seconds of the last sweep of idle tracks
        self.peers = tuple(p.party for p in node.config.peers)

    def _audit(self, doc: dict[str, object]) -> None:
        audit.refused("open track frame", str(doc.get("reason", "")), party=self.node.party)

    # -------------------------------------------------------------- visibility
    def may_see(self, user: User, label: Label) -> bool:
        """Whether ``user`` may see a track labelled ``label`` here (Art. 7, and at a holder
        the purposes it is provided for, as for an item)."""
        try:
            self._check_sees(user, label)
        except (Denied, BadInput):
            return False
        return True

    def _check_sees(self, user: User, label: Label) -> None:
        node = self.node
        level = node.scenario.policy(label.originator).level(label.classification)
        purposes = None
        if label.originator != node.party:
            # DOMAIN.md §7.1: what reached this node on the 2023 link's standing consent is
            # provided for defense.warning only, whatever its label says; a track that came
            # by several routes takes the narrowest (a track not in the book: the narrowest)
            track = self.book.get(label.id)
            standing = track is None or track.standing
            purposes = provided_for(label.purposes, standing=standing)
        check_access(
            user.clearance,
            party=node.party,
            equivalence=level.equivalence,
            topics=label.topics,
            purposes=purposes,
        )

    def visible_track(self, user: User, tid: str) -> Track:
        """The track ``tid`` if ``user`` may see it; NotFound for hidden exactly as missing."""
        found = self.book.get(tid)
        if found is None or not self.may_see(user, found.label):
            raise NotFound(f"track {tid[:120]}: no such track")
        return found

    # -------------------------------------------------------------- ingest
    def check_ingest(
        self, user: User, tid: str, doc: object
    ) -> tuple[Label, tuple[TrackUpdate, ...]]:
        """A sensor's post, parsed and checked on its own (off the loop); ``accept`` judges it
        against the book."""
        track_id(tid, "track id")
        return self._check_post(user, doc, tid, "")

    def check_ingest_many(
        self, user: User, doc: object
    ) -> list[tuple[Label, tuple[TrackUpdate, ...]]]:
        """A sensor's post of several tracks' updates (``{"tracks": [{"label", "updates"},
        ...]}``: 1 to ``MAX_TRACKS_PER_POST`` tracks, each once, at most
        ``MAX_UPDATES_PER_POST`` updates in all), each checked as ``check_ingest`` checks one;
        the first failure refuses the whole post, naming ``tracks[i]...``."""
        if not isinstance(doc, dict) or set(doc) != {"tracks"}:
            raise BadInput("body: expected an object with exactly 'tracks'")
        raw = doc["tracks"]
        if not isinstance(raw, list) or not 0 < len(raw) <= MAX_TRACKS_PER_POST:
            raise BadInput(f"tracks: 1 to {MAX_TRACKS_PER_POST} tracks")
        out: list[tuple[Label, tuple[TrackUpdate, ...]]] = []
        seen: set[str] = set()
        total = 0
        for i, entry in enumerate(raw):
            where = f"tracks[{i}]."
            label, updates = self._check_post(user, entry, None, where)
            if label.id in seen:
                raise BadInput(f"{where}label.id: track {label.id} appears twice in this post")
            seen.add(label.id)
            total += len(updates)
            if total > MAX_UPDATES_PER_POST:
                raise BadInput(f"tracks: at most {MAX_UPDATES_PER_POST} updates in all")
            out.append((label, updates))
        return out

    def _check_post(
        self, user: User, doc: object, tid: str | None, where: str
    ) -> tuple[Label, tuple[TrackUpdate, ...]]:
        """One track's ``{"label", "updates"}`` (of ``tid`` when the path names it), its errors
        prefixed with ``where``."""
        node = self.node
        if not isinstance(doc, dict) or set(doc) != {"label", "updates"}:
            what = "body" if not where else where.rstrip(".")
            raise BadInput(f"{what}: expected an object with exactly 'label' and 'updates'")
        label = Label.from_json(doc["label"], where=f"{where}label", scenario=node.scenario)
        if tid is None:
            tid = track_id(label.id, f"{where}label.id")
        elif label.id != tid:
            raise BadInput(f"{where}label.id: {label.id[:120]!r} is not the track {tid}")
        if label.originator != node.party:
            raise BadInput(f"{where}label.originator: a track posted here is {node.party}'s")
        if TRACK_TOPIC not in label.topics:
            raise BadInput(f"{where}label.topics: a track's label names {TRACK_TOPIC}")
        if TRACK_PURPOSE not in label.purposes:
            raise BadInput(f"{where}label.purposes: a track is provided for {TRACK_PURPOSE}")
        try:
            self._check_sees(user, label)
        except Denied as exc:
            audit.refused("post track", str(exc), user=user.name, party=node.party, track=tid)
            raise Denied(f"{where}label: you may not post under this label: {exc}") from None
        raw = doc["updates"]
        if not isinstance(raw, list) or not 0 < len(raw) <= MAX_UPDATES_PER_POST:
            raise BadInput(f"{where}updates: 1 to {MAX_UPDATES_PER_POST} updates")
        updates = tuple(
            TrackUpdate.from_json(u, where=f"{where}updates[{i}]") for i, u in enumerate(raw)
        )
        last = 0
        for i, u in enumerate(updates):
            if u.track != tid:
                raise BadInput(f"{where}updates[{i}].track: not {tid}")
            if u.party != node.party:
                raise BadInput(f"{where}updates[{i}].party: a track posted here is {node.party}'s")
            if u.seq <= last:
                raise BadInput(f"{where}updates[{i}].seq: seqs must strictly increase")
            last = u.seq
        return label, updates

    def accept(
        self, label: Label, updates: tuple[TrackUpdate, ...], received: datetime
    ) -> TrackSummary:
        """Take checked updates into the book, to the streams and to every allowed peer (on
        the loop: the book and the links are the loop's). Conflict when the label is not the
        track's or a seq was accepted already."""
        return self.accept_many([(label, updates)], received)[0]

    def accept_many(
        self, posted: Sequence[tuple[Label, tuple[TrackUpdate, ...]]], received: datetime
    ) -> list[TrackSummary]:
        """``accept`` for several tracks at once, all or nothing: a Conflict for any of them
        (naming ``tracks[i]`` when there are several) takes none."""
        now = self.node.clock.now()
        several = len(posted) > 1
        taken: list[tuple[Track, list[TrackEvent]]] = []
        with self._lock:
            fresh: dict[str, Track] = {}
            for i, (label, updates) in enumerate(posted):
                where = f"tracks[{i}]." if several else ""
                tid = label.id
                track = self.book.get(tid)
                if track is None:
                    track = fresh[tid] = Track(label, sealed_label(self.node.scenario, label, now))
                elif track.label != label:
                    raise Conflict(f"{where}label: not the label track {tid} started with")
                if updates[0].seq <= track.last_seq:
                    raise Conflict(
                        f"{where}updates[0].seq: {updates[0].seq} was accepted already; "
                        f"the last seq accepted is {track.last_seq}"
                    )
                events = [TrackEvent(tid, label, u, (self.node.party,), received) for u in updates]
                taken.append((track, events))
            self.book.update(fresh)
            for track, events in taken:
                for event in events:
                    track.add(event)
            gone = self._bound(received.timestamp(), keep=[t.label.id for t, _ in taken])
        self._forget(gone)
        self._publish([e for _, events in taken for e in events])
        for (label, updates), (track, events) in zip(posted, taken, strict=True):
            if self.fanout is not None:
                self.fanout.updates(track.sealed, events)
            self._queue(label, updates, now)
        return [track.summary() for track, _ in taken]

    def _queue(self, label: Label, updates: tuple[TrackUpdate, ...], now: datetime) -> None:
        outlet = self.outlet
        if outlet is None:
            return
        stretch = self.decisions.stretch(now)
        for peer in self.peers:
            if peer not in label.releasable_to:
                continue
            if self.decisions.decide(label, self.node.party, peer, now).allowed:
                outlet.queue(peer, Run(label.id, now, stretch, updates))

    def _publish(self, events: Sequence[TrackEvent]) -> None:
        for listener in self.listeners:
            listener.publish(events)

    # -------------------------------------------------------------- consents
    def grant(self, user: User, tid: str, doc: object) -> Token:
        """The originator's admin consents to its track ``tid`` going to ``recipient`` through
        the hub ``via`` (``{"recipient", "via", "expires_at"?}``): a signed token, kept and
        logged, that travels to the hub with the track's frames from now on."""
        node = self.node
        action = f"grant consent for track {tid[:120]}"
        require_admin(node, user, action)
        track_id(tid, "track id")
        track = self.visible_track(user, tid)
        label = track.label
        if label.originator != node.party:
            raise BadInput(f"track: {tid} is {label.originator}'s; only its originator consents")
        if not isinstance(doc, dict) or not {"recipient", "via"} <= set(doc) <= {
            "recipient",
            "via",
            "expires_at",
        }:
            raise BadInput("body: expected an object with 'recipient', 'via' and 'expires_at'?")
        recipient, via = doc["recipient"], doc["via"]
        for key, party in (("recipient", recipient), ("via", via)):
            if party not in self.peers or party not in label.releasable_to:
                raise BadInput(
                    f"{key}: {str(party)[:20]!r} is not a peer the track is releasable to "
                    f"({', '.join(p for p in self.peers if p in label.releasable_to) or 'none'})"
                )
        if recipient == via:
            raise BadInput(f"via: {via} is the recipient; it needs no consent for its own copy")
        now = node.clock.now()
        raw_expires = doc.get("expires_at")
        expires = None if raw_expires is None else parse_instant(raw_expires, "expires_at")
        if expires is not None and expires <= now:
            raise BadInput(f"expires_at: not after this node's now ({format_instant(now)})")
        raw = consent_token(
            node.keyring,
            item=tid,
            item_digest=track_digest(track.sealed),
            recipient=recipient,
            granted_at=now,
            expires_at=expires,
        )
        body = SignedObject.decode(raw, "consent").body
        token = Token(raw, Consent(tid, node.party, recipient, now, expires), via)
        fields: dict[str, object] = {
            "item": tid,
            "originator": node.party,
            "holder": via,
            "recipient": recipient,
        }
        if expires is not None:
            fields["expires"] = format_instant(expires)
        with node.store.writing() as w:
            w.put_document(TRACK_CONSENTS, consent_digest(body).hex(), tid, token.to_json(), raw)
            node.log.append_in(w.log, [node.entry("consent", now, fields)])
        with self._lock:
            self._keep(tid, [token])
        if self.fanout is not None:
            self.fanout.consented(tid)
        return token

    def forget_consents(self, tid: str) -> None:
        """Another worker granted a consent for ``tid``: read them from the store again."""
        with self._lock:
            self._tokens.pop(tid, None)

    def _held(self, tid: str) -> dict[bytes, Token]:
        """The consent tokens this node holds for ``tid`` (under the lock): at first need, the
        ones it granted, from the store."""
        found = self._tokens.get(tid)
        if found is None:
            found = self._tokens[tid] = {}
            with self.node.store.reading() as r:
                rows = r.documents(TRACK_CONSENTS, tid)
            for row in rows:
                c, via = row.body, row.body.get("via")
                expires, where = c.get("expires_at"), "track consent"
                consent = Consent(
                    tid,
                    str(c["originator"]),
                    str(c["recipient"]),
                    parse_instant(c["granted_at"], f"{where}: granted_at"),
                    None if expires is None else parse_instant(expires, f"{where}: expires_at"),
                )
                if row.attachment is not None:
                    found[row.attachment] = Token(row.attachment, consent, str(via))
        return found

    def _keep(self, tid: str, tokens: Iterable[Token]) -> None:
        held = self._held(tid)
        for token in tokens:
            if token.raw not in held:
                held[token.raw] = token
        while len(held) > MAX_CONSENTS_PER_TRACK:
            del held[next(iter(held))]

    def consents(self, tid: str) -> tuple[Consent, ...]:
        """The consents this node holds for track ``tid`` (the engine picks those that serve)."""
        with self._lock:
            return tuple(t.consent for t in self._held(tid).values())

    def tokens_for(self, peer: str, tids: Iterable[str]) -> list[bytes]:
        """The consent tokens a request of frames of ``tids`` to ``peer`` carries: those for
        ``peer`` itself, and those this node granted through ``peer``; unexpired."""
        now = self.node.clock.now()
        out: list[bytes] = []
        with self._lock:
            for tid in dict.fromkeys(tids):
                for t in self._held(tid).values():
                    expires = t.consent.expires_at
                    if (expires is None or now < expires) and peer in (t.consent.recipient, t.via):
                        out.append(t.raw)
        return out[:MAX_CONSENTS_PER_POST]

    def _verify_tokens(
        self, tokens: Sequence[bytes], opened: Sequence[OpenedFrame]
    ) -> dict[str, list[Token]]:
        """A request's consent tokens, each verified against the sealed label of the track it
        names among the request's frames (else the request is refused)."""
        labels = {f.track: f.sealed_label for f in reversed(opened)}
        out: dict[str, list[Token]] = {}
        for i, raw in enumerate(tokens):
            where = f"track frames: consents[{i}]"
            try:
                body = orjson.loads(SignedObject.decode(raw, where).body)
            except orjson.JSONDecodeError:
                raise BadInput(f"{where}: the body is not JSON") from None
            tid = body.get("item") if isinstance(body, dict) else None
            sealed = labels.get(tid) if isinstance(tid, str) else None
            if tid is None or sealed is None:
                raise BadInput(f"{where}: for no track of this request's frames")
            view = self.node.verifier.verify_consent(raw, label=sealed, digest=track_digest(sealed))
            out.setdefault(tid, []).append(Token(raw, view.to_domain()))
        return out

    # -------------------------------------------------------------- sending
    def seal(self, peer: str, runs: Sequence[Run]) -> list[Sealed]:
        """Seal a window's runs for ``peer`` under one signature (frames) and one more for the
        relays; each run is decided at this node's now, the instant the frames state, and
        dropped if not allowed. Runs of one track are merged into one frame per stretch."""
        now = self.node.clock.now()
        stretch = self.decisions.stretch(now)
        plans: list[tuple[FramePlan, Run]] = []
        relays: list[tuple[RelayPlan, Run]] = []
        position: dict[str, int] = {}  # per track, the last seq planned in this window
        with self._lock:
            merged = self._merge(runs)
            for run in merged:
                track = self.book.get(run.track)
                if track is None:
                    continue
                # stated and decided at this node's now, the instant of sealing (never the
                # instant the run was queued: a window may wait past a boundary)
                at = now
                holder = self.node.party
                consents = [t.consent for t in self._held(run.track).values()]
                if not self.decisions.decide(track.label, holder, peer, now, consents).allowed:
                    log.info("track %s to %s: no longer allowed; dropped", run.track, peer)
                    continue
                prev = position.get(run.track)
                if prev is None:
                    prev = self._prev(run.track, peer)
                ups = tuple(u for u in run.updates if u.seq > prev)
                if not ups:
                    continue
                if run.relay is not None:
                    if ups != run.updates:
                        continue  # a relayed frame goes whole or not at all
                    relays.append((RelayPlan(run.relay, peer, at, prev), run))
                else:
                    for i in range(0, len(ups), MAX_FRAME_UPDATES):  # a frame's bound
                        chunk = ups[i : i + MAX_FRAME_UPDATES]
                        plan = FramePlan(peer, track.sealed, run.track, at, prev, chunk)
                        plans.append((plan, Run(run.track, at, stretch, chunk)))
                        prev = chunk[-1].seq
                position[run.track] = ups[-1].seq
        out = [
            Sealed(r.track, r.first, r.last, p.prev, p.at, raw)
            for p, r, raw in self._seal_each(peer, plans, self.sealer.seal_window)
        ]
        out += [
            Sealed(r.track, r.first, r.last, p.prev, p.at, raw, relay=True)
            for p, r, raw in self._seal_each(peer, relays, self.sealer.relay_window)
        ]
        with self._lock:  # the link goes on from what was sealed, only once it was
            for f in out:
                self._sent[f.track, peer] = max(self._sent.get((f.track, peer), 0), f.last)
        return out

    @staticmethod
    def _seal_each(
        peer: str,
        plans: Sequence[tuple[P, Run]],
        seal_window: Callable[[Sequence[P]], list[bytes]],
    ) -> list[tuple[P, Run, bytes]]:
        """``plans`` sealed in one window; a plan the sealer refuses (BadInput) drops its own
        frame and the later frames of its track (they would not follow on), not the window."""
        if not plans:
            return []
        try:
            raws = seal_window([p for p, _ in plans])
        except BadInput:
            bad: set[str] = set()
            good: list[tuple[P, Run]] = []
            for plan, run in plans:
                if run.track in bad:
                    continue
                try:
                    seal_window([plan])
                except BadInput as exc:
                    log.warning("track %s to %s: a frame dropped: %s", run.track, peer, exc)
                    bad.add(run.track)
                    continue
                good.append((plan, run))
            plans = good
            raws = seal_window([p for p, _ in plans]) if plans else []
        return [(p, r, raw) for (p, r), raw in zip(plans, raws, strict=True)]

    @staticmethod
    def _merge(runs: Sequence[Run]) -> list[Run]:
        """Consecutive runs of one track in one stretch become one (relays stay whole)."""
        merged: list[Run] = []
        last: dict[str, int] = {}
        for run in runs:
            i = last.get(run.track)
            if (
                i is not None
                and run.relay is None
                and merged[i].relay is None
                and merged[i].stretch == run.stretch
                and merged[i].last < run.first
            ):
                m = merged[i]
                merged[i] = Run(m.track, m.at, m.stretch, m.updates + run.updates)
                continue
            last[run.track] = len(merged)
            merged.append(run)
        return merged

    def outdated(self, frames: Sequence[Sealed]) -> bool:
        """Whether a decision boundary, or the expiry of a consent held for one of their
        tracks, has passed since ``frames`` were sealed: then they must not be sent as sealed
        (decided again: ``unsent`` and ``rewind``)."""
        now = self.node.clock.now()
        stretch = self.decisions.stretch(now)
        with self._lock:
            for f in frames:
                if self.decisions.stretch(f.at) != stretch:
                    return True
                for t in self._held(f.track).values():
                    expires = t.consent.expires_at
                    if expires is not None and f.at < expires <= now:
                        return True
        return False

    def _prev(self, tid: str, peer: str) -> int:
        found = self._sent.get((tid, peer))
        if found is None:
            with self.node.store.reading() as r:
                found = r.track_link(tid, peer, OUT)
            self._sent[tid, peer] = found
        return found

    def sent(self, peer: str, frames: Sequence[Sealed]) -> None:
        """``peer`` accepted ``frames``: keep them, and log a track's first frame on the link."""
        node = self.node
        now = node.clock.now()
        with node.store.writing() as w:
            entries = []
            known = w.track_links([f.track for f in frames], peer, OUT)
            rows = []
            for f in frames:
                if known[f.track] == 0:
                    known[f.track] = f.last
                    track = self.book.get(f.track)
                    originator = track.label.originator if track is not None else node.party
                    kind = "track.relayed" if f.relay else "track.sent"
                    fields: dict[str, object] = {
                        "track": f.track,
                        "recipient": peer,
                        "first_seq": f.first,
                    }
                    if f.relay:
                        fields["originator"] = originator
                    entries.append(node.entry(kind, now, fields))
                rows.append(
                    TrackFrameRow(f.track, OUT, peer, f.first, f.last, format_instant(f.at), f.raw)
                )
            w.add_track_frames(rows)
            if entries:
                node.log.append_in(w.log, entries)

    def unsent(self, peer: str, frames: Sequence[Sealed]) -> None:
        """``peer`` never took ``frames`` (dropped): the link goes on from what it had."""
        span: dict[str, tuple[int, int]] = {}  # per track: the first prev, the last seq
        for f in frames:
            low, high = span.get(f.track, (f.prev, f.last))
            span[f.track] = (min(low, f.prev), max(high, f.last))
        with self._lock:
            for tid, (prev, last) in span.items():
                if self._sent.get((tid, peer)) == last:
                    self._sent[tid, peer] = prev

    def rewind(self, peer: str, wanted: dict[str, int]) -> list[Run]:
        """``peer`` wants each track from a seq on (a 409): the link restarts there, with the
        updates still kept (older ones are gone: the link skips forward, logged). Relayed
        frames are not resent: the next one goes on from the peer's position."""
        now = self.node.clock.now()
        stretch = self.decisions.stretch(now)
        runs: list[Run] = []
        with self._lock:
            for tid, nxt in wanted.items():
                self._sent[tid, peer] = max(nxt - 1, 0)
                track = self.book.get(tid)
                if track is None or track.label.originator != self.node.party:
                    continue
                if not self.decisions.decide(track.label, self.node.party, peer, now).allowed:
                    continue
                ups = tuple(e.update for e in track.events if e.update.seq >= nxt)
                if track.events and track.events[0].update.seq > nxt:
                    log.warning(
                        "track %s to %s: seqs %d to %d are no longer kept; skipped",
                        tid,
                        peer,
                        nxt,
                        track.events[0].update.seq - 1,
                    )
                if ups:
                    runs.append(Run(tid, now, stretch, ups))
        return runs

    # -------------------------------------------------------------- receiving
    def receive(
        self,
        sender: str,
        frames: Sequence[bytes],
        tokens: Sequence[bytes] = (),
        *,
        accepted: Callable[[Sequence[OpenedFrame]], None] | None = None,
    ) -> Received:
        """Open and judge a peer's frames, with the consent tokens the request carries; store
        the accepted ones (one transaction) and keep the tokens of their tracks. Any frame or
        token that fails to open or to be judged refuses the whole request: nothing stored.

        ``accepted`` hears the frames accepted once every check is done, inside the
        transaction, before its commit (and its fsync): the streams are real time and best
        effort, so they need not wait for the disk. Nothing refused is ever heard; a commit
        that then fails (a disk error) stores nothing and the sender resends, which the
        streams and the book take once."""
        node = self.node
        now = node.clock.now()
        opened = [self.opener.open(raw) for raw in frames]
        carried = self._verify_tokens(tokens, opened)
        for frame in opened:
            with self._lock:
                held = [t.consent for t in self._held(frame.track).values()]
            consents = held + [t.consent for t in carried.get(frame.track, ())]
            self._judge(sender, frame, now, consents)
        taken: list[OpenedFrame] = []
        conflicts: dict[str, int] = {}
        excess = self.fresh_in(opened)
        with node.store.writing() as w:  # one writer at a time: the links' positions agree
            entries = []
            rows: list[TrackFrameRow] = []
            links = w.track_links([f.track for f in opened], sender, IN)
            for frame, raw in zip(opened, frames, strict=True):
                if frame.track in conflicts:
                    continue
                last = links[frame.track]
                if frame.track in excess:
                    conflicts[frame.track] = last + 1
                    audit.refused(
                        "accept track frame",
                        f"more than {MAX_NEW_TRACKS_PER_POST} new tracks in one request",
                        party=node.party,
                        sender=sender,
                        track=frame.track,
                    )
                    continue
                if frame.prev != last:
                    conflicts[frame.track] = last + 1
                    audit.refused(
                        "accept track frame",
                        f"prev {frame.prev}, the last seq accepted is {last}",
                        party=node.party,
                        sender=sender,
                        track=frame.track,
                    )
                    continue
                if last == 0:
                    entries.append(
                        node.entry(
                            "track.received",
                            now,
                            {
                                "track": frame.track,
                                "sender": sender,
                                "originator": frame.origin,
                                "first_seq": frame.first,
                            },
                        )
                    )
                rows.append(
                    TrackFrameRow(
                        frame.track,
                        IN,
                        sender,
                        frame.first,
                        frame.last,
                        format_instant(frame.at),
                        raw,
                    )
                )
                links[frame.track] = frame.last  # the next frame of the track follows on
                taken.append(frame)
            w.add_track_frames(rows)
            if entries:
                node.log.append_in(w.log, entries)
            with self._lock:
                for tid in {f.track for f in taken}:
                    self._keep(tid, carried.get(tid, ()))
            if accepted is not None and taken:
                accepted(taken)
        return Received(tuple(taken), conflicts)

    def _judge(
        self, sender: str, frame: OpenedFrame, now: datetime, consents: Sequence[Consent]
    ) -> None:
        """The node's own checks of an opened frame; Denied (audited) for the first failing."""
        node = self.node
        margin = skew(node)
        reason = None
        if frame.sender != sender:
            reason = f"the frame's sender is {frame.sender}, the request's {sender}"
        elif frame.origin == node.party:
            reason = "a track of this node's own came back"
        elif not now - margin <= frame.at <= now + margin:
            reason = (
                f"the frame is dated {format_instant(frame.at)}, outside this node's now "
                f"({format_instant(now)}) and the accepted skew"
            )
        else:
            label = frame.label
            track = self.book.get(frame.track)
            if track is not None and track.label != label:
                reason = "the frame's label is not the track's"
            elif TRACK_TOPIC not in label.topics or TRACK_PURPOSE not in label.purposes:
                reason = f"a track's label names the topic {TRACK_TOPIC} and {TRACK_PURPOSE}"
            else:
                # allowed both at the sender's stated instant and at this node's now: a frame
                # stated just before a boundary it arrives after is refused (fail closed)
                for at in (frame.at, now):
                    if not self.decisions.decide(label, sender, node.party, at, consents).allowed:
                        reason = f"no agreement allowed {sender} to send it at {format_instant(at)}"
                        break
        if reason is not None:
            audit.refused("accept track frame", reason, party=node.party, sender=sender)
            raise Denied(f"track frame of {frame.track}: {reason}")

    def deliver(self, frames: Sequence[OpenedFrame], received: datetime) -> None:
        """Accepted frames into the book and the streams, and on to the other parties (on the
        loop)."""
        events: list[TrackEvent] = []
        fresh: list[tuple[SealedLabel, list[TrackEvent]]] = []
        now = self.node.clock.now()
        with self._lock:
            for frame in frames:
                label = frame.label
                track = self.book.get(frame.track)
                if track is None:
                    track = self.book[frame.track] = Track(label, frame.sealed_label)
                if self._on_standing(frame, now):
                    track.standing = True  # the narrowest purposes of every route, for good
                added = []
                for u in frame.updates:
                    event = TrackEvent(frame.track, label, u, frame.route, received)
                    if track.add(event):
                        added.append(event)
                events += added
                if added:
                    fresh.append((track.sealed, added))
            gone = self._bound(received.timestamp(), keep=[f.track for f in frames])
        self._forget(gone)
        self._publish(events)
        if self.fanout is not None:
            for sealed, added in fresh:
                self.fanout.updates(sealed, added, standing=self._standing(added[0].track))
        for frame in frames:
            if not frame.relayed:
                self._relay(frame, now)

    def _on_standing(self, frame: OpenedFrame, now: datetime) -> bool:
        """Whether an accepted ``frame`` reached this node on standing consent (under the
        lock): its sender is not the track's originator and no explicit consent this node holds
        served both at the frame's instant and now (the decision then rested on standing)."""
        label = frame.label
        if frame.sender == label.originator:
            return False
        held = [t.consent for t in self._held(frame.track).values()]
        return not all(
            any(c.serves(label.id, label.originator, self.node.party, at) for c in held)
            for at in (frame.at, now)
        )

    def _relay(self, frame: OpenedFrame, now: datetime) -> None:
        """As a hub, pass ``frame`` on whole to every other party the engine allows now: only
        when this node is the hub of an agreement that allows it (a party that merely may send
        to the third party — JPN to USA under the 2023 link — does not relay: the third party
        has the origin's frames from the origin or from the hub)."""
        outlet = self.outlet
        if outlet is None:
            return
        label = frame.label
        stretch = self.decisions.stretch(now)
        consents = self.consents(frame.track)
        for peer in self.peers:
            if peer in (frame.origin, frame.sender) or peer not in label.releasable_to:
                continue
            decision = self.decisions.decide(label, self.node.party, peer, now, consents)
            if decision.allowed and self._hub_of(decision.agreements):
                outlet.queue(peer, Run(frame.track, now, stretch, frame.updates, frame.frame))

    def _hub_of(self, agreements: Iterable[str]) -> bool:
        """Whether this node is the named hub of one of ``agreements``."""
        scenario = self.node.scenario
        return any(scenario.agreement(aid).hub == self.node.party for aid in agreements)

    def heard(
        self,
        sealed: SealedLabel,
        label: Label,
        events: Sequence[TrackEvent],
        *,
        standing: bool = False,
    ) -> None:
        """Updates another worker of this node took in (over the bus): into this worker's book
        and its streams, never to a peer again (the other worker sends them); ``standing``: some
        of the track reached the node on standing consent. Ignored, and logged, under a label
        that is not the track's here."""
        fresh: list[TrackEvent] = []
        with self._lock:
            track = self.book.get(label.id)
            if track is None:
                track = self.book[label.id] = Track(label, sealed)
            elif track.label != label:
                log.warning("track %s: another worker's label is not this one's; ignored", label.id)
                return
            if standing:
                track.standing = True
            fresh = [e for e in events if track.add(e)]
            wall = max((e.received.timestamp() for e in events), default=self._swept)
            gone = self._bound(wall, keep=[label.id])
        self._forget(gone)
        self._publish(fresh)

    # -------------------------------------------------------------- memory bounds
    def _standing(self, tid: str) -> bool:
        track = self.book.get(tid)
        return track is None or track.standing

    def _bound(self, now: float, keep: Iterable[str] = ()) -> list[str]:
        """Under the lock: the tracks idle for more than ``IDLE_TTL`` (checked at most once a
        ``SWEEP_EVERY``) and, past ``MAX_TRACKS``, the longest idle but ``keep``, out of the
        book with their links' positions and consent tokens; the ids gone."""
        book = self.book
        gone: list[str] = []
        if now - self._swept >= SWEEP_EVERY:
            self._swept = now
            gone = [tid for tid, t in book.items() if now - t.touched > IDLE_TTL]
        excess = len(book) - len(gone) - MAX_TRACKS
        if excess > 0:
            kept = set(keep) | set(gone)
            idle = sorted((t.touched, tid) for tid, t in book.items() if tid not in kept)
            gone += [tid for _, tid in idle[:excess]]
        if gone:
            dropped = set(gone)
            for tid in gone:
                del book[tid]
                self._tokens.pop(tid, None)
            for key in [k for k in self._sent if k[0] in dropped]:
                del self._sent[key]
            log.info("tracks: %d left memory (idle or past %d)", len(gone), MAX_TRACKS)
        return gone

    def _forget(self, gone: Sequence[str]) -> None:
        if gone:
            for listener in self.listeners:
                listener.forget(gone)

    def fresh_in(self, frames: Sequence[OpenedFrame]) -> set[str]:
        """The tracks of ``frames`` past the first ``MAX_NEW_TRACKS_PER_POST`` new to this
        node (not in the book): a request refuses their frames (``receive``)."""
        new: list[str] = []
        with self._lock:
            for f in frames:
                if f.track not in self.book and f.track not in new:
                    new.append(f.track)
        return set(new[MAX_NEW_TRACKS_PER_POST:])

    # -------------------------------------------------------------- reading
    def summaries(self, user: User) -> list[TrackSummary]:
        return [t.summary() for t in list(self.book.values()) if self.may_see(user, t.label)]

    def so_far(self, user: User, tid: str) -> tuple[TrackSummary, tuple[TrackEvent, ...]]:
        track = self.visible_track(user, tid)
        with self._lock:
            return track.summary(), tuple(track.events)
