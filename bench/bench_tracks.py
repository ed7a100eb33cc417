"""Tracks in real time: updates created at KOR → on a JPN analyst's track stream, per route.

Three real nodes (``gsomia serve``, SQLite files, loopback; set up as ``bench_realtime.py`` sets
them up, with its helpers). A publisher at KOR runs a salvo: ``--tracks`` tracks at once,
``--rate`` updates per second in all for ``--seconds``; every ``--tick-ms`` it makes the updates
due by then (each stamped with its creation instant, the publisher's wall clock) and posts the new
ones of every track in one request to ``POST /native/v1/tracks/updates`` (``--post salvo``, the
default: one POST in flight) or each track's in its own to ``POST /native/v1/tracks/{id}/updates``
(``--post track``: one POST in flight per track) — so a track's updates leave in order and those
made while a POST is out go in the next.
A subscriber reads JPN's ``GET /native/v1/tracks/stream`` as JPN's analyst and records, per
(track, seq), when the update arrived and by which route. Latency = arrival − creation (same
machine, same clock).

Two configurations, one after the other, three fresh nodes each:

- ``direct``: scenario ``historical`` on the real clock (GSOMIA in force, the 2023 link's
  standing consent): an update reaches JPN directly (route ``["KOR"]``) and through USA
  (``["KOR", "USA"]``); the stream shows the first arrival only, almost always the direct one.
- ``hub``: scenario ``lapse-2019`` on the real clock: the Japan–ROK GSOMIA ended on 2019-11-23,
  so KOR may not release to JPN directly, but the 2023 link (hub USA, standing consent) carries
  the track through USA: every update arrives by route ``["KOR", "USA"]``.

Checked: no update lost or reordered within a track (count and order per track at JPN).
Printed per route: p50/p90/p99/max, the updates per second achieved, CPU per update at each
node (``/proc/<pid>/stat`` utime+stime before and after). Peer, in the same run on the
``direct`` nodes: the same kind of content published one item at a time as a TAXII envelope to
KOR's collection, latency to JPN's ``/native/v1/events`` (``bench_realtime.py``'s route and
code), at ``--taxii-rate`` (a rate that path sustains); the ratio of medians and of p99s.

    .venv/bin/python bench/bench_tracks.py [--rate 1000] [--seconds 30] [--tracks 8]
        [--tick-ms 5] [--post salvo|track] [--window-ms N] [--taxii-rate 100] [--taxii-seconds 10]
        [--profile DIR]  # sample every node's threads (all stacks, every 2 ms) and write
                         # DIR/<config>-<PARTY>.txt: the hottest functions and collapsed stacks
                         # (flame-graph input); sampling costs CPU, so quote figures from a run
                         # without it

Targets (issue 15): no update lost or reordered; p99 ≤ 25 ms direct, ≤ 50 ms through the hub.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import collections
import contextlib
import itertools
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.integration
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_realtime

from tests.integration.nodes import TAXII, NodeProc, make_nodes

from bench_realtime import (  # the three nodes, the CPU reading and the peer's run: one code
    WARMUP,
    RawClient,
    _basic,
    cpu_seconds,
    fsync_ms,
    ms,
    one_run,
    percentile,
    sse_data,
)
from gsomia.clock import SystemClock
from gsomia.domain.instants import format_instant
from gsomia.domain.labels import Label
from gsomia.domain.tracks import TRACK_PURPOSE, TRACK_TOPIC

DIRECT = ("KOR",)
VIA_HUB = ("KOR", "USA")
SAMPLE_EVERY = 0.002  # seconds between two samples of a profiled node's stacks
#: innermost frames of a thread that waits (not busy): the event loop's selector (with uvloop
#: the loop is C code, so its wait — and its C-side socket work — shows as ``runners.py:run``),
#: an executor's or a writer's queue, a lock or condition
IDLE = frozenset(
    (
        "selectors.py:select",
        "runners.py:run",
        "thread.py:_worker",
        "threading.py:wait",
        "queue.py:get",
    )
)
ALL = "*"  # the in-flight POST of every track's updates (``--post salvo``)
DRAIN = 10.0  # seconds to wait after the last POST for the stream to catch up


@dataclass
class Salvo:
    """What the publisher made and what JPN's stream showed."""

    tracks: list[str]
    created: dict[tuple[str, int], float] = field(default_factory=dict)
    arrived: dict[tuple[str, int], tuple[float, tuple[str, ...]]] = field(default_factory=dict)
    order: dict[str, list[int]] = field(default_factory=lambda: collections.defaultdict(list))
    posts: int = 0
    lag: list[float] = field(default_factory=list)  # made → posted, a POST's oldest update
    seconds: float = 0.0  # from the first update made to the last arrival


