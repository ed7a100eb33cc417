"""The node's store through its methods, on both backends (a SQLite file and a PostgreSQL
schema): objects and pages, items, statuses, the outbox, peer messages, native documents,
witness faults, the log's item index, and the content sealed at rest; one transaction or none.
The tests of what only a SQLite file has (its pages, its reader connections) use
``sqlite_store``."""

from __future__ import annotations

import re
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gsomia.errors import BadInput, StoreFailure
from gsomia.seal.at_rest import KeyRingCipher
from gsomia.seal.keys import KeyRing, init_keys
from gsomia.store.ports import NewObject, NodeWriter, ObjectRow, ObjectScope
from gsomia.store.postgres_node import PostgresNodeStore
from gsomia.store.sqlite_log import SqliteLogStore
from gsomia.store.sqlite_node import AT_REST_FORMAT, SqliteNodeStore
from tests import pg

Store = SqliteNodeStore | PostgresNodeStore

COLLECTION = "c-shared"
ITEM = "urn:gsomia:item:0001"


@pytest.fixture(scope="module")
def ring(tmp_path_factory: pytest.TempPathFactory) -> KeyRing:
    return init_keys(tmp_path_factory.mktemp("kor"), "KOR", passphrase=None, insecure=True)


@pytest.fixture(scope="module")
def cipher(ring: KeyRing) -> KeyRingCipher:
    return KeyRingCipher(ring)


class Opener:
    """Opens one store (a file, or a schema) as often as a test asks, as a restart does."""

    def __init__(self, backend: str, request: pytest.FixtureRequest, cipher: KeyRingCipher):
        self.backend = backend
        self.cipher = cipher
        if backend == "sqlite":
            self.path: Path = request.getfixturevalue("tmp_path") / "node.sqlite3"
        else:
            self.dbname: str = request.getfixturevalue("pg_database")
            self.schema: str = request.getfixturevalue("pg_schema")

    def __call__(self, cipher: KeyRingCipher | None = None) -> Store:
        if self.backend == "sqlite":
            return SqliteNodeStore(self.path, cipher=cipher or self.cipher)
        return PostgresNodeStore(
            pg.conninfo(self.dbname), schema=self.schema, cipher=cipher or self.cipher
        )


@pytest.fixture(params=["sqlite", "postgresql"])
def opener(request: pytest.FixtureRequest, cipher: KeyRingCipher) -> Opener:
    return Opener(request.param, request, cipher)


@pytest.fixture
def store(opener: Opener) -> Iterator[Store]:
    with opener() as s:
        yield s


@pytest.fixture
def sqlite_store(tmp_path: Path, cipher: KeyRingCipher) -> Iterator[SqliteNodeStore]:
    with SqliteNodeStore(tmp_path / "node.sqlite3", cipher=cipher) as s:
        yield s


def obj(
    stix_id: str = "indicator--1",
    version: str = "2019-11-01T00:00:00.000Z",
    *,
    collection: str = COLLECTION,
    stix_type: str = "indicator",
    item_id: str | None = None,
    equivalence: str | None = None,
    topics: tuple[str, ...] = (),
    body: bytes | None = None,
) -> NewObject:
    return NewObject(
        collection,
        stix_id,
        stix_type,
        version,
        item_id,
        equivalence,
        topics,
        body if body is not None else f"{stix_id}@{version}".encode(),
    )


def added(n: int) -> str:
    """The n-th date_added of a test: strictly increasing as text, as the node writes them."""
    return f"2024-01-01T00:00:{n // 1000:02d}.{n % 1000:03d}000Z"


def raw(store: Store, sql: str, *args: object) -> list[tuple[Any, ...]]:
    """Run ``sql`` (``?`` placeholders) behind the store's back, committed."""
    if isinstance(store, SqliteNodeStore):
        with sqlite3.connect(store.path) as con:
            return con.execute(sql, args).fetchall()
    with psycopg.connect(store.conninfo, autocommit=True) as con:
        con.execute(f"SET search_path TO {store.schema}")
        cur = con.execute(sql.replace("?", "%s"), args)
        return cur.fetchall() if cur.description else []


def stored(store: Store, table: str, column: str) -> bytes:
    """What a reader of the database's storage sees of a column: the whole file of SQLite
    (every page of it), the column's stored values on PostgreSQL."""
    if isinstance(store, SqliteNodeStore):
        return store.path.read_bytes()
    rows = raw(store, f"SELECT {column} FROM {table}")
    return b"".join(bytes(r[0]) for r in rows if r[0] is not None)


# ------------------------------------------------------------------ opening the file


def test_a_new_store_is_marked_with_its_at_rest_format(store: Store) -> None:
    assert raw(store, "SELECT value FROM node_meta WHERE key = 'at_rest'") == [(AT_REST_FORMAT,)]


def test_reopening_keeps_what_was_written(opener: Opener) -> None:
    with opener() as first, first.writing() as w:
        w.add_object(obj(), added(1))
        w.set_last_date_added(added(1))
    with opener() as again:
        with again.reading() as r:
            assert [x.body for x in r.versions(COLLECTION, "indicator--1")] == [
                b"indicator--1@2019-11-01T00:00:00.000Z"
            ]
        with again.writing() as w:
            assert w.last_date_added() == added(1)


