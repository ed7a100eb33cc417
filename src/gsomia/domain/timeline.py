"""Every event and state change of a scenario, in order (``gsomia timeline``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from gsomia.domain.agreements import EventKind, require_evaluable
from gsomia.domain.instants import format_instant

if TYPE_CHECKING:
    from gsomia.domain.agreements import Agreement
    from gsomia.domain.scenario import Scenario


class EntryKind(StrEnum):
    START = "start"
    ANNIVERSARY = "anniversary"
    NOTICE_DEADLINE = "notice_deadline"
    NOTICE = "notice"
    SUSPEND = "suspend"
    WITHDRAW = "withdraw"
    END = "end"


_ORDER = {
    EntryKind.END: 0,  # at an anniversary that ends it, the end comes first: not renewed
    EntryKind.START: 1,
    EntryKind.NOTICE: 2,
    EntryKind.SUSPEND: 2,
    EntryKind.WITHDRAW: 2,
    EntryKind.NOTICE_DEADLINE: 3,
    EntryKind.ANNIVERSARY: 4,
}


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: datetime
    agreement: str
    kind: EntryKind
    text: str
    source: str = ""
    related: datetime | None = None  # for a notice deadline, the anniversary it decides

    def to_json(self) -> dict[str, object]:
        return {
            "at": format_instant(self.at),
            "agreement": self.agreement,
            "kind": self.kind.value,
            "text": self.text,
            "source": self.source,
            "anniversary": None if self.related is None else format_instant(self.related),
        }


def timeline(scenario: Scenario, *, until: datetime) -> tuple[TimelineEntry, ...]:
    """Starts, events, anniversaries with their notice deadlines, and ends, up to ``until``.

    BadInput if ``until`` is outside ``EVALUATION_YEARS``: with the bounds a scenario is parsed
    within, the timeline then has at most a few hundred entries per agreement.
    """
    require_evaluable(until, "until")
    entries: list[TimelineEntry] = []
    for agreement in scenario.agreements:
        entries.extend(_agreement_entries(agreement, until))
    entries.sort(key=lambda e: (e.at, _ORDER[e.kind], e.agreement))
    return tuple(entries)


def _agreement_entries(a: Agreement, until: datetime) -> list[TimelineEntry]:
    term = (
        "indefinite term"
        if a.term_years is None
        else f"{a.term_years}-year term; {a.notice_days} days' notice before an anniversary"
    )
    out = [TimelineEntry(a.start, a.id, EntryKind.START, f"enters into force ({term})", a.source)]
    for event in a.events:
        if event.at > until:
            continue
        kind = {
            EventKind.NOTICE: EntryKind.NOTICE,
            EventKind.SUSPEND: EntryKind.SUSPEND,
            EventKind.WITHDRAW: EntryKind.WITHDRAW,
        }[event.kind]
        verb = {
            EntryKind.NOTICE: "gives written notice of termination",
            EntryKind.SUSPEND: "suspends its notice of termination",
            EntryKind.WITHDRAW: "withdraws its notice of termination",
        }[kind]
        out.append(TimelineEntry(event.at, a.id, kind, f"{event.party} {verb}", event.source))
    if a.term_years is not None:
        n = 1
        for anniversary in a.anniversaries():
            if anniversary > until or (a.end is not None and anniversary > a.end):
                break
            deadline = a.notice_deadline(anniversary)
            out.append(
                TimelineEntry(
                    deadline,
                    a.id,
                    EntryKind.NOTICE_DEADLINE,
                    f"notice deadline for anniversary {n} ({anniversary.date().isoformat()}): "
                    "the last instant for a notice to end it then",
                    related=anniversary,
                )
            )
            if a.end is not None and anniversary == a.end:
                break
            notice = a.notice_at(anniversary)
            why = "" if notice is None else f" ({notice.party}'s notice is {notice.status.value})"
            out.append(
                TimelineEntry(
                    anniversary,
                    a.id,
                    EntryKind.ANNIVERSARY,
                    f"anniversary {n}: renewed{why}",
                    related=anniversary,
                )
            )
            n += 1
    if a.end is not None and a.end <= until:
        out.append(
            TimelineEntry(
                a.end, a.id, EntryKind.END, "ends: the notice of termination takes effect"
            )
        )
    return out
