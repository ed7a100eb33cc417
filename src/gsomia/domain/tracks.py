"""Missile-warning tracks (the 2023 link): one party's sensor's stream of updates about one launch.

A track is named ``track--<uuid>`` and carries one label for its whole life (topic
``dprk.missile.warning``, purpose ``defense.warning``, DOMAIN.md §3 and §7.1). Each update
says where the missile was at an instant (latitude, longitude, altitude), how fast it moved
(east, north and up, km/s), its phase, the estimated launch point and the predicted impact
point with its uncertainty (an ellipse that shrinks as the flight goes on). Updates are
numbered from 1 within a track (``seq``); a track's updates come from its originator's
sensors only.

This module is pure: values, their JSON form (docs/formats.md, "Tracks") and their checks.
Parsing outside bytes names what was wrong and where; every number is a finite float within
its range, so only checked numbers reach a map, a seal or a store.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from gsomia.domain.instants import format_instant, parse_instant
from gsomia.errors import BadInput

TRACK_TOPIC: Final = "dprk.missile.warning"
TRACK_PURPOSE: Final = "defense.warning"
#: How many updates one track may have (a flight of two hours at ten updates a second is
#: 72,000): an update past it is refused, and a node keeps no more of a track than this.
MAX_SEQ: Final = 1 << 20
MAX_ALTITUDE_KM: Final = 10_000.0  # well above any lofted ICBM's apogee (~6,000 km)
MAX_SPEED_KM_S: Final = 12.0  # above escape velocity: no ballistic missile is faster
MAX_AXIS_KM: Final = 5_000.0
#: What a track id looks like: 'track--' and a lower-case UUID.
TRACK_ID_PATTERN: Final = r"^track--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_TRACK_ID: Final = re.compile(TRACK_ID_PATTERN)
_SENSOR_ID: Final = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_PARTY: Final = re.compile(r"^[A-Z]{3}$")
_UPDATE_FIELDS: Final = frozenset(
    (
        "track",
        "seq",
        "at",
        "party",
        "sensor",
        "position",
        "velocity",
        "phase",
        "launch",
        "impact",
        "synthesized",
    )
)


class Phase(StrEnum):
    BOOST = "boost"
    MIDCOURSE = "midcourse"
    TERMINAL = "terminal"


@dataclass(frozen=True, slots=True)
class Position:
    """A point: degrees north and east (WGS 84), altitude above the sea in km."""

    lat: float
    lon: float
    alt_km: float = 0.0

    def to_json(self) -> dict[str, float]:
        return {"lat": self.lat, "lon": self.lon, "alt_km": self.alt_km}


@dataclass(frozen=True, slots=True)
class Velocity:
    """km/s towards the east, the north and up (a local ENU frame at the position)."""

    east: float
    north: float
    up: float

    def to_json(self) -> dict[str, float]:
        return {"east": self.east, "north": self.north, "up": self.up}


@dataclass(frozen=True, slots=True)
class Ellipse:
    """The predicted impact point and its uncertainty: an ellipse on the ground around
    (lat, lon), semi-axes in km, the major axis ``orientation_deg`` clockwise from north."""

    lat: float
    lon: float
    semi_major_km: float
    semi_minor_km: float
    orientation_deg: float

    def to_json(self) -> dict[str, float]:
        return {
            "lat": self.lat,
            "lon": self.lon,
            "semi_major_km": self.semi_major_km,
            "semi_minor_km": self.semi_minor_km,
            "orientation_deg": self.orientation_deg,
        }


@dataclass(frozen=True, slots=True)
class TrackUpdate:
    """One update of a track: what ``party``'s sensor ``sensor`` saw at ``at``.

    ``synthesized`` marks updates made by gsomia's trajectory model and notional sensors (the
    replay, the demo, the benchmark), never by a real sensor.
    """

    track: str
    seq: int
    at: datetime
    party: str
    sensor: str
    position: Position
    velocity: Velocity
    phase: Phase
    launch: Position
    impact: Ellipse
    synthesized: bool

    def to_json(self) -> dict[str, object]:
        return {
            "track": self.track,
            "seq": self.seq,
            "at": format_instant(self.at),
            "party": self.party,
            "sensor": self.sensor,
            "position": self.position.to_json(),
            "velocity": self.velocity.to_json(),
            "phase": self.phase.value,
            "launch": self.launch.to_json(),
            "impact": self.impact.to_json(),
            "synthesized": self.synthesized,
        }

    @classmethod
    def from_json(cls, obj: object, *, where: str) -> TrackUpdate:
        """An update from its JSON form; anything out of place is ``BadInput`` naming it."""
        if not isinstance(obj, dict):
            raise BadInput(f"{where}: a track update must be a JSON object")
        missing = sorted(_UPDATE_FIELDS - set(obj))
        if missing:
            raise BadInput(f"{where}: missing field(s) {', '.join(repr(m) for m in missing)}")
        unknown = sorted(set(obj) - _UPDATE_FIELDS)
        if unknown:
            raise BadInput(f"{where}: unknown field(s) {', '.join(repr(u) for u in unknown)}")
        synthesized = obj["synthesized"]
        if not isinstance(synthesized, bool):
            raise BadInput(f"{where}: field 'synthesized' must be true or false")
        phase = obj["phase"]
        if not isinstance(phase, str) or phase not in {p.value for p in Phase}:
            known = ", ".join(p.value for p in Phase)
            raise BadInput(f"{where}: field 'phase' must be one of {known}")
        return cls(
            track=track_id(obj["track"], f"{where}: field 'track'"),
            seq=_seq(obj["seq"], f"{where}: field 'seq'"),
            at=parse_instant(obj["at"], f"{where}: field 'at'"),
            party=_party(obj["party"], f"{where}: field 'party'"),
            sensor=sensor_id(obj["sensor"], f"{where}: field 'sensor'"),
            position=_position(obj["position"], f"{where}: field 'position'"),
            velocity=_velocity(obj["velocity"], f"{where}: field 'velocity'"),
            phase=Phase(phase),
            launch=_position(obj["launch"], f"{where}: field 'launch'"),
            impact=_ellipse(obj["impact"], f"{where}: field 'impact'"),
            synthesized=synthesized,
        )


def track_id(value: object, where: str) -> str:
    if not isinstance(value, str) or not _TRACK_ID.match(value):
        raise BadInput(f"{where}: a track id is 'track--' and a lower-case UUID")
    return value


def sensor_id(value: object, where: str) -> str:
    if not isinstance(value, str) or not _SENSOR_ID.match(value):
        raise BadInput(f"{where}: a sensor id is 1-63 lower-case letters, digits and hyphens")
    return value


def _party(value: object, where: str) -> str:
    if not isinstance(value, str) or not _PARTY.match(value):
        raise BadInput(f"{where}: expected a party code such as 'KOR'")
    return value


def _seq(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SEQ:
        raise BadInput(f"{where}: must be a whole number from 1 to {MAX_SEQ}")
    return value


def number(value: object, where: str, low: float, high: float) -> float:
    """A finite JSON number within [low, high], as a float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadInput(f"{where}: must be a number")
    x = float(value)
    if not math.isfinite(x) or not low <= x <= high:
        raise BadInput(f"{where}: must be a finite number from {low:g} to {high:g}")
    return x


