"""Federation: releases leave through the outbox and arrive through verification.

Sending. Every release is queued in the outbox in the same transaction as the item and its
decision. Before a queued release is pushed, the decision is taken again at that instant: a
release queued before an agreement ended is not sent after it, and the refusal is logged.
Receiving. A peer's request is signed with the peer's key; each item is verified in full
(originator's signature, every grant and release re-decided with the engine at its own instant,
embedded consents) before anything is stored, and storing is idempotent: a repeated delivery is
a no-op.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from gsomia import primitives
from gsomia.domain.consents import Consent
from gsomia.domain.instants import format_instant, parse_instant
from gsomia.domain.labels import Label
from gsomia.domain.parties import Equivalence
from gsomia.domain.release import decide
from gsomia.errors import BadInput, Denied, GsomiaError, VerificationFailed
from gsomia.node.service import Node, audit, collection_id
from gsomia.node.stix import equivalent_marking, format_timestamp, label_marking, validate_object
from gsomia.seal.envelope import VerifiedItem
from gsomia.seal.item import Core, Item, SealedLabel
from gsomia.seal.service import release_item
from gsomia.store.sqlite_node import NewObject, OutboxRow

PEER_REQUEST_DOMAIN = b"gsomia/peer-request/v1\x00"
MAX_CLOCK_SKEW = timedelta(minutes=5)
MAX_BACKOFF_SECONDS = 60.0


def request_message(sender: str, recipient: str, key_id: str, timestamp: str, body: bytes) -> bytes:
    return (
        PEER_REQUEST_DOMAIN
        + f"{sender}\n{recipient}\n{key_id}\n{timestamp}\n".encode()
        + hashlib.sha256(body).digest()
    )


def sign_request(node: Node, recipient: str, body: bytes, now: datetime) -> dict[str, str]:
    """Headers that authenticate a request from this node to ``recipient``; ``now`` is wall
    time (a node replaying history runs a simulated clock for its decisions).

    Ed25519 authenticates the transport; what must stay provable (items, releases, consents,
    notices) carries its own composite signature and is verified on its own."""
    generation = node.keyring.current
    timestamp = format_instant(now)
    message = request_message(node.party, recipient, generation.key_id, timestamp, body)
    signature = primitives.ed25519_sign(generation.ed25519_seed, message)
    return {
        "X-Gsomia-Party": node.party,
        "X-Gsomia-Key": generation.key_id,
        "X-Gsomia-Timestamp": timestamp,
        "X-Gsomia-Signature": base64.b64encode(signature).decode(),
    }


def verify_request(node: Node, headers: dict[str, str], body: bytes, now: datetime) -> str:
    """The sending party, if the request is signed by a trusted key of it; else raise."""
    try:
        sender = headers["x-gsomia-party"]
        key_id = headers["x-gsomia-key"]
        timestamp = headers["x-gsomia-timestamp"]
        raw_sig = base64.b64decode(headers["x-gsomia-signature"], validate=True)
    except (KeyError, binascii.Error):
        raise VerificationFailed("peer request: missing or malformed signature headers") from None
    if sender == node.party or sender not in node.scenario.policies:
        raise VerificationFailed(f"peer request: {sender!r} is not a peer of {node.party}")
    try:
        sent = parse_instant(timestamp, "X-Gsomia-Timestamp")
    except BadInput as exc:
        raise VerificationFailed(f"peer request: {exc}") from None
    if abs(now - sent) > MAX_CLOCK_SKEW:
        raise VerificationFailed("peer request: timestamp outside the accepted window (replay?)")
    keys = node.keyring.signing_key(sender, key_id)
    message = request_message(sender, node.party, key_id, timestamp, body)
    primitives.ed25519_verify(keys.ed25519, raw_sig, message)
    return sender


# ------------------------------------------------------------------ sending
@dataclass(frozen=True, slots=True)
class Outgoing:
    row: OutboxRow
    item: bytes


def due(node: Node, now_mono: float, limit: int = 100) -> list[OutboxRow]:
    with node.store.reading() as r:
        return r.due(now_mono, limit)


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
            audit.warning("outbox %s: %s no longer verifies: %s", row.id, row.item_id, exc)
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
            label = Label(
                sealed.id,
                sealed.originator,
                sealed.classification,
                sealed.releasable_to,
                sealed.topics,
            )
            return label, ()
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


def mark_failed(node: Node, failed: list[Outgoing], error: str, now_mono: float) -> None:
    with node.store.writing() as w:
        for out in failed:
            delay = min(MAX_BACKOFF_SECONDS, 0.05 * (2 ** min(out.row.attempts, 12)))
            w.outbox_retry(out.row.id, now_mono + delay, error[:500])


def push_body(items: list[bytes]) -> bytes:
    return orjson.dumps({"items": [base64.b64encode(i).decode() for i in items]})


# ------------------------------------------------------------------ receiving
@dataclass(frozen=True, slots=True)
class Received:
    item: str
    result: str  # "stored" | "duplicate"

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


def receive(node: Node, sender: str, items: list[bytes], now: datetime) -> list[Received]:
    """Verify every item completely, then store them all in one transaction (or none)."""
    verifier = node.verifier
    opener = node.opener
    prepared = []
    for n, raw in enumerate(items):
        try:
            verified = verifier.verify(raw)
        except GsomiaError as exc:
            raise VerificationFailed(f"item {n}: {exc}") from None
        label = verified.label
        grant = next((g for g in verified.grants if g.party == node.party), None)
        release = next((r for r in verified.releases if r.recipient == node.party), None)
        if grant is not None:
            releaser, marking = label.originator, grant.marking
        elif release is not None:
            releaser, marking = release.holder, release.marking
        else:
            raise VerificationFailed(f"item {n}: released to {node.party} by no one")
        if releaser != sender:
            raise VerificationFailed(f"item {n}: released by {releaser}, but pushed by {sender}")
        content = opener.open_verified(verified)
        try:
            stix = validate_object(orjson.loads(content), f"item {n} content")
        except (orjson.JSONDecodeError, BadInput) as exc:
            raise VerificationFailed(
                f"item {n}: sealed content is not a STIX object ({exc})"
            ) from None
        if f"{stix.id}/{stix.version}" != label.id:
            raise VerificationFailed(
                f"item {n}: content {stix.id} does not match the label {label.id}"
            )
        prepared.append((raw, verified, stix, marking))
    results: list[Received] = []
    with node.store.writing() as w:
        entries = []
        for raw, verified, stix, marking in prepared:
            label = verified.label
            if w.has_item(label.id):
                results.append(Received(label.id, "duplicate"))
                continue
            cid = collection_id(node.party, label.originator)
            created = format_timestamp(label.created)
            original = label_marking(
                policy=label.policy,
                originator=label.originator,
                classification=verified.classification,
                releasable_to=label.releasable_to,
                topics=label.topics,
                created=created,
            )
            policy = node.scenario.policy(node.party)
            level = policy.level(str(marking["level"]))
            from gsomia.domain.parties import Marking  # noqa: PLC0415

            mine = Marking(
                node.party,
                level.id,
                level.native,
                Equivalence(marking["equivalence"]),
                label.originator,
            )
            equivalent = equivalent_marking(original["id"], mine, created)
            node.store_markings(w, cid, (original, equivalent), now)
            body = dict(stix.body)
            body["object_marking_refs"] = [original["id"], equivalent["id"]]
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
                ),
                added,
            )
            w.add_item(label.id, stix.id, label.originator, raw, sender, added)
            entries.append(
                node.entry(
                    "release.received",
                    now,
                    {
                        "item": label.id,
                        "sender": sender,
                        "digest": verified.digest.hex(),
                    },
                )
            )
            results.append(Received(label.id, "stored"))
        if entries:
            node.log.append_in(w.log, entries)
    stored = {r.item for r in results if r.result == "stored"}
    relay_standing(node, [(raw, v) for raw, v, _, _ in prepared if v.label.id in stored], now)
    return results


def relay_standing(node: Node, received: list[tuple[bytes, VerifiedItem]], now: datetime) -> None:
    """Pass on, as the hub, what an arrangement in force gives standing consent for.

    Under the 2023 missile-warning link the parties consent in advance to the hub passing
    warning data on; for every other party the item is releasable to, if the engine allows the
    release now on that standing consent, the release record is appended and queued.
    """
    for first, verified in received:
        raw = first
        label = verified.domain_label(verified.classification)
        holders = set(verified.holders())
        for recipient in sorted(set(label.releasable_to) - holders - {node.party}):
            standing = node.scenario.standing_consent(
                label.topics, among=(label.originator, node.party, recipient), at=now
            )
            if standing is None or recipient not in {p.party for p in node.config.peers}:
                continue
            try:
                released = release_item(
                    node.keyring, node.scenario, raw, recipient=recipient, at=now
                )
            except Denied as exc:
                audit.info("standing relay of %s to %s refused: %s", label.id, recipient, exc)
                continue
            raw = released.item  # the next relay appends to this one
            with node.store.writing() as w:
                w.replace_item(label.id, raw)
                w.queue(label.id, recipient, format_instant(now))
                node.log.append_in(w.log, [node.decision_entry(released.decision, now)])
