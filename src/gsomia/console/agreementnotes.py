"""The live part of the console's Agreements page (DOMAIN.md §4, diplomatic notes): for every
user, each agreement of this node's party as the node enforces it now — its state, scheduled
end and countdown, the notes the node holds on it with their receipts or delivery, and any
disagreement with another party about it; for authority users, the acts that are valid now
("give notice", "suspend", "withdraw"), each through a confirmation page that states its
consequence before the note is signed and sent.

View logic only: the notes are ``gsomia.node.notes``' (``held``, ``consequence``, ``give``),
the disagreements ``gsomia.node.agreementstate.states``'; which acts are offered is
``gsomia.domain.notes.check_act`` against the node's agreed scenario at its scenario clock —
the same check ``give`` makes, so a button shown is an act the node would accept now (``give``
still decides, and its refusal is shown in plain words).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from gsomia.domain.access import Role
from gsomia.domain.agreements import AgreementStatus, EventKind, status_at
from gsomia.domain.instants import parse_instant
from gsomia.domain.notes import ACT_WORDS, check_act, check_text, parse_kind
from gsomia.errors import BadInput, Conflict, Denied, NotFound
from gsomia.node import agreementstate
from gsomia.node import notes as node_notes

if TYPE_CHECKING:
    from gsomia.domain.agreements import Agreement
    from gsomia.node.config import User
    from gsomia.node.service import Node

#: The acts an authority may make, in the order the page offers them, and their buttons.
ACTS = (EventKind.NOTICE, EventKind.SUSPEND, EventKind.WITHDRAW)
ACT_BUTTONS = {
    EventKind.NOTICE: "Give notice",
    EventKind.SUSPEND: "Suspend",
    EventKind.WITHDRAW: "Withdraw",
}
MAX_AGREEMENT_ID = 200
NO_RELEASE = (
    "Nothing is released under this agreement until both parties agree on its state: "
    "this node and the other party compute it differently."
)


def plain_instant(value: datetime) -> str:
    """An instant as a person reads it: ISO 8601 with its offset, to the minute when the
    seconds are zero (``2019-11-23T00:00+09:00``), else to the second."""
    if value.second == 0 and value.microsecond == 0:
        return value.isoformat(timespec="minutes")
    return value.isoformat(timespec="seconds")


def countdown(now: datetime, then: datetime) -> str:
    """How long from ``now`` until ``then`` in days and hours ("in 91 days 12 hours"), or how
    long ago."""
    delta = then - now
    ahead = delta >= timedelta(0)
    delta = abs(delta)
    days, rest = delta.days, delta.seconds
    hours, minutes = rest // 3600, rest % 3600 // 60
    parts = []
    if days:
        parts.append(f"{days} day{'s' if days != 1 else ''}")
    if hours or days:
        parts.append(f"{hours} hour{'s' if hours != 1 else ''}")
    if not days:
        parts.append(f"{minutes} minute{'s' if minutes != 1 else ''}")
    span = " ".join(parts)
    return f"in {span}" if ahead else f"{span} ago"


def offered_acts(agreement: Agreement, party: str, at: datetime) -> list[EventKind]:
    """The acts ``party`` may make on ``agreement`` at ``at`` (``check_act`` admits them)."""
    offered: list[EventKind] = []
    for kind in ACTS:
        try:
            check_act(agreement, kind, party, at)
        except (Denied, Conflict):
            continue
        offered.append(kind)
    return offered


@dataclass(frozen=True, slots=True)
class Act:
    kind: str
    button: str
    words: str


@dataclass(frozen=True, slots=True)
class LiveAgreement:
    """One agreement of this node's party as the node enforces it now."""

    id: str
    title: str
    parties: tuple[str, ...]
    status: AgreementStatus
    ends: str  # plain instant, or "" when no end is scheduled
    ends_in: str
    deadline: str
    deadline_in: str
    anniversary: str
    notes: tuple[dict[str, Any], ...]  # HeldNote.to_json(), oldest first
    dispute: str  # the sentence (who disagrees, since when, the missing note); "" if agreed
    peers: tuple[dict[str, Any], ...]  # each peer's state as agreementstate.states gives it
    acts: tuple[Act, ...]  # offered to this user now (authority users only)


