"""The native API, the log's routes, the event stream's refusals and the edge guard through the
node's ASGI application in process: each route's answer and each refusal in the one error shape."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson
import pytest

from gsomia.api.guard import Guard
from gsomia.clock import FixedClock
from gsomia.console.session import MAX_FORM
from gsomia.node.throttle import Throttle, address_key, user_key
from tests.integration.nodes import TAXII, report
from tests.unit.api.conftest import NOW, Api

if TYPE_CHECKING:
    from starlette.types import Message, Scope

OWN = "/api/collections/originated-KOR"  # its alias (TAXII 2.1 §5.2.1)
ITEM = "report--00000000-0000-4000-8000-000000000001/2026-01-01T00:00:00.000Z"
JSON = {"Accept": "application/json"}


def error(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert (body["error_code"], body["http_status"]) == (code, str(status))
    return str(body["description"])


def native(api: Api, method: str, path: str, user: str = "admin", **kw: Any) -> Any:
    return api.call(method, f"/native/v1{path}", user=user, taxii=False, **kw)


@pytest.fixture(scope="module")
def item(api: Api) -> str:
    envelope = report(1, releasable_to=("USA",))
    response = api.call(
        "POST", f"{OWN}/objects/", content=orjson.dumps(envelope), headers={"Content-Type": TAXII}
    )
    assert response.status_code == 202, response.text
    return ITEM


# ---------------------------------------------------------------------- native API
def test_agreements_and_the_timeline(api: Api) -> None:
    now = native(api, "GET", "/agreements").json()
    assert {a["id"] for a in now} >= {"jpn-kor-gsomia-2016"}
    then = native(api, "GET", "/agreements", params={"at": "2018-01-01T00:00:00+09:00"}).json()
    gsomia = next(a for a in then if a["id"] == "jpn-kor-gsomia-2016")
    assert gsomia["state"] != next(a for a in now if a["id"] == gsomia["id"])["state"]
    bad = native(api, "GET", "/agreements", params={"at": "2018-01-01"})
    assert error(bad, 422, "bad_input").startswith("at: ")
    timeline = native(api, "GET", "/timeline", params={"until": "2000-01-01T00:00:00Z"}).json()
    assert timeline["scenario"] == "lapse-2019"
    assert timeline["until"].startswith("2000-01-01T")
    assert 0 < len(timeline["entries"]) < len(native(api, "GET", "/timeline").json()["entries"])
    assert error(native(api, "GET", "/timeline", params={"until": "x"}), 422, "bad_input")


def test_why_not_and_item_details(api: Api, item: str) -> None:
    usa = native(api, "GET", "/why-not", params={"item": item, "party": "USA"}).json()
    assert usa["decision"] == "allow"
    jpn = native(api, "GET", "/why-not", params={"item": item, "party": "JPN"}).json()
    assert jpn["decision"] == "deny"
    assert jpn["reasons"]
    own = native(api, "GET", "/why-not", params={"item": item, "party": "KOR"})
    assert "is this node" in error(own, 422, "bad_input")
    lower = native(api, "GET", "/why-not", params={"item": item, "party": "usa"})
    assert error(lower, 422, "bad_input").startswith("query.party: ")
    hidden = native(api, "GET", "/why-not", user="low", params={"item": item, "party": "USA"})
    other = item.replace("0001/", "0999/")
    missing = native(api, "GET", "/why-not", params={"item": other, "party": "USA"})
    assert error(hidden, 404, "not_found") == error(missing, 404, "not_found").replace(other, item)
    details = native(api, "GET", f"/items/{item}").json()
    assert details["originator"] == "KOR"
    assert error(native(api, "GET", f"/items/{item}", user="low"), 404, "not_found")
    assert "no item 'nothing' at KOR" in error(
        native(api, "GET", "/items/nothing"), 404, "not_found"
    )


def test_consent_requests_at_the_originator(api: Api, item: str) -> None:
    assert native(api, "GET", "/consent-requests", params={"box": "inbox"}).json() == []
    assert native(api, "GET", "/consent-requests").json() == []
    assert error(native(api, "GET", "/consent-requests", user="analyst"), 403, "denied")
    box = native(api, "GET", "/consent-requests", params={"box": "spam"})
    assert error(box, 422, "bad_input").startswith("query.box: ")
    mine = native(api, "POST", "/consent-requests", json={"item": item, "recipient": "JPN"})
    assert "it needs no one's consent" in error(mine, 422, "bad_input")
    extra = native(
        api, "POST", "/consent-requests", json={"item": item, "recipient": "JPN", "x": 1}
    )
    assert error(extra, 422, "bad_input").startswith("body.x: ")
    rid = "00000000-0000-4000-8000-000000000000"
    assert "no consent request" in error(
        native(api, "GET", f"/consent-requests/{rid}"), 404, "not_found"
    )
    grant = native(api, "POST", f"/consent-requests/{rid}/grant")
    assert "no consent request" in error(grant, 404, "not_found")
    refuse = native(api, "POST", f"/consent-requests/{rid}/refuse", json={"reason": "no"})
    assert "no consent request" in error(refuse, 404, "not_found")
    empty = native(api, "POST", f"/consent-requests/{rid}/refuse", json={"reason": ""})
    assert error(empty, 422, "bad_input").startswith("body.reason: ")
    expiry = native(api, "POST", f"/consent-requests/{rid}/grant", json={"expires_at": "soon"})
    assert error(expiry, 422, "bad_input").startswith("expires_at: ")


def test_reports_and_notices(api: Api, item: str) -> None:
    assert native(api, "GET", "/reports").json() == {"sent": [], "received": []}
    own = native(api, "POST", "/reports", json={"item": item, "kind": "loss", "detail": "gone"})
    assert "reports go to the originator" in error(own, 422, "bad_input")
    kind = native(api, "POST", "/reports", json={"item": item, "kind": "theft", "detail": "x"})
    assert error(kind, 422, "bad_input").startswith("body.kind: ")
    surrogate = b'{"item": "\\ud800abc", "kind": "loss", "detail": "x"}'
    lone = native(
        api, "POST", "/reports", content=surrogate, headers={"Content-Type": "application/json"}
    )
    assert error(lone, 422, "bad_input").startswith("body.item: ")
    same = native(api, "POST", "/notices", json={"item": item, "classification": "II"})
    assert "is already" in error(same, 409, "conflict")
    denied = native(
        api, "POST", "/notices", user="analyst", json={"item": item, "classification": "I"}
    )
    assert error(denied, 403, "denied")
    unknown = native(api, "POST", "/notices", json={"item": item, "classification": "ZZ"})
    # the message names the level but not the field (the "what and where" is half kept)
    assert "unknown level 'ZZ' for KOR" in error(unknown, 422, "bad_input")
    notice = native(api, "POST", "/notices", json={"item": item, "classification": "III"}).json()
    assert (notice["item"], notice["classification"]) == (item, "III")
    assert notice["notified"] == ["USA"]
    details = native(api, "GET", f"/items/{item}").json()
    assert details["classification"] == "III"


def test_unknown_routes_and_methods_take_the_error_shape(api: Api) -> None:
    assert error(native(api, "GET", "/nothing"), 404, "not_found")
    assert error(native(api, "PUT", "/reports"), 405, "method_not_allowed")


# ---------------------------------------------------------------------- the log
def test_the_log_routes(api: Api, item: str) -> None:
    signed = native(api, "POST", "/log/checkpoint", headers=JSON)
    assert signed.status_code == 200, signed.text
    size = signed.json()["size"]
    assert "only an admin" in error(
        native(api, "POST", "/log/checkpoint", user="analyst"), 403, "denied"
    )
    note = native(api, "GET", "/log/checkpoint")
    assert note.headers["content-type"].startswith("text/plain")
    assert note.text.startswith("gsomia.example/log/KOR") or note.text
    as_json = native(api, "GET", "/log/checkpoint", params={"format": "json"}).json()
    assert as_json["size"] == size
    assert (
        native(api, "GET", "/log/checkpoint", params={"size": size}, headers=JSON).json() == as_json
    )
    bad = native(api, "GET", "/log/checkpoint", params={"size": "-1"})
    assert "size: expected a non-negative whole number" in error(bad, 400, "bad_request")
    unknown = native(api, "GET", "/log/checkpoint", params={"sizes": "1"})
    assert "unknown query parameter(s): sizes" in error(unknown, 400, "bad_request")
    proof = native(api, "GET", "/log/proof/inclusion", params={"item": item}).json()
    assert proof
    by_index = native(api, "GET", "/log/proof/inclusion", params={"index": 0}).json()
    assert by_index
    for params, words in (
        ({}, "give exactly one of item=ITEM_ID or index=N"),
        ({"item": item, "index": 0}, "give exactly one"),
        ({"index": 0, "type": "item.published"}, "type: one of"),
        ({"item": item, "type": "nonsense"}, "type: one of"),
    ):
        assert words in error(
            native(api, "GET", "/log/proof/inclusion", params=params), 400, "bad_request"
        )
    hidden = native(api, "GET", "/log/proof/inclusion", user="low", params={"item": item})
    assert error(hidden, 404, "not_found")
    assert native(api, "GET", "/log/proof/consistency", params={"old": 1}).json()
    old = native(api, "GET", "/log/proof/consistency")
    assert "old: required" in error(old, 400, "bad_request")
    cosigned = native(api, "GET", "/log/cosignatures").json()
    assert cosigned["latest"]["size"] == size
    assert cosigned["cosigned_by"] in ([], {})
    assert native(api, "GET", "/log/witnessed").json() == {"JPN": None, "USA": None}
    refused = native(api, "GET", "/log/split-views").json()
    assert refused == {"split_views": [], "refused_origins": [], "refusals": []}


# ---------------------------------------------------------------------- events
def test_the_event_stream_refuses_before_it_starts(api: Api) -> None:
    wrong = native(api, "GET", "/events", headers={"Accept": "application/json"})
    assert "text/event-stream" in error(wrong, 406, "not_acceptable")
    last = native(api, "GET", "/events", headers={"Last-Event-ID": "x"})
    assert "Last-Event-ID" in error(last, 400, "bad_request")
    query = native(api, "GET", "/events", params={"last_event_id": "9" * 30})
    assert "Last-Event-ID" in error(query, 400, "bad_request")


# ---------------------------------------------------------------------- the guard
def test_peer_routes_need_a_signature_before_the_body(api: Api) -> None:
    response = api.call("POST", "/peer/v1/push", user=None, content=b"{}")
    assert response.status_code == 401, response.text
    assert response.json()["error_code"] == "unauthorized"


def test_a_console_post_without_its_cookie_goes_to_sign_in(api: Api) -> None:
    response = api.call("POST", "/console/login", user=None, content=b"a=b")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login"
    other = api.call("POST", "/console/logout", user=None, content=b"a=b")
    assert (other.status_code, other.headers["location"]) == (303, "/console/login")


def test_routes_that_take_no_body_refuse_one(api: Api) -> None:
    response = api.call("POST", "/elsewhere", user=None, content=b"x")
    assert "the limit of other routes" in error(response, 413, "too_large")
    big = native(api, "POST", "/reports", content=b" " * (64 * 1024 + 1))
    assert "the limit of native API routes" in error(big, 413, "too_large")


def test_failed_credentials_are_throttled(api: Api) -> None:
    kept = api.node.throttle
    fixed = Throttle(api.node.store, FixedClock(NOW))  # blocks last until this clock moves
    api.node.throttle = fixed
    try:
        bad = {"Authorization": "Basic " + "YW5hbHlzdDp3cm9uZw=="}  # analyst:wrong
        codes = [
            api.call("GET", "/api/", user=None, address="10.9.9.9", headers=bad).status_code
            for _ in range(5)
        ]
        assert codes == [401, 401, 401, 401, 429]
        blocked = api.call("GET", "/api/", address="10.9.9.8")  # the right token, same user
        assert error(blocked, 429, "too_many_requests")
        assert int(blocked.headers["retry-after"]) >= 1
    finally:
        api.node.throttle = kept
        fixed.succeeded(user_key("analyst"), address_key("10.9.9.9"))  # kept in the store
    assert api.call("GET", "/api/").status_code == 200


def raw(api: Api, scope: dict[str, Any], messages: Sequence[Message]) -> list[Message]:
    """Call the guard with raw ASGI messages; what it sent back."""
    sent: list[Message] = []
    queue = list(messages)

    async def receive() -> Message:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        message = await receive()
        await send({"type": "test.passed", "body": message.get("body")})

    guard = Guard(app, api.node, MAX_FORM)
    full = {"type": "http", "method": "GET", "client": None, **scope}
    asyncio.run(guard(full, receive, send))
    return sent


def http_scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {"path": path, "headers": headers, "query_string": b""}


def test_the_guard_on_raw_bodies(api: Api) -> None:
    console = http_scope("/console/x", [(b"content-length", b"x")])
    [start, _] = raw(api, console, [])
    assert start["status"] == 400
    chunked = http_scope("/console/x", [(b"transfer-encoding", b"chunked")])
    parts = [{"type": "http.request", "body": b"a" * 40000, "more_body": True}] * 100
    [start, body] = raw(api, chunked, parts)
    assert start["status"] == 413
    assert b"the limit of console routes" in body["body"]
    # a client that goes away mid-body gets no answer
    assert raw(api, chunked, [{"type": "http.request", "body": b"a", "more_body": True}]) == []
    # a body read is handed on, once, unchanged
    passed = raw(api, chunked, [{"type": "http.request", "body": b"a=b", "more_body": False}])
    assert passed == [{"type": "test.passed", "body": b"a=b"}]
    empty = http_scope("/console/x", [(b"content-length", b"0")])
    assert raw(api, empty, [{"type": "http.request", "body": b""}]) == [
        {"type": "test.passed", "body": b""}
    ]
    lifespan: list[Message] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        lifespan.append({"type": scope["type"]})

    asyncio.run(Guard(app, api.node, MAX_FORM)({"type": "lifespan"}, None, None))  # type: ignore[arg-type]
    assert lifespan == [{"type": "lifespan"}]
