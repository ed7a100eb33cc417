"""RFC 9162 §2.1.1 hashing for the log: SHA-256 with domain-separated leaf and interior nodes.

This is the only code the log's prover and its verifier share. It lives in ``gsomia.merkle``,
one copy for the log and for the batch signatures of sealed items; the names stay here so
that the log's modules say what they use.
"""

from __future__ import annotations

from gsomia.merkle import EMPTY_ROOT, HASH_LEN, LEAF_PREFIX, NODE_PREFIX, hash_children, hash_leaf

__all__ = ["EMPTY_ROOT", "HASH_LEN", "LEAF_PREFIX", "NODE_PREFIX", "hash_children", "hash_leaf"]
