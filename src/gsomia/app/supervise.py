"""One node on several worker processes: ``gsomia serve --workers N``.

The parent binds the node's listening socket once and runs N workers, each a ``gsomia serve``
of the same config that opens the node itself and serves on the inherited socket (the kernel
gives each new connection to one of them). The parent serves nothing and opens no store for
long: it checks, before a worker starts, what would make every worker fail the same way (the
number of workers the store and bus can serve, the keys, the store's schema), then watches.

- A worker that exits while the node runs is restarted after a backoff (a quarter of a second,
  doubling to 30 s while it keeps dying young; back to the start once it has run 30 s); the
  log says which worker, how it ended and how many times it has been restarted.
- SIGTERM or SIGINT to the parent goes to every worker as SIGTERM (a graceful stop: uvicorn
  finishes in-flight requests); the parent waits for them (bounded), kills any still running,
  and exits 0 when all stopped cleanly. Workers run in their own process groups, so a Ctrl-C
  at a terminal reaches them once, through the parent; on Linux a worker whose parent dies is
  sent SIGTERM by the kernel, so none outlives its supervisor.

Several workers need a store and a bus that several processes share: PostgreSQL and NATS. The
SQLite file and the in-process bus serve one process; ``check_workers`` refuses the rest.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import select
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from gsomia.app.boot import open_keys, open_node_store
from gsomia.app.buses import open_bus
from gsomia.app.stores import PostgresTarget, store_target
from gsomia.clock import Clock, SystemClock
from gsomia.errors import BadInput
from gsomia.node.config import NodeConfig

log = logging.getLogger("gsomia.supervise")

MAX_WORKERS = 64
BACKLOG = 2048  # pending connections the shared socket holds for the workers to accept
RESTART_FIRST = 0.25  # seconds before a worker that exited is started again
RESTART_MAX = 30.0  # the longest wait between restarts of a worker that keeps dying young
STABLE_AFTER = 30.0  # a worker that ran this long before exiting restarts after RESTART_FIRST
STOP_WAIT = 15.0  # seconds the workers get to stop after SIGTERM before they are killed
PR_SET_PDEATHSIG = 1  # prctl(2) option: the signal a process gets when its parent dies

#: How a worker is started: the same interpreter, gsomia's command line (works however the
#: parent was started: the console script, ``python -c``, a test's subprocess).
WORKER_COMMAND = (sys.executable, "-c", "from gsomia.cli.app import main; main()")


def check_workers(config: NodeConfig, workers: int) -> None:
    """Refuse ``workers`` outside 1 to 64, or more than one without a shared store and bus
    (one that ``Bus.shared`` says other processes hear); the message says what to set in which
    config. A store or bus URL no backend knows is refused here too, naming its key."""
    if not 1 <= workers <= MAX_WORKERS:
        raise BadInput(f"--workers: expected 1 to {MAX_WORKERS}, not {workers}")
    if workers == 1:
        return
    where = f"node config {config.source}"
    missing = []
    store = store_target(config.store, config.data_dir, where=f"{where}.store")
    if not isinstance(store, PostgresTarget):
        missing.append('a shared store (store = "postgresql://HOST[:PORT]/DBNAME?schema=NAME")')
    bus = open_bus(config.bus, party=config.party, where=f"{where}.bus")  # not connected
    if not bus.shared:
        missing.append('a shared bus (bus = "nats://HOST:PORT")')
    if missing:
        raise BadInput(
            f"--workers {workers}: several worker processes need {' and '.join(missing)} in "
            f"{where}; the SQLite file and the in-process bus serve one process "
            "(run with --workers 1, the default)"
        )


def parse_listen(text: str, where: str = "--listen") -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) as a host and a port; BadInput naming ``where``."""
    host, _, port_text = text.rpartition(":")
    if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise BadInput(f"{where}: expected HOST:PORT, e.g. 127.0.0.1:8701, not {text!r}")
    return host.strip("[]"), int(port_text)


