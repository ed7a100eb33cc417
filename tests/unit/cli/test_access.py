"""`gsomia access` as a user runs it: the decision of DOMAIN.md §7.2 for a user of a party, with
``decide``'s conventions (exit 0 with the decision, one JSON document with ``--json``, 2 for bad
input with one line naming it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gsomia.cli.app import main

LABEL = {
    "id": "kor-2026-0001",
    "originator": "KOR",
    "classification": "II",
    "releasable_to": ["JPN", "USA"],
    "topics": ["dprk.missile"],
    "purposes": ["defense.assessment"],
}
AT = "2026-03-01T09:00:00+00:00"


@pytest.fixture
def label_file(tmp_path: Path) -> Path:
    path = tmp_path / "label.json"
    path.write_text(json.dumps(LABEL), encoding="utf-8")
    return path


def access(
    capsys: pytest.CaptureFixture[str], label: Path, *args: str, party: str = "USA"
) -> tuple[int, str, str]:
    code = main(
        [
            "access",
            str(label),
            "--party",
            party,
            "--clearance",
            {"USA": "SECRET", "KOR": "II", "JPN": "GOKUHI"}[party],
            "--need-to-know",
            "dprk",
            "--at",
            AT,
            *args,
        ]
    )
    out, err = capsys.readouterr()
    return code, out, err


def as_json(capsys: pytest.CaptureFixture[str], label: Path, *args: str, **kw: str) -> Any:
    code, out, err = access(capsys, label, *args, "--json", **kw)
    assert code == 0, err
    return json.loads(out)


def test_allow_and_deny_by_purpose(capsys: pytest.CaptureFixture[str], label_file: Path) -> None:
    allow = as_json(capsys, label_file, "--purposes", "defense.assessment")
    assert allow == {
        "item": "kor-2026-0001",
        "party": "USA",
        "at": AT,
        "decision": "allow",
        "reasons": [],
        "purposes": ["defense.assessment"],
        "user_purposes": ["defense.assessment"],
        "standing_consent": False,
    }
    deny = as_json(capsys, label_file, "--purposes", "defense,defense.policy")
    assert deny["decision"] == "deny"
    [reason] = deny["reasons"]
    assert "purposes (defense, defense.policy) lie within none" in reason
    assert "(defense.assessment)" in reason
    code, out, _ = access(capsys, label_file, "--purposes", "defense")
    assert code == 0
    assert out.startswith("DENY  kor-2026-0001: read at USA")
    assert "provided at USA for: defense.assessment" in out


def test_the_originators_users_need_no_purpose(
    capsys: pytest.CaptureFixture[str], label_file: Path
) -> None:
    doc = as_json(capsys, label_file, "--purposes", "defense.policy", party="KOR")
    assert (doc["decision"], doc["purposes"]) == ("allow", None)
    code, out, _ = access(capsys, label_file, "--purposes", "defense.policy", party="KOR")
    assert code == 0
    assert "KOR originated it" in out


def test_standing_consent_and_approvals(
    capsys: pytest.CaptureFixture[str], label_file: Path, tmp_path: Path
) -> None:
    standing = as_json(capsys, label_file, "--purposes", "defense.assessment", "--standing")
    assert (standing["decision"], standing["purposes"]) == ("deny", ["defense.warning"])
    approvals = tmp_path / "approvals.json"
    approvals.write_text(
        json.dumps(
            [
                {
                    "item": "kor-2026-0001",
                    "purpose": "defense",
                    "granted_at": "2026-02-01T00:00:00Z",
                    "expires_at": "2026-04-01T00:00:00Z",
                },
                {"item": "another", "purpose": "defense.policy", "granted_at": AT},
            ]
        )
    )
    widened = as_json(capsys, label_file, "--purposes", "defense", "--approvals", str(approvals))
    assert (widened["decision"], widened["purposes"]) == (
        "allow",
        ["defense", "defense.assessment"],
    )
    later = as_json(
        capsys,
        label_file,
        "--purposes",
        "defense",
        "--approvals",
        str(approvals),
        "--at",
        "2026-05-01T00:00:00Z",
    )
    assert later["decision"] == "deny"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--purposes", "defense.golf"), "--purposes[0]: unknown purpose 'defense.golf'"),
        (("--purposes", "defense,"), "--purposes: expected a comma-separated list"),
        (("--purposes", "defense", "--clearance", "NOPE"), "NOPE"),
        (("--purposes", "defense", "--at", "2026-03-01T09:00:00"), "--at"),
        (("--purposes", "defense", "--party", "XYZ"), "--party"),
    ],
)
def test_bad_input_exits_2_naming_it(
    capsys: pytest.CaptureFixture[str], label_file: Path, args: tuple[str, ...], words: str
) -> None:
    code, out, err = access(capsys, label_file, *args)
    assert code == 2
    assert out == ""
    assert err.startswith("error: ")
    assert words in err
    assert "Traceback" not in err


def test_bad_approvals_exit_2(
    capsys: pytest.CaptureFixture[str], label_file: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"item": "x"}))
    code, _, err = access(capsys, label_file, "--purposes", "defense", "--approvals", str(bad))
    assert code == 2
    assert "expected a JSON array of approvals" in err
    bad.write_text(json.dumps([{"item": "x", "purpose": "defense"}]))
    code, _, err = access(capsys, label_file, "--purposes", "defense", "--approvals", str(bad))
    assert code == 2
    assert "[0]: missing field 'granted_at'" in err
