"""A hostile admin without clearance and a hostile user, against three live nodes (issue 9,
points 1 and 2): every use case that names an item answers a hidden item exactly as a missing
one, clearance governs every action (not only reading), and labels of hidden items are hidden.
Every refusal leaves nothing stored: the rows of the node's tables are counted before and after.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest

from gsomia.app.boot import load_config, open_node
from gsomia.node.config import token_digest
from gsomia.node.stix import GSOMIA_LABEL_EXTENSION, extension_definition, label_marking
from gsomia.store.ports import ObjectRow

from .native_client import collection_at, held_at, item_path, native, publish, wait_until
from .node_store import drained
from .nodes import PASSPHRASE, POLICY, TAXII, NodeProc, make_nodes, report

HEADERS = {"Accept": TAXII, "Content-Type": TAXII}
LOW_LEVEL = {"KOR": "III", "JPN": "HI", "USA": "CONFIDENTIAL"}
TOP_LEVEL = {"KOR": "I", "JPN": "KIMITSU", "USA": "TOP_SECRET"}
#: The tables a refused action must leave as they were (the log's entries among them).
TABLES = ("objects", "items", "statuses", "outbox", "node_documents", "peer_messages", "entries")
TS_N, LOW_N, MISSING_N = 901, 902, 999


def add_user(node: NodeProc, name: str, level: str, need_to_know: list[str], role: str) -> None:
    node.users[name] = f"tok-{node.party}-{name}-{uuid.uuid4().hex}"
    block = [
        "[[users]]",
        f'name = "{name}"',
        f'token_sha256 = "{token_digest(node.users[name])}"',
        f'clearance = "{level}"',
        f"need_to_know = {orjson.dumps(need_to_know).decode()}",
        f'role = "{role}"',
    ]
    with node.config.open("a", encoding="utf-8") as out:
        out.write("\n".join(block) + "\n")


@pytest.fixture(scope="module")
def trio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, NodeProc]]:
    nodes = make_nodes(tmp_path_factory.mktemp("visibility"), scenario="lapse-2019")
    for party, node in nodes.items():
        # an admin whose clearance is the lowest class: the hostile admin
        add_user(node, "lowadmin", LOW_LEVEL[party], ["dprk"], "admin")
        node.start()
    try:
        yield nodes
    finally:
        for node in nodes.values():
            node.stop()


def item_id(n: int) -> str:
    return f"report--00000000-0000-4000-8000-{n:012d}/2026-01-01T00:00:00.000Z"


def stix_id(item: str) -> str:
    return item.partition("/")[0]


@pytest.fixture(scope="module")
def ts_item(trio: dict[str, NodeProc]) -> str:
    """A TOP SECRET item of KOR's, held by USA too (JPN is out of reach: the lapse)."""
    kor, usa = trio["KOR"], trio["USA"]
    item = publish(kor, report(TS_N, classification="I", releasable_to=("JPN", "USA")))
    wait_until(lambda: held_at(usa, item), "the TOP SECRET item at USA")
    return item


def rows(node: NodeProc) -> dict[str, int]:
    """How many rows each table of the node's store holds (read beside the running node)."""
    path = node.data / "node.sqlite3"
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {t: int(con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]) for t in TABLES}
    finally:
        con.close()


def settled(node: NodeProc) -> dict[str, int]:
    """The row counts once background work is done: no release and no peer message pending at
    any node of the trio (its siblings' stores), and the counts the same on two readings."""
    stores = sorted(node.data.parent.glob("*/node.sqlite3"))
    last: list[dict[str, int]] = [{}]

    def quiet() -> dict[str, int] | None:
        now = rows(node) if drained(stores) else {}
        done = now if now and now == last[0] else None
        last[0] = now
        return done

    return wait_until(quiet, f"{node.party}'s background work to settle", pause=0.1)


def same_as_missing(hidden: httpx.Response, missing: httpx.Response, ids: dict[str, str]) -> None:
    """The hidden thing's answer is byte for byte the missing thing's, its name aside."""
    body = hidden.content
    for hidden_id, missing_id in ids.items():
        body = body.replace(hidden_id.encode(), missing_id.encode())
    assert hidden.status_code == missing.status_code == 404, (hidden.text, missing.text)
    assert body == missing.content
    assert hidden.headers["content-type"] == missing.headers["content-type"]


def taxii(node: NodeProc, path: str, user: str) -> httpx.Response:
    return httpx.get(f"{node.api_root}{path}", headers={"Accept": TAXII}, auth=node.auth(user))


