"""STIX 2.1 objects as gsomia accepts them, and the gsomia label as a STIX marking.

A node validates every object a client posts against the common rules of STIX 2.1 (type, id,
spec_version, timestamps, property names) before anything is sealed or stored: hostile input is
refused with the object named and nothing half-written. Free text is kept as it is; what
displays it must escape it.

The label travels as a ``marking-definition`` carrying the property extension
``GSOMIA_LABEL_EXTENSION`` (an ``extension-definition`` defined below); an object carries it by
``object_marking_refs``. At a recipient, the equivalent label is a second marking of the same
extension with ``equivalent_of`` naming the originator's marking (ADatP-4774's
alternativeConfidentialityLabel): beside the originator's, never in its place.

Every identifier gsomia writes is a version-4 UUID (STIX 2.1 §2.9 recommends them; strict
validators refuse others): the fixed ids of gsomia's own definitions below, the parties'
identities from the scenario, and fresh random ids for the markings a node makes (kept stable
per label by a stored mapping, see ``Node.own_markings``). Every STIX timestamp gsomia writes has
exactly millisecond precision (``format_timestamp``), and a posted ``created``/``modified`` must
have it too: at that one fixed width, string order is instant order, so versions sort as the
instants they are.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gsomia.domain.parties import Marking, Policy
from gsomia.errors import BadInput

STIX_MEDIA_TYPE = "application/stix+json;version=2.1"
#: gsomia itself, the creator of its extension-definitions.
GSOMIA_IDENTITY = "identity--864ed091-bb93-4732-b111-ddcebced4f1b"
#: The gsomia confidentiality label (a property extension of marking-definitions).
GSOMIA_LABEL_EXTENSION = "extension-definition--da87dff4-319e-4b44-9507-f82559c34005"
#: A missile launch as the detecting party reports it (a property extension of reports).
GSOMIA_LAUNCH_EXTENSION = "extension-definition--a7111815-961b-40a1-b381-e965c044ac14"
#: ``created`` and ``modified`` of gsomia's own definitions and of the parties' identities.
DEFINITIONS_CREATED = "2026-12-02T00:00:00.000Z"
LAUNCH_SCHEMA = (
    "https://github.com/gsomia/gsomia/blob/main/src/gsomia/data/launch-extension.schema.json"
)
LABEL_VERSION = 1

_TYPE = re.compile(r"^(x-)?[a-z0-9][a-z0-9-]{1,248}[a-z0-9]$")
_PROPERTY = re.compile(r"^[a-z0-9_]{2,250}$")  # "id" is the one 2-letter name
_ID = re.compile(
    r"^(?P<type>[a-z0-9-]{3,250})--"
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.(?P<fraction>\d{1,9}))?Z$")
_MILLIS = 3  # fractional digits of created/modified, exactly

_MAX_DEPTH = 16
_LABEL_FIELDS = (
    "extension_type",
    "version",
    "policy",
    "originator",
    "classification",
    "releasable_to",
    "topics",
)
OPTIONAL_LABEL_FIELDS = ("purposes", "retain_until", "derived_from")
"""DOMAIN.md §7's label fields: a label may carry them; the domain's Label checks them."""


def extension_definition() -> dict[str, Any]:
    """The ``extension-definition`` of the gsomia label (served in every collection)."""
    return {
        "type": "extension-definition",
        "spec_version": "2.1",
        "id": GSOMIA_LABEL_EXTENSION,
        "created_by_ref": GSOMIA_IDENTITY,
        "created": "2026-11-28T00:00:00.000Z",
        "modified": "2026-11-28T00:00:00.000Z",
        "name": "gsomia confidentiality label",
        "description": (
            "A confidentiality label after ADatP-4774: the originator's national policy, a "
            "classification within it, releasable-to trigraphs and dotted topics; or, with "
            "equivalent_of, a receiving party's equivalent label beside the originator's."
        ),
        "schema": "https://github.com/gsomia/gsomia/blob/main/docs/formats.md#stix-label",
        "version": "1.0.0",
        "extension_types": ["property-extension"],
    }


def launch_extension_definition() -> dict[str, Any]:
    """The ``extension-definition`` of the launch report (served in every collection)."""
    return {
        "type": "extension-definition",
        "spec_version": "2.1",
        "id": GSOMIA_LAUNCH_EXTENSION,
        "created_by_ref": GSOMIA_IDENTITY,
        "created": DEFINITIONS_CREATED,
        "modified": DEFINITIONS_CREATED,
        "name": "gsomia launch report",
        "description": (
            "A missile launch as reported by the detecting party: the missile, its type and "
            "count, the launch facility, bearing, apogee and range, the outcomes, whether the "
            "time of launch is known, and the source of the report."
        ),
        "schema": LAUNCH_SCHEMA,
        "version": "1.0.0",
        "extension_types": ["property-extension"],
    }


def gsomia_identity() -> dict[str, Any]:
    """The ``identity`` of gsomia, the creator of its extension-definitions."""
    return {
        "type": "identity",
        "spec_version": "2.1",
        "id": GSOMIA_IDENTITY,
        "created": DEFINITIONS_CREATED,
        "modified": DEFINITIONS_CREATED,
        "name": "gsomia",
        "identity_class": "organization",
    }


def party_identity(policy: Policy) -> dict[str, Any] | None:
    """The ``identity`` of a party, as its scenario names it (``identity`` of a party); None
    when the scenario gives the party no identity id (then none is served for it, and a report
    cannot name its originator by ``created_by_ref``)."""
    if policy.identity is None:
        return None
    return {
        "type": "identity",
        "spec_version": "2.1",
        "id": policy.identity,
        "created": DEFINITIONS_CREATED,
        "modified": DEFINITIONS_CREATED,
        "name": policy.name,
        "identity_class": "organization",
        "sectors": ["defense"],
    }


def parse_timestamp(value: object, where: str) -> datetime:
    if not isinstance(value, str) or not _TIMESTAMP.match(value):
        raise BadInput(f"{where}: expected a STIX timestamp such as 2019-11-23T00:00:00.000Z")
    try:
        return datetime.fromisoformat(value[:-1][:26]).replace(tzinfo=UTC)
    except ValueError:
        raise BadInput(f"{where}: {value!r} is not a valid date and time") from None


def format_timestamp(value: datetime) -> str:
    """A STIX timestamp as gsomia writes it: UTC, exactly milliseconds, truncated
    (``2019-11-23T00:00:00.000Z``)."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def taxii_timestamp(value: datetime) -> str:
    """A TAXII 2.1 timestamp (§2: UTC, microsecond precision, unlike STIX's milliseconds):
    ``date_added``, the X-TAXII-Date-Added headers, a status's ``request_timestamp``. One fixed
    width (``2019-11-23T00:00:00.000000Z``), so that string order is instant order."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_version_timestamp(value: object, where: str) -> None:
    """Refuse a ``created``/``modified`` without exactly millisecond precision: gsomia keeps
    versions at one fixed width so that they order as the instants they are."""
    match = _TIMESTAMP.match(value) if isinstance(value, str) else None
    fraction = None if match is None else match.group("fraction")
    if match is not None and (fraction is None or len(fraction) != _MILLIS):
        digits = 0 if fraction is None else len(fraction)
        raise BadInput(
            f"{where}: {value!r} has {digits} fractional digit(s); gsomia takes created and "
            "modified at exactly millisecond precision: write three, as in "
            "2019-11-23T00:00:00.000Z"
        )


@dataclass(frozen=True, slots=True)
class StixObject:
    """One validated STIX 2.1 object."""

    id: str
    type: str
    version: str  # ``modified`` (or ``created``) as written; the object's version
    spec_version: str
    marking_refs: tuple[str, ...]
    body: dict[str, Any]

    @property
    def version_instant(self) -> datetime:
        return parse_timestamp(self.version, f"{self.id}: modified")


def validate_object(obj: object, where: str) -> StixObject:
    """Check the common properties of STIX 2.1; raise ``BadInput`` naming the object."""
    if not isinstance(obj, dict):
        raise BadInput(f"{where}: a STIX object must be a JSON object")
    stix_type = obj.get("type")
    if not isinstance(stix_type, str) or not _TYPE.match(stix_type):
        raise BadInput(f"{where}.type: not a STIX type name")
    stix_id = obj.get("id")
    match = _ID.match(stix_id) if isinstance(stix_id, str) else None
    if match is None:
        raise BadInput(f"{where}.id: not a STIX identifier (type--UUID)")
    if match.group("type") != stix_type:
        raise BadInput(f"{where}.id: the identifier's type does not match 'type'")
    where = f"{where} ({stix_id})"
    if obj.get("spec_version") != "2.1":
        raise BadInput(f"{where}.spec_version: gsomia accepts STIX 2.1 objects only")
    _check_properties(obj, where, 0)
    if stix_type in ("marking-definition", "extension-definition", "language-content") or (
        "created" in obj or "modified" in obj
    ):
        created = parse_timestamp(obj.get("created"), f"{where}.created")
        check_version_timestamp(obj.get("created"), f"{where}.created")
        modified_raw = obj.get("modified", obj.get("created"))
        modified = parse_timestamp(modified_raw, f"{where}.modified")
        check_version_timestamp(modified_raw, f"{where}.modified")
        if modified < created:
            raise BadInput(f"{where}.modified: earlier than created")
        version = str(modified_raw)
    else:
        raise BadInput(f"{where}.created: missing (a STIX domain object needs created/modified)")
    refs = obj.get("object_marking_refs", [])
    if not isinstance(refs, list) or not all(
        isinstance(r, str) and r.startswith("marking-definition--") and _ID.match(r) for r in refs
    ):
        raise BadInput(f"{where}.object_marking_refs: expected marking-definition identifiers")
    return StixObject(str(stix_id), stix_type, version, "2.1", tuple(refs), obj)


def _check_properties(value: object, where: str, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise BadInput(f"{where}: nested more than {_MAX_DEPTH} levels deep")
    if isinstance(value, dict):
        for key, inner in value.items():
            if depth == 0 and not _PROPERTY.match(key):
                raise BadInput(f"{where}: {key[:40]!r} is not a STIX property name")
            if depth > 0 and (not isinstance(key, str) or not key or len(key) > 250):
                raise BadInput(f"{where}: a dictionary key is empty or too long")
            _check_properties(inner, f"{where}.{key[:40]}", depth + 1)
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            _check_properties(inner, f"{where}[{i}]", depth + 1)
    elif isinstance(value, float) and value != value:  # noqa: PLR0124 - NaN check
        raise BadInput(f"{where}: NaN is not JSON")


# ---------------------------------------------------------------------- the label marking
@dataclass(frozen=True, slots=True)
class LabelMarking:
    """A gsomia label read from a marking-definition."""

    marking_id: str
    policy: str
    originator: str
    classification: str
    releasable_to: tuple[str, ...]
    topics: tuple[str, ...]
    extra: Mapping[str, Any] = field(default_factory=dict)  # purposes, retain_until, derived_from

    def label_document(self, item_id: str) -> dict[str, Any]:
        return {
            "id": item_id,
            "originator": self.originator,
            "classification": self.classification,
            "releasable_to": list(self.releasable_to),
            "topics": list(self.topics),
            **self.extra,
        }


def read_label_marking(obj: StixObject, where: str) -> LabelMarking | None:
    """The gsomia label of a marking-definition, or None if it carries no gsomia label."""
    if obj.type != "marking-definition":
        return None
    extensions = obj.body.get("extensions")
    if not isinstance(extensions, dict) or GSOMIA_LABEL_EXTENSION not in extensions:
        return None
    ext = extensions[GSOMIA_LABEL_EXTENSION]
    where = f"{where}.extensions.{GSOMIA_LABEL_EXTENSION}"
    if not isinstance(ext, dict):
        raise BadInput(f"{where}: expected an object")
    if "equivalent_of" in ext:
        raise BadInput(f"{where}: an equivalent label is added by the receiving node, not posted")
    missing = [f for f in _LABEL_FIELDS if f not in ext]
    if missing:
        raise BadInput(f"{where}: missing {', '.join(missing)}")
    unknown = sorted(set(ext) - set(_LABEL_FIELDS) - set(OPTIONAL_LABEL_FIELDS))
    if unknown:
        raise BadInput(f"{where}: unknown field(s) {', '.join(unknown)}")
    if ext["extension_type"] != "property-extension" or ext["version"] != LABEL_VERSION:
        raise BadInput(f"{where}: expected extension_type property-extension, version 1")
    strings = {k: ext[k] for k in ("policy", "originator", "classification")}
    for key, value in strings.items():
        if not isinstance(value, str) or not value:
            raise BadInput(f"{where}.{key}: expected a non-empty string")
    for key in ("releasable_to", "topics"):
        value = ext[key]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise BadInput(f"{where}.{key}: expected a list of strings")
    return LabelMarking(
        obj.id,
        ext["policy"],
        ext["originator"],
        ext["classification"],
        tuple(ext["releasable_to"]),
        tuple(ext["topics"]),
        {k: ext[k] for k in OPTIONAL_LABEL_FIELDS if k in ext},
    )


def label_marking(
    *,
    policy: str,
    originator: str,
    classification: str,
    releasable_to: tuple[str, ...],
    topics: tuple[str, ...],
    created: str,
    marking_id: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A marking-definition carrying a gsomia label (what a client posts beside its objects),
    under ``marking_id`` or a fresh random (version-4) id; ``extra``: the label's optional
    fields (purposes, retain_until, derived_from) as they are written in JSON."""
    ext: dict[str, Any] = {
        "extension_type": "property-extension",
        "version": LABEL_VERSION,
        "policy": policy,
        "originator": originator,
        "classification": classification,
        "releasable_to": list(releasable_to),
        "topics": list(topics),
        **(extra or {}),
    }
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": marking_id or new_marking_id(),
        "created": created,
        "name": f"{originator} {classification} REL TO {', '.join(releasable_to) or 'none'}",
        "extensions": {GSOMIA_LABEL_EXTENSION: ext},
    }


def new_marking_id() -> str:
    return f"marking-definition--{uuid.uuid4()}"


def equivalent_marking(
    original_marking_id: str, marking: Marking, created: str, marking_id: str
) -> dict[str, Any]:
    """The receiving party's equivalent label, beside the originator's (never replacing it)."""
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": marking_id,
        "created": created,
        "name": f"{marking.party} {marking.level} ({marking.native}), "
        f"originator {marking.originator}",
        "extensions": {
            GSOMIA_LABEL_EXTENSION: {
                "extension_type": "property-extension",
                "version": LABEL_VERSION,
                "equivalent_of": original_marking_id,
                "party": marking.party,
                "level": marking.level,
                "native": marking.native,
                "equivalence": marking.equivalence.value,
                "originator": marking.originator,
            }
        },
    }
