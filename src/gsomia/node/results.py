"""What the node's use cases return: frozen values, one per answer, each with its ``to_json``.

The native API, the peer protocol and the console render these; none of them is a dict that a
use case changes in place. Consent requests and loss reports are also kept, as JSON, in the
store's ``node_documents``: a stored body is parsed into its value where a use case reads it
(``ConsentRequest.from_json``, ``Report.from_json``), and a change is a new value
(``dataclasses.replace``) written back whole. A stored body that does not parse is a
``StoreFailure`` naming the document and the field: the store is this node's own, so a bad body
is damage, not bad input.

Frozen dataclasses rather than pydantic models: the node layer holds values (STYLE.md §8) and
does not depend on the web framework's validation; the API declares its wire models (pydantic,
in ``gsomia.api.native``) and validates each ``to_json()`` against them, so the OpenAPI spec
describes exactly what is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from gsomia.domain.access import AccessDecision
from gsomia.domain.parties import Marking
from gsomia.domain.release import Decision
from gsomia.errors import StoreFailure
from gsomia.seal.views import NoticeView, VerifiedItem

Box = Literal["outbox", "inbox"]
RequestStatus = Literal["pending", "granted", "refused"]


# ------------------------------------------------------------------ parsing stored bodies
def _text(doc: Mapping[str, Any], key: str, where: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str):
        raise StoreFailure(f"{where}.{key}: expected a string in the stored document")
    return value


def _optional_text(doc: Mapping[str, Any], key: str, where: str) -> str | None:
    return None if doc.get(key) is None else _text(doc, key, where)


def _object(doc: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any] | None:
    value = doc.get(key)
    if value is not None and not isinstance(value, dict):
        raise StoreFailure(f"{where}.{key}: expected an object in the stored document")
    return value


# ------------------------------------------------------------------ deliveries
@dataclass(frozen=True, slots=True)
class Delivery:
    """How a peer message about a document fared: queued, delivered (with the peer's answer)
    or rejected for good (with the reason)."""

    state: Literal["queued", "delivered", "rejected"]
    at: str
    detail: str | None = None
    answer: Mapping[str, str] | None = None

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"state": self.state, "at": self.at}
        if self.detail is not None:
            out["detail"] = self.detail
        if self.answer is not None:
            out["answer"] = dict(self.answer)
        return out

    @classmethod
    def queued(cls, at: str) -> Delivery:
        return cls("queued", at)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any] | None, where: str) -> Delivery | None:
        if doc is None:
            return None
        state = _text(doc, "state", where)
        if state not in ("queued", "delivered", "rejected"):
            raise StoreFailure(f"{where}.state: {state[:40]!r} is not a delivery state")
        answer = _object(doc, "answer", where)
        return cls(
            state,  # type: ignore[arg-type]  # checked just above
            _text(doc, "at", where),
            _optional_text(doc, "detail", where),
            None if answer is None else {str(k): str(v) for k, v in answer.items()},
        )


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """The originator's acknowledgement of receipt of a loss report."""

    at: str
    by: str

    def to_json(self) -> dict[str, str]:
        return {"at": self.at, "by": self.by}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any] | None, where: str) -> Acknowledgement | None:
        if doc is None:
            return None
        return cls(_text(doc, "at", where), _text(doc, "by", where))


# ------------------------------------------------------------------ requests
def _answer_json(request: ConsentRequest | PurposeRequest) -> dict[str, object]:
    """A request's asking and answer, as both kinds of request render them (in this order)."""
    return {
        "requested_at": request.requested_at,
        "status": request.status,
        "answered_at": request.answered_at,
        "expires_at": request.expires_at,
        "reason": request.reason,
    }


_STATUSES: dict[str, RequestStatus] = {
    "pending": "pending",
    "granted": "granted",
    "refused": "refused",
}


def _request_status(doc: Mapping[str, Any], where: str) -> RequestStatus:
    """A stored request's status, one of the three."""
    status = _text(doc, "status", where)
    if status not in _STATUSES:
        raise StoreFailure(f"{where}.status: {status[:40]!r} is not a request status")
    return _STATUSES[status]


