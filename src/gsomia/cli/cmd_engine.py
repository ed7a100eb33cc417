"""The agreement engine's commands: decide, access, agreements, timeline, replay."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from gsomia.cli._common import JSON_OPTION, emit_json, read_json_file
from gsomia.clock import SystemClock
from gsomia.data.launches import load_launches
from gsomia.domain.access import Approval, Clearance, decide_access, provided_for
from gsomia.domain.agreements import State, status_at
from gsomia.domain.consents import Consent
from gsomia.domain.instants import format_instant, parse_instant
from gsomia.domain.labels import Label
from gsomia.domain.purposes import parse_purposes
from gsomia.domain.release import decide
from gsomia.domain.replay import cast_of, replay, summarize
from gsomia.domain.timeline import EntryKind, timeline
from gsomia.domain.topics import parse_topic
from gsomia.errors import BadInput
from gsomia.scenarios import load_scenario

if TYPE_CHECKING:
    from gsomia.domain.replay import ReportOutcome
    from gsomia.domain.scenario import Scenario

SCENARIO_OPTION = typer.Option(
    "historical", "--scenario", help="A built-in scenario (historical, lapse-2019) or a TOML file."
)


def _console() -> Console:
    return Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 200)


def _parse_date(text: str | None, where: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadInput(f"{where}: {text!r} is not a date (YYYY-MM-DD)") from None


def cmd_decide(
    label_file: Path = typer.Argument(..., metavar="LABEL.json", help="The item's label."),
    holder: str = typer.Option(..., "--from", help="The holding party (e.g. KOR)."),
    recipient: str = typer.Option(..., "--to", help="The receiving party (e.g. JPN)."),
    at: str = typer.Option(..., "--at", help="ISO 8601 time with a UTC offset."),
    scenario_ref: str = SCENARIO_OPTION,
    consents_file: Path | None = typer.Option(
        None,
        "--consents",
        help=(
            "JSON array of consents {item, recipient, granted_at, expires_at?, originator?} "
            "(originator: a derived item's source originator)."
        ),
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """May HOLDER pass the item to RECIPIENT at TIME? The decision, and why."""
    instant = parse_instant(at, "--at")
    scenario = load_scenario(scenario_ref)
    label = Label.from_json(
        read_json_file(label_file, "label file"),
        where=f"label file {label_file}",
        scenario=scenario,
    )
    consents: list[Consent] = []
    if consents_file is not None:
        raw = read_json_file(consents_file, "consents file")
        if not isinstance(raw, list):
            raise BadInput(f"consents file {consents_file}: expected a JSON array of consents")
        consents = [
            Consent.from_json(
                c,
                where=f"consents file {consents_file}: [{i}]",
                originator_of={label.id: label.originator},
                sources_of={label.id: tuple(s.originator for s in label.derived_from)},
            )
            for i, c in enumerate(raw)
        ]
    for where, party in (("--from", holder), ("--to", recipient)):
        scenario.policy(party, where=where)
    decision = decide(
        scenario, label, holder=holder, recipient=recipient, at=instant, consents=consents
    )
    if as_json:
        emit_json(decision.to_json())
        return
    out = _console()
    verdict = "[bold green]ALLOW[/]" if decision.allowed else "[bold red]DENY[/]"
    out.print(
        f"{verdict}  {label.id}: {holder} → {recipient} at {format_instant(instant)} "
        f"(scenario {scenario.name})",
        soft_wrap=True,
    )
    if decision.recipient_marking is not None:
        m = decision.recipient_marking
        out.print(
            f"  marking at {m.party}: {m.level} ({m.native}) — class {m.equivalence.value}, "
            f"originator {m.originator}"
        )
    if decision.agreements:
        out.print(f"  under: {', '.join(decision.agreements)}")
    for reason in decision.reasons:
        out.print(f"  - {reason}", markup=False, soft_wrap=True)


def _list_option(text: str, where: str) -> list[str]:
    """A comma-separated option as a list (empty entries are bad input)."""
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or not all(parts):
        raise BadInput(f"{where}: expected a comma-separated list, e.g. defense,defense.warning")
    return parts


def cmd_access(
    label_file: Path = typer.Argument(..., metavar="LABEL.json", help="The item's label."),
    party: str = typer.Option(..., "--party", help="The holding party, whose user reads."),
    clearance: str = typer.Option(..., "--clearance", help="A level of the party's policy."),
    need_to_know: str = typer.Option(
        ..., "--need-to-know", help="The user's duties: topics, comma-separated."
    ),
    purposes: str = typer.Option(
        ..., "--purposes", help="The purposes of the user's duties, comma-separated."
    ),
    approvals_file: Path | None = typer.Option(
        None,
        "--approvals",
        help="JSON array of the originator's approvals {item, purpose, granted_at, expires_at?}.",
    ),
    standing: bool = typer.Option(
        False,
        "--standing",
        help="The item reached the party on standing consent (defense.warning only).",
    ),
    scenario_ref: str = SCENARIO_OPTION,
    at: str | None = typer.Option(
        None, "--at", help="ISO 8601 time with a UTC offset (default: now); approvals in force."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """May a user of PARTY read the item's content? Clearance, need-to-know and purpose."""
    instant = parse_instant(at, "--at") if at is not None else SystemClock().now()
    scenario = load_scenario(scenario_ref)
    label = Label.from_json(
        read_json_file(label_file, "label file"),
        where=f"label file {label_file}",
        scenario=scenario,
    )
    policy = scenario.policy(party, where="--party")
    duties = tuple(
        parse_topic(t, f"--need-to-know[{i}]")
        for i, t in enumerate(_list_option(need_to_know, "--need-to-know"))
    )
    serves = parse_purposes(_list_option(purposes, "--purposes"), "--purposes", scenario.purposes)
    user = Clearance.of("reader", policy, clearance, duties, purposes=serves)
    approvals: list[Approval] = []
    if approvals_file is not None:
        raw = read_json_file(approvals_file, "approvals file")
        if not isinstance(raw, list):
            raise BadInput(f"approvals file {approvals_file}: expected a JSON array of approvals")
        approvals = [
            Approval.from_json(
                a, where=f"approvals file {approvals_file}: [{i}]", vocabulary=scenario.purposes
            )
            for i, a in enumerate(raw)
        ]
    own = party == label.originator
    if own and standing:
        raise BadInput(f"--standing: {party} originated the item; it reached no one's hands")
    provided = (
        None
        if own
        else provided_for(
            label.purposes, standing=standing, approvals=approvals, item=label.id, at=instant
        )
    )
    equivalence = scenario.policy(label.originator).level(label.classification).equivalence
    decision = decide_access(
        user, party=party, equivalence=equivalence, topics=label.topics, purposes=provided
    )
    if as_json:
        emit_json(
            {
                "item": label.id,
                "party": party,
                "at": format_instant(instant),
                **decision.to_json(),
                "user_purposes": list(serves),
                "standing_consent": standing,
            }
        )
        return
    out = _console()
    verdict = "[bold green]ALLOW[/]" if decision.allowed else "[bold red]DENY[/]"
    out.print(
        f"{verdict}  {label.id}: read at {party} by a user cleared {user.level} "
        f"({user.equivalence.value}) at {format_instant(instant)} (scenario {scenario.name})",
        soft_wrap=True,
    )
    if provided is None:
        out.print(f"  {party} originated it: clearance and need-to-know alone bind its users")
    else:
        limit = " (standing consent: defense.warning only)" if standing else ""
        out.print(f"  provided at {party} for: {', '.join(provided)}{limit}", markup=False)
    for reason in decision.reasons:
        out.print(f"  - {reason}", markup=False, soft_wrap=True)


