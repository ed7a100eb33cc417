"""TAXII 2.1 through the node's ASGI application in process: negotiation, credentials, the one
error shape, publishing and its refusals, filters, cursors, versions, manifest and status."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.integration.nodes import TAXII, report
from tests.unit.api.conftest import Api

OWN = "/api/collections/originated-KOR"  # its alias (TAXII 2.1 §5.2.1)


def error(response: Any, status: int, code: str) -> str:
    """The one error shape, checked; its description returned."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code
    assert body["http_status"] == str(status)
    assert body["title"] == code.replace("_", " ")
    return str(body["description"])


def post(api: Api, envelope: object, user: str = "analyst", **kw: Any) -> Any:
    headers = {"Content-Type": TAXII, **kw.pop("headers", {})}
    content = envelope if isinstance(envelope, bytes) else orjson.dumps(envelope)
    return api.call("POST", f"{OWN}/objects/", user=user, content=content, headers=headers, **kw)


@pytest.fixture(scope="module")
def stored(api: Api) -> list[str]:
    """Three reports published, the third in two versions; their ids."""
    ids = []
    for n in (1, 2, 3):
        response = post(api, report(n, releasable_to=("USA",)))
        assert response.status_code == 202, response.text
        ids.append(f"report--00000000-0000-4000-8000-{n:012d}")
    second = report(3, releasable_to=("USA",))
    second["objects"][-1]["modified"] = "2026-01-02T00:00:00.000Z"
    second["objects"][-1]["name"] = "Report 3, revised"
    assert post(api, second).status_code == 202
    return ids


def test_discovery_root_and_collections(api: Api) -> None:
    found = api.call("GET", "/taxii2/").json()
    assert found["default"] == "/api/"
    assert found["api_roots"] == ["/api/"]
    root = api.call("GET", "/api/").json()
    assert root["versions"] == [TAXII]
    assert root["max_content_length"] == 1048576
    collections = api.call("GET", "/api/collections/").json()["collections"]
    own = next(c for c in collections if c["id"] == api.node.collection_id("KOR"))
    assert own["can_write"] is True
    assert api.call("GET", f"{OWN}/").json()["id"] == own["id"]
    assert "no collection" in error(api.call("GET", "/api/collections/nope/"), 404, "not_found")


def test_every_response_carries_the_security_headers(api: Api) -> None:
    response = api.call("GET", "/api/")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in response.headers["content-security-policy"]


@pytest.mark.parametrize(
    "accept",
    ["application/json", "application/taxii+json;version=2.0", "", "text/html, image/png"],
)
def test_a_client_that_does_not_accept_taxii_gets_406(api: Api, accept: str) -> None:
    response = api.call("GET", "/api/", taxii=False, headers={"Accept": accept})
    assert "this server speaks" in error(response, 406, "not_acceptable")


def test_taxii_without_a_version_is_accepted(api: Api) -> None:
    response = api.call("GET", "/api/", taxii=False, headers={"Accept": "application/taxii+json"})
    assert response.status_code == 200


def test_credentials_are_required_and_checked(api: Api) -> None:
    response = api.call("GET", "/api/", user=None, address="10.0.0.1")
    assert "authentication required" in error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Basic")
    bearer = {"Authorization": f"Bearer {api.tokens['analyst']}"}
    assert api.call("GET", "/api/", user=None, headers=bearer).status_code == 200
    for header, words in (
        ("Basic !!!", "malformed Basic credentials"),
        ("Basic bm9jb2xvbg==", "unknown user or token"),  # "nocolon"
        ("Bearer wrong", "unknown user or token"),
        ("Digest abc", "unknown user or token"),
    ):
        response = api.call(
            "GET", "/api/", user=None, address="10.0.0.2", headers={"Authorization": header}
        )
        assert words in error(response, 401, "unauthorized")


