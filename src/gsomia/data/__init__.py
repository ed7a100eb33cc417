"""Package data and its readers: the CNS North Korea Missile Test Database (see SOURCE.md).

Anything that shows these data credits the CNS database (James Martin Center for
Nonproliferation Studies, for the Nuclear Threat Initiative).
"""

from gsomia.data.launches import LaunchEvent, Missile, load_launches, parse_launches

__all__ = ["LaunchEvent", "Missile", "load_launches", "parse_launches"]
