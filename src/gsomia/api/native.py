"""The node's native JSON API (``/native/v1``): agreements and their state at an instant, the
timeline, "why not?", items as verified, consents, loss or compromise reports, classification
change notices, purposes ("why not?" for a use, approvals for another purpose). Handlers
parse, call one use case, and render; errors take the one JSON shape.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from starlette.responses import Response

from gsomia.api.http import authenticate, native_json
from gsomia.api.models import Out, Renders, ok, render
from gsomia.api.native_inventory import add_inventory_routes
from gsomia.domain.agreements import status_at
from gsomia.domain.instants import format_instant, parse_instant
from gsomia.domain.notes import parse_kind
from gsomia.domain.timeline import timeline
from gsomia.node import (
    accesses,
    agreementstate,
    approvals,
    consents,
    derived,
    notes,
    notices,
    register,
    reports,
)
from gsomia.node.config import User
from gsomia.node.events import Notifier
from gsomia.node.holdings import why_not, why_not_use
from gsomia.node.service import Node
from gsomia.node.workers import Workers

PREFIX = "/native/v1"


def _utf8(value: str) -> str:
    """Refuse text that cannot be stored as UTF-8 (a lone surrogate from ``\\ud800``)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid Unicode text (a lone surrogate?)") from None
    return value


ItemId = Annotated[str, StringConstraints(min_length=3, max_length=300), AfterValidator(_utf8)]
PartyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Instant = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_utf8)]
ReportKind = Literal["loss", "compromise", "suspected_loss", "suspected_compromise", "findings"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConsentRequestIn(_Strict):
    item: ItemId = Field(description="The item id (STIX-ID/VERSION) held at this node.")
    recipient: PartyCode = Field(description="The party to pass it to, e.g. JPN.")
    source: ItemId | None = Field(
        None,
        description="For a derived item: the source whose originator is asked (DOMAIN.md §7.6).",
    )


class GrantIn(_Strict):
    expires_at: Instant | None = Field(
        None, description="When the consent ends (ISO 8601 with a UTC offset); none: no end."
    )


class RefuseIn(_Strict):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=2000), AfterValidator(_utf8)]


class PurposeRequestIn(_Strict):
    item: ItemId = Field(description="The item id (STIX-ID/VERSION) held at this node.")
    purpose: Annotated[
        str, StringConstraints(min_length=1, max_length=200), AfterValidator(_utf8)
    ] = Field(description="A purpose of the scenario's vocabulary, e.g. defense.policy.")


class ReportIn(_Strict):
    item: ItemId
    kind: ReportKind
    detail: Annotated[str, StringConstraints(min_length=1, max_length=3000), AfterValidator(_utf8)]


class NoticeIn(_Strict):
    item: ItemId
    classification: Annotated[
        str, StringConstraints(min_length=1, max_length=64), AfterValidator(_utf8)
    ] = Field(description="A level of the originator's policy, by id or native name.")


class NoteIn(_Strict):
    agreement: Annotated[
        str, StringConstraints(min_length=1, max_length=200), AfterValidator(_utf8)
    ] = Field(description="The agreement's id, e.g. jpn-kor-gsomia-2016.")
    event: Literal["notice", "suspend", "withdraw"] = Field(
        description="notice (of termination), suspend or withdraw (the notice in effect)."
    )
    text: Annotated[str, StringConstraints(max_length=2000), AfterValidator(_utf8)] = Field(
        "", description="The note's free text."
    )
    at: Instant | None = Field(
        None,
        description="When it takes effect (ISO 8601 with offset); default now, and within the "
        "accepted skew of the node's clock.",
    )


class Delivery(Out):
    state: Literal["queued", "delivered", "rejected"]
    at: str
    detail: str | None = None
    answer: dict[str, str] | None = None


class Acknowledgement(Out):
    at: str
    by: str


class ConsentRequestOut(Out):
    id: str
    item: str
    originator: str
    holder: str
    recipient: str
    requested_at: str
    status: Literal["pending", "granted", "refused"]
    answered_at: str | None
    expires_at: str | None
    reason: str | None
    requested_by: str | None = None
    answered_by: str | None = None
    release: str | None = Field(None, description="At the holder: the onward release.")
    received_at: str | None = Field(None, description="At the originator: when it arrived.")
    holder_known: bool | None = Field(
        None, description="At the originator: whether its copy shows the requester holds it."
    )
    delivery: Delivery | None = None
    source: str | None = Field(
        None, description="For a derived item: the source whose originator is asked."
    )


