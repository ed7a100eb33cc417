"""The node's runtime in one worker: its bus, its loops, and the supervisor that keeps them up.

One ``Runtime`` per app (``create_app``'s lifespan starts and stops it): the one place where the
node's background work is wired. It opens the bus named by the node's config (``bus = "…"``;
none: in-process, ``gsomia.app.buses``) and starts, in order:

1. the bus;
2. the broadcaster and its subscription to the bus's ``events`` (a commit on any worker wakes
   every worker's event streams);
3. the outbound drainer (``gsomia.api.outbound.Drainer``), taking jobs from the bus;
4. the schedules, which run on one worker of the node at a time: the one holding the bus's
   lease ``schedules`` (renewed every ``RENEW_SECONDS``, lost three renewal periods after the
   last renewal). Its holder logs the register's root (``gsomia.node.register``), signs the
   node's checkpoint and enqueues ``witness-P`` for every peer each ``cosign_interval``, asks
   each peer for its inventory each ``reconcile_interval`` (``gsomia.node.reconciliation``),
   destroys the items whose label's ``retain_until`` the node's clock has passed every
   ``RETENTION_SECONDS`` (DOMAIN.md §7.5), and sweeps every ``SWEEP_SECONDS`` (and at once
   when it takes the lease): ``push-P``/``message-P`` for every peer with due rows in the store
   (a worker that died between a commit and its enqueue, a bus that was down, a message whose
   retry time came). A worker that cannot renew (refused, or the bus failing) stops them at
   once: fail closed, never two schedulers.

``stop`` undoes it in reverse. Every loop runs under ``supervise``: a loop that crashes (any
exception) is logged with its name, the exception and how many times it was restarted, and is
restarted after a backoff. Without ``push`` (in-process tests) there is no drainer and no
schedules: the routes' jobs wait on the in-process bus.

A worker's identity on the bus (the lease's holder) is its host, its process id and a random
part; its bus is the node's (``node.config.bus``), or the one given (tests sharing one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable

import httpx

from gsomia.api.outbound import Drainer, Outbound, backoff
from gsomia.api.tls import peer_client
from gsomia.app.buses import open_bus
from gsomia.bus.ports import Bus, BusFailure, Subscription
from gsomia.clock import Clock, SystemClock
from gsomia.node import destruction, federation, messages, reconciliation, register, witnessing
from gsomia.node.events import (
    EVENTS,
    MESSAGE,
    PUSH,
    WITNESS,
    WORK,
    Broadcaster,
    Notifier,
    job_key,
)
from gsomia.node.service import Node

log = logging.getLogger("gsomia.runtime")

SCHEDULES = "schedules"  # the lease whose holder runs the node's schedules
RENEW_SECONDS = 2.0
SWEEP_SECONDS = 1.0
RECONCILE_CHECK_SECONDS = 60.0  # how often the schedules look for peers due a reconciliation
RETENTION_SECONDS = 10.0  # wall seconds between retention sweeps
HEALTHY_SECONDS = 60.0  # a loop that ran this long before crashing starts its backoff again


def worker_id() -> str:
    """This worker's name on the bus: host, process id, and a random part (a pid is reused)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"


async def supervise(
    name: str, loop: Callable[[], Awaitable[None]], clock: Clock | None = None
) -> None:
    """Run ``loop`` for ever: after a crash (any exception, or a return) log why and how many
    restarts so far, wait a backoff (50 ms doubling to 30 s; from the start again after a run
    of ``HEALTHY_SECONDS``), and run it again. Only cancellation ends it."""
    wall = clock or SystemClock()
    restarts = 0
    failures = 0
    while True:
        started = wall.monotonic()
        try:
            await loop()
        except Exception as exc:  # noqa: BLE001 - the supervisor's job: any crash is logged and restarted
            reason: BaseException | None = exc
        else:
            reason = None
        if wall.monotonic() - started >= HEALTHY_SECONDS:
            failures = 0
        failures += 1
        restarts += 1
        delay = backoff(failures)
        log.error(
            "loop %s %s; restart %d in %.2f s",
            name,
            "ended" if reason is None else f"crashed: {type(reason).__name__}: {reason}",
            restarts,
            delay,
            exc_info=reason,
        )
        await asyncio.sleep(delay)


