"""Inventory and reconciliation (DOMAIN.md §7.4) between three in-process nodes wired by hand:
a holder's signed inventory (own, received, relayed and destroyed items), the round trip of a
reconciliation with planted differences found as the right findings, the schedule, and who may
ask."""

from __future__ import annotations

import asyncio
import copy
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from gsomia.app.boot import config_from_text, load_config, open_node
from gsomia.app.runtime import Runtime
from gsomia.bus.local import LocalBus
from gsomia.clock import FixedClock
from gsomia.domain.access import Role
from gsomia.errors import BadInput, Denied, NotFound, VerificationFailed
from gsomia.node import consents, destruction, federation, inventory, messages, reconciliation
from gsomia.node.config import User
from gsomia.node.events import Broadcaster
from gsomia.node.service import Node
from tests.integration.nodes import PASSPHRASE, make_nodes, report

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
WALL = 1_800_000_000.0


def item_id(n: int) -> str:
    return f"report--00000000-0000-4000-8000-{n:012d}/2026-01-01T00:00:00.000Z"


def user(node: Node, name: str) -> User:
    return next(u for u in node.config.users if u.name == name)


def take(node: Node, path: str) -> list[tuple[str, bytes]]:
    """The due messages to ``path`` (recipient, body), marked sent."""
    rows = [m for m in messages.due(node, 1e12, 1000) if m.path == path]
    with node.store.writing() as w:
        for m in rows:
            w.message_done(m.id, "sent")
    return [(m.recipient, m.body) for m in rows]


def deliver(node: Node, to: Node, *, received: bool = True, sent: bool = True) -> None:
    """``node``'s due releases to ``to``: received there unless not ``received``; recorded as
    sent at ``node`` if ``sent``, else as refused (the sender's records then say not sent)."""
    rows = [r for r in federation.due(node, 1e12) if r.recipient == to.party]
    ready = federation.recheck(node, rows, NOW)
    if received:
        federation.receive(to, node.party, [o.item for o in ready], NOW)
    if sent:
        federation.mark_sent(node, ready, NOW)
    else:
        with node.store.writing() as w:
            for out in ready:
                w.outbox_done(out.row.id, "refused")


def publish(node: Node, n: int, **label: Any) -> str:
    envelope = report(n, node.party, **label)
    node.publish(user(node, "analyst"), envelope["objects"], node.collection_id(node.party))
    return item_id(n)


@pytest.fixture(scope="module")
def trio(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Node]:
    """KOR's items 1-5 at USA (2 relayed to JPN under standing consent, 3 destroyed at USA, 4
    sent but never received, 5 received but not recorded as sent); USA's own item 6."""
    procs = make_nodes(tmp_path_factory.mktemp("inventory"), scenario="lapse-2019")
    clock = FixedClock(NOW)
    nodes = {
        p: open_node(load_config(procs[p].config), clock=clock, passphrase=PASSPHRASE.encode())
        for p in procs
    }
    kor, usa, jpn = nodes["KOR"], nodes["USA"], nodes["JPN"]
    publish(kor, 1)
    publish(kor, 2, topics=("dprk.missile.warning",))
    publish(kor, 3)
    deliver(kor, usa)
    deliver(usa, jpn)  # USA, the hub, relays item 2 on the link's standing consent
    publish(kor, 4)
    deliver(kor, usa, received=False)  # KOR's records: sent; USA never stored it
    publish(kor, 5)
    deliver(kor, usa, sent=False)  # USA stored it; KOR's records: refused, never sent
    publish(usa, 6, releasable_to=("KOR",))
    # destroyed by the destruction use case: its row gone, what the node keeps states it
    destruction.destroy(usa, user(usa, "admin"), item_id(3), "no longer needed")
    return nodes


