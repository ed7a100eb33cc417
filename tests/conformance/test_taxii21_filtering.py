"""TAXII 2.1 §3.4 Filtering, §3.4.1 match fields and §3.5 Pagination (taxii-v2.1-os), on Get
Objects (§5.4), Get Object Manifests (§5.3) and Get an Object (§5.6)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from tests.conformance.conftest import error, own, publish
from tests.unit.api.conftest import Api

V1, V2, V3 = (f"2026-02-0{d}T00:00:00.000Z" for d in (1, 2, 3))


@pytest.fixture(scope="module")
def ids(api: Api) -> list[str]:
    """Reports 501-505 published in order, and 506 in three versions; their ids."""
    found = [publish(api, n) for n in range(501, 506)]
    for v in (V1, V2, V3):
        versioned = publish(api, 506, v)
    return [*found, versioned]


def get(api: Api, route: str, query: str, user: str = "analyst") -> dict[str, Any]:
    response = api.call("GET", f"{own(api)}/{route}?{query}", user=user)
    assert response.status_code == 200, response.text
    return dict(response.json())


def listed(api: Api, route: str, query: str) -> list[tuple[str, str]]:
    """(id, version) of what objects/ or manifest/ lists."""
    body = get(api, route, query)
    return [(o["id"], o.get("modified") or o["version"]) for o in body.get("objects", [])]


ROUTES = ("objects/", "manifest/")


# ---------------------------------------------------------------- 3.4 malformed parameters


@pytest.mark.parametrize(
    "query",
    [
        "added_after=yesterday",
        "added_after=2026-01-01T00:00:00",
        "added_after=2026-13-01T00:00:00Z",
        "limit=0",
        "limit=-1",
        "limit=1.5",
        "limit=²",
        "limit=99999999999999999999",
        "next=zzz",
        "match[version]=latest",
        "match[version]=2026-02-01",
        "match[spec_version]=two",
        "match[id]=",
        "match[type]=report,,indicator",
        "match[type]=report,%20indicator",
    ],
)
def test_a_malformed_parameter_is_400(api: Api, ids: list[str], query: str) -> None:
    """§3.4: if any URL query parameter is malformed, the server MUST return 400 — with an
    error resource (§3.6.1), on every filtering endpoint."""
    for route in (*ROUTES, f"objects/{ids[0]}/"):
        if route.startswith("objects/report") and query.startswith("match[id]"):
            continue
        if route.startswith("objects/report") and query.startswith("match[type]"):
            continue
        error(api.call("GET", f"{own(api)}/{route}?{query}"), 400, "bad_request")


@pytest.mark.parametrize(
    "query",
    [
        "added_after=2026-01-01T00:00:00Z&added_after=2026-01-02T00:00:00Z",
        "limit=1&limit=2",
        "match[type]=report&match[type]=indicator",
        "match[version]=first&match[version]=last",
    ],
)
def test_a_parameter_given_twice_is_400(api: Api, ids: list[str], query: str) -> None:
    """§3.4: added_after MUST NOT occur more than once, and each match field MUST NOT occur
    more than once (several values go comma-separated); a request that does is malformed."""
    for route in ROUTES:
        body = error(api.call("GET", f"{own(api)}/{route}?{query}"), 400, "bad_request")
        assert "more than once" in body["description"]
    assert ids


@pytest.mark.parametrize(
    "values", ["all,first", "last,all", "first,first", f"{V1},{V1}", f"{V1},2026-02-01T00:00:00Z"]
)
def test_match_version_all_is_alone_and_no_version_twice(
    api: Api, ids: list[str], values: str
) -> None:
    """§3.4.1 version: all MUST NOT be used with any other value, and no keyword or version
    occurs more than once (the same instant twice counts as twice)."""
    for route in (*ROUTES, f"objects/{ids[5]}/"):
        error(api.call("GET", f"{own(api)}/{route}?match[version]={quote(values)}"), 400)


def test_unknown_parameters_are_400(api: Api, ids: list[str]) -> None:
    """§3.4: servers MAY ignore match fields they do not understand — gsomia refuses them
    (400) rather than return more than asked; likewise a filter the endpoint does not take
    (§5.6: only match[version] and match[spec_version] on Get an Object)."""
    for route in ROUTES:
        body = error(api.call("GET", f"{own(api)}/{route}?match[colour]=red"), 400)
        assert "unknown query parameter" in body["description"]
    for query in ("match[type]=report", f"match[id]={ids[0]}"):
        body = error(api.call("GET", f"{own(api)}/objects/{ids[0]}/?{query}"), 400)
        assert "not a parameter of this endpoint" in body["description"]


# ---------------------------------------------------------------- 3.4 added_after


def test_added_after_returns_only_objects_added_later(api: Api, ids: list[str]) -> None:
    """§3.4 added_after: only objects added after that timestamp (strictly); §3.3 oldest
    first."""
    records = get(api, "manifest/", f"match[id]={','.join(ids[:5])}")["objects"]
    dates = [r["date_added"] for r in records]
    for route in ROUTES:
        after = listed(api, route, f"match[id]={','.join(ids[:5])}&added_after={quote(dates[1])}")
        assert [i for i, _ in after] == ids[2:5]


def test_added_after_is_an_instant_at_any_precision(api: Api, ids: list[str]) -> None:
    """§3.4 added_after (a timestamp): the same instant written with fewer or more fraction
    digits filters the same way — compared as instants, not as text."""
    query = f"match[id]={','.join(ids[:5])}"
    records = get(api, "manifest/", query)["objects"]
    at = records[1]["date_added"]  # e.g. 2026-03-01T09:00:00.000001Z
    expected = ids[2:5]
    for form in (at, at[:-1] + "000Z", at[:-1] + "999Z"):  # nanoseconds: …001000Z, …001999Z
        found = [i for i, _ in listed(api, "manifest/", f"{query}&added_after={quote(form)}")]
        assert found == expected, form


# ---------------------------------------------------------------- 3.4 limit, 3.5 pagination


@pytest.mark.parametrize("route", ROUTES)
def test_limit_bounds_each_page_and_more_says_what_is_left(
    api: Api, ids: list[str], route: str
) -> None:
    """§3.4 limit: a response MUST NOT hold more objects than asked; when fewer are available
    than the limit, all of them; more is true when more are available (§3.5)."""
    query = f"match[id]={','.join(ids[:5])}"
    page = get(api, route, f"{query}&limit=2")
    assert len(page["objects"]) == 2
    assert page["more"] is True
    assert page["next"]
    whole = get(api, route, f"{query}&limit=5")
    assert len(whole["objects"]) == 5
    assert whole["more"] is False
    assert "next" not in whole


@pytest.mark.parametrize("route", ROUTES)
def test_next_and_added_after_both_walk_every_page(api: Api, ids: list[str], route: str) -> None:
    """§3.5: with more true, next (with the same query) continues where the page stopped; so
    does added_after set to the page's X-TAXII-Date-Added-Last. Both walks see each object
    once, in order."""
    query = f"match[id]={','.join(ids[:5])}&limit=2"
    by_next: list[tuple[str, str]] = []
    cursor = ""
    while True:
        page = get(api, route, query + cursor)
        by_next += [(o["id"], o.get("modified") or o["version"]) for o in page["objects"]]
        if not page["more"]:
            break
        cursor = f"&next={page['next']}"
    by_date: list[tuple[str, str]] = []
    after = ""
    while True:
        response = api.call("GET", f"{own(api)}/{route}?{query}{after}")
        body = response.json()
        by_date += [(o["id"], o.get("modified") or o["version"]) for o in body.get("objects", [])]
        if not body["more"]:
            break
        after = f"&added_after={quote(response.headers['X-TAXII-Date-Added-Last'])}"
    assert [i for i, _ in by_next] == ids[:5]
    assert by_date == by_next


def test_a_large_limit_is_capped_by_the_server_with_more(api: Api, ids: list[str]) -> None:
    """§3.4 limit: a limit above what the server is willing to return MAY give fewer objects;
    more then says so. A limit within TAXII's integer range is never an error."""
    page = get(api, "manifest/", "limit=9007199254740991")
    assert page["objects"]
    assert ids


