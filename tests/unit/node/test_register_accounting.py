"""The register and accounting between in-process nodes (DOMAIN.md §7.3): accesses recorded
with their purpose; the register's root logged and verified, and a tampered, removed or
truncated record found; the CLI's register (text, --json, --verify); an accounting's round
trip KOR → USA → KOR, signed, naming no person; forged and misdirected answers refused; admins
only; items not held, or held of another originator, answered as absent."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import orjson
import pytest

from gsomia.app.boot import load_config, open_node
from gsomia.cli.app import main
from gsomia.clock import FixedClock
from gsomia.domain.access import Clearance, Role
from gsomia.errors import BadInput, Denied, NotFound, VerificationFailed
from gsomia.node import accesses, accounting, federation, messages, register
from gsomia.node.config import User
from gsomia.node.service import Filters, Node
from gsomia.node.stix import GSOMIA_LABEL_EXTENSION, new_marking_id
from gsomia.seal.statements import sign_statement
from gsomia.store.ports import MessageRow
from tests.integration.nodes import PASSPHRASE, NodeProc, make_nodes, report

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
WALL = 1e12  # every queued message is due


def item_id(n: int) -> str:
    return f"report--00000000-0000-4000-8000-{n:012d}/2026-01-01T00:00:00.000Z"


@pytest.fixture(scope="module")
def procs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, NodeProc]:
    return make_nodes(tmp_path_factory.mktemp("register"), scenario="lapse-2019")


@pytest.fixture(scope="module")
def trio(procs: dict[str, NodeProc]) -> Iterator[dict[str, Node]]:
    nodes = {
        p: open_node(
            load_config(procs[p].config), clock=FixedClock(NOW), passphrase=PASSPHRASE.encode()
        )
        for p in procs
    }
    yield nodes
    for node in nodes.values():
        node.close()


def user(node: Node, name: str) -> User:
    return next(u for u in node.config.users if u.name == name)


def publish(node: Node, n: int, by: User | None = None, **kw: object) -> str:
    envelope = report(n, originator=node.party, **kw)  # type: ignore[arg-type]
    author = by or user(node, "analyst")
    node.publish(author, envelope["objects"], node.collection_id(node.party))
    return item_id(n)


def release(sender: Node, recipient: Node, item: str) -> None:
    rows = [r for r in federation.due(sender, WALL, 1000) if r.item_id == item]
    ready = federation.recheck(sender, [r for r in rows if r.recipient == recipient.party], NOW)
    federation.receive(recipient, sender.party, [o.item for o in ready], NOW)
    federation.mark_sent(sender, ready, NOW)


def read(node: Node, who: str, originator: str, route: str = accesses.TAXII) -> None:
    """``who`` reads the collection of ``originator``'s items, as TAXII's objects page does."""
    reader = user(node, who)
    page = node.page(reader, node.collection_id(originator), Filters(), None, None)
    register.record_rows(node, reader, page.rows, route)


def due(node: Node, path: str) -> list[MessageRow]:
    return [m for m in messages.due(node, WALL, 1000) if m.path == path]


def deliver(sender: Node, recipient: Node, path: str) -> list[accounting.AccountingReceipt]:
    """Send ``sender``'s due messages on ``path`` as the peer route would receive them."""
    handler = {
        accounting.REQUEST_PATH: accounting.receive_request,
        accounting.ANSWER_PATH: accounting.receive_answer,
    }[path]
    done = []
    for row in due(sender, path):
        receipt = handler(recipient, sender.party, row.body, NOW)
        messages.delivered(sender, row, receipt.to_json(), NOW)
        done.append(receipt)
    return done


@pytest.fixture(scope="module")
def held(trio: dict[str, Node]) -> tuple[str, str, str]:
    """KOR's items 1 and 2 released to USA (3 is not), JPN's 50 released to USA; read at USA."""
    kor, usa, jpn = trio["KOR"], trio["USA"], trio["JPN"]
    first, second = publish(kor, 1, releasable_to=("USA",)), publish(kor, 2, releasable_to=("USA",))
    publish(kor, 3, releasable_to=("USA",), topics=("dprk.nuclear",))
    release(kor, usa, first)
    release(kor, usa, second)
    theirs = publish(jpn, 50, releasable_to=("USA",))
    release(jpn, usa, theirs)
    read(usa, "analyst", "KOR")
    read(usa, "admin", "KOR")
    read(usa, "analyst", "KOR", accesses.EVENTS)
    read(usa, "analyst", "JPN")
    return first, second, theirs


