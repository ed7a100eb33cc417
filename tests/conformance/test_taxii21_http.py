"""TAXII 2.1 §1.6.8–1.6.9, §2 and §3 (taxii-v2.1-os): content negotiation, authentication,
data types, the endpoints' common rules, headers, sorting, errors, the envelope and property
names. Each test names its section; tests/conformance/README.md lists the statements."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.conformance.conftest import (
    TAXII_TIMESTAMP,
    error,
    is_v4_uuid,
    own,
    post,
    publish,
    received,
)
from tests.integration.nodes import TAXII, report
from tests.unit.api.conftest import Api

REPORT = "report--00000000-0000-4000-8000-{:012d}"


@pytest.fixture(scope="module")
def three(api: Api) -> list[str]:
    """Reports 401-403, published in that order; their ids."""
    return [publish(api, n) for n in (401, 402, 403)]


def gets(api: Api, three: list[str]) -> list[str]:
    """One path of every GET endpoint (§3.1's table)."""
    status = post(api, report(404, releasable_to=("USA",))).json()["id"]
    return [
        "/taxii2/",
        "/api/",
        f"/api/status/{status}/",
        "/api/collections/",
        f"{own(api)}/",
        f"{own(api)}/manifest/",
        f"{own(api)}/objects/",
        f"{own(api)}/objects/{three[0]}/",
        f"{own(api)}/objects/{three[0]}/versions/",
    ]


# ---------------------------------------------------------------- 1.6.8 content negotiation


@pytest.mark.parametrize(
    "accept",
    [
        TAXII,
        "application/taxii+json",
        "application/taxii+json; version=2.1",
        "text/html, application/taxii+json;version=2.1;q=0.5",
        f"{TAXII},application/stix+json;version=2.1",
    ],
)
def test_a_taxii_21_media_range_is_never_406(api: Api, three: list[str], accept: str) -> None:
    """§1.6.8.2 and §3.1: application/taxii+json with version 2.1, or without a version (the
    latest the server supports, 2.1), is defined for every endpoint and MUST NOT be 406."""
    for path in gets(api, three):
        response = api.call("GET", path, taxii=False, headers={"Accept": accept})
        assert response.status_code == 200, (path, response.text)


@pytest.mark.parametrize(
    "accept",
    [
        "",
        "application/json",
        "*/*",
        "application/taxii+json;version=2.0",
        "application/taxii+json;version=2.1;q=0",
    ],
)
def test_an_accept_without_taxii_21_is_406_with_an_error(
    api: Api, three: list[str], accept: str
) -> None:
    """§3.1: a request without a TAXII 2.1 media range in Accept MAY be 406 — gsomia answers
    406, with an error resource (§3.6.1), on every endpoint."""
    for path in gets(api, three):
        response = api.call("GET", path, taxii=False, headers={"Accept": accept})
        error(response, 406, "not_acceptable")


def test_every_response_names_the_taxii_media_type_and_version(api: Api, three: list[str]) -> None:
    """§3.1: every TAXII response carries the media type with its version parameter in
    Content-Type — successes and errors alike."""
    for path in [*gets(api, three), "/api/collections/nope/", f"{own(api)}/objects/?limit=0"]:
        assert api.call("GET", path).headers["content-type"] == TAXII, path


# ---------------------------------------------------------------- 1.6.9 authentication


@pytest.mark.parametrize(
    "authorization",
    [None, "Basic !!!", "Basic {unknown}", "Bearer wrong", "Digest x"],
)
def test_every_endpoint_needs_credentials_401_with_www_authenticate(
    api: Api, three: list[str], authorization: str | None
) -> None:
    """§1.6.9 (and §5.1–5.8: 401 or 404 for a client that fails authentication): without an
    acceptable Authorization, 401 and a WWW-Authenticate header with the schemes, whatever the
    method; the Basic scheme is among them (§8.2.2: SHOULD implement HTTP Basic)."""
    calls = [("GET", path) for path in gets(api, three)] + [
        ("POST", f"{own(api)}/objects/"),
        ("DELETE", f"{own(api)}/objects/{three[0]}/"),
    ]
    for n, (method, path) in enumerate(calls):
        # a new user name and address each time: failed credentials are throttled per both
        unknown = base64.b64encode(f"nobody{n}:secret".encode()).decode()
        headers = (
            {}
            if authorization is None
            else {"Authorization": authorization.format(unknown=unknown)}
        )
        response = api.call(
            method, path, user=None, headers=headers, address=f"10.9.{len(calls)}.{n}"
        )
        error(response, 401, "unauthorized")
        assert response.headers["www-authenticate"].startswith('Basic realm="gsomia"')


def test_http_basic_is_accepted(api: Api) -> None:
    """§8.2.2: the server SHOULD implement HTTP Basic (the test client uses it throughout)."""
    assert api.call("GET", "/api/").status_code == 200


def test_objects_a_client_may_not_see_are_omitted(api: Api, three: list[str]) -> None:
    """§1.6.9 and §8.2.2 (MAY omit objects the client is not authorized to receive): an item
    beyond the user's clearance is left out of lists, never refused (gsomia: absent, not
    forbidden — docs/formats.md)."""
    mine = api.call("GET", f"{own(api)}/objects/?match[id]={three[0]}").json()
    assert [o["id"] for o in mine["objects"]] == [three[0]]
    hidden = api.call("GET", f"{own(api)}/objects/?match[id]={three[0]}", user="low")
    assert hidden.status_code == 200
    assert hidden.json() == {"more": False}


# ---------------------------------------------------------------- 2 data types


def test_collection_and_status_ids_are_version_4_uuids(api: Api) -> None:
    """§2 identifier (a collection's id §5.2.1, a status's id §4.3.1): an RFC 4122 version 4
    UUID."""
    collections = api.call("GET", "/api/collections/").json()["collections"]
    assert collections
    assert all(is_v4_uuid(c["id"]) for c in collections), collections
    status = post(api, report(405, releasable_to=("USA",))).json()
    assert is_v4_uuid(status["id"])


def test_taxii_timestamps_have_microseconds_in_utc(api: Api, three: list[str]) -> None:
    """§2 timestamp: RFC 3339, YYYY-MM-DDTHH:MM:SS.ssssssZ, microsecond precision, UTC with Z
    — date_added (§5.3.1), the X-TAXII-Date-Added headers (§3.2), request_timestamp (§4.3.1)."""
    manifest = api.call("GET", f"{own(api)}/manifest/?match[version]=all")
    assert manifest.json()["objects"]
    for record in manifest.json()["objects"]:
        assert TAXII_TIMESTAMP.fullmatch(record["date_added"]), record
    for path in (
        f"{own(api)}/manifest/",
        f"{own(api)}/objects/",
        f"{own(api)}/objects/{three[0]}/",
        f"{own(api)}/objects/{three[0]}/versions/",
    ):
        response = api.call("GET", path)
        for header in ("X-TAXII-Date-Added-First", "X-TAXII-Date-Added-Last"):
            assert TAXII_TIMESTAMP.fullmatch(response.headers[header]), (path, header)
    status = post(api, report(406, releasable_to=("USA",))).json()
    assert TAXII_TIMESTAMP.fullmatch(status["request_timestamp"])


def _lists(value: Any) -> list[list[Any]]:
    if isinstance(value, list):
        return [value, *(x for v in value for x in _lists(v))]
    if isinstance(value, dict):
        return [x for v in value.values() for x in _lists(v)]
    return []


def test_no_resource_carries_an_empty_list(api: Api, three: list[str]) -> None:
    """§2 list: empty lists are prohibited and MUST NOT stand for an omitted property — every
    list in every response, including filtered-to-nothing ones, has a value."""
    paths = [
        *gets(api, three),
        f"{own(api)}/objects/?match[type]=indicator",
        f"{own(api)}/manifest/?match[type]=indicator",
        f"{own(api)}/objects/{three[0]}/versions/?match[spec_version]=2.0",
        f"{received(api)}/objects/",
    ]
    for path in paths:
        body = api.call("GET", path).json()
        assert all(_lists(body)), (path, body)


# ---------------------------------------------------------------- 3.1 endpoints


def test_a_post_with_the_defined_content_type_is_not_415(api: Api) -> None:
    """§3.1: a Content-Type defined for the endpoint (application/taxii+json, with version
    2.1 or none) MUST NOT be 415."""
    for content_type in (TAXII, "application/taxii+json", "application/taxii+json; version=2.1"):
        response = post(
            api, report(407, releasable_to=("USA",)), headers={"Content-Type": content_type}
        )
        assert response.status_code == 202, (content_type, response.text)


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "application/json",
        "application/stix+json;version=2.1",
        "application/taxii+json;version=2.0",
    ],
)
def test_a_post_without_taxii_21_content_is_415(api: Api, content_type: str | None) -> None:
    """§3.1 (POST requests MUST include a valid Content-Type) and §5.5 (415: a content type the
    server does not support), with an error resource."""
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = api.call("POST", f"{own(api)}/objects/", content=b'{"objects": []}', headers=headers)
    error(response, 415, "unsupported_media_type")


