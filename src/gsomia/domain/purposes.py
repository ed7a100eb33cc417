"""Purposes: what an item is provided for, and what a user's duties are for (DOMAIN.md §7.1–2).

A purpose is a dotted token of the scenario's vocabulary; one lies within another as topics do
(``defense.warning`` within ``defense``). A label without purposes is provided for ``defense``;
an item relayed under the 2023 link's standing consent is provided for ``defense.warning`` only,
whatever its label says. At a holder, a user may use an item when one of their purposes lies
within a purpose the item is provided for (for this holder); the originator's own users are
bound by clearance and need-to-know alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from gsomia.domain.topics import parse_topic, within
from gsomia.errors import BadInput

DEFENSE = "defense"
WARNING = "defense.warning"
BUILTIN: tuple[str, ...] = (
    DEFENSE,
    WARNING,
    "defense.assessment",
    "defense.operations",
    "defense.policy",
)
"""The built-in vocabulary (DOMAIN.md §7.1); a scenario may give its own (``purposes``)."""

DEFAULT: tuple[str, ...] = (DEFENSE,)
"""What a label without purposes is provided for, and a user registered without any serves."""

STANDING: tuple[str, ...] = (WARNING,)
"""What an item released under the 2023 link's standing consent is provided for."""

MAX_PURPOSES = 16


def parse_purposes(value: object, where: str, vocabulary: Sequence[str]) -> tuple[str, ...]:
    """A non-empty list of purposes of ``vocabulary``, sorted and free of duplicates."""
    if not isinstance(value, list) or not value:
        raise BadInput(f"{where}: expected a non-empty list of purposes, e.g. ['defense']")
    if len(value) > MAX_PURPOSES:
        raise BadInput(f"{where}: at most {MAX_PURPOSES} purposes")
    found: set[str] = set()
    for i, raw in enumerate(value):
        purpose = parse_topic(raw, f"{where}[{i}]")
        if purpose not in vocabulary:
            raise BadInput(
                f"{where}[{i}]: unknown purpose {purpose!r} (the scenario's purposes: "
                f"{', '.join(vocabulary)})"
            )
        found.add(purpose)
    return tuple(sorted(found))


def may_use(user_purposes: Iterable[str], item_purposes: Iterable[str]) -> bool:
    """Whether one of the user's purposes lies within a purpose the item is provided for."""
    provided = tuple(item_purposes)
    return any(within(mine, p) for mine in user_purposes for p in provided)
