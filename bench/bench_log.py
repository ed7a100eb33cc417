"""Benchmark of the transparency log (issue 4). Not a test: it prints figures.

    .venv/bin/python bench/bench_log.py                      # 1M and 10M entries, pymerkle at 1M
    .venv/bin/python bench/bench_log.py --sizes 100000 --pymerkle-size 100000 --reps 3   # quick

Figures (medians over repetitions; every ratio measured side by side in this run):

- append throughput, entries/s, batched commits (one durable transaction per batch; WAL,
  synchronous=FULL): end to end from JSON documents (validation + canonical encoding + hashing
  + storage), and from entries already in canonical form;
- at each size: inclusion and consistency proof generation (a read transaction on the SQLite
  store, one indexed read of O(log n) stored hashes) and verification (RFC 9162 algorithms),
  in µs; bytes per entry on disk;
- pymerkle's SqliteTree (7.0) on the same entries: append throughput, inclusion and consistency
  proof generation (its first proof, and warm medians with its subroot cache), with the ratio;
  its proofs are checked to be the same hashes as ours.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from gsomia.ledger.entries import canonical_entry
from gsomia.ledger.log import TransparencyLog
from gsomia.ledger.verify import verify_consistency, verify_inclusion
from gsomia.store.sqlite_log import SqliteLogStore

ORIGIN = "gsomia/KOR"


def documents(start: int, count: int) -> list[dict[str, object]]:
    return [
        {
            "v": 1,
            "type": "release.sent",
            "at": f"2023-12-19T09:{(i // 60) % 60:02d}:{i % 60:02d}+09:00",
            "party": "KOR",
            "item": f"kor-{i:08d}",
            "recipient": "JPN",
            "digest": f"{i:064x}",
        }
        for i in range(start, start + count)
    ]


def canonical_batch(start: int, count: int) -> list[bytes]:
    """Canonical entries built fast from one validated template (same bytes as canonical_entry)."""
    template = canonical_entry(documents(0, 1)[0])
    head, tail = template.split(b"kor-00000000", 1)
    digest0 = f"{0:064x}".encode()
    return [
        head + b"kor-%08d" % i + tail.replace(digest0, b"%064x" % i)
        for i in range(start, start + count)
    ]


def timed_us(fn: Callable[..., object], *args: object) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - t0) * 1e6


def bench_append(tmp: Path, count: int, batch: int, reps: int) -> tuple[float, float]:
    docs = documents(0, count)
    end_to_end, canonical = [], []
    for rep in range(reps):
        with SqliteLogStore(tmp / f"append-{rep}.sqlite3") as store:
            log = TransparencyLog(store, ORIGIN)
            t0 = time.perf_counter()
            for i in range(0, count, batch):
                log.append(docs[i : i + batch])
            end_to_end.append(count / (time.perf_counter() - t0))
        encoded = [canonical_entry(d) for d in docs]
        with SqliteLogStore(tmp / f"append-c-{rep}.sqlite3") as store:
            log = TransparencyLog(store, ORIGIN)
            t0 = time.perf_counter()
            for i in range(0, count, batch):
                log.append_canonical(encoded[i : i + batch])
            canonical.append(count / (time.perf_counter() - t0))
    return statistics.median(end_to_end), statistics.median(canonical)


def grow(log: TransparencyLog, target: int, chunk: int = 100_000) -> float:
    t0 = time.perf_counter()
    size = log.size()
    while size < target:
        n = min(chunk, target - size)
        log.append_canonical(canonical_batch(size, n))
        size += n
    return time.perf_counter() - t0


def bench_proofs(
    log: TransparencyLog, size: int, samples: int, rng: random.Random
) -> dict[str, float]:
    root = log.root(size)
    indices = [rng.randrange(size) for _ in range(samples)]
    olds = [rng.randrange(1, size) for _ in range(samples)]
    gen_inc, ver_inc, gen_con, ver_con = [], [], [], []
    old_roots = {m: log.root(m) for m in olds}
    for i, m in zip(indices, olds, strict=True):
        t0 = time.perf_counter()
        p = log.inclusion_proof(i, size)
        t1 = time.perf_counter()
        verify_inclusion(p.leaf_hash, i, size, p.path, root)
        t2 = time.perf_counter()
        c = log.consistency_proof(m, size)
        t3 = time.perf_counter()
        verify_consistency(m, size, old_roots[m], root, c.path)
        t4 = time.perf_counter()
        gen_inc.append(t1 - t0)
        ver_inc.append(t2 - t1)
        gen_con.append(t3 - t2)
        ver_con.append(t4 - t3)
    med = statistics.median
    uncached = []
    for i in indices[: samples // 4]:
        log.clear_cache()  # as in a fresh process: every hash read from SQLite
        t0 = time.perf_counter()
        log.inclusion_proof(i, size)
        uncached.append(time.perf_counter() - t0)
    return {
        "inclusion_generate_nocache_us": med(uncached) * 1e6,
        "inclusion_generate_us": med(gen_inc) * 1e6,
        "inclusion_verify_us": med(ver_inc) * 1e6,
        "consistency_generate_us": med(gen_con) * 1e6,
        "consistency_verify_us": med(ver_con) * 1e6,
    }


def disk_bytes(path: Path) -> int:
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    total = path.stat().st_size
    for suffix in ("-wal", "-shm"):
        extra = Path(str(path) + suffix)
        if extra.exists():
            total += extra.stat().st_size
    return total


def bench_pymerkle(
    tmp: Path, size: int, ours: TransparencyLog, samples: int, rng: random.Random
) -> None:
    try:
        from pymerkle import SqliteTree
    except ImportError:
        print("pymerkle: not installed")
        return
    tree = SqliteTree(str(tmp / "pymerkle.sqlite3"))
    t0 = time.perf_counter()
    for start in range(0, size, 100_000):
        tree.append_entries(canonical_batch(start, min(100_000, size - start)))
    append_rate = size / (time.perf_counter() - t0)
    if tree.get_root(size) != ours.root(size):
        print("pymerkle: ROOTS DIFFER")
        return
    first_index = rng.randrange(size)
    t0 = time.perf_counter()
    first = tree.prove_inclusion(first_index + 1, size)
    first_us = (time.perf_counter() - t0) * 1e6
    theirs_path = [bytes.fromhex(h) for h in first.serialize()["path"]]
    mine = ours.inclusion_proof(first_index, size)
    same = theirs_path[1:] == list(mine.path) or theirs_path == list(mine.path)
    for _ in range(5):  # let its subroot cache warm up
        tree.prove_inclusion(rng.randrange(size) + 1, size)
    inc_theirs, inc_ours, con_theirs, con_ours = [], [], [], []
    for _ in range(samples):
        i = rng.randrange(size)
        m = rng.randrange(1, size)
        inc_theirs.append(timed_us(tree.prove_inclusion, i + 1, size))
        inc_ours.append(timed_us(ours.inclusion_proof, i, size))
        con_theirs.append(timed_us(tree.prove_consistency, m, size))
        con_ours.append(timed_us(ours.consistency_proof, m, size))
    med = statistics.median
    print(f"pymerkle SqliteTree at {size:,} entries (same entries, same run):")
    print(f"  append (append_entries, 100k chunks): {append_rate:,.0f} entries/s")
    print(f"  first inclusion proof (cold cache):   {first_us:,.0f} µs")
    print(
        f"  inclusion proof, warm median:         {med(inc_theirs):,.0f} µs vs ours "
        f"{med(inc_ours):,.1f} µs -> {med(inc_theirs) / med(inc_ours):,.0f}x"
    )
    print(
        f"  consistency proof, warm median:       {med(con_theirs):,.0f} µs vs ours "
        f"{med(con_ours):,.1f} µs -> {med(con_theirs) / med(con_ours):,.0f}x"
    )
    print(f"  cold first proof vs our median:       {first_us / med(inc_ours):,.0f}x")
    print(f"  same root; same inclusion path hashes: {same}")
    tree.close()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--pymerkle-size", type=int, default=1_000_000, help="0: skip pymerkle")
    ap.add_argument("--append-count", type=int, default=200_000, help="0: skip")
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--samples", type=int, default=2001)
    ap.add_argument(
        "--dir", type=Path, default=None, help="Where to build the logs (default: a temp dir)."
    )
    args = ap.parse_args()
    rng = random.Random(4)
    tmp = args.dir or Path(tempfile.mkdtemp(prefix="bench-log-"))
    tmp.mkdir(parents=True, exist_ok=True)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, logs in {tmp}")

    e2e, canon = bench_append(tmp, args.append_count, args.batch, args.reps)
    print(
        f"append, {args.append_count:,} entries in batches of {args.batch:,} (median of {args.reps}):"
    )
    print(f"  from JSON documents (validate + encode + hash + store): {e2e:,.0f} entries/s")
    print(f"  from canonical entries (hash + store):                   {canon:,.0f} entries/s")

    path = tmp / "big.sqlite3"
    with SqliteLogStore(path) as store:
        log = TransparencyLog(store, ORIGIN)
        for size in sorted(args.sizes):
            before = min(log.size(), size)
            seconds = grow(log, size)
            rate = (size - before) / seconds if seconds else 0.0
            print(f"at {size:,} entries (grown by {size - before:,} at {rate:,.0f} entries/s):")
            figures = bench_proofs(log, size, args.samples, rng)
            for name, value in figures.items():
                print(f"  {name:30s} {value:8.1f} µs (median)")
            total = disk_bytes(path)
            payload = sum(len(e) for e in canonical_batch(0, 1000)) / 1000
            print(
                f"  bytes per entry on disk: {total / size:,.1f} (entry itself: {payload:.0f} bytes)"
            )
            if size == args.pymerkle_size:
                bench_pymerkle(tmp, size, log, min(args.samples, 51), rng)
    if args.pymerkle_size and args.pymerkle_size not in args.sizes:
        with SqliteLogStore(tmp / "peer.sqlite3") as store:
            log = TransparencyLog(store, ORIGIN)
            grow(log, args.pymerkle_size)
            bench_pymerkle(tmp, args.pymerkle_size, log, min(args.samples, 51), rng)


if __name__ == "__main__":
    main()
