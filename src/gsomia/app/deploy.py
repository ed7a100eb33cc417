"""Setting up a party's node without writing TOML by hand: ``init``, ``add-peer``, ``check``.

``init_node`` makes a node's directory: a commented ``node.toml`` (every key it holds is one
the node reads, each explained), the party's keys protected by the passphrase (or a key file),
with TLS the node's certificate and a private CA, a first admin user (the token is returned
once; only its SHA-256 is written) and the node's public export — one JSON document
(``gsomia-node-export``, version 1) with the party, the node's URL, its public keys and, with
TLS, its certificate and CA — to hand to each peer.

``add_peer`` takes a peer's export, checks it (well formed, a party of the node's scenario and
not its own, its keys a valid chain that agrees with any already trusted) and adds the peer:
its keys, certificate and CA as files under ``peers/`` beside the config, a ``[[peers]]`` table
appended to ``node.toml`` (the file is edited, not rewritten, so the operator's comments stay)
and the CA added to ``[tls] client_ca``. The edited text must parse before anything is written.

``check_node`` opens what a node would open at start — config, keys, store, bus, TLS material
— and asks each peer for its discovery document; each check says ok or what is wrong. It never
migrates or writes the store, and it makes no store that is not there.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import tomllib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from gsomia import primitives
from gsomia.api.tls import peer_client, pinned_certs, server_context
from gsomia.app.boot import config_from_text, load_config, open_keys, private_dir
from gsomia.app.buses import open_bus
from gsomia.app.pki import CA_CERT, DEFAULT_HOSTS, NODE_CERT, NODE_KEY, tls_password, write_node_tls
from gsomia.app.stores import PostgresTarget, open_store, store_target
from gsomia.clock import SystemClock
from gsomia.errors import BadInput, GsomiaError, VerificationFailed
from gsomia.node.config import (
    DEFAULT_COSIGN_INTERVAL,
    DEFAULT_EVENT_HEARTBEAT,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_MAX_CONTENT,
    NodeConfig,
    Peer,
    new_token,
    token_digest,
    toml_value,
)
from gsomia.scenarios import load_scenario
from gsomia.seal.at_rest import KeyRingCipher
from gsomia.seal.keys import (
    KeyRing,
    PublicKeyring,
    check_party,
    check_passphrase,
    init_keys,
    keystore_path,
    parse_export_document,
)
from gsomia.store.postgres_log import PgDatabase
from gsomia.store.postgres_node import has_store

EXPORT_FORMAT = "gsomia-node-export"
EXPORT_VERSION = 1
CONFIG_NAME = "node.toml"
PEERS_DIR = "peers"
TLS_DIR = "tls"
DEFAULT_LISTEN = "127.0.0.1:8701"
DEFAULT_STORE = "sqlite:///node.sqlite3"
CHECK_TIMEOUT = 3.0  # seconds for each network check (store, bus, a peer)
_ALL_INTERFACES = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 (a name to refuse, not a bind)
_HEADER = re.compile(r"^\s*\[")
_PEERS_HEADER = re.compile(r"^\s*\[\[\s*peers\s*\]\]\s*(#.*)?$")
_TLS_HEADER = re.compile(r"^\s*\[\s*tls\s*\]\s*(#.*)?$")
_CLIENT_CA = re.compile(r"^\s*client_ca\s*=")


def _write_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (the process's umask decides its mode)."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise BadInput(f"{path}: cannot write ({exc.strerror})") from exc


# ------------------------------------------------------------------------------------ init
@dataclass(frozen=True, slots=True)
class InitOptions:
    """What ``gsomia node init`` is told (everything but the secrets)."""

    party: str
    listen: str = DEFAULT_LISTEN
    url: str | None = None  # how peers reach the node; default from ``listen``
    store: str = DEFAULT_STORE
    bus: str | None = None
    tls: bool = False
    scenario: str = "historical"
    admin: str = "admin"
    need_to_know: tuple[str, ...] = ()  # the admin's duties (topics)
    force: bool = False


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """The node's TLS material as written: its certificate, key and CA (PEM)."""

    cert: Path
    key: Path
    ca: Path


