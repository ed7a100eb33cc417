"""Accounting (DOMAIN.md §7.3): an originator asks a holder what became of its items there —
per item, the number of accesses, of distinct persons, and the purposes used — never who.

The round trip, like a consent's: the originator's admin asks (``request_accounting``: stored
in its documents as pending, the request queued to the holder in the same transaction); the
holder's node answers at once, no human involved (``receive_request``): it counts, from its
register, the accesses to each item of the asking originator it holds (only those: an item it
does not hold, or holds of another originator, is answered as absent), signs the answer as an
``accounting`` statement (``gsomia.seal.statements``) and queues it back in the transaction
that records it answered. The originator verifies the statement against the holder's keys and
its request (``receive_answer``), and stores it: the request with its answer, and a line per
item that its console shows on the item's page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import orjson

from gsomia.domain.instants import format_instant, parse_instant
from gsomia.errors import BadInput, NotFound, VerificationFailed
from gsomia.node import audit, messages, receipts
from gsomia.node.config import User
from gsomia.node.holdings import require_admin, split_item_id, visible_documents, visible_item
from gsomia.node.results import Delivery
from gsomia.node.service import Node
from gsomia.seal.statements import sign_statement, verify_statement
from gsomia.store.ports import DocumentRow, NodeReader

REQUEST_PATH: Final = "/peer/v1/accounting-requests"
ANSWER_PATH: Final = "/peer/v1/accountings"
STATEMENT: Final = "accounting"  # the statement kind

#: Kinds of node documents (``node_documents.kind``).
REQUESTED: Final = "accounting.request"  # at the originator: a request and, once come, its answer
ITEM: Final = "accounting.item"  # at the originator: one item's line of an answer
ANSWERED: Final = "accounting.answered"  # at the holder: a request answered (and the statement)

PENDING: Final = "pending"
ANSWERED_STATUS: Final = "answered"
MAX_ITEMS = 1000  # items named in one request
MAX_ANSWER_BYTES = 16 * 1024 * 1024  # an answer: about 200 bytes per item held
BODY_VERSION = 1


# ------------------------------------------------------------------ values
@dataclass(frozen=True, slots=True)
class ItemAccounting:
    """One item's line of an accounting: counts and purposes, no person."""

    item: str
    accesses: int
    persons: int
    purposes: tuple[tuple[str, int], ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "item": self.item,
            "accesses": self.accesses,
            "persons": self.persons,
            "purposes": dict(self.purposes),
        }

    @classmethod
    def from_json(cls, doc: object, where: str) -> ItemAccounting:
        if not isinstance(doc, dict) or set(doc) != {"item", "accesses", "persons", "purposes"}:
            raise VerificationFailed(f"{where}: expected item, accesses, persons, purposes")
        item, accesses, persons, purposes = (
            doc["item"],
            doc["accesses"],
            doc["persons"],
            doc["purposes"],
        )
        if not isinstance(item, str) or not _count(accesses) or not _count(persons):
            raise VerificationFailed(f"{where}: item must be an id, the counts whole numbers")
        if not isinstance(purposes, dict) or not all(
            isinstance(k, str) and _count(v) for k, v in purposes.items()
        ):
            raise VerificationFailed(f"{where}.purposes: expected purpose → count")
        if sum(purposes.values()) != accesses or persons > accesses:
            raise VerificationFailed(f"{where}: the counts do not add up")
        return cls(item, accesses, persons, tuple(sorted(purposes.items())))

    def summary(self) -> str:
        """``12 accesses by 3 persons for defense.warning`` (or ``no access``)."""
        if not self.accesses:
            return "no access"
        accesses = "1 access" if self.accesses == 1 else f"{self.accesses} accesses"
        persons = "1 person" if self.persons == 1 else f"{self.persons} persons"
        purposes = ", ".join(
            p if len(self.purposes) == 1 else f"{p} ({n})" for p, n in self.purposes
        )
        return f"{accesses} by {persons} for {purposes}"


def _count(value: object) -> bool:
    return type(value) is int and value >= 0


