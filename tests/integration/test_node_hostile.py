"""Hostile input is refused with the right status, in the one error shape, and nothing stored."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest

from gsomia.app.boot import load_config, open_node
from gsomia.clock import SystemClock
from gsomia.node import federation
from gsomia.node.service import Node
from tests.backends import Backend

from .native_client import collection_at
from .nodes import PASSPHRASE, TAXII, NodeProc, make_nodes, report

HEADERS = {"Accept": TAXII, "Content-Type": TAXII}


@pytest.fixture(scope="module")
def pair(
    tmp_path_factory: pytest.TempPathFactory, backend: Backend
) -> Iterator[dict[str, NodeProc]]:
    nodes = make_nodes(tmp_path_factory.mktemp("hostile"), backend=backend)
    for party in ("KOR", "JPN"):
        nodes[party].start()
    try:
        yield nodes
    finally:
        for node in nodes.values():
            node.stop()


def own(node: NodeProc) -> str:
    return f"{node.api_root}collections/{collection_at(node)}/objects/"


def count(node: NodeProc) -> int:
    r = httpx.get(own(node) + "?match[version]=all&limit=1000", headers=HEADERS, auth=node.auth())
    return len(r.json().get("objects", []))


def refused(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"title", "description", "error_code", "http_status"}
    assert body["http_status"] == str(status)
    assert "Traceback" not in r.text
    return dict(body)


def test_malformed_json(pair: dict[str, NodeProc]) -> None:
    kor = pair["KOR"]
    before = count(kor)
    body = refused(
        httpx.post(own(kor), headers=HEADERS, auth=kor.auth(), content=b'{"objects": [}'), 400
    )
    assert "malformed JSON" in body["description"]
    refused(httpx.post(own(kor), headers=HEADERS, auth=kor.auth(), content=b'{"objects": 3}'), 422)
    assert count(kor) == before


def test_wrong_media_types(pair: dict[str, NodeProc]) -> None:
    kor = pair["KOR"]
    refused(httpx.get(own(kor), headers={"Accept": "text/html"}, auth=kor.auth()), 406)
    refused(
        httpx.get(
            own(kor), headers={"Accept": "application/taxii+json;version=2.0"}, auth=kor.auth()
        ),
        406,
    )
    refused(
        httpx.post(
            own(kor),
            headers={"Accept": TAXII, "Content-Type": "application/json"},
            auth=kor.auth(),
            content=orjson.dumps(report(1)),
        ),
        415,
    )


def test_oversized_body(pair: dict[str, NodeProc]) -> None:
    kor = pair["KOR"]
    before = count(kor)
    huge = report(2, description="x" * (2 * 1024 * 1024))
    refused(httpx.post(own(kor), headers=HEADERS, auth=kor.auth(), content=orjson.dumps(huge)), 413)
    assert count(kor) == before


def test_authentication(pair: dict[str, NodeProc]) -> None:
    kor, jpn = pair["KOR"], pair["JPN"]
    refused(httpx.get(own(kor), headers=HEADERS), 401)
    assert "WWW-Authenticate" in httpx.get(own(kor), headers=HEADERS).headers
    refused(httpx.get(own(kor), headers=HEADERS, auth=("analyst", "wrong")), 401)
    # a token of another party's node is unknown here
    refused(httpx.get(own(kor), headers=HEADERS, auth=jpn.auth()), 401)
    refused(
        httpx.get(own(kor), headers={**HEADERS, "Authorization": f"Bearer {jpn.users['analyst']}"}),
        401,
    )
    ok = httpx.get(own(kor), headers={**HEADERS, "Authorization": f"Bearer {kor.users['analyst']}"})
    assert ok.status_code == 200


def test_script_in_stix_structure_is_refused(pair: dict[str, NodeProc]) -> None:
    kor = pair["KOR"]
    before = count(kor)
    for key, value in (
        ("type", "<script>alert(1)</script>"),
        ("id", "report--<script>"),
        ("<script>", "x"),
        ("created", "<script>"),
    ):
        envelope = report(3)
        envelope["objects"][2][key] = value
        refused(
            httpx.post(own(kor), headers=HEADERS, auth=kor.auth(), content=orjson.dumps(envelope)),
            422,
        )
    assert count(kor) == before


def test_script_in_free_text_is_data_served_as_json(pair: dict[str, NodeProc]) -> None:
    kor = pair["KOR"]
    script = "<script>alert('gsomia')</script>"
    r = httpx.post(
        own(kor),
        headers=HEADERS,
        auth=kor.auth(),
        content=orjson.dumps(report(4, description=script)),
    )
    assert r.status_code == 202
    got = httpx.get(
        own(kor) + "?match[id]=report--00000000-0000-4000-8000-000000000004",
        headers=HEADERS,
        auth=kor.auth(),
    )
    assert got.headers["content-type"] == TAXII
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.json()["objects"][0]["description"] == script


def test_writes_only_to_the_own_collection_and_unknown_collections(
    pair: dict[str, NodeProc],
) -> None:
    kor = pair["KOR"]
    received = f"{kor.api_root}collections/{collection_at(kor, 'JPN')}/objects/"
    refused(
        httpx.post(received, headers=HEADERS, auth=kor.auth(), content=orjson.dumps(report(5))), 403
    )
    refused(
        httpx.get(f"{kor.api_root}collections/nope/objects/", headers=HEADERS, auth=kor.auth()), 404
    )
    refused(httpx.get(own(kor) + "?limit=zero", headers=HEADERS, auth=kor.auth()), 400)
    refused(httpx.get(own(kor) + "?next=garbage", headers=HEADERS, auth=kor.auth()), 400)


def test_a_label_from_another_originator_is_refused(pair: dict[str, NodeProc]) -> None:
    kor = pair["KOR"]
    body = refused(
        httpx.post(
            own(kor),
            headers=HEADERS,
            auth=kor.auth(),
            content=orjson.dumps(report(6, originator="JPN")),
        ),
        422,
    )
    assert "only KOR originates" in body["description"]
    envelope = report(7)
    envelope["objects"][2]["object_marking_refs"] = []
    refused(
        httpx.post(own(kor), headers=HEADERS, auth=kor.auth(), content=orjson.dumps(envelope)), 422
    )


PUSH = "/peer/v1/releases"


def push(node: NodeProc, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        f"{node.url}{PUSH}",
        content=body,
        headers={**headers, "Content-Type": "application/json"},
    )


def test_forged_and_replayed_peer_requests(pair: dict[str, NodeProc], usa_offline: Node) -> None:
    kor, jpn = pair["KOR"], pair["JPN"]
    # KOR publishes; JPN receives it through the real pusher.
    assert (
        httpx.post(
            own(kor), headers=HEADERS, auth=kor.auth(), content=orjson.dumps(report(8))
        ).status_code
        == 202
    )
    body = federation.push_body([b"not a sealed item"])
    now = SystemClock().now()
    headers = federation.sign_request(usa_offline, "JPN", body, now, method="POST", target=PUSH)
    # a forged signature: the body changed after signing
    refused(push(jpn, federation.push_body([b"other"]), headers), 401)
    # a signature by USA claimed to come from KOR
    refused(push(jpn, body, {**headers, "X-Gsomia-Party": "KOR"}), 401)
    # a replay outside the window
    stale = federation.sign_request(
        usa_offline, "JPN", body, now - timedelta(minutes=10), method="POST", target=PUSH
    )
    refused(push(jpn, body, stale), 401)
    # signed correctly, but the item is garbage: verification refuses, nothing stored
    refused(push(jpn, body, headers), 422)
    # no signature at all
    refused(push(jpn, body, {}), 401)


def test_a_replayed_release_is_a_no_op(pair: dict[str, NodeProc]) -> None:
    kor, jpn = pair["KOR"], pair["JPN"]
    assert (
        httpx.post(
            own(kor), headers=HEADERS, auth=kor.auth(), content=orjson.dumps(report(9))
        ).status_code
        == 202
    )
    item_id = "report--00000000-0000-4000-8000-000000000009/2026-01-01T00:00:00.000Z"
    received = f"{jpn.api_root}collections/{collection_at(jpn, 'KOR')}/objects/?match[version]=all&limit=1000"
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        ids = [
            o["id"]
            for o in httpx.get(received, headers=HEADERS, auth=jpn.auth()).json().get("objects", [])
        ]
        if "report--00000000-0000-4000-8000-000000000009" in ids:
            break
        time.sleep(0.05)
    before = len(ids)
    kor_node = open_node(load_config(kor.config), passphrase=PASSPHRASE.encode(), verify_log=False)
    try:
        with kor_node.store.reading() as reader:
            found = reader.item(item_id)
        assert found is not None
        body = federation.push_body([found[1]])
        signed = federation.sign_request(
            kor_node, "JPN", body, SystemClock().now(), method="POST", target=PUSH
        )
        r = push(jpn, body, signed)
    finally:
        kor_node.store.close()
    assert r.status_code == 200, r.text
    assert r.json()["results"] == [{"item": item_id, "result": "duplicate"}]
    after = httpx.get(received, headers=HEADERS, auth=jpn.auth()).json().get("objects", [])
    assert len(after) == before
