"""Schema migrations on both backends: a store older than the code is refused until it is
migrated, a migration applies the missing steps in one transaction (all or nothing), and a
store newer than the code is refused naming both versions. The steps here are real DDL added
to each backend's history for the test (after the code's own history)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from gsomia.errors import BadInput, StoreFailure
from gsomia.seal.at_rest import KeyRingCipher
from gsomia.seal.keys import init_keys
from gsomia.store import postgres_node, sqlite_node
from gsomia.store.ports import NODE_SCHEMA_VERSION, NewObject, SchemaBehind
from gsomia.store.postgres_node import PostgresNodeStore
from gsomia.store.sql import Connection
from gsomia.store.sql_node import Migration, latest
from gsomia.store.sqlite_node import SqliteNodeStore
from tests import pg

Store = SqliteNodeStore | PostgresNodeStore
N = NODE_SCHEMA_VERSION
OBJECT = NewObject(
    "c", "indicator--1", "indicator", "2026-01-01T00:00:00.000Z", None, None, (), b"{}"
)


def add_index(con: Connection) -> None:
    con.execute("CREATE INDEX items_added ON items (added)")


def add_index_then_fail(con: Connection) -> None:
    con.execute("CREATE INDEX items_stix ON items (stix_id)")
    con.execute("SELECT no_such_column FROM items")


class Backend:
    def __init__(self, name: str, request: pytest.FixtureRequest, cipher: KeyRingCipher) -> None:
        self.name = name
        self.cipher = cipher
        if name == "sqlite":
            self.path: Path = request.getfixturevalue("tmp_path") / "node.sqlite3"
            self.history: tuple[Migration, ...] = sqlite_node.MIGRATIONS
        else:
            self.dbname: str = request.getfixturevalue("pg_database")
            self.schema: str = request.getfixturevalue("pg_schema")
            self.history = postgres_node.MIGRATIONS

    def open(
        self, migrations: tuple[Migration, ...] | None = None, *, migrate: bool = False
    ) -> Store:
        steps = self.history if migrations is None else migrations
        if self.name == "sqlite":
            return SqliteNodeStore(self.path, cipher=self.cipher, migrate=migrate, migrations=steps)
        return PostgresNodeStore(
            pg.conninfo(self.dbname),
            schema=self.schema,
            cipher=self.cipher,
            migrate=migrate,
            migrations=steps,
        )

    def sql(self, statement: str, *args: object) -> list[tuple[Any, ...]]:
        if self.name == "sqlite":
            import sqlite3

            with sqlite3.connect(self.path) as con:
                return con.execute(statement, args).fetchall()
        with pg.connect(self.dbname, self.schema) as con:
            cur = con.execute(statement.replace("?", "%s"), args)
            return cur.fetchall() if cur.description else []

    def meta(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in self.sql("SELECT key, value FROM node_meta")}

    def has_index(self, name: str) -> bool:
        if self.name == "sqlite":
            found = self.sql("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", name)
        else:
            found = self.sql(
                "SELECT 1 FROM pg_indexes WHERE schemaname = ? AND indexname = ?", self.schema, name
            )
        return bool(found)


@pytest.fixture(scope="module")
def cipher(tmp_path_factory: pytest.TempPathFactory) -> KeyRingCipher:
    return KeyRingCipher(
        init_keys(tmp_path_factory.mktemp("kor"), "KOR", passphrase=None, insecure=True)
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, cipher: KeyRingCipher) -> Backend:
    return Backend(request.param, request, cipher)


def test_each_backends_history_ends_at_the_version_the_code_writes(backend: Backend) -> None:
    assert latest(backend.history) == NODE_SCHEMA_VERSION
    with backend.open() as store, store.writing() as w:
        w.add_object(OBJECT, "2026-01-01T00:00:01.000Z")
    assert backend.meta()["schema"] == str(NODE_SCHEMA_VERSION)


def test_an_older_store_is_refused_until_migrated_then_opens(backend: Backend) -> None:
    with backend.open() as store, store.writing() as w:
        w.add_object(OBJECT, "2026-01-01T00:00:01.000Z")
    later = (*backend.history, Migration(N + 1, "an index on items.added", add_index))
    before = backend.meta()
    with pytest.raises(
        SchemaBehind, match=rf"schema {N} is older than this version of gsomia writes \({N + 1}\)"
    ):
        backend.open(later)
    assert backend.meta() == before
    assert not backend.has_index("items_added")
    with backend.open(later, migrate=True) as store:
        assert store.migrated == (N, N + 1)
    assert backend.meta()["schema"] == str(N + 1)
    assert backend.has_index("items_added")
    with backend.open(later) as store, store.reading() as r:  # up to date: opens as it is
        assert store.migrated is None
        assert r.versions("c", "indicator--1")[0].body == b"{}"
    # the code that knows version N only now refuses the store, naming both versions
    with pytest.raises(
        BadInput, match=rf"schema {N + 1} is newer than this version of gsomia knows \(up to {N}\)"
    ):
        backend.open()


def test_a_failing_step_leaves_the_store_as_it_was(backend: Backend) -> None:
    backend.open().close()
    before = backend.meta()
    later = (
        *backend.history,
        Migration(N + 1, "an index", add_index),
        Migration(N + 2, "an index, then a mistake", add_index_then_fail),
    )
    with pytest.raises((BadInput, StoreFailure), match=r"no_such_column|no such column"):
        backend.open(later, migrate=True)
    assert backend.meta() == before
    assert not backend.has_index("items_added")
    assert not backend.has_index("items_stix")


def test_a_new_store_is_made_at_the_latest_version_through_every_step(backend: Backend) -> None:
    later = (*backend.history, Migration(N + 1, "an index", add_index))
    with backend.open(later) as store:
        assert store.migrated is None
    assert backend.meta()["schema"] == str(N + 1)
    assert backend.has_index("items_added")


@pytest.mark.parametrize("value", ["97", "x1"])
def test_a_newer_or_unreadable_schema_is_refused(backend: Backend, value: str) -> None:
    backend.open().close()
    backend.sql("UPDATE node_meta SET value = ? WHERE key = 'schema'", value)
    said = "is newer than this version of gsomia knows" if value == "97" else "is not a version"
    with pytest.raises(BadInput, match=rf"schema '?{value}'? {said}"):
        backend.open(migrate=True)
    assert backend.meta()["schema"] == value


def test_a_postgresql_schema_holding_other_tables_is_not_taken(
    pg_database: str, pg_schema: str, cipher: KeyRingCipher
) -> None:
    with psycopg.connect(pg.conninfo(pg_database), autocommit=True) as con:
        con.execute(f"CREATE SCHEMA {pg_schema}")
        con.execute(f"CREATE TABLE {pg_schema}.accounts (id INTEGER)")
    with pytest.raises(BadInput, match=r"the schema holds tables but no gsomia node store"):
        PostgresNodeStore(pg.conninfo(pg_database), schema=pg_schema, cipher=cipher)
