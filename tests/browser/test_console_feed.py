"""The console in a real browser: sign-in, the live feed, an item's markings, chain and map,
hostile content shown as text, the security headers, CSRF, and the keyboard."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, BrowserContext, Page, expect

from gsomia.cli.demo import launch_report as demo_report
from gsomia.cli.demo import remaining_launches
from gsomia.domain.replay import replay
from gsomia.node.stix import GSOMIA_LAUNCH_EXTENSION
from gsomia.scenarios import load_scenario
from tests.integration.native_client import held_at
from tests.integration.nodes import NodeProc, report

from .conftest import (
    DESKTOP,
    NARROW,
    console_url,
    publish,
    screenshot,
    sign_in,
    wait_until,
)

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
LIVE_TIMEOUT = 20_000  # ms: KOR publishes, pushes to JPN, JPN's stream delivers
HOSTILE_SCRIPT = "<script>window.pwned=1</script>"
HOSTILE_IMG = '<img src=x onerror="window.pwned=2">'


def launch_report(
    n: int, *, description: str = "Launch detected", name: str | None = None
) -> dict[str, Any]:
    """A KOR report with gsomia's launch extension, as ``gsomia demo`` publishes them."""
    envelope = report(n, "KOR", description=description)
    obj = envelope["objects"][-1]
    obj["name"] = name or f"KOR: Hwasong-15 launch from Sunan ({n})"
    obj["labels"] = ["dprk-missile-launch"]
    obj["extensions"] = {GSOMIA_LAUNCH_EXTENSION: launch_block()}
    return envelope


def launch_block() -> dict[str, Any]:
    return {
        "extension_type": "property-extension",
        "missile": "Hwasong-15",
        "missile_type": "ICBM",
        "count": 1,
        "facility": "Sunan International Airport",
        "launch_point": [39.2, 125.67],
        "bearing_deg": 95.0,
        "apogee_km": 4475.0,
        "distance_km": 950.0,
        "predicted_impact": [40.4, 136.6],
    }


def test_sign_in_with_a_token_and_a_wrong_token_is_refused(
    context: BrowserContext, nodes: dict[str, NodeProc]
) -> None:
    jpn = nodes["JPN"]
    page = context.new_page()
    # not signed in: the feed sends the browser to the sign-in page
    page.goto(console_url(jpn, "/"))
    expect(page).to_have_url(console_url(jpn, "/login"))
    page.get_by_label("Token").fill("not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Unknown user or token.")
    expect(page).to_have_url(console_url(jpn, "/login"))
    assert 'reason="sign-in with an unknown user or token' in jpn.log.read_text(
        encoding="utf-8", errors="replace"
    )
    # the right token with the wrong name is refused too
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Token").fill(jpn.users["analyst"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Unknown user or token.")
    # name and token
    sign_in(page, jpn, "analyst", with_name=True)
    expect(page.locator(".who .user-name")).to_have_text("analyst")
    expect(page.locator(".who .clearance")).to_contain_text("JPN KIMITSU")
    expect(page.locator(".brand .party")).to_have_text("JPN")
    cookie = next(c for c in context.cookies() if c["name"] == "gsomia_JPN")
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/console/"
    # sign out: the session is gone, the feed asks to sign in again
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(console_url(jpn, "/login"))
    page.goto(console_url(jpn, "/"))
    expect(page).to_have_url(console_url(jpn, "/login"))