# ------------------------------------------------------------------ consents
@dataclass(frozen=True, slots=True)
class ConsentRequest:
    """A consent request as one box keeps it: the holder's ``outbox`` (it asked) or the
    originator's ``inbox`` (it was asked). Each box shows its own fields: the outbox who asked
    and the onward release; the inbox when it arrived, that the holder was known, who answered.
    """

    box: Box
    id: str
    item: str
    originator: str
    holder: str
    recipient: str
    requested_at: str
    status: RequestStatus
    answered_at: str | None = None
    expires_at: str | None = None
    reason: str | None = None
    requested_by: str | None = None
    release: str | None = None
    received_at: str | None = None
    holder_known: bool | None = None
    answered_by: str | None = None
    delivery: Delivery | None = None
    source: str | None = None  # a derived item's source, whose originator is asked (§7.6)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "id": self.id,
            "item": self.item,
            "source": self.source,
            "originator": self.originator,
            "holder": self.holder,
            "recipient": self.recipient,
            **_answer_json(self),
        }
        if self.box == "outbox":
            out.update(requested_by=self.requested_by, release=self.release)
        else:
            out.update(
                received_at=self.received_at,
                holder_known=self.holder_known,
                answered_by=self.answered_by,
            )
        if self.delivery is not None:
            out["delivery"] = self.delivery.to_json()
        return out

    @classmethod
    def from_json(cls, box: Box, doc: Mapping[str, Any], where: str) -> ConsentRequest:
        status = _request_status(doc, where)
        known = doc.get("holder_known")
        if known is not None and not isinstance(known, bool):
            raise StoreFailure(f"{where}.holder_known: expected true or false")
        return cls(
            box,
            _text(doc, "id", where),
            _text(doc, "item", where),
            _text(doc, "originator", where),
            _text(doc, "holder", where),
            _text(doc, "recipient", where),
            _text(doc, "requested_at", where),
            status,
            answered_at=_optional_text(doc, "answered_at", where),
            expires_at=_optional_text(doc, "expires_at", where),
            reason=_optional_text(doc, "reason", where),
            requested_by=_optional_text(doc, "requested_by", where),
            release=_optional_text(doc, "release", where),
            received_at=_optional_text(doc, "received_at", where),
            holder_known=known,
            answered_by=_optional_text(doc, "answered_by", where),
            delivery=Delivery.from_json(_object(doc, "delivery", where), f"{where}.delivery"),
            source=_optional_text(doc, "source", where),
        )


@dataclass(frozen=True, slots=True)
class ConsentReceipt:
    """A node's answer to a peer's request or answer (a consent, a purpose approval): what it
    did with it."""

    request: str
    status: str
    result: Literal["stored", "duplicate"]
    release: str | None = None
    received_at: str | None = None

    def to_json(self) -> dict[str, str]:
        out = {"request": self.request, "status": self.status, "result": self.result}
        if self.release is not None:
            out["release"] = self.release
        if self.received_at is not None:
            out["received_at"] = self.received_at
        return out


# ------------------------------------------------------------------ purposes (DOMAIN.md §7.2)
@dataclass(frozen=True, slots=True)
class PurposeRequest:
    """A request to use an item for another purpose, as one box keeps it: the holder's
    ``outbox`` (it asked) or the originator's ``inbox`` (it was asked). Its round trip is a
    consent's (the same messages outbox, the same receiver's checks); a grant carries the
    originator's signed ``purpose.approval`` statement."""

    box: Box
    id: str
    item: str
    originator: str
    holder: str
    purpose: str
    requested_at: str
    status: RequestStatus
    answered_at: str | None = None
    expires_at: str | None = None
    reason: str | None = None
    requested_by: str | None = None
    received_at: str | None = None
    answered_by: str | None = None
    delivery: Delivery | None = None

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "id": self.id,
            "item": self.item,
            "originator": self.originator,
            "holder": self.holder,
            "purpose": self.purpose,
            **_answer_json(self),
        }
        if self.box == "outbox":
            out["requested_by"] = self.requested_by
        else:
            out.update(received_at=self.received_at, answered_by=self.answered_by)
        if self.delivery is not None:
            out["delivery"] = self.delivery.to_json()
        return out

    @classmethod
    def from_json(cls, box: Box, doc: Mapping[str, Any], where: str) -> PurposeRequest:
        status = _request_status(doc, where)
        return cls(
            box,
            _text(doc, "id", where),
            _text(doc, "item", where),
            _text(doc, "originator", where),
            _text(doc, "holder", where),
            _text(doc, "purpose", where),
            _text(doc, "requested_at", where),
            status,
            answered_at=_optional_text(doc, "answered_at", where),
            expires_at=_optional_text(doc, "expires_at", where),
            reason=_optional_text(doc, "reason", where),
            requested_by=_optional_text(doc, "requested_by", where),
            received_at=_optional_text(doc, "received_at", where),
            answered_by=_optional_text(doc, "answered_by", where),
            delivery=Delivery.from_json(_object(doc, "delivery", where), f"{where}.delivery"),
        )


