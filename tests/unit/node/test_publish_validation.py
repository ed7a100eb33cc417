"""Publishing on an in-process node: every malformed object or label is refused with a message
naming where, nothing is stored by a refused envelope, and a new version becomes the latest."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gsomia.app.boot import load_config, open_node
from gsomia.clock import FixedClock
from gsomia.errors import BadInput, Conflict, NotFound
from gsomia.node.config import User
from gsomia.node.service import Filters, Node
from gsomia.node.stix import GSOMIA_LABEL_EXTENSION, format_timestamp, parse_timestamp
from tests.integration.nodes import PASSPHRASE, make_nodes, report

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
Envelope = dict[str, Any]


@pytest.fixture(scope="module")
def kor(tmp_path_factory: pytest.TempPathFactory) -> Node:
    procs = make_nodes(tmp_path_factory.mktemp("publish"), parties=("KOR", "USA"))
    return open_node(
        load_config(procs["KOR"].config), clock=FixedClock(NOW), passphrase=PASSPHRASE.encode()
    )


def user(node: Node, name: str = "analyst") -> User:
    return next(u for u in node.config.users if u.name == name)


def label(e: Envelope) -> dict[str, Any]:
    return dict(e["objects"][1]["extensions"][GSOMIA_LABEL_EXTENSION])


def obj(e: Envelope) -> dict[str, Any]:
    return dict(e["objects"][-1])


def set_obj(**fields: Any) -> Callable[[Envelope], None]:
    def change(e: Envelope) -> None:
        e["objects"][-1].update(fields)

    return change


def drop_obj(name: str) -> Callable[[Envelope], None]:
    def change(e: Envelope) -> None:
        e["objects"][-1].pop(name)
        e["objects"][-1].pop("modified" if name == "created" else "created", None)

    return change


def set_label(**fields: Any) -> Callable[[Envelope], None]:
    def change(e: Envelope) -> None:
        e["objects"][1]["extensions"][GSOMIA_LABEL_EXTENSION].update(fields)

    return change


def drop_label(name: str) -> Callable[[Envelope], None]:
    def change(e: Envelope) -> None:
        del e["objects"][1]["extensions"][GSOMIA_LABEL_EXTENSION][name]

    return change


def replace_objects(*objs: Any) -> Callable[[Envelope], None]:
    def change(e: Envelope) -> None:
        e["objects"] = list(objs)

    return change


NESTED: list[Any] = [1]
for _ in range(40):
    NESTED = [NESTED]
L = rf"objects\[1\]\.extensions\.{GSOMIA_LABEL_EXTENSION}"
CASES: list[tuple[str, Callable[[Envelope], None], str]] = [
    ("not an object", replace_objects(1), r"^objects\[0\]: a STIX object must be a JSON object"),
    ("type", set_obj(type="Report!"), r"^objects\[2\]\.type: not a STIX type name"),
    ("id", set_obj(id="report-1"), r"^objects\[2\]\.id: not a STIX identifier"),
    ("id type", set_obj(id="indicator--00000000-0000-4000-8000-000000000001"), "does not match"),
    ("spec", set_obj(spec_version="2.0"), r"\.spec_version: gsomia accepts STIX 2.1"),
    (
        "created",
        set_obj(created="yesterday"),
        r"^objects\[2\] \(report--[0-9a-f-]+\)\.created: expected a STIX timestamp",
    ),
    ("order", set_obj(created="2026-02-01T00:00:00.000Z"), r"\.modified: earlier than created"),
    ("no dates", drop_obj("created"), r"\.created: missing"),
    ("refs", set_obj(object_marking_refs=["tlp:red"]), "expected marking-definition identifiers"),
    ("nan", set_obj(x_score=float("nan")), "NaN is not JSON"),
    ("key", set_obj(**{"bad key!": 1}), "is not a STIX property name"),
    ("deep", set_obj(x_deep=NESTED), "levels deep"),
    ("equivalent", set_label(equivalent_of="x"), "added by the receiving node, not posted"),
    ("missing", drop_label("topics"), rf"^{L}: missing topics"),
    ("unknown", set_label(colour="red"), rf"^{L}: unknown field\(s\) colour"),
    ("version", set_label(version=2), "expected extension_type property-extension, version 1"),
    ("policy", set_label(policy=""), rf"^{L}\.policy: expected a non-empty string"),
    ("topics", set_label(topics="dprk"), rf"^{L}\.topics: expected a list of strings"),
    ("foreign policy", set_label(policy="US-DOD-CNSI"), "label policy 'US-DOD-CNSI' is not"),
    ("level", set_label(classification="ZZ"), "ZZ"),
    ("no label", set_obj(object_marking_refs=[]), r"no gsomia label"),
]


@pytest.mark.parametrize(("why", "change", "match"), CASES, ids=[c[0] for c in CASES])
def test_refused_naming_where(
    kor: Node, why: str, change: Callable[[Envelope], None], match: str
) -> None:
    envelope = copy.deepcopy(report(100))
    change(envelope)
    with pytest.raises(BadInput, match=match):
        kor.publish(user(kor), envelope["objects"], kor.collection_id("KOR"))
    with kor.store.reading() as r:  # nothing half-written
        assert (
            r.versions(kor.collection_id("KOR"), "report--00000000-0000-4000-8000-000000000100")
            == []
        )
    assert why


def test_an_envelope_of_other_markings_is_refused(kor: Node) -> None:
    envelope = report(101)
    tlp = {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
        "created": "2017-01-20T00:00:00.000Z",
        "definition_type": "tlp",
        "definition": {"tlp": "white"},
    }
    with pytest.raises(BadInput, match="only gsomia label marking-definitions are accepted"):
        kor.publish(user(kor), [*envelope["objects"], tlp], kor.collection_id("KOR"))
    with pytest.raises(BadInput, match=r"envelope\.objects: no objects"):
        kor.publish(user(kor), [], kor.collection_id("KOR"))
    with pytest.raises(NotFound, match="no collection 'nope' at KOR"):
        kor.publish(user(kor), envelope["objects"], "nope")


def test_versions_and_the_latest(kor: Node) -> None:
    first = report(102)
    kor.publish(user(kor), first["objects"], kor.collection_id("KOR"))
    second = copy.deepcopy(first)
    second["objects"][-1]["modified"] = "2026-01-03T00:00:00.000Z"
    status = kor.publish(user(kor), second["objects"], kor.collection_id("KOR"))
    assert [s.message for s in status.successes][-1] == "stored, sealed and logged"
    stix_id = obj(first)["id"]
    rows = kor.versions_of(user(kor), kor.collection_id("KOR"), stix_id)
    assert [r.version for r in rows] == ["2026-01-01T00:00:00.000Z", "2026-01-03T00:00:00.000Z"]
    page = kor.page(user(kor), kor.collection_id("KOR"), Filters(ids=(stix_id,)), None, None)
    assert [r.version for r in page.rows] == ["2026-01-03T00:00:00.000Z"]
    with pytest.raises(NotFound, match=f"no object {stix_id} in collection"):
        kor.versions_of(
            user(kor, "low"), kor.collection_id("KOR"), stix_id
        )  # hidden: as if missing


def test_an_id_hidden_from_the_user_cannot_be_taken(kor: Node) -> None:
    secret = report(103, topics=("dprk.missile",), classification="I")
    kor.publish(user(kor, "admin"), secret["objects"], kor.collection_id("KOR"))
    low = report(103, topics=("dprk.nuclear",), classification="III")
    low["objects"][-1]["modified"] = "2026-01-05T00:00:00.000Z"
    with pytest.raises(Conflict, match="is already in use at this node"):
        kor.publish(user(kor, "low"), low["objects"], kor.collection_id("KOR"))


EPOCH = datetime(1970, 1, 1, tzinfo=UTC).replace(tzinfo=None)  # hypothesis bounds are naive


@given(st.datetimes(min_value=EPOCH, max_value=EPOCH.replace(year=9999), timezones=st.just(UTC)))
def test_stix_timestamps_round_trip_to_the_millisecond(at: datetime) -> None:
    at = at.replace(microsecond=at.microsecond // 1000 * 1000)
    assert parse_timestamp(format_timestamp(at), "t") == at


@pytest.mark.parametrize("value", [None, 1, "2026-01-01", "2026-13-01T00:00:00Z", ""])
def test_bad_stix_timestamps_name_where(value: object) -> None:
    with pytest.raises(BadInput, match=r"^where\.created: "):
        parse_timestamp(value, "where.created")
