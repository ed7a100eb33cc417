"""``gsomia node destroy``: an admin of the node destroys an item it holds (DOMAIN.md §7.5),
offline, on the node's own store (the running node, if any, sends the certificate that this
queues to the originator; a node started later sends it then)."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from gsomia.cli._common import JSON_OPTION, emit_json
from gsomia.errors import BadInput


def cmd_destroy(
    item: str = typer.Argument(..., help="The item id (STIX-ID/VERSION) to destroy."),
    config_path: Path = typer.Option(..., "--config", help="The node's TOML configuration."),
    reason: str = typer.Option(..., "--reason", help="Why the node no longer needs it."),
    as_user: str | None = typer.Option(
        None, "--as", help="The admin acting (a user of the config); default its first admin."
    ),
    key_file: Path | None = typer.Option(None, "--key-file", help="Key file protecting the keys."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Destroy an item this node holds: its key, content and queued releases are erased, its
    id, digest and label kept, and a certificate signed by the node queued to its originator.

    The keys are opened as `gsomia serve` opens them (GSOMIA_PASSPHRASE or --key-file). Exit 2
    for an unknown item or user, 4 for a user who is not an admin.
    """
    from gsomia.app.boot import load_config, open_node
    from gsomia.domain.access import Role
    from gsomia.node import destruction

    os.umask(0o077)
    config = load_config(config_path)
    admins = [u for u in config.users if u.role is Role.ADMIN]
    if as_user is None:
        if not admins:
            raise BadInput(f"{config_path}: no admin among [[users]]; name one with --as")
        user = admins[0]
    else:
        found = [u for u in config.users if u.name == as_user]
        if not found:
            raise BadInput(f"--as: no user {as_user[:80]!r} in {config_path}")
        user = found[0]
    node = open_node(config, key_file=key_file)
    try:
        cert = destruction.destroy(node, user, item, reason)
    finally:
        node.close()
    if as_json:
        emit_json(cert.to_json())
        return
    body = cert.body
    print(
        f"destroyed {body['item']} at {body['holder']} {body['destroyed_at']} "
        f"(reason: {body['reason']}; authorised by {body['authorised_by']})"
    )
    print(f"  digest {body['digest']}; certificate queued to {body['originator']}")
