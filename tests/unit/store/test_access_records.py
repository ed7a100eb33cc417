"""The register's table on both backends (schema 3): records appended at the next seqs with no
gap, read in order, by item (the latest first), each user's latest, tallies per item (accesses,
distinct users, per purpose), the items held of an originator, and the register's state."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gsomia.seal.at_rest import KeyRingCipher
from gsomia.seal.keys import init_keys
from gsomia.store.ports import AccessTally, NewAccess
from gsomia.store.postgres_node import PostgresNodeStore
from gsomia.store.sqlite_node import SqliteNodeStore
from tests import pg

AT = "2026-03-01T09:00:00+00:00"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[SqliteNodeStore | PostgresNodeStore]:
    cipher = KeyRingCipher(init_keys(tmp_path / "keys", "KOR", passphrase=None, insecure=True))
    opened: SqliteNodeStore | PostgresNodeStore
    if request.param == "sqlite":
        opened = SqliteNodeStore(tmp_path / "node.sqlite3", cipher=cipher)
    else:
        database = request.getfixturevalue("pg_database")
        schema = request.getfixturevalue("pg_schema")
        opened = PostgresNodeStore(pg.conninfo(database), schema=schema, cipher=cipher)
    try:
        yield opened
    finally:
        opened.close()


def access(item: str, user: str, purpose: str = "defense") -> NewAccess:
    return NewAccess(item, user, purpose, "taxii", AT, 1_764_000_000_000)


def test_records_are_appended_counted_and_read_back(store: SqliteNodeStore) -> None:
    with store.writing() as w:
        w.add_accesses([access("a/1", "ann"), access("b/1", "bob")])
        w.add_accesses([])
    with store.writing() as w:
        w.add_accesses([access("a/1", "bob", "defense.warning"), access("a/1", "ann")])
        assert [a.seq for a in w.accesses_after(1, 10)] == [2, 3, 4]
        assert w.register_state() is None
        w.set_register_state('{"v":1}')
        w.set_register_state('{"v":1,"size":4}')
        assert w.register_state() == '{"v":1,"size":4}'
    with store.reading() as r:
        every = r.accesses()
        assert [(a.seq, a.item_id, a.user) for a in every] == [
            (1, "a/1", "ann"),
            (2, "b/1", "bob"),
            (3, "a/1", "bob"),
            (4, "a/1", "ann"),
        ]
        assert every[0].wall_ms == 1_764_000_000_000
        assert [a.seq for a in r.accesses(item_id="a/1", after_seq=1, limit=1)] == [3]
        assert [a.seq for a in r.latest_accesses("a/1", 2)] == [3, 4]
        assert {u: a.seq for u, a in r.last_accesses().items()} == {"ann": 4, "bob": 3}
        assert r.access_tallies(["a/1", "b/1", "c/1"]) == [
            AccessTally("a/1", 3, 2, (("defense", 2), ("defense.warning", 1))),
            AccessTally("b/1", 1, 1, (("defense", 1),)),
        ]
        assert r.held_item_ids("KOR") == []
