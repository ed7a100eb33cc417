"""Federation: releases leave through the outbox and arrive through verification.

Sending. Every release is queued in the outbox in the same transaction as the item and its
decision. Before a queued release is pushed, the decision is taken again at that instant: a
release queued before an agreement ended is not sent after it, and the refusal is logged.
Receiving. A peer's request is signed with the peer's key over its method, target and body
(``gsomia/peer-request/v2``); each item is verified in full (originator's signature, every grant
and release re-decided with the engine at its own instant, embedded consents) and the release to
this node is judged again at this node's own instant (``gsomia.node.receipts``: not dated ahead
of it, still allowed then with its consent) before anything is stored, and storing is
idempotent: a repeated delivery is a no-op. What a receipt obliges the node to do next (a hub's
relays on standing consent) is queued in the receipt's own transaction.

Retries run on wall time: the back-off of a failed push is stored as wall-clock epoch seconds.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from gsomia import primitives
from gsomia.domain.access import provided_for
from gsomia.domain.consents import Consent
from gsomia.domain.instants import format_instant, parse_instant
from gsomia.domain.labels import Label
from gsomia.domain.parties import Equivalence, Marking
from gsomia.domain.release import Decision, decide
from gsomia.errors import BadInput, Denied, GsomiaError, VerificationFailed
from gsomia.node import audit, derived, receipts
from gsomia.node.service import LabelText, Node
from gsomia.node.stix import format_timestamp, validate_object
from gsomia.seal.item import Core, Item, SealedLabel
from gsomia.seal.service import release_item
from gsomia.seal.views import VerifiedItem
from gsomia.store.ports import NewObject, NodeWriter, OutboxRow


def retention_instant(at: datetime) -> str:
    """A label's ``retain_until`` as stored: UTC, one fixed width (text order is time order)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


PEER_REQUEST_DOMAIN = b"gsomia/peer-request/v2\x00"
MAX_CLOCK_SKEW = timedelta(minutes=5)
MAX_BACKOFF_SECONDS = 60.0
MAX_TARGET = 2048
DIGEST_LEN = 32  # SHA-256
#: The one fault-injection point (tests only): ``GSOMIA_FAULT=after-receipt-commit`` ends the
#: process, as SIGKILL would, right after a receipt's transaction commits.
FAULT_ENV = "GSOMIA_FAULT"


def request_message(  # noqa: PLR0917 - the fields of one signed message, in order
    sender: str,
    recipient: str,
    key_id: str,
    timestamp: str,
    method: str,
    target: str,
    digest: bytes,
) -> bytes:
    """What a peer request's signature covers (v2): who to whom, when, the HTTP method and
    target (path and query), and the SHA-256 digest of the body — a body signed for one route
    does not authenticate on another."""
    if not method.isascii() or not method.isalpha() or not method.isupper():
        raise BadInput(f"peer request: {method[:20]!r} is not an HTTP method")
    if (
        not target.startswith("/")
        or len(target) > MAX_TARGET
        or not target.isascii()
        or not target.isprintable()
        or " " in target
    ):
        raise BadInput("peer request: the target must be a path (and query) in printable ASCII")
    if len(digest) != DIGEST_LEN:
        raise BadInput("peer request: the content digest is not a SHA-256 digest")
    return (
        PEER_REQUEST_DOMAIN
        + f"{sender}\n{recipient}\n{key_id}\n{timestamp}\n{method}\n{target}\n".encode()
        + digest
    )


def sign_request(
    node: Node, recipient: str, body: bytes, now: datetime, *, method: str, target: str
) -> dict[str, str]:
    """Headers that authenticate a request from this node to ``recipient``; ``now`` is wall
    time (a node replaying history runs a simulated clock for its decisions).

    The body's digest travels in ``X-Gsomia-Content-Digest``, so a receiver verifies the
    signature from the headers alone, before it reads a byte of the body, and then checks the
    body against the digest. Ed25519 authenticates the transport; what must stay provable
    (items, releases, consents, notices) carries its own composite signature and is verified on
    its own."""
    generation = node.keyring.current
    timestamp = format_instant(now)
    digest = hashlib.sha256(body).digest()
    message = request_message(
        node.party, recipient, generation.key_id, timestamp, method, target, digest
    )
    signature = primitives.ed25519_sign(generation.ed25519_seed, message)
    return {
        "X-Gsomia-Party": node.party,
        "X-Gsomia-Key": generation.key_id,
        "X-Gsomia-Timestamp": timestamp,
        "X-Gsomia-Content-Digest": base64.b64encode(digest).decode(),
        "X-Gsomia-Signature": base64.b64encode(signature).decode(),
    }