class PurposeRequestOut(Out):
    id: str
    item: str
    originator: str
    holder: str
    purpose: str
    requested_at: str
    status: Literal["pending", "granted", "refused"]
    answered_at: str | None
    expires_at: str | None
    reason: str | None
    requested_by: str | None = None
    answered_by: str | None = None
    received_at: str | None = Field(None, description="At the originator: when it arrived.")
    delivery: Delivery | None = None


class UseDecisionOut(Out):
    """Whether a user may read an item's content here (DOMAIN.md §7.2), in plain words."""

    item: str
    user: str
    user_purposes: list[str]
    decision: Literal["allow", "deny"]
    reasons: list[str]
    purposes: list[str] | None = Field(
        description="What the item is provided for here; null at its originator (no bound)."
    )
    standing_consent: bool = Field(
        description="It arrived on standing consent: defense.warning only, whatever its label."
    )
    notes: list[str]


class ReportOut(Out):
    id: str
    item: str
    originator: str
    reporter: str
    kind: ReportKind
    detail: str
    reported_at: str
    acknowledgement: Acknowledgement | None
    reported_by: str | None = None
    received_at: str | None = None
    delivery: Delivery | None = None


class ReportsOut(Out):
    sent: list[ReportOut]
    received: list[ReportOut]


class NoticeOut(Out):
    item: str
    classification: str
    at: str
    notified: list[str]


class RuleOut(Out):
    rule: int
    name: str
    holds: bool
    detail: str


class AgreementCheckOut(Out):
    agreement: str
    allows: bool
    rules: list[RuleOut]


class WhyNotOut(Out):
    decision: Literal["allow", "deny"]
    item: str
    holder: str
    recipient: str
    at: str
    agreements: list[str]
    equivalent: str | None
    recipient_marking: dict[str, str] | None
    reasons: list[str]
    already_holds: bool
    rules: list[AgreementCheckOut]


class AgreementNoticeOut(Out):
    given: str
    status: str


class AgreementOut(Out):
    id: str
    parties: list[str]
    state: str
    notice: AgreementNoticeOut | None
    next_anniversary: str | None
    notice_deadline: str | None
    ends: str | None


class TimelineEntryOut(Out):
    at: str
    agreement: str
    kind: str
    text: str
    source: str
    anniversary: str | None


class TimelineOut(Out):
    scenario: str
    until: str
    entries: list[TimelineEntryOut]


class SignedByOut(Out):
    party: str | None = None
    key: str


class GrantOut(Out):
    party: str
    agreements: list[str]
    at: str
    marking: dict[str, Any]


class ConsentOut(Out):
    item: str
    item_digest: str
    originator: str
    recipient: str
    granted_at: str
    expires_at: str | None
    signed_by: SignedByOut
    source: str | None = Field(None, description="A source originator's consent (§7.6).")


class ReleaseOut(Out):
    holder: str
    recipient: str
    at: str
    agreements: list[str]
    marking: dict[str, Any]
    standing_consent: str | None
    consent: ConsentOut | None
    signed_by: SignedByOut


class ItemNoticeOut(Out):
    classification: str
    at: str
    signed_by: SignedByOut


class BatchOut(Out):
    size: int
    index: int


class RecipientOut(Out):
    party: str
    key: str


class SourceOut(Out):
    item: str
    originator: str
    kind: Literal["assessment", "extract", "translation"]
    language: str | None = Field(description="For a translation: the language (BCP 47).")
    visible: bool = Field(description="Whether the reader may see the source here.")


class DerivedOut(Out):
    item: str = Field(description="A derived item written from this one, visible to the reader.")
    originator: str
    kind: Literal["assessment", "extract", "translation"]
    language: str | None


