"""The feed (``/console/``) and the item page (``/console/items/ITEM-ID``).

The feed lists the items the signed-in user may read (Art. 7, ``Node.visible``), originated
here or received from a peer, newest first, a page at a time (``?before=SEQ``); new items
arrive live over ``/console/events``, rendered by ``event_renderer`` as the JSON the page's
script turns into DOM nodes (text only). Each entry carries its markings as classified
documents are marked: the originator's label and this party's equivalent, colour-coded by
class. The item page adds the verified chain of releases (grants, releases, consents,
notices), the content for people and, for a launch report, the map.

One rule keeps a launch one entry: objects of a supporting type (``SUPPORTING_TYPES``: a
``location``) are not listed in the feed, first page, older pages or live; they are shown on
the page of the object that names them in its ``object_refs`` (a launch report's launch point,
facility and predicted impact area), each linked to its own item page. That list holds only
what this node holds in the report's collection and the user may see: a hidden object is left
out exactly as a missing one is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from gsomia.console import destructions
from gsomia.console.launchmap import launch_block, launch_map
from gsomia.console.registerpages import item_register_view
from gsomia.console.session import PREFIX, Console
from gsomia.domain.access import Role
from gsomia.domain.parties import Equivalence
from gsomia.errors import BadInput, GsomiaError, NotFound
from gsomia.node import accesses, derived
from gsomia.node.config import User
from gsomia.node.events import Render
from gsomia.node.holdings import current_classification, held
from gsomia.node.register import read_item, record_rows
from gsomia.node.service import Node
from gsomia.node.stix import GSOMIA_LAUNCH_EXTENSION
from gsomia.store.ports import NodeReader, ObjectRow

PAGE_SIZE = 25
WINDOW = 256  # rows read from the store at a time, going back
#: STIX types that support another object rather than stand alone: not listed in the feed,
#: shown on the page of the object whose ``object_refs`` name them.
SUPPORTING_TYPES = ("location",)
#: How many of an object's ``object_refs`` its page looks up (the first ones, in order).
MAX_REFS = 50
_MAX_REF_LEN = 300  # a STIX id is type--uuid: far shorter
_MAX_SEQ = 2**63 - 1
_CLASS_CSS = {
    Equivalence.TOP_SECRET: "mark-ts",
    Equivalence.SECRET: "mark-s",
    Equivalence.CONFIDENTIAL: "mark-c",
}
#: Properties shown in their own place on the item page, not among "other properties".
_SHOWN = {
    "type",
    "spec_version",
    "id",
    "name",
    "description",
    "created",
    "modified",
    "published",
    "labels",
    "object_marking_refs",
}

#: The fields of gsomia's launch extension (``gsomia demo``), named for people.
LAUNCH_FIELDS = {
    "missile": "Missile",
    "missile_type": "Type",
    "count": "Missiles",
    "facility": "Facility",
    "launch_point": "Launch point (lat, lon)",
    "bearing_deg": "Bearing (°)",
    "apogee_km": "Apogee (km)",
    "distance_km": "Range (km)",
    "predicted_impact": "Predicted impact (lat, lon)",
    "outcomes": "Outcomes",
    "time_known": "Time of launch known",
    "source": "Source",
}


@dataclass(frozen=True, slots=True)
class Banner:
    text: str
    css: str  # mark-ts | mark-s | mark-c: the colour of the class

    def to_json(self) -> dict[str, str]:
        return {"text": self.text, "css": self.css}


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    item_id: str
    url: str
    name: str
    stix_type: str
    originator: str
    received: bool
    created: str
    date_added: str
    summary: str
    original: Banner
    mine: Banner
    launch: str  # "Hwasong-15 (ICBM), apogee 4475 km, range 950 km", or ""

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "item": self.item_id,
            "url": self.url,
            "name": self.name,
            "type": self.stix_type,
            "originator": self.originator,
            "received": self.received,
            "created": self.created,
            "date_added": self.date_added,
            "summary": self.summary,
            "original": self.original.to_json(),
            "mine": self.mine.to_json(),
            "launch": self.launch,
        }


@dataclass(frozen=True, slots=True)
class Ref:
    """An object another names in its ``object_refs``, as its page lists it."""

    stix_id: str
    stix_type: str
    name: str
    url: str  # its item page; "" for what is no item (a public definition, such as an identity)


def item_url(item_id: str) -> str:
    return f"{PREFIX}/items/{quote(item_id, safe='')}"


def _text(value: object, limit: int) -> str:
    if not isinstance(value, str):
        return ""
    text = " ".join(value.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def level_name(level_id: str, native: str) -> str:
    """A level as marked: its id and native name ("II 군사II급비밀"), once when they agree."""
    if native.replace(" ", "_").upper() == level_id.upper():
        return native
    return f"{level_id} {native}"


def banners(
    node: Node, originator: str, classification: str, rel: tuple[str, ...]
) -> tuple[Banner, Banner]:
    """The originator's marking and this party's equivalent, as banner lines."""
    level = node.scenario.policy(originator).level(classification)
    css = _CLASS_CSS[level.equivalence]
    releasable = f"REL TO {', '.join(rel)}" if rel else f"{originator} ONLY"
    original = Banner(f"{originator} {level_name(level.id, level.native)} // {releasable}", css)
    if originator == node.party:
        mine = Banner(f"{node.party} {level_name(level.id, level.native)} — originated here", css)
    else:
        marking = node.scenario.policy(node.party).marking_for(level.equivalence, originator)
        mine = Banner(
            f"{node.party} {level_name(marking.level, marking.native)} — originator {originator}",
            css,
        )
    return original, mine


def launch_summary(info: object) -> str:
    if not isinstance(info, dict):
        return ""
    parts = []
    missile = _text(info.get("missile"), 80)
    kind = _text(info.get("missile_type"), 40)
    if missile:
        parts.append(f"{missile} ({kind})" if kind else missile)
    for key, word in (("apogee_km", "apogee"), ("distance_km", "range")):
        value = info.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value == value:  # noqa: PLR0124 - NaN
            parts.append(f"{word} {value:,.0f} km")
    return ", ".join(parts)


def entry_for(node: Node, row: ObjectRow) -> Entry:
    """The feed entry of a stored item (verified: its markings come from the sealed label)."""
    if row.item_id is None:
        raise NotFound(f"row {row.seq} is not an item")
    item = held(node, row.item_id)
    classification = current_classification(node, item)
    original, mine = banners(
        node, item.originator, classification, tuple(item.verified.label.releasable_to)
    )
    try:
        body = orjson.loads(row.body)
    except orjson.JSONDecodeError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    return Entry(
        seq=row.seq,
        item_id=row.item_id,
        url=item_url(row.item_id),
        name=_text(body.get("name"), 200) or row.stix_id,
        stix_type=row.stix_type,
        originator=item.originator,
        received=item.received_from is not None,
        created=_text(body.get("created"), 40),
        date_added=row.date_added,
        summary=_text(body.get("description"), 240),
        original=original,
        mine=mine,
        launch=launch_summary(launch_block(body)),
    )


def listed(node: Node, user: User, row: ObjectRow) -> bool:
    """Whether the feed lists a stored row for ``user``: an item they may see, of a type that
    stands alone (not one of ``SUPPORTING_TYPES``)."""
    return (
        row.item_id is not None
        and row.stix_type not in SUPPORTING_TYPES
        and node.visible(user.clearance, row)
    )


def newest(
    node: Node, user: User, before: int, limit: int, *, window: int = WINDOW
) -> tuple[list[Entry], int | None]:
    """Up to ``limit`` entries the user may see, stored before ``before``, newest first, and
    the ``before`` of the next page (None at the end). Rows are read ``window`` at a time,
    going back, until the page is full or the store's start is reached, however many rows
    are not listed."""
    found: list[ObjectRow] = []
    upper = before
    with node.store.reading() as r:
        upper = min(upper, r.last_seq() + 1)
        while upper > 1 and len(found) <= limit:
            lower = max(0, upper - 1 - window)
            rows = [x for x in r.rows_after(lower, window) if x.seq < upper]
            found.extend(x for x in reversed(rows) if listed(node, user, x))
            upper = lower + 1
    more = len(found) > limit
    rows = found[:limit]
    entries = []
    shown = []
    for row in rows:
        try:
            entries.append(entry_for(node, row))
        except GsomiaError:
            continue  # an item that no longer verifies is not shown (the log says why)
        shown.append(row)
    # the feed shows each item's name and description: content, recorded before it is shown
    record_rows(node, user, shown, accesses.CONSOLE)
    return entries, (rows[-1].seq if more and rows else None)


def event_renderer(console: Console, user: User) -> Render:
    """How a stored row becomes an SSE frame of the console's stream (its entry as JSON)."""
    node = console.node

    def render(row: ObjectRow) -> bytes | None:
        if not listed(node, user, row):
            return None
        data = orjson.dumps(entry_for(node, row).to_json())
        return b"id: %d\nevent: item\ndata: %s\n\n" % (row.seq, data)

    return render


