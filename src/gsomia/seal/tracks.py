"""Sealing, relaying and opening track frames (docs/formats.md, "Track frames").

A node seals a *window* of frames (different tracks and recipients) with ONE composite
signature over the Merkle root of their digests (``TrackSealer.seal_window``); a hub passes a
frame it received on to the next recipient with a relay record, again one signature per window
(``TrackSealer.relay_window``); a recipient opens a frame or a relayed frame in numbered steps
(``TrackOpener.open``). Every way a decoded frame can fail to open is the same opaque
``VerificationFailed``; the reason goes to the audit callback only (never the updates, never a
key). The wire format is ``gsomia.seal.trackwire``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gsomia import primitives
from gsomia.domain.labels import Label
from gsomia.domain.tracks import TrackUpdate
from gsomia.errors import BadInput, GsomiaError, VerificationFailed
from gsomia.seal import trackwire as tw
from gsomia.seal.batch import SignatureChecker, sign_batch_encoded
from gsomia.seal.canonical import canonical_json, parse_json_bytes
from gsomia.seal.channels import ChannelCache, wrap_with
from gsomia.seal.item import CONTENT_NONCE_LEN, SealedLabel, Wrap, channel_info, wrap_aad
from gsomia.seal.keys import KeyRing
from gsomia.seal.steps import step

Audit = Callable[[dict[str, Any]], None]
CONTENT_KEY_LEN = 32
MAX_LABELS = 4096  # sealed labels an opener keeps decoded


# ---------------------------------------------------------------- plans


@dataclass(frozen=True, slots=True)
class FramePlan:
    """One frame to seal: ``updates`` of ``track`` (under ``label``) for ``recipient``.

    ``at`` is the sender's stated release instant (its scenario clock when it sends); ``prev``
    the last seq this sender sent to ``recipient`` on this track (0 if none). The updates are
    ``TrackUpdate`` values or their JSON objects (checked with ``TrackUpdate.from_json``).
    """

    recipient: str
    label: SealedLabel
    track: str
    at: datetime
    prev: int
    updates: Sequence[TrackUpdate | Mapping[str, object]]


@dataclass(frozen=True, slots=True)
class RelayPlan:
    """One origin frame (``GSMT`` bytes this node received) to pass on to ``recipient``.

    ``at`` is the hub's stated release instant; ``prev`` the last seq the hub sent to
    ``recipient`` on the frame's track (0 if none).
    """

    frame: bytes
    recipient: str
    at: datetime
    prev: int


# ---------------------------------------------------------------- the opened frame


@functools.lru_cache(maxsize=4096)
def _domain_label(sealed: SealedLabel) -> Label:
    """A sealed label as the engine reads it (a pure function of the label: cached, for every
    frame of a track carries the same)."""
    return sealed.domain(sealed.classification)


@dataclass(frozen=True, slots=True)
class OpenedFrame:
    """A frame that opened: who sent what to whom, under which label, and the updates.

    ``sender``, ``at`` and ``prev`` are the last hop's (the relayer's for a relayed frame, else
    the origin's); ``origin_at`` and ``origin_prev`` are always the origin's. ``digest`` is the
    origin frame's; ``relay_digest`` the relay record's (None when direct). ``frame`` is the
    origin frame's bytes (what a hub passes on in a ``RelayPlan``).
    """

    origin: str
    sender: str
    route: tuple[str, ...]
    recipient: str
    track: str
    sealed_label: SealedLabel
    at: datetime
    prev: int
    origin_at: datetime
    origin_prev: int
    updates: tuple[TrackUpdate, ...]
    digest: bytes
    relay_digest: bytes | None
    frame: bytes

    @property
    def label(self) -> Label:
        """The track's label as the engine reads it."""
        return _domain_label(self.sealed_label)

    @property
    def relayed(self) -> bool:
        return self.relay_digest is not None

    @property
    def first(self) -> int:
        return self.updates[0].seq

    @property
    def last(self) -> int:
        return self.updates[-1].seq


