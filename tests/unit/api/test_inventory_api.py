"""Inventory and reconciliation through the node's HTTP layer, in process: the native routes
(admins only), the peer routes between two nodes' ASGI applications (signed requests through
the guard, sent by the outbox), and the console's Reconciliation page with its button."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp

from gsomia.api.outbound import Outbound
from gsomia.app.asgi import create_app
from gsomia.app.boot import load_config, open_node
from gsomia.clock import FixedClock
from gsomia.node import federation
from gsomia.node.service import Node
from tests.integration.nodes import PASSPHRASE, NodeProc, make_nodes, report

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
ITEM = "report--00000000-0000-4000-8000-{:012d}/2026-01-01T00:00:00.000Z"


class Pair:
    """KOR and USA in process, each behind its application; USA holds KOR's items 1 and 2,
    and KOR's records say it sent item 3 too (never received: a finding)."""

    def __init__(self, procs: dict[str, NodeProc]) -> None:
        self.procs = procs
        self.nodes: dict[str, Node] = {
            p: open_node(
                load_config(procs[p].config), clock=FixedClock(NOW), passphrase=PASSPHRASE.encode()
            )
            for p in ("KOR", "USA")
        }
        self.apps: dict[str, ASGIApp] = {
            p: create_app(n, push=False) for p, n in self.nodes.items()
        }

    def call(
        self, party: str, method: str, path: str, user: str = "admin", **kw: Any
    ) -> httpx.Response:
        auth = (user, self.procs[party].users[user])

        async def run() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.apps[party])
            async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
                return await client.request(
                    method,
                    f"/native/v1{path}",
                    auth=auth,
                    headers={"Accept": "application/json"},
                    **kw,
                )

        return asyncio.run(run())

    def send_messages(self, sender: str, recipient: str) -> None:
        """``sender``'s due messages to ``recipient``, sent by its outbox to the recipient's
        application (signed, through its guard)."""

        async def run() -> None:
            transport = httpx.ASGITransport(app=self.apps[recipient], client=("127.0.0.1", 40000))
            async with httpx.AsyncClient(transport=transport) as client:
                await Outbound(self.nodes[sender], client).message(recipient)

        asyncio.run(run())


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    pair = Pair(
        make_nodes(tmp_path_factory.mktemp("inv-api"), ("KOR", "USA"), scenario="lapse-2019")
    )
    kor, usa = pair.nodes["KOR"], pair.nodes["USA"]
    analyst = next(u for u in kor.config.users if u.name == "analyst")
    for n in (1, 2):
        kor.publish(analyst, report(n, releasable_to=("USA",))["objects"], kor.collection_id("KOR"))
    ready = federation.recheck(kor, federation.due(kor, 1e12), NOW)
    federation.receive(usa, "KOR", [o.item for o in ready], NOW)
    federation.mark_sent(kor, ready, NOW)
    kor.publish(analyst, report(3, releasable_to=("USA",))["objects"], kor.collection_id("KOR"))
    federation.mark_sent(kor, federation.recheck(kor, federation.due(kor, 1e12), NOW), NOW)
    return pair


def test_the_inventory_route_is_for_admins(pair: Pair) -> None:
    r = pair.call("USA", "GET", "/inventory", params={"originator": "KOR"})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert (doc["kind"], doc["party"]) == ("inventory", "USA")
    assert [e["item"] for e in doc["body"]["items"]] == [ITEM.format(1), ITEM.format(2)]
    r = pair.call("USA", "GET", "/inventory", user="analyst")
    assert r.status_code == 403
    assert "user analyst is not an admin of USA" in r.json()["description"]
    assert pair.call("USA", "GET", "/inventory", params={"originator": "kor"}).status_code == 422


def test_a_reconciliation_round_trip_over_the_peer_routes(pair: Pair) -> None:
    r = pair.call("KOR", "POST", "/reconciliations", json={"holder": "USA"})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert r.json()["status"] == "pending"
    assert (
        pair.call(
            "KOR", "POST", "/reconciliations", user="analyst", json={"holder": "USA"}
        ).status_code
        == 403
    )
    assert pair.call("KOR", "POST", "/reconciliations", json={"holder": "KOR"}).status_code == 422
    pair.send_messages("KOR", "USA")  # the request; USA answers by its own outbox
    pair.send_messages("USA", "KOR")  # the signed inventory
    r = pair.call("KOR", "GET", f"/reconciliations/{rid}")
    assert r.status_code == 200, r.text
    done = r.json()
    assert (done["status"], done["items"], done["delivery"]["state"]) == ("done", 2, "delivered")
    assert [(f["kind"], f["item"]) for f in done["findings"]] == [("sent_not_held", ITEM.format(3))]
    listed = pair.call("KOR", "GET", "/reconciliations", params={"holder": "USA"}).json()
    assert listed[0]["id"] == rid
    assert pair.call("KOR", "GET", "/reconciliations", user="low").status_code == 403
    missing = "00000000-0000-4000-8000-000000000000"
    assert pair.call("KOR", "GET", f"/reconciliations/{missing}").status_code == 404


def console_call(
    pair: Pair, user: str, steps: list[tuple[str, str, dict[str, str] | None]]
) -> list[httpx.Response]:
    """Sign in to KOR's console as ``user`` and make ``steps`` (method, path, form: the page's
    CSRF token is added to each form)."""

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=pair.apps["KOR"])
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            page = await client.get("/console/login")
            token = CSRF.search(page.text)
            assert token is not None
            form = {"csrf": token.group(1), "token": pair.procs["KOR"].users[user]}
            assert (await client.post("/console/login", data=form)).status_code == 303
            csrf = CSRF.search((await client.get("/console/reconciliation")).text)
            assert csrf is not None
            out = []
            for method, path, data in steps:
                body = None if data is None else {**data, "csrf": csrf.group(1)}
                out.append(await client.request(method, path, data=body))
            return out

    return asyncio.run(run())


def test_the_console_page_shows_the_last_run_and_asks_again(pair: Pair) -> None:
    page, asked, again = console_call(
        pair,
        "admin",
        [
            ("GET", "/console/reconciliation", None),
            ("POST", "/console/reconciliation", {"holder": "USA"}),
            ("GET", "/console/reconciliation?asked=USA", None),
        ],
    )
    assert page.status_code == 200
    assert 'data-holder="USA"' in page.text
    assert 'data-kind="sent_not_held"' in page.text
    assert ITEM.format(3) in page.text
    assert asked.status_code == 303
    assert "Inventory requested of USA" in again.text
    assert "Last run: pending" in again.text


def test_the_console_page_is_for_admins(pair: Pair) -> None:
    page, refused = console_call(
        pair,
        "analyst",
        [
            ("GET", "/console/reconciliation", None),
            ("POST", "/console/reconciliation", {"holder": "USA"}),
        ],
    )
    assert 'id="read-only"' in page.text
    assert "data-holder" not in page.text
    assert refused.status_code == 403