@dataclass(frozen=True, slots=True)
class SignedHead:
    """A peer request whose headers verified: who sent it, and the digest its body must have."""

    sender: str
    digest: bytes


def verify_request_head(
    node: Node, headers: Mapping[str, str], now: datetime, *, method: str, target: str
) -> SignedHead:
    """Verify a peer request's signature from its headers alone (``headers`` with lower-case
    names): present and well formed, from a trusted key of a peer, within the window of wall
    time ``now``, over this method, target and content digest. VerificationFailed otherwise."""
    try:
        sender = headers["x-gsomia-party"]
        key_id = headers["x-gsomia-key"][:100]
        timestamp = headers["x-gsomia-timestamp"]
        digest = base64.b64decode(headers["x-gsomia-content-digest"], validate=True)
        raw_sig = base64.b64decode(headers["x-gsomia-signature"], validate=True)
    except (KeyError, binascii.Error, ValueError):
        raise VerificationFailed("peer request: missing or malformed signature headers") from None
    if len(raw_sig) != primitives.ED25519_SIG_LEN:
        raise VerificationFailed("peer request: missing or malformed signature headers")
    if sender == node.party or sender not in node.scenario.policies:
        raise VerificationFailed(f"peer request: {sender[:20]!r} is not a peer of {node.party}")
    try:
        sent = parse_instant(timestamp[:64], "X-Gsomia-Timestamp")
        message = request_message(sender, node.party, key_id, timestamp, method, target, digest)
    except BadInput as exc:
        raise VerificationFailed(f"peer request: {exc}") from None
    if abs(now - sent) > MAX_CLOCK_SKEW:
        raise VerificationFailed("peer request: timestamp outside the accepted window (replay?)")
    keys = node.keyring.signing_key(sender, key_id)
    primitives.ed25519_verify(keys.ed25519, raw_sig, message)
    return SignedHead(sender, digest)


def verify_request(
    node: Node,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
    *,
    method: str,
    target: str,
) -> str:
    """The sending party, if the request (its method, target and body) is signed by a trusted
    key of it within the accepted window of wall time; else VerificationFailed."""
    return verify_body(verify_request_head(node, headers, now, method=method, target=target), body)


def verify_body(head: SignedHead, body: bytes) -> str:
    """The sender of a request whose head verified, if ``body`` is what it signed."""
    if not hmac.compare_digest(hashlib.sha256(body).digest(), head.digest):
        raise VerificationFailed("peer request: the body does not match its signed digest")
    return head.sender


def fault_point(name: str) -> None:
    """End the process at once (no cleanup, like SIGKILL) if ``GSOMIA_FAULT`` names this point.
    Read when reached, never at import; unset in every real deployment."""
    if os.environ.get(FAULT_ENV) == name:
        audit.AUDIT.critical("fault injected at %s: the process ends now", name)
        os._exit(137)


# ------------------------------------------------------------------ sending
@dataclass(frozen=True, slots=True)
class Outgoing:
    row: OutboxRow
    item: bytes


def due(node: Node, wall_now: float, limit: int = 100) -> list[OutboxRow]:
    """Pending releases whose next attempt is due at ``wall_now`` (wall epoch seconds)."""
    with node.store.reading() as r:
        return r.due(wall_now, limit)


def due_for(node: Node, recipients: Sequence[str], limit: int = 100) -> list[OutboxRow]:
    """The oldest pending releases to each of ``recipients`` (peers not backing off)."""
    with node.store.reading() as r:
        return [row for recipient in recipients for row in r.due_for(recipient, limit)]


