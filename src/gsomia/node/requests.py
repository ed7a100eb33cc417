"""The round trip a consent request and a purpose-approval request share (DOMAIN.md §3, §7.2):
a holder's request stored in its outbox and queued to the originator, received into the
originator's inbox from a known holder only, granted or refused there by an admin, and the
answer received back at the holder; listing and reading either box.

What differs between the two rounds (document kinds, message paths, what a grant carries,
the log entry, the result type) stays with their use cases (``gsomia.node.consents``,
``gsomia.node.approvals``); a ``Round`` names the kinds, paths and the stored type.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final, Generic, TypeVar

from gsomia.domain.instants import format_instant
from gsomia.errors import BadInput, Conflict, Denied, NotFound, VerificationFailed
from gsomia.node import audit, messages, receipts
from gsomia.node.config import User
from gsomia.node.holdings import (
    CONSENT_INBOX,
    CONSENT_OUTBOX,
    PURPOSE_INBOX,
    PURPOSE_OUTBOX,
    Held,
    held,
    require_admin,
    stored_consent,
    stored_purpose_request,
    visible_document,
    visible_documents,
)
from gsomia.node.results import ConsentReceipt, ConsentRequest, Delivery, PurposeRequest
from gsomia.node.service import Node
from gsomia.store.ports import DocumentRow

PENDING: Final = "pending"
GRANTED: Final = "granted"
REFUSED: Final = "refused"
MAX_REASON = 2000

R = TypeVar("R", ConsentRequest, PurposeRequest)


@dataclass(frozen=True)  # no slots: a slotted Generic breaks on Python 3.11
class Round(Generic[R]):
    """One kind of request: its noun in messages, its boxes and peer paths, how a stored one
    is read, the item an inbox document is filed under, and whether seeing its item takes
    the user's purposes too (``use``)."""

    noun: str
    outbox: str
    inbox: str
    request_path: str
    answer_path: str
    stored: Callable[[DocumentRow], R]
    filed_under: Callable[[R], str]
    use: bool


def _consent_filed_under(doc: ConsentRequest) -> str:
    # a source request is about the source item, whose readers may see it (§7.6)
    return doc.source or doc.item


def _purpose_filed_under(doc: PurposeRequest) -> str:
    return doc.item


CONSENTS: Final = Round[ConsentRequest](
    "consent",
    CONSENT_OUTBOX,
    CONSENT_INBOX,
    messages.CONSENT_REQUEST_PATH,
    messages.CONSENT_ANSWER_PATH,
    stored_consent,
    _consent_filed_under,
    use=True,
)
PURPOSES: Final = Round[PurposeRequest](
    "purpose",
    PURPOSE_OUTBOX,
    PURPOSE_INBOX,
    messages.PURPOSE_REQUEST_PATH,
    messages.PURPOSE_ANSWER_PATH,
    stored_purpose_request,
    _purpose_filed_under,
    use=False,
)


# ------------------------------------------------------------------ at the holder
def pending_asked(node: Node, kind: Round[R], item_id: str, same: Callable[[R], bool]) -> R | None:
    """A pending request in the outbox about ``item_id`` asking the ``same`` thing, if any."""
    with node.store.reading() as r:
        asked = r.documents(kind.outbox, item_id)
    return next(
        (d for d in map(kind.stored, asked) if same(d) and d.status == PENDING),
        None,
    )


def send_request(node: Node, kind: Round[R], doc: R, body: dict[str, object]) -> None:
    """Store ``doc`` in the outbox and queue ``body`` to its originator, in one transaction."""
    with node.store.writing() as w:
        w.put_document(kind.outbox, doc.id, doc.item, doc.to_json(), None)
        messages.queue(
            w,
            recipient=doc.originator,
            path=kind.request_path,
            body=body,
            ref=(kind.outbox, doc.id),
        )


@dataclass(frozen=True)  # no slots: a slotted Generic breaks on Python 3.11
class Answer(Generic[R]):
    """An originator's answer to a pending request of this node's, parsed but not yet judged."""

    msg: dict[str, Any]
    status: str
    doc: R


