"""The node stores the suites run on: a SQLite file in the node's data directory (the default),
and PostgreSQL at 127.0.0.1:5432 (``tests.pg``: a fresh database per test session), each node
in a fresh schema of it.

The ``backend`` fixture is in ``tests/conftest.py``: a suite that asks for it runs once per
backend (ids ``sqlite`` and ``postgresql``). A server that is down fails the PostgreSQL runs with
a message that names it and the command that starts it; it never skips them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import psycopg

from tests import pg


@dataclass(frozen=True)
class Backend:
    """Where the nodes of one test keep their stores."""

    name: Literal["sqlite", "postgresql"]
    database: str | None = None  # PostgreSQL: the session's database

    def store_url(self, party: str) -> str | None:
        """A store URL for a new node of ``party``: a fresh schema on PostgreSQL; on SQLite
        None (the node's config names no store: the default file in its data directory)."""
        if self.database is None:
            return None
        return pg.url(self.database, f"{party.lower()}_{secrets.token_hex(6)}")


SQLITE = Backend("sqlite")


def connect_store(url: str) -> psycopg.Connection[Any]:
    """A read-only connection to the schema a PostgreSQL store URL names, beside its node."""
    parts = urlsplit(url)
    [schema] = parse_qs(parts.query)["schema"]
    con = pg.connect(parts.path.removeprefix("/"), schema)
    con.execute("SET default_transaction_read_only = on")
    return con
