"""An in-process node behind its ASGI application, and a client that calls it without a socket."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from gsomia.app.boot import load_config, open_node
from gsomia.clock import FixedClock
from tests.backends import Backend
from tests.integration.nodes import PASSPHRASE, TAXII, make_nodes

if TYPE_CHECKING:
    from collections.abc import Iterator

    from starlette.types import ASGIApp

    from gsomia.node.service import Node
    from tests.integration.nodes import NodeProc

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def application(node: Node) -> ASGIApp:
    """The node's ASGI application, its background senders off (one line to change if the
    application moves to the composition root)."""
    from gsomia.app.asgi import create_app

    return create_app(node, push=False)


@dataclass
class Api:
    """Calls the application in process: each call its own event loop, as a test needs no more."""

    node: Node
    app: ASGIApp
    tokens: dict[str, str]

    def call(
        self,
        method: str,
        path: str,
        *,
        user: str | None = "analyst",
        address: str = "127.0.0.1",
        taxii: bool = True,
        **kw: Any,
    ) -> httpx.Response:
        headers: dict[str, str] = {"Accept": TAXII} if taxii else {}
        headers.update(kw.pop("headers", {}))
        auth = None if user is None else (user, self.tokens[user])

        async def run() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, client=(address, 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
                return await client.request(method, path, headers=headers, auth=auth, **kw)

        return asyncio.run(run())


@pytest.fixture(scope="module")
def procs(tmp_path_factory: pytest.TempPathFactory, backend: Backend) -> dict[str, NodeProc]:
    """The parties' configs, the stores on the module's backend (each module runs on both)."""
    return make_nodes(tmp_path_factory.mktemp("api"), scenario="lapse-2019", backend=backend)


@pytest.fixture(scope="module")
def kor(procs: dict[str, NodeProc]) -> Iterator[Node]:
    node = open_node(
        load_config(procs["KOR"].config), clock=FixedClock(NOW), passphrase=PASSPHRASE.encode()
    )
    try:
        yield node
    finally:
        node.store.close()  # on PostgreSQL: its pool's connections, not left to the session


@pytest.fixture(scope="module")
def api(kor: Node, procs: dict[str, NodeProc]) -> Api:
    return Api(kor, application(kor), procs["KOR"].users)
