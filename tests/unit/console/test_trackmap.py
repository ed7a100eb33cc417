"""The track map: the impact ellipse projected as it lies on the ground, the route and the
warning as words, an update as the page draws it."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gsomia.console.launchmap import KM_PER_DEGREE, SCALE, project
from gsomia.console.trackmap import (
    ZONE_NOTE,
    Segment,
    ellipse_outline,
    impact_zone,
    impact_zones,
    route_text,
    segments,
    update_view,
    warning_text,
)
from gsomia.domain.tracks import Ellipse, Phase, Position, TrackUpdate, Velocity
from gsomia.domain.zones import Zone
from gsomia.scenarios import load_scenario

PX_PER_KM = SCALE / KM_PER_DEGREE  # the map's scale north-south (and east-west at 38° N)
TRACK = "track--6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"


def extent(points: tuple[tuple[float, float], ...]) -> tuple[float, float]:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return max(xs) - min(xs), max(ys) - min(ys)


def test_an_ellipse_pointing_north_is_tall_by_its_major_axis_and_wide_by_its_minor() -> None:
    outline = ellipse_outline(Ellipse(38.0, 134.0, 200.0, 50.0, 0.0))
    width, height = extent(outline)
    assert height == pytest.approx(2 * 200 * PX_PER_KM, rel=0.01)
    assert width == pytest.approx(2 * 50 * PX_PER_KM, rel=0.01)


def test_an_ellipse_pointing_east_is_wide_by_its_major_axis() -> None:
    outline = ellipse_outline(Ellipse(38.0, 134.0, 200.0, 50.0, 90.0))
    width, height = extent(outline)
    assert width == pytest.approx(2 * 200 * PX_PER_KM, rel=0.01)
    assert height == pytest.approx(2 * 50 * PX_PER_KM, rel=0.01)


def test_the_orientation_is_clockwise_from_north() -> None:
    cx, cy = project(38.0, 134.0)
    outline = ellipse_outline(Ellipse(38.0, 134.0, 300.0, 10.0, 45.0))
    far = max(outline, key=lambda p: math.hypot(p[0] - cx, p[1] - cy))
    # the major axis runs north-east to south-west: its ends are up-right and down-left
    # (the map's y grows southwards)
    assert (far[0] - cx) * (far[1] - cy) < 0
    ne = [p for p in outline if p[0] > cx and p[1] < cy]
    nw = [p for p in outline if p[0] < cx and p[1] < cy]
    assert max(math.hypot(p[0] - cx, p[1] - cy) for p in ne) > 5 * max(
        math.hypot(p[0] - cx, p[1] - cy) for p in nw
    )


def test_east_west_is_drawn_as_the_projection_stretches_it_away_from_38_north() -> None:
    # at 45° N a km east is more pixels than at 38° N (the projection is true at 38° N only)
    width, _ = extent(ellipse_outline(Ellipse(45.0, 134.0, 100.0, 100.0, 0.0)))
    ratio = math.cos(math.radians(38.0)) / math.cos(math.radians(45.0))
    assert width == pytest.approx(2 * 100 * PX_PER_KM * ratio, rel=0.01)


def test_a_narrowing_ellipse_is_drawn_inside_the_earlier_one() -> None:
    wide = extent(ellipse_outline(Ellipse(40.0, 138.5, 400.0, 150.0, 60.0)))
    narrow = extent(ellipse_outline(Ellipse(40.0, 138.5, 40.0, 15.0, 60.0)))
    assert narrow[0] < wide[0] / 5
    assert narrow[1] < wide[1] / 5


def test_an_ellipse_of_no_size_is_its_centre() -> None:
    centre = project(40.0, 138.5)
    assert set(ellipse_outline(Ellipse(40.0, 138.5, 0.0, 0.0, 0.0))) == {centre}


@given(
    lat=st.floats(-89.0, 89.0),
    lon=st.floats(-180.0, 180.0),
    major=st.floats(0.0, 5000.0),
    share=st.floats(0.0, 1.0),
    orientation=st.floats(0.0, 180.0),
)
def test_every_outline_is_finite_numbers(
    lat: float, lon: float, major: float, share: float, orientation: float
) -> None:
    outline = ellipse_outline(Ellipse(lat, lon, major, major * share, orientation))
    assert len(outline) == 48
    assert all(math.isfinite(v) for p in outline for v in p)


@pytest.mark.parametrize(
    ("route", "here", "said"),
    [
        (("KOR",), "KOR", "originated here"),
        (("KOR",), "JPN", "direct from KOR"),
        (("KOR", "USA"), "JPN", "from KOR via USA"),
    ],
)
def test_the_route_in_words(route: tuple[str, ...], here: str, said: str) -> None:
    assert route_text(route, here) == said


def test_the_warning_names_the_party_whose_zone_it_is() -> None:
    scenario = load_scenario("historical")
    at_sea = warning_text(Zone("JPN", territory=False), scenario, "JPN")
    assert at_sea.startswith("WARNING: predicted impact within Japan's territory or EEZ")
    assert "at sea, within the approximate EEZ" in at_sea
    assert "this node's party" in at_sea
    on_land = warning_text(Zone("KOR", territory=True), scenario, "JPN")
    assert "within Republic of Korea's territory or EEZ (on land)" in on_land
    assert "this node's party" not in on_land


def test_no_warning_outside_every_party_s_zone() -> None:
    scenario = load_scenario("historical")
    assert warning_text(None, scenario, "JPN") == ""
    assert warning_text(Zone("PRK", territory=False), scenario, "JPN") == ""  # no party's


def test_the_zone_note_says_the_zones_are_approximate() -> None:
    assert "not legal boundaries" in ZONE_NOTE
    assert "approximate EEZ" in ZONE_NOTE


def test_the_zones_of_known_points() -> None:
    assert impact_zone(40.0, 138.5) == Zone("JPN", territory=False)  # Sea of Japan, off Akita
    assert impact_zone(35.68, 139.77) == Zone("JPN", territory=True)  # Tokyo
    assert impact_zone(37.57, 126.98) == Zone("KOR", territory=True)  # Seoul


def update(seq: int, party: str = "KOR", lat: float = 39.5) -> TrackUpdate:
    return TrackUpdate(
        track=TRACK,
        seq=seq,
        at=datetime(2024, 1, 14, 5, 55, seq, tzinfo=UTC),
        party=party,
        sensor="kor-radar-1",
        position=Position(lat, 130.0, 550.0),
        velocity=Velocity(2.0, 0.5, 0.1),
        phase=Phase.MIDCOURSE,
        launch=Position(39.2, 125.67, 0.0),
        impact=Ellipse(40.0, 138.5, 120.0, 40.0, 80.0),
        synthesized=True,
    )


def test_an_update_as_the_page_draws_it() -> None:
    scenario = load_scenario("historical")
    view = update_view(update(3), ("KOR", "USA"), scenario=scenario, here="JPN")
    assert (view["position"]["x"], view["position"]["y"]) == project(39.5, 130.0)
    assert view["position"]["alt_km"] == 550.0
    assert (view["launch"]["x"], view["launch"]["y"]) == project(39.2, 125.67)
    assert len(view["impact"]["outline"]) == 48
    assert view["route_text"] == "from KOR via USA"
    assert view["phase"] == "midcourse"
    assert view["at_text"] == "2024-01-14 05:55:03 UTC"
    assert view["synthesized"] is True
    assert (view["zone"], view["land"]) == ("JPN", False)
    assert "Japan's territory or EEZ" in view["warning"]


def test_the_path_is_cut_where_the_seeing_party_changes_and_stays_joined() -> None:
    scenario = load_scenario("historical")
    views = [
        update_view(update(i, party, 39.0 + i / 10), ("KOR",), scenario=scenario, here="KOR")
        for i, party in ((1, "KOR"), (2, "KOR"), (3, "USA"), (4, "USA"))
    ]
    found = segments(views)
    assert [s.party for s in found] == ["KOR", "USA"]
    kor, usa = found
    assert len(kor.points.split()) == 2
    assert len(usa.points.split()) == 3  # starts at KOR's last point
    assert usa.points.split()[0] == kor.points.split()[-1]
    assert segments([]) == ()
    assert isinstance(kor, Segment)


def test_an_ellipse_reaching_okinawa_warns_though_its_centre_is_nobody_s() -> None:
    scenario = load_scenario("historical")
    # centred 500 km south-east of Naha, far beyond Japan's approximate EEZ, 600 km long
    # towards Okinawa: only its outline reaches Japan's zone
    centre = Ellipse(22.9, 131.5, 600.0, 50.0, 135.0)
    found = impact_zones(centre)
    assert (found.centre, found.mapped) == (None, True)
    assert found.reached == ("JPN",)
    said = warning_text(found.centre, scenario, "KOR", found.reached)
    assert said == "WARNING: the predicted impact area reaches Japan's territory or EEZ"
    small = impact_zones(Ellipse(22.9, 131.5, 20.0, 10.0, 135.0))
    assert small.reached == ()
    assert warning_text(small.centre, scenario, "KOR", small.reached) == ""


def test_an_impact_centred_on_ishigaki_is_within_japan() -> None:
    scenario = load_scenario("historical")
    found = impact_zones(Ellipse(24.40, 124.18, 30.0, 10.0, 0.0))
    assert found.centre == Zone("JPN", territory=True)
    said = warning_text(found.centre, scenario, "JPN", found.reached)
    assert said.startswith("WARNING: predicted impact within Japan's territory or EEZ (on land)")
    assert "reaches" not in said  # the outline reaches no other party's zone


def test_an_impact_off_the_zone_map_is_said_so() -> None:
    scenario = load_scenario("historical")
    view = update_view(
        TrackUpdate(
            track=TRACK,
            seq=1,
            at=datetime(2024, 1, 14, 5, 55, tzinfo=UTC),
            party="KOR",
            sensor="kor-radar-1",
            position=Position(39.5, 130.0, 550.0),
            velocity=Velocity(2.0, 0.5, 0.1),
            phase=Phase.MIDCOURSE,
            launch=Position(39.2, 125.67, 0.0),
            impact=Ellipse(30.0, 165.0, 50.0, 20.0, 0.0),
            synthesized=True,
        ),
        ("KOR",),
        scenario=scenario,
        here="JPN",
    )
    assert view["zone_text"].startswith("impact outside the zone map (119-155° E, 20-47° N)")
    assert (view["zone"], view["warning"]) == (None, "")
    on_map = update_view(update(1), ("KOR",), scenario=scenario, here="JPN")
    assert on_map["zone_text"] == ""
