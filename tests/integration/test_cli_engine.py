"""The engine's commands as a user runs them: decide, agreements, timeline, replay."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from gsomia.cli import cmd_engine
from gsomia.cli.app import main
from gsomia.clock import FixedClock

LABEL = {
    "id": "kor-2019-0001",
    "originator": "KOR",
    "classification": "군사II급비밀",
    "releasable_to": ["JPN", "USA"],
    "topics": ["dprk.missile"],
}


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code, out, err = run(capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)


@pytest.fixture
def label_file(tmp_path: Path) -> Path:
    path = tmp_path / "label.json"
    path.write_text(json.dumps(LABEL, ensure_ascii=False), encoding="utf-8")
    return path


def test_decide_allow_json(capsys: pytest.CaptureFixture[str], label_file: Path) -> None:
    doc = run_json(
        capsys,
        "decide",
        str(label_file),
        "--from",
        "KOR",
        "--to",
        "JPN",
        "--at",
        "2019-11-22T23:59:59+09:00",
        "--scenario",
        "lapse-2019",
    )
    assert doc["decision"] == "allow"
    assert doc["agreements"] == ["jpn-kor-gsomia-2016"]
    assert doc["equivalent"] == "SECRET"
    assert doc["recipient_marking"] == {
        "party": "JPN",
        "level": "GOKUHI",
        "native": "極秘",
        "originator": "KOR",
    }


def test_decide_deny_at_the_lapse(capsys: pytest.CaptureFixture[str], label_file: Path) -> None:
    doc = run_json(
        capsys,
        "decide",
        str(label_file),
        "--from",
        "KOR",
        "--to",
        "JPN",
        "--at",
        "2019-11-23T00:00:00+09:00",
        "--scenario",
        "lapse-2019",
    )
    assert doc["decision"] == "deny"
    assert doc["agreements"] == []
    assert doc["equivalent"] is None
    assert doc["recipient_marking"] is None
    assert len(doc["reasons"]) == 5
    assert any("jpn-kor-gsomia-2016: rule 2 (in force) fails" in r for r in doc["reasons"])


def test_decide_with_consents_file(
    capsys: pytest.CaptureFixture[str], label_file: Path, tmp_path: Path
) -> None:
    consents = tmp_path / "consents.json"
    consents.write_text(
        json.dumps(
            [
                {
                    "item": "kor-2019-0001",
                    "recipient": "JPN",
                    "granted_at": "2020-01-01T00:00:00+09:00",
                }
            ]
        )
    )
    args = (
        "decide",
        str(label_file),
        "--from",
        "USA",
        "--to",
        "JPN",
        "--at",
        "2020-02-01T00:00:00+09:00",
    )
    assert run_json(capsys, *args)["decision"] == "deny"
    doc = run_json(capsys, *args, "--consents", str(consents))
    assert doc["decision"] == "allow"
    assert doc["agreements"] == ["jpn-usa-gsomia-2007", "tisa-2014"]


def test_decide_text(capsys: pytest.CaptureFixture[str], label_file: Path) -> None:
    code, out, _ = run(
        capsys,
        "decide",
        str(label_file),
        "--from",
        "KOR",
        "--to",
        "JPN",
        "--at",
        "2020-01-01T00:00:00+09:00",
    )
    assert code == 0
    assert "ALLOW" in out
    assert "GOKUHI (極秘)" in out


def test_agreements_json(capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_json(capsys, "agreements", "--at", "2019-09-01T00:00:00+09:00")
    g = next(a for a in doc if a["id"] == "jpn-kor-gsomia-2016")
    assert g == {
        "id": "jpn-kor-gsomia-2016",
        "parties": ["JPN", "KOR"],
        "state": "in_force",
        "notice": {"given": "2019-08-23T12:00:00+09:00", "status": "given"},
        "next_anniversary": "2019-11-23T00:00:00+09:00",
        "notice_deadline": "2019-08-25T00:00:00+09:00",
        "ends": "2019-11-23T00:00:00+09:00",
    }
    assert {a["id"]: a["state"] for a in doc}["trilateral-missile-warning-2023"] == "pending"


def pin_clock(monkeypatch: pytest.MonkeyPatch, at: str) -> None:
    """The engine's commands read this instant as now (the calendar cannot change a test)."""
    pinned = FixedClock(datetime.fromisoformat(at))
    monkeypatch.setattr(cmd_engine, "SystemClock", lambda: pinned)


