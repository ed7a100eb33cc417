"""The console's Destructions page (DOMAIN.md §7.5): items this node destroyed, with their
certificates; certificates holders sent for items it originated; the requests it sent; and the
admins' forms — destroy an item held here (confirmed, for it cannot be undone), or ask a holder
to destroy an item (or every item of a topic) this node originated. The item page shows an
item's certificates and these actions too, and a destroyed item's page says when and why.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from gsomia.console.pages import other_parties, visible_items
from gsomia.console.session import PREFIX, Console
from gsomia.domain.access import Role
from gsomia.errors import BadInput
from gsomia.node import destruction
from gsomia.node.config import User
from gsomia.node.holdings import MAX_ITEM_ID
from gsomia.node.service import Node

MAX_FIELD = 500
CONFIRM = "destroy"
DONE = {
    "destroyed": "Destroyed: its key and content are gone; the certificate is on its way to "
    "the originator.",
    "requested": "Destruction requested: the request is on its way to the holder.",
}


def _field(form: dict[str, str], name: str, limit: int = MAX_FIELD) -> str:
    value = form.get(name, "").strip()
    if len(value) > limit:
        raise BadInput(f"{name}: longer than {limit} characters")
    return value


def page_view(node: Node, user: User) -> dict[str, Any]:
    """What the Destructions page shows ``user``."""
    found = destruction.destructions(node, user)
    admin = user.role is Role.ADMIN
    return {
        "destroyed": [c.to_json() for c in found.destroyed],
        "received": [c.to_json() for c in found.received],
        "requests": [r.to_json() for r in found.requests],
        "admin": admin,
        "held_items": visible_items(node, user, originated=False) if admin else [],
        "own_items": visible_items(node, user, originated=True) if admin else [],
        "parties": other_parties(node),
    }


def item_panel(node: Node, user: User, item_id: str, originator: str) -> dict[str, Any]:
    """The destruction part of an item's page: its certificates (at the originator) and what
    an admin may do with it here."""
    own = originator == node.party
    return {
        "admin": user.role is Role.ADMIN,
        "own": own,
        "certificates": [c.to_json() for c in destruction.certificates_for(node, user, item_id)]
        if own
        else [],
        "holders": list(destruction.holders_of(node, user, item_id)) if own else [],
    }


def destroyed_page(node: Node, user: User, item_id: str) -> dict[str, Any] | None:
    """The certificate of an item this node destroyed, if ``user`` could have seen it."""
    found = destruction.destroyed_view(node, user, item_id[:MAX_ITEM_ID])
    return None if found is None else found.to_json()


def register(router: APIRouter, console: Console) -> None:
    node = console.node
    console.add_nav("Destructions", PREFIX + "/destructions")

    @router.get(PREFIX + "/destructions")
    async def destructions_page(request: Request) -> Response:
        user = console.user_or_redirect(request)
        done = DONE.get(request.query_params.get("done", ""))
        return console.render(
            request,
            "destructions.html",
            title="Destructions",
            done=done,
            confirm_word=CONFIRM,
            chosen_item=request.query_params.get("item", "")[:MAX_ITEM_ID],
            **await console.run(page_view, node, user),
        )

    @router.post(PREFIX + "/destructions/destroy")
    async def destroy(request: Request) -> Response:
        user, form = await console.post_form(request)
        if form.get("confirm", "") != CONFIRM:
            raise BadInput(
                f"confirm: tick the box to confirm ({CONFIRM}); a destruction cannot be undone"
            )
        item, reason = _field(form, "item", MAX_ITEM_ID), _field(form, "reason")
        await console.run(destruction.destroy, node, user, item, reason)
        await console.notifier.committed()
        return console.redirect(PREFIX + "/destructions?done=destroyed")

    @router.post(PREFIX + "/destructions/request")
    async def request_destruction(request: Request) -> Response:
        user, form = await console.post_form(request)
        holder = _field(form, "holder", 8)
        item = _field(form, "item", MAX_ITEM_ID) or None
        topic = _field(form, "topic", 200) or None
        returned = form.get("returned", "") == "yes"
        await console.run(
            destruction.request_destruction,
            node,
            user,
            holder,
            item_id=item,
            topic=topic,
            returned=returned,
        )
        await console.notifier.committed()
        return console.redirect(PREFIX + "/destructions?done=requested")
