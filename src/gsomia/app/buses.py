"""Opening a node's bus by URL: the one place that names a bus backend.

A node's config may say where its bus is (``bus = "…"``); without it the bus is in-process.
The schemes known:

- ``memory:`` (or no ``bus`` at all) — the in-process bus: the node's workers are the tasks of
  one process; no server to start.
- ``nats://HOST[:PORT][,HOST[:PORT]…][?prefix=NAME&ack_wait=SECONDS&replicas=N]`` — NATS
  JetStream (port 4222 unless told; several hosts for a cluster). ``prefix`` (default
  ``gsomia``) names the node's subjects, streams and buckets, so that several deployments share
  a server; ``ack_wait`` is the seconds a taken job may stay unacknowledged (default 30);
  ``replicas`` the copies JetStream keeps of the node's streams and lease buckets (1 to 5,
  default 1; 3 in a three-server cluster, so that losing one server loses nothing).

Any other scheme or option is refused, naming the config key. The node's use cases, the API
and the console see the bus through ``gsomia.bus.ports``.
"""

from __future__ import annotations

import math
import re
from urllib.parse import parse_qsl, urlsplit

from gsomia.bus.jetstream import DEFAULT_PREFIX, TOKEN, JetStreamBus
from gsomia.bus.local import LocalBus
from gsomia.bus.ports import Bus
from gsomia.errors import BadInput

MEMORY = "memory:"
NATS_PORT = 4222
DEFAULT_ACK_WAIT = 30.0
OPTIONS = ("ack_wait", "prefix", "replicas")
MAX_REPLICAS = 5  # JetStream's own limit
HOST = re.compile(r"[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]")
KNOWN = "memory: or nats://HOST[:PORT][,HOST[:PORT]…][?prefix=NAME&ack_wait=SECONDS&replicas=N]"


def open_bus(url: str | None, *, party: str, where: str) -> Bus:
    """The bus ``url`` names for the node of ``party`` (not started: the caller awaits
    ``start()``); BadInput naming ``where`` (the config key) for anything else."""
    if url is None or url == MEMORY:
        return LocalBus(ack_wait=DEFAULT_ACK_WAIT)
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise BadInput(f"{where}: {url!r} has no scheme; a bus is {KNOWN}")
    if scheme != "nats":
        raise BadInput(
            f"{where}: scheme {scheme!r} is not a bus this version of gsomia can open; "
            f"it knows {KNOWN}"
        )
    netloc, _, query = rest.partition("?")
    if "/" in netloc.rstrip("/") or "#" in query or "#" in netloc:
        raise BadInput(f"{where}: a NATS URL has no path or #fragment: {KNOWN}")
    if "@" in netloc:
        raise BadInput(f"{where}: a NATS URL with credentials is not supported (yet): {KNOWN}")
    servers = [_server(part, where=where) for part in netloc.rstrip("/").split(",")]
    prefix, ack_wait, replicas = _options(query, where=where)
    return JetStreamBus(servers, party=party, prefix=prefix, ack_wait=ack_wait, replicas=replicas)


def _server(hostport: str, *, where: str) -> str:
    try:
        parts = urlsplit(f"nats://{hostport}")
        port = parts.port
    except ValueError as exc:
        raise BadInput(f"{where}: {hostport!r}: not a HOST[:PORT] ({exc}): {KNOWN}") from None
    host = hostport.rsplit(":", 1)[0] if port is not None else hostport
    if not host or not HOST.fullmatch(host):
        raise BadInput(f"{where}: {hostport!r}: expected HOST[:PORT]: {KNOWN}")
    return f"nats://{host}:{port if port is not None else NATS_PORT}"


def _options(query: str, *, where: str) -> tuple[str, float, int]:
    try:
        options = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as exc:
        raise BadInput(f"{where}: the NATS URL's options are malformed ({exc})") from None
    names = [key for key, _ in options]
    unknown = sorted({key for key in names if key not in OPTIONS})
    if unknown:
        raise BadInput(
            f"{where}: unknown option(s) {', '.join(map(repr, unknown))} in the NATS URL; "
            f"known: {', '.join(OPTIONS)}"
        )
    twice = sorted({key for key in names if names.count(key) > 1})
    if twice:
        raise BadInput(f"{where}: the NATS URL gives {', '.join(twice)} more than once")
    given = dict(options)
    prefix = given.get("prefix", DEFAULT_PREFIX)
    if not TOKEN.fullmatch(prefix):
        raise BadInput(
            f"{where}: prefix {prefix!r}: expected letters, digits, _ and - (at most 64)"
        )
    replicas_text = given.get("replicas", "1")
    if not (replicas_text.isascii() and replicas_text.isdigit()) or not (
        1 <= int(replicas_text) <= MAX_REPLICAS
    ):
        raise BadInput(
            f"{where}: replicas {replicas_text!r}: expected a whole number from 1 to {MAX_REPLICAS}"
        )
    text = given.get("ack_wait")
    if text is None:
        return prefix, DEFAULT_ACK_WAIT, int(replicas_text)
    try:
        ack_wait = float(text)
    except ValueError:
        ack_wait = math.nan
    if not (math.isfinite(ack_wait) and ack_wait > 0):
        raise BadInput(f"{where}: ack_wait {text!r}: expected a positive number of seconds")
    return prefix, ack_wait, int(replicas_text)
