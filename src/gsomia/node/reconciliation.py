"""Reconciliation (DOMAIN.md §7.4): an originator compares its release records with a holder's
signed inventory of the originator's items; every difference is a finding.

The round trip: the originator's admin (or its schedule, every ``reconcile_interval`` wall
seconds) asks (``request``): a pending reconciliation is stored and an inventory request
travels, signed, to the holder (``INVENTORY_REQUEST_PATH``). The holder answers at once
(``receive_request``): its inventory of the asker's items only, as a signed ``inventory``
statement bound to the request, stored (``INVENTORY_SENT``) and queued back
(``INVENTORY_PATH``) in one transaction. The originator verifies it (``receive_inventory``)
and reconciles it with what its own records say the holder should hold:

* ``sent_not_held`` — released to the holder (the release was sent), not in its inventory;
* ``held_not_sent`` — in its inventory, but neither released to it by the originator nor
  passed to it under a consent the originator granted (an item the originator never
  originated is one too);
* ``relayed_under_standing_consent`` — the softer kind: held, not sent by the originator nor
  under its consent, but relayed to the holder under standing consent (the 2023 link's hub
  relays warning data without asking) along a route the originator's records allow.
  Legitimate, yet reported, since the originator did not decide it;
* ``destroyed`` — the holder destroyed it: the instant and reason of its certificate, which the
  originator verifies with the holder's keys (a certificate that does not verify says so);
* ``digest_differs`` — the holder states a digest other than the item's.

A reconciliation is stored as a document of kind ``reconciliation`` (with the inventory it used
as its attachment), listed for admins only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final, Literal

import orjson

from gsomia.domain.instants import format_instant, parse_instant
from gsomia.errors import (
    BadInput,
    Conflict,
    GsomiaError,
    NotFound,
    StoreFailure,
    VerificationFailed,
)
from gsomia.node import audit, messages, receipts
from gsomia.node.config import User
from gsomia.node.holdings import (
    CONSENT_INBOX,
    INVENTORY_SENT,
    RECONCILIATION,
    held,
    hidden_ids,
    require_admin,
)
from gsomia.node.inventory import DESTRUCTION, Entry, statement, verify_inventory
from gsomia.node.results import Delivery
from gsomia.node.service import Node
from gsomia.seal.statements import verify_statement
from gsomia.store.ports import DocumentRow

INVENTORY_REQUEST_PATH: Final = "/peer/v1/inventory-requests"
INVENTORY_PATH: Final = "/peer/v1/inventories"
NO_ITEM: Final = ""  # a reconciliation (and an inventory sent) is about no one item
MAX_INVENTORY_BYTES = 16 * 1024 * 1024
SCHEDULE: Final = "schedule"  # ``requested_by`` of a scheduled reconciliation

FindingKind = Literal[
    "sent_not_held",
    "held_not_sent",
    "relayed_under_standing_consent",
    "destroyed",
    "digest_differs",
]
SEVERITY: dict[str, Literal["serious", "notice"]] = {
    "sent_not_held": "serious",
    "held_not_sent": "serious",
    "digest_differs": "serious",
    "relayed_under_standing_consent": "notice",
    "destroyed": "notice",
}
Status = Literal["pending", "done", "failed"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One difference between the originator's records and the holder's inventory."""

    kind: FindingKind
    item: str
    detail: str
    at: str | None = None  # when it arrived at the holder, or was destroyed there
    reason: str | None = None  # the destruction's reason
    via: str | None = None  # the party it came from

    @property
    def severity(self) -> str:
        return SEVERITY[self.kind]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "severity": self.severity,
            "item": self.item,
            "detail": self.detail,
        }
        for key in ("at", "reason", "via"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    @classmethod
    def from_json(cls, obj: object, where: str) -> Finding:
        if not isinstance(obj, dict) or obj.get("kind") not in SEVERITY:
            raise StoreFailure(f"{where}: not a finding")
        try:
            return cls(
                obj["kind"],
                str(obj["item"]),
                str(obj["detail"]),
                obj.get("at"),
                obj.get("reason"),
                obj.get("via"),
            )
        except KeyError as exc:
            raise StoreFailure(f"{where}: missing {exc}") from None


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """One reconciliation with a holder, as the originator keeps it."""

    id: str
    holder: str
    requested_at: str
    requested_by: str
    requested_wall: float  # wall epoch seconds: what the schedule counts from
    status: Status
    answered_at: str | None = None
    inventory_at: str | None = None
    items: int | None = None  # items in the holder's inventory
    findings: tuple[Finding, ...] = ()
    delivery: Delivery | None = None
    hidden_findings: int | None = None  # left out of a user's view: about items hidden from them

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "holder": self.holder,
            "requested_at": self.requested_at,
            "requested_by": self.requested_by,
            "requested_wall": self.requested_wall,
            "status": self.status,
            "findings": [f.to_json() for f in self.findings],
        }
        for key in ("answered_at", "inventory_at", "items", "hidden_findings"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.delivery is not None:
            out["delivery"] = self.delivery.to_json()
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any], where: str) -> Reconciliation:
        try:
            return cls(
                str(obj["id"]),
                str(obj["holder"]),
                str(obj["requested_at"]),
                str(obj["requested_by"]),
                float(obj["requested_wall"]),
                obj["status"],
                obj.get("answered_at"),
                obj.get("inventory_at"),
                obj.get("items"),
                tuple(
                    Finding.from_json(f, f"{where}.findings[{i}]")
                    for i, f in enumerate(obj["findings"])
                ),
                Delivery.from_json(obj.get("delivery"), f"{where}.delivery"),
            )
        except (KeyError, TypeError, ValueError, BadInput) as exc:
            raise StoreFailure(f"{where}: {exc}") from None


