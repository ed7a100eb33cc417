"""The live part of the console's Agreements page on in-process nodes: each agreement's state,
end and countdown, the notes held, the acts an authority may make (and nobody else), the
confirmation's consequence in plain words, and the page rendered with hostile note text
escaped. The nodes run the record of ``historical`` without the 2019 and 2023 events of the
Japan–ROK GSOMIA (``live_scenario``: they are made live, as notes)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from gsomia.app.boot import load_config, open_node
from gsomia.clock import FixedClock
from gsomia.console import agreementnotes
from gsomia.console.session import make_env
from gsomia.domain.agreements import EventKind
from gsomia.errors import BadInput, Conflict, Denied
from gsomia.node.config import User
from gsomia.node.service import Node
from tests.integration.nodes import GSOMIA, PASSPHRASE, NodeProc, live_scenario, make_nodes

KST = timezone(timedelta(hours=9))
NOTICE_AT = datetime(2019, 8, 23, 12, 0, tzinfo=KST)
HOSTILE = "<script>alert(1)</script>"


def live_nodes(root: Path, parties: tuple[str, ...] = ("KOR", "JPN", "USA")) -> dict[str, NodeProc]:
    """``make_nodes`` on the live scenario (each node has an ``authority`` user)."""
    root.mkdir(parents=True, exist_ok=True)
    return make_nodes(root, parties, scenario=live_scenario(root))


def user(node: Node, name: str) -> User:
    return next(u for u in node.config.users if u.name == name)


@pytest.fixture
def kor(tmp_path: Path) -> Node:
    procs = live_nodes(tmp_path)
    return open_node(
        load_config(procs["KOR"].config),
        clock=FixedClock(NOTICE_AT),
        passphrase=PASSPHRASE.encode(),
    )


def cards(view: dict[str, object]) -> list[agreementnotes.LiveAgreement]:
    live = view["live"]
    assert isinstance(live, list)
    return [a for a in live if isinstance(a, agreementnotes.LiveAgreement)]


def card(view: dict[str, object], agreement: str) -> agreementnotes.LiveAgreement:
    return next(a for a in cards(view) if a.id == agreement)


def test_every_user_sees_the_state_and_only_an_authority_the_acts(kor: Node) -> None:
    analyst = agreementnotes.live_view(kor, user(kor, "analyst"))
    gsomia = card(analyst, GSOMIA)
    assert gsomia.status.state.value == "in_force"
    assert gsomia.ends == ""  # no notice yet: renewed each year
    assert gsomia.anniversary == "2019-11-23T00:00+09:00"
    assert gsomia.deadline == "2019-08-25T00:00+09:00"
    assert gsomia.deadline_in == "in 1 day 12 hours"
    assert gsomia.acts == ()
    assert gsomia.notes == ()
    assert gsomia.dispute == ""
    ids = {a.id for a in cards(analyst)}
    assert GSOMIA in ids
    assert "jpn-usa-gsomia-2007" not in ids  # KOR is no party to it
    authority = agreementnotes.live_view(kor, user(kor, "authority"))
    assert [a.kind for a in card(authority, GSOMIA).acts] == ["notice"]


def test_the_confirmation_states_the_consequence_and_refuses_others(kor: Node) -> None:
    found = agreementnotes.confirmation_view(kor, user(kor, "authority"), GSOMIA, "notice")
    assert found.button == "Give notice"
    assert found.ends == "2019-11-23T00:00+09:00"
    assert "the agreement will end at 2019-11-23T00:00:00+09:00" in found.consequence
    with pytest.raises(Denied, match=r"^confirm an act: only an authority user"):
        agreementnotes.confirmation_view(kor, user(kor, "admin"), GSOMIA, "notice")
    with pytest.raises(Conflict, match=r"no notice is in effect"):
        agreementnotes.confirmation_view(kor, user(kor, "authority"), GSOMIA, "suspend")
    with pytest.raises(BadInput, match=r"^event: unknown act 'lapse'"):
        agreementnotes.confirmation_view(kor, user(kor, "authority"), GSOMIA, "lapse")


def test_a_note_given_shows_its_end_countdown_and_text_escaped(kor: Node) -> None:
    authority = user(kor, "authority")
    agreementnotes.give_note(kor, authority, GSOMIA, "notice", HOSTILE)
    view = agreementnotes.live_view(kor, user(kor, "analyst"))
    gsomia = card(view, GSOMIA)
    assert gsomia.ends == "2019-11-23T00:00+09:00"
    assert gsomia.ends_in == "in 91 days 12 hours"
    [note] = gsomia.notes
    assert (note["event"], note["party"], note["direction"]) == ("notice", "KOR", "sent")
    kor.clock = FixedClock(NOTICE_AT + timedelta(hours=1))  # an act comes after the notice
    assert [a.kind for a in card(agreementnotes.live_view(kor, authority), GSOMIA).acts] == [
        "suspend",
        "withdraw",
    ]
    html = make_env().get_template("_agreements_live.html").render(prefix="/console", **view)
    assert HOSTILE not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'data-ends="2019-11-23T00:00+09:00"' in html
    assert "Give notice" not in html
    with pytest.raises(Denied, match=r"authority"):
        agreementnotes.give_note(kor, user(kor, "analyst"), GSOMIA, "suspend", "")


def test_acts_offered_follow_check_act(kor: Node) -> None:
    agreement = kor.agreed_scenario.agreement(GSOMIA)
    assert agreementnotes.offered_acts(agreement, "KOR", NOTICE_AT) == [EventKind.NOTICE]
    assert agreementnotes.offered_acts(agreement, "USA", NOTICE_AT) == []


def test_countdown_and_plain_instants() -> None:
    assert agreementnotes.plain_instant(NOTICE_AT) == "2019-08-23T12:00+09:00"
    assert agreementnotes.plain_instant(NOTICE_AT.replace(second=5)) == "2019-08-23T12:00:05+09:00"
    shown = agreementnotes.plain_instant(NOTICE_AT.replace(second=5, microsecond=981761))
    assert shown == "2019-08-23T12:00:05+09:00"
    assert agreementnotes.countdown(NOTICE_AT, NOTICE_AT + timedelta(minutes=5)) == "in 5 minutes"
    assert agreementnotes.countdown(NOTICE_AT, NOTICE_AT - timedelta(days=1)) == "1 day 0 hours ago"


def test_a_disagreement_is_shown_first_with_no_release_under_it(kor: Node) -> None:
    view = agreementnotes.live_view(kor, user(kor, "analyst"))
    sentence = f"JPN computes another state of {GSOMIA} since {HOSTILE}"
    disputed = [replace(a, dispute=sentence) if a.id == GSOMIA else a for a in cards(view)]
    html = (
        make_env()
        .get_template("_agreements_live.html")
        .render(prefix="/console", **{**view, "live": disputed})
    )
    alert = html[html.index('role="alert"') : html.index("</div>")]
    assert f'id="dispute-{GSOMIA}"' in html
    assert "the parties disagree about this agreement" in alert
    assert agreementnotes.NO_RELEASE in alert
    assert HOSTILE not in html
    assert html.index('role="alert"') < html.index(f'id="live-{GSOMIA}"')
    assert 'data-agreed="no"' in html
    assert "disputed: no release under it" in html
