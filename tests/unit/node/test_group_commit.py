"""Group commit on an in-process node: publishes that arrive together share one transaction and
one batch signature, each caller getting its own status or its own refusal; a full queue is
refused at once (``Overloaded``); a closing node refuses what waits, nothing half-written.

The writer is held busy by the test itself (it holds the store's write transaction), so that
callers pile up behind it whatever the machine's speed: no test here depends on timing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gsomia.app.boot import load_config, open_node
from gsomia.clock import FixedClock
from gsomia.errors import Conflict, NotFound, Overloaded, StoreFailure
from gsomia.node.config import User
from gsomia.node.results import PublishStatus
from gsomia.node.service import Node
from tests.integration.nodes import PASSPHRASE, make_nodes, report

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def config_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_nodes(tmp_path_factory.mktemp("group"), parties=("KOR", "USA"))["KOR"].config


@pytest.fixture
def kor(config_path: Path) -> Iterator[Node]:
    node = open_node(
        load_config(config_path), clock=FixedClock(NOW), passphrase=PASSPHRASE.encode()
    )
    try:
        yield node
    finally:
        node.close()


def user(node: Node, name: str = "analyst") -> User:
    return next(u for u in node.config.users if u.name == name)


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` (a liveness bound, not a timing assertion: a broken committer fails
    here instead of hanging the suite)."""
    deadline = time.monotonic() + 30
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting: {what}")
        time.sleep(0.005)


def publish_all(
    node: Node, envelopes: list[tuple[User, dict[str, Any]]]
) -> list[Future[PublishStatus]]:
    """Publish every envelope from its own thread while the test holds the writer: the first
    caller's batch (it alone) waits for the store, every other caller waits in the queue."""
    pool = ThreadPoolExecutor(len(envelopes))
    with node.store.writing():
        futures = submit_behind_first(node, pool, envelopes)
    pool.shutdown(wait=True)
    return futures


def submit_behind_first(
    node: Node, pool: ThreadPoolExecutor, envelopes: list[tuple[User, dict[str, Any]]]
) -> list[Future[PublishStatus]]:
    """Submit the first envelope, wait until its batch (it alone) is being written, then the
    others, and wait until they are all queued behind it (the caller holds the writer)."""
    cid = node.collection_id("KOR")
    first, *rest = envelopes
    futures = [pool.submit(node.publish, first[0], first[1]["objects"], cid)]
    wait_until(lambda: node.committer.writing == 1, "the first batch being written")
    futures += [pool.submit(node.publish, u, e["objects"], cid) for u, e in rest]
    wait_until(lambda: node.committer.queued == len(rest), "callers queued")
    return futures


def test_concurrent_publishes_share_transactions_each_its_own_status(kor: Node) -> None:
    batches, jobs, size = kor.committer.batches, kor.committer.jobs, kor.log.size()
    futures = publish_all(kor, [(user(kor), report(1000 + n)) for n in range(16)])
    statuses = [f.result() for f in futures]
    assert kor.committer.jobs - jobs == 16
    assert kor.committer.batches - batches == 2  # the first alone, then the fifteen together
    assert len({s.id for s in statuses}) == 16
    for n, status in enumerate(statuses):
        assert status.successes[-1].id == f"report--00000000-0000-4000-8000-{1000 + n:012d}"
        assert status.successes[-1].message == "stored, sealed and logged"
        assert kor.status(user(kor), status.id) == status  # stored, the caller's own
    assert kor.log.size() - size == 16 * 3  # each item: published, two decisions


