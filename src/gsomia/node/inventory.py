"""A node's inventory (DOMAIN.md §7.4): every item it holds or has held, stated and signed.

For each item (of one originator, or all): its id and originator, its classification in the
originator's policy and this node's equivalent level, its digest, how it arrived — originated
here, or received from whom and when, by the route its release records show (a grant at
sealing, a release by the originator, a relay under the originator's consent or under standing
consent) — and its disposition: ``held``, or ``destroyed`` with the instant and reason of the
destruction certificate (``holdings.DESTRUCTION_CERTIFICATE``), which travels with it. An item
whose sealed bytes are gone is destroyed; this node's own certificate (keyed by the item id)
says when and why — a holder's certificate received for an item originated here does not make
the originator's copy destroyed.

The statement is a signed ``inventory`` statement (``gsomia.seal.statements``) whose body is::

    {"v": 1, "party": P, "at": INSTANT, "originator": O | null, "request": ID | null,
     "items": [ENTRY, ...]}

``parse_entries`` reads the entries back at the party that receives the statement (strictly:
every field, named where it is wrong).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from gsomia.domain.instants import format_instant, parse_instant
from gsomia.domain.parties import Equivalence
from gsomia.errors import BadInput, GsomiaError, StoreFailure
from gsomia.node.config import User
from gsomia.node.holdings import (
    DESTRUCTION_CERTIFICATE,
    hidden_ids,
    notice_carrier,
    require_admin,
    split_item_id,
)
from gsomia.node.service import Node
from gsomia.seal.statements import sign_statement, verify_statement
from gsomia.seal.views import VerifiedItem
from gsomia.store.ports import ItemRecord, NodeReader

KIND: Final = "inventory"  # the statement's kind
BODY_VERSION: Final = 1
DESTRUCTION: Final = "destruction"  # the certificate's statement kind
MAX_ITEMS = 100_000
MAX_DESTROYED = 1_000_000  # destroyed items stated (every one: the inventory is a whole record)

Disposition = Literal["held", "destroyed"]


@dataclass(frozen=True, slots=True)
class Step:
    """One step of an item's way here: ``holder`` passed it to ``recipient`` at ``at``, under
    ``grant`` (sealed for the recipient by the originator), ``release`` (released by the
    originator later), ``consent`` (the originator's consent) or ``standing`` (standing consent
    ``standing_consent``)."""

    holder: str
    recipient: str
    at: str
    under: Literal["grant", "release", "consent", "standing"]
    standing_consent: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "holder": self.holder,
            "recipient": self.recipient,
            "at": self.at,
            "under": self.under,
        }
        if self.standing_consent is not None:
            out["standing_consent"] = self.standing_consent
        return out


@dataclass(frozen=True, slots=True)
class Entry:
    """One item of an inventory."""

    item: str
    originator: str
    classification: str | None
    level: dict[str, Any] | None  # this node's marking (party, level, native, equivalence…)
    digest: str | None
    arrived: Literal["originated", "received"]
    arrived_from: str | None
    arrived_at: str
    route: tuple[Step, ...]
    disposition: Disposition
    destroyed_at: str | None = None
    reason: str | None = None
    certificate: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "item": self.item,
            "originator": self.originator,
            "classification": self.classification,
            "level": self.level,
            "digest": self.digest,
            "arrival": {
                "how": self.arrived,
                "from": self.arrived_from,
                "at": self.arrived_at,
                "route": [s.to_json() for s in self.route],
            },
            "disposition": self.disposition,
        }
        if self.disposition == "destroyed":
            out["destroyed_at"] = self.destroyed_at
            out["reason"] = self.reason
            out["certificate"] = self.certificate
        return out


# ------------------------------------------------------------------ stating
def inventory(node: Node, user: User, originator: str | None) -> dict[str, Any]:
    """The node's signed inventory (of ``originator``'s items if given), for an admin: the
    items the admin may see (clearance and need-to-know: an admin is no exception); the
    operator's ``gsomia node inventory`` and the answer to an originator state every item."""
    require_admin(node, user, "state the inventory")
    return statement(node, originator, user=user)


def statement(
    node: Node, originator: str | None, *, request: str | None = None, user: User | None = None
) -> dict[str, Any]:
    """The signed inventory statement: every item held or once held (``originator``'s only if
    given; only those ``user`` may see if given), stated at the node's now; ``request`` names
    the inventory request it answers."""
    if originator is not None:
        node.scenario.policy(originator, where="originator")
    now = node.clock.now()
    found = entries(node, originator)
    if user is not None:
        with node.store.reading() as r:
            hidden = hidden_ids(node, r, user, (e.item for e in found))
        found = [e for e in found if e.item not in hidden]
    body = {
        "v": BODY_VERSION,
        "party": node.party,
        "at": format_instant(now),
        "originator": originator,
        "request": request,
        "items": [e.to_json() for e in found],
    }
    return sign_statement(node.keyring, KIND, body)


