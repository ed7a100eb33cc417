"""Derived items between in-process nodes (DOMAIN.md §7.6): JPN writes an assessment from a KOR
and a USA report; its label is held to the sources at publish; passing it to USA needs KOR's
consent (USA, a source's originator, may receive it), refused without it at the sender and at
the receiver, released with it; the sources and "used in" lists, and their console page."""

from __future__ import annotations

import asyncio
import base64
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest
from starlette.types import ASGIApp

from gsomia.app.asgi import create_app
from gsomia.app.boot import load_config, open_node
from gsomia.clock import FixedClock
from gsomia.domain.parties import Equivalence
from gsomia.domain.release import decide
from gsomia.errors import BadInput, NotFound, VerificationFailed
from gsomia.node import consents, derived, federation, messages
from gsomia.node.config import User
from gsomia.node.holdings import held, item_details
from gsomia.node.service import Node
from gsomia.node.stix import extension_definition, label_marking
from gsomia.seal.sealer import Sealer, SealRequest
from gsomia.seal.service import sealed_label
from gsomia.seal.views import Grant
from tests.integration.nodes import PASSPHRASE, make_nodes, report

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
CREATED = "2026-01-01T00:00:00.000Z"


def rid(n: int) -> str:
    return f"report--00000000-0000-4000-8000-{n:012d}/{CREATED}"


KOR_ITEM, USA_ITEM, SECRET_USA = rid(1), rid(2), rid(3)


def user(node: Node, name: str) -> User:
    return next(u for u in node.config.users if u.name == name)


def take(node: Node, path: str) -> list[tuple[str, bytes]]:
    rows = [m for m in messages.due(node, 1e12, 1000) if m.path == path]
    with node.store.writing() as w:
        for m in rows:
            w.message_done(m.id, "sent")
    return [(m.recipient, m.body) for m in rows]


def deliver(node: Node, to: Node) -> list[str]:
    rows = [r for r in federation.due(node, 1e12) if r.recipient == to.party]
    ready = federation.recheck(node, rows, NOW)
    got = federation.receive(to, node.party, [o.item for o in ready], NOW)
    federation.mark_sent(node, ready, NOW)
    return [g.result for g in got]


TOKENS: dict[str, dict[str, str]] = {}
APPS: dict[str, ASGIApp] = {}


def app(node: Node) -> ASGIApp:
    """The node's application, made once per node (its background senders off)."""
    if node.party not in APPS:
        APPS[node.party] = create_app(node, push=False)
    return APPS[node.party]


@pytest.fixture(scope="module")
def trio(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Node]:
    procs = make_nodes(tmp_path_factory.mktemp("derived"), scenario="historical")
    TOKENS.update({p: procs[p].users for p in procs})
    clock = FixedClock(NOW)
    nodes = {
        p: open_node(load_config(procs[p].config), clock=clock, passphrase=PASSPHRASE.encode())
        for p in procs
    }
    kor, usa, jpn = nodes["KOR"], nodes["USA"], nodes["JPN"]
    kor_env = report(1, "KOR", releasable_to=("JPN", "USA"))
    kor.publish(user(kor, "analyst"), kor_env["objects"], kor.collection_id("KOR"))
    usa_env = report(2, "USA", releasable_to=("JPN", "KOR"), classification="CONFIDENTIAL")
    usa.publish(user(usa, "analyst"), usa_env["objects"], usa.collection_id("USA"))
    # a top-secret USA report on a topic JPN's "low" user does not need to know
    top = report(3, "USA", releasable_to=("JPN",), classification="TOP_SECRET")
    usa.publish(user(usa, "analyst"), top["objects"], usa.collection_id("USA"))
    assert sorted(deliver(kor, jpn) + deliver(kor, usa)) == ["stored", "stored"]
    assert deliver(usa, jpn) == ["stored", "stored"]
    assert deliver(usa, kor) == ["stored"]
    return nodes


SOURCES: list[dict[str, Any]] = [
    {"item": KOR_ITEM, "originator": "KOR", "kind": "assessment"},
    {"item": USA_ITEM, "originator": "USA", "kind": "translation", "language": "ja"},
]


