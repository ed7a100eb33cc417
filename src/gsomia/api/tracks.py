"""Missile-warning tracks over HTTP: a sensor's ingest, the reads and the SSE stream of the native
API, the peer route that receives frames, and the per-peer senders (``TrackLinks``).

Native (``/native/v1``):

- ``POST /tracks/{track_id}/updates``: ``{"label": {...}, "updates": [...]}`` (1 to 1000), 202
  ``{"track", "accepted", "last_seq"}``; 409 for another label or a seq accepted already;
- ``POST /tracks/updates``: several tracks in one post (a salvo's sensor), ``{"tracks":
  [{"label", "updates"}, ...]}`` (1 to 64 tracks, each once, 1000 updates in all), checked as
  above per track, all or nothing (422 naming ``tracks[i]...``, 409 likewise), 202
  ``{"tracks": [{"track", "accepted", "last_seq"}, ...], "accepted": n}``;
- ``GET /tracks``: the tracks the user may see; ``GET /tracks/{track_id}``: one, so far (404
  for hidden exactly as missing);
- ``GET /tracks/stream[?track=ID]``: server-sent events ``event: track`` (``TrackHub``).

- ``POST /tracks/{track_id}/consents``: the originator's admin consents to its track going to
  ``recipient`` through the hub ``via`` (``{"recipient", "via", "expires_at"?}``), 201 the
  consent; the token travels to the hub with the track's frames.

Peer: ``POST /peer/v1/tracks`` ``{"frames": [base64, ...], "consents"?: [base64, ...]}``:
200 ``{"accepted": n}``; 409 ``{..., "next": {track: seq}}`` when a frame's ``prev`` is not the
last seq accepted from the sender on its track (frames of other tracks before it stay
accepted). Each consent token names a track of the request's frames and verifies against its
sealed label, or the request is refused.

Links. One sender task per peer: it waits for runs (no polling). An idle link sends what is queued
at once; what is queued while its request is in flight, or less than a window (``track_window_ms``)
after the last one left, gathers into the next (Nagle-like: no delay when the load is light,
batching when it is heavy; at most one window, and one signature, per window time per link, so the
signing cost is bounded). It seals the window (one signature for the frames, one for the relays)
and sends it in one signed POST on a kept-alive connection; one request in flight per link, in
order. What the peer took is stored (``Tracks.sent``) by the link's saver task, in order, while the
next window goes. A 409 restarts the link's tracks where the peer wants them (from the updates
still kept). A peer that fails is retried with a backoff; meanwhile new runs wait in the link's
buffer, at most ``LINK_BUFFER`` updates: past it the oldest are dropped (counted, logged) — warning
data is perishable. A sealed window that failed for ``STALE_SECONDS`` is dropped too (its instant
would no longer be within the peer's skew).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Sequence
from typing import Annotated, Any

import httpx
import orjson
from fastapi import APIRouter, Path, Query, Request
from pydantic import Field
from starlette.responses import Response, StreamingResponse

from gsomia.api.events import STREAM_RESPONSES, accepts_event_stream, too_many_streams
from gsomia.api.http import (
    HttpError,
    authenticate,
    error_body,
    json_response,
    native_json,
    read_body,
)
from gsomia.api.models import ERRORS, ErrorOut, Out, ok
from gsomia.api.outbound import backoff
from gsomia.api.peer import WALL, verified_sender
from gsomia.clock import Clock
from gsomia.domain.tracks import TRACK_ID_PATTERN
from gsomia.errors import GsomiaError
from gsomia.node import federation
from gsomia.node.config import NodeConfig, User
from gsomia.node.events import SSE_MEDIA_TYPE, TooManyStreams
from gsomia.node.service import Node
from gsomia.node.trackfeed import TrackHub
from gsomia.node.tracks import (
    MAX_TRACK_BODY,
    MAX_TRACKS_PER_POST,
    MAX_UPDATES_PER_POST,
    Run,
    Sealed,
    Tracks,
    frames_body,
    parse_frames,
)
from gsomia.node.workers import Workers
from gsomia.seal.tracks import OpenedFrame

log = logging.getLogger("gsomia.tracks")

PREFIX = "/native/v1"
TRACKS_PATH = "/peer/v1/tracks"
LINK_BUFFER = 20_000  # updates waiting on one link; the oldest are dropped past it
MAX_WINDOW_UPDATES = 5_000  # updates sealed in one window (the rest wait for the next)
STALE_SECONDS = 30.0  # wall seconds a sealed window is retried before it is dropped

TrackId = Annotated[str, Path(pattern=TRACK_ID_PATTERN, description="track--<uuid>")]


# ------------------------------------------------------------------ response models
class PositionOut(Out):
    lat: float
    lon: float
    alt_km: float


class VelocityOut(Out):
    east: float
    north: float
    up: float


class EllipseOut(Out):
    lat: float
    lon: float
    semi_major_km: float
    semi_minor_km: float
    orientation_deg: float


class UpdateOut(Out):
    track: str
    seq: int
    at: str
    party: str
    sensor: str
    position: PositionOut
    velocity: VelocityOut
    phase: str
    launch: PositionOut
    impact: EllipseOut
    synthesized: bool


class TrackLabelOut(Out):
    id: str
    originator: str
    classification: str
    releasable_to: list[str]
    topics: list[str]
    purposes: list[str] | None = None
    retain_until: str | None = None
    derived_from: list[dict[str, Any]] | None = None


class TrackSummaryOut(Out):
    track: str
    label: TrackLabelOut
    originator: str
    first_at: str
    last_at: str
    last_seq: int
    updates: int
    synthesized: bool


class TrackListOut(Out):
    tracks: list[TrackSummaryOut]


class TrackEventOut(Out):
    track: str
    label: TrackLabelOut
    update: UpdateOut
    route: list[str]
    received: str


class TrackOut(Out):
    summary: TrackSummaryOut
    updates: list[TrackEventOut] = Field(description="The updates kept so far (at most 2,000).")


class IngestOut(Out):
    track: str
    accepted: int
    last_seq: int


class IngestManyOut(Out):
    tracks: list[IngestOut]
    accepted: int = Field(description="Updates accepted, all tracks together.")


#: The body of a sensor's post of several tracks (checked in ``Tracks.check_ingest_many``; a
#: label and an update as in the per-track post, docs/formats.md).
INGEST_MANY_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["tracks"],
                "additionalProperties": False,
                "properties": {
                    "tracks": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": MAX_TRACKS_PER_POST,
                        "items": {
                            "type": "object",
                            "required": ["label", "updates"],
                            "additionalProperties": False,
                            "properties": {
                                "label": {"type": "object", "description": "The track's label"},
                                "updates": {
                                    "type": "array",
                                    "minItems": 1,
                                    "maxItems": MAX_UPDATES_PER_POST,
                                    "items": {"type": "object"},
                                    "description": "Its new updates, seqs increasing",
                                },
                            },
                        },
                    }
                },
            }
        }
    },
}


class TrackConsentOut(Out):
    track: str
    item: str
    originator: str
    recipient: str
    via: str
    granted_at: str
    expires_at: str | None = None


class FramesOut(Out):
    accepted: int


class FramesConflictOut(ErrorOut):
    next: dict[str, int] = Field(description="Per track, the seq this node wants next.")


def _render(model: type[Out], doc: dict[str, Any]) -> dict[str, Any]:
    return model.model_validate(doc).model_dump(mode="json", exclude_none=True)


async def _user_and_json(request: Request, config: NodeConfig) -> tuple[User, Any]:
    """The authenticated user of a native post, then its body parsed as JSON (400 if not)."""
    user = authenticate(request, config)
    body = await read_body(request, config.max_content_length)
    try:
        return user, orjson.loads(body)
    except orjson.JSONDecodeError:
        raise HttpError(400, "bad_request", "body: not JSON") from None


# ------------------------------------------------------------------ routes
def _ingest_many_route(router: APIRouter, node: Node, workers: Workers, tracks: Tracks) -> None:
    """``POST /native/v1/tracks/updates``: a sensor's updates of several tracks in one post."""
    config = node.config

    @router.post(
        PREFIX + "/tracks/updates",
        tags=["tracks"],
        summary="A sensor's updates of several of this node's tracks (a salvo), in one post",
        status_code=202,
        responses=ok(IngestManyOut, 202),
        openapi_extra={"requestBody": INGEST_MANY_BODY},
    )
    async def ingest_many(request: Request) -> Response:
        user, doc = await _user_and_json(request, config)
        posted = await workers.run(tracks.check_ingest_many, user, doc)
        summaries = tracks.accept_many(posted, node.wall.now())
        done = [
            {"track": label.id, "accepted": len(updates), "last_seq": summary.last_seq}
            for (label, updates), summary in zip(posted, summaries, strict=True)
        ]
        total = sum(len(updates) for _, updates in posted)
        return native_json({"tracks": done, "accepted": total}, 202)


