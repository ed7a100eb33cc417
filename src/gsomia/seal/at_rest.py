"""Encryption at rest of a node's stored content, under the data keys of its key ring.

A sealed value is ``version (1 byte, 0x01) || key id (8 bytes) || nonce (12) || AES-256-GCM
ciphertext and tag``. The key is the data key of the key-ring generation named by the key id
(``KeyGeneration.data_key``): new values are sealed under the current generation, and a value
sealed under an older one still opens after a rotation (rotation does not re-encrypt). The
associated data is a domain string, the 9-byte header and the value's *place* — the caller's
unambiguous encoding of where the value lives (table, column, row key) — so a value copied to
another row, column or table does not open. Every failure is the same ``VerificationFailed``.

Per-item keys (crypto-shredding, DOMAIN.md §7.5). An item's content (its STIX object's body,
its sealed bytes) is sealed under a key of its own: 256 random bits (``new_item_key``), kept
wrapped under the ring's data key in a row of its own, so that erasing that one row makes every
copy of the item's ciphertext unreadable, wherever a copy lingers (a free page, a backup, a
write-ahead file). Such a value is ``version (1 byte, 0x02) || nonce (12) || AES-256-GCM
ciphertext and tag``, its associated data a domain string of its own, the 1-byte header and
its place, as above.
"""

from __future__ import annotations

from gsomia import primitives
from gsomia.errors import VerificationFailed
from gsomia.seal.keys import KeyRing

FORMAT_V1 = 0x01
KEY_ID_LEN = 8
_HEADER_LEN = 1 + KEY_ID_LEN
_MIN_LEN = _HEADER_LEN + primitives.GCM_NONCE_LEN + primitives.GCM_TAG_LEN
_AAD_DOMAIN = b"gsomia/at-rest/v1\x00"
ITEM_FORMAT_V1 = 0x02
ITEM_KEY_LEN = primitives.AES256_KEY_LEN
_ITEM_MIN_LEN = 1 + primitives.GCM_NONCE_LEN + primitives.GCM_TAG_LEN
_ITEM_AAD_DOMAIN = b"gsomia/at-rest/item/v1\x00"


def new_item_key() -> bytes:
    """A fresh per-item key: 256 random bits."""
    return primitives.random_bytes(ITEM_KEY_LEN)


def is_item_sealed(value: bytes) -> bool:
    """Whether a stored value is sealed under a per-item key (its format byte says so)."""
    return len(value) > 0 and value[0] == ITEM_FORMAT_V1


def seal_item_value(key: bytes, plaintext: bytes, place: bytes) -> bytes:
    """``plaintext`` sealed under the per-item ``key``, bound to ``place``."""
    header = bytes([ITEM_FORMAT_V1])
    nonce = primitives.random_bytes(primitives.GCM_NONCE_LEN)
    sealed = primitives.Aead(key).encrypt(nonce, plaintext, _ITEM_AAD_DOMAIN + header + place)
    return header + nonce + sealed


def open_item_value(key: bytes, value: bytes, place: bytes) -> bytes:
    """A value sealed by ``seal_item_value`` under ``key`` at ``place``; VerificationFailed
    for anything else."""
    if len(value) < _ITEM_MIN_LEN or value[0] != ITEM_FORMAT_V1:
        raise VerificationFailed("at rest: not a value sealed under an item key")
    nonce = value[1 : 1 + primitives.GCM_NONCE_LEN]
    return primitives.Aead(key).decrypt(
        nonce, value[1 + primitives.GCM_NONCE_LEN :], _ITEM_AAD_DOMAIN + value[:1] + place
    )


class KeyRingCipher:
    """Seals and opens stored values under the data keys of ``ring``'s generations."""

    def __init__(self, ring: KeyRing) -> None:
        if not ring.generations:
            raise VerificationFailed("at rest: a key ring without keys")
        self._ring = ring
        self._aeads: dict[str, primitives.Aead] = {}

    def _aead(self, key_id: str) -> primitives.Aead:
        aead = self._aeads.get(key_id)
        if aead is None:
            aead = primitives.Aead(self._ring.generation(key_id).data_key)
            self._aeads[key_id] = aead
        return aead

    def seal(self, plaintext: bytes, place: bytes) -> bytes:
        key_id = self._ring.current.key_id  # follows a rotation of the ring
        header = bytes([FORMAT_V1]) + bytes.fromhex(key_id)
        nonce = primitives.random_bytes(primitives.GCM_NONCE_LEN)
        sealed = self._aead(key_id).encrypt(nonce, plaintext, _AAD_DOMAIN + header + place)
        return header + nonce + sealed

    def open(self, value: bytes, place: bytes) -> bytes:
        if len(value) < _MIN_LEN or value[0] != FORMAT_V1:
            raise VerificationFailed("at rest: not a sealed value of a known format")
        header = value[:_HEADER_LEN]
        nonce = value[_HEADER_LEN : _HEADER_LEN + primitives.GCM_NONCE_LEN]
        try:
            aead = self._aead(header[1:].hex())
        except VerificationFailed as exc:
            raise VerificationFailed("at rest: sealed under a key this ring does not hold") from exc
        return aead.decrypt(
            nonce, value[_HEADER_LEN + primitives.GCM_NONCE_LEN :], _AAD_DOMAIN + header + place
        )
