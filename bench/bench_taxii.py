"""TAXII 2.1 node against the OASIS reference server, medallion (issue 5 §9).

    .venv/bin/python bench/bench_taxii.py --peer-only [--objects 10000] [--reps 3]
    .venv/bin/python bench/bench_taxii.py --target gsomia [--objects 10000] [--reps 3]
    .venv/bin/python bench/bench_taxii.py --capture-examples bench/taxii_examples.md

The peer is medallion 3.0.0 with its memory back-end, started as a real server process on
127.0.0.1 by its own `medallion` entry point (Flask's threaded development server: no other WSGI
server is installed, and medallion documents no other), from a generated configuration (HTTP
Basic users, one API root, one collection readable and writable).

One generic client drives every target: httpx, HTTP/1.1 keep-alive, one client thread.

- ingest: POST N STIX 2.1 objects (~1 KiB `indicator`s, every tenth a `report`; deterministic
  ids and timestamps) in envelopes of 100 with the TAXII 2.1 media type; a 202 whose status is
  not `complete` is polled at `{api_root}status/{id}/` until it is; objects/s.
- paged read: GET `objects/?limit=100`, then `?limit=100&next=…` until `more` is false; objects/s.
  Every object must come back exactly once.
- read cost vs size: the collection grows step by step (medallion: 1k, 2k, 4k by default, as its
  cost grows too fast for more in bounded time; gsomia: 10k, 100k, 1M); at each size, the time to GET the last page of 100 (`added_after` = an instant
  taken just before the last envelope was posted; the page must be exactly that envelope's
  objects). Growth stops after the first step that takes more than --step-budget seconds.

A target may add objects of its own to each envelope (gsomia: the label as a STIX 2.1 marking):
`Target.envelope_for(objects) -> envelope`. Envelopes are built and serialised before the clock
starts. Each repetition starts a fresh server. Prints medians over the repetitions.
"""

from __future__ import annotations

import argparse
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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


@dataclass(frozen=True)
class Target:
    name: str
    url: str  # the server, for discovery: f"{url}taxii2/" on medallion
    api_root: str  # full URL of the API root, ending in "/"
    collection_id: str
    user: str
    password: str
    stop: Callable[[], None]
    envelope_for: EnvelopeFor = field(default=plain_envelope)


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
        self.http = httpx.Client(
            auth=(target.user, target.password), headers=HEADERS, timeout=3600.0
        )
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


def wait_ready(url: str, auth: tuple[str, str], proc: subprocess.Popen[bytes], log: Path) -> None:
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


def _collection_by_alias(api_root: str, auth: tuple[str, str], alias: str) -> str:
    """A collection's id, found as a TAXII client finds it: by its alias (ids are random)."""
    r = httpx.get(f"{api_root}collections/", headers={"Accept": TAXII}, auth=auth, timeout=30)
    r.raise_for_status()
    [found] = [c["id"] for c in r.json()["collections"] if c.get("alias") == alias]
    return str(found)


def start_gsomia(tmpdir: Path) -> Target:
    """A real KOR node (`gsomia serve`, SQLite store, sealing and logging on).

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
    wait_ready(f"{url}taxii2/", ("bench", token), proc, log)
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


STARTERS: dict[str, Callable[[Path], Target]] = {
    "medallion": start_medallion,
    "gsomia": start_gsomia,
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


def read_cost(name: str, sizes: list[int], reps: int, budget: float) -> tuple[list[Step], str]:
    """Grow one collection through `sizes`; at each, time the last page `reps` times."""
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
                have = size
                steps.append(Step(size, grow_s, page_s))
                step_s = time.perf_counter() - t0
                print(
                    f"  {name}: {size:>9,} objects  grow {grow_s:8.1f} s  last page "
                    f"{statistics.median(page_s) * 1000:9.1f} ms  (step {step_s:.0f} s)",
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


def bench(
    targets: list[str], n: int, reps: dict[str, int], sizes: dict[str, list[int]], budget: float
) -> None:
    print(f"# TAXII 2.1 ingest and paged read, {n:,} objects, envelopes/pages of {PAGE}")
    print(
        f"# {platform.python_implementation()} {platform.python_version()}, {platform.machine()}, reps={ {t: reps[t] for t in targets} }"
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
    if "gsomia" in runs and "medallion" in runs:
        g, m = runs["gsomia"], runs["medallion"]
        ingest = rate(n, [r.ingest_s for r in g]) / rate(n, [r.ingest_s for r in m])
        read = rate(n, [r.read_s for r in g]) / rate(n, [r.read_s for r in m])
        print(
            f"gsomia / medallion: ingest {ingest:.1f}x (target >= 5x), paged read {read:.1f}x (target >= 100x)"
        )
    print()
    print("# read cost vs size: GET the last page of 100 (added_after), median of 3 (1 if slow)")
    for name in targets:
        steps, stopped = read_cost(name, sizes[name], 3, budget)
        print(
            f"| {name} | "
            + " | ".join(f"{s.size:,}: {statistics.median(s.page_s) * 1000:.1f} ms" for s in steps)
            + " |"
        )
        if stopped:
            print(f"  {name}: {stopped}")


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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument(
        "--peer-only", action="store_true", help="measure medallion only (no gsomia node yet)"
    )
    mode.add_argument(
        "--target", choices=["gsomia"], help="measure gsomia and medallion side by side"
    )
    mode.add_argument(
        "--capture-examples", type=Path, metavar="MD", help="write medallion's example exchanges"
    )
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--peer-reps", type=int, help="repetitions for medallion (default --reps; 0: skip)"
    )
    parser.add_argument("--medallion-sizes", default="1000,2000,4000")
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
    targets = ["medallion"] if args.peer_only else ["gsomia", "medallion"]
    if "gsomia" in targets:  # fail before the long peer run if the node cannot start
        with tempfile.TemporaryDirectory() as tmp:
            start_gsomia(Path(tmp)).stop()
    sizes = {
        "medallion": [int(s) for s in args.medallion_sizes.split(",")],
        "gsomia": [int(s) for s in args.gsomia_sizes.split(",")],
    }
    if args.no_read_cost:
        sizes = {k: [] for k in sizes}
    reps = {
        "gsomia": args.reps,
        "medallion": args.reps if args.peer_reps is None else args.peer_reps,
    }
    if args.read_cost_only:
        reps = dict.fromkeys(reps, 0)
    bench(targets, args.objects, reps, sizes, args.step_budget)


if __name__ == "__main__":
    main()
