"""Running a party's node: ``gsomia serve``, ``gsomia node token``, ``gsomia node migrate``,
``gsomia node register``, ``gsomia node destroy``."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from gsomia.cli import cmd_deploy, cmd_inventory
from gsomia.cli._common import JSON_OPTION, emit_json
from gsomia.cli.cmd_destroy import cmd_destroy
from gsomia.cli.cmd_tls import cmd_tls_init
from gsomia.errors import BadInput

if TYPE_CHECKING:
    from gsomia.clock import Clock
    from gsomia.node.config import NodeConfig

node_app = typer.Typer(help="Set up a party's node.", no_args_is_help=True)


def cmd_serve(
    config_path: Path = typer.Option(..., "--config", help="The node's TOML configuration."),
    key_file: Path | None = typer.Option(None, "--key-file", help="Key file protecting the keys."),
    log_level: str = typer.Option("warning", "--log-level", help="uvicorn log level."),
    workers: int = typer.Option(
        1,
        "--workers",
        help="Worker processes serving the node (1 to 64); more than one needs the store on "
        "PostgreSQL and the bus on NATS.",
    ),
    listen: str | None = typer.Option(
        None, "--listen", help="HOST:PORT to listen on instead of the config's listen address."
    ),
    listen_fd: int | None = typer.Option(
        None, "--listen-fd", help="Worker: serve on this inherited listening socket.", hidden=True
    ),
    sim_start: str | None = typer.Option(
        None, "--sim-start", help="Replay: the simulated instant at --sim-wall.", hidden=True
    ),
    sim_wall: str | None = typer.Option(
        None, "--sim-wall", help="Replay: wall instant.", hidden=True
    ),
    sim_speed: float = typer.Option(1.0, "--sim-speed", help="Replay: clock speed.", hidden=True),
) -> None:
    """Run the node: TAXII 2.1 for its users, until Ctrl-C.

    The keys are opened with GSOMIA_PASSPHRASE (at least 12 characters) or --key-file; a node
    with neither does not start. Every file it writes is owner-only (umask 077). With a [tls]
    table it serves HTTPS (TLS 1.3), its TLS key opened with the same passphrase or key file.
    With --workers N the command binds the listening socket and supervises N worker processes on
    it, restarting any that dies; SIGTERM or Ctrl-C stops them all.
    """
    from dataclasses import replace

    from gsomia.app import supervise
    from gsomia.app.boot import load_config
    from gsomia.clock import ScaledClock, SystemClock
    from gsomia.domain.instants import parse_instant

    os.umask(0o077)
    clock: Clock = SystemClock()
    if sim_start is not None or sim_wall is not None:
        if sim_start is None or sim_wall is None or not sim_speed > 0:
            raise BadInput("--sim-start, --sim-wall and a positive --sim-speed go together")
        clock = ScaledClock(
            parse_instant(sim_start, "--sim-start"),
            parse_instant(sim_wall, "--sim-wall"),
            sim_speed,
        )
    if log_level not in ("critical", "error", "warning", "info", "debug"):
        raise BadInput(f"--log-level: unknown level {log_level!r}")
    config = load_config(config_path)
    if listen is not None:
        host, port = supervise.parse_listen(listen)
        config = replace(config, host=host, port=port)
    supervise.check_workers(config, workers)
    if workers > 1:
        if listen_fd is not None:
            raise BadInput("--listen-fd is for a worker: it serves alone (no --workers)")
        supervise.check_store(config, key_file=key_file)
        listener = supervise.listen_socket(config.host, config.port)
        logging.basicConfig(
            level=log_level.upper(), format="%(levelname)s:     %(message)s", stream=sys.stderr
        )
        print(
            f"gsomia node {config.party} on {config.scheme}://{config.host}:{config.port}/taxii2/ "
            f"(scenario {config.scenario}, {workers} workers)",
            file=sys.stderr,
        )
        command = [*supervise.WORKER_COMMAND, "serve", "--config", str(config_path)]
        host = f"[{config.host}]" if ":" in config.host else config.host
        command += ["--listen", f"{host}:{config.port}", "--log-level", log_level]
        command += [] if key_file is None else ["--key-file", str(key_file)]
        if sim_start is not None and sim_wall is not None:
            command += ["--sim-start", sim_start, "--sim-wall", sim_wall]
            command += ["--sim-speed", repr(sim_speed)]
        raise typer.Exit(supervise.Supervisor(command, workers, listener).run())
    _serve_one(config, key_file=key_file, clock=clock, log_level=log_level, fd=listen_fd)


def _serve_one(
    config: NodeConfig, *, key_file: Path | None, clock: Clock, log_level: str, fd: int | None
) -> None:
    """Open the node and serve it in this process (alone, or as a worker on socket ``fd``)."""
    from gsomia.api.server import make_server
    from gsomia.app import supervise
    from gsomia.app.asgi import create_app
    from gsomia.app.boot import open_node
    from gsomia.app.pki import tls_password
    from gsomia.seal.keys import passphrase_from_env

    if fd is not None:
        supervise.inherited_listener(fd)
        supervise.follow_parent()
    node = open_node(config, key_file=key_file, clock=clock)
    node.start_refresher()  # other workers of this node write notes and peers' states too
    password = tls_password(passphrase=passphrase_from_env(), key_file=key_file)
    app = create_app(node, tls_password=password)
    server = make_server(app, config, log_level=log_level, fd=fd, tls_password=password)
    where = f"{config.scheme}://{config.host}:{config.port}/taxii2/"
    who = "" if fd is None else f" (worker pid {os.getpid()})"
    print(
        f"gsomia node {config.party} on {where} (scenario {node.scenario.name}){who}",
        file=sys.stderr,
    )
    try:
        server.run()
    finally:
        node.close()


def cmd_token(
    name: str = typer.Option(..., "--name", help="The user's name."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Make a new API token and print it with the line to put in node.toml (shown once)."""
    from gsomia.node.config import new_token, token_digest

    token = new_token()
    digest = token_digest(token)
    if as_json:
        emit_json({"name": name, "token": token, "token_sha256": digest})
        return
    print(f"token for {name} (shown once; give it to the user): {token}")
    print(f'in node.toml, under [[users]] name = "{name}": token_sha256 = "{digest}"')


