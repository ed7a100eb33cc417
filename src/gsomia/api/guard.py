"""The node's edge: credentials from the headers before a byte of body, then a bounded body.

``Guard`` is an ASGI middleware in front of every route. For each request it

1. sorts the route into its class (TAXII, native and log, peer, console, anything else);
2. checks the credentials that class takes, from the headers alone, and answers 401 (or 429,
   or a redirect to sign in on the console) without reading the body:

   - TAXII and native (``/taxii2/``, ``/api/``, ``/native/v1/``: events and the log included):
     HTTP Basic or Bearer, throttled per user name and per client address (``Node.throttle``);
   - peer (``/peer/``): the whole Ed25519 signature, from a key of a peer, within the window
     of wall time, over the method, the target and the body's digest carried in
     ``X-Gsomia-Content-Digest`` (so only a holder of a peer's private key makes the node read
     a peer body at all; the route checks the body against the signed digest once read);
     on a TLS node, first a client certificate (401 without), and after the signature the
     certificate pinned to the party whose key signed (403 for any other: a peer presenting
     another party's certificate is refused even with a valid signature);
   - console (``/console/``): a POST carries the node's session cookie (the sign-in form:
     its pre-session cookie), or is sent to the sign-in page (303) unread; the console then
     checks the session and the CSRF token;

3. reads the body, refusing with 413 a declared ``Content-Length`` over the class's limit
   before reading and a chunked body as soon as it passes the limit;
4. refuses JSON that parsers could read in different ways (``http.check_json``: duplicate
   keys, integers beyond ±(2**53 - 1), NaN, Infinity) on every route that takes JSON;

and only then hands the request, with the same bytes, to the application. Every refusal takes
the one JSON error shape; failed and throttled credentials go to the audit log with the user
name and the client's address, never the token.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, NoReturn

import anyio.to_thread
from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.responses import RedirectResponse

from gsomia.api.http import (
    USER_SCOPE_KEY,
    HttpError,
    basic_name,
    check_json,
    error_response,
    user_of,
)
from gsomia.api.logapi import MAX_COSIGNATURE_BYTES, PEER_CHECKPOINT_PATH, PEER_COSIGNATURE_PATH
from gsomia.api.peer import MAX_PUSH_BYTES, PEER_SCOPE_KEY, PUSH_PATH, verified_head
from gsomia.api.peer_native import MAX_MESSAGE_BYTES, MAX_NOTICE_BYTES
from gsomia.api.tls import CLIENT_CERT_SCOPE_KEY, check_pin, pinned_certs
from gsomia.api.tracks import TRACKS_PATH
from gsomia.domain.tracks import track_id
from gsomia.errors import BadInput, GsomiaError
from gsomia.node import accounting, audit, destruction, messages, reconciliation
from gsomia.node.config import User
from gsomia.node.throttle import Throttled, address_key, user_key
from gsomia.node.tracks import MAX_TRACK_BODY
from gsomia.node.workers import Workers

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from gsomia.node.service import Node

log = logging.getLogger("gsomia.peer")

# Body limits per class of routes, in bytes (TAXII publishes: the node's max_content_length).
NATIVE_MAX_BODY = 64 * 1024  # the largest native body (a report's detail) is a few KiB
# A sensor's track ingest: up to 1,000 updates (node.tracks.MAX_UPDATES_PER_POST), ~420 bytes
# each in compact JSON with short numbers, ~680 with every number at full precision and the
# longest sensor id: 680 KB at most. Several tracks at once (a route that may come): a larger
# cap. Only these exact paths get them.
TRACK_INGEST_MAX_BODY = 1024 * 1024
TRACKS_INGEST_MAX_BODY = 2 * 1024 * 1024
TRACK_INGEST_PREFIX = "/native/v1/tracks/"
TRACK_INGEST_SUFFIX = "/updates"
TRACKS_INGEST_PATH = "/native/v1/tracks/updates"
OTHER_MAX_BODY = 0  # no other route takes a body
PEER_MAX_BODY = {
    PUSH_PATH: MAX_PUSH_BYTES,  # a batch of sealed items
    TRACKS_PATH: MAX_TRACK_BODY,  # a window of track frames
    messages.CONSENT_REQUEST_PATH: MAX_NOTICE_BYTES,  # a source's carries the derived item
    messages.CONSENT_ANSWER_PATH: MAX_MESSAGE_BYTES,
    messages.REPORT_PATH: MAX_MESSAGE_BYTES,
    messages.NOTICE_PATH: MAX_NOTICE_BYTES,  # carries the re-labelled sealed item
    messages.PURPOSE_REQUEST_PATH: MAX_MESSAGE_BYTES,
    messages.PURPOSE_ANSWER_PATH: MAX_MESSAGE_BYTES,
    messages.NOTE_PATH: MAX_MESSAGE_BYTES,  # a signed note (at most 32 KiB, base64)
    messages.RECEIPT_PATH: MAX_MESSAGE_BYTES,
    reconciliation.INVENTORY_REQUEST_PATH: MAX_MESSAGE_BYTES,
    reconciliation.INVENTORY_PATH: reconciliation.MAX_INVENTORY_BYTES,  # a signed inventory
    accounting.REQUEST_PATH: MAX_MESSAGE_BYTES,
    accounting.ANSWER_PATH: accounting.MAX_ANSWER_BYTES,  # a line per item held
    destruction.REQUEST_PATH: MAX_MESSAGE_BYTES,
    destruction.CERTIFICATE_PATH: MAX_MESSAGE_BYTES,
    PEER_COSIGNATURE_PATH: MAX_COSIGNATURE_BYTES,
    PEER_CHECKPOINT_PATH: 0,
}
SIGN_IN = "/console/login"
_JSON_IN_THREAD = 256 * 1024  # larger bodies are checked off the event loop


class Credentials(Enum):
    USER = "API token"
    PEER = "peer signature"
    CONSOLE = "console session"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Edge:
    """What the guard asks of one class of routes."""

    name: str
    credentials: Credentials
    limit: int
    json: bool  # bodies are JSON, checked strictly


class ClientGoneError(Exception):
    """The client disconnected while its body was read: nothing to answer."""


class SignInFirst(Exception):
    """A console POST without its cookie: answered with a redirect to the sign-in page."""


class Guard:
    """The edge of the node. ``console_max_body`` is the console's largest form (a scenario
    upload is one), given by the composition root: the api does not import the console."""

    def __init__(
        self, app: ASGIApp, node: Node, console_max_body: int, workers: Workers | None = None
    ) -> None:
        self.app = app
        self.node = node
        self.console_max_body = console_max_body
        self.workers = Workers() if workers is None else workers
        # the console's cookie names (``console.session.Console.cookie_name``)
        self.session_cookie = f"gsomia_{node.party}"
        self.sign_in_cookie = f"{self.session_cookie}_pre"
        self.tls = node.config.tls is not None
        self.pins = pinned_certs(node.config)  # by party; a TLS node's peers all have one

    def edge(self, path: str) -> Edge:
        if path.startswith(("/taxii2/", "/api/")) or path in ("/taxii2", "/api"):
            limit = self.node.config.max_content_length
            return Edge("TAXII", Credentials.USER, limit, json=True)
        if path.startswith("/native/v1/") or path == "/native/v1":
            ingest = track_ingest_limit(path)
            if ingest is not None:
                return Edge("track ingest", Credentials.USER, ingest, json=True)
            return Edge("native API", Credentials.USER, NATIVE_MAX_BODY, json=True)
        if path.startswith("/peer/"):
            limit = PEER_MAX_BODY.get(path, 0)
            return Edge("peer protocol", Credentials.PEER, limit, json=True)
        if path.startswith("/console/") or path == "/console":
            return Edge("console", Credentials.CONSOLE, self.console_max_body, json=False)
        return Edge("other", Credentials.NONE, OTHER_MAX_BODY, json=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        edge = self.edge(scope["path"])
        headers = Headers(scope=scope)
        try:
            if edge.credentials in {Credentials.USER, Credentials.PEER}:
                # throttling reads and writes the store, a peer's signature is checked: off
                # the loop (and refused at once, 503, when too many requests wait already)
                await self.workers.run(self.admit, scope, headers, edge)
            else:
                self.admit(scope, headers, edge)
            body = await read_body(headers, receive, edge)
            if body and edge.json and _is_json(headers, edge):
                if len(body) > _JSON_IN_THREAD:
                    await anyio.to_thread.run_sync(check_json, body, "body")
                else:
                    check_json(body, "body")
        except ClientGoneError:
            return
        except SignInFirst:
            redirect = RedirectResponse(SIGN_IN, status_code=303)
            await redirect(scope, receive, send)
            return
        except GsomiaError as exc:
            await error_response(exc)(scope, receive, send)
            return
        await self.app(scope, receive if body is None else _replay(body, receive), send)

    # ------------------------------------------------------------------ credentials
    def admit(self, scope: Scope, headers: Headers, edge: Edge) -> None:
        if edge.credentials is Credentials.USER:
            scope[USER_SCOPE_KEY] = self.user(scope, headers)
        elif edge.credentials is Credentials.PEER:
            self.peer_headers(scope, headers)
        elif edge.credentials is Credentials.CONSOLE and scope["method"] == "POST":
            self.console_cookie(scope, headers)

    def user(self, scope: Scope, headers: Headers) -> User:
        """The user the ``Authorization`` header names, throttled per name and address."""
        header = headers.get("authorization")
        if not header:
            return user_of(None, self.node.config)  # 401; no guess was made
        throttle = self.node.throttle
        address = _address(scope)
        name = basic_name(header)
        keys = [address_key(address)] + ([] if name is None else [user_key(name)])
        try:
            on_record = throttle.check(*keys)
            try:
                user = user_of(header, self.node.config)
            except HttpError:
                delay = throttle.failed(*keys)
                audit.refused(
                    "authenticate",
                    "failed API credentials",
                    user=name,
                    party=self.node.party,
                    address=address,
                    path=scope["path"],
                    blocked_for=f"{delay:g}s",
                )
                raise
            name = user.name  # a Bearer token names its user only now
            if user_key(name) not in keys:
                on_record = throttle.check(user_key(name))
        except Throttled as exc:
            audit.refused(
                "authenticate",
                "throttled API credentials",
                user=name,
                party=self.node.party,
                address=address,
                path=scope["path"],
                retry_after=f"{exc.retry_after}s",
            )
            raise
        throttle.succeeded(user_key(user.name), on_record=on_record)
        return user

    def peer_headers(self, scope: Scope, headers: Headers) -> None:
        """A peer request's whole signature, verified from its headers (its body's digest is
        one of them) before a byte of the body is read: only a holder of a peer's private key
        can make the node read a peer body at all. The route checks the body against the
        signed digest once it has it. On a TLS node the client's certificate must be the one
        pinned to the signer."""
        cert = scope.get(CLIENT_CERT_SCOPE_KEY) if self.tls else None
        if self.tls and cert is None:
            self.refuse_peer(scope, None, HttpError(401, "unauthorized", "no client certificate"))
        head = verified_head(self.node, scope, {k.lower(): v for k, v in headers.items()})
        if self.tls:
            try:
                check_pin(self.pins, head.sender, cert)
            except HttpError as exc:
                self.refuse_peer(scope, head.sender, exc)
        scope[PEER_SCOPE_KEY] = head

    def refuse_peer(self, scope: Scope, sender: str | None, exc: HttpError) -> NoReturn:
        log.warning("refused peer request from %s: %s", _address(scope), exc)
        audit.refused(
            "peer request",
            str(exc),
            party=self.node.party,
            sender=sender,
            address=_address(scope),
            path=scope["path"],
        )
        raise exc

    def console_cookie(self, scope: Scope, headers: Headers) -> None:
        """A console POST without the cookie its form needs goes to the sign-in page, as the
        console sends a page request without a session (SignInRequired)."""
        cookies = cookie_parser(headers.get("cookie", ""))
        wanted = self.sign_in_cookie if scope["path"] == SIGN_IN else self.session_cookie
        if not cookies.get(wanted):
            audit.refused(
                "console POST",
                "no session cookie",
                party=self.node.party,
                path=scope["path"],
            )
            raise SignInFirst


def track_ingest_limit(path: str) -> int | None:
    """The body limit of a track ingest path (``/native/v1/tracks/{track id}/updates``, with a
    well-formed track id, or ``/native/v1/tracks/updates``); None for every other path, which
    keeps the native API's limit."""
    if path == TRACKS_INGEST_PATH:
        return TRACKS_INGEST_MAX_BODY
    if not (path.startswith(TRACK_INGEST_PREFIX) and path.endswith(TRACK_INGEST_SUFFIX)):
        return None
    middle = path[len(TRACK_INGEST_PREFIX) : -len(TRACK_INGEST_SUFFIX)]
    try:
        track_id(middle, "path")
    except BadInput:
        return None  # not a track id (nor one with a slash in it): the native API's limit
    return TRACK_INGEST_MAX_BODY


