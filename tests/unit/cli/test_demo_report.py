"""The demo's launch reports as STIX 2.1 has them: strict-valid, the launch in its property
extension (checked against the schema shipped with gsomia), locations the report refers to,
version-4 ids kept in ``launch-ids.json`` so that a replayed launch keeps its ids."""

from __future__ import annotations

import json
import stat
import uuid
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from stix2validator import ValidationOptions, validate_instance

from gsomia.cli.demo import (
    LaunchIds,
    LaunchIdStore,
    launch_report,
    remaining_launches,
)
from gsomia.console.launchmap import impact_radius_km
from gsomia.data.launches import LaunchEvent
from gsomia.domain.replay import replay
from gsomia.errors import BadInput
from gsomia.node.stix import GSOMIA_LAUNCH_EXTENSION, validate_object
from gsomia.scenarios import load_scenario

STRICT = ValidationOptions(strict=True, version="2.1")


@cache
def schema() -> dict[str, Any]:
    raw = resources.files("gsomia.data").joinpath("launch-extension.schema.json").read_text()
    found: dict[str, Any] = json.loads(raw)
    return found


def sample() -> list[LaunchEvent]:
    """Launches of every shape the data hold: with and without a range, apogee, known time."""
    launches = remaining_launches(Path("/nonexistent"), load_scenario("historical"))
    picks = [
        next(e for e in launches if e.distance_km and e.apogee_km and e.time_known),
        next(e for e in launches if not e.distance_km),
        next(e for e in launches if e.apogee_km is None),
        next(e for e in launches if not e.time_known),
        next(e for e in launches if e.count > 1),
    ]
    return list({e.id: e for e in picks}.values())


def envelopes() -> list[tuple[LaunchEvent, dict[str, Any]]]:
    scenario = load_scenario("historical")
    found = []
    for launch in sample():
        for outcome in replay(scenario, (launch,)):
            policy = scenario.policy(outcome.originator)
            found.append((launch, launch_report(launch, outcome.label, policy)))
    return found


ENVELOPES = envelopes()


def by_type(envelope: dict[str, Any], stix_type: str) -> list[dict[str, Any]]:
    return [o for o in envelope["objects"] if o["type"] == stix_type]


def test_the_sample_has_reports_of_every_shape() -> None:
    launches = {launch.id: launch for launch, _ in ENVELOPES}
    assert len(ENVELOPES) == 2 * len(launches)  # KOR and JPN report each launch replayed
    assert any(not e.distance_km for e in launches.values())
    assert any(not e.time_known for e in launches.values())


@pytest.mark.parametrize(("launch", "envelope"), ENVELOPES, ids=lambda v: getattr(v, "id", ""))
def test_every_object_passes_stix2_validator_strict_with_no_warning(
    launch: LaunchEvent, envelope: dict[str, Any]
) -> None:
    for obj in envelope["objects"]:
        result = validate_instance(obj, STRICT)
        assert result.is_valid, (obj["id"], [str(e) for e in result.errors])
        assert not result.warnings, (obj["id"], [str(w) for w in result.warnings])
        validate_object(obj, obj["id"])  # and the node's own checks
        stix_id = obj["id"].split("--", 1)[1]
        assert uuid.UUID(stix_id).version == 4, obj["id"]
        created = obj["created"]
        assert len(created) == len("2019-11-23T00:00:00.000Z"), created  # milliseconds
    [report] = by_type(envelope, "report")
    assert "x_gsomia_launch" not in report
    assert report["name"].endswith(f"{launch.missile_name} launch from {launch.facility_name}")


@pytest.mark.parametrize(("launch", "envelope"), ENVELOPES, ids=lambda v: getattr(v, "id", ""))
def test_the_report_refers_to_its_originator_and_its_locations(
    launch: LaunchEvent, envelope: dict[str, Any]
) -> None:
    [marking] = by_type(envelope, "marking-definition")
    [report] = by_type(envelope, "report")
    locations = by_type(envelope, "location")
    originator = report["name"].split(":", 1)[0]
    identity = load_scenario("historical").policy(originator).identity
    assert identity is not None
    assert report["created_by_ref"] == identity
    assert report["object_refs"] == [identity, *(o["id"] for o in locations)]
    # every item of the report is marked with its one label: they are one classified report
    for obj in (report, *locations):
        assert obj["object_marking_refs"] == [marking["id"]]
        assert obj["created"] == report["created"]
    block = report["extensions"][GSOMIA_LAUNCH_EXTENSION]
    point, facility, *impact = locations
    assert (
        [point["latitude"], point["longitude"]] == block["launch_point"] == [launch.lat, launch.lon]
    )
    assert facility["name"] == launch.facility_name == block["facility"]
    assert launch.missile_name in point["description"]
    if launch.distance_km:
        [area] = impact
        assert [area["latitude"], area["longitude"]] == block["predicted_impact"]
        assert area["precision"] == impact_radius_km(launch.distance_km) * 1000
    else:
        assert impact == []
        assert "predicted_impact" not in block


