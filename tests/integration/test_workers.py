"""One node on several processes over one PostgreSQL store and one NATS server.

KOR runs as two processes of one config (A on the config's address, B on another port, as a
second machine would) and, for the supervisor's tests, as ``gsomia serve --workers 2`` on a
third port; JPN is its peer. Every process uses a private nats-server that the module starts
(and that one test restarts) and the session's PostgreSQL database. What is checked: an event
stream on A hears what is published through B; killing A (SIGKILL) or restarting NATS in the
middle of a stream of releases loses no acknowledged publish at JPN and duplicates none; the
supervisor restarts a worker that dies and stops them all on SIGTERM.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest

from tests import pg
from tests.backends import Backend
from tests.nats import NatsServer, bus_url, fresh_prefix

from .native_client import collection_at, wait_until
from .nodes import TAXII, NodeProc, make_nodes, opened, report
from .sse import SseReader, tune
from .test_node_crash import audit_log, published_ids

HEADERS = {"Accept": TAXII, "Content-Type": TAXII}
TO_JPN = ("JPN",)
ACK_WAIT = 2.0


def report_id(n: int) -> str:
    return f"report--00000000-0000-4000-8000-{n:012d}"


class Cluster:
    """KOR's processes A and B, JPN, and the NATS server they share."""

    def __init__(self, nats: NatsServer, a: NodeProc, b: NodeProc, jpn: NodeProc) -> None:
        self.nats, self.a, self.b, self.jpn = nats, a, b, jpn


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, pg_database: str) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("workers")
    nats = NatsServer(root / "nats")
    nats.start()
    # a job taken by a process that dies is given to another after ACK_WAIT seconds
    bus = bus_url(fresh_prefix(), port=nats.port, ack_wait=ACK_WAIT)
    nodes = make_nodes(root, ("KOR", "JPN"), backend=Backend("postgresql", pg_database), bus=bus)
    for node in nodes.values():
        tune(node, event_heartbeat=0.3, cosign_interval=0)
    a, jpn = nodes["KOR"], nodes["JPN"]
    b = a.twin("b")
    procs = (a, b, jpn)
    try:
        with ThreadPoolExecutor(len(procs)) as pool:  # start-ups overlap
            list(pool.map(NodeProc.start, procs))
        yield Cluster(nats, a, b, jpn)
    finally:
        with ThreadPoolExecutor(len(procs)) as pool:
            list(pool.map(NodeProc.stop, procs))
        nats.stop()


def post(client: httpx.Client, node: NodeProc, n: int) -> bool:
    """Publish report ``n`` (releasable to JPN) through ``node``; True when acknowledged."""
    try:
        r = client.post(
            f"{node.api_root}collections/{collection_at(node)}/objects/",
            headers=HEADERS,
            auth=node.auth(),
            content=orjson.dumps(report(n, releasable_to=TO_JPN)),
        )
    except httpx.HTTPError:
        return False  # the process is down: the request was not acknowledged
    return r.status_code == 202


def stream(through: tuple[NodeProc, ...], numbers: range, disrupt: Callable[[], None]) -> list[str]:
    """Publish ``numbers`` in turn through each of ``through`` from a thread, and ``disrupt``
    once a third of them are acknowledged; the ids acknowledged."""
    acknowledged: list[str] = []

    def publish() -> None:
        with httpx.Client(timeout=5) as client:
            for n in numbers:
                if post(client, through[n % len(through)], n):
                    acknowledged.append(report_id(n))
                time.sleep(0.01)

    publisher = threading.Thread(target=publish)
    publisher.start()
    try:
        wait_until(
            lambda: True if len(acknowledged) >= len(numbers) // 3 else None,
            "the first publishes",
        )
        disrupt()
    finally:
        publisher.join(60)
    return acknowledged


def delivered_once(cluster: Cluster, acknowledged: list[str]) -> None:
    """Every acknowledged publish at KOR and at JPN, none twice (waiting for JPN's)."""
    assert len(acknowledged) > 10
    jpn, b = cluster.jpn, cluster.b
    wait_until(
        lambda: True if set(acknowledged) <= set(published_ids(jpn, "KOR")) else None,
        "every acknowledged release at JPN",
        timeout=60,
        pause=0.2,
    )
    at_kor, at_jpn = published_ids(b, "KOR"), published_ids(jpn, "KOR")
    assert set(acknowledged) <= set(at_kor), "an acknowledged publish was lost at KOR"
    assert set(at_jpn) <= set(at_kor)
    for ids in (at_kor, at_jpn):
        assert len(ids) == len(set(ids)), "an item was delivered twice"


