"""What the node's HTTP API sends: the response models every JSON route declares and renders
through (``render``), and the one error shape with the error answers every route may give.

A rendered result is validated against its model before it is sent — an undeclared field is a
server error, never silently dropped — so the OpenAPI spec says what is really sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, RootModel


class Out(BaseModel):
    """A response model: a rendered result is validated against it before it is sent (an
    undeclared field is an error, not silently dropped), so the spec says what is sent."""

    model_config = ConfigDict(extra="forbid")


class ErrorOut(Out):
    """The one error shape (TAXII 2.1's error message resource)."""

    title: str
    description: str
    error_code: str
    http_status: str


#: The error answers any route may give (the guard's 400/413/415 too, and 429).
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Malformed request"},
    401: {"model": ErrorOut, "description": "Authentication required"},
    403: {"model": ErrorOut, "description": "Not allowed (e.g. not an admin)"},
    404: {"model": ErrorOut, "description": "Not found, or not visible to this user"},
    406: {"model": ErrorOut, "description": "Not an acceptable media type"},
    409: {"model": ErrorOut, "description": "Conflicts with the stored state"},
    413: {"model": ErrorOut, "description": "Request too large"},
    415: {"model": ErrorOut, "description": "Unsupported media type"},
    422: {"model": ErrorOut, "description": "Bad input"},
    429: {"model": ErrorOut, "description": "Too many requests"},
}


def ok(model: Any, status: int = 200) -> dict[int | str, dict[str, Any]]:
    """A route's declared answers: ``model`` on success, the one error shape otherwise."""
    return {status: {"model": model, "description": "OK"}, **ERRORS}


class Renders(Protocol):
    """A value that renders itself as JSON (a use case's result)."""

    def to_json(self) -> Mapping[str, object]: ...


def render(model: type[BaseModel], value: Renders | Mapping[str, object]) -> dict[str, Any]:
    """``value`` as its declared response model sends it: validated against the model (a
    mismatch is a server error, never a silent change), the fields ``value`` has, no others."""
    doc = value if isinstance(value, Mapping) else value.to_json()
    return model.model_validate(doc).model_dump(mode="json", exclude_unset=True)


# ------------------------------------------------------------------ the transparency log
class CosignatureOut(Out):
    witness: str | None = Field(description="The witness's party; null for another key.")
    name: str
    timestamp: int


class CheckpointOut(Out):
    origin: str
    size: int
    root: str
    checkpoint: str = Field(description="The signed note (C2SP tlog-checkpoint).")
    cosignatures: list[CosignatureOut]


class LatestCosignedOut(Out):
    size: int
    root: str
    timestamp: int


class CosignaturesOut(Out):
    latest: CheckpointOut
    cosigned_by: dict[str, LatestCosignedOut]


class InclusionProofOut(Out):
    v: int
    type: Literal["inclusion"]
    origin: str
    index: int
    size: int
    leaf_hash: str
    root: str
    path: list[str]


class ConsistencyProofOut(Out):
    v: int
    type: Literal["consistency"]
    origin: str
    old_size: int
    new_size: int
    path: list[str]


class InclusionOut(Out):
    item: str | None = Field(None, description="With ?item=: the item the entry is about.")
    type: str | None = Field(None, description="With ?item=: the entry's type.")
    entry: str | None = Field(None, description="With ?item=: the entry's bytes.")
    index: int
    proof: InclusionProofOut
    checkpoint: str | None = Field(description="The signed checkpoint proved against, if any.")


class ConsistencyOut(Out):
    proof: ConsistencyProofOut
    checkpoint: str | None


class WitnessedLogOut(Out):
    origin: str
    size: int
    root: str
    checkpoint: str


class WitnessedOut(RootModel[dict[str, WitnessedLogOut | None]]):
    """For each peer, the latest checkpoint of its log co-signed here (null: none yet)."""


class SplitViewOut(Out):
    id: int
    origin: str
    party: str | None
    size: int
    sizes: list[int | None]
    roots: list[str | None]
    first: str
    second: str


class RefusalOut(Out):
    id: int
    origin: str
    party: str | None
    at: str
    size: int | None
    cosigned_size: int
    reason: str
    checkpoint: str | None


class RefusalsOut(Out):
    split_views: list[SplitViewOut]
    refused_origins: list[str]
    refusals: list[RefusalOut]


class PeerCheckpointOut(Out):
    checkpoint: str
    consistency: ConsistencyProofOut | None


class AttachedOut(Out):
    origin: str
    size: int
    added: list[str]


class GossipOut(Out):
    v: int
    witnessed: list[str]
