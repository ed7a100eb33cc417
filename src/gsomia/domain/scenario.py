"""Scenarios: the parties, agreements and events of a world, as data (DOMAIN.md §4).

``parse_scenario`` turns a decoded document (from TOML) into a ``Scenario``; every error names
the source, the key and what is wrong. ``Scenario.to_document`` is its exact inverse, so a
scenario round-trips losslessly. Reading files is the loader's job (``gsomia.scenarios``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from gsomia.domain import purposes as purposes_
from gsomia.domain.agreements import (
    FIRST_YEAR,
    LAST_YEAR,
    MAX_TERM_YEARS,
    Agreement,
    AgreementEvent,
    EventKind,
)
from gsomia.domain.instants import format_instant, parse_instant
from gsomia.domain.parties import Equivalence, Level, PartyCode, Policy
from gsomia.domain.topics import all_within, parse_topic
from gsomia.errors import BadInput

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

FORMAT_VERSION = 1

# Bounds on what a scenario may hold, checked before anything else reads it. They keep parsing
# and evaluating a scenario (its timeline, charted up to a year past LAST_YEAR) cheap; every
# built-in scenario is far inside them. The years (FIRST_YEAR..LAST_YEAR) are in agreements.py.
MAX_NESTING = 6  # tables and arrays within one another, the document itself counted (needs 5)
MAX_INTEGER = 2**53 - 1  # what every format a scenario travels in carries exactly
MAX_PARTIES = 32
MAX_AGREEMENTS = 32
MAX_EVENTS = 256
MAX_LEVELS = 16  # per party
MAX_LIST = 64  # parties of an agreement, classes, topics in a scope or a standing consent
MAX_NOTICE_DAYS = 3653  # ten years
#: An agreement's id, as a checkpoint's extension line and a note carry it.
AGREEMENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
#: A party's STIX identity: ``identity--`` and a version-4 UUID, lower case.
IDENTITY_ID = re.compile(
    r"^identity--[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
)


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    policies: Mapping[str, Policy]
    agreements: tuple[Agreement, ...]
    description: str = ""
    source: str = ""
    purposes: tuple[str, ...] = purposes_.BUILTIN
    _by_id: Mapping[str, Agreement] = field(init=False, repr=False, compare=False)
    _cache: dict[Any, Any] = field(init=False, repr=False, compare=False)
    _boundaries: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", MappingProxyType({a.id: a for a in self.agreements}))
        object.__setattr__(self, "_cache", {})
        instants = {a.start.timestamp() for a in self.agreements} | {
            a.end.timestamp() for a in self.agreements if a.end is not None
        }
        object.__setattr__(self, "_boundaries", tuple(sorted(instants)))

    def decision_cache(self) -> tuple[dict[Any, Any], tuple[float, ...]]:
        """A memo for the release engine, and the instants at which any agreement starts or
        ends (between two of them, which agreements are in force does not change)."""
        return self._cache, self._boundaries

    def policy(self, party: str, *, where: str = "") -> Policy:
        try:
            return self.policies[party]
        except (KeyError, TypeError):
            known = ", ".join(sorted(self.policies))
            prefix = f"{where}: " if where else ""
            raise BadInput(
                f"{prefix}unknown party {party!r} in scenario {self.name!r} (known: {known})"
            ) from None

    def agreement(self, agreement_id: str) -> Agreement:
        try:
            return self._by_id[agreement_id]
        except KeyError:
            known = ", ".join(a.id for a in self.agreements)
            raise BadInput(
                f"unknown agreement {agreement_id!r} in scenario {self.name!r} (known: {known})"
            ) from None

    def events(self) -> tuple[AgreementEvent, ...]:
        return tuple(
            sorted((e for a in self.agreements for e in a.events), key=lambda e: (e.at, e.id))
        )

    def standing_consent(
        self, topics: tuple[str, ...], *, among: Iterable[str], at: datetime
    ) -> str | None:
        """The id of an arrangement in force at ``at`` whose parties include all of ``among``
        and which gives standing consent for every one of ``topics``; None if there is none."""
        wanted = set(among)
        for agreement in self.agreements:
            if (
                agreement.standing_consent
                and wanted <= agreement.parties
                and agreement.in_force(at)
                and all_within(topics, agreement.standing_consent)
            ):
                return agreement.id
        return None

    # ------------------------------------------------------------------ round trip
    def to_document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "format": FORMAT_VERSION,
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "source": self.source,
            "parties": [_policy_doc(p) for p in self.policies.values()],
            "agreements": [_agreement_doc(a) for a in self.agreements],
            "events": [_event_doc(e) for e in self.events()],
        }
        if self.purposes != purposes_.BUILTIN:
            doc["purposes"] = list(self.purposes)
        return doc


def _policy_doc(p: Policy) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "code": p.party,
        "name": p.name,
        "policy": p.policy_id,
        "source": p.source,
        "levels": [
            {"id": lv.id, "native": lv.native, "class": lv.equivalence.value} for lv in p.levels
        ],
        "defaults": {eq.value: lid for eq, lid in p.defaults.items()},
    }
    if p.identity is not None:
        doc["identity"] = p.identity
    return doc


def _agreement_doc(a: Agreement) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": a.id,
        "title": a.title,
        "parties": sorted(a.parties),
        "start": format_instant(a.start),
        "classes": [eq.value for eq in Equivalence if eq in a.classes],
        "notice_days": a.notice_days,
        "standing_consent": list(a.standing_consent),
        "binding": a.binding,
        "source": a.source,
        "notes": a.notes,
    }
    if a.scope is not None:
        doc["scope"] = list(a.scope)
    if a.hub is not None:
        doc["hub"] = a.hub
    if a.term_years is not None:
        doc["term_years"] = a.term_years
    return doc


def _event_doc(e: AgreementEvent) -> dict[str, Any]:
    return {
        "id": e.id,
        "at": format_instant(e.at),
        "agreement": e.agreement,
        "kind": e.kind.value,
        "party": e.party,
        "source": e.source,
        "note": e.note,
    }


# ---------------------------------------------------------------------- deriving
OVERLAY_KEYS = ("extends", "drop_events", "drop_agreements")


def merge_documents(
    base: Mapping[str, Any], overlay: Mapping[str, Any], source: str
) -> dict[str, Any]:
    """Apply a scenario that ``extends`` another to its base document.

    The overlay's name, title, description and source replace the base's; its parties, agreements
    and events are added (one with the id of a base entry replaces that entry); ``drop_events`` and
    ``drop_agreements`` remove entries by id (an agreement's events go with it).
    """
    allowed = {
        "format",
        "name",
        "title",
        "description",
        "source",
        "purposes",
        "parties",
        "agreements",
    }
    unknown = sorted(set(overlay) - allowed - {"events", *OVERLAY_KEYS})
    if unknown:
        raise BadInput(f"{source}: unknown key(s) {', '.join(repr(k) for k in unknown)}")
    merged: dict[str, Any] = {k: v for k, v in base.items() if k not in OVERLAY_KEYS}
    for key in ("format", "name", "title", "description", "source", "purposes"):
        if key in overlay:
            merged[key] = overlay[key]
    drops = {key: _drop_ids(overlay, key, source) for key in ("drop_events", "drop_agreements")}
    for key, id_key, at_most in (
        ("parties", "code", MAX_PARTIES),
        ("agreements", "id", MAX_AGREEMENTS),
        ("events", "id", MAX_EVENTS),
    ):
        entries = _entries(base.get(key, []), f"{source}.extends: {key}", at_most)
        for entry in _entries(overlay.get(key, []), f"{source}.{key}", at_most):
            entries = [e for e in entries if e.get(id_key) != entry.get(id_key)] + [entry]
        merged[key] = entries
    for drop_key, key in (("drop_events", "events"), ("drop_agreements", "agreements")):
        merged[key] = _dropped(merged[key], drops[drop_key], f"{source}.{drop_key}", key)
    gone = drops["drop_agreements"]
    merged["events"] = [e for e in merged["events"] if _ref(e, "agreement") not in gone]
    return merged


def _drop_ids(overlay: Mapping[str, Any], key: str, source: str) -> set[str]:
    value = overlay.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadInput(f"{source}.{key}: expected a list of ids")
    return set(value)


def _dropped(
    entries: list[dict[str, Any]], ids: set[str], where: str, key: str
) -> list[dict[str, Any]]:
    """``entries`` without those whose id is in ``ids``; every id must name one of them."""
    present = {_ref(e, "id") for e in entries}
    for missing in sorted(ids - present):
        raise BadInput(f"{where}: no {key[:-1]} {missing!r} in the base scenario")
    return [e for e in entries if _ref(e, "id") not in ids]


def _entries(value: object, where: str, at_most: int) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise BadInput(f"{where}: expected an array of tables")
    if len(value) > at_most:
        raise BadInput(f"{where}: {len(value)} entries; a scenario may have at most {at_most}")
    for i, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise BadInput(f"{where}[{i}]: expected a table")
    return list(value)


def _ref(entry: Mapping[str, Any], key: str) -> str | None:
    """An entry's id (or the agreement it names) if it is text; parsing names any other value."""
    value = entry.get(key)
    return value if isinstance(value, str) else None


# ---------------------------------------------------------------------- bounds
def check_document(document: object, source: str) -> None:
    """Refuse a decoded document that nests tables and arrays deeper than ``MAX_NESTING`` or
    holds an integer beyond ``MAX_INTEGER``; the error names the key. Iterative, so that no
    document can exhaust the stack."""
    stack: list[tuple[object, str, int]] = [(document, source, 1)]
    while stack:
        value, where, depth = stack.pop()
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            if abs(value) > MAX_INTEGER:
                raise BadInput(
                    f"{where}: an integer of {value.bit_length()} bits; a scenario's integers "
                    f"are at most {MAX_INTEGER} in magnitude"
                )
        elif isinstance(value, dict | list):
            if depth > MAX_NESTING:
                raise BadInput(f"{where}: tables and arrays nest deeper than {MAX_NESTING} levels")
            children = (
                ((f"{where}.{str(k)[:40]}", v) for k, v in value.items())
                if isinstance(value, dict)
                else ((f"{where}[{i}]", v) for i, v in enumerate(value))
            )
            stack.extend((v, w, depth + 1) for w, v in children)


# ---------------------------------------------------------------------- parsing
class _Doc:
    """A view of one table of the document that knows where it is, for error messages."""

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, dict):
            raise BadInput(f"{where}: expected a table")
        self.data: dict[str, Any] = data
        self.where = where
        self.used: set[str] = set()

    def _get(self, key: str, *, required: bool) -> Any:
        self.used.add(key)
        if key not in self.data:
            if required:
                raise BadInput(f"{self.where}: missing key '{key}'")
            return None
        return self.data[key]

    def text(self, key: str, *, required: bool = True, default: str = "") -> str:
        value = self._get(key, required=required)
        if value is None:
            return default
        if not isinstance(value, str) or (required and not value.strip()):
            raise BadInput(f"{self.where}.{key}: expected a non-empty string")
        return value

    def integer(self, key: str, *, maximum: int, default: int | None = None) -> int | None:
        value = self._get(key, required=False)
        if value is None:
            return default
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= maximum:
            raise BadInput(f"{self.where}.{key}: expected a whole number from 1 to {maximum}")
        return value

    def flag(self, key: str, *, default: bool) -> bool:
        value = self._get(key, required=False)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise BadInput(f"{self.where}.{key}: expected true or false")
        return value

    def instant(self, key: str) -> datetime:
        value = self._get(key, required=True)
        where = f"{self.where}.{key}"
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise BadInput(f"{where}: {value.isoformat()} has no UTC offset")
        elif isinstance(value, (date, time)):
            raise BadInput(f"{where}: expected a date-time with a UTC offset, got {value}")
        else:
            value = parse_instant(value, where)
        if not FIRST_YEAR <= value.year <= LAST_YEAR:
            raise BadInput(
                f"{where}: {format_instant(value)} is outside the years a scenario may cover "
                f"({FIRST_YEAR}..{LAST_YEAR})"
            )
        return value

    def texts(self, key: str, *, required: bool = False) -> list[str] | None:
        value = self._get(key, required=required)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise BadInput(f"{self.where}.{key}: expected a list of strings")
        if len(value) > MAX_LIST:
            raise BadInput(f"{self.where}.{key}: {len(value)} entries; at most {MAX_LIST}")
        return value

    def tables(self, key: str, *, at_most: int, required: bool = False) -> list[_Doc]:
        value = self._get(key, required=required)
        if value is None:
            return []
        if not isinstance(value, list):
            raise BadInput(f"{self.where}.{key}: expected an array of tables")
        if len(value) > at_most:
            raise BadInput(
                f"{self.where}.{key}: {len(value)} entries; a scenario may have at most {at_most}"
            )
        return [_Doc(v, f"{self.where}.{key}[{i}]") for i, v in enumerate(value)]

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise BadInput(f"{self.where}: unknown key(s) {', '.join(repr(k) for k in unknown)}")


