"""Two clocks at the console, in-process: sessions and the sign-in form live on wall time,
whatever the scenario clock does (simulated, it runs 500,000 times faster in the demo)."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from gsomia.app.asgi import create_app
from gsomia.app.boot import load_config, open_node
from gsomia.clock import FixedClock
from gsomia.console.session import PRE_SESSION_SECONDS, SESSION_HOURS
from gsomia.node.service import Node
from tests.integration.nodes import PASSPHRASE, make_nodes

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def kor(tmp_path_factory: pytest.TempPathFactory) -> tuple[Node, dict[str, str]]:
    procs = make_nodes(tmp_path_factory.mktemp("clocks"), ("KOR", "USA"))
    node = open_node(
        load_config(procs["KOR"].config), clock=FixedClock(NOW), passphrase=PASSPHRASE.encode()
    )
    node.wall = FixedClock(NOW)
    return node, procs["KOR"].users


def scenario(node: Node) -> FixedClock:
    assert isinstance(node.clock, FixedClock)
    return node.clock


def wall(node: Node) -> FixedClock:
    assert isinstance(node.wall, FixedClock)
    return node.wall


def console(node: Node) -> httpx.AsyncClient:
    """A client of the node's app in-process (no server; the console needs no background
    task for what is tested here)."""
    transport = httpx.ASGITransport(app=create_app(node, push=False))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def login_csrf(client: httpx.AsyncClient) -> str:
    page = await client.get("/console/login")
    found = CSRF.search(page.text)
    assert found is not None
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, token: str, csrf: str | None = None) -> int:
    form = {"csrf": csrf or await login_csrf(client), "token": token}
    return (await client.post("/console/login", data=form)).status_code


async def signed_in(client: httpx.AsyncClient) -> bool:
    r = await client.get("/console/")
    assert r.status_code in (200, 303)
    return r.status_code == 200


def test_a_session_lives_on_wall_time_not_the_scenario_clock(
    kor: tuple[Node, dict[str, str]],
) -> None:
    node, users = kor

    async def run() -> None:
        async with console(node) as client:
            assert await sign_in(client, users["analyst"]) == 303
            assert await signed_in(client)
            scenario(node).advance(timedelta(days=3650))  # a replay races through ten years
            assert await signed_in(client)
            wall(node).advance(timedelta(hours=SESSION_HOURS) - timedelta(seconds=1))
            assert await signed_in(client)
            wall(node).advance(timedelta(seconds=1))
            assert not await signed_in(client)

    asyncio.run(run())


def test_the_sign_in_form_expires_on_wall_time(kor: tuple[Node, dict[str, str]]) -> None:
    node, users = kor

    async def run() -> None:
        async with console(node) as client:
            csrf = await login_csrf(client)
            scenario(node).advance(timedelta(days=365))
            wall(node).advance(timedelta(seconds=PRE_SESSION_SECONDS))
            assert await sign_in(client, users["analyst"], csrf) == 303  # still in time
            client.cookies.clear()
            csrf = await login_csrf(client)
            wall(node).advance(timedelta(seconds=PRE_SESSION_SECONDS + 1))
            form = {"csrf": csrf, "token": users["analyst"]}
            r = await client.post("/console/login", data=form)
            assert r.status_code == 403
            assert "the sign-in form expired" in r.text

    asyncio.run(run())
