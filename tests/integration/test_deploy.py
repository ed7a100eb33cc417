"""Setting nodes up with ``gsomia node init``, ``add-peer`` and ``check`` only: the files they
write parse and open, bad exports and bad set-ups are refused or reported with their exit codes,
and two nodes made this way exchange a release."""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest

from gsomia.app.boot import load_config, open_keys
from gsomia.cli.app import main
from gsomia.seal.keys import init_keys

from .native_client import collection_at, publish
from .nodes import PASSPHRASE, TAXII, NodeProc, free_port, report


@dataclass
class Ran:
    code: int
    out: str
    err: str


def gsomia(capsys: pytest.CaptureFixture[str], *argv: str) -> Ran:
    """Run the command in this process (the environment's passphrase is the test's)."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return Ran(code, captured.out, captured.err)


def init(capsys: pytest.CaptureFixture[str], directory: Path, party: str, *extra: str) -> str:
    """A node set up by ``gsomia node init``; the admin's token it printed."""
    ran = gsomia(capsys, "node", "init", "--party", party, "--data", str(directory), *extra)
    assert ran.code == 0, ran.err
    [token] = re.findall(r"\(shown once; node.toml keeps its SHA-256\): (\S+)", ran.out)
    return str(token)


@pytest.fixture(autouse=True)
def passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GSOMIA_PASSPHRASE", PASSPHRASE)


def test_init_writes_a_commented_config_that_parses_and_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    init(capsys, tmp_path / "kor", "KOR")
    config = tmp_path / "kor" / "node.toml"
    loaded = load_config(config)
    assert (loaded.party, loaded.store, loaded.bus, loaded.tls) == (
        "KOR",
        "sqlite:///node.sqlite3",
        None,
        None,
    )
    [admin] = loaded.users
    assert (admin.name, admin.role.value, admin.clearance.level) == ("admin", "admin", "I")
    lines = config.read_text(encoding="utf-8").splitlines()
    top = lines[: next(i for i, line in enumerate(lines) if line.startswith("["))]
    keys = [i for i, line in enumerate(top) if re.match(r"^[a-z_]+ = ", line)]
    assert len(keys) >= 9
    assert all(top[i - 1].startswith("#") for i in keys), "every key is explained above it"
    export = orjson.loads((tmp_path / "kor" / "KOR.export.json").read_bytes())
    assert (export["format"], export["party"], export["url"]) == (
        "gsomia-node-export",
        "KOR",
        "http://127.0.0.1:8701",
    )
    assert "tls" not in export
    ran = gsomia(capsys, "node", "check", "--config", str(config), "--json")
    assert ran.code == 0, ran.out
    checks = {c["name"]: c for c in orjson.loads(ran.out)["checks"]}
    assert set(checks) == {"config", "keys", "store", "tls", "bus"}
    assert all(c["ok"] for c in checks.values())
    assert "no store yet" in checks["store"]["detail"]


def test_init_refuses_an_existing_node_and_force_keeps_its_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = gsomia(capsys, "node", "init", "--party", "KOR", "--data", str(tmp_path), "--json")
    assert ran.code == 0
    key = orjson.loads(ran.out)["key"]
    again = gsomia(capsys, "node", "init", "--party", "KOR", "--data", str(tmp_path))
    assert again.code == 2
    assert "a node is already set up here" in again.err
    forced = gsomia(
        capsys, "node", "init", "--party", "KOR", "--data", str(tmp_path), "--force", "--json"
    )
    assert forced.code == 0, forced.err
    assert orjson.loads(forced.out)["key"] == key
    other = gsomia(capsys, "node", "init", "--party", "JPN", "--data", str(tmp_path), "--force")
    assert other.code == 2
    assert "holds the keys of KOR, not JPN" in other.err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--party", "XYZ"), "unknown party 'XYZ'"),
        (("--party", "kor"), "not a party trigraph"),
        (("--party", "KOR", "--listen", "nowhere"), "expected HOST:PORT"),
        (("--party", "KOR", "--listen", "0.0.0.0:8701"), "give the URL its peers use with --url"),
        (("--party", "KOR", "--url", "https://kor.example:8701"), "is reached over http://"),
        (("--party", "KOR", "--store", "mysql://db/x"), "is not a store this version"),
        (("--party", "KOR", "--need-to-know", "Not A Topic"), "need_to_know"),
    ],
)
def test_init_refuses_bad_input_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    ran = gsomia(capsys, "node", "init", "--data", str(tmp_path / "n"), *argv)
    assert ran.code == 2
    assert message in ran.err
    assert not (tmp_path / "n").exists()


