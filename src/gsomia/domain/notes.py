"""Diplomatic notes: the live form of a scenario's agreement events (DOMAIN.md §4).

An authority's act on an agreement — a notice of termination, its suspension, its withdrawal —
is a note: which agreement, which act, which party, at which instant, and free text. A note is
valid only from a party to the agreement, only at a point of the agreement's life where the act
means something (a notice while none is in effect; a suspension of a notice in effect, a
withdrawal of a notice in effect or suspended, both only by the party that gave that notice),
only after every event already known (two acts at one instant would have no order), and never
once the agreement has ended (``check_act``).

A node enforces its scenario's events plus the notes it holds (``effective``), and the parties
to an agreement must compute the same state of it: ``state_digest`` is that state in 32 bytes,
from the agreement's effective events alone (their instants, acts and parties — not their ids
or texts, so the same history played from a file or from notes has the same digest). While a
party to an agreement is known to compute another digest, the node's effective copy of the
agreement carries the dispute, and the release engine allows nothing under it.

Everything here is pure: the notes are data and every instant is an argument.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from gsomia.domain.agreements import Agreement, AgreementEvent, EventKind, NoticeStatus, State
from gsomia.domain.instants import format_instant
from gsomia.domain.scenario import MAX_EVENTS, Scenario
from gsomia.errors import BadInput, Conflict, Denied

MAX_TEXT = 2000  # characters of a note's free text
STATE_DOMAIN = b"gsomia/agreement-state/v1\x00"
#: A note's id: a version 4 UUID, lower case.
NOTE_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
#: What each act is called in plain words.
ACT_WORDS = {
    EventKind.NOTICE: "notice of termination",
    EventKind.SUSPEND: "suspension of the notice",
    EventKind.WITHDRAW: "withdrawal of the notice",
}


@dataclass(frozen=True, slots=True)
class NoteAct:
    """What a note says: ``party``'s act ``kind`` on ``agreement`` at ``at``."""

    id: str
    agreement: str
    kind: EventKind
    party: str
    at: datetime
    text: str = ""

    def event(self) -> AgreementEvent:
        """The act as an agreement event (what the calendar reads)."""
        return AgreementEvent(
            id=self.id,
            at=self.at,
            agreement=self.agreement,
            kind=self.kind,
            party=self.party,
            source="diplomatic note",
            note=self.text,
        )

    def words(self) -> str:
        act = ACT_WORDS[self.kind]
        return f"{self.party}'s {act} of {self.agreement} at {format_instant(self.at)}"


def parse_kind(text: object, where: str) -> EventKind:
    """An act's name (``notice``, ``suspend``, ``withdraw``); BadInput naming ``where``."""
    try:
        return EventKind(text)  # type: ignore[arg-type]
    except ValueError:
        known = ", ".join(k.value for k in EventKind)
        raise BadInput(f"{where}: unknown act {str(text)[:40]!r} (known: {known})") from None


def check_text(text: object, where: str) -> str:
    if not isinstance(text, str):
        raise BadInput(f"{where}: expected a string")
    if len(text) > MAX_TEXT:
        raise BadInput(f"{where}: at most {MAX_TEXT} characters, got {len(text)}")
    if any(_control(c) for c in text):
        raise BadInput(
            f"{where}: control characters (other than newline and tab) and bidirectional "
            "formatting characters are not allowed"
        )
    return text


def _control(c: str) -> bool:
    """A character that hides or reorders what a reader sees: C0 and C1 controls (newline and
    tab aside), DEL, and the bidirectional embeddings, overrides and isolates."""
    n = ord(c)
    return (
        (n < 0x20 and c not in "\n\t")
        or 0x7F <= n <= 0x9F
        or 0x202A <= n <= 0x202E
        or 0x2066 <= n <= 0x2069
    )


