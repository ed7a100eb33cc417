"""`gsomia note` against real nodes: an authority's notice given from a terminal reaches the other
party with its receipt back; the wrong user, the wrong party and the wrong moment are refused
with the node's reason and the project's exit codes; bad input never reaches the node."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.integration.nodes import NodeProc, make_nodes, running

AGREEMENT = "jpn-kor-gsomia-2016"
TOP = {"KOR": "I", "JPN": "KIMITSU", "USA": "TOP_SECRET"}


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, NodeProc]]:
    made = make_nodes(tmp_path_factory.mktemp("note-cli"))
    with running(made) as started:
        yield started


def gsomia(node: NodeProc, user: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    """``gsomia ARGS`` as ``user`` of ``node`` (its token in GSOMIA_TOKEN; none if None)."""
    env = {k: v for k, v in os.environ.items() if k != "GSOMIA_TOKEN"}
    if user is not None:
        env["GSOMIA_TOKEN"] = node.users[user]
    exe = Path(sys.executable).with_name("gsomia")
    return subprocess.run(
        [str(exe), *args], capture_output=True, text=True, env=env, check=False, timeout=60
    )


def note(node: NodeProc, user: str | None, verb: str, *extra: str) -> Any:
    return gsomia(
        node,
        user,
        "note",
        verb,
        "--agreement",
        AGREEMENT,
        "--node-config",
        str(node.config),
        *extra,
    )


def listed(node: NodeProc, user: str = "analyst") -> list[dict[str, Any]]:
    out = gsomia(node, user, "note", "list", "--node-config", str(node.config), "--json")
    assert out.returncode == 0, out.stderr
    found: list[dict[str, Any]] = orjson.loads(out.stdout)
    return found


def until(what: str, probe: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout} s")


def test_bad_input_is_refused_before_the_node_is_asked(nodes: dict[str, NodeProc]) -> None:
    kor = nodes["KOR"]
    before = listed(kor)
    no_token = note(kor, None, "give", "--yes")
    assert no_token.returncode == 2
    assert no_token.stderr.startswith("error: GSOMIA_TOKEN: not set")
    bad_at = note(kor, "authority", "give", "--yes", "--at", "2019-08-23T12:00:00")
    assert bad_at.returncode == 2
    assert "--at" in bad_at.stderr
    assert "no UTC offset" in bad_at.stderr
    assert "Traceback" not in bad_at.stderr
    long_text = note(kor, "authority", "give", "--yes", "--text", "x" * 2001)
    assert long_text.returncode == 2
    assert "--text: at most 2000 characters" in long_text.stderr
    assert listed(kor) == before  # nothing was given


def test_only_an_authority_gives_a_note(nodes: dict[str, NodeProc]) -> None:
    kor = nodes["KOR"]
    before = listed(kor)
    out = note(kor, "analyst", "give", "--yes")
    assert out.returncode == 4, out.stderr
    assert out.stderr.startswith("error: the node refused (403):")
    assert listed(kor) == before


def test_an_unknown_agreement_is_bad_input(nodes: dict[str, NodeProc]) -> None:
    kor = nodes["KOR"]
    out = gsomia(
        kor,
        "authority",
        "note",
        "give",
        "--agreement",
        "no-such-agreement",
        "--node-config",
        str(kor.config),
        "--yes",
    )
    assert out.returncode == 2, out.stderr
    assert "no-such-agreement" in out.stderr


def test_a_notice_given_reaches_jpn_with_its_receipt_and_the_wrong_acts_are_refused(
    nodes: dict[str, NodeProc],
) -> None:
    kor, jpn = nodes["KOR"], nodes["JPN"]
    given = note(kor, "authority", "give", "--yes", "--text", "Written notice (test)")
    assert given.returncode == 0, given.stderr
    assert f"notice of termination of {AGREEMENT}:" in given.stdout  # the consequence, first
    assert "will end" in given.stdout
    assert f"given: KOR's notice of termination of {AGREEMENT}" in given.stdout
    [sent] = [n for n in listed(kor) if n["agreement"] == AGREEMENT]
    assert sent["direction"] == "sent"
    assert sent["event"] == "notice"
    assert sent["text"] == "Written notice (test)"
    received = until(
        "JPN holding the notice",
        lambda: [n for n in listed(jpn) if n["id"] == sent["id"]],
    )
    assert received[0]["direction"] == "received"
    assert received[0]["party"] == "KOR"
    until(
        "JPN's receipt at KOR",
        lambda: "JPN" in (next(n for n in listed(kor) if n["id"] == sent["id"])["receipts"] or {}),
    )
    table = gsomia(kor, "analyst", "note", "list", "--node-config", str(kor.config))
    assert table.returncode == 0, table.stderr
    assert "JPN received it" in table.stdout

    # a second notice while this one is in effect: a conflict (5), the node's reason printed
    again = note(kor, "authority", "give", "--yes")
    assert again.returncode == 5, again.stderr
    assert "in effect already" in again.stderr
    # JPN did not give the notice: it may not suspend it (4)
    not_theirs = note(jpn, "authority", "suspend", "--yes")
    assert not_theirs.returncode == 4, not_theirs.stderr
    assert "only KOR" in not_theirs.stderr
    # KOR suspends, then withdraws, its own notice
    suspended = note(kor, "authority", "suspend", "--yes", "--json")
    assert suspended.returncode == 0, suspended.stderr
    document = orjson.loads(suspended.stdout)
    assert document["note"]["event"] == "suspend"
    assert document["consequence"]
    withdrawn = note(kor, "authority", "withdraw", "--yes")
    assert withdrawn.returncode == 0, withdrawn.stderr
    acts = [n["event"] for n in listed(kor) if n["agreement"] == AGREEMENT]
    assert sorted(acts) == ["notice", "suspend", "withdraw"]
    until(
        "JPN holding all three",
        lambda: len([n for n in listed(jpn) if n["agreement"] == AGREEMENT]) == 3,
    )


def test_declining_the_confirmation_gives_nothing(nodes: dict[str, NodeProc]) -> None:
    jpn = nodes["JPN"]
    before = listed(jpn)
    env = {**os.environ, "GSOMIA_TOKEN": jpn.users["authority"]}
    exe = Path(sys.executable).with_name("gsomia")
    out = subprocess.run(
        [str(exe), "note", "give", "--agreement", AGREEMENT, "--node-config", str(jpn.config)],
        input="n\n",
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert out.returncode == 130, out.stderr
    assert "give this note?" in out.stderr
    assert listed(jpn) == before
