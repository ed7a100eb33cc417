"""The console's agreements timeline, "why not?", consents, reports and the log's in-browser proof
verification, in a real browser against three live nodes running scenario ``lapse-2019`` (where
the Japan–ROK GSOMIA ended on 2019-11-23, so KOR may not release to JPN directly)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.integration.nodes import NodeProc, make_nodes, report
from tests.integration.sse import tune

from .conftest import DESKTOP, console_url, publish, screenshot, sign_in, wait_until

CREATED = "2026-01-01T00:00:00.000Z"
PUSH_TIMEOUT = 20.0  # s: a release travels through the outbox to a peer
LAPSE_END = "2019-11-23T00:00:00+09:00"
GSOMIA = "jpn-kor-gsomia-2016"


def item_id(n: int) -> str:
    return f"report--00000000-0000-4000-8000-{n:012d}/{CREATED}"


@pytest.fixture(scope="module")
def lapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, NodeProc]]:
    """KOR, JPN and USA nodes enforcing ``lapse-2019``, co-signing each other every second."""
    found = make_nodes(tmp_path_factory.mktemp("lapse"), scenario="lapse-2019")
    for node in found.values():
        tune(node, event_heartbeat=1, cosign_interval=1)
    started: list[NodeProc] = []
    try:
        for node in found.values():
            node.start()
            started.append(node)
        yield found
    finally:
        for node in started:
            node.stop()


def holds(node: NodeProc, n: int) -> bool:
    """Whether ``node`` holds report ``n`` (asked over the native API, as its admin)."""
    r = httpx.get(f"{node.url}/native/v1/items/{item_id(n)}", auth=node.auth("admin"), timeout=10)
    return r.status_code == 200


def provable(node: NodeProc, n: int) -> bool:
    """Whether a signed checkpoint of ``node``'s log covers the arrival of report ``n``."""
    r = httpx.get(
        f"{node.url}/native/v1/log/proof/inclusion",
        params={"item": item_id(n)},
        auth=node.auth("analyst"),
        timeout=10,
    )
    return r.status_code == 200


def csrf_of(page: Page) -> str:
    return page.locator("form[action$='/logout'] input[name=csrf]").input_value()


def explain(page: Page, node: NodeProc, n: int, party: str) -> None:
    page.goto(console_url(node, "/why-not"))
    page.get_by_label("Item", exact=True).select_option(item_id(n))
    page.get_by_label("Recipient").select_option(party)
    page.get_by_role("button", name="Explain").click()


def test_why_not_explains_an_allowed_and_a_denied_release_in_plain_words(
    lapse: dict[str, NodeProc], signed_in: Callable[..., Page]
) -> None:
    kor = lapse["KOR"]
    publish(kor, report(101, "KOR", releasable_to=("USA",)))
    page = signed_in(kor, "analyst")
    explain(page, kor, 101, "USA")
    expect(page.locator("#decision")).to_have_attribute("data-decision", "allow")
    expect(page.locator("#decision-heading")).to_contain_text(
        "Allowed: KOR may release this item to USA"
    )
    expect(page.locator("table[data-agreement='kor-usa-security-1987']")).to_have_attribute(
        "data-allows", "yes"
    )
    # the same item asked for JPN: releasable to USA only, and the GSOMIA has lapsed
    explain(page, kor, 101, "JPN")
    expect(page.locator("#decision")).to_have_attribute("data-decision", "deny")
    expect(page.locator("#decision-heading")).to_contain_text(
        "Denied: KOR may not release this item to JPN"
    )
    gsomia = page.locator(f"table[data-agreement='{GSOMIA}']")
    releasable = gsomia.locator("tr[data-rule='6']")
    expect(releasable).to_have_class("rule-fails")
    expect(releasable).to_contain_text(
        "Does the item's label make it releasable to the recipient? No: JPN is not among"
    )
    in_force = gsomia.locator("tr[data-rule='2']")
    expect(in_force).to_contain_text("Is the agreement in force at that instant? No")
    expect(in_force).to_contain_text(f"ended at {LAPSE_END}")
    screenshot(page, "why-not.png")


