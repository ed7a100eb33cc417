"""The real NATS for tests: the shared server at 127.0.0.1:4222, and private servers a test owns.

The shared server (with JetStream) is the one CI's machine starts before the run (``.ci/run``
starts it if it is down). If it is not there, the tests that need it fail — never skip — with a
message naming it and the command that starts it. Each test (or module) works under a prefix of
its own (``fresh_prefix``): the bus names its streams and buckets from it, and ``cleanup``
deletes what was made under it.

``NatsServer`` is a ``nats-server`` of a test's own, on a free port with its own store
directory, for the tests that stop, kill and restart the server (never the shared one).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import socket
import subprocess
import time
from pathlib import Path

import nats
import nats.errors
import pytest

from tests.ports import free_port

HOST = "127.0.0.1"
PORT = 4222
BINARY = "/usr/sbin/nats-server"
START = (
    f"start-stop-daemon --start --oknodo --background --exec {BINARY} -- -a {HOST} -p {PORT} "
    "-js -sd /var/lib/nats-server -l /var/log/nats-server.log"
)


def unreachable(why: str) -> str:
    return (
        f"NATS with JetStream at {HOST}:{PORT} is not reachable ({why}); the bus tests need it: "
        f"start it with `{START}`"
    )


def require() -> None:
    """pytest.fail, naming the server and how to start it, unless it answers with JetStream."""
    try:
        with socket.create_connection((HOST, PORT), timeout=3) as sock:
            info = sock.recv(4096).decode(errors="replace")
    except OSError as exc:
        pytest.fail(unreachable(str(exc) or type(exc).__name__), pytrace=False)
    if '"jetstream":true' not in info:
        pytest.fail(unreachable("it answers without JetStream"), pytrace=False)


def fresh_prefix() -> str:
    """A bus prefix no test has used."""
    return f"t{secrets.token_hex(5)}"


def bus_url(prefix: str, *, port: int = PORT, ack_wait: float | None = None) -> str:
    """The ``bus`` URL of a node config on the server at ``port`` under ``prefix``."""
    url = f"nats://{HOST}:{port}?prefix={prefix}"
    return url if ack_wait is None else f"{url}&ack_wait={ack_wait}"


async def cleanup(prefix: str, *, port: int = PORT) -> list[str]:
    """Delete every stream (and so every key-value bucket) made under ``prefix``; their names."""
    nc = await nats.connect(f"nats://{HOST}:{port}", connect_timeout=3, allow_reconnect=False)
    try:
        js = nc.jetstream(timeout=5)
        names = [name for name in await js.streams_info() if _under(name.config.name, prefix)]
        for info in names:
            await js.delete_stream(str(info.config.name))
        return [str(info.config.name) for info in names]
    finally:
        await nc.close()


def _under(name: str | None, prefix: str) -> bool:
    return name is not None and name.removeprefix("KV_").startswith(f"{prefix}_")


class NatsServer:
    """A private ``nats-server -js`` on a free port, its store in ``store``; ``start`` waits
    until it takes connections, ``stop`` (SIGTERM) and ``kill`` (SIGKILL) wait until it is
    gone; ``start`` again runs it on the same port and store."""

    def __init__(self, store: Path, *, port: int | None = None) -> None:
        self.store = store
        self.port = port if port is not None else free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://{HOST}:{self.port}"

    def start(self, *, within: float = 10.0) -> None:
        if self.proc is not None:
            msg = "this NATS server is running already"
            raise RuntimeError(msg)
        log = (self.store.parent / f"nats-{self.port}.log").open("ab")
        with log:
            self.proc = subprocess.Popen(
                [BINARY, "-a", HOST, "-p", str(self.port), "-js", "-sd", str(self.store)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"nats-server on port {self.port} ended at start: see {log.name}")
            with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), 0.2):
                return
            time.sleep(0.05)
        self.kill()
        pytest.fail(f"nats-server on port {self.port} did not listen within {within} s")

    def _end(self, sig: signal.Signals) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop(self) -> None:
        """SIGTERM: the server shuts down cleanly (its store flushed)."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: the server dies as a crash would."""
        self._end(signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()


async def wait_connected(url: str, *, within: float = 10.0) -> None:
    """Until a client can connect to ``url`` (a server just started may take a moment)."""
    deadline = time.monotonic() + within
    while True:
        try:
            nc = await nats.connect(url, connect_timeout=1, allow_reconnect=False)
        except (nats.errors.Error, OSError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)
        else:
            await nc.close()
            return
