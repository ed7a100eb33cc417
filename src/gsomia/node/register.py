"""The register a node keeps (DOMAIN.md §7.3, Art. 6(e)): its users with their clearance,
need-to-know and purposes, and the record of every access to an item's content — proven
unaltered by its Merkle root, logged on the checkpoint schedule.

Reads record through ``record_rows`` / ``record_item`` (``gsomia.node.accesses`` writes them,
group-committed). ``log_root`` appends a ``register.root`` entry {size, root} to the node's
transparency log when records were added since the last one: the RFC 9162 tree head over the
canonical bytes of records 1…size, in seq order. Its peaks are kept in ``node_meta`` (key
``register``) so that the next root folds in only the new records. ``verify`` recomputes the
tree from every record and compares it with every logged root: a record altered, removed or
reordered after a root was logged fails it (``VerificationFailed``), naming the records that
differ as closely as the logged roots allow.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

import orjson

from gsomia.domain.instants import format_instant
from gsomia.errors import BadInput, StoreFailure, VerificationFailed
from gsomia.ledger.entries import decode_entry
from gsomia.ledger.hashing import hash_leaf
from gsomia.ledger.tree import Frontier
from gsomia.node.accesses import ROUTES, canonical_record, label_purposes, recorded_purpose
from gsomia.node.config import User
from gsomia.node.holdings import (
    hidden_ids,
    item_details,
    require_admin,
    split_item_id,
    visible_item,
)
from gsomia.node.results import ItemDetails
from gsomia.node.service import Node
from gsomia.seal.views import VerifiedItem
from gsomia.store.ports import AccessRow, NewAccess, ObjectRow

ROOT_ENTRY: Final = "register.root"
BATCH = 5000  # records read at a time
MAX_HISTORY = 1000  # records of one item shown (the latest)
_STATE_VERSION = 1


HIDDEN_ITEM = "(an item you may not see)"  # what an admin is shown of a hidden item


# ------------------------------------------------------------------ recording
def _wall_ms(node: Node) -> int:
    return int(node.wall.now().timestamp() * 1000)


def record_rows(node: Node, user: User, rows: Sequence[ObjectRow], route: str) -> None:
    """Record ``user``'s access to the items among ``rows`` (served to them by ``route``);
    returns once the records are committed. Rows that are not items (label markings, public
    definitions) record nothing."""
    items = [row for row in rows if row.item_id is not None]
    if not items:
        return
    _check_route(route)
    cache: dict[tuple[str, str], tuple[str, ...]] = {}
    with node.store.reading() as r:
        # what each item is provided for here (DOMAIN.md §7.1: a received item's purposes as
        # received, widened by approvals); the label's for the node's own items
        purposes = [node.provided_here(row) or label_purposes(r, row, cache) for row in items]
    at = format_instant(node.clock.now())
    wall = _wall_ms(node)
    mine = user.clearance.purposes
    node.accesses.record(
        [
            NewAccess(str(row.item_id), user.name, recorded_purpose(mine, p), route, at, wall)
            for row, p in zip(items, purposes, strict=True)
        ]
    )


def record_item(
    node: Node, user: User, item_id: str, item_purposes: Sequence[str], route: str
) -> None:
    """Record ``user``'s access to one item found for them (``visible_item``), whose label
    names ``item_purposes``."""
    _check_route(route)
    purpose = recorded_purpose(user.clearance.purposes, item_purposes)
    access = NewAccess(
        item_id, user.name, purpose, route, format_instant(node.clock.now()), _wall_ms(node)
    )
    node.accesses.record([access])


def read_item(node: Node, user: User, item_id: str, route: str) -> ItemDetails:
    """``item_details`` for ``user``, their access recorded (``route``: api, console) before
    it is answered; a hidden or missing item records nothing."""
    details = item_details(node, user, item_id)
    record_item(node, user, item_id, _provided(node, item_id, details.verified), route)
    return details


def _provided(node: Node, item_id: str, verified: VerifiedItem) -> tuple[str, ...]:
    """What ``item_id`` is provided for here (DOMAIN.md §7.1: as received, widened by the
    approvals in force); its label's purposes for the node's own items."""
    stix_id, version = split_item_id(item_id)
    with node.store.reading() as r:
        origin = r.item_origin(item_id)
        scope = (
            None
            if origin is None
            else r.object_scope(node.collection_id(origin[0]), stix_id, version)
        )
    here = None if scope is None else node.provided_here(scope)
    return here or verified.label.purposes


def _check_route(route: str) -> None:
    if route not in ROUTES:
        raise BadInput(f"route: {route!r} is not one of {', '.join(ROUTES)}")


# ------------------------------------------------------------------ what admins see
@dataclass(frozen=True, slots=True)
class AccessView:
    """One recorded access as an admin sees it."""

    seq: int
    item: str
    user: str
    at: str
    purpose: str
    route: str

    @classmethod
    def of(cls, row: AccessRow) -> AccessView:
        return cls(row.seq, row.item_id, row.user, row.at, row.purpose, row.route)

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "item": self.item,
            "user": self.user,
            "at": self.at,
            "purpose": self.purpose,
            "route": self.route,
        }


def item_accesses(node: Node, user: User, item_id: str) -> list[AccessView]:
    """The recorded accesses to ``item_id`` (the latest ``MAX_HISTORY``, oldest first), for an
    admin who may see the item; an item they may not see is answered as a missing one."""
    action = f"read the access history of {item_id[:120]}"
    require_admin(node, user, action)
    visible_item(node, user, item_id, action)
    with node.store.reading() as r:
        found = r.latest_accesses(item_id, MAX_HISTORY)
    return [AccessView.of(a) for a in found]


@dataclass(frozen=True, slots=True)
class RegisteredUser:
    """A user of the node as the register lists them (Art. 6(e)), with their latest access."""

    name: str
    role: str
    level: str
    equivalence: str
    need_to_know: tuple[str, ...]
    purposes: tuple[str, ...]
    last_access: AccessView | None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "clearance": self.level,
            "equivalence": self.equivalence,
            "need_to_know": list(self.need_to_know),
            "purposes": list(self.purposes),
            "last_access": None if self.last_access is None else self.last_access.to_json(),
        }


@dataclass(frozen=True, slots=True)
class Register:
    party: str
    users: tuple[RegisteredUser, ...]
    records: int

    def to_json(self) -> dict[str, Any]:
        return {
            "party": self.party,
            "users": [u.to_json() for u in self.users],
            "records": self.records,
        }


def register(node: Node, user: User | None) -> Register:
    """The node's users with clearance, need-to-know and purposes, and each one's latest
    access. ``user``: the admin asking (API, console); None for the node's operator (the CLI,
    with the node's config and keys in hand)."""
    if user is not None:
        require_admin(node, user, "read the register")
    with node.store.reading() as r:
        last = r.last_accesses()
        # an admin is told of no item they may not see (Art. 7): its id is left out
        items = (a.item_id for a in last.values())
        hidden = set() if user is None else hidden_ids(node, r, user, items)
    last = {
        name: a if a.item_id not in hidden else replace(a, item_id=HIDDEN_ITEM)
        for name, a in last.items()
    }
    users = tuple(
        RegisteredUser(
            u.name,
            u.role.value,
            u.clearance.level,
            u.clearance.equivalence.value,
            u.clearance.need_to_know,
            u.clearance.purposes,
            None if u.name not in last else AccessView.of(last[u.name]),
        )
        for u in sorted(node.config.users, key=lambda u: u.name)
    )
    records = max((a.seq for a in last.values()), default=0)
    return Register(node.party, users, records)