def assessment(
    n: int,
    *,
    classification: str = "GOKUHI",
    releasable_to: tuple[str, ...] = ("KOR", "USA"),
    topics: tuple[str, ...] = ("dprk.missile",),
    sources: list[dict[str, Any]] | None = None,
    purposes: list[str] | None = None,
) -> list[dict[str, Any]]:
    extra: dict[str, Any] = {"derived_from": SOURCES if sources is None else sources}
    if purposes is not None:
        extra["purposes"] = purposes
    marking = label_marking(
        policy="JP-MOD-CMI",
        originator="JPN",
        classification=classification,
        releasable_to=releasable_to,
        topics=topics,
        created=CREATED,
        extra=extra,
    )
    obj = {
        "type": "report",
        "spec_version": "2.1",
        "id": f"report--00000000-0000-4000-8000-{n:012d}",
        "created": CREATED,
        "modified": CREATED,
        "name": f"Assessment {n}",
        "published": CREATED,
        "report_types": ["threat-report"],
        "object_refs": ["identity--00000000-0000-4000-8000-000000000001"],
        "object_marking_refs": [marking["id"]],
    }
    return [extension_definition(), marking, obj]


def publish(jpn: Node, objects: list[dict[str, Any]], who: str = "analyst") -> None:
    jpn.publish(user(jpn, who), objects, jpn.collection_id("JPN"))


@pytest.mark.parametrize(
    ("label", "words"),
    [
        (
            {"classification": "HI"},
            rf"classification HI \(CONFIDENTIAL\) is lower than source {KOR_ITEM}'s II \(KOR",
        ),
        (
            {"releasable_to": ("KOR", "USA"), "sources": [*SOURCES[:1], {**SOURCES[1]}]}
            | {"topics": ("dprk",)},
            rf"topics lack dprk.missile of source {KOR_ITEM}",
        ),
        (
            {"purposes": ["defense.policy", "defense"]},
            None,  # accepted below: the sources are for defense
        ),
        (
            {"sources": [{**SOURCES[0], "originator": "USA"}, SOURCES[1]]},
            rf"source {KOR_ITEM} was originated by KOR, not USA",
        ),
        (
            {"sources": [*SOURCES, {"item": rid(99), "originator": "USA", "kind": "extract"}]},
            rf"derived_from\[2\]: no item '{rid(99)}' at JPN",
        ),
    ],
)
def test_publish_holds_the_label_to_its_sources(
    trio: dict[str, Node], label: dict[str, Any], words: str | None
) -> None:
    jpn = trio["JPN"]
    if words is None:
        publish(jpn, assessment(20 + len(label), **label))
        return
    with pytest.raises(BadInput, match=words):
        publish(jpn, assessment(20, **label))


def test_a_derived_item_binds_its_writer_s_users_to_its_purposes(trio: dict[str, Node]) -> None:
    """Written from other parties' items, it is for the purposes its label gives at its writer
    too: a source's purpose limit is not laundered through an extract."""
    jpn = trio["JPN"]
    publish(jpn, assessment(77, purposes=["defense.assessment"]))
    analyst = user(jpn, "analyst")
    planner = replace(analyst, clearance=replace(analyst.clearance, purposes=("defense.policy",)))
    assessor = replace(
        analyst, clearance=replace(analyst.clearance, purposes=("defense.assessment",))
    )
    item = rid(77)
    assert item_details(jpn, assessor, item).verified.label.id == item
    with pytest.raises(NotFound, match="no item"):
        item_details(jpn, planner, item)


def test_a_wider_label_is_refused_naming_the_source(trio: dict[str, Node]) -> None:
    jpn = trio["JPN"]
    sources = [SOURCES[0], {"item": SECRET_USA, "originator": "USA", "kind": "extract"}]
    # the top-secret USA source is releasable to JPN only: KOR may not receive the assessment
    with pytest.raises(
        BadInput, match=rf"releasable_to KOR is wider than source {SECRET_USA} allows"
    ):
        publish(jpn, assessment(30, classification="KIMITSU", sources=sources))
    # and lower than it
    with pytest.raises(BadInput, match=rf"lower than source {SECRET_USA}'s TOP_SECRET \(USA"):
        publish(jpn, assessment(30, releasable_to=("USA",), sources=sources))


def test_a_hidden_source_is_answered_as_a_missing_one(trio: dict[str, Node]) -> None:
    jpn = trio["JPN"]
    sources = [{"item": SECRET_USA, "originator": "USA", "kind": "extract"}]
    hidden = rf"derived_from\[0\]: no item '{SECRET_USA}' at JPN"
    missing = rf"derived_from\[0\]: no item '{rid(98)}' at JPN"
    # "low" is cleared for HI and needs to know dprk.nuclear only: it may write such an item,
    # but not see the top-secret source, which is answered as the missing one is
    for sources, words in (
        ([{"item": SECRET_USA, "originator": "USA", "kind": "extract"}], hidden),
        ([{"item": rid(98), "originator": "USA", "kind": "extract"}], missing),
    ):
        low = assessment(
            31, classification="HI", releasable_to=(), topics=("dprk.nuclear",), sources=sources
        )
        with pytest.raises(BadInput, match=words):
            publish(jpn, low, "low")


