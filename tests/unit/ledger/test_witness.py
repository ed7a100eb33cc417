"""The witness protocol between nodes, each with a real SQLite log."""

from __future__ import annotations

import pytest

from gsomia.errors import BadInput, Conflict, VerificationFailed
from gsomia.ledger.note import Checkpoint, NoteSigner, SignedNote, parse_checkpoint, parse_note
from gsomia.ledger.proofs import ConsistencyProof
from gsomia.ledger.witness import compare, cosign, proof_wanted, reconcile
from tests.unit.ledger.conftest import Node, directory, event

KEYS = directory("KOR", "JPN", "USA")


def _cosign(witness: Node, origin: Node, old: int, ts: int = 100) -> SignedNote:
    _, note = origin.log.checkpoint(origin.signer)
    size = origin.log.size()
    proof = origin.log.consistency_proof(old, size)
    done = cosign(
        witness.store, note.encode(), proof, signer=witness.signer, keys=KEYS, timestamp=ts
    )
    return done.note


def test_cosign_extend_attach_and_audit(nodes: dict[str, Node]) -> None:
    kor, jpn, usa = nodes["KOR"], nodes["JPN"], nodes["USA"]
    kor.append(5)
    first = _cosign(jpn, kor, 0)
    kor.append(6)
    second = _cosign(jpn, kor, 5)
    third = _cosign(usa, kor, 0)
    assert kor.log.attach(second.encode(), KEYS)[1][0].name == "gsomia/JPN"
    size, added = kor.log.attach(third.encode(), KEYS)
    assert (size, [c.name for c in added]) == (11, ["gsomia/USA"])
    assert kor.log.attach(third.encode(), KEYS)[1] == ()
    report = kor.log.audit(KEYS)
    assert (report.size, report.checkpoints, report.cosignatures) == (11, 2, 2)
    assert jpn.log.audit(KEYS).witnessed == 2
    assert usa.log.audit(KEYS).witnessed == 1
    assert parse_note(first.encode()).signatures[-1].name == "gsomia/JPN"


def test_a_witness_refuses_a_rewritten_history(nodes: dict[str, Node]) -> None:
    kor, jpn, usa = nodes["KOR"], nodes["JPN"], nodes["USA"]
    kor.append(4)
    _cosign(jpn, kor, 0)
    # USA's store plays a KOR that rewrote entry 2 and grew: same key, other history.
    forger = Node(usa.path.parent / "forged", "KOR")
    forger.log.append([event(0), event(1), {**event(2), "event": "withdrawal"}, event(3)])
    forger.append(3)
    _, note = forger.log.checkpoint(forger.signer)
    proof = forger.log.consistency_proof(4, 7)
    with pytest.raises(VerificationFailed, match="does not extend the history co-signed at size 4"):
        cosign(jpn.store, note.encode(), proof, signer=jpn.signer, keys=KEYS, timestamp=1)
    with jpn.store.reading() as r:
        assert [w.size for w in r.witnessed("gsomia/KOR")] == [4]
    assert jpn.log.audit(KEYS).witnessed == 1
    forger.store.close()


def test_split_view_is_kept_as_evidence(nodes: dict[str, Node]) -> None:
    kor, jpn, usa = nodes["KOR"], nodes["JPN"], nodes["USA"]
    kor.append(3)
    _cosign(jpn, kor, 0)
    forger = Node(usa.path.parent / "forged", "KOR")
    forger.log.append([event(0), event(1), {**event(2), "event": "withdrawal"}])
    _, other = forger.log.checkpoint(forger.signer)
    proof = ConsistencyProof("gsomia/KOR", 3, 3, ())
    with pytest.raises(Conflict, match="split view"):
        cosign(jpn.store, other.encode(), proof, signer=jpn.signer, keys=KEYS, timestamp=2)
    with jpn.store.reading() as r:
        (view,) = r.split_views()
    assert view.size == 3
    assert view.first != view.second
    assert jpn.log.audit(KEYS).split_views == 1
    forger.store.close()


