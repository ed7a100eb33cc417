"""The scenarios a node enforces, in generations: a dispute or a note installs a new one, which
the track feed's memo of decisions follows; a read that changes nothing keeps the scenarios
(and the engine's and verifier's memos of them); a stale read never undoes a newer one; a node
that cannot read its notes for long stops releasing under its agreements until it can.

Two real nodes in process (real SQLite stores, real keys), their refreshers stopped so that
every refresh is the test's own."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gsomia.app.boot import load_config, open_node
from gsomia.clock import FixedClock
from gsomia.domain.agreements import EventKind
from gsomia.domain.instants import format_instant
from gsomia.domain.labels import Label
from gsomia.domain.notes import state_digest
from gsomia.domain.release import decide
from gsomia.errors import StoreFailure
from gsomia.node import agreementstate, notes, service
from gsomia.node.config import User
from gsomia.node.service import Node
from gsomia.node.tracks import Tracks
from tests.integration.nodes import GSOMIA, PASSPHRASE, live_scenario, make_nodes
from tests.trackdata import Collect, label_doc, update_doc

SEOUL = ZoneInfo("Asia/Seoul")
AT = datetime(2019, 8, 23, 12, 0, tzinfo=SEOUL)  # GSOMIA in force, the 2023 link years away
WALL = datetime(2026, 3, 1, 9, 0, tzinfo=SEOUL)
OTHERS = "jpn-usa-gsomia-2007"  # an agreement KOR is no party to


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[dict[str, Node]]:
    procs = make_nodes(tmp_path, parties=("KOR", "JPN"), scenario=live_scenario(tmp_path))
    nodes = {
        p: open_node(
            load_config(procs[p].config), clock=FixedClock(AT), passphrase=PASSPHRASE.encode()
        )
        for p in procs
    }
    for node in nodes.values():
        node.wall = FixedClock(WALL)
        assert node._refresher is None  # not started: each refresh below is the test's
    yield nodes
    for node in nodes.values():
        node.close()


def _user(node: Node, name: str) -> User:
    return next(u for u in node.config.users if u.name == name)


def _jpn_states(kor: Node, jpn: Node, digest: bytes) -> None:
    """KOR keeps ``digest`` as JPN's state of GSOMIA (a checkpoint newer than any before)."""
    with kor.store.writing() as w:
        size = jpn.log.size() + len(w.documents(notes.PEER_STATES, GSOMIA)) + 1
        agreementstate.record_peer_state(
            w, "JPN", GSOMIA, digest, size, "checkpoint", kor.wall.now()
        )


def _dispute(kor: Node, jpn: Node) -> None:
    _jpn_states(kor, jpn, hashlib.sha256(b"another state").digest())


def _heal(kor: Node, jpn: Node) -> None:
    _jpn_states(kor, jpn, state_digest(kor.agreed_scenario.agreement(GSOMIA)))


def _track(kor: Node) -> tuple[Tracks, Collect, Label, str]:
    tracks = Tracks(kor)
    out = Collect()
    tracks.outlet = out
    tid = f"track--{uuid.uuid4()}"
    label = Label.from_json(label_doc(tid), where="label", scenario=kor.scenario)
    return tracks, out, label, tid


def _post(tracks: Tracks, kor: Node, tid: str, seq: int) -> None:
    doc = {"label": label_doc(tid), "updates": [update_doc(tid, seq)]}
    tracks.accept(*tracks.check_ingest(_user(kor, "analyst"), tid, doc), kor.clock.now())


# ------------------------------------------------------------------ H1: the memo follows
def test_a_dispute_stops_the_track_feed_at_once_and_its_healing_restarts_it(
    pair: dict[str, Node],
) -> None:
    kor, jpn = pair["KOR"], pair["JPN"]
    tracks, out, label, tid = _track(kor)
    assert tracks.decisions.decide(label, "KOR", "JPN", AT).allowed  # memoised: GSOMIA allows
    _post(tracks, kor, tid, 1)
    assert [(peer, run.first) for peer, run in out.runs] == [("JPN", 1)]
    first = out.runs[0][1]
    before = kor.generation.number

    _dispute(kor, jpn)
    kor.refresh_agreements()
    assert kor.scenario.agreement(GSOMIA).dispute
    assert kor.generation.number == before + 1
    # the only agreement that lets KOR give JPN this at AT is disputed: nothing goes, though no
    # boundary moved (the stretch is the same) and the memo held an allow for this very key
    assert not decide(kor.scenario, label, holder="KOR", recipient="JPN", at=AT).allowed
    assert not tracks.decisions.decide(label, "KOR", "JPN", AT).allowed
    _post(tracks, kor, tid, 2)
    assert [run.first for _, run in out.runs] == [1]  # seq 2 not queued to JPN
    assert tracks.seal("JPN", [first]) == []  # nor is what was queued before sealed

    _heal(kor, jpn)
    kor.refresh_agreements()
    assert not kor.scenario.agreement(GSOMIA).dispute
    assert kor.generation.number == before + 2
    _post(tracks, kor, tid, 3)
    assert [(peer, run.first) for peer, run in out.runs] == [("JPN", 1), ("JPN", 3)]


