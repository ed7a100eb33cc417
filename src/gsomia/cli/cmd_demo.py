"""``gsomia demo``: the three nodes and the replay, as a person runs them."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from gsomia.errors import BadInput

DEFAULT_SPEED = 500_000.0  # a decade in about twelve minutes


def cmd_demo(
    scenario_ref: str = typer.Option(
        "historical", "--scenario", help="historical, lapse-2019 or a TOML file."
    ),
    data: Path = typer.Option(Path("demo-data"), "--data", help="Where the demo keeps its state."),
    port_base: int = typer.Option(8701, "--port-base", help="KOR, JPN, USA listen on N, N+1, N+2."),
    speed: float = typer.Option(
        DEFAULT_SPEED, "--speed", help="Simulated seconds per real second."
    ),
    no_replay: bool = typer.Option(False, "--no-replay", help="Start the nodes only (real clock)."),
    store: str | None = typer.Option(
        None,
        "--store",
        help="postgresql://HOST[:PORT]/DBNAME: the nodes' stores in that database, one schema "
        "each (demo_kor, demo_jpn, demo_usa); kept on resume. Default: a SQLite file per node.",
    ),
    tls: bool = typer.Option(
        False,
        "--tls",
        help="HTTPS (TLS 1.3) with mutual TLS between the nodes: a demo CA and a certificate "
        "per node in DATA/tls/, the CA's path in demo.json.",
    ),
    live_notes: bool | None = typer.Option(
        None,
        "--live-notes/--no-live-notes",
        help="Start the nodes without the Japan–ROK GSOMIA's events and have KOR's authority "
        "give them as signed diplomatic notes when the replay's clock reaches them (default "
        "with the replay); --no-live-notes: the nodes read them from the scenario file. A "
        "resumed demo keeps how it was started.",
        show_default=False,
    ),
) -> None:
    """Start KOR, JPN and USA nodes on 127.0.0.1 and replay the CNS launches through them."""
    import signal

    from gsomia.cli import demo, demo_notes
    from gsomia.scenarios import load_scenario

    def on_term(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    os.umask(0o077)  # every file the demo and its nodes write: owner-only
    if not 1024 <= port_base <= 65533:
        raise BadInput("--port-base: expected a port between 1024 and 65533")
    if not speed > 0:
        raise BadInput("--speed: expected a positive number")
    live = demo.live_notes_mode(data, live_notes, replay=not no_replay)
    nodes = demo.prepare(data, scenario_ref, port_base, store, tls=tls, live_notes=live)
    scenario = load_scenario(scenario_ref)
    launches = () if no_replay else demo.remaining_launches(data, scenario)
    sim = None if no_replay else demo.simulated_clock(launches, speed)

    def say(text: str) -> None:
        print(text, flush=True)

    with demo.running(nodes, data, sim):
        say(f"gsomia demo: scenario {scenario_ref}; state and credentials in {data}/demo.json")
        if any(node.key_file is not None for node in nodes.values()):
            say(
                f"  keys protected by random key files {data}/<PARTY>.key (owner-only; set "
                "GSOMIA_PASSPHRASE, 12+ characters, to use a passphrase instead)"
            )
        if tls:
            say(f"  HTTPS with mutual TLS between the nodes; clients trust {data}/tls/ca.crt")
        for party, node in nodes.items():
            say(f"  {party}: console {node.url}/console/  TAXII {node.url}/taxii2/")
            say(f"       analyst token {node.analyst}  admin token {node.admin}")
            say(f"       authority token {node.authority}")
        if live:
            events = demo_notes.live_events(scenario)
            say(
                f"  live notes: the nodes start without {len(events)} agreement event"
                f"{'' if len(events) == 1 else 's'}; their authorities give them as notes "
                "when the replay reaches them"
            )
        try:
            if launches and sim is not None:
                first = launches[0].instant.date()
                say(f"replaying {len(launches)} launches from {first} at {speed:g}x speed")
                demo.replay_launches(nodes, launches, sim, data, say, scenario, live_notes=live)
                say("replay complete")
            say("nodes running; Ctrl-C stops them")
            demo.wait_while_running(nodes)
            raise BadInput(f"a node stopped; see its log in {data}")
        except KeyboardInterrupt:
            print("stopping the nodes", file=sys.stderr)


def register(app: typer.Typer) -> None:
    app.command("demo")(cmd_demo)
