"""The outbox of peer messages: signed sends, acknowledgements, retries with backoff, and
permanent refusals recorded on the document a message concerns (in process; the peer is an
httpx transport that verifies each request with the receiving node's keys)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from gsomia.api.outbound import Outbound
from gsomia.api.peer import WALL
from gsomia.api.peer_native import RETRY_NOT_FOUND
from gsomia.app.boot import load_config, open_node
from gsomia.clock import Clock, FixedClock, SystemClock
from gsomia.errors import BadInput
from gsomia.node import federation, messages
from gsomia.node.results import Report
from gsomia.node.service import Node
from tests.integration.nodes import PASSPHRASE, make_nodes, report

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
DOC = ("report.sent", "r1")


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Node, Node]:
    procs = make_nodes(tmp_path_factory.mktemp("msgs"), ("KOR", "USA"))
    clock = FixedClock(NOW)  # the nodes' clock; peer requests are stamped in wall time
    kor, usa = (
        open_node(load_config(procs[p].config), clock=clock, passphrase=PASSPHRASE.encode())
        for p in ("KOR", "USA")
    )
    return kor, usa


def queue_one(node: Node) -> None:
    with node.store.writing() as w:
        sent = Report(DOC[1], "report--x/1", "USA", "KOR", "loss", "lost", "2026-03-01T09:00:00Z")
        w.put_document(DOC[0], DOC[1], "report--x/1", sent.to_json(), None)
        messages.queue(w, recipient="USA", path=messages.REPORT_PATH, body={"n": 1}, ref=DOC)


def send(
    kor: Node, usa: Node, answer: Callable[[int], httpx.Response], wall: Clock = WALL
) -> list[dict[str, Any]]:
    """KOR's messages to USA sent (one ``message-USA`` job), its wall clock ``wall``; USA
    verifies what arrives."""
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        sender = federation.verify_request(
            usa,
            headers,
            request.content,
            wall.now(),
            method=request.method,
            target=request.url.raw_path.decode(),
        )
        seen.append({"sender": sender, "body": orjson.loads(request.content)})
        return answer(len(seen))

    async def run() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            await Outbound(kor, client, wall).message("USA")

    asyncio.run(run())
    return seen


def document(node: Node) -> dict[str, Any]:
    with node.store.reading() as r:
        found = r.document(*DOC)
    assert found is not None
    return found.body


def pending(node: Node, at: float) -> int:
    return len(messages.due(node, at))


def test_a_delivered_message_is_signed_and_acknowledged(pair: tuple[Node, Node]) -> None:
    kor, usa = pair
    queue_one(kor)
    ack = {"acknowledged_at": "2026-03-01T09:00:00+00:00", "by": "USA", "n": 3}
    seen = send(kor, usa, lambda _: httpx.Response(200, json=ack))
    assert seen == [{"sender": "KOR", "body": {"v": 1, "n": 1}}]
    doc = document(kor)
    assert doc["delivery"]["state"] == "delivered"
    assert doc["delivery"]["answer"] == {"acknowledged_at": ack["acknowledged_at"], "by": "USA"}
    assert doc["acknowledgement"] == {"at": ack["acknowledged_at"], "by": "USA"}
    assert pending(kor, SystemClock().now().timestamp() + 1e6) == 0


def test_retries_run_on_wall_time_not_on_the_scenario_clock(pair: tuple[Node, Node]) -> None:
    """Back-off is stored as wall epoch seconds: the scenario clock (a FixedClock in March
    2026 here; 500,000x in the demo) neither delays nor hastens a retry."""
    kor, usa = pair
    queue_one(kor)
    wall = FixedClock(SystemClock().now())
    send(kor, usa, lambda _: httpx.Response(503), wall)
    at = wall.now().timestamp()
    assert pending(kor, at) == 0  # not due again at once
    assert pending(kor, at + 1) == 1  # but a fraction of a wall second later
    assert "delivery" not in document(kor)
    assert isinstance(kor.clock, FixedClock)
    kor.clock.advance(timedelta(days=30))  # scenario time flies: no retry is due for it
    assert send(kor, usa, lambda _: httpx.Response(200, json={}), wall) == []
    wall.advance(timedelta(seconds=1))
    send(kor, usa, lambda _: httpx.Response(200, json={}), wall)
    assert document(kor)["delivery"]["state"] == "delivered"


def test_a_failed_push_backs_off_in_wall_time(pair: tuple[Node, Node]) -> None:
    """A push job stores a release's next attempt in wall epoch seconds, not scenario time."""
    kor, _ = pair
    analyst = next(u for u in kor.config.users if u.name == "analyst")
    kor.publish(analyst, report(90)["objects"], kor.collection_id("KOR"))
    wall = FixedClock(SystemClock().now())

    async def run() -> None:
        transport = httpx.MockTransport(lambda _: httpx.Response(503))
        async with httpx.AsyncClient(transport=transport) as client:
            assert await Outbound(kor, client, wall).push("USA") == pytest.approx(0.05)

    asyncio.run(run())
    at = wall.now().timestamp()
    assert [r for r in federation.due(kor, at) if r.recipient == "USA"] == []
    [row] = [r for r in federation.due(kor, at + 1) if r.recipient == "USA"]
    assert row.attempts == 1
    with kor.store.writing() as w:
        for done in federation.due(kor, at + 1):
            w.outbox_done(done.id, "refused")


