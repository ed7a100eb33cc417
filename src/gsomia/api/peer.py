"""The peer protocol: signed pushes of sealed items between nodes (received here, sent by
``push_releases`` for the outbound drainer, ``gsomia.api.outbound``).

Every peer request is signed over its method, target (path and query) and body; a receiver
verifies the signature against the method and target it was actually asked on. Retries and
back-off run on wall time (``WALL``), never on the node's scenario clock.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import httpx
from fastapi import APIRouter, Request
from starlette.responses import Response
from starlette.types import Scope

from gsomia.api.http import HttpError, json_response, read_body
from gsomia.api.models import ERRORS
from gsomia.clock import Clock, SystemClock
from gsomia.errors import GsomiaError
from gsomia.node import federation
from gsomia.node.events import Notifier
from gsomia.node.service import Node
from gsomia.node.workers import Workers

log = logging.getLogger("gsomia.peer")
PUSH_PATH = "/peer/v1/releases"
MAX_RETRY_AFTER = 300  # seconds: the longest a busy peer's Retry-After holds its releases
WALL = SystemClock()  # peer requests are stamped in wall time, whatever the node's clock
MAX_PUSH_BYTES = 64 * 1024 * 1024


def signed_target(request: Request) -> str:
    """The target a peer request was made on (path and query), as its signature covers it."""
    return target_of(request.scope)


def target_of(scope: Scope) -> str:
    """A request's path and query, exactly as its signature covers them."""
    path: str = scope["path"]
    query: bytes = scope.get("query_string", b"")
    return path + (f"?{query.decode('latin-1')}" if query else "")


PEER_SCOPE_KEY = "gsomia.peer"  # where the edge guard leaves a peer request's verified head


def verified_head(node: Node, scope: Scope, headers: Mapping[str, str]) -> federation.SignedHead:
    """A peer request's signature checked from its headers alone, before its body is read
    (``headers`` with lower-case names); 401 otherwise. Wall time judges the window."""
    try:
        return federation.verify_request_head(
            node, headers, WALL.now(), method=scope["method"], target=target_of(scope)
        )
    except GsomiaError as exc:
        log.warning("refused peer request: %s", exc)
        raise HttpError(401, "unauthorized", str(exc)) from None


def verified_sender(node: Node, request: Request, signed: bytes) -> str:
    """The peer whose key signed this request (method, target and ``signed``); 401 otherwise.

    The edge guard has verified the signature from the headers already and left the verified
    head in the request's scope: then only the body is checked against the signed digest (the
    Ed25519 signature is not verified twice). Without the guard in front, everything is.
    Wall time judges the signature's window, whatever the node's scenario clock says."""
    try:
        head = request.scope.get(PEER_SCOPE_KEY)
        if isinstance(head, federation.SignedHead):
            return federation.verify_body(head, signed)
        headers = {k.lower(): v for k, v in request.headers.items()}
        return federation.verify_request(
            node, headers, signed, WALL.now(), method=request.method, target=signed_target(request)
        )
    except GsomiaError as exc:
        log.warning("refused peer request: %s", exc)
        raise HttpError(401, "unauthorized", str(exc)) from None


def build_peer_router(node: Node, workers: Workers, notifier: Notifier) -> APIRouter:
    """Receiving pushes; verifying and storing run on ``workers``, never on the event loop;
    ``notifier`` hears of what was stored."""
    router = APIRouter(tags=["peer protocol"], responses=ERRORS)

    @router.post(PUSH_PATH, summary="Receive sealed items released to this node")
    async def receive(request: Request) -> Response:
        body = await read_body(request, MAX_PUSH_BYTES)
        now = node.clock.now()
        sender = verified_sender(node, request, body)

        def receive() -> list[federation.Received]:
            return federation.receive(node, sender, federation.parse_push(body), now)

        results = await workers.run(receive)
        await notifier.committed()
        return json_response(
            {"results": [r.to_json() for r in results]}, media_type="application/json"
        )

    return router


async def push_releases(
    node: Node,
    client: httpx.AsyncClient,
    recipient: str,
    outs: list[federation.Outgoing],
    wall: Clock = WALL,
) -> PushFailed | None:
    """Push one peer's releases in one signed request; None when acknowledged, else what went
    wrong (and how long a busy peer asked to be left alone)."""
    url = next((p.url for p in node.config.peers if p.party == recipient), None)
    if url is None:
        return PushFailed(f"no peer {recipient} configured")
    body = federation.push_body([o.item for o in outs])
    headers = federation.sign_request(
        node, recipient, body, wall.now(), method="POST", target=PUSH_PATH
    )
    headers["Content-Type"] = "application/json"
    try:
        response = await client.post(url + PUSH_PATH, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return PushFailed(f"{type(exc).__name__}: {exc}")
    if response.status_code != 200:
        log.warning(
            "peer %s refused a push: %s %s", recipient, response.status_code, response.text[:300]
        )
        return PushFailed(f"HTTP {response.status_code}", retry_after(response))
    return None


@dataclass(frozen=True, slots=True)
class PushFailed:
    """Why a push to a peer failed, and how long the peer asked to be left alone (seconds)."""

    reason: str
    retry_after: float = 0.0


def retry_after(response: httpx.Response) -> float:
    """The delay a busy peer asks for (``Retry-After`` in seconds on a 429 or 503; at most
    ``MAX_RETRY_AFTER``), 0 when it asks none. A date or garbage counts as none: the sender's own
    back-off applies then."""
    if response.status_code not in {429, 503}:
        return 0.0
    value = response.headers.get("retry-after", "").strip()
    if not value.isdigit():
        return 0.0
    return float(min(int(value), MAX_RETRY_AFTER))
