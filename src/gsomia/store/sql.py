"""What the SQL of the node store and the log store asks of a database: a connection that runs
one statement with ``?`` placeholders and gives a cursor, and the few phrases that differ
between SQLite 3.40+ and PostgreSQL 15 (a ``Dialect``).

The statements in ``sql_log`` and ``sql_node`` are written once, in the subset both databases
speak (``ON CONFLICT … DO NOTHING/UPDATE``, ``RETURNING``, ``?`` placeholders, which the
PostgreSQL adapter turns into ``%s``); a backend module supplies the connection, its tables'
DDL, its transactions, its locking and the mapping of its errors to ``StoreFailure``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class Cursor(Protocol):
    """The rows of one statement (``sqlite3.Cursor`` and ``psycopg.Cursor`` both are)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def fetchmany(self, size: int = ..., /) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """One statement at a time, in the transaction its store began."""

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor: ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]], /) -> Any: ...


@dataclass(frozen=True, slots=True)
class Dialect:
    """The phrases the shared statements take from their backend.

    ``read_nodes`` reads log leaves and interior nodes by position in one statement of fixed
    text whatever the number of keys (so both databases keep it prepared): its two parameters
    are what ``positions`` makes of a list of positions (a JSON array for SQLite's
    ``json_each``, an array for PostgreSQL's ``= ANY``). ``indexed_by`` names the index a
    constant-time probe must use where the database takes such a hint (SQLite), or nothing.
    """

    name: str
    read_nodes: str
    positions: Callable[[Sequence[int]], object]
    indexed_by: Callable[[str], str]
