"""Synthesized ballistic trajectories: where a missile is at each instant of a flight.

A notional, kinematic model for the replay, the demo and the benchmark; it never stands for
a real sensor's measurement. From a launch point, a bearing, a ground range and an apogee it
makes a flight that:

- follows the great circle that leaves the launch point on the bearing, at a uniform ground
  speed ``range / duration``, and lands exactly ``range`` km (great-circle, on a sphere of
  radius EARTH_RADIUS_KM) from the launch point;
- climbs and falls as a body falling radially from the apogee under inverse-square gravity
  (the radial Kepler fall): from rest at radius ``r_a = R + apogee``, it is at radius
  ``r = r_a cos²β`` after ``τ = k (β + sin β cos β)`` seconds, ``k = sqrt(r_a³ / (2 μ))``;
  the flight is that fall, mirrored: ``duration = 2 τ(R)``, the apogee exactly at mid-flight
  and mid-range, altitude 0 at both ends, vertical speed ``± (r_a / k) tan β``;
- is in the *boost* phase for its first ``min(boost_s, duration / 4)`` seconds, *terminal*
  once it falls below ``min(terminal_km, apogee / 2)``, *midcourse* in between.

A launch known by only one of range and apogee gets the other from the flat-earth
minimum-energy relation ``range = 4 · apogee`` (a 45° shot in uniform gravity).

The predicted impact at time t is an ellipse around a centre near the true impact point: with
``f = (duration − t) / duration`` (1 at launch, 0 at impact) the semi-major axis, along the
track, is ``A_END + (A_START − A_END) f²`` with ``A_START = min(25 + range / 4, 2,000)`` km and
``A_END = 2`` km; the semi-minor axis is half of it. The centre is the true impact moved
``u/2`` semi-major axes along the track and ``v/2`` semi-minor axes across it, where u and v
in [−1, 1] are drawn from SHA-256 of the seed (deterministic), so the true impact always lies
inside the predicted ellipse and the centre converges to it.

Limits: no rotation of the earth, no drag, no powered flight (the boost phase is a label on
the ballistic curve), no re-entry dynamics, a sphere rather than WGS 84, a ground speed that
does not change with altitude; the altitude profile and the ground track are not one
self-consistent orbit. Everything it makes is synthesized.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Final

from gsomia.domain.tracks import (
    MAX_ALTITUDE_KM,
    MAX_SPEED_KM_S,
    Ellipse,
    Phase,
    Position,
    Velocity,
)
from gsomia.errors import BadInput

EARTH_RADIUS_KM: Final = 6371.0088  # the mean radius (IUGG)
MU_KM3_S2: Final = 398_600.4418  # the earth's gravitational parameter
MAX_RANGE_KM: Final = 20_000.0  # a little less than half the circumference
BOOST_S: Final = 180.0
TERMINAL_KM: Final = 100.0
A_END_KM: Final = 2.0
A_START_MAX_KM: Final = 2_000.0
MINOR_RATIO: Final = 0.5


@dataclass(frozen=True, slots=True)
class Trajectory:
    """One synthesized flight; build it with `plan`."""

    launch: Position
    bearing_deg: float
    range_km: float
    apogee_km: float
    duration_s: float
    boost_end_s: float
    terminal_start_s: float
    impact: Position
    seed: str

    def at(self, t: float) -> tuple[Position, Velocity, Phase]:
        """Where the missile is ``t`` seconds after launch, how fast it moves, in what phase."""
        self._check_time(t)
        s = self.range_km * t / self.duration_s
        lat, lon, north, east = _along(self.launch, self.bearing_deg, s)
        tau = abs(t - self.duration_s / 2)
        r_a = EARTH_RADIUS_KM + self.apogee_km
        k = _k(r_a)
        beta = _beta(tau, k)
        alt = max(0.0, r_a * math.cos(beta) ** 2 - EARTH_RADIUS_KM)
        up = (r_a / k) * math.tan(beta) * (1.0 if t < self.duration_s / 2 else -1.0)
        ground = self.range_km / self.duration_s
        return (
            Position(lat, lon, alt),
            Velocity(east=ground * east, north=ground * north, up=up),
            self.phase(t),
        )

    def phase(self, t: float) -> Phase:
        self._check_time(t)
        if t < self.boost_end_s:
            return Phase.BOOST
        if t >= self.terminal_start_s:
            return Phase.TERMINAL
        return Phase.MIDCOURSE

    def predicted_impact(self, t: float) -> Ellipse:
        """The impact point predicted at ``t`` seconds after launch, with its uncertainty."""
        self._check_time(t)
        f = (self.duration_s - t) / self.duration_s
        a_start = min(25.0 + self.range_km / 4, A_START_MAX_KM)
        major = A_END_KM + (a_start - A_END_KM) * f * f
        minor = MINOR_RATIO * major
        u, v = _draw(self.seed)
        _, _, north, east = _along(self.launch, self.bearing_deg, self.range_km)
        azimuth = math.degrees(math.atan2(east, north)) % 360.0
        centre = destination(self.impact.lat, self.impact.lon, azimuth, u * major / 2)
        centre = destination(centre[0], centre[1], azimuth + 90.0, v * minor / 2)
        return Ellipse(
            lat=centre[0],
            lon=centre[1],
            semi_major_km=major,
            semi_minor_km=minor,
            orientation_deg=azimuth % 180.0,
        )

    def _check_time(self, t: float) -> None:
        if not math.isfinite(t) or not 0.0 <= t <= self.duration_s:
            raise BadInput(
                f"trajectory: time {t!r} s is outside the flight (0 to {self.duration_s:.1f} s)"
            )


def plan(
    lat: float,
    lon: float,
    bearing_deg: float,
    *,
    range_km: float | None,
    apogee_km: float | None,
    seed: str = "",
    boost_s: float = BOOST_S,
    terminal_km: float = TERMINAL_KM,
    where: str = "launch",
) -> Trajectory:
    """The flight from (lat, lon) on ``bearing_deg``; BadInput naming ``where`` and the
    parameter when the launch has no trajectory (neither range nor apogee) or a value is out
    of range."""
    _within(lat, "lat", -90.0, 90.0, where)
    _within(lon, "lon", -180.0, 180.0, where)
    _within(bearing_deg, "bearing_deg", 0.0, 360.0, where)
    _within(boost_s, "boost_s", 0.0, 3_600.0, where)
    _within(terminal_km, "terminal_km", 0.0, MAX_ALTITUDE_KM, where)
    if range_km is None:
        if apogee_km is None:
            raise BadInput(
                f"{where}: no trajectory: both the range (distance_km) and the apogee "
                "(apogee_km) are unknown"
            )
        range_km = 4.0 * apogee_km
    elif apogee_km is None:
        apogee_km = range_km / 4.0
    _positive(range_km, "range_km", MAX_RANGE_KM, where)
    _positive(apogee_km, "apogee_km", MAX_ALTITUDE_KM, where)
    r_a = EARTH_RADIUS_KM + apogee_km
    k = _k(r_a)
    beta_end = math.acos(math.sqrt(EARTH_RADIUS_KM / r_a))
    fall_s = k * (beta_end + math.sin(beta_end) * math.cos(beta_end))
    duration = 2.0 * fall_s
    ground = range_km / duration
    vertical = (r_a / k) * math.tan(beta_end)
    if max(ground, vertical) >= MAX_SPEED_KM_S:
        raise BadInput(
            f"{where}: range {range_km:g} km with apogee {apogee_km:g} km needs a speed of "
            f"{math.hypot(ground, vertical):.1f} km/s, beyond any ballistic missile's"
        )
    # the instant of the fall at which the missile passes below the terminal altitude
    floor_km = min(terminal_km, apogee_km / 2)
    beta_t = math.acos(math.sqrt((EARTH_RADIUS_KM + floor_km) / r_a))
    terminal_start = duration / 2 + k * (beta_t + math.sin(beta_t) * math.cos(beta_t))
    impact_lat, impact_lon, _, _ = _along(Position(lat, lon), bearing_deg, range_km)
    return Trajectory(
        launch=Position(lat, lon, 0.0),
        bearing_deg=bearing_deg,
        range_km=range_km,
        apogee_km=apogee_km,
        duration_s=duration,
        boost_end_s=min(boost_s, duration / 4),
        terminal_start_s=terminal_start,
        impact=Position(impact_lat, impact_lon, 0.0),
        seed=seed,
    )


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """The great-circle distance in km on the model's sphere (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def initial_bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """The azimuth, degrees clockwise from north, at which the great circle leaves point 1."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(y, x)) % 360.0


