"""The sealed-item commands: seal, open, verify, release, consent grant, reclassify.

Exit codes: 0 ok, 2 bad input, 3 verification failed (a failed open is one opaque error; the
reason goes to ``HOME/audit.jsonl``), 4 a release the rules deny (with the decision's reasons).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from gsomia.cli._common import (
    HOME_OPTION,
    JSON_OPTION,
    emit_json,
    read_bytes,
    read_json_file,
    resolve_home,
)
from gsomia.cli.cmd_keys import KEY_FILE_OPTION, write_output
from gsomia.clock import SystemClock
from gsomia.domain.instants import format_instant, parse_instant
from gsomia.errors import BadInput
from gsomia.scenarios import load_scenario
from gsomia.seal import service
from gsomia.seal.audit import AuditTrail
from gsomia.seal.canonical import b64
from gsomia.seal.keys import KeyRing, PublicKeyring, check_party, passphrase_from_env

SCENARIO_OPTION = typer.Option(
    "historical",
    "--scenario",
    help="The scenario decisions are made and checked in: historical, lapse-2019, or a TOML file.",
)

consent_app = typer.Typer(
    name="consent", help="The originator's consent to onward release.", no_args_is_help=True
)


def _ring(home: Path | None, key_file: Path | None) -> KeyRing:
    return KeyRing.load(resolve_home(home), passphrase=passphrase_from_env(), key_file=key_file)


def _as_party(ring: KeyRing | PublicKeyring, party: str, option: str) -> None:
    check_party(party, where=option)
    if party != ring.party:
        raise BadInput(f"{option} {party}: this home ({ring.home}) holds the keys of {ring.party}")


def _instant(text: str | None, option: str) -> Any:
    return SystemClock().now() if text is None else parse_instant(text, option)


def cmd_seal(
    content: Path = typer.Argument(..., metavar="CONTENT", help="The content (any bytes)."),
    label_file: Path = typer.Option(..., "--label", metavar="LABEL.json", help="The label."),
    recipients: str = typer.Option(
        ..., "--for", metavar="P[,P...]", help="The parties to seal it for."
    ),
    output: Path = typer.Option(..., "-o", "--output", metavar="ITEM", help="Where to write."),
    at: str | None = typer.Option(
        None, "--at", help="Creation instant (ISO 8601 with offset; default now)."
    ),
    scenario_ref: str = SCENARIO_OPTION,
    home: Path | None = HOME_OPTION,
    key_file: Path | None = KEY_FILE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Seal CONTENT under a label for the listed parties (each decided by the engine)."""
    created = _instant(at, "--at")
    parties = [p.strip() for p in recipients.split(",") if p.strip()]
    if not parties:
        raise BadInput("--for: name at least one party")
    data = read_bytes(content, "content")
    label_doc = read_json_file(label_file, "label file")
    scenario = load_scenario(scenario_ref)
    ring = _ring(home, key_file)
    raw = service.seal_content(
        ring,
        scenario,
        content=data,
        label_doc=label_doc,
        recipients=parties,
        created=created,
        where=f"label file {label_file}",
    )
    write_output(output, raw, "item")
    verified = service.verify_item(ring, scenario, raw)
    if as_json:
        emit_json({"output": str(output), "bytes": len(raw), "item": verified.to_json()})
    else:
        holders = ", ".join(verified.holders())
        print(f"sealed {verified.label.id} ({len(raw)} bytes) for {holders} -> {output}")