# ---------------------------------------------------------------- the sealer


class TrackSealer:
    """Seals windows of frames and relays for the party of ``keyring``.

    ``channels`` may be the item sealer's (``Sealer.channels``): a wrap is bound to its
    frame's fresh content nonce, so sharing a channel is safe.
    """

    def __init__(
        self,
        keyring: KeyRing,
        channels: ChannelCache | None = None,
        opener: TrackOpener | None = None,
    ) -> None:
        self._keyring = keyring
        self.channels = channels if channels is not None else ChannelCache(keyring)
        self.opener = opener if opener is not None else TrackOpener(keyring)
        self.signatures = 0  # composite signatures made (one per non-empty window)

    def seal_window(self, plans: Sequence[FramePlan]) -> list[bytes]:
        """Seal every plan, all under one composite signature; BadInput names a bad plan."""
        if not plans:
            return []
        party = self._keyring.party
        parts: list[tuple[bytes, bytes, bytes]] = []
        for n, plan in enumerate(plans):
            what = f"frame {n}"
            updates = _plan_updates(plan, party, what)
            label_bytes = plan.label.encode()
            nonce = primitives.random_bytes(CONTENT_NONCE_LEN)
            header = tw.FrameHeader(
                origin=party,
                sender=party,
                recipient=plan.recipient,
                track=plan.track,
                label=label_bytes,
                at=plan.at,
                prev=plan.prev,
                first=updates[0].seq,
                count=len(updates),
                nonce=nonce,
            )
            header.check(what)
            header_bytes = header.encode()
            key = primitives.random_bytes(CONTENT_KEY_LEN)
            content = canonical_json([u.to_json() for u in updates])
            ciphertext = primitives.aes256gcm_encrypt(
                key, nonce, content, tw.content_aad(header_bytes)
            )
            wrap = wrap_with(self.channels.channel(plan.recipient, plan.at), key, nonce)
            parts.append((header_bytes, ciphertext, wrap))
        digests = [tw.frame_digest(*p) for p in parts]
        signatures = sign_batch_encoded(party, self._keyring.current, digests)
        self.signatures += 1
        return [
            tw.encode_frame(h, c, w, sig) for (h, c, w), sig in zip(parts, signatures, strict=True)
        ]

    def relay_window(self, plans: Sequence[RelayPlan]) -> list[bytes]:
        """Pass each origin frame on, all relay records under one composite signature.

        Each frame is opened again first (it must open at this node: VerificationFailed
        otherwise); BadInput names a plan that cannot be relayed.
        """
        if not plans:
            return []
        party = self._keyring.party
        parts: list[tuple[bytes, bytes]] = []
        for n, plan in enumerate(plans):
            what = f"relay {n}"
            if plan.frame[:4] != tw.FRAME_MAGIC:
                raise BadInput(f"{what}: only an origin frame (GSMT) is relayed, once")
            opened, key = self.opener.open_with_key(plan.frame)
            if plan.recipient in (opened.origin, party):
                raise BadInput(f"{what}: {plan.recipient} is the origin or this node")
            if plan.recipient not in opened.sealed_label.releasable_to:
                raise BadInput(f"{what}: the label does not release to {plan.recipient}")
            if not plan.prev < opened.first:
                raise BadInput(
                    f"{what}: prev {plan.prev} must be below the frame's first seq {opened.first}"
                )
            header = tw.FrameHeader.decode(tw.Frame.decode(plan.frame).header, what)
            wrap = wrap_with(self.channels.channel(plan.recipient, plan.at), key, header.nonce)
            record = tw.RelayRecord(
                relayer=party,
                recipient=plan.recipient,
                at=plan.at,
                prev=plan.prev,
                origin_digest=opened.digest,
                wrap=wrap,
            ).encode()
            parts.append((plan.frame, record))
        digests = [tw.relay_digest(record) for _, record in parts]
        signatures = sign_batch_encoded(party, self._keyring.current, digests)
        self.signatures += 1
        return [
            tw.encode_relayed(frame, record, sig)
            for (frame, record), sig in zip(parts, signatures, strict=True)
        ]