@dataclass(frozen=True, slots=True)
class Initialised:
    """What ``init_node`` made. ``token`` is the admin's, shown once and never stored."""

    directory: Path
    config: Path
    export: Path
    party: str
    url: str
    key_id: str
    admin: str
    token: str
    tls: TlsFiles | None


def _node_url(options: InitOptions) -> str:
    """The URL peers use: ``--url`` (checked), else the listening address."""
    scheme = "https" if options.tls else "http"
    if options.url is not None:
        parts = urlsplit(options.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BadInput(f"--url: {options.url!r} is not an http(s) URL with a host")
        if parts.scheme != scheme:
            raise BadInput(
                f"--url: a node {'with' if options.tls else 'without'} --tls is reached over "
                f"{scheme}://, not {parts.scheme}://"
            )
        return options.url.rstrip("/")
    host, _, port = options.listen.rpartition(":")
    if host.strip("[]") in _ALL_INTERFACES:
        raise BadInput(
            f"--listen {options.listen}: the node listens on every interface; "
            "give the URL its peers use with --url"
        )
    return f"{scheme}://{host}:{port}"


def _scenario_ref(ref: str) -> str:
    """A scenario file is written as an absolute path (a name as it is)."""
    return str(Path(ref).resolve()) if ref.endswith(".toml") else ref


def render_commented_config(
    options: InitOptions, *, token_sha256: str, clearance: str, tls: TlsFiles | None
) -> str:
    """The text of a new node's ``node.toml``: every key the node reads, each explained."""
    p = options.party
    lines = [
        f"# gsomia node {p}, written by `gsomia node init`; check it with",
        "# `gsomia node check --config node.toml`. Relative paths are taken from this file's",
        "# directory. No secret is in this file: the keys open with GSOMIA_PASSPHRASE (or",
        "# --key-file), and users are listed with the SHA-256 of their token.",
        "",
        "# The party this node speaks for (a party of the scenario; the keys are this party's).",
        f"party = {toml_value(p)}",
        "# Where the node listens, HOST:PORT (every worker of the node listens on it).",
        f"listen = {toml_value(options.listen)}",
        "# The node's own files: its keys (keys/), a SQLite store, its TLS material (tls/).",
        'data_dir = "."',
        "# The parties, their policies and agreements: a shipped scenario or a .toml file.",
        f"scenario = {toml_value(_scenario_ref(options.scenario))}",
        "# The name shown in TAXII discovery and the console.",
        f"title = {toml_value(f'gsomia node {p}')}",
        "# Where the node keeps its items, log and outbox: sqlite:///FILE (in data_dir; one",
        "# process) or postgresql://HOST[:PORT]/DBNAME[?schema=NAME] (several workers and",
        "# machines; keep the password out of the URL: ~/.pgpass or PGPASSWORD).",
        f"store = {toml_value(options.store)}",
        "# What the node's workers share (events, queued work, the schedules' lease): absent for",
        "# one process on its own, nats://HOST:PORT for NATS JetStream (several workers).",
        '# bus = "nats://127.0.0.1:4222"'
        if options.bus is None
        else f"bus = {toml_value(options.bus)}",
        "# The largest request body taken, in bytes (a TAXII envelope, a peer's push).",
        f"max_content_length = {DEFAULT_MAX_CONTENT}",
        "# Seconds between checkpoints of the log and rounds of co-signing with peers (0: off).",
        f"cosign_interval = {DEFAULT_COSIGN_INTERVAL}",
        "# Seconds between heartbeats on an open event stream.",
        f"event_heartbeat = {DEFAULT_EVENT_HEARTBEAT}",
        "# Seconds a client has to send a request's line and headers.",
        f"header_timeout = {DEFAULT_HEADER_TIMEOUT}",
    ]
    if tls is not None:
        lines += [
            "",
            "# TLS 1.3 on the listener and mutual TLS with peers. cert and key: the node's",
            "# certificate and key (PEM; the key encrypted with GSOMIA_PASSPHRASE, or for keys",
            "# behind --key-file a password derived from that file). client_ca: the CAs trusted",
            "# for peers, as clients and as servers (`gsomia node add-peer` adds each peer's);",
            "# a peer must also present the certificate pinned to its party in [[peers]].",
            "[tls]",
            f"cert = {toml_value(tls.cert.as_posix())}",
            f"key = {toml_value(tls.key.as_posix())}",
            f"client_ca = {toml_value([tls.ca.as_posix()])}",
        ]
    lines += [
        "",
        "# Users: one [[users]] table each. name: letters, digits and _.@-; token_sha256: the",
        "# SHA-256 of the user's token (`gsomia node token --name N` makes a token and its",
        "# digest); clearance: a level of this party's policy; need_to_know: the topics of the",
        "# user's duties (an item is visible only when each of its topics lies within one);",
        '# role: "analyst", "admin" (also reads the node\'s log and holdings) or "authority"',
        "# (speaks for this party in agreement matters: gives diplomatic notes).",
        "[[users]]",
        f"name = {toml_value(options.admin)}",
        f"token_sha256 = {toml_value(token_sha256)}",
        f"clearance = {toml_value(clearance)}",
        f"need_to_know = {toml_value(options.need_to_know)}",
        'role = "admin"',
        "",
        "# Peers: one [[peers]] table each, added by `gsomia node add-peer EXPORT`. party: the",
        "# peer's party; url: where it is reached; keys: its public keys (a `gsomia keys export`",
        "# document); cert: its TLS certificate, pinned to the party. Peers authenticate by",
        "# signature, and with TLS by their pinned certificate too.",
    ]
    return "\n".join(lines) + "\n"


def check_config_text(text: str, source: Path) -> NodeConfig:
    """Parse ``text`` as ``load_config`` parses the file ``source``; BadInput if it does not."""
    return config_from_text(text, source)


def _tls_hosts(url: str, listen: str) -> list[str]:
    """The names a node's certificate is for: its URL's host, its listening host, loopback."""
    hosts = [urlsplit(url).hostname or "", listen.rpartition(":")[0].strip("[]"), *DEFAULT_HOSTS]
    return [h for h in dict.fromkeys(hosts) if h not in _ALL_INTERFACES]


def _tls_material(
    directory: Path, party: str, hosts: Sequence[str], password: bytes | None
) -> TlsFiles:
    """The node's TLS files (relative to ``directory``): made, or kept if already there."""
    where = directory / TLS_DIR
    cert, key, ca = where / NODE_CERT, where / NODE_KEY, where / "ca" / CA_CERT
    if not (cert.exists() and key.exists() and ca.exists()):
        made = write_node_tls(where, party, hosts=hosts, passphrase=password)
        cert, key, ca = made.cert, made.key, made.ca
    return TlsFiles(
        cert.relative_to(directory), key.relative_to(directory), ca.relative_to(directory)
    )


def init_node(
    directory: Path,
    options: InitOptions,
    *,
    passphrase: bytes | None,
    key_file: Path | None = None,
) -> Initialised:
    """Make a node in ``directory`` (see the module's docstring). Refuses a directory that
    holds a node unless ``options.force``; keys and TLS material already there are kept,
    never overwritten. Everything is checked before the first file is written."""
    party = check_party(options.party, where="--party")
    scenario = load_scenario(options.scenario)
    policy = scenario.policy(party, where="--party")
    config_path = directory / CONFIG_NAME
    if config_path.exists() and not options.force:
        raise BadInput(
            f"{config_path}: a node is already set up here (--force writes its config anew, "
            "keeping its keys)"
        )
    if key_file is None:
        if passphrase is None:
            raise BadInput(
                "no passphrase: set GSOMIA_PASSPHRASE (12 characters or more) or pass --key-file"
            )
        check_passphrase(passphrase)
    token = new_token()
    top = policy.levels[0].id  # a policy lists its levels highest first
    planned = TlsFiles(
        Path(TLS_DIR, NODE_CERT), Path(TLS_DIR, NODE_KEY), Path(TLS_DIR, "ca", CA_CERT)
    )
    text = render_commented_config(
        options,
        token_sha256=token_digest(token),
        clearance=top,
        tls=planned if options.tls else None,
    )
    check_config_text(text, config_path)  # bad input is refused before anything is written
    store_target(options.store, directory, where="--store")
    open_bus(options.bus, party=party, where="--bus")  # checks the URL; connects only at start
    url = _node_url(options)
    private_dir(directory)
    ring = _keys(directory, party, passphrase=passphrase, key_file=key_file)
    tls: TlsFiles | None = None
    if options.tls:
        password = tls_password(passphrase=passphrase, key_file=key_file)
        tls = _tls_material(directory, party, _tls_hosts(url, options.listen), password)
        text = render_commented_config(
            options, token_sha256=token_digest(token), clearance=top, tls=tls
        )
        check_config_text(text, config_path)
    export_path = directory / f"{party}.export.json"
    export = node_export(party, url, ring.export_document(), directory, tls)
    _write_file(export_path, orjson.dumps(export, option=orjson.OPT_INDENT_2) + b"\n")
    _write_file(config_path, text.encode("utf-8"))
    return Initialised(
        directory=directory,
        config=config_path,
        export=export_path,
        party=party,
        url=url,
        key_id=ring.current_public(party).key_id,
        admin=options.admin,
        token=token,
        tls=tls,
    )


def _keys(
    directory: Path, party: str, *, passphrase: bytes | None, key_file: Path | None
) -> PublicKeyring:
    """The party's keys in ``directory``: made, or (already there) opened and checked."""
    if not keystore_path(directory).exists():
        return init_keys(directory, party, passphrase=passphrase, key_file=key_file)
    ring = KeyRing.load(directory, passphrase=passphrase, key_file=key_file)
    if ring.party != party:
        raise BadInput(f"{keystore_path(directory)}: holds the keys of {ring.party}, not {party}")
    return ring


def node_export(
    party: str, url: str, keys: dict[str, Any], directory: Path, tls: TlsFiles | None
) -> dict[str, Any]:
    """The public document a node hands its peers (nothing secret in it)."""
    document: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "party": party,
        "url": url,
        "keys": keys,
    }
    if tls is not None:
        document["tls"] = {
            "cert": (directory / tls.cert).read_text(encoding="ascii"),
            "ca": (directory / tls.ca).read_text(encoding="ascii"),
        }
    return document


