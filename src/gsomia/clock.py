"""The only reader of the wall clock. Everything else receives time as an argument.

Two clocks, kept apart. A node's scenario clock (``Node.clock``) decides releases; it may be
simulated and fast (``ScaledClock``). Wall time governs every security lifetime and every retry:
a clock's ``rate`` says how many of its seconds pass per wall second (1 for the system clock and
for a fixed clock, the speed of a scaled one), so a bound defined in wall seconds (a receiver's
skew) is scaled to the clock it is compared with.
"""

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

    @property
    def rate(self) -> float:
        """Seconds of this clock per wall second (1 unless simulated)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    @property
    def rate(self) -> float:
        return 1.0


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

    @property
    def rate(self) -> float:
        return 1.0

    def advance(self, delta: timedelta) -> None:
        self.instant += delta
        self._mono += delta.total_seconds()


@dataclass(frozen=True)
class ScaledClock:
    """Simulated time for replays: ``sim_start`` at wall instant ``wall_start``, running
    ``speed`` times faster than the wall clock. Several processes given the same three values
    agree on the simulated instant."""

    sim_start: datetime
    wall_start: datetime
    speed: float

    def __post_init__(self) -> None:
        if self.sim_start.tzinfo is None or self.wall_start.tzinfo is None:
            msg = "ScaledClock needs timezone-aware instants"
            raise ValueError(msg)
        if not self.speed > 0:
            msg = "ScaledClock needs a positive speed"
            raise ValueError(msg)

    def now(self) -> datetime:
        elapsed = datetime.now(UTC) - self.wall_start
        return self.sim_start + elapsed * self.speed

    def monotonic(self) -> float:
        return time.monotonic() * self.speed

    @property
    def rate(self) -> float:
        return self.speed
