# ruff: noqa: INP001 - a standalone script, not a package
"""Make the zones raster (``src/gsomia/data/zones.json``): whose territory or (approximate)
exclusive economic zone each cell of the map's box lies in.

A one-off tool, not run by the tests; it needs numpy. The land is Natural Earth's 1:50m
admin-0 countries (public domain), as the npm package ``world-atlas`` (ISC licence) ships them
in TopoJSON, countries named by their ISO 3166 numeric code::

    cd "$(mktemp -d)" && npm pack world-atlas@2 && tar xzf world-atlas-*.tgz
    python tools/make_zones.py package/countries-50m.json src/gsomia/data/zones.json

The rules (an approximation, NOT the legal zones: no negotiated boundaries, no baselines, no
account of disputed islands beyond Natural Earth's own attribution):

- a cell whose centre lies on a country's land (even-odd rule over its rings) is that
  country's territory (code ``KOR``, ``JPN``...);
- a sea cell belongs to the country whose land (any vertex of its rings, the rings densified
  to at most DENSIFY degrees between vertices) is nearest, great-circle, if that land is within
  200 nautical miles (370.4 km): code ``KOR-eez``, ``JPN-eez``... (equidistance: each cell goes
  to the nearest land, so two zones meet on the median line);
- every other cell is nobody's (code index 0), and so is a cell nearest to a country that is
  not one of CODES.

The box is the console map's (120-150 E, 30-46 N) widened to 119-155 E, 20-47 N, so that
Okinawa, the Sakishima islands, the Ogasawara islands and the seas around them (and the northern
Mariana Islands' zone, USA's) are in it. Land outside the box counts as a neighbour (the
Philippines, Sakhalin north of 47 N): distances are measured to every vertex within the wider
box NEAR. Islands smaller than a cell or missing from the 1:50m data (Okinotorishima,
Minamitorishima) are not land here, and their zones are missing or partial.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
from make_coastline import Point, decode_arcs, ring  # the sibling script: TopoJSON arcs

WEST, EAST, SOUTH, NORTH = 119.0, 155.0, 20.0, 47.0  # the map's box and the islands south-east
CELL = 0.05  # degrees per cell
NEAR = (100.0, 175.0, 10.0, 65.0)  # west, east, south, north: land that can be a neighbour
DENSIFY = 0.02  # degrees: the longest edge between two vertices used for distances
EEZ_KM = 370.4  # 200 nautical miles
EARTH_KM = 6371.0088
CODES = {
    "410": "KOR",
    "392": "JPN",
    "408": "PRK",
    "156": "CHN",
    "643": "RUS",
    "158": "TWN",
    "840": "USA",
    "580": "USA",  # the Northern Mariana Islands (a US commonwealth): its EEZ reaches 20 N
    "316": "USA",  # Guam
}


def countries(topology: dict[str, Any]) -> dict[str, list[list[Point]]]:
    """Every country's rings (outer and holes), by ISO numeric id."""
    arcs = decode_arcs(topology)
    found: dict[str, list[list[Point]]] = {}
    for geometry in topology["objects"]["countries"]["geometries"]:
        if geometry["type"] not in {"Polygon", "MultiPolygon"}:
            continue
        ident = str(geometry.get("id", geometry["properties"]["name"]))
        polygons = geometry["arcs"] if geometry["type"] == "MultiPolygon" else [geometry["arcs"]]
        found.setdefault(ident, []).extend(ring(arcs, r) for polygon in polygons for r in polygon)
    return found


def land_raster(rings: list[list[Point]], lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """Cells whose centre is inside the rings (even-odd), by scanline per row."""
    inside = np.zeros((len(lats), len(lons)), dtype=bool)
    edges = []
    for points in rings:
        a = np.asarray(points)
        b = np.roll(a, -1, axis=0)
        edges.append(np.hstack([a, b]))
    if not edges:
        return inside
    e = np.vstack(edges)
    x1, y1, x2, y2 = e[:, 0], e[:, 1], e[:, 2], e[:, 3]
    for row, lat in enumerate(lats):
        crosses = (y1 > lat) != (y2 > lat)
        if not crosses.any():
            continue
        xs = x1[crosses] + (lat - y1[crosses]) * (x2[crosses] - x1[crosses]) / (
            y2[crosses] - y1[crosses]
        )
        # a cell is inside when an odd number of crossings lie west of its centre
        count = np.searchsorted(np.sort(xs), lons)
        inside[row] = (count % 2) == 1
    return inside


def unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    phi, lam = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)], axis=-1)


