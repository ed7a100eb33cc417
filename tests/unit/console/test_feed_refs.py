"""The feed lists a report, not its locations (first page, older pages, live), and a report's
page lists what its ``object_refs`` name that the node holds and the user may see — on an
in-process node with a real store."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from gsomia.app.boot import load_config, open_node
from gsomia.clock import FixedClock
from gsomia.console.feed import (
    MAX_REFS,
    SUPPORTING_TYPES,
    event_renderer,
    item_url,
    newest,
    referred,
)
from gsomia.console.session import Console, Sessions, make_env
from gsomia.node.config import User
from gsomia.node.events import Broadcaster
from gsomia.node.holdings import held
from gsomia.node.service import Node
from gsomia.store.ports import ObjectRow
from tests.integration.nodes import PASSPHRASE, make_nodes, report

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
CREATED = "2026-01-01T00:00:00.000Z"
LATER = "2026-01-02T00:00:00.000Z"
REPORTS = 5  # each with three locations: locations outnumber reports three to one
NUCLEAR = 900  # a report "low" may see, naming one location they may see and one they may not


def location_id(n: int, k: int) -> str:
    return f"location--00000000-0000-4000-{8000 + k:04d}-{n:012d}"


def item(stix_id: str) -> str:
    return f"{stix_id}/{CREATED}"


def location(stix_id: str, marking: str, name: str) -> dict[str, Any]:
    return {
        "type": "location",
        "spec_version": "2.1",
        "id": stix_id,
        "created": CREATED,
        "modified": CREATED,
        "name": name,
        "latitude": 39.2,
        "longitude": 125.67,
        "object_marking_refs": [marking],
    }


def with_locations(
    envelope: dict[str, Any], refs: list[object], names: dict[str, str]
) -> list[dict[str, Any]]:
    """The envelope's objects, its report naming ``refs`` and the locations of ``names``
    (marked with the report's label) added."""
    marking, obj = envelope["objects"][-2], envelope["objects"][-1]
    obj["object_refs"] = refs
    places = [location(i, marking["id"], name) for i, name in names.items()]
    return [*envelope["objects"], *places]


@pytest.fixture(scope="module")
def kor(tmp_path_factory: pytest.TempPathFactory) -> Node:
    procs = make_nodes(tmp_path_factory.mktemp("refs"))
    node = open_node(
        load_config(procs["KOR"].config), clock=FixedClock(NOW), passphrase=PASSPHRASE.encode()
    )
    cid = node.collection_id("KOR")
    identity = node.scenario.policy("KOR").identity
    assert identity is not None
    for n in range(1, REPORTS + 1):
        names = {location_id(n, k): f"Place {n}.{k}" for k in range(3)}
        objects = with_locations(report(n), [identity, *names], names)
        node.publish(user(node, "analyst"), objects, cid)
    # "low" (III, need-to-know dprk.nuclear) may see the report and location 0, not location 1
    seen = report(NUCLEAR, topics=("dprk.nuclear",), classification="III")
    node.publish(
        user(node, "analyst"),
        with_locations(
            seen,
            [
                location_id(NUCLEAR, 0),
                location_id(NUCLEAR, 1),
                location_id(NUCLEAR, 2),  # held nowhere
                identity,
                7,  # not an id: passed over
            ],
            {location_id(NUCLEAR, 0): "Seen place"},
        ),
        cid,
    )
    hidden = report(NUCLEAR + 1, topics=("dprk.missile",), classification="II")
    moved = location(location_id(NUCLEAR, 0), hidden["objects"][-2]["id"], "Moved place")
    moved["modified"] = LATER  # a later version of the seen place, under a label "low" may not see
    objects = with_locations(hidden, [], {location_id(NUCLEAR, 1): "Hidden place"})
    node.publish(user(node, "analyst"), [*objects, moved], cid)
    return node


def user(node: Node, name: str) -> User:
    return next(u for u in node.config.users if u.name == name)


def report_id(n: int) -> str:
    return f"report--00000000-0000-4000-8000-{n:012d}"


def rows(node: Node) -> list[ObjectRow]:
    with node.store.reading() as r:
        return r.rows_after(0, 10_000)


def all_pages(node: Node, who: User, limit: int, window: int) -> list[list[str]]:
    """Every page of the feed, following each page's ``before``, as item ids."""
    pages: list[list[str]] = []
    before: int | None = 2**63 - 1
    while before is not None:
        entries, before = newest(node, who, before, limit, window=window)
        pages.append([e.item_id for e in entries])
        assert len(pages) < 100, "the feed's pages do not end"
    return pages


def test_the_feed_lists_reports_and_no_locations(kor: Node) -> None:
    stored = rows(kor)
    places = [x for x in stored if x.stix_type == "location"]
    reports = [x for x in stored if x.stix_type == "report"]
    assert len(places) > len(reports)  # the store this test is about
    assert "location" in SUPPORTING_TYPES
    entries, older = newest(kor, user(kor, "analyst"), 2**63 - 1, 25)
    assert older is None
    # every report, newest first, and nothing else
    assert [e.item_id for e in entries] == [x.item_id for x in reversed(reports)]
    assert {e.stix_type for e in entries} == {"report"}


@pytest.mark.parametrize(("limit", "window"), [(2, 3), (2, 1), (3, 256), (1, 2)])
def test_pages_stay_full_and_continue_where_they_stop_when_many_rows_are_skipped(
    kor: Node, limit: int, window: int
) -> None:
    analyst = user(kor, "analyst")
    expected = [x.item_id for x in reversed(rows(kor)) if x.stix_type == "report"]
    pages = all_pages(kor, analyst, limit, window)
    assert [i for page in pages for i in page] == expected
    assert all(len(page) == limit for page in pages[:-1])
    assert 1 <= len(pages[-1]) <= limit
    # the second page starts right after the first one's last entry
    first, before = newest(kor, analyst, 2**63 - 1, limit, window=window)
    assert before == first[-1].seq


def test_the_feed_of_a_user_with_less_clearance_skips_what_they_may_not_see(kor: Node) -> None:
    pages = all_pages(kor, user(kor, "low"), 1, 2)
    assert pages == [[item(report_id(NUCLEAR))]]


def test_the_live_stream_skips_locations(kor: Node) -> None:
    console = Console(kor, Broadcaster(kor), make_env(), Sessions(kor.store, b"k" * 32))
    render = event_renderer(console, user(kor, "analyst"))
    stored = rows(kor)
    framed = {x.stix_type for x in stored if render(x) is not None}
    assert framed == {"report"}
    assert any(x.stix_type == "location" for x in stored)


def test_a_reports_page_lists_its_locations_and_identity_linked_as_items(kor: Node) -> None:
    row = held(kor, item(report_id(2))).row
    assert row is not None
    refs = referred(kor, user(kor, "analyst"), row)
    identity = kor.scenario.policy("KOR").identity
    assert [(r.stix_id, r.stix_type) for r in refs] == [
        (identity, "identity"),
        *((location_id(2, k), "location") for k in range(3)),
    ]
    assert refs[0].name == kor.scenario.policy("KOR").name
    assert refs[0].url == ""  # a public definition, no item: shown by name, no link
    assert [r.name for r in refs[1:]] == ["Place 2.0", "Place 2.1", "Place 2.2"]
    assert [r.url for r in refs[1:]] == [item_url(item(location_id(2, k))) for k in range(3)]


def test_a_hidden_ref_is_left_out_as_a_missing_one_is(kor: Node) -> None:
    row = held(kor, item(report_id(NUCLEAR))).row
    assert row is not None
    identity = kor.scenario.policy("KOR").identity
    low = referred(kor, user(kor, "low"), row)
    # the hidden location is left out, as the one held nowhere is; of the seen place, the
    # version "low" may see (not its later version, hidden from them)
    assert [(r.stix_id, r.name, r.url) for r in low] == [
        (location_id(NUCLEAR, 0), "Seen place", item_url(item(location_id(NUCLEAR, 0)))),
        (identity, kor.scenario.policy("KOR").name, ""),
    ]
    analyst = referred(kor, user(kor, "analyst"), row)
    assert [(r.stix_id, r.name) for r in analyst] == [
        (location_id(NUCLEAR, 0), "Moved place"),
        (location_id(NUCLEAR, 1), "Hidden place"),
        (identity, kor.scenario.policy("KOR").name),
    ]
    assert analyst[0].url == item_url(f"{location_id(NUCLEAR, 0)}/{LATER}")


def test_a_report_without_refs_lists_none_and_the_refs_read_are_bounded(kor: Node) -> None:
    row = held(kor, item(report_id(NUCLEAR + 1))).row
    assert row is not None
    assert referred(kor, user(kor, "analyst"), row) == []
    # a report naming more than MAX_REFS objects: only the first MAX_REFS are looked up
    body = orjson.loads(row.body)
    body["object_refs"] = [*(f"location--{i}" for i in range(MAX_REFS)), location_id(1, 0)]
    named_late = replace(row, body=orjson.dumps(body))
    assert referred(kor, user(kor, "analyst"), named_late) == []
    body["object_refs"] = [*(f"location--{i}" for i in range(MAX_REFS - 1)), location_id(1, 0)]
    in_bound = referred(kor, user(kor, "analyst"), replace(row, body=orjson.dumps(body)))
    assert [r.stix_id for r in in_bound] == [location_id(1, 0)]
