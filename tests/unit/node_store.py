"""A real node store for unit tests of what keeps state in it (sessions, sign-in throttling):
``store`` fixture, one fresh store per test on each backend (a SQLite file, a PostgreSQL
schema)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from gsomia.seal.at_rest import KeyRingCipher
from gsomia.seal.keys import KeyRing, init_keys
from gsomia.store.postgres_node import PostgresNodeStore
from gsomia.store.sqlite_node import SqliteNodeStore
from tests import pg

Store = SqliteNodeStore | PostgresNodeStore


@pytest.fixture(scope="module")
def ring(tmp_path_factory: pytest.TempPathFactory) -> KeyRing:
    return init_keys(tmp_path_factory.mktemp("jpn"), "JPN", passphrase=None, insecure=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path, ring: KeyRing) -> Iterator[Store]:
    cipher = KeyRingCipher(ring)
    if request.param == "sqlite":
        with SqliteNodeStore(tmp_path / "node.sqlite3", cipher=cipher) as s:
            yield s
        return
    dbname = request.getfixturevalue("pg_database")
    schema = request.getfixturevalue("pg_schema")
    with PostgresNodeStore(pg.conninfo(dbname), schema=schema, cipher=cipher) as s:
        yield s


def reopen(store: Store, ring: KeyRing) -> Store:
    """The same store opened anew, as a restarted node opens it (``store`` is closed)."""
    store.close()
    if isinstance(store, SqliteNodeStore):
        return SqliteNodeStore(store.path, cipher=KeyRingCipher(ring))
    return PostgresNodeStore(store.conninfo, schema=store.schema, cipher=KeyRingCipher(ring))


def raw(store: Store, sql: str) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` read behind the store's back (its own connection)."""
    if isinstance(store, SqliteNodeStore):
        with sqlite3.connect(store.path) as con:
            return con.execute(sql).fetchall()
    with psycopg.connect(store.conninfo) as con:
        con.execute(f"SET search_path TO {store.schema}")
        return con.execute(sql).fetchall()


def stored_bytes(store: Store) -> bytes:
    """What a reader of the storage sees: SQLite's file and its WAL; on PostgreSQL, the text of
    every row of the session table."""
    if isinstance(store, SqliteNodeStore):
        wal = store.path.with_name(store.path.name + "-wal")
        return store.path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    rows = raw(store, "SELECT s::text FROM console_sessions AS s")
    return "".join(str(r[0]) for r in rows).encode()
