"""The Tracks page in a real browser: a synthesized KOR track posted to KOR's ingest route is
drawn live on JPN's map (its path growing, the impact ellipse narrowing), with its route, the
SYNTHESIZED mark and the warning of an impact in Japan's EEZ; a track not releasable to JPN is
drawn at USA and nowhere on JPN's page; without scripts the page lists what it may."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, expect

from gsomia.clock import SystemClock
from tests.integration.nodes import NodeProc

from .conftest import DESKTOP, console_url, screenshot, sign_in, wait_until

LIVE_TIMEOUT = 15_000  # ms: KOR ingests, sends to JPN (directly or through USA), JPN streams
LAUNCH = (39.2, 125.67)  # Sunan
IMPACT = (40.0, 138.5)  # the Sea of Japan off Akita: within Japan's approximate EEZ
PHASES = ("boost", "boost", "boost", "midcourse", "midcourse", "midcourse", "terminal")


def label(track: str, releasable_to: list[str]) -> dict[str, Any]:
    return {
        "id": track,
        "originator": "KOR",
        "classification": "II",
        "releasable_to": releasable_to,
        "topics": ["dprk.missile.warning"],
        "purposes": ["defense.warning"],
    }


def update(track: str, seq: int, total: int, start: datetime) -> dict[str, Any]:
    """Update ``seq`` of ``total``: the head moves from the launch point towards the impact,
    the impact ellipse narrows from 400 × 150 km to 40 × 15 km."""
    share = seq / total
    lat = LAUNCH[0] + (IMPACT[0] - LAUNCH[0]) * share
    lon = LAUNCH[1] + (IMPACT[1] - LAUNCH[1]) * share
    shrink = 1.0 - 0.9 * (seq - 1) / (total - 1)
    return {
        "track": track,
        "seq": seq,
        "at": (start + timedelta(seconds=10 * seq)).isoformat().replace("+00:00", "Z"),
        "party": "KOR",
        "sensor": "kor-radar-notional-1",
        "position": {"lat": lat, "lon": lon, "alt_km": 800.0 * 4 * share * (1 - share)},
        "velocity": {"east": 3.0, "north": 0.2, "up": 1.0 - 2 * share},
        "phase": PHASES[min(len(PHASES) - 1, seq * len(PHASES) // (total + 1))],
        "launch": {"lat": LAUNCH[0], "lon": LAUNCH[1], "alt_km": 0.0},
        "impact": {
            "lat": IMPACT[0],
            "lon": IMPACT[1],
            "semi_major_km": 400.0 * shrink,
            "semi_minor_km": 150.0 * shrink,
            "orientation_deg": 80.0,
        },
        "synthesized": True,
    }


def post(node: NodeProc, track: str, rel: list[str], updates: list[dict[str, Any]]) -> None:
    r = httpx.post(
        f"{node.url}/native/v1/tracks/{track}/updates",
        auth=node.auth("analyst"),
        json={"label": label(track, rel), "updates": updates},
        timeout=30,
    )
    assert r.status_code == 202, r.text
    assert r.json()["last_seq"] == updates[-1]["seq"]


def drawn_points(page: Page, track: str) -> int:
    """How many points the track's path has on the map (all its polylines)."""
    return int(
        page.evaluate(
            """(track) => {
                let n = 0;
                for (const g of document.querySelectorAll("#track-layer g.track")) {
                    if (g.dataset.track !== track) continue;
                    for (const line of g.querySelectorAll("polyline")) {
                        n += line.points.numberOfItems;
                    }
                }
                return n;
            }""",
            track,
        )
    )


def wait_drawn(page: Page, track: str, n: int) -> None:
    wait_until(
        lambda: drawn_points(page, track) == n,
        timeout=LIVE_TIMEOUT / 1000,
        what=f"the map to draw {n} points of {track}",
    )


def ellipse_width(page: Page, track: str) -> float:
    return float(
        page.evaluate(
            """(track) => {
                for (const g of document.querySelectorAll("#track-layer g.track")) {
                    if (g.dataset.track === track) {
                        return g.querySelector("polygon.track-ellipse").getBBox().width;
                    }
                }
                return -1;
            }""",
            track,
        )
    )