def test_an_inventory_states_own_received_and_destroyed_items(trio: dict[str, Node]) -> None:
    usa, kor = trio["USA"], trio["KOR"]
    doc = inventory.inventory(usa, user(usa, "admin"), None)
    stated = inventory.verify_inventory(kor, doc, "USA")  # with USA's public keys, at KOR
    assert stated.originator is None
    by_item = {e.item: e for e in stated.entries}
    assert sorted(by_item) == [item_id(n) for n in (1, 2, 3, 5, 6)]
    own = by_item[item_id(6)]
    assert (own.originator, own.arrived, own.arrived_from, own.disposition) == (
        "USA",
        "originated",
        None,
        "held",
    )
    assert own.level is not None
    assert own.level["level"] == "SECRET"
    got = by_item[item_id(1)]
    assert (got.originator, got.arrived, got.arrived_from, got.classification) == (
        "KOR",
        "received",
        "KOR",
        "II",
    )
    assert got.level is not None
    assert (got.level["party"], got.level["level"]) == ("USA", "SECRET")
    assert [(s.holder, s.recipient, s.under) for s in got.route] == [("KOR", "USA", "grant")]
    assert got.digest is not None
    assert len(got.digest) == 64
    gone = by_item[item_id(3)]
    assert (gone.disposition, gone.destroyed_at, gone.reason) == (
        "destroyed",
        "2026-03-01T09:00:00+00:00",
        "no longer needed",
    )
    assert gone.certificate is not None
    # the relayed item at JPN: received from USA under standing consent
    at_jpn = inventory.verify_inventory(
        kor, inventory.inventory(trio["JPN"], user(trio["JPN"], "admin"), "KOR"), "JPN"
    )
    [relayed] = at_jpn.entries
    assert (relayed.item, relayed.arrived_from) == (item_id(2), "USA")
    assert [(s.holder, s.under, s.standing_consent) for s in relayed.route] == [
        ("USA", "standing", "trilateral-missile-warning-2023")
    ]


def test_an_inventory_of_one_originator_and_any_change_fails(trio: dict[str, Node]) -> None:
    usa, kor = trio["USA"], trio["KOR"]
    doc = inventory.inventory(usa, user(usa, "admin"), "USA")
    assert [e["item"] for e in doc["body"]["items"]] == [item_id(6)]
    tampered = copy.deepcopy(doc)
    tampered["body"]["items"] = []
    with pytest.raises(VerificationFailed, match="the signature of USA does not verify"):
        inventory.verify_inventory(kor, tampered, "USA")
    with pytest.raises(VerificationFailed, match="signed by 'USA', not by JPN"):
        inventory.verify_inventory(kor, doc, "JPN")
    with pytest.raises(BadInput, match="originator: unknown party 'XXX'"):
        inventory.inventory(usa, user(usa, "admin"), "XXX")


def test_only_admins_state_or_reconcile(trio: dict[str, Node]) -> None:
    usa, kor = trio["USA"], trio["KOR"]
    with pytest.raises(Denied, match="user analyst is not an admin of USA"):
        inventory.inventory(usa, user(usa, "analyst"), None)
    with pytest.raises(Denied, match="user analyst is not an admin of KOR"):
        reconciliation.request(kor, user(kor, "analyst"), "USA")
    with pytest.raises(Denied, match="user low is not an admin of KOR"):
        reconciliation.reconciliations(kor, user(kor, "low"))
    with pytest.raises(BadInput, match="holder: KOR is this node"):
        reconciliation.request(kor, user(kor, "admin"), "KOR")


