"""Batch signatures: one composite signature over the Merkle root of a batch of digests.

Every signed object (item, release record, consent, classification notice) carries a
``BatchSignature``: the signer, its key id, the batch size, the object's leaf index and
inclusion path, and the composite signature over the root. A batch of one is a plain
signature over a one-leaf tree. Each object stays verifiable on its own; a verifier may cache
the roots it has verified (``SignatureChecker`` does, keyed by the exact signed bytes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from gsomia import primitives
from gsomia.errors import BadInput, VerificationFailed
from gsomia.seal import wire
from gsomia.seal.composite import COMPOSITE_ALG_ID, CompositeSignature
from gsomia.seal.keys import KeyGeneration, PublicKeys
from gsomia.seal.merkle import root_and_paths, root_from_path

BATCH_DOMAIN = b"gsomia/seal/v1/batch\x00"
MAX_BATCH = 1 << 16


def batch_message(signer: str, key_id: str, size: int, root: bytes) -> bytes:
    return (
        BATCH_DOMAIN
        + signer.encode("ascii")
        + b"\x00"
        + key_id.encode("ascii")
        + b"\x00"
        + wire.u32(size)
        + root
    )


@dataclass(frozen=True, slots=True)
class BatchSignature:
    signer: str
    key_id: str
    size: int
    index: int
    path: tuple[bytes, ...]
    signature: CompositeSignature
    alg: int = COMPOSITE_ALG_ID

    def head(self) -> bytes:
        """The encoded fields before the index: the same for the whole batch."""
        return b"".join(
            (
                wire.vec(self.signer.encode("ascii")),
                wire.vec(self.key_id.encode("ascii")),
                wire.u16(self.alg),
                wire.u32(self.size),
            )
        )

    def tail(self) -> bytes:
        """The encoded signatures: the same for the whole batch."""
        return wire.vec(self.signature.ed25519) + wire.vec(self.signature.mldsa65)

    def encode(self) -> bytes:
        return encode_in_batch(self.head(), self.index, self.path, self.tail())

    @classmethod
    def decode(cls, raw: bytes, what: str) -> BatchSignature:
        r = wire.Reader(raw, what)
        signer = r.ident(max_len=3)
        key_id = r.ident(max_len=16)
        alg = r.u16()
        if alg != COMPOSITE_ALG_ID:
            raise BadInput(f"{what}: unknown signature algorithm {alg:#06x}")
        size = r.u32()
        index = r.u32()
        path = r.hash_list()
        ed = r.vec(primitives.ED25519_SIG_LEN)
        ml = r.vec(primitives.MLDSA65_SIG_LEN)
        r.end()
        return cls(signer, key_id, size, index, path, CompositeSignature(ed, ml), alg)


def encode_in_batch(head: bytes, index: int, path: Sequence[bytes], tail: bytes) -> bytes:
    return b"".join((head, wire.u32(index), wire.vec_list(path), tail))


def sign_batch_encoded(
    party: str, generation: KeyGeneration, leaves: Sequence[bytes]
) -> list[bytes]:
    """``sign_batch``, each signature already encoded (the shared parts encoded once)."""
    signatures = sign_batch(party, generation, leaves)
    head, tail = signatures[0].head(), signatures[0].tail()
    return [encode_in_batch(head, s.index, s.path, tail) for s in signatures]


def sign_batch(
    party: str, generation: KeyGeneration, leaves: Sequence[bytes]
) -> list[BatchSignature]:
    """Sign ``leaves`` (32-byte digests) with one composite signature over their Merkle root."""
    if not 1 <= len(leaves) <= MAX_BATCH:
        raise BadInput(f"a batch holds 1 to {MAX_BATCH} objects, not {len(leaves)}")
    root, paths = root_and_paths(leaves)
    size = len(leaves)
    signature = generation.sign(batch_message(party, generation.key_id, size, root))
    return [
        BatchSignature(party, generation.key_id, size, i, tuple(path), signature)
        for i, path in enumerate(paths)
    ]


class Trust(Protocol):
    def signing_key(self, party: str, key_id: str) -> PublicKeys:
        """The trusted public keys of ``party`` with ``key_id``; VerificationFailed if none."""
        ...


class SignatureChecker:
    """Checks batch signatures against trusted keys, caching the roots already verified."""

    def __init__(self, trust: Trust, *, cache_size: int = 4096) -> None:
        self._trust = trust
        self._verified: set[tuple[bytes, bytes, bytes]] = set()
        self._cache_size = cache_size

    def check(self, sig: BatchSignature, leaf: bytes, *, signer: str, what: str) -> None:
        """Raise ``VerificationFailed`` unless ``signer`` signed ``leaf`` in ``sig``'s batch."""
        if sig.signer != signer:
            raise VerificationFailed(f"{what}: signed by {sig.signer}, expected {signer}")
        if len(sig.path) > 16 or not 1 <= sig.size <= MAX_BATCH:
            raise VerificationFailed(f"{what}: malformed batch signature")
        root = root_from_path(leaf, sig.index, sig.size, sig.path)
        message = batch_message(sig.signer, sig.key_id, sig.size, root)
        key = (message, sig.signature.ed25519, sig.signature.mldsa65)
        if key in self._verified:
            return
        keys = self._trust.signing_key(sig.signer, sig.key_id)
        try:
            keys.verify_signature(sig.signature, message)
        except VerificationFailed as exc:
            raise VerificationFailed(
                f"{what}: signature of {signer} does not hold ({exc})"
            ) from exc
        if len(self._verified) >= self._cache_size:
            self._verified.clear()
        self._verified.add(key)
