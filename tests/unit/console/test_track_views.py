"""The console's track views are computed once per update (every page and stream shares them)
and a page draws a long track's ellipse and zones from its last update only."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest

import gsomia.console.tracks as console_tracks
from gsomia.console.trackmap import update_view
from gsomia.console.tracks import ViewCache, track_views
from gsomia.domain.labels import Label
from gsomia.domain.tracks import TrackUpdate
from gsomia.node.events import Broadcaster
from gsomia.node.trackfeed import TrackHub
from gsomia.node.tracks import TrackEvent, Tracks
from tests.trackdata import NOW, label_doc, update_doc, user
from tests.unit.node.test_tracks import nodes

if TYPE_CHECKING:
    from gsomia.node.service import Node

__all__ = ["nodes"]  # the module's node fixture, shared with the node's track tests


def events(node: Node, track: str, count: int) -> list[TrackEvent]:
    label = Label.from_json(label_doc(track), where="l", scenario=node.scenario)
    return [
        TrackEvent(track, label, TrackUpdate.from_json(update_doc(track, s), where="u"), r, NOW)
        for s in range(1, count + 1)
        for r in [("KOR", "USA")]
    ]


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = update_view

    def counting(update: TrackUpdate, *args: Any, **kw: Any) -> dict[str, Any]:
        calls.append(update.seq)
        return real(update, *args, **kw)

    monkeypatch.setattr(console_tracks, "update_view", counting)
    return calls


def test_an_update_is_rendered_once_for_every_subscriber(
    nodes: dict[str, Node], counted: list[int]
) -> None:
    jpn = nodes["JPN"]
    views = ViewCache(jpn, cap=2)
    one, two, three = events(jpn, f"track--{uuid.uuid4()}", 3)
    first = views.view(one)  # one subscriber
    assert views.view(one) is first  # another: the same view, not computed again
    assert counted == [1]
    views.view(two)
    views.view(three)  # past the cap: the least recently used (seq 1) is dropped
    views.view(one)
    assert counted == [1, 2, 3, 1]


def test_a_long_track_s_page_renders_its_last_update_only(
    nodes: dict[str, Node], counted: list[int]
) -> None:
    kor = nodes["KOR"]
    tracks = Tracks(kor)
    hub = TrackHub(tracks, Broadcaster(kor))
    track = f"track--{uuid.uuid4()}"
    kept = events(kor, track, 500)
    tracks.accept(kept[0].label, tuple(e.update for e in kept), NOW)
    shown = track_views(kor, hub, user(kor), ViewCache(kor))
    [view] = [v for v in shown if v.summary.track == track]
    assert counted == [500]  # the ellipse, zones and card: from the last update alone
    assert view.last is not None
    assert view.last["seq"] == 500
    assert sum(len(s.points.split()) for s in view.segments) == 500  # the whole path