class ItemOut(Out):
    """A sealed item as verified here, with this node's marking and the latest notice."""

    format: Literal["gsomia-sealed-item"]
    version: int
    digest: str
    originator: str
    label: dict[str, Any]
    classification: str
    equivalent_labels: list[dict[str, Any]]
    signed_by: SignedByOut
    batch: BatchOut
    recipients: list[RecipientOut]
    grants: list[GrantOut]
    releases: list[ReleaseOut]
    notices: list[ItemNoticeOut]
    content_bytes: int
    checked_against_scenario: str | None
    signatures_hold: bool
    consents: list[ConsentOut]
    held_by: str
    received_from: str | None
    marking: dict[str, Any]


class HeldReceiptOut(Out):
    at: str = Field(description="When the party received the note.")
    state: str = Field(description="Its state digest of the agreement then (hex).")
    receipt: str = Field(description="The signed receipt (base64, GSMK).")


class NoteOut(Out):
    id: str
    agreement: str
    event: Literal["notice", "suspend", "withdraw"]
    party: str = Field(description="The party whose act it is (the note's signer).")
    at: str = Field(description="When the act takes effect.")
    text: str
    direction: Literal["sent", "received"]
    digest: str = Field(description="SHA-256 of the signed note (hex): its identity.")
    state: str = Field(description="The party's state digest of the agreement with it (hex).")
    given_by: str | None = Field(None, description="Sent: the authority who gave it.")
    received_at: str | None = Field(None, description="Received: when it arrived here.")
    receipts: dict[str, HeldReceiptOut] = Field(description="Sent: each recipient's receipt.")
    delivery: dict[str, Delivery] = Field(
        description="Per peer: the note's delivery (sent) or that of this node's receipt."
    )
    resent: dict[str, str] | None = Field(
        None,
        description="Sent: per peer that lost it, when (wall time) it last went to it again.",
    )


class ConsequenceOut(Out):
    agreement: str
    event: str
    party: str
    at: str
    end: str | None = Field(description="The agreement's end with the act; null: none.")
    words: str = Field(description="What the act brings about, in plain words.")


def _instant(text: str | None, where: str) -> datetime | None:
    return None if text is None else parse_instant(text, where)


@dataclass(frozen=True)
class _Answering:
    """One kind of request's routes besides asking: list a box, read one, grant, refuse, each
    with its route name (the OpenAPI operation id) and summary."""

    path: str
    out: type[Out]
    listed: Callable[[Node, User, str], Sequence[Renders]]
    read: Callable[[Node, User, str], Renders]
    grant: Callable[[Node, User, str, datetime | None], Renders]
    refuse: Callable[[Node, User, str, str], Renders]
    listing: tuple[str, str]
    reading: tuple[str, str]
    granting: tuple[str, str]
    refusing: tuple[str, str]


@dataclass(frozen=True, slots=True)
class ItemList:
    """A list about one item, at ``/items/{id}/<suffix>``: the use case that finds it for a
    user (an item the user may not see answered as a missing one) and its response model."""

    suffix: str
    name: str  # the route's name (its OpenAPI operation)
    summary: str
    listed: Callable[[Node, User, str], Sequence[Renders]]
    out: type[Out]


def item_list_route(router: APIRouter, node: Node, workers: Workers, kind: ItemList) -> None:
    """``GET /items/{id}/<suffix>``. Add it before ``/items/{id}``, which would take its path."""
    config = node.config
    out = kind.out

    @router.get(
        f"/items/{{item_id:path}}/{kind.suffix}",
        name=kind.name,
        summary=kind.summary,
        responses=ok(list[out]),  # type: ignore[valid-type]  # the list's response model
    )
    async def item_list(
        request: Request,
        item_id: Annotated[str, Path(max_length=300, description="STIX-ID/VERSION")],
    ) -> Response:
        user = authenticate(request, config)
        found = await workers.run(kind.listed, node, user, item_id)
        return native_json([render(out, x) for x in found])


