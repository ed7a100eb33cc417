"""``gsomia demo --tls`` set-up without starting the nodes: a CA whose key is never written,
each node's certificate and encrypted key, configs that pin the peers' certificates over
https, the CA in demo.json; resumed as is, and a partial set refused."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from gsomia.api.tls import pinned_certs
from gsomia.app.boot import load_config
from gsomia.cli.demo import prepare
from gsomia.errors import BadInput


def test_demo_tls_material_and_configs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GSOMIA_PASSPHRASE", raising=False)
    data = tmp_path / "demo-data"
    nodes = prepare(data, "historical", 18701, tls=True)
    state = orjson.loads((data / "demo.json").read_bytes())
    assert state["ca"] == str((data / "tls" / "ca.crt").resolve())
    assert state["nodes"]["KOR"]["url"] == "https://127.0.0.1:18701"
    assert sorted(p.name for p in (data / "tls").iterdir()) == ["JPN", "KOR", "USA", "ca.crt"]
    for party, node in nodes.items():
        key = (data / "tls" / party / "tls.key").read_bytes()
        assert b"ENCRYPTED PRIVATE KEY" in key
        config = load_config(node.config)
        assert config.scheme == "https"
        assert set(pinned_certs(config)) == {p for p in nodes if p != party}
    # resumed: the same material; a partial set is refused
    before = (data / "tls" / "KOR" / "tls.crt").read_bytes()
    prepare(data, "historical", 18701, tls=True)
    assert (data / "tls" / "KOR" / "tls.crt").read_bytes() == before
    (data / "tls" / "USA" / "tls.key").unlink()
    with pytest.raises(BadInput, match="incomplete TLS material"):
        prepare(data, "historical", 18701, tls=True)