def live_view(node: Node, user: User) -> dict[str, Any]:
    """The live state of each agreement this node's party is a party to, for ``user``."""
    now = node.clock.now()
    scenario = node.scenario
    held = node_notes.held(node, user)
    states = {s.agreement: s.to_json() for s in agreementstate.states(node, user)}
    authority = user.role is Role.AUTHORITY
    agreed = node.agreed_scenario
    live: list[LiveAgreement] = []
    for agreement in scenario.agreements:
        if node.party not in agreement.parties:
            continue
        status = status_at(agreement, now)
        state = states.get(agreement.id, {})
        acts = (
            tuple(
                Act(k.value, ACT_BUTTONS[k], ACT_WORDS[k])
                for k in offered_acts(agreed.agreement(agreement.id), node.party, now)
            )
            if authority
            else ()
        )
        notes = sorted(
            (n.to_json() for n in held if n.agreement == agreement.id),
            key=lambda n: (str(n.get("at", "")), str(n.get("id", ""))),
        )
        live.append(
            LiveAgreement(
                id=agreement.id,
                title=agreement.title,
                parties=tuple(sorted(agreement.parties)),
                status=status,
                ends="" if status.ends is None else plain_instant(status.ends),
                ends_in="" if status.ends is None else countdown(now, status.ends),
                deadline=""
                if status.notice_deadline is None
                else plain_instant(status.notice_deadline),
                deadline_in=""
                if status.notice_deadline is None
                else countdown(now, status.notice_deadline),
                anniversary=""
                if status.next_anniversary is None
                else plain_instant(status.next_anniversary),
                notes=tuple(notes),
                dispute=agreement.dispute or _dispute_words(state),
                peers=tuple(_peers(state)),
                acts=acts,
            )
        )
    return {
        "live": live,
        "live_now": plain_instant(now),
        "is_authority": authority,
        "no_release": NO_RELEASE,
    }


def _dispute_words(state: dict[str, Any]) -> str:
    if state.get("status") != "disputed":
        return ""
    words = state.get("dispute") or state.get("missing") or ""
    return str(words) if words else "Another party computes another state of this agreement."


def _peers(state: dict[str, Any]) -> list[dict[str, Any]]:
    peers = state.get("peers", [])
    return [p for p in peers if isinstance(p, dict)] if isinstance(peers, list) else []


# ------------------------------------------------------------------ the confirmation
@dataclass(frozen=True, slots=True)
class Confirmation:
    """What the confirmation page of an act says before the authority signs it."""

    agreement: str
    title: str
    kind: str
    button: str
    act_words: str
    consequence: str
    ends: str  # the agreement's end with the act, plain; "" when none is scheduled
    now: str


def require_authority(user: User, what: str) -> None:
    """Denied unless ``user`` speaks for the party in agreement matters (the use case checks
    again: this only spares the user a form they could not send)."""
    if user.role is not Role.AUTHORITY:
        raise Denied(f"{what}: only an authority user of this node may make acts on agreements")


def parse_act(agreement_id: str, event: str) -> tuple[str, EventKind]:
    if not agreement_id:
        raise BadInput("agreement: missing")
    if len(agreement_id) > MAX_AGREEMENT_ID:
        raise BadInput(f"agreement: longer than {MAX_AGREEMENT_ID} characters")
    return agreement_id, parse_kind(event[:40], "event")


def confirmation_view(node: Node, user: User, agreement_id: str, event: str) -> Confirmation:
    """The consequence of ``event`` on ``agreement_id`` if made now, in plain words; Denied for
    a user who is not an authority, Conflict (or Denied) for an act not valid now."""
    require_authority(user, "confirm an act")
    agreement_id, kind = parse_act(agreement_id, event)
    scenario = node.agreed_scenario
    if agreement_id not in {a.id for a in scenario.agreements}:
        raise NotFound(f"agreement: no agreement {agreement_id!r} in this node's scenario")
    agreement = scenario.agreement(agreement_id)
    now = node.clock.now()
    check_act(agreement, kind, node.party, now)
    found = node_notes.consequence(node, user, agreement_id, kind, now)
    return Confirmation(
        agreement=agreement_id,
        title=agreement.title,
        kind=kind.value,
        button=ACT_BUTTONS[kind],
        act_words=ACT_WORDS[kind],
        consequence=found.words,
        ends="" if found.end is None else plain_instant(parse_instant(found.end, "end")),
        now=plain_instant(now),
    )


def give_note(node: Node, user: User, agreement_id: str, event: str, text: str) -> None:
    """Sign and send the note (``gsomia.node.notes.give`` decides and refuses)."""
    agreement_id, kind = parse_act(agreement_id, event)
    node_notes.give(node, user, agreement_id, kind, check_text(text, "text"))