@pytest.mark.parametrize(("launch", "envelope"), ENVELOPES, ids=lambda v: getattr(v, "id", ""))
def test_the_launch_extension_follows_its_schema(
    launch: LaunchEvent, envelope: dict[str, Any]
) -> None:
    jsonschema.Draft202012Validator.check_schema(schema())
    [report] = by_type(envelope, "report")
    block = report["extensions"][GSOMIA_LAUNCH_EXTENSION]
    jsonschema.validate(block, schema(), cls=jsonschema.Draft202012Validator)
    assert block["missile"] == launch.missile_name
    assert block["count"] == launch.count == len(block["outcomes"])
    assert block["time_known"] is launch.time_known


GOOD = {
    "extension_type": "property-extension",
    "missile": "Hwasong-15",
    "missile_type": "ICBM",
    "count": 1,
    "facility": "Sunan International Airport",
    "launch_point": [39.2, 125.67],
    "bearing_deg": 95.0,
    "apogee_km": 4475.0,
    "distance_km": 950.0,
    "predicted_impact": [40.4, 136.6],
    "outcomes": ["success"],
    "time_known": True,
    "source": "CNS",
}


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"missile": None}, "None is not of type 'string'"),
        ({"count": 0}, "0 is less than the minimum of 1"),
        ({"launch_point": [91.0, 125.67]}, "91.0 is greater than the maximum of 90"),
        ({"launch_point": [39.2]}, r"\[39.2\] is too short"),
        ({"outcomes": ["exploded"]}, "'exploded' is not one of"),
        ({"extension_type": "toplevel-property-extension"}, "'property-extension' was expected"),
        ({"x_extra": 1}, "Additional properties are not allowed"),
        ({"predicted_impact": None, "distance_km": None}, "None is not of type"),
    ],
)
def test_the_schema_refuses_a_bad_launch_block(change: dict[str, Any], why: str) -> None:
    jsonschema.validate(GOOD, schema(), cls=jsonschema.Draft202012Validator)
    bad = {**GOOD, **change}
    with pytest.raises(jsonschema.ValidationError, match=why):
        jsonschema.validate(bad, schema(), cls=jsonschema.Draft202012Validator)


def test_the_schema_refuses_a_range_without_its_predicted_impact() -> None:
    bad = {k: v for k, v in GOOD.items() if k != "predicted_impact"}
    with pytest.raises(jsonschema.ValidationError, match="'predicted_impact' is a dependency"):
        jsonschema.validate(bad, schema(), cls=jsonschema.Draft202012Validator)


def test_given_ids_are_used_and_fresh_ones_differ() -> None:
    scenario = load_scenario("historical")
    launch = sample()[0]
    outcome = next(iter(replay(scenario, (launch,))))
    policy = scenario.policy(outcome.originator)
    ids = LaunchIds.fresh()
    first = launch_report(launch, outcome.label, policy, ids)
    again = launch_report(launch, outcome.label, policy, ids)
    assert first == again
    assert [o["id"] for o in first["objects"]] == [
        ids.marking,
        ids.report,
        ids.launch_point,
        ids.facility,
        ids.impact,
    ]
    other = launch_report(launch, outcome.label, policy)
    assert not {o["id"] for o in other["objects"]} & {o["id"] for o in first["objects"]}


def test_launch_ids_are_stored_owner_only_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "launch-ids.json"
    store = LaunchIdStore(path)
    kor = store.ids_for("cns-2017-11-29-hwasong-15-sunan", "KOR")
    jpn = store.ids_for("cns-2017-11-29-hwasong-15-sunan", "JPN")
    assert kor != jpn  # each party's report of a launch is its own
    assert store.ids_for("cns-2017-11-29-hwasong-15-sunan", "KOR") == kor
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["launch-ids.json"]  # no temporary left
    reopened = LaunchIdStore(path)
    assert reopened.ids_for("cns-2017-11-29-hwasong-15-sunan", "KOR") == kor
    assert reopened.ids_for("cns-2017-11-29-hwasong-15-sunan", "JPN") == jpn
    stored = json.loads(path.read_text())
    assert stored["cns-2017-11-29-hwasong-15-sunan/KOR"] == kor.to_json()


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"{not json", "not JSON"),
        (b"[]", "expected an object of launch ids"),
        (b'{"a/KOR": {"report": "report--x"}}', "a/KOR: expected the fields report"),
        (
            b'{"a/KOR": {"report": "report--6f1c2b8e-5d3a-5e0b-9a53-67736f6d6961", '
            b'"launch_point": "location--x", "facility": "location--x", "impact": "location--x", '
            b'"marking": "marking-definition--x"}}',
            r"a/KOR\.report: expected a report--UUID identifier \(version 4\)",
        ),
        (
            b'{"a/KOR": {"report": "location--6f1c2b8e-5d3a-4e0b-9a53-67736f6d6961", '
            b'"launch_point": "location--x", "facility": "location--x", "impact": "location--x", '
            b'"marking": "marking-definition--x"}}',
            r"a/KOR\.report: expected a report--UUID identifier$",
        ),
    ],
)
def test_a_damaged_launch_ids_file_is_refused_by_name(
    tmp_path: Path, content: bytes, why: str
) -> None:
    path = tmp_path / "launch-ids.json"
    path.write_bytes(content)
    with pytest.raises(BadInput, match=why):
        LaunchIdStore(path)