def card(page: Page, track: str) -> Any:
    return page.locator(f'#track-list li.track-card[data-track="{track}"]')


def test_a_kor_track_is_drawn_live_at_jpn_with_its_warning_and_a_hidden_one_nowhere(
    signed_in: Callable[..., Page], nodes: dict[str, NodeProc], browser: Browser
) -> None:
    kor, jpn, usa = nodes["KOR"], nodes["JPN"], nodes["USA"]
    shown = f"track--{uuid.uuid4()}"
    hidden = f"track--{uuid.uuid4()}"
    start = SystemClock().now() - timedelta(minutes=2)  # the nodes' scenario clock: wall time
    total = 9

    page = signed_in(jpn)
    page.goto(console_url(jpn, "/tracks"))
    expect(page.get_by_role("link", name="Tracks")).to_have_attribute("aria-current", "page")
    at_usa = signed_in(usa)
    at_usa.goto(console_url(usa, "/tracks"))

    # a track KOR may not release to JPN: posted first, drawn at USA, never at JPN
    post(kor, hidden, ["KOR", "USA"], [update(hidden, s, 3, start) for s in (1, 2, 3)])

    widths = []
    for batch in ((1, 2, 3), (4, 5, 6), (7, 8, 9)):
        post(kor, shown, ["JPN", "KOR", "USA"], [update(shown, s, total, start) for s in batch])
        wait_drawn(page, shown, batch[-1])
        widths.append(ellipse_width(page, shown))
    assert widths[0] > widths[1] > widths[2] > 0  # the ellipse narrows as the updates come

    found = card(page, shown)
    expect(found.locator(".track-phase")).to_have_text("terminal")
    expect(found.locator(".track-seq")).to_contain_text("9 at ")
    expect(found.locator(".track-route")).to_have_text(
        re.compile(r"^(direct from KOR|from KOR via USA)$")
    )
    expect(found.locator(".synth-mark")).to_have_text("SYNTHESIZED — not real sensor data")
    expect(page.locator("#track-synth")).to_be_visible()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("WARNING: predicted impact within Japan's territory or EEZ")
    expect(alert).to_contain_text(shown)
    expect(page.locator("polygon.track-ellipse").first).to_be_visible()
    expect(page.locator(".track-launch").first).to_be_visible()
    screenshot(page, "console-tracks.png")

    # USA may see both; JPN's page has nothing at all of the hidden one
    wait_until(
        lambda: drawn_points(at_usa, hidden) == 3 and drawn_points(at_usa, shown) == total,
        timeout=LIVE_TIMEOUT / 1000,
        what="USA's map to draw both tracks",
    )
    assert page.locator(f'[data-track="{hidden}"]').count() == 0
    assert hidden not in page.content()

    # a reload renders the page on the server: the same, without the hidden track
    page.reload()
    expect(card(page, shown).locator(".track-phase")).to_have_text("terminal")
    assert hidden not in page.content()

    # without scripts the page still lists the track and its last update
    plain = browser.new_context(viewport=DESKTOP, java_script_enabled=False)
    try:
        bare = plain.new_page()
        sign_in(bare, jpn)
        bare.goto(console_url(jpn, "/tracks"))
        listed = card(bare, shown)
        expect(listed.locator(".track-seq")).to_contain_text("9 at ")
        expect(listed.locator(".track-route")).to_have_text(
            re.compile(r"^(direct from KOR|from KOR via USA)$")
        )
        expect(bare.get_by_role("alert")).to_contain_text("within Japan's territory or EEZ")
        expect(bare.locator("#track-synth")).to_be_visible()
        assert hidden not in bare.content()
    finally:
        plain.close()


def test_the_track_stream_needs_a_session(nodes: dict[str, NodeProc]) -> None:
    jpn = nodes["JPN"]
    r = httpx.get(console_url(jpn, "/tracks/stream"), timeout=10)
    assert r.status_code == 403
    assert "text/event-stream" not in r.headers["content-type"]
