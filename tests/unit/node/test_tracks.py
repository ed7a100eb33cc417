"""Tracks in-process on a real node store: decisions per stretch, the book, the streams' limits,
duplicates across routes, and frames judged at a receiver."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from gsomia.clock import FixedClock
from gsomia.domain.labels import Label
from gsomia.domain.tracks import TrackUpdate
from gsomia.errors import BadInput, Conflict, Denied, NotFound, VerificationFailed
from gsomia.node.events import Broadcaster, TooManyStreams
from gsomia.node.service import Node
from gsomia.node.trackfeed import TrackHub
from gsomia.node.tracks import TrackEvent, Tracks
from tests.trackdata import NOW, Collect, label_doc, open_nodes, update_doc, user

LAPSE = datetime(2019, 11, 22, 15, 0, tzinfo=UTC)  # 2019-11-23T00:00+09:00: GSOMIA ends
BETWEEN = datetime(2021, 6, 1, tzinfo=UTC)  # after the lapse, before the 2023 link


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Node]:
    return open_nodes(tmp_path_factory.mktemp("tracks"), "lapse-2019")


def test_decisions_change_at_the_boundary_and_are_memoised(nodes: dict[str, Node]) -> None:
    tracks = Tracks(nodes["KOR"])
    track = f"track--{uuid.uuid4()}"
    label = Label.from_json(label_doc(track), where="l", scenario=nodes["KOR"].scenario)
    before, after = LAPSE - timedelta(seconds=1), LAPSE + timedelta(seconds=1)
    assert tracks.decisions.stretch(before) != tracks.decisions.stretch(after)
    assert tracks.decisions.decide(label, "KOR", "JPN", before).allowed
    assert not tracks.decisions.decide(label, "KOR", "JPN", after).allowed
    again = tracks.decisions.decide(label, "KOR", "JPN", before - timedelta(seconds=5))
    assert again is tracks.decisions.decide(label, "KOR", "JPN", before)  # one stretch, one
    # the hub: no standing consent before 2023-12-19, standing consent after it
    assert not tracks.decisions.decide(label, "USA", "JPN", after).allowed
    assert tracks.decisions.decide(label, "USA", "JPN", NOW).allowed


def test_ingest_queues_only_for_allowed_peers_and_refuses_repeats(
    nodes: dict[str, Node],
) -> None:
    kor = nodes["KOR"]
    tracks = Tracks(kor)
    out = Collect()
    tracks.outlet = out
    track = f"track--{uuid.uuid4()}"
    doc = {"label": label_doc(track), "updates": [update_doc(track, s) for s in (1, 2)]}
    label, updates = tracks.check_ingest(user(kor), track, doc)
    summary = tracks.accept(label, updates, NOW)
    assert summary.last_seq == 2
    assert [(peer, run.first, run.last) for peer, run in out.runs] == [("USA", 1, 2)]  # 2026
    with pytest.raises(Conflict, match="the last seq accepted is 2"):
        tracks.accept(label, updates, NOW)
    bad = {**doc, "updates": [update_doc(track, 3), update_doc(track, 3)]}
    with pytest.raises(BadInput, match=r"updates\[1\]\.seq"):
        tracks.check_ingest(user(kor), track, bad)
    with pytest.raises(Denied, match="may not post under this label"):
        tracks.check_ingest(user(kor, "low"), track, doc)
    with pytest.raises(NotFound, match="no such track"):
        tracks.so_far(user(kor, "low"), track)


def test_frames_sealed_at_kor_open_and_are_judged_at_usa(nodes: dict[str, Node]) -> None:
    kor, usa = nodes["KOR"], nodes["USA"]
    sender, receiver = Tracks(kor), Tracks(usa)
    out = Collect()
    sender.outlet = out
    track = f"track--{uuid.uuid4()}"
    doc = {"label": label_doc(track), "updates": [update_doc(track, s) for s in (1, 2, 3)]}
    sender.accept(*sender.check_ingest(user(kor), track, doc), NOW)
    [(peer, run)] = out.runs
    [frame] = sender.seal(peer, [run])
    assert (frame.first, frame.last, frame.prev) == (1, 3, 0)
    got = receiver.receive("KOR", [frame.raw])
    assert [f.last for f in got.accepted] == [3]
    assert got.conflicts == {}
    again = receiver.receive("KOR", [frame.raw])  # a replay: prev 0 is not the last (3)
    assert again.accepted == ()
    assert again.conflicts == {track: 4}
    with pytest.raises(Denied, match="the request's JPN"):
        receiver.receive("JPN", [frame.raw])
    with usa.store.reading() as r:
        assert [(f.direction, f.first_seq, f.last_seq) for f in r.track_frames(track)] == [
            ("in", 1, 3)
        ]


def test_accepted_frames_are_heard_before_the_commit_and_refused_ones_never(
    nodes: dict[str, Node],
) -> None:
    """``receive``'s hook hears a frame once every check passed, inside the transaction (the
    frame's row not yet visible to a reader), and never a refused or conflicting frame."""
    kor, usa = nodes["KOR"], nodes["USA"]
    sender, receiver = Tracks(kor), Tracks(usa)
    out = Collect()
    sender.outlet = out
    track = f"track--{uuid.uuid4()}"
    doc = {"label": label_doc(track), "updates": [update_doc(track, s) for s in (1, 2)]}
    sender.accept(*sender.check_ingest(user(kor), track, doc), NOW)
    [(peer, run)] = out.runs
    [frame] = sender.seal(peer, [run])
    heard: list[tuple[list[int], int]] = []

    def hook(frames: Any) -> None:
        with usa.store.reading() as r:  # what a reader sees: not yet committed
            stored = len(r.track_frames(track))
        heard.append(([f.last for f in frames], stored))

    with pytest.raises(Denied, match="the request's JPN"):
        receiver.receive("JPN", [frame.raw], accepted=hook)
    assert heard == []
    assert [f.last for f in receiver.receive("KOR", [frame.raw], accepted=hook).accepted] == [2]
    assert heard == [([2], 0)]
    assert receiver.receive("KOR", [frame.raw], accepted=hook).conflicts == {track: 3}
    assert heard == [([2], 0)]
    with usa.store.reading() as r:
        assert len(r.track_frames(track)) == 1