def recheck(node: Node, rows: list[OutboxRow], now: datetime) -> list[Outgoing]:
    """Decide again at send time; refuse (and log) what is no longer allowed."""
    ready: list[Outgoing] = []
    refused: list[tuple[OutboxRow, Any]] = []
    with node.store.reading() as r:
        found = {row.id: r.item(row.item_id) for row in rows}
    labels: dict[str, tuple[Label, tuple[Consent, ...]]] = {}  # one reading per item per round
    for row in rows:
        stored = found[row.id]
        if stored is None:
            refused.append((row, None))
            continue
        try:
            if row.item_id not in labels:
                labels[row.item_id] = _release_grounds(node, stored[1])
        except GsomiaError as exc:  # a stored item that no longer reads is never sent
            audit.refused("send", str(exc), party=node.party, item=row.item_id, outbox=row.id)
            refused.append((row, None))
            continue
        label, all_consents = labels[row.item_id]
        consents = tuple(c for c in all_consents if c.recipient == row.recipient)
        decision = decide(
            node.scenario,
            label,
            holder=node.party,
            recipient=row.recipient,
            at=now,
            consents=consents,
        )
        if decision.allowed:
            ready.append(Outgoing(row, stored[1]))
        else:
            refused.append((row, decision))
    if refused:
        with node.store.writing() as w:
            entries = []
            for row, decision in refused:
                w.outbox_done(row.id, "refused", "no longer allowed at send time")
                if decision is not None:
                    entries.append(node.decision_entry(decision, now))
            if entries:
                node.log.append_in(w.log, entries)
    return ready


def _release_grounds(node: Node, raw: bytes) -> tuple[Label, tuple[Consent, ...]]:
    """The label (with its current classification) and the embedded consents of a stored item.

    An item this node sealed and that carries no records yet (no release, no notice) is read
    from its core: it was produced here, and the receiver verifies it in full anyway. Any other
    item is verified in full first.
    """
    item = Item.decode(raw)
    if not item.records:
        sealed = SealedLabel.decode(Core.decode(item.core, "sealed item core").label, "label")
        if sealed.originator == node.party:
            return sealed.domain(sealed.classification), ()
    verified = node.verifier.verify(raw)
    consents = tuple(
        rel.consent.to_domain() for rel in verified.releases if rel.consent is not None
    )
    return verified.domain_label(verified.classification), consents


def mark_sent(node: Node, sent: list[Outgoing], now: datetime) -> None:
    with node.store.writing() as w:
        entries = []
        for out in sent:
            w.outbox_done(out.row.id, "sent")
            entries.append(
                node.entry(
                    "release.sent",
                    now,
                    {
                        "item": out.row.item_id,
                        "recipient": out.row.recipient,
                        "digest": Item.decode(out.item).digest().hex(),
                    },
                )
            )
        node.log.append_in(w.log, entries)


def mark_failed(
    node: Node, failed: list[Outgoing], error: str, wall_now: float, *, not_before: float = 0.0
) -> None:
    """Record a failed push and when to try again: ``wall_now`` is wall-clock epoch seconds,
    never the scenario clock (under the demo's 500,000x clock a second of back-off would be six
    days) and never monotonic time (it restarts at boot; a stored instant must outlive it).
    ``not_before`` is the delay the peer asked for (its ``Retry-After``), if longer."""
    with node.store.writing() as w:
        for out in failed:
            backoff = min(MAX_BACKOFF_SECONDS, 0.05 * (2 ** min(out.row.attempts, 12)))
            delay = max(backoff, not_before)
            w.outbox_retry(out.row.id, wall_now + delay, error[:500])


def push_body(items: list[bytes]) -> bytes:
    return orjson.dumps({"items": [base64.b64encode(i).decode() for i in items]})


# ------------------------------------------------------------------ receiving
@dataclass(frozen=True, slots=True)
class Received:
    item: str
    result: str  # "stored" | "duplicate" | "refused: destroyed here"

    def to_json(self) -> dict[str, str]:
        return {"item": self.item, "result": self.result}


