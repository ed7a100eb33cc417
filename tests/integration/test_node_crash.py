"""A node killed (SIGKILL) in the middle of a stream of releases, and restarted: nothing
acknowledged is lost, nothing is delivered twice, and every log still verifies."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import orjson

from gsomia.app.stores import open_store
from gsomia.ledger.log import TransparencyLog, origin_of, party_of
from gsomia.seal.at_rest import KeyRingCipher
from gsomia.seal.keys import KeyRing
from tests.backends import Backend

from .native_client import collection_at
from .nodes import PASSPHRASE, TAXII, NodeProc, make_nodes, report

HEADERS = {"Accept": TAXII, "Content-Type": TAXII}


def published_ids(node: NodeProc, originator: str) -> list[str]:
    cid = collection_at(node, originator)
    ids: list[str] = []
    url = (
        f"{node.api_root}collections/{cid}/objects/?limit=500&match[type]=report&match[version]=all"
    )
    while True:
        r = httpx.get(url, headers=HEADERS, auth=node.auth(), timeout=10)
        assert r.status_code == 200, r.text
        body = r.json()
        ids.extend(o["id"] for o in body.get("objects", []))
        if not body["more"]:
            return ids
        url = f"{node.api_root}collections/{cid}/objects/?limit=500&match[type]=report&match[version]=all&next={body['next']}"


def audit_log(node: NodeProc) -> int:
    ring = KeyRing.load(node.data, passphrase=PASSPHRASE.encode())
    store = open_store(node.store, data_dir=node.data, cipher=KeyRingCipher(ring))
    try:
        log = TransparencyLog(store.log_store, origin_of(node.party))

        def keys(name: str) -> list[bytes]:
            party = party_of(name)
            return [] if party is None else ring.peer_ed25519(party)

        log.audit(keys)
        return log.size()
    finally:
        store.close()


def test_sigkill_mid_stream_loses_nothing_and_duplicates_nothing(
    tmp_path: Path, backend: Backend
) -> None:
    nodes = make_nodes(tmp_path, backend=backend)
    kor, jpn, usa = nodes["KOR"], nodes["JPN"], nodes["USA"]
    for node in nodes.values():
        node.start()
    acknowledged: list[str] = []
    stop = threading.Event()

    def publish() -> None:
        cid = collection_at(kor)
        n = 1000
        with httpx.Client(timeout=5) as client:
            while not stop.is_set() and n < 1150:
                n += 1
                try:
                    r = client.post(
                        f"{kor.api_root}collections/{cid}/objects/",
                        headers=HEADERS,
                        auth=kor.auth(),
                        content=orjson.dumps(report(n)),
                    )
                except httpx.HTTPError:
                    time.sleep(0.05)  # KOR is down: the client's request was not acknowledged
                    continue
                if r.status_code == 202:
                    acknowledged.append(f"report--00000000-0000-4000-8000-{n:012d}")
                time.sleep(0.01)

    publisher = threading.Thread(target=publish)
    publisher.start()
    try:
        time.sleep(1.0)
        jpn.kill()  # the receiver dies mid-stream: KOR's outbox keeps the releases
        time.sleep(0.8)
        jpn.start()
        time.sleep(0.8)
        kor.kill()  # the sender dies mid-stream: committed releases are still in its outbox
        time.sleep(0.3)
        kor.start()
        time.sleep(1.0)
    finally:
        stop.set()
        publisher.join(30)
    try:
        assert len(acknowledged) > 20
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            at_jpn, at_usa = published_ids(jpn, "KOR"), published_ids(usa, "KOR")
            if set(acknowledged) <= set(at_jpn) and set(acknowledged) <= set(at_usa):
                break
            time.sleep(0.2)
        at_kor = published_ids(kor, "KOR")
        assert set(acknowledged) <= set(at_kor), "an acknowledged publish was lost at KOR"
        assert set(acknowledged) <= set(at_jpn), "an acknowledged release never reached JPN"
        assert set(acknowledged) <= set(at_usa), "an acknowledged release never reached USA"
        for ids in (at_kor, at_jpn, at_usa):
            assert len(ids) == len(set(ids)), "an item was delivered twice"
        assert set(at_jpn) <= set(at_kor)
    finally:
        for node in nodes.values():
            node.stop()
    for node in nodes.values():
        assert audit_log(node) > 0
