"""Classification change notices (DOMAIN.md §3, Art. 6(g)): only the originating party changes
an item's classification, by written notice; every receiving party then changes its marking.

At the originator (``reclassify``): the notice, signed by the originator, is appended to the
sealed item; the node re-marks its own STIX object with a new label and sends the item carrying
the notice to every party it knows holds it (those it released to, and those it consented to).
At a holder (``receive``): the notice is verified (the originator's signature, the same item);
the node re-marks its object — the originator's new label and, beside it, its own equivalent
marking, its default level for the new class — and passes the notice on to the parties it
released the item to itself. A notice already applied is a no-op.

The re-marked object is stored again with a new ``date_added``, so TAXII clients polling with
``added_after`` see the change; the marking-definitions it referred to before stay, as STIX
markings are never changed in place.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

import orjson

from gsomia.domain.instants import format_instant
from gsomia.domain.parties import Marking
from gsomia.errors import BadInput, Conflict, GsomiaError, VerificationFailed
from gsomia.node import audit, messages, receipts
from gsomia.node.config import User
from gsomia.node.holdings import (
    CONSENT_INBOX,
    NOTICE,
    Held,
    held,
    require_admin,
    stored_consent,
    visible_item,
)
from gsomia.node.results import Notice, NoticeReceipt
from gsomia.node.service import LabelText, Node
from gsomia.node.stix import format_timestamp
from gsomia.seal.service import reclassify_item
from gsomia.store.ports import NewObject, NodeWriter, ObjectRow

MAX_ITEM_BASE64 = 96 * 1024 * 1024


def reclassify(node: Node, user: User, item_id: str, classification: str) -> Notice:
    """The originator's admin changes an item's classification; holders are notified.

    The admin must be cleared for the item as it is now (its current class and topics): an
    item they may not see is answered as one that does not exist, so no one downgrades (or
    learns of) what they could not read."""
    action = f"reclassify {item_id[:120]}"
    require_admin(node, user, action)
    item = visible_item(node, user, item_id, action)
    if item.originator != node.party:
        raise BadInput(
            f"item: only the originator ({item.originator}) changes the classification of {item_id}"
        )
    level = node.scenario.policy(node.party).level(classification)
    if level.id == item.verified.classification:
        raise Conflict(f"classification: {item_id} is already {level.id}")
    now = node.clock.now()
    sealed = reclassify_item(node.keyring, node.scenario, item.raw, classification=level.id, at=now)
    verified = node.verifier.verify(sealed)
    with node.store.reading() as r:
        asked = [stored_consent(d) for d in r.documents(CONSENT_INBOX, item_id)]
    consented = [c.recipient for c in asked if c.status == "granted"]
    recipients = [p for p in dict.fromkeys((*verified.holders(), *consented)) if p != node.party]
    remark = _Remark.prepare(node, item, level.id, now)
    entry = _notice_entry(
        node,
        item_id,
        originator=node.party,
        classification=level.id,
        digest=verified.digest,
        now=now,
    )
    with node.store.writing() as w:
        w.replace_item(item_id, sealed)
        remark.apply(w)
        for party in recipients:
            _queue_notice(w, party, sealed)
        node.log.append_in(w.log, [entry])
    audit.accepted(
        "reclassify",
        user=user.name,
        party=node.party,
        item=item_id,
        classification=level.id,
        notified=",".join(recipients),
    )
    return Notice(item_id, level.id, format_instant(now), tuple(recipients))


def receive(node: Node, sender: str, raw: bytes, now: datetime) -> NoticeReceipt:
    """A classification notice for an item held here, on the originator's copy of the item."""
    where = "classification notice"
    msg = messages.parse_message(raw, where)
    try:
        sealed = base64.b64decode(
            messages.text(msg, "item", where, limit=MAX_ITEM_BASE64), validate=True
        )
    except (binascii.Error, ValueError):
        raise BadInput(f"{where}.item: not base64") from None
    try:
        carrier = node.verifier.verify(sealed)
    except GsomiaError as exc:
        raise VerificationFailed(f"{where}: {exc}") from None
    if not carrier.notices:
        raise BadInput(f"{where}: the item carries no classification notice")
    item_id = carrier.label.id
    item = held(node, item_id)
    if item.originator == node.party:
        raise BadInput(f"{where}: {node.party} is the originator of {item_id}")
    if item.verified.digest != carrier.digest:
        raise VerificationFailed(f"{where}: not the item {item_id} held here")
    with node.store.reading() as r:
        doc = r.document(NOTICE, item_id)
    known = max(len(item.verified.notices), 0 if doc is None else int(doc.body["count"]))
    if len(carrier.notices) <= known:
        return NoticeReceipt(item_id, "duplicate")
    own = [rec.digest() for rec in item.verified.item.records]
    theirs = [rec.digest() for rec in carrier.item.records]
    extends_own = theirs[: len(own)] == own
    onward = [
        rel.recipient
        for rel in item.verified.releases
        if rel.holder == node.party and rel.recipient != sender
    ]
    notice = carrier.notices[-1]
    receipts.require_not_future(node, sender, notice.at, now, f"{where} for {item_id}")
    remark = _Remark.prepare(node, item, carrier.classification, notice.at)
    body = {
        "item": item_id,
        "classification": carrier.classification,
        "at": format_instant(notice.at),
        "count": len(carrier.notices),
        "from": sender,
        "received_at": format_instant(now),
        "marking": remark.marking,
    }
    entry = _notice_entry(
        node,
        item_id,
        originator=carrier.label.originator,
        classification=carrier.classification,
        digest=carrier.digest,
        now=now,
    )
    with node.store.writing() as w:
        if extends_own:
            w.replace_item(item_id, sealed)
        w.put_document(NOTICE, item_id, item_id, body, sealed)
        remark.apply(w)
        for party in onward:
            _queue_notice(w, party, sealed)
        node.log.append_in(w.log, [entry])
    audit.accepted(
        "apply classification notice",
        party=node.party,
        item=item_id,
        classification=carrier.classification,
        sender=sender,
    )
    return NoticeReceipt(item_id, "applied", carrier.classification)


