"""The log of live nodes: checkpoints co-signed by the peers on a schedule, proofs that verify
with the ledger's verifier, and a peer's rewritten history refused and kept as evidence."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from gsomia.errors import VerificationFailed
from gsomia.ledger.hashing import hash_leaf
from gsomia.ledger.log import TransparencyLog
from gsomia.ledger.note import (
    parse_checkpoint,
    parse_note,
    verify_cosignature,
    verify_note_signature,
)
from gsomia.ledger.proofs import ConsistencyProof, InclusionProof
from gsomia.ledger.verify import verify_consistency, verify_inclusion
from gsomia.seal.keys import parse_export_document
from gsomia.store.sqlite_log import SqliteLogStore

from .native_client import collection_at
from .native_client import log_get as get
from .native_client import wait_until as until
from .nodes import TAXII, NodeProc, make_nodes, report
from .sse import SseReader, tune

HEADERS = {"Accept": TAXII, "Content-Type": TAXII}
ITEM_1 = "report--00000000-0000-4000-8000-000000000001/2026-01-01T00:00:00.000Z"


@pytest.fixture(scope="module")
def trio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, NodeProc]]:
    nodes = make_nodes(tmp_path_factory.mktemp("log"))
    for node in nodes.values():
        tune(node, cosign_interval=0.25)
        node.start()
    kor, jpn = nodes["KOR"], nodes["JPN"]
    try:
        reader = SseReader(jpn).start()
        cid = collection_at(kor)
        r = httpx.post(
            f"{kor.api_root}collections/{cid}/objects/",
            headers=HEADERS,
            auth=kor.auth(),
            content=orjson.dumps(report(1)),
        )
        assert r.status_code == 202, r.text
        assert reader.next_item().json()["item"] == ITEM_1  # received at JPN
        reader.close()
        yield nodes
    finally:
        for node in nodes.values():
            node.stop()


def ed25519_keys(node: NodeProc) -> list[bytes]:
    exported = node.config.parent / f"{node.party}.pub.json"
    _, chain = parse_export_document(orjson.loads(exported.read_bytes()), where=str(exported))
    return [keys.ed25519 for keys in chain]


def test_checkpoints_are_cosigned_by_both_peers(trio: dict[str, NodeProc]) -> None:
    kor = trio["KOR"]

    def cosigned() -> dict[str, Any] | None:
        doc = get(kor, "cosignatures").json()
        latest = doc["latest"]
        witnesses = {c["witness"] for c in latest["cosignatures"]}
        return latest if latest["size"] > 0 and witnesses == {"JPN", "USA"} else None

    latest = until(cosigned, "KOR's latest checkpoint co-signed by JPN and USA")
    note = parse_note(latest["checkpoint"].encode())
    verify_note_signature(note, "gsomia/KOR", ed25519_keys(kor))
    for party in ("JPN", "USA"):
        [sig] = [s for s in note.signatures if s.name == f"gsomia/{party}"]
        verify_cosignature(note, sig, ed25519_keys(trio[party]))
    text = httpx.get(
        f"{kor.url}/native/v1/log/checkpoint", params={"size": latest["size"]}, auth=kor.auth()
    )
    assert text.status_code == 200
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    assert parse_note(text.content).text == note.text

    # and KOR co-signs the peers' logs in turn
    def both_witnessed() -> dict[str, Any] | None:
        w: dict[str, Any] = get(kor, "witnessed").json()
        return w if all(w.values()) else None

    witnessed = until(both_witnessed, "KOR co-signing the logs of JPN and USA")
    assert {w["origin"] for w in witnessed.values()} == {"gsomia/JPN", "gsomia/USA"}


def test_inclusion_proof_of_a_received_item(trio: dict[str, NodeProc]) -> None:
    jpn = trio["JPN"]
    signed_checkpoint(jpn)  # a read never signs: the admin has one signed over the arrival
    signed_checkpoint(trio["KOR"])
    r = get(jpn, "proof/inclusion", item=ITEM_1)
    assert r.status_code == 200, r.text
    doc = r.json()
    entry = orjson.loads(doc["entry"])
    assert (entry["type"], entry["item"], entry["sender"]) == ("release.received", ITEM_1, "KOR")
    proof = InclusionProof.from_json(doc["proof"])
    note = parse_note(doc["checkpoint"].encode())
    verify_note_signature(note, "gsomia/JPN", ed25519_keys(jpn))
    checkpoint = parse_checkpoint(note.text)
    assert (checkpoint.size, proof.index) == (proof.size, doc["index"])
    leaf = hash_leaf(doc["entry"].encode())
    assert leaf == proof.leaf_hash
    verify_inclusion(leaf, proof.index, proof.size, proof.path, checkpoint.root)
    # a user who may not see the item gets no proof of it
    assert get(jpn, "proof/inclusion", user="low", item=ITEM_1).status_code == 404
    # at the originating node, the proof is of its item.published entry
    kor_doc = get(trio["KOR"], "proof/inclusion", item=ITEM_1).json()
    assert orjson.loads(kor_doc["entry"])["type"] == "item.published"


def signed_checkpoint(node: NodeProc) -> tuple[int, bytes]:
    """An admin has the node sign a checkpoint now; its (size, root) once its signature holds."""
    r = httpx.post(f"{node.url}/native/v1/log/checkpoint", auth=node.auth("admin"), timeout=10)
    assert r.status_code == 200, r.text
    note = parse_note(r.json()["checkpoint"].encode())
    verify_note_signature(note, f"gsomia/{node.party}", ed25519_keys(node))
    checkpoint = parse_checkpoint(note.text)
    return checkpoint.size, checkpoint.root


def test_proofs_by_index_and_consistency(trio: dict[str, NodeProc]) -> None:
    kor = trio["KOR"]
    old_size, old_root = signed_checkpoint(kor)
    r = httpx.post(
        f"{kor.api_root}collections/{collection_at(kor)}/objects/",
        headers=HEADERS,
        auth=kor.auth(),
        content=orjson.dumps(report(2)),
    )
    assert r.status_code == 202
    size, root = signed_checkpoint(kor)
    assert size > old_size > 0

    doc = get(kor, "proof/inclusion", index=size - 1, size=size).json()
    assert "entry" not in doc
    assert parse_checkpoint(parse_note(doc["checkpoint"].encode()).text).root == root
    proof = InclusionProof.from_json(doc["proof"])
    verify_inclusion(proof.leaf_hash, size - 1, size, proof.path, root)

    doc = get(kor, "proof/consistency", old=old_size, new=size).json()
    consistency = ConsistencyProof.from_json(doc["proof"])
    assert (consistency.old_size, consistency.new_size) == (old_size, size)
    verify_consistency(old_size, size, old_root, root, consistency.path)
    with pytest.raises(VerificationFailed, match="consistency"):
        verify_consistency(old_size, size, hash_leaf(b"another history"), root, consistency.path)

    assert get(kor, "proof/consistency", old=size + 1000).status_code == 422
    assert get(kor, "proof/inclusion").status_code == 400
    assert get(kor, "proof/inclusion", index="x").status_code == 400
    assert get(kor, "proof/inclusion", index=0, size=10**9).status_code == 422


def test_signing_a_checkpoint_is_for_admins(trio: dict[str, NodeProc]) -> None:
    kor = trio["KOR"]
    url = f"{kor.url}/native/v1/log/checkpoint"
    assert httpx.post(url, auth=kor.auth("analyst")).status_code == 403
    r = httpx.post(url, auth=kor.auth("admin"))
    assert r.status_code == 200
    assert r.json()["origin"] == "gsomia/KOR"
    assert httpx.get(url).status_code == 401


def test_unsigned_peer_requests_are_refused(trio: dict[str, NodeProc]) -> None:
    kor = trio["KOR"]
    r = httpx.get(f"{kor.url}/peer/v1/log/checkpoint?from=0")
    assert r.status_code == 401
    r = httpx.post(f"{kor.url}/peer/v1/log/cosignature", content=b'{"checkpoint": "x"}')
    assert r.status_code == 401


def _rewrite_log(node: NodeProc, size: int) -> None:
    """As a dishonest operator would: replace the node's log by another history of ``size``."""
    path = node.data / "node.sqlite3"
    with sqlite3.connect(path) as con:
        con.execute("DELETE FROM entries")
        con.execute("DELETE FROM nodes")
        con.execute("DELETE FROM checkpoints")
    con.close()
    with SqliteLogStore(path) as store:
        TransparencyLog(store, f"gsomia/{node.party}").append(
            {
                "v": 1,
                "type": "agreement.event",
                "at": "2026-01-01T00:00:00+00:00",
                "party": node.party,
                "agreement": "rewritten",
                "event": "forged",
                "note": f"entry {i}",
            }
            for i in range(size)
        )


