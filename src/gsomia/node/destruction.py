"""Destruction (DOMAIN.md §7.5): a holder destroys an item it no longer needs, when its
originator asks, or when the label's ``retain_until`` has passed; the originator gets a
certificate signed by the holder.

Carrying it out (``_carry_out``) is one transaction: the item's key row, its objects' bodies,
its sealed bytes, its queued releases, its retention row, the originator's notice copy and any
queued notice carrying it are deleted; what is kept is its id, originator, digest and label
(``destroyed_items``), the certificate (node document ``DESTRUCTION_CERTIFICATE``, keyed by the
item id), an ``item.destroyed`` log entry, and the certificate queued to the originator. After
the commit the store scrubs what it freed (``NodeStore.scrub``). Destruction is local: items
this holder relayed on to others are theirs to destroy.

At the originator a certificate is verified (the holder's statement, signed; the holder one the
originator's records show holding the item), stored under ``DESTRUCTION_CERTIFICATE`` keyed by
``"HOLDER ITEM-ID"`` (one per holder) and logged (``destruction.certified``).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from gsomia.domain.access import Role, meets_need_to_know
from gsomia.domain.instants import format_instant, parse_instant
from gsomia.domain.topics import parse_topic, within
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
from gsomia.node.federation import retention_instant
from gsomia.node.holdings import (
    DESTRUCTION_CERTIFICATE,
    DESTRUCTION_REQUEST,
    MAX_ITEM_ID,
    NOTICE,
    Held,
    destroyed_item,
    held,
    hidden_ids,
    require_admin,
    visible_documents,
    visible_item,
    visible_or_destroyed,
)
from gsomia.node.results import Delivery
from gsomia.node.service import Node
from gsomia.seal.item import Core, Item, SealedLabel
from gsomia.seal.statements import sign_statement, verify_statement
from gsomia.store.ports import DestroyedRow, DocumentRow, NodeReader, NodeWriter

STATEMENT_KIND = "destruction"
REQUEST_PATH = "/peer/v1/destruction-requests"
CERTIFICATE_PATH = "/peer/v1/destruction-certificates"

ORIGINATOR_REQUEST = "originator-request"
RETURNED = "returned"
RETENTION = "retention"
MAX_REASON = 500
SWEEP_BATCH = 100
_TOPIC_BATCH = 500
_CERTIFICATE_FIELDS = frozenset(
    (
        "item",
        "originator",
        "holder",
        "digest",
        "label",
        "destroyed_at",
        "reason",
        "authorised_by",
    )
)


@dataclass(frozen=True, slots=True)
class Certificate:
    """A destruction certificate: the holder's signed statement and what it says."""

    statement: dict[str, Any]
    held_at: str  # "holder" (this node destroyed it) or "originator" (received)

    @property
    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = self.statement["body"]
        return body

    def to_json(self) -> dict[str, Any]:
        return {**self.body, "certificate": self.statement}


@dataclass(frozen=True, slots=True)
class RequestReceipt:
    """The holder's answer to a destruction request: what it destroyed, and what it had
    destroyed already."""

    request: str
    destroyed: tuple[str, ...]
    already: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "request": self.request,
            "destroyed": list(self.destroyed),
            "already_destroyed": list(self.already),
        }


@dataclass(frozen=True, slots=True)
class CertificateReceipt:
    item: str
    result: str  # "stored" | "duplicate"

    def to_json(self) -> dict[str, str]:
        return {"item": self.item, "result": self.result}


# ------------------------------------------------------------------ at the holder
def _reason(text: str) -> str:
    reason = " ".join(text.split())
    if not reason or len(reason) > MAX_REASON:
        raise BadInput(f"reason: expected text of 1 to {MAX_REASON} characters")
    return reason


def destroy(node: Node, user: User, item_id: str, reason: str) -> Certificate:
    """An admin destroys an item this node holds and did not originate (its originator keeps
    its items: they are its record of what it shared)."""
    action = f"destroy {item_id[:120]}"
    require_admin(node, user, action)
    why = _reason(reason)
    item = visible_or_destroyed(node, user, item_id, action)
    if item.originator == node.party:
        raise BadInput(
            f"item: {node.party} originated {item_id}; an originator's own items are its record "
            "of what it shared, and are not destroyed here (ask a holder to destroy its copy)"
        )
    return _carry_out(node, item, reason=why, authorised_by=user.name)