def coast_points(rings: list[list[Point]]) -> np.ndarray:
    west, east, south, north = NEAR
    out: list[Point] = []
    for points in rings:
        for (xa, ya), (xb, yb) in zip(points, points[1:] + points[:1], strict=True):
            steps = max(1, math.ceil(max(abs(xb - xa), abs(yb - ya)) / DENSIFY))
            out.extend(
                (xa + (xb - xa) * k / steps, ya + (yb - ya) * k / steps) for k in range(steps)
            )
    a = np.asarray(out) if out else np.zeros((0, 2))
    keep = (a[:, 0] >= west) & (a[:, 0] <= east) & (a[:, 1] >= south) & (a[:, 1] <= north)
    return a[keep]


def nearest_km(cells: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Great-circle km from each cell (unit vectors) to the nearest point (lon, lat)."""
    if len(points) == 0:
        return np.full(len(cells), np.inf)
    q = unit_vectors(points[:, 1], points[:, 0])
    best = np.full(len(cells), -1.0)
    for start in range(0, len(cells), 4096):
        dots = cells[start : start + 4096] @ q.T
        best[start : start + 4096] = dots.max(axis=1)
    return np.arccos(np.clip(best, -1.0, 1.0)) * EARTH_KM


def main(source: Path, target: Path) -> None:
    topology = json.loads(source.read_text(encoding="utf-8"))
    rows, cols = round((NORTH - SOUTH) / CELL), round((EAST - WEST) / CELL)
    lats = SOUTH + (np.arange(rows) + 0.5) * CELL
    lons = WEST + (np.arange(cols) + 0.5) * CELL
    grid_lat, grid_lon = np.meshgrid(lats, lons, indexing="ij")
    cells = unit_vectors(grid_lat.ravel(), grid_lon.ravel())
    legend = [""]
    for code in dict.fromkeys(CODES.values()):  # each party once, though several ids name it
        legend.extend((code, f"{code}-eez"))
    zone = np.zeros((rows, cols), dtype=np.int16)
    land_any = np.zeros((rows, cols), dtype=bool)
    best_km = np.full(rows * cols, np.inf)
    best_code = np.zeros(rows * cols, dtype=np.int16)  # 0: nearest land is nobody's we name
    for ident, rings in sorted(countries(topology).items()):
        points = coast_points(rings)
        if len(points) == 0:
            continue
        code = CODES.get(ident)
        land = land_raster(rings, lats, lons)
        if code is not None:
            zone[land & ~land_any] = legend.index(code)
        land_any |= land
        km = nearest_km(cells, points)
        nearer = km < best_km
        best_km[nearer] = km[nearer]
        best_code[nearer] = legend.index(f"{code}-eez") if code is not None else 0
        print(f"{ident} {code or '-'}: {len(points)} points, {int(land.sum())} land cells")  # noqa: T201
    sea = (~land_any).ravel() & (best_km <= EEZ_KM)
    flat = zone.ravel()
    flat[sea] = best_code[sea]
    zone = flat.reshape(rows, cols)
    runs = []
    for row in zone:
        out: list[int] = []
        start = 0
        for col in range(1, cols + 1):
            if col == cols or row[col] != row[start]:
                out.extend((int(row[start]), col - start))
                start = col
        runs.append(out)
    document = {
        "format": "gsomia-zones",
        "version": 1,
        "source": "Natural Earth 1:50m admin-0 countries (public domain, naturalearthdata.com), "
        "from the npm package world-atlas 2 (ISC licence, Mike Bostock); made by "
        "tools/make_zones.py. Territory = a country's land; '-eez' = sea within 200 nautical "
        "miles of its land and nearer to it than to any other country's land (equidistance): "
        "an approximation, not the legal exclusive economic zones",
        "bbox": [WEST, SOUTH, EAST, NORTH],
        "cell_deg": CELL,
        "rows": rows,
        "cols": cols,
        "codes": legend,
        "runs": runs,
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(document, separators=(",", ":"))
    text = text.replace('"runs":[[', '"runs":[\n[').replace("],[", "],\n[")
    target.write_text(text + "\n", encoding="utf-8")
    print(f"{rows}x{cols} cells, {target.stat().st_size} bytes -> {target}")  # noqa: T201


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
