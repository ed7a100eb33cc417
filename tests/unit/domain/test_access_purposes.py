"""Access with purposes (DOMAIN.md §7.1–2), the pure decision: clearance, need-to-know and, at a
holder, a purpose of the user's within one the item is provided for there; standing-consent
arrivals for defense.warning only; approvals widen, never narrow, and only while in force."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gsomia.domain.access import (
    Approval,
    Clearance,
    check_access,
    decide_access,
    provided_for,
)
from gsomia.domain.parties import Equivalence
from gsomia.domain.purposes import BUILTIN, STANDING, may_use, parse_purposes
from gsomia.errors import BadInput, Denied

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ITEM = "report--1/2026-01-01T00:00:00.000Z"
purposes = st.lists(st.sampled_from(BUILTIN), min_size=1, max_size=5, unique=True).map(
    lambda p: tuple(sorted(p))
)
approvals = st.lists(
    st.builds(
        Approval,
        st.sampled_from((ITEM, "other/1")),
        st.sampled_from(BUILTIN),
        st.just(NOW - timedelta(days=1)),
        st.one_of(st.none(), st.sampled_from((NOW - timedelta(hours=1), NOW + timedelta(hours=1)))),
    ),
    max_size=4,
)


def user(party: str = "USA", serves: tuple[str, ...] = ("defense",)) -> Clearance:
    return Clearance("ana", party, "TOP_SECRET", Equivalence.TOP_SECRET, ("dprk",), purposes=serves)


def decide(who: Clearance, provided: tuple[str, ...] | None, party: str = "USA") -> bool:
    return decide_access(
        who,
        party=party,
        equivalence=Equivalence.SECRET,
        topics=("dprk.missile",),
        purposes=provided,
    ).allowed


def test_a_holders_user_needs_a_purpose_within_the_items() -> None:
    assert decide(user(serves=("defense.assessment",)), ("defense.assessment",))
    assert decide(user(serves=("defense.warning",)), ("defense",))  # within it
    assert not decide(user(serves=("defense",)), ("defense.warning",))  # wider is not within
    decision = decide_access(
        user(serves=("defense.policy",)),
        party="USA",
        equivalence=Equivalence.SECRET,
        topics=("dprk.missile",),
        purposes=STANDING,
    )
    assert decision.to_json() == {
        "decision": "deny",
        "reasons": [
            "user ana's purposes (defense.policy) lie within none of the purposes the item is "
            "provided for at USA (defense.warning); using it for another purpose needs the "
            "originator's approval"
        ],
        "purposes": ["defense.warning"],
    }
    with pytest.raises(Denied, match=r"^user ana's purposes \(defense.policy\) lie within none"):
        check_access(
            user(serves=("defense.policy",)),
            party="USA",
            equivalence=Equivalence.SECRET,
            topics=("dprk.missile",),
            purposes=("defense.assessment",),
        )


def test_every_reason_is_given() -> None:
    low = Clearance("ana", "USA", "CONFIDENTIAL", Equivalence.CONFIDENTIAL, ("dprk.nuclear",))
    decision = decide_access(
        low,
        party="USA",
        equivalence=Equivalence.SECRET,
        topics=("dprk.missile",),
        purposes=("defense.policy",),
    )
    assert not decision.allowed
    assert [r.split(" ")[2] for r in decision.reasons] == ["is", "duties", "purposes"]


def test_standing_consent_limits_an_item_to_defense_warning_whatever_its_label() -> None:
    assert provided_for(("defense.assessment",), standing=True) == STANDING
    assert provided_for(("defense",), standing=False) == ("defense",)
    widened = provided_for(
        ("defense",),
        standing=True,
        approvals=(Approval(ITEM, "defense.policy", NOW, None),),
        item=ITEM,
        at=NOW,
    )
    assert widened == ("defense.policy", "defense.warning")


def test_an_approval_widens_only_while_in_force() -> None:
    approval = Approval(ITEM, "defense", NOW, NOW + timedelta(days=1))
    base = ("defense.assessment",)
    assert provided_for(base, standing=False, approvals=(approval,), item=ITEM, at=NOW) == (
        "defense",
        "defense.assessment",
    )
    for at in (NOW - timedelta(seconds=1), NOW + timedelta(days=1)):
        assert provided_for(base, standing=False, approvals=(approval,), item=ITEM, at=at) == base
    other = provided_for(base, standing=False, approvals=(approval,), item="other/1", at=NOW)
    assert other == base


@given(purposes, purposes, approvals, st.booleans())
def test_an_approval_never_narrows(
    label: tuple[str, ...], serves: tuple[str, ...], granted: list[Approval], standing: bool
) -> None:
    before = provided_for(label, standing=standing)
    after = provided_for(label, standing=standing, approvals=granted, item=ITEM, at=NOW)
    assert set(before) <= set(after)
    if decide(user(serves=serves), before):
        assert decide(user(serves=serves), after)


@given(purposes, purposes, approvals, st.booleans())
def test_the_originators_users_are_bound_by_clearance_and_need_to_know_alone(
    label: tuple[str, ...], serves: tuple[str, ...], granted: list[Approval], standing: bool
) -> None:
    assert decide(user("KOR", serves), None, party="KOR")  # whatever their purposes
    holder = decide(
        user("USA", serves),
        provided_for(label, standing=standing, approvals=granted, item=ITEM, at=NOW),
    )
    assert holder == may_use(
        serves, provided_for(label, standing=standing, approvals=granted, item=ITEM, at=NOW)
    )


@given(st.text(min_size=1, max_size=20))
def test_a_purpose_outside_the_vocabulary_is_bad_input(word: str) -> None:
    if word in BUILTIN:
        return
    with pytest.raises(BadInput, match=r"^purposes\[0\]: "):
        parse_purposes([word], "purposes", BUILTIN)
    with pytest.raises(BadInput, match=r"^approvals\[0\]: field 'purpose'"):
        Approval.from_json(
            {"item": ITEM, "purpose": word, "granted_at": "2026-03-01T09:00:00Z"},
            where="approvals[0]",
            vocabulary=BUILTIN,
        )


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        ([], "must be a JSON object"),
        ({"item": ITEM, "purpose": "defense"}, "missing field 'granted_at'"),
        ({"item": ITEM, "purpose": "defense", "granted_at": "x", "why": 1}, "unknown field"),
        ({"item": 1, "purpose": "defense", "granted_at": "2026-03-01T09:00:00Z"}, "'item'"),
        ({"item": ITEM, "purpose": "defense", "granted_at": "2026-03-01T09:00:00"}, "granted_at"),
        (
            {
                "item": ITEM,
                "purpose": "defense",
                "granted_at": "2026-03-01T09:00:00Z",
                "expires_at": "2026-03-01T08:00:00Z",
            },
            "expires at or before it is granted",
        ),
    ],
)
def test_approvals_are_parsed_strictly(doc: object, words: str) -> None:
    with pytest.raises(BadInput, match=rf"^approvals\[0\]: .*{words}"):
        Approval.from_json(doc, where="approvals[0]", vocabulary=BUILTIN)
