"""The node's transparency log over HTTP, and co-signing the peers' logs on a schedule.

For the node's users (``/native/v1/log/...``): the latest checkpoint (a C2SP signed note, as
``text/plain`` or inside JSON), signing one now (admin), inclusion proofs (of an item's entry,
or by index), consistency proofs, the peers' co-signatures, the peers' checkpoints this node
co-signed, and the split views and other refusals it recorded. Proofs use the ledger's JSON
encodings (``gsomia.ledger.proofs``).

For peers (signed requests, like ``/peer/v1/releases``): ``GET /peer/v1/log/checkpoint?from=N``
returns the latest checkpoint with a consistency proof from size N; ``POST
/peer/v1/log/cosignature`` brings a co-signature back, which is attached to the stored
checkpoint; ``GET /peer/v1/log/witnessed`` returns the latest checkpoint of each log this node
co-signed, so that witnesses compare what they co-signed and catch a split view; ``GET
/peer/v1/log/consistency?old=A&new=B`` proves two of the node's checkpoints consistent, for a
witness that learnt of a checkpoint of another size than the one it co-signed. ``Cosigner`` runs
that exchange with one peer; the node's schedules (``gsomia.app.runtime``) ask for it every
``cosign_interval`` seconds, and they are the only thing that signs the node's checkpoints,
besides an admin's explicit request: a read never signs.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from gsomia.api.http import (
    JSON_MEDIA_TYPE,
    HttpError,
    authenticate,
    json_response,
    parse_json,
    read_body,
)
from gsomia.api.models import (
    ERRORS,
    AttachedOut,
    CheckpointOut,
    ConsistencyOut,
    CosignaturesOut,
    GossipOut,
    InclusionOut,
    PeerCheckpointOut,
    RefusalsOut,
    WitnessedOut,
    ok,
    render,
)
from gsomia.api.peer import WALL, signed_target, verified_sender
from gsomia.domain.access import Role
from gsomia.errors import Denied, GsomiaError
from gsomia.ledger.entries import ENTRY_TYPES
from gsomia.node import federation, witnessing
from gsomia.node.config import Peer, User
from gsomia.node.service import Node
from gsomia.node.workers import Workers

log = logging.getLogger("gsomia.log")

PEER_CHECKPOINT_PATH = "/peer/v1/log/checkpoint"
PEER_COSIGNATURE_PATH = "/peer/v1/log/cosignature"
PEER_WITNESSED_PATH = "/peer/v1/log/witnessed"
PEER_CONSISTENCY_PATH = "/peer/v1/log/consistency"
#: Answers of an origin to a consistency proof asked for that say it will not or cannot give
#: one (split-view evidence); any other failure (network, 401, 403, 429, 5xx) is retried.
REFUSING_STATUSES = frozenset({400, 404, 409, 410, 422})
#: Pairs of checkpoints proved consistent, remembered so that they are not asked for again.
MAX_PROVED = 4096
MAX_GOSSIP_BYTES = 1024 * 1024
MAX_COSIGNATURE_BYTES = 64 * 1024
_MAX_SIZE = 2**63 - 1


def request_target(method: str, target: str) -> bytes:
    """What a signed request without a body signs: its method and target (path and query)."""
    return f"{method} {target}".encode()


def _json(body: Any) -> Response:
    return json_response(body, media_type=JSON_MEDIA_TYPE)


def _count(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or int(raw) > _MAX_SIZE:
        raise HttpError(400, "bad_request", f"{name}: expected a non-negative whole number")
    return int(raw)


def _only(request: Request, allowed: set[str]) -> None:
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise HttpError(
            400, "bad_request", f"unknown query parameter(s): {', '.join(unknown)[:200]}"
        )


def _admin(user: User, action: str) -> None:
    if user.role is not Role.ADMIN:
        log.warning("refused: user=%s action=%s reason=not an admin", user.name, action)
        raise Denied(f"{action}: only an admin may do this")


def _wants_json(request: Request) -> bool:
    if request.query_params.get("format") == "json":
        return True
    return any(
        part.split(";")[0].strip().lower() == JSON_MEDIA_TYPE
        for part in request.headers.get("accept", "").split(",")
    )


def build_log_router(node: Node, workers: Workers) -> APIRouter:
    """The log's routes; every node call runs on ``workers``, never on the event loop."""
    router = APIRouter(tags=["transparency log"])
    _user_routes(router, node, workers)
    _peer_routes(router, node, workers)
    return router


