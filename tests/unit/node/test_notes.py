"""Diplomatic notes in process, three real nodes (real SQLite stores, real keys) wired by hand:
a notice given at KOR is in force at JPN from its instant, its receipt comes back, both logs
hold both; every note that must be refused is, and nothing of it is stored."""

from __future__ import annotations

import base64
import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest

from gsomia.app.boot import load_config, open_node
from gsomia.clock import FixedClock
from gsomia.domain.agreements import EventKind, State
from gsomia.domain.instants import format_instant
from gsomia.domain.notes import NoteAct, state_digest, with_notes
from gsomia.errors import BadInput, Conflict, Denied, NotFound, VerificationFailed
from gsomia.node import agreementstate, messages, notes
from gsomia.node.config import User
from gsomia.node.results import NoteReceipt, ReceiptAck
from gsomia.node.service import Node
from gsomia.seal.keys import init_keys
from gsomia.seal.notes import open_note, sign_note, sign_receipt
from tests.integration.nodes import GSOMIA, PASSPHRASE, live_scenario, make_nodes

SEOUL = ZoneInfo("Asia/Seoul")
NOTICE_AT = datetime(2019, 8, 23, 12, 0, tzinfo=SEOUL)  # KOR's notice of 2019
LAPSE = datetime(2019, 11, 23, 0, 0, tzinfo=SEOUL)  # the third anniversary


def live_nodes(root: Path, parties: tuple[str, ...]) -> Iterator[dict[str, Node]]:
    """In-process nodes of ``parties`` on the live scenario, their clocks at NOTICE_AT; closed
    when the generator is."""
    procs = make_nodes(root, parties=parties, scenario=live_scenario(root))
    nodes = {
        p: open_node(
            load_config(procs[p].config),
            clock=FixedClock(NOTICE_AT),
            passphrase=PASSPHRASE.encode(),
        )
        for p in procs
    }
    try:
        yield nodes
    finally:
        for node in nodes.values():
            node.close()


@pytest.fixture(scope="module")
def trio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Node]]:
    yield from live_nodes(tmp_path_factory.mktemp("notes"), ("KOR", "JPN", "USA"))


def user(node: Node, name: str) -> User:
    return next(u for u in node.config.users if u.name == name)


def deliver(node: Node, path: str, to: Node) -> list[str]:
    """Hand ``node``'s due messages to ``path`` for ``to`` to ``to``'s handler, marking each
    delivered with the answer (as the messenger does); the answers' results."""
    handler: dict[str, Callable[[Node, str, bytes, datetime], NoteReceipt | ReceiptAck]] = {
        messages.NOTE_PATH: notes.receive,
        messages.RECEIPT_PATH: notes.receive_receipt,
    }
    rows = [m for m in messages.due(node, 1e12, 1000) if m.path == path and m.recipient == to.party]
    results: list[str] = []
    for row in rows:
        answer = handler[path](to, node.party, row.body, to.clock.now())
        messages.delivered(node, row, answer.to_json(), node.clock.now())
        results.append(answer.result)
    return results


def entries(node: Node) -> list[dict[str, object]]:
    with node.log.store.reading() as r:
        return [orjson.loads(r.entry(i)) for i in range(r.size())]


def note_entries(node: Node) -> list[dict[str, object]]:
    return [e for e in entries(node) if e["type"] == "agreement.event"]


def footprint(node: Node) -> tuple[int, int, int, int]:
    """What a refused note must not change: the log's size, the notes and peer states stored,
    the peer messages queued."""
    with node.store.reading() as r:
        held = len(r.documents(notes.NOTES))
        states = len(r.documents(notes.PEER_STATES))
        queued = len(r.due_messages(1e12, 10_000))
    return node.log.size(), held, states, queued


def message(token: bytes, key: str = "note") -> bytes:
    return orjson.dumps({"v": messages.MESSAGE_VERSION, key: base64.b64encode(token).decode()})


