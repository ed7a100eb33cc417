"""Destruction (DOMAIN.md §7.5) between in-process nodes: an admin destroys an item and nothing
of its content or keys stays in any file of the node's data directory; the certificate reaches
the originator, verifies there and fails when tampered; the originator's requests (an item, a
topic) are carried out at the holder; the retention sweep; the item absent from every read path
and "why not?" saying when and why, to those who could have seen it only."""

from __future__ import annotations

import asyncio
import copy
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from gsomia.app.boot import load_config, open_node
from gsomia.clock import FixedClock
from gsomia.errors import BadInput, Conflict, Denied, NotFound, VerificationFailed
from gsomia.node import destruction, federation, messages
from gsomia.node.config import User
from gsomia.node.holdings import DESTRUCTION_CERTIFICATE, item_details, why_not
from gsomia.node.service import Filters, Node
from gsomia.seal.at_rest import KeyRingCipher
from tests.integration.nodes import PASSPHRASE, make_nodes, report

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
WALL = 1e12
SECRET_TEXT = "Azalea-7 launch telemetry: the distinctive plaintext of this report"


@pytest.fixture(scope="module")
def trio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Node]]:
    procs = make_nodes(tmp_path_factory.mktemp("destruction"))
    clock = FixedClock(NOW)
    nodes = {
        p: open_node(load_config(procs[p].config), clock=clock, passphrase=PASSPHRASE.encode())
        for p in procs
    }
    yield nodes
    for node in nodes.values():
        node.close()


def user(node: Node, name: str) -> User:
    return next(u for u in node.config.users if u.name == name)


def publish(node: Node, n: int, **kwargs: Any) -> str:
    extra = kwargs.pop("extra", None)
    envelope = report(n, **kwargs)
    if extra is not None:
        ext = envelope["objects"][1]["extensions"]
        next(iter(ext.values())).update(extra)
    node.publish(user(node, "analyst"), envelope["objects"], node.collection_id(node.party))
    return f"report--00000000-0000-4000-8000-{n:012d}/2026-01-01T00:00:00.000Z"


def deliver(src: Node, dst: Node, item: str) -> None:
    rows = [r for r in federation.due(src, WALL, 1000) if r.item_id == item]
    rows = [r for r in rows if r.recipient == dst.party]
    ready = federation.recheck(src, rows, NOW)
    federation.receive(dst, src.party, [o.item for o in ready], NOW)
    federation.mark_sent(src, ready, NOW)


_HANDLERS: dict[
    str,
    Callable[
        [Node, str, bytes, datetime], destruction.RequestReceipt | destruction.CertificateReceipt
    ],
] = {
    destruction.REQUEST_PATH: destruction.receive_request,
    destruction.CERTIFICATE_PATH: destruction.receive_certificate,
}


def deliver_messages(src: Node, dst: Node) -> list[dict[str, Any]]:
    """Hand ``src``'s due destruction messages to ``dst``, as the messenger would."""
    answers = []
    for row in messages.due(src, WALL, recipient=dst.party):
        if row.path not in _HANDLERS:
            continue
        answer = _HANDLERS[row.path](dst, src.party, row.body, NOW).to_json()
        messages.delivered(src, row, answer, NOW)
        answers.append(answer)
    return answers


