"""The node stores the suites run on: a SQLite file in the node's data directory (the default),
and PostgreSQL at 127.0.0.1:5432 (trust auth, user ``postgres``), where each test session gets a
fresh database and each node a fresh schema in it.

The fixtures are in ``tests/conftest.py``: a suite that asks for ``backend`` runs once per
backend (ids ``sqlite`` and ``postgresql``). A server that is down fails those tests with a
message that names it and the command that starts it; it never skips them.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest

HOST = "127.0.0.1"
PORT = 5432
SERVER = f"PostgreSQL at {HOST}:{PORT}"
START = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
RESTART = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main restart"
USER = "postgres"


def conninfo(database: str = "postgres") -> str:
    return f"host={HOST} port={PORT} user={USER} dbname={database} connect_timeout=5"


def admin(database: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
    """A connection (autocommit) to the server as its superuser; the test fails, naming the
    server and how to start it, if the server does not answer."""
    try:
        return psycopg.connect(conninfo(database), autocommit=True)
    except psycopg.OperationalError as e:
        pytest.fail(
            f"{SERVER} is not running or refuses connections ({str(e).strip()}): "
            f"start it with `{START}`",
            pytrace=False,
        )


def fresh_database() -> str:
    """A new, empty database for this test session; its name."""
    name = f"gsomia_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with admin() as con:
        con.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_database(name: str) -> None:
    """Drop a session's database, closing what nodes left connected to it."""
    with admin() as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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
        schema = f"{party.lower()}_{uuid.uuid4().hex[:12]}"
        return f"postgresql://{USER}@{HOST}:{PORT}/{self.database}?schema={schema}"


SQLITE = Backend("sqlite")


def schema_of(url: str) -> tuple[str, str]:
    """(database, schema) a PostgreSQL store URL names."""
    parts = urlsplit(url)
    [schema] = parse_qs(parts.query)["schema"]
    return parts.path.removeprefix("/"), schema


def connect_store(url: str) -> psycopg.Connection[tuple[object, ...]]:
    """A read-only connection to the schema of a PostgreSQL store URL, beside the node."""
    database, schema = schema_of(url)
    con = admin(database)
    con.execute("SET default_transaction_read_only = on")
    con.execute("SELECT set_config('search_path', %s, false)", (schema,))
    return con
