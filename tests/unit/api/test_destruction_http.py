"""Destruction over HTTP, in process (DOMAIN.md §7.5): the native routes (destroy, request,
list), the signed peer routes between two nodes' applications, TAXII and the native API after
a destruction, and the console's Destructions page, item page and forms."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest

from gsomia.app.asgi import create_app
from gsomia.app.boot import load_config, open_node
from gsomia.clock import FixedClock, SystemClock
from gsomia.node import federation, messages
from gsomia.node.service import Node
from tests.integration.nodes import PASSPHRASE, TAXII, make_nodes, report
from tests.unit.api.conftest import NOW

WALL = 1e12
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
JSON = "application/json"


@dataclass
class Party:
    node: Node
    tokens: dict[str, str]
    app: Any

    def call(self, method: str, path: str, user: str | None = "admin", **kw: Any) -> Any:
        auth = None if user is None else (user, self.tokens[user])

        async def run() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, client=("127.0.0.1", 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
                return await client.request(method, path, auth=auth, **kw)

        return asyncio.run(run())


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Party]]:
    procs = make_nodes(tmp_path_factory.mktemp("destruction-http"), ("KOR", "USA"))
    parties = {}
    for p, proc in procs.items():
        node = open_node(
            load_config(proc.config), clock=FixedClock(NOW), passphrase=PASSPHRASE.encode()
        )
        parties[p] = Party(node, proc.users, create_app(node, push=False))
    yield parties
    for party in parties.values():
        party.node.close()


def publish(kor: Party, n: int, usa: Party) -> str:
    envelope = report(n, releasable_to=("USA",), description=f"report {n} text")
    r = kor.call(
        "POST",
        "/api/collections/originated-KOR/objects/",
        user="analyst",
        content=orjson.dumps(envelope),
        headers={"Content-Type": TAXII, "Accept": TAXII},
    )
    assert r.status_code == 202, r.text
    item = f"report--00000000-0000-4000-8000-{n:012d}/2026-01-01T00:00:00.000Z"
    rows = [row for row in federation.due(kor.node, WALL, 1000) if row.item_id == item]
    ready = federation.recheck(kor.node, rows, NOW)
    federation.receive(usa.node, "KOR", [o.item for o in ready], NOW)
    federation.mark_sent(kor.node, ready, NOW)
    return item


def relay(src: Party, dst: Party) -> list[Any]:
    """Send ``src``'s due destruction messages to ``dst``'s peer routes, signed, as the
    messenger does."""
    answers = []
    for row in messages.due(src.node, WALL, recipient=dst.node.party):
        if "destruction" not in row.path:
            continue
        headers = federation.sign_request(
            src.node, dst.node.party, row.body, SystemClock().now(), method="POST", target=row.path
        )
        r = dst.call(
            "POST",
            row.path,
            user=None,
            content=row.body,
            headers={**headers, "Content-Type": JSON},
        )
        assert r.status_code == 200, r.text
        messages.delivered(src.node, row, r.json(), NOW)
        answers.append(r.json())
    return answers


def native(party: Party, method: str, path: str, user: str = "admin", **kw: Any) -> Any:
    return party.call(method, f"/native/v1{path}", user=user, headers={"Accept": JSON}, **kw)


def test_destroy_through_the_native_api_and_certify_through_the_peer_route(
    pair: dict[str, Party],
) -> None:
    kor, usa = pair["KOR"], pair["USA"]
    item = publish(kor, 1, usa)
    stix_id = item.split("/")[0]
    path = f"/items/{item}/destroy"
    assert native(usa, "POST", path, user="analyst", json={"reason": "x"}).status_code == 403
    assert native(usa, "POST", path, json={"reason": ""}).status_code == 422
    assert native(usa, "POST", path, json={"reason": "x", "more": 1}).status_code == 422
    missing = "/items/report--00000000-0000-4000-8000-000000000777/2026-01-01T00:00:00.000Z"
    assert native(usa, "POST", f"{missing}/destroy", json={"reason": "x"}).status_code == 404
    r = native(usa, "POST", path, json={"reason": "no longer needed"})
    assert r.status_code == 200, r.text
    cert = r.json()
    assert (cert["item"], cert["holder"], cert["reason"]) == (item, "USA", "no longer needed")
    assert cert["certificate"]["kind"] == "destruction"
    again = native(usa, "POST", path, json={"reason": "no longer needed"})
    assert again.status_code == 404
    assert "was destroyed at USA" in again.json()["description"]

    # gone from TAXII and the native API; the item and why-not say when and why
    objects = usa.call(
        "GET", "/api/collections/received-KOR/objects/", headers={"Accept": TAXII}
    ).json()
    assert all(o["id"] != stix_id for o in objects.get("objects", []))
    one = usa.call(
        "GET", f"/api/collections/received-KOR/objects/{stix_id}/", headers={"Accept": TAXII}
    )
    assert one.status_code == 404
    manifest = usa.call(
        "GET", "/api/collections/received-KOR/manifest/", headers={"Accept": TAXII}
    ).json()
    assert all(o["id"] != stix_id for o in manifest.get("objects", []))
    detail = native(usa, "GET", f"/items/{item}", user="analyst")
    assert detail.status_code == 404
    assert "reason: no longer needed; authorised by admin" in detail.json()["description"]
    hidden = native(usa, "GET", f"/items/{item}", user="low")  # could never have seen it
    assert hidden.json()["description"] == f"no item {item!r} at USA"
    why = native(usa, "GET", "/why-not", user="analyst", params={"item": item, "party": "JPN"})
    assert "was destroyed at USA" in why.json()["description"]
    listed = native(usa, "GET", "/destructions", user="analyst").json()
    assert [c["item"] for c in listed["destroyed"]] == [item]
    assert native(usa, "GET", "/destructions", user="low").json()["destroyed"] == []

    # the certificate, through KOR's signed peer route; a tampered one is refused
    [row] = [r for r in messages.due(usa.node, WALL) if "destruction" in r.path]
    tampered = orjson.loads(row.body)
    tampered["certificate"]["body"]["reason"] = "retention"
    body = orjson.dumps(tampered)
    headers = federation.sign_request(
        usa.node, "KOR", body, SystemClock().now(), method="POST", target=row.path
    )
    bad = kor.call(
        "POST", row.path, user=None, content=body, headers={**headers, "Content-Type": JSON}
    )
    assert bad.status_code == 422, bad.text
    assert "the signature of USA does not verify" in bad.json()["description"]
    assert relay(usa, kor) == [{"item": item, "result": "stored"}]
    got = native(kor, "GET", "/destructions", user="analyst").json()
    assert [(c["item"], c["holder"]) for c in got["received"]] == [(item, "USA")]


def test_the_originator_asks_through_the_native_api(pair: dict[str, Party]) -> None:
    kor, usa = pair["KOR"], pair["USA"]
    item = publish(kor, 2, usa)
    body = {"holder": "USA", "item": item, "returned": True}
    assert native(kor, "POST", "/destruction-requests", user="analyst", json=body).status_code == (
        403
    )
    both = {"holder": "USA", "item": item, "topic": "dprk"}
    assert native(kor, "POST", "/destruction-requests", json=both).status_code == 422
    r = native(kor, "POST", "/destruction-requests", json=body)
    assert r.status_code == 201, r.text
    asked = r.json()
    [answer] = relay(kor, usa)
    assert answer == {"request": asked["id"], "destroyed": [item], "already_destroyed": []}
    assert relay(usa, kor) == [{"item": item, "result": "stored"}]
    listed = native(kor, "GET", "/destructions").json()
    assert listed["requests"][0]["id"] == asked["id"]
    assert listed["requests"][0]["delivery"]["state"] == "delivered"
    received = {c["item"]: c for c in listed["received"]}
    assert received[item]["reason"] == "returned"


@contextmanager
def sign_in(party: Party, user: str) -> Iterator[httpx.Client]:
    """A console client signed in as ``user`` (each request on an event loop of its own)."""
    with httpx.Client(
        transport=_SyncAsgi(party.app), base_url="http://testserver", follow_redirects=False
    ) as client:
        page = client.get("/console/login")
        token = CSRF.search(page.text)
        assert token is not None
        form = {"csrf": token.group(1), "token": party.tokens[user]}
        assert client.post("/console/login", data=form).status_code == 303
        yield client


class _SyncAsgi(httpx.BaseTransport):
    """The ASGI app behind a synchronous client: each request on a new event loop."""

    def __init__(self, app: Any) -> None:
        self._app = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def run() -> httpx.Response:
            response = await self._app.handle_async_request(request)
            body = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=body)

        return asyncio.run(run())


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None
    return found.group(1)


def test_the_console_destroys_with_confirmation_and_shows_the_certificates(
    pair: dict[str, Party],
) -> None:
    kor, usa = pair["KOR"], pair["USA"]
    item = publish(kor, 3, usa)
    url = f"/console/items/{quote(item, safe='')}"
    with sign_in(usa, "admin") as admin:
        page = admin.get(url)
        assert page.status_code == 200
        assert 'id="item-destroy"' in page.text
        csrf = csrf_of(page.text)
        form = {"csrf": csrf, "item": item, "reason": "no longer needed"}
        unconfirmed = admin.post("/console/destructions/destroy", data=form)
        assert unconfirmed.status_code == 422
        assert "a destruction cannot be undone" in unconfirmed.text
        done = admin.post("/console/destructions/destroy", data={**form, "confirm": "destroy"})
        assert done.status_code == 303
        listing = admin.get("/console/destructions?done=destroyed")
        assert "Destroyed: its key and content are gone" in listing.text
        assert item in listing.text
        gone = admin.get(url)
        assert gone.status_code == 200
        assert "This item was destroyed at USA" in gone.text
        assert "no longer needed" in gone.text
        assert "report 3 text" not in gone.text
    with sign_in(usa, "low") as low:
        assert low.get(url).status_code == 404
    with sign_in(usa, "analyst") as analyst:
        page = analyst.get("/console/destructions")
        assert item in page.text
        assert 'id="destroy-form"' not in page.text  # admins only
    assert relay(usa, kor) == [{"item": item, "result": "stored"}]
    with sign_in(kor, "admin") as admin:
        page = admin.get(url)
        assert page.status_code == 200
        assert 'class="certificate" data-holder="USA"' in page.text
        listing = admin.get("/console/destructions")
        assert f'data-item="{item}" data-holder="USA"' in listing.text


def test_the_console_asks_a_holder_from_the_item_page(pair: dict[str, Party]) -> None:
    kor, usa = pair["KOR"], pair["USA"]
    item = publish(kor, 4, usa)
    url = f"/console/items/{quote(item, safe='')}"
    with sign_in(kor, "admin") as admin:
        page = admin.get(url)
        assert 'id="item-request-destruction"' in page.text
        form = {"csrf": csrf_of(page.text), "item": item, "holder": "USA", "returned": "yes"}
        assert admin.post("/console/destructions/request", data=form).status_code == 303
        listing = admin.get("/console/destructions?done=requested")
        assert "Destruction requested" in listing.text
    [answer] = relay(kor, usa)
    assert answer["destroyed"] == [item]
