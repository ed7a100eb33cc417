"""RFC 9162 §2.1.1 hashing: SHA-256 with domain-separated leaf and interior nodes.

This is the only code the prover and the verifier share.
"""

from __future__ import annotations

import hashlib

HASH_LEN = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"

_sha256 = hashlib.sha256

#: MTH({}) — the hash of an empty tree is the hash of the empty string.
EMPTY_ROOT = _sha256(b"").digest()


def hash_leaf(entry: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d)."""
    return _sha256(LEAF_PREFIX + entry).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    """MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))."""
    return _sha256(NODE_PREFIX + left + right).digest()