def _plan_updates(plan: FramePlan, party: str, what: str) -> list[TrackUpdate]:
    """The plan's updates, checked: this node's track and label, strictly increasing seqs."""
    label = plan.label
    if label.originator != party:
        raise BadInput(f"{what}: the label's originator is {label.originator}, not {party}")
    if label.id != plan.track:
        raise BadInput(f"{what}: the label is {label.id}'s, not {plan.track}'s")
    if plan.recipient == party or plan.recipient not in label.releasable_to:
        raise BadInput(f"{what}: the label does not release to {plan.recipient}")
    if not 1 <= len(plan.updates) <= tw.MAX_FRAME_UPDATES:
        raise BadInput(f"{what}: a frame carries 1 to {tw.MAX_FRAME_UPDATES} updates")
    updates = [
        u if isinstance(u, TrackUpdate) else TrackUpdate.from_json(u, where=f"{what}: update {i}")
        for i, u in enumerate(plan.updates)
    ]
    _updates_belong(updates, track=plan.track, origin=party, prev=plan.prev, what=what)
    return updates


def _updates_belong(
    updates: Sequence[TrackUpdate], *, track: str, origin: str, prev: int, what: str
) -> None:
    last = prev
    for i, update in enumerate(updates):
        if update.track != track:
            raise BadInput(f"{what}: update {i} is of {update.track}, not {track}")
        if update.party != origin:
            raise BadInput(f"{what}: update {i} is {update.party}'s, not {origin}'s")
        if update.seq <= last:
            raise BadInput(
                f"{what}: update {i} has seq {update.seq}, not above {last} "
                "(seqs strictly increase, above prev)"
            )
        last = update.seq


# ---------------------------------------------------------------- the opener


@dataclass(frozen=True, slots=True)
class _Decoded:
    frame: tw.Frame
    header_bytes: bytes
    header: tw.FrameHeader
    label: SealedLabel
    raw_frame: bytes
    relayed: tw.Relayed | None
    record: tw.RelayRecord | None