def round_trip(kor: Node, holder: Node) -> reconciliation.Reconciliation:
    asked = reconciliation.request(kor, user(kor, "admin"), holder.party)
    [(to, body)] = take(kor, reconciliation.INVENTORY_REQUEST_PATH)
    assert to == holder.party
    assert reconciliation.receive_request(holder, "KOR", body, NOW).result == "queued"
    assert reconciliation.receive_request(holder, "KOR", body, NOW).result == "duplicate"
    [(back, answer)] = take(holder, reconciliation.INVENTORY_PATH)
    assert back == "KOR"
    inv = orjson.loads(answer)["inventory"]["body"]
    assert {e["originator"] for e in inv["items"]} <= {"KOR"}  # only the asker's items
    with pytest.raises(VerificationFailed, match="answered a request addressed to"):
        reconciliation.receive_inventory(
            kor, "JPN" if holder.party == "USA" else "USA", answer, NOW
        )
    got = reconciliation.receive_inventory(kor, holder.party, answer, NOW)
    assert got.result == "reconciled"
    assert reconciliation.receive_inventory(kor, holder.party, answer, NOW).result == "duplicate"
    return reconciliation.reconciliation(kor, user(kor, "admin"), asked.id)


def test_reconciliation_finds_each_planted_difference(trio: dict[str, Node]) -> None:
    kor, usa = trio["KOR"], trio["USA"]
    done = round_trip(kor, usa)
    assert (done.status, done.items) == ("done", 4)  # KOR's 1, 2, 3 (destroyed) and 5
    found = [(f.kind, f.item) for f in done.findings]
    assert found == [
        ("destroyed", item_id(3)),
        ("sent_not_held", item_id(4)),
        ("held_not_sent", item_id(5)),
    ]
    destroyed = done.findings[0]
    assert (destroyed.at, destroyed.reason) == ("2026-03-01T09:00:00+00:00", "no longer needed")
    assert "certificate verified" in destroyed.detail
    assert "arrived from KOR" in done.findings[2].detail
    assert reconciliation.reconciliations(kor, user(kor, "admin"), "USA")[0].id == done.id


def test_a_relay_under_standing_consent_is_a_softer_finding(trio: dict[str, Node]) -> None:
    """JPN holds KOR's item 2, relayed by USA under standing consent (a finding of the softer
    kind), and item 1, relayed by USA under KOR's consent (no finding: KOR's records agree)."""
    kor, usa, jpn = trio["KOR"], trio["USA"], trio["JPN"]
    rid = consents.request_consent(usa, user(usa, "admin"), item_id(1), "JPN").id
    [(_, asked)] = take(usa, messages.CONSENT_REQUEST_PATH)
    consents.receive_request(kor, "USA", asked, NOW)
    consents.grant(kor, user(kor, "admin"), rid, None)
    [(_, answer)] = take(kor, messages.CONSENT_ANSWER_PATH)
    assert consents.receive_answer(usa, "KOR", answer, NOW).release == "queued"
    deliver(usa, jpn)
    done = round_trip(kor, jpn)
    assert done.items == 2
    [finding] = done.findings
    assert (finding.kind, finding.severity, finding.item, finding.via) == (
        "relayed_under_standing_consent",
        "notice",
        item_id(2),
        "USA",
    )
    assert "trilateral-missile-warning-2023" in finding.detail


def test_a_stated_digest_other_than_the_items_is_found(trio: dict[str, Node]) -> None:
    kor, usa = trio["KOR"], trio["USA"]
    stated = inventory.verify_inventory(kor, inventory.statement(usa, "KOR"), "USA")
    entry = next(e for e in stated.entries if e.item == item_id(1))
    findings = reconciliation.reconcile(kor, "USA", (replace(entry, digest="00" * 32),), NOW)
    assert ("digest_differs", item_id(1)) in [(f.kind, f.item) for f in findings]


def test_an_inventory_for_another_request_or_party_is_refused(trio: dict[str, Node]) -> None:
    kor, usa = trio["KOR"], trio["USA"]
    asked = reconciliation.request(kor, user(kor, "admin"), "USA")
    take(kor, reconciliation.INVENTORY_REQUEST_PATH)
    other = inventory.statement(usa, "KOR", request=messages.new_id())
    body = orjson.dumps({"v": 1, "request": asked.id, "inventory": other})
    with pytest.raises(VerificationFailed, match="the inventory answers request"):
        reconciliation.receive_inventory(kor, "USA", body, NOW)
    unknown = orjson.dumps({"v": 1, "request": messages.new_id(), "inventory": other})
    with pytest.raises(NotFound, match="no reconciliation"):
        reconciliation.receive_inventory(kor, "USA", unknown, NOW)
    assert reconciliation.reconciliation(kor, user(kor, "admin"), asked.id).status == "pending"