def test_a_report_published_at_kor_appears_live_at_jpn_with_its_markings_and_map(
    browser: Browser, signed_in: Callable[..., Page], nodes: dict[str, NodeProc]
) -> None:
    kor, jpn, usa = nodes["KOR"], nodes["JPN"], nodes["USA"]
    page = signed_in(jpn)
    expect(page.locator("#live-status")).to_contain_text("Live")
    # earlier items: one of JPN's own, one received from USA (CONFIDENTIAL)
    publish(jpn, report(6010, "JPN", description="Radar track handed over to JASDF"))
    publish(usa, report(6011, "USA", classification="CONFIDENTIAL", description="Debris survey"))
    own = page.locator("#feed li.entry", has_text="Report 6010")
    expect(own.locator(".banner-mine")).to_have_text(
        "JPN GOKUHI 極秘 — originated here", timeout=LIVE_TIMEOUT
    )
    expect(own.locator(".origin")).to_have_text("Originated here (JPN)")
    from_usa = page.locator("#feed li.entry", has_text="Report 6011")
    expect(from_usa.locator(".banner-mine")).to_have_text(
        "JPN HI 秘 — originator USA", timeout=LIVE_TIMEOUT
    )
    expect(from_usa.locator(".banner").first).to_have_text("USA CONFIDENTIAL // REL TO JPN, KOR")
    page.evaluate("window.notReloaded = true")
    name = "KOR: Hwasong-15 launch from Sunan (6001)"
    publish(kor, launch_report(6001, name=name))

    entry = page.locator("#feed li.entry", has_text=name)
    expect(entry).to_be_visible(timeout=LIVE_TIMEOUT)
    assert page.evaluate("window.notReloaded") is True  # arrived live, no reload
    expect(entry.locator(".banner").first).to_have_text("KOR II 군사II급비밀 // REL TO JPN, USA")
    expect(entry.locator(".banner-mine")).to_have_text("JPN GOKUHI 極秘 — originator KOR")
    expect(entry.locator(".banner").first).to_have_class(re.compile(r"\bmark-s\b"))
    expect(entry.locator(".origin")).to_have_text("Received from KOR")
    expect(entry.locator(".launch")).to_have_text(
        "Hwasong-15 (ICBM), apogee 4,475 km, range 950 km"
    )
    expect(entry.locator("time.local")).to_have_attribute("title", re.compile("KST.*JST.*UTC"))
    screenshot(page, "feed-jpn.png")

    # the feed after a reload shows it too, newest first
    page.reload()
    expect(page.locator("#feed li.entry", has_text=name)).to_be_visible()
    titles = page.locator("#feed li.entry .entry-title").all_text_contents()
    assert titles.index(name) < titles.index("Report 6011") < titles.index("Report 6010")

    page.locator("#feed li.entry", has_text=name).get_by_role("link").click()
    expect(page.locator("h1.item-title")).to_have_text(name)
    banners = page.locator(".item .banners")
    expect(banners).to_have_count(2)  # at the top and at the bottom, as documents are marked
    for i in range(2):
        expect(banners.nth(i).locator(".banner").first).to_have_text(
            "KOR II 군사II급비밀 // REL TO JPN, USA"
        )
        expect(banners.nth(i).locator(".banner-mine")).to_have_text(
            "JPN GOKUHI 極秘 — originator KOR"
        )
    chain = page.locator("#release-chain")
    expect(chain).to_contain_text("KOR originated the item")
    expect(chain).to_contain_text("KOR → JPN")
    expect(chain.locator("li", has_text="KOR → JPN")).to_contain_text("JPN GOKUHI 極秘")
    expect(chain.locator("li", has_text="KOR → JPN").locator(".agreement")).not_to_have_count(0)
    svg = page.locator("svg#launch-map")
    expect(svg).to_be_visible()
    expect(svg.locator(".land path")).not_to_have_count(0)
    expect(svg.locator("circle.launch-point")).to_have_count(1)
    expect(svg.locator("path.flight")).to_have_count(1)
    expect(svg.locator("circle.impact-area")).to_have_count(1)
    expect(svg.locator("text.map-label").first).to_have_text("ICBM")
    expect(svg.locator("text.map-label").nth(1)).to_have_text("950 km, apogee 4,475 km")
    expect(page.locator(".launch-summary")).to_contain_text("apogee 4,475 km")
    # the launch extension's fields, named for people; the extension is not repeated as JSON
    launch_data = page.locator("section[aria-labelledby=h-launch-data] dl")
    expect(launch_data.locator("dt", has_text="Missile").first).to_be_visible()
    expect(launch_data).to_contain_text("Sunan International Airport")
    expect(launch_data).not_to_contain_text("property-extension")
    expect(page.locator("main")).not_to_contain_text(GSOMIA_LAUNCH_EXTENSION)
    # the launch point is drawn where 39.2 N, 125.67 E falls on the map
    cx = float(svg.locator("circle.launch-point").get_attribute("cx") or "nan")
    cy = float(svg.locator("circle.launch-point").get_attribute("cy") or "nan")
    assert 100 < cx < 200
    assert 150 < cy < 250
    screenshot(page, "item-kor-report.png")

    narrow = browser.new_context(viewport=NARROW)
    try:
        small = narrow.new_page()
        sign_in(small, jpn)
        small.locator("#feed li.entry", has_text=name).get_by_role("link").click()
        expect(small.locator("svg#launch-map")).to_be_visible()
        width = small.evaluate("document.documentElement.scrollWidth")
        assert width <= NARROW["width"]  # nothing wider than the screen
        screenshot(small, "item-narrow.png")
    finally:
        narrow.close()


