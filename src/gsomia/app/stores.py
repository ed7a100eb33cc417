"""Opening a node's store by URL: the one place that names a storage backend.

A node's config may say where its store is (``store = "…"``); without it the store is the
``node.sqlite3`` file in the node's data directory. The schemes known:

- ``sqlite:///PATH`` — a SQLite file. ``PATH`` is what follows the three slashes: relative
  (``sqlite:///node.sqlite3``) it is taken in the node's data directory; absolute
  (``sqlite:////var/lib/gsomia/kor.sqlite3``, a fourth slash) it is used as it is.

This version of gsomia knows SQLite only; any other scheme is refused, naming the config key.
The node's use cases, the API and the console see the store through ``gsomia.store.ports``.
"""

from __future__ import annotations

from pathlib import Path

from gsomia.errors import BadInput
from gsomia.ledger.ports import LogStore
from gsomia.store.ports import AtRestCipher, NodeStore
from gsomia.store.sqlite_log import SqliteLogStore
from gsomia.store.sqlite_node import SqliteNodeStore

DB_NAME = "node.sqlite3"
SQLITE = "sqlite:///"
KNOWN = "sqlite:///PATH (relative to the data directory) or sqlite:////ABSOLUTE/PATH"


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
            f"it knows SQLite only: {KNOWN}"
        )
    path = url.removeprefix(SQLITE)
    if not path or "?" in path or "#" in path:
        raise BadInput(
            f"{where}: {url!r}: expected a file path after {SQLITE!r} (no options): {KNOWN}"
        )
    file = Path(path)
    return file if file.is_absolute() else data_dir / file


def open_store(
    url: str | None, *, data_dir: Path, cipher: AtRestCipher, where: str = "store"
) -> NodeStore:
    """Open (or create) the node store ``url`` names, its content sealed with ``cipher``."""
    return SqliteNodeStore(sqlite_path(url, data_dir, where=where), cipher=cipher)


def open_log_reader(url: str | None, *, data_dir: Path, where: str, party: str) -> LogStore:
    """The log in an existing node store, opened for reading only (the node may be running
    and writing it); BadInput if there is no store there."""
    path = sqlite_path(url, data_dir, where=where)
    if not path.is_file():
        raise BadInput(f"node {party}: no store at {path}: has the node ever run?")
    return SqliteLogStore(path, read_only=True)
