"""TAXII 2.1 node against the OASIS reference server, medallion (issue 5 §9), and against
OpenTAXII on PostgreSQL (issue 12).

    .venv/bin/python bench/bench_taxii.py --peer-only [--objects 10000] [--reps 3]
    .venv/bin/python bench/bench_taxii.py --target gsomia [--objects 10000] [--reps 3]
    .venv/bin/python bench/bench_taxii.py --target opentaxii [--opentaxii-sqlite] [--gsomia-store URL]
    .venv/bin/python bench/bench_taxii.py --capture-examples bench/taxii_examples.md

`--target gsomia` measures a gsomia node beside medallion 3.0.0 with its memory back-end,
started as a real server process on 127.0.0.1 by its own `medallion` entry point (Flask's
threaded development server: no other WSGI server is installed, and medallion documents no
other), from a generated configuration (HTTP Basic users, one API root, one collection readable
and writable).

`--target opentaxii` measures it beside OpenTAXII 0.10.0b1 (EclecticIQ, BSD-3-Clause), installed
on first use in its own virtualenv (bench/.peers/, git-ignored) and served by gunicorn as its
documentation says, its SQLAlchemy persistence in a fresh PostgreSQL database per run (dropped
after; `--postgres URL`), and with `--opentaxii-sqlite` on a SQLite file as well. Its API root,
collection and account are made by its own commands; the client uses a Bearer token from its
`/management/auth`. `--gsomia-store URL` writes node.toml's `store` key of the benchmarked node.

One generic client drives every target: httpx, HTTP/1.1 keep-alive, one client thread.

- ingest: POST N STIX 2.1 objects (~1 KiB `indicator`s, every tenth a `report`; deterministic
  ids and timestamps) in envelopes of 100 with the TAXII 2.1 media type; a 202 whose status is
  not `complete` is polled at `{api_root}status/{id}/` until it is; objects/s.
- paged read: GET `objects/?limit=100`, then `?limit=100&next=…` until `more` is false; objects/s.
  Every object must come back exactly once.
- read cost vs size: the collection grows step by step (medallion: 1k, 2k, 4k by default, as its
  cost grows too fast for more in bounded time; OpenTAXII: 10k; gsomia: 10k, 100k, 1M); at each
  size, the time to GET the last page of 100 (`added_after` = an instant taken just before the
  last envelope was posted; the page must be exactly that envelope's objects), and to GET one
  object by id (`objects/{id}/`, 21 objects spread over the collection, median). Growth stops
  after the first step that takes more than --step-budget seconds.

A target may add objects of its own to each envelope (gsomia: the label as a STIX 2.1 marking):
`Target.envelope_for(objects) -> envelope`. Envelopes are built and serialised before the clock
starts. Each repetition starts a fresh server (and store). Prints medians over the repetitions.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson

TAXII = "application/taxii+json;version=2.1"
HEADERS = {"Accept": TAXII, "Content-Type": TAXII}
PAGE = 100
NAMESPACE = uuid.UUID("6d1c5e0e-3f55-4a57-9c3e-2b0a6f7d6a51")  # ids of the generated objects
BASE_TIME = datetime(2024, 1, 10, tzinfo=UTC)
PYTHON = sys.executable

Json = dict[str, Any]
EnvelopeFor = Callable[[list[Json]], Json]


def plain_envelope(objects: list[Json]) -> Json:
    """The envelope a plain TAXII server takes: just the objects."""
    return {"objects": objects}


class Bearer(httpx.Auth):
    """`Authorization: Bearer TOKEN` on every request (OpenTAXII's tokens from /management/auth)."""

    def __init__(self, token: str) -> None:
        self.header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self.header
        yield request


@dataclass(frozen=True)
class Target:
    name: str
    url: str  # the server, for discovery: f"{url}taxii2/" on medallion and OpenTAXII
    api_root: str  # full URL of the API root, ending in "/"
    collection_id: str
    user: str
    password: str
    stop: Callable[[], None]
    envelope_for: EnvelopeFor = field(default=plain_envelope)
    token: str = ""  # a Bearer token, used instead of HTTP Basic user/password when set

    def auth(self) -> httpx.Auth | tuple[str, str]:
        return Bearer(self.token) if self.token else (self.user, self.password)


# ----------------------------------------------------------------------------- STIX objects


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def stix_object(i: int) -> Json:
    """The i-th generated STIX 2.1 object (~1 KiB once serialised), the same in every run."""
    at = _stamp(BASE_TIME + timedelta(milliseconds=i))
    ident = uuid.uuid5(NAMESPACE, str(i))
    description = (
        f"Launch {i} detected by the early-warning radar network; trajectory and apogee "
        "consistent with a medium-range ballistic missile fired eastward from the west coast. "
        "Assessment shared under the exchange agreement; not for onward release."
    )
    if i % 10 == 9:
        return {
            "type": "report",
            "spec_version": "2.1",
            "id": f"report--{ident}",
            "created": at,
            "modified": at,
            "name": f"Ballistic missile launch assessment {i}",
            "description": description,
            "report_types": ["threat-report"],
            "published": at,
            "object_refs": [
                f"indicator--{uuid.uuid5(NAMESPACE, str(j))}" for j in range(max(0, i - 9), i)
            ],
            "labels": ["dprk", "missile"],
            "confidence": 80,
            "lang": "en",
        }
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{ident}",
        "created": at,
        "modified": at,
        "name": f"Launch site telemetry signature {i}",
        "description": description,
        "indicator_types": ["anomalous-activity"],
        "pattern": (
            f"[network-traffic:dst_ref.value = '198.51.{i // 256 % 256}.{i % 256}' AND "
            f"network-traffic:dst_port = {1024 + i % 50000}]"
        ),
        "pattern_type": "stix",
        "pattern_version": "2.1",
        "valid_from": at,
        "kill_chain_phases": [
            {"kill_chain_name": "lockheed-martin-cyber-kill-chain", "phase_name": "delivery"}
        ],
        "labels": ["dprk", "missile"],
        "confidence": 80,
        "lang": "en",
        "external_references": [{"source_name": "gsomia-bench", "external_id": f"B-{i:07d}"}],
    }


