"""`gsomia log verify --node-config`: a node's log, kept inside its store, verified offline
while the node runs and after it stopped, without writing to the store."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

from .native_client import publish
from .nodes import PASSPHRASE, NodeProc, report


def verify(node: NodeProc, *extra: str, passphrase: str | None = PASSPHRASE) -> tuple[int, Any]:
    env = {k: v for k, v in os.environ.items() if k not in ("GSOMIA_PASSPHRASE", "GSOMIA_HOME")}
    if passphrase is not None:
        env["GSOMIA_PASSPHRASE"] = passphrase
    exe = Path(sys.executable).with_name("gsomia")
    argv = [str(exe), "log", "verify", "--node-config", str(node.config), "--json", *extra]
    done = subprocess.run(argv, env=env, capture_output=True, timeout=60, check=False)
    if done.returncode == 0:
        return 0, orjson.loads(done.stdout)
    assert b"Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stderr.decode()


def snapshot(data: Path) -> dict[str, tuple[int, int]]:
    """Every file's size and time, but SQLite's shared-memory index (-shm), which every reader
    of a WAL database maps and updates."""
    return {
        p.name: (p.stat().st_size, p.stat().st_mtime_ns)
        for p in data.iterdir()
        if not p.name.endswith("-shm")
    }


def test_a_running_then_stopped_nodes_log_verifies_offline(kor_node: NodeProc) -> None:
    for n in range(3):
        publish(kor_node, report(n))
    code, running = verify(kor_node)
    assert code == 0, running
    assert running["origin"] == "gsomia/KOR"
    assert running["size"] >= 3
    # not without the keys' passphrase, nor with the wrong one
    code, err = verify(kor_node, passphrase=None)
    assert code == 2
    assert "set GSOMIA_PASSPHRASE or pass --key-file" in err
    code, err = verify(kor_node, passphrase="not the passphrase at all")
    assert code != 0
    kor_node.stop()
    before = snapshot(kor_node.data)
    code, stopped = verify(kor_node)
    assert code == 0, stopped
    assert (stopped["size"], stopped["root"]) == (running["size"], running["root"])
    assert snapshot(kor_node.data) == before  # read-only: nothing created, nothing written


def test_a_tampered_node_log_exits_3_naming_the_entry(kor_node: NodeProc) -> None:
    publish(kor_node, report(1))
    publish(kor_node, report(2))
    kor_node.stop()
    con = sqlite3.connect(kor_node.data / "node.sqlite3", isolation_level=None)
    (data,) = con.execute("SELECT data FROM entries WHERE idx = 1").fetchone()
    con.execute("UPDATE entries SET data = ? WHERE idx = 1", (bytes(data).replace(b"K", b"J"),))
    con.close()
    code, err = verify(kor_node)
    assert code == 3, err
    assert "entry 1" in err


def test_node_config_and_home_are_not_given_together(kor_node: NodeProc, tmp_path: Path) -> None:
    code, err = verify(kor_node, "--home", str(tmp_path))
    assert code == 2
    assert "--node-config and --home" in err
