"""Scale-out: TAXII paged reads and console page views with 1 and 2 workers, with and without TLS.

One KOR node on PostgreSQL and NATS (``gsomia serve --workers N``), loaded with ``--objects``
reports through TAXII. Then, in one run and alternating, so that the machine's noise falls on
every configuration alike, ``wrk`` (a C load generator: Debian's package ``wrk``) drives for
``--seconds`` each:

- **paged reads**: ``GET …/collections/<originated-KOR>/objects/?limit=100&next=…`` over every
  page of the collection, cycling (the ``next`` cursors collected once beforehand), as the
  analyst (HTTP Basic, token);
- **console page views**: the feed (``/console/``), an item page and the agreements page,
  cycling, with a signed-in session's cookie;

against 1 worker and 2 workers, plain HTTP and (``--tls``) HTTPS with TLS 1.3 (the node's
material made by ``gsomia node tls-init``; wrk does not present a client certificate, as an
analyst's browser or tool does not). Each configuration runs ``--runs`` times; the table gives
the median requests per second and the ratios 2 workers / 1 worker and TLS / plain.

    apt-get install wrk   # once
    .venv/bin/python bench/bench_workers.py [--objects 2000] [--seconds 10] [--runs 3]
        [--connections 16] [--tls] [--store postgresql://postgres@127.0.0.1:5432/test]
        [--bus nats://127.0.0.1:4222]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import orjson
import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.integration.nodes import TAXII, free_port, report

PASSPHRASE = "bench passphrase for workers"
BATCH = 100  # reports per TAXII add


@dataclass
class Node:
    config: Path
    url: str
    token: str
    log: Path
    env: dict[str, str]
    ca: Path | None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def verify(self) -> bool | str:
        return True if self.ca is None else str(self.ca)


def make_node(root: Path, *, store: str, bus: str, tls: bool) -> Node:
    """A KOR node's keys, config and (with ``tls``) TLS material under ``root``."""
    from gsomia.node.config import PeerEntry, TlsEntry, UserEntry, render_config, token_digest
    from gsomia.seal.keys import init_keys

    env = {**os.environ, "GSOMIA_PASSPHRASE": PASSPHRASE}
    for party in ("KOR", "JPN", "USA"):
        ring = init_keys(root / party, party, passphrase=PASSPHRASE.encode())
        (root / f"{party}.pub.json").write_bytes(orjson.dumps(ring.export_document()))
    port, token = free_port(), "bench-" + uuid.uuid4().hex
    tls_entry, ca, scheme = None, None, "http"
    if tls:
        exe = Path(sys.executable).with_name("gsomia")
        out = root / "tls"
        subprocess.run(
            [str(exe), "node", "tls-init", "--out", str(out), "--parties", "KOR"],
            env=env,
            check=True,
            capture_output=True,
        )
        ca, cert, key = out / "ca" / "ca.crt", out / "KOR" / "tls.crt", out / "KOR" / "tls.key"
        tls_entry = TlsEntry(str(cert), str(key), (str(ca),))
        scheme = "https"
    peer_settings = {"cert": str(cert)} if tls else {}
    text = render_config(
        party="KOR",
        listen=f"127.0.0.1:{port}",
        data_dir="KOR",
        peers=[
            PeerEntry(p, f"{scheme}://127.0.0.1:{free_port()}", f"{p}.pub.json", **peer_settings)
            for p in ("JPN", "USA")
        ],
        users=[UserEntry("bench", token_digest(token), "I", ("dprk",))],
        tls=tls_entry,
        cosign_interval=0,
        max_content_length=16777216,
        store=store,
        bus=bus,
    )
    config = root / "KOR.toml"
    config.write_text(text, encoding="utf-8")
    return Node(config, f"{scheme}://127.0.0.1:{port}", token, root / "gsomia.log", env, ca)