@pytest.mark.parametrize("at", ["2019-09-01T00:00:00+09:00", "2026-03-01T09:00:00+09:00"])
def test_agreements_default_is_now(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, at: str
) -> None:
    pin_clock(monkeypatch, at)
    doc = run_json(capsys, "agreements")
    assert doc == run_json(capsys, "agreements", "--at", at)
    states = {a["id"]: a["state"] for a in doc}
    if at.startswith("2019"):
        assert states["trilateral-missile-warning-2023"] == "pending"
        assert states["jpn-kor-gsomia-2016"] == "in_force"
    else:
        assert set(states.values()) == {"in_force"}


def test_timeline_default_is_a_year_from_now(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pin_clock(monkeypatch, "2019-01-01T00:00:00+00:00")
    doc = run_json(capsys, "timeline")
    assert doc["until"] == "2020-01-02T00:00:00+00:00"
    assert doc == run_json(capsys, "timeline", "--until", "2020-01-02T00:00:00Z")


def test_timeline_json_and_text(capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_json(capsys, "timeline", "--until", "2020-01-01T00:00:00Z")
    kinds = [(e["at"], e["kind"]) for e in doc["entries"]]
    assert ("2019-08-25T00:00:00+09:00", "notice_deadline") in kinds
    code, out, _ = run(
        capsys, "timeline", "--scenario", "lapse-2019", "--until", "2020-01-01T00:00:00Z"
    )
    assert code == 0
    assert "2019-08-25 00:00+09:00" in out
    assert "ends" in out


def test_replay_json_summary(capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_json(
        capsys, "replay", "--from", "2019-01-01", "--to", "2019-12-31", "--scenario", "lapse-2019"
    )
    [year] = doc["summary"]
    assert year["year"] == 2019
    assert year["kor_jpn_via_usa_only"] >= 1
    assert year["reports"] == 2 * year["launches"]
    first = doc["reports"][0]
    assert first["onward"]["consent"] == "assumed"


def test_replay_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "replay", "--from", "2023-12-01", "--to", "2024-01-31")
    assert code == 0
    assert "standing consent" in out
    assert "Per year" in out


# ------------------------------------------------------------------------------ bad input
def bad(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code, out, err = run(capsys, *args)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in err
    assert out == ""
    return lines[0]


def write_label(tmp_path: Path, **changes: Any) -> Path:
    doc = {**LABEL, **changes}
    doc = {k: v for k, v in doc.items() if v is not None}
    path = tmp_path / "l.json"
    path.write_text(json.dumps(doc))
    return path


def decide_args(path: Path, *extra: str) -> tuple[str, ...]:
    return (
        "decide",
        str(path),
        "--from",
        "KOR",
        "--to",
        "JPN",
        "--at",
        "2020-01-01T00:00:00+09:00",
        *extra,
    )


def test_bad_malformed_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "l.json"
    path.write_text('{"id": "x",\n "originator": }')
    assert "malformed JSON at line 2" in bad(capsys, *decide_args(path))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"topics": None}, "missing field(s) 'topics'"),
        ({"originator": "PRK"}, "unknown party 'PRK'"),
        ({"classification": "ULTRA"}, "unknown level 'ULTRA' for KOR"),
        ({"releasable_to": ["JPN", "XXX"]}, "releasable_to[1]"),
        ({"topics": ["DPRK Missile"]}, "topics[0]"),
        ({"releasable_to": "JPN"}, "'releasable_to' must be a list"),
    ],
)
def test_bad_label(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    assert message in bad(capsys, *decide_args(write_label(tmp_path, **changes)))


def test_bad_time_without_offset(capsys: pytest.CaptureFixture[str], label_file: Path) -> None:
    msg = bad(
        capsys,
        "decide",
        str(label_file),
        "--from",
        "KOR",
        "--to",
        "JPN",
        "--at",
        "2020-01-01T00:00:00",
    )
    assert "--at" in msg
    assert "no UTC offset" in msg
    assert "no UTC offset" in bad(capsys, "agreements", "--at", "2020-01-01")


def test_bad_unknown_party_in_options(capsys: pytest.CaptureFixture[str], label_file: Path) -> None:
    assert "--to: unknown party 'CHN'" in bad(
        capsys,
        "decide",
        str(label_file),
        "--from",
        "KOR",
        "--to",
        "CHN",
        "--at",
        "2020-01-01T00:00:00Z",
    )


def test_bad_unknown_scenario(capsys: pytest.CaptureFixture[str], label_file: Path) -> None:
    assert "unknown scenario 'lapse'" in bad(
        capsys, *decide_args(label_file, "--scenario", "lapse")
    )
    assert "unknown scenario" in bad(capsys, "agreements", "--scenario", "nope")
    assert "unknown scenario" in bad(capsys, "timeline", "--scenario", "nope")
    assert "unknown scenario" in bad(capsys, "replay", "--scenario", "nope")


def test_bad_scenario_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(
        'format = 1\nextends = "historical"\nname = "x"\n[[events]]\nid = "e"\nat = 2020-01-01T00:00:00\nagreement = "jpn-kor-gsomia-2016"\nkind = "notice"\nparty = "KOR"\n'
    )
    msg = bad(capsys, "timeline", "--scenario", str(path))
    assert str(path) in msg
    assert "events[3].at" in msg


def test_bad_consents(capsys: pytest.CaptureFixture[str], label_file: Path, tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('[{"item": "kor-2019-0001", "recipient": "JPN"}]')
    assert "missing field 'granted_at'" in bad(
        capsys, *decide_args(label_file, "--consents", str(path))
    )
    path.write_text('{"item": 1}')
    assert "expected a JSON array" in bad(capsys, *decide_args(label_file, "--consents", str(path)))


def test_bad_missing_file_and_options(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert "no such file" in bad(capsys, *decide_args(tmp_path / "none.json"))
    assert "Missing option" in bad(capsys, "decide", str(tmp_path / "x.json"))
    assert "not a date" in bad(capsys, "replay", "--from", "2019-13-01")
    assert "before --from" in bad(capsys, "replay", "--from", "2020-01-01", "--to", "2019-01-01")
    assert "No such command" in bad(capsys, "decid")


def test_the_console_script_runs_as_a_process(label_file: Path) -> None:
    exe = Path(sys.executable).with_name("gsomia")
    ok = subprocess.run(
        [
            str(exe),
            "decide",
            str(label_file),
            "--from",
            "KOR",
            "--to",
            "USA",
            "--at",
            "2020-01-01T00:00:00Z",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["decision"] == "allow"
    bad_run = subprocess.run(
        [str(exe), "decide", str(label_file), "--from", "KOR", "--to", "USA", "--at", "yesterday"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad_run.returncode == 2
    assert bad_run.stderr.startswith("error: ")
    assert "Traceback" not in bad_run.stderr


SCENARIO_HEAD = 'format = 1\nextends = "historical"\nname = "w"\n'
OUT_OF_BOUNDS = [
    (
        '[[agreements]]\nid = "a"\nparties = ["KOR", "JPN"]\nclasses = ["SECRET"]\n'
        "start = 0001-01-01T00:00:00+09:00\n",
        ".agreements[5].start: 0001-01-01T00:00:00+09:00 is outside the years a scenario may "
        "cover (1945..2100)",
    ),
    ("notes = " + "[" * 3000 + "]" * 3000 + "\n", "line 4, key 'notes': tables and arrays nest"),
    ("notes = " + "9" * 5000 + "\n", "line 4, key 'notes': a number of 5000 digits"),
    ("#" * 70_000 + "\n", ": larger than 64 KiB, the most a scenario may be"),
]


@pytest.mark.parametrize(("extra", "message"), OUT_OF_BOUNDS)
@pytest.mark.parametrize("command", ["agreements", "timeline"])
def test_a_scenario_file_out_of_bounds_is_bad_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str, extra: str, message: str
) -> None:
    path = tmp_path / "what-if.toml"
    path.write_text(SCENARIO_HEAD + extra, encoding="utf-8")
    line = bad(capsys, command, "--scenario", str(path))
    assert line.startswith((f"error: {path}", f"error: scenario file {path}"))
    assert message in line


def test_instants_far_from_the_scenario_years_are_bad_input(
    capsys: pytest.CaptureFixture[str],
) -> None:
    far = "9999-06-01T00:00:00Z"
    assert "is outside the years at which a scenario is evaluated" in bad(
        capsys, "timeline", "--until", far
    )
    assert "is outside the years at which a scenario is evaluated" in bad(
        capsys, "agreements", "--at", far
    )
