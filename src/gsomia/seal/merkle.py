"""Merkle trees over a batch of digests (RFC 9162 §2.1 hashing), for batch signatures.

Leaf hash ``SHA-256(0x00 || d)``, node hash ``SHA-256(0x01 || left || right)``; the tree over
``n`` leaves splits at the largest power of two smaller than ``n``. Inclusion paths and their
verification follow RFC 9162 §2.1.3.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from gsomia.errors import VerificationFailed

_LEAF = b"\x00"
_NODE = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(_LEAF + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE + left + right).digest()


def _split(n: int) -> int:
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def root_and_paths(leaves: Sequence[bytes]) -> tuple[bytes, list[list[bytes]]]:
    """The root over the leaf hashes of ``leaves`` and the inclusion path of every leaf."""
    if not leaves:
        raise ValueError("a Merkle tree needs at least one leaf")
    hashes = [leaf_hash(d) for d in leaves]
    paths: list[list[bytes]] = [[] for _ in hashes]
    return _build(hashes, paths, 0), paths


def _build(hashes: list[bytes], paths: list[list[bytes]], offset: int) -> bytes:
    n = len(hashes)
    if n == 1:
        return hashes[0]
    k = _split(n)
    left = _build(hashes[:k], paths, offset)
    right = _build(hashes[k:], paths, offset + k)
    for i in range(offset, offset + k):
        paths[i].append(right)
    for i in range(offset + k, offset + n):
        paths[i].append(left)
    return node_hash(left, right)


def root_from_path(leaf: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes:
    """The root implied by an inclusion path (RFC 9162 §2.1.3.2); raises if malformed."""
    if not 0 <= index < size:
        raise VerificationFailed("inclusion path: index out of range")
    fn, sn = index, size - 1
    r = leaf_hash(leaf)
    for p in path:
        if len(p) != 32 or sn == 0:
            raise VerificationFailed("inclusion path: malformed")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationFailed("inclusion path: wrong length")
    return r