def signed_note(node: Node, kind: EventKind, at: datetime, *, agreement: str = GSOMIA) -> bytes:
    """A note of ``node``'s party, signed with its key, that did not go through ``give``."""
    act = NoteAct(messages.new_id(), agreement, kind, node.party, at, "")
    state = state_digest(with_notes(node.agreed_scenario.agreement(agreement), [act]))
    return sign_note(node.keyring, act, state)


@pytest.fixture(scope="module")
def noticed(trio: dict[str, Node]) -> dict[str, object]:
    """KOR's authority gives notice at NOTICE_AT; the note reaches JPN, the receipt KOR."""
    kor, jpn = trio["KOR"], trio["JPN"]
    before = jpn.scenario.agreement(GSOMIA)
    note = notes.give(kor, user(kor, "authority"), GSOMIA, EventKind.NOTICE, "Written notice")
    kor_before_delivery = kor.scenario.agreement(GSOMIA)
    jpn_before_delivery = jpn.scenario.agreement(GSOMIA)
    delivered = deliver(kor, messages.NOTE_PATH, jpn)
    acked = deliver(jpn, messages.RECEIPT_PATH, kor)
    return {
        "note": note,
        "before": before,
        "kor_before_delivery": kor_before_delivery,
        "jpn_before_delivery": jpn_before_delivery,
        "delivered": delivered,
        "acked": acked,
    }


def test_a_notice_given_at_kor_is_in_force_at_jpn_from_its_instant(
    trio: dict[str, Node], noticed: dict[str, object]
) -> None:
    kor, jpn = trio["KOR"], trio["JPN"]
    assert noticed["before"].end is None  # type: ignore[attr-defined]
    assert noticed["jpn_before_delivery"].end is None  # type: ignore[attr-defined]
    assert noticed["kor_before_delivery"].end == LAPSE  # type: ignore[attr-defined]
    assert noticed["delivered"] == ["stored"]
    assert noticed["acked"] == ["stored"]
    for node in (kor, jpn):
        agreement = node.scenario.agreement(GSOMIA)
        assert agreement.end == LAPSE
        assert agreement.notice_at(NOTICE_AT - timedelta(seconds=1)) is None
        assert agreement.notice_at(NOTICE_AT) is not None
        assert agreement.state(LAPSE - timedelta(seconds=1)) is State.IN_FORCE
        assert agreement.state(LAPSE) is State.ENDED
        assert node.agreed_scenario.agreement(GSOMIA).end == LAPSE
        assert node.verifier.scenario is node.agreed_scenario
    # both compute the same state of the agreement
    assert state_digest(kor.scenario.agreement(GSOMIA)) == state_digest(
        jpn.scenario.agreement(GSOMIA)
    )
    # the USA is no party: it got nothing, and its scenario is unchanged
    assert trio["USA"].scenario.agreement(GSOMIA).end is None


def test_the_receipt_is_held_at_kor_and_both_logs_hold_both(
    trio: dict[str, Node], noticed: dict[str, object]
) -> None:
    kor, jpn = trio["KOR"], trio["JPN"]
    note = noticed["note"]
    [sent] = notes.held(kor, user(kor, "analyst"), GSOMIA)
    [received] = notes.held(jpn, user(jpn, "low"))
    assert sent.id == received.id == note.id  # type: ignore[attr-defined]
    assert (sent.direction, received.direction) == ("sent", "received")
    assert sent.given_by == "authority"
    assert sent.digest == received.digest
    assert set(sent.receipts or {}) == {"JPN"}
    assert (sent.receipts or {})["JPN"].state == sent.state  # JPN computes KOR's state
    assert {p: d.state for p, d in (sent.delivery or {}).items()} == {"JPN": "delivered"}
    assert {p: d.state for p, d in (received.delivery or {}).items()} == {"KOR": "delivered"}
    kor_log = [(e["direction"], e["by"], e["id"]) for e in note_entries(kor)]
    jpn_log = [(e["direction"], e["by"], e["id"]) for e in note_entries(jpn)]
    assert kor_log == [("given", "KOR", sent.id), ("receipt", "JPN", sent.id)]
    assert jpn_log == [("received", "KOR", sent.id)]
    for entry in (*note_entries(kor), *note_entries(jpn)):
        assert entry["event"] == "notice"
        assert entry["digest"] == sent.digest
        assert entry["act_at"] == "2019-08-23T12:00:00+09:00"
    assert note_entries(trio["USA"]) == []


