"""Opening a node from its configuration: config, keys, the store (opened by its URL in
``gsomia.app.stores``, the one place naming a backend) and its log, made into a ``Node``.

Start-up refuses to run with a bad configuration, missing or undecryptable keys, or a log that
does not verify — each with a clear error, before a socket is opened. A node's private keys must
be protected (a passphrase of at least 12 characters, or a key file): they protect the data key
under which the store keeps its content encrypted at rest. The data directory is made
owner-only (0700), and every file the node writes in it is created 0600.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import orjson

from gsomia.app.stores import migrate_store, open_store
from gsomia.clock import Clock, SystemClock
from gsomia.errors import BadInput
from gsomia.ledger.log import TransparencyLog, origin_of, party_of
from gsomia.node.config import NodeConfig, parse_config
from gsomia.node.service import Node
from gsomia.scenarios import load_scenario
from gsomia.seal.at_rest import KeyRingCipher
from gsomia.seal.keys import KeyRing, check_passphrase, passphrase_from_env
from gsomia.store.ports import NodeStore, SchemaBehind


def load_config(path: Path) -> NodeConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"node config {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"node config {path}: cannot read ({exc})") from None
    return config_from_text(text, path)


def config_from_text(text: str, path: Path) -> NodeConfig:
    """The config ``text`` would be as the file ``path`` (relative paths resolved from its
    folder); BadInput naming ``path`` if it is not a valid config."""
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


def private_dir(path: Path) -> None:
    """Make ``path`` (and any missing parent) a directory only its owner can enter."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        if path.stat().st_mode & 0o077:
            path.chmod(0o700)  # made by an earlier version, or by hand
    except OSError as exc:
        raise BadInput(f"data directory {path}: cannot make it private ({exc.strerror})") from exc


def open_keys(
    config: NodeConfig, *, passphrase: bytes | None = None, key_file: Path | None = None
) -> KeyRing:
    """The node's keys, opened and checked (protected, the config's party's), its peers'
    keys imported."""
    if passphrase is None:
        passphrase = passphrase_from_env()
    if key_file is None:
        if passphrase is None:
            raise BadInput(
                f"node {config.party}: no passphrase or key file for the keys under "
                f"{config.data_dir}: set GSOMIA_PASSPHRASE or pass --key-file"
            )
        check_passphrase(passphrase)
    keyring = KeyRing.load(config.data_dir, passphrase=passphrase, key_file=key_file)
    if not keyring.protected:
        raise BadInput(
            f"node {config.party}: the private keys under {config.data_dir} are stored in "
            "plaintext (made with --insecure); a node needs them protected by a passphrase "
            "or a key file, as they protect its data at rest"
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
    return keyring


def migrate_node(
    config: NodeConfig, *, passphrase: bytes | None = None, key_file: Path | None = None
) -> tuple[int, int] | None:
    """Bring the node's store to the schema this code writes, in one transaction: (from, to),
    or None if it was up to date (a store that does not exist yet is made)."""
    keyring = open_keys(config, passphrase=passphrase, key_file=key_file)
    private_dir(config.data_dir)
    return migrate_store(
        config.store,
        data_dir=config.data_dir,
        cipher=KeyRingCipher(keyring),
        where=f"node config {config.source}.store",
    )


def open_node_store(config: NodeConfig, keyring: KeyRing) -> NodeStore:
    """The node's store, opened (its data directory made private first); a store at an older
    schema is refused naming the config that ``gsomia node migrate`` takes."""
    private_dir(config.data_dir)
    try:
        return open_store(
            config.store,
            data_dir=config.data_dir,
            cipher=KeyRingCipher(keyring),
            where=f"node config {config.source}.store",
        )
    except SchemaBehind as exc:  # say which config the migrate command takes
        raise SchemaBehind(exc.name, exc.found, exc.expected, str(config.source)) from None


def open_node(
    config: NodeConfig,
    *,
    clock: Clock | None = None,
    passphrase: bytes | None = None,
    key_file: Path | None = None,
    verify_log: bool = True,
) -> Node:
    scenario = load_scenario(config.scenario)
    keyring = open_keys(config, passphrase=passphrase, key_file=key_file)
    store = open_node_store(config, keyring)
    log = TransparencyLog(store.log_store, origin_of(config.party))
    if verify_log:

        def keys(name: str) -> list[bytes]:
            party = party_of(name)
            return [] if party is None else keyring.peer_ed25519(party)

        log.audit(keys)
    return Node(config, scenario, keyring, store, log, clock or SystemClock())
