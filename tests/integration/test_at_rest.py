"""A thief with a copy of the disk: nothing of the content in clear in any file of a node's data
directory, every file owner-only — and a node that cannot protect its data does not start."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gsomia.seal.keys import init_keys

from .native_client import held_at, native, publish, wait_until
from .nodes import NodeProc, make_nodes, report, running

TAG = os.urandom(6).hex()
NAME = f"Zebra-{TAG} over the Sea"
DESCRIPTION = f"Telemetry {TAG}: apogee 6248 km, reentry vehicle survived"
DETAIL = f"Courier bag {TAG} unaccounted for at the Yokota gate"
SECRETS = [s.encode("utf-8") for s in (NAME, DESCRIPTION, DETAIL, TAG)]


@pytest.fixture(scope="module")
def trio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, NodeProc]]:
    nodes = make_nodes(tmp_path_factory.mktemp("at-rest"), scenario="lapse-2019")
    with running(nodes):
        yield nodes


def distinctive_report() -> dict[str, Any]:
    envelope = report(4242)
    obj = envelope["objects"][2]
    obj["name"] = NAME
    obj["description"] = DESCRIPTION
    return envelope


def found_in(root: Path) -> list[str]:
    """Every (file, string) where a distinctive string occurs in the raw bytes of a file."""
    hits = []
    for path in sorted(root.rglob("*")):
        if path.is_file():
            raw = path.read_bytes()
            hits += [f"{path}: {s!r}" for s in SECRETS if s in raw]
    return hits


def loose_modes(root: Path) -> list[str]:
    out = []
    for path in [root, *sorted(root.rglob("*"))]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        want = 0o700 if path.is_dir() else 0o600
        if mode != want:
            out.append(f"{path}: {mode:o}")
    return out


def test_a_copy_of_the_data_directory_holds_no_content_in_clear(
    trio: dict[str, NodeProc], tmp_path: Path
) -> None:
    kor, jpn, usa = trio["KOR"], trio["JPN"], trio["USA"]
    item = publish(kor, distinctive_report())
    wait_until(lambda: held_at(usa, item), "the item at USA")
    # a consent request (USA asks KOR for JPN), granted, and the item carried on to JPN
    r = native(usa, "POST", "/consent-requests", json={"item": item, "recipient": "JPN"})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]

    def in_inbox() -> bool:
        inbox = native(kor, "GET", "/consent-requests", params={"box": "inbox"}).json()
        return any(d["id"] == rid for d in inbox)

    wait_until(in_inbox, "the consent request at KOR")
    granted = native(kor, "POST", f"/consent-requests/{rid}/grant", json={})
    assert granted.status_code == 200, granted.text
    wait_until(lambda: held_at(jpn, item), "the item at JPN")
    # a loss report with free text, sent by USA to KOR and acknowledged
    r = native(
        usa, "POST", "/reports", "analyst", json={"item": item, "kind": "loss", "detail": DETAIL}
    )
    assert r.status_code == 201, r.text
    report_id = r.json()["id"]

    def acknowledged() -> bool:
        sent = native(usa, "GET", "/reports", "analyst").json()["sent"]
        return any(d["id"] == report_id and d["acknowledgement"] for d in sent)

    wait_until(acknowledged, "KOR's acknowledgement")
    # the nodes still read it all back
    received = native(kor, "GET", "/reports", "analyst").json()["received"]
    assert [d["detail"] for d in received if d["id"] == report_id] == [DETAIL]

    # copied while running (database, -wal and -shm as they are), then after a clean stop
    for node in trio.values():
        copy = tmp_path / f"running-{node.party}"
        shutil.copytree(node.data, copy)
        assert found_in(copy) == [], node.party
        assert loose_modes(node.data) == [], node.party
    for node in trio.values():
        node.stop()
    for node in trio.values():
        assert (node.data / "node.sqlite3").exists()
        assert found_in(node.data) == [], node.party
        assert loose_modes(node.data) == [], node.party


def serve(node: NodeProc, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("gsomia")
    return subprocess.run(
        [str(exe), "serve", "--config", str(node.config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "GSOMIA_PASSPHRASE"}
    return {**env, **values}


def test_a_node_without_a_good_passphrase_or_key_file_does_not_start(tmp_path: Path) -> None:
    node = make_nodes(tmp_path, ("KOR",))["KOR"]
    short = serve(node, _env(GSOMIA_PASSPHRASE="elevenchars"))
    assert short.returncode == 2, short.stderr
    assert "the passphrase has 11 characters" in short.stderr
    assert "at least 12" in short.stderr
    none = serve(node, _env())
    assert none.returncode == 2, none.stderr
    assert "no passphrase or key file" in none.stderr
    assert "GSOMIA_PASSPHRASE" in none.stderr
    for result in (short, none):
        assert "Traceback" not in result.stderr
        assert result.stderr.count("\n") == 1, result.stderr
    assert not (node.data / "node.sqlite3").exists()


def test_a_node_with_plaintext_private_keys_does_not_start(tmp_path: Path) -> None:
    node = make_nodes(tmp_path, ("KOR",))["KOR"]
    shutil.rmtree(node.data / "keys")
    init_keys(node.data, "KOR", passphrase=None, insecure=True)
    result = serve(node, _env(GSOMIA_PASSPHRASE="correct horse battery staple"))
    assert result.returncode == 2, result.stderr
    assert "stored in plaintext" in result.stderr
    assert "Traceback" not in result.stderr
