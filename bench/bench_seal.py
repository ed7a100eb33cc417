"""Benchmark of sealed items (issue 3): seal+sign and verify+open, against AES-256-GCM alone.

    .venv/bin/python bench/bench_seal.py [--reps 7] [--batches 20] [--profile]

For 1 KiB and 64 KiB items, 3 recipients (the originator KOR plus JPN and USA), batches of 100,
the default post-quantum suite. Sealing reuses the sender's channel keys across batches (as a
node does); verifying and opening use a fresh verifier per repetition, so each repetition pays
the channel decapsulations and the batch-signature verifications once per batch and channel.
The peer is AES-256-GCM alone on the same content bytes (fresh key and nonce per item), in the
same run. Prints medians over the repetitions.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from gsomia import primitives
from gsomia.seal.item import SealedLabel
from gsomia.seal.keys import KeyRing, init_keys
from gsomia.seal.opener import Opener
from gsomia.seal.sealer import Sealer, SealRequest
from gsomia.seal.verify import Verifier
from gsomia.seal.views import Grant

BATCH = 100
AT = datetime(2024, 1, 10, tzinfo=UTC)


def _rings(base: Path) -> dict[str, KeyRing]:
    rings = {
        p: init_keys(base / p, p, passphrase=None, insecure=True) for p in ("KOR", "JPN", "USA")
    }
    for p, ring in rings.items():
        for q, other in rings.items():
            if p != q:
                ring.import_peer(other.export_document(), where=q)
    return rings


def _requests(size: int, batches: int) -> list[list[SealRequest]]:
    grants = tuple(
        Grant(p, ("trilateral-missile-warning-2023",), AT, {"party": p, "originator": "KOR"})
        for p in ("JPN", "USA")
    )
    out = []
    for b in range(batches):
        batch = []
        for i in range(BATCH):
            label = SealedLabel(
                "KR-MND-CMI",
                f"r-{b}-{i}",
                "KOR",
                "II",
                ("JPN", "USA"),
                ("dprk.missile.warning",),
                AT,
            )
            batch.append(SealRequest(primitives.random_bytes(size), label, grants))
        out.append(batch)
    return out


def _rate(n: int, seconds: float) -> float:
    return n / seconds


def run(size: int, reps: int, batches: int, rings: dict[str, KeyRing], profile: bool) -> None:
    requests = _requests(size, batches)
    n = batches * BATCH
    sealer = Sealer(rings["KOR"])
    sealed = [sealer.seal_batch(b) for b in requests]  # warm-up; establishes the channels
    seal_rates, open_rates, aes_rates, aes_open_rates = [], [], [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        sealed = [sealer.seal_batch(b) for b in requests]
        seal_rates.append(_rate(n, time.perf_counter() - t0))

        opener = Opener(rings["USA"], Verifier(rings["USA"]))
        t0 = time.perf_counter()
        for batch in sealed:
            for raw in batch:
                opener.open(raw)
        open_rates.append(_rate(n, time.perf_counter() - t0))

        keys = [(primitives.random_bytes(32), primitives.random_bytes(12)) for _ in range(n)]
        contents = [r.content for b in requests for r in b]
        t0 = time.perf_counter()
        cts = [
            primitives.aes256gcm_encrypt(k, nonce, c, b"")
            for (k, nonce), c in zip(keys, contents, strict=True)
        ]
        aes_rates.append(_rate(n, time.perf_counter() - t0))
        t0 = time.perf_counter()
        for (k, nonce), ct in zip(keys, cts, strict=True):
            primitives.aes256gcm_decrypt(k, nonce, ct, b"")
        aes_open_rates.append(_rate(n, time.perf_counter() - t0))
    seal = statistics.median(seal_rates)
    opened = statistics.median(open_rates)
    aes = statistics.median(aes_rates)
    aes_open = statistics.median(aes_open_rates)
    item_bytes = statistics.median(len(raw) for raw in sealed[0])
    print(
        f"{size // 1024:>3} KiB | seal+sign {seal:>9,.0f} items/s | verify+open {opened:>9,.0f} "
        f"items/s | AES-256-GCM alone: encrypt {aes:>10,.0f}/s, decrypt {aes_open:>10,.0f}/s | "
        f"ratio seal/AES {aes / seal:6.1f}x, open/AES {aes_open / opened:6.1f}x | "
        f"item {item_bytes:,.0f} bytes"
    )
    if profile:
        prof = cProfile.Profile()
        prof.enable()
        for b in requests:
            sealer.seal_batch(b)
        prof.disable()
        print("-- profile: seal+sign")
        pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(12)
        opener = Opener(rings["USA"], Verifier(rings["USA"]))
        prof = cProfile.Profile()
        prof.enable()
        for batch in sealed:
            for raw in batch:
                opener.open(raw)
        prof.disable()
        print("-- profile: verify+open")
        pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rings = _rings(Path(tmp))
        print(
            f"sealed items: 3 recipients, batches of {BATCH}, {args.batches} batches, "
            f"median of {args.reps} repetitions, one process (one core)"
        )
        for size in (1024, 64 * 1024):
            run(size, args.reps, args.batches, rings, args.profile)


if __name__ == "__main__":
    main()
