"""Checkpoints as C2SP signed notes (c2sp.org/signed-note, tlog-checkpoint, tlog-cosignature).

A checkpoint's note text is three lines — origin, decimal tree size, base64 root hash — each
ending in a newline, then optional extension lines (opaque to the log's witnesses; at most
``MAX_EXTENSION_LINES``, each non-empty, of at most ``MAX_EXTENSION_CHARS`` characters, with no
control character). A signed note is that text, a blank line, and one or more signature lines
``— <key name> base64(key ID || signature)``. The log signs with Ed25519 (signature type 0x01:
the signature is over the note text); witnesses add timestamped Ed25519 cosignatures (type 0x04:
the signature is over ``cosignature/v1``, ``time <t>`` and the note text). The key ID is
``SHA-256(name || 0x0A || type || public key)[:4]``. Both signatures cover the whole note text,
extension lines included: a cosignature/v1 vouches only for the first three lines (the log's
append-only history), yet binds the extension lines the log signed to that checkpoint.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gsomia import primitives
from gsomia.errors import BadInput, VerificationFailed
from gsomia.ledger.hashing import HASH_LEN

SIG_ED25519 = 0x01
SIG_COSIGNATURE_V1 = 0x04
EM_DASH = "\u2014"
MAX_NOTE_BYTES = 16 * 1024
MAX_SIGNATURES = 32
COSIGNATURE_HEADER = "cosignature/v1"
_MAX_TIMESTAMP = 2**63 - 1
_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
#: At most this many extension lines in a checkpoint, each of at most this many characters.
MAX_EXTENSION_LINES = 64
MAX_EXTENSION_CHARS = 512

#: Public Ed25519 keys known for a key name (every generation); empty when the name is unknown.
KeyDirectory = Callable[[str], Sequence[bytes]]


def key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    """The 4-byte key ID of signed-note: SHA-256(name || 0x0A || type || key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public_key).digest()[:4]


def check_key_name(name: str, where: str) -> str:
    if not name or any(c.isspace() for c in name) or "+" in name:
        raise BadInput(f"{where}: key name {name!r} is empty or has a space or '+'")
    return name


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        blob = base64.b64encode(self.key_id + self.signature).decode()
        return f"{EM_DASH} {self.name} {blob}\n"


@dataclass(frozen=True)
class SignedNote:
    text: str
    signatures: tuple[NoteSignature, ...]

    def encode(self) -> bytes:
        return (self.text + "\n" + "".join(s.line() for s in self.signatures)).encode()

    def with_signature(self, sig: NoteSignature) -> SignedNote:
        if sig in self.signatures:
            return self
        return SignedNote(self.text, (*self.signatures, sig))


