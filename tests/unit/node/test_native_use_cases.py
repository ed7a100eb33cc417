"""The native API's use cases in process, three nodes wired by hand (no HTTP): what each peer
message does at the receiving node, and that a repeated or forged message changes nothing."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from gsomia.app.boot import load_config, open_node
from gsomia.clock import FixedClock, ScaledClock, SystemClock
from gsomia.errors import BadInput, Conflict, Denied, NotFound, VerificationFailed
from gsomia.node import consents, federation, messages, notices, receipts, reports
from gsomia.node.config import User
from gsomia.node.holdings import item_details, why_not
from gsomia.node.service import Node
from tests.integration.nodes import PASSPHRASE, make_nodes, report

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def trio(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Node]:
    procs = make_nodes(tmp_path_factory.mktemp("cases"), scenario="lapse-2019")
    clock = FixedClock(NOW)
    return {
        p: open_node(load_config(procs[p].config), clock=clock, passphrase=PASSPHRASE.encode())
        for p in procs
    }


def user(node: Node, name: str) -> User:
    return next(u for u in node.config.users if u.name == name)


def take_messages(node: Node, path: str) -> list[tuple[str, bytes]]:
    """The due messages to ``path`` (recipient, body), marked sent."""
    rows = [m for m in messages.due(node, 1e12, 1000) if m.path == path]
    with node.store.writing() as w:
        for m in rows:
            w.message_done(m.id, "sent")
    return [(m.recipient, m.body) for m in rows]


def deliver_releases(node: Node, to: Node) -> list[str]:
    rows = [r for r in federation.due(node, 1e12) if r.recipient == to.party]
    ready = federation.recheck(node, rows, NOW)
    got = federation.receive(to, node.party, [o.item for o in ready], NOW)
    federation.mark_sent(node, ready, NOW)
    return [g.result for g in got]


def published(trio: dict[str, Node], n: int, **label: Any) -> str:
    kor = trio["KOR"]
    envelope = report(n, releasable_to=("JPN", "USA"), **label)
    kor.publish(user(kor, "analyst"), envelope["objects"], kor.collection_id("KOR"))
    assert deliver_releases(kor, trio["USA"]) == ["stored"]
    assert deliver_releases(kor, trio["JPN"]) == []  # lapsed: nothing was queued for JPN
    obj = envelope["objects"][-1]
    return f"{obj['id']}/{obj['modified']}"


def asked(trio: dict[str, Node], item: str) -> tuple[str, bytes]:
    usa, kor = trio["USA"], trio["KOR"]
    rid = str(consents.request_consent(usa, user(usa, "admin"), item, "JPN").id)
    [(to, body)] = take_messages(usa, messages.CONSENT_REQUEST_PATH)
    assert to == "KOR"
    assert consents.receive_request(kor, "USA", body, NOW).result == "stored"
    return rid, body


def test_consent_round_trip_and_replays(trio: dict[str, Node]) -> None:
    kor, usa, jpn = trio["KOR"], trio["USA"], trio["JPN"]
    item = published(trio, 1)
    rid, request_body = asked(trio, item)
    assert consents.receive_request(kor, "USA", request_body, NOW).result == "duplicate"
    with pytest.raises(
        NotFound, match="KOR originated no item"
    ):  # JPN holds nothing of KOR's: answered as an unknown item
        consents.receive_request(kor, "JPN", request_body, NOW)
    with pytest.raises(Denied, match="user analyst is not an admin of KOR"):
        consents.grant(kor, user(kor, "analyst"), rid, None)
    consents.grant(kor, user(kor, "admin"), rid, None)
    [(to, answer)] = take_messages(kor, messages.CONSENT_ANSWER_PATH)
    assert to == "USA"
    with pytest.raises(VerificationFailed, match="JPN answered a request addressed to KOR"):
        consents.receive_answer(usa, "JPN", answer, NOW)  # only the originator answers
    assert consents.receive_answer(usa, "KOR", answer, NOW).release == "queued"
    assert consents.receive_answer(usa, "KOR", answer, NOW).result == "duplicate"
    assert deliver_releases(usa, jpn) == ["stored"]
    assert deliver_releases(usa, jpn) == []  # one release, sent once
    view = item_details(jpn, user(jpn, "analyst"), item)
    assert [(r.holder, r.recipient) for r in view.verified.releases] == [("USA", "JPN")]


def test_a_tampered_consent_is_refused_and_nothing_is_released(trio: dict[str, Node]) -> None:
    kor, usa = trio["KOR"], trio["USA"]
    item = published(trio, 2)
    rid, _ = asked(trio, item)
    consents.grant(kor, user(kor, "admin"), rid, None)
    [(_, answer)] = take_messages(kor, messages.CONSENT_ANSWER_PATH)
    doc = orjson.loads(answer)
    token = bytearray(base64.b64decode(doc["consent"]))
    token[-1] ^= 1
    doc["consent"] = base64.b64encode(bytes(token)).decode()
    with pytest.raises(
        (VerificationFailed, BadInput),
        match=r"^step C2 \(the originator signed the consent\): consent: ",
    ):
        consents.receive_answer(usa, "KOR", orjson.dumps(doc), NOW)
    assert consents.request(usa, user(usa, "admin"), rid).status == "pending"
    assert not [r for r in federation.due(usa, 1e12) if r.item_id == item]


def test_requests_are_checked_at_the_holder(trio: dict[str, Node]) -> None:
    kor, usa = trio["KOR"], trio["USA"]
    item = published(trio, 3, topics=("dprk.nuclear",))
    admin = user(usa, "admin")
    with pytest.raises(BadInput, match="recipient: USA already holds"):
        consents.request_consent(usa, admin, item, "USA")
    with pytest.raises(Conflict, match="recipient: KOR already holds"):
        consents.request_consent(usa, admin, item, "KOR")  # the originator holds it
    with pytest.raises(BadInput, match="recipient: unknown party 'CHN'"):
        consents.request_consent(usa, admin, item, "CHN")
    with pytest.raises(NotFound, match=r"^no item .* at USA$"):
        consents.request_consent(usa, admin, item.replace("000000000003", "000000000099"), "JPN")
    with pytest.raises(BadInput, match="it needs no one's consent"):
        consents.request_consent(kor, user(kor, "admin"), item, "JPN")  # KOR needs no consent
    with pytest.raises(BadInput, match="box: expected inbox or outbox"):
        consents.requests(usa, admin, "sideways")


def test_notice_at_holders_and_replays(trio: dict[str, Node]) -> None:
    kor, usa = trio["KOR"], trio["USA"]
    item = published(trio, 4, topics=("dprk.nuclear",))
    low = user(usa, "low")
    with pytest.raises(NotFound, match=r"^no item .* at USA$"):
        item_details(usa, low, item)
    done = notices.reclassify(kor, user(kor, "admin"), item, "III")
    assert done.notified == ("USA",)
    [(to, body)] = take_messages(kor, messages.NOTICE_PATH)
    assert to == "USA"
    with pytest.raises(BadInput, match="KOR is the originator of"):
        notices.receive(kor, "USA", body, NOW)  # KOR is the originator
    assert notices.receive(usa, "KOR", body, NOW).result == "applied"
    assert notices.receive(usa, "KOR", body, NOW).result == "duplicate"
    view = item_details(usa, low, item)
    assert (view.classification, view.marking.level) == ("III", "CONFIDENTIAL")
    # "Why not?" at the holder decides with the new class.
    decision = why_not(usa, low, item, "JPN", None)
    gsomia = next(c for c in decision.decision.explain() if c.agreement == "jpn-usa-gsomia-2007")
    assert "class CONFIDENTIAL" in gsomia.results[2].detail
    doc = orjson.loads(body)
    raw = bytearray(base64.b64decode(doc["item"]))
    raw[-5] ^= 1
    doc["item"] = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(VerificationFailed, match="signature of KOR does not hold"):
        notices.receive(usa, "KOR", orjson.dumps(doc), NOW)


def test_reports_reach_the_originator_once(trio: dict[str, Node]) -> None:
    kor, usa = trio["KOR"], trio["USA"]
    item = published(trio, 5)
    sent = reports.report(usa, user(usa, "analyst"), item, "compromise", "seen on a forum")
    [(to, body)] = take_messages(usa, messages.REPORT_PATH)
    assert to == "KOR"
    first = reports.receive(kor, "USA", body, NOW)
    assert reports.receive(kor, "USA", body, NOW) == first
    with pytest.raises(
        NotFound, match="loss report: KOR originated no item"
    ):  # JPN holds nothing of KOR's: answered as an unknown item
        reports.receive(kor, "JPN", body, NOW)
    received = reports.reports(kor, user(kor, "analyst")).received
    assert [r.id for r in received] == [sent.id]
    with pytest.raises(NotFound, match="loss report: USA originated no item"):
        reports.receive(usa, "KOR", body, NOW)  # USA did not originate it


def test_a_consent_expired_at_the_receivers_now_is_refused(trio: dict[str, Node]) -> None:
    """KOR grants a consent valid for an hour; it reaches USA two hours later: refused, the
    request stays pending, nothing is released — whatever KOR's clock said at the grant."""
    kor, usa = trio["KOR"], trio["USA"]
    item = published(trio, 6)
    rid, _ = asked(trio, item)
    consents.grant(kor, user(kor, "admin"), rid, NOW + timedelta(hours=1))
    [(_, answer)] = take_messages(kor, messages.CONSENT_ANSWER_PATH)
    with pytest.raises(Denied, match="expired"):
        consents.receive_answer(usa, "KOR", answer, NOW + timedelta(hours=2))
    assert consents.request(usa, user(usa, "admin"), rid).status == "pending"
    assert not [r for r in federation.due(usa, 1e12) if r.item_id == item]
    assert consents.receive_answer(usa, "KOR", answer, NOW).release == "queued"


