"""Log entries: a canonical, versioned JSON encoding with a closed schema per entry type.

An entry is a JSON object with sorted keys, no insignificant whitespace, UTF-8, integers only
for ``v``. Every entry carries ``v`` (the encoding version, 1), ``type``, ``at`` (an ISO 8601
time with its UTC offset) and ``party`` (the party whose node records it). Each type adds its
own fields; an unknown or missing field is bad input naming the field. Set-valued fields
(``releasable_to``, ``topics``, ``agreements``) are sorted, so that equal entries have equal
bytes; ``reasons`` keep their order. ``docs/formats.md`` lists the fields of every type.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import orjson

from gsomia.errors import BadInput

ENTRY_VERSION = 1
MAX_ENTRY_BYTES = 64 * 1024
MAX_TEXT_CHARS = 4096
MAX_LIST_ITEMS = 256

_PARTY = re.compile(r"[A-Z]{3}")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}")
_TOPIC = re.compile(r"[a-z0-9][a-z0-9_-]*(?:\.[a-z0-9][a-z0-9_-]*)*")
_TOKEN = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_CANONICAL_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.(\d{6}))?[+-]\d\d:\d\d")
_HEX_DIGITS = frozenset("0123456789abcdef")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

Check = Callable[[Any], Any]


class _Invalid(Exception):
    """A field failed its check; ``suffix`` locates an item inside it (e.g. ``[2]``)."""

    def __init__(self, message: str, suffix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.suffix = suffix


def _matcher(pattern: re.Pattern[str], what: str) -> Check:
    fullmatch = pattern.fullmatch

    def check(value: Any) -> str:
        if type(value) is not str or fullmatch(value) is None:
            raise _Invalid(f"expected {what}, got {value!r}")
        return value

    return check


_party = _matcher(_PARTY, "a party trigraph such as 'KOR'")
_ident = _matcher(_ID, "an id (letters, digits and . _ : / -, at most 200)")
_token = _matcher(_TOKEN, "a lower-case token")


def _digest(value: Any) -> str:
    if type(value) is not str or len(value) != 64 or not _HEX_DIGITS.issuperset(value):
        raise _Invalid(f"expected 64 lower-case hex digits (SHA-256), got {value!r}")
    return value


_topic = _matcher(_TOPIC, "a dotted topic such as 'dprk.missile'")


def _count(value: Any) -> int:
    if type(value) is not int or value < 1:
        raise _Invalid(f"expected a whole number of at least 1, got {value!r}")
    return value


def _instant(value: Any) -> str:
    if type(value) is not str:
        raise _Invalid(f"expected an ISO 8601 time string, got {value!r}")
    canonical = _CANONICAL_TIME.fullmatch(value)
    if canonical is not None and canonical.group(1) != "000000" and value[-6:] != "-00:00":
        # Already in the canonical form: parse only to check the date and time exist.
        try:
            datetime.fromisoformat(value)
        except ValueError as exc:
            raise _Invalid(f"{value!r} is not an ISO 8601 time") from exc
        return value
    raw = value[:-1] + "+00:00" if value.endswith("Z") else value
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise _Invalid(f"{value!r} is not an ISO 8601 time") from exc
    if parsed.tzinfo is None:
        raise _Invalid(f"{value!r} has no UTC offset (write e.g. +09:00)")
    timespec = "microseconds" if parsed.microsecond else "seconds"
    return parsed.isoformat(timespec=timespec)


def _text(value: Any) -> str:
    if type(value) is not str or not value.strip():
        raise _Invalid(f"expected non-empty text, got {value!r}")
    if len(value) > MAX_TEXT_CHARS:
        raise _Invalid(f"longer than {MAX_TEXT_CHARS} characters")
    if _CONTROL.search(value):
        raise _Invalid("contains a control character")
    return value


def _base64(value: Any) -> str:
    if type(value) is not str or not value:
        raise _Invalid(f"expected base64 text, got {value!r}")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _Invalid("not standard base64") from exc
    if base64.b64encode(raw).decode() != value:
        raise _Invalid("not canonical base64")
    return value


def _list_of(item: Check, *, is_set: bool) -> Check:
    def check(value: Any) -> list[Any]:
        if type(value) is not list:
            raise _Invalid(f"expected a list, got {type(value).__name__}")
        if len(value) > MAX_LIST_ITEMS:
            raise _Invalid(f"more than {MAX_LIST_ITEMS} items")
        out = []
        for i, v in enumerate(value):
            try:
                out.append(item(v))
            except _Invalid as exc:
                raise _Invalid(exc.message, f"[{i}]") from exc
        if len(set(out)) != len(out):
            raise _Invalid("duplicate items")
        return sorted(out) if is_set else out

    return check


def _one_of(*choices: str) -> Check:
    def check(value: Any) -> str:
        if type(value) is not str or value not in choices:
            raise _Invalid(f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    return check


_PARTIES = _list_of(_party, is_set=True)
_TOPICS = _list_of(_topic, is_set=True)


#: Each entry type: its fields, each (check, required).
SCHEMAS: dict[str, dict[str, tuple[Check, bool]]] = {
    "item.published": {
        "item": (_ident, True),
        "originator": (_party, True),
        "classification": (_ident, True),
        "releasable_to": (_PARTIES, True),
        "topics": (_TOPICS, True),
        "digest": (_digest, True),
    },
    "release.decision": {
        "item": (_ident, True),
        "holder": (_party, True),
        "recipient": (_party, True),
        "decision": (_one_of("allow", "deny"), True),
        "agreements": (_list_of(_ident, is_set=True), True),
        "reasons": (_list_of(_text, is_set=False), True),
    },
    "release.sent": {
        "item": (_ident, True),
        "recipient": (_party, True),
        "digest": (_digest, True),
    },
    "release.received": {
        "item": (_ident, True),
        "sender": (_party, True),
        "digest": (_digest, True),
    },
    "track.sent": {
        "track": (_ident, True),
        "recipient": (_party, True),
        "first_seq": (_count, True),
    },
    "track.received": {
        "track": (_ident, True),
        "sender": (_party, True),
        "originator": (_party, True),
        "first_seq": (_count, True),
    },
    "track.relayed": {
        "track": (_ident, True),
        "originator": (_party, True),
        "recipient": (_party, True),
        "first_seq": (_count, True),
    },
    "consent": {
        "item": (_ident, True),
        "originator": (_party, True),
        "holder": (_party, True),
        "recipient": (_party, True),
        "expires": (_instant, False),
        "source": (_ident, False),  # a source originator's consent to a derived item (§7.6)
    },
    "purpose.approval": {
        "item": (_ident, True),
        "originator": (_party, True),
        "holder": (_party, True),
        "purpose": (_topic, True),
        "expires": (_instant, False),
    },
    # a scenario's event, or a diplomatic note (gsomia.node.notes) ``id`` of ``by`` taking
    # effect at ``act_at``, ``digest`` the signed note's: given here, received from its party,
    # or its receipt (then ``by`` is the party that received the note and signed the receipt)
    "agreement.event": {
        "agreement": (_ident, True),
        "event": (_token, True),
        "note": (_text, False),
        "id": (_ident, False),
        "by": (_party, False),
        "act_at": (_instant, False),
        "digest": (_digest, False),
        "direction": (_one_of("given", "received", "receipt"), False),
    },
    "key.rotation": {
        "key_id": (_ident, True),
        "algorithm": (_token, True),
        "public_key": (_base64, True),
    },
    "loss.report": {
        "item": (_ident, True),
        "kind": (
            _one_of("loss", "compromise", "suspected_loss", "suspected_compromise", "findings"),
            True,
        ),
        "detail": (_text, True),
        "reporter": (_party, False),
    },
    "classification.notice": {
        "item": (_ident, True),
        "originator": (_party, True),
        "classification": (_ident, True),
        "digest": (_digest, True),
    },
    # the register of accesses (DOMAIN.md §7.3): the RFC 9162 tree head over its first ``size``
    # records, each leaf the canonical bytes of one record (``gsomia.node.accesses``)
    "register.root": {
        "size": (_count, True),
        "root": (_digest, True),
    },
    # DOMAIN.md §7.5: at the holder, when it destroys an item; at the originator, when the
    # holder's destruction certificate verifies
    "item.destroyed": {
        "item": (_ident, True),
        "originator": (_party, True),
        "digest": (_digest, True),
        "reason": (_text, True),
    },
    "destruction.certified": {
        "item": (_ident, True),
        "holder": (_party, True),
        "digest": (_digest, True),
        "reason": (_text, True),
    },
}

ENTRY_TYPES = tuple(SCHEMAS)
_COMMON = ("v", "type", "at", "party")


def canonical_entry(doc: Mapping[str, Any], *, where: str = "entry") -> bytes:
    """Validate ``doc`` against its type's schema and return its canonical bytes."""
    if not isinstance(doc, dict) and not isinstance(doc, Mapping):
        raise BadInput(f"{where}: expected a JSON object, got {type(doc).__name__}")
    version = doc.get("v")
    if type(version) is not int or version != ENTRY_VERSION:
        raise BadInput(f"{where}.v: expected the encoding version {ENTRY_VERSION}, got {version!r}")
    kind = doc.get("type")
    schema = SCHEMAS.get(kind) if type(kind) is str else None
    if schema is None:
        raise BadInput(f"{where}.type: expected one of {', '.join(ENTRY_TYPES)}, got {kind!r}")
    name = "at"
    try:
        out: dict[str, Any] = {
            "v": ENTRY_VERSION,
            "type": kind,
            "at": _instant(doc.get("at")),
        }
        name = "party"
        out["party"] = _party(doc.get("party"))
        for name, (check, required) in schema.items():
            if name in doc:
                out[name] = check(doc[name])
            elif required:
                raise BadInput(f"{where}.{name}: missing (required for {kind})")
    except _Invalid as exc:
        raise BadInput(f"{where}.{name}{exc.suffix}: {exc.message}") from exc
    if len(doc) != len(out):
        extra = sorted(str(k) for k in doc if k not in out)
        raise BadInput(f"{where}.{extra[0]}: unknown field for {kind}")
    if kind == "release.decision":
        if out["decision"] == "allow" and not out["agreements"]:
            raise BadInput(f"{where}.agreements: an allow names at least one agreement")
        if out["decision"] == "deny" and not out["reasons"]:
            raise BadInput(f"{where}.reasons: a deny gives at least one reason")
    encoded = orjson.dumps(out, option=orjson.OPT_SORT_KEYS)
    if len(encoded) > MAX_ENTRY_BYTES:
        raise BadInput(f"{where}: {len(encoded)} bytes encoded, more than {MAX_ENTRY_BYTES}")
    return encoded


def parse_entries_json(text: bytes | str, *, where: str = "entry") -> list[bytes]:
    """Parse JSON text holding one entry object or an array of them; canonical bytes of each."""
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise BadInput(
            f"{where}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc
    _reject_duplicate_keys(text, where)
    if isinstance(doc, list):
        if not doc:
            raise BadInput(f"{where}: an empty array appends nothing")
        return [canonical_entry(d, where=f"{where}[{i}]") for i, d in enumerate(doc)]
    return [canonical_entry(doc, where=where)]


def _reject_duplicate_keys(text: bytes | str, where: str) -> None:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in items:
            if key in seen:
                raise BadInput(f"{where}: duplicate key {key!r}")
            seen.add(key)
        return dict(items)

    json.loads(text, object_pairs_hook=pairs)


def decode_entry(data: bytes, *, where: str = "entry") -> dict[str, Any]:
    """Parse stored entry bytes; they must already be canonical."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadInput(f"{where}: stored bytes are not JSON ({exc.msg})") from exc
    if canonical_entry(doc, where=where) != data:
        raise BadInput(f"{where}: stored bytes are not in canonical form")
    if not isinstance(doc, dict):
        raise BadInput(f"{where}: not an object")
    return doc