# ---------------------------------------------------------------------- the body
async def read_body(headers: Headers, receive: Receive, edge: Edge) -> bytes | None:
    """The whole body, bounded by ``edge.limit``; None when the request has none."""
    declared = headers.get("content-length")
    chunked = "transfer-encoding" in headers
    if declared is None and not chunked:
        return None
    if declared is not None:
        if not declared.isdigit():
            raise HttpError(400, "bad_request", "Content-Length is not a number")
        if int(declared) > edge.limit:
            raise _too_large(edge)
        if int(declared) == 0 and not chunked:
            return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGoneError
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > edge.limit:
            raise _too_large(edge)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _too_large(edge: Edge) -> HttpError:
    return HttpError(
        413,
        "too_large",
        f"the body is larger than {edge.limit} bytes, the limit of {edge.name} routes",
    )


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the body read once, then whatever the client sends next
    (its disconnection)."""
    given = False

    async def again() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


def _is_json(headers: Headers, edge: Edge) -> bool:
    """Whether the route will read the body as JSON: peer routes always; others when the
    Content-Type is JSON or absent (FastAPI then parses it as JSON)."""
    if edge.credentials is Credentials.PEER:
        return True
    ctype = headers.get("content-type", "").split(";")[0].strip().lower()
    return not ctype or ctype == "application/json" or ctype.endswith("+json")


def _address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"
