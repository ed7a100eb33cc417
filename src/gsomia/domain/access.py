"""Who may see an item at a node (DOMAIN.md §3, Art. 7).

Access only for officials whose duties require it (need-to-know topics) and who hold a clearance
at the item's level under the node's own policy; rank alone never gives access. A check raises
``Denied`` with the reason; it never returns a bool a caller could ignore.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gsomia.domain.parties import Equivalence, Policy
from gsomia.domain.purposes import DEFAULT as DEFAULT_PURPOSES
from gsomia.domain.topics import within
from gsomia.errors import BadInput, Denied

_RANK = {Equivalence.TOP_SECRET: 3, Equivalence.SECRET: 2, Equivalence.CONFIDENTIAL: 1}


class Role(StrEnum):
    ANALYST = "analyst"
    ADMIN = "admin"


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


def check_access(
    user: Clearance, *, party: str, equivalence: Equivalence, topics: tuple[str, ...]
) -> None:
    """Raise ``Denied`` unless ``user`` may see an item marked ``equivalence`` at ``party``."""
    if user.party != party:
        raise Denied(f"user {user.user} belongs to {user.party}, not to {party}")
    if not clears(user.equivalence, equivalence):
        raise Denied(
            f"user {user.user} is cleared to {user.level} ({user.equivalence.value}); "
            f"the item is {equivalence.value}"
        )
    if not meets_need_to_know(user.need_to_know, topics):
        listed = ", ".join(topics) if topics else "no topics"
        raise Denied(
            f"user {user.user}'s duties ({', '.join(user.need_to_know) or 'none'}) "
            f"do not cover the item's topics ({listed})"
        )


def parse_role(text: str, where: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        raise BadInput(f"{where}: unknown role {text!r} (known: analyst, admin)") from None