def test_a_peers_rewritten_history_is_refused(trio: dict[str, NodeProc]) -> None:
    kor, jpn = trio["KOR"], trio["JPN"]

    def jpn_cosigned() -> dict[str, Any] | None:
        w: dict[str, Any] | None = get(kor, "witnessed").json()["JPN"]
        return w if w is not None and w["size"] > 0 else None

    until(jpn_cosigned, "KOR co-signing JPN's log")
    jpn.stop()
    before = jpn_cosigned()
    assert before is not None
    _rewrite_log(jpn, before["size"])
    jpn.start()

    def split_view() -> dict[str, Any] | None:
        views = get(kor, "split-views").json()
        return next(
            (v for v in views["split_views"] if v["origin"] == "gsomia/JPN"),
            None,
        )

    view = until(split_view, "KOR recording JPN's split view")
    assert view["size"] == before["size"]
    roots = {
        parse_checkpoint(parse_note(v.encode()).text).root for v in (view["first"], view["second"])
    }
    assert len(roots) == 2
    refusals = get(kor, "split-views").json()["refusals"]
    assert any(f["party"] == "JPN" and f["reason"].startswith("conflict") for f in refusals)
    # KOR still holds JPN's history as it co-signed it, and co-signs nothing else of JPN
    assert jpn_cosigned() == before
