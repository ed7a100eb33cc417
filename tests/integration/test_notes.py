"""Diplomatic notes between real node processes: a note given while its recipient is down
arrives through the outbox once it is up again, and its signed receipt comes back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .native_client import native, wait_until
from .nodes import GSOMIA, NodeProc, live_scenario, make_nodes, running


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, NodeProc]]:
    root = tmp_path_factory.mktemp("notes")
    nodes = make_nodes(root, parties=("KOR", "JPN"), scenario=live_scenario(root))
    with running(nodes):
        yield nodes


def agreement_at(node: NodeProc) -> dict[str, Any]:
    r = native(node, "GET", "/agreements", "analyst")
    assert r.status_code == 200, r.text
    return next(a for a in r.json() if a["id"] == GSOMIA)


def notes_at(node: NodeProc) -> list[dict[str, Any]]:
    r = native(node, "GET", "/notes", "low", params={"agreement": GSOMIA})
    assert r.status_code == 200, r.text
    return list(r.json())


def test_a_note_lost_in_transit_arrives_through_the_outbox(pair: dict[str, NodeProc]) -> None:
    kor, jpn = pair["KOR"], pair["JPN"]
    assert agreement_at(jpn)["ends"] is None
    said = native(
        kor,
        "GET",
        "/notes/consequence",
        "authority",
        params={"agreement": GSOMIA, "event": "notice"},
    )
    assert said.status_code == 200, said.text
    assert "the agreement will end at" in said.json()["words"]
    for name in ("analyst", "admin"):
        refused = native(kor, "POST", "/notes", name, json={"agreement": GSOMIA, "event": "notice"})
        assert refused.status_code == 403, refused.text
    jpn.stop()
    try:
        given = native(
            kor,
            "POST",
            "/notes",
            "authority",
            json={"agreement": GSOMIA, "event": "notice", "text": "Written notice"},
        )
        assert given.status_code == 201, given.text
        note = given.json()
        assert (note["direction"], note["given_by"]) == ("sent", "authority")
        assert note["delivery"]["JPN"]["state"] == "queued"
        ends = agreement_at(kor)["ends"]
        assert ends is not None
        assert ends == said.json()["end"]
    finally:
        jpn.start()

    def receipted() -> dict[str, Any] | None:
        [held] = notes_at(kor)
        return held if "JPN" in held["receipts"] else None

    held = wait_until(receipted, "JPN's receipt at KOR", timeout=60)
    assert held["delivery"]["JPN"]["state"] == "delivered"
    assert held["receipts"]["JPN"]["state"] == held["state"]  # JPN computes KOR's state
    [received] = notes_at(jpn)
    assert (received["id"], received["direction"]) == (note["id"], "received")
    assert received["digest"] == held["digest"]
    assert agreement_at(jpn)["ends"] == ends  # in force at JPN now, the same end
    again = native(
        kor, "POST", "/notes", "authority", json={"agreement": GSOMIA, "event": "notice"}
    )
    assert again.status_code == 409, again.text  # a notice is in effect already
    bad = native(kor, "POST", "/notes", "authority", json={"agreement": GSOMIA, "event": "lapse"})
    assert bad.status_code == 422, bad.text
