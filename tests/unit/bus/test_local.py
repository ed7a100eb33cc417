"""The in-process bus's own corners (the bus contract suite covers what every bus must do):
redelivery after ``ack_wait`` and retry delays on the clock it is given, a stale delivery that
cannot act, leases expiring on that clock, bad keys refused, a closed bus failing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from gsomia.bus.local import LocalBus
from gsomia.bus.ports import BusFailure, EventHandler
from gsomia.clock import FixedClock
from gsomia.errors import BadInput

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def test_an_unacknowledged_job_is_given_again_after_ack_wait_and_the_stale_one_cannot_act() -> None:
    clock = FixedClock(NOW)
    bus = LocalBus(ack_wait=10.0, clock=clock)

    async def run() -> None:
        assert await bus.enqueue("work", "push-JPN", b"x")
        assert not await bus.enqueue("work", "push-JPN", b"y")  # the key is there
        [first] = await bus.take("work", batch=5, wait=0)
        assert (first.data, first.deliveries) == (b"x", 1)
        assert await bus.take("work", batch=5, wait=0) == []  # taken: nobody else has it
        clock.advance(timedelta(seconds=9))
        await first.touch()  # its ack_wait starts again
        clock.advance(timedelta(seconds=9))
        assert await bus.take("work", batch=5, wait=0) == []
        clock.advance(timedelta(seconds=2))
        [second] = await bus.take("work", batch=5, wait=0)
        assert second.deliveries == 2
        await first.ack()  # stale: the job is the second taker's now
        assert not await bus.enqueue("work", "push-JPN", b"z")
        await second.retry(5.0)
        assert await bus.take("work", batch=5, wait=0) == []
        clock.advance(timedelta(seconds=5))
        [third] = await bus.take("work", batch=5, wait=0)
        assert third.deliveries == 3
        await third.ack()
        assert await bus.enqueue("work", "push-JPN", b"again")

    asyncio.run(run())


def test_a_waiting_taker_wakes_for_an_enqueue_and_for_a_retry_falling_due() -> None:
    bus = LocalBus(ack_wait=5.0)

    async def run() -> None:
        waiting = asyncio.create_task(bus.take("work", batch=1, wait=5.0))
        await asyncio.sleep(0.01)
        await bus.enqueue("work", "message-USA", b"m")
        [job] = await asyncio.wait_for(waiting, 1.0)
        await job.retry(0.05)
        [again] = await asyncio.wait_for(bus.take("work", batch=1, wait=5.0), 1.0)
        assert again.deliveries == 2
        assert await bus.take("work", batch=1, wait=0.01) == []

    asyncio.run(run())


def test_a_lease_is_one_holders_until_it_expires_or_is_released() -> None:
    clock = FixedClock(NOW)
    bus = LocalBus(clock=clock)

    async def run() -> None:
        assert await bus.lease("schedules", "a", 6.0)
        assert not await bus.lease("schedules", "b", 6.0)
        clock.advance(timedelta(seconds=5))
        assert await bus.lease("schedules", "a", 6.0)  # renewed
        clock.advance(timedelta(seconds=5))
        assert not await bus.lease("schedules", "b", 6.0)
        clock.advance(timedelta(seconds=1))
        assert await bus.lease("schedules", "b", 6.0)  # a's expired
        await bus.release_lease("schedules", "a")  # not a's: nothing happens
        assert not await bus.lease("schedules", "a", 6.0)
        await bus.release_lease("schedules", "b")
        assert await bus.lease("schedules", "a", 6.0)
        with pytest.raises(BadInput, match="ttl must be positive"):
            await bus.lease("schedules", "a", 0)

    asyncio.run(run())


def test_events_reach_every_subscriber_and_a_failing_handler_harms_no_other() -> None:
    bus = LocalBus()

    async def run() -> tuple[list[bytes], list[bytes]]:
        heard: list[bytes] = []
        late: list[bytes] = []

        async def failing(data: bytes) -> None:
            msg = f"cannot handle {data!r}"
            raise ValueError(msg)

        await bus.subscribe("events", failing)
        subscription = await bus.subscribe("events", collect(heard))
        await bus.publish("events", b"1")
        later = await bus.subscribe("events", collect(late))
        await bus.publish("events", b"2")
        await asyncio.sleep(0.01)
        await subscription.close()
        await subscription.close()  # idempotent
        await bus.publish("events", b"3")
        await asyncio.sleep(0.01)
        await later.close()
        return heard, late

    assert asyncio.run(run()) == ([b"1", b"2"], [b"2", b"3"])


def collect(into: list[bytes]) -> EventHandler:
    async def handler(data: bytes) -> None:
        into.append(data)

    return handler


def test_bad_keys_are_refused_and_a_closed_bus_fails() -> None:
    bus = LocalBus()

    async def run() -> None:
        with pytest.raises(BadInput, match="job key 'push JPN'"):
            await bus.enqueue("work", "push JPN", b"")
        await bus.enqueue("work", "push-JPN", b"")
        [job] = await bus.take("work", batch=1, wait=0)
        await bus.close()
        with pytest.raises(BusFailure, match="in-process bus is closed"):
            await bus.publish("events", b"")
        with pytest.raises(BusFailure, match="in-process bus is closed"):
            await job.ack()
        await bus.start()
        [again] = await bus.take("work", batch=1, wait=0)  # what was taken is given again
        assert again.deliveries == 2

    asyncio.run(run())
