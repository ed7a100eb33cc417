"""The web console of a node, mounted at ``/console/`` by ``gsomia.app.asgi.create_app``.

``build_console(node, broadcaster)`` returns the router: sign-in and sign-out, the static
files (``/console/static/NAME``, read once at start-up), the live event stream
(``/console/events``) and the pages of the page modules, each added by its
``register(router, console)`` (see ``gsomia.console.session`` for what a page handler uses).
Every route of the router goes through ``ConsoleRoute``: a request without a session is sent to
the sign-in page, a refused form answers 403, a missing item 404 — as HTML pages with the
console's security headers, never a traceback.

Failed sign-ins are throttled (``Console.sign_in``): a blocked address or name is answered 429
with the sign-in page saying how long to wait and a ``Retry-After`` header. A console event
stream belongs to its session: signing out (or the session expiring) ends it; a user holds at
most ``gsomia.node.events.MAX_STREAMS_PER_USER`` streams (429 past that).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from importlib import resources
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gsomia.console import destructions, feed, pages, reconciliation, tracks
from gsomia.console.registerpages import register_pages
from gsomia.console.session import (
    CONSOLE_HEADERS,
    CSRF_FIELD,
    PRE_SESSION_SECONDS,
    PREFIX,
    SESSION_HOURS,
    Console,
    Refused,
    Sessions,
    SignInFailed,
    SignInRequired,
    check_token,
    client_address,
    console_secret,
    make_env,
    read_form,
)
from gsomia.errors import BadInput, Denied, GsomiaError, NotFound, StoreFailure
from gsomia.node import audit
from gsomia.node.events import SSE_MEDIA_TYPE, Broadcaster, Notifier, TooManyStreams
from gsomia.node.service import Node
from gsomia.node.throttle import Throttled
from gsomia.node.trackfeed import TrackHub
from gsomia.node.workers import Workers

log = logging.getLogger("gsomia.console")

STATIC_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
_MAX_SEQ = 2**63 - 1


def route_class(console: Console) -> type[APIRoute]:
    """Routes that turn the console's refusals into HTML pages (or a redirect to sign-in)."""

    class ConsoleRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def guarded(request: Request) -> Response:
                try:
                    return await handler(request)
                except SignInRequired as exc:
                    return exc.response
                except Refused as exc:
                    found = console.current_user(request)
                    console.refuse(request, None if found is None else found[0], str(exc))
                    return error_page(console, request, exc)
                except GsomiaError as exc:
                    return error_page(console, request, exc)

            return guarded

    return ConsoleRoute


_TITLES = {
    403: "Refused",
    404: "Not found",
    409: "Conflict",
    422: "Not accepted",
    429: "Too many requests",
}


def error_page(console: Console, request: Request, exc: GsomiaError) -> Response:
    """A refusal or failure as an HTML page with its status (the detail of a 5xx is logged)."""
    status = exc.http_status
    title = "Denied" if isinstance(exc, Denied) else _TITLES.get(status, "Not available now")
    message = " ".join(str(exc).split())
    if status >= 500:
        log.error("console %s failed: %s", request.url.path[:200], exc)
    if isinstance(exc, StoreFailure):  # its detail names the store: for the operator's log only
        message = "The node's store is unavailable; nothing was done. Try again in a moment."
    response = console.render(request, "error.html", status=status, title=title, message=message)
    if isinstance(exc, TooManyStreams):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _static_files() -> dict[str, tuple[bytes, str]]:
    found: dict[str, tuple[bytes, str]] = {}
    folder = resources.files("gsomia.console").joinpath("static")
    for entry in folder.iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in STATIC_TYPES:
            found[entry.name] = (entry.read_bytes(), STATIC_TYPES[suffix])
    return found


