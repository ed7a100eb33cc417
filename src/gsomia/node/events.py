"""The node's in-process broadcaster: every item newly stored, fanned out to its subscribers.

One ``Broadcaster`` per running node reads new rows from the store once, after ``notify()``
(called after anything new is stored) or at the latest every second, and fans them out to the
subscribers' bounded queues. A subscriber sees only the items its user's clearance and
need-to-know allow (Art. 7, ``Node.visible``). A subscriber that falls behind by a full queue
is dropped (its stream ends with a comment saying so; the client resumes with
``Last-Event-ID``), never the node. On shutdown every stream ends cleanly.

A user may hold at most ``MAX_STREAMS_PER_USER`` streams at once, API and console together
(the next is refused with ``TooManyStreams``, 429, and audited), so that one user cannot take
all ``MAX_SUBSCRIBERS``. A console stream belongs to its sign-in session: it ends when the
session ends (``end_session``: sign-out, the user removed) and when the session expires
(``until``, on the node's wall clock, never the scenario clock).

Each stored item is one server-sent event::

    id: <seq>
    event: item
    data: {"collection": ..., "item": ..., "object": {...}, "date_added": ..., "markings": [...]}

``id`` is the object's position in the store (``seq``), so a client that reconnects with
``Last-Event-ID`` first gets what was stored after it, then the live stream. A subscriber may
render its own frames instead (``stream(..., render=...)``: the web console does), from the
same rows and with the same visibility rule. The HTTP routes live in ``gsomia.api.events``
(the native API) and ``gsomia.console`` (the console).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, TypeVar

import orjson

from gsomia.bus.ports import Bus, BusFailure
from gsomia.errors import GsomiaError
from gsomia.node import accesses, audit, register
from gsomia.node.config import User
from gsomia.node.service import Node
from gsomia.store.ports import NodeReader, ObjectRow

log = logging.getLogger("gsomia.events")

QUEUE_SIZE = 1024  # events a subscriber may lag behind before it is dropped
BATCH = 256  # rows read from the store at a time
MAX_SUBSCRIBERS = 512
MAX_STREAMS_PER_USER = 8  # API and console streams together
POLL_SECONDS = 1.0  # a safety net: new rows are picked up even without a notify()
RETRY_MS = 1000  # how long a client waits before reconnecting (the SSE ``retry`` field)
SSE_MEDIA_TYPE = "text/event-stream"  # the media type of every stream of the node

#: A subscriber's own rendering of a stored row as one SSE frame (None: send nothing for it).
Render = Callable[[ObjectRow], bytes | None]


class Unavailable(GsomiaError):
    """The node cannot open another event stream now (shutting down, too many streams)."""

    exit_code = 6
    http_status = 503
    kind = "unavailable"


class TooManyStreams(GsomiaError):
    """This user already holds as many event streams as one user may; close one first."""

    exit_code = 6
    http_status = 429
    kind = "too_many_requests"
    retry_after = 10  # seconds: a closed stream frees its place at once


class Companion(Protocol):
    """Another kind of stream of the node, sharing the broadcaster's limits and endings."""

    def held(self, name: str) -> int: ...

    def end_all(self) -> None: ...

    def end_session(self, session: str) -> int: ...


@dataclass(frozen=True, slots=True)
class Event:
    """One stored item, encoded once for every subscriber allowed to see it."""

    row: ObjectRow
    frame: bytes

    @property
    def seq(self) -> int:
        return self.row.seq


def _marking_refs(body: bytes) -> list[str]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return []
    refs = doc.get("object_marking_refs") if isinstance(doc, dict) else None
    return [r for r in refs if isinstance(r, str)] if isinstance(refs, list) else []


def encode_event(row: ObjectRow, r: NodeReader) -> Event:
    """The SSE frame of a stored item, with the marking-definitions it references."""
    markings = []
    for ref in _marking_refs(row.body):
        versions = r.versions(row.collection, ref)
        if versions:
            markings.append(orjson.Fragment(versions[-1].body))
    data = orjson.dumps(
        {
            "collection": row.collection,
            "item": row.item_id,
            "object": orjson.Fragment(row.body),
            "date_added": row.date_added,
            "markings": markings,
        }
    )
    return Event(row, b"id: %d\nevent: item\ndata: %s\n\n" % (row.seq, data))


_Queued = TypeVar("_Queued")

