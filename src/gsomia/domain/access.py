"""Who may see an item at a node (DOMAIN.md §3, Art. 7, and §7.1–2).

Access only for officials whose duties require it (need-to-know topics) and who hold a clearance
at the item's level under the node's own policy; rank alone never gives access. At a holder
(a party other than the item's originator) a user's duties must also serve a purpose the item
is provided for there: its label's purposes (``defense.warning`` only for an item that arrived
under standing consent), widened by the originator's approvals in force for that holder. The
originator's own users are bound by clearance and need-to-know alone.

``decide_access`` is the decision, a frozen value with every reason in plain words;
``check_access`` raises ``Denied`` with the first one and never returns a bool a caller could
ignore.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from gsomia.domain.instants import parse_instant
from gsomia.domain.parties import Equivalence, Policy
from gsomia.domain.purposes import DEFAULT as DEFAULT_PURPOSES
from gsomia.domain.purposes import STANDING, may_use, parse_purposes
from gsomia.domain.topics import within
from gsomia.errors import BadInput, Denied

_RANK = {Equivalence.TOP_SECRET: 3, Equivalence.SECRET: 2, Equivalence.CONFIDENTIAL: 1}


class Role(StrEnum):
    ANALYST = "analyst"
    ADMIN = "admin"
    AUTHORITY = "authority"  # speaks for its party in agreement matters (gives notes)


@dataclass(frozen=True, slots=True)
class Clearance:
    """A user of a node: their party, clearance level (of that party's policy) and duties."""

    user: str
    party: str
    level: str
    equivalence: Equivalence
    need_to_know: tuple[str, ...]
    role: Role = Role.ANALYST
    purposes: tuple[str, ...] = DEFAULT_PURPOSES  # of their duties (DOMAIN.md §7.2)

    @classmethod
    def of(
        cls,
        user: str,
        policy: Policy,
        level: str,
        need_to_know: tuple[str, ...],
        role: Role = Role.ANALYST,
        *,
        purposes: tuple[str, ...] = DEFAULT_PURPOSES,
    ) -> Clearance:
        found = policy.level(level)
        return cls(user, policy.party, found.id, found.equivalence, need_to_know, role, purposes)


def clears(clearance: Equivalence, item: Equivalence) -> bool:
    return _RANK[clearance] >= _RANK[item]


def meets_need_to_know(need_to_know: tuple[str, ...], topics: tuple[str, ...]) -> bool:
    """Every topic of the item lies within the user's duties; an item without topics needs none
    of them to be restricted, so it is visible to no one whose duties are listed by topic."""
    return bool(topics) and all(any(within(t, n) for n in need_to_know) for t in topics)


@dataclass(frozen=True, slots=True)
class Approval:
    """The originator's approval for a holder to use an item for another purpose (DOMAIN.md
    §7.2): from ``granted_at`` until ``expires_at`` (never, if None)."""

    item: str
    purpose: str
    granted_at: datetime
    expires_at: datetime | None = None

    def in_force(self, at: datetime) -> bool:
        return self.granted_at <= at and (self.expires_at is None or at < self.expires_at)

    @classmethod
    def from_json(cls, obj: object, *, where: str, vocabulary: Sequence[str]) -> Approval:
        """Parse ``{"item", "purpose", "granted_at", "expires_at"?}`` (a purpose of
        ``vocabulary``; an approval that expires before it is granted is bad input)."""
        if not isinstance(obj, dict):
            raise BadInput(f"{where}: an approval must be a JSON object")
        for key in ("item", "purpose", "granted_at"):
            if key not in obj:
                raise BadInput(f"{where}: missing field {key!r}")
        unknown = sorted(set(obj) - {"item", "purpose", "granted_at", "expires_at"})
        if unknown:
            raise BadInput(f"{where}: unknown field(s) {', '.join(repr(u) for u in unknown)}")
        item = obj["item"]
        if not isinstance(item, str) or not item:
            raise BadInput(f"{where}: 'item' must be an item id")
        [purpose] = parse_purposes([obj["purpose"]], f"{where}: field 'purpose'", vocabulary)
        granted = parse_instant(obj["granted_at"], f"{where}: field 'granted_at'")
        raw = obj.get("expires_at")
        expires = None if raw is None else parse_instant(raw, f"{where}: field 'expires_at'")
        if expires is not None and expires <= granted:
            raise BadInput(f"{where}: it expires at or before it is granted")
        return cls(item, purpose, granted, expires)


def provided_for(
    label_purposes: tuple[str, ...],
    *,
    standing: bool,
    approvals: Iterable[Approval] = (),
    item: str | None = None,
    at: datetime | None = None,
) -> tuple[str, ...]:
    """What an item is provided for at a holder at ``at``: its label's purposes, or
    ``defense.warning`` alone when it arrived under standing consent, widened by the approvals
    for ``item`` in force at ``at`` (an approval never narrows). Sorted, without duplicates."""
    base = STANDING if standing else label_purposes
    widened = {
        a.purpose
        for a in approvals
        if (item is None or a.item == item) and at is not None and a.in_force(at)
    }
    return tuple(sorted(set(base) | widened))


@dataclass(frozen=True, slots=True)
class AccessDecision:
    """Whether a user may read an item's content at a node, with every reason it may not;
    ``purposes``: what the item is provided for there (None at its originator: no bound)."""

    allowed: bool
    reasons: tuple[str, ...]
    purposes: tuple[str, ...] | None

    def to_json(self) -> dict[str, object]:
        return {
            "decision": "allow" if self.allowed else "deny",
            "reasons": list(self.reasons),
            "purposes": None if self.purposes is None else list(self.purposes),
        }


def decide_access(
    user: Clearance,
    *,
    party: str,
    equivalence: Equivalence,
    topics: tuple[str, ...],
    purposes: tuple[str, ...] | None = None,
) -> AccessDecision:
    """May ``user`` read an item marked ``equivalence`` with ``topics`` at ``party``'s node?
    ``purposes`` is what the item is provided for there (``provided_for``), or None when
    ``party`` originated it (its own users are bound by clearance and need-to-know alone)."""
    reasons: list[str] = []
    if user.party != party:
        reasons.append(f"user {user.user} belongs to {user.party}, not to {party}")
    if not clears(user.equivalence, equivalence):
        reasons.append(
            f"user {user.user} is cleared to {user.level} ({user.equivalence.value}); "
            f"the item is {equivalence.value}"
        )
    if not meets_need_to_know(user.need_to_know, topics):
        listed = ", ".join(topics) if topics else "no topics"
        reasons.append(
            f"user {user.user}'s duties ({', '.join(user.need_to_know) or 'none'}) "
            f"do not cover the item's topics ({listed})"
        )
    if purposes is not None and not may_use(user.purposes, purposes):
        reasons.append(
            f"user {user.user}'s purposes ({', '.join(user.purposes) or 'none'}) lie within "
            f"none of the purposes the item is provided for at {party} "
            f"({', '.join(purposes) or 'none'}); using it for another purpose needs the "
            "originator's approval"
        )
    return AccessDecision(not reasons, tuple(reasons), purposes)


def check_access(
    user: Clearance,
    *,
    party: str,
    equivalence: Equivalence,
    topics: tuple[str, ...],
    purposes: tuple[str, ...] | None = None,
) -> None:
    """Raise ``Denied`` unless ``user`` may see an item marked ``equivalence`` at ``party``
    (and use it, for an item provided there for ``purposes``; see ``decide_access``)."""
    decision = decide_access(
        user, party=party, equivalence=equivalence, topics=topics, purposes=purposes
    )
    if not decision.allowed:
        raise Denied(decision.reasons[0])


def parse_role(text: str, where: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        raise BadInput(
            f"{where}: unknown role {text!r} (known: analyst, admin, authority)"
        ) from None