@dataclass(frozen=True, slots=True)
class InventoryReceipt:
    """A node's answer to a peer's inventory request, or to its inventory."""

    request: str
    result: Literal["queued", "reconciled", "duplicate"]
    findings: int | None = None

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"request": self.request, "result": self.result}
        if self.findings is not None:
            out["findings"] = self.findings
        return out


def stored_reconciliation(row: DocumentRow) -> Reconciliation:
    if row.kind != RECONCILIATION:
        raise StoreFailure(f"{row.kind} {row.key}: not a reconciliation")
    return Reconciliation.from_json(row.body, f"{row.kind} {row.key}")


# ------------------------------------------------------------------ at the originator
def _holder(node: Node, holder: str) -> str:
    node.scenario.policy(holder, where="holder")
    if holder == node.party:
        raise BadInput(f"holder: {holder} is this node; reconcile with another party")
    if holder not in {p.party for p in node.config.peers}:
        raise BadInput(f"holder: {holder} is not a peer of {node.party}")
    return holder


def request(node: Node, user: User, holder: str) -> Reconciliation:
    """Ask ``holder`` for its inventory of this node's items, to reconcile (admins only)."""
    require_admin(node, user, f"reconcile with {holder[:10]}")
    return _request(node, _holder(node, holder), user.name, node.wall.now().timestamp())


def _request(node: Node, holder: str, by: str, wall_now: float) -> Reconciliation:
    now = node.clock.now()
    doc = Reconciliation(
        messages.new_id(),
        holder,
        format_instant(now),
        by,
        wall_now,
        "pending",
        delivery=Delivery.queued(format_instant(now)),
    )
    with node.store.writing() as w:
        w.put_document(RECONCILIATION, doc.id, NO_ITEM, doc.to_json(), None)
        messages.queue(
            w,
            recipient=holder,
            path=INVENTORY_REQUEST_PATH,
            body={"id": doc.id, "requested_at": doc.requested_at},
            ref=(RECONCILIATION, doc.id),
        )
    audit.accepted("request inventory", user=by, party=node.party, holder=holder, request=doc.id)
    return doc


def scheduled(
    node: Node, wall_now: float, interval: float, *, since: float = 0.0
) -> list[Reconciliation]:
    """The schedule's turn at ``wall_now`` (wall epoch seconds; ``interval`` wall seconds, 0:
    off): a reconciliation requested of every peer whose last one (whatever came of it) was
    asked ``interval`` or more ago — one never asked counts from ``since``."""
    if interval <= 0:
        return []
    with node.store.reading() as r:
        docs = [stored_reconciliation(d) for d in r.documents(RECONCILIATION)]
    last = {peer.party: since for peer in node.config.peers}
    for doc in docs:
        last[doc.holder] = max(last.get(doc.holder, 0.0), doc.requested_wall)
    return [
        _request(node, peer.party, SCHEDULE, wall_now)
        for peer in node.config.peers
        if wall_now - last[peer.party] >= interval
    ]