def listen_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` that worker processes inherit."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise BadInput(f"listen address {host}:{port}: {exc.strerror or exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise BadInput(f"listen address {host}:{port}: cannot listen ({exc.strerror})") from None
    sock.set_inheritable(True)
    return sock


def inherited_listener(fd: int) -> int:
    """``fd`` if it is a socket this process inherited (``--listen-fd``); BadInput if not."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        raise BadInput(f"--listen-fd {fd}: no such file descriptor") from None
    if not stat.S_ISSOCK(mode):
        raise BadInput(f"--listen-fd {fd}: not a socket")
    return fd


def follow_parent() -> None:
    """Ask the kernel (Linux) to send this worker SIGTERM when its supervisor dies, so that no
    worker outlives it; elsewhere nothing."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        log.warning(
            "worker %d: cannot follow its supervisor (errno %d)", os.getpid(), ctypes.get_errno()
        )


def check_store(config: NodeConfig, *, key_file: Path | None) -> None:
    """Open the node's keys and its store and close them: the errors every worker would meet
    (no passphrase, wrong keys, a store at an older schema) are met once, here."""
    open_node_store(config, open_keys(config, key_file=key_file)).close()


def describe_exit(status: int) -> str:
    """A worker's exit status in words: ``exit status 1``, ``killed by SIGKILL``."""
    if status < 0:
        try:
            return f"killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"exit status {status}"


@dataclass
class Worker:
    """One worker slot: its process while it runs, when it started, when it starts again."""

    index: int
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    restarts: int = 0
    backoff: float = RESTART_FIRST  # the wait before its next restart if it dies young
    due: float | None = None  # when to start it again (wall monotonic); None: running or stopped


class Supervisor:
    """Runs ``count`` workers ``command + ["--listen-fd", FD]`` on ``listener`` until SIGTERM
    or SIGINT, restarting any that exits; ``run`` returns the parent's exit status."""

    def __init__(
        self,
        command: Sequence[str],
        count: int,
        listener: socket.socket,
        *,
        clock: Clock | None = None,
        stop_wait: float = STOP_WAIT,
    ) -> None:
        self.command = [*command, "--listen-fd", str(listener.fileno())]
        self.listener = listener
        self.workers = [Worker(index) for index in range(1, count + 1)]
        self.clock = clock or SystemClock()
        self.stop_wait = stop_wait

    def run(self) -> int:
        """Start the workers, watch them, stop them on a signal; 0 when all stopped cleanly."""
        with _signals_to(signal.SIGCHLD, signal.SIGTERM, signal.SIGINT) as wakeup:
            for worker in self.workers:
                self._start(worker)
            received = self._watch(wakeup)
            running = sum(w.proc is not None for w in self.workers)
            log.info("supervisor: %s, stopping %d running workers", received.name, running)
            return self._stop()

    def _start(self, worker: Worker) -> None:
        worker.due = None
        worker.started = self.clock.monotonic()
        worker.proc = subprocess.Popen(  # our own command line, no shell
            self.command, pass_fds=(self.listener.fileno(),), process_group=0
        )
        log.info("worker %d started (pid %d)", worker.index, worker.proc.pid)

    def _watch(self, wakeup: int) -> signal.Signals:
        """Reap and restart workers until a stop signal arrives; that signal."""
        while True:
            due = [w.due for w in self.workers if w.due is not None]
            timeout = max(0.0, min(due) - self.clock.monotonic()) if due else None
            readable, _, _ = select.select([wakeup], [], [], timeout)
            for number in _drain(wakeup) if readable else b"":
                if number in (signal.SIGTERM, signal.SIGINT):
                    return signal.Signals(number)
            now = self.clock.monotonic()
            for worker in self.workers:
                self._reap(worker, now)
                if worker.due is not None and worker.due <= now:
                    worker.restarts += 1
                    self._start(worker)

    def _reap(self, worker: Worker, now: float) -> None:
        if worker.proc is None or (status := worker.proc.poll()) is None:
            return
        pid, worker.proc = worker.proc.pid, None
        lived = now - worker.started
        delay = RESTART_FIRST if lived >= STABLE_AFTER else worker.backoff
        worker.backoff = min(delay * 2, RESTART_MAX)
        worker.due = now + delay
        log.warning(
            "worker %d (pid %d) exited unexpectedly after %.1fs (%s); restarting it in %.2fs "
            "(restart %d)",
            worker.index,
            pid,
            lived,
            describe_exit(status),
            delay,
            worker.restarts + 1,
        )

    def _stop(self) -> int:
        """SIGTERM to every running worker, wait (bounded), kill the rest; 0 if all stopped
        cleanly."""
        running = [w for w in self.workers if w.proc is not None]
        for worker in running:
            with contextlib.suppress(ProcessLookupError):
                worker.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        deadline = self.clock.monotonic() + self.stop_wait
        clean = True
        for worker in running:
            proc = worker.proc
            if proc is None:
                continue
            try:
                status = proc.wait(max(0.0, deadline - self.clock.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning(
                    "worker %d (pid %d) did not stop within %.0fs: killed",
                    worker.index,
                    proc.pid,
                    self.stop_wait,
                )
                proc.kill()
                proc.wait()
                clean = False
                continue
            if status not in (0, -signal.SIGTERM):
                log.warning(
                    "worker %d (pid %d) stopped with %s",
                    worker.index,
                    proc.pid,
                    describe_exit(status),
                )
                clean = False
        self.listener.close()
        return 0 if clean else 1


def _noop(_signum: int, _frame: FrameType | None) -> None:
    """A Python-level handler, so that the signal is caught and written to the wakeup fd."""


@contextlib.contextmanager
def _signals_to(*signals: signal.Signals) -> Iterator[int]:
    """While the block runs, ``signals`` are caught and their numbers written, one byte each,
    to a pipe whose reading end it yields (``select`` on it wakes for them)."""
    read, write = os.pipe()
    os.set_blocking(read, False)
    os.set_blocking(write, False)
    before = {sig: signal.signal(sig, _noop) for sig in signals}
    old_wakeup = signal.set_wakeup_fd(write)
    try:
        yield read
    finally:
        signal.set_wakeup_fd(old_wakeup)
        for sig, handler in before.items():
            signal.signal(sig, handler)
        os.close(read)
        os.close(write)


def _drain(fd: int) -> bytes:
    """Every byte waiting on the non-blocking ``fd``."""
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 512)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)
