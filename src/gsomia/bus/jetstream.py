"""The bus on NATS JetStream: what lets a node's workers run in several processes and machines.

For a node of party ``P`` and a prefix (``gsomia`` unless told), three kinds of JetStream
object, each named from (prefix, party) so that several nodes and test runs share one server:

- **events**: the stream ``<prefix>_<P>_EVENTS`` on the subjects ``<prefix>.<P>.events.<name>``,
  limits retention, a minute's ``max_age``. ``subscribe`` is an ordered consumer (ephemeral,
  server-side flow control) that delivers only what is published after it. File storage, not
  memory: a restarted server keeps the stream and its sequence, so nats-py's ordered consumer,
  which recreates itself from the next sequence when its heartbeats stop, resumes after the
  restart; a memory stream would come back empty with its sequence at 1, and the resumed
  consumer would skip events until the sequence caught up. An event is small and lives a
  minute; NATS writes it without an fsync of its own.
- **work**: the stream ``<prefix>_<P>_WORK`` on ``<prefix>.<P>.work.<name>.<key>``, work-queue
  retention (a job is removed when acknowledged), file storage (``enqueue`` returning True
  promises durability), at most one message per subject and ``discard_new_per_subject``: the
  server itself refuses a second job for a key that is queued or taken. Each queue name has a
  durable pull consumer ``<name>`` (explicit ack, the bus's ``ack_wait``, no delivery limit), so
  a job taken by a worker that dies is given again to another.
- **leases**: a key-value bucket ``<prefix>_<P>_LEASE_<name>`` per lease, whose TTL (the
  stream's ``max_age``) is the lease's ``ttl``. The server, not the holders' clocks, decides
  when a lease not renewed has expired: a renewal writes a new revision, which lives ``ttl``
  from then. NATS 2.9 (this machine's) has no per-key TTL, hence a bucket per lease; a node
  has a handful of leases. A change of ``ttl`` updates the bucket.

The connection reconnects forever (every half second); a call made while it is down raises
``BusFailure`` at once, and one that the server does not answer within ``timeout`` seconds
raises it then. Streams and consumers are made again after a reconnection (the server may
have lost them).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as NatsSubscription
from nats.js import JetStreamContext, api
from nats.js.kv import KeyValue

from gsomia.bus.ports import BusFailure, EventHandler, Job, Subscription
from gsomia.errors import BadInput

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "gsomia"
#: A prefix, a party, a queue, event or lease name, a key: one subject token, one name part.
TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: A party is also a part of stream names joined with ``_``: none in it keeps them unique.
PARTY = re.compile(r"[A-Za-z0-9-]{1,32}")
EVENTS_MAX_AGE = 60.0
EVENTS_MAX_BYTES = 64 * 1024 * 1024
RECONNECT_WAIT = 0.5
HEARTBEAT = 1.0
#: NATS's error for a message refused by ``discard_new_per_subject``.
PER_SUBJECT_FULL = 10077
MAX_PER_SUBJECT = "maximum messages per subject"
DUPLICATE_WINDOW = 120.0  # nats-py's for a bucket: two minutes, or the ttl if shorter
STREAM_EXISTS = 10058  # a stream of that name exists with another configuration
#: What nats-py raises when the server is away, slow or refuses.
GONE = (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError)
NATS_ERRORS: tuple[type[BaseException], ...] = (nats.errors.Error, TimeoutError, OSError)


def _token(value: str, what: str, pattern: re.Pattern[str] = TOKEN) -> str:
    if not pattern.fullmatch(value):
        raise BadInput(f"bus: {what} {value!r}: expected letters, digits, _ and - (one word)")
    return value


@dataclass(slots=True)
class _Job:
    """One delivery of a job: a message of a pull consumer."""

    msg: Msg
    timeout: float
    deliveries: int = field(init=False)

    def __post_init__(self) -> None:
        self.deliveries = self.msg.metadata.num_delivered

    @property
    def data(self) -> bytes:
        return self.msg.data

    async def ack(self) -> None:
        # A synchronous ack: when it returns, the key is free for the next enqueue.
        try:
            await self.msg.ack_sync(timeout=self.timeout)
        except NATS_ERRORS as exc:
            raise BusFailure(f"bus: acknowledging a job failed ({_why(exc)})") from None

    async def retry(self, delay: float) -> None:
        try:
            await self.msg.nak(delay=max(0.0, delay))
        except NATS_ERRORS as exc:
            raise BusFailure(f"bus: asking for a job again failed ({_why(exc)})") from None

    async def touch(self) -> None:
        try:
            await self.msg.in_progress()
        except NATS_ERRORS as exc:
            raise BusFailure(f"bus: extending a job failed ({_why(exc)})") from None


@dataclass(slots=True)
class _Subscription:
    sub: NatsSubscription
    closed: bool = False

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(*NATS_ERRORS):
            await self.sub.unsubscribe()


def _why(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class JetStreamBus:
    """The node's bus on the NATS server at ``servers`` (``nats://host:port``, several for a
    cluster), for the node of ``party``; see the module's docstring."""

    shared = True

    def __init__(
        self,
        servers: list[str],
        *,
        party: str,
        prefix: str = DEFAULT_PREFIX,
        ack_wait: float = 30.0,
        timeout: float = 2.0,
        replicas: int = 1,
    ) -> None:
        if not servers:
            raise BadInput("bus: no NATS server named")
        if not ack_wait > 0 or not timeout > 0:
            raise BadInput("bus: ack_wait and timeout must be positive")
        self.servers = list(servers)
        self.party = _token(party, "party", PARTY)
        self.prefix = _token(prefix, "prefix")
        self._ack_wait = float(ack_wait)
        self.timeout = float(timeout)
        self.replicas = replicas  # copies of each stream and bucket in a cluster
        self.subjects = f"{self.prefix}.{self.party}"
        self.events_stream = f"{self.prefix}_{self.party}_EVENTS"
        self.work_stream = f"{self.prefix}_{self.party}_WORK"
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._pulls: dict[str, JetStreamContext.PullSubscription] = {}
        self._buckets: dict[str, tuple[float, KeyValue]] = {}
        self._ensuring: asyncio.Task[None] | None = None

    @property
    def ack_wait(self) -> float:
        return self._ack_wait

    def lease_bucket(self, name: str) -> str:
        return f"{self.prefix}_{self.party}_LEASE_{_token(name, 'lease name')}"

    # ------------------------------------------------------------------ life

    async def start(self) -> None:
        if self._nc is None:
            try:
                # nats-py tries a first connection as often as a reconnection (forever): one
                # server at least must take a TCP connection before it is asked to.
                await self._reachable()
                self._nc = await self._connect()
            except NATS_ERRORS as exc:
                raise BusFailure(
                    f"bus: NATS at {self._where()} unreachable ({_why(exc)})"
                ) from None
            self._js = self._nc.jetstream(timeout=self.timeout)
        await self._ensure_streams()

    async def _reachable(self) -> None:
        error: OSError = ConnectionRefusedError("no server")
        for server in self.servers:
            url = urlsplit(server)
            try:
                _, writer = await asyncio.wait_for(
                    asyncio.open_connection(url.hostname, url.port), self.timeout
                )
            except OSError as exc:
                error = exc
                continue
            writer.close()
            return
        raise error

    async def _connect(self) -> Client:
        return await nats.connect(
            servers=self.servers,
            name=f"gsomia-{self.party}",
            connect_timeout=self.timeout,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=RECONNECT_WAIT,
            ping_interval=5,
            max_outstanding_pings=2,
            disconnected_cb=self._disconnected,
            reconnected_cb=self._reconnected,
            error_cb=self._error,
        )

    async def close(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        pulls = list(self._pulls.values())
        self._pulls.clear()
        self._buckets.clear()
        if self._ensuring is not None:
            self._ensuring.cancel()
        if nc is None or nc.is_closed:
            return
        # nats-py's drain of a pull subscription waits for its queue to be marked done, which
        # fetch never does: unsubscribe them first (messages taken and not acknowledged are
        # given again after ack_wait anyway), then drain the event subscriptions.
        for pull in pulls:
            with contextlib.suppress(*NATS_ERRORS):
                await pull.unsubscribe()
        try:
            await asyncio.wait_for(nc.drain(), timeout=self.timeout)
        except NATS_ERRORS:
            with contextlib.suppress(*NATS_ERRORS):
                await nc.close()

    def _where(self) -> str:
        return ", ".join(self.servers)

    async def _disconnected(self) -> None:
        if self._nc is None:
            return  # closed on purpose
        log.warning("bus: disconnected from NATS (%s); reconnecting", self._where())

    async def _reconnected(self) -> None:
        nc = self._nc
        url = nc.connected_url if nc is not None else None
        where = f"{url.hostname}:{url.port}" if url is not None else self._where()
        log.info("bus: reconnected to NATS at %s", where)
        # The server may have come back without them (a new store directory).
        self._ensuring = asyncio.get_running_loop().create_task(self._ensure_after_reconnect())

    async def _ensure_after_reconnect(self) -> None:
        try:
            await self._ensure_streams()
            for name in list(self._pulls):
                await self._ensure_consumer(name)
        except BusFailure as exc:
            log.warning("%s", exc)

    async def _error(self, exc: Exception) -> None:
        log.info("bus: NATS client: %s", _why(exc))

    def _context(self) -> JetStreamContext:
        nc, js = self._nc, self._js
        if nc is None or js is None:
            raise BusFailure("bus: not started (or closed)")
        if not nc.is_connected:
            raise BusFailure(f"bus: NATS at {self._where()} unreachable (reconnecting)")
        return js

    async def _ensure_streams(self) -> None:
        events = api.StreamConfig(
            name=self.events_stream,
            subjects=[f"{self.subjects}.events.>"],
            retention=api.RetentionPolicy.LIMITS,
            storage=api.StorageType.FILE,
            max_age=EVENTS_MAX_AGE,
            max_bytes=EVENTS_MAX_BYTES,
            discard=api.DiscardPolicy.OLD,
            num_replicas=self.replicas,
        )
        work = api.StreamConfig(
            name=self.work_stream,
            subjects=[f"{self.subjects}.work.>"],
            retention=api.RetentionPolicy.WORK_QUEUE,
            storage=api.StorageType.FILE,
            max_msgs_per_subject=1,
            discard=api.DiscardPolicy.NEW,
            discard_new_per_subject=True,
            num_replicas=self.replicas,
        )
        for config in (events, work):
            await self._ensure_stream(config)

    async def _ensure_stream(self, config: api.StreamConfig) -> None:
        js = self._context()
        try:
            try:
                await js.add_stream(config)
            except nats.js.errors.BadRequestError as exc:
                if exc.err_code != STREAM_EXISTS:
                    raise
                await js.update_stream(config)
        except NATS_ERRORS as exc:
            raise BusFailure(f"bus: making the stream {config.name} failed ({_why(exc)})") from None

    # ------------------------------------------------------------------ events

    async def publish(self, name: str, data: bytes) -> None:
        subject = f"{self.subjects}.events.{_token(name, 'event name')}"
        js = self._context()
        try:
            await js.publish(subject, data, stream=self.events_stream)
        except NATS_ERRORS as exc:
            raise BusFailure(f"bus: publishing an event failed ({_why(exc)})") from None

    async def subscribe(self, name: str, handler: EventHandler) -> Subscription:
        subject = f"{self.subjects}.events.{_token(name, 'event name')}"

        async def deliver(msg: Msg) -> None:
            try:
                await handler(msg.data)
            except Exception:
                log.exception("bus: a handler of the event %s failed", name)

        js = self._context()
        try:
            sub = await js.subscribe(
                subject,
                cb=deliver,
                stream=self.events_stream,
                ordered_consumer=True,
                deliver_policy=api.DeliverPolicy.NEW,
                idle_heartbeat=HEARTBEAT,
            )
        except NATS_ERRORS as exc:
            raise BusFailure(f"bus: subscribing to {name} failed ({_why(exc)})") from None
        return _Subscription(sub)

    # ------------------------------------------------------------------ work

    async def enqueue(self, name: str, key: str, data: bytes) -> bool:
        subject = f"{self.subjects}.work.{_token(name, 'queue name')}.{_token(key, 'job key')}"
        js = self._context()
        try:
            await js.publish(subject, data, stream=self.work_stream)
        except nats.js.errors.APIError as exc:
            if exc.err_code == PER_SUBJECT_FULL and MAX_PER_SUBJECT in (exc.description or ""):
                return False
            raise BusFailure(f"bus: enqueueing a job failed ({_why(exc)})") from None
        except NATS_ERRORS as exc:
            raise BusFailure(f"bus: enqueueing a job failed ({_why(exc)})") from None
        return True

    def _consumer_config(self, name: str) -> api.ConsumerConfig:
        return api.ConsumerConfig(
            durable_name=name,
            filter_subject=f"{self.subjects}.work.{name}.>",
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=self._ack_wait,
            max_deliver=-1,
            deliver_policy=api.DeliverPolicy.ALL,
            max_ack_pending=-1,
        )

    async def _ensure_consumer(self, name: str) -> None:
        js = self._context()
        try:
            await js.add_consumer(self.work_stream, config=self._consumer_config(name))
        except NATS_ERRORS as exc:
            raise BusFailure(f"bus: making the queue {name} failed ({_why(exc)})") from None

    async def _pull(self, name: str) -> JetStreamContext.PullSubscription:
        pull = self._pulls.get(name)
        if pull is None:
            await self._ensure_consumer(name)
            js = self._context()
            try:
                pull = await js.pull_subscribe_bind(name, stream=self.work_stream)
            except NATS_ERRORS as exc:
                raise BusFailure(f"bus: binding to the queue {name} failed ({_why(exc)})") from None
            self._pulls[name] = pull
        return pull

    async def take(self, name: str, *, batch: int, wait: float) -> list[Job]:
        _token(name, "queue name")
        if batch < 1:
            raise BadInput(f"bus: take from {name}: batch must be at least 1, not {batch}")
        pull = await self._pull(name)
        try:
            msgs = await pull.fetch(batch, timeout=max(wait, 0.01))
        except TimeoutError:  # nats-py's own, or asyncio's when its request waits out a slow
            msgs = []  # server: nothing came in time either way (a server away is said below)
        except NATS_ERRORS as exc:
            raise BusFailure(f"bus: taking from the queue {name} failed ({_why(exc)})") from None
        if not msgs:
            self._context()  # nothing came because the server is away: say so
        return [_Job(msg, self.timeout) for msg in msgs]

    # ------------------------------------------------------------------ leases

    async def _bucket(self, name: str, ttl: float) -> KeyValue:
        known = self._buckets.get(name)
        if known is not None and known[0] == ttl:
            return known[1]
        bucket = self.lease_bucket(name)
        js = self._context()
        config = api.KeyValueConfig(
            bucket=bucket,
            ttl=ttl,
            history=1,
            storage=api.StorageType.FILE,
            replicas=self.replicas,
        )
        try:
            try:
                kv = await js.create_key_value(config)
            except nats.js.errors.BadRequestError as exc:
                if exc.err_code != STREAM_EXISTS:
                    raise
                info = await js.stream_info(f"KV_{bucket}")
                await js.update_stream(
                    dataclasses.replace(
                        info.config, max_age=ttl, duplicate_window=min(ttl, DUPLICATE_WINDOW)
                    )
                )
                kv = await js.key_value(bucket)
        except NATS_ERRORS as exc:
            raise BusFailure(f"bus: making the lease {name} failed ({_why(exc)})") from None
        self._buckets[name] = (ttl, kv)
        return kv

    async def lease(self, name: str, holder: str, ttl: float) -> bool:
        if not ttl > 0:
            raise BadInput(f"bus: lease {name}: ttl must be positive, not {ttl}")
        kv = await self._bucket(name, ttl)
        mine = holder.encode()
        try:
            try:
                entry = await kv.get("holder")
            except GONE:  # never held, expired or released
                entry = None
            if entry is None:
                await kv.create("holder", mine)
                return True
            if entry.value != mine:
                return False
            await kv.update("holder", mine, last=entry.revision)
        except nats.js.errors.KeyWrongLastSequenceError:
            return False  # another took it between our look and our write
        except NATS_ERRORS as exc:
            raise BusFailure(f"bus: the lease {name} failed ({_why(exc)})") from None
        return True

    async def release_lease(self, name: str, holder: str) -> None:
        known = self._buckets.get(name)
        js = self._context()
        try:
            kv = known[1] if known is not None else await js.key_value(self.lease_bucket(name))
            entry = await kv.get("holder")
            if entry.value == holder.encode():
                await kv.delete("holder", last=entry.revision)
        except (
            *GONE,
            nats.js.errors.BucketNotFoundError,
            nats.js.errors.KeyWrongLastSequenceError,
        ):
            return  # not held (by anyone, or by holder)
        except NATS_ERRORS as exc:
            raise BusFailure(f"bus: releasing the lease {name} failed ({_why(exc)})") from None
