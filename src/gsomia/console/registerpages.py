"""The console's register and accountings (admins): the node's users (Art. 6(e)); requests for
accountings and the signed answers holders gave; a request per holder, for every item of this
party it holds or for one item (from the item's page, which also shows the item's access history
and its accountings to admins — ``item_register_view``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from gsomia.console.session import PREFIX, Console
from gsomia.domain.access import Role
from gsomia.errors import BadInput
from gsomia.node import accounting, register
from gsomia.node.config import User
from gsomia.node.holdings import held, visible_item
from gsomia.node.service import Node

DONE = {"requested": "Accounting requested: the holder's node answers it, signed."}


def item_register_view(node: Node, user: User, item_id: str) -> dict[str, Any]:
    """What an item's page adds for an admin: its access history here, the accountings
    holders gave of it (at its originator), and the holders one may ask; nothing for others."""
    if user.role is not Role.ADMIN:
        return {"admin_view": False}
    item = visible_item(node, user, item_id, f"read the register of {item_id[:120]}")
    own = item.originator == node.party
    peers = {p.party for p in node.config.peers}
    holders = [p for p in dict.fromkeys(held(node, item_id).verified.holders()) if p in peers]
    return {
        "admin_view": True,
        "accesses": register.item_accesses(node, user, item_id),
        "accountings": accounting.item_accountings(node, user, item_id) if own else [],
        "holders": holders if own else [],
    }


def accountings_view(node: Node, user: User) -> dict[str, Any]:
    admin = user.role is Role.ADMIN
    return {
        "admin": admin,
        "requests": accounting.accountings(node, user) if admin else [],
        "register": register.register(node, user) if admin else None,
        "holders": sorted(p.party for p in node.config.peers),
    }


def register_pages(router: APIRouter, console: Console) -> None:
    """Add the accountings page and the accounting requests' form handler."""
    node = console.node
    console.add_nav("Accountings", PREFIX + "/accountings")

    @router.get(PREFIX + "/accountings")
    async def accountings_page(request: Request) -> Response:
        user = console.user_or_redirect(request)
        return console.render(
            request,
            "accountings.html",
            title="Accountings",
            done=DONE.get(request.query_params.get("done", "")),
            **await console.run(accountings_view, node, user),
        )

    @router.post(PREFIX + "/accountings/request")
    async def accounting_request(request: Request) -> Response:
        user, form = await console.post_form(request)
        holder = form.get("holder", "").strip()
        item = form.get("item", "").strip()
        if len(holder) > 8 or len(item) > 300:
            raise BadInput("holder or item: too long")
        items = [item] if item else None
        await console.run(accounting.request_accounting, node, user, holder, items)
        await console.notifier.committed()
        return console.redirect(PREFIX + "/accountings?done=requested")
