"""The packaged zones raster (``zones.json``, made by ``tools/make_zones.py``).

Territory and approximate exclusive economic zones over 119-155 E, 20-47 N (the console
map's box, widened to the south-east islands), from Natural
Earth 1:50m admin-0 countries (public domain) as shipped by the npm package world-atlas (ISC).
The EEZs are an equidistance approximation (200 nautical miles, the median line between
neighbours), not the legal zones.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Final

from gsomia.domain.zones import ZoneGrid, parse_zone_grid
from gsomia.errors import BadInput

__all__ = ["DATA_FILE", "load_zones"]

DATA_FILE: Final = "zones.json"


@functools.cache
def load_zones() -> ZoneGrid:
    """The packaged grid, read and checked once; BadInput naming the file when malformed."""
    try:
        text = resources.files(__package__).joinpath(DATA_FILE).read_text(encoding="utf-8")
        obj = json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BadInput(f"{DATA_FILE}: cannot read the packaged zones: {exc}") from exc
    return parse_zone_grid(obj, source=DATA_FILE)
