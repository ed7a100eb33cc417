"""The live track map's server side: the map frame, an update as the console draws it, and the
warning when a predicted impact falls within a party's territory or approximate EEZ.

The frame is the launch map's (``gsomia.console.launchmap``: its projection, scale and
coastline, imported, not copied). An update (``gsomia.domain.tracks.TrackUpdate``, every number
already checked finite and in range) becomes the JSON the page's script draws from
(``update_view``): map coordinates in pixels beside the degrees, the predicted impact ellipse
as the outline of its projection (``ellipse_outline``), the route as words, the phase, whether
it is synthesized, and the zone of the predicted impact centre (``data.zones``' grid). Only
numbers reach the drawing; text reaches the page as text.

The ellipse is drawn as it lies on the ground: each point of its outline is the point at the
ellipse's radius in that direction from the centre (semi-axes in km, the major axis
``orientation_deg`` clockwise from north), found on the sphere and then projected. Scaling the
semi-axes by the map's scale alone would be off by up to 13 % east-west at the map's northern
edge (the projection's scale is true at 38° N only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC
from functools import lru_cache
from typing import Any, Final

from gsomia.console.launchmap import HEIGHT, WIDTH, coastline, project
from gsomia.data.zones import load_zones
from gsomia.domain.scenario import Scenario
from gsomia.domain.tracks import Ellipse, TrackUpdate
from gsomia.domain.trajectory import destination
from gsomia.domain.zones import Zone

ELLIPSE_STEPS: Final = 48  # points on an ellipse's outline
ZONE_NOTE: Final = "approximate EEZ (equidistance from Natural Earth land; not legal boundaries)"
SYNTHESIZED: Final = "SYNTHESIZED — not real sensor data"


@dataclass(frozen=True, slots=True)
class MapFrame:
    """What every track map shares: its size in pixels and the coastline's SVG path data."""

    width: float
    height: float
    coast: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Segment:
    """A run of consecutive updates seen by one party's sensors, as SVG polyline points."""

    party: str
    points: str


def frame() -> MapFrame:
    return MapFrame(WIDTH, HEIGHT, coastline())


def ellipse_outline(e: Ellipse, steps: int = ELLIPSE_STEPS) -> tuple[tuple[float, float], ...]:
    """The outline of the impact ellipse on the map, ``steps`` points in pixels."""
    return tuple(project(lat, lon) for lat, lon in ellipse_ring(e, steps))


@lru_cache(maxsize=4096)
def ellipse_ring(e: Ellipse, steps: int = ELLIPSE_STEPS) -> tuple[tuple[float, float], ...]:
    """The outline of the impact ellipse on the ground, ``steps`` points (lat, lon) in degrees.
    Cached by the ellipse's value: every subscriber, page and route of one update shares it."""
    theta = math.radians(e.orientation_deg)
    points = []
    for i in range(steps):
        t = 2.0 * math.pi * i / steps
        along, across = e.semi_major_km * math.cos(t), e.semi_minor_km * math.sin(t)
        # the major axis points at bearing theta, the minor at theta + 90°
        east = along * math.sin(theta) + across * math.cos(theta)
        north = along * math.cos(theta) - across * math.sin(theta)
        bearing = math.degrees(math.atan2(east, north))
        points.append(destination(e.lat, e.lon, bearing, math.hypot(east, north)))
    return tuple(points)


@lru_cache(maxsize=4096)
def impact_zone(lat: float, lon: float) -> Zone | None:
    """The territory or approximate EEZ a predicted impact centre lies in; None for nobody's
    and beyond the zones' box (no party's territory the map shows lies there). Cached: a
    track's centre moves little."""
    grid = load_zones()
    return grid.where(lat, lon) if grid.covers(lat, lon) else None


@dataclass(frozen=True, slots=True)
class ImpactZones:
    """Where a predicted impact falls: the zone of its centre (None for nobody's or outside the
    zone map), whether the centre is on the zone map at all, and the parties whose zones any
    point of the ellipse's outline reaches (sorted; the centre's included)."""

    centre: Zone | None
    mapped: bool
    reached: tuple[str, ...]


@lru_cache(maxsize=4096)
def impact_zones(e: Ellipse) -> ImpactZones:
    """The zones a predicted impact ellipse falls in: its centre's and every outline point's on
    the zone map (points off it say nothing). Cached by the ellipse's value."""
    grid = load_zones()
    centre = impact_zone(e.lat, e.lon)
    found = {centre.party} if centre is not None else set()
    for lat, lon in ellipse_ring(e):
        if grid.covers(lat, lon):
            zone = grid.where(lat, lon)
            if zone is not None:
                found.add(zone.party)
    return ImpactZones(centre, grid.covers(e.lat, e.lon), tuple(sorted(found)))


