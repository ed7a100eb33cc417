"""The node's ASGI application, wired: the api's routers, the console, the edge guard and the
security headers, around one opened ``Node``; its background work is the ``Runtime``'s
(``gsomia.app.runtime``), started and stopped by the app's lifespan.

The api (TAXII 2.1, the native API, event streams, the peer protocol, the log) and the console
are siblings that do not import each other; this module is where they meet. Middleware, outer
first: ``SecurityHeaders`` (every response, refusals included, carries the API's security
headers unless its route set its own), then ``Guard`` (credentials before a byte of body, then
bounded, strict JSON bodies), then the routes. One JSON error shape everywhere."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from gsomia import __version__
from gsomia.api.destructions import build_destruction_peer_router, build_destruction_router
from gsomia.api.events import Broadcaster, build_events_router, ending_streams_on_exit_signals
from gsomia.api.guard import Guard
from gsomia.api.http import (
    SECURITY_HEADERS,
    HttpError,
    SecurityHeaders,
    error_body,
    error_response,
    json_response,
)
from gsomia.api.logapi import build_log_router
from gsomia.api.native import build_native_router
from gsomia.api.peer import build_peer_router
from gsomia.api.peer_native import build_peer_native_router
from gsomia.api.registerapi import build_register_router
from gsomia.api.taxii import build_router
from gsomia.api.tls import peer_client
from gsomia.api.tracks import TrackLinks, build_tracks_router
from gsomia.app.runtime import Runtime
from gsomia.console.app import build_console
from gsomia.console.session import MAX_FORM
from gsomia.errors import GsomiaError
from gsomia.node.service import Node
from gsomia.node.trackfeed import TrackBus, TrackHub
from gsomia.node.tracks import Tracks
from gsomia.node.workers import Workers

log = logging.getLogger("gsomia.api")


def create_app(node: Node, *, push: bool = True, tls_password: bytes | None = None) -> FastAPI:
    """The ASGI app of ``node``; with ``push`` its outbound drainer and (on the worker holding
    the lease) its schedules run while it serves. Its bus is the node's (``node.config.bus``);
    its peer calls go over mutual TLS when the node has TLS (its key opened with
    ``tls_password``)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        await track_bus.start(runtime.bus)  # a shared bus: the other workers' track updates
        links: TrackLinks | None = None
        if push:
            links = TrackLinks(node, tracks, peer_client(node.config, password=tls_password))
            links.start()
        try:
            with ending_streams_on_exit_signals(broadcaster):
                yield
        finally:
            if links is not None:
                await links.stop()
                await links.client.aclose()
            await track_bus.stop()
            await runtime.stop()
            await asyncio.to_thread(workers.close)

    app = FastAPI(
        title=f"gsomia node {node.party}",
        version=__version__,
        description="TAXII 2.1 and the native API of a gsomia party node.",
        lifespan=lifespan,
        docs_url=None,  # the interactive docs load scripts from the internet; the spec is enough
        redoc_url=None,
    )
    broadcaster = Broadcaster(node, heartbeat=node.config.event_heartbeat)
    runtime = Runtime(node, broadcaster, push=push, tls_password=tls_password)
    notifier = runtime.notifier
    tracks = Tracks(node)  # the missile-warning tracks: the book, decisions, frames
    hub = TrackHub(tracks, broadcaster)  # their streams; the console finds it here
    track_bus = TrackBus(tracks)  # their fan-out to the node's other workers
    app.state.tracks = hub
    workers = Workers()  # every route's node calls run here, never on the event loop

    @app.exception_handler(GsomiaError)
    async def on_gsomia_error(_: Request, exc: GsomiaError) -> Response:
        return error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(_: Request, exc: StarletteHTTPException) -> Response:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return json_response(
            error_body(exc.status_code, kind, str(exc.detail)), status=exc.status_code
        )

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(_: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error_response(
            HttpError(422, "bad_input", f"{where}: {first.get('msg', 'invalid')}")
        )

    @app.exception_handler(Exception)
    async def on_unexpected(_: Request, exc: Exception) -> Response:
        log.error("unexpected error", exc_info=exc)
        # starlette answers this outermost, outside every middleware: the headers are set here
        return json_response(
            error_body(500, "internal_error", "internal error; see the node's log"),
            status=500,
            headers=dict(SECURITY_HEADERS),
        )

    app.include_router(build_router(node, workers, notifier))
    app.include_router(build_peer_router(node, workers, notifier))
    app.include_router(build_events_router(node, broadcaster))
    app.include_router(build_tracks_router(node, workers, tracks, hub))
    app.include_router(build_log_router(node, workers))
    # before the native API's: /items/{id}/accesses is matched before /items/{id}
    app.include_router(build_register_router(node, workers, notifier))
    app.include_router(build_native_router(node, workers, notifier))
    app.include_router(build_peer_native_router(node, workers, notifier))
    app.include_router(build_destruction_router(node, workers, notifier))
    app.include_router(build_destruction_peer_router(node, workers, notifier))
    app.include_router(build_console(node, broadcaster, workers, notifier, hub))  # /console/
    # credentials from the headers before a byte of body, then bounded, strict JSON bodies
    app.add_middleware(Guard, node=node, console_max_body=MAX_FORM, workers=workers)
    app.add_middleware(SecurityHeaders)  # added last: outermost, around the guard's refusals
    return app
