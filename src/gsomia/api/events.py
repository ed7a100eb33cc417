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
A user holds at most ``MAX_STREAMS_PER_USER`` streams at once (API and console together): the
next is refused with 429, the JSON error shape and ``Retry-After``.

One ``Broadcaster`` per app (``gsomia.node.events``, shared with the web console) reads new rows
from the store once, after a ``notify()`` (the ``Notifier`` after a commit on this worker, or an
``events`` event on the bus after a commit on any worker) or at the latest every second, and
fans them out to the subscribers' bounded queues. A subscriber that falls behind by a full
queue is dropped (its stream ends with a comment saying so; the client resumes with
``Last-Event-ID``), never the node. On shutdown every stream ends cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from gsomia.api.http import HttpError, authenticate, error_body, json_response
from gsomia.api.models import ERRORS
from gsomia.node.events import (
    SSE_MEDIA_TYPE,
    Broadcaster,
    Event,
    Subscriber,
    TooManyStreams,
    encode_event,
)
from gsomia.node.service import Node

EVENTS_PATH = "/native/v1/events"
_MAX_SEQ = 2**63 - 1


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


#: The OpenAPI responses of an event stream route.
STREAM_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {SSE_MEDIA_TYPE: {}}, "description": "An endless event stream."},
    429: {"description": "You already hold as many event streams as one user may."},
}


def too_many_streams(exc: TooManyStreams) -> Response:
    """The 429 answer to a stream refused by the user's stream limit."""
    return json_response(
        error_body(exc.http_status, exc.kind, str(exc)),
        status=exc.http_status,
        headers={"Retry-After": str(exc.retry_after)},
    )


def accepts_event_stream(request: Request) -> None:
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
    router = APIRouter(tags=["real time"], responses=ERRORS)

    @router.get(
        EVENTS_PATH,
        summary="Stream the items newly visible to you at this node (server-sent events)",
        response_class=StreamingResponse,
        responses=STREAM_RESPONSES,
    )
    async def events(request: Request) -> Response:
        user = authenticate(request, node.config)
        accepts_event_stream(request)
        last = _last_event_id(request)
        where = request.client.host if request.client is not None else "-"
        try:
            sub = broadcaster.subscribe(user, where=where)
        except TooManyStreams as exc:
            return too_many_streams(exc)
        frames = broadcaster.stream(sub, last)
        return StreamingResponse(
            frames,
            media_type=SSE_MEDIA_TYPE,
            headers={"X-Accel-Buffering": "no"},
        )

    return router


__all__ = [
    "EVENTS_PATH",
    "SSE_MEDIA_TYPE",
    "STREAM_RESPONSES",
    "Broadcaster",
    "Event",
    "Subscriber",
    "accepts_event_stream",
    "build_events_router",
    "encode_event",
    "ending_streams_on_exit_signals",
    "too_many_streams",
]