def parse_note(data: bytes, *, where: str = "note") -> SignedNote:
    """Parse a signed note strictly; any deviation is bad input naming the line."""
    if len(data) > MAX_NOTE_BYTES:
        raise BadInput(f"{where}: longer than {MAX_NOTE_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(f"{where}: not UTF-8 (byte {exc.start})") from exc
    if _CONTROL.search(text):
        raise BadInput(f"{where}: contains a control character other than newline")
    if not text.endswith("\n"):
        raise BadInput(f"{where}: does not end with a newline")
    cut = text.rfind("\n\n")
    if cut < 0:
        raise BadInput(f"{where}: no blank line before the signatures")
    body = text[: cut + 1]
    lines = text[cut + 2 : -1].split("\n")
    sigs: list[NoteSignature] = []
    first_line = body.count("\n") + 2
    for offset, line in enumerate(lines):
        at = f"{where}: line {first_line + offset}"
        prefix = EM_DASH + " "
        if not line.startswith(prefix):
            raise BadInput(f"{at}: a signature line starts with an em dash and a space")
        parts = line[len(prefix) :].split(" ")
        if len(parts) != 2:
            raise BadInput(f"{at}: expected '{EM_DASH} <key name> <base64 signature>'")
        name = check_key_name(parts[0], at)
        try:
            blob = base64.b64decode(parts[1], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadInput(f"{at}: the signature is not standard base64") from exc
        if base64.b64encode(blob).decode() != parts[1] or len(blob) < 5:
            raise BadInput(f"{at}: the signature is not canonical base64 of key ID and bytes")
        sigs.append(NoteSignature(name, blob[:4], blob[4:]))
    if len(sigs) > MAX_SIGNATURES:
        raise BadInput(f"{where}: more than {MAX_SIGNATURES} signatures")
    if len(set(sigs)) != len(sigs):
        raise BadInput(f"{where}: a signature line is repeated")
    return SignedNote(body, tuple(sigs))


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint's note text: origin, tree size, root hash and its extension lines (in
    order). Extension lines are checked when made, so that no text is signed that would not
    parse back into the same checkpoint."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_extensions(self.extensions, where="checkpoint", first_line=4)

    def text(self) -> str:
        head = f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"
        return head + "".join(f"{line}\n" for line in self.extensions)


def check_extensions(lines: Sequence[str], *, where: str, first_line: int = 4) -> tuple[str, ...]:
    """Refuse extension lines a checkpoint may not carry: more than ``MAX_EXTENSION_LINES``, or
    one that is empty, longer than ``MAX_EXTENSION_CHARS`` characters, or holds a control
    character (a newline among them). ``first_line`` numbers the lines in the messages."""
    if len(lines) > MAX_EXTENSION_LINES:
        raise BadInput(
            f"{where}: {len(lines)} extension lines, at most {MAX_EXTENSION_LINES} are allowed"
        )
    for n, line in enumerate(lines, start=first_line):
        if not line:
            raise BadInput(f"{where}: line {n}: an extension line must not be empty")
        if len(line) > MAX_EXTENSION_CHARS:
            raise BadInput(
                f"{where}: line {n}: extension line of {len(line)} characters, at most "
                f"{MAX_EXTENSION_CHARS}"
            )
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in line):
            raise BadInput(f"{where}: line {n}: extension line holds a control character")
    return tuple(lines)


