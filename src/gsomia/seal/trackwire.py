"""The sealed track frame format, version 1 (docs/formats.md, "Track frames"): encoding only.

A *frame* (``GSMT``) carries a run of updates of one track from one sender to one recipient;
a *relayed frame* (``GSMR``) is an origin frame, unchanged, with a relay record signed by the
hub that passes it on. This module only encodes and decodes; it checks structure, not
signatures or keys (that is ``gsomia.seal.tracks``). Decoding is strict: a byte out of place is
``BadInput``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from gsomia.domain.instants import format_instant, parse_instant
from gsomia.domain.tracks import MAX_SEQ, track_id
from gsomia.errors import BadInput
from gsomia.seal import wire
from gsomia.seal.batch import BatchSignature
from gsomia.seal.item import CONTENT_NONCE_LEN, SUITE_ID, VERSION

FRAME_MAGIC = b"GSMT"
RELAYED_MAGIC = b"GSMR"
FRAME_DOMAIN = b"gsomia/seal/v1/track-frame\x00"
RELAY_DOMAIN = b"gsomia/seal/v1/track-relay\x00"
FRAME_CONTENT_AAD = b"gsomia/seal/v1/track-content\x00"
#: The most updates one frame carries (a window of 10 ms holds far fewer).
MAX_FRAME_UPDATES = 1000
_MAX_INSTANT_LEN = 40
_HEAD = wire.u8(VERSION) + wire.u16(SUITE_ID)
_FRAME_PREFIX = FRAME_DOMAIN + wire.u16(SUITE_ID)
_RELAY_PREFIX = RELAY_DOMAIN + wire.u16(SUITE_ID)


def encode_instant(at: datetime) -> bytes:
    return format_instant(at).encode("ascii")


def decode_instant(raw: bytes, what: str) -> datetime:
    """An instant in exactly the form ``encode_instant`` writes (one encoding per instant)."""
    if not 0 < len(raw) <= _MAX_INSTANT_LEN or not raw.isascii():
        raise BadInput(f"{what}: expected an ISO 8601 instant with its offset")
    at = parse_instant(raw.decode("ascii"), what)
    if encode_instant(at) != raw:
        raise BadInput(f"{what}: not in canonical form")
    return at


# ---------------------------------------------------------------- the frame


@dataclass(frozen=True, slots=True)
class FrameHeader:
    """What the frame says in clear: who, which track, under which label, when, which seqs."""

    origin: str
    sender: str
    recipient: str
    track: str
    label: bytes  # canonical JSON of the SealedLabel
    at: datetime
    prev: int
    first: int
    count: int
    nonce: bytes

    def encode(self) -> bytes:
        return b"".join(
            (
                wire.vec(self.origin.encode("ascii")),
                wire.vec(self.sender.encode("ascii")),
                wire.vec(self.recipient.encode("ascii")),
                wire.vec(self.track.encode("ascii")),
                wire.vec(self.label),
                wire.vec(encode_instant(self.at)),
                wire.u32(self.prev),
                wire.u32(self.first),
                wire.u32(self.count),
                wire.vec(self.nonce),
            )
        )

    @classmethod
    def decode(cls, raw: bytes, what: str) -> FrameHeader:
        r = wire.Reader(raw, what)
        origin = r.ident(max_len=3)
        sender = r.ident(max_len=3)
        recipient = r.ident(max_len=3)
        track_raw = r.vec()
        if not track_raw.isascii():
            raise BadInput(f"{what}: the track id must be ASCII")
        header = cls(
            origin=origin,
            sender=sender,
            recipient=recipient,
            track=track_id(track_raw.decode("ascii"), f"{what}: track"),
            label=r.vec(),
            at=decode_instant(r.vec(), f"{what}: at"),
            prev=r.u32(),
            first=r.u32(),
            count=r.u32(),
            nonce=r.vec(CONTENT_NONCE_LEN),
        )
        r.end()
        header.check(what)
        return header

    def check(self, what: str) -> None:
        """The seq fields are in range: prev < first, 1..MAX_FRAME_UPDATES updates, all ≤
        MAX_SEQ; version 1 frames are sent by their origin (a hub adds a relay record)."""
        if self.sender != self.origin:
            raise BadInput(f"{what}: the sender {self.sender} is not the origin {self.origin}")
        if self.recipient == self.origin:
            raise BadInput(f"{what}: a frame from {self.origin} to itself")
        if not 1 <= self.count <= MAX_FRAME_UPDATES:
            raise BadInput(f"{what}: a frame carries 1 to {MAX_FRAME_UPDATES} updates")
        if not self.prev < self.first <= MAX_SEQ or self.first + self.count - 1 > MAX_SEQ:
            raise BadInput(
                f"{what}: seqs must satisfy prev < first and first + count - 1 <= {MAX_SEQ} "
                f"(prev {self.prev}, first {self.first}, count {self.count})"
            )


@dataclass(frozen=True, slots=True)
class Frame:
    """An origin frame: the header, the encrypted updates, the recipient's wrap of the content
    key and the sender's batch signature over the frame digest."""

    header: bytes
    ciphertext: bytes
    wrap: bytes
    signature: BatchSignature

    def digest(self) -> bytes:
        return frame_digest(self.header, self.ciphertext, self.wrap)

    def encode(self) -> bytes:
        return encode_frame(self.header, self.ciphertext, self.wrap, self.signature.encode())

    @classmethod
    def decode(cls, raw: bytes, what: str = "track frame") -> Frame:
        r = wire.Reader(raw, what)
        if r.fixed(4) != FRAME_MAGIC:
            raise BadInput(f"{what}: not a gsomia track frame")
        _version_and_suite(r, what)
        frame = cls(
            header=r.vec(),
            ciphertext=r.vec(),
            wrap=r.vec(),
            signature=BatchSignature.decode(r.vec(), f"{what}: signature"),
        )
        r.end()
        return frame


