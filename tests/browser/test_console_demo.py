"""The console during ``gsomia demo`` at its default speed, in Chromium: the replay's simulated
clock races (500,000 simulated seconds a second) but a session lives on wall time, so a user
signed in stays signed in while the launches are replayed, and signs out when they choose."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from playwright.sync_api import BrowserContext, expect

from tests.ports import free_ports

STAY_SECONDS = 120
POLL_SECONDS = 10


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[dict[str, str]]:
    """``gsomia demo`` at its default speed in a temporary directory; JPN's entry of its
    demo.json once JPN's console answers."""
    data = tmp_path / "demo-data"
    exe = Path(sys.executable).with_name("gsomia")
    proc = subprocess.Popen(
        [str(exe), "demo", "--data", str(data), "--port-base", str(free_ports(3))],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "the demo did not start"
            state = data / "demo.json"
            if state.exists():
                node: dict[str, str] = orjson.loads(state.read_bytes())["nodes"]["JPN"]
                try:
                    if httpx.get(node["console"] + "login", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
            time.sleep(0.3)
        yield node
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert proc.returncode == 0, out
    assert "replaying" in out  # the replay ran while the user was signed in


@pytest.mark.slow
@pytest.mark.timeout(STAY_SECONDS + 240)
def test_signed_in_for_two_minutes_under_the_demo(
    demo: dict[str, str], context: BrowserContext
) -> None:
    console = demo["console"]  # http://127.0.0.1:PORT/console/
    page = context.new_page()
    page.goto(console + "login")
    page.get_by_label("Token").fill(demo["token"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(console)
    expect(page.locator(".who .user-name")).to_have_text(demo["user"])
    started = time.monotonic()
    polls = 0
    while time.monotonic() - started < STAY_SECONDS:
        time.sleep(POLL_SECONDS)
        path = "" if polls % 2 == 0 else "agreements"  # the feed, then another page
        response = page.goto(console + path)
        assert response is not None
        assert response.status == 200, f"after {polls} polls: {response.status}"
        assert page.url == console + path, f"signed out after {time.monotonic() - started:.0f} s"
        expect(page.locator(".who .user-name")).to_have_text(demo["user"])
        polls += 1
    assert polls >= STAY_SECONDS // POLL_SECONDS - 1
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(console + "login")
    page.goto(console)
    expect(page).to_have_url(console + "login")  # signed out: the feed sends to sign-in