def entries(node: Node, originator: str | None) -> list[Entry]:
    """The inventory's entries, in the order the items came to this node."""
    with node.store.reading() as r:
        records = r.held_items(originator)
        # a destroyed item's row is gone: what the node keeps of it stands in (DOMAIN.md §7.5)
        records += [
            ItemRecord(d.item_id, d.originator, d.received_from, d.added or d.destroyed_at, None)
            for d in r.destroyed_items(limit=MAX_DESTROYED)
            if originator is None or d.originator == originator
        ]
        records.sort(key=lambda rec: (rec.added, rec.item_id))
        # this node's own certificate (keyed by the item id), for an item it no longer holds:
        # at an originator, certificates received from holders are filed under its item id
        # too ("HOLDER ITEM-ID"), and say nothing of its own copy
        certificates = {rec.item_id: _own_certificate(r, rec) for rec in records}
        scopes = {rec.item_id: _equivalence(node, r, rec) for rec in records}
    return [_entry(node, rec, certificates[rec.item_id], scopes[rec.item_id]) for rec in records]


def _own_certificate(r: NodeReader, rec: ItemRecord) -> list[Any]:
    """This node's certificate for ``rec`` if it destroyed it (none for an item it holds)."""
    if rec.sealed is not None:
        return []
    doc = r.document(DESTRUCTION_CERTIFICATE, rec.item_id)
    return [] if doc is None else [doc]


def _equivalence(node: Node, r: NodeReader, rec: ItemRecord) -> str | None:
    """The equivalence class the item's STIX object carries (kept when the item is destroyed)."""
    stix_id, _, version = rec.item_id.partition("/")
    scope = r.object_scope(node.collection_id(rec.originator), stix_id, version)
    return None if scope is None else scope.equivalence


def _entry(node: Node, rec: ItemRecord, certificates: list[Any], equivalence: str | None) -> Entry:
    if rec.sealed is None:
        return _destroyed(node, rec, certificates, equivalence)
    verified = node.verifier.verify(rec.sealed)
    classification = _classification(node, rec.item_id, verified)
    own = rec.originator == node.party
    return Entry(
        rec.item_id,
        rec.originator,
        classification,
        _marking(node, rec.originator, classification=classification),
        verified.digest.hex(),
        "originated" if own else "received",
        None if own else rec.received_from,
        rec.added,
        () if own else _route(node.party, verified),
        "held",
    )


def _destroyed(
    node: Node, rec: ItemRecord, certificates: list[Any], equivalence: str | None
) -> Entry:
    """A destroyed item: what its certificate says (verified: it is this node's own word);
    with no certificate (the bytes gone all the same), when and why are not known here."""
    own = rec.originator == node.party
    level = _marking(node, rec.originator, equivalence=equivalence)
    arrived: Literal["originated", "received"] = "originated" if own else "received"
    sender = None if own else rec.received_from
    if not certificates:
        return Entry(
            rec.item_id,
            rec.originator,
            None,
            level,
            None,
            arrived,
            sender,
            rec.added,
            (),
            "destroyed",
        )
    row = certificates[-1]
    where = f"{DESTRUCTION_CERTIFICATE} {row.key}"
    cert = verify_statement(node.keyring, row.body, kind=DESTRUCTION, party=node.party, where=where)
    digest, at, reason = cert.get("digest"), cert.get("destroyed_at"), cert.get("reason")
    if not (isinstance(digest, str) and isinstance(at, str) and isinstance(reason, str)):
        raise StoreFailure(f"{where}: expected digest, destroyed_at and reason")
    label = cert.get("label")
    classification = label.get("classification") if isinstance(label, dict) else None
    return Entry(
        rec.item_id,
        rec.originator,
        classification if isinstance(classification, str) else None,
        level,
        digest,
        arrived,
        sender,
        rec.added,
        (),
        "destroyed",
        destroyed_at=at,
        reason=reason,
        certificate=row.body,
    )


def _classification(node: Node, item_id: str, verified: VerifiedItem) -> str:
    """The item's current classification: the originator's latest notice as it reached here."""
    carrier = notice_carrier(node, item_id)
    if carrier is not None and len(carrier.notices) > len(verified.notices):
        return carrier.classification
    return verified.classification


def _marking(
    node: Node,
    originator: str,
    *,
    classification: str | None = None,
    equivalence: str | None = None,
) -> dict[str, Any] | None:
    """This node's level for an item: the originator's own level for its items, else this
    policy's default level for the class (``None`` if neither is known)."""
    try:
        if classification is not None:
            level = node.scenario.policy(originator).level(classification)
            cls = level.equivalence
            if originator == node.party:
                return {
                    "party": node.party,
                    "level": level.id,
                    "native": level.native,
                    "equivalence": cls.value,
                    "originator": originator,
                }
        elif equivalence is not None:
            cls = Equivalence(equivalence)
        else:
            return None
        return node.scenario.policy(node.party).marking_for(cls, originator).to_json()
    except (GsomiaError, ValueError):
        return None


