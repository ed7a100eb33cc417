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

from datetime import datetime
from typing import Any, Final

import orjson

from gsomia.domain.access import Approval, provided_for
from gsomia.domain.instants import format_instant, parse_instant
from gsomia.domain.purposes import may_use, parse_purposes
from gsomia.errors import BadInput, Conflict, VerificationFailed
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
    visible_documents,
    visible_item,
)
from gsomia.node.requests import (
    GRANTED,
    PENDING,
    PURPOSES,
    REFUSED,
    asked_of,
    granted,
    judged_grant,
    listed,
    one,
    open_answer,
    pending,
    pending_asked,
    received_before,
    require_granted,
    send_answer,
    send_request,
    store_received,
    store_refusal,
)
from gsomia.node.requests import refuse as _refuse
from gsomia.node.results import ConsentReceipt, Delivery, PurposeRequest
from gsomia.node.service import Node
from gsomia.seal.statements import sign_statement, verify_statement
from gsomia.store.ports import NodeWriter

STATEMENT_KIND: Final = "purpose.approval"
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
    earlier = pending_asked(node, PURPOSES, item_id, lambda d: d.purpose == wanted)
    if earlier is not None:
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
    send_request(
        node,
        PURPOSES,
        doc,
        {
            "id": rid,
            "item": item_id,
            "item_digest": item.verified.digest.hex(),
            "purpose": wanted,
            "requested_at": doc.requested_at,
        },
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
    answer = open_answer(node, PURPOSES, sender, raw)
    if isinstance(answer, ConsentReceipt):
        return answer
    doc, rid = answer.doc, answer.doc.id
    asked = parse_instant(doc.requested_at, f"{PURPOSE_OUTBOX} {rid}: requested_at")
    if answer.status == REFUSED:
        answered = parse_instant(
            messages.text(answer.msg, "answered_at", where), f"{where}.answered_at"
        )
        receipts.require_answer_instant(
            node, sender, f"{where} {rid}", instant=answered, asked=asked, now=now
        )
        return store_refusal(node, PURPOSES, sender, answer, answered)
    require_granted(PURPOSES, answer.status)
    statement = answer.msg.get("approval")
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
    doc = judged_grant(
        node,
        PURPOSES,
        sender,
        doc,
        "approval",
        granted_at=approval.granted_at,
        expires_at=approval.expires_at,
        asked=asked,
        now=now,
    )
    with node.store.writing() as w:
        # the approvals granted before, as this transaction sees them (one granted at the same
        # time on another worker is not lost), and this one
        held_before = approvals_held(node, doc.item, w)
        w.put_document(PURPOSE_OUTBOX, doc.id, doc.item, doc.to_json(), orjson.dumps(statement))
        _widen(node, w, item, (*held_before, approval))
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
    item = asked_of(node, sender, item_id, requested=requested, now=now, where=where, rid=rid)
    duplicate = received_before(
        node,
        PURPOSES,
        rid,
        lambda earlier, row: (
            (earlier.holder, row.item_id, earlier.purpose) == (sender, item_id, purpose)
        ),
    )
    if duplicate is not None:
        return duplicate
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
    return store_received(node, PURPOSES, doc)


def grant(node: Node, user: User, rid: str, expires_at: datetime | None) -> PurposeRequest:
    """The originator's admin grants a request: the signed approval travels to the holder."""
    action = f"grant purpose request {rid[:60]}"
    require_admin(node, user, action)
    doc = pending(node, PURPOSES, user, rid, action)
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
    doc = granted(doc, user, now, expires_at)
    send_answer(
        node,
        PURPOSES,
        doc,
        {"approval": statement},
        attachment=orjson.dumps(statement),
        entries=(_entry(node, now, doc),),
    )
    audit.accepted("grant purpose approval", user=user.name, party=node.party, request=rid)
    return doc


def refuse(node: Node, user: User, rid: str, reason: str) -> PurposeRequest:
    """The originator's admin refuses a request; the refusal and its reason travel back."""
    return _refuse(node, PURPOSES, user, rid, reason, audited="refuse purpose approval")


# ------------------------------------------------------------------ both
def requests(node: Node, user: User, box: str) -> list[PurposeRequest]:
    """This node's purpose requests: ``outbox`` (asked of originators) or ``inbox`` (asked of
    it), those about items ``user`` is cleared for with the need to know (admins only)."""
    return listed(node, PURPOSES, user, box)


def request(node: Node, user: User, rid: str) -> PurposeRequest:
    """One purpose request, in either box, if it is about an item ``user`` may see."""
    return one(node, PURPOSES, user, rid)


def item_requests(node: Node, user: User, item_id: str) -> list[PurposeRequest]:
    """The purpose requests about one item, in both boxes, for its page (admins only; an item
    the user may not see has none)."""
    require_admin(node, user, f"list purpose requests for {item_id[:120]}")
    with node.store.reading() as r:
        docs = r.documents(PURPOSE_OUTBOX, item_id) + r.documents(PURPOSE_INBOX, item_id)
        found = visible_documents(node, r, user, docs, use=False)
    return [stored_purpose_request(d) for d in found]
