"""The consent round trip across three live nodes under scenario ``lapse-2019``.

In 2026 the Japan–Korea GSOMIA has lapsed in that scenario: KOR→JPN directly is denied, while
KOR→USA and USA→JPN are allowed. KOR's reports reach JPN only through USA, and only with KOR's
consent: USA's admin asks, KOR's admin grants (or refuses), the consent travels back, USA
releases onward, JPN verifies the chain and stores the item marked as its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gsomia.node.stix import GSOMIA_LABEL_EXTENSION
from tests.backends import Backend

from .native_client import (
    assert_error,
    held_at,
    native,
    publish,
    taxii_objects,
    wait_until,
)
from .node_store import assert_denied_and_never_queued, outbox_states
from .nodes import NodeProc, make_nodes, report, running


@pytest.fixture(scope="module")
def trio(
    tmp_path_factory: pytest.TempPathFactory, backend: Backend
) -> Iterator[dict[str, NodeProc]]:
    nodes = make_nodes(tmp_path_factory.mktemp("consent"), scenario="lapse-2019", backend=backend)
    with running(nodes):
        yield nodes


def request_consent(usa: NodeProc, item: str, recipient: str = "JPN") -> dict[str, Any]:
    r = native(usa, "POST", "/consent-requests", json={"item": item, "recipient": recipient})
    assert r.status_code == 201, r.text
    doc = dict(r.json())
    assert doc["status"] == "pending"
    return doc


def in_box(node: NodeProc, box: str, rid: str, status: str) -> dict[str, Any] | None:
    r = native(node, "GET", "/consent-requests", params={"box": box})
    assert r.status_code == 200, r.text
    return next((d for d in r.json() if d["id"] == rid and d["status"] == status), None)


def delivered(node: NodeProc, rid: str) -> dict[str, Any] | None:
    doc = in_box(node, "outbox", rid, "pending")
    return doc if doc is not None and doc["delivery"]["state"] == "delivered" else None


def test_granted_consent_carries_the_item_through_usa_to_jpn(trio: dict[str, NodeProc]) -> None:
    kor, jpn, usa = trio["KOR"], trio["JPN"], trio["USA"]
    item = publish(kor, report(1, releasable_to=("JPN", "USA")))
    wait_until(lambda: held_at(usa, item), "the item at USA")

    # Directly, KOR may not release to JPN: the agreement has lapsed.
    why = native(kor, "GET", "/why-not", params={"item": item, "party": "JPN"}).json()
    assert why["decision"] == "deny"
    gsomia = next(c for c in why["rules"] if c["agreement"] == "jpn-kor-gsomia-2016")
    assert not gsomia["allows"]
    assert next(r["name"] for r in gsomia["rules"] if not r["holds"]) == "in force"
    # USA may not pass it on without KOR's consent (rule 7).
    why = native(usa, "GET", "/why-not", params={"item": item, "party": "JPN"}).json()
    assert why["decision"] == "deny"
    usa_jpn = next(c for c in why["rules"] if c["agreement"] == "jpn-usa-gsomia-2007")
    assert [r["name"] for r in usa_jpn["rules"] if not r["holds"]] == ["consent"]

    asked = request_consent(usa, item)
    rid = asked["id"]
    assert (asked["originator"], asked["holder"], asked["recipient"]) == ("KOR", "USA", "JPN")
    inbox = wait_until(lambda: in_box(kor, "inbox", rid, "pending"), "the request at KOR")
    assert (inbox["holder"], inbox["item"]) == ("USA", item)
    sent = wait_until(lambda: delivered(usa, rid), "the request delivered")
    assert sent["delivery"]["answer"]["status"] == "pending"

    r = native(kor, "POST", f"/consent-requests/{rid}/grant", json={})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "granted"
    # A request is answered once.
    assert_error(native(kor, "POST", f"/consent-requests/{rid}/grant", json={}), 409)

    answered = wait_until(lambda: in_box(usa, "outbox", rid, "granted"), "the grant at USA")
    assert answered["release"] == "queued"
    at_jpn = wait_until(lambda: held_at(jpn, item), "the item at JPN")
    assert at_jpn["originator"] == "KOR"
    assert at_jpn["received_from"] == "USA"
    assert at_jpn["marking"] == {
        "party": "JPN",
        "level": "GOKUHI",
        "native": "極秘",
        "equivalence": "SECRET",
        "originator": "KOR",
    }
    [release] = at_jpn["releases"]
    assert (release["holder"], release["recipient"]) == ("USA", "JPN")
    assert release["consent"]["originator"] == "KOR"
    assert release["consent"]["recipient"] == "JPN"
    assert at_jpn["consents"] == [release["consent"]]

    # JPN's TAXII users see it in "received from KOR", with JPN's marking beside KOR's.
    objects = taxii_objects(jpn, "KOR")
    obj = next(o for o in objects if o["id"] == item.split("/")[0])
    markings = {o["id"]: o for o in objects if o["type"] == "marking-definition"}
    labels = [markings[m]["extensions"][GSOMIA_LABEL_EXTENSION] for m in obj["object_marking_refs"]]
    assert {(lb.get("party"), lb.get("level")) for lb in labels if "equivalent_of" in lb} == {
        ("JPN", "GOKUHI")
    }

    # USA now holds a consent for JPN, and JPN already holds the item.
    why = native(usa, "GET", "/why-not", params={"item": item, "party": "JPN"}).json()
    assert why["decision"] == "allow"
    assert why["already_holds"] is True


def test_refused_consent_leaves_jpn_without_the_item(trio: dict[str, NodeProc]) -> None:
    kor, jpn, usa = trio["KOR"], trio["JPN"], trio["USA"]
    item = publish(kor, report(2, releasable_to=("JPN", "USA")))
    wait_until(lambda: held_at(usa, item), "the item at USA")
    rid = request_consent(usa, item)["id"]
    wait_until(lambda: in_box(kor, "inbox", rid, "pending"), "the request at KOR")

    bad = native(kor, "POST", f"/consent-requests/{rid}/refuse", json={})
    assert_error(bad, 422)
    r = native(kor, "POST", f"/consent-requests/{rid}/refuse", json={"reason": "not now"})
    assert r.status_code == 200, r.text
    refused = wait_until(lambda: in_box(usa, "outbox", rid, "refused"), "the refusal at USA")
    assert refused["reason"] == "not now"
    assert refused["release"] is None
    # the refusal is committed at USA, and neither holder queued anything that could carry the
    # item to JPN (KOR's direct release was denied, and logged, when it was published)
    assert outbox_states(usa, item) == {}
    assert_denied_and_never_queued(kor, item, "JPN")
    assert held_at(jpn, item) is None
    why = native(usa, "GET", "/why-not", params={"item": item, "party": "JPN"}).json()
    assert why["decision"] == "deny"


def test_only_admins_manage_consents(trio: dict[str, NodeProc]) -> None:
    kor, usa = trio["KOR"], trio["USA"]
    item = publish(kor, report(3, releasable_to=("JPN", "USA")))
    wait_until(lambda: held_at(usa, item), "the item at USA")
    r = native(usa, "POST", "/consent-requests", "analyst", json={"item": item, "recipient": "JPN"})
    assert_error(r, 403)
    assert_error(native(usa, "GET", "/consent-requests", "analyst"), 403)
    rid = request_consent(usa, item)["id"]
    again = native(usa, "POST", "/consent-requests", json={"item": item, "recipient": "JPN"})
    assert_error(again, 409)
    wait_until(lambda: in_box(kor, "inbox", rid, "pending"), "the request at KOR")
    assert_error(native(kor, "POST", f"/consent-requests/{rid}/grant", "analyst", json={}), 403)
    assert_error(
        native(kor, "POST", f"/consent-requests/{rid}/refuse", "low", json={"reason": "x"}), 403
    )
    assert in_box(kor, "inbox", rid, "pending") is not None
    assert_error(native(kor, "POST", f"/consent-requests/{rid}/grant", None, json={}), 401)


def test_bad_consent_bodies_get_422(trio: dict[str, NodeProc]) -> None:
    usa = trio["USA"]
    bodies: tuple[object, ...] = (
        {"item": 5, "recipient": "JPN"},
        {"item": "report--x/1"},
        {"item": "report--x/1", "recipient": "jpn"},
        {"item": "report--x/1", "recipient": "JPN", "extra": True},
        [],
    )
    for body in bodies:
        assert_error(native(usa, "POST", "/consent-requests", json=body), 422)
    assert_error(native(usa, "POST", "/consent-requests", content=b"{not json"), 422)
    r = native(usa, "GET", "/consent-requests", params={"box": "sideways"})
    assert_error(r, 422)
    r = native(usa, "POST", "/consent-requests", json={"item": "report--x/1", "recipient": "JPN"})
    assert_error(r, 404)


def test_notice_follows_the_chain_of_holders(trio: dict[str, NodeProc]) -> None:
    """KOR lowers an item USA passed on to JPN with consent: both holders re-mark it."""
    kor, jpn, usa = trio["KOR"], trio["JPN"], trio["USA"]
    item = publish(kor, report(4, releasable_to=("JPN", "USA")))
    wait_until(lambda: held_at(usa, item), "the item at USA")
    rid = request_consent(usa, item)["id"]
    wait_until(lambda: in_box(kor, "inbox", rid, "pending"), "the request at KOR")
    assert native(kor, "POST", f"/consent-requests/{rid}/grant", json={}).status_code == 200
    wait_until(lambda: held_at(jpn, item), "the item at JPN")

    r = native(kor, "POST", "/notices", json={"item": item, "classification": "III"})
    assert r.status_code == 200, r.text
    assert r.json()["notified"] == ["USA", "JPN"]
    assert held_at(kor, item)["classification"] == "III"  # type: ignore[index]

    def remarked(node: NodeProc) -> dict[str, Any] | None:
        doc = held_at(node, item)
        return doc if doc is not None and doc["classification"] == "III" else None

    at_usa = wait_until(lambda: remarked(usa), "the notice at USA")
    assert (at_usa["marking"]["level"], at_usa["marking"]["equivalence"]) == (
        "CONFIDENTIAL",
        "CONFIDENTIAL",
    )
    at_jpn = wait_until(lambda: remarked(jpn), "the notice at JPN")
    assert (at_jpn["marking"]["level"], at_jpn["marking"]["native"]) == ("HI", "秘")
    [notice] = at_jpn["notices"]
    assert notice["classification"] == "III"


def test_loss_report_reaches_the_originator(trio: dict[str, NodeProc]) -> None:
    """JPN holds KOR's item through USA; it reports the loss to KOR directly (Art. 17)."""
    kor, jpn, usa = trio["KOR"], trio["JPN"], trio["USA"]
    item = publish(kor, report(5, releasable_to=("JPN", "USA")))
    wait_until(lambda: held_at(usa, item), "the item at USA")
    rid = request_consent(usa, item)["id"]
    wait_until(lambda: in_box(kor, "inbox", rid, "pending"), "the request at KOR")
    assert native(kor, "POST", f"/consent-requests/{rid}/grant", json={}).status_code == 200
    wait_until(lambda: held_at(jpn, item), "the item at JPN")

    r = native(
        jpn,
        "POST",
        "/reports",
        "analyst",
        json={"item": item, "kind": "suspected_loss", "detail": "copy 3 not found at audit"},
    )
    assert r.status_code == 201, r.text
    report_id = r.json()["id"]

    def acknowledged() -> dict[str, Any] | None:
        sent = native(jpn, "GET", "/reports", "analyst").json()["sent"]
        return next((d for d in sent if d["id"] == report_id and d["acknowledgement"]), None)

    mine = wait_until(acknowledged, "KOR's acknowledgement at JPN")
    assert mine["acknowledgement"]["by"] == "KOR"
    received = native(kor, "GET", "/reports").json()["received"]
    theirs = next(d for d in received if d["id"] == report_id)
    assert (theirs["reporter"], theirs["kind"], theirs["item"]) == ("JPN", "suspected_loss", item)
    assert theirs["detail"] == "copy 3 not found at audit"
