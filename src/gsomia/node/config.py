"""A node's configuration (``node.toml``): who it is, where it listens, its peers and users,
its store and bus (by URL), and its TLS material.

``parse_config`` reads it; ``render_config`` writes it (the demo, the tests and the benchmarks
write theirs with it). Every error names the file, the key and what is wrong. Tokens are never
in the file: users are listed with the SHA-256 of their token (``token_sha256``); ``gsomia node
token`` makes one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gsomia.domain.access import Clearance, Role, parse_role
from gsomia.domain.purposes import DEFAULT as DEFAULT_PURPOSES
from gsomia.domain.purposes import parse_purposes
from gsomia.domain.scenario import Scenario
from gsomia.domain.topics import parse_topic
from gsomia.errors import BadInput

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_USER = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
DEFAULT_MAX_CONTENT = 10 * 1024 * 1024
DEFAULT_COSIGN_INTERVAL = 30.0  # seconds between checkpoints and rounds of co-signing
# seconds a peer shows it lost a note it acknowledged before the note goes to it again (and
# between two such deliveries); 0: never again by itself (``gsomia.node.notes.redeliver_lost``)
DEFAULT_REDELIVER_AFTER = 30.0
DEFAULT_RECONCILE_INTERVAL = 3600.0  # wall seconds between reconciliations with each peer
DEFAULT_EVENT_HEARTBEAT = 15.0  # seconds between heartbeats on an event stream
DEFAULT_HEADER_TIMEOUT = 10.0  # seconds a client has to send a request's line and headers
DEFAULT_TRACK_WINDOW_MS = 10  # a track link's batch window: one signature per window
MAX_TRACK_WINDOW_MS = 1000


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh API token (256 random bits); only its ``token_digest`` goes in node.toml."""
    return "gsomia_" + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class User:
    name: str
    token_sha256: str
    clearance: Clearance

    @property
    def role(self) -> Role:
        return self.clearance.role

    def token_matches(self, token: str) -> bool:
        return hmac.compare_digest(token_digest(token), self.token_sha256)


@dataclass(frozen=True, slots=True)
class Peer:
    party: str
    url: str
    keys: Path  # the peer's exported public keys (``gsomia keys export``)
    token: str | None = None  # not used for peers: they authenticate by signature
    cert: Path | None = None  # the peer's TLS certificate (PEM), pinned to this party


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """The ``[tls]`` table: the listener's certificate and key (PEM; the key encrypted with the
    node's passphrase unless the operator chose otherwise), and the CA certificates trusted for
    peers, both for the client certificates they present and for their servers."""

    cert: Path
    key: Path
    client_ca: tuple[Path, ...]


@dataclass(frozen=True)
class NodeConfig:
    source: Path
    party: str
    host: str
    port: int
    data_dir: Path
    scenario: str
    title: str
    peers: tuple[Peer, ...]
    users: tuple[User, ...]
    max_content_length: int = DEFAULT_MAX_CONTENT
    cosign_interval: float = DEFAULT_COSIGN_INTERVAL  # 0 turns the schedule off
    redeliver_after: float = DEFAULT_REDELIVER_AFTER  # 0: a lost note is not sent again
    reconcile_interval: float = DEFAULT_RECONCILE_INTERVAL  # 0 turns the schedule off
    event_heartbeat: float = DEFAULT_EVENT_HEARTBEAT
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    store: str | None = None  # the store's URL (``gsomia.app.stores``); None: the default file
    bus: str | None = None  # the bus's URL (``gsomia.app.buses``); None: in-process, one worker
    tls: TlsSettings | None = None  # None: plain HTTP (loopback tests and the plain demo only)
    track_window_ms: int = DEFAULT_TRACK_WINDOW_MS  # track frames batched per window, per link

    @property
    def scheme(self) -> str:
        """``https`` when the listener has TLS, else ``http``."""
        return "http" if self.tls is None else "https"

    def user_by_token(self, name: str | None, token: str) -> User | None:
        """The user with this token (and name, for HTTP Basic); None if there is none."""
        found = None
        for user in self.users:
            # compare every digest, so timing does not tell which user exists
            if user.token_matches(token) and (name is None or hmac.compare_digest(name, user.name)):
                found = user
        return found


