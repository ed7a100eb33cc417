"""Release decisions per second: gsomia's decide() against the same rules as Cedar policies.

Issue 2 §6. The workload is the replay's: every CNS launch event from the start of TISA
(2014-12-29T00:00+09:00) on; for each, the reports KOR and JPN originate (gsomia.domain.replay's
labels: their SECRET-class level, releasable to the other two, topic dprk.missile or, from the
missile-warning link on, dprk.missile.warning); for each report the decision for each other
party directly (holder = originator), and onward from USA to the third party with the
originator's consent granted at the launch instant (none where a standing consent applies, as
in the replay). Every decision at the launch instant, in both built-in scenarios.

The peer: DOMAIN.md §5 written as Cedar policies (bench/cedar/release.cedar, validated against
bench/cedar/release.cedarschema), evaluated with cedarpy's batch API on a pre-parsed PolicySet
and Entities; each request's context carries the agreements in force at its instant (computed
in Python before timing), the item's originator, level, releasability, topics and consent.

Before timing, Cedar must agree with gsomia on every request of the workload (allow or deny, and
for an allow the same allowing agreements), and on a wider set of requests that exercises every
rule; any disagreement stops the benchmark with exit status 1.

    .venv/bin/python bench/bench_decide.py [--repeat 7] [--min-time 0.3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import json
import platform
import pstats
import re
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cedarpy

from gsomia.data import load_launches
from gsomia.domain.consents import Consent
from gsomia.domain.labels import Label
from gsomia.domain.release import Decision, decide
from gsomia.domain.replay import cast_of
from gsomia.domain.scenario import Scenario
from gsomia.scenarios import BUILTIN, load_scenario

CEDAR_DIR = Path(__file__).parent / "cedar"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TARGET_RATE = 100_000
TARGET_RATIO = 10.0


@dataclass(frozen=True)
class Request:
    scenario: Scenario
    label: Label
    holder: str
    recipient: str
    at: datetime
    consents: tuple[Consent, ...]


# ---------------------------------------------------------------- the workload


def replay_workload(scenarios: Sequence[Scenario]) -> list[Request]:
    requests: list[Request] = []
    for scenario in scenarios:
        cast = cast_of(scenario)
        hub = cast.hub
        for launch in (e for e in load_launches() if e.instant >= cast.start):
            at = launch.instant
            for originator in cast.originators:
                label = cast.label(launch.id, originator, at)
                third = next(p for p in cast.originators if p != originator)
                requests.extend(
                    Request(scenario, label, originator, recipient, at, ())
                    for recipient in (third, hub)
                )
                standing = scenario.standing_consent(
                    label.topics, among=(originator, hub, third), at=at
                )
                consents = () if standing else (Consent(label.id, originator, third, at),)
                requests.append(Request(scenario, label, hub, third, at, consents))
    return requests


def rule_workload(scenarios: Sequence[Scenario]) -> list[Request]:
    """Requests that exercise every rule, for the agreement check only (not timed)."""
    instants = [
        datetime.fromisoformat(text)
        for text in (
            "2014-12-28T23:59:59+09:00",
            "2014-12-29T00:00+09:00",
            "2016-11-23T00:00+09:00",
            "2019-11-22T23:59:59+09:00",
            "2019-11-23T00:00+09:00",
            "2023-12-19T00:00+09:00",
        )
    ]
    topic_sets: list[tuple[str, ...]] = [
        (),
        ("dprk.missile",),
        ("dprk.missile.warning",),
        ("dprk.missile", "dprk.missile.warning"),
        ("dprk.nuclear",),
        ("dprk.missile", "weather"),
        ("dprk",),
    ]
    requests: list[Request] = []
    for scenario in scenarios:
        parties = sorted(scenario.policies)
        for originator in parties:
            others = [p for p in parties if p != originator]
            releasabilities = [(), tuple(others), *((p,) for p in others)]
            levels = [level.id for level in scenario.policy(originator).levels]
            for level, topics, rel, at in itertools.product(
                levels, topic_sets, releasabilities, instants
            ):
                label = Label(f"item-{originator}-{level}", originator, level, rel, topics)
                for holder, recipient in itertools.permutations(parties, 2):
                    variants = (
                        [()] if holder == originator else _consent_variants(label, recipient, at)
                    )
                    requests.extend(
                        Request(scenario, label, holder, recipient, at, consents)
                        for consents in variants
                    )
    return requests


def _consent_variants(label: Label, recipient: str, at: datetime) -> list[tuple[Consent, ...]]:
    hour = timedelta(hours=1)
    return [
        (),
        (Consent(label.id, label.originator, recipient, at),),
        (Consent(label.id, label.originator, recipient, at + hour),),  # not yet
        (Consent(label.id, label.originator, recipient, at - 2 * hour, at),),  # expired at AT
        (Consent(label.id, label.originator, recipient, at - 2 * hour, at + hour),),
    ]


# ---------------------------------------------------------------- gsomia


def decide_all(requests: Sequence[Request]) -> list[Decision]:
    return [
        decide(
            r.scenario,
            r.label,
            holder=r.holder,
            recipient=r.recipient,
            at=r.at,
            consents=r.consents,
        )
        for r in requests
    ]


# ---------------------------------------------------------------- Cedar


def _uid(kind: str, ident: str) -> dict[str, str]:
    return {"type": kind, "id": ident}


def _ref(kind: str, ident: str) -> dict[str, dict[str, str]]:
    return {"__entity": _uid(kind, ident)}


def _micros(at: datetime) -> int:
    return (at - EPOCH) // timedelta(microseconds=1)


def _within(topic: str, entry: str) -> bool:
    return topic == entry or topic.startswith(entry + ".")


def _closure(entries: Iterable[str], vocabulary: Iterable[str]) -> list[str]:
    entries = tuple(entries)
    return sorted(t for t in vocabulary if any(_within(t, e) for e in entries))


def cedar_entities(scenario: Scenario, vocabulary: set[str]) -> list[dict[str, Any]]:
    """Parties (each `in` its agreements), agreements and levels, as Cedar entities."""
    entities: list[dict[str, Any]] = []
    for party, policy in scenario.policies.items():
        parents = [_uid("Agreement", a.id) for a in scenario.agreements if party in a.parties]
        entities.append({"uid": _uid("Party", party), "attrs": {}, "parents": parents})
        entities.extend(
            {
                "uid": _uid("Level", f"{party}/{level.id}"),
                "attrs": {"party": _ref("Party", party), "equivalence": level.equivalence.value},
                "parents": [],
            }
            for level in policy.levels
        )
    for a in scenario.agreements:
        attrs: dict[str, Any] = {"classes": sorted(c.value for c in a.classes)}
        if a.hub is not None:
            attrs["hub"] = _ref("Party", a.hub)
        if a.scope is not None:
            attrs["scope_topics"] = _closure(a.scope, vocabulary)
        if a.standing_consent:
            attrs["standing_consent_parties"] = [_ref("Party", p) for p in sorted(a.parties)]
            attrs["standing_consent_topics"] = _closure(a.standing_consent, vocabulary)
        entities.append({"uid": _uid("Agreement", a.id), "attrs": attrs, "parents": []})
    return entities


def cedar_request(r: Request, in_force: list[dict[str, Any]]) -> dict[str, Any]:
    label = r.label
    context: dict[str, Any] = {
        "at": _micros(r.at),
        "in_force": in_force,
        "item": label.id,
        "originator": _ref("Party", label.originator),
        "level": _ref("Level", f"{label.originator}/{label.classification}"),
        "releasable_to": [_ref("Party", p) for p in label.releasable_to],
        "topics": list(label.topics),
    }
    mine = [c for c in r.consents if c.item == label.id and c.recipient == r.recipient]
    if len(mine) > 1:
        msg = f"{label.id} to {r.recipient}: the Cedar model takes at most one consent per request"
        raise SystemExit(msg)
    if mine:
        consent: dict[str, Any] = {
            "item": mine[0].item,
            "originator": _ref("Party", mine[0].originator),
            "recipient": _ref("Party", mine[0].recipient),
            "granted_at": _micros(mine[0].granted_at),
        }
        if mine[0].expires_at is not None:
            consent["expires_at"] = _micros(mine[0].expires_at)
        context["consent"] = consent
    return {
        "principal": _uid("Party", r.holder),
        "action": _uid("Action", "release"),
        "resource": _uid("Party", r.recipient),
        "context": context,
    }


@dataclass(frozen=True)
class CedarBatch:
    """One scenario's share of a workload, ready for cedarpy: parsed once, evaluated many times."""

    entities: cedarpy.Entities
    requests: list[dict[str, Any]]
    positions: list[int]  # where each request sits in the whole workload


