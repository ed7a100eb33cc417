"""Relaying only at the hub: in ``historical`` after 2023-12-19 KOR sends a track both to JPN
(GSOMIA) and to USA; USA, the 2023 link's hub, relays KOR's frames to JPN, while JPN, which may
also send to USA but is no agreement's hub, relays nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from gsomia.app.boot import load_config, open_node
from gsomia.clock import FixedClock
from gsomia.domain.labels import Label
from gsomia.node.service import Node
from gsomia.node.tracks import Run, Tracks
from tests.integration.nodes import PASSPHRASE, make_nodes
from tests.unit.node.test_tracks import Collect, label_doc, update_doc, user

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Node]:
    procs = make_nodes(tmp_path_factory.mktemp("relay"), scenario="historical")
    out = {}
    for party, proc in procs.items():
        node = open_node(
            load_config(proc.config), clock=FixedClock(NOW), passphrase=PASSPHRASE.encode()
        )
        node.wall = FixedClock(NOW)
        out[party] = node
    return out


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
