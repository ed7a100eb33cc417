"""The native API's inventory and reconciliation routes (DOMAIN.md §7.4), admins only:
``GET /native/v1/inventory`` (this node's signed inventory), ``POST /native/v1/reconciliations``
(ask a holder for its inventory of this node's items, to reconcile), ``GET
/native/v1/reconciliations`` and ``GET /native/v1/reconciliations/{id}``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.responses import Response

from gsomia.api.http import authenticate, native_json
from gsomia.api.models import Out, ok, render
from gsomia.node import inventory, reconciliation
from gsomia.node.events import Notifier
from gsomia.node.service import Node
from gsomia.node.workers import Workers

PartyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


class ReconciliationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    holder: PartyCode = Field(description="The peer to ask for its inventory, e.g. USA.")


class StatementOut(Out):
    """A signed statement (``gsomia.seal.statements``) of kind ``inventory``."""

    format: Literal["gsomia-statement"]
    v: int
    kind: Literal["inventory"]
    party: str
    key_id: str
    body: dict[str, Any] = Field(description="party, at, originator, request, items (see docs)")
    signature: dict[str, str]


class FindingOut(Out):
    kind: Literal[
        "sent_not_held",
        "held_not_sent",
        "relayed_under_standing_consent",
        "destroyed",
        "digest_differs",
    ]
    severity: Literal["serious", "notice"]
    item: str
    detail: str
    at: str | None = None
    reason: str | None = None
    via: str | None = None


class DeliveryOut(Out):
    state: Literal["queued", "delivered", "rejected"]
    at: str
    detail: str | None = None
    answer: dict[str, str] | None = None


class ReconciliationOut(Out):
    id: str
    holder: str
    requested_at: str
    requested_by: str
    requested_wall: float = Field(description="Wall time of the request (epoch seconds).")
    status: Literal["pending", "done", "failed"]
    answered_at: str | None = None
    inventory_at: str | None = None
    items: int | None = None
    findings: list[FindingOut]
    delivery: DeliveryOut | None = None
    hidden_findings: int | None = Field(
        None, description="Findings left out: about items this user may not see."
    )


def add_inventory_routes(
    router: APIRouter, node: Node, workers: Workers, notifier: Notifier
) -> None:
    """The inventory and reconciliation routes, on the native router."""
    config = node.config

    @router.get(
        "/inventory",
        summary="This node's signed inventory: every item held or once held (admins only)",
        responses=ok(StatementOut),
    )
    async def read_inventory(
        request: Request,
        originator: Annotated[
            PartyCode | None, Query(description="Only this originator's items")
        ] = None,
    ) -> Response:
        user = authenticate(request, config)
        doc = await workers.run(inventory.inventory, node, user, originator)
        return native_json(render(StatementOut, doc))

    @router.post(
        "/reconciliations",
        summary="Ask a holder for its inventory of this node's items, to reconcile (admins)",
        status_code=201,
        responses=ok(ReconciliationOut, 201),
    )
    async def create_reconciliation(request: Request, body: ReconciliationIn) -> Response:
        user = authenticate(request, config)
        doc = await workers.run(reconciliation.request, node, user, body.holder)
        await notifier.committed()
        return native_json(render(ReconciliationOut, doc), 201)

    @router.get(
        "/reconciliations",
        summary="This node's reconciliations with holders, newest first (admins only)",
        responses=ok(list[ReconciliationOut]),
    )
    async def list_reconciliations(
        request: Request, holder: Annotated[PartyCode | None, Query()] = None
    ) -> Response:
        user = authenticate(request, config)
        found = await workers.run(reconciliation.reconciliations, node, user, holder)
        return native_json([render(ReconciliationOut, d) for d in found])

    @router.get(
        "/reconciliations/{reconciliation_id}",
        summary="One reconciliation and its findings (admins only)",
        responses=ok(ReconciliationOut),
    )
    async def read_reconciliation(
        request: Request, reconciliation_id: Annotated[str, Path(max_length=64)]
    ) -> Response:
        user = authenticate(request, config)
        found = await workers.run(reconciliation.reconciliation, node, user, reconciliation_id)
        return native_json(render(ReconciliationOut, found))
