"""The console's pages on agreements, "why not?", consents, purposes, notices, reports and the
log.

View logic only: each ``*_view`` function turns a request's inputs into what its template shows,
by calling the node's use cases (``gsomia.node.holdings``, ``consents``, ``reports``,
``notices``, ``witnessing``); the routes (``register``) parse forms, call one view or one
use case, and render. Uploaded scenarios are what-if views only: they are parsed and charted,
kept in memory per session (bounded), and never used for enforcement. Evaluating and charting a
scenario runs in a worker thread, never on the event loop, and its cursor-free part is kept per
scenario and chart end (``Charts``).
"""

from __future__ import annotations

import hmac
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from gsomia.console import agreementnotes
from gsomia.console.session import PREFIX, Console
from gsomia.console.timeline_svg import Chart, build_chart, move_cursor
from gsomia.domain.access import Role
from gsomia.domain.instants import format_instant, parse_instant
from gsomia.domain.notes import MAX_TEXT
from gsomia.domain.parties import Marking
from gsomia.domain.release import Rule
from gsomia.errors import BadInput, GsomiaError, NotFound
from gsomia.ledger.hashing import hash_leaf
from gsomia.ledger.note import parse_checkpoint, parse_note, verify_every_signature
from gsomia.ledger.proofs import InclusionProof
from gsomia.ledger.verify import verify_inclusion
from gsomia.node import approvals, consents, notices, reports, witnessing
from gsomia.node.config import User
from gsomia.node.holdings import NOTICE, object_row, require_admin, why_not, why_not_use
from gsomia.node.reports import KINDS
from gsomia.node.service import Filters, Node
from gsomia.scenarios import BUILTIN, MAX_SCENARIO_BYTES, load_scenario, load_scenario_text

if TYPE_CHECKING:
    from jinja2 import Environment
    from markupsafe import Markup

    from gsomia.domain.scenario import Scenario

NODE_SCENARIO = "node"
UPLOAD_PREFIX = "upload-"
MAX_UPLOAD_BYTES = MAX_SCENARIO_BYTES  # as for a scenario file (gsomia --scenario FILE)
UPLOADS_PER_SESSION = 4
UPLOAD_SESSIONS = 64
CHARTS_KEPT = 8  # rendered charts kept (scenario, chart end), least recently used dropped
MAX_ITEMS_LISTED = 500
MAX_PROOF_TEXT = 64 * 1024
MAX_FIELD = 4000
CHART_MARGIN = timedelta(days=366)

RULE_WORDS = {
    Rule.IN_FORCE: "Is the agreement in force at that instant?",
    Rule.PARTIES: "Are both the holder and the recipient parties to the agreement?",
    Rule.CLASS: "Does the agreement cover the item's classification?",
    Rule.SCOPE: "Are the item's topics within the agreement's scope?",
    Rule.RELEASABILITY: "Does the item's label make it releasable to the recipient?",
    Rule.CONSENT: "Did the originator consent to this release (or is it the originator's own)?",
}


# ------------------------------------------------------------------ scenarios for the timeline
@dataclass
class ScenarioUploads:
    """Scenarios uploaded in each session, newest last; bounded in sessions and per session."""

    per_session: int = UPLOADS_PER_SESSION
    sessions: int = UPLOAD_SESSIONS
    _by_session: OrderedDict[str, OrderedDict[str, Scenario]] = field(default_factory=OrderedDict)
    _count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, session: str, text: str, filename: str) -> tuple[str, Scenario]:
        """Parse an upload (BadInput with the CLI's message if it is not a valid scenario)
        and keep it for ``session``; the key under which it is kept."""
        name = (filename or "scenario.toml").replace("\n", " ")[:80]
        scenario = load_scenario_text(text, f"upload {name}")  # bounded: size, nesting, counts
        with self._lock:
            self._count += 1
            key = f"{UPLOAD_PREFIX}{self._count}"
            kept = self._by_session.pop(session, OrderedDict())
            kept[key] = scenario
            while len(kept) > self.per_session:
                kept.popitem(last=False)
            self._by_session[session] = kept
            while len(self._by_session) > self.sessions:
                self._by_session.popitem(last=False)
        return key, scenario

    def of(self, session: str) -> list[tuple[str, Scenario]]:
        with self._lock:
            kept = self._by_session.get(session)
            return [] if kept is None else list(kept.items())

    def get(self, session: str, key: str) -> Scenario:
        with self._lock:
            kept = self._by_session.get(session)
            found = None if kept is None else kept.get(key)
        if found is None:
            raise NotFound(f"scenario: no uploaded scenario {key[:40]!r} in this session")
        return found

    def forget(self, session: str) -> None:
        with self._lock:
            self._by_session.pop(session, None)


