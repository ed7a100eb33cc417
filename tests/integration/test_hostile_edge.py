"""The node's edge against a hostile client: credentials before bodies, every body bounded,
strict JSON, throttled credential guessing, and request heads bounded in size and time.

Real node processes on loopback; memory is the node process's resident set (VmRSS)."""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from gsomia.clock import SystemClock
from gsomia.node import federation
from gsomia.node.service import Node

from .native_client import collection_at
from .nodes import TAXII, NodeProc, make_nodes, report

HEADERS = {"Accept": TAXII, "Content-Type": TAXII}
MIB = 1024 * 1024
HUGE = 200 * MIB
CHUNK = b"x" * MIB
RSS_GROWTH_LIMIT = 50 * MIB


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, NodeProc]]:
    nodes = make_nodes(tmp_path_factory.mktemp("edge"))
    for party in ("KOR", "JPN"):
        config = nodes[party].config  # the slow-head tests wait one second, not ten
        config.write_text("header_timeout = 1\n" + config.read_text(encoding="utf-8"))
        nodes[party].start()
    try:
        yield nodes
    finally:
        for node in nodes.values():
            node.stop()


# ---------------------------------------------------------------------- helpers
def rss(node: NodeProc) -> int:
    """The node process's resident memory, in bytes."""
    assert node.proc is not None
    for line in Path(f"/proc/{node.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def stream(size: int) -> Iterator[bytes]:
    for _ in range(size // len(CHUNK)):
        yield CHUNK


def own(node: NodeProc) -> str:
    return f"{node.api_root}collections/{collection_at(node)}/objects/"


def count(node: NodeProc, collection: str | None = None) -> int:
    url = own(node) if collection is None else f"{node.api_root}collections/{collection}/objects/"
    r = httpx.get(url + "?match[version]=all&limit=1000", headers=HEADERS, auth=node.auth())
    assert r.status_code == 200, r.text
    return len(r.json().get("objects", []))


def reports(node: NodeProc) -> Any:
    r = httpx.get(f"{node.url}/native/v1/reports", auth=node.auth("admin"))
    assert r.status_code == 200, r.text
    return r.json()


def refused(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text[:500]
    body = r.json()
    assert set(body) == {"title", "description", "error_code", "http_status"}
    assert body["http_status"] == str(status)
    return dict(body)


def huge_post(url: str, headers: dict[str, str], *, declared: bool) -> httpx.Response:
    """POST 200 MiB streamed from a generator: chunked, or with its Content-Length declared."""
    sized = {"Content-Length": str(HUGE)} if declared else {}
    return httpx.post(
        url, content=stream(HUGE), headers={**headers, **sized}, timeout=httpx.Timeout(120)
    )


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def signed(
    node: Node, recipient: str, body: bytes, path: str = "/peer/v1/releases"
) -> dict[str, str]:
    return {
        **federation.sign_request(
            node, recipient, body, SystemClock().now(), method="POST", target=path
        ),
        "Content-Type": "application/json",
    }


# ---------------------------------------------------------------------- credentials first
def test_an_unauthenticated_huge_body_is_refused_unread(pair: dict[str, NodeProc]) -> None:
    kor = pair["KOR"]
    before_reports = reports(kor)
    before = rss(kor)
    json_headers = {"Content-Type": "application/json"}
    for url, headers in ((f"{kor.url}/native/v1/reports", json_headers), (own(kor), HEADERS)):
        for declared in (False, True):
            body = refused(huge_post(url, headers, declared=declared), 401)
            assert "authentication required" in body["description"]
        # wrong credentials are refused as early (from an address of their own: they count)
        with client_from("127.0.0.3") as client:
            r = client.post(
                url,
                content=stream(HUGE),
                headers={**headers, "Authorization": "Bearer nope"},
                timeout=httpx.Timeout(120),
            )
        refused(r, 401)
    assert rss(kor) - before < RSS_GROWTH_LIMIT
    assert reports(kor) == before_reports


def test_a_huge_peer_body_without_valid_signature_headers_is_refused_unread(
    pair: dict[str, NodeProc], usa_offline: Node
) -> None:
    jpn = pair["JPN"]
    received = collection_at(jpn, "USA")
    stored = count(jpn, received)
    good = signed(usa_offline, "JPN", b"{}")
    bad_headers: list[tuple[dict[str, str], str]] = [
        ({}, "missing or malformed"),
        ({**good, "X-Gsomia-Key": "no-such-key"}, "no trusted key"),
        ({**good, "X-Gsomia-Party": "KOR"}, "no trusted key"),  # USA's key claimed by KOR
        ({**good, "X-Gsomia-Party": "JPN"}, "not a peer"),
        ({**good, "X-Gsomia-Timestamp": "2020-01-01T00:00:00Z"}, "outside the accepted window"),
        ({**good, "X-Gsomia-Signature": "AAAA"}, "missing or malformed"),
        ({**good, "X-Gsomia-Content-Digest": "AAAA"}, "not a SHA-256 digest"),
        # well formed, from USA's real key, but not over this digest: a forgery
        ({**good, "X-Gsomia-Content-Digest": b64(bytes(32))}, "signature"),
    ]
    before = rss(jpn)
    for path in ("/peer/v1/releases", "/peer/v1/notices", "/peer/v1/consent-requests"):
        for i, (headers, why) in enumerate(bad_headers):
            if i < 2 or i == len(bad_headers) - 1:  # 200 MiB, chunked then declared
                r = huge_post(f"{jpn.url}{path}", headers, declared=i == 1)
            else:
                r = httpx.post(f"{jpn.url}{path}", headers=headers, content=b"{}" * 1000)
            assert why in refused(r, 401)["description"], (path, headers)
    assert rss(jpn) - before < RSS_GROWTH_LIMIT
    assert count(jpn, received) == stored


# ---------------------------------------------------------------------- every body bounded
def test_an_oversized_authenticated_body_gets_413_on_every_route_class(
    pair: dict[str, NodeProc], usa_offline: Node
) -> None:
    kor, jpn = pair["KOR"], pair["JPN"]
    stored, before_reports = count(kor), reports(kor)
    admin = {"Authorization": f"Bearer {kor.users['admin']}"}
    big = b'{"detail": "' + b"x" * (300 * 1024) + b'"}'

    def both(url: str, headers: dict[str, str], body: bytes) -> None:
        for chunked in (False, True):
            content: Any = iter([body[: len(body) // 2], body[len(body) // 2 :]])
            r = httpx.post(url, headers=headers, content=content if chunked else body)
            assert "larger than" in refused(r, 413)["description"], url

    # TAXII: the node's max_content_length (1 MiB in these tests)
    envelope = orjson.dumps(report(1, description="x" * (2 * MIB)))
    both(own(kor), {**HEADERS, **admin}, envelope)
    # the native API, its log and its event stream
    json_headers = {**admin, "Content-Type": "application/json"}
    both(f"{kor.url}/native/v1/reports", json_headers, big)
    both(f"{kor.url}/native/v1/log/checkpoint", json_headers, big)
    with httpx.stream(
        "GET",
        f"{kor.url}/native/v1/events",
        headers={**admin, "Accept": "text/event-stream"},
        content=big,
    ) as r:
        assert r.status_code == 413
    # the peer protocol, signed correctly
    body = b'{"request": "' + b"x" * (300 * 1024) + b'"}'
    both(
        f"{jpn.url}/peer/v1/reports",
        signed(usa_offline, "JPN", body, "/peer/v1/reports"),
        body,
    )
    # the console (a form past its limit, with a session cookie)
    form = b"csrf=x&scenario=" + b"x" * (300 * 1024)
    console = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": "gsomia_KOR=not-checked-before-the-size",
    }
    both(f"{kor.url}/console/agreements/scenario", console, form)
    # any other route: no body at all
    both(f"{kor.url}/openapi.json", {}, b"{}")
    assert count(kor) == stored
    assert reports(kor) == before_reports


def test_a_console_post_without_a_session_cookie_is_refused_unread(
    pair: dict[str, NodeProc],
) -> None:
    kor = pair["KOR"]
    before = rss(kor)
    for path in ("/console/agreements/scenario", "/console/reports", "/console/login"):
        for declared in (False, True):
            r = huge_post(
                f"{kor.url}{path}",
                {"Content-Type": "application/x-www-form-urlencoded"},
                declared=declared,
            )
            assert r.status_code == 303, r.text[:300]
            assert r.headers["location"] == "/console/login"
    log = kor.log.read_text(encoding="utf-8", errors="replace")
    assert (
        'refused: action="console POST" user=- party=KOR reason="no session cookie" '
        "path=/console/reports\n" in log
    )
    assert rss(kor) - before < RSS_GROWTH_LIMIT


# ---------------------------------------------------------------------- strict JSON
def test_duplicate_keys_are_refused_on_every_route(
    pair: dict[str, NodeProc], usa_offline: Node
) -> None:
    kor, jpn = pair["KOR"], pair["JPN"]
    stored, before_reports = count(kor), reports(kor)
    # TAXII publish: orjson would keep the last "objects" and publish it
    objects = orjson.dumps(report(2)["objects"])
    envelope = b'{"objects": [], "objects": ' + objects + b"}"
    body = refused(httpx.post(own(kor), headers=HEADERS, auth=kor.auth(), content=envelope), 422)
    assert "duplicate key 'objects'" in body["description"]
    # a duplicate deep inside an object
    inner = orjson.dumps(report(3)).replace(b'"name":', b'"name":"a","name":', 1)
    body = refused(httpx.post(own(kor), headers=HEADERS, auth=kor.auth(), content=inner), 422)
    assert "duplicate key 'name'" in body["description"]
    # a native POST (FastAPI's json.loads would keep the last)
    doc = b'{"item": "x--1/2026", "kind": "loss", "kind": "findings", "detail": "d"}'
    r = httpx.post(
        f"{kor.url}/native/v1/reports",
        content=doc,
        headers={"Content-Type": "application/json"},
        auth=kor.auth(),
    )
    assert "duplicate key 'kind'" in refused(r, 422)["description"]
    # a native POST without a Content-Type is parsed as JSON as well
    r = httpx.post(f"{kor.url}/native/v1/reports", content=doc, auth=kor.auth())
    assert "duplicate key 'kind'" in refused(r, 422)["description"]
    # a peer push, signed correctly
    push = b'{"items": ["AAAA"], "items": ["QUJD"]}'
    r = httpx.post(
        f"{jpn.url}/peer/v1/releases", content=push, headers=signed(usa_offline, "JPN", push)
    )
    assert "duplicate key 'items'" in refused(r, 422)["description"]
    assert count(kor) == stored
    assert reports(kor) == before_reports


def test_numbers_beyond_what_the_formats_carry_are_refused(
    pair: dict[str, NodeProc], usa_offline: Node
) -> None:
    kor, jpn = pair["KOR"], pair["JPN"]
    stored = count(kor)
    envelope = report(4)
    for number in (b"1" * 200_000, b"-" + b"9" * 5000, b"9007199254740993", b"1e400"):
        text = orjson.dumps(envelope).replace(
            b'"name":"Report 4"', b'"name":"Report 4","x_size":' + number, 1
        )
        body = refused(httpx.post(own(kor), headers=HEADERS, auth=kor.auth(), content=text), 422)
        assert "x_size" not in body["description"]  # the message names the number, not more
        assert "integer" in body["description"] or "out of range" in body["description"]
    for constant in (b"NaN", b"Infinity", b"-Infinity"):
        text = b'{"objects": [], "x": ' + constant + b"}"
        body = refused(httpx.post(own(kor), headers=HEADERS, auth=kor.auth(), content=text), 422)
        assert "is not JSON" in body["description"]
    # the native API and the peer protocol too (never a 500)
    big = b'{"item": ' + b"1" * 60_000 + b', "kind": "loss", "detail": "d"}'
    r = httpx.post(
        f"{kor.url}/native/v1/reports",
        content=big,
        headers={"Content-Type": "application/json"},
        auth=kor.auth(),
    )
    assert "integer" in refused(r, 422)["description"]
    push = b'{"items": [], "n": ' + b"7" * 200_000 + b"}"
    r = httpx.post(
        f"{jpn.url}/peer/v1/releases", content=push, headers=signed(usa_offline, "JPN", push)
    )
    assert "integer" in refused(r, 422)["description"]
    # what the formats carry still passes: the greatest integer JSON carries exactly
    fine = orjson.dumps(envelope).replace(
        b'"name":"Report 4"', b'"name":"Report 4","x_size":9007199254740991', 1
    )
    r = httpx.post(own(kor), headers=HEADERS, auth=kor.auth(), content=fine)
    assert r.status_code == 202, r.text
    assert count(kor) > stored


# ---------------------------------------------------------------------- throttling
def client_from(address: str) -> httpx.Client:
    """A client whose connections come from ``address`` (any 127.x.y.z is loopback)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=10)


def test_failed_credentials_are_throttled_per_address(pair: dict[str, NodeProc]) -> None:
    kor = pair["KOR"]
    url = f"{kor.url}/taxii2/"
    good = {"Accept": TAXII, "Authorization": f"Bearer {kor.users['analyst']}"}
    with client_from("127.0.0.2") as client:
        # three failures are free: a correct token still passes
        for i in range(3):
            refused(client.get(url, headers={"Accept": TAXII}, auth=(f"guess{i}", "wrong")), 401)
        assert client.get(url, headers=good).status_code == 200
        # then each failure blocks the address, longer each time, whatever user it names
        throttled = None
        for i in range(3, 12):
            r = client.get(url, headers={"Accept": TAXII}, auth=(f"guess{i}", "wrong-token"))
            assert r.status_code in (401, 429)
            r = client.get(url, headers=good)
            if r.status_code == 429:
                throttled = r
                break
            assert r.status_code == 200
        assert throttled is not None, "a correct token was never throttled after failures"
        body = refused(throttled, 429)
        assert body["error_code"] == "too_many_requests"
        assert int(throttled.headers["Retry-After"]) >= 1
    # another address is not blocked
    assert httpx.get(url, headers=good).status_code == 200
    log = kor.log.read_text(encoding="utf-8", errors="replace")
    assert (
        'refused: action=authenticate user=guess0 party=KOR reason="failed API credentials" '
        "address=127.0.0.2 path=/taxii2/" in log
    )
    assert (
        'refused: action=authenticate user=- party=KOR reason="throttled API credentials" '
        "address=127.0.0.2 path=/taxii2/" in log
    )
    assert "wrong-token" not in log
    assert kor.users["analyst"] not in log


def test_failed_credentials_are_throttled_per_user(pair: dict[str, NodeProc]) -> None:
    kor = pair["KOR"]
    url = f"{kor.url}/taxii2/"
    accept = {"Accept": TAXII}
    addresses = (f"127.0.1.{i}" for i in range(1, 250))

    def from_elsewhere(auth: tuple[str, str]) -> httpx.Response:
        with client_from(next(addresses)) as client:
            return client.get(url, headers=accept, auth=auth)

    # three failures are free (and a success forgets them)
    for attempt in range(3):
        refused(from_elsewhere(("low", f"guess-{attempt}")), 401)
    assert from_elsewhere(kor.auth("low")).status_code == 200
    # six failures for "low", each from another address: the user is blocked 1, 2, then 4 s
    failures = 0
    while failures < 6:
        r = from_elsewhere(("low", f"guess-{failures}"))
        if r.status_code == 429:  # blocked already: wait, so that the next failure counts
            time.sleep(int(r.headers["Retry-After"]))
            continue
        refused(r, 401)
        failures += 1
    # now a correct token for "low", from an address never seen, is throttled too
    body = refused(from_elsewhere(kor.auth("low")), 429)
    assert "try again later" in body["description"]
    # other users are not
    assert httpx.get(url, headers=accept, auth=kor.auth("analyst")).status_code == 200
    log = kor.log.read_text(encoding="utf-8", errors="replace")
    assert 'user=low party=KOR reason="throttled API credentials" address=127.0.1.' in log


# ---------------------------------------------------------------------- request heads
def exchange(node: NodeProc, data: bytes, *, wait: float = 30.0) -> bytes:
    """Send ``data`` on a new connection; what comes back until the node closes it (an
    exception if the node keeps it open for ``wait`` seconds)."""
    with socket.create_connection(("127.0.0.1", node.port), timeout=wait) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            return b""
        answer = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                return answer
            if not chunk:
                return answer
            answer += chunk


def test_a_huge_request_head_is_refused(pair: dict[str, NodeProc]) -> None:
    kor = pair["KOR"]
    big = b"GET /taxii2/ HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (100 * 1024) + b"\r\n\r\n"
    answer = exchange(kor, big)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    many = b"GET /taxii2/ HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 20_000 + b"\r\n"
    answer = exchange(kor, many)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    # a head that never ends is cut off too, before its end comes
    endless = b"GET /taxii2/ HTTP/1.1\r\nX-Big: " + b"a" * (200 * 1024)
    answer = exchange(kor, endless)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    # a normal head still passes
    assert exchange(
        kor, b"GET /taxii2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    ).startswith(b"HTTP/1.1 401 ")


def test_a_slow_request_head_is_disconnected(pair: dict[str, NodeProc]) -> None:
    kor = pair["KOR"]
    # half a request line, then nothing: the node closes the connection (header_timeout)
    assert exchange(kor, b"GET /taxii2/ HT") == b""
    # a connection that sends nothing at all
    assert exchange(kor, b"") == b""
    # a head dripped a byte at a time is cut off as well
    with socket.create_connection(("127.0.0.1", kor.port), timeout=30) as sock:
        sock.settimeout(0.3)
        closed = False
        for byte in b"GET /taxii2/ HTTP/1.1\r\nX-Slow: " + b"a" * 200:
            try:
                sock.sendall(bytes([byte]))
                if sock.recv(1) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
        assert closed, "a head dripped for a minute was never cut off"
