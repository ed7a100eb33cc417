"""Purposes at a holder (DOMAIN.md §7.1–2), between in-process nodes of the 2019 lapse (KOR→USA
stands; KOR→JPN has lapsed, so USA, the hub, relays missile warnings to JPN on the 2023 link's
standing consent): every read path refuses a user none of whose purposes lies within the item's
purposes here, exactly as a missing item; the originator's own users are bound by clearance and
need-to-know alone; approvals for another purpose travel there and back, signed, verified,
stored, logged, and widen the item's purposes at that holder until they expire; forged and
replayed answers change nothing; a standing-consent relay is for defense.warning only."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from gsomia.app.asgi import create_app
from gsomia.app.boot import load_config, open_node
from gsomia.clock import FixedClock
from gsomia.domain.purposes import STANDING
from gsomia.errors import BadInput, Conflict, Denied, NotFound, VerificationFailed
from gsomia.node import approvals, federation, messages, notices
from gsomia.node.config import User, UserEntry, render_config, token_digest
from gsomia.node.events import Broadcaster
from gsomia.node.holdings import item_details, why_not_use
from gsomia.node.results import ConsentReceipt
from gsomia.node.service import Filters, Node
from gsomia.seal.statements import sign_statement
from gsomia.store.sql_node import add_purposes, received_purposes
from tests.integration.nodes import PASSPHRASE, make_nodes, report

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
WALL = 1e12  # every queued release and message is due
ASSESSMENT = 1  # provided for defense.assessment
WARNING = 2  # a missile warning, relayed by USA to JPN on standing consent
PRISTINE = 3  # as ASSESSMENT, for the HTTP paths: no approval is ever asked for it
TOP = {"KOR": "I", "JPN": "KIMITSU", "USA": "TOP_SECRET"}
#: users added to every node: name -> (purposes, role)
EXTRA = {
    "assessor": (("defense.assessment",), "analyst"),
    "warner": (("defense.warning",), "analyst"),
    "defender": (("defense",), "analyst"),
    "chief": (("defense.assessment",), "admin"),
}


def item_id(n: int) -> str:
    return f"report--00000000-0000-4000-8000-{n:012d}/2026-01-01T00:00:00.000Z"


@pytest.fixture(scope="module")
def clock() -> FixedClock:
    return FixedClock(NOW)


held_tokens: dict[str, dict[str, str]] = {}


@pytest.fixture(scope="module")
def trio(tmp_path_factory: pytest.TempPathFactory, clock: FixedClock) -> dict[str, Node]:
    procs = make_nodes(tmp_path_factory.mktemp("purposes"), scenario="lapse-2019")
    held_tokens.update({p: proc.users for p, proc in procs.items()})
    for party, proc in procs.items():
        extra = [
            UserEntry(name, token_digest(f"tok-{name}"), TOP[party], ("dprk",), role, p)
            for name, (p, role) in EXTRA.items()
        ]
        users = render_config(party=party, listen="x", data_dir=".", peers=[], users=extra)
        tables = users[users.index("[[users]]") :]
        proc.config.write_text(proc.config.read_text() + "\n" + tables)
    return {
        p: open_node(load_config(procs[p].config), clock=clock, passphrase=PASSPHRASE.encode())
        for p in procs
    }


def user(node: Node, name: str) -> User:
    return next(u for u in node.config.users if u.name == name)


def deliver(src: Node, dst: Node) -> None:
    """Push every release ``src`` has queued for ``dst``."""
    now = src.clock.now()
    rows = [r for r in federation.due(src, WALL, 1000) if r.recipient == dst.party]
    ready = federation.recheck(src, rows, now)
    if ready:
        federation.receive(dst, src.party, [o.item for o in ready], now)
        federation.mark_sent(src, ready, now)


HANDLERS = {
    messages.PURPOSE_REQUEST_PATH: approvals.receive_request,
    messages.PURPOSE_ANSWER_PATH: approvals.receive_answer,
}


def send(src: Node, dst: Node) -> list[ConsentReceipt]:
    """Deliver ``src``'s due purpose messages to ``dst`` as the peer route would."""
    got = []
    for row in messages.due(src, WALL, recipient=dst.party):
        answer = HANDLERS[row.path](dst, src.party, row.body, dst.clock.now())
        messages.delivered(src, row, answer.to_json(), src.clock.now())
        got.append(answer)
    return got


