"""Diplomatic notes and their receipts on the wire (DOMAIN.md §4; docs/formats.md).

A note (``GSMA``) is an authority's act on an agreement — notice of termination, suspension or
withdrawal of the notice — signed with its party's composite key; a receipt (``GSMK``) is the
receiving party's signed "note received", naming the note by its digest and carrying the
receiver's state digest of the agreement once it holds the note.

Both are ``magic ‖ version ‖ vec(body) ‖ vec(batch signature)``: the body is canonical JSON with
exactly the fields below, and the signature (a batch of one, ``gsomia.seal.batch``) is over
SHA-256 of a domain tag of its own and the body. A note's identity is SHA-256 of its whole
encoding (``NoteView.digest``), which its receipt names.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gsomia.domain.instants import format_instant, parse_instant
from gsomia.domain.notes import NOTE_ID, NoteAct, check_text, parse_kind
from gsomia.errors import BadInput, VerificationFailed
from gsomia.seal.batch import BatchSignature, sign_batch
from gsomia.seal.canonical import canonical_json, parse_json_bytes
from gsomia.seal.item import SignedObject

if TYPE_CHECKING:
    from gsomia.seal.keys import KeyRing
    from gsomia.seal.verify import Verifier

NOTE_MAGIC = b"GSMA"
RECEIPT_MAGIC = b"GSMK"
NOTE_DOMAIN = b"gsomia/seal/v1/agreement-note\x00"
RECEIPT_DOMAIN = b"gsomia/seal/v1/agreement-receipt\x00"
MAX_NOTE_BYTES = 32 * 1024  # a note's text is at most 2000 characters; a signature ~3.4 KB
DIGEST_LEN = 32

NOTE_FIELDS = frozenset(("type", "id", "agreement", "event", "party", "at", "text", "state"))
RECEIPT_FIELDS = frozenset(
    ("type", "note", "note_digest", "agreement", "from", "by", "received_at", "state")
)


@dataclass(frozen=True, slots=True)
class NoteView:
    """A verified note: the act, the sender's state digest with it, its digest and bytes."""

    act: NoteAct
    state: bytes
    digest: bytes
    raw: bytes


@dataclass(frozen=True, slots=True)
class ReceiptView:
    """A verified receipt: which note (id and digest), of which agreement, from whom (the note's
    party), received by whom and when, and the receiver's state digest then."""

    note_id: str
    note_digest: bytes
    agreement: str
    sender: str
    by: str
    received_at: datetime
    state: bytes
    raw: bytes


def note_digest(raw: bytes) -> bytes:
    """A note's identity: SHA-256 of its whole encoding."""
    return hashlib.sha256(raw).digest()


def _leaf(domain: bytes, body: bytes) -> bytes:
    return hashlib.sha256(domain + body).digest()


def _encode(magic: bytes, domain: bytes, keyring: KeyRing, doc: dict[str, Any]) -> bytes:
    body = canonical_json(doc)
    signature = sign_batch(keyring.party, keyring.current, [_leaf(domain, body)])[0]
    return SignedObject(magic, body, signature).encode()


def _decode(
    raw: bytes, magic: bytes, fields: frozenset[str], what: str
) -> tuple[dict[str, Any], bytes, BatchSignature]:
    if len(raw) > MAX_NOTE_BYTES:
        raise BadInput(f"{what}: {len(raw)} bytes, more than {MAX_NOTE_BYTES}")
    signed = SignedObject.decode(raw, what, magic)
    body, signature = signed.body, signed.signature
    doc = parse_json_bytes(body, where=f"{what}: body")
    if not isinstance(doc, dict) or set(doc) != fields:
        raise BadInput(f"{what}: body: expected exactly the fields {sorted(fields)}")
    if canonical_json(doc) != body:
        raise BadInput(f"{what}: body: not in canonical form")
    return doc, body, signature


def _text(doc: dict[str, Any], key: str, where: str, limit: int = 200) -> str:
    value = doc[key]
    if not isinstance(value, str) or not value or len(value) > limit:
        raise BadInput(f"{where}.{key}: expected a non-empty string of at most {limit} characters")
    return value


def _digest(doc: dict[str, Any], key: str, where: str) -> bytes:
    value = doc[key]
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != DIGEST_LEN or raw.hex() != value:
        raise BadInput(f"{where}.{key}: expected {DIGEST_LEN} bytes in lower-case hex")
    return raw