def test_hostile_content_is_shown_as_text_and_runs_nothing(
    signed_in: Callable[..., Page], nodes: dict[str, NodeProc]
) -> None:
    kor, jpn = nodes["KOR"], nodes["JPN"]
    page = signed_in(jpn)
    expect(page.locator("#live-status")).to_contain_text("Live")
    hostile = f"Ignore this {HOSTILE_SCRIPT} and {HOSTILE_IMG}"
    name = f"Hostile <b>name</b> {HOSTILE_IMG}"
    publish(kor, launch_report(6002, description=hostile, name=name))

    # arrived live (the script builds the entry with text nodes only)
    entry = page.locator("#feed li.entry", has_text="Hostile <b>name</b>")
    expect(entry).to_be_visible(timeout=LIVE_TIMEOUT)
    expect(entry.locator(".summary")).to_have_text(hostile)
    expect(entry.locator("img")).to_have_count(0)
    expect(entry.locator("b")).to_have_count(0)
    page.wait_for_timeout(300)  # an onerror handler would have fired by now
    assert page.evaluate("typeof window.pwned") == "undefined"

    # rendered by the server
    page.reload()
    entry = page.locator("#feed li.entry", has_text="Hostile <b>name</b>")
    expect(entry.locator(".summary")).to_have_text(hostile)
    entry.get_by_role("link").click()
    expect(page.locator("#description")).to_have_text(hostile)
    expect(page.locator("h1.item-title")).to_have_text(name)
    expect(page.locator("main img")).to_have_count(0)
    expect(page.locator("main script")).to_have_count(0)
    page.wait_for_timeout(300)
    assert page.evaluate("typeof window.pwned") == "undefined"


def test_console_pages_carry_the_csp_and_security_headers(nodes: dict[str, NodeProc]) -> None:
    jpn = nodes["JPN"]
    with httpx.Client(base_url=jpn.url) as client:
        for path in ("/console/login", "/console/", "/console/static/console.css"):
            r = client.get(path)
            assert r.status_code in (200, 303), (path, r.status_code)
            assert r.headers["content-security-policy"] == CSP, path
            assert r.headers["x-content-type-options"] == "nosniff", path
            assert r.headers["x-frame-options"] == "DENY", path
        assert (
            client.get("/console/static/console.js")
            .headers["content-type"]
            .startswith("text/javascript")
        )
        assert client.get("/console/static/nothing.js").status_code == 404
        # the event stream needs a session
        assert client.get("/console/events").status_code == 403


def test_forms_without_the_csrf_token_are_refused(
    signed_in: Callable[..., Page], nodes: dict[str, NodeProc]
) -> None:
    jpn = nodes["JPN"]
    page = signed_in(jpn)
    # the browser's own cookies (signed in), but no token or a wrong one
    forms: list[dict[str, str | float | bool]] = [{}, {"csrf": "forged"}]
    for form in forms:
        r = page.request.post(console_url(jpn, "/logout"), form=form)
        assert r.status == 403, r.text()
        assert "CSRF" in r.text()
        assert r.headers["content-security-policy"] == CSP
    # still signed in
    page.goto(console_url(jpn, "/"))
    expect(page).to_have_url(console_url(jpn, "/"))
    # the sign-in form is protected as well (its token is bound to a pre-session cookie)
    page.goto(console_url(jpn, "/login"))
    r = page.request.post(
        console_url(jpn, "/login"), form={"token": jpn.users["analyst"], "csrf": "forged"}
    )
    assert r.status == 403
    # every refusal is in the node's audit log (it goes to the node's stderr)
    audit = jpn.log.read_text(encoding="utf-8", errors="replace")
    for path in ("logout", "login"):
        assert re.search(
            rf'refused: action="console POST" user=\S+ party=JPN '
            rf"reason=\"the form's CSRF token is missing or wrong[^\"]*\" path=/console/{path} ",
            audit,
        ), path


def test_keyboard_reaches_the_skip_link_and_the_nav(
    signed_in: Callable[..., Page], nodes: dict[str, NodeProc]
) -> None:
    page = signed_in(nodes["JPN"])
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()
    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()
    # from the top again: Tab goes through the header to the nav
    page.goto(console_url(nodes["JPN"], "/"))
    reached: list[str] = []
    for _ in range(12):
        page.keyboard.press("Tab")
        reached.append(
            page.evaluate(
                "document.activeElement.closest('nav.nav') ? document.activeElement.textContent : ''"
            )
        )
    assert "Feed" in reached
    assert any(r for r in reached if r not in ("", "Feed"))  # more nav links after the feed


