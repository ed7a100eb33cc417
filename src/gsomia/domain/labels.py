"""Labels: what an item says about itself (DOMAIN.md §5–6)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from gsomia.domain import purposes as purposes_
from gsomia.domain.instants import format_instant, parse_instant
from gsomia.domain.parties import Marking
from gsomia.domain.topics import parse_topic
from gsomia.errors import BadInput

if TYPE_CHECKING:
    from gsomia.domain.scenario import Scenario

__all__ = ["Label", "Marking", "Source"]

_FIELDS = ("id", "originator", "classification", "releasable_to", "topics")
_OPTIONAL = ("purposes", "retain_until", "derived_from")
SOURCE_KINDS = ("assessment", "extract", "translation")
MAX_SOURCES = 32


@dataclass(frozen=True, slots=True)
class Source:
    """One item a derived item was written from (DOMAIN.md §7.6): its id, its originator, how
    it was used (an assessment, an extract, a translation) and, for a translation, the
    language it was translated into (a BCP 47 tag such as ``ja``)."""

    item: str
    originator: str
    kind: str
    language: str | None = None

    @classmethod
    def from_json(cls, obj: object, *, where: str, scenario: Scenario) -> Source:
        if not isinstance(obj, dict):
            raise BadInput(f"{where}: a source must be an object with item, originator, kind")
        unknown = sorted(set(obj) - {"item", "originator", "kind", "language"})
        if unknown:
            raise BadInput(f"{where}: unknown field(s) {', '.join(repr(u) for u in unknown)}")
        item = obj.get("item")
        if not isinstance(item, str) or not item.strip() or len(item) > 300:
            raise BadInput(f"{where}.item: expected an item id (STIX-ID/VERSION)")
        originator = _party(obj.get("originator"), f"{where}.originator", scenario)
        kind = obj.get("kind")
        if kind not in SOURCE_KINDS:
            raise BadInput(f"{where}.kind: expected one of {', '.join(SOURCE_KINDS)}")
        language = obj.get("language")
        if kind == "translation":
            if not isinstance(language, str) or not _language_tag(language):
                raise BadInput(f"{where}.language: a translation names its language (e.g. 'ja')")
        elif language is not None:
            raise BadInput(f"{where}.language: only a translation names a language")
        return cls(item, originator, str(kind), language)

    def to_json(self) -> dict[str, object]:
        doc: dict[str, object] = {"item": self.item, "originator": self.originator}
        doc["kind"] = self.kind
        if self.language is not None:
            doc["language"] = self.language
        return doc


def _language_tag(text: str) -> bool:
    parts = text.split("-")
    return (
        0 < len(text) <= 35
        and 2 <= len(parts[0]) <= 8
        and all(p.isascii() and p.isalnum() and 0 < len(p) <= 8 for p in parts)
    )


@dataclass(frozen=True, slots=True)
class Label:
    """An item's label under its originator's policy.

    ``classification`` is a level id of the originator's policy (a native name given on input
    is normalised to the id); ``releasable_to``, ``topics`` and ``purposes`` are sorted and free
    of duplicates. ``purposes`` (DOMAIN.md §7.1) defaults to ``defense``; ``retain_until`` is
    the instant after which a holder destroys the item (§7.5); ``derived_from`` names the items
    a derived item was written from (§7.6). A label at its defaults writes none of these three,
    so labels written before they existed read and encode as they did.
    """

    id: str
    originator: str
    classification: str
    releasable_to: tuple[str, ...]
    topics: tuple[str, ...]
    purposes: tuple[str, ...] = purposes_.DEFAULT
    retain_until: datetime | None = None
    derived_from: tuple[Source, ...] = ()

    @classmethod
    def from_json(cls, obj: object, *, where: str, scenario: Scenario) -> Label:
        if not isinstance(obj, dict):
            raise BadInput(f"{where}: a label must be a JSON object with fields {list(_FIELDS)}")
        missing = [f for f in _FIELDS if f not in obj]
        if missing:
            raise BadInput(f"{where}: missing field(s) {', '.join(repr(m) for m in missing)}")
        unknown = sorted(set(obj) - set(_FIELDS) - set(_OPTIONAL))
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
        purposes, retain, sources = _optional(obj, where, scenario)
        return cls(item_id, originator, level.id, releasable, topics, purposes, retain, sources)

    def to_json(self) -> dict[str, object]:
        doc: dict[str, object] = {
            "id": self.id,
            "originator": self.originator,
            "classification": self.classification,
            "releasable_to": list(self.releasable_to),
            "topics": list(self.topics),
        }
        doc.update(self.extra_json())
        return doc

    def extra_json(self) -> dict[str, object]:
        """The optional fields that differ from their defaults, as written in JSON."""
        doc: dict[str, object] = {}
        if self.purposes != purposes_.DEFAULT:
            doc["purposes"] = list(self.purposes)
        if self.retain_until is not None:
            doc["retain_until"] = format_instant(self.retain_until)
        if self.derived_from:
            doc["derived_from"] = [s.to_json() for s in self.derived_from]
        return doc


def _optional(
    obj: dict[str, object], where: str, scenario: Scenario
) -> tuple[tuple[str, ...], datetime | None, tuple[Source, ...]]:
    """A label's optional fields (DOMAIN.md §7): purposes, retain_until, derived_from."""
    purposes = (
        purposes_.DEFAULT
        if obj.get("purposes") is None
        else purposes_.parse_purposes(
            obj["purposes"], f"{where}: field 'purposes'", scenario.purposes
        )
    )
    retain_raw = obj.get("retain_until")
    if retain_raw is not None and not isinstance(retain_raw, str):
        raise BadInput(f"{where}: field 'retain_until' must be an instant (RFC 3339)")
    retain = (
        None if retain_raw is None else parse_instant(retain_raw, f"{where}: field 'retain_until'")
    )
    sources_raw = obj.get("derived_from")
    if sources_raw is None:
        sources: tuple[Source, ...] = ()
    elif not isinstance(sources_raw, list) or not 0 < len(sources_raw) <= MAX_SOURCES:
        raise BadInput(f"{where}: field 'derived_from' must list 1 to {MAX_SOURCES} sources")
    else:
        sources = tuple(
            Source.from_json(s, where=f"{where}: derived_from[{i}]", scenario=scenario)
            for i, s in enumerate(sources_raw)
        )
        if len({s.item for s in sources}) != len(sources):
            raise BadInput(f"{where}: field 'derived_from' names a source twice")
    return purposes, retain, sources


def _party(value: object, where: str, scenario: Scenario) -> str:
    if not isinstance(value, str):
        raise BadInput(f"{where}: expected a party code such as 'KOR'")
    scenario.policy(value, where=where)
    return value
