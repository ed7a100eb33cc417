"""What every console page shares: sign-in sessions, CSRF, the security headers, rendering.

A user signs in with their token (a form POST); the node then keeps a session for them and
gives the browser a cookie ``gsomia_<PARTY>`` = ``SESSION-ID.MAC``: the session id is random,
the MAC is HMAC-SHA256 over it under the node's console secret (``data_dir/console.secret``,
32 random bytes, mode 0600, made at first start). The cookie is HttpOnly, SameSite=Strict,
Secure when the request came over https, scoped to ``/console/``; a session ends after
``SESSION_HOURS`` or at sign-out, and its live event streams end with it. Sessions live in the
node's store, under the SHA-256 of their id: they survive a restart, and a leaked database gives
no usable cookie.

Every form carries a CSRF token: the session's (the MAC of its id under the console secret:
derived, never stored), or for the sign-in form
a token bound to a pre-session cookie whose nonce carries the instant it was made (refused
after ``PRE_SESSION_SECONDS``); every POST is checked with ``hmac.compare_digest`` and refused
with 403 otherwise. Every refusal goes to the ``gsomia.audit`` logger.

Two clocks: every security lifetime here (session expiry, the sign-in form's nonce) runs on
the node's wall clock (``Console.wall_now``), never on the scenario clock, which is simulated
in the demo and runs 500,000 times faster there; pages that show scenario time ask
``Console.scenario_now``.

Every console response carries ``CONSOLE_HEADERS`` (a Content-Security-Policy without inline
script or style, nosniff, no framing, no caching). Pages are Jinja2 templates with autoescape
on: item content (STIX from another party is hostile input) is only ever inserted as text.

For page modules (``feed.py``, ``pages.py``): ``register(router, console)`` adds routes to the
console's router; a handler starts with ``user = console.user_or_redirect(request)`` (GET) or
``user, form = await console.post_form(request)`` (POST: session and CSRF checked), and returns
``console.render(request, "x.html", user=user, title=..., **context)``. A nav entry is added
with ``console.add_nav(label, path)``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from urllib.parse import parse_qs

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from gsomia.domain.instants import parse_instant
from gsomia.errors import BadInput, GsomiaError
from gsomia.node import audit
from gsomia.node.config import User
from gsomia.node.events import Broadcaster, Notifier
from gsomia.node.service import Node
from gsomia.node.throttle import Throttled, address_key, user_key
from gsomia.node.workers import Workers
from gsomia.store.ports import NodeStore, SessionRow

P = ParamSpec("P")
T = TypeVar("T")

PREFIX = "/console"
SECRET_FILE = "console.secret"  # noqa: S105 - a file name, not a secret
SECRET_BYTES = 32
SESSION_HOURS = 8
PRE_SESSION_SECONDS = 3600  # how long a sign-in form may be left open before it is submitted
MAX_SESSIONS = 10_000
MAX_NAME = 64  # characters of a user name kept as a throttling key or in the audit log
MAX_FORM = 256 * 1024  # bytes of a console form body (a scenario upload is one)
CSRF_FIELD = "csrf"

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
CONSOLE_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

KST = timezone(timedelta(hours=9), "KST")
JST = timezone(timedelta(hours=9), "JST")


class Refused(GsomiaError):
    """A console request refused before it reached a use case (no session, bad CSRF token)."""

    http_status = 403
    kind = "forbidden"


def load_secret(data_dir: Path) -> bytes:
    """The node's console secret, made (0600) at first use; refused if it is not 32 bytes."""
    path = data_dir / SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_bytes()
        if len(secret) != SECRET_BYTES:
            raise BadInput(
                f"{path}: expected {SECRET_BYTES} bytes; delete it to make a new one"
            ) from None
        return secret
    secret = secrets.token_bytes(SECRET_BYTES)
    with os.fdopen(fd, "wb") as out:
        out.write(secret)
    return secret