def cmd_open(
    item: Path = typer.Argument(..., metavar="ITEM", help="A sealed item."),
    party: str = typer.Option(..., "--as", help="The party opening it (this home's)."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write the content here."),
    scenario_ref: str = SCENARIO_OPTION,
    home: Path | None = HOME_OPTION,
    key_file: Path | None = KEY_FILE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Verify ITEM, then decrypt it for the party (content to stdout, or -o)."""
    raw = read_bytes(item, "item")
    scenario = load_scenario(scenario_ref)
    ring = _ring(home, key_file)
    _as_party(ring, party, "--as")
    audit = AuditTrail(ring.home, SystemClock().now())
    content = service.open_item(ring, scenario, raw, audit=audit)
    digest = service.item_digest_hex(raw)
    audit({"event": "opened", "party": ring.party, "item_digest": digest, "file": str(item)})
    if output is not None:
        write_output(output, content, "output")
    if as_json:
        doc: dict[str, Any] = {"party": ring.party, "item_digest": digest, "bytes": len(content)}
        if output is None:
            doc["content_base64"] = b64(content)
        else:
            doc["output"] = str(output)
        emit_json(doc)
    elif output is None:
        sys.stdout.buffer.write(content)
        sys.stdout.flush()
    else:
        print(f"opened {len(content)} bytes -> {output}")


def cmd_verify(
    item: Path = typer.Argument(..., metavar="ITEM", help="A sealed item."),
    scenario_ref: str = SCENARIO_OPTION,
    home: Path | None = HOME_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Check every signature, release, consent and decision of ITEM (public keys only)."""
    raw = read_bytes(item, "item")
    scenario = load_scenario(scenario_ref)
    ring = PublicKeyring.load_public(resolve_home(home))
    verified = service.verify_item(ring, scenario, raw)
    doc = verified.to_json()
    if as_json:
        emit_json(doc)
        return
    label = verified.label
    print(f"item {label.id}  digest {doc['digest']}")
    print(
        f"originator {label.originator} (policy {label.policy}), signed with key "
        f"{doc['signed_by']['key']} in a batch of {doc['batch']['size']}"
    )
    print(
        f"label: {verified.classification}  releasable to {', '.join(label.releasable_to)}  "
        f"topics {', '.join(label.topics) or '-'}  created {format_instant(label.created)}"
    )
    for grant in verified.grants:
        m = grant.marking
        print(
            f"sealed for {grant.party} under {', '.join(grant.agreements)}: marked "
            f"{m.get('level')} ({m.get('native')}), originator {m.get('originator')}"
        )
    for n, rel in enumerate(verified.releases, 1):
        m = rel.marking
        ground = (
            "originator"
            if rel.holder == label.originator
            else f"consent signed by {label.originator}"
            if rel.consent is not None
            else f"standing consent {rel.standing_consent}"
        )
        print(
            f"release {n}: {rel.holder} -> {rel.recipient} at {format_instant(rel.at)} under "
            f"{', '.join(rel.agreements)} ({ground}); marked {m.get('level')} "
            f"({m.get('native')}), originator {m.get('originator')}"
        )
    for notice in verified.notices:
        print(f"classification changed to {notice.classification} at {format_instant(notice.at)}")
    print(f"every signature holds (checked against scenario {scenario.name})")


def cmd_release(
    item: Path = typer.Argument(..., metavar="ITEM", help="A sealed item this party holds."),
    holder: str = typer.Option(..., "--from", help="The releasing party (this home's)."),
    recipient: str = typer.Option(..., "--to", help="The receiving party."),
    at: str = typer.Option(..., "--at", help="The decision instant (ISO 8601 with offset)."),
    scenario_ref: str = SCENARIO_OPTION,
    consent: Path | None = typer.Option(
        None, "--consent", help="The originator's consent (from `consent grant`)."
    ),
    output: Path | None = typer.Option(
        None, "-o", "--output", help="Write the released item here (default: update ITEM)."
    ),
    home: Path | None = HOME_OPTION,
    key_file: Path | None = KEY_FILE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Decide with the engine; refuse with the reasons, or add the wrap and release record."""
    instant = parse_instant(at, "--at")
    raw = read_bytes(item, "item")
    consent_raw = None if consent is None else read_bytes(consent, "consent")
    scenario = load_scenario(scenario_ref)
    ring = _ring(home, key_file)
    _as_party(ring, holder, "--from")
    released = service.release_item(
        ring, scenario, raw, recipient=recipient, at=instant, consent=consent_raw
    )
    target = output if output is not None else item
    write_output(target, released.item, "item")
    AuditTrail(ring.home, SystemClock().now()).record(
        {
            "event": "released",
            "party": ring.party,
            "recipient": recipient,
            "decision_at": format_instant(instant),
            "agreements": list(released.decision.agreements),
            "item_digest": released.verified.digest.hex(),
        }
    )
    if as_json:
        emit_json({"output": str(target), **released.to_json()})
    else:
        print(
            f"released {released.verified.label.id} from {holder} to {recipient} under "
            f"{', '.join(released.decision.agreements)} -> {target}"
        )


@consent_app.command("grant")
def cmd_consent_grant(
    item: Path = typer.Argument(..., metavar="ITEM", help="A sealed item this party originated."),
    recipient: str = typer.Option(..., "--to", help="The party the item may go on to."),
    output: Path = typer.Option(..., "-o", "--output", metavar="CONSENT", help="Where to write."),
    expires: str | None = typer.Option(None, "--expires", help="Expiry (ISO 8601 with offset)."),
    at: str | None = typer.Option(None, "--at", help="Grant instant (default now)."),
    scenario_ref: str = SCENARIO_OPTION,
    home: Path | None = HOME_OPTION,
    key_file: Path | None = KEY_FILE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Sign the originator's consent to ITEM going to a party (for that item and party only)."""
    granted = _instant(at, "--at")
    expires_at = None if expires is None else parse_instant(expires, "--expires")
    raw = read_bytes(item, "item")
    scenario = load_scenario(scenario_ref)
    ring = _ring(home, key_file)
    token = service.grant_consent(
        ring, scenario, raw, recipient=recipient, granted_at=granted, expires_at=expires_at
    )
    write_output(output, token, "consent")
    AuditTrail(ring.home, SystemClock().now()).record(
        {
            "event": "consent-granted",
            "party": ring.party,
            "recipient": recipient,
            "item_digest": service.item_digest_hex(raw),
        }
    )
    doc = {
        "output": str(output),
        "recipient": recipient,
        "granted_at": format_instant(granted),
        "expires_at": None if expires_at is None else format_instant(expires_at),
    }
    if as_json:
        emit_json(doc)
    else:
        print(f"consent of {ring.party} for {recipient} -> {output}")


def cmd_reclassify(
    item: Path = typer.Argument(..., metavar="ITEM", help="A sealed item this party originated."),
    classification: str = typer.Option(
        ..., "--classification", help="The new level (id or native name)."
    ),
    at: str | None = typer.Option(None, "--at", help="The notice's instant (default now)."),
    output: Path | None = typer.Option(
        None, "-o", "--output", help="Write here (default: update ITEM)."
    ),
    scenario_ref: str = SCENARIO_OPTION,
    home: Path | None = HOME_OPTION,
    key_file: Path | None = KEY_FILE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Append the originator's signed classification-change notice (Art. 6(g))."""
    instant = _instant(at, "--at")
    raw = read_bytes(item, "item")
    scenario = load_scenario(scenario_ref)
    ring = _ring(home, key_file)
    updated = service.reclassify_item(
        ring, scenario, raw, classification=classification, at=instant
    )
    target = output if output is not None else item
    write_output(target, updated, "item")
    verified = service.verify_item(ring, scenario, updated)
    if as_json:
        emit_json({"output": str(target), "item": verified.to_json()})
    else:
        print(f"{verified.label.id}: classification now {verified.classification} -> {target}")


def register(app: typer.Typer) -> None:
    app.command("seal")(cmd_seal)
    app.command("open")(cmd_open)
    app.command("verify")(cmd_verify)
    app.command("release")(cmd_release)
    app.command("reclassify")(cmd_reclassify)
    app.add_typer(consent_app, name="consent")