def label_of(track: str) -> bytes:
    """KOR's label of a track: SECRET (II), releasable to JPN and USA, the warning topic and
    purpose (DOMAIN.md §3, §7.1)."""
    label = Label(
        id=track,
        originator="KOR",
        classification="II",
        releasable_to=("JPN", "USA"),
        topics=(TRACK_TOPIC,),
        purposes=(TRACK_PURPOSE,),
    )
    return orjson.dumps(label.to_json())


def update(track: str, seq: int, at: datetime, n: int) -> bytes:
    """A synthesized update: a point moving east across the Sea of Japan, ``n`` a counter."""
    x = (n % 10_000) / 10_000
    return orjson.dumps(
        {
            "track": track,
            "seq": seq,
            "at": format_instant(at),
            "party": "KOR",
            "sensor": "bench-radar",
            "position": {"lat": 39.0 + x, "lon": 127.5 + 4 * x, "alt_km": 100.0 + 50 * x},
            "velocity": {"east": 2.0, "north": 0.5, "up": 0.1},
            "phase": "midcourse",
            "launch": {"lat": 39.0, "lon": 127.5, "alt_km": 0.0},
            "impact": {
                "lat": 40.0,
                "lon": 132.0,
                "semi_major_km": 20.0,
                "semi_minor_km": 8.0,
                "orientation_deg": 75.0,
            },
            "synthesized": True,
        }
    )


async def subscribe(jpn: NodeProc, salvo: Salvo, ready: asyncio.Event) -> None:
    """Read JPN's track stream as its analyst; note each update's arrival."""
    async for now, data in sse_data(jpn, "/native/v1/tracks/stream", ready):
        event = orjson.loads(data)
        key = (event["track"], event["update"]["seq"])
        salvo.arrived.setdefault(key, (now, tuple(event["route"])))
        salvo.order[event["track"]].append(key[1])


class Publisher:
    """KOR's sensor: what is waiting per track, the POSTs in flight (one per track, or one in
    all with ``salvo_posts``)."""

    def __init__(self, kor: NodeProc, salvo: Salvo, *, salvo_posts: bool) -> None:
        self.salvo = salvo
        self.salvo_posts = salvo_posts
        self.client = RawClient(kor.port, limit=len(salvo.tracks))
        self.labels = {t: label_of(t) for t in salvo.tracks}
        common = (
            f"HTTP/1.1\r\nHost: 127.0.0.1:{kor.port}\r\n"
            f"Authorization: {_basic(*kor.auth())}\r\nContent-Type: application/json\r\n"
        )
        self.heads = {t: f"POST /native/v1/tracks/{t}/updates {common}" for t in salvo.tracks}
        self.many_head = f"POST /native/v1/tracks/updates {common}"
        self.waiting: dict[str, list[bytes]] = {t: [] for t in salvo.tracks}
        self.out: dict[str, asyncio.Task[None]] = {}
        self.oldest: dict[str, float] = {}  # when the oldest update waiting for a track was made

    def add(self, track: str, made: float, body: bytes) -> None:
        if not self.waiting[track]:
            self.oldest[track] = made
        self.waiting[track].append(body)

    def _one(self, track: str, parts: list[bytes]) -> bytes:
        return b'{"label":' + self.labels[track] + b',"updates":[' + b",".join(parts) + b"]}"

    async def _post(self, head: str, body: bytes) -> None:
        status, payload = await self.client.request(
            f"{head}Content-Length: {len(body)}\r\n\r\n".encode(), body
        )
        if status != 202:
            raise RuntimeError(f"KOR refused updates: {status} {payload[:300]!r}")
        self.salvo.posts += 1

    def _free(self, key: str) -> bool:
        task = self.out.get(key)
        if task is None:
            return True
        if not task.done():
            return False
        task.result()  # a refused POST stops the bench here
        return True

    def send(self) -> None:
        """A POST of what waits, where none is in flight."""
        waiting = {t: parts for t, parts in self.waiting.items() if parts}
        if self.salvo_posts:
            if waiting and self._free(ALL):
                self.salvo.lag.append(time.perf_counter() - min(self.oldest[t] for t in waiting))
                body = b'{"tracks":[' + b",".join(self._one(t, p) for t, p in waiting.items())
                for t in waiting:
                    self.waiting[t] = []
                self.out[ALL] = asyncio.create_task(self._post(self.many_head, body + b"]}"))
            return
        for track, parts in waiting.items():
            if self._free(track):
                self.salvo.lag.append(time.perf_counter() - self.oldest[track])
                self.waiting[track] = []
                body = self._one(track, parts)
                self.out[track] = asyncio.create_task(self._post(self.heads[track], body))

    def busy(self) -> bool:
        return any(self.waiting.values()) or any(not t.done() for t in self.out.values())


