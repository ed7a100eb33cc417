"""The conformance suite's node: the in-process node of tests/unit/api (its fixtures, a store
per test module); and the checks every section shares (the error resource, TAXII timestamps,
version 4 UUIDs)."""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

import orjson

from tests.integration.nodes import TAXII, report

# The in-process node of tests/unit/api, one per module, shared rather than written again.
from tests.unit.api.conftest import Api, api, kor, procs

__all__ = ["api", "kor", "procs"]  # fixtures, for pytest

if TYPE_CHECKING:
    import httpx

#: TAXII 2.1 §2 timestamp: RFC 3339, UTC with Z, microsecond precision.
TAXII_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


def own(api: Api) -> str:
    """The path of the node's own collection, by its id."""
    return f"/api/collections/{api.node.collection_id(api.node.party)}"


def received(api: Api, originator: str = "JPN") -> str:
    """The path of the collection of what the node received from ``originator``."""
    return f"/api/collections/{api.node.collection_id(originator)}"


def error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """A TAXII error resource (§3.6.1), checked: the TAXII media type, a title (required), and
    an http_status that matches the response's; returned."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == TAXII
    body: dict[str, Any] = response.json()
    assert isinstance(body["title"], str)
    assert body["title"]
    assert body["http_status"] == str(status)
    if code is not None:
        assert body["error_code"] == code
    return body


def is_v4_uuid(text: str) -> bool:
    """RFC 4122 §4.4: version 4, RFC 4122 variant, in canonical lowercase form."""
    try:
        found = uuid.UUID(text)
    except ValueError:
        return False
    return found.version == 4 and found.variant == uuid.RFC_4122 and str(found) == text


def post(api: Api, envelope: object, path: str | None = None, **kw: Any) -> httpx.Response:
    headers = {"Content-Type": TAXII, **kw.pop("headers", {})}
    content = envelope if isinstance(envelope, bytes) else orjson.dumps(envelope)
    return api.call("POST", f"{path or own(api)}/objects/", content=content, headers=headers, **kw)


def publish(api: Api, n: int, modified: str = "2026-01-01T00:00:00.000Z", **label: Any) -> str:
    """Publish report ``n`` (releasable to USA unless said) at ``modified``; its STIX id."""
    envelope = report(n, **{"releasable_to": ("USA",), **label})
    envelope["objects"][-1]["modified"] = modified
    response = post(api, envelope)
    assert response.status_code == 202, response.text
    return str(envelope["objects"][-1]["id"])
