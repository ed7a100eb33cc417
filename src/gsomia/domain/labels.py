"""Labels: what an item says about itself (DOMAIN.md §5–6)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gsomia.domain.parties import Marking
from gsomia.domain.topics import parse_topic
from gsomia.errors import BadInput

if TYPE_CHECKING:
    from gsomia.domain.scenario import Scenario

__all__ = ["Label", "Marking"]

_FIELDS = ("id", "originator", "classification", "releasable_to", "topics")


@dataclass(frozen=True, slots=True)
class Label:
    """An item's label under its originator's policy.

    ``classification`` is a level id of the originator's policy (a native name given on input
    is normalised to the id); ``releasable_to`` and ``topics`` are sorted and free of duplicates.
    """

    id: str
    originator: str
    classification: str
    releasable_to: tuple[str, ...]
    topics: tuple[str, ...]

    @classmethod
    def from_json(cls, obj: object, *, where: str, scenario: Scenario) -> Label:
        if not isinstance(obj, dict):
            raise BadInput(f"{where}: a label must be a JSON object with fields {list(_FIELDS)}")
        missing = [f for f in _FIELDS if f not in obj]
        if missing:
            raise BadInput(f"{where}: missing field(s) {', '.join(repr(m) for m in missing)}")
        unknown = sorted(set(obj) - set(_FIELDS))
        if unknown:
            raise BadInput(f"{where}: unknown field(s) {', '.join(repr(u) for u in unknown)}")
        item_id = obj["id"]
        if not isinstance(item_id, str) or not item_id.strip():
            raise BadInput(f"{where}: field 'id' must be a non-empty string")
        originator = _party(obj["originator"], f"{where}: field 'originator'", scenario)
        classification = obj["classification"]
        if not isinstance(classification, str):
            raise BadInput(f"{where}: field 'classification' must be a string")
        try:
            level = scenario.policy(originator).level(classification)
        except BadInput as exc:
            raise BadInput(f"{where}: field 'classification': {exc}") from None
        rel = obj["releasable_to"]
        if not isinstance(rel, list):
            raise BadInput(f"{where}: field 'releasable_to' must be a list of party codes")
        releasable = tuple(
            sorted({_party(p, f"{where}: releasable_to[{i}]", scenario) for i, p in enumerate(rel)})
        )
        topics_raw = obj["topics"]
        if not isinstance(topics_raw, list):
            raise BadInput(f"{where}: field 'topics' must be a list of dotted topics")
        topics = tuple(
            sorted({parse_topic(t, f"{where}: topics[{i}]") for i, t in enumerate(topics_raw)})
        )
        return cls(item_id, originator, level.id, releasable, topics)

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "originator": self.originator,
            "classification": self.classification,
            "releasable_to": list(self.releasable_to),
            "topics": list(self.topics),
        }


def _party(value: object, where: str, scenario: Scenario) -> str:
    if not isinstance(value, str):
        raise BadInput(f"{where}: expected a party code such as 'KOR'")
    scenario.policy(value, where=where)
    return value