@dataclass(slots=True)
class Session:
    sid: str
    user: str
    csrf: str
    expires: datetime


@dataclass(frozen=True, slots=True)
class NavLink:
    label: str
    path: str


class Sessions:
    """Signed-in sessions, kept in the node's store, with their expiry; cookies are MAC'd ids.

    The store holds a session under the SHA-256 of its id (``console_sessions``), with its user
    and its expiry: a leaked database gives no usable cookie. The CSRF token is not stored: it
    is the MAC of the session id under the console secret, which a restart keeps (the secret
    file), so a session and its forms survive a restart, and any process of the node holding
    the secret derives the same token.

    ``now`` is always wall time. ``on_end(sid)`` is called whenever a session this process has
    seen ends here, however it ends (sign-out, expiry, eviction, the user removed), so that what
    hangs on it (its event streams) ends too. An ended or expired session is deleted."""

    def __init__(
        self,
        store: NodeStore,
        secret: bytes,
        on_end: Callable[[str], object] | None = None,
    ) -> None:
        self._store = store
        self._secret = secret
        self._on_end = on_end
        self._seen: dict[str, str] = {}  # key -> id of the live sessions this process has seen

    def mac(self, purpose: str, value: str) -> str:
        message = f"{purpose}\x00{value}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    # ------------------------------------------------------------------ the sign-in form
    def login_form(self, now: datetime) -> tuple[str, str]:
        """A pre-session nonce (the cookie: random, with the instant it was made) and the
        sign-in form's CSRF token bound to it."""
        nonce = f"{secrets.token_urlsafe(24)}.{int(now.timestamp())}"
        return nonce, self.mac("login", nonce)

    def check_login_form(self, nonce: str, given: str, now: datetime) -> None:
        """Raise Refused unless ``given`` is the CSRF token of ``nonce`` and the form was
        made less than ``PRE_SESSION_SECONDS`` ago (wall time)."""
        if not nonce or len(nonce) > 100:
            raise Refused("the sign-in form expired; reload the page and sign in again")
        check_token(given, self.mac("login", nonce))
        made = nonce.rpartition(".")[2]
        age = now.timestamp() - int(made) if made.isascii() and made.isdigit() else -1.0
        if not 0 <= age <= PRE_SESSION_SECONDS:
            raise Refused("the sign-in form expired; reload the page and sign in again")

    # ------------------------------------------------------------------ sessions
    def _session(self, sid: str, user: str, expires: datetime) -> Session:
        self._seen[session_key(sid)] = sid
        return Session(sid, user, self.mac("csrf", sid), expires)

    def create(self, user: User, now: datetime) -> tuple[Session, str]:
        """A new session for ``user`` and its cookie value; expired sessions are deleted, and
        past ``MAX_SESSIONS`` the sessions that expire first are ended."""
        sid = secrets.token_urlsafe(32)
        expires = now + timedelta(hours=SESSION_HOURS)
        with self._store.writing() as writer:
            ended = writer.end_sessions_expired(now.timestamp())
            ended += writer.end_sessions_beyond(MAX_SESSIONS - 1)
            writer.add_session(SessionRow(session_key(sid), user.name, expires.timestamp()))
        self._ended_here(ended)
        return self._session(sid, user.name, expires), f"{sid}.{self.mac('session', sid)}"

    def find(self, cookie: str | None, now: datetime) -> Session | None:
        """The live session a cookie names; None if absent, forged, unknown or expired."""
        if not cookie or len(cookie) > 200:
            return None
        sid, _, mac = cookie.rpartition(".")
        if not sid or not hmac.compare_digest(mac.encode(), self.mac("session", sid).encode()):
            return None
        key = session_key(sid)
        with self._store.reading() as reader:
            row = reader.session(key)
        if row is None:
            self._seen.pop(key, None)  # ended elsewhere (another process, or evicted)
            return None
        session = self._session(sid, row.user, datetime.fromtimestamp(row.expires, UTC))
        if session.expires <= now:
            self.end(session)
            return None
        return session

    def end(self, session: Session) -> None:
        """End ``session`` and whatever hangs on it."""
        key = session_key(session.sid)
        with self._store.writing() as writer:
            writer.end_session(key)
        self._ended_here([key])

    def _ended_here(self, keys: list[str]) -> None:
        for key in keys:
            sid = self._seen.pop(key, None)
            if sid is not None and self._on_end is not None:
                self._on_end(sid)