def build_console(
    node: Node,
    broadcaster: Broadcaster,
    workers: Workers | None = None,
    notifier: Notifier | None = None,
    track_hub: TrackHub | None = None,
) -> APIRouter:
    """The console's router (paths under ``/console/``), pages of every page module included;
    its node calls run on ``workers`` (the API's, given by the composition root), and
    ``notifier`` hears of the commits that queued releases or messages. With ``track_hub``
    (the node's track streams) the Tracks page is served too."""

    def end_streams(sid: str) -> None:
        # a session's streams end with it: the item streams and, through the broadcaster's
        # companions, the track streams
        broadcaster.end_session(sid)

    sessions = Sessions(node.store, console_secret(node.keyring), on_end=end_streams)
    console = Console(
        node,
        broadcaster,
        make_env(),
        sessions,
        workers=Workers() if workers is None else workers,
        notifier=Notifier() if notifier is None else notifier,
    )
    router = APIRouter(route_class=route_class(console), include_in_schema=False)
    _register_basics(router, console)
    feed.register(router, console)
    if track_hub is not None:
        tracks.register(router, console, track_hub)
    pages.register(router, console)
    reconciliation.register(router, console)
    register_pages(router, console)
    destructions.register(router, console)
    return router


def _register_basics(router: APIRouter, console: Console) -> None:
    node = console.node
    static = _static_files()
    pre_cookie = f"{console.cookie_name}_pre"

    @router.get(PREFIX + "/static/{name}")
    async def static_file(name: str) -> Response:
        found = static.get(name)
        if found is None:
            raise NotFound(f"no static file {name[:80]!r}")
        body, media_type = found
        headers = {**CONSOLE_HEADERS, "Cache-Control": "no-cache"}
        return Response(body, media_type=media_type, headers=headers)

    @router.get(PREFIX + "/login")
    async def login_page(request: Request) -> Response:
        return _login_form(request)

    def _login_form(request: Request, *, status: int = 200, message: str | None = None) -> Response:
        nonce, login_csrf = console.sessions.login_form(console.wall_now())
        response = console.render(
            request,
            "login.html",
            status=status,
            title="Sign in",
            login_csrf=login_csrf,
            message=message,
        )
        response.set_cookie(
            pre_cookie,
            nonce,
            max_age=PRE_SESSION_SECONDS,
            path=PREFIX + "/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @router.post(PREFIX + "/login")
    async def login(request: Request) -> Response:
        form = await read_form(request)
        console.sessions.check_login_form(
            request.cookies.get(pre_cookie, ""), form.get(CSRF_FIELD, ""), console.wall_now()
        )
        name = form.get("name", "").strip() or None
        try:
            token = form.get("token", "").strip()
            user = await console.run(console.sign_in, request, name, token)  # the store
        except Throttled as exc:
            response = _login_form(
                request,
                status=exc.http_status,
                message=(
                    "Too many failed sign-ins from this address or for this name. "
                    f"Try again in {exc.retry_after} seconds."
                ),
            )
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        except SignInFailed:
            return _login_form(request, status=401, message="Unknown user or token.")
        _, cookie = await console.run(console.sessions.create, user, console.wall_now())
        response = console.redirect(PREFIX + "/")
        response.set_cookie(
            console.cookie_name,
            cookie,
            max_age=SESSION_HOURS * 3600,
            path=PREFIX + "/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        response.delete_cookie(pre_cookie, path=PREFIX + "/", httponly=True, samesite="strict")
        audit.accepted("console sign-in", user=user.name, party=node.party)
        return response

    @router.post(PREFIX + "/logout")
    async def logout(request: Request) -> Response:
        found = console.current_user(request)
        if found is not None:
            _, session = found
            form = await read_form(request)
            check_token(form.get(CSRF_FIELD, ""), session.csrf)
            await console.run(console.sessions.end, session)
        response = console.redirect(PREFIX + "/login")
        response.delete_cookie(
            console.cookie_name, path=PREFIX + "/", httponly=True, samesite="strict"
        )
        return response

    @router.get(PREFIX + "/events")
    async def events(request: Request) -> Response:
        found = console.current_user(request)
        if found is None:
            raise Refused("sign in first")
        user, session = found
        last = _last_event_id(request)
        sub = console.broadcaster.subscribe(
            user, session=session.sid, until=session.expires, where=client_address(request)
        )
        frames = console.broadcaster.stream(sub, last, feed.event_renderer(console, user))
        return StreamingResponse(
            frames,
            media_type=SSE_MEDIA_TYPE,
            headers={**CONSOLE_HEADERS, "X-Accel-Buffering": "no"},
        )


def _last_event_id(request: Request) -> int | None:
    raw = (request.headers.get("last-event-id") or "").strip()
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or int(raw) > _MAX_SEQ:
        raise BadInput("Last-Event-ID: expected an event id this node sent")
    return int(raw)