@dataclass(frozen=True, slots=True)
class UseDecision:
    """Whether a user may read an item's content here, and why not in plain words."""

    item: str
    user: str
    user_purposes: tuple[str, ...]
    decision: AccessDecision
    standing: bool
    notes: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "item": self.item,
            "user": self.user,
            "user_purposes": list(self.user_purposes),
            **self.decision.to_json(),
            "standing_consent": self.standing,
            "notes": list(self.notes),
        }


# ------------------------------------------------------------------ loss reports
@dataclass(frozen=True, slots=True)
class Report:
    """A loss or compromise report: as sent (who reported it, its delivery) or as received
    (when it arrived); the acknowledgement once the originator gave it."""

    id: str
    item: str
    originator: str
    reporter: str
    kind: str
    detail: str
    reported_at: str
    acknowledgement: Acknowledgement | None = None
    reported_by: str | None = None
    received_at: str | None = None
    delivery: Delivery | None = None

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "id": self.id,
            "item": self.item,
            "originator": self.originator,
            "reporter": self.reporter,
            "kind": self.kind,
            "detail": self.detail,
            "reported_at": self.reported_at,
            "acknowledgement": (
                None if self.acknowledgement is None else self.acknowledgement.to_json()
            ),
        }
        if self.reported_by is not None:
            out["reported_by"] = self.reported_by
        if self.received_at is not None:
            out["received_at"] = self.received_at
        if self.delivery is not None:
            out["delivery"] = self.delivery.to_json()
        return out

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], where: str) -> Report:
        ack = _object(doc, "acknowledgement", where)
        return cls(
            _text(doc, "id", where),
            _text(doc, "item", where),
            _text(doc, "originator", where),
            _text(doc, "reporter", where),
            _text(doc, "kind", where),
            _text(doc, "detail", where),
            _text(doc, "reported_at", where),
            acknowledgement=Acknowledgement.from_json(ack, f"{where}.acknowledgement"),
            reported_by=_optional_text(doc, "reported_by", where),
            received_at=_optional_text(doc, "received_at", where),
            delivery=Delivery.from_json(_object(doc, "delivery", where), f"{where}.delivery"),
        )


@dataclass(frozen=True, slots=True)
class Reports:
    """The reports a node sent and those it received, about items a user may see."""

    sent: tuple[Report, ...]
    received: tuple[Report, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "sent": [r.to_json() for r in self.sent],
            "received": [r.to_json() for r in self.received],
        }


@dataclass(frozen=True, slots=True)
class ReportReceipt:
    """The originator's acknowledgement of receipt, as it answers the reporter's node."""

    report: str
    acknowledged_at: str
    by: str

    def to_json(self) -> dict[str, str]:
        return {"report": self.report, "acknowledged_at": self.acknowledged_at, "by": self.by}


# ------------------------------------------------------------------ classification notices
@dataclass(frozen=True, slots=True)
class Notice:
    """A classification change made by the originator, and the parties notified of it."""

    item: str
    classification: str
    at: str
    notified: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "item": self.item,
            "classification": self.classification,
            "at": self.at,
            "notified": list(self.notified),
        }


@dataclass(frozen=True, slots=True)
class NoticeReceipt:
    """A holder's answer to a classification notice: applied, or already applied."""

    item: str
    result: Literal["applied", "duplicate"]
    classification: str | None = None

    def to_json(self) -> dict[str, str]:
        out = {"item": self.item, "result": self.result}
        if self.classification is not None:
            out["classification"] = self.classification
        return out


# ------------------------------------------------------------------ items
@dataclass(frozen=True, slots=True)
class WhyNot:
    """The decision of releasing an item to a party, with every rule's result."""

    decision: Decision
    already_holds: bool

    def to_json(self) -> dict[str, object]:
        return {
            **self.decision.to_json(),
            "already_holds": self.already_holds,
            "rules": [check.to_json() for check in self.decision.explain()],
        }


