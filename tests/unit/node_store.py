"""A real node store in a temporary SQLite file, for unit tests of what keeps state in it
(sessions, sign-in throttling): ``store`` fixture, one fresh file per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gsomia.seal.at_rest import KeyRingCipher
from gsomia.seal.keys import KeyRing, init_keys
from gsomia.store.sqlite_node import SqliteNodeStore


@pytest.fixture(scope="module")
def ring(tmp_path_factory: pytest.TempPathFactory) -> KeyRing:
    return init_keys(tmp_path_factory.mktemp("jpn"), "JPN", passphrase=None, insecure=True)


@pytest.fixture
def store(tmp_path: Path, ring: KeyRing) -> Iterator[SqliteNodeStore]:
    with SqliteNodeStore(tmp_path / "node.sqlite3", cipher=KeyRingCipher(ring)) as s:
        yield s


def reopen(store: SqliteNodeStore, ring: KeyRing) -> SqliteNodeStore:
    """The same file opened anew, as a restarted node opens it (``store`` is closed)."""
    store.close()
    return SqliteNodeStore(store.path, cipher=KeyRingCipher(ring))
