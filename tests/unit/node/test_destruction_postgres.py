"""Destruction on PostgreSQL (DOMAIN.md §7.5): the item's rows are gone, and its key — the one
thing that opens whatever of its ciphertext a free page or the write-ahead log may still hold —
is in no table file: ``item_keys`` is rewritten (``VACUUM FULL``), its old file unlinked. The
table files are read through the server (``pg_read_binary_file``, as the superuser the tests
connect as) after a ``CHECKPOINT`` has written every page out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
import pytest

from gsomia.app.boot import load_config, open_node
from gsomia.clock import FixedClock
from gsomia.node import destruction, federation
from gsomia.node.service import Node
from gsomia.seal.at_rest import KeyRingCipher
from tests import pg
from tests.backends import Backend
from tests.integration.nodes import PASSPHRASE, NodeProc, make_nodes, report

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
SECRET_TEXT = "Azalea-7 launch telemetry on PostgreSQL: the distinctive plaintext"
ITEM = "report--00000000-0000-4000-8000-000000000001/2026-01-01T00:00:00.000Z"
TABLES = ("item_keys", "objects", "items", "outbox", "node_documents")


@pytest.fixture(scope="module")
def pair(
    tmp_path_factory: pytest.TempPathFactory, pg_database: str
) -> Iterator[tuple[dict[str, NodeProc], dict[str, Node]]]:
    procs = make_nodes(
        tmp_path_factory.mktemp("destruction-pg"),
        ("KOR", "USA"),
        backend=Backend("postgresql", pg_database),
    )
    nodes = {
        p: open_node(
            load_config(proc.config), clock=FixedClock(NOW), passphrase=PASSPHRASE.encode()
        )
        for p, proc in procs.items()
    }
    yield procs, nodes
    for node in nodes.values():
        node.close()


def schema_of(proc: NodeProc) -> tuple[str, str]:
    assert proc.store is not None
    database, _, schema = proc.store.rpartition("?schema=")
    return database.rsplit("/", 1)[1], schema


def read_file(con: psycopg.Connection[Any], path: str) -> bytes | None:
    """A file of the server's data directory (None: there is no such file)."""
    (data,) = con.execute(
        "SELECT pg_read_binary_file(%s::text, 0, 67108864, true)", (path,)
    ).fetchone() or (None,)
    return None if data is None else bytes(data)


def table_files(con: psycopg.Connection[Any], schema: str) -> dict[str, tuple[str, bytes]]:
    """Each table's main file (path, bytes) as the server has it on disk, every page written."""
    con.execute("CHECKPOINT")
    found = {}
    for table in TABLES:
        (path,) = con.execute(
            "SELECT pg_relation_filepath(%s)", (f"{schema}.{table}",)
        ).fetchone() or (None,)
        assert path is not None
        data = read_file(con, path)
        assert data is not None
        found[table] = (str(path), data)
    return found


def test_a_destroyed_item_leaves_no_row_and_no_key_in_any_table_file(
    pair: tuple[dict[str, NodeProc], dict[str, Node]],
) -> None:
    procs, nodes = pair
    kor, usa = nodes["KOR"], nodes["USA"]
    envelope = report(1, releasable_to=("USA",), description=SECRET_TEXT)
    kor.publish(
        next(u for u in kor.config.users if u.name == "analyst"),
        envelope["objects"],
        kor.collection_id("KOR"),
    )
    rows = [r for r in federation.due(kor, 1e12, 100) if r.item_id == ITEM]
    ready = federation.recheck(kor, rows, NOW)
    federation.receive(usa, "KOR", [o.item for o in ready], NOW)
    database, schema = schema_of(procs["USA"])
    with pg.connect(database, schema) as con:
        (wrapped,) = con.execute(
            "SELECT key FROM item_keys WHERE item_id = %s", (ITEM,)
        ).fetchone() or (None,)
        assert wrapped is not None
        item_key = KeyRingCipher(usa.keyring).open(
            bytes(wrapped), orjson.dumps(["item_keys", "key", ITEM])
        )
        with usa.store.reading() as r:
            found = r.item(ITEM)
        assert found is not None
        content_key = usa.opener.data_key(usa.verifier.verify(found[1]))
        before = table_files(con, schema)
        assert bytes(wrapped) in before["item_keys"][1]  # on disk before: the test sees it

        destruction.destroy(
            usa, next(u for u in usa.config.users if u.name == "admin"), ITEM, "no longer needed"
        )

        for table in TABLES:
            (count,) = con.execute(
                f"SELECT count(*) FROM {table} WHERE item_id = %s",
                (ITEM,),
            ).fetchone() or (None,)
            assert count == (1 if table == "node_documents" else 0), table  # the certificate
        (kept,) = con.execute(
            "SELECT count(*) FROM destroyed_items WHERE item_id = %s", (ITEM,)
        ).fetchone() or (None,)
        assert kept == 1
        after = table_files(con, schema)
        assert after["item_keys"][0] != before["item_keys"][0]  # VACUUM FULL: a new file ...
        assert read_file(con, before["item_keys"][0]) is None  # ... the old one unlinked
        for table, (path, data) in after.items():
            for name, secret in (
                ("wrapped key", bytes(wrapped)),
                ("item key", item_key),
                ("content key", content_key),
                ("plaintext", SECRET_TEXT.encode()),
            ):
                assert secret not in data, f"{name} in {table} ({path})"
