"""PostgreSQL going away under running nodes in the middle of a stream of publishes: a node
refuses (503) what it cannot store, reconnects when the database is back and keeps working, and
loses nothing it acknowledged; nothing is delivered twice and every log verifies.

Two ways to take the database away: closing the test's own database to connections and ending
its sessions (``pg_terminate_backend``), which only the test sees; and restarting the server
(``pg_ctlcluster … restart``), which every user of the server sees, so only in a test marked
``pg_restart``, and the server is started again however the test ends.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import pytest
from psycopg import sql

from tests.backends import Backend
from tests.pg import HOST, PORT, START, admin, terminate

from .native_client import collection_at
from .nodes import TAXII, NodeProc, make_nodes, report, running
from .test_node_crash import audit_log, published_ids

HEADERS = {"Accept": TAXII, "Content-Type": TAXII}
FIRST = 2000
STEADY = 15  # publishes acknowledged before the database goes, and again after it is back


def report_id(n: int) -> str:
    return f"report--00000000-0000-4000-8000-{n:012d}"


@dataclass
class Stream:
    """Publishes report after report to one node from a thread, keeping each one's answer."""

    node: NodeProc
    answers: dict[int, int | str] = field(default_factory=dict)  # n -> status or error
    refusals: list[httpx.Response] = field(default_factory=list)  # every 503, as answered
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def run(self) -> None:
        cid = collection_at(self.node)
        url = f"{self.node.api_root}collections/{cid}/objects/"
        n = FIRST
        with httpx.Client(timeout=30) as client:  # the node answers, 503 at worst
            while not self.stop.is_set():
                n += 1
                try:
                    r = client.post(
                        url,
                        headers=HEADERS,
                        auth=self.node.auth(),
                        content=orjson.dumps(report(n)),
                    )
                except httpx.HTTPError as e:
                    self.answers[n] = type(e).__name__
                else:
                    self.answers[n] = r.status_code
                    if r.status_code == 503:
                        self.refusals.append(r)
                time.sleep(0.01)

    @contextmanager
    def going(self) -> Iterator[Stream]:
        self.thread = threading.Thread(target=self.run)
        self.thread.start()
        try:
            yield self
        finally:
            self.stop.set()
            self.thread.join(60)

    def acknowledged(self) -> set[str]:
        return {report_id(n) for n, status in self.answers.items() if status == 202}

    def wait_for(self, status: int, what: str, after: int = 0, count: int = 1) -> None:
        """Wait until ``count`` publishes numbered above ``after`` are answered ``status``."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            answers = list(self.answers.items())
            if sum(n > after and a == status for n, a in answers) >= count:
                return
            time.sleep(0.05)
        pytest.fail(f"not {count} publishes {what} within 60 s: {self.summary()}")

    def last(self) -> int:
        return max(self.answers, default=FIRST)

    def summary(self) -> dict[int | str, int]:
        counts: dict[int | str, int] = {}
        for answer in self.answers.values():
            counts[answer] = counts.get(answer, 0) + 1
        return counts


def check_refusals(stream: Stream) -> None:
    """Each 503 asks the client to come back (Retry-After) and names nothing of the store: the
    database's address and the driver's words are for the node's log, not for its clients."""
    assert stream.refusals
    for r in stream.refusals:
        assert int(r.headers["Retry-After"]) >= 1
        body = r.json()
        assert body["http_status"] == "503", body
        assert "postgresql" not in r.text.lower(), r.text
        assert "schema" not in r.text.lower(), r.text


def check_nothing_lost_nor_doubled(nodes: dict[str, NodeProc], stream: Stream) -> None:
    """Every answer a 202 or a 503; every acknowledged publish at KOR and, in the end, at USA;
    nothing twice anywhere; and every log verifies."""
    kor, usa = nodes["KOR"], nodes["USA"]
    assert set(stream.summary()) <= {202, 503}, stream.summary()
    acknowledged = stream.acknowledged()
    assert len(acknowledged) >= 2 * STEADY, stream.summary()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if acknowledged <= set(published_ids(usa, "KOR")):
            break
        time.sleep(0.2)
    at_kor, at_usa = published_ids(kor, "KOR"), published_ids(usa, "KOR")
    assert acknowledged <= set(at_kor), "an acknowledged publish was lost at KOR"
    assert acknowledged <= set(at_usa), "an acknowledged release never reached USA"
    for ids in (at_kor, at_usa):
        assert len(ids) == len(set(ids)), "an item was delivered twice"
    assert set(at_usa) <= set(at_kor)


def audit(nodes: dict[str, NodeProc]) -> None:
    for node in nodes.values():
        assert audit_log(node) > 0


@pytest.fixture
def pg(pg_database: str) -> Backend:
    return Backend("postgresql", pg_database)


@contextmanager
def closed_database(name: str) -> Iterator[None]:
    """No new session in database ``name`` and its sessions ended, for the block; open again
    after, however the block ends. Nothing else on the server notices."""
    alter = sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}")
    with admin() as con:
        con.execute(alter.format(sql.Identifier(name), sql.SQL("false")))
        try:
            terminate(name)
            yield
        finally:
            con.execute(alter.format(sql.Identifier(name), sql.SQL("true")))


def test_database_sessions_ended_mid_stream(tmp_path: Path, pg: Backend) -> None:
    assert pg.database is not None
    nodes = make_nodes(tmp_path, ("KOR", "USA"), backend=pg)
    with running(nodes):
        with Stream(nodes["KOR"]).going() as stream:
            stream.wait_for(202, "acknowledged", count=STEADY)
            with closed_database(pg.database):
                cut = stream.last()
                stream.wait_for(503, "refused while the database was closed", cut)
            back = stream.last()
            stream.wait_for(202, "acknowledged after it opened again", back, count=STEADY)
        check_nothing_lost_nor_doubled(nodes, stream)
        check_refusals(stream)
    audit(nodes)


def pg_version() -> str:
    """The newest cluster version installed (what ``$(ls /etc/postgresql)`` gives with one)."""
    names = (p.name for p in Path("/etc/postgresql").iterdir())
    return max(names, key=lambda v: tuple(int(x) for x in v.split(".")))


def pg_ready() -> bool:
    done = subprocess.run(
        ["pg_isready", "-q", "-h", HOST, "-p", str(PORT)], check=False, timeout=30
    )
    return done.returncode == 0


def pg_ctl(action: str) -> None:
    cmd = ["pg_ctlcluster", "--skip-systemctl-redirect", pg_version(), "main", action]
    subprocess.run(cmd, check=True, timeout=120, capture_output=True)


@contextmanager
def server_up_after() -> Iterator[None]:
    """However the block ends, the server is running after it (started again if need be)."""
    try:
        yield
    finally:
        if not pg_ready():
            pg_ctl("start")
        deadline = time.monotonic() + 60
        while not pg_ready():
            if time.monotonic() > deadline:
                pytest.fail(f"PostgreSQL at {HOST}:{PORT} did not come back: `{START}`")
            time.sleep(0.2)


@pytest.mark.pg_restart
@pytest.mark.slow
def test_server_restarted_mid_stream(tmp_path: Path, pg: Backend) -> None:
    nodes = make_nodes(tmp_path, ("KOR", "USA"), backend=pg)
    with running(nodes):
        with Stream(nodes["KOR"]).going() as stream:
            stream.wait_for(202, "acknowledged", count=STEADY)
            with server_up_after():
                pg_ctl("restart")
            back = stream.last()
            stream.wait_for(202, "acknowledged after the restart", back, count=STEADY)
        check_nothing_lost_nor_doubled(nodes, stream)
    audit(nodes)
