"""Track data the track tests share: ids, labels, updates, the in-process nodes they run on
and an outlet that collects the runs a node queues for its peers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gsomia.app.boot import load_config, open_node
from gsomia.clock import FixedClock
from gsomia.node.config import User
from gsomia.node.service import Node
from gsomia.node.tracks import Run
from tests.integration.nodes import PASSPHRASE, make_nodes

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def new_track() -> str:
    return f"track--{uuid.uuid4()}"


def open_nodes(root: Path, scenario: str) -> dict[str, Node]:
    """The three parties' nodes under ``root``, opened in process, both clocks fixed at NOW."""
    procs = make_nodes(root, scenario=scenario)
    out = {}
    for party, proc in procs.items():
        node = open_node(
            load_config(proc.config), clock=FixedClock(NOW), passphrase=PASSPHRASE.encode()
        )
        node.wall = FixedClock(NOW)
        out[party] = node
    return out


def user(node: Node, name: str = "analyst") -> User:
    return next(u for u in node.config.users if u.name == name)


def label_doc(track: str) -> dict[str, Any]:
    """KOR's label of ``track``, releasable to JPN and USA, under the standing consent."""
    return {
        "id": track,
        "originator": "KOR",
        "classification": "II",
        "releasable_to": ["JPN", "USA"],
        "topics": ["dprk.missile.warning"],
        "purposes": ["defense.warning"],
    }


def update_doc(
    track: str, seq: int, *, at: str = "2026-03-01T09:00:00Z", lat: float = 39.0
) -> dict[str, Any]:
    """KOR's update ``seq`` of ``track`` from ``kor-radar-1``, stated at ``at``, at ``lat``."""
    return {
        "track": track,
        "seq": seq,
        "at": at,
        "party": "KOR",
        "sensor": "kor-radar-1",
        "position": {"lat": lat, "lon": 125.5, "alt_km": float(seq)},
        "velocity": {"east": 1.0, "north": 0.5, "up": 2.0},
        "phase": "boost",
        "launch": {"lat": 39.0, "lon": 125.5, "alt_km": 0.0},
        "impact": {
            "lat": 40.0,
            "lon": 134.0,
            "semi_major_km": 50.0,
            "semi_minor_km": 20.0,
            "orientation_deg": 90.0,
        },
        "synthesized": True,
    }


class Collect:
    """An outlet that keeps the runs a node queues for its peers."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, Run]] = []

    def queue(self, peer: str, run: Run) -> None:
        self.runs.append((peer, run))