def test_analysts_and_admins_give_no_notes(trio: dict[str, Node]) -> None:
    kor = trio["KOR"]
    before = footprint(kor)
    for name in ("analyst", "admin"):
        with pytest.raises(Denied, match=f"user {name} is not an authority of KOR"):
            notes.give(kor, user(kor, name), GSOMIA, EventKind.NOTICE)
    assert footprint(kor) == before


def test_a_note_from_a_non_party_is_refused_and_nothing_stored(
    trio: dict[str, Node], noticed: dict[str, object]
) -> None:
    del noticed
    usa, jpn = trio["USA"], trio["JPN"]
    with pytest.raises(Denied, match="USA is not a party to jpn-kor-gsomia-2016"):
        notes.give(usa, user(usa, "authority"), GSOMIA, EventKind.SUSPEND)
    before = footprint(jpn)
    # signed by the USA all the same, and sent to JPN
    agreement = jpn.agreed_scenario.agreement(GSOMIA)
    act = NoteAct(messages.new_id(), GSOMIA, EventKind.SUSPEND, "USA", NOTICE_AT, "")
    token = sign_note(usa.keyring, act, state_digest(with_notes(agreement, [act])))
    with pytest.raises(Denied, match="USA is not a party to jpn-kor-gsomia-2016"):
        notes.receive(jpn, "USA", message(token), NOTICE_AT)
    assert footprint(jpn) == before


def test_a_suspension_by_the_party_that_gave_no_notice_is_refused(
    trio: dict[str, Node], noticed: dict[str, object]
) -> None:
    del noticed
    kor, jpn = trio["KOR"], trio["JPN"]
    with pytest.raises(Denied, match="only KOR, which gave the notice"):
        notes.give(jpn, user(jpn, "authority"), GSOMIA, EventKind.SUSPEND)
    before = footprint(kor)
    token = signed_note(jpn, EventKind.SUSPEND, NOTICE_AT + timedelta(minutes=1))
    with pytest.raises(Denied, match="only KOR, which gave the notice"):
        notes.receive(kor, "JPN", message(token), NOTICE_AT + timedelta(minutes=1))
    assert footprint(kor) == before


def test_a_note_after_the_agreement_ended_is_refused(
    trio: dict[str, Node], noticed: dict[str, object]
) -> None:
    del noticed
    kor, jpn = trio["KOR"], trio["JPN"]
    later = LAPSE + timedelta(days=1)
    token = signed_note(kor, EventKind.WITHDRAW, later)
    before = footprint(jpn)
    with pytest.raises(Conflict, match="jpn-kor-gsomia-2016 ended at 2019-11-23T00:00:00"):
        notes.receive(jpn, "KOR", message(token), later)
    assert footprint(jpn) == before
    clock = kor.clock
    kor.clock = FixedClock(later)
    try:
        with pytest.raises(Conflict, match="ended at 2019-11-23T00:00:00"):
            notes.give(kor, user(kor, "authority"), GSOMIA, EventKind.WITHDRAW)
    finally:
        kor.clock = clock