# ---------------------------------------------------------------- geometry


def _along(start: Position, bearing_deg: float, s_km: float) -> tuple[float, float, float, float]:
    """The point ``s_km`` along the great circle leaving ``start`` on ``bearing_deg``, and the
    north and east components of the unit direction of travel there."""
    phi, lam = math.radians(start.lat), math.radians(start.lon)
    alpha = math.radians(bearing_deg)
    a = (math.cos(phi) * math.cos(lam), math.cos(phi) * math.sin(lam), math.sin(phi))
    east0 = (-math.sin(lam), math.cos(lam), 0.0)
    north0 = (-math.sin(phi) * math.cos(lam), -math.sin(phi) * math.sin(lam), math.cos(phi))
    d = tuple(math.cos(alpha) * n + math.sin(alpha) * e for n, e in zip(north0, east0, strict=True))
    delta = s_km / EARTH_RADIUS_KM
    p = tuple(math.cos(delta) * ai + math.sin(delta) * di for ai, di in zip(a, d, strict=True))
    tangent = tuple(
        -math.sin(delta) * ai + math.cos(delta) * di for ai, di in zip(a, d, strict=True)
    )
    lat = math.degrees(math.asin(max(-1.0, min(1.0, p[2]))))
    lon = math.degrees(math.atan2(p[1], p[0]))
    lam2, phi2 = math.radians(lon), math.radians(lat)
    east = -math.sin(lam2) * tangent[0] + math.cos(lam2) * tangent[1]
    north = (
        -math.sin(phi2) * math.cos(lam2) * tangent[0]
        - math.sin(phi2) * math.sin(lam2) * tangent[1]
        + math.cos(phi2) * tangent[2]
    )
    return lat, lon, north, east