def _answering_routes(
    router: APIRouter, node: Node, workers: Workers, notifier: Notifier, kind: _Answering
) -> None:
    """A kind of request's list, read, grant and refuse routes (admins only, the use cases
    say); consent requests and purpose requests share them."""
    config = node.config
    out = kind.out

    @router.get(
        kind.path,
        name=kind.listing[0],
        summary=kind.listing[1],
        responses=ok(list[out]),  # type: ignore[valid-type]  # the kind's response model
    )
    async def list_requests(
        request: Request,
        box: Annotated[Literal["inbox", "outbox"], Query()] = "outbox",
    ) -> Response:
        user = authenticate(request, config)
        found = await workers.run(kind.listed, node, user, box)
        return native_json([render(out, r) for r in found])

    @router.get(
        kind.path + "/{request_id}",
        name=kind.reading[0],
        summary=kind.reading[1],
        responses=ok(out),
    )
    async def read_request(
        request: Request, request_id: Annotated[str, Path(max_length=64)]
    ) -> Response:
        user = authenticate(request, config)
        found = await workers.run(kind.read, node, user, request_id)
        return native_json(render(out, found))

    @router.post(
        kind.path + "/{request_id}/grant",
        name=kind.granting[0],
        summary=kind.granting[1],
        responses=ok(out),
    )
    async def grant(
        request: Request,
        request_id: Annotated[str, Path(max_length=64)],
        body: GrantIn | None = None,
    ) -> Response:
        user = authenticate(request, config)
        expires = None if body is None else _instant(body.expires_at, "expires_at")
        doc = await workers.run(kind.grant, node, user, request_id, expires)
        await notifier.committed()
        return native_json(render(out, doc))

    @router.post(
        kind.path + "/{request_id}/refuse",
        name=kind.refusing[0],
        summary=kind.refusing[1],
        responses=ok(out),
    )
    async def refuse(
        request: Request, request_id: Annotated[str, Path(max_length=64)], body: RefuseIn
    ) -> Response:
        user = authenticate(request, config)
        doc = await workers.run(kind.refuse, node, user, request_id, body.reason)
        await notifier.committed()
        return native_json(render(out, doc))


def build_native_router(node: Node, workers: Workers, notifier: Notifier) -> APIRouter:
    """The native API; every node call runs on ``workers``, never on the event loop;
    ``notifier`` hears of the commits that queued releases or messages."""
    router = APIRouter(prefix=PREFIX, tags=["native API"])
    _reading_routes(router, node, workers)
    _consent_routes(router, node, workers, notifier)
    _report_routes(router, node, workers, notifier)
    add_inventory_routes(router, node, workers, notifier)
    _purpose_routes(router, node, workers, notifier)
    _note_routes(router, node, workers, notifier)
    return router


def _note_routes(router: APIRouter, node: Node, workers: Workers, notifier: Notifier) -> None:
    """Diplomatic notes (DOMAIN.md §4): listed for every user, given by authorities; what an
    act would bring about; the parties' states of each agreement."""
    config = node.config

    @router.get(
        "/notes",
        summary="The diplomatic notes held here, sent and received, with their receipts",
        responses=ok(list[NoteOut]),
    )
    async def list_notes(
        request: Request,
        agreement: Annotated[
            str | None, Query(max_length=200, description="Only this agreement's")
        ] = None,
    ) -> Response:
        user = authenticate(request, config)
        found = await workers.run(notes.held, node, user, agreement)
        return native_json([render(NoteOut, n) for n in found])

    @router.post(
        "/notes",
        summary="Give a note on an agreement: notice, suspension or withdrawal (authorities)",
        status_code=201,
        responses=ok(NoteOut, 201),
    )
    async def give_note(request: Request, body: NoteIn) -> Response:
        user = authenticate(request, config)
        kind = parse_kind(body.event, "event")
        doc = await workers.run(
            notes.give, node, user, body.agreement, kind, body.text, _instant(body.at, "at")
        )
        await notifier.committed()
        return native_json(render(NoteOut, doc), 201)

    @router.get(
        "/notes/consequence",
        summary="What this party's act on an agreement would bring about, in plain words",
        responses=ok(ConsequenceOut),
    )
    async def note_consequence(
        request: Request,
        agreement: Annotated[str, Query(min_length=1, max_length=200)],
        event: Annotated[Literal["notice", "suspend", "withdraw"], Query()],
        at: Annotated[
            Instant | None, Query(description="ISO 8601 with offset; default now")
        ] = None,
    ) -> Response:
        user = authenticate(request, config)
        kind = parse_kind(event, "event")
        when = _instant(at, "at")
        found = await workers.run(notes.consequence, node, user, agreement, kind, when)
        return native_json(render(ConsequenceOut, found))

    @router.get(
        "/agreements/states",
        summary="Each agreement's state digest here and as each peer party was last seen "
        "computing it: agreed or disputed, and the note missing",
    )
    async def agreement_states(request: Request) -> Response:
        user = authenticate(request, config)
        found = await workers.run(agreementstate.states, node, user)
        return native_json([s.to_json() for s in found])