def parse_scenario(document: Mapping[str, Any], source: str) -> Scenario:
    """Build a Scenario from a decoded document; errors name ``source`` and the key. The
    document is first held to the bounds above (nesting, integers, how many of each)."""
    check_document(document, source)
    root = _Doc(dict(document), source)
    version = root.integer("format", maximum=MAX_INTEGER)
    if version != FORMAT_VERSION:
        raise BadInput(f"{source}.format: expected {FORMAT_VERSION}, got {version}")
    name = root.text("name")
    title = root.text("title", required=False, default=name)
    description = root.text("description", required=False)
    scenario_source = root.text("source", required=False)
    vocabulary = _parse_vocabulary(root)

    policies = _parse_parties(root)

    raw_agreements = [
        (t, _parse_agreement_fields(t, policies))
        for t in root.tables("agreements", at_most=MAX_AGREEMENTS)
    ]
    events_by_agreement: dict[str, list[AgreementEvent]] = {
        fields["id"]: [] for _, fields in raw_agreements
    }
    seen_events: set[str] = set()
    for table in root.tables("events", at_most=MAX_EVENTS):
        event = _parse_event(table, policies)
        if event.agreement not in events_by_agreement:
            raise BadInput(f"{table.where}.agreement: unknown agreement {event.agreement!r}")
        if event.id in seen_events:
            raise BadInput(f"{table.where}.id: event {event.id!r} is defined twice")
        seen_events.add(event.id)
        events_by_agreement[event.agreement].append(event)

    agreements: list[Agreement] = []
    seen: set[str] = set()
    for table, fields in raw_agreements:
        if fields["id"] in seen:
            raise BadInput(f"{table.where}.id: agreement {fields['id']!r} is defined twice")
        seen.add(fields["id"])
        agreement = Agreement(**fields, events=tuple(events_by_agreement[fields["id"]]))
        for event in agreement.events:
            if event.party not in agreement.parties:
                raise BadInput(
                    f"{source}: event {event.id!r}: {event.party} is not a party to {agreement.id}"
                )
            if agreement.term_years is None and event.kind is EventKind.NOTICE:
                raise BadInput(
                    f"{source}: event {event.id!r}: {agreement.id} has no term, so this model "
                    "cannot end it by notice"
                )
        agreements.append(agreement)
    root.finish()
    return Scenario(
        name=name,
        title=title,
        policies=MappingProxyType(policies),
        agreements=tuple(agreements),
        description=description,
        source=scenario_source,
        purposes=vocabulary,
    )


