"""Notional sensors: which party's sites see a synthesized flight, and the track updates they
make of it.

The sites (``gsomia/data/sensors.toml``) are NOTIONAL: generic names and round positions near,
but not claiming to be, real installations, with round ranges; they are not real radar data.
A site sees a point when

- the point's great-circle ground distance ``d`` from the site is at most ``range_km``, and
- the point is above the site's radar horizon: ``alt_km ≥ d² / (2 k R)`` with the standard
  4/3-earth refraction factor ``k = 4/3`` and R the earth's mean radius (a site at sea level).

`observe` samples the flight ``rate_hz`` times a second from launch to impact and, for each
party named in ``track_ids``, makes an update at every sample one of that party's sites sees
(the nearest such site is named as the ``sensor``; ties go to the smaller id). The launch point
is reported exactly; the impact is the trajectory's predicted ellipse at that instant.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from gsomia.domain.tracks import Position, TrackUpdate, sensor_id, track_id
from gsomia.domain.trajectory import EARTH_RADIUS_KM, Trajectory, great_circle_km
from gsomia.errors import BadInput

REFRACTION_K: Final = 4.0 / 3.0
MAX_RANGE_KM: Final = 6_000.0
MAX_RATE_HZ: Final = 100.0
_PARTY: Final = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True, slots=True)
class Sensor:
    """A notional sensor site of ``party``."""

    id: str
    party: str
    lat: float
    lon: float
    range_km: float

    def __post_init__(self) -> None:
        where = f"sensor {self.id!r}"
        sensor_id(self.id, where)
        if not _PARTY.match(self.party):
            raise BadInput(f"{where}: party {self.party!r} is not a party code such as 'KOR'")
        for name, value, low, high in (
            ("lat", self.lat, -90.0, 90.0),
            ("lon", self.lon, -180.0, 180.0),
            ("range_km", self.range_km, 0.0, MAX_RANGE_KM),
        ):
            if not math.isfinite(value) or not low <= value <= high:
                raise BadInput(f"{where}: {name} {value!r} is not from {low:g} to {high:g}")

    def distance_km(self, point: Position) -> float:
        return great_circle_km(self.lat, self.lon, point.lat, point.lon)

    def sees(self, point: Position) -> bool:
        """Whether the point is within range and above this site's radar horizon."""
        d = self.distance_km(point)
        return d <= self.range_km and point.alt_km >= horizon_km(d)


def horizon_km(distance_km: float) -> float:
    """The lowest altitude a sea-level site sees at ``distance_km`` (4/3-earth refraction)."""
    return distance_km * distance_km / (2 * REFRACTION_K * EARTH_RADIUS_KM)


def observe(
    trajectory: Trajectory,
    sensors: Iterable[Sensor],
    *,
    track_ids: Mapping[str, str],
    start: datetime,
    rate_hz: float,
    synthesized: bool = True,
) -> dict[str, list[TrackUpdate]]:
    """Each party's updates of the flight, as its own sites see it; a party none of whose
    sites sees anything gets no entry. Sites of parties not in ``track_ids`` are ignored."""
    if start.tzinfo is None or start.utcoffset() is None:
        raise BadInput("observe: start must be a timezone-aware instant")
    if not math.isfinite(rate_hz) or not 0 < rate_hz <= MAX_RATE_HZ:
        raise BadInput(f"observe: rate_hz {rate_hz!r} is not above 0 and at most {MAX_RATE_HZ:g}")
    for party, ident in track_ids.items():
        if not _PARTY.match(party):
            raise BadInput(f"observe: track_ids key {party!r} is not a party code")
        track_id(ident, f"observe: track_ids[{party!r}]")
    if len(set(track_ids.values())) != len(track_ids):
        raise BadInput("observe: each party's track needs its own track id")
    sites: dict[str, list[Sensor]] = {party: [] for party in track_ids}
    for sensor in sorted(sensors, key=lambda s: s.id):
        if sensor.party in sites:
            sites[sensor.party].append(sensor)
    out: dict[str, list[TrackUpdate]] = {}
    steps = math.floor(trajectory.duration_s * rate_hz)
    for step in range(steps + 1):
        t = min(step / rate_hz, trajectory.duration_s)
        position, velocity, phase = trajectory.at(t)
        impact = None
        for party, candidates in sites.items():
            seen = [s for s in candidates if s.sees(position)]
            if not seen:
                continue
            nearest = min(seen, key=lambda s: (s.distance_km(position), s.id))
            if impact is None:
                impact = trajectory.predicted_impact(t)
            updates = out.setdefault(party, [])
            updates.append(
                TrackUpdate(
                    track=track_ids[party],
                    seq=len(updates) + 1,
                    at=start + timedelta(seconds=t),
                    party=party,
                    sensor=nearest.id,
                    position=position,
                    velocity=velocity,
                    phase=phase,
                    launch=trajectory.launch,
                    impact=impact,
                    synthesized=synthesized,
                )
            )
    return out
