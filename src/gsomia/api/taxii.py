"""TAXII 2.1 for the node's own users: discovery, API root, collections, objects, manifest,
versions, status (OASIS TAXII 2.1, sections 4–5)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from starlette.responses import Response

from gsomia.api.http import (
    HttpError,
    accepts_taxii,
    authenticate,
    json_response,
    parse_json,
    read_body,
    require_taxii_body,
)
from gsomia.api.models import ERRORS
from gsomia.errors import BadInput
from gsomia.node.service import Filters, Node, Page, decode_cursor
from gsomia.node.stix import format_date_added, parse_timestamp
from gsomia.store.sqlite_node import ObjectRow

API_ROOT = "api"
T = TypeVar("T")


def _filters(request: Request) -> tuple[Filters, int | None, str | None]:
    q = request.query_params
    known = {
        "added_after",
        "limit",
        "next",
        "match[id]",
        "match[type]",
        "match[version]",
        "match[spec_version]",
    }
    unknown = sorted(set(q) - known)
    if unknown:
        raise HttpError(
            400, "bad_request", f"unknown query parameter(s): {', '.join(unknown)[:200]}"
        )
    added_after = q.get("added_after")
    if added_after is not None:
        # one fixed-width UTC form, as date_added is stored: compared as instants, so that
        # "...:05Z" is before "...:05.300000Z" (as strings, "." sorts before "Z")
        added_after = format_date_added(_bad_request(parse_timestamp, added_after, "added_after"))
    limit: int | None = None
    if "limit" in q:
        if not q["limit"].isdigit() or int(q["limit"]) < 1:
            raise HttpError(400, "bad_request", "limit: expected a positive whole number")
        limit = int(q["limit"])

    def split(name: str) -> tuple[str, ...]:
        return tuple(v for value in q.getlist(name) for v in value.split(",") if v)

    versions = split("match[version]") or ("last",)
    for v in versions:
        if v not in ("last", "first", "all"):
            _bad_request(parse_timestamp, v, "match[version]")
    if "all" in versions:
        versions = ("all",)
    filters = Filters(
        added_after=added_after,
        ids=split("match[id]"),
        types=split("match[type]"),
        versions=versions,
        spec_versions=split("match[spec_version]"),
    )
    cursor = q.get("next")
    _bad_request(decode_cursor, cursor)  # a malformed next is a bad request (TAXII 2.1: 400)
    return filters, limit, cursor


def _bad_request(parse: Callable[..., T], *args: object) -> T:
    """``parse(*args)``, its BadInput answered as TAXII's 400 for a malformed parameter."""
    try:
        return parse(*args)
    except BadInput as exc:
        raise HttpError(400, "bad_request", str(exc)) from None


def _page_headers(page: Page) -> dict[str, str]:
    if not page.rows:
        return {}
    return {
        "X-TAXII-Date-Added-First": page.first_added or "",
        "X-TAXII-Date-Added-Last": page.last_added or "",
    }


def _envelope(page: Page) -> bytes:
    """The envelope, spliced from stored JSON bytes without re-encoding each object."""
    head = b'{"more":' + (b"true" if page.more else b"false")
    if page.next is not None:
        head += b',"next":"' + page.next.encode() + b'"'
    if not page.rows:
        return head + b"}"
    return head + b',"objects":[' + b",".join(r.body for r in page.rows) + b"]}"


def _manifest_record(row: ObjectRow) -> dict[str, Any]:
    return {
        "id": row.stix_id,
        "date_added": row.date_added,
        "version": row.version,
        "media_type": "application/stix+json;version=2.1",
    }


