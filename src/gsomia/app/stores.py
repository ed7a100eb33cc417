"""Opening a node's store by URL: the one place that names a storage backend.

A node's config may say where its store is (``store = "…"``); without it the store is the
``node.sqlite3`` file in the node's data directory. The schemes known:

- ``sqlite:///PATH`` — a SQLite file. ``PATH`` is what follows the three slashes: relative
  (``sqlite:///node.sqlite3``) it is taken in the node's data directory; absolute
  (``sqlite:////var/lib/gsomia/kor.sqlite3``, a fourth slash) it is used as it is.
- ``postgresql://[user[:password]@]host[:port]/dbname[?schema=NAME]`` (or ``postgres://``) — a
  schema of a PostgreSQL database (default ``gsomia``), made if absent. The other query options
  taken are libpq's connection settings in ``PG_OPTIONS`` (TLS, timeouts); any other is refused.
  A password is better kept out of the URL (``~/.pgpass`` or ``PGPASSWORD``); no message
  names it.

Any other scheme is refused, naming the config key. The node's use cases, the API and the
console see the store through ``gsomia.store.ports``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from gsomia.errors import BadInput
from gsomia.ledger.ports import LogStore
from gsomia.store.ports import AtRestCipher, NodeStore
from gsomia.store.postgres_log import SCHEMA_NAME
from gsomia.store.postgres_node import PostgresNodeStore, open_postgres_log
from gsomia.store.sqlite_log import SqliteLogStore
from gsomia.store.sqlite_node import SqliteNodeStore

DB_NAME = "node.sqlite3"
SQLITE = "sqlite:///"
POSTGRES_SCHEMES = ("postgresql", "postgres")
DEFAULT_SCHEMA = "gsomia"
PG_OPTIONS = frozenset(
    {
        "application_name",
        "connect_timeout",
        "passfile",
        "sslcert",
        "sslkey",
        "sslmode",
        "sslrootcert",
        "target_session_attrs",
    }
)
KNOWN = (
    "sqlite:///PATH (relative to the data directory), sqlite:////ABSOLUTE/PATH or "
    "postgresql://[USER@]HOST[:PORT]/DBNAME[?schema=NAME]"
)


@dataclass(frozen=True, slots=True)
class PostgresTarget:
    """A PostgreSQL store: what psycopg connects with (``schema`` taken out), and the schema."""

    conninfo: str
    schema: str


def store_target(url: str | None, data_dir: Path, *, where: str) -> Path | PostgresTarget:
    """The SQLite file or the PostgreSQL schema a store URL names (``None``: the default file
    in ``data_dir``); BadInput naming ``where`` (the config key) for anything else."""
    if url is None:
        return data_dir / DB_NAME
    scheme, sep, _ = url.partition("://")
    if sep and scheme in POSTGRES_SCHEMES:
        return postgres_target(url, where=where)
    return sqlite_path(url, data_dir, where=where)


def sqlite_path(url: str | None, data_dir: Path, *, where: str) -> Path:
    """The SQLite file a store URL names (``None``: the default file in ``data_dir``);
    BadInput naming ``where`` (the config key) for any other scheme or a malformed URL."""
    if url is None:
        return data_dir / DB_NAME
    scheme, sep, _ = url.partition("://")
    if scheme == "sqlite" and sep and not url.startswith(SQLITE):
        raise BadInput(f"{where}: {url!r}: a SQLite store has no host: {KNOWN}")
    if not sep or scheme != "sqlite":
        named = f"scheme {scheme!r}" if sep else f"{url!r}, which has no scheme,"
        raise BadInput(
            f"{where}: {named} is not a store this version of gsomia can open; "
            f"it knows SQLite and PostgreSQL: {KNOWN}"
        )
    path = url.removeprefix(SQLITE)
    if not path or "?" in path or "#" in path:
        raise BadInput(
            f"{where}: {url!r}: expected a file path after {SQLITE!r} (no options): {KNOWN}"
        )
    file = Path(path)
    return file if file.is_absolute() else data_dir / file


def postgres_target(url: str, *, where: str) -> PostgresTarget:
    """The conninfo and schema of a ``postgresql://`` URL; BadInput naming ``where`` for an
    unknown option, a bad schema name or no database. Messages never repeat the URL (it may
    hold a password)."""
    try:
        parts = urlsplit(url)
        options = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
        for host in parts.netloc.rpartition("@")[2].split(","):  # libpq: several hosts, in turn
            _ = urlsplit(f"//{host}").port  # a port that is not a number raises here
    except ValueError as exc:
        raise BadInput(f"{where}: not a valid PostgreSQL URL ({exc}): {KNOWN}") from None
    if parts.fragment:
        raise BadInput(f"{where}: a PostgreSQL URL has no #fragment: {KNOWN}")
    if not parts.path.strip("/"):
        raise BadInput(f"{where}: the PostgreSQL URL names no database: {KNOWN}")
    schemas = [value for key, value in options if key == "schema"]
    unknown = sorted({key for key, _ in options if key != "schema" and key not in PG_OPTIONS})
    if unknown:
        raise BadInput(
            f"{where}: unknown option(s) {', '.join(map(repr, unknown))} in the PostgreSQL URL; "
            f"known: schema, {', '.join(sorted(PG_OPTIONS))}"
        )
    if len(schemas) > 1:
        raise BadInput(f"{where}: the PostgreSQL URL names the schema more than once")
    schema = schemas[0] if schemas else DEFAULT_SCHEMA
    if not SCHEMA_NAME.fullmatch(schema):
        raise BadInput(
            f"{where}: schema {schema!r}: expected a lower-case name of letters, digits and _ "
            "(at most 63), not starting with a digit"
        )
    rest = urlencode([(key, value) for key, value in options if key != "schema"])
    conninfo = urlunsplit(("postgresql", parts.netloc, parts.path, rest, ""))
    return PostgresTarget(conninfo, schema)


def in_schema(url: str, schema: str, *, where: str) -> str:
    """The PostgreSQL store URL ``url`` with its schema set to ``schema`` (for a set of nodes
    in one database, each in its own schema); BadInput naming ``where`` for any other URL or
    one that names a schema already."""
    scheme, sep, _ = url.partition("://")
    if not sep or scheme not in POSTGRES_SCHEMES:
        raise BadInput(f"{where}: expected a postgresql://HOST[:PORT]/DBNAME URL")
    postgres_target(url, where=where)  # otherwise valid
    parts = urlsplit(url)
    if any(key == "schema" for key, _ in parse_qsl(parts.query, keep_blank_values=True)):
        raise BadInput(f"{where}: leave the schema out: each node is given its own")
    query = "&".join(q for q in (parts.query, urlencode({"schema": schema})) if q)
    named = urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
    postgres_target(named, where=where)  # a valid schema name
    return named


def open_store(
    url: str | None,
    *,
    data_dir: Path,
    cipher: AtRestCipher,
    where: str = "store",
    migrate: bool = False,
) -> NodeStore:
    """Open (or create) the node store ``url`` names, its content sealed with ``cipher``; an
    older schema is refused (``SchemaBehind``) unless ``migrate``."""
    return _open(url, data_dir=data_dir, cipher=cipher, where=where, migrate=migrate)


def migrate_store(
    url: str | None, *, data_dir: Path, cipher: AtRestCipher, where: str = "store"
) -> tuple[int, int] | None:
    """Bring the store ``url`` names to this code's schema, in one transaction: (from, to), or
    None when it was up to date (a new store is made at the current schema)."""
    store = _open(url, data_dir=data_dir, cipher=cipher, where=where, migrate=True)
    store.close()
    return store.migrated


def _open(
    url: str | None, *, data_dir: Path, cipher: AtRestCipher, where: str, migrate: bool
) -> SqliteNodeStore | PostgresNodeStore:
    target = store_target(url, data_dir, where=where)
    if isinstance(target, PostgresTarget):
        return PostgresNodeStore(
            target.conninfo, schema=target.schema, cipher=cipher, migrate=migrate
        )
    return SqliteNodeStore(target, cipher=cipher, migrate=migrate)


def open_log_reader(url: str | None, *, data_dir: Path, where: str, party: str) -> LogStore:
    """The log in an existing node store, opened for reading only (the node may be running
    and writing it); BadInput if there is no store there."""
    target = store_target(url, data_dir, where=where)
    if isinstance(target, PostgresTarget):
        return open_postgres_log(target.conninfo, schema=target.schema, party=party)
    if not target.is_file():
        raise BadInput(f"node {party}: no store at {target}: has the node ever run?")
    return SqliteLogStore(target, read_only=True)
