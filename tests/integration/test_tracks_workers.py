"""Tracks on a node of two processes sharing one store and the real NATS (issue 15).

KOR runs as two processes of one config (A on the config's address, B on another port, as a
second worker would) over the shared NATS at 127.0.0.1:4222 (JetStream, a prefix of this
module's own, deleted after it); USA is its peer. What is checked: a sensor's updates posted
through either process reach the track streams on both (the bus's ``tracks`` events), and
reach USA once each, in order, whichever process sent them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests import nats as shared
from tests.trackdata import new_track

from .nodes import NodeProc, make_nodes
from .test_tracks import Stream, post


@pytest.fixture(scope="module")
def kor_twice(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, NodeProc]]:
    shared.require()
    prefix = shared.fresh_prefix()
    nodes = make_nodes(
        tmp_path_factory.mktemp("tracks-workers"), ("KOR", "USA"), bus=shared.bus_url(prefix)
    )
    procs = {"A": nodes["KOR"], "B": nodes["KOR"].twin("b"), "USA": nodes["USA"]}
    try:
        procs["USA"].start()  # first: a node starting may rewrite its exported keys
        with ThreadPoolExecutor(2) as pool:  # the two processes of KOR start side by side
            list(pool.map(NodeProc.start, (procs["A"], procs["B"])))
        yield procs
    finally:
        with ThreadPoolExecutor(len(procs)) as pool:
            list(pool.map(NodeProc.stop, procs.values()))
        asyncio.run(shared.cleanup(prefix))


def last_seq(node: NodeProc, track: str, want: int, seconds: float = 10) -> int:
    """The last seq ``node``'s book holds of ``track``, once it is ``want`` (or the time is up)."""
    deadline = time.monotonic() + seconds
    seen = 0
    while time.monotonic() < deadline:
        r = httpx.get(f"{node.url}/native/v1/tracks/{track}", auth=node.auth(), timeout=5)
        seen = r.json()["summary"]["last_seq"] if r.status_code == 200 else 0
        if seen >= want:
            break
        time.sleep(0.02)
    return seen


def test_updates_through_either_process_reach_the_streams_on_both(
    kor_twice: dict[str, NodeProc],
) -> None:
    a, b, usa = kor_twice["A"], kor_twice["B"], kor_twice["USA"]
    track = new_track()
    on_a, on_b, at_usa = Stream(a, track), Stream(b, track), Stream(usa, track)
    try:
        for first in range(1, 41, 10):
            through, other = (a, b) if first % 20 == 1 else (b, a)
            assert post(through, track, range(first, first + 10)).status_code == 202
            # the other process heard them on the bus before the sensor posts there
            assert last_seq(other, track, first + 9) == first + 9
        assert on_a.wait(track, 40) == list(range(1, 41))
        assert on_b.wait(track, 40) == list(range(1, 41))
        assert at_usa.wait(track, 40) == list(range(1, 41))
        assert {tuple(e["route"]) for e in on_b.events} == {("KOR",)}
    finally:
        for stream in (on_a, on_b, at_usa):
            stream.close()
