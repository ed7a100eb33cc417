"""One middleware sets the security headers of every response that carries classified content:
TAXII (the object route too), the native API, event streams, the peer protocol, the log, and
the guard's refusals; the console keeps its own, stricter headers. In-process, no server."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from gsomia.api.events import EVENTS_PATH
from gsomia.api.guard import PEER_MAX_BODY
from gsomia.api.http import SECURITY_HEADERS
from gsomia.api.logapi import PEER_CHECKPOINT_PATH, request_target
from gsomia.app.asgi import create_app
from gsomia.app.boot import load_config, open_node
from gsomia.clock import SystemClock
from gsomia.console.session import CONSOLE_HEADERS
from gsomia.node import federation
from gsomia.node.service import Node
from tests.integration.nodes import PASSPHRASE, TAXII, make_nodes, report

API_CSP = "default-src 'none'; frame-ancestors 'none'"
CID = "originated-KOR"  # the own collection's alias (TAXII 2.1 §5.2.1)
OBJECTS = f"/api/collections/{CID}/objects/"
REPORT_ID = "report--00000000-0000-4000-8000-000000000001"


@pytest.fixture(scope="module")
def nodes(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Node, Node, dict[str, str]]]:
    """KOR's node (to be asked) and USA's (a peer that signs), opened in process, and the
    tokens of KOR's users."""
    procs = make_nodes(tmp_path_factory.mktemp("headers"), ("KOR", "USA"))
    kor, usa = (
        open_node(load_config(procs[p].config), passphrase=PASSPHRASE.encode()) for p in procs
    )
    try:
        yield kor, usa, procs["KOR"].users
    finally:
        kor.store.close()
        usa.store.close()


def basic(token: str, name: str = "analyst") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{token}".encode()).decode()}


async def response_head(
    app: Any, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str]]:
    """The status and headers a GET of ``path`` starts its response with; the client then goes
    away (so an endless event stream ends too)."""
    loop = asyncio.get_running_loop()
    started: asyncio.Future[dict[str, Any]] = loop.create_future()
    asked = False

    async def receive() -> dict[str, Any]:
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await started
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and not started.done():
            started.set_result(message)

    target, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
        "root_path": "",
        "path": target,
        "raw_path": target.encode(),
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
    }
    task = asyncio.create_task(app(scope, receive, send))
    start = await asyncio.wait_for(started, 30)
    await asyncio.wait_for(task, 30)
    names = {bytes(k).decode().lower(): bytes(v).decode() for k, v in start["headers"]}
    return int(start["status"]), names


def assert_secured(path: str, status: int, headers: dict[str, str], expected: int) -> None:
    assert status == expected, f"GET {path}: {status}"
    assert headers.get("x-content-type-options") == "nosniff", path
    assert headers.get("cache-control") == "no-store", path
    assert headers.get("content-security-policy") == API_CSP, path


def test_the_middleware_sets_exactly_the_api_headers() -> None:
    assert dict(SECURITY_HEADERS) == {
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
        "Content-Security-Policy": API_CSP,
    }


def test_every_route_class_carries_no_store_nosniff_and_the_csp(
    nodes: tuple[Node, Node, dict[str, str]],
) -> None:
    kor, usa, tokens = nodes
    token = tokens["analyst"]
    app = create_app(kor, push=False)
    user = {**basic(token), "Accept": TAXII}

    async def run() -> None:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            published = await c.post(
                OBJECTS,
                content=orjson.dumps(report(1)),
                headers={**user, "Content-Type": TAXII},
            )
            assert published.status_code == 202, published.text
            admin = basic(tokens["admin"], "admin")
            signed = await c.post("/native/v1/log/checkpoint", headers=admin)
            assert signed.status_code == 200, signed.text
        peer = federation.sign_request(  # as the co-signer asks (Cosigner.round)
            usa,
            "KOR",
            request_target("GET", PEER_CHECKPOINT_PATH),
            SystemClock().now(),
            method="GET",
            target=PEER_CHECKPOINT_PATH,
        )
        cases: list[tuple[str, dict[str, str], int]] = [
            ("/taxii2/", user, 200),  # TAXII discovery
            (OBJECTS, user, 200),  # TAXII objects
            (f"{OBJECTS}{REPORT_ID}/", user, 200),  # TAXII object: had neither no-store nor CSP
            (f"{OBJECTS}{REPORT_ID}/versions/", user, 200),
            (f"/api/collections/{CID}/manifest/", user, 200),
            ("/native/v1/agreements", basic(token), 200),  # native API
            ("/native/v1/log/checkpoint", basic(token), 200),  # the log (a signed note)
            ("/native/v1/log/checkpoint?format=json", basic(token), 200),
            (EVENTS_PATH, {**basic(token), "Accept": "text/event-stream"}, 200),  # event stream
            (PEER_CHECKPOINT_PATH, peer, 200),  # the peer protocol
            ("/taxii2/", {"Accept": TAXII}, 401),  # the guard's refusal
            (PEER_CHECKPOINT_PATH, {}, 401),
            (f"{OBJECTS}report--00000000-0000-4000-8000-000000000999/", user, 404),
        ]
        for path, headers, expected in cases:
            status, got = await response_head(app, path, headers)
            assert_secured(path, status, got, expected)

    asyncio.run(run())


def test_the_console_keeps_its_own_headers(nodes: tuple[Node, Node, dict[str, str]]) -> None:
    kor, _, _ = nodes
    app = create_app(kor, push=False)

    async def run() -> None:
        status, page = await response_head(app, "/console/login")
        assert status == 200
        assert page["content-security-policy"] == CONSOLE_HEADERS["Content-Security-Policy"]
        assert page["content-security-policy"] != API_CSP
        assert page["x-frame-options"] == CONSOLE_HEADERS["X-Frame-Options"]
        assert page["cache-control"] == CONSOLE_HEADERS["Cache-Control"]
        status, static = await response_head(app, "/console/static/console.css")
        assert status == 200
        assert static["cache-control"] == "no-cache"  # the route's own choice is kept
        assert static["content-security-policy"] == CONSOLE_HEADERS["Content-Security-Policy"]

    asyncio.run(run())


def test_a_route_header_is_kept_and_a_missing_one_added() -> None:
    """Unit-level: the middleware adds what a response lacks and never overrides it."""
    from starlette.responses import Response

    from gsomia.api.http import SecurityHeaders

    inner = Response(b"x", headers={"Cache-Control": "no-cache"})
    app = SecurityHeaders(inner)

    async def run() -> None:
        status, headers = await response_head(app, "/")
        assert status == 200
        assert headers["cache-control"] == "no-cache"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["content-security-policy"] == API_CSP

    asyncio.run(run())


def test_every_peer_route_that_takes_a_body_has_a_limit_at_the_edge(
    nodes: tuple[Node, Node, dict[str, str]],
) -> None:
    """The guard answers 413 to a peer body on a path it sets no limit for: a peer route
    missing from ``PEER_MAX_BODY`` could never be reached on a running node."""
    kor, _, _ = nodes
    paths = create_app(kor, push=False).openapi()["paths"]
    posted = {p for p, ops in paths.items() if p.startswith("/peer/") and "post" in ops}
    assert posted
    assert sorted(posted - set(PEER_MAX_BODY)) == []
