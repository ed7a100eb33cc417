"""What a node holds: its sealed items, verified, and who among its users may see them.

The native API's use cases (consents, loss reports, classification notices, "why not?") all
start from an item this node holds. ``held`` finds it and verifies it in full; ``visible_item``
also applies Art. 7 for a user and answers an item the user may not see exactly as an item that
does not exist (the refusal goes to the audit log, not to the caller).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from gsomia.domain.access import Approval, Role, decide_access, provided_for
from gsomia.domain.consents import Consent
from gsomia.domain.instants import format_instant, parse_instant
from gsomia.domain.parties import Equivalence, Marking
from gsomia.domain.release import decide
from gsomia.errors import BadInput, Denied, GsomiaError, NotFound, StoreFailure
from gsomia.node import audit
from gsomia.node.config import User
from gsomia.node.results import (
    Box,
    ConsentRequest,
    ItemDetails,
    PurposeRequest,
    Report,
    UseDecision,
    WhyNot,
)
from gsomia.node.service import Node
from gsomia.seal.views import VerifiedItem
from gsomia.store.ports import (
    DestroyedRow,
    DocumentRow,
    NodeReader,
    NodeWriter,
    ObjectRow,
    ObjectScope,
)

MAX_ITEM_ID = 300

#: Kinds of node documents (``node_documents.kind``).
CONSENT_OUTBOX = "consent.outbox"  # requests this node (a holder) sent
CONSENT_INBOX = "consent.inbox"  # requests this node (the originator) received
REPORT_SENT = "report.sent"
REPORT_RECEIVED = "report.received"
NOTICE = "notice"  # the originator's latest classification notice, as it carried it
INVENTORY_SENT = "inventory.sent"  # inventories this node (a holder) stated to an originator
RECONCILIATION = "reconciliation"  # this node's (an originator's) reconciliations with a holder
PURPOSE_OUTBOX = "purpose.outbox"  # approvals for another purpose this node (a holder) asked
PURPOSE_INBOX = "purpose.inbox"  # approvals asked of this node (the originator)
#: A destruction certificate (DOMAIN.md §7.5), keyed by item id: the holder's own copy at the
#: holder, the certificate received at the originator; its body is the signed statement.
DESTRUCTION_CERTIFICATE = "destruction.certificate"
DESTRUCTION_REQUEST = "destruction.request"  # requests this node (an originator) sent holders
_BOXES: dict[str, Box] = {CONSENT_OUTBOX: "outbox", CONSENT_INBOX: "inbox"}
_PURPOSE_BOXES: dict[str, Box] = {PURPOSE_OUTBOX: "outbox", PURPOSE_INBOX: "inbox"}


def stored_consent(row: DocumentRow) -> ConsentRequest:
    """A stored consent request (either box), parsed at the store's boundary."""
    if row.kind not in _BOXES:
        raise StoreFailure(f"{row.kind} {row.key}: not a consent request")
    return ConsentRequest.from_json(_BOXES[row.kind], row.body, f"{row.kind} {row.key}")


def stored_purpose_request(row: DocumentRow) -> PurposeRequest:
    """A stored request for another purpose (either box), parsed at the store's boundary."""
    if row.kind not in _PURPOSE_BOXES:
        raise StoreFailure(f"{row.kind} {row.key}: not a purpose request")
    return PurposeRequest.from_json(_PURPOSE_BOXES[row.kind], row.body, f"{row.kind} {row.key}")


def stored_report(row: DocumentRow) -> Report:
    """A stored loss report (sent or received), parsed at the store's boundary."""
    return Report.from_json(row.body, f"{row.kind} {row.key}")


@dataclass(frozen=True, slots=True)
class Held:
    """An item this node holds: its sealed bytes, their verified view, and its STIX row."""

    item_id: str
    originator: str
    received_from: str | None
    raw: bytes
    verified: VerifiedItem
    row: ObjectRow | None


