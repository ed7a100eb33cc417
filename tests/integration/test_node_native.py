"""The native JSON API of live nodes (KOR and USA, scenario ``lapse-2019``): agreements at an
instant, the timeline, "why not?", verified items, classification notices and loss reports —
and every refusal in the one JSON error shape."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from tests.backends import Backend

from .native_client import (
    assert_error,
    held_at,
    item_path,
    native,
    publish,
    taxii_objects,
    wait_until,
)
from .nodes import NodeProc, make_nodes, report, running


@pytest.fixture(scope="module")
def pair(
    tmp_path_factory: pytest.TempPathFactory, backend: Backend
) -> Iterator[dict[str, NodeProc]]:
    root = tmp_path_factory.mktemp("native")
    nodes = make_nodes(root, ("KOR", "USA"), scenario="lapse-2019", backend=backend)
    with running(nodes):
        yield nodes


def by_id(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["id"]: d for d in docs}


def test_agreements_at_an_instant(pair: dict[str, NodeProc]) -> None:
    kor = pair["KOR"]
    before = native(kor, "GET", "/agreements", "analyst", params={"at": "2019-11-22T12:00+09:00"})
    assert before.status_code == 200, before.text
    assert before.headers["content-type"].startswith("application/json")
    gsomia = by_id(before.json())["jpn-kor-gsomia-2016"]
    assert gsomia["state"] == "in_force"
    assert gsomia["notice"] is not None
    assert gsomia["ends"] == "2019-11-23T00:00:00+09:00"
    after = native(kor, "GET", "/agreements", "low", params={"at": "2019-11-23T00:00+09:00"})
    assert by_id(after.json())["jpn-kor-gsomia-2016"]["state"] == "ended"
    now = native(kor, "GET", "/agreements", "low").json()
    assert by_id(now)["kor-usa-security-1987"]["state"] == "in_force"
    assert_error(native(kor, "GET", "/agreements", "low", params={"at": "2019-11-23T00:00"}), 422)
    assert_error(native(kor, "GET", "/agreements", None), 401)


def test_timeline(pair: dict[str, NodeProc]) -> None:
    kor = pair["KOR"]
    r = native(kor, "GET", "/timeline", "analyst", params={"until": "2020-01-01T00:00+09:00"})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["scenario"] == "lapse-2019"
    ends = [e for e in doc["entries"] if e["kind"] == "end"]
    assert [(e["agreement"], e["at"]) for e in ends] == [
        ("jpn-kor-gsomia-2016", "2019-11-23T00:00:00+09:00")
    ]
    anniversaries = [e["at"] for e in doc["entries"] if e["kind"] == "anniversary"]
    assert anniversaries
    assert all(at < "2020-01-02" for at in anniversaries)
    assert_error(native(kor, "GET", "/timeline", "analyst", params={"until": "soon"}), 422)


def test_why_not_explains_each_rule(pair: dict[str, NodeProc]) -> None:
    kor = pair["KOR"]
    item = publish(kor, report(11, releasable_to=("USA",)))
    allow = native(kor, "GET", "/why-not", "analyst", params={"item": item, "party": "USA"})
    assert allow.status_code == 200, allow.text
    doc = allow.json()
    assert doc["decision"] == "allow"
    assert "kor-usa-security-1987" in doc["agreements"]
    check = next(c for c in doc["rules"] if c["agreement"] == "kor-usa-security-1987")
    assert check["allows"]
    assert [r["rule"] for r in check["rules"]] == [2, 3, 4, 5, 6, 7]

    # In 2019, before the lapse, the agreement with Japan was in force: what fails is that
    # the item is not releasable to JPN.
    deny = native(
        kor,
        "GET",
        "/why-not",
        "analyst",
        params={"item": item, "party": "JPN", "at": "2019-06-01T00:00+09:00"},
    ).json()
    assert deny["decision"] == "deny"
    check = next(c for c in deny["rules"] if c["agreement"] == "jpn-kor-gsomia-2016")
    failing = [r["name"] for r in check["rules"] if not r["holds"]]
    assert failing == ["releasability"]
    assert any("rule 6 (releasability) fails" in reason for reason in deny["reasons"])

    # Unknown items, and items the user may not see, are not found alike.
    missing = f"report--00000000-0000-4000-8000-{999:012d}/2026-01-01T00:00:00.000Z"
    assert_error(
        native(kor, "GET", "/why-not", "analyst", params={"item": missing, "party": "USA"}), 404
    )
    assert_error(native(kor, "GET", "/why-not", "low", params={"item": item, "party": "USA"}), 404)
    for params in (
        {"item": item, "party": "XYZ"},
        {"item": item, "party": "KOR"},
        {"item": item, "party": "usa"},
        {"item": item},
        {"item": item, "party": "USA", "at": "2019-06-01"},
    ):
        assert_error(native(kor, "GET", "/why-not", "analyst", params=params), 422)


def test_item_view_shows_the_verified_item(pair: dict[str, NodeProc]) -> None:
    kor, usa = pair["KOR"], pair["USA"]
    item = publish(kor, report(12, releasable_to=("USA",)))
    at_kor = held_at(kor, item)
    assert at_kor is not None
    assert at_kor["signatures_hold"] is True
    assert at_kor["marking"]["level"] == "II"
    assert [g["party"] for g in at_kor["grants"]] == ["USA"]
    at_usa = wait_until(lambda: held_at(usa, item, "analyst"), "the item at USA")
    assert at_usa["received_from"] == "KOR"
    assert at_usa["marking"] == {
        "party": "USA",
        "level": "SECRET",
        "native": "SECRET",
        "equivalence": "SECRET",
        "originator": "KOR",
    }
    assert held_at(usa, item, "low") is None
    assert_error(native(usa, "GET", item_path("nonsense"), "analyst"), 404)


def test_notice_changes_marking_and_access_at_the_holder(pair: dict[str, NodeProc]) -> None:
    """USA's "low" user (CONFIDENTIAL, duties dprk.nuclear) sees KOR's item once KOR lowers it."""
    kor, usa = pair["KOR"], pair["USA"]
    item = publish(kor, report(13, releasable_to=("USA",), topics=("dprk.nuclear",)))
    wait_until(lambda: held_at(usa, item), "the item at USA")
    assert held_at(usa, item, "low") is None

    assert_error(
        native(kor, "POST", "/notices", "analyst", json={"item": item, "classification": "III"}),
        403,
    )
    assert_error(native(kor, "POST", "/notices", json={"item": item, "classification": "IV"}), 422)
    assert_error(native(kor, "POST", "/notices", json={"item": item, "classification": "II"}), 409)
    assert_error(native(usa, "POST", "/notices", json={"item": item, "classification": "III"}), 422)
    assert_error(native(kor, "POST", "/notices", json={"item": item}), 422)

    r = native(kor, "POST", "/notices", json={"item": item, "classification": "군사III급비밀"})
    assert r.status_code == 200, r.text
    assert r.json()["classification"] == "III"
    assert r.json()["notified"] == ["USA"]

    seen = wait_until(lambda: held_at(usa, item, "low"), "the lowered item visible to low")
    assert seen["classification"] == "III"
    assert seen["marking"]["level"] == "CONFIDENTIAL"
    assert [n["classification"] for n in seen["notices"]] == ["III"]
    # TAXII shows the new markings: KOR's new label and USA's equivalent beside it.
    objects = taxii_objects(usa, "KOR", "low")
    obj = next(o for o in objects if o["id"] == item.split("/")[0])
    markings = {o["id"]: o for o in taxii_objects(usa, "KOR") if o["type"] == "marking-definition"}
    ext = "extensions"
    labels = [next(iter(markings[ref][ext].values())) for ref in obj["object_marking_refs"]]
    assert {lb.get("classification") for lb in labels if "equivalent_of" not in lb} == {"III"}
    assert {lb.get("level") for lb in labels if "equivalent_of" in lb} == {"CONFIDENTIAL"}
    # KOR's own object follows too.
    own = next(o for o in taxii_objects(kor, "KOR") if o["id"] == item.split("/")[0])
    kor_markings = {
        o["id"]: o for o in taxii_objects(kor, "KOR") if o["type"] == "marking-definition"
    }
    assert {
        next(iter(kor_markings[ref][ext].values()))["classification"]
        for ref in own["object_marking_refs"]
    } == {"III"}


def test_loss_report_and_its_acknowledgement(pair: dict[str, NodeProc]) -> None:
    kor, usa = pair["KOR"], pair["USA"]
    item = publish(kor, report(14, releasable_to=("USA",)))
    wait_until(lambda: held_at(usa, item), "the item at USA")
    for body in (
        {"item": item, "kind": "stolen", "detail": "x"},
        {"item": item, "kind": "loss"},
        {"item": item, "kind": "loss", "detail": ""},
        {"item": item, "kind": "loss", "detail": "x", "when": "now"},
        {"item": item, "kind": "loss", "detail": "bell\x07"},
    ):
        assert_error(native(usa, "POST", "/reports", "analyst", json=body), 422)
    assert_error(
        native(usa, "POST", "/reports", "low", json={"item": item, "kind": "loss", "detail": "x"}),
        404,
    )
    assert_error(
        native(kor, "POST", "/reports", json={"item": item, "kind": "loss", "detail": "x"}), 422
    )
    r = native(
        usa, "POST", "/reports", "analyst", json={"item": item, "kind": "loss", "detail": "gone"}
    )
    assert r.status_code == 201, r.text
    rid = r.json()["id"]

    def acknowledged() -> dict[str, Any] | None:
        sent = by_id(native(usa, "GET", "/reports", "analyst").json()["sent"])
        doc = sent.get(rid)
        return doc if doc is not None and doc["acknowledgement"] is not None else None

    assert wait_until(acknowledged, "KOR's acknowledgement")["acknowledgement"]["by"] == "KOR"
    received = by_id(native(kor, "GET", "/reports", "analyst").json()["received"])
    assert (received[rid]["reporter"], received[rid]["detail"]) == ("USA", "gone")
    assert native(kor, "GET", "/reports", "low").json() == {"sent": [], "received": []}


def test_peer_routes_refuse_unsigned_and_forged_requests(pair: dict[str, NodeProc]) -> None:
    kor = pair["KOR"]
    body = orjson.dumps({"v": 1, "id": "00000000-0000-4000-8000-000000000000"})
    for path in ("/peer/v1/consent-requests", "/peer/v1/consents", "/peer/v1/reports"):
        assert_error(httpx.post(kor.url + path, content=body), 401)
    forged = {
        "X-Gsomia-Party": "USA",
        "X-Gsomia-Key": "nope",
        "X-Gsomia-Timestamp": "2026-01-01T00:00:00+00:00",
        "X-Gsomia-Signature": base64.b64encode(b"\x00" * 128).decode(),
    }
    assert_error(httpx.post(kor.url + "/peer/v1/notices", content=body, headers=forged), 401)


def test_openapi_documents_the_native_api(pair: dict[str, NodeProc]) -> None:
    spec = httpx.get(pair["KOR"].url + "/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/native/v1/agreements",
        "/native/v1/why-not",
        "/native/v1/consent-requests",
        "/native/v1/consent-requests/{request_id}/grant",
        "/native/v1/reports",
        "/native/v1/notices",
        "/peer/v1/consent-requests",
    ):
        assert path in paths, path
    post = paths["/native/v1/consent-requests"]["post"]
    ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert ref.endswith("/ConsentRequestIn")
    assert "ConsentRequestOut" in spec["components"]["schemas"]
