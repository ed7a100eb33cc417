"""The steps of verifying a sealed item: each one function that checks one thing.

``gsomia.seal.verify.Verifier`` runs them in order; its docstring lists them with their
numbers. A step marks every failure it raises with its number and what it checks
("step R6 (the holder held the item): record 0: JPN did not hold the item"); malformed bytes
stay ``BadInput``, a check that does not hold is ``VerificationFailed``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from gsomia.domain.consents import Consent
from gsomia.domain.instants import format_instant, parse_instant
from gsomia.domain.labels import Label
from gsomia.domain.release import Decision, decide
from gsomia.domain.scenario import Scenario
from gsomia.errors import BadInput, VerificationFailed
from gsomia.seal.batch import BatchSignature, SignatureChecker
from gsomia.seal.canonical import canonical_json, parse_json_bytes
from gsomia.seal.item import Core, Item, Record, SealedLabel, SignedObject, Wrap, WrapPrefixes
from gsomia.seal.records import (
    CONSENT_FIELDS,
    NOTICE_FIELDS,
    RELEASE_FIELDS,
    SOURCE_CONSENT_FIELDS,
)
from gsomia.seal.views import ConsentView, NoticeView

P = ParamSpec("P")
T = TypeVar("T")


def step(number: str, title: str) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Mark ``check`` as step ``number``: every failure it raises names the step."""
    prefix = f"step {number} ({title})"

    def mark(check: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(check)
        def run(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return check(*args, **kwargs)
            except BadInput as exc:
                raise BadInput(f"{prefix}: {exc}") from exc
            except VerificationFailed as exc:
                raise VerificationFailed(f"{prefix}: {exc}") from exc

        return run

    return mark


def json_object(raw: bytes, fields: frozenset[str], what: str) -> dict[str, Any]:
    """A canonical JSON object with exactly ``fields`` (BadInput otherwise)."""
    doc = parse_json_bytes(raw, where=what)
    if not isinstance(doc, dict) or set(doc) != fields:
        raise BadInput(f"{what}: expected exactly the fields {sorted(fields)}")
    if canonical_json(doc) != raw:
        raise BadInput(f"{what}: not in canonical form")
    return doc


def _signed(
    checker: SignatureChecker, signature: BatchSignature, leaf: bytes, signer: str, what: str
) -> None:
    checker.check(signature, leaf, signer=signer, what=what)


# ---------------------------------------------------------------- the item


@step("1", "the item decodes")
def decode_item(raw: bytes) -> tuple[Item, Core, SealedLabel]:
    item = Item.decode(raw)
    core = Core.decode(item.core, "sealed item: core")
    return item, core, SealedLabel.decode(core.label, "sealed item: label")


originator_signed_item = step("2", "the originator signed the item")(_signed)


@step("3", "the wraps decode")
def decode_wraps(core: Core, prefixes: WrapPrefixes) -> tuple[Wrap, ...]:
    return tuple(
        Wrap.decode(w, f"sealed item: wrap {i}", prefixes) for i, w in enumerate(core.wraps)
    )


@step("5", "the first wrap is the originator's")
def originator_wrap_first(wraps: tuple[Wrap, ...], label: SealedLabel) -> None:
    if not wraps or wraps[0].recipient != label.originator:
        raise VerificationFailed("sealed item: the first wrap must be the originator's")


@step("6", "the other wraps are for the granted parties")
def wraps_follow_grants(wraps: tuple[Wrap, ...], parties: list[str]) -> None:
    if [w.recipient for w in wraps[1:]] != parties:
        raise VerificationFailed("sealed item: the wraps and the grants name other parties")


@step("7", "the originator wrapped for each party once, as the label allows")
def wraps_reach_allowed_parties(wraps: tuple[Wrap, ...], label: SealedLabel) -> list[str]:
    """The holders of the item as sealed: the originator, then each granted party."""
    holders = [label.originator]
    for i, wrap in enumerate(wraps):
        if wrap.sender != label.originator:
            raise VerificationFailed(f"sealed item: wrap {i} was not made by the originator")
        if i and (wrap.recipient in holders or wrap.recipient not in label.releasable_to):
            raise VerificationFailed(f"sealed item: wrap {i} is for a party it may not reach")
        if i:
            holders.append(wrap.recipient)
    return holders


@step("8", "the label names the originator's policy")
def label_policy(scenario: Scenario, label: SealedLabel) -> None:
    policy = scenario.policy(label.originator)
    if label.policy != policy.policy_id:
        raise VerificationFailed(
            f"sealed item: policy {label.policy!r} is not {label.originator}'s "
            f"({policy.policy_id!r})"
        )


@step("9", "the classification is a level of that policy")
def label_level(scenario: Scenario, label: SealedLabel) -> None:
    if scenario.policy(label.originator).level(label.classification).id != label.classification:
        raise VerificationFailed("sealed item: the classification is not a level id")


# ---------------------------------------------------------------- decisions


@step("D1", "the rules allow it")
def decision_allows(
    scenario: Scenario,
    label: Label,
    *,
    holder: str,
    recipient: str,
    at: datetime,
    consents: Iterable[Consent],
    what: str,
) -> Decision:
    decision = decide(scenario, label, holder=holder, recipient=recipient, at=at, consents=consents)
    if not decision.allowed:
        raise VerificationFailed(
            f"{what}: {holder} to {recipient} at {format_instant(at)} is not allowed in "
            f"scenario {scenario.name}: {'; '.join(decision.reasons)}"
        )
    return decision


@step("D2", "the agreements named allow it")
def agreements_allow(decision: Decision, agreements: tuple[str, ...], what: str) -> None:
    if not set(agreements) <= set(decision.agreements) or not agreements:
        raise VerificationFailed(f"{what}: names agreements that do not allow it")


@step("D3", "the marking is the recipient's equivalent")
def marking_equivalent(decision: Decision, marking: dict[str, Any], what: str) -> None:
    if decision.recipient_marking is None or decision.recipient_marking.to_json() != marking:
        raise VerificationFailed(f"{what}: the recipient's marking is not the equivalent one")


# ---------------------------------------------------------------- release records


@step("R1", "the body has the release fields")
def release_body(record: Record, what: str) -> dict[str, Any]:
    return json_object(record.body, RELEASE_FIELDS, f"{what}: body")


@step("R2", "a release of this item")
def release_of_item(body: dict[str, Any], digest: bytes, what: str) -> None:
    if body["type"] != "release" or body["item_digest"] != digest.hex():
        raise VerificationFailed(f"{what}: not a release of this item")


def _linked(body: dict[str, Any], prev: bytes, what: str) -> None:
    if body["prev"] != prev.hex():
        raise VerificationFailed(f"{what}: out of order in the chain of records")


release_linked = step("R3", "linked to the record before")(_linked)


@step("R4", "holder and recipient are party codes")
def release_parties(body: dict[str, Any], what: str) -> tuple[str, str]:
    holder, recipient = body["holder"], body["recipient"]
    if not isinstance(holder, str) or not isinstance(recipient, str):
        raise BadInput(f"{what}: holder and recipient must be party codes")
    return holder, recipient


holder_signed_release = step("R5", "the holder signed it")(_signed)


@step("R6", "the holder held the item")
def holder_held(holder: str, holders: list[str], what: str) -> None:
    if holder not in holders:
        raise VerificationFailed(f"{what}: {holder} did not hold the item")


@step("R7", "the recipient may receive the item")
def recipient_may_receive(
    recipient: str, holders: list[str], label: SealedLabel, what: str
) -> None:
    if recipient in holders or recipient not in label.releasable_to:
        raise VerificationFailed(f"{what}: {recipient} may not receive the item")


@step("R8", "released after the item was created")
def released_after_creation(body: dict[str, Any], label: SealedLabel, what: str) -> datetime:
    at = parse_instant(body["at"], f"{what}: at")
    if at < label.created:
        raise VerificationFailed(f"{what}: released before the item was created")
    return at


@step("R9", "the agreements are a list of ids")
def release_agreements(body: dict[str, Any], what: str) -> tuple[str, ...]:
    agreements = body["agreements"]
    if not isinstance(agreements, list) or not all(isinstance(a, str) for a in agreements):
        raise BadInput(f"{what}: agreements must be a list of ids")
    return tuple(agreements)


@step("R10", "the marking names the originator")
def marking_names_originator(body: dict[str, Any], label: SealedLabel, what: str) -> None:
    marking = body["marking"]
    if not isinstance(marking, dict) or marking.get("originator") != label.originator:
        raise VerificationFailed(f"{what}: the marking must name the originator")


@step("R11", "the marking is the recipient's")
def marking_for_recipient(body: dict[str, Any], recipient: str, what: str) -> dict[str, Any]:
    marking: dict[str, Any] = body["marking"]
    if marking.get("party") != recipient:
        raise VerificationFailed(f"{what}: the marking is not the recipient's")
    return marking


@step("R12", "the standing consent is an id or null")
def release_standing(body: dict[str, Any], what: str) -> str | None:
    standing = body["standing_consent"]
    if standing is not None and not isinstance(standing, str):
        raise BadInput(f"{what}: standing_consent must be an id or null")
    return standing


@step("R13", "the wrap is from the holder to the recipient")
def release_wrap(
    record: Record, prefixes: WrapPrefixes, holder: str, recipient: str, what: str
) -> Wrap:
    wrap = Wrap.decode(record.wrap, f"{what}: wrap", prefixes)
    if wrap.recipient != recipient or wrap.sender != holder:
        raise VerificationFailed(f"{what}: the wrap is not from {holder} to {recipient}")
    return wrap


@step("R14", "the consent covers the recipient at the time")
def consent_covers(consent: ConsentView, recipient: str, at: datetime, what: str) -> None:
    if consent.recipient != recipient or not (
        consent.granted_at <= at and (consent.expires_at is None or at < consent.expires_at)
    ):
        raise VerificationFailed(
            f"{what}: the consent does not cover {recipient} at {format_instant(at)}"
        )


@step("R15", "a holder who is not the originator has its consent")
def consent_present(label: SealedLabel, holder: str, standing: str | None, what: str) -> None:
    if standing is None:
        raise VerificationFailed(
            f"{what}: {holder} released {label.originator}'s item without its consent"
        )


@step("R16", "a standing consent is checked in a scenario")
def standing_checkable(scenario: Scenario | None, standing: str | None, what: str) -> Scenario:
    if scenario is None:
        raise VerificationFailed(
            f"{what}: a standing consent ({standing}) can only be checked with a scenario"
        )
    return scenario


@step("R17", "the scenario holds the standing consent")
def standing_holds(
    scenario: Scenario,
    label: SealedLabel,
    *,
    holder: str,
    recipient: str,
    at: datetime,
    standing: str | None,
    what: str,
) -> None:
    found = scenario.standing_consent(
        label.topics, among={label.originator, holder, recipient}, at=at
    )
    if found != standing:
        raise VerificationFailed(f"{what}: no standing consent {standing!r} at {at}")


# ---------------------------------------------------------------- classification notices


@step("N1", "the body has the notice fields")
def notice_body(record: Record, what: str) -> dict[str, Any]:
    return json_object(record.body, NOTICE_FIELDS, f"{what}: body")


@step("N2", "a notice for this item")
def notice_of_item(body: dict[str, Any], digest: bytes, what: str) -> None:
    if body["type"] != "classification-change" or body["item_digest"] != digest.hex():
        raise VerificationFailed(f"{what}: not a classification notice for this item")


notice_linked = step("N3", "linked to the record before")(_linked)


@step("N4", "the originator's notice, with no wrap and no consent")
def notice_by_originator(
    body: dict[str, Any], record: Record, label: SealedLabel, what: str
) -> None:
    if body["originator"] != label.originator or record.wrap or record.consent:
        raise VerificationFailed(f"{what}: only the originator changes the classification")


originator_signed_notice = step("N5", "the originator signed it")(_signed)


@step("N6", "the classification is a level id, the time an instant")
def notice_view(body: dict[str, Any], record: Record, what: str) -> NoticeView:
    classification = body["classification"]
    if not isinstance(classification, str) or not classification:
        raise BadInput(f"{what}: classification must be a level id")
    return NoticeView(
        classification, parse_instant(body["at"], f"{what}: at"), record.signature.key_id
    )


@step("N7", "the classification is a level of the originator's policy")
def notice_level(scenario: Scenario, label: SealedLabel, notice: NoticeView) -> None:
    scenario.policy(label.originator).level(notice.classification)


# ---------------------------------------------------------------- consent tokens


@step("C1", "the consent decodes")
def decode_consent(raw: bytes) -> tuple[SignedObject, dict[str, Any]]:
    token = SignedObject.decode(raw, "consent")
    doc = parse_json_bytes(token.body, where="consent: body")
    fields = SOURCE_CONSENT_FIELDS if isinstance(doc, dict) and "source" in doc else CONSENT_FIELDS
    return token, json_object(token.body, fields, "consent: body")


@step("C2a", "the consent is the item's originator's or a source originator's")
def consent_signer(body: dict[str, Any], label: SealedLabel) -> tuple[str, str | None]:
    """Who must have signed it: the item's originator, or (DOMAIN.md §7.6) the originator of
    the derived item's source it names; and that source, if any."""
    source = body.get("source")
    if source is None:
        return label.originator, None
    named = next((s for s in label.derived_from if s.item == source), None)
    if named is None or body["originator"] != named.originator:
        raise VerificationFailed("consent: given for another item")
    return named.originator, named.item


originator_signed_consent = step("C2", "the originator signed the consent")(_signed)


@step("C3", "the consent is for this item")
def consent_for_item(body: dict[str, Any], label: SealedLabel, digest: bytes, signer: str) -> None:
    if (
        body["type"] != "consent"
        or body["item"] != label.id
        or body["item_digest"] != digest.hex()
        or body["originator"] != signer
    ):
        raise VerificationFailed("consent: given for another item")


@step("C4", "the consent names a recipient")
def consent_recipient(body: dict[str, Any]) -> str:
    recipient = body["recipient"]
    if not isinstance(recipient, str):
        raise BadInput("consent: recipient must be a party code")
    return recipient


@step("C5", "the consent expires after it is granted")
def consent_times(body: dict[str, Any]) -> tuple[datetime, datetime | None]:
    granted = parse_instant(body["granted_at"], "consent: granted_at")
    expires = body["expires_at"]
    expires_at = None if expires is None else parse_instant(expires, "consent: expires_at")
    if expires_at is not None and expires_at <= granted:
        raise VerificationFailed("consent: expires before it is granted")
    return granted, expires_at
