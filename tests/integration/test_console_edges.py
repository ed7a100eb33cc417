"""The console's and the event streams' edges at a live node: a cap on one user's streams,
sign-out ending the session's streams, and failed sign-ins throttled per address and name."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gsomia.node.events import MAX_STREAMS_PER_USER

from .nodes import NodeProc, make_nodes
from .sse import SseReader, tune

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
EVENTS = "/native/v1/events"


@pytest.fixture(scope="module")
def kor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProc]:
    node = make_nodes(tmp_path_factory.mktemp("edges"), ("KOR", "USA"))["KOR"]
    tune(node, event_heartbeat=0.3, cosign_interval=0)
    node.start()
    try:
        yield node
    finally:
        node.stop()


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found is not None, page.text[:500]
    return found.group(1)


def try_sign_in(client: httpx.Client, token: str, name: str | None = None) -> httpx.Response:
    """Fill in and post the sign-in form as a browser would (the pre-session cookie kept)."""
    form = {"csrf": csrf_of(client.get("/console/login")), "token": token}
    if name is not None:
        form["name"] = name
    return client.post("/console/login", data=form)


def signed_in(node: NodeProc, user: str = "analyst") -> httpx.Client:
    client = httpx.Client(base_url=node.url, timeout=10)
    r = try_sign_in(client, node.users[user])
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/console/"
    return client


def session_cookie(node: NodeProc, client: httpx.Client) -> dict[str, str]:
    name = f"gsomia_{node.party}"
    value = client.cookies.get(name)
    assert value is not None
    return {name: value}


def last_comment(reader: SseReader, timeout: float = 15.0) -> str | None:
    """The first comment that is not a heartbeat (None if the stream ends first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        comment = reader.next_comment(timeout=10)
        if comment != "heartbeat":
            return comment
    raise AssertionError("the stream goes on")


def opened(url: str, **kwargs: Any) -> httpx.Response:
    """The response to a GET, its body read only if it is not an event stream (which never
    ends): a refusal is read whole, a stream that opened is closed at once."""
    with httpx.stream("GET", url, timeout=10, **kwargs) as r:
        if not r.headers.get("content-type", "").startswith("text/event-stream"):
            r.read()
        return r


def wait_for(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_one_user_holds_a_bounded_number_of_streams(kor: NodeProc) -> None:
    readers = [SseReader(kor).start() for _ in range(MAX_STREAMS_PER_USER)]
    console = signed_in(kor)
    try:
        assert all(reader.status == 200 for reader in readers)
        # the next stream of the same user is refused, in the API's error shape
        r = opened(f"{kor.url}{EVENTS}", auth=kor.auth())
        assert r.status_code == 429
        assert r.json()["error_code"] == "too_many_requests"
        assert r.json()["http_status"] == "429"
        assert int(r.headers["retry-after"]) > 0
        # ... and at the console, which counts with the API
        r = opened(f"{kor.url}/console/events", cookies=session_cookie(kor, console))
        assert r.status_code == 429
        assert "text/html" in r.headers["content-type"]
        assert "Too many requests" in r.text
        assert int(r.headers["retry-after"]) > 0
        # another user still connects
        low = SseReader(kor, user="low").start()
        try:
            assert low.status == 200
            assert low.next_comment(timeout=10) == "heartbeat"
        finally:
            low.close()
        log = kor.log.read_text(encoding="utf-8", errors="replace")
        assert re.search(
            r'refused: action="event stream" user=analyst party=KOR '
            rf'reason="{MAX_STREAMS_PER_USER} streams open" address=127\.0\.0\.1\n',
            log,
        ), log[-2000:]
        # a stream closed frees its place
        readers.pop().close()

        def one_more() -> bool:
            return opened(f"{kor.url}{EVENTS}", auth=kor.auth()).status_code == 200

        wait_for(one_more, "a place freed by a closed stream")
    finally:
        for reader in readers:
            reader.close()
        console.close()


def test_signing_out_ends_the_sessions_streams(kor: NodeProc) -> None:
    client = signed_in(kor)
    other = signed_in(kor)  # the same user in another browser: its stream goes on
    cookie = session_cookie(kor, client)
    stream = SseReader(kor, path="/console/events", cookies=cookie).start()
    kept = SseReader(kor, path="/console/events", cookies=session_cookie(kor, other)).start()
    try:
        assert (stream.status, kept.status) == (200, 200)
        feed = client.get("/console/")
        assert feed.status_code == 200
        r = client.post("/console/logout", data={"csrf": csrf_of(feed)})
        assert r.status_code == 303
        assert r.headers["location"] == "/console/login"
        assert last_comment(stream) == "the session ended; sign in again"
        assert stream.frames.get(timeout=10) is None  # the stream is over
        # the other session's stream still delivers (heartbeats), and it still may sign in
        assert kept.next_comment(timeout=10) == "heartbeat"
        assert other.get("/console/").status_code == 200
        # the signed-out cookie opens no new stream
        assert f"gsomia_{kor.party}" not in client.cookies  # the browser was told to forget it
        assert opened(f"{kor.url}/console/events", cookies=cookie).status_code == 403
    finally:
        stream.close()
        kept.close()
        client.close()
        other.close()


def test_failed_sign_ins_are_throttled_per_address_and_name(tmp_path: Path) -> None:
    node = make_nodes(tmp_path, ("JPN", "USA"))["JPN"]
    node.start()
    client = httpx.Client(base_url=node.url, timeout=10)
    wrong = "gsomia_not-the-token-" + "x" * 20
    try:
        statuses = [try_sign_in(client, wrong, name="analyst").status_code for _ in range(4)]
        assert statuses == [401, 401, 401, 401]
        # now blocked: even the right token, with the name or without it, from this address
        for name in ("analyst", None):
            r = try_sign_in(client, node.users["analyst"], name=name)
            assert r.status_code == 429
            assert int(r.headers["retry-after"]) >= 1
            assert "Too many failed sign-ins" in r.text
            assert 'role="alert"' in r.text
            assert f"gsomia_{node.party}" not in client.cookies
        log = node.log.read_text(encoding="utf-8", errors="replace")
        assert 'action="console sign-in" user=analyst party=JPN reason="throttled' in log
        assert re.search(
            r'refused: action="console sign-in" user=analyst party=JPN '
            r'reason="sign-in with an unknown user or token; blocked for 1 s" '
            r"address=127\.0\.0\.1\n",
            log,
        ), log[-2000:]
        assert wrong not in log
        assert node.users["analyst"] not in log
        # once the delay has passed the right token signs in (polling does not extend it)

        def signs_in() -> bool:
            return try_sign_in(client, node.users["analyst"]).status_code == 303

        wait_for(signs_in, "the sign-in delay to pass", timeout=30)
        assert client.get("/console/").status_code == 200
    finally:
        client.close()
        node.stop()
