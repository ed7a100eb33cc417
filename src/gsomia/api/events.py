"""Server-sent events: every item newly visible at this node, per user, as soon as it is stored.

``GET /native/v1/events`` streams ``text/event-stream``. Each item stored at the node — published
here or received from a peer — is one event::

    id: <seq>
    event: item
    data: {"collection": ..., "item": ..., "object": {...}, "date_added": ..., "markings": [...]}

``id`` is the object's position in the store (``seq``), so a client that reconnects with
``Last-Event-ID`` first gets what was stored after it, then the live stream; nothing is missed
and nothing is sent twice. A user sees only the items their clearance and need-to-know allow
(Art. 7, ``Node.visible``). A comment line is sent as a heartbeat when the stream is idle.

One ``Broadcaster`` per app reads new rows from the store once, after the app's ``notify()``
(called after anything new is stored) or at the latest every second, and fans them out to the
subscribers' bounded queues. A subscriber that falls behind by a full queue is dropped (its
stream ends with a comment saying so; the client resumes with ``Last-Event-ID``), never the node.
On shutdown every stream ends cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from gsomia.api.http import SECURITY_HEADERS, HttpError, authenticate
from gsomia.node.config import User
from gsomia.node.service import Node
from gsomia.store.sqlite_node import NodeReader, ObjectRow

log = logging.getLogger("gsomia.events")

EVENTS_PATH = "/native/v1/events"
SSE_MEDIA_TYPE = "text/event-stream"
QUEUE_SIZE = 1024  # events a subscriber may lag behind before it is dropped
BATCH = 256  # rows read from the store at a time
MAX_SUBSCRIBERS = 512
POLL_SECONDS = 1.0  # a safety net: new rows are picked up even without a notify()
RETRY_MS = 1000  # how long a client waits before reconnecting (the SSE ``retry`` field)
_MAX_SEQ = 2**63 - 1


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


@dataclass(eq=False)
class Subscriber:
    user: User
    queue: asyncio.Queue[Event | None]
    start: int  # the broadcast position when it subscribed: live events come after it
    dropped: bool = False
    ended: bool = field(default=False)


class Broadcaster:
    """Reads what the store gained since the last broadcast and fans it out to subscribers."""

    def __init__(
        self, node: Node, *, heartbeat: float = 15.0, queue_size: int = QUEUE_SIZE
    ) -> None:
        self.node = node
        self.heartbeat = heartbeat
        self.queue_size = queue_size
        self.last_seq = 0
        self.closed = False
        self._subscribers: set[Subscriber] = set()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

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
            self._end(sub)

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
                self.dispatch()
            except Exception:
                log.exception("event broadcast failed; retrying at the next notification")

    def dispatch(self) -> int:
        """Broadcast every row stored after ``last_seq``; returns how many were read."""
        read = 0
        while True:
            with self.node.store.reading() as r:
                rows = r.rows_after(self.last_seq, BATCH)
                events = [encode_event(row, r) for row in rows if row.item_id is not None]
            if not rows:
                return read
            read += len(rows)
            self.last_seq = rows[-1].seq
            if self._subscribers:
                self._fan_out(events)
            if len(rows) < BATCH:
                return read

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
                    self._end(sub)
                    break

    # ------------------------------------------------------------------ subscribers
    def subscribe(self, user: User) -> Subscriber:
        if self.closed:
            raise HttpError(503, "unavailable", "the node is shutting down")
        if len(self._subscribers) >= MAX_SUBSCRIBERS:
            raise HttpError(503, "unavailable", "too many open event streams; retry later")
        sub = Subscriber(user, asyncio.Queue(self.queue_size), self.last_seq)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)

    def _end(self, sub: Subscriber) -> None:
        """Wake the subscriber's stream with the end marker, making room for it if needed."""
        self._subscribers.discard(sub)
        if sub.ended:
            return
        sub.ended = True
        while True:
            try:
                sub.queue.put_nowait(None)
            except asyncio.QueueFull:
                sub.queue.get_nowait()
            else:
                return

    async def stream(
        self, sub: Subscriber, last_event_id: int | None
    ) -> AsyncGenerator[bytes, None]:
        """The frames of one subscriber's stream: the backlog after ``last_event_id``, then
        live events (a subscriber is registered before its backlog is read: no gap)."""
        try:
            yield b"retry: %d\n\n" % RETRY_MS
            sent = sub.start if last_event_id is None else last_event_id
            if last_event_id is not None:
                async for frame, seq in self._backlog(sub, last_event_id):
                    sent = seq
                    yield frame
            while True:
                try:
                    event = await asyncio.wait_for(sub.queue.get(), timeout=self.heartbeat)
                except TimeoutError:
                    yield b": heartbeat\n\n"
                    continue
                if event is None:
                    break
                if event.seq <= sent:
                    continue  # already sent from the backlog
                sent = event.seq
                yield event.frame
            if sub.dropped:
                yield b": dropped: this stream fell behind; reconnect with Last-Event-ID\n\n"
            else:
                yield b": the node is shutting down\n\n"
        finally:
            self.unsubscribe(sub)

    async def _backlog(self, sub: Subscriber, after: int) -> AsyncIterator[tuple[bytes, int]]:
        """What was stored after ``after`` (resume), read straight from the store."""
        position = after
        while not sub.ended:
            with self.node.store.reading() as r:
                rows = r.rows_after(position, BATCH)
                events = [
                    encode_event(row, r)
                    for row in rows
                    if row.item_id is not None and self.node.visible(sub.user.clearance, row)
                ]
            if not rows:
                return
            position = rows[-1].seq
            for event in events:
                yield event.frame, event.seq
            if len(rows) < BATCH:
                return


