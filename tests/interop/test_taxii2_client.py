"""The OASIS TAXII 2.1 client (taxii2-client, ``taxii2client.v21``) on every endpoint of a live
node, with every filter the library sends, its paging helper, and the unhappy paths: what an
analyst's own tool meets when pointed at a gsomia node.

Collections are found the way a client finds them, through ``ApiRoot.collections``; their ids
are never computed here."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from requests import HTTPError, PreparedRequest
from requests.auth import AuthBase
from taxii2client.exceptions import AccessError
from taxii2client.v21 import Collection, Server, as_pages

from gsomia.cli.demo import DemoNode
from gsomia.node.stix import GSOMIA_LABEL_EXTENSION, extension_definition, label_marking
from gsomia.scenarios import load_scenario
from tests.integration.native_client import ERROR_KEYS, wait_until
from tests.integration.nodes import POLICY, SECRET_LEVEL, TAXII, NodeProc, make_nodes, running

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = re.compile(r"^## Use it from your tools\n(.*?)^## ", re.DOTALL | re.MULTILINE)
PYTHON = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
SH = re.compile(r"^```sh\n(.*?)^```", re.DOTALL | re.MULTILINE)
#: Three versions of one launch report: the first, a revision, a correction at .500 s.
V1, V2, V3 = "2026-01-01T00:00:00.000Z", "2026-01-02T00:00:00.000Z", "2026-01-03T00:00:00.500Z"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, NodeProc]]:
    nodes = make_nodes(tmp_path_factory.mktemp("taxii2client"), ("KOR", "JPN"))
    with running(nodes):
        yield nodes


def server(node: NodeProc, user: str = "analyst", password: str | None = None) -> Any:
    return Server(f"{node.url}/taxii2/", user=user, password=password or node.users[user])


def root_of(node: NodeProc, user: str = "analyst") -> Any:
    return server(node, user).default


def own(root: Any) -> Any:
    """The node's own collection: the one collection a client may write to."""
    [writable] = [c for c in root.collections if c.can_write]
    return writable


def received_from(root: Any, party: str) -> Any:
    [found] = [c for c in root.collections if c.alias == f"received-{party}"]
    return found


KOR_IDENTITY = str(load_scenario("historical").policy("KOR").identity)


def launch_report(*, modified: str = V1, stix_id: str | None = None) -> dict[str, Any]:
    """A report of a launch, as KOR's analysts would write one."""
    return {
        "type": "report",
        "spec_version": "2.1",
        "id": stix_id or f"report--{uuid.uuid4()}",
        "created": V1,
        "modified": modified,
        "name": "DPRK ballistic missile launch, Sunan",
        "description": "One short-range ballistic missile launched eastward at 06:57 KST; "
        "flew about 350 km, apogee about 50 km.",
        "published": modified,
        "report_types": ["threat-report"],
        "created_by_ref": KOR_IDENTITY,
        "object_refs": [KOR_IDENTITY],  # served by every collection of KOR's items
    }


def envelope(*reports: dict[str, Any], releasable_to: tuple[str, ...] = ("JPN",)) -> dict[str, Any]:
    """An envelope with the reports under one gsomia label, as a client posts them: the label
    marking and gsomia's extension-definition beside the objects they mark."""
    marking = label_marking(
        policy=POLICY["KOR"],
        originator="KOR",
        classification=SECRET_LEVEL["KOR"],
        releasable_to=releasable_to,
        topics=("dprk.missile",),
        created=V1,
    )
    marked = [{**r, "object_marking_refs": [marking["id"]]} for r in reports]
    return {"objects": [extension_definition(), marking, *marked]}


def refused(error: pytest.ExceptionInfo[HTTPError], status: int) -> dict[str, Any]:
    """The TAXII error resource of a refusal the client raised as an HTTPError."""
    response = error.value.response
    assert response is not None
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == TAXII
    body = dict(response.json())
    assert set(body) == ERROR_KEYS, body
    assert body["http_status"] == str(status)
    return body


def ids(resource: dict[str, Any]) -> list[str]:
    return [o["id"] for o in resource.get("objects", [])]


def modified(resource: dict[str, Any]) -> list[str]:
    return [o["modified"] for o in resource.get("objects", [])]


