"""Signed statements: a party's signed word that another party keeps as proof."""

from __future__ import annotations

import copy

import pytest

from gsomia.errors import BadInput, VerificationFailed
from gsomia.seal.statements import sign_statement, verify_statement
from tests.unit.seal.conftest import Rings

BODY = {"item": "indicator--1/2024", "count": 3, "purposes": ["defense"]}


def test_a_statement_verifies_at_another_party(rings: Rings) -> None:
    doc = sign_statement(rings["JPN"], "accounting", BODY)
    assert verify_statement(rings["KOR"], doc, kind="accounting", party="JPN") == BODY


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda d: d["body"].update(count=4), "does not verify"),
        (lambda d: d.update(kind="inventory"), "of kind 'inventory'"),
        (lambda d: d.update(party="USA"), "signed by 'USA'"),
        (lambda d: d["signature"].update(ed25519="AAAA"), "does not verify"),
        (lambda d: d["signature"].update(ml_dsa_65="!"), "signature malformed"),
        (lambda d: d.update(key_id="0" * 16), "no trusted key"),
        (lambda d: d.pop("v"), "not a gsomia statement"),
    ],
)
def test_any_change_fails(rings: Rings, change: object, match: str) -> None:
    doc = copy.deepcopy(sign_statement(rings["JPN"], "accounting", BODY))
    change(doc)  # type: ignore[operator]
    with pytest.raises(VerificationFailed, match=match):
        verify_statement(rings["KOR"], doc, kind="accounting", party="JPN")


def test_the_kind_and_the_signer_are_what_the_caller_expects(rings: Rings) -> None:
    doc = sign_statement(rings["JPN"], "accounting", BODY)
    with pytest.raises(VerificationFailed, match="not 'inventory'"):
        verify_statement(rings["KOR"], doc, kind="inventory", party="JPN")
    with pytest.raises(VerificationFailed, match="not by USA"):
        verify_statement(rings["KOR"], doc, kind="accounting", party="USA")
    with pytest.raises(BadInput, match="statement kind"):
        sign_statement(rings["JPN"], "Bad Kind", BODY)
