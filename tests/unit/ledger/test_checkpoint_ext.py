"""Checkpoint extension lines (c2sp.org/tlog-checkpoint): made, signed, co-signed, refused."""

from __future__ import annotations

import base64
import hashlib

import pytest

from gsomia.errors import BadInput, VerificationFailed
from gsomia.ledger.note import (
    MAX_EXTENSION_CHARS,
    MAX_EXTENSION_LINES,
    Checkpoint,
    SignedNote,
    cosigned_message,
    parse_checkpoint,
    parse_note,
    verify_cosignature,
    verify_every_signature,
    verify_note_signature,
)
from gsomia.ledger.witness import compare, cosign
from tests.unit.ledger.conftest import Node, directory, signer

KEYS = directory("KOR", "JPN", "USA")
ROOT = hashlib.sha256(b"root").digest()
ROOT_LINE = base64.b64encode(ROOT).decode()
LINES = ("gsomia-agreement jpn-kor-gsomia " + base64.b64encode(bytes(32)).decode(), "x y z")


def test_a_checkpoint_without_extension_lines_is_three_lines() -> None:
    text = f"gsomia/KOR\n7\n{ROOT_LINE}\n"
    assert Checkpoint("gsomia/KOR", 7, ROOT).text() == text
    assert parse_checkpoint(text) == Checkpoint("gsomia/KOR", 7, ROOT, ())


def test_a_checkpoint_with_extension_lines_round_trips() -> None:
    cp = Checkpoint("gsomia/KOR", 7, ROOT, LINES)
    text = cp.text()
    assert text == f"gsomia/KOR\n7\n{ROOT_LINE}\n{LINES[0]}\n{LINES[1]}\n"
    assert parse_checkpoint(text) == cp
    note = SignedNote(text, (signer("KOR").sign_note(text),))
    parsed = parse_note(note.encode())
    assert parsed == note
    assert parse_checkpoint(parsed.text).extensions == LINES
    verify_note_signature(parsed, "gsomia/KOR", KEYS("gsomia/KOR"))


def test_the_signatures_cover_the_extension_lines() -> None:
    text = Checkpoint("gsomia/KOR", 7, ROOT, LINES).text()
    cosig = signer("JPN").cosign(text, 1_700_000_000)
    note = SignedNote(text, (signer("KOR").sign_note(text), cosig))
    # cosignature/v1 signs its header, the time and the whole note text, extension lines too
    assert cosigned_message(text, 1_700_000_000).endswith(f"{LINES[1]}\n".encode())
    assert verify_every_signature(note, "gsomia/KOR", KEYS)[0].name == "gsomia/JPN"
    other = Checkpoint("gsomia/KOR", 7, ROOT, (LINES[0],)).text()
    moved = SignedNote(other, note.signatures)
    with pytest.raises(VerificationFailed, match="the signature of gsomia/KOR does not verify"):
        verify_note_signature(moved, "gsomia/KOR", KEYS("gsomia/KOR"))
    with pytest.raises(VerificationFailed, match="cosignature of gsomia/JPN: does not verify"):
        verify_cosignature(moved, cosig, KEYS("gsomia/JPN"))


@pytest.mark.parametrize(
    ("tail", "why"),
    [
        ("\nfoo\n", r"line 4: an extension line must not be empty"),
        ("foo\n\n", r"line 5: an extension line must not be empty"),
        ("a\tb\n", r"line 4: extension line holds a control character"),
        ("ok\na\x7fb\n", r"line 5: extension line holds a control character"),
        ("x" * (MAX_EXTENSION_CHARS + 1) + "\n", rf"line 4: extension line of {513} characters"),
        ("l\n" * (MAX_EXTENSION_LINES + 1), rf"{MAX_EXTENSION_LINES + 1} extension lines, at most"),
        ("no newline", r"each ending in a newline"),
    ],
)
def test_malformed_extension_lines_are_refused(tail: str, why: str) -> None:
    with pytest.raises(BadInput, match=why):
        parse_checkpoint(f"gsomia/KOR\n7\n{ROOT_LINE}\n{tail}")


