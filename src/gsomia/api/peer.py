"""The peer protocol: signed pushes of sealed items between nodes, and the outbox pusher.

Every peer request is signed over its method, target (path and query) and body; a receiver
verifies the signature against the method and target it was actually asked on. Retries and
back-off run on wall time (``WALL``), never on the node's scenario clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
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
from gsomia.node.service import Node
from gsomia.node.workers import Workers

log = logging.getLogger("gsomia.peer")
PUSH_PATH = "/peer/v1/releases"
MAX_PEER_BACKOFF = 30.0  # seconds between attempts at a peer that keeps failing
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


def build_peer_router(node: Node, workers: Workers) -> APIRouter:
    """Receiving pushes; verifying and storing run on ``workers``, never on the event loop."""
    router = APIRouter(tags=["peer protocol"], responses=ERRORS)

    @router.post(PUSH_PATH, summary="Receive sealed items released to this node")
    async def receive(request: Request) -> Response:
        body = await read_body(request, MAX_PUSH_BYTES)
        now = node.clock.now()
        sender = verified_sender(node, request, body)

        def receive() -> list[federation.Received]:
            return federation.receive(node, sender, federation.parse_push(body), now)

        results = await workers.run(receive)
        request.app.state.notify()
        return json_response(
            {"results": [r.to_json() for r in results]}, media_type="application/json"
        )

    return router


class BackgroundSender:
    """A task that runs ``once()`` until it finds nothing to do, then sleeps until woken (or
    ``idle`` seconds pass). Errors of one round are logged and the next round tries again."""

    name = "gsomia-sender"
    idle = 0.25

    def __init__(self, node: Node, client: httpx.AsyncClient, wall: Clock = WALL) -> None:
        self.node = node
        self.client = client
        self.wall = wall  # retries run on wall time, whatever the node's scenario clock
        self.wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._urls = {p.party: p.url for p in node.config.peers}

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def once(self) -> bool:
        """One round; False when nothing was due."""
        raise NotImplementedError

    async def _run(self) -> None:
        while True:
            try:
                busy = await self.once()
            except GsomiaError as exc:
                log.warning("%s: %s", self.name, exc)
                busy = False
            if not busy:
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), timeout=self.idle)


class Pusher(BackgroundSender):
    """Pushes due releases to peers, re-deciding each at send time; retries with backoff.

    A round takes the due releases, re-decides them, pushes each peer's share to all peers at
    once, and marks what the peers acknowledged as sent in one transaction (one fsync per
    round, whatever the number of peers). Releases published during a round go in the next,
    so rounds grow into batches under load. A crash between the push and the mark leaves the
    releases pending; they are pushed again and the receiver ignores the duplicates.
    """

    name = "gsomia-pusher"

    def __init__(self, node: Node, client: httpx.AsyncClient, wall: Clock = WALL) -> None:
        super().__init__(node, client, wall)
        self._retry_at: dict[str, float] = {}
        self._failures: dict[str, int] = {}

    async def once(self) -> bool:
        return await self.push_once()

    async def push_once(self) -> bool:
        """One round; False when nothing was due.

        Back-off is per peer: while a peer is unreachable its releases wait, and the round does
        not touch them, however many are queued (a peer down for a day costs nothing).
        """
        node = self.node
        now = self.wall.monotonic()
        available = [p for p in self._urls if self._retry_at.get(p, 0.0) <= now]
        rows = await asyncio.to_thread(federation.due_for, node, available) if available else []
        if not rows:
            return False
        ready = await asyncio.to_thread(federation.recheck, node, rows, node.clock.now())
        groups: dict[str, list[federation.Outgoing]] = defaultdict(list)
        for out in ready:
            groups[out.row.recipient].append(out)
        results = await asyncio.gather(*(self._push(r, outs) for r, outs in groups.items()))
        sent = [
            out
            for (_, outs), error in zip(groups.items(), results, strict=True)
            if error is None
            for out in outs
        ]
        if sent:
            await asyncio.to_thread(federation.mark_sent, node, sent, node.clock.now())
        for (recipient, outs), error in zip(groups.items(), results, strict=True):
            if error is None:
                self._failures.pop(recipient, None)
            else:
                failures = self._failures[recipient] = self._failures.get(recipient, 0) + 1
                delay = min(MAX_PEER_BACKOFF, 0.05 * 2 ** min(failures, 12))
                delay = max(delay, error.retry_after)  # what the peer asked, if it asked
                self._retry_at[recipient] = self.wall.monotonic() + delay
                await asyncio.to_thread(
                    federation.mark_failed,
                    node,
                    outs,
                    error.reason,
                    self.wall.now().timestamp(),
                    not_before=error.retry_after,
                )
        return True

    async def _push(self, recipient: str, outs: list[federation.Outgoing]) -> PushFailed | None:
        """Push one peer's releases; None when acknowledged, else what went wrong."""
        url = self._urls.get(recipient)
        if url is None:
            return PushFailed(f"no peer {recipient} configured")
        body = federation.push_body([o.item for o in outs])
        headers = federation.sign_request(
            self.node, recipient, body, self.wall.now(), method="POST", target=PUSH_PATH
        )
        headers["Content-Type"] = "application/json"
        try:
            response = await self.client.post(url + PUSH_PATH, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return PushFailed(f"{type(exc).__name__}: {exc}")
        if response.status_code != 200:
            log.warning(
                "peer %s refused a push: %s %s",
                recipient,
                response.status_code,
                response.text[:300],
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
