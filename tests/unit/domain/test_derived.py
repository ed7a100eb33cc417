"""The derived label rules of DOMAIN.md §7.6, against a reading of them written here.

The oracle below reads §7.6 on its own terms (its own class order, its own notion of one dotted
token lying within another) and calls nothing of ``gsomia.domain.derived``: a derived label is
no lower than the highest source's class, releasable only to parties every source allows (its
REL TO and its originator; the writer itself is no widening), carries every source's topics,
and only purposes that lie within some purpose of every source.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gsomia.domain.consents import Consent
from gsomia.domain.derived import HeldSource, allowed_label, check_label
from gsomia.domain.labels import Label, Source
from gsomia.domain.release import decide
from gsomia.errors import BadInput
from gsomia.scenarios import load_scenario

SCENARIO = load_scenario("historical")
PARTIES = ("JPN", "KOR", "USA")
TOPICS = ("dprk", "dprk.missile", "dprk.missile.warning", "dprk.nuclear")
PURPOSES = ("defense", "defense.warning", "defense.assessment", "defense.policy")

# --------------------------------------------------------------------------- the oracle
# Each party's levels with the class each is worth, written out from DOMAIN.md §2.
CLASS_OF = {
    "KOR": {"I": 3, "II": 2, "III": 1},
    "JPN": {"KIMITSU": 3, "GOKUHI": 2, "TOKUTEI_HIMITSU": 2, "HI": 1},
    "USA": {"TOP_SECRET": 3, "SECRET": 2, "CONFIDENTIAL": 1},
}


def lies_within(token: str, other: str) -> bool:
    return token == other or token.startswith(other + ".")


@dataclass(frozen=True)
class Spec:
    originator: str
    level: str
    rel: frozenset[str]
    topics: frozenset[str]
    purposes: frozenset[str]


def oracle_accepts(writer: Spec, sources: list[Spec]) -> bool:
    if any(
        CLASS_OF[writer.originator][writer.level] < CLASS_OF[s.originator][s.level] for s in sources
    ):
        return False
    for party in writer.rel:
        if party == writer.originator:
            continue
        if not all(party in s.rel or party == s.originator for s in sources):
            return False
    if not all(s.topics <= writer.topics for s in sources):
        return False
    return all(
        all(any(lies_within(p, q) for q in s.purposes) for s in sources) for p in writer.purposes
    )


# --------------------------------------------------------------------------- strategies
def specs(originator: str | None = None) -> st.SearchStrategy[Spec]:
    parties = st.sampled_from(PARTIES) if originator is None else st.just(originator)
    return parties.flatmap(
        lambda p: st.builds(
            Spec,
            st.just(p),
            st.sampled_from(sorted(CLASS_OF[p])),
            st.frozensets(st.sampled_from(PARTIES)),
            st.frozensets(st.sampled_from(TOPICS), max_size=3),
            st.frozensets(st.sampled_from(PURPOSES), min_size=1, max_size=2),
        )
    )


def to_label(spec: Spec, item: str, derived: tuple[Source, ...] = ()) -> Label:
    return Label(
        item,
        spec.originator,
        spec.level,
        tuple(sorted(spec.rel)),
        tuple(sorted(spec.topics)),
        tuple(sorted(spec.purposes)),
        None,
        derived,
    )


def held(specs_: list[Spec]) -> tuple[list[HeldSource], tuple[Source, ...]]:
    out = []
    for n, spec in enumerate(specs_):
        source = Source(f"src-{n}", spec.originator, "assessment")
        out.append(HeldSource(source, to_label(spec, f"src-{n}"), tuple(sorted(spec.purposes))))
    return out, tuple(h.source for h in out)


@settings(max_examples=300, deadline=None)
@given(writer=specs(), first=specs(), second=specs())
def test_check_label_agrees_with_the_reading(writer: Spec, first: Spec, second: Spec) -> None:
    sources, named = held([first, second])
    label = to_label(writer, "derived", named)
    if oracle_accepts(writer, [first, second]):
        check_label(SCENARIO, label, sources)
    else:
        with pytest.raises(BadInput, match=r"source src-[01]|share no purpose"):
            check_label(SCENARIO, label, sources)


@settings(max_examples=300, deadline=None)
@given(writer=st.sampled_from(PARTIES), first=specs(), second=specs())
def test_the_allowed_label_is_accepted_and_least_restrictive(
    writer: str, first: Spec, second: Spec
) -> None:
    sources, named = held([first, second])
    common = [
        p
        for p in PURPOSES
        if all(any(lies_within(p, q) for q in s.purposes) for s in (first, second))
    ]
    if not common:
        with pytest.raises(BadInput, match="share no purpose"):
            allowed_label(SCENARIO, writer, sources)
        return
    allowed = allowed_label(SCENARIO, writer, sources)
    proposed = Spec(
        writer,
        allowed.level.id,
        frozenset(allowed.releasable_to),
        frozenset(allowed.topics),
        frozenset(allowed.purposes),
    )
    assert oracle_accepts(proposed, [first, second])
    check_label(SCENARIO, to_label(proposed, "derived", named), sources)
    # the lowest class: one level lower (if any) is refused
    highest = max(CLASS_OF[s.originator][s.level] for s in (first, second))
    assert CLASS_OF[writer][allowed.level.id] == highest
    # the widest releasability: every party the oracle allows is in it
    for party in PARTIES:
        if party != writer and oracle_accepts(
            Spec(writer, allowed.level.id, frozenset({party}), proposed.topics, proposed.purposes),
            [first, second],
        ):
            assert party in allowed.releasable_to
    # every common purpose is covered by the allowed purposes
    for p in common:
        assert any(lies_within(p, q) for q in allowed.purposes)


@pytest.mark.parametrize(
    ("first", "second"),
    list(itertools.product(["I", "II", "III"], ["TOP_SECRET", "SECRET", "CONFIDENTIAL"])),
)
def test_every_pair_of_classes(first: str, second: str) -> None:
    a = Spec("KOR", first, frozenset({"JPN"}), frozenset(), frozenset({"defense"}))
    b = Spec("USA", second, frozenset({"JPN"}), frozenset(), frozenset({"defense"}))
    sources, named = held([a, b])
    allowed = allowed_label(SCENARIO, "JPN", sources)
    highest = max(CLASS_OF["KOR"][first], CLASS_OF["USA"][second])
    assert CLASS_OF["JPN"][allowed.level.id] == highest
    for level, worth in CLASS_OF["JPN"].items():
        w = Spec("JPN", level, frozenset(), frozenset(), frozenset({"defense"}))
        label = to_label(w, "d", named)
        if worth >= highest:
            check_label(SCENARIO, label, sources)
        else:
            with pytest.raises(BadInput, match=r"classification .* is lower than source src-"):
                check_label(SCENARIO, label, sources)


def test_the_refusal_names_the_source_and_its_level() -> None:
    a = Spec("KOR", "III", frozenset({"JPN"}), frozenset(), frozenset({"defense"}))
    b = Spec("USA", "SECRET", frozenset({"JPN"}), frozenset(), frozenset({"defense"}))
    sources, named = held([a, b])
    w = Spec("JPN", "HI", frozenset(), frozenset(), frozenset({"defense"}))
    with pytest.raises(BadInput, match=r"HI \(CONFIDENTIAL\) is lower than source src-1's SECRET"):
        check_label(SCENARIO, to_label(w, "d", named), sources)


def test_a_source_originator_may_receive_and_the_recorded_originator_must_match() -> None:
    a = Spec("KOR", "II", frozenset({"JPN"}), frozenset(), frozenset({"defense"}))
    b = Spec("USA", "SECRET", frozenset({"JPN", "KOR"}), frozenset(), frozenset({"defense"}))
    sources, _ = held([a, b])
    allowed = allowed_label(SCENARIO, "JPN", sources)
    assert allowed.releasable_to == ("KOR",)
    wrong = HeldSource(Source("src-0", "USA", "extract"), sources[0].label, ("defense",))
    with pytest.raises(BadInput, match="src-0 was originated by KOR, not USA"):
        allowed_label(SCENARIO, "JPN", [wrong, sources[1]])


# --------------------------------------------------------------------------- release (§5 rule 7)
AT = datetime.fromisoformat("2020-06-01T12:00:00+09:00")


def derived_label(originator: str = "JPN") -> Label:
    return Label(
        "report--d/1",
        originator,
        "GOKUHI" if originator == "JPN" else "SECRET",
        ("KOR", "USA") if originator == "JPN" else ("JPN", "KOR"),
        ("dprk.missile",),
        derived_from=(
            Source("report--k/1", "KOR", "assessment"),
            Source("report--u/1", "USA", "translation", "ja"),
        ),
    )


def test_a_derived_item_needs_every_other_source_originators_consent() -> None:
    label = derived_label()
    denied = decide(SCENARIO, label, holder="JPN", recipient="USA", at=AT)
    assert not denied.allowed
    assert any("derived from items of KOR" in r for r in denied.reasons)
    kor = Consent("report--d/1", "KOR", "USA", AT - timedelta(days=1))
    allowed = decide(SCENARIO, label, holder="JPN", recipient="USA", at=AT, consents=(kor,))
    assert allowed.allowed
    assert any("KOR consented" in r for r in allowed.reasons)
    # memoised per request: the same request without the consent is denied again
    assert not decide(SCENARIO, label, holder="JPN", recipient="USA", at=AT).allowed
    # a consent for the source item, or to another recipient, serves nothing
    other = Consent("report--k/1", "KOR", "USA", AT - timedelta(days=1))
    assert not decide(
        SCENARIO, label, holder="JPN", recipient="USA", at=AT, consents=(other,)
    ).allowed
    # to KOR, USA's consent is needed (KOR, a source originator, may receive it)
    to_kor = decide(SCENARIO, label, holder="JPN", recipient="KOR", at=AT, consents=(kor,))
    assert not to_kor.allowed
    usa = Consent("report--d/1", "USA", "KOR", AT - timedelta(days=1))
    assert decide(SCENARIO, label, holder="JPN", recipient="KOR", at=AT, consents=(usa,)).allowed


def test_a_holder_of_a_derived_item_needs_its_originators_consent_too() -> None:
    label = derived_label()
    jpn = Consent("report--d/1", "JPN", "KOR", AT - timedelta(days=1))
    # USA holds it: KOR (recipient) and USA (holder) need not consent, JPN must (rule 7)
    assert not decide(SCENARIO, label, holder="USA", recipient="KOR", at=AT).allowed
    assert decide(SCENARIO, label, holder="USA", recipient="KOR", at=AT, consents=(jpn,)).allowed