def _user_routes(router: APIRouter, node: Node, workers: Workers) -> None:
    """The log as the node's users read it (``/native/v1/log/...``)."""
    config = node.config
    note_or_json = {
        200: {
            "model": CheckpointOut,
            "description": "The signed note, or with JSON asked for, the checkpoint document",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        **ERRORS,
    }

    @router.get(
        "/native/v1/log/checkpoint",
        summary="The latest checkpoint of this node's log (signed note; JSON on request)",
        responses=note_or_json,
    )
    async def checkpoint(request: Request) -> Response:
        authenticate(request, config)
        _only(request, {"size", "format"})
        size = _count(request, "size")
        stored = await (
            workers.run(witnessing.latest_checkpoint, node)
            if size is None
            else workers.run(witnessing.checkpoint_at, node, size)
        )
        if _wants_json(request):
            document = await workers.run(witnessing.checkpoint_document, node, stored)
            return _json(render(CheckpointOut, document))
        return Response(stored.note, media_type="text/plain; charset=utf-8")

    @router.post(
        "/native/v1/log/checkpoint",
        summary="Sign a checkpoint of the log now (admin)",
        responses=ok(CheckpointOut),
    )
    async def sign(request: Request) -> Response:
        user = authenticate(request, config)
        _admin(user, "sign a checkpoint")
        stored = await workers.run(witnessing.sign_checkpoint, node)
        document = await workers.run(witnessing.checkpoint_document, node, stored)
        return _json(render(CheckpointOut, document))

    @router.get(
        "/native/v1/log/proof/inclusion",
        summary="Inclusion proof: of an item's log entry (?item=) or of an entry (?index=)",
        responses=ok(InclusionOut),
    )
    async def inclusion(request: Request) -> Response:
        user = authenticate(request, config)
        _only(request, {"item", "type", "index", "size"})
        q = request.query_params
        item, index, size = q.get("item"), _count(request, "index"), _count(request, "size")
        kind = q.get("type")
        if (item is None) == (index is None):
            raise HttpError(400, "bad_request", "give exactly one of item=ITEM_ID or index=N")
        if kind is not None and (item is None or kind not in ENTRY_TYPES):
            raise HttpError(
                400, "bad_request", f"type: one of {', '.join(ENTRY_TYPES)}, with item="
            )
        if item is not None:
            found = await workers.run(
                witnessing.item_inclusion, node, user, item, kind=kind, size=size
            )
        else:
            found = await workers.run(witnessing.inclusion, node, index or 0, size)
        return _json(render(InclusionOut, found))

    @router.get(
        "/native/v1/log/proof/consistency",
        summary="Consistency proof from size ?old= to ?new= (default: the latest checkpoint)",
        responses=ok(ConsistencyOut),
    )
    async def consistency(request: Request) -> Response:
        authenticate(request, config)
        _only(request, {"old", "new"})
        old = _count(request, "old")
        if old is None:
            raise HttpError(400, "bad_request", "old: required (a tree size)")
        proof = await workers.run(witnessing.consistency, node, old, _count(request, "new"))
        return _json(render(ConsistencyOut, proof))

    @router.get(
        "/native/v1/log/cosignatures",
        summary="The peers' co-signatures on the latest checkpoint, and the latest each made",
        responses=ok(CosignaturesOut),
    )
    async def cosignatures(request: Request) -> Response:
        authenticate(request, config)
        found = await workers.run(witnessing.latest_cosignatures, node)
        return _json(render(CosignaturesOut, found))

    @router.get(
        "/native/v1/log/witnessed",
        summary="The latest checkpoint of each peer's log that this node co-signed",
        responses=ok(WitnessedOut),
    )
    async def witnessed(request: Request) -> Response:
        authenticate(request, config)
        return _json(render(WitnessedOut, await workers.run(witnessing.witnessed, node)))

    @router.get(
        "/native/v1/log/split-views",
        summary="Split views and other peer checkpoints this node refused to co-sign",
        responses=ok(RefusalsOut),
    )
    async def split_views(request: Request) -> Response:
        authenticate(request, config)
        return _json(render(RefusalsOut, await workers.run(witnessing.refusals, node)))


def _peer_routes(router: APIRouter, node: Node, workers: Workers) -> None:
    """The log as peers (witnesses) use it: signed requests."""

    def _peer(request: Request, signed: bytes) -> str:
        return verified_sender(node, request, signed)

    def _peer_get(request: Request) -> str:
        """A signed GET: its signed body is the method and target (``request_target``)."""
        return _peer(request, request_target("GET", signed_target(request)))

    @router.get(
        PEER_CHECKPOINT_PATH,
        summary="A peer asks for the latest checkpoint (signed)",
        responses=ok(PeerCheckpointOut),
    )
    async def peer_checkpoint(request: Request) -> Response:
        _peer_get(request)
        _only(request, {"from"})
        from_size = _count(request, "from")
        found = await workers.run(witnessing.for_peer, node, from_size or 0)
        return _json(render(PeerCheckpointOut, found))

    @router.get(
        PEER_CONSISTENCY_PATH,
        summary="A witness asks for a consistency proof between two sizes (signed)",
        responses=ok(ConsistencyOut),
    )
    async def peer_consistency(request: Request) -> Response:
        _peer_get(request)
        _only(request, {"old", "new"})
        old, new = _count(request, "old"), _count(request, "new")
        if old is None or new is None:
            raise HttpError(400, "bad_request", "old and new: both required (tree sizes)")
        proof = await workers.run(witnessing.consistency, node, old, new)
        return _json(render(ConsistencyOut, proof))

    @router.post(
        PEER_COSIGNATURE_PATH,
        summary="A peer brings its co-signature back (signed)",
        responses=ok(AttachedOut),
    )
    async def peer_cosignature(request: Request) -> Response:
        body = await read_body(request, MAX_COSIGNATURE_BYTES)
        sender = _peer(request, body)
        doc = parse_json(body, "co-signature")
        note = doc.get("checkpoint") if isinstance(doc, dict) else None
        if not isinstance(note, str):
            raise HttpError(422, "bad_input", 'co-signature: expected {"checkpoint": NOTE}')
        attached = await workers.run(witnessing.attach, node, sender, note.encode())
        return _json(render(AttachedOut, attached))

    @router.get(
        PEER_WITNESSED_PATH,
        summary="A peer asks for the latest checkpoint of each log this node co-signed (signed)",
        responses=ok(GossipOut),
    )
    async def peer_witnessed(request: Request) -> Response:
        _peer_get(request)
        _only(request, set())
        return _json(render(GossipOut, await workers.run(witnessing.gossip_document, node)))


class Cosigner:
    """One co-signing exchange with a peer (``exchange``): co-sign its checkpoint, compare what
    it co-signed with what this node co-signed, and ask an origin for a consistency proof where
    they differ. The node's schedules enqueue one ``witness-P`` job per peer every
    ``cosign_interval`` seconds; the outbound drainer runs it here. Failures are logged (refusals
    also stored); the next round tries again."""

    def __init__(self, node: Node, client: httpx.AsyncClient) -> None:
        self.node = node
        self.client = client
        self._proved: set[tuple[str, int, int, bytes]] = set()

    async def exchange(self, peer: Peer) -> None:
        await self.witness(peer)
        asked: dict[str, witnessing.Wanted] = {}  # at most one proof asked of each origin
        for wanted in await self.gossip(peer):
            if wanted.key not in self._proved and wanted.party not in asked:
                asked[wanted.party] = wanted
        await asyncio.gather(*(self.prove(w) for w in asked.values()))

    async def gossip(self, peer: Peer) -> list[witnessing.Wanted]:
        """Fetch what the peer co-signed and compare it with what this node co-signed; a split
        view is kept as evidence. Returns the consistency proofs to ask for (checkpoints of
        other sizes). Failures are logged; the next round retries."""
        node = self.node
        headers = federation.sign_request(
            node,
            peer.party,
            request_target("GET", PEER_WITNESSED_PATH),
            WALL.now(),
            method="GET",
            target=PEER_WITNESSED_PATH,
        )
        try:
            response = await self.client.get(peer.url + PEER_WITNESSED_PATH, headers=headers)
        except httpx.HTTPError as exc:
            log.info("gossip: %s unreachable (%s)", peer.party, type(exc).__name__)
            return []
        if response.status_code != 200 or len(response.content) > MAX_GOSSIP_BYTES:
            log.warning("gossip: %s answered %s", peer.party, response.status_code)
            return []
        try:
            doc = orjson.loads(response.content)
            gossip = await asyncio.to_thread(
                witnessing.check_gossip, node, peer.party, doc, WALL.now()
            )
        except (orjson.JSONDecodeError, GsomiaError) as exc:
            log.warning("gossip: what %s co-signed: %s", peer.party, exc)
            return []
        for view in gossip.found:
            log.warning("gossip: split view of %s at size %s", view.origin, view.size)
        return gossip.wanted

    async def prove(self, wanted: witnessing.Wanted) -> None:
        """Ask the origin for a consistency proof between a checkpoint co-signed here and one
        of another size co-signed by another witness, and judge it. A refusal or a proof that
        does not verify is kept as split-view evidence; an unreachable origin is asked again
        in a later round."""
        node, p = self.node, wanted.proof
        peer = next((q for q in node.config.peers if q.party == wanted.party), None)
        if peer is None:
            return
        target = f"{PEER_CONSISTENCY_PATH}?old={p.old_size}&new={p.new_size}"
        headers = federation.sign_request(
            node, peer.party, request_target("GET", target), WALL.now(), method="GET", target=target
        )
        try:
            response = await self.client.get(peer.url + target, headers=headers)
        except httpx.HTTPError as exc:
            log.info("consistency: %s unreachable (%s)", peer.party, type(exc).__name__)
            return
        refused: str | None = None
        answer: Any = None
        if response.status_code in REFUSING_STATUSES:
            refused = f"it refused the proof ({response.status_code}: {response.text[:300]})"
        elif response.status_code != 200 or len(response.content) > MAX_GOSSIP_BYTES:
            log.warning("consistency: %s answered %s", peer.party, response.status_code)
            return
        else:
            try:
                answer = orjson.loads(response.content)
            except orjson.JSONDecodeError:
                answer = None
        try:
            view = await asyncio.to_thread(
                witnessing.judge_proof, node, wanted, answer, refused=refused, now=WALL.now()
            )
        except GsomiaError as exc:
            log.warning("consistency: the proof of %s: %s", peer.party, exc)
            return
        if view is None:
            if len(self._proved) >= MAX_PROVED:
                self._proved.clear()
            self._proved.add(wanted.key)
            return
        log.warning("consistency: split view of %s at sizes %s", view.origin, view.sizes)

    async def witness(self, peer: Peer) -> None:
        """Fetch the peer's checkpoint, co-sign it if it extends what was co-signed, send the
        co-signature back. Failures are logged (refusals also stored); the next round retries."""
        node = self.node
        last = await asyncio.to_thread(witnessing.last_cosigned, node, peer.party)
        target = f"{PEER_CHECKPOINT_PATH}?from={0 if last is None else last.size}"
        headers = federation.sign_request(
            node, peer.party, request_target("GET", target), WALL.now(), method="GET", target=target
        )
        try:
            response = await self.client.get(peer.url + target, headers=headers)
        except httpx.HTTPError as exc:
            log.info("co-signing: %s unreachable (%s)", peer.party, type(exc).__name__)
            return
        if response.status_code != 200:
            if response.status_code != 404:  # 404: no checkpoint yet
                log.warning("co-signing: %s answered %s", peer.party, response.status_code)
            return
        try:
            doc = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            doc = None
        try:
            cosigned = await asyncio.to_thread(
                witnessing.cosign_peer, node, peer.party, doc, WALL.now()
            )
        except GsomiaError as exc:
            log.warning("co-signing: refused the checkpoint of %s: %s", peer.party, exc)
            return
        if cosigned is None:
            return
        body = orjson.dumps({"checkpoint": cosigned.decode()})
        headers = federation.sign_request(
            node, peer.party, body, WALL.now(), method="POST", target=PEER_COSIGNATURE_PATH
        )
        headers["Content-Type"] = JSON_MEDIA_TYPE
        try:
            response = await self.client.post(
                peer.url + PEER_COSIGNATURE_PATH, content=body, headers=headers
            )
        except httpx.HTTPError as exc:
            log.info("co-signing: %s unreachable (%s)", peer.party, type(exc).__name__)
            return
        if response.status_code != 200:
            log.warning(
                "co-signing: %s refused the co-signature: %s %s",
                peer.party,
                response.status_code,
                response.text[:300],
            )