# ------------------------------------------------------------------ the register's root
@dataclass(frozen=True, slots=True)
class RegisterRoot:
    size: int
    root: str  # hex
    entry: int  # its index in the node's log

    def to_json(self) -> dict[str, Any]:
        return {"size": self.size, "root": self.root, "entry": self.entry}


def _state(text: str | None) -> Frontier:
    """The tree as the last logged root left it (empty: none logged yet)."""
    if text is None:
        return Frontier(0, [])
    try:
        doc = orjson.loads(text)
        version, size, peaks = doc["v"], int(doc["size"]), [bytes.fromhex(h) for h in doc["peaks"]]
        tree = Frontier(size, peaks)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise StoreFailure(f"node_meta.register: unreadable ({exc})") from None
    if version != _STATE_VERSION:
        raise StoreFailure(f"node_meta.register: version {version!r} is not {_STATE_VERSION}")
    return tree


def _state_text(tree: Frontier) -> str:
    peaks = [h.hex() for h in tree.peak_hashes()]
    return orjson.dumps({"v": _STATE_VERSION, "size": tree.size, "peaks": peaks}).decode()


def _push(tree: Frontier, rows: Sequence[AccessRow]) -> None:
    """Fold ``rows`` into the tree; each must be the next seq (the register has no gap)."""
    scratch: list[tuple[tuple[int, int], bytes]] = []
    for row in rows:
        if row.seq != tree.size + 1:
            raise VerificationFailed(
                f"register: record {tree.size + 1} is missing (the next record is {row.seq}); "
                "the register is append-only"
            )
        tree.push(hash_leaf(canonical_record(row)), scratch)
        scratch.clear()


