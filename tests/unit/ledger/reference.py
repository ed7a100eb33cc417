"""A naive reference of RFC 9162 §2.1, written from the recursive definitions over whole leaf
lists (nothing stored, everything recomputed). Tests check the stored-hash prover and the
iterative verifier against it; ``python -m tests.unit.ledger.reference`` writes the gsomia
vectors file ``tests/vectors/ledger/gsomia-v1.json`` from it.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

import orjson

VECTORS = Path(__file__).parents[2] / "vectors" / "ledger"


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


class Reference:
    """MTH, PATH and PROOF of RFC 9162 §2.1 over one leaf list, recursively, by definition.

    Subtree hashes are memoized by span only to keep the exhaustive tests fast; every value
    is still computed from the leaves by the recursive definition.
    """

    def __init__(self, leaves: list[bytes]) -> None:
        self.leaves = leaves
        self._mth: dict[tuple[int, int], bytes] = {}

    @staticmethod
    def _k(n: int) -> int:
        k = 1
        while k * 2 < n:
            k *= 2
        return k

    def mth(self, a: int, b: int) -> bytes:
        """MTH(D[a:b])."""
        cached = self._mth.get((a, b))
        if cached is not None:
            return cached
        n = b - a
        if n == 0:
            value = sha(b"")
        elif n == 1:
            value = sha(b"\x00" + self.leaves[a])
        else:
            k = self._k(n)
            value = sha(b"\x01" + self.mth(a, a + k) + self.mth(a + k, b))
        self._mth[(a, b)] = value
        return value

    def path(self, m: int, a: int, b: int) -> list[bytes]:
        """PATH(m, D[a:b]), m relative to a."""
        n = b - a
        if n <= 1:
            return []
        k = self._k(n)
        if m < k:
            return [*self.path(m, a, a + k), self.mth(a + k, b)]
        return [*self.path(m - k, a + k, b), self.mth(a, a + k)]

    def subproof(self, m: int, a: int, b: int, whole: bool) -> list[bytes]:
        n = b - a
        if m == n:
            return [] if whole else [self.mth(a, b)]
        k = self._k(n)
        if m <= k:
            return [*self.subproof(m, a, a + k, whole), self.mth(a + k, b)]
        return [*self.subproof(m - k, a + k, b, False), self.mth(a, a + k)]

    def proof(self, m: int, n: int) -> list[bytes]:
        """PROOF(m, D[0:n])."""
        if m in (0, n):
            return []
        return self.subproof(m, 0, n, True)


def mth(leaves: list[bytes]) -> bytes:
    return Reference(leaves).mth(0, len(leaves))


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    return Reference(leaves).path(m, 0, len(leaves))


def proof(m: int, leaves: list[bytes]) -> list[bytes]:
    return Reference(leaves).proof(m, len(leaves))


def perfect_nodes(leaves: list[bytes]) -> dict[tuple[int, int], bytes]:
    """Every complete perfect subtree (level, index) -> MTH, computed from the leaves."""
    nodes: dict[tuple[int, int], bytes] = {}
    ref = Reference(leaves)
    level = 0
    while (1 << level) <= len(leaves):
        width = 1 << level
        for index in range(len(leaves) // width):
            nodes[(level, index)] = ref.mth(index * width, (index + 1) * width)
        level += 1
    return nodes


# ---------------------------------------------------------------- the gsomia vectors

SEED = bytes(range(32))
COSIGNER_SEED = bytes(range(32, 64))
TIMESTAMP = 1_700_000_000


def sample_documents() -> list[dict[str, Any]]:
    digest = hashlib.sha256(b"gsomia sample item").hexdigest()
    common = {"v": 1, "at": "2023-12-19T00:00:00+09:00", "party": "KOR"}
    return [
        {
            **common,
            "type": "item.published",
            "item": "kor-0001",
            "originator": "KOR",
            "classification": "II",
            "releasable_to": ["USA", "JPN"],
            "topics": ["dprk.missile.warning", "dprk.missile"],
            "digest": digest,
        },
        {
            **common,
            "type": "release.decision",
            "item": "kor-0001",
            "holder": "KOR",
            "recipient": "JPN",
            "decision": "allow",
            "reasons": [],
            "agreements": ["trilateral-missile-warning-2023", "jpn-kor-gsomia-2016"],
        },
        {
            **common,
            "type": "release.decision",
            "item": "kor-0001",
            "holder": "KOR",
            "recipient": "USA",
            "decision": "deny",
            "agreements": [],
            "reasons": ["kor-usa-security-1987: scope", "releasability: USA not listed"],
        },
        {
            **common,
            "type": "release.sent",
            "item": "kor-0001",
            "recipient": "JPN",
            "digest": digest,
        },
        {
            **common,
            "type": "release.received",
            "item": "jpn-0042",
            "sender": "JPN",
            "digest": digest,
        },
        {
            **common,
            "type": "consent",
            "item": "kor-0001",
            "originator": "KOR",
            "holder": "JPN",
            "recipient": "USA",
            "expires": "2024-12-19T00:00:00Z",
        },
        {
            **common,
            "type": "agreement.event",
            "at": "2019-08-23T12:00:00+09:00",
            "agreement": "jpn-kor-gsomia-2016",
            "event": "notice",
            "note": "written notice",
        },
        {
            **common,
            "type": "key.rotation",
            "key_id": "kor-2",
            "algorithm": "ed25519",
            "public_key": "A" * 43 + "=",
        },
        {
            **common,
            "type": "loss.report",
            "item": "jpn-0042",
            "kind": "suspected_loss",
            "detail": "courier bag 7 unaccounted for at 14:05 KST",
        },
        {
            **common,
            "type": "classification.notice",
            "item": "kor-0007",
            "originator": "KOR",
            "classification": "III",
            "digest": "ab" * 32,
        },
        {
            **common,
            "type": "item.destroyed",
            "item": "kor-0007",
            "originator": "KOR",
            "digest": "ab" * 32,
            "reason": "originator-request",
        },
        {
            **common,
            "type": "destruction.certified",
            "item": "kor-0007",
            "holder": "JPN",
            "digest": "ab" * 32,
            "reason": "returned",
        },
    ]


def build_vectors() -> dict[str, Any]:
    """Entries and expected encodings, then tree facts computed only by the naive reference.

    The canonical entry bytes and the signed notes come from gsomia itself (they are the
    format under test); the hashes, roots and proofs come from this module alone.
    """
    from gsomia import primitives
    from gsomia.ledger.entries import canonical_entry
    from gsomia.ledger.note import Checkpoint, NoteSigner, SignedNote

    docs = sample_documents()
    entries = [canonical_entry(d) for d in docs]
    n = len(entries)
    text = Checkpoint("gsomia/KOR", n, mth(entries)).text()
    signer = NoteSigner("gsomia/KOR", SEED)
    witness = NoteSigner("gsomia/JPN", COSIGNER_SEED)
    note = SignedNote(text, (signer.sign_note(text), witness.cosign(text, TIMESTAMP)))
    return {
        "about": "gsomia transparency log v1; regenerate with python -m tests.unit.ledger.reference",
        "documents": docs,
        "entries": [e.decode() for e in entries],
        "leaf_hashes": [sha(b"\x00" + e).hex() for e in entries],
        "roots": [mth(entries[:s]).hex() for s in range(n + 1)],
        "inclusion": [
            {"index": i, "size": s, "path": [h.hex() for h in path(i, entries[:s])]}
            for s in range(1, n + 1)
            for i in range(s)
        ],
        "consistency": [
            {"old": m, "new": s, "path": [h.hex() for h in proof(m, entries[:s])]}
            for s in range(n + 1)
            for m in range(s + 1)
        ],
        "checkpoint": {
            "log_public_key": primitives.ed25519_public(SEED).hex(),
            "witness_public_key": primitives.ed25519_public(COSIGNER_SEED).hex(),
            "timestamp": TIMESTAMP,
            "note": note.encode().decode(),
        },
    }


def main() -> None:
    out = VECTORS / "gsomia-v1.json"
    out.write_bytes(orjson.dumps(build_vectors(), option=orjson.OPT_INDENT_2) + b"\n")
    sys.stdout.write(f"wrote {out}\n")


if __name__ == "__main__":
    main()