def cedar_batches(requests: Sequence[Request]) -> list[CedarBatch]:
    vocabulary = {t for r in requests for t in r.label.topics}
    by_scenario: dict[str, tuple[Scenario, list[int]]] = {}
    for i, r in enumerate(requests):
        by_scenario.setdefault(r.scenario.name, (r.scenario, []))[1].append(i)
    batches: list[CedarBatch] = []
    for scenario, positions in by_scenario.values():
        vocabulary_here = vocabulary | {
            t for a in scenario.agreements for t in (*(a.scope or ()), *a.standing_consent)
        }
        entities = cedarpy.Entities.from_json_str(
            json.dumps(cedar_entities(scenario, vocabulary_here))
        )
        in_force_at: dict[datetime, list[dict[str, Any]]] = {}
        cedar_requests = []
        for i in positions:
            r = requests[i]
            if r.at not in in_force_at:  # the agreement state, computed before timing
                in_force_at[r.at] = [
                    _ref("Agreement", a.id) for a in scenario.agreements if a.in_force(r.at)
                ]
            cedar_requests.append(cedar_request(r, in_force_at[r.at]))
        batches.append(CedarBatch(entities, cedar_requests, positions))
    return batches


def cedar_all(policies: cedarpy.PolicySet, batches: Sequence[CedarBatch]) -> list[Any]:
    results: list[Any] = []
    for batch in batches:
        results.extend(cedarpy.is_authorized_batch(batch.requests, policies, batch.entities))
    return results