def _carry_out(
    node: Node, item: Held, *, reason: str, authorised_by: str, scrub: bool = True
) -> Certificate:
    """Destroy ``item`` (see the module); its certificate. ``scrub=False``: the caller
    destroys several and scrubs once after the last."""
    if item.row is None or item.row.equivalence is None:
        raise StoreFailure(f"{item.item_id[:MAX_ITEM_ID]}: no stored object to destroy")
    now = node.clock.now()
    verified = item.verified
    destroyed_at = format_instant(now)
    body: dict[str, Any] = {
        "item": item.item_id,
        "originator": item.originator,
        "holder": node.party,
        "digest": verified.digest.hex(),
        "label": verified.label.to_json(),
        "destroyed_at": destroyed_at,
        "reason": reason,
        "authorised_by": authorised_by,
    }
    statement = sign_statement(node.keyring, STATEMENT_KIND, body)
    kept = DestroyedRow(
        item.item_id,
        item.originator,
        verified.digest.hex(),
        verified.label.to_json(),
        item.row.equivalence,
        item.row.topics,
        destroyed_at,
        reason,
        authorised_by,
        item.received_from,
        item.row.date_added,
    )
    entry = node.entry(
        "item.destroyed",
        now,
        {
            "item": item.item_id,
            "originator": item.originator,
            "digest": body["digest"],
            "reason": reason,
        },
    )
    with node.store.writing() as w:
        if w.destroyed(item.item_id) is not None:
            raise Conflict(f"item: {item.item_id} is already destroyed at {node.party}")
        w.drop_messages(_notices_carrying(w, item.item_id))
        w.destroy_item(item.item_id, (NOTICE,))
        w.add_destroyed(kept)
        w.put_document(DESTRUCTION_CERTIFICATE, item.item_id, item.item_id, statement, None)
        messages.queue(
            w,
            recipient=item.originator,
            path=CERTIFICATE_PATH,
            body={"certificate": statement},
            ref=None,
        )
        node.log.append_in(w.log, [entry])
    if scrub:
        node.store.scrub()
    audit.accepted(
        "destroy item", user=authorised_by, party=node.party, item=item.item_id, reason=reason
    )
    return Certificate(statement, "holder")


def _notices_carrying(w: NodeWriter, item_id: str) -> list[int]:
    """The stored notice messages (this node passing the originator's notice on) that carry
    ``item_id``'s sealed bytes."""
    found = []
    for row in w.messages_on(messages.NOTICE_PATH):
        try:
            raw = base64.b64decode(orjson.loads(row.body)["item"], validate=True)
            core = Core.decode(Item.decode(raw).core, "notice message")
            label = SealedLabel.decode(core.label, "notice message label")
        except (GsomiaError, KeyError, TypeError, ValueError, binascii.Error):
            continue  # not an item message: carries nothing of it
        if label.id == item_id:
            found.append(row.id)
    return found


def sweep_retention(node: Node, now: datetime | None = None) -> list[str]:
    """Destroy every held item whose label's ``retain_until`` has passed at the node's clock
    (``now``, default the clock's now); the items destroyed. An item that fails (it does not
    verify, the store refuses) is audited by id and skipped: it stays due."""
    instant = node.clock.now() if now is None else now
    with node.store.reading() as r:
        due = r.retention_due(retention_instant(instant), SWEEP_BATCH)
    done: list[str] = []
    try:
        for item_id in due:
            try:
                item = held(node, item_id)
                _carry_out(node, item, reason=RETENTION, authorised_by=RETENTION, scrub=False)
            except NotFound:
                continue
            except GsomiaError as exc:  # one item's failure stops none of the others
                audit.refused(
                    "destroy item",
                    f"retention: {type(exc).__name__}",  # the kind only: no content
                    user=RETENTION,
                    party=node.party,
                    level=logging.ERROR,
                    item=item_id,
                )
                continue
            done.append(item_id)
    finally:
        if done:  # once, after the last (and after a failure: what was done is scrubbed)
            node.store.scrub()
    return done


