"""Consents across nodes (DOMAIN.md §3 and §5 rule 7): no release to a third party without the
originating party's prior written approval.

The round trip: a holder's admin asks (``request_consent``) — the request is stored as pending
in the holder's outbox of requests and travels, signed, to the originator's node
(``receive_request``), whose admin sees it in its inbox and grants (``grant``: a consent signed
by the originator, bound to the item's digest and the recipient) or refuses (``refuse``: a
reason). The answer travels back (``receive_answer``); the holder verifies the consent against
the item and its originator's keys, stores and logs it, and releases the item onward at once:
the engine decides with the consent, the release record carrying the consent is appended to
the sealed item, and the release goes through the federation outbox like any other.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import replace
from datetime import datetime
from typing import Any

from gsomia.domain.derived import HeldSource, check_source
from gsomia.domain.instants import format_instant, parse_instant
from gsomia.domain.release import decide, source_originators
from gsomia.errors import BadInput, Conflict, Denied, GsomiaError, NotFound, VerificationFailed
from gsomia.node import messages, receipts
from gsomia.node.config import User
from gsomia.node.holdings import (
    CONSENT_INBOX,
    CONSENT_OUTBOX,
    Held,
    held,
    require_admin,
    split_item_id,
    visible_item,
)
from gsomia.node.requests import (
    CONSENTS,
    GRANTED,
    MAX_REASON,
    PENDING,
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
from gsomia.node.results import ConsentReceipt, ConsentRequest, Delivery
from gsomia.node.service import Node
from gsomia.seal.records import make_source_consent
from gsomia.seal.service import grant_consent, release_item

MAX_DERIVED = 64 * 1024 * 1024  # base64 of the sealed derived item of a source request


def _party(node: Node, party: str, where: str) -> str:
    node.scenario.policy(party, where=where)
    return party


def _consent_entry(node: Node, now: datetime, doc: ConsentRequest) -> bytes:
    fields = {
        "item": doc.item,
        "originator": doc.originator,
        "holder": doc.holder,
        "recipient": doc.recipient,
    }
    if doc.source is not None:
        fields["source"] = doc.source
    if doc.expires_at is not None:
        fields["expires"] = doc.expires_at
    return node.entry("consent", now, fields)


# ------------------------------------------------------------------ at the holder
def request_consent(
    node: Node, user: User, item_id: str, recipient: str, source: str | None = None
) -> ConsentRequest:
    """Ask the originator for consent to pass ``item_id`` to ``recipient`` (admins only); with
    ``source`` (a derived item's source, DOMAIN.md §7.6), ask that source's originator."""
    require_admin(node, user, f"request consent for {item_id[:120]}")
    item = visible_item(node, user, item_id, f"request consent for {item_id[:120]}")
    originator = item.verified.label.originator
    if source is not None:
        originator = _source_originator(node, item, source, recipient)
    elif originator == node.party:
        raise BadInput(f"item: {node.party} originated {item_id}; it needs no one's consent")
    _party(node, recipient, "recipient")
    if recipient == node.party:
        raise BadInput(f"recipient: {node.party} already holds {item_id}")
    if recipient in item.verified.holders():
        raise Conflict(f"recipient: {recipient} already holds {item_id}")
    if recipient not in item.verified.label.releasable_to:
        raise BadInput(
            f"recipient: {item_id} is not releasable to {recipient} "
            f"(releasable to {', '.join(item.verified.label.releasable_to) or 'no one'})"
        )
    earlier = pending_asked(
        node, CONSENTS, item_id, lambda d: (d.recipient, d.source) == (recipient, source)
    )
    if earlier is not None:
        raise Conflict(
            f"recipient: consent for {item_id} to {recipient} is already requested "
            f"(request {earlier.id}, pending)"
        )
    now = node.clock.now()
    rid = messages.new_id()
    doc = ConsentRequest(
        "outbox",
        rid,
        item_id,
        originator,
        node.party,
        recipient,
        format_instant(now),
        PENDING,
        requested_by=user.name,
        delivery=Delivery.queued(format_instant(now)),
        source=source,
    )
    body: dict[str, object] = {
        "id": rid,
        "item": item_id,
        "item_digest": item.verified.digest.hex(),
        "recipient": recipient,
        "requested_at": doc.requested_at,
    }
    if source is not None:
        # the source's originator does not hold the derived item: it gets it sealed (it can
        # verify its label and digest, not open it) to judge and bind its consent
        body.update(source=source, derived=base64.b64encode(item.raw).decode())
    send_request(node, CONSENTS, doc, body)
    return doc


def _source_originator(node: Node, item: Held, source: str, recipient: str) -> str:
    """The originator whose consent ``source`` stands for: a source of the derived ``item``
    whose originator must consent to it going to ``recipient`` (DOMAIN.md §7.6)."""
    label = item.verified.label
    named = next((s for s in label.derived_from if s.item == source), None)
    if named is None:
        raise BadInput(f"source: {item.item_id} is not derived from {source[:120]!r}")
    _party(node, recipient, "recipient")
    needed = source_originators(
        item.verified.domain_label(item.verified.classification), node.party, recipient
    )
    if named.originator not in needed:
        raise BadInput(
            f"source: {named.originator}'s consent is not needed for {item.item_id} to go to "
            f"{recipient} (needed: {', '.join(needed) or 'none'})"
        )
    return named.originator


def receive_answer(node: Node, sender: str, raw: bytes, now: datetime) -> ConsentReceipt:
    """The originator's answer to one of this node's requests; a grant releases the item.

    The answer's instants are judged here (``gsomia.node.receipts``): not ahead of this node's
    now, not before the request was made; a consent that has expired at this node's now is
    refused (audited, nothing stored), whatever the originator's clock said."""
    where = "consent answer"
    answer = open_answer(node, CONSENTS, sender, raw)
    if isinstance(answer, ConsentReceipt):
        return answer
    msg, doc, rid = answer.msg, answer.doc, answer.doc.id
    answered = parse_instant(messages.text(msg, "answered_at", where), f"{where}.answered_at")
    asked = parse_instant(doc.requested_at, "consent outbox: requested_at")
    receipts.require_answer_instant(
        node, sender, f"{where} {rid}", instant=answered, asked=asked, now=now
    )
    if answer.status == REFUSED:
        return store_refusal(node, CONSENTS, sender, answer, answered)
    require_granted(CONSENTS, answer.status)
    try:
        consent = base64.b64decode(
            messages.text(msg, "consent", where, limit=64_000), validate=True
        )
    except (binascii.Error, ValueError):
        raise BadInput(f"{where}.consent: not base64") from None
    return _granted(node, sender, doc, consent, asked=asked, now=now)


def _granted(
    node: Node, sender: str, doc: ConsentRequest, consent: bytes, *, asked: datetime, now: datetime
) -> ConsentReceipt:
    """A grant for the pending request ``doc``: the consent verified and judged, stored and
    logged, and the item released onward with it, in one transaction."""
    where, rid = "consent answer", doc.id
    item = held(node, doc.item)
    view = node.verifier.verify_consent(
        consent, label=item.verified.label, digest=item.verified.digest
    )
    if view.recipient != doc.recipient:
        raise VerificationFailed(
            f"{where}: the consent is for {view.recipient}, the request for {doc.recipient}"
        )
    doc = judged_grant(
        node,
        CONSENTS,
        sender,
        doc,
        "consent",
        granted_at=view.granted_at,
        expires_at=view.expires_at,
        asked=asked,
        now=now,
    )
    entries = [_consent_entry(node, now, doc)]
    recipient = doc.recipient
    released = None
    try:
        released = release_item(
            node.keyring, node.scenario, item.raw, recipient=recipient, at=now, consent=consent
        )
    except Denied as exc:
        decision = decide(
            node.scenario,
            item.verified.domain_label(item.verified.classification),
            holder=node.party,
            recipient=recipient,
            at=now,
            consents=(view.to_domain(),),
        )
        entries.append(node.decision_entry(decision, now))
        doc = replace(doc, release=f"denied: {exc}"[:MAX_REASON])
    except GsomiaError as exc:
        doc = replace(doc, release=f"not released: {exc}"[:MAX_REASON])
    if released is not None:
        doc = replace(doc, release="queued")
    # The answer, the release it allows and its queued push commit together: a crash after
    # the commit leaves the release in the outbox; before it, the retried answer is new.
    with node.store.writing() as w:
        if released is not None:
            w.replace_item(item.item_id, released.item)
            entries.append(node.decision_entry(released.decision, now))
            w.queue(item.item_id, recipient, format_instant(now))
        w.put_document(CONSENT_OUTBOX, rid, item.item_id, doc.to_json(), consent)
        node.log.append_in(w.log, entries)
    return ConsentReceipt(rid, GRANTED, "stored", release=doc.release)


# ------------------------------------------------------------------ at the originator
def receive_request(node: Node, sender: str, raw: bytes, now: datetime) -> ConsentReceipt:
    """A holder's request for consent about one of this node's items, stored as pending.

    Only a party this node's records show holding the item may ask, with an instant neither
    before it came to hold it nor ahead of this node's now (``gsomia.node.receipts``); anyone
    else gets exactly the answer for an unknown item, and nothing is stored."""
    where = "consent request"
    msg = messages.parse_message(raw, where)
    rid = messages.request_id(messages.text(msg, "id", where), f"{where}.id")
    item_id = messages.text(msg, "item", where)
    split_item_id(item_id)
    recipient = _party(node, messages.text(msg, "recipient", where), f"{where}.recipient")
    digest = messages.text(msg, "item_digest", where)
    requested = parse_instant(messages.text(msg, "requested_at", where), f"{where}.requested_at")
    requested_at = format_instant(requested)
    if msg.get("source") is not None:
        return _receive_source_request(node, sender, msg, rid, now)
    item = asked_of(node, sender, item_id, requested=requested, now=now, where=where, rid=rid)
    duplicate = received_before(
        node,
        CONSENTS,
        rid,
        lambda earlier, row: (
            (earlier.holder, row.item_id, earlier.recipient) == (sender, item_id, recipient)
        ),
    )
    if duplicate is not None:
        return duplicate
    if recipient in (node.party, sender):
        raise BadInput(f"{where}.recipient: {recipient} needs no consent for {item_id}")
    if item.verified.digest.hex() != digest:
        raise VerificationFailed(f"{where}: the digest is not that of {item_id}")
    doc = ConsentRequest(
        "inbox",
        rid,
        item_id,
        node.party,
        sender,
        recipient,
        requested_at,
        PENDING,
        received_at=format_instant(now),
        holder_known=True,  # receive_request accepts requests from known holders only
    )
    return store_received(node, CONSENTS, doc)


def _receive_source_request(
    node: Node, sender: str, msg: dict[str, Any], rid: str, now: datetime
) -> ConsentReceipt:
    """A holder's request for this node's consent, as a source's originator, to a derived item
    going on (DOMAIN.md §7.6). Only a party this node's records show holding the source may
    ask (anyone else gets the answer for an unknown item); the derived item comes sealed: it
    must verify, be held by the sender, name the source as this node's, and be releasable to
    the recipient. Stored as pending in the inbox, about the source item (whose readers may
    see it), with the sealed derived item attached until it is answered."""
    where = "consent request"
    item_id = messages.text(msg, "item", where)
    source_id = messages.text(msg, "source", where)
    split_item_id(source_id)
    recipient = _party(node, messages.text(msg, "recipient", where), f"{where}.recipient")
    digest = messages.text(msg, "item_digest", where)
    requested = parse_instant(messages.text(msg, "requested_at", where), f"{where}.requested_at")
    source = asked_of(node, sender, source_id, requested=requested, now=now, where=where, rid=rid)
    duplicate = received_before(
        node,
        CONSENTS,
        rid,
        lambda earlier, _row: (
            (earlier.holder, earlier.item, earlier.source, earlier.recipient)
            == (sender, item_id, source_id, recipient)
        ),
    )
    if duplicate is not None:
        return duplicate
    try:
        raw = base64.b64decode(
            messages.text(msg, "derived", where, limit=MAX_DERIVED), validate=True
        )
    except (binascii.Error, ValueError):
        raise BadInput(f"{where}.derived: not base64") from None
    derived = node.verifier.verify(raw)
    label = derived.label
    if label.id != item_id or derived.digest.hex() != digest:
        raise VerificationFailed(f"{where}: the derived item is not {item_id[:120]}")
    if sender not in derived.holders():
        raise VerificationFailed(f"{where}: {sender} does not hold {item_id[:120]}")
    named = next((s for s in label.derived_from if s.item == source_id), None)
    if named is None or named.originator != node.party:
        raise VerificationFailed(f"{where}: {item_id[:120]} is not derived from {source_id}")
    if recipient in (node.party, sender) or recipient not in label.releasable_to:
        raise BadInput(f"{where}.recipient: {recipient} needs no consent for {item_id[:120]}")
    mine = source.verified.domain_label(source.verified.classification)
    # the derived label, judged against this source alone: no lower, no wider, its topics
    check_source(
        node.scenario,
        derived.domain_label(derived.classification),
        HeldSource(named, mine, mine.purposes),
    )
    doc = ConsentRequest(
        "inbox",
        rid,
        item_id,
        node.party,
        sender,
        recipient,
        format_instant(requested),
        PENDING,
        received_at=format_instant(now),
        holder_known=True,
        source=source_id,
    )
    return store_received(node, CONSENTS, doc, raw)


def grant(node: Node, user: User, rid: str, expires_at: datetime | None) -> ConsentRequest:
    """The originator's admin grants a request: a signed consent travels back to the holder."""
    action = f"grant consent request {rid[:60]}"
    require_admin(node, user, action)
    doc = pending(node, CONSENTS, user, rid, action)
    now = node.clock.now()
    if doc.source is None:
        item = held(node, doc.item)
        consent = grant_consent(
            node.keyring,
            node.scenario,
            item.raw,
            recipient=doc.recipient,
            granted_at=now,
            expires_at=expires_at,
        )
    else:
        consent = _grant_source(node, rid, doc, now, expires_at)
    doc = granted(doc, user, now, expires_at)
    send_answer(
        node,
        CONSENTS,
        doc,
        {"consent": base64.b64encode(consent).decode()},
        attachment=consent,
        entries=(_consent_entry(node, now, doc),),
    )
    return doc


def _grant_source(
    node: Node, rid: str, doc: ConsentRequest, now: datetime, expires_at: datetime | None
) -> bytes:
    """A source consent for the derived item attached to the pending request ``rid``."""
    with node.store.reading() as r:
        found = r.document(CONSENT_INBOX, rid)
    if found is None or found.attachment is None or doc.source is None:
        raise NotFound(f"no consent request {rid} in {node.party}'s inbox")
    derived = node.verifier.verify(found.attachment)
    return make_source_consent(
        node.keyring,
        derived,
        source=doc.source,
        recipient=doc.recipient,
        granted_at=now,
        expires_at=expires_at,
    )


def refuse(node: Node, user: User, rid: str, reason: str) -> ConsentRequest:
    """The originator's admin refuses a request; the refusal and its reason travel back."""
    return _refuse(node, CONSENTS, user, rid, reason, audited="refuse consent")


# ------------------------------------------------------------------ both
def requests(node: Node, user: User, box: str) -> list[ConsentRequest]:
    """This node's consent requests: ``outbox`` (asked of others) or ``inbox`` (asked of it),
    those about items ``user`` may see (an admin is no exception: a request about an item
    above their clearance or outside their duties is not listed)."""
    return listed(node, CONSENTS, user, box)


def request(node: Node, user: User, rid: str) -> ConsentRequest:
    """One consent request, in either box, if it is about an item ``user`` may see."""
    return one(node, CONSENTS, user, rid)