class Runtime:
    """One worker's bus, broadcaster subscription, drainer and schedules (see the module)."""

    def __init__(
        self,
        node: Node,
        broadcaster: Broadcaster,
        *,
        push: bool = True,
        bus: Bus | None = None,
        clock: Clock | None = None,
        renew: float = RENEW_SECONDS,
        tls_password: bytes | None = None,
    ) -> None:
        self.node = node
        self._tls_password = tls_password  # opens the node's TLS key for its peer calls
        self.broadcaster = broadcaster
        self.push = push
        self.wall: Clock = clock or SystemClock()
        self.renew = renew  # the lease is renewed this often and lost 3 renewals after the last
        self._owns_bus = bus is None
        self.bus: Bus = bus or open_bus(
            node.config.bus, party=node.party, where=f"{node.config.source}: bus"
        )
        self.holder = worker_id()
        self.peers = tuple(p.party for p in node.config.peers)
        self.notifier = Notifier(self.peers, broadcaster.notify)
        self.scheduling = False  # True while this worker holds the lease and runs the schedules
        self.scheduling_since = 0.0  # wall epoch seconds: when this worker took the schedules
        self._client: httpx.AsyncClient | None = None
        self._subscription: Subscription | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.bus.start()
        self.notifier.bus = self.bus
        self.broadcaster.start()

        async def heard(_: bytes) -> None:
            self.broadcaster.notify()

        self._subscription = await self.bus.subscribe(EVENTS, heard)
        if not self.push:
            return
        self._client = peer_client(self.node.config, password=self._tls_password)
        outbound = Outbound(self.node, self._client, self.wall)
        drainer = Drainer(self.bus, outbound.handlers())
        self._spawn("drainer", drainer.run)
        self._spawn("schedules", self.schedules)

    def _spawn(self, name: str, loop: Callable[[], Awaitable[None]]) -> None:
        task = asyncio.create_task(supervise(name, loop, self.wall), name=f"gsomia-{name}")
        self._tasks.append(task)

    async def stop(self) -> None:
        for task in reversed(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self.notifier.bus = None
        if self._subscription is not None:
            await self._subscription.close()
            self._subscription = None
        await self.broadcaster.close()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._owns_bus:
            await self.bus.close()

    # ------------------------------------------------------------------ the schedules
    async def schedules(self) -> None:
        """Hold the lease and, while held, run the scheduled work; stop it the moment a
        renewal is refused or fails (the failure then crashes this loop: the supervisor logs it
        and tries again later)."""
        work: asyncio.Task[None] | None = None
        try:
            while True:
                async with asyncio.timeout(self.renew / 2):  # a slow renewal is a lost one
                    held = await self.bus.lease(SCHEDULES, self.holder, 3 * self.renew)
                if held and work is None:
                    log.info("worker %s runs the node's schedules", self.holder)
                    work = asyncio.create_task(self._scheduled(), name="gsomia-scheduled")
                elif not held and work is not None:
                    log.warning("worker %s lost the schedules' lease", self.holder)
                    await _cancel(work)
                    work = None
                self.scheduling = work is not None and not work.done()
                if work is not None and work.done():
                    work.result()  # its crash is this loop's: the supervisor restarts it
                await asyncio.sleep(self.renew)
        finally:
            self.scheduling = False
            if work is not None:
                await _cancel(work)
                with contextlib.suppress(BusFailure):
                    await self.bus.release_lease(SCHEDULES, self.holder)

    async def _scheduled(self) -> None:
        """Sweep now and every ``SWEEP_SECONDS``; sign and witness now and every
        ``cosign_interval`` (0: never); reconcile with the peers due every
        ``reconcile_interval`` (0: never)."""
        interval = self.node.config.cosign_interval
        reconciling = self.node.config.reconcile_interval
        next_cosign = next_reconcile = next_retention = self.wall.monotonic()
        self.scheduling_since = self.wall.now().timestamp()
        while True:
            if self.wall.monotonic() >= next_retention:
                next_retention = self.wall.monotonic() + RETENTION_SECONDS
                try:
                    await self.retention()
                except Exception:  # logged: its failure must not stop the schedules below
                    log.exception("retention sweep failed; the other schedules go on")
            await self.sweep()
            if interval > 0 and self.wall.monotonic() >= next_cosign:
                next_cosign = self.wall.monotonic() + interval
                await self.cosign()
            if reconciling > 0 and self.wall.monotonic() >= next_reconcile:
                # which peers are due is read from the store: once a minute is soon enough
                next_reconcile = self.wall.monotonic() + min(RECONCILE_CHECK_SECONDS, reconciling)
                await self.reconcile()
            await asyncio.sleep(SWEEP_SECONDS)

    async def reconcile(self) -> int:
        """Ask every peer whose last reconciliation is ``reconcile_interval`` wall seconds old
        (or that has none) for its inventory; how many were asked. The requests are stored
        messages: the next sweep sends them. Counted in wall time, from the stored requests,
        so a restart or another worker taking the lease does not ask again early; a peer never
        asked is first asked one interval after this worker took the schedules."""
        asked = await asyncio.to_thread(
            reconciliation.scheduled,
            self.node,
            self.wall.now().timestamp(),
            self.node.config.reconcile_interval,
            since=self.scheduling_since,
        )
        return len(asked)

    async def retention(self) -> list[str]:
        """Destroy the held items whose ``retain_until`` has passed (their certificates are
        queued to their originators, sent by the sweep that follows); the items destroyed."""
        done = await asyncio.to_thread(destruction.sweep_retention, self.node)
        if done:
            log.info("retention: destroyed %d item(s)", len(done))
            self.broadcaster.notify()
        return done

    async def sweep(self) -> int:
        """Enqueue ``push-P`` and ``message-P`` for the peers with due rows; how many jobs
        were enqueued (the others were queued already)."""
        node = self.node
        pushes = await asyncio.to_thread(federation.due_for, node, self.peers, 1)
        due = await asyncio.to_thread(messages.due, node, self.wall.now().timestamp(), 1000)
        keys = {job_key(PUSH, row.recipient) for row in pushes}
        keys |= {job_key(MESSAGE, row.recipient) for row in due if row.recipient in self.peers}
        added = 0
        for key in sorted(keys):
            added += await self.bus.enqueue(WORK, key, key.encode())
        return added

    async def cosign(self) -> None:
        """Log the register's root if accesses were recorded since the last one, sign the
        node's checkpoint (covering it), then ask for a co-signing exchange with every peer."""
        await asyncio.to_thread(register.log_root, self.node)
        await asyncio.to_thread(witnessing.sign_checkpoint, self.node)
        for peer in self.peers:
            key = job_key(WITNESS, peer)
            await self.bus.enqueue(WORK, key, key.encode())


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
