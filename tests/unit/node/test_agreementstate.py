"""Agreement on the agreements: the checkpoint line, the peers' kept statements (on a real
store, SQLite and PostgreSQL), and the disputes they raise."""

from __future__ import annotations

import base64
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from gsomia.domain.agreements import EventKind
from gsomia.domain.notes import NoteAct, effective, state_digest
from gsomia.domain.scenario import Scenario
from gsomia.errors import BadInput
from gsomia.node.agreementstate import (
    EXTENSION,
    PEER_STATES,
    disputes,
    held_acts,
    judge,
    line,
    parse_lines,
    record_peer_state,
    shared,
)
from gsomia.scenarios import load_scenario
from gsomia.store.ports import DocumentRow
from tests.unit.node_store import Store

KST = timezone(timedelta(hours=9))
GSOMIA = "jpn-kor-gsomia-2016"
NOTICE_AT = datetime(2019, 8, 23, 12, tzinfo=KST)
SUSPEND_AT = datetime(2019, 11, 22, 18, tzinfo=KST)
SEEN = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
D1, D2, D3 = (bytes([n]) * 32 for n in (1, 2, 3))


def _bare() -> Scenario:
    s = load_scenario("historical")
    agreements = tuple(replace(a, events=()) if a.id == GSOMIA else a for a in s.agreements)
    return replace(s, agreements=agreements)


def _act(kind: EventKind, at: datetime, party: str = "KOR") -> NoteAct:
    return NoteAct(str(uuid.uuid4()), GSOMIA, kind, party, at, "")


def _row(peer: str, agreement: str, digest: bytes, source: str = "checkpoint") -> DocumentRow:
    body = {
        "digest": digest.hex(),
        "size": 5,
        "seen_at": "2026-03-01T09:00:00+00:00",
        "source": source,
    }
    return DocumentRow(PEER_STATES, f"{peer} {agreement}", f"agreement:{agreement}", body, None)


# ------------------------------------------------------------------ the extension line
def test_a_line_round_trips_and_other_extensions_are_ignored() -> None:
    text = line(GSOMIA, D1)
    assert text == f"{EXTENSION} {GSOMIA} {base64.b64encode(D1).decode()}"
    assert parse_lines([text, "other-extension 1 2 3", line("tisa-2014", D2)]) == {
        GSOMIA: D1,
        "tisa-2014": D2,
    }
    assert parse_lines([]) == {}


@pytest.mark.parametrize(
    ("lines", "why"),
    [
        ([f"{EXTENSION} {GSOMIA}"], "line 4: expected 'gsomia-agreement <agreement id>"),
        ([f"{EXTENSION} {GSOMIA} AAAA AAAA"], "line 4: expected"),
        (
            [f"{EXTENSION} {GSOMIA} !!!!"],
            "line 4: the digest of jpn-kor-gsomia-2016 is not standard",
        ),
        ([f"{EXTENSION} {GSOMIA} AAAA"], "line 4: the digest of .* is not canonical base64"),
        (["x", f"{EXTENSION} bad/id {base64.b64encode(D1).decode()}"], "line 5: agreement id"),
        ([line(GSOMIA, D1), line(GSOMIA, D2)], "line 5: a second line for jpn-kor-gsomia-2016"),
    ],
)
def test_malformed_lines_are_bad_input(lines: list[str], why: str) -> None:
    with pytest.raises(BadInput, match=why):
        parse_lines(lines, where="KOR's checkpoint")


# ------------------------------------------------------------------ disputes
def test_equal_digests_raise_no_dispute() -> None:
    notice = _act(EventKind.NOTICE, NOTICE_AT)
    agreed = effective(_bare(), [notice])
    digest = state_digest(agreed.agreement(GSOMIA))
    assert disputes(agreed, "KOR", [_row("JPN", GSOMIA, digest)], [notice]) == {}