@dataclass(frozen=True, slots=True)
class ItemDetails:
    """A held item as verified, with the originator's latest notice (which may have reached
    this node on the originator's copy), the current class, and this node's marking."""

    verified: VerifiedItem
    notices: tuple[NoticeView, ...]
    held_by: str
    received_from: str | None
    marking: Marking

    @property
    def classification(self) -> str:
        return self.notices[-1].classification if self.notices else self.verified.classification

    def to_json(self) -> dict[str, Any]:
        releases = self.verified.releases
        return {
            **self.verified.to_json(),
            "notices": [n.to_json() for n in self.notices],
            "classification": self.classification,
            "consents": [r.consent.to_json() for r in releases if r.consent is not None],
            "held_by": self.held_by,
            "received_from": self.received_from,
            "marking": self.marking.to_json(),
        }


# ------------------------------------------------------------------ the transparency log
@dataclass(frozen=True, slots=True)
class CosignatureSeen:
    """A verified co-signature on a checkpoint: the witness's party (None for a key outside
    the federation), its key name, its timestamp."""

    witness: str | None
    name: str
    timestamp: int

    def to_json(self) -> dict[str, object]:
        return {"witness": self.witness, "name": self.name, "timestamp": self.timestamp}


@dataclass(frozen=True, slots=True)
class CheckpointDocument:
    """One of the node's signed checkpoints, with its verified co-signatures."""

    origin: str
    size: int
    root: str
    checkpoint: str
    cosignatures: tuple[CosignatureSeen, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "origin": self.origin,
            "size": self.size,
            "root": self.root,
            "checkpoint": self.checkpoint,
            "cosignatures": [c.to_json() for c in self.cosignatures],
        }


@dataclass(frozen=True, slots=True)
class LatestCosigned:
    """The largest of the node's recent checkpoints a witness co-signed."""

    size: int
    root: str
    timestamp: int

    def to_json(self) -> dict[str, object]:
        return {"size": self.size, "root": self.root, "timestamp": self.timestamp}


@dataclass(frozen=True, slots=True)
class Cosignatures:
    """The latest checkpoint and, for each witness, the latest it co-signed."""

    latest: CheckpointDocument
    cosigned_by: Mapping[str, LatestCosigned]

    def to_json(self) -> dict[str, object]:
        return {
            "latest": self.latest.to_json(),
            "cosigned_by": {p: c.to_json() for p, c in self.cosigned_by.items()},
        }


@dataclass(frozen=True, slots=True)
class Inclusion:
    """An inclusion proof of a log entry, against a signed checkpoint (its note) when one of
    that size was signed; for an item, the entry's type and bytes too."""

    index: int
    proof: Mapping[str, Any]
    checkpoint: str | None
    item: str | None = None
    type: str | None = None
    entry: str | None = None

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {}
        if self.item is not None:
            out.update(item=self.item, type=self.type, entry=self.entry)
        out.update(index=self.index, proof=dict(self.proof), checkpoint=self.checkpoint)
        return out


@dataclass(frozen=True, slots=True)
class Consistency:
    """A consistency proof, against a signed checkpoint (its note) when one was signed."""

    proof: Mapping[str, Any]
    checkpoint: str | None

    def to_json(self) -> dict[str, object]:
        return {"proof": dict(self.proof), "checkpoint": self.checkpoint}


@dataclass(frozen=True, slots=True)
class PeerCheckpoint:
    """For a witness: the latest checkpoint, and a consistency proof to it from the size the
    witness co-signed (None when that size is beyond it)."""

    checkpoint: str
    consistency: Mapping[str, Any] | None

    def to_json(self) -> dict[str, object]:
        proof = None if self.consistency is None else dict(self.consistency)
        return {"checkpoint": self.checkpoint, "consistency": proof}


@dataclass(frozen=True, slots=True)
class Attached:
    """The co-signatures a peer brought back, attached to one of the node's checkpoints."""

    origin: str
    size: int
    added: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {"origin": self.origin, "size": self.size, "added": list(self.added)}


@dataclass(frozen=True, slots=True)
class WitnessedLog:
    """The latest checkpoint of a peer's log that this node co-signed."""

    origin: str
    size: int
    root: str
    checkpoint: str

    def to_json(self) -> dict[str, object]:
        return {
            "origin": self.origin,
            "size": self.size,
            "root": self.root,
            "checkpoint": self.checkpoint,
        }