SHUTTING_DOWN = "the node is shutting down"  # a stream's last line, item or track
_DROPPED = "dropped: this stream fell behind; reconnect with Last-Event-ID"
SESSION_ENDED = "the session ended; sign in again"


class Ending(Protocol[_Queued]):
    """What ``end_subscriber`` needs of a subscriber of any kind of stream."""

    queue: asyncio.Queue[_Queued | None]
    ended: bool
    cut: bool
    reason: str


def end_subscriber(sub: Ending[_Queued], reason: str, *, at_once: bool = False) -> None:
    """Wake the subscriber's stream with the end marker, making room for it if needed;
    ``at_once``: send nothing more, not even what is queued (its session ended)."""
    if at_once:
        sub.cut = True
        sub.reason = reason
    if sub.ended:
        return
    sub.ended = True
    sub.reason = reason
    while True:
        try:
            sub.queue.put_nowait(None)
        except asyncio.QueueFull:
            sub.queue.get_nowait()
        else:
            return


@dataclass(eq=False)
class Subscriber:
    user: User
    queue: asyncio.Queue[Event | None]
    start: int  # the broadcast position when it subscribed: live events come after it
    session: str | None = None  # the console session it belongs to (None: an API stream)
    until: datetime | None = None  # wall instant at which it ends (its session's expiry)
    dropped: bool = False
    ended: bool = field(default=False)
    cut: bool = False  # ended at once: what is still queued is not sent
    reason: str = SHUTTING_DOWN  # said in the closing comment


