"""A writer killed (SIGKILL) at random points of an append leaves a valid, durable prefix."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gsomia.ledger.entries import canonical_entry
from gsomia.ledger.log import TransparencyLog
from gsomia.ledger.note import NoteSigner
from gsomia.store.sqlite_log import SqliteLogStore

SEED = bytes([7]) * 32
KILLS = 20

WRITER = r"""
import sys
from pathlib import Path
from gsomia.ledger.log import TransparencyLog
from gsomia.ledger.note import NoteSigner
from gsomia.store.sqlite_log import SqliteLogStore

def event(i):
    return {"v": 1, "type": "loss.report", "at": "2019-08-23T12:00:00+09:00", "party": "KOR",
            "item": f"item-{i}", "kind": "suspected_loss", "detail": f"report number {i}"}

store = SqliteLogStore(Path(sys.argv[1]))
log = TransparencyLog(store, "gsomia/KOR")
signer = NoteSigner("gsomia/KOR", bytes([7]) * 32)
print("ready", flush=True)
batch = 0
while True:
    start = log.size()
    done = log.append([event(i) for i in range(start, start + 10 + 23 * (batch % 5))])
    print(f"appended {done.stop}", flush=True)
    if batch % 3 == 0:
        stored, _ = log.checkpoint(signer)
        print(f"checkpoint {stored.size}", flush=True)
    batch += 1
"""


def expected(i: int) -> bytes:
    return canonical_entry(
        {
            "v": 1,
            "type": "loss.report",
            "at": "2019-08-23T12:00:00+09:00",
            "party": "KOR",
            "item": f"item-{i}",
            "kind": "suspected_loss",
            "detail": f"report number {i}",
        }
    )


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_killed_writers_leave_a_valid_prefix(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite3"
    rng = random.Random(20161123)
    pub = NoteSigner("gsomia/KOR", SEED).public_key
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    acknowledged = 0
    for _ in range(KILLS):
        child = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, env=env
        )
        assert child.stdout is not None
        assert child.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0.0, 0.08))
        child.send_signal(signal.SIGKILL)
        out = child.communicate(timeout=30)[0].decode().splitlines()
        assert child.returncode == -signal.SIGKILL
        for line in out:
            word, number = line.split()
            if word == "appended":
                acknowledged = max(acknowledged, int(number))
        with SqliteLogStore(path) as store:
            log = TransparencyLog(store, "gsomia/KOR")
            report = log.audit(lambda name: [pub] if name == "gsomia/KOR" else [])
            assert report.size >= acknowledged, "an acknowledged append was lost"
            with store.reading() as r:
                for index in range(report.size):
                    assert r.entry(index) == expected(index), f"entry {index} changed"
                latest = r.latest_checkpoint()
            assert latest is None or latest.size <= report.size
        acknowledged = report.size
    assert acknowledged > 0
