"""Diplomatic notes as agreement events: which acts are valid at which point of an agreement's
life, the state digest the parties compare, and the effective scenario a node enforces."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gsomia.domain.agreements import Agreement, EventKind
from gsomia.domain.labels import Label
from gsomia.domain.notes import (
    NoteAct,
    check_act,
    check_text,
    effective,
    state_digest,
    with_notes,
)
from gsomia.domain.release import decide
from gsomia.domain.scenario import MAX_EVENTS, Scenario
from gsomia.errors import BadInput, Conflict, Denied
from gsomia.scenarios import load_scenario

KST = timezone(timedelta(hours=9))
GSOMIA = "jpn-kor-gsomia-2016"
NOTICE_AT = datetime(2019, 8, 23, 12, tzinfo=KST)
SUSPEND_AT = datetime(2019, 11, 22, 18, tzinfo=KST)
WITHDRAW_AT = datetime(2023, 3, 21, 12, tzinfo=KST)
LAPSE = datetime(2019, 11, 23, tzinfo=KST)


def _bare() -> Scenario:
    """The historical scenario without its jpn-kor events: what the live demo starts from."""
    s = load_scenario("historical")
    agreements = tuple(replace(a, events=()) if a.id == GSOMIA else a for a in s.agreements)
    return replace(s, agreements=agreements)


def _act(kind: EventKind, at: datetime, party: str = "KOR") -> NoteAct:
    return NoteAct(str(uuid.uuid4()), GSOMIA, kind, party, at, "")


def _gsomia(s: Scenario) -> Agreement:
    return s.agreement(GSOMIA)


def test_the_record_played_as_notes_has_the_files_state_and_digest() -> None:
    record = load_scenario("historical")
    acts = [
        _act(EventKind.NOTICE, NOTICE_AT),
        _act(EventKind.SUSPEND, SUSPEND_AT),
        _act(EventKind.WITHDRAW, WITHDRAW_AT),
    ]
    live = _bare()
    for act in acts:
        check_act(_gsomia(live), act.kind, act.party, act.at)
        live = effective(live, [act])
    assert _gsomia(live).end == _gsomia(record).end is None
    assert state_digest(_gsomia(live)) == state_digest(_gsomia(record))
    lapse = effective(_bare(), acts[:1])
    assert _gsomia(lapse).end == LAPSE == _gsomia(load_scenario("lapse-2019")).end
    assert state_digest(_gsomia(lapse)) == state_digest(_gsomia(load_scenario("lapse-2019")))
    assert state_digest(_gsomia(lapse)) != state_digest(_gsomia(record))


def test_the_digest_ignores_ids_and_texts_but_not_instants_acts_or_parties() -> None:
    base = _gsomia(_bare())
    one = with_notes(base, [_act(EventKind.NOTICE, NOTICE_AT)])
    same = with_notes(base, [replace(_act(EventKind.NOTICE, NOTICE_AT), text="other words")])
    assert state_digest(one) == state_digest(same)
    later = with_notes(base, [_act(EventKind.NOTICE, NOTICE_AT + timedelta(microseconds=1))])
    other_party = with_notes(base, [_act(EventKind.NOTICE, NOTICE_AT, party="JPN")])
    digests = {state_digest(x) for x in (base, one, later, other_party)}
    assert len(digests) == 4


@pytest.mark.parametrize(
    ("events", "kind", "party", "at", "error", "message"),
    [
        ((), EventKind.NOTICE, "USA", NOTICE_AT, Denied, "USA is not a party"),
        ((), EventKind.SUSPEND, "KOR", SUSPEND_AT, Conflict, "no notice is in effect"),
        ((), EventKind.WITHDRAW, "KOR", SUSPEND_AT, Conflict, "no notice is in effect"),
        ((EventKind.NOTICE,), EventKind.SUSPEND, "JPN", SUSPEND_AT, Denied, "only KOR"),
        ((EventKind.NOTICE,), EventKind.WITHDRAW, "JPN", SUSPEND_AT, Denied, "only KOR"),
        ((EventKind.NOTICE,), EventKind.NOTICE, "JPN", SUSPEND_AT, Conflict, "in effect already"),
        ((EventKind.NOTICE,), EventKind.SUSPEND, "KOR", LAPSE, Conflict, "ended at 2019-11-23"),
        (
            (EventKind.NOTICE,),
            EventKind.SUSPEND,
            "KOR",
            NOTICE_AT,
            Conflict,
            "does not come after its latest event",
        ),
        (
            (EventKind.NOTICE,),
            EventKind.SUSPEND,
            "KOR",
            NOTICE_AT - timedelta(days=1),
            Conflict,
            "no notice is in effect at 2019-08-22",
        ),
        (
            (),
            EventKind.NOTICE,
            "KOR",
            datetime(2016, 1, 1, tzinfo=KST),
            Conflict,
            "not yet in force",
        ),
    ],
)
def test_acts_not_valid_at_that_point_are_refused(  # noqa: PLR0917 - the cases
    events: tuple[EventKind, ...],
    kind: EventKind,
    party: str,
    at: datetime,
    error: type[Exception],
    message: str,
) -> None:
    agreement = with_notes(_gsomia(_bare()), [_act(k, NOTICE_AT) for k in events])
    with pytest.raises(error, match=message):
        check_act(agreement, kind, party, at)


def test_an_indefinite_agreement_takes_no_notice() -> None:
    tisa = _bare().agreement("tisa-2014")
    with pytest.raises(Conflict, match="has no term"):
        check_act(tisa, EventKind.NOTICE, "KOR", NOTICE_AT)


def test_a_suspended_notice_may_be_withdrawn_but_not_suspended_again() -> None:
    suspended = with_notes(
        _gsomia(_bare()),
        [_act(EventKind.NOTICE, NOTICE_AT), _act(EventKind.SUSPEND, SUSPEND_AT)],
    )
    check_act(suspended, EventKind.WITHDRAW, "KOR", WITHDRAW_AT)
    with pytest.raises(Conflict, match="suspended already"):
        check_act(suspended, EventKind.SUSPEND, "KOR", WITHDRAW_AT)


def _label() -> Label:
    return Label(
        id="report-1",
        originator="KOR",
        classification="II",
        releasable_to=("JPN", "USA"),
        topics=("dprk.missile",),
    )


def test_a_disputed_agreement_allows_no_release_and_says_why() -> None:
    at = datetime(2019, 9, 1, tzinfo=KST)
    live = effective(_bare(), [_act(EventKind.NOTICE, NOTICE_AT)])
    assert decide(live, _label(), holder="KOR", recipient="JPN", at=at).allowed
    dispute = "KOR and JPN disagree about its state: JPN does not hold KOR's notice"
    disputed = effective(_bare(), [_act(EventKind.NOTICE, NOTICE_AT)], {GSOMIA: dispute})
    decision = decide(disputed, _label(), holder="KOR", recipient="JPN", at=at)
    assert not decision.allowed
    assert any(dispute in reason for reason in decision.reasons)
    assert decide(disputed, _label(), holder="KOR", recipient="USA", at=at).allowed


@given(st.lists(st.sampled_from(list(EventKind)), max_size=6), st.integers(0, 400))
def test_valid_acts_keep_the_history_in_order_and_never_after_the_end(
    kinds: list[EventKind], step_days: int
) -> None:
    agreement = _gsomia(_bare())
    at = NOTICE_AT
    for kind in kinds:
        try:
            check_act(agreement, kind, "KOR", at)
        except (Conflict, Denied):
            at += timedelta(days=step_days)
            continue
        assert agreement.in_force(at)
        agreement = with_notes(agreement, [_act(kind, at)])
        assert [e.at for e in agreement.events] == sorted(e.at for e in agreement.events)
        at += timedelta(days=step_days)


def test_the_digest_covers_the_agreements_terms() -> None:
    gsomia = _gsomia(_bare())
    base = state_digest(gsomia)
    variants = [
        replace(gsomia, start=gsomia.start.replace(tzinfo=UTC)),  # 9 hours apart
        replace(gsomia, notice_days=60),
        replace(gsomia, term_years=2),
        replace(gsomia, hub="USA"),
        replace(gsomia, scope=("dprk",)),
    ]
    assert all(state_digest(v) != base for v in variants)


def test_an_agreement_holds_at_most_as_many_events_as_a_scenario_file() -> None:
    gsomia = _gsomia(_bare())
    full = replace(
        gsomia,
        events=tuple(
            _act(
                EventKind.NOTICE if i % 2 == 0 else EventKind.WITHDRAW,
                NOTICE_AT + timedelta(minutes=i),
            ).event()
            for i in range(MAX_EVENTS)  # given and withdrawn, 128 times
        ),
    )
    with pytest.raises(Conflict, match=f"holds {MAX_EVENTS} events already"):
        check_act(full, EventKind.NOTICE, "KOR", WITHDRAW_AT + timedelta(days=1))


@pytest.mark.parametrize("hidden", ["\u202e", "\u2066", "\x7f", "\x85", "\x1b"])
def test_a_notes_text_hides_nothing_from_its_reader(hidden: str) -> None:
    assert check_text("line one\nline\ttwo", "text") == "line one\nline\ttwo"
    with pytest.raises(BadInput, match="control characters"):
        check_text(f"notice{hidden}txet", "text")
