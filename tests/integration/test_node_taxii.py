"""A live node speaks TAXII 2.1: the OASIS client library works unchanged against it, and
three nodes release to each other only what the agreements allow."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from taxii2client.v21 import Server

from gsomia.node.stix import GSOMIA_LABEL_EXTENSION
from tests.backends import Backend

from .native_client import collection_at
from .node_store import assert_denied_and_never_queued, outbox_states
from .nodes import TAXII, NodeProc, make_nodes, report, running

HEADERS = {"Accept": TAXII, "Content-Type": TAXII}
ITEM = "report--00000000-0000-4000-8000-{:012d}/2026-01-01T00:00:00.000Z"


@pytest.fixture(scope="module")
def trio(
    tmp_path_factory: pytest.TempPathFactory, backend: Backend
) -> Iterator[dict[str, NodeProc]]:
    nodes = make_nodes(tmp_path_factory.mktemp("trio"), backend=backend)
    with running(nodes):
        yield nodes


def post(node: NodeProc, envelope: dict[str, Any], user: str = "analyst") -> httpx.Response:
    cid = collection_at(node)
    return httpx.post(
        f"{node.api_root}collections/{cid}/objects/",
        headers=HEADERS,
        auth=node.auth(user),
        content=orjson.dumps(envelope),
    )


def objects_at(node: NodeProc, originator: str, user: str = "analyst") -> list[dict[str, Any]]:
    cid = collection_at(node, originator)
    r = httpx.get(
        f"{node.api_root}collections/{cid}/objects/?match[version]=all",
        headers=HEADERS,
        auth=node.auth(user),
    )
    assert r.status_code == 200, r.text
    return list(r.json().get("objects", []))


def wait_for(
    node: NodeProc, originator: str, stix_id: str, timeout: float = 10.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for obj in objects_at(node, originator):
            if obj["id"] == stix_id:
                return obj
        time.sleep(0.02)
    raise AssertionError(f"{stix_id} never reached {node.party}")


def test_taxii2_client_works_unchanged(trio: dict[str, NodeProc]) -> None:
    kor = trio["KOR"]
    server = Server(f"{kor.url}/taxii2/", user="analyst", password=kor.users["analyst"])
    assert server.title == "gsomia node KOR"
    [root] = server.api_roots
    assert "application/taxii+json;version=2.1" in root.versions
    collections = {c.title: c for c in root.collections}
    own = collections["KOR: originated here"]
    assert own.can_write
    assert not collections["KOR: received from JPN"].can_write
    status = own.add_objects(orjson.dumps(report(101)).decode())
    assert status.status == "complete"
    assert status.success_count == 3
    everything = own.get_objects()["objects"]
    assert "report--00000000-0000-4000-8000-000000000101" in {o["id"] for o in everything}
    one = own.get_object("report--00000000-0000-4000-8000-000000000101")
    assert one["objects"][0]["name"] == "Report 101"
    versions = own.object_versions("report--00000000-0000-4000-8000-000000000101")
    assert versions["versions"] == ["2026-01-01T00:00:00.000Z"]
    manifest = own.get_manifest()
    assert {m["id"] for m in manifest["objects"]} >= {
        "report--00000000-0000-4000-8000-000000000101"
    }
    again = root.get_status(status.id)
    assert again.status == "complete"


def test_paging_with_limit_and_next(trio: dict[str, NodeProc]) -> None:
    kor = trio["KOR"]
    for n in range(200, 207):
        assert post(kor, report(n)).status_code == 202
    cid = collection_at(kor)
    seen: list[str] = []
    url = f"{kor.api_root}collections/{cid}/objects/?limit=2&match[type]=report"
    while True:
        r = httpx.get(url, headers=HEADERS, auth=kor.auth())
        body = r.json()
        seen.extend(o["id"] for o in body.get("objects", []))
        assert len(body.get("objects", [])) <= 2
        if not body["more"]:
            break
        url = f"{kor.api_root}collections/{cid}/objects/?limit=2&match[type]=report&next={body['next']}"
    assert len(seen) == len(set(seen))
    assert {f"report--00000000-0000-4000-8000-{n:012d}" for n in range(200, 207)} <= set(seen)
    first = r.headers.get("X-TAXII-Date-Added-First")
    assert first is None or first.endswith("Z")


def test_published_at_kor_arrives_at_jpn_with_jpn_marking(trio: dict[str, NodeProc]) -> None:
    kor, jpn, usa = trio["KOR"], trio["JPN"], trio["USA"]
    assert post(kor, report(1)).status_code == 202
    obj = wait_for(jpn, "KOR", "report--00000000-0000-4000-8000-000000000001")
    markings = {o["id"]: o for o in objects_at(jpn, "KOR") if o["type"] == "marking-definition"}
    labels = [
        markings[ref]["extensions"][GSOMIA_LABEL_EXTENSION] for ref in obj["object_marking_refs"]
    ]
    original = next(label for label in labels if "equivalent_of" not in label)
    equivalent = next(label for label in labels if "equivalent_of" in label)
    assert (original["originator"], original["classification"]) == ("KOR", "II")
    assert (equivalent["party"], equivalent["level"], equivalent["native"]) == (
        "JPN",
        "GOKUHI",
        "極秘",
    )
    assert equivalent["originator"] == "KOR"
    wait_for(usa, "KOR", "report--00000000-0000-4000-8000-000000000001")


def test_absent_where_the_decision_denies(trio: dict[str, NodeProc]) -> None:
    kor, jpn, usa = trio["KOR"], trio["JPN"], trio["USA"]
    assert post(kor, report(2, releasable_to=("USA",))).status_code == 202
    wait_for(usa, "KOR", "report--00000000-0000-4000-8000-000000000002")
    assert_denied_and_never_queued(kor, ITEM.format(2), "JPN")
    # a later item KOR may release to JPN arrives: KOR's releases to JPN before it are done
    assert post(kor, report(6)).status_code == 202
    wait_for(jpn, "KOR", "report--00000000-0000-4000-8000-000000000006")
    assert "report--00000000-0000-4000-8000-000000000002" not in {
        o["id"] for o in objects_at(jpn, "KOR")
    }


def test_clearance_and_need_to_know(trio: dict[str, NodeProc]) -> None:
    kor = trio["KOR"]
    assert post(kor, report(3)).status_code == 202
    ids = {o["id"] for o in objects_at(kor, "KOR", user="low")}
    assert "report--00000000-0000-4000-8000-000000000003" not in ids
    cid = collection_at(kor)
    r = httpx.get(
        f"{kor.api_root}collections/{cid}/objects/report--00000000-0000-4000-8000-000000000003/",
        headers=HEADERS,
        auth=kor.auth("low"),
    )
    assert r.status_code == 404
    assert r.json()["http_status"] == "404"


def test_lapse_2019_stops_direct_kor_jpn(tmp_path: Path, backend: Backend) -> None:
    nodes = make_nodes(tmp_path, scenario="lapse-2019", backend=backend)
    for node in nodes.values():
        node.start()
    try:
        kor, jpn, usa = nodes["KOR"], nodes["JPN"], nodes["USA"]
        assert post(kor, report(4)).status_code == 202
        wait_for(usa, "KOR", "report--00000000-0000-4000-8000-000000000004")
        assert_denied_and_never_queued(kor, ITEM.format(4), "JPN")
        assert outbox_states(usa, ITEM.format(4)) == {}  # received: USA relays nothing
        assert [o["type"] for o in objects_at(jpn, "KOR") if o["type"] == "report"] == []
        # missile-warning data: USA, the hub, relays it on the link's standing consent
        assert post(kor, report(5, topics=("dprk.missile.warning",))).status_code == 202
        # a later item USA relays arrives: USA's releases to JPN before it are done
        relayed = wait_for(jpn, "KOR", "report--00000000-0000-4000-8000-000000000005")
        assert len(relayed["object_marking_refs"]) == 2
        r = httpx.get(
            f"{jpn.url}/native/v1/items/report--00000000-0000-4000-8000-000000000005/2026-01-01T00:00:00.000Z",
            headers={"Accept": "application/json"},
            auth=jpn.auth(),
        )
        assert r.status_code == 200, r.text
        [release] = r.json()["releases"]
        assert (release["holder"], release["recipient"]) == ("USA", "JPN")
        assert release["standing_consent"] == "trilateral-missile-warning-2023"
        assert "report--00000000-0000-4000-8000-000000000004" not in {
            o["id"] for o in objects_at(jpn, "KOR")
        }
    finally:
        for node in nodes.values():
            node.stop()
