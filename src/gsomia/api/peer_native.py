"""The peer protocol of the native API: consent requests and answers, purpose requests and
answers, loss reports and
classification notices between nodes, each request signed with the sending node's key — and
``send_message``, which the outbound drainer (``gsomia.api.outbound``) sends them with from the
outbox of peer messages, with retries and backoff (on wall time, whatever the node's scenario
clock).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from http import HTTPStatus

import httpx
from fastapi import APIRouter, Request
from starlette.responses import Response

from gsomia.api.http import JSON_MEDIA_TYPE, json_response, read_body
from gsomia.api.models import ERRORS
from gsomia.api.peer import WALL, PushFailed, retry_after, verified_sender
from gsomia.clock import Clock
from gsomia.node import (
    accounting,
    approvals,
    consents,
    federation,
    messages,
    notes,
    notices,
    reconciliation,
    reports,
)
from gsomia.node.events import Notifier
from gsomia.node.reconciliation import InventoryReceipt
from gsomia.node.results import (
    ConsentReceipt,
    NoteReceipt,
    NoticeReceipt,
    ReceiptAck,
    ReportReceipt,
)
from gsomia.node.service import Node
from gsomia.node.workers import Workers
from gsomia.store.ports import MessageRow

log = logging.getLogger("gsomia.peer")

MAX_MESSAGE_BYTES = 256 * 1024
MAX_NOTICE_BYTES = 64 * 1024 * 1024
RETRY_NOT_FOUND = 8  # a notice may arrive before the release it concerns: retry 404 a while

Receipt = (
    ConsentReceipt
    | ReportReceipt
    | NoticeReceipt
    | InventoryReceipt
    | accounting.AccountingReceipt
    | NoteReceipt
    | ReceiptAck
)
Handler = Callable[[Node, str, bytes, datetime], Receipt]

_SIGNED = {
    "description": "Signed by the sending node (X-Gsomia-Party, -Key, -Timestamp, -Signature)"
}


def build_peer_native_router(node: Node, workers: Workers, notifier: Notifier) -> APIRouter:
    """Peer messages received; their use cases run on ``workers``, never on the event loop;
    ``notifier`` hears of what they stored and queued (releases, answers to send)."""
    router = APIRouter(tags=["peer protocol"], responses=ERRORS)

    async def signed(request: Request, limit: int) -> tuple[str, bytes, datetime]:
        body = await read_body(request, limit)
        now = node.clock.now()
        return verified_sender(node, request, body), body, now

    def route(path: str, summary: str, handler: Handler, limit: int) -> None:
        async def endpoint(request: Request) -> Response:
            sender, body, now = await signed(request, limit)
            answer = await workers.run(handler, node, sender, body, now)
            await notifier.committed()
            return json_response(answer.to_json(), media_type=JSON_MEDIA_TYPE)

        router.add_api_route(
            path,
            endpoint,
            methods=["POST"],
            summary=summary,
            name=path.rsplit("/", 1)[-1],
            responses={200: _SIGNED},
        )

    route(
        messages.CONSENT_REQUEST_PATH,
        "Receive a holder's request for consent (at the originator's node)",
        consents.receive_request,
        MAX_NOTICE_BYTES,  # a source consent request carries the sealed derived item
    )
    route(
        messages.CONSENT_ANSWER_PATH,
        "Receive the originator's answer to a consent request; a grant releases the item",
        consents.receive_answer,
        MAX_MESSAGE_BYTES,
    )
    route(
        messages.PURPOSE_REQUEST_PATH,
        "Receive a holder's request to use an item for another purpose (at the originator)",
        approvals.receive_request,
        MAX_MESSAGE_BYTES,
    )
    route(
        messages.PURPOSE_ANSWER_PATH,
        "Receive the originator's answer to a purpose request; an approval widens its use",
        approvals.receive_answer,
        MAX_MESSAGE_BYTES,
    )
    route(
        messages.REPORT_PATH,
        "Receive a loss or compromise report about an item originated here; acknowledge it",
        reports.receive,
        MAX_MESSAGE_BYTES,
    )
    route(
        accounting.REQUEST_PATH,
        "Receive an originator's request for an accounting; answered at once, signed",
        accounting.receive_request,
        MAX_MESSAGE_BYTES,
    )
    route(
        accounting.ANSWER_PATH,
        "Receive a holder's signed accounting of this node's items",
        accounting.receive_answer,
        accounting.MAX_ANSWER_BYTES,
    )
    route(
        messages.NOTICE_PATH,
        "Receive the originator's classification change notice for an item held here",
        notices.receive,
        MAX_NOTICE_BYTES,
    )
    route(
        reconciliation.INVENTORY_REQUEST_PATH,
        "Receive an originator's request for this node's inventory of its items; answer it",
        reconciliation.receive_request,
        MAX_MESSAGE_BYTES,
    )
    route(
        reconciliation.INVENTORY_PATH,
        "Receive a holder's signed inventory answering a request; reconcile it",
        reconciliation.receive_inventory,
        reconciliation.MAX_INVENTORY_BYTES,
    )
    route(
        messages.NOTE_PATH,
        "Receive a party's diplomatic note on a shared agreement; its receipt is sent back",
        notes.receive,
        MAX_MESSAGE_BYTES,
    )
    route(
        messages.RECEIPT_PATH,
        "Receive a party's signed receipt of a note this node sent it",
        notes.receive_receipt,
        MAX_MESSAGE_BYTES,
    )
    return router


async def send_message(
    node: Node, client: httpx.AsyncClient, row: MessageRow, wall: Clock = WALL
) -> PushFailed | None:
    """Send one due peer message, signed, and record what came of it: delivered, refused for
    good, or to be retried (its backoff stored with it). None unless the peer failed (network,
    5xx, 429/503 with the Retry-After it asked for): then what went wrong, for the peer's
    backoff. A 404 while a notice may still overtake its release is this message's own matter:
    it waits out its stored backoff, and the peer's other messages and pushes go on."""
    url = next((p.url for p in node.config.peers if p.party == row.recipient), None)
    if url is None:
        reason = f"no peer {row.recipient} configured"
        await asyncio.to_thread(messages.rejected, node, row, reason, node.clock.now())
        return None
    headers = federation.sign_request(
        node, row.recipient, row.body, wall.now(), method="POST", target=row.path
    )
    headers["Content-Type"] = JSON_MEDIA_TYPE
    try:
        response = await client.post(url + row.path, content=row.body, headers=headers)
    except httpx.HTTPError as exc:
        reason = f"{type(exc).__name__}: {exc}"
        await asyncio.to_thread(messages.retry, node, row, reason, wall.now().timestamp())
        return PushFailed(reason)
    status = response.status_code
    if status == 200:
        try:
            answer: object = response.json()
        except ValueError:
            answer = {}
        await asyncio.to_thread(messages.delivered, node, row, answer, node.clock.now())
        return None
    detail = f"HTTP {status}: {response.text[:300]}"
    permanent = status in messages.PERMANENT_STATUSES and not (
        status == 404 and row.attempts < RETRY_NOT_FOUND
    )
    if permanent:
        log.warning("peer %s refused a message: %s", row.recipient, detail)
        await asyncio.to_thread(messages.rejected, node, row, detail, node.clock.now())
        return None
    asked = retry_after(response)  # a busy peer's Retry-After, honoured
    await asyncio.to_thread(
        messages.retry, node, row, detail, wall.now().timestamp(), not_before=asked
    )
    return None if status == HTTPStatus.NOT_FOUND else PushFailed(detail, asked)