class Broadcaster:
    """Reads what the store gained since the last broadcast and fans it out to subscribers."""

    def __init__(
        self,
        node: Node,
        *,
        heartbeat: float = 15.0,
        queue_size: int = QUEUE_SIZE,
        per_user: int = MAX_STREAMS_PER_USER,
    ) -> None:
        self.node = node
        self.heartbeat = heartbeat
        self.queue_size = queue_size
        self.per_user = per_user
        self.last_seq = 0
        self.closed = False
        self._subscribers: set[Subscriber] = set()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        #: other streams of the node (the track streams): their streams count against
        #: ``per_user``, and they end with the broadcaster's (shutdown, a session's end)
        self.companions: list[Companion] = []

    # ------------------------------------------------------------------ life cycle
    def start(self) -> None:
        with self.node.store.reading() as r:
            self.last_seq = r.last_seq()
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="gsomia-events")

    def notify(self) -> None:
        """Something new may be stored: broadcast it soon (safe to call at any time)."""
        if self._wake is not None:
            self._wake.set()

    def end_all(self) -> None:
        """End every stream now and refuse new ones (on shutdown)."""
        self.closed = True
        for sub in list(self._subscribers):
            self._end(sub, SHUTTING_DOWN)
        for companion in self.companions:
            companion.end_all()

    def end_session(self, session: str) -> int:
        """End every stream of the console session ``session`` now (sign-out, expiry, the user
        removed); returns how many were ended."""
        ending = [sub for sub in self._subscribers if sub.session == session]
        for sub in ending:
            self._end(sub, SESSION_ENDED, at_once=True)
        return len(ending) + sum(c.end_session(session) for c in self.companions)

    async def close(self) -> None:
        self.end_all()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    # ------------------------------------------------------------------ fan-out
    async def _run(self) -> None:
        wake = self._wake
        if wake is None:
            return
        while not self.closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=POLL_SECONDS)
            wake.clear()
            try:
                await self.dispatch_off_loop()
            except Exception:
                log.exception("event broadcast failed; retrying at the next notification")

    def dispatch(self) -> int:
        """Broadcast every row stored after ``last_seq``; returns how many were read."""
        read = 0
        while True:
            rows, events = self._read(self.last_seq)
            read += len(rows)
            if not self._advance(rows, events):
                return read

    async def dispatch_off_loop(self) -> int:
        """``dispatch``, with the store read (and the rows decrypted and encoded) on a worker
        thread: the loop only fans out.

        With no subscriber nothing is read, decrypted or encoded: ``last_seq`` moves to the
        store's last row (a subscriber starts from ``last_seq`` when it subscribes, so it
        misses nothing stored after it came). One that subscribes while the position is read
        (on the loop, so seen once the read returns) gets the rows read as before."""
        if not self._subscribers:
            last = await asyncio.to_thread(self._last_seq)
            if not self._subscribers:
                skipped = max(last - self.last_seq, 0)
                self.last_seq = max(last, self.last_seq)
                return skipped
        read = 0
        while True:
            rows, events = await asyncio.to_thread(self._read, self.last_seq)
            read += len(rows)
            if not self._advance(rows, events):
                return read

    def _last_seq(self) -> int:
        with self.node.store.reading() as r:
            return r.last_seq()

    def _advance(self, rows: list[ObjectRow], events: list[Event]) -> bool:
        """Move past a batch read after ``last_seq``, fanning its events out; True when the
        batch was full (more rows may follow)."""
        if not rows:
            return False
        self.last_seq = rows[-1].seq
        if self._subscribers:
            self._fan_out(events)
        return len(rows) >= BATCH

    def _read(self, after: int) -> tuple[list[ObjectRow], list[Event]]:
        """The rows stored after ``after`` (a batch), and the events of those that are items."""
        with self.node.store.reading() as r:
            rows = r.rows_after(after, BATCH)
            return rows, [encode_event(row, r) for row in rows if row.item_id is not None]

    def _fan_out(self, events: list[Event]) -> None:
        visible = self.node.visible
        for sub in list(self._subscribers):
            clearance = sub.user.clearance
            for event in events:
                if not visible(clearance, event.row):
                    continue
                try:
                    sub.queue.put_nowait(event)
                except asyncio.QueueFull:
                    sub.dropped = True
                    log.warning(
                        "event stream of %s dropped: more than %d events behind",
                        sub.user.name,
                        self.queue_size,
                    )
                    self._end(sub, _DROPPED)
                    break

    # ------------------------------------------------------------------ subscribers
    def subscribe(
        self,
        user: User,
        *,
        session: str | None = None,
        until: datetime | None = None,
        where: str = "-",
    ) -> Subscriber:
        """A new subscriber for ``user`` (of console session ``session``, ending at the wall
        instant ``until``); refused past ``per_user`` streams of this user (audited, naming
        ``where`` the request came from) or ``MAX_SUBSCRIBERS`` in all."""
        self.admit(user, what="event stream", where=where, open_=len(self._subscribers))
        sub = Subscriber(
            user, asyncio.Queue(self.queue_size), self.last_seq, session=session, until=until
        )
        self._subscribers.add(sub)
        return sub

    def admit(self, user: User, *, what: str, where: str, open_: int) -> None:
        """May ``user`` open one more stream (``what``: an item or a track stream)? Refused
        while the node shuts down, past ``per_user`` streams of this user of every kind (this
        broadcaster's and its companions', audited naming ``where``), or when ``open_``
        streams — those the caller counts — are ``MAX_SUBSCRIBERS`` already."""
        if self.closed:
            raise Unavailable(SHUTTING_DOWN)
        held = self.held(user.name) + sum(c.held(user.name) for c in self.companions)
        if held >= self.per_user:
            audit.refused(
                what, f"{held} streams open", user=user.name, party=self.node.party, address=where
            )
            msg = f"you already have {held} open event streams; close one and retry"
            raise TooManyStreams(msg)
        if open_ >= MAX_SUBSCRIBERS:
            raise Unavailable("too many open event streams; retry later")

    def held(self, name: str) -> int:
        """How many item streams the user ``name`` holds now."""
        return sum(1 for sub in self._subscribers if sub.user.name == name)

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)

    def _end(self, sub: Subscriber, reason: str, *, at_once: bool = False) -> None:
        self._subscribers.discard(sub)
        end_subscriber(sub, reason, at_once=at_once)

    def stream(
        self, sub: Subscriber, last_event_id: int | None, render: Render | None = None
    ) -> AsyncGenerator[bytes, None]:
        """The frames of one subscriber's stream: the backlog after ``last_event_id``, then
        live events (a subscriber is registered before its backlog is read: no gap). Frames
        are the native API's, or ``render``'s for each row when it is given. The subscriber
        leaves when the stream ends or, if the response never started it (the client went
        away first), when the stream is collected: its place is never held for ever."""
        frames = self._frames(sub, last_event_id, render)
        weakref.finalize(frames, self.unsubscribe, sub)
        return frames

    async def _frames(
        self, sub: Subscriber, last_event_id: int | None, render: Render | None
    ) -> AsyncGenerator[bytes, None]:
        try:
            yield b"retry: %d\n\n" % RETRY_MS
            sent = sub.start if last_event_id is None else last_event_id
            if last_event_id is not None:
                async for stored in self._backlog(sub, last_event_id):
                    sent = stored.seq
                    frame = _frame(stored, render)
                    if frame is not None:
                        await self._record(sub, stored)
                        yield frame
            while True:
                wait = self._wait(sub)
                if wait <= 0:
                    self._end(sub, SESSION_ENDED, at_once=True)
                    break
                try:
                    event = await asyncio.wait_for(sub.queue.get(), timeout=wait)
                except TimeoutError:
                    if wait >= self.heartbeat:
                        yield b": heartbeat\n\n"
                    continue
                if event is None or sub.cut:
                    break
                if event.seq <= sent:
                    continue  # already sent from the backlog
                sent = event.seq
                frame = _frame(event, render)
                if frame is not None:
                    await self._record(sub, event)
                    yield frame
            yield b": %s\n\n" % sub.reason.encode()
        finally:
            self.unsubscribe(sub)

    async def _record(self, sub: Subscriber, event: Event) -> None:
        """Record the delivery of an item's content to the subscriber, before it is sent (a
        commit shared with the other reads waiting; off the loop). A console stream's frames
        are the console's (route ``console``), an API stream's the event stream's."""
        route = accesses.EVENTS if sub.session is None else accesses.CONSOLE
        await asyncio.to_thread(register.record_rows, self.node, sub.user, [event.row], route)

    def _wait(self, sub: Subscriber) -> float:
        """Seconds to wait for the next event: a heartbeat, or less if the subscriber's session
        expires sooner (0 or less: it has expired)."""
        if sub.until is None:
            return self.heartbeat
        left = (sub.until - self.node.wall.now()).total_seconds()
        return min(self.heartbeat, left)

    async def _backlog(self, sub: Subscriber, after: int) -> AsyncIterator[Event]:
        """What was stored after ``after`` (resume), read straight from the store."""
        position = after
        clearance = sub.user.clearance
        while not sub.ended:
            rows, found = await asyncio.to_thread(self._read, position)  # off the loop
            events = [e for e in found if self.node.visible(clearance, e.row)]
            if not rows:
                return
            position = rows[-1].seq
            for event in events:
                if sub.cut:
                    return
                yield event
            if len(rows) < BATCH:
                return


