"""The demo's agreement played live: the 2019 notice, its suspension and its 2023 withdrawal as
diplomatic notes, given by KOR's authority when the simulated clock reaches them.

With live notes (``gsomia demo``'s default) the nodes start from the scenario without the
events of the agreement between the replay's two originators (``live_events``: with the shipped
scenarios the Japan–ROK GSOMIA's, ``jpn-kor-gsomia-2016``): their scenario is an overlay the
demo writes, ``scenario-live.toml`` (``extends`` the scenario, ``drop_events`` those events).
During the replay, before the first launch after each event's instant, the ``NotePlayer`` waits
for that instant on the shared simulated clock and has the event's party's authority give it as
a note (``POST /native/v1/notes``, ``at`` = the event's instant, its text the scenario's note on
the event); the node signs it and sends it to the agreement's other parties, and the player
waits for their signed receipts before the replay goes on, so every later launch is decided
with the note held at both ends. ``lapse-2019`` has only the notice: it plays only the notice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from gsomia.cli.cmd_note import ACT_WORDS, NodeApi, consequence_words
from gsomia.clock import ScaledClock, SystemClock
from gsomia.domain.agreements import AgreementEvent
from gsomia.domain.instants import format_instant, parse_instant
from gsomia.domain.replay import cast_of
from gsomia.domain.scenario import Scenario
from gsomia.errors import GsomiaError
from gsomia.node.config import toml_value

#: The overlay the nodes load with live notes, in the demo's data directory.
LIVE_SCENARIO = "scenario-live.toml"
#: Wall seconds the player waits for the receipts of a note it gave.
RECEIPT_WAIT = 20.0


def live_events(scenario: Scenario) -> tuple[AgreementEvent, ...]:
    """The events the demo gives as notes: those of the agreements between exactly the
    replay's originators (KOR and JPN with the shipped scenarios), in order."""
    originators = set(cast_of(scenario).originators)
    found = [e for a in scenario.agreements if set(a.parties) == originators for e in a.events]
    return tuple(sorted(found, key=lambda e: (e.at, e.id)))


def without_events(scenario: Scenario, events: Sequence[AgreementEvent]) -> Scenario:
    """``scenario`` without ``events``: what the nodes start from with live notes."""
    gone = {e.id for e in events}
    agreements = tuple(
        replace(a, events=tuple(e for e in a.events if e.id not in gone))
        for a in scenario.agreements
    )
    return replace(scenario, agreements=agreements)


def live_scenario_text(scenario_ref: str, events: Sequence[AgreementEvent]) -> str:
    """The overlay the nodes load: ``scenario_ref`` (a built-in's name or a file, made
    absolute) without ``events``."""
    base = scenario_ref
    if base.endswith(".toml") or "/" in base or Path(base).exists():
        base = str(Path(base).resolve())
    return "\n".join(
        [
            "# written by gsomia demo: the scenario without the events its authorities give as",
            "# diplomatic notes during the replay (do not edit; the demo writes it again)",
            "format = 1",
            f"extends = {toml_value(base)}",
            f"drop_events = {toml_value([e.id for e in events])}",
            "",
        ]
    )


def _key(agreement: str, event: str, at: datetime) -> tuple[str, str, float]:
    return agreement, event, at.timestamp()


@dataclass
class NotePlayer:
    """Gives ``events`` as notes, each by its party's authority (``apis``), when the simulated
    clock ``sim`` reaches it; the parties of each agreement are ``parties``."""

    events: Sequence[AgreementEvent]
    apis: Mapping[str, NodeApi]
    parties: Mapping[str, Collection[str]]
    sim: ScaledClock
    say: Callable[[str], None]
    given: set[tuple[str, str, float]] = field(default_factory=set)

    def held(self, client: httpx.Client) -> None:
        """Learn which of the events the giving nodes hold as notes already (a resumed demo)."""
        for party in sorted({e.party for e in self.events}):
            for note in self.apis[party].notes(client=client):
                try:
                    at = parse_instant(str(note.get("at")), "note.at")
                except GsomiaError:
                    continue
                self.given.add(_key(str(note.get("agreement")), str(note.get("event")), at))

    def pending(self) -> list[AgreementEvent]:
        return [e for e in self.events if _key(e.agreement, e.kind.value, e.at) not in self.given]

    def play_until(self, instant: datetime | None, client: httpx.Client) -> None:
        """Give every pending event at or before ``instant`` (all when None), each at its
        instant on the simulated clock."""
        for event in self.pending():
            if instant is not None and event.at > instant:
                return
            # weighed before its instant comes: once it has, the note goes at once (a node
            # refuses a note dated more than a few wall seconds before its now)
            consequence = self.weigh(event, client)
            wait = (event.at - self.sim.now()).total_seconds() / self.sim.speed
            if wait > 0:
                time.sleep(wait)
            self.give(event, client, consequence)

    def weigh(self, event: AgreementEvent, client: httpx.Client) -> str:
        """What ``event``'s act will bring about, in plain words ("" if the node cannot say)."""
        params = {
            "agreement": event.agreement,
            "event": event.kind.value,
            "at": format_instant(event.at),
        }
        try:
            answer = self.apis[event.party].call(
                "GET", "/native/v1/notes/consequence", expect=200, params=params, client=client
            )
        except GsomiaError:
            return ""
        return consequence_words(answer)

    def give(self, event: AgreementEvent, client: httpx.Client, consequence: str = "") -> None:
        api = self.apis[event.party]
        at = format_instant(event.at)
        what = f"{ACT_WORDS[event.kind.value]} of {event.agreement}"
        self.given.add(_key(event.agreement, event.kind.value, event.at))
        body = {"agreement": event.agreement, "event": event.kind.value, "at": at}
        if event.note:
            body["text"] = event.note
        try:
            note = api.give(body, client=client)
        except GsomiaError as exc:
            self.say(f"{event.party} could not give {what} at {at}: {exc}")
            return
        others = sorted(p for p in self.parties.get(event.agreement, ()) if p != event.party)
        receipts = self._receipts(api, note, others, client)
        heard = "; ".join(
            f"{p} received it (receipt {receipts[p]})"
            if p in receipts
            else f"{p} has not acknowledged it yet (the outbox retries)"
            for p in others
        )
        self.say(f"{event.party} gives {what} at {at} → {heard or 'no other party'}")
        if consequence:
            self.say(f"  {consequence}")

    def _receipts(
        self, api: NodeApi, note: dict[str, Any], others: list[str], client: httpx.Client
    ) -> dict[str, str]:
        """The receipt instant of each of ``others`` for ``note``, waited for (RECEIPT_WAIT)."""
        deadline = SystemClock().monotonic() + RECEIPT_WAIT
        agreement = str(note.get("agreement"))
        while True:
            found: dict[str, str] = {}
            try:
                held = api.notes(agreement, client=client)
            except GsomiaError:
                held = []
            for n in held:
                if n.get("id") == note.get("id") and isinstance(n.get("receipts"), dict):
                    for party, receipt in n["receipts"].items():
                        at = receipt.get("at") if isinstance(receipt, dict) else None
                        found[str(party)] = str(at or "?")
            if all(p in found for p in others) or SystemClock().monotonic() > deadline:
                return found
            time.sleep(0.05)
