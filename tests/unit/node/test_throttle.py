"""Throttling of failed credentials: exponential, per key, on the clock it is given, kept in
the node's store (a restart keeps an attacker's back-off)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gsomia.clock import FixedClock
from gsomia.node.throttle import Throttle, Throttled, address_key, user_key
from gsomia.seal.keys import KeyRing
from tests.unit.node_store import Store, reopen


def _clock() -> FixedClock:
    return FixedClock(datetime(2026, 1, 1, tzinfo=UTC))


def test_free_failures_then_exponential_blocks(store: Store) -> None:
    clock = _clock()
    t = Throttle(store, clock, free=2, base=1.0, cap=8.0)
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


def test_any_blocked_key_blocks_and_success_clears_only_the_user(store: Store) -> None:
    clock = _clock()
    t = Throttle(store, clock, free=0, base=10.0, cap=10.0)
    t.failed(user_key("mallory"), address_key("10.9.9.9"))
    with pytest.raises(Throttled, match="too many failed attempts"):
        t.check(user_key("alice"), address_key("10.9.9.9"))  # same address, another user
    t.succeeded(user_key("mallory"))
    assert t.failures(user_key("mallory")) == 0
    assert t.failures(address_key("10.9.9.9")) == 1


def test_forgotten_after_quiet_period(store: Store) -> None:
    clock = _clock()
    t = Throttle(store, clock, free=0, base=1.0, cap=1.0, forget=60.0)
    t.failed("k")
    clock.advance(timedelta(seconds=61))
    t.check("k")
    assert t.failures("k") == 0


def test_table_is_bounded(store: Store) -> None:
    t = Throttle(store, _clock(), free=0, max_keys=3)
    for i in range(10):
        t.failed(f"addr:{i}")
    assert [t.failures(f"addr:{i}") for i in range(10)] == [0] * 7 + [1] * 3


def test_bad_settings_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="base"):
        Throttle(store, _clock(), base=0)


def test_a_restart_keeps_the_back_off(store: Store, ring: KeyRing) -> None:
    clock = _clock()
    keys = (user_key("mallory"), address_key("10.9.9.9"))
    assert [Throttle(store, clock).failed(*keys) for _ in range(4)] == [0, 0, 0, 1.0]
    again = reopen(store, ring)
    try:
        with pytest.raises(Throttled, match="too many failed attempts") as caught:
            Throttle(again, clock).check(*keys)
        assert caught.value.retry_after == 1
        assert Throttle(again, clock).failures(address_key("10.9.9.9")) == 4
        clock.advance(timedelta(seconds=1.5))
        assert Throttle(again, clock).failed(*keys) == 2.0  # the count went on, not afresh
    finally:
        again.close()


def test_a_success_forgets_only_the_keys_it_names(store: Store) -> None:
    t = Throttle(store, _clock())
    t.failed(address_key("10.9.9.9"))
    t.succeeded(user_key("alice"))  # nothing stored for alice: nothing changes
    assert t.failures(address_key("10.9.9.9")) == 1
    t.succeeded(address_key("10.9.9.9"))
    assert t.failures(address_key("10.9.9.9")) == 0