def _notice_entry(
    node: Node, item_id: str, *, originator: str, classification: str, digest: bytes, now: datetime
) -> bytes:
    fields = {
        "item": item_id,
        "originator": originator,
        "classification": classification,
        "digest": digest.hex(),
    }
    return node.entry("classification.notice", now, fields)


def _queue_notice(w: NodeWriter, party: str, sealed: bytes) -> None:
    messages.queue(
        w,
        recipient=party,
        path=messages.NOTICE_PATH,
        body={"item": base64.b64encode(sealed).decode()},
        ref=None,
    )


class _Remark:
    """The new markings of an item's STIX object at this node: what is read is read before
    the write; the markings' ids are looked up (or made) in the write (``Node.own_markings``)."""

    def __init__(  # noqa: PLR0917 - the parts of one re-marking
        self,
        node: Node,
        row: ObjectRow | None,
        kept_refs: list[Any],
        label: LabelText,
        mine: Marking,
        created: str,
    ) -> None:
        self.node = node
        self.row = row
        self.kept_refs = kept_refs
        self.label = label
        self.mine = mine
        self.created = created
        self.marking = mine.to_json()

    @classmethod
    def prepare(cls, node: Node, item: Held, classification: str, at: datetime) -> _Remark:
        label = item.verified.label
        level = node.scenario.policy(label.originator).level(classification)
        text = LabelText.of(label, level.id)
        mine = node.scenario.policy(node.party).marking_for(level.equivalence, label.originator)
        row = item.row
        kept: list[Any] = []
        if row is not None:
            refs = orjson.loads(row.body).get("object_marking_refs", [])
            refs = refs if isinstance(refs, list) else []
            old = _label_refs(node, row.collection, refs)
            kept = [r for r in refs if r not in old]
        return cls(node, row, kept, text, mine, format_timestamp(at))

    def apply(self, w: NodeWriter) -> None:
        row = self.row
        if row is None:
            return
        node = self.node
        now = node.clock.now()
        mine = None if node.party == self.label.originator else self.mine
        refs = node.own_markings(w, row.collection, self.label, mine, self.created, now)
        body = orjson.loads(row.body)
        body["object_marking_refs"] = [*self.kept_refs, *refs]
        new_object = NewObject(
            row.collection,
            row.stix_id,
            row.stix_type,
            row.version,
            row.item_id,
            self.mine.equivalence.value,
            row.topics,
            orjson.dumps(body),
            row.purposes,  # the approvals stored stay (replace_object)
        )
        w.replace_object(new_object, node.next_date_added(w, now))


def _label_refs(node: Node, cid: str, refs: list[Any]) -> set[str]:
    """Those of ``refs`` that are marking-definitions stored in the collection: gsomia labels,
    as a collection holds no other marking (a publish refuses them), whatever the version of
    the label extension they carry (index only, no body read)."""
    with node.store.reading() as r:
        return {
            ref
            for ref in refs
            if isinstance(ref, str)
            and any(x.stix_type == "marking-definition" for x in r.scopes(cid, ref))
        }
