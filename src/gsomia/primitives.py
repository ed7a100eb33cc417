"""The only module that imports ``cryptography.hazmat``.

Everything else in gsomia calls the small recipes here, which take and return bytes and raise
``VerificationFailed`` rather than returning a bool that a caller could ignore.
"""

from __future__ import annotations

import hashlib
import os

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from gsomia.errors import VerificationFailed

ED25519_PUBLIC_LEN = 32
ED25519_SEED_LEN = 32
ED25519_SIG_LEN = 64


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def random_bytes(n: int) -> bytes:
    return os.urandom(n)


def ed25519_generate() -> tuple[bytes, bytes]:
    """A fresh Ed25519 key pair as (32-byte private seed, 32-byte public key)."""
    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes_raw(), key.public_key().public_bytes_raw()


def ed25519_public(seed: bytes) -> bytes:
    return ed25519.Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()


def ed25519_sign(seed: bytes, message: bytes) -> bytes:
    return ed25519.Ed25519PrivateKey.from_private_bytes(seed).sign(message)


def ed25519_verify(public: bytes, signature: bytes, message: bytes) -> None:
    """Raise ``VerificationFailed`` unless ``signature`` is valid for ``message``."""
    if len(public) != ED25519_PUBLIC_LEN or len(signature) != ED25519_SIG_LEN:
        raise VerificationFailed("ed25519: malformed key or signature")
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError) as exc:
        raise VerificationFailed("ed25519: signature does not verify") from exc
