"""The HTTP server of a node: uvicorn with a bounded request head and a timeout on it.

uvicorn's httptools protocol (the fast parser ``uvicorn[standard]`` brings) takes request
heads of any size and waits for them forever: a client that sends half a request line and
stops keeps its connection (slowloris), and one that sends a megabyte of headers has it
parsed. ``bounded_protocol`` makes a subclass that

- closes a connection whose request line and headers are not complete within
  ``header_timeout`` seconds of the connection opening or of the head's first byte (between
  requests, uvicorn's keep-alive timeout closes an idle connection);
- answers 431 and closes when the request line and headers pass ``MAX_HEAD_BYTES``, counted
  as the parser reports them and, while a head is incomplete, as bytes arrive.

The node is reached directly (no proxy in front), so ``X-Forwarded-For`` is not trusted: the
client address that throttling counts is the socket's.

With a ``[tls]`` table the server speaks TLS 1.3 only (``gsomia.api.tls.server_context``), and
the protocol puts the client's verified certificate (DER; None if it sent none) into each
request's scope under ``CLIENT_CERT_SCOPE_KEY``, where the guard's peer check finds it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import orjson
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gsomia.api.http import error_body
from gsomia.api.tls import CLIENT_CERT_SCOPE_KEY, pinned_certs, server_context

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from gsomia.node.config import NodeConfig

log = logging.getLogger("gsomia.api")

MAX_HEAD_BYTES = 16 * 1024  # request line and headers together (h11's default, nginx's 8 KiB x2)
KEEP_ALIVE_TIMEOUT = 5  # seconds an idle connection stays open between requests
GRACEFUL_SHUTDOWN = 5  # seconds in-flight requests get at shutdown


class _HeadTooLargeError(Exception):
    """Raised in a parser callback to stop parsing a head past the limit."""


def _too_large_response() -> bytes:
    body = orjson.dumps(
        error_body(
            431,
            "request_header_fields_too_large",
            f"the request line and headers are larger than {MAX_HEAD_BYTES} bytes",
        )
    )
    return (
        b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
        b"content-type: application/json\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n"
        b"connection: close\r\n\r\n" + body
    )


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bounded head and ``header_timeout`` on it."""

    header_timeout: float  # set by ``bounded_protocol``
    _head_timer: asyncio.TimerHandle | None = None
    _in_head = True  # waiting for a request line and headers to complete
    _head_bytes = 0  # of the head being parsed, as the parser reported it
    _head_raw = 0  # bytes received while a head was incomplete
    _too_large = False
    _client_cert: bytes | None = None  # DER, verified by the handshake against tls.client_ca

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            self._client_cert = ssl_object.getpeercert(binary_form=True)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._in_head and not self.transport.is_closing():
            self._head_raw += len(data)
            if self._head_raw > MAX_HEAD_BYTES:
                self._refuse_head()

    # parser callbacks
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope[CLIENT_CERT_SCOPE_KEY] = self._client_cert  # type: ignore[literal-required]
        self._in_head = True
        self._head_bytes = 0
        if self._head_timer is None:
            self._arm()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_raw = 0
        self._disarm()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        if self._too_large:
            self._refuse_head()
        else:
            super().send_400_response(msg)

    # the head's bounds
    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > MAX_HEAD_BYTES:
            self._too_large = True
            raise _HeadTooLargeError  # the parser stops; uvicorn calls send_400_response

    def _refuse_head(self) -> None:
        self._disarm()
        if not self.transport.is_closing():
            log.info("closing a connection from %s: request head too large", self.client)
            self.transport.write(_too_large_response())
            self.transport.close()

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            log.info("closing a connection from %s: request head incomplete", self.client)
            self.transport.close()


def bounded_protocol(header_timeout: float) -> type[asyncio.Protocol]:
    """``BoundedHttpToolsProtocol`` with ``header_timeout`` (seconds) on request heads."""
    return type(
        "BoundedHttpToolsProtocol", (BoundedHttpToolsProtocol,), {"header_timeout": header_timeout}
    )


def make_server(
    app: ASGIApp,
    config: NodeConfig,
    *,
    log_level: str,
    fd: int | None = None,
    tls_password: bytes | None = None,
) -> uvicorn.Server:
    """The uvicorn server of a node, its request heads bounded in size and time; on the
    listening socket ``fd`` when given (a worker of ``gsomia serve --workers N``), else on the
    config's address. With ``config.tls``, HTTPS (TLS 1.3 only), the key opened with
    ``tls_password``; a bad key, certificate, CA or pinned peer certificate is a BadInput
    here, before a socket is opened."""
    settings: dict[str, Any] = {
        "host": config.host,
        "port": config.port,
        "fd": fd,
        "log_level": log_level,
        "lifespan": "on",
        "http": bounded_protocol(config.header_timeout),
        "timeout_keep_alive": KEEP_ALIVE_TIMEOUT,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN,
        "proxy_headers": False,  # nothing sits in front of a node: the socket names the client
        "server_header": False,
    }
    if config.tls is not None:
        pinned_certs(config)  # every peer has a readable pinned certificate, or no start
        context = server_context(config, tls_password)
        settings["ssl_context_factory"] = lambda _config, _default: context
    return uvicorn.Server(uvicorn.Config(app, **settings))
