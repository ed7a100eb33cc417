"""What a sealed item says once verified: its grants, and the views of its releases, notices
and consents (``VerifiedItem`` and the views inside it); plain values, no checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gsomia.domain.consents import Consent
from gsomia.domain.instants import format_instant, parse_instant
from gsomia.domain.labels import Label
from gsomia.errors import BadInput
from gsomia.seal.item import Core, Item, SealedLabel, Wrap


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
class ConsentView:
    item: str
    item_digest: bytes
    originator: str
    recipient: str
    granted_at: datetime
    expires_at: datetime | None
    signer_key: str
    source: str | None = None  # a source originator's consent to a derived item (§7.6)

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
            **({} if self.source is None else {"source": self.source}),
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
        return self.label.domain(classification or self.label.classification)

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