def country(scenario: Scenario, party: str) -> str:
    """A party's country as its policy names it ("Japan, Ministry of Defense" → "Japan")."""
    policy = scenario.policies.get(party)
    name = "" if policy is None else policy.name.partition(",")[0].strip()
    return name or party


def warning_text(
    zone: Zone | None, scenario: Scenario, here: str, reached: tuple[str, ...] = ()
) -> str:
    """The warning for a predicted impact whose centre is in ``zone`` and whose ellipse reaches
    the zones of the parties ``reached``: "" when neither is any party's (a zone of a country
    that is no party of the scenario raises no warning). The centre's party is named as
    "predicted impact within"; the other parties the ellipse reaches as "the predicted impact
    area reaches"; this node's own party (``here``) is said so."""
    parts = []
    if zone is not None and zone.party in scenario.policies:
        where = "on land" if zone.territory else "at sea, within the approximate EEZ"
        own = " — this node's party" if zone.party == here else ""
        parts.append(
            f"WARNING: predicted impact within {country(scenario, zone.party)}'s territory or "
            f"EEZ ({where}){own}"
        )
    others = [p for p in reached if p in scenario.policies and (zone is None or p != zone.party)]
    if others:
        names = " and ".join(f"{country(scenario, p)}'s" for p in others)
        own = " — this node's party" if here in others else ""
        lead = "and the" if parts else "WARNING: the"
        parts.append(f"{lead} predicted impact area reaches {names} territory or EEZ{own}")
    return "; ".join(parts)


def zone_text(found: ImpactZones) -> str:
    """What the console says of the zone map where the impact centre is off it (the map knows
    nothing there, which is not "nobody's")."""
    if found.mapped:
        return ""
    grid = load_zones()
    return (
        f"impact outside the zone map ({grid.west:g}-{grid.east:g}° E, "
        f"{grid.south:g}-{grid.north:g}° N): its zone is not known"
    )


def route_text(route: tuple[str, ...], here: str) -> str:
    """How an update came: "originated here", "direct from KOR", "from KOR via USA"."""
    if not route:
        return ""
    if route[0] == here:
        return "originated here"
    if len(route) == 1:
        return f"direct from {route[0]}"
    return f"from {route[0]} via {', '.join(route[1:])}"


def _xy(lat: float, lon: float) -> dict[str, float]:
    x, y = project(lat, lon)
    return {"x": x, "y": y, "lat": lat, "lon": lon}


def update_view(
    update: TrackUpdate, route: tuple[str, ...], *, scenario: Scenario, here: str
) -> dict[str, Any]:
    """One update as the page draws it (the console's own event JSON)."""
    impact = update.impact
    found = impact_zones(impact)
    zone = found.centre
    return {
        "track": update.track,
        "seq": update.seq,
        "at": update.to_json()["at"],
        "at_text": update.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "party": update.party,
        "sensor": update.sensor,
        "phase": update.phase.value,
        "synthesized": update.synthesized,
        "position": {
            **_xy(update.position.lat, update.position.lon),
            "alt_km": update.position.alt_km,
        },
        "launch": _xy(update.launch.lat, update.launch.lon),
        "impact": {
            **_xy(impact.lat, impact.lon),
            "semi_major_km": impact.semi_major_km,
            "semi_minor_km": impact.semi_minor_km,
            "orientation_deg": impact.orientation_deg,
            "outline": [[x, y] for x, y in ellipse_outline(impact)],
        },
        "route": list(route),
        "route_text": route_text(route, here),
        "zone": None if zone is None else zone.party,
        "land": False if zone is None else zone.territory,
        "reached": list(found.reached),
        "warning": warning_text(zone, scenario, here, found.reached),
        "zone_text": zone_text(found),
    }


def path_point(update: TrackUpdate) -> dict[str, Any]:
    """An update as a point of its track's path only (what ``segments`` needs): the page draws
    the whole path from every kept update but the ellipse and the card from the last only."""
    return {
        "track": update.track,
        "seq": update.seq,
        "party": update.party,
        "position": _xy(update.position.lat, update.position.lon),
        "path_only": True,
    }


def segments(views: list[dict[str, Any]]) -> tuple[Segment, ...]:
    """The path as runs of one sensor party each; a run starts at the previous run's last
    point, so the path stays joined where the seeing party changes."""
    runs: list[tuple[str, list[str]]] = []
    last_point: str | None = None
    for view in views:
        point = f"{view['position']['x']},{view['position']['y']}"
        if not runs or runs[-1][0] != view["party"]:
            runs.append((view["party"], [] if last_point is None else [last_point]))
        runs[-1][1].append(point)
        last_point = point
    return tuple(Segment(party, " ".join(points)) for party, points in runs)