def test_a_consent_requested_at_usa_and_granted_at_kor_brings_the_item_to_jpn(
    lapse: dict[str, NodeProc], context: BrowserContext, signed_in: Callable[..., Page]
) -> None:
    kor, jpn, usa = lapse["KOR"], lapse["JPN"], lapse["USA"]
    publish(kor, report(102, "KOR", releasable_to=("USA", "JPN"), description="via USA"))
    wait_until(lambda: holds(usa, 102), PUSH_TIMEOUT, "USA to receive report 102")
    assert not holds(jpn, 102)  # KOR may not release to JPN: the GSOMIA has lapsed
    # USA's admin asks KOR's consent to pass it on to JPN
    at_usa = signed_in(usa, "admin")
    at_usa.goto(console_url(usa, "/consents"))
    at_usa.get_by_label("Item (received from another party)").select_option(item_id(102))
    at_usa.get_by_label("Recipient").select_option("JPN")
    at_usa.get_by_role("button", name="Request consent").click()
    expect(at_usa.locator("#done")).to_contain_text("Consent requested")
    sent = at_usa.locator("article.consent", has_text=item_id(102))
    expect(sent).to_have_attribute("data-status", "pending")
    # a KOR analyst sees no requests and may not answer one (403)
    analyst = signed_in(kor, "analyst")
    analyst.goto(console_url(kor, "/consents"))
    expect(analyst.locator("#read-only")).to_be_visible()
    refused = analyst.request.post(
        console_url(kor, "/consents/grant"),
        form={"csrf": csrf_of(analyst), "request": "0" * 32},
        max_redirects=0,
    )
    assert refused.status == 403
    # KOR's admin grants it
    at_kor = signed_in(kor, "admin")

    def request_arrived() -> bool:
        at_kor.goto(console_url(kor, "/consents"))
        return at_kor.locator("article.consent", has_text=item_id(102)).count() == 1

    wait_until(request_arrived, PUSH_TIMEOUT, "the request to reach KOR")
    card = at_kor.locator("article.consent", has_text=item_id(102))
    expect(card).to_contain_text("USA asks to pass")
    card.get_by_role("button", name="Grant").click()
    expect(at_kor.locator("#done")).to_contain_text("Consent granted")
    expect(at_kor.locator("article.consent", has_text=item_id(102))).to_have_attribute(
        "data-status", "granted"
    )
    # the consent travels to USA, which releases the item to JPN; it shows in JPN's feed
    at_jpn = signed_in(jpn, "analyst")

    def in_jpn_feed() -> bool:
        at_jpn.goto(console_url(jpn, "/"))
        return at_jpn.locator("#feed", has_text="Report 102").count() == 1

    wait_until(in_jpn_feed, PUSH_TIMEOUT, "report 102 in JPN's feed")
    at_usa.goto(console_url(usa, "/consents"))
    expect(at_usa.locator("article.consent", has_text=item_id(102))).to_have_attribute(
        "data-status", "granted"
    )
    # and "why not?" at USA now finds KOR's consent
    explain(at_usa, usa, 102, "JPN")
    expect(at_usa.locator("#decision")).to_have_attribute("data-decision", "allow")


def chart_ends(page: Page) -> list[str]:
    return [
        m.get_attribute("data-at") or ""
        for m in page.locator("#timeline-chart g[data-kind='end']").all()
    ]


def test_the_timeline_changes_with_the_viewed_scenario_and_the_cursor(
    lapse: dict[str, NodeProc], signed_in: Callable[..., Page]
) -> None:
    kor = lapse["KOR"]
    page = signed_in(kor, "analyst")
    page.goto(console_url(kor, "/agreements"))
    expect(page.locator("#scenario-note")).to_contain_text("the scenario this node enforces")
    assert chart_ends(page) == [LAPSE_END]
    # the what-if view of the historical record: no end, and enforcement is unchanged
    page.get_by_label("Scenario", exact=True).select_option("historical")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#timeline-chart")).to_have_attribute("data-scenario", "historical")
    expect(page.locator("#scenario-note")).to_contain_text("keeps enforcing")
    expect(page.locator("#scenario-note")).to_contain_text("lapse-2019")
    assert chart_ends(page) == []
    expect(page.locator("#timeline-chart g[data-kind='suspend']")).to_have_count(1)
    # back to lapse-2019 through the no-script form, with the cursor in 2020
    page.get_by_label("Scenario", exact=True).select_option("lapse-2019")
    page.get_by_label("Instant (ISO 8601 with a UTC offset)").fill("2020-06-01T00:00:00+09:00")
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    assert chart_ends(page) == [LAPSE_END]
    row = page.locator(f"#state-table tr[data-agreement='{GSOMIA}']")
    expect(row).to_have_attribute("data-state", "ended")
    # the range input moves the cursor (keyboard), and the page follows on release
    slider = page.get_by_label("Move the cursor through time")
    # the script shows the slider once it has bound it: until then a key press goes nowhere
    expect(slider).to_be_visible()
    before = page.locator("#cursor-line").get_attribute("x1")
    slider.focus()
    with page.expect_navigation():
        page.keyboard.press("End")
    assert page.locator("#cursor-line").get_attribute("x1") != before
    expect(page).to_have_url(re.compile(r"scenario=lapse-2019&at=20\d\d-"))
    expect(row).to_have_attribute("data-state", "ended")
    page.goto(console_url(kor, "/agreements?scenario=historical&at=2020-06-01T00:00:00%2B09:00"))
    expect(row).to_have_attribute("data-state", "in_force")
    screenshot(page, "agreements.png")