def _purpose_routes(router: APIRouter, node: Node, workers: Workers, notifier: Notifier) -> None:
    """Purposes (DOMAIN.md §7.2): "why not?" for a user's use of an item, and approvals to use
    an item for another purpose — asked, read, granted, refused (admins only)."""
    config = node.config

    @router.get(
        "/purposes/why-not",
        summary="Whether a user may read an item's content here, and why not, in plain words",
        responses=ok(UseDecisionOut),
    )
    async def why_not_use_route(
        request: Request,
        item: Annotated[ItemId, Query(description="The item id (STIX-ID/VERSION)")],
        user: Annotated[
            str | None, Query(max_length=64, description="Another user (admins only)")
        ] = None,
    ) -> Response:
        me = authenticate(request, config)
        found = await workers.run(why_not_use, node, me, item, user)
        return native_json(render(UseDecisionOut, found))

    _answering_routes(
        router,
        node,
        workers,
        notifier,
        _Answering(
            "/purposes/requests",
            PurposeRequestOut,
            approvals.requests,
            approvals.request,
            approvals.grant,
            approvals.refuse,
            listing=(
                "list_purpose_requests",
                "Approvals for another purpose: asked by this node (outbox) or of it (inbox)",
            ),
            reading=("read_purpose_request", "One request for another purpose (admins only)"),
            granting=(
                "grant_purpose",
                "Approve a use for another purpose, optionally until an instant (originator)",
            ),
            refusing=(
                "refuse_purpose",
                "Refuse a use for another purpose, with a reason (the originator's admins)",
            ),
        ),
    )

    @router.post(
        "/purposes/requests",
        summary="Ask the originator to approve using an item for another purpose (admins only)",
        status_code=201,
        responses=ok(PurposeRequestOut, 201),
    )
    async def create_purpose_request(request: Request, body: PurposeRequestIn) -> Response:
        user = authenticate(request, config)
        doc = await workers.run(approvals.request_approval, node, user, body.item, body.purpose)
        await notifier.committed()
        return native_json(render(PurposeRequestOut, doc), 201)


