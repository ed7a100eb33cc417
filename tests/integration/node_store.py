"""What a running node has committed, read beside it from its store (read-only): its SQLite
file, or its schema on PostgreSQL (the same tables).

Absence at a peer is proved from committed state, never by sleeping: an item travels only
through an outbox row queued in the same transaction as the decision that allows it (and the
decision, allow or deny, is in the same transaction's log entries). So "the log holds the
denial and the outbox holds no row for that peer" proves the item will never be sent; and
since the outbox sends to each peer in order, a later item arriving there proves the earlier
rows for that peer are done.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from tests.backends import connect_store

from .nodes import NodeProc

#: Queues a node drains in the background (releases; consents, reports, notices).
QUEUES = ("outbox", "peer_messages")


def store_of(node: NodeProc) -> Path:
    return node.data / "node.sqlite3"


def query(node: NodeProc, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
    """The rows of one read-only query (``?`` placeholders) of the node's store."""
    if node.store is not None and node.store.startswith("postgresql://"):
        with connect_store(node.store) as pg:
            return list(pg.execute(sql.replace("?", "%s"), params))
    con = sqlite3.connect(f"file:{store_of(node)}?mode=ro", uri=True)
    try:
        return list(con.execute(sql, params))
    finally:
        con.close()


def logged(node: NodeProc, kind: str, **fields: str) -> list[dict[str, Any]]:
    """The node's log entries of type ``kind`` whose fields include ``fields``."""
    docs = [orjson.loads(bytes(row[0])) for row in query(node, "SELECT data FROM entries")]
    return [
        d for d in docs if d.get("type") == kind and all(d.get(k) == v for k, v in fields.items())
    ]


def outbox_states(node: NodeProc, item: str) -> dict[str, str]:
    """Recipient -> state of the node's outbox rows releasing ``item``."""
    rows = query(node, "SELECT recipient, state FROM outbox WHERE item_id = ?", (item,))
    return {str(recipient): str(state) for recipient, state in rows}


def assert_denied_and_never_queued(node: NodeProc, item: str, recipient: str) -> None:
    """``node`` decided not to release ``item`` to ``recipient`` (the denial is in its log)
    and queued nothing that could carry it there."""
    denials = logged(node, "release.decision", item=item, recipient=recipient, decision="deny")
    assert denials, f"no logged denial of {item} to {recipient} at {node.party}"
    assert recipient not in outbox_states(node, item), outbox_states(node, item)


def drained(stores: Iterable[Path]) -> bool:
    """Whether no node (by its store file) has a pending row in a background queue: every write
    a delivery makes, at either end, is committed by the time its row is no longer pending."""
    for path in stores:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            for table in QUEUES:
                sql = f"SELECT COUNT(*) FROM {table} WHERE state = 'pending'"
                if con.execute(sql).fetchone()[0]:
                    return False
        finally:
            con.close()
    return True