@contextlib.contextmanager
def ending_streams_on_exit_signals(broadcaster: Broadcaster) -> Iterator[None]:
    """End every stream at the first SIGINT/SIGTERM, then let the server's handler run.

    uvicorn waits for open responses to finish before it shuts the application down, and an
    event stream never finishes by itself; without this, a shutdown would wait for the graceful
    timeout and cancel the streams. Outside the main thread (tests in-process) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    previous: dict[int, Any] = {int(sig): signal.getsignal(sig) for sig in signals}

    def handler(sig: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(broadcaster.end_all)
        chained = previous.get(sig)
        if callable(chained):
            chained(sig, frame)
        elif chained == signal.SIG_DFL:
            signal.signal(sig, signal.SIG_DFL)
            signal.raise_signal(sig)

    for each in signals:
        signal.signal(each, handler)
    try:
        yield
    finally:
        for number, chained in previous.items():
            if signal.getsignal(number) is handler:
                signal.signal(number, chained)


def _last_event_id(request: Request) -> int | None:
    raw = request.headers.get("last-event-id")
    if raw is None:
        raw = request.query_params.get("last_event_id")
    if raw is None or raw.strip() == "":
        return None
    raw = raw.strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or int(raw) > _MAX_SEQ:
        raise HttpError(400, "bad_request", "Last-Event-ID: expected an event id this node sent")
    return int(raw)


def _accepts_event_stream(request: Request) -> None:
    """406 unless the client accepts ``text/event-stream`` (an absent Accept accepts all)."""
    accept = request.headers.get("accept")
    if accept is None:
        return
    for part in accept.split(","):
        media = part.split(";")[0].strip().lower()
        if media in (SSE_MEDIA_TYPE, "text/*", "*/*"):
            return
    raise HttpError(
        406, "not_acceptable", f"this is a {SSE_MEDIA_TYPE} stream; Accept was {accept[:100]!r}"
    )


def build_events_router(node: Node, broadcaster: Broadcaster) -> APIRouter:
    router = APIRouter(tags=["real time"])
    responses: dict[int | str, dict[str, Any]] = {
        200: {"content": {SSE_MEDIA_TYPE: {}}, "description": "An endless event stream."}
    }

    @router.get(
        EVENTS_PATH,
        summary="Stream the items newly visible to you at this node (server-sent events)",
        response_class=StreamingResponse,
        responses=responses,
    )
    async def events(request: Request) -> Response:
        user = authenticate(request, node.config)
        _accepts_event_stream(request)
        last = _last_event_id(request)
        frames = broadcaster.stream(broadcaster.subscribe(user), last)
        return StreamingResponse(
            frames,
            media_type=SSE_MEDIA_TYPE,
            headers={**SECURITY_HEADERS, "X-Accel-Buffering": "no"},
        )

    return router


Notify = Callable[[], None]


def notify_all(*targets: Notify) -> Notify:
    """One ``app.state.notify`` that wakes every listener in turn."""

    def notify() -> None:
        for target in targets:
            target()

    return notify
