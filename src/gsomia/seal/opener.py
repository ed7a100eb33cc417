"""Opening sealed items: verify first, then find this party's wrap and decrypt.

Every failure to open is the same opaque ``VerificationFailed``; the reason goes to the audit
callback only (never the content, never a key).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gsomia import primitives
from gsomia.errors import GsomiaError, VerificationFailed
from gsomia.seal.item import CONTENT_AAD, Wrap, channel_info, wrap_aad
from gsomia.seal.keys import KeyRing
from gsomia.seal.verify import Verifier
from gsomia.seal.views import VerifiedItem

Audit = Callable[[dict[str, Any]], None]


class Opener:
    """Opens items for the party of ``keyring``; one opaque error for every failure."""

    def __init__(
        self, keyring: KeyRing, verifier: Verifier | None = None, *, audit: Audit | None = None
    ) -> None:
        self._keyring = keyring
        self.verifier = verifier if verifier is not None else Verifier(keyring)
        self._audit = audit
        self._channels: dict[tuple[str, str, bytes, bytes], primitives.Aead] = {}

    def _fail(self, reason: str, digest: bytes | None) -> VerificationFailed:
        if self._audit is not None:
            self._audit(
                {
                    "event": "open-failed",
                    "party": self._keyring.party,
                    "item_digest": None if digest is None else digest.hex(),
                    "reason": reason,
                }
            )
        return VerificationFailed(f"the item cannot be opened by {self._keyring.party}")

    def open(self, raw: bytes) -> bytes:
        try:
            verified = self.verifier.verify(raw)
        except GsomiaError as exc:
            raise self._fail(f"verification: {exc}", None) from None
        return self.open_verified(verified)

    def open_verified(self, verified: VerifiedItem) -> bytes:
        key = self.data_key(verified)
        try:
            return primitives.aes256gcm_decrypt(
                key,
                verified.core.nonce,
                verified.core.ciphertext,
                CONTENT_AAD + verified.core.label,
            )
        except GsomiaError:
            raise self._fail("content does not decrypt", verified.digest) from None

    def data_key(self, verified: VerifiedItem) -> bytes:
        """The item's data key, unwrapped from this party's wrap (opaque failure)."""
        party = self._keyring.party
        wrap = verified.wrap_for(party)
        if wrap is None:
            raise self._fail(f"no wrap for {party}", verified.digest)
        try:
            aead = self._channel(wrap)
            return aead.decrypt(wrap.nonce, wrap.wrapped_key, wrap_aad(party, verified.core.nonce))
        except GsomiaError as exc:
            raise self._fail(f"wrap does not open: {exc}", verified.digest) from None

    def _channel(self, wrap: Wrap) -> primitives.Aead:
        cache_key = (wrap.sender, wrap.recipient_key, wrap.channel_id, wrap.channel_enc)
        aead = self._channels.get(cache_key)
        if aead is None:
            generation = self._keyring.generation(wrap.recipient_key)
            info = channel_info(wrap.sender, wrap.recipient, wrap.recipient_key, wrap.channel_id)
            key = primitives.hpke_open(generation.kem_private, wrap.channel_enc, info)
            aead = primitives.Aead(key)
            if len(self._channels) >= 4096:
                self._channels.clear()
            self._channels[cache_key] = aead
        return aead
