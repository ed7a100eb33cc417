"""A planted divergence between two real node processes: a note removed from one node's store
is detected through co-signing (each node's checkpoints state its digest of each agreement),
stops releases under that agreement at both ends, and heals when the note is delivered again."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from gsomia.node.notes import NOTES

from .native_client import native, publish, wait_until
from .nodes import GSOMIA, NodeProc, live_scenario, make_nodes, report, running
from .sse import tune

REDELIVER_AFTER = 30  # the default


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, NodeProc]]:
    root = tmp_path_factory.mktemp("divergence")
    nodes = make_nodes(root, parties=("KOR", "JPN"), scenario=live_scenario(root))
    for node in nodes.values():
        # a lost note goes again once the loss has shown for REDELIVER_AFTER seconds
        tune(node, cosign_interval=0.25, redeliver_after=REDELIVER_AFTER)
    with running(nodes):
        yield nodes


def state_at(node: NodeProc) -> dict[str, Any]:
    r = native(node, "GET", "/agreements/states", "low")
    assert r.status_code == 200, r.text
    return next(s for s in r.json() if s["agreement"] == GSOMIA)


def agreement_at(node: NodeProc) -> dict[str, Any]:
    r = native(node, "GET", "/agreements", "analyst")
    assert r.status_code == 200, r.text
    return next(a for a in r.json() if a["id"] == GSOMIA)


def _status(node: NodeProc, status: str) -> dict[str, Any] | None:
    state = state_at(node)
    return state if state["status"] == status else None


def decision(node: NodeProc, item: str, party: str) -> dict[str, Any]:
    r = native(node, "GET", "/why-not", params={"item": item, "party": party})
    assert r.status_code == 200, r.text
    return dict(r.json())


def _store(node: NodeProc) -> sqlite3.Connection:
    return sqlite3.connect(node.data / "node.sqlite3")


def test_a_removed_note_is_disputed_at_both_ends_and_heals_when_delivered_again(
    pair: dict[str, NodeProc],
) -> None:
    kor, jpn = pair["KOR"], pair["JPN"]
    items = [
        (kor, publish(kor, report(1, "KOR", releasable_to=("JPN",))), "JPN"),
        (jpn, publish(jpn, report(2, "JPN", releasable_to=("KOR",))), "KOR"),
    ]
    for node, item, to in items:
        assert decision(node, item, to)["decision"] == "allow"
    given = native(
        kor, "POST", "/notes", "authority", json={"agreement": GSOMIA, "event": "notice"}
    )
    assert given.status_code == 201, given.text
    note = given.json()
    wait_until(lambda: _status(kor, "agreed"), "KOR and JPN agree on the notice", timeout=60)
    wait_until(lambda: _status(jpn, "agreed"), "JPN and KOR agree on the notice", timeout=60)
    assert agreement_at(jpn)["ends"] == agreement_at(kor)["ends"] is not None

    # JPN loses the note behind its back: its state of the agreement is KOR's without it
    jpn.stop()
    with _store(jpn) as con:
        gone = con.execute("DELETE FROM node_documents WHERE kind = ?", (NOTES,)).rowcount
    assert gone == 1
    jpn.start()

    at_kor = wait_until(lambda: _status(kor, "disputed"), "KOR sees the dispute", timeout=60)
    assert f"note {note['id']}" in at_kor["dispute"]  # KOR names the note JPN lacks
    assert "JPN computes another state" in at_kor["dispute"]
    at_jpn = wait_until(lambda: _status(jpn, "disputed"), "JPN sees the dispute", timeout=60)
    assert "KOR computes another state" in at_jpn["dispute"]
    for node, item, to in items:  # no release under it, at either end
        why = decision(node, item, to)
        assert why["decision"] == "deny", why
        assert "not in force for releases" in str(why), why

    # KOR delivers the note again by itself, with JPN's receipt of it: both ends agree again
    heal = REDELIVER_AFTER + 60
    wait_until(lambda: _status(jpn, "agreed"), "JPN holds the note again", timeout=heal)
    wait_until(lambda: _status(kor, "agreed"), "KOR sees JPN agree again", timeout=60)
    for node, item, to in items:
        assert decision(node, item, to)["decision"] == "allow"
    [again] = [n for n in native(kor, "GET", "/notes", "analyst").json() if n["id"] == note["id"]]
    assert set(again["resent"]) == {"JPN"}
    received = [n for n in native(jpn, "GET", "/notes", "analyst").json() if n["id"] == note["id"]]
    assert [n["direction"] for n in received] == ["received"]
