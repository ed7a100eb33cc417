"""Derived items: the label an item written from others may carry (DOMAIN.md §7.6).

An item written from others (an assessment, an extract, a translation) carries, for each
source, its originator, and a label that is

* no lower than the highest source's class: its classification's equivalence class is at
  least the highest class among the sources' current classifications (each source's level in
  its originator's policy, mapped by equivalence into the writer's policy);
* no wider than every source: it is releasable only to parties that every source allows. A
  source allows the parties of its REL TO *and its own originator*: an originator may receive
  what was written from its own item, subject to the other sources. The writer itself is
  always allowed (naming oneself releases nothing);
* about everything every source is about: its topics include each source's topics;
* for no purpose beyond any source: each of its purposes lies within some purpose of every
  source, taken as the writer holds that source (its label's purposes; those of an item
  received under standing consent are the standing purposes).

``allowed_label`` computes the least restrictive label these rules allow; ``check_label``
holds a proposed label to them, naming the source that forbids what it refuses. Both are pure:
the node looks the sources up (each must be held and visible to the writer) and passes them in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gsomia.domain.parties import Equivalence, Level
from gsomia.domain.topics import within
from gsomia.errors import BadInput

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gsomia.domain.labels import Label, Source
    from gsomia.domain.scenario import Scenario

__all__ = ["Allowed", "HeldSource", "allowed_label", "check_label", "check_source", "rank"]


def rank(equivalence: Equivalence) -> int:
    """Higher is more classified: CONFIDENTIAL 0, SECRET 1, TOP SECRET 2."""
    order = tuple(Equivalence)  # highest first
    return len(order) - 1 - order.index(equivalence)


@dataclass(frozen=True, slots=True)
class HeldSource:
    """One source as the writer holds it: the derived label's ``Source`` entry, the source's
    own label (with its current classification) and the purposes the writer has it for."""

    source: Source
    label: Label
    purposes: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"source {self.label.id}"


@dataclass(frozen=True, slots=True)
class Allowed:
    """The least restrictive label §7.6 allows a derived item written by ``writer``."""

    writer: str
    equivalence: Equivalence
    level: Level  # the writer's default level of that class
    releasable_to: tuple[str, ...]
    topics: tuple[str, ...]
    purposes: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "originator": self.writer,
            "classification": self.level.id,
            "equivalence": self.equivalence.value,
            "releasable_to": list(self.releasable_to),
            "topics": list(self.topics),
            "purposes": list(self.purposes),
        }


def _equivalence(scenario: Scenario, label: Label) -> Equivalence:
    return scenario.policy(label.originator).level(label.classification).equivalence


def _allows(src: HeldSource, writer: str) -> set[str]:
    return {*src.label.releasable_to, src.label.originator, writer}


def _purpose_within(purpose: str, provided: Sequence[str]) -> bool:
    return any(within(purpose, p) for p in provided)


def _check_sources(sources: Sequence[HeldSource]) -> None:
    if not sources:
        raise BadInput("derived_from: a derived item names at least one source")
    for src in sources:
        if src.source.item != src.label.id:
            raise BadInput(f"derived_from: {src.source.item} is not {src.label.id}")
        if src.source.originator != src.label.originator:
            raise BadInput(
                f"derived_from: {src.name} was originated by {src.label.originator}, "
                f"not {src.source.originator}"
            )
        if not src.purposes:
            raise BadInput(f"derived_from: {src.name} is provided for no purpose here")


def allowed_label(scenario: Scenario, writer: str, sources: Sequence[HeldSource]) -> Allowed:
    """The least restrictive label a derived item of ``writer`` from ``sources`` may carry.

    BadInput if the sources admit none: a source whose recorded originator is not the held
    item's, or sources that share no purpose."""
    _check_sources(sources)
    highest = max((_equivalence(scenario, s.label) for s in sources), key=rank)
    level = scenario.policy(writer).default_level(highest)
    parties = set(scenario.policies)
    for src in sources:
        parties &= _allows(src, writer)
    parties.discard(writer)
    topics = sorted({t for src in sources for t in src.label.topics})
    candidates = {p for src in sources for p in src.purposes}
    common = {p for p in candidates if all(_purpose_within(p, s.purposes) for s in sources)}
    purposes = sorted(p for p in common if not any(q != p and within(p, q) for q in common))
    if not purposes:
        held = "; ".join(f"{s.name}: {', '.join(s.purposes)}" for s in sources)
        raise BadInput(f"derived_from: the sources share no purpose ({held})")
    return Allowed(writer, highest, level, tuple(sorted(parties)), tuple(topics), tuple(purposes))


def check_label(scenario: Scenario, label: Label, sources: Sequence[HeldSource]) -> Allowed:
    """Hold ``label`` (a derived item's proposed label) to §7.6; BadInput naming the source
    that forbids what it refuses. Returns what the sources allow."""
    allowed = allowed_label(scenario, label.originator, sources)
    level = scenario.policy(label.originator).level(label.classification)
    named = {s.source.item for s in sources}
    if {s.item for s in label.derived_from} != named:
        raise BadInput("derived_from: the label's sources are not those checked")
    for src in sources:
        _check_one(scenario, label, level, src)
    return allowed


def check_source(scenario: Scenario, label: Label, src: HeldSource) -> None:
    """Hold a derived ``label`` to one of its sources alone (what that source's originator,
    asked for consent, can judge); BadInput naming the source if it forbids the label."""
    if not any(s.item == src.label.id for s in label.derived_from):
        raise BadInput(f"label: {label.id} is not derived from {src.name}")
    _check_one(scenario, label, scenario.policy(label.originator).level(label.classification), src)


def _check_one(scenario: Scenario, label: Label, level: Level, src: HeldSource) -> None:
    where = "label"
    theirs = scenario.policy(src.label.originator).level(src.label.classification)
    if rank(level.equivalence) < rank(theirs.equivalence):
        raise BadInput(
            f"{where}: classification {level.id} ({level.equivalence.value}) is lower than "
            f"{src.name}'s {theirs.id} ({src.label.originator}, {theirs.equivalence.value})"
        )
    allows = _allows(src, label.originator)
    wider = [p for p in label.releasable_to if p not in allows]
    if wider:
        rel = ", ".join(src.label.releasable_to) or "no one"
        raise BadInput(
            f"{where}: releasable_to {', '.join(wider)} is wider than {src.name} allows "
            f"(releasable to {rel}; originator {src.label.originator})"
        )
    missing = [t for t in src.label.topics if t not in label.topics]
    if missing:
        raise BadInput(
            f"{where}: topics lack {', '.join(missing)} of {src.name} (a derived item carries "
            "the union of its sources' topics)"
        )
    beyond = [p for p in label.purposes if not _purpose_within(p, src.purposes)]
    if beyond:
        raise BadInput(
            f"{where}: purpose(s) {', '.join(beyond)} lie outside {src.name}'s purposes "
            f"({', '.join(src.purposes)})"
        )
