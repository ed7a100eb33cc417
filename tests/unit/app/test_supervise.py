"""The supervisor of ``gsomia serve --workers N`` on small real processes instead of nodes: a
worker that keeps dying is restarted with a doubling backoff and logged; SIGTERM stops every
worker, and one that will not stop is killed and makes the exit status 1; a worker serves on
the socket the supervisor bound."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gsomia.app.supervise import Supervisor, describe_exit, listen_socket


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


@contextmanager
def terminated_when(condition: Callable[[], bool]) -> Iterator[None]:
    """SIGTERM to this process (the supervisor running in the block catches it) once
    ``condition()`` holds, or after 20 s; nothing once the block has ended."""
    ended = threading.Event()

    def run() -> None:
        deadline = time.monotonic() + 20
        while not condition() and not ended.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not ended.is_set():
            os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        ended.set()
        thread.join(5)


@pytest.fixture
def records(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    """The supervisor's log messages so far (at INFO and above)."""
    caplog.set_level(logging.INFO, logger="gsomia.supervise")
    return lambda: [r.getMessage() for r in caplog.records if r.name == "gsomia.supervise"]


def test_a_worker_that_keeps_dying_is_restarted_with_a_doubling_backoff(
    records: Callable[[], list[str]],
) -> None:
    with listen_socket("127.0.0.1", 0) as listener:
        supervisor = Supervisor(python("import sys; sys.exit(3)"), 1, listener)
        [worker] = supervisor.workers
        # stopped while it waits for its fourth restart (two seconds): nothing left to stop
        with terminated_when(lambda: worker.restarts == 3 and worker.due is not None):
            assert supervisor.run() == 0
    died = [message for message in records() if "exited unexpectedly" in message]
    assert len(died) == 4
    for n, (message, delay) in enumerate(zip(died, ("0.25", "0.50", "1.00", "2.00"), strict=True)):
        assert message.startswith("worker 1 (pid ")
        assert message.endswith(f"(exit status 3); restarting it in {delay}s (restart {n + 1})")
    assert records()[-1] == "supervisor: SIGTERM, stopping 0 running workers"


def test_sigterm_stops_every_worker_and_kills_one_that_does_not_stop(
    tmp_path: Path, records: Callable[[], list[str]]
) -> None:
    stubborn = python(
        "import os, signal, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "open(os.path.join(sys.argv[1], str(os.getpid())), 'w').close()\n"
        "time.sleep(60)"
    )
    with listen_socket("127.0.0.1", 0) as listener:
        supervisor = Supervisor([*stubborn, str(tmp_path)], 2, listener, stop_wait=1.0)
        with terminated_when(lambda: len(list(tmp_path.iterdir())) == 2):  # both ignore it
            assert supervisor.run() == 1
    killed = [message for message in records() if "did not stop" in message]
    assert len(killed) == 2
    assert all(message.endswith("did not stop within 1s: killed") for message in killed)
    for worker in supervisor.workers:
        assert worker.proc is not None
        assert worker.proc.returncode == -signal.SIGKILL
    assert not any("exited unexpectedly" in message for message in records())


def test_workers_inherit_the_listening_socket(tmp_path: Path) -> None:
    probe = python(
        "import os, socket, sys, time\n"
        "fd = int(sys.argv[sys.argv.index('--listen-fd') + 1])\n"
        "sock = socket.socket(fileno=fd)\n"
        "conn, _ = sock.accept()\n"
        "conn.sendall(b'worker %d' % os.getpid())\n"
        "conn.close()\n"
        "open(os.path.join(sys.argv[1], 'done'), 'w').close()\n"
        "time.sleep(60)"
    )
    with listen_socket("127.0.0.1", 0) as listener:
        port = listener.getsockname()[1]
        supervisor = Supervisor([*probe, str(tmp_path)], 1, listener, stop_wait=5.0)
        answer: list[bytes] = []

        def ask() -> bool:
            if not answer:
                with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
                    answer.append(conn.recv(100))
            return (tmp_path / "done").exists()

        with terminated_when(ask):
            assert supervisor.run() == 0
    [worker] = supervisor.workers
    assert worker.proc is not None
    assert answer == [b"worker %d" % worker.proc.pid]


def test_exit_statuses_in_words() -> None:
    assert describe_exit(0) == "exit status 0"
    assert describe_exit(2) == "exit status 2"
    assert describe_exit(-signal.SIGKILL) == "killed by SIGKILL"
    assert describe_exit(-200) == "killed by signal 200"
