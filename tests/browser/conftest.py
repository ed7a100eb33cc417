"""The browser-test harness: one headless Chromium and three live nodes for the browser
tests, a fresh profile per test, and sign-in.

Chromium is Debian's (``/usr/bin/chromium``, installed by the Makefile's ``browser`` target);
if it is missing the tests fail saying so — they are never skipped. Pages are driven with
Playwright's sync API in the test thread. Playwright and the browser are scoped to this package,
not to the pytest session: the sync API keeps an asyncio loop running in the main thread while
it is open, and the tests run after these (``asyncio.run`` in tests/integration and tests/unit)
need it closed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    ViewportSize,
    sync_playwright,
)

from tests.integration.native_client import collection_at
from tests.integration.nodes import TAXII, NodeProc, make_nodes
from tests.integration.sse import tune

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
NARROW: ViewportSize = {"width": 390, "height": 844}
HEADERS = {"Accept": TAXII, "Content-Type": TAXII}


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (make browser, or "
            "apt-get install chromium) to run the browser tests"
        )
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies) at 1280×800, closed after the test."""
    ctx = browser.new_context(viewport=DESKTOP)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture(scope="package")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, NodeProc]]:
    """KOR, JPN and USA nodes (users analyst, admin, low), running for the browser tests."""
    found = make_nodes(tmp_path_factory.mktemp("console"))
    for node in found.values():
        tune(node, event_heartbeat=1, cosign_interval=0)
    started: list[NodeProc] = []
    try:
        for node in found.values():
            node.start()
            started.append(node)
        yield found
    finally:
        for node in started:
            node.stop()


def console_url(node: NodeProc, path: str = "/") -> str:
    return f"{node.url}/console{path}"


def sign_in(page: Page, node: NodeProc, user: str = "analyst", *, with_name: bool = False) -> None:
    """Sign ``page`` in at ``node``'s console as ``user`` (token only, or with the name)."""
    page.goto(console_url(node, "/login"))
    if with_name:
        page.get_by_label("User name").fill(user)
    page.get_by_label("Token").fill(node.users[user])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(console_url(node, "/"))


@pytest.fixture
def signed_in(context: BrowserContext) -> Callable[..., Page]:
    """``signed_in(node, user="analyst")``: a new page of the test's context, signed in."""

    def open_page(node: NodeProc, user: str = "analyst", **kwargs: Any) -> Page:
        page = context.new_page()
        sign_in(page, node, user, **kwargs)
        return page

    return open_page


def publish(node: NodeProc, envelope: dict[str, Any], user: str = "analyst") -> None:
    """Post an envelope to the node's own collection over TAXII, as ``user``."""
    cid = collection_at(node)
    r = httpx.post(
        f"{node.api_root}collections/{cid}/objects/",
        headers=HEADERS,
        auth=node.auth(user),
        content=orjson.dumps(envelope),
        timeout=30,
    )
    assert r.status_code == 202, r.text


def wait_until(check: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), full_page=False)
    return path
