"""Real time: publish at KOR → visible to a user of JPN on JPN's event stream.

Three real nodes (``gsomia serve``, SQLite files, loopback). A publisher posts envelopes of one
labelled report to KOR at a fixed rate (each post starts at its scheduled instant, whatever the
previous one is doing); a subscriber reads JPN's ``/native/v1/events`` as JPN's analyst. The
latency of an item is from the start of its POST at KOR to the arrival of its event at JPN's
subscriber: sealing, storing and logging at KOR, the outbox push, verification and storing at
JPN, and the broadcast. Also printed: the POST's own time (publish → 202 at KOR).

    .venv/bin/python bench/bench_realtime.py [--rate 100] [--seconds 10] [--runs 3]
        [--connections 64]
        [--store postgresql://postgres@127.0.0.1:5432/test]  # each node a fresh schema of it,
                                                            # dropped after (default SQLite)
        [--workers 2 --bus nats://127.0.0.1:4222]  # each node N worker processes (needs
                                                   # --store and --bus; a fresh bus prefix)
        [--tls]  # HTTPS (TLS 1.3) everywhere: the clients and mutual TLS between the nodes

With ``--workers N`` a node's CPU is its supervisor's and its workers' together.

A POST refused with 429 or 503 (the node overloaded: nothing stored) is retried after its
``Retry-After`` (plus up to as much again at random), and counted; its latency runs from the
first attempt.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import random
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.integration.native_client import collection_at
from tests.integration.nodes import TAXII, NodeProc, make_nodes, report

WARMUP = 50
CONNECTIONS = 64  # concurrent POSTs at most (one connection each); --connections
TICKS = os.sysconf("SC_CLK_TCK")
TLS: ssl.SSLContext | None = None  # --tls: the client context, trusting the nodes' test CA


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux /proc): a node's supervisor and its workers."""
    pids, seen = [pid], 0
    while seen < len(pids):
        current = pids[seen]
        seen += 1
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                pids += [int(c) for c in (task / "children").read_text().split()]
    return pids


