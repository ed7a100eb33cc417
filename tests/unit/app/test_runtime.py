"""The node's runtime on the in-process bus: the drainer's one error policy, the supervisor
restarting a crashed loop, the schedules' lease moving between two workers, per-peer backoff
(a dead peer's jobs wait, another peer's flow), and the jobs enqueued after a commit or found
by the sweep. The peers are httpx transports in process; the node's store is real."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from gsomia.api.outbound import Drainer, Outbound
from gsomia.app.boot import load_config, open_node
from gsomia.app.runtime import SCHEDULES, Runtime, supervise
from gsomia.bus.local import LocalBus
from gsomia.clock import FixedClock
from gsomia.node import accesses, federation, register
from gsomia.node.events import WORK, Broadcaster, Notifier
from gsomia.node.service import Node
from tests.integration.nodes import PASSPHRASE, make_nodes, report

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
PEERS = ("USA", "JPN")


@pytest.fixture(scope="module")
def kor(tmp_path_factory: pytest.TempPathFactory) -> Node:
    procs = make_nodes(tmp_path_factory.mktemp("runtime"), ("KOR", *PEERS))
    return open_node(
        load_config(procs["KOR"].config), clock=FixedClock(NOW), passphrase=PASSPHRASE.encode()
    )


def publish(node: Node, n: int) -> None:
    analyst = next(u for u in node.config.users if u.name == "analyst")
    node.publish(analyst, report(n)["objects"], node.collection_id("KOR"))


def pending(node: Node, peer: str) -> int:
    return len(federation.due_for(node, [peer]))


def forget_outbox(node: Node) -> None:
    with node.store.writing() as w:
        for row in federation.due_for(node, PEERS):
            w.outbox_done(row.id, "refused")


async def until(check: Callable[[], bool], seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not check():  # noqa: ASYNC110 - polls the store and the bus: no event says it
            await asyncio.sleep(0.01)


async def cancel(task: asyncio.Task[None]) -> None:
    """Stop a loop that runs for ever, and check that it was running until then."""
    assert not task.done()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert task.cancelled()


async def queued_keys(bus: LocalBus) -> list[str]:
    return sorted(job.data.decode() for job in await bus.take(WORK, batch=100, wait=0))


def test_a_handler_that_raises_anything_is_logged_and_its_job_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = LocalBus()
    calls: list[str] = []

    async def flaky(peer: str) -> float | None:
        calls.append(peer)
        if len(calls) == 1:
            msg = "a bug in the handler"
            raise ValueError(msg)
        return None

    async def run() -> None:
        drainer = Drainer(bus, {"push": flaky}, wait=0.05)
        task = asyncio.create_task(drainer.run())
        await bus.enqueue(WORK, "push-USA", b"push-USA")
        await until(lambda: len(calls) == 2)
        await until(lambda: drainer.in_hand == 0)  # the job settled
        assert await bus.enqueue(WORK, "push-USA", b"push-USA")  # acknowledged: free again
        await until(lambda: len(calls) == 3)  # the loop lives on
        await cancel(task)

    with caplog.at_level(logging.WARNING, "gsomia.outbound"):
        asyncio.run(run())
    [failed] = [r for r in caplog.records if r.name == "gsomia.outbound"]
    assert failed.getMessage() == "outbound job push-USA failed (retry in 0.05 s)"
    assert failed.exc_info is not None
    assert isinstance(failed.exc_info[1], ValueError)


def test_the_supervisor_restarts_a_crashed_loop_and_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runs: list[int] = []
    steady = asyncio.Event()

    async def loop() -> None:
        runs.append(len(runs))
        if len(runs) <= 2:
            msg = f"crash number {len(runs)}"
            raise RuntimeError(msg)
        steady.set()
        await asyncio.Event().wait()

    async def run() -> None:
        task = asyncio.create_task(supervise("sweeper", loop))
        await asyncio.wait_for(steady.wait(), 5.0)
        await cancel(task)

    with caplog.at_level(logging.ERROR, "gsomia.runtime"):
        asyncio.run(run())
    assert [r.getMessage() for r in caplog.records if r.name == "gsomia.runtime"] == [
        "loop sweeper crashed: RuntimeError: crash number 1; restart 1 in 0.05 s",
        "loop sweeper crashed: RuntimeError: crash number 2; restart 2 in 0.10 s",
    ]
    assert len(runs) == 3


def test_the_schedules_run_on_one_worker_and_move_when_it_goes(kor: Node) -> None:
    bus = LocalBus()

    async def run() -> None:
        a = Runtime(kor, Broadcaster(kor), bus=bus, renew=0.2)
        b = Runtime(kor, Broadcaster(kor), bus=bus, renew=0.2)
        await a.start()
        await until(lambda: a.scheduling)
        await b.start()
        await asyncio.sleep(0.5)
        assert (a.scheduling, b.scheduling) == (True, False)
        await a.stop()  # a clean stop gives the lease up: b takes it at its next renewal
        await until(lambda: b.scheduling)
        # b's lease taken from it (as if b had hung past its ttl): it stops at once
        await bus.release_lease(SCHEDULES, b.holder)
        assert await bus.lease(SCHEDULES, "another worker", 60)
        await until(lambda: not b.scheduling, 0.5)  # the next renewal
        await b.stop()

    asyncio.run(run())


def test_a_dead_peer_s_jobs_wait_while_another_peer_s_flow(kor: Node) -> None:
    forget_outbox(kor)
    publish(kor, 1)
    urls = {p.party: httpx.URL(p.url) for p in kor.config.peers}
    asked = {"USA": 0, "JPN": 0}

    def peer(request: httpx.Request) -> httpx.Response:
        party = next(p for p, url in urls.items() if url.port == request.url.port)
        asked[party] += 1
        if party == "USA":
            msg = "connection refused"
            raise httpx.ConnectError(msg, request=request)
        return httpx.Response(200, json={"results": []})

    async def run() -> None:
        bus = LocalBus()
        runtime = Runtime(kor, Broadcaster(kor), bus=bus, push=False)
        assert await runtime.sweep() == 2  # push-USA and push-JPN
        async with httpx.AsyncClient(transport=httpx.MockTransport(peer)) as client:
            drainer = Drainer(bus, Outbound(kor, client).handlers(), wait=0.05)
            task = asyncio.create_task(drainer.run())
            await until(lambda: pending(kor, "JPN") == 0 and drainer.in_hand == 0)
            publish(kor, 2)  # more for both, told after the commit
            notifier = Notifier(PEERS)
            notifier.bus = bus
            await notifier.committed()
            await until(lambda: pending(kor, "JPN") == 0)
            await asyncio.sleep(0.5)
            await cancel(task)
        assert asked["JPN"] == 2
        # 50 ms doubling: a handful of tries in 0.5 s, not one per take
        assert 2 <= asked["USA"] <= 6
        assert pending(kor, "USA") == 2  # still due, and the job still on the queue
        assert not await bus.enqueue(WORK, "push-USA", b"push-USA")

    asyncio.run(run())
    forget_outbox(kor)


def test_a_commit_enqueues_its_jobs_and_the_sweep_finds_what_was_lost(kor: Node) -> None:
    forget_outbox(kor)

    async def run() -> None:
        bus = LocalBus()
        heard: list[bytes] = []

        async def hear(data: bytes) -> None:
            heard.append(data)

        await bus.subscribe("events", hear)
        notifier = Notifier(PEERS)
        notifier.bus = bus
        await notifier.committed()
        await until(lambda: heard == [b"stored"])  # every worker's broadcaster hears it
        assert await queued_keys(bus) == ["message-JPN", "message-USA", "push-JPN", "push-USA"]

        lost = LocalBus()  # a commit whose enqueue was lost: the rows are the truth
        publish(kor, 3)
        runtime = Runtime(kor, Broadcaster(kor), bus=lost, push=False)
        assert await runtime.sweep() == 2
        assert await runtime.sweep() == 0  # queued already: nothing twice
        assert await queued_keys(lost) == ["push-JPN", "push-USA"]

    asyncio.run(run())
    forget_outbox(kor)


def test_without_a_bus_the_notifier_still_wakes_this_worker() -> None:
    woken: list[int] = []
    notifier = Notifier(PEERS, local=lambda: woken.append(1))
    asyncio.run(notifier.committed())
    assert woken == [1]


def test_the_checkpoint_schedule_logs_the_register_s_root_first(kor: Node) -> None:
    publish(kor, 4)
    analyst = next(u for u in kor.config.users if u.name == "analyst")
    item = "report--00000000-0000-4000-8000-000000000004/2026-01-01T00:00:00.000Z"
    register.record_item(kor, analyst, item, ("defense",), accesses.TAXII)

    async def run() -> None:
        runtime = Runtime(kor, Broadcaster(kor), bus=LocalBus(), push=False)
        await runtime.cosign()
        await runtime.cosign()  # no new record: no second root

    asyncio.run(run())
    [root] = register.logged_roots(kor)
    checkpoint = kor.log.latest_checkpoint()
    assert checkpoint is not None
    assert root.entry < checkpoint.size  # the checkpoint signed covers the root's entry
    assert register.verify(kor).verified_size == 1


def test_a_failing_retention_sweep_does_not_stop_the_other_schedules(
    kor: Node, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from gsomia.errors import StoreFailure
    from gsomia.node import destruction

    class Reached(Exception):
        pass

    def failing(node: Node) -> list[str]:
        raise StoreFailure("the store refused")

    async def sweep() -> int:
        raise Reached

    monkeypatch.setattr(destruction, "sweep_retention", failing)
    runtime = Runtime(kor, Broadcaster(kor), bus=LocalBus(), push=False)
    monkeypatch.setattr(runtime, "sweep", sweep)
    with caplog.at_level(logging.ERROR), pytest.raises(Reached, match=r"^$"):
        asyncio.run(runtime._scheduled())  # the sweep after the failed retention: reached
    assert any("retention sweep failed" in r.getMessage() for r in caplog.records)