def test_a_peer_lacking_a_note_is_a_dispute_naming_it() -> None:
    notice = _act(EventKind.NOTICE, NOTICE_AT)
    agreed = effective(_bare(), [notice])
    before = state_digest(_bare().agreement(GSOMIA))
    found = disputes(agreed, "KOR", [_row("JPN", GSOMIA, before)], [notice])
    assert list(found) == [GSOMIA]
    assert found[GSOMIA].startswith(
        f"JPN computes another state of {GSOMIA} (since 2026-03-01T09:00:00+00:00, from its checkpoint)"
    )
    assert f"it lacks KOR's notice of termination of {GSOMIA} at" in found[GSOMIA]
    assert f"(note {notice.id})" in found[GSOMIA]


def test_a_peer_lacking_the_latest_notes_names_them_all() -> None:
    notice = _act(EventKind.NOTICE, NOTICE_AT)
    suspend = _act(EventKind.SUSPEND, SUSPEND_AT)
    agreed = effective(_bare(), [notice, suspend])
    before = state_digest(_bare().agreement(GSOMIA))
    found = disputes(agreed, "KOR", [_row("JPN", GSOMIA, before)], [notice, suspend])
    assert "notice of termination" in found[GSOMIA]
    assert "suspension of the notice" in found[GSOMIA]


def test_a_peer_holding_another_note_is_a_dispute_without_a_name() -> None:
    agreed = _bare()
    theirs = effective(agreed, [_act(EventKind.NOTICE, NOTICE_AT)]).agreement(GSOMIA)
    found = disputes(agreed, "JPN", [_row("KOR", GSOMIA, state_digest(theirs))], [])
    assert found[GSOMIA].endswith("it holds a note this node does not, or lacks one")
    assert found[GSOMIA].startswith(f"KOR computes another state of {GSOMIA}")


def test_a_note_not_yet_acknowledged_is_pending_not_disputed() -> None:
    notice = _act(EventKind.NOTICE, NOTICE_AT)
    agreed = effective(_bare(), [notice])
    before = state_digest(_bare().agreement(GSOMIA))
    rows = [_row("JPN", GSOMIA, before)]
    assert disputes(agreed, "KOR", rows, [notice], pending={"JPN": {notice.id}}) == {}
    [judged] = judge(agreed.agreement(GSOMIA), "KOR", rows, [notice], {"JPN": {notice.id}})
    assert (judged.agrees, judged.pending, judged.missing) == (True, True, (notice,))
    assert GSOMIA in disputes(agreed, "KOR", rows, [notice], pending={"USA": {notice.id}})


def test_statements_of_non_parties_and_unshared_agreements_are_ignored() -> None:
    agreed = _bare()
    rows = [_row("USA", GSOMIA, D1), _row("JPN", "kor-usa-security-1987", D1)]
    assert disputes(agreed, "KOR", rows, []) == {}
    assert [a.id for a in shared(agreed, "JPN")] == sorted(
        a.id for a in agreed.agreements if "JPN" in a.parties
    )


def test_an_unreadable_statement_is_a_dispute() -> None:
    row = DocumentRow(PEER_STATES, f"JPN {GSOMIA}", f"agreement:{GSOMIA}", {"digest": 1}, None)
    found = disputes(_bare(), "KOR", [row], [])
    assert found[GSOMIA] == f"the state of {GSOMIA} kept for JPN is unreadable"


def test_held_acts_read_core_note_documents() -> None:
    body = {
        "id": str(uuid.uuid4()),
        "agreement": GSOMIA,
        "event": "notice",
        "party": "KOR",
        "at": "2019-08-23T12:00:00+09:00",
        "text": "words",
    }
    good = DocumentRow("agreement.note", body["id"], f"agreement:{GSOMIA}", body, b"GSMA")
    bad = DocumentRow("agreement.note", "x", f"agreement:{GSOMIA}", {"id": "x"}, None)
    [act] = held_acts([good, bad])
    assert (act.kind, act.at, act.text) == (EventKind.NOTICE, NOTICE_AT, "words")


# ------------------------------------------------------------------ kept statements
def _kept(store: Store) -> dict[str, object]:
    with store.reading() as r:
        row = r.document(PEER_STATES, f"JPN {GSOMIA}")
    assert row is not None
    assert row.item_id == f"agreement:{GSOMIA}"
    return row.body