def _reading_routes(router: APIRouter, node: Node, workers: Workers) -> None:
    """Agreements, the timeline, "why not?" and items: reads."""
    config = node.config

    @router.get(
        "/agreements",
        summary="Every agreement's state at an instant",
        responses=ok(list[AgreementOut]),
    )
    async def agreements(
        request: Request,
        at: Annotated[
            Instant | None, Query(description="ISO 8601 with offset; default now")
        ] = None,
    ) -> Response:
        authenticate(request, config)
        instant = _instant(at, "at") or node.clock.now()
        scenario = node.scenario

        def states() -> list[dict[str, Any]]:
            return [render(AgreementOut, status_at(a, instant)) for a in scenario.agreements]

        return native_json(await workers.run(states))  # evaluating never runs on the loop

    @router.get(
        "/timeline",
        summary="Every event and state change of the scenario, in order",
        responses=ok(TimelineOut),
    )
    async def scenario_timeline(
        request: Request,
        until: Annotated[
            Instant | None, Query(description="Up to this instant; default a year from now")
        ] = None,
    ) -> Response:
        authenticate(request, config)
        limit = _instant(until, "until") or node.clock.now() + timedelta(days=366)
        scenario = node.scenario

        def document() -> dict[str, Any]:
            return render(
                TimelineOut,
                {
                    "scenario": scenario.name,
                    "until": format_instant(limit),
                    "entries": [e.to_json() for e in timeline(scenario, until=limit)],
                },
            )

        return native_json(await workers.run(document))  # evaluating never runs on the loop

    @router.get(
        "/why-not",
        summary="The decision of this node releasing an item to a party, with each rule's result",
        responses=ok(WhyNotOut),
    )
    async def why_not_route(
        request: Request,
        item: Annotated[ItemId, Query(description="The item id (STIX-ID/VERSION)")],
        party: Annotated[PartyCode, Query(description="The would-be recipient, e.g. JPN")],
        at: Annotated[
            Instant | None, Query(description="ISO 8601 with offset; default now")
        ] = None,
    ) -> Response:
        user = authenticate(request, config)
        at_instant = _instant(at, "at")
        decision = await workers.run(why_not, node, user, item, party, at_instant)
        return native_json(render(WhyNotOut, decision))

    item_list_route(
        router,
        node,
        workers,
        ItemList(
            "sources",
            "item_sources",
            "The sources a derived item was written from (DOMAIN.md §7.6)",
            derived.sources,
            SourceOut,
        ),
    )
    item_list_route(
        router,
        node,
        workers,
        ItemList(
            "derived",
            "item_derived",
            "The derived items held here, visible to the reader, written from an item",
            derived.derived,
            DerivedOut,
        ),
    )

    @router.get(
        "/items/{item_id:path}",
        summary="An item held here, verified: markings, releases, consents, notices",
        responses=ok(ItemOut),
    )
    async def item(
        request: Request,
        item_id: Annotated[str, Path(max_length=300, description="STIX-ID/VERSION")],
    ) -> Response:
        user = authenticate(request, config)
        found = await workers.run(register.read_item, node, user, item_id, accesses.API)
        return native_json(render(ItemOut, found))


def _consent_routes(router: APIRouter, node: Node, workers: Workers, notifier: Notifier) -> None:
    """Consent requests: asked, read, granted, refused (admins only)."""
    config = node.config

    _answering_routes(
        router,
        node,
        workers,
        notifier,
        _Answering(
            "/consent-requests",
            ConsentRequestOut,
            consents.requests,
            consents.request,
            consents.grant,
            consents.refuse,
            listing=(
                "list_requests",
                "Consent requests: sent by this node (outbox) or to it (inbox); admins only",
            ),
            reading=("read_request", "One consent request (admins only)"),
            granting=("grant", "Grant a consent request (the originator's admins)"),
            refusing=(
                "refuse",
                "Refuse a consent request, with a reason (the originator's admins)",
            ),
        ),
    )

    @router.post(
        "/consent-requests",
        summary="Ask the originator's consent to pass an item on (admins only)",
        status_code=201,
        responses=ok(ConsentRequestOut, 201),
    )
    async def create_request(request: Request, body: ConsentRequestIn) -> Response:
        user = authenticate(request, config)
        doc = await workers.run(
            consents.request_consent, node, user, body.item, body.recipient, body.source
        )
        await notifier.committed()
        return native_json(render(ConsentRequestOut, doc), 201)


def _report_routes(router: APIRouter, node: Node, workers: Workers, notifier: Notifier) -> None:
    """Loss or compromise reports, and classification change notices."""
    config = node.config

    @router.get(
        "/reports",
        summary="Loss or compromise reports sent and received, about items the user may see",
        responses=ok(ReportsOut),
    )
    async def list_reports(request: Request) -> Response:
        user = authenticate(request, config)
        return native_json(render(ReportsOut, await workers.run(reports.reports, node, user)))

    @router.post(
        "/reports",
        summary="Report the loss or compromise of another party's item to its originator",
        status_code=201,
        responses=ok(ReportOut, 201),
    )
    async def create_report(request: Request, body: ReportIn) -> Response:
        user = authenticate(request, config)
        doc = await workers.run(reports.report, node, user, body.item, body.kind, body.detail)
        await notifier.committed()
        return native_json(render(ReportOut, doc), 201)

    @router.post(
        "/notices",
        summary="Change the classification of an item this party originated (admins only)",
        responses=ok(NoticeOut),
    )
    async def create_notice(request: Request, body: NoticeIn) -> Response:
        user = authenticate(request, config)
        doc = await workers.run(notices.reclassify, node, user, body.item, body.classification)
        await notifier.committed()
        return native_json(render(NoticeOut, doc))
