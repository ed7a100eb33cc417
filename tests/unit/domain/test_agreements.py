"""The lifecycle at exact instants (DOMAIN.md §5 rule 2) and the record's dates."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from gsomia.domain.agreements import (
    Agreement,
    AgreementEvent,
    EventKind,
    NoticeStatus,
    State,
    status_at,
)
from gsomia.domain.parties import Equivalence
from gsomia.domain.scenario import Scenario

from .conftest import t

SECOND = timedelta(seconds=1)
START = t("2016-11-23T00:00:00+09:00")
A3 = t("2019-11-23T00:00:00+09:00")  # the third anniversary
DEADLINE = t("2019-08-25T00:00:00+09:00")  # A3 - 90 days


def gsomia(*events: tuple[str, EventKind]) -> Agreement:
    return Agreement(
        id="g",
        title="g",
        parties=frozenset({"JPN", "KOR"}),
        start=START,
        classes=frozenset({Equivalence.SECRET}),
        term_years=1,
        notice_days=90,
        events=tuple(
            AgreementEvent(f"e{i}", t(at), "g", kind, "KOR") for i, (at, kind) in enumerate(events)
        ),
    )


def test_anniversaries_fall_at_start_plus_whole_years() -> None:
    a = gsomia()
    assert a.anniversary(1) == t("2017-11-23T00:00:00+09:00")
    assert a.anniversary(3) == A3
    assert a.notice_deadline(A3) == DEADLINE


def test_no_notice_means_no_end() -> None:
    a = gsomia()
    assert a.end is None
    assert a.in_force(t("2100-01-01T00:00:00+00:00"))


def test_not_in_force_before_its_start_and_in_force_at_its_start() -> None:
    a = gsomia()
    assert a.state(START - SECOND) is State.PENDING
    assert not a.in_force(START - SECOND)
    assert a.in_force(START)


def test_notice_at_the_deadline_ends_it_at_the_anniversary_itself() -> None:
    a = gsomia((DEADLINE.isoformat(), EventKind.NOTICE))
    assert a.end == A3
    assert a.in_force(A3 - SECOND)
    assert not a.in_force(A3)
    assert a.state(A3) is State.ENDED


def test_notice_one_second_before_the_deadline_ends_it_at_the_anniversary() -> None:
    a = gsomia(((DEADLINE - SECOND).isoformat(), EventKind.NOTICE))
    assert a.end == A3


def test_notice_one_second_after_the_deadline_ends_it_a_year_later() -> None:
    a = gsomia(((DEADLINE + SECOND).isoformat(), EventKind.NOTICE))
    assert a.end == t("2020-11-23T00:00:00+09:00")
    assert a.in_force(A3)


def test_suspension_before_the_anniversary_keeps_it_in_force() -> None:
    a = gsomia(
        ("2019-08-23T12:00:00+09:00", EventKind.NOTICE),
        ("2019-11-22T18:00:00+09:00", EventKind.SUSPEND),
    )
    assert a.end is None
    assert a.in_force(A3)


def test_suspension_at_the_anniversary_itself_keeps_it_in_force() -> None:
    a = gsomia(("2019-08-23T12:00:00+09:00", EventKind.NOTICE), (A3.isoformat(), EventKind.SUSPEND))
    assert a.end is None


def test_suspension_after_the_anniversary_is_too_late() -> None:
    a = gsomia(
        ("2019-08-23T12:00:00+09:00", EventKind.NOTICE),
        ((A3 + SECOND).isoformat(), EventKind.SUSPEND),
    )
    assert a.end == A3
    assert not a.in_force(A3 + timedelta(days=400))


def test_withdrawal_before_the_anniversary_keeps_it_in_force() -> None:
    a = gsomia(
        ("2019-08-23T12:00:00+09:00", EventKind.NOTICE),
        ("2019-10-01T00:00:00+09:00", EventKind.WITHDRAW),
    )
    assert a.end is None
    assert a.notice_at(t("2019-10-02T00:00:00+09:00")).status is NoticeStatus.WITHDRAWN  # type: ignore[union-attr]


def test_withdrawal_of_a_suspended_notice_keeps_it_in_force() -> None:
    a = gsomia(
        ("2019-08-23T12:00:00+09:00", EventKind.NOTICE),
        ("2019-11-22T18:00:00+09:00", EventKind.SUSPEND),
        ("2023-03-21T12:00:00+09:00", EventKind.WITHDRAW),
    )
    assert a.end is None


def test_the_end_known_at_an_instant_uses_only_the_events_before_it() -> None:
    a = gsomia(
        ("2019-08-23T12:00:00+09:00", EventKind.NOTICE),
        ("2019-11-22T18:00:00+09:00", EventKind.SUSPEND),
    )
    assert a.scheduled_end(as_of=t("2019-09-01T00:00:00+09:00")) == A3
    assert a.scheduled_end(as_of=t("2019-11-22T18:00:00+09:00")) is None


# ---------------------------------------------------------------------------- the record
def test_the_record_of_2019(historical: Scenario, lapse: Scenario) -> None:
    g = historical.agreement("jpn-kor-gsomia-2016")
    assert g.start == t("2016-11-23T00:00:00+09:00")
    assert [e.at for e in g.events] == [
        t("2019-08-23T12:00:00+09:00"),
        t("2019-11-22T18:00:00+09:00"),
        t("2023-03-21T12:00:00+09:00"),
    ]
    assert g.end is None
    assert lapse.agreement("jpn-kor-gsomia-2016").end == A3
    # six hours before the lapse
    assert A3 - g.events[1].at == timedelta(hours=6)


@pytest.mark.parametrize(
    ("agreement_id", "start"),
    [
        ("kor-usa-security-1987", "1987-09-24T00:00:00-04:00"),
        ("jpn-usa-gsomia-2007", "2007-08-10T00:00:00+09:00"),
        ("tisa-2014", "2014-12-29T00:00:00+09:00"),
        ("jpn-kor-gsomia-2016", "2016-11-23T00:00:00+09:00"),
        ("trilateral-missile-warning-2023", "2023-12-19T00:00:00+09:00"),
    ],
)
def test_the_record_of_starts(historical: Scenario, agreement_id: str, start: str) -> None:
    assert historical.agreement(agreement_id).start == t(start)


def test_status_in_august_2019_shows_the_deadline_later_this_month(historical: Scenario) -> None:
    status = status_at(historical.agreement("jpn-kor-gsomia-2016"), t("2019-08-01T00:00:00+09:00"))
    doc = status.to_json()
    assert doc["state"] == "in_force"
    assert doc["notice"] is None
    assert doc["next_anniversary"] == "2019-11-23T00:00:00+09:00"
    assert doc["notice_deadline"] == "2019-08-25T00:00:00+09:00"
    assert doc["ends"] is None


def test_status_after_the_notice_schedules_the_end(historical: Scenario) -> None:
    doc = status_at(
        historical.agreement("jpn-kor-gsomia-2016"), t("2019-09-01T00:00:00+09:00")
    ).to_json()
    assert doc["notice"] == {"given": "2019-08-23T12:00:00+09:00", "status": "given"}
    assert doc["ends"] == "2019-11-23T00:00:00+09:00"


def test_status_after_the_lapse(lapse: Scenario) -> None:
    doc = status_at(lapse.agreement("jpn-kor-gsomia-2016"), A3).to_json()
    assert doc["state"] == "ended"
    assert doc["next_anniversary"] is None
    assert doc["notice_deadline"] is None
    assert doc["ends"] == "2019-11-23T00:00:00+09:00"


def test_indefinite_agreements_have_no_anniversary(historical: Scenario) -> None:
    doc = status_at(historical.agreement("tisa-2014"), t("2020-01-01T00:00:00Z")).to_json()
    assert doc["next_anniversary"] is None
    assert doc["notice_deadline"] is None
    assert doc["state"] == "in_force"


def test_pending_agreement(historical: Scenario) -> None:
    doc = status_at(
        historical.agreement("trilateral-missile-warning-2023"), t("2020-01-01T00:00:00Z")
    ).to_json()
    assert doc["state"] == "pending"


def test_leap_day_anniversary_falls_back_to_the_28th() -> None:
    a = Agreement(
        id="leap",
        title="leap",
        parties=frozenset({"JPN", "KOR"}),
        start=datetime.fromisoformat("2016-02-29T00:00:00+09:00"),
        classes=frozenset({Equivalence.SECRET}),
        term_years=1,
    )
    assert a.anniversary(1) == t("2017-02-28T00:00:00+09:00")
    assert a.anniversary(4) == t("2020-02-29T00:00:00+09:00")
