"""Federation between in-process nodes of different parties: the outbox (due, recheck at send
time, sent and failed), signed peer requests, pushes parsed and received, forged and repeated
items refused or answered as duplicates; and the log's witnessing between the same nodes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gsomia.app.boot import load_config, open_node
from gsomia.clock import FixedClock
from gsomia.errors import BadInput, NotFound, VerificationFailed
from gsomia.ledger.log import origin_of
from gsomia.node import federation, witnessing
from gsomia.node.config import User
from gsomia.node.service import Node
from gsomia.store.ports import OutboxRow
from tests.integration.nodes import PASSPHRASE, make_nodes, report

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
WALL = 1e12  # far enough ahead that every queued release is due


@pytest.fixture(scope="module")
def trio(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Node]:
    procs = make_nodes(tmp_path_factory.mktemp("federation"), scenario="lapse-2019")
    clock = FixedClock(NOW)
    return {
        p: open_node(load_config(procs[p].config), clock=clock, passphrase=PASSPHRASE.encode())
        for p in procs
    }


def user(node: Node, name: str) -> User:
    return next(u for u in node.config.users if u.name == name)


def publish(node: Node, n: int) -> str:
    envelope = report(n, releasable_to=("JPN", "USA"))
    node.publish(user(node, "analyst"), envelope["objects"], node.collection_id("KOR"))
    return f"report--00000000-0000-4000-8000-{n:012d}/2026-01-01T00:00:00.000Z"


def queued(node: Node, item: str) -> list[OutboxRow]:
    return [r for r in federation.due(node, WALL, 1000) if r.item_id == item]


def test_a_release_is_queued_rechecked_sent_and_received_once(trio: dict[str, Node]) -> None:
    kor, usa = trio["KOR"], trio["USA"]
    item = publish(kor, 1)
    rows = queued(kor, item)
    assert [r.recipient for r in rows] == ["USA"]  # JPN's agreement has lapsed: nothing queued
    assert federation.due_for(kor, ["USA"])[0].item_id == item
    ready = federation.recheck(kor, rows, NOW)
    assert [o.row.id for o in ready] == [rows[0].id]
    got = federation.receive(usa, "KOR", [o.item for o in ready], NOW)
    assert [g.to_json() for g in got] == [{"item": item, "result": "stored"}]
    again = federation.receive(usa, "KOR", [o.item for o in ready], NOW)
    assert [g.result for g in again] == ["duplicate"]
    federation.mark_sent(kor, ready, NOW)
    assert queued(kor, item) == []
    with usa.store.reading() as r:
        assert r.item(item) is not None


def test_a_failed_push_waits_its_back_off(trio: dict[str, Node]) -> None:
    kor = trio["KOR"]
    item = publish(kor, 2)
    rows = queued(kor, item)
    ready = federation.recheck(kor, rows, NOW)
    federation.mark_failed(kor, ready, "connection refused", 1000.0)
    assert [r.item_id for r in federation.due(kor, 1000.0, 1000)] == []
    assert [r.item_id for r in federation.due(kor, 1000.0 + 0.05, 1000)] == [item]
    [again] = queued(kor, item)
    assert again.attempts == 1


def test_a_release_no_longer_allowed_at_send_time_is_refused(trio: dict[str, Node]) -> None:
    kor = trio["KOR"]
    item = publish(kor, 3)
    rows = queued(kor, item)
    before_the_agreement = datetime(1980, 1, 1, tzinfo=UTC)
    assert federation.recheck(kor, rows, before_the_agreement) == []
    assert queued(kor, item) == []  # done, as refused: never retried


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{", "malformed JSON"),
        (b"[]", "expected"),
        (b'{"items": []}', "expected"),
        (b'{"items": "x"}', "expected"),
        (b'{"items": ["not base64!"]}', "an item is not base64"),
        (b'{"items": [1]}', "an item is not base64"),
    ],
)
def test_pushes_are_parsed_strictly(body: bytes, words: str) -> None:
    with pytest.raises(BadInput, match=rf"^peer push: {words}"):
        federation.parse_push(body)


@given(st.lists(st.binary(max_size=64), min_size=1, max_size=8))
def test_a_push_body_round_trips(items: list[bytes]) -> None:
    assert federation.parse_push(federation.push_body(items)) == items


def test_forged_and_misdirected_items_are_refused(trio: dict[str, Node]) -> None:
    kor, usa, jpn = trio["KOR"], trio["USA"], trio["JPN"]
    item = publish(kor, 4)
    [out] = federation.recheck(kor, queued(kor, item), NOW)
    with pytest.raises(VerificationFailed, match=r"^item 0: released to JPN by no one"):
        federation.receive(jpn, "KOR", [out.item], NOW)
    with pytest.raises(VerificationFailed, match=r"^item 0: released by KOR, but pushed by JPN"):
        federation.receive(usa, "JPN", [out.item], NOW)
    flipped = bytearray(out.item)
    flipped[len(flipped) // 2] ^= 1
    with pytest.raises(VerificationFailed, match=r"^item 1: "):
        federation.receive(usa, "KOR", [out.item, bytes(flipped)], NOW)
    with usa.store.reading() as r:  # all or nothing: the good item was not stored either
        assert r.item(item) is None


def test_signed_requests_verify_only_as_signed(trio: dict[str, Node]) -> None:
    kor, usa = trio["KOR"], trio["USA"]
    body = b'{"items": []}'
    headers = federation.sign_request(kor, "USA", body, NOW, method="POST", target="/peer/v1/push")
    lower = {k.lower(): v for k, v in headers.items()}
    sender = federation.verify_request(usa, lower, body, NOW, method="POST", target="/peer/v1/push")
    assert sender == "KOR"
    with pytest.raises(VerificationFailed, match="the body does not match its signed digest"):
        federation.verify_request(usa, lower, b"{}", NOW, method="POST", target="/peer/v1/push")
    # another route: the signature does not cover it
    with pytest.raises(VerificationFailed, match="signature does not verify"):
        federation.verify_request(usa, lower, body, NOW, method="POST", target="/peer/v1/other")
    late = NOW + timedelta(hours=1)
    with pytest.raises(VerificationFailed, match="outside the accepted window"):
        federation.verify_request(usa, lower, body, late, method="POST", target="/peer/v1/push")
    with pytest.raises(VerificationFailed, match="is not a peer of KOR"):
        federation.verify_request(kor, lower, body, NOW, method="POST", target="/peer/v1/push")
    for name, value in (("x-gsomia-signature", "AAAA"), ("x-gsomia-content-digest", "!")):
        with pytest.raises(VerificationFailed, match="missing or malformed signature headers"):
            federation.verify_request(
                usa, {**lower, name: value}, body, NOW, method="POST", target="/peer/v1/push"
            )
    with pytest.raises(VerificationFailed, match="X-Gsomia-Timestamp"):
        federation.verify_request(
            usa,
            {**lower, "x-gsomia-timestamp": "yesterday"},
            body,
            NOW,
            method="POST",
            target="/peer/v1/push",
        )


@pytest.mark.parametrize(
    ("method", "target", "digest", "words"),
    [
        ("post", "/p", b"\0" * 32, "is not an HTTP method"),
        ("POST", "p", b"\0" * 32, "the target must be a path"),
        ("POST", "/a b", b"\0" * 32, "the target must be a path"),
        ("POST", "/p", b"\0" * 31, "not a SHA-256 digest"),
    ],
)
def test_request_messages_refuse_what_is_not_a_request(
    method: str, target: str, digest: bytes, words: str
) -> None:
    with pytest.raises(BadInput, match=words):
        federation.request_message("KOR", "USA", "k", "t", method, target, digest)


# ---------------------------------------------------------------------- witnessing
def test_witnesses_cosign_a_checkpoint_and_the_origin_attaches_it(trio: dict[str, Node]) -> None:
    kor, usa, jpn = trio["KOR"], trio["USA"], trio["JPN"]
    publish(kor, 5)
    with pytest.raises(NotFound, match="has no checkpoint of size 999"):
        witnessing.checkpoint_at(kor, 999)
    stored = witnessing.sign_checkpoint(kor)
    assert witnessing.checkpoint_at(kor, stored.size).note == stored.note
    offer = witnessing.for_peer(kor, 0).to_json()
    assert offer["checkpoint"] == stored.note.decode()
    assert witnessing.for_peer(kor, stored.size + 1).consistency is None
    cosigned = witnessing.cosign_peer(usa, "KOR", offer, NOW)
    assert cosigned is not None
    attached = witnessing.attach(kor, "USA", cosigned)
    assert attached.added == (origin_of("USA"),)
    assert witnessing.cosigned_by(kor)["USA"].size == stored.size
    # once co-signed, the same checkpoint is not signed again
    again = {**offer, "checkpoint": cosigned.decode()}
    assert witnessing.cosign_peer(usa, "KOR", again, NOW) is None
    assert witnessing.cosign_peer(usa, "KOR", offer, NOW) == cosigned  # its delivery was lost
    seen = witnessing.witnessed(usa).by_peer["KOR"]
    assert seen is not None
    assert seen.size == stored.size
    gossip = witnessing.gossip_document(usa)
    assert gossip.witnessed == (witnessing.last_cosigned(usa, "KOR").note.decode(),)  # type: ignore[union-attr]
    # JPN co-signed nothing of KOR's yet: it learns of the checkpoint, nothing is split
    learnt = witnessing.check_gossip(jpn, "USA", gossip.to_json(), NOW)
    assert learnt.found == []
    # KOR reads its own checkpoint back: attached, nothing found
    assert witnessing.check_gossip(kor, "USA", gossip.to_json(), NOW).found == []


def test_a_checkpoint_of_another_log_is_refused_and_kept_as_evidence(
    trio: dict[str, Node],
) -> None:
    kor, jpn = trio["KOR"], trio["JPN"]
    witnessing.sign_checkpoint(kor)
    offer = witnessing.for_peer(kor, 0).to_json()
    with pytest.raises(VerificationFailed, match=r"^USA's checkpoint is of the log 'gsomia/KOR'"):
        witnessing.cosign_peer(jpn, "USA", offer, NOW)
    refused = witnessing.refusals(jpn)
    assert any("USA" in str(r.to_json()) for r in refused.refusals)
    with pytest.raises(BadInput, match="expected a JSON object with a 'checkpoint'"):
        witnessing.cosign_peer(jpn, "KOR", ["not", "a", "document"], NOW)
    with pytest.raises(BadInput, match=r"co-signed checkpoints: expected"):
        witnessing.check_gossip(jpn, "USA", {"v": 2, "witnessed": []}, NOW)
    skipped = witnessing.check_gossip(jpn, "USA", {"v": 1, "witnessed": [1, "garbage"]}, NOW)
    assert (skipped.found, skipped.wanted) == ([], [])


def test_proofs_refuse_what_the_log_cannot_prove(trio: dict[str, Node]) -> None:
    kor = trio["KOR"]
    stored = witnessing.sign_checkpoint(kor)
    with pytest.raises(BadInput, match="index -1 is negative"):
        witnessing.inclusion(kor, -1, None)
    with pytest.raises(NotFound, match="not covered by its latest signed checkpoint"):
        witnessing.inclusion(kor, stored.size, None)
    assert witnessing.inclusion(kor, 0, None) is not None
    with pytest.raises(BadInput, match=r"^old: size \d+ is beyond the checkpoint"):
        witnessing.consistency(kor, stored.size + 5, stored.size)
    assert witnessing.consistency(kor, 1, None) is not None
