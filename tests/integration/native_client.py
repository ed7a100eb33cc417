"""A few helpers for talking to live nodes' native API in the integration tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import orjson

from .nodes import TAXII, NodeProc

T = TypeVar("T")
ERROR_KEYS = {"title", "description", "error_code", "http_status"}


def native(
    node: NodeProc,
    method: str,
    path: str,
    user: str | None = "admin",
    *,
    json: Any = None,
    content: bytes | None = None,
    params: dict[str, str] | None = None,
) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    body = content if content is not None else (None if json is None else orjson.dumps(json))
    return httpx.request(
        method,
        f"{node.url}/native/v1{path}",
        auth=None if user is None else node.auth(user),
        headers=headers,
        content=body,
        params=params,
        timeout=10,
    )


def item_path(item_id: str) -> str:
    return "/items/" + quote(item_id, safe="/:")


def collection_of(api_root: str, auth: tuple[str, str], which: str) -> str:
    """The id of a collection of a node in another process, found over TAXII (GET
    collections): ``which`` is its alias (``originated-KOR``, ``received-JPN``) or its
    originator's name (``KOR``)."""
    r = httpx.get(f"{api_root}collections/", headers={"Accept": TAXII}, auth=auth, timeout=10)
    assert r.status_code == 200, r.text
    for c in r.json().get("collections", []):
        alias = str(c.get("alias", ""))
        if which in (alias, alias.partition("-")[2]):
            return str(c["id"])
    raise AssertionError(f"no collection {which!r} at {api_root}")


def collection_at(node: NodeProc, originator: str | None = None) -> str:
    """The id of ``node``'s collection of ``originator``'s items (its own by default)."""
    return collection_of(node.api_root, node.auth("analyst"), originator or node.party)


def publish(node: NodeProc, envelope: dict[str, Any]) -> str:
    """Post an envelope at ``node``; the item id of its (one) report."""
    cid = collection_at(node)
    r = httpx.post(
        f"{node.api_root}collections/{cid}/objects/",
        headers={"Accept": TAXII, "Content-Type": TAXII},
        auth=node.auth("analyst"),
        content=orjson.dumps(envelope),
    )
    assert r.status_code == 202, r.text
    obj = next(o for o in envelope["objects"] if o["type"] == "report")
    return f"{obj['id']}/{obj['modified']}"


def wait_until(
    probe: Callable[[], T | None], what: str, timeout: float = 20.0, pause: float = 0.05
) -> T:
    """What ``probe`` returns once it is neither None nor False (a probe may answer a bool)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found is not None and found is not False:
            return found
        time.sleep(pause)
    raise AssertionError(f"timed out waiting for {what}")


def log_get(node: NodeProc, path: str, user: str = "analyst", **params: Any) -> httpx.Response:
    """GET a route of the node's log (``/native/v1/log/PATH``) as JSON."""
    return httpx.get(
        f"{node.url}/native/v1/log/{path}",
        params=params,
        auth=node.auth(user),
        headers={"Accept": "application/json"},
        timeout=10,
    )


def held_at(node: NodeProc, item_id: str, user: str = "admin") -> dict[str, Any] | None:
    r = native(node, "GET", item_path(item_id), user)
    if r.status_code == 404:
        return None
    assert r.status_code == 200, r.text
    return dict(r.json())


def taxii_objects(node: NodeProc, originator: str, user: str = "analyst") -> list[dict[str, Any]]:
    cid = collection_at(node, originator)
    r = httpx.get(
        f"{node.api_root}collections/{cid}/objects/",
        headers={"Accept": TAXII},
        auth=node.auth(user),
    )
    assert r.status_code == 200, r.text
    return list(r.json().get("objects", []))


def assert_error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = dict(r.json())
    assert set(body) == ERROR_KEYS, body
    assert body["http_status"] == str(status)
    return body