@pytest.fixture(scope="module")
def held(trio: dict[str, Node]) -> dict[str, Node]:
    """KOR's two items published and delivered: one for defense.assessment (at USA), one
    missile warning (at USA, and relayed by USA to JPN on standing consent)."""
    kor, usa, jpn = trio["KOR"], trio["USA"], trio["JPN"]
    own = kor.collection_id("KOR")
    assessment = report(ASSESSMENT, releasable_to=("JPN", "USA"), purposes=("defense.assessment",))
    kor.publish(user(kor, "analyst"), assessment["objects"], own)
    pristine = report(PRISTINE, releasable_to=("JPN", "USA"), purposes=("defense.assessment",))
    kor.publish(user(kor, "analyst"), pristine["objects"], own)
    warning = report(WARNING, releasable_to=("JPN", "USA"), topics=("dprk.missile.warning",))
    kor.publish(user(kor, "analyst"), warning["objects"], own)
    deliver(kor, usa)
    deliver(usa, jpn)
    return trio


def sees(node: Node, name: str, item: str) -> bool:
    """Whether ``name`` reads ``item`` on the TAXII paths (objects and manifest, one object,
    its versions) and the native API; each answers the same."""
    who = user(node, name)
    stix_id = item.split("/", maxsplit=1)[0]
    cid = node.collection_id("KOR")
    listed = item in {r.item_id for r in node.page(who, cid, Filters(), 1000, None).rows}
    one = item in {r.item_id for r in node.page(who, cid, Filters(ids=(stix_id,)), 10, None).rows}
    try:
        versions = [r.item_id for r in node.versions_of(who, cid, stix_id)] == [item]
    except NotFound:
        versions = False
    try:
        native = item_details(node, who, item).verified.label.id == item
    except NotFound:
        native = False
    assert listed == one == versions == native, (listed, one, versions, native)
    return listed


def refusal(call: Any) -> str:
    with pytest.raises(NotFound, match=r"^no ") as refused:
        call()
    return str(refused.value)


# ------------------------------------------------------------------ reading
def test_a_holder_reads_only_for_the_items_purposes(held: dict[str, Node]) -> None:
    usa = held["USA"]
    assert sees(usa, "assessor", item_id(ASSESSMENT))
    assert not sees(usa, "defender", item_id(ASSESSMENT))
    assert not sees(usa, "warner", item_id(ASSESSMENT))
    # hidden for its purpose exactly as a missing item is
    cid = usa.collection_id("KOR")
    missing = item_id(99)
    for call in (
        lambda i: usa.versions_of(user(usa, "defender"), cid, i.split("/")[0]),
        lambda i: item_details(usa, user(usa, "defender"), i),
    ):
        hidden, absent = (
            refusal(lambda c=call: c(item_id(ASSESSMENT))),
            refusal(lambda c=call: c(missing)),
        )
        assert hidden == absent.replace(missing.split("/")[0], item_id(ASSESSMENT).split("/")[0])


def test_the_originators_own_users_are_bound_by_clearance_and_need_to_know_alone(
    held: dict[str, Node],
) -> None:
    kor = held["KOR"]
    for name in ("assessor", "warner", "defender", "analyst"):
        assert sees(kor, name, item_id(ASSESSMENT)), name
    why = why_not_use(kor, user(kor, "warner"), item_id(ASSESSMENT))
    assert why.decision.allowed
    assert why.decision.purposes is None
    assert "originated this item" in why.notes[0]


def test_the_event_stream_refuses_as_the_other_paths(held: dict[str, Node]) -> None:
    usa = held["USA"]

    async def streamed(name: str) -> set[str]:
        broadcaster = Broadcaster(usa)
        sub = broadcaster.subscribe(user(usa, name))
        try:
            return {e.row.item_id or "" async for e in broadcaster._backlog(sub, 0)}
        finally:
            broadcaster.unsubscribe(sub)

    assert item_id(ASSESSMENT) in asyncio.run(streamed("assessor"))
    assert item_id(ASSESSMENT) not in asyncio.run(streamed("defender"))
    assert item_id(WARNING) in asyncio.run(streamed("defender"))  # at USA: by the grant