def parse_push(body: bytes) -> list[bytes]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadInput(f"peer push: malformed JSON ({exc.msg})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list) or not doc["items"]:
        raise BadInput('peer push: expected {"items": [base64 sealed item, ...]}')
    try:
        return [base64.b64decode(i, validate=True) for i in doc["items"]]
    except (binascii.Error, TypeError, ValueError):
        raise BadInput("peer push: an item is not base64") from None


@dataclass(frozen=True, slots=True)
class _Incoming:
    """A pushed item, verified and judged, with what its receipt obliges this node to do."""

    raw: bytes
    verified: VerifiedItem
    stix: Any
    marking: dict[str, Any]
    standing: bool  # released to this node on standing consent (DOMAIN.md §7.1)


@dataclass(frozen=True, slots=True)
class _Relay:
    """A hub's relay on standing consent, decided and signed before the receipt's transaction:
    the item with the release records appended, and the decisions to log and queue."""

    item: bytes
    decisions: tuple[Decision, ...]


def receive(node: Node, sender: str, items: list[bytes], now: datetime) -> list[Received]:
    """Verify and judge every item completely, then store them all in one transaction (or none).

    Whatever a receipt obliges this node to do next (a hub's relays on standing consent) is
    decided and signed first and queued in the same transaction as the receipt: a crash after
    the commit loses nothing (the pusher sends the queued relays after a restart), a crash
    before it stores nothing (the sender's retry is a first delivery, not a duplicate).
    """
    prepared = [_prepare(node, sender, n, raw, now) for n, raw in enumerate(items)]
    with node.store.reading() as r:
        fresh = [p for p in prepared if r.item(p.verified.label.id) is None]
    relays = {p.verified.label.id: _standing_relays(node, p.raw, p.verified, now) for p in fresh}
    results: list[Received] = []
    with node.store.writing() as w:
        entries = []
        for incoming in prepared:
            label = incoming.verified.label
            if w.has_item(label.id):
                results.append(Received(label.id, "duplicate"))
                continue
            if w.destroyed(label.id) is not None:  # DOMAIN.md §7.5: never held again
                receipts.refuse(node, sender, "release", f"{label.id[:120]}: destroyed here")
                results.append(Received(label.id, "refused: destroyed here"))
                continue
            relay = relays.get(label.id) or _standing_relays(
                node, incoming.raw, incoming.verified, now
            )
            entries.extend(_store(node, w, sender, incoming, sealed=relay.item, now=now))
            for decision in relay.decisions:
                w.queue(label.id, decision.recipient, format_instant(now))
                entries.append(node.decision_entry(decision, now))
            results.append(Received(label.id, "stored"))
        if entries:
            node.log.append_in(w.log, entries)
    fault_point("after-receipt-commit")
    return results


def _prepare(node: Node, sender: str, n: int, raw: bytes, now: datetime) -> _Incoming:
    """Verify item ``n`` in full and judge its release to this node at this node's instant."""
    try:
        verified = node.verifier.verify(raw)
    except GsomiaError as exc:
        raise VerificationFailed(f"item {n}: {exc}") from None
    label = verified.label
    grant = next((g for g in verified.grants if g.party == node.party), None)
    release = next((r for r in verified.releases if r.recipient == node.party), None)
    consents: tuple[Consent, ...] = ()
    if grant is not None:
        releaser, marking, at = label.originator, grant.marking, grant.at
    elif release is not None:
        releaser, marking, at = release.holder, release.marking, release.at
        if release.consent is not None:
            consents = (release.consent.to_domain(),)
    else:
        raise VerificationFailed(f"item {n}: released to {node.party} by no one")
    if releaser != sender:
        raise VerificationFailed(f"item {n}: released by {releaser}, but pushed by {sender}")
    _judge_release(
        node,
        sender,
        f"item {n}",
        verified=verified,
        releaser=releaser,
        at=at,
        consents=consents,
        now=now,
    )
    content = node.opener.open_verified(verified)
    try:
        stix = validate_object(orjson.loads(content), f"item {n} content")
    except (orjson.JSONDecodeError, BadInput) as exc:
        raise VerificationFailed(f"item {n}: sealed content is not a STIX object ({exc})") from None
    if f"{stix.id}/{stix.version}" != label.id:
        raise VerificationFailed(f"item {n}: content {stix.id} does not match the label {label.id}")
    standing = grant is None and release is not None and release.standing_consent is not None
    return _Incoming(raw, verified, stix, marking, standing)


def _judge_release(
    node: Node,
    sender: str,
    what: str,
    *,
    verified: VerifiedItem,
    releaser: str,
    at: datetime,
    consents: tuple[Consent, ...],
    now: datetime,
) -> None:
    """The receiver's own judgement of a release's instant (see ``gsomia.node.receipts``): not
    dated ahead of this node's now, and allowed again at this node's now, with its consent."""
    receipts.require_not_future(node, sender, at, now, f"{what}: the release")
    decision = decide(
        node.scenario,
        verified.domain_label(verified.classification),
        holder=releaser,
        recipient=node.party,
        at=now,
        consents=consents,
    )
    if not decision.allowed:
        reason = (
            f"{what}: the release of {verified.label.id} to {node.party}, dated "
            f"{format_instant(at)}, is not allowed at this node's now ({format_instant(now)}): "
            + "; ".join(decision.reasons)
        )
        receipts.refuse(node, sender, "release", reason)
        raise Denied(reason[:2000])


def _store(
    node: Node,
    w: NodeWriter,
    sender: str,
    incoming: _Incoming,
    *,
    sealed: bytes,
    now: datetime,
) -> list[bytes]:
    """Store a received item (``sealed``: as received, or with this node's relays appended) and
    its STIX object with the originator's label and this node's equivalent marking."""
    verified, stix, marking = incoming.verified, incoming.stix, incoming.marking
    label = verified.label
    cid = node.collection_id(label.originator, w)
    level = node.scenario.policy(node.party).level(str(marking["level"]))
    mine = Marking(
        node.party, level.id, level.native, Equivalence(marking["equivalence"]), label.originator
    )
    text = LabelText.of(label, verified.classification)
    refs = node.own_markings(w, cid, text, mine, format_timestamp(label.created), now)
    body = dict(stix.body)
    body["object_marking_refs"] = list(refs)
    added = node.next_date_added(w, now)
    w.add_object(
        NewObject(
            cid,
            stix.id,
            stix.type,
            stix.version,
            label.id,
            level.equivalence.value,
            label.topics,
            orjson.dumps(body),
            purposes=provided_for(label.purposes, standing=incoming.standing),
        ),
        added,
    )
    w.add_item(label.id, stix.id, label.originator, sealed, sender, added)
    derived.index(w, label.id, label.originator, label.derived_from)
    if label.retain_until is not None:  # DOMAIN.md §7.5: the retention sweep destroys it then
        w.set_retention(label.id, retention_instant(label.retain_until))
    return [
        node.entry(
            "release.received",
            now,
            {"item": label.id, "sender": sender, "digest": verified.digest.hex()},
        )
    ]


def _standing_relays(node: Node, raw: bytes, verified: VerifiedItem, now: datetime) -> _Relay:
    """What this node, as the hub, passes on of a received item under standing consent.

    Under the 2023 missile-warning link the parties consent in advance to the hub passing
    warning data on; for every other party the item is releasable to, if the engine allows the
    release now on that standing consent, the release record is appended (signed here, before
    the receipt's transaction) and the release is queued with the receipt.
    """
    label = verified.domain_label(verified.classification)
    holders = set(verified.holders())
    peers = {p.party for p in node.config.peers}
    decisions: list[Decision] = []
    for recipient in sorted(set(label.releasable_to) - holders - {node.party}):
        standing = node.scenario.standing_consent(
            label.topics, among=(label.originator, node.party, recipient), at=now
        )
        if standing is None or recipient not in peers:
            continue
        try:
            released = release_item(node.keyring, node.scenario, raw, recipient=recipient, at=now)
        except Denied as exc:
            audit.refused(
                "standing relay",
                str(exc),
                party=node.party,
                level=logging.INFO,
                item=label.id,
                recipient=recipient,
            )
            continue
        raw = released.item  # the next relay appends to this one
        decisions.append(released.decision)
    return _Relay(raw, tuple(decisions))
