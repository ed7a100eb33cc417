"""The broadcaster's limits, in-process on a real node store: a cap on one user's streams, a
console stream ending with its session (at once, on sign-out or at expiry on wall time), and a
stream that never started giving its place back."""

from __future__ import annotations

import asyncio
import gc
import logging
from datetime import UTC, datetime, timedelta

import pytest

from gsomia.app.boot import load_config, open_node
from gsomia.clock import FixedClock
from gsomia.node.config import User
from gsomia.node.events import Broadcaster, TooManyStreams
from gsomia.node.service import Node
from tests.integration.nodes import PASSPHRASE, make_nodes, report

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def kor(tmp_path_factory: pytest.TempPathFactory) -> Node:
    procs = make_nodes(tmp_path_factory.mktemp("events"), ("KOR", "USA"))
    node = open_node(
        load_config(procs["KOR"].config), clock=FixedClock(NOW), passphrase=PASSPHRASE.encode()
    )
    node.wall = FixedClock(NOW)
    return node


def user(node: Node, name: str) -> User:
    return next(u for u in node.config.users if u.name == name)


def test_one_user_holds_at_most_per_user_streams(
    kor: Node, caplog: pytest.LogCaptureFixture
) -> None:
    async def run() -> None:
        broadcaster = Broadcaster(kor, per_user=2)
        broadcaster.start()
        try:
            first = broadcaster.subscribe(user(kor, "analyst"))
            broadcaster.subscribe(user(kor, "analyst"), session="s1")
            with (
                caplog.at_level(logging.WARNING, "gsomia.audit"),
                pytest.raises(TooManyStreams, match="2 open event streams") as refused,
            ):
                broadcaster.subscribe(user(kor, "analyst"), where="192.0.2.7")
            assert refused.value.http_status == 429
            assert (
                'refused: action="event stream" user=analyst party=KOR reason="2 streams open" '
                "address=192.0.2.7\n" in caplog.text
            )
            broadcaster.subscribe(user(kor, "low"))  # another user still may
            broadcaster.unsubscribe(first)
            broadcaster.subscribe(user(kor, "analyst"))  # a place freed
        finally:
            await broadcaster.close()

    asyncio.run(run())


def test_ending_a_session_ends_its_streams_at_once(kor: Node) -> None:
    analyst = user(kor, "analyst")

    async def run() -> tuple[list[bytes], int]:
        broadcaster = Broadcaster(kor, heartbeat=5.0)
        broadcaster.start()
        try:
            mine = broadcaster.subscribe(analyst, session="s1")
            other = broadcaster.subscribe(analyst, session="s2")
            frames = broadcaster.stream(mine, None)
            assert (await anext(frames)).startswith(b"retry:")
            kor.publish(analyst, report(901)["objects"], kor.collection_id("KOR"))
            broadcaster.dispatch()  # the item is queued for both
            assert broadcaster.end_session("s1") == 1
            rest = [frame async for frame in frames]
            return rest, other.queue.qsize()
        finally:
            await broadcaster.close()

    rest, queued_for_other = asyncio.run(run())
    assert rest == [b": the session ended; sign in again\n\n"]  # not the queued item
    assert queued_for_other == 1


def test_a_console_stream_ends_when_its_session_expires_on_wall_time(kor: Node) -> None:
    analyst = user(kor, "analyst")
    wall = kor.wall
    assert isinstance(wall, FixedClock)
    scenario = kor.clock
    assert isinstance(scenario, FixedClock)

    async def run() -> list[bytes]:
        broadcaster = Broadcaster(kor, heartbeat=0.01)
        broadcaster.start()
        try:
            sub = broadcaster.subscribe(analyst, session="s1", until=NOW + timedelta(hours=8))
            frames = broadcaster.stream(sub, None)
            got = [await anext(frames)]
            scenario.advance(timedelta(days=3650))  # the scenario clock does not end it
            got.append(await anext(frames))
            wall.advance(timedelta(hours=8))
            got.extend([frame async for frame in frames])
            return got
        finally:
            await broadcaster.close()

    got = asyncio.run(run())
    assert got[1] == b": heartbeat\n\n"
    assert got[2:] == [b": the session ended; sign in again\n\n"]


def test_a_stream_never_started_gives_its_place_back(kor: Node) -> None:
    async def run() -> None:
        broadcaster = Broadcaster(kor, per_user=1)
        try:
            frames = broadcaster.stream(broadcaster.subscribe(user(kor, "analyst")), None)
            assert broadcaster.subscribers == 1
            del frames  # the client went away before the response started
            gc.collect()
            assert broadcaster.subscribers == 0
            broadcaster.subscribe(user(kor, "analyst"))
        finally:
            await broadcaster.close()

    asyncio.run(run())