def log_root(node: Node) -> RegisterRoot | None:
    """Log the register's root if records were added since the last one (in one transaction,
    under the writer's lock: no record slips in between reading and logging); None if not."""
    now = node.clock.now()
    with node.store.writing() as w:
        tree = _state(w.register_state())
        logged = tree.size
        while True:
            rows = w.accesses_after(tree.size, BATCH)
            _push(tree, rows)
            if len(rows) < BATCH:
                break
        if tree.size == logged:
            return None
        root = tree.root().hex()
        entry = node.entry(ROOT_ENTRY, now, {"size": tree.size, "root": root})
        where = node.log.append_in(w.log, [entry])
        w.set_register_state(_state_text(tree))
    return RegisterRoot(tree.size, root, where.start)


@dataclass(frozen=True, slots=True)
class RegisterCheck:
    """What ``verify`` found: every logged root matched the records."""

    party: str
    records: int
    roots: int
    verified_size: int  # records covered by the last logged root
    last_root: RegisterRoot | None

    def to_json(self) -> dict[str, Any]:
        return {
            "party": self.party,
            "records": self.records,
            "roots": self.roots,
            "verified_size": self.verified_size,
            "unlogged": self.records - self.verified_size,
            "last_root": None if self.last_root is None else self.last_root.to_json(),
            "result": "verified",
        }


def logged_roots(node: Node) -> list[RegisterRoot]:
    """Every ``register.root`` entry of the node's log, in log order (the log is read whole)."""
    found = []
    with node.log.store.reading() as r:
        for index, _, data in r.iter_entries():
            raw = bytes(data)
            if b'"type":"register.root"' not in raw:
                continue
            doc = decode_entry(raw, where=f"log entry {index}")
            if doc["type"] == ROOT_ENTRY and doc["party"] == node.party:
                found.append(RegisterRoot(int(doc["size"]), str(doc["root"]), index))
    return found


def _records(node: Node) -> Iterator[list[AccessRow]]:
    after = 0
    while True:
        with node.store.reading() as r:
            rows = r.accesses(after_seq=after, limit=BATCH)
        if rows:
            yield rows
        if len(rows) < BATCH:
            return
        after = rows[-1].seq


def verify(node: Node) -> RegisterCheck:
    """Recompute the register's tree from its records and compare it with every logged root.

    1. The records are numbered 1…n with no gap (a removed record is named).
    2. At each logged size, the tree head of the first ``size`` records is the logged root;
       the first that differs names the records it covers beyond the last root that matched
       (the one record, when only one lies between them).
    3. No logged size exceeds the records held (records removed at the end are named)."""
    roots = logged_roots(node)
    pending = sorted(roots, key=lambda x: (x.size, x.entry))
    tree = Frontier(0, [])
    matched = 0
    for rows in _records(node):
        for row in rows:
            _push(tree, [row])
            while pending and pending[0].size == tree.size:
                _compare(pending.pop(0), tree, matched)
                matched = tree.size
    if pending:
        first = pending[0]
        raise VerificationFailed(
            f"register: the log's register.root at entry {first.entry} covers {first.size} "
            f"records, but only {tree.size} are held: records {tree.size + 1}–{first.size} "
            "were removed"
        )
    return RegisterCheck(node.party, tree.size, len(roots), matched, roots[-1] if roots else None)


def _compare(logged: RegisterRoot, tree: Frontier, matched: int) -> None:
    computed = tree.root().hex()
    if computed == logged.root:
        return
    first, last = matched + 1, logged.size
    which = (
        f"record {first} was altered"
        if first == last
        else f"a record among {first}–{last} was altered (records 1–{matched} match the "
        "roots logged before)"
    )
    raise VerificationFailed(
        f"register: the records 1–{logged.size} give the root {computed}, but the log's "
        f"register.root at entry {logged.entry} says {logged.root}: {which}"
    )
