"""The sealing use cases the commands call: seal, open, verify, release, consent, reclassify.

Each takes the party's ``KeyRing``, the scenario the decisions are made in, and the instant as
an argument (never the wall clock).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gsomia.domain.consents import Consent
from gsomia.domain.instants import format_instant
from gsomia.domain.labels import Label
from gsomia.domain.release import Decision, decide
from gsomia.domain.scenario import Scenario
from gsomia.errors import BadInput, VerificationFailed
from gsomia.seal.batch import Trust
from gsomia.seal.item import Item, SealedLabel
from gsomia.seal.keys import KeyRing, check_party
from gsomia.seal.opener import Audit, Opener
from gsomia.seal.records import append_notice, append_release, make_consent
from gsomia.seal.sealer import Sealer, SealRequest
from gsomia.seal.verify import Verifier
from gsomia.seal.views import Grant, VerifiedItem


def sealed_label(scenario: Scenario, label: Label, created: datetime) -> SealedLabel:
    return SealedLabel(
        policy=scenario.policy(label.originator).policy_id,
        id=label.id,
        originator=label.originator,
        classification=label.classification,
        releasable_to=label.releasable_to,
        topics=label.topics,
        created=created,
        purposes=label.purposes,
        retain_until=label.retain_until,
        derived_from=label.derived_from,
    )


def grants_for(
    scenario: Scenario, label: Label, recipients: Sequence[str], at: datetime
) -> tuple[Grant, ...]:
    """The originator's decision for each recipient; ``Denied`` with the reasons if any fails."""
    grants = []
    for recipient in dict.fromkeys(recipients):
        check_party(recipient, where="--for")
        if recipient == label.originator:
            continue
        decision = decide(scenario, label, holder=label.originator, recipient=recipient, at=at)
        decision.require()
        if decision.recipient_marking is None:
            raise VerificationFailed(f"the decision for {recipient} gives no marking")
        grants.append(
            Grant(recipient, decision.agreements, at, decision.recipient_marking.to_json())
        )
    return tuple(grants)


def seal_content(
    keyring: KeyRing,
    scenario: Scenario,
    *,
    content: bytes,
    label_doc: object,
    recipients: Sequence[str],
    created: datetime,
    where: str = "label",
) -> bytes:
    """Seal ``content`` under ``label_doc`` for ``recipients`` (each decided at ``created``)."""
    label = Label.from_json(label_doc, where=where, scenario=scenario)
    if label.originator != keyring.party:
        raise BadInput(
            f"{where}: originator {label.originator} is not this home's party {keyring.party}"
        )
    grants = grants_for(scenario, label, recipients, created)
    request = SealRequest(content, sealed_label(scenario, label, created), grants)
    return Sealer(keyring).seal(request)


def verify_item(trust: Trust, scenario: Scenario | None, raw: bytes) -> VerifiedItem:
    return Verifier(trust, scenario=scenario).verify(raw)


def item_digest_hex(raw: bytes) -> str:
    return Item.decode(raw).digest().hex()


def open_item(
    keyring: KeyRing, scenario: Scenario | None, raw: bytes, *, audit: Audit | None
) -> bytes:
    opener = Opener(keyring, Verifier(keyring, scenario=scenario), audit=audit)
    return opener.open(raw)


@dataclass(frozen=True, slots=True)
class Released:
    item: bytes
    decision: Decision
    verified: VerifiedItem

    def to_json(self) -> dict[str, Any]:
        return {"decision": self.decision.to_json(), "item": self.verified.to_json()}


def release_item(
    keyring: KeyRing,
    scenario: Scenario,
    raw: bytes,
    *,
    recipient: str,
    at: datetime,
    consent: bytes | None = None,
    audit: Audit | None = None,
) -> Released:
    """Decide with the engine; ``Denied`` with its reasons, else append the wrap and record."""
    check_party(recipient, where="--to")
    verifier = Verifier(keyring, scenario=scenario)
    verified = verifier.verify(raw)
    holder = keyring.party
    label = verified.domain_label(verified.classification)
    consents: tuple[Consent, ...] = ()
    if consent is not None:
        view = verifier.verify_consent(consent, label=verified.label, digest=verified.digest)
        if view.recipient != recipient:
            raise VerificationFailed(f"consent: given for {view.recipient}, not for {recipient}")
        consents = (view.to_domain(),)
    if at < verified.label.created:
        raise BadInput(
            f"--at {format_instant(at)}: before the item was created "
            f"({format_instant(verified.label.created)})"
        )
    if recipient in verified.holders():
        raise BadInput(f"{recipient} already holds the item")
    decision = decide(scenario, label, holder=holder, recipient=recipient, at=at, consents=consents)
    decision.require()
    if decision.recipient_marking is None:
        raise VerificationFailed("the decision gives no marking for the recipient")
    standing = None
    if holder != label.originator and not consents:
        standing = scenario.standing_consent(
            label.topics, among={label.originator, holder, recipient}, at=at
        )
    opener = Opener(keyring, verifier, audit=audit)
    item = append_release(
        keyring,
        opener,
        verified,
        recipient=recipient,
        at=at,
        agreements=decision.agreements,
        marking=decision.recipient_marking.to_json(),
        standing_consent=standing,
        consent=consent if consents else None,
    )
    return Released(item, decision, verifier.verify(item))


def grant_consent(
    keyring: KeyRing,
    scenario: Scenario | None,
    raw: bytes,
    *,
    recipient: str,
    granted_at: datetime,
    expires_at: datetime | None,
) -> bytes:
    check_party(recipient, where="--to")
    verified = Verifier(keyring, scenario=scenario).verify(raw)
    return make_consent(
        keyring, verified, recipient=recipient, granted_at=granted_at, expires_at=expires_at
    )


def reclassify_item(
    keyring: KeyRing, scenario: Scenario, raw: bytes, *, classification: str, at: datetime
) -> bytes:
    verifier = Verifier(keyring, scenario=scenario)
    verified = verifier.verify(raw)
    level = scenario.policy(verified.label.originator).level(classification)
    item = append_notice(keyring, verified, classification=level.id, at=at)
    verifier.verify(item)
    return item
