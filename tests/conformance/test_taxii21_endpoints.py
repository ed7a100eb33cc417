"""TAXII 2.1 §4 (server information), §5 (collections) and §8.2 (mandatory server features)
of taxii-v2.1-os, endpoint by endpoint."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson
import pytest

from gsomia.app.boot import load_config, open_node
from gsomia.clock import FixedClock
from tests.conformance.conftest import error, is_v4_uuid, own, post, publish, received
from tests.integration.nodes import PASSPHRASE, TAXII, report
from tests.unit.api.conftest import NOW, Api

if TYPE_CHECKING:
    from gsomia.node.service import Node
    from tests.integration.nodes import NodeProc

STIX = "application/stix+json;version=2.1"


@pytest.fixture(scope="module")
def one(api: Api) -> str:
    return publish(api, 601)


# ---------------------------------------------------------------- 4.1 discovery, 8.2.1


def test_discovery_is_at_taxii2_with_a_default_among_its_api_roots(api: Api) -> None:
    """§8.2.1: the discovery URL is /taxii2/ at the server's root; §4.1.1: title required;
    default MUST be an item of api_roots; API root URLs are HTTPS absolute or relative (one
    /, not //, no ../) and carry no query. gsomia gives the relative /api/ (it serves plain
    HTTP behind TLS termination: docs/formats.md)."""
    found = api.call("GET", "/taxii2/").json()
    assert found["title"]
    assert found["default"] in found["api_roots"]
    for root in found["api_roots"]:
        assert root.startswith(("https://", "/"))
        assert not root.startswith(("//", "../"))
        assert "?" not in root
        assert api.call("GET", root).status_code == 200


def test_a_request_without_user_agent_is_served(api: Api) -> None:
    """§8.2.1: the server SHOULD NOT reject a valid request that has no User-Agent."""
    response = api.call("GET", "/taxii2/", headers={"User-Agent": ""})
    assert response.status_code == 200


# ---------------------------------------------------------------- 4.2 API root


def test_the_api_root_names_taxii_21_and_a_positive_max_content_length(api: Api) -> None:
    """§4.2.1: versions includes application/taxii+json;version=2.1 (with the version
    parameter); max_content_length is a positive integer."""
    root = api.call("GET", "/api/").json()
    assert TAXII in root["versions"]
    assert all(";version=" in v for v in root["versions"])
    assert isinstance(root["max_content_length"], int)
    assert root["max_content_length"] > 0


def test_a_body_within_max_content_length_is_not_413(api: Api) -> None:
    """§4.2.1: a request body smaller than max_content_length MUST NOT be 413; a larger one is
    413 (§5.5)."""
    limit = api.call("GET", "/api/").json()["max_content_length"]
    envelope = orjson.dumps(report(602, releasable_to=("USA",)))
    padded = envelope[:-1] + b" " * (limit - len(envelope) - 1) + b"}"
    assert len(padded) == limit - 1
    assert post(api, padded).status_code == 202
    error(post(api, padded[:-1] + b"  }"), 413, "too_large")


def test_an_unknown_api_root_is_404(api: Api) -> None:
    """§4.2: 404 for an API root that is not found."""
    error(api.call("GET", "/elsewhere/"), 404)


# ---------------------------------------------------------------- 4.3 status


def test_a_status_is_complete_with_its_counts(api: Api) -> None:
    """§4.3.1: status is complete or pending; total/success/failure/pending counts are
    integers ≥ 0; §5.5: the Add Objects response is 202 with the status resource, and Get
    Status gives the same resource."""
    response = post(api, report(603, releasable_to=("USA",)))
    assert response.status_code == 202
    status = response.json()
    assert status["status"] in ("complete", "pending")
    assert status["total_count"] == status["success_count"] == len(status["successes"]) == 3
    assert status["failure_count"] == status["pending_count"] == 0
    assert api.call("GET", f"/api/status/{status['id']}/").json() == status


def test_an_unknown_status_is_404(api: Api) -> None:
    """§4.3: a status id that is not (or no longer) available is 404; gsomia: another user's
    status too, as not available to them."""
    error(api.call("GET", "/api/status/2d086da7-4bdc-4f91-900e-d77486753710/"), 404, "not_found")
    mine = post(api, report(604, releasable_to=("USA",))).json()["id"]
    error(api.call("GET", f"/api/status/{mine}/", user="admin"), 404, "not_found")


# ---------------------------------------------------------------- 5.1, 5.2 collections


def test_collections_are_listed_with_unique_aliases(api: Api) -> None:
    """§5.1.1: the collections list (omitted if there are none; a node always has its own);
    §5.2.1: id, title, can_read, can_write; alias unique within the API root; media_types
    lists what the collection stores."""
    collections = api.call("GET", "/api/collections/").json()["collections"]
    aliases = [c["alias"] for c in collections]
    assert len(set(aliases)) == len(aliases)
    assert "originated-KOR" in aliases
    assert {"received-JPN", "received-USA"} <= set(aliases)
    for c in collections:
        assert c["can_read"] is True
        assert c["can_write"] is (c["alias"] == "originated-KOR")
        assert c["media_types"] == [STIX]
        assert api.call("GET", f"/api/collections/{c['id']}/").json() == c


def test_a_collection_is_found_by_its_alias_too(api: Api) -> None:
    """§5.2.1 alias ("can be used … to alias a collection ID", example
    /{api-root}/collections/critical-high-value-indicators/): gsomia answers a collection's
    routes under its alias as under its id."""
    by_id = api.call("GET", f"{own(api)}/").json()
    assert api.call("GET", "/api/collections/originated-KOR/").json() == by_id
    manifest = api.call("GET", f"{own(api)}/manifest/").json()
    assert api.call("GET", "/api/collections/originated-KOR/manifest/").json() == manifest


def test_an_unknown_collection_is_404(api: Api) -> None:
    """§5.2–§5.8: 404 when the collection id is not found."""
    for path in ("", "manifest/", "objects/", "objects/report--x/", "objects/report--x/versions/"):
        error(api.call("GET", f"/api/collections/2d086da7-4bdc-4f91-900e-d77486753710/{path}"), 404)


def test_collection_ids_are_kept_across_restarts_and_made_for_new_parties(
    procs: dict[str, NodeProc], kor: Node
) -> None:
    """§5.2.1 id (universally and uniquely identifies this collection; §2 a version 4 UUID):
    made at random once per node and stored — the same after the node is opened again, other
    at another node; a collection for an originator new to the node is made once, then kept."""
    again = open_node(
        load_config(procs["KOR"].config), clock=FixedClock(NOW), passphrase=PASSPHRASE.encode()
    )
    other = open_node(
        load_config(procs["JPN"].config), clock=FixedClock(NOW), passphrase=PASSPHRASE.encode()
    )
    try:
        parties = ("KOR", "JPN", "USA")
        assert [again.collection_id(p) for p in parties] == [kor.collection_id(p) for p in parties]
        assert all(is_v4_uuid(kor.collection_id(p)) for p in parties)
        assert not {other.collection_id(p) for p in parties} & {
            kor.collection_id(p) for p in parties
        }
        new = other.collection_id("NZL")
        assert is_v4_uuid(new)
        assert other.collection_id("NZL") == new
        assert "NZL" not in {c.originator for c in kor.collections()}
    finally:
        again.store.close()
        other.store.close()
    reopened = open_node(
        load_config(procs["JPN"].config), clock=FixedClock(NOW), passphrase=PASSPHRASE.encode()
    )
    try:
        assert reopened.collection_id("NZL") == new
        assert [c.alias for c in reopened.collections()][-1] == "received-USA"
    finally:
        reopened.store.close()


# ---------------------------------------------------------------- 5.3 manifest


def test_manifest_records_describe_each_version(api: Api, one: str) -> None:
    """§5.3: filtering applies to the objects the records stand for (match[type]); §5.3.1:
    id (the STIX id), date_added, version (the object's modified), media_type one of the
    collection's media types."""
    body = api.call("GET", f"{own(api)}/manifest/?match[type]=report&match[id]={one}").json()
    [record] = body["objects"]
    obj = api.call("GET", f"{own(api)}/objects/{one}/").json()["objects"][0]
    assert record["id"] == obj["id"]
    assert record["version"] == obj["modified"]
    media_types = api.call("GET", f"{own(api)}/").json()["media_types"]
    assert record["media_type"] in media_types
    assert api.call("GET", f"{own(api)}/manifest/?match[type]=malware").json() == {"more": False}


# ---------------------------------------------------------------- 5.4, 5.6 objects


def test_objects_come_in_an_envelope(api: Api, one: str) -> None:
    """§5.4 and §3.7: STIX content in an envelope (objects, more), even for one object; an
    empty envelope when nothing matches; §5.6: the object-id is the STIX id, and the envelope
    holds its versions."""
    envelope = api.call("GET", f"{own(api)}/objects/?match[id]={one}").json()
    assert envelope["more"] is False
    assert [o["id"] for o in envelope["objects"]] == [one]
    single = api.call("GET", f"{own(api)}/objects/{one}/").json()
    assert single == envelope
    filtered = api.call("GET", f"{own(api)}/objects/{one}/?match[spec_version]=2.0")
    assert filtered.status_code == 200
    assert filtered.json() == {"more": False}


def test_a_missing_or_hidden_object_is_404(api: Api, one: str) -> None:
    """§5.6 (404: object not found, or the client has no access to it) — gsomia answers a
    hidden object exactly as a missing one."""
    missing = one.replace("601", "699")
    hidden = error(api.call("GET", f"{own(api)}/objects/{one}/", user="low"), 404, "not_found")
    gone = error(api.call("GET", f"{own(api)}/objects/{missing}/"), 404, "not_found")
    assert hidden["description"] == gone["description"].replace(missing, one)


# ---------------------------------------------------------------- 5.5 add objects


def test_adding_an_exact_duplicate_is_not_an_error(api: Api) -> None:
    """§5.5: an exact duplicate of an object already in the collection MUST NOT be an error
    for that object."""
    envelope = report(605, releasable_to=("USA",))
    assert post(api, envelope).status_code == 202
    again = post(api, envelope)
    assert again.status_code == 202
    assert again.json()["failure_count"] == 0


def test_adding_to_a_collection_the_client_cannot_write_is_403(api: Api) -> None:
    """§5.5: can_write false → 403 (or 404), with an error resource."""
    response = post(api, report(606, releasable_to=("USA",)), path=received(api))
    error(response, 403, "denied")


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b'{"objects": [', 400),
        (b'{"objects": {}}', 422),
        (b'{"objects": [{"type": "report"}]}', 422),
        (b'{"objects": [], "objects": []}', 422),
    ],
)
def test_a_malformed_or_unprocessable_envelope(api: Api, body: bytes, status: int) -> None:
    """§5.5: 400 when the server did not understand the request (malformed JSON); 422 when
    the content could not be processed (not an envelope, an invalid object, ambiguous JSON)."""
    error(post(api, body), status)


