"""The log store: durability settings, atomic writes, and tamper detection — the writes, the
reopening and a missing row on both backends (a SQLite file, a PostgreSQL schema), the rest on
SQLite's file.

The tamper test changes every byte of every stored entry, leaf hash, interior hash, checkpoint
(root and signed note) and co-signed checkpoint of a small log, one at a time, and requires the
audit (what `gsomia log verify` runs) to fail naming the place.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gsomia.errors import BadInput, Conflict, StoreFailure, VerificationFailed
from gsomia.ledger.ports import LogStore
from gsomia.ledger.proofs import ConsistencyProof
from gsomia.ledger.tree import describe, from_inorder
from gsomia.ledger.witness import cosign
from gsomia.seal.at_rest import KeyRingCipher
from gsomia.seal.keys import init_keys
from gsomia.store.postgres_node import PostgresNodeStore
from gsomia.store.sql_log import SqlLogWriter
from gsomia.store.sqlite_log import SqliteLogStore
from tests import pg
from tests.unit.ledger.conftest import Node, directory, event

KEYS = directory("KOR", "JPN")

Opener = Callable[[], LogStore]


@pytest.fixture(params=["sqlite", "postgresql"])
def open_log(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Opens one log (a file, or the log of a node store's schema), as a restart does."""
    if request.param == "sqlite":
        return lambda: SqliteLogStore(tmp_path / "log.sqlite3")
    dbname = request.getfixturevalue("pg_database")
    schema = request.getfixturevalue("pg_schema")
    cipher = KeyRingCipher(init_keys(tmp_path / "k", "KOR", passphrase=None, insecure=True))

    def opened() -> LogStore:
        return PostgresNodeStore(pg.conninfo(dbname), schema=schema, cipher=cipher).log_store

    return opened


def delete_behind(store: LogStore, sql: str) -> None:
    """Run ``sql`` on the log's database behind the store's back."""
    if isinstance(store, SqliteLogStore):
        store._con.execute(sql)
        return
    with store.writing() as w:  # the writer's connection, unused by the log itself
        assert isinstance(w, SqlLogWriter)
        w.connection.execute(sql)


def test_it_implements_the_port(tmp_path: Path) -> None:
    store: LogStore = SqliteLogStore(tmp_path / "log.sqlite3")
    store.close()


def test_durability_settings(tmp_path: Path) -> None:
    with SqliteLogStore(tmp_path / "log.sqlite3") as store:
        con = store._con
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert con.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_a_failed_write_leaves_nothing(tmp_path: Path, open_log: Opener) -> None:
    node = Node(tmp_path, "KOR", open_log())
    node.append(3)

    def fail_midway() -> None:
        with node.store.writing() as w:
            w.append(3, [(b"\x00" * 32, b"x")], [])
            raise BadInput("boom")

    with pytest.raises(BadInput, match=r"^boom$"):
        fail_midway()
    assert node.log.size() == 3
    with (
        pytest.raises(StoreFailure, match="write failed, nothing was stored"),
        node.store.writing() as w,
    ):
        w.append(1, [(b"\x00" * 32, b"x")], [])  # index 1 exists: the whole block rolls back
    assert node.log.size() == 3
    node.log.audit(KEYS)
    node.store.close()


def test_bad_entries_append_nothing(tmp_path: Path, open_log: Opener) -> None:
    node = Node(tmp_path, "KOR", open_log())
    with pytest.raises(BadInput, match=r"entry 1\.at"):
        node.log.append([event(0), {**event(1), "at": "2019-08-23T12:00:00"}])
    assert node.log.size() == 0
    node.store.close()


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(BadInput, match="not a gsomia log"):
        SqliteLogStore(path)


def test_reopen_continues_the_same_tree(tmp_path: Path, open_log: Opener) -> None:
    node = Node(tmp_path, "KOR", open_log())
    node.append(5)
    root5 = node.log.root()
    node.store.close()
    again = Node(tmp_path, "KOR", open_log())
    again.append(4)
    assert again.log.root(5) == root5
    assert again.log.audit(KEYS).size == 9
    again.store.close()


def test_missing_rows_are_named(tmp_path: Path, open_log: Opener) -> None:
    node = Node(tmp_path, "KOR", open_log())
    node.append(6)
    delete_behind(node.store, "DELETE FROM entries WHERE idx = 2")
    with pytest.raises(VerificationFailed, match=r"^entry 2: missing"):
        node.log.audit(KEYS)
    node.store.close()


