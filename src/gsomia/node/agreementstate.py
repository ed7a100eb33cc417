"""Agreement on the agreements: each party's state of each agreement it shares, compared.

Two parties to an agreement must compute the same state of it (``domain.notes.state_digest``:
its effective events, from the scenario's record and the diplomatic notes held). A node says
which state it computes in every checkpoint of its log, one extension line per agreement its
party is a party to (c2sp.org/tlog-checkpoint, signed by the log's key)::

    gsomia-agreement <agreement id> <base64 of the 32-byte state digest>

and in every note and receipt it sends. What a peer said is kept per (peer, agreement) in the
node's documents (kind ``agreement.peer-state``): the digest, the size of the peer's log it was
seen at (a note's or receipt's message says the sender's log size once it held it), when it was
first seen and from what. A newer
statement replaces an older one: a checkpoint's only when its log is at least as large as the
one the kept statement was seen at; a note's or receipt's always (it was sent after the peer's
latest checkpoint seen here, or it is the same statement again).

``disputes`` compares the kept statements with the node's own digests: an agreement whose peer
computes another state is disputed, with a sentence saying who disagrees, since when, and — when
the peer's digest is this node's without some of the notes it holds — which notes it lacks.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from gsomia.domain.agreements import Agreement
from gsomia.domain.instants import format_instant, parse_instant
from gsomia.domain.notes import NoteAct, parse_kind, state_digest
from gsomia.domain.scenario import AGREEMENT_ID, Scenario
from gsomia.errors import BadInput
from gsomia.node.config import User
from gsomia.node.service import Node
from gsomia.store.ports import DocumentRow, NodeWriter

EXTENSION = "gsomia-agreement"
PEER_STATES = "agreement.peer-state"
NOTES = "agreement.note"  # the kind core's node/notes.py stores held notes under
SOURCES = ("checkpoint", "note", "receipt")
DIGEST_LEN = 32
MISSING_SEARCH = 8  # the latest notes tried as the ones a peer lacks (the search is quadratic)


# ------------------------------------------------------------------ the extension line
def shared(scenario: Scenario, party: str) -> list[Agreement]:
    """The agreements ``party`` is a party to, by id."""
    return sorted((a for a in scenario.agreements if party in a.parties), key=lambda a: a.id)


def line(agreement: str, digest: bytes) -> str:
    """One checkpoint extension line: ``gsomia-agreement <id> <base64 digest>``."""
    return f"{EXTENSION} {agreement} {base64.b64encode(digest).decode()}"


def checkpoint_lines(node: Node) -> list[str]:
    """The extension lines of the node's checkpoints: its digest of each agreement its party is
    a party to, sorted by agreement id."""
    return [line(a.id, state_digest(a)) for a in shared(node.agreed_scenario, node.party)]


def parse_lines(lines: Iterable[str], *, where: str = "checkpoint") -> dict[str, bytes]:
    """The digests a checkpoint's extension lines state, by agreement id. Lines of other
    extensions are ignored; a ``gsomia-agreement`` line that is malformed, or a second line for
    one agreement, is bad input naming the line (numbered as in the checkpoint)."""
    out: dict[str, bytes] = {}
    for n, text in enumerate(lines, start=4):
        words = text.split(" ")
        if words[0] != EXTENSION:
            continue
        at = f"{where}: line {n}"
        if len(words) != 3:
            raise BadInput(f"{at}: expected '{EXTENSION} <agreement id> <base64 digest>'")
        agreement, blob = words[1], words[2]
        if not AGREEMENT_ID.fullmatch(agreement):
            raise BadInput(f"{at}: agreement id {agreement[:40]!r} is not an id")
        try:
            digest = base64.b64decode(blob, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadInput(f"{at}: the digest of {agreement} is not standard base64") from exc
        if len(digest) != DIGEST_LEN or base64.b64encode(digest).decode() != blob:
            raise BadInput(f"{at}: the digest of {agreement} is not canonical base64 of 32 bytes")
        if agreement in out:
            raise BadInput(f"{at}: a second line for {agreement}")
        out[agreement] = digest
    return out


# ------------------------------------------------------------------ what the peers said
def key_of(peer: str, agreement: str) -> str:
    return f"{peer} {agreement}"


def record_peer_state(  # noqa: PLR0917 - the statement, positional as core calls it
    w: NodeWriter,
    peer: str,
    agreement: str,
    digest: bytes,
    size: int,
    source: str,
    seen_at: datetime,
) -> bool:
    """Keep ``peer``'s statement that its digest of ``agreement`` is ``digest``, inside the
    caller's transaction, unless a later one is kept: a checkpoint's (``size``: its log size)
    replaces any statement seen at a size not larger (a note's or receipt's ``size`` is the
    peer's log size once it held the note: a checkpoint that large was signed after it); a
    note's or receipt's always replaces (it was sent after anything else seen of that note),
    keeping the larger size. The first instant a digest was seen is kept while it stays the
    same. Returns whether anything was written."""
    if source not in SOURCES:
        raise BadInput(f"peer state: source {source!r} is not one of {', '.join(SOURCES)}")
    if len(digest) != DIGEST_LEN or size < 0:
        raise BadInput(f"peer state of {peer} on {agreement}: a 32-byte digest and a size >= 0")
    key = key_of(peer, agreement)
    kept = w.document(PEER_STATES, key)
    old = _body(kept) if kept is not None else None
    if old is not None:
        if source == "checkpoint" and size < old.size:
            return False  # a checkpoint of the peer's log before the statement kept
        size = max(size, old.size) if source != "checkpoint" else size
        if old.digest == digest:
            if (old.size, old.source) == (size, source):
                return False
            seen_at = old.seen_at
    body = {
        "digest": digest.hex(),
        "size": size,
        "seen_at": format_instant(seen_at),
        "source": source,
    }
    w.put_document(PEER_STATES, key, f"agreement:{agreement}", body, None)
    return True


@dataclass(frozen=True)
class PeerStatement:
    """One kept statement: ``peer``'s digest of ``agreement``."""

    peer: str
    agreement: str
    digest: bytes
    size: int
    seen_at: datetime
    source: str


def _body(row: DocumentRow) -> PeerStatement:
    """A kept statement; BadInput when the stored row is not one."""
    where = f"peer state {row.key!r}"
    peer, _, agreement = row.key.partition(" ")
    body: Any = row.body
    try:
        digest = bytes.fromhex(body["digest"])
        size = body["size"]
        source = body["source"]
        seen_at = parse_instant(body["seen_at"], f"{where}.seen_at")
    except (KeyError, TypeError, ValueError) as exc:
        raise BadInput(f"{where}: not a peer state ({type(exc).__name__})") from exc
    if type(size) is not int or source not in SOURCES or len(digest) != DIGEST_LEN:
        raise BadInput(f"{where}: not a peer state")
    return PeerStatement(peer, agreement, digest, size, seen_at, source)


# ------------------------------------------------------------------ judging
@dataclass(frozen=True)
class PeerJudgement:
    """How one peer's kept statement compares with this node's digest of an agreement."""

    peer: str
    digest: bytes | None  # None: the kept row is unreadable
    seen_at: datetime | None
    source: str
    size: int
    agrees: bool
    pending: bool = False  # differs only by notes sent to it and not yet acknowledged
    missing: tuple[NoteAct, ...] = ()  # the notes it lacks, when that explains the difference

    def sentence(self, agreement: str) -> str:
        if self.digest is None or self.seen_at is None:
            return f"the state of {agreement} kept for {self.peer} is unreadable"
        since = format_instant(self.seen_at)
        head = (
            f"{self.peer} computes another state of {agreement} (since {since}, from its "
            f"{self.source})"
        )
        if self.missing:
            lacks = "; ".join(f"{a.words()} (note {a.id})" for a in self.missing)
            return f"{head}: it lacks {lacks}"
        return f"{head}: it holds a note this node does not, or lacks one"


def _without(agreement: Agreement, ids: Collection[str]) -> bytes:
    kept = tuple(e for e in agreement.events if e.id not in ids)
    return state_digest(replace(agreement, events=kept))


def _missing(agreement: Agreement, theirs: bytes, acts: Sequence[NoteAct]) -> tuple[NoteAct, ...]:
    """The notes whose absence makes ``agreement``'s digest ``theirs``: one of them, or the
    latest few (the notes are tried one at a time, then every run of the latest)."""
    held = [a for a in acts if a.agreement == agreement.id][-MISSING_SEARCH:]
    for act in held:
        if _without(agreement, {act.id}) == theirs:
            return (act,)
    for k in range(2, len(held) + 1):
        tail = held[-k:]
        if _without(agreement, {a.id for a in tail}) == theirs:
            return tuple(tail)
    return ()


def judge(
    agreement: Agreement,
    party: str,
    rows: Iterable[DocumentRow],
    acts: Sequence[NoteAct],
    pending: Mapping[str, Collection[str]] | None = None,
) -> list[PeerJudgement]:
    """Each kept statement of another party to ``agreement`` against this node's digest."""
    ours = state_digest(agreement)
    out: list[PeerJudgement] = []
    for row in rows:
        peer, _, about = row.key.partition(" ")
        if about != agreement.id or peer == party or peer not in agreement.parties:
            continue
        try:
            st = _body(row)
        except BadInput:
            out.append(PeerJudgement(peer, None, None, "?", 0, agrees=False))
            continue
        if st.digest == ours:
            out.append(PeerJudgement(peer, st.digest, st.seen_at, st.source, st.size, agrees=True))
            continue
        missing = _missing(agreement, st.digest, acts)
        waiting = set((pending or {}).get(peer, ()))
        is_pending = bool(missing) and {a.id for a in missing} <= waiting
        out.append(
            PeerJudgement(
                peer, st.digest, st.seen_at, st.source, st.size, is_pending, is_pending, missing
            )
        )
    return sorted(out, key=lambda j: j.peer)


def disputes(
    agreed: Scenario,
    party: str,
    peer_states: Iterable[DocumentRow],
    acts: Sequence[NoteAct],
    *,
    pending: Mapping[str, Collection[str]] | None = None,
) -> dict[str, str]:
    """The disputed agreements ``party`` is a party to, each with its sentence: a peer (another
    party to it) whose kept digest differs from ``agreed``'s (the node's agreed scenario: its
    record and the notes ``acts`` it holds). ``pending``: per peer, the ids of notes sent to it
    whose receipt has not come yet — a peer whose digest is this node's without only such notes
    has not received them yet, which is no dispute. Pure: every input is an argument."""
    rows = list(peer_states)
    out: dict[str, str] = {}
    for agreement in shared(agreed, party):
        against = [j for j in judge(agreement, party, rows, acts, pending) if not j.agrees]
        if against:
            out[agreement.id] = "; ".join(j.sentence(agreement.id) for j in against)
    return out


# ------------------------------------------------------------------ for the API and console
@dataclass(frozen=True)
class PeerAgreementState:
    party: str
    digest: str | None  # hex
    seen_at: str | None
    source: str
    size: int
    agrees: bool
    pending: bool
    missing: tuple[str, ...]  # the missing notes in words

    def to_json(self) -> dict[str, Any]:
        return {
            "party": self.party,
            "digest": self.digest,
            "seen_at": self.seen_at,
            "source": self.source,
            "size": self.size,
            "agrees": self.agrees,
            "pending": self.pending,
            "missing": list(self.missing),
        }


@dataclass(frozen=True)
class AgreementState:
    """One agreement as this node and its peers compute it."""

    agreement: str
    title: str
    parties: tuple[str, ...]
    digest: str  # hex: this node's
    status: str  # "agreed" | "disputed" | "unknown" (no peer's statement kept yet)
    dispute: str  # the sentence, when disputed
    peers: tuple[PeerAgreementState, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {
            "agreement": self.agreement,
            "title": self.title,
            "parties": list(self.parties),
            "digest": self.digest,
            "status": self.status,
            "dispute": self.dispute,
            "peers": [p.to_json() for p in self.peers],
        }


def held_acts(rows: Iterable[DocumentRow]) -> list[NoteAct]:
    """The notes held (core's ``agreement.note`` documents) as acts, in the order stored;
    a row that is not a note is skipped (core's reader refuses it)."""
    acts: list[NoteAct] = []
    for row in rows:
        body: Any = row.body
        try:
            acts.append(
                NoteAct(
                    id=str(body["id"]),
                    agreement=str(body["agreement"]),
                    kind=parse_kind(body["event"], f"note {row.key}.event"),
                    party=str(body["party"]),
                    at=parse_instant(body["at"], f"note {row.key}.at"),
                    text=str(body.get("text", "")),
                )
            )
        except (KeyError, TypeError, BadInput):
            continue
    return acts


def unacknowledged(rows: Iterable[DocumentRow]) -> dict[str, list[str]]:
    """Per peer, the ids of the notes sent to it (core's ``agreement.note`` documents) whose
    receipt has not come."""
    out: dict[str, list[str]] = {}
    for row in rows:
        body: Any = row.body
        if not isinstance(body, dict) or body.get("direction") != "sent":
            continue
        receipts = body.get("receipts") or {}
        for peer in sorted(body.get("delivery") or {}):
            if peer not in receipts:
                out.setdefault(str(peer), []).append(str(body.get("id")))
    return out


def states(node: Node, user: User) -> list[AgreementState]:  # noqa: ARG001 - every user may read
    """Each agreement the node's party is a party to: the node's digest, each peer's kept
    digest (when, from what), agreed or disputed, and the notes a peer lacks."""
    with node.store.reading() as r:
        rows = r.documents(PEER_STATES)
        docs = r.documents(NOTES)
    acts = held_acts(docs)
    pending = unacknowledged(docs)
    agreed = node.agreed_scenario
    enforced = node.scenario  # its disputes: what the release engine holds to
    out: list[AgreementState] = []
    for agreement in shared(agreed, node.party):
        judged = judge(agreement, node.party, rows, acts, pending)
        peers = tuple(
            PeerAgreementState(
                j.peer,
                None if j.digest is None else j.digest.hex(),
                None if j.seen_at is None else format_instant(j.seen_at),
                j.source,
                j.size,
                j.agrees,
                j.pending,
                tuple(a.words() for a in j.missing),
            )
            for j in judged
        )
        dispute = enforced.agreement(agreement.id).dispute
        status = "disputed" if dispute else "agreed" if judged else "unknown"
        out.append(
            AgreementState(
                agreement.id,
                agreement.title,
                tuple(sorted(agreement.parties)),
                state_digest(agreement).hex(),
                status,
                dispute,
                peers,
            )
        )
    return out