def test_the_schedule_asks_each_peer_once_an_interval(trio: dict[str, Node]) -> None:
    kor = trio["KOR"]
    assert reconciliation.scheduled(kor, WALL, 0) == []  # 0: off
    first = reconciliation.scheduled(kor, WALL, 3600)
    assert sorted(d.holder for d in first) == ["JPN", "USA"]
    assert {d.requested_by for d in first} == {"schedule"}
    assert reconciliation.scheduled(kor, WALL + 3599, 3600) == []
    assert len(reconciliation.scheduled(kor, WALL + 3600, 3600)) == 2
    sent = take(kor, reconciliation.INVENTORY_REQUEST_PATH)
    assert sorted(to for to, _ in sent) == ["JPN", "JPN", "USA", "USA"]


def test_the_runtime_reconciles_on_its_schedule_in_wall_time(trio: dict[str, Node]) -> None:
    """The runtime's schedule function, driven directly (no sleeping): a wall clock an hour
    past the last requests asks both peers; at once again, none; the sweep then enqueues the
    messages; ``reconcile_interval = 0`` turns it off; the setting is read from node.toml."""
    kor = trio["KOR"]
    take(kor, reconciliation.INVENTORY_REQUEST_PATH)
    wall = FixedClock(datetime.fromtimestamp(WALL + 10 * 3600, UTC))
    bus = LocalBus()
    runtime = Runtime(kor, Broadcaster(kor), bus=bus, push=False, clock=wall)

    async def run() -> tuple[int, int, int]:
        first, again = await runtime.reconcile(), await runtime.reconcile()
        return first, again, await runtime.sweep()

    assert asyncio.run(run()) == (2, 0, 2)
    assert sorted(to for to, _ in take(kor, reconciliation.INVENTORY_REQUEST_PATH)) == [
        "JPN",
        "USA",
    ]
    config = kor.config
    try:
        kor.config = replace(config, reconcile_interval=0)
        wall.advance(timedelta(days=1))
        assert asyncio.run(runtime.reconcile()) == 0
    finally:
        kor.config = config
    assert config.reconcile_interval == 3600  # the default
    text = config.source.read_text(encoding="utf-8")
    assert (
        config_from_text("reconcile_interval = 60\n" + text, config.source).reconcile_interval == 60
    )
    with pytest.raises(BadInput, match=r"reconcile_interval: expected a number of seconds from 0"):
        config_from_text("reconcile_interval = -1\n" + text, config.source)


def low_admin_of(node: Node) -> User:
    """An admin with the ``low`` user's clearance and need-to-know."""
    low = user(node, "low")
    return replace(low, name="low-admin", clearance=replace(low.clearance, role=Role.ADMIN))


def test_an_admin_sees_no_finding_or_entry_about_items_hidden_from_them(
    trio: dict[str, Node],
) -> None:
    """Clearance and need-to-know bind admins too: what they may not see is left out (and
    the findings left out counted); the statement to an originator stays whole."""
    kor, usa = trio["KOR"], trio["USA"]
    low_admin = low_admin_of(kor)
    done = round_trip(kor, usa)
    assert len(done.findings) == 3
    [seen] = [d for d in reconciliation.reconciliations(kor, low_admin) if d.id == done.id]
    assert (seen.findings, seen.hidden_findings) == ((), 3)
    assert "hidden_findings" not in done.to_json()
    assert inventory.inventory(usa, low_admin_of(usa), None)["body"]["items"] == []
    assert len(inventory.statement(usa, "KOR")["body"]["items"]) == 4