def test_answers_and_notices_dated_ahead_of_the_receiver_are_refused(
    trio: dict[str, Node],
) -> None:
    kor, usa = trio["KOR"], trio["USA"]
    item = published(trio, 7)
    rid, _ = asked(trio, item)
    future = {
        "v": 1,
        "request": rid,
        "item": item,
        "status": "refused",
        "answered_at": "2099-01-01T00:00:00+00:00",
        "reason": "later",
    }
    with pytest.raises(Denied, match="2099"):
        consents.receive_answer(usa, "KOR", orjson.dumps(future), NOW)
    before = {**future, "answered_at": "2020-01-01T00:00:00+00:00"}  # before it was asked
    with pytest.raises(Denied, match="before the request"):
        consents.receive_answer(usa, "KOR", orjson.dumps(before), NOW)
    assert consents.request(usa, user(usa, "admin"), rid).status == "pending"
    clock = kor.clock
    assert isinstance(clock, FixedClock)
    clock.advance(timedelta(days=365 * 70))  # KOR's notice is dated seventy years ahead
    try:
        notices.reclassify(kor, user(kor, "admin"), item, "III")
    finally:
        clock.advance(-timedelta(days=365 * 70))
    [(_, body)] = take_messages(kor, messages.NOTICE_PATH)
    with pytest.raises(Denied, match="after this node's now"):
        notices.receive(usa, "KOR", body, NOW)
    assert item_details(usa, user(usa, "analyst"), item).classification == "II"


def test_the_skew_is_wall_time_scaled_to_the_clock() -> None:
    fast = ScaledClock(NOW, NOW, 500_000.0)
    assert (SystemClock().rate, FixedClock(NOW).rate, fast.rate) == (1.0, 1.0, 500_000.0)
    assert receipts.MAX_SKEW * fast.rate == timedelta(minutes=5) * 500_000
