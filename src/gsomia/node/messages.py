"""Peer messages: consent requests and answers, requests to use an item for another purpose and
their answers, loss reports and classification notices leave
a node through a transactional outbox, like releases.

A message is queued in the same transaction as the document it concerns (the request, the
report…); the API's messenger sends it, signed, and records the outcome on that document:
delivered (with the peer's acknowledgement), rejected for good by the peer (4xx), or retried
with backoff (network errors, 5xx, a peer that does not answer). Back-off runs on wall time
(epoch seconds, stored), whatever the node's scenario clock.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any

import orjson

from gsomia.domain.instants import format_instant
from gsomia.errors import BadInput
from gsomia.node.holdings import (
    CONSENT_INBOX,
    CONSENT_OUTBOX,
    PURPOSE_INBOX,
    PURPOSE_OUTBOX,
    REPORT_SENT,
    stored_consent,
    stored_purpose_request,
    stored_report,
)
from gsomia.node.results import (
    Acknowledgement,
    ConsentRequest,
    Delivery,
    HeldNote,
    PurposeRequest,
    Report,
)
from gsomia.node.service import Node
from gsomia.store.ports import MessageRow, NodeWriter

MAX_BACKOFF_SECONDS = 60.0
MESSAGE_VERSION = 1

CONSENT_REQUEST_PATH = "/peer/v1/consent-requests"
CONSENT_ANSWER_PATH = "/peer/v1/consents"
REPORT_PATH = "/peer/v1/reports"
NOTICE_PATH = "/peer/v1/notices"
PURPOSE_REQUEST_PATH = "/peer/v1/purpose-requests"
PURPOSE_ANSWER_PATH = "/peer/v1/purpose-answers"
NOTE_PATH = "/peer/v1/agreement-notes"  # a diplomatic note (gsomia.node.notes)
RECEIPT_PATH = "/peer/v1/agreement-receipts"  # its receipt, back to its party
#: The kind of stored document a diplomatic note is (its key: the note's id).
NOTES = "agreement.note"

SCAN = 1000  # due messages looked at to find one peer's

#: Peer answers a message's 4xx means for good (anything else is retried).
PERMANENT_STATUSES = frozenset((400, 403, 404, 405, 409, 413, 415, 422))


def queue(
    w: NodeWriter,
    *,
    recipient: str,
    path: str,
    body: dict[str, Any],
    ref: tuple[str, str] | None,
) -> None:
    """Queue ``body`` for ``recipient``; ``ref`` (kind, key) names the document it concerns."""
    reference = "" if ref is None else f"{ref[0]} {ref[1]}"
    w.queue_message(recipient, path, reference, orjson.dumps({"v": MESSAGE_VERSION, **body}))


def due(
    node: Node, wall_now: float, limit: int = 50, *, recipient: str | None = None
) -> list[MessageRow]:
    """Pending messages whose next attempt is due at ``wall_now`` (wall epoch seconds); only
    those to ``recipient`` if given (picked from the oldest ``SCAN`` due: messages are few)."""
    with node.store.reading() as r:
        if recipient is None:
            return r.due_messages(wall_now, limit)
        rows = r.due_messages(wall_now, SCAN)
    return [row for row in rows if row.recipient == recipient][:limit]


def _update(w: NodeWriter, row: MessageRow, delivery: Delivery) -> None:
    """Record ``delivery`` on the document the message concerns (parsed, replaced, written
    whole); a report's acknowledgement, if the peer's answer gives one, with it. A document of
    no typed kind (a reconciliation's, an accounting's, a destruction request…) is a plain JSON
    object: the delivery is set in it beside its fields."""
    kind, _, key = row.ref.partition(" ")
    if not kind:
        return
    doc = w.document(kind, key)
    if doc is None:
        return
    body: ConsentRequest | PurposeRequest | Report | HeldNote
    if kind == NOTES:  # a note goes to each other party: one delivery per recipient
        note = HeldNote.from_json(doc.body, f"note {key[:80]}")
        body = replace(note, delivery={**(note.delivery or {}), row.recipient: delivery})
    elif kind in (CONSENT_OUTBOX, CONSENT_INBOX):
        body = replace(stored_consent(doc), delivery=delivery)
    elif kind in (PURPOSE_OUTBOX, PURPOSE_INBOX):
        body = replace(stored_purpose_request(doc), delivery=delivery)
    elif kind == REPORT_SENT:
        body = replace(stored_report(doc), delivery=delivery)
        ack = (delivery.answer or {}).get("acknowledged_at")
        if ack is not None and len(ack) <= 64:
            body = replace(body, acknowledgement=Acknowledgement(ack, row.recipient))
    else:
        plain = {**doc.body, "delivery": delivery.to_json()}
        w.put_document(doc.kind, doc.key, doc.item_id, plain, doc.attachment)
        return
    w.put_document(doc.kind, doc.key, doc.item_id, body.to_json(), doc.attachment)


def delivered(node: Node, row: MessageRow, answer: object, now: datetime) -> None:
    """The peer accepted the message; its answer (a JSON object) is its acknowledgement."""
    kept: dict[str, str] = {}
    if isinstance(answer, dict):
        kept = {k: v for k, v in answer.items() if isinstance(k, str) and isinstance(v, str)}
        kept = {k: v[:500] for k, v in list(kept.items())[:10]}
    with node.store.writing() as w:
        w.message_done(row.id, "sent")
        _update(w, row, Delivery("delivered", format_instant(now), answer=kept))


def rejected(node: Node, row: MessageRow, error: str, now: datetime) -> None:
    """The peer refused the message for good: recorded on the message and its document."""
    with node.store.writing() as w:
        w.message_done(row.id, "rejected", error[:500])
        _update(w, row, Delivery("rejected", format_instant(now), detail=error[:500]))


def retry(
    node: Node, row: MessageRow, error: str, wall_now: float, *, not_before: float = 0.0
) -> None:
    """Try again later: ``wall_now`` is wall-clock epoch seconds, never the scenario clock (under
    the demo's 500,000x clock a second of back-off would be six days) and never monotonic time
    (it restarts at boot; the stored instant must outlive it). ``not_before`` is the delay the
    peer asked for (its ``Retry-After``), if longer."""
    delay = max(min(MAX_BACKOFF_SECONDS, 0.1 * (2 ** min(row.attempts, 12))), not_before)
    with node.store.writing() as w:
        w.message_retry(row.id, wall_now + delay, error[:500])


# ------------------------------------------------------------------ parsing what peers send
def parse_message(raw: bytes, where: str) -> dict[str, Any]:
    """A peer message's JSON object (version checked); BadInput naming what is wrong."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadInput(f"{where}: malformed JSON ({exc.msg})") from None
    if not isinstance(doc, dict):
        raise BadInput(f"{where}: expected a JSON object")
    if doc.get("v") != MESSAGE_VERSION:
        raise BadInput(f"{where}.v: expected message version {MESSAGE_VERSION}")
    return doc


def text(doc: dict[str, Any], key: str, where: str, *, limit: int = 300) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise BadInput(f"{where}.{key}: expected a string of 1 to {limit} characters")
    return value


def optional_text(doc: dict[str, Any], key: str, where: str, *, limit: int = 300) -> str | None:
    return None if doc.get(key) is None else text(doc, key, where, limit=limit)


def request_id(value: str, where: str) -> str:
    """A request or report id: a UUID in its canonical lower-case form."""
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        raise BadInput(f"{where}: {value[:60]!r} is not a UUID") from None
    if str(parsed) != value:
        raise BadInput(f"{where}: write the UUID in lower case with hyphens")
    return value


def new_id() -> str:
    return str(uuid.uuid4())