# -------------------------------------------------------------------------------- add-peer
@dataclass(frozen=True, slots=True)
class PeerExport:
    """A peer's export, checked: its keys a valid chain of the party's, its PEMs certificates."""

    party: str
    url: str
    keys: dict[str, Any]
    cert: str | None
    ca: str | None


@dataclass(frozen=True, slots=True)
class AddedPeer:
    party: str
    url: str
    keys: Path
    cert: Path | None
    ca: Path | None
    replaced: bool


def _pem_certificate(value: object, where: str) -> str:
    """A single PEM certificate (checked to decode), as text."""
    if not isinstance(value, str) or "-----BEGIN CERTIFICATE-----" not in value:
        raise BadInput(f"{where}: expected a PEM certificate")
    try:
        ssl.PEM_cert_to_DER_cert(value.strip() + "\n")
    except ValueError as exc:
        raise BadInput(f"{where}: not a readable PEM certificate ({exc})") from None
    return value.strip() + "\n"


def parse_export(document: object, *, where: str) -> PeerExport:
    """Check a node export (``gsomia-node-export`` version 1); BadInput naming what is wrong."""
    if not isinstance(document, dict):
        raise BadInput(f"{where}: expected a JSON object (a `gsomia node init` export)")
    if document.get("format") != EXPORT_FORMAT or document.get("version") != EXPORT_VERSION:
        raise BadInput(f"{where}: not a gsomia node export of version {EXPORT_VERSION}")
    unknown = sorted(set(document) - {"format", "version", "party", "url", "keys", "tls"})
    if unknown:
        raise BadInput(f"{where}: unknown field(s) {', '.join(unknown)}")
    party = document.get("party")
    if not isinstance(party, str):
        raise BadInput(f"{where}.party: expected a party trigraph")
    check_party(party, where=f"{where}.party")
    url = document.get("url")
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput(f"{where}.url: expected the node's http(s) URL")
    keys_party, _ = parse_export_document(document.get("keys"), where=f"{where}.keys")
    if keys_party != party:
        raise BadInput(f"{where}.keys: the keys of {keys_party}, not of {party}")
    tls = document.get("tls")
    cert = ca = None
    if tls is not None:
        if not isinstance(tls, dict) or set(tls) != {"cert", "ca"}:
            raise BadInput(f"{where}.tls: expected an object with cert and ca (PEM)")
        cert = _pem_certificate(tls["cert"], f"{where}.tls.cert")
        ca = _pem_certificate(tls["ca"], f"{where}.tls.ca")
    if (parts.scheme == "https") != (cert is not None):
        raise BadInput(f"{where}: an https URL comes with tls (cert and ca), and only it")
    return PeerExport(party, str(url).rstrip("/"), document["keys"], cert, ca)