def post_envelope(node: NodeProc, envelope: dict[str, Any], user: str) -> httpx.Response:
    cid = collection_at(node)
    return httpx.post(
        f"{node.api_root}collections/{cid}/objects/",
        headers=HEADERS,
        auth=node.auth(user),
        content=orjson.dumps(envelope),
    )


# ---------------------------------------------------------------- hidden is missing
def test_hidden_and_missing_items_get_the_same_answer(
    trio: dict[str, NodeProc], ts_item: str
) -> None:
    kor, usa = trio["KOR"], trio["USA"]
    missing = item_id(MISSING_N)
    ids = {ts_item: missing, stix_id(ts_item): stix_id(missing)}
    before = {p: settled(trio[p]) for p in ("KOR", "USA")}
    for node, user in ((kor, "low"), (kor, "lowadmin"), (usa, "low"), (usa, "lowadmin")):
        cid = collection_at(node, "KOR")

        def ask(item: str, node: NodeProc = node, user: str = user, cid: str = cid) -> list[Any]:
            sid = quote(stix_id(item), safe="")
            return [
                native(node, "GET", item_path(item), user),
                native(node, "GET", "/why-not", user, params={"item": item, "party": "JPN"}),
                taxii(node, f"collections/{cid}/objects/{sid}/", user),
                taxii(node, f"collections/{cid}/objects/{sid}/versions/", user),
                native(
                    node,
                    "POST",
                    "/reports",
                    user,
                    json={"item": item, "kind": "loss", "detail": "lost"},
                ),
                native(
                    node, "POST", "/consent-requests", user, json={"item": item, "recipient": "JPN"}
                ),
                native(
                    node, "POST", "/notices", user, json={"item": item, "classification": "III"}
                ),
            ]

        for hidden, absent in zip(ask(ts_item), ask(missing), strict=True):
            if user == "low" and hidden.status_code == 403 and absent.status_code == 403:
                continue  # consents and notices are for admins: refused before any lookup
            same_as_missing(hidden, absent, ids)
    assert {p: rows(trio[p]) for p in ("KOR", "USA")} == before
    # the same answers a user cleared for the item gets are not 404s (the item is there)
    assert native(kor, "GET", item_path(ts_item), "analyst").status_code == 200
    assert native(usa, "GET", item_path(ts_item), "analyst").status_code == 200


# ---------------------------------------------------------------- the hostile admin
def test_a_downgrade_by_an_admin_not_cleared_is_not_found_and_nothing_travels(
    trio: dict[str, NodeProc], ts_item: str
) -> None:
    kor, usa = trio["KOR"], trio["USA"]
    missing = item_id(MISSING_N)
    before = {p: settled(trio[p]) for p in ("KOR", "USA")}
    hidden = native(
        kor, "POST", "/notices", "lowadmin", json={"item": ts_item, "classification": "III"}
    )
    absent = native(
        kor, "POST", "/notices", "lowadmin", json={"item": missing, "classification": "III"}
    )
    same_as_missing(hidden, absent, {ts_item: missing})
    assert {p: rows(trio[p]) for p in ("KOR", "USA")} == before
    for node in (kor, usa):
        view = held_at(node, ts_item, "admin")
        assert view is not None
        assert view["classification"] == "I"
        assert view["notices"] == []
    # and the hostile admin still cannot read it
    assert native(kor, "GET", item_path(ts_item), "lowadmin").status_code == 404


def test_consent_requests_about_items_above_an_admins_clearance(
    trio: dict[str, NodeProc], ts_item: str
) -> None:
    kor, usa = trio["KOR"], trio["USA"]
    asked = native(usa, "POST", "/consent-requests", json={"item": ts_item, "recipient": "JPN"})
    assert asked.status_code == 201, asked.text
    rid = asked.json()["id"]

    def in_inbox() -> dict[str, Any] | None:
        r = native(kor, "GET", "/consent-requests", params={"box": "inbox"})
        return next((d for d in r.json() if d["id"] == rid), None)

    wait_until(in_inbox, "the request in KOR's inbox")
    other = str(uuid.uuid4())
    before = {p: settled(trio[p]) for p in ("KOR", "USA")}
    for node, box in ((kor, "inbox"), (usa, "outbox")):
        listed = native(node, "GET", "/consent-requests", "lowadmin", params={"box": box})
        assert listed.status_code == 200
        assert rid not in {d["id"] for d in listed.json()}
        same_as_missing(
            native(node, "GET", f"/consent-requests/{rid}", "lowadmin"),
            native(node, "GET", f"/consent-requests/{other}", "lowadmin"),
            {rid: other},
        )
    same_as_missing(
        native(kor, "POST", f"/consent-requests/{rid}/grant", "lowadmin", json={}),
        native(kor, "POST", f"/consent-requests/{other}/grant", "lowadmin", json={}),
        {rid: other},
    )
    refusal = {"reason": "no"}
    same_as_missing(
        native(kor, "POST", f"/consent-requests/{rid}/refuse", "lowadmin", json=refusal),
        native(kor, "POST", f"/consent-requests/{other}/refuse", "lowadmin", json=refusal),
        {rid: other},
    )
    assert {p: rows(trio[p]) for p in ("KOR", "USA")} == before
    still = in_inbox()
    assert still is not None
    assert still["status"] == "pending"
    assert native(usa, "GET", f"/consent-requests/{rid}").json()["status"] == "pending"