def build_tracks_router(node: Node, workers: Workers, tracks: Tracks, hub: TrackHub) -> APIRouter:
    router = APIRouter(responses=ERRORS)
    config = node.config
    _ingest_many_route(router, node, workers, tracks)

    @router.post(
        PREFIX + "/tracks/{track_id}/updates",
        tags=["tracks"],
        summary="A sensor's updates of one of this node's tracks",
        status_code=202,
        responses=ok(IngestOut, 202),
    )
    async def ingest(request: Request, track_id: TrackId) -> Response:
        user, doc = await _user_and_json(request, config)
        label, updates = await workers.run(tracks.check_ingest, user, track_id, doc)
        summary = tracks.accept(label, updates, node.wall.now())
        return native_json(
            {"track": track_id, "accepted": len(updates), "last_seq": summary.last_seq}, 202
        )

    @router.post(
        PREFIX + "/tracks/{track_id}/consents",
        tags=["tracks"],
        summary="Consent to one of this node's tracks going to a party through a hub",
        status_code=201,
        responses=ok(TrackConsentOut, 201),
    )
    async def grant_consent(request: Request, track_id: TrackId) -> Response:
        user, doc = await _user_and_json(request, config)
        token = await workers.run(tracks.grant, user, track_id, doc)
        return native_json(_render(TrackConsentOut, token.to_json()), 201)

    @router.get(
        PREFIX + "/tracks",
        tags=["tracks"],
        summary="The missile-warning tracks you may see at this node",
        responses=ok(TrackListOut),
    )
    async def list_tracks(request: Request) -> Response:
        user = authenticate(request, config)
        found = hub.tracks(user)
        return native_json(_render(TrackListOut, {"tracks": [t.to_json() for t in found]}))

    @router.get(
        PREFIX + "/tracks/stream",
        tags=["real time"],
        summary="Stream the track updates you may see (server-sent events)",
        response_class=StreamingResponse,
        responses=STREAM_RESPONSES,
    )
    async def stream(
        request: Request,
        track: Annotated[
            str | None, Query(pattern=TRACK_ID_PATTERN, description="One track only")
        ] = None,
    ) -> Response:
        user = authenticate(request, config)
        accepts_event_stream(request)
        where = request.client.host if request.client is not None else "-"
        try:
            frames = hub.stream(user, track=track, where=where)
        except TooManyStreams as exc:
            return too_many_streams(exc)
        return StreamingResponse(
            frames, media_type=SSE_MEDIA_TYPE, headers={"X-Accel-Buffering": "no"}
        )

    @router.get(
        PREFIX + "/tracks/{track_id}",
        tags=["tracks"],
        summary="A track you may see, with its updates so far",
        responses=ok(TrackOut),
    )
    async def read_track(request: Request, track_id: TrackId) -> Response:
        user = authenticate(request, config)
        summary, events = hub.so_far(user, track_id)
        doc = {"summary": summary.to_json(), "updates": [e.to_json() for e in events]}
        return native_json(_render(TrackOut, doc))

    @router.post(
        TRACKS_PATH,
        tags=["peer protocol"],
        summary="Receive track frames sealed for this node",
        responses={
            **ok(FramesOut),
            409: {"model": FramesConflictOut, "description": "A frame's prev is not the last"},
        },
    )
    async def receive(request: Request) -> Response:
        body = await read_body(request, MAX_TRACK_BODY)
        sender = verified_sender(node, request, body)
        received = node.wall.now()
        loop = asyncio.get_running_loop()

        def heard(frames: Sequence[OpenedFrame]) -> None:
            # to the book, the streams and the hub's relays as soon as they are accepted,
            # while the transaction commits (``Tracks.receive``)
            loop.call_soon_threadsafe(tracks.deliver, frames, received)

        def judge() -> Any:
            frames, consents = parse_frames(body)
            return tracks.receive(sender, frames, consents, accepted=heard)

        result = await workers.run(judge)
        if result.conflicts:
            doc = error_body(
                409,
                "conflict",
                "a frame's prev is not the last seq accepted from you on its track",
            )
            return json_response({**doc, "next": result.conflicts}, status=409)
        return json_response({"accepted": len(result.accepted)})

    return router