def _frame(event: Event, render: Render | None) -> bytes | None:
    if render is None:
        return event.frame
    try:
        return render(event.row)
    except GsomiaError as exc:  # an item that cannot be shown is skipped, the stream goes on
        log.warning("event %d not rendered: %s", event.seq, exc)
        return None


# ------------------------------------------------------------------ after a commit
EVENTS = "events"  # the bus's event name: something new is stored (every worker's broadcaster)
WORK = "work"  # the bus's queue of outbound jobs (``gsomia.api.outbound``)
PUSH = "push"  # job ``push-<PEER>``: drain the releases due to PEER
MESSAGE = "message"  # job ``message-<PEER>``: send PEER's due messages
WITNESS = "witness"  # job ``witness-<PEER>``: one co-signing exchange with PEER


def job_key(kind: str, peer: str) -> str:
    """The key of the outbound job ``kind`` for ``peer`` (one such job queued at a time)."""
    return f"{kind}-{peer}"


class Notifier:
    """What a route says after a commit that stored items or queued releases or messages.

    It wakes this worker's broadcaster at once (``local``), publishes an ``events`` event on
    the bus (every other worker's broadcaster hears it) and enqueues ``push-P`` and
    ``message-P`` for every peer (a key already queued is dropped: the job there drains it).
    All of it is a hint: the rows in the store are the truth, and the schedules' sweep enqueues
    what is due if a hint is lost (a bus down, a worker dying between commit and enqueue). A
    bus failure is logged, never the caller's: its commit stands.
    """

    def __init__(self, peers: Sequence[str] = (), local: Callable[[], None] | None = None) -> None:
        self.peers = tuple(peers)
        self.local = local
        self.bus: Bus | None = None  # attached when the node's runtime has started its bus

    async def committed(self) -> None:
        if self.local is not None:
            self.local()
        bus = self.bus
        if bus is None:
            return
        try:
            keys = [job_key(kind, peer) for peer in self.peers for kind in (PUSH, MESSAGE)]
            await asyncio.gather(
                bus.publish(EVENTS, b"stored"), *(bus.enqueue(WORK, k, k.encode()) for k in keys)
            )
        except BusFailure as exc:
            log.warning("after a commit, the bus: %s (the sweep will find the rows)", exc)