def _parse_vocabulary(root: _Doc) -> tuple[str, ...]:
    """The scenario's purposes (DOMAIN.md §7.1): dotted tokens, each one's parent listed too;
    the built-in vocabulary when the scenario gives none."""
    listed = root.texts("purposes")
    if listed is None:
        return purposes_.BUILTIN
    where = f"{root.where}.purposes"
    if not listed or len(listed) > MAX_LIST:
        raise BadInput(f"{where}: expected 1 to {MAX_LIST} purposes")
    found = [parse_topic(p, f"{where}[{i}]") for i, p in enumerate(listed)]
    if len(set(found)) != len(found):
        raise BadInput(f"{where}: a purpose is listed twice")
    for i, purpose in enumerate(found):
        parent = purpose.rpartition(".")[0]
        if parent and parent not in found:
            raise BadInput(f"{where}[{i}]: {purpose!r} lies within {parent!r}, which is not listed")
    return tuple(found)


def _parse_parties(root: _Doc) -> dict[str, Policy]:
    policies: dict[str, Policy] = {}
    identities: set[str] = set()
    for table in root.tables("parties", at_most=MAX_PARTIES, required=True):
        policy = _parse_policy(table)
        if policy.party in policies:
            raise BadInput(f"{table.where}.code: party {policy.party!r} is defined twice")
        if policy.identity in identities:
            raise BadInput(
                f"{table.where}.identity: party {policy.party}'s identity {policy.identity} "
                "is another party's"
            )
        if policy.identity is not None:
            identities.add(policy.identity)
        policies[policy.party] = policy
    return policies