# ---------------------------------------------------------------- 5.7 delete


def test_delete_in_a_read_only_collection_is_403_whatever_the_object(api: Api) -> None:
    """§5.7's table: can_read true, can_write false → 403 — the same for any object id, so it
    tells nothing about what is stored."""
    for stix_id in ("report--00000000-0000-4000-8000-000000000601", "report--nothing"):
        body = error(api.call("DELETE", f"{received(api)}/objects/{stix_id}/"), 403, "denied")
        assert "read-only" in body["description"]


# ---------------------------------------------------------------- 5.8 versions


def test_versions_of_an_object(api: Api, one: str) -> None:
    """§5.8 and §5.8.1: the versions list (each the object's modified), the date-added
    headers, versions omitted when none match; a missing object is 404."""
    response = api.call("GET", f"{own(api)}/objects/{one}/versions/")
    assert response.json() == {"more": False, "versions": ["2026-01-01T00:00:00.000Z"]}
    assert response.headers["X-TAXII-Date-Added-First"]
    none = api.call("GET", f"{own(api)}/objects/{one}/versions/?match[spec_version]=2.0")
    assert none.json() == {"more": False}
    error(api.call("GET", f"{own(api)}/objects/{one}/versions/?match[version]=all"), 400)
    error(api.call("GET", f"{own(api)}/objects/{one.replace('601', '698')}/versions/"), 404)
