"""The release decision of DOMAIN.md §5.

``decide`` asks: may HOLDER pass an item with LABEL to RECIPIENT at instant AT? It is deny unless
every rule holds for at least one agreement; it names every agreement that allows it, and for a
deny, the rule that failed for each candidate agreement. The decision is a frozen value that
carries its reasons; ``Decision.explain()`` gives every rule's result for every agreement.

The hot path computes only which rule fails first for each agreement; the words are written when
someone asks for them.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import TYPE_CHECKING, NamedTuple

from gsomia.domain.instants import format_instant, require_aware
from gsomia.domain.parties import Equivalence, Level, Marking
from gsomia.domain.topics import all_within
from gsomia.errors import BadInput, Denied

if TYPE_CHECKING:
    from collections.abc import Iterable

    from gsomia.domain.agreements import Agreement
    from gsomia.domain.consents import Consent
    from gsomia.domain.labels import Label
    from gsomia.domain.scenario import Scenario


class Rule(IntEnum):
    """The rules of DOMAIN.md §5, numbered as there (rule 1, the offset, is checked on input)."""

    IN_FORCE = 2
    PARTIES = 3
    CLASS = 4
    SCOPE = 5
    RELEASABILITY = 6
    CONSENT = 7

    @property
    def title(self) -> str:
        return _RULE_TITLES[self]


_RULE_TITLES = {
    Rule.IN_FORCE: "in force",
    Rule.PARTIES: "parties",
    Rule.CLASS: "class",
    Rule.SCOPE: "scope",
    Rule.RELEASABILITY: "releasability",
    Rule.CONSENT: "consent",
}
_ALL_HOLD = 0


@dataclass(frozen=True, slots=True)
class RuleResult:
    rule: Rule
    holds: bool
    detail: str

    def to_json(self) -> dict[str, object]:
        return {
            "rule": int(self.rule),
            "name": self.rule.title,
            "holds": self.holds,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class AgreementCheck:
    agreement: str
    results: tuple[RuleResult, ...]

    @property
    def allows(self) -> bool:
        return all(r.holds for r in self.results)

    @property
    def first_failure(self) -> RuleResult | None:
        return next((r for r in self.results if not r.holds), None)

    def to_json(self) -> dict[str, object]:
        return {
            "agreement": self.agreement,
            "allows": self.allows,
            "rules": [r.to_json() for r in self.results],
        }


@dataclass(frozen=True, slots=True)
class _Consent:
    """How rule 7 stands for this request (the same for every agreement)."""

    holds: bool
    detail: str
    standing: str | None = None  # the arrangement giving standing consent, if that is the ground


class Decision(NamedTuple):
    """A frozen release decision that carries its reasons (a NamedTuple: cheap and immutable)."""

    allowed: bool
    agreements: tuple[str, ...]
    equivalent: Equivalence | None
    recipient_marking: Marking | None
    item: str
    holder: str
    recipient: str
    at: datetime
    failures: tuple[tuple[str, int], ...]
    context: _Context

    @property
    def reasons(self) -> tuple[str, ...]:
        """Plain words: for an allow, each allowing agreement; for a deny, one per candidate."""
        ctx = self.context
        if self.allowed:
            lines = [
                f"{aid}: allows it ({ctx.allow_summary(ctx.scenario.agreement(aid))})"
                for aid in self.agreements
            ]
            if self.recipient_marking is not None:
                m = self.recipient_marking
                lines.append(
                    f"{m.party} marks it {m.level} ({m.native}), class {m.equivalence.value}, "
                    f"originator {m.originator}"
                )
            return tuple(lines)
        if not ctx.scenario.agreements:
            return (f"no agreement in scenario {ctx.scenario.name!r}: nothing can allow it",)
        return tuple(
            f"{aid}: rule {rule} ({Rule(rule).title}) fails: "
            f"{ctx.detail(ctx.scenario.agreement(aid), Rule(rule))}"
            for aid, rule in self.failures
        )

    def explain(self) -> tuple[AgreementCheck, ...]:
        """Every rule's result for every candidate agreement, in the scenario's order."""
        return tuple(self.context.check(a) for a in self.context.scenario.agreements)

    def require(self) -> None:
        """Raise ``Denied`` (with the reasons) unless the release is allowed."""
        if not self.allowed:
            raise Denied(
                f"release of {self.item} from {self.holder} to {self.recipient} at "
                f"{format_instant(self.at)} denied: " + "; ".join(self.reasons)
            )

    def to_json(self) -> dict[str, object]:
        return {
            "decision": "allow" if self.allowed else "deny",
            "item": self.item,
            "holder": self.holder,
            "recipient": self.recipient,
            "at": format_instant(self.at),
            "agreements": list(self.agreements),
            "equivalent": None if self.equivalent is None else self.equivalent.value,
            "recipient_marking": (
                None
                if self.recipient_marking is None
                else {
                    "party": self.recipient_marking.party,
                    "level": self.recipient_marking.level,
                    "native": self.recipient_marking.native,
                    "originator": self.recipient_marking.originator,
                }
            ),
            "reasons": list(self.reasons),
        }


class _Context(NamedTuple):
    scenario: Scenario
    label: Label
    holder: str
    recipient: str
    at: datetime
    equivalence: Equivalence
    level: Level
    consents: tuple[Consent, ...]

    @property
    def level_text(self) -> str:
        return f"{self.label.originator} {self.level.id} ({self.level.native})"

    # ------------------------------------------------------------------ item-level rules
    def releasable(self) -> bool:
        return self.recipient in self.label.releasable_to

    def consent(self) -> _Consent:
        own = self._own_consent()
        if not own.holds or not self.label.derived_from:
            return own
        missing: list[str] = []
        grounds: list[str] = []
        for originator in source_originators(self.label, self.holder, self.recipient):
            found = next(
                (
                    c
                    for c in self.consents
                    if c.serves(self.label.id, originator, self.recipient, self.at)
                ),
                None,
            )
            if found is not None:
                grounds.append(f"{originator} consented at {format_instant(found.granted_at)}")
                continue
            standing = self.scenario.standing_consent(
                self.label.topics, among=(originator, self.holder, self.recipient), at=self.at
            )
            if standing is not None:
                grounds.append(f"{originator}: standing consent under {standing}")
            else:
                missing.append(originator)
        if missing:
            return _Consent(
                holds=False,
                detail=(
                    f"{self.label.id} is derived from items of {', '.join(missing)}, which "
                    f"{'has' if len(missing) == 1 else 'have'} not consented to it going to "
                    f"{self.recipient} at {format_instant(self.at)} (DOMAIN.md §7.6)"
                ),
            )
        sources = "; ".join(grounds) or "no other source originator's consent is needed"
        return _Consent(
            holds=True, detail=f"{own.detail}; sources: {sources}", standing=own.standing
        )

    def _own_consent(self) -> _Consent:
        label = self.label
        if self.holder == label.originator:
            return _Consent(holds=True, detail=f"{self.holder} is the originator")
        for c in self.consents:
            if c.serves(label.id, label.originator, self.recipient, self.at):
                return _Consent(
                    holds=True,
                    detail=f"{label.originator} consented at {format_instant(c.granted_at)}"
                    + ("" if c.expires_at is None else f" until {format_instant(c.expires_at)}"),
                )
        standing = self.scenario.standing_consent(
            label.topics, among=(label.originator, self.holder, self.recipient), at=self.at
        )
        if standing is not None:
            return _Consent(
                holds=True, detail=f"standing consent under {standing}", standing=standing
            )
        return _Consent(holds=False, detail=self._why_no_consent())

    def _why_no_consent(self) -> str:
        label = self.label
        near = [
            c
            for c in self.consents
            if c.item == label.id
            and c.recipient == self.recipient
            and c.originator == label.originator
        ]
        base = (
            f"{self.holder} is not the originator and {label.originator} has not consented to "
            f"{label.id} going to {self.recipient}"
        )
        for c in near:
            if self.at < c.granted_at:
                granted = format_instant(c.granted_at)
                return f"{base} at {format_instant(self.at)} (consent granted only at {granted})"
            if c.expires_at is not None and self.at >= c.expires_at:
                expired = format_instant(c.expires_at)
                return f"{base} at {format_instant(self.at)} (its consent expired at {expired})"
        return f"{base}, and no arrangement in force gives standing consent for its topics"

    # ------------------------------------------------------------------ agreement rules
    def first_failure(  # noqa: PLR0911 - the first rule of DOMAIN.md §5 that fails, in the rules' order
        self, a: Agreement, *, releasable: bool, consent_holds: bool
    ) -> int:
        at = self.at
        if at < a.start or (a.end is not None and at >= a.end) or a.dispute:
            return Rule.IN_FORCE
        parties = a.parties
        if self.holder not in parties or self.recipient not in parties:
            return Rule.PARTIES
        if a.hub is not None and a.hub not in (self.holder, self.recipient):
            return Rule.PARTIES
        if self.equivalence not in a.classes:
            return Rule.CLASS
        if a.scope is not None and not all_within(self.label.topics, a.scope):
            return Rule.SCOPE
        if not releasable:
            return Rule.RELEASABILITY
        if not consent_holds:
            return Rule.CONSENT
        return _ALL_HOLD

    def check(self, a: Agreement) -> AgreementCheck:
        return AgreementCheck(
            a.id,
            tuple(RuleResult(rule, self.holds(a, rule), self.detail(a, rule)) for rule in Rule),
        )

    def holds(self, a: Agreement, rule: Rule) -> bool:
        at = self.at
        if rule is Rule.IN_FORCE:
            return a.in_force(at) and not a.dispute
        if rule is Rule.PARTIES:
            both = self.holder in a.parties and self.recipient in a.parties
            return both and (a.hub is None or a.hub in (self.holder, self.recipient))
        if rule is Rule.CLASS:
            return self.equivalence in a.classes
        if rule is Rule.SCOPE:
            return a.scope is None or all_within(self.label.topics, a.scope)
        if rule is Rule.RELEASABILITY:
            return self.releasable()
        return self.consent().holds

    def detail(self, a: Agreement, rule: Rule) -> str:
        """One sentence on ``rule`` of §5 for agreement ``a``: why it holds or fails."""
        ok = self.holds(a, rule)
        if rule is Rule.IN_FORCE:
            return self._in_force_detail(a, ok=ok)
        if rule is Rule.PARTIES:
            return self._parties_detail(a, ok=ok)
        if rule is Rule.CLASS:
            covered = ", ".join(e.value for e in Equivalence if e in a.classes)
            verdict = "is covered" if ok else "is not covered"
            eq = self.equivalence.value
            return f"{self.level_text} is class {eq}, which {verdict} (covers {covered})"
        if rule is Rule.SCOPE:
            return self._scope_detail(a, ok=ok)
        if rule is Rule.RELEASABILITY:
            return self._releasability_detail(ok=ok)
        return self.consent().detail

    def _in_force_detail(self, a: Agreement, *, ok: bool) -> str:
        at_text = format_instant(self.at)
        if a.dispute and a.in_force(self.at):
            return f"not in force for releases at {at_text}: {a.dispute}"
        if ok:
            return f"in force at {at_text} (since {format_instant(a.start)})"
        if self.at < a.start:
            start = format_instant(a.start)
            return f"not yet in force at {at_text}: it enters into force at {start}"
        end = a.end
        return f"not in force at {at_text}: it ended at {format_instant(end) if end else '?'}"

    def _parties_detail(self, a: Agreement, *, ok: bool) -> str:
        names = ", ".join(sorted(a.parties))
        missing = [p for p in (self.holder, self.recipient) if p not in a.parties]
        if missing:
            verb = "is" if len(missing) == 1 else "are"
            return f"{' and '.join(missing)} {verb} not a party (parties: {names})"
        if not ok:
            return (
                f"{self.holder} and {self.recipient} exchange under it only through the hub {a.hub}"
            )
        hub = f", through the hub {a.hub}" if a.hub else ""
        return f"{self.holder} and {self.recipient} are parties{hub}"

    def _scope_detail(self, a: Agreement, *, ok: bool) -> str:
        if a.scope is None:
            return "any topic lies within its scope"
        scope = ", ".join(a.scope)
        if ok:
            return f"every topic lies within its scope ({scope})"
        if not self.label.topics:
            return f"the item has no topics, and a restricted scope ({scope}) covers none"
        outside = [t for t in self.label.topics if not all_within((t,), a.scope)]
        return f"topic(s) {', '.join(outside)} lie outside its scope ({scope})"

    def _releasability_detail(self, *, ok: bool) -> str:
        rel = self.label.releasable_to
        if ok:
            return f"{self.recipient} is among REL TO {', '.join(rel)}"
        if not rel:
            return "the item is releasable to no one (empty REL TO)"
        return f"{self.recipient} is not among REL TO {', '.join(rel)}"

    def allow_summary(self, a: Agreement) -> str:
        consent = self.consent().detail
        return (
            f"in force since {format_instant(a.start)}; {self.equivalence.value} covered; {consent}"
        )


def source_originators(label: Label, holder: str, recipient: str) -> tuple[str, ...]:
    """The source originators whose consent a derived item needs to go from ``holder`` to
    ``recipient`` (DOMAIN.md §7.6): each source's originator other than the holder and the
    recipient (an originator may receive what was written from its own item, subject to the
    other sources' originators), once each, sorted."""
    return tuple(sorted({s.originator for s in label.derived_from} - {holder, recipient}))


class _Static(NamedTuple):
    """What a decision's request fixes within one stretch of time in which no agreement starts
    or ends: everything but the item's releasability and its explicit consents."""

    level: Level
    static_failures: tuple[tuple[str, int], ...]  # per agreement: first failing rule of 2-5, or 0
    marking: Marking
    standing: bool  # holder is the originator, or a standing consent is in force
    sources_need: tuple[str, ...]  # derived: source originators without standing consent


_CACHE_LIMIT = 4096


def _static(scenario: Scenario, label: Label, holder: str, recipient: str, at: datetime) -> _Static:
    cache, boundaries = scenario.decision_cache()
    key = (
        bisect_right(boundaries, at.timestamp()),
        label.originator,
        label.classification,
        label.topics,
        holder,
        recipient,
        tuple(sorted({s.originator for s in label.derived_from})),
    )
    cached: _Static | None = cache.get(key)
    if cached is not None:
        return cached
    originator_policy = scenario.policy(label.originator, where="label originator")
    scenario.policy(holder, where="holder")
    recipient_policy = scenario.policy(recipient, where="recipient")
    if holder == recipient:
        raise BadInput(f"holder and recipient are the same party ({holder}): nothing to release")
    level = originator_policy.level(label.classification)
    ctx = _Context(scenario, label, holder, recipient, at, level.equivalence, level, ())
    failures = tuple(
        (agreement.id, ctx.first_failure(agreement, releasable=True, consent_holds=True))
        for agreement in scenario.agreements
    )
    standing = (
        holder == label.originator
        or scenario.standing_consent(
            label.topics, among=(label.originator, holder, recipient), at=at
        )
        is not None
    )
    sources_need = tuple(
        o
        for o in source_originators(label, holder, recipient)
        if scenario.standing_consent(label.topics, among=(o, holder, recipient), at=at) is None
    )
    found = _Static(
        level,
        failures,
        recipient_policy.marking_for(level.equivalence, label.originator),
        standing,
        sources_need,
    )
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[key] = found
    return found


def decide(
    scenario: Scenario,
    label: Label,
    *,
    holder: str,
    recipient: str,
    at: datetime,
    consents: Iterable[Consent] = (),
) -> Decision:
    """May ``holder`` pass the item labelled ``label`` to ``recipient`` at ``at``?

    Unknown parties and levels, and a time without a UTC offset, are bad input (raised); every
    other failure is a deny that names, for each candidate agreement, the rule that failed.

    Rules 2-5 and standing consents depend only on the request and on which agreements are in
    force, which changes only at the scenario's starts and ends; they are worked out once per
    stretch between those instants (``_static``), and each call checks releasability and the
    explicit consents.
    """
    if at.tzinfo is None or at.utcoffset() is None:
        require_aware(at, "release decision time")
    static = _static(scenario, label, holder, recipient, at)
    given = tuple(consents)
    releasable = recipient in label.releasable_to
    consent_holds = (
        static.standing or any(c.serves(label.id, label.originator, recipient, at) for c in given)
    ) and all(any(c.serves(label.id, o, recipient, at) for c in given) for o in static.sources_need)
    allowing: list[str] = []
    failures: list[tuple[str, int]] = []
    late = (
        _ALL_HOLD
        if releasable and consent_holds
        else (Rule.RELEASABILITY if not releasable else Rule.CONSENT)
    )
    for agreement_id, failed in static.static_failures:
        rule = failed or late  # rules 2-5 first, then 6 and 7
        if rule == _ALL_HOLD:
            allowing.append(agreement_id)
        else:
            failures.append((agreement_id, rule))
    allowed = bool(allowing)
    level = static.level
    ctx = _Context(scenario, label, holder, recipient, at, level.equivalence, level, given)
    return Decision(
        allowed=allowed,
        agreements=tuple(allowing),
        equivalent=level.equivalence if allowed else None,
        recipient_marking=static.marking if allowed else None,
        item=label.id,
        holder=holder,
        recipient=recipient,
        at=at,
        failures=tuple(failures),
        context=ctx,
    )
