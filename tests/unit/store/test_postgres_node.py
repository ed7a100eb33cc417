"""What only the PostgreSQL store has: the writer lock across connections (as across
processes), its durability setting, a server that drops the store's connections (as a restart
does), a server that is not there, and a password that no message repeats."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from gsomia.errors import StoreFailure
from gsomia.seal.at_rest import KeyRingCipher
from gsomia.seal.keys import init_keys
from gsomia.store.ports import NewObject
from gsomia.store.postgres_log import lock_key
from gsomia.store.postgres_node import PostgresNodeStore
from gsomia.store.sql_log import SqlLogWriter
from gsomia.store.sql_node import SqlNodeReader
from tests import pg

WAIT = 30.0  # an upper bound on waiting for a thread, never asserted on


def obj(n: int) -> NewObject:
    return NewObject("c", f"indicator--{n}", "indicator", "v1", None, None, (), b"body %d" % n)


def added(n: int) -> str:
    return f"2024-01-01T00:00:{n:02d}.000000Z"


@pytest.fixture(scope="module")
def cipher(tmp_path_factory: pytest.TempPathFactory) -> KeyRingCipher:
    return KeyRingCipher(
        init_keys(tmp_path_factory.mktemp("kor"), "KOR", passphrase=None, insecure=True)
    )


@pytest.fixture
def store(pg_database: str, pg_schema: str, cipher: KeyRingCipher) -> Iterator[PostgresNodeStore]:
    with PostgresNodeStore(pg.conninfo(pg_database), schema=pg_schema, cipher=cipher) as s:
        yield s


def waiting_for_the_lock(dbname: str, schema: str) -> int:
    with pg.connect(dbname, schema) as con:
        row = con.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND ((classid::bigint << 32) | objid::bigint) = (%s::bigint & x'ffffffffffffffff'::bigint)",
            (lock_key(schema),),
        ).fetchone()
    return int(row[0]) if row else 0


def test_two_writers_in_two_connections_take_turns(
    store: PostgresNodeStore, pg_database: str, pg_schema: str, cipher: KeyRingCipher
) -> None:
    # a second store on the same schema: another pool, as another process would have
    other = PostgresNodeStore(pg.conninfo(pg_database), schema=pg_schema, cipher=cipher)
    order: list[str] = []
    first_in = threading.Event()
    let_go = threading.Event()

    def first() -> None:
        with store.writing() as w:
            w.add_object(obj(1), added(1))
            first_in.set()
            let_go.wait(WAIT)
            order.append("first commits")

    def second() -> None:
        with other.writing() as w:
            order.append("second writes")
            # the lock taken, this transaction sees what the first one committed
            assert w.has_object("c", "indicator--1", "v1")
            w.add_object(obj(2), added(2))

    a = threading.Thread(target=first)
    a.start()
    assert first_in.wait(WAIT)
    b = threading.Thread(target=second)
    b.start()
    while waiting_for_the_lock(pg_database, pg_schema) == 0:  # the second writer is queued
        b.join(0.01)
        assert b.is_alive(), "the second writer did not wait for the first"
    let_go.set()
    a.join(WAIT)
    b.join(WAIT)
    other.close()
    assert order == ["first commits", "second writes"]
    with store.reading() as r:
        assert [x.seq for x in r.rows_after(0, 10)] == [1, 2]


def test_durability_and_isolation_settings(store: PostgresNodeStore) -> None:
    with store.reading() as r:
        assert isinstance(r, SqlNodeReader)
        con = r._con
        assert con.execute("SHOW synchronous_commit").fetchone()[0] == "on"
        assert con.execute("SHOW transaction_isolation").fetchone()[0] == "repeatable read"
        assert con.execute("SHOW transaction_read_only").fetchone()[0] == "on"
    with store.writing() as w:
        assert w.log.size() == 0
        assert isinstance(w.log, SqlLogWriter)
        held = w.log.connection.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND pid = pg_backend_pid()"
        ).fetchone()[0]
        assert held == 1


def test_the_store_reconnects_after_the_server_drops_its_connections(
    store: PostgresNodeStore, pg_database: str
) -> None:
    with store.writing() as w:
        w.add_object(obj(1), added(1))
    assert pg.terminate(pg_database) >= 1
    failures: list[str] = []
    for n in (2, 3):
        try:
            with store.writing() as w:
                w.add_object(obj(n), added(n))
        except StoreFailure as exc:  # at most once: a connection lent before it was checked
            failures.append(str(exc))
    assert len(failures) <= 1
    assert all("PostgreSQL" in f or "write failed" in f for f in failures)
    with store.reading() as r:
        rows = r.rows_after(0, 10)
    assert rows[0].stix_id == "indicator--1"
    assert len(rows) == 3 - len(failures)


def test_a_server_that_is_not_there_is_a_store_failure_without_the_password(
    cipher: KeyRingCipher,
) -> None:
    conninfo = "host=127.0.0.1 port=1 user=gsomia password=hunter2-s3cret dbname=kor"
    with pytest.raises(
        StoreFailure, match=r"^node store postgresql://gsomia@127\.0\.0\.1:1/kor"
    ) as e:
        PostgresNodeStore(conninfo, schema="kor", cipher=cipher, timeout=1.0)
    assert "hunter2" not in str(e.value)
    assert "PostgreSQL unavailable" in str(e.value)


def test_a_write_inside_a_write_is_refused_not_left_waiting_for_itself(
    store: PostgresNodeStore,
) -> None:
    def nested() -> None:
        with store.writing() as w:
            w.add_object(obj(1), added(1))
            with store.log_store.writing():
                pass

    with pytest.raises(StoreFailure, match=r"a write transaction inside another one"):
        nested()
    with store.reading() as r:
        assert r.rows_after(0, 10) == []
    with store.writing() as w:  # and the writer is free again
        w.add_object(obj(2), added(2))
