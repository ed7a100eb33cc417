"""Destruction over HTTP (DOMAIN.md §7.5): the native API's routes (an admin destroys an item;
an originator asks a holder to destroy its items; the destructions and certificates a user may
see) and the peer routes (a destruction request received at the holder; a certificate received
at the originator). Handlers parse, call one use case of ``gsomia.node.destruction``, render.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from starlette.responses import Response

from gsomia.api.http import authenticate, native_json, read_body
from gsomia.api.models import ERRORS, Out, ok, render
from gsomia.api.native import PREFIX, ItemId, PartyCode, _utf8
from gsomia.api.peer import verified_sender
from gsomia.api.peer_native import MAX_MESSAGE_BYTES
from gsomia.node import destruction
from gsomia.node.events import Notifier
from gsomia.node.service import Node
from gsomia.node.workers import Workers

Reason = Annotated[
    str,
    StringConstraints(min_length=1, max_length=destruction.MAX_REASON),
    AfterValidator(_utf8),
]
Topic = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(_utf8)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DestroyIn(_Strict):
    reason: Reason = Field(description="Why this node no longer needs the item.")


class DestructionRequestIn(_Strict):
    holder: PartyCode = Field(description="The party asked to destroy, e.g. JPN.")
    item: ItemId | None = Field(None, description="One item this node originated; or:")
    topic: Topic | None = Field(None, description="Every item of this topic (within it).")
    returned: bool = Field(default=False, description="Asked back: the reason is 'returned'.")


class CertificateOut(Out):
    item: str
    originator: str
    holder: str
    digest: str
    label: dict[str, Any]
    destroyed_at: str
    reason: str
    authorised_by: str
    certificate: dict[str, Any] = Field(description="The holder's signed statement.")


class DestructionRequestOut(Out):
    id: str
    holder: str
    item: str | None
    topic: str | None
    returned: bool
    requested_at: str
    requested_by: str
    delivery: dict[str, Any] | None


class DestructionsOut(Out):
    destroyed: list[CertificateOut] = Field(description="Items this node destroyed.")
    received: list[CertificateOut] = Field(description="Certificates holders sent this node.")
    requests: list[DestructionRequestOut] = Field(description="Requests sent (admins only).")


def build_destruction_router(node: Node, workers: Workers, notifier: Notifier) -> APIRouter:
    """The native API's destruction routes (under ``/native/v1``)."""
    router = APIRouter(prefix=PREFIX, tags=["native API"])
    config = node.config

    @router.post(
        "/items/{item_id:path}/destroy",
        summary="Destroy an item held here (admins; not an item this node originated)",
        responses=ok(CertificateOut),
    )
    async def destroy(
        request: Request,
        item_id: Annotated[str, Path(max_length=300, description="STIX-ID/VERSION")],
        body: DestroyIn,
    ) -> Response:
        user = authenticate(request, config)
        cert = await workers.run(destruction.destroy, node, user, item_id, body.reason)
        await notifier.committed()
        return native_json(render(CertificateOut, cert))

    @router.post(
        "/destruction-requests",
        summary="Ask a holder to destroy an item, or every item of a topic, originated here",
        status_code=201,
        responses=ok(DestructionRequestOut, 201),
    )
    async def create_request(request: Request, body: DestructionRequestIn) -> Response:
        user = authenticate(request, config)
        doc = await workers.run(
            destruction.request_destruction,
            node,
            user,
            body.holder,
            item_id=body.item,
            topic=body.topic,
            returned=body.returned,
        )
        await notifier.committed()
        return native_json(render(DestructionRequestOut, doc), 201)

    @router.get(
        "/destructions",
        summary="Items destroyed here, certificates received, requests sent",
        responses=ok(DestructionsOut),
    )
    async def list_destructions(request: Request) -> Response:
        user = authenticate(request, config)
        found = await workers.run(destruction.destructions, node, user)
        return native_json(render(DestructionsOut, found))

    return router


def build_destruction_peer_router(node: Node, workers: Workers, notifier: Notifier) -> APIRouter:
    """The peer routes: a destruction request (at the holder), a certificate (at the
    originator), each signed by the sending node."""
    router = APIRouter(tags=["peer protocol"], responses=ERRORS)

    @router.post(
        destruction.REQUEST_PATH,
        summary="Receive the originator's request to destroy its items; carried out at once",
    )
    async def receive_request(request: Request) -> Response:
        body = await read_body(request, MAX_MESSAGE_BYTES)
        now = node.clock.now()
        sender = verified_sender(node, request, body)
        answer = await workers.run(destruction.receive_request, node, sender, body, now)
        await notifier.committed()
        return native_json(answer.to_json())

    @router.post(
        destruction.CERTIFICATE_PATH,
        summary="Receive a holder's destruction certificate for an item originated here",
    )
    async def receive_certificate(request: Request) -> Response:
        body = await read_body(request, MAX_MESSAGE_BYTES)
        now = node.clock.now()
        sender = verified_sender(node, request, body)
        answer = await workers.run(destruction.receive_certificate, node, sender, body, now)
        return native_json(answer.to_json())

    return router
