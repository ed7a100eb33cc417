"""Approvals to use an item for another purpose (DOMAIN.md §7.2): the originator's prior
written approval, which names the item, the holder, the purpose and its time, and may expire.

The round trip is a consent's, on the same machinery (``gsomia.node.consents``): a holder's
admin asks (``request_approval``) — the request is stored as pending in the holder's outbox of
purpose requests and travels, signed, to the originator's node (``receive_request``: only a
party the originator's records show holding the item may ask, ``gsomia.node.receipts``), whose
admin grants (``grant``: a ``purpose.approval`` statement signed by the originator, bound to the
item's digest, the holder and the purpose) or refuses (``refuse``: a reason). The answer travels
back (``receive_answer``); the holder verifies the statement against the originator's keys, the
item and its own request, judges its instants against its own clock, and stores it: from then
until it expires the item's purposes at this holder are widened by the approved one
(``objects.approvals``, read with the item's scope, so every read path decides on the index
alone). Both ends log ``purpose.approval``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any, Final

import orjson

from gsomia.domain.access import Approval, provided_for
from gsomia.domain.instants import format_instant, parse_instant
from gsomia.domain.purposes import may_use, parse_purposes
from gsomia.errors import BadInput, Conflict, Denied, NotFound, VerificationFailed
from gsomia.node import audit, messages, receipts
from gsomia.node.config import User
from gsomia.node.holdings import (
    PURPOSE_INBOX,
    PURPOSE_OUTBOX,
    Held,
    approvals_held,
    arrived_on_standing,
    held,
    require_admin,
    split_item_id,
    stored_purpose_request,
    visible_document,
    visible_documents,
    visible_item,
)
from gsomia.node.results import ConsentReceipt, Delivery, PurposeRequest
from gsomia.node.service import Node
from gsomia.seal.statements import sign_statement, verify_statement
from gsomia.store.ports import NodeWriter

STATEMENT_KIND: Final = "purpose.approval"
PENDING: Final = "pending"
GRANTED: Final = "granted"
REFUSED: Final = "refused"
MAX_REASON = 2000
MAX_STATEMENT = 64_000


def _purpose(node: Node, value: str, where: str) -> str:
    """One purpose of the scenario's vocabulary; BadInput naming it otherwise."""
    return parse_purposes([value], where, node.scenario.purposes)[0]


def _entry(node: Node, now: datetime, doc: PurposeRequest) -> bytes:
    fields: dict[str, Any] = {
        "item": doc.item,
        "originator": doc.originator,
        "holder": doc.holder,
        "purpose": doc.purpose,
    }
    if doc.expires_at is not None:
        fields["expires"] = doc.expires_at
    return node.entry("purpose.approval", now, fields)


# ------------------------------------------------------------------ at the holder
def request_approval(node: Node, user: User, item_id: str, purpose: str) -> PurposeRequest:
    """Ask the originator to approve using ``item_id`` here for ``purpose`` (admins only; the
    admin must be cleared for the item and have the need to know, whatever their purposes)."""
    action = f"request purpose approval for {item_id[:120]}"
    require_admin(node, user, action)
    item = visible_item(node, user, item_id, action, use=False)
    originator = item.verified.label.originator
    if originator == node.party:
        raise BadInput(f"item: {node.party} originated {item_id}; its use needs no approval")
    wanted = _purpose(node, purpose, "purpose")
    now = node.clock.now()
    provided = provided_for(
        item.verified.label.purposes,
        standing=arrived_on_standing(node, item),
        approvals=approvals_held(node, item_id),
        at=now,
    )
    if may_use((wanted,), provided):
        raise Conflict(
            f"purpose: {item_id} is already provided for {wanted} here "
            f"(provided for {', '.join(provided)})"
        )
    with node.store.reading() as r:
        asked = r.documents(PURPOSE_OUTBOX, item_id)
    for earlier in map(stored_purpose_request, asked):
        if earlier.purpose == wanted and earlier.status == PENDING:
            raise Conflict(
                f"purpose: approval of {wanted} for {item_id} is already requested "
                f"(request {earlier.id}, pending)"
            )
    rid = messages.new_id()
    doc = PurposeRequest(
        "outbox",
        rid,
        item_id,
        originator,
        node.party,
        wanted,
        format_instant(now),
        PENDING,
        requested_by=user.name,
        delivery=Delivery.queued(format_instant(now)),
    )
    with node.store.writing() as w:
        w.put_document(PURPOSE_OUTBOX, rid, item_id, doc.to_json(), None)
        messages.queue(
            w,
            recipient=originator,
            path=messages.PURPOSE_REQUEST_PATH,
            body={
                "id": rid,
                "item": item_id,
                "item_digest": item.verified.digest.hex(),
                "purpose": wanted,
                "requested_at": doc.requested_at,
            },
            ref=(PURPOSE_OUTBOX, rid),
        )
    audit.accepted("request purpose approval", user=user.name, party=node.party, request=rid)
    return doc


