"""Sealing batches of items: one fresh data key and one AES-256-GCM encryption per item, the
data key wrapped per party on a channel (``gsomia.seal.channels``), one composite signature
per batch (``gsomia.seal.batch``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gsomia import primitives
from gsomia.errors import BadInput
from gsomia.seal.batch import sign_batch_encoded
from gsomia.seal.canonical import canonical_json
from gsomia.seal.channels import ChannelCache, wrap_with
from gsomia.seal.item import (
    CONTENT_AAD,
    CONTENT_NONCE_LEN,
    Core,
    SealedLabel,
    encode_item,
    item_digest,
)
from gsomia.seal.keys import KeyRing
from gsomia.seal.views import Grant

DATA_KEY_LEN = 32


@dataclass(frozen=True, slots=True)
class SealRequest:
    content: bytes
    label: SealedLabel
    grants: tuple[Grant, ...] = ()


class Sealer:
    """Seals batches of items for the party of ``keyring`` (the originator)."""

    def __init__(self, keyring: KeyRing, channels: ChannelCache | None = None) -> None:
        self._keyring = keyring
        self.channels = channels if channels is not None else ChannelCache(keyring)

    def seal(self, request: SealRequest) -> bytes:
        return self.seal_batch([request])[0]

    def seal_batch(self, requests: Sequence[SealRequest]) -> list[bytes]:
        return [raw for raw, _ in self.seal_batch_digests(requests)]

    def seal_batch_digests(self, requests: Sequence[SealRequest]) -> list[tuple[bytes, bytes]]:
        """The sealed items, each with its digest (what the log records)."""
        party = self._keyring.party
        cores: list[bytes] = []
        grants_json: dict[int, bytes] = {}  # the same decisions often serve a whole batch
        for n, request in enumerate(requests):
            label = request.label
            if label.originator != party:
                raise BadInput(
                    f"item {n}: the label's originator is {label.originator}, not {party}"
                )
            parties = [g.party for g in request.grants]
            if len(set(parties)) != len(parties) or party in parties:
                raise BadInput(f"item {n}: each recipient once, the originator not among them")
            outside = [p for p in parties if p not in label.releasable_to]
            if outside:
                raise BadInput(
                    f"item {n}: {', '.join(outside)} not among the parties the label releases to"
                )
            label_bytes = label.encode()
            data_key = primitives.random_bytes(DATA_KEY_LEN)
            nonce = primitives.random_bytes(CONTENT_NONCE_LEN)
            ciphertext = primitives.aes256gcm_encrypt(
                data_key, nonce, request.content, CONTENT_AAD + label_bytes
            )
            wraps = [
                wrap_with(self.channels.channel(p, label.created), data_key, nonce)
                for p in (party, *parties)
            ]
            grants = grants_json.get(id(request.grants))
            if grants is None:
                grants = canonical_json([g.to_json() for g in request.grants])
                grants_json[id(request.grants)] = grants
            cores.append(Core(label_bytes, nonce, ciphertext, tuple(wraps), grants).encode())
        digests = [item_digest(core) for core in cores]
        signatures = sign_batch_encoded(party, self._keyring.current, digests)
        return [
            (encode_item(core, sig), digest)
            for core, sig, digest in zip(cores, signatures, digests, strict=True)
        ]
