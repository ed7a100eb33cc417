"""The replay: for each launch, the reports the parties originate and where each may go.

Who takes part is read from the scenario (``cast_of``): the earliest agreement with a hub (in
the shipped scenarios TISA, 29 December 2014, hub USA) gives the start, the hub and the
originators (its other parties, in the scenario's order: KOR, JPN). For every launch from that
start on, each originator originates a report: at its policy's default SECRET-class level,
releasable to the other parties; topic ``dprk.missile`` or, from the start of the first agreement
giving standing consent on a topic within it (the missile-warning link of 19 December 2023, on
``dprk.missile.warning``), that topic. For each report: the decision for each other party
directly from the originator, and onward from the hub to the third party given the originator's
consent — a standing consent where an arrangement gives one, otherwise a consent assumed for the
replay and shown as such.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from gsomia.domain.consents import Consent
from gsomia.domain.labels import Label
from gsomia.domain.parties import Equivalence
from gsomia.domain.release import Decision, decide
from gsomia.domain.topics import within
from gsomia.errors import BadInput

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from gsomia.domain.scenario import Scenario

#: The time zone of Korea and Japan (UTC+9), in which the summary counts years.
KOREA_JAPAN = timezone(timedelta(hours=9))

#: The topic of a launch report (a warning link's topic lies within it).
LAUNCH_TOPIC = "dprk.missile"


@dataclass(frozen=True, slots=True)
class Cast:
    """Who takes part in the replay and from when, as the scenario says."""

    start: datetime  # the hub agreement's start: no report before it
    hub: str
    originators: tuple[str, ...]  # the hub agreement's other parties, in the scenario's order
    parties: tuple[str, ...]  # the originators and the hub
    levels: dict[str, str]  # originator -> its default SECRET-class level
    link: tuple[datetime, str] | None  # when a warning link starts, and its topic

    def label(self, launch_id: str, originator: str, at: datetime) -> Label:
        """The label of ``originator``'s report of a launch at ``at``."""
        topic = self.link[1] if self.link is not None and at >= self.link[0] else LAUNCH_TOPIC
        return Label(
            id=f"{launch_id}/{originator}",
            originator=originator,
            classification=self.levels[originator],
            releasable_to=tuple(sorted(set(self.parties) - {originator})),
            topics=(topic,),
        )


def cast_of(scenario: Scenario) -> Cast:
    """The replay's cast in ``scenario``; BadInput if it has no agreement with a hub."""
    hubbed = sorted((a for a in scenario.agreements if a.hub), key=lambda a: (a.start, a.id))
    if not hubbed or hubbed[0].hub is None:
        raise BadInput(f"scenario {scenario.name}: the replay needs an agreement with a hub")
    first, hub = hubbed[0], hubbed[0].hub
    originators = tuple(p for p in scenario.policies if p in first.parties and p != hub)
    links = sorted(
        (a.start, t)
        for a in scenario.agreements
        for t in a.standing_consent
        if t != LAUNCH_TOPIC and within(t, LAUNCH_TOPIC)
    )
    return Cast(
        start=first.start,
        hub=hub,
        originators=originators,
        parties=(*originators, hub),
        levels={p: scenario.policy(p).defaults[Equivalence.SECRET] for p in originators},
        link=links[0] if links else None,
    )


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

    hub: str

    @property
    def originator(self) -> str:
        return self.label.originator

    def third(self) -> str:
        return next(iter(self.onward))

    def direct_to_third(self) -> bool:
        return self.direct[self.third()].allowed

    def via_hub_to_third(self) -> bool:
        return self.direct[self.hub].allowed and self.onward[self.third()].decision.allowed

    def needs_consent(self) -> bool:
        """The report reaches the third party only through the hub, and only on a consent the
        originator must give for it (no standing consent covers it)."""
        onward = self.onward[self.third()]
        return (
            not self.direct_to_third()
            and self.via_hub_to_third()
            and onward.consent is ConsentKind.ASSUMED
        )


def replay(scenario: Scenario, launches: Iterable[Launch]) -> Iterator[ReportOutcome]:
    """The outcome of every report of every launch at or after the start of the cast."""
    cast = cast_of(scenario)
    hub = cast.hub
    for launch in launches:
        at = launch.instant
        if at < cast.start:
            continue
        for originator in cast.originators:
            label = cast.label(launch.id, originator, at)
            third = next(p for p in cast.originators if p != originator)
            direct = {
                r: decide(scenario, label, holder=originator, recipient=r, at=at)
                for r in (third, hub)
            }
            standing = scenario.standing_consent(
                label.topics, among=(originator, hub, third), at=at
            )
            consents = (
                ()
                if standing is not None
                else (Consent(label.id, originator, third, granted_at=at),)
            )
            onward_decision = decide(
                scenario, label, holder=hub, recipient=third, at=at, consents=consents
            )
            onward = Onward(
                onward_decision,
                ConsentKind.STANDING if standing is not None else ConsentKind.ASSUMED,
                standing,
            )
            yield ReportOutcome(launch.id, at, label, direct, {third: onward}, hub)


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
        year = o.at.astimezone(KOREA_JAPAN).year
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