def _ref_ids(body: dict[str, Any]) -> list[str]:
    """The first ``MAX_REFS`` distinct ids an object's ``object_refs`` names, in order (what is
    not a plausible STIX id is passed over: the body is outside input)."""
    refs = body.get("object_refs")
    if not isinstance(refs, list):
        return []
    ids: list[str] = []
    for ref in refs[: MAX_REFS * 2]:
        if isinstance(ref, str) and "--" in ref and len(ref) <= _MAX_REF_LEN and ref not in ids:
            ids.append(ref)
            if len(ids) == MAX_REFS:
                break
    return ids


def _ref(row: ObjectRow) -> Ref:
    try:
        body = orjson.loads(row.body)
    except orjson.JSONDecodeError:
        body = {}
    name = _text(body.get("name"), 200) if isinstance(body, dict) else ""
    url = "" if row.item_id is None else item_url(row.item_id)
    return Ref(row.stix_id, row.stix_type, name or row.stix_id, url)


def referred(node: Node, user: User, row: ObjectRow) -> list[Ref]:
    """What ``row``'s ``object_refs`` name that this node holds in the same collection and
    ``user`` may see, in the order named (the first ``MAX_REFS``), each at its latest version
    the user may see.

    Visibility is decided on the index alone (``scopes``: no body read, a miss costs what a
    hit does), so a ref the user may not see takes the steps of one not held and is left out
    the same way; only what the user may see is then read, and checked again on the full row
    (a public definition must match gsomia's, body and all)."""
    try:
        body = orjson.loads(row.body)
    except orjson.JSONDecodeError:
        return []
    if not isinstance(body, dict):
        return []
    with node.store.reading() as r:
        found = [_latest_seen(node, user, r, row.collection, x) for x in _ref_ids(body)]
    return [_ref(x) for x in found if x is not None]


