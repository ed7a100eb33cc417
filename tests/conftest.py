"""Fixtures every suite may ask for: the node store backends (``tests/backends.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.backends import SQLITE, Backend, drop_database, fresh_database

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """The session's fresh PostgreSQL database, made the first time a test asks for it."""
    name = fresh_database()
    try:
        yield name
    finally:
        drop_database(name)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> Backend:
    """The store backend a suite's nodes run on: it runs once per backend (module scope, so a
    module's shared nodes are started once per backend, not once per test)."""
    if request.param == "sqlite":
        return SQLITE
    return Backend("postgresql", request.getfixturevalue("pg_database"))