def encode_frame(header: bytes, ciphertext: bytes, wrap: bytes, signature: bytes) -> bytes:
    return b"".join(
        (
            FRAME_MAGIC,
            _HEAD,
            wire.vec(header),
            wire.vec(ciphertext),
            wire.vec(wrap),
            wire.vec(signature),
        )
    )


def frame_digest(header: bytes, ciphertext: bytes, wrap: bytes) -> bytes:
    """The leaf the sender signs: H(domain || suite || vec header || vec ciphertext || vec wrap)."""
    h = hashlib.sha256(_FRAME_PREFIX)
    h.update(wire.vec(header))
    h.update(wire.vec(ciphertext))
    h.update(wire.vec(wrap))
    return h.digest()


def raw_frame_digest(raw: bytes, frame: Frame) -> bytes:
    """``frame_digest`` of ``frame`` from the bytes it was decoded from (``Frame.decode``
    checked their layout): its vec'd header, ciphertext and wrap lie there in a row already, so
    they are hashed in place, not copied into new vecs."""
    start = 4 + len(_HEAD)
    end = start + 12 + len(frame.header) + len(frame.ciphertext) + len(frame.wrap)
    h = hashlib.sha256(_FRAME_PREFIX)
    h.update(memoryview(raw)[start:end])
    return h.digest()


def content_aad(header: bytes) -> bytes:
    return FRAME_CONTENT_AAD + header


# ---------------------------------------------------------------- the relay


@dataclass(frozen=True, slots=True)
class RelayRecord:
    """What the hub signs when it passes an origin frame on."""

    relayer: str
    recipient: str
    at: datetime
    prev: int
    origin_digest: bytes
    wrap: bytes  # the content key wrapped for ``recipient`` on the relayer's channel

    def encode(self) -> bytes:
        return b"".join(
            (
                wire.vec(self.relayer.encode("ascii")),
                wire.vec(self.recipient.encode("ascii")),
                wire.vec(encode_instant(self.at)),
                wire.u32(self.prev),
                wire.vec(self.origin_digest),
                wire.vec(self.wrap),
            )
        )

    @classmethod
    def decode(cls, raw: bytes, what: str) -> RelayRecord:
        r = wire.Reader(raw, what)
        record = cls(
            relayer=r.ident(max_len=3),
            recipient=r.ident(max_len=3),
            at=decode_instant(r.vec(), f"{what}: at"),
            prev=r.u32(),
            origin_digest=r.vec(32),
            wrap=r.vec(),
        )
        r.end()
        if record.relayer == record.recipient:
            raise BadInput(f"{what}: {record.relayer} relays to itself")
        if record.prev >= MAX_SEQ:
            raise BadInput(f"{what}: prev must be below {MAX_SEQ}")
        return record


def relay_digest(record: bytes) -> bytes:
    """The leaf the hub signs: H(domain || suite || vec record)."""
    return hashlib.sha256(_RELAY_PREFIX + wire.vec(record)).digest()


@dataclass(frozen=True, slots=True)
class Relayed:
    """A relayed frame: the origin frame's bytes unchanged, the relay record and the relayer's
    batch signature over the record's digest."""

    frame: bytes
    record: bytes
    signature: BatchSignature

    def encode(self) -> bytes:
        return encode_relayed(self.frame, self.record, self.signature.encode())

    @classmethod
    def decode(cls, raw: bytes, what: str = "relayed track frame") -> Relayed:
        r = wire.Reader(raw, what)
        if r.fixed(4) != RELAYED_MAGIC:
            raise BadInput(f"{what}: not a gsomia relayed track frame")
        _version_and_suite(r, what)
        relayed = cls(
            frame=r.vec(),
            record=r.vec(),
            signature=BatchSignature.decode(r.vec(), f"{what}: signature"),
        )
        r.end()
        return relayed


def encode_relayed(frame: bytes, record: bytes, signature: bytes) -> bytes:
    return b"".join((RELAYED_MAGIC, _HEAD, wire.vec(frame), wire.vec(record), wire.vec(signature)))


def _version_and_suite(r: wire.Reader, what: str) -> None:
    version = r.u8()
    if version != VERSION:
        raise BadInput(f"{what}: unsupported version {version}")
    suite = r.u16()
    if suite != SUITE_ID:
        raise BadInput(f"{what}: unknown suite {suite:#06x}")
