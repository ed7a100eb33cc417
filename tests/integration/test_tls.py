"""TLS everywhere outside: three nodes on HTTPS (TLS 1.3) with mutual TLS between them.

One set of nodes for the module. A client that does not trust the nodes' CA, one presenting a
certificate of another CA, plain HTTP and TLS 1.2 are all refused at the connection; a peer
request without a client certificate, or with another party's certificate under a valid
signature, is refused at the edge; taxii2-client works over HTTPS with the CA; a release from
KOR reaches JPN over mutual TLS; discovery lists https:// API roots; a node's outgoing calls
refuse a server whose certificate is not the one pinned to the peer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import ssl
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pytest
from taxii2client.v21 import Server

from gsomia.api.peer import PUSH_PATH
from gsomia.api.tls import PinnedTransport, client_context, pinned_certs
from gsomia.app.boot import load_config
from gsomia.app.pki import write_ca, write_node_tls
from gsomia.errors import BadInput
from gsomia.node import federation
from gsomia.node.config import NodeConfig

from .nodes import PASSPHRASE, TAXII, NodeProc, make_nodes, opened, report, running

REPORT_ID = "report--00000000-0000-4000-8000-000000000501"


@pytest.fixture(scope="module")
def trio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, NodeProc]]:
    root = tmp_path_factory.mktemp("tls")
    with running(make_nodes(root, tls=True)) as nodes:
        yield nodes


@pytest.fixture(scope="module")
def stranger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A certificate for KOR from another CA (its key in plaintext: a test's)."""
    root = tmp_path_factory.mktemp("stranger")
    return write_node_tls(root / "KOR", "KOR", hosts=(), passphrase=None).cert


def ca_of(node: NodeProc) -> Path:
    assert node.ca is not None
    return node.ca


def tls_root(node: NodeProc) -> Path:
    return ca_of(node).parent.parent


def client_cert_context(node: NodeProc, party: str) -> ssl.SSLContext:
    """A client context trusting the nodes' CA and presenting ``party``'s node certificate."""
    context = ssl.create_default_context(cafile=ca_of(node))
    cert = tls_root(node) / party
    context.load_cert_chain(cert / "tls.crt", cert / "tls.key", password=PASSPHRASE.encode())
    return context


def test_taxii2_client_over_https_with_the_ca_and_discovery_says_https(
    trio: dict[str, NodeProc], monkeypatch: pytest.MonkeyPatch
) -> None:
    # requests prefers a CA bundle named in the environment to a session's verify=
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    kor, jpn = trio["KOR"], trio["JPN"]
    server = Server(
        f"{kor.url}/taxii2/", user="analyst", password=kor.users["analyst"], verify=str(ca_of(kor))
    )
    assert server._raw["api_roots"] == [f"https://127.0.0.1:{kor.port}/api/"]
    [root] = server.api_roots
    collections = {c.title: c for c in root.collections}
    status = collections["KOR: originated here"].add_objects(orjson.dumps(report(501)).decode())
    assert status.status == "complete"
    # the release reaches JPN over mutual TLS, KOR's pusher presenting KOR's certificate
    at_jpn = Server(
        f"{jpn.url}/taxii2/", user="analyst", password=jpn.users["analyst"], verify=str(ca_of(jpn))
    )
    [jpn_root] = at_jpn.api_roots
    received = {c.title: c for c in jpn_root.collections}["JPN: received from KOR"]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if REPORT_ID in {o["id"] for o in received.get_objects().get("objects", [])}:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"{REPORT_ID} never reached JPN over mutual TLS")


def test_a_client_that_does_not_trust_the_ca_is_refused(
    trio: dict[str, NodeProc], stranger: Path
) -> None:
    other_ca = ssl.create_default_context(cafile=stranger.parent / "ca" / "ca.crt")
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{trio['KOR'].url}/taxii2/", verify=other_ca, timeout=5)


def test_a_client_certificate_of_another_ca_is_refused_at_the_handshake(
    trio: dict[str, NodeProc], stranger: Path
) -> None:
    kor = trio["KOR"]
    context = ssl.create_default_context(cafile=ca_of(kor))
    context.load_cert_chain(stranger, stranger.parent / "tls.key")
    with pytest.raises(httpx.HTTPError, match=r"(?i)unknown ca|alert|reset|disconnected"):
        httpx.get(f"{kor.url}/taxii2/", verify=context, timeout=5).raise_for_status()


def test_plain_http_on_the_tls_port_is_refused(trio: dict[str, NodeProc]) -> None:
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        httpx.get(f"http://127.0.0.1:{trio['KOR'].port}/taxii2/", timeout=5)