def test_a_standing_consent_relay_is_for_defense_warning_only(held: dict[str, Node]) -> None:
    jpn, usa = held["JPN"], held["USA"]
    warning = item_id(WARNING)
    with jpn.store.reading() as r:
        scope = r.object_scope(jpn.collection_id("KOR"), *warning.split("/"))
    assert scope is not None
    assert scope.purposes == STANDING
    assert sees(jpn, "warner", warning)
    assert sees(jpn, "analyst", warning)  # defense and defense.warning
    assert not sees(jpn, "defender", warning)
    assert sees(usa, "defender", warning)  # USA holds it by KOR's grant: for defense
    why = why_not_use(jpn, user(jpn, "defender"), warning)
    assert not why.decision.allowed
    assert why.standing
    assert why.decision.purposes == STANDING
    words = " ".join(why.notes)
    assert "standing consent" in words
    assert "defense.warning only" in words
    assert "asks KOR for an approval" in words
    assert "defender's purposes (defense) lie within none" in why.decision.reasons[0]


def test_why_not_names_the_purposes_and_how_to_get_an_approval(held: dict[str, Node]) -> None:
    usa = held["USA"]
    why = why_not_use(usa, user(usa, "defender"), item_id(ASSESSMENT))
    doc = why.to_json()
    assert doc["decision"] == "deny"
    assert doc["purposes"] == ["defense.assessment"]
    assert doc["user_purposes"] == ["defense"]
    assert doc["standing_consent"] is False
    assert "the label provides it for defense.assessment" in why.notes
    assert any("POST /native/v1/purposes/requests" in n for n in why.notes)
    # an admin asks about another user; an analyst may not
    about = why_not_use(usa, user(usa, "admin"), item_id(ASSESSMENT), "assessor")
    assert about.decision.allowed
    assert about.user == "assessor"
    with pytest.raises(Denied, match="is not an admin"):
        why_not_use(usa, user(usa, "defender"), item_id(ASSESSMENT), "assessor")
    # an item the asker may not see (need-to-know) is missing, purposes or not
    hidden = refusal(lambda: why_not_use(usa, user(usa, "low"), item_id(ASSESSMENT)))
    assert hidden.startswith(f"no item {item_id(ASSESSMENT)!r}")


# ------------------------------------------------------------------ approvals
def test_a_refusal_travels_back_with_its_reason(held: dict[str, Node]) -> None:
    kor, usa = held["KOR"], held["USA"]
    item = item_id(ASSESSMENT)
    asked = approvals.request_approval(usa, user(usa, "admin"), item, "defense.warning")
    with pytest.raises(Denied, match="is not an admin"):
        approvals.requests(usa, user(usa, "analyst"), "outbox")
    send(usa, kor)
    with pytest.raises(BadInput, match="reason"):
        approvals.refuse(kor, user(kor, "admin"), asked.id, " ")
    approvals.refuse(kor, user(kor, "admin"), asked.id, "assessments are not warnings")
    [receipt] = send(kor, usa)
    assert (receipt.status, receipt.result) == ("refused", "stored")
    doc = approvals.request(usa, user(usa, "admin"), asked.id)
    assert (doc.status, doc.reason) == ("refused", "assessments are not warnings")
    assert not sees(usa, "warner", item)
    with pytest.raises(Conflict, match="already refused"):
        approvals.grant(kor, user(kor, "admin"), asked.id, None)


def test_requests_are_checked_at_both_ends(held: dict[str, Node]) -> None:
    kor, usa, jpn = held["KOR"], held["USA"], held["JPN"]
    item = item_id(ASSESSMENT)
    with pytest.raises(Denied, match="is not an admin"):
        approvals.request_approval(usa, user(usa, "analyst"), item, "defense.policy")
    with pytest.raises(BadInput, match=r"unknown purpose 'defense.golf'"):
        approvals.request_approval(usa, user(usa, "admin"), item, "defense.golf")
    with pytest.raises(BadInput, match="its use needs no approval"):
        approvals.request_approval(kor, user(kor, "admin"), item, "defense.policy")
    with pytest.raises(NotFound, match=r"^no item"):  # JPN does not hold it
        approvals.request_approval(jpn, user(jpn, "admin"), item, "defense.policy")
    # a party the originator's records do not show holding the item: as an unknown item
    body = {
        "v": 1,
        "id": messages.new_id(),
        "item": item,
        "item_digest": "00" * 32,
        "purpose": "defense.policy",
        "requested_at": "2026-03-01T09:00:00+00:00",
    }
    with pytest.raises(NotFound, match="originated no item"):
        approvals.receive_request(kor, "JPN", orjson.dumps(body), NOW)
    with pytest.raises(VerificationFailed, match="the digest is not that of"):
        approvals.receive_request(kor, "USA", orjson.dumps(body), NOW)
    late = {**body, "requested_at": "2026-03-05T09:00:00+00:00"}
    with pytest.raises(NotFound, match="originated no item"):  # dated ahead of KOR's now
        approvals.receive_request(kor, "USA", orjson.dumps(late), NOW)


