"""Proof documents: how inclusion and consistency proofs travel between nodes (JSON, v1).

``{"v": 1, "type": "inclusion", "origin", "index", "size", "leaf_hash", "root", "path"}`` and
``{"v": 1, "type": "consistency", "origin", "old_size", "new_size", "path"}``; hashes are
standard base64 of 32 bytes, ``path`` is ordered as RFC 9162 builds it (leaf side first).
A ``root`` inside a document is informative only: a verifier checks against a root it trusts
(from a verified checkpoint), never against the one the prover sent.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from gsomia.errors import BadInput
from gsomia.ledger.hashing import HASH_LEN
from gsomia.ledger.verify import MAX_PATH

PROOF_VERSION = 1


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _hash(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise BadInput(f"{where}: expected base64 text, got {type(value).__name__}")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadInput(f"{where}: not standard base64") from exc
    if len(raw) != HASH_LEN:
        raise BadInput(f"{where}: {len(raw)} bytes, not a {HASH_LEN}-byte hash")
    return raw


def _count(doc: dict[str, Any], name: str, where: str) -> int:
    value = doc.get(name)
    if type(value) is not int or value < 0 or value >= 2**63:
        raise BadInput(f"{where}.{name}: expected a non-negative integer, got {value!r}")
    return value


def _path(doc: dict[str, Any], where: str) -> tuple[bytes, ...]:
    value = doc.get("path")
    if not isinstance(value, list) or len(value) > MAX_PATH:
        raise BadInput(f"{where}.path: expected a list of at most {MAX_PATH} hashes")
    return tuple(_hash(h, f"{where}.path[{i}]") for i, h in enumerate(value))


def _header(doc: Any, kind: str, fields: set[str], where: str) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise BadInput(f"{where}: expected a JSON object")
    if doc.get("v") != PROOF_VERSION or type(doc.get("v")) is not int:
        raise BadInput(f"{where}.v: expected {PROOF_VERSION}, got {doc.get('v')!r}")
    if doc.get("type") != kind:
        raise BadInput(f"{where}.type: expected {kind!r}, got {doc.get('type')!r}")
    unknown = sorted(set(doc) - fields - {"v", "type"})
    if unknown:
        raise BadInput(f"{where}.{unknown[0]}: unknown field")
    origin = doc.get("origin")
    if not isinstance(origin, str) or not origin:
        raise BadInput(f"{where}.origin: expected the log's origin, got {origin!r}")
    return doc


@dataclass(frozen=True)
class InclusionProof:
    origin: str
    index: int
    size: int
    leaf_hash: bytes
    root: bytes
    path: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "v": PROOF_VERSION,
            "type": "inclusion",
            "origin": self.origin,
            "index": self.index,
            "size": self.size,
            "leaf_hash": b64(self.leaf_hash),
            "root": b64(self.root),
            "path": [b64(h) for h in self.path],
        }

    @classmethod
    def from_json(cls, doc: Any, *, where: str = "inclusion proof") -> InclusionProof:
        fields = {"origin", "index", "size", "leaf_hash", "root", "path"}
        d = _header(doc, "inclusion", fields, where)
        return cls(
            origin=d["origin"],
            index=_count(d, "index", where),
            size=_count(d, "size", where),
            leaf_hash=_hash(d.get("leaf_hash"), f"{where}.leaf_hash"),
            root=_hash(d.get("root"), f"{where}.root"),
            path=_path(d, where),
        )


@dataclass(frozen=True)
class ConsistencyProof:
    origin: str
    old_size: int
    new_size: int
    path: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "v": PROOF_VERSION,
            "type": "consistency",
            "origin": self.origin,
            "old_size": self.old_size,
            "new_size": self.new_size,
            "path": [b64(h) for h in self.path],
        }

    @classmethod
    def from_json(cls, doc: Any, *, where: str = "consistency proof") -> ConsistencyProof:
        d = _header(doc, "consistency", {"origin", "old_size", "new_size", "path"}, where)
        proof = cls(
            origin=d["origin"],
            old_size=_count(d, "old_size", where),
            new_size=_count(d, "new_size", where),
            path=_path(d, where),
        )
        if proof.old_size > proof.new_size:
            raise BadInput(f"{where}: old_size {proof.old_size} exceeds new_size {proof.new_size}")
        return proof