# ------------------------------------------------------------------ recording
def test_the_purpose_recorded_is_the_first_of_the_users_within_the_items() -> None:
    assert accesses.recorded_purpose(("defense",), ("defense",)) == "defense"
    assert accesses.recorded_purpose(("defense.warning",), ("defense",)) == "defense.warning"
    mine = ("defense.policy", "defense.warning")
    assert accesses.recorded_purpose(mine, ("defense.warning",)) == "defense.warning"
    assert accesses.recorded_purpose(mine, ("defense.operations",)) == "defense.policy"


def test_each_read_records_the_items_served_with_user_route_and_purpose(
    trio: dict[str, Node], held: tuple[str, str, str]
) -> None:
    usa = trio["USA"]
    first, _, theirs = held
    with usa.store.reading() as r:
        rows = r.accesses(item_id=first)
        mine = [(a.user, a.route, a.purpose, a.at) for a in rows]
        assert [a.item_id for a in r.accesses(item_id=theirs)] == [theirs]
    at = "2026-03-01T09:00:00+00:00"
    assert mine == [
        ("analyst", "taxii", "defense", at),
        ("admin", "taxii", "defense", at),
        ("analyst", "events", "defense", at),
    ]
    assert all(a.wall_ms > 1_700_000_000_000 for a in rows)
    history = register.item_accesses(usa, user(usa, "admin"), first)
    assert [(h.user, h.route) for h in history] == [(u, r) for u, r, _, _ in mine]
    with pytest.raises(Denied, match="not an admin"):
        register.item_accesses(usa, user(usa, "analyst"), first)


def test_a_label_s_purposes_decide_the_purpose_recorded(trio: dict[str, Node]) -> None:
    kor = trio["KOR"]
    warned = publish(kor, 60, releasable_to=("USA",))
    analyst = user(kor, "analyst")
    policy = ("defense.policy", "defense.warning")
    reader = User(analyst.name, analyst.token_sha256, _with_purposes(analyst, policy))
    page = kor.page(reader, kor.collection_id("KOR"), Filters(ids=(warned.split("/")[0],)), 5, None)
    register.record_rows(kor, reader, page.rows, accesses.TAXII)
    with kor.store.reading() as r:
        [found] = r.accesses(item_id=warned)
    assert found.purpose == "defense.policy"  # the label says defense: the first within it


def _with_purposes(u: User, purposes: tuple[str, ...]) -> Clearance:
    return replace(u.clearance, purposes=purposes)


# ------------------------------------------------------------------ the register
def test_the_register_lists_users_with_clearance_need_to_know_purposes_and_last_access(
    trio: dict[str, Node], held: tuple[str, str, str]
) -> None:
    usa = trio["USA"]
    found = register.register(usa, user(usa, "admin")).to_json()
    by_name = {u["name"]: u for u in found["users"]}
    assert set(by_name) == {"admin", "analyst", "authority", "low"}
    assert by_name["low"]["clearance"] == "CONFIDENTIAL"
    assert by_name["low"]["need_to_know"] == ["dprk.nuclear"]
    assert by_name["low"]["purposes"] == ["defense"]
    assert by_name["low"]["last_access"] is None
    assert by_name["analyst"]["last_access"]["item"] == held[2]
    with pytest.raises(Denied, match="not an admin"):
        register.register(usa, user(usa, "analyst"))
    # an admin who may not see the item another user read last is not told its id
    low = user(usa, "low")
    low_admin = replace(low, name="low-admin", clearance=replace(low.clearance, role=Role.ADMIN))
    shown = register.register(usa, low_admin).to_json()
    last = {u["name"]: u["last_access"] for u in shown["users"]}["analyst"]
    assert last["item"] == register.HIDDEN_ITEM
    assert held[2] not in orjson.dumps(shown).decode()


