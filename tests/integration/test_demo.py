"""`gsomia demo` as a person runs it: three nodes, the replay, demo.json, Ctrl-C, resume."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
from taxii2client.v21 import Collection, Server, as_pages

from gsomia.cli.demo import remaining_launches
from gsomia.scenarios import load_scenario
from tests import pg
from tests.ports import free_ports


def start_demo(data: Path, port: int, *extra: str) -> subprocess.Popen[str]:
    exe = Path(sys.executable).with_name("gsomia")
    return subprocess.Popen(
        [str(exe), "demo", "--data", str(data), "--port-base", str(port), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


REPLAYED = [e.id for e in remaining_launches(Path("/nonexistent"), load_scenario("historical"))]


def done_count(data: Path) -> int:
    progress = data / "replay-progress.json"
    if not progress.exists():
        return 0
    return REPLAYED.index(orjson.loads(progress.read_bytes())["done"]) + 1


def wait_for_progress(data: Path, proc: subprocess.Popen[str], launches: int) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        if done_count(data) >= launches:
            return
        time.sleep(0.2)
    raise AssertionError("the replay did not progress")


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    return out


def all_objects(collection: Collection) -> list[dict[str, Any]]:
    """Every object of a collection, page after page (as a TAXII client reads it)."""
    return [
        o
        for page in as_pages(collection.get_objects, per_request=100)
        for o in page.get("objects", [])
    ]


def wait_for_locations(node: dict[str, str], title: str) -> set[str]:
    """The location refs of the reports in the collection ``title`` that it does not serve,
    after waiting up to 30 s for them (empty when every report's locations arrived)."""
    server = Server(f"{node['url']}/taxii2/", user=node["user"], password=node["token"])
    collection = next(c for c in server.api_roots[0].collections if c.title == title)
    reports = [o for o in all_objects(collection) if o["type"] == "report"]
    assert reports
    wanted = {r for o in reports for r in o["object_refs"] if r.startswith("location--")}
    assert len(wanted) >= 2 * len(reports)  # launch point and facility at least
    deadline = time.monotonic() + 30
    while True:
        served = {o["id"] for o in all_objects(collection)}
        if wanted <= served or time.monotonic() > deadline:
            return wanted - served
        time.sleep(0.3)


def test_demo_json_serves_taxii2_client_and_the_demo_resumes(tmp_path: Path) -> None:
    data = tmp_path / "demo-data"
    port = free_ports(3)
    proc = start_demo(data, port, "--speed", "20000000")
    try:
        wait_for_progress(data, proc, 8)
        state = orjson.loads((data / "demo.json").read_bytes())
        assert set(state["nodes"]) == {"KOR", "JPN", "USA"}
        seen: dict[str, dict[str, int]] = {}
        for party, node in state["nodes"].items():
            server = Server(f"{node['url']}/taxii2/", user=node["user"], password=node["token"])
            [root] = server.api_roots
            assert root.url == node["api_root"]
            seen[party] = {
                c.title: len(
                    [o for o in c.get_objects().get("objects", []) if o["type"] == "report"]
                )
                for c in root.collections
            }
        assert seen["KOR"]["KOR: originated here"] > 0
        assert seen["JPN"]["JPN: originated here"] > 0
        assert seen["USA"]["USA: received from KOR"] > 0
        assert seen["USA"]["USA: received from JPN"] > 0
        # before the 2016 GSOMIA, KOR's reports reach JPN only through USA, with KOR's consent
        deadline = time.monotonic() + 30
        while seen["JPN"]["JPN: received from KOR"] == 0 and time.monotonic() < deadline:
            node = state["nodes"]["JPN"]
            server = Server(f"{node['url']}/taxii2/", user=node["user"], password=node["token"])
            collection = next(
                c for c in server.api_roots[0].collections if c.title == "JPN: received from KOR"
            )
            seen["JPN"]["JPN: received from KOR"] = len(collection.get_objects().get("objects", []))
            time.sleep(0.3)
        assert seen["JPN"]["JPN: received from KOR"] > 0
        # and with every item of those reports: the consent covers their locations too
        unresolved = wait_for_locations(state["nodes"]["JPN"], "JPN: received from KOR")
        assert unresolved == set()
    finally:
        first = stop(proc)
    assert f"replaying {len(REPLAYED)} launches" in first
    assert "keys protected by random key files" in first
    # everything the demo and its nodes wrote (keys, stores, demo.json's tokens): owner-only
    for path in [data, *data.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path}: {mode:o}"
    done = done_count(data)
    assert 8 <= done < len(REPLAYED)
    again = start_demo(data, port, "--speed", "20000000")
    try:
        wait_for_progress(data, again, done + 1)
    finally:
        second = stop(again)
    # the second run resumes after the last launch it published, with the same credentials
    assert f"replaying {len(REPLAYED) - done} launches" in second
    assert orjson.loads((data / "demo.json").read_bytes())["tokens"] == state["tokens"]


def test_the_demo_refuses_a_short_passphrase_before_writing_anything(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("gsomia")
    data = tmp_path / "demo-data"
    result = subprocess.run(
        [str(exe), "demo", "--data", str(data), "--port-base", str(free_ports(3))],
        env={**os.environ, "GSOMIA_PASSPHRASE": "elevenchars"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "the passphrase has 11 characters" in result.stderr
    assert "Traceback" not in result.stderr
    assert not data.exists()


def test_a_node_that_does_not_start_stops_the_others(tmp_path: Path) -> None:
    """JPN's port is taken: the demo says so, exits 2, and leaves no node of its own running."""
    exe = Path(sys.executable).with_name("gsomia")
    port = free_ports(3)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port + 1))
        taken.listen()
        result = subprocess.run(
            [str(exe), "demo", "--data", str(tmp_path / "d"), "--port-base", str(port)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 2, result.stderr
    assert "node JPN did not start" in result.stderr
    assert "Traceback" not in result.stderr
    for party, at in (("KOR", port), ("USA", port + 2)):
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", at)) != 0, f"{party}'s node is still running"


def test_the_demo_runs_on_postgresql_one_schema_per_node(tmp_path: Path, pg_database: str) -> None:
    data = tmp_path / "demo-data"
    port = free_ports(3)
    proc = start_demo(data, port, "--speed", "20000000", "--store", pg.url(pg_database))
    try:
        wait_for_progress(data, proc, 3)
    finally:
        stop(proc)
    for party in ("KOR", "JPN", "USA"):
        config = (data / f"{party}.toml").read_text(encoding="utf-8")
        assert f'store = "{pg.url(pg_database, f"demo_{party.lower()}")}"' in config
        assert not (data / party / "node.sqlite3").exists()
        with pg.connect(pg_database, f"demo_{party.lower()}") as con:
            row = con.execute("SELECT count(*) FROM objects").fetchone()
        assert row is not None
        assert row[0] > 0, party
    assert orjson.loads((data / "demo.json").read_bytes())["store"] == pg.url(pg_database)


def test_the_demo_refuses_a_store_that_is_not_postgresql_before_writing_anything(
    tmp_path: Path,
) -> None:
    data = tmp_path / "demo-data"
    exe = Path(sys.executable).with_name("gsomia")
    done = subprocess.run(
        [str(exe), "demo", "--data", str(data), "--store", "mysql://db/gsomia"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "--store: expected a postgresql://HOST[:PORT]/DBNAME URL" in done.stderr
    assert not data.exists()
