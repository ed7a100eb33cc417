"""Real gsomia nodes for the integration tests: keys, configuration, a uvicorn process each."""

from __future__ import annotations

import hashlib
import os
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import orjson

from gsomia.app.boot import load_config, open_node
from gsomia.app.pki import write_ca, write_node_tls
from gsomia.node.config import PeerEntry, TlsEntry, UserEntry, render_config, token_digest
from gsomia.node.service import Node
from gsomia.node.stix import GSOMIA_LABEL_EXTENSION, extension_definition, label_marking
from gsomia.seal.keys import init_keys
from tests.backends import SQLITE, Backend
from tests.ports import free_port

PASSPHRASE = "correct horse battery staple"
POLICY = {"KOR": "KR-MND-CMI", "JPN": "JP-MOD-CMI", "USA": "US-DOD-CNSI"}
SECRET_LEVEL = {"KOR": "II", "JPN": "GOKUHI", "USA": "SECRET"}
TAXII = "application/taxii+json;version=2.1"


@dataclass
class NodeProc:
    party: str
    port: int
    config: Path
    data: Path
    users: dict[str, str]  # name -> token
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)
    store: str | None = None  # the store URL its config names (None: the default SQLite file)
    ca: Path | None = None  # with TLS: the CA certificate its clients verify it with
    serve_args: tuple[str, ...] = ()  # more `gsomia serve` arguments (--workers N, --listen…)

    @property
    def url(self) -> str:
        return f"{'http' if self.ca is None else 'https'}://127.0.0.1:{self.port}"

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """``verify=`` for an httpx client of this node."""
        return True if self.ca is None else ssl.create_default_context(cafile=self.ca)

    @property
    def api_root(self) -> str:
        return f"{self.url}/api/"

    def auth(self, user: str = "analyst") -> tuple[str, str]:
        return (user, self.users[user])

    def start(self) -> None:
        exe = Path(sys.executable).with_name("gsomia")
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(exe), "serve", "--config", str(self.config), *self.serve_args],
                env=self.env,
                stdout=out,
                stderr=out,
            )
        # a node of several workers on a loaded 2-core machine can take well over 30 s
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node {self.party} exited: {self.log.read_text()[-2000:]}")
            try:
                r = httpx.get(
                    f"{self.url}/taxii2/", headers={"Accept": TAXII}, timeout=1, verify=self.verify
                )
                if r.status_code in (200, 401):
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()  # not left running behind the failure (a later test would meet it)
        raise RuntimeError(f"node {self.party} did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def twin(self, name: str, *serve_args: str) -> NodeProc:
        """Another process of this node: the same config, listening on a port of its own
        (``--listen``), its own log ``PARTY-name.log``, ``serve_args`` added; not started."""
        port = free_port()
        return replace(
            self,
            port=port,
            log=self.log.with_name(f"{self.party}-{name}.log"),
            proc=None,
            serve_args=(*self.serve_args, "--listen", f"127.0.0.1:{port}", *serve_args),
        )


def make_nodes(
    root: Path,
    parties: tuple[str, ...] = ("KOR", "JPN", "USA"),
    scenario: str = "historical",
    backend: Backend = SQLITE,
    *,
    tls: bool = False,
    bus: str | None = None,
) -> dict[str, NodeProc]:
    """Keys, exported public keys and a node.toml for each party, its store on ``backend``
    (a fresh one per node), its bus ``bus`` when given (else the in-process bus); nothing
    started yet. ``tls``: a CA (``root/tls/ca``) and a certificate per node
    (``root/tls/<PARTY>``), keys under the passphrase, each node on HTTPS with its peers'
    certificates pinned."""
    ca = write_ca(root / "tls" / "ca", passphrase=PASSPHRASE.encode()) if tls else None
    env = {**os.environ, "GSOMIA_PASSPHRASE": PASSPHRASE}
    nodes: dict[str, NodeProc] = {}
    for party in parties:
        data = root / party
        ring = init_keys(data, party, passphrase=PASSPHRASE.encode())
        (root / f"{party}.pub.json").write_bytes(orjson.dumps(ring.export_document()))
        users = {
            "analyst": f"tok-{party}-analyst-{os.urandom(8).hex()}",
            "admin": f"tok-{party}-admin-{os.urandom(8).hex()}",
            "low": f"tok-{party}-low-{os.urandom(8).hex()}",
            "authority": f"tok-{party}-authority-{os.urandom(8).hex()}",
        }
        nodes[party] = NodeProc(
            party,
            free_port(),
            root / f"{party}.toml",
            data,
            users,
            root / f"{party}.log",
            env=env,
            store=backend.store_url(party),
            ca=ca,
        )
        if ca is not None:
            write_node_tls(
                root / "tls" / party,
                party,
                hosts=(),
                passphrase=PASSPHRASE.encode(),
                ca_dir=ca.parent,
            )
    for party, node in nodes.items():
        low_level = {"KOR": "III", "JPN": "HI", "USA": "CONFIDENTIAL"}[party]
        top_level = {"KOR": "I", "JPN": "KIMITSU", "USA": "TOP_SECRET"}[party]
        peers = [
            PeerEntry(
                other, peer.url, f"{other}.pub.json", cert=f"tls/{other}/tls.crt" if tls else None
            )
            for other, peer in nodes.items()
            if other != party
        ]
        # analyst and admin serve defense and its warning (an item relayed on the 2023 link's
        # standing consent is for defense.warning only: DOMAIN.md §7.1); low serves defense
        warning = ("defense", "defense.warning")
        entries = [
            UserEntry(name, token_digest(node.users[name]), level, ntk, role, purposes)
            for name, level, ntk, role, purposes in (
                ("analyst", top_level, ("dprk",), "analyst", warning),
                ("admin", top_level, ("dprk",), "admin", warning),
                ("low", low_level, ("dprk.nuclear",), "analyst", ()),
                ("authority", top_level, ("dprk",), "authority", warning),
            )
        ]
        store: dict[str, Any] = {} if node.store is None else {"store": node.store}
        if bus is not None:
            store["bus"] = bus
        text = render_config(
            party=party,
            listen=f"127.0.0.1:{node.port}",
            data_dir=party,
            peers=peers,
            users=entries,
            scenario=scenario,
            max_content_length=1048576,
            tls=TlsEntry(f"tls/{party}/tls.crt", f"tls/{party}/tls.key", ("tls/ca/ca.crt",))
            if tls
            else None,
            **store,
        )
        node.config.write_text(text, encoding="utf-8")
    return nodes


GSOMIA = "jpn-kor-gsomia-2016"
LIVE_SCENARIO = """format = 1
extends = "historical"
name = "historical-live"
title = "The record without the 2019 and 2023 Japan-ROK GSOMIA events (played as notes)"
description = "historical, its jpn-kor events dropped: they come as diplomatic notes."
source = "tests"
drop_events = ["kor-notice-2019", "kor-suspends-2019", "kor-withdraws-2023"]
"""


def live_scenario(root: Path) -> str:
    """A scenario file in ``root``: the record without the Japan–ROK GSOMIA's 2019 and 2023
    events, which a test gives as diplomatic notes (each node has an ``authority`` user)."""
    path = root / "historical-live.toml"
    path.write_text(LIVE_SCENARIO, encoding="utf-8")
    return str(path)


def label_id(
    originator: str,
    classification: str,
    releasable_to: tuple[str, ...],
    topics: tuple[str, ...],
    purposes: tuple[str, ...] | None = None,
) -> str:
    """A marking id (version-4 form) that is the same for the same label: envelopes built
    twice carry the same marking, as a client that keeps its markings would post them."""
    parts: list[Any] = [originator, classification, list(releasable_to), list(topics)]
    if purposes is not None:
        parts.append(list(purposes))
    key = orjson.dumps(parts)
    return f"marking-definition--{uuid.UUID(bytes=hashlib.sha256(key).digest()[:16], version=4)}"


def report(
    n: int,
    originator: str = "KOR",
    *,
    topics: tuple[str, ...] = ("dprk.missile",),
    releasable_to: tuple[str, ...] | None = None,
    classification: str | None = None,
    description: str = "Launch detected",
    purposes: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """An envelope with one report and its gsomia label (provided for ``purposes``: the
    label's default, defense, if None)."""
    rel = (
        releasable_to
        if releasable_to is not None
        else tuple(p for p in ("JPN", "KOR", "USA") if p != originator)
    )
    level = classification or SECRET_LEVEL[originator]
    marking = label_marking(
        policy=POLICY[originator],
        originator=originator,
        classification=level,
        releasable_to=rel,
        topics=topics,
        created="2026-01-01T00:00:00.000Z",
        marking_id=label_id(originator, level, rel, topics, purposes),
        extra=None if purposes is None else {"purposes": list(purposes)},
    )
    obj = {
        "type": "report",
        "spec_version": "2.1",
        "id": f"report--00000000-0000-4000-8000-{n:012d}",
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "name": f"Report {n}",
        "description": description,
        "published": "2026-01-01T00:00:00.000Z",
        "report_types": ["threat-report"],
        "object_refs": ["identity--00000000-0000-4000-8000-000000000001"],
        "object_marking_refs": [marking["id"]],
    }
    return {"objects": [extension_definition(), marking, obj]}


__all__ = ["GSOMIA_LABEL_EXTENSION", "TAXII", "NodeProc", "free_port", "make_nodes", "report"]


@contextmanager
def running(nodes: dict[str, NodeProc]) -> Iterator[dict[str, NodeProc]]:
    """Start every node; stop them all however the block ends."""
    try:
        for node in nodes.values():
            node.start()
        yield nodes
    finally:
        for node in nodes.values():
            node.stop()


@contextmanager
def opened(proc: NodeProc) -> Iterator[Node]:
    """The party's node opened in process, not serving: its keys sign what a test sends as that
    party (its log is not re-verified; the store is closed after)."""
    node = open_node(load_config(proc.config), passphrase=PASSPHRASE.encode(), verify_log=False)
    try:
        yield node
    finally:
        node.store.close()