def test_an_unknown_at_rest_format_is_refused_and_the_file_left_as_it_was(
    tmp_path: Path, cipher: KeyRingCipher
) -> None:
    path = tmp_path / "node.sqlite3"
    SqliteNodeStore(path, cipher=cipher).close()
    with sqlite3.connect(path) as con:
        con.execute("UPDATE node_meta SET value = 'rot13/v0' WHERE key = 'at_rest'")
    with pytest.raises(BadInput, match=r"at-rest format 'rot13/v0' is not 'aes-256-gcm/v1'"):
        SqliteNodeStore(path, cipher=cipher)
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT value FROM node_meta WHERE key = 'at_rest'").fetchall() == [
            ("rot13/v0",)
        ]
        assert not con.in_transaction


def test_a_log_file_with_a_foreign_table_is_not_a_node_database(
    tmp_path: Path, cipher: KeyRingCipher
) -> None:
    path = tmp_path / "node.sqlite3"
    SqliteLogStore(path).close()
    with sqlite3.connect(path) as con:  # the last table of the schema, with other columns
        con.execute("CREATE TABLE peer_messages (something_else TEXT)")
    with pytest.raises(BadInput, match=r"not a gsomia node database \(no such column: state\)"):
        SqliteNodeStore(path, cipher=cipher)
    # the tables created before the failing statement were rolled back with it
    with sqlite3.connect(path) as con:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "peer_messages" in tables
    assert not tables & {"objects", "items", "statuses", "outbox", "node_meta"}


def test_a_plaintext_store_is_sealed_in_place_at_open(
    tmp_path: Path, cipher: KeyRingCipher
) -> None:
    path = tmp_path / "node.sqlite3"
    SqliteNodeStore(path, cipher=cipher).close()
    with sqlite3.connect(path) as con:  # a store of the previous version: bodies in clear
        con.execute("DELETE FROM node_meta WHERE key = 'at_rest'")
        con.execute(
            "INSERT INTO objects (collection, stix_id, stix_type, version, date_added, topics, "
            "is_latest, body) VALUES ('c', 'x--1', 'x', 'v1', ?, '[]', 1, ?)",
            (added(1), b"object in clear"),
        )
        con.execute("INSERT INTO statuses VALUES ('s1', 'alice', ?)", (b'{"s":"status in clear"}',))
        con.execute(
            "INSERT INTO node_documents VALUES ('consent', 'k1', ?, ?, NULL)",
            (ITEM, b'{"doc":"document in clear"}'),
        )
        con.execute(
            "INSERT INTO node_documents VALUES ('report', 'k2', ?, ?, ?)",
            (ITEM, b'{"doc":"report in clear"}', b"attachment in clear"),
        )
        con.execute(
            "INSERT INTO peer_messages (id, recipient, path, ref, body) "
            "VALUES (7, 'JPN', '/p', 'r', ?)",
            (b"message in clear",),
        )
    with SqliteNodeStore(path, cipher=cipher) as s, s.reading() as r:
        assert r.versions("c", "x--1")[0].body == b"object in clear"
        assert r.status("s1") == ("alice", {"s": "status in clear"})
        consent = r.document("consent", "k1")
        assert consent is not None
        assert (consent.body, consent.attachment) == ({"doc": "document in clear"}, None)
        report = r.document("report", "k2")
        assert report is not None
        assert report.attachment == b"attachment in clear"
        assert [m.body for m in r.due_messages(0.0)] == [b"message in clear"]
    data = path.read_bytes()
    for clear in (b"object", b"status", b"document", b"report", b"attachment", b"message"):
        assert clear + b" in clear" not in data
    assert raw(s, "SELECT value FROM node_meta WHERE key = 'at_rest'") == [(AT_REST_FORMAT,)]


def test_an_empty_unmarked_store_is_marked_without_migrating(
    tmp_path: Path, cipher: KeyRingCipher
) -> None:
    path = tmp_path / "node.sqlite3"
    SqliteNodeStore(path, cipher=cipher).close()
    with sqlite3.connect(path) as con:
        con.execute("DELETE FROM node_meta WHERE key = 'at_rest'")
    with SqliteNodeStore(path, cipher=cipher) as s:
        assert raw(s, "SELECT value FROM node_meta WHERE key = 'at_rest'") == [(AT_REST_FORMAT,)]


def test_another_nodes_key_does_not_open_the_content(
    tmp_path: Path, opener: Opener, store: Store
) -> None:
    with store.writing() as w:
        w.add_object(obj(), added(1))
    store.close()
    other = KeyRingCipher(init_keys(tmp_path / "other", "KOR", passphrase=None, insecure=True))
    with (
        opener(other) as s,
        pytest.raises(StoreFailure, match=r"objects\.body of row .* does not open"),
        s.reading() as r,
    ):
        r.versions(COLLECTION, "indicator--1")


# ------------------------------------------------------------------ objects and pages