def _latest_seen(
    node: Node, user: User, r: NodeReader, collection: str, stix_id: str
) -> ObjectRow | None:
    """The latest version of ``stix_id`` in ``collection`` that ``user`` may see, or None
    (hidden or not held: the same steps to the same answer)."""
    seen = [x for x in r.scopes(collection, stix_id) if node.visible(user.clearance, x)]
    if not seen:
        return None
    latest = seen[-1].version
    for version in r.versions(collection, stix_id):
        if version.version == latest and node.visible(user.clearance, version):
            return version
    return None


def _before(raw: str | None) -> int:
    if raw is None or raw == "":
        return _MAX_SEQ
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        raise BadInput("before: expected a position from the feed's 'older' link")
    return int(raw)


def _others(body: dict[str, Any], *, shown_launch: bool) -> dict[str, Any]:
    """The properties not shown in their own place; the extensions without the launch block
    when it is shown as launch data (other extensions stay, as JSON)."""
    others = {k: v for k, v in body.items() if k not in _SHOWN}
    extensions = others.get("extensions")
    if shown_launch and isinstance(extensions, dict):
        rest = {k: v for k, v in extensions.items() if k != GSOMIA_LAUNCH_EXTENSION}
        if rest:
            others["extensions"] = rest
        else:
            del others["extensions"]
    return others