def session_key(sid: str) -> str:
    """What the store keeps of a session id: its SHA-256 (the id has 256 random bits)."""
    return hashlib.sha256(sid.encode()).hexdigest()


class SignInFailed(GsomiaError):
    """An unknown user or token at the sign-in form (the form says no more than that)."""

    http_status = 401
    kind = "unauthorized"


class SignInRequired(Exception):
    """Raised by ``Console.user_or_redirect``; the console turns it into a 303 to sign-in."""

    def __init__(self, response: Response) -> None:
        super().__init__("sign-in required")
        self.response = response


@dataclass
class Console:
    """The console of one node: its use cases, templates, sessions and event broadcaster."""

    node: Node
    broadcaster: Broadcaster
    env: Environment
    sessions: Sessions
    nav: list[NavLink] = field(default_factory=list)
    workers: Workers = field(default_factory=Workers)  # where the pages' node calls run
    notifier: Notifier = field(default_factory=Notifier)  # told after a commit that queued work

    async def run(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``call`` on a worker thread, never on the event loop (``Overloaded`` when too many
        requests wait already)."""
        return await self.workers.run(call, *args, **kwargs)

    @property
    def cookie_name(self) -> str:
        # cookies are shared by every port of a host: one name per node
        return f"gsomia_{self.node.party}"

    def add_nav(self, label: str, path: str) -> None:
        self.nav.append(NavLink(label, path))

    def wall_now(self) -> datetime:
        """Wall time: for sessions, sign-in forms, throttling — every security lifetime."""
        return self.node.wall.now()

    def scenario_now(self) -> datetime:
        """Scenario time (simulated in the demo): only for what the pages show of it."""
        return self.node.clock.now()

    # ------------------------------------------------------------------ who is asking
    def session(self, request: Request) -> Session | None:
        return self.sessions.find(request.cookies.get(self.cookie_name), self.wall_now())

    def user_of(self, session: Session) -> User | None:
        for user in self.node.config.users:
            if user.name == session.user:
                return user
        return None  # removed from node.toml since signing in

    def current_user(self, request: Request) -> tuple[User, Session] | None:
        session = self.session(request)
        if session is None:
            return None
        user = self.user_of(session)
        if user is None:
            self.sessions.end(session)
            return None
        return user, session

    def user_or_redirect(self, request: Request) -> User:
        """The signed-in user; otherwise a redirect to the sign-in page (raised)."""
        found = self.current_user(request)
        if found is None:
            self.refuse(request, None, "no session")
            raise SignInRequired(self.redirect(f"{PREFIX}/login"))
        return found[0]

    async def post_form(self, request: Request) -> tuple[User, dict[str, str]]:
        """The signed-in user and their form, its CSRF token checked (403 otherwise; every
        ``Refused`` is written to the audit log by the console's routes)."""
        found = self.current_user(request)
        if found is None:
            raise Refused("sign in first")
        user, session = found
        form = await read_form(request)
        check_token(form.get(CSRF_FIELD, ""), session.csrf)
        return user, form

    def refuse(self, request: Request, user: User | None, reason: str) -> None:
        audit.refused(
            f"console {request.method}",
            reason,
            user=None if user is None else user.name,
            party=self.node.party,
            path=request.url.path,
            address=client_address(request),
        )

    def sign_in(self, request: Request, name: str | None, token: str) -> User:
        """The user ``name`` (optional) and ``token`` name, failures throttled on wall time
        (``node.throttle``, shared with the API): per client address and, when the form names
        one, per user name. A blocked address or name raises ``Throttled`` before the token is
        even looked at — the right token too; an unknown user or token raises
        ``SignInFailed`` and counts against both. Every failure and every block is audited
        with the address and the name given, never the token."""
        keys = [address_key(client_address(request))]
        if name is not None:
            keys.append(user_key(name[:MAX_NAME]))
        try:
            self.node.throttle.check(*keys)
        except Throttled as exc:
            self._audit_sign_in(request, name, f"throttled, retry after {exc.retry_after} s")
            raise
        user = self.node.config.user_by_token(name, token) if token else None
        if user is None:
            delay = self.node.throttle.failed(*keys)
            blocked = f"; blocked for {delay:g} s" if delay > 0 else ""
            self._audit_sign_in(request, name, f"sign-in with an unknown user or token{blocked}")
            raise SignInFailed("unknown user or token")
        self.node.throttle.succeeded(user_key(user.name))
        return user

    def _audit_sign_in(self, request: Request, name: str | None, reason: str) -> None:
        # the name is whatever the form said: quoted and cut short
        audit.refused(
            "console sign-in",
            reason,
            user=None if name is None else name[:MAX_NAME],
            party=self.node.party,
            address=client_address(request),
        )

    # ------------------------------------------------------------------ responses
    def render(
        self, request: Request, template: str, *, status: int = 200, **context: Any
    ) -> HTMLResponse:
        """A page from ``template`` with the node, the signed-in user, nav and CSRF token."""
        found = self.current_user(request)
        user, session = found if found is not None else (None, None)
        page = self.env.get_template(template).render(
            party=self.node.party,
            node_title=self.node.config.title,
            user=user,
            csrf=None if session is None else session.csrf,
            csrf_field=CSRF_FIELD,
            nav=self.nav,
            path=request.url.path,
            prefix=PREFIX,
            **context,
        )
        return HTMLResponse(page, status_code=status, headers=dict(CONSOLE_HEADERS))

    def redirect(self, to: str) -> Response:
        return RedirectResponse(to, status_code=303, headers=dict(CONSOLE_HEADERS))


def client_address(request: Request) -> str:
    """The address the request came from (the peer of the connection), or "-"."""
    return request.client.host if request.client is not None else "-"


def check_token(given: str, expected: str) -> None:
    """Raise Refused unless ``given`` is the CSRF token ``expected`` (constant time)."""
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Refused("the form's CSRF token is missing or wrong; reload the page")


async def read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (first value of each field)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise Refused("expected a form (application/x-www-form-urlencoded)")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise BadInput(f"form: larger than {MAX_FORM} bytes")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise BadInput("form: not UTF-8 form data") from None
    return {k: v[0] for k, v in fields.items() if v}


# ---------------------------------------------------------------------- template filters


def _instant(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else None
    if isinstance(value, str) and value:
        try:
            return parse_instant(value, "time")
        except BadInput:
            return None
    return None


def time_tag(value: object) -> Markup:
    """``<time>`` with the ISO instant (the browser shows it in the user's zone) and KST, JST
    and UTC in its tooltip; anything that is not a time is shown as escaped text."""
    at = _instant(value)
    if at is None:
        return Markup("<span>{}</span>").format(escape("" if value is None else str(value)))
    utc = at.astimezone(UTC)
    tip = " · ".join(
        at.astimezone(zone).strftime(f"%Y-%m-%d %H:%M {name}")
        for zone, name in ((KST, "KST"), (JST, "JST"), (UTC, "UTC"))
    )
    return Markup('<time class="local" datetime="{}" title="{}">{}</time>').format(
        utc.isoformat().replace("+00:00", "Z"), tip, utc.strftime("%Y-%m-%d %H:%M UTC")
    )


def make_env() -> Environment:
    env = Environment(
        loader=PackageLoader("gsomia.console", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["time"] = time_tag
    return env