def test_a_forged_note_is_refused(
    trio: dict[str, Node], noticed: dict[str, object], tmp_path: Path
) -> None:
    del noticed
    kor, jpn = trio["KOR"], trio["JPN"]
    at = NOTICE_AT + timedelta(minutes=2)
    before = footprint(jpn)
    # another key calling itself KOR
    impostor = init_keys(tmp_path / "impostor", "KOR", passphrase=PASSPHRASE.encode())
    act = NoteAct(messages.new_id(), GSOMIA, EventKind.SUSPEND, "KOR", at, "")
    agreement = jpn.agreed_scenario.agreement(GSOMIA)
    forged = sign_note(impostor, act, state_digest(with_notes(agreement, [act])))
    with pytest.raises(VerificationFailed, match=r"no trusted key .* of KOR"):
        notes.receive(jpn, "KOR", message(forged), at)
    # KOR's own note, one byte of its signature flipped
    token = bytearray(signed_note(kor, EventKind.SUSPEND, at))
    token[-1] ^= 1
    with pytest.raises(VerificationFailed, match="note: signature of KOR does not hold"):
        notes.receive(jpn, "KOR", message(bytes(token)), at)
    # KOR's note sent by JPN's peer identity: the sender must be the note's party
    with pytest.raises(VerificationFailed, match="a note of KOR sent by USA"):
        notes.receive(jpn, "USA", message(signed_note(kor, EventKind.SUSPEND, at)), at)
    with pytest.raises(BadInput, match=r"note message\.note: not base64"):
        notes.receive(jpn, "KOR", b'{"v": 1, "note": "@@@"}', at)
    assert footprint(jpn) == before


def test_a_replayed_note_is_answered_as_a_duplicate_or_refused(
    trio: dict[str, Node], noticed: dict[str, object]
) -> None:
    jpn, kor = trio["JPN"], trio["KOR"]
    note = noticed["note"]
    with kor.store.reading() as r:
        stored = r.document(notes.NOTES, note.id)  # type: ignore[attr-defined]
    assert stored is not None
    assert stored.attachment is not None
    before = footprint(jpn)
    answer = notes.receive(jpn, "KOR", message(stored.attachment), NOTICE_AT)
    assert answer.result == "duplicate"
    assert footprint(jpn) == before
    # the same id, other bytes (another text)
    act = NoteAct(note.id, GSOMIA, EventKind.NOTICE, "KOR", NOTICE_AT, "other words")  # type: ignore[attr-defined]
    agreement = kor.base_scenario.agreement(GSOMIA)
    other = sign_note(kor.keyring, act, state_digest(with_notes(agreement, [act])))
    with pytest.raises(Conflict, match="another note is held under this id"):
        notes.receive(jpn, "KOR", message(other), NOTICE_AT)
    assert footprint(jpn) == before
    # the receipt replayed at KOR changes nothing either
    [sent] = notes.held(kor, user(kor, "analyst"), GSOMIA)
    receipt = base64.b64decode((sent.receipts or {})["JPN"].receipt)
    before = footprint(kor)
    again = notes.receive_receipt(kor, "JPN", message(receipt, "receipt"), NOTICE_AT)
    assert again.result == "duplicate"
    assert footprint(kor) == before
    with pytest.raises(VerificationFailed, match="a receipt of JPN sent by USA"):
        notes.receive_receipt(kor, "USA", message(receipt, "receipt"), NOTICE_AT)
    # the USA signs a receipt of a note KOR never sent it
    usa = trio["USA"]
    view = open_note(usa.verifier, stored.attachment, sender="KOR")
    foreign = sign_receipt(usa.keyring, view, NOTICE_AT, view.state)
    with pytest.raises(NotFound, match="KOR sent no such note to USA"):
        notes.receive_receipt(kor, "USA", message(foreign, "receipt"), NOTICE_AT)
    assert footprint(kor) == before


def test_a_note_outside_the_receivers_skew_is_refused(
    trio: dict[str, Node], noticed: dict[str, object]
) -> None:
    del noticed
    kor, jpn = trio["KOR"], trio["JPN"]
    before = footprint(jpn)
    for at in (NOTICE_AT + timedelta(hours=1), NOTICE_AT - timedelta(hours=1)):
        token = signed_note(kor, EventKind.SUSPEND, at)
        with pytest.raises(Denied, match="not within the accepted skew"):
            notes.receive(jpn, "KOR", message(token), NOTICE_AT)
    assert footprint(jpn) == before
    with pytest.raises(BadInput, match=r"at: the note is dated .* not within the accepted skew"):
        notes.give(
            kor,
            user(kor, "authority"),
            GSOMIA,
            EventKind.SUSPEND,
            at=NOTICE_AT + timedelta(hours=1),
        )


