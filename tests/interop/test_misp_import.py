"""MISP's own STIX 2.1 importer (misp-stix) reads a node's collection of launch reports: one
event per report, the launch point as a geolocation object, the missile and the time as its
attributes, the gsomia labels as tags, and not one error or warning.

The bundle is what a TAXII client gets: the demo's launch reports are published at a real KOR
node (``gsomia.cli.demo.launch_report``) and its collection is read page by page over TAXII 2.1
with taxii2client, then written out as a STIX 2.1 bundle and converted by
``misp_stix_converter.stix_2_to_misp`` — what ``misp_stix_converter --version 2`` runs, the
external-STIX parser, since nothing in the bundle says it came from MISP. It runs in a process
of its own, as MISP runs it: importing misp-stix installs mixbox's vendored ``six`` import hook
in ``sys.meta_path``, which makes every later failed import in the process warn (and pytest
turns warnings into errors).

Why one event per report: misp-stix makes an event of each report in a bundle with two or more
(``_parse_bundle_with_multiple_reports``); the objects a report refers to become that event's
content, and objects no report refers to (the other parties' identities, the definitions) are
added to every event or skipped (definitions; gsomia's identity, which only they name). How the launch arrives: misp-stix maps no
property extension, but it maps a ``location`` with latitude and longitude to a MISP
``geolocation`` object — latitude, longitude, ``countrycode`` from ``country``,
``accuracy-radius`` (km) from ``precision`` (m), and a ``text`` attribute from
``description`` — stamped with the location's ``modified``. So the report's launch-point
location says in its description what was launched, how many, from where and when: standard
STIX, no custom property, and the missile and the time reach MISP as attributes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import stix2
from taxii2client.v21 import Collection, Server, as_pages

from gsomia.cli.demo import launch_report, remaining_launches
from gsomia.data.launches import LaunchEvent
from gsomia.domain.replay import replay
from gsomia.scenarios import load_scenario
from tests.integration.native_client import publish
from tests.integration.nodes import NodeProc, make_nodes


@pytest.fixture
def kor(tmp_path: Path) -> Iterator[NodeProc]:
    node = make_nodes(tmp_path / "nodes", ("KOR", "JPN", "USA"))["KOR"]
    node.start()
    try:
        yield node
    finally:
        node.stop()


def launches() -> list[LaunchEvent]:
    """Three launches with a known range (a predicted impact area) and one without."""
    replayed = remaining_launches(Path("/nonexistent"), load_scenario("historical"))
    with_range = [e for e in replayed if e.distance_km and e.time_known][:3]
    return [*with_range, next(e for e in replayed if not e.distance_km)]


def all_objects(collection: Collection) -> list[dict[str, Any]]:
    return [o for page in as_pages(collection.get_objects, per_request=2) for o in page["objects"]]


def served_bundle(node: NodeProc) -> dict[str, Any]:
    """KOR's own collection as a TAXII 2.1 client reads it (two objects a page), as a bundle."""
    server = Server(f"{node.url}/taxii2/", user="analyst", password=node.users["analyst"])
    [collection] = [c for c in server.api_roots[0].collections if c.alias == "originated-KOR"]
    objects = all_objects(collection)  # the items and the public definitions the node serves
    refs = {
        ref
        for o in objects
        for ref in (
            *o.get("object_refs", []),
            *o.get("object_marking_refs", []),
            *([o["created_by_ref"]] if "created_by_ref" in o else []),
            *o.get("extensions", {}),
        )
    }
    assert refs <= {o["id"] for o in objects}, refs - {o["id"] for o in objects}
    for obj in objects:
        stix2.parse(obj, allow_custom=False)  # the OASIS library reads every object as served
    return {
        "type": "bundle",
        "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
        "objects": objects,
    }


CONVERT = """
import json, sys
from misp_stix_converter import stix_2_to_misp
result = stix_2_to_misp(sys.argv[1], debug=True, output_dir=sys.argv[2])
print(json.dumps(result, default=str))
"""


def misp_import(bundle: Path, output: Path) -> dict[str, Any]:
    """misp-stix's STIX 2.1 import of ``bundle``: its result (events written to ``output``)."""
    output.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", CONVERT, str(bundle), str(output)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def events(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [orjson.loads(Path(name).read_bytes()) for name in result["results"]]


def test_misp_imports_a_collection_of_launch_reports(kor: NodeProc, tmp_path: Path) -> None:
    scenario = load_scenario("historical")
    published: dict[str, tuple[LaunchEvent, dict[str, Any]]] = {}
    for launch in launches():
        outcome = next(o for o in replay(scenario, (launch,)) if o.originator == "KOR")
        envelope = launch_report(launch, outcome.label, scenario.policy("KOR"))
        publish(kor, envelope)
        [report] = [o for o in envelope["objects"] if o["type"] == "report"]
        published[report["id"]] = (launch, envelope)
    assert len(published) == 4
    path = tmp_path / "kor-collection.json"
    path.write_text(json.dumps(served_bundle(kor)), encoding="utf-8")

    result = misp_import(path, tmp_path / "misp")

    assert "errors" not in result, result.get("errors")
    assert "warnings" not in result, result.get("warnings")
    assert result["success"] == 1
    found = {f"report--{e['uuid']}": e for e in events(result)}
    assert set(found) == set(published)  # one event per report
    for report_id, (launch, envelope) in published.items():
        check_event(found[report_id], launch, envelope)


def check_event(event: dict[str, Any], launch: LaunchEvent, envelope: dict[str, Any]) -> None:
    [marking] = [o for o in envelope["objects"] if o["type"] == "marking-definition"]
    [report] = [o for o in envelope["objects"] if o["type"] == "report"]
    locations = [o for o in envelope["objects"] if o["type"] == "location"]
    assert event["info"] == report["name"]
    tags = {t["name"] for t in event["Tag"]}
    # the gsomia label (its marking's name) and the report's label, as tags
    assert {marking["name"].lower(), "dprk-missile-launch"} <= tags
    # the report's creator, the identity the collection serves, names the event's producer
    producer = load_scenario("historical").policy("KOR").name
    assert f'misp-galaxy:producer="{producer}"' in tags
    assert {o["name"] for o in event["Object"]} == {"geolocation"}
    geolocations = {o["uuid"]: o for o in event["Object"] if o["name"] == "geolocation"}
    assert set(geolocations) == {o["id"].split("--")[1] for o in locations}
    point = geolocations[locations[0]["id"].split("--")[1]]
    values = {a["object_relation"]: a["value"] for a in point["Attribute"]}
    # the launch point, the missile and the time as attributes of the event
    assert float(values["latitude"]) == launch.lat
    assert float(values["longitude"]) == launch.lon
    assert launch.missile_name in values["text"]
    instant = launch.instant.astimezone(UTC)
    if launch.time_known:
        assert instant.strftime("%Y-%m-%dT%H:%M:%S") in values["text"]
    else:  # the date of the launch (in Korea), not the 00:00 KST the report is stamped with
        assert f"{launch.date.isoformat()} (time unknown)" in values["text"]
    assert datetime.fromtimestamp(int(point["timestamp"]), UTC) == instant
    if launch.distance_km:
        impact = geolocations[locations[2]["id"].split("--")[1]]
        radius = {a["object_relation"]: a["value"] for a in impact["Attribute"]}
        assert float(radius["accuracy-radius"]) == locations[2]["precision"] / 1000
    else:
        assert len(locations) == 2