def test_versions_and_the_latest_flag(store: Store) -> None:
    with store.writing() as w:
        w.add_object(obj(version="v2"), added(1))
        w.add_object(obj(version="v1"), added(2))  # older version, added later: not latest
        w.add_object(obj(version="v3"), added(3))
        w.add_object(obj("indicator--2", "v1"), added(4))
        assert w.has_object(COLLECTION, "indicator--1", "v1")
        assert not w.has_object(COLLECTION, "indicator--1", "v9")
        assert not w.has_object("c-other", "indicator--1", "v1")
    with store.reading() as r:
        assert [x.version for x in r.versions(COLLECTION, "indicator--1")] == ["v1", "v2", "v3"]
        latest = r.page(COLLECTION, after_seq=0, added_after=None, latest_only=True, batch=10)
        assert [(x.stix_id, x.version) for x in latest] == [
            ("indicator--1", "v3"),
            ("indicator--2", "v1"),
        ]
        assert r.count(COLLECTION) == 4
        assert r.count("c-other") == 0
        assert r.versions(COLLECTION, "indicator--9") == []


def test_the_same_version_twice_is_refused_and_the_transaction_rolled_back(
    store: Store,
) -> None:
    with store.writing() as w:
        w.add_object(obj(), added(1))

    def add_it_again() -> None:
        with store.writing() as w:
            w.add_object(obj("indicator--2"), added(2))
            w.add_item(ITEM, "indicator--2", "KOR", b"sealed", None, added(2))
            w.log.add_checkpoint(0, b"\x00" * 32, b"note")
            w.add_object(obj(), added(3))  # (collection, id, version) exists

    with pytest.raises(StoreFailure, match="write failed, nothing was stored"):
        add_it_again()
    with store.reading() as r:
        assert r.count(COLLECTION) == 1
        assert r.item(ITEM) is None
        assert r.recent_checkpoints(5) == []


def test_an_exception_in_a_transaction_writes_nothing_of_it(store: Store) -> None:
    def fail_midway() -> None:
        with store.writing() as w:
            w.add_object(obj(), added(1))
            w.set_last_date_added(added(1))
            w.queue(ITEM, "JPN", added(1))
            w.queue_message("JPN", "/native/v1/consents", "ref", b"body")
            raise BadInput("the use case changed its mind")

    with pytest.raises(BadInput, match="changed its mind"):
        fail_midway()
    with store.reading() as r:
        assert r.count(COLLECTION) == 0
        assert r.due(1e12) == []
        assert r.due_messages(1e12) == []
    with store.writing() as w:
        assert w.last_date_added() is None


def test_a_failed_savepoint_undoes_its_part_and_the_rest_commits(
    store: Store,
) -> None:
    def refused(w: NodeWriter) -> None:
        with w.savepoint():
            w.add_object(obj("indicator--2"), added(2))
            w.queue(ITEM, "JPN", added(2))
            raise BadInput("the second caller's envelope was refused")

    with store.writing() as w:
        w.add_object(obj("indicator--1"), added(1))
        with pytest.raises(BadInput, match="second caller"):
            refused(w)
        with w.savepoint():
            w.add_object(obj("indicator--3"), added(3))
    with store.reading() as r:
        assert [x.stix_id for x in r.rows_after(0, 10)] == ["indicator--1", "indicator--3"]
        assert r.due(1e12) == []


def test_replace_object_stores_the_version_again_added_anew(store: Store) -> None:
    with store.writing() as w:
        w.add_object(obj(body=b"first marking"), added(1))
        w.add_object(obj("indicator--2"), added(2))
        w.replace_object(obj(body=b"second marking"), added(3))
    with store.reading() as r:
        rows = r.rows_after(0, 10)
        assert [(x.stix_id, x.body, x.date_added) for x in rows] == [
            ("indicator--2", b"indicator--2@2019-11-01T00:00:00.000Z", added(2)),
            ("indicator--1", b"second marking", added(3)),
        ]
        assert r.last_seq() == rows[-1].seq
        assert r.seq_after(added(2)) == rows[0].seq


def test_a_replaced_version_keeps_its_place_among_the_versions(store: Store) -> None:
    with store.writing() as w:
        w.add_object(obj(version="v1"), added(1))
        w.add_object(obj(version="v2"), added(2))
        w.replace_object(obj(version="v2", body=b"v2 remarked"), added(3))  # the latest
        w.replace_object(obj(version="v1", body=b"v1 remarked"), added(4))  # an older one
    with store.reading() as r:
        latest = r.page(COLLECTION, after_seq=0, added_after=None, latest_only=True, batch=10)
        assert [(x.version, x.body) for x in latest] == [("v2", b"v2 remarked")]
        assert [x.body for x in r.versions(COLLECTION, "indicator--1")] == [
            b"v1 remarked",
            b"v2 remarked",
        ]


