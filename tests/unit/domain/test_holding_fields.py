"""DOMAIN.md §7's label fields (purposes, retain_until, derived_from), the scenario's purpose
vocabulary and users' purposes: parsed strictly, written only when not at their defaults."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gsomia.domain.labels import Label, Source
from gsomia.domain.purposes import BUILTIN, DEFAULT, may_use
from gsomia.errors import BadInput
from gsomia.node.config import UserEntry, parse_config, render_config, token_digest
from gsomia.scenarios import load_scenario, load_scenario_text
from gsomia.seal.item import SealedLabel

SCENARIO = load_scenario("historical")
BASE = {
    "id": "report--1/2024",
    "originator": "KOR",
    "classification": "II",
    "releasable_to": ["JPN", "USA"],
    "topics": ["dprk.missile"],
}
SOURCES = [
    {"item": "report--2/2024", "originator": "USA", "kind": "assessment"},
    {"item": "report--3/2024", "originator": "JPN", "kind": "translation", "language": "ko"},
]


def label(**extra: object) -> Label:
    return Label.from_json({**BASE, **extra}, where="label", scenario=SCENARIO)


def test_a_label_without_the_new_fields_is_what_it_was() -> None:
    found = label()
    assert (found.purposes, found.retain_until, found.derived_from) == (DEFAULT, None, ())
    assert found.to_json() == BASE


def test_the_new_fields_round_trip_through_the_domain_and_the_sealed_label() -> None:
    found = label(
        purposes=["defense.warning", "defense.assessment", "defense.warning"],
        retain_until="2030-01-01T00:00:00+09:00",
        derived_from=SOURCES,
    )
    assert found.purposes == ("defense.assessment", "defense.warning")
    assert found.retain_until == datetime(2029, 12, 31, 15, 0, tzinfo=UTC)
    assert found.derived_from[1] == Source("report--3/2024", "JPN", "translation", "ko")
    again = Label.from_json(found.to_json(), where="again", scenario=SCENARIO)
    assert again == found
    sealed = SealedLabel(
        "KR-MND-CMI",
        found.id,
        "KOR",
        "II",
        found.releasable_to,
        found.topics,
        datetime(2024, 1, 1, tzinfo=UTC),
        found.purposes,
        found.retain_until,
        found.derived_from,
    )
    decoded = SealedLabel.decode(sealed.encode(), "label")
    assert decoded == sealed
    assert decoded.domain("II") == found
    plain = SealedLabel(
        "KR-MND-CMI", "x", "KOR", "II", ("JPN",), ("dprk",), datetime(2024, 1, 1, tzinfo=UTC)
    )
    assert b"purposes" not in plain.encode()
    assert b"derived_from" not in plain.encode()


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ({"purposes": []}, "non-empty list of purposes"),
        ({"purposes": ["offense"]}, "unknown purpose 'offense'"),
        ({"purposes": "defense"}, "non-empty list of purposes"),
        ({"retain_until": "2030-01-01"}, "retain_until"),
        ({"retain_until": 5}, "must be an instant"),
        ({"derived_from": []}, "must list 1 to 32 sources"),
        ({"derived_from": [{"item": "a/b", "originator": "USA", "kind": "copy"}]}, "kind"),
        (
            {"derived_from": [{"item": "a/b", "originator": "USA", "kind": "translation"}]},
            "names its language",
        ),
        (
            {
                "derived_from": [
                    {"item": "a", "originator": "USA", "kind": "extract", "language": "en"}
                ]
            },
            "only a translation",
        ),
        ({"derived_from": [SOURCES[0], SOURCES[0]]}, "names a source twice"),
        ({"derived_from": [{**SOURCES[0], "originator": "FRA"}]}, "originator"),
    ],
)
def test_bad_fields_are_refused_naming_them(extra: dict[str, object], match: str) -> None:
    with pytest.raises(BadInput, match=match):
        label(**extra)


def test_a_purpose_lies_within_another_as_topics_do() -> None:
    assert may_use(["defense.warning"], ["defense"])
    assert may_use(["defense"], ["defense"])
    assert not may_use(["defense"], ["defense.warning"])
    assert not may_use(["defense.policy"], ["defense.warning", "defense.assessment"])
    assert not may_use([], ["defense"])


def test_a_scenario_may_name_its_purpose_vocabulary() -> None:
    assert SCENARIO.purposes == BUILTIN
    text = 'format = 1\nname = "x"\nextends = "historical"\npurposes = ["defense", "defense.x"]\n'
    own = load_scenario_text(text, "own.toml")
    assert own.purposes == ("defense", "defense.x")
    assert own.to_document()["purposes"] == ["defense", "defense.x"]
    assert "purposes" not in SCENARIO.to_document()
    with pytest.raises(BadInput, match=r"'defense.x.y' lies within 'defense.x'"):
        load_scenario_text(text.replace('"defense.x"', '"defense.x.y"'), "own.toml")
    with pytest.raises(BadInput, match="listed twice"):
        load_scenario_text(text.replace('"defense.x"', '"defense"'), "own.toml")


def test_users_are_registered_with_their_purposes() -> None:
    text = render_config(
        party="KOR",
        listen="127.0.0.1:8701",
        data_dir="KOR",
        users=[
            UserEntry("plain", token_digest("t1"), "I", ("dprk",)),
            UserEntry("warn", token_digest("t2"), "I", ("dprk",), purposes=("defense.warning",)),
        ],
    )
    config = parse_config(tomllib.loads(text), Path("/srv/KOR.toml"), SCENARIO)
    assert [u.clearance.purposes for u in config.users] == [DEFAULT, ("defense.warning",)]
    bad = text.replace('purposes = ["defense.warning"]', 'purposes = ["war"]')
    with pytest.raises(BadInput, match=r"users\[1\]\.purposes\[0\]: unknown purpose 'war'"):
        parse_config(tomllib.loads(bad), Path("/srv/KOR.toml"), SCENARIO)
