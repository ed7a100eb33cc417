"""Derived items at a node (DOMAIN.md §7.6): the sources a derived item is written from, checked
at publish; and the index of where an item was used, for its sources' pages.

Publishing. A label with ``derived_from`` is accepted only when every source is held here and
visible to the publishing user (a hidden source is answered exactly as a missing one), its
recorded originator is the held item's, and the label is no lower and no wider than the
sources allow (``gsomia.domain.derived``). Each source is taken as this node holds it: its
current classification (after any notice) and the purposes it is provided for here (its
label's; ``defense.warning`` only for an item received under standing consent).

The index. For every derived item this node stores (published here or received), one
``derived.source`` document per source, about the source item: so an item's page lists the
derived items written from it — those the reader may see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from gsomia.domain import purposes as purposes_
from gsomia.domain.derived import HeldSource, check_label
from gsomia.errors import BadInput, NotFound, StoreFailure
from gsomia.node.holdings import Held, current_classification, split_item_id, visible_item
from gsomia.node.service import Node

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gsomia.domain.labels import Label, Source
    from gsomia.node.config import User
    from gsomia.store.ports import NodeReader, NodeWriter

DERIVED_SOURCE: Final = "derived.source"
"""Document kind: one per (derived item, source), about the source item."""


def holding_purposes(node: Node, item: Held) -> tuple[str, ...]:
    """The purposes ``item`` is provided for at this node: the standing purposes if it came
    here under standing consent (DOMAIN.md §7.1), else its label's — widened by the
    originator's approvals this holder holds (what the stored row says it is provided for)."""
    here = None if item.row is None else node.provided_here(item.row)
    if here is not None:
        return here
    standing = any(
        rel.recipient == node.party and rel.standing_consent is not None
        for rel in item.verified.releases
    )
    return purposes_.STANDING if standing else item.verified.label.purposes


def held_sources(node: Node, user: User, label: Label, where: str) -> list[HeldSource]:
    """Each source of ``label`` as this node holds it, visible to ``user``; BadInput naming a
    source that is not (a hidden source is answered as a missing one)."""
    found: list[HeldSource] = []
    for i, source in enumerate(label.derived_from):
        at = f"{where}: derived_from[{i}]"
        try:
            item = visible_item(node, user, source.item, f"derive from {source.item[:120]}")
        except NotFound as exc:
            raise BadInput(f"{at}: {exc} (a derived item's sources are held here)") from None
        # its class now: a notice may have reached this node on the originator's copy only
        held_label = item.verified.domain_label(current_classification(node, item))
        if source.originator != held_label.originator:
            raise BadInput(
                f"{at}.originator: source {source.item} was originated by "
                f"{held_label.originator}, not {source.originator}"
            )
        found.append(HeldSource(source, held_label, holding_purposes(node, item)))
    return found


def check_publish(node: Node, user: User, label: Label, where: str) -> None:
    """Hold a derived label posted by ``user`` to DOMAIN.md §7.6 (BadInput naming the source
    that forbids it); a label without sources passes."""
    if not label.derived_from:
        return
    try:
        check_label(node.scenario, label, held_sources(node, user, label, where))
    except BadInput as exc:
        text = str(exc)
        raise BadInput(text if text.startswith(where) else f"{where}: {text}") from None


def index(w: NodeWriter, item_id: str, originator: str, sources: Sequence[Source]) -> None:
    """Record, in the caller's transaction, that the item ``item_id`` of ``originator`` was
    written from each of ``sources`` (nothing for an item without sources)."""
    for source in sources:
        w.put_document(
            DERIVED_SOURCE,
            f"{item_id} {source.item}",
            source.item,
            {"derived": item_id, "originator": originator, "source": source.to_json()},
            None,
        )


# ------------------------------------------------------------------ reading
@dataclass(frozen=True, slots=True)
class SourceLink:
    """One source of a derived item, as a reader sees it: linked only if visible to them."""

    item: str
    originator: str
    kind: str
    language: str | None
    visible: bool

    def to_json(self) -> dict[str, object]:
        return {
            "item": self.item,
            "originator": self.originator,
            "kind": self.kind,
            "language": self.language,
            "visible": self.visible,
        }


@dataclass(frozen=True, slots=True)
class DerivedLink:
    """A derived item written from an item: its id and originator, and how it used the item."""

    item: str
    originator: str
    kind: str
    language: str | None

    def to_json(self) -> dict[str, object]:
        return {
            "item": self.item,
            "originator": self.originator,
            "kind": self.kind,
            "language": self.language,
        }


def sees(node: Node, r: NodeReader, user: User, item_id: str) -> bool:
    """Whether ``user`` may see the held item ``item_id`` (no body read; nothing audited)."""
    try:
        stix_id, version = split_item_id(item_id)
    except BadInput:
        return False
    origin = r.item_origin(item_id)
    if origin is None:
        return False
    scope = r.object_scope(node.collection_id(origin[0]), stix_id, version)
    return scope is not None and scope.item_id == item_id and node.visible(user.clearance, scope)


def sources(node: Node, user: User, item_id: str) -> tuple[SourceLink, ...]:
    """The sources of ``item_id`` (an item ``user`` may see; else NotFound as for a missing
    one), each marked visible when the user may see it here."""
    item = visible_item(node, user, item_id, f"read the sources of {item_id[:120]}")
    listed: tuple[Source, ...] = item.verified.label.derived_from
    with node.store.reading() as r:
        return tuple(
            SourceLink(s.item, s.originator, s.kind, s.language, sees(node, r, user, s.item))
            for s in listed
        )


def derived(node: Node, user: User, item_id: str) -> tuple[DerivedLink, ...]:
    """The derived items held here that were written from ``item_id`` (an item ``user`` may
    see; else NotFound as for a missing one) and that ``user`` may see, oldest first."""
    visible_item(node, user, item_id, f"read where {item_id[:120]} was used")
    found: list[DerivedLink] = []
    with node.store.reading() as r:
        for doc in r.documents(DERIVED_SOURCE, item_id):
            link = _link(doc.body, f"{DERIVED_SOURCE} {doc.key}")
            if sees(node, r, user, link.item):
                found.append(link)
    return tuple(found)


def _link(body: dict[str, Any], where: str) -> DerivedLink:
    """A stored index document, parsed at the store's boundary."""
    derived_id, originator, source = body.get("derived"), body.get("originator"), body.get("source")
    if not isinstance(derived_id, str) or not isinstance(originator, str):
        raise StoreFailure(f"{where}: expected the derived item and its originator")
    if not isinstance(source, dict):
        raise StoreFailure(f"{where}.source: expected an object")
    kind, language = source.get("kind"), source.get("language")
    if not isinstance(kind, str) or not (language is None or isinstance(language, str)):
        raise StoreFailure(f"{where}.source: expected a kind and an optional language")
    return DerivedLink(derived_id, originator, kind, language)
