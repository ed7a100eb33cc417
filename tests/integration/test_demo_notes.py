"""The demo played live: the nodes start without the Japan–ROK GSOMIA's events and KOR's authority
gives them as notes when the replay reaches them; the history the nodes then hold gives the same
decision as the file-based ``historical`` scenario for every launch of the replay."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from gsomia.cli.demo import remaining_launches
from gsomia.cli.demo_notes import LIVE_SCENARIO, live_events, without_events
from gsomia.domain.agreements import EventKind
from gsomia.domain.instants import parse_instant
from gsomia.domain.notes import NoteAct, effective, state_digest
from gsomia.domain.release import Decision
from gsomia.domain.replay import replay
from gsomia.domain.scenario import Scenario
from gsomia.scenarios import load_scenario
from tests.ports import free_ports

AGREEMENT = "jpn-kor-gsomia-2016"
HISTORICAL = load_scenario("historical")
LAUNCHES = remaining_launches(Path("/nonexistent"), HISTORICAL)
#: The replay is started after the last launch before this instant (a resumed demo's progress
#: file): the notes of 2019 and 2023 are given a few wall seconds into it.
FROM = datetime.fromisoformat("2019-07-01T00:00:00+09:00")
#: Past the last note (the 2023 withdrawal) on the simulated clock.
PAST = datetime.fromisoformat("2023-04-01T00:00:00+09:00")


def decisions(scenario: Scenario) -> list[tuple[Any, ...]]:
    """Every decision of the replay under ``scenario``: each launch's reports, directly to each
    recipient and onward through the hub, with what the decision rests on."""

    def shown(d: Decision) -> tuple[Any, ...]:
        return (d.allowed, d.agreements, d.equivalent, d.recipient_marking, d.failures, d.reasons)

    return [
        (
            o.launch_id,
            o.originator,
            {r: shown(d) for r, d in o.direct.items()},
            {r: (shown(w.decision), w.consent) for r, w in o.onward.items()},
        )
        for o in replay(scenario, LAUNCHES)
    ]


def acts(notes: list[dict[str, Any]]) -> list[NoteAct]:
    return [
        NoteAct(
            n["id"],
            n["agreement"],
            EventKind(n["event"]),
            n["party"],
            parse_instant(n["at"], "note.at"),
            n.get("text", ""),
        )
        for n in notes
    ]


def test_the_live_notes_give_the_file_scenarios_decisions_for_every_launch(
    tmp_path: Path,
) -> None:
    data = tmp_path / "demo-data"
    data.mkdir(mode=0o700)
    before = [e for e in LAUNCHES if e.instant < FROM]
    (data / "replay-progress.json").write_bytes(orjson.dumps({"done": before[-1].id}))
    port = free_ports(3)
    exe = Path(sys.executable).with_name("gsomia")
    proc = subprocess.Popen(
        [str(exe), "demo", "--data", str(data), "--port-base", str(port), "--speed", "20000000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        ids = [e.id for e in LAUNCHES]
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            progress = data / "replay-progress.json"
            done = LAUNCHES[ids.index(orjson.loads(progress.read_bytes())["done"])]
            if done.instant > PAST:
                break
            assert time.monotonic() < deadline, "the replay did not pass the 2023 withdrawal"
            time.sleep(0.2)
        state = orjson.loads((data / "demo.json").read_bytes())
        assert state["live_notes"] is True
        held = {}
        for party in ("KOR", "JPN"):
            node = state["nodes"][party]
            r = httpx.get(
                f"{node['url']}/native/v1/notes",
                params={"agreement": AGREEMENT},
                auth=(node["user"], node["token"]),
                timeout=30,
            )
            assert r.status_code == 200, r.text
            held[party] = r.json()
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out

    # the nodes loaded the scenario without the agreement's events
    events = live_events(HISTORICAL)
    assert [e.id for e in events] == ["kor-notice-2019", "kor-suspends-2019", "kor-withdraws-2023"]
    started = without_events(HISTORICAL, events)
    assert load_scenario(str(data / LIVE_SCENARIO)) == started
    assert started.agreement(AGREEMENT).events == ()

    # KOR gave each as a note at its instant; JPN received each and acknowledged it
    sent, received = held["KOR"], held["JPN"]
    assert [(n["event"], parse_instant(n["at"], "at")) for n in sent] == [
        (e.kind.value, e.at) for e in events
    ]
    assert all(n["direction"] == "sent" and "JPN" in n["receipts"] for n in sent)
    assert {n["id"] for n in received} == {n["id"] for n in sent}
    assert all(n["direction"] == "received" for n in received)
    for line in (
        f"KOR gives notice of termination of {AGREEMENT} at 2019-08-23T12:00:00+09:00 → JPN "
        "received it (receipt ",
        f"KOR gives suspension of the notice of {AGREEMENT} at 2019-11-22T18:00:00+09:00 → JPN "
        "received it (receipt ",
        f"KOR gives withdrawal of the notice of {AGREEMENT} at 2023-03-21T12:00:00+09:00 → JPN "
        "received it (receipt ",
    ):
        assert line in out

    # the history each node holds is the file's, and so is every decision of the replay
    for party, notes in held.items():
        live = effective(started, acts(notes))
        assert state_digest(live.agreement(AGREEMENT)) == state_digest(
            HISTORICAL.agreement(AGREEMENT)
        ), party
        assert decisions(live) == decisions(HISTORICAL), party


def test_lapse_2019_plays_the_notice_only_and_its_decisions_rest_on_it() -> None:
    lapse = load_scenario("lapse-2019")
    [notice] = live_events(lapse)
    assert (notice.id, notice.kind, notice.party) == ("kor-notice-2019", EventKind.NOTICE, "KOR")
    started = without_events(lapse, [notice])
    assert started.agreement(AGREEMENT).events == ()
    given = NoteAct(
        "5b0c1f4e-8d2a-4c4e-9f1a-0c2d3e4f5a6b", AGREEMENT, notice.kind, "KOR", notice.at, ""
    )
    # the agreement lapses in 2019 only because of the notice the demo gives as a note
    assert decisions(effective(started, [given])) == decisions(lapse)
    assert decisions(started) != decisions(lapse)
