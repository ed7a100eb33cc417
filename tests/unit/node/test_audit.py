"""The node's audit lines: one format for every refusal and accepted change."""

from __future__ import annotations

import json
import logging
import re

import pytest

from gsomia.node import audit

#: One field: a bare value, or a JSON string.
FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')


def fields(line: str) -> tuple[str, dict[str, str]]:
    outcome, _, rest = line.partition(": ")
    found = {k: json.loads(v) if v.startswith('"') else v for k, v in FIELD.findall(rest)}
    return outcome, found


def test_a_refusal_is_one_line_of_fields_in_a_fixed_order(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, "gsomia.audit"):
        audit.refused("read item x", "not held here", user="analyst", party="KOR", address="::1")
    (record,) = caplog.records
    assert record.name == "gsomia.audit"
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        'refused: action="read item x" user=analyst party=KOR reason="not held here" address=::1'
    )


def test_client_chosen_values_cannot_break_the_line_or_forge_a_field(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hostile = 'bob" party=USA\nrefused: action=forged'
    with caplog.at_level(logging.INFO, "gsomia.audit"):
        audit.refused("console sign-in", "unknown user", user=hostile, party="JPN", path="x" * 5000)
    message = caplog.records[0].getMessage()
    assert "\n" not in message
    outcome, found = fields(message)
    assert outcome == "refused"
    assert found["user"] == hostile
    assert found["party"] == "JPN"
    assert found["path"] == "x" * audit.MAX_VALUE
    assert list(found) == ["action", "user", "party", "reason", "path"]


def test_an_accepted_change_has_the_same_shape_and_a_missing_value_is_a_dash(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, "gsomia.audit"):
        audit.accepted("reclassify", party="KOR", item="indicator--1", notified="JPN,USA")
    (record,) = caplog.records
    assert record.levelno == logging.INFO
    assert record.getMessage() == (
        "accepted: action=reclassify user=- party=KOR item=indicator--1 notified=JPN,USA"
    )
