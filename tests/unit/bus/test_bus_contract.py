"""The bus contract (``gsomia.bus.ports``): what every bus does, run on the in-process bus and on
NATS JetStream (the shared server, a fresh prefix per test).

"Two workers" are two bus instances on one prefix for JetStream, and the one bus of the process
for the in-process bus (its workers are tasks of one process). ``ack_wait`` is short so that
redelivery is seen within a second or two.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator

import pytest

from gsomia.app.buses import open_bus
from gsomia.bus.local import LocalBus
from gsomia.bus.ports import Bus, Job
from tests import nats as shared

ACK_WAIT = 1.0
TTL = 1.0
WAIT = 10.0  # an upper bound on waiting for a delivery, never reached when all is well
QUIET = 0.3  # how long "nothing more comes" is watched
PREFIXES: list[str] = []  # the NATS prefixes this module's tests used, deleted after it


class Workers:
    """The buses of one test: ``worker()`` is a started bus for one more worker."""

    def __init__(self, kind: str, prefix: str) -> None:
        self.kind = kind
        self.prefix = prefix
        self.buses: list[Bus] = []

    async def worker(self) -> Bus:
        if self.kind == "local" and self.buses:
            bus = self.buses[0]  # every worker of the process shares it
        elif self.kind == "local":
            bus = LocalBus(ack_wait=ACK_WAIT)
            self.buses.append(bus)
        else:
            bus = open_bus(shared.bus_url(self.prefix, ack_wait=ACK_WAIT), party="KOR", where="t")
            self.buses.append(bus)
        await bus.start()
        return bus

    async def close(self) -> None:
        for bus in self.buses:
            await bus.close()


Scenario = Callable[[Workers], Awaitable[None]]


@pytest.fixture(scope="module", params=["local", "nats"])
def kind(request: pytest.FixtureRequest) -> Iterator[str]:
    """The bus the module runs on; for NATS, the streams of its tests are deleted after it."""
    if request.param == "nats":
        shared.require()
    yield request.param
    if request.param == "nats":
        asyncio.run(_clean_all())


async def _clean_all() -> None:
    while PREFIXES:
        await shared.cleanup(PREFIXES.pop())


@pytest.fixture
def run(kind: str) -> Callable[[Scenario], None]:
    """Run a scenario on fresh buses (for NATS under a fresh prefix), closing them after."""

    def go(scenario: Scenario) -> None:
        prefix = shared.fresh_prefix()
        if kind == "nats":
            PREFIXES.append(prefix)

        async def body() -> None:
            workers = Workers(kind, prefix)
            try:
                await scenario(workers)
            finally:
                await workers.close()

        asyncio.run(body())

    return go


async def take_one(bus: Bus, queue: str = "q", *, wait: float = WAIT) -> Job:
    jobs = await bus.take(queue, batch=1, wait=wait)
    assert len(jobs) == 1, f"expected one job within {wait} s, got {len(jobs)}"
    return jobs[0]


def test_an_event_reaches_every_subscriber_and_none_hears_what_came_before(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(w: Workers) -> None:
        a, b = await w.worker(), await w.worker()
        await a.publish("stored", b"before")
        heard: dict[str, list[bytes]] = {"a": [], "b": []}
        both = asyncio.Event()

        def listener(who: str) -> Callable[[bytes], Awaitable[None]]:
            async def handler(data: bytes) -> None:
                heard[who].append(data)
                if all(heard.values()):
                    both.set()

            return handler

        sub_a = await a.subscribe("stored", listener("a"))
        sub_b = await b.subscribe("stored", listener("b"))
        await a.publish("other", b"not this name")
        await b.publish("stored", b"seq 7")
        await asyncio.wait_for(both.wait(), WAIT)
        await asyncio.sleep(QUIET)
        assert heard == {"a": [b"seq 7"], "b": [b"seq 7"]}
        await sub_a.close()
        await sub_a.close()  # idempotent
        await a.publish("stored", b"seq 8")
        await asyncio.sleep(QUIET)
        assert heard == {"a": [b"seq 7"], "b": [b"seq 7", b"seq 8"]}
        await sub_b.close()

    run(scenario)


def test_each_job_goes_to_exactly_one_of_two_takers(run: Callable[[Scenario], None]) -> None:
    async def scenario(w: Workers) -> None:
        a, b = await w.worker(), await w.worker()
        keys = [f"push-{n}" for n in range(12)]
        for key in keys:
            assert await a.enqueue("q", key, key.encode())
        got: list[bytes] = []

        async def taker(bus: Bus) -> None:
            while len(got) < len(keys):
                for job in await bus.take("q", batch=3, wait=0.2):
                    got.append(job.data)
                    await job.ack()

        await asyncio.wait_for(asyncio.gather(taker(a), taker(b)), WAIT)
        assert sorted(got) == sorted(key.encode() for key in keys)
        assert await a.take("q", batch=5, wait=QUIET) == []

    run(scenario)


def test_a_key_is_on_a_queue_once_queued_or_taken_and_free_again_after_ack(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(w: Workers) -> None:
        a = await w.worker()
        assert await a.enqueue("q", "drain-JPN", b"first")
        assert not await a.enqueue("q", "drain-JPN", b"second")  # queued: dropped
        assert await a.enqueue("q", "drain-USA", b"other key")
        assert await a.enqueue("other", "drain-JPN", b"other queue")
        job = await take_one(a)
        rest = await take_one(a)
        assert sorted([job.data, rest.data]) == [b"first", b"other key"]
        assert (job.deliveries, rest.deliveries) == (1, 1)
        first = job if job.data == b"first" else rest
        assert not await a.enqueue("q", "drain-JPN", b"third")  # taken: dropped
        await first.ack()
        assert await a.enqueue("q", "drain-JPN", b"fourth")
        assert (await take_one(a)).data == b"fourth"

    run(scenario)


def test_a_job_not_acknowledged_within_ack_wait_is_given_to_the_other_taker(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(w: Workers) -> None:
        a, b = await w.worker(), await w.worker()
        assert a.ack_wait == ACK_WAIT
        await a.enqueue("q", "k", b"job")
        first = await take_one(a)
        assert first.deliveries == 1
        assert await b.take("q", batch=1, wait=ACK_WAIT / 2) == []  # not before ack_wait
        again = await take_one(b)
        assert (again.data, again.deliveries) == (b"job", 2)
        await again.ack()
        assert await a.take("q", batch=1, wait=ACK_WAIT + QUIET) == []

    run(scenario)


def test_retry_gives_the_job_again_after_the_delay_and_not_before(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(w: Workers) -> None:
        a, b = await w.worker(), await w.worker()
        await a.enqueue("q", "k", b"job")
        await (await take_one(a)).retry(0.8)
        assert await b.take("q", batch=1, wait=0.4) == []
        again = await take_one(b)
        assert again.deliveries == 2
        await again.ack()

    run(scenario)


def test_touch_keeps_a_job_past_ack_wait(run: Callable[[Scenario], None]) -> None:
    async def scenario(w: Workers) -> None:
        a, b = await w.worker(), await w.worker()
        await a.enqueue("q", "k", b"job")
        job = await take_one(a)
        for _ in range(3):  # 1.5 × ack_wait in all
            await asyncio.sleep(ACK_WAIT / 2)
            await job.touch()
        assert await b.take("q", batch=1, wait=0.2) == []
        again = await take_one(b)  # not touched any more: given again
        assert again.deliveries == 2
        await again.ack()

    run(scenario)


def test_a_lease_has_one_holder_expires_without_renewal_and_is_handed_over_on_release(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(w: Workers) -> None:
        a, b = await w.worker(), await w.worker()
        assert await a.lease("schedules", "worker-a", TTL)
        assert not await b.lease("schedules", "worker-b", TTL)
        assert await b.lease("other", "worker-b", TTL)  # another lease, another holder
        await asyncio.sleep(TTL / 2)
        assert await a.lease("schedules", "worker-a", TTL)  # renewed
        await asyncio.sleep(TTL / 2)
        assert not await b.lease("schedules", "worker-b", TTL)  # still a's: it renewed
        async with asyncio.timeout(WAIT):  # a stops renewing: b has it once ttl has passed
            while not await b.lease("schedules", "worker-b", TTL):
                await asyncio.sleep(0.1)
        assert not await a.lease("schedules", "worker-a", TTL)
        await a.release_lease("schedules", "worker-a")  # not a's: nothing happens
        assert not await a.lease("schedules", "worker-a", TTL)
        await b.release_lease("schedules", "worker-b")
        assert await a.lease("schedules", "worker-a", TTL)  # at once

    run(scenario)


def test_the_jobs_a_closed_bus_had_taken_are_given_again(run: Callable[[Scenario], None]) -> None:
    async def scenario(w: Workers) -> None:
        a = await w.worker()
        await a.enqueue("q", "k", b"job")
        assert (await take_one(a)).deliveries == 1
        await a.close()
        b = await w.worker()
        again = await take_one(b)
        assert (again.data, again.deliveries) == (b"job", 2)
        await again.ack()

    run(scenario)
