"""Agreement states through co-signing, between in-process nodes: a node's checkpoints state its
digests, a witness keeps a co-signed peer's, a changed state is logged and stated, and malformed
lines are refused like any malformed checkpoint."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from gsomia.app.boot import load_config, open_node
from gsomia.clock import FixedClock
from gsomia.domain.agreements import EventKind
from gsomia.domain.notes import NoteAct, effective, state_digest
from gsomia.errors import BadInput
from gsomia.ledger.note import Checkpoint, SignedNote, parse_checkpoint, parse_note
from gsomia.node import agreementstate, witnessing
from gsomia.node.service import Node
from tests.integration.nodes import PASSPHRASE, make_nodes

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
KST = timezone(timedelta(hours=9))
KOR_USA = "kor-usa-security-1987"
GSOMIA = "jpn-kor-gsomia-2016"


@pytest.fixture(scope="module")
def trio(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Node]:
    procs = make_nodes(tmp_path_factory.mktemp("states"))
    clock = FixedClock(NOW)
    return {
        p: open_node(load_config(procs[p].config), clock=clock, passphrase=PASSPHRASE.encode())
        for p in procs
    }


def _cosign(witness: Node, origin: Node) -> None:
    witnessing.sign_checkpoint(origin)
    last = witnessing.last_cosigned(witness, origin.party)
    offer = witnessing.for_peer(origin, 0 if last is None else last.size).to_json()
    witnessing.cosign_peer(witness, origin.party, offer, NOW)


def _kept(node: Node) -> dict[str, str]:
    with node.store.reading() as r:
        return {row.key: row.body["digest"] for row in r.documents(agreementstate.PEER_STATES)}


def _disputes(node: Node, acts: list[NoteAct] | None = None) -> dict[str, str]:
    with node.store.reading() as r:
        rows = r.documents(agreementstate.PEER_STATES)
    agreed = node.agreed_scenario
    return agreementstate.disputes(agreed, node.party, rows, acts or [])


def test_checkpoints_state_the_digests_and_a_witness_keeps_the_shared_ones(
    trio: dict[str, Node],
) -> None:
    kor, usa = trio["KOR"], trio["USA"]
    stored = witnessing.sign_checkpoint(kor)
    lines = parse_checkpoint(parse_note(stored.note).text).extensions
    assert list(lines) == agreementstate.checkpoint_lines(kor)
    stated = agreementstate.parse_lines(lines)
    assert sorted(stated) == sorted(a.id for a in kor.scenario.agreements if "KOR" in a.parties)
    _cosign(usa, kor)
    kept = _kept(usa)
    both = {a.id for a in usa.scenario.agreements if {"KOR", "USA"} <= a.parties}
    assert set(kept) == {f"KOR {a}" for a in both}  # jpn-kor's line is not USA's business
    assert all(kept[f"KOR {a}"] == stated[a].hex() for a in both)
    with usa.store.reading() as r:
        row = r.document(agreementstate.PEER_STATES, f"KOR {KOR_USA}")
    assert row is not None
    assert (row.body["source"], row.body["size"]) == ("checkpoint", stored.size)
    assert _disputes(usa) == {}


def test_a_changed_state_is_logged_stated_and_disputed(trio: dict[str, Node]) -> None:
    kor, usa = trio["KOR"], trio["USA"]
    _cosign(usa, kor)
    before = kor.log.size()
    act = NoteAct(str(uuid.uuid4()), KOR_USA, EventKind.NOTICE, "KOR", NOW, "")
    _plant(kor, act)
    stored = witnessing.sign_checkpoint(kor)
    assert stored.size == before + 1  # the new digest, logged before it is stated
    entry = kor.log.entry(before).decode()
    assert '"event":"state"' in entry
    assert KOR_USA in entry
    _cosign(usa, kor)
    found = _disputes(usa)
    assert list(found) == [KOR_USA]
    assert found[KOR_USA].startswith(f"KOR computes another state of {KOR_USA}")
    assert found[KOR_USA].endswith("it holds a note this node does not, or lacks one")
    # KOR, co-signing USA's checkpoint, names the note USA lacks
    _cosign(kor, usa)
    assert f"it lacks KOR's notice of termination of {KOR_USA}" in _disputes(kor, [act])[KOR_USA]
    states = {s.agreement: s for s in agreementstate.states(usa, usa.config.users[0])}
    assert states[KOR_USA].status == "disputed"
    assert states[KOR_USA].to_json()["peers"][0]["party"] == "KOR"
    _plant(kor, None)  # as it was: the digests agree again
    _cosign(usa, kor)
    assert _disputes(usa) == {}


def _plant(node: Node, act: NoteAct | None) -> None:
    """Change what ``node`` holds behind its back (no note given, nothing logged)."""
    if hasattr(node, "base_scenario"):  # core's Node: the store holds the notes
        base = getattr(node, "_states_base", node.base_scenario)
        node._states_base = base  # type: ignore[attr-defined]
        node.base_scenario = base if act is None else effective(base, [act])
        getattr(node, "refresh_agreements")()  # noqa: B009 - core's, not yet on every branch
        return
    base = getattr(node, "_states_base", node.scenario)
    node._states_base = base  # type: ignore[attr-defined]
    setattr(node, "scenario", base if act is None else effective(base, [act]))  # noqa: B010 - before core


def test_malformed_extension_lines_are_refused_and_kept_as_a_fault(
    trio: dict[str, Node],
) -> None:
    kor, jpn = trio["KOR"], trio["JPN"]
    stored = witnessing.sign_checkpoint(kor)
    text = Checkpoint("gsomia/KOR", stored.size, stored.root, (f"gsomia-agreement {GSOMIA} AAAA",))
    note = SignedNote(text.text(), (witnessing.signer(kor).sign_note(text.text()),))
    last = witnessing.last_cosigned(jpn, "KOR")
    proof = kor.log.consistency_proof(0 if last is None else last.size, stored.size)
    offer = {"checkpoint": note.encode().decode(), "consistency": proof.to_json()}
    with pytest.raises(BadInput, match=r"^KOR's checkpoint: line 4: the digest of jpn-kor"):
        witnessing.cosign_peer(jpn, "KOR", offer, NOW)
    assert any("line 4" in r.reason for r in witnessing.refusals(jpn).refusals)
    assert witnessing.last_cosigned(jpn, "KOR") == last  # nothing co-signed
    assert state_digest(jpn.agreed_scenario.agreement(GSOMIA))
