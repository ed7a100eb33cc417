"""What every HTTP route shares: the error shape, media types, authentication, JSON bodies."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gsomia.errors import GsomiaError
from gsomia.node.config import NodeConfig, User

TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"
JSON_MEDIA_TYPE = "application/json"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


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
        headers={**SECURITY_HEADERS, **(headers or {})},
    )


def error_response(exc: GsomiaError, media_type: str = TAXII_MEDIA_TYPE) -> Response:
    headers = {}
    if exc.http_status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="gsomia", charset="UTF-8", Bearer realm="gsomia"'
    return json_response(
        error_body(exc.http_status, exc.kind, " ".join(str(exc).split())),
        status=exc.http_status,
        media_type=media_type,
        headers=headers,
    )


def authenticate(request: Request, config: NodeConfig) -> User:
    """HTTP Basic (user name, token as password) or Bearer; 401 otherwise."""
    header = request.headers.get("authorization")
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


def accepts_taxii(request: Request) -> None:
    """406 unless the client accepts TAXII 2.1 JSON."""
    accept = request.headers.get("accept", "")
    for part in accept.split(","):
        if not part.strip():
            continue
        main, params = _media_params(part)
        if main == "application/taxii+json" and params.get("version", "2.1") == "2.1":
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
