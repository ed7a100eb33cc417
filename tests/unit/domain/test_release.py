"""Every rule of DOMAIN.md §5: each test breaks exactly one rule of an otherwise allowed release,
so it fails if that rule is removed from the engine."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from gsomia.domain.consents import Consent
from gsomia.domain.labels import Label
from gsomia.domain.release import Rule, decide
from gsomia.domain.scenario import Scenario, parse_scenario
from gsomia.errors import BadInput, Denied
from gsomia.scenarios import read_document

from .conftest import label, t

AT = t("2020-06-01T12:00:00+09:00")


def world(**agreement: Any) -> Scenario:
    """The record's parties with one agreement whose fields can be overridden."""
    base, _ = read_document("historical")
    fields: dict[str, Any] = {
        "id": "only",
        "parties": ["KOR", "JPN", "USA"],
        "start": "2020-01-01T00:00:00+09:00",
        "classes": ["SECRET", "CONFIDENTIAL"],
    }
    fields.update(agreement)
    fields = {k: v for k, v in fields.items() if v is not None}
    doc = {"format": 1, "name": "test", "parties": base["parties"], "agreements": [fields]}
    return parse_scenario(doc, "test")


def only_failure(scenario: Scenario, lab: Label, **kw: Any) -> Rule:
    d = decide(scenario, lab, **{"holder": "KOR", "recipient": "JPN", "at": AT, **kw})
    assert not d.allowed
    assert d.agreements == ()
    assert d.recipient_marking is None
    assert d.equivalent is None
    [(agreement, rule)] = d.failures
    assert agreement == "only"
    assert len(d.reasons) == 1
    assert d.reasons[0].startswith(f"only: rule {rule} ")
    return Rule(rule)


def test_baseline_allows_and_marks_for_the_recipient() -> None:
    d = decide(world(), label(), holder="KOR", recipient="JPN", at=AT)
    assert d.allowed
    assert d.agreements == ("only",)
    assert d.equivalent is not None
    assert d.equivalent.value == "SECRET"
    m = d.recipient_marking
    assert m is not None
    assert (m.party, m.level, m.native, m.originator) == ("JPN", "GOKUHI", "極秘", "KOR")
    d.require()


def test_rule_1_a_time_without_offset_is_bad_input() -> None:
    with pytest.raises(BadInput, match="UTC offset"):
        decide(world(), label(), holder="KOR", recipient="JPN", at=datetime(2020, 6, 1))  # noqa: DTZ001


def test_rule_2_not_yet_in_force() -> None:
    scenario = world(start="2020-06-01T12:00:00.000001+09:00")
    assert only_failure(scenario, label()) is Rule.IN_FORCE


def test_rule_2_ended() -> None:
    scenario = world(start="2016-11-23T00:00:00+09:00", term_years=1, parties=["KOR", "JPN"])
    doc = scenario.to_document()
    doc["events"] = [
        {
            "id": "n",
            "at": "2019-08-23T12:00:00+09:00",
            "agreement": "only",
            "kind": "notice",
            "party": "KOR",
        }
    ]
    ended = parse_scenario(doc, "test")
    assert only_failure(ended, label()) is Rule.IN_FORCE
    assert decide(
        ended, label(), holder="KOR", recipient="JPN", at=t("2019-11-22T23:59:59+09:00")
    ).allowed


def test_rule_3_recipient_not_a_party() -> None:
    assert only_failure(world(parties=["KOR", "USA"]), label()) is Rule.PARTIES


def test_rule_3_holder_not_a_party() -> None:
    scenario = world(parties=["JPN", "USA"])
    lab = label(originator="USA", classification="SECRET", releasable_to=("JPN",))
    d = decide(scenario, lab, holder="USA", recipient="JPN", at=AT)
    assert d.allowed
    assert only_failure(scenario, label(), holder="KOR") is Rule.PARTIES


def test_rule_3_hub_kor_and_jpn_never_exchange_directly() -> None:
    scenario = world(hub="USA")
    assert only_failure(scenario, label()) is Rule.PARTIES
    assert decide(scenario, label(), holder="KOR", recipient="USA", at=AT).allowed


