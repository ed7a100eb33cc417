"""The verifier: RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency), step by step.

Written from the RFC's iterative algorithms, independently of the prover in
``gsomia.ledger.tree``; the two share only the hash functions (``gsomia.ledger.hashing``).
The inclusion algorithm is ``gsomia.merkle.inclusion_root``, the one the batch signatures of
sealed items use too. Every check raises ``VerificationFailed``; none returns a bool.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from gsomia.errors import VerificationFailed
from gsomia.ledger.hashing import HASH_LEN, hash_children
from gsomia.merkle import inclusion_root

MAX_PATH = 64


def _inclusion_failed(index: int, size: int, reason: str) -> VerificationFailed:
    return VerificationFailed(f"inclusion proof of entry {index} in tree size {size}: {reason}")


def _consistency_failed(old: int, new: int, reason: str) -> VerificationFailed:
    return VerificationFailed(f"consistency proof from size {old} to size {new}: {reason}")


def _check_hashes(path: Sequence[bytes], what: str) -> None:
    if len(path) > MAX_PATH:
        raise VerificationFailed(f"{what}: {len(path)} hashes is longer than any valid proof")
    for i, h in enumerate(path):
        if len(h) != HASH_LEN:
            raise VerificationFailed(f"{what}: hash {i} is {len(h)} bytes, not {HASH_LEN}")


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, path: Sequence[bytes], root: bytes
) -> None:
    """Raise unless ``path`` proves the leaf at ``index`` is in the tree (``size``, ``root``)."""
    what = f"inclusion proof of entry {index} in tree size {size}"
    if len(path) > MAX_PATH or any(len(h) != HASH_LEN for h in path):
        _check_hashes(path, what)
    if not hmac.compare_digest(inclusion_root(leaf_hash, index, size, path, what=what), root):
        raise _inclusion_failed(index, size, "the computed root does not match")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, path: Sequence[bytes]
) -> None:
    """Raise unless ``path`` proves the tree (old_size, old_root) is a prefix of the new one."""
    if len(path) > MAX_PATH or any(len(h) != HASH_LEN for h in path):
        _check_hashes(path, f"consistency proof from size {old_size} to size {new_size}")
    if old_size < 0 or old_size > new_size:
        raise _consistency_failed(old_size, new_size, "the old size exceeds the new size")
    if old_size in (0, new_size):
        _verify_trivial_consistency(old_size, new_size, old_root, new_root, path)
        return
    if not path:
        raise _consistency_failed(old_size, new_size, "the proof is empty")
    fr, sr = _consistency_roots(old_size, new_size, old_root, path)
    if not hmac.compare_digest(fr, old_root):
        raise _consistency_failed(old_size, new_size, "the old root does not match")
    if not hmac.compare_digest(sr, new_root):
        raise _consistency_failed(old_size, new_size, "the new root does not match")


def _verify_trivial_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, path: Sequence[bytes]
) -> None:
    """Between equal sizes the proof is empty and the roots equal; from size 0, it is empty."""
    if old_size == new_size:
        if path:
            raise _consistency_failed(old_size, new_size, "a proof between equal sizes is empty")
        if not hmac.compare_digest(old_root, new_root):
            raise _consistency_failed(old_size, new_size, "two different roots for one size")
    elif path:
        raise _consistency_failed(old_size, new_size, "a proof from the empty tree is empty")


def _consistency_roots(
    old_size: int, new_size: int, old_root: bytes, path: Sequence[bytes]
) -> tuple[bytes, bytes]:
    """The old and the new root the proof implies (RFC 9162 §2.1.4.2, steps 1-7)."""
    nodes = list(path)
    if old_size & (old_size - 1) == 0:
        nodes.insert(0, old_root)
    fn = old_size - 1
    sn = new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = nodes[0]
    sr = nodes[0]
    for c in nodes[1:]:
        if sn == 0:
            raise _consistency_failed(old_size, new_size, "the path is too long")
        if fn & 1 or fn == sn:
            fr = hash_children(c, fr)
            sr = hash_children(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = hash_children(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise _consistency_failed(old_size, new_size, "the path is too short")
    return fr, sr