def open_answer(node: Node, kind: Round[R], sender: str, raw: bytes) -> Answer[R] | ConsentReceipt:
    """The answer in ``raw`` to a request in the outbox, from the party it was addressed to;
    an answer to a request answered already is a duplicate (its receipt is returned)."""
    where = f"{kind.noun} answer"
    msg = messages.parse_message(raw, where)
    rid = messages.request_id(messages.text(msg, "request", where), f"{where}.request")
    status = messages.text(msg, "status", where)
    with node.store.reading() as r:
        found = r.document(kind.outbox, rid)
    if found is None:
        raise NotFound(f"{where}: no {kind.noun} request {rid} at {node.party}")
    doc = kind.stored(found)
    if doc.originator != sender:
        raise VerificationFailed(
            f"{where}: {sender} answered a request addressed to {doc.originator}"
        )
    if doc.status != PENDING:
        return ConsentReceipt(rid, doc.status, "duplicate")
    return Answer(msg, status, doc)


def store_refusal(
    node: Node, kind: Round[R], sender: str, answer: Answer[R], answered: datetime
) -> ConsentReceipt:
    """Store a refusal (its instant judged already) of the pending request answered."""
    where, doc = f"{kind.noun} answer", answer.doc
    reason = messages.text(answer.msg, "reason", where, limit=MAX_REASON)
    doc = replace(doc, status=REFUSED, answered_at=format_instant(answered), reason=reason)
    with node.store.writing() as w:
        w.put_document(kind.outbox, doc.id, doc.item, doc.to_json(), None)
    audit.accepted(f"store {kind.noun} refusal", party=node.party, sender=sender, request=doc.id)
    return ConsentReceipt(doc.id, REFUSED, "stored")


def judged_grant(
    node: Node,
    kind: Round[R],
    sender: str,
    doc: R,
    what: str,
    *,
    granted_at: datetime,
    expires_at: datetime | None,
    asked: datetime,
    now: datetime,
) -> R:
    """``doc`` as granted by the ``what`` (verified already) its originator sent: its instant
    judged at this node (``gsomia.node.receipts``), refused (audited, nothing stored) when it
    has expired at this node's now, whatever the originator's clock said."""
    where = f"{kind.noun} answer {doc.id}: the {what}"
    receipts.require_answer_instant(node, sender, where, instant=granted_at, asked=asked, now=now)
    if expires_at is not None and expires_at <= now:
        reason = (
            f"{where} expired at {format_instant(expires_at)}, before this node's now "
            f"({format_instant(now)})"
        )
        receipts.refuse(node, sender, f"{kind.noun} answer", reason)
        raise Denied(reason)
    return replace(
        doc,
        status=GRANTED,
        answered_at=format_instant(granted_at),
        expires_at=None if expires_at is None else format_instant(expires_at),
    )


def require_granted(kind: Round[R], status: str) -> None:
    """An answer is granted or refused; anything else is bad input."""
    if status != GRANTED:
        raise BadInput(
            f"{kind.noun} answer.status: expected granted or refused, got {status[:40]!r}"
        )


# ------------------------------------------------------------------ at the originator
def asked_of(
    node: Node,
    sender: str,
    item_id: str,
    *,
    requested: datetime,
    now: datetime,
    where: str,
    rid: str,
) -> Held:
    """The item ``item_id`` this node originated, asked about (request ``rid``) by
    ``sender``, a party its records show holding it, at an instant neither before it came to
    hold it nor ahead of this node's now (``gsomia.node.receipts``); anyone else gets exactly
    the answer for an unknown item."""
    with node.store.reading() as r:
        stored = r.item(item_id)
    unknown = f"{where}: {node.party} originated no item {item_id!r}"
    if stored is None or stored[0] != node.party:
        raise NotFound(unknown)
    item = held(node, item_id)
    receipts.require_holder(
        node, sender, item, requested, now, what=f"{where} {rid}", unknown=unknown
    )
    return item


def received_before(
    node: Node, kind: Round[R], rid: str, same: Callable[[R, DocumentRow], bool]
) -> ConsentReceipt | None:
    """The receipt for a request ``rid`` received already asking the ``same``; a request id
    used already for another request is a conflict; ``None`` for a new one."""
    with node.store.reading() as r:
        existing = r.document(kind.inbox, rid)
    if existing is None:
        return None
    earlier = kind.stored(existing)
    if not same(earlier, existing):
        raise Conflict(f"{kind.noun} request: request id {rid} is already used")
    return ConsentReceipt(rid, earlier.status, "duplicate")