@dataclass(frozen=True, slots=True)
class ScenarioChoice:
    key: str
    label: str


def scenario_choices(
    node: Node, uploads: ScenarioUploads, session: str
) -> tuple[ScenarioChoice, ...]:
    own = ScenarioChoice(NODE_SCENARIO, f"this node's scenario ({node.scenario.name}), enforced")
    built = tuple(ScenarioChoice(name, f"built-in: {name}") for name in BUILTIN)
    mine = tuple(
        ScenarioChoice(key, f"uploaded: {s.name} ({s.title[:60]})")
        for key, s in uploads.of(session)
    )
    return (own, *built, *mine)


@dataclass(frozen=True, slots=True)
class RenderedChart:
    chart: Chart  # the cursor at the chart's start; see ``move_cursor``
    body: Markup  # the SVG's rows, bars, markers and ticks
    events: Markup  # the list of every event


@dataclass
class Charts:
    """The built-in scenarios, loaded once, and the part of each chart that does not depend on
    the cursor, computed and rendered once per (scenario, chart end) and kept (at most
    ``size``). Called from worker threads, hence the lock; two threads may compute one chart
    at once, and the later simply replaces the earlier."""

    env: Environment
    size: int = CHARTS_KEPT
    _builtins: dict[str, Scenario] = field(default_factory=dict)
    _kept: OrderedDict[tuple[str, datetime], tuple[Scenario, RenderedChart]] = field(
        default_factory=OrderedDict
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def builtin(self, name: str) -> Scenario:
        with self._lock:
            found = self._builtins.get(name)
        if found is None:
            found = load_scenario(name)
            with self._lock:
                self._builtins[name] = found
        return found

    def chart(self, scenario: Scenario, *, until: datetime) -> RenderedChart:
        # by name and content, not identity: the node's effective scenario is a new object
        # each time the node re-reads its notes (every second), mostly equal to the last
        key = (scenario.name, until)
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None and (kept[0] is scenario or kept[0] == scenario):
                self._kept.move_to_end(key)
                return kept[1]
        chart = build_chart(scenario, at=until, until=until)
        parts = self.env.get_template("timeline_chart.html").module
        rendered = RenderedChart(chart, parts.body(chart), parts.events(chart))  # type: ignore[attr-defined]
        with self._lock:
            self._kept[key] = (scenario, rendered)
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
        return rendered


def chosen_scenario(
    node: Node, uploads: ScenarioUploads, charts: Charts, session: str, key: str
) -> Scenario:
    if key == NODE_SCENARIO:
        return node.scenario
    if key in BUILTIN:
        return charts.builtin(key)
    if key.startswith(UPLOAD_PREFIX):
        return uploads.get(session, key)
    raise BadInput(f"scenario: expected node, {', '.join(BUILTIN)} or an uploaded one")


def chart_until(scenario: Scenario, now: datetime) -> datetime:
    """The first of January (UTC) after a year past the later of now and the scenario's last
    start, event or end (a whole year, so that a chart is the same all year long)."""
    instants = [now]
    for a in scenario.agreements:
        instants.append(a.start)
        instants.extend(e.at for e in a.events)
        if a.end is not None:
            instants.append(a.end)
    return datetime((max(instants) + CHART_MARGIN).astimezone(UTC).year + 1, 1, 1, tzinfo=UTC)


def agreements_view(
    node: Node,
    uploads: ScenarioUploads,
    session: str,
    key: str,
    at_text: str | None,
    *,
    charts: Charts,
) -> dict[str, Any]:
    """The timeline chart of the chosen scenario with the cursor at ``at`` (default now).
    Evaluates the scenario: call it in a worker thread, never on the event loop."""
    scenario = chosen_scenario(node, uploads, charts, session, key)
    now = node.clock.now()
    at = now if not at_text else parse_instant(at_text[:64], "at")
    rendered = charts.chart(scenario, until=chart_until(scenario, now))
    return {
        "chart": move_cursor(rendered.chart, scenario, at),
        "chart_body": rendered.body,
        "event_list": rendered.events,
        "scenario": scenario,
        "scenario_key": key,
        "enforced": scenario is node.scenario,
        "enforced_name": node.scenario.name,
        "choices": scenario_choices(node, uploads, session),
        "now": now,
    }


# ------------------------------------------------------------------ items the user may see
@dataclass(frozen=True, slots=True)
class ItemChoice:
    item_id: str
    originator: str
    title: str


def visible_items(node: Node, user: User, *, originated: bool | None = None) -> list[ItemChoice]:
    """The sealed items ``user`` may see (only those this node originated, or only those it
    received, when ``originated`` says so), newest first, at most ``MAX_ITEMS_LISTED``."""
    found: list[ItemChoice] = []
    for collection in node.collections():
        own = collection.originator == node.party
        if originated is not None and own != originated:
            continue
        page = node.page(user, collection.id, Filters(), MAX_ITEMS_LISTED, None)
        for row in page.rows:
            if row.item_id is None:
                continue
            body = orjson.loads(row.body)
            name = body.get("name") if isinstance(body, dict) else None
            title = name if isinstance(name, str) and name else row.stix_id
            found.append(ItemChoice(row.item_id, collection.originator, title[:120]))
    found.reverse()
    return found[:MAX_ITEMS_LISTED]


def other_parties(node: Node) -> list[str]:
    return [p for p in sorted(node.scenario.policies) if p != node.party]


def _is_admin(user: User) -> bool:
    return user.role is Role.ADMIN


# ------------------------------------------------------------------ why not?
@dataclass(frozen=True, slots=True)
class RuleLine:
    """One rule's result for one agreement, also said in plain words."""

    rule: int
    name: str
    holds: bool
    detail: str
    words: str


@dataclass(frozen=True, slots=True)
class CheckView:
    agreement: str
    allows: bool
    rules: tuple[RuleLine, ...]


@dataclass(frozen=True, slots=True)
class WhyNotView:
    """The decision as the why-not page shows it."""

    decision: str
    holder: str
    recipient: str
    at: str
    agreements: tuple[str, ...]
    recipient_marking: Marking | None
    reasons: tuple[str, ...]
    already_holds: bool
    rules: tuple[CheckView, ...]


def why_not_view(node: Node, user: User, item_id: str, party: str, at_text: str = "") -> WhyNotView:
    """The decision (now, or at ``at_text``) with every rule's result, each rule also said in
    plain words."""
    result = why_not(node, user, item_id[:300], party[:8], optional_instant(at_text, "at"))
    d = result.decision
    checks = tuple(
        CheckView(
            check.agreement,
            check.allows,
            tuple(
                RuleLine(
                    int(r.rule),
                    r.rule.title,
                    r.holds,
                    r.detail,
                    RULE_WORDS.get(r.rule, r.rule.title),
                )
                for r in check.results
            ),
        )
        for check in d.explain()
    )
    return WhyNotView(
        "allow" if d.allowed else "deny",
        d.holder,
        d.recipient,
        format_instant(d.at),
        d.agreements,
        d.recipient_marking,
        d.reasons,
        result.already_holds,
        checks,
    )


# ------------------------------------------------------------------ consents, notices, reports
R = TypeVar("R")


def _boxes(
    listed: Callable[[Node, User, str], list[R]], node: Node, user: User
) -> dict[str, list[R]]:
    """A page's inbox and outbox of requests, newest first."""
    return {box: list(reversed(listed(node, user, box))) for box in ("inbox", "outbox")}


def consents_view(node: Node, user: User) -> dict[str, Any]:
    if not _is_admin(user):
        return {"admin": False, "inbox": [], "outbox": []}
    return {"admin": True, **_boxes(consents.requests, node, user)}


def purposes_view(node: Node, user: User, item_id: str, subject: str) -> dict[str, Any]:
    """The purposes page: "why not?" for a use of an item (anyone, about themselves; an admin
    about any user), and the approvals asked and answered (admins only)."""
    admin = _is_admin(user)
    why = (
        why_not_use(node, user, item_id, subject if admin and subject else None)
        if item_id
        else None
    )
    return {
        "admin": admin,
        "why": why,
        "users": [u.name for u in node.config.users] if admin else [],
        "purpose_choices": node.scenario.purposes,
        **(_boxes(approvals.requests, node, user) if admin else {"inbox": [], "outbox": []}),
    }


def optional_instant(text: str, where: str) -> datetime | None:
    stripped = text.strip()
    return None if not stripped else parse_instant(stripped[:64], where)


def received_notices(node: Node, user: User) -> list[dict[str, Any]]:
    """The classification notices this node received, about items ``user`` may see."""
    with node.store.reading() as r:
        docs = r.documents(NOTICE)
        shown: list[dict[str, Any]] = []
        for doc in docs:
            found = r.item(doc.item_id)
            row = None if found is None else object_row(node, r, doc.item_id, found[0])
            if row is not None and node.visible(user.clearance, row):
                shown.append(doc.body)
    shown.reverse()
    return shown


def notices_view(node: Node, user: User) -> dict[str, Any]:
    levels = node.scenario.policy(node.party).levels
    return {
        "admin": _is_admin(user),
        "received": received_notices(node, user),
        "own_items": visible_items(node, user, originated=True) if _is_admin(user) else [],
        "levels": [(lv.id, lv.native) for lv in levels],
    }


def reports_view(node: Node, user: User) -> dict[str, Any]:
    found = reports.reports(node, user)
    return {
        "sent": list(reversed(found.sent)),
        "received": list(reversed(found.received)),
        "items": visible_items(node, user, originated=False),
        "kinds": KINDS,
    }


# ------------------------------------------------------------------ the log
def log_view(node: Node) -> dict[str, Any]:
    """The latest checkpoint with its verified co-signatures, the peers' latest ones, and the
    split views and refusals to co-sign this node recorded."""
    try:
        latest = witnessing.checkpoint_document(node, witnessing.latest_checkpoint(node))
    except NotFound:
        latest = None
    return {
        "latest": latest,
        "cosigned_by": witnessing.cosigned_by(node),
        "witnessed": witnessing.witnessed(node).by_peer,
        "peers": [p.party for p in node.config.peers],
        "faults": witnessing.refusals(node, limit=20),
    }


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    message: str


def server_verdict(node: Node, proof_text: str, note_text: str) -> Verdict:
    """The node's own check of a proof document against a checkpoint of its log: the note is
    signed by this log, the entry hashes to the leaf, and the path leads to the note's root."""
    try:
        if len(proof_text) > MAX_PROOF_TEXT:
            raise BadInput(f"the proof is longer than {MAX_PROOF_TEXT} characters")
        try:
            doc = orjson.loads(proof_text)
        except orjson.JSONDecodeError:
            raise BadInput("the proof is not JSON") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("entry"), str):
            raise BadInput("the proof document has no log entry")
        proof = InclusionProof.from_json(doc.get("proof"), where="proof")
        note = parse_note(note_text.encode(), where="checkpoint")
        verify_every_signature(note, node.log.origin, witnessing.keys(node))
        checkpoint = parse_checkpoint(note.text, where="checkpoint")
        if proof.origin != checkpoint.origin or proof.size != checkpoint.size:
            raise BadInput(
                f"the proof is for {proof.origin} size {proof.size}, the checkpoint is of "
                f"{checkpoint.origin} size {checkpoint.size}"
            )
        if not hmac.compare_digest(hash_leaf(doc["entry"].encode()), proof.leaf_hash):
            raise BadInput("the entry's hash is not the proof's leaf hash")
        verify_inclusion(proof.leaf_hash, proof.index, proof.size, proof.path, checkpoint.root)
    except GsomiaError as exc:
        return Verdict(ok=False, message=f"Verification failed on the server: {exc}.")
    return Verdict(
        ok=True,
        message=(
            f"Verified by {node.party}'s server: entry {proof.index} is in the log of size "
            f"{proof.size}, under a checkpoint signed by {checkpoint.origin}."
        ),
    )