def destination(lat: float, lon: float, bearing_deg: float, s_km: float) -> tuple[float, float]:
    """The point ``s_km`` from (lat, lon) along the great circle leaving at ``bearing_deg``
    (clockwise from north; a negative distance goes the other way), on a sphere of radius
    ``EARTH_RADIUS_KM``: (lat, lon) in degrees, the longitude in [-180, 180]."""
    if s_km < 0:
        s_km, bearing_deg = -s_km, bearing_deg + 180.0
    found = _along(Position(lat, lon), bearing_deg % 360.0, s_km)
    return found[0], found[1]


# ---------------------------------------------------------------- the radial fall


def _k(r_a: float) -> float:
    return math.sqrt(r_a**3 / (2 * MU_KM3_S2))


def _beta(tau: float, k: float) -> float:
    """β in [0, π/2] with k (β + sin β cos β) = τ: Newton's method kept inside a bracket that
    shrinks at each step (bisection when a Newton step would leave it)."""
    target = tau / k
    low, high = 0.0, math.pi / 2
    beta = min(target / 2, high)  # the root of the tangent at 0
    for _ in range(100):
        f = beta + math.sin(beta) * math.cos(beta) - target
        if f > 0:
            high = beta
        else:
            low = beta
        slope = 2 * math.cos(beta) ** 2
        step = beta - f / slope if slope > 0 else math.inf
        following = step if low < step < high else (low + high) / 2
        if abs(following - beta) < 1e-15 or high - low < 1e-15:
            return following
        beta = following
    return beta


def _draw(seed: str) -> tuple[float, float]:
    digest = hashlib.sha256(b"gsomia/trajectory/v1/impact-error\x00" + seed.encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64 * 2 - 1
    v = int.from_bytes(digest[8:16], "big") / 2**64 * 2 - 1
    return u, v


def _within(value: float, name: str, low: float, high: float, where: str) -> None:
    if not math.isfinite(value) or not low <= value <= high:
        raise BadInput(f"{where}: {name} {value!r} is not a number from {low:g} to {high:g}")


def _positive(value: float, name: str, high: float, where: str) -> None:
    if not math.isfinite(value) or not 0.0 < value <= high:
        raise BadInput(f"{where}: {name} {value!r} is not a number above 0 and at most {high:g}")


__all__ = [
    "EARTH_RADIUS_KM",
    "Trajectory",
    "destination",
    "great_circle_km",
    "initial_bearing_deg",
    "plan",
]