def test_forged_and_replayed_answers_change_nothing(held: dict[str, Node]) -> None:
    kor, usa, jpn = held["KOR"], held["USA"], held["JPN"]
    item = item_id(ASSESSMENT)
    asked = approvals.request_approval(usa, user(usa, "admin"), item, "defense.operations")
    send(usa, kor)
    digest = item_details(usa, user(usa, "assessor"), item).verified.digest.hex()
    good = {
        "item": item,
        "item_digest": digest,
        "holder": "USA",
        "purpose": "defense.operations",
        "granted_at": "2026-03-01T09:00:00+00:00",
        "expires_at": None,
    }

    def answer(statement: object, sender: str = "KOR") -> ConsentReceipt:
        msg = {"v": 1, "request": asked.id, "item": item, "status": "granted"}
        msg |= {"answered_at": "2026-03-01T09:00:00+00:00", "approval": statement}
        return approvals.receive_answer(usa, sender, orjson.dumps(msg), NOW)

    by_jpn = sign_statement(jpn.keyring, approvals.STATEMENT_KIND, good)
    with pytest.raises(VerificationFailed, match="signed by 'JPN', not by KOR"):
        answer(by_jpn)
    with pytest.raises(VerificationFailed, match="answered a request addressed to KOR"):
        answer(by_jpn, sender="JPN")
    other = sign_statement(kor.keyring, approvals.STATEMENT_KIND, {**good, "purpose": "defense"})
    with pytest.raises(VerificationFailed, match="its purpose is not the request's"):
        answer(other)
    elsewhere = sign_statement(kor.keyring, approvals.STATEMENT_KIND, {**good, "holder": "JPN"})
    with pytest.raises(VerificationFailed, match="its holder is not the request's"):
        answer(elsewhere)
    tampered = sign_statement(kor.keyring, approvals.STATEMENT_KIND, good)
    tampered["body"]["expires_at"] = "2099-01-01T00:00:00+00:00"
    with pytest.raises(VerificationFailed, match="does not verify"):
        answer(tampered)
    consent_kind = sign_statement(kor.keyring, "consent", good)
    with pytest.raises(VerificationFailed, match="of kind 'consent'"):
        answer(consent_kind)
    expired = {**good, "expires_at": "2026-03-01T08:00:00+00:00"}
    expired["granted_at"] = "2026-03-01T07:00:00+00:00"
    with pytest.raises(Denied, match="before the request was made"):
        answer(sign_statement(kor.keyring, approvals.STATEMENT_KIND, expired))
    future = {**good, "granted_at": "2026-03-02T09:00:00+00:00"}
    with pytest.raises(Denied, match="after this node's now"):
        answer(sign_statement(kor.keyring, approvals.STATEMENT_KIND, future))
    assert approvals.request(usa, user(usa, "admin"), asked.id).status == "pending"
    with usa.store.reading() as r:
        scope = r.object_scope(usa.collection_id("KOR"), *item.split("/"))
    assert scope is not None
    assert "defense.operations" not in {a.purpose for a in scope.approvals}
    # the originator's real answer, then the same answer again: a duplicate
    approvals.grant(kor, user(kor, "admin"), asked.id, None)
    [row] = messages.due(kor, WALL, recipient="USA")
    first = approvals.receive_answer(usa, "KOR", row.body, NOW)
    again = approvals.receive_answer(usa, "KOR", row.body, NOW)
    assert (first.result, again.result) == ("stored", "duplicate")
    messages.delivered(kor, row, first.to_json(), NOW)
    with usa.store.reading() as r:
        scope = r.object_scope(usa.collection_id("KOR"), *item.split("/"))
    assert scope is not None
    assert "defense.operations" in {a.purpose for a in scope.approvals}


