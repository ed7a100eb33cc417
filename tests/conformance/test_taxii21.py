"""TAXII 2.1 (OASIS Standard taxii-v2.1-os, 10 June 2021), statement by statement, against a node
in process. Each test names the section it checks; tests/conformance/README.md lists them."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson
import pytest

from gsomia.node.results import PublishStatus, Stored
from tests.conformance.conftest import own
from tests.integration.nodes import TAXII, report
from tests.unit.api.conftest import Api

V1, V2, V3 = (f"2026-01-0{d}T00:00:00.000Z" for d in (1, 2, 3))
VERSIONED = "report--00000000-0000-4000-8000-000000000101"
MISSING = "report--00000000-0000-4000-8000-000000000999"


def error(response: Any, status: int, code: str) -> dict[str, Any]:
    """A TAXII error resource (3.6.1), checked; returned."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/taxii+json")
    body: dict[str, Any] = response.json()
    assert body["error_code"] == code
    assert body["http_status"] == str(status)
    assert body["title"]
    return body


def publish(api: Api, n: int, modified: str = V1) -> None:
    envelope = report(n, releasable_to=("USA",))
    envelope["objects"][-1]["modified"] = modified
    response = api.call(
        "POST",
        f"{own(api)}/objects/",
        content=orjson.dumps(envelope),
        headers={"Content-Type": TAXII},
    )
    assert response.status_code == 202, response.text


@pytest.fixture(scope="module")
def versioned(api: Api) -> str:
    """One report in three versions, published in order."""
    for modified in (V1, V2, V3):
        publish(api, 101, modified)
    return VERSIONED


def added(api: Api, stix_id: str) -> dict[str, str]:
    """Each version's date_added, from the manifest."""
    query = f"match[id]={stix_id}&match[version]=all"
    records = api.call("GET", f"{own(api)}/manifest/?{query}").json()["objects"]
    return {r["version"]: r["date_added"] for r in records}


def versions(api: Api, stix_id: str, query: str = "", user: str = "analyst") -> Any:
    return api.call("GET", f"{own(api)}/objects/{stix_id}/versions/{query}", user=user)


# ---------------------------------------------------------------- 5.8 Get Object Versions


def test_versions_carry_the_date_added_headers(api: Api, versioned: str) -> None:
    """5.8 Get Object Versions: the response carries X-TAXII-Date-Added-First and
    X-TAXII-Date-Added-Last, the date_added of the first and last version it lists."""
    dates = added(api, versioned)
    response = versions(api, versioned)
    assert response.json() == {"more": False, "versions": [V1, V2, V3]}
    assert response.headers["X-TAXII-Date-Added-First"] == dates[V1]
    assert response.headers["X-TAXII-Date-Added-Last"] == dates[V3]


def test_versions_honour_limit_and_page_with_next(api: Api, versioned: str) -> None:
    """5.8 Get Object Versions with limit and next (3.4 Pagination): a page of at most limit
    versions, more=true and a next that continues where it stopped."""
    dates = added(api, versioned)
    first = versions(api, versioned, "?limit=2")
    body = first.json()
    assert body["more"] is True
    assert body["versions"] == [V1, V2]
    assert first.headers["X-TAXII-Date-Added-Last"] == dates[V2]
    rest = versions(api, versioned, f"?limit=2&next={body['next']}")
    assert rest.json() == {"more": False, "versions": [V3]}
    assert rest.headers["X-TAXII-Date-Added-First"] == dates[V3]


def test_versions_honour_added_after_and_spec_version(api: Api, versioned: str) -> None:
    """5.8 Get Object Versions with added_after and match[spec_version] (3.5 Filtering)."""
    dates = added(api, versioned)
    after = versions(api, versioned, f"?added_after={quote(dates[V1])}")
    assert after.json()["versions"] == [V2, V3]
    assert versions(api, versioned, "?match[spec_version]=2.1").json()["versions"] == [V1, V2, V3]
    none = versions(api, versioned, "?match[spec_version]=2.0")
    assert none.json() == {"more": False}
    assert "X-TAXII-Date-Added-First" not in none.headers


def test_hidden_versions_answer_as_missing_ones_whatever_the_filters(
    api: Api, versioned: str
) -> None:
    """5.8 with gsomia's rule (docs/formats.md): an object the user may not see is 404, as an
    object that is not stored, whatever the filters and paging asked."""
    for query in ("", "?limit=1", "?match[spec_version]=2.0", "?added_after=2000-01-01T00:00:00Z"):
        hidden = error(versions(api, versioned, query, user="low"), 404, "not_found")
        missing = error(versions(api, MISSING, query), 404, "not_found")
        assert hidden["description"] == missing["description"].replace(MISSING, versioned)