def _parse_policy(t: _Doc) -> Policy:
    code = t.text("code")
    if len(code) != 3 or not code.isalpha() or not code.isupper():
        raise BadInput(f"{t.where}.code: {code!r} is not an ISO 3166-1 alpha-3 trigraph")
    name = t.text("name")
    policy_id = t.text("policy")
    source = t.text("source", required=False)
    identity = t.text("identity", required=False) or None
    if identity is not None and not IDENTITY_ID.match(identity):
        raise BadInput(
            f"{t.where}.identity: party {code}'s identity {identity[:80]!r} is not a STIX "
            "identity id with a version-4 UUID (identity--xxxxxxxx-xxxx-4xxx-[89ab]xxx-"
            "xxxxxxxxxxxx, lower case)"
        )
    levels: list[Level] = []
    for lt in t.tables("levels", at_most=MAX_LEVELS, required=True):
        level = Level(
            lt.text("id"),
            lt.text("native"),
            Equivalence.parse(lt.text("class"), f"{lt.where}.class"),
        )
        lt.finish()
        levels.append(level)
    if not levels:
        raise BadInput(f"{t.where}.levels: a policy needs at least one level")
    ids = [lv.id for lv in levels]
    natives = [lv.native for lv in levels]
    if len(set(ids)) != len(ids) or len(set(natives)) != len(natives):
        raise BadInput(f"{t.where}.levels: level ids and native names must each be unique")
    defaults_raw = t._get("defaults", required=True)  # noqa: SLF001 - same module
    where = f"{t.where}.defaults"
    if not isinstance(defaults_raw, dict):
        raise BadInput(f"{where}: expected a table of class = level id")
    defaults: dict[Equivalence, str] = {}
    for key, value in defaults_raw.items():
        eq = Equivalence.parse(key, f"{where}")
        if not isinstance(value, str):
            raise BadInput(f"{where}.{key!r}: expected a level id")
        defaults[eq] = value
    for eq in {lv.equivalence for lv in levels}:
        if eq not in defaults:
            raise BadInput(f"{where}: no default level for class {eq.value!r}")
    t.finish()
    try:
        return Policy(
            PartyCode(code),
            name,
            policy_id,
            tuple(levels),
            MappingProxyType(defaults),
            source,
            identity,
        )
    except BadInput as exc:
        raise BadInput(f"{where}: {exc}") from None


