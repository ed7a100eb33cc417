"""Throttling of failed credentials: exponential, per key, on the clock it is given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gsomia.clock import FixedClock
from gsomia.node.throttle import Throttle, Throttled, address_key, user_key


def _clock() -> FixedClock:
    return FixedClock(datetime(2026, 1, 1, tzinfo=UTC))


def test_free_failures_then_exponential_blocks() -> None:
    clock = _clock()
    t = Throttle(clock, free=2, base=1.0, cap=8.0)
    keys = (user_key("alice"), address_key("127.0.0.1"))
    assert t.failed(*keys) == 0
    assert t.failed(*keys) == 0
    t.check(*keys)
    delays = [t.failed(*keys) for _ in range(5)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0]
    with pytest.raises(Throttled, match="too many failed attempts") as caught:
        t.check(*keys)
    assert caught.value.http_status == 429
    assert caught.value.retry_after == 8
    clock.advance(timedelta(seconds=8.5))
    t.check(*keys)


def test_any_blocked_key_blocks_and_success_clears_only_the_user() -> None:
    clock = _clock()
    t = Throttle(clock, free=0, base=10.0, cap=10.0)
    t.failed(user_key("mallory"), address_key("10.9.9.9"))
    with pytest.raises(Throttled, match="too many failed attempts"):
        t.check(user_key("alice"), address_key("10.9.9.9"))  # same address, another user
    t.succeeded(user_key("mallory"))
    assert t.failures(user_key("mallory")) == 0
    assert t.failures(address_key("10.9.9.9")) == 1


def test_forgotten_after_quiet_period() -> None:
    clock = _clock()
    t = Throttle(clock, free=0, base=1.0, cap=1.0, forget=60.0)
    t.failed("k")
    clock.advance(timedelta(seconds=61))
    t.check("k")
    assert t.failures("k") == 0


def test_table_is_bounded() -> None:
    t = Throttle(_clock(), free=0, max_keys=3)
    for i in range(10):
        t.failed(f"addr:{i}")
    assert [t.failures(f"addr:{i}") for i in range(10)] == [0] * 7 + [1] * 3


def test_bad_settings_refused() -> None:
    with pytest.raises(ValueError, match="base"):
        Throttle(_clock(), base=0)
