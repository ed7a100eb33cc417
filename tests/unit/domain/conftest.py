from __future__ import annotations

from datetime import datetime

import pytest

from gsomia.domain.labels import Label
from gsomia.domain.scenario import Scenario
from gsomia.scenarios import load_scenario


@pytest.fixture(scope="session")
def historical() -> Scenario:
    return load_scenario("historical")


@pytest.fixture(scope="session")
def lapse() -> Scenario:
    return load_scenario("lapse-2019")


def t(text: str) -> datetime:
    return datetime.fromisoformat(text)


def label(
    originator: str = "KOR",
    classification: str = "II",
    releasable_to: tuple[str, ...] = ("JPN", "USA"),
    topics: tuple[str, ...] = ("dprk.missile",),
    item: str = "item-1",
) -> Label:
    return Label(
        item, originator, classification, tuple(sorted(releasable_to)), tuple(sorted(topics))
    )
