"""Opening a node from its configuration: the composition root of ``gsomia serve``.

Start-up refuses to run with a bad configuration, missing or undecryptable keys, or a log that
does not verify — each with a clear error, before a socket is opened.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import orjson

from gsomia.clock import Clock, SystemClock
from gsomia.errors import BadInput
from gsomia.ledger.log import TransparencyLog, origin_of, party_of
from gsomia.node.config import NodeConfig, parse_config
from gsomia.node.service import Node
from gsomia.scenarios import load_scenario
from gsomia.seal.keys import KeyRing, passphrase_from_env
from gsomia.store.sqlite_node import SqliteNodeStore

DB_NAME = "node.sqlite3"


def load_config(path: Path) -> NodeConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"node config {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"node config {path}: cannot read ({exc})") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"node config {path}: invalid TOML: {exc}") from None
    scenario_ref = document.get("scenario", "historical")
    if not isinstance(scenario_ref, str):
        raise BadInput(f"node config {path}.scenario: expected a scenario name or path")
    if scenario_ref.endswith(".toml") and not Path(scenario_ref).is_absolute():
        scenario_ref = str(path.parent / scenario_ref)
        document["scenario"] = scenario_ref
    scenario = load_scenario(scenario_ref)
    return parse_config(document, path, scenario)


def open_node(
    config: NodeConfig,
    *,
    clock: Clock | None = None,
    passphrase: bytes | None = None,
    key_file: Path | None = None,
    verify_log: bool = True,
) -> Node:
    scenario = load_scenario(config.scenario)
    keyring = KeyRing.load(
        config.data_dir,
        passphrase=passphrase if passphrase is not None else passphrase_from_env(),
        key_file=key_file,
    )
    if keyring.party != config.party:
        raise BadInput(
            f"node config {config.source}: party {config.party}, but the keys under "
            f"{config.data_dir} are {keyring.party}'s"
        )
    for peer in config.peers:
        try:
            keyring.import_peer(orjson.loads(peer.keys.read_bytes()), where=str(peer.keys))
        except FileNotFoundError:
            raise BadInput(
                f"node config {config.source}: peer {peer.party} keys {peer.keys}: no such file"
            ) from None
        except orjson.JSONDecodeError as exc:
            raise BadInput(f"peer keys {peer.keys}: malformed JSON ({exc})") from None
    store = SqliteNodeStore(config.data_dir / DB_NAME)
    log = TransparencyLog(store.log_store, origin_of(config.party))
    if verify_log:

        def keys(name: str) -> list[bytes]:
            party = party_of(name)
            return [] if party is None else keyring.peer_ed25519(party)

        log.audit(keys)
    return Node(config, scenario, keyring, store, log, clock or SystemClock())
