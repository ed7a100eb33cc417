"""A 404 for a hidden item against a 404 for a missing one, at the use-case level (issue 9, 1).

One node (KOR) opened in-process on a real SQLite store, holding a TOP SECRET item; the user
``low`` (CONFIDENTIAL, dprk.nuclear) asks for it — and for an item id that does not exist —
through the use cases that name an item: the item's details, "why not?", a loss report, the
TAXII versions of an object, a consent request's grant. Each pair is timed interleaved (hidden,
missing, hidden, missing, …) so that both see the same machine; the medians and their ratio
are printed. A ratio near 1.00 means the answer's time tells nothing.

Then the same over HTTP, as a client sees it: a real node process on loopback, the native
API's item route asked for the hidden item and for a missing one, interleaved.

    .venv/bin/python bench/bench_hidden.py [--rounds 3000] [--http-rounds 2000]
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from tests.integration.native_client import collection_at
from tests.integration.nodes import PASSPHRASE, TAXII, NodeProc, make_nodes, report

from gsomia.app.boot import load_config, open_node
from gsomia.clock import FixedClock
from gsomia.errors import NotFound
from gsomia.node import consents, reports
from gsomia.node.holdings import CONSENT_INBOX, item_details, why_not
from gsomia.node.service import Node

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def refused(call: Callable[[], object]) -> float:
    """The time of one call that must answer NotFound, in seconds."""
    start = time.perf_counter()
    try:
        call()
    except NotFound:
        return time.perf_counter() - start
    raise SystemExit("a call that should have answered 404 did not")


def pair(
    rounds: int, hidden: Callable[[], object], missing: Callable[[], object]
) -> tuple[float, float]:
    for _ in range(50):  # warm caches and connections
        refused(hidden)
        refused(missing)
    a: list[float] = []
    b: list[float] = []
    for i in range(rounds):
        if i % 2:
            a.append(refused(hidden))
            b.append(refused(missing))
        else:
            b.append(refused(missing))
            a.append(refused(hidden))
    return statistics.median(a), statistics.median(b)


def cases(node: Node) -> dict[str, tuple[Callable[[], object], Callable[[], object]]]:
    low = next(u for u in node.config.users if u.name == "low")
    admin = next(u for u in node.config.users if u.name == "admin")
    envelope = report(1, classification="I", releasable_to=("USA",))
    analyst = next(u for u in node.config.users if u.name == "analyst")
    node.publish(analyst, envelope["objects"], node.collection_id("KOR"))
    obj = envelope["objects"][-1]
    hidden = f"{obj['id']}/{obj['modified']}"
    missing = f"report--{uuid.uuid4()}/{obj['modified']}"
    missing_object = missing.split("/", maxsplit=1)[0]
    cid = node.collection_id("KOR")
    # a consent request in KOR's inbox about the hidden item, and an admin not cleared for it
    rid = str(uuid.uuid4())
    doc = {"id": rid, "item": hidden, "holder": "USA", "recipient": "JPN", "status": "pending"}
    with node.store.writing() as w:
        w.put_document(CONSENT_INBOX, rid, hidden, doc, None)
    low_admin = dataclasses.replace(
        admin, clearance=dataclasses.replace(low.clearance, role=admin.role)
    )
    other = str(uuid.uuid4())
    return {
        "item details": (
            lambda: item_details(node, low, hidden),
            lambda: item_details(node, low, missing),
        ),
        "why not": (
            lambda: why_not(node, low, hidden, "USA", NOW),
            lambda: why_not(node, low, missing, "USA", NOW),
        ),
        "loss report": (
            lambda: reports.report(node, low, hidden, "loss", "lost"),
            lambda: reports.report(node, low, missing, "loss", "lost"),
        ),
        "TAXII versions": (
            lambda: node.versions_of(low, cid, obj["id"]),
            lambda: node.versions_of(low, cid, missing_object),
        ),
        "consent grant": (
            lambda: consents.grant(node, low_admin, rid, None),
            lambda: consents.grant(node, low_admin, other, None),
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3000)
    parser.add_argument("--http-rounds", type=int, default=2000)
    args = parser.parse_args()
    logging.getLogger("gsomia.audit").addHandler(logging.NullHandler())
    logging.getLogger("gsomia.audit").propagate = False
    with tempfile.TemporaryDirectory() as tmp:
        procs = make_nodes(Path(tmp), ("KOR", "JPN", "USA"))
        node = open_node(
            load_config(procs["KOR"].config),
            clock=FixedClock(NOW),
            passphrase=PASSPHRASE.encode(),
        )
        try:
            print(f"# bench_hidden: {platform.python_version()} on {platform.machine()}")
            print(f"# {args.rounds} interleaved rounds each; medians in microseconds")
            print(f"{'use case':<16} {'hidden':>9} {'missing':>9} {'ratio':>7}")
            for name, (hidden, missing) in cases(node).items():
                h, m = pair(args.rounds, hidden, missing)
                print(f"{name:<16} {h * 1e6:9.1f} {m * 1e6:9.1f} {h / m:7.2f}")
        finally:
            node.store.close()
        over_http(procs["KOR"], args.http_rounds)
    return 0


def over_http(kor: NodeProc, rounds: int) -> None:
    """The item route over loopback: a hidden item against a missing one, interleaved."""
    kor.start()
    try:
        with httpx.Client(base_url=kor.url, timeout=10) as client:
            low = kor.auth("low")
            found = client.get(
                f"/api/collections/{collection_at(kor)}/objects/",
                params={"match[type]": "report"},
                headers={"Accept": TAXII},
                auth=kor.auth(),
            ).json()["objects"]
            top = next(o for o in found if o["id"].startswith("report--"))
            hidden = f"/native/v1/items/{top['id']}/{top['modified']}"
            missing = f"/native/v1/items/report--{uuid.uuid4()}/{top['modified']}"

            def call(path: str) -> float:
                start = time.perf_counter()
                r = client.get(path, auth=low)
                took = time.perf_counter() - start
                if r.status_code != 404:
                    raise SystemExit(f"{path}: expected 404, got {r.status_code}")
                return took

            h, m = pair_of(rounds, lambda: call(hidden), lambda: call(missing))
        print(f"# over HTTP (a real node on loopback), {rounds} interleaved rounds")
        print(f"{'item (HTTP)':<16} {h * 1e6:9.1f} {m * 1e6:9.1f} {h / m:7.2f}")
    finally:
        kor.stop()


def pair_of(
    rounds: int, hidden: Callable[[], float], missing: Callable[[], float]
) -> tuple[float, float]:
    for _ in range(50):
        hidden()
        missing()
    a: list[float] = []
    b: list[float] = []
    for i in range(rounds):
        if i % 2:
            a.append(hidden())
            b.append(missing())
        else:
            b.append(missing())
            a.append(hidden())
    return statistics.median(a), statistics.median(b)


if __name__ == "__main__":
    sys.exit(main())