# ------------------------------------------------------------------ links
class _Link:
    def __init__(self, peer: str, url: str) -> None:
        self.peer = peer
        self.url = url
        self.pending: deque[Run] = deque()
        self.size = 0  # updates pending
        self.dropped = 0  # updates dropped for the bound, since start
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.saves: asyncio.Queue[list[Sealed]] = asyncio.Queue()  # taken, not yet stored
        self.saver: asyncio.Task[None] | None = None


class TrackLinks:
    """The per-peer senders of a node's tracks (see the module); ``Tracks.outlet``."""

    def __init__(
        self,
        node: Node,
        tracks: Tracks,
        client: httpx.AsyncClient,
        *,
        wall: Clock = WALL,
        buffer: int = LINK_BUFFER,
    ) -> None:
        self.node = node
        self.tracks = tracks
        self.client = client
        self.wall = wall
        self.buffer = buffer
        self.window = node.config.track_window_ms / 1000  # the least time between two windows
        self._links = {p.party: _Link(p.party, p.url) for p in node.config.peers}
        tracks.outlet = self

    def start(self) -> None:
        for link in self._links.values():
            link.task = asyncio.create_task(self._run(link), name=f"gsomia-track-{link.peer}")
            link.saver = asyncio.create_task(self._saver(link), name=f"gsomia-track-{link.peer}-s")

    async def stop(self) -> None:
        for link in self._links.values():
            if link.task is not None:
                link.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await link.task
                link.task = None
            if link.saver is not None:
                await link.saves.join()  # what the peer took is kept before the node stops
                link.saver.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await link.saver
                link.saver = None

    def queue(self, peer: str, run: Run) -> None:
        link = self._links.get(peer)
        if link is None:
            return
        link.pending.append(run)
        link.size += len(run.updates)
        while link.size > self.buffer and len(link.pending) > 1:
            old = link.pending.popleft()
            link.size -= len(old.updates)
            link.dropped += len(old.updates)
            log.warning(
                "track link to %s: buffer full; dropped %d update(s) of %s (%d dropped so far)",
                peer,
                len(old.updates),
                old.track,
                link.dropped,
            )
        link.wake.set()

    def dropped(self, peer: str) -> int:
        """Updates dropped on the link to ``peer`` for its bound, since the node started."""
        link = self._links.get(peer)
        return 0 if link is None else link.dropped

    def _take(self, link: _Link) -> list[Run]:
        runs: list[Run] = []
        taken = 0
        while link.pending and (
            not runs or taken + len(link.pending[0].updates) <= MAX_WINDOW_UPDATES
        ):
            run = link.pending.popleft()
            taken += len(run.updates)
            runs.append(run)
        link.size -= taken
        return runs

    async def _run(self, link: _Link) -> None:
        failures = 0
        loop = asyncio.get_running_loop()
        last = -self.window  # when the last window left
        while True:
            if not link.pending:
                link.wake.clear()
                await link.wake.wait()
            # Nagle-like: an idle link sends at once (after this turn of the loop, so the runs
            # queued by one request go together); runs queued while a request is in flight,
            # or less than a window after the last one left, gather and go in the next: at
            # most one window (one signature) per ``window`` per link, each run waiting at
            # most the longer of the window and the request in flight
            await asyncio.sleep(max(0.0, last + self.window - loop.time()))
            last = loop.time()
            runs = self._take(link)
            try:
                frames, consents = await asyncio.to_thread(self._seal, link.peer, runs)
                if frames:
                    failures = await self._send(link, frames, consents, failures)
            except GsomiaError as exc:
                log.warning("track link to %s: a window dropped: %s", link.peer, exc)
            except Exception:
                log.exception("track link to %s: a window dropped", link.peer)

    def _seal(self, peer: str, runs: list[Run]) -> tuple[list[Sealed], list[bytes]]:
        """A window sealed for ``peer`` and the consent tokens of its tracks (one thread hop)."""
        frames = self.tracks.seal(peer, runs)
        if not frames:
            return frames, []
        return frames, self.tracks.tokens_for(peer, [f.track for f in frames])

    async def _saver(self, link: _Link) -> None:
        """Keep what ``link``'s peer took (``Tracks.sent``), in order, off the send path: the
        next window goes while the last one is being stored (the link's positions are in
        memory already; a node that stops first keeps nothing of it, and the peer's 409
        restarts the link from where it is)."""
        while True:
            frames = await link.saves.get()
            try:
                await asyncio.to_thread(self.tracks.sent, link.peer, frames)
            except GsomiaError as exc:
                log.warning("track link to %s: frames sent but not kept: %s", link.peer, exc)
            except Exception:
                log.exception("track link to %s: frames sent but not kept", link.peer)
            finally:
                link.saves.task_done()

    async def _send(
        self, link: _Link, frames: list[Sealed], consents: list[bytes], failures: int
    ) -> int:
        """Send one sealed window (with the consent tokens of its tracks) until it is taken,
        refused or stale; the failures in a row."""
        body = frames_body((f.raw for f in frames), consents)
        started = self.wall.monotonic()
        while True:
            status, answer = await self._post(link, body)
            if status == 200:
                link.saves.put_nowait(frames)
                return 0
            if status == 409:
                sent = {f.track for f in frames}  # a peer's wishes for other tracks: ignored
                wanted = {k: v for k, v in _wanted(answer).items() if k in sent}
                conflicted = [f for f in frames if f.track in wanted]
                taken = [f for f in frames if f.track not in wanted]
                if taken:
                    link.saves.put_nowait(taken)
                self.tracks.unsent(link.peer, conflicted)
                self._requeue(link, self.tracks.rewind(link.peer, wanted))
                return 0
            if status is not None and 400 <= status < 500 and status != 429:
                log.warning(
                    "track link to %s: refused (HTTP %d): %s; %d frame(s) dropped",
                    link.peer,
                    status,
                    repr(answer[:300]),
                    len(frames),
                )
                self.tracks.unsent(link.peer, frames)
                return 0
            failures += 1
            if await asyncio.to_thread(self.tracks.outdated, frames):
                # a boundary (or a consent's expiry) passed since sealing: decided again now,
                # the still-allowed updates sealed anew (relays are not resent)
                log.info(
                    "track link to %s: a decision boundary passed; window re-decided", link.peer
                )
                self.tracks.unsent(link.peer, frames)
                first: dict[str, int] = {}
                for f in frames:
                    if not f.relay:
                        first[f.track] = min(first.get(f.track, f.first), f.first)
                self._requeue(link, self.tracks.rewind(link.peer, first))
                return failures
            if self.wall.monotonic() - started > STALE_SECONDS:
                log.warning(
                    "track link to %s: down for %.0f s; %d stale frame(s) dropped",
                    link.peer,
                    STALE_SECONDS,
                    len(frames),
                )
                self.tracks.unsent(link.peer, frames)
                return failures
            await asyncio.sleep(backoff(failures))

    def _requeue(self, link: _Link, runs: list[Run]) -> None:
        """``runs`` to be sent first on ``link`` (a rewind), within the link's bound: those
        past it are dropped (counted, logged)."""
        room = max(self.buffer - link.size, 0)
        kept: list[Run] = []
        for run in runs:
            if len(run.updates) > room:
                link.dropped += len(run.updates)
                log.warning(
                    "track link to %s: buffer full; %d update(s) of %s not resent",
                    link.peer,
                    len(run.updates),
                    run.track,
                )
                continue
            room -= len(run.updates)
            kept.append(run)
        for run in reversed(kept):
            link.pending.appendleft(run)
            link.size += len(run.updates)

    async def _post(self, link: _Link, body: bytes) -> tuple[int | None, str]:
        headers = federation.sign_request(
            self.node, link.peer, body, self.wall.now(), method="POST", target=TRACKS_PATH
        )
        headers["Content-Type"] = "application/json"
        try:
            response = await self.client.post(link.url + TRACKS_PATH, content=body, headers=headers)
        except httpx.HTTPError as exc:
            log.info("track link to %s: %s: %s", link.peer, type(exc).__name__, exc)
            return None, ""
        return response.status_code, response.text


def _wanted(answer: str) -> dict[str, int]:
    try:
        doc = orjson.loads(answer)
    except orjson.JSONDecodeError:
        return {}
    found = doc.get("next") if isinstance(doc, dict) else None
    if not isinstance(found, dict):
        return {}
    return {
        k: v
        for k, v in found.items()
        if isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 1
    }
