"""A launch published by the demo's own code at a real node: its report and locations stored,
sealed and served; published again under the ids ``launch-ids.json`` kept, "already stored"."""

from __future__ import annotations

from pathlib import Path

import httpx

from gsomia.cli.demo import DemoNode, LaunchIdStore, launch_report, post_report, remaining_launches
from gsomia.domain.replay import replay
from gsomia.scenarios import load_scenario

from .native_client import taxii_objects
from .nodes import NodeProc


def test_a_launch_published_again_keeps_its_ids_and_is_already_stored(
    kor_node: NodeProc, tmp_path: Path
) -> None:
    scenario = load_scenario("historical")
    launch = next(e for e in remaining_launches(tmp_path, scenario) if e.distance_km)
    outcome = next(o for o in replay(scenario, (launch,)) if o.originator == "KOR")
    policy = scenario.policy("KOR")
    node = DemoNode(
        "KOR",
        kor_node.port,
        kor_node.data,
        kor_node.config,
        None,
        kor_node.users["analyst"],
        kor_node.users["admin"],
    )
    ids_file = tmp_path / "launch-ids.json"
    statuses = []
    envelopes = []
    with httpx.Client(timeout=30) as client:
        for _ in range(2):  # two runs of the demo: the ids read back from the file
            ids = LaunchIdStore(ids_file).ids_for(launch.id, "KOR")
            envelopes.append(launch_report(launch, outcome.label, policy, ids))
            statuses.append(post_report(client, node, envelopes[-1], launch.id))
    first, again = statuses
    items = [o["id"] for o in envelopes[0]["objects"] if o["type"] != "marking-definition"]
    assert len(items) == 4  # the report, the launch point, the facility, the impact area
    assert {s["id"]: s["message"] for s in first["successes"] if s["id"] in items} == dict.fromkeys(
        items, "stored, sealed and logged"
    )
    assert {s["id"]: s["message"] for s in again["successes"] if s["id"] in items} == dict.fromkeys(
        items, "already stored"
    )
    # the collection serves one report and its three locations, under the recorded ids
    served = {o["id"]: o for o in taxii_objects(kor_node, "KOR")}
    assert [i for i in served if i.startswith(("report--", "location--"))] == items
    [report] = [o for o in envelopes[1]["objects"] if o["type"] == "report"]
    assert served[report["id"]] == report
    refs = set(report["object_refs"])
    assert {i for i in items if i.startswith("location--")} <= refs
