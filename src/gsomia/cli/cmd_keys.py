"""The key commands: keys init, rotate, list, export, import.

Private keys are encrypted at rest with the passphrase in ``GSOMIA_PASSPHRASE`` (at least 12
characters) or a key file (``--key-file``); plaintext only with ``--insecure`` (a node refuses
to start with such keys). Public keys need no passphrase.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from gsomia.cli._common import HOME_OPTION, JSON_OPTION, emit_json, read_json_file, resolve_home
from gsomia.errors import BadInput
from gsomia.seal.canonical import canonical_json
from gsomia.seal.keys import (
    KeyRing,
    PublicKeyring,
    PublicKeys,
    init_keys,
    keystore_path,
    passphrase_from_env,
)

KEY_FILE_OPTION = typer.Option(
    None,
    "--key-file",
    help="Protect the private keys with this key file (created at init if missing) "
    "instead of GSOMIA_PASSPHRASE.",
)

keys_app = typer.Typer(
    name="keys",
    help="The party's signing and encryption keys, and the peers' public keys.",
    no_args_is_help=True,
)


def write_output(path: Path, data: bytes, what: str) -> None:
    """Write ``data`` to ``path`` (replacing it atomically); an unwritable path is bad input."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise BadInput(f"{what} {path}: cannot write ({exc.strerror})") from exc


def _entry(keys: PublicKeys, *, current: bool) -> dict[str, Any]:
    return {
        "party": keys.party,
        "id": keys.key_id,
        "generation": keys.generation,
        "current": current,
        "signing": "Ed25519+ML-DSA-65",
        "encryption": "ML-KEM-768+X25519",
    }


@keys_app.command("init")
def cmd_init(
    party: str = typer.Option(..., "--party", help="This home's party (e.g. KOR)."),
    home: Path | None = HOME_OPTION,
    key_file: Path | None = KEY_FILE_OPTION,
    insecure: bool = typer.Option(
        False, "--insecure", help="Store the private keys in plaintext (tests only)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create the party's first key generation under HOME."""
    where = resolve_home(home)
    ring = init_keys(
        where, party, passphrase=passphrase_from_env(), insecure=insecure, key_file=key_file
    )
    doc = {
        "home": str(where),
        "keystore": str(keystore_path(where)),
        "key": _entry(ring.current.public, current=True),
    }
    if as_json:
        emit_json(doc)
    else:
        print(f"created key {ring.current.key_id} for {party} in {keystore_path(where)}")


@keys_app.command("rotate")
def cmd_rotate(
    home: Path | None = HOME_OPTION,
    key_file: Path | None = KEY_FILE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Add a new key generation (endorsed by the current one); old keys stay for old items."""
    where = resolve_home(home)
    ring = KeyRing.load(where, passphrase=passphrase_from_env(), key_file=key_file)
    previous = ring.current.key_id
    generation = ring.rotate()
    if as_json:
        emit_json({"previous": previous, "key": _entry(generation.public, current=True)})
    else:
        print(f"{ring.party}: new key {generation.key_id} (previous {previous} kept)")


@keys_app.command("list")
def cmd_list(home: Path | None = HOME_OPTION, as_json: bool = JSON_OPTION) -> None:
    """The party's keys and every imported peer's (public keys only; no passphrase needed)."""
    ring = PublicKeyring.load_public(resolve_home(home))
    rows: list[dict[str, Any]] = []
    for party in ring.parties():
        chain = ring.public_keys(party)
        rows.extend(_entry(k, current=k is chain[-1]) for k in chain)
    if as_json:
        emit_json({"party": ring.party, "keys": rows})
        return
    print(f"home party: {ring.party}")
    for row in rows:
        mark = "current" if row["current"] else "old"
        print(f"{row['party']}  {row['id']}  generation {row['generation']}  {mark}")


@keys_app.command("export")
def cmd_export(
    home: Path | None = HOME_OPTION,
    output: Path | None = typer.Option(None, "-o", "--output", help="Write to this file."),
    as_json: bool = JSON_OPTION,
) -> None:
    """The party's public keys (every generation), for peers to import."""
    ring = PublicKeyring.load_public(resolve_home(home))
    document = ring.export_document()
    if output is not None:
        write_output(output, canonical_json(document) + b"\n", "output")
        if as_json:
            emit_json({"party": ring.party, "output": str(output), "keys": len(document["keys"])})
        else:
            print(f"exported {len(document['keys'])} key(s) of {ring.party} to {output}")
        return
    if as_json:
        emit_json(document)
    else:
        sys.stdout.buffer.write(canonical_json(document) + b"\n")


@keys_app.command("import")
def cmd_import(
    file: Path = typer.Argument(..., metavar="FILE", help="A peer's `keys export` output."),
    home: Path | None = HOME_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Trust a peer's public keys (checked: proofs of possession and the rotation chain)."""
    ring = PublicKeyring.load_public(resolve_home(home))
    party, chain = ring.import_peer(
        read_json_file(file, "public-key file"), where=f"public-key file {file}"
    )
    if as_json:
        emit_json({"party": party, "keys": [k.key_id for k in chain]})
    else:
        print(f"trusted {len(chain)} key(s) of {party}: {', '.join(k.key_id for k in chain)}")


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
