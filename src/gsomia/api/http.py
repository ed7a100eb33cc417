"""What every HTTP route shares: the error shape, media types, authentication, JSON bodies."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gsomia.errors import GsomiaError, Overloaded, StoreFailure
from gsomia.node.config import NodeConfig, User
from gsomia.node.throttle import Throttled

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"
JSON_MEDIA_TYPE = "application/json"
SECURITY_HEADERS: Mapping[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}

log = logging.getLogger("gsomia.api")
STORE_RETRY_AFTER_SECONDS = 2  # a store that failed: a pool reconnecting, a server restarting


class SecurityHeaders:
    """ASGI middleware: ``SECURITY_HEADERS`` on every HTTP response of the app it wraps.

    A response carrying classified content is never cached, never sniffed into HTML and never
    framed or given a script to run, whichever route (TAXII, native API, event stream, peer,
    log) or refusal made it: routes do not set these headers themselves. A header a route did
    set is kept (the console sends its own, stricter ``CONSOLE_HEADERS``, and ``no-cache`` on
    its static files)."""

    def __init__(self, app: ASGIApp, headers: Mapping[str, str] = SECURITY_HEADERS) -> None:
        self.app = app
        self.headers = [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", ()))
                present = {bytes(name).lower() for name, _ in raw}
                raw.extend(h for h in self.headers if h[0] not in present)
                message = {**message, "headers": raw}
            await send(message)

        await self.app(scope, receive, send_secured)


class HttpError(GsomiaError):
    """An HTTP-level refusal (401, 406, 413, 415…) with its status."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.http_status = status
        self.kind = kind


def error_body(status: int, kind: str, message: str) -> dict[str, Any]:
    """The one JSON error shape (TAXII 2.1's error message resource, used everywhere)."""
    return {
        "title": kind.replace("_", " "),
        "description": message,
        "error_code": kind,
        "http_status": str(status),
    }


def json_response(
    body: Any,
    *,
    status: int = 200,
    media_type: str = TAXII_MEDIA_TYPE,
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type=media_type,
        headers=headers,
    )


def native_json(body: Any, status: int = 200) -> Response:
    """A native API answer: ``body`` as ``application/json``."""
    return json_response(body, status=status, media_type=JSON_MEDIA_TYPE)


def error_response(exc: GsomiaError, media_type: str = TAXII_MEDIA_TYPE) -> Response:
    headers = {}
    message = " ".join(str(exc).split())
    if exc.http_status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="gsomia", charset="UTF-8", Bearer realm="gsomia"'
    if isinstance(exc, Throttled | Overloaded):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, StoreFailure):
        # the detail names the store (a file, a database server) and the driver's words: for the
        # node's operator, not for its clients, who learn only that it is worth trying again
        log.warning("store failure answered 503: %s", message)
        headers["Retry-After"] = str(STORE_RETRY_AFTER_SECONDS)
        message = "the node's store is unavailable; nothing of this request was done"
    return json_response(
        error_body(exc.http_status, exc.kind, message),
        status=exc.http_status,
        media_type=media_type,
        headers=headers,
    )


USER_SCOPE_KEY = "gsomia.user"  # where the edge guard leaves the user it authenticated


def authenticate(request: Request, config: NodeConfig) -> User:
    """The user the edge guard authenticated (and throttled) from the request's headers;
    without the guard in front, HTTP Basic (user name, token as password) or Bearer; 401
    otherwise."""
    found = request.scope.get(USER_SCOPE_KEY)
    if isinstance(found, User):
        return found
    return user_of(request.headers.get("authorization"), config)


def basic_name(header: str | None) -> str | None:
    """The user name an ``Authorization: Basic`` header claims (None when none is readable)."""
    scheme, _, credentials = (header or "").partition(" ")
    if scheme.lower() != "basic" or not credentials:
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    name, sep, _ = decoded.partition(":")
    return name if sep else None


def user_of(header: str | None, config: NodeConfig) -> User:
    """The user an ``Authorization`` header (HTTP Basic or Bearer) names; 401 otherwise."""
    if not header:
        raise HttpError(401, "unauthorized", "authentication required (HTTP Basic or Bearer token)")
    scheme, _, credentials = header.partition(" ")
    user: User | None = None
    if scheme.lower() == "bearer" and credentials:
        user = config.user_by_token(None, credentials.strip())
    elif scheme.lower() == "basic" and credentials:
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise HttpError(401, "unauthorized", "malformed Basic credentials") from None
        name, sep, token = decoded.partition(":")
        if sep:
            user = config.user_by_token(name, token)
    if user is None:
        raise HttpError(401, "unauthorized", "unknown user or token")
    return user


