"""Strict JSON at the edge: what parsers could read in different ways is refused, naming it."""

from __future__ import annotations

import re

import pytest

from gsomia.api.http import MAX_JSON_INTEGER, HttpError, check_json


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (b'{"a": 1, "a": 2}', "duplicate key 'a'"),
        (b'{"outer": {"b": [], "b": []}}', "duplicate key 'b'"),
        (b'[{"c": 1}, {"d": 1, "d": 1}]', "duplicate key 'd'"),
        (str(MAX_JSON_INTEGER + 1).encode(), "integer 9007199254740992 is beyond"),
        (str(-MAX_JSON_INTEGER - 1).encode(), "integer -9007199254740992 is beyond"),
        (b"1" * 200_000, "(200000 digits)"),
        (b"1e400", "out of range"),
        (b"0." + b"1" * 100, "out of range"),
        (b"NaN", "NaN is not JSON"),
        (b'{"x": -Infinity}', "-Infinity is not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_refused_naming_what(text: bytes, named: str) -> None:
    with pytest.raises(HttpError, match=re.escape(named)) as caught:
        check_json(text, "body")
    assert caught.value.http_status == 422
    assert named in str(caught.value)
    assert str(caught.value).startswith("body: ")


@pytest.mark.parametrize(
    "text",
    [
        b'{"a": 1, "b": {"a": 2}}',  # the same key in two objects is no duplicate
        str(MAX_JSON_INTEGER).encode(),
        str(-MAX_JSON_INTEGER).encode(),
        b"-1.2345678901234567e-308",
        b'{"objects": [{"type": "report", "n": 0.5}]}',
        b'{"objects": [}',  # malformed: left to the route's parser, which says where
        b"\xff\xfe",  # not UTF-8: the same
    ],
)
def test_passed_on(text: bytes) -> None:
    check_json(text, "body")
