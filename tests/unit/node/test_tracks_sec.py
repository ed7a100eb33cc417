"""Tracks under review: purposes under standing consent (§7.1), the receiver's double decision
at a boundary, runs longer than a frame, per-frame answers, the book's bounds."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from gsomia.api.tracks import TrackLinks
from gsomia.bus.local import LocalBus
from gsomia.clock import FixedClock
from gsomia.errors import Denied
from gsomia.node.service import Node
from gsomia.node.trackfeed import TRACKS, TrackBus
from gsomia.node.tracks import Tracks
from gsomia.seal.service import sealed_label
from tests.trackdata import NOW, Collect, label_doc, new_track, open_nodes, update_doc, user

LAPSE = datetime(2019, 11, 22, 15, 0, tzinfo=UTC)  # 2019-11-23T00:00+09:00: GSOMIA ends


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Node]:
    return open_nodes(tmp_path_factory.mktemp("tracks-sec"), "lapse-2019")


def ingest(tracks: Tracks, track: str, seqs: range, **label: Any) -> None:
    doc = {"label": {**label_doc(track), **label}, "updates": [update_doc(track, s) for s in seqs]}
    tracks.accept(*tracks.check_ingest(user(tracks.node), track, doc), tracks.node.clock.now())


def test_a_relay_under_standing_consent_is_for_defense_warning_only(
    nodes: dict[str, Node],
) -> None:
    kor, usa, jpn = nodes["KOR"], nodes["USA"], nodes["JPN"]
    sender, hub, receiver = Tracks(kor), Tracks(usa), Tracks(jpn)
    out, relays = Collect(), Collect()
    sender.outlet, hub.outlet = out, relays
    track = new_track()
    ingest(sender, track, range(1, 4), purposes=["defense.operations", "defense.warning"])
    [frame] = sender.seal("USA", [r for p, r in out.runs if p == "USA"])
    got = hub.receive("KOR", [frame.raw])
    hub.deliver(got.accepted, NOW)
    [relayed] = hub.seal("JPN", [r for p, r in relays.runs if p == "JPN"])
    taken = receiver.receive("USA", [relayed.raw])
    receiver.deliver(taken.accepted, NOW)
    analyst = user(jpn)
    ops = replace(analyst, clearance=replace(analyst.clearance, purposes=("defense.operations",)))
    label = receiver.book[track].label
    assert not receiver.may_see(ops, label)
    assert [s.track for s in receiver.summaries(ops)] == []
    assert receiver.may_see(analyst, label)  # defense.warning: provided for it
    # at the hub the originator sent it itself: the label's purposes
    usa_analyst = user(usa)
    usa_ops = replace(
        usa_analyst, clearance=replace(usa_analyst.clearance, purposes=("defense.operations",))
    )
    assert hub.may_see(usa_ops, label)


def test_a_frame_stated_before_the_lapse_is_refused_after_it(nodes: dict[str, Node]) -> None:
    kor, jpn = nodes["KOR"], nodes["JPN"]
    now = LAPSE + timedelta(minutes=4)
    before = LAPSE - timedelta(seconds=1)
    sender, receiver = Tracks(kor), Tracks(jpn)
    sender.outlet = Collect()
    track = new_track()
    kor.clock = FixedClock(before)
    try:
        ingest(sender, track, range(1, 4))  # queued for JPN while GSOMIA is in force
        runs = [r for p, r in sender.outlet.runs if p == "JPN"]
        assert runs
        [frame] = sender.seal("JPN", runs)  # sealed (stated) just before the lapse
        assert frame.at == before
        jpn.clock = FixedClock(now)  # arrives 4 minutes after it: within the skew
        with pytest.raises(Denied, match="no agreement allowed KOR to send it at 2019-11-22T15:04"):
            receiver.receive("KOR", [frame.raw])
        with jpn.store.reading() as r:
            assert list(r.track_frames(track)) == []
        # the sender itself: sealing after the lapse drops the run; a window sealed before
        # the boundary is outdated after it
        sender.unsent("JPN", [frame])
        kor.clock = FixedClock(now)
        assert sender.outdated([frame])
        assert sender.seal("JPN", runs) == []
        assert sender.rewind("JPN", {track: 1}) == []
    finally:
        kor.clock = jpn.clock = FixedClock(NOW)


class SharedBus(LocalBus):
    """The in-process bus, standing in for a shared one; it keeps every event's bytes."""

    def __init__(self) -> None:
        super().__init__()
        self.carried: list[bytes] = []

    @property
    def shared(self) -> bool:
        return True

    async def publish(self, name: str, data: bytes) -> None:
        self.carried.append(data)
        await super().publish(name, data)


