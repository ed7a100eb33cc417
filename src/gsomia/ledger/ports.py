"""The storage port of the transparency log. ``gsomia.store.sqlite_log`` implements it.

A store keeps five things: the entries with their leaf hashes, the interior perfect-subtree
hashes, the log's own signed checkpoints, the checkpoints of other logs this node co-signed
(with the consistency proof it checked), and split-view evidence. Writes happen inside
``writing()``, which holds the single writer lock for the whole block and makes the block
durable before it returns; an exception inside the block leaves nothing behind. Reads inside
``reading()`` see one consistent snapshot.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from gsomia.ledger.tree import NodeKey


@dataclass(frozen=True)
class StoredCheckpoint:
    """A checkpoint as stored: its row id, the indexed size and root, and the signed note."""

    id: int
    size: int
    root: bytes
    note: bytes


@dataclass(frozen=True)
class WitnessedCheckpoint:
    """Another log's checkpoint that this node co-signed, with the proof it checked."""

    id: int
    origin: str
    size: int
    root: bytes
    note: bytes
    proof_from: int
    proof: tuple[bytes, ...]


@dataclass(frozen=True)
class SplitView:
    """Two checkpoints of one origin at one size with different roots, both validly signed."""

    id: int
    origin: str
    size: int
    first: bytes
    second: bytes


class LogReader(Protocol):
    def size(self) -> int:
        """The number of stored entries."""
        ...

    def nodes(self, keys: Sequence[NodeKey]) -> list[bytes]:
        """Stored perfect-subtree hashes, in the order asked; StoreFailure names a missing one."""
        ...

    def entry(self, index: int) -> bytes: ...

    def iter_entries(self) -> Iterator[tuple[int, bytes, bytes]]:
        """(index, stored leaf hash, entry bytes), in index order."""
        ...

    def iter_interior(self) -> Iterator[tuple[NodeKey, bytes]]:
        """Every stored interior node, ordered by its in-order position in the tree."""
        ...

    def checkpoints(self) -> list[StoredCheckpoint]: ...

    def latest_checkpoint(self) -> StoredCheckpoint | None: ...

    def checkpoint_at(self, size: int) -> StoredCheckpoint | None: ...

    def witnessed(self, origin: str | None = None) -> list[WitnessedCheckpoint]:
        """Co-signed checkpoints (of one origin, or all), oldest first."""
        ...

    def split_views(self) -> list[SplitView]: ...


class LogWriter(LogReader, Protocol):
    def append(
        self,
        start: int,
        leaves: Sequence[tuple[bytes, bytes]],
        nodes: Sequence[tuple[NodeKey, bytes]],
    ) -> None:
        """Store entries ``start``.. as (leaf hash, bytes) and the interior nodes they complete."""
        ...

    def add_checkpoint(self, size: int, root: bytes, note: bytes) -> int: ...

    def replace_checkpoint_note(self, checkpoint_id: int, note: bytes) -> None: ...

    def add_witnessed(
        self,
        origin: str,
        size: int,
        root: bytes,
        note: bytes,
        *,
        proof_from: int,
        proof: Sequence[bytes],
    ) -> int: ...

    def add_split_view(self, origin: str, size: int, first: bytes, second: bytes) -> int: ...


class LogStore(Protocol):
    def reading(self) -> AbstractContextManager[LogReader]: ...

    def writing(self) -> AbstractContextManager[LogWriter]: ...

    def close(self) -> None: ...
