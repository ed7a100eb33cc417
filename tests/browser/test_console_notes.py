"""The Agreements page live, in a real browser against three real nodes on a simulated clock
that starts at 2019-08-23T12:00+09:00 (the instant of KOR's notice in the record), on the record
without the Japan-ROK GSOMIA's 2019 and 2023 events: KOR's authority gives the notice through
the page after reading its consequence; JPN's console shows the note received, with the end
2019-11-23T00:00+09:00 and its countdown, and KOR's the receipt from JPN. An analyst is offered
no act."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import console_url, sign_in, wait_until
from tests.integration.nodes import GSOMIA, NodeProc
from tests.integration.sse import tune
from tests.unit.console.test_notes_page import NOTICE_AT, live_nodes

NOTE_TEXT = "Written notice of termination, delivered during the 2019 trade dispute"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, NodeProc]]:
    """KOR, JPN and USA on the live-notes scenario, their scenario clocks at NOTICE_AT now,
    running at the wall clock's pace."""
    wall = datetime.now(UTC).isoformat()
    sim = ("--sim-start", NOTICE_AT.isoformat(), "--sim-wall", wall, "--sim-speed", "1")
    procs = {
        party: replace(proc, serve_args=(*proc.serve_args, *sim))
        for party, proc in live_nodes(tmp_path_factory.mktemp("notes")).items()
    }
    started: list[NodeProc] = []
    try:
        for proc in procs.values():
            tune(proc, cosign_interval=0)
            proc.start()
            started.append(proc)
        yield procs
    finally:
        for proc in started:
            proc.stop()


def agreements(context: BrowserContext, node: NodeProc, user: str) -> Page:
    page = context.new_page()
    sign_in(page, node, user, with_name=True)
    page.goto(console_url(node, "/agreements"))
    return page


def test_an_analyst_is_offered_no_act(context: BrowserContext, live: dict[str, NodeProc]) -> None:
    page = agreements(context, live["KOR"], "analyst")
    card = page.locator(f"#live-{GSOMIA}")
    expect(card).to_be_visible()
    expect(card.locator(".live-anniversary")).to_have_text("2019-11-23T00:00+09:00")
    expect(page.get_by_role("button", name="Give notice")).to_have_count(0)
    expect(page.get_by_role("button", name="Suspend")).to_have_count(0)


def test_kor_gives_notice_and_jpn_shows_it_received(
    context: BrowserContext, live: dict[str, NodeProc]
) -> None:
    kor, jpn = live["KOR"], live["JPN"]
    page = agreements(context, kor, "authority")
    card = page.locator(f"#live-{GSOMIA}")
    expect(card.locator(".live-ends")).to_have_text("not scheduled")
    # only the notice is valid now: no notice is in effect to suspend or withdraw
    expect(card.get_by_role("button", name="Suspend")).to_have_count(0)
    card.get_by_role("button", name=f"Give notice: notice of termination of {GSOMIA}").click()
    expect(page.get_by_role("heading", name=f"Give notice: {GSOMIA}")).to_be_visible()
    expect(page.locator("#consequence-end")).to_contain_text("2019-11-23T00:00+09:00")
    expect(page.locator("#consequence")).to_contain_text("items went KOR→JPN directly")
    page.get_by_label("Text of the note (optional)").fill(NOTE_TEXT)
    page.get_by_role("button", name="Confirm: give notice").click()
    expect(page.locator("#done")).to_contain_text("Notice of termination given")
    card = page.locator(f"#live-{GSOMIA}")
    expect(card.locator(".live-ends")).to_contain_text("2019-11-23T00:00+09:00")
    sent = card.locator(".held-note[data-direction='sent']")
    expect(sent).to_have_count(1)
    expect(sent).to_contain_text(NOTE_TEXT)
    # now the notice is in effect: KOR may suspend or withdraw it, not give another
    expect(card.get_by_role("button", name="Give notice")).to_have_count(0)
    expect(card.get_by_role("button", name="Suspend")).to_have_count(1)

    # JPN: the note received, the end it brings, for every user
    other = agreements(context, jpn, "analyst")

    def received() -> bool:
        other.reload()
        return other.locator(f"#live-{GSOMIA} .held-note[data-direction='received']").count() == 1

    wait_until(received, timeout=30, what="the note at JPN")
    jcard = other.locator(f"#live-{GSOMIA}")
    note = jcard.locator(".held-note")
    expect(note).to_contain_text("KOR")
    expect(note).to_contain_text(NOTE_TEXT)
    expect(note.locator(".receipt[data-by='JPN']")).to_contain_text("note received by JPN")
    expect(jcard.locator(".live-ends")).to_have_attribute("data-ends", "2019-11-23T00:00+09:00")
    expect(jcard.locator(".live-ends")).to_contain_text("in 91 days")

    # KOR: JPN's signed receipt came back
    def receipted() -> bool:
        page.reload()
        return page.locator(f"#live-{GSOMIA} .receipt[data-by='JPN']").count() == 1

    wait_until(receipted, timeout=30, what="JPN's receipt at KOR")
    expect(page.locator(f"#live-{GSOMIA} .receipt[data-by='JPN']")).to_contain_text(
        "note received by JPN"
    )


def test_an_act_not_valid_now_is_refused_in_plain_words(
    context: BrowserContext, live: dict[str, NodeProc]
) -> None:
    page = agreements(context, live["JPN"], "authority")
    page.goto(console_url(live["JPN"], f"/agreements/act?agreement={GSOMIA}&event=suspend"))
    # before KOR's notice arrives: none in effect (409); after: only KOR may suspend it (403)
    expect(
        page.get_by_role("heading", name="Conflict").or_(page.get_by_role("heading", name="Denied"))
    ).to_be_visible()
    expect(page.locator("p.error")).to_contain_text(GSOMIA)