@pytest.fixture(scope="module")
def versioned(pair: dict[str, NodeProc]) -> str:
    """A report published in three versions at KOR, one envelope each; its id."""
    collection = own(root_of(pair["KOR"]))
    stix_id = f"report--{uuid.uuid4()}"
    for version in (V1, V2, V3):
        status = collection.add_objects(envelope(launch_report(modified=version, stix_id=stix_id)))
        assert status.status == "complete", status._raw
    return stix_id


# ---------------------------------------------------------------- discovery, API root, collections


def test_discovery_api_root_and_collections(pair: dict[str, NodeProc]) -> None:
    kor = pair["KOR"]
    found = server(kor)
    assert found.title == "gsomia node KOR"
    assert found.description
    [root] = found.api_roots
    assert found.default is root
    assert root.url == f"{kor.url}/api/"
    assert root.title == "KOR exchange"
    assert root.versions == [TAXII]
    assert root.max_content_length == 1048576
    collections = root.collections
    assert {(c.alias, c.title) for c in collections} == {
        ("originated-KOR", "KOR: originated here"),
        ("received-JPN", "KOR: received from JPN"),
        ("received-USA", "KOR: received from USA"),
    }
    for c in collections:
        assert c.can_read
        assert c.media_types == ["application/stix+json;version=2.1"]
        assert c.url == f"{root.url}collections/{c.id}/"
    assert own(root).title == "KOR: originated here"
    # refresh asks the server again: the same API root and the same collections
    root.refresh()
    assert root.title == "KOR exchange"
    assert [c.id for c in root.collections] == [c.id for c in collections]
    # a Collection made from its URL alone loads its information from the server
    alone = Collection(own(root).url, user="analyst", password=kor.users["analyst"])
    assert (alone.id, alone.title, alone.can_write) == (own(root).id, own(root).title, True)
    alone.refresh()
    assert alone.can_read


# ---------------------------------------------------------------- add objects and status


def test_add_objects_answers_a_status_the_client_follows(pair: dict[str, NodeProc]) -> None:
    root = root_of(pair["KOR"])
    report = launch_report()
    posted = envelope(report)
    status = own(root).add_objects(posted, wait_for_completion=False)
    assert status.status == "complete"
    assert bool(status)
    assert (status.total_count, status.success_count, status.failure_count) == (3, 3, 0)
    assert status.pending_count == 0
    assert {s["id"] for s in status.successes} == {o["id"] for o in posted["objects"]}
    assert status.failures == []
    assert status.pendings == []
    assert status.url == f"{root.url}status/{status.id}/"
    status.refresh()
    assert status.status == "complete"
    status.wait_until_final(poll_interval=0, timeout=5)  # already final: no polling
    assert status.success_count == 3
    again = root.get_status(status.id)
    assert (again.id, again.status, again.total_count) == (status.id, "complete", 3)
    # posted as a string too (the library sends str, bytes or dict as they are)
    second = own(root).add_objects(
        json.dumps(envelope(launch_report())), poll_interval=0, timeout=5
    )
    assert second.status == "complete"


def test_a_status_is_for_the_user_who_published(pair: dict[str, NodeProc]) -> None:
    kor = pair["KOR"]
    status = own(root_of(kor)).add_objects(envelope(launch_report()))
    with pytest.raises(HTTPError, match="404") as error:
        root_of(kor, "admin").get_status(status.id)
    assert refused(error, 404)["error_code"] == "not_found"
    with pytest.raises(HTTPError, match="404") as missing:
        root_of(kor).get_status(str(uuid.uuid4()))
    assert refused(missing, 404)["error_code"] == "not_found"


# ---------------------------------------------------------------- get objects and its filters