def test_page_filters(store: Store) -> None:
    with store.writing() as w:
        w.add_object(obj("indicator--1", "v1"), added(1))
        w.add_object(obj("report--1", "v1", stix_type="report"), added(2))
        w.add_object(obj("indicator--1", "v2"), added(3))
        w.add_object(obj("indicator--2", "v1", collection="c-other"), added(4))
        w.add_object(obj("malware--1", "v1", stix_type="malware"), added(5))

    def page(
        *,
        added_after: str | None = None,
        latest_only: bool = False,
        ids: tuple[str, ...] = (),
        types: tuple[str, ...] = (),
        batch: int = 10,
    ) -> list[tuple[str, str]]:
        with store.reading() as r:
            rows = r.page(
                COLLECTION,
                after_seq=0,
                added_after=added_after,
                latest_only=latest_only,
                ids=ids,
                types=types,
                batch=batch,
            )
        return [(x.stix_id, x.version) for x in rows]

    assert page() == [
        ("indicator--1", "v1"),
        ("report--1", "v1"),
        ("indicator--1", "v2"),
        ("malware--1", "v1"),
    ]
    assert page(latest_only=True) == [
        ("report--1", "v1"),
        ("indicator--1", "v2"),
        ("malware--1", "v1"),
    ]
    assert page(added_after=added(2)) == [("indicator--1", "v2"), ("malware--1", "v1")]
    assert page(ids=("report--1", "malware--1")) == [("report--1", "v1"), ("malware--1", "v1")]
    assert page(types=("indicator",)) == [("indicator--1", "v1"), ("indicator--1", "v2")]
    assert page(types=("indicator",), latest_only=True, ids=("indicator--1",)) == [
        ("indicator--1", "v2")
    ]
    assert page(batch=2) == [("indicator--1", "v1"), ("report--1", "v1")]
    with store.reading() as r:
        second = r.page(COLLECTION, after_seq=2, added_after=None, latest_only=False, batch=10)
    assert [x.seq for x in second] == [3, 5]
    assert page(ids=("nothing--1",)) == []


@pytest.mark.parametrize(
    ("latest_only", "types", "added_after"),
    [(True, (), None), (False, (), None), (True, ("indicator", "report"), added(1))],
)
def test_a_page_by_id_is_found_from_the_id_not_by_walking_the_collection(
    sqlite_store: SqliteNodeStore,
    latest_only: bool,
    types: tuple[str, ...],
    added_after: str | None,
) -> None:
    """The statement behind a page with ids searches the (collection, stix_id) index and reads
    the rows it finds by seq: it never walks the collection in seq order, which reads every
    row to find one (SQLite's EXPLAIN QUERY PLAN of the statement the reader ran)."""
    store = sqlite_store
    with store.writing() as w:
        for n in range(1, 40):
            w.add_object(obj(f"indicator--{n}"), added(n))
    ran: list[str] = []
    con = store._reader_con()
    con.set_trace_callback(ran.append)
    try:
        with store.reading() as r:
            rows = r.page(
                COLLECTION,
                after_seq=0,
                added_after=added_after,
                latest_only=latest_only,
                ids=("indicator--30", "indicator--7"),
                types=types,
                batch=10,
            )
    finally:
        con.set_trace_callback(None)
    assert [x.stix_id for x in rows] == ["indicator--7", "indicator--30"]
    [query] = [q for q in ran if q.startswith("SELECT")]
    steps = [str(r[-1]) for r in raw(store, f"EXPLAIN QUERY PLAN {query}")]
    by_id = r"SEARCH objects USING (COVERING )?INDEX objects_\w+ \(collection=\? AND stix_id=\?\)"
    assert any(re.fullmatch(by_id, step) for step in steps), steps
    assert not [s for s in steps if s.startswith("SCAN") or "objects_latest" in s], steps


def test_a_filter_sqlite_cannot_run_is_a_store_failure(sqlite_store: SqliteNodeStore) -> None:
    store = sqlite_store
    limit = sqlite3.connect(":memory:").getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    ids = [f"indicator--{i}" for i in range(limit)]  # with the collection, one too many
    with (
        pytest.raises(StoreFailure, match=r"read failed \(too many SQL variables\)"),
        store.reading() as r,
    ):
        r.page(COLLECTION, after_seq=0, added_after=None, latest_only=False, ids=ids, batch=1)
    with store.reading() as r:  # the reader is usable again: its transaction was ended
        assert r.count(COLLECTION) == 0


def test_seq_after_and_rows_after_across_collections(store: Store) -> None:
    with store.reading() as r:
        assert r.seq_after(added(9)) == 0
        assert r.last_seq() == 0
        assert r.rows_after(0, 10) == []
    with store.writing() as w:
        for n, collection in enumerate(("a", "b", "a", "c"), start=1):
            w.add_object(obj(f"x--{n}", collection=collection), added(10 * n))
    with store.reading() as r:
        assert r.seq_after(added(5)) == 0
        assert r.seq_after(added(10)) == 1
        assert r.seq_after(added(25)) == 2
        assert r.seq_after(added(99)) == 4
        assert [x.collection for x in r.rows_after(1, 2)] == ["b", "a"]
        assert r.last_seq() == 4


def test_an_object_row_round_trips_every_column(store: Store) -> None:
    new = obj(item_id=ITEM, equivalence="SECRET", topics=("dprk.missile", "dprk.nuclear"))
    with store.writing() as w:
        w.add_object(new, added(1))
    with store.reading() as r:
        assert r.versions(COLLECTION, new.stix_id) == [
            ObjectRow(
                1,
                COLLECTION,
                new.stix_id,
                "indicator",
                new.version,
                added(1),
                ITEM,
                "SECRET",
                ("dprk.missile", "dprk.nuclear"),
                new.body,
            )
        ]