def test_a_consequence_is_said_in_plain_words(
    trio: dict[str, Node], noticed: dict[str, object]
) -> None:
    del noticed
    kor, usa = trio["KOR"], trio["USA"]
    said = notes.consequence(
        kor, user(kor, "authority"), GSOMIA, EventKind.SUSPEND, NOTICE_AT + timedelta(hours=1)
    )
    assert said.end is None
    assert "stays in force" in said.words
    # the USA-KOR agreement: no notice possible on an indefinite agreement
    with pytest.raises(Conflict, match="no term"):
        notes.consequence(usa, user(usa, "authority"), "kor-usa-security-1987", EventKind.NOTICE)


def test_a_notice_states_its_consequence_and_other_processes_see_it_given(
    tmp_path: Path,
) -> None:
    procs = make_nodes(tmp_path, parties=("KOR", "JPN"), scenario=live_scenario(tmp_path))
    config = load_config(procs["KOR"].config)
    kor, other = (
        open_node(config, clock=FixedClock(NOTICE_AT), passphrase=PASSPHRASE.encode())
        for _ in range(2)
    )  # two processes of one node, on one store
    other.start_refresher()  # as a serving node does
    try:
        said = notes.consequence(kor, user(kor, "authority"), GSOMIA, EventKind.NOTICE)
        assert said.end == "2019-11-23T00:00:00+09:00"
        assert said.words.startswith(
            "notice of termination by KOR of jpn-kor-gsomia-2016 at 2019-08-23T12:00:00+09:00; "
            "the agreement will end at 2019-11-23T00:00:00+09:00; 0 items went KOR→JPN directly "
            "in the last 30 days (from this node's records); after that they go only through USA"
        )
        assert kor.scenario.agreement(GSOMIA).end is None  # nothing was given
        notes.give(kor, user(kor, "authority"), GSOMIA, EventKind.NOTICE)
        assert kor.scenario.agreement(GSOMIA).end == LAPSE
        deadline = time.monotonic() + 5
        while other.scenario.agreement(GSOMIA).end is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert other.scenario.agreement(GSOMIA).end == LAPSE  # its refresher read the store
    finally:
        kor.close()
        other.close()
    assert kor._refresher is None  # a node that serves nothing reads at open and after notes
    assert other._refresher is not None
    assert not other._refresher.is_alive()  # closed: its refresher stopped


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[dict[str, Node]]:
    yield from live_nodes(tmp_path, ("KOR", "JPN"))


def _lose_notes(node: Node) -> None:
    """The node's store loses every note it holds, behind its back."""
    with sqlite3.connect(node.config.data_dir / "node.sqlite3") as con:
        con.execute("DELETE FROM node_documents WHERE kind = ?", (notes.NOTES,))
    node.refresh_agreements()


