"""Throttling of failed credentials: exponential delays per user name and per client address.

Every failed sign-in or API credential adds a failure to each key it names (``user:NAME``,
``addr:ADDRESS``); after ``free`` failures a key is blocked for ``base * 2**(n - free)`` seconds
(capped at ``cap``), and a key left alone for ``forget`` seconds starts afresh. A success clears
the user's key, never the address's (one good token must not wash away a guessing run from the
same address). Time is the wall clock's monotonic time (``Clock.monotonic`` of a wall clock):
throttling is a security lifetime and never follows a simulated scenario clock.

The table is bounded: past ``max_keys`` the least recently failed keys are forgotten first,
so a flood of addresses cannot exhaust memory. Every block is audited by the caller.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

from gsomia.clock import Clock
from gsomia.errors import GsomiaError


class Throttled(GsomiaError):
    """Too many failed credentials from this user or address: try again later."""

    exit_code = 2
    http_status = 429
    kind = "too_many_requests"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(1, math.ceil(retry_after))


@dataclass(slots=True)
class _Failures:
    count: int
    last: float
    blocked_until: float


class Throttle:
    def __init__(
        self,
        clock: Clock,
        *,
        free: int = 3,
        base: float = 1.0,
        cap: float = 900.0,
        forget: float = 3600.0,
        max_keys: int = 100_000,
    ) -> None:
        if free < 0 or base <= 0 or cap < base or forget <= 0 or max_keys < 1:
            msg = "Throttle: free >= 0, 0 < base <= cap, forget > 0, max_keys >= 1"
            raise ValueError(msg)
        self._clock = clock
        self._free = free
        self._base = base
        self._cap = cap
        self._forget = forget
        self._max_keys = max_keys
        self._table: OrderedDict[str, _Failures] = OrderedDict()

    def check(self, *keys: str) -> None:
        """Raise ``Throttled`` when any of ``keys`` is blocked now."""
        now = self._clock.monotonic()
        wait = 0.0
        for key in keys:
            found = self._table.get(key)
            if found is None:
                continue
            if now - found.last > self._forget:
                del self._table[key]
                continue
            wait = max(wait, found.blocked_until - now)
        if wait > 0:
            raise Throttled("too many failed attempts; try again later", wait)

    def failed(self, *keys: str) -> float:
        """Count a failure against each key; the longest delay now imposed (0 while free)."""
        now = self._clock.monotonic()
        longest = 0.0
        for key in keys:
            found = self._table.pop(key, None)
            if found is None or now - found.last > self._forget:
                found = _Failures(0, now, now)
            found.count += 1
            found.last = now
            over = found.count - self._free
            if over > 0:
                delay = min(self._cap, self._base * 2 ** min(over - 1, 30))
                found.blocked_until = now + delay
                longest = max(longest, delay)
            self._table[key] = found  # most recently failed last
        while len(self._table) > self._max_keys:
            self._table.popitem(last=False)
        return longest

    def succeeded(self, *keys: str) -> None:
        """Forget the failures of ``keys`` (call with the user's key only)."""
        for key in keys:
            self._table.pop(key, None)

    def failures(self, key: str) -> int:
        found = self._table.get(key)
        return 0 if found is None else found.count


def user_key(name: str) -> str:
    return f"user:{name}"


def address_key(address: str) -> str:
    return f"addr:{address}"