class TrackOpener:
    """Opens frames and relayed frames for the party of ``keyring``.

    ``open`` runs these steps in order; the first that fails ends it. Step T1 raises
    ``BadInput``; every later step the same opaque ``VerificationFailed`` (the reason, naming
    the step, goes to ``audit``).

      T1. the frame decodes: a GSMT frame, or a GSMR envelope holding a GSMT frame and a relay
          record; header, label and record strictly
      T2. the header agrees with its label: the label is the track's and the origin's, and
          releases to the frame's recipient
      T3. the origin signed the frame's digest, with a key this node trusts
      T4. (relayed) the relay record is for this frame: its digest, relayed by the frame's
          recipient to a party the label releases to, its prev below the frame's first seq
      T5. (relayed) the relayer signed the relay record
      T6. the last hop's recipient is this node
      T7. the wrap is the last hop's, for this node, and it opens (the content key)
      T8. the updates decrypt
      T9. the updates are a canonical JSON list of ``count`` updates of this track, from the
          origin, their seqs strictly increasing from ``first``
    """

    def __init__(
        self,
        keyring: KeyRing,
        *,
        checker: SignatureChecker | None = None,
        audit: Audit | None = None,
    ) -> None:
        self._keyring = keyring
        self._checker = checker if checker is not None else SignatureChecker(keyring)
        self._audit = audit
        self._channels: dict[tuple[str, str, bytes, bytes], primitives.Aead] = {}
        # sealed labels decoded, by their exact bytes: every frame of a track carries the same
        self._labels: dict[bytes, SealedLabel] = {}

    def open(self, raw: bytes) -> OpenedFrame:
        """The opened frame; BadInput if malformed, else the opaque VerificationFailed."""
        return self.open_with_key(raw)[0]

    def open_with_key(self, raw: bytes) -> tuple[OpenedFrame, bytes]:
        """``open`` and the frame's content key (for a hub that relays it)."""
        d = decode_frame(raw, self._labels)
        digest = tw.raw_frame_digest(d.raw_frame, d.frame)
        try:
            return self._open(d, digest)
        except GsomiaError as exc:
            raise self._fail(str(exc), digest) from None

    def _open(self, d: _Decoded, digest: bytes) -> tuple[OpenedFrame, bytes]:
        header, record = d.header, d.record
        header_agrees(header, d.label)
        origin_signed(self._checker, d.frame, digest, header.origin)
        relay_digest = None
        if d.relayed is not None and record is not None:
            relay_for_frame(record, header, d.label, digest)
            relay_digest = tw.relay_digest(d.relayed.record)
            relayer_signed(self._checker, d.relayed, relay_digest, record.relayer)
        sender = header.origin if record is None else record.relayer
        recipient = header.recipient if record is None else record.recipient
        for_this_node(recipient, self._keyring.party)
        wrap_raw = d.frame.wrap if record is None else record.wrap
        key = self._unwrap(wrap_raw, sender, header.nonce)
        content = updates_decrypt(key, d.frame.ciphertext, header.nonce, d.header_bytes)
        updates = updates_belong(content, header)
        opened = OpenedFrame(
            origin=header.origin,
            sender=sender,
            route=(header.origin,) if record is None else (header.origin, record.relayer),
            recipient=recipient,
            track=header.track,
            sealed_label=d.label,
            at=header.at if record is None else record.at,
            prev=header.prev if record is None else record.prev,
            origin_at=header.at,
            origin_prev=header.prev,
            updates=updates,
            digest=digest,
            relay_digest=relay_digest,
            frame=d.raw_frame,
        )
        return opened, key

    @step("T7", "the wrap opens")
    def _unwrap(self, raw: bytes, sender: str, content_nonce: bytes) -> bytes:
        party = self._keyring.party
        try:
            wrap = Wrap.decode(raw, "wrap")
        except BadInput as exc:
            raise VerificationFailed(str(exc)) from None
        if wrap.recipient != party or wrap.sender != sender:
            raise VerificationFailed(
                f"the wrap is from {wrap.sender} to {wrap.recipient}, not {sender} to {party}"
            )
        aead = self._channel(wrap)
        return aead.decrypt(wrap.nonce, wrap.wrapped_key, wrap_aad(party, content_nonce))

    def _channel(self, wrap: Wrap) -> primitives.Aead:
        cache_key = (wrap.sender, wrap.recipient_key, wrap.channel_id, wrap.channel_enc)
        aead = self._channels.get(cache_key)
        if aead is None:
            generation = self._keyring.generation(wrap.recipient_key)
            info = channel_info(wrap.sender, wrap.recipient, wrap.recipient_key, wrap.channel_id)
            aead = primitives.Aead(
                primitives.hpke_open(generation.kem_private, wrap.channel_enc, info)
            )
            if len(self._channels) >= 4096:
                self._channels.clear()
            self._channels[cache_key] = aead
        return aead

    def _fail(self, reason: str, digest: bytes) -> VerificationFailed:
        if self._audit is not None:
            self._audit(
                {
                    "event": "track-open-failed",
                    "party": self._keyring.party,
                    "frame_digest": digest.hex(),
                    "reason": reason,
                }
            )
        return VerificationFailed(f"the track frame cannot be opened by {self._keyring.party}")


# ---------------------------------------------------------------- the steps


