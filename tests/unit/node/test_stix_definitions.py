"""STIX 2.1 to the letter at a node: millisecond timestamps (versions ordered as instants),
version-4 ids for everything the node writes, node-made markings stable per label, and the
public definitions (gsomia's identity, its extension-definitions, the originator's identity)
served in every collection to every user — and nothing else without a class."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from stix2validator import ValidationOptions, validate_instance

from gsomia.app.boot import load_config, open_node
from gsomia.clock import FixedClock
from gsomia.domain.parties import Equivalence, Marking
from gsomia.errors import BadInput
from gsomia.node.config import User
from gsomia.node.service import Filters, LabelText, Node
from gsomia.node.stix import (
    GSOMIA_IDENTITY,
    GSOMIA_LABEL_EXTENSION,
    GSOMIA_LAUNCH_EXTENSION,
    equivalent_marking,
    extension_definition,
    format_timestamp,
    gsomia_identity,
    label_marking,
    launch_extension_definition,
    new_marking_id,
    party_identity,
    taxii_timestamp,
)
from gsomia.scenarios import load_scenario
from gsomia.store.ports import ObjectScope
from tests.integration.nodes import PASSPHRASE, make_nodes, report

NOW = datetime(2026, 3, 1, 9, 0, 0, 123456, tzinfo=UTC)
V4 = re.compile(
    r"^[a-z0-9-]+--[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
)
STRICT = ValidationOptions(strict=True, version="2.1")


@pytest.fixture(scope="module")
def kor(tmp_path_factory: pytest.TempPathFactory) -> Node:
    procs = make_nodes(tmp_path_factory.mktemp("stix"), parties=("KOR", "USA"))
    return open_node(
        load_config(procs["KOR"].config), clock=FixedClock(NOW), passphrase=PASSPHRASE.encode()
    )


def user(node: Node, name: str = "analyst") -> User:
    return next(u for u in node.config.users if u.name == name)


def served(node: Node, cid: str, name: str = "analyst") -> dict[str, dict[str, Any]]:
    page = node.page(user(node, name), cid, Filters(versions=("all",)), 1000, None)
    return {f"{r.stix_id}/{r.version}": orjson.loads(r.body) for r in page.rows}


# ---------------------------------------------------------------------- timestamps
def test_stix_timestamps_are_written_with_milliseconds_and_date_added_with_microseconds() -> None:
    assert format_timestamp(NOW) == "2026-03-01T09:00:00.123Z"
    assert format_timestamp(NOW.replace(microsecond=0)) == "2026-03-01T09:00:00.000Z"
    assert taxii_timestamp(NOW) == "2026-03-01T09:00:00.123456Z"


def test_a_status_carries_a_taxii_request_timestamp_with_microseconds(kor: Node) -> None:
    """A status is a TAXII resource: its request_timestamp is a TAXII timestamp (TAXII 2.1 §2:
    microsecond precision, unlike STIX's milliseconds)."""
    status = kor.publish(user(kor), report(300)["objects"], kor.collection_id("KOR"))
    assert status.request_timestamp == "2026-03-01T09:00:00.123456Z"


def test_versions_with_milliseconds_order_as_instants(kor: Node) -> None:
    first = report(301)
    stix_id = first["objects"][-1]["id"]
    second = copy.deepcopy(first)
    second["objects"][-1]["modified"] = "2026-01-01T00:00:00.500Z"
    kor.publish(
        user(kor), second["objects"], kor.collection_id("KOR")
    )  # the later version stored first
    kor.publish(user(kor), first["objects"], kor.collection_id("KOR"))

    def versions(match: str) -> list[str]:
        page = kor.page(
            user(kor),
            kor.collection_id("KOR"),
            Filters(ids=(stix_id,), versions=(match,)),
            None,
            None,
        )
        return [r.version for r in page.rows]

    assert versions("first") == ["2026-01-01T00:00:00.000Z"]
    assert versions("last") == ["2026-01-01T00:00:00.500Z"]
    assert sorted(versions("all")) == ["2026-01-01T00:00:00.000Z", "2026-01-01T00:00:00.500Z"]


@pytest.mark.parametrize(
    ("prop", "value", "digits"),
    [
        ("modified", "2026-01-02T00:00:00.50Z", 2),
        ("modified", "2026-01-02T00:00:00.500000Z", 6),
        ("created", "2026-01-01T00:00:00Z", 0),
    ],
)
def test_other_precisions_of_created_and_modified_are_refused(
    kor: Node, prop: str, value: str, digits: int
) -> None:
    envelope = copy.deepcopy(report(302))
    envelope["objects"][-1][prop] = value
    stix_id = envelope["objects"][-1]["id"]
    with pytest.raises(
        BadInput,
        match=rf"^objects\[2\] \({stix_id}\)\.{prop}: '{re.escape(value)}' has {digits} "
        r"fractional digit\(s\).*exactly millisecond precision: write three",
    ):
        kor.publish(user(kor), envelope["objects"], kor.collection_id("KOR"))
    with kor.store.reading() as r:
        assert r.versions(kor.collection_id("KOR"), stix_id) == []


def test_other_timestamps_keep_any_precision(kor: Node) -> None:
    envelope = copy.deepcopy(report(303))
    envelope["objects"][-1]["published"] = "2026-01-01T00:00:00.123456Z"
    status = kor.publish(user(kor), envelope["objects"], kor.collection_id("KOR"))
    assert status.successes[-1].message == "stored, sealed and logged"


# ---------------------------------------------------------------------- ids and definitions
def test_every_fixed_id_is_a_version_4_uuid_and_every_definition_passes_strict() -> None:
    scenario = load_scenario("historical")
    parties = [party_identity(p) for p in scenario.policies.values()]
    definitions = [gsomia_identity(), extension_definition(), launch_extension_definition()]
    for d in [*definitions, *(p for p in parties if p is not None)]:
        assert V4.match(d["id"]), d["id"]
        result = validate_instance(d, STRICT)
        assert (result.errors, result.warnings) == ([], []), d["id"]
    assert [p and p["id"] for p in parties] == [
        "identity--fb5cadd4-5b40-4b0e-b470-9a7858460a45",
        "identity--058afd04-3742-4dd6-9d4c-f1698559987d",
        "identity--0b0a813b-c84d-4fa3-97fc-6f6284331470",
    ]
    launch = launch_extension_definition()
    assert (launch["id"], launch["created_by_ref"]) == (GSOMIA_LAUNCH_EXTENSION, GSOMIA_IDENTITY)
    assert extension_definition()["id"] == GSOMIA_LABEL_EXTENSION


def test_a_label_marking_takes_a_given_id_or_a_fresh_version_4_one() -> None:
    fields: dict[str, Any] = {
        "policy": "KR-MND-CMI",
        "originator": "KOR",
        "classification": "II",
        "releasable_to": ("JPN",),
        "topics": ("dprk.missile",),
        "created": "2026-01-01T00:00:00.000Z",
    }
    one, two = label_marking(**fields), label_marking(**fields)
    assert one["id"] != two["id"]
    assert V4.match(one["id"])
    given = new_marking_id()
    assert label_marking(**fields, marking_id=given)["id"] == given
    mine = Marking("JPN", "GOKUHI", "極秘", Equivalence.SECRET, "KOR")
    equivalent = equivalent_marking(one["id"], mine, "2026-01-01T00:00:00.000Z", given)
    for marking in (one, equivalent):
        result = validate_instance(marking, STRICT)
        assert (result.errors, result.warnings) == ([], [])


def test_every_collection_serves_the_public_definitions_to_every_user(kor: Node) -> None:
    for cid, originator in ((kor.collection_id("KOR"), "KOR"), (kor.collection_id("USA"), "USA")):
        own = party_identity(kor.scenario.policy(originator))
        assert own is not None
        wanted = {f"{d['id']}/{d['modified']}": d for d in kor.public_definitions(originator)}
        assert len(wanted) == 4
        assert own in wanted.values()
        low = served(kor, cid, "low")
        assert {k: low[k] for k in wanted} == wanted
        for d in wanted.values():
            rows = kor.versions_of(user(kor, "low"), cid, d["id"])
            assert [orjson.loads(r.body) for r in rows] == [d]


def test_opening_again_stores_nothing_twice(kor: Node) -> None:
    with kor.store.reading() as r:
        before = r.last_seq()
    again = open_node(kor.config, clock=FixedClock(NOW), passphrase=PASSPHRASE.encode())
    try:
        with again.store.reading() as r:
            assert r.last_seq() == before
            assert len(r.versions(kor.collection_id("KOR"), GSOMIA_IDENTITY)) == 1
    finally:
        again.store.close()


def test_public_definitions_posted_answer_already_stored(kor: Node) -> None:
    mine = party_identity(kor.scenario.policy("KOR"))
    assert mine is not None
    envelope = report(304)["objects"]
    objects = [gsomia_identity(), launch_extension_definition(), mine, *envelope]
    status = kor.publish(user(kor), objects, kor.collection_id("KOR"))
    messages = {s.id: s.message for s in status.successes}
    assert messages[GSOMIA_IDENTITY] == "already stored"
    assert messages[GSOMIA_LAUNCH_EXTENSION] == "already stored"
    assert messages[mine["id"]] == "already stored"
    with kor.store.reading() as r:
        assert len(r.versions(kor.collection_id("KOR"), mine["id"])) == 1


@pytest.mark.parametrize(
    "definition",
    [
        {**gsomia_identity(), "name": "not gsomia"},
        {**launch_extension_definition(), "version": "2.0.0"},
        {
            **extension_definition(),
            "id": "extension-definition--3f3c0e5a-5f4b-4f0e-9a7e-0b5e8b0c1d2e",
        },
        {**gsomia_identity(), "modified": "2026-12-03T00:00:00.000Z"},
    ],
    ids=["renamed", "other version", "other extension", "new version of gsomia's"],
)
def test_other_definitions_are_refused(kor: Node, definition: dict[str, Any]) -> None:
    objects = [definition, *report(305)["objects"]]
    with pytest.raises(BadInput, match=r"^objects\[0\] .*only gsomia's own definitions"):
        kor.publish(user(kor), objects, kor.collection_id("KOR"))


def test_an_unlabelled_identity_is_refused_and_a_labelled_one_is_an_item(kor: Node) -> None:
    envelope = report(306)["objects"]
    identity = {
        "type": "identity",
        "spec_version": "2.1",
        "id": "identity--7d1d7c64-1a55-4a55-8a2b-9a4b3e1f2c3d",
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "name": "a source",
        "identity_class": "individual",
    }
    with pytest.raises(BadInput, match=r"^objects\[3\] \(identity--.*\): no gsomia label"):
        kor.publish(user(kor), [*envelope, identity], kor.collection_id("KOR"))
    labelled = {**identity, "object_marking_refs": [envelope[1]["id"]]}
    status = kor.publish(user(kor), [*envelope, labelled], kor.collection_id("KOR"))
    assert status.successes[-1].message == "stored, sealed and logged"
    assert f"{identity['id']}/{identity['modified']}" not in served(
        kor, kor.collection_id("KOR"), "low"
    )


def test_nothing_else_without_a_class_is_visible(kor: Node) -> None:
    clearance = user(kor).clearance
    public = gsomia_identity()
    scope = ObjectScope(public["id"], public["modified"], "identity", None, None, ())
    assert kor.visible(clearance, scope)
    for other in (
        ObjectScope(public["id"], "2026-12-03T00:00:00.000Z", "identity", None, None, ()),
        ObjectScope(GSOMIA_LABEL_EXTENSION, "2026-11-28T00:00:00.000Z", "identity", None, None, ()),
        ObjectScope(
            new_marking_id(), "2026-01-01T00:00:00.000Z", "marking-definition", None, None, ()
        ),
    ):
        assert not kor.visible(clearance, other)


# ---------------------------------------------------------------------- node-made markings
def test_node_made_markings_are_stable_per_label(kor: Node) -> None:
    label = LabelText("US-DOD-CNSI", "USA", "SECRET", ("KOR",), ("dprk.missile",))
    other = LabelText("US-DOD-CNSI", "USA", "CONFIDENTIAL", ("KOR",), ("dprk.missile",))
    mine = kor.scenario.policy("KOR").marking_for(Equivalence.SECRET, "USA")
    created = "2026-02-01T00:00:00.000Z"
    with kor.store.writing() as w:
        first = kor.own_markings(w, kor.collection_id("USA"), label, mine, created, NOW)
        again = kor.own_markings(
            w, kor.collection_id("USA"), label, mine, "2026-02-02T00:00:00.000Z", NOW
        )
        alone = kor.own_markings(w, kor.collection_id("USA"), label, None, created, NOW)
        different = kor.own_markings(w, kor.collection_id("USA"), other, None, created, NOW)
    assert first == again
    assert alone == first[:1]
    assert different[0] not in first
    assert all(V4.match(m) for m in (*first, *different))
    bodies = served(kor, kor.collection_id("USA"))
    for marking_id in (*first, *different):
        stored = [b for k, b in bodies.items() if k.startswith(f"{marking_id}/")]
        assert len(stored) == 1  # made once
        assert stored[0]["created"] == created
        result = validate_instance(stored[0], STRICT)
        assert (result.errors, result.warnings) == ([], [])
    ext = bodies[f"{first[1]}/{created}"]["extensions"][GSOMIA_LABEL_EXTENSION]
    assert (ext["equivalent_of"], ext["level"]) == (first[0], "II")