def cpu_seconds(node: NodeProc) -> float:
    """User + system CPU time the node's processes have used so far (Linux /proc)."""
    if node.proc is None:
        return 0.0
    total = 0
    for pid in _tree(node.proc.pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / TICKS


def fsync_ms(directory: Path, n: int = 50) -> float:
    """The median time of one 4 KiB write + fsync in ``directory`` (the disk's floor)."""
    path = directory / "fsync.probe"
    times = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for _ in range(n):
            start = time.perf_counter()
            os.write(fd, b"x" * 4096)
            os.fsync(fd)
            times.append(time.perf_counter() - start)
    finally:
        os.close(fd)
        path.unlink()
    return statistics.median(times) * 1000


def node_stores(base: str | None, nodes: dict[str, NodeProc]) -> list[str]:
    """Put each node's store in a fresh schema of the PostgreSQL database ``base`` names (its
    config's ``store``); the schemas' names, to drop after. On SQLite (None) nothing changes."""
    if base is None:
        return []
    schemas = []
    for party, node in nodes.items():
        schema = f"bench_{party.lower()}_{os.urandom(4).hex()}"
        url = f"{base}{'&' if '?' in base else '?'}schema={schema}"
        head = f"store = {orjson.dumps(url).decode()}\n"
        node.config.write_text(head + node.config.read_text(encoding="utf-8"), encoding="utf-8")
        schemas.append(schema)
    return schemas


def drop_schemas(base: str | None, schemas: list[str]) -> None:
    """Drop the schemas ``node_stores`` made."""
    if base is None or not schemas:
        return
    with psycopg.connect(base.split("?", 1)[0], autocommit=True) as con:
        for schema in schemas:
            con.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def _basic(user: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()


class RawClient:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams: the measuring tool must not
    eat the CPU it measures (httpx costs ~6 ms of CPU per request on this machine)."""

    def __init__(self, port: int, limit: int = 64) -> None:
        self.port = port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.opened: list[asyncio.StreamWriter] = []
        self.slots = asyncio.Semaphore(limit)

    async def request(self, head: bytes, body: bytes) -> tuple[int, bytes]:
        status, payload, _ = await self.request_retry_after(head, body)
        return status, payload

    async def request_retry_after(self, head: bytes, body: bytes) -> tuple[int, bytes, float]:
        """The status, the body, and the ``Retry-After`` seconds (0 when none)."""
        async with self.slots:
            reader, writer = self.idle.pop() if self.idle else await self._connect()
            writer.write(head + body)
            status_line = await reader.readline()
            if not status_line:  # the server closed an idle keep-alive connection: retry
                reader, writer = await self._connect()
                writer.write(head + body)
                status_line = await reader.readline()
            length = 0
            retry_after = 0.0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
                elif name.strip().lower() == b"retry-after" and value.strip().isdigit():
                    retry_after = float(value.strip())
            payload = await reader.readexactly(length)
            self.idle.append((reader, writer))
            return int(status_line.split()[1]), payload, retry_after

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port, ssl=TLS)
        self.opened.append(writer)
        return reader, writer

    async def close(self) -> None:
        for writer in self.opened:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def sse_data(
    node: NodeProc, path: str, ready: asyncio.Event
) -> AsyncIterator[tuple[float, bytes]]:
    """Read ``node``'s server-sent events at ``path`` (chunked) as its analyst: each event's
    ``data:`` line with the instant it arrived (``time.perf_counter``); ``ready`` is set once
    the stream is open."""
    reader, writer = await asyncio.open_connection("127.0.0.1", node.port, ssl=TLS)
    writer.write(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{node.port}\r\n"
            f"Authorization: {_basic(*node.auth())}\r\nAccept: text/event-stream\r\n\r\n"
        ).encode()
    )
    try:
        status = await reader.readline()
        if b" 200 " not in status:
            raise RuntimeError(f"{node.party}'s {path}: {status!r}")
        while (line := await reader.readline()) not in (b"\r\n", b""):
            pass
        ready.set()
        pending = b""
        while True:
            size = int((await reader.readline()).strip() or b"0", 16)
            chunk = await reader.readexactly(size + 2)
            now = time.perf_counter()
            pending += chunk[:-2]
            *frames, pending = pending.split(b"\n\n")
            for frame in frames:
                for line in frame.split(b"\n"):
                    if line.startswith(b"data: "):
                        yield now, line[6:]
    finally:
        writer.close()


async def subscribe(jpn: NodeProc, arrivals: dict[str, float], ready: asyncio.Event) -> None:
    """Read JPN's event stream and note when each object's event arrives."""
    async for now, data in sse_data(jpn, "/native/v1/events", ready):
        arrivals[orjson.loads(data)["object"]["id"]] = now


async def post_until_accepted(
    client: RawClient, head: bytes, body: bytes, refusals: list[float]
) -> tuple[int, bytes, float]:
    """POST until the node takes it: a 429 or 503 (overloaded, nothing stored) is retried after
    the ``Retry-After`` it gives (each refusal noted: the time it took to come), so that nothing
    is lost. Returns the status, the body and the time of the attempt that was answered."""
    while True:
        start = time.perf_counter()
        status, payload, retry_after = await client.request_retry_after(head, body)
        if status not in {429, 503}:
            return status, payload, time.perf_counter() - start
        refusals.append(time.perf_counter() - start)
        # the delay asked, and up to as much again at random: refused together, the posts must
        # not all come back in the same instant (a client that retries in lockstep is a herd)
        await asyncio.sleep((retry_after or 1.0) * (1 + random.random()))


async def one_run(  # noqa: PLR0917 - the run's parameters
    kor: NodeProc, jpn: NodeProc, base: int, rate: float, seconds: float, connections: int
) -> tuple[list[float], list[float], int, Refusals]:
    arrivals: dict[str, float] = {}
    sent: dict[str, float] = {}
    posted: list[float] = []
    ready = asyncio.Event()
    subscriber = asyncio.create_task(subscribe(jpn, arrivals, ready))
    await ready.wait()
    count = int(rate * seconds) + WARMUP
    path = f"/api/collections/{collection_at(kor)}/objects/"
    bodies = [orjson.dumps(report(base + i)) for i in range(count)]
    heads = [
        (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{kor.port}\r\n"
            f"Authorization: {_basic(*kor.auth())}\r\nAccept: {TAXII}\r\n"
            f"Content-Type: {TAXII}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        for body in bodies
    ]
    # past ``connections`` POSTs in flight, the rest wait here, in the client; with enough of
    # them the node decides what waits: past what it sustains it refuses (503 + Retry-After)
    client = RawClient(kor.port, limit=connections)
    refusals: list[float] = []
    accepted: list[float] = []  # the answered attempt alone: how long what is taken waits

    async def post(i: int) -> None:
        stix_id = f"report--00000000-0000-4000-8000-{base + i:012d}"
        start = time.perf_counter()
        sent[stix_id] = start  # latency from the first attempt, retries included
        status, payload, attempt = await post_until_accepted(client, heads[i], bodies[i], refusals)
        if status != 202:
            raise RuntimeError(f"publish failed: {status} {payload[:200]!r}")
        if i >= WARMUP:
            posted.append(time.perf_counter() - start)
            accepted.append(attempt)

    try:
        t0 = time.perf_counter()
        tasks = []
        for i in range(count):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(i)))
        await asyncio.gather(*tasks)
        deadline = time.perf_counter() + 10
        while len(arrivals) < count and time.perf_counter() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    finally:
        await client.close()
    subscriber.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await subscriber
    measured = [f"report--00000000-0000-4000-8000-{base + i:012d}" for i in range(WARMUP, count)]
    latencies = [arrivals[s] - sent[s] for s in measured if s in arrivals]
    missing = sum(1 for s in measured if s not in arrivals)
    return latencies, posted, missing, Refusals(len(refusals), accepted, refusals)


@dataclass(frozen=True)
class Refusals:
    """How many POSTs were refused (503, retried), how long the accepted attempt took, and how
    long a refusal took to come."""

    count: int
    accepted: list[float]
    refused: list[float]

    def text(self) -> str:
        if not self.count:
            return "refusals 0"
        return (
            f"refusals (503, retried) {self.count}, each in p50 "
            f"{ms(percentile(self.refused, 50))}; accepted attempt POST→202 p50 "
            f"{ms(percentile(self.accepted, 50))}, p99 {ms(percentile(self.accepted, 99))}"
        )


def ms(value: float) -> str:
    return f"{value * 1000:7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=100.0, help="items per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="publishing time per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--connections",
        type=int,
        default=CONNECTIONS,
        help="POSTs in flight at most (more wait in the client); 1024 lets the node refuse",
    )
    parser.add_argument(
        "--store",
        help="a PostgreSQL database URL: each node's store a fresh schema of it (default SQLite)",
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes per node")
    parser.add_argument("--bus", help="a NATS URL: the nodes' bus (a fresh prefix per run)")
    parser.add_argument("--tls", action="store_true", help="HTTPS and mutual TLS everywhere")
    args = parser.parse_args()
    global TLS  # noqa: PLW0603 - the clients' one context, set once from the command line
    with tempfile.TemporaryDirectory(prefix="gsomia-bench-rt-") as tmp:
        bus = None if args.bus is None else f"{args.bus}?prefix=bench{os.urandom(4).hex()}"
        nodes = make_nodes(Path(tmp), bus=bus, tls=args.tls)
        if args.tls:
            ca = str(next(iter(nodes.values())).ca)
            TLS = ssl.create_default_context(cafile=ca)
            os.environ["SSL_CERT_FILE"] = ca  # httpx's look-ups (the collection's id) trust it
        for node in nodes.values():
            node.serve_args = ("--workers", str(args.workers)) if args.workers > 1 else ()
        schemas = node_stores(args.store, nodes)
        print(
            f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, "
            f"write+fsync {fsync_ms(Path(tmp)):.2f} ms (median); store: {args.store or 'SQLite'}; "
            f"bus: {args.bus or 'in-process'}; workers per node: {args.workers}; "
            f"{'TLS 1.3' if args.tls else 'plain HTTP'}"
        )
        try:
            for node in nodes.values():
                node.start()
            kor, jpn = nodes["KOR"], nodes["JPN"]
            every: list[float] = []
            p99s: list[float] = []
            p50s: list[float] = []
            posts: list[float] = []
            for run in range(args.runs):
                cpu_before = {p: cpu_seconds(n) for p, n in nodes.items()}
                own_before = time.process_time()
                latencies, posted, missing, refused = asyncio.run(
                    one_run(
                        kor, jpn, (run + 1) * 1_000_000, args.rate, args.seconds, args.connections
                    )
                )
                items = len(latencies) + WARMUP
                cpu = {p: (cpu_seconds(n) - cpu_before[p]) / items for p, n in nodes.items()}
                cpu["client"] = (time.process_time() - own_before) / items
                every += latencies
                posts += posted
                p50s.append(percentile(latencies, 50))
                p99s.append(percentile(latencies, 99))
                print(
                    f"run {run + 1}: {len(latencies)} items at {args.rate:.0f}/s, "
                    f"missing {missing}, {refused.text()}; publish→visible p50 {ms(percentile(latencies, 50))}, "
                    f"p95 {ms(percentile(latencies, 95))}, p99 {ms(percentile(latencies, 99))}, "
                    f"max {ms(max(latencies))}; POST→202 p50 {ms(percentile(posted, 50))}, "
                    f"p99 {ms(percentile(posted, 99))}; CPU per item "
                    + ", ".join(f"{p} {v * 1000:.1f} ms" for p, v in cpu.items())
                    + f"; load average {os.getloadavg()[0]:.2f}"
                )
            print(
                f"all runs ({len(every)} items): publish→visible p50 {ms(percentile(every, 50))}, "
                f"p95 {ms(percentile(every, 95))}, p99 {ms(percentile(every, 99))}; "
                f"median of runs: p50 {ms(statistics.median(p50s))}, "
                f"p99 {ms(statistics.median(p99s))}; POST→202 p50 {ms(percentile(posts, 50))}"
            )
            print("target: p99 ≤ 50 ms on loopback at 100 items/s")
        finally:
            for node in nodes.values():
                node.stop()
            drop_schemas(args.store, schemas)


if __name__ == "__main__":
    main()
