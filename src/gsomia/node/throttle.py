"""Throttling of failed credentials: exponential delays per user name and per client address.

Every failed sign-in or API credential adds a failure to each key it names (``user:NAME``,
``addr:ADDRESS``); after ``free`` failures a key is blocked for ``base * 2**(n - free)`` seconds
(capped at ``cap``), and a key left alone for ``forget`` seconds starts afresh. A success clears
the user's key, never the address's (one good token must not wash away a guessing run from the
same address). Time is wall time (``Clock.now`` of the node's wall clock, as seconds since the
epoch): throttling is a security lifetime and never follows a simulated scenario clock.

The failures are kept in the node's store (``sign_in_failures``), so a restart does not reset
an attacker's back-off and several processes of one node share it. A failure is one write
transaction; a check, and a success with nothing to clear, only read.

The table is bounded: past ``max_keys`` the least recently failed keys are forgotten first,
and keys quiet for ``forget`` seconds are deleted at every failure, so a flood of addresses
cannot grow it without bound. Every block is audited by the caller.
"""

from __future__ import annotations

import math

from gsomia.clock import Clock
from gsomia.errors import GsomiaError
from gsomia.store.ports import FailureRow, NodeStore


class Throttled(GsomiaError):
    """Too many failed credentials from this user or address: try again later."""

    exit_code = 2
    http_status = 429
    kind = "too_many_requests"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(1, math.ceil(retry_after))


class Throttle:
    def __init__(
        self,
        store: NodeStore,
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
        self._store = store
        self._clock = clock
        self._free = free
        self._base = base
        self._cap = cap
        self._forget = forget
        self._max_keys = max_keys

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def _live(self, rows: list[FailureRow], now: float) -> dict[str, FailureRow]:
        """The rows not yet forgotten (a key quiet for ``forget`` seconds starts afresh)."""
        return {row.key: row for row in rows if now - row.last <= self._forget}

    def check(self, *keys: str) -> frozenset[str]:
        """Raise ``Throttled`` when any of ``keys`` is blocked now. Otherwise the keys that
        have failures on record (blocking or not): a success passes them to ``succeeded``,
        which then need not read them again."""
        now = self._now()
        with self._store.reading() as reader:
            rows = reader.sign_in_failures(keys)
        live = self._live(rows, now)
        wait = max((row.blocked_until - now for row in live.values()), default=0.0)
        if wait > 0:
            raise Throttled("too many failed attempts; try again later", wait)
        return frozenset(row.key for row in rows)

    def failed(self, *keys: str) -> float:
        """Count a failure against each key; the longest delay now imposed (0 while free)."""
        now = self._now()
        longest = 0.0
        with self._store.writing() as writer:
            live = self._live(writer.sign_in_failures(keys), now)
            for key in keys:
                found = live.get(key)
                count = 1 if found is None else found.count + 1
                blocked_until = now if found is None else found.blocked_until
                over = count - self._free
                if over > 0:
                    delay = min(self._cap, self._base * 2 ** min(over - 1, 30))
                    blocked_until = now + delay
                    longest = max(longest, delay)
                row = FailureRow(key, count, now, blocked_until)
                writer.put_sign_in_failure(row)
                live[key] = row
            writer.forget_sign_in_failures_before(now - self._forget)
            writer.trim_sign_in_failures(self._max_keys)
        return longest

    def succeeded(self, *keys: str, on_record: frozenset[str] | None = None) -> None:
        """Forget the failures of ``keys`` (call with the user's key only); writes only when
        there is something to forget. ``on_record``: what ``check`` found just before (then
        nothing is read here; a failure counted since is kept, never wrongly forgotten)."""
        if on_record is None:
            with self._store.reading() as reader:
                found = [row.key for row in reader.sign_in_failures(keys)]
        else:
            found = [key for key in keys if key in on_record]
        if found:
            with self._store.writing() as writer:
                writer.forget_sign_in_failures(found)

    def failures(self, key: str) -> int:
        """The failures counted against ``key`` now (0 once it is forgotten)."""
        with self._store.reading() as reader:
            live = self._live(reader.sign_in_failures([key]), self._now())
        found = live.get(key)
        return 0 if found is None else found.count


def user_key(name: str) -> str:
    return f"user:{name}"


def address_key(address: str) -> str:
    return f"addr:{address}"
