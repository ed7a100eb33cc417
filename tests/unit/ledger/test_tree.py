"""The prover and the verifier against RFC 6962 vectors, the naive reference, and each other."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gsomia.errors import BadInput, VerificationFailed
from gsomia.ledger.hashing import EMPTY_ROOT, hash_leaf
from gsomia.ledger.tree import (
    Frontier,
    NodeKey,
    consistency_path,
    from_inorder,
    inclusion_bundle,
    inclusion_path,
    inorder,
    root_hash,
)
from gsomia.ledger.verify import verify_consistency, verify_inclusion
from tests.unit.ledger import reference

VECTORS = Path(__file__).parents[2] / "vectors" / "ledger"
MAX = 257


def _flip(h: bytes, i: int = 0) -> bytes:
    return h[:i] + bytes([h[i] ^ 1]) + h[i + 1 :]


def _rejects(check: Callable[..., None], *args: object) -> None:
    """Like pytest.raises(VerificationFailed), without its cost in loops of 10^5 checks."""
    try:
        check(*args)
    except VerificationFailed:
        return
    pytest.fail(f"{check.__name__}{args!r} accepted a wrong proof")


class Reads:
    """A node reader over perfect subtrees that counts the hashes it hands out."""

    def __init__(self, nodes: dict[NodeKey, bytes]) -> None:
        self.nodes = nodes
        self.count = 0
        self.calls = 0

    def __call__(self, keys: Sequence[NodeKey]) -> list[bytes]:
        self.calls += 1
        self.count += len(keys)
        return [self.nodes[k] for k in keys]


LEAVES = [i.to_bytes(2, "big") * (i % 3) for i in range(MAX)]
REF = reference.Reference(LEAVES)
NODES = reference.perfect_nodes(LEAVES)
ROOTS = [REF.mth(0, n) for n in range(MAX + 1)]


def test_rfc6962_vectors() -> None:
    vec = orjson.loads((VECTORS / "rfc6962.json").read_bytes())
    leaves = [bytes.fromhex(x) for x in vec["leaves"]]
    read = Reads(reference.perfect_nodes(leaves))
    for size, root in vec["roots"].items():
        assert root_hash(int(size), read).hex() == root
        assert reference.mth(leaves[: int(size)]).hex() == root
    for case in vec["inclusion"]:
        i, n, want = case["index"], case["size"], case["path"]
        assert [h.hex() for h in inclusion_path(i, n, read)] == want
        verify_inclusion(
            hash_leaf(leaves[i]), i, n, [bytes.fromhex(h) for h in want], ROOTS_OF(leaves, n)
        )
    for case in vec["consistency"]:
        m, n, want = case["old"], case["new"], case["path"]
        assert [h.hex() for h in consistency_path(m, n, read)] == want
        verify_consistency(
            m, n, ROOTS_OF(leaves, m), ROOTS_OF(leaves, n), [bytes.fromhex(h) for h in want]
        )


def ROOTS_OF(leaves: list[bytes], n: int) -> bytes:
    return reference.mth(leaves[:n])


def test_frontier_stores_exactly_the_perfect_subtrees() -> None:
    frontier = Frontier(0, [])
    made: dict[NodeKey, bytes] = {}
    for i, leaf in enumerate(LEAVES):
        h = hash_leaf(leaf)
        made[(0, i)] = h
        completed: list[tuple[NodeKey, bytes]] = []
        frontier.push(h, completed)
        made.update(completed)
        assert frontier.root() == ROOTS[i + 1]
    assert made == NODES
    assert Frontier(0, []).root() == EMPTY_ROOT


def test_frontier_resumes_from_stored_peaks() -> None:
    read = Reads(NODES)
    for size in range(MAX):
        from gsomia.ledger.tree import peaks

        frontier = Frontier(size, read(peaks(size)))
        frontier.push(NODES[(0, size)], [])
        assert frontier.root() == ROOTS[size + 1]


def test_inorder_positions_are_unique_and_invertible() -> None:
    positions = {inorder(k) for k in NODES}
    assert len(positions) == len(NODES)
    assert all(from_inorder(inorder(k)) == k for k in NODES)


def test_every_inclusion_proof_up_to_257_leaves() -> None:
    read = Reads(NODES)
    for n in range(1, MAX + 1):
        root = ROOTS[n]
        for i in range(n):
            read.calls = 0
            leaf, got_root, path = inclusion_bundle(i, n, read)
            assert read.calls == 1
            assert got_root == root
            assert path == REF.path(i, 0, n)
            verify_inclusion(leaf, i, n, path, root)
            _inclusion_mutants_fail(leaf, i, n, path, root)


def _inclusion_mutants_fail(leaf: bytes, i: int, n: int, path: list[bytes], root: bytes) -> None:
    for wrong in (i - 1, i + 1, n):
        if wrong != i:
            _rejects(verify_inclusion, leaf, wrong, n, path, root)
    for wrong_size in (n - 1, n + 1, 2 * n):
        if i < wrong_size <= MAX and wrong_size != n:
            # A size travels with its root (a checkpoint signs both): the same path cannot
            # prove the entry in the tree of another size. The size alone only shapes the
            # path; two sizes with one shape are told apart by their roots.
            _rejects(verify_inclusion, leaf, i, wrong_size, path, ROOTS[wrong_size])
    _rejects(verify_inclusion, leaf, i, n, path, _flip(root))
    _rejects(verify_inclusion, _flip(leaf), i, n, path, root)
    for k in range(len(path)):
        bad = [*path[:k], _flip(path[k], k % 32), *path[k + 1 :]]
        _rejects(verify_inclusion, leaf, i, n, bad, root)
    _rejects(verify_inclusion, leaf, i, n, [*path, root], root)
    if path:
        _rejects(verify_inclusion, leaf, i, n, path[:-1], root)


def test_every_consistency_proof_up_to_257_leaves() -> None:
    read = Reads(NODES)
    for n in range(MAX + 1):
        for m in range(n + 1):
            read.calls = 0
            path = consistency_path(m, n, read)
            assert read.calls == 1
            assert path == REF.proof(m, n)
            verify_consistency(m, n, ROOTS[m], ROOTS[n], path)
            _consistency_mutants_fail(m, n, path)


def _consistency_mutants_fail(m: int, n: int, path: list[bytes]) -> None:
    if m == 0:
        _rejects(verify_consistency, m, n, ROOTS[m], ROOTS[n], [EMPTY_ROOT])
        return
    _rejects(verify_consistency, m, n, _flip(ROOTS[m]), ROOTS[n], path)
    _rejects(verify_consistency, m, n, ROOTS[m], _flip(ROOTS[n]), path)
    for k in range(len(path)):
        bad = [*path[:k], _flip(path[k], k % 32), *path[k + 1 :]]
        _rejects(verify_consistency, m, n, ROOTS[m], ROOTS[n], bad)
    for wrong_old in (m - 1, m + 1):
        if 0 < wrong_old < n and wrong_old != m:
            _rejects(verify_consistency, wrong_old, n, ROOTS[wrong_old], ROOTS[n], path)
    for wrong_new in (n - 1, n + 1):
        if m < wrong_new <= MAX and wrong_new != n:
            _rejects(verify_consistency, m, wrong_new, ROOTS[m], ROOTS[wrong_new], path)
    _rejects(verify_consistency, m, n, ROOTS[m], ROOTS[n], [*path, ROOTS[n]])
    if path:
        _rejects(verify_consistency, m, n, ROOTS[m], ROOTS[n], path[:-1])


def test_consistency_rejects_an_old_size_beyond_the_new() -> None:
    with pytest.raises(VerificationFailed, match="the old size exceeds the new size"):
        verify_consistency(5, 4, ROOTS[5], ROOTS[4], [])


def test_prover_rejects_impossible_requests() -> None:
    read = Reads(NODES)
    with pytest.raises(BadInput, match="index 5 is not below tree size 5"):
        inclusion_path(5, 5, read)
    with pytest.raises(BadInput, match="old size <= new size, got 6 and 5"):
        consistency_path(6, 5, read)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=1 << 40), st.data())
def test_reads_grow_with_log_n_only(size: int, data: st.DataObject) -> None:
    """Any proof in any tree needs at most 2·log2(size)+2 stored hashes, in one read."""
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    old = data.draw(st.integers(min_value=0, max_value=size))

    class Fake:
        count = 0

        def __call__(self, keys: Sequence[NodeKey]) -> list[bytes]:
            self.count += len(keys)
            return [hash_leaf(repr(k).encode()) for k in keys]

    bound = 2 * size.bit_length() + 2
    fake = Fake()
    inclusion_bundle(index, size, fake)
    assert fake.count <= bound
    fake = Fake()
    consistency_path(old, size, fake)
    assert fake.count <= bound


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.binary(max_size=8), min_size=1, max_size=40),
    st.data(),
)
def test_random_trees_prove_and_verify(leaves: list[bytes], data: st.DataObject) -> None:
    n = len(leaves)
    read = Reads(reference.perfect_nodes(leaves))
    i = data.draw(st.integers(min_value=0, max_value=n - 1))
    m = data.draw(st.integers(min_value=0, max_value=n))
    leaf, root, path = inclusion_bundle(i, n, read)
    assert root == reference.mth(leaves)
    verify_inclusion(leaf, i, n, path, root)
    verify_consistency(m, n, reference.mth(leaves[:m]), root, consistency_path(m, n, read))