def cmd_agreements(
    scenario_ref: str = SCENARIO_OPTION,
    at: str | None = typer.Option(None, "--at", help="ISO 8601 time with offset (default: now)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Each agreement's state at an instant: in force, notices, next anniversary, deadline, end."""
    instant = parse_instant(at, "--at") if at is not None else SystemClock().now()
    scenario = load_scenario(scenario_ref)
    statuses = [status_at(a, instant) for a in scenario.agreements]
    if as_json:
        emit_json([s.to_json() for s in statuses])
        return
    table = Table(title=f"Agreements at {format_instant(instant)}, scenario {scenario.name}")
    table.add_column("agreement", no_wrap=True)
    for col in ("parties", "state", "notice", "next anniversary", "notice deadline", "ends"):
        table.add_column(col, no_wrap=True)
    style = {State.IN_FORCE: "green", State.ENDED: "red", State.PENDING: "yellow"}
    for s in statuses:
        notice = "—" if s.notice is None else f"{s.notice.status.value} {s.notice.given.date()}"
        table.add_row(
            s.agreement.id,
            "-".join(sorted(s.agreement.parties)),
            f"[{style[s.state]}]{s.state.value}[/]",
            notice,
            _short(s.next_anniversary),
            _short(s.notice_deadline),
            _short(s.ends),
        )
    _console().print(table)


def cmd_timeline(
    scenario_ref: str = SCENARIO_OPTION,
    until: str | None = typer.Option(
        None, "--until", help="Show anniversaries up to this time (default: a year from now)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Every event and state change in order, each anniversary with its notice deadline."""
    limit = (
        parse_instant(until, "--until")
        if until is not None
        else SystemClock().now() + timedelta(days=366)
    )
    scenario = load_scenario(scenario_ref)
    entries = timeline(scenario, until=limit)
    if as_json:
        emit_json(
            {
                "scenario": scenario.name,
                "until": format_instant(limit),
                "entries": [e.to_json() for e in entries],
            }
        )
        return
    table = Table(title=f"Timeline — scenario {scenario.name}: {scenario.title}")
    table.add_column("when")
    table.add_column("agreement")
    table.add_column("what")
    marks = {
        EntryKind.NOTICE_DEADLINE: "[bold yellow]⏰ ",
        EntryKind.NOTICE: "[bold red]✉ ",
        EntryKind.SUSPEND: "[bold cyan]⏸ ",
        EntryKind.WITHDRAW: "[bold green]↩ ",
        EntryKind.END: "[bold red]■ ",
        EntryKind.START: "[bold green]▶ ",
        EntryKind.ANNIVERSARY: "[dim]↻ ",
    }
    for e in entries:
        text = e.text.replace("[", r"\[")
        table.add_row(_short(e.at), e.agreement, f"{marks[e.kind]}{text}[/]")
    _console().print(table)


def cmd_replay(
    scenario_ref: str = SCENARIO_OPTION,
    from_date: str | None = typer.Option(None, "--from", help="First launch date (YYYY-MM-DD)."),
    to_date: str | None = typer.Option(None, "--to", help="Last launch date (YYYY-MM-DD)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Replay the CNS launches since TISA: who could share each report, directly or via USA."""
    since = _parse_date(from_date, "--from")
    until = _parse_date(to_date, "--to")
    if since is not None and until is not None and until < since:
        raise BadInput(f"--to {until} is before --from {since}")
    scenario = load_scenario(scenario_ref)
    start = cast_of(scenario).start.date()
    first = max(since, start) if since is not None else start
    launches = load_launches(since=first, until=until)
    by_id = {launch.id: launch for launch in launches}
    outcomes = _run_replay(scenario, launches, show_progress=not as_json)
    years = summarize(outcomes)
    if as_json:
        emit_json(
            {
                "scenario": scenario.name,
                "from": first.isoformat(),
                "to": None if until is None else until.isoformat(),
                "reports": [_outcome_json(o) for o in outcomes],
                "summary": [y.to_json() for y in years],
            }
        )
        return
    out = _console()
    table = Table(
        title=f"Replay — scenario {scenario.name}: reports of each launch, and where they may go"
    )
    for col in ("launch (UTC)", "missile", "report", "→ direct", "→ USA", "USA → onward"):
        table.add_column(col)
    for o in outcomes:
        launch = by_id[o.launch_id]
        third = o.third()
        onward = o.onward[third]
        consent = "standing" if onward.standing_under else "assumed"
        table.add_row(
            o.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
            if launch.time_known
            else launch.date.isoformat() + " (time unknown)",
            f"{launch.missile_name} ×{launch.count}" if launch.count > 1 else launch.missile_name,
            f"{o.originator} {o.label.classification}",
            _mark(o.direct[third].allowed, third),
            _mark(o.direct["USA"].allowed, "USA"),
            _mark(onward.decision.allowed, third) + f" ({consent} consent)",
        )
    out.print(table)
    summary = Table(title=f"Per year (KST) — scenario {scenario.name}")
    for col in (
        "year",
        "launches",
        "reports",
        "KOR→JPN direct",
        "KOR→JPN only via USA",
        "JPN→KOR direct",
        "JPN→KOR only via USA",
        "not shared",
    ):
        summary.add_column(col, justify="right")
    for y in years:
        summary.add_row(*(str(v) for v in y.to_json().values()))
    out.print(summary)


def _short(value: datetime | None) -> str:
    """2019-11-23 00:00+09:00: minutes and offset, for tables."""
    if value is None:
        return "—"
    text = value.strftime("%Y-%m-%d %H:%M%z")
    return text[:-2] + ":" + text[-2:]


def _mark(allowed: bool, party: str) -> str:
    return f"[green]✓ {party}[/]" if allowed else f"[red]✗ {party}[/]"


def _run_replay(scenario: Scenario, launches: tuple, show_progress: bool) -> list[ReportOutcome]:  # type: ignore[type-arg]
    if not (show_progress and sys.stderr.isatty()):
        return list(replay(scenario, launches))
    from rich.progress import Progress

    outcomes: list[ReportOutcome] = []
    with Progress(console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(f"replaying {len(launches)} launches", total=len(launches))
        for launch in launches:
            outcomes.extend(replay(scenario, (launch,)))
            progress.advance(task)
    return outcomes


def _outcome_json(o: ReportOutcome) -> dict[str, object]:
    third = o.third()
    onward = o.onward[third]
    return {
        "launch": o.launch_id,
        "at": format_instant(o.at),
        "label": o.label.to_json(),
        "direct": {r: d.to_json() for r, d in o.direct.items()},
        "onward": {
            "holder": "USA",
            "recipient": third,
            "consent": onward.consent.value,
            "standing_under": onward.standing_under,
            "decision": onward.decision.to_json(),
        },
    }


def register(app: typer.Typer) -> None:
    app.command("decide")(cmd_decide)
    app.command("access")(cmd_access)
    app.command("agreements")(cmd_agreements)
    app.command("timeline")(cmd_timeline)
    app.command("replay")(cmd_replay)
