"""What only the JetStream bus has: a NATS server of the test's own that stops and starts
again (its store directory kept) between an enqueue and a take, and calls made while it is down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from gsomia.bus.jetstream import JetStreamBus
from gsomia.bus.ports import BusFailure
from tests.nats import NatsServer

WAIT = 15.0  # an upper bound on a reconnection and a redelivery, never reached when all is well
BOUND = 5.0  # a call while the server is down fails within this


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    store: Path = tmp_path_factory.mktemp("nats") / "store"
    nats = NatsServer(store)
    nats.start()
    yield nats
    nats.kill()


async def until_connected(bus: JetStreamBus) -> None:
    """Until the bus answers again (it reconnects on its own)."""
    async with asyncio.timeout(WAIT):
        while True:
            try:
                await bus.publish("ping", b"")
            except BusFailure:
                await asyncio.sleep(0.1)
            else:
                return


def test_a_job_and_a_subscription_outlive_a_server_restart(server: NatsServer) -> None:
    async def run() -> None:
        bus = JetStreamBus([server.url], party="KOR", prefix="restart", ack_wait=5.0)
        await bus.start()
        heard: asyncio.Queue[bytes] = asyncio.Queue()

        async def handler(data: bytes) -> None:
            await heard.put(data)

        try:
            await bus.subscribe("stored", handler)
            assert await bus.enqueue("q", "drain-JPN", b"job")
            server.restart()
            await until_connected(bus)
            [job] = await bus.take("q", batch=1, wait=WAIT)
            assert (job.data, job.deliveries) == (b"job", 1)
            await job.ack()
            assert await bus.enqueue("q", "drain-JPN", b"again")  # the key is free again
            async with asyncio.timeout(WAIT):  # the ordered consumer comes back by itself
                while heard.empty():
                    await bus.publish("stored", b"after")
                    await asyncio.sleep(0.2)
            assert await heard.get() == b"after"
        finally:
            await bus.close()

    asyncio.run(run())


def test_a_call_while_the_server_is_down_fails_within_a_bound(server: NatsServer) -> None:
    async def run() -> None:
        bus = JetStreamBus([server.url], party="KOR", prefix="down", ack_wait=5.0, timeout=1.0)
        await bus.start()
        await bus.enqueue("q", "k", b"job")

        async def handler(data: bytes) -> None:
            del data

        server.kill()
        try:
            calls: list[Callable[[], Awaitable[object]]] = [
                lambda: bus.enqueue("q", "k2", b"x"),  # before the client sees the server gone
                lambda: bus.publish("stored", b"x"),
                lambda: bus.take("q", batch=1, wait=0.5),
                lambda: bus.lease("schedules", "worker-a", 5.0),
                lambda: bus.subscribe("stored", handler),
            ]
            for call in calls:
                with pytest.raises(BusFailure, match=r"^bus: .*(unreachable|timeout)"):
                    await asyncio.wait_for(call(), BOUND)
        finally:
            server.start()
            await until_connected(bus)
            [job] = await bus.take("q", batch=1, wait=WAIT)  # nothing lost by the kill
            assert job.data == b"job"
            await bus.close()

    asyncio.run(run())


def test_a_server_that_is_not_there_fails_start_naming_it(tmp_path: Path) -> None:
    absent = NatsServer(tmp_path / "store")  # a free port, never started

    async def run() -> None:
        bus = JetStreamBus([absent.url], party="KOR", timeout=1.0)
        with pytest.raises(BusFailure, match=rf"NATS at nats://127\.0\.0\.1:{absent.port} unr"):
            await asyncio.wait_for(bus.start(), BOUND)

    asyncio.run(run())
