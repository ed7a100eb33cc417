"""North Korea's missile launches, from the CNS North Korea Missile Test Database.

The database (James Martin Center for Nonproliferation Studies, for the Nuclear Threat
Initiative; see `SOURCE.md` beside this module) lists one record per missile. This module
turns those records into launch events, the unit a report is written about.

The rules, chosen here and relied upon by the replay:

- **One event** is every record with the same date, the same time (as recorded, or
  "unknown"), the same launch facility and the same missile. A salvo of N missiles is one
  event with ``count == N``; missiles of one type fired from one site at different recorded
  times are separate events, and so are records whose time is unknown beside timed ones.
- **The instant** of an event is its date and recorded UTC time when the time is given (in
  the database the date is then the UTC date). When the time is unknown it is 00:00 KST
  (UTC+09:00, fixed) at the start of the recorded date, the earliest instant of that day in
  Korea and Japan, where the reports are written. A few pre-1993 records give only a year and
  a month; their date is the first of that month (``date_precision == "month"``).
- **Corrections.** The 2017-07-04 Hwasong-14 record reads "12:40 (UTC)"; press reports put
  the launch at 09:40 local time, i.e. 00:40 UTC, so it is read as 00:40 UTC (a probable
  12-hour-clock slip, noted in SOURCE.md). Every correction applied to an event is listed in
  its ``corrections``.
- **Summaries of a salvo.** ``apogee_km`` and ``distance_km`` are the largest known values
  among its missiles (None when none is known; the database's "unknown" and "na" both read as
  None); ``landing`` is the first known landing area in series order (else the first
  missile's "unknown" or "na"); ``bearing_deg`` and ``description`` are the first missile's;
  ``outcomes`` has one entry per missile in series order. Each missile's own record is kept,
  unchanged, in ``missiles``.
- **Ids** are ``cns-<date>-<missile>-<facility>`` (the date as recorded); when several events
  share that, the second and later in order of instant get ``.2``, ``.3``... (a dot, which no
  part of an id contains, so a numbered id never reads as another facility's). Ids do not
  depend on the dates a caller filters by.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Final, Literal

from gsomia.errors import BadInput

__all__ = [
    "DATA_FILE",
    "KST",
    "LaunchEvent",
    "Missile",
    "Outcome",
    "load_launches",
    "parse_launches",
]

KST: Final = dt.timezone(dt.timedelta(hours=9), "KST")
DATA_FILE: Final = "nk_missile_tests_flat.csv"

Outcome = Literal["success", "failure", "unknown"]
DatePrecision = Literal["day", "month"]

_OUTCOMES: Final[dict[str, Outcome]] = {
    "success": "success",
    "failure": "failure",
    "unknown": "unknown",
}
_COLUMNS: Final = (
    "date",
    "time",
    "series",
    "missile_id",
    "missile_name",
    "missile_type",
    "facility_id",
    "facility_name",
    "facility_lat",
    "facility_lon",
    "landing",
    "apogee_km",
    "distance_km",
    "bearing_deg",
    "outcome",
    "glide",
    "description",
)
_NOT_KNOWN: Final = frozenset({"unknown", "na"})
_DAY: Final = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_MONTH: Final = re.compile(r"(\d{4})-(\d{2})")
_UTC_TIME: Final = re.compile(r"(\d{2}):(\d{2}) \(UTC\)")
_ID_PART: Final = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


@dataclass(frozen=True, slots=True)
class _TimeCorrection:
    date: str
    missile_id: str
    facility_id: str
    recorded: str
    corrected: str
    note: str


_CORRECTIONS: Final = (
    _TimeCorrection(
        date="2017-07-04",
        missile_id="hwasong-14",
        facility_id="panghyon",
        recorded="12:40 (UTC)",
        corrected="00:40 (UTC)",
        note=(
            "time recorded as 12:40 UTC read as 00:40 UTC: press reports put the launch at "
            "09:40 local time (a probable 12-hour-clock slip; SOURCE.md, caveats)"
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class Missile:
    """One record of the database: one missile of a launch event, as recorded."""

    series: int | None
    landing: str
    apogee_km: float | None
    distance_km: float | None
    bearing_deg: float
    outcome: Outcome
    glide: str | None
    description: str


@dataclass(frozen=True, slots=True)
class LaunchEvent:
    """One launch event: the missiles of one type fired from one site at one recorded time."""

    id: str
    date: dt.date
    date_precision: DatePrecision
    time_known: bool
    instant: dt.datetime
    missile_id: str
    missile_name: str
    missile_type: str
    facility_id: str
    facility_name: str
    lat: float
    lon: float
    landing: str
    apogee_km: float | None
    distance_km: float | None
    bearing_deg: float
    outcomes: tuple[Outcome, ...]
    count: int
    description: str
    missiles: tuple[Missile, ...]
    corrections: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Row:
    number: int
    line: int
    date_text: str
    date: dt.date
    date_precision: DatePrecision
    time: dt.time | None
    missile_id: str
    missile_name: str
    missile_type: str
    facility_id: str
    facility_name: str
    lat: float
    lon: float
    missile: Missile
    corrections: tuple[str, ...]

    def key(self) -> tuple[str, dt.time | None, str, str]:
        return (self.date_text, self.time, self.facility_id, self.missile_id)


def load_launches(
    since: dt.date | None = None, until: dt.date | None = None
) -> tuple[LaunchEvent, ...]:
    """The launch events of the packaged database, in order of instant.

    ``since`` and ``until`` keep the events whose recorded date lies between them, both
    included. Raises BadInput naming the file and row when the data are malformed.
    """
    if since is not None and until is not None and since > until:
        raise BadInput(f"launch dates: since {since.isoformat()} is after {until.isoformat()}")
    return _select(_packaged_launches(), since, until)


def parse_launches(text: str, *, source: str) -> tuple[LaunchEvent, ...]:
    """The launch events of a CSV text in the layout of the packaged file, in order of instant.

    ``source`` names the text in error messages (a file name).
    """
    rows = _parse_rows(text, source)
    groups: dict[tuple[str, dt.time | None, str, str], list[_Row]] = {}
    for row in rows:
        groups.setdefault(row.key(), []).append(row)
    drafts = [_event_draft(group, source) for group in groups.values()]
    drafts.sort(key=lambda d: (d.instant, d.base_id, d.first_row))
    seen: dict[str, int] = {}
    taken: dict[str, int] = {}
    events: list[LaunchEvent] = []
    for draft in drafts:
        seen[draft.base_id] = seen.get(draft.base_id, 0) + 1
        number = seen[draft.base_id]
        event_id = draft.base_id if number == 1 else f"{draft.base_id}.{number}"
        if event_id in taken:
            raise BadInput(
                f"{source} row {draft.first_row}: launch id {event_id!r} is also the id of the "
                f"launch at row {taken[event_id]}"
            )
        taken[event_id] = draft.first_row
        events.append(draft.build(event_id))
    return tuple(events)


@functools.cache
def _packaged_launches() -> tuple[LaunchEvent, ...]:
    try:
        text = resources.files(__package__).joinpath(DATA_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{DATA_FILE}: cannot read the packaged launch data: {exc}") from exc
    return parse_launches(text, source=DATA_FILE)


def _select(
    events: Iterable[LaunchEvent], since: dt.date | None, until: dt.date | None
) -> tuple[LaunchEvent, ...]:
    return tuple(
        event
        for event in events
        if (since is None or event.date >= since) and (until is None or event.date <= until)
    )


# ---------------------------------------------------------------- rows


def _parse_rows(text: str, source: str) -> list[_Row]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise BadInput(f"{source}: empty file, expected a header row")
        if tuple(header) != _COLUMNS:
            raise BadInput(
                f"{source} line 1: header is {','.join(header)!r}, expected {','.join(_COLUMNS)!r}"
            )
        rows: list[_Row] = []
        number = 0
        while True:
            line = reader.line_num + 1  # where the next record starts; a field may span lines
            record = next(reader, None)
            if record is None:
                break
            number += 1
            rows.append(_parse_row(record, number=number, line=line, source=source))
    except csv.Error as exc:
        raise BadInput(f"{source} line {reader.line_num}: malformed CSV: {exc}") from exc
    return rows


def _parse_row(record: Sequence[str], *, number: int, line: int, source: str) -> _Row:
    where = f"{source} row {number} (line {line})"
    if len(record) != len(_COLUMNS):
        raise BadInput(f"{where}: {len(record)} fields, expected {len(_COLUMNS)}")
    fields = dict(zip(_COLUMNS, record, strict=True))
    date_text = fields["date"]
    day, precision = _parse_date(date_text, where)
    ids = {
        name: _parse_id(fields[name], name, where)
        for name in ("missile_id", "facility_id", "landing")
    }
    time_text = fields["time"]
    notes: list[str] = []
    for fix in _CORRECTIONS:
        if (date_text, ids["missile_id"], ids["facility_id"], time_text) == (
            fix.date,
            fix.missile_id,
            fix.facility_id,
            fix.recorded,
        ):
            time_text = fix.corrected
            notes.append(fix.note)
    missile = Missile(
        series=_parse_series(fields["series"], where),
        landing=ids["landing"],
        apogee_km=_parse_km(fields["apogee_km"], "apogee_km", where),
        distance_km=_parse_km(fields["distance_km"], "distance_km", where),
        bearing_deg=_parse_float(fields["bearing_deg"], "bearing_deg", where, low=0.0, high=360.0),
        outcome=_parse_outcome(fields["outcome"], where),
        glide=fields["glide"] or None,
        description=fields["description"],
    )
    return _Row(
        number=number,
        line=line,
        date_text=date_text,
        date=day,
        date_precision=precision,
        time=_parse_time(time_text, where),
        missile_id=ids["missile_id"],
        missile_name=_parse_text(fields["missile_name"], "missile_name", where),
        missile_type=_parse_text(fields["missile_type"], "missile_type", where),
        facility_id=ids["facility_id"],
        facility_name=_parse_text(fields["facility_name"], "facility_name", where),
        lat=_parse_float(fields["facility_lat"], "facility_lat", where, low=-90.0, high=90.0),
        lon=_parse_float(fields["facility_lon"], "facility_lon", where, low=-180.0, high=180.0),
        missile=missile,
        corrections=tuple(notes),
    )


def _parse_date(text: str, where: str) -> tuple[dt.date, DatePrecision]:
    try:
        if match := _DAY.fullmatch(text):
            year, month, day = (int(part) for part in match.groups())
            return dt.date(year, month, day), "day"
        if match := _MONTH.fullmatch(text):
            year, month = (int(part) for part in match.groups())
            return dt.date(year, month, 1), "month"
    except ValueError as exc:
        raise BadInput(f"{where}: date {text!r} is not a calendar date: {exc}") from exc
    raise BadInput(f"{where}: date {text!r} is not YYYY-MM-DD or YYYY-MM")


def _parse_time(text: str, where: str) -> dt.time | None:
    if text == "unknown":
        return None
    match = _UTC_TIME.fullmatch(text)
    if match is None:
        raise BadInput(f"{where}: time {text!r} is not 'HH:MM (UTC)' or 'unknown'")
    hour, minute = (int(part) for part in match.groups())
    try:
        return dt.time(hour, minute, tzinfo=dt.UTC)
    except ValueError as exc:
        raise BadInput(f"{where}: time {text!r} is not a time of day: {exc}") from exc


def _parse_series(text: str, where: str) -> int | None:
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise BadInput(f"{where}: series {text!r} is not a positive whole number or empty")
    return int(text)


def _parse_id(text: str, field: str, where: str) -> str:
    if _ID_PART.fullmatch(text) is None:
        raise BadInput(f"{where}: {field} {text!r} is not an id (lower-case words and hyphens)")
    return text


def _parse_text(text: str, field: str, where: str) -> str:
    if not text.strip():
        raise BadInput(f"{where}: {field} is empty")
    return text


def _parse_float(text: str, field: str, where: str, *, low: float, high: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise BadInput(f"{where}: {field} {text!r} is not a number") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise BadInput(f"{where}: {field} {text!r} is not between {low:g} and {high:g}")
    return value


def _parse_km(text: str, field: str, where: str) -> float | None:
    if text in _NOT_KNOWN:
        return None
    try:
        value = float(text)
    except ValueError:
        raise BadInput(f"{where}: {field} {text!r} is not a number, 'unknown' or 'na'") from None
    if not math.isfinite(value) or value < 0:
        raise BadInput(f"{where}: {field} {text!r} is not a non-negative distance")
    return value


def _parse_outcome(text: str, where: str) -> Outcome:
    try:
        return _OUTCOMES[text]
    except KeyError:
        raise BadInput(
            f"{where}: outcome {text!r} is not one of {', '.join(sorted(_OUTCOMES))}"
        ) from None


# ---------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class _Draft:
    base_id: str
    instant: dt.datetime
    first_row: int
    rows: tuple[_Row, ...]

    def build(self, event_id: str) -> LaunchEvent:
        first = self.rows[0]
        missiles = tuple(row.missile for row in self.rows)
        known_landings = [m.landing for m in missiles if m.landing not in _NOT_KNOWN]
        apogees = [m.apogee_km for m in missiles if m.apogee_km is not None]
        distances = [m.distance_km for m in missiles if m.distance_km is not None]
        corrections = tuple(dict.fromkeys(note for row in self.rows for note in row.corrections))
        return LaunchEvent(
            id=event_id,
            date=first.date,
            date_precision=first.date_precision,
            time_known=first.time is not None,
            instant=self.instant,
            missile_id=first.missile_id,
            missile_name=first.missile_name,
            missile_type=first.missile_type,
            facility_id=first.facility_id,
            facility_name=first.facility_name,
            lat=first.lat,
            lon=first.lon,
            landing=known_landings[0] if known_landings else first.missile.landing,
            apogee_km=max(apogees) if apogees else None,
            distance_km=max(distances) if distances else None,
            bearing_deg=first.missile.bearing_deg,
            outcomes=tuple(m.outcome for m in missiles),
            count=len(missiles),
            description=first.missile.description,
            missiles=missiles,
            corrections=corrections,
        )


def _event_draft(group: list[_Row], source: str) -> _Draft:
    rows = sorted(group, key=lambda row: (row.missile.series is None, row.missile.series or 0))
    first = rows[0]
    series = [row.missile.series for row in rows]
    for row in rows[1:]:
        where = f"{source} row {row.number} (line {row.line})"
        if row.missile.series is None or series.count(row.missile.series) > 1:
            raise BadInput(
                f"{where}: series {row.missile.series} does not tell this missile apart from "
                f"the others of the launch on {row.date_text} ({row.missile_id}, {row.facility_id})"
            )
        for field in ("missile_name", "missile_type", "facility_name", "lat", "lon"):
            if getattr(row, field) != getattr(first, field):
                raise BadInput(
                    f"{where}: {field} {getattr(row, field)!r} differs from "
                    f"{getattr(first, field)!r} in row {first.number} of the same launch"
                )
    if first.time is not None:
        instant = dt.datetime.combine(first.date, first.time)
    else:
        instant = dt.datetime.combine(first.date, dt.time(0, 0), tzinfo=KST)
    return _Draft(
        base_id=f"cns-{first.date_text}-{first.missile_id}-{first.facility_id}",
        instant=instant,
        first_row=min(row.number for row in rows),
        rows=tuple(rows),
    )