def build_router(node: Node) -> APIRouter:
    router = APIRouter(tags=["TAXII 2.1"], responses=ERRORS)
    config = node.config

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    @router.get("/taxii2/", summary="TAXII discovery")
    async def discovery(request: Request) -> Response:
        accepts_taxii(request)
        authenticate(request, config)
        root = f"{base(request)}/{API_ROOT}/"
        return json_response(
            {
                "title": config.title,
                "description": f"The gsomia node of {node.party}: what it originated and received.",
                "default": root,
                "api_roots": [root],
            }
        )

    @router.get(f"/{API_ROOT}/", summary="TAXII API root")
    async def api_root(request: Request) -> Response:
        accepts_taxii(request)
        authenticate(request, config)
        return json_response(
            {
                "title": f"{node.party} exchange",
                "description": "Classified military information shared under agreements in force.",
                "versions": ["application/taxii+json;version=2.1"],
                "max_content_length": config.max_content_length,
            }
        )

    @router.get(f"/{API_ROOT}/collections/", summary="TAXII collections")
    async def collections(request: Request) -> Response:
        accepts_taxii(request)
        authenticate(request, config)
        return json_response({"collections": [c.to_taxii() for c in node.collections()]})

    @router.get(f"/{API_ROOT}/collections/{{cid}}/", summary="TAXII collection")
    async def collection(request: Request, cid: str) -> Response:
        accepts_taxii(request)
        authenticate(request, config)
        return json_response(node.collection(cid).to_taxii())

    @router.get(f"/{API_ROOT}/collections/{{cid}}/objects/", summary="TAXII get objects")
    async def get_objects(request: Request, cid: str) -> Response:
        accepts_taxii(request)
        user = authenticate(request, config)
        filters, limit, cursor = _filters(request)
        page = node.page(user, cid, filters, limit, cursor)
        return Response(
            _envelope(page),
            media_type="application/taxii+json;version=2.1",
            headers=_page_headers(page),
        )

    @router.post(
        f"/{API_ROOT}/collections/{{cid}}/objects/", summary="TAXII add objects", status_code=202
    )
    async def add_objects(request: Request, cid: str) -> Response:
        accepts_taxii(request)
        user = authenticate(request, config)
        node.collection(cid)
        require_taxii_body(request)
        raw = await read_body(request, config.max_content_length)
        envelope = parse_json(raw, "envelope")
        if not isinstance(envelope, dict) or not isinstance(envelope.get("objects"), list):
            raise HttpError(
                422, "bad_input", "envelope: expected a JSON object with an 'objects' list"
            )
        status = node.publish(user, envelope["objects"], cid)
        request.app.state.notify()
        return json_response(status.to_json(), status=202)

    _add_object_routes(router, node)
    return router


def _add_object_routes(router: APIRouter, node: Node) -> None:
    """One object's routes (get, versions, delete), the manifest and status."""
    config = node.config

    @router.get(
        f"/{API_ROOT}/collections/{{cid}}/objects/{{object_id}}/", summary="TAXII get an object"
    )
    async def get_object(request: Request, cid: str, object_id: str) -> Response:
        accepts_taxii(request)
        user = authenticate(request, config)
        filters, limit, cursor = _filters(request)
        filters = Filters(
            added_after=filters.added_after,
            ids=(object_id,),
            types=filters.types,
            versions=filters.versions,
            spec_versions=filters.spec_versions,
        )
        node.versions_of(user, cid, object_id)  # 404 when absent or hidden
        page = node.page(user, cid, filters, limit, cursor)
        return Response(
            _envelope(page),
            media_type="application/taxii+json;version=2.1",
            headers=_page_headers(page),
        )

    @router.get(
        f"/{API_ROOT}/collections/{{cid}}/objects/{{object_id}}/versions/",
        summary="TAXII object versions",
    )
    async def versions(request: Request, cid: str, object_id: str) -> Response:
        accepts_taxii(request)
        user = authenticate(request, config)
        filters, limit, cursor = _filters(request)
        page = node.version_page(user, cid, object_id, filters, limit, cursor)
        body: dict[str, Any] = {"more": page.more}
        if page.next is not None:
            body["next"] = page.next
        if page.rows:
            body["versions"] = [r.version for r in page.rows]
        return json_response(body, headers=_page_headers(page))

    @router.delete(
        f"/{API_ROOT}/collections/{{cid}}/objects/{{object_id}}/",
        summary="TAXII delete an object (always refused: 403)",
        description=(
            "gsomia collections are append-only records of what was shared: a delete is "
            "refused with 403 and an error resource. An object the user may not see, or that "
            "is not stored, is 404 as for GET."
        ),
    )
    async def delete_object(request: Request, cid: str, object_id: str) -> Response:
        accepts_taxii(request)
        user = authenticate(request, config)
        _filters(request)  # match[version] and match[spec_version] are checked, then moot
        node.delete_object(user, cid, object_id)  # always raises: 404, else 403

    @router.get(f"/{API_ROOT}/collections/{{cid}}/manifest/", summary="TAXII manifest")
    async def manifest(request: Request, cid: str) -> Response:
        accepts_taxii(request)
        user = authenticate(request, config)
        filters, limit, cursor = _filters(request)
        page = node.page(user, cid, filters, limit, cursor)
        body: dict[str, Any] = {
            "more": page.more,
            "objects": [_manifest_record(r) for r in page.rows],
        }
        if page.next is not None:
            body["next"] = page.next
        if not page.rows:
            del body["objects"]
        return json_response(body, headers=_page_headers(page))

    @router.get(f"/{API_ROOT}/status/{{status_id}}/", summary="TAXII status")
    async def status(request: Request, status_id: str) -> Response:
        accepts_taxii(request)
        user = authenticate(request, config)
        return json_response(node.status(user, status_id).to_json())
