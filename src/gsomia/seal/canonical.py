"""Canonical JSON and fixed-width hex/base64 helpers for the seal formats.

Canonical JSON here is: UTF-8, object keys sorted, no insignificant whitespace (what
``orjson`` writes with ``OPT_SORT_KEYS``). Signed JSON is always signed as these exact bytes.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from gsomia.errors import BadInput


def canonical_json(obj: Any) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)


def parse_json_bytes(raw: bytes, *, where: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadInput(f"{where}: malformed JSON ({exc.msg})") from exc


def hex_field(obj: dict[str, Any], key: str, *, where: str, length: int | None = None) -> bytes:
    value = obj.get(key)
    if not isinstance(value, str):
        raise BadInput(f"{where}: field {key!r} must be a hex string")
    try:
        raw = bytes.fromhex(value)
    except ValueError as exc:
        raise BadInput(f"{where}: field {key!r} is not hex") from exc
    if length is not None and len(raw) != length:
        raise BadInput(f"{where}: field {key!r} must be {length} bytes, not {len(raw)}")
    return raw


def b64_field(obj: dict[str, Any], key: str, *, where: str) -> bytes:
    value = obj.get(key)
    if not isinstance(value, str):
        raise BadInput(f"{where}: field {key!r} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadInput(f"{where}: field {key!r} is not base64") from exc


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def str_field(obj: dict[str, Any], key: str, *, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise BadInput(f"{where}: field {key!r} must be a string")
    return value


def int_field(obj: dict[str, Any], key: str, *, where: str) -> int:
    value = obj.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadInput(f"{where}: field {key!r} must be an integer")
    return value


def object_at(value: Any, *, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadInput(f"{where}: must be a JSON object")
    return value