@step("T1", "the frame decodes")
def decode_frame(raw: bytes, labels: dict[bytes, SealedLabel] | None = None) -> _Decoded:
    """The frame's parts, strictly; ``labels`` caches the sealed labels decoded so far (by
    their exact bytes, so a label is decoded, and checked, once)."""
    relayed: tw.Relayed | None = None
    record: tw.RelayRecord | None = None
    raw_frame = raw
    if raw[:4] == tw.RELAYED_MAGIC:
        relayed = tw.Relayed.decode(raw)
        raw_frame = relayed.frame
        record = tw.RelayRecord.decode(relayed.record, "relay record")
    frame = tw.Frame.decode(raw_frame)
    header = tw.FrameHeader.decode(frame.header, "track frame: header")
    label = None if labels is None else labels.get(header.label)
    if label is None:
        label = SealedLabel.decode(header.label, "track frame: label")
        if labels is not None:
            if len(labels) >= MAX_LABELS:
                labels.clear()
            labels[header.label] = label
    return _Decoded(frame, frame.header, header, label, raw_frame, relayed, record)


@step("T2", "the header agrees with its label")
def header_agrees(header: tw.FrameHeader, label: SealedLabel) -> None:
    if label.id != header.track or label.originator != header.origin:
        raise VerificationFailed(
            f"the label is {label.originator}'s {label.id}, the frame {header.origin}'s "
            f"{header.track}"
        )
    if header.recipient not in label.releasable_to:
        raise VerificationFailed(f"the label does not release to {header.recipient}")


@step("T3", "the origin signed the frame")
def origin_signed(checker: SignatureChecker, frame: tw.Frame, digest: bytes, origin: str) -> None:
    checker.check(frame.signature, digest, signer=origin, what="track frame")


@step("T4", "the relay record is for this frame")
def relay_for_frame(
    record: tw.RelayRecord, header: tw.FrameHeader, label: SealedLabel, digest: bytes
) -> None:
    if record.origin_digest != digest:
        raise VerificationFailed("the relay record names another frame")
    if record.relayer != header.recipient:
        raise VerificationFailed(
            f"relayed by {record.relayer}, but the frame was sent to {header.recipient}"
        )
    if record.recipient == header.origin or record.recipient not in label.releasable_to:
        raise VerificationFailed(f"the frame may not be relayed to {record.recipient}")
    if not record.prev < header.first:
        raise VerificationFailed(f"prev {record.prev} is not below first {header.first}")


@step("T5", "the relayer signed the relay record")
def relayer_signed(
    checker: SignatureChecker, relayed: tw.Relayed, relay_digest: bytes, relayer: str
) -> None:
    checker.check(relayed.signature, relay_digest, signer=relayer, what="relay record")


@step("T6", "the frame is for this node")
def for_this_node(recipient: str, party: str) -> None:
    if recipient != party:
        raise VerificationFailed(f"the frame is for {recipient}, not {party}")


@step("T8", "the updates decrypt")
def updates_decrypt(key: bytes, ciphertext: bytes, nonce: bytes, header: bytes) -> bytes:
    return primitives.aes256gcm_decrypt(key, nonce, ciphertext, tw.content_aad(header))


@step("T9", "the updates belong to the frame")
def updates_belong(content: bytes, header: tw.FrameHeader) -> tuple[TrackUpdate, ...]:
    """The decrypted updates, checked (the sender signed them: a failure is opaque)."""
    try:
        return _parse_updates(content, header)
    except BadInput as exc:
        raise VerificationFailed(str(exc)) from None


def _parse_updates(content: bytes, header: tw.FrameHeader) -> tuple[TrackUpdate, ...]:
    doc = parse_json_bytes(content, where="updates")
    if not isinstance(doc, list) or canonical_json(doc) != content:
        raise BadInput("updates: not a canonical JSON list")
    if len(doc) != header.count:
        raise BadInput(f"updates: {len(doc)}, the header says {header.count}")
    updates = tuple(TrackUpdate.from_json(u, where=f"update {i}") for i, u in enumerate(doc))
    if updates[0].seq != header.first:
        raise BadInput(f"the first update has seq {updates[0].seq}, not {header.first}")
    _updates_belong(
        updates, track=header.track, origin=header.origin, prev=header.prev, what="updates"
    )
    return updates
