"""``gsomia demo``: three party nodes on loopback and a decade of launches replayed through them.

The demo writes everything under its data directory, owner-only (files 0600 in 0700
directories): each party's keys (protected by a random key file made for the demo,
``<PARTY>.key``, or by ``GSOMIA_PASSPHRASE`` when set, at least 12 characters), node.toml, the
nodes' stores (content encrypted at rest) and logs, and ``demo.json`` with an analyst's and an
admin's credentials per node. The parties, their levels and policies, and who
originates what from when are the scenario's (``gsomia.domain.replay.cast_of``): with the shipped
scenarios, the launches of the CNS database since TISA (29 December 2014) are published as STIX
reports by KOR and JPN, each at its launch instant on a simulated clock that all three nodes
share; the nodes decide at that simulated instant. Running it again resumes after the last
launch it published.

A report is STIX 2.1 as other tools read it: the launch in gsomia's launch property extension
(its JSON schema is ``gsomia/data/launch-extension.schema.json``), created by the originating
party's identity, referring to three ``location`` objects (launch point, facility, predicted
impact area) marked with the report's label. Every id is a fresh version-4 UUID, recorded in
``launch-ids.json`` before the report is posted, so that a launch published again (a run
stopped between publishing and recording its progress) keeps its ids and the node answers
"already stored".
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import signal
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from gsomia.api.server import KEEP_ALIVE_TIMEOUT
from gsomia.app.pki import tls_password, write_demo_tls
from gsomia.app.stores import in_schema, migrate_store
from gsomia.cli import demo_notes, demo_tracks
from gsomia.cli.cmd_note import NodeApi
from gsomia.clock import ScaledClock, SystemClock
from gsomia.console.launchmap import impact_radius_km
from gsomia.data.launches import LaunchEvent, load_launches
from gsomia.domain.instants import format_instant
from gsomia.domain.labels import Label, Source
from gsomia.domain.parties import Equivalence, Policy
from gsomia.domain.replay import KOREA_JAPAN, LAUNCH_TOPIC, ReportOutcome, cast_of, replay
from gsomia.domain.scenario import Scenario
from gsomia.errors import BadInput
from gsomia.node.config import PeerEntry, TlsEntry, UserEntry, render_config, token_digest
from gsomia.node.service import collection_alias
from gsomia.node.stix import GSOMIA_LAUNCH_EXTENSION, format_timestamp, label_marking
from gsomia.scenarios import load_scenario
from gsomia.seal.at_rest import KeyRingCipher
from gsomia.seal.keys import (
    PASSPHRASE_ENV,
    KeyRing,
    check_passphrase,
    create_key_file,
    init_keys,
    keystore_path,
)

TAXII = "application/taxii+json;version=2.1"
EARTH_RADIUS_KM = 6371.0
LAUNCH_SOURCE = "CNS North Korea Missile Test Database (James Martin CNS / NTI)"
DUTIES = ("defense", "defense.warning")  # the demo's analysts and admins
PLANNING = ("defense.policy",)  # the demo's planners: other parties' warnings need an approval


@dataclass
class DemoNode:
    party: str
    port: int
    home: Path
    config: Path
    key_file: Path | None
    analyst: str
    admin: str
    planner: str = ""  # a user serving defense.policy only: the purpose approval's reader
    authority: str = ""  # speaks for the party in agreement matters: gives the live notes
    proc: subprocess.Popen[bytes] | None = None
    ca: Path | None = None  # with --tls: the demo CA's certificate, which the clients trust

    @property
    def url(self) -> str:
        return f"{'http' if self.ca is None else 'https'}://127.0.0.1:{self.port}"

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """What the demo's HTTP clients verify this node's server with (``verify=``)."""
        return True if self.ca is None else ssl.create_default_context(cafile=self.ca)

    def describe(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "console": f"{self.url}/console/",
            "discovery": f"{self.url}/taxii2/",
            "api_root": f"{self.url}/api/",
            "user": "analyst",
            "token": self.analyst,
            "admin": {"user": "admin", "token": self.admin},
            "planner": {"user": "planner", "token": self.planner},
            "authority": {"user": "authority", "token": self.authority},
        }


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``, owner-only, atomically: a reader (or a restart after a crash)
    sees the old content or the new, never an empty or half-written file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # a leftover an earlier run made readable by others
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _private_tree(data: Path) -> None:
    """Make ``data`` an owner-only directory; tighten what an earlier version left open."""
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    for path in (data, *data.rglob("*")):
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        if mode & 0o077:
            path.chmod(0o700 if path.is_dir() else 0o600)


def demo_passphrase() -> bytes | None:
    """``GSOMIA_PASSPHRASE`` if set (refused when shorter than 12 characters), else None."""
    value = os.environ.get(PASSPHRASE_ENV)
    if not value:
        return None
    passphrase = value.encode("utf-8")
    check_passphrase(passphrase)
    return passphrase


def node_stores(store: str | None, parties: Sequence[str]) -> dict[str, str]:
    """Each node's ``store`` URL: with a PostgreSQL URL, one schema per node in that database
    (``demo_kor``…); none (each node's SQLite file) without one."""
    if store is None:
        return {}
    return {p: in_schema(store, f"demo_{p.lower()}", where="--store") for p in parties}


def live_notes_mode(data: Path, requested: bool | None, *, replay: bool) -> bool:
    """Whether the demo in ``data`` plays its agreement's events as live notes: as it was
    started (a data directory of a demo from before live notes played the file's events), or,
    for a new one, ``requested`` (default: with the replay). BadInput when ``requested``
    contradicts how ``data`` was started: its nodes hold the notes, or the events."""
    state_path = data / "demo.json"
    if not state_path.exists():
        return replay if requested is None else requested
    stored = bool(orjson.loads(state_path.read_bytes()).get("live_notes", False))
    if requested is not None and requested != stored:
        flag = "--live-notes" if stored else "--no-live-notes"
        raise BadInput(
            f"--data {data}: this demo was started with {flag}; resume it so, or use a new "
            "--data directory"
        )
    return stored


def prepare(
    data: Path,
    scenario_ref: str,
    port_base: int,
    store: str | None = None,
    *,
    tls: bool = False,
    live_notes: bool = False,
) -> dict[str, DemoNode]:
    """Keys, exported public keys, node.toml and credentials for each party (kept on resume).
    ``store``: a PostgreSQL database for the nodes' stores (kept on resume). ``tls``: a demo
    CA and a certificate per node (``data/tls/``, each key under its node's passphrase or key
    file), the nodes on HTTPS with mutual TLS between them, the CA's path in demo.json.
    ``live_notes``: the nodes load the scenario without the events the authorities give as
    notes during the replay (``demo_notes``)."""
    scenario = load_scenario(scenario_ref)  # a bad one fails here, before anything is written
    passphrase = demo_passphrase()  # and so does a short passphrase
    state_path = data / "demo.json"
    state: dict[str, Any] = orjson.loads(state_path.read_bytes()) if state_path.exists() else {}
    store = store or state.get("store")
    stores = node_stores(store, cast_of(scenario).parties)  # and so does a bad URL
    _private_tree(data)
    tokens = state.get("tokens", {})
    nodes: dict[str, DemoNode] = {}
    rings: dict[str, KeyRing] = {}
    for i, party in enumerate(cast_of(scenario).parties):
        home = data / party
        key_file = None if passphrase else data / f"{party}.key"
        if not keystore_path(home).exists():
            if key_file is not None and not key_file.exists():
                create_key_file(key_file)
            init_keys(home, party, passphrase=passphrase, key_file=key_file)
        ring = KeyRing.load(home, passphrase=passphrase, key_file=key_file)
        rings[party] = ring
        _write_private(data / f"{party}.pub.json", orjson.dumps(ring.export_document()))
        creds = tokens.get(party) or {}
        for role in ("analyst", "admin", "planner", "authority"):  # later ones: kept on resume
            creds.setdefault(role, "gsomia_" + secrets.token_urlsafe(24))
        tokens[party] = creds
        nodes[party] = DemoNode(
            party,
            port_base + i,
            home,
            data / f"{party}.toml",
            key_file,
            creds["analyst"],
            creds["admin"],
            creds["planner"],
            creds["authority"],
        )
    if tls:
        passwords = {
            party: tls_password(passphrase=passphrase, key_file=node.key_file)
            for party, node in nodes.items()
        }
        ca, _ = write_demo_tls(data / "tls", passwords)
        for node in nodes.values():
            node.ca = ca
        state["ca"] = str(ca.resolve())
    else:
        state.pop("ca", None)
    node_scenario = scenario_ref
    if live_notes:
        overlay = demo_notes.live_scenario_text(scenario_ref, demo_notes.live_events(scenario))
        _write_private(data / demo_notes.LIVE_SCENARIO, overlay.encode("utf-8"))
        node_scenario = demo_notes.LIVE_SCENARIO  # relative to the node.toml beside it
    for party, node in nodes.items():
        top = scenario.policy(party).levels[0].id  # a policy lists its levels highest first
        text = render_config(
            party=party,
            listen=f"127.0.0.1:{node.port}",
            data_dir=party,
            peers=[
                PeerEntry(
                    other,
                    peer.url,
                    f"{other}.pub.json",
                    cert=f"tls/{other}/tls.crt" if tls else None,
                )
                for other, peer in nodes.items()
                if other != party
            ],
            users=[
                # defense.warning beside defense: items relayed on the 2023 link's standing
                # consent are provided for defense.warning only (DOMAIN.md §7.1)
                UserEntry("analyst", token_digest(node.analyst), top, ("dprk",), "analyst", DUTIES),
                UserEntry("admin", token_digest(node.admin), top, ("dprk",), "admin", DUTIES),
                UserEntry(
                    "planner", token_digest(node.planner), top, ("dprk",), "analyst", PLANNING
                ),
                UserEntry(
                    "authority", token_digest(node.authority), top, ("dprk",), "authority", DUTIES
                ),
            ],
            scenario=node_scenario,
            title=f"gsomia demo node {party}",
            tls=TlsEntry(f"tls/{party}/tls.crt", f"tls/{party}/tls.key", ("tls/ca.crt",))
            if tls
            else None,
            **({"store": stores[party]} if party in stores else {}),
        )
        _write_private(node.config, text.encode("utf-8"))
        # the demo's own stores: one written by an older gsomia is brought up to date here
        # (as `gsomia node migrate` would), so that resuming an old demo-data/ just works
        migrate_store(
            stores.get(party),
            data_dir=node.home,
            cipher=KeyRingCipher(rings[party]),
            where=f"{node.config}.store",
        )
    state["tokens"] = tokens
    state["nodes"] = {p: n.describe() for p, n in nodes.items()}
    state["scenario"] = scenario_ref
    state["live_notes"] = live_notes
    if store is not None:
        state["store"] = store
    _write_private(state_path, orjson.dumps(state, option=orjson.OPT_INDENT_2))
    return nodes


def start_nodes(nodes: dict[str, DemoNode], data: Path, sim: ScaledClock | None) -> None:
    exe = Path(sys.executable).with_name("gsomia")
    for node in nodes.values():
        args = [str(exe), "serve", "--config", str(node.config)]
        if node.key_file is not None:
            args += ["--key-file", str(node.key_file)]
        if sim is not None:
            args += [
                "--sim-start",
                format_instant(sim.sim_start),
                "--sim-wall",
                format_instant(sim.wall_start),
                "--sim-speed",
                repr(sim.speed),
            ]
        fd = os.open(data / f"{node.party}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "ab") as out:
            node.proc = subprocess.Popen(args, stdout=out, stderr=out, start_new_session=True)
    deadline = SystemClock().monotonic() + 60
    for node in nodes.values():
        while True:
            if node.proc is not None and node.proc.poll() is not None:
                tail = (data / f"{node.party}.log").read_text(errors="replace")[-800:]
                raise BadInput(f"node {node.party} did not start: {tail.strip()}")
            try:
                httpx.get(f"{node.url}/taxii2/", timeout=1, verify=node.verify)
                break
            except httpx.HTTPError:
                if SystemClock().monotonic() > deadline:
                    raise BadInput(f"node {node.party} did not answer on {node.url}") from None
                time.sleep(0.1)


def stop_nodes(nodes: dict[str, DemoNode]) -> None:
    for node in nodes.values():
        if node.proc is not None and node.proc.poll() is None:
            node.proc.send_signal(signal.SIGTERM)
    for node in nodes.values():
        if node.proc is not None:
            try:
                node.proc.wait(10)
            except subprocess.TimeoutExpired:
                node.proc.kill()
                node.proc.wait(5)


def impact_point(
    lat: float, lon: float, bearing_deg: float, distance_km: float
) -> tuple[float, float]:
    """The point ``distance_km`` from (lat, lon) along ``bearing_deg`` on a sphere."""
    d = distance_km / EARTH_RADIUS_KM
    b = math.radians(bearing_deg)
    p1, l1 = math.radians(lat), math.radians(lon)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
    l2 = l1 + math.atan2(
        math.sin(b) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2)
    )
    return round(math.degrees(p2), 4), round((math.degrees(l2) + 540) % 360 - 180, 4)


@dataclass(frozen=True, slots=True)
class LaunchIds:
    """The STIX ids of one party's report of one launch: kept in ``launch-ids.json`` so that a
    replay run again publishes the same launch under the same ids (the node answers "already
    stored") though every id is a fresh version-4 UUID."""

    report: str
    launch_point: str
    facility: str
    impact: str
    marking: str

    @classmethod
    def fresh(cls) -> LaunchIds:
        return cls(
            report=f"report--{uuid.uuid4()}",
            launch_point=f"location--{uuid.uuid4()}",
            facility=f"location--{uuid.uuid4()}",
            impact=f"location--{uuid.uuid4()}",
            marking=f"marking-definition--{uuid.uuid4()}",
        )

    def to_json(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: object, where: str) -> LaunchIds:
        prefixes = {
            "report": "report--",
            "launch_point": "location--",
            "facility": "location--",
            "impact": "location--",
            "marking": "marking-definition--",
        }
        if not isinstance(value, dict) or set(value) != set(prefixes):
            raise BadInput(f"{where}: expected the fields {', '.join(prefixes)}")
        for key, prefix in prefixes.items():
            found = value[key]
            if not isinstance(found, str) or not found.startswith(prefix):
                raise BadInput(f"{where}.{key}: expected a {prefix}UUID identifier")
            try:
                version = uuid.UUID(found.removeprefix(prefix)).version
            except ValueError:
                version = None
            if version != 4:
                raise BadInput(f"{where}.{key}: expected a {prefix}UUID identifier (version 4)")
        return cls(**value)


class LaunchIdStore:
    """``launch-ids.json`` in the demo's data directory: launch event and originator to the ids
    of its report, locations and label marking; written atomically (temporary file, fsync,
    rename; owner-only) before the report is posted, so a crash between the two cannot make
    the next run publish the same launch under other ids."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._ids: dict[str, LaunchIds] = {}
        if path.exists():
            try:
                raw = orjson.loads(path.read_bytes())
            except orjson.JSONDecodeError as exc:
                raise BadInput(f"{path}: not JSON ({exc})") from None
            if not isinstance(raw, dict):
                raise BadInput(f"{path}: expected an object of launch ids")
            self._ids = {
                str(key): LaunchIds.from_json(value, f"{path}: {key}") for key, value in raw.items()
            }

    def ids_for(self, launch_id: str, originator: str) -> LaunchIds:
        """The stored ids of this report, or fresh ones, stored (durably) before returning."""
        key = f"{launch_id}/{originator}"
        found = self._ids.get(key)
        if found is None:
            found = self._ids[key] = LaunchIds.fresh()
            document = {k: v.to_json() for k, v in self._ids.items()}
            _write_private(self.path, orjson.dumps(document, option=orjson.OPT_INDENT_2))
        return found


def launch_block(launch: LaunchEvent) -> dict[str, Any]:
    """The launch as the properties of gsomia's launch extension (the schema is
    ``gsomia/data/launch-extension.schema.json``); an unknown apogee or range is left out."""
    block: dict[str, Any] = {
        "extension_type": "property-extension",
        "missile": launch.missile_name,
        "missile_type": launch.missile_type,
        "count": launch.count,
        "facility": launch.facility_name,
        "launch_point": [launch.lat, launch.lon],
        "bearing_deg": launch.bearing_deg,
        "outcomes": list(launch.outcomes),
        "time_known": launch.time_known,
        "source": LAUNCH_SOURCE,
    }
    if launch.apogee_km is not None:
        block["apogee_km"] = launch.apogee_km
    if launch.distance_km:
        block["distance_km"] = launch.distance_km
        block["predicted_impact"] = list(
            impact_point(launch.lat, launch.lon, launch.bearing_deg, launch.distance_km)
        )
    return block


def launch_locations(
    launch: LaunchEvent, ids: LaunchIds, created: str, marking_id: str
) -> list[dict[str, Any]]:
    """The launch point, the facility and (when the range is known) the predicted impact area
    as STIX ``location`` objects, each marked with the report's label (they are part of it)."""
    common = {
        "type": "location",
        "spec_version": "2.1",
        "created": created,
        "modified": created,
        "object_marking_refs": [marking_id],
    }
    when = created if launch.time_known else f"{launch.date.isoformat()} (time unknown)"
    what = f"{launch.missile_name} ({launch.missile_type})"
    locations = [
        {
            **common,
            "id": ids.launch_point,
            "name": f"Launch point: {what}",
            "description": f"{what} x{launch.count} launched from {launch.facility_name} at {when}",
            "latitude": launch.lat,
            "longitude": launch.lon,
            "country": "KP",
        },
        {
            **common,
            "id": ids.facility,
            "name": launch.facility_name,
            "description": f"Launch facility: {launch.facility_name}",
            "latitude": launch.lat,
            "longitude": launch.lon,
            "country": "KP",
        },
    ]
    if launch.distance_km:
        lat, lon = impact_point(launch.lat, launch.lon, launch.bearing_deg, launch.distance_km)
        radius_km = impact_radius_km(launch.distance_km)
        locations.append(
            {
                **common,
                "id": ids.impact,
                "name": f"Predicted impact area: {what}",
                "description": f"Predicted impact area of the {what} launched at {when}: "
                f"{launch.distance_km:,.0f} km along {launch.bearing_deg:g}°, "
                f"within {radius_km:,.0f} km",
                "latitude": lat,
                "longitude": lon,
                "precision": radius_km * 1000,
            }
        )
    return locations


