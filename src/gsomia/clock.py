"""The only reader of the wall clock. Everything else receives time as an argument."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin that never goes backwards."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


@dataclass
class FixedClock:
    """A clock for tests and replays: it says what it was told."""

    instant: datetime
    _mono: float = field(default=0.0)

    def __post_init__(self) -> None:
        if self.instant.tzinfo is None:
            msg = "FixedClock needs a timezone-aware instant"
            raise ValueError(msg)

    def now(self) -> datetime:
        return self.instant

    def monotonic(self) -> float:
        return self._mono

    def advance(self, delta: timedelta) -> None:
        self.instant += delta
        self._mono += delta.total_seconds()