def proof_view(node: Node, user: User, item_id: str) -> dict[str, Any]:
    """An item's inclusion proof as the node serves it, with the server's verdict on it."""
    served = witnessing.item_inclusion(node, user, item_id[:300], kind=None, size=None)
    note = served.checkpoint
    if note is None:
        raise NotFound(f"no signed checkpoint covers the entry of {item_id[:120]}")
    text = orjson.dumps(served.to_json(), option=orjson.OPT_INDENT_2).decode()
    return {
        "item": served.item,
        "entry_type": served.type,
        "proof_text": text,
        "note": note,
        "verdict": server_verdict(node, text, note),
    }


# ------------------------------------------------------------------ routes
DONE_MESSAGES = {
    "requested": "Consent requested: the request is on its way to the originator.",
    "granted": "Consent granted: the signed consent is on its way to the holder.",
    "refused": "Consent refused: the refusal and its reason are on their way to the holder.",
    "reclassified": "Classification changed: every holder is being notified.",
    "purpose-requested": "Approval requested: the request is on its way to the originator.",
    "purpose-granted": "Approval granted: the signed approval is on its way to the holder.",
    "purpose-refused": "Approval refused: the refusal and its reason are on their way.",
    "reported": "Report filed and logged: it is on its way to the originator.",
    "note-notice": "Notice of termination given, signed and logged: it is on its way to the "
    "other parties to the agreement.",
    "note-suspend": "Suspension of the notice given, signed and logged: it is on its way to the "
    "other parties to the agreement.",
    "note-withdraw": "Withdrawal of the notice given, signed and logged: it is on its way to the "
    "other parties to the agreement.",
}