def receive_request(node: Node, sender: str, raw: bytes, now: datetime) -> RequestReceipt:
    """The originator ``sender`` asks this node to destroy one item, or every item of a topic
    (within it), that it originated; carried out at once. An item not held here (or not
    ``sender``'s) is answered as unknown."""
    where = "destruction request"
    doc = messages.parse_message(raw, where)
    rid = messages.request_id(messages.text(doc, "id", where, limit=64), f"{where}.id")
    returned = doc.get("returned", False)
    if not isinstance(returned, bool):
        raise BadInput(f"{where}.returned: expected true or false")
    item_id = messages.optional_text(doc, "item", where, limit=MAX_ITEM_ID)
    topic_text = messages.optional_text(doc, "topic", where, limit=200)
    if (item_id is None) == (topic_text is None):
        raise BadInput(f"{where}: name an item or a topic (one of them)")
    requested = parse_instant(messages.text(doc, "requested_at", where, limit=64), where)
    receipts.require_not_future(node, sender, requested, now, where)
    if item_id is not None:
        candidates = [item_id]
    else:
        topic = parse_topic(topic_text, f"{where}.topic")
        candidates = _items_within(node, sender, topic)
    reason = RETURNED if returned else ORIGINATOR_REQUEST
    destroyed: list[str] = []
    already: list[str] = []
    try:
        for candidate in candidates:
            with node.store.reading() as r:
                gone = r.destroyed(candidate)
                origin = r.item_origin(candidate)
            if gone is not None and gone.originator == sender:
                already.append(candidate)
                continue
            if origin is None or origin[0] != sender:
                continue
            item = held(node, candidate)
            by = f"originator request {rid}"
            _carry_out(node, item, reason=reason, authorised_by=by, scrub=False)
            destroyed.append(candidate)
    finally:
        if destroyed:  # once, after the last (and after a failure: what was done is scrubbed)
            node.store.scrub()
    if item_id is not None and not destroyed and not already:
        receipts.refuse(node, sender, where, f"{item_id[:120]}: not held here from {sender}")
        raise NotFound(f"no item {item_id[:MAX_ITEM_ID]!r} at {node.party}")
    return RequestReceipt(rid, tuple(destroyed), tuple(already))


def _items_within(node: Node, originator: str, topic: str) -> list[str]:
    """The items of ``originator`` held (or destroyed) here with every topic within ``topic``."""
    cid = node.collection_id(originator)
    found: list[str] = []
    after = 0
    with node.store.reading() as r:
        found.extend(
            row.item_id
            for row in r.destroyed_items(limit=100_000)
            if row.originator == originator
            and row.topics
            and all(within(t, topic) for t in row.topics)
        )
        while True:
            rows = r.page(
                cid, after_seq=after, added_after=None, latest_only=False, batch=_TOPIC_BATCH
            )
            found.extend(
                row.item_id
                for row in rows
                if row.item_id is not None
                and row.topics
                and all(within(t, topic) for t in row.topics)
            )
            if len(rows) < _TOPIC_BATCH:
                break
            after = rows[-1].seq
    return found


# ------------------------------------------------------------------ at the originator
@dataclass(frozen=True, slots=True)
class DestructionRequest:
    """A request this node (the originator) sent a holder, and how its delivery fared."""

    id: str
    holder: str
    item: str | None
    topic: str | None
    returned: bool
    requested_at: str
    requested_by: str
    delivery: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "holder": self.holder,
            "item": self.item,
            "topic": self.topic,
            "returned": self.returned,
            "requested_at": self.requested_at,
            "requested_by": self.requested_by,
            "delivery": self.delivery,
        }

    @classmethod
    def from_row(cls, row: DocumentRow) -> DestructionRequest:
        b = row.body
        try:
            return cls(
                str(b["id"]),
                str(b["holder"]),
                b.get("item"),
                b.get("topic"),
                bool(b["returned"]),
                str(b["requested_at"]),
                str(b["requested_by"]),
                b.get("delivery"),
            )
        except KeyError as exc:
            raise StoreFailure(f"{row.kind} {row.key}: missing {exc}") from None


