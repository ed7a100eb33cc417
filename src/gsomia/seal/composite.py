"""The composite signature: Ed25519 and ML-DSA-65 over the same message; both must verify.

Each component signs ``COMPOSITE_PREFIX || message``. The prefix names the composite algorithm,
so a component signature cannot be lifted out and presented as a plain Ed25519 or ML-DSA
signature over ``message`` (no stripping); ML-DSA also gets the context string
``COMPOSITE_CONTEXT``.
"""

from __future__ import annotations

from dataclasses import dataclass

from gsomia import primitives

COMPOSITE_ALG_ID = 0x0001  # Ed25519 + ML-DSA-65
COMPOSITE_PREFIX = b"gsomia/composite/ed25519+ml-dsa-65/v1\x00"
COMPOSITE_CONTEXT = b"gsomia-composite-v1"


@dataclass(frozen=True, slots=True)
class CompositeSignature:
    ed25519: bytes
    mldsa65: bytes


def composite_sign(ed25519_seed: bytes, mldsa65_seed: bytes, message: bytes) -> CompositeSignature:
    signed = COMPOSITE_PREFIX + message
    return CompositeSignature(
        ed25519=primitives.ed25519_sign(ed25519_seed, signed),
        mldsa65=primitives.mldsa65_sign(mldsa65_seed, signed, COMPOSITE_CONTEXT),
    )


class CompositeSigner:
    """Signs many messages with one key pair (the keys are expanded once)."""

    __slots__ = ("_signer",)

    def __init__(self, ed25519_seed: bytes, mldsa65_seed: bytes) -> None:
        self._signer = primitives.Signer(ed25519_seed, mldsa65_seed)

    def sign(self, message: bytes) -> CompositeSignature:
        signed = COMPOSITE_PREFIX + message
        return CompositeSignature(
            ed25519=self._signer.sign_ed25519(signed),
            mldsa65=self._signer.sign_mldsa65(signed, COMPOSITE_CONTEXT),
        )


def composite_verify(
    ed25519_public: bytes, mldsa65_public: bytes, signature: CompositeSignature, message: bytes
) -> None:
    """Raise ``VerificationFailed`` unless BOTH component signatures hold."""
    signed = COMPOSITE_PREFIX + message
    primitives.ed25519_verify(ed25519_public, signature.ed25519, signed)
    primitives.mldsa65_verify(mldsa65_public, signature.mldsa65, signed, COMPOSITE_CONTEXT)
