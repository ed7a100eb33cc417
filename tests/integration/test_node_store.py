"""A node's store as its config names it (``store = "sqlite:///…"`` or ``"postgresql://…"``),
a store of a newer schema refused at start-up (exit code 2, the store, its schema and the
newest known, no traceback), and one of an older schema refused until ``gsomia node migrate``
brings it up to date."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from gsomia.app.boot import load_config, open_node
from gsomia.errors import BadInput
from gsomia.store.ports import NODE_SCHEMA_VERSION
from tests import pg

from .native_client import publish
from .nodes import PASSPHRASE, NodeProc, make_nodes, opened, report, running


def gsomia(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GSOMIA_PASSPHRASE": PASSPHRASE}
    exe = Path(sys.executable).with_name("gsomia")
    return subprocess.run(
        [str(exe), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def with_store(node: NodeProc, url: str) -> None:
    """Name the node's store in its config (a top-level key, before the tables)."""
    text = node.config.read_text(encoding="utf-8")
    node.config.write_text(f'store = "{url}"\n{text}', encoding="utf-8")


def test_a_node_runs_on_the_store_its_config_names(tmp_path: Path) -> None:
    kor = make_nodes(tmp_path, ("KOR",))["KOR"]
    elsewhere = tmp_path / "elsewhere" / "kor.sqlite3"
    with_store(kor, f"sqlite:///{elsewhere}")  # a fourth slash: absolute
    with running({"KOR": kor}):
        publish(kor, report(0))
    assert elsewhere.is_file()
    assert not (kor.data / "node.sqlite3").exists()
    with opened(kor) as node, node.store.reading() as r:
        assert r.last_seq() > 0


def test_a_node_runs_on_the_postgresql_schema_its_config_names(
    tmp_path: Path, pg_database: str, pg_schema: str
) -> None:
    kor = make_nodes(tmp_path, ("KOR",))["KOR"]
    with_store(kor, pg.url(pg_database, pg_schema))
    with running({"KOR": kor}):
        publish(kor, report(0))
    assert not (kor.data / "node.sqlite3").exists()
    with opened(kor) as node, node.store.reading() as r:
        assert r.last_seq() > 0
    done = gsomia("log", "verify", "--node-config", str(kor.config))
    assert done.returncode == 0, done.stderr


def test_a_store_url_of_another_scheme_is_refused(tmp_path: Path) -> None:
    kor = make_nodes(tmp_path, ("KOR",))["KOR"]
    with_store(kor, "mysql://127.0.0.1/kor")
    with pytest.raises(BadInput, match=r"KOR\.toml\.store: scheme 'mysql' .* SQLite and Post"):
        open_node(load_config(kor.config), passphrase=PASSPHRASE.encode())
    assert not (kor.data / "node.sqlite3").exists()


def test_a_store_of_a_newer_schema_does_not_start_and_says_why(tmp_path: Path) -> None:
    kor = make_nodes(tmp_path, ("KOR",))["KOR"]
    with opened(kor):
        pass
    path = kor.data / "node.sqlite3"
    con = sqlite3.connect(path, isolation_level=None)
    con.execute(
        "UPDATE node_meta SET value = ? WHERE key = 'schema'", (str(NODE_SCHEMA_VERSION + 2),)
    )
    con.close()
    done = gsomia("serve", "--config", str(kor.config))
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"node store {path}: schema {NODE_SCHEMA_VERSION + 2} is newer than" in done.stderr
    assert f"(up to {NODE_SCHEMA_VERSION})" in done.stderr


def test_an_older_store_does_not_start_until_node_migrate_brings_it_up_to_date(
    tmp_path: Path,
) -> None:
    kor = make_nodes(tmp_path, ("KOR",))["KOR"]
    with running({"KOR": kor}):
        publish(kor, report(0))
    path = kor.data / "node.sqlite3"
    con = sqlite3.connect(path, isolation_level=None)  # as written before schema versions
    con.execute("DELETE FROM node_meta WHERE key = 'schema'")
    con.close()
    done = gsomia("serve", "--config", str(kor.config))
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert (
        f"node store {path}: schema 0 is older than this version of gsomia writes ({NODE_SCHEMA_VERSION})"
        in (done.stderr)
    )
    assert f"run `gsomia node migrate --config {kor.config}`" in done.stderr
    done = gsomia("node", "migrate", "--config", str(kor.config))
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"node KOR: store migrated from schema 0 to {NODE_SCHEMA_VERSION}\n"
    done = gsomia("node", "migrate", "--config", str(kor.config), "--json")
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout) == {
        "party": "KOR",
        "from": NODE_SCHEMA_VERSION,
        "to": NODE_SCHEMA_VERSION,
        "migrated": False,
    }
    with opened(kor) as node, node.store.reading() as r:
        assert r.last_seq() > 0