@contextlib.contextmanager
def serving(node: Node, workers: int) -> Iterator[None]:
    exe = Path(sys.executable).with_name("gsomia")
    with node.log.open("ab") as out:
        node.proc = subprocess.Popen(
            [str(exe), "serve", "--config", str(node.config), "--workers", str(workers)],
            env=node.env,
            stdout=out,
            stderr=out,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if node.proc.poll() is not None:
                raise SystemExit(f"the node exited: {node.log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                r = httpx.get(f"{node.url}/taxii2/", verify=node.verify, timeout=1)
                if r.status_code in (200, 401):
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"the node did not start: {node.log.read_text()[-2000:]}")
            time.sleep(0.1)
        time.sleep(1.0 * workers)  # every worker up, not only the first
        yield
    finally:
        node.proc.terminate()
        try:
            node.proc.wait(20)
        except subprocess.TimeoutExpired:
            node.proc.kill()
            node.proc.wait(5)
        node.proc = None


def load(node: Node, n: int) -> str:
    """Publish ``n`` reports through TAXII; the originated collection's id."""
    auth = ("bench", node.token)
    with httpx.Client(verify=node.verify, timeout=60, auth=auth) as client:
        cols = client.get(f"{node.url}/api/collections/", headers={"Accept": TAXII}).json()
        cid = next(c["id"] for c in cols["collections"] if c.get("alias") == "originated-KOR")
        for start in range(0, n, BATCH):
            objects: list[object] = []
            for i in range(start, min(n, start + BATCH)):
                env = report(i)
                objects += env["objects"] if not objects else env["objects"][-1:]
            r = client.post(
                f"{node.url}/api/collections/{cid}/objects/",
                content=orjson.dumps({"objects": objects}),
                headers={"Accept": TAXII, "Content-Type": TAXII},
            )
            r.raise_for_status()
        return str(cid)


def taxii_pages(node: Node, cid: str) -> list[str]:
    """The paths of every page of the collection (limit 100), by following ``next``."""
    paths, cursor = [], None
    with httpx.Client(verify=node.verify, timeout=60, auth=("bench", node.token)) as client:
        while True:
            path = f"/api/collections/{cid}/objects/?limit=100"
            if cursor is not None:
                path += f"&next={quote(cursor)}"
            paths.append(path)
            body = client.get(node.url + path, headers={"Accept": TAXII}).json()
            cursor = body.get("next")
            if not body.get("more") or cursor is None:
                return paths


def console_cookie(node: Node) -> tuple[str, list[str]]:
    """A signed-in console session's cookie, and the pages to view with it."""
    with httpx.Client(verify=node.verify, timeout=30, follow_redirects=False) as client:
        page = client.get(f"{node.url}/console/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        if csrf is None:
            raise SystemExit("the console's sign-in form has no CSRF field")
        signed = client.post(
            f"{node.url}/console/login",
            data={"csrf": csrf.group(1), "name": "bench", "token": node.token},
        )
        if signed.status_code not in (302, 303):
            raise SystemExit(f"console sign-in: {signed.status_code} {signed.text[:200]}")
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items() if "_pre" not in k)
        feed = client.get(f"{node.url}/console/")
        item = re.search(r'href="(/console/items/[^"]+)"', feed.text)
    pages = ["/console/", "/console/agreements"]
    if item is not None:
        pages.append(item.group(1))
    return cookie, pages


LUA = """
local paths = {%s}
local i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i], {%s})
end
"""


def wrk(node: Node, paths: list[str], headers: dict[str, str], seconds: float, conns: int) -> float:
    """Requests per second ``wrk`` sustained over ``paths``; non-2xx answers fail the run."""
    script = node.log.parent / f"wrk-{uuid.uuid4().hex}.lua"
    quoted = ", ".join(orjson.dumps(p).decode() for p in paths)
    head = ", ".join(
        f"[{orjson.dumps(k).decode()}] = {orjson.dumps(v).decode()}" for k, v in headers.items()
    )
    script.write_text(LUA % (quoted, head), encoding="utf-8")
    out = subprocess.run(
        ["wrk", "-t2", f"-c{conns}", f"-d{seconds:g}s", "-s", str(script), node.url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "Non-2xx or 3xx responses" in out:
        raise SystemExit(f"wrk saw errors:\n{out}")
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if found is None:
        raise SystemExit(f"no figure in wrk's output:\n{out}")
    return float(found.group(1))


def fresh_schema(base: str) -> tuple[str, str]:
    schema = f"bench_workers_{uuid.uuid4().hex[:8]}"
    return f"{base}{'&' if '?' in base else '?'}schema={schema}", schema


def drop_schema(base: str, schema: str) -> None:
    with psycopg.connect(base.split("?", 1)[0], autocommit=True) as con:
        con.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--tls", action="store_true", help="also measure over HTTPS")
    parser.add_argument("--store", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--bus", default="nats://127.0.0.1:4222")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("needs wrk: apt-get install wrk")
    modes = [False, True] if args.tls else [False]
    figures: dict[tuple[str, bool, int], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="gsomia-bench-workers-") as tmp:
        for tls in modes:
            root = Path(tmp) / ("tls" if tls else "plain")
            root.mkdir()
            store, schema = fresh_schema(args.store)
            bus = f"{args.bus}?prefix=bench{uuid.uuid4().hex[:8]}"
            node = make_node(root, store=store, bus=bus, tls=tls)
            try:
                with serving(node, 1):
                    cid = load(node, args.objects)
                    pages = taxii_pages(node, cid)
                    cookie, views = console_cookie(node)
                print(
                    f"{'TLS' if tls else 'plain'}: {args.objects} objects, {len(pages)} pages, "
                    f"{len(views)} console pages",
                    flush=True,
                )
                basic = "Basic " + base64.b64encode(f"bench:{node.token}".encode()).decode()
                for run in range(args.runs):
                    for workers in (1, 2):
                        with serving(node, workers):
                            taxii = wrk(
                                node,
                                pages,
                                {"Authorization": basic, "Accept": TAXII},
                                args.seconds,
                                args.connections,
                            )
                            console = wrk(
                                node, views, {"Cookie": cookie}, args.seconds, args.connections
                            )
                        figures.setdefault(("taxii", tls, workers), []).append(taxii)
                        figures.setdefault(("console", tls, workers), []).append(console)
                        print(
                            f"  run {run + 1} {'TLS' if tls else 'plain'} workers={workers}: "
                            f"TAXII pages {taxii:.0f}/s, console views {console:.0f}/s",
                            flush=True,
                        )
            finally:
                drop_schema(args.store, schema)
    print()
    print("| workload | transport | 1 worker (req/s) | 2 workers (req/s) | 2 / 1 |")
    print("|---|---|---:|---:|---:|")
    for workload in ("taxii", "console"):
        for tls in modes:
            one = statistics.median(figures[(workload, tls, 1)])
            two = statistics.median(figures[(workload, tls, 2)])
            print(
                f"| {workload} | {'TLS 1.3' if tls else 'plain'} | {one:.0f} | {two:.0f} "
                f"| {two / one:.2f}× |"
            )
    if args.tls:
        print()
        print("| workload | workers | TLS / plain |")
        print("|---|---:|---:|")
        for workload in ("taxii", "console"):
            for workers in (1, 2):
                plain = statistics.median(figures[(workload, False, workers)])
                tls_ = statistics.median(figures[(workload, True, workers)])
                print(f"| {workload} | {workers} | {tls_ / plain:.2f}× |")


if __name__ == "__main__":
    main()