@dataclass(frozen=True, slots=True)
class Witnessed:
    """For each peer, the latest checkpoint of its log this node co-signed (None: none)."""

    by_peer: Mapping[str, WitnessedLog | None]

    def to_json(self) -> dict[str, object]:
        return {p: None if w is None else w.to_json() for p, w in self.by_peer.items()}


@dataclass(frozen=True, slots=True)
class GossipDocument:
    """For a peer: the latest checkpoint of each log this node co-signed (signed notes)."""

    version: int
    witnessed: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {"v": self.version, "witnessed": list(self.witnessed)}


@dataclass(frozen=True, slots=True)
class SplitViewFound:
    """A split view found by gossip or by an unproved consistency: the origin, the size (and
    for an unproved consistency, both sizes), who showed it, and the evidence kept."""

    origin: str
    size: int
    reported_by: str
    evidence: int | None = None
    sizes: tuple[int, int] | None = None

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"origin": self.origin, "size": self.size}
        if self.sizes is not None:
            out["sizes"] = list(self.sizes)
        out["reported_by"] = self.reported_by
        if self.evidence is not None:
            out["evidence"] = self.evidence
        return out


@dataclass(frozen=True, slots=True)
class SplitViewRecord:
    """Two signed checkpoints of one log that cannot both be honest, kept as evidence."""

    id: int
    origin: str
    party: str | None
    size: int
    sizes: tuple[int | None, int | None]
    roots: tuple[str | None, str | None]
    first: str
    second: str

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "origin": self.origin,
            "party": self.party,
            "size": self.size,
            "sizes": list(self.sizes),
            "roots": list(self.roots),
            "first": self.first,
            "second": self.second,
        }


@dataclass(frozen=True, slots=True)
class Refusal:
    """A refusal to co-sign a peer's checkpoint, and why."""

    id: int
    origin: str
    party: str | None
    at: str
    size: int | None
    cosigned_size: int
    reason: str
    checkpoint: str | None

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "origin": self.origin,
            "party": self.party,
            "at": self.at,
            "size": self.size,
            "cosigned_size": self.cosigned_size,
            "reason": self.reason,
            "checkpoint": self.checkpoint,
        }


@dataclass(frozen=True, slots=True)
class Refusals:
    """Split views, the origins no longer co-signed for them, and every refusal to co-sign."""

    split_views: tuple[SplitViewRecord, ...]
    refused_origins: tuple[str, ...]
    refusals: tuple[Refusal, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "split_views": [v.to_json() for v in self.split_views],
            "refused_origins": list(self.refused_origins),
            "refusals": [r.to_json() for r in self.refusals],
        }


# ------------------------------------------------------------------ publishing
@dataclass(frozen=True, slots=True)
class Stored:
    """One object of a publish, stored: its id, its version, what was done with it."""

    id: str
    version: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "version": self.version, "message": self.message}


@dataclass(frozen=True, slots=True)
class PublishStatus:
    """A publish's outcome as a TAXII 2.1 status resource: complete, every object stored (a
    publish is all or nothing, so there are never failures or pendings to report)."""

    id: str
    request_timestamp: str
    successes: tuple[Stored, ...]

    def to_json(self) -> dict[str, object]:
        """The status resource; its lists omitted when empty, as TAXII 2.1 (4.3.1) has it,
        the counts always present."""
        body: dict[str, object] = {
            "id": self.id,
            "status": "complete",
            "request_timestamp": self.request_timestamp,
            "total_count": len(self.successes),
            "success_count": len(self.successes),
            "failure_count": 0,
            "pending_count": 0,
        }
        if self.successes:
            body["successes"] = [s.to_json() for s in self.successes]
        return body

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], where: str) -> PublishStatus:
        successes = doc.get("successes", [])  # omitted when empty
        if not isinstance(successes, list) or not all(isinstance(s, dict) for s in successes):
            raise StoreFailure(f"{where}.successes: expected a list of objects")
        return cls(
            _text(doc, "id", where),
            _text(doc, "request_timestamp", where),
            tuple(
                Stored(
                    _text(s, "id", f"{where}.successes[{n}]"),
                    _text(s, "version", f"{where}.successes[{n}]"),
                    _text(s, "message", f"{where}.successes[{n}]"),
                )
                for n, s in enumerate(successes)
            ),
        )


# ------------------------------------------------------------------ diplomatic notes
NoteDirection = Literal["sent", "received"]