def _done(request: Request) -> str | None:
    return DONE_MESSAGES.get(request.query_params.get("done", ""))


def _field(form: dict[str, str], name: str, limit: int = MAX_FIELD) -> str:
    value = form.get(name, "").strip()
    if len(value) > limit:
        raise BadInput(f"{name}: longer than {limit} characters")
    return value


def _answer_routes(
    router: APIRouter,
    console: Console,
    page: str,
    grant: Callable[[Node, User, str, datetime | None], object],
    refuse: Callable[[Node, User, str, str], object],
    *,
    names: tuple[str, str],
    done: str,
) -> None:
    """The grant and refuse forms of a page of requests (consents, purposes): each parses,
    calls its use case, and goes back to the page saying what was done."""
    node = console.node

    @router.post(f"{PREFIX}/{page}/grant", name=names[0])
    async def grant_form(request: Request) -> Response:
        user, form = await console.post_form(request)
        expires = optional_instant(_field(form, "expires_at", 64), "expires_at")
        await console.run(grant, node, user, _field(form, "request", 64), expires)
        await console.notifier.committed()
        return console.redirect(f"{PREFIX}/{page}?done={done}granted")

    @router.post(f"{PREFIX}/{page}/refuse", name=names[1])
    async def refuse_form(request: Request) -> Response:
        user, form = await console.post_form(request)
        request_id, reason = _field(form, "request", 64), _field(form, "reason")
        await console.run(refuse, node, user, request_id, reason)
        await console.notifier.committed()
        return console.redirect(f"{PREFIX}/{page}?done={done}refused")