def test_rule_4_class_not_covered() -> None:
    assert only_failure(world(), label(classification="I")) is Rule.CLASS
    assert decide(
        world(classes=["TOP SECRET"]),
        label(classification="I"),
        holder="KOR",
        recipient="JPN",
        at=AT,
    ).allowed


def test_rule_4_native_level_names_and_equivalence() -> None:
    jpn = label(originator="JPN", classification="TOKUTEI_HIMITSU", releasable_to=("KOR",))
    d = decide(world(), jpn, holder="JPN", recipient="KOR", at=AT)
    assert d.recipient_marking is not None
    assert (d.recipient_marking.level, d.recipient_marking.native) == ("II", "군사II급비밀")
    hi = label(originator="JPN", classification="HI", releasable_to=("USA",))
    d = decide(world(), hi, holder="JPN", recipient="USA", at=AT)
    assert d.recipient_marking is not None
    assert d.recipient_marking.level == "CONFIDENTIAL"


def test_rule_5_topic_outside_scope() -> None:
    scenario = world(scope=["dprk.nuclear"])
    assert only_failure(scenario, label()) is Rule.SCOPE


def test_rule_5_one_topic_outside_scope_is_enough() -> None:
    scenario = world(scope=["dprk.missile"])
    assert only_failure(scenario, label(topics=("dprk.missile", "prc.navy"))) is Rule.SCOPE
    assert decide(
        scenario, label(topics=("dprk.missile.warning",)), holder="KOR", recipient="JPN", at=AT
    ).allowed


def test_rule_5_no_topics_lie_within_no_restricted_scope() -> None:
    scenario = world(scope=["dprk"])
    assert only_failure(scenario, label(topics=())) is Rule.SCOPE
    assert decide(world(), label(topics=()), holder="KOR", recipient="JPN", at=AT).allowed


def test_rule_6_recipient_not_releasable() -> None:
    assert only_failure(world(), label(releasable_to=("USA",))) is Rule.RELEASABILITY


def test_rule_6_empty_releasability_releases_to_no_one() -> None:
    assert only_failure(world(), label(releasable_to=())) is Rule.RELEASABILITY


def test_rule_7_onward_without_consent() -> None:
    assert only_failure(world(), label(), holder="USA") is Rule.CONSENT


def test_rule_7_with_consent() -> None:
    consent = Consent("item-1", "KOR", "JPN", granted_at=t("2020-06-01T12:00:00+09:00"))
    d = decide(world(), label(), holder="USA", recipient="JPN", at=AT, consents=[consent])
    assert d.allowed


@pytest.mark.parametrize(
    "consent",
    [
        Consent("item-2", "KOR", "JPN", granted_at=t("2020-01-01T00:00:00+09:00")),  # other item
        Consent(
            "item-1", "KOR", "USA", granted_at=t("2020-01-01T00:00:00+09:00")
        ),  # other recipient
        Consent("item-1", "KOR", "JPN", granted_at=t("2020-06-01T12:00:01+09:00")),  # later
        Consent(
            "item-1",
            "KOR",
            "JPN",
            granted_at=t("2020-01-01T00:00:00+09:00"),
            expires_at=t("2020-06-01T12:00:00+09:00"),
        ),  # expired at AT
        Consent(
            "item-1", "JPN", "JPN", granted_at=t("2020-01-01T00:00:00+09:00")
        ),  # not the originator
    ],
    ids=["other-item", "other-recipient", "not-yet", "expired", "not-originator"],
)
def test_rule_7_a_consent_that_does_not_serve(consent: Consent) -> None:
    assert only_failure(world(), label(), holder="USA", consents=[consent]) is Rule.CONSENT


def test_rule_7_standing_consent_for_every_topic() -> None:
    scenario = world(standing_consent=["dprk.missile.warning"])
    warning = label(topics=("dprk.missile.warning",))
    assert decide(scenario, warning, holder="USA", recipient="JPN", at=AT).allowed
    both = label(topics=("dprk.missile", "dprk.missile.warning"))
    assert only_failure(scenario, both, holder="USA") is Rule.CONSENT


