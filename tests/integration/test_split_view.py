"""Split views between live nodes, and proofs that never sign.

KOR's operator (played by this test, with KOR's key files) shows JPN one history of its log and
USA another of the same size; each witness co-signs what it was shown. The witnesses then tell
each other what they co-signed, catch the split view, keep both signed notes as evidence, report
it (native API, console, ``gsomia log verify`` exit 5), and refuse every later checkpoint of KOR,
also after a restart. Shown histories of two sizes, the witnesses ask KOR to prove the smaller
a prefix of the larger: an honest growth passes, a fork after a common prefix is caught. Separately: a proof asked for past the end of what is signed signs
nothing, and a proof of a hidden item is answered as for a missing one.
"""

from __future__ import annotations

import base64
import dataclasses
import re
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest

from gsomia.ledger.log import TransparencyLog
from gsomia.ledger.note import NoteSigner, parse_checkpoint, parse_note, verify_note_signature
from gsomia.ledger.proofs import InclusionProof
from gsomia.ledger.verify import verify_inclusion
from gsomia.seal.keys import KeyRing
from gsomia.store.sqlite_log import SqliteLogStore

from .native_client import collection_at, log_get, wait_until
from .nodes import PASSPHRASE, TAXII, NodeProc, make_nodes, report
from .sse import tune

HEADERS = {"Accept": TAXII, "Content-Type": TAXII}
CREATED = "2026-01-01T00:00:00.000Z"
CLI = (sys.executable, "-c", "from gsomia.cli.app import main; main()")


def item_id(n: int) -> str:
    return f"report--00000000-0000-4000-8000-{n:012d}/{CREATED}"


# ------------------------------------------------------------------ KOR, playing two histories
def event(i: int, note: str) -> dict[str, Any]:
    return {
        "v": 1,
        "type": "agreement.event",
        "at": "2026-01-01T00:00:00+00:00",
        "party": "KOR",
        "agreement": f"agreement-{i}",
        "event": "notice",
        "note": note,
    }


until = partial(wait_until, timeout=30.0)  # witnesses work in rounds: allow a few


@dataclass
class History:
    """One history of KOR's log, signed with KOR's key: what a witness is served from it."""

    home: Path
    signer: NoteSigner
    label: str
    common: int = 0  # the first ``common`` entries are those of the history labelled ``base``
    base: str = ""
    size: int = 0
    root: bytes = b""
    served: dict[int, bytes] = field(default_factory=dict)  # from-size -> response body

    def grow(self, to: int) -> None:
        """Append entries up to ``to``, sign a checkpoint, precompute the peer answers."""
        with SqliteLogStore(self.home / "log.sqlite3") as store:
            log = TransparencyLog(store, "gsomia/KOR")
            start = log.size()
            log.append(
                event(i, f"{self.base if i < self.common else self.label} {i}")
                for i in range(start, to)
            )
            stored, _ = log.checkpoint(self.signer)
            served = {
                old: orjson.dumps(
                    {
                        "checkpoint": stored.note.decode(),
                        "consistency": log.consistency_proof(old, to).to_json(),
                    }
                )
                for old in range(to + 1)
            }
        self.size, self.root, self.served = to, stored.root, served

    def prove(self, old: int, new: int) -> bytes | None:
        """KOR's answer to a consistency proof asked for, from this history as it is now (None:
        it is too small)."""
        with SqliteLogStore(self.home / "log.sqlite3") as store:
            log = TransparencyLog(store, "gsomia/KOR")
            if not 0 <= old <= new <= log.size():
                return None
            proof = log.consistency_proof(old, new)
        return orjson.dumps({"proof": proof.to_json(), "checkpoint": None})


