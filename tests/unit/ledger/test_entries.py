from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gsomia.errors import BadInput
from gsomia.ledger.entries import (
    ENTRY_TYPES,
    canonical_entry,
    decode_entry,
    parse_entries_json,
)
from tests.unit.ledger.reference import sample_documents

SAMPLES: dict[str, dict[str, Any]] = {}
for _doc in sample_documents():
    SAMPLES.setdefault(_doc["type"], _doc)
# entry types added after the vectors (tests/vectors/ledger) were written: a sample each here
SAMPLES.setdefault(
    "register.root",
    {
        "v": 1,
        "type": "register.root",
        "at": "2026-03-01T09:00:00+00:00",
        "party": "JPN",
        "size": 12,
        "root": "cd" * 32,
    },
)
SAMPLES.setdefault(
    "purpose.approval",
    {
        "v": 1,
        "at": "2026-03-01T09:00:00+09:00",
        "party": "KOR",
        "type": "purpose.approval",
        "item": "kor-0001",
        "originator": "KOR",
        "holder": "USA",
        "purpose": "defense.policy",
        "expires": "2026-06-01T00:00:00Z",
    },
)

_TRACK = "track--0b6e7c1a-3f1d-4c55-9a3e-2d4f6a8b9c0d"
_AT = "2023-12-20T09:00:00+09:00"
SAMPLES.setdefault(
    "track.sent",
    {
        "v": 1,
        "type": "track.sent",
        "at": _AT,
        "party": "KOR",
        "track": _TRACK,
        "recipient": "USA",
        "first_seq": 1,
    },
)
SAMPLES.setdefault(
    "track.received",
    {
        "v": 1,
        "type": "track.received",
        "at": _AT,
        "party": "USA",
        "track": _TRACK,
        "sender": "KOR",
        "originator": "KOR",
        "first_seq": 1,
    },
)
SAMPLES.setdefault(
    "track.relayed",
    {
        "v": 1,
        "type": "track.relayed",
        "at": _AT,
        "party": "USA",
        "track": _TRACK,
        "originator": "KOR",
        "recipient": "JPN",
        "first_seq": 1,
    },
)


def test_every_entry_type_has_a_sample() -> None:
    assert set(SAMPLES) == set(ENTRY_TYPES)


@pytest.mark.parametrize("kind", ENTRY_TYPES)
def test_canonical_form_is_sorted_compact_and_stable(kind: str) -> None:
    data = canonical_entry(SAMPLES[kind])
    doc = orjson.loads(data)
    assert list(doc) == sorted(doc)
    assert data == orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
    assert b"\n" not in data
    assert b'", "' not in data
    assert decode_entry(data) == doc
    assert canonical_entry(doc) == data


def test_sets_are_sorted_and_times_normalised() -> None:
    doc = orjson.loads(canonical_entry(SAMPLES["item.published"]))
    assert doc["releasable_to"] == ["JPN", "USA"]
    assert doc["topics"] == ["dprk.missile", "dprk.missile.warning"]
    consent = orjson.loads(canonical_entry(SAMPLES["consent"]))
    assert consent["expires"] == "2024-12-19T00:00:00+00:00"
    reasons = orjson.loads(canonical_entry(SAMPLES["release.decision"]))["agreements"]
    assert reasons == sorted(reasons)


BAD: list[tuple[str, str, Any, str]] = [
    ("register.root", "size", 0, "entry.size"),
    ("register.root", "size", True, "entry.size"),
    ("register.root", "size", "12", "entry.size"),
    ("register.root", "root", "CD" * 32, "entry.root"),
    ("release.sent", "v", 2, "entry.v"),
    ("release.sent", "v", True, "entry.v"),
    ("release.sent", "v", 1.0, "entry.v"),
    ("release.sent", "type", "release.lost", "entry.type"),
    ("release.sent", "at", "2024-01-01T00:00:00", "entry.at"),
    ("release.sent", "at", "yesterday", "entry.at"),
    ("release.sent", "party", "Korea", "entry.party"),
    ("release.sent", "recipient", "jpn", "entry.recipient"),
    ("release.sent", "digest", "AB" * 32, "entry.digest"),
    ("release.sent", "item", "", "entry.item"),
    ("item.published", "releasable_to", ["JPN", "JPN"], "entry.releasable_to"),
    ("item.published", "releasable_to", ["JPN", "X"], "entry.releasable_to[1]"),
    ("item.published", "topics", "dprk", "entry.topics"),
    ("item.published", "topics", ["DPRK"], "entry.topics[0]"),
    ("release.decision", "decision", "maybe", "entry.decision"),
    ("release.decision", "agreements", [], "entry.agreements"),
    ("loss.report", "detail", "  ", "entry.detail"),
    ("loss.report", "detail", "a\x00b", "entry.detail"),
    ("loss.report", "kind", "theft", "entry.kind"),
    ("key.rotation", "public_key", "not base64!", "entry.public_key"),
    ("key.rotation", "public_key", "QQ", "entry.public_key"),
    ("consent", "expires", None, "entry.expires"),
]


