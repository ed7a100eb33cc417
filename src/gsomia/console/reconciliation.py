"""The console's Reconciliation page (DOMAIN.md §7.4), for a node's admins: per peer (a holder
of this node's items), the last reconciliation and its findings, earlier runs, and a button
that asks the holder for its inventory now. Handlers parse, call one use case, render."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from gsomia.console.session import PREFIX, Console
from gsomia.domain.access import Role
from gsomia.errors import BadInput
from gsomia.node import reconciliation
from gsomia.node.config import User
from gsomia.node.service import Node

PAGE = PREFIX + "/reconciliation"
HISTORY = 10  # earlier runs shown per holder

KIND_WORDS = {
    "sent_not_held": "Sent but not held",
    "held_not_sent": "Held but not sent",
    "relayed_under_standing_consent": "Relayed under standing consent",
    "destroyed": "Destroyed",
    "digest_differs": "Digest differs",
}


def reconciliation_view(node: Node, user: User) -> dict[str, Any]:
    """Each peer's last reconciliation and earlier ones (admins; others see a note)."""
    if user.role is not Role.ADMIN:
        return {"admin": False, "holders": []}
    runs = reconciliation.reconciliations(node, user)
    holders = [
        {
            "party": peer.party,
            "runs": [r for r in runs if r.holder == peer.party][: HISTORY + 1],
        }
        for peer in node.config.peers
    ]
    return {"admin": True, "holders": holders}


def register(router: APIRouter, console: Console) -> None:
    """Add the Reconciliation page and its button."""
    node = console.node
    console.add_nav("Reconciliation", PAGE)

    @router.get(PAGE)
    async def reconciliation_page(request: Request) -> Response:
        user = console.user_or_redirect(request)
        asked = request.query_params.get("asked", "")
        return console.render(
            request,
            "reconciliation.html",
            title="Reconciliation",
            asked=asked if asked in {p.party for p in node.config.peers} else None,
            kind_words=KIND_WORDS,
            interval=node.config.reconcile_interval,
            **await console.run(reconciliation_view, node, user),
        )

    @router.post(PAGE)
    async def reconcile_now(request: Request) -> Response:
        user, form = await console.post_form(request)
        holder = form.get("holder", "").strip()
        if len(holder) > 3:
            raise BadInput("holder: expected a party such as USA")
        await console.run(reconciliation.request, node, user, holder)
        await console.notifier.committed()
        return console.redirect(f"{PAGE}?asked={holder}")