def split_item_id(item_id: str) -> tuple[str, str]:
    """An item id is ``STIX-ID/VERSION``; BadInput if it is not."""
    stix_id, sep, version = item_id.partition("/")
    if not sep or not stix_id or not version or len(item_id) > MAX_ITEM_ID:
        raise BadInput(f"item: {item_id[:80]!r} is not an item id (STIX-ID/VERSION)")
    return stix_id, version


def object_row(node: Node, r: NodeReader, item_id: str, originator: str) -> ObjectRow | None:
    stix_id, version = split_item_id(item_id)
    for row in r.versions(node.collection_id(originator), stix_id):
        if row.version == version and row.item_id == item_id:
            return row
    return None


def held(node: Node, item_id: str) -> Held:
    """The item ``item_id`` as this node holds it, verified against the node's scenario.

    For the node's own work (peer messages, a grant already authorised); a use case acting for
    a user finds the item with ``visible_item`` instead."""
    split_item_id(item_id)
    with node.store.reading() as r:
        found = r.item(item_id)
        row = None if found is None else object_row(node, r, item_id, found[0])
    if found is None:
        raise NotFound(f"no item {item_id[:MAX_ITEM_ID]!r} at {node.party}")
    originator, raw, received_from = found
    verified = node.verifier.verify(raw)
    return Held(item_id, originator, received_from, raw, verified, row)


#: What a missing item is checked against: a row no user may see (no topics, top secret).
_NOWHERE = ObjectRow(0, "", "", "", "", "", None, Equivalence.TOP_SECRET.value, (), b"")


@dataclass(frozen=True, slots=True)
class _Sighting:
    originator: str
    raw: bytes
    received_from: str | None
    row: ObjectRow


def _sight(
    node: Node, r: NodeReader, user: User, item_id: str, *, use: bool = True
) -> tuple[_Sighting | None, bool]:
    """The stored item and its object row if ``user`` may see them (and, with ``use``, use
    them: ``Node.visible``), else None; and whether the item is held here at all (for the
    audit log only).

    A missing item and a hidden one take the same steps — two index probes that read no sealed
    bytes and open no body (the item's origin, the object version's class and topics), then one
    access check (a missing item's against ``_NOWHERE``) — so neither the answer nor its time
    tells them apart. Only an item the user may see is then read and opened."""
    stix_id, _, version = item_id.partition("/")
    origin = r.item_origin(item_id)
    cid = node.collection_id(node.party if origin is None else origin[0])
    scope = r.object_scope(cid, stix_id, version)
    found = origin is not None and scope is not None and scope.item_id == item_id
    seen = node.visible(user.clearance, scope if found and scope is not None else _NOWHERE, use=use)
    if not seen or not found:
        return None, origin is not None
    stored = r.item(item_id)
    row = None if stored is None else object_row(node, r, item_id, stored[0])
    if stored is None or row is None:  # cannot happen inside one snapshot; fail closed
        return None, True
    return _Sighting(stored[0], stored[1], stored[2], row), True


def _refused(node: Node, user: User, action: str, *, stored: bool) -> None:
    """Audit a use case's refusal to find an item (one line, whatever the reason)."""
    audit.refused(
        action,
        "clearance, need-to-know or purpose" if stored else "not held here",
        user=user.name,
        party=node.party,
    )


def destroyed_item(node: Node, user: User, item_id: str) -> DestroyedRow | None:
    """What this node keeps of ``item_id`` if it destroyed it (DOMAIN.md §7.5) and ``user``
    could have seen it (the class and topics it had here); None otherwise — to anyone else a
    destroyed item is as missing as any other."""
    with node.store.reading() as r:
        row = r.destroyed(item_id[:MAX_ITEM_ID])
    return row if row is not None and _could_see(node, user, row) else None


