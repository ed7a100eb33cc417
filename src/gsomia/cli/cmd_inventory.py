"""``gsomia node inventory``: the node's signed inventory (DOMAIN.md §7.4), read from its store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from gsomia.cli._common import JSON_OPTION, emit_json

_HEADINGS = ("ITEM", "ORIGINATOR", "CLASS", "LEVEL HERE", "DIGEST", "ARRIVAL", "DISPOSITION")


def cmd_inventory(
    config_path: Path = typer.Option(..., "--config", help="The node's TOML configuration."),
    originator: str | None = typer.Option(
        None, "--originator", help="Only this originator's items (a party, e.g. KOR)."
    ),
    key_file: Path | None = typer.Option(None, "--key-file", help="Key file protecting the keys."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Every item the node holds or has held, with its originator, level, digest, how it
    arrived and its disposition (held, destroyed), signed by the node's key.

    The keys are opened as `gsomia serve` opens them (GSOMIA_PASSPHRASE or --key-file). With
    --json, the signed statement itself: another party verifies it with the node's public
    keys. Exit 2 for bad input, 3 when a stored item or certificate does not verify."""
    from gsomia.app.boot import load_config, open_node
    from gsomia.node import inventory

    config = load_config(config_path)
    node = open_node(config, key_file=key_file)
    try:
        signed = inventory.statement(node, originator)
    finally:
        node.close()
    if as_json:
        emit_json(signed)
        return
    body = signed["body"]
    whose = "" if originator is None else f" of {originator}'s items"
    print(f"inventory of {body['party']}{whose} at {body['at']} (signed, key {signed['key_id']})")
    rows = [_row(e) for e in body["items"]]
    if not rows:
        print("no items")
        return
    widths = [max(len(r[i]) for r in (_HEADINGS, *rows)) for i in range(len(_HEADINGS))]
    for r in (_HEADINGS, *rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())


def _row(entry: dict[str, Any]) -> tuple[str, ...]:
    level = entry["level"] or {}
    arrival = entry["arrival"]
    if arrival["how"] == "originated":
        came = "originated here"
    else:
        came = f"from {arrival['from'] or '?'} at {arrival['at']}"
        relays = [s for s in arrival["route"] if s["under"] in ("consent", "standing")]
        if relays:
            step = relays[-1]
            under = step.get("standing_consent") or "consent"
            came += f" (relayed by {step['holder']} under {under})"
    disposition = entry["disposition"]
    if disposition == "destroyed":
        disposition += f" {entry['destroyed_at'] or '(when unknown)'}: {entry['reason'] or '?'}"
    return (
        entry["item"],
        entry["originator"],
        entry["classification"] or "?",
        level.get("level", "?"),
        (entry["digest"] or "?")[:16],
        came,
        disposition,
    )


def register(node_app: typer.Typer) -> None:
    node_app.command("inventory")(cmd_inventory)
