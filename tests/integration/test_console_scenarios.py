"""Scenario uploads at a real node's console: refused with the console's message (4xx, never a
500), and charting the largest allowed one never stalls the node's other requests."""

from __future__ import annotations

import html
import re
import threading
from typing import TYPE_CHECKING

import httpx
import pytest

from gsomia.domain.scenario import MAX_AGREEMENTS

from .native_client import native
from .nodes import TAXII, NodeProc, make_nodes

if TYPE_CHECKING:
    from collections.abc import Iterator

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
PAGE_ERROR = re.compile(r'<p class="error" role="alert" id="page-error">([^<]*)</p>')
HEAD = 'format = 1\nextends = "historical"\nname = "w"\ntitle = "w"\n'


def agreement(n: int, start: str, extra: str = "") -> str:
    return (
        f'[[agreements]]\nid = "a{n}"\nparties = ["KOR", "JPN"]\nstart = {start}\n'
        f'classes = ["SECRET"]\nterm_years = 1\nnotice_days = 1\n{extra}'
    )


@pytest.fixture(scope="module")
def kor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProc]:
    node = make_nodes(tmp_path_factory.mktemp("console-scenarios"))["KOR"]
    node.start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def console(kor: NodeProc) -> Iterator[tuple[httpx.Client, str]]:
    """A client signed in to KOR's console as an admin (a new session each test), and the
    CSRF token of its session."""
    with httpx.Client(base_url=f"{kor.url}/console", timeout=120) as client:
        login = client.get("/login")
        found = CSRF.search(login.text)
        assert found is not None, login.text
        done = client.post("/login", data={"csrf": found.group(1), "token": kor.users["admin"]})
        assert done.status_code == 303, done.text
        page = client.get("/agreements")
        assert page.status_code == 200
        token = CSRF.search(page.text)
        assert token is not None
        yield client, token.group(1)


def upload(client: httpx.Client, csrf: str, text: str, name: str = "x.toml") -> httpx.Response:
    return client.post("/agreements/scenario", data={"csrf": csrf, "filename": name, "toml": text})


def page_error(response: httpx.Response) -> str:
    found = PAGE_ERROR.search(response.text)
    assert found is not None, response.text[:2000]
    return html.unescape(found.group(1))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            HEAD + "notes = " + "{a = " * 2000 + "1" + "}" * 2000 + "\n",
            "upload x.toml: line 5, key 'notes': tables and arrays nest deeper than 6 levels",
        ),
        (
            HEAD + "notes = [[[[[[1]]]]]]\n",
            "upload x.toml.notes[0][0][0][0][0]: tables and arrays nest deeper than 6 levels",
        ),
        ("format = " + "9" * 200_000 + "\n", "upload x.toml: larger than 64 KiB"),
        (HEAD + "notes = " + "9" * 5000 + "\n", "upload x.toml: line 5, key 'notes': a number"),
        (
            HEAD + agreement(1, "0001-01-01T00:00:00+09:00"),
            "upload x.toml.agreements[5].start: 0001-01-01T00:00:00+09:00 is outside the years "
            "a scenario may cover (1945..2100)",
        ),
        (
            HEAD + "".join(agreement(n, "2020-01-01T00:00:00Z") for n in range(MAX_AGREEMENTS)),
            f"upload x.toml.agreements: {MAX_AGREEMENTS + 5} entries; a scenario may have at "
            f"most {MAX_AGREEMENTS}",
        ),
        (
            HEAD + '[[events]]\nid = {a = 1}\nagreement = "jpn-kor-gsomia-2016"\n'
            'kind = "withdraw"\nparty = "KOR"\nat = 2024-01-01T00:00:00Z\n',
            "upload x.toml.events[3].id: expected a non-empty string",
        ),
    ],
    ids=["deep", "nested", "200000-digits", "5000-digits", "year-1", "too-many", "table-id"],
)
def test_an_upload_out_of_bounds_is_refused_with_the_message(
    console: tuple[httpx.Client, str], text: str, message: str
) -> None:
    client, csrf = console
    answer = upload(client, csrf, text)
    assert answer.status_code == 422, answer.text[:2000]
    assert page_error(answer).startswith(message)
    assert "uploaded:" not in client.get("/agreements").text  # nothing was kept


def test_an_oversize_upload_is_refused_naming_the_limit(
    console: tuple[httpx.Client, str],
) -> None:
    client, csrf = console
    answer = upload(client, csrf, HEAD + "#" * (64 * 1024))
    assert answer.status_code in (413, 422), answer.text[:2000]  # by the form's or the file's
    if answer.status_code == 422:
        assert page_error(answer).startswith("upload x.toml: larger than 64 KiB")


def largest_scenario() -> str:
    """As many yearly agreements as allowed, from the first year a scenario may cover, and one
    that ends two centuries on: the chart runs from 1945 past 2200, every year marked."""
    last = agreement(
        0,
        "2100-12-31T00:00:00Z",
        "term_years = 100\n",
    ).replace("term_years = 1\nnotice_days = 1\n", "")
    text = HEAD + last
    text += "".join(agreement(n, "1945-01-01T00:00:00Z") for n in range(1, MAX_AGREEMENTS - 5))
    text += (
        '[[events]]\nid = "n"\nat = 2100-12-31T12:00:00Z\nagreement = "a0"\nkind = "notice"\n'
        'party = "KOR"\n'
    )
    return text


def test_charting_the_largest_scenario_does_not_stall_other_requests(
    kor: NodeProc, console: tuple[httpx.Client, str]
) -> None:
    """While the console charts the largest allowed scenario (in a worker thread), TAXII
    discovery is still answered: several discoveries complete before the chart's answer begins.
    Were the chart drawn on the event loop, every request would wait for it (none got through
    before this change; at most one sent before the chart began could)."""
    client, csrf = console
    answer = upload(client, csrf, largest_scenario(), "largest.toml")
    assert answer.status_code == 303, answer.text[:2000]
    heavy: list[tuple[int, str]] = []
    done = threading.Event()  # the chart's answer has begun: the node has drawn it

    def chart() -> None:
        try:
            location = answer.headers["location"].removeprefix("/console")
            with client.stream("GET", location) as response:
                done.set()
                heavy.append((response.status_code, response.read().decode()))
        finally:
            done.set()

    worker = threading.Thread(target=chart)
    worker.start()
    answered_meanwhile = 0
    with httpx.Client(timeout=120) as light:
        while not done.is_set():
            discovery = light.get(
                f"{kor.url}/taxii2/",
                headers={"Accept": TAXII},
                auth=kor.auth(),
            )
            assert discovery.status_code == 200, discovery.text
            if not done.is_set():
                answered_meanwhile += 1
    worker.join()
    status, page = heavy[0]
    assert status == 200, page[:2000]
    assert 'data-scenario="w"' in page
    assert page.count('class="tl-marker tl-anniversary"') > 5000
    assert answered_meanwhile >= 5


def test_the_native_api_refuses_instants_far_from_the_scenario_years(kor: NodeProc) -> None:
    """A 500 before (an anniversary past year 9999); now a 422 naming the parameter."""
    for path, name in (("/agreements", "at"), ("/timeline", "until")):
        r = native(kor, "GET", path, "analyst", params={name: "9999-12-01T00:00:00Z"})
        assert r.status_code == 422, r.text
        assert f"{name}: 9999-12-01T00:00:00+00:00 is outside the years" in r.text
        ok = native(kor, "GET", path, "analyst", params={name: "2200-12-01T00:00:00Z"})
        assert ok.status_code == 200, ok.text