def request_destruction(
    node: Node,
    user: User,
    holder: str,
    *,
    item_id: str | None = None,
    topic: str | None = None,
    returned: bool = False,
) -> DestructionRequest:
    """Ask ``holder`` to destroy one item this node originated, or every such item of a topic
    (admins only); queued to the holder with the request document."""
    action = "request destruction"
    require_admin(node, user, action)
    node.scenario.policy(holder, where="holder")
    if holder == node.party:
        raise BadInput(f"holder: {holder} is this node; ask another party")
    if (item_id is None) == (topic is None):
        raise BadInput("request: name an item or a topic (one of them)")
    now = node.clock.now()
    if item_id is not None:
        item = visible_item(node, user, item_id, f"{action} {item_id[:120]}")
        if item.originator != node.party:
            raise BadInput(f"item: {item.originator} originated {item_id}; only it may ask")
        if holder not in receipts.holders(node, item, now):
            raise BadInput(f"holder: {holder} holds {item_id} by none of {node.party}'s records")
    else:
        topic = parse_topic(topic, "topic")
    rid = messages.new_id()
    doc = DestructionRequest(
        rid,
        holder,
        item_id,
        topic,
        returned,
        format_instant(now),
        user.name,
        Delivery.queued(format_instant(now)).to_json(),
    )
    about = item_id if item_id is not None else f"topic {topic}"
    with node.store.writing() as w:
        w.put_document(DESTRUCTION_REQUEST, rid, about, doc.to_json(), None)
        messages.queue(
            w,
            recipient=holder,
            path=REQUEST_PATH,
            body={
                "id": rid,
                **({"item": item_id} if item_id is not None else {"topic": topic}),
                "returned": returned,
                "requested_at": doc.requested_at,
            },
            ref=(DESTRUCTION_REQUEST, rid),
        )
    audit.accepted(action, user=user.name, party=node.party, holder=holder, about=about)
    return doc


def receive_certificate(node: Node, sender: str, raw: bytes, now: datetime) -> CertificateReceipt:
    """A holder's destruction certificate: verified, stored and logged once."""
    where = "destruction certificate"
    doc = messages.parse_message(raw, where)
    body = verify_certificate(node, doc.get("certificate"), sender, where=where)
    item_id = body["item"]
    unknown = f"no item {item_id[:MAX_ITEM_ID]!r} at {node.party}"
    try:
        item = held(node, item_id)
    except (NotFound, BadInput):
        receipts.refuse(node, sender, where, f"{item_id[:120]}: not held here")
        raise NotFound(unknown) from None
    if item.originator != node.party:
        receipts.refuse(node, sender, where, f"{item_id[:120]}: not originated here")
        raise NotFound(unknown)
    _require_this_item(node, sender, body, item, where)
    at = parse_instant(body["destroyed_at"], f"{where}.destroyed_at")
    receipts.require_holder(node, sender, item, at, now, what=where, unknown=unknown)
    key = f"{sender} {item_id}"
    entry = node.entry(
        "destruction.certified",
        now,
        {"item": item_id, "holder": sender, "digest": body["digest"], "reason": body["reason"]},
    )
    with node.store.writing() as w:
        if w.document(DESTRUCTION_CERTIFICATE, key) is not None:
            return CertificateReceipt(item_id, "duplicate")
        w.put_document(DESTRUCTION_CERTIFICATE, key, item_id, doc["certificate"], None)
        node.log.append_in(w.log, [entry])
    audit.accepted("destruction certified", party=node.party, item=item_id, holder=sender)
    return CertificateReceipt(item_id, "stored")


def _require_this_item(
    node: Node, sender: str, body: dict[str, Any], item: Held, where: str
) -> None:
    """The certificate states this node's item: its digest and its label's id and originator
    (a certificate for other bytes under this id certifies nothing about this item)."""
    label = item.verified.label
    stated = body["label"]
    if (
        body["digest"] != item.verified.digest.hex()
        or stated.get("id") != label.id
        or stated.get("originator") != label.originator
    ):
        receipts.refuse(
            node, sender, where, f"{item.item_id[:120]}: not this item's digest or label"
        )
        raise VerificationFailed(
            f"{where}: {sender}'s certificate does not state the digest and label of "
            f"{item.item_id[:120]} at {node.party}"
        )