def cmd_migrate(
    config_path: Path = typer.Option(..., "--config", help="The node's TOML configuration."),
    key_file: Path | None = typer.Option(None, "--key-file", help="Key file protecting the keys."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Bring the node's store to the schema this gsomia writes (the node stopped first).

    The missing steps run in one transaction: all of them, or none. A store newer than this
    gsomia is refused. The keys are opened as `gsomia serve` opens them (a store written before
    encryption at rest is encrypted by the migration).
    """
    from gsomia.app.boot import load_config, migrate_node
    from gsomia.store.ports import NODE_SCHEMA_VERSION

    os.umask(0o077)
    config = load_config(config_path)
    change = migrate_node(config, key_file=key_file)
    before, after = change or (NODE_SCHEMA_VERSION, NODE_SCHEMA_VERSION)
    if as_json:
        emit_json({"party": config.party, "from": before, "to": after, "migrated": bool(change)})
        return
    if change is None:
        print(f"node {config.party}: store schema {after}, up to date")
    else:
        print(f"node {config.party}: store migrated from schema {before} to {after}")


def cmd_register(
    config_path: Path = typer.Option(..., "--config", help="The node's TOML configuration."),
    key_file: Path | None = typer.Option(None, "--key-file", help="Key file protecting the keys."),
    verify: bool = typer.Option(
        False,
        "--verify",
        help="Recompute the register of accesses and compare it with every register.root "
        "the node's log holds (exit 3 on a difference, naming the records).",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """The node's register (DOMAIN.md §7.3, Art. 6(e)): its users with their clearance,
    need-to-know and purposes, and each one's latest recorded access to an item's content.

    With --verify, the record of accesses is checked instead: its Merkle tree recomputed from
    every record and compared with the roots the node logged on its checkpoint schedule; the
    log itself is verified first. The store is read only; the node may be running. The keys are
    opened as `gsomia serve` opens them (GSOMIA_PASSPHRASE or --key-file).
    """
    from gsomia.app.boot import load_config, open_node
    from gsomia.node import register as node_register

    config = load_config(config_path)
    node = open_node(config, key_file=key_file, verify_log=verify)
    try:
        if verify:
            check = node_register.verify(node)
            if as_json:
                emit_json(check.to_json())
                return
            root = check.last_root
            print(
                f"register of {check.party} verified: {check.records} records, "
                f"{check.roots} roots logged"
                + ("" if root is None else f", the last at log entry {root.entry}")
                + f"; {check.records - check.verified_size} records not yet under a logged root"
            )
            return
        found = node_register.register(node, None)
    finally:
        node.close()
    if as_json:
        emit_json(found.to_json())
        return
    print(f"register of {found.party}: {len(found.users)} users, {found.records} accesses recorded")
    for u in found.users:
        last = "none" if u.last_access is None else f"{u.last_access.at} ({u.last_access.route})"
        print(
            f"{u.name}: {u.role}, clearance {u.level} ({u.equivalence}), "
            f"need-to-know {', '.join(u.need_to_know) or 'none'}, "
            f"purposes {', '.join(u.purposes)}; last access {last}"
        )


def register(app: typer.Typer) -> None:
    app.command("serve")(cmd_serve)
    node_app.command("token")(cmd_token)
    node_app.command("register")(cmd_register)
    node_app.command("migrate")(cmd_migrate)
    node_app.command("tls-init")(cmd_tls_init)
    node_app.command("destroy")(cmd_destroy)
    cmd_deploy.register(node_app)
    cmd_inventory.register(node_app)
    app.add_typer(node_app, name="node")