def test_derived_release_needs_every_other_originators_consent(trio: dict[str, Node]) -> None:
    kor, usa, jpn = trio["KOR"], trio["USA"], trio["JPN"]
    objects = assessment(40)
    publish(jpn, objects)
    item = f"{objects[-1]['id']}/{CREATED}"
    # the sender's decision: nothing was queued, to KOR (USA's consent) or USA (KOR's)
    assert [r for r in federation.due(jpn, 1e12) if r.item_id == item] == []
    label = held(jpn, item).verified.domain_label("GOKUHI")
    assert label.derived_from[1].language == "ja"
    why = decide(jpn.scenario, label, holder="JPN", recipient="USA", at=NOW)
    assert any("derived from items of KOR" in r for r in why.reasons)

    # the receiver re-decides: a copy sealed with a grant to USA, bypassing the decision
    marking = jpn.scenario.policy("USA").marking_for(Equivalence.SECRET, "JPN").to_json()
    grant = Grant("USA", ("jpn-usa-gsomia-2007",), NOW, marking)
    raw = Sealer(jpn.keyring).seal(
        SealRequest(b"{}", sealed_label(jpn.scenario, label, NOW), (grant,))
    )
    with pytest.raises(VerificationFailed, match="derived from items of KOR"):
        federation.receive(usa, "JPN", [raw], NOW)

    # JPN asks KOR; KOR checks the sealed derived item and grants; the release goes out
    admin = user(jpn, "admin")
    with pytest.raises(BadInput, match="USA's consent is not needed"):
        consents.request_consent(jpn, admin, item, "USA", USA_ITEM)
    asked = consents.request_consent(jpn, admin, item, "USA", KOR_ITEM)
    assert (asked.originator, asked.source) == ("KOR", KOR_ITEM)
    [(to, body)] = take(jpn, messages.CONSENT_REQUEST_PATH)
    assert to == "KOR"
    with pytest.raises(NotFound, match="USA originated no item"):
        consents.receive_request(usa, "JPN", body, NOW)  # not USA's source
    tampered = orjson.loads(body)
    tampered["item_digest"] = "00" * 32
    tampered["id"] = messages.new_id()
    with pytest.raises(VerificationFailed, match="the derived item is not"):
        consents.receive_request(kor, "JPN", orjson.dumps(tampered), NOW)
    # a derived label lower than KOR's source (sealed by JPN, never published) is refused
    lower = replace(label, classification="HI")
    low_raw = Sealer(jpn.keyring).seal(
        SealRequest(b"{}", sealed_label(jpn.scenario, lower, NOW), ())
    )
    low_doc = orjson.loads(body) | {
        "id": messages.new_id(),
        "derived": base64.b64encode(low_raw).decode(),
        "item_digest": held_digest(low_raw, jpn),
    }
    with pytest.raises(BadInput, match=rf"HI \(CONFIDENTIAL\) is lower than source {KOR_ITEM}"):
        consents.receive_request(kor, "JPN", orjson.dumps(low_doc), NOW)
    assert consents.receive_request(kor, "JPN", body, NOW).result == "stored"
    [inbox] = consents.requests(kor, user(kor, "admin"), "inbox")
    assert (inbox.item, inbox.source, inbox.recipient) == (item, KOR_ITEM, "USA")
    consents.grant(kor, user(kor, "admin"), inbox.id, None)
    [(back, answer)] = take(kor, messages.CONSENT_ANSWER_PATH)
    assert back == "JPN"
    token = base64.b64decode(orjson.loads(answer)["consent"])
    with pytest.raises(VerificationFailed, match="given for another item"):
        usa.verifier.verify_consent(
            token,
            label=held(usa, KOR_ITEM).verified.label,
            digest=held(usa, KOR_ITEM).verified.digest,
        )
    assert consents.receive_answer(jpn, "KOR", answer, NOW).release == "queued"
    assert deliver(jpn, usa) == ["stored"]
    at_usa = item_details(usa, user(usa, "analyst"), item)
    [release] = at_usa.verified.releases
    assert release.consent is not None
    assert (release.consent.originator, release.consent.source) == ("KOR", KOR_ITEM)

    # sources and where items were used, as each reader sees them
    shown = derived.sources(usa, user(usa, "analyst"), item)
    assert [(s.item, s.kind, s.language, s.visible) for s in shown] == [
        (KOR_ITEM, "assessment", None, True),
        (USA_ITEM, "translation", "ja", True),
    ]
    used = derived.derived(usa, user(usa, "analyst"), USA_ITEM)
    assert [(d.item, d.originator, d.kind, d.language) for d in used] == [
        (item, "JPN", "translation", "ja")
    ]
    with pytest.raises(NotFound, match="no item"):  # "low" sees neither
        derived.derived(usa, user(usa, "low"), USA_ITEM)
    assert derived.derived(kor, user(kor, "analyst"), KOR_ITEM) == ()  # KOR holds no copy
    with pytest.raises(NotFound, match="no item"):
        derived.sources(usa, user(usa, "low"), item)

    # the same through HTTP: the native API and the console, in process
    http_views(usa, item)
    # JPN's admin asks USA (a source's originator), from the item's console page, for consent
    # to pass it to KOR; the API then finds it pending
    assert console_request(jpn, item, "KOR", USA_ITEM) == 303
    sent = consents.requests(jpn, user(jpn, "admin"), "outbox")
    [outbox] = [r for r in sent if r.status == "pending"]
    assert (outbox.item, outbox.originator, outbox.source, outbox.recipient) == (
        item,
        "USA",
        USA_ITEM,
        "KOR",
    )
    again = call(
        jpn,
        "POST",
        "/native/v1/consent-requests",
        "admin",
        json={"item": item, "recipient": "KOR", "source": USA_ITEM},
    )
    assert again.status_code == 409, again.text
    refused = call(
        jpn,
        "POST",
        "/native/v1/consent-requests",
        "admin",
        json={"item": item, "recipient": "USA", "source": rid(77)},
    )
    assert refused.status_code == 422  # BadInput, as the native API answers it
    assert f"is not derived from '{rid(77)}'" in refused.json()["description"]


