"""The agreements timeline as chart data: numbers for the SVG, text to be escaped by the template.

Pure: a scenario, an instant for the cursor and the end of the chart in, a ``Chart`` out. Every
coordinate is a float computed here (never text from the scenario), every label is plain text
the template escapes. One row per agreement: a bar while it is in force, and a marker for its
start, each anniversary, each notice deadline, each notice, suspension and withdrawal, and its
end (``gsomia.domain.timeline``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from gsomia.domain.agreements import AgreementStatus, status_at
from gsomia.domain.instants import format_instant
from gsomia.domain.timeline import EntryKind, timeline

if TYPE_CHECKING:
    from gsomia.domain.scenario import Scenario

WIDTH = 1200.0
LABEL_WIDTH = 250.0
RIGHT_MARGIN = 20.0
TOP = 30.0
ROW_HEIGHT = 44.0
BOTTOM = 30.0
BAR_HEIGHT = 10.0
MIN_TICK_GAP = 48.0  # the least room between two year labels on the axis


@dataclass(frozen=True, slots=True)
class Row:
    agreement: str
    title: str
    parties: str
    y: float  # the centre line of the row
    label_y: float


@dataclass(frozen=True, slots=True)
class Bar:
    agreement: str
    x1: float
    x2: float
    y: float
    height: float
    open_ended: bool  # still in force at the chart's end


@dataclass(frozen=True, slots=True)
class Marker:
    agreement: str
    kind: str  # an EntryKind value: the template's shape and CSS class
    x: float
    y: float
    at: str  # ISO 8601 with offset
    text: str  # what happened, for the marker's tooltip and the event list


@dataclass(frozen=True, slots=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    scenario: str
    width: float
    height: float
    plot_left: float
    plot_right: float
    top: float
    bottom: float
    since: datetime
    until: datetime
    cursor: datetime
    cursor_x: float
    rows: tuple[Row, ...]
    bars: tuple[Bar, ...]
    markers: tuple[Marker, ...]
    ticks: tuple[Tick, ...]
    statuses: tuple[AgreementStatus, ...]

    @property
    def since_ts(self) -> int:
        return int(self.since.timestamp())

    @property
    def until_ts(self) -> int:
        return int(self.until.timestamp())

    @property
    def cursor_ts(self) -> int:
        return int(self.cursor.timestamp())

    def x_of(self, instant: datetime) -> float:
        return _x(instant, self.since, self.until, self.plot_left, self.plot_right)


def _x(instant: datetime, since: datetime, until: datetime, left: float, right: float) -> float:
    span = (until - since).total_seconds()
    share = (instant - since).total_seconds() / span
    return round(left + min(1.0, max(0.0, share)) * (right - left), 2)


def chart_start(scenario: Scenario) -> datetime:
    """The first of January (UTC) of the year the earliest agreement starts."""
    earliest = min((a.start for a in scenario.agreements), default=None)
    year = 2000 if earliest is None else earliest.astimezone(UTC).year
    return datetime(year, 1, 1, tzinfo=UTC)


def build_chart(scenario: Scenario, *, at: datetime, until: datetime) -> Chart:
    """The chart of ``scenario`` from its first agreement's year to ``until``, with the cursor
    at ``at`` (clamped to the chart) and every agreement's status at that instant."""
    since = chart_start(scenario)
    if until <= since:
        msg = f"until: {format_instant(until)} is before the chart starts ({since.year})"
        raise ValueError(msg)
    left, right = LABEL_WIDTH, WIDTH - RIGHT_MARGIN
    rows: list[Row] = []
    bars: list[Bar] = []
    y_of: dict[str, float] = {}
    for i, agreement in enumerate(scenario.agreements):
        y = round(TOP + ROW_HEIGHT * i + ROW_HEIGHT / 2, 2)
        y_of[agreement.id] = y
        rows.append(
            Row(agreement.id, agreement.title, " · ".join(sorted(agreement.parties)), y, y - 8)
        )
        if agreement.start <= until:
            end = agreement.end if agreement.end is not None and agreement.end <= until else None
            bars.append(
                Bar(
                    agreement.id,
                    _x(agreement.start, since, until, left, right),
                    _x(until if end is None else end, since, until, left, right),
                    round(y - BAR_HEIGHT / 2 + 6, 2),
                    BAR_HEIGHT,
                    open_ended=end is None,
                )
            )
    markers = tuple(
        Marker(
            entry.agreement,
            entry.kind.value,
            _x(entry.at, since, until, left, right),
            y_of[entry.agreement] + 6,
            format_instant(entry.at),
            _marker_text(entry.kind, entry.text),
        )
        for entry in timeline(scenario, until=until)
        if entry.at >= since
    )
    height = TOP + ROW_HEIGHT * len(rows) + BOTTOM
    chart = Chart(
        scenario=scenario.name,
        width=WIDTH,
        height=height,
        plot_left=left,
        plot_right=right,
        top=TOP,
        bottom=height - BOTTOM,
        since=since,
        until=until,
        cursor=since,
        cursor_x=left,
        rows=tuple(rows),
        bars=tuple(bars),
        markers=markers,
        ticks=_ticks(since, until, left, right),
        statuses=(),
    )
    return move_cursor(chart, scenario, at)


def move_cursor(chart: Chart, scenario: Scenario, at: datetime) -> Chart:
    """``chart`` (of ``scenario``) with the cursor at ``at``, clamped to the chart, and every
    agreement's status then; the rest of the chart is the same and need not be computed again."""
    cursor = min(max(at, chart.since), chart.until)
    return replace(
        chart,
        cursor=cursor,
        cursor_x=chart.x_of(cursor),
        statuses=tuple(status_at(a, cursor) for a in scenario.agreements),
    )


def _marker_text(kind: EntryKind, text: str) -> str:
    return text if kind is not EntryKind.START else f"enters into force: {text}"


def _ticks(since: datetime, until: datetime, left: float, right: float) -> tuple[Tick, ...]:
    """Year ticks, every 1, 2, 5 or 10 years so that labels do not collide."""
    years = until.astimezone(UTC).year - since.year + 1
    per_year = (right - left) / max(1, years)
    step = next((s for s in (1, 2, 5, 10) if s * per_year >= MIN_TICK_GAP), 20)
    ticks: list[Tick] = []
    year = since.year
    while True:
        instant = datetime(year, 1, 1, tzinfo=UTC)
        if instant > until:
            break
        ticks.append(Tick(_x(instant, since, until, left, right), str(year)))
        year += step
    return tuple(ticks)
