"""The track streams of a node (``TrackHub``): every update a user may see, as it arrives.

One ``TrackHub`` per running node (made with the node's ``Tracks`` and its ``Broadcaster``, on
the app's state as ``app.state.tracks``; the console reaches it there). A subscriber sees only
the tracks whose label its user may see (clearance, need-to-know and, at a holder, purposes:
``Tracks.may_see``). On connect it first gets, for each visible track active in the last
``ACTIVE_SECONDS`` of wall time (or the one track asked for), its updates kept so far (at most
``KEEP`` per track), then live updates. An update reaches a subscriber once: only if its seq
is greater than the last delivered of its track (a track arriving both directly and through
the hub is delivered once, by whichever route came first).

Limits, shared with the item streams: a user holds at most ``MAX_STREAMS_PER_USER`` streams,
item and track streams together (429 past it); a subscriber more than ``QUEUE_SIZE`` updates
behind is dropped (its stream ends with a comment saying so; it reconnects and starts again
from the track so far); a console stream ends with its session (``end_session``, ``until``);
every stream ends on shutdown (``end_all``).

Several workers (``TrackBus``). On a shared bus each worker's book is its own: what a worker
takes in (a sensor's updates, a peer's frames) it publishes on the bus's ``events`` traffic
under the name ``tracks`` (JSON, at most ``BUS_CHUNK`` updates an event, with the track's
sealed label), and every other worker puts it in its book and its streams (never to a peer
again: the worker that took it in sends it). Each event is sealed (AES-256-GCM) under the
node's own data key (``gsomia.seal.at_rest``, every worker of a node holds the same key ring)
at the place ``bus/tracks``: what the bus carries (and JetStream stores) is ciphertext, and an
event that does not open under the node's key — a forged or altered one — is dropped and
audited (without its content). Like every event on the bus it is a hint, at most
once: an update the bus loses reaches no stream on the other workers (the next ones do, a
stream skipping to them). A worker ignores its own events. With the in-process bus there is
one worker and nothing to publish. A consent granted on one worker is announced the same way
(the others read the track's consents from the store again).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import uuid
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from gsomia.bus.ports import Bus, BusFailure, Subscription
from gsomia.domain.instants import format_instant, parse_instant
from gsomia.domain.labels import Label
from gsomia.domain.tracks import TrackUpdate
from gsomia.errors import GsomiaError, VerificationFailed
from gsomia.node import audit
from gsomia.node.config import User
from gsomia.node.events import (
    RETRY_MS,
    SESSION_ENDED,
    SHUTTING_DOWN,
    Broadcaster,
    Unavailable,
    end_subscriber,
)
from gsomia.node.tracks import TrackEvent, Tracks, TrackSummary
from gsomia.seal.at_rest import KeyRingCipher
from gsomia.seal.item import SealedLabel

log = logging.getLogger("gsomia.tracks")

QUEUE_SIZE = 8192  # updates a subscriber may lag behind before it is dropped
TRACKS = "tracks"  # the bus's event name: track updates a worker took in
BUS_CHUNK = 200  # updates in one bus event (NATS takes at most 1 MiB a message by default)
BUS_QUEUE = 4096  # bus events waiting to be published; past it they are dropped (hints)
ACTIVE_SECONDS = 600.0  # a track updated within this (wall) is replayed to a new stream
BUS_PLACE = b"bus/tracks"  # where the bus's track events are sealed (the AEAD's place)

#: A subscriber's own rendering of an update as one SSE frame (None: send nothing for it).
Render = Callable[[TrackEvent], bytes | None]

_DROPPED = "dropped: this stream fell behind; reconnect"


@dataclass(eq=False)
class _Subscriber:
    user: User
    track: str | None
    queue: asyncio.Queue[TrackEvent | None]
    session: str | None = None
    until: datetime | None = None
    delivered: dict[str, int] = field(default_factory=dict)  # track -> last seq delivered
    ended: bool = False
    cut: bool = False
    reason: str = SHUTTING_DOWN


class TrackHub:
    """The node's track streams (see the module)."""

    def __init__(
        self,
        tracks: Tracks,
        broadcaster: Broadcaster,
        *,
        queue_size: int = QUEUE_SIZE,
    ) -> None:
        self.node = tracks.node
        self.book = tracks
        self.broadcaster = broadcaster
        self.queue_size = queue_size
        self.closed = False
        self._subscribers: set[_Subscriber] = set()
        tracks.listeners.append(self)
        broadcaster.companions.append(self)

    # ------------------------------------------------------------------ reading
    def tracks(self, user: User) -> list[TrackSummary]:
        """The tracks ``user`` may see, as summaries."""
        return self.book.summaries(user)

    def so_far(self, user: User, track_id: str) -> tuple[TrackSummary, tuple[TrackEvent, ...]]:
        """A track and its updates kept so far; NotFound when hidden, exactly as missing."""
        return self.book.so_far(user, track_id)

    # ------------------------------------------------------------------ fan-out
    def forget(self, tracks: Sequence[str]) -> None:
        """``tracks`` left the book (``Tracks``' memory bounds): each subscriber forgets the
        last seq it delivered of them (on the loop)."""
        for sub in list(self._subscribers):
            for tid in tracks:
                sub.delivered.pop(tid, None)

    def publish(self, events: Sequence[TrackEvent]) -> None:
        """Updates that entered the book: to every subscriber that may see them (on the loop)."""
        if not events or not self._subscribers:
            return
        seen: dict[tuple[str, str], bool] = {}
        for sub in list(self._subscribers):
            for event in events:
                if sub.track is not None and event.track != sub.track:
                    continue
                key = (sub.user.name, event.track)
                allowed = seen.get(key)
                if allowed is None:
                    allowed = seen[key] = self.book.may_see(sub.user, event.label)
                if not allowed:
                    continue
                try:
                    sub.queue.put_nowait(event)
                except asyncio.QueueFull:
                    log.warning(
                        "track stream of %s dropped: more than %d updates behind",
                        sub.user.name,
                        self.queue_size,
                    )
                    self._end(sub, _DROPPED)
                    break

    # ------------------------------------------------------------------ subscribers
    def held(self, name: str) -> int:
        """How many track streams the user ``name`` holds now."""
        return sum(1 for sub in self._subscribers if sub.user.name == name)

    def _subscribe(
        self,
        user: User,
        track: str | None,
        session: str | None,
        until: datetime | None,
        where: str,
    ) -> _Subscriber:
        if self.closed:
            raise Unavailable(SHUTTING_DOWN)
        # this hub is one of the broadcaster's companions: its streams count with the items'
        open_ = len(self._subscribers) + self.broadcaster.subscribers
        self.broadcaster.admit(user, what="track stream", where=where, open_=open_)
        sub = _Subscriber(user, track, asyncio.Queue(self.queue_size), session, until)
        self._subscribers.add(sub)
        return sub

    def stream(
        self,
        user: User,
        *,
        session: str | None = None,
        until: datetime | None = None,
        track: str | None = None,
        render: Render | None = None,
        where: str = "-",
    ) -> AsyncIterator[bytes]:
        """The SSE frames of a new track stream of ``user`` (of console ``session``, ending at
        the wall instant ``until``; one ``track`` or all): the tracks so far, then live.
        TooManyStreams / Unavailable at once (before the first frame) when refused. Frames are
        the native API's (``event: track``) or ``render``'s."""
        sub = self._subscribe(user, track, session, until, where)
        frames = self._frames(sub, render)
        weakref.finalize(frames, self._subscribers.discard, sub)
        return frames

    async def _frames(self, sub: _Subscriber, render: Render | None) -> AsyncGenerator[bytes, None]:
        try:
            yield b"retry: %d\n\n" % RETRY_MS
            for kept in self._so_far(sub):
                frame = self._deliver(sub, kept, render)
                if frame is not None:
                    yield frame
            heartbeat = self.broadcaster.heartbeat
            while True:
                wait = heartbeat
                if sub.until is not None:
                    wait = min(wait, (sub.until - self.node.wall.now()).total_seconds())
                    if wait <= 0:
                        self._end(sub, SESSION_ENDED, at_once=True)
                        break
                try:
                    event = await asyncio.wait_for(sub.queue.get(), timeout=wait)
                except TimeoutError:
                    if wait >= heartbeat:
                        yield b": heartbeat\n\n"
                    continue
                if event is None or sub.cut:
                    break
                frame = self._deliver(sub, event, render)
                if frame is not None:
                    yield frame
            yield b": %s\n\n" % sub.reason.encode()
        finally:
            self._subscribers.discard(sub)

    def _so_far(self, sub: _Subscriber) -> list[TrackEvent]:
        """What a new subscriber starts from: each visible track active lately (or the one
        asked for), its kept updates in order."""
        horizon = self.node.wall.now().timestamp() - ACTIVE_SECONDS
        events: list[TrackEvent] = []
        for tid, track in list(self.book.book.items()):
            if sub.track is not None and tid != sub.track:
                continue
            if sub.track is None and track.touched < horizon:
                continue
            if not self.book.may_see(sub.user, track.label):
                continue
            events.extend(track.events)
        return events

    @staticmethod
    def _deliver(sub: _Subscriber, event: TrackEvent, render: Render | None) -> bytes | None:
        """The frame of ``event`` for ``sub``, unless an update of its track at least as new
        was delivered already (a duplicate across routes)."""
        seq = event.update.seq
        if seq <= sub.delivered.get(event.track, 0):
            return None
        sub.delivered[event.track] = seq
        if render is None:
            return event.sse()
        return render(event)

    def _end(self, sub: _Subscriber, reason: str, *, at_once: bool = False) -> None:
        self._subscribers.discard(sub)
        end_subscriber(sub, reason, at_once=at_once)

    def end_session(self, session: str) -> int:
        """End every track stream of the console session ``session`` now."""
        ending = [sub for sub in self._subscribers if sub.session == session]
        for sub in ending:
            self._end(sub, SESSION_ENDED, at_once=True)
        return len(ending)

    def end_all(self) -> None:
        """End every track stream now and refuse new ones (on shutdown)."""
        self.closed = True
        for sub in list(self._subscribers):
            self._end(sub, SHUTTING_DOWN)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)