def test_a_status_is_readable_only_by_its_publisher(trio: dict[str, NodeProc]) -> None:
    kor = trio["KOR"]
    posted = post_envelope(kor, report(903), "analyst")
    assert posted.status_code == 202, posted.text
    sid = posted.json()["id"]
    other = str(uuid.uuid4())
    assert taxii(kor, f"status/{sid}/", "analyst").status_code == 200
    for user in ("admin", "lowadmin", "low"):
        same_as_missing(
            taxii(kor, f"status/{sid}/", user), taxii(kor, f"status/{other}/", user), {sid: other}
        )


# ---------------------------------------------------------------- the hostile user
def low_envelope(n: int, *, stix: str | None = None, modified: str | None = None) -> dict[str, Any]:
    """A report ``low`` (CONFIDENTIAL, dprk.nuclear) may publish, under ``stix`` if given."""
    envelope = report(n, classification="III", topics=("dprk.nuclear",))
    obj = envelope["objects"][2]
    if stix is not None:
        obj["id"] = stix
    if modified is not None:
        obj["modified"] = modified
    return envelope


def test_a_new_version_of_a_hidden_object_is_refused_and_the_old_stays_latest(
    trio: dict[str, NodeProc], ts_item: str
) -> None:
    kor = trio["KOR"]
    cid = collection_at(kor)
    sid = stix_id(ts_item)
    before = settled(kor)
    newer = post_envelope(
        kor, low_envelope(0, stix=sid, modified="2026-06-01T00:00:00.000Z"), "low"
    )
    same_version = post_envelope(kor, low_envelope(0, stix=sid), "low")
    assert rows(kor) == before
    for refused in (newer, same_version):
        assert refused.status_code == 409, refused.text
        text = refused.json()["description"]
        assert "already stored" not in refused.text
        assert "is already in use at this node and cannot take this object" in text
        assert "TOP" not in text
        assert "2026-01-01" not in text  # the hidden version is not named
    # one answer, whether the stored version is the one posted or not
    assert newer.json() == same_version.json()
    got = taxii(kor, f"collections/{cid}/objects/{quote(sid, safe='')}/", "analyst").json()
    assert [o["modified"] for o in got["objects"]] == ["2026-01-01T00:00:00.000Z"]
    marking = next(
        o for o in report(TS_N, classification="I")["objects"] if o["type"] == "marking-definition"
    )
    assert got["objects"][0]["object_marking_refs"] == [marking["id"]]

    # a different marking under a stored marking id gets the same words (a marking the user
    # may see: merely in use)
    own = post_envelope(kor, low_envelope(LOW_N), "low")
    assert own.status_code == 202, own.text
    changed = low_envelope(LOW_N + 1)
    changed["objects"][1]["name"] = "something else"
    before = settled(kor)
    in_use = post_envelope(kor, changed, "low")
    assert in_use.status_code == 409, in_use.text
    words = newer.json()["description"].replace("objects[2]", "objects[1]")
    assert in_use.json()["description"] == words.replace(sid, changed["objects"][1]["id"])
    assert rows(kor) == before
    # and a new version of an object the user may see is accepted
    again = post_envelope(
        kor,
        low_envelope(LOW_N, modified="2026-02-01T00:00:00.000Z"),
        "low",
    )
    assert again.status_code == 202, again.text