def test_a_refused_caller_does_not_sink_the_others(kor: Node) -> None:
    cid = kor.collection_id("KOR")
    secret = report(2000, topics=("dprk.missile",), classification="I")
    kor.publish(user(kor, "admin"), secret["objects"], cid)
    taken = report(2000, topics=("dprk.nuclear",), classification="III")
    taken["objects"][-1]["modified"] = "2026-01-05T00:00:00.000Z"
    envelopes = [(user(kor), report(2100 + n)) for n in range(4)]
    envelopes.insert(2, (user(kor, "low"), taken))
    futures = publish_all(kor, envelopes)
    with pytest.raises(Conflict, match="is already in use at this node"):
        futures[2].result()
    for n, future in enumerate(f for i, f in enumerate(futures) if i != 2):
        assert future.result().successes[-1].id.endswith(f"{2100 + n:012d}")
    versions = kor.versions_of(user(kor, "admin"), cid, secret["objects"][-1]["id"])
    assert [r.version for r in versions] == ["2026-01-01T00:00:00.000Z"]  # nothing of it stored


def test_an_id_taken_earlier_in_the_same_batch_is_checked_as_if_stored(kor: Node) -> None:
    """A marking written by an earlier caller of the batch, not committed yet, is in use for a
    later caller exactly as a committed one: hidden from them, or different, it is refused."""
    first = report(3000, topics=("dprk.missile",), classification="I", releasable_to=("JPN",))
    marking_id = first["objects"][1]["id"]
    other = report(3001, topics=("dprk.nuclear",), classification="III")
    other["objects"][1]["id"] = marking_id  # the same id, another label
    other["objects"][2]["object_marking_refs"] = [marking_id]
    futures = publish_all(
        kor, [(user(kor), report(2999)), (user(kor, "admin"), first), (user(kor, "low"), other)]
    )
    assert futures[1].result().successes[-1].message == "stored, sealed and logged"
    with pytest.raises(Conflict, match=f"id {marking_id} is already in use"):
        futures[2].result()
    with pytest.raises(NotFound, match="no object report--"):
        kor.versions_of(user(kor, "admin"), kor.collection_id("KOR"), other["objects"][2]["id"])


def test_a_full_queue_is_refused_at_once_and_nothing_accepted_is_lost(kor: Node) -> None:
    cid = kor.collection_id("KOR")
    kor.committer.max_waiting = 3
    pool = ThreadPoolExecutor(4)
    with kor.store.writing():
        accepted = submit_behind_first(kor, pool, [(user(kor), report(4000 + n)) for n in range(4)])
        with pytest.raises(Overloaded, match="retry after 1 s") as refused:
            kor.publish(user(kor), report(4100)["objects"], cid)
        assert refused.value.retry_after == 1
        assert refused.value.http_status == 503
    pool.shutdown(wait=True)
    stored = [f.result() for f in accepted]
    assert [s.successes[-1].id[-4:] for s in stored] == ["4000", "4001", "4002", "4003"]
    with pytest.raises(NotFound, match="no object report--"):
        kor.versions_of(user(kor), cid, report(4100)["objects"][-1]["id"])


def test_closing_refuses_what_waits_nothing_half_written(config_path: Path) -> None:
    node = open_node(
        load_config(config_path), clock=FixedClock(NOW), passphrase=PASSPHRASE.encode()
    )
    cid = node.collection_id("KOR")
    pool = ThreadPoolExecutor(3)
    closing = threading.Thread(target=node.committer.stop)
    with node.store.writing():
        futures = submit_behind_first(
            node, pool, [(user(node), report(5000 + n)) for n in range(3)]
        )
        closing.start()  # waits for the batch being written, which waits for us
        wait_until(lambda: node.committer.stopped, "stopping")
    closing.join()
    pool.shutdown(wait=True)
    assert futures[0].result().successes[-1].id.endswith("5000")  # the batch being written
    for future in futures[1:]:
        with pytest.raises(StoreFailure, match="the node is closing; nothing of this envelope"):
            future.result()
    with pytest.raises(StoreFailure, match="the node is closing"):
        node.publish(user(node), report(5100)["objects"], cid)
    for n in (5001, 5002):
        with pytest.raises(NotFound, match="no object report--"):
            node.versions_of(user(node), cid, report(n)["objects"][-1]["id"])
    node.close()