def test_init_refuses_a_short_passphrase(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GSOMIA_PASSPHRASE", "short")
    ran = gsomia(capsys, "node", "init", "--party", "KOR", "--data", str(tmp_path))
    assert ran.code == 2
    assert "needs at least 12" in ran.err


def test_init_with_tls_and_add_peer_pins_the_certificate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    init(capsys, tmp_path / "jpn", "JPN", "--tls", "--listen", "127.0.0.1:8702")
    usa_port = free_port()
    init(capsys, tmp_path / "usa", "USA", "--tls", "--url", f"https://localhost:{usa_port}")
    key = (tmp_path / "jpn" / "tls" / "tls.key").read_text(encoding="ascii")
    assert "ENCRYPTED PRIVATE KEY" in key
    export = orjson.loads((tmp_path / "usa" / "USA.export.json").read_bytes())
    assert export["url"] == f"https://localhost:{usa_port}"
    assert "BEGIN CERTIFICATE" in export["tls"]["cert"]
    assert "BEGIN CERTIFICATE" in export["tls"]["ca"]
    config = tmp_path / "jpn" / "node.toml"
    ran = gsomia(
        capsys,
        "node",
        "add-peer",
        str(tmp_path / "usa" / "USA.export.json"),
        "--config",
        str(config),
    )
    assert ran.code == 0, ran.err
    loaded = load_config(config)
    [peer] = loaded.peers
    assert peer.url == f"https://localhost:{usa_port}"
    assert peer.cert == tmp_path / "jpn" / "peers" / "USA.cert.pem"
    assert peer.cert.read_text(encoding="ascii") == export["tls"]["cert"]
    assert loaded.tls is not None
    assert loaded.tls.client_ca == (
        tmp_path / "jpn" / "tls" / "ca" / "ca.crt",
        tmp_path / "jpn" / "peers" / "USA.ca.pem",
    )
    assert "# TLS 1.3 on the listener" in config.read_text(encoding="utf-8")  # comments kept
    # the peer's own cert pinned, its TLS material loads, USA not up: that check fails alone
    ran = gsomia(capsys, "node", "check", "--config", str(config))
    assert ran.code == 3
    assert re.search(r"^ok {4}tls: .*tls\.crt \(valid until \d{4}", ran.out, re.MULTILINE), ran.out
    assert re.search(
        rf"^FAIL  peer USA: https://localhost:{usa_port}: not reachable", ran.out, re.MULTILINE
    )
    assert "1 of 6 checks failed (peer USA)" in ran.err
    # a node without TLS cannot take a peer reached over https
    init(capsys, tmp_path / "kor", "KOR")
    ran = gsomia(
        capsys,
        "node",
        "add-peer",
        str(tmp_path / "usa" / "USA.export.json"),
        "--config",
        str(tmp_path / "kor" / "node.toml"),
    )
    assert ran.code == 2
    assert "this node has no [tls]" in ran.err


def test_check_says_a_wrong_passphrase_and_a_bus_that_is_not_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bus = f"nats://127.0.0.1:{free_port()}"
    init(capsys, tmp_path, "KOR", "--tls")
    config = tmp_path / "node.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace('# bus = "nats://127.0.0.1:4222"', f'bus = "{bus}"'), "utf-8")
    monkeypatch.setenv("GSOMIA_PASSPHRASE", "not the passphrase at all")
    ran = gsomia(capsys, "node", "check", "--config", str(tmp_path / "node.toml"), "--json")
    assert ran.code == 3
    checks = {c["name"]: c for c in orjson.loads(ran.out)["checks"]}
    assert not checks["keys"]["ok"]
    assert "wrong passphrase" in checks["keys"]["detail"]
    assert not checks["tls"]["ok"]
    assert "cannot open it with tls.cert" in checks["tls"]["detail"]
    assert not checks["bus"]["ok"]
    assert checks["store"]["ok"]
    assert checks["config"]["ok"]


def test_check_of_a_bad_config_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "node.toml").write_text('party = "KOR"\nlisten = 8701\n', encoding="utf-8")
    ran = gsomia(capsys, "node", "check", "--config", str(tmp_path / "node.toml"))
    assert ran.code == 2
    assert "missing key 'data_dir'" in ran.err or "listen" in ran.err
    assert ran.out == ""


