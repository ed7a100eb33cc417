"""The real PostgreSQL for tests: a fresh database per test session, a fresh schema per test.

The server is the one at 127.0.0.1:5432 (trust auth, user ``postgres``), which CI's machine
starts before the run. If it is not there, the tests that need it fail — never skip — with a
message naming it and the command that starts it. ``fresh_database`` is a plain function as
well as the ``pg_database`` fixture's body, for suites that make their own (subprocesses, other
fixtures' scopes).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from psycopg import sql

HOST = "127.0.0.1"
PORT = 5432
USER = "postgres"
START = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"


def unreachable(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return (
        f"PostgreSQL at {HOST}:{PORT} is not reachable ({first}); the tests of the PostgreSQL "
        f"store need it: start it with `{START}`"
    )


def conninfo(dbname: str) -> str:
    return f"host={HOST} port={PORT} user={USER} dbname={dbname}"


def url(dbname: str, schema: str | None = None) -> str:
    """The ``store`` URL of a node config for ``dbname`` (and ``schema``)."""
    base = f"postgresql://{USER}@{HOST}:{PORT}/{dbname}"
    return base if schema is None else f"{base}?schema={schema}"


@contextmanager
def admin() -> Iterator[psycopg.Connection[Any]]:
    """A connection to the server's ``postgres`` database (autocommit); pytest.fail if none."""
    try:
        con = psycopg.connect(conninfo("postgres"), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(unreachable(exc), pytrace=False)
    try:
        yield con
    finally:
        con.close()


def create_database() -> str:
    """A new, empty database ``gsomia_t_<random>``; its name."""
    name = f"gsomia_t_{secrets.token_hex(6)}"
    with admin() as con:
        con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def drop_database(name: str) -> None:
    """Drop ``name``, ending any session still connected to it."""
    with admin() as con:
        con.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def fresh_database() -> Iterator[str]:
    """A database made for the block and dropped after it; its name."""
    name = create_database()
    try:
        yield name
    finally:
        drop_database(name)


def fresh_schema() -> str:
    """A schema name no test has used (the store makes the schema itself)."""
    return f"t_{secrets.token_hex(6)}"


def connect(dbname: str, schema: str) -> psycopg.Connection[Any]:
    """A connection of a test's own to ``schema`` (autocommit), to look or tamper behind the
    store's back."""
    con = psycopg.connect(conninfo(dbname), autocommit=True, connect_timeout=5)
    con.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
    return con


def terminate(dbname: str) -> int:
    """End every session connected to ``dbname`` (as a server restart does); how many."""
    with admin() as con:
        rows = con.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (dbname,),
        ).fetchall()
    return len(rows)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh database for this test session, dropped at its end."""
    with fresh_database() as name:
        yield name


@pytest.fixture
def pg_schema(pg_database: str) -> Iterator[str]:
    """A fresh schema name in the session's database, dropped after the test."""
    schema = fresh_schema()
    yield schema
    with connect(pg_database, schema) as con:
        con.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