def launch_report(
    launch: LaunchEvent, label: Label, policy: Policy, ids: LaunchIds | None = None
) -> dict[str, Any]:
    """The STIX envelope a detecting party publishes for a launch: its gsomia label, the report
    (launch data in gsomia's launch extension, created by the originator's party identity, as
    ``policy`` — the originator's, from the scenario — names it) and the report's locations.
    ``ids`` are the ids to use (fresh ones when not given)."""
    ids = ids or LaunchIds.fresh()
    originator = label.originator
    if policy.party != originator:
        raise BadInput(f"launch report: the label's originator is {originator}, not {policy.party}")
    identity = policy.identity
    if identity is None:
        raise BadInput(
            f"launch report: the scenario gives {originator} no STIX identity (a party's "
            "`identity`); a report names its originator by it"
        )
    created = format_timestamp(launch.instant)
    marking = label_marking(
        policy=policy.policy_id,
        originator=originator,
        classification=label.classification,
        releasable_to=label.releasable_to,
        topics=label.topics,
        created=created,
        marking_id=ids.marking,
        extra=label.extra_json(),
    )
    locations = launch_locations(launch, ids, created, marking["id"])
    report = {
        "type": "report",
        "spec_version": "2.1",
        "id": ids.report,
        "created_by_ref": identity,
        "created": created,
        "modified": created,
        "name": f"{originator}: {launch.missile_name} launch from {launch.facility_name}",
        "description": launch.description[:2000] or f"{launch.missile_name} launch",
        "published": created,
        "report_types": ["threat-report"],
        "object_refs": [identity, *(o["id"] for o in locations)],
        "labels": ["dprk-missile-launch"],
        "extensions": {GSOMIA_LAUNCH_EXTENSION: launch_block(launch)},
        "object_marking_refs": [marking["id"]],
    }
    return {"objects": [marking, report, *locations]}