def receive_inventory(node: Node, sender: str, raw: bytes, now: datetime) -> InventoryReceipt:
    """A holder's inventory answering one of this node's requests: verified (signed by the
    holder, bound to the request, of this node's items only), reconciled, stored."""
    where = "inventory"
    msg = messages.parse_message(raw, where)
    rid = messages.request_id(messages.text(msg, "request", where), f"{where}.request")
    with node.store.reading() as r:
        found = r.document(RECONCILIATION, rid)
    if found is None:
        raise NotFound(f"{where}: no reconciliation {rid} at {node.party}")
    doc = stored_reconciliation(found)
    if doc.holder != sender:
        raise VerificationFailed(f"{where}: {sender} answered a request addressed to {doc.holder}")
    if doc.status != "pending":
        return InventoryReceipt(rid, "duplicate", len(doc.findings))
    stated = verify_inventory(node, msg.get("inventory"), sender, f"{where}.inventory")
    if stated.request != rid or stated.originator != node.party:
        raise VerificationFailed(
            f"{where}: the inventory answers request {stated.request} of {stated.originator}, "
            f"not {rid} of {node.party}"
        )
    receipts.require_not_future(node, sender, stated.at, now, f"{where} {rid}")
    strangers = sorted({e.originator for e in stated.entries} - {node.party})
    if strangers:
        raise VerificationFailed(f"{where}: lists items of {', '.join(strangers)}")
    findings = reconcile(node, sender, stated.entries, now)
    done = replace(
        doc,
        status="done",
        answered_at=format_instant(now),
        inventory_at=format_instant(stated.at),
        items=len(stated.entries),
        findings=tuple(findings),
    )
    attachment = orjson.dumps(msg["inventory"])
    with node.store.writing() as w:
        current = w.document(RECONCILIATION, rid)  # its delivery may have been recorded since
        if current is not None:
            done = replace(done, delivery=stored_reconciliation(current).delivery)
        w.put_document(RECONCILIATION, rid, NO_ITEM, done.to_json(), attachment)
    audit.accepted(
        "reconcile", party=node.party, holder=sender, request=rid, findings=len(findings)
    )
    return InventoryReceipt(rid, "reconciled", len(findings))


def reconcile(node: Node, holder: str, entries: tuple[Entry, ...], now: datetime) -> list[Finding]:
    """The findings of comparing ``holder``'s inventory of this node's items with this node's
    records (see the module), ordered by item."""
    with node.store.reading() as r:
        own = {rec.item_id: rec for rec in r.held_items(node.party)}
        released = {i: s for i, s in r.releases_to(holder) if i in own}
        consented = {
            d.item_id
            for d in r.documents(CONSENT_INBOX)
            if d.body.get("status") == "granted" and d.body.get("recipient") == holder
        }
    stated = {e.item: e for e in entries}
    findings = [
        Finding("sent_not_held", item, f"released to {holder}; not in its inventory")
        for item, state in released.items()
        if state == "sent" and item not in stated
    ]
    for entry in entries:
        findings += _about(node, holder, entry, set(own))
        if entry.item in own and entry.item not in consented:
            findings += _unsent(node, holder, entry, now, released.get(entry.item))
    return sorted(findings, key=lambda f: (f.item, f.kind))


def _about(node: Node, holder: str, entry: Entry, own_ids: set[str]) -> list[Finding]:
    """What an entry says whatever the records: unknown item, destroyed, other digest."""
    if entry.item not in own_ids:
        return [
            Finding(
                "held_not_sent",
                entry.item,
                f"{holder} lists an item {node.party} has no record of originating",
                at=entry.arrived_at,
                via=entry.arrived_from,
            )
        ]
    found: list[Finding] = []
    ours = _our_digest(node, entry.item)
    if entry.disposition == "destroyed":
        found.append(_destruction(node, holder, entry, ours))
    elif ours is not None and entry.digest != ours:
        found.append(
            Finding(
                "digest_differs",
                entry.item,
                f"{holder} states digest {entry.digest}; the item's is {ours}",
            )
        )
    return found


def _our_digest(node: Node, item_id: str) -> str | None:
    try:
        return held(node, item_id).verified.digest.hex()
    except GsomiaError:
        return None  # destroyed here too, or no longer readable: nothing to compare


def _destruction(node: Node, holder: str, entry: Entry, ours: str | None) -> Finding:
    """A destroyed entry, its certificate verified with the holder's keys."""
    if entry.certificate is None:
        words = f"destroyed by {holder}; no certificate: when and why are not stated"
        return Finding("destroyed", entry.item, words)
    words = f"destroyed by {holder} at {entry.destroyed_at}: {entry.reason}"
    try:
        cert = verify_statement(
            node.keyring, entry.certificate, kind=DESTRUCTION, party=holder, where="certificate"
        )
    except VerificationFailed as exc:
        words += f" (the certificate does not verify: {exc})"
    else:
        if cert.get("item") != entry.item:
            words += " (the certificate is about another item)"
        elif ours is not None and cert.get("digest") != ours:
            words += " (the certificate names another digest)"
        else:
            words += " (certificate verified)"
    return Finding("destroyed", entry.item, words, at=entry.destroyed_at, reason=entry.reason)


