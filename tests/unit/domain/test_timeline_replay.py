"""The timeline of the record, and the replay of the CNS launches through both scenarios."""

from __future__ import annotations

from gsomia.data.launches import load_launches
from gsomia.domain.replay import ConsentKind, cast_of, replay, summarize
from gsomia.domain.scenario import Scenario
from gsomia.domain.timeline import EntryKind, timeline

from .conftest import t

LAPSE_AT = t("2019-11-23T00:00:00+09:00")


def test_august_2019_shows_the_notice_and_the_deadline_later_that_month(
    historical: Scenario,
) -> None:
    entries = timeline(historical, until=t("2024-01-01T00:00:00Z"))
    august = [e for e in entries if e.at.astimezone(LAPSE_AT.tzinfo).strftime("%Y-%m") == "2019-08"]
    assert [e.kind for e in august] == [EntryKind.NOTICE, EntryKind.NOTICE_DEADLINE]
    assert august[1].at == t("2019-08-25T00:00:00+09:00")
    assert august[1].related == LAPSE_AT


def test_timeline_is_in_order_and_shows_the_suspension_and_renewal(historical: Scenario) -> None:
    entries = timeline(historical, until=t("2024-01-01T00:00:00Z"))
    assert [e.at for e in entries] == sorted(e.at for e in entries)
    kinds = [(e.at, e.kind) for e in entries if e.agreement == "jpn-kor-gsomia-2016"]
    assert (t("2019-11-22T18:00:00+09:00"), EntryKind.SUSPEND) in kinds
    assert (LAPSE_AT, EntryKind.ANNIVERSARY) in kinds
    assert (t("2023-03-21T12:00:00+09:00"), EntryKind.WITHDRAW) in kinds
    assert not any(k is EntryKind.END for _, k in kinds)


def test_lapse_timeline_ends_at_the_anniversary(lapse: Scenario) -> None:
    entries = [
        e
        for e in timeline(lapse, until=t("2024-01-01T00:00:00Z"))
        if e.agreement == "jpn-kor-gsomia-2016"
    ]
    assert entries[-1].kind is EntryKind.END
    assert entries[-1].at == LAPSE_AT
    assert not any(e.kind is EntryKind.ANNIVERSARY and e.at >= LAPSE_AT for e in entries)


def test_replay_differs_between_scenarios_exactly_from_the_lapse(
    historical: Scenario, lapse: Scenario
) -> None:
    launches = load_launches()
    a = list(replay(historical, launches))
    b = list(replay(lapse, launches))
    assert len(a) == len(b) > 0
    assert all(o.at >= cast_of(historical).start for o in a)
    for x, y in zip(a, b, strict=True):
        same = all(x.direct[r].allowed == y.direct[r].allowed for r in x.direct) and all(
            x.onward[r].decision.allowed == y.onward[r].decision.allowed for r in x.onward
        )
        if x.at < LAPSE_AT:
            assert same, x.launch_id
        elif x.at >= t("2016-11-23T00:00:00+09:00"):
            # from the lapse on, KOR and JPN no longer exchange directly in lapse-2019
            assert x.direct_to_third()
            assert not y.direct_to_third()
            assert y.via_hub_to_third(), "the route through USA carries on with consent"
    years_a = {s.year: s.to_json() for s in summarize(a)}
    years_b = {s.year: s.to_json() for s in summarize(b)}
    assert all(years_a[y] == years_b[y] for y in years_a if y < 2019)
    assert all(years_a[y] != years_b[y] for y in years_a if y >= 2019)


def test_replay_before_the_2016_gsomia_goes_only_through_usa(historical: Scenario) -> None:
    outcomes = list(replay(historical, load_launches()))
    early = [o for o in outcomes if o.at < t("2016-11-23T00:00:00+09:00")]
    assert early
    assert all(not o.direct_to_third() and o.via_hub_to_third() for o in early)


def test_replay_uses_standing_consent_from_the_warning_link(historical: Scenario) -> None:
    outcomes = list(replay(historical, load_launches()))
    for o in outcomes:
        onward = next(iter(o.onward.values()))
        if o.at >= t("2023-12-19T00:00:00+09:00"):
            assert o.label.topics == ("dprk.missile.warning",)
            assert onward.consent is ConsentKind.STANDING
            assert onward.standing_under == "trilateral-missile-warning-2023"
        else:
            assert onward.consent is ConsentKind.ASSUMED