BROKEN = 'format = 1\nname = "broken"\ntitle = "No parties"\n'
WHAT_IF = """format = 1
extends = "historical"
name = "what-if"
title = "What if the GSOMIA had never been suspended"
drop_events = ["kor-suspends-2019", "kor-withdraws-2023"]
"""


def test_an_uploaded_scenario_is_checked_and_only_viewed(
    lapse: dict[str, NodeProc], browser: Browser, signed_in: Callable[..., Page]
) -> None:
    kor = lapse["KOR"]
    analyst = signed_in(kor, "analyst")
    analyst.goto(console_url(kor, "/agreements"))
    expect(analyst.locator("#upload-form")).to_have_count(0)  # admins only
    page = signed_in(kor, "admin")
    page.goto(console_url(kor, "/agreements"))
    page.get_by_label("File name").fill("broken.toml")
    page.get_by_label("Scenario (TOML)").fill(BROKEN)
    with page.expect_response(lambda r: r.url.endswith("/agreements/scenario")) as answer:
        page.get_by_role("button", name="Check and view").click()
    assert answer.value.status == 422
    expect(page.locator("#page-error")).to_have_text("upload broken.toml: missing key 'parties'")
    page.get_by_label("File name").fill("bad-extends.toml")
    page.get_by_label("Scenario (TOML)").fill('extends = "/etc/passwd"\n')
    page.get_by_role("button", name="Check and view").click()
    expect(page.locator("#page-error")).to_contain_text(
        "upload bad-extends.toml.extends: '/etc/passwd' is not a built-in scenario"
    )
    # a valid one is charted as a what-if view
    page.get_by_label("File name").fill("what-if.toml")
    page.get_by_label("Scenario (TOML)").fill(WHAT_IF)
    page.get_by_role("button", name="Check and view").click()
    expect(page.locator("#timeline-chart")).to_have_attribute("data-scenario", "what-if")
    expect(page.locator("#scenario-note")).to_contain_text("keeps enforcing")
    assert chart_ends(page) == [LAPSE_END]
    # another session (another browser profile) does not see it
    other = browser.new_context(viewport=DESKTOP)
    try:
        elsewhere = other.new_page()
        sign_in(elsewhere, kor, "admin")
        elsewhere.goto(console_url(kor, "/agreements"))
        choices = elsewhere.get_by_label("Scenario", exact=True).locator("option")
        expect(choices).to_have_count(3)
        expect(choices.filter(has_text="what-if")).to_have_count(0)
    finally:
        other.close()


def test_an_inclusion_proof_is_verified_in_the_browser_and_a_tampered_one_fails(
    lapse: dict[str, NodeProc], signed_in: Callable[..., Page]
) -> None:
    kor, usa = lapse["KOR"], lapse["USA"]
    publish(kor, report(103, "KOR", releasable_to=("USA",)))
    wait_until(lambda: holds(usa, 103), PUSH_TIMEOUT, "USA to receive report 103")
    # a read never signs: the proof waits for USA's next scheduled checkpoint (every second)
    wait_until(lambda: provable(usa, 103), PUSH_TIMEOUT, "a checkpoint of USA over report 103")
    page = signed_in(usa, "analyst")
    page.goto(console_url(usa, "/log"))
    expect(page.locator("#latest-note")).to_contain_text("gsomia/USA")
    page.get_by_label("Item", exact=True).select_option(item_id(103))
    page.get_by_role("button", name="Fetch its inclusion proof").click()
    browser_verdict = page.locator("#verify-result")
    expect(browser_verdict).to_have_attribute("data-verdict", "verified")
    expect(browser_verdict).to_contain_text("Verified in this browser")
    expect(page.locator("#server-result")).to_contain_text("Verified by USA's server")
    doc = json.loads(page.locator("#proof-doc").input_value())
    assert doc["type"] == "release.received"
    assert doc["item"] == item_id(103)
    # one byte of the entry changed: its hash is no longer the leaf
    box = page.get_by_label("The proof (you may edit it to see a tampered proof fail)")
    tampered = {**doc, "entry": doc["entry"].replace("release.received", "release.receivee")}
    box.fill(json.dumps(tampered))
    page.get_by_role("button", name="Verify in this browser").click()
    expect(browser_verdict).to_have_attribute("data-verdict", "failed")
    expect(browser_verdict).to_contain_text("the entry's hash is not the proof's leaf hash")
    # the leaf hash and the entry agree, but the index is another: the root does not match
    moved = {**doc, "proof": {**doc["proof"], "index": doc["proof"]["index"] ^ 1}}
    box.fill(json.dumps(moved))
    page.get_by_role("button", name="Verify in this browser").click()
    expect(browser_verdict).to_have_attribute("data-verdict", "failed")
    expect(browser_verdict).to_contain_text("Verification failed in this browser")
    # the server's verdict on the same tampered proof
    page.get_by_role("button", name="Check on the server").click()
    expect(page.locator("#server-result")).to_have_attribute("data-verdict", "failed")
    expect(page.locator("#server-result")).to_contain_text("Verification failed on the server")
    expect(page.locator("#verify-result")).to_have_attribute("data-verdict", "failed")


