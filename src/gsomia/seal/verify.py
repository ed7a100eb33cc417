"""Verifying a sealed item on its own, in numbered steps (the manner of sigstore's ``Verifier``).

``Verifier.verify`` checks the structure, the originator's signature, every release record and
notice in order, and every embedded consent; with a scenario it also re-decides every grant and
release with the engine (``decide``), and a release the rules do not allow is rejected. Each
step is one function in ``gsomia.seal.steps`` and names itself in the failure it raises.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gsomia.domain.consents import Consent
from gsomia.domain.labels import Label
from gsomia.domain.scenario import Scenario
from gsomia.errors import BadInput
from gsomia.seal import steps
from gsomia.seal.batch import BatchSignature, SignatureChecker, Trust
from gsomia.seal.canonical import canonical_json, parse_json_bytes
from gsomia.seal.item import KIND_RELEASE, ZERO_DIGEST, Record, SealedLabel, Wrap, WrapPrefixes
from gsomia.seal.views import ConsentView, Grant, NoticeView, ReleaseView, VerifiedItem


@dataclass(slots=True)
class _Chain:
    """What the records read so far establish about the item."""

    holders: list[str]
    classification: str
    prev: bytes = ZERO_DIGEST
    releases: list[ReleaseView] = field(default_factory=list)
    notices: list[NoticeView] = field(default_factory=list)
    record_wraps: list[Wrap | None] = field(default_factory=list)


class Verifier:
    """Verifies sealed items, consents and chains of releases against trusted keys.

    ``verify`` runs these steps in order; the first that fails ends it.

    The item:
      1. the item, its core and its label decode
      2. the originator signed the item's digest, with a key this party trusts
      3. the wraps decode
      4. the grants decode: a canonical JSON list of grants
      5. the first wrap is the originator's own
      6. the other wraps are for the granted parties, in the grants' order
      7. every wrap was made by the originator, each for a new party the label releases to
      8. (with a scenario) the label names the originator's policy
      9. (with a scenario) the classification is a level of that policy
      10. (with a scenario) every grant is re-decided: D1-D3
      11. every record, in order: a release (R1-R17, then D1-D3 with a scenario) or a
          classification notice (N1-N7)

    A decision (with a scenario, for each grant and release, at its time and classification):
      D1. the rules allow it
      D2. the agreements it names are among those that allow it
      D3. its marking is the recipient's equivalent one

    A release record:
      R1. its body is canonical JSON with exactly the release fields
      R2. it is a release of this item
      R3. it is linked to the record before it (or to none, if first)
      R4. holder and recipient are party codes
      R5. the holder signed it
      R6. the holder held the item
      R7. the recipient does not hold it yet and is among the parties the label releases to
      R8. it was released after the item was created
      R9. its agreements are a list of ids
      R10. its marking names the originator
      R11. its marking is the recipient's
      R12. its standing consent is an id or null
      R13. its wrap is from the holder to the recipient
      R14. an embedded consent passes C1-C5 and covers the recipient at the time
      R15-R17. a holder who is not the originator has its consent: embedded (R14), or a
          standing consent (R15), checked in a scenario (R16) that holds it (R17)

    A classification notice:
      N1. its body is canonical JSON with exactly the notice fields
      N2. it is a notice for this item
      N3. it is linked to the record before it
      N4. it is the originator's, with no wrap and no consent
      N5. the originator signed it
      N6. the classification is a level id, the time an instant
      N7. (with a scenario) the classification is a level of the originator's policy

    A consent token (``verify_consent``):
      C1. it decodes, its body canonical JSON with exactly the consent fields (and
          ``source``, for a source consent)
      C2a. its signer is the item's originator or, for a source consent (DOMAIN.md §7.6),
          the originator of the derived item's source it names
      C2. that originator signed it
      C3. it is for this item: its id, digest and originator
      C4. it names a recipient
      C5. it expires after it is granted
    """

    def __init__(self, trust: Trust, *, scenario: Scenario | None = None) -> None:
        self._checker = SignatureChecker(trust)
        self._scenario = scenario
        self._wrap_prefixes: WrapPrefixes = {}
        self._grants: dict[bytes, tuple[Grant, ...]] = {}

    @property
    def scenario(self) -> Scenario | None:
        return self._scenario

    def use_scenario(self, scenario: Scenario) -> None:
        """Re-decide grants and releases in ``scenario`` from now on (a node's effective
        scenario changes when it gives or receives a diplomatic note)."""
        self._scenario = scenario

    def check_signature(self, sig: BatchSignature, leaf: bytes, *, signer: str, what: str) -> None:
        self._checker.check(sig, leaf, signer=signer, what=what)

    def verify(self, raw: bytes) -> VerifiedItem:
        """The verified view of a sealed item; BadInput if malformed, VerificationFailed if a
        signature, a chain link, a consent or (with a scenario) a decision does not hold."""
        item, core, label = steps.decode_item(raw)
        digest = item.digest()
        steps.originator_signed_item(
            self._checker, item.signature, digest, label.originator, "sealed item"
        )
        wraps = steps.decode_wraps(core, self._wrap_prefixes)
        grants = self._decode_grants(core.grants)
        steps.originator_wrap_first(wraps, label)
        steps.wraps_follow_grants(wraps, [g.party for g in grants])
        holders = steps.wraps_reach_allowed_parties(wraps, label)
        if self._scenario is not None:
            steps.label_policy(self._scenario, label)
            steps.label_level(self._scenario, label)
            for grant in grants:
                self._redecide(
                    self._scenario,
                    _domain_label(label, label.classification),
                    grant,
                    holder=label.originator,
                    recipient=grant.party,
                    consents=(),
                    what=f"grant to {grant.party}",
                )
        chain = _Chain(holders, label.classification)
        for n, record in enumerate(item.records):
            self._record(record, chain, label=label, digest=digest, what=f"record {n}")
        return VerifiedItem(
            item=item,
            digest=digest,
            label=label,
            core=core,
            wraps=wraps,
            grants=grants,
            releases=tuple(chain.releases),
            notices=tuple(chain.notices),
            scenario=None if self._scenario is None else self._scenario.name,
            record_wraps=tuple(chain.record_wraps),
        )

    @steps.step("4", "the grants decode")
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

    @staticmethod
    def _redecide(
        scenario: Scenario,
        label: Label,
        decided: Grant | ReleaseView,
        *,
        holder: str,
        recipient: str,
        consents: tuple[Consent, ...],
        what: str,
    ) -> None:
        """Steps D1-D3: the engine, asked again, allows what the item says was allowed."""
        at = decided.at
        decision = steps.decision_allows(
            scenario, label, holder=holder, recipient=recipient, at=at, consents=consents, what=what
        )
        steps.agreements_allow(decision, decided.agreements, what)
        steps.marking_equivalent(decision, decided.marking, what)

    def _record(
        self, record: Record, chain: _Chain, *, label: SealedLabel, digest: bytes, what: str
    ) -> None:
        """Step 11 for one record: a release or a notice, appended to ``chain``."""
        if record.kind == KIND_RELEASE:
            view, wrap = self._release(record, chain, label=label, digest=digest, what=what)
            if self._scenario is not None:
                self._redecide(
                    self._scenario,
                    _domain_label(label, chain.classification),
                    view,
                    holder=view.holder,
                    recipient=view.recipient,
                    consents=() if view.consent is None else (view.consent.to_domain(),),
                    what=what,
                )
            chain.releases.append(view)
            chain.record_wraps.append(wrap)
            chain.holders.append(view.recipient)
        else:
            notice = self._notice(record, chain.prev, label=label, digest=digest, what=what)
            chain.classification = notice.classification
            chain.notices.append(notice)
            chain.record_wraps.append(None)
        chain.prev = record.digest()

    def _release(
        self, record: Record, chain: _Chain, *, label: SealedLabel, digest: bytes, what: str
    ) -> tuple[ReleaseView, Wrap]:
        """Steps R1-R17 for one release record."""
        body = steps.release_body(record, what)
        steps.release_of_item(body, digest, what)
        steps.release_linked(body, chain.prev, what)
        holder, recipient = steps.release_parties(body, what)
        steps.holder_signed_release(self._checker, record.signature, record.digest(), holder, what)
        steps.holder_held(holder, chain.holders, what)
        steps.recipient_may_receive(recipient, chain.holders, label, what)
        at = steps.released_after_creation(body, label, what)
        agreements = steps.release_agreements(body, what)
        steps.marking_names_originator(body, label, what)
        marking = steps.marking_for_recipient(body, recipient, what)
        standing = steps.release_standing(body, what)
        wrap = steps.release_wrap(record, self._wrap_prefixes, holder, recipient, what)
        consent: ConsentView | None = None
        if record.consent:
            consent = self.verify_consent(record.consent, label=label, digest=digest)
            steps.consent_covers(consent, recipient, at, what)
        if holder != label.originator and (consent is None or consent.source is not None):
            steps.consent_present(label, holder, standing, what)
            scenario = steps.standing_checkable(self._scenario, standing, what)
            steps.standing_holds(
                scenario,
                label,
                holder=holder,
                recipient=recipient,
                at=at,
                standing=standing,
                what=what,
            )
        view = ReleaseView(
            holder=holder,
            recipient=recipient,
            at=at,
            agreements=agreements,
            marking=marking,
            standing_consent=standing,
            consent=consent,
            signer_key=record.signature.key_id,
        )
        return view, wrap

    def _notice(
        self, record: Record, prev: bytes, *, label: SealedLabel, digest: bytes, what: str
    ) -> NoticeView:
        """Steps N1-N7 for one classification notice."""
        body = steps.notice_body(record, what)
        steps.notice_of_item(body, digest, what)
        steps.notice_linked(body, prev, what)
        steps.notice_by_originator(body, record, label, what)
        steps.originator_signed_notice(
            self._checker, record.signature, record.digest(), label.originator, what
        )
        notice = steps.notice_view(body, record, what)
        if self._scenario is not None:
            steps.notice_level(self._scenario, label, notice)
        return notice

    def verify_consent(self, raw: bytes, *, label: SealedLabel, digest: bytes) -> ConsentView:
        """A consent token, checked against the item it must be for (steps C1-C5)."""
        token, body = steps.decode_consent(raw)
        signer, source = steps.consent_signer(body, label)
        steps.originator_signed_consent(
            self._checker, token.signature, token.digest(), signer, "consent"
        )
        steps.consent_for_item(body, label, digest, signer)
        recipient = steps.consent_recipient(body)
        granted_at, expires_at = steps.consent_times(body)
        return ConsentView(
            item=label.id,
            item_digest=digest,
            originator=signer,
            recipient=recipient,
            granted_at=granted_at,
            expires_at=expires_at,
            signer_key=token.signature.key_id,
            source=source,
        )


def _domain_label(label: SealedLabel, classification: str) -> Label:
    return label.domain(classification)
