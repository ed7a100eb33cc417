"""The packaged notional sensor sites (``sensors.toml``).

NOTIONAL sites, not real radar data (see the file's header and `gsomia.domain.sensors`).
"""

from __future__ import annotations

import functools
import tomllib
from importlib import resources
from typing import Final

from gsomia.domain.sensors import Sensor
from gsomia.errors import BadInput

__all__ = ["DATA_FILE", "load_sensors", "parse_sensors"]

DATA_FILE: Final = "sensors.toml"
VERSION: Final = 1
_SITE_KEYS: Final = ("id", "party", "lat", "lon", "range_km")


@functools.cache
def load_sensors() -> tuple[Sensor, ...]:
    """The packaged sites, read and checked once; BadInput naming the file and key."""
    try:
        text = resources.files(__package__).joinpath(DATA_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{DATA_FILE}: cannot read the packaged sensor sites: {exc}") from exc
    return parse_sensors(text, source=DATA_FILE)


def parse_sensors(text: str, *, source: str) -> tuple[Sensor, ...]:
    """The sites of a TOML text in the layout of the packaged file, in file order."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{source}: malformed TOML: {exc}") from exc
    if set(doc) != {"version", "site"}:
        raise BadInput(f"{source}: expected exactly the keys 'version' and 'site'")
    if doc["version"] != VERSION:
        raise BadInput(f"{source}: key 'version' must be {VERSION}")
    sites = doc["site"]
    if not isinstance(sites, list) or not sites:
        raise BadInput(f"{source}: key 'site' must be one or more [[site]] tables")
    out: list[Sensor] = []
    seen: set[str] = set()
    for i, site in enumerate(sites):
        where = f"{source}: site[{i}]"
        if not isinstance(site, dict) or set(site) != set(_SITE_KEYS):
            raise BadInput(f"{where}: must have exactly the keys {list(_SITE_KEYS)}")
        for key in ("id", "party"):
            if not isinstance(site[key], str):
                raise BadInput(f"{where}.{key}: must be a string")
        for key in ("lat", "lon", "range_km"):
            if isinstance(site[key], bool) or not isinstance(site[key], int | float):
                raise BadInput(f"{where}.{key}: must be a number")
        try:
            sensor = Sensor(
                id=site["id"],
                party=site["party"],
                lat=float(site["lat"]),
                lon=float(site["lon"]),
                range_km=float(site["range_km"]),
            )
        except BadInput as exc:
            raise BadInput(f"{where}: {exc}") from exc
        if sensor.id in seen:
            raise BadInput(f"{where}.id: {sensor.id!r} names another site too")
        seen.add(sensor.id)
        out.append(sensor)
    return tuple(out)