def test_scopes_read_no_body_and_a_miss_is_none(store: Store) -> None:
    with store.writing() as w:
        w.add_object(obj(version="v2", item_id=ITEM, topics=("dprk",)), added(1))
        w.add_object(obj(version="v1", equivalence="II"), added(2))
    # a body that no longer opens does not matter to a scope: none is read
    raw(store, "UPDATE objects SET body = ?", b"\x00")
    with store.reading() as r:
        assert r.object_scope(COLLECTION, "indicator--1", "v2") == ObjectScope(
            "indicator--1", "v2", "indicator", ITEM, None, ("dprk",)
        )
        assert r.object_scope(COLLECTION, "indicator--1", "v9") is None
        assert r.object_scope("c-other", "indicator--1", "v2") is None
        assert [s.version for s in r.scopes(COLLECTION, "indicator--1")] == ["v1", "v2"]
        assert r.scopes(COLLECTION, "indicator--9") == []
        with pytest.raises(StoreFailure, match=r"objects\.body of row"):
            r.versions(COLLECTION, "indicator--1")


# ------------------------------------------------------------------ items


def test_items_add_replace_and_origin(store: Store) -> None:
    with store.writing() as w:
        assert not w.has_item(ITEM)
        w.add_item(ITEM, "indicator--1", "JPN", b"sealed-1", "USA", added(1))
        w.add_item("urn:gsomia:item:0002", "indicator--2", "KOR", b"sealed-2", None, added(2))
        assert w.has_item(ITEM)
        w.replace_item(ITEM, b"sealed-1b")
    with store.reading() as r:
        assert r.item(ITEM) == ("JPN", b"sealed-1b", "USA")
        assert r.item("urn:gsomia:item:0002") == ("KOR", b"sealed-2", None)
        assert r.item("urn:gsomia:item:9999") is None
        assert r.item_origin(ITEM) == ("JPN", "USA")
        assert r.item_origin("urn:gsomia:item:0002") == ("KOR", None)
        assert r.item_origin("urn:gsomia:item:9999") is None


def test_an_item_twice_is_refused(store: Store) -> None:
    with store.writing() as w:
        w.add_item(ITEM, "indicator--1", "JPN", b"first", None, added(1))
    with pytest.raises(StoreFailure, match="nothing was stored"), store.writing() as w:
        w.add_item(ITEM, "indicator--1", "JPN", b"second", None, added(2))
    with store.reading() as r:
        assert r.item(ITEM) == ("JPN", b"first", None)


# ------------------------------------------------------------------ statuses


def test_statuses_are_sealed_and_bound_to_their_id(store: Store) -> None:
    body = {"status": "complete", "success_count": 3}
    with store.writing() as w:
        w.put_status("s1", "alice", body)
        w.put_status("s2", "bob", {"status": "pending"})
    assert b"complete" not in stored(store, "statuses", "body")
    with store.reading() as r:
        assert r.status("s1") == ("alice", body)
        assert r.status("s9") is None
    with pytest.raises(StoreFailure, match="nothing was stored"), store.writing() as w:
        w.put_status("s1", "mallory", {})
    # s2's sealed body moved onto s1
    raw(store, "UPDATE statuses SET body = (SELECT body FROM statuses WHERE id = 's2')")
    with (
        pytest.raises(StoreFailure, match=r"statuses\.body of row \['s1'\] does not open"),
        store.reading() as r,
    ):
        r.status("s1")


# ------------------------------------------------------------------ the outbox


def test_queue_is_idempotent_and_due_rows_come_in_order(store: Store) -> None:
    with store.writing() as w:
        w.queue("item-a", "JPN", added(1))
        w.queue("item-a", "USA", added(1))
        w.queue("item-b", "JPN", added(2))
        w.queue("item-a", "JPN", added(3))  # already queued: nothing new
    with store.reading() as r:
        due = r.due(0.0)
        assert [(x.item_id, x.recipient, x.queued_at, x.attempts) for x in due] == [
            ("item-a", "JPN", added(1), 0),
            ("item-a", "USA", added(1), 0),
            ("item-b", "JPN", added(2), 0),
        ]
        assert [x.id for x in due] == sorted(x.id for x in due)
        assert [x.item_id for x in r.due_for("JPN")] == ["item-a", "item-b"]
        assert [x.item_id for x in r.due_for("JPN", limit=1)] == ["item-a"]
        assert r.due_for("KOR") == []
        assert len(r.due(0.0, limit=2)) == 2
        assert r.outbox_counts() == {"pending": 3}


def test_retry_postpones_and_done_removes_from_due(store: Store) -> None:
    with store.writing() as w:
        w.queue("item-a", "JPN", added(1))
        w.queue("item-b", "JPN", added(2))
        w.queue("item-c", "USA", added(3))
    with store.reading() as r:
        a, b, c = r.due(0.0)
    with store.writing() as w:
        w.outbox_retry(a.id, 100.0, "connection refused")
        w.outbox_retry(a.id, 200.0, "connection refused again")
        w.outbox_done(b.id, "delivered")
        w.outbox_done(c.id, "refused", "peer said 403")
    with store.reading() as r:
        assert r.due(199.0) == []
        (again,) = r.due(200.0)
        assert (again.id, again.attempts) == (a.id, 2)
        # due_for ignores next_attempt (a peer that came back gets its backlog now)
        assert [x.id for x in r.due_for("JPN")] == [a.id]
        assert r.outbox_counts() == {"pending": 1, "delivered": 1, "refused": 1}
    assert raw(store, "SELECT state, last_error FROM outbox ORDER BY id") == [
        ("pending", "connection refused again"),
        ("delivered", None),
        ("refused", "peer said 403"),
    ]