def test_a_stream_on_one_process_hears_a_publish_through_the_other(cluster: Cluster) -> None:
    reader = SseReader(cluster.a).start()
    try:
        assert reader.status == 200
        with httpx.Client(timeout=5) as client:
            assert post(client, cluster.b, 101)
        assert reader.next_item().json()["object"]["id"] == report_id(101)
    finally:
        reader.close()
    wait_until(
        lambda: True if report_id(101) in published_ids(cluster.jpn, "KOR") else None,
        "the release at JPN",
    )


def test_sigkill_one_process_mid_stream_the_other_delivers_everything_once(
    cluster: Cluster,
) -> None:
    try:
        acknowledged = stream((cluster.a, cluster.b), range(1001, 1046), cluster.a.kill)
        delivered_once(cluster, acknowledged)
    finally:
        cluster.a.start()
    for node in (cluster.b, cluster.jpn):
        assert audit_log(node) > 0


def test_nats_restarted_mid_stream_loses_nothing(cluster: Cluster) -> None:
    acknowledged = stream((cluster.a, cluster.b), range(2001, 2046), cluster.nats.restart)
    delivered_once(cluster, acknowledged)


def children(pid: int) -> list[int]:
    """The processes ``pid`` started that are still there (Linux's /proc)."""
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text(encoding="ascii")
    return [int(p) for p in text.split()]


def answers(node: NodeProc) -> bool:
    """Whether the node answers a request within two seconds (401: no credentials given)."""
    r = httpx.get(f"{node.url}/taxii2/", headers={"Accept": TAXII}, timeout=2)
    return r.status_code == 401


def test_supervisor_restarts_a_dead_worker_and_stops_them_all(cluster: Cluster) -> None:
    node = cluster.a.twin("workers", "--workers", "2", "--log-level", "info")
    node.start()
    try:
        proc = node.proc
        assert proc is not None
        serving = "Uvicorn running on socket"
        wait_until(lambda: True if node.log.read_text().count(serving) == 2 else None, "2 workers")
        first, second = children(proc.pid)
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: True if first not in children(proc.pid) else None, "the reaping")
        # The other worker answers: the dead one is not back so soon (a restart waits a
        # quarter of a second, then starts Python and opens the node).
        assert answers(node)
        assert node.log.read_text().count(serving) == 2, "the restarted worker was up already"
        restarted = wait_until(
            lambda: next((p for p in children(proc.pid) if p not in (first, second)), None),
            "the restarted worker",
        )
        log = node.log.read_text()
        assert f"(pid {first}) exited unexpectedly after " in log
        assert "(killed by SIGKILL); restarting it in 0.25s (restart 1)" in log
        wait_until(lambda: True if node.log.read_text().count(serving) == 3 else None, "restart")
        os.kill(second, signal.SIGKILL)
        wait_until(lambda: True if second not in children(proc.pid) else None, "the reaping")
        assert answers(node), "the restarted worker serves"
        # worker 2 is waiting to restart, or starting: it is stopped as it is
        workers = children(proc.pid)
        assert restarted in workers
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        for pid in workers:
            assert not Path(f"/proc/{pid}").exists(), f"worker {pid} outlived the supervisor"
    finally:
        node.stop()


def serve_workers(node: NodeProc) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("gsomia")
    return subprocess.run(
        [str(exe), "serve", "--config", str(node.config), "--workers", "2"],
        env=node.env,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


def test_several_workers_refused_on_sqlite(tmp_path: Path) -> None:
    kor = make_nodes(tmp_path, ("KOR",), bus=bus_url(fresh_prefix()))["KOR"]
    done = serve_workers(kor)
    assert done.returncode == 2
    assert done.stderr == (
        f"error: --workers 2: several worker processes need a shared store (store = "
        f'"postgresql://HOST[:PORT]/DBNAME?schema=NAME") in node config {kor.config}; the SQLite '
        "file and the in-process bus serve one process (run with --workers 1, the default)\n"
    )
    assert not (kor.data / "node.sqlite3").exists(), "refused before the store is opened"


def test_several_workers_refused_on_an_older_store(tmp_path: Path, pg_database: str) -> None:
    backend = Backend("postgresql", pg_database)
    kor = make_nodes(tmp_path, ("KOR",), backend=backend, bus=bus_url(fresh_prefix()))["KOR"]
    assert kor.store is not None
    with opened(kor):
        pass  # the store is made, at this version's schema
    [schema] = parse_qs(urlsplit(kor.store).query)["schema"]
    with pg.connect(pg_database, schema) as con:  # as written before schema versions
        con.execute("DELETE FROM node_meta WHERE key = 'schema'")
    done = serve_workers(kor)
    assert done.returncode == 2
    assert "schema 0 is older than this version of gsomia writes" in done.stderr
    assert f"run `gsomia node migrate --config {kor.config}`" in done.stderr
    assert done.stderr.count("\n") == 1, "refused by the parent, before any worker started"