def envelopes(target: Target, start: int, stop: int) -> list[tuple[bytes, frozenset[str]]]:
    """Serialised envelopes of objects start..stop-1, with the ids of the generated objects."""
    out = []
    for lo in range(start, stop, PAGE):
        objs = [stix_object(i) for i in range(lo, min(lo + PAGE, stop))]
        out.append((orjson.dumps(target.envelope_for(objs)), frozenset(o["id"] for o in objs)))
    return out


# ----------------------------------------------------------------------------- the driver


class Driver:
    """A TAXII 2.1 client: one thread, one keep-alive HTTP/1.1 connection (if the server keeps it)."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.http = httpx.Client(auth=target.auth(), headers=HEADERS, timeout=3600.0)
        self.objects_url = f"{target.api_root}collections/{target.collection_id}/objects/"

    def close(self) -> None:
        self.http.close()

    def _json(self, response: httpx.Response, what: str) -> Json:
        if response.status_code not in {200, 202}:
            raise SystemExit(
                f"{self.target.name}: {what}: HTTP {response.status_code}: {response.text[:300]}"
            )
        doc: Json = orjson.loads(response.content)
        return doc

    def post(self, body: bytes, ours: frozenset[str]) -> None:
        """POST one envelope and wait until its status is complete; every object of ours must
        succeed (a target's own extra objects, e.g. a marking already stored, may fail)."""
        status = self._json(self.http.post(self.objects_url, content=body), "POST objects")
        delay = 0.002
        while status.get("status") != "complete":
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
            url = f"{self.target.api_root}status/{status['id']}/"
            status = self._json(self.http.get(url), "GET status")
        failed = {f.get("id") for f in status.get("failures", [])}
        if (
            status.get("success_count", 0) < len(ours)
            or (status.get("failure_count", 0) and not failed)
            or failed & ours
        ):
            raise SystemExit(f"{self.target.name}: envelope refused: {json.dumps(status)[:300]}")

    def ingest(self, bodies: list[tuple[bytes, frozenset[str]]]) -> tuple[float, str]:
        """Post every envelope; seconds taken, and an added_after that selects the last envelope."""
        last_after = ""
        t0 = time.perf_counter()
        for k, (body, ours) in enumerate(bodies):
            if k == len(bodies) - 1:
                last_after = _taxii_instant(datetime.now(UTC) - timedelta(milliseconds=1))
            self.post(body, ours)
        return time.perf_counter() - t0, last_after

    def get_page(self, params: dict[str, str]) -> Json:
        return self._json(self.http.get(self.objects_url, params=params), "GET objects")

    def read_all(self) -> tuple[float, float, int, set[str]]:
        """Page through the whole collection; seconds, of which first page, objects, distinct ids."""
        ids: set[str] = set()
        count = 0
        t0 = time.perf_counter()
        page = self.get_page({"limit": str(PAGE)})
        first_s = time.perf_counter() - t0
        while True:
            # the generated objects; a gsomia node also serves the labels they reference
            objs = [o for o in page.get("objects", []) if o.get("type") in {"indicator", "report"}]
            count += len(objs)
            ids.update(o["id"] for o in objs)
            if not page.get("more", False):
                break
            page = self.get_page({"limit": str(PAGE), "next": str(page["next"])})
        return time.perf_counter() - t0, first_s, count, ids

    def last_page(self, added_after: str, expected: set[str]) -> float:
        """Seconds to GET the page of objects added after `added_after`: a full page (or all of
        `expected`) and, of the generated objects, only those in `expected`."""
        t0 = time.perf_counter()
        page = self.get_page({"limit": str(PAGE), "added_after": added_after})
        elapsed = time.perf_counter() - t0
        objs = page.get("objects", [])
        got = {o["id"] for o in objs if o.get("type") in {"indicator", "report"}}
        if not got <= expected or len(objs) < min(PAGE, len(expected)):
            raise SystemExit(
                f"{self.target.name}: the last page has {len(got)} of the {len(expected)} objects "
                "of the last envelope"
            )
        return elapsed

    def by_id(self, ident: str) -> float:
        """Seconds to GET one object by its id (`objects/{id}/`); the answer must hold it."""
        t0 = time.perf_counter()
        doc = self._json(self.http.get(f"{self.objects_url}{ident}/"), "GET object by id")
        elapsed = time.perf_counter() - t0
        if ident not in {o.get("id") for o in doc.get("objects", [])}:
            raise SystemExit(f"{self.target.name}: GET objects/{ident}/ does not return it")
        return elapsed


def _taxii_instant(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ids(start: int, stop: int) -> set[str]:
    return {stix_object(i)["id"] for i in range(start, stop)}


# ----------------------------------------------------------------------------- targets


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_ready(
    url: str, auth: httpx.Auth | tuple[str, str], proc: subprocess.Popen[bytes], log: Path
) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(url, auth=auth, headers={"Accept": TAXII}, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"server at {url} not ready after 30 s:\n{log.read_text()[-2000:]}")


def _stopper(proc: subprocess.Popen[bytes]) -> Callable[[], None]:
    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    return stop


MEDALLION_COLLECTION = "365fed99-08fa-fdcd-a1b3-fb247eb41d01"
MEDALLION_USER, MEDALLION_PASSWORD = "bench", "bench-password"


def medallion_config(base: Path, port: int) -> Path:
    """Write medallion's configuration and the memory back-end's initial data; the config's path.

    The memory back-end serves only what its data file declares: discovery, the API root's
    information, its (empty) status list, and the collection with empty `objects`/`manifest`.
    `session_timeout` is the back-end's lifetime of a `next` cursor (default 30 s, counted from
    the first page): raised so that a slow paged read is not cut off half way.
    """
    root = f"http://127.0.0.1:{port}/api1/"
    data = {
        "/discovery": {
            "title": "medallion (benchmark peer)",
            "description": "OASIS TAXII 2.1 reference server, memory back-end",
            "contact": "bench@localhost",
            "default": root,
            "api_roots": [root],
        },
        "api1": {
            "information": {
                "title": "bench",
                "description": "API root of the benchmark",
                "versions": [TAXII],
                "max_content_length": 104857600,
            },
            "status": [],
            "collections": [
                {
                    "id": MEDALLION_COLLECTION,
                    "title": "bench",
                    "description": "readable and writable",
                    "can_read": True,
                    "can_write": True,
                    "media_types": ["application/stix+json;version=2.1"],
                    "objects": [],
                    "manifest": [],
                }
            ],
        },
    }
    (base / "medallion_data.json").write_text(json.dumps(data, indent=1))
    config = {
        "backend": {
            "module": "medallion.backends.memory_backend",
            "module_class": "MemoryBackend",
            "filename": str(base / "medallion_data.json"),
            "session_timeout": 3600,
        },
        "users": {MEDALLION_USER: MEDALLION_PASSWORD},
        "taxii": {"max_page_size": PAGE},
    }
    path = base / "medallion_config.json"
    path.write_text(json.dumps(config, indent=1))
    return path


def start_medallion(tmpdir: Path) -> Target:
    port = free_port()
    config = medallion_config(tmpdir, port)
    log = tmpdir / "medallion.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "medallion.scripts.run",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                str(config),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    wait_ready(f"{url}taxii2/", (MEDALLION_USER, MEDALLION_PASSWORD), proc, log)
    return Target(
        "medallion",
        url,
        f"{url}api1/",
        MEDALLION_COLLECTION,
        MEDALLION_USER,
        MEDALLION_PASSWORD,
        _stopper(proc),
    )


def _collection_by_alias(api_root: str, auth: httpx.Auth | tuple[str, str], alias: str) -> str:
    """A collection's id, found as a TAXII client finds it: by its alias (ids are random)."""
    r = httpx.get(f"{api_root}collections/", headers={"Accept": TAXII}, auth=auth, timeout=30)
    r.raise_for_status()
    [found] = [c["id"] for c in r.json()["collections"] if c.get("alias") == alias]
    return str(found)


def start_gsomia(tmpdir: Path, store: str | None = None) -> Target:
    """A real KOR node (`gsomia serve`, sealing and logging on), its store in `tmpdir` or at the
    URL `store` (node.toml's `store` key; a `postgresql://` URL's database is a fresh one per run,
    see `fresh_store`).

    Its peers JPN and USA are configured with their keys, so every object is decided for both,
    sealed for the parties allowed and logged with its decisions, and every release is queued in
    the outbox; the peers are not running, so pushes fail and back off (up to a minute) — the
    figures are the node's own ingest and read cost, not the receivers'.
    """
    from gsomia.node.config import PeerEntry, UserEntry, render_config, token_digest
    from gsomia.node.stix import extension_definition, label_marking
    from gsomia.seal.keys import init_keys

    passphrase = "bench passphrase"
    for party in ("KOR", "JPN", "USA"):
        ring = init_keys(tmpdir / party, party, passphrase=passphrase.encode())
        (tmpdir / f"{party}.pub.json").write_bytes(orjson.dumps(ring.export_document()))
    port, token = free_port(), "bench-token-" + uuid.uuid4().hex
    store_url, drop_store = fresh_store(store)
    settings: dict[str, str | float] = {} if store_url is None else {"store": store_url}
    text = render_config(
        party="KOR",
        listen=f"127.0.0.1:{port}",
        data_dir="KOR",
        peers=[
            PeerEntry(peer, f"http://127.0.0.1:{free_port()}", f"{peer}.pub.json")
            for peer in ("JPN", "USA")
        ],
        users=[UserEntry("bench", token_digest(token), "I", ("dprk",))],
        cosign_interval=0,
        max_content_length=16777216,
        **settings,
    )
    config = tmpdir / "KOR.toml"
    config.write_text(text, encoding="utf-8")
    log = tmpdir / "gsomia.log"
    exe = Path(sys.executable).with_name("gsomia")
    env = {**os.environ, "GSOMIA_PASSPHRASE": passphrase}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(exe), "serve", "--config", str(config)], stdout=out, stderr=out, env=env
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_ready(f"{url}taxii2/", ("bench", token), proc, log)
    except SystemExit:
        drop_store()
        raise
    marking = label_marking(
        policy="KR-MND-CMI",
        originator="KOR",
        classification="II",
        releasable_to=("JPN", "USA"),
        topics=("dprk.missile",),
        created="2026-01-01T00:00:00.000Z",
    )

    def envelope_for(objects: list[Json]) -> Json:
        marked = [{**o, "object_marking_refs": [marking["id"]]} for o in objects]
        return {"objects": [extension_definition(), marking, *marked]}

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        drop_store()

    return Target(
        name="gsomia",
        url=url,
        api_root=f"{url}api/",
        collection_id=_collection_by_alias(f"{url}api/", ("bench", token), "originated-KOR"),
        user="bench",
        password=token,
        stop=stop,
        envelope_for=envelope_for,
    )


# ----------------------------------------------------------------------------- PostgreSQL


POSTGRES = "postgresql://postgres@127.0.0.1:5432"  # the server for the peers' databases


def _admin_url(server: str) -> str:
    """The `postgres` maintenance database on `server`, as user postgres unless it names one."""
    parts = urlsplit(server)
    netloc = parts.netloc if parts.username else f"postgres@{parts.netloc}"
    return urlunsplit(parts._replace(netloc=netloc, path="/postgres", query="", fragment=""))


def create_database(server: str, prefix: str) -> tuple[str, Callable[[], None]]:
    """A new, empty database `PREFIX_<random>` on the PostgreSQL `server` (a URL without a
    database): its name, and the function that drops it."""
    import psycopg
    from psycopg import sql

    admin = _admin_url(server)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as e:
        raise SystemExit(
            f"cannot create a database on {admin} ({e}); is PostgreSQL running? "
            "(pg_ctlcluster 15 main start)"
        ) from e

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    return name, drop


def fresh_store(url: str | None) -> tuple[str | None, Callable[[], None]]:
    """The store URL for one benchmarked node, and what removes it after the run.

    A `postgresql://HOST/NAME?…` URL names a prefix: each run gets a fresh database
    `NAME_<random>` on that server (the query, e.g. `?schema=…`, kept), dropped afterwards, so
    that every repetition starts empty as it does on SQLite. Any other URL is used as it is.
    """
    if url is None or not url.startswith("postgresql://"):
        return url, lambda: None
    parts = urlsplit(url)
    server = urlunsplit(parts._replace(path="", query="", fragment=""))
    name, drop = create_database(server, parts.path.strip("/") or "gsomia_bench")
    return urlunsplit(parts._replace(path=f"/{name}")), drop


def postgres_version(server: str) -> str:
    import psycopg

    with psycopg.connect(_admin_url(server), connect_timeout=10) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


# ----------------------------------------------------------------------------- OpenTAXII

# OpenTAXII (EclecticIQ, BSD-3-Clause) lives in its own virtualenv, built here on first use: its
# pins (SQLAlchemy < 2, Flask, libtaxii…) are not gsomia's. 0.10.0b1, the pre-release: 0.9.3's
# JSON encoder fails on objects with UUID ids (its issue #243).
OPENTAXII_VENV = Path(__file__).resolve().parent / ".peers" / "opentaxii-venv"
OPENTAXII_REQUIREMENTS = ("opentaxii==0.10.0b1", "gunicorn==27.0.1", "psycopg2-binary==2.9.13")
OPENTAXII_PACKAGES = ("opentaxii", "gunicorn", "SQLAlchemy", "psycopg2-binary", "Flask")
OPENTAXII_WORKERS = 2  # the worker count of OpenTAXII's own gunicorn example (running.rst)
OPENTAXII_API_ROOT = "6f1a3c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"
OPENTAXII_ALIAS = "bench"
OPENTAXII_USER, OPENTAXII_PASSWORD = "bench", "bench-password"


def opentaxii_bin() -> Path:
    """The `bin/` of OpenTAXII's virtualenv (bench/.peers/, git-ignored), built if missing or
    built from other requirements."""
    stamp = OPENTAXII_VENV / "bench-requirements.txt"
    wanted = "\n".join(OPENTAXII_REQUIREMENTS) + "\n"
    bin_dir = OPENTAXII_VENV / "bin"
    if stamp.is_file() and stamp.read_text() == wanted:
        return bin_dir
    print(f"# building {OPENTAXII_VENV}: {' '.join(OPENTAXII_REQUIREMENTS)}", flush=True)
    subprocess.run([PYTHON, "-m", "venv", "--clear", str(OPENTAXII_VENV)], check=True)
    subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", *OPENTAXII_REQUIREMENTS],
        check=True,
    )
    stamp.write_text(wanted)
    return bin_dir


