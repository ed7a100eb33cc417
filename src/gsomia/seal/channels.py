"""The sender's channel keys: one per (recipient, recipient's current key), set up by HPKE.

Each channel is established by HPKE to the recipient's ML-KEM-768+X25519 key and rotated after
``max_uses`` wraps, once ``lifetime`` has passed since it was opened, or on demand; a data key
is wrapped on it with AES-256-GCM (``wrap_with``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from gsomia import primitives
from gsomia.seal import wire
from gsomia.seal.item import CHANNEL_ID_LEN, WRAPPED_KEY_LEN, channel_info, wrap_aad, wrap_prefix
from gsomia.seal.keys import KeyRing

DEFAULT_CHANNEL_USES = 1 << 20  # random 96-bit wrap nonces: far below the 2^32 bound
DEFAULT_CHANNEL_LIFETIME = timedelta(days=1)


@dataclass(slots=True)
class Channel:
    sender: str
    recipient: str
    recipient_key: str
    channel_id: bytes
    enc: bytes
    aead: primitives.Aead
    opened_at: datetime
    prefix: bytes  # the encoded wrap fields that are the same on the whole channel
    aad_prefix: bytes
    revision: int  # of the key ring when the recipient's key was looked up
    uses: int = 0


_NONCE_VEC = wire.u32(12)
_WRAPPED_VEC = wire.u32(WRAPPED_KEY_LEN)


def wrap_with(channel: Channel, data_key: bytes, content_nonce: bytes) -> bytes:
    """The encoded ``Wrap`` of ``data_key`` on ``channel`` (fresh random nonce)."""
    nonce = primitives.random_bytes(12)
    wrapped = channel.aead.encrypt(nonce, data_key, channel.aad_prefix + content_nonce)
    channel.uses += 1
    return b"".join((channel.prefix, _NONCE_VEC, nonce, _WRAPPED_VEC, wrapped))


class ChannelCache:
    """The sender's channel keys, one per (recipient, recipient's current key)."""

    def __init__(
        self,
        keyring: KeyRing,
        *,
        max_uses: int = DEFAULT_CHANNEL_USES,
        lifetime: timedelta = DEFAULT_CHANNEL_LIFETIME,
    ) -> None:
        self._keyring = keyring
        self._max_uses = max_uses
        self._lifetime = lifetime
        self._channels: dict[str, Channel] = {}
        self.established = 0

    def rotate(self, recipient: str | None = None) -> None:
        """On demand: forget the channel to ``recipient`` (every channel when None)."""
        if recipient is None:
            self._channels.clear()
        else:
            self._channels.pop(recipient, None)

    def channel(self, recipient: str, at: datetime) -> Channel:
        current = self._channels.get(recipient)
        if (
            current is not None
            and current.revision == self._keyring.revision
            and current.uses < self._max_uses
            and current.opened_at <= at < current.opened_at + self._lifetime
        ):
            return current
        keys = self._keyring.current_public(recipient)
        if (
            current is None
            or current.recipient_key != keys.key_id
            or current.uses >= self._max_uses
            or not current.opened_at <= at < current.opened_at + self._lifetime
        ):
            channel_id = primitives.random_bytes(CHANNEL_ID_LEN)
            key = primitives.random_bytes(32)
            info = channel_info(self._keyring.party, recipient, keys.key_id, channel_id)
            enc = primitives.hpke_seal(keys.kem, key, info)
            party = self._keyring.party
            current = Channel(
                sender=party,
                recipient=recipient,
                recipient_key=keys.key_id,
                channel_id=channel_id,
                enc=enc,
                aead=primitives.Aead(key),
                opened_at=at,
                prefix=wrap_prefix(recipient, keys.key_id, party, channel_id, enc),
                aad_prefix=wrap_aad(recipient, b""),
                revision=self._keyring.revision,
            )
            self._channels[recipient] = current
            self.established += 1
        current.revision = self._keyring.revision
        return current
