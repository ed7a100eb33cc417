"""Scenario files and uploads are bounded: size, nesting, integers, years and how many of each.

Every refusal is a BadInput naming the file and the key (or line) and what is wrong, never
another exception: before these bounds a nested table, a huge integer and a year-1 date each
raised RecursionError, ValueError or OverflowError (a 500 in the console, a traceback in the CLI).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gsomia.domain.agreements import status_at
from gsomia.domain.scenario import (
    MAX_AGREEMENTS,
    MAX_EVENTS,
    MAX_INTEGER,
    MAX_NESTING,
    MAX_PARTIES,
    Scenario,
    parse_scenario,
)
from gsomia.domain.timeline import timeline
from gsomia.errors import BadInput
from gsomia.scenarios import MAX_SCENARIO_BYTES, load_scenario, load_scenario_text

WHAT_IF = 'format = 1\nextends = "historical"\nname = "w"\ntitle = "w"\n'
SOURCE = "upload x.toml"


def agreement(n: int, start: str = "2020-01-01T00:00:00+09:00", extra: str = "") -> str:
    return (
        f'[[agreements]]\nid = "a{n}"\nparties = ["KOR", "JPN"]\nstart = {start}\n'
        f'classes = ["SECRET"]\nterm_years = 1\n{extra}'
    )


def refused(text: str) -> str:
    with pytest.raises(BadInput, match=f"^{re.escape(SOURCE)}") as caught:
        load_scenario_text(text, SOURCE)
    return str(caught.value)


def test_a_nested_table_is_refused_naming_the_key() -> None:
    # deep enough that the TOML parser itself gives up (RecursionError before)
    deep = WHAT_IF + "notes = " + "{a = " * 2000 + "1" + "}" * 2000 + "\n"
    message = refused(deep)
    assert message.startswith(f"{SOURCE}: line 5, key 'notes': ")
    assert f"nest deeper than {MAX_NESTING} levels" in message
    # parsed, but deeper than any scenario needs: the path to it is named
    message = refused(WHAT_IF + "notes = [[[[[[1]]]]]]\n")
    assert message == (
        f"{SOURCE}.notes[0][0][0][0][0]: tables and arrays nest deeper than {MAX_NESTING} levels"
    )


def test_a_200000_digit_integer_is_refused_naming_the_key() -> None:
    huge = "9" * 200_000
    # as a file or an upload it is larger than any scenario may be
    assert refused(f"format = {huge}\n").startswith(f"{SOURCE}: larger than 64 KiB")
    # as a decoded document (no size to bound) the key is named
    with pytest.raises(BadInput, match=r"^doc\.agreements\[0\]\.term_years: an integer of "):
        parse_scenario({"format": 1, "agreements": [{"term_years": 10**199_999}]}, "doc")
    # within the size: more digits than Python converts from text (ValueError before)
    message = refused(WHAT_IF + agreement(1, extra=f"notice_days = {'9' * 5000}\n"))
    assert message.startswith(f"{SOURCE}: line 11, key 'notice_days': a number of 5000 digits")
    # in hexadecimal Python converts any length: the document's bound names the key
    message = refused(f"format = 0x{'f' * 60_000}\n")
    assert message.startswith(f"{SOURCE}.format: an integer of 240000 bits")
    assert str(MAX_INTEGER) in message


@pytest.mark.parametrize(
    "start",
    ["0001-01-01T00:00:00+09:00", '"0001-01-01T00:00:00+09:00"', "9999-12-31T00:00:00Z"],
)
def test_a_date_outside_the_years_a_scenario_covers_is_refused_naming_the_key(
    start: str,
) -> None:
    message = refused(WHAT_IF + agreement(1, start))
    assert message.startswith(f"{SOURCE}.agreements[5].start: ")
    assert message.endswith("is outside the years a scenario may cover (1945..2100)")
    event = (
        '[[events]]\nid = "e"\nat = 1944-12-31T23:59:59Z\nagreement = "jpn-kor-gsomia-2016"\n'
        'kind = "notice"\nparty = "KOR"\n'
    )
    assert refused(WHAT_IF + event).startswith(f"{SOURCE}.events[3].at: 1944-12-31T23:59:59")


def test_the_first_and_last_years_are_allowed() -> None:
    text = WHAT_IF + agreement(1, "1945-01-01T00:00:00Z") + agreement(2, "2100-12-31T00:00:00Z")
    scenario = load_scenario_text(text, SOURCE)
    entries = timeline(scenario, until=datetime(2102, 1, 1, tzinfo=UTC))
    assert entries[0].at == datetime(1945, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("key", "count", "limit"),
    [("agreements", MAX_AGREEMENTS + 1, MAX_AGREEMENTS), ("events", MAX_EVENTS + 1, MAX_EVENTS)],
)
def test_too_many_agreements_or_events_are_refused_naming_the_key(
    key: str, count: int, limit: int
) -> None:
    message = refused(WHAT_IF + f'[[{key}]]\nid = "x"\n' * count)
    assert message == (f"{SOURCE}.{key}: {count} entries; a scenario may have at most {limit}")


def test_too_many_agreements_after_extending_are_refused() -> None:
    # the base has five: the overlay may add only up to the cap
    text = WHAT_IF + "".join(agreement(n) for n in range(MAX_AGREEMENTS - 4))
    message = refused(text)
    assert message == (
        f"{SOURCE}.agreements: {MAX_AGREEMENTS + 1} entries; a scenario may have at most "
        f"{MAX_AGREEMENTS}"
    )
    assert (
        len(
            load_scenario_text(
                WHAT_IF + "".join(agreement(n) for n in range(27)), SOURCE
            ).agreements
        )
        == MAX_AGREEMENTS
    )


def test_too_many_parties_are_refused() -> None:
    doc = {"format": 1, "name": "p", "parties": [{}] * (MAX_PARTIES + 1)}
    with pytest.raises(BadInput, match=rf"^doc\.parties: {MAX_PARTIES + 1} entries; .* at most"):
        parse_scenario(doc, "doc")


def test_an_oversize_upload_or_file_is_refused_naming_the_limit(tmp_path: Path) -> None:
    big = WHAT_IF + "#" * MAX_SCENARIO_BYTES
    assert refused(big).startswith(f"{SOURCE}: larger than 64 KiB")
    path = tmp_path / "big.toml"
    path.write_text(big, encoding="utf-8")
    with pytest.raises(BadInput, match=rf"^scenario file {path}: larger than 64 KiB"):
        load_scenario(str(path))
    base = tmp_path / "base.toml"
    base.write_text(big, encoding="utf-8")
    child = tmp_path / "child.toml"
    child.write_text('format = 1\nextends = "base.toml"\nname = "c"\n', encoding="utf-8")
    with pytest.raises(BadInput, match=r"child\.toml\.extends: scenario file .*larger than"):
        load_scenario(str(child))


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ("term_years = 100000\n", "term_years"),  # year out of range before
        ("notice_days = 99999999999\n", "notice_days"),  # OverflowError before
    ],
)
def test_terms_and_notice_periods_are_bounded(extra: str, key: str) -> None:
    text = WHAT_IF + agreement(1).replace("term_years = 1\n", "") + extra
    assert refused(text).startswith(f"{SOURCE}.agreements[5].{key}: expected a whole number")


def test_a_table_where_an_id_belongs_is_refused_naming_the_key() -> None:
    # TypeError (unhashable) while extending before
    event = (
        "[[events]]\nid = {a = 1}\nat = 2024-01-01T00:00:00+09:00\n"
        'agreement = "jpn-kor-gsomia-2016"\nkind = "withdraw"\nparty = "KOR"\n'
    )
    assert refused(WHAT_IF + event) == f"{SOURCE}.events[3].id: expected a non-empty string"
    other = event.replace("id = {a = 1}", 'id = "x"').replace(
        'agreement = "jpn-kor-gsomia-2016"', "agreement = [1]"
    )
    assert refused(WHAT_IF + other) == f"{SOURCE}.events[3].agreement: expected a non-empty string"
    assert refused(WHAT_IF + "agreements = [1]\n") == f"{SOURCE}.agreements[0]: expected a table"


def test_evaluating_far_from_the_scenario_years_is_refused(historical: Scenario) -> None:
    far = datetime(9999, 6, 1, tzinfo=UTC)  # its anniversaries pass year 9999: ValueError before
    with pytest.raises(BadInput, match=r"^until: 9999-06-01T00:00:00\+00:00 is outside"):
        timeline(historical, until=far)
    gsomia = historical.agreement("jpn-kor-gsomia-2016")
    with pytest.raises(BadInput, match=r"^at: 9999-06-01T00:00:00\+00:00 is outside"):
        status_at(gsomia, far)
    assert status_at(gsomia, datetime(2300, 6, 1, tzinfo=UTC)).next_anniversary is not None