def verify_certificate(node: Node, doc: object, holder: str, *, where: str) -> dict[str, Any]:
    """The body of a destruction certificate signed by ``holder`` for an item of this node,
    its fields checked; VerificationFailed for a signature that does not verify (a tampered
    certificate), BadInput for a malformed one."""
    body = verify_statement(node.keyring, doc, kind=STATEMENT_KIND, party=holder, where=where)
    if set(body) != _CERTIFICATE_FIELDS:
        raise BadInput(f"{where}: expected the fields {sorted(_CERTIFICATE_FIELDS)}")
    for name in ("item", "originator", "holder", "digest", "destroyed_at", "reason"):
        if not isinstance(body[name], str) or not body[name]:
            raise BadInput(f"{where}.{name}: expected text")
    if body["holder"] != holder or body["originator"] != node.party:
        raise BadInput(f"{where}: not {holder}'s certificate for an item of {node.party}")
    if not isinstance(body["label"], dict) or body["label"].get("id") != body["item"]:
        raise BadInput(f"{where}.label: not the label of {body['item'][:120]}")
    return body


# ------------------------------------------------------------------ reading
@dataclass(frozen=True, slots=True)
class Destructions:
    """What the Destructions page and list show a user: items this node destroyed (that the
    user could have seen), certificates received from holders, requests sent (admins)."""

    destroyed: tuple[Certificate, ...]
    received: tuple[Certificate, ...]
    requests: tuple[DestructionRequest, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "destroyed": [c.to_json() for c in self.destroyed],
            "received": [c.to_json() for c in self.received],
            "requests": [r.to_json() for r in self.requests],
        }


def destructions(node: Node, user: User) -> Destructions:
    with node.store.reading() as r:
        gone = r.destroyed_items()
        received_docs = visible_documents(
            node,
            r,
            user,
            [d for d in r.documents(DESTRUCTION_CERTIFICATE) if " " in d.key],
        )
        asked = _visible_requests(node, r, user) if _is_admin(node, user) else []
        own = {d.key: d for d in r.documents(DESTRUCTION_CERTIFICATE) if " " not in d.key}
    mine = [
        Certificate(own[row.item_id].body, "holder")
        for row in gone
        if row.item_id in own and destroyed_item(node, user, row.item_id) is not None
    ]
    received = [Certificate(d.body, "originator") for d in reversed(received_docs)]
    requests = [DestructionRequest.from_row(d) for d in reversed(asked)]
    return Destructions(tuple(mine), tuple(received), tuple(requests))


def _visible_requests(node: Node, r: NodeReader, user: User) -> list[DocumentRow]:
    """The requests sent that ``user`` may see listed: one for an item they may see (Art. 7,
    as any listing of metadata), one for a topic their need-to-know covers. A request whose
    stored body names neither is left out (fail closed)."""
    docs = r.documents(DESTRUCTION_REQUEST)
    items = {d.body["item"] for d in docs if isinstance(d.body.get("item"), str)}
    hidden = hidden_ids(node, r, user, items)
    kept = []
    for doc in docs:
        item, topic = doc.body.get("item"), doc.body.get("topic")
        if isinstance(item, str):
            if item not in hidden:
                kept.append(doc)
        elif isinstance(topic, str) and meets_need_to_know(user.clearance.need_to_know, (topic,)):
            kept.append(doc)
    return kept


def certificates_for(node: Node, user: User, item_id: str) -> list[Certificate]:
    """The certificates holders sent for ``item_id`` (originated here), if ``user`` may see
    the item; none otherwise."""
    with node.store.reading() as r:
        docs = [d for d in r.documents(DESTRUCTION_CERTIFICATE, item_id) if " " in d.key]
        kept = visible_documents(node, r, user, docs)
    return [Certificate(d.body, "originator") for d in kept]


def destroyed_view(node: Node, user: User, item_id: str) -> Certificate | None:
    """This node's certificate for ``item_id`` if it destroyed it and ``user`` could have seen
    it; None otherwise (the usual not-found)."""
    if destroyed_item(node, user, item_id) is None:
        return None
    with node.store.reading() as r:
        doc = r.document(DESTRUCTION_CERTIFICATE, item_id)
    return None if doc is None else Certificate(doc.body, "holder")


def _is_admin(node: Node, user: User) -> bool:  # noqa: ARG001 - as require_admin reads it
    return user.role is Role.ADMIN


def holders_of(node: Node, user: User, item_id: str) -> Sequence[str]:
    """The parties this node's records show holding its item ``item_id`` (not itself)."""
    item = visible_item(node, user, item_id, f"read holders {item_id[:120]}")
    if item.originator != node.party:
        return ()
    found = receipts.holders(node, item, node.clock.now())
    return tuple(sorted(p for p in found if p != node.party))
