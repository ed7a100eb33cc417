"""``gsomia node tls-init``: a private CA and a certificate per party, for a test or demo
deployment (a real one uses the parties' own PKI; the node only needs PEM files)."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from gsomia.cli._common import JSON_OPTION, emit_json
from gsomia.errors import BadInput


def _list(text: str, what: str) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise BadInput(f"{what}: expected a comma-separated list")
    return items


def cmd_tls_init(
    out: Path = typer.Option(..., "--out", help="Directory for ca/ and one directory a party."),
    parties: str = typer.Option(..., "--parties", help="Comma-separated, e.g. KOR,JPN,USA."),
    hosts: str = typer.Option(
        "127.0.0.1,localhost", "--hosts", help="Host names and IPs in every certificate's SAN."
    ),
    insecure_keys: bool = typer.Option(
        False, "--insecure-keys", help="Write the private keys in plaintext (tests only)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Make a private CA (OUT/ca/) and a node certificate and key per party (OUT/<PARTY>/).

    The keys are encrypted with GSOMIA_PASSPHRASE (at least 12 characters), the node's
    passphrase, unless --insecure-keys is given. Nothing existing is overwritten.
    """
    from gsomia.app.pki import write_ca, write_node_tls
    from gsomia.seal.keys import check_party, check_passphrase, passphrase_from_env

    os.umask(0o077)
    names = [check_party(p, where="--parties") for p in _list(parties, "--parties")]
    if len(set(names)) != len(names):
        raise BadInput("--parties: a party is listed twice")
    san = _list(hosts, "--hosts")
    passphrase = None if insecure_keys else passphrase_from_env()
    if not insecure_keys:
        if passphrase is None:
            raise BadInput(
                "no passphrase: set GSOMIA_PASSPHRASE (the nodes' passphrase) to encrypt the "
                "TLS keys, or pass --insecure-keys to write them in plaintext"
            )
        check_passphrase(passphrase)
    ca = write_ca(out / "ca", passphrase=passphrase)
    written = {
        party: write_node_tls(
            out / party, party, hosts=san, passphrase=passphrase, ca_dir=ca.parent
        )
        for party in names
    }
    if as_json:
        emit_json(
            {
                "ca": str(ca),
                "encrypted": passphrase is not None,
                "nodes": {
                    party: {"cert": str(tls.cert), "key": str(tls.key)}
                    for party, tls in written.items()
                },
            }
        )
        return
    state = "encrypted with GSOMIA_PASSPHRASE" if passphrase else "IN PLAINTEXT (--insecure-keys)"
    print(f"CA certificate {ca} (key {ca.parent / 'ca.key'}, {state})")
    for party, tls in written.items():
        print(f"{party}: certificate {tls.cert}, key {tls.key}")
    print(f"SAN of every node certificate: {', '.join(san)}")