def test_an_approval_travels_there_and_back_and_widens_the_use_until_it_expires(
    held: dict[str, Node], clock: FixedClock
) -> None:
    kor, usa = held["KOR"], held["USA"]
    item = item_id(ASSESSMENT)
    asked = approvals.request_approval(usa, user(usa, "admin"), item, "defense")
    assert (asked.status, asked.originator, asked.holder, asked.purpose) == (
        "pending",
        "KOR",
        "USA",
        "defense",
    )
    with pytest.raises(Conflict, match="already requested"):
        approvals.request_approval(usa, user(usa, "admin"), item, "defense")
    [stored] = send(usa, kor)
    assert (stored.status, stored.result) == ("pending", "stored")
    inbox = approvals.requests(kor, user(kor, "admin"), "inbox")
    assert (inbox[-1].id, inbox[-1].holder, inbox[-1].purpose) == (asked.id, "USA", "defense")
    assert inbox[-1].status == "pending"
    before = kor.log.size()
    granted = approvals.grant(kor, user(kor, "admin"), asked.id, NOW + timedelta(days=1))
    assert granted.status == "granted"
    logged = orjson.loads(kor.log.entry(before))
    assert logged["type"] == "purpose.approval"
    assert (logged["item"], logged["holder"], logged["purpose"]) == (item, "USA", "defense")
    assert not sees(usa, "defender", item)
    before = usa.log.size()
    [receipt] = send(kor, usa)
    assert (receipt.status, receipt.result) == ("granted", "stored")
    logged = orjson.loads(usa.log.entry(before))
    assert (logged["type"], logged["originator"], logged["expires"]) == (
        "purpose.approval",
        "KOR",
        "2026-03-02T09:00:00+00:00",
    )
    outbox = approvals.request(usa, user(usa, "admin"), asked.id)
    assert (outbox.status, outbox.expires_at) == ("granted", "2026-03-02T09:00:00+00:00")
    assert sees(usa, "defender", item)
    assert sees(usa, "assessor", item)  # an approval never narrows
    assert sees(usa, "warner", item)  # defense.warning lies within defense
    assert not sees(usa, "low", item)  # need-to-know still binds
    assert not sees(held["JPN"], "defender", item)  # for that holder only (JPN holds nothing)
    with pytest.raises(Conflict, match="already provided for defense"):
        approvals.request_approval(usa, user(usa, "admin"), item, "defense.policy")
    clock.advance(timedelta(days=1))
    try:
        assert not sees(usa, "defender", item)  # expired: the label's purposes again
        assert sees(usa, "assessor", item)
    finally:
        clock.advance(-timedelta(days=1))


def test_a_classification_notice_keeps_the_holders_approvals(held: dict[str, Node]) -> None:
    kor, usa = held["KOR"], held["USA"]
    item = item_id(ASSESSMENT)

    def approved() -> set[str]:
        with usa.store.reading() as r:
            scope = r.object_scope(usa.collection_id("KOR"), *item.split("/"))
        assert scope is not None
        return {a.purpose for a in scope.approvals}

    before = approved()
    assert "defense" in before
    notices.reclassify(kor, user(kor, "admin"), item, "I")
    [row] = messages.due(kor, WALL, recipient="USA")
    assert row.path == messages.NOTICE_PATH
    receipt = notices.receive(usa, "KOR", row.body, NOW)
    messages.delivered(kor, row, receipt.to_json(), NOW)
    assert item_details(usa, user(usa, "assessor"), item).classification == "I"
    assert approved() == before
    assert sees(usa, "defender", item)


# ------------------------------------------------------------------ the stored purposes
def test_the_migration_gives_received_items_their_purposes(held: dict[str, Node]) -> None:
    """Schema 2's backfill on real stores: what each received item was provided for, read
    from its sealed bytes (the label's; defense.warning for a standing-consent relay)."""
    jpn, usa = held["JPN"], held["USA"]
    for node, item, expected in (
        (usa, item_id(ASSESSMENT), ("defense.assessment",)),
        (usa, item_id(WARNING), ("defense",)),
        (jpn, item_id(WARNING), STANDING),
    ):
        with node.store.reading() as r:
            found = r.item(item)
        assert found is not None
        assert found[2] is not None
        assert received_purposes(found[1], found[2]) == expected
    with jpn.store.reading() as r:  # the sealed bytes as a store before schema 5 kept them
        plain = [(found[1], i) for i in (item_id(WARNING),) if (found := r.item(i)) is not None]
    path = jpn.config.data_dir / "node.sqlite3"
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        con.execute("UPDATE objects SET purposes = NULL")
        con.executemany("UPDATE items SET sealed = ? WHERE item_id = ?", plain)
        add_purposes(con)
        con.execute("COMMIT")
        rows = con.execute("SELECT item_id, purposes FROM objects WHERE purposes IS NOT NULL")
        assert dict(rows.fetchall()) == {item_id(WARNING): '["defense.warning"]'}
    finally:
        con.close()