def test_a_refresh_that_reads_the_same_keeps_the_scenarios_and_the_generation(
    pair: dict[str, Node],
) -> None:
    kor = pair["KOR"]
    # a note sent and not yet receipted: notes held and a dispute, both rebuilt at each read
    notes.give(kor, _user(kor, "authority"), GSOMIA, EventKind.NOTICE)
    held = kor.generation
    assert held.effective.agreement(GSOMIA).dispute
    assert held.agreed is not kor.base_scenario
    memo = kor.scenario.decision_cache()[0]
    for _ in range(3):
        kor.refresh_agreements()
    assert kor.generation.number == held.number
    assert kor.scenario is held.effective
    assert kor.agreed_scenario is held.agreed
    assert kor.scenario.decision_cache()[0] is memo  # the engine's memo lives on
    assert kor.verifier._scenario is held.agreed  # and the verifier's scenario


def test_a_refresh_of_a_changed_pair_bumps_the_generation_once(pair: dict[str, Node]) -> None:
    kor, jpn = pair["KOR"], pair["JPN"]
    start = kor.generation
    _dispute(kor, jpn)
    kor.refresh_agreements()
    kor.refresh_agreements()
    now = kor.generation
    assert now.number == start.number + 1
    assert now.agreed is start.agreed  # a dispute changes the effective scenario alone
    assert now.effective is not start.effective


# ------------------------------------------------------------------ M4 (a): in order
def test_a_stale_read_never_overwrites_a_newer_install(pair: dict[str, Node]) -> None:
    kor, jpn = pair["KOR"], pair["JPN"]
    stale = kor.read_agreements()  # read before the dispute was recorded
    _dispute(kor, jpn)
    fresh = kor.read_agreements()
    assert kor.install_agreements(fresh)
    installed = kor.generation
    assert not kor.install_agreements(stale)  # began before the one installed: refused
    assert kor.generation is installed
    assert kor.scenario.agreement(GSOMIA).dispute
    assert not kor.install_agreements(fresh)  # the same read again: nothing to do
    assert kor.generation is installed


# ------------------------------------------------------------------ M4 (c): fail closed
def _break_notes(node: Node) -> None:
    with node.store.writing() as w:
        w.put_document(notes.NOTES, "broken", f"agreement:{GSOMIA}", {"id": "broken"}, None)


def _mend_notes(node: Node) -> None:
    with sqlite3.connect(node.config.data_dir / "node.sqlite3") as con:
        con.execute("DELETE FROM node_documents WHERE key = ?", ("broken",))


def test_a_node_that_cannot_read_its_notes_stops_releasing_and_recovers(
    pair: dict[str, Node], caplog: pytest.LogCaptureFixture
) -> None:
    kor = pair["KOR"]
    assert isinstance(kor.wall, FixedClock)
    tracks, _, label, _ = _track(kor)
    assert tracks.decisions.decide(label, "KOR", "JPN", AT).allowed
    healthy = kor.generation
    _break_notes(kor)
    with pytest.raises(StoreFailure, match="note broken"):
        kor.refresh_agreements()
    # within the bound the last state holds
    kor.wall.advance(timedelta(seconds=service.FAIL_CLOSED_SECONDS / 2))
    with pytest.raises(StoreFailure, match="note broken"):
        kor.refresh_agreements()
    assert kor.generation is healthy
    # past it: every agreement of KOR's disputed, said once at error level
    kor.wall.advance(timedelta(seconds=service.FAIL_CLOSED_SECONDS))
    with caplog.at_level(logging.ERROR, logger="gsomia.node"):
        for _ in range(3):
            with pytest.raises(StoreFailure, match="note broken"):
                kor.refresh_agreements()
    [said] = [r for r in caplog.records if r.levelno == logging.ERROR]
    since = format_instant(WALL.astimezone(UTC))  # the first failure, on the wall clock
    assert f"cannot read its notes and peers' states since {since} (StoreFailure" in said.message
    closed = kor.generation
    assert closed.number == healthy.number + 1
    assert closed.agreed is healthy.agreed
    for agreement in closed.effective.agreements:
        if "KOR" in agreement.parties:
            assert "no release under its agreements until it can" in agreement.dispute
        else:
            assert not agreement.dispute
    assert closed.effective.agreement(OTHERS).dispute == ""
    assert not decide(kor.scenario, label, holder="KOR", recipient="JPN", at=AT).allowed
    assert not tracks.decisions.decide(label, "KOR", "JPN", AT).allowed
    # it reads again: the disputes go, releases resume
    _mend_notes(kor)
    kor.refresh_agreements()
    assert kor.generation.number == closed.number + 1
    assert not any(a.dispute for a in kor.scenario.agreements)
    assert kor.scenario == healthy.effective
    assert tracks.decisions.decide(label, "KOR", "JPN", AT).allowed
    # and a later failure starts its own bound
    _break_notes(kor)
    with pytest.raises(StoreFailure, match="note broken"):
        kor.refresh_agreements()
    assert not kor.scenario.agreement(GSOMIA).dispute
