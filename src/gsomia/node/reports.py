"""Loss or compromise reports (DOMAIN.md §3, Art. 17): reported to the originating party at once,
followed by the investigation's findings.

A user of a node that holds another party's item reports (``report``): the report is logged
(``loss.report``), stored and sent, signed, to the originator's node, which records and logs it
(``receive``) and answers with an acknowledgement of receipt — stored on the reporter's copy.
The obligation survives the agreement under which the item came (Art. 21(4)): a report needs no
agreement in force, only the item.
"""

from __future__ import annotations

import re
from datetime import datetime

from gsomia import primitives
from gsomia.domain.instants import format_instant, parse_instant
from gsomia.errors import BadInput, Conflict, NotFound, StoreFailure
from gsomia.node import messages, receipts
from gsomia.node.config import User
from gsomia.node.holdings import (
    REPORT_RECEIVED,
    REPORT_SENT,
    held,
    split_item_id,
    stored_report,
    visible_documents,
    visible_item,
)
from gsomia.node.results import Acknowledgement, Delivery, Report, ReportReceipt, Reports
from gsomia.node.service import Node

KINDS = ("loss", "compromise", "suspected_loss", "suspected_compromise", "findings")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
MAX_DETAIL = 3000  # leaves room in the log entry for the reporter's name at the originator


def logged(detail: str, where: str) -> str:
    """What the log says of a report's free text: its digest (the log is kept in clear and
    shown to peers; the text itself is stored encrypted, with the report). The text is held to
    the log's rule for texts all the same: no control characters but tab and newline."""
    if _CONTROL.search(detail) is not None:
        raise BadInput(f"{where}: control characters other than tab and newline are refused")
    return "sha256:" + primitives.sha256(detail.encode("utf-8")).hex()


def _kind(value: str, where: str) -> str:
    if value not in KINDS:
        raise BadInput(f"{where}: expected one of {', '.join(KINDS)}, got {value[:40]!r}")
    return value


def report(node: Node, user: User, item_id: str, kind: str, detail: str) -> Report:
    """Report the loss or compromise of another party's item held here (any user who may see
    the item); logged, stored and sent to the originator."""
    _kind(kind, "kind")
    if not detail.strip() or len(detail) > MAX_DETAIL:
        raise BadInput(f"detail: expected 1 to {MAX_DETAIL} characters")
    item = visible_item(node, user, item_id, f"report on {item_id[:120]}")
    originator = item.verified.label.originator
    if originator == node.party:
        raise BadInput(f"item: {node.party} originated {item_id}; reports go to the originator")
    now = node.clock.now()
    rid = messages.new_id()
    doc = Report(
        rid,
        item_id,
        originator,
        node.party,
        kind,
        detail,
        format_instant(now),
        reported_by=user.name,
        delivery=Delivery.queued(format_instant(now)),
    )
    entry = node.entry(
        "loss.report", now, {"item": item_id, "kind": kind, "detail": logged(detail, "detail")}
    )
    with node.store.writing() as w:
        w.put_document(REPORT_SENT, rid, item_id, doc.to_json(), None)
        node.log.append_in(w.log, [entry])
        messages.queue(
            w,
            recipient=originator,
            path=messages.REPORT_PATH,
            body={
                "id": rid,
                "item": item_id,
                "kind": kind,
                "detail": detail,
                "reported_at": doc.reported_at,
            },
            ref=(REPORT_SENT, rid),
        )
    return doc


def receive(node: Node, sender: str, raw: bytes, now: datetime) -> ReportReceipt:
    """A peer's report on one of this node's items: recorded, logged, acknowledged.

    Only a party this node's records show holding the item may report on it, with an instant
    neither before it came to hold it nor ahead of this node's now (``gsomia.node.receipts``);
    anyone else gets exactly the answer for an unknown item, and nothing is stored. The
    acknowledgement is stored with the report, in its transaction: a repeated report is
    answered with the same acknowledgement."""
    where = "loss report"
    msg = messages.parse_message(raw, where)
    rid = messages.request_id(messages.text(msg, "id", where), f"{where}.id")
    item_id = messages.text(msg, "item", where)
    split_item_id(item_id)
    kind = _kind(messages.text(msg, "kind", where), f"{where}.kind")
    detail = messages.text(msg, "detail", where, limit=MAX_DETAIL)
    reported = parse_instant(messages.text(msg, "reported_at", where), f"{where}.reported_at")
    reported_at = format_instant(reported)
    with node.store.reading() as r:
        stored = r.item(item_id)
    unknown = f"{where}: {node.party} originated no item {item_id!r}"
    if stored is None or stored[0] != node.party:
        raise NotFound(unknown)
    receipts.require_holder(
        node, sender, held(node, item_id), reported, now, what=f"{where} {rid}", unknown=unknown
    )
    with node.store.reading() as r:
        existing = r.document(REPORT_RECEIVED, rid)
    if existing is not None:
        earlier = stored_report(existing)
        if (earlier.reporter, existing.item_id) != (sender, item_id):
            raise Conflict(f"{where}: report id {rid} is already used")
        if earlier.acknowledgement is None:
            raise StoreFailure(f"{REPORT_RECEIVED} {rid}: stored without its acknowledgement")
        return ReportReceipt(rid, earlier.acknowledgement.at, node.party)
    ack = ReportReceipt(rid, format_instant(now), node.party)
    doc = Report(
        rid,
        item_id,
        node.party,
        sender,
        kind,
        detail,
        reported_at,
        acknowledgement=Acknowledgement(ack.acknowledged_at, node.party),
        received_at=format_instant(now),
    )
    entry = node.entry(
        "loss.report",
        now,
        {
            "item": item_id,
            "kind": kind,
            "detail": f"report {rid}: {logged(detail, f'{where}.detail')}",
            "reporter": sender,
        },
    )
    with node.store.writing() as w:
        w.put_document(REPORT_RECEIVED, rid, item_id, doc.to_json(), None)
        node.log.append_in(w.log, [entry])
    return ack


def reports(node: Node, user: User) -> Reports:
    """The reports this node sent and received, about items ``user`` may see."""
    with node.store.reading() as r:
        sent = visible_documents(node, r, user, r.documents(REPORT_SENT))
        received = visible_documents(node, r, user, r.documents(REPORT_RECEIVED))
    return Reports(tuple(map(stored_report, sent)), tuple(map(stored_report, received)))