def _read_export(path: Path) -> object:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BadInput(f"peer export {path}: cannot read ({exc.strerror})") from None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadInput(
            f"peer export {path}: malformed JSON at line {exc.lineno}, column {exc.colno}"
        ) from None


def add_peer(config_path: Path, export_path: Path, *, replace: bool = False) -> AddedPeer:
    """Add (or with ``replace``, replace) the peer whose export is at ``export_path`` to the
    node configured at ``config_path``; see the module's docstring."""
    config = load_config(config_path)
    where = f"peer export {export_path}"
    peer = parse_export(_read_export(export_path), where=where)
    load_scenario(config.scenario).policy(peer.party, where=f"{where}.party")
    if peer.party == config.party:
        raise BadInput(f"{where}: the export of {peer.party}, this node's own party")
    known = any(p.party == peer.party for p in config.peers)
    if known and not replace:
        raise BadInput(
            f"{config_path}: {peer.party} is already a peer (--replace replaces its table)"
        )
    if config.tls is None and peer.cert is not None:
        raise BadInput(
            f"{where}: {peer.party} is reached over https, but this node has no [tls]: "
            "make it with `gsomia node init --tls`"
        )
    if config.tls is not None and peer.cert is None:
        raise BadInput(
            f"{where}: this node speaks TLS to its peers, but {peer.party}'s export has no "
            "certificate to pin"
        )
    base = config_path.parent
    files = _peer_files(base, peer)
    text = config_path.read_text(encoding="utf-8")
    text = _with_peer_table(text, peer, files, replace=known)
    if files.ca is not None:
        text = _with_client_ca(text, files.ca.relative_to(base).as_posix(), config_path)
    check_config_text(text, config_path)
    # the keys must import (a valid chain that agrees with any trusted before) before anything
    # is written; the node imports them again at start
    PublicKeyring.load_public(config.data_dir).import_peer(peer.keys, where=f"{where}.keys")
    _write_file(files.keys, orjson.dumps(peer.keys, option=orjson.OPT_INDENT_2) + b"\n")
    if files.cert is not None and peer.cert is not None:
        _write_file(files.cert, peer.cert.encode("ascii"))
    if files.ca is not None and peer.ca is not None:
        _write_file(files.ca, peer.ca.encode("ascii"))
    _write_file(config_path, text.encode("utf-8"))
    return AddedPeer(peer.party, peer.url, files.keys, files.cert, files.ca, known)