@pytest.fixture
def small(tmp_path: Path) -> Iterator[tuple[Node, sqlite3.Connection]]:
    """KOR's log: 5 entries, checkpoints at 3 and 5 (co-signed by JPN); it witnessed JPN once
    and holds evidence of a split view of JPN's log."""
    kor, jpn = Node(tmp_path / "kor", "KOR"), Node(tmp_path / "jpn", "JPN")
    kor.append(3)
    kor.log.checkpoint(kor.signer)
    kor.append(2)
    _, note = kor.log.checkpoint(kor.signer)
    done = cosign(
        jpn.store,
        note.encode(),
        kor.log.consistency_proof(0, 5),
        signer=jpn.signer,
        keys=KEYS,
        timestamp=7,
    )
    kor.log.attach(done.note.encode(), KEYS)
    jpn.append(1)
    _, theirs = jpn.log.checkpoint(jpn.signer)
    cosign(
        kor.store,
        theirs.encode(),
        jpn.log.consistency_proof(0, 1),
        signer=kor.signer,
        keys=KEYS,
        timestamp=8,
    )
    forged = Node(tmp_path / "forged", "JPN")
    forged.log.append([{**event(0, "JPN"), "event": "withdrawal"}])
    _, split = forged.log.checkpoint(forged.signer)
    with pytest.raises(Conflict, match="signed two checkpoints of size 1 with different roots"):
        cosign(
            kor.store,
            split.encode(),
            ConsistencyProof("gsomia/JPN", 1, 1, ()),
            signer=kor.signer,
            keys=KEYS,
            timestamp=9,
        )
    forged.store.close()
    jpn.store.close()
    assert kor.log.audit(KEYS).split_views == 1
    tamper = sqlite3.connect(kor.path, isolation_level=None)
    tamper.execute("PRAGMA synchronous=OFF")
    yield kor, tamper
    tamper.close()
    kor.store.close()


# (table, key column, value column, what the audit must name for row `key`)
BLOBS: list[tuple[str, str, str, Callable[[int], str]]] = [
    ("entries", "idx", "data", lambda k: f"entry {k}:"),
    ("entries", "idx", "leaf_hash", lambda k: f"entry {k}:"),
    ("nodes", "pos", "hash", lambda k: f"{describe(from_inorder(k))}:"),
    ("checkpoints", "id", "root", lambda k: f"checkpoint {k} "),
    ("checkpoints", "id", "note", lambda k: f"checkpoint {k} "),
    ("witnessed", "id", "root", lambda k: f"co-signed checkpoint {k} "),
    ("witnessed", "id", "note", lambda k: f"co-signed checkpoint {k} "),
    ("witnessed", "id", "proof", lambda k: f"co-signed checkpoint {k} "),
    ("split_views", "id", "first", lambda k: f"split-view evidence {k} "),
    ("split_views", "id", "second", lambda k: f"split-view evidence {k} "),
]


def test_every_single_byte_change_is_detected_and_named(
    small: tuple[Node, sqlite3.Connection],
) -> None:
    kor, tamper = small
    checked = 0
    for table, key, column, name in BLOBS:
        rows = tamper.execute(f"SELECT {key}, {column} FROM {table}").fetchall()
        assert rows, table
        for row_key, value in rows:
            if not value:
                continue
            for i in range(len(value)):
                for flip in (0x01, 0x80):
                    bad = value[:i] + bytes([value[i] ^ flip]) + value[i + 1 :]
                    tamper.execute(
                        f"UPDATE {table} SET {column} = ? WHERE {key} = ?", (bad, row_key)
                    )
                    with pytest.raises(
                        VerificationFailed, match=re.escape(name(row_key))
                    ) as caught:
                        kor.log.audit(KEYS)
                    assert str(caught.value).startswith(name(row_key)), (
                        table,
                        column,
                        i,
                        caught.value,
                    )
                    checked += 1
                tamper.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = ?", (value, row_key))
    assert checked > 2000
    kor.log.audit(KEYS)


INTEGERS = [
    ("entries", "idx", "entry"),
    ("nodes", "pos", "node"),
    ("checkpoints", "size", "checkpoint"),
    ("witnessed", "size", "co-signed checkpoint"),
    ("split_views", "size", "split-view evidence"),
    ("witnessed", "proof_from", "co-signed checkpoint"),
]


def test_changed_row_numbers_are_detected(small: tuple[Node, sqlite3.Connection]) -> None:
    kor, tamper = small
    for table, column, name in INTEGERS:
        for rowid, value in tamper.execute(f"SELECT rowid, {column} FROM {table}").fetchall():
            for delta in (1, -1, 1 << 20):
                try:
                    tamper.execute(
                        f"UPDATE {table} SET {column} = ? WHERE rowid = ?", (value + delta, rowid)
                    )
                except sqlite3.IntegrityError:
                    continue
                with pytest.raises(VerificationFailed, match=name):
                    kor.log.audit(KEYS)
                # idx and pos are the rowid itself: the row now lives at its new number.
                now = value + delta if column in ("idx", "pos") else rowid
                tamper.execute(f"UPDATE {table} SET {column} = ? WHERE rowid = ?", (value, now))
    kor.log.audit(KEYS)