@pytest.mark.parametrize(("kind", "field", "value", "named"), BAD)
def test_bad_fields_are_named(kind: str, field: str, value: Any, named: str) -> None:
    doc = copy.deepcopy(SAMPLES[kind])
    doc[field] = value
    with pytest.raises(BadInput, match=f"^{named.replace('[', '.').replace(']', '.')}"):
        canonical_entry(doc)


def test_missing_and_unknown_fields_are_named() -> None:
    doc = copy.deepcopy(SAMPLES["release.sent"])
    del doc["digest"]
    with pytest.raises(BadInput, match=r"^entry\.digest: missing"):
        canonical_entry(doc)
    doc = {**SAMPLES["release.sent"], "extra": 1}
    with pytest.raises(BadInput, match=r"^entry\.extra: unknown"):
        canonical_entry(doc)


def test_a_deny_needs_reasons() -> None:
    doc = {**SAMPLES["release.decision"], "decision": "deny", "reasons": []}
    with pytest.raises(BadInput, match="reasons"):
        canonical_entry(doc)


def test_json_text_input() -> None:
    one = orjson.dumps(SAMPLES["consent"])
    assert parse_entries_json(one) == [canonical_entry(SAMPLES["consent"])]
    many = orjson.dumps([SAMPLES["consent"], SAMPLES["release.sent"]])
    assert len(parse_entries_json(many)) == 2
    with pytest.raises(BadInput, match="malformed JSON"):
        parse_entries_json(b"{")
    with pytest.raises(BadInput, match="duplicate key 'v'"):
        parse_entries_json(b'{"v": 1, "v": 1}')
    with pytest.raises(BadInput, match="empty array"):
        parse_entries_json(b"[]")
    with pytest.raises(BadInput, match=r"entry\[1\]\.type"):
        parse_entries_json(orjson.dumps([SAMPLES["consent"], {"v": 1}]))
    with pytest.raises(BadInput, match="JSON object"):
        parse_entries_json(b"3")


def test_stored_bytes_must_be_canonical() -> None:
    data = canonical_entry(SAMPLES["consent"])
    with pytest.raises(BadInput, match="canonical"):
        decode_entry(data.replace(b",", b", ", 1))
    with pytest.raises(BadInput, match="not JSON"):
        decode_entry(data[:-1])


_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30
).filter(lambda s: s.strip() != "")


@settings(max_examples=150, deadline=None)
@given(
    reasons=st.lists(_text, min_size=1, max_size=4, unique=True),
    parties=st.lists(st.sampled_from(["KOR", "JPN", "USA"]), unique=True),
    offset=st.integers(min_value=-12, max_value=14),
)
def test_canonical_encoding_is_idempotent(
    reasons: list[str], parties: list[str], offset: int
) -> None:
    doc = {
        **SAMPLES["release.decision"],
        "decision": "deny",
        "reasons": reasons,
        "at": f"2020-02-29T23:59:59{offset:+03d}:00",
    }
    data = canonical_entry(doc)
    assert canonical_entry(orjson.loads(data)) == data
    assert decode_entry(data)["reasons"] == reasons
    published = {**SAMPLES["item.published"], "releasable_to": parties}
    encoded = canonical_entry(published)
    assert canonical_entry({**published, "releasable_to": parties[::-1]}) == encoded