def receive_answer(node: Node, sender: str, raw: bytes, now: datetime) -> ConsentReceipt:
    """The originator's answer to one of this node's requests; a grant widens the item's
    purposes here once its statement verifies.

    The statement must be the originator's ``purpose.approval`` for exactly this request's
    item (and its digest), this holder and this purpose; its instants are judged here: not
    ahead of this node's now, not before the request was made; an approval that has expired
    at this node's now is refused (audited, nothing stored). An answer to a request answered
    already is a duplicate: a replayed answer changes nothing."""
    where = "purpose answer"
    msg = messages.parse_message(raw, where)
    rid = messages.request_id(messages.text(msg, "request", where), f"{where}.request")
    status = messages.text(msg, "status", where)
    with node.store.reading() as r:
        found = r.document(PURPOSE_OUTBOX, rid)
    if found is None:
        raise NotFound(f"{where}: no purpose request {rid} at {node.party}")
    doc = stored_purpose_request(found)
    if doc.originator != sender:
        raise VerificationFailed(
            f"{where}: {sender} answered a request addressed to {doc.originator}"
        )
    if doc.status != PENDING:
        return ConsentReceipt(rid, doc.status, "duplicate")
    asked = parse_instant(doc.requested_at, f"{PURPOSE_OUTBOX} {rid}: requested_at")
    if status == REFUSED:
        answered = parse_instant(messages.text(msg, "answered_at", where), f"{where}.answered_at")
        receipts.require_answer_instant(
            node, sender, f"{where} {rid}", instant=answered, asked=asked, now=now
        )
        reason = messages.text(msg, "reason", where, limit=MAX_REASON)
        doc = replace(doc, status=REFUSED, answered_at=format_instant(answered), reason=reason)
        with node.store.writing() as w:
            w.put_document(PURPOSE_OUTBOX, rid, found.item_id, doc.to_json(), None)
        audit.accepted("store purpose refusal", party=node.party, sender=sender, request=rid)
        return ConsentReceipt(rid, REFUSED, "stored")
    if status != GRANTED:
        raise BadInput(f"{where}.status: expected granted or refused, got {status[:40]!r}")
    statement = msg.get("approval")
    if len(orjson.dumps(statement)) > MAX_STATEMENT:
        raise BadInput(f"{where}.approval: larger than {MAX_STATEMENT} bytes")
    return _granted(node, sender, doc, statement, asked=asked, now=now)


def _granted(
    node: Node,
    sender: str,
    doc: PurposeRequest,
    statement: object,
    *,
    asked: datetime,
    now: datetime,
) -> ConsentReceipt:
    where = f"purpose answer {doc.id}: the approval"
    body = verify_statement(node.keyring, statement, kind=STATEMENT_KIND, party=sender, where=where)
    item = held(node, doc.item)
    approval = _approval(body, item, doc, node.party, where)
    receipts.require_answer_instant(
        node, sender, where, instant=approval.granted_at, asked=asked, now=now
    )
    if approval.expires_at is not None and approval.expires_at <= now:
        reason = (
            f"{where} expired at {format_instant(approval.expires_at)}, before this node's now "
            f"({format_instant(now)})"
        )
        receipts.refuse(node, sender, "purpose answer", reason)
        raise Denied(reason)
    doc = replace(
        doc,
        status=GRANTED,
        answered_at=format_instant(approval.granted_at),
        expires_at=None if approval.expires_at is None else format_instant(approval.expires_at),
    )
    with node.store.writing() as w:
        w.put_document(PURPOSE_OUTBOX, doc.id, doc.item, doc.to_json(), orjson.dumps(statement))
        _widen(node, w, item, (*approvals_held(node, doc.item), approval))
        node.log.append_in(w.log, [_entry(node, now, doc)])
    audit.accepted("store purpose approval", party=node.party, sender=sender, request=doc.id)
    return ConsentReceipt(doc.id, GRANTED, "stored")