def _peer_files(base: Path, peer: PeerExport) -> AddedPeer:
    directory = base / PEERS_DIR
    return AddedPeer(
        peer.party,
        peer.url,
        directory / f"{peer.party}.keys.json",
        None if peer.cert is None else directory / f"{peer.party}.cert.pem",
        None if peer.ca is None else directory / f"{peer.party}.ca.pem",
        replaced=False,
    )


def _peer_table(peer: PeerExport, files: AddedPeer, base: Path) -> list[str]:
    lines = [
        "[[peers]]",
        f"party = {toml_value(peer.party)}",
        f"url = {toml_value(peer.url)}",
        f"keys = {toml_value(files.keys.relative_to(base).as_posix())}",
    ]
    if files.cert is not None:
        lines.append(f"cert = {toml_value(files.cert.relative_to(base).as_posix())}")
    return lines


def _table_spans(lines: list[str]) -> list[tuple[int, int]]:
    """Each table's lines, [start, end): from its header to the next header, less the comments
    and blank lines just above that header (they introduce the next table)."""
    starts = [i for i, line in enumerate(lines) if _HEADER.match(line)]
    spans = []
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        if n + 1 < len(starts):
            while end - 1 > start and (
                not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")
            ):
                end -= 1
        spans.append((start, end))
    return spans


