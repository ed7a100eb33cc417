"""A party's STIX identity in a scenario: optional, a version-4 identity id, one per party;
an error names the file and the party."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gsomia.domain.scenario import parse_scenario
from gsomia.errors import BadInput
from gsomia.scenarios import load_scenario, read_document

KOR = "identity--fb5cadd4-5b40-4b0e-b470-9a7858460a45"


def historical() -> dict[str, Any]:
    document, _ = read_document("historical")
    return copy.deepcopy(document)


def test_the_builtin_parties_have_their_identities() -> None:
    for name in ("historical", "lapse-2019"):
        policies = load_scenario(name).policies
        assert {p: policies[p].identity for p in policies} == {
            "KOR": KOR,
            "JPN": "identity--058afd04-3742-4dd6-9d4c-f1698559987d",
            "USA": "identity--0b0a813b-c84d-4fa3-97fc-6f6284331470",
        }


def test_an_identity_round_trips_and_may_be_absent() -> None:
    document = historical()
    del document["parties"][1]["identity"]
    scenario = parse_scenario(document, "mine.toml")
    assert scenario.policy("JPN").identity is None
    again = parse_scenario(scenario.to_document(), "again")
    assert again.policy("KOR").identity == KOR
    assert again.policy("JPN").identity is None
    assert "identity" not in again.to_document()["parties"][1]


@pytest.mark.parametrize(
    "identity",
    [
        "identity--fb5cadd4-5b40-5b0e-b470-9a7858460a45",  # version 5
        "identity--FB5CADD4-5B40-4B0E-B470-9A7858460A45",  # upper case
        "location--fb5cadd4-5b40-4b0e-b470-9a7858460a45",
        "fb5cadd4-5b40-4b0e-b470-9a7858460a45",
        7,
    ],
)
def test_a_bad_identity_is_refused_naming_the_file_and_the_party(identity: object) -> None:
    document = historical()
    document["parties"][1]["identity"] = identity
    with pytest.raises(BadInput, match=r"^mine\.toml\.parties\[1\]\.identity: "):
        parse_scenario(document, "mine.toml")


def test_two_parties_cannot_share_an_identity() -> None:
    document = historical()
    document["parties"][2]["identity"] = KOR
    with pytest.raises(BadInput, match=r"^mine\.toml\.parties\[2\]\.identity: party USA's"):
        parse_scenario(document, "mine.toml")