# ------------------------------------------------------------------- add-peer refusals
@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """KOR, JPN and USA nodes made once by init (add-peer's refusals leave them as they are)."""
    root = tmp_path_factory.mktemp("made")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GSOMIA_PASSPHRASE", PASSPHRASE)
        for party in ("KOR", "JPN", "USA"):
            assert main(["node", "init", "--party", party, "--data", str(root / party)]) == 0
    return root


@pytest.fixture
def kor(made: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    capsys.readouterr()  # what the module's set-up printed
    return made / "KOR" / "node.toml"


def export_of(made: Path, party: str) -> dict[str, object]:
    return dict(orjson.loads((made / party / f"{party}.export.json").read_bytes()))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "gsomia-public-keys"}, "not a gsomia node export of version 1"),
        ({"url": "ftp://jpn.example"}, ".url: expected the node's http(s) URL"),
        ({"party": "USA"}, ".keys: the keys of JPN, not of USA"),
        ({"keys": {"format": "gsomia-public-keys"}}, ".keys: not a gsomia public-key export"),
        ({"tls": {"cert": "nope", "ca": "nope"}}, ".tls.cert: expected a PEM certificate"),
        ({"extra": 1}, "unknown field(s) extra"),
    ],
)
def test_add_peer_refuses_a_bad_export(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    kor: Path,
    change: dict[str, object],
    message: str,
) -> None:
    export = export_of(kor.parent.parent, "JPN") | change
    path = tmp_path / "bad.json"
    path.write_bytes(orjson.dumps(export))
    before = kor.read_bytes()
    ran = gsomia(capsys, "node", "add-peer", str(path), "--config", str(kor))
    assert ran.code == 2
    assert message in ran.err
    assert kor.read_bytes() == before
    assert not (kor.parent / "peers").exists()


def test_add_peer_refuses_malformed_json_its_own_party_and_an_unknown_party(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], made: Path, kor: Path
) -> None:
    (tmp_path / "torn.json").write_bytes(b'{"format": ')
    ran = gsomia(capsys, "node", "add-peer", str(tmp_path / "torn.json"), "--config", str(kor))
    assert (ran.code, "malformed JSON at line 1" in ran.err) == (2, True)
    ran = gsomia(
        capsys, "node", "add-peer", str(kor.parent / "KOR.export.json"), "--config", str(kor)
    )
    assert (ran.code, "KOR, this node's own party" in ran.err) == (2, True)
    ring = init_keys(tmp_path / "chn", "CHN", passphrase=PASSPHRASE.encode())
    foreign = export_of(made, "JPN") | {"party": "CHN", "keys": ring.export_document()}
    (tmp_path / "chn.json").write_bytes(orjson.dumps(foreign))
    ran = gsomia(capsys, "node", "add-peer", str(tmp_path / "chn.json"), "--config", str(kor))
    assert (ran.code, "unknown party 'CHN' in scenario 'historical'" in ran.err) == (2, True)


