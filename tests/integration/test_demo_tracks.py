"""The demo's live launch: its tracks reach the parties the agreements allow, and no other."""

from __future__ import annotations

import queue
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

from gsomia.cli.demo import remaining_launches
from gsomia.cli.demo_tracks import Ingest, LivePlayer, factor_for, live_launches, synthesize
from gsomia.clock import SystemClock
from gsomia.domain.instants import format_instant
from gsomia.scenarios import load_scenario

from .nodes import make_nodes, running
from .sse import SseReader

WALL = 3.0  # the test's flight, in wall seconds


def read_until(
    readers: dict[str, SseReader], wanted: dict[tuple[str, str], int], deadline: float
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """The ``track`` events each stream delivered, per reader and originator: read until every
    (reader, originator) in ``wanted`` has its count of updates (or ``deadline``, monotonic),
    then one second more, so that an update that should not come has the time to."""
    seen: dict[str, dict[str, list[dict[str, Any]]]] = {p: defaultdict(list) for p in readers}

    def complete() -> bool:
        return all(len(seen[p][o]) >= n for (p, o), n in wanted.items())

    grace: float | None = None
    while (now := time.monotonic()) < (deadline if grace is None else grace):
        if grace is None and complete():
            grace = now + 1.0
        for party, reader in readers.items():
            while True:
                try:
                    frame = reader.frames.get_nowait()
                except queue.Empty:
                    break
                if frame is not None and frame.event == "track":
                    event = frame.json()
                    seen[party][event["label"]["originator"]].append(event)
        time.sleep(0.05)
    return seen


def test_the_first_live_launch_reaches_usa_and_not_the_other_of_kor_and_jpn(
    tmp_path: Path,
) -> None:
    # the demo's first live launch (2015, under TISA): KOR's and JPN's tracks may reach USA but
    # not each other (only through USA, and a relay needs a consent no track has before the
    # 2023 link); USA's reaches both
    scenario = load_scenario("historical")
    launch = live_launches(remaining_launches(Path("/nonexistent"), scenario), scenario)[0]
    assert launch.instant.year == 2015
    tracks = {t.party: t for t in synthesize(launch, scenario)}  # the same flights, other ids
    factor = factor_for(tuple(tracks.values()), launch, WALL)
    nodes = make_nodes(tmp_path)
    for node in nodes.values():  # the nodes' scenario clock flies with the flight
        node.serve_args = (
            "--sim-start",
            format_instant(launch.instant),
            "--sim-wall",
            format_instant(SystemClock().now()),
            "--sim-speed",
            repr(factor),
        )
    said: list[str] = []
    readers: dict[str, SseReader] = {}
    try:
        with running(nodes):
            readers = {
                p: SseReader(n, path="/native/v1/tracks/stream").start() for p, n in nodes.items()
            }
            player = LivePlayer(
                scenario,
                (launch,),
                {p: Ingest(n.url, n.auth()) for p, n in nodes.items()},
                {p: f"{n.url}/console/" for p, n in nodes.items()},
                said.append,
                client=lambda: httpx.Client(timeout=10),
                wall_seconds=WALL,
            )
            player.launched(launch)
            for thread in player.threads:
                thread.join(30)
            wanted = {
                ("USA", "KOR"): len(tracks["KOR"].updates),
                ("USA", "JPN"): len(tracks["JPN"].updates),
                ("JPN", "USA"): len(tracks["USA"].updates),
                ("KOR", "USA"): len(tracks["USA"].updates),
            }
            seen = read_until(readers, wanted, time.monotonic() + 20)
    finally:  # the nodes stopped, their streams have ended: the readers stop at once
        for reader in readers.values():
            reader.close()
    assert any("is over" in line for line in said), said
    kor_lines = [line for line in said if line.startswith("live: KOR sensors")]
    assert len(kor_lines) == 1
    assert "tracks on USA" in kor_lines[0]
    assert "not on JPN" in kor_lines[0]
    # USA got every update of KOR's and JPN's tracks, in order, each marked synthesized
    for origin in ("KOR", "JPN"):
        got = seen["USA"][origin]
        assert [e["update"]["seq"] for e in got] == list(range(1, len(tracks[origin].updates) + 1))
        assert all(e["update"]["synthesized"] is True for e in got)
        assert all(e["route"] == [origin] for e in got)
    # KOR and JPN got USA's track, and nothing of each other's
    assert seen["JPN"]["USA"]
    assert seen["KOR"]["USA"]
    assert all(e["update"]["synthesized"] is True for e in seen["JPN"]["USA"])
    assert "KOR" not in seen["JPN"]
    assert "JPN" not in seen["KOR"]
