"""Overload through the node's ASGI application: a publish past the committer's queue, or a
request past the workers' bound, is refused at once with 503, ``Retry-After`` and the one error
shape; what was accepted is stored, nothing lost."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import orjson
import pytest

from gsomia.app.boot import load_config, open_node
from gsomia.clock import FixedClock
from gsomia.errors import Overloaded
from gsomia.node.service import Node
from gsomia.node.workers import Workers
from tests.integration.nodes import PASSPHRASE, TAXII, NodeProc, report
from tests.unit.api.conftest import NOW, application

OWN = "/api/collections/originated-KOR"


@pytest.fixture
def node(procs: dict[str, NodeProc]) -> Iterator[Node]:
    found = open_node(
        load_config(procs["KOR"].config), clock=FixedClock(NOW), passphrase=PASSPHRASE.encode()
    )
    try:
        yield found
    finally:
        found.close()


async def eventually(condition: Callable[[], bool], what: str) -> None:
    """Wait for ``condition`` (a liveness bound, not a timing assertion)."""
    deadline = time.monotonic() + 30
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting: {what}")
        await asyncio.sleep(0.005)


def test_a_full_queue_is_refused_with_503_and_retry_after(
    node: Node, procs: dict[str, NodeProc]
) -> None:
    node.committer.max_waiting = 1
    token = procs["KOR"].users["analyst"]
    held, release = threading.Event(), threading.Event()

    def hold_the_writer() -> None:  # the store busy: a batch waits for it
        with node.store.writing():
            held.set()
            release.wait(30)

    async def run() -> tuple[list[httpx.Response], httpx.Response]:
        transport = httpx.ASGITransport(app=application(node))
        headers = {"Accept": TAXII, "Content-Type": TAXII}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://node", auth=("analyst", token), timeout=60
        ) as client:

            def post(n: int) -> asyncio.Task[httpx.Response]:
                body = orjson.dumps(report(6000 + n))
                return asyncio.create_task(
                    client.post(f"{OWN}/objects/", content=body, headers=headers)
                )

            first = post(0)
            await eventually(lambda: node.committer.writing == 1, "the first batch written")
            second = post(1)
            await eventually(lambda: node.committer.queued == 1, "the second queued")
            refused = await post(2)
            release.set()
            return [await first, await second], refused

    writer = threading.Thread(target=hold_the_writer)
    writer.start()
    held.wait(30)
    try:
        accepted, refused = asyncio.run(run())
    finally:
        release.set()
        writer.join()
    assert refused.status_code == 503, refused.text
    assert refused.headers["Retry-After"] == "1"
    body = refused.json()
    assert body["error_code"] == "overloaded"
    assert body["http_status"] == "503"
    assert "retry after 1 s" in body["description"]
    assert [r.status_code for r in accepted] == [202, 202]
    user = next(u for u in node.config.users if u.name == "analyst")
    cid = node.collection_id("KOR")
    for n in (0, 1):  # nothing accepted is lost
        assert node.versions_of(user, cid, report(6000 + n)["objects"][-1]["id"])


def test_workers_refuse_at_once_past_their_bound() -> None:
    workers = Workers(threads=1, max_waiting=2)
    gate = threading.Event()

    async def run() -> list[str]:
        busy = [asyncio.create_task(workers.run(gate.wait, 30)) for _ in range(2)]
        await eventually(lambda: workers.busy == 2, "two calls in progress")
        with pytest.raises(Overloaded, match="the node is busy") as refused:
            await workers.run(time.monotonic)
        assert refused.value.retry_after == 1
        gate.set()
        done = [await task for task in busy]
        return [str(x) for x in done]

    try:
        assert asyncio.run(run()) == ["True", "True"]  # the accepted calls ran
    finally:
        gate.set()
        workers.close()
