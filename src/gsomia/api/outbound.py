"""Outbound work as keyed jobs on the node's bus, and the one drainer that runs them.

Everything the node sends to its peers is a job on the bus's ``work`` queue, keyed by what and
to whom (``gsomia.node.events.job_key``):

- ``push-P``: drain the releases due to peer P — re-decide them at send time, push them in one
  signed request per round, mark them sent — round after round until none is due;
- ``message-P``: send P's due peer messages (consent requests and answers, reports, notices);
- ``witness-P``: one co-signing exchange with P (``Cosigner.exchange``).

A key is queued once however much waits behind it, and a job is taken by one worker of the
node at a time. Who enqueues: the routes after a commit (``Notifier``, a hint), and the node's
schedules — every ``cosign_interval`` the ``witness-P`` jobs, and every second a sweep that
enqueues ``push-P``/``message-P`` for the peers with due rows: the store's outbox is the truth,
the jobs only say where to look.

``Drainer`` is the one error policy. A handler that raises anything (a ``GsomiaError`` or a bug)
is logged (a bug with its traceback) and its job retried after a backoff; the loop goes on. A
peer that fails (network, 5xx, 429/503 and the ``Retry-After`` it asked for) backs off on its
own (``PeerBackoff``: 50 ms doubling to 30 s, on the wall clock's monotonic time): its job is
retried after that delay, and a job of that peer taken meanwhile waits out the rest of it
without calling it, so a peer down for a day costs nothing and the others flow. A handler ends
its job with an acknowledgement only when it found nothing left to do; rows it could not send
keep the job on the queue (``retry``), since an enqueue for its own key would be refused.

Jobs may run twice (a worker that died before acknowledging): a push sends only rows still
pending, and the receiver ignores duplicates. One race remains by design: a handler's last read
finds nothing, a new row is committed, the route's enqueue is refused because the key is still
taken, then the handler acknowledges. The row waits for the next sweep (about a second).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping

import httpx

from gsomia.api.logapi import Cosigner
from gsomia.api.peer import WALL, PushFailed, push_releases
from gsomia.api.peer_native import send_message
from gsomia.bus.ports import Bus, BusFailure, Job
from gsomia.clock import Clock
from gsomia.errors import GsomiaError
from gsomia.node import federation, messages
from gsomia.node.events import MESSAGE, PUSH, WITNESS, WORK
from gsomia.node.service import Node

log = logging.getLogger("gsomia.outbound")

FIRST_BACKOFF = 0.05  # seconds before the first retry at a failing peer (or a failing job)
MAX_BACKOFF = 30.0  # the longest a peer's (or a job's) own backoff grows
PUSH_BATCH = 100  # releases pushed in one request
MESSAGE_BATCH = 50  # messages sent in one round

#: A job's handler: the peer it concerns in, None (done: acknowledge) or a delay out (seconds
#: until the job is run again).
Handler = Callable[[str], Awaitable[float | None]]


def backoff(failures: int) -> float:
    """The delay after ``failures`` failures in a row: 50 ms doubling, at most 30 s."""
    return min(MAX_BACKOFF, FIRST_BACKOFF * 2.0 ** min(max(failures - 1, 0), 16))


class PeerBackoff:
    """Each peer's backoff, on the wall clock's monotonic time (one worker's memory: another
    worker learns of a dead peer with one attempt of its own)."""

    def __init__(self, wall: Clock = WALL) -> None:
        self.wall = wall
        self._failures: dict[str, int] = {}
        self._until: dict[str, float] = {}

    def remaining(self, peer: str) -> float:
        """Seconds until ``peer`` may be called again (0: now)."""
        return max(0.0, self._until.get(peer, 0.0) - self.wall.monotonic())

    def failed(self, peer: str, asked: float = 0.0) -> float:
        """``peer`` failed (``asked``: the delay it asked for): the delay before the next try."""
        failures = self._failures[peer] = self._failures.get(peer, 0) + 1
        delay = max(backoff(failures), asked)
        self._until[peer] = self.wall.monotonic() + delay
        return delay

    def succeeded(self, peer: str) -> None:
        self._failures.pop(peer, None)
        self._until.pop(peer, None)


class Outbound:
    """The handlers of the outbound jobs of one node (``handlers()``), with one client and one
    ``PeerBackoff`` shared by them."""

    def __init__(self, node: Node, client: httpx.AsyncClient, wall: Clock = WALL) -> None:
        self.node = node
        self.client = client
        self.wall = wall
        self.backoff = PeerBackoff(wall)
        self.cosigner = Cosigner(node, client)

    def handlers(self) -> dict[str, Handler]:
        return {PUSH: self.push, MESSAGE: self.message, WITNESS: self.witness}

    async def push(self, peer: str) -> float | None:
        """Push the releases due to ``peer`` until none is; a delay when it failed."""
        node = self.node
        waiting = self.backoff.remaining(peer)
        if waiting > 0:
            return waiting
        while True:
            rows = await asyncio.to_thread(federation.due_for, node, [peer], PUSH_BATCH)
            if not rows:
                return None
            ready = await asyncio.to_thread(federation.recheck, node, rows, node.clock.now())
            if not ready:
                continue  # every row was refused at send time (and marked so)
            error = await push_releases(node, self.client, peer, ready, self.wall)
            if error is not None:
                return await self._failed(peer, ready, error)
            self.backoff.succeeded(peer)
            await asyncio.to_thread(federation.mark_sent, node, ready, node.clock.now())

    async def _failed(self, peer: str, outs: list[federation.Outgoing], error: PushFailed) -> float:
        log.info("push to %s failed: %s", peer, error.reason)
        delay = self.backoff.failed(peer, error.retry_after)
        await asyncio.to_thread(
            federation.mark_failed,
            self.node,
            outs,
            error.reason,
            self.wall.now().timestamp(),
            not_before=error.retry_after,
        )
        return delay

    async def message(self, peer: str) -> float | None:
        """Send ``peer``'s due messages; a delay when it failed (the messages not yet due, their
        own retry time stored, are the sweep's to enqueue again when it comes)."""
        waiting = self.backoff.remaining(peer)
        if waiting > 0:
            return waiting
        while True:
            rows = await asyncio.to_thread(
                messages.due, self.node, self.wall.now().timestamp(), MESSAGE_BATCH, recipient=peer
            )
            if not rows:
                return None
            for row in rows:
                error = await send_message(self.node, self.client, row, self.wall)
                if error is not None:
                    log.info("message to %s failed: %s", peer, error.reason)
                    return self.backoff.failed(peer, error.retry_after)
            self.backoff.succeeded(peer)

    async def witness(self, peer: str) -> float | None:
        """One co-signing exchange with ``peer``; its failures are logged and the next
        scheduled round is the retry."""
        found = next((p for p in self.node.config.peers if p.party == peer), None)
        if found is not None:
            await self.cosigner.exchange(found)
        return None