def _items(envelope: dict[str, Any]) -> list[str]:
    """The item ids (``STIX-ID/VERSION``) of an envelope's objects: all but its definitions."""
    return [
        f"{o['id']}/{o['modified']}"
        for o in envelope["objects"]
        if o["type"] not in ("marking-definition", "extension-definition")
    ]


def replay_launches(
    nodes: dict[str, DemoNode],
    launches: tuple[LaunchEvent, ...],
    sim: ScaledClock,
    data: Path,
    say: Callable[[str], None],
    scenario: Scenario,
    *,
    live_notes: bool = False,
) -> None:
    """Publish each launch's reports at its instant; where a report can reach the other
    detecting party only through the hub without a standing consent (the replay's
    ``needs_consent``), play the admins: the hub's asks the originator's consent for each item
    of the report (the report and its locations) and the originator's grants it (shown as
    such). A launch replayed again is published under the ids it had (``launch-ids.json``).
    Two launches are also played live, their tracks posted as the flight goes
    (``demo_tracks``). With ``live_notes``, the agreement events the nodes do not load are
    given as notes by their party's authority at their instants (``demo_notes``), before the
    launches after them."""
    progress = data / "replay-progress.json"
    known = LaunchIdStore(data / "launch-ids.json")
    # one client for every node: with --tls they share the demo CA
    # an idle connection is dropped well before the node closes it (its keep-alive timeout):
    # a report posted on a connection the node is closing at that instant would be reset
    limits = httpx.Limits(keepalive_expiry=KEEP_ALIVE_TIMEOUT / 2)
    verify = next(iter(nodes.values())).verify
    live = demo_tracks.LivePlayer(
        scenario,
        launches,
        {p: demo_tracks.Ingest(n.url, ("analyst", n.analyst)) for p, n in nodes.items()},
        {p: f"{n.url}/console/" for p, n in nodes.items()},
        say,
        client=lambda: httpx.Client(timeout=30, verify=verify, limits=limits),
    )
    with (
        httpx.Client(timeout=30, verify=verify, limits=limits) as client,
        live.stopped_on_error(),
    ):
        notes = None
        if live_notes:
            notes = demo_notes.NotePlayer(
                demo_notes.live_events(scenario),
                {p: NodeApi(node.url, node.authority, node.verify) for p, node in nodes.items()},
                {a.id: a.parties for a in scenario.agreements},
                sim,
                say,
            )
            notes.held(client)
        for n, launch in enumerate(launches):
            if notes is not None:
                notes.play_until(launch.instant, client)
            wait = (launch.instant - sim.now()).total_seconds() / sim.speed
            if wait > 0:
                time.sleep(wait)
            routed: list[str] = []
            reports: dict[str, str] = {}
            for outcome in replay(scenario, (launch,)):
                originator = outcome.originator
                ids = known.ids_for(launch.id, originator)
                envelope = launch_report(launch, outcome.label, scenario.policy(originator), ids)
                post_report(client, nodes[originator], envelope, launch.id)
                reports[originator] = _items(envelope)[0]
                if outcome.needs_consent() and _consent_through_hub(
                    client, nodes, _items(envelope), outcome
                ):
                    third, hub = outcome.third(), outcome.hub
                    routed.append(f"{originator}→{hub}→{third} with {originator}'s consent")
            _write_private(
                progress, orjson.dumps({"done": launch.id, "at": format_instant(launch.instant)})
            )
            at = format_instant(launch.instant)
            extra = f"  ({'; '.join(routed)})" if routed else ""
            what = f"{launch.missile_name} from {launch.facility_name}"
            say(f"{n + 1}/{len(launches)}  {at}  {what}{extra}")
            live.launched(launch)  # a chosen launch's tracks play on in a thread of their own
            if chapter_due(data, launch):
                first = cast_of(scenario).originators[0]
                failed = holder_chapter(
                    nodes, client, say, scenario=scenario, launch=launch, report=reports[first]
                )
                record = {"at": at, "launch": launch.id, "failed": failed}
                _write_private(data / CHAPTER_FILE, orjson.dumps(record))
        if notes is not None:
            notes.play_until(None, client)


