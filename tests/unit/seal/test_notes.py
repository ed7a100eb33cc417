"""Diplomatic notes and receipts on the wire: signed by their party, opened only as that
party's, and refused when any byte, field or signer is out of place."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from gsomia.domain.agreements import EventKind
from gsomia.domain.notes import NoteAct
from gsomia.errors import BadInput, GsomiaError, VerificationFailed
from gsomia.seal import wire
from gsomia.seal.batch import BatchSignature, sign_batch
from gsomia.seal.canonical import canonical_json
from gsomia.seal.item import VERSION
from gsomia.seal.notes import (
    MAX_NOTE_BYTES,
    NOTE_DOMAIN,
    NOTE_MAGIC,
    RECEIPT_MAGIC,
    note_digest,
    open_note,
    open_receipt,
    sign_note,
    sign_receipt,
)
from gsomia.seal.verify import Verifier
from tests.unit.seal.conftest import Rings

KST = timezone(timedelta(hours=9))
AT = datetime(2019, 8, 23, 12, 0, tzinfo=KST)
STATE = hashlib.sha256(b"state").digest()
AGREEMENT = "jpn-kor-gsomia-2016"


def _act(party: str = "KOR", kind: EventKind = EventKind.NOTICE) -> NoteAct:
    return NoteAct(str(uuid.uuid4()), AGREEMENT, kind, party, AT, "Written notice of termination")


def test_a_note_opens_as_its_partys_with_its_act_state_and_digest(rings: Rings) -> None:
    act = _act()
    raw = sign_note(rings["KOR"], act, STATE)
    view = open_note(Verifier(rings["JPN"]), raw, sender="KOR")
    assert view.act == act
    assert view.state == STATE
    assert view.digest == note_digest(raw) == hashlib.sha256(raw).digest()
    assert raw.startswith(NOTE_MAGIC)


def test_a_receipt_names_the_note_and_carries_the_receivers_state(rings: Rings) -> None:
    note = open_note(Verifier(rings["JPN"]), sign_note(rings["KOR"], _act(), STATE), sender="KOR")
    later = AT + timedelta(seconds=3)
    mine = hashlib.sha256(b"jpn").digest()
    raw = sign_receipt(rings["JPN"], note, later, mine)
    receipt = open_receipt(Verifier(rings["KOR"]), raw, sender="JPN")
    assert (receipt.note_id, receipt.note_digest) == (note.act.id, note.digest)
    assert (receipt.agreement, receipt.sender, receipt.by) == (AGREEMENT, "KOR", "JPN")
    assert (receipt.received_at, receipt.state) == (later, mine)
    assert raw.startswith(RECEIPT_MAGIC)


def test_a_note_sent_by_another_party_than_its_own_is_refused(rings: Rings) -> None:
    raw = sign_note(rings["KOR"], _act(), STATE)
    with pytest.raises(VerificationFailed, match="a note of KOR sent by USA"):
        open_note(Verifier(rings["JPN"]), raw, sender="USA")


def test_only_a_partys_own_key_signs_its_note(rings: Rings) -> None:
    with pytest.raises(BadInput, match="a note of KOR cannot be signed by USA"):
        sign_note(rings["USA"], _act("KOR"), STATE)


def test_a_note_claiming_another_party_with_its_own_signature_is_refused(rings: Rings) -> None:
    """USA signs a body that says KOR: the signature is USA's, so KOR's note does not hold."""
    act = _act()
    body = canonical_json(
        {
            "type": "agreement.note",
            "id": act.id,
            "agreement": AGREEMENT,
            "event": "notice",
            "party": "KOR",
            "at": "2019-08-23T12:00:00+09:00",
            "text": "",
            "state": STATE.hex(),
        }
    )
    leaf = hashlib.sha256(NOTE_DOMAIN + body).digest()
    forged_sig = sign_batch("USA", rings["USA"].current, [leaf])[0]
    forged = NOTE_MAGIC + wire.u8(VERSION) + wire.vec(body) + wire.vec(forged_sig.encode())
    with pytest.raises(VerificationFailed, match="signed by USA, expected KOR"):
        open_note(Verifier(rings["JPN"]), forged, sender="KOR")


def test_every_byte_of_a_note_is_covered(rings: Rings) -> None:
    raw = sign_note(rings["KOR"], _act(), STATE)
    verifier = Verifier(rings["JPN"])
    step = max(1, len(raw) // 400)
    for i in range(0, len(raw), step):
        flipped = bytearray(raw)
        flipped[i] ^= 0x01
        with pytest.raises(GsomiaError, match=r"\w"):
            open_note(verifier, bytes(flipped), sender="KOR")


def test_malformed_notes_are_refused_naming_what_is_wrong(rings: Rings) -> None:
    verifier = Verifier(rings["JPN"])
    raw = sign_note(rings["KOR"], _act(), STATE)
    with pytest.raises(BadInput, match="not a gsomia note"):
        open_note(verifier, RECEIPT_MAGIC + raw[4:], sender="KOR")
    with pytest.raises(BadInput, match=f"more than {MAX_NOTE_BYTES}"):
        open_note(verifier, raw + b"\0" * MAX_NOTE_BYTES, sender="KOR")
    with pytest.raises(BadInput, match="note"):
        open_note(verifier, raw[:-1], sender="KOR")
    with pytest.raises(BadInput, match="note"):
        open_note(verifier, raw + b"\0", sender="KOR")


def _with_body(rings: Rings, doc: dict[str, object]) -> bytes:
    body = canonical_json(doc)
    leaf = hashlib.sha256(NOTE_DOMAIN + body).digest()
    sig: BatchSignature = sign_batch("KOR", rings["KOR"].current, [leaf])[0]
    return NOTE_MAGIC + wire.u8(VERSION) + wire.vec(body) + wire.vec(sig.encode())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"type": "consent"}, "note.type: expected 'agreement.note'"),
        ({"id": "not-a-uuid"}, "note.id: expected a version 4 UUID"),
        ({"event": "renew"}, "note.event: unknown act 'renew'"),
        ({"at": "2019-08-23T12:00:00"}, "note.at"),
        ({"state": "00"}, "note.state: expected 32 bytes"),
        ({"text": "x" * 2001}, "note.text: at most 2000 characters"),
        ({"extra": 1}, "expected exactly the fields"),
    ],
)
def test_a_signed_body_with_a_bad_field_is_refused(
    rings: Rings, change: dict[str, object], message: str
) -> None:
    doc: dict[str, object] = {
        "type": "agreement.note",
        "id": str(uuid.uuid4()),
        "agreement": AGREEMENT,
        "event": "notice",
        "party": "KOR",
        "at": "2019-08-23T12:00:00+09:00",
        "text": "",
        "state": STATE.hex(),
    }
    doc.update(change)
    with pytest.raises(BadInput, match=message):
        open_note(Verifier(rings["JPN"]), _with_body(rings, doc), sender="KOR")


def test_a_receipt_from_another_party_than_its_signer_is_refused(rings: Rings) -> None:
    note = open_note(Verifier(rings["JPN"]), sign_note(rings["KOR"], _act(), STATE), sender="KOR")
    raw = sign_receipt(rings["JPN"], note, AT, STATE)
    with pytest.raises(VerificationFailed, match="a receipt of JPN sent by USA"):
        open_receipt(Verifier(rings["KOR"]), raw, sender="USA")
    flipped = bytearray(raw)
    flipped[-5] ^= 0x01
    with pytest.raises(VerificationFailed, match="signature of JPN does not hold"):
        open_receipt(Verifier(rings["KOR"]), bytes(flipped), sender="JPN")
