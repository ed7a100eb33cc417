"""``gsomia node destroy``: an admin of the node destroys an item offline, on the node's store;
a non-admin (exit 4), an unknown user or item (exit 2) are refused in one line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from gsomia.app.boot import load_config, open_node
from gsomia.cli.app import main
from gsomia.clock import FixedClock
from gsomia.node import federation
from tests.integration.nodes import PASSPHRASE, make_nodes, report

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ITEM = "report--00000000-0000-4000-8000-000000000001/2026-01-01T00:00:00.000Z"


def test_gsomia_node_destroy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    procs = make_nodes(tmp_path, ("KOR", "USA"))
    kor, usa = (
        open_node(
            load_config(procs[p].config), clock=FixedClock(NOW), passphrase=PASSPHRASE.encode()
        )
        for p in ("KOR", "USA")
    )
    try:
        analyst = next(u for u in kor.config.users if u.name == "analyst")
        kor.publish(analyst, report(1, releasable_to=("USA",))["objects"], kor.collection_id("KOR"))
        rows = [r for r in federation.due(kor, 1e12, 100) if r.item_id == ITEM]
        ready = federation.recheck(kor, rows, NOW)
        federation.receive(usa, "KOR", [o.item for o in ready], NOW)
    finally:
        kor.close()
        usa.close()
    monkeypatch.setenv("GSOMIA_PASSPHRASE", PASSPHRASE)
    config = str(procs["USA"].config)

    def run(*argv: str, code: int = 0) -> str:
        got = main(["node", "destroy", *argv])
        out, err = capsys.readouterr()
        assert got == code, (argv, out, err)
        if code:
            assert err.startswith("error: ")
            assert "Traceback" not in err
            return err
        return out

    assert "is not an admin of USA" in run(
        ITEM, "--config", config, "--reason", "x", "--as", "analyst", code=4
    )
    assert "--as: no user 'nobody'" in run(
        ITEM, "--config", config, "--reason", "x", "--as", "nobody", code=2
    )
    missing = ITEM.replace("0001/", "0009/")
    assert f"no item '{missing}' at USA" in run(
        missing, "--config", config, "--reason", "x", code=2
    )
    doc = orjson.loads(run(ITEM, "--config", config, "--reason", "no longer needed", "--json"))
    assert (doc["item"], doc["holder"], doc["authorised_by"]) == (ITEM, "USA", "admin")
    assert doc["certificate"]["kind"] == "destruction"
    again = run(ITEM, "--config", config, "--reason", "no longer needed", code=2)
    assert "was destroyed at USA" in again