def _could_see(node: Node, user: User, row: DestroyedRow) -> bool:
    """Whether ``user`` could have seen the destroyed item (the class and topics it had)."""
    stix_id, _, version = row.item_id.partition("/")
    scope = ObjectScope(stix_id, version, "destroyed", row.item_id, row.equivalence, row.topics)
    return node.visible(user.clearance, scope)


def destroyed_words(node: Node, row: DestroyedRow) -> str:
    """When and why an item was destroyed, in one sentence."""
    return (
        f"{row.item_id} was destroyed at {node.party} at {row.destroyed_at} "
        f"(reason: {row.reason}; authorised by {row.authorised_by}); only its id, digest and "
        "label are kept"
    )


def visible_or_destroyed(node: Node, user: User, item_id: str, action: str) -> Held:
    """``visible_item``, saying when and why the item was destroyed to a user who could have
    seen it."""
    gone = destroyed_item(node, user, item_id)
    if gone is not None:
        raise NotFound(destroyed_words(node, gone))
    return visible_item(node, user, item_id, action)


def visible_item(node: Node, user: User, item_id: str, action: str, *, use: bool = True) -> Held:
    """The item as ``user`` may see it, verified: the one way a use case acting for a user
    finds an item. An item the user may not see (clearance, need-to-know, and with ``use`` the
    purposes it is provided for here) is answered exactly as one that does not exist — the
    same NotFound, the same words, the same work — and the refusal goes to the audit log, not
    to the caller. Without ``use``: Art. 7 alone, for the use cases about an item's purposes
    (asking an approval, "why not?"), which read no content."""
    missing = NotFound(f"no item {item_id[:MAX_ITEM_ID]!r} at {node.party}")
    try:
        split_item_id(item_id)
    except BadInput:
        raise missing from None
    with node.store.reading() as r:
        seen, stored = _sight(node, r, user, item_id, use=use)
    if seen is None:
        _refused(node, user, action, stored=stored)
        raise missing
    verified = node.verifier.verify(seen.raw)
    return Held(item_id, seen.originator, seen.received_from, seen.raw, verified, seen.row)


def visible_document(
    node: Node, user: User, kinds: tuple[str, ...], key: str, action: str, *, use: bool = True
) -> DocumentRow | None:
    """The document ``key`` of one of ``kinds`` if it is about an item ``user`` may see, else
    None (a missing document and one about a hidden item take the same steps)."""
    with node.store.reading() as r:
        about = [(kind, r.document_item(kind, key)) for kind in kinds]
        kind, item_id = next(((k, i) for k, i in about if i is not None), (None, None))
        seen, _ = _sight(node, r, user, key if item_id is None else item_id, use=use)
        # the document itself is read (and opened) only once the user may see its item
        doc = None if kind is None or seen is None else r.document(kind, key)
    if doc is None:
        _refused(node, user, action, stored=item_id is not None)
        return None
    return doc


def visible_documents(
    node: Node, r: NodeReader, user: User, docs: list[DocumentRow], *, use: bool = True
) -> list[DocumentRow]:
    """Those of ``docs`` about items ``user`` may see (an item no longer held: none)."""
    seen: dict[str, bool] = {}
    kept = []
    for doc in docs:
        if doc.item_id not in seen:
            seen[doc.item_id] = _sight(node, r, user, doc.item_id, use=use)[0] is not None
        if seen[doc.item_id]:
            kept.append(doc)
    return kept


def hidden_ids(node: Node, r: NodeReader, user: User, item_ids: Iterable[str]) -> set[str]:
    """Those of ``item_ids`` held here (or once held) that ``user`` may not see: what a listing
    about many items leaves out for them (an id not held here is not hidden: nothing is). A
    listing shows no content: Art. 7 decides, not the purposes an item may be used for."""
    hidden: set[str] = set()
    for i in set(item_ids):
        if r.item_origin(i) is not None:
            if _sight(node, r, user, i, use=False)[0] is None:
                hidden.add(i)
        elif (gone := r.destroyed(i[:MAX_ITEM_ID])) is not None and not _could_see(
            node, user, gone
        ):
            hidden.add(i)  # destroyed here: hidden from whom it was hidden from before
    return hidden