def _fields(obj: object, where: str, names: tuple[str, ...]) -> dict[str, object]:
    if not isinstance(obj, dict) or set(obj) != set(names):
        raise BadInput(f"{where}: must be an object with exactly the fields {list(names)}")
    return obj


def _position(obj: object, where: str) -> Position:
    f = _fields(obj, where, ("lat", "lon", "alt_km"))
    return Position(
        number(f["lat"], f"{where}.lat", -90.0, 90.0),
        number(f["lon"], f"{where}.lon", -180.0, 180.0),
        number(f["alt_km"], f"{where}.alt_km", -1.0, MAX_ALTITUDE_KM),
    )


def _velocity(obj: object, where: str) -> Velocity:
    f = _fields(obj, where, ("east", "north", "up"))
    return Velocity(
        number(f["east"], f"{where}.east", -MAX_SPEED_KM_S, MAX_SPEED_KM_S),
        number(f["north"], f"{where}.north", -MAX_SPEED_KM_S, MAX_SPEED_KM_S),
        number(f["up"], f"{where}.up", -MAX_SPEED_KM_S, MAX_SPEED_KM_S),
    )


def _ellipse(obj: object, where: str) -> Ellipse:
    f = _fields(obj, where, ("lat", "lon", "semi_major_km", "semi_minor_km", "orientation_deg"))
    major = number(f["semi_major_km"], f"{where}.semi_major_km", 0.0, MAX_AXIS_KM)
    minor = number(f["semi_minor_km"], f"{where}.semi_minor_km", 0.0, MAX_AXIS_KM)
    if minor > major:
        raise BadInput(f"{where}: semi_minor_km must not exceed semi_major_km")
    return Ellipse(
        number(f["lat"], f"{where}.lat", -90.0, 90.0),
        number(f["lon"], f"{where}.lon", -180.0, 180.0),
        major,
        minor,
        number(f["orientation_deg"], f"{where}.orientation_deg", 0.0, 180.0),
    )
