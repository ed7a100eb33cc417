"""Publish throughput under concurrency: 16 clients, each posting one labelled object per
request over TAXII 2.1 to a real node (``gsomia serve``, loopback), as fast as the node answers.

Each client keeps one keep-alive connection and posts envelopes of one report (with its gsomia
label marking and the label extension-definition, as every publish must carry them) one after
the other; the node group-commits what arrives together (one batch signature, one transaction,
one fsync). A 429 or 503 (overloaded, nothing stored) is retried after its ``Retry-After``, and
counted. Objects/s is the reports accepted (202) per second of the run; every one must be
stored (checked after each run by reading the collection back). Prints the median of runs.

    .venv/bin/python bench/bench_publish.py [--clients 16] [--seconds 5] [--runs 3]
        [--store postgresql://postgres@127.0.0.1:5432/test]  # the node's store a fresh schema
                                                            # of it, dropped after (default SQLite)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tests.integration.native_client import collection_at
from tests.integration.nodes import TAXII, NodeProc, make_nodes, report

from bench_realtime import (
    RawClient,
    _basic,
    cpu_seconds,
    drop_schemas,
    fsync_ms,
    node_stores,
    percentile,
    post_until_accepted,
)

TARGET = 1000.0  # objects/s (issue 12)


async def one_run(
    kor: NodeProc, base: int, clients: int, seconds: float
) -> tuple[int, float, list[float], int]:
    """(objects accepted, seconds, per-request latencies, refusals) of one run."""
    path = f"/api/collections/{collection_at(kor)}/objects/"
    auth = _basic(*kor.auth())
    latencies: list[float] = []
    refusals: list[float] = []
    accepted = 0

    def request(n: int) -> tuple[bytes, bytes]:
        body = orjson.dumps(report(n))
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{kor.port}\r\n"
            f"Authorization: {auth}\r\nAccept: {TAXII}\r\n"
            f"Content-Type: {TAXII}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        return head, body

    async def client(k: int, stop: float) -> None:
        nonlocal accepted
        conn = RawClient(kor.port, limit=1)
        n = base + k * 1_000_000
        try:
            while time.perf_counter() < stop:
                head, body = request(n)  # made as needed: a few µs, not a queue built ahead
                n += 1
                start = time.perf_counter()
                status, payload, _ = await post_until_accepted(conn, head, body, refusals)
                if status != 202:
                    msg = f"publish failed: {status} {payload[:200]!r}"
                    raise RuntimeError(msg)
                latencies.append(time.perf_counter() - start)
                accepted += 1
        finally:
            await conn.close()

    start = time.perf_counter()
    await asyncio.gather(*(client(k, start + seconds) for k in range(clients)))
    return accepted, time.perf_counter() - start, latencies, len(refusals)


def stored_reports(kor: NodeProc) -> int:
    """How many reports the node's own collection serves (read back, page by page)."""
    url = f"{kor.api_root}collections/{collection_at(kor)}/objects/"
    found = 0
    params: dict[str, str] = {"limit": "1000", "match[type]": "report"}
    with httpx.Client(auth=kor.auth(), headers={"Accept": TAXII}, timeout=60) as client:
        while True:
            page = client.get(url, params=params).json()
            found += len(page.get("objects", []))
            if not page.get("more"):
                return found
            params["next"] = page["next"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0, help="publishing time per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--store",
        help="a PostgreSQL database URL: the node's store a fresh schema of it (default SQLite)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gsomia-bench-publish-") as tmp:
        kor = make_nodes(Path(tmp), parties=("KOR", "USA"))["KOR"]
        head = "cosign_interval = 0\n"
        kor.config.write_text(head + kor.config.read_text(encoding="utf-8"), encoding="utf-8")
        schemas = node_stores(args.store, {"KOR": kor})
        print(
            f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, "
            f"write+fsync {fsync_ms(Path(tmp)):.2f} ms (median); store: {args.store or 'SQLite'}"
        )
        try:
            kor.start()
            rates: list[float] = []
            total = 0
            for run in range(args.runs):
                cpu_before = cpu_seconds(kor)
                accepted, took, latencies, refused = asyncio.run(
                    one_run(kor, (run + 1) * 100_000_000, args.clients, args.seconds)
                )
                total += accepted
                rate = accepted / took
                rates.append(rate)
                cpu = (cpu_seconds(kor) - cpu_before) / max(accepted, 1)
                print(
                    f"run {run + 1}: {accepted} objects in {took:.2f} s from {args.clients} "
                    f"clients: {rate:7.0f} objects/s; POST→202 p50 "
                    f"{percentile(latencies, 50) * 1000:.1f} ms, p99 "
                    f"{percentile(latencies, 99) * 1000:.1f} ms; refusals (retried) {refused}; "
                    f"node CPU per object {cpu * 1000:.2f} ms"
                )
            served = stored_reports(kor)
            if served != total:
                msg = f"accepted {total} objects, the node serves {served}"
                raise RuntimeError(msg)
            print(
                f"median of runs: {statistics.median(rates):.0f} objects/s "
                f"(target ≥ {TARGET:.0f}); every accepted object stored ({served})"
            )
        finally:
            kor.stop()
            drop_schemas(args.store, schemas)


if __name__ == "__main__":
    main()
