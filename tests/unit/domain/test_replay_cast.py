"""The replay's parties, levels and dates come from the scenario, not from constants."""

from __future__ import annotations

import copy
from datetime import datetime

import pytest

from gsomia.data.launches import load_launches
from gsomia.domain.replay import cast_of, replay
from gsomia.domain.scenario import Scenario, parse_scenario
from gsomia.errors import BadInput


def test_the_historical_cast_is_tisa_through_usa(historical: Scenario) -> None:
    cast = cast_of(historical)
    assert cast.start == datetime.fromisoformat("2014-12-29T00:00:00+09:00")
    assert (cast.hub, cast.originators, cast.parties) == (
        "USA",
        ("KOR", "JPN"),
        ("KOR", "JPN", "USA"),
    )
    assert cast.levels == {"KOR": "II", "JPN": "GOKUHI"}
    assert cast.link == (
        datetime.fromisoformat("2023-12-19T00:00:00+09:00"),
        "dprk.missile.warning",
    )
    before = cast.label("x", "JPN", datetime.fromisoformat("2023-12-18T23:59:59+09:00"))
    assert (before.classification, before.releasable_to, before.topics) == (
        "GOKUHI",
        ("KOR", "USA"),
        ("dprk.missile",),
    )
    assert cast.label("x", "KOR", cast.link[0]).topics == ("dprk.missile.warning",)


def _edited(scenario: Scenario, edit: str) -> Scenario:
    doc = copy.deepcopy(scenario.to_document())
    for agreement in doc["agreements"]:
        if agreement["id"] == "tisa-2014":
            agreement["start"] = "2016-01-06T10:30:00+09:00"
        if agreement["id"] == "trilateral-missile-warning-2023" and edit == "no link":
            agreement["standing_consent"] = []
    for policy in doc["parties"]:
        if policy["code"] == "JPN":
            policy["defaults"]["SECRET"] = "TOKUTEI_HIMITSU"
    return parse_scenario(doc, f"edited: {edit}")


def test_a_scenario_with_another_start_or_no_link_is_replayed_as_it_says(
    historical: Scenario,
) -> None:
    edited = _edited(historical, "no link")
    cast = cast_of(edited)
    assert cast.start == datetime.fromisoformat("2016-01-06T10:30:00+09:00")
    assert cast.link is None
    assert cast.levels == {"KOR": "II", "JPN": "TOKUTEI_HIMITSU"}
    outcomes = list(replay(edited, load_launches()))
    assert outcomes
    assert min(o.at for o in outcomes) >= cast.start
    assert {o.label.topics for o in outcomes} == {("dprk.missile",)}
    assert {o.label.classification for o in outcomes} == {"II", "TOKUTEI_HIMITSU"}


def test_a_scenario_without_a_hub_cannot_be_replayed(historical: Scenario) -> None:
    doc = copy.deepcopy(historical.to_document())
    for agreement in doc["agreements"]:
        agreement.pop("hub", None)
    with pytest.raises(BadInput, match="the replay needs an agreement with a hub"):
        cast_of(parse_scenario(doc, "no hub"))


def test_needs_consent_is_the_only_case_the_demo_plays(historical: Scenario) -> None:
    outcomes = list(replay(historical, load_launches()))
    asked = [o for o in outcomes if o.needs_consent()]
    assert asked
    for o in outcomes:
        onward = o.onward[o.third()]
        expected = (
            not o.direct_to_third()
            and o.direct["USA"].allowed
            and onward.decision.allowed
            and onward.standing_under is None
        )
        assert o.needs_consent() == expected, o.label.id
