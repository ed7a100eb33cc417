"""Whose territory or (approximate) exclusive economic zone a point lies in.

A `ZoneGrid` is a raster over a box (the packaged one: the console map's, widened to the
south-east islands): each cell (``cell_deg`` degrees square, rows from the south, columns from
the west) is nobody's, a country's land (its territory) or the sea within 200 nautical miles of
that country's land and nearer to it than to any other country's land (an equidistance
approximation of its EEZ, not the legal zone). The grid is made
by ``tools/make_zones.py`` from Natural Earth (see `gsomia.data.zones`).

This module is pure: the value, its lookups and the parser of its JSON form.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Final

from gsomia.errors import BadInput

FORMAT: Final = "gsomia-zones"
VERSION: Final = 1
EEZ_SUFFIX: Final = "-eez"
_CODE: Final = re.compile(r"^[A-Z]{3}(-eez)?$")
_FIELDS: Final = frozenset(
    ("format", "version", "source", "bbox", "cell_deg", "rows", "cols", "codes", "runs")
)
MAX_CELLS: Final = 4_000_000


@dataclass(frozen=True, slots=True)
class Zone:
    """A country's territory (``territory`` true: its land) or its approximate EEZ (sea)."""

    party: str
    territory: bool

    @property
    def code(self) -> str:
        return self.party if self.territory else self.party + EEZ_SUFFIX


@dataclass(frozen=True, slots=True)
class ZoneGrid:
    west: float
    south: float
    east: float
    north: float
    cell_deg: float
    rows: int
    cols: int
    zones: tuple[Zone | None, ...]  # the legend: index 0 is nobody's
    cells: bytes  # rows * cols legend indexes, row-major from the south-west corner
    source: str

    def covers(self, lat: float, lon: float) -> bool:
        """Whether the grid says anything about (lat, lon) (its box, edges included)."""
        return self.south <= lat <= self.north and self.west <= lon <= self.east

    def where(self, lat: float, lon: float) -> Zone | None:
        """The zone at (lat, lon), None for nobody's; BadInput outside the grid's box (the
        grid does not know, so it does not say "nobody's")."""
        if not (math.isfinite(lat) and math.isfinite(lon)) or not self.covers(lat, lon):
            raise BadInput(
                f"zones: ({lat!r}, {lon!r}) is outside the grid's box "
                f"{self.west:g}-{self.east:g} E, {self.south:g}-{self.north:g} N"
            )
        row = min(int((lat - self.south) / self.cell_deg), self.rows - 1)
        col = min(int((lon - self.west) / self.cell_deg), self.cols - 1)
        return self.zones[self.cells[row * self.cols + col]]

    def zone_at(self, lat: float, lon: float) -> str | None:
        """The party whose territory or approximate EEZ (lat, lon) lies in, None for nobody's."""
        zone = self.where(lat, lon)
        return None if zone is None else zone.party


def parse_zone_grid(obj: object, *, source: str) -> ZoneGrid:
    """The grid from its JSON form (tools/make_zones.py); BadInput naming ``source`` and the
    field when anything is out of place."""
    if not isinstance(obj, dict):
        raise BadInput(f"{source}: the zones file must be a JSON object")
    missing = sorted(_FIELDS - set(obj))
    unknown = sorted(set(obj) - _FIELDS)
    if missing or unknown:
        raise BadInput(f"{source}: missing field(s) {missing}, unknown field(s) {unknown}")
    if obj["format"] != FORMAT or obj["version"] != VERSION:
        raise BadInput(f"{source}: 'format' and 'version' must be {FORMAT!r} and {VERSION}")
    if not isinstance(obj["source"], str) or not obj["source"].strip():
        raise BadInput(f"{source}: 'source' must credit the data's origin")
    west, south, east, north = _bbox(obj["bbox"], source)
    cell = obj["cell_deg"]
    if isinstance(cell, bool) or not isinstance(cell, int | float) or not 0 < cell <= 1:
        raise BadInput(f"{source}: 'cell_deg' must be a number above 0 and at most 1")
    rows, cols = _count(obj["rows"], "rows", source), _count(obj["cols"], "cols", source)
    if (
        abs(rows * cell - (north - south)) > cell / 2
        or abs(cols * cell - (east - west)) > cell / 2
        or rows * cols > MAX_CELLS
    ):
        raise BadInput(f"{source}: 'rows' and 'cols' do not tile 'bbox' with 'cell_deg'")
    zones = _legend(obj["codes"], source)
    cells = _runs(obj["runs"], rows, cols, len(zones), source)
    return ZoneGrid(west, south, east, north, float(cell), rows, cols, zones, cells, obj["source"])


def _bbox(value: object, source: str) -> tuple[float, float, float, float]:
    if (
        not isinstance(value, list)
        or len(value) != 4
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        raise BadInput(f"{source}: 'bbox' must be [west, south, east, north]")
    west, south, east, north = (float(v) for v in value)
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise BadInput(f"{source}: 'bbox' {value} is not a box west < east, south < north")
    return west, south, east, north


def _count(value: object, name: str, source: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100_000:
        raise BadInput(f"{source}: {name!r} must be a whole number from 1 to 100000")
    return value


def _legend(value: object, source: str) -> tuple[Zone | None, ...]:
    if not isinstance(value, list) or not value or value[0] != "" or len(value) > 256:
        raise BadInput(f"{source}: 'codes' must be a list of up to 256 codes, the first ''")
    zones: list[Zone | None] = [None]
    for i, code in enumerate(value[1:], start=1):
        if not isinstance(code, str) or not _CODE.match(code):
            raise BadInput(f"{source}: codes[{i}] must be a party code such as 'JPN' or 'JPN-eez'")
        zones.append(Zone(code[:3], territory=not code.endswith(EEZ_SUFFIX)))
    if len(set(value)) != len(value):
        raise BadInput(f"{source}: 'codes' lists a code twice")
    return tuple(zones)


def _runs(value: object, rows: int, cols: int, legend: int, source: str) -> bytes:
    if not isinstance(value, list) or len(value) != rows:
        raise BadInput(f"{source}: 'runs' must be a list of {rows} rows")
    out = bytearray()
    for r, row in enumerate(value):
        where = f"{source}: runs[{r}]"
        if not isinstance(row, list) or len(row) % 2:
            raise BadInput(f"{where}: must be a list of (code index, length) pairs")
        width = 0
        for i in range(0, len(row), 2):
            code, length = row[i], row[i + 1]
            if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code < legend:
                raise BadInput(f"{where}[{i}]: code index must be from 0 to {legend - 1}")
            if isinstance(length, bool) or not isinstance(length, int) or length < 1:
                raise BadInput(f"{where}[{i + 1}]: run length must be a whole number above 0")
            width += length
            if width > cols:
                raise BadInput(f"{where}: runs cover more than {cols} cells")
            out.extend(bytes((code,)) * length)
        if width != cols:
            raise BadInput(f"{where}: runs cover {width} cells, expected {cols}")
    return bytes(out)
