"""The node tables' schema version (``node_meta`` key ``schema``): written when a store is
made, stamped on a store written before versions were kept, and a newer one refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from gsomia.errors import BadInput
from gsomia.seal.at_rest import KeyRingCipher
from gsomia.seal.keys import KeyRing, init_keys
from gsomia.store.ports import NODE_SCHEMA_VERSION, NewObject, SchemaBehind
from gsomia.store.sqlite_node import SqliteNodeStore

OBJECT = NewObject(
    "c", "indicator--1", "indicator", "2026-01-01T00:00:00.000Z", None, None, (), b"{}"
)


@pytest.fixture(scope="module")
def cipher(tmp_path_factory: pytest.TempPathFactory) -> KeyRingCipher:
    ring: KeyRing = init_keys(tmp_path_factory.mktemp("kor"), "KOR", passphrase=None, insecure=True)
    return KeyRingCipher(ring)


def meta(path: Path) -> dict[str, str]:
    con = sqlite3.connect(path)
    try:
        return {str(k): str(v) for k, v in con.execute("SELECT key, value FROM node_meta")}
    finally:
        con.close()


def set_schema(path: Path, value: str | None) -> None:
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("DELETE FROM node_meta WHERE key = 'schema'")
        if value is not None:
            con.execute("INSERT INTO node_meta (key, value) VALUES ('schema', ?)", (value,))
    finally:
        con.close()


def made(path: Path, cipher: KeyRingCipher) -> None:
    with SqliteNodeStore(path, cipher=cipher) as store, store.writing() as w:
        w.add_object(OBJECT, "2026-01-01T00:00:01.000Z")


def test_a_new_store_is_written_with_the_schema_version(
    tmp_path: Path, cipher: KeyRingCipher
) -> None:
    path = tmp_path / "node.sqlite3"
    made(path, cipher)
    assert NODE_SCHEMA_VERSION == 5  # schema 5: per-item keys, retention, destroyed items
    assert meta(path)["schema"] == "5"


def test_a_store_written_before_versions_is_version_0_refused_until_migrated(
    tmp_path: Path, cipher: KeyRingCipher
) -> None:
    path = tmp_path / "node.sqlite3"
    made(path, cipher)
    set_schema(path, None)
    before = meta(path)
    assert "schema" not in before
    with pytest.raises(
        SchemaBehind,
        match=rf"schema 0 is older than this version of gsomia writes \({NODE_SCHEMA_VERSION}\)",
    ):
        SqliteNodeStore(path, cipher=cipher)
    assert meta(path) == before
    with SqliteNodeStore(path, cipher=cipher, migrate=True) as store, store.reading() as r:
        assert store.migrated == (0, NODE_SCHEMA_VERSION)
        (row,) = r.versions("c", "indicator--1")
    assert row.body == b"{}"
    assert meta(path)["schema"] == str(NODE_SCHEMA_VERSION)


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("98", r"schema 98 is newer than this version of gsomia knows \(up to \d+\)"),
        ("99", r"schema 99 is newer than this version of gsomia knows \(up to \d+\)"),
        ("one", r"schema 'one' is not a version number"),
    ],
)
def test_a_newer_or_unreadable_schema_is_refused_and_left_as_it_is(
    tmp_path: Path, cipher: KeyRingCipher, value: str, said: str
) -> None:
    path = tmp_path / "node.sqlite3"
    made(path, cipher)
    set_schema(path, value)
    before = meta(path)
    with pytest.raises(BadInput, match=rf"^node store {path}: {said}"):
        SqliteNodeStore(path, cipher=cipher)
    assert meta(path) == before


def test_a_schema_1_store_without_the_session_tables_gets_them_at_open(
    tmp_path: Path, cipher: KeyRingCipher
) -> None:
    path = tmp_path / "node.sqlite3"
    made(path, cipher)
    con = sqlite3.connect(path, isolation_level=None)
    try:  # as the first schema-1 stores were written: no sessions, no sign-in failures
        con.execute("DROP TABLE console_sessions")
        con.execute("DROP TABLE sign_in_failures")
    finally:
        con.close()
    with SqliteNodeStore(path, cipher=cipher) as store, store.reading() as r:
        assert r.session("0" * 64) is None
        assert r.sign_in_failures(["addr:10.9.9.9"]) == []
        assert r.versions("c", "indicator--1")[0].body == b"{}"
    assert meta(path)["schema"] == str(NODE_SCHEMA_VERSION)