def test_the_bus_carries_track_events_sealed_and_drops_forged_ones(
    nodes: dict[str, Node],
) -> None:
    kor = nodes["KOR"]
    one, two = Tracks(kor), Tracks(kor)  # two workers of one node
    track, forged = new_track(), new_track()

    async def run() -> None:
        bus = SharedBus()
        first, second = TrackBus(one), TrackBus(two)
        await first.start(bus)
        await second.start(bus)
        try:
            ingest(one, track, range(1, 3))
            for _ in range(200):
                await asyncio.sleep(0.01)
                if track in two.book:
                    break
            # a well-formed plaintext event of another "worker", as anyone on the bus could
            doc = {
                "worker": "someone",
                "sealed": base64.b64encode(one.book[track].sealed.encode()).decode(),
                "label": label_doc(forged),
                "standing": False,
                "events": [
                    {
                        "update": update_doc(forged, 1),
                        "route": ["KOR"],
                        "received": "2026-03-01T09:00:00Z",
                    }
                ],
            }
            await bus.publish(TRACKS, orjson.dumps(doc))
            await asyncio.sleep(0.05)
        finally:
            await first.stop()
            await second.stop()
            await bus.close()
        assert two.book[track].last_seq == 2  # heard, opened
        assert forged not in two.book  # the forged event is dropped
        sealed = bus.carried[0]
        for plain in (b"kor-radar-1", track.encode(), b"125.5", b"dprk.missile.warning"):
            assert plain not in sealed

    asyncio.run(run())


def test_runs_longer_than_a_frame_are_split_and_a_rewind_of_all_recovers(
    nodes: dict[str, Node],
) -> None:
    kor, usa = nodes["KOR"], nodes["USA"]
    sender, receiver = Tracks(kor), Tracks(usa)
    out = Collect()
    sender.outlet = out
    track = new_track()
    ingest(sender, track, range(1, 1001))
    ingest(sender, track, range(1001, 2001))
    runs = [r for p, r in out.runs if p == "USA"]
    frames = sender.seal("USA", runs)  # one window: merged, then split at the frame's bound
    assert [(f.prev, f.first, f.last) for f in frames] == [(0, 1, 1000), (1000, 1001, 2000)]
    sender.unsent("USA", frames)  # dropped: the link goes on from before the first
    assert [(f.prev, f.first) for f in sender.seal("USA", runs)] == [(0, 1), (1000, 1001)]
    # the peer never took them (a 409 next=1): the link starts again from seq 1, whole
    again = sender.seal("USA", sender.rewind("USA", {track: 1}))
    assert [(f.prev, f.first, f.last) for f in again] == [(0, 1, 1000), (1000, 1001, 2000)]
    got = receiver.receive("KOR", [f.raw for f in again])
    assert [f.last for f in got.accepted] == [1000, 2000]
    assert got.conflicts == {}


def test_a_receiver_requires_the_warning_topic_and_purpose(nodes: dict[str, Node]) -> None:
    kor, usa = nodes["KOR"], nodes["USA"]
    sender, receiver = Tracks(kor), Tracks(usa)
    sender.outlet = Collect()
    track = new_track()
    ingest(sender, track, range(1, 3))
    [(peer, run)] = sender.outlet.runs
    # a sender that skips its own ingest checks: a label without the warning purpose
    other = replace(sender.book[track].label, purposes=("defense.operations",))
    sender.book[track] = replace(
        sender.book[track], label=other, sealed=sealed_label(kor.scenario, other, NOW)
    )
    [frame] = sender.seal(peer, [run])
    with pytest.raises(
        Denied, match=r"names the topic dprk\.missile\.warning and defense\.warning"
    ):
        receiver.receive("KOR", [frame.raw])


@pytest.mark.parametrize(("buffer", "resent"), [(2500, [2000]), (1500, [])])
def test_a_409_rewinds_only_the_window_s_tracks_within_the_link_s_bound(
    nodes: dict[str, Node], buffer: int, resent: list[int]
) -> None:
    kor = nodes["KOR"]
    sender = Tracks(kor)
    track = new_track()

    def answer(request: httpx.Request) -> httpx.Response:
        wanted = {track: 1, **{new_track(): 1 for _ in range(50)}}
        return httpx.Response(409, json={"error": "conflict", "next": wanted})

    async def run() -> tuple[list[tuple[str, int]], int]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
            links = TrackLinks(kor, sender, client)
            ingest(sender, track, range(1, 1001))
            ingest(sender, track, range(1001, 2001))
            link = links._links["USA"]
            frames = sender.seal("USA", links._take(link))
            assert len(frames) == 2
            links.buffer = buffer
            await links._send(link, frames, [], 0)
            return [(r.track, len(r.updates)) for r in link.pending], link.dropped

    pending, dropped = asyncio.run(run())
    assert pending == [(track, n) for n in resent]  # no other track the peer named
    assert dropped == 2000 - sum(resent)  # past the bound: dropped, counted
    positions = sender._sent
    assert {t for t, _ in positions} == {track}