@dataclass(frozen=True, slots=True)
class HeldReceipt:
    """A party's signed receipt of a note this node sent: when it received the note, its state
    digest of the agreement then (hex), and the receipt itself (base64, the proof)."""

    at: str
    state: str
    receipt: str

    def to_json(self) -> dict[str, str]:
        return {"at": self.at, "state": self.state, "receipt": self.receipt}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], where: str) -> HeldReceipt:
        return cls(
            _text(doc, "at", where), _text(doc, "state", where), _text(doc, "receipt", where)
        )


@dataclass(frozen=True, slots=True)
class HeldNote:
    """A diplomatic note this node holds: given here (``sent``, by ``given_by``, with each
    recipient's delivery and receipt) or received from its party (``received``, at
    ``received_at``, with the delivery of this node's receipt back). ``digest`` (hex) is the
    signed note's identity; ``state`` (hex) the state digest its party computed with it."""

    id: str
    agreement: str
    event: str
    party: str
    at: str
    text: str
    direction: NoteDirection
    digest: str
    state: str
    given_by: str | None = None
    received_at: str | None = None
    receipts: Mapping[str, HeldReceipt] | None = None
    delivery: Mapping[str, Delivery] | None = None
    # sent: when (wall time) it was last delivered again to a party that had lost it
    resent: Mapping[str, str] | None = None

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "id": self.id,
            "agreement": self.agreement,
            "event": self.event,
            "party": self.party,
            "at": self.at,
            "text": self.text,
            "direction": self.direction,
            "digest": self.digest,
            "state": self.state,
            "receipts": {p: r.to_json() for p, r in sorted((self.receipts or {}).items())},
            "delivery": {p: d.to_json() for p, d in sorted((self.delivery or {}).items())},
        }
        if self.given_by is not None:
            out["given_by"] = self.given_by
        if self.received_at is not None:
            out["received_at"] = self.received_at
        if self.resent:
            out["resent"] = dict(sorted(self.resent.items()))
        return out

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], where: str) -> HeldNote:
        direction = _text(doc, "direction", where)
        if direction not in ("sent", "received"):
            raise StoreFailure(f"{where}.direction: {direction[:40]!r} is not a direction")
        receipts = _object(doc, "receipts", where) or {}
        delivery = _object(doc, "delivery", where) or {}
        deliveries: dict[str, Delivery] = {}
        for party, d in delivery.items():
            found = Delivery.from_json(d, f"{where}.delivery.{party}")
            if found is not None:
                deliveries[str(party)] = found
        return cls(
            id=_text(doc, "id", where),
            agreement=_text(doc, "agreement", where),
            event=_text(doc, "event", where),
            party=_text(doc, "party", where),
            at=_text(doc, "at", where),
            text=_text(doc, "text", where),
            direction=direction,  # type: ignore[arg-type]  # checked just above
            digest=_text(doc, "digest", where),
            state=_text(doc, "state", where),
            given_by=_optional_text(doc, "given_by", where),
            received_at=_optional_text(doc, "received_at", where),
            receipts={
                str(p): HeldReceipt.from_json(r, f"{where}.receipts.{p}")
                for p, r in receipts.items()
            },
            delivery=deliveries,
            resent={
                str(p): _text({"at": at}, "at", f"{where}.resent.{p}")
                for p, at in (_object(doc, "resent", where) or {}).items()
            },
        )


@dataclass(frozen=True, slots=True)
class NoteReceipt:
    """A receiving node's answer to a note: stored (its signed receipt queued back) or held
    already (a duplicate); when it received the note."""

    note: str
    result: Literal["stored", "duplicate"]
    received_at: str

    def to_json(self) -> dict[str, str]:
        return {"note": self.note, "result": self.result, "received_at": self.received_at}


@dataclass(frozen=True, slots=True)
class ReceiptAck:
    """A note's sender's answer to the receipt of it: stored, or held already."""

    note: str
    result: Literal["stored", "duplicate"]

    def to_json(self) -> dict[str, str]:
        return {"note": self.note, "result": self.result}


@dataclass(frozen=True, slots=True)
class Consequence:
    """What an act on an agreement would bring about, in plain words, before it is given."""

    agreement: str
    event: str
    party: str
    at: str
    end: str | None  # the agreement's end with the act (None: no end known)
    words: str

    def to_json(self) -> dict[str, object]:
        return {
            "agreement": self.agreement,
            "event": self.event,
            "party": self.party,
            "at": self.at,
            "end": self.end,
            "words": self.words,
        }