def test_an_explicit_consent_travels_with_the_frames_and_lets_the_hub_relay(
    nodes: dict[str, Node],
) -> None:
    kor, usa, jpn = nodes["KOR"], nodes["USA"], nodes["JPN"]
    clocks = {party: node.clock for party, node in nodes.items()}
    for node in nodes.values():
        node.clock = FixedClock(BETWEEN)
    try:
        sender, hub, receiver = Tracks(kor), Tracks(usa), Tracks(jpn)
        out, relays = Collect(), Collect()
        sender.outlet, hub.outlet = out, relays
        track, other = f"track--{uuid.uuid4()}", f"track--{uuid.uuid4()}"
        for tid in (track, other):
            doc = {"label": label_doc(tid), "updates": [update_doc(tid, s) for s in (1, 2)]}
            sender.accept(*sender.check_ingest(user(kor), tid, doc), BETWEEN)
        run = next(r for peer, r in out.runs if r.track == track and peer == "USA")
        assert {peer for peer, _ in out.runs} == {"USA"}  # KOR-JPN lapsed: only the hub
        wanted = {"recipient": "JPN", "via": "USA"}
        with pytest.raises(Denied, match="is not an admin"):
            sender.grant(user(kor), track, wanted)
        with pytest.raises(BadInput, match="via: JPN is the recipient"):
            sender.grant(user(kor, "admin"), track, {"recipient": "JPN", "via": "JPN"})
        token = sender.grant(user(kor, "admin"), track, wanted)
        elsewhere = sender.grant(user(kor, "admin"), other, wanted)
        assert sender.tokens_for("USA", [track]) == [token.raw]
        [frame] = sender.seal("USA", [run])
        forged = token.raw.replace(b'"JPN"', b'"USA"')
        with pytest.raises(VerificationFailed, match="consent"):
            hub.receive("KOR", [frame.raw], [forged])
        with pytest.raises(BadInput, match="for no track of this request"):
            hub.receive("KOR", [frame.raw], [elsewhere.raw])
        got = hub.receive("KOR", [frame.raw], [token.raw])
        hub.deliver(got.accepted, BETWEEN)
        [(peer, relay)] = relays.runs  # relayed to JPN under the consent, and to no one else
        assert peer == "JPN"
        [relayed] = hub.seal("JPN", [relay])
        with pytest.raises(Denied, match="no agreement allowed USA"):
            receiver.receive("USA", [relayed.raw])  # JPN must see the consent itself
        carried = hub.tokens_for("JPN", [track])
        assert carried == [token.raw]
        taken = receiver.receive("USA", [relayed.raw], carried)
        assert [(f.route, f.last) for f in taken.accepted] == [(("KOR", "USA"), 2)]
        assert Tracks(kor).tokens_for("USA", [track]) == [token.raw]  # kept in the store
    finally:
        for party, node in nodes.items():
            node.clock = clocks[party]


def test_a_stream_delivers_each_seq_once_and_shares_the_user_limit(
    nodes: dict[str, Node],
) -> None:
    jpn = nodes["JPN"]

    async def run() -> None:
        broadcaster = Broadcaster(jpn, per_user=2)
        tracks = Tracks(jpn)
        hub = TrackHub(tracks, broadcaster)
        track = f"track--{uuid.uuid4()}"
        label = Label.from_json(label_doc(track), where="l", scenario=jpn.scenario)
        events = [
            TrackEvent(
                track,
                label,
                TrackUpdate.from_json(update_doc(track, s), where="u"),
                route,
                NOW,
            )
            for s, route in ((1, ("KOR", "USA")), (2, ("KOR", "USA")), (1, ("KOR",)))
        ]
        frames = hub.stream(user(jpn))
        assert await anext(frames) == b"retry: 1000\n\n"
        broadcaster.subscribe(user(jpn))
        with pytest.raises(TooManyStreams, match="2 open event streams"):
            hub.stream(user(jpn))
        hub.publish(events)
        hub.publish([events[1]])
        seqs = []
        for _ in range(2):
            frame = await anext(frames)
            seqs.append(orjson.loads(frame.split(b"data: ", 1)[1])["update"]["seq"])
        assert seqs == [1, 2]
        hub.end_all()
        assert await anext(frames) == b": the node is shutting down\n\n"
        assert hub.tracks(user(jpn, "low")) == []

    asyncio.run(run())


def test_a_sessions_track_streams_end_with_it_through_the_broadcaster(
    nodes: dict[str, Node],
) -> None:
    jpn = nodes["JPN"]

    async def run() -> None:
        broadcaster = Broadcaster(jpn)
        hub = TrackHub(Tracks(jpn), broadcaster)
        mine = hub.stream(user(jpn), session="s1")
        other = hub.stream(user(jpn), session="s2")
        assert await anext(mine) == b"retry: 1000\n\n"
        assert await anext(other) == b"retry: 1000\n\n"
        assert broadcaster.end_session("s1") == 1  # the console's sign-out calls only this
        assert await anext(mine) == b": the session ended; sign in again\n\n"
        assert hub.held(user(jpn).name) == 1
        hub.end_all()

    asyncio.run(run())