def test_publishing_stores_and_reports_a_status(api: Api, stored: list[str]) -> None:
    status = post(api, report(4, releasable_to=("USA",))).json()
    assert status["status"] == "complete"
    assert status["failure_count"] == 0
    messages = {s["id"]: s["message"] for s in status["successes"]}
    assert messages["report--00000000-0000-4000-8000-000000000004"] == "stored, sealed and logged"
    assert api.call("GET", f"/api/status/{status['id']}/").json() == status
    again = post(api, report(4, releasable_to=("USA",))).json()
    assert {s["message"] for s in again["successes"]} == {"label stored", "already stored"}
    # a status is its publisher's alone, admins included
    assert "no status" in error(
        api.call("GET", f"/api/status/{status['id']}/", user="admin"), 404, "not_found"
    )
    assert "no status" in error(api.call("GET", "/api/status/nope/"), 404, "not_found")
    assert stored


@pytest.mark.parametrize(
    ("envelope", "status", "code", "words"),
    [
        (b'{"objects": [', 400, "bad_request", "envelope: malformed JSON at line 1"),
        (b'{"objects": 1}', 422, "bad_input", "expected a JSON object with an 'objects' list"),
        (b"[]", 422, "bad_input", "expected a JSON object with an 'objects' list"),
        (b'{"objects": []}', 422, "bad_input", "envelope.objects: no objects"),
        (b'{"objects": [], "objects": []}', 422, "bad_input", "body: duplicate key 'objects'"),
        (b'{"objects": [1e999]}', 422, "bad_input", "body: number 1e999"),
        (b'{"objects": [NaN]}', 422, "bad_input", "body: NaN is not JSON"),
        (b'{"n": 9007199254740993}', 422, "bad_input", "beyond"),
    ],
)
def test_bad_envelopes_are_refused_naming_what(
    api: Api, envelope: bytes, status: int, code: str, words: str
) -> None:
    assert words in error(post(api, envelope), status, code)


def test_an_object_without_its_label_is_refused(api: Api) -> None:
    envelope = report(5, releasable_to=("USA",))
    unlabelled = {**envelope, "objects": [envelope["objects"][-1]]}
    assert "object_marking_refs" in error(post(api, unlabelled), 422, "bad_input")
    bare = dict(envelope["objects"][-1])
    del bare["object_marking_refs"]
    assert "no gsomia label" in error(post(api, {"objects": [bare]}), 422, "bad_input")
    twice = {"objects": [envelope["objects"][1], *envelope["objects"][1:]]}
    assert "is posted twice" in error(post(api, twice), 422, "bad_input")


def test_a_foreign_or_unclear_label_is_refused(api: Api) -> None:
    usa = report(6, originator="USA", releasable_to=("KOR",))
    words = error(post(api, usa), 422, "bad_input")
    assert "the label's originator is USA; only KOR originates items at this node" in words
    too_high = report(7, releasable_to=("USA",), classification="I")
    denied = error(post(api, too_high, user="low"), 403, "denied")
    assert denied.startswith("publish marking-definition--")
    assert denied.endswith("user low is cleared to III (CONFIDENTIAL); the item is TOP SECRET")
    other = report(8, releasable_to=("USA",))
    other["objects"][0] = {**other["objects"][0], "name": "another definition"}
    assert "extension-definition" in error(post(api, other), 422, "bad_input")


def test_publishing_needs_taxii_content_and_an_own_collection(api: Api) -> None:
    envelope = report(9, releasable_to=("USA",))
    wrong = post(api, envelope, headers={"Content-Type": "application/json"})
    assert "expected Content-Type" in error(wrong, 415, "unsupported_media_type")
    response = api.call(
        "POST",
        "/api/collections/nope/objects/",
        content=orjson.dumps(envelope),
        headers={"Content-Type": TAXII},
    )
    assert "no collection" in error(response, 404, "not_found")
    received = next(
        c["id"]
        for c in api.call("GET", "/api/collections/").json()["collections"]
        if not c["can_write"]
    )
    response = api.call(
        "POST",
        f"/api/collections/{received}/objects/",
        content=orjson.dumps(envelope),
        headers={"Content-Type": TAXII},
    )
    assert "only the node's own collection is writable" in error(response, 403, "denied")


def test_a_body_over_the_limit_is_refused_before_it_is_read(api: Api) -> None:
    response = post(api, b" " * (1048576 + 1))
    assert "larger than 1048576 bytes" in error(response, 413, "too_large")


