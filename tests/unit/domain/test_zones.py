"""Territory and approximate EEZ: the packaged raster's answers, and the strict parser."""

from __future__ import annotations

import copy
import json
from importlib import resources
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gsomia.data.zones import load_zones
from gsomia.domain.trajectory import plan
from gsomia.domain.zones import Zone, ZoneGrid, parse_zone_grid
from gsomia.errors import BadInput


def _east(lat: float, lon: float, km: float) -> tuple[float, float]:
    """The point ``km`` along the great circle leaving (lat, lon) due east."""
    impact = plan(lat, lon, 90.0, range_km=km, apogee_km=10.0).impact
    return impact.lat, impact.lon


@pytest.mark.parametrize(
    ("name", "lat", "lon", "code"),
    [
        ("Tokyo", 35.68, 139.69, "JPN"),
        ("Seoul", 37.57, 126.98, "KOR"),
        ("Pyongyang", 39.03, 125.75, "PRK"),
        ("Vladivostok", 43.13, 131.95, "RUS"),
        ("Shanghai", 31.23, 121.47, "CHN"),
        ("Jeju", 33.37, 126.53, "KOR"),
        ("Tsushima", 34.42, 129.33, "JPN"),
        ("Sapporo", 43.06, 141.35, "JPN"),
        ("Naha, Okinawa", 26.21, 127.68, "JPN"),
        ("Ishigaki", 24.40, 124.18, "JPN"),
        ("Miyako", 24.78, 125.30, "JPN"),
        ("Taipei", 25.03, 121.56, "TWN"),
    ],
)
def test_land_is_its_country_territory(name: str, lat: float, lon: float, code: str) -> None:
    zones = load_zones()
    assert zones.where(lat, lon) == Zone(code, territory=True), name
    assert zones.zone_at(lat, lon) == code


def test_sea_off_niigata_is_japan_eez() -> None:
    # 100 km north-west of Niigata (37.92 N, 139.04 E), in the Sea of Japan
    flight = plan(37.92, 139.04, 315.0, range_km=100.0, apogee_km=10.0)
    zone = load_zones().where(flight.impact.lat, flight.impact.lon)
    assert zone == Zone("JPN", territory=False)
    assert zone.code == "JPN-eez"


@pytest.mark.parametrize(
    ("name", "lat", "lon", "party"),
    [
        ("east of Okinawa", 26.3, 129.0, "JPN"),
        ("south of Ishigaki", 23.5, 124.2, "JPN"),
        ("off Iwo Jima", 24.5, 141.0, "JPN"),
        ("north of the Mariana Islands", 21.0, 145.0, "USA"),
    ],
)
def test_the_seas_south_of_the_map_have_their_zones(
    name: str, lat: float, lon: float, party: str
) -> None:
    assert load_zones().where(lat, lon) == Zone(party, territory=False), name


def test_yellow_sea_is_split_at_the_median_line() -> None:
    zones = load_zones()
    # 35.5 N: China's coast near 120.3 E, Korea's near 126.4 E
    assert zones.where(35.5, 122.0) == Zone("CHN", territory=False)
    assert zones.where(35.5, 125.3) == Zone("KOR", territory=False)
    assert zones.zone_at(35.5, 122.0) != "KOR"


def test_pacific_east_of_japan() -> None:
    zones = load_zones()
    # Cape Inubo (35.70 N, 140.87 E): 300 km east is within 200 nautical miles, 500 km is not
    assert zones.where(*_east(35.70, 140.87, 300.0)) == Zone("JPN", territory=False)
    assert zones.where(*_east(35.70, 140.87, 500.0)) is None
    assert zones.zone_at(*_east(35.70, 140.87, 500.0)) is None


def test_outside_the_box_is_not_nobodys_but_refused() -> None:
    zones = load_zones()
    assert not zones.covers(35.0, 160.0)
    assert not zones.covers(19.9, 130.0)
    with pytest.raises(BadInput, match="outside the grid's box"):
        zones.zone_at(35.0, 160.0)
    with pytest.raises(BadInput, match="outside the grid's box"):
        zones.zone_at(19.9, 130.0)
    with pytest.raises(BadInput, match="outside the grid's box"):
        zones.zone_at(float("nan"), 130.0)


def test_the_file_credits_its_sources() -> None:
    zones = load_zones()
    assert "Natural Earth" in zones.source
    assert "world-atlas" in zones.source
    assert "tools/make_zones.py" in zones.source
    assert (zones.west, zones.south, zones.east, zones.north) == (119.0, 20.0, 155.0, 47.0)


