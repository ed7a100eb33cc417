"""Agreements and their lifecycle (DOMAIN.md §3, §5 rule 2).

An agreement is in force from its start until its end. A term agreement's anniversaries fall at
its start plus whole years; it ends at anniversary A exactly when a termination notice was given
at or before A - notice period and, at A, that notice is neither suspended nor withdrawn.

Everything here is pure: the events are data and every instant is an argument.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from gsomia.domain.instants import add_years, format_instant
from gsomia.domain.parties import Equivalence
from gsomia.errors import BadInput

if TYPE_CHECKING:
    from collections.abc import Iterator


# The years a scenario may cover: every agreement's start and every event lies in them (the
# year as written, in its own UTC offset). 1945: no arrangement of this kind predates the
# post-war order; 2100: room for any what-if. A scenario is evaluated (states, timeline) at
# instants in EVALUATION_YEARS, which holds every end such a scenario can bring about (at most
# a term after its last notice) with room for a chart's margin. With terms of at most
# MAX_TERM_YEARS, every anniversary the model computes then stays far inside what a datetime
# can hold, and a yearly agreement has at most a few hundred of them.
FIRST_YEAR = 1945
LAST_YEAR = 2100
MAX_TERM_YEARS = 100
EVALUATION_YEARS = (FIRST_YEAR - 100, LAST_YEAR + 200)


def require_evaluable(at: datetime, where: str) -> None:
    """Refuse an instant too far from the years a scenario may cover to evaluate it at."""
    first, last = EVALUATION_YEARS
    if not first <= at.year <= last:
        raise BadInput(
            f"{where}: {format_instant(at)} is outside the years at which a scenario is "
            f"evaluated ({first}..{last})"
        )


class EventKind(StrEnum):
    NOTICE = "notice"  # written notice of termination
    SUSPEND = "suspend"  # the notice is (conditionally) suspended
    WITHDRAW = "withdraw"  # the notice is withdrawn


class NoticeStatus(StrEnum):
    GIVEN = "given"
    SUSPENDED = "suspended"
    WITHDRAWN = "withdrawn"


class State(StrEnum):
    PENDING = "pending"
    IN_FORCE = "in_force"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class AgreementEvent:
    id: str
    at: datetime
    agreement: str
    kind: EventKind
    party: str
    source: str = ""
    note: str = ""


@dataclass(frozen=True, slots=True)
class Notice:
    """A termination notice with its status at some instant."""

    given: datetime
    party: str
    status: NoticeStatus
    changed: datetime | None  # when it was suspended or withdrawn, if it was

    def to_json(self) -> dict[str, object]:
        return {"given": format_instant(self.given), "status": self.status.value}


@dataclass(frozen=True)
class Agreement:
    """One agreement: who, from when, for how long, which classes, which topics, through whom."""

    id: str
    title: str
    parties: frozenset[str]
    start: datetime
    classes: frozenset[Equivalence]
    scope: tuple[str, ...] | None = None  # None: any topic
    hub: str | None = None
    term_years: int | None = None  # None: indefinite
    notice_days: int = 90
    standing_consent: tuple[str, ...] = ()  # topics on which all parties consent in advance
    binding: bool = True
    source: str = ""
    notes: str = ""
    events: tuple[AgreementEvent, ...] = ()
    # set on a node's effective copy while a party to it computes another state of it
    # (``gsomia.domain.notes``): no release under it, whatever the calendar says
    dispute: str = ""
    end: datetime | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.events, key=lambda e: (e.at, e.id)))
        object.__setattr__(self, "events", ordered)
        object.__setattr__(self, "end", self.scheduled_end(as_of=None))

    # ------------------------------------------------------------------ the calendar
    @property
    def notice_period(self) -> timedelta:
        return timedelta(days=self.notice_days)

    def anniversary(self, n: int) -> datetime:
        """The n-th anniversary (n ≥ 1) of a term agreement."""
        if self.term_years is None:
            msg = f"{self.id} has no term, so no anniversaries"
            raise ValueError(msg)
        return add_years(self.start, n * self.term_years)

    def anniversaries(self) -> Iterator[datetime]:
        n = 1
        while True:
            yield self.anniversary(n)
            n += 1

    def next_anniversary(self, at: datetime) -> datetime | None:
        """The first anniversary strictly after ``at`` (None for an indefinite agreement)."""
        if self.term_years is None:
            return None
        if at < self.start:
            return self.anniversary(1)
        years = max(1, (at.year - self.start.year) // self.term_years)
        n = max(1, years - 1)
        while self.anniversary(n) <= at:
            n += 1
        return self.anniversary(n)

    def notice_deadline(self, anniversary: datetime) -> datetime:
        """The last instant at which a notice ends the agreement at ``anniversary``."""
        return anniversary - self.notice_period

    # ------------------------------------------------------------------ notices
    def notices(self, as_of: datetime | None) -> list[Notice]:
        """Every termination notice known at ``as_of`` (None: all), with its status then."""
        result: list[Notice] = []
        for event in self.events:
            if as_of is not None and event.at > as_of:
                break
            if event.kind is EventKind.NOTICE:
                result.append(Notice(event.at, event.party, NoticeStatus.GIVEN, None))
            elif result and result[-1].status is NoticeStatus.GIVEN:
                status = (
                    NoticeStatus.SUSPENDED
                    if event.kind is EventKind.SUSPEND
                    else NoticeStatus.WITHDRAWN
                )
                last = result[-1]
                result[-1] = Notice(last.given, last.party, status, event.at)
            elif result and event.kind is EventKind.WITHDRAW:
                last = result[-1]  # a suspended notice withdrawn: it stopped biting when suspended
                result[-1] = Notice(last.given, last.party, NoticeStatus.WITHDRAWN, last.changed)
        return result

    def notice_at(self, at: datetime) -> Notice | None:
        """The latest notice known at ``at``, with its status at ``at``."""
        known = self.notices(as_of=at)
        return known[-1] if known else None

    def scheduled_end(self, as_of: datetime | None) -> datetime | None:
        """The end that the events known at ``as_of`` (None: all events) bring about.

        For each notice, the first anniversary it can reach is the first one at least the notice
        period after it was given; it ends the agreement at the first such anniversary at which
        it is neither suspended nor withdrawn (its status at that anniversary is decided by the
        events at or before it). Whether an instant falls before the end never depends on
        events after that instant.
        """
        if self.term_years is None:
            return None
        best: datetime | None = None
        for notice in self.notices(as_of=as_of):
            candidate = self._first_anniversary_on_or_after(notice.given + self.notice_period)
            # The notice bites at ``candidate`` unless suspended or withdrawn at or before it.
            bites = notice.changed is None or notice.changed > candidate
            if bites and (best is None or candidate < best):
                best = candidate
        return best

    def _first_anniversary_on_or_after(self, instant: datetime) -> datetime:
        anniversary = self.next_anniversary(instant - timedelta(microseconds=1))
        if anniversary is None:  # pragma: no cover - only term agreements reach here
            msg = "indefinite agreement"
            raise ValueError(msg)
        return anniversary

    # ------------------------------------------------------------------ state
    def in_force(self, at: datetime) -> bool:
        return self.start <= at and (self.end is None or at < self.end)

    def state(self, at: datetime) -> State:
        if at < self.start:
            return State.PENDING
        if self.end is not None and at >= self.end:
            return State.ENDED
        return State.IN_FORCE


@dataclass(frozen=True, slots=True)
class AgreementStatus:
    """An agreement as seen at one instant (``gsomia agreements --at``)."""

    agreement: Agreement
    at: datetime
    state: State
    notice: Notice | None
    next_anniversary: datetime | None
    notice_deadline: datetime | None
    ends: datetime | None

    def to_json(self) -> dict[str, object]:
        def fmt(value: datetime | None) -> str | None:
            return None if value is None else format_instant(value)

        return {
            "id": self.agreement.id,
            "parties": sorted(self.agreement.parties),
            "state": self.state.value,
            "notice": None if self.notice is None else self.notice.to_json(),
            "next_anniversary": fmt(self.next_anniversary),
            "notice_deadline": fmt(self.notice_deadline),
            "ends": fmt(self.ends),
        }


def status_at(agreement: Agreement, at: datetime) -> AgreementStatus:
    """What was known of ``agreement`` at ``at``: its state, notice, next anniversary and the
    last instant for a notice to end it there, and its scheduled end (None where none applies).
    BadInput if ``at`` is outside ``EVALUATION_YEARS``."""
    require_evaluable(at, "at")
    state = agreement.state(at)
    ends = agreement.scheduled_end(as_of=at)
    anniversary = None if state is State.ENDED else agreement.next_anniversary(at)
    if anniversary is not None and ends is not None and anniversary > ends:
        anniversary = None
    return AgreementStatus(
        agreement=agreement,
        at=at,
        state=state,
        notice=agreement.notice_at(at),
        next_anniversary=anniversary,
        notice_deadline=None if anniversary is None else agreement.notice_deadline(anniversary),
        ends=ends,
    )