def test_get_objects_with_every_filter(pair: dict[str, NodeProc], versioned: str) -> None:
    collection = own(root_of(pair["KOR"]))
    a, b = launch_report(), launch_report()
    collection.add_objects(envelope(a, b))
    both = [a["id"], b["id"]]
    assert sorted(ids(collection.get_objects(id=both))) == sorted(both)
    assert ids(collection.get_objects(id=a["id"])) == [a["id"]]
    types = {
        o["type"] for o in collection.get_objects(type=["report", "marking-definition"])["objects"]
    }
    assert types == {"report", "marking-definition"}
    assert ids(collection.get_objects(id=both, type="marking-definition")) == []
    # match[version]: last by default, first, all, an explicit one, several at once
    assert modified(collection.get_objects(id=versioned)) == [V3]
    assert modified(collection.get_objects(id=versioned, version="last")) == [V3]
    assert modified(collection.get_objects(id=versioned, version="first")) == [V1]
    assert modified(collection.get_objects(id=versioned, version="all")) == [V1, V2, V3]
    assert modified(collection.get_objects(id=versioned, version=V2)) == [V2]
    assert modified(collection.get_objects(id=versioned, version=["first", "last"])) == [V1, V3]
    assert modified(collection.get_objects(id=versioned, version=[V1, V3])) == [V1, V3]
    # match[spec_version]: every object a node serves is STIX 2.1
    assert sorted(ids(collection.get_objects(id=both, spec_version="2.1"))) == sorted(both)
    assert ids(collection.get_objects(id=both, spec_version="2.0")) == []
    assert sorted(ids(collection.get_objects(id=both, spec_version=["2.0", "2.1"]))) == sorted(both)


def test_explicit_versions_are_instants_however_the_client_writes_them(
    pair: dict[str, NodeProc], versioned: str
) -> None:
    """taxii2-client writes a datetime with no fraction when it has none ("…:00Z"), and a
    client may write .5 for .500: the same instants as the stored versions."""
    collection = own(root_of(pair["KOR"]))
    second = datetime(2026, 1, 2, tzinfo=UTC)
    assert modified(collection.get_objects(id=versioned, version=second)) == [V2]
    assert modified(collection.get_object(versioned, version="2026-01-02T00:00:00Z")) == [V2]
    half = "2026-01-03T00:00:00.5Z"
    assert modified(collection.get_objects(id=versioned, version=[V1, half])) == [V1, V3]
    assert modified(
        collection.get_objects(id=versioned, version="2026-01-03T00:00:00.500000Z")
    ) == [V3]
    # a sub-millisecond instant is no STIX 2.1 version: nothing is that version
    assert (
        modified(collection.get_objects(id=versioned, version="2026-01-03T00:00:00.500001Z")) == []
    )


def test_added_after_as_string_and_as_datetime(pair: dict[str, NodeProc]) -> None:
    collection = own(root_of(pair["KOR"]))
    first, later = launch_report(), launch_report()
    collection.add_objects(envelope(first))
    [record] = collection.get_manifest(id=first["id"])["objects"]
    collection.add_objects(envelope(later))
    after = collection.get_objects(added_after=record["date_added"], type="report")
    assert first["id"] not in ids(after)
    assert later["id"] in ids(after)
    # a datetime, as the library takes it: written back with its microseconds
    since = datetime.fromisoformat(record["date_added"])
    assert later["id"] in ids(collection.get_objects(added_after=since))
    everything = collection.get_objects(added_after=datetime(2000, 1, 1, tzinfo=UTC), type="report")
    assert {first["id"], later["id"]} <= set(ids(everything))


def test_limit_and_next_by_hand(pair: dict[str, NodeProc]) -> None:
    collection = own(root_of(pair["KOR"]))
    reports = [launch_report() for _ in range(5)]
    collection.add_objects(envelope(*reports))
    wanted = [r["id"] for r in reports]
    since = "2000-01-01T00:00:00.000Z"
    page = collection.get_objects(id=wanted, limit=2, added_after=since)
    seen = ids(page)
    assert len(seen) == 2
    while page["more"]:
        # the same filters again with next, as the specification asks (and OpenCTI does)
        page = collection.get_objects(id=wanted, limit=2, added_after=since, next=page["next"])
        assert len(ids(page)) <= 2
        seen += ids(page)
    assert "next" not in page
    assert sorted(seen) == sorted(wanted)