def post_report(
    client: httpx.Client, node: DemoNode, envelope: dict[str, Any], launch_id: str
) -> dict[str, Any]:
    """Post a report's envelope to its originator's collection; its TAXII status resource."""
    cid = collection_alias(node.party, node.party)  # TAXII 2.1 §5.2.1: a collection by alias
    r = client.post(
        f"{node.url}/api/collections/{cid}/objects/",
        headers={"Accept": TAXII, "Content-Type": TAXII},
        auth=("analyst", node.analyst),
        content=orjson.dumps(envelope),
    )
    if r.status_code != 202:
        raise BadInput(
            f"node {node.party} refused the report of {launch_id}: {r.status_code} {r.text[:300]}"
        )
    status: dict[str, Any] = r.json()
    return status


def _consent_through_hub(
    client: httpx.Client, nodes: dict[str, DemoNode], items: list[str], outcome: ReportOutcome
) -> bool:
    """The hub's admin asks the originator's consent to pass each item on to the third party,
    and the originator's admin grants each; True when every item's consent was granted."""
    hub, origin, third = nodes[outcome.hub], nodes[outcome.originator], outcome.third()
    deadline = SystemClock().monotonic() + 10
    asked: list[str] = []
    for item in items:
        while (
            client.get(f"{hub.url}/native/v1/items/{item}", auth=("admin", hub.admin)).status_code
            != 200
        ):
            if SystemClock().monotonic() > deadline:
                return False
            time.sleep(0.05)
        r = client.post(
            f"{hub.url}/native/v1/consent-requests",
            json={"item": item, "recipient": third},
            auth=("admin", hub.admin),
        )
        if r.status_code != 201:
            return False
        asked.append(r.json()["id"])
    return _grant_all(client, origin, asked, deadline)