# ------------------------------------------------------------------ peer messages


def test_peer_messages_queue_retry_and_done(store: Store) -> None:
    with store.writing() as w:
        w.queue_message("JPN", "/native/v1/consents", "ref-1", b"signed consent")
        w.queue_message("USA", "/native/v1/reports", "ref-2", b"signed report")
    with store.writing() as w:
        w.queue_message("JPN", "/native/v1/notices", "ref-3", b"signed notice")
    assert b"signed" not in stored(store, "peer_messages", "body")
    with store.reading() as r:
        due = r.due_messages(0.0)
        assert [(m.id, m.recipient, m.path, m.ref, m.body, m.attempts) for m in due] == [
            (1, "JPN", "/native/v1/consents", "ref-1", b"signed consent", 0),
            (2, "USA", "/native/v1/reports", "ref-2", b"signed report", 0),
            (3, "JPN", "/native/v1/notices", "ref-3", b"signed notice", 0),
        ]
        assert [m.id for m in r.due_messages(0.0, limit=1)] == [1]
    with store.writing() as w:
        w.message_retry(1, 50.0, "timeout")
        w.message_done(2, "delivered")
        w.message_done(3, "refused", "bad signature")
    with store.reading() as r:
        assert r.due_messages(49.0) == []
        (retried,) = r.due_messages(50.0)
        assert (retried.id, retried.attempts) == (1, 1)
    assert raw(store, "SELECT state, last_error FROM peer_messages ORDER BY id") == [
        ("pending", "timeout"),
        ("delivered", None),
        ("refused", "bad signature"),
    ]


def test_a_peer_message_body_moved_to_another_id_does_not_open(store: Store) -> None:
    with store.writing() as w:
        w.queue_message("JPN", "/p", "r1", b"one")
        w.queue_message("JPN", "/p", "r2", b"two")
    raw(store, "UPDATE peer_messages SET id = 9 WHERE id = 2")
    with (
        pytest.raises(StoreFailure, match=r"peer_messages\.body of row \[9\] does not open"),
        store.reading() as r,
    ):
        r.due_messages(0.0)


# ------------------------------------------------------------------ native documents


def test_documents_upsert_read_and_list_in_order(store: Store) -> None:
    with store.writing() as w:
        w.put_document("consent", "k1", ITEM, {"n": 1}, None)
        w.put_document("consent", "k2", "urn:gsomia:item:0002", {"n": 2}, b"pdf bytes")
        w.put_document("report", "k3", ITEM, {"n": 3}, None)
        assert w.document("consent", "k1") is not None
        assert w.document("consent", "k9") is None
        # a write sees its own documents about an item (what it replaces a set from)
        assert [d.key for d in w.documents("consent", ITEM)] == ["k1"]
    with store.writing() as w:  # the same key again replaces the document, in its place
        w.put_document("consent", "k1", ITEM, {"n": 10}, b"signed")
        replaced = w.document("consent", "k1")
        assert replaced is not None
        assert (replaced.body, replaced.attachment) == ({"n": 10}, b"signed")
    assert b"pdf bytes" not in stored(store, "node_documents", "attachment")
    with store.reading() as r:
        assert [(d.key, d.body) for d in r.documents("consent")] == [
            ("k1", {"n": 10}),
            ("k2", {"n": 2}),
        ]
        assert [d.key for d in r.documents("consent", ITEM)] == ["k1"]
        assert [d.key for d in r.documents("report", ITEM)] == ["k3"]
        assert r.documents("notice") == []
        k2 = r.document("consent", "k2")
        assert k2 is not None
        assert (k2.kind, k2.item_id, k2.attachment) == (
            "consent",
            "urn:gsomia:item:0002",
            b"pdf bytes",
        )
        assert r.document("consent", "k9") is None
        assert r.document_item("consent", "k2") == "urn:gsomia:item:0002"
        assert r.document_item("consent", "k9") is None
        assert r.document_item("report", "k1") is None


def test_a_document_attachment_swapped_with_another_does_not_open(
    store: Store,
) -> None:
    with store.writing() as w:
        w.put_document("consent", "k1", ITEM, {}, b"first")
        w.put_document("consent", "k2", ITEM, {}, b"second")
    raw(
        store,
        "UPDATE node_documents SET attachment = "
        "(SELECT attachment FROM node_documents WHERE key = 'k2') WHERE key = 'k1'",
    )
    with (
        pytest.raises(StoreFailure, match=r"node_documents\.attachment of row \['consent', 'k1'\]"),
        store.reading() as r,
    ):
        r.document("consent", "k1")


# ------------------------------------------------------------------ the log in the same file


def test_log_item_index_and_its_high_water_mark(store: Store) -> None:
    with store.writing() as w:
        assert w.log_indexed_upto() == 0
        w.index_log_items([(ITEM, 3, "release.decision"), (ITEM, 1, "item.received")], 4)
    with store.writing() as w:  # an entry seen twice is indexed once
        w.index_log_items([(ITEM, 3, "release.decision"), ("other", 5, "item.received")], 6)
        assert w.log_indexed_upto() == 6
    with store.reading() as r:
        assert r.log_indexed_upto() == 6
        assert r.log_item_entries(ITEM) == [(1, "item.received"), (3, "release.decision")]
        assert r.log_item_entries("missing") == []