class Drainer:
    """Takes the ``work`` queue's jobs (up to ``batch`` at once, each in its own task) and runs
    each job's handler, named by its key's prefix, under the one error policy (see the module).
    While a handler runs, its job is touched every third of the bus's ``ack_wait``, so a long
    drain is not given to another worker."""

    def __init__(
        self,
        bus: Bus,
        handlers: Mapping[str, Handler],
        *,
        batch: int = 16,
        wait: float = 1.0,
    ) -> None:
        self.bus = bus
        self.handlers = dict(handlers)
        self.batch = batch
        self.wait = wait
        self._running: set[asyncio.Task[None]] = set()

    @property
    def in_hand(self) -> int:
        """How many jobs are running now."""
        return len(self._running)

    async def run(self) -> None:
        """Forever (until cancelled: the jobs in hand are cancelled too and given again)."""
        try:
            while True:
                free = self.batch - len(self._running)
                if free <= 0:
                    await asyncio.wait(self._running, return_when=asyncio.FIRST_COMPLETED)
                    continue
                for job in await self.bus.take(WORK, batch=free, wait=self.wait):
                    task = asyncio.create_task(self.run_job(job), name="gsomia-job")
                    self._running.add(task)
                    task.add_done_callback(self._running.discard)
        finally:
            for task in list(self._running):
                task.cancel()
            if self._running:
                await asyncio.wait(list(self._running))

    async def run_job(self, job: Job) -> None:
        key = job.data.decode("ascii", "replace")
        kind, _, peer = key.partition("-")
        handler = self.handlers.get(kind)
        if handler is None or not peer:
            log.error("outbound job %r: no such kind of job; dropped", key)
            await self._settle(job, key, None)
            return
        keeper = asyncio.create_task(self._keep(job))
        try:
            delay = await handler(peer)
        except GsomiaError as exc:
            delay = backoff(job.deliveries)
            log.warning("outbound job %s failed (retry in %.2f s): %s", key, delay, exc)
        except Exception:
            delay = backoff(job.deliveries)
            log.exception("outbound job %s failed (retry in %.2f s)", key, delay)
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        await self._settle(job, key, delay)

    async def _settle(self, job: Job, key: str, delay: float | None) -> None:
        """Acknowledge (``delay`` None) or retry; a bus failure leaves the job to be given
        again after ``ack_wait``."""
        try:
            if delay is None:
                await job.ack()
            else:
                await job.retry(delay)
        except BusFailure as exc:
            log.warning("outbound job %s: the bus: %s", key, exc)

    async def _keep(self, job: Job) -> None:
        while True:
            await asyncio.sleep(self.bus.ack_wait / 3)
            try:
                await job.touch()
            except BusFailure as exc:
                log.warning("outbound job: touching it, the bus: %s", exc)