def _grant_all(client: httpx.Client, origin: DemoNode, asked: list[str], deadline: float) -> bool:
    """The originator's admin grants each request in ``asked`` once it is in their inbox."""
    pending = set(asked)
    while pending and SystemClock().monotonic() < deadline:
        inbox = client.get(
            f"{origin.url}/native/v1/consent-requests",
            params={"box": "inbox"},
            auth=("admin", origin.admin),
        ).json()
        arrived = [q["id"] for q in inbox if q.get("id") in pending]
        for request_id in arrived:
            granted = client.post(
                f"{origin.url}/native/v1/consent-requests/{request_id}/grant",
                json={},
                auth=("admin", origin.admin),
            )
            if granted.status_code != 200:
                return False
            pending.discard(request_id)
        if pending:
            time.sleep(0.05)
    return not pending


def remaining_launches(data: Path, scenario: Scenario) -> tuple[LaunchEvent, ...]:
    start = cast_of(scenario).start
    launches = tuple(e for e in load_launches(since=start.date()) if e.instant >= start)
    progress = data / "replay-progress.json"
    if not progress.exists():
        return launches
    done = orjson.loads(progress.read_bytes()).get("done")
    ids = [e.id for e in launches]
    return launches[ids.index(done) + 1 :] if done in ids else launches