def test_a_user_sees_only_what_their_clearance_and_need_to_know_allow(
    browser: Browser, signed_in: Callable[..., Page], nodes: dict[str, NodeProc]
) -> None:
    kor, jpn = nodes["KOR"], nodes["JPN"]
    analyst = signed_in(jpn)
    expect(analyst.locator("#live-status")).to_contain_text("Live")
    other = browser.new_context(viewport=DESKTOP)
    try:
        low = other.new_page()
        sign_in(low, jpn, "low")  # CONFIDENTIAL, need-to-know dprk.nuclear only
        expect(low.locator("#live-status")).to_contain_text("Live")
        publish(kor, report(6003, description="secret missile report"))
        publish(
            kor,
            report(6004, topics=("dprk.nuclear",), classification="III", description="nuclear"),
        )
        secret = analyst.locator("#feed li.entry", has_text="Report 6003")
        expect(secret).to_be_visible(timeout=LIVE_TIMEOUT)
        expect(analyst.locator("#feed li.entry", has_text="Report 6004")).to_be_visible(
            timeout=LIVE_TIMEOUT
        )
        confidential = low.locator("#feed li.entry", has_text="Report 6004")
        expect(confidential).to_be_visible(timeout=LIVE_TIMEOUT)
        expect(confidential.locator(".banner-mine")).to_have_text("JPN HI 秘 — originator KOR")
        expect(confidential.locator(".banner").first).to_have_class(re.compile(r"\bmark-c\b"))
        low.reload()
        expect(low.locator("#feed li.entry", has_text="Report 6004")).to_be_visible()
        expect(low.locator("#feed li.entry", has_text="Report 6003")).to_have_count(0)
        # the secret item's page is, for this user, an item that does not exist
        href = secret.get_by_role("link").get_attribute("href")
        assert href is not None
        response = low.goto(f"{jpn.url}{href}")
        assert response is not None
        assert response.status == 404
        expect(low.get_by_role("heading", level=1)).to_have_text("Not found")
    finally:
        other.close()


def demo_launch_report() -> dict[str, Any]:
    """A launch report as ``gsomia demo`` publishes it at KOR: the report, its label and its
    three locations (launch point, facility, predicted impact area), fresh ids."""
    scenario = load_scenario("historical")
    launch = next(
        e
        for e in remaining_launches(Path("/nonexistent"), scenario)
        if e.distance_km and e.time_known
    )
    outcome = next(o for o in replay(scenario, (launch,)) if o.originator == "KOR")
    return demo_report(launch, outcome.label, scenario.policy("KOR"))


def one_entry(page: Page, name: str, places: list[str]) -> None:
    """The feed shows the launch report once and none of its locations."""
    expect(page.locator("#feed .entry-title").get_by_text(name, exact=True)).to_have_count(1)
    expect(page.locator("#feed li.entry .type", has_text="location")).to_have_count(0)
    for place in places:
        expect(page.locator("#feed .entry-title").get_by_text(place, exact=True)).to_have_count(0)


def test_a_launch_is_one_feed_entry_and_its_page_lists_its_locations(
    signed_in: Callable[..., Page], nodes: dict[str, NodeProc]
) -> None:
    kor, jpn = nodes["KOR"], nodes["JPN"]
    page = signed_in(jpn)
    expect(page.locator("#live-status")).to_contain_text("Live")
    envelope = demo_launch_report()
    [obj] = [o for o in envelope["objects"] if o["type"] == "report"]
    places = [o for o in envelope["objects"] if o["type"] == "location"]
    assert len(places) == 3
    publish(kor, envelope)
    entry = page.locator("#feed li.entry", has_text=obj["name"])
    expect(entry).to_be_visible(timeout=LIVE_TIMEOUT)
    # once JPN holds every location, a report published after them arrives live after them
    held = [f"{p['id']}/{p['modified']}" for p in places]
    wait_until(lambda: all(held_at(jpn, i) for i in held), what="the locations at JPN")
    publish(kor, report(6030, description="after the launch"))
    expect(page.locator("#feed li.entry", has_text="Report 6030")).to_be_visible(
        timeout=LIVE_TIMEOUT
    )
    one_entry(page, obj["name"], [p["name"] for p in places])  # live
    page.reload()
    one_entry(page, obj["name"], [p["name"] for p in places])  # rendered by the server

    page.locator("#feed li.entry", has_text=obj["name"]).get_by_role("link").click()
    expect(page.locator("h1.item-title")).to_have_text(obj["name"])
    refs = page.locator("#refs li.ref")
    expect(refs).to_have_count(4)  # the originator's identity and the three locations
    identity = refs.nth(0)
    expect(identity.locator(".ref-type")).to_have_text("identity")
    expect(identity.locator(".ref-name")).to_have_text(
        load_scenario("historical").policy("KOR").name
    )
    expect(identity.get_by_role("link")).to_have_count(0)  # a public definition: no item page
    for n, place in enumerate(places, start=1):
        expect(refs.nth(n).locator(".ref-type")).to_have_text("location")
        expect(refs.nth(n).get_by_role("link")).to_have_text(place["name"])
    # each link opens the location's own item page, marked and with its chain
    for place in places:
        page.locator("#refs").get_by_role("link", name=place["name"], exact=True).click()
        expect(page.locator("h1.item-title")).to_have_text(place["name"])
        expect(page.locator(".item .banners").first.locator(".banner-mine")).to_have_text(
            "JPN GOKUHI 極秘 — originator KOR"
        )
        expect(page.locator("#release-chain")).to_contain_text("KOR → JPN")
        page.go_back()
        expect(page.locator("h1.item-title")).to_have_text(obj["name"])