def test_rollback_and_misaligned_proofs_are_refused(nodes: dict[str, Node]) -> None:
    kor, jpn = nodes["KOR"], nodes["JPN"]
    kor.append(3)
    _, small = kor.log.checkpoint(kor.signer)
    kor.append(3)
    _cosign(jpn, kor, 0)
    with pytest.raises(VerificationFailed, match="rollback"):
        cosign(
            jpn.store,
            small.encode(),
            ConsistencyProof("gsomia/KOR", 0, 3, ()),
            signer=jpn.signer,
            keys=KEYS,
            timestamp=3,
        )
    kor.append(1)
    _, note = kor.log.checkpoint(kor.signer)
    with pytest.raises(BadInput, match="log consistency 6 7"):
        cosign(
            jpn.store,
            note.encode(),
            kor.log.consistency_proof(3, 7),
            signer=jpn.signer,
            keys=KEYS,
            timestamp=3,
        )
    with pytest.raises(BadInput, match="proof: it is for"):
        cosign(
            jpn.store,
            note.encode(),
            kor.log.consistency_proof(6, 6),
            signer=jpn.signer,
            keys=KEYS,
            timestamp=3,
        )


def test_unsigned_unknown_and_own_checkpoints_are_refused(nodes: dict[str, Node]) -> None:
    kor, jpn = nodes["KOR"], nodes["JPN"]
    kor.append(2)
    _, note = kor.log.checkpoint(kor.signer)
    proof = kor.log.consistency_proof(0, 2)
    text = Checkpoint("gsomia/KOR", 2, kor.log.root()).text()
    by_usa = SignedNote(text, (nodes["USA"].signer.sign_note(text),))
    with pytest.raises(VerificationFailed, match="no signature of gsomia/KOR"):
        cosign(jpn.store, by_usa.encode(), proof, signer=jpn.signer, keys=KEYS, timestamp=1)
    with pytest.raises(BadInput, match="no known public key"):
        cosign(
            jpn.store, note.encode(), proof, signer=jpn.signer, keys=directory("JPN"), timestamp=1
        )
    with pytest.raises(BadInput, match="own log"):
        cosign(kor.store, note.encode(), proof, signer=kor.signer, keys=KEYS, timestamp=1)


def test_attach_refuses_foreign_or_forged_cosignatures(nodes: dict[str, Node]) -> None:
    kor, jpn = nodes["KOR"], nodes["JPN"]
    kor.append(2)
    cosigned = _cosign(jpn, kor, 0)
    sig = cosigned.signatures[-1]
    forged = SignedNote(
        cosigned.text,
        (*cosigned.signatures[:-1], type(sig)(sig.name, sig.key_id, sig.signature[:8] + bytes(64))),
    )
    with pytest.raises(VerificationFailed, match="cosignature of gsomia/JPN"):
        kor.log.attach(forged.encode(), KEYS)
    other_root = Checkpoint("gsomia/KOR", 2, bytes(32)).text()
    with pytest.raises(VerificationFailed, match="root differs"):
        kor.log.attach(SignedNote(other_root, cosigned.signatures).encode(), KEYS)
    with pytest.raises(BadInput, match="no checkpoint of size 9"):
        kor.log.attach(
            SignedNote(Checkpoint("gsomia/KOR", 9, bytes(32)).text(), cosigned.signatures).encode(),
            KEYS,
        )
    with pytest.raises(BadInput, match="not this log's"):
        jpn.log.attach(cosigned.encode(), KEYS)


def test_only_verified_lines_are_stored_by_the_witness(nodes: dict[str, Node]) -> None:
    kor, jpn, usa = nodes["KOR"], nodes["JPN"], nodes["USA"]
    kor.append(2)
    _, note = kor.log.checkpoint(kor.signer)
    stranger = NoteSigner("gsomia/KOR", bytes([9]) * 32).sign_note(note.text)
    unknown = NoteSigner("example.org/w", bytes([8]) * 32).cosign(note.text, 5)
    by_usa = usa.signer.cosign(note.text, 6)
    noisy = SignedNote(note.text, (*note.signatures, stranger, unknown, by_usa))
    done = cosign(
        jpn.store,
        noisy.encode(),
        kor.log.consistency_proof(0, 2),
        signer=jpn.signer,
        keys=KEYS,
        timestamp=7,
    )
    assert [s.name for s in done.note.signatures] == ["gsomia/KOR", "gsomia/USA", "gsomia/JPN"]
    assert jpn.log.audit(KEYS).witnessed == 1