def require_admin(node: Node, user: User, action: str) -> None:
    """Consents, notices and peers are managed by a node's admins only (every refusal logged)."""
    if user.role is not Role.ADMIN:
        reason = f"user {user.name} is not an admin of {node.party}"
        audit.refused(action, reason, user=user.name, party=node.party)
        raise Denied(f"{action}: {reason}")


def known_consents(node: Node, item: Held, recipient: str) -> tuple[Consent, ...]:
    """The originator's consents this node knows for ``item`` going to ``recipient``: those in
    the item's release records and those granted in answer to this node's requests."""
    found = [
        rel.consent.to_domain()
        for rel in item.verified.releases
        if rel.consent is not None and rel.recipient == recipient
    ]
    with node.store.reading() as r:
        docs = r.documents(CONSENT_OUTBOX, item.item_id)
    verifier = node.verifier
    for doc in docs:
        if doc.attachment is None or doc.body.get("recipient") != recipient:
            continue
        try:
            view = verifier.verify_consent(
                doc.attachment, label=item.verified.label, digest=item.verified.digest
            )
        except GsomiaError:
            continue  # a stored consent that no longer verifies gives no ground
        found.append(view.to_domain())
    return tuple(found)


def notice_carrier(node: Node, item_id: str) -> VerifiedItem | None:
    """The originator's latest classification notice for ``item_id`` as it reached this node
    (on the originator's copy of the item), verified; None if none reached it."""
    with node.store.reading() as r:
        doc = r.document(NOTICE, item_id)
    if doc is None or doc.attachment is None:
        return None
    return node.verifier.verify(doc.attachment)


def current_classification(node: Node, item: Held) -> str:
    carrier = notice_carrier(node, item.item_id)
    if carrier is not None and len(carrier.notices) > len(item.verified.notices):
        return carrier.classification
    return item.verified.classification


def item_details(node: Node, user: User, item_id: str) -> ItemDetails:
    """The verified item as the native API shows it to ``user``: the sealed item's view (its
    label, grants, releases with their consents, notices), with this node's marking and the
    originator's latest classification notice (which may have reached this node on the
    originator's copy of the item rather than on its own)."""
    item = visible_or_destroyed(node, user, item_id, f"read item {item_id[:120]}")
    notices = item.verified.notices
    carrier = notice_carrier(node, item_id)
    if carrier is not None and len(carrier.notices) > len(notices):
        notices = carrier.notices
    classification = notices[-1].classification if notices else item.verified.classification
    level = node.scenario.policy(item.originator).level(classification)
    if item.originator == node.party:
        mine = Marking(node.party, level.id, level.native, level.equivalence, node.party)
    else:
        mine = node.scenario.policy(node.party).marking_for(level.equivalence, item.originator)
    return ItemDetails(item.verified, notices, node.party, item.received_from, mine)


def why_not(node: Node, user: User, item_id: str, party: str, at: datetime | None) -> WhyNot:
    """The decision of this node releasing ``item_id`` to ``party`` at ``at`` (default now),
    with every rule's result for every candidate agreement."""
    item = visible_or_destroyed(node, user, item_id, f"why-not {item_id[:120]}")
    node.scenario.policy(party, where="party")
    if party == node.party:
        raise BadInput(f"party: {party} is this node; a release goes to another party")
    instant = node.clock.now() if at is None else at
    label = item.verified.domain_label(current_classification(node, item))
    decision = decide(
        node.scenario,
        label,
        holder=node.party,
        recipient=party,
        at=instant,
        consents=known_consents(node, item, party),
    )
    return WhyNot(decision, already_holds=party in item.verified.holders())