def test_witness_faults_newest_first_by_origin(store: Store) -> None:
    with store.writing() as w:
        first = w.add_witness_fault("JPN", added(1), 5, 7, "rollback", b"note")
        second = w.add_witness_fault("USA", added(2), None, 3, "unreadable", None)
        third = w.add_witness_fault("JPN", added(3), 9, 7, "fork", None)
    assert first < second < third
    with store.reading() as r:
        assert [f.id for f in r.witness_faults()] == [third, second, first]
        assert [f.reason for f in r.witness_faults(origin="JPN")] == ["fork", "rollback"]
        assert [f.id for f in r.witness_faults(limit=1)] == [third]
        rollback = r.witness_faults(origin="JPN")[1]
        assert (rollback.origin, rollback.size, rollback.cosigned_size, rollback.note) == (
            "JPN",
            5,
            7,
            b"note",
        )
        assert r.witness_faults(origin="KOR") == []


def test_recent_checkpoints_and_last_witnessed(store: Store) -> None:
    proof = [bytes([i]) * 32 for i in range(3)]
    with store.writing() as w:
        for size in (1, 4, 2, 8):
            w.log.add_checkpoint(size, bytes([size]) * 32, f"note {size}".encode())
        w.log.add_witnessed("JPN", 3, b"\x01" * 32, b"n3", proof_from=0, proof=[])
        w.log.add_witnessed("JPN", 5, b"\x02" * 32, b"n5", proof_from=3, proof=proof)
        w.log.add_witnessed("USA", 1, b"\x03" * 32, b"u1", proof_from=0, proof=[])
    with store.reading() as r:
        assert [c.size for c in r.recent_checkpoints(3)] == [8, 4, 2]
        assert r.recent_checkpoints(0) == []
        last = r.last_witnessed("JPN")
        assert last is not None
        assert (last.size, last.note, last.proof_from, last.proof) == (5, b"n5", 3, tuple(proof))
        usa = r.last_witnessed("USA")
        assert usa is not None
        assert usa.proof == ()
        assert r.last_witnessed("KOR") is None


# ------------------------------------------------------------------ transactions and readers


def test_last_date_added_is_read_once_and_written_at_commit(store: Store) -> None:
    with store.writing() as w:
        assert w.last_date_added() is None
        w.set_last_date_added(added(1))
        assert w.last_date_added() == added(1)
        assert raw(store, "SELECT value FROM node_meta WHERE key = 'last_date_added'") == []
    assert raw(store, "SELECT value FROM node_meta WHERE key = 'last_date_added'") == [(added(1),)]
    with store.writing() as w:
        w.set_last_date_added(added(2))
    with store.writing() as w:
        assert w.last_date_added() == added(2)
    with store.writing():  # a transaction that sets nothing leaves the value alone
        pass
    assert raw(store, "SELECT value FROM node_meta WHERE key = 'last_date_added'") == [(added(2),)]


def test_a_reader_sees_one_snapshot(store: Store) -> None:
    with store.writing() as w:
        w.add_object(obj("x--1"), added(1))
    with store.reading() as r:
        assert r.count(COLLECTION) == 1
        with store.writing() as w:
            w.add_object(obj("x--2"), added(2))
        assert r.count(COLLECTION) == 1
        assert r.last_seq() == 1
    with store.reading() as r:
        assert r.count(COLLECTION) == 2