def simulated_clock(launches: tuple[LaunchEvent, ...], speed: float) -> ScaledClock:
    wall = SystemClock().now()
    start = (launches[0].instant if launches else wall) - timedelta(seconds=speed * 2)
    return ScaledClock(start, wall, speed)


def wait_while_running(nodes: dict[str, DemoNode]) -> None:
    while all(n.proc is not None and n.proc.poll() is None for n in nodes.values()):
        time.sleep(0.5)


@contextlib.contextmanager
def running(nodes: dict[str, DemoNode], data: Path, sim: ScaledClock | None) -> Any:
    try:  # a node that does not start stops those already started: none is left behind
        start_nodes(nodes, data, sim)
        yield nodes
    finally:
        stop_nodes(nodes)


# The holder's duties (DOMAIN.md §7), played once per demo data directory.

#: The chapter runs after the first launch on or after this instant: the Japan–ROK GSOMIA is
#: in force again (historical) and the 2023 warning link is active.
CHAPTER_FROM = datetime(2024, 1, 1, tzinfo=KOREA_JAPAN)
CHAPTER_FILE = "holder-chapter.json"
CHAPTER_WAIT = 20.0  # wall seconds a step waits for a peer's answer


def chapter_due(data: Path, launch: LaunchEvent) -> bool:
    """Whether the holder's chapter is to run after ``launch``: the first launch on or after
    ``CHAPTER_FROM`` of a data directory where it has not run yet."""
    return launch.instant >= CHAPTER_FROM and not (data / CHAPTER_FILE).exists()


def _short(item: str) -> str:
    """An item id as the chapter prints it: its type and the first 8 digits of its UUID."""
    kind, _, rest = item.partition("--")
    return f"{kind}--{rest[:8]}"


@dataclass
class _Chapter:
    """The calls the chapter makes: each as one of a node's users, failing with BadInput."""

    client: httpx.Client
    nodes: dict[str, DemoNode]

    def call(
        self, party: str, user: str, method: str, path: str, expect: int, body: object = None
    ) -> Any:
        node = self.nodes[party]
        r = self.client.request(
            method,
            f"{node.url}/native/v1{path}",
            json=body,
            auth=(user, getattr(node, user)),
        )
        if r.status_code != expect:
            raise BadInput(f"{party} {method} {path}: {r.status_code} {r.text[:200]}")
        return r.json()

    def reads(self, party: str, user: str, item: str) -> int:
        """The status of ``user`` of ``party`` reading ``item`` (200, or 404 when not theirs)."""
        node = self.nodes[party]
        return self.client.get(
            f"{node.url}/native/v1/items/{item}", auth=(user, getattr(node, user))
        ).status_code

    def until(self, what: str, found: Callable[[], Any]) -> Any:
        """``found()`` once it returns something other than None, polled for CHAPTER_WAIT s."""
        deadline = SystemClock().monotonic() + CHAPTER_WAIT
        while True:
            value = found()
            if value is not None:
                return value
            if SystemClock().monotonic() > deadline:
                raise BadInput(f"{what}: nothing within {CHAPTER_WAIT:g} s")
            time.sleep(0.05)

    def held(self, party: str, item: str) -> None:
        self.until(
            f"{party} receiving {_short(item)}",
            lambda: True if self.reads(party, "admin", item) == 200 else None,
        )

    def grant(self, party: str, kind: str, request_id: str) -> None:
        """``party``'s admin grants a request (``kind``: purposes/requests or consent-requests)
        once it has arrived in their inbox."""
        self.until(
            f"{party} receiving request {request_id}",
            lambda: (
                True
                if any(
                    q.get("id") == request_id
                    for q in self.call(party, "admin", "GET", f"/{kind}?box=inbox", 200)
                )
                else None
            ),
        )
        self.call(party, "admin", "POST", f"/{kind}/{request_id}/grant", 200, {})


def holder_chapter(
    nodes: dict[str, DemoNode],
    client: httpx.Client,
    say: Callable[[str], None],
    *,
    scenario: Scenario,
    launch: LaunchEvent,
    report: str,
) -> list[str]:
    """What a holder owes the originator (DOMAIN.md §7), each shown once, after ``launch``
    (whose report by the first originator, ``report``, has been published): a purpose
    approval, an accounting, a destruction at the originator's request with its certificate, a
    reconciliation whose one finding is that destruction, and a derived assessment. With the
    shipped scenarios the originator is KOR, the holder JPN and the third party USA. A step that
    fails prints a line saying so and the next runs; returns the steps that failed."""
    cast = cast_of(scenario)
    kor, jpn = cast.originators
    day = launch.instant.astimezone(KOREA_JAPAN).date()
    say(f"what a holder owes the originator (DOMAIN.md §7), played once, on {day}:")
    [outcome] = [o for o in replay(scenario, (launch,)) if o.originator == kor]
    if not outcome.direct[jpn].allowed:
        say(
            f"  skipped: under {scenario.name} no agreement lets {kor} release to {jpn} on {day}, "
            f"so {jpn} holds no {kor} report of its own to account for"
        )
        return []
    chapter = _Chapter(client, nodes)
    got: dict[str, str] = {"report": report}
    steps: list[tuple[str, Callable[[], None]]] = [
        ("purpose approval", lambda: _purpose_step(chapter, say, scenario, launch, got)),
        ("accounting", lambda: _accounting_step(chapter, say, kor, jpn, got)),
        ("destruction", lambda: _destruction_step(chapter, say, kor, jpn, got)),
        ("reconciliation", lambda: _reconciliation_step(chapter, say, kor, jpn, got)),
        ("derived item", lambda: _derived_step(chapter, say, scenario, launch, got)),
    ]
    failed: list[str] = []
    for n, (name, step) in enumerate(steps, 1):
        try:
            step()
        except (BadInput, httpx.HTTPError, KeyError, ValueError, TypeError) as exc:
            say(f"  {n}. {name}: FAILED — {exc}")
            failed.append(name)
    return failed