def arrived_on_standing(node: Node, item: Held) -> bool:
    """Whether ``item`` reached this node on standing consent (a relay, not the originator's
    grant nor a release with its consent): then it is for ``defense.warning`` only."""
    verified = item.verified
    if item.originator == node.party or any(g.party == node.party for g in verified.grants):
        return False
    return any(
        r.recipient == node.party and r.standing_consent is not None for r in verified.releases
    )


def approvals_held(node: Node, item_id: str, w: NodeWriter | None = None) -> tuple[Approval, ...]:
    """The originator's approvals for another purpose this node holds for ``item_id`` (in
    force or not), from the granted requests of its outbox; read in the write transaction
    ``w`` when given (a write replacing the item's approvals must start from what it sees)."""
    if w is None:
        with node.store.reading() as r:
            docs = r.documents(PURPOSE_OUTBOX, item_id)
    else:
        docs = w.documents(PURPOSE_OUTBOX, item_id)
    return tuple(
        _approval_of(doc)
        for doc in map(stored_purpose_request, docs)
        if doc.status == "granted" and doc.answered_at is not None
    )


def _approval_of(doc: PurposeRequest) -> Approval:
    where = f"{PURPOSE_OUTBOX} {doc.id}"
    expires = doc.expires_at
    return Approval(
        doc.item,
        doc.purpose,
        parse_instant(doc.answered_at or "", f"{where}: answered_at"),
        None if expires is None else parse_instant(expires, f"{where}: expires_at"),
    )


def why_not_use(node: Node, user: User, item_id: str, subject: str | None = None) -> UseDecision:
    """May ``subject`` (a user of this node; default ``user``) read ``item_id``'s content here
    now, and if not, why — in plain words: the item's purposes here, the user's, how to get an
    approval, and whether standing consent limits it to defense.warning. Only admins ask about
    another user. The item is found by Art. 7 alone (an item ``user`` may not see is missing);
    the answer names no content."""
    action = f"why-not-use {item_id[:120]}"
    target = user
    if subject is not None and subject != user.name:
        require_admin(node, user, action)
        target = next((u for u in node.config.users if u.name == subject), None)  # type: ignore[assignment]
        if target is None:
            raise NotFound(f"user: no user {subject[:80]!r} at {node.party}")
    item = visible_item(node, user, item_id, action, use=False)
    now = node.clock.now()
    label = item.verified.label
    level = node.scenario.policy(item.originator).level(current_classification(node, item))
    standing = arrived_on_standing(node, item)
    approvals = approvals_held(node, item_id)
    own = item.originator == node.party
    purposes = (
        None
        if own
        else provided_for(label.purposes, standing=standing, approvals=approvals, at=now)
    )
    decision = decide_access(
        target.clearance,
        party=node.party,
        equivalence=level.equivalence,
        topics=label.topics,
        purposes=purposes,
    )
    notes: list[str] = []
    if own:
        notes.append(
            f"{node.party} originated this item: its users are bound by clearance and "
            "need-to-know alone, whatever their purposes"
        )
    else:
        notes.append(f"the label provides it for {', '.join(label.purposes)}")
        if standing:
            notes.append(
                "it reached this node on the 2023 link's standing consent, so here it is "
                "provided for defense.warning only, whatever its label says"
            )
        in_force = [a for a in approvals if a.in_force(now)]
        notes.extend(
            f"{item.originator} approved its use for {a.purpose} here"
            + ("" if a.expires_at is None else f" until {format_instant(a.expires_at)}")
            for a in in_force
        )
        if not decision.allowed:
            notes.append(
                f"to use it for another purpose, an admin of {node.party} asks {item.originator} "
                f"for an approval (POST /native/v1/purposes/requests with the item and the "
                "purpose, or the item's page in the console)"
            )
    return UseDecision(
        item_id, target.name, target.clearance.purposes, decision, standing, tuple(notes)
    )