def _parse_agreement_fields(t: _Doc, policies: Mapping[str, Policy]) -> dict[str, Any]:
    agreement_id = t.text("id")
    if not AGREEMENT_ID.fullmatch(agreement_id):
        raise BadInput(
            f"{t.where}.id: {agreement_id[:60]!r} is not an agreement id (a letter or digit, "
            "then up to 127 letters, digits and ._:- ; it travels in checkpoints and notes)"
        )
    parties_list = t.texts("parties", required=True) or []
    if len(set(parties_list)) < 2:
        raise BadInput(f"{t.where}.parties: an agreement needs at least two distinct parties")
    for i, p in enumerate(parties_list):
        if p not in policies:
            raise BadInput(f"{t.where}.parties[{i}]: unknown party {p!r}")
    classes_list = t.texts("classes", required=True) or []
    if not classes_list:
        raise BadInput(f"{t.where}.classes: an agreement must cover at least one class")
    classes = frozenset(
        Equivalence.parse(c, f"{t.where}.classes[{i}]") for i, c in enumerate(classes_list)
    )
    scope_list = t.texts("scope")
    scope = (
        None
        if scope_list is None
        else tuple(parse_topic(s, f"{t.where}.scope[{i}]") for i, s in enumerate(scope_list))
    )
    if scope is not None and not scope:
        raise BadInput(f"{t.where}.scope: an empty scope covers nothing; omit the key for 'any'")
    hub = t.text("hub", required=False) or None
    if hub is not None and hub not in parties_list:
        raise BadInput(f"{t.where}.hub: {hub!r} is not a party to the agreement")
    standing = t.texts("standing_consent") or []
    fields: dict[str, Any] = {
        "id": agreement_id,
        "title": t.text("title", required=False, default=agreement_id),
        "parties": frozenset(parties_list),
        "start": t.instant("start"),
        "classes": classes,
        "scope": scope,
        "hub": hub,
        "term_years": t.integer("term_years", maximum=MAX_TERM_YEARS),
        "notice_days": t.integer("notice_days", maximum=MAX_NOTICE_DAYS, default=90),
        "standing_consent": tuple(
            parse_topic(s, f"{t.where}.standing_consent[{i}]") for i, s in enumerate(standing)
        ),
        "binding": t.flag("binding", default=True),
        "source": t.text("source", required=False),
        "notes": t.text("notes", required=False),
    }
    t.finish()
    return fields


def _parse_event(t: _Doc, policies: Mapping[str, Policy]) -> AgreementEvent:
    kind_text = t.text("kind")
    try:
        kind = EventKind(kind_text)
    except ValueError:
        known = ", ".join(k.value for k in EventKind)
        raise BadInput(
            f"{t.where}.kind: unknown event kind {kind_text!r} (known: {known})"
        ) from None
    party = t.text("party")
    if party not in policies:
        raise BadInput(f"{t.where}.party: unknown party {party!r}")
    event = AgreementEvent(
        id=t.text("id"),
        at=t.instant("at"),
        agreement=t.text("agreement"),
        kind=kind,
        party=party,
        source=t.text("source", required=False),
        note=t.text("note", required=False),
    )
    t.finish()
    return event
