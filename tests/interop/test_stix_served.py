"""Every object a node serves is STIX 2.1 to the letter: stix2-validator in strict mode finds
no error and no warning, and the OASIS library (stix2) parses it with no custom content
allowed — at the originator and at the recipient, in every collection, the public definitions
included.

Two real nodes (KOR, USA) on loopback: KOR's analyst publishes launch reports as the demo does
(``gsomia.cli.demo.launch_report``) and a labelled ``location``; they are released to USA; then
every object of every collection of both nodes is read over TAXII 2.1 (all versions, page by
page) by an analyst cleared for all of it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
import stix2
from stix2validator import ValidationOptions, validate_instance

from gsomia.cli.demo import launch_report
from gsomia.data.launches import load_launches
from gsomia.domain.labels import Label
from gsomia.node.stix import (
    GSOMIA_IDENTITY,
    GSOMIA_LABEL_EXTENSION,
    GSOMIA_LAUNCH_EXTENSION,
    label_marking,
)
from gsomia.scenarios import load_scenario
from tests.integration.native_client import wait_until
from tests.integration.nodes import POLICY, TAXII, NodeProc, make_nodes, running

HEADERS = {"Accept": TAXII, "Content-Type": TAXII}
STRICT = ValidationOptions(strict=True, version="2.1")
KOR_IDENTITY = "identity--fb5cadd4-5b40-4b0e-b470-9a7858460a45"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, NodeProc]]:
    nodes = make_nodes(tmp_path_factory.mktemp("served"), ("KOR", "USA"))
    with running(nodes):
        yield nodes


def collections(node: NodeProc) -> list[dict[str, Any]]:
    r = httpx.get(f"{node.api_root}collections/", headers=HEADERS, auth=node.auth())
    assert r.status_code == 200, r.text
    return list(r.json()["collections"])


def every_object(node: NodeProc, cid: str) -> list[dict[str, Any]]:
    """Every version of every object of a collection, page by page."""
    found: list[dict[str, Any]] = []
    params: dict[str, str] = {"match[version]": "all", "limit": "7"}
    while True:
        r = httpx.get(
            f"{node.api_root}collections/{cid}/objects/",
            params=params,
            headers=HEADERS,
            auth=node.auth(),
        )
        assert r.status_code == 200, r.text
        envelope = r.json()
        found.extend(envelope.get("objects", []))
        if not envelope.get("more"):
            return found
        params["next"] = envelope["next"]


def received_from(node: NodeProc, originator: str) -> str:
    [found] = [
        c["id"] for c in collections(node) if originator in c["title"] and not c["can_write"]
    ]
    return str(found)


def publish_at_kor(kor: NodeProc) -> set[str]:
    """Two launch reports and a labelled location; the ids of the items posted."""
    [own] = [c["id"] for c in collections(kor) if c["can_write"]]
    label = Label("launch", "KOR", "II", ("USA",), ("dprk.missile",))
    launches = [launch for launch in load_launches() if launch.distance_km][:2]
    items: set[str] = set()
    for launch in launches:
        objects = launch_report(launch, label, load_scenario("historical").policy("KOR"))["objects"]
        items |= {str(o["id"]) for o in objects if "object_marking_refs" in o}
        post(kor, own, objects)
    marking = label_marking(
        policy=POLICY["KOR"],
        originator="KOR",
        classification="II",
        releasable_to=("USA",),
        topics=("dprk.missile",),
        created="2026-01-02T03:04:05.678Z",
    )
    location = {
        "type": "location",
        "spec_version": "2.1",
        "id": "location--5d0b9a8e-3c1f-4e2a-9b7d-6f4e3a2c1b0d",
        "created": "2026-01-02T03:04:05.678Z",
        "modified": "2026-01-02T03:04:05.678Z",
        "name": "Sohae Satellite Launching Station",
        "latitude": 39.66,
        "longitude": 124.705,
        "precision": 1000.0,
        "object_marking_refs": [marking["id"]],
    }
    post(kor, own, [marking, location])
    return items | {str(location["id"])}


def post(node: NodeProc, cid: str, objects: list[dict[str, Any]]) -> None:
    r = httpx.post(
        f"{node.api_root}collections/{cid}/objects/",
        headers=HEADERS,
        auth=node.auth(),
        content=orjson.dumps({"objects": objects}),
    )
    assert r.status_code == 202, r.text


def problems(obj: dict[str, Any]) -> list[str]:
    """What stix2-validator (strict) and stix2 (no custom content) say against ``obj``."""
    result = validate_instance(obj, STRICT)
    said = [f"error: {e}" for e in result.errors] + [f"warning: {w}" for w in result.warnings]
    try:
        stix2.parse(obj, allow_custom=False)
    except Exception as exc:  # any refusal by stix2 is a finding, reported
        said.append(f"stix2: {type(exc).__name__}: {exc}")
    return said


def test_every_served_object_passes_strict_validation_and_parses(
    pair: dict[str, NodeProc],
) -> None:
    kor, usa = pair["KOR"], pair["USA"]
    items = publish_at_kor(kor)
    from_kor = received_from(usa, "KOR")
    wait_until(
        lambda: True if items <= {o["id"] for o in every_object(usa, from_kor)} else None,
        "the items released to USA",
    )
    served: dict[str, list[dict[str, Any]]] = {
        f"{node.party} {c['title']}": every_object(node, c["id"])
        for node in (kor, usa)
        for c in collections(node)
    }
    found = {
        f"{where}: {obj.get('id')}": said
        for where, objects in served.items()
        for obj in objects
        if (said := problems(obj))
    }
    assert not found, "\n".join(f"{where}: {said}" for where, said in found.items())
    # what was checked: the items at both nodes, their labels, and the public definitions
    ids_at = {where: {o["id"] for o in objects} for where, objects in served.items()}
    assert items <= ids_at["KOR KOR: originated here"]
    assert items <= ids_at["USA USA: received from KOR"]
    public = {GSOMIA_IDENTITY, GSOMIA_LABEL_EXTENSION, GSOMIA_LAUNCH_EXTENSION}
    assert all(public <= ids for ids in ids_at.values())
    assert KOR_IDENTITY in ids_at["USA USA: received from KOR"]
    markings = [
        o for o in served["USA USA: received from KOR"] if o["type"] == "marking-definition"
    ]
    assert len(markings) == 2  # KOR's label and USA's equivalent, once for every item
