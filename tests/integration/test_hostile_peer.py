"""A hostile peer, tried against three live nodes under scenario ``lapse-2019`` (KOR→JPN has
lapsed; KOR→USA and USA→JPN stand; USA is the hub of the 2023 missile-warning link).

The peer signs correctly — it is a party with trusted keys — but lies: it dates a release to
before its consent expired, or in 2099; it reports on, or asks consent about, an item it never
held; it replays a body signed for one route on another. Each is refused, and nothing is
stored. And a hub killed between receiving an item and relaying it relays it after a restart,
exactly once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from gsomia.clock import SystemClock
from gsomia.domain.instants import format_instant
from gsomia.node import federation
from gsomia.node.federation import FAULT_ENV
from gsomia.node.service import Node
from gsomia.seal.service import grant_consent, release_item, seal_content
from tests.backends import Backend

from .native_client import collection_at, held_at, native, publish, wait_until
from .node_store import query
from .nodes import TAXII, NodeProc, make_nodes, opened, report, running

ERROR_KEYS = {"title", "description", "error_code", "http_status"}
PUSH = "/peer/v1/releases"
REPORTS = "/peer/v1/reports"
CONSENT_REQUESTS = "/peer/v1/consent-requests"


@pytest.fixture(scope="module")
def trio(
    tmp_path_factory: pytest.TempPathFactory, backend: Backend
) -> Iterator[dict[str, NodeProc]]:
    root = tmp_path_factory.mktemp("hostile-peer")
    nodes = make_nodes(root, scenario="lapse-2019", backend=backend)
    with running(nodes):
        yield nodes


@pytest.fixture(scope="module")
def offline(trio: dict[str, NodeProc]) -> Iterator[dict[str, Node]]:
    """Each party's node opened in process (not serving): the hostile peer's keys."""
    with opened(trio["KOR"]) as kor, opened(trio["JPN"]) as jpn, opened(trio["USA"]) as usa:
        yield {"KOR": kor, "JPN": jpn, "USA": usa}


def wall() -> datetime:
    return SystemClock().now()


def peer_post(
    to: NodeProc, sender: Node, path: str, body: bytes, *, signed_for: str | None = None
) -> httpx.Response:
    """POST ``body`` to ``path`` at ``to``, signed by ``sender`` (for ``signed_for`` if given)."""
    headers = federation.sign_request(
        sender, to.party, body, wall(), method="POST", target=signed_for or path
    )
    headers["Content-Type"] = "application/json"
    return httpx.post(to.url + path, content=body, headers=headers, timeout=10)


def refused(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = dict(r.json())
    assert set(body) == ERROR_KEYS
    assert "Traceback" not in r.text
    return body


def crafted(kor: Node, n: int, created: datetime, recipients: tuple[str, ...]) -> tuple[str, bytes]:
    """An item KOR seals at ``created`` (its grants dated then), releasable to JPN and USA."""
    obj = report(n, releasable_to=("JPN", "USA"))["objects"][2]
    item_id = f"{obj['id']}/{obj['modified']}"
    label = {
        "id": item_id,
        "originator": "KOR",
        "classification": "II",
        "releasable_to": ["JPN", "USA"],
        "topics": ["dprk.missile"],
    }
    raw = seal_content(
        kor.keyring,
        kor.scenario,
        content=orjson.dumps(obj),
        label_doc=label,
        recipients=recipients,
        created=created,
    )
    return item_id, raw


def received_ids(node: NodeProc, originator: str) -> list[str]:
    cid = collection_at(node, originator)
    r = httpx.get(
        f"{node.api_root}collections/{cid}/objects/?match[version]=all&limit=1000",
        headers={"Accept": TAXII},
        auth=node.auth("admin"),
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return [o["id"] for o in r.json().get("objects", []) if o["type"] == "report"]


def usa_releases_to_jpn(
    offline: dict[str, Node], n: int, *, at: datetime, expires: datetime
) -> tuple[str, bytes]:
    """KOR's item (sealed three days ago for USA) with KOR's consent for JPN, valid from two
    days ago until ``expires``, released onward by USA at ``at``."""
    kor, usa = offline["KOR"], offline["USA"]
    now = wall()
    item_id, raw = crafted(kor, n, now - timedelta(days=3), ("USA",))
    consent = grant_consent(
        kor.keyring,
        kor.scenario,
        raw,
        recipient="JPN",
        granted_at=now - timedelta(days=2),
        expires_at=expires,
    )
    released = release_item(usa.keyring, usa.scenario, raw, recipient="JPN", at=at, consent=consent)
    return item_id, released.item


def test_a_release_backdated_to_before_its_consent_expired_is_refused(
    trio: dict[str, NodeProc], offline: dict[str, Node]
) -> None:
    jpn = trio["JPN"]
    now = wall()
    item_id, item = usa_releases_to_jpn(
        offline, 101, at=now - timedelta(days=1, hours=12), expires=now - timedelta(days=1)
    )
    body = refused(peer_post(jpn, offline["USA"], PUSH, federation.push_body([item])), 403)
    assert "not allowed at this node's now" in body["description"]
    assert "expired" in body["description"]
    assert held_at(jpn, item_id) is None
    assert "report--00000000-0000-4000-8000-000000000101" not in received_ids(jpn, "KOR")


def test_a_delayed_release_still_allowed_is_accepted(
    trio: dict[str, NodeProc], offline: dict[str, Node]
) -> None:
    """The same release, its consent still valid: a day and a half late is not refused (a
    peer that was down receives what was stamped while it was)."""
    jpn = trio["JPN"]
    now = wall()
    item_id, item = usa_releases_to_jpn(
        offline, 102, at=now - timedelta(days=1, hours=12), expires=now + timedelta(days=1)
    )
    r = peer_post(jpn, offline["USA"], PUSH, federation.push_body([item]))
    assert r.status_code == 200, r.text
    assert r.json()["results"] == [{"item": item_id, "result": "stored"}]
    assert held_at(jpn, item_id) is not None


def test_a_release_dated_2099_is_refused(
    trio: dict[str, NodeProc], offline: dict[str, Node]
) -> None:
    usa = trio["USA"]
    item_id, item = crafted(offline["KOR"], 103, datetime(2099, 1, 1, tzinfo=UTC), ("USA",))
    body = refused(peer_post(usa, offline["KOR"], PUSH, federation.push_body([item])), 403)
    assert "2099" in body["description"]
    assert held_at(usa, item_id) is None
    assert "report--00000000-0000-4000-8000-000000000103" not in received_ids(usa, "KOR")


def report_message(item_id: str, reported_at: datetime, **extra: str) -> dict[str, Any]:
    return {
        "v": 1,
        "id": str(uuid.uuid4()),
        "item": item_id,
        "kind": "loss",
        "detail": "copy 7 missing",
        "reported_at": format_instant(reported_at),
        **extra,
    }


def received_reports(kor: NodeProc) -> list[str]:
    r = native(kor, "GET", "/reports")
    assert r.status_code == 200, r.text
    return [d["id"] for d in r.json()["received"]]


def unknown_answer(kor: NodeProc, sender: Node, path: str, doc: dict[str, Any]) -> dict[str, Any]:
    """The answer for the same message about an item that does not exist."""
    missing = "report--00000000-0000-4000-8000-999999999999/2026-01-01T00:00:00.000Z"
    ghost = {**doc, "id": str(uuid.uuid4()), "item": missing}
    body = refused(peer_post(kor, sender, path, orjson.dumps(ghost)), 404)
    body["description"] = body["description"].replace(missing, "ITEM")
    return body


def test_a_report_from_a_party_that_never_held_the_item_is_refused(
    trio: dict[str, NodeProc], offline: dict[str, Node]
) -> None:
    kor, usa = trio["KOR"], trio["USA"]
    item = publish(kor, report(104, releasable_to=("JPN", "USA")))  # lapsed: USA only
    wait_until(lambda: held_at(usa, item), "the item at USA")
    before = received_reports(kor)
    doc = report_message(item, wall())
    body = refused(peer_post(kor, offline["JPN"], REPORTS, orjson.dumps(doc)), 404)
    body["description"] = body["description"].replace(item, "ITEM")
    assert body == unknown_answer(kor, offline["JPN"], REPORTS, doc)
    # a holder's report dated in 2099 is answered the same way
    future = report_message(item, datetime(2099, 1, 1, tzinfo=UTC))
    assert refused(peer_post(kor, offline["USA"], REPORTS, orjson.dumps(future)), 404)
    assert received_reports(kor) == before
    # USA holds it: its report is recorded and acknowledged
    ok = report_message(item, wall())
    r = peer_post(kor, offline["USA"], REPORTS, orjson.dumps(ok))
    assert r.status_code == 200, r.text
    assert received_reports(kor) == [*before, ok["id"]]


def test_a_holder_by_standing_consent_may_report(
    trio: dict[str, NodeProc], offline: dict[str, Node]
) -> None:
    """JPN received a missile warning from USA, the hub, on the link's standing consent: KOR's
    records never name JPN, but KOR knows the hub may pass it on, so JPN's report stands."""
    kor, jpn = trio["KOR"], trio["JPN"]
    item = publish(kor, report(105, releasable_to=("JPN", "USA"), topics=("dprk.missile.warning",)))
    wait_until(lambda: held_at(jpn, item), "the relayed item at JPN")
    doc = report_message(item, wall())
    r = peer_post(kor, offline["JPN"], REPORTS, orjson.dumps(doc))
    assert r.status_code == 200, r.text
    assert doc["id"] in received_reports(kor)


