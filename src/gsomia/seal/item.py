"""The sealed item format, version 1 (docs/formats.md, "Sealed items").

This module only encodes and decodes; it checks structure, not signatures or keys (that is
``gsomia.seal.sealer``, ``verify`` and ``opener``). Decoding is strict: a byte out of place is
``BadInput``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

from gsomia.domain import purposes as purposes_
from gsomia.domain.instants import format_instant, parse_instant
from gsomia.domain.labels import Label, Source
from gsomia.errors import BadInput
from gsomia.seal import wire
from gsomia.seal.batch import BatchSignature
from gsomia.seal.canonical import canonical_json, parse_json_bytes

ITEM_MAGIC = b"GSMI"
CONSENT_MAGIC = b"GSMC"
VERSION = 1
SUITE_ID = 0x0001
SUITE_NAME = (
    "content AES-256-GCM; key wrap AES-256-GCM under channel keys; channels "
    "HPKE(ML-KEM-768+X25519, HKDF-SHA256, AES-256-GCM); signatures Ed25519+ML-DSA-65 over "
    "SHA-256 Merkle roots"
)
ITEM_DOMAIN = b"gsomia/seal/v1/item\x00"
RECORD_DOMAIN = b"gsomia/seal/v1/record\x00"
CONSENT_DOMAIN = b"gsomia/seal/v1/consent\x00"
CONTENT_AAD = b"gsomia/seal/v1/content\x00"
KIND_RELEASE = 1
KIND_NOTICE = 2
CONTENT_NONCE_LEN = 12
CHANNEL_ID_LEN = 16
WRAPPED_KEY_LEN = 32 + 16
ZERO_DIGEST = bytes(32)
_WRAP_SUFFIX_LEN = 4 + 12 + 4 + WRAPPED_KEY_LEN
WrapPrefixes: TypeAlias = dict[bytes, tuple[str, str, str, bytes, bytes]]
_LABEL_FIELDS = frozenset(
    ("policy", "id", "originator", "classification", "releasable_to", "topics", "created")
)
_ALL_LABEL_FIELDS = _LABEL_FIELDS | {"purposes", "retain_until", "derived_from"}
_PARTY = re.compile(r"^[A-Z]{3}$")


# ---------------------------------------------------------------- label


@dataclass(frozen=True, slots=True)
class SealedLabel:
    """The originator's label as sealed (DOMAIN.md §6): policy, classification, categories,
    originator and creation time."""

    policy: str
    id: str
    originator: str
    classification: str
    releasable_to: tuple[str, ...]
    topics: tuple[str, ...]
    created: datetime
    purposes: tuple[str, ...] = purposes_.DEFAULT
    retain_until: datetime | None = None
    derived_from: tuple[Source, ...] = ()

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "policy": self.policy,
            "id": self.id,
            "originator": self.originator,
            "classification": self.classification,
            "releasable_to": list(self.releasable_to),
            "topics": list(self.topics),
            "created": format_instant(self.created),
        }
        # DOMAIN.md §7's fields only when they differ from their defaults, written as the
        # domain's label writes them: a label without them encodes, and so is signed, exactly as
        # before they existed
        doc.update(self.domain(self.classification).extra_json())
        return doc

    def encode(self) -> bytes:
        return canonical_json(self.to_json())

    def domain(self, classification: str) -> Label:
        """The label as the engine reads it, at ``classification`` (the current class)."""
        return Label(
            self.id,
            self.originator,
            classification,
            self.releasable_to,
            self.topics,
            self.purposes,
            self.retain_until,
            self.derived_from,
        )

    @classmethod
    def decode(cls, raw: bytes, what: str) -> SealedLabel:
        doc = parse_json_bytes(raw, where=what)
        if not isinstance(doc, dict) or not _LABEL_FIELDS <= set(doc) <= _ALL_LABEL_FIELDS:
            raise BadInput(
                f"{what}: a sealed label has the fields {sorted(_LABEL_FIELDS)} "
                f"and may have {sorted(_ALL_LABEL_FIELDS - _LABEL_FIELDS)}"
            )
        strings = [doc[k] for k in ("policy", "id", "originator", "classification", "created")]
        if not all(isinstance(s, str) and s for s in strings):
            raise BadInput(f"{what}: policy, id, originator, classification, created: strings")
        rel, topics = doc["releasable_to"], doc["topics"]
        if not (isinstance(rel, list) and all(isinstance(p, str) and _PARTY.match(p) for p in rel)):
            raise BadInput(f"{what}: releasable_to must be a list of party trigraphs")
        if not (isinstance(topics, list) and all(isinstance(t, str) for t in topics)):
            raise BadInput(f"{what}: topics must be a list of strings")
        if not _PARTY.match(doc["originator"]):
            raise BadInput(f"{what}: originator must be a party trigraph")
        label = cls(
            policy=doc["policy"],
            id=doc["id"],
            originator=doc["originator"],
            classification=doc["classification"],
            releasable_to=tuple(rel),
            topics=tuple(topics),
            created=parse_instant(doc["created"], f"{what}: created"),
            purposes=_sealed_purposes(doc.get("purposes"), what),
            retain_until=_sealed_instant(doc.get("retain_until"), f"{what}: retain_until"),
            derived_from=_sealed_sources(doc.get("derived_from"), what),
        )
        if label.encode() != raw:
            raise BadInput(f"{what}: not in canonical form")
        return label


def _sealed_purposes(value: object, what: str) -> tuple[str, ...]:
    if value is None:
        return purposes_.DEFAULT
    if not (isinstance(value, list) and value and all(isinstance(p, str) for p in value)):
        raise BadInput(f"{what}: purposes must be a non-empty list of strings")
    return tuple(value)


def _sealed_instant(value: object, what: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadInput(f"{what}: expected an instant")
    return parse_instant(value, what)


def _sealed_sources(value: object, what: str) -> tuple[Source, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        raise BadInput(f"{what}: derived_from must be a non-empty list of sources")
    sources = []
    for i, s in enumerate(value):
        if not isinstance(s, dict) or not {"item", "originator", "kind"} <= set(s) <= {
            "item",
            "originator",
            "kind",
            "language",
        }:
            raise BadInput(f"{what}: derived_from[{i}]: item, originator, kind (and language)")
        strings = [s["item"], s["originator"], s["kind"], s.get("language", "-")]
        if not all(isinstance(x, str) and x for x in strings) or not _PARTY.match(s["originator"]):
            raise BadInput(f"{what}: derived_from[{i}]: strings, the originator a party trigraph")
        sources.append(Source(s["item"], s["originator"], s["kind"], s.get("language")))
    return tuple(sources)


# ---------------------------------------------------------------- wraps


@dataclass(frozen=True, slots=True)
class Wrap:
    """The item's data key wrapped for one party under a channel key.

    ``channel_enc`` is the HPKE encapsulation of the channel key to the recipient's key
    ``recipient_key``; it is the same for every item sealed on that channel (sender, recipient,
    key, epoch), so a recipient decapsulates once per channel and caches the channel key.
    """

    recipient: str
    recipient_key: str
    sender: str
    channel_id: bytes
    channel_enc: bytes
    nonce: bytes
    wrapped_key: bytes

    def encode(self) -> bytes:
        prefix = wrap_prefix(
            self.recipient, self.recipient_key, self.sender, self.channel_id, self.channel_enc
        )
        return prefix + wire.vec(self.nonce) + wire.vec(self.wrapped_key)

    @classmethod
    def decode(cls, raw: bytes, what: str, prefixes: WrapPrefixes | None = None) -> Wrap:
        """Decode strictly. With ``prefixes``, the channel fields (the bytes before the nonce,
        the same on every item of a channel) are decoded once and then looked up by their
        exact bytes; a wrap whose suffix is not the fixed-size nonce and key takes the strict
        path."""
        if prefixes is not None:
            cached = prefixes.get(raw[:-_WRAP_SUFFIX_LEN])
            if cached is not None:
                nonce_len, nonce, wrapped_len, wrapped = _split_wrap_suffix(raw)
                if nonce_len == 12 and wrapped_len == WRAPPED_KEY_LEN:
                    recipient, recipient_key, sender, channel_id, channel_enc = cached
                    return cls(
                        recipient, recipient_key, sender, channel_id, channel_enc, nonce, wrapped
                    )
        wrap = cls._decode(raw, what)
        if prefixes is not None:
            if len(prefixes) >= 1024:
                prefixes.clear()
            prefixes[raw[:-_WRAP_SUFFIX_LEN]] = (
                wrap.recipient,
                wrap.recipient_key,
                wrap.sender,
                wrap.channel_id,
                wrap.channel_enc,
            )
        return wrap

    @classmethod
    def _decode(cls, raw: bytes, what: str) -> Wrap:
        r = wire.Reader(raw, what)
        wrap = cls(
            recipient=r.ident(max_len=3),
            recipient_key=r.ident(max_len=16),
            sender=r.ident(max_len=3),
            channel_id=r.vec(CHANNEL_ID_LEN),
            channel_enc=r.vec(),
            nonce=r.vec(12),
            wrapped_key=r.vec(WRAPPED_KEY_LEN),
        )
        r.end()
        return wrap


def _split_wrap_suffix(raw: bytes) -> tuple[int, bytes, int, bytes]:
    at = len(raw) - _WRAP_SUFFIX_LEN
    nonce_len = int.from_bytes(raw[at : at + 4], "big")
    nonce = raw[at + 4 : at + 16]
    wrapped_len = int.from_bytes(raw[at + 16 : at + 20], "big")
    return nonce_len, nonce, wrapped_len, raw[at + 20 :]


def wrap_prefix(
    recipient: str, recipient_key: str, sender: str, channel_id: bytes, channel_enc: bytes
) -> bytes:
    """The fields of a wrap that are the same for every item on one channel."""
    return b"".join(
        (
            wire.vec(recipient.encode("ascii")),
            wire.vec(recipient_key.encode("ascii")),
            wire.vec(sender.encode("ascii")),
            wire.vec(channel_id),
            wire.vec(channel_enc),
        )
    )


def channel_info(sender: str, recipient: str, recipient_key: str, channel_id: bytes) -> bytes:
    return (
        b"gsomia/seal/v1/channel\x00"
        + sender.encode("ascii")
        + b"\x00"
        + recipient.encode("ascii")
        + b"\x00"
        + recipient_key.encode("ascii")
        + b"\x00"
        + channel_id
    )


def wrap_aad(recipient: str, content_nonce: bytes) -> bytes:
    return b"gsomia/seal/v1/wrap\x00" + recipient.encode("ascii") + b"\x00" + content_nonce


# ---------------------------------------------------------------- core


@dataclass(frozen=True, slots=True)
class Core:
    """What the originator signs: label, encrypted content, wraps and their grants."""

    label: bytes  # canonical JSON of the SealedLabel
    nonce: bytes
    ciphertext: bytes
    wraps: tuple[bytes, ...]  # encoded Wrap, one per party, the originator's first
    grants: bytes  # canonical JSON list: for each other party, the decision that allowed it

    def encode(self) -> bytes:
        return b"".join(
            (
                wire.vec(self.label),
                wire.vec(self.nonce),
                wire.vec(self.ciphertext),
                wire.vec_list(self.wraps),
                wire.vec(self.grants),
            )
        )

    @classmethod
    def decode(cls, raw: bytes, what: str) -> Core:
        r = wire.Reader(raw, what)
        core = cls(
            label=r.vec(),
            nonce=r.vec(CONTENT_NONCE_LEN),
            ciphertext=r.vec(),
            wraps=tuple(r.vec_list()),
            grants=r.vec(),
        )
        r.end()
        return core


_ITEM_PREFIX = ITEM_DOMAIN + wire.u16(SUITE_ID)


def item_digest(core: bytes) -> bytes:
    h = hashlib.sha256(_ITEM_PREFIX)
    h.update(core)
    return h.digest()


# ---------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class Record:
    """A release record or a classification-change notice appended to an item."""

    kind: int
    body: bytes  # canonical JSON
    wrap: bytes  # encoded Wrap (release) or empty (notice)
    consent: bytes  # encoded consent token, or empty
    signature: BatchSignature

    def signed_part(self) -> bytes:
        return b"".join(
            (wire.u8(self.kind), wire.vec(self.body), wire.vec(self.wrap), wire.vec(self.consent))
        )

    def digest(self) -> bytes:
        return hashlib.sha256(RECORD_DOMAIN + self.signed_part()).digest()

    def encode(self) -> bytes:
        return self.signed_part() + wire.vec(self.signature.encode())

    @classmethod
    def decode(cls, raw: bytes, what: str) -> Record:
        r = wire.Reader(raw, what)
        kind = r.u8()
        if kind not in (KIND_RELEASE, KIND_NOTICE):
            raise BadInput(f"{what}: unknown record kind {kind}")
        record = cls(
            kind=kind,
            body=r.vec(),
            wrap=r.vec(),
            consent=r.vec(),
            signature=BatchSignature.decode(r.vec(), f"{what}: signature"),
        )
        r.end()
        return record


# ---------------------------------------------------------------- item

_ITEM_HEAD = ITEM_MAGIC + wire.u8(VERSION) + wire.u16(SUITE_ID)


def encode_item(core: bytes, signature: bytes, records: Sequence[bytes] = ()) -> bytes:
    return b"".join((_ITEM_HEAD, wire.vec(core), wire.vec(signature), wire.vec_list(records)))


@dataclass(frozen=True, slots=True)
class Item:
    core: bytes
    signature: BatchSignature
    records: tuple[Record, ...] = ()

    def encode(self) -> bytes:
        return encode_item(self.core, self.signature.encode(), [r.encode() for r in self.records])

    @classmethod
    def decode(cls, raw: bytes, what: str = "sealed item") -> Item:
        r = wire.Reader(raw, what)
        if r.fixed(4) != ITEM_MAGIC:
            raise BadInput(f"{what}: not a gsomia sealed item")
        version = r.u8()
        if version != VERSION:
            raise BadInput(f"{what}: unsupported version {version}")
        suite = r.u16()
        if suite != SUITE_ID:
            raise BadInput(f"{what}: unknown suite {suite:#06x}")
        core = r.vec()
        signature = BatchSignature.decode(r.vec(), f"{what}: signature")
        records = tuple(
            Record.decode(raw_rec, f"{what}: record {i}") for i, raw_rec in enumerate(r.vec_list())
        )
        r.end()
        return cls(core, signature, records)

    def digest(self) -> bytes:
        return item_digest(self.core)


# ---------------------------------------------------------------- standalone signed objects


@dataclass(frozen=True, slots=True)
class SignedObject:
    """A signed JSON object: a consent token (``GSMC``, canonical JSON body and the originator's
    signature), a diplomatic note (``GSMA``) or its receipt (``GSMK``, ``gsomia.seal.notes``):
    ``magic ‖ version ‖ vec(body) ‖ vec(batch signature)``."""

    magic: bytes
    body: bytes
    signature: BatchSignature

    def digest(self) -> bytes:
        return consent_digest(self.body)

    def encode(self) -> bytes:
        return b"".join(
            (self.magic, wire.u8(VERSION), wire.vec(self.body), wire.vec(self.signature.encode()))
        )

    @classmethod
    def decode(cls, raw: bytes, what: str, magic: bytes = CONSENT_MAGIC) -> SignedObject:
        r = wire.Reader(raw, what)
        if r.fixed(4) != magic:
            raise BadInput(f"{what}: not a gsomia {what}")
        version = r.u8()
        if version != VERSION:
            raise BadInput(f"{what}: unsupported version {version}")
        body = r.vec()
        signature = BatchSignature.decode(r.vec(), f"{what}: signature")
        r.end()
        return cls(magic, body, signature)


def consent_digest(body: bytes) -> bytes:
    return hashlib.sha256(CONSENT_DOMAIN + body).digest()


def record_digest(kind: int, body: bytes, wrap: bytes, consent: bytes) -> bytes:
    part = b"".join((wire.u8(kind), wire.vec(body), wire.vec(wrap), wire.vec(consent)))
    return hashlib.sha256(RECORD_DOMAIN + part).digest()