def test_a_loss_report_reaches_the_originator_and_is_acknowledged(
    lapse: dict[str, NodeProc], signed_in: Callable[..., Page]
) -> None:
    kor, usa = lapse["KOR"], lapse["USA"]
    publish(kor, report(104, "KOR", releasable_to=("USA",)))
    wait_until(lambda: holds(usa, 104), PUSH_TIMEOUT, "USA to receive report 104")
    page = signed_in(usa, "analyst")
    page.goto(console_url(usa, "/reports"))
    page.get_by_label("Item (received from another party)").select_option(item_id(104))
    page.get_by_label("Kind").select_option("suspected_loss")
    page.get_by_label("What happened").fill("<b>laptop</b> left on a train")
    page.get_by_role("button", name="File the report").click()
    expect(page.locator("#done")).to_contain_text("Report filed")
    mine = page.locator("li.report", has_text=item_id(104))
    expect(mine).to_contain_text("<b>laptop</b> left on a train")  # shown as text

    def acknowledged() -> bool:
        page.goto(console_url(usa, "/reports"))
        return page.locator("li.report .ack", has_text="Acknowledged by KOR").count() == 1

    wait_until(acknowledged, PUSH_TIMEOUT, "KOR's acknowledgement")
    at_kor = signed_in(kor, "analyst")
    at_kor.goto(console_url(kor, "/reports"))
    received = at_kor.locator("li.report", has_text=f"{item_id(104)}, from USA")
    expect(received).to_contain_text("suspected loss")


def test_a_classification_notice_reaches_the_holder_and_non_admins_are_refused(
    lapse: dict[str, NodeProc], signed_in: Callable[..., Page]
) -> None:
    kor, usa = lapse["KOR"], lapse["USA"]
    publish(kor, report(105, "KOR", releasable_to=("USA",)))
    wait_until(lambda: holds(usa, 105), PUSH_TIMEOUT, "USA to receive report 105")
    analyst = signed_in(kor, "analyst")
    analyst.goto(console_url(kor, "/notices"))
    expect(analyst.locator("#reclassify-form")).to_have_count(0)
    refused = analyst.request.post(
        console_url(kor, "/notices"),
        form={"csrf": csrf_of(analyst), "item": item_id(105), "classification": "III"},
        max_redirects=0,
    )
    assert refused.status == 403
    admin = signed_in(kor, "admin")
    admin.goto(console_url(kor, "/notices"))
    admin.get_by_label("Item", exact=True).select_option(item_id(105))
    admin.get_by_label("New classification").select_option("III")
    admin.get_by_role("button", name="Change and notify").click()
    expect(admin.locator("#done")).to_contain_text("Classification changed")
    at_usa = signed_in(usa, "analyst")

    def noticed() -> bool:
        at_usa.goto(console_url(usa, "/notices"))
        return at_usa.locator("li.notice", has_text=item_id(105)).count() == 1

    wait_until(noticed, PUSH_TIMEOUT, "the notice at USA")
    expect(at_usa.locator("li.notice", has_text=item_id(105))).to_contain_text("KOR reclassified")


HOSTILE = '<img src=x onerror="window.pwned=1">'


def test_the_pages_show_hostile_names_as_text_with_the_csp(
    lapse: dict[str, NodeProc], signed_in: Callable[..., Page]
) -> None:
    kor = lapse["KOR"]
    envelope = report(106, "KOR", releasable_to=("USA",))
    envelope["objects"][-1]["name"] = HOSTILE
    publish(kor, envelope)
    page = signed_in(kor, "admin")
    for path in ("/agreements", "/why-not", "/consents", "/notices", "/reports", "/log"):
        response = page.goto(console_url(kor, path))
        assert response is not None
        assert response.status == 200, path
        assert response.headers["content-security-policy"].startswith("default-src 'none'")
    page.goto(console_url(kor, "/why-not"))
    option = page.get_by_label("Item", exact=True).locator("option", has_text=HOSTILE)
    expect(option).to_have_count(1)
    assert page.evaluate("() => window.pwned") is None
    no_session = httpx.get(console_url(kor, "/why-not"), timeout=10)
    assert no_session.status_code == 303
    assert no_session.headers["location"].endswith("/console/login")