@dataclass(frozen=True, slots=True)
class AccountingRequest:
    """A request for an accounting as the originator keeps it, with its answer once come."""

    id: str
    holder: str
    items: tuple[str, ...] | None  # None: every item of this originator the holder holds
    requested_at: str
    requested_by: str
    status: str
    answered_at: str | None = None
    lines: tuple[ItemAccounting, ...] = ()
    absent: tuple[str, ...] = ()
    delivery: Delivery | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "holder": self.holder,
            "items": None if self.items is None else list(self.items),
            "requested_at": self.requested_at,
            "requested_by": self.requested_by,
            "status": self.status,
            "answered_at": self.answered_at,
            "lines": [x.to_json() for x in self.lines],
            "absent": list(self.absent),
            "delivery": None if self.delivery is None else self.delivery.to_json(),
        }

    @classmethod
    def from_stored(cls, doc: DocumentRow) -> AccountingRequest:
        where = f"{doc.kind} {doc.key}"
        body = doc.body
        try:
            items = body["items"]
            return cls(
                str(body["id"]),
                str(body["holder"]),
                None if items is None else tuple(str(i) for i in items),
                str(body["requested_at"]),
                str(body["requested_by"]),
                str(body["status"]),
                body.get("answered_at"),
                tuple(ItemAccounting.from_json(x, where) for x in body.get("lines", [])),
                tuple(str(i) for i in body.get("absent", [])),
                Delivery.from_json(body.get("delivery"), f"{where}.delivery"),
            )
        except (KeyError, TypeError, VerificationFailed) as exc:
            raise VerificationFailed(f"{where}: not a stored accounting request ({exc})") from None


@dataclass(frozen=True, slots=True)
class ItemAccountingSeen:
    """An item's line of an accounting, as the originator's console shows it."""

    request: str
    holder: str
    at: str
    line: ItemAccounting

    def to_json(self) -> dict[str, Any]:
        return {
            "request": self.request,
            "holder": self.holder,
            "at": self.at,
            **self.line.to_json(),
            "summary": self.line.summary(),
        }


@dataclass(frozen=True, slots=True)
class AccountingReceipt:
    """What a peer is answered when it sends a request or an answer."""

    request: str
    status: str
    result: str  # stored, duplicate

    def to_json(self) -> dict[str, str]:
        return {"request": self.request, "status": self.status, "result": self.result}


# ------------------------------------------------------------------ at the originator
def request_accounting(
    node: Node, user: User, holder: str, items: Sequence[str] | None
) -> AccountingRequest:
    """Ask ``holder`` for an accounting of ``items`` (every item of this party it holds when
    None); admins only. Each item named must be one this party originated that ``user`` may
    see (otherwise it is answered as missing)."""
    action = f"request an accounting from {holder[:8]}"
    require_admin(node, user, action)
    node.scenario.policy(holder, where="holder")
    if holder == node.party:
        raise BadInput(f"holder: {holder} is this node; ask another party")
    if all(p.party != holder for p in node.config.peers):
        raise BadInput(f"holder: {holder} is not a peer of this node (no [[peers]] entry)")
    wanted: tuple[str, ...] | None = None
    if items is not None:
        if not items or len(items) > MAX_ITEMS:
            raise BadInput(f"items: expected 1 to {MAX_ITEMS} item ids, or none for all")
        wanted = tuple(sorted(set(items)))
        for item_id in wanted:
            found = visible_item(node, user, item_id, action)
            if found.originator != node.party:
                raise BadInput(f"items: {node.party} did not originate {item_id}")
    now = format_instant(node.clock.now())
    rid = messages.new_id()
    doc = AccountingRequest(
        rid, holder, wanted, now, user.name, PENDING, delivery=Delivery.queued(now)
    )
    body: dict[str, Any] = {"id": rid, "requested_at": now}
    if wanted is not None:
        body["items"] = list(wanted)
    with node.store.writing() as w:
        w.put_document(REQUESTED, rid, "", doc.to_json(), None)
        messages.queue(w, recipient=holder, path=REQUEST_PATH, body=body, ref=(REQUESTED, rid))
    audit.accepted("request accounting", user=user.name, party=node.party, holder=holder)
    return doc


