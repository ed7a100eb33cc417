"""The map of a launch report: launch point, flight path and predicted impact area, in SVG.

The launch is read from the report's own launch extension (``GSOMIA_LAUNCH_EXTENSION``,
``launch_block``), which carries the launch point and the predicted impact beside the missile:
the report alone draws its map. The report's ``location`` objects say the same for other tools
(MISP, OpenCTI), but each is an item of its own, so drawing from them would mean looking up
three more items through the user's visibility on every page for nothing the report lacks.

The map covers the Korean peninsula and Japan (120-150 E, 30-46 N) in an equirectangular
projection scaled by cos(38°), over the coastline shipped in ``data/coastline.json`` (Natural
Earth, public domain, via world-atlas; made by ``tools/make_coastline.py``). Only numbers reach
the drawing: every coordinate of a report is checked to be a finite float in range, and the
template writes the path data and positions this module computes; text (missile type, apogee,
range) is written by the template as escaped text.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from gsomia.node.stix import GSOMIA_LAUNCH_EXTENSION

WEST, EAST, SOUTH, NORTH = 120.0, 150.0, 30.0, 46.0
WIDTH = 720.0
_K = math.cos(math.radians(38.0))
SCALE = WIDTH / ((EAST - WEST) * _K)  # pixels per degree of longitude, times cos(38°)
HEIGHT = round((NORTH - SOUTH) * SCALE, 1)
KM_PER_DEGREE = 111.195  # on a sphere of radius 6371 km
PATH_STEPS = 48


@dataclass(frozen=True, slots=True)
class Spot:
    x: float
    y: float
    inside: bool


@dataclass(frozen=True, slots=True)
class LaunchMap:
    width: float
    height: float
    coast: tuple[str, ...]  # SVG path data of the land polygons
    launch: Spot
    path: str | None  # SVG path data of the great circle to the predicted impact
    impact: Spot | None
    impact_radius: float  # pixels
    impact_radius_km: float
    missile: str
    missile_type: str
    apogee_km: float | None
    distance_km: float | None
    launch_lat: float
    launch_lon: float
    impact_lat: float | None
    impact_lon: float | None


def project(lat: float, lon: float) -> tuple[float, float]:
    return (round((lon - WEST) * _K * SCALE, 1), round((NORTH - lat) * SCALE, 1))


def _spot(lat: float, lon: float) -> Spot:
    x, y = project(lat, lon)
    return Spot(x, y, WEST <= lon <= EAST and SOUTH <= lat <= NORTH)


@cache
def coastline() -> tuple[str, ...]:
    """The land polygons as SVG path data (read once)."""
    raw = resources.files("gsomia.console").joinpath("data", "coastline.json").read_bytes()
    rings = json.loads(raw)["rings"]
    paths = []
    for ring in rings:
        points = [project(float(lat), float(lon)) for lon, lat in ring]
        head, *rest = points
        paths.append(
            f"M{head[0]:.1f} {head[1]:.1f}" + "".join(f"L{x:.1f} {y:.1f}" for x, y in rest) + "Z"
        )
    return tuple(paths)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _point(value: object) -> tuple[float, float] | None:
    if not isinstance(value, list | tuple) or len(value) != 2:
        return None
    lat, lon = _number(value[0]), _number(value[1])
    if lat is None or lon is None or not -90 <= lat <= 90 or not -180 <= lon <= 180:
        return None
    return lat, lon


def _text(value: object, limit: int = 120) -> str:
    return value[:limit] if isinstance(value, str) else ""


def great_circle(
    a: tuple[float, float], b: tuple[float, float], steps: int
) -> list[tuple[float, float]]:
    """Points along the great circle from ``a`` to ``b`` (lat, lon in degrees)."""
    p1, l1, p2, l2 = (math.radians(v) for v in (*a, *b))
    v1 = (math.cos(p1) * math.cos(l1), math.cos(p1) * math.sin(l1), math.sin(p1))
    v2 = (math.cos(p2) * math.cos(l2), math.cos(p2) * math.sin(l2), math.sin(p2))
    dot = max(-1.0, min(1.0, sum(x * y for x, y in zip(v1, v2, strict=True))))
    omega = math.acos(dot)
    if omega < 1e-9:
        return [a, b]
    points = []
    for i in range(steps + 1):
        t = i / steps
        s1 = math.sin((1 - t) * omega) / math.sin(omega)
        s2 = math.sin(t * omega) / math.sin(omega)
        x, y, z = (s1 * u + s2 * v for u, v in zip(v1, v2, strict=True))
        points.append(
            (math.degrees(math.atan2(z, math.hypot(x, y))), math.degrees(math.atan2(y, x)))
        )
    return points


def launch_block(body: object) -> dict[str, Any] | None:
    """A STIX object's launch extension block (``GSOMIA_LAUNCH_EXTENSION``), or None."""
    if not isinstance(body, dict):
        return None
    extensions = body.get("extensions")
    block = extensions.get(GSOMIA_LAUNCH_EXTENSION) if isinstance(extensions, dict) else None
    return block if isinstance(block, dict) else None


def impact_radius_km(distance_km: float | None) -> float:
    """The radius of the predicted impact area: the data give a point; the area is 5 % of the
    range, at least 25 km (drawn on the map; the ``precision`` of the impact location)."""
    return max(25.0, 0.05 * (distance_km or 0.0))


def launch_map(info: Any) -> LaunchMap | None:
    """The map of a launch extension block; None if it has no valid launch point."""
    if not isinstance(info, dict):
        return None
    start = _point(info.get("launch_point"))
    if start is None:
        return None
    end = _point(info.get("predicted_impact"))
    distance = _number(info.get("distance_km"))
    apogee = _number(info.get("apogee_km"))
    path = None
    radius_km = 0.0
    if end is not None:
        xs = [project(lat, lon) for lat, lon in great_circle(start, end, PATH_STEPS)]
        path = f"M{xs[0][0]:.1f} {xs[0][1]:.1f}" + "".join(f"L{x:.1f} {y:.1f}" for x, y in xs[1:])
        radius_km = impact_radius_km(distance)
    return LaunchMap(
        width=WIDTH,
        height=HEIGHT,
        coast=coastline(),
        launch=_spot(*start),
        path=path,
        impact=None if end is None else _spot(*end),
        impact_radius=round(radius_km / KM_PER_DEGREE * SCALE, 1),
        impact_radius_km=round(radius_km),
        missile=_text(info.get("missile")),
        missile_type=_text(info.get("missile_type")),
        apogee_km=apogee,
        distance_km=distance,
        launch_lat=start[0],
        launch_lon=start[1],
        impact_lat=None if end is None else end[0],
        impact_lon=None if end is None else end[1],
    )