def load_policies(scenarios: Sequence[Scenario]) -> cedarpy.PolicySet:
    text = (CEDAR_DIR / "release.cedar").read_text(encoding="utf-8")
    schema = (CEDAR_DIR / "release.cedarschema").read_text(encoding="utf-8")
    validation = cedarpy.validate_policies(text, schema)
    if not validation.validation_passed:
        fail("release.cedar does not validate against release.cedarschema", validation.errors)
    permits = set(re.findall(r'@id\("([^"]+)"\)\s*permit', text))
    for scenario in scenarios:
        ids = {a.id for a in scenario.agreements}
        if permits != ids:
            fail(
                f"release.cedar has a permit for {sorted(permits)}, but scenario "
                f"{scenario.name!r} has the agreements {sorted(ids)}"
            )
        standing = {a.id for a in scenario.agreements if a.standing_consent}
        named = set(re.findall(r'Agreement::"([^"]+)" has standing_consent_parties', text))
        if standing != named:
            fail(f"release.cedar names {named} for standing consent, scenario has {standing}")
    return cedarpy.PolicySet.from_str(text)


# ---------------------------------------------------------------- agreement


def fail(message: str, details: object = None) -> None:
    print(f"FAIL: {message}", file=sys.stderr)
    if details is not None:
        print(f"  {details}", file=sys.stderr)
    raise SystemExit(1)


def check_agreement(
    what: str, requests: Sequence[Request], policies: cedarpy.PolicySet
) -> tuple[int, int]:
    """Compare every decision; exit 1 on the first disagreement. Returns (allows, denies)."""
    ours = decide_all(requests)
    batches = cedar_batches(requests)
    theirs: list[Any] = [None] * len(requests)
    for batch, results in zip(batches, (cedar_all(policies, [b]) for b in batches), strict=True):
        for position, result in zip(batch.positions, results, strict=True):
            theirs[position] = result
    for r, mine, peer in zip(requests, ours, theirs, strict=True):
        diagnostics = peer.diagnostics
        if diagnostics.errors:
            fail(f"{what}: Cedar reported errors", diagnostics.errors)
        named = diagnostics.id_annotations_by_reason
        peer_allows = sorted(named.get(reason, reason) for reason in diagnostics.reasons)
        if mine.allowed != peer.allowed or (
            mine.allowed and sorted(mine.agreements) != peer_allows
        ):
            fail(
                f"{what}: gsomia and Cedar disagree on {r.label} from {r.holder} to "
                f"{r.recipient} at {r.at.isoformat()} in {r.scenario.name} "
                f"with consents {r.consents}",
                f"gsomia: allowed={mine.allowed} {mine.agreements} {mine.reasons}; "
                f"cedar: allowed={peer.allowed} reasons={peer_allows}",
            )
    allows = sum(d.allowed for d in ours)
    return allows, len(ours) - allows