def test_the_most_extension_lines_allowed_parse() -> None:
    lines = tuple("l" * MAX_EXTENSION_CHARS for _ in range(MAX_EXTENSION_LINES))
    cp = Checkpoint("gsomia/KOR", 1, ROOT, lines)
    assert parse_checkpoint(cp.text()) == cp


@pytest.mark.parametrize(
    ("lines", "why"),
    [
        (("two\nlines",), "line 4: extension line holds a control character"),
        (("",), "line 4: an extension line must not be empty"),
        (("ok", "\r"), "line 5: extension line holds a control character"),
    ],
)
def test_a_checkpoint_that_would_not_parse_back_is_never_made(
    lines: tuple[str, ...], why: str
) -> None:
    with pytest.raises(BadInput, match=why):
        Checkpoint("gsomia/KOR", 7, ROOT, lines)


def test_the_log_signs_extension_lines_and_audits_them(nodes: dict[str, Node]) -> None:
    kor = nodes["KOR"]
    kor.append(3)
    stored, note = kor.log.checkpoint(kor.signer, LINES)
    assert parse_checkpoint(note.text).extensions == LINES
    assert stored.note == note.encode()
    # one checkpoint per size: asked again at this size, the stored one is returned
    again, _ = kor.log.checkpoint(kor.signer, ("other",))
    assert again == stored
    report = kor.log.audit(KEYS)
    assert (report.size, report.checkpoints) == (3, 1)


def test_the_log_refuses_bad_extension_lines(nodes: dict[str, Node]) -> None:
    kor = nodes["KOR"]
    kor.append(1)
    with pytest.raises(BadInput, match="checkpoint extensions: line 4: extension line holds"):
        kor.log.checkpoint(kor.signer, ("a\nb",))
    assert kor.log.latest_checkpoint() is None


def test_witnesses_cosign_attach_and_compare_with_extension_lines(
    nodes: dict[str, Node],
) -> None:
    kor, jpn, usa = nodes["KOR"], nodes["JPN"], nodes["USA"]
    kor.append(4)
    _, note = kor.log.checkpoint(kor.signer, LINES)
    proof = kor.log.consistency_proof(0, 4)
    by_jpn = cosign(jpn.store, note.encode(), proof, signer=jpn.signer, keys=KEYS, timestamp=9)
    by_usa = cosign(usa.store, note.encode(), proof, signer=usa.signer, keys=KEYS, timestamp=9)
    assert by_jpn.checkpoint.extensions == LINES
    assert kor.log.attach(by_jpn.note.encode(), KEYS)[1][0].name == "gsomia/JPN"
    assert kor.log.attach(by_usa.note.encode(), KEYS)[1][0].name == "gsomia/USA"
    assert compare(jpn.store, by_usa.note.encode(), keys=KEYS, witness="gsomia/JPN") is None
    assert kor.log.audit(KEYS).cosignatures == 2
    assert jpn.log.audit(KEYS).witnessed == 1


def test_a_witness_refuses_other_extension_lines_for_a_tree_it_cosigned(
    nodes: dict[str, Node],
) -> None:
    kor, jpn = nodes["KOR"], nodes["JPN"]
    kor.append(2)
    _, note = kor.log.checkpoint(kor.signer, LINES)
    proof = kor.log.consistency_proof(0, 2)
    cosign(jpn.store, note.encode(), proof, signer=jpn.signer, keys=KEYS, timestamp=1)
    text = Checkpoint("gsomia/KOR", 2, kor.log.root(), (LINES[1],)).text()
    other = SignedNote(text, (kor.signer.sign_note(text),))
    same = kor.log.consistency_proof(2, 2)
    with pytest.raises(VerificationFailed, match="its extension lines differ"):
        cosign(jpn.store, other.encode(), same, signer=jpn.signer, keys=KEYS, timestamp=2)
    with jpn.store.reading() as r:
        assert len(r.witnessed("gsomia/KOR")) == 1
