"""Fixtures for the sealing tests: three parties' homes that trust each other's keys."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gsomia.domain.scenario import Scenario
from gsomia.scenarios import load_scenario
from gsomia.seal.keys import KeyRing, init_keys

PARTIES = ("KOR", "JPN", "USA")
AT = datetime(2024, 1, 10, 9, 0, tzinfo=UTC)

Rings = dict[str, KeyRing]


def make_rings(base: Path, parties: tuple[str, ...] = PARTIES) -> Rings:
    rings = {p: init_keys(base / p, p, passphrase=None, insecure=True) for p in parties}
    for p, ring in rings.items():
        for q, other in rings.items():
            if p != q:
                ring.import_peer(other.export_document(), where=f"{q}.pub")
    return rings


def exchange(rings: Rings) -> None:
    """Re-import every party's current public keys everywhere (after a rotation)."""
    for p, ring in rings.items():
        for q, other in rings.items():
            if p != q:
                ring.import_peer(other.export_document(), where=f"{q}.pub")


@pytest.fixture
def rings(tmp_path: Path) -> Rings:
    return make_rings(tmp_path)


@pytest.fixture(scope="session")
def scenario() -> Scenario:
    return load_scenario("historical")


def label_doc(
    originator: str,
    *,
    item: str = "report-1",
    releasable_to: tuple[str, ...] = PARTIES,
    topics: tuple[str, ...] = ("dprk.missile",),
    classification: str | None = None,
) -> dict[str, object]:
    level = classification or {"KOR": "II", "JPN": "GOKUHI", "USA": "SECRET"}[originator]
    return {
        "id": item,
        "originator": originator,
        "classification": level,
        "releasable_to": [p for p in releasable_to if p != originator],
        "topics": list(topics),
    }


AuditSink = Callable[[dict[str, object]], None]