def content(body: dict[str, Any]) -> dict[str, Any]:
    """The STIX object for people: its main fields, and the rest as (name, JSON text) pairs."""
    labels = body.get("labels")
    info = launch_block(body)
    others = [
        (str(k)[:80], json.dumps(v, ensure_ascii=False, indent=1)[:4000])
        for k, v in _others(body, shown_launch=info is not None).items()
    ]
    launch_rows: list[tuple[str, str]] = []
    if info is not None:
        for key, value in info.items():
            if key == "extension_type":
                continue
            if isinstance(value, str | int | float | bool) or value is None:
                text = "" if value is None else str(value)
            else:
                text = json.dumps(value, ensure_ascii=False)
            launch_rows.append((LAUNCH_FIELDS.get(key, str(key)[:80]), text[:1000]))
    return {
        "name": _text(body.get("name"), 500),
        "description": body.get("description") if isinstance(body.get("description"), str) else "",
        "type": _text(body.get("type"), 100),
        "created": body.get("created"),
        "modified": body.get("modified"),
        "published": body.get("published"),
        "labels": [str(x)[:100] for x in labels] if isinstance(labels, list) else [],
        "launch_rows": launch_rows,
        "others": others,
    }


def register(router: APIRouter, console: Console) -> None:
    node = console.node
    console.add_nav("Feed", PREFIX + "/")

    @router.get(PREFIX + "/")
    async def feed_page(request: Request) -> Response:
        user = console.user_or_redirect(request)
        before = _before(request.query_params.get("before"))
        entries, older = await console.run(newest, node, user, before, PAGE_SIZE)
        return console.render(
            request,
            "feed.html",
            title="Feed",
            entries=entries,
            older=older,
            first_page=before == _MAX_SEQ,
        )

    @router.get(PREFIX + "/items/{item_id:path}")
    async def item_page(request: Request, item_id: str) -> Response:
        user = console.user_or_redirect(request)

        def page() -> dict[str, Any]:
            try:
                # NotFound when hidden; the access recorded before the page is shown
                details = read_item(node, user, item_id, accesses.CONSOLE).to_json()
            except NotFound:
                gone = destructions.destroyed_page(node, user, item_id)
                if gone is None:
                    raise
                return {"destroyed": gone}
            item = held(node, item_id)
            if item.row is None:
                raise NotFound(f"no item {item_id[:200]!r} at {node.party}")
            entry = entry_for(node, item.row)
            try:
                body = orjson.loads(item.row.body)
            except orjson.JSONDecodeError:
                body = {}
            body = body if isinstance(body, dict) else {}
            return {
                "title": entry.name,
                "entry": entry,
                "details": details,
                "agreements": {a.id: a.title for a in node.scenario.agreements},
                "content": content(body),
                "map": launch_map(launch_block(body)),
                "refs": referred(node, user, item.row),
                "sources": [
                    {**s.to_json(), "url": item_url(s.item) if s.visible else None}
                    for s in derived.sources(node, user, item_id)
                ],
                "ask_sources": sorted(
                    {
                        s.originator: s.item
                        for s in derived.sources(node, user, item_id)
                        if s.originator != node.party
                    }.items()
                )
                if user.role is Role.ADMIN
                else [],
                "parties": [p for p in sorted(node.scenario.policies) if p != node.party],
                "used_in": [
                    {**d.to_json(), "url": item_url(d.item)}
                    for d in derived.derived(node, user, item_id)
                ],
                **item_register_view(node, user, item_id),  # admins: accesses, accountings
                # DOMAIN.md §7.1: what it is provided for here (None: originated here)
                "purposes_here": node.provided_here(item.row),
                "may_ask_purpose": user.role is Role.ADMIN and item.originator != node.party,
                "purpose_choices": node.scenario.purposes,
                "destruction": destructions.item_panel(node, user, item_id, item.originator),
            }

        context = await console.run(page)  # the store and the verification: off the loop
        if "destroyed" in context:  # when and why, to a user who could have seen it
            c = context["destroyed"]
            return console.render(request, "destroyed.html", title="Destroyed", c=c)
        return console.render(request, "item.html", level_name=level_name, **context)