def _req(table: dict[str, Any], key: str, where: str, kind: type) -> Any:
    if key not in table:
        raise BadInput(f"{where}: missing key '{key}'")
    value = table[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise BadInput(f"{where}.{key}: expected {kind.__name__}")
    return value


_KNOWN_KEYS = frozenset(
    {
        "party",
        "listen",
        "data_dir",
        "scenario",
        "title",
        "peers",
        "users",
        "max_content_length",
        "cosign_interval",
        "redeliver_after",
        "reconcile_interval",
        "event_heartbeat",
        "header_timeout",
        "store",
        "bus",
        "tls",
        "track_window_ms",
    }
)


def parse_config(document: dict[str, Any], source: Path, scenario: Scenario) -> NodeConfig:
    """Build a NodeConfig from a decoded TOML document, checked against ``scenario``."""
    where = str(source)
    unknown = sorted(set(document) - _KNOWN_KEYS)
    if unknown:
        raise BadInput(f"{where}: unknown key(s) {', '.join(unknown)}")
    party = _req(document, "party", where, str)
    scenario.policy(party, where=f"{where}.party")
    host, port = _listen(_req(document, "listen", where, str), where)
    data_dir = Path(_req(document, "data_dir", where, str))
    if not data_dir.is_absolute():
        data_dir = source.parent / data_dir
    peers = tuple(
        _peer(table, f"{where}.peers[{i}]", party, source, scenario)
        for i, table in enumerate(document.get("peers", []))
    )
    max_len = document.get("max_content_length", DEFAULT_MAX_CONTENT)
    if not isinstance(max_len, int) or isinstance(max_len, bool) or max_len < 1024:
        raise BadInput(f"{where}.max_content_length: expected a whole number of bytes ≥ 1024")
    return NodeConfig(
        source=source,
        party=party,
        host=host,
        port=port,
        data_dir=data_dir,
        scenario=str(document.get("scenario", "historical")),
        title=str(document.get("title", f"gsomia node {party}")),
        peers=peers,
        users=_users(document.get("users", []), where, party, scenario),
        max_content_length=max_len,
        cosign_interval=_seconds(document, "cosign_interval", DEFAULT_COSIGN_INTERVAL, where),
        redeliver_after=_seconds(document, "redeliver_after", DEFAULT_REDELIVER_AFTER, where),
        reconcile_interval=_seconds(
            document, "reconcile_interval", DEFAULT_RECONCILE_INTERVAL, where, most=7 * 86400
        ),
        event_heartbeat=_positive_seconds(
            document, "event_heartbeat", DEFAULT_EVENT_HEARTBEAT, where
        ),
        header_timeout=_positive_seconds(document, "header_timeout", DEFAULT_HEADER_TIMEOUT, where),
        store=_store(document, where),
        bus=_bus(document, where),
        tls=_tls(document.get("tls"), f"{where}.tls", source),
        track_window_ms=_track_window(document, where),
    )


def _track_window(document: dict[str, Any], where: str) -> int:
    """``track_window_ms``: a whole number of milliseconds from 1 to ``MAX_TRACK_WINDOW_MS``."""
    value = document.get("track_window_ms", DEFAULT_TRACK_WINDOW_MS)
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or not 1 <= value <= MAX_TRACK_WINDOW_MS
    ):
        raise BadInput(
            f"{where}.track_window_ms: expected whole milliseconds from 1 to {MAX_TRACK_WINDOW_MS}"
        )
    return value


def _store(document: dict[str, Any], where: str) -> str | None:
    """The ``store`` URL as written (its scheme and path are checked where it is opened)."""
    url = document.get("store")
    if url is not None and (not isinstance(url, str) or not url):
        raise BadInput(f'{where}.store: expected a store URL, e.g. "sqlite:///node.sqlite3"')
    return url