async def publish(
    kor: NodeProc, salvo: Salvo, rate: float, seconds: float, tick: float, *, salvo_posts: bool
) -> None:
    """The salvo: update i goes to track i mod N (its next seq), due at t0 + i / rate. Posted
    all tracks in one request (``salvo_posts``: ``POST /native/v1/tracks/updates``, one in
    flight) or per track (``POST /native/v1/tracks/{id}/updates``, one in flight per track)."""
    n = len(salvo.tracks)
    total = int(rate * seconds)
    publisher = Publisher(kor, salvo, salvo_posts=salvo_posts)
    try:
        made = 0
        t0 = time.perf_counter()
        wall0 = SystemClock().now()
        while made < total:
            now = time.perf_counter()
            due = min(total, int((now - t0) * rate) + 1)
            while made < due:
                track, seq = salvo.tracks[made % n], made // n + 1
                stamp = time.perf_counter()
                at = wall0 + timedelta(seconds=stamp - t0)
                publisher.add(track, stamp, update(track, seq, at, made))
                salvo.created[track, seq] = stamp
                made += 1
            publisher.send()
            await asyncio.sleep(max(0.0, t0 + (made / rate) - time.perf_counter(), tick))
        while publisher.busy():
            publisher.send()
            await asyncio.sleep(0.001)
        for task in publisher.out.values():
            task.result()
    finally:
        await publisher.client.close()


async def salvo_run(  # noqa: PLR0917 - the run's parameters
    kor: NodeProc,
    jpn: NodeProc,
    tracks: int,
    rate: float,
    seconds: float,
    tick: float,
    *,
    salvo_posts: bool,
) -> Salvo:
    salvo = Salvo([f"track--{uuid.uuid4()}" for _ in range(tracks)])
    ready = asyncio.Event()
    subscriber = asyncio.create_task(subscribe(jpn, salvo, ready))
    await asyncio.wait_for(ready.wait(), 10)
    start = time.perf_counter()
    await publish(kor, salvo, rate, seconds, tick, salvo_posts=salvo_posts)
    deadline = time.perf_counter() + DRAIN
    while len(salvo.arrived) < len(salvo.created) and time.perf_counter() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    salvo.seconds = max((a for a, _ in salvo.arrived.values()), default=start) - start
    subscriber.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await subscriber
    return salvo


def check(salvo: Salvo) -> str:
    """Lost and reordered updates per track: what JPN's stream showed against what was made."""
    made = collections.Counter(t for t, _ in salvo.created)
    lost = {t: made[t] - sum(1 for u, _ in salvo.arrived if u == t) for t in salvo.tracks}
    reordered = {
        t: sum(1 for a, b in itertools.pairwise(s) if b <= a) for t, s in salvo.order.items()
    }
    gaps = {t: len(set(range(1, made[t] + 1)) - set(salvo.order.get(t, ()))) for t in salvo.tracks}
    bad = sum(lost.values()) + sum(reordered.values()) + sum(gaps.values())
    verdict = "OK" if bad == 0 else "FAILED"
    return (
        f"per track: lost {sum(lost.values())}, out of order {sum(reordered.values())}, "
        f"gaps {sum(gaps.values())} over {len(salvo.tracks)} tracks — {verdict}"
    )


def by_route(salvo: Salvo) -> dict[tuple[str, ...], list[float]]:
    routes: dict[tuple[str, ...], list[float]] = collections.defaultdict(list)
    for key, (arrived, route) in salvo.arrived.items():
        routes[route].append(arrived - salvo.created[key])
    return routes


def figures(values: list[float]) -> str:
    return (
        f"p50 {ms(percentile(values, 50))}, p90 {ms(percentile(values, 90))}, "
        f"p99 {ms(percentile(values, 99))}, max {ms(max(values))}"
    )