def _with_peer_table(text: str, peer: PeerExport, files: AddedPeer, *, replace: bool) -> str:
    """``text`` with the peer's ``[[peers]]`` table: replacing the party's table (``replace``),
    else appended at the end."""
    base = files.keys.parent.parent
    table = _peer_table(peer, files, base)
    lines = text.splitlines()
    if replace:
        for start, end in _table_spans(lines):
            if not _PEERS_HEADER.match(lines[start]):
                continue
            body = "\n".join(lines[start + 1 : end])
            if tomllib.loads(body).get("party") == peer.party:
                return "\n".join([*lines[:start], *table, *lines[end:]]) + "\n"
        raise BadInput(f"no [[peers]] table for {peer.party} found to replace")
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join([*lines, "", *table]) + "\n"


def _with_client_ca(text: str, ca: str, source: Path) -> str:
    """``text`` with ``ca`` in the ``[tls]`` table's ``client_ca`` list (once)."""
    lines = text.splitlines()
    for start, end in _table_spans(lines):
        if not _TLS_HEADER.match(lines[start]):
            continue
        for i in range(start + 1, end):
            if not _CLIENT_CA.match(lines[i]):
                continue
            # the value may run over several lines: take the fewest that parse
            for j in range(i + 1, end + 1):
                try:
                    value = tomllib.loads("\n".join(lines[i:j]))["client_ca"]
                except tomllib.TOMLDecodeError:
                    continue
                cas = [value] if isinstance(value, str) else list(value)
                if ca not in cas:
                    cas.append(ca)
                return "\n".join([*lines[:i], f"client_ca = {toml_value(cas)}", *lines[j:]]) + "\n"
        return "\n".join([*lines[:end], f"client_ca = {toml_value([ca])}", *lines[end:]]) + "\n"
    raise BadInput(f"{source}: no [tls] table to add the peer's CA to")


# ----------------------------------------------------------------------------------- check
@dataclass(frozen=True, slots=True)
class Check:
    """One check of ``gsomia node check``: its name, whether it passed, and what it found."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class CheckReport:
    """Every check of a node's set-up, in order; ``verify`` raises if any failed."""

    config: Path
    party: str
    checks: tuple[Check, ...]

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.ok)

    def verify(self) -> None:
        """``VerificationFailed`` (exit 3) naming the checks that failed, if any did."""
        if self.failed:
            names = ", ".join(c.name for c in self.failed)
            raise VerificationFailed(
                f"node {self.party}: {len(self.failed)} of {len(self.checks)} checks failed "
                f"({names})"
            )


def _run(name: str, check: Callable[[], str]) -> Check:
    """Run one check: what it found, or why it failed (a failure never stops the others)."""
    try:
        return Check(name, ok=True, detail=check())
    except Exception as exc:  # noqa: BLE001  # a check reports any failure as its finding
        return Check(name, ok=False, detail=_reason(exc))


async def _run_async(name: str, check: Callable[[], Awaitable[str]], limit: float) -> Check:
    """Run one network check, given ``limit`` seconds."""
    try:
        return Check(name, ok=True, detail=await asyncio.wait_for(check(), limit))
    except TimeoutError:
        return Check(name, ok=False, detail=f"no answer within {limit:g} s")
    except Exception as exc:  # noqa: BLE001  # a check reports any failure as its finding
        return Check(name, ok=False, detail=_reason(exc))


def _reason(exc: BaseException) -> str:
    """What went wrong, in a line: the message of one of ours, the kind and message else."""
    if isinstance(exc, GsomiaError):
        return " ".join(str(exc).split())
    text = " ".join(str(exc).split()) or "no detail"
    return f"{type(exc).__name__}: {text}"


def check_node(
    config_path: Path,
    *,
    passphrase: bytes | None,
    key_file: Path | None = None,
    timeout: float = CHECK_TIMEOUT,
) -> CheckReport:
    """Check a node's set-up as its start would find it: config (BadInput if it does not parse:
    nothing else can be checked), keys, store, bus, TLS material and each peer. The store is
    neither made nor migrated."""
    config = load_config(config_path)
    checks = [
        Check(
            "config",
            ok=True,
            detail=f"{config_path}: party {config.party}, scenario {config.scenario}, "
            f"{len(config.peers)} peer(s), {len(config.users)} user(s)",
        )
    ]
    opened: list[KeyRing] = []

    def keys() -> str:
        ring = open_keys(config, passphrase=passphrase, key_file=key_file)
        opened.append(ring)
        return (
            f"key {ring.current.key_id} of {ring.party} opens; "
            f"trusted keys of {len(config.peers)} peer(s) imported"
        )

    checks.append(_run("keys", keys))
    checks.append(_run("store", lambda: _check_store(config, opened[0] if opened else None)))
    password = tls_password(passphrase=passphrase, key_file=key_file)
    checks.append(_run("tls", lambda: _check_tls(config, password)))
    checks += asyncio.run(_network_checks(config, password, timeout))
    return CheckReport(config_path, config.party, tuple(checks))