# ---------------------------------------------------------------- 3.5 match[version]


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        ("first,last", [V1, V3]),
        (f"{V1},{V3}", [V1, V3]),
        (f"last,{V2}", [V2, V3]),
        (f"first,{V2}", [V1, V2]),
        ("all", [V1, V2, V3]),
    ],
)
def test_match_version_takes_every_comma_separated_value(
    api: Api, versioned: str, wanted: str, expected: list[str]
) -> None:
    """3.5 Filtering, match[version]: a comma-separated list selects every version any value
    names, on Get Objects (5.4), Get Object Manifests (5.3) and Get an Object (5.6)."""
    query = f"match[version]={quote(wanted)}"
    objects = api.call("GET", f"{own(api)}/objects/?match[id]={versioned}&{query}").json()
    assert sorted(o["modified"] for o in objects["objects"]) == expected
    manifest = api.call("GET", f"{own(api)}/manifest/?match[id]={versioned}&{query}").json()
    assert sorted(r["version"] for r in manifest["objects"]) == expected
    one = api.call("GET", f"{own(api)}/objects/{versioned}/?{query}").json()
    assert sorted(o["modified"] for o in one["objects"]) == expected


# ---------------------------------------------------------------- 3.5 added_after, instants


def test_added_after_is_compared_as_an_instant(api: Api) -> None:
    """3.5 Filtering, added_after: objects added after that instant are returned. One added
    later within the same second as a whole-second added_after is after it (compared as text,
    "...:05.300000Z" sorts before "...:05Z" and was missed)."""
    for n in (201, 202):
        publish(api, n)
    dates = [added(api, f"report--00000000-0000-4000-8000-{n:012d}")[V1] for n in (201, 202)]
    # the store bumps each date_added past the last: at most one of the two is on the second
    late = next(d for d in dates if d[19:] != ".000000Z")
    whole_second = f"?added_after={quote(late[:19] + 'Z')}"
    manifest = api.call("GET", f"{own(api)}/manifest/{whole_second}").json()
    assert late in [r["date_added"] for r in manifest.get("objects", [])], whole_second
    objects = api.call("GET", f"{own(api)}/objects/{whole_second}").json()
    assert f"Report {dates.index(late) + 201}" in [o["name"] for o in objects.get("objects", [])]


# ---------------------------------------------------------------- 5.7 Delete an Object


def test_delete_is_refused_with_403_and_an_error_resource(api: Api, versioned: str) -> None:
    """5.7 Delete an Object: a server whose collection refuses deletion answers 403 with an
    error resource (gsomia collections are append-only); never 405. The object stays."""
    for query in ("", f"?match[version]={quote(V1)}", "?match[spec_version]=2.1"):
        refused = api.call("DELETE", f"{own(api)}/objects/{versioned}/{query}")
        assert "append-only" in error(refused, 403, "denied")["description"]
    assert versions(api, versioned).json()["versions"] == [V1, V2, V3]


def test_delete_of_a_hidden_or_missing_object_is_404_after_authentication(
    api: Api, versioned: str
) -> None:
    """5.7 with 3.3 Authentication and gsomia's rule: credentials first (401), then an object
    the user may not see answers 404 exactly as one not stored."""
    error(api.call("DELETE", f"{own(api)}/objects/{versioned}/", user=None), 401, "unauthorized")
    hidden = error(
        api.call("DELETE", f"{own(api)}/objects/{versioned}/", user="low"), 404, "not_found"
    )
    missing = error(api.call("DELETE", f"{own(api)}/objects/{MISSING}/"), 404, "not_found")
    assert hidden["description"] == missing["description"].replace(MISSING, versioned)


# ---------------------------------------------------------------- 4.3 Get Status


def test_status_omits_empty_lists_and_keeps_counts(api: Api) -> None:
    """4.3.1 Status Resource: successes, failures and pendings are omitted when empty; the
    counts are always there."""
    envelope = report(301, releasable_to=("USA",))
    response = api.call(
        "POST",
        f"{own(api)}/objects/",
        content=orjson.dumps(envelope),
        headers={"Content-Type": TAXII},
    )
    status = response.json()
    assert status["successes"]
    assert "failures" not in status
    assert "pendings" not in status
    assert (status["failure_count"], status["pending_count"]) == (0, 0)
    assert api.call("GET", f"/api/status/{status['id']}/").json() == status
    empty = PublishStatus("s", V1, ()).to_json()
    assert set(empty) == {
        "id",
        "status",
        "request_timestamp",
        "total_count",
        "success_count",
        "failure_count",
        "pending_count",
    }
    assert PublishStatus.from_json(empty, "status") == PublishStatus("s", V1, ())
    one = PublishStatus("s", V1, (Stored("x", V1, "ok"),))
    assert PublishStatus.from_json(one.to_json(), "status") == one


# ---------------------------------------------------------------- 3.4 Pagination, errors


@pytest.mark.parametrize("route", ["objects/", "manifest/", f"objects/{VERSIONED}/"])
def test_a_malformed_next_is_400(api: Api, versioned: str, route: str) -> None:
    """3.4 Pagination and 3.6 Errors: a next the server did not give is a bad request (400)
    with an error resource, not 422."""
    for cursor in ("zzz", "s", "sxyz"):
        body = error(api.call("GET", f"{own(api)}/{route}?next={cursor}"), 400, "bad_request")
        assert "is not a cursor this server gave" in body["description"]
    body = error(versions(api, versioned, "?next=zzz"), 400, "bad_request")
    assert "next" in body["description"]
