"""Parties and their national classification policies (DOMAIN.md §2)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, NewType

from gsomia.errors import BadInput

if TYPE_CHECKING:
    from collections.abc import Mapping

PartyCode = NewType("PartyCode", str)


class Equivalence(StrEnum):
    """The common equivalence classes of the agreements' tables, highest first."""

    TOP_SECRET = "TOP SECRET"  # noqa: S105 - a classification, not a password
    SECRET = "SECRET"  # noqa: S105 - a classification, not a password
    CONFIDENTIAL = "CONFIDENTIAL"

    @classmethod
    def parse(cls, text: str, where: str) -> Equivalence:
        try:
            return cls(text)
        except ValueError as exc:
            known = ", ".join(repr(e.value) for e in cls)
            raise BadInput(f"{where}: unknown equivalence class {text!r} (known: {known})") from exc


@dataclass(frozen=True, slots=True)
class Level:
    id: str
    native: str
    equivalence: Equivalence


@dataclass(frozen=True, slots=True)
class Marking:
    """A party's marking of an item: its level, and the originator's name (Art. 4(2))."""

    party: str
    level: str
    native: str
    equivalence: Equivalence
    originator: str

    def to_json(self) -> dict[str, object]:
        return {
            "party": self.party,
            "level": self.level,
            "native": self.native,
            "equivalence": self.equivalence.value,
            "originator": self.originator,
        }


@dataclass(frozen=True)
class Policy:
    """A party's national policy: its levels, highest first, and its default receiving level."""

    party: PartyCode
    name: str
    policy_id: str
    levels: tuple[Level, ...]
    defaults: Mapping[Equivalence, str]
    source: str = ""
    identity: str | None = None  # the party's STIX identity id (identity--<UUID v4>), if any

    def __post_init__(self) -> None:
        by_name: dict[str, Level] = {}
        for level in self.levels:
            by_name[level.id] = level
            by_name[level.native] = level
        object.__setattr__(self, "_by_name", MappingProxyType(by_name))
        for eq, level_id in self.defaults.items():
            if level_id not in by_name or by_name[level_id].equivalence is not eq:
                raise BadInput(
                    f"policy of {self.party}: default level {level_id!r} for {eq.value} "
                    f"is not a level of class {eq.value}"
                )

    def level(self, name: str) -> Level:
        """The level named by its id or its native name; unknown names are bad input."""
        found: Mapping[str, Level] = object.__getattribute__(self, "_by_name")
        try:
            return found[name]
        except (KeyError, TypeError):
            known = ", ".join(f"{lv.id} ({lv.native})" for lv in self.levels)
            raise BadInput(f"unknown level {name!r} for {self.party} (known: {known})") from None

    def default_level(self, equivalence: Equivalence) -> Level:
        try:
            return self.level(self.defaults[equivalence])
        except KeyError:
            raise BadInput(f"{self.party} has no level of class {equivalence.value}") from None

    def marking_for(self, equivalence: Equivalence, originator: str) -> Marking:
        level = self.default_level(equivalence)
        return Marking(self.party, level.id, level.native, equivalence, originator)