def _approval(
    body: dict[str, Any], item: Held, doc: PurposeRequest, holder: str, where: str
) -> Approval:
    """The verified statement's body as an approval of exactly what ``doc`` asked."""
    expected = {
        "item": doc.item,
        "item_digest": item.verified.digest.hex(),
        "holder": holder,
        "purpose": doc.purpose,
    }
    for key, value in expected.items():
        if body.get(key) != value:
            raise VerificationFailed(f"{where}: its {key} is not the request's ({value})")
    if set(body) != {*expected, "granted_at", "expires_at"}:
        raise VerificationFailed(f"{where}: unexpected fields {sorted(body)}")
    granted, expires = body["granted_at"], body["expires_at"]
    if not isinstance(granted, str) or not (expires is None or isinstance(expires, str)):
        raise VerificationFailed(f"{where}: granted_at and expires_at must be instants")
    granted_at = parse_instant(granted, f"{where}: granted_at")
    expires_at = None if expires is None else parse_instant(expires, f"{where}: expires_at")
    if expires_at is not None and expires_at <= granted_at:
        raise VerificationFailed(f"{where}: it expires before it is granted")
    return Approval(doc.item, doc.purpose, granted_at, expires_at)


def _widen(node: Node, w: NodeWriter, item: Held, approvals: tuple[Approval, ...]) -> None:
    """Record ``approvals`` on the item's object row: what its reads decide on."""
    stix_id, version = split_item_id(item.item_id)
    w.set_approvals(node.collection_id(item.originator), stix_id, version, approvals)


# ------------------------------------------------------------------ at the originator
def receive_request(node: Node, sender: str, raw: bytes, now: datetime) -> ConsentReceipt:
    """A holder's request to use one of this node's items for another purpose, stored as
    pending. Only a party this node's records show holding the item may ask, with an instant
    neither before it came to hold it nor ahead of this node's now; anyone else gets exactly
    the answer for an unknown item, and nothing is stored."""
    where = "purpose request"
    msg = messages.parse_message(raw, where)
    rid = messages.request_id(messages.text(msg, "id", where), f"{where}.id")
    item_id = messages.text(msg, "item", where)
    split_item_id(item_id)
    purpose = _purpose(node, messages.text(msg, "purpose", where), f"{where}.purpose")
    digest = messages.text(msg, "item_digest", where)
    requested = parse_instant(messages.text(msg, "requested_at", where), f"{where}.requested_at")
    with node.store.reading() as r:
        stored = r.item(item_id)
    unknown = f"{where}: {node.party} originated no item {item_id!r}"
    if stored is None or stored[0] != node.party:
        raise NotFound(unknown)
    item = held(node, item_id)
    receipts.require_holder(
        node, sender, item, requested, now, what=f"{where} {rid}", unknown=unknown
    )
    with node.store.reading() as r:
        existing = r.document(PURPOSE_INBOX, rid)
    if existing is not None:
        earlier = stored_purpose_request(existing)
        if (earlier.holder, existing.item_id, earlier.purpose) != (sender, item_id, purpose):
            raise Conflict(f"{where}: request id {rid} is already used")
        return ConsentReceipt(rid, earlier.status, "duplicate")
    if item.verified.digest.hex() != digest:
        raise VerificationFailed(f"{where}: the digest is not that of {item_id}")
    doc = PurposeRequest(
        "inbox",
        rid,
        item_id,
        node.party,
        sender,
        purpose,
        format_instant(requested),
        PENDING,
        received_at=format_instant(now),
    )
    with node.store.writing() as w:
        w.put_document(PURPOSE_INBOX, rid, item_id, doc.to_json(), None)
    return ConsentReceipt(rid, PENDING, "stored", received_at=doc.received_at)


def _pending(node: Node, user: User, rid: str, action: str) -> PurposeRequest:
    """A request in this node's inbox about an item ``user`` may see, still pending; one about
    an item the user may not see is answered as one that does not exist."""
    messages.request_id(rid, "request id")
    found = visible_document(node, user, (PURPOSE_INBOX,), rid, action, use=False)
    if found is None:
        raise NotFound(f"no purpose request {rid} in {node.party}'s inbox")
    doc = stored_purpose_request(found)
    if doc.status != PENDING:
        raise Conflict(f"purpose request {rid} was already {doc.status}")
    return doc


