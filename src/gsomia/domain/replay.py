"""The replay: for each launch, the reports KOR and JPN originate and where each may go.

For every launch from the start of TISA on, KOR and JPN each originate a report: their
SECRET-class level, releasable to the other two parties; topic ``dprk.missile`` or, from the
missile-warning link (19 December 2023) on, ``dprk.missile.warning`` (which lies within
``dprk.missile``: the real-time warning data the link carries). For each report: the decision
for each other party directly from the originator, and onward from USA to the third party given
the originator's consent — a standing consent where an arrangement gives one, otherwise a
consent assumed for the replay and shown as such.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from gsomia.domain.consents import Consent
from gsomia.domain.labels import Label
from gsomia.domain.release import Decision, decide

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from gsomia.domain.scenario import Scenario

ORIGINATORS = ("KOR", "JPN")
HUB = "USA"
SECRET_LEVEL = {"KOR": "II", "JPN": "GOKUHI"}
REPLAY_START = datetime.fromisoformat("2014-12-29T00:00:00+09:00")
WARNING_LINK = datetime.fromisoformat("2023-12-19T00:00:00+09:00")


class Launch(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def instant(self) -> datetime: ...


class ConsentKind(StrEnum):
    STANDING = "standing"
    ASSUMED = "assumed"


@dataclass(frozen=True, slots=True)
class Onward:
    """The originator's report going on from USA to the third party."""

    decision: Decision
    consent: ConsentKind
    standing_under: str | None


@dataclass(frozen=True, slots=True)
class ReportOutcome:
    launch_id: str
    at: datetime
    label: Label
    direct: dict[str, Decision]  # recipient -> decision for originator -> recipient
    onward: dict[str, Onward]  # third party -> decision for USA -> third party

    @property
    def originator(self) -> str:
        return self.label.originator

    def third(self) -> str:
        return next(p for p in ORIGINATORS if p != self.label.originator)

    def direct_to_third(self) -> bool:
        return self.direct[self.third()].allowed

    def via_hub_to_third(self) -> bool:
        return self.direct[HUB].allowed and self.onward[self.third()].decision.allowed


def report_label(launch_id: str, originator: str, at: datetime) -> Label:
    others = tuple(sorted({"KOR", "JPN", "USA"} - {originator}))
    topic = "dprk.missile.warning" if at >= WARNING_LINK else "dprk.missile"
    return Label(
        id=f"{launch_id}/{originator}",
        originator=originator,
        classification=SECRET_LEVEL[originator],
        releasable_to=others,
        topics=(topic,),
    )


def replay(scenario: Scenario, launches: Iterable[Launch]) -> Iterator[ReportOutcome]:
    """The outcome of every report of every launch at or after the start of TISA."""
    for launch in launches:
        at = launch.instant
        if at < REPLAY_START:
            continue
        for originator in ORIGINATORS:
            label = report_label(launch.id, originator, at)
            third = next(p for p in ORIGINATORS if p != originator)
            direct = {
                r: decide(scenario, label, holder=originator, recipient=r, at=at)
                for r in (third, HUB)
            }
            standing = scenario.standing_consent(
                label.topics, among=(originator, HUB, third), at=at
            )
            consents = (
                ()
                if standing is not None
                else (Consent(label.id, originator, third, granted_at=at),)
            )
            onward_decision = decide(
                scenario, label, holder=HUB, recipient=third, at=at, consents=consents
            )
            onward = Onward(
                onward_decision,
                ConsentKind.STANDING if standing is not None else ConsentKind.ASSUMED,
                standing,
            )
            yield ReportOutcome(launch.id, at, label, direct, {third: onward})


@dataclass
class YearSummary:
    year: int
    launches: int = 0
    reports: int = 0
    kor_jpn_direct: int = 0
    kor_jpn_via_usa_only: int = 0
    jpn_kor_direct: int = 0
    jpn_kor_via_usa_only: int = 0
    not_shared: int = 0

    def to_json(self) -> dict[str, int]:
        return {
            "year": self.year,
            "launches": self.launches,
            "reports": self.reports,
            "kor_jpn_direct": self.kor_jpn_direct,
            "kor_jpn_via_usa_only": self.kor_jpn_via_usa_only,
            "jpn_kor_direct": self.jpn_kor_direct,
            "jpn_kor_via_usa_only": self.jpn_kor_via_usa_only,
            "not_shared": self.not_shared,
        }


def summarize(outcomes: Iterable[ReportOutcome]) -> list[YearSummary]:
    """Per year: how many reports could go KOR↔JPN directly, and how many only through USA.

    Years are those of the launch instant in Korea and Japan (UTC+9).
    """
    years: OrderedDict[int, YearSummary] = OrderedDict()
    seen: set[str] = set()
    for o in outcomes:
        year = o.at.astimezone(WARNING_LINK.tzinfo).year
        summary = years.setdefault(year, YearSummary(year))
        if o.launch_id not in seen:
            seen.add(o.launch_id)
            summary.launches += 1
        summary.reports += 1
        direct, via = o.direct_to_third(), o.via_hub_to_third()
        if o.originator == "KOR":
            summary.kor_jpn_direct += direct
            summary.kor_jpn_via_usa_only += via and not direct
        else:
            summary.jpn_kor_direct += direct
            summary.jpn_kor_via_usa_only += via and not direct
        summary.not_shared += not direct and not via
    return list(years.values())
