"""Server-sent events at live nodes: what a user of the recipient node sees as it arrives."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from gsomia.api.events import Broadcaster
from gsomia.app.boot import load_config, open_node
from gsomia.node.stix import GSOMIA_LABEL_EXTENSION
from tests.backends import Backend

from .native_client import collection_at
from .nodes import PASSPHRASE, TAXII, NodeProc, make_nodes, report
from .sse import SseReader, tune

HEADERS = {"Accept": TAXII, "Content-Type": TAXII}


@pytest.fixture(scope="module")
def trio(
    tmp_path_factory: pytest.TempPathFactory, backend: Backend
) -> Iterator[dict[str, NodeProc]]:
    nodes = make_nodes(tmp_path_factory.mktemp("events"), backend=backend)
    for node in nodes.values():
        tune(node, event_heartbeat=0.3, cosign_interval=0)
        node.start()
    try:
        yield nodes
    finally:
        for node in nodes.values():
            node.stop()


def publish(node: NodeProc, envelope: dict[str, Any]) -> None:
    cid = collection_at(node)
    r = httpx.post(
        f"{node.api_root}collections/{cid}/objects/",
        headers=HEADERS,
        auth=node.auth("analyst"),
        content=orjson.dumps(envelope),
    )
    assert r.status_code == 202, r.text


def report_id(n: int) -> str:
    return f"report--00000000-0000-4000-8000-{n:012d}"


def test_published_at_kor_streams_to_jpn_with_jpn_marking(trio: dict[str, NodeProc]) -> None:
    kor, jpn = trio["KOR"], trio["JPN"]
    analyst = SseReader(jpn).start()
    low = SseReader(jpn, user="low").start()
    try:
        assert analyst.status == 200
        # DPRK missile, SECRET: the analyst may see it; "low" (CONFIDENTIAL, dprk.nuclear) not.
        publish(kor, report(501))
        # DPRK nuclear, CONFIDENTIAL: both may see it.
        publish(kor, report(502, topics=("dprk.nuclear",), classification="III"))

        first_frame = analyst.next_item()
        first = first_frame.json()
        assert first["object"]["id"] == report_id(501)
        assert first["collection"] == collection_at(jpn, "KOR")
        assert first["item"] == f"{report_id(501)}/2026-01-01T00:00:00.000Z"
        labels = [m["extensions"][GSOMIA_LABEL_EXTENSION] for m in first["markings"]]
        assert {m["id"] for m in first["markings"]} == set(first["object"]["object_marking_refs"])
        original = next(label for label in labels if "equivalent_of" not in label)
        equivalent = next(label for label in labels if "equivalent_of" in label)
        assert (original["originator"], original["classification"]) == ("KOR", "II")
        assert (equivalent["party"], equivalent["level"], equivalent["originator"]) == (
            "JPN",
            "GOKUHI",
            "KOR",
        )
        second_frame = analyst.next_item()
        assert second_frame.json()["object"]["id"] == report_id(502)
        assert int(first_frame.id or 0) < int(second_frame.id or 0)

        # Events come in store order: the first item "low" gets is the second report, so the
        # first was never sent to it.
        seen_by_low = low.next_item()
        assert (seen_by_low.id, seen_by_low.data) == (second_frame.id, second_frame.data)
    finally:
        analyst.close()
        low.close()


def test_resume_with_last_event_id(trio: dict[str, NodeProc]) -> None:
    kor, usa = trio["KOR"], trio["USA"]
    live = SseReader(usa).start()
    try:
        for n in (601, 602, 603):
            publish(kor, report(n))
        frames = [live.next_item() for _ in range(3)]
    finally:
        live.close()
    assert [f.json()["object"]["id"] for f in frames] == [report_id(n) for n in (601, 602, 603)]
    ids = [int(f.id or 0) for f in frames]
    assert ids == sorted(ids)

    resumed = SseReader(usa, last_event_id=str(ids[0])).start()
    try:
        again = [resumed.next_item() for _ in range(2)]
        assert [int(f.id or 0) for f in again] == ids[1:]
        assert [f.data for f in again] == [f.data for f in frames[1:]]
        # then live: a new item follows the backlog, once
        publish(kor, report(604))
        assert resumed.next_item().json()["object"]["id"] == report_id(604)
    finally:
        resumed.close()


def test_own_items_stream_at_the_publishing_node(trio: dict[str, NodeProc]) -> None:
    kor = trio["KOR"]
    reader = SseReader(kor).start()
    try:
        publish(kor, report(701))
        event = reader.next_item().json()
        assert event["collection"] == collection_at(kor)
        assert event["object"]["id"] == report_id(701)
    finally:
        reader.close()


def test_heartbeat_on_an_idle_stream(trio: dict[str, NodeProc]) -> None:
    reader = SseReader(trio["USA"], user="low").start()
    try:
        assert reader.next_comment(timeout=10) == "heartbeat"
    finally:
        reader.close()


def test_refusals(trio: dict[str, NodeProc]) -> None:
    jpn = trio["JPN"]
    r = httpx.get(f"{jpn.url}/native/v1/events", timeout=5)
    assert r.status_code == 401
    assert r.json()["http_status"] == "401"
    r = httpx.get(f"{jpn.url}/native/v1/events", auth=("analyst", "wrong"), timeout=5)
    assert r.status_code == 401
    r = httpx.get(
        f"{jpn.url}/native/v1/events",
        auth=jpn.auth(),
        headers={"Last-Event-ID": "12; DROP TABLE"},
        timeout=5,
    )
    assert r.status_code == 400
    assert r.json()["error_code"] == "bad_request"
    r = httpx.get(
        f"{jpn.url}/native/v1/events", auth=jpn.auth(), headers={"Accept": TAXII}, timeout=5
    )
    assert r.status_code == 406


def test_streams_end_cleanly_at_shutdown(tmp_path: Path, backend: Backend) -> None:
    node = make_nodes(tmp_path, ("KOR", "USA"), backend=backend)["KOR"]
    node.start()
    try:
        reader = SseReader(node).start()
        node.stop()
        assert reader.next_comment(timeout=10) == "the node is shutting down"
        assert reader.frames.get(timeout=10) is None
        assert "timeout graceful shutdown exceeded" not in node.log.read_text()
    finally:
        node.stop()


def test_a_slow_subscriber_is_dropped_not_the_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: Backend
) -> None:
    """In-process, on a real node store: a subscriber whose queue is full is ended, with a
    last comment telling it to resume; the others keep receiving."""
    nodes = make_nodes(tmp_path, ("KOR", "JPN"), backend=backend)
    monkeypatch.setenv("GSOMIA_PASSPHRASE", PASSPHRASE)  # for this test only, not the session
    node = open_node(load_config(nodes["KOR"].config))
    analyst = next(u for u in node.config.users if u.name == "analyst")
    cid = node.collection_id("KOR")

    async def scenario() -> tuple[list[bytes], list[bytes]]:
        broadcaster = Broadcaster(node, heartbeat=5.0, queue_size=2)
        broadcaster.start()
        try:
            slow = broadcaster.subscribe(analyst)
            fast = broadcaster.subscribe(analyst)
            slow_frames = broadcaster.stream(slow, None)
            fast_frames = broadcaster.stream(fast, None)
            assert (await anext(slow_frames)).startswith(b"retry:")
            assert (await anext(fast_frames)).startswith(b"retry:")
            got_fast: list[bytes] = []
            for n in range(3):
                node.publish(analyst, report(800 + n)["objects"], cid)
                broadcaster.dispatch()
                got_fast.append(await anext(fast_frames))
            assert broadcaster.subscribers == 1  # the slow one is gone
            got_slow = [frame async for frame in slow_frames]
            await fast_frames.aclose()
            return got_slow, got_fast
        finally:
            await broadcaster.close()

    try:
        got_slow, got_fast = asyncio.run(scenario())
    finally:
        node.store.close()
    assert all(b"event: item" in f for f in got_fast)
    assert [report_id(800 + n).encode() in f for n, f in enumerate(got_fast)] == [True] * 3
    assert got_slow[-1].startswith(b": dropped")
    # it got fewer than the three items (the end marker took a place in its full queue)
    assert 0 < sum(b"event: item" in f for f in got_slow) < 3