def _purpose_step(
    chapter: _Chapter,
    say: Callable[[str], None],
    scenario: Scenario,
    launch: LaunchEvent,
    got: dict[str, str],
) -> None:
    """KOR publishes a warning provided for defense.warning only; JPN's planner (defense.policy)
    may not read it until KOR approves that purpose for JPN."""
    cast = cast_of(scenario)
    kor, jpn = cast.originators
    base = cast.label(launch.id, kor, launch.instant)
    label = replace(base, id=f"{base.id}/warning", purposes=("defense.warning",))
    envelope = launch_report(launch, label, scenario.policy(kor))
    envelope["objects"][1]["name"] = f"{kor}: warning of a {launch.missile_name} launch"
    post_report(chapter.client, chapter.nodes[kor], envelope, launch.id)
    warning = got["warning"] = _items(envelope)[0]
    chapter.held(jpn, warning)
    before = chapter.reads(jpn, "planner", warning)
    if before != 404:
        raise BadInput(f"{jpn}'s planner read {_short(warning)} before any approval ({before})")
    asked = chapter.call(
        jpn,
        "admin",
        "POST",
        "/purposes/requests",
        201,
        {"item": warning, "purpose": "defense.policy"},
    )
    chapter.grant(kor, "purposes/requests", asked["id"])
    chapter.until(
        f"{jpn}'s planner reading {_short(warning)}",
        lambda: True if chapter.reads(jpn, "planner", warning) == 200 else None,
    )
    say(
        f"  1. purpose approval: {kor}'s warning {_short(warning)} is provided for "
        f"defense.warning only; {jpn}'s planner (defense.policy) could not read it (404); "
        f"{jpn}'s admin asked {kor} to approve defense.policy, {kor}'s admin granted it, and "
        f"the planner reads it now (200) — see {kor}'s console → Purposes (inbox)"
    )


def _accounting_step(
    chapter: _Chapter, say: Callable[[str], None], kor: str, jpn: str, got: dict[str, str]
) -> None:
    """JPN's analyst reads KOR's report; KOR asks JPN for an accounting of its items."""
    chapter.held(jpn, got["report"])
    if chapter.reads(jpn, "analyst", got["report"]) != 200:
        raise BadInput(f"{jpn}'s analyst could not read {_short(got['report'])}")
    asked = chapter.call(kor, "admin", "POST", "/accountings", 201, {"holder": jpn})

    def answered() -> dict[str, Any] | None:
        for doc in chapter.call(kor, "admin", "GET", "/accountings", 200):
            if doc["id"] == asked["id"] and doc["status"] == "answered":
                found: dict[str, Any] = doc
                return found
        return None

    doc = chapter.until(f"{jpn}'s accounting", answered)
    lines = doc["lines"]
    purposes: dict[str, int] = {}
    for line in lines:
        for purpose, count in line["purposes"].items():
            purposes[purpose] = purposes.get(purpose, 0) + count
    used = ", ".join(f"{p} ×{c}" for p, c in sorted(purposes.items())) or "none"
    say(
        f"  2. accounting: {jpn}'s signed accounting of {kor}'s items: "
        f"{sum(x['accesses'] for x in lines)} accesses to {len(lines)} items, each by at most "
        f"{max((x['persons'] for x in lines), default=0)} persons (purposes: {used}); no names "
        f"— see {kor}'s console → Accountings"
    )


def _destruction_step(
    chapter: _Chapter, say: Callable[[str], None], kor: str, jpn: str, got: dict[str, str]
) -> None:
    """KOR asks JPN to destroy the warning; JPN does at once and sends its certificate."""
    warning = got["warning"]
    chapter.call(
        kor, "admin", "POST", "/destruction-requests", 201, {"holder": jpn, "item": warning}
    )

    def certificate() -> dict[str, Any] | None:
        received = chapter.call(kor, "admin", "GET", "/destructions", 200)["received"]
        found: dict[str, Any] | None = next((c for c in received if c["item"] == warning), None)
        return found

    cert = chapter.until(f"{jpn}'s destruction certificate", certificate)
    say(
        f"  3. destruction at the originator's request: {cert['holder']} destroyed "
        f"{_short(warning)} at {cert['destroyed_at']} (reason: {cert['reason']}; authorised by "
        f"{cert['authorised_by']}); its certificate, signed by {cert['holder']}, reached {kor} "
        f"— see {kor}'s console → Destructions"
    )


