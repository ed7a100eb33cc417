"""A writer killed (SIGKILL) at random points of an append leaves a valid, durable prefix: a bare
SQLite log file, and the log of a node store on PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gsomia.app.stores import open_store
from gsomia.ledger.entries import canonical_entry
from gsomia.ledger.log import TransparencyLog
from gsomia.ledger.note import NoteSigner
from gsomia.ledger.ports import LogStore
from gsomia.seal.at_rest import KeyRingCipher
from gsomia.seal.keys import KeyRing, init_keys
from gsomia.store.sqlite_log import SqliteLogStore
from tests.backends import Backend

SEED = bytes([7]) * 32
KILLS = 20

PASSPHRASE = b"log crash passphrase"

#: How the writer opens the log: a bare SQLite log file (argv 1), or the log of the node store
#: at the URL argv 1, its key ring in the directory argv 2.
OPEN_SQLITE = """
from gsomia.store.sqlite_log import SqliteLogStore
store = SqliteLogStore(Path(sys.argv[1]))
"""
OPEN_STORE = f"""
from gsomia.app.stores import open_store
from gsomia.seal.at_rest import KeyRingCipher
from gsomia.seal.keys import KeyRing
ring = KeyRing.load(Path(sys.argv[2]), passphrase={PASSPHRASE!r})
store = open_store(sys.argv[1], data_dir=Path(sys.argv[2]), cipher=KeyRingCipher(ring)).log_store
"""

WRITER = r"""
import sys
from pathlib import Path
from gsomia.ledger.log import TransparencyLog
from gsomia.ledger.note import NoteSigner

def event(i):
    return {"v": 1, "type": "loss.report", "at": "2019-08-23T12:00:00+09:00", "party": "KOR",
            "item": f"item-{i}", "kind": "suspected_loss", "detail": f"report number {i}"}
{open}
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


@contextmanager
def opening(url: str, home: Path) -> Iterator[LogStore]:
    ring = KeyRing.load(home, passphrase=PASSPHRASE)
    store = open_store(url, data_dir=home, cipher=KeyRingCipher(ring))
    try:
        yield store.log_store
    finally:
        store.close()


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_killed_writers_leave_a_valid_prefix(tmp_path: Path, backend: Backend) -> None:
    url = backend.store_url("KOR")
    if url is None:  # SQLite: the log store alone, in its own file
        path = tmp_path / "log.sqlite3"
        args, writer = [str(path)], WRITER.replace("{open}", OPEN_SQLITE)

        def reopen() -> contextlib.AbstractContextManager[LogStore]:
            return SqliteLogStore(path)

    else:  # PostgreSQL: the log of a node store, in its schema
        init_keys(tmp_path / "home", "KOR", passphrase=PASSPHRASE)
        args, writer = [url, str(tmp_path / "home")], WRITER.replace("{open}", OPEN_STORE)

        def reopen() -> contextlib.AbstractContextManager[LogStore]:
            return opening(url, tmp_path / "home")

    rng = random.Random(20161123)
    pub = NoteSigner("gsomia/KOR", SEED).public_key
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    acknowledged = 0
    for _ in range(KILLS):
        child = subprocess.Popen(
            [sys.executable, "-c", writer, *args], stdout=subprocess.PIPE, env=env
        )
        assert child.stdout is not None
        if child.stdout.readline() != b"ready\n":
            child.kill()
            child.communicate(timeout=30)
            pytest.fail("the writer did not start (its error is in the captured stderr)")
        time.sleep(rng.uniform(0.0, 0.08))
        child.send_signal(signal.SIGKILL)
        out = child.communicate(timeout=30)[0].decode().splitlines()
        assert child.returncode == -signal.SIGKILL
        for line in out:
            word, number = line.split()
            if word == "appended":
                acknowledged = max(acknowledged, int(number))
        with reopen() as store:
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
