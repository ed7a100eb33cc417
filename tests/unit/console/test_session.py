"""Console sessions: MAC'd ids kept hashed in the node's store, expiry, sign-out, eviction, CSRF
checks, the secret file, time tags."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gsomia.console import session as session_module
from gsomia.console.session import (
    PRE_SESSION_SECONDS,
    Refused,
    Sessions,
    check_token,
    console_secret,
    session_key,
    time_tag,
)
from gsomia.domain.access import Clearance
from gsomia.domain.parties import Equivalence
from gsomia.node.config import User
from gsomia.seal.keys import KeyRing, init_keys
from tests.unit.node_store import Store, raw, reopen, stored_bytes

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
USER = User("analyst", "0" * 64, Clearance("analyst", "JPN", "GOKUHI", Equivalence.SECRET, ()))


def test_a_session_cookie_names_its_session_until_it_expires(store: Store) -> None:
    sessions = Sessions(store, b"k" * 32)
    session, cookie = sessions.create(USER, NOW)
    assert sessions.find(cookie, NOW) == session
    assert sessions.find(cookie, NOW + timedelta(hours=7, minutes=59)) == session
    assert sessions.find(cookie, NOW + timedelta(hours=8)) is None
    assert sessions.find(cookie, NOW) is None  # expired sessions are forgotten


def test_a_forged_or_foreign_cookie_names_no_session(store: Store) -> None:
    sessions = Sessions(store, b"k" * 32)
    _, cookie = sessions.create(USER, NOW)
    sid, _, mac = cookie.rpartition(".")
    assert sessions.find(f"{sid}.{'0' * len(mac)}", NOW) is None
    assert sessions.find(f"other.{mac}", NOW) is None
    assert sessions.find(sid, NOW) is None
    assert sessions.find("", NOW) is None
    assert sessions.find(None, NOW) is None
    assert Sessions(store, b"j" * 32).find(cookie, NOW) is None  # another node's secret


def test_sign_out_ends_the_session(store: Store) -> None:
    sessions = Sessions(store, b"k" * 32)
    session, cookie = sessions.create(USER, NOW)
    sessions.end(session)
    assert sessions.find(cookie, NOW) is None


def test_csrf_tokens_are_per_session_and_checked(store: Store) -> None:
    sessions = Sessions(store, b"k" * 32)
    one, _ = sessions.create(USER, NOW)
    two, _ = sessions.create(USER, NOW)
    assert one.csrf != two.csrf
    check_token(one.csrf, one.csrf)
    for wrong in ("", two.csrf, one.csrf[:-1]):
        with pytest.raises(Refused, match="CSRF token is missing or wrong"):
            check_token(wrong, one.csrf)


def test_sessions_are_kept_hashed_and_survive_reopening_the_store(
    store: Store, ring: KeyRing
) -> None:
    session, cookie = Sessions(store, b"k" * 32).create(USER, NOW)
    again = reopen(store, ring)
    try:
        found = Sessions(again, b"k" * 32).find(cookie, NOW + timedelta(hours=1))
        assert found == session  # same user, expiry and (derived) CSRF token
    finally:
        again.close()
    rows = raw(store, 'SELECT key, "user" FROM console_sessions')
    assert rows == [(session_key(session.sid), "analyst")]
    stored = stored_bytes(store)
    assert session_key(session.sid).encode() in stored  # what is looked at holds the table
    assert session.sid.encode() not in stored
    assert session.csrf.encode() not in stored


def test_ended_and_expired_sessions_leave_the_table_and_call_on_end(
    store: Store,
) -> None:
    ended: list[str] = []
    sessions = Sessions(store, b"k" * 32, on_end=ended.append)
    one, _ = sessions.create(USER, NOW)
    two, cookie = sessions.create(USER, NOW + timedelta(hours=1))
    sessions.end(two)
    assert sessions.find(cookie, NOW) is None
    three, _ = sessions.create(USER, NOW + timedelta(hours=9))  # one has expired by then
    assert ended == [two.sid, one.sid]
    keys = [k for (k,) in raw(store, "SELECT key FROM console_sessions")]
    assert keys == [session_key(three.sid)]


def test_past_the_limit_the_first_to_expire_is_ended(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session_module, "MAX_SESSIONS", 2)
    ended: list[str] = []
    sessions = Sessions(store, b"k" * 32, on_end=ended.append)
    made = [sessions.create(USER, NOW + timedelta(minutes=i)) for i in range(3)]
    assert ended == [made[0][0].sid]
    later = NOW + timedelta(minutes=5)
    assert [sessions.find(cookie, later) for _, cookie in made] == [None, made[1][0], made[2][0]]


def test_the_secret_is_derived_from_the_key_ring_the_same_wherever_it_is_opened(
    tmp_path: Path,
) -> None:
    ring = init_keys(tmp_path / "KOR", "KOR", passphrase=b"a passphrase of length")
    again = KeyRing.load(tmp_path / "KOR", passphrase=b"a passphrase of length")
    other = init_keys(tmp_path / "JPN", "JPN", passphrase=b"a passphrase of length")
    secret = console_secret(ring)
    assert len(secret) == 32
    assert console_secret(again) == secret  # another worker, another machine: the same
    assert console_secret(other) != secret
    assert secret not in {gen.data_key for gen in ring.generations}  # its own derivation
    assert not (tmp_path / "KOR" / "console.secret").exists()


def test_time_tags_carry_the_instant_and_the_three_zones() -> None:
    tag = str(time_tag("2019-11-22T15:00:00Z"))
    assert 'datetime="2019-11-22T15:00:00Z"' in tag
    assert "2019-11-23 00:00 KST" in tag
    assert "2019-11-23 00:00 JST" in tag
    assert "2019-11-22 15:00 UTC" in tag
    assert str(time_tag("<b>not a time</b>")) == "<span>&lt;b&gt;not a time&lt;/b&gt;</span>"


def test_every_way_a_session_ends_is_told(store: Store) -> None:
    ended: list[str] = []
    sessions = Sessions(store, b"k" * 32, on_end=ended.append)
    signed_out, _ = sessions.create(USER, NOW)
    sessions.end(signed_out)
    expiring, cookie = sessions.create(USER, NOW)
    assert sessions.find(cookie, NOW + timedelta(hours=8)) is None  # expired when looked up
    forgotten, _ = sessions.create(USER, NOW)
    sessions.create(USER, NOW + timedelta(hours=9))  # expired ones are swept at sign-in
    assert ended == [signed_out.sid, expiring.sid, forgotten.sid]


def test_the_sign_in_form_is_bound_to_its_nonce_and_expires(store: Store) -> None:
    sessions = Sessions(store, b"k" * 32)
    nonce, csrf = sessions.login_form(NOW)
    sessions.check_login_form(nonce, csrf, NOW)
    sessions.check_login_form(nonce, csrf, NOW + timedelta(seconds=PRE_SESSION_SECONDS))
    with pytest.raises(Refused, match="expired"):
        sessions.check_login_form(nonce, csrf, NOW + timedelta(seconds=PRE_SESSION_SECONDS + 1))
    with pytest.raises(Refused, match="expired"):  # made "in the future"
        sessions.check_login_form(nonce, csrf, NOW - timedelta(seconds=1))
    other, _ = sessions.login_form(NOW)
    with pytest.raises(Refused, match="CSRF"):
        sessions.check_login_form(other, csrf, NOW)
    later = nonce.rpartition(".")[0] + f".{int(NOW.timestamp()) + 3000}"  # a renewed instant
    with pytest.raises(Refused, match="CSRF"):
        sessions.check_login_form(later, csrf, NOW)
    with pytest.raises(Refused, match="expired"):
        sessions.check_login_form("", csrf, NOW)