def receive_answer(node: Node, sender: str, raw: bytes, now: datetime) -> AccountingReceipt:
    """A holder's signed answer to one of this node's requests: verified, then stored."""
    where = "accounting"
    msg = messages.parse_message(raw, where)
    rid = messages.request_id(messages.text(msg, "request", where), f"{where}.request")
    with node.store.reading() as r:
        found = r.document(REQUESTED, rid)
    if found is None:
        raise NotFound(f"{where}: no accounting request {rid} at {node.party}")
    asked = AccountingRequest.from_stored(found)
    if asked.holder != sender:
        raise VerificationFailed(f"{where}: {sender} answered a request made of {asked.holder}")
    if asked.status != PENDING:
        return AccountingReceipt(rid, asked.status, "duplicate")
    statement = msg.get("statement")
    body = verify_statement(node.keyring, statement, kind=STATEMENT, party=sender, where=where)
    answer = _answer_body(node, body, asked, where)
    answered = parse_instant(answer["at"], f"{where}.at")
    receipts.require_not_future(node, sender, answered, now, f"{where} {rid}")
    lines = tuple(
        ItemAccounting.from_json(x, f"{where}.items[{i}]") for i, x in enumerate(answer["items"])
    )
    _check_items(node, asked, lines, answer["absent"], where)
    done = AccountingRequest(
        asked.id,
        asked.holder,
        asked.items,
        asked.requested_at,
        asked.requested_by,
        ANSWERED_STATUS,
        format_instant(answered),
        lines,
        tuple(answer["absent"]),
        asked.delivery,
    )
    with node.store.writing() as w:
        w.put_document(REQUESTED, rid, "", done.to_json(), orjson.dumps(statement))
        for line in lines:
            seen = ItemAccountingSeen(rid, sender, format_instant(answered), line)
            w.put_document(ITEM, f"{rid} {line.item}", line.item, seen.to_json(), None)
    audit.accepted("store accounting", party=node.party, sender=sender, request=rid)
    return AccountingReceipt(rid, ANSWERED_STATUS, "stored")


def _answer_body(
    node: Node, body: dict[str, Any], asked: AccountingRequest, where: str
) -> dict[str, Any]:
    """The statement's body, checked to be the answer to ``asked`` for this originator."""
    expected = {"v", "request", "originator", "holder", "at", "items", "absent"}
    if set(body) != expected or body["v"] != BODY_VERSION:
        raise VerificationFailed(f"{where}: the statement is not an accounting of version 1")
    if body["request"] != asked.id or body["originator"] != node.party:
        raise VerificationFailed(f"{where}: the statement answers another request")
    if body["holder"] != asked.holder:
        raise VerificationFailed(f"{where}: the statement is about {body['holder']!r}'s holdings")
    if not isinstance(body["at"], str) or not isinstance(body["items"], list):
        raise VerificationFailed(f"{where}: at and items malformed")
    absent = body["absent"]
    if not isinstance(absent, list) or not all(isinstance(x, str) for x in absent):
        raise VerificationFailed(f"{where}.absent: expected a list of item ids")
    return body


def _check_items(
    node: Node,
    asked: AccountingRequest,
    lines: Sequence[ItemAccounting],
    absent: Sequence[str],
    where: str,
) -> None:
    """Every item answered is one this node originated (and asked about, if it named some)."""
    ids = [x.item for x in lines]
    if len(set(ids)) != len(ids):
        raise VerificationFailed(f"{where}: an item is answered twice")
    with node.store.reading() as r:
        for item_id in ids:
            origin = r.item_origin(item_id)
            if origin is None or origin[0] != node.party:
                raise VerificationFailed(f"{where}: {item_id[:200]} is not an item of {node.party}")
    if asked.items is not None and not set(ids) | set(absent) <= set(asked.items):
        raise VerificationFailed(f"{where}: the answer names items that were not asked about")


def accountings(node: Node, user: User) -> list[AccountingRequest]:
    """This node's requests for accountings, newest first, each showing only the items
    ``user`` may see (admins only)."""
    require_admin(node, user, "list accountings")
    with node.store.reading() as r:
        requests = [AccountingRequest.from_stored(d) for d in r.documents(REQUESTED)]
        seen = {d.item_id for d in visible_documents(node, r, user, r.documents(ITEM))}
        asked = {i for q in requests for i in (q.items or ())}
        seen |= {d.item_id for d in _visible_ids(node, r, user, asked - seen)}
    shown = []
    for q in reversed(requests):
        lines = tuple(x for x in q.lines if x.item in seen)
        items = None if q.items is None else tuple(i for i in q.items if i in seen)
        absent = tuple(i for i in q.absent if i in seen)
        shown.append(
            AccountingRequest(
                q.id,
                q.holder,
                items,
                q.requested_at,
                q.requested_by,
                q.status,
                q.answered_at,
                lines,
                absent,
                q.delivery,
            )
        )
    return shown