def test_a_consent_request_from_a_non_holder_is_refused(
    trio: dict[str, NodeProc], offline: dict[str, Node]
) -> None:
    kor, usa = trio["KOR"], trio["USA"]
    item = publish(kor, report(106, releasable_to=("JPN", "USA")))
    wait_until(lambda: held_at(usa, item), "the item at USA")
    digest = held_at(kor, item)["digest"]  # type: ignore[index]
    doc = {
        "v": 1,
        "id": str(uuid.uuid4()),
        "item": item,
        "item_digest": digest,
        "recipient": "USA",
        "requested_at": format_instant(wall()),
    }
    body = refused(peer_post(kor, offline["JPN"], CONSENT_REQUESTS, orjson.dumps(doc)), 404)
    body["description"] = body["description"].replace(item, "ITEM")
    assert body == unknown_answer(kor, offline["JPN"], CONSENT_REQUESTS, doc)
    inbox = native(kor, "GET", "/consent-requests", params={"box": "inbox"}).json()
    assert doc["id"] not in {d["id"] for d in inbox}


def test_a_body_signed_for_one_route_is_refused_on_another(
    trio: dict[str, NodeProc], offline: dict[str, Node]
) -> None:
    """A body that reads both as a consent request and as a loss report, signed by a holder
    for the consent route, replayed on the report route: 401, nothing stored."""
    kor, usa = trio["KOR"], trio["USA"]
    item = publish(kor, report(107, releasable_to=("JPN", "USA")))
    wait_until(lambda: held_at(usa, item), "the item at USA")
    digest = held_at(kor, item)["digest"]  # type: ignore[index]
    doc = report_message(
        item,
        wall(),
        item_digest=digest,
        recipient="JPN",
        requested_at=format_instant(wall()),
    )
    body = orjson.dumps(doc)
    before = received_reports(kor)
    refused(peer_post(kor, offline["USA"], REPORTS, body, signed_for=CONSENT_REQUESTS), 401)
    refused(peer_post(kor, offline["USA"], REPORTS, body, signed_for=REPORTS + "?x=1"), 401)
    assert received_reports(kor) == before
    # signed for the route it is sent to, the same body is a report
    assert peer_post(kor, offline["USA"], REPORTS, body).status_code == 200


