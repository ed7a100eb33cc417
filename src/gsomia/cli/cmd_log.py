"""The transparency log's commands: append, checkpoint, prove, consistency, cosign, attach, verify.

A home made with ``gsomia keys`` keeps its log in ``HOME/log.sqlite3``; a node keeps its log
inside its store, ``DATA_DIR/node.sqlite3``, which the commands use when HOME holds no
``log.sqlite3``. The home's key ring gives the party, the signing key and every known party's
public keys. A key name or origin ``gsomia/P`` belongs to party P, so a witness learns an
origin's keys from the public keys it imported for P.

``log verify --node-config node.toml`` verifies a node's log offline, running or stopped: it
reads the node's configuration, opens its key ring as ``gsomia serve`` does (passphrase from
``GSOMIA_PASSPHRASE``, or ``--key-file``) and the peers' public keys the configuration names, and
opens the store read-only, writing nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import typer

from gsomia.app.stores import DB_NAME, open_log_reader
from gsomia.cli._common import (
    HOME_OPTION,
    JSON_OPTION,
    emit_json,
    read_bytes,
    read_json_file,
    resolve_home,
)
from gsomia.clock import SystemClock
from gsomia.errors import BadInput, Conflict
from gsomia.ledger.entries import parse_entries_json
from gsomia.ledger.log import TransparencyLog, origin_of, party_of
from gsomia.ledger.note import KeyDirectory, NoteSigner
from gsomia.ledger.ports import LogStore
from gsomia.ledger.proofs import ConsistencyProof, b64
from gsomia.ledger.witness import cosign
from gsomia.seal.keys import KeyRing, parse_export_document, passphrase_from_env
from gsomia.store.sqlite_log import SqliteLogStore  # a keys home's own log file: always SQLite

LOG_FILE = "log.sqlite3"
NODE_FILE = DB_NAME  # a node's default store holds its log too

log_app = typer.Typer(
    name="log",
    help="The node's transparency log: append, checkpoint, prove, co-sign, verify.",
    no_args_is_help=True,
)


class _Node:
    """The wiring of one command: the key ring and the log in HOME."""

    def __init__(self, home: Path | None, *, must_exist: bool) -> None:
        self.home = resolve_home(home)
        self.ring = KeyRing.load(self.home, passphrase=passphrase_from_env())
        self.origin = origin_of(self.ring.party)
        path = self.home / LOG_FILE
        if not path.is_file() and (self.home / NODE_FILE).is_file():
            path = self.home / NODE_FILE
        if must_exist and not path.is_file():
            raise BadInput(f"no log at {path}: append an entry or make a checkpoint first")
        self.store: LogStore = SqliteLogStore(path)
        self.log = TransparencyLog(self.store, self.origin)

    def signer(self) -> NoteSigner:
        _, seed = self.ring.note_signer()
        return NoteSigner(self.origin, seed)

    def keys(self) -> KeyDirectory:
        ring = self.ring

        def lookup(name: str) -> Sequence[bytes]:
            party = party_of(name)
            return ring.peer_ed25519(party) if party is not None else []

        return lookup

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.store.close()


class _NodeLog(_Node):
    """The log of a node, found through its ``node.toml``, opened read-only: the node may be
    running. The keys are opened as ``gsomia serve`` opens them; the peers' public keys are
    read from the files the configuration names (not imported: nothing is written)."""

    def __init__(self, config_path: Path, key_file: Path | None) -> None:
        from gsomia.app.boot import load_config  # the node's configuration, as serve reads it

        config = load_config(config_path)
        passphrase = passphrase_from_env()
        if passphrase is None and key_file is None:
            raise BadInput(
                f"node {config.party}: no passphrase or key file for the keys under "
                f"{config.data_dir}: set GSOMIA_PASSPHRASE or pass --key-file"
            )
        self.home = config.data_dir
        self.ring = KeyRing.load(config.data_dir, passphrase=passphrase, key_file=key_file)
        if self.ring.party != config.party:
            raise BadInput(
                f"node config {config_path}: party {config.party}, but the keys under "
                f"{config.data_dir} are {self.ring.party}'s"
            )
        self.peers: dict[str, list[bytes]] = {}
        for peer in config.peers:
            what = f"node config {config_path}: peer {peer.party} keys"
            document = read_json_file(peer.keys, what)
            party, chain = parse_export_document(document, where=f"{what} {peer.keys}")
            self.peers[party] = [keys.ed25519 for keys in chain]
        self.origin = origin_of(config.party)
        self.store = open_log_reader(
            config.store,
            data_dir=config.data_dir,
            where=f"node config {config_path}.store",
            party=config.party,
        )
        self.log = TransparencyLog(self.store, self.origin)

    def keys(self) -> KeyDirectory:
        ring, peers = self.ring, self.peers

        def lookup(name: str) -> Sequence[bytes]:
            party = party_of(name)
            if party is None:
                return []
            # the keys the node trusts: those it imported before, and those its config names
            return list(dict.fromkeys([*ring.peer_ed25519(party), *peers.get(party, [])]))

        return lookup


def _note_file(path: Path, what: str) -> bytes:
    """A signed note, as printed by `log checkpoint` / `log cosign` or inside their --json."""
    raw = read_bytes(path, what)
    if raw.lstrip().startswith(b"{"):
        doc = read_json_file(path, what)
        note = doc.get("checkpoint") if isinstance(doc, dict) else None
        if not isinstance(note, str):
            raise BadInput(f"{what} {path}: a JSON document needs a 'checkpoint' string")
        return note.encode()
    return raw


def cmd_append(
    entry: str = typer.Option(
        ...,
        "--json-entry",
        metavar="ENTRY",
        help="One entry as a JSON object, or an array of them.",
    ),
    home: Path | None = HOME_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Append entries (validated, canonical) in one durable transaction."""
    encoded = parse_entries_json(entry.encode(), where="--json-entry")
    with _Node(home, must_exist=False) as node:
        appended = node.log.append_canonical(encoded)
        size = appended.stop
    if as_json:
        emit_json(
            {"origin": node.origin, "first": appended.start, "count": len(appended), "size": size}
        )
    elif len(appended) == 1:
        print(f"appended entry {appended.start} to {node.origin} (tree size {size})")
    else:
        last = appended.stop - 1
        print(f"appended entries {appended.start}..{last} to {node.origin} (tree size {size})")


