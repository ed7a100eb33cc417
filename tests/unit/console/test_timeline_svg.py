"""The agreements timeline chart: numbers from the scenario, the cursor's statuses."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gsomia.console.timeline_svg import Chart, build_chart, chart_start
from gsomia.domain.agreements import State
from gsomia.scenarios import load_scenario, load_scenario_text

UNTIL = datetime(2026, 12, 31, tzinfo=UTC)
GSOMIA = "jpn-kor-gsomia-2016"
LAPSE_END = datetime.fromisoformat("2019-11-23T00:00:00+09:00")


def chart(name: str, at: datetime) -> Chart:
    return build_chart(load_scenario(name), at=at, until=UNTIL)


def test_lapse_2019_ends_the_gsomia_and_historical_does_not() -> None:
    at = datetime(2021, 1, 1, tzinfo=UTC)
    historical, lapse = chart("historical", at), chart("lapse-2019", at)
    ends = [m for m in lapse.markers if m.kind == "end"]
    assert [(m.agreement, m.at) for m in ends] == [(GSOMIA, "2019-11-23T00:00:00+09:00")]
    assert not [m for m in historical.markers if m.kind == "end"]
    lapse_bar = next(b for b in lapse.bars if b.agreement == GSOMIA)
    hist_bar = next(b for b in historical.bars if b.agreement == GSOMIA)
    assert not lapse_bar.open_ended
    assert hist_bar.open_ended
    assert lapse_bar.x2 == lapse.x_of(LAPSE_END) < hist_bar.x2 == lapse.plot_right
    # The suspension of 22 November 2019 is on the historical record only.
    kinds = {m.kind for m in historical.markers if m.agreement == GSOMIA}
    assert {"start", "anniversary", "notice_deadline", "notice", "suspend"} <= kinds
    assert "suspend" not in {m.kind for m in lapse.markers}


def test_cursor_statuses_follow_status_at() -> None:
    at = datetime(2020, 6, 1, tzinfo=UTC)
    lapse = chart("lapse-2019", at)
    states = {s.agreement.id: s.state for s in lapse.statuses}
    assert states[GSOMIA] is State.ENDED
    assert states["trilateral-missile-warning-2023"] is State.PENDING
    assert states["jpn-usa-gsomia-2007"] is State.IN_FORCE
    assert chart("historical", at).statuses[3].state is State.IN_FORCE


def test_cursor_is_clamped_to_the_chart() -> None:
    early = chart("historical", datetime(1900, 1, 1, tzinfo=UTC))
    late = chart("historical", datetime(2100, 1, 1, tzinfo=UTC))
    assert early.cursor_x == early.plot_left
    assert early.cursor == chart_start(load_scenario("historical"))
    assert late.cursor_x == late.plot_right
    assert late.cursor == UNTIL


def test_ticks_are_years_in_order_without_collisions() -> None:
    c = chart("historical", UNTIL)
    xs = [t.x for t in c.ticks]
    assert xs == sorted(xs)
    assert all(b - a >= 40 for a, b in itertools.pairwise(xs))
    assert c.ticks[0].label == "1987"
    assert all(t.label.isdigit() for t in c.ticks)


def test_text_from_an_uploaded_scenario_stays_text() -> None:
    hostile = "<script>alert(1)</script>"
    scenario = load_scenario_text(
        'format = 1\nextends = "historical"\nname = "x"\ntitle = "x"\n'
        "[[agreements]]\n"
        f'id = "odd"\ntitle = "{hostile}"\nparties = ["JPN", "USA"]\n'
        'start = "2020-01-01T00:00:00+09:00"\nclasses = ["SECRET"]\n',
        "upload x.toml",
    )
    c = build_chart(scenario, at=UNTIL, until=UNTIL)
    row = next(r for r in c.rows if r.agreement == "odd")
    assert row.title == hostile  # escaping is the template's job; the data is the text itself
    for number in (row.y, *(m.x for m in c.markers), *(b.x1 for b in c.bars)):
        assert isinstance(number, float)


def test_until_before_the_first_agreement_is_refused() -> None:
    with pytest.raises(ValueError, match="before the chart starts"):
        build_chart(load_scenario("historical"), at=UNTIL, until=datetime(1980, 1, 1, tzinfo=UTC))


@settings(max_examples=50, deadline=None)
@given(days=st.integers(min_value=0, max_value=40 * 366))
def test_every_coordinate_lies_on_the_plot(days: int) -> None:
    at = datetime(1987, 1, 1, tzinfo=UTC) + timedelta(days=days)
    c = chart("lapse-2019", at)
    assert c.plot_left <= c.cursor_x <= c.plot_right
    for m in c.markers:
        assert c.plot_left <= m.x <= c.plot_right
        assert c.top <= m.y <= c.bottom
    for b in c.bars:
        assert c.plot_left <= b.x1 <= b.x2 <= c.plot_right
    assert [s.agreement.id for s in c.statuses] == [r.agreement for r in c.rows]
