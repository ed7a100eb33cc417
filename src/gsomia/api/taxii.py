"""TAXII 2.1 for the node's own users: discovery, API root, collections, objects, manifest,
versions, status (OASIS TAXII 2.1, sections 4–5)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from starlette.responses import Response

from gsomia.api.http import (
    MAX_JSON_INTEGER,
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
from gsomia.node import accesses, register
from gsomia.node.events import Notifier
from gsomia.node.results import PublishStatus
from gsomia.node.service import (
    VERSION_KEYWORDS,
    Filters,
    Node,
    Page,
    decode_cursor,
)
from gsomia.node.stix import STIX_MEDIA_TYPE, parse_timestamp, taxii_timestamp
from gsomia.node.workers import Workers
from gsomia.store.ports import ObjectRow

API_ROOT = "api"
T = TypeVar("T")


#: The query parameters of each filtering endpoint (TAXII 2.1 §5.3, §5.4, §5.6, §5.7, §5.8).
_PAGING = ("added_after", "limit", "next")
OBJECTS_PARAMETERS = (*_PAGING, "match[id]", "match[type]", "match[version]", "match[spec_version]")
OBJECT_PARAMETERS = (*_PAGING, "match[version]", "match[spec_version]")
VERSIONS_PARAMETERS = (*_PAGING, "match[spec_version]")
DELETE_PARAMETERS = ("match[version]", "match[spec_version]")
_KNOWN = frozenset(OBJECTS_PARAMETERS)
_MAX_LIMIT_DIGITS = len(str(MAX_JSON_INTEGER))  # a TAXII integer fits in 54 bits (§2)
_SPEC_VERSION = re.compile(r"[0-9]+\.[0-9]+")


def _filters(
    request: Request, allowed: tuple[str, ...] = OBJECTS_PARAMETERS
) -> tuple[Filters, int | None, str | None]:
    """The filters, limit and cursor of a request (TAXII 2.1 §3.4, §3.4.1): 400 for a
    parameter this endpoint does not take, one given twice, or a malformed value."""
    q = request.query_params
    _check_names(q.multi_items(), allowed)
    added_after = q.get("added_after")
    if added_after is not None:
        # one fixed-width UTC form, as date_added is stored: compared as instants, so that
        # "...:05Z" is before "...:05.300000Z" (as strings, "." sorts before "Z")
        added_after = taxii_timestamp(_bad_request(parse_timestamp, added_after, "added_after"))
    filters = Filters(
        added_after=added_after,
        ids=_values(q.get("match[id]"), "match[id]"),
        types=_values(q.get("match[type]"), "match[type]"),
        versions=_versions(q.get("match[version]")),
        spec_versions=_spec_versions(q.get("match[spec_version]")),
    )
    cursor = q.get("next")
    _bad_request(decode_cursor, cursor)  # a malformed next is a bad request (TAXII 2.1: 400)
    return filters, _limit(q.get("limit")), cursor


def _check_names(items: list[tuple[str, str]], allowed: tuple[str, ...]) -> None:
    names = [name for name, _ in items]
    unknown = sorted(set(names) - _KNOWN)
    if unknown:
        raise HttpError(
            400, "bad_request", f"unknown query parameter(s): {', '.join(unknown)[:200]}"
        )
    elsewhere = sorted(set(names) - set(allowed))
    if elsewhere:
        raise HttpError(
            400,
            "bad_request",
            f"not a parameter of this endpoint: {', '.join(elsewhere)}; "
            f"it takes {', '.join(allowed)}",
        )
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise HttpError(
            400,
            "bad_request",
            f"{', '.join(twice)}: given more than once (TAXII 2.1 §3.4: each at most once; "
            "give several values comma-separated)",
        )


def _values(raw: str | None, name: str) -> tuple[str, ...]:
    """A match field's comma-separated values (§3.4: an OR), none empty or padded."""
    if raw is None:
        return ()
    values = tuple(raw.split(","))
    for v in values:
        if not v or v != v.strip():
            raise HttpError(
                400,
                "bad_request",
                f"{name}: {raw[:80]!r} has an empty or space-padded value "
                "(values are separated by a comma without spaces)",
            )
    return values


def _versions(raw: str | None) -> tuple[str, ...]:
    """match[version] (§3.4.1): last (the default), first, all, or explicit versions (STIX
    timestamps); none twice, and all alone."""
    versions = _values(raw, "match[version]") or ("last",)
    seen: set[object] = set()
    for v in versions:
        key: object = (
            v if v in VERSION_KEYWORDS else _bad_request(parse_timestamp, v, "match[version]")
        )
        if key in seen:
            raise HttpError(400, "bad_request", f"match[version]: {v[:40]!r} is given twice")
        seen.add(key)
    if "all" in versions and len(versions) > 1:
        raise HttpError(
            400, "bad_request", "match[version]: 'all' is not combined with other versions"
        )
    return versions