def test_a_post_without_accept_is_406(api: Api) -> None:
    """§3.1: POST requests MUST include a valid Accept header; without one, 406."""
    response = api.call(
        "POST",
        f"{own(api)}/objects/",
        taxii=False,
        content=b'{"objects": []}',
        headers={"Content-Type": TAXII},
    )
    error(response, 406, "not_acceptable")


# ---------------------------------------------------------------- 3.2 headers, 3.3 sorting


def test_date_added_headers_name_the_first_and_last_object(api: Api, three: list[str]) -> None:
    """§3.2: X-TAXII-Date-Added-First/-Last on 200 responses of manifest, objects, an object
    and versions: the date_added of the first and of the last object of the response."""
    ids = ",".join(three)
    manifest = api.call("GET", f"{own(api)}/manifest/?match[id]={ids}")
    dates = [r["date_added"] for r in manifest.json()["objects"]]
    assert manifest.headers["X-TAXII-Date-Added-First"] == dates[0]
    assert manifest.headers["X-TAXII-Date-Added-Last"] == dates[-1]
    objects = api.call("GET", f"{own(api)}/objects/?match[id]={ids}")
    assert objects.headers["X-TAXII-Date-Added-First"] == dates[0]
    assert objects.headers["X-TAXII-Date-Added-Last"] == dates[-1]
    for path in (f"{own(api)}/objects/{three[1]}/", f"{own(api)}/objects/{three[1]}/versions/"):
        one = api.call("GET", path)
        assert one.headers["X-TAXII-Date-Added-First"] == dates[1]
        assert one.headers["X-TAXII-Date-Added-Last"] == dates[1]


