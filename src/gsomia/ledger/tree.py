"""The prover: tree heads, inclusion and consistency proofs from stored subtree hashes.

The tree is stored as its *perfect* subtrees: node (level, index) is MTH of the 2**level entries
starting at index * 2**level; level 0 holds the leaf hashes. A perfect node, once complete,
never changes, so an append only adds nodes. Every node of the RFC 9162 tree of size n is
either perfect or lies on the right edge, and a right-edge node [a, n) is the fold of the
perfect subtrees that cover it (the binary decomposition of n - a). A proof therefore needs at
most 2·log2(n) stored hashes, fetched in one read; nothing is recomputed from the leaves.

The proof shapes follow the recursive definitions of RFC 9162 §2.1.3.1 (PATH) and §2.1.4.1
(SUBPROOF). The verifier (``gsomia.ledger.verify``) uses the RFC's iterative algorithms
instead and shares nothing with this module but ``gsomia.ledger.hashing``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gsomia.errors import BadInput
from gsomia.ledger.hashing import EMPTY_ROOT, hash_children

#: (level, index) of a perfect subtree.
NodeKey = tuple[int, int]
#: Reads stored perfect-subtree hashes, in the order of the keys asked for.
NodeReader = Callable[[Sequence[NodeKey]], list[bytes]]
#: A half-open range of leaf indices [start, end) — one node of the RFC 9162 tree.
Span = tuple[int, int]


def split_point(width: int) -> int:
    """The largest power of two smaller than ``width`` (RFC 9162's k); width > 1."""
    return 1 << ((width - 1).bit_length() - 1)


def perfect_cover(start: int, end: int) -> list[NodeKey]:
    """The perfect subtrees covering [start, end), largest first.

    For any node of the tree this is exact: its start is aligned to each piece.
    """
    width = end - start
    if width & (width - 1) == 0 and start & (width - 1) == 0 and width:
        level = width.bit_length() - 1
        return [(level, start >> level)]  # the common case: one perfect node
    keys: list[NodeKey] = []
    while start < end:
        level = (end - start).bit_length() - 1
        width = 1 << level
        if start & (width - 1):
            msg = f"span [{start}, {end}) is not a node of an RFC 9162 tree"
            raise ValueError(msg)
        keys.append((level, start >> level))
        start += width
    return keys


def peaks(size: int) -> list[NodeKey]:
    """The perfect subtrees whose fold is the root of the tree of ``size`` leaves."""
    return perfect_cover(0, size)


def fold(hashes: Sequence[bytes]) -> bytes:
    """Combine perfect subtrees (largest first) into the hash of the span they cover."""
    if len(hashes) == 1:
        return hashes[0]
    acc = hashes[-1]
    for left in reversed(hashes[:-1]):
        acc = hash_children(left, acc)
    return acc


def inclusion_spans(index: int, size: int) -> list[Span]:
    """PATH(index, D[size]) as spans, leaf-side first (RFC 9162 §2.1.3.1)."""
    spans: list[Span] = []
    lo, hi = 0, size
    while hi - lo > 1:
        mid = lo + split_point(hi - lo)
        if index < mid:
            spans.append((mid, hi))
            hi = mid
        else:
            spans.append((lo, mid))
            lo = mid
    spans.reverse()
    return spans


def consistency_spans(old: int, new: int) -> list[Span]:
    """PROOF(old, D[new]) = SUBPROOF(old, D[new], true) as spans (RFC 9162 §2.1.4.1)."""
    if old in (0, new):
        return []
    spans: list[Span] = []
    lo, hi = 0, new
    whole = True
    while old != hi:
        mid = lo + split_point(hi - lo)
        if old <= mid:
            spans.append((mid, hi))
            hi = mid
        else:
            spans.append((lo, mid))
            lo = mid
            whole = False
    if not whole:
        spans.append((lo, hi))
    spans.reverse()
    return spans


def span_hashes(spans: Sequence[Span], read: NodeReader) -> list[bytes]:
    """The hash of each span, fetching every stored node it needs in one read."""
    covers = [perfect_cover(a, b) for a, b in spans]
    wanted = sorted({key for cover in covers for key in cover})
    found = dict(zip(wanted, read(wanted), strict=True))
    return [fold([found[key] for key in cover]) for cover in covers]


def root_hash(size: int, read: NodeReader) -> bytes:
    """MTH(D[size]); the empty tree's root is SHA-256 of the empty string."""
    if size == 0:
        return EMPTY_ROOT
    return fold(read(peaks(size)))


def inclusion_bundle(index: int, size: int, read: NodeReader) -> tuple[bytes, bytes, list[bytes]]:
    """(leaf hash, root, PATH) of entry ``index`` in the tree of ``size``, from one read."""
    if not 0 <= index < size:
        raise BadInput(f"index {index} is not below tree size {size}")
    covers = [perfect_cover(a, b) for a, b in inclusion_spans(index, size)]
    root_keys = peaks(size)
    wanted = sorted({(0, index), *root_keys, *(key for cover in covers for key in cover)})
    found = dict(zip(wanted, read(wanted), strict=True))
    root = fold([found[key] for key in root_keys])
    return found[(0, index)], root, [fold([found[key] for key in cover]) for cover in covers]


def inclusion_path(index: int, size: int, read: NodeReader) -> list[bytes]:
    if not 0 <= index < size:
        raise BadInput(f"index {index} is not below tree size {size}")
    return span_hashes(inclusion_spans(index, size), read)


def consistency_path(old: int, new: int, read: NodeReader) -> list[bytes]:
    if not 0 <= old <= new:
        raise BadInput(f"consistency needs 0 <= old size <= new size, got {old} and {new}")
    return span_hashes(consistency_spans(old, new), read)


def inorder(key: NodeKey) -> int:
    """The node's position in an in-order walk of the complete tree (leaf i is at 2i).

    Unique per perfect node and independent of the tree size, so it can serve as a stored key.
    """
    level, index = key
    return (index << (level + 1)) + (1 << level) - 1


def from_inorder(position: int) -> NodeKey:
    level = ((position + 1) & -(position + 1)).bit_length() - 1
    return level, position >> (level + 1)


def describe(key: NodeKey) -> str:
    start, end = node_span(key)
    if key[0] == 0:
        return f"leaf hash of entry {start}"
    return f"node (level {key[0]}, index {key[1]}) over entries {start}..{end - 1}"


def node_span(key: NodeKey) -> Span:
    level, index = key
    return index << level, (index + 1) << level


class Frontier:
    """The peaks of a growing tree: folds each new leaf into the perfect nodes it completes."""

    def __init__(self, size: int, peak_hashes: Sequence[bytes]) -> None:
        keys = peaks(size)
        if len(keys) != len(peak_hashes):
            msg = f"{len(peak_hashes)} peak hashes for a tree of size {size}"
            raise ValueError(msg)
        self.size = size
        self._stack: list[tuple[int, bytes]] = [
            (level, h) for (level, _), h in zip(keys, peak_hashes, strict=True)
        ]

    def push(self, leaf_hash: bytes, completed: list[tuple[NodeKey, bytes]]) -> None:
        """Add the next leaf; append every interior node it completes to ``completed``."""
        stack = self._stack
        index = self.size
        acc = leaf_hash
        level = 0
        while stack and stack[-1][0] == level:
            acc = hash_children(stack.pop()[1], acc)
            level += 1
            index >>= 1
            completed.append(((level, index), acc))
        stack.append((level, acc))
        self.size += 1

    def peak_hashes(self) -> list[bytes]:
        """The hashes of the tree's peaks, largest first (what ``Frontier(size, …)`` takes)."""
        return [h for _, h in self._stack]

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        return fold([h for _, h in self._stack])