def cmd_checkpoint(home: Path | None = HOME_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Sign and store a checkpoint of the log as it is now; print it (a C2SP signed note)."""
    with _Node(home, must_exist=False) as node:
        stored, note = node.log.checkpoint(node.signer())
    text = note.encode().decode()
    if as_json:
        emit_json(
            {
                "origin": node.origin,
                "size": stored.size,
                "root": b64(stored.root),
                "checkpoint": text,
            }
        )
    else:
        print(text, end="")


def cmd_prove(
    index: int = typer.Option(..., "--index", min=0, help="The entry's index (from 0)."),
    size: int | None = typer.Option(None, "--size", min=0, help="Tree size (default: current)."),
    home: Path | None = HOME_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """An inclusion proof of entry INDEX in the tree of SIZE entries (RFC 9162 §2.1.3)."""
    with _Node(home, must_exist=True) as node:
        proof = node.log.inclusion_proof(index, size)
    if as_json:
        emit_json(proof.to_json())
        return
    print(f"inclusion of entry {proof.index} in {proof.origin} at tree size {proof.size}")
    print(f"leaf hash  {b64(proof.leaf_hash)}")
    print(f"root hash  {b64(proof.root)}")
    for i, h in enumerate(proof.path):
        print(f"path[{i}]    {b64(h)}")


def cmd_consistency(
    old_size: int = typer.Argument(..., min=0, metavar="OLD_SIZE"),
    new_size: int = typer.Argument(..., min=0, metavar="NEW_SIZE"),
    home: Path | None = HOME_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """A consistency proof from tree size OLD_SIZE to NEW_SIZE (RFC 9162 §2.1.4).

    Its --json document is the PROOF that `gsomia log cosign` takes.
    """
    with _Node(home, must_exist=True) as node:
        proof = node.log.consistency_proof(old_size, new_size)
    if as_json:
        emit_json(proof.to_json())
        return
    print(f"consistency of {proof.origin} from size {proof.old_size} to size {proof.new_size}")
    for i, h in enumerate(proof.path):
        print(f"path[{i}]    {b64(h)}")


def cmd_cosign(
    checkpoint: Path = typer.Argument(..., metavar="CHECKPOINT", help="Another log's checkpoint."),
    proof_file: Path = typer.Option(
        ...,
        "--proof",
        metavar="PROOF",
        help="`log consistency --json` from the last co-signed size.",
    ),
    home: Path | None = HOME_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """As a witness, co-sign another party's checkpoint after checking it extends what it saw."""
    note = _note_file(checkpoint, "checkpoint file")
    proof = ConsistencyProof.from_json(
        read_json_file(proof_file, "proof file"), where=f"proof file {proof_file}"
    )
    timestamp = int(SystemClock().now().timestamp())
    with _Node(home, must_exist=False) as node:
        done = cosign(
            node.store, note, proof, signer=node.signer(), keys=node.keys(), timestamp=timestamp
        )
    text = done.note.encode().decode()
    if as_json:
        emit_json(
            {
                "origin": done.checkpoint.origin,
                "size": done.checkpoint.size,
                "root": b64(done.checkpoint.root),
                "previous_size": done.previous_size,
                "checkpoint": text,
            }
        )
    else:
        print(text, end="")


def cmd_attach(
    cosigned: Path = typer.Argument(..., metavar="COSIGNED", help="`log cosign` output."),
    home: Path | None = HOME_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Store witnesses' co-signatures on one of this log's checkpoints."""
    note = _note_file(cosigned, "co-signed checkpoint file")
    with _Node(home, must_exist=True) as node:
        size, added = node.log.attach(note, node.keys())
    names = [c.name for c in added]
    if as_json:
        emit_json({"origin": node.origin, "size": size, "added": names})
    elif names:
        print(f"checkpoint of size {size} now carries the co-signatures of {', '.join(names)}")
    else:
        print(f"checkpoint of size {size}: no new co-signatures")


def cmd_verify(
    home: Path | None = HOME_OPTION,
    node_config: Path | None = typer.Option(
        None,
        "--node-config",
        metavar="NODE_TOML",
        help="Verify the log of the node this node.toml configures (read-only; it may run).",
    ),
    key_file: Path | None = typer.Option(
        None, "--key-file", help="With --node-config: the node's key file (else the passphrase)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Re-hash the whole stored log and check every checkpoint and co-signature.

    Exit 3 at the first fault; exit 5 when everything verifies but split-view evidence is kept
    (a log that signed two histories), after printing the report.
    """
    if node_config is not None and home is not None:
        raise BadInput("--node-config and --home: give one (a node's keys are in its data_dir)")
    if key_file is not None and node_config is None:
        raise BadInput("--key-file: only with --node-config")
    opened = (
        _Node(home, must_exist=True) if node_config is None else _NodeLog(node_config, key_file)
    )
    with opened as node:
        report = node.log.audit(node.keys())
    evidence: list[dict[str, Any]] = [
        {"origin": origin, "size": size, "roots": [b64(first), b64(second)]}
        for origin, size, first, second in report.evidence
    ]
    doc = {
        "origin": node.origin,
        "size": report.size,
        "root": b64(report.root),
        "checkpoints": report.checkpoints,
        "cosignatures": report.cosignatures,
        "witnessed": report.witnessed,
        "split_views": report.split_views,
        "split_view_evidence": evidence,
    }
    if as_json:
        emit_json(doc)
    else:
        print(
            f"{node.origin}: {report.size} entries re-hashed, root {b64(report.root)}; "
            f"{report.checkpoints} checkpoints and {report.cosignatures} co-signatures verified; "
            f"{report.witnessed} co-signed checkpoints of other logs verified"
        )
        for v in evidence:
            roots = " and ".join(str(root) for root in v["roots"])
            print(
                f"split view: {v['origin']} signed two histories (from size {v['size']}) "
                f"with roots {roots}"
            )
    if evidence:
        origins = ", ".join(sorted({f"{v['origin']} (size {v['size']})" for v in evidence}))
        raise Conflict(
            f"split view: {len(evidence)} split-view evidence record(s) kept and verified, "
            f"a log signed two histories: {origins}"
        )


def register(app: typer.Typer) -> None:
    log_app.command("append")(cmd_append)
    log_app.command("checkpoint")(cmd_checkpoint)
    log_app.command("prove")(cmd_prove)
    log_app.command("consistency")(cmd_consistency)
    log_app.command("cosign")(cmd_cosign)
    log_app.command("attach")(cmd_attach)
    log_app.command("verify")(cmd_verify)
    app.add_typer(log_app, name="log")