def test_a_note_lost_by_its_recipient_goes_again_with_its_receipt_and_heals(
    pair: dict[str, Node],
) -> None:
    kor, jpn = pair["KOR"], pair["JPN"]
    given = notes.give(kor, user(kor, "authority"), GSOMIA, EventKind.NOTICE)
    assert deliver(kor, messages.NOTE_PATH, jpn) == ["stored"]
    assert deliver(jpn, messages.RECEIPT_PATH, kor) == ["stored"]
    assert not kor.scenario.agreement(GSOMIA).dispute
    # a day later, JPN has lost the note: its state is KOR's without it, as its checkpoint says
    later = NOTICE_AT + timedelta(days=1)
    kor.clock = jpn.clock = FixedClock(later)
    _lose_notes(jpn)
    assert jpn.scenario.agreement(GSOMIA).end is None
    lost_state = state_digest(jpn.agreed_scenario.agreement(GSOMIA))
    seen = kor.wall.now() - timedelta(minutes=5)
    size = jpn.log.size()
    with kor.store.writing() as w:
        agreementstate.record_peer_state(w, "JPN", GSOMIA, lost_state, size, "checkpoint", seen)
    kor.refresh_agreements()
    dispute = kor.scenario.agreement(GSOMIA).dispute
    assert f"note {given.id}" in dispute
    assert "JPN computes another state" in dispute
    # KOR delivers it again, once (the next try waits redeliver_after)
    assert notes.redeliver_lost(kor, "JPN") == [given.id]
    assert notes.redeliver_lost(kor, "JPN") == []
    [row] = [m for m in messages.due(kor, 1e12, 1000) if m.path == messages.NOTE_PATH]
    body = orjson.loads(row.body)
    # without JPN's own receipt the note, a day old, is outside the skew; with another's, too
    bare = orjson.dumps({k: v for k, v in body.items() if k != "receipt"})
    with pytest.raises(Denied, match="not within the accepted skew"):
        notes.receive(jpn, "KOR", bare, later)
    forged = sign_receipt(
        kor.keyring,
        open_note(jpn.verifier, base64.b64decode(body["note"]), sender="KOR"),
        NOTICE_AT,
        lost_state,
    )
    alien = orjson.dumps({**body, "receipt": base64.b64encode(forged).decode()})
    with pytest.raises(Denied, match="the receipt it carries is not this node's"):
        notes.receive(jpn, "KOR", alien, later)
    assert jpn.scenario.agreement(GSOMIA).end is None  # nothing stored
    # with it, JPN holds the note again; its new receipt replaces the old one at KOR
    assert deliver(kor, messages.NOTE_PATH, jpn) == ["stored"]
    assert jpn.scenario.agreement(GSOMIA).end == LAPSE
    assert deliver(jpn, messages.RECEIPT_PATH, kor) == ["stored"]
    assert not kor.scenario.agreement(GSOMIA).dispute
    [held] = notes.held(kor, user(kor, "analyst"), GSOMIA)
    assert held.receipts is not None
    assert held.receipts["JPN"].at == format_instant(later)
    assert held.resent is not None
    assert set(held.resent) == {"JPN"}


def test_a_note_is_not_dated_before_it_is_given(trio: dict[str, Node]) -> None:
    kor = trio["KOR"]
    before = footprint(kor)
    with pytest.raises(BadInput, match="a note takes effect when it is given, not before"):
        notes.give(
            kor,
            user(kor, "authority"),
            GSOMIA,
            EventKind.SUSPEND,
            at=kor.clock.now() - timedelta(minutes=1),
        )
    assert footprint(kor) == before


def test_only_an_authority_weighs_an_act(trio: dict[str, Node]) -> None:
    kor = trio["KOR"]
    with pytest.raises(Denied, match="is not an authority of KOR"):
        notes.consequence(kor, user(kor, "analyst"), GSOMIA, EventKind.NOTICE)


def test_a_note_no_party_could_receive_is_not_given(tmp_path: Path) -> None:
    """KOR's node knows USA only: a note on the Japan–ROK GSOMIA could not reach JPN."""
    procs = make_nodes(tmp_path, parties=("KOR", "USA"), scenario=live_scenario(tmp_path))
    kor = open_node(
        load_config(procs["KOR"].config),
        clock=FixedClock(NOTICE_AT),
        passphrase=PASSPHRASE.encode(),
    )
    try:
        before = footprint(kor)
        with pytest.raises(Conflict, match="JPN, a party to jpn-kor-gsomia-2016, is not a peer"):
            notes.give(kor, user(kor, "authority"), GSOMIA, EventKind.NOTICE)
        assert footprint(kor) == before
    finally:
        kor.close()