def opentaxii_versions() -> str:
    """The installed versions of OpenTAXII and what serves it, as one line."""
    code = (
        "import importlib.metadata as m, sys; "
        f"print(' '.join(p + ' ' + m.version(p) for p in {list(OPENTAXII_PACKAGES)!r}))"
    )
    out = subprocess.run(
        [str(opentaxii_bin() / "python"), "-c", code], check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


def opentaxii_config(tmpdir: Path, port: int, db: str) -> Path:
    """OpenTAXII's configuration (YAML; JSON is YAML): TAXII 2.1 only, its SQLAlchemy persistence
    and accounts in `db`, tokens valid for a day (a long run outlives the default hour)."""
    config = {
        "domain": f"127.0.0.1:{port}",
        "support_basic_auth": True,
        "return_server_error_details": True,
        "auth_api": {
            "class": "opentaxii.auth.sqldb.SQLDatabaseAPI",
            "parameters": {
                "db_connection": db,
                "create_tables": True,
                "secret": uuid.uuid4().hex + uuid.uuid4().hex,
                "token_ttl_secs": 86400,
            },
        },
        "taxii1": None,
        "taxii2": {
            "persistence_api": {
                "class": "opentaxii.persistence.sqldb.Taxii2SQLDatabaseAPI",
                "parameters": {"db_connection": db, "create_tables": True},
            },
            "title": "OpenTAXII (benchmark peer)",
            "public_discovery": False,
            "max_content_length": 104857600,
        },
        "logging": {"opentaxii": "warning", "root": "warning"},
    }
    path = tmpdir / "opentaxii.yml"
    path.write_text(json.dumps(config, indent=1))
    return path


def _opentaxii_token(url: str, proc: subprocess.Popen[bytes], log: Path) -> str:
    """A Bearer token from /management/auth, once gunicorn answers."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            r = httpx.post(
                f"{url}management/auth",
                json={"username": OPENTAXII_USER, "password": OPENTAXII_PASSWORD},
                timeout=5,
            )
            if r.status_code == 200:
                return str(r.json()["token"])
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"OpenTAXII at {url} not ready after 60 s:\n{log.read_text()[-2000:]}")


def _opentaxii_provision(bin_dir: Path, env: dict[str, str]) -> None:
    """The API root, the collection and the account, made by OpenTAXII's own commands."""
    commands = [
        ["opentaxii-add-api-root", "-t", "bench", "--default", "-i", OPENTAXII_API_ROOT],
        [
            "opentaxii-add-collection",
            "-r",
            OPENTAXII_API_ROOT,
            "-t",
            "bench",
            "-a",
            OPENTAXII_ALIAS,
        ],
        ["opentaxii-create-account", "-u", OPENTAXII_USER, "-p", OPENTAXII_PASSWORD, "-a"],
    ]
    for command in commands:
        done = subprocess.run(
            [str(bin_dir / command[0]), *command[1:]], env=env, capture_output=True, check=False
        )
        if done.returncode:
            raise SystemExit(f"{command[0]} failed:\n{(done.stdout + done.stderr).decode()}")


def _opentaxii_serve(tmpdir: Path, db: str, name: str) -> Target:
    """Configure and provision OpenTAXII on `db`, start gunicorn, and sign in."""
    bin_dir = opentaxii_bin()
    port = free_port()
    env = {**os.environ, "OPENTAXII_CONFIG": str(opentaxii_config(tmpdir, port, db))}
    _opentaxii_provision(bin_dir, env)
    log = tmpdir / "opentaxii.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(bin_dir / "gunicorn"),
                "opentaxii.http:app",
                "--workers",
                str(OPENTAXII_WORKERS),
                "--timeout",
                "300",
                "--bind",
                f"127.0.0.1:{port}",
                "--no-control-socket",  # gunicorn 27's socket path is per user, not per run
                "--config",
                "python:opentaxii.http",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    stop = _stopper(proc)
    url = f"http://127.0.0.1:{port}/"
    try:
        token = _opentaxii_token(url, proc, log)
        wait_ready(f"{url}taxii2/", Bearer(token), proc, log)
        api_root = f"{url}taxii2/{OPENTAXII_API_ROOT}/"
        collection = _collection_by_alias(api_root, Bearer(token), OPENTAXII_ALIAS)
    except BaseException:
        stop()
        raise
    return Target(
        name=name,
        url=url,
        api_root=api_root,
        collection_id=collection,
        user=OPENTAXII_USER,
        password=OPENTAXII_PASSWORD,
        stop=stop,
        token=token,
    )


def start_opentaxii(tmpdir: Path, postgres: str = POSTGRES) -> Target:
    """OpenTAXII 0.10.0b1 served by gunicorn as its documentation says (`gunicorn
    opentaxii.http:app --workers 2 --timeout 300 --config python:opentaxii.http`), on 127.0.0.1,
    its SQLAlchemy persistence in a fresh database on the PostgreSQL server `postgres`, dropped
    after the run.

    The API root, the collection and the account are made by OpenTAXII's own commands
    (`opentaxii-add-api-root`, `opentaxii-add-collection`, `opentaxii-create-account -a`: an
    admin account, as `opentaxii-sync-data` grants TAXII 1 collections only); the client then
    uses a Bearer token from `/management/auth` (HTTP Basic hashes the password on every request).
    """
    name, drop = create_database(postgres, "opentaxii_bench")
    try:
        target = _opentaxii_serve(tmpdir, f"{postgres}/{name}", "opentaxii")
    except BaseException:
        drop()
        raise

    def stop() -> None:
        target.stop()
        drop()

    return dataclasses.replace(target, stop=stop)


def start_opentaxii_basic(tmpdir: Path, postgres: str = POSTGRES) -> Target:
    """OpenTAXII on PostgreSQL as `start_opentaxii`, the client signing in with HTTP Basic on
    every request instead of a Bearer token (the cost of its password hashing, for reference)."""
    return dataclasses.replace(start_opentaxii(tmpdir, postgres), name="opentaxii-basic", token="")


def start_opentaxii_sqlite(tmpdir: Path) -> Target:
    """OpenTAXII as `start_opentaxii`, its persistence in a SQLite file in `tmpdir`."""
    return _opentaxii_serve(tmpdir, f"sqlite:///{tmpdir / 'opentaxii.sqlite3'}", "opentaxii-sqlite")


STARTERS: dict[str, Callable[[Path], Target]] = {
    "medallion": start_medallion,
    "gsomia": start_gsomia,  # main() binds --gsomia-store
    "opentaxii": start_opentaxii,  # main() binds --postgres
    "opentaxii-sqlite": start_opentaxii_sqlite,
    "opentaxii-basic": start_opentaxii_basic,  # main() binds --postgres
}


@contextmanager
def running(name: str) -> Iterator[Target]:
    with tempfile.TemporaryDirectory(prefix=f"bench-taxii-{name}-") as tmp:
        target = STARTERS[name](Path(tmp))
        try:
            yield target
        finally:
            target.stop()


# ----------------------------------------------------------------------------- measurements


@dataclass
class Run:
    ingest_s: float
    read_s: float
    first_page_s: float
    n: int


def run_once(name: str, n: int) -> Run:
    with running(name) as target:
        driver = Driver(target)
        try:
            ingest_s, _ = driver.ingest(envelopes(target, 0, n))
            read_s, first_s, count, ids = driver.read_all()
            if count != n or ids != _ids(0, n):
                raise SystemExit(
                    f"{name}: read back {count} objects, {len(ids)} distinct; expected {n}"
                )
            return Run(ingest_s, read_s, first_s, n)
        finally:
            driver.close()


@dataclass
class Step:
    size: int
    grow_s: float
    page_s: list[float]
    by_id_s: list[float]


BY_ID = 21  # objects fetched by id at each size, spread over the collection


def by_id_sample(size: int) -> list[str]:
    """Ids of BY_ID generated objects spread evenly over the first `size` (first and last too)."""
    return [
        stix_object(i)["id"] for i in sorted({k * (size - 1) // (BY_ID - 1) for k in range(BY_ID)})
    ]


def read_cost(name: str, sizes: list[int], reps: int, budget: float) -> tuple[list[Step], str]:
    """Grow one collection through `sizes`; at each, time the last page `reps` times and one
    object by id for each of `by_id_sample(size)`."""
    steps: list[Step] = []
    stopped = ""
    with running(name) as target:
        driver = Driver(target)
        try:
            have = 0
            for size in sizes:
                t0 = time.perf_counter()
                grow_s, after = driver.ingest(envelopes(target, have, size))
                expected = _ids(have + (size - have - 1) // PAGE * PAGE, size)
                page_s = [driver.last_page(after, expected)]
                if page_s[0] < budget / 20:  # a page slower than that is measured once
                    page_s += [driver.last_page(after, expected) for _ in range(reps - 1)]
                ids = by_id_sample(size)
                by_id_s = [driver.by_id(ids[0])]
                if by_id_s[0] > budget / 40:  # as slow as that: three objects, not 21
                    ids = ids[:: len(ids) // 2]
                by_id_s += [driver.by_id(i) for i in ids[1:]]
                have = size
                steps.append(Step(size, grow_s, page_s, by_id_s))
                step_s = time.perf_counter() - t0
                print(
                    f"  {name}: {size:>9,} objects  grow {grow_s:8.1f} s  last page "
                    f"{statistics.median(page_s) * 1000:9.1f} ms  by id "
                    f"{statistics.median(by_id_s) * 1000:8.1f} ms  (step {step_s:.0f} s)",
                    flush=True,
                )
                if step_s > budget and size != sizes[-1]:
                    stopped = (
                        f"stopped after {size:,}: that step took {step_s:.0f} s > {budget:.0f} s"
                    )
                    break
        finally:
            driver.close()
    return steps, stopped


def rate(n: int, seconds: list[float]) -> float:
    return n / statistics.median(seconds)


def ms(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1000


def compare_ingest_read(runs: dict[str, list[Run]], n: int) -> None:
    """gsomia's ingest and paged read over each peer's, with the issues' targets."""
    targets = {
        "medallion": (5, 100),  # issue 5
        "opentaxii": (10, 50),  # issue 12, OpenTAXII on PostgreSQL
        "opentaxii-sqlite": (None, None),  # for reference
        "opentaxii-basic": (None, None),
    }
    if "gsomia" not in runs:
        return
    g = runs["gsomia"]
    for peer, (ingest_target, read_target) in targets.items():
        if peer not in runs:
            continue
        p = runs[peer]
        ingest = rate(n, [r.ingest_s for r in g]) / rate(n, [r.ingest_s for r in p])
        read = rate(n, [r.read_s for r in g]) / rate(n, [r.read_s for r in p])
        print(
            f"gsomia / {peer}: ingest {ingest:.1f}x"
            + (f" (target >= {ingest_target}x)" if ingest_target else "")
            + f", paged read {read:.1f}x"
            + (f" (target >= {read_target}x)" if read_target else "")
        )


def compare_read_cost(steps: dict[str, list[Step]]) -> None:
    """Issue 12's read-cost targets for gsomia, beside OpenTAXII's figures at the same size."""
    g = steps.get("gsomia", [])
    if not g:
        return
    first, last = g[0], g[-1]
    print(
        f"gsomia last page {first.size:,} -> {last.size:,}: {ms(first.page_s):.1f} -> "
        f"{ms(last.page_s):.1f} ms, x{ms(last.page_s) / ms(first.page_s):.2f} (target: flat "
        f"10k -> 1M); one object by id at {last.size:,}: {ms(last.by_id_s):.1f} ms "
        "(target <= 2 ms at 1M)"
    )
    for peer in ("opentaxii", "opentaxii-sqlite", "opentaxii-basic", "medallion"):
        at = {s.size: s for s in steps.get(peer, [])}
        for s in g:
            if s.size in at:
                o = at[s.size]
                print(
                    f"  at {s.size:,}: last page gsomia {ms(s.page_s):.1f} ms, {peer} "
                    f"{ms(o.page_s):.1f} ms ({ms(o.page_s) / ms(s.page_s):.0f}x); by id gsomia "
                    f"{ms(s.by_id_s):.1f} ms, {peer} {ms(o.by_id_s):.1f} ms "
                    f"({ms(o.by_id_s) / ms(s.by_id_s):.1f}x)"
                )


def bench(
    targets: list[str],
    n: int,
    reps: dict[str, int],
    sizes: dict[str, list[int]],
    budget: float,
    *,
    postgres: str = POSTGRES,
) -> None:
    print(f"# TAXII 2.1 ingest and paged read, {n:,} objects, envelopes/pages of {PAGE}")
    print(
        f"# {platform.python_implementation()} {platform.python_version()}, {platform.machine()}, "
        f"reps={ {t: reps[t] for t in targets} }, load average {os.getloadavg()[0]:.1f}"
    )
    if any(t.startswith("opentaxii") for t in targets):
        print(
            f"# peer: {opentaxii_versions()}; gunicorn --workers {OPENTAXII_WORKERS}; "
            f"PostgreSQL {postgres_version(postgres)} at {urlsplit(postgres).netloc}"
        )
    runs: dict[str, list[Run]] = {}
    for name in targets:
        if reps[name] == 0:
            continue
        runs[name] = []
        for r in range(reps[name]):
            run = run_once(name, n)
            runs[name].append(run)
            print(
                f"  {name} rep {r + 1}: ingest {n / run.ingest_s:9.0f} obj/s ({run.ingest_s:.2f} s)  "
                f"read {n / run.read_s:9.0f} obj/s ({run.read_s:.2f} s, first page {run.first_page_s:.2f} s)",
                flush=True,
            )
    print()
    print("| target | reps | ingest obj/s | paged read obj/s | first page s |  (medians)")
    print("|---|---:|---:|---:|---:|")
    for name, rs in runs.items():
        first = statistics.median(r.first_page_s for r in rs)
        print(
            f"| {name} | {len(rs)} | {rate(n, [r.ingest_s for r in rs]):,.0f} | "
            f"{rate(n, [r.read_s for r in rs]):,.0f} | {first:.3f} |"
        )
    compare_ingest_read(runs, n)
    print()
    print(
        "# read cost vs size: GET the last page of 100 (added_after), median of 3 (1 if slow); "
        f"GET objects/{{id}}/, median over {BY_ID} objects spread over the collection"
    )
    all_steps: dict[str, list[Step]] = {}
    for name in targets:
        if not sizes[name]:
            continue
        steps, stopped = read_cost(name, sizes[name], 3, budget)
        all_steps[name] = steps
        print(
            f"| {name} last page | "
            + " | ".join(f"{s.size:,}: {ms(s.page_s):.1f} ms" for s in steps)
            + " |"
        )
        print(
            f"| {name} by id | "
            + " | ".join(f"{s.size:,}: {ms(s.by_id_s):.1f} ms" for s in steps)
            + " |"
        )
        if stopped:
            print(f"  {name}: {stopped}")
    compare_read_cost(all_steps)


# ----------------------------------------------------------------------------- examples


def _small(obj: Json) -> Json:
    """A short version of a generated object, for readable examples."""
    keep = {"type", "spec_version", "id", "created", "modified", "name", "pattern"}
    keep |= {"pattern_type", "valid_from", "published", "report_types", "object_refs"}
    out = {k: v for k, v in obj.items() if k in keep}
    if "object_refs" in out:
        out["object_refs"] = out["object_refs"][:2]
    return out


def _client_trace(target: Target) -> list[str]:
    """Drive taxii2-client 2.3.0 against the target and record every HTTP exchange it makes."""
    import requests
    from taxii2client.v21 import Server, as_pages

    lines = [
        "## What taxii2-client 2.3.0 sends (recorded against medallion)",
        "",
        (
            "Every request the client made for: Server(discovery) → api_roots[0].title → .collections "
            "→ add_objects(envelope) → as_pages(get_objects, per_request=2) → get_manifest(limit=2) "
            "→ get_object(id) → object_versions(id) → api_root.get_status(id). The Authorization "
            "header is HTTP Basic (shown redacted)."
        ),
        "",
        "```text",
    ]
    original = requests.Session.send

    def send(self: requests.Session, request: requests.PreparedRequest, **kw: Any) -> Any:
        response = original(self, request, **kw)
        headers = {
            k: (
                "Basic <redacted>"
                if k.lower() == "authorization"
                else v.decode()
                if isinstance(v, bytes)
                else v
            )
            for k, v in request.headers.items()
        }
        body = request.body if isinstance(request.body, bytes) else b""
        lines.append(f"{request.method} {str(request.url).replace(target.url, '/')}")
        lines.extend(f"    {k}: {v}" for k, v in headers.items())
        if body:
            lines.append(f"    <body: {len(body)} bytes, {body[:60]!r}...>")
        ctype = response.headers.get("Content-Type")
        lines.append(f"  -> {response.status_code}  Content-Type: {ctype}")
        return response

    requests.Session.send = send  # type: ignore[method-assign]
    try:
        server = Server(f"{target.url}taxii2/", user=target.user, password=target.password)
        root = server.api_roots[0]
        _ = root.title
        collection = root.collections[0]
        objs = [_small(stix_object(i)) for i in range(20, 23)]
        status = collection.add_objects({"objects": objs})
        pages = list(as_pages(collection.get_objects, per_request=2))
        collection.get_manifest(limit=2)
        collection.get_object(objs[0]["id"])
        collection.object_versions(objs[0]["id"])
        root.get_status(status.id)
    finally:
        requests.Session.send = original  # type: ignore[method-assign]
    lines.extend(
        [
            "```",
            "",
            f"as_pages yielded {len(pages)} pages of {[len(p.get('objects', [])) for p in pages]} objects.",
            "",
        ]
    )
    return lines


def capture_examples(path: Path) -> None:
    """Write one real request/response of each TAXII 2.1 endpoint of medallion to `path`."""
    with running("medallion") as target:
        http = httpx.Client(auth=(target.user, target.password), timeout=60)
        api, coll = target.api_root, f"{target.api_root}collections/{target.collection_id}/"
        objs = [_small(stix_object(i)) for i in (0, 1, 9)]
        second = dict(objs[0], modified=_stamp(BASE_TIME + timedelta(days=1)), confidence=90)
        out = [
            "# TAXII 2.1 exchanges with medallion 3.0.0 (memory back-end)",
            "",
            (
                "Captured by `.venv/bin/python bench/bench_taxii.py --capture-examples "
                "bench/taxii_examples.md` against a fresh medallion on 127.0.0.1 (the port, ids of "
                "status resources, `next` cursors and dates change from run to run). Request headers "
                "are those the driver sent (taxii2-client sends the same Accept/Content-Type; see "
                "the notes at the end). Bodies are shown as the server sent them."
            ),
            "",
        ]

        def show(
            title: str, method: str, url: str, headers: dict[str, str], body: Any = None
        ) -> Json | None:
            content = None if body is None else json.dumps(body).encode()
            resp = http.request(method, url, headers=headers, content=content)
            out.extend(
                [f"## {title}", "", "```http", f"{method} {url.replace(target.url, '/')} HTTP/1.1"]
            )
            out.extend(f"{k}: {v}" for k, v in headers.items())
            if content is not None:
                out.extend(
                    [
                        "",
                        json.dumps(body, indent=1)
                        if len(content) < 1500
                        else f"<{len(content)}-byte envelope of {len(body['objects'])} objects>",
                    ]
                )
            out.extend(["```", "", "```http", f"HTTP/1.1 {resp.status_code} {resp.reason_phrase}"])
            out.extend(f"{k}: {v}" for k, v in resp.headers.items() if k.lower() != "date")
            text = resp.text
            try:
                doc = resp.json()
                text = json.dumps(doc, indent=1)
            except ValueError:
                doc = None
            out.extend(["", text, "```", ""])
            return doc if isinstance(doc, dict) else None

        acc = {"Accept": TAXII}
        both = {"Accept": TAXII, "Content-Type": TAXII}
        show("Discovery", "GET", f"{target.url}taxii2/", acc)
        show("API root", "GET", api, acc)
        show("Collections", "GET", f"{api}collections/", acc)
        show("Collection", "GET", coll, acc)
        status = show(
            "Add objects (POST an envelope)", "POST", f"{coll}objects/", both, {"objects": objs}
        )
        show(
            "Add objects: a new version of an object already present",
            "POST",
            f"{coll}objects/",
            both,
            {"objects": [second]},
        )
        show(
            "Add objects: the same version again (refused in the status, still 202)",
            "POST",
            f"{coll}objects/",
            both,
            {"objects": [second]},
        )
        if status is not None:
            show("Status", "GET", f"{api}status/{status['id']}/", acc)
        page = show("Objects, first page (limit=2)", "GET", f"{coll}objects/?limit=2", acc)
        if page is not None and page.get("next"):
            show("Objects, next page", "GET", f"{coll}objects/?limit=2&next={page['next']}", acc)
        if status is not None:
            show(
                "Objects added after the first POST's request_timestamp (= its date_added)",
                "GET",
                f"{coll}objects/?added_after={status['request_timestamp']}",
                acc,
            )
        show("Objects, match[type]", "GET", f"{coll}objects/?match[type]=report", acc)
        show("Objects, all versions", "GET", f"{coll}objects/?match[version]=all", acc)
        show("Objects, empty result", "GET", f"{coll}objects/?match[type]=malware", acc)
        show("Manifest (limit=2)", "GET", f"{coll}manifest/?limit=2", acc)
        show("Object by id", "GET", f"{coll}objects/{objs[0]['id']}/", acc)
        show("Object versions", "GET", f"{coll}objects/{objs[0]['id']}/versions/", acc)
        show(
            "Error: unknown object",
            "GET",
            f"{coll}objects/{'indicator--' + str(uuid.UUID(int=0))}/",
            acc,
        )
        show(
            "Error: Accept of another version",
            "GET",
            f"{api}collections/",
            {"Accept": "application/taxii+json;version=2.0"},
        )
        show("Error: no Accept header", "GET", f"{api}collections/", {"Accept": "application/json"})
        show(
            "Error: POST with a wrong Content-Type",
            "POST",
            f"{coll}objects/",
            {"Accept": TAXII, "Content-Type": "application/json"},
            {"objects": objs[:1]},
        )
        show(
            "Error: unknown collection", "GET", f"{api}collections/{uuid.UUID(int=1)}/objects/", acc
        )
        show("No trailing slash: a redirect", "GET", f"{api}collections", acc)
        show("Error: limit=0", "GET", f"{coll}objects/?limit=0", acc)
        show("Error: an unknown next", "GET", f"{coll}objects/?limit=2&next=nope", acc)
        http.close()
        anon = httpx.get(f"{target.url}taxii2/", headers=acc)
        out.extend(
            [
                "## Error: no credentials",
                "",
                "```http",
                "GET /taxii2/ HTTP/1.1",
                f"Accept: {TAXII}",
                "```",
                "",
                "```http",
                f"HTTP/1.1 {anon.status_code} {anon.reason_phrase}",
            ]
        )
        out.extend(f"{k}: {v}" for k, v in anon.headers.items() if k.lower() != "date")
        out.extend(["", anon.text, "```", ""])
        out.extend(_client_trace(target))
    notes = (
        path.read_text().split("<!-- notes -->", 1)[1]
        if path.exists() and "<!-- notes -->" in path.read_text()
        else "\n"
    )
    path.write_text("\n".join(out) + "\n<!-- notes -->" + notes)


PEERS = {"gsomia": ["medallion"], "opentaxii": ["opentaxii"]}  # --target: gsomia beside them


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument(
        "--peer-only", action="store_true", help="measure medallion only (no gsomia node yet)"
    )
    mode.add_argument(
        "--target",
        choices=sorted(PEERS),
        help="gsomia: gsomia beside medallion (issue 5); opentaxii: gsomia beside OpenTAXII "
        "on PostgreSQL (issue 12)",
    )
    mode.add_argument(
        "--capture-examples", type=Path, metavar="MD", help="write medallion's example exchanges"
    )
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--peer-reps", type=int, help="repetitions for the peers (default --reps; 0: skip)"
    )
    parser.add_argument(
        "--opentaxii-sqlite",
        action="store_true",
        help="with --target opentaxii: OpenTAXII on SQLite as well",
    )
    parser.add_argument(
        "--opentaxii-basic",
        action="store_true",
        help="with --target opentaxii: OpenTAXII on PostgreSQL with HTTP Basic as well (the "
        "client's password is hashed on every request)",
    )
    parser.add_argument(
        "--gsomia-store",
        metavar="URL",
        help="the benchmarked node's `store` (node.toml); a postgresql://HOST/NAME?... URL gets a "
        "fresh database NAME_<random> per run, dropped after (default: SQLite in the run's "
        "directory)",
    )
    parser.add_argument(
        "--postgres",
        default=POSTGRES,
        metavar="URL",
        help="the PostgreSQL server for OpenTAXII's databases (default %(default)s)",
    )
    parser.add_argument("--medallion-sizes", default="1000,2000,4000")
    parser.add_argument("--opentaxii-sizes", default="10000")
    parser.add_argument("--gsomia-sizes", default="10000,100000,1000000")
    parser.add_argument(
        "--step-budget", type=float, default=120.0, help="stop growing after a step this long (s)"
    )
    parser.add_argument("--no-read-cost", action="store_true")
    parser.add_argument("--read-cost-only", action="store_true", help="skip ingest/paged read")
    args = parser.parse_args()
    if args.capture_examples:
        capture_examples(args.capture_examples)
        return
    postgres = args.postgres.rstrip("/")
    STARTERS["gsomia"] = functools.partial(start_gsomia, store=args.gsomia_store)
    STARTERS["opentaxii"] = functools.partial(start_opentaxii, postgres=postgres)
    STARTERS["opentaxii-basic"] = functools.partial(start_opentaxii_basic, postgres=postgres)
    peers = ["medallion"] if args.peer_only else PEERS[args.target]
    if args.opentaxii_sqlite and "opentaxii" in peers:
        peers = [*peers, "opentaxii-sqlite"]
    if args.opentaxii_basic and "opentaxii" in peers:
        peers = [*peers, "opentaxii-basic"]
    targets = peers if args.peer_only else ["gsomia", *peers]
    for name in targets:  # fail before the long runs if a server cannot start
        if name != "medallion":
            with running(name):
                pass
    sizes = {
        "medallion": [int(s) for s in args.medallion_sizes.split(",")],
        "opentaxii": [int(s) for s in args.opentaxii_sizes.split(",")],
        "opentaxii-sqlite": [int(s) for s in args.opentaxii_sizes.split(",")],
        "opentaxii-basic": [int(s) for s in args.opentaxii_sizes.split(",")],
        "gsomia": [int(s) for s in args.gsomia_sizes.split(",")],
    }
    if args.no_read_cost:
        sizes = {k: [] for k in sizes}
    peer_reps = args.reps if args.peer_reps is None else args.peer_reps
    reps = {name: args.reps if name == "gsomia" else peer_reps for name in targets}
    if args.read_cost_only:
        reps = dict.fromkeys(reps, 0)
    bench(targets, args.objects, reps, sizes, args.step_budget, postgres=postgres)


if __name__ == "__main__":
    main()