def register(router: APIRouter, console: Console) -> None:  # noqa: C901, PLR0915 - a router builder; each nested handler parses, calls one use case, renders
    """Add the agreements, "why not?", consents, notices, reports and log pages."""
    node = console.node
    uploads = ScenarioUploads()
    charts = Charts(console.env)
    console.add_nav("Agreements", PREFIX + "/agreements")
    console.add_nav("Why not?", PREFIX + "/why-not")
    console.add_nav("Consents", PREFIX + "/consents")
    console.add_nav("Purposes", PREFIX + "/purposes")
    console.add_nav("Notices", PREFIX + "/notices")
    console.add_nav("Reports", PREFIX + "/reports")
    console.add_nav("Log", PREFIX + "/log")

    def session_id(request: Request) -> str:
        found = console.current_user(request)
        return "" if found is None else found[1].sid

    async def agreements_page(
        request: Request, user: User, key: str, at: str | None, *, error: str | None = None
    ) -> Response:
        sid = session_id(request)
        try:
            # evaluating and charting a scenario never runs on the event loop
            context = await console.run(agreements_view, node, uploads, sid, key, at, charts=charts)
        except (BadInput, NotFound) as exc:
            if error is not None:
                raise
            return await agreements_page(
                request, user, NODE_SCENARIO, None, error=" ".join(str(exc).split())
            )
        return console.render(
            request,
            "agreements.html",
            status=200 if error is None else 422,
            title="Agreements",
            error=error,
            done=_done(request),
            is_admin=_is_admin(user),
            at_text=at or "",
            **context,
            **await console.run(agreementnotes.live_view, node, user),
        )

    @router.get(PREFIX + "/agreements")
    async def agreements(request: Request) -> Response:
        user = console.user_or_redirect(request)
        q = request.query_params
        return await agreements_page(
            request, user, q.get("scenario", NODE_SCENARIO)[:40], q.get("at")
        )

    @router.post(PREFIX + "/agreements/scenario")
    async def upload_scenario(request: Request) -> Response:
        user, form = await console.post_form(request)
        require_admin(node, user, "upload a scenario")
        try:
            key, _ = await console.run(
                uploads.add,
                session_id(request),
                form.get("toml", ""),
                _field(form, "filename", 200),
            )
        except BadInput as exc:
            return await agreements_page(
                request, user, NODE_SCENARIO, None, error=" ".join(str(exc).split())
            )
        return console.redirect(f"{PREFIX}/agreements?{urlencode({'scenario': key})}")

    @router.get(PREFIX + "/agreements/act")
    async def agreement_act(request: Request) -> Response:
        """The confirmation of an act: its consequence in plain words, then the form."""
        user = console.user_or_redirect(request)
        q = request.query_params
        confirmation = await console.run(
            agreementnotes.confirmation_view,
            node,
            user,
            q.get("agreement", "").strip(),
            q.get("event", "").strip(),
        )
        return console.render(
            request,
            "agreement_act.html",
            title=f"{confirmation.button}: {confirmation.agreement}",
            c=confirmation,
            max_text=MAX_TEXT,
        )

    @router.post(PREFIX + "/agreements/act")
    async def agreement_act_post(request: Request) -> Response:
        user, form = await console.post_form(request)
        agreement = _field(form, "agreement", agreementnotes.MAX_AGREEMENT_ID)
        event, text = _field(form, "event", 40), form.get("text", "").strip()
        await console.run(agreementnotes.give_note, node, user, agreement, event, text)
        await console.notifier.committed()
        return console.redirect(f"{PREFIX}/agreements?done=note-{event}")

    @router.get(PREFIX + "/why-not")
    async def why_not_page(request: Request) -> Response:
        user = console.user_or_redirect(request)
        q = request.query_params
        item, party, at = q.get("item", ""), q.get("party", ""), q.get("at", "")
        result = (
            await console.run(why_not_view, node, user, item, party, at) if item and party else None
        )
        return console.render(
            request,
            "why_not.html",
            title="Why not?",
            items=await console.run(visible_items, node, user),
            parties=other_parties(node),
            chosen_item=item,
            chosen_party=party,
            at_text=at,
            result=result,
        )

    @router.get(PREFIX + "/consents")
    async def consents_page(request: Request) -> Response:
        user = console.user_or_redirect(request)
        return console.render(
            request,
            "consents.html",
            title="Consents",
            done=_done(request),
            items=(
                await console.run(visible_items, node, user, originated=False)
                if _is_admin(user)
                else []
            ),
            parties=other_parties(node),
            **await console.run(consents_view, node, user),
        )

    @router.post(PREFIX + "/consents/request")
    async def consent_request(request: Request) -> Response:
        user, form = await console.post_form(request)
        item, recipient = _field(form, "item", 300), _field(form, "recipient")
        source = _field(form, "source", 300) or None  # a derived item's source (§7.6)
        await console.run(consents.request_consent, node, user, item, recipient, source)
        await console.notifier.committed()
        return console.redirect(PREFIX + "/consents?done=requested")

    _answer_routes(
        router,
        console,
        "consents",
        consents.grant,
        consents.refuse,
        names=("consent_grant", "consent_refuse"),
        done="",
    )

    @router.get(PREFIX + "/purposes")
    async def purposes_page(request: Request) -> Response:
        user = console.user_or_redirect(request)
        q = request.query_params
        item, subject = q.get("item", "").strip()[:300], q.get("user", "").strip()[:64]
        return console.render(
            request,
            "purposes.html",
            title="Purposes",
            done=_done(request),
            chosen_item=item,
            chosen_user=subject,
            **await console.run(purposes_view, node, user, item, subject),
        )

    @router.post(PREFIX + "/purposes/request")
    async def purpose_request(request: Request) -> Response:
        user, form = await console.post_form(request)
        item, purpose = _field(form, "item", 300), _field(form, "purpose", 200)
        await console.run(approvals.request_approval, node, user, item, purpose)
        await console.notifier.committed()
        return console.redirect(PREFIX + "/purposes?done=purpose-requested")

    _answer_routes(
        router,
        console,
        "purposes",
        approvals.grant,
        approvals.refuse,
        names=("purpose_grant", "purpose_refuse"),
        done="purpose-",
    )

    @router.get(PREFIX + "/notices")
    async def notices_page(request: Request) -> Response:
        user = console.user_or_redirect(request)
        return console.render(
            request,
            "notices.html",
            title="Notices",
            done=_done(request),
            **await console.run(notices_view, node, user),
        )

    @router.post(PREFIX + "/notices")
    async def notice_post(request: Request) -> Response:
        user, form = await console.post_form(request)
        item, classification = _field(form, "item", 300), _field(form, "classification")
        await console.run(notices.reclassify, node, user, item, classification)
        await console.notifier.committed()
        return console.redirect(PREFIX + "/notices?done=reclassified")

    @router.get(PREFIX + "/reports")
    async def reports_page(request: Request) -> Response:
        user = console.user_or_redirect(request)
        return console.render(
            request,
            "reports.html",
            title="Reports",
            done=_done(request),
            **await console.run(reports_view, node, user),
        )

    @router.post(PREFIX + "/reports")
    async def report_post(request: Request) -> Response:
        user, form = await console.post_form(request)
        item, kind, detail = _field(form, "item", 300), _field(form, "kind"), _field(form, "detail")
        await console.run(reports.report, node, user, item, kind, detail)
        await console.notifier.committed()
        return console.redirect(PREFIX + "/reports?done=reported")

    async def log_page(
        request: Request, user: User, item: str, proof: dict[str, Any] | None
    ) -> Response:
        return console.render(
            request,
            "log.html",
            title="Log",
            items=await console.run(visible_items, node, user),
            chosen_item=item,
            proof=proof,
            **await console.run(log_view, node),
        )

    @router.get(PREFIX + "/log")
    async def log_get(request: Request) -> Response:
        user = console.user_or_redirect(request)
        item = request.query_params.get("item", "")
        proof = await console.run(proof_view, node, user, item) if item else None
        return await log_page(request, user, item, proof)

    @router.post(PREFIX + "/log/verify")
    async def log_verify(request: Request) -> Response:
        """The server's verdict on a proof as the user edited it (beside the browser's)."""
        user, form = await console.post_form(request)
        item = _field(form, "item", 300)
        # the user may see the item; the note to check
        served = await console.run(proof_view, node, user, item)
        text = form.get("proof", "")[:MAX_PROOF_TEXT]
        edited = {
            **served,
            "proof_text": text,
            "verdict": await console.run(server_verdict, node, text, served["note"]),
        }
        return await log_page(request, user, item, edited)