def ts_markings(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The marking-definitions among ``objects`` that carry a TOP SECRET label (or its
    equivalent)."""
    found = []
    for o in objects:
        ext = o.get("extensions", {}).get(GSOMIA_LABEL_EXTENSION, {})
        if (
            ext.get("classification") in TOP_LEVEL.values()
            or ext.get("level") in TOP_LEVEL.values()
        ):
            found.append(o)
    return found


def test_labels_of_hidden_items_are_not_served(trio: dict[str, NodeProc], ts_item: str) -> None:
    kor, usa = trio["KOR"], trio["USA"]
    low_item = publish(kor, low_envelope(904))
    wait_until(lambda: held_at(usa, low_item), "the CONFIDENTIAL item at USA")
    for node in (kor, usa):
        cid = collection_at(node, "KOR")
        everything = f"collections/{cid}/objects/?match[version]=all"
        cleared = taxii(node, everything, "analyst").json()["objects"]
        hidden = ts_markings(cleared)
        assert hidden  # the cleared user sees the TOP SECRET label(s)
        hidden_ids = {m["id"] for m in hidden}
        for user in ("low", "lowadmin"):
            served = taxii(node, everything, user).json().get("objects", [])
            assert not ts_markings(served)
            assert not hidden_ids & {o["id"] for o in served}
            # the label of an item the user may see is served beside it
            if user == "low":
                item_obj = next(o for o in served if o["type"] == "report")
                assert set(item_obj["object_marking_refs"]) <= {o["id"] for o in served}
            manifest = taxii(node, f"collections/{cid}/manifest/?match[version]=all", user).json()
            assert not hidden_ids & {o["id"] for o in manifest.get("objects", [])}
            for mid in hidden_ids:
                absent = "marking-definition--" + str(uuid.uuid4())
                for tail in ("", "versions/"):
                    same_as_missing(
                        taxii(node, f"collections/{cid}/objects/{mid}/{tail}", user),
                        taxii(node, f"collections/{cid}/objects/{absent}/{tail}", user),
                        {mid: absent},
                    )


def test_markings_that_are_not_gsomia_labels_are_refused(trio: dict[str, NodeProc]) -> None:
    kor = trio["KOR"]
    before = settled(kor)
    statement = {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": "marking-definition--" + str(uuid.uuid4()),
        "created": "2026-01-01T00:00:00.000Z",
        "definition_type": "statement",
        "definition": {"statement": "Operation X is planned for March"},
    }
    alone = {"objects": [statement]}
    beside = report(905)
    beside["objects"].insert(1, statement)
    beside["objects"][-1]["object_marking_refs"].append(statement["id"])
    for envelope in (alone, beside):
        r = post_envelope(kor, envelope, "analyst")
        assert r.status_code == 422, r.text
        assert statement["id"] in r.json()["description"]
        assert "only gsomia label marking-definitions are accepted" in r.json()["description"]
    # another extension-definition, free text served to everyone, is refused too
    foreign = dict(report(906)["objects"][0], description="Operation X is planned for March")
    r = post_envelope(kor, {"objects": [foreign]}, "analyst")
    assert r.status_code == 422, r.text
    assert "extension-definition" in r.json()["description"]
    assert rows(kor) == before


def test_an_object_cannot_carry_a_label_it_did_not_bring(
    trio: dict[str, NodeProc], ts_item: str
) -> None:
    """A visible object naming a hidden label would have it served beside it (event streams)."""
    kor = trio["KOR"]
    ts_label = next(
        o for o in report(TS_N, classification="I")["objects"] if o["type"] == "marking-definition"
    )
    envelope = low_envelope(907)
    envelope["objects"][2]["object_marking_refs"].append(ts_label["id"])
    before = settled(kor)
    r = post_envelope(kor, envelope, "low")
    assert r.status_code == 422, r.text
    assert ts_label["id"] in r.json()["description"]
    assert rows(kor) == before


def test_a_label_stored_without_scope_is_hidden_from_everyone(tmp_path: Path) -> None:
    """Label rows written by an older version (equivalence NULL) fail closed; gsomia's own
    extension-definition stays public, exactly as gsomia defines it."""
    procs = make_nodes(tmp_path, ("JPN", "KOR"))
    node = open_node(
        load_config(procs["JPN"].config), passphrase=PASSPHRASE.encode(), verify_log=False
    )
    try:
        analyst = next(u for u in node.config.users if u.name == "analyst")
        marking = label_marking(
            policy=POLICY["JPN"],
            originator="JPN",
            classification="HI",
            releasable_to=("KOR",),
            topics=("dprk",),
            created="2026-01-01T00:00:00.000Z",
        )
        legacy = ObjectRow(
            1, "c", marking["id"], "marking-definition", "v", "t", None, None, (), b"{}"
        )
        assert not node.visible(analyst.clearance, legacy)
        definition = extension_definition()
        ext = ObjectRow(
            2,
            "c",
            GSOMIA_LABEL_EXTENSION,
            "extension-definition",
            definition["modified"],
            "t",
            None,
            None,
            (),
            orjson.dumps(definition),
        )
        assert node.visible(analyst.clearance, ext)
        # exactly as gsomia defines it: another body under its id and version is hidden
        assert not node.visible(analyst.clearance, dataclasses.replace(ext, body=b"{}"))
    finally:
        node.store.close()