def test_attach_keeps_a_split_view_of_its_own_log(nodes: dict[str, Node]) -> None:
    kor, usa = nodes["KOR"], nodes["USA"]
    kor.append(2)
    kor.log.checkpoint(kor.signer)
    forger = Node(usa.path.parent / "forged", "KOR")  # KOR's key, another history
    forger.log.append([event(0), {**event(1), "event": "withdrawal"}])
    _, other = forger.log.checkpoint(forger.signer)
    with pytest.raises(Conflict, match="split view"):
        kor.log.attach(other.encode(), KEYS)
    with kor.store.reading() as r:
        assert [v.size for v in r.split_views()] == [2]
    assert kor.log.audit(KEYS).split_views == 1
    forger.store.close()


def test_witnesses_comparing_what_they_cosigned_catch_a_split_view(
    nodes: dict[str, Node],
) -> None:
    kor, jpn, usa = nodes["KOR"], nodes["JPN"], nodes["USA"]
    kor.append(3)
    shown_to_jpn = _cosign(jpn, kor, 0)
    # KOR's key signs another history of the same size, and shows it to USA only
    forger = Node(usa.path.parent / "forged", "KOR")
    forger.log.append([event(0), event(1), {**event(2), "event": "withdrawal"}])
    shown_to_usa = _cosign(usa, forger, 0)
    # each witness co-signed; neither noticed alone. They now compare what they co-signed.
    assert compare(jpn.store, shown_to_jpn.encode(), keys=KEYS, witness="gsomia/USA") is None
    view = compare(jpn.store, shown_to_usa.encode(), keys=KEYS, witness="gsomia/JPN")
    assert view is not None
    assert (view.origin, view.size) == ("gsomia/KOR", 3)
    roots = {parse_checkpoint(parse_note(n).text).root for n in (view.first, view.second)}
    assert roots == {kor.log.root(), forger.log.root()}
    # the evidence holds the origin's signatures only, and verifies for anyone with its key
    for n in (view.first, view.second):
        assert [s.name for s in parse_note(n).signatures] == ["gsomia/KOR"]
    assert jpn.log.audit(KEYS).evidence[0][:2] == ("gsomia/KOR", 3)
    # kept once: the same comparison again adds nothing
    assert compare(jpn.store, shown_to_usa.encode(), keys=KEYS, witness="gsomia/JPN") is None
    with jpn.store.reading() as r:
        assert len(r.split_views()) == 1
    # and KOR's checkpoints are not co-signed by JPN again, even one that extends its history
    kor.append(1)
    with pytest.raises(Conflict, match="no longer co-signed"):
        _cosign(jpn, kor, 3)
    with jpn.store.reading() as r:
        assert [w.size for w in r.witnessed("gsomia/KOR")] == [3]
    forger.store.close()


def test_compare_needs_the_origins_signature(nodes: dict[str, Node]) -> None:
    kor, jpn, usa = nodes["KOR"], nodes["JPN"], nodes["USA"]
    kor.append(2)
    _cosign(jpn, kor, 0)
    text = Checkpoint("gsomia/KOR", 2, bytes(32)).text()
    by_usa = SignedNote(text, (usa.signer.cosign(text, 5),))
    with pytest.raises(VerificationFailed, match="no signature of gsomia/KOR"):
        compare(jpn.store, by_usa.encode(), keys=KEYS, witness="gsomia/JPN")
    _, own = jpn.log.checkpoint(jpn.signer)
    with pytest.raises(BadInput, match="own log"):
        compare(jpn.store, own.encode(), keys=KEYS, witness="gsomia/JPN")
    with jpn.store.reading() as r:
        assert r.split_views() == []


def _forked(kor: Node, at: int, size: int) -> Node:
    """A KOR that shares the first ``at`` entries of ``kor`` and then wrote others."""
    forger = Node(kor.path.parent / "forked", "KOR")
    forger.log.append([event(i) for i in range(at)])
    forger.log.append([{**event(i), "event": "withdrawal"} for i in range(at, size)])
    return forger


