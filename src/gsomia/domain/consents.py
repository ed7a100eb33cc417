"""Consents: the originator's approval of a release to a third party (DOMAIN.md §3, §5 rule 7)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gsomia.domain.instants import format_instant, parse_instant
from gsomia.errors import BadInput

UNKNOWN_ORIGINATOR = "?"


@dataclass(frozen=True, slots=True)
class Consent:
    """The originator's consent to ``item`` going to ``recipient``, from ``granted_at``."""

    item: str
    originator: str
    recipient: str
    granted_at: datetime
    expires_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.granted_at.tzinfo is None or (
            self.expires_at is not None and self.expires_at.tzinfo is None
        ):
            raise BadInput("a consent's times must carry a UTC offset")
        if self.expires_at is not None and self.expires_at <= self.granted_at:
            raise BadInput(f"consent for {self.item} to {self.recipient}: expires before granted")

    def serves(self, item: str, originator: str, recipient: str, at: datetime) -> bool:
        """Whether this consent covers ``item`` going to ``recipient`` at ``at``."""
        return (
            self.item == item
            and self.originator == originator
            and self.recipient == recipient
            and self.granted_at <= at
            and (self.expires_at is None or at < self.expires_at)
        )

    @classmethod
    def from_json(
        cls,
        obj: object,
        *,
        where: str,
        originator_of: dict[str, str],
        sources_of: dict[str, tuple[str, ...]] | None = None,
    ) -> Consent:
        """Parse ``{"item", "recipient", "granted_at", "expires_at"?, "originator"?}``.

        The originator is the item's: ``originator_of`` maps item ids to their originators;
        for a derived item (DOMAIN.md §7.6), a stated ``originator`` that is one of its
        sources' originators (``sources_of``) is that source originator's consent.
        """
        if not isinstance(obj, dict):
            raise BadInput(f"{where}: a consent must be a JSON object")
        for key in ("item", "recipient", "granted_at"):
            if key not in obj:
                raise BadInput(f"{where}: missing field {key!r}")
        unknown = sorted(set(obj) - {"item", "recipient", "granted_at", "expires_at", "originator"})
        if unknown:
            raise BadInput(f"{where}: unknown field(s) {', '.join(repr(u) for u in unknown)}")
        item, recipient = obj["item"], obj["recipient"]
        if not isinstance(item, str) or not isinstance(recipient, str):
            raise BadInput(f"{where}: 'item' and 'recipient' must be strings")
        stated = obj.get("originator")
        if stated is not None and not isinstance(stated, str):
            raise BadInput(f"{where}: 'originator' must be a party code")
        # The originator is the item's; for an item we do not hold, a consent can serve nothing,
        # so it is kept with an originator that matches no party rather than guessed.
        if stated is not None and stated in (sources_of or {}).get(item, ()):
            originator = stated
        else:
            originator = originator_of.get(item) or stated or UNKNOWN_ORIGINATOR
        granted = parse_instant(obj["granted_at"], f"{where}: field 'granted_at'")
        expires_raw = obj.get("expires_at")
        expires = (
            None
            if expires_raw is None
            else parse_instant(expires_raw, f"{where}: field 'expires_at'")
        )
        return cls(item, originator, recipient, granted, expires)

    def to_json(self) -> dict[str, object]:
        return {
            "item": self.item,
            "originator": self.originator,
            "recipient": self.recipient,
            "granted_at": format_instant(self.granted_at),
            "expires_at": None if self.expires_at is None else format_instant(self.expires_at),
        }