def test_not_found_is_retried_a_while_then_refused(pair: tuple[Node, Node]) -> None:
    kor, usa = pair
    queue_one(kor)
    wall = FixedClock(SystemClock().now())
    for _ in range(RETRY_NOT_FOUND):
        send(kor, usa, lambda _: httpx.Response(404, text="no such item"), wall)
        assert pending(kor, wall.now().timestamp() + 120) == 1
        wall.advance(timedelta(seconds=120))
    send(kor, usa, lambda _: httpx.Response(404, text="no such item"), wall)
    assert pending(kor, wall.now().timestamp() + 1e6) == 0
    delivery = document(kor)["delivery"]
    assert delivery["state"] == "rejected"
    assert "HTTP 404" in delivery["detail"]


def test_a_refusal_is_final(pair: tuple[Node, Node]) -> None:
    kor, usa = pair
    queue_one(kor)
    send(kor, usa, lambda _: httpx.Response(422, text="bad"))
    assert pending(kor, SystemClock().now().timestamp() + 1e6) == 0
    assert document(kor)["delivery"]["state"] == "rejected"


@pytest.mark.parametrize(
    "raw",
    [b"{", b"[]", b'{"v": 2}', b'{"v": "1"}'],
)
def test_malformed_messages_are_bad_input(raw: bytes) -> None:
    with pytest.raises(BadInput, match=r"^message(\.v)?: "):
        messages.parse_message(raw, "message")


@pytest.mark.parametrize(
    "value", ["x", "00000000-0000-4000-8000-00000000000G", "{" + "0" * 32 + "}"]
)
def test_ids_are_canonical_uuids(value: str) -> None:
    with pytest.raises(BadInput, match=r"^id: .*UUID"):
        messages.request_id(value, "id")
    assert messages.request_id(messages.new_id(), "id")


def test_fields_are_checked() -> None:
    doc = {"v": 1, "a": "", "b": "x" * 301, "c": 5}
    for key in ("a", "b", "c", "missing"):
        with pytest.raises(BadInput, match=f"message.{key}"):
            messages.text(doc, key, "message")
    assert messages.optional_text(doc, "missing", "message") is None


def test_a_busy_peer_s_retry_after_is_honoured_by_a_message_job(pair: tuple[Node, Node]) -> None:
    """A 503 with ``Retry-After: 120`` holds the message 120 wall seconds (longer than the
    back-off would), then it is sent once and delivered: nothing lost, nothing twice."""
    kor, usa = pair
    queue_one(kor)
    wall = FixedClock(SystemClock().now())
    busy = httpx.Response(503, headers={"Retry-After": "120"})
    assert len(send(kor, usa, lambda _: busy, wall)) == 1
    at = wall.now().timestamp()
    assert pending(kor, at + 60) == 0  # the back-off alone would have retried by now
    assert pending(kor, at + 121) == 1
    wall.advance(timedelta(seconds=121))
    assert len(send(kor, usa, lambda _: httpx.Response(200, json={}), wall)) == 1
    assert document(kor)["delivery"]["state"] == "delivered"
    assert pending(kor, at + 1e6) == 0


def test_a_busy_peer_s_retry_after_is_honoured_by_a_push_job(pair: tuple[Node, Node]) -> None:
    """A 429 with ``Retry-After: 90`` holds the peer's releases 90 seconds, stored and in the
    peer's own back-off (no push in between); then pushed once and marked sent."""
    kor, _ = pair
    analyst = next(u for u in kor.config.users if u.name == "analyst")
    kor.publish(analyst, report(91)["objects"], kor.collection_id("KOR"))
    wall = FixedClock(SystemClock().now())
    answers = [httpx.Response(429, headers={"Retry-After": "90"}), httpx.Response(200)]
    pushed: list[bytes] = []

    def peer(request: httpx.Request) -> httpx.Response:
        pushed.append(request.content)
        return answers[len(pushed) - 1]

    async def run() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(peer)) as client:
            outbound = Outbound(kor, client, wall)
            assert await outbound.push("USA") == 90.0  # the job is retried in 90 s
            held = federation.due(kor, start + 60)  # stored too: a restart keeps the delay
            assert [r for r in held if r.recipient == "USA"] == []
            wall.advance(timedelta(seconds=60))
            assert await outbound.push("USA") == 30.0  # the peer asked for 90 s: not yet
            wall.advance(timedelta(seconds=31))
            assert await outbound.push("USA") is None  # pushed, and nothing left: done

    start = wall.now().timestamp()
    asyncio.run(run())
    assert len(pushed) == 2
    assert pushed[0] == pushed[1]  # the same releases, pushed again once
    assert [r for r in federation.due(kor, start + 1e6) if r.recipient == "USA"] == []
