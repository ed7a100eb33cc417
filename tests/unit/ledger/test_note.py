from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gsomia import primitives
from gsomia.errors import BadInput, VerificationFailed
from gsomia.ledger.note import (
    Checkpoint,
    KeyDirectory,
    NoteSigner,
    SignedNote,
    cosigned_message,
    key_id,
    parse_checkpoint,
    parse_note,
    verify_cosignature,
    verify_every_signature,
    verify_note_signature,
)
from tests.unit.ledger.conftest import directory, signer

ROOT = hashlib.sha256(b"root").digest()
#: Every way a changed byte of a signed checkpoint is refused, each naming what is wrong.
NOTE_REFUSALS = (
    r"^(checkpoint: line \d+: |note: |no signature of gsomia/KOR by a known key$"
    r"|the signature of gsomia/KOR does not verify$)"
)


def _signed(size: int = 7) -> SignedNote:
    text = Checkpoint("gsomia/KOR", size, ROOT).text()
    return SignedNote(text, (signer("KOR").sign_note(text),))


def test_key_ids_follow_signed_note() -> None:
    pub = signer("KOR").public_key
    want = hashlib.sha256(b"gsomia/KOR\n\x01" + pub).digest()[:4]
    assert key_id("gsomia/KOR", 0x01, pub) == want
    assert key_id("gsomia/KOR", 0x04, pub) != want


def test_checkpoint_text_and_note_layout() -> None:
    note = _signed()
    data = note.encode()
    assert data.startswith(
        b"gsomia/KOR\n7\n" + base64.b64encode(ROOT) + b"\n\n\xe2\x80\x94 gsomia/KOR "
    )
    assert data.endswith(b"\n")
    assert parse_note(data) == note
    assert parse_checkpoint(note.text) == Checkpoint("gsomia/KOR", 7, ROOT)
    blob = base64.b64decode(data.split(b" ")[-1])
    assert len(blob) == 4 + 64
    primitives.ed25519_verify(signer("KOR").public_key, blob[4:], note.text.encode())


def test_cosignature_is_timestamped_over_the_cosignature_v1_message() -> None:
    note = _signed()
    sig = signer("JPN").cosign(note.text, 1_679_315_147)
    assert sig.key_id == key_id("gsomia/JPN", 0x04, signer("JPN").public_key)
    assert sig.signature[:8] == (1_679_315_147).to_bytes(8, "big")
    message = cosigned_message(note.text, 1_679_315_147)
    assert message.startswith(b"cosignature/v1\ntime 1679315147\ngsomia/KOR\n7\n")
    primitives.ed25519_verify(signer("JPN").public_key, sig.signature[8:], message)
    cosig = verify_cosignature(note.with_signature(sig), sig, [signer("JPN").public_key])
    assert (cosig.name, cosig.timestamp) == ("gsomia/JPN", 1_679_315_147)


def test_unknown_signatures_are_ignored_but_a_bad_known_one_rejects() -> None:
    note = _signed()
    stranger = NoteSigner("gsomia/KOR", bytes([9]) * 32).sign_note(note.text)
    verify_note_signature(note.with_signature(stranger), "gsomia/KOR", [signer("KOR").public_key])
    with pytest.raises(VerificationFailed, match="no signature of gsomia/KOR"):
        verify_note_signature(note, "gsomia/KOR", [signer("JPN").public_key])
    sig = note.signatures[0]
    forged = type(sig)(sig.name, sig.key_id, bytes(64))
    with pytest.raises(VerificationFailed, match="does not verify"):
        verify_note_signature(
            SignedNote(note.text, (forged,)), "gsomia/KOR", [signer("KOR").public_key]
        )


def test_strict_check_refuses_any_unverifiable_line() -> None:
    note = _signed()
    cosigned = note.with_signature(signer("JPN").cosign(note.text, 5))
    assert len(verify_every_signature(cosigned, "gsomia/KOR", directory("KOR", "JPN"))) == 1
    with pytest.raises(VerificationFailed, match="gsomia/JPN"):
        verify_every_signature(cosigned, "gsomia/KOR", directory("KOR"))


MALFORMED = [
    (b"gsomia/KOR\n7\n", "blank line"),
    (b"gsomia/KOR\n7\nAAAA\n\n", "em dash"),
    (b"x\n\n\xe2\x80\x94 a b c\n", "expected"),
    (b"x\n\n\xe2\x80\x94 a+b AAAAAAAA\n", "key name"),
    (b"x\n\n\xe2\x80\x94 a AAAA!AAA\n", "base64"),
    (b"x\n\n\xe2\x80\x94 a AAAA\n", "canonical"),
    (b"x\n\n\xe2\x80\x94 a AAAAAAAA", "newline"),
    (b"x\r\n\n\xe2\x80\x94 a AAAAAAAA\n", "control"),
    (b"\xff\n\n\xe2\x80\x94 a AAAAAAAA\n", "UTF-8"),
]


@pytest.mark.parametrize(("data", "why"), MALFORMED)
def test_malformed_notes_are_bad_input(data: bytes, why: str) -> None:
    with pytest.raises(BadInput, match=why):
        parse_note(data)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("gsomia/KOR\n07\n" + base64.b64encode(ROOT).decode() + "\n", "line 2"),
        ("gsomia/KOR\n7\n" + base64.b64encode(ROOT[:31]).decode() + "\n", "line 3"),
        ("gsomia KOR\n7\n" + base64.b64encode(ROOT).decode() + "\n", "line 1"),
        ("gsomia/KOR\n7\n" + base64.b64encode(ROOT).decode(), "each ending in a newline"),
        ("gsomia/KOR\n7\n", "expected origin, size and root hash"),
        ("cosignature/v1\n7\n" + base64.b64encode(ROOT).decode() + "\n", "reserved"),
    ],
)
def test_malformed_checkpoints_are_bad_input(text: str, why: str) -> None:
    with pytest.raises(BadInput, match=why):
        parse_checkpoint(text)


def test_signer_repr_hides_the_seed() -> None:
    assert "seed" not in repr(signer("KOR"))


def _check(data: bytes, keys: KeyDirectory) -> None:
    parsed = parse_note(data)
    parse_checkpoint(parsed.text)
    verify_every_signature(parsed, "gsomia/KOR", keys)


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=2**40), st.binary(min_size=32, max_size=32))
def test_every_byte_of_a_signed_checkpoint_is_protected(size: int, root: bytes) -> None:
    text = Checkpoint("gsomia/KOR", size, root).text()
    note = SignedNote(text, (signer("KOR").sign_note(text),))
    data = note.encode()
    keys = directory("KOR")
    assert parse_note(data) == note
    for i in range(len(data)):
        bad = data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]
        with pytest.raises((BadInput, VerificationFailed), match=NOTE_REFUSALS):
            _check(bad, keys)
