"""Merkle trees over a batch of digests, for batch signatures (RFC 9162 §2.1).

The hashes and the inclusion-path verifier are ``gsomia.merkle``'s, the same as the log's;
this module adds the batch prover: the root over ``n`` digests, split at the largest power of
two smaller than ``n``, and the inclusion path of every digest, built in one pass.
"""

from __future__ import annotations

from collections.abc import Sequence

from gsomia.merkle import hash_children, hash_leaf, inclusion_root


def _split(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def root_and_paths(leaves: Sequence[bytes]) -> tuple[bytes, list[list[bytes]]]:
    """The root over the leaf hashes of ``leaves`` and the inclusion path of every leaf."""
    if not leaves:
        raise ValueError("a Merkle tree needs at least one leaf")
    hashes = [hash_leaf(d) for d in leaves]
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
    return hash_children(left, right)


def root_from_path(leaf: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes:
    """The root implied by the inclusion path of ``leaf`` (a digest, not yet hashed)."""
    return inclusion_root(hash_leaf(leaf), index, size, path, what="inclusion path")