def _route(party: str, verified: VerifiedItem) -> tuple[Step, ...]:
    """The steps that brought the item to ``party``: the originator's grant, or the release
    records whose recipient it is."""
    originator = verified.label.originator
    steps = [
        Step(originator, g.party, format_instant(g.at), "grant")
        for g in verified.grants
        if g.party == party
    ]
    for rel in verified.releases:
        if rel.recipient != party:
            continue
        under: Literal["release", "consent", "standing"] = "release"
        if rel.consent is not None:
            under = "consent"
        elif rel.standing_consent is not None:
            under = "standing"
        steps.append(
            Step(rel.holder, rel.recipient, format_instant(rel.at), under, rel.standing_consent)
        )
    return tuple(steps)


# ------------------------------------------------------------------ reading one back
def _text(obj: dict[str, Any], key: str, where: str, *, optional: bool = False) -> str | None:
    value = obj.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value or len(value) > 4000:
        raise BadInput(f"{where}.{key}: expected a string")
    return value


def _step(obj: object, where: str) -> Step:
    if not isinstance(obj, dict):
        raise BadInput(f"{where}: expected an object")
    under = obj.get("under")
    if under not in ("grant", "release", "consent", "standing"):
        raise BadInput(f"{where}.under: expected grant, release, consent or standing")
    return Step(
        str(_text(obj, "holder", where)),
        str(_text(obj, "recipient", where)),
        str(_text(obj, "at", where)),
        under,
        _text(obj, "standing_consent", where, optional=True),
    )


def parse_entry(obj: object, where: str) -> Entry:
    """One entry of an inventory statement's body, strictly."""
    if not isinstance(obj, dict):
        raise BadInput(f"{where}: expected an object")
    item = str(_text(obj, "item", where))
    split_item_id(item)
    arrival = obj.get("arrival")
    if not isinstance(arrival, dict) or not isinstance(arrival.get("route"), list):
        raise BadInput(f"{where}.arrival: expected an object with a route")
    how = arrival.get("how")
    if how not in ("originated", "received"):
        raise BadInput(f"{where}.arrival.how: expected originated or received")
    disposition = obj.get("disposition")
    if disposition not in ("held", "destroyed"):
        raise BadInput(f"{where}.disposition: expected held or destroyed")
    level = obj.get("level")
    if level is not None and not isinstance(level, dict):
        raise BadInput(f"{where}.level: expected an object or null")
    certificate = obj.get("certificate")
    if certificate is not None and not isinstance(certificate, dict):
        raise BadInput(f"{where}.certificate: expected an object or null")
    destroyed = disposition == "destroyed"
    return Entry(
        item=item,
        originator=str(_text(obj, "originator", where)),
        classification=_text(obj, "classification", where, optional=True),
        level=level,
        digest=_text(obj, "digest", where, optional=destroyed),
        arrived=how,
        arrived_from=_text(arrival, "from", f"{where}.arrival", optional=True),
        arrived_at=str(_text(arrival, "at", f"{where}.arrival")),
        route=tuple(
            _step(s, f"{where}.arrival.route[{i}]") for i, s in enumerate(arrival["route"])
        ),
        disposition=disposition,
        destroyed_at=_text(obj, "destroyed_at", where, optional=True) if destroyed else None,
        reason=_text(obj, "reason", where, optional=True) if destroyed else None,
        certificate=certificate if destroyed else None,
    )


@dataclass(frozen=True, slots=True)
class Inventory:
    """An inventory statement verified and read: who stated it, when, of whose items."""

    party: str
    at: datetime
    originator: str | None
    request: str | None
    entries: tuple[Entry, ...]


def verify_inventory(node: Node, doc: object, party: str, where: str = "inventory") -> Inventory:
    """The inventory ``doc`` if it is an ``inventory`` statement signed by ``party`` with a key
    this node trusts (VerificationFailed otherwise), its body read strictly (BadInput)."""
    body = verify_statement(node.keyring, doc, kind=KIND, party=party, where=where)
    if body.get("v") != BODY_VERSION or body.get("party") != party:
        raise BadInput(f"{where}: expected body version {BODY_VERSION}, stated by {party}")
    items = body.get("items")
    if not isinstance(items, list) or len(items) > MAX_ITEMS:
        raise BadInput(f"{where}.items: expected a list of at most {MAX_ITEMS} entries")
    return Inventory(
        party,
        parse_instant(str(_text(body, "at", where)), f"{where}.at"),
        _text(body, "originator", where, optional=True),
        _text(body, "request", where, optional=True),
        tuple(parse_entry(e, f"{where}.items[{i}]") for i, e in enumerate(items)),
    )