# ------------------------------------------------------------------ notes
def sign_note(keyring: KeyRing, act: NoteAct, state: bytes) -> bytes:
    """``act`` (of ``keyring``'s party) as a signed note carrying ``state``, the sender's state
    digest of the agreement with this note."""
    if act.party != keyring.party:
        raise BadInput(f"a note of {act.party} cannot be signed by {keyring.party}")
    if len(state) != DIGEST_LEN:
        raise BadInput(f"a state digest is {DIGEST_LEN} bytes")
    return _encode(
        NOTE_MAGIC,
        NOTE_DOMAIN,
        keyring,
        {
            "type": "agreement.note",
            "id": act.id,
            "agreement": act.agreement,
            "event": act.kind.value,
            "party": act.party,
            "at": format_instant(act.at),
            "text": act.text,
            "state": state.hex(),
        },
    )


def open_note(verifier: Verifier, raw: bytes, *, sender: str) -> NoteView:
    """A note as ``sender`` sent it: BadInput if malformed, VerificationFailed unless it is
    ``sender``'s own and its signature holds."""
    what = "note"
    doc, body, signature = _decode(raw, NOTE_MAGIC, NOTE_FIELDS, what)
    if doc["type"] != "agreement.note":
        raise BadInput(f"{what}.type: expected 'agreement.note'")
    note_id = _text(doc, "id", what)
    if not NOTE_ID.match(note_id):
        raise BadInput(f"{what}.id: expected a version 4 UUID in lower case")
    party = _text(doc, "party", what, limit=8)
    if party != sender:
        raise VerificationFailed(f"{what}: a note of {party} sent by {sender}")
    act = NoteAct(
        id=note_id,
        agreement=_text(doc, "agreement", what),
        kind=parse_kind(doc["event"], f"{what}.event"),
        party=party,
        at=parse_instant(doc["at"], f"{what}.at"),
        text=check_text(doc["text"], f"{what}.text"),
    )
    state = _digest(doc, "state", what)
    verifier.check_signature(signature, _leaf(NOTE_DOMAIN, body), signer=party, what=what)
    return NoteView(act, state, note_digest(raw), raw)


# ------------------------------------------------------------------ receipts
def sign_receipt(keyring: KeyRing, note: NoteView, received_at: datetime, state: bytes) -> bytes:
    """``keyring``'s party's signed receipt for ``note``, received at ``received_at``, with its
    state digest of the agreement once it holds the note."""
    if len(state) != DIGEST_LEN:
        raise BadInput(f"a state digest is {DIGEST_LEN} bytes")
    return _encode(
        RECEIPT_MAGIC,
        RECEIPT_DOMAIN,
        keyring,
        {
            "type": "agreement.receipt",
            "note": note.act.id,
            "note_digest": note.digest.hex(),
            "agreement": note.act.agreement,
            "from": note.act.party,
            "by": keyring.party,
            "received_at": format_instant(received_at),
            "state": state.hex(),
        },
    )


def open_receipt(verifier: Verifier, raw: bytes, *, sender: str) -> ReceiptView:
    """A receipt as ``sender`` sent it: BadInput if malformed, VerificationFailed unless it is
    ``sender``'s own and its signature holds."""
    what = "receipt"
    doc, body, signature = _decode(raw, RECEIPT_MAGIC, RECEIPT_FIELDS, what)
    if doc["type"] != "agreement.receipt":
        raise BadInput(f"{what}.type: expected 'agreement.receipt'")
    by = _text(doc, "by", what, limit=8)
    if by != sender:
        raise VerificationFailed(f"{what}: a receipt of {by} sent by {sender}")
    note_id = _text(doc, "note", what)
    if not NOTE_ID.match(note_id):
        raise BadInput(f"{what}.note: expected a version 4 UUID in lower case")
    view = ReceiptView(
        note_id=note_id,
        note_digest=_digest(doc, "note_digest", what),
        agreement=_text(doc, "agreement", what),
        sender=_text(doc, "from", what, limit=8),
        by=by,
        received_at=parse_instant(doc["received_at"], f"{what}.received_at"),
        state=_digest(doc, "state", what),
        raw=raw,
    )
    verifier.check_signature(signature, _leaf(RECEIPT_DOMAIN, body), signer=by, what=what)
    return view