def check_act(agreement: Agreement, kind: EventKind, party: str, at: datetime) -> None:
    """Refuse an act that is not valid at this point of ``agreement``'s life (its effective
    events as known here): Denied for a party that may not make it, Conflict for an act the
    agreement's state does not admit. Nothing else is read: the caller checks the instant
    against its clock."""
    if party not in agreement.parties:
        parties = ", ".join(sorted(agreement.parties))
        raise Denied(f"{party} is not a party to {agreement.id} (its parties: {parties})")
    when = format_instant(at)
    state = agreement.state(at)
    if state is State.PENDING:
        raise Conflict(f"{agreement.id} is not yet in force at {when}: no note on it is valid")
    if state is State.ENDED:
        end = agreement.end
        ended = format_instant(end) if end is not None else "?"
        raise Conflict(f"{agreement.id} ended at {ended}: no note after its end is valid")
    notice = agreement.notice_at(at)
    if kind is EventKind.NOTICE:
        if agreement.term_years is None:
            raise Conflict(
                f"{agreement.id} has no term: the model knows no termination of it by notice"
            )
        if notice is not None and notice.status is NoticeStatus.GIVEN:
            raise Conflict(
                f"{agreement.id}: {notice.party}'s notice of {format_instant(notice.given)} "
                "is in effect already"
            )
        _after_latest(agreement, at)
        return
    if notice is None or notice.status is NoticeStatus.WITHDRAWN:
        raise Conflict(f"{agreement.id}: no notice is in effect at {when} to {kind.value}")
    if kind is EventKind.SUSPEND and notice.status is not NoticeStatus.GIVEN:
        raise Conflict(f"{agreement.id}: the notice is suspended already")
    if notice.party != party:
        raise Denied(
            f"{agreement.id}: only {notice.party}, which gave the notice of "
            f"{format_instant(notice.given)}, may {kind.value} it"
        )
    _after_latest(agreement, at)


def _after_latest(agreement: Agreement, at: datetime) -> None:
    """Conflict unless ``at`` comes after every event of ``agreement`` known, and the
    agreement has room for one more (``MAX_EVENTS``, as a scenario file)."""
    if len(agreement.events) >= MAX_EVENTS:
        raise Conflict(
            f"{agreement.id} holds {len(agreement.events)} events already, the most an "
            "agreement may hold"
        )
    if agreement.events and at <= agreement.events[-1].at:
        last = agreement.events[-1]
        raise Conflict(
            f"{agreement.id}: a note at {format_instant(at)} does not come after its latest event "
            f"({last.party}'s {last.kind.value} at {format_instant(last.at)})"
        )


def with_notes(agreement: Agreement, acts: Iterable[NoteAct]) -> Agreement:
    """``agreement`` with ``acts`` (its own) among its events."""
    extra = tuple(a.event() for a in acts if a.agreement == agreement.id)
    if not extra:
        return agreement
    return replace(agreement, events=agreement.events + extra)


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def state_digest(agreement: Agreement) -> bytes:
    """The agreement's state as its parties must agree on it: SHA-256 over its terms (id,
    parties, start as a UTC instant to the microsecond, term, notice period, classes, scope,
    hub, standing consent, whether binding) and its effective events (UTC instant, act, party),
    in order — two nodes whose scenarios differ in any of them compute other ends or decisions,
    and other digests."""
    terms = [
        agreement.id,
        sorted(agreement.parties),
        _utc(agreement.start),
        agreement.term_years,
        agreement.notice_days,
        sorted(c.value for c in agreement.classes),
        None if agreement.scope is None else list(agreement.scope),
        agreement.hub,
        list(agreement.standing_consent),
        agreement.binding,
    ]
    events = [[_utc(e.at), e.kind.value, e.party] for e in agreement.events]
    body = json.dumps([terms, events], separators=(",", ":")).encode()
    return hashlib.sha256(STATE_DOMAIN + body).digest()


def effective(
    scenario: Scenario, acts: Iterable[NoteAct], disputes: Mapping[str, str] | None = None
) -> Scenario:
    """``scenario`` with the notes ``acts`` among its agreements' events and, for each agreement
    in ``disputes``, the dispute (a sentence saying who disagrees and what is missing)."""
    by_agreement: dict[str, list[NoteAct]] = {}
    for act in acts:
        by_agreement.setdefault(act.agreement, []).append(act)
    disputed = disputes or {}
    if not by_agreement and not disputed:
        return scenario
    agreements = tuple(
        _disputed(with_notes(a, by_agreement.get(a.id, ())), disputed.get(a.id, ""))
        for a in scenario.agreements
    )
    return replace(scenario, agreements=agreements)


def _disputed(agreement: Agreement, dispute: str) -> Agreement:
    return replace(agreement, dispute=dispute) if dispute else agreement
