"""RFC 9162 Merkle trees: the hash of leaves and nodes, and the inclusion-path verifier.

One copy for every tree in gsomia: the transparency log (``gsomia.ledger``) and the batch
signatures of sealed items (``gsomia.seal.batch``). Leaf hash ``SHA-256(0x00 || d)``, node
hash ``SHA-256(0x01 || left || right)`` (RFC 9162 §2.1.1); ``inclusion_root`` is the iterative
algorithm of §2.1.3.2. Provers (``gsomia.ledger.tree``, ``gsomia.seal.merkle``) use only the
hash functions from here, so a verifier never shares a line of proof logic with its prover.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from gsomia.errors import VerificationFailed

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


def inclusion_root(
    leaf_hash: bytes, index: int, size: int, path: Sequence[bytes], *, what: str
) -> bytes:
    """The root that ``path`` implies for the leaf at ``index`` of a tree of ``size`` leaves.

    RFC 9162 §2.1.3.2, steps 1-6 (the caller compares the result with a root it trusts).
    Raises ``VerificationFailed`` naming ``what`` if the index or the path cannot be right.
    """
    if index < 0 or index >= size:
        raise VerificationFailed(f"{what}: the index is not below the tree size")
    fn = index
    sn = size - 1
    r = leaf_hash
    for p in path:
        if len(p) != HASH_LEN:
            raise VerificationFailed(f"{what}: a hash of {len(p)} bytes, not {HASH_LEN}")
        if sn == 0:
            raise VerificationFailed(f"{what}: the path is too long")
        if fn & 1 or fn == sn:
            r = hash_children(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = hash_children(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationFailed(f"{what}: the path is too short")
    return r