def start_node(node: NodeProc, profile: Path | None) -> None:
    """Start ``node`` (``gsomia serve``), under this script's stack sampler when ``profile``."""
    if profile is None:
        node.start()
        return
    with node.log.open("ab") as out:
        node.proc = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--serve-sampled",
                str(profile),
                "serve",
                "--config",
                str(node.config),
            ],
            env=node.env,
            stdout=out,
            stderr=out,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if node.proc.poll() is not None:
            raise RuntimeError(f"node {node.party} exited: {node.log.read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{node.url}/taxii2/", headers={"Accept": TAXII}, timeout=1).status_code:
                return
        time.sleep(0.05)
    raise RuntimeError(f"node {node.party} did not start")


def serve_sampled(out: Path, argv: list[str]) -> None:
    """Run ``gsomia`` with ``argv`` in this process, sampling every other thread's stack every
    ``SAMPLE_EVERY`` s; at exit write to ``out`` the functions by their busy samples — a thread
    waiting (in a selector, a queue, a lock: ``IDLE``) is not busy — own (innermost frame) and
    inclusive (anywhere on the stack), then the busy collapsed stacks (``frame;frame;… count``,
    flame-graph input)."""
    stacks: collections.Counter[str] = collections.Counter()
    done = threading.Event()

    def sample() -> None:
        me = threading.get_ident()
        while not done.wait(SAMPLE_EVERY):
            for ident, frame in sys._current_frames().items():  # noqa: SLF001 - the sampler's source
                if ident == me:
                    continue
                names = []
                f = frame
                while f is not None:
                    code = f.f_code
                    names.append(f"{Path(code.co_filename).name}:{code.co_name}")
                    f = f.f_back
                stacks[";".join(reversed(names))] += 1

    def write() -> None:
        if done.is_set():
            return
        done.set()
        total = sum(stacks.values()) or 1
        busy = {s: c for s, c in stacks.items() if s.rsplit(";", 1)[-1] not in IDLE}
        work = sum(busy.values()) or 1
        own: collections.Counter[str] = collections.Counter()
        inclusive: collections.Counter[str] = collections.Counter()
        for stack, count in busy.items():
            frames = stack.split(";")
            own[frames[-1]] += count
            for name in set(frames):
                inclusive[name] += count

        def table(counter: collections.Counter[str]) -> str:
            return "\n".join(
                f"{c:8d} {100 * c / work:5.1f}%  {name}" for name, c in counter.most_common(40)
            )

        out.write_text(
            f"samples {total} (every {SAMPLE_EVERY * 1000:g} ms, each thread but the sampler's), "
            f"busy {work}\nown busy samples (innermost frame):\n{table(own)}\n\n"
            f"inclusive busy samples (anywhere on the stack):\n{table(inclusive)}\n\n"
            "busy collapsed stacks:\n"
            + "\n".join(f"{s} {c}" for s, c in sorted(busy.items(), key=lambda x: -x[1]))
            + "\n",
            encoding="utf-8",
        )

    def on_term(_signum: int, _frame: object) -> None:
        # uvicorn, stopping on SIGTERM, restores this handler and raises the signal again
        write()
        raise SystemExit(0)

    threading.Thread(target=sample, daemon=True).start()
    atexit.register(write)
    signal.signal(signal.SIGTERM, on_term)
    from gsomia.cli.app import main

    sys.argv = ["gsomia", *argv]
    main()


@dataclass
class Result:
    name: str
    salvo: Salvo
    cpu: dict[str, float]


def configuration(
    name: str, scenario: str, root: Path, args: argparse.Namespace, *, taxii: bool
) -> tuple[Result, list[float]]:
    """Three fresh nodes on ``scenario``, the salvo, and (``taxii``) the TAXII peer on them."""
    nodes = make_nodes(root / name, scenario=scenario)
    if args.window_ms is not None:  # a top-level key: before the file's first table
        for node in nodes.values():
            text = node.config.read_text(encoding="utf-8")
            node.config.write_text(f"track_window_ms = {args.window_ms}\n{text}", encoding="utf-8")
    peer: list[float] = []
    try:
        for party, node in nodes.items():
            profile = None if args.profile is None else args.profile / f"{name}-{party}.txt"
            start_node(node, profile)
        kor, jpn = nodes["KOR"], nodes["JPN"]
        before = {p: cpu_seconds(n) for p, n in nodes.items()}
        salvo = asyncio.run(
            salvo_run(
                kor,
                jpn,
                args.tracks,
                args.rate,
                args.seconds,
                args.tick_ms / 1000,
                salvo_posts=args.post == "salvo",
            )
        )
        made = len(salvo.created) or 1
        cpu = {p: (cpu_seconds(n) - before[p]) / made for p, n in nodes.items()}
        if taxii:
            latencies, _, missing, _ = asyncio.run(
                one_run(kor, jpn, 1_000_000, args.taxii_rate, args.taxii_seconds, 64)
            )
            print(
                f"TAXII peer: {len(latencies)} envelopes at {args.taxii_rate:g}/s "
                f"(after {WARMUP} warm-up), missing {missing}: POST at KOR → JPN's "
                f"/native/v1/events {figures(latencies)}"
            )
            peer = latencies
    finally:
        for node in nodes.values():
            node.stop()
    return Result(name, salvo, cpu), peer


