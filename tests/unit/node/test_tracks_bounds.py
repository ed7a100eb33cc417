"""Relaying only at the hub, and the memory bounds of the tracks (``historical``, 2026).

In ``historical`` after 2023-12-19 KOR sends a track both to JPN (GSOMIA) and to USA; USA, the
2023 link's hub, relays KOR's frames to JPN, while JPN, which may also send to USA but is no
agreement's hub, relays nothing. Tracks idle past the TTL, or the longest idle past the cap,
leave memory (the book, the list, the links' positions, the streams' state); a peer request
introducing more new tracks than its cap is refused for the excess (409 ``next``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest

from gsomia.domain.labels import Label
from gsomia.errors import NotFound
from gsomia.node import tracks as tracks_module
from gsomia.node.service import Node
from gsomia.node.tracks import Run, TrackEvent, Tracks
from tests.trackdata import NOW, Collect, label_doc, open_nodes, update_doc, user


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Node]:
    return open_nodes(tmp_path_factory.mktemp("relay"), "historical")


def test_only_the_hub_relays_the_origins_frames(nodes: dict[str, Node]) -> None:
    kor, jpn, usa = nodes["KOR"], nodes["JPN"], nodes["USA"]
    sender, at_jpn, at_usa = Tracks(kor), Tracks(jpn), Tracks(usa)
    out, from_jpn, from_usa = Collect(), Collect(), Collect()
    sender.outlet, at_jpn.outlet, at_usa.outlet = out, from_jpn, from_usa
    track = f"track--{uuid.uuid4()}"
    doc = {"label": label_doc(track), "updates": [update_doc(track, s) for s in (1, 2)]}
    sender.accept(*sender.check_ingest(user(kor), track, doc), NOW)
    runs: dict[str, Run] = dict(out.runs)
    assert set(runs) == {"JPN", "USA"}  # direct to both
    # JPN may send this track to USA (the 2023 link), yet is not its hub: it relays nothing
    label = Label.from_json(label_doc(track), where="l", scenario=jpn.scenario)
    assert at_jpn.decisions.decide(label, "JPN", "USA", NOW).allowed
    [to_jpn] = sender.seal("JPN", [runs["JPN"]])
    got = at_jpn.receive("KOR", [to_jpn.raw])
    at_jpn.deliver(got.accepted, NOW)
    assert [f.last for f in got.accepted] == [2]
    assert from_jpn.runs == []
    # USA, the hub, relays KOR's frame to JPN
    [to_usa] = sender.seal("USA", [runs["USA"]])
    got = at_usa.receive("KOR", [to_usa.raw])
    at_usa.deliver(got.accepted, NOW)
    [(peer, relay)] = from_usa.runs
    assert (peer, relay.relay) == ("JPN", to_usa.raw)
    [relayed] = at_usa.seal("JPN", [relay])
    assert relayed.relay
    with jpn.store.reading() as r:
        assert [(f.direction, f.peer) for f in r.track_frames(track)] == [("in", "KOR")]


class Forgets:
    """A listener that records what leaves memory."""

    def __init__(self) -> None:
        self.gone: list[str] = []

    def publish(self, events: Sequence[TrackEvent]) -> None:
        pass

    def forget(self, tracks: Sequence[str]) -> None:
        self.gone += tracks


def _post(tracks: Tracks, node: Node, at: datetime) -> str:
    track = f"track--{uuid.uuid4()}"
    doc = {"label": label_doc(track), "updates": [update_doc(track, 1)]}
    tracks.accept(*tracks.check_ingest(user(node), track, doc), at)
    return track


def _listed(tracks: Tracks, node: Node) -> set[str]:
    return {s.track for s in tracks.summaries(user(node))}


def test_idle_tracks_leave_memory_and_the_list(
    nodes: dict[str, Node], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tracks_module, "IDLE_TTL", 10.0)
    kor = nodes["KOR"]
    tracks, heard, out = Tracks(kor), Forgets(), Collect()
    tracks.listeners.append(heard)
    tracks.outlet = out
    old = _post(tracks, kor, NOW)
    [(peer, run), *_] = out.runs
    tracks.seal(peer, [run])  # the link's position is kept in memory
    assert (old, peer) in tracks._sent
    newer = _post(tracks, kor, NOW + timedelta(seconds=5))
    assert _listed(tracks, kor) >= {old, newer}
    latest = _post(tracks, kor, NOW + timedelta(seconds=12))  # old: idle 12 s > 10 s
    assert old not in tracks.book
    assert newer in tracks.book
    assert latest in tracks.book
    assert old not in _listed(tracks, kor)
    assert heard.gone == [old]
    assert all(tid != old for tid, _ in tracks._sent)
    with pytest.raises(NotFound, match="no such track"):
        tracks.so_far(user(kor), old)


def test_past_the_cap_the_longest_idle_track_leaves(
    nodes: dict[str, Node], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tracks_module, "MAX_TRACKS", 3)
    kor = nodes["KOR"]
    tracks = Tracks(kor)
    made = [_post(tracks, kor, NOW + timedelta(milliseconds=10 * i)) for i in range(5)]
    assert set(tracks.book) == set(made[2:])
    assert _listed(tracks, kor) == set(made[2:])


def test_a_request_introducing_too_many_new_tracks_is_refused_for_the_excess(
    nodes: dict[str, Node], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tracks_module, "MAX_NEW_TRACKS_PER_POST", 2)
    kor, usa = nodes["KOR"], nodes["USA"]
    sender, receiver, out = Tracks(kor), Tracks(usa), Collect()
    sender.outlet = out
    made = [_post(sender, kor, NOW) for _ in range(3)]
    runs = [run for peer, run in out.runs if peer == "USA"]
    frames = sender.seal("USA", runs)
    assert [f.track for f in frames] == made
    got = receiver.receive("KOR", [f.raw for f in frames])
    assert [f.track for f in got.accepted] == made[:2]
    assert got.conflicts == {made[2]: 1}
    with usa.store.reading() as r:
        assert r.track_frames(made[2]) == []
    receiver.deliver(got.accepted, NOW)
    again = receiver.receive("KOR", [frames[2].raw])  # resent alone: one new track, taken
    assert [f.track for f in again.accepted] == [made[2]]
