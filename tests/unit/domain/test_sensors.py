"""Notional sensors: the radar horizon, and each party's updates of a synthesized flight."""

from __future__ import annotations

import datetime as dt

import pytest

from gsomia.data.launches import load_launches
from gsomia.data.sensors import load_sensors
from gsomia.domain.sensors import Sensor, horizon_km, observe
from gsomia.domain.tracks import Position, TrackUpdate
from gsomia.domain.trajectory import Trajectory, plan
from gsomia.errors import BadInput

START = dt.datetime(2017, 11, 27, 18, 17, tzinfo=dt.UTC)
IDS = {
    "KOR": "track--00000000-0000-4000-8000-000000000001",
    "JPN": "track--00000000-0000-4000-8000-000000000002",
    "USA": "track--00000000-0000-4000-8000-000000000003",
}


def _hwasong_15() -> Trajectory:
    e = next(
        e
        for e in load_launches(dt.date(2017, 11, 28), dt.date(2017, 11, 28))
        if e.missile_id == "hwasong-15"
    )
    return plan(e.lat, e.lon, e.bearing_deg, range_km=e.distance_km, apogee_km=e.apogee_km)


def test_horizon() -> None:
    assert horizon_km(0) == 0
    # 4/3-earth: about 58.9 km of altitude is needed at 1,000 km
    assert horizon_km(1000) == pytest.approx(58.87, abs=0.01)
    site = Sensor("kor-test-1", "KOR", 37.0, 127.0, 1000.0)
    assert site.sees(Position(37.0, 127.0, 0.0))
    assert not site.sees(Position(37.0, 135.0, 25.0))  # about 710 km: horizon at ~29.7 km
    assert site.sees(Position(37.0, 135.0, 35.0))
    assert not site.sees(Position(37.0, 140.0, 5000.0))  # beyond range


def test_every_party_tracks_the_hwasong_15() -> None:
    flight = _hwasong_15()
    tracks = observe(flight, load_sensors(), track_ids=IDS, start=START, rate_hz=1.0)
    assert set(tracks) == {"KOR", "JPN", "USA"}
    for party, updates in tracks.items():
        assert [u.seq for u in updates] == list(range(1, len(updates) + 1))
        assert all(u.party == party and u.track == IDS[party] for u in updates)
        assert all(u.sensor.startswith(party.lower() + "-") for u in updates)
        assert all(u.synthesized for u in updates)
        ats = [u.at for u in updates]
        assert ats == sorted(set(ats))
        assert ats[0] >= START
        assert ats[-1] <= START + dt.timedelta(seconds=flight.duration_s)
        for u in updates[:: max(1, len(updates) // 20)]:
            # each update survives its JSON form, so every field is within the checked ranges
            assert TrackUpdate.from_json(u.to_json(), where="u") == u
            t = (u.at - START).total_seconds()
            assert u.position == flight.at(t)[0]
            assert u.impact == flight.predicted_impact(t)
            assert u.launch == flight.launch
        majors = [u.impact.semi_major_km for u in updates]
        assert majors == sorted(majors, reverse=True)
    # KOR's sites sit a few hundred km from the launch: they see it from low altitude on
    assert tracks["KOR"][0].at - START < dt.timedelta(seconds=60)


def test_a_party_that_sees_nothing_gets_no_track() -> None:
    # a short flight far from every site of JPN
    flight = plan(39.0, 124.5, 270.0, range_km=100.0, apogee_km=20.0)
    far = Sensor("jpn-far-1", "JPN", 43.0, 145.0, 500.0)
    near = Sensor("kor-near-1", "KOR", 38.5, 125.0, 300.0)
    tracks = observe(
        flight,
        [far, near],
        track_ids={"KOR": IDS["KOR"], "JPN": IDS["JPN"]},
        start=START,
        rate_hz=2.0,
    )
    assert set(tracks) == {"KOR"}
    assert {u.sensor for u in tracks["KOR"]} == {"kor-near-1"}


def test_sites_of_parties_without_a_track_id_are_ignored() -> None:
    tracks = observe(
        _hwasong_15(), load_sensors(), track_ids={"USA": IDS["USA"]}, start=START, rate_hz=0.2
    )
    assert set(tracks) == {"USA"}


def test_nearest_site_is_named() -> None:
    flight = plan(37.0, 127.0, 90.0, range_km=600.0, apogee_km=150.0)
    west = Sensor("kor-a", "KOR", 37.0, 127.0, 2000.0)
    east = Sensor("kor-b", "KOR", 37.0, 134.0, 2000.0)
    updates = observe(
        flight, [east, west], track_ids={"KOR": IDS["KOR"]}, start=START, rate_hz=1.0
    )["KOR"]
    assert updates[0].sensor == "kor-a"
    assert updates[-1].sensor == "kor-b"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": dt.datetime(2017, 11, 28)}, "timezone-aware"),  # noqa: DTZ001 - the naive instant under test
        ({"rate_hz": 0.0}, "rate_hz"),
        ({"rate_hz": 1000.0}, "rate_hz"),
        ({"track_ids": {"KOR": "track-1"}}, r"track_ids\['KOR'\]"),
        ({"track_ids": {"kor": IDS["KOR"]}}, "not a party code"),
        ({"track_ids": {"KOR": IDS["KOR"], "JPN": IDS["KOR"]}}, "its own track id"),
    ],
)
def test_observe_refuses_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"track_ids": IDS, "start": START, "rate_hz": 1.0}
    args.update(kwargs)
    with pytest.raises(BadInput, match=message):
        observe(_hwasong_15(), load_sensors(), **args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("KOR-1", "KOR", 37.0, 127.0, 100.0), "sensor id"),
        (("kor-1", "kor", 37.0, 127.0, 100.0), "party"),
        (("kor-1", "KOR", 97.0, 127.0, 100.0), "lat"),
        (("kor-1", "KOR", 37.0, 190.0, 100.0), "lon"),
        (("kor-1", "KOR", 37.0, 127.0, -1.0), "range_km"),
        (("kor-1", "KOR", 37.0, 127.0, float("nan")), "range_km"),
    ],
)
def test_sensor_refuses_bad_values(
    args: tuple[str, str, float, float, float], message: str
) -> None:
    with pytest.raises(BadInput, match=message):
        Sensor(*args)