def _unsent(
    node: Node, holder: str, entry: Entry, now: datetime, state: str | None
) -> list[Finding]:
    """An entry of an item this node originated, neither released to the holder nor passed to
    it under this node's consent: relayed under standing consent (if the route says so and
    this node's records allow it), else held but not sent."""
    if state in ("sent", "pending"):
        return []
    standing = [s for s in entry.route if s.recipient == holder and s.under == "standing"]
    came = f"arrived from {entry.arrived_from or 'an unnamed party'} at {entry.arrived_at}"
    if standing:
        step = standing[-1]
        try:
            allowed = holder in receipts.holders(node, held(node, entry.item), now)
        except GsomiaError:
            allowed = False
        if allowed:
            return [
                Finding(
                    "relayed_under_standing_consent",
                    entry.item,
                    f"relayed by {step.holder} under standing consent "
                    f"{step.standing_consent or ''} at {step.at}; {came}".replace("  ", " "),
                    at=entry.arrived_at,
                    via=step.holder,
                )
            ]
    return [
        Finding(
            "held_not_sent",
            entry.item,
            f"not released to {holder} by {node.party}, nor under its consent; {came}",
            at=entry.arrived_at,
            via=entry.arrived_from,
        )
    ]


def _as_seen(node: Node, user: User, docs: list[Reconciliation]) -> list[Reconciliation]:
    """``docs`` as ``user`` may see them: a finding about an item held here that the user may
    not see is left out, and counted (an admin is no exception to clearance and need-to-know;
    an item the holder lists that was never held here hides nothing)."""
    with node.store.reading() as r:
        hidden = hidden_ids(node, r, user, (f.item for d in docs for f in d.findings))
    seen = []
    for doc in docs:
        kept = tuple(f for f in doc.findings if f.item not in hidden)
        left = len(doc.findings) - len(kept)
        seen.append(replace(doc, findings=kept, hidden_findings=left or None))
    return seen


def reconciliations(node: Node, user: User, holder: str | None = None) -> list[Reconciliation]:
    """This node's reconciliations (with ``holder`` if given), newest first (admins only)."""
    require_admin(node, user, "list reconciliations")
    with node.store.reading() as r:
        docs = [stored_reconciliation(d) for d in r.documents(RECONCILIATION)]
    return _as_seen(node, user, [d for d in reversed(docs) if holder in (None, d.holder)])


def reconciliation(node: Node, user: User, rid: str) -> Reconciliation:
    """One reconciliation (admins only)."""
    require_admin(node, user, f"read reconciliation {rid[:60]}")
    messages.request_id(rid, "reconciliation id")
    with node.store.reading() as r:
        found = r.document(RECONCILIATION, rid)
    if found is None:
        raise NotFound(f"no reconciliation {rid} at {node.party}")
    return _as_seen(node, user, [stored_reconciliation(found)])[0]


# ------------------------------------------------------------------ at the holder
def receive_request(node: Node, sender: str, raw: bytes, now: datetime) -> InventoryReceipt:
    """An originator's request for this node's inventory of its items: answered at once with
    the signed statement, stored and queued back in one transaction (a repeated request is
    answered as a duplicate; the inventory already sent stands)."""
    where = "inventory request"
    msg = messages.parse_message(raw, where)
    rid = messages.request_id(messages.text(msg, "id", where), f"{where}.id")
    requested = parse_instant(messages.text(msg, "requested_at", where), f"{where}.requested_at")
    receipts.require_not_future(node, sender, requested, now, f"{where} {rid}")
    with node.store.reading() as r:
        existing = r.document(INVENTORY_SENT, rid)
    if existing is not None:
        if existing.body.get("originator") != sender:
            raise Conflict(f"{where}: request id {rid} is already used")
        return InventoryReceipt(rid, "duplicate")
    signed = statement(node, sender, request=rid)
    at = format_instant(now)
    body = {
        "request": rid,
        "originator": sender,
        "requested_at": format_instant(requested),
        "stated_at": signed["body"]["at"],
        "items": len(signed["body"]["items"]),
        "delivery": Delivery.queued(at).to_json(),
    }
    with node.store.writing() as w:
        w.put_document(INVENTORY_SENT, rid, NO_ITEM, body, orjson.dumps(signed))
        messages.queue(
            w,
            recipient=sender,
            path=INVENTORY_PATH,
            body={"request": rid, "inventory": signed},
            ref=(INVENTORY_SENT, rid),
        )
    audit.accepted("state inventory", party=node.party, originator=sender, request=rid)
    return InventoryReceipt(rid, "queued")
