"""TLS for a node: the listener's context, the client its outgoing peer calls use, and the
certificates pinned to its peers.

With a ``[tls]`` table the node speaks TLS 1.3 only, in both directions.

- The listener presents ``tls.cert`` (its key ``tls.key`` opened with the node's password:
  ``gsomia.app.pki.tls_password``) and asks every client for a certificate, verified against
  ``tls.client_ca`` when given but not required at the handshake: analysts authenticate with
  tokens. Peer routes require one (``Guard``): present, and the very certificate pinned in the
  config (``[[peers]] cert``) to the party whose key signed the request.
- Outgoing peer calls present the node's certificate and verify the peer's server against
  ``tls.client_ca`` and the peer URL's host name, then check its certificate is the one pinned
  to that peer (``PinnedTransport``), right after the handshake and before the request is
  sent: a certificate the CA issued to another party is refused even for the right host name.

A TLS node whose peer has no pinned certificate does not start (``pinned_certs``): fail closed.
The key is never written in plaintext to be handed to OpenSSL; ``load_cert_chain`` opens it in
memory with the password.
"""

from __future__ import annotations

import hmac
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from gsomia import primitives
from gsomia.api.http import HttpError
from gsomia.errors import BadInput
from gsomia.node.config import NodeConfig, TlsSettings

PEER_TIMEOUT = 10.0  # seconds for any one peer request
CLIENT_CERT_SCOPE_KEY = "gsomia.client_cert"  # the client's certificate (DER) or None


def _tls_of(config: NodeConfig) -> TlsSettings:
    if config.tls is None:
        raise BadInput(f"node config {config.source}: no [tls] table")
    return config.tls


def _load_chain(context: ssl.SSLContext, tls: TlsSettings, password: bytes | None) -> None:
    for path, what in ((tls.cert, "cert"), (tls.key, "key")):
        if not path.is_file():
            raise BadInput(f"tls.{what} {path}: no such file")
    try:
        # a password is asked only for an encrypted key; an empty one fails cleanly
        context.load_cert_chain(tls.cert, tls.key, password=password or b"")
    except ssl.SSLError as exc:
        raise BadInput(
            f"tls.key {tls.key}: cannot open it with tls.cert {tls.cert} (the node's "
            "passphrase or key file opens an encrypted key; is it the certificate's key?)"
        ) from exc


def _load_cas(context: ssl.SSLContext, tls: TlsSettings) -> None:
    if not tls.client_ca:
        raise BadInput("tls.client_ca: a TLS node needs the CA certificates its peers use")
    for path in tls.client_ca:
        try:
            context.load_verify_locations(cafile=path)
        except (OSError, ssl.SSLError) as exc:
            raise BadInput(f"tls.client_ca {path}: not a readable PEM CA certificate") from exc


def server_context(config: NodeConfig, password: bytes | None) -> ssl.SSLContext:
    """The listener's context: TLS 1.3 only, client certificates asked for and verified
    against ``tls.client_ca`` but optional (the peer routes require them)."""
    tls = _tls_of(config)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    _load_chain(context, tls, password)
    _load_cas(context, tls)
    context.verify_mode = ssl.CERT_OPTIONAL
    return context


def client_context(config: NodeConfig, password: bytes | None) -> ssl.SSLContext:
    """The context of outgoing peer calls: TLS 1.3 only, the node's certificate presented,
    servers verified against ``tls.client_ca`` and their host name."""
    tls = _tls_of(config)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED, host names checked
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    _load_chain(context, tls, password)
    _load_cas(context, tls)
    return context


def pinned_certs(config: NodeConfig) -> dict[str, str]:
    """Each peer's pinned certificate as a SHA-256 fingerprint, by party (empty without TLS).
    A TLS node's peer without a readable pinned certificate is a configuration error."""
    if config.tls is None:
        return {}
    pins: dict[str, str] = {}
    for peer in config.peers:
        where = f"node config {config.source}: peer {peer.party}"
        if peer.cert is None:
            raise BadInput(f"{where} has no pinned certificate (cert); a TLS node needs one")
        if not urlsplit(peer.url).scheme == "https":
            raise BadInput(f"{where}: url {peer.url} must be https:// on a TLS node")
        pins[peer.party] = primitives.cert_fingerprint(
            primitives.cert_der(_read(peer.cert, f"{where} cert"), where=f"{where} cert")
        )
    return pins


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BadInput(f"{what} {path}: cannot read ({exc.strerror or exc})") from None


def check_pin(pins: Mapping[str, str], party: str, der: bytes | None) -> None:
    """Refuse (401 without a certificate, 403 with another) unless ``der`` is the certificate
    pinned to ``party``."""
    if der is None:
        raise HttpError(401, "unauthorized", "peer routes need a client certificate (mutual TLS)")
    pinned = pins.get(party)
    if pinned is None or not hmac.compare_digest(pinned, primitives.cert_fingerprint(der)):
        raise HttpError(
            403, "forbidden", f"the client certificate is not the one pinned to {party}"
        )


class PinnedTransport(httpx.AsyncHTTPTransport):
    """An HTTPS transport that, as soon as a handshake has verified a server against the CA
    and its host name, and before a byte of the request is sent, checks the server's
    certificate is the one pinned to the peer at that origin (``httpcore``'s trace hook)."""

    def __init__(self, context: ssl.SSLContext, pins_by_origin: Mapping[str, str]) -> None:
        super().__init__(verify=context)
        self._pins = dict(pins_by_origin)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        origin = f"{request.url.scheme}://{request.url.netloc.decode('ascii')}"
        pinned = self._pins.get(origin)
        if pinned is None:
            msg = f"{origin}: not a peer of this node"
            raise httpx.ConnectError(msg, request=request)

        async def on_event(name: str, info: dict[str, Any]) -> None:
            if name != "connection.start_tls.complete":
                return
            stream = info["return_value"]
            ssl_object = stream.get_extra_info("ssl_object")
            der = None if ssl_object is None else ssl_object.getpeercert(binary_form=True)
            if der is None or not hmac.compare_digest(pinned, primitives.cert_fingerprint(der)):
                await stream.aclose()
                msg = f"{origin}: the server's certificate is not the one pinned to this peer"
                raise httpcore.ConnectError(msg)

        request.extensions = {**request.extensions, "trace": on_event}
        return await super().handle_async_request(request)


def peer_client(config: NodeConfig, *, password: bytes | None = None) -> httpx.AsyncClient:
    """The client for the node's outgoing peer calls (pushes, messages, co-signing): plain
    without TLS; with it, mutual TLS 1.3 to each peer's pinned certificate only. ``password``
    opens the node's TLS key (``gsomia.app.pki.tls_password``)."""
    if config.tls is None:
        return httpx.AsyncClient(timeout=PEER_TIMEOUT)
    pins = pinned_certs(config)
    by_origin = {}
    for peer in config.peers:
        url = urlsplit(peer.url)
        by_origin[f"{url.scheme}://{url.netloc}"] = pins[peer.party]
    transport = PinnedTransport(client_context(config, password), by_origin)
    return httpx.AsyncClient(timeout=PEER_TIMEOUT, transport=transport)