def test_as_pages_over_a_few_hundred_objects(pair: dict[str, NodeProc]) -> None:
    collection = own(root_of(pair["KOR"]))
    reports = [launch_report() for _ in range(300)]
    status = collection.add_objects(envelope(*reports, releasable_to=()), poll_interval=0)
    assert (status.status, status.success_count) == ("complete", 302)
    seen: list[str] = []
    pages = 0
    for page in as_pages(collection.get_objects, per_request=40, type="report"):
        pages += 1
        assert len(ids(page)) <= 40
        assert page["more"] == ("next" in page)
        seen += ids(page)
    assert not page["more"]
    assert len(seen) == len(set(seen))  # no object twice across pages
    assert {r["id"] for r in reports} <= set(seen)
    assert pages >= 8  # 300 reports, 40 a page
    manifest_ids: list[str] = []
    for page in as_pages(collection.get_manifest, per_request=100, type="report"):
        assert len(page.get("objects", [])) <= 100
        manifest_ids += [m["id"] for m in page.get("objects", [])]
    assert sorted(manifest_ids) == sorted(seen)


# ---------------------------------------------------------------- one object, versions, manifest


def test_get_object_and_its_versions(pair: dict[str, NodeProc], versioned: str) -> None:
    collection = own(root_of(pair["KOR"]))
    assert modified(collection.get_object(versioned)) == [V3]
    assert modified(collection.get_object(versioned, version="first")) == [V1]
    assert modified(collection.get_object(versioned, version="all")) == [V1, V2, V3]
    assert modified(collection.get_object(versioned, version=V2)) == [V2]
    assert modified(collection.get_object(versioned, spec_version="2.0")) == []
    assert collection.object_versions(versioned) == {"more": False, "versions": [V1, V2, V3]}
    assert collection.object_versions(versioned, spec_version="2.0") == {"more": False}
    [first, *_] = collection.get_manifest(id=versioned, version="all")["objects"]
    later = collection.object_versions(versioned, added_after=first["date_added"])
    assert later["versions"] == [V2, V3]
    one = collection.object_versions(versioned, limit=1)
    assert (one["more"], one["versions"]) == (True, [V1])
    rest = collection.object_versions(versioned, limit=1, next=one["next"])
    assert rest["versions"] == [V2]


def test_as_pages_over_versions(pair: dict[str, NodeProc], versioned: str) -> None:
    """as_pages counts ``objects``, which a versions resource does not have: after the first
    page it drops the limit (and logs a warning) and follows ``next`` with the server's own
    page size; every version still comes once."""
    collection = own(root_of(pair["KOR"]))
    pages = list(as_pages(collection.object_versions, 1, versioned))
    assert pages[0]["versions"] == [V1]
    assert [v for p in pages for v in p.get("versions", [])] == [V1, V2, V3]
    assert not pages[-1]["more"]


def test_manifest_with_filters(pair: dict[str, NodeProc], versioned: str) -> None:
    collection = own(root_of(pair["KOR"]))
    records = collection.get_manifest(id=versioned, version="all")["objects"]
    assert [r["version"] for r in records] == [V1, V2, V3]
    assert all(r["media_type"] == "application/stix+json;version=2.1" for r in records)
    assert [r["date_added"] for r in records] == sorted(r["date_added"] for r in records)
    assert [r["version"] for r in collection.get_manifest(id=versioned)["objects"]] == [V3]
    assert [
        r["version"] for r in collection.get_manifest(id=versioned, version="first")["objects"]
    ] == [V1]
    after = collection.get_manifest(
        id=versioned, version="all", added_after=records[0]["date_added"]
    )
    assert [r["version"] for r in after["objects"]] == [V2, V3]
    assert collection.get_manifest(id=versioned, spec_version="2.0") == {"more": False}
    paged = [
        r["version"]
        for page in as_pages(collection.get_manifest, per_request=1, id=versioned, version="all")
        for r in page.get("objects", [])
    ]
    assert paged == [V1, V2, V3]


# ---------------------------------------------------------------- refusals


def test_delete_is_refused_with_an_error_resource(
    pair: dict[str, NodeProc], versioned: str
) -> None:
    kor = pair["KOR"]
    collection = own(root_of(kor))
    with pytest.raises(HTTPError, match="403") as error:
        collection.delete_object(versioned)
    body = refused(error, 403)
    assert body["error_code"] == "denied"
    assert "append-only" in body["description"]
    assert modified(collection.get_object(versioned, version="all")) == [V1, V2, V3]
    with pytest.raises(HTTPError, match="404") as missing:
        collection.delete_object(f"report--{uuid.uuid4()}")
    assert refused(missing, 404)["error_code"] == "not_found"


