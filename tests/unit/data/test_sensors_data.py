"""The packaged notional sensor sites and their strict parser."""

from __future__ import annotations

import pytest

from gsomia.data.sensors import load_sensors, parse_sensors
from gsomia.errors import BadInput

GOOD = """
version = 1
[[site]]
id = "kor-1"
party = "KOR"
lat = 37.0
lon = 127
range_km = 800.0
"""


def test_packaged_sites() -> None:
    sites = load_sensors()
    assert {s.party for s in sites} == {"KOR", "JPN", "USA"}
    assert len({s.id for s in sites}) == len(sites)
    assert all(s.id.startswith(s.party.lower() + "-") for s in sites)
    assert all(119 <= s.lon <= 151 and 29 <= s.lat <= 47 for s in sites)


def test_the_file_says_it_is_notional() -> None:
    from importlib import resources

    text = resources.files("gsomia.data").joinpath("sensors.toml").read_text(encoding="utf-8")
    assert "NOTIONAL" in text
    assert "NOT real radar data" in text


def test_parse() -> None:
    (site,) = parse_sensors(GOOD, source="s.toml")
    assert (site.id, site.party, site.lat, site.lon, site.range_km) == (
        "kor-1",
        "KOR",
        37.0,
        127.0,
        800.0,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version = ", r"s\.toml: malformed TOML"),
        ("version = 1\n", r"s\.toml: expected exactly the keys"),
        (GOOD.replace("version = 1", "version = 2"), r"s\.toml: key 'version'"),
        (GOOD + "extra = 1\n", r"s\.toml: site\[0\]: must have exactly the keys"),
        (GOOD.replace('id = "kor-1"', "id = 1"), r"site\[0\]\.id: must be a string"),
        (GOOD.replace("lat = 37.0", 'lat = "37"'), r"site\[0\]\.lat: must be a number"),
        (GOOD.replace("lat = 37.0", "lat = true"), r"site\[0\]\.lat: must be a number"),
        (GOOD.replace("lat = 37.0", "lat = 137.0"), r"site\[0\]: sensor 'kor-1': lat"),
        (GOOD.replace('party = "KOR"', 'party = "Korea"'), r"site\[0\]: .*party"),
        (GOOD + GOOD.replace("version = 1", ""), r"site\[1\]\.id: 'kor-1' names another site"),
        ("version = 1\nsite = []\n", r"one or more \[\[site\]\] tables"),
    ],
)
def test_parse_refuses(text: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        parse_sensors(text, source="s.toml")