def grant(node: Node, user: User, rid: str, expires_at: datetime | None) -> PurposeRequest:
    """The originator's admin grants a request: the signed approval travels to the holder."""
    action = f"grant purpose request {rid[:60]}"
    require_admin(node, user, action)
    doc = _pending(node, user, rid, action)
    now = node.clock.now()
    if expires_at is not None and expires_at <= now:
        raise BadInput(
            f"expires_at: {format_instant(expires_at)} is not after now ({format_instant(now)})"
        )
    item = held(node, doc.item)
    statement = sign_statement(
        node.keyring,
        STATEMENT_KIND,
        {
            "item": doc.item,
            "item_digest": item.verified.digest.hex(),
            "holder": doc.holder,
            "purpose": doc.purpose,
            "granted_at": format_instant(now),
            "expires_at": None if expires_at is None else format_instant(expires_at),
        },
    )
    doc = replace(
        doc,
        status=GRANTED,
        answered_at=format_instant(now),
        answered_by=user.name,
        expires_at=None if expires_at is None else format_instant(expires_at),
        delivery=Delivery.queued(format_instant(now)),
    )
    with node.store.writing() as w:
        w.put_document(PURPOSE_INBOX, rid, doc.item, doc.to_json(), orjson.dumps(statement))
        node.log.append_in(w.log, [_entry(node, now, doc)])
        messages.queue(
            w,
            recipient=doc.holder,
            path=messages.PURPOSE_ANSWER_PATH,
            body={
                "request": rid,
                "item": doc.item,
                "status": GRANTED,
                "answered_at": doc.answered_at,
                "approval": statement,
            },
            ref=(PURPOSE_INBOX, rid),
        )
    audit.accepted("grant purpose approval", user=user.name, party=node.party, request=rid)
    return doc


def refuse(node: Node, user: User, rid: str, reason: str) -> PurposeRequest:
    """The originator's admin refuses a request; the refusal and its reason travel back."""
    action = f"refuse purpose request {rid[:60]}"
    require_admin(node, user, action)
    if not reason.strip() or len(reason) > MAX_REASON:
        raise BadInput(f"reason: expected 1 to {MAX_REASON} characters")
    doc = _pending(node, user, rid, action)
    now = node.clock.now()
    doc = replace(
        doc,
        status=REFUSED,
        answered_at=format_instant(now),
        answered_by=user.name,
        reason=reason,
        delivery=Delivery.queued(format_instant(now)),
    )
    with node.store.writing() as w:
        w.put_document(PURPOSE_INBOX, rid, doc.item, doc.to_json(), None)
        messages.queue(
            w,
            recipient=doc.holder,
            path=messages.PURPOSE_ANSWER_PATH,
            body={
                "request": rid,
                "item": doc.item,
                "status": REFUSED,
                "answered_at": doc.answered_at,
                "reason": reason,
            },
            ref=(PURPOSE_INBOX, rid),
        )
    audit.accepted("refuse purpose approval", user=user.name, party=node.party, request=rid)
    return doc


# ------------------------------------------------------------------ both
def requests(node: Node, user: User, box: str) -> list[PurposeRequest]:
    """This node's purpose requests: ``outbox`` (asked of originators) or ``inbox`` (asked of
    it), those about items ``user`` is cleared for with the need to know (admins only)."""
    kinds = {"outbox": PURPOSE_OUTBOX, "inbox": PURPOSE_INBOX}
    if box not in kinds:
        raise BadInput(f"box: expected inbox or outbox, got {box[:40]!r}")
    require_admin(node, user, f"list purpose requests ({box})")
    with node.store.reading() as r:
        found = visible_documents(node, r, user, r.documents(kinds[box]), use=False)
    return [stored_purpose_request(d) for d in found]


def request(node: Node, user: User, rid: str) -> PurposeRequest:
    """One purpose request, in either box, if it is about an item ``user`` may see."""
    action = f"read purpose request {rid[:60]}"
    require_admin(node, user, action)
    messages.request_id(rid, "request id")
    found = visible_document(node, user, (PURPOSE_OUTBOX, PURPOSE_INBOX), rid, action, use=False)
    if found is None:
        raise NotFound(f"no purpose request {rid} at {node.party}")
    return stored_purpose_request(found)


def item_requests(node: Node, user: User, item_id: str) -> list[PurposeRequest]:
    """The purpose requests about one item, in both boxes, for its page (admins only; an item
    the user may not see has none)."""
    require_admin(node, user, f"list purpose requests for {item_id[:120]}")
    with node.store.reading() as r:
        docs = r.documents(PURPOSE_OUTBOX, item_id) + r.documents(PURPOSE_INBOX, item_id)
        found = visible_documents(node, r, user, docs, use=False)
    return [stored_purpose_request(d) for d in found]