class ForkingKor:
    """An HTTP server on KOR's address answering each witness from the history chosen for it."""

    def __init__(self, port: int, shown: dict[str, History]) -> None:
        self.shown = shown
        self.cosigned: list[tuple[str, str]] = []  # (witness, note) brought back
        self.asked: list[tuple[str, str, int]] = []  # (witness, path, status) of every GET
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                witness = self.headers.get("X-Gsomia-Party", "")
                history = outer.shown.get(witness)
                if url.path == "/peer/v1/log/consistency" and history is not None:
                    q = parse_qs(url.query)
                    proof = history.prove(int(q["old"][0]), int(q["new"][0]))
                    outer.asked.append((witness, url.path, 422 if proof is None else 200))
                    self._answer(422, b'{"error": "bad_input"}') if proof is None else self._answer(
                        200, proof
                    )
                    return
                outer.asked.append((witness, url.path, 0))
                if url.path != "/peer/v1/log/checkpoint" or history is None:
                    self._answer(404, b'{"error": "not_found"}')
                    return
                frm = int(parse_qs(url.query).get("from", ["0"])[0])
                body = history.served.get(frm)
                self._answer(200, body) if body else self._answer(422, b"{}")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                witness = self.headers.get("X-Gsomia-Party", "")
                outer.cosigned.append((witness, orjson.loads(body)["checkpoint"]))
                self._answer(200, b'{"added": []}')

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def fork(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("split")
    nodes = make_nodes(root)
    kor = nodes["KOR"]
    _, seed = KeyRing.load(kor.data, passphrase=PASSPHRASE.encode()).note_signer()
    signer = NoteSigner("gsomia/KOR", seed)
    histories = {}
    for party, label in (("JPN", "one history"), ("USA", "another history")):
        (root / label).mkdir()
        histories[party] = History(root / label, signer, label)
        histories[party].grow(3)
    assert histories["JPN"].root != histories["USA"].root
    witnesses = [nodes["JPN"], nodes["USA"]]
    for node in witnesses:
        tune(node, cosign_interval=0.25)
    with ForkingKor(kor.port, histories) as forking:
        try:
            for node in witnesses:
                node.start()
            yield {"nodes": nodes, "histories": histories, "kor": forking}
        finally:
            for node in witnesses:
                node.stop()


def kor_keys(nodes: dict[str, NodeProc]) -> list[bytes]:
    ring = KeyRing.load(nodes["KOR"].data, passphrase=PASSPHRASE.encode())
    return [keys.ed25519 for keys in ring.own_public()]


def cosigned_kor(node: NodeProc) -> dict[str, Any] | None:
    w: dict[str, Any] | None = log_get(node, "witnessed").json()["KOR"]
    return w


def split_view_at(node: NodeProc) -> dict[str, Any] | None:
    doc = log_get(node, "split-views").json()
    return next((v for v in doc["split_views"] if v["origin"] == "gsomia/KOR"), None)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_two_witnesses_shown_two_histories_catch_the_split_view(fork: dict[str, Any]) -> None:
    nodes, histories, forking = fork["nodes"], fork["histories"], fork["kor"]
    jpn, usa = nodes["JPN"], nodes["USA"]
    # each witness co-signed the history it was shown, and KOR got both co-signatures
    for node in (jpn, usa):
        done = until(partial(cosigned_kor, node), f"{node.party} co-signing KOR")
        assert (done["size"], done["root"]) == (3, b64(histories[node.party].root))
    until(
        lambda: {w for w, _ in forking.cosigned} >= {"JPN", "USA"} or None,
        "KOR receiving both co-signatures",
    )
    # the witnesses told each other what they co-signed: both see the split view
    keys = kor_keys(nodes)
    want = {b64(histories["JPN"].root), b64(histories["USA"].root)}
    for node in (jpn, usa):
        view = until(partial(split_view_at, node), f"{node.party} catching the split view")
        assert view["size"] == 3
        assert set(view["roots"]) == want
        # kept as evidence anyone can check: two notes, each signed with KOR's key
        roots = set()
        for text in (view["first"], view["second"]):
            note = parse_note(text.encode())
            verify_note_signature(note, "gsomia/KOR", keys)
            roots.add(b64(parse_checkpoint(note.text).root))
        assert roots == want
        doc = log_get(node, "split-views").json()
        assert doc["refused_origins"] == ["gsomia/KOR"]
        assert any("split view" in f["reason"] for f in doc["refusals"] if f["party"] == "KOR")


def console_client(node: NodeProc, user: str = "analyst") -> httpx.Client:
    client = httpx.Client(base_url=node.url, timeout=10)
    form = client.get("/console/login")
    found = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert found is not None, form.text
    r = client.post("/console/login", data={"csrf": found.group(1), "token": node.users[user]})
    assert r.status_code == 303, r.text
    return client


def test_the_console_log_page_shows_the_evidence(fork: dict[str, Any]) -> None:
    nodes, histories = fork["nodes"], fork["histories"]
    jpn = nodes["JPN"]
    until(lambda: split_view_at(jpn), "JPN catching the split view")
    client = console_client(jpn)
    try:
        page = client.get("/console/log")
    finally:
        client.close()
    assert page.status_code == 200
    section = page.text[page.text.index('id="split-views"') :]
    assert 'data-origin="gsomia/KOR" data-size="3"' in section
    for party in ("JPN", "USA"):
        assert b64(histories[party].root) in section
    assert "no longer co-signed" in section


def refusal_of_size(node: NodeProc, size: int) -> dict[str, Any] | None:
    refusals = log_get(node, "split-views").json()["refusals"]
    return next((f for f in refusals if f["party"] == "KOR" and f["size"] == size), None)


def test_later_checkpoints_are_refused_also_after_a_restart(fork: dict[str, Any]) -> None:
    nodes, histories, forking = fork["nodes"], fork["histories"], fork["kor"]
    jpn = nodes["JPN"]
    until(lambda: split_view_at(jpn), "JPN catching the split view")
    # KOR goes on with the history JPN co-signed: a consistent extension, refused all the same
    histories["JPN"].grow(4)
    refused = until(lambda: refusal_of_size(jpn, 4), "JPN refusing KOR's checkpoint of size 4")
    assert "no longer co-signed" in refused["reason"]
    assert cosigned_kor(jpn) is not None
    assert cosigned_kor(jpn)["size"] == 3  # type: ignore[index]
    jpn.stop()
    jpn.start()
    histories["JPN"].grow(5)
    refused = until(lambda: refusal_of_size(jpn, 5), "JPN refusing KOR's checkpoint after restart")
    assert "no longer co-signed" in refused["reason"]
    assert cosigned_kor(jpn)["size"] == 3  # type: ignore[index]
    sizes = {parse_checkpoint(parse_note(n.encode()).text).size for w, n in forking.cosigned}
    assert max(sizes) == 3  # no co-signature of KOR beyond what was co-signed before


def test_log_verify_exits_with_the_split_view_code(fork: dict[str, Any]) -> None:
    jpn = fork["nodes"]["JPN"]
    until(lambda: split_view_at(jpn), "JPN catching the split view")
    proc = subprocess.run(
        [*CLI, "log", "verify", "--home", str(jpn.data)],
        capture_output=True,
        text=True,
        env=jpn.env,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 5, (proc.stdout, proc.stderr)
    assert proc.stderr.startswith("error: split view")
    assert "gsomia/KOR (size 3)" in proc.stderr
    assert "split view: gsomia/KOR signed two histories (from size 3)" in proc.stdout


# ------------------------------------------------------------------ histories of two sizes
@pytest.fixture(scope="module")
def sizes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """KOR shows JPN its history at size 3 and USA the same history at size 5: an honest growth.
    Yields once both co-signed what they were shown."""
    root = tmp_path_factory.mktemp("sizes")
    nodes = make_nodes(root)
    _, seed = KeyRing.load(nodes["KOR"].data, passphrase=PASSPHRASE.encode()).note_signer()
    signer = NoteSigner("gsomia/KOR", seed)
    (root / "one").mkdir()
    honest = History(root / "one", signer, "one history")
    honest.grow(3)
    shown = {"JPN": dataclasses.replace(honest)}  # the history as it was at size 3
    honest.grow(5)
    shown["USA"] = honest
    witnesses = [nodes["JPN"], nodes["USA"]]
    for node in witnesses:
        tune(node, cosign_interval=0.25)
    with ForkingKor(nodes["KOR"].port, shown) as kor:
        try:
            for node in witnesses:
                node.start()
            for node, size in ((nodes["JPN"], 3), (nodes["USA"], 5)):
                until(
                    lambda n=node, s=size: (cosigned_kor(n) or {}).get("size") == s or None,  # type: ignore[misc]
                    f"{node.party} co-signing KOR at size {size}",
                )
            yield {"nodes": nodes, "root": root, "signer": signer, "honest": honest, "kor": kor}
        finally:
            for node in witnesses:
                node.stop()


def asked_since(kor: ForkingKor, witness: str, path: str, start: int = 0) -> int | None:
    """The position of the first request of ``witness`` for ``path`` from ``start`` on."""
    return next(
        (i for i, (w, p, _) in enumerate(kor.asked) if i >= start and (w, p) == (witness, path)),
        None,
    )


def test_an_honest_growth_between_two_sizes_raises_no_evidence(sizes: dict[str, Any]) -> None:
    nodes, kor = sizes["nodes"], sizes["kor"]
    for party in ("JPN", "USA"):
        # each witness learnt of the other size by gossip and asked KOR for a proof of 3 to 5...
        asked = until(
            lambda p=party: asked_since(kor, p, "/peer/v1/log/consistency"),  # type: ignore[misc]
            f"{party} asking KOR for a consistency proof",
        )
        assert kor.asked[asked][2] == 200
        # ...and judged it before its next round asked KOR for its checkpoint again
        until(
            lambda p=party, a=asked: asked_since(kor, p, "/peer/v1/log/checkpoint", a + 1),  # type: ignore[misc]
            f"{party}'s next round",
        )
        doc = log_get(nodes[party], "split-views").json()
        assert doc["split_views"] == []
        assert doc["refused_origins"] == []
        assert not [f for f in doc["refusals"] if f["party"] == "KOR"]


def test_a_fork_shown_at_two_sizes_is_caught(sizes: dict[str, Any]) -> None:
    nodes, kor, honest = sizes["nodes"], sizes["kor"], sizes["honest"]
    jpn, usa = nodes["JPN"], nodes["USA"]
    # KOR forks after the 3 entries JPN co-signed: JPN is shown 7 entries that extend what it
    # co-signed, but whose entries 3 and 4 are not those USA co-signed at size 5.
    (sizes["root"] / "fork").mkdir()
    fork = History(sizes["root"] / "fork", sizes["signer"], "a fork", common=3, base="one history")
    fork.grow(7)
    kor.shown["JPN"] = fork
    done = until(lambda: (cosigned_kor(jpn) or {}).get("size") == 7 or None, "JPN co-signing 7")
    assert done is True
    assert (cosigned_kor(usa) or {})["size"] == 5
    want = {b64(fork.root), b64(honest.root)}
    keys = kor_keys(nodes)
    # JPN gets a proof of 5 to 7 from its fork, which does not verify against USA's root;
    # USA, shown only 5 entries, gets a refusal: both keep the evidence
    for node in (jpn, usa):
        view = until(partial(split_view_at, node), f"{node.party} catching the fork")
        assert view["size"] == 5
        assert sorted(view["sizes"]) == [5, 7]
        assert set(view["roots"]) == want
        for text in (view["first"], view["second"]):
            verify_note_signature(parse_note(text.encode()), "gsomia/KOR", keys)
        doc = log_get(node, "split-views").json()
        assert doc["refused_origins"] == ["gsomia/KOR"]
        reasons = [f["reason"] for f in doc["refusals"] if f["party"] == "KOR"]
        assert any("did not prove its checkpoint of size 5 consistent" in r for r in reasons)
    # and later checkpoints of KOR are no longer co-signed
    fork.grow(8)
    refused = until(lambda: refusal_of_size(jpn, 8), "JPN refusing KOR's checkpoint of size 8")
    assert "no longer co-signed" in refused["reason"]
    assert (cosigned_kor(jpn) or {})["size"] == 7
    proc = subprocess.run(
        [*CLI, "log", "verify", "--home", str(usa.data)],
        capture_output=True,
        text=True,
        env=usa.env,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 5, (proc.stdout, proc.stderr)
    assert "gsomia/KOR (size 5)" in proc.stderr


# ------------------------------------------------------------------ reads never sign
@pytest.fixture
def quiet_kor(tmp_path: Path) -> Iterator[NodeProc]:
    """KOR alone, signing checkpoints only when an admin asks (no schedule)."""
    node = make_nodes(tmp_path)["KOR"]
    tune(node, cosign_interval=0)
    node.start()
    try:
        yield node
    finally:
        node.stop()


def publish(node: NodeProc, n: int) -> None:
    r = httpx.post(
        f"{node.api_root}collections/{collection_at(node)}/objects/",
        headers=HEADERS,
        auth=node.auth(),
        content=orjson.dumps(report(n)),
        timeout=10,
    )
    assert r.status_code == 202, r.text


def checkpoint_count(node: NodeProc) -> int:
    con = sqlite3.connect(f"file:{node.data / 'node.sqlite3'}?mode=ro", uri=True)
    try:
        return int(con.execute("SELECT COUNT(*) FROM checkpoints").fetchone()[0])
    finally:
        con.close()


def test_a_proof_past_the_signed_end_signs_nothing(quiet_kor: NodeProc) -> None:
    kor = quiet_kor
    publish(kor, 1)
    before = checkpoint_count(kor)
    r = log_get(kor, "proof/inclusion", item=item_id(1))
    assert r.status_code == 404
    assert "no signed checkpoint yet" in r.json()["description"]
    assert log_get(kor, "checkpoint").status_code == 404
    assert checkpoint_count(kor) == before == 0

    signed = httpx.post(f"{kor.url}/native/v1/log/checkpoint", auth=kor.auth("admin"), timeout=10)
    assert signed.status_code == 200
    size = signed.json()["size"]
    publish(kor, 2)  # the log grows past the signed checkpoint
    for params in ({"item": item_id(2)}, {"index": size}, {"index": size + 1000}):
        r = log_get(kor, "proof/inclusion", **params)
        assert r.status_code == 404, (params, r.text)
        assert (
            f"not covered by its latest signed checkpoint (size {size})" in r.json()["description"]
        )
    assert log_get(kor, "proof/consistency", old=size + 1).status_code == 422
    assert checkpoint_count(kor) == 1
    assert log_get(kor, "checkpoint").json()["size"] == size
    # what the signed checkpoint covers is proved against it
    doc = log_get(kor, "proof/inclusion", item=item_id(1)).json()
    proof = InclusionProof.from_json(doc["proof"])
    root = parse_checkpoint(parse_note(doc["checkpoint"].encode()).text).root
    verify_inclusion(proof.leaf_hash, proof.index, size, proof.path, root)
    assert checkpoint_count(kor) == 1


def test_a_proof_of_a_hidden_item_is_answered_as_for_a_missing_one(quiet_kor: NodeProc) -> None:
    kor = quiet_kor
    publish(kor, 1)  # SECRET, dprk.missile: "low" is cleared below it, for dprk.nuclear only
    httpx.post(f"{kor.url}/native/v1/log/checkpoint", auth=kor.auth("admin"), timeout=10)
    assert log_get(kor, "proof/inclusion", item=item_id(1)).status_code == 200
    hidden, missing = item_id(1), item_id(999)
    for extra in ({}, {"type": "item.published"}, {"size": "1"}):
        seen = log_get(kor, "proof/inclusion", user="low", item=hidden, **extra)
        none = log_get(kor, "proof/inclusion", user="low", item=missing, **extra)
        assert seen.status_code == none.status_code == 404
        assert seen.content.replace(hidden.encode(), b"ID") == none.content.replace(
            missing.encode(), b"ID"
        )
        assert seen.headers.keys() == none.headers.keys()