def test_a_hub_killed_between_receiving_and_relaying_relays_once_after_restart(
    tmp_path: Path, backend: Backend
) -> None:
    """USA, the hub, dies (``os._exit``, as SIGKILL) right after the receipt of a missile
    warning commits; after a restart JPN receives the relay, once, and KOR's retried push is
    answered as a duplicate."""
    nodes = make_nodes(tmp_path, scenario="lapse-2019", backend=backend)
    kor, jpn, usa = nodes["KOR"], nodes["JPN"], nodes["USA"]
    usa.env = {**usa.env, FAULT_ENV: "after-receipt-commit"}
    for node in nodes.values():
        node.start()
    try:
        item = publish(
            kor, report(1, releasable_to=("JPN", "USA"), topics=("dprk.missile.warning",))
        )
        assert usa.proc is not None
        assert usa.proc.wait(30) == 137, "the hub did not reach the fault point"
        usa.proc = None
        usa.env = {k: v for k, v in usa.env.items() if k != FAULT_ENV}
        usa.start()
        at_jpn = wait_until(lambda: held_at(jpn, item), "the relay at JPN", timeout=30)
        [release] = at_jpn["releases"]
        assert (release["holder"], release["recipient"]) == ("USA", "JPN")
        assert release["standing_consent"] == "trilateral-missile-warning-2023"
        at_usa = held_at(usa, item)
        assert at_usa is not None
        assert [(r["holder"], r["recipient"]) for r in at_usa["releases"]] == [("USA", "JPN")]
        assert received_ids(jpn, "KOR") == [item.split("/")[0]]
        assert received_ids(usa, "KOR") == [item.split("/")[0]]
        # KOR's push, cut off by the crash, is retried and answered as a duplicate; USA's
        # relay, queued with the receipt, was sent once
        wait_until(lambda: outbox_settled(kor), "KOR's retried push", timeout=60)
        wait_until(lambda: outbox_settled(usa), "USA's relay marked sent", timeout=60)
    finally:
        for node in nodes.values():
            node.stop()


def outbox_settled(node: NodeProc) -> dict[str, int] | None:
    """The node's outbox counts once one release was sent and none is pending."""
    rows = query(node, "SELECT state, COUNT(*) FROM outbox GROUP BY state")
    counts = {str(state): int(n) for state, n in rows}
    return counts if counts == {"sent": 1} else None