def test_the_cli_lists_the_register_as_text_and_json(
    procs: dict[str, NodeProc],
    held: tuple[str, str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GSOMIA_PASSPHRASE", PASSPHRASE)
    config = str(procs["USA"].config)
    assert main(["node", "register", "--config", config]) == 0
    text = capsys.readouterr().out
    assert text.startswith("register of USA: 4 users, ")
    assert (
        "low: analyst, clearance CONFIDENTIAL (CONFIDENTIAL), need-to-know dprk.nuclear, " in text
    )
    assert "purposes defense; last access none" in text
    assert main(["node", "register", "--config", config, "--json"]) == 0
    doc = orjson.loads(capsys.readouterr().out)
    assert doc["party"] == "USA"
    assert [u["name"] for u in doc["users"]] == ["admin", "analyst", "authority", "low"]
    assert main(["node", "register", "--config", "/nonexistent.toml"]) == 2
    assert "no such file" in capsys.readouterr().err


# ------------------------------------------------------------------ the register's root
@pytest.fixture
def jpn_records(trio: dict[str, Node]) -> Node:
    """JPN's register, roots logged at sizes 1, 2 and 4 (fresh for each test: tampered)."""
    jpn = trio["JPN"]
    with jpn.store.reading() as r:
        if r.accesses():
            return jpn
    mine = publish(jpn, 70, releasable_to=("USA",))
    analyst = user(jpn, "analyst")
    for size in (1, 2, 4):
        with jpn.store.reading() as r:
            count = len(r.accesses())
        for _ in range(size - count):
            register.record_item(jpn, analyst, mine, ("defense",), accesses.API)
        logged = register.log_root(jpn)
        assert logged is not None
        assert logged.size == size
    assert register.log_root(jpn) is None  # nothing new: nothing logged
    return jpn


def sql(node: Node, statement: str, *args: object) -> None:
    con = sqlite3.connect(node.config.data_dir / "node.sqlite3")
    try:
        with con:
            con.execute(statement, args)
    finally:
        con.close()


def test_the_register_root_is_logged_and_verifies(jpn_records: Node) -> None:
    check = register.verify(jpn_records)
    assert (check.records, check.roots, check.verified_size) == (4, 3, 4)
    [*_, last] = register.logged_roots(jpn_records)
    entry = orjson.loads(jpn_records.log.entry(last.entry))
    assert entry["type"] == "register.root"
    assert (entry["size"], entry["root"]) == (4, last.root)


@pytest.mark.parametrize(
    ("change", "undo", "said"),
    [
        (
            "UPDATE access_records SET user_name = 'mallory' WHERE seq = 2",
            "UPDATE access_records SET user_name = 'analyst' WHERE seq = 2",
            r"register: the records 1–2 give the root [0-9a-f]{64}, but the log's register.root "
            r"at entry \d+ says [0-9a-f]{64}: record 2 was altered$",
        ),
        (
            "UPDATE access_records SET purpose = 'defense.policy' WHERE seq = 4",
            "UPDATE access_records SET purpose = 'defense' WHERE seq = 4",
            r"a record among 3–4 was altered \(records 1–2 match the roots logged before\)$",
        ),
        (
            "UPDATE access_records SET seq = 9 WHERE seq = 3",
            "UPDATE access_records SET seq = 3 WHERE seq = 9",
            r"^register: record 3 is missing \(the next record is 4\)",
        ),
        (
            "UPDATE access_records SET seq = -seq WHERE seq = 4",
            "UPDATE access_records SET seq = -seq WHERE seq = -4",
            r"covers 4 records, but only 3 are held: records 4–4 were removed",
        ),
    ],
    ids=["altered", "altered-among", "removed", "truncated"],
)
def test_a_tampered_register_fails_verification_naming_the_records(  # noqa: PLR0917 - fixtures and cases
    jpn_records: Node,
    procs: dict[str, NodeProc],
    change: str,
    undo: str,
    said: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sql(jpn_records, change)
    try:
        with pytest.raises(VerificationFailed, match=said):
            register.verify(jpn_records)
        monkeypatch.setenv("GSOMIA_PASSPHRASE", PASSPHRASE)
        config = str(procs["JPN"].config)
        assert main(["node", "register", "--config", config, "--verify"]) == 3
        assert capsys.readouterr().err.startswith("error: register: ")
    finally:
        sql(jpn_records, undo)
    register.verify(jpn_records)


def test_the_cli_verifies_the_register(
    jpn_records: Node,
    procs: dict[str, NodeProc],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GSOMIA_PASSPHRASE", PASSPHRASE)
    config = str(procs["JPN"].config)
    assert main(["node", "register", "--config", config, "--verify", "--json"]) == 0
    doc = orjson.loads(capsys.readouterr().out)
    assert (doc["result"], doc["records"], doc["roots"], doc["unlogged"]) == ("verified", 4, 3, 0)
    assert main(["node", "register", "--config", config, "--verify"]) == 0
    assert capsys.readouterr().out.startswith("register of JPN verified: 4 records, 3 roots")


# ------------------------------------------------------------------ accounting
def test_an_accounting_round_trip_counts_and_names_no_one(
    trio: dict[str, Node], held: tuple[str, str, str]
) -> None:
    kor, usa = trio["KOR"], trio["USA"]
    first, second, _ = held
    asked = accounting.request_accounting(kor, user(kor, "admin"), "USA", None)
    assert asked.status == "pending"
    [receipt] = deliver(kor, usa, accounting.REQUEST_PATH)
    assert receipt.to_json() == {"request": asked.id, "status": "answered", "result": "stored"}
    [answer] = due(usa, accounting.ANSWER_PATH)
    for name in ("analyst", "admin"):  # anywhere in the bytes, signature included
        assert name.encode() not in answer.body
    unsigned = orjson.loads(answer.body)
    del unsigned["statement"]["signature"]
    assert b"low" not in orjson.dumps(unsigned)  # 3 letters: not looked for in base64
    [stored] = deliver(usa, kor, accounting.ANSWER_PATH)
    assert stored.result == "stored"
    [found] = accounting.accountings(kor, user(kor, "admin"))
    assert (found.id, found.status, found.absent) == (asked.id, "answered", ())
    lines = {x.item: x for x in found.lines}
    assert set(lines) == {first, second}  # item 3 was never released to USA
    assert (lines[first].accesses, lines[first].persons) == (3, 2)
    assert lines[first].purposes == (("defense", 3),)
    assert (lines[second].accesses, lines[second].persons) == (3, 2)
    [line] = accounting.item_accountings(kor, user(kor, "admin"), first)
    assert line.to_json()["summary"] == "3 accesses by 2 persons for defense"
    assert (line.holder, line.at) == ("USA", "2026-03-01T09:00:00+00:00")
    # a retried answer or request changes nothing
    assert accounting.receive_answer(kor, "USA", answer.body, NOW).result == "duplicate"


def test_only_admins_ask_and_only_for_their_own_items_they_may_see(
    trio: dict[str, Node], held: tuple[str, str, str]
) -> None:
    kor = trio["KOR"]
    with pytest.raises(Denied, match="not an admin of KOR"):
        accounting.request_accounting(kor, user(kor, "analyst"), "USA", None)
    admin = user(kor, "admin")
    with pytest.raises(BadInput, match="holder: KOR is this node"):
        accounting.request_accounting(kor, admin, "KOR", None)
    with pytest.raises(BadInput, match="holder: unknown party"):
        accounting.request_accounting(kor, admin, "XXX", None)
    analyst = user(kor, "analyst")
    navy = replace(analyst, clearance=replace(analyst.clearance, need_to_know=("prc",)))
    hidden = publish(kor, 80, navy, releasable_to=("USA",), topics=("prc.navy",))
    with pytest.raises(NotFound, match=r"^no item ") as missing:
        accounting.request_accounting(kor, admin, "USA", [item_id(999)])
    with pytest.raises(NotFound, match=r"^no item ") as unseen:
        accounting.request_accounting(kor, admin, "USA", [hidden])
    assert str(unseen.value) == str(missing.value).replace(item_id(999), hidden)


def test_the_holder_answers_items_not_held_or_of_another_originator_as_absent(
    trio: dict[str, Node], held: tuple[str, str, str]
) -> None:
    kor, usa = trio["KOR"], trio["USA"]
    first, _, theirs = held
    unreleased = item_id(3)
    asked = accounting.request_accounting(kor, user(kor, "admin"), "USA", [first, unreleased])
    deliver(kor, usa, accounting.REQUEST_PATH)
    deliver(usa, kor, accounting.ANSWER_PATH)
    [found] = [q for q in accounting.accountings(kor, user(kor, "admin")) if q.id == asked.id]
    assert [x.item for x in found.lines] == [first]
    assert found.absent == (unreleased,)
    # KOR asking about JPN's item held at USA: absent, in the same words as one not held
    rid = messages.new_id()
    body = {"v": 1, "id": rid, "requested_at": "2026-03-01T09:00:00+00:00"}
    raw = orjson.dumps({**body, "items": [theirs, item_id(998)]})
    accounting.receive_request(usa, "KOR", raw, NOW)
    [answer] = [
        m for m in due(usa, accounting.ANSWER_PATH) if orjson.loads(m.body)["request"] == rid
    ]
    statement = orjson.loads(answer.body)["statement"]["body"]
    assert (statement["items"], sorted(statement["absent"])) == ([], sorted([theirs, item_id(998)]))


def _answer(usa: Node, kor: Node, rid: str, **changes: object) -> bytes:
    body = {
        "v": 1,
        "request": rid,
        "originator": kor.party,
        "holder": usa.party,
        "at": "2026-03-01T09:00:00+00:00",
        "items": [],
        "absent": [],
        **changes,
    }
    return orjson.dumps(
        {"v": 1, "request": rid, "statement": sign_statement(usa.keyring, "accounting", body)}
    )


def test_forged_or_misdirected_accountings_are_refused(
    trio: dict[str, Node], held: tuple[str, str, str]
) -> None:
    kor, usa, jpn = trio["KOR"], trio["USA"], trio["JPN"]
    asked = accounting.request_accounting(kor, user(kor, "admin"), "USA", None)
    [row] = [m for m in due(kor, accounting.REQUEST_PATH) if orjson.loads(m.body)["id"] == asked.id]
    messages.delivered(kor, row, {}, NOW)  # not sent: the answers below are made here
    good = orjson.loads(_answer(usa, kor, asked.id))
    tampered = orjson.loads(_answer(usa, kor, asked.id))
    tampered["statement"]["body"]["items"] = [
        {"item": held[0], "accesses": 1, "persons": 1, "purposes": {"defense": 1}}
    ]
    with pytest.raises(VerificationFailed, match="the signature of USA does not verify"):
        accounting.receive_answer(kor, "USA", orjson.dumps(tampered), NOW)
    with pytest.raises(VerificationFailed, match="JPN answered a request made of USA"):
        accounting.receive_answer(kor, "JPN", orjson.dumps(good), NOW)
    by_jpn = orjson.loads(_answer(jpn, kor, asked.id))
    with pytest.raises(VerificationFailed, match="signed by 'JPN', not by USA"):
        accounting.receive_answer(kor, "USA", orjson.dumps(by_jpn), NOW)
    other = _answer(usa, kor, asked.id, originator="JPN")
    with pytest.raises(VerificationFailed, match="answers another request"):
        accounting.receive_answer(kor, "USA", other, NOW)
    foreign = _answer(
        usa,
        kor,
        asked.id,
        items=[{"item": held[2], "accesses": 1, "persons": 1, "purposes": {"defense": 1}}],
    )
    with pytest.raises(VerificationFailed, match="is not an item of KOR"):
        accounting.receive_answer(kor, "USA", foreign, NOW)
    with pytest.raises(NotFound, match="no accounting request"):
        accounting.receive_answer(kor, "USA", _answer(usa, kor, messages.new_id()), NOW)
    # nothing of it was stored: the request still waits for its answer
    [still] = [q for q in accounting.accountings(kor, user(kor, "admin")) if q.id == asked.id]
    assert still.status == "pending"
    assert accounting.receive_answer(kor, "USA", orjson.dumps(good), NOW).result == "stored"


def test_at_a_holder_the_purpose_comes_from_the_label_it_received(trio: dict[str, Node]) -> None:
    kor, usa = trio["KOR"], trio["USA"]
    envelope = report(90, releasable_to=("USA",))
    marking = envelope["objects"][1]
    marking["id"] = new_marking_id()
    marking["extensions"][GSOMIA_LABEL_EXTENSION]["purposes"] = ["defense.warning"]
    envelope["objects"][2]["object_marking_refs"] = [marking["id"]]
    kor.publish(user(kor, "analyst"), envelope["objects"], kor.collection_id("KOR"))
    release(kor, usa, item_id(90))
    analyst = user(usa, "analyst")
    duties = replace(analyst.clearance, purposes=("defense", "defense.warning"))
    reader = replace(analyst, clearance=duties)
    wanted = Filters(ids=("report--00000000-0000-4000-8000-000000000090",))
    page = usa.page(reader, usa.collection_id("KOR"), wanted, None, None)
    register.record_rows(usa, reader, page.rows, accesses.TAXII)
    with usa.store.reading() as r:
        [found] = r.accesses(item_id=item_id(90))
    assert found.purpose == "defense.warning"  # not "defense": the label is for warning only