@settings(max_examples=200, deadline=None)
@given(lat=st.floats(20.0, 47.0), lon=st.floats(119.0, 155.0))
def test_every_point_of_the_box_has_an_answer(lat: float, lon: float) -> None:
    zones = load_zones()
    zone = zones.where(lat, lon)
    assert zones.zone_at(lat, lon) == (None if zone is None else zone.party)
    assert zone is None or zone.party in {"KOR", "JPN", "PRK", "CHN", "RUS", "TWN", "USA"}


# ---------------------------------------------------------------- the parser


def _packaged() -> dict[str, Any]:
    text = resources.files("gsomia.data").joinpath("zones.json").read_text(encoding="utf-8")
    obj: dict[str, Any] = json.loads(text)
    return obj


def _small(rows: list[list[int]]) -> dict[str, Any]:
    return {
        "format": "gsomia-zones",
        "version": 1,
        "source": "test",
        "bbox": [0, 0, 3, len(rows)],
        "cell_deg": 1,
        "rows": len(rows),
        "cols": 3,
        "codes": ["", "KOR", "KOR-eez"],
        "runs": rows,
    }


@given(st.lists(st.lists(st.integers(0, 2), min_size=3, max_size=3), min_size=1, max_size=5))
def test_runs_decode_to_their_cells(cells: list[list[int]]) -> None:
    runs = []
    for row in cells:
        out: list[int] = []
        for code in row:
            if out and out[-2] == code:
                out[-1] += 1
            else:
                out.extend((code, 1))
        runs.append(out)
    grid = parse_zone_grid(_small(runs), source="t.json")
    legend: list[Zone | None] = [None, Zone("KOR", territory=True), Zone("KOR", territory=False)]
    for r, row in enumerate(cells):
        for c, code in enumerate(row):
            assert grid.where(r + 0.5, c + 0.5) == legend[code]


def test_the_edges_of_the_box_fall_in_its_last_cells() -> None:
    grid = parse_zone_grid(_small([[0, 2, 1, 1]]), source="t.json")
    assert isinstance(grid, ZoneGrid)
    assert grid.where(1.0, 3.0) == Zone("KOR", territory=True)
    assert grid.where(0.0, 0.0) is None


def _edit(path: str, value: object) -> dict[str, Any]:
    obj = copy.deepcopy(_small([[0, 3], [1, 1, 2, 2]]))
    if path.startswith("-"):
        del obj[path[1:]]
    else:
        obj[path] = value
    return obj


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ([], "must be a JSON object"),
        (_edit("-source", None), r"missing field\(s\) \['source'\]"),
        (_edit("extra", 1), r"unknown field\(s\) \['extra'\]"),
        (_edit("format", "other"), "'format' and 'version'"),
        (_edit("version", 2), "'format' and 'version'"),
        (_edit("source", " "), "'source' must credit"),
        (_edit("bbox", [0, 0, 3]), "'bbox' must be"),
        (_edit("bbox", [3, 0, 0, 2]), "is not a box"),
        (_edit("cell_deg", 0), "'cell_deg'"),
        (_edit("cell_deg", True), "'cell_deg'"),
        (_edit("rows", 3), "do not tile"),
        (_edit("cols", "3"), "'cols' must be a whole number"),
        (_edit("codes", ["KOR"]), "'codes' must be a list"),
        (_edit("codes", ["", "Korea"]), r"codes\[1\] must be a party code"),
        (_edit("codes", ["", "KOR", "KOR"]), "a code twice"),
        (_edit("runs", [[0, 3]]), "'runs' must be a list of 2 rows"),
        (_edit("runs", [[0, 3], [1]]), r"runs\[1\]: must be a list of .* pairs"),
        (_edit("runs", [[0, 3], [5, 3]]), r"runs\[1\]\[0\]: code index"),
        (_edit("runs", [[0, 3], [1, 0, 2, 3]]), r"runs\[1\]\[1\]: run length"),
        (_edit("runs", [[0, 3], [1, 2]]), r"runs\[1\]: runs cover 2 cells, expected 3"),
        (_edit("runs", [[0, 4], [1, 3]]), r"runs\[0\]: runs cover more than 3"),
    ],
)
def test_the_parser_refuses_a_malformed_file(obj: object, message: str) -> None:
    with pytest.raises(BadInput, match=rf"^t\.json: .*{message}"):
        parse_zone_grid(obj, source="t.json")


def test_the_packaged_file_parses_and_a_cut_one_does_not() -> None:
    obj = _packaged()
    assert parse_zone_grid(obj, source="zones.json").rows == obj["rows"]
    obj["runs"] = obj["runs"][:-1]
    with pytest.raises(BadInput, match=r"zones\.json: 'runs' must be a list of 540 rows"):
        parse_zone_grid(obj, source="zones.json")