def test_statements_are_kept_monotonically_by_log_size(store: Store) -> None:
    later = SEEN + timedelta(minutes=1)
    with store.writing() as w:
        assert record_peer_state(w, "JPN", GSOMIA, D1, 10, "checkpoint", SEEN)
    assert _kept(store) == {
        "digest": D1.hex(),
        "size": 10,
        "seen_at": "2026-03-01T09:00:00+00:00",
        "source": "checkpoint",
    }
    with store.writing() as w:  # an older checkpoint changes nothing
        assert not record_peer_state(w, "JPN", GSOMIA, D2, 9, "checkpoint", later)
        assert not record_peer_state(w, "JPN", GSOMIA, D1, 10, "checkpoint", later)
    assert _kept(store)["digest"] == D1.hex()
    with store.writing() as w:  # a note always replaces: JPN's log was 11 once it held it
        assert record_peer_state(w, "JPN", GSOMIA, D2, 11, "note", later)
    assert _kept(store) == {
        "digest": D2.hex(),
        "size": 11,
        "seen_at": "2026-03-01T09:01:00+00:00",
        "source": "note",
    }
    with store.writing() as w:  # a checkpoint of JPN's log before the note is older
        assert not record_peer_state(w, "JPN", GSOMIA, D1, 10, "checkpoint", later)
        # a larger one with the same digest keeps the instant it was first seen
        assert record_peer_state(w, "JPN", GSOMIA, D2, 12, "checkpoint", later + timedelta(1))
    assert _kept(store) == {
        "digest": D2.hex(),
        "size": 12,
        "seen_at": "2026-03-01T09:01:00+00:00",
        "source": "checkpoint",
    }
    with store.writing() as w:
        assert record_peer_state(w, "JPN", GSOMIA, D3, 12, "checkpoint", later)
        assert record_peer_state(w, "JPN", GSOMIA, D1, 0, "receipt", later)
    assert _kept(store)["source"] == "receipt"
    assert _kept(store)["size"] == 12  # a message that says no size keeps the larger
    with store.writing() as w:  # a checkpoint as large, signed after the receipt, replaces it
        assert record_peer_state(w, "JPN", GSOMIA, D3, 12, "checkpoint", later)
    assert _kept(store)["source"] == "checkpoint"


def test_bad_statements_are_refused(store: Store) -> None:
    with store.writing() as w:
        with pytest.raises(BadInput, match="source 'gossip' is not one of"):
            record_peer_state(w, "JPN", GSOMIA, D1, 1, "gossip", SEEN)
        with pytest.raises(BadInput, match="a 32-byte digest and a size >= 0"):
            record_peer_state(w, "JPN", GSOMIA, b"short", 1, "checkpoint", SEEN)
        with pytest.raises(BadInput, match="a 32-byte digest and a size >= 0"):
            record_peer_state(w, "JPN", GSOMIA, D1, -1, "checkpoint", SEEN)
    with store.reading() as r:
        assert r.documents(PEER_STATES) == []


def test_kept_statements_raise_the_disputes(store: Store) -> None:
    notice = _act(EventKind.NOTICE, NOTICE_AT)
    agreed = effective(_bare(), [notice])
    with store.writing() as w:
        before = state_digest(_bare().agreement(GSOMIA))
        record_peer_state(w, "JPN", GSOMIA, before, 4, "checkpoint", SEEN)
    with store.reading() as r:
        rows = r.documents(PEER_STATES)
    assert "it lacks KOR's notice" in disputes(agreed, "KOR", rows, [notice])[GSOMIA]
    with store.writing() as w:
        now = state_digest(agreed.agreement(GSOMIA))
        record_peer_state(w, "JPN", GSOMIA, now, 0, "receipt", SEEN)
    with store.reading() as r:
        rows = r.documents(PEER_STATES)
    assert disputes(agreed, "KOR", rows, [notice]) == {}