def _reconciliation_step(
    chapter: _Chapter, say: Callable[[str], None], kor: str, jpn: str, got: dict[str, str]
) -> None:
    """KOR reconciles its release records with JPN's signed inventory: one finding, the
    warning JPN destroyed."""
    asked = chapter.call(kor, "admin", "POST", "/reconciliations", 201, {"holder": jpn})

    def done() -> dict[str, Any] | None:
        doc: dict[str, Any] = chapter.call(
            kor, "admin", "GET", f"/reconciliations/{asked['id']}", 200
        )
        return doc if doc["status"] in ("done", "failed") else None

    doc = chapter.until(f"{jpn}'s inventory", done)
    if doc["status"] != "done":
        raise BadInput(f"the reconciliation with {jpn} failed: {doc.get('delivery')}")
    findings = doc["findings"]
    say(
        f"  4. reconciliation: {kor}'s release records against {jpn}'s signed inventory "
        f"({doc['items']} items): {len(findings)} finding{'' if len(findings) == 1 else 's'} "
        f"— see {kor}'s console → Reconciliation"
    )
    for finding in findings:
        what = (
            " (the warning destroyed in step 3)"
            if finding["kind"] == "destroyed" and finding["item"] == got.get("warning")
            else ""
        )
        say(f"       {finding['kind']}: {_short(finding['item'])}{what} — {finding['detail']}")


def _derived_step(
    chapter: _Chapter,
    say: Callable[[str], None],
    scenario: Scenario,
    launch: LaunchEvent,
    got: dict[str, str],
) -> None:
    """USA publishes a report; JPN writes an assessment from KOR's and USA's reports, labelled
    as DOMAIN.md §7.6 allows, and passes it to USA with KOR's consent."""
    cast = cast_of(scenario)
    kor, jpn = cast.originators
    usa = cast.hub
    theirs = replace(
        cast.label(launch.id, kor, launch.instant),
        id=f"{launch.id}/{usa}",
        originator=usa,
        classification=scenario.policy(usa).defaults[Equivalence.SECRET],
        releasable_to=tuple(sorted((kor, jpn))),
        topics=(LAUNCH_TOPIC,),
    )
    envelope = launch_report(launch, theirs, scenario.policy(usa))
    post_report(chapter.client, chapter.nodes[usa], envelope, launch.id)
    usa_report = _items(envelope)[0]
    report = got["report"]
    chapter.held(jpn, usa_report)
    chapter.held(jpn, report)
    kor_topics = cast.label(launch.id, kor, launch.instant).topics
    label = Label(
        id=f"{launch.id}/{jpn}/assessment",
        originator=jpn,
        classification=scenario.policy(jpn).defaults[Equivalence.SECRET],
        releasable_to=tuple(sorted((kor, usa))),
        topics=tuple(sorted({*kor_topics, LAUNCH_TOPIC})),
        purposes=("defense.warning",),
        derived_from=(
            Source(report, kor, "assessment"),
            Source(usa_report, usa, "translation", "ja"),
        ),
    )
    assessment = assessment_envelope(launch, label, scenario.policy(jpn))
    post_report(chapter.client, chapter.nodes[jpn], assessment, launch.id)
    item = _items(assessment)[0]
    sources = chapter.call(jpn, "analyst", "GET", f"/items/{item}/sources", 200)
    written = ", ".join(
        f"{s['originator']}'s {_short(s['item'])} ({s['kind']}"
        + (f", {s['language']}" if s.get("language") else "")
        + ")"
        for s in sources
    )
    say(
        f"  5. derived item: {jpn}'s analyst published the assessment {_short(item)} written "
        f"from {written}, labelled {label.classification} REL TO {', '.join(label.releasable_to)}, "
        f"topics {', '.join(label.topics)}, purposes {', '.join(label.purposes)} (§7.6) — see "
        f"{jpn}'s console → the item's page, Written from"
    )
    asked = chapter.call(
        jpn,
        "admin",
        "POST",
        "/consent-requests",
        201,
        {"item": item, "recipient": usa, "source": report},
    )
    chapter.grant(kor, "consent-requests", asked["id"])
    chapter.held(usa, item)
    say(
        f"     {jpn} asked {kor}'s consent to pass it to {usa} (a source is {kor}'s); {kor} "
        f"granted it and {usa} holds it now — see {kor}'s console → Consents"
    )


def assessment_envelope(launch: LaunchEvent, label: Label, policy: Policy) -> dict[str, Any]:
    """A derived item as STIX: a report of type threat-report by ``label``'s originator, its
    label (with ``derived_from``) as its marking, written an hour after the launch."""
    identity = policy.identity
    if identity is None:
        raise BadInput(f"assessment: the scenario gives {label.originator} no STIX identity")
    created = format_timestamp(launch.instant + timedelta(hours=1))
    marking = label_marking(
        policy=policy.policy_id,
        originator=label.originator,
        classification=label.classification,
        releasable_to=label.releasable_to,
        topics=label.topics,
        created=created,
        extra=label.extra_json(),
    )
    report = {
        "type": "report",
        "spec_version": "2.1",
        "id": f"report--{uuid.uuid4()}",
        "created_by_ref": identity,
        "created": created,
        "modified": created,
        "name": f"{label.originator}: assessment of the {launch.missile_name} launch",
        "description": "Written from the reports it names as its sources (derived_from).",
        "published": created,
        "report_types": ["threat-report"],
        "object_refs": [identity],
        "object_marking_refs": [marking["id"]],
    }
    return {"objects": [marking, report]}
