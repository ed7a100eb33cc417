"""Fixtures every suite may use: the real PostgreSQL (``tests.pg``)."""

from tests.pg import pg_database, pg_schema

__all__ = ["pg_database", "pg_schema"]
