"""The bus port: what the node's workers say to each other, and the work they share.

Two kinds of traffic, each named by a short word (``events``, ``work``…) that an
implementation turns into its own subject or stream for the node's party:

- **events** (``publish`` / ``subscribe``): fan-out. Every subscriber on every worker of the
  node hears each event published after it subscribed. Events are hints ("something new is
  stored at seq N"): the store is the truth, so a subscriber that misses one (a restart, a
  broker failing over) catches up from the store. Delivery is at most once per subscriber.
- **work** (``enqueue`` / ``take``): a durable queue of keyed jobs. At most one job per key is
  on a queue at a time, queued or taken (a job "drain the outbox to JPN" is queued once however
  many releases wait; an enqueue while it is there is dropped and says so). Each job is given
  to exactly one taker at a time; a job not acknowledged within ``ack_wait`` seconds (its
  taker died, or hung) is given again, to any taker. A taker acknowledges (``ack``: done,
  never again), asks for it later (``retry(delay)``: a peer is down) or keeps it (``touch``:
  still working). Handlers must be idempotent: a job may be delivered more than once.
- **leases** (``lease`` / ``release_lease``): a named lock that expires. Exactly one holder at a
  time runs what the lease guards (the node's schedules); a holder that dies loses it after
  ``ttl`` seconds, and another takes over.

Every method may raise ``BusFailure`` (the broker unreachable, a timeout): the caller retries on
its own schedule; nothing here retries silently.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from gsomia.errors import GsomiaError

#: What a subscriber runs for each event (the event's bytes).
EventHandler = Callable[[bytes], Awaitable[None]]


class BusFailure(GsomiaError):
    """The bus could not do what was asked (broker unreachable, timed out); try again later."""

    exit_code = 6
    http_status = 503
    kind = "unavailable"
    retry_after = 2


class Job(Protocol):
    """One delivery of a queued job."""

    @property
    def data(self) -> bytes:
        """What was enqueued."""
        ...

    @property
    def deliveries(self) -> int:
        """How many times this job has been delivered, this one included (1 the first time)."""
        ...

    async def ack(self) -> None:
        """Done: the job is never delivered again."""
        ...

    async def retry(self, delay: float) -> None:
        """Not done: deliver it again (to any taker) after ``delay`` seconds."""
        ...

    async def touch(self) -> None:
        """Still working on it: its ``ack_wait`` starts again."""
        ...


class Subscription(Protocol):
    async def close(self) -> None:
        """Stop hearing events (idempotent)."""
        ...


class Bus(Protocol):
    """The node's bus. ``shared`` says whether several processes can share it."""

    @property
    def shared(self) -> bool:
        """True when workers in other processes (or machines) hear and take from this bus."""
        ...

    @property
    def ack_wait(self) -> float:
        """Seconds a taken job may stay unacknowledged before it is given to another taker."""
        ...

    async def start(self) -> None:
        """Connect and make the streams, queues and buckets it needs (idempotent)."""
        ...

    async def close(self) -> None:
        """Disconnect; jobs taken and not acknowledged will be given again."""
        ...

    async def publish(self, name: str, data: bytes) -> None:
        """An event to every subscriber of ``name`` on every worker."""
        ...

    async def subscribe(self, name: str, handler: EventHandler) -> Subscription:
        """Run ``handler`` for each event of ``name`` published from now on."""
        ...

    async def enqueue(self, name: str, key: str, data: bytes) -> bool:
        """A job with ``key`` on the queue ``name``, durable once this returns True; False when
        a job with that key is already on the queue (queued or taken): this one is dropped.
        ``key``: letters, digits, ``_`` and ``-``."""
        ...

    async def take(self, name: str, *, batch: int, wait: float) -> list[Job]:
        """Up to ``batch`` jobs of the queue ``name``, waiting at most ``wait`` seconds for
        the first; ``[]`` if none came."""
        ...

    async def lease(self, name: str, holder: str, ttl: float) -> bool:
        """Take the lease ``name`` for ``holder``, or renew it if ``holder`` has it: True when
        ``holder`` holds it for the next ``ttl`` seconds, False when another holder does."""
        ...

    async def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up if ``holder`` holds it (on a clean shutdown)."""
        ...