def report(result: Result) -> dict[tuple[str, ...], list[float]]:
    salvo = result.salvo
    made = len(salvo.created)
    rate = len(salvo.arrived) / salvo.seconds if salvo.seconds else 0.0
    print(
        f"{result.name}: {made} updates on {len(salvo.tracks)} tracks in {salvo.posts} POSTs "
        f"({made / max(salvo.posts, 1):.1f} updates per POST); {check(salvo)}; "
        f"{rate:.0f} updates/s arrived at JPN"
    )
    routes = by_route(salvo)
    for route, values in sorted(routes.items()):
        print(
            f"  route {'→'.join(route)}→JPN: {len(values)} updates, created → stream {figures(values)}"
        )
    print(
        "  CPU per update: "
        + ", ".join(f"{p} {v * 1e6:.0f} µs" for p, v in result.cpu.items())
        + (
            f"; an update waited to be posted p99 {ms(percentile(salvo.lag, 99))}"
            if salvo.lag
            else ""
        )
    )
    return routes


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--serve-sampled":
        serve_sampled(Path(sys.argv[2]), sys.argv[3:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="updates per second, all tracks")
    parser.add_argument("--seconds", type=float, default=30.0, help="publishing time per config")
    parser.add_argument("--tracks", type=int, default=8, help="tracks at once (a salvo)")
    parser.add_argument("--tick-ms", type=float, default=5.0, help="the publisher's period")
    parser.add_argument(
        "--post",
        choices=("salvo", "track"),
        default="salvo",
        help="one POST for all tracks' updates (salvo) or one per track",
    )
    parser.add_argument(
        "--window-ms", type=int, help="the nodes' track_window_ms (default: the node's default)"
    )
    parser.add_argument("--taxii-rate", type=float, default=100.0, help="the peer's items/s")
    parser.add_argument("--taxii-seconds", type=float, default=10.0, help="the peer's time")
    parser.add_argument("--profile", type=Path, help="sample the nodes; profiles in this folder")
    args = parser.parse_args()
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gsomia-bench-tracks-") as tmp:
        print(
            f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, "
            f"write+fsync {fsync_ms(Path(tmp)):.2f} ms (median); SQLite; plain HTTP; "
            f"{args.tracks} tracks, {args.rate:g} updates/s for {args.seconds:g} s, "
            + (
                f"one POST of all tracks every {args.tick_ms:g} ms at most"
                if args.post == "salvo"
                else f"a POST per track every {args.tick_ms:g} ms at most"
            )
            + ("" if args.window_ms is None else f"; track_window_ms {args.window_ms}")
            + (f"; PROFILED (sampling costs CPU) into {args.profile}" if args.profile else "")
        )
        direct, peer = configuration("direct", "historical", Path(tmp), args, taxii=True)
        hub, _ = configuration("hub", "lapse-2019", Path(tmp), args, taxii=False)
    first = report(direct)
    through = report(hub)
    d = first.get(DIRECT, [])
    h = through.get(VIA_HUB, [])
    if d and peer:
        print(
            f"TAXII path ÷ track direct: median {statistics.median(peer) / statistics.median(d):.1f}×, "
            f"p99 {percentile(peer, 99) / percentile(d, 99):.1f}×"
        )
    if h and peer:
        print(
            f"TAXII path ÷ track via USA: median {statistics.median(peer) / statistics.median(h):.1f}×, "
            f"p99 {percentile(peer, 99) / percentile(h, 99):.1f}×"
        )
    print("targets: no update lost or reordered; p99 ≤ 25 ms direct, ≤ 50 ms through the hub")


if __name__ == "__main__":
    main()