def test_add_peer_twice_needs_replace_which_replaces_that_table_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], made: Path, kor: Path
) -> None:
    shutil.copytree(kor.parent, tmp_path / "KOR")
    kor = tmp_path / "KOR" / "node.toml"
    jpn = tmp_path / "JPN.json"
    usa = tmp_path / "USA.json"
    jpn.write_bytes(orjson.dumps(export_of(made, "JPN")))
    usa.write_bytes(orjson.dumps(export_of(made, "USA")))
    for path in (jpn, usa):
        assert gsomia(capsys, "node", "add-peer", str(path), "--config", str(kor)).code == 0
    ran = gsomia(capsys, "node", "add-peer", str(jpn), "--config", str(kor))
    assert (ran.code, "JPN is already a peer (--replace" in ran.err) == (2, True)
    moved = orjson.loads(jpn.read_bytes()) | {"url": "http://127.0.0.1:9702"}
    jpn.write_bytes(orjson.dumps(moved))
    ran = gsomia(capsys, "node", "add-peer", str(jpn), "--config", str(kor), "--replace")
    assert ran.code == 0, ran.err
    loaded = load_config(kor)
    assert [(p.party, p.url) for p in loaded.peers] == [
        ("JPN", "http://127.0.0.1:9702"),
        ("USA", "http://127.0.0.1:8701"),
    ]
    ring = open_keys(loaded, passphrase=PASSPHRASE.encode())
    assert ring.parties() == ("JPN", "KOR", "USA")
    text = kor.read_text(encoding="utf-8")
    assert sum(line == "[[peers]]" for line in text.splitlines()) == 2
    assert "# Peers: one [[peers]] table each" in text


# ------------------------------------------------------------------ a real round trip
def test_two_nodes_set_up_by_init_and_add_peer_exchange_a_release(
    tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path_factory.mktemp("deploy")
    nodes: dict[str, NodeProc] = {}
    for party in ("KOR", "JPN"):
        port = free_port()
        token = init(
            capsys,
            root / party,
            party,
            "--listen",
            f"127.0.0.1:{port}",
            "--admin",
            "analyst",
            "--need-to-know",
            "dprk",
        )
        config = root / party / "node.toml"
        env = {**os.environ, "GSOMIA_PASSPHRASE": PASSPHRASE}
        nodes[party] = NodeProc(
            party, port, config, root / party, {"analyst": token}, root / f"{party}.log", env=env
        )
    for party, other in (("KOR", "JPN"), ("JPN", "KOR")):
        export = root / other / f"{other}.export.json"
        ran = gsomia(capsys, "node", "add-peer", str(export), "--config", str(nodes[party].config))
        assert ran.code == 0, ran.err
    kor, jpn = nodes["KOR"], nodes["JPN"]
    ran = gsomia(capsys, "node", "check", "--config", str(kor.config))
    assert ran.code == 3
    assert re.search(
        r"^FAIL  peer JPN: http://127\.0\.0\.1:\d+: not reachable", ran.out, re.MULTILINE
    )
    try:
        jpn.start()
        kor.start()
        ran = gsomia(capsys, "node", "check", "--config", str(kor.config))
        assert ran.code == 0, ran.out
        assert re.search(
            r"^ok {4}peer JPN: http://127\.0\.0\.1:\d+ answers \(HTTP", ran.out, re.MULTILINE
        )
        publish(kor, report(1, "KOR", releasable_to=("JPN",)))
        cid = collection_at(jpn, "KOR")
        deadline = time.monotonic() + 15
        seen: list[str] = []
        while time.monotonic() < deadline and not seen:
            r = httpx.get(
                f"{jpn.api_root}collections/{cid}/objects/",
                headers={"Accept": TAXII},
                auth=jpn.auth(),
            )
            assert r.status_code == 200, r.text
            seen = [o["id"] for o in r.json().get("objects", []) if o["type"] == "report"]
            time.sleep(0.05)
        assert seen == ["report--00000000-0000-4000-8000-000000000001"]
    finally:
        for node in nodes.values():
            node.stop()