def objects(api: Api, query: str = "", user: str = "analyst") -> dict[str, Any]:
    response = api.call("GET", f"{OWN}/objects/{query}", user=user)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == TAXII
    return dict(response.json())


def test_filters_select_objects(api: Api, stored: list[str]) -> None:
    everything = objects(api)
    reports = [o for o in everything["objects"] if o["type"] == "report"]
    assert {o["id"] for o in reports} >= set(stored)
    only = objects(api, "?match[type]=report")
    assert {o["type"] for o in only["objects"]} == {"report"}
    one = objects(api, f"?match[id]={stored[2]}")["objects"]
    assert [o["name"] for o in one] == ["Report 3, revised"]
    every = objects(api, f"?match[id]={stored[2]}&match[version]=all")["objects"]
    assert sorted(o["modified"] for o in every) == [
        "2026-01-01T00:00:00.000Z",
        "2026-01-02T00:00:00.000Z",
    ]
    first = objects(api, f"?match[id]={stored[2]}&match[version]=first")["objects"]
    assert [o["name"] for o in first] == ["Report 3"]
    at = objects(api, f"?match[id]={stored[2]}&match[version]=2026-01-02T00:00:00.000Z")
    assert [o["name"] for o in at["objects"]] == ["Report 3, revised"]
    assert objects(api, "?match[spec_version]=2.0") == {"more": False}
    assert objects(api, f"?match[id]={stored[0]}", user="low") == {"more": False}


def test_pages_follow_their_cursors_to_the_end(api: Api, stored: list[str]) -> None:
    seen: list[str] = []
    query = "?match[type]=report&limit=1"
    while True:
        response = api.call("GET", f"{OWN}/objects/{query}")
        page = response.json()
        seen += [o["id"] for o in page["objects"]]
        assert response.headers["x-taxii-date-added-first"]
        if not page["more"]:
            assert "next" not in page
            break
        query = f"?match[type]=report&limit=1&next={page['next']}"
    assert len(seen) == len(set(seen))
    assert set(stored) <= set(seen)
    later = objects(api, "?added_after=2100-01-01T00:00:00.000Z")
    assert later == {"more": False}


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("?colour=red", "unknown query parameter(s): colour"),
        ("?added_after=yesterday", "added_after"),
        ("?limit=0", "limit: expected a positive whole number"),
        ("?limit=ten", "limit: expected a positive whole number"),
        ("?match[version]=latest", "match[version]"),
    ],
)
def test_bad_filters_are_400(api: Api, query: str, words: str) -> None:
    for route in ("objects/", "manifest/", "objects/report--00000000-0000-4000-8000-000000000001/"):
        assert words in error(api.call("GET", f"{OWN}/{route}{query}"), 400, "bad_request")


def test_a_cursor_not_given_by_the_server_is_refused(api: Api) -> None:
    response = api.call("GET", f"{OWN}/objects/?next=zzz")
    assert "is not a cursor this server gave" in error(response, 400, "bad_request")


def test_one_object_its_versions_and_the_manifest(api: Api, stored: list[str]) -> None:
    third = stored[2]
    one = api.call("GET", f"{OWN}/objects/{third}/")
    assert [o["name"] for o in one.json()["objects"]] == ["Report 3, revised"]
    versions = api.call("GET", f"{OWN}/objects/{third}/versions/").json()
    assert versions == {
        "more": False,
        "versions": ["2026-01-01T00:00:00.000Z", "2026-01-02T00:00:00.000Z"],
    }
    for route in (f"objects/{third}/", f"objects/{third}/versions/"):
        hidden = api.call("GET", f"{OWN}/{route}", user="low")
        missing = api.call("GET", f"{OWN}/{route.replace('0003', '0999')}")
        assert error(hidden, 404, "not_found").startswith("no object")
        assert error(missing, 404, "not_found").startswith("no object")
    manifest = api.call("GET", f"{OWN}/manifest/?match[type]=report&limit=2").json()
    assert manifest["more"] is True
    assert manifest["next"]
    assert {r["media_type"] for r in manifest["objects"]} == {"application/stix+json;version=2.1"}
    empty = api.call("GET", f"{OWN}/manifest/?match[type]=indicator").json()
    assert empty == {"more": False}