def files_of(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def store_file(node: Node) -> Path:
    return node.config.data_dir / "node.sqlite3"


def captured(node: Node, item: str) -> dict[str, bytes]:
    """Every secret of ``item`` at ``node``, taken from its internals before it is destroyed:
    the plaintext, the item's key (unwrapped), the content key the sealed item opens with, and
    the stored ciphertexts (the wrapped key, the body, the sealed bytes)."""
    con = sqlite3.connect(store_file(node))
    try:
        (wrapped,) = con.execute("SELECT key FROM item_keys WHERE item_id = ?", (item,)).fetchone()
        (body,) = con.execute("SELECT body FROM objects WHERE item_id = ?", (item,)).fetchone()
        (sealed,) = con.execute("SELECT sealed FROM items WHERE item_id = ?", (item,)).fetchone()
    finally:
        con.close()
    item_key = KeyRingCipher(node.keyring).open(
        bytes(wrapped), orjson.dumps(["item_keys", "key", item])
    )
    with node.store.reading() as r:
        found = r.item(item)
    assert found is not None
    verified = node.verifier.verify(found[1])
    return {
        "plaintext": SECRET_TEXT.encode(),
        "item key": item_key,
        "content key": node.opener.data_key(verified),
        "wrapped key": bytes(wrapped),
        "sealed body": bytes(body)[-48:],
        "sealed item": bytes(sealed)[-48:],
        "sealed item as received": found[1][-48:],
    }


def test_an_admin_destroys_an_item_and_nothing_of_it_stays_in_any_file(
    trio: dict[str, Node],
) -> None:
    kor, usa = trio["KOR"], trio["USA"]
    item = publish(kor, 1, description=SECRET_TEXT)
    deliver(kor, usa, item)
    secrets = captured(usa, item)
    before = files_of(usa.config.data_dir)
    for name in ("wrapped key", "sealed body", "sealed item"):  # on disk before: the test sees
        assert any(secrets[name] in data for data in before.values()), name
    for name in ("plaintext", "item key", "content key"):  # never on disk in clear
        assert not any(secrets[name] in data for data in before.values()), name
    with pytest.raises(Denied, match=r"is not an admin of USA"):
        destruction.destroy(usa, user(usa, "analyst"), item, "no longer needed")
    with pytest.raises(BadInput, match=r"^reason: expected text"):
        destruction.destroy(usa, user(usa, "admin"), item, "   ")
    with pytest.raises(BadInput, match=r"KOR originated .* not destroyed here"):
        destruction.destroy(kor, user(kor, "admin"), item, "no longer needed")

    cert = destruction.destroy(usa, user(usa, "admin"), item, "no longer needed")

    assert cert.body["reason"] == "no longer needed"
    assert cert.body["authorised_by"] == "admin"
    assert cert.body["holder"] == "USA"
    assert cert.body["label"]["id"] == item
    for path, data in files_of(usa.config.data_dir).items():
        for name, secret in secrets.items():
            assert secret not in data, f"{name} found in {path}"
    # the WAL was emptied by the checkpoint
    wal = store_file(usa).with_name("node.sqlite3-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    with pytest.raises(Conflict, match=r"already destroyed"):
        destruction._carry_out(usa, _held_copy(kor, item), reason="x", authorised_by="y")

    # the originator: the certificate verifies, is stored and logged
    [answer] = deliver_messages(usa, kor)
    assert answer == {"item": item, "result": "stored"}
    [got] = destruction.certificates_for(kor, user(kor, "analyst"), item)
    assert got.body == cert.body
    assert destruction.certificates_for(kor, user(kor, "low"), item) == []
    with kor.store.reading() as r:
        assert r.document(DESTRUCTION_CERTIFICATE, f"USA {item}") is not None
    with usa.store.reading() as r:
        own = r.document(DESTRUCTION_CERTIFICATE, item)
    assert own is not None
    assert own.body == cert.statement
    assert _logged(usa, "item.destroyed", item)["reason"] == "no longer needed"
    assert _logged(kor, "destruction.certified", item)["holder"] == "USA"

    # the item is never held again
    again = [
        r for r in federation.due(kor, WALL, 1000) if r.item_id == item and r.recipient == "USA"
    ]
    assert again == []
    raw = _held_copy(kor, item).raw
    got_again = federation.receive(usa, "KOR", [_release_again(kor, raw)], NOW)
    assert [g.result for g in got_again] == ["refused: destroyed here"]


def _held_copy(node: Node, item: str) -> Any:
    from gsomia.node.holdings import held

    return held(node, item)


def _release_again(kor: Node, raw: bytes) -> bytes:
    return raw  # KOR's own copy carries USA's grant: a re-push of the same item


def _logged(node: Node, kind: str, item: str) -> dict[str, Any]:
    with node.log.store.reading() as r:
        size = r.size()
        entries = [orjson.loads(r.entry(i)) for i in range(size)]
    return next(e for e in entries if e["type"] == kind and e["item"] == item)


def test_a_destroyed_item_is_absent_from_every_read_path(trio: dict[str, Node]) -> None:
    kor, jpn = trio["KOR"], trio["JPN"]
    item = publish(kor, 2, description=SECRET_TEXT)
    deliver(kor, jpn, item)
    analyst, low = user(jpn, "analyst"), user(jpn, "low")
    cid = jpn.collection_id("KOR")
    stix_id = item.split("/")[0]
    assert any(r.item_id == item for r in jpn.page(analyst, cid, Filters(), None, None).rows)
    destruction.destroy(jpn, user(jpn, "admin"), item, "no longer needed")
    for versions in (("last",), ("all",), ("first",)):
        page = jpn.page(analyst, cid, Filters(versions=versions), None, None)
        assert all(r.item_id != item for r in page.rows)
    with pytest.raises(NotFound, match=r"^no object"):
        jpn.versions_of(analyst, cid, stix_id)
    with jpn.store.reading() as r:
        assert all(row.item_id != item for row in r.rows_after(0, 10_000))
        assert r.item(item) is None
    # "why not?" and the item: when and why, to a user who could have seen it ...
    said = rf"{item} was destroyed at JPN at .* \(reason: no longer needed; authorised by admin\)"
    with pytest.raises(NotFound, match=said):
        why_not(jpn, analyst, item, "USA", None)
    with pytest.raises(NotFound, match=said):
        item_details(jpn, analyst, item)
    # ... and the usual not-found to one who could not (need-to-know dprk.nuclear only)
    with pytest.raises(NotFound, match=rf"^no item '{item}' at JPN$"):
        why_not(jpn, low, item, "USA", None)
    assert destruction.destroyed_view(jpn, low, item) is None
    assert destruction.destructions(jpn, low).destroyed == ()
    listed = destruction.destructions(jpn, analyst)
    assert [c.body["item"] for c in listed.destroyed] == [item]
    # publishing the same id here is refused
    envelope = report(2, originator="JPN")
    with pytest.raises(Conflict, match=r"was destroyed at this node"):
        jpn.publish(analyst, envelope["objects"], jpn.collection_id("JPN"))
    assert deliver_messages(jpn, kor) == [{"item": item, "result": "stored"}]


def test_a_tampered_certificate_fails_verification_at_the_originator(
    trio: dict[str, Node],
) -> None:
    kor, usa = trio["KOR"], trio["USA"]
    item = publish(kor, 3)
    deliver(kor, usa, item)
    cert = destruction.destroy(usa, user(usa, "admin"), item, "no longer needed")
    tampered = copy.deepcopy(cert.statement)
    tampered["body"]["reason"] = "retention"
    body = orjson.dumps({"v": 1, "certificate": tampered})
    with pytest.raises(VerificationFailed, match=r"the signature of USA does not verify"):
        destruction.receive_certificate(kor, "USA", body, NOW)
    # signed by USA, sent by JPN: not JPN's statement
    honest = orjson.dumps({"v": 1, "certificate": cert.statement})
    with pytest.raises(VerificationFailed, match=r"signed by 'USA', not by JPN"):
        destruction.receive_certificate(kor, "JPN", honest, NOW)
    with kor.store.reading() as r:
        assert r.document(DESTRUCTION_CERTIFICATE, f"USA {item}") is None
    assert destruction.receive_certificate(kor, "USA", honest, NOW).result == "stored"
    assert destruction.receive_certificate(kor, "USA", honest, NOW).result == "duplicate"
    assert deliver_messages(usa, kor) == [{"item": item, "result": "duplicate"}]


def test_the_originator_asks_for_an_item_back_and_for_a_topic(trio: dict[str, Node]) -> None:
    kor, jpn = trio["KOR"], trio["JPN"]
    one = publish(kor, 10, topics=("dprk.missile.icbm",), releasable_to=("JPN",))
    two = publish(kor, 11, topics=("dprk.missile.srbm",), releasable_to=("JPN",))
    other = publish(kor, 12, topics=("dprk.nuclear",), releasable_to=("JPN",))
    for item in (one, two, other):
        deliver(kor, jpn, item)
    admin = user(kor, "admin")
    with pytest.raises(Denied, match=r"is not an admin"):
        destruction.request_destruction(kor, user(kor, "analyst"), "JPN", item_id=one)
    with pytest.raises(BadInput, match=r"name an item or a topic"):
        destruction.request_destruction(kor, admin, "JPN")
    with pytest.raises(BadInput, match=r"holds .* by none of KOR's records"):
        destruction.request_destruction(kor, admin, "USA", item_id=one)

    asked = destruction.request_destruction(kor, admin, "JPN", item_id=one, returned=True)
    assert asked.delivery is not None
    [answer] = deliver_messages(kor, jpn)
    assert answer == {"request": asked.id, "destroyed": [one], "already_destroyed": []}
    gone = destruction.destroyed_view(jpn, user(jpn, "analyst"), one)
    assert gone is not None
    assert gone.body["reason"] == "returned"
    assert gone.body["authorised_by"] == f"originator request {asked.id}"
    [certified] = deliver_messages(jpn, kor)
    assert certified == {"item": one, "result": "stored"}
    listed = destruction.destructions(kor, admin)
    assert [r.id for r in listed.requests][:1] == [asked.id]
    assert listed.requests[0].delivery is not None
    assert listed.requests[0].delivery["state"] == "delivered"

    by_topic = destruction.request_destruction(kor, admin, "JPN", topic="dprk.missile")
    [answer] = deliver_messages(kor, jpn)
    assert (answer["request"], answer["destroyed"]) == (by_topic.id, [two])
    assert one in answer["already_destroyed"]
    with jpn.store.reading() as r:
        assert r.item(other) is not None  # dprk.nuclear is not within dprk.missile
        assert r.item(two) is None
    assert destruction.destroyed_view(jpn, user(jpn, "analyst"), two) is not None
    assert deliver_messages(jpn, kor) == [{"item": two, "result": "stored"}]


def test_a_request_for_an_item_not_held_is_answered_as_unknown(trio: dict[str, Node]) -> None:
    jpn = trio["JPN"]
    body = orjson.dumps(
        {
            "v": 1,
            "id": "00000000-0000-4000-8000-000000000001",
            "item": "report--00000000-0000-4000-8000-000000000999/2026-01-01T00:00:00.000Z",
            "returned": False,
            "requested_at": "2026-03-01T09:00:00Z",
        }
    )
    with pytest.raises(NotFound, match=r"^no item 'report--"):
        destruction.receive_request(jpn, "KOR", body, NOW)


def test_the_retention_sweep_destroys_what_is_past_its_retain_until(
    trio: dict[str, Node],
) -> None:
    kor, usa = trio["KOR"], trio["USA"]
    until = NOW + timedelta(days=30)
    item = publish(
        kor, 20, topics=("dprk.missile.irbm",), extra={"retain_until": "2026-03-31T09:00:00Z"}
    )
    deliver(kor, usa, item)
    assert destruction.sweep_retention(usa, until - timedelta(seconds=1)) == []
    assert destruction.sweep_retention(usa, until) == [item]
    gone = destruction.destroyed_view(usa, user(usa, "analyst"), item)
    assert gone is not None
    assert (gone.body["reason"], gone.body["authorised_by"]) == ("retention", "retention")
    assert destruction.sweep_retention(usa, until + timedelta(days=1)) == []
    assert deliver_messages(usa, kor) == [{"item": item, "result": "stored"}]


def test_the_schedules_run_the_retention_sweep(trio: dict[str, Node]) -> None:
    from gsomia.app.runtime import Runtime
    from gsomia.bus.local import LocalBus
    from gsomia.node.events import Broadcaster

    kor, jpn = trio["KOR"], trio["JPN"]
    item = publish(
        kor, 21, topics=("dprk.missile.slbm",), extra={"retain_until": "2026-02-01T00:00:00Z"}
    )
    deliver(kor, jpn, item)
    runtime = Runtime(jpn, Broadcaster(jpn), bus=LocalBus(), push=False)
    assert asyncio.run(runtime.retention()) == [item]
    assert asyncio.run(runtime.retention()) == []
    assert deliver_messages(jpn, kor) == [{"item": item, "result": "stored"}]


def test_the_originator_s_inventory_after_a_holder_s_certificate_lists_its_item_held(
    trio: dict[str, Node],
) -> None:
    from gsomia.node import inventory

    kor, usa = trio["KOR"], trio["USA"]
    item = publish(kor, 30)
    deliver(kor, usa, item)
    destruction.destroy(usa, user(usa, "admin"), item, "no longer needed")
    assert deliver_messages(usa, kor) == [{"item": item, "result": "stored"}]
    doc = inventory.inventory(kor, user(kor, "admin"), None)
    stated = inventory.verify_inventory(usa, doc, "KOR")
    [entry] = [e for e in stated.entries if e.item == item]
    assert (entry.disposition, entry.arrived, entry.certificate) == ("held", "originated", None)


def test_an_admin_sees_only_the_requests_about_what_they_may_see(trio: dict[str, Node]) -> None:
    from dataclasses import replace

    from gsomia.domain.access import Role

    kor, jpn = trio["KOR"], trio["JPN"]
    admin, low = user(kor, "admin"), user(kor, "low")
    low_admin = replace(low, name="low-admin", clearance=replace(low.clearance, role=Role.ADMIN))
    item = publish(kor, 31, topics=("dprk.missile.icbm",), releasable_to=("JPN",))
    deliver(kor, jpn, item)
    by_item = destruction.request_destruction(kor, admin, "JPN", item_id=item)
    by_topic = destruction.request_destruction(kor, admin, "JPN", topic="dprk.missile.mrbm")
    in_duties = destruction.request_destruction(kor, admin, "JPN", topic="dprk.nuclear.test")
    everything = {r.id for r in destruction.destructions(kor, admin).requests}
    assert {by_item.id, by_topic.id, in_duties.id} <= everything
    seen = {r.id for r in destruction.destructions(kor, low_admin).requests}
    assert in_duties.id in seen
    assert by_item.id not in seen
    assert by_topic.id not in seen
    assert all(r.item is None for r in destruction.destructions(kor, low_admin).requests)


def test_the_retention_sweep_skips_an_item_that_fails_and_destroys_the_others(
    trio: dict[str, Node], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    kor, usa = trio["KOR"], trio["USA"]
    due = {"retain_until": "2026-02-15T00:00:00Z"}
    broken = publish(kor, 32, topics=("dprk.missile.mrbm",), extra=due)
    fine = publish(kor, 33, topics=("dprk.missile.mrbm",), extra=due)
    deliver(kor, usa, broken)
    deliver(kor, usa, fine)
    from gsomia.node.holdings import held as real

    def held(node: Node, item_id: str) -> Any:
        if item_id == broken:
            raise VerificationFailed("the sealed item does not verify")
        return real(node, item_id)

    scrubbed: list[bool] = []
    scrub = usa.store.scrub

    def counted() -> None:
        scrubbed.append(True)
        scrub()

    monkeypatch.setattr(usa.store, "scrub", counted)
    monkeypatch.setattr(destruction, "held", held)
    with caplog.at_level("ERROR", logger="gsomia.audit"):
        assert destruction.sweep_retention(usa, NOW) == [fine]
    assert scrubbed == [True]
    [line] = [r.getMessage() for r in caplog.records if broken in r.getMessage()]
    assert 'reason="retention: VerificationFailed"' in line
    assert "does not verify" not in line
    with usa.store.reading() as r:
        assert r.item(broken) is not None
        assert r.item(fine) is None
    monkeypatch.setattr(destruction, "held", real)
    assert destruction.sweep_retention(usa, NOW) == [broken]  # still due, destroyed next time
    assert len(deliver_messages(usa, kor)) == 2


def test_a_signed_certificate_for_other_bytes_or_another_label_is_refused(
    trio: dict[str, Node],
) -> None:
    from gsomia.seal.statements import sign_statement

    kor, usa = trio["KOR"], trio["USA"]
    item = publish(kor, 34)
    deliver(kor, usa, item)
    cert = destruction.destroy(usa, user(usa, "admin"), item, "no longer needed")
    wrong_digest = {**cert.body, "digest": "00" * 32}
    wrong_label = {**cert.body, "label": {**cert.body["label"], "originator": "USA"}}
    for body in (wrong_digest, wrong_label):
        signed = sign_statement(usa.keyring, destruction.STATEMENT_KIND, body)
        raw = orjson.dumps({"v": 1, "certificate": signed})
        with pytest.raises(VerificationFailed, match=r"does not state the digest and label of"):
            destruction.receive_certificate(kor, "USA", raw, NOW)
    with kor.store.reading() as r:
        assert r.document(DESTRUCTION_CERTIFICATE, f"USA {item}") is None
    assert deliver_messages(usa, kor) == [{"item": item, "result": "stored"}]


def test_the_notice_copy_of_an_item_is_sealed_under_the_item_s_key_and_shredded_with_it(
    trio: dict[str, Node],
) -> None:
    from gsomia.node import notices
    from gsomia.node.holdings import NOTICE
    from gsomia.seal.at_rest import is_item_sealed

    kor, usa = trio["KOR"], trio["USA"]
    item = publish(kor, 35, topics=("dprk.missile.icbm",))
    deliver(kor, usa, item)
    notices.reclassify(kor, user(kor, "admin"), item, "III")
    [row] = [m for m in messages.due(kor, WALL, recipient="USA") if m.path == messages.NOTICE_PATH]
    assert notices.receive(usa, "KOR", row.body, NOW).result == "applied"
    messages.delivered(kor, row, {"item": item, "result": "applied"}, NOW)
    with usa.store.reading() as r:
        doc = r.document(NOTICE, item)
    assert doc is not None
    assert doc.attachment is not None  # it reads back whole
    con = sqlite3.connect(store_file(usa))
    try:
        (stored,) = con.execute(
            "SELECT attachment FROM node_documents WHERE kind = ? AND key = ?", (NOTICE, item)
        ).fetchone()
    finally:
        con.close()
    stored = bytes(stored)
    assert is_item_sealed(stored)  # under the item's key, not the ring's
    place = orjson.dumps(["node_documents", "attachment", NOTICE, item])
    with pytest.raises(VerificationFailed, match=r"."):
        KeyRingCipher(usa.keyring).open(stored, place)  # the ring alone does not open it
    destruction.destroy(usa, user(usa, "admin"), item, "no longer needed")
    con = sqlite3.connect(store_file(usa))
    try:
        keys = con.execute("SELECT 1 FROM item_keys WHERE item_id = ?", (item,)).fetchall()
    finally:
        con.close()
    assert keys == []  # the only key that opened the copy is erased
    for path, data in files_of(usa.config.data_dir).items():
        assert stored[-48:] not in data, path
    assert deliver_messages(usa, kor) == [{"item": item, "result": "stored"}]