def test_tls_1_2_is_refused(trio: dict[str, NodeProc]) -> None:
    kor = trio["KOR"]
    context = ssl.create_default_context(cafile=ca_of(kor))
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with (
        socket.create_connection(("127.0.0.1", kor.port), timeout=5) as raw,
        pytest.raises((ssl.SSLError, ConnectionResetError), match=r"(?i)version|eof|reset"),
    ):
        context.wrap_socket(raw, server_hostname="127.0.0.1")
    # the same client allowed TLS 1.3 connects
    context.maximum_version = ssl.TLSVersion.TLSv1_3
    with (
        socket.create_connection(("127.0.0.1", kor.port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.version() == "TLSv1.3"


def signed_push(trio: dict[str, NodeProc], party: str, context: ssl.SSLContext) -> httpx.Response:
    """An empty push to KOR signed by ``party``'s keys, over a connection with ``context``."""
    body = b'{"items":[]}'
    with opened(trio[party]) as sender:
        now = datetime.now(UTC)
        headers = federation.sign_request(sender, "KOR", body, now, method="POST", target=PUSH_PATH)
    headers["Content-Type"] = "application/json"
    return httpx.post(
        trio["KOR"].url + PUSH_PATH, content=body, headers=headers, verify=context, timeout=10
    )


def test_a_peer_request_without_a_client_certificate_is_refused(
    trio: dict[str, NodeProc],
) -> None:
    r = signed_push(trio, "JPN", ssl.create_default_context(cafile=ca_of(trio["KOR"])))
    assert r.status_code == 401, r.text
    assert "client certificate" in r.json()["description"]


def test_a_peer_presenting_another_partys_certificate_is_refused(
    trio: dict[str, NodeProc],
) -> None:
    kor = trio["KOR"]
    # USA's certificate (issued by the same CA) under JPN's valid signature
    r = signed_push(trio, "JPN", client_cert_context(kor, "USA"))
    assert r.status_code == 403, r.text
    assert r.json()["description"] == "the client certificate is not the one pinned to JPN"
    # JPN's own certificate with JPN's signature passes the edge (the empty push is read)
    r = signed_push(trio, "JPN", client_cert_context(kor, "JPN"))
    assert r.status_code not in (401, 403), r.text


def kor_config(trio: dict[str, NodeProc]) -> NodeConfig:
    return load_config(trio["KOR"].config)


def test_outgoing_calls_refuse_a_server_not_pinned_to_the_peer(
    trio: dict[str, NodeProc],
) -> None:
    config = kor_config(trio)
    pins = pinned_certs(config)
    jpn = trio["JPN"]
    context = client_context(config, PASSPHRASE.encode())

    async def call(pin: str) -> httpx.Response:
        transport = PinnedTransport(context, {jpn.url: pin})
        async with httpx.AsyncClient(transport=transport, timeout=5) as client:
            return await client.get(f"{jpn.url}/taxii2/")

    assert asyncio.run(call(pins["JPN"])).status_code == 401  # JPN's server: reached
    with pytest.raises(httpx.ConnectError, match="not the one pinned to this peer"):
        asyncio.run(call(pins["USA"]))  # JPN's server where USA's certificate is pinned


def test_a_tls_node_with_a_peer_without_a_pinned_certificate_does_not_start(
    trio: dict[str, NodeProc],
) -> None:
    config = kor_config(trio)
    bare = dataclasses.replace(
        config, peers=tuple(dataclasses.replace(p, cert=None) for p in config.peers)
    )
    with pytest.raises(BadInput, match="peer JPN has no pinned certificate"):
        pinned_certs(bare)
    with pytest.raises(BadInput, match=r"tls\.key .*: cannot open it"):
        client_context(config, b"not the passphrase")


def test_a_second_ca_in_the_same_place_is_refused(trio: dict[str, NodeProc]) -> None:
    with pytest.raises(BadInput, match=r"ca\.crt: already exists"):
        write_ca(ca_of(trio["KOR"]).parent, passphrase=PASSPHRASE.encode())


def test_the_taxii_accept_header_still_matters_over_tls(trio: dict[str, NodeProc]) -> None:
    kor = trio["KOR"]
    r = httpx.get(
        f"{kor.url}/taxii2/", headers={"Accept": TAXII}, auth=kor.auth(), verify=kor.verify
    )
    assert r.status_code == 200
    assert r.json()["default"] == f"https://127.0.0.1:{kor.port}/api/"
