"""The console pages' view logic on an in-process node: items the user may see, "why not?" in
plain words, the timeline's scenario choice, and the server's verdict on inclusion proofs."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from gsomia.app.boot import load_config, open_node
from gsomia.clock import FixedClock
from gsomia.console import pages
from gsomia.console.session import make_env
from gsomia.errors import BadInput, NotFound
from gsomia.node import witnessing
from gsomia.node.config import User
from gsomia.node.service import Node
from tests.integration.nodes import PASSPHRASE, make_nodes, report

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
HOSTILE = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def kor(tmp_path_factory: pytest.TempPathFactory) -> Node:
    procs = make_nodes(tmp_path_factory.mktemp("views"), scenario="lapse-2019")
    node = open_node(
        load_config(procs["KOR"].config), clock=FixedClock(NOW), passphrase=PASSPHRASE.encode()
    )
    for n, name in ((1, "Report 1"), (2, HOSTILE)):
        envelope = report(n, releasable_to=("USA",))
        envelope["objects"][-1]["name"] = name
        node.publish(user(node, "analyst"), envelope["objects"], node.collection_id("KOR"))
    nuclear = report(3, releasable_to=("USA",), topics=("dprk.missile",), classification="I")
    node.publish(user(node, "admin"), nuclear["objects"], node.collection_id("KOR"))
    return node


def user(node: Node, name: str) -> User:
    return next(u for u in node.config.users if u.name == name)


def item(n: int) -> str:
    return f"report--00000000-0000-4000-8000-{n:012d}/2026-01-01T00:00:00.000Z"


def test_items_listed_are_those_the_user_may_see(kor: Node) -> None:
    seen = pages.visible_items(kor, user(kor, "analyst"))
    assert [i.item_id for i in seen] == [item(3), item(2), item(1)]
    assert seen[1].title == HOSTILE  # text; the template escapes it
    low = pages.visible_items(kor, user(kor, "low"))  # clearance III, need to know nuclear
    assert low == []
    assert pages.visible_items(kor, user(kor, "analyst"), originated=False) == []


def test_why_not_says_each_rule_in_plain_words(kor: Node) -> None:
    doc = pages.why_not_view(kor, user(kor, "analyst"), item(1), "JPN")
    assert doc.decision == "deny"
    gsomia = next(c for c in doc.rules if c.agreement == "jpn-kor-gsomia-2016")
    words = {r.rule: (r.holds, r.words) for r in gsomia.rules}
    assert words[2] == (False, "Is the agreement in force at that instant?")
    assert words[6] == (False, "Does the item's label make it releasable to the recipient?")
    assert pages.why_not_view(kor, user(kor, "analyst"), item(1), "USA").decision == "allow"
    with pytest.raises(NotFound, match=r"^no item .* at KOR$"):
        pages.why_not_view(kor, user(kor, "low"), item(1), "USA")
    # in 2018 the GSOMIA was in force: only the label stands in the way
    then = pages.why_not_view(kor, user(kor, "analyst"), item(1), "JPN", "2018-01-01T00:00+09:00")
    gsomia = next(c for c in then.rules if c.agreement == "jpn-kor-gsomia-2016")
    assert [r.rule for r in gsomia.rules if not r.holds] == [6]
    with pytest.raises(BadInput, match=r"^at: "):
        pages.why_not_view(kor, user(kor, "analyst"), item(1), "JPN", "2018-01-01")


def test_the_timeline_shows_the_chosen_scenario_and_says_which_is_enforced(kor: Node) -> None:
    uploads = pages.ScenarioUploads()
    charts = pages.Charts(make_env())
    own = pages.agreements_view(kor, uploads, "s", pages.NODE_SCENARIO, None, charts=charts)
    assert own["enforced"]
    assert own["chart"].cursor == NOW
    other = pages.agreements_view(
        kor, uploads, "s", "historical", "2020-06-01T00:00:00+09:00", charts=charts
    )
    assert not other["enforced"]
    assert other["scenario"].name == "historical"
    assert kor.scenario.name == "lapse-2019"  # viewing changes nothing the node enforces
    with pytest.raises(BadInput, match=r"^at: "):
        pages.agreements_view(kor, uploads, "s", "historical", "2020-06-01T00:00:00", charts=charts)
    with pytest.raises(BadInput, match=r"^scenario: "):
        pages.agreements_view(kor, uploads, "s", "../etc/passwd", None, charts=charts)
    key, _ = uploads.add("s", 'extends = "historical"\nname = "w"\ntitle = "w"\n', "w.toml")
    assert (
        pages.agreements_view(kor, uploads, "s", key, None, charts=charts)["scenario"].name == "w"
    )
    with pytest.raises(NotFound, match="no uploaded scenario 'upload-1' in this session"):
        pages.agreements_view(kor, uploads, "another session", key, None, charts=charts)
    keys = [c.key for c in pages.scenario_choices(kor, uploads, "s")]
    assert keys == [pages.NODE_SCENARIO, "historical", "lapse-2019", key]


def test_the_server_verifies_a_proof_and_refuses_tampered_ones(kor: Node) -> None:
    with pytest.raises(NotFound, match="no signed checkpoint yet"):  # a read never signs
        pages.proof_view(kor, user(kor, "analyst"), item(1))
    witnessing.sign_checkpoint(kor)  # as the node's schedule does
    shown = pages.proof_view(kor, user(kor, "analyst"), item(1))
    assert shown["verdict"].ok, shown["verdict"].message
    assert shown["entry_type"] == "item.published"
    doc = orjson.loads(shown["proof_text"])
    note: str = shown["note"]

    def verdict(changed: dict[str, object], on: str = note) -> str:
        result = pages.server_verdict(kor, orjson.dumps(changed).decode(), on)
        assert not result.ok
        return result.message

    entry = doc["entry"].replace("item.published", "item.publishee")
    assert "the entry's hash is not the proof's leaf hash" in verdict({**doc, "entry": entry})
    proof = doc["proof"]
    moved = {**doc, "proof": {**proof, "index": proof["index"] ^ 1}}
    assert "Verification failed on the server" in verdict(moved)
    lines = note.split("\n")
    lines[2] = "A" * 43 + "="  # another root under the same signature
    assert "signature" in verdict(doc, "\n".join(lines)).lower()
    assert "no log entry" in verdict({"proof": proof})
    garbled = pages.server_verdict(kor, "{not json", note)
    assert not garbled.ok
    assert "the proof is not JSON" in garbled.message


def test_the_timeline_page_escapes_uploaded_text(kor: Node) -> None:
    uploads = pages.ScenarioUploads()
    charts = pages.Charts(make_env())
    hostile = (
        'extends = "historical"\nname = "h"\ntitle = "</title><script>x()</script>"\n'
        "[[agreements]]\n"
        'id = "odd"\ntitle = "<img src=x onerror=y()>"\nparties = ["JPN", "USA"]\n'
        'start = "2020-01-01T00:00:00+09:00"\nclasses = ["SECRET"]\n'
    )
    key, _ = uploads.add("s", hostile, "h.toml")
    context = pages.agreements_view(kor, uploads, "s", key, None, charts=charts)
    html = (
        make_env()
        .get_template("agreements.html")
        .render(
            party="KOR",
            user=None,
            csrf="t",
            csrf_field="csrf",
            nav=[],
            path="/",
            prefix="/console",
            title="Agreements",
            error=None,
            is_admin=True,
            at_text="",
            **context,
        )
    )
    assert "<script>x()" not in html
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=y()&gt;" in html
    assert "&lt;/title&gt;&lt;script&gt;x()&lt;/script&gt;" in html
    assert 'data-agreement="odd"' in html
