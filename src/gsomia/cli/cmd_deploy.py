"""Setting up a node: ``gsomia node init``, ``gsomia node add-peer``, ``gsomia node check``.

``check`` exits 0 when every check passes, 3 when one fails (each is listed, ok or what is
wrong), and 2 when the config itself is bad (nothing else can be checked).
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from gsomia.cli._common import JSON_OPTION, emit_json
from gsomia.cli.cmd_keys import KEY_FILE_OPTION

CONFIG_OPTION = typer.Option(..., "--config", help="The node's TOML configuration.")


def cmd_init(
    party: str = typer.Option(..., "--party", help="The node's party (e.g. KOR)."),
    data: Path = typer.Option(..., "--data", help="The node's directory (node.toml, keys…)."),
    listen: str = typer.Option("127.0.0.1:8701", "--listen", help="HOST:PORT to listen on."),
    url: str | None = typer.Option(
        None, "--url", help="The URL peers reach the node at (default: from --listen)."
    ),
    store: str = typer.Option(
        "sqlite:///node.sqlite3", "--store", help="The store's URL (sqlite:///… or postgresql://…)."
    ),
    bus: str | None = typer.Option(
        None, "--bus", help="The bus's URL (nats://HOST:PORT); default: in-process."
    ),
    tls: bool = typer.Option(False, "--tls", help="Make TLS material (a private CA, a cert)."),
    scenario: str = typer.Option("historical", "--scenario", help="A scenario name or file."),
    admin: str = typer.Option("admin", "--admin", help="The first admin user's name."),
    need_to_know: str = typer.Option(
        "", "--need-to-know", help="The admin's topics, comma-separated (e.g. dprk)."
    ),
    force: bool = typer.Option(
        False, "--force", help="Write node.toml anew over an existing node (keys are kept)."
    ),
    key_file: Path | None = KEY_FILE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Set up a node in DATA: a commented node.toml, protected keys, with --tls the TLS
    material, a first admin (its token shown once) and the export to hand to peers.

    The keys are protected by GSOMIA_PASSPHRASE (at least 12 characters) or --key-file.
    """
    from gsomia.app.deploy import InitOptions, init_node
    from gsomia.seal.keys import passphrase_from_env

    os.umask(0o077)
    options = InitOptions(
        party=party,
        listen=listen,
        url=url,
        store=store,
        bus=bus,
        tls=tls,
        scenario=scenario,
        admin=admin,
        need_to_know=tuple(t.strip() for t in need_to_know.split(",") if t.strip()),
        force=force,
    )
    made = init_node(data, options, passphrase=passphrase_from_env(), key_file=key_file)
    if as_json:
        emit_json(
            {
                "party": made.party,
                "config": str(made.config),
                "export": str(made.export),
                "url": made.url,
                "key": made.key_id,
                "admin": {"name": made.admin, "token": made.token},
                "tls": None
                if made.tls is None
                else {
                    "cert": str(data / made.tls.cert),
                    "key": str(data / made.tls.key),
                    "ca": str(data / made.tls.ca),
                },
            }
        )
        return
    print(f"node {made.party} set up in {made.directory} (key {made.key_id}, {made.url})")
    print(f"  config: {made.config}")
    if made.tls is not None:
        print(f"  TLS:    {data / made.tls.cert}, CA {data / made.tls.ca}")
    print(f"  export: {made.export}  (hand it to each peer: `gsomia node add-peer EXPORT`)")
    print(f"admin token for {made.admin} (shown once; node.toml keeps its SHA-256): {made.token}")
    print(f"next: gsomia node check --config {made.config}")


def cmd_add_peer(
    export: Path = typer.Argument(..., metavar="EXPORT", help="A peer's `node init` export."),
    config_path: Path = CONFIG_OPTION,
    replace: bool = typer.Option(False, "--replace", help="Replace the party's peer table."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Add a peer to node.toml from its export: its keys, URL, pinned certificate and CA."""
    from gsomia.app.deploy import add_peer

    os.umask(0o077)
    added = add_peer(config_path, export, replace=replace)
    if as_json:
        emit_json(
            {
                "party": added.party,
                "url": added.url,
                "keys": str(added.keys),
                "cert": None if added.cert is None else str(added.cert),
                "ca": None if added.ca is None else str(added.ca),
                "replaced": added.replaced,
            }
        )
        return
    verb = "replaced" if added.replaced else "added"
    print(f"{verb} peer {added.party} at {added.url} in {config_path} (keys {added.keys})")


def cmd_check(
    config_path: Path = CONFIG_OPTION,
    key_file: Path | None = typer.Option(None, "--key-file", help="Key file protecting the keys."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Check a node's config, keys, store, bus, TLS material and peers, and say what is wrong.

    Exit 0: every check passed; 3: a check failed; 2: the config itself is bad.
    """
    from gsomia.app.deploy import check_node
    from gsomia.seal.keys import passphrase_from_env

    report = check_node(config_path, passphrase=passphrase_from_env(), key_file=key_file)
    if as_json:
        emit_json(
            {
                "party": report.party,
                "config": str(report.config),
                "ok": not report.failed,
                "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in report.checks],
            }
        )
    else:
        for check in report.checks:
            print(f"{'ok  ' if check.ok else 'FAIL'}  {check.name}: {check.detail}")
    report.verify()


def register(node_app: typer.Typer) -> None:
    node_app.command("init")(cmd_init)
    node_app.command("add-peer")(cmd_add_peer)
    node_app.command("check")(cmd_check)