# ------------------------------------------------------------------ over HTTP, in process
TAXII_MEDIA = "application/taxii+json;version=2.1"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def http(node: Node, calls: Any) -> Any:
    """Run ``calls(client)`` against the node's ASGI application (no socket, no background
    senders)."""

    async def run() -> Any:
        transport = httpx.ASGITransport(app=create_app(node, push=False))
        async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
            return await calls(client)

    return asyncio.run(run())


def taxii_paths(item: str) -> list[str]:
    stix_id = item.split("/", maxsplit=1)[0]
    base = "/api/collections/received-KOR"
    return [
        f"{base}/objects/?match[id]={stix_id}",
        f"{base}/objects/{stix_id}/",
        f"{base}/objects/{stix_id}/versions/",
        f"{base}/manifest/?match[id]={stix_id}",
        f"/native/v1/items/{item}",
    ]


def test_every_http_read_path_refuses_as_for_a_missing_item(held: dict[str, Node]) -> None:
    usa = held["USA"]
    item, missing = item_id(PRISTINE), item_id(99)

    async def calls(client: httpx.AsyncClient) -> dict[str, list[tuple[int, str]]]:
        found: dict[str, list[tuple[int, str]]] = {}
        for name in ("assessor", "warner"):
            auth = (name, f"tok-{name}")
            for label, target in (("item", item), ("missing", missing)):
                got = []
                for path in taxii_paths(target):
                    headers = {"Accept": "application/json" if "native" in path else TAXII_MEDIA}
                    r = await client.get(path, auth=auth, headers=headers)
                    got.append((r.status_code, r.text.replace(target.split("/")[0], "ID")))
                found[f"{name}-{label}"] = got
        return found

    seen = http(usa, calls)
    assert [code for code, _ in seen["assessor-item"]] == [200] * 5
    assert item.split("/")[0] not in seen["assessor-missing"][0][1]
    assert '"objects"' in seen["assessor-item"][0][1]
    # the warner (defense.warning) may not use an assessment: answered as a missing item
    assert seen["warner-item"] == seen["warner-missing"]
    assert [code for code, _ in seen["warner-item"]] == [200, 404, 404, 200, 404]


def test_the_console_item_page_why_not_and_an_approval_through_the_console(
    held: dict[str, Node],
) -> None:
    kor, usa = held["KOR"], held["USA"]
    item = item_id(PRISTINE)

    async def signed_in(client: httpx.AsyncClient, token: str) -> str:
        page = await client.get("/console/login")
        found = CSRF.search(page.text)
        assert found is not None
        r = await client.post("/console/login", data={"csrf": found.group(1), "token": token})
        assert r.status_code == 303, r.text
        home = await client.get("/console/purposes")
        csrf = CSRF.search(home.text)
        assert csrf is not None
        return csrf.group(1)

    async def as_holder(client: httpx.AsyncClient) -> dict[str, Any]:
        await signed_in(client, "tok-warner")
        hidden = await client.get(f"/console/items/{item}")
        absent = await client.get(f"/console/items/{item_id(99)}")
        why = await client.get("/console/purposes", params={"item": item})
        feed = await client.get("/console/")
        return {"hidden": hidden, "absent": absent, "why": why, "feed": feed}

    got = http(usa, as_holder)
    assert got["hidden"].status_code == got["absent"].status_code == 404
    assert got["hidden"].text.replace(item, "X") == got["absent"].text.replace(item_id(99), "X")
    assert got["why"].status_code == 200
    assert 'data-decision="deny"' in got["why"].text
    assert "Provided here for:" in got["why"].text
    assert "asks KOR for an approval" in got["why"].text
    assert "Inbox" not in got["why"].text  # not an admin
    assert got["feed"].status_code == 200
    assert "Report 2" in got["feed"].text  # the warning, which it may use
    assert "Report 3" not in got["feed"].text

    async def as_assessor(client: httpx.AsyncClient) -> tuple[httpx.Response, httpx.Response]:
        await signed_in(client, "tok-assessor")
        return await client.get(f"/console/items/{item}"), await client.get("/console/")

    page, feed = http(usa, as_assessor)
    assert "Report 3" in feed.text
    assert page.status_code == 200
    assert "provided here for defense" in page.text
    assert 'id="purpose-request-form"' not in page.text  # an analyst asks nobody

    # an admin asks from the item page's form, KOR's admin refuses in its console's inbox
    async def as_usa_admin(client: httpx.AsyncClient) -> tuple[httpx.Response, httpx.Response]:
        csrf = await signed_in(client, "tok-chief")
        page = await client.get(f"/console/items/{item}")
        asked = await client.post(
            "/console/purposes/request",
            data={"csrf": csrf, "item": item, "purpose": "defense.policy"},
        )
        return page, asked

    page, asked = http(usa, as_usa_admin)
    assert 'id="purpose-request-form"' in page.text
    assert '<option value="defense.policy">' in page.text
    assert asked.status_code == 303, asked.text
    send(usa, kor)

    async def as_kor_admin(client: httpx.AsyncClient) -> tuple[str, httpx.Response]:
        csrf = await signed_in(client, held_tokens["KOR"]["admin"])
        inbox = await client.get("/console/purposes")
        pending = re.findall(r'data-request="([^"]+)" data-status="pending"', inbox.text)
        refused = await client.post(
            "/console/purposes/refuse",
            data={"csrf": csrf, "request": pending[0], "reason": "not for policy"},
        )
        return inbox.text, refused

    text, refused = http(kor, as_kor_admin)
    assert "USA asks to use" in text
    assert refused.status_code == 303
    assert refused.headers["location"].endswith("done=purpose-refused")


