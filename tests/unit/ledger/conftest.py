from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from gsomia.ledger.log import TransparencyLog, origin_of
from gsomia.ledger.note import KeyDirectory, NoteSigner
from gsomia.ledger.ports import LogStore
from gsomia.store.sqlite_log import SqliteLogStore

SEEDS = {"KOR": bytes([1]) * 32, "JPN": bytes([2]) * 32, "USA": bytes([3]) * 32}


def signer(party: str) -> NoteSigner:
    return NoteSigner(origin_of(party), SEEDS[party])


def directory(*parties: str) -> KeyDirectory:
    known = {origin_of(p): [signer(p).public_key] for p in parties}

    def lookup(name: str) -> Sequence[bytes]:
        return known.get(name, [])

    return lookup


def event(i: int, party: str = "KOR") -> dict[str, Any]:
    return {
        "v": 1,
        "type": "agreement.event",
        "at": "2019-08-23T12:00:00+09:00",
        "party": party,
        "agreement": f"a{i}",
        "event": "notice",
    }


class Node:
    def __init__(self, home: Path, party: str, store: LogStore | None = None) -> None:
        self.party = party
        self.path = home / "log.sqlite3"  # the store's file, unless a test gives another store
        self.store: LogStore = SqliteLogStore(self.path) if store is None else store
        self.log = TransparencyLog(self.store, origin_of(party))
        self.signer = signer(party)

    def append(self, count: int) -> None:
        start = self.log.size()
        self.log.append([event(start + i, self.party) for i in range(count)])


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[dict[str, Node]]:
    made = {p: Node(tmp_path / p, p) for p in SEEDS}
    yield made
    for node in made.values():
        node.store.close()