def held_digest(raw: bytes, node: Node) -> str:
    return node.verifier.verify(raw).digest.hex()


def call(node: Node, method: str, path: str, who: str = "analyst", **kw: Any) -> httpx.Response:
    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=app(node))
        async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
            auth = (who, TOKENS[node.party][who])
            return await client.request(method, path, auth=auth, **kw)

    return asyncio.run(run())


async def signed_in(client: httpx.AsyncClient, party: str, who: str) -> str:
    """Sign ``who`` in to ``party``'s console; the session's CSRF token."""
    login = await client.get("/console/login")
    found = re.search(r'name="csrf" value="([^"]+)"', login.text)
    assert found is not None
    form = {"csrf": found.group(1), "token": TOKENS[party][who]}
    assert (await client.post("/console/login", data=form)).status_code == 303
    page = await client.get("/console/consents")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    return token.group(1)


def console_request(node: Node, item: str, recipient: str, source: str) -> int:
    async def run() -> int:
        transport = httpx.ASGITransport(app=app(node))
        async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
            csrf = await signed_in(client, node.party, "admin")
            form = {"csrf": csrf, "item": item, "recipient": recipient, "source": source}
            return (await client.post("/console/consents/request", data=form)).status_code

    return asyncio.run(run())


def http_views(usa: Node, item: str) -> None:
    sources = call(usa, "GET", f"/native/v1/items/{item}/sources")
    assert sources.status_code == 200, sources.text
    assert [(s["item"], s["kind"], s["language"]) for s in sources.json()] == [
        (KOR_ITEM, "assessment", None),
        (USA_ITEM, "translation", "ja"),
    ]
    used = call(usa, "GET", f"/native/v1/items/{USA_ITEM}/derived")
    assert used.json() == [
        {"item": item, "originator": "JPN", "kind": "translation", "language": "ja"}
    ]
    hidden = call(usa, "GET", f"/native/v1/items/{item}/sources", "low")
    missing = call(usa, "GET", f"/native/v1/items/{rid(97)}/sources", "low")
    assert (hidden.status_code, missing.status_code) == (404, 404)
    assert call(usa, "GET", f"/native/v1/items/{item}").status_code == 200  # the item route still

    async def pages() -> tuple[str, str]:
        transport = httpx.ASGITransport(app=app(usa))
        async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
            await signed_in(client, "USA", "admin")
            page = await client.get(f"/console/items/{quote(item, safe='')}")
            source_page = await client.get(f"/console/items/{quote(USA_ITEM, safe='')}")
            return page.text, source_page.text

    page, source_page = asyncio.run(pages())
    assert 'id="sources"' in page
    assert "translation into ja" in page
    assert f'href="/console/items/{quote(KOR_ITEM, safe="")}"' in page
    assert "originated by KOR" in page
    assert "source-consent-form" in page  # an admin may ask KOR (the other source's originator)
    assert "(originator of the source" in page  # the release carried KOR's source consent
    assert 'id="used-in"' in source_page
    assert f'href="/console/items/{quote(item, safe="")}"' in source_page