def _check_store(config: NodeConfig, keyring: KeyRing | None) -> str:
    """The store reachable and, if it exists, of this code's schema (never made or migrated)."""
    where = f"node config {config.source}.store"
    target = store_target(config.store, config.data_dir, where=where)
    if isinstance(target, PostgresTarget):
        db = PgDatabase(target.conninfo, schema=target.schema, timeout=CHECK_TIMEOUT, pool_max=1)
        try:
            with db.transaction(write=False, what="cannot read") as con:
                exists = has_store(con, target.schema)
        finally:
            db.close()
        name = db.name
    else:
        exists = target.is_file()
        name = f"node store {target}"
    if not exists:
        return f"{name}: no store yet (`gsomia node migrate` or the first start makes it)"
    if keyring is None:
        return f"{name}: reachable; its schema not checked, as the keys did not open"
    store = open_store(
        config.store, data_dir=config.data_dir, cipher=KeyRingCipher(keyring), where=where
    )
    store.close()
    return f"{name}: schema up to date"


def _check_tls(config: NodeConfig, password: bytes | None) -> str:
    """The listener's context as the node makes it (certificate and key load together, the
    trusted CAs load), the certificate valid now, every peer's pinned certificate readable."""
    if config.tls is None:
        return "none: plain HTTP (for loopback tests and the plain demo only)"
    server_context(config, password)
    pins = pinned_certs(config)
    start, end = _cert_validity(config.tls.cert)
    now = SystemClock().now()
    if not start <= now <= end:
        raise BadInput(f"{config.tls.cert}: valid from {start:%Y-%m-%d} to {end:%Y-%m-%d}, not now")
    return (
        f"{config.tls.cert} (valid until {end:%Y-%m-%d}) and its key load; "
        f"{len(config.tls.client_ca)} trusted CA file(s); {len(pins)} pinned peer certificate(s)"
    )


def _cert_validity(path: Path) -> tuple[datetime, datetime]:
    """When the certificate in ``path`` starts and stops being valid."""
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise BadInput(f"{path}: cannot read ({exc.strerror})") from None
    return primitives.cert_validity(pem, where=str(path))


def _display(url: str) -> str:
    """A URL as it may be shown: without user or password."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}" if parts.hostname else parts.scheme + ":"


async def _check_bus(config: NodeConfig) -> str:
    """The bus opens (connects, makes its streams) and closes."""
    bus = open_bus(config.bus, party=config.party, where=f"node config {config.source}.bus")
    await bus.start()
    await bus.close()
    if not bus.shared:
        return "in-process: one worker, no server"
    return f"{_display(config.bus or '')} reachable, shared by the node's workers"


async def _network_checks(config: NodeConfig, password: bytes | None, limit: float) -> list[Check]:
    """The bus and every peer, at once; peers through the node's own peer client (with TLS:
    its certificate presented, the peer's pinned one required)."""
    try:
        client = peer_client(config, password=password)
    except GsomiaError as exc:
        bus = await _run_async("bus", partial(_check_bus, config), limit)
        reason = f"not checked: the node's peer client cannot be made ({_reason(exc)})"
        return [bus, *(Check(f"peer {p.party}", ok=False, detail=reason) for p in config.peers)]
    async with client:

        async def reach(peer: Peer) -> str:
            try:
                response = await client.get(f"{peer.url}/taxii2/", timeout=limit)
            except httpx.HTTPError as exc:
                raise BadInput(f"{peer.url}: not reachable ({_reason(exc)})") from None
            return f"{peer.url} answers (HTTP {response.status_code})"

        checks = [_run_async("bus", partial(_check_bus, config), limit)]
        checks += [_run_async(f"peer {p.party}", partial(reach, p), limit) for p in config.peers]
        return list(await asyncio.gather(*checks))