def store_received(
    node: Node, kind: Round[R], doc: R, attachment: bytes | None = None
) -> ConsentReceipt:
    """Store a received request, pending, in the inbox."""
    with node.store.writing() as w:
        w.put_document(kind.inbox, doc.id, kind.filed_under(doc), doc.to_json(), attachment)
    return ConsentReceipt(doc.id, PENDING, "stored", received_at=doc.received_at)


def pending(node: Node, kind: Round[R], user: User, rid: str, action: str) -> R:
    """A request in this node's inbox about an item ``user`` may see, still pending; one about
    an item the user may not see is answered as one that does not exist."""
    messages.request_id(rid, "request id")
    found = visible_document(node, user, (kind.inbox,), rid, action, use=kind.use)
    if found is None:
        raise NotFound(f"no {kind.noun} request {rid} in {node.party}'s inbox")
    doc = kind.stored(found)
    if doc.status != PENDING:
        raise Conflict(f"{kind.noun} request {rid} was already {doc.status}")
    return doc


def granted(doc: R, user: User, now: datetime, expires_at: datetime | None) -> R:
    """``doc`` as granted by ``user`` at ``now``, its answer queued."""
    return replace(
        doc,
        status=GRANTED,
        answered_at=format_instant(now),
        answered_by=user.name,
        expires_at=None if expires_at is None else format_instant(expires_at),
        delivery=Delivery.queued(format_instant(now)),
    )


def send_answer(
    node: Node,
    kind: Round[R],
    doc: R,
    fields: dict[str, object],
    *,
    attachment: bytes | None = None,
    entries: tuple[bytes, ...] = (),
) -> None:
    """Store the answered ``doc`` in the inbox (with what a grant carries as its attachment),
    log ``entries`` and queue the answer to the holder, in one transaction."""
    with node.store.writing() as w:
        w.put_document(kind.inbox, doc.id, kind.filed_under(doc), doc.to_json(), attachment)
        if entries:
            node.log.append_in(w.log, list(entries))
        messages.queue(
            w,
            recipient=doc.holder,
            path=kind.answer_path,
            body={
                "request": doc.id,
                "item": doc.item,
                "status": doc.status,
                "answered_at": doc.answered_at,
                **fields,
            },
            ref=(kind.inbox, doc.id),
        )


def refuse(node: Node, kind: Round[R], user: User, rid: str, reason: str, *, audited: str) -> R:
    """The originator's admin refuses a request; the refusal and its reason travel back."""
    action = f"refuse {kind.noun} request {rid[:60]}"
    require_admin(node, user, action)
    if not reason.strip() or len(reason) > MAX_REASON:
        raise BadInput(f"reason: expected 1 to {MAX_REASON} characters")
    doc = pending(node, kind, user, rid, action)
    now = node.clock.now()
    doc = replace(
        doc,
        status=REFUSED,
        answered_at=format_instant(now),
        answered_by=user.name,
        reason=reason,
        delivery=Delivery.queued(format_instant(now)),
    )
    send_answer(node, kind, doc, {"reason": reason})
    audit.accepted(audited, user=user.name, party=node.party, request=rid)
    return doc


# ------------------------------------------------------------------ both
def listed(node: Node, kind: Round[R], user: User, box: str) -> list[R]:
    """This node's requests of ``kind`` in ``box`` (``outbox`` or ``inbox``), those about
    items ``user`` may see (admins only)."""
    kinds = {"outbox": kind.outbox, "inbox": kind.inbox}
    if box not in kinds:
        raise BadInput(f"box: expected inbox or outbox, got {box[:40]!r}")
    require_admin(node, user, f"list {kind.noun} requests ({box})")
    with node.store.reading() as r:
        found = visible_documents(node, r, user, r.documents(kinds[box]), use=kind.use)
    return [kind.stored(d) for d in found]


def one(node: Node, kind: Round[R], user: User, rid: str) -> R:
    """One request of ``kind``, in either box, if it is about an item ``user`` may see."""
    action = f"read {kind.noun} request {rid[:60]}"
    require_admin(node, user, action)
    messages.request_id(rid, "request id")
    found = visible_document(node, user, (kind.outbox, kind.inbox), rid, action, use=kind.use)
    if found is None:
        raise NotFound(f"no {kind.noun} request {rid} at {node.party}")
    return kind.stored(found)
