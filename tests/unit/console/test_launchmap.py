"""The launch map draws numbers only: anything that is not a finite coordinate is no map."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gsomia.console.launchmap import (
    HEIGHT,
    WIDTH,
    coastline,
    great_circle,
    impact_radius_km,
    launch_block,
    launch_map,
    project,
)
from gsomia.node.stix import GSOMIA_LAUNCH_EXTENSION

PATH = re.compile(r"^M[-0-9. ]+(L[-0-9. ]+)*Z?$")


def test_the_coastline_is_drawn_inside_the_map() -> None:
    paths = coastline()
    assert len(paths) > 10
    assert all(PATH.match(d) for d in paths)
    x, y = project(37.5665, 126.978)  # Seoul
    assert 0 < x < WIDTH
    assert 0 < y < HEIGHT


def test_a_launch_report_gives_launch_point_path_and_impact_area() -> None:
    found = launch_map(
        {
            "missile": "Hwasong-15",
            "missile_type": "ICBM",
            "launch_point": [39.2, 125.67],
            "predicted_impact": [40.4, 136.6],
            "apogee_km": 4475,
            "distance_km": 950,
        }
    )
    assert found is not None
    assert found.launch.inside
    assert found.impact is not None
    assert found.impact.inside
    assert found.path is not None
    assert PATH.match(found.path)
    assert found.impact_radius_km == 48  # 5 % of 950 km
    assert (found.missile, found.missile_type) == ("Hwasong-15", "ICBM")


def test_the_launch_is_read_from_the_reports_launch_extension_only() -> None:
    block = {"extension_type": "property-extension", "launch_point": [39.2, 125.67]}
    assert launch_block({"extensions": {GSOMIA_LAUNCH_EXTENSION: block}}) == block
    other = "extension-definition--00000000-0000-4000-8000-000000000009"
    for body in (
        {"x_gsomia_launch": block},
        {"extensions": {other: block}},
        {"extensions": [block]},
        {"extensions": {GSOMIA_LAUNCH_EXTENSION: [39.2, 125.67]}},
        "not an object",
    ):
        assert launch_block(body) is None


def test_the_impact_area_is_five_percent_of_the_range_at_least_25_km() -> None:
    assert impact_radius_km(950.0) == 47.5
    assert impact_radius_km(100.0) == 25.0
    assert impact_radius_km(None) == 25.0


@pytest.mark.parametrize(
    "point",
    [
        None,
        "39.2,125.67",
        [39.2],
        [39.2, 125.67, 0],
        ["39.2", "125.67"],
        [True, 125.67],
        [float("nan"), 125.67],
        [39.2, float("inf")],
        [91.0, 125.67],
        [39.2, 181.0],
        ['"><script>', 1],
    ],
)
def test_anything_but_a_coordinate_pair_is_no_map(point: object) -> None:
    assert launch_map({"launch_point": point}) is None


def test_a_bad_impact_point_leaves_the_launch_point_alone() -> None:
    found = launch_map({"launch_point": [39.2, 125.67], "predicted_impact": ["x", 1]})
    assert found is not None
    assert found.impact is None
    assert found.path is None


def test_text_fields_are_cut_and_never_numbers_in_disguise() -> None:
    found = launch_map(
        {
            "launch_point": [39.2, 125.67],
            "missile": "x" * 500,
            "apogee_km": "100",
            "missile_type": 7,
        }
    )
    assert found is not None
    assert len(found.missile) == 120
    assert found.apogee_km is None
    assert found.missile_type == ""


@given(
    st.tuples(st.floats(-80, 80), st.floats(-179, 179)),
    st.tuples(st.floats(-80, 80), st.floats(-179, 179)),
)
def test_the_great_circle_starts_and_ends_at_its_points(
    a: tuple[float, float], b: tuple[float, float]
) -> None:
    points = great_circle(a, b, 16)
    for (lat, lon), (want_lat, want_lon) in ((points[0], a), (points[-1], b)):
        assert math.isclose(lat, want_lat, abs_tol=1e-6)
        assert math.isclose((lon - want_lon + 540) % 360 - 180, 0, abs_tol=1e-6)
