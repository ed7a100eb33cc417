"""Properties of the release decision (hypothesis): fewer grounds never allow more."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from gsomia.domain.consents import Consent
from gsomia.domain.labels import Label
from gsomia.domain.release import decide
from gsomia.domain.scenario import Scenario, parse_scenario
from gsomia.scenarios import load_scenario

HISTORICAL = load_scenario("historical")
LAPSE = load_scenario("lapse-2019")
PARTIES = ("KOR", "JPN", "USA")
LEVELS = {p: [lv.id for lv in HISTORICAL.policy(p).levels] for p in PARTIES}
TOPICS = ("dprk", "dprk.missile", "dprk.missile.warning", "dprk.nuclear", "prc.navy")

instants = st.datetimes(
    min_value=datetime(2014, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive
    max_value=datetime(2026, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)
scenarios = st.sampled_from([HISTORICAL, LAPSE])


@st.composite
def labels(draw: st.DrawFn) -> Label:
    originator = draw(st.sampled_from(PARTIES))
    return Label(
        id=draw(st.sampled_from(["a", "b"])),
        originator=originator,
        classification=draw(st.sampled_from(LEVELS[originator])),
        releasable_to=tuple(sorted(draw(st.sets(st.sampled_from(PARTIES))))),
        topics=tuple(sorted(draw(st.sets(st.sampled_from(TOPICS), max_size=3)))),
    )


@st.composite
def requests(draw: st.DrawFn) -> tuple[Scenario, Label, str, str, datetime, list[Consent]]:
    scenario = draw(scenarios)
    lab = draw(labels())
    holder = draw(st.sampled_from(PARTIES))
    recipient = draw(st.sampled_from([p for p in PARTIES if p != holder]))
    at = draw(instants)
    consents = [
        Consent(
            draw(st.sampled_from(["a", "b"])),
            draw(st.sampled_from(PARTIES)),
            draw(st.sampled_from(PARTIES)),
            granted_at=at - timedelta(days=draw(st.integers(-5, 5))),
        )
        for _ in range(draw(st.integers(0, 3)))
    ]
    return scenario, lab, holder, recipient, at, consents


@settings(max_examples=400)
@given(requests(), st.data())
def test_removing_a_releasable_party_never_allows(req: tuple, data: st.DataObject) -> None:  # type: ignore[type-arg]
    scenario, lab, holder, recipient, at, consents = req
    before = decide(scenario, lab, holder=holder, recipient=recipient, at=at, consents=consents)
    if not lab.releasable_to:
        return
    gone = data.draw(st.sampled_from(lab.releasable_to))
    fewer = Label(
        lab.id,
        lab.originator,
        lab.classification,
        tuple(p for p in lab.releasable_to if p != gone),
        lab.topics,
    )
    after = decide(scenario, fewer, holder=holder, recipient=recipient, at=at, consents=consents)
    assert not (after.allowed and not before.allowed)
    assert set(after.agreements) <= set(before.agreements)


@settings(max_examples=400)
@given(requests(), st.data())
def test_removing_a_consent_never_allows(req: tuple, data: st.DataObject) -> None:  # type: ignore[type-arg]
    scenario, lab, holder, recipient, at, consents = req
    before = decide(scenario, lab, holder=holder, recipient=recipient, at=at, consents=consents)
    if not consents:
        return
    i = data.draw(st.integers(0, len(consents) - 1))
    after = decide(
        scenario,
        lab,
        holder=holder,
        recipient=recipient,
        at=at,
        consents=consents[:i] + consents[i + 1 :],
    )
    assert not (after.allowed and not before.allowed)


@settings(max_examples=400)
@given(requests(), st.data())
def test_removing_an_agreement_never_allows(req: tuple, data: st.DataObject) -> None:  # type: ignore[type-arg]
    scenario, lab, holder, recipient, at, consents = req
    before = decide(scenario, lab, holder=holder, recipient=recipient, at=at, consents=consents)
    doc = scenario.to_document()
    gone = data.draw(st.sampled_from([a["id"] for a in doc["agreements"]]))
    doc["agreements"] = [a for a in doc["agreements"] if a["id"] != gone]
    doc["events"] = [e for e in doc["events"] if e["agreement"] != gone]
    smaller = parse_scenario(doc, "smaller")
    after = decide(smaller, lab, holder=holder, recipient=recipient, at=at, consents=consents)
    assert not (after.allowed and not before.allowed)
    assert gone not in after.agreements


@settings(max_examples=600)
@given(requests())
def test_an_allow_never_carries_a_class_its_agreements_do_not_cover(req: tuple) -> None:  # type: ignore[type-arg]
    scenario, lab, holder, recipient, at, consents = req
    d = decide(scenario, lab, holder=holder, recipient=recipient, at=at, consents=consents)
    if d.allowed:
        assert d.equivalent is not None
        assert d.recipient_marking is not None
        assert d.recipient_marking.equivalence is d.equivalent
        assert d.recipient_marking.originator == lab.originator
        assert (
            scenario.policy(recipient).level(d.recipient_marking.level).equivalence is d.equivalent
        )
        for aid in d.agreements:
            agreement = scenario.agreement(aid)
            assert d.equivalent in agreement.classes
            assert agreement.in_force(at)
            assert {holder, recipient} <= agreement.parties
        assert recipient in lab.releasable_to
    else:
        assert d.agreements == ()
        assert len(d.reasons) >= len(scenario.agreements)


@settings(max_examples=300)
@given(labels())
def test_labels_round_trip(lab: Label) -> None:
    assert Label.from_json(lab.to_json(), where="t", scenario=HISTORICAL) == lab


@settings(max_examples=50)
@given(scenarios, st.integers(0, 3))
def test_scenarios_round_trip(scenario: Scenario, drop: int) -> None:
    doc = scenario.to_document()
    doc["events"] = doc["events"][drop:]
    once = parse_scenario(doc, "rt")
    again = parse_scenario(once.to_document(), "rt")
    assert once.to_document() == again.to_document()
    assert [a.end for a in once.agreements] == [a.end for a in again.agreements]
    assert once.to_document()["events"] == doc["events"]


@settings(max_examples=600)
@given(requests())
def test_the_memoised_decision_agrees_with_every_rule_checked_afresh(req: tuple) -> None:  # type: ignore[type-arg]
    """decide() reuses rules 2-5 between the instants where agreements start or end;
    explain() evaluates every rule of every agreement at the instant itself."""
    scenario, lab, holder, recipient, at, consents = req
    d = decide(scenario, lab, holder=holder, recipient=recipient, at=at, consents=consents)
    checks = d.explain()
    assert d.agreements == tuple(c.agreement for c in checks if c.allows)
    expected = tuple(
        (c.agreement, int(c.first_failure.rule)) for c in checks if c.first_failure is not None
    )
    assert d.failures == expected


@settings(max_examples=200)
@given(scenarios, labels(), st.sampled_from(PARTIES), st.sampled_from(PARTIES))
def test_decisions_at_the_boundaries_are_exact(
    scenario: Scenario, lab: Label, holder: str, recipient: str
) -> None:
    if holder == recipient:
        return
    one = timedelta(microseconds=1)
    for agreement in scenario.agreements:
        for edge in (agreement.start, agreement.end):
            if edge is None:
                continue
            for at in (edge - one, edge, edge + one, edge.astimezone(UTC)):
                d = decide(scenario, lab, holder=holder, recipient=recipient, at=at)
                assert d.agreements == tuple(c.agreement for c in d.explain() if c.allows)
