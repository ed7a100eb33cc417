"""The in-process bus: the embedded default, one process, no server to start.

Everything lives in this process's memory, so nothing is durable across a restart: that is
fine because the store is the truth (the node's outbox rows) and the sweep enqueues again
what is due after a start. Events go to every subscriber of this bus (``shared`` is False:
other processes hear nothing). A keyed job is given to one taker at a time; one taken and not
acknowledged within ``ack_wait`` seconds is given again, counted in ``deliveries``. Leases
expire ``ttl`` seconds after their last renewal. Every deadline (redelivery, retry, lease) is
on the wall clock's ``monotonic()`` (``clock``), never on the node's scenario clock.

A delivery that was given again is stale: its ``ack``, ``retry`` and ``touch`` do nothing, the
job now belongs to its new taker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from dataclasses import dataclass, field

from gsomia.bus.ports import BusFailure, EventHandler, Job, Subscription
from gsomia.clock import Clock, SystemClock
from gsomia.errors import BadInput

log = logging.getLogger("gsomia.bus")
KEY = re.compile(r"[A-Za-z0-9_-]+")
EVENT_BACKLOG = 1024  # events a slow subscriber may lag behind before the oldest are dropped


def check_key(key: str) -> str:
    """``key`` if it is a job key (letters, digits, ``_`` and ``-``); BadInput otherwise."""
    if KEY.fullmatch(key) is None:
        msg = f"job key {key!r}: only letters, digits, '_' and '-' are allowed"
        raise BadInput(msg)
    return key


@dataclass(slots=True)
class _Entry:
    """A job on a queue: queued (``taken`` False, ready at ``ready_at``) or taken (``taken``
    True, given again at ``ready_at`` unless acknowledged). ``delivery`` names the current
    delivery, so that a stale one cannot act."""

    key: str
    data: bytes
    ready_at: float
    taken: bool = False
    deliveries: int = 0
    delivery: int = 0


@dataclass(slots=True)
class _Queue:
    entries: dict[str, _Entry] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def poke(self) -> None:
        """Wake the takers waiting on this queue."""
        self.changed.set()


class LocalJob:
    """One delivery of a job on a :class:`LocalBus`."""

    __slots__ = ("_bus", "_delivery", "_entry", "_queue")

    def __init__(self, bus: LocalBus, queue: _Queue, entry: _Entry) -> None:
        self._bus = bus
        self._queue = queue
        self._entry = entry
        self._delivery = entry.delivery

    @property
    def data(self) -> bytes:
        return self._entry.data

    @property
    def deliveries(self) -> int:
        return self._entry.deliveries

    def _current(self) -> bool:
        entry = self._queue.entries.get(self._entry.key)
        return entry is self._entry and entry.taken and entry.delivery == self._delivery

    async def ack(self) -> None:
        self._bus.check_open()
        if self._current():
            del self._queue.entries[self._entry.key]

    async def retry(self, delay: float) -> None:
        self._bus.check_open()
        if self._current():
            self._entry.taken = False
            self._entry.ready_at = self._bus.now() + max(0.0, delay)
            self._queue.poke()

    async def touch(self) -> None:
        self._bus.check_open()
        if self._current():
            self._entry.ready_at = self._bus.now() + self._bus.ack_wait


class LocalSubscription:
    """A subscriber's events, run one at a time in its own task (a slow handler delays only
    its own events; past ``EVENT_BACKLOG`` waiting, the oldest are dropped: events are hints)."""

    __slots__ = ("_bus", "_handler", "_name", "_pending", "_task")

    def __init__(self, bus: LocalBus, name: str, handler: EventHandler) -> None:
        self._bus = bus
        self._name = name
        self._handler = handler
        self._pending: asyncio.Queue[bytes] = asyncio.Queue(EVENT_BACKLOG)
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"bus-subscriber-{name}"
        )

    def deliver(self, data: bytes) -> None:
        if self._pending.full():
            self._pending.get_nowait()
        self._pending.put_nowait(data)

    async def _run(self) -> None:
        while True:
            data = await self._pending.get()
            try:
                await self._handler(data)
            except Exception:
                log.exception("subscriber of %r failed on an event", self._name)

    async def close(self) -> None:
        self._bus.forget(self._name, self)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class LocalBus:
    """The :class:`gsomia.bus.ports.Bus` of one process (asyncio, one event loop)."""

    def __init__(self, *, ack_wait: float = 30.0, clock: Clock | None = None) -> None:
        if not ack_wait > 0:
            msg = f"ack_wait must be positive, not {ack_wait}"
            raise BadInput(msg)
        self._ack_wait = ack_wait
        self._clock: Clock = clock or SystemClock()
        self._queues: dict[str, _Queue] = {}
        self._subscribers: dict[str, list[LocalSubscription]] = {}
        self._leases: dict[str, tuple[str, float]] = {}
        self._closed = False

    @property
    def shared(self) -> bool:
        return False

    @property
    def ack_wait(self) -> float:
        return self._ack_wait

    def now(self) -> float:
        return self._clock.monotonic()

    def check_open(self) -> None:
        if self._closed:
            msg = "the in-process bus is closed"
            raise BusFailure(msg)

    async def start(self) -> None:
        self._closed = False

    async def close(self) -> None:
        self._closed = True
        subscribers = [s for subs in self._subscribers.values() for s in subs]
        for subscription in subscribers:
            await subscription.close()
        for queue in self._queues.values():
            for entry in queue.entries.values():
                if entry.taken:
                    entry.taken = False
                    entry.ready_at = self.now()
            queue.poke()

    # events

    async def publish(self, name: str, data: bytes) -> None:
        self.check_open()
        for subscription in self._subscribers.get(name, ()):
            subscription.deliver(data)

    async def subscribe(self, name: str, handler: EventHandler) -> Subscription:
        self.check_open()
        subscription = LocalSubscription(self, name, handler)
        self._subscribers.setdefault(name, []).append(subscription)
        return subscription

    def forget(self, name: str, subscription: LocalSubscription) -> None:
        subscribers = self._subscribers.get(name, [])
        if subscription in subscribers:
            subscribers.remove(subscription)

    # work

    def _queue(self, name: str) -> _Queue:
        queue = self._queues.get(name)
        if queue is None:
            queue = self._queues[name] = _Queue()
        return queue

    async def enqueue(self, name: str, key: str, data: bytes) -> bool:
        self.check_open()
        check_key(key)
        queue = self._queue(name)
        if key in queue.entries:
            return False
        queue.entries[key] = _Entry(key=key, data=data, ready_at=self.now())
        queue.poke()
        return True

    async def take(self, name: str, *, batch: int, wait: float) -> list[Job]:
        self.check_open()
        if batch < 1:
            msg = f"batch must be at least 1, not {batch}"
            raise BadInput(msg)
        queue = self._queue(name)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, wait)):
                while True:
                    queue.changed.clear()
                    jobs = self._give(queue, batch)
                    if jobs:
                        return jobs
                    self.check_open()
                    await self._wait(queue)
        return self._give(queue, batch)

    def _give(self, queue: _Queue, batch: int) -> list[Job]:
        """Up to ``batch`` jobs ready now (queued and due, or taken and not acknowledged in
        time), marked taken by this delivery."""
        if self._closed:
            return []
        now = self.now()
        ready = sorted(
            (e for e in queue.entries.values() if e.ready_at <= now), key=lambda e: e.ready_at
        )
        jobs: list[Job] = []
        for entry in ready[:batch]:
            entry.taken = True
            entry.deliveries += 1
            entry.delivery += 1
            entry.ready_at = now + self._ack_wait
            jobs.append(LocalJob(self, queue, entry))
        return jobs

    async def _wait(self, queue: _Queue) -> None:
        """Until the queue changes or its next job falls due (a retry's delay, an ack_wait)."""
        nearest = min((e.ready_at for e in queue.entries.values()), default=None)
        if nearest is None:
            await queue.changed.wait()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(queue.changed.wait(), max(0.001, nearest - self.now()))

    # leases

    async def lease(self, name: str, holder: str, ttl: float) -> bool:
        self.check_open()
        if not ttl > 0:
            msg = f"lease {name!r}: ttl must be positive, not {ttl}"
            raise BadInput(msg)
        now = self.now()
        current = self._leases.get(name)
        if current is not None and current[0] != holder and current[1] > now:
            return False
        self._leases[name] = (holder, now + ttl)
        return True

    async def release_lease(self, name: str, holder: str) -> None:
        self.check_open()
        current = self._leases.get(name)
        if current is not None and current[0] == holder:
            del self._leases[name]