def test_checkpoints_of_two_sizes_need_the_origins_proof(nodes: dict[str, Node]) -> None:
    kor, jpn, usa = nodes["KOR"], nodes["JPN"], nodes["USA"]
    kor.append(3)
    _cosign(jpn, kor, 0)
    kor.append(2)
    at_usa = _cosign(usa, kor, 0)  # size 5, an honest growth of what JPN co-signed at 3
    with jpn.store.reading() as r:
        wanted = proof_wanted(r, at_usa.encode(), keys=KEYS)
    assert wanted is not None
    assert (wanted.origin, wanted.cosigned, wanted.size) == ("gsomia/KOR", 3, 5)
    assert (wanted.old_size, wanted.new_size) == (3, 5)
    good = kor.log.consistency_proof(3, 5)
    assert reconcile(jpn.store, wanted, good, keys=KEYS) is None
    with jpn.store.reading() as r:
        assert r.split_views() == []
    # the other way round: USA co-signed the larger, JPN's is the smaller
    with usa.store.reading() as r:
        back = proof_wanted(r, _witnessed_note(jpn), keys=KEYS)
    assert back is not None
    assert (back.cosigned, back.size, back.old_size, back.new_size) == (5, 3, 3, 5)
    assert reconcile(usa.store, back, good, keys=KEYS) is None
    # nothing to ask when the sizes agree (``compare`` judges those) or nothing was co-signed
    with usa.store.reading() as r:
        assert proof_wanted(r, at_usa.encode(), keys=KEYS) is None
    with kor.store.reading() as r:
        assert proof_wanted(r, at_usa.encode(), keys=KEYS) is None


def _witnessed_note(witness: Node) -> bytes:
    with witness.store.reading() as r:
        return r.witnessed("gsomia/KOR")[-1].note


def test_a_fork_at_two_sizes_is_kept_as_evidence(nodes: dict[str, Node]) -> None:
    kor, jpn, usa = nodes["KOR"], nodes["JPN"], nodes["USA"]
    kor.append(5)
    _cosign(jpn, kor, 0)  # JPN: KOR's history at 5
    forger = _forked(kor, 3, 7)  # USA: another history, sharing only 3 entries, at 7
    at_usa = _cosign(usa, forger, 0)
    with jpn.store.reading() as r:
        wanted = proof_wanted(r, at_usa.encode(), keys=KEYS)
    assert wanted is not None
    # whichever history KOR proves from, the proof does not verify against both roots
    for liar in (forger.log.consistency_proof(5, 7), ConsistencyProof("gsomia/KOR", 3, 7, ())):
        with jpn.store.reading() as r:
            assert r.split_views() == []
        fresh = Node(jpn.path.parent / f"w{liar.old_size}", "JPN")
        _cosign(fresh, kor, 0)
        unproved = reconcile(fresh.store, wanted, liar, keys=KEYS)
        assert unproved is not None
        assert "does not verify" in unproved.reason
        fresh.store.close()
    unproved = reconcile(jpn.store, wanted, None, keys=KEYS, refused="it answered 422")
    assert unproved is not None
    assert unproved.reason == "it answered 422"
    view = unproved.view
    assert (view.origin, view.size) == ("gsomia/KOR", 5)
    sizes = {parse_checkpoint(parse_note(n).text).size for n in (view.first, view.second)}
    assert sizes == {5, 7}
    with jpn.store.reading() as r:
        assert [v.id for v in r.split_views()] == [view.id]
        assert proof_wanted(r, at_usa.encode(), keys=KEYS) is None  # evidence already kept
    # kept evidence verifies in the audit, and the origin is no longer co-signed
    assert jpn.log.audit(KEYS).evidence[0][:2] == ("gsomia/KOR", 5)
    kor.append(1)
    with pytest.raises(Conflict, match="no longer co-signed"):
        _cosign(jpn, kor, 5)
    assert reconcile(jpn.store, wanted, None, keys=KEYS) is None  # kept once
    forger.store.close()


def test_a_proof_of_two_sizes_must_be_signed_and_fit(nodes: dict[str, Node]) -> None:
    kor, jpn, usa = nodes["KOR"], nodes["JPN"], nodes["USA"]
    kor.append(3)
    _cosign(jpn, kor, 0)
    kor.append(2)
    at_usa = _cosign(usa, kor, 0)
    unsigned = SignedNote(parse_note(at_usa.encode()).text, ()).encode()
    with (
        jpn.store.reading() as r,
        pytest.raises(BadInput, match="a signature line starts with an em dash"),
    ):
        proof_wanted(r, unsigned, keys=KEYS)
    with jpn.store.reading() as r:
        wanted = proof_wanted(r, at_usa.encode(), keys=KEYS)
    assert wanted is not None
    # a valid proof of other sizes does not settle this pair
    unproved = reconcile(jpn.store, wanted, kor.log.consistency_proof(2, 5), keys=KEYS)
    assert unproved is not None
    assert "not from 3 to 5" in unproved.reason
