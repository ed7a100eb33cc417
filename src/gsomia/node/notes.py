"""Diplomatic notes between the parties' nodes (DOMAIN.md §4): the agreements live.

An authority of this node's party gives a note (``give``): a notice of termination of an
agreement, its suspension or its withdrawal, at an instant. The act is judged against the
agreement as this node holds it (the scenario's events plus the notes stored, read in the
writing transaction), signed with the party's composite key, and in one transaction stored,
logged (``agreement.event``, direction ``given``) and queued to every other party to the
agreement that is a configured peer. At each recipient (``receive``) the note is verified (its
signature, its sender a party and the note's own party, its instant within the skew of the
receiver's clock, the act valid at that point of the agreement's life as the receiver holds it),
then stored, logged (``received``) and answered with a signed receipt that travels back
(``receive_receipt``: stored on the note, logged as ``receipt``). A refused note stores nothing.
Each end records the other's state digest of the agreement that the note or receipt carries
(``gsomia.node.agreementstate``): a party that computes another state disputes the agreement,
and nothing is released under it until the two agree again.

The node enforces its effective scenario (``scenarios``): the loaded scenario with the notes
held among its agreements' events, from each note's instant on, and the disputes marked.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import orjson

from gsomia.domain.access import Role
from gsomia.domain.agreements import Agreement, EventKind, State
from gsomia.domain.instants import format_instant, parse_instant
from gsomia.domain.notes import (
    ACT_WORDS,
    NoteAct,
    check_act,
    check_text,
    effective,
    state_digest,
    with_notes,
)
from gsomia.domain.scenario import Scenario
from gsomia.errors import (
    BadInput,
    Conflict,
    Denied,
    GsomiaError,
    NotFound,
    StoreFailure,
    VerificationFailed,
)
from gsomia.node import agreementstate, audit, messages, receipts
from gsomia.node.config import User
from gsomia.node.messages import NOTE_PATH, NOTES, RECEIPT_PATH
from gsomia.node.results import (
    Consequence,
    Delivery,
    HeldNote,
    HeldReceipt,
    NoteReceipt,
    ReceiptAck,
)
from gsomia.node.service import Node
from gsomia.seal.notes import (
    NoteView,
    note_digest,
    open_note,
    open_receipt,
    sign_note,
    sign_receipt,
)
from gsomia.store.ports import DocumentRow, NodeWriter

__all__ = [
    "NOTES",
    "NOTE_PATH",
    "PEER_STATES",
    "RECEIPT_PATH",
    "consequence",
    "give",
    "held",
    "receive",
    "receive_receipt",
    "redeliver_lost",
    "refresh",
    "scenarios",
]

log = logging.getLogger("gsomia.node")

#: The kind of stored document a peer's state digest of an agreement is (``agreementstate``).
PEER_STATES = "agreement.peer-state"
FILED = "agreement:"  # a note is filed under "agreement:<id>"
MAX_TOKEN_B64 = 64 * 1024  # a signed note or receipt is at most 32 KiB
RECENT = timedelta(days=30)  # the window of releases a consequence counts
#: How far before its node's now a note may be dated on a real-time clock: the time a request
#: takes to reach the node, never a back-dating that would let an act meet a deadline already
#: passed or revive an agreement already ended.
BACKDATE = timedelta(seconds=5)
MAX_SAID = 3  # notes awaiting their receipts named in one dispute sentence
LOG_SCAN = 100_000  # log entries a consequence reads back, at most


# ------------------------------------------------------------------ the effective scenario
def _stored_note(doc: DocumentRow) -> HeldNote:
    return HeldNote.from_json(doc.body, f"note {doc.key[:80]}")


def _act(note: HeldNote) -> NoteAct:
    where = f"note {note.id[:80]}"
    try:
        kind = EventKind(note.event)
        at = parse_instant(note.at, f"{where}.at")
    except (ValueError, BadInput) as exc:
        raise StoreFailure(f"{where}: {exc}") from None
    return NoteAct(note.id, note.agreement, kind, note.party, at, note.text)


def scenarios(node: Node) -> tuple[Scenario, Scenario]:
    """The node's (effective, agreed) scenarios from its store, in one read: the loaded scenario
    with every note held, and — for the effective one — each agreement a peer party is known to
    see otherwise marked disputed."""
    with node.store.reading() as r:
        docs = r.documents(NOTES)
        peer_states = r.documents(PEER_STATES)
    held_notes = [_stored_note(d) for d in docs]
    acts = sorted((_act(n) for n in held_notes), key=lambda a: (a.at, a.id))
    # notes sent whose receipt has not come: the peer does not hold them (yet), so the two
    # compute two states of the agreement — a dispute, said once (not again from its digest)
    pending: dict[str, list[str]] = {}
    unacknowledged: dict[str, list[str]] = {}
    for note, act in ((n, _act(n)) for n in held_notes):
        if note.direction != "sent":
            continue
        for peer, delivery in sorted((note.delivery or {}).items()):
            if peer in (note.receipts or {}):
                continue
            pending.setdefault(peer, []).append(note.id)
            unacknowledged.setdefault(note.agreement, []).append(
                _unacknowledged(act, peer, delivery)
            )
    agreed = effective(node.base_scenario, acts)
    disputes = agreementstate.disputes(agreed, node.party, peer_states, acts, pending=pending)
    for agreement_id, sentences in unacknowledged.items():
        said = [disputes[agreement_id]] if agreement_id in disputes else []
        more = len(sentences) - MAX_SAID
        tail = [f"and {more} more notes await their receipts"] if more > 0 else []
        disputes[agreement_id] = "; ".join([*said, *sentences[:MAX_SAID], *tail])
    return effective(node.base_scenario, acts, disputes), agreed


def _unacknowledged(act: NoteAct, peer: str, delivery: Delivery) -> str:
    """Why a note sent to ``peer`` without its receipt yet disputes the agreement."""
    if delivery.state == "rejected":
        why = f"refused it ({(delivery.detail or '')[:200]})"
    elif delivery.state == "delivered":
        why = "has it, but its receipt has not come back yet"
    else:
        why = "has not received it yet (it waits in the outbox)"
    return (
        f"{peer} does not hold {act.words()} (note {act.id}) as far as this node knows: {peer} "
        f"{why}; no release under the agreement until its signed receipt comes"
    )


def refresh(node: Node) -> None:
    """Recompute ``node``'s effective scenario from its store (notes and peers' states) after
    a commit: what was committed stands whatever happens here, so a read that fails is logged
    and left to the node's refresher (which fails closed if reads keep failing), never raised
    to the caller as if the commit had not happened."""
    try:
        node.refresh_agreements()
    except Exception as exc:  # noqa: BLE001 - committed already; the refresher takes over
        log.warning("%s: agreements not refreshed after a note: %s", node.party, type(exc).__name__)


def _held_agreement(node: Node, w: NodeWriter, agreement_id: str) -> Agreement:
    """The agreement as this node holds it in ``w``'s transaction: the loaded scenario's
    events and the notes stored (another process of this node may have stored one)."""
    base = node.base_scenario.agreement(agreement_id)
    acts = [_act(_stored_note(d)) for d in w.documents(NOTES, FILED + agreement_id)]
    return with_notes(base, acts)


def _entry(node: Node, now: datetime, note: HeldNote, direction: str, **over: str) -> bytes:
    fields = {
        "agreement": note.agreement,
        "event": note.event,
        "id": note.id,
        "by": note.party,
        "act_at": note.at,
        "digest": note.digest,
        "direction": direction,
    }
    if note.text.strip() and direction != "receipt":
        fields["note"] = note.text
    return node.entry("agreement.event", now, {**fields, **over})


def _check_instant(node: Node, at: datetime, now: datetime, what: str) -> str | None:
    """Why ``at`` is not within the skew of ``now`` (None if it is)."""
    margin = receipts.skew(node)
    if abs(at - now) <= margin:
        return None
    return (
        f"{what} is dated {format_instant(at)}, not within the accepted skew of this node's "
        f"now ({format_instant(now)})"
    )


# ------------------------------------------------------------------ at the note's party
def give(  # noqa: PLR0917 - the parts of one act, as the API and CLI pass them
    node: Node,
    user: User,
    agreement_id: str,
    kind: EventKind,
    text: str = "",
    at: datetime | None = None,
) -> HeldNote:
    """``user`` (an authority of this node's party) gives a note: judged, signed, stored,
    logged and queued to the agreement's other parties in one transaction."""
    action = f"give a {kind.value} note on {agreement_id[:120]}"
    if user.role is not Role.AUTHORITY:
        reason = f"user {user.name} is not an authority of {node.party}"
        audit.refused(action, reason, user=user.name, party=node.party)
        raise Denied(f"{action}: {reason}")
    text = check_text(text, "text")
    now = node.clock.now()
    when = now if at is None else at
    if when.tzinfo is None:
        raise BadInput("at: an instant needs its UTC offset")
    late = _check_instant(node, when, now, "the note")
    if late is not None:
        raise BadInput(f"at: {late}")
    # a node on a simulated clock (the demo) cannot hold its replay to the pace of its clock:
    # there an act may be dated within the skew before its now, as a receiver admits
    if node.clock.rate == 1 and when < now - BACKDATE:
        raise BadInput(
            f"at: a note takes effect when it is given, not before: {format_instant(when)} is "
            f"before this node's now ({format_instant(now)})"
        )
    node.base_scenario.agreement(agreement_id)  # BadInput naming the known ones
    act = NoteAct(messages.new_id(), agreement_id, kind, node.party, when, text)
    peers = {p.party for p in node.config.peers}
    with node.store.writing() as w:
        agreement = _held_agreement(node, w, agreement_id)
        try:
            check_act(agreement, kind, node.party, when)
        except (Denied, Conflict) as exc:
            audit.refused(action, str(exc), user=user.name, party=node.party)
            raise
        state = state_digest(with_notes(agreement, [act]))
        token = sign_note(node.keyring, act, state)
        others = sorted(p for p in agreement.parties if p != node.party)
        unreachable = [p for p in others if p not in peers]
        if unreachable:
            reason = (
                f"{', '.join(unreachable)}, a party to {agreement_id}, is not a peer of this "
                "node: the note could not reach it"
            )
            audit.refused(action, reason, user=user.name, party=node.party)
            raise Conflict(f"{action}: {reason}")
        recipients = others
        queued = Delivery.queued(format_instant(now))
        note = HeldNote(
            id=act.id,
            agreement=agreement_id,
            event=kind.value,
            party=node.party,
            at=format_instant(when),
            text=text,
            direction="sent",
            digest=note_digest(token).hex(),
            state=state.hex(),
            given_by=user.name,
            receipts={},
            delivery=dict.fromkeys(recipients, queued),
        )
        w.put_document(NOTES, act.id, FILED + agreement_id, note.to_json(), token)
        logged = node.log.append_in(w.log, [_entry(node, now, note, "given")])
        # the size of this node's log once it holds the note: a checkpoint of this log older
        # than that cannot carry the state the note brings (``agreementstate``)
        body = {"note": base64.b64encode(token).decode(), "log_size": logged.stop}
        for party in recipients:
            messages.queue(w, recipient=party, path=NOTE_PATH, body=body, ref=(NOTES, act.id))
    audit.accepted(action, user=user.name, party=node.party, note=act.id, at=note.at)
    refresh(node)
    return note


def _token(raw: bytes, key: str, where: str) -> tuple[bytes, int]:
    """The signed note or receipt a peer message carries, and the size of the sender's log
    once it held it (0 when the message does not say)."""
    token, size, _ = _message(raw, key, where)
    return token, size


def _message(raw: bytes, key: str, where: str) -> tuple[bytes, int, bytes | None]:
    """``_token``, and the receipt a note delivered again carries (its recipient's own signed
    receipt of it: the proof that it accepted the note in its time), if any."""
    msg = messages.parse_message(raw, where)
    size = msg.get("log_size", 0)
    if type(size) is not int or not 0 <= size < 2**63:
        raise BadInput(f"{where}.log_size: expected a log size (an integer >= 0)")
    proof = _b64(msg, "receipt", where) if "receipt" in msg else None
    return _b64(msg, key, where), size, proof


def _b64(msg: dict[str, Any], key: str, where: str) -> bytes:
    try:
        return base64.b64decode(messages.text(msg, key, where, limit=MAX_TOKEN_B64), validate=True)
    except (binascii.Error, ValueError):
        raise BadInput(f"{where}.{key}: not base64") from None


def _refuse(node: Node, sender: str, what: str, exc: GsomiaError) -> None:
    receipts.refuse(node, sender, what, str(exc))


# ------------------------------------------------------------------ at a recipient
def receive(node: Node, sender: str, raw: bytes, now: datetime) -> NoteReceipt:
    """A note from ``sender``, its party: verified, judged, stored and logged, its signed
    receipt queued back, all in one transaction; a note held already answers ``duplicate``."""
    where = "note message"
    token, sender_size, proof = _message(raw, "note", where)
    view = open_note(node.verifier, token, sender=sender)
    act = view.act
    what = f"note {act.id}"
    with node.store.reading() as r:
        stored = r.document(NOTES, act.id)
    if stored is not None:
        return _duplicate(node, sender, stored, token, what)
    agreement_of = node.base_scenario.agreement(act.agreement)  # BadInput: unknown here
    if node.party not in agreement_of.parties:
        reason = f"{node.party} is not a party to {act.agreement}"
        receipts.refuse(node, sender, what, reason)
        raise Denied(f"{what}: {reason}")
    late = _check_instant(node, act.at, now, what)
    if late is not None and proof is not None:
        late = _acknowledged_before(node, view, proof, what)
    if late is not None:
        receipts.refuse(node, sender, what, late)
        raise Denied(late)
    with node.store.writing() as w:
        meanwhile = w.document(NOTES, act.id)
        if meanwhile is not None:  # another process of this node stored it meanwhile
            return _duplicate(node, sender, meanwhile, token, what)
        agreement = _held_agreement(node, w, act.agreement)
        try:
            check_act(agreement, act.kind, sender, act.at)
        except (Denied, Conflict) as exc:
            _refuse(node, sender, what, exc)
            raise
        state = state_digest(with_notes(agreement, [act]))
        receipt = sign_receipt(node.keyring, view, now, state)
        note = _received(view, now)
        w.put_document(NOTES, act.id, FILED + act.agreement, note.to_json(), token)
        logged = node.log.append_in(w.log, [_entry(node, now, note, "received")])
        if proof is None:  # a note delivered again says nothing of its party's state now
            agreementstate.record_peer_state(
                w, sender, act.agreement, view.state, sender_size, "note", node.wall.now()
            )
        messages.queue(
            w,
            recipient=sender,
            path=RECEIPT_PATH,
            body={"receipt": base64.b64encode(receipt).decode(), "log_size": logged.stop},
            ref=(NOTES, act.id),
        )
    audit.accepted("receive a note", party=node.party, sender=sender, note=act.id, at=note.at)
    refresh(node)
    return NoteReceipt(act.id, "stored", format_instant(now))


def _acknowledged_before(node: Node, view: NoteView, proof: bytes, what: str) -> str | None:
    """Why the receipt a note delivered again carries does not prove that this node accepted
    that very note in its time (None if it does): it must be this node's own signed receipt of
    the note (its id and digest), dated within the skew of the note's instant."""
    try:
        receipt = open_receipt(node.verifier, proof, sender=node.party)
    except (BadInput, VerificationFailed) as exc:
        return f"{what} is late, and the receipt it carries is not this node's: {exc}"
    if (
        receipt.note_id != view.act.id
        or receipt.note_digest != view.digest
        or receipt.sender != view.act.party
        or abs(receipt.received_at - view.act.at) > receipts.skew(node)
    ):
        return f"{what} is late, and the receipt it carries is not this node's receipt of it"
    return None


def _received(view: NoteView, now: datetime) -> HeldNote:
    act = view.act
    return HeldNote(
        id=act.id,
        agreement=act.agreement,
        event=act.kind.value,
        party=act.party,
        at=format_instant(act.at),
        text=act.text,
        direction="received",
        digest=view.digest.hex(),
        state=view.state.hex(),
        received_at=format_instant(now),
        receipts={},
        delivery={act.party: Delivery.queued(format_instant(now))},
    )


def _duplicate(
    node: Node, sender: str, stored: DocumentRow, token: bytes, what: str
) -> NoteReceipt:
    """A note whose id is held already: the same note (byte for byte, from its party) answers
    ``duplicate``; anything else under that id is a Conflict (audited), nothing stored."""
    note = _stored_note(stored)
    if stored.attachment != token or note.party != sender or note.direction != "received":
        reason = f"{what}: another note is held under this id"
        receipts.refuse(node, sender, what, reason)
        raise Conflict(reason)
    return NoteReceipt(note.id, "duplicate", note.received_at or note.at)


# ------------------------------------------------------------------ back at the note's party
def receive_receipt(node: Node, sender: str, raw: bytes, now: datetime) -> ReceiptAck:
    """``sender``'s signed receipt of a note this node sent it: stored on the note, logged,
    and ``sender``'s state digest of the agreement recorded, in one transaction."""
    where = "receipt message"
    token, sender_size = _token(raw, "receipt", where)
    view = open_receipt(node.verifier, token, sender=sender)
    what = f"receipt of note {view.note_id}"
    unknown = f"{what}: {node.party} sent no such note to {sender}"
    with node.store.writing() as w:
        stored = w.document(NOTES, view.note_id)
        note = None if stored is None else _stored_note(stored)
        if (
            note is None
            or note.direction != "sent"
            or sender not in (note.delivery or {})
            or view.sender != node.party
            or view.agreement != note.agreement
            or view.note_digest.hex() != note.digest
        ):
            receipts.refuse(node, sender, what, unknown)
            raise NotFound(unknown)
        held_receipt = (note.receipts or {}).get(sender)
        if held_receipt is not None:
            if held_receipt.receipt == base64.b64encode(token).decode():
                return ReceiptAck(note.id, "duplicate")
            # a note delivered again (``redeliver_lost``) is acknowledged again, later
            if view.received_at <= parse_instant(held_receipt.at, "receipt.at"):
                reason = f"{what}: {sender} sent another receipt of it already"
                receipts.refuse(node, sender, what, reason)
                raise Conflict(reason)
        given = parse_instant(note.at, "note.at")
        receipts.require_not_future(node, sender, view.received_at, now, what)
        if view.received_at < given - receipts.skew(node):
            reason = f"{what} is dated {format_instant(view.received_at)}, before the note"
            receipts.refuse(node, sender, what, reason)
            raise Denied(reason)
        received_at = format_instant(view.received_at)
        kept = HeldReceipt(received_at, view.state.hex(), base64.b64encode(token).decode())
        note = replace(note, receipts={**(note.receipts or {}), sender: kept})
        w.put_document(NOTES, note.id, FILED + note.agreement, note.to_json(), stored.attachment)  # type: ignore[union-attr]  # found above
        entry = _entry(node, now, note, "receipt", by=sender)
        node.log.append_in(w.log, [entry])
        agreementstate.record_peer_state(
            w, sender, note.agreement, view.state, sender_size, "receipt", node.wall.now()
        )
    audit.accepted("receive a note's receipt", party=node.party, sender=sender, note=note.id)
    refresh(node)
    return ReceiptAck(note.id, "stored")


# ------------------------------------------------------------------ a note lost
def redeliver_lost(node: Node, peer: str) -> list[str]:
    """Queue again to ``peer`` each note this node gave that ``peer`` acknowledged (its signed
    receipt is held here) but no longer holds, by the state it has stated for at least the
    node's ``redeliver_after`` (wall seconds: what is in flight arrives meanwhile) — its digest
    is this node's without those notes (``agreementstate.judge``). The note goes with that
    receipt, the proof that ``peer`` accepted it in its time, so that its instant, long past,
    is not refused as outside the skew. At most once per ``redeliver_after`` per note and
    peer; never with 0. The ids queued."""
    after = timedelta(seconds=node.config.redeliver_after)
    if not after:
        return []
    wall = node.wall.now()
    with node.store.reading() as r:
        docs = r.documents(NOTES)
        rows = r.documents(PEER_STATES)
    acts = sorted((_act(_stored_note(d)) for d in docs), key=lambda a: (a.at, a.id))
    lost: set[str] = set()
    for agreement in agreementstate.shared(node.agreed_scenario, node.party):
        if peer in agreement.parties:
            for j in agreementstate.judge(agreement, node.party, rows, acts):
                shown = j.seen_at is not None and wall - j.seen_at >= after
                if j.peer == peer and not j.agrees and shown:
                    lost |= {a.id for a in j.missing if a.party == node.party}
    if not lost:
        return []
    queued: list[str] = []
    with node.store.writing() as w:
        for note_id in sorted(lost):
            stored = w.document(NOTES, note_id)
            if stored is None or stored.attachment is None:
                continue
            note = _stored_note(stored)
            receipt = (note.receipts or {}).get(peer)
            last = (note.resent or {}).get(peer)
            if note.direction != "sent" or receipt is None:
                continue  # never acknowledged: the outbox delivers it (or says why not)
            if last is not None and wall - parse_instant(last, "resent") < after:
                continue
            note_b64 = base64.b64encode(stored.attachment).decode()
            body = {"note": note_b64, "receipt": receipt.receipt}
            messages.queue(w, recipient=peer, path=NOTE_PATH, body=body, ref=(NOTES, note_id))
            resent = {**(note.resent or {}), peer: format_instant(wall)}
            kept = replace(note, resent=resent).to_json()
            w.put_document(NOTES, note_id, stored.item_id, kept, stored.attachment)
            queued.append(note_id)
    for note_id in queued:
        audit.accepted("deliver a lost note again", party=node.party, peer=peer, note=note_id)
    return queued


# ------------------------------------------------------------------ reading
def held(node: Node, user: User, agreement: str | None = None) -> list[HeldNote]:
    """The notes this node holds (every user may read them: they are no secret among the
    parties' officials), of ``agreement`` if given, oldest first."""
    del user  # any authenticated user
    if agreement is not None:
        node.base_scenario.agreement(agreement)  # BadInput naming the known ones
    with node.store.reading() as r:
        docs = r.documents(NOTES, None if agreement is None else FILED + agreement)
    notes = [_stored_note(d) for d in docs]
    return sorted(notes, key=lambda n: (parse_instant(n.at, "note.at"), n.id))


def consequence(
    node: Node, user: User, agreement_id: str, kind: EventKind, at: datetime | None = None
) -> Consequence:
    """What this node's party giving ``kind`` on ``agreement_id`` at ``at`` (now if None)
    would bring about, in plain words: the agreement's end, what went directly to the other
    parties in the last 30 days (this node's records), and the way left after the end. Asked
    by an authority only (it reads the node's log back); an act that would be refused is
    refused here too, with the same reason."""
    action = f"weigh a {kind.value} note on {agreement_id[:120]}"
    if user.role is not Role.AUTHORITY:
        reason = f"user {user.name} is not an authority of {node.party}"
        audit.refused(action, reason, user=user.name, party=node.party)
        raise Denied(f"{action}: {reason}")
    when = node.clock.now() if at is None else at
    agreement = node.agreed_scenario.agreement(agreement_id)
    check_act(agreement, kind, node.party, when)
    act = NoteAct("consequence", agreement_id, kind, node.party, when)
    after = with_notes(agreement, [act])
    end = after.end
    words = [f"{ACT_WORDS[kind]} by {node.party} of {agreement_id} at {format_instant(when)}"]
    if end is None:
        words.append(
            "the agreement has no end scheduled: it stays in force (renewed at each anniversary)"
        )
    else:
        words.append(f"the agreement will end at {format_instant(end)}")
        others = sorted(p for p in agreement.parties if p != node.party)
        counts = _recent_releases(node, others, when)
        for other in others:
            words.append(
                f"{counts.get(other, 0)} items went {node.party}→{other} directly in the last "
                "30 days (from this node's records)"
            )
            words.append(_after_end(node.agreed_scenario, agreement_id, node.party, other, end))
    return Consequence(
        agreement_id,
        kind.value,
        node.party,
        format_instant(when),
        None if end is None else format_instant(end),
        "; ".join(words),
    )


def _after_end(scenario: Scenario, agreement_id: str, party: str, other: str, end: datetime) -> str:
    """How ``party``'s items may reach ``other`` once ``agreement_id`` has ended: directly
    under another agreement, through a hub (an agreement's hub, or a party sharing an agreement
    with each), with the originator's consent, or not at all."""
    pair = {party, other}
    in_force = [
        a for a in scenario.agreements if a.id != agreement_id and a.state(end) is State.IN_FORCE
    ]
    if any(pair <= a.parties and (a.hub is None or a.hub in pair) for a in in_force):
        return f"after that they still go {party}→{other} directly, under another agreement"
    hubs = {a.hub for a in in_force if pair <= a.parties and a.hub is not None}
    hubs |= {
        h
        for h in scenario.policies
        if h not in pair
        and any({party, h} <= a.parties for a in in_force)
        and any({h, other} <= a.parties for a in in_force)
    }
    if not hubs:
        return f"after that nothing goes from {party} to {other}"
    return f"after that they go only through {' or '.join(sorted(hubs))}, with consent"


def _recent_releases(node: Node, recipients: Sequence[str], now: datetime) -> dict[str, int]:
    """How many distinct items this node sent to each of ``recipients`` in the ``RECENT``
    window before ``now``, from its transparency log (the newest ``LOG_SCAN`` entries)."""
    since = now - RECENT
    earliest = since - RECENT  # the log follows the node's clock; a window's margin for workers
    seen: dict[str, set[str]] = {p: set() for p in recipients}
    with node.log.store.reading() as r:
        size = r.size()
        for index in range(size - 1, max(-1, size - 1 - LOG_SCAN), -1):
            doc = orjson.loads(r.entry(index))
            at = parse_instant(doc["at"], f"log entry {index}.at")
            if at < earliest:
                break  # the log is in the order of the node's clock: older ones follow
            sent = doc.get("type") == "release.sent" and doc.get("recipient") in seen
            if sent and since <= at <= now:
                seen[doc["recipient"]].add(str(doc.get("item")))
    return {p: len(items) for p, items in seen.items()}