def _visible_ids(node: Node, r: NodeReader, user: User, ids: set[str]) -> list[DocumentRow]:
    """Stand-in documents for ``ids``, those ``user`` may see (``visible_documents``' test)."""
    docs = [DocumentRow(ITEM, i, i, {}, None) for i in sorted(ids)]
    return visible_documents(node, r, user, docs)


def item_accountings(node: Node, user: User, item_id: str) -> list[ItemAccountingSeen]:
    """The accountings holders gave of ``item_id``, newest first (admins; an item the user may
    not see is answered as missing)."""
    action = f"read the accountings of {item_id[:120]}"
    require_admin(node, user, action)
    visible_item(node, user, item_id, action)
    with node.store.reading() as r:
        docs = r.documents(ITEM, item_id)
    return [_seen(d) for d in reversed(docs)]


def _seen(doc: DocumentRow) -> ItemAccountingSeen:
    where = f"{doc.kind} {doc.key}"
    body = dict(doc.body)
    try:
        request, holder, at = str(body.pop("request")), str(body.pop("holder")), str(body.pop("at"))
    except KeyError as exc:
        raise VerificationFailed(f"{where}: missing {exc}") from None
    body.pop("summary", None)
    return ItemAccountingSeen(request, holder, at, ItemAccounting.from_json(body, where))


# ------------------------------------------------------------------ at the holder
def receive_request(node: Node, sender: str, raw: bytes, now: datetime) -> AccountingReceipt:
    """An originator's request: answered at once, signed, about the items of ``sender`` held
    here (those asked about, or all). An item not held, or held of another originator, is
    answered as absent — the same words whatever the reason. The answer is queued in the
    transaction that records the request answered: a crash loses neither or both."""
    where = "accounting request"
    msg = messages.parse_message(raw, where)
    rid = messages.request_id(messages.text(msg, "id", where), f"{where}.id")
    parse_instant(messages.text(msg, "requested_at", where), f"{where}.requested_at")
    asked = _asked_items(msg.get("items"), where)
    with node.store.reading() as r:
        if r.document(ANSWERED, rid) is not None:
            return AccountingReceipt(rid, ANSWERED_STATUS, "duplicate")
        held = set(r.held_item_ids(sender))
        if asked is None:
            present, absent = sorted(held), []
        else:
            present = [i for i in asked if i in held]
            absent = [i for i in asked if i not in held]
        tallies = {t.item_id: t for t in r.access_tallies(present)}
    lines = [
        ItemAccounting(i, 0, 0, ())
        if i not in tallies
        else ItemAccounting(i, tallies[i].accesses, tallies[i].persons, tallies[i].purposes)
        for i in present
    ]
    at = format_instant(now)
    body = {
        "v": BODY_VERSION,
        "request": rid,
        "originator": sender,
        "holder": node.party,
        "at": at,
        "items": [x.to_json() for x in lines],
        "absent": absent,
    }
    statement = sign_statement(node.keyring, STATEMENT, body)
    record = {"request": rid, "originator": sender, "at": at, "items": len(lines)}
    with node.store.writing() as w:
        if w.document(ANSWERED, rid) is not None:  # answered meanwhile (a retry raced it)
            return AccountingReceipt(rid, ANSWERED_STATUS, "duplicate")
        w.put_document(ANSWERED, rid, "", record, orjson.dumps(statement))
        messages.queue(
            w,
            recipient=sender,
            path=ANSWER_PATH,
            body={"request": rid, "statement": statement},
            ref=None,
        )
    audit.accepted("answer accounting", party=node.party, originator=sender, request=rid)
    return AccountingReceipt(rid, ANSWERED_STATUS, "stored")


def _asked_items(value: object, where: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or len(value) > MAX_ITEMS:
        raise BadInput(f"{where}.items: expected 1 to {MAX_ITEMS} item ids")
    items = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise BadInput(f"{where}.items[{i}]: expected an item id")
        split_item_id(item)
        items.append(item)
    return sorted(set(items))