# ---------------------------------------------------------------------- workers
class TrackBus:
    """This worker's track updates to the node's other workers, and theirs to it (see the
    module); ``Tracks.fanout``."""

    def __init__(self, tracks: Tracks) -> None:
        self.tracks = tracks
        self.cipher = KeyRingCipher(tracks.node.keyring)  # the node's own data key
        self.worker = uuid.uuid4().hex  # this worker's events carry it; it ignores them
        self.dropped = 0  # events not published for a full queue, since start
        self._out: asyncio.Queue[bytes] | None = None
        self._task: asyncio.Task[None] | None = None
        self._subscription: Subscription | None = None
        tracks.fanout = self

    async def start(self, bus: Bus) -> None:
        """Hear the other workers' updates on ``bus`` and publish this one's (a shared bus)."""
        if not bus.shared:
            return
        self._subscription = await bus.subscribe(TRACKS, self._heard)
        self._out = asyncio.Queue(BUS_QUEUE)
        self._task = asyncio.create_task(self._publish(bus, self._out), name="gsomia-track-bus")

    async def stop(self) -> None:
        self._out = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._subscription is not None:
            await self._subscription.close()
            self._subscription = None

    # ------------------------------------------------------------------ out
    def updates(
        self, sealed: SealedLabel, events: Sequence[TrackEvent], *, standing: bool = False
    ) -> None:
        """Updates of one track this worker took in (on the loop), for the other workers;
        ``standing``: the track reached this node on standing consent (§7.1)."""
        if self._out is None or not events:
            return
        label = events[0].label.to_json()
        raw = base64.b64encode(sealed.encode()).decode()
        for i in range(0, len(events), BUS_CHUNK):
            chunk = events[i : i + BUS_CHUNK]
            doc = {
                "worker": self.worker,
                "sealed": raw,
                "label": label,
                "standing": standing,
                "events": [
                    {
                        "update": e.update.to_json(),
                        "route": list(e.route),
                        "received": format_instant(e.received),
                    }
                    for e in chunk
                ],
            }
            self._put(orjson.dumps(doc))

    def consented(self, track: str) -> None:
        """A consent for ``track`` was granted on this worker."""
        if self._out is not None:
            self._put(orjson.dumps({"worker": self.worker, "consent": track}))

    def _put(self, data: bytes) -> None:
        out = self._out
        if out is None:
            return
        try:
            out.put_nowait(self.cipher.seal(data, BUS_PLACE))
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("track bus: %d events waiting; one dropped", BUS_QUEUE)

    @staticmethod
    async def _publish(bus: Bus, out: asyncio.Queue[bytes]) -> None:
        while True:
            data = await out.get()
            try:
                await bus.publish(TRACKS, data)
            except BusFailure as exc:
                log.warning("track bus: an event not published: %s", exc)

    # ------------------------------------------------------------------ in
    async def _heard(self, data: bytes) -> None:
        try:
            data = self.cipher.open(data, BUS_PLACE)
        except VerificationFailed:
            audit.refused(
                "hear track bus event",
                "it does not open under this node's key (forged or altered); dropped",
                party=self.tracks.node.party,
            )
            return
        try:
            self._take(data)
        except (GsomiaError, KeyError, TypeError, ValueError, binascii.Error) as exc:
            log.warning("track bus: an event ignored: %s", exc)

    def _take(self, data: bytes) -> None:
        doc = orjson.loads(data)
        if not isinstance(doc, dict) or doc.get("worker") == self.worker:
            return
        if "consent" in doc:
            self.tracks.forget_consents(str(doc["consent"]))
            return
        where = "track bus"
        sealed = SealedLabel.decode(base64.b64decode(doc["sealed"], validate=True), where)
        label = Label.from_json(doc["label"], where=where, scenario=self.tracks.node.scenario)
        events = [
            TrackEvent(
                label.id,
                label,
                TrackUpdate.from_json(e["update"], where=f"{where}: update"),
                tuple(str(p) for p in e["route"]),
                parse_instant(e["received"], f"{where}: received"),
            )
            for e in doc["events"]
        ]
        self.tracks.heard(sealed, label, events, standing=doc.get("standing") is not False)
