"""The register and accountings in the native API (``/native/v1``, admins only): the node's
users with their clearance, need-to-know, purposes and latest access; an item's access history
and the accountings holders gave of it; requests for accountings, and their answers.

Its router is included before the native API's own: ``/items/{id}/accesses`` must be matched
before ``/items/{id}`` (an item id holds a ``/``). Handlers parse, call one use case, render.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.responses import Response

from gsomia.api.http import authenticate, native_json
from gsomia.api.models import Out, ok, render
from gsomia.api.native import PREFIX, ItemList, item_list_route
from gsomia.node import accounting, register
from gsomia.node.events import Notifier
from gsomia.node.service import Node
from gsomia.node.workers import Workers

ItemId = Annotated[str, StringConstraints(min_length=3, max_length=300)]


class AccountingRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    holder: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = Field(
        description="The party asked, e.g. JPN."
    )
    items: list[ItemId] | None = Field(
        None,
        max_length=accounting.MAX_ITEMS,
        description="Items this party originated (STIX-ID/VERSION); none: every one it holds.",
    )


class AccessOut(Out):
    seq: int
    item: str
    user: str
    at: str = Field(description="The scenario instant of the access.")
    purpose: str
    route: Literal["taxii", "api", "events", "console"]


class RegisteredUserOut(Out):
    name: str
    role: str
    clearance: str
    equivalence: str
    need_to_know: list[str]
    purposes: list[str]
    last_access: AccessOut | None


class RegisterOut(Out):
    party: str
    users: list[RegisteredUserOut]
    records: int = Field(description="Accesses recorded at this node.")


class ItemAccountingOut(Out):
    item: str
    accesses: int
    persons: int = Field(description="Distinct persons; never who.")
    purposes: dict[str, int] = Field(description="Accesses per purpose.")


class ItemAccountingSeenOut(ItemAccountingOut):
    request: str
    holder: str
    at: str
    summary: str


class DeliveryOut(Out):
    state: Literal["queued", "delivered", "rejected"]
    at: str
    detail: str | None = None
    answer: dict[str, str] | None = None


class AccountingRequestOut(Out):
    id: str
    holder: str
    items: list[str] | None
    requested_at: str
    requested_by: str
    status: Literal["pending", "answered"]
    answered_at: str | None
    lines: list[ItemAccountingOut]
    absent: list[str] = Field(description="Items asked about that the holder does not hold.")
    delivery: DeliveryOut | None


def build_register_router(node: Node, workers: Workers, notifier: Notifier) -> APIRouter:
    """The register's and accountings' routes; node calls run on ``workers``; ``notifier``
    hears of the commits that queued a request."""
    router = APIRouter(prefix=PREFIX, tags=["register and accounting"])
    config = node.config

    @router.get(
        "/register",
        summary="The node's users: clearance, need-to-know, purposes, latest access (admins)",
        responses=ok(RegisterOut),
    )
    async def read_register(request: Request) -> Response:
        user = authenticate(request, config)
        return native_json(render(RegisterOut, await workers.run(register.register, node, user)))

    item_list_route(
        router,
        node,
        workers,
        ItemList(
            "accesses",
            "item_accesses",
            "The recorded accesses to an item's content (admins)",
            register.item_accesses,
            AccessOut,
        ),
    )
    item_list_route(
        router,
        node,
        workers,
        ItemList(
            "accountings",
            "item_accountings",
            "The accountings holders gave of an item this party originated (admins)",
            accounting.item_accountings,
            ItemAccountingSeenOut,
        ),
    )

    @router.post(
        "/accountings",
        summary="Ask a holder for an accounting of this party's items (admins)",
        status_code=201,
        responses=ok(AccountingRequestOut, 201),
    )
    async def ask(request: Request, body: AccountingRequestIn) -> Response:
        user = authenticate(request, config)
        doc = await workers.run(accounting.request_accounting, node, user, body.holder, body.items)
        await notifier.committed()
        return native_json(render(AccountingRequestOut, doc), 201)

    @router.get(
        "/accountings",
        summary="Requests for accountings and their signed answers, newest first (admins)",
        responses=ok(list[AccountingRequestOut]),
    )
    async def list_accountings(request: Request) -> Response:
        user = authenticate(request, config)
        found = await workers.run(accounting.accountings, node, user)
        return native_json([render(AccountingRequestOut, a) for a in found])

    return router