def parse_checkpoint(text: str, *, where: str = "checkpoint") -> Checkpoint:
    """Parse checkpoint note text (c2sp.org/tlog-checkpoint): origin, size and root hash lines,
    then the optional extension lines (``check_extensions``)."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise BadInput(
            f"{where}: expected origin, size and root hash lines (then optional extension "
            "lines), each ending in a newline"
        )
    origin, size_text, root_text = lines[:3]
    if not origin or any(c.isspace() for c in origin) or "+" in origin:
        raise BadInput(f"{where}: line 1: origin {origin!r} is empty or has a space or '+'")
    if origin == COSIGNATURE_HEADER:
        raise BadInput(f"{where}: line 1: {origin!r} is reserved")
    if not _SIZE.fullmatch(size_text):
        raise BadInput(f"{where}: line 2: tree size {size_text!r} is not a decimal")
    size = int(size_text)
    if size >= 2**63:
        raise BadInput(f"{where}: line 2: tree size too large")
    try:
        root = base64.b64decode(root_text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadInput(f"{where}: line 3: root hash is not standard base64") from exc
    if len(root) != HASH_LEN or base64.b64encode(root).decode() != root_text:
        raise BadInput(f"{where}: line 3: root hash is not canonical base64 of 32 bytes")
    extensions = check_extensions(lines[3:-1], where=where)
    return Checkpoint(origin, size, root, extensions)


@dataclass(frozen=True)
class NoteSigner:
    """An Ed25519 private key under a key name. The seed stays in memory only."""

    name: str
    seed: bytes

    def __post_init__(self) -> None:
        check_key_name(self.name, "signer")

    def __repr__(self) -> str:
        return f"NoteSigner(name={self.name!r})"

    @property
    def public_key(self) -> bytes:
        return primitives.ed25519_public(self.seed)

    def sign_note(self, text: str) -> NoteSignature:
        kid = key_id(self.name, SIG_ED25519, self.public_key)
        return NoteSignature(self.name, kid, primitives.ed25519_sign(self.seed, text.encode()))

    def cosign(self, text: str, timestamp: int) -> NoteSignature:
        if not 0 <= timestamp <= _MAX_TIMESTAMP:
            raise BadInput(f"cosignature timestamp {timestamp} out of range")
        kid = key_id(self.name, SIG_COSIGNATURE_V1, self.public_key)
        sig = primitives.ed25519_sign(self.seed, cosigned_message(text, timestamp))
        return NoteSignature(self.name, kid, timestamp.to_bytes(8, "big") + sig)


def cosigned_message(text: str, timestamp: int) -> bytes:
    return f"{COSIGNATURE_HEADER}\ntime {timestamp}\n{text}".encode()


@dataclass(frozen=True)
class Cosignature:
    name: str
    timestamp: int


def _matching_key(sig: NoteSignature, sig_type: int, keys: Sequence[bytes]) -> bytes | None:
    for pub in keys:
        if key_id(sig.name, sig_type, pub) == sig.key_id:
            return pub
    return None


def verify_note_signature(note: SignedNote, name: str, keys: Sequence[bytes]) -> None:
    """Raise unless an Ed25519 (type 0x01) signature by ``name`` under one of ``keys`` verifies.

    Signatures of other keys are ignored, as signed-note requires; a signature of a known key
    that fails to verify rejects the note.
    """
    verified = False
    for sig in note.signatures:
        if sig.name != name:
            continue
        pub = _matching_key(sig, SIG_ED25519, keys)
        if pub is None:
            continue
        try:
            primitives.ed25519_verify(pub, sig.signature, note.text.encode())
        except VerificationFailed as exc:
            raise VerificationFailed(f"the signature of {name} does not verify") from exc
        verified = True
    if not verified:
        raise VerificationFailed(f"no signature of {name} by a known key")


def origin_lines(note: SignedNote, name: str, keys: Sequence[bytes]) -> SignedNote:
    """The note with only ``name``'s Ed25519 signature lines by ``keys`` (for evidence)."""
    kept = tuple(
        s for s in note.signatures if s.name == name and _matching_key(s, SIG_ED25519, keys)
    )
    return SignedNote(note.text, kept)


def verify_cosignature(note: SignedNote, sig: NoteSignature, keys: Sequence[bytes]) -> Cosignature:
    """Raise unless ``sig`` is a valid cosignature/v1 (type 0x04) of ``note`` by ``keys``."""
    pub = _matching_key(sig, SIG_COSIGNATURE_V1, keys)
    if pub is None:
        raise VerificationFailed(f"cosignature of {sig.name}: not by a known key")
    if len(sig.signature) != 8 + primitives.ED25519_SIG_LEN:
        raise VerificationFailed(f"cosignature of {sig.name}: wrong length")
    timestamp = int.from_bytes(sig.signature[:8], "big")
    if timestamp > _MAX_TIMESTAMP:
        raise VerificationFailed(f"cosignature of {sig.name}: timestamp out of range")
    try:
        primitives.ed25519_verify(pub, sig.signature[8:], cosigned_message(note.text, timestamp))
    except VerificationFailed as exc:
        raise VerificationFailed(f"cosignature of {sig.name}: does not verify") from exc
    return Cosignature(sig.name, timestamp)


def verify_every_signature(
    note: SignedNote, origin: str, keys: KeyDirectory
) -> tuple[Cosignature, ...]:
    """Strict check of a stored note: the origin signed it and every line verifies.

    A stored note holds only signatures that were verified when stored, so an unknown signer
    here means the note was altered.
    """
    verify_note_signature(note, origin, keys(origin))
    cosigs: list[Cosignature] = []
    for sig in note.signatures:
        if sig.name == origin and _matching_key(sig, SIG_ED25519, keys(origin)) is not None:
            continue
        cosigs.append(verify_cosignature(note, sig, keys(sig.name)))
    return tuple(cosigs)