def _bus(document: dict[str, Any], where: str) -> str | None:
    """The ``bus`` URL as written (its scheme is checked where it is opened)."""
    url = document.get("bus")
    if url is not None and (not isinstance(url, str) or not url):
        raise BadInput(f'{where}.bus: expected a bus URL, e.g. "nats://127.0.0.1:4222"')
    return url


def _path(value: str, source: Path) -> Path:
    path = Path(value)
    return path if path.is_absolute() else source.parent / path


def _tls(table: object, tw: str, source: Path) -> TlsSettings | None:
    if table is None:
        return None
    if not isinstance(table, dict):
        raise BadInput(f"{tw}: expected a table with cert, key and client_ca")
    unknown = sorted(set(table) - {"cert", "key", "client_ca"})
    if unknown:
        raise BadInput(f"{tw}: unknown key(s) {', '.join(unknown)}")
    cert = _path(_req(table, "cert", tw, str), source)
    key = _path(_req(table, "key", tw, str), source)
    raw = table.get("client_ca", [])
    cas = [raw] if isinstance(raw, str) else raw
    if not isinstance(cas, list) or not all(isinstance(c, str) and c for c in cas):
        raise BadInput(f"{tw}.client_ca: expected a CA file or a list of CA files (PEM)")
    return TlsSettings(cert, key, tuple(_path(c, source) for c in cas))


def _listen(listen: str, where: str) -> tuple[str, int]:
    host, _, port_text = listen.rpartition(":")
    if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise BadInput(f"{where}.listen: expected HOST:PORT, e.g. 127.0.0.1:8701")
    return host.strip("[]"), int(port_text)


def _peer(table: object, pw: str, party: str, source: Path, scenario: Scenario) -> Peer:
    if not isinstance(table, dict):
        raise BadInput(f"{pw}: expected a table")
    peer_party = _req(table, "party", pw, str)
    scenario.policy(peer_party, where=f"{pw}.party")
    if peer_party == party:
        raise BadInput(f"{pw}.party: a node is not its own peer")
    url = _req(table, "url", pw, str)
    if not url.startswith(("http://", "https://")):
        raise BadInput(f"{pw}.url: expected an http(s) URL")
    keys = _path(_req(table, "keys", pw, str), source)
    cert = table.get("cert")
    if cert is not None and (not isinstance(cert, str) or not cert):
        raise BadInput(f"{pw}.cert: expected the path of the peer's TLS certificate (PEM)")
    return Peer(
        peer_party,
        url.rstrip("/"),
        keys,
        cert=None if cert is None else _path(cert, source),
    )


def _users(tables: list[Any], where: str, party: str, scenario: Scenario) -> tuple[User, ...]:
    users: list[User] = []
    for i, table in enumerate(tables):
        user = _user(table, f"{where}.users[{i}]", party, scenario)
        if any(u.name == user.name for u in users):
            raise BadInput(f"{where}.users[{i}].name: user {user.name!r} is listed twice")
        users.append(user)
    return tuple(users)


def _user(table: object, uw: str, party: str, scenario: Scenario) -> User:
    if not isinstance(table, dict):
        raise BadInput(f"{uw}: expected a table")
    name = _req(table, "name", uw, str)
    if not _USER.match(name):
        raise BadInput(f"{uw}.name: letters, digits and _.@- only, at most 64")
    digest = _req(table, "token_sha256", uw, str)
    if not _HEX64.match(digest):
        raise BadInput(f"{uw}.token_sha256: expected 64 lower-case hex digits")
    role = parse_role(table.get("role", "analyst"), f"{uw}.role")
    level = _req(table, "clearance", uw, str)
    ntk_raw = table.get("need_to_know", [])
    if not isinstance(ntk_raw, list):
        raise BadInput(f"{uw}.need_to_know: expected a list of topics")
    ntk = tuple(parse_topic(t, f"{uw}.need_to_know[{j}]") for j, t in enumerate(ntk_raw))
    purposes = (
        DEFAULT_PURPOSES
        if "purposes" not in table
        else parse_purposes(table["purposes"], f"{uw}.purposes", scenario.purposes)
    )
    try:
        clearance = Clearance.of(name, scenario.policy(party), level, ntk, role, purposes=purposes)
    except BadInput as exc:
        raise BadInput(f"{uw}.clearance: {exc}") from None
    return User(name, digest, clearance)