def _spec_versions(raw: str | None) -> tuple[str, ...]:
    values = _values(raw, "match[spec_version]")
    for v in values:
        if not _SPEC_VERSION.fullmatch(v):
            raise HttpError(
                400, "bad_request", f"match[spec_version]: {v[:40]!r} is not a version such as 2.1"
            )
    return values


def _limit(raw: str | None) -> int | None:
    if raw is None:
        return None
    if (
        not (raw.isascii() and raw.isdigit())
        or len(raw) > _MAX_LIMIT_DIGITS
        or not 1 <= int(raw) <= MAX_JSON_INTEGER
    ):
        raise HttpError(400, "bad_request", "limit: expected a positive whole number")
    return int(raw)


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
        "media_type": STIX_MEDIA_TYPE,
    }


def build_router(node: Node, workers: Workers, notifier: Notifier) -> APIRouter:
    """The TAXII 2.1 routes; every node call runs on ``workers``, never on the event loop;
    ``notifier`` hears of what a publish stored and queued."""
    router = APIRouter(tags=["TAXII 2.1"], responses=ERRORS)
    config = node.config

    @router.get("/taxii2/", summary="TAXII discovery")
    async def discovery(request: Request) -> Response:
        accepts_taxii(request)
        authenticate(request, config)
        # §4.1.1: an API root is an HTTPS absolute URL or a relative one. A TLS node lists
        # https:// at the host and port the client reached it by; a plain one (loopback tests,
        # the plain demo) a relative URL, never http://
        root = f"/{API_ROOT}/"
        if config.tls is not None:
            root = f"https://{request.url.netloc}{root}"
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
        return json_response(node.find_collection(cid).to_taxii())

    @router.get(f"/{API_ROOT}/collections/{{cid}}/objects/", summary="TAXII get objects")
    async def get_objects(request: Request, cid: str) -> Response:
        accepts_taxii(request)
        user = authenticate(request, config)
        cid = node.find_collection(cid).id
        filters, limit, cursor = _filters(request)

        def objects() -> tuple[bytes, Page]:
            page = node.page(user, cid, filters, limit, cursor)
            register.record_rows(node, user, page.rows, accesses.TAXII)  # before it is served
            return _envelope(page), page

        body, page = await workers.run(objects)
        return Response(
            body,
            media_type="application/taxii+json;version=2.1",
            headers=_page_headers(page),
        )

    @router.post(
        f"/{API_ROOT}/collections/{{cid}}/objects/", summary="TAXII add objects", status_code=202
    )
    async def add_objects(request: Request, cid: str) -> Response:
        accepts_taxii(request)
        user = authenticate(request, config)
        cid = node.find_collection(cid).id
        require_taxii_body(request)
        raw = await read_body(request, config.max_content_length)

        def publish() -> PublishStatus:
            envelope = parse_json(raw, "envelope")
            if not isinstance(envelope, dict) or not isinstance(envelope.get("objects"), list):
                raise HttpError(
                    422, "bad_input", "envelope: expected a JSON object with an 'objects' list"
                )
            return node.publish(user, envelope["objects"], cid)

        status = await workers.run(publish)
        await notifier.committed()
        return json_response(status.to_json(), status=202)

    _add_object_routes(router, node, workers)
    return router


def _add_object_routes(router: APIRouter, node: Node, workers: Workers) -> None:
    """One object's routes (get, versions, delete), the manifest and status."""
    config = node.config

    @router.get(
        f"/{API_ROOT}/collections/{{cid}}/objects/{{object_id}}/", summary="TAXII get an object"
    )
    async def get_object(request: Request, cid: str, object_id: str) -> Response:
        accepts_taxii(request)
        user = authenticate(request, config)
        cid = node.find_collection(cid).id
        filters, limit, cursor = _filters(request, OBJECT_PARAMETERS)
        filters = dataclasses.replace(filters, ids=(object_id,))

        def envelope() -> tuple[bytes, Page]:
            node.versions_of(user, cid, object_id)  # 404 when absent or hidden
            page = node.page(user, cid, filters, limit, cursor)
            register.record_rows(node, user, page.rows, accesses.TAXII)  # before it is served
            return _envelope(page), page

        body, page = await workers.run(envelope)
        return Response(
            body,
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
        cid = node.find_collection(cid).id
        filters, limit, cursor = _filters(request, VERSIONS_PARAMETERS)
        page = await workers.run(node.version_page, user, cid, object_id, filters, limit, cursor)
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
        cid = node.find_collection(cid).id
        _filters(request, DELETE_PARAMETERS)  # match[version], match[spec_version]: checked, moot
        await workers.run(node.delete_object, user, cid, object_id)  # always raises: 404/403

    @router.get(f"/{API_ROOT}/collections/{{cid}}/manifest/", summary="TAXII manifest")
    async def manifest(request: Request, cid: str) -> Response:
        accepts_taxii(request)
        user = authenticate(request, config)
        cid = node.find_collection(cid).id
        filters, limit, cursor = _filters(request)
        page = await workers.run(node.page, user, cid, filters, limit, cursor)
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
        return json_response((await workers.run(node.status, user, status_id)).to_json())