def test_rule_7_standing_consent_needs_the_arrangement_in_force(historical: Scenario) -> None:
    warning = label(topics=("dprk.missile.warning",))
    before = decide(
        historical, warning, holder="USA", recipient="JPN", at=t("2023-12-18T23:59:59+09:00")
    )
    after = decide(
        historical, warning, holder="USA", recipient="JPN", at=t("2023-12-19T00:00:00+09:00")
    )
    assert not before.allowed
    assert after.allowed
    assert "standing consent under trilateral-missile-warning-2023" in " ".join(after.reasons)


def test_rule_7_survives_the_end_of_the_agreement_it_came_under(lapse: Scenario) -> None:
    # KOR's item received by JPN under the 2016 GSOMIA; after the lapse JPN still needs consent.
    d = decide(
        lapse,
        label(releasable_to=("USA",)),
        holder="JPN",
        recipient="USA",
        at=t("2020-01-01T00:00:00+09:00"),
    )
    assert not d.allowed
    assert any("rule 7" in r for r in d.reasons)


def test_deny_names_a_rule_for_every_candidate(historical: Scenario) -> None:
    d = decide(
        historical, label(), holder="KOR", recipient="JPN", at=t("2016-11-22T23:59:59+09:00")
    )
    assert not d.allowed
    assert [a for a, _ in d.failures] == [a.id for a in historical.agreements]
    assert len(d.reasons) == len(historical.agreements)
    with pytest.raises(Denied, match="denied"):
        d.require()


def test_allow_names_every_allowing_agreement(historical: Scenario) -> None:
    d = decide(
        historical, label(), holder="KOR", recipient="USA", at=t("2020-01-01T00:00:00+09:00")
    )
    assert d.agreements == ("kor-usa-security-1987", "tisa-2014")


def test_explain_gives_every_rule_for_every_agreement(historical: Scenario) -> None:
    d = decide(
        historical, label(), holder="KOR", recipient="JPN", at=t("2020-01-01T00:00:00+09:00")
    )
    checks = d.explain()
    assert [c.agreement for c in checks] == [a.id for a in historical.agreements]
    assert all(len(c.results) == 6 for c in checks)
    allowing = [c.agreement for c in checks if c.allows]
    assert tuple(allowing) == d.agreements
    for check in checks:
        failure = check.first_failure
        if failure is not None:
            assert (check.agreement, int(failure.rule)) in d.failures


def test_unknown_parties_and_levels_are_bad_input(historical: Scenario) -> None:
    with pytest.raises(BadInput, match="unknown party 'PRK'"):
        decide(historical, label(), holder="KOR", recipient="PRK", at=AT)
    with pytest.raises(BadInput, match="unknown level 'IV'"):
        decide(historical, label(classification="IV"), holder="KOR", recipient="JPN", at=AT)
    with pytest.raises(BadInput, match="same party"):
        decide(historical, label(), holder="KOR", recipient="KOR", at=AT)


def test_a_scenario_without_agreements_denies(historical: Scenario) -> None:
    doc = historical.to_document()
    doc["agreements"], doc["events"] = [], []
    empty = parse_scenario(doc, "empty")
    d = decide(empty, label(), holder="KOR", recipient="JPN", at=AT)
    assert not d.allowed
    assert d.reasons == ("no agreement in scenario 'historical': nothing can allow it",)


def test_json_shape(historical: Scenario) -> None:
    doc = decide(historical, label(), holder="KOR", recipient="JPN", at=AT).to_json()
    assert doc["decision"] == "allow"
    assert doc["agreements"] == ["jpn-kor-gsomia-2016"]
    assert doc["equivalent"] == "SECRET"
    assert doc["recipient_marking"] == {
        "party": "JPN",
        "level": "GOKUHI",
        "native": "極秘",
        "originator": "KOR",
    }
    assert isinstance(doc["reasons"], list)