def test_readers_are_per_thread_and_read_only(sqlite_store: SqliteNodeStore) -> None:
    store = sqlite_store
    with store.writing() as w:
        w.add_object(obj(), added(1))
    seen: list[int] = []

    def read() -> None:
        with store.reading() as r:
            seen.append(r.count(COLLECTION))

    threads = [threading.Thread(target=read) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    read()
    read()  # this thread's reader is reused
    assert seen == [1, 1, 1, 1, 1]
    assert len(store._readers) == 4
    with (
        pytest.raises(StoreFailure, match=r"read failed \(attempt to write a readonly"),
        store.reading() as r,
    ):
        r._con.execute("DELETE FROM objects")
    store.close()
    assert store._readers == []


def test_a_reader_that_cannot_open_is_a_store_failure(
    sqlite_store: SqliteNodeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = sqlite_store

    def refuse(*_args: object, **_kw: object) -> sqlite3.Connection:
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr("gsomia.store.sqlite_node.sqlite3.connect", refuse)
    with pytest.raises(StoreFailure, match=r"cannot open a reader \(unable to open"):
        store._reader_con()


# ------------------------------------------------------------------ properties

VERSIONS = st.sampled_from(["v1", "v2", "v3", "v4"])
IDS = st.sampled_from(["indicator--a", "indicator--b", "report--c"])
COLLECTIONS = st.sampled_from(["c1", "c2"])


@contextmanager
def fresh_store(
    backend: str, cipher: KeyRingCipher, request: pytest.FixtureRequest
) -> Iterator[Store]:
    """A new, empty store for one example of a property (a file, or a schema dropped after)."""
    if backend == "sqlite":
        with (
            tempfile.TemporaryDirectory() as tmp,
            SqliteNodeStore(Path(tmp) / "node.sqlite3", cipher=cipher) as s,
        ):
            yield s
        return
    dbname = request.getfixturevalue("pg_database")
    schema = pg.fresh_schema()
    try:
        with PostgresNodeStore(pg.conninfo(dbname), schema=schema, cipher=cipher) as s:
            yield s
    finally:
        with pg.connect(dbname, schema) as con:
            con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


# one fresh store per example, made in the test: the function-scoped ``request`` only finds
# the session's database
PROPERTY = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
@settings(max_examples=40, deadline=None, suppress_health_check=PROPERTY)
@given(
    adds=st.lists(st.tuples(COLLECTIONS, IDS, VERSIONS), min_size=1, max_size=25, unique=True),
    batch=st.integers(min_value=1, max_value=7),
    latest_only=st.booleans(),
)
def test_pages_walk_every_row_once_in_seq_order(  # noqa: PLR0917 - fixtures and drawn values
    backend: str,
    request: pytest.FixtureRequest,
    cipher: KeyRingCipher,
    adds: list[tuple[str, str, str]],
    batch: int,
    latest_only: bool,
) -> None:
    """Paging from a cursor yields, for each collection, exactly its rows in the order they
    were added (the latest version of each object only, if asked); the latest flag is the
    largest version whatever the order of arrival; seq and date_added grow together."""
    with fresh_store(backend, cipher, request) as s:
        with s.writing() as w:
            for n, (collection, stix_id, version) in enumerate(adds, start=1):
                w.add_object(obj(stix_id, version, collection=collection), added(n))
        with s.reading() as r:
            everything = r.rows_after(0, len(adds) + 1)
            for collection in ("c1", "c2"):
                mine = [a for a in adds if a[0] == collection]
                latest = {i: max(v for c, j, v in mine if j == i) for _, i, _ in mine}
                expected = [(i, v) for _, i, v in mine if not latest_only or latest[i] == v]
                walked: list[ObjectRow] = []
                cursor = 0
                while page := r.page(
                    collection,
                    after_seq=cursor,
                    added_after=None,
                    latest_only=latest_only,
                    batch=batch,
                ):
                    assert len(page) <= batch
                    walked += page
                    cursor = page[-1].seq
                assert [(x.stix_id, x.version) for x in walked] == expected
                assert [x.seq for x in walked] == sorted({x.seq for x in walked})
    seqs = [x.seq for x in everything]
    dates = [x.date_added for x in everything]
    assert seqs == sorted(set(seqs))
    assert dates == sorted(set(dates))
    assert [(x.collection, x.stix_id, x.version) for x in everything] == adds


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
@settings(max_examples=40, deadline=None, suppress_health_check=PROPERTY)
@given(
    adds=st.lists(st.tuples(COLLECTIONS, IDS, VERSIONS), min_size=1, max_size=25, unique=True),
    ids=st.lists(IDS, min_size=1, max_size=3),
    after=st.integers(min_value=0, max_value=26),
    added_after=st.none() | st.integers(min_value=0, max_value=26),
    types=st.sampled_from([(), ("indicator",), ("report", "malware")]),
    batch=st.integers(min_value=1, max_value=7),
    latest_only=st.booleans(),
)
def test_a_page_by_ids_is_the_page_without_them_kept_to_those_ids(
    backend: str,
    request: pytest.FixtureRequest,
    cipher: KeyRingCipher,
    *,
    adds: list[tuple[str, str, str]],
    ids: list[str],
    after: int,
    added_after: int | None,
    types: tuple[str, ...],
    batch: int,
    latest_only: bool,
) -> None:
    """Rows found from their ids are the rows a walk of the collection finds, in the same
    order, under the same cursor and filters: the ids change how rows are found, not which."""
    since = None if added_after is None else added(added_after)
    with fresh_store(backend, cipher, request) as s:
        with s.writing() as w:
            for n, (collection, stix_id, version) in enumerate(adds, start=1):
                kind = stix_id.split("--")[0]
                w.add_object(obj(stix_id, version, collection=collection, stix_type=kind), added(n))
        with s.reading() as r:
            walked = r.page(
                "c1",
                after_seq=after,
                added_after=since,
                latest_only=latest_only,
                types=types,
                batch=len(adds),
            )
            found = r.page(
                "c1",
                after_seq=after,
                added_after=since,
                latest_only=latest_only,
                ids=ids,
                types=types,
                batch=batch,
            )
    assert found == [x for x in walked if x.stix_id in ids][:batch]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
@settings(max_examples=30, deadline=None, suppress_health_check=PROPERTY)
@given(
    steps=st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=20),
    probe=st.integers(min_value=0, max_value=1100),
)
def test_seq_after_is_the_last_row_at_or_before_a_date(
    backend: str,
    request: pytest.FixtureRequest,
    cipher: KeyRingCipher,
    steps: list[int],
    probe: int,
) -> None:
    """With date_added strictly increasing, ``seq_after(d)`` is the number of rows added at
    or before ``d`` (one index probe answers what a scan would)."""
    with fresh_store(backend, cipher, request) as s:
        dates = []
        at = 0
        with s.writing() as w:
            for n, step in enumerate(steps):
                at += step
                dates.append(added(at))
                w.add_object(obj(f"x--{n}"), added(at))
        with s.reading() as r:
            assert r.seq_after(added(probe)) == sum(1 for d in dates if d <= added(probe))
