"""``gsomia decide`` with a derived label (DOMAIN.md §7.6): a source originator's consent,
named in the consents file by its ``originator``, is what lets the item go on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gsomia.cli.app import main

LABEL = {
    "id": "jpn-assessment-1",
    "originator": "JPN",
    "classification": "GOKUHI",
    "releasable_to": ["KOR", "USA"],
    "topics": ["dprk.missile"],
    "derived_from": [
        {"item": "kor-2020-0001", "originator": "KOR", "kind": "assessment"},
        {"item": "usa-2020-0001", "originator": "USA", "kind": "translation", "language": "ja"},
    ],
}
ARGS = ("--from", "JPN", "--to", "USA", "--at", "2020-06-01T00:00:00+09:00", "--json")


def decide(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code = main(["decide", *args])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def test_a_derived_item_goes_on_with_its_source_originators_consent(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    label = tmp_path / "label.json"
    label.write_text(json.dumps(LABEL))
    denied = decide(capsys, str(label), *ARGS)
    assert denied["decision"] == "deny"
    assert any("derived from items of KOR" in r for r in denied["reasons"])
    consents = tmp_path / "consents.json"
    granted = {
        "item": "jpn-assessment-1",
        "recipient": "USA",
        "granted_at": "2020-05-01T00:00:00+09:00",
    }
    consents.write_text(json.dumps([granted]))  # no originator: JPN's own, which serves nothing
    assert decide(capsys, str(label), *ARGS, "--consents", str(consents))["decision"] == "deny"
    consents.write_text(json.dumps([{**granted, "originator": "KOR"}]))
    allowed = decide(capsys, str(label), *ARGS, "--consents", str(consents))
    assert allowed["decision"] == "allow"
    assert allowed["agreements"] == ["jpn-usa-gsomia-2007", "tisa-2014"]