def test_an_object_hidden_from_the_user_answers_as_a_missing_one(
    pair: dict[str, NodeProc], versioned: str
) -> None:
    """``low`` (need-to-know dprk.nuclear only) may not see missile reports."""
    collection = own(root_of(pair["KOR"], "low"))
    absent = f"report--{uuid.uuid4()}"  # never stored; an id as long as the hidden one
    for call in (
        collection.get_object,
        collection.object_versions,
        collection.delete_object,
    ):
        with pytest.raises(HTTPError, match="404") as hidden:
            call(versioned)
        with pytest.raises(HTTPError, match="404") as missing:
            call(absent)
        assert refused(hidden, 404) == {
            k: v.replace(absent, versioned) if isinstance(v, str) else v
            for k, v in refused(missing, 404).items()
        }
    assert versioned not in ids(collection.get_objects(version="all"))
    assert collection.get_objects(id=versioned) == {"more": False}
    assert collection.get_manifest(id=versioned) == {"more": False}


def test_a_received_collection_is_read_only(pair: dict[str, NodeProc]) -> None:
    root = root_of(pair["KOR"])
    from_jpn = received_from(root, "JPN")
    assert not from_jpn.can_write
    # the library trusts the collection's can_write and refuses before sending anything
    with pytest.raises(AccessError, match="does not allow writing"):
        from_jpn.add_objects(envelope(launch_report()))
    # sent anyway, on the library's own connection: the server refuses with 403
    with pytest.raises(HTTPError, match="403") as error:
        from_jpn._conn.post(
            from_jpn.objects_url,
            headers={"Accept": TAXII, "Content-Type": TAXII},
            json=envelope(launch_report()),
        )
    assert refused(error, 403)["error_code"] == "denied"


def test_unknown_collection_is_404(pair: dict[str, NodeProc]) -> None:
    kor = pair["KOR"]
    url = f"{kor.url}/api/collections/{uuid.uuid4()}/"
    with pytest.raises(HTTPError, match="404") as error:
        Collection(url, user="analyst", password=kor.users["analyst"]).refresh()
    assert refused(error, 404)["error_code"] == "not_found"
    ghost = Collection(
        url,
        user="analyst",
        password=kor.users["analyst"],
        collection_info={
            "id": url.rstrip("/").rsplit("/", 1)[1],
            "title": "ghost",
            "can_read": True,
            "can_write": True,
        },
    )
    with pytest.raises(HTTPError, match="404"):
        ghost.get_objects()
    with pytest.raises(HTTPError, match="404"):
        ghost.add_objects(envelope(launch_report()))


@pytest.mark.parametrize(
    ("filters", "named"),
    [
        ({"added_after": "yesterday"}, "added_after"),
        ({"version": "newest"}, "match[version]"),
        ({"version": "2026-02-30T00:00:00.000Z"}, "match[version]"),
        ({"limit": -1}, "limit"),
        ({"next": "not-a-cursor"}, "next"),
    ],
)
def test_bad_filter_values_are_400(
    pair: dict[str, NodeProc], filters: dict[str, Any], named: str
) -> None:
    collection = own(root_of(pair["KOR"]))
    for call in (collection.get_objects, collection.get_manifest):
        with pytest.raises(HTTPError, match="400") as error:
            call(**filters)
        body = refused(error, 400)
        assert body["description"].startswith(named), body


def test_wrong_password_is_401(pair: dict[str, NodeProc]) -> None:
    """One failed attempt only: a node throttles failed credentials per address."""
    with pytest.raises(HTTPError, match="401") as error:
        _ = server(pair["KOR"], password="not the token").title
    assert refused(error, 401)["error_code"] == "unauthorized"
    assert error.value.response is not None
    assert "Basic" in error.value.response.headers["WWW-Authenticate"]


# ---------------------------------------------------------------- between two nodes