def _positive_seconds(document: dict[str, Any], key: str, default: float, where: str) -> float:
    value = _seconds(document, key, default, where)
    if value == 0:
        raise BadInput(f"{where}.{key}: expected a number of seconds above 0")
    return value


def _seconds(
    document: dict[str, Any], key: str, default: float, where: str, *, most: float = 86400
) -> float:
    """A number of seconds from 0 to ``most`` (a day; 0 where it turns something off)."""
    value = document.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= most:
        raise BadInput(f"{where}.{key}: expected a number of seconds from 0 to {most:g}")
    return float(value)


# ------------------------------------------------------------------ writing
@dataclass(frozen=True, slots=True)
class PeerEntry:
    """A ``[[peers]]`` table as written: ``keys`` relative to the file or absolute."""

    party: str
    url: str
    keys: str
    cert: str | None = None  # the pinned TLS certificate, relative to the file or absolute


@dataclass(frozen=True, slots=True)
class TlsEntry:
    """The ``[tls]`` table as written: paths relative to the file or absolute."""

    cert: str
    key: str
    client_ca: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class UserEntry:
    """A ``[[users]]`` table as written: the token's digest, never the token."""

    name: str
    token_sha256: str
    clearance: str
    need_to_know: tuple[str, ...] = ()
    role: str = "analyst"
    purposes: tuple[str, ...] = ()  # () writes none: the user serves `defense`


def toml_value(value: str | float | Sequence[str]) -> str:
    """A TOML value: strings as basic strings (JSON's escapes are TOML's), numbers as such."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int | float):
        return repr(value)
    return "[" + ", ".join(toml_value(v) for v in value) + "]"


def render_config(
    *,
    party: str,
    listen: str,
    data_dir: str,
    peers: Sequence[PeerEntry] = (),
    users: Sequence[UserEntry] = (),
    tls: TlsEntry | None = None,
    **settings: str | float,
) -> str:
    """The text of a ``node.toml`` that ``parse_config`` reads back; ``settings`` are the
    optional top-level keys (scenario, title, max_content_length, cosign_interval, store…),
    each written only when given."""
    lines = [
        f"party = {toml_value(party)}",
        f"listen = {toml_value(listen)}",
        f"data_dir = {toml_value(data_dir)}",
    ]
    lines += [f"{key} = {toml_value(value)}" for key, value in settings.items()]
    if tls is not None:
        lines += ["", "[tls]", f"cert = {toml_value(tls.cert)}", f"key = {toml_value(tls.key)}"]
        lines.append(f"client_ca = {toml_value(tls.client_ca)}")
    for peer in peers:
        lines += [
            "",
            "[[peers]]",
            f"party = {toml_value(peer.party)}",
            f"url = {toml_value(peer.url)}",
        ]
        lines.append(f"keys = {toml_value(peer.keys)}")
        if peer.cert is not None:
            lines.append(f"cert = {toml_value(peer.cert)}")
    for user in users:
        lines += ["", "[[users]]", f"name = {toml_value(user.name)}"]
        lines.append(f"token_sha256 = {toml_value(user.token_sha256)}")
        lines.append(f"clearance = {toml_value(user.clearance)}")
        lines.append(f"need_to_know = {toml_value(user.need_to_know)}")
        lines.append(f"role = {toml_value(user.role)}")
        if user.purposes:
            lines.append(f"purposes = {toml_value(user.purposes)}")
    return "\n".join(lines) + "\n"
