"""The CNS launch data as launch events (gsomia.data.launches)."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from collections import Counter
from importlib import resources

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gsomia.data import LaunchEvent, load_launches, parse_launches
from gsomia.data.launches import DATA_FILE, KST
from gsomia.errors import BadInput

UTC = dt.UTC

# SOURCE.md: records (missiles) per year, and in all.
RECORDS_PER_YEAR = {
    2014: 19,
    2015: 15,
    2016: 24,
    2017: 21,
    2018: 0,
    2019: 27,
    2020: 9,
    2021: 6,
    2022: 69,
    2023: 33,
    2024: 41,
    2025: 11,
    2026: 25,
}

COLUMNS = [
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
]


def record(**changes: str) -> dict[str, str]:
    row = {
        "date": "2017-11-28",
        "time": "18:18 (UTC)",
        "series": "",
        "missile_id": "hwasong-15",
        "missile_name": "Hwasong-15",
        "missile_type": "ICBM",
        "facility_id": "pyongsong",
        "facility_name": "Pyongsong",
        "facility_lat": "39.25",
        "facility_lon": "125.87",
        "landing": "sea-of-japan",
        "apogee_km": "4475",
        "distance_km": "950",
        "bearing_deg": "76",
        "outcome": "success",
        "glide": "",
        "description": "First test, with a comma, and a\nsecond line.",
    }
    row.update(changes)
    return row


def csv_text(rows: list[dict[str, str]]) -> str:
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def by_id(events: tuple[LaunchEvent, ...]) -> dict[str, LaunchEvent]:
    return {event.id: event for event in events}


@pytest.fixture(scope="module")
def events() -> tuple[LaunchEvent, ...]:
    return load_launches()


# ---------------------------------------------------------------- the packaged record


def test_every_record_is_in_exactly_one_event(events: tuple[LaunchEvent, ...]) -> None:
    assert sum(event.count for event in events) == 339
    assert all(event.count == len(event.missiles) == len(event.outcomes) for event in events)
    outcomes = Counter(outcome for event in events for outcome in event.outcomes)
    assert outcomes == {"success": 229, "failure": 38, "unknown": 72}


def test_records_per_year_match_the_source(events: tuple[LaunchEvent, ...]) -> None:
    per_year = Counter[int]()
    for event in events:
        per_year[event.date.year] += event.count
    assert {year: per_year[year] for year in RECORDS_PER_YEAR} == RECORDS_PER_YEAR
    assert min(event.date for event in events) == dt.date(1984, 4, 9)
    assert max(event.date for event in events) == dt.date(2026, 4, 18)


def test_events_are_sorted_by_instant_with_unique_ids(events: tuple[LaunchEvent, ...]) -> None:
    instants = [event.instant for event in events]
    assert instants == sorted(instants)
    assert all(instant.utcoffset() is not None for instant in instants)
    assert len({event.id for event in events}) == len(events)


def test_the_hwasong_15(events: tuple[LaunchEvent, ...]) -> None:
    event = by_id(events)["cns-2017-11-28-hwasong-15-pyongsong"]
    assert event.date == dt.date(2017, 11, 28)
    assert event.time_known
    assert event.instant == dt.datetime(2017, 11, 28, 18, 18, tzinfo=UTC)
    # The UTC date: in Korea and Japan it was 29 November, 03:18.
    assert event.instant.astimezone(KST) == dt.datetime(2017, 11, 29, 3, 18, tzinfo=KST)
    assert (event.missile_name, event.missile_type) == ("Hwasong-15", "ICBM")
    assert event.facility_id == "pyongsong"
    assert (event.apogee_km, event.distance_km) == (4475.0, 950.0)
    assert (event.count, event.outcomes, event.landing) == (1, ("success",), "sea-of-japan")
    assert event.corrections == ()


def test_a_salvo_is_one_event(events: tuple[LaunchEvent, ...]) -> None:
    event = by_id(events)["cns-2024-05-29-kn-25-pyongyang"]
    assert event.count == 18
    assert [missile.series for missile in event.missiles] == list(range(1, 19))
    assert event.instant == dt.datetime(2024, 5, 29, 21, 13, tzinfo=UTC)


def test_a_salvo_summarises_its_missiles(events: tuple[LaunchEvent, ...]) -> None:
    # 2017-03-05: four ER-Scuds flew 1000 km; the fifth failed at launch ("na" everywhere).
    event = by_id(events)["cns-2017-03-05-er-scud-sohae"]
    assert event.count == 5
    assert event.outcomes == ("success",) * 4 + ("failure",)
    assert (event.apogee_km, event.distance_km) == (260.0, 1000.0)
    assert event.landing == "sea-of-japan"
    assert event.missiles[-1].landing == "na"
    assert event.missiles[-1].apogee_km is None
    assert event.bearing_deg == event.missiles[0].bearing_deg == 77.0
    assert event.description == event.missiles[0].description


def test_the_2017_07_04_time_is_corrected(events: tuple[LaunchEvent, ...]) -> None:
    packaged = resources.files("gsomia.data").joinpath(DATA_FILE).read_text(encoding="utf-8")
    assert "2017-07-04,12:40 (UTC)" in packaged  # the record as shipped
    event = by_id(events)["cns-2017-07-04-hwasong-14-panghyon"]
    assert event.instant == dt.datetime(2017, 7, 4, 0, 40, tzinfo=UTC)
    assert event.instant.astimezone(KST).time() == dt.time(9, 40)
    assert len(event.corrections) == 1
    assert "12:40" in event.corrections[0]
    assert sum(1 for e in events if e.corrections) == 1


def test_the_correction_only_touches_its_own_record() -> None:
    other = record(date="2017-07-04", time="12:40 (UTC)", missile_id="hwasong-12")
    target = record(
        date="2017-07-04", time="12:40 (UTC)", missile_id="hwasong-14", facility_id="panghyon"
    )
    parsed = by_id(parse_launches(csv_text([other, target]), source="t.csv"))
    assert parsed["cns-2017-07-04-hwasong-12-pyongsong"].instant.hour == 12
    assert parsed["cns-2017-07-04-hwasong-12-pyongsong"].corrections == ()
    assert parsed["cns-2017-07-04-hwasong-14-panghyon"].instant.hour == 0


def test_unknown_time_is_midnight_kst_of_the_date(events: tuple[LaunchEvent, ...]) -> None:
    event = by_id(events)["cns-2016-03-18-nodong-sunchon"]
    assert not event.time_known
    assert event.instant == dt.datetime(2016, 3, 18, 0, 0, tzinfo=KST)
    assert event.instant == dt.datetime(2016, 3, 17, 15, 0, tzinfo=UTC)


def test_a_month_only_date_is_the_first_of_the_month(events: tuple[LaunchEvent, ...]) -> None:
    event = by_id(events)["cns-1984-09-scud-b-tonghae"]
    assert (event.date, event.date_precision) == (dt.date(1984, 9, 1), "month")
    assert event.count == 3
    assert by_id(events)["cns-1984-04-09-scud-b-tonghae"].date_precision == "day"


def test_same_site_and_missile_at_two_times_are_two_events(
    events: tuple[LaunchEvent, ...],
) -> None:
    first = by_id(events)["cns-2016-06-21-musudan-wonsan"]
    second = by_id(events)["cns-2016-06-21-musudan-wonsan.2"]
    assert first.instant == dt.datetime(2016, 6, 21, 20, 56, tzinfo=UTC)
    assert second.instant == dt.datetime(2016, 6, 21, 23, 3, tzinfo=UTC)


def test_events_are_frozen(events: tuple[LaunchEvent, ...]) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field"):
        events[0].count = 2  # type: ignore[misc]


# ---------------------------------------------------------------- filtering by date


def test_filtering_keeps_dates_between_both_bounds_included(
    events: tuple[LaunchEvent, ...],
) -> None:
    since, until = dt.date(2019, 11, 23), dt.date(2019, 11, 28)
    chosen = load_launches(since=since, until=until)
    assert chosen == tuple(e for e in events if since <= e.date <= until)
    assert [e.id for e in chosen] == ["cns-2019-11-28-kn-25-yonpo"]
    assert chosen[0].count == 2


def test_filtering_from_tisa_on(events: tuple[LaunchEvent, ...]) -> None:
    chosen = load_launches(since=dt.date(2014, 12, 29))
    assert len(chosen) == 202
    # No record falls between 2014-12-29 and the end of 2014.
    assert sum(e.count for e in chosen) == sum(n for y, n in RECORDS_PER_YEAR.items() if y > 2014)
    assert load_launches(until=dt.date(2014, 12, 28)) == events[: len(events) - len(chosen)]


def test_filtering_keeps_ids(events: tuple[LaunchEvent, ...]) -> None:
    chosen = load_launches(since=dt.date(2016, 6, 21), until=dt.date(2016, 6, 21))
    assert [e.id for e in chosen] == [
        "cns-2016-06-21-musudan-wonsan",
        "cns-2016-06-21-musudan-wonsan.2",
    ]


def test_an_empty_or_reversed_range() -> None:
    assert load_launches(since=dt.date(2018, 1, 1), until=dt.date(2018, 12, 31)) == ()
    with pytest.raises(BadInput, match="after"):
        load_launches(since=dt.date(2020, 1, 2), until=dt.date(2020, 1, 1))


# ---------------------------------------------------------------- malformed rows


@pytest.mark.parametrize(
    ("field", "value", "complaint"),
    [
        ("date", "2017/11/28", "date '2017/11/28'"),
        ("date", "2017-02-30", "not a calendar date"),
        ("time", "18:18", "time '18:18'"),
        ("time", "25:00 (UTC)", "not a time of day"),
        ("series", "0", "series '0'"),
        ("series", "x", "series 'x'"),
        ("missile_id", "", "missile_id ''"),
        ("facility_id", "Pyong Song", "facility_id 'Pyong Song'"),
        ("missile_name", " ", "missile_name is empty"),
        ("facility_lat", "north", "facility_lat 'north'"),
        ("facility_lon", "200", "facility_lon '200'"),
        ("apogee_km", "high", "apogee_km 'high'"),
        ("distance_km", "-5", "distance_km '-5'"),
        ("distance_km", "nan", "distance_km 'nan'"),
        ("bearing_deg", "unknown", "bearing_deg 'unknown'"),
        ("outcome", "partial", "outcome 'partial'"),
    ],
)
def test_a_malformed_field_names_file_row_and_field(field: str, value: str, complaint: str) -> None:
    text = csv_text([record(series="1"), record(**{"series": "2", field: value})])
    with pytest.raises(BadInput, match=r"launches\.csv row 2 \(line 4\)") as caught:
        parse_launches(text, source="launches.csv")
    assert complaint in str(caught.value)


def test_a_row_with_missing_fields() -> None:
    text = csv_text([record()]) + "2017-11-29,unknown,1\n"
    with pytest.raises(BadInput, match=r"t\.csv row 2 \(line 4\): 3 fields, expected 17"):
        parse_launches(text, source="t.csv")


def test_a_wrong_header_or_empty_file() -> None:
    with pytest.raises(BadInput, match=r"t\.csv line 1: header"):
        parse_launches("date,time\n", source="t.csv")
    with pytest.raises(BadInput, match=r"t\.csv: empty file"):
        parse_launches("", source="t.csv")


def test_broken_quoting_names_the_line() -> None:
    text = csv_text([record()]) + '2017-11-29,"unknown\n'
    with pytest.raises(BadInput, match=r"t\.csv line \d+: malformed CSV"):
        parse_launches(text, source="t.csv")


def test_a_salvo_whose_missiles_cannot_be_told_apart() -> None:
    for second in (record(series="1"), record(series="")):
        with pytest.raises(BadInput, match=r"t\.csv row \d .*does not tell this missile apart"):
            parse_launches(csv_text([record(series="1"), second]), source="t.csv")


def test_a_salvo_that_contradicts_itself() -> None:
    rows = [record(series="1"), record(series="2", missile_type="IRBM")]
    with pytest.raises(BadInput, match=r"t\.csv row 2 .*missile_type 'IRBM' differs"):
        parse_launches(csv_text(rows), source="t.csv")


# ---------------------------------------------------------------- grouping, as a property

_rows = st.lists(
    st.builds(
        lambda day, hour, site, missile, outcome: record(
            date=f"2022-01-{day:02d}",
            time="unknown" if hour is None else f"{hour:02d}:00 (UTC)",
            facility_id=site,
            missile_id=missile,
            outcome=outcome,
        ),
        st.integers(1, 3),
        st.none() | st.integers(0, 2),
        st.sampled_from(["sohae", "sunan"]),
        st.sampled_from(["kn-25", "kn-23"]),
        st.sampled_from(["success", "failure", "unknown"]),
    ),
    max_size=12,
)


@given(_rows)
def test_grouping_partitions_the_records(rows: list[dict[str, str]]) -> None:
    numbered = []
    per_key: Counter[tuple[str, str, str, str]] = Counter()
    for row in rows:
        key = (row["date"], row["time"], row["facility_id"], row["missile_id"])
        per_key[key] += 1
        numbered.append({**row, "series": str(per_key[key])})
    parsed = parse_launches(csv_text(numbered), source="t.csv")
    assert len(parsed) == len(per_key)
    assert sum(event.count for event in parsed) == len(rows)
    assert sorted(o for e in parsed for o in e.outcomes) == sorted(r["outcome"] for r in rows)
    assert len({event.id for event in parsed}) == len(parsed)
    assert [e.instant for e in parsed] == sorted(e.instant for e in parsed)
    for event in parsed:
        if not event.time_known:
            assert event.instant.utcoffset() == dt.timedelta(hours=9)
