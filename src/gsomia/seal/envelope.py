"""Sealing, verifying and opening items; releases, consents and classification notices.

- ``Sealer`` seals batches: one fresh data key and one AES-256-GCM encryption per item, the data
  key wrapped per party under a channel key (symmetric), one composite signature per batch.
- ``ChannelCache`` (sender side) holds the channel keys, one per (recipient, recipient key);
  each is established by HPKE to the recipient's ML-KEM-768+X25519 key and rotated after
  ``max_uses`` wraps, once ``lifetime`` has passed since it was opened, or on demand.
- ``Verifier`` checks an item on its own: structure, the originator's signature, every release
  record and notice in order, every embedded consent. With a scenario it also re-decides every
  grant and release with the engine (``decide``): a release the rules do not allow is rejected.
- ``Opener`` verifies, then finds the party's wrap and decrypts. Every failure to open is the
  same opaque ``VerificationFailed``; the reason goes to the audit callback only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from gsomia import primitives
from gsomia.domain.consents import Consent
from gsomia.domain.instants import format_instant, parse_instant
from gsomia.domain.labels import Label
from gsomia.domain.release import decide
from gsomia.domain.scenario import Scenario
from gsomia.errors import BadInput, GsomiaError, VerificationFailed
from gsomia.seal import wire
from gsomia.seal.batch import (
    BatchSignature,
    SignatureChecker,
    Trust,
    sign_batch,
    sign_batch_encoded,
)
from gsomia.seal.canonical import canonical_json, parse_json_bytes
from gsomia.seal.item import (
    CHANNEL_ID_LEN,
    CONSENT_MAGIC,
    CONTENT_AAD,
    CONTENT_NONCE_LEN,
    KIND_NOTICE,
    KIND_RELEASE,
    WRAPPED_KEY_LEN,
    ZERO_DIGEST,
    Core,
    Item,
    Record,
    SealedLabel,
    SignedObject,
    Wrap,
    WrapPrefixes,
    channel_info,
    consent_digest,
    encode_item,
    item_digest,
    record_digest,
    wrap_aad,
    wrap_prefix,
)
from gsomia.seal.keys import KeyRing

DEFAULT_CHANNEL_USES = 1 << 20  # random 96-bit wrap nonces: far below the 2^32 bound
DEFAULT_CHANNEL_LIFETIME = timedelta(days=1)
DATA_KEY_LEN = 32

Audit = Callable[[dict[str, Any]], None]


# ---------------------------------------------------------------- grants and requests


@dataclass(frozen=True, slots=True)
class Grant:
    """Why a party other than the originator may read the item: the allowing decision."""

    party: str
    agreements: tuple[str, ...]
    at: datetime
    marking: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "party": self.party,
            "agreements": list(self.agreements),
            "at": format_instant(self.at),
            "marking": self.marking,
        }

    @classmethod
    def from_json(cls, obj: object, *, where: str) -> Grant:
        if not isinstance(obj, dict) or set(obj) != {"party", "agreements", "at", "marking"}:
            raise BadInput(f"{where}: a grant has the fields party, agreements, at, marking")
        agreements = obj["agreements"]
        if not isinstance(agreements, list) or not all(isinstance(a, str) for a in agreements):
            raise BadInput(f"{where}: agreements must be a list of ids")
        if not isinstance(obj["party"], str) or not isinstance(obj["marking"], dict):
            raise BadInput(f"{where}: party must be a string and marking an object")
        return cls(
            obj["party"],
            tuple(agreements),
            parse_instant(obj["at"], f"{where}: at"),
            obj["marking"],
        )


@dataclass(frozen=True, slots=True)
class SealRequest:
    content: bytes
    label: SealedLabel
    grants: tuple[Grant, ...] = ()


# ---------------------------------------------------------------- channels


@dataclass(slots=True)
class _Channel:
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


def _wrap_with(channel: _Channel, data_key: bytes, content_nonce: bytes) -> bytes:
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
        self._channels: dict[str, _Channel] = {}
        self.established = 0

    def rotate(self, recipient: str | None = None) -> None:
        """On demand: forget the channel to ``recipient`` (every channel when None)."""
        if recipient is None:
            self._channels.clear()
        else:
            self._channels.pop(recipient, None)

    def channel(self, recipient: str, at: datetime) -> _Channel:
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
            current = _Channel(
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


# ---------------------------------------------------------------- sealing


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
                _wrap_with(self.channels.channel(p, label.created), data_key, nonce)
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


# ---------------------------------------------------------------- verified views


@dataclass(frozen=True, slots=True)
class ConsentView:
    item: str
    item_digest: bytes
    originator: str
    recipient: str
    granted_at: datetime
    expires_at: datetime | None
    signer_key: str

    def to_domain(self) -> Consent:
        return Consent(self.item, self.originator, self.recipient, self.granted_at, self.expires_at)

    def to_json(self) -> dict[str, Any]:
        return {
            "item": self.item,
            "item_digest": self.item_digest.hex(),
            "originator": self.originator,
            "recipient": self.recipient,
            "granted_at": format_instant(self.granted_at),
            "expires_at": None if self.expires_at is None else format_instant(self.expires_at),
            "signed_by": {"party": self.originator, "key": self.signer_key},
        }


@dataclass(frozen=True, slots=True)
class ReleaseView:
    holder: str
    recipient: str
    at: datetime
    agreements: tuple[str, ...]
    marking: dict[str, Any]
    standing_consent: str | None
    consent: ConsentView | None
    signer_key: str

    def to_json(self) -> dict[str, Any]:
        return {
            "holder": self.holder,
            "recipient": self.recipient,
            "at": format_instant(self.at),
            "agreements": list(self.agreements),
            "marking": self.marking,
            "standing_consent": self.standing_consent,
            "consent": None if self.consent is None else self.consent.to_json(),
            "signed_by": {"party": self.holder, "key": self.signer_key},
        }


@dataclass(frozen=True, slots=True)
class NoticeView:
    classification: str
    at: datetime
    signer_key: str

    def to_json(self) -> dict[str, Any]:
        return {
            "classification": self.classification,
            "at": format_instant(self.at),
            "signed_by": {"key": self.signer_key},
        }


@dataclass(frozen=True, slots=True)
class VerifiedItem:
    item: Item
    digest: bytes
    label: SealedLabel
    core: Core
    wraps: tuple[Wrap, ...]
    grants: tuple[Grant, ...]
    releases: tuple[ReleaseView, ...]
    notices: tuple[NoticeView, ...]
    scenario: str | None
    record_wraps: tuple[Wrap | None, ...] = field(default=())

    @property
    def classification(self) -> str:
        """The current classification: the originator's latest notice, else the label's."""
        return self.notices[-1].classification if self.notices else self.label.classification

    def holders(self) -> tuple[str, ...]:
        """Every party the item is wrapped for, in the order they received it."""
        return (*(w.recipient for w in self.wraps), *(r.recipient for r in self.releases))

    def wrap_for(self, party: str) -> Wrap | None:
        for wrap in self.wraps:
            if wrap.recipient == party:
                return wrap
        for extra in self.record_wraps:
            if extra is not None and extra.recipient == party:
                return extra
        return None

    def domain_label(self, classification: str | None = None) -> Label:
        label = self.label
        return Label(
            label.id,
            label.originator,
            classification or label.classification,
            label.releasable_to,
            label.topics,
        )

    def to_json(self) -> dict[str, Any]:
        markings = [g.marking for g in self.grants] + [r.marking for r in self.releases]
        return {
            "format": "gsomia-sealed-item",
            "version": 1,
            "digest": self.digest.hex(),
            "originator": self.label.originator,
            "label": self.label.to_json(),
            "classification": self.classification,
            "equivalent_labels": markings,
            "signed_by": {"party": self.label.originator, "key": self.item.signature.key_id},
            "batch": {"size": self.item.signature.size, "index": self.item.signature.index},
            "recipients": [{"party": w.recipient, "key": w.recipient_key} for w in self.wraps],
            "grants": [g.to_json() for g in self.grants],
            "releases": [r.to_json() for r in self.releases],
            "notices": [n.to_json() for n in self.notices],
            "content_bytes": len(self.core.ciphertext) - 16,
            "checked_against_scenario": self.scenario,
            "signatures_hold": True,
        }


# ---------------------------------------------------------------- verifying


def _json_object(raw: bytes, fields: frozenset[str], what: str) -> dict[str, Any]:
    doc = parse_json_bytes(raw, where=what)
    if not isinstance(doc, dict) or set(doc) != fields:
        raise BadInput(f"{what}: expected exactly the fields {sorted(fields)}")
    if canonical_json(doc) != raw:
        raise BadInput(f"{what}: not in canonical form")
    return doc


_RELEASE_FIELDS = frozenset(
    (
        "type",
        "item_digest",
        "prev",
        "holder",
        "recipient",
        "at",
        "agreements",
        "marking",
        "standing_consent",
    )
)
_NOTICE_FIELDS = frozenset(("type", "item_digest", "prev", "originator", "classification", "at"))
_CONSENT_FIELDS = frozenset(
    ("type", "item", "item_digest", "originator", "recipient", "granted_at", "expires_at")
)


class Verifier:
    """Verifies sealed items, consents and chains of releases against trusted keys."""

    def __init__(self, trust: Trust, *, scenario: Scenario | None = None) -> None:
        self._checker = SignatureChecker(trust)
        self._scenario = scenario
        self._wrap_prefixes: WrapPrefixes = {}
        self._grants: dict[bytes, tuple[Grant, ...]] = {}

    @property
    def scenario(self) -> Scenario | None:
        return self._scenario

    def check_signature(self, sig: BatchSignature, leaf: bytes, *, signer: str, what: str) -> None:
        self._checker.check(sig, leaf, signer=signer, what=what)

    def verify(self, raw: bytes) -> VerifiedItem:
        """The verified view of a sealed item; BadInput if malformed, VerificationFailed if a
        signature, a chain link, a consent or (with a scenario) a decision does not hold."""
        item = Item.decode(raw)
        digest = item.digest()
        core = Core.decode(item.core, "sealed item: core")
        label = SealedLabel.decode(core.label, "sealed item: label")
        self._checker.check(item.signature, digest, signer=label.originator, what="sealed item")
        prefixes = self._wrap_prefixes
        wraps = tuple(
            Wrap.decode(w, f"sealed item: wrap {i}", prefixes) for i, w in enumerate(core.wraps)
        )
        grants = self._decode_grants(core.grants)
        if not wraps or wraps[0].recipient != label.originator:
            raise VerificationFailed("sealed item: the first wrap must be the originator's")
        if [w.recipient for w in wraps[1:]] != [g.party for g in grants]:
            raise VerificationFailed("sealed item: the wraps and the grants name other parties")
        holders = [label.originator]
        for i, wrap in enumerate(wraps):
            if wrap.sender != label.originator:
                raise VerificationFailed(f"sealed item: wrap {i} was not made by the originator")
            if i and (wrap.recipient in holders or wrap.recipient not in label.releasable_to):
                raise VerificationFailed(f"sealed item: wrap {i} is for a party it may not reach")
            if i:
                holders.append(wrap.recipient)
        classification = label.classification
        if self._scenario is not None:
            self._check_policy(label)
            for grant in grants:
                self._check_decision(
                    label,
                    classification=classification,
                    holder=label.originator,
                    recipient=grant.party,
                    at=grant.at,
                    agreements=grant.agreements,
                    marking=grant.marking,
                    consents=(),
                    what=f"grant to {grant.party}",
                )
        releases: list[ReleaseView] = []
        notices: list[NoticeView] = []
        record_wraps: list[Wrap | None] = []
        prev = ZERO_DIGEST
        for n, record in enumerate(item.records):
            what = f"record {n}"
            if record.kind == KIND_RELEASE:
                view, wrap = self._release(
                    record, label=label, digest=digest, prev=prev, holders=holders, what=what
                )
                if self._scenario is not None:
                    consents = () if view.consent is None else (view.consent.to_domain(),)
                    self._check_decision(
                        label,
                        classification=classification,
                        holder=view.holder,
                        recipient=view.recipient,
                        at=view.at,
                        agreements=view.agreements,
                        marking=view.marking,
                        consents=consents,
                        what=what,
                    )
                releases.append(view)
                record_wraps.append(wrap)
                holders.append(view.recipient)
            else:
                notice = self._notice(record, label, digest, prev, what)
                if self._scenario is not None:
                    self._scenario.policy(label.originator).level(notice.classification)
                classification = notice.classification
                notices.append(notice)
                record_wraps.append(None)
            prev = record.digest()
        return VerifiedItem(
            item=item,
            digest=digest,
            label=label,
            core=core,
            wraps=wraps,
            grants=grants,
            releases=tuple(releases),
            notices=tuple(notices),
            scenario=None if self._scenario is None else self._scenario.name,
            record_wraps=tuple(record_wraps),
        )

    def _decode_grants(self, raw: bytes) -> tuple[Grant, ...]:
        """The grants of an item (the same bytes often recur across a batch: cached)."""
        cached = self._grants.get(raw)
        if cached is not None:
            return cached
        doc = parse_json_bytes(raw, where="sealed item: grants")
        if not isinstance(doc, list) or canonical_json(doc) != raw:
            raise BadInput("sealed item: grants must be a canonical JSON list")
        grants = tuple(
            Grant.from_json(g, where=f"sealed item: grant {i}") for i, g in enumerate(doc)
        )
        if len(self._grants) >= 1024:
            self._grants.clear()
        self._grants[raw] = grants
        return grants

    def _check_policy(self, label: SealedLabel) -> None:
        if self._scenario is None:
            return
        policy = self._scenario.policy(label.originator)
        if label.policy != policy.policy_id:
            raise VerificationFailed(
                f"sealed item: policy {label.policy!r} is not {label.originator}'s "
                f"({policy.policy_id!r})"
            )
        if policy.level(label.classification).id != label.classification:
            raise VerificationFailed("sealed item: the classification is not a level id")

    def _check_decision(
        self,
        label: SealedLabel,
        *,
        classification: str,
        holder: str,
        recipient: str,
        at: datetime,
        agreements: tuple[str, ...],
        marking: dict[str, Any],
        consents: Iterable[Consent],
        what: str,
    ) -> None:
        if self._scenario is None:
            return
        domain_label = Label(
            label.id, label.originator, classification, label.releasable_to, label.topics
        )
        decision = decide(
            self._scenario,
            domain_label,
            holder=holder,
            recipient=recipient,
            at=at,
            consents=consents,
        )
        if not decision.allowed:
            raise VerificationFailed(
                f"{what}: {holder} to {recipient} at {format_instant(at)} is not allowed in "
                f"scenario {self._scenario.name}: {'; '.join(decision.reasons)}"
            )
        if not set(agreements) <= set(decision.agreements) or not agreements:
            raise VerificationFailed(f"{what}: names agreements that do not allow it")
        if decision.recipient_marking is None or decision.recipient_marking.to_json() != marking:
            raise VerificationFailed(f"{what}: the recipient's marking is not the equivalent one")

    def _release(
        self,
        record: Record,
        *,
        label: SealedLabel,
        digest: bytes,
        prev: bytes,
        holders: list[str],
        what: str,
    ) -> tuple[ReleaseView, Wrap]:
        body = _json_object(record.body, _RELEASE_FIELDS, f"{what}: body")
        if body["type"] != "release" or body["item_digest"] != digest.hex():
            raise VerificationFailed(f"{what}: not a release of this item")
        if body["prev"] != prev.hex():
            raise VerificationFailed(f"{what}: out of order in the chain of records")
        holder, recipient = body["holder"], body["recipient"]
        if not isinstance(holder, str) or not isinstance(recipient, str):
            raise BadInput(f"{what}: holder and recipient must be party codes")
        self._checker.check(record.signature, record.digest(), signer=holder, what=what)
        if holder not in holders:
            raise VerificationFailed(f"{what}: {holder} did not hold the item")
        if recipient in holders or recipient not in label.releasable_to:
            raise VerificationFailed(f"{what}: {recipient} may not receive the item")
        at = parse_instant(body["at"], f"{what}: at")
        if at < label.created:
            raise VerificationFailed(f"{what}: released before the item was created")
        agreements = body["agreements"]
        if not isinstance(agreements, list) or not all(isinstance(a, str) for a in agreements):
            raise BadInput(f"{what}: agreements must be a list of ids")
        marking = body["marking"]
        if not isinstance(marking, dict) or marking.get("originator") != label.originator:
            raise VerificationFailed(f"{what}: the marking must name the originator")
        if marking.get("party") != recipient:
            raise VerificationFailed(f"{what}: the marking is not the recipient's")
        standing = body["standing_consent"]
        if standing is not None and not isinstance(standing, str):
            raise BadInput(f"{what}: standing_consent must be an id or null")
        wrap = Wrap.decode(record.wrap, f"{what}: wrap", self._wrap_prefixes)
        if wrap.recipient != recipient or wrap.sender != holder:
            raise VerificationFailed(f"{what}: the wrap is not from {holder} to {recipient}")
        consent: ConsentView | None = None
        if record.consent:
            consent = self.verify_consent(record.consent, label=label, digest=digest)
            if consent.recipient != recipient or not (
                consent.granted_at <= at and (consent.expires_at is None or at < consent.expires_at)
            ):
                raise VerificationFailed(
                    f"{what}: the consent does not cover {recipient} at {format_instant(at)}"
                )
        if holder != label.originator:
            if consent is None and standing is None:
                raise VerificationFailed(
                    f"{what}: {holder} released {label.originator}'s item without its consent"
                )
            if consent is None and self._scenario is None:
                raise VerificationFailed(
                    f"{what}: a standing consent ({standing}) can only be checked with a scenario"
                )
            if consent is None and self._scenario is not None:
                found = self._scenario.standing_consent(
                    label.topics, among={label.originator, holder, recipient}, at=at
                )
                if found != standing:
                    raise VerificationFailed(f"{what}: no standing consent {standing!r} at {at}")
        view = ReleaseView(
            holder=holder,
            recipient=recipient,
            at=at,
            agreements=tuple(agreements),
            marking=marking,
            standing_consent=standing,
            consent=consent,
            signer_key=record.signature.key_id,
        )
        return view, wrap

    def _notice(
        self, record: Record, label: SealedLabel, digest: bytes, prev: bytes, what: str
    ) -> NoticeView:
        body = _json_object(record.body, _NOTICE_FIELDS, f"{what}: body")
        if body["type"] != "classification-change" or body["item_digest"] != digest.hex():
            raise VerificationFailed(f"{what}: not a classification notice for this item")
        if body["prev"] != prev.hex():
            raise VerificationFailed(f"{what}: out of order in the chain of records")
        if body["originator"] != label.originator or record.wrap or record.consent:
            raise VerificationFailed(f"{what}: only the originator changes the classification")
        self._checker.check(record.signature, record.digest(), signer=label.originator, what=what)
        classification = body["classification"]
        if not isinstance(classification, str) or not classification:
            raise BadInput(f"{what}: classification must be a level id")
        return NoticeView(
            classification, parse_instant(body["at"], f"{what}: at"), record.signature.key_id
        )

    def verify_consent(self, raw: bytes, *, label: SealedLabel, digest: bytes) -> ConsentView:
        """A consent token, checked against the item it must be for."""
        token = SignedObject.decode(raw, "consent")
        body = _json_object(token.body, _CONSENT_FIELDS, "consent: body")
        self._checker.check(
            token.signature, token.digest(), signer=label.originator, what="consent"
        )
        if (
            body["type"] != "consent"
            or body["item"] != label.id
            or body["item_digest"] != digest.hex()
            or body["originator"] != label.originator
        ):
            raise VerificationFailed("consent: given for another item")
        recipient = body["recipient"]
        if not isinstance(recipient, str):
            raise BadInput("consent: recipient must be a party code")
        expires = body["expires_at"]
        view = ConsentView(
            item=label.id,
            item_digest=digest,
            originator=label.originator,
            recipient=recipient,
            granted_at=parse_instant(body["granted_at"], "consent: granted_at"),
            expires_at=None if expires is None else parse_instant(expires, "consent: expires_at"),
            signer_key=token.signature.key_id,
        )
        if view.expires_at is not None and view.expires_at <= view.granted_at:
            raise VerificationFailed("consent: expires before it is granted")
        return view


# ---------------------------------------------------------------- opening


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


# ---------------------------------------------------------------- releases, consents, notices


def append_release(
    keyring: KeyRing,
    opener: Opener,
    verified: VerifiedItem,
    *,
    recipient: str,
    at: datetime,
    agreements: Sequence[str],
    marking: dict[str, Any],
    standing_consent: str | None,
    consent: bytes | None,
    channels: ChannelCache | None = None,
) -> bytes:
    """The item with a release record by this party to ``recipient`` appended."""
    holder = keyring.party
    data_key = opener.data_key(verified)
    cache = channels if channels is not None else ChannelCache(keyring)
    wrap = _wrap_with(cache.channel(recipient, at), data_key, verified.core.nonce)
    prev = verified.item.records[-1].digest() if verified.item.records else ZERO_DIGEST
    body = canonical_json(
        {
            "type": "release",
            "item_digest": verified.digest.hex(),
            "prev": prev.hex(),
            "holder": holder,
            "recipient": recipient,
            "at": format_instant(at),
            "agreements": list(agreements),
            "marking": marking,
            "standing_consent": standing_consent,
        }
    )
    consent_bytes = consent or b""
    leaf = record_digest(KIND_RELEASE, body, wrap, consent_bytes)
    signature = sign_batch(holder, keyring.current, [leaf])[0]
    record = Record(KIND_RELEASE, body, wrap, consent_bytes, signature)
    item = verified.item
    return Item(item.core, item.signature, (*item.records, record)).encode()


def append_notice(
    keyring: KeyRing, verified: VerifiedItem, *, classification: str, at: datetime
) -> bytes:
    """The item with the originator's classification-change notice appended (Art. 6(g))."""
    if keyring.party != verified.label.originator:
        raise BadInput(
            f"only the originator ({verified.label.originator}) changes the classification"
        )
    prev = verified.item.records[-1].digest() if verified.item.records else ZERO_DIGEST
    body = canonical_json(
        {
            "type": "classification-change",
            "item_digest": verified.digest.hex(),
            "prev": prev.hex(),
            "originator": keyring.party,
            "classification": classification,
            "at": format_instant(at),
        }
    )
    signature = sign_batch(
        keyring.party, keyring.current, [record_digest(KIND_NOTICE, body, b"", b"")]
    )[0]
    record = Record(KIND_NOTICE, body, b"", b"", signature)
    item = verified.item
    return Item(item.core, item.signature, (*item.records, record)).encode()


def make_consent(
    keyring: KeyRing,
    verified: VerifiedItem,
    *,
    recipient: str,
    granted_at: datetime,
    expires_at: datetime | None,
) -> bytes:
    """The originator's signed consent to ``verified`` going to ``recipient``."""
    if keyring.party != verified.label.originator:
        raise BadInput(f"only the originator ({verified.label.originator}) grants consent")
    if expires_at is not None and expires_at <= granted_at:
        raise BadInput("the consent would expire before it is granted")
    body = canonical_json(
        {
            "type": "consent",
            "item": verified.label.id,
            "item_digest": verified.digest.hex(),
            "originator": keyring.party,
            "recipient": recipient,
            "granted_at": format_instant(granted_at),
            "expires_at": None if expires_at is None else format_instant(expires_at),
        }
    )
    signature = sign_batch(keyring.party, keyring.current, [consent_digest(body)])[0]
    return SignedObject(CONSENT_MAGIC, body, signature).encode()
