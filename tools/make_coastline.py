# ruff: noqa: INP001 - a standalone script, not a package
"""Make the console's coastline data set (``src/gsomia/console/data/coastline.json``).

A one-off tool, not run by the tests. The land polygons are Natural Earth's 1:50m land (public
domain), as the npm package ``world-atlas`` (ISC licence) ships them in TopoJSON::

    cd "$(mktemp -d)" && npm pack world-atlas@2 && tar xzf world-atlas-*.tgz
    python tools/make_coastline.py package/land-50m.json src/gsomia/console/data/coastline.json

It decodes the TopoJSON arcs (quantised, delta-encoded), rebuilds every polygon ring, clips
each ring to the map's box around the Korean peninsula and Japan (Sutherland-Hodgman against
the rectangle), simplifies it (Douglas-Peucker) and writes the rings as [lon, lat] pairs with
two decimals, under a header that credits the source.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

WEST, EAST, SOUTH, NORTH = 119.0, 151.0, 29.0, 47.0  # a little beyond the drawn 120-150 E, 30-46 N
TOLERANCE = 0.02  # degrees: Douglas-Peucker tolerance
MIN_POINTS = 4

Point = tuple[float, float]


def decode_arcs(topology: dict[str, Any]) -> list[list[Point]]:
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x += dx
            y += dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)
    return arcs


def ring(arcs: list[list[Point]], indexes: list[int]) -> list[Point]:
    points: list[Point] = []
    for index in indexes:
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        points.extend(arc if not points else arc[1:])
    return points


def rings(topology: dict[str, Any]) -> list[list[Point]]:
    arcs = decode_arcs(topology)
    found: list[list[Point]] = []
    for geometry in topology["objects"]["land"]["geometries"]:
        polygons = geometry["arcs"] if geometry["type"] == "MultiPolygon" else [geometry["arcs"]]
        for polygon in polygons:
            found.extend(ring(arcs, r) for r in polygon)
    return found


def clip(points: list[Point]) -> list[Point]:
    """Sutherland-Hodgman: the ring clipped to the box (closed polygon in, closed polygon out).
    Each edge is (axis, bound, keep the side above the bound)."""
    out = points
    for axis, bound, above in (
        (0, WEST, True),
        (0, EAST, False),
        (1, SOUTH, True),
        (1, NORTH, False),
    ):
        source, out = out, []
        if not source:
            break
        previous = source[-1]
        for current in source:
            if _inside(current, axis, bound, above):
                if not _inside(previous, axis, bound, above):
                    out.append(_cross(previous, current, axis, bound))
                out.append(current)
            elif _inside(previous, axis, bound, above):
                out.append(_cross(previous, current, axis, bound))
            previous = current
    return out


def _inside(p: Point, axis: int, bound: float, above: bool) -> bool:
    return p[axis] >= bound if above else p[axis] <= bound


def _cross(a: Point, b: Point, axis: int, bound: float) -> Point:
    t = (bound - a[axis]) / (b[axis] - a[axis])
    other = 1 - axis
    value = a[other] + t * (b[other] - a[other])
    return (bound, value) if axis == 0 else (value, bound)


def simplify(points: list[Point], tolerance: float) -> list[Point]:
    if len(points) < 3:
        return points
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        (x1, y1), (x2, y2) = points[first], points[last]
        length = math.hypot(x2 - x1, y2 - y1)
        worst, index = 0.0, -1
        for i in range(first + 1, last):
            x0, y0 = points[i]
            if length == 0:
                d = math.hypot(x0 - x1, y0 - y1)
            else:
                d = abs((y2 - y1) * x0 - (x2 - x1) * y0 + x2 * y1 - y2 * x1) / length
            if d > worst:
                worst, index = d, i
        if worst > tolerance and index > 0:
            keep[index] = True
            stack.extend(((first, index), (index, last)))
    return [p for p, k in zip(points, keep, strict=True) if k]


def main(source: Path, target: Path) -> None:
    topology = json.loads(source.read_text(encoding="utf-8"))
    out = []
    for points in rings(topology):
        clipped = clip(points)
        if len(clipped) < MIN_POINTS:
            continue
        simple = simplify(clipped, TOLERANCE)
        rounded = [[round(x, 2), round(y, 2)] for x, y in simple]
        deduped = [p for i, p in enumerate(rounded) if i == 0 or p != rounded[i - 1]]
        if len(deduped) >= MIN_POINTS:
            out.append(deduped)
    document = {
        "source": "Natural Earth 1:50m land (public domain, naturalearthdata.com), "
        "from the npm package world-atlas 2 (ISC licence, Mike Bostock); "
        "made by tools/make_coastline.py",
        "bbox": [WEST, SOUTH, EAST, NORTH],
        "rings": out,
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(document, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"{len(out)} rings, {target.stat().st_size} bytes -> {target}")  # noqa: T201


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