def test_released_to_the_peer_is_readable_there_with_the_client(pair: dict[str, NodeProc]) -> None:
    kor, jpn = pair["KOR"], pair["JPN"]
    report = launch_report()
    own(root_of(kor)).add_objects(envelope(report, releasable_to=("JPN",)))
    at_jpn = received_from(root_of(jpn), "KOR")
    assert not at_jpn.can_write

    def arrived() -> dict[str, Any] | None:
        found = at_jpn.get_objects(id=report["id"])
        return found if found.get("objects") else None

    [obj] = wait_until(arrived, f"{report['id']} at JPN")["objects"]
    assert (obj["name"], obj["modified"]) == (report["name"], report["modified"])
    markings = {
        o["id"]: o["extensions"][GSOMIA_LABEL_EXTENSION]
        for o in at_jpn.get_objects(type="marking-definition")["objects"]
        if GSOMIA_LABEL_EXTENSION in o.get("extensions", {})
    }
    labels = [markings[ref] for ref in obj["object_marking_refs"]]
    assert {label.get("party") for label in labels} >= {"JPN"}  # JPN's equivalent, beside KOR's
    assert at_jpn.get_object(report["id"])["objects"][0]["id"] == report["id"]
    assert at_jpn.object_versions(report["id"])["versions"] == [report["modified"]]
    assert report["id"] in [m["id"] for m in at_jpn.get_manifest(id=report["id"])["objects"]]
    with pytest.raises(HTTPError, match="403") as error:
        at_jpn._conn.delete(at_jpn.objects_url + report["id"] + "/", headers={"Accept": TAXII})
    assert refused(error, 403)["error_code"] == "denied"


class Bearer(AuthBase):
    """``Authorization: Bearer TOKEN``, as OpenCTI's "bearer token" feeds send it."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, r: PreparedRequest) -> PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.token}"
        return r


def test_a_bearer_token_works_as_basic_does(pair: dict[str, NodeProc]) -> None:
    kor = pair["KOR"]
    found = Server(f"{kor.url}/taxii2/", auth=Bearer(kor.users["analyst"]))
    collection = own(found.default)
    report = launch_report()
    assert collection.add_objects(envelope(report)).status == "complete"
    assert ids(collection.get_object(report["id"])) == [report["id"]]


# ---------------------------------------------------------------- the README's example


def test_readme_use_it_from_your_tools_runs_as_written(
    pair: dict[str, NodeProc], tmp_path: Path
) -> None:
    """The README's taxii2-client and MISP examples, run as written against JPN, with a
    demo.json written as ``gsomia demo`` writes it."""
    kor, jpn = pair["KOR"], pair["JPN"]
    report = launch_report()
    own(root_of(kor)).add_objects(envelope(report))
    at_jpn = received_from(root_of(jpn), "KOR")
    wait_until(lambda: at_jpn.get_objects(id=report["id"]).get("objects"), "the report at JPN")
    described = DemoNode("JPN", jpn.port, jpn.data, jpn.config, None, jpn.users["analyst"], "-")
    (tmp_path / "demo-data").mkdir()
    (tmp_path / "demo-data" / "demo.json").write_text(
        json.dumps({"nodes": {"JPN": described.describe()}}), encoding="utf-8"
    )
    found = SECTION.search(README.read_text(encoding="utf-8"))
    assert found is not None, "README: no '## Use it from your tools' section"
    python = PYTHON.findall(found.group(1))
    assert len(python) == 2  # the taxii2-client example, then the MISP bundle continuing it
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    ran = subprocess.run(
        [sys.executable, "-c", "\n".join(python)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert f"{report['modified']} {report['name']}" in ran.stdout.splitlines()
    bundle = json.loads((tmp_path / "from-kor.json").read_text(encoding="utf-8"))
    assert bundle["type"] == "bundle"
    assert report["id"] in {o["id"] for o in bundle["objects"]}
    [sh] = SH.findall(found.group(1))
    converted = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", sh],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert converted.returncode == 0, converted.stdout + converted.stderr
    assert sorted(p.name for p in tmp_path.glob("from-kor.json.*")), converted.stdout
    assert "error" not in converted.stdout.lower(), converted.stdout  # every reference resolves
