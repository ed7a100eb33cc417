"""Accesses recorded on every route that serves an item's content, through the node's ASGI
application in process, on both store backends: TAXII objects and one object (the manifest and
the versions list show no content and record nothing), the native API's item, the event
stream, the console's item page and feed; the register's and accountings' routes (admins
only) and the console's access history (admins only)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from gsomia.api.peer import PushFailed
from gsomia.api.peer_native import send_message
from gsomia.app.boot import load_config, open_node
from gsomia.clock import FixedClock
from gsomia.node import messages
from gsomia.node.config import User
from gsomia.node.events import Broadcaster
from gsomia.node.service import Node
from tests.integration.nodes import PASSPHRASE, TAXII, NodeProc, report
from tests.unit.api.conftest import NOW, Api, application

OWN = "/api/collections/originated-KOR"
STIX_ID = "report--00000000-0000-4000-8000-000000000301"
ITEM = f"{STIX_ID}/2026-01-01T00:00:00.000Z"
OTHER = "report--00000000-0000-4000-8000-000000000302/2026-01-01T00:00:00.000Z"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def native(api: Api, method: str, path: str, user: str = "admin", **kw: Any) -> httpx.Response:
    return api.call(method, f"/native/v1{path}", user=user, taxii=False, **kw)


def user(node: Node, name: str) -> User:
    return next(u for u in node.config.users if u.name == name)


@pytest.fixture(scope="module")
def items(api: Api) -> tuple[str, str]:
    for n in (301, 302):
        envelope = report(n, releasable_to=("USA",))
        response = api.call(
            "POST",
            f"{OWN}/objects/",
            content=orjson.dumps(envelope),
            headers={"Content-Type": TAXII},
        )
        assert response.status_code == 202, response.text
    return ITEM, OTHER


def recorded(node: Node, item: str) -> list[tuple[str, str, str]]:
    with node.store.reading() as r:
        return [(a.user, a.route, a.purpose) for a in r.accesses(item_id=item)]


def test_taxii_object_pages_record_and_the_manifest_and_versions_do_not(
    api: Api, items: tuple[str, str]
) -> None:
    node = api.node
    before = recorded(node, ITEM)
    assert api.call("GET", f"{OWN}/manifest/").status_code == 200
    assert api.call("GET", f"{OWN}/objects/{STIX_ID}/versions/").status_code == 200
    assert recorded(node, ITEM) == before  # no content shown: nothing recorded
    page = api.call("GET", f"{OWN}/objects/", params={"match[id]": STIX_ID})
    assert page.status_code == 200
    assert [o["id"] for o in page.json()["objects"]] == [STIX_ID]
    assert recorded(node, ITEM) == [*before, ("analyst", "taxii", "defense")]
    one = api.call("GET", f"{OWN}/objects/{STIX_ID}/", user="low")
    assert one.status_code == 404  # low may not see it: absent, and nothing recorded
    assert api.call("GET", f"{OWN}/objects/{STIX_ID}/").status_code == 200
    assert recorded(node, ITEM)[-1] == ("analyst", "taxii", "defense")
    assert len(recorded(node, ITEM)) == len(before) + 2


def test_a_taxii_page_records_every_item_on_it_in_one_batch(
    api: Api, items: tuple[str, str]
) -> None:
    node = api.node
    batches = node.accesses.committer.batches
    with node.store.reading() as r:
        size = len(r.accesses(limit=100_000))
    page = api.call("GET", f"{OWN}/objects/")
    served = [o for o in page.json()["objects"] if o["type"] == "report"]
    with node.store.reading() as r:
        added = r.accesses(after_seq=size, limit=100_000)
    assert len(added) == len(served) >= 2
    assert node.accesses.committer.batches == batches + 1  # one transaction for the page


def test_the_native_item_records_and_its_history_is_for_admins(
    api: Api, items: tuple[str, str]
) -> None:
    node = api.node
    assert native(api, "GET", f"/items/{OTHER}", user="analyst").status_code == 200
    assert recorded(node, OTHER)[-1] == ("analyst", "api", "defense")
    history = native(api, "GET", f"/items/{OTHER}/accesses")
    assert history.status_code == 200, history.text
    assert history.json()[-1] | {"seq": 0, "at": ""} == {
        "seq": 0,
        "item": OTHER,
        "user": "analyst",
        "at": "",
        "purpose": "defense",
        "route": "api",
    }
    refused = native(api, "GET", f"/items/{OTHER}/accesses", user="analyst")
    assert refused.status_code == 403
    missing = native(api, "GET", "/items/report--00000000-0000-4000-8000-000000009999/x/accesses")
    assert missing.status_code == 404


def test_the_register_is_for_admins(api: Api, items: tuple[str, str]) -> None:
    found = native(api, "GET", "/register")
    assert found.status_code == 200, found.text
    doc = found.json()
    assert doc["party"] == "KOR"
    assert {u["name"]: u["purposes"] for u in doc["users"]} == {
        "admin": ["defense", "defense.warning"],
        "analyst": ["defense", "defense.warning"],
        "authority": ["defense", "defense.warning"],
        "low": ["defense"],
    }
    assert native(api, "GET", "/register", user="analyst").status_code == 403


def test_accountings_are_asked_and_listed_by_admins(api: Api, items: tuple[str, str]) -> None:
    asked = native(api, "POST", "/accountings", json={"holder": "USA", "items": [ITEM]})
    assert asked.status_code == 201, asked.text
    doc = asked.json()
    assert (doc["holder"], doc["items"], doc["status"]) == ("USA", [ITEM], "pending")
    listed = native(api, "GET", "/accountings").json()
    assert listed[0]["id"] == doc["id"]
    assert native(api, "GET", "/accountings", user="analyst").status_code == 403
    refused = native(api, "POST", "/accountings", user="analyst", json={"holder": "USA"})
    assert refused.status_code == 403
    bad = native(api, "POST", "/accountings", json={"holder": "USA", "extra": 1})
    assert bad.status_code == 422
    with api.node.store.reading() as r:
        [message] = [m for m in r.due_messages(1e12, 1000) if doc["id"].encode() in m.body]
    assert message.path == "/peer/v1/accounting-requests"
    assert message.recipient == "USA"
    assert native(api, "GET", f"/items/{ITEM}/accountings").json() == []


def test_event_streams_record_what_they_deliver(api: Api, items: tuple[str, str]) -> None:
    node = api.node
    analyst = user(node, "analyst")

    async def run() -> None:
        broadcaster = Broadcaster(node, heartbeat=5.0)
        broadcaster.start()
        try:
            streams = [
                broadcaster.stream(broadcaster.subscribe(analyst), None),
                broadcaster.stream(broadcaster.subscribe(analyst, session="s1"), None),
            ]
            for frames in streams:
                assert (await anext(frames)).startswith(b"retry:")
            envelope = report(303, releasable_to=("USA",))
            node.publish(analyst, envelope["objects"], node.collection_id("KOR"))
            broadcaster.dispatch()
            assert b"event: item" in await anext(streams[0])
        finally:
            await broadcaster.close()

    asyncio.run(run())
    fresh = "report--00000000-0000-4000-8000-000000000303/2026-01-01T00:00:00.000Z"
    assert recorded(node, fresh) == [("analyst", "events", "defense")]


async def _signed_in(client: httpx.AsyncClient, token: str) -> None:
    page = await client.get("/console/login")
    found = CSRF.search(page.text)
    assert found is not None
    signed = await client.post("/console/login", data={"csrf": found.group(1), "token": token})
    assert signed.status_code == 303


def test_the_console_records_its_item_page_and_feed_and_shows_history_to_admins(
    api: Api, items: tuple[str, str]
) -> None:
    node = api.node

    async def run() -> dict[str, str]:
        pages = {}
        for who in ("analyst", "admin"):
            transport = httpx.ASGITransport(app=application(node))
            async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
                await _signed_in(client, api.tokens[who])
                page = await client.get(f"/console/items/{ITEM}")
                assert page.status_code == 200, page.text
                pages[who] = page.text
                feed = await client.get("/console/")
                assert feed.status_code == 200
                pages[f"{who}-accountings"] = (await client.get("/console/accountings")).text
        return pages

    before = recorded(node, ITEM)
    pages = asyncio.run(run())
    added = recorded(node, ITEM)[len(before) :]
    assert added == [
        ("analyst", "console", "defense"),  # the item page
        ("analyst", "console", "defense"),  # the feed, which shows its name and description
        ("admin", "console", "defense"),
        ("admin", "console", "defense"),
    ]
    assert 'id="access-history"' not in pages["analyst"]
    assert 'id="access-history"' in pages["admin"]
    assert "<td>analyst</td>" in pages["admin"]
    assert "Ask USA for an accounting" in pages["admin"]
    assert "kept by KOR's admins" in pages["analyst-accountings"]
    assert "register of users" in pages["admin-accountings"]


@pytest.fixture(scope="module")
def usa(procs: dict[str, NodeProc]) -> Iterator[Node]:
    node = open_node(
        load_config(procs["USA"].config), clock=FixedClock(NOW), passphrase=PASSPHRASE.encode()
    )
    try:
        yield node
    finally:
        node.store.close()


def _send(sender: Node, recipient: Node, path: str) -> list[PushFailed | None]:
    """``sender``'s due messages on ``path``, sent signed by its messenger to ``recipient``'s
    application (in process: the transport routes every URL to it)."""
    rows = [m for m in messages.due(sender, 1e12, 1000) if m.path == path]

    async def run() -> list[PushFailed | None]:
        transport = httpx.ASGITransport(app=application(recipient), client=("127.0.0.1", 40001))
        async with httpx.AsyncClient(transport=transport) as client:
            return [await send_message(sender, client, row) for row in rows]

    return asyncio.run(run())


def test_an_accounting_travels_signed_over_the_peer_routes(
    api: Api, usa: Node, items: tuple[str, str]
) -> None:
    kor = api.node
    asked = native(api, "POST", "/accountings", json={"holder": "USA"}).json()
    assert set(_send(kor, usa, "/peer/v1/accounting-requests")) == {None}  # this and earlier
    assert set(_send(usa, kor, "/peer/v1/accountings")) == {None}
    listed = {a["id"]: a for a in native(api, "GET", "/accountings").json()}
    found = listed[asked["id"]]
    assert found["status"] == "answered", found
    assert found["delivery"]["state"] == "delivered"
    assert found["lines"] == []  # nothing was pushed to USA here: it holds none of KOR's items
    with usa.store.reading() as r:
        answered = r.document("accounting.answered", asked["id"])
    assert answered is not None
    assert answered.attachment is not None
    statement = orjson.loads(answered.attachment)
    assert (statement["kind"], statement["party"]) == ("accounting", "USA")
