"""The SQLite log store's refusals: a file it cannot open or that another program owns, the
writer lock held elsewhere, a read that fails, and rows it needs but does not find."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from gsomia.errors import BadInput, StoreFailure
from gsomia.store.sqlite_log import APPLICATION_ID, SqliteLogStore

LEAF = b"\x11" * 32


def test_a_path_under_a_file_cannot_be_opened(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(StoreFailure, match=r"log store .*/file/log\.sqlite3: cannot open"):
        SqliteLogStore(tmp_path / "file" / "log.sqlite3")


@pytest.mark.parametrize(
    ("pragma", "named"),
    [
        ("application_id=1234", "application id 0x4d2, schema version 0"),
        (
            f"application_id={APPLICATION_ID}; PRAGMA user_version=2",
            "application id 0x67534c47, schema version 2",
        ),
    ],
)
def test_another_programs_database_is_refused_untouched(
    tmp_path: Path, pragma: str, named: str
) -> None:
    path = tmp_path / "log.sqlite3"
    with sqlite3.connect(path) as con:
        con.executescript(f"PRAGMA {pragma}; CREATE TABLE theirs (x);")
    with pytest.raises(BadInput, match=rf"not a gsomia log database \({named}\)"):
        SqliteLogStore(path)
    with sqlite3.connect(path) as con:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master")]
    assert tables == ["theirs"]


def test_the_writer_lock_held_elsewhere_is_a_store_failure(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite3"
    with SqliteLogStore(path, timeout=0.05) as store:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with (
                pytest.raises(
                    StoreFailure, match="cannot take the writer lock: database is locked"
                ),
                store.writing(),
            ):
                pass
        finally:
            other.execute("ROLLBACK")
            other.close()
        with store.writing() as w:  # free again
            w.append(0, [(LEAF, b"e0")], [])
        with store.reading() as r:
            assert r.size() == 1


def test_a_read_inside_a_read_cannot_begin(tmp_path: Path) -> None:
    with (
        SqliteLogStore(tmp_path / "log.sqlite3") as store,
        store.reading(),
        pytest.raises(StoreFailure, match="cannot begin a read"),
        store.reading(),
    ):
        pass


def test_a_failed_read_ends_its_transaction(tmp_path: Path) -> None:
    with SqliteLogStore(tmp_path / "log.sqlite3") as store:
        with pytest.raises(StoreFailure, match="read failed: no such table: elsewhere"):
            read_elsewhere(store)
        assert not store._con.in_transaction
        with pytest.raises(BadInput, match="stop"):
            read_then_stop(store)
        assert not store._con.in_transaction
        with store.reading() as r:
            assert r.size() == 0


def read_elsewhere(store: SqliteLogStore) -> None:
    with store.reading() as r:
        r._con.execute("SELECT * FROM elsewhere")


def read_then_stop(store: SqliteLogStore) -> None:
    with store.reading() as r:
        r.size()
        raise BadInput("stop")


def test_an_entry_or_node_not_stored_is_named(tmp_path: Path) -> None:
    with SqliteLogStore(tmp_path / "log.sqlite3") as store:
        with store.writing() as w:
            w.append(0, [(LEAF, b"e0"), (b"\x22" * 32, b"e1")], [])
        with store.reading() as r:
            assert r.entry(1) == b"e1"
            assert r.nodes([(0, 0), (0, 1)]) == [LEAF, b"\x22" * 32]
            with pytest.raises(StoreFailure, match="log store: entry 2 is missing"):
                r.entry(2)
            with pytest.raises(
                StoreFailure, match=r"node \(level 1, index 0\) over entries 0\.\.1 is missing"
            ):
                r.nodes([(0, 0), (1, 0)])  # the interior node over entries 0 and 1: not stored
        with store.writing() as w:
            w._con.execute("UPDATE entries SET leaf_hash = x'00' WHERE idx = 0")
        with (
            store.reading() as r,
            pytest.raises(StoreFailure, match="leaf hash of entry 0 is missing or malformed"),
        ):
            r.nodes([(0, 0)])
