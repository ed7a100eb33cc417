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


def updates_by_originator(reader: SseReader, until: float) -> dict[str, list[dict[str, Any]]]:
    """The ``track`` events a stream has delivered by ``until`` (monotonic), per originator."""
    seen: dict[str, list[dict[str, Any]]] = defaultdict(list)
    while (left := until - time.monotonic()) > 0:
        try:
            frame = reader.frames.get(timeout=left)
        except queue.Empty:
            break
        if frame is None:
            break
        if frame.event == "track":
            event = frame.json()
            seen[event["label"]["originator"]].append(event)
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
    factor = factor_for(synthesize(launch, scenario), launch, WALL)
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
    with running(nodes):
        readers = {
            p: SseReader(n, path="/native/v1/tracks/stream").start() for p, n in nodes.items()
        }
        try:
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
            until = time.monotonic() + 5
            seen = {p: updates_by_originator(r, until) for p, r in readers.items()}
        finally:
            for reader in readers.values():
                reader.close()
    assert any("is over" in line for line in said), said
    kor_lines = [line for line in said if line.startswith("live: KOR sensors")]
    assert len(kor_lines) == 1
    assert "tracks on USA" in kor_lines[0]
    assert "not on JPN" in kor_lines[0]
    tracks = {t.party: t for t in synthesize(launch, scenario)}
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
