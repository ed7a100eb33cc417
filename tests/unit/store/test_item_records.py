"""What an inventory and a reconciliation read of the node store, on both backends: every item
row (of one originator), a row whose sealed bytes are gone, and the releases queued to a peer
with their states."""

from __future__ import annotations

from gsomia.store.ports import ItemRecord
from tests.unit.node_store import Store, ring, store

__all__ = ["ring", "store"]


def test_item_rows_in_the_order_they_came(store: Store) -> None:
    with store.writing() as w:
        w.add_item("i/2", "indicator--2", "KOR", b"sealed-2", "USA", "2026-01-02T00:00:00.000Z")
        w.add_item("i/1", "indicator--1", "JPN", b"sealed-1", None, "2026-01-01T00:00:00.000Z")
        w.add_item("i/3", "indicator--3", "KOR", b"sealed-3", "KOR", "2026-01-03T00:00:00.000Z")
    with store.writing() as w:
        w.replace_item("i/3", b"")  # its bytes gone, as a destruction leaves it
    with store.reading() as r:
        assert r.held_items() == [
            ItemRecord("i/1", "JPN", None, "2026-01-01T00:00:00.000Z", b"sealed-1"),
            ItemRecord("i/2", "KOR", "USA", "2026-01-02T00:00:00.000Z", b"sealed-2"),
            ItemRecord("i/3", "KOR", "KOR", "2026-01-03T00:00:00.000Z", None),
        ]
        assert [i.item_id for i in r.held_items("KOR")] == ["i/2", "i/3"]
        assert r.held_items("USA") == []


def test_releases_to_a_peer_with_their_states(store: Store) -> None:
    with store.writing() as w:
        for item in ("i/1", "i/2", "i/3"):
            w.queue(item, "USA", "2026-01-01T00:00:00Z")
        w.queue("i/1", "JPN", "2026-01-01T00:00:00Z")
    with store.reading() as r:
        rows = r.due(1e12)
    with store.writing() as w:
        w.outbox_done(rows[0].id, "sent")
        w.outbox_done(rows[1].id, "refused", "no longer allowed")
    with store.reading() as r:
        assert r.releases_to("USA") == [("i/1", "sent"), ("i/2", "refused"), ("i/3", "pending")]
        assert r.releases_to("JPN") == [("i/1", "pending")]
        assert r.releases_to("KOR") == []
