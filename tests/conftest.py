"""Fixtures every suite may use: the real PostgreSQL (``tests.pg``), and the node store backends
a suite runs on (``tests.backends``)."""

from __future__ import annotations

import pytest

from tests.backends import SQLITE, Backend
from tests.pg import pg_database, pg_schema

__all__ = ["backend", "pg_database", "pg_schema"]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> Backend:
    """The store backend a suite's nodes run on: it runs once per backend (module scope, so a
    module's shared nodes are started once per backend, not once per test). The session's
    database is made the first time a test asks for PostgreSQL."""
    if request.param == "sqlite":
        return SQLITE
    return Backend("postgresql", request.getfixturevalue("pg_database"))