def test_objects_and_manifest_are_sorted_by_date_added(api: Api, three: list[str]) -> None:
    """§3.3: objects and manifest entries in ascending date_added order (the most recently
    added last); §3.4: without added_after, the oldest first."""
    records = api.call("GET", f"{own(api)}/manifest/?match[version]=all&limit=1000").json()
    dates = [r["date_added"] for r in records["objects"]]
    assert dates == sorted(dates)
    assert len(dates) == len(set(dates))
    order = [r["id"] for r in records["objects"] if r["id"] in three]
    assert order == three
    objects = api.call("GET", f"{own(api)}/objects/?match[id]={','.join(reversed(three))}").json()
    assert [o["id"] for o in objects["objects"]] == three


def test_collections_come_in_one_order(api: Api) -> None:
    """§3.3: the Collections endpoint returns collections in a consistent order."""
    first = api.call("GET", "/api/collections/").json()
    assert [api.call("GET", "/api/collections/").json() for _ in range(3)] == [first] * 3


# ---------------------------------------------------------------- 3.6 errors


def test_every_error_is_an_error_resource(api: Api, three: list[str]) -> None:
    """§3.6, §3.6.1: an error status comes with an error resource whose title is set and whose
    http_status matches the status — 400, 401, 403, 404, 405, 406, 413, 415, 422."""
    big = b" " * (api.node.config.max_content_length + 1)
    cases: list[tuple[str, str, dict[str, Any], int]] = [
        ("GET", f"{own(api)}/objects/?limit=x", {}, 400),
        ("GET", "/api/", {"user": None}, 401),
        ("DELETE", f"{own(api)}/objects/{three[0]}/", {}, 403),
        ("GET", "/api/collections/nope/", {}, 404),
        ("GET", "/api/nowhere/", {}, 404),
        ("PUT", f"{own(api)}/objects/", {}, 405),
        ("GET", "/api/", {"taxii": False}, 406),
        ("POST", f"{own(api)}/objects/", {"content": big, "headers": {"Content-Type": TAXII}}, 413),
        ("POST", f"{own(api)}/objects/", {"content": b"{}"}, 415),
        (
            "POST",
            f"{own(api)}/objects/",
            {"content": b"{}", "headers": {"Content-Type": TAXII}},
            422,
        ),
    ]
    for method, path, kw, status in cases:
        error(api.call(method, path, **kw), status)


# ---------------------------------------------------------------- 3.7 envelope, 3.8 names


def test_an_empty_envelope_has_no_objects_and_more_false(api: Api) -> None:
    """§3.7 and §5.4: with nothing to return, an empty envelope (no objects property); more
    absent or false; next only with more."""
    empty = api.call("GET", f"{own(api)}/objects/?match[type]=indicator")
    assert empty.status_code == 200
    assert empty.json() == {"more": False}


def test_required_properties_are_present(api: Api, three: list[str]) -> None:
    """§3.8 and §8.1.2: every required property of discovery (§4.1.1), api-root (§4.2.1),
    collection (§5.2.1), manifest-record (§5.3.1) and status (§4.3.1), named exactly."""
    assert "title" in api.call("GET", "/taxii2/").json()
    assert {"title", "versions", "max_content_length"} <= set(api.call("GET", "/api/").json())
    for c in api.call("GET", "/api/collections/").json()["collections"]:
        assert {"id", "title", "can_read", "can_write"} <= set(c)
    for r in api.call("GET", f"{own(api)}/manifest/").json()["objects"]:
        assert {"id", "date_added", "version"} <= set(r)
    status = post(api, report(408, releasable_to=("USA",))).json()
    assert {
        "id",
        "status",
        "total_count",
        "success_count",
        "failure_count",
        "pending_count",
    } <= set(status)
    assert three
