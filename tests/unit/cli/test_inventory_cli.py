"""``gsomia node inventory``: the text table, the signed statement with --json (it verifies at
another party), and the exit codes (2 bad input, 3 a stored certificate that does not verify)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from gsomia.app.boot import load_config, open_node
from gsomia.cli.app import main
from gsomia.clock import FixedClock
from gsomia.node import destruction, federation, inventory
from gsomia.node.holdings import DESTRUCTION_CERTIFICATE
from gsomia.node.service import Node
from tests.integration.nodes import PASSPHRASE, NodeProc, make_nodes, report

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ITEM = "report--00000000-0000-4000-8000-{:012d}/2026-01-01T00:00:00.000Z"


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, NodeProc], Node, Node]:
    """USA holds KOR's items 1 and 2 (2 destroyed) and its own item 3."""
    procs = make_nodes(tmp_path_factory.mktemp("inv-cli"), ("KOR", "USA"), scenario="lapse-2019")
    kor, usa = (
        open_node(
            load_config(procs[p].config), clock=FixedClock(NOW), passphrase=PASSPHRASE.encode()
        )
        for p in ("KOR", "USA")
    )
    for node, n in ((kor, 1), (kor, 2), (usa, 3)):
        analyst = next(u for u in node.config.users if u.name == "analyst")
        envelope = report(n, node.party, releasable_to=("KOR",) if n == 3 else ("USA",))
        node.publish(analyst, envelope["objects"], node.collection_id(node.party))
    ready = federation.recheck(kor, federation.due(kor, 1e12), NOW)
    federation.receive(usa, "KOR", [o.item for o in ready], NOW)
    federation.mark_sent(kor, ready, NOW)
    admin = next(u for u in usa.config.users if u.name == "admin")
    destruction.destroy(usa, admin, ITEM.format(2), "returned")
    return procs, kor, usa


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GSOMIA_PASSPHRASE", PASSPHRASE)


def test_the_table_shows_each_item_its_arrival_and_disposition(
    nodes: tuple[dict[str, NodeProc], Node, Node], capsys: pytest.CaptureFixture[str]
) -> None:
    procs, _, _ = nodes
    code, out, err = run(capsys, "node", "inventory", "--config", str(procs["USA"].config))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith("inventory of USA at ")
    assert lines[1].split()[:3] == ["ITEM", "ORIGINATOR", "CLASS"]
    rows = {line.split()[0]: line for line in lines[2:]}
    assert "from KOR at " in rows[ITEM.format(1)]
    assert " held" in rows[ITEM.format(1)]
    assert "destroyed 2026-03-01T09:00:00+00:00: returned" in rows[ITEM.format(2)]
    assert "originated here" in rows[ITEM.format(3)]


def test_json_is_the_signed_statement_and_verifies_at_the_originator(
    nodes: tuple[dict[str, NodeProc], Node, Node], capsys: pytest.CaptureFixture[str]
) -> None:
    procs, kor, _ = nodes
    config = str(procs["USA"].config)
    code, out, _ = run(
        capsys, "node", "inventory", "--config", config, "--originator", "KOR", "--json"
    )
    assert code == 0
    doc = json.loads(out)
    stated = inventory.verify_inventory(kor, doc, "USA")
    assert [(e.item, e.disposition) for e in stated.entries] == [
        (ITEM.format(1), "held"),
        (ITEM.format(2), "destroyed"),
    ]


def test_bad_input_exits_2_and_a_certificate_that_fails_exits_3(
    nodes: tuple[dict[str, NodeProc], Node, Node],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    procs, _, usa = nodes
    config = str(procs["USA"].config)
    code, out, err = run(capsys, "node", "inventory", "--config", config, "--originator", "XXX")
    assert (code, out) == (2, "")
    assert "originator: unknown party 'XXX'" in err
    monkeypatch.delenv("GSOMIA_PASSPHRASE")
    code, _, err = run(capsys, "node", "inventory", "--config", config)
    assert code == 2
    assert "set GSOMIA_PASSPHRASE or pass --key-file" in err
    monkeypatch.setenv("GSOMIA_PASSPHRASE", PASSPHRASE)
    with usa.store.reading() as r:
        found = r.document(DESTRUCTION_CERTIFICATE, ITEM.format(2))
    assert found is not None
    forged = {**found.body, "body": {**found.body["body"], "reason": "never happened"}}
    with usa.store.writing() as w:
        w.put_document(DESTRUCTION_CERTIFICATE, ITEM.format(2), ITEM.format(2), forged, None)
    code, out, err = run(capsys, "node", "inventory", "--config", config, "--json")
    assert (code, out) == (3, "")
    assert "the signature of USA does not verify" in err