def _media_params(value: str) -> tuple[str, dict[str, str]]:
    main, *params = (p.strip() for p in value.split(";"))
    parsed = {}
    for p in params:
        k, _, v = p.partition("=")
        parsed[k.strip().lower()] = v.strip().strip('"')
    return main.lower(), parsed


def _refused_by_weight(params: dict[str, str]) -> bool:
    """Whether a media range's ``q`` weight is zero ("not acceptable", RFC 7231 §5.3.1)."""
    weight = params.get("q", "1")
    return weight.replace(".", "", 1).isdigit() and float(weight) == 0


def accepts_taxii(request: Request) -> None:
    """406 unless the client accepts TAXII 2.1 JSON: ``application/taxii+json`` with version
    2.1 or none (the latest, TAXII 2.1 §1.6.8.2), not weighted ``q=0``."""
    accept = request.headers.get("accept", "")
    for part in accept.split(","):
        if not part.strip():
            continue
        main, params = _media_params(part)
        if (
            main == "application/taxii+json"
            and params.get("version", "2.1") == "2.1"
            and not _refused_by_weight(params)
        ):
            return
    raise HttpError(
        406, "not_acceptable", f"this server speaks {TAXII_MEDIA_TYPE}; Accept was {accept[:100]!r}"
    )


def require_taxii_body(request: Request) -> None:
    """415 unless the body is TAXII 2.1 JSON."""
    ctype = request.headers.get("content-type", "")
    main, params = _media_params(ctype)
    if main != "application/taxii+json" or params.get("version", "2.1") != "2.1":
        raise HttpError(
            415,
            "unsupported_media_type",
            f"expected Content-Type {TAXII_MEDIA_TYPE}, got {ctype[:100]!r}",
        )


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 past ``limit`` bytes (declared or actual)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise HttpError(400, "bad_request", "Content-Length is not a number")
        if int(declared) > limit:
            raise HttpError(413, "too_large", f"the body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HttpError(413, "too_large", f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(raw: bytes, what: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise HttpError(
            400, "bad_request", f"{what}: malformed JSON at line {exc.lineno}, column {exc.colno}"
        ) from None


# ---------------------------------------------------------------------- strict JSON
MAX_JSON_INTEGER = 2**53 - 1  # I-JSON (RFC 7493): what every JSON reader carries exactly
_MAX_NUMBER_CHARS = 64  # a longer number literal is refused before it is converted


class _NotStrict(Exception):
    """A strictness rule the JSON text breaks (converted to HttpError by ``check_json``)."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> None:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise _NotStrict(f"duplicate key {key[:100]!r}")
        seen.add(key)


def _integer(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > len(str(MAX_JSON_INTEGER)) or abs(int(text)) > MAX_JSON_INTEGER:
        shown = text if len(text) <= 24 else f"{text[:12]}… ({digits} digits)"
        raise _NotStrict(f"integer {shown} is beyond ±(2**53 - 1), what JSON carries exactly")
    return 0


def _number(text: str) -> float:
    if len(text) > _MAX_NUMBER_CHARS or not math.isfinite(float(text)):
        raise _NotStrict(f"number {text[:24]}… is out of range")
    return 0.0


def _constant(text: str) -> None:
    raise _NotStrict(f"{text} is not JSON")


def check_json(raw: bytes, what: str) -> None:
    """Refuse (422) JSON text that readers could take in different ways: a duplicate key
    (orjson keeps the last, others the first), an integer beyond ±(2**53 - 1) (orjson turns it
    into a float; a 200,000-digit one costs seconds to convert), a non-finite number, NaN or
    Infinity, or nesting too deep to parse. Malformed text is left to the route's own parser,
    which names where it breaks; text that passes reads the same with every parser."""
    try:
        json.loads(
            raw,
            object_pairs_hook=_unique_keys,
            parse_int=_integer,
            parse_float=_number,
            parse_constant=_constant,
        )
    except _NotStrict as exc:
        raise HttpError(422, "bad_input", f"{what}: {exc}") from None
    except RecursionError:
        raise HttpError(422, "bad_input", f"{what}: nested too deeply") from None
    except ValueError:  # malformed or not UTF-8: the route's parser says where
        return
