"""The JSON form of a track update: lossless round trip, and every bad field refused by name."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gsomia.domain.tracks import (
    MAX_ALTITUDE_KM,
    MAX_AXIS_KM,
    MAX_SEQ,
    MAX_SPEED_KM_S,
    Ellipse,
    Phase,
    Position,
    TrackUpdate,
    Velocity,
)
from gsomia.errors import BadInput

GOOD: dict[str, Any] = {
    "track": "track--0f8fad5b-d9cb-469f-a165-70867728950e",
    "seq": 1,
    "at": "2017-11-28T18:17:00Z",
    "party": "KOR",
    "sensor": "kor-west-1",
    "position": {"lat": 39.3, "lon": 125.9, "alt_km": 0.0},
    "velocity": {"east": 0.3, "north": 0.1, "up": 7.0},
    "phase": "boost",
    "launch": {"lat": 39.3, "lon": 125.9, "alt_km": 0.0},
    "impact": {
        "lat": 40.8,
        "lon": 136.9,
        "semi_major_km": 260.0,
        "semi_minor_km": 130.0,
        "orientation_deg": 83.0,
    },
    "synthesized": True,
}

_lat = st.floats(-90, 90)
_lon = st.floats(-180, 180)
_speed = st.floats(-MAX_SPEED_KM_S, MAX_SPEED_KM_S)
_positions = st.builds(Position, _lat, _lon, st.floats(-1.0, MAX_ALTITUDE_KM))


@st.composite
def _ellipses(draw: st.DrawFn) -> Ellipse:
    major = draw(st.floats(0, MAX_AXIS_KM))
    minor = draw(st.floats(0, major))
    return Ellipse(draw(_lat), draw(_lon), major, minor, draw(st.floats(0, 180)))


updates = st.builds(
    TrackUpdate,
    track=st.uuids(version=4).map(lambda u: f"track--{u}"),
    seq=st.integers(1, MAX_SEQ),
    at=st.datetimes(
        min_value=dt.datetime(1984, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive
        max_value=dt.datetime(2100, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive
        timezones=st.just(dt.UTC),
    ).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000)),
    party=st.sampled_from(["KOR", "JPN", "USA"]),
    sensor=st.from_regex(r"\A[a-z0-9][a-z0-9-]{0,20}\Z"),
    position=_positions,
    velocity=st.builds(Velocity, _speed, _speed, _speed),
    phase=st.sampled_from(list(Phase)),
    launch=_positions,
    impact=_ellipses(),
    synthesized=st.booleans(),
)


@settings(max_examples=60, deadline=None)
@given(updates)
def test_round_trip(update: TrackUpdate) -> None:
    back = TrackUpdate.from_json(update.to_json(), where="u")
    if back != update:  # only the instant's precision may differ: compare the JSON forms
        assert back.to_json() == update.to_json()
    assert TrackUpdate.from_json(back.to_json(), where="u") == back


def test_good_parses() -> None:
    update = TrackUpdate.from_json(GOOD, where="u")
    assert update.to_json() == GOOD | {"at": update.to_json()["at"]}
    assert update.phase is Phase.BOOST


def _set(path: str, value: object) -> dict[str, Any]:
    obj = copy.deepcopy(GOOD)
    *parents, last = path.split(".")
    target = obj
    for part in parents:
        target = target[part]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return obj


_DELETE = object()

BAD: list[tuple[str, object, str]] = [
    ("track", "track-1", "field 'track'"),
    ("track", "track--0F8FAD5B-D9CB-469F-A165-70867728950E", "field 'track'"),
    ("seq", 0, "field 'seq'"),
    ("seq", MAX_SEQ + 1, "field 'seq'"),
    ("seq", True, "field 'seq'"),
    ("seq", 1.0, "field 'seq'"),
    ("at", "yesterday", "field 'at'"),
    ("at", "2017-11-28T18:17:00", "field 'at'"),
    ("party", "kor", "field 'party'"),
    ("party", 7, "field 'party'"),
    ("sensor", "Kor West", "field 'sensor'"),
    ("sensor", "", "field 'sensor'"),
    ("position", [39.3, 125.9, 0.0], "field 'position'"),
    ("position.lat", 91.0, r"field 'position'\.lat"),
    ("position.lon", "125.9", r"field 'position'\.lon"),
    ("position.alt_km", MAX_ALTITUDE_KM + 1, r"field 'position'\.alt_km"),
    ("position.alt_km", float("nan"), r"field 'position'\.alt_km"),
    ("position.extra", 1, "field 'position'"),
    ("position.alt_km", _DELETE, "field 'position'"),
    ("velocity.east", MAX_SPEED_KM_S + 1, r"field 'velocity'\.east"),
    ("velocity.north", True, r"field 'velocity'\.north"),
    ("velocity.up", float("inf"), r"field 'velocity'\.up"),
    ("phase", "coast", "field 'phase'"),
    ("launch.lat", -91.0, r"field 'launch'\.lat"),
    ("impact.semi_major_km", -1.0, r"field 'impact'\.semi_major_km"),
    ("impact.semi_major_km", MAX_AXIS_KM + 1, r"field 'impact'\.semi_major_km"),
    ("impact.semi_minor_km", 300.0, "semi_minor_km must not exceed semi_major_km"),
    ("impact.orientation_deg", 181.0, r"field 'impact'\.orientation_deg"),
    ("impact.lon", None, r"field 'impact'\.lon"),
    ("synthesized", "yes", "field 'synthesized'"),
    ("synthesized", 1, "field 'synthesized'"),
    ("seq", _DELETE, r"missing field\(s\) 'seq'"),
    ("extra", 1, r"unknown field\(s\) 'extra'"),
]


@pytest.mark.parametrize(("path", "value", "message"), BAD)
def test_every_bad_field_is_refused_by_name(path: str, value: object, message: str) -> None:
    with pytest.raises(BadInput, match=rf"^updates\[3\]: .*{message}"):
        TrackUpdate.from_json(_set(path, value), where="updates[3]")


def test_not_an_object() -> None:
    with pytest.raises(BadInput, match=r"^u: a track update must be a JSON object"):
        TrackUpdate.from_json([GOOD], where="u")


@settings(max_examples=40, deadline=None)
@given(field=st.sampled_from(sorted(GOOD)), value=st.one_of(st.none(), st.lists(st.integers())))
def test_a_field_of_the_wrong_type_is_refused_by_name(field: str, value: object) -> None:
    with pytest.raises(BadInput, match=rf"field '{field}'"):
        TrackUpdate.from_json(_set(field, value), where="u")


def test_an_unhashable_phase_is_refused_by_name() -> None:
    with pytest.raises(BadInput, match="field 'phase'"):
        TrackUpdate.from_json(_set("phase", ["boost"]), where="u")
