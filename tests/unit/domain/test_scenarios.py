"""Loading scenarios: the built-ins, user files, and errors that name the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from gsomia.domain.scenario import Scenario
from gsomia.errors import BadInput
from gsomia.scenarios import load_scenario, read_document

from .conftest import t


def test_builtins_share_the_record(historical: Scenario, lapse: Scenario) -> None:
    assert [a.id for a in historical.agreements] == [a.id for a in lapse.agreements]
    assert sorted(historical.policies) == ["JPN", "KOR", "USA"]
    assert len(historical.events()) == 3
    assert [e.id for e in lapse.events()] == ["kor-notice-2019"]


def test_every_fact_has_a_source(historical: Scenario) -> None:
    assert all(a.source for a in historical.agreements)
    assert all(e.source for e in historical.events())
    assert all(p.source for p in historical.policies.values())


def test_the_levels_of_domain_md(historical: Scenario) -> None:
    kor = historical.policy("KOR")
    assert [(lv.id, lv.native, lv.equivalence.value) for lv in kor.levels] == [
        ("I", "군사I급비밀", "TOP SECRET"),
        ("II", "군사II급비밀", "SECRET"),
        ("III", "군사III급비밀", "CONFIDENTIAL"),
    ]
    jpn = historical.policy("JPN")
    assert jpn.level("特定秘密").id == "TOKUTEI_HIMITSU"
    assert jpn.level("極秘").equivalence.value == "SECRET"
    assert jpn.default_level(jpn.level("TOKUTEI_HIMITSU").equivalence).id == "GOKUHI"


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_user_file_extending_a_builtin(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'format = 1\nextends = "historical"\nname = "mine"\ndrop_events = ["kor-withdraws-2023"]\n'
        '[[events]]\nid = "x"\nat = 2024-01-01T00:00:00+09:00\nagreement = "jpn-kor-gsomia-2016"\n'
        'kind = "withdraw"\nparty = "KOR"\n',
    )
    s = load_scenario(str(path))
    assert s.name == "mine"
    assert [e.id for e in s.events()] == ["kor-notice-2019", "kor-suspends-2019", "x"]


def test_a_user_file_extending_a_relative_file(tmp_path: Path) -> None:
    write(tmp_path, 'format = 1\nextends = "historical"\nname = "base"\n', "base.toml")
    child = write(tmp_path, 'format = 1\nextends = "base.toml"\nname = "child"\n', "child.toml")
    assert load_scenario(str(child)).name == "child"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('format = 1\nname = "x\n', "invalid TOML.*line 2"),
        ('format = 2\nname = "x"\n', r"\.format: expected 1, got 2"),
        ("format = 1\n", "missing key 'name'"),
        ('format = 1\nname = "x"\n', "missing key 'parties'"),
        (
            'format = 1\nextends = "historical"\nname = "x"\n[[agreements]]\nid = "a"\nparties = ["KOR", "PRK"]\n'
            'start = 2020-01-01T00:00:00+09:00\nclasses = ["SECRET"]\n',
            r"agreements\[5\]\.parties\[1\]: unknown party 'PRK'",
        ),
        (
            'format = 1\nextends = "historical"\nname = "x"\n[[agreements]]\nid = "a"\nparties = ["KOR", "JPN"]\n'
            'start = 2020-01-01T00:00:00\nclasses = ["SECRET"]\n',
            r"agreements\[5\]\.start: .* has no UTC offset",
        ),
        (
            'format = 1\nextends = "historical"\nname = "x"\n[[agreements]]\nid = "a"\nparties = ["KOR", "JPN"]\n'
            'start = 2020-01-01T00:00:00Z\nclasses = ["SECRET", "SEKRET"]\n',
            r"agreements\[5\]\.classes\[1\]: unknown equivalence class 'SEKRET'",
        ),
        (
            'format = 1\nextends = "historical"\nname = "x"\n[[agreements]]\nid = "a b/c"\n'
            'parties = ["KOR", "JPN"]\nstart = 2020-01-01T00:00:00Z\nclasses = ["SECRET"]\n',
            r"agreements\[5\]\.id: 'a b/c' is not an agreement id",
        ),
        (
            'format = 1\nextends = "historical"\nname = "x"\n[[events]]\nid = "e"\nat = 2020-01-01T00:00:00Z\n'
            'agreement = "nope"\nkind = "notice"\nparty = "KOR"\n',
            r"events\[3\]\.agreement: unknown agreement 'nope'",
        ),
        (
            'format = 1\nextends = "historical"\nname = "x"\n[[events]]\nid = "e"\nat = 2020-01-01T00:00:00Z\n'
            'agreement = "jpn-kor-gsomia-2016"\nkind = "explode"\nparty = "KOR"\n',
            r"events\[3\]\.kind: unknown event kind 'explode'",
        ),
        (
            'format = 1\nextends = "historical"\nname = "x"\ncolour = "red"\n',
            "unknown key\\(s\\) 'colour'",
        ),
        ('format = 1\nextends = "nowhere"\nname = "x"\n', "unknown scenario 'nowhere'"),
        (
            'format = 1\nextends = "historical"\nname = "x"\ndrop_events = ["zzz"]\n',
            "drop_events: no event 'zzz'",
        ),
    ],
)
def test_errors_name_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(BadInput, match=message) as info:
        load_scenario(str(path))
    assert str(path) in str(info.value)


def test_unknown_scenario_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="unknown scenario 'histerical'"):
        load_scenario("histerical")
    with pytest.raises(BadInput, match="no such file"):
        load_scenario(str(tmp_path / "none.toml"))


def test_round_trip_through_the_document(historical: Scenario) -> None:
    doc, _ = read_document("lapse-2019")
    assert "extends" not in doc
    assert historical.agreement("tisa-2014").hub == "USA"
    assert (
        historical.standing_consent(
            ("dprk.missile.warning",), among=("KOR", "USA", "JPN"), at=t("2024-01-01T00:00:00Z")
        )
        == "trilateral-missile-warning-2023"
    )