def test_the_native_api_asks_answers_and_explains(held: dict[str, Node]) -> None:
    kor, usa = held["KOR"], held["USA"]
    item = item_id(PRISTINE)
    json_ = {"Accept": "application/json"}
    warner = ("warner", "tok-warner")

    async def ask(client: httpx.AsyncClient) -> list[httpx.Response]:
        base = "/native/v1/purposes"
        return [
            await client.get(f"{base}/why-not", params={"item": item}, auth=warner, headers=json_),
            await client.post(
                f"{base}/requests",
                json={"item": item, "purpose": "defense.warning"},
                auth=("chief", "tok-chief"),
                headers=json_,
            ),
            await client.post(
                f"{base}/requests",
                json={"item": item, "purpose": "defense.golf"},
                auth=("chief", "tok-chief"),
                headers=json_,
            ),
            await client.post(
                f"{base}/requests",
                json={"item": item, "purpose": "defense.warning"},
                auth=warner,
                headers=json_,
            ),
        ]

    why, asked, golf, analyst = http(usa, ask)
    assert why.status_code == 200, why.text
    assert (why.json()["decision"], why.json()["purposes"]) == ("deny", ["defense.assessment"])
    assert asked.status_code == 201, asked.text
    assert (asked.json()["status"], asked.json()["purpose"]) == ("pending", "defense.warning")
    assert golf.status_code == 422
    assert "unknown purpose 'defense.golf'" in golf.json()["description"]
    assert analyst.status_code == 403
    send(usa, kor)
    rid = asked.json()["id"]
    admin = ("admin", held_tokens["KOR"]["admin"])

    async def answer(client: httpx.AsyncClient) -> list[httpx.Response]:
        base = "/native/v1/purposes/requests"
        return [
            await client.get(base, params={"box": "inbox"}, auth=admin, headers=json_),
            await client.post(
                f"{base}/{rid}/grant",
                json={"expires_at": "2026-06-01T00:00:00+09:00"},
                auth=admin,
                headers=json_,
            ),
            await client.post(
                f"{base}/{rid}/refuse", json={"reason": "late"}, auth=admin, headers=json_
            ),
        ]

    inbox, granted, again = http(kor, answer)
    assert rid in {r["id"] for r in inbox.json()}
    assert granted.status_code == 200, granted.text
    assert granted.json()["expires_at"] == "2026-06-01T00:00:00+09:00"
    assert again.status_code == 409
    send(kor, usa)

    async def read(client: httpx.AsyncClient) -> list[httpx.Response]:
        return [
            await client.get(f"/native/v1/items/{item}", auth=warner, headers=json_),
            await client.get(
                "/native/v1/purposes/why-not", params={"item": item}, auth=warner, headers=json_
            ),
        ]

    details, why = http(usa, read)
    assert details.status_code == 200, details.text
    assert why.json()["decision"] == "allow"
    assert any(
        "KOR approved its use for defense.warning here until" in n for n in why.json()["notes"]
    )
