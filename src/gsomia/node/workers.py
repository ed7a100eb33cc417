"""The threads the node's calls run on, so that the event loop never waits on a disk, a lock or
a signature (STYLE.md §17).

Every route handler of the API and the console parses on the loop, then runs its node call
through ``Workers.run``: a
fixed pool of threads (a fixed pool rather than anyio's, whose idle threads come and go: the
SQLite store keeps one reader connection per thread, so a pool that never grows past
``threads`` never holds more connections than that). Requests waiting for a thread are bounded:
past ``max_waiting`` calls queued or running, the next is refused at once with ``Overloaded``
(503 and ``Retry-After``) instead of waiting without bound while its client times out.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from gsomia.errors import Overloaded

P = ParamSpec("P")
T = TypeVar("T")

THREADS = 32  # a publish holds one while its batch is committed: group commit needs company
MAX_WAITING = 128  # calls queued or running before the next is refused: ~0.3 s of publishes
RETRY_AFTER_SECONDS = 1


class Workers:
    """A bounded pool of threads for the node's calls, shared by every route of one app."""

    def __init__(self, threads: int = THREADS, max_waiting: int = MAX_WAITING) -> None:
        self.threads = threads
        self.max_waiting = max_waiting
        self.busy = 0  # calls queued or running; changed on the event loop only
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="gsomia-io")
            return self._executor

    async def run(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``call(*args, **kwargs)`` on a worker thread; ``Overloaded`` at once when too many
        calls wait already."""
        if self.busy >= self.max_waiting:
            raise Overloaded(
                f"the node is busy ({self.busy} requests in progress); "
                f"retry after {RETRY_AFTER_SECONDS} s",
                retry_after=RETRY_AFTER_SECONDS,
            )
        self.busy += 1
        try:
            bound = functools.partial(call, *args, **kwargs)
            return await asyncio.get_running_loop().run_in_executor(self._pool(), bound)
        finally:
            self.busy -= 1

    def close(self) -> None:
        """Let the running calls finish, then end the threads (a later call starts new ones)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
