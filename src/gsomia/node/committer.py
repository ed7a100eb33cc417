"""Group commit: one writer thread takes the publishes that arrive together and commits them as
one batch (one batch signature, one transaction, one fsync), each caller still getting its own
answer.

A caller ``submit``s a ``Job`` and waits for its future. The writer thread takes the first job
queued, then whatever else arrives within ``window`` seconds (or until ``max_batch`` objects),
and hands the batch to ``commit``, which settles every job's future (a result, or that job's own
error), in queue order.

Overload is held, not queued without bound: past ``max_pending`` objects or ``max_waiting``
callers queued, ``submit`` refuses at once with ``Overloaded`` (the caller may retry after its
``retry_after`` seconds); a single envelope larger than ``max_pending`` is still taken when
nothing else waits. When the committer stops (the node closing), what is queued is refused with
``StoreFailure`` and nothing of it is written.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from gsomia.clock import Clock, SystemClock
from gsomia.errors import Overloaded, StoreFailure

log = logging.getLogger("gsomia.committer")

P = TypeVar("P")
R = TypeVar("R")

WINDOW_SECONDS = 0.002  # how long a batch waits for company after its first job
MAX_BATCH_OBJECTS = 4096  # objects in one batch (one transaction, one batch signature)
MAX_PENDING_OBJECTS = 8192  # objects queued before a publish is refused (Overloaded)
MAX_WAITING = 256  # callers queued before a publish is refused
RETRY_AFTER_SECONDS = 1
_CLOSING = "the node is closing; nothing of this envelope was stored"


@dataclass(eq=False, slots=True)
class Job(Generic[P, R]):
    """One caller's part of a batch: what to write (``payload``), its size in objects, and the
    future its caller waits on."""

    payload: P
    size: int
    future: Future[R] = field(default_factory=Future)

    def done(self, result: R) -> None:
        if not self.future.done():
            self.future.set_result(result)

    def fail(self, exc: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(exc)


class Committer(Generic[P, R]):
    """A writer thread fed by a bounded queue; ``commit`` writes one batch of jobs.

    ``batches`` and ``jobs`` count what was committed (batches of one job or more, and the jobs
    in them), so that group commit can be observed: fewer batches than jobs under load."""

    def __init__(
        self,
        commit: Callable[[Sequence[Job[P, R]]], None],
        *,
        name: str = "gsomia-committer",
        wall: Clock | None = None,
        window: float = WINDOW_SECONDS,
        max_batch: int = MAX_BATCH_OBJECTS,
        max_pending: int = MAX_PENDING_OBJECTS,
        max_waiting: int = MAX_WAITING,
    ) -> None:
        self._commit = commit
        self._name = name
        self._wall = SystemClock() if wall is None else wall  # its monotonic time: the window
        self.window = window
        self.max_batch = max_batch
        self.max_pending = max_pending
        self.max_waiting = max_waiting
        self._cond = threading.Condition()
        self._queue: collections.deque[Job[P, R]] = collections.deque()
        self._pending = 0  # objects queued, not yet taken into a batch
        self._thread: threading.Thread | None = None
        self._stopped = False
        self.batches = 0
        self.jobs = 0
        self.writing = 0  # jobs in the batch being written now

    @property
    def stopped(self) -> bool:
        return self._stopped

    @property
    def queued(self) -> int:
        """How many jobs wait to be taken into a batch."""
        with self._cond:
            return len(self._queue)

    def run(self, payload: P, size: int) -> R:
        """Submit a job and wait for its answer (its result, or its error raised here)."""
        return self.submit(payload, size).result()

    def submit(self, payload: P, size: int) -> Future[R]:
        """Queue a job; ``Overloaded`` at once when the queue is full, ``StoreFailure`` when
        the committer has stopped."""
        job: Job[P, R] = Job(payload, size)
        with self._cond:
            if self._stopped:
                raise StoreFailure(_CLOSING)
            if self._queue and (
                len(self._queue) >= self.max_waiting or self._pending + size > self.max_pending
            ):
                raise Overloaded(
                    f"the node is writing as fast as it can ({len(self._queue)} publishes, "
                    f"{self._pending} objects waiting); retry after {RETRY_AFTER_SECONDS} s",
                    retry_after=RETRY_AFTER_SECONDS,
                )
            if self._thread is None:  # started on first use: a node that only reads has none
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()
            self._queue.append(job)
            self._pending += size
            self._cond.notify()
        return job.future

    def stop(self) -> None:
        """Finish the batch being written, refuse what is still queued, end the thread."""
        with self._cond:
            self._stopped = True
            thread = self._thread
            self._cond.notify()
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    # ------------------------------------------------------------------ the writer thread
    def _loop(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            self.writing = len(batch)
            try:
                self._commit(batch)
            except BaseException as exc:
                for job in batch:
                    job.fail(exc)
                if not isinstance(exc, Exception):
                    raise
            else:
                self.batches += 1
                self.jobs += len(batch)
            finally:
                self.writing = 0
            for job in batch:  # a commit that forgot a job must not leave its caller waiting
                job.fail(StoreFailure("the publish was not answered; nothing was stored"))

    def _next_batch(self) -> list[Job[P, R]] | None:
        """The next batch: the first job queued, then those that arrive within the window, up
        to ``max_batch`` objects. None once stopped."""
        with self._cond:
            while not self._queue and not self._stopped:
                self._cond.wait()
            if self._stopped:
                self._refuse_queued()
                return None
            batch: list[Job[P, R]] = []
            size = 0
            deadline = self._wall.monotonic() + self.window
            while True:
                size = self._take(batch, size)
                remaining = deadline - self._wall.monotonic()
                if size >= self.max_batch or remaining <= 0 or self._stopped:
                    return batch
                if not self._cond.wait(remaining):  # the window passed (whatever the clock says)
                    self._take(batch, size)
                    return batch

    def _take(self, batch: list[Job[P, R]], size: int) -> int:
        """Move what fits from the queue into ``batch``, in queue order (held under the lock)."""
        while self._queue:
            job = self._queue[0]
            if batch and size + job.size > self.max_batch:
                break
            self._queue.popleft()
            self._pending -= job.size
            batch.append(job)
            size += job.size
        return size

    def _refuse_queued(self) -> None:
        while self._queue:
            job = self._queue.popleft()
            self._pending -= job.size
            job.fail(StoreFailure(_CLOSING))