# ---------------------------------------------------------------- 3.4.1 match fields


def test_match_id_and_type_take_comma_separated_values_and_are_anded(
    api: Api, ids: list[str]
) -> None:
    """§3.4: values of one field are ORed; fields are ANDed. §3.4.1 id and type."""
    for route in ROUTES:
        two = listed(api, route, f"match[id]={ids[0]},{ids[1]}")
        assert [i for i, _ in two] == ids[:2]
        both = listed(api, route, f"match[id]={ids[0]},{ids[1]}&match[type]=report,indicator")
        assert [i for i, _ in both] == ids[:2]
        assert listed(api, route, f"match[id]={ids[0]}&match[type]=indicator") == []


@pytest.mark.parametrize("stix_type", ["indicator", "attack-pattern", "x-unknown-type"])
def test_match_type_of_a_type_not_stored_is_empty_not_an_error(
    api: Api, ids: list[str], stix_type: str
) -> None:
    """§3.4.1 type: requests for STIX 2.1 types MUST NOT fail for an invalid type; other types
    MAY be fulfilled — both answer an empty envelope."""
    for route in ROUTES:
        assert get(api, route, f"match[type]={stix_type}") == {"more": False}
    assert ids


def test_match_spec_version(api: Api, ids: list[str]) -> None:
    """§3.4.1 spec_version: never a spec version not asked for (every object here is 2.1);
    without it, the latest spec version of each object."""
    query = f"match[id]={ids[0]}"
    for route in ROUTES:
        assert get(api, route, f"{query}&match[spec_version]=2.0") == {"more": False}
        assert len(listed(api, route, f"{query}&match[spec_version]=2.0,2.1")) == 1
        assert len(listed(api, route, query)) == 1
    objects = get(api, "objects/", f"{query}&match[spec_version]=2.1")["objects"]
    assert {o["spec_version"] for o in objects} == {"2.1"}


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (None, [V3]),
        ("last", [V3]),
        ("first", [V1]),
        ("all", [V1, V2, V3]),
        (V2, [V2]),
        ("2026-02-02T00:00:00Z", [V2]),
        ("2026-02-02T00:00:00.000000Z", [V2]),
        (f"first,{V2},last", [V1, V2, V3]),
        ("2026-02-09T00:00:00.000Z", []),
    ],
)
def test_match_version(api: Api, ids: list[str], values: str | None, expected: list[str]) -> None:
    """§3.4.1 version: last by default, first, all, or explicit versions (an object's
    modified, compared as an instant: …:00Z names …:00.000Z), any of them."""
    query = f"match[id]={ids[5]}" + ("" if values is None else f"&match[version]={quote(values)}")
    for route in ROUTES:
        assert sorted(v for _, v in listed(api, route, query)) == expected
    one = api.call("GET", f"{own(api)}/objects/{ids[5]}/?{query.partition('&')[2]}").json()
    assert sorted(o["modified"] for o in one.get("objects", [])) == expected
