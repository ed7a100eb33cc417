"""Fixtures: a real node store in a temporary file (``store``) and its key ring (``ring``)."""

from tests.unit.node_store import ring, store

__all__ = ["ring", "store"]