# ---------------------------------------------------------------- timing


def rate(run: Callable[[], object], decisions: int, min_time: float) -> tuple[float, float]:
    """Decisions per second of one repetition, as many runs as fill ``min_time``: by the wall
    clock (time.perf_counter), and by this process's CPU time (time.process_time), which a
    busy shared machine disturbs less."""
    runs, elapsed = 0, 0.0
    start, cpu_start = time.perf_counter(), time.process_time()
    while elapsed < min_time:
        run()
        runs += 1
        elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    return runs * decisions / elapsed, runs * decisions / cpu


def threads() -> int:
    """The OS threads of this process (cedarpy's batch call must not fan out to other cores)."""
    tasks = Path("/proc/self/task")
    return len(list(tasks.iterdir())) if tasks.exists() else threading.active_count()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="repetitions (median reported)")
    parser.add_argument("--min-time", type=float, default=0.3, help="seconds per repetition")
    parser.add_argument("--profile", action="store_true", help="profile gsomia's side and stop")
    args = parser.parse_args()

    scenarios = [load_scenario(name) for name in BUILTIN]
    workload = replay_workload(scenarios)
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(20):
            decide_all(workload)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        return 0

    policies = load_policies(scenarios)
    allows, denies = check_agreement("replay workload", workload, policies)
    rules = rule_workload(scenarios)
    rule_allows, rule_denies = check_agreement("rule workload", rules, policies)
    launches = len({r.label.id.rsplit("/", 1)[0] for r in workload})

    batches = cedar_batches(workload)
    n = len(workload)
    decide_all(workload)  # warm up both sides
    cedar_all(policies, batches)
    ours: list[tuple[float, float]] = []
    theirs: list[tuple[float, float]] = []
    for _ in range(args.repeat):  # interleaved, so both sides see the same machine
        ours.append(rate(lambda: decide_all(workload), n, args.min_time))
        theirs.append(rate(lambda: cedar_all(policies, batches), n, args.min_time))

    print(
        f"python {platform.python_version()}, cedarpy {_version('cedarpy')}, "
        f"one process, {threads()} OS thread(s)"
    )
    print(
        f"workload: {launches} launch events x 2 reports x 3 decisions x {len(scenarios)} "
        f"scenarios = {n} decisions ({allows} allow, {denies} deny)"
    )
    print(
        f"agreement: Cedar agrees with gsomia on all {n} workload decisions and on all "
        f"{len(rules)} rule-coverage decisions ({rule_allows} allow, {rule_denies} deny)"
    )
    print(f"repetitions: {args.repeat} x >= {args.min_time:g} s each side, interleaved; medians")
    for clock, index in (("wall clock (perf_counter)", 0), ("CPU time (process_time)", 1)):
        our = [r[index] for r in ours]
        their = [r[index] for r in theirs]
        ratios = [a / b for a, b in zip(our, their, strict=True)]
        our_rate, ratio = statistics.median(our), statistics.median(ratios)
        print(f"-- by {clock}")
        print(
            f"gsomia decide(): {our_rate:>10,.0f} decisions/s "
            f"(min {min(our):,.0f}, max {max(our):,.0f}); "
            f"target >= {TARGET_RATE:,}: {'met' if our_rate >= TARGET_RATE else 'MISSED'}"
        )
        print(
            f"cedarpy batch:   {statistics.median(their):>10,.0f} decisions/s "
            f"(min {min(their):,.0f}, max {max(their):,.0f})"
        )
        print(
            f"ratio gsomia/cedarpy: {ratio:.1f}x (median of per-repetition ratios, "
            f"{min(ratios):.1f}-{max(ratios):.1f}); "
            f"target >= {TARGET_RATIO:g}x: {'met' if ratio >= TARGET_RATIO else 'MISSED'}"
        )
    return 0


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


if __name__ == "__main__":
    sys.exit(main())
