"""Missile-warning tracks between three real nodes on loopback (issue 15).

Two sets of nodes, each started once for the module:

- ``lapse``: scenario lapse-2019 on the real clock (2026): KOR and JPN have no agreement of
  their own (GSOMIA ended 2019-11-23), so a KOR track reaches JPN only through USA, the hub,
  on the 2023 link's standing consent (route ["KOR", "USA"]);
- ``crossing``: lapse-2019 with every node's scenario clock a few seconds before GSOMIA ends
  (2019-11-23T00:00+09:00) at speed 1: a track streamed across the instant; after it, before
  2023-12-19, the hub relays a KOR track to JPN only once KOR has consented (explicit consent).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from gsomia.domain.labels import Label
from gsomia.domain.tracks import TrackUpdate
from gsomia.node import federation
from gsomia.node.tracks import frames_body
from gsomia.seal.service import sealed_label
from gsomia.seal.tracks import FramePlan, TrackSealer
from tests.integration.nodes import NodeProc, make_nodes, opened
from tests.trackdata import label_doc, new_track, update_doc

LAPSE = datetime(2019, 11, 23, tzinfo=UTC) - timedelta(hours=9)  # 2019-11-23T00:00+09:00
LEAD = 40.0  # wall seconds from the start of the crossing nodes to the lapse (they start in ~25 s on 2 CPUs)


def update(track: str, seq: int) -> dict[str, Any]:
    return update_doc(track, seq, at="2026-01-01T00:00:00Z", lat=39.0 + seq / 1000)


def post(node: NodeProc, track: str, seqs: range | list[int]) -> httpx.Response:
    return httpx.post(
        f"{node.url}/native/v1/tracks/{track}/updates",
        json={"label": label_doc(track), "updates": [update(track, s) for s in seqs]},
        auth=node.auth(),
        timeout=10,
    )


class Stream:
    """A user's track stream read on a thread: the events so far, as decoded."""

    def __init__(self, node: NodeProc, track: str | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        params = {} if track is None else {"track": track}
        self._thread = threading.Thread(target=self._read, args=(node, params), daemon=True)
        self._thread.start()
        assert self._ready.wait(10)

    def _read(self, node: NodeProc, params: dict[str, str]) -> None:
        with (
            httpx.Client(timeout=httpx.Timeout(5, read=None)) as client,
            client.stream(
                "GET", f"{node.url}/native/v1/tracks/stream", params=params, auth=node.auth()
            ) as r,
        ):
            self._ready.set()
            for line in r.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith("data: "):
                    self.events.append(orjson.loads(line[6:]))

    def seqs(self, track: str) -> list[int]:
        return [e["update"]["seq"] for e in self.events if e["track"] == track]

    def wait(self, track: str, count: int, seconds: float = 10) -> list[int]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and len(self.seqs(track)) < count:
            time.sleep(0.02)
        return self.seqs(track)

    def close(self) -> None:
        self._stop.set()


def start(nodes: dict[str, NodeProc]) -> None:
    """Start the nodes side by side (each waits for its own health)."""
    threads = [threading.Thread(target=node.start) for node in nodes.values()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for node in nodes.values():
        assert node.proc is not None
        assert node.proc.poll() is None, node.log.read_text()[-2000:]


@pytest.fixture(scope="module")
def lapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, NodeProc]]:
    nodes = make_nodes(tmp_path_factory.mktemp("lapse"), scenario="lapse-2019")
    try:
        start(nodes)
        yield nodes
    finally:
        for node in nodes.values():
            node.stop()


@pytest.fixture(scope="module")
def crossing(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[dict[str, NodeProc], float]]:
    nodes = make_nodes(tmp_path_factory.mktemp("crossing"), scenario="lapse-2019")
    wall = datetime.now(UTC)
    sim = ("--sim-start", (LAPSE - timedelta(seconds=LEAD)).isoformat(), "--sim-wall")
    for node in nodes.values():
        node.serve_args = (*sim, wall.isoformat(), "--sim-speed", "1")
    try:
        start(nodes)
        yield nodes, wall.timestamp() + LEAD
    finally:
        for node in nodes.values():
            node.stop()


def test_a_track_crossing_the_instant_gsomia_ends(
    crossing: tuple[dict[str, NodeProc], float],
) -> None:
    nodes, lapse_wall = crossing
    kor, jpn, usa = nodes["KOR"], nodes["JPN"], nodes["USA"]
    track = new_track()
    at_jpn, at_usa = Stream(jpn, track), Stream(usa, track)
    before: list[int] = []
    after: list[int] = []
    seq = 0
    try:
        while time.time() < lapse_wall - 3:
            time.sleep(0.1)
        while time.time() < lapse_wall + 2:
            seq += 1
            sent = time.time()
            assert post(kor, track, [seq]).status_code == 202
            done = time.time()
            if done < lapse_wall - 0.5:
                before.append(seq)
            elif sent > lapse_wall + 0.5:
                after.append(seq)
            time.sleep(0.1)
        assert before, "the nodes started too late to stream before the instant"
        assert after
        assert at_usa.wait(track, seq) == list(range(1, seq + 1))
        got = at_jpn.wait(track, len(before))
        time.sleep(0.5)  # anything after the instant would have come by now
        got = at_jpn.seqs(track)
        assert set(before) <= set(got)
        assert not set(after) & set(got)
        assert all(e["route"] == ["KOR"] for e in at_jpn.events)
    finally:
        at_jpn.close()
        at_usa.close()


def test_a_hub_relays_under_standing_consent(lapse: dict[str, NodeProc]) -> None:
    kor, jpn, usa = lapse["KOR"], lapse["JPN"], lapse["USA"]
    track = new_track()
    at_jpn = Stream(jpn)
    try:
        for first in range(1, 41, 10):
            assert post(kor, track, range(first, first + 10)).status_code == 202
        assert at_jpn.wait(track, 40) == list(range(1, 41))
        assert {tuple(e["route"]) for e in at_jpn.events if e["track"] == track} == {("KOR", "USA")}
        listed = httpx.get(f"{usa.url}/native/v1/tracks", auth=usa.auth()).json()["tracks"]
        assert [t["last_seq"] for t in listed if t["track"] == track] == [40]
    finally:
        at_jpn.close()


def test_hidden_tracks_are_not_found(lapse: dict[str, NodeProc]) -> None:
    kor, jpn = lapse["KOR"], lapse["JPN"]
    track = new_track()
    assert post(kor, track, [1]).status_code == 202
    low = httpx.get(f"{kor.url}/native/v1/tracks/{track}", auth=kor.auth("low"))
    missing = httpx.get(f"{kor.url}/native/v1/tracks/{new_track()}", auth=kor.auth("low"))
    assert low.status_code == missing.status_code == 404
    assert low.json()["description"].replace(track, "") == missing.json()["description"].replace(
        missing.url.path.rsplit("/", 1)[1], ""
    )
    seen = httpx.get(f"{kor.url}/native/v1/tracks/{track}", auth=kor.auth())
    assert seen.status_code == 200
    assert [u["update"]["seq"] for u in seen.json()["updates"]] == [1]
    assert httpx.get(f"{jpn.url}/native/v1/tracks", auth=jpn.auth("low")).json() == {"tracks": []}


def test_ingest_checks(lapse: dict[str, NodeProc]) -> None:
    kor, usa = lapse["KOR"], lapse["USA"]
    track = new_track()
    assert post(kor, track, [1, 2, 3]).status_code == 202
    again = post(kor, track, [3, 4])
    assert again.status_code == 409
    assert "the last seq accepted is 3" in again.json()["description"]
    unordered = post(kor, track, [5, 4])
    assert unordered.status_code == 422
    assert "updates[1].seq" in unordered.json()["description"]
    elsewhere = post(usa, track, [1])  # USA's node takes no KOR track from a sensor
    assert elsewhere.status_code == 422
    assert "label.originator" in elsewhere.json()["description"]
    other = {**label_doc(track), "releasable_to": ["USA"]}
    changed = httpx.post(
        f"{kor.url}/native/v1/tracks/{track}/updates",
        json={"label": other, "updates": [update(track, 9)]},
        auth=kor.auth(),
    )
    assert changed.status_code == 409
    assert "label" in changed.json()["description"]


def post_many(node: NodeProc, posted: list[dict[str, Any]]) -> httpx.Response:
    return httpx.post(
        f"{node.url}/native/v1/tracks/updates",
        json={"tracks": posted},
        auth=node.auth(),
        timeout=10,
    )


def entry(track: str, seqs: range | list[int]) -> dict[str, Any]:
    return {"label": label_doc(track), "updates": [update(track, s) for s in seqs]}


def test_a_salvo_posted_in_one_request_reaches_the_peer_per_track(
    lapse: dict[str, NodeProc],
) -> None:
    """Several tracks' updates in one post: each track checked as on its own, all or nothing;
    what is taken reaches JPN (through the hub) in order, per track."""
    kor, jpn = lapse["KOR"], lapse["JPN"]
    a, b = new_track(), new_track()
    watch = Stream(jpn)
    try:
        taken = post_many(kor, [entry(a, [1, 2]), entry(b, [1, 2, 3])])
        assert taken.status_code == 202, taken.text
        assert taken.json() == {
            "tracks": [
                {"track": a, "accepted": 2, "last_seq": 2},
                {"track": b, "accepted": 3, "last_seq": 3},
            ],
            "accepted": 5,
        }
        bad = entry(b, [4, 5])
        bad["updates"][1]["position"]["lat"] = 91.0
        refused = post_many(kor, [entry(a, [3]), bad])
        assert refused.status_code == 422
        assert "tracks[1].updates[1]: field 'position'.lat" in refused.json()["description"]
        stale = post_many(kor, [entry(a, [3]), entry(b, [3, 4])])  # b's 3 was taken
        assert stale.status_code == 409
        assert "tracks[1].updates[0].seq" in stale.json()["description"]
        twice = post_many(kor, [entry(a, [3]), entry(a, [4])])
        assert twice.status_code == 422
        assert "tracks[1].label.id" in twice.json()["description"]
        empty = post_many(kor, [])
        assert empty.status_code == 422
        assert "tracks: 1 to 64 tracks" in empty.json()["description"]
        assert post_many(kor, [entry(b, [4]), entry(a, [3, 4])]).status_code == 202
        assert watch.wait(a, 4, 30) == [1, 2, 3, 4]  # nothing of a refused post was taken
        assert watch.wait(b, 4, 30) == [1, 2, 3, 4]
        big = post_many(kor, [entry(a, range(5, 505)), entry(b, range(5, 505))])  # ~0.5 MiB
        assert big.status_code == 202, big.text
        assert big.json()["accepted"] == 1000
        too_many = post_many(kor, [entry(a, range(505, 1005)), entry(b, range(505, 1006))])
        assert too_many.status_code == 422
        assert "at most 1000 updates in all" in too_many.json()["description"]
    finally:
        watch.close()


def test_a_receiver_joining_mid_track_gets_it_so_far_then_live(
    lapse: dict[str, NodeProc],
) -> None:
    kor, usa = lapse["KOR"], lapse["USA"]
    track = new_track()
    assert post(kor, track, range(1, 31)).status_code == 202
    first = Stream(usa, track)
    try:
        assert first.wait(track, 30) == list(range(1, 31))
    finally:
        first.close()
    late = Stream(usa, track)
    try:
        assert late.wait(track, 30) == list(range(1, 31))  # the track so far
        assert post(kor, track, range(31, 36)).status_code == 202
        assert late.wait(track, 35) == list(range(1, 36))  # then live
    finally:
        late.close()


def _frame(kor_proc: NodeProc, track: str, seqs: range, prev: int) -> bytes:
    with opened(kor_proc) as kor:
        lab = Label.from_json(label_doc(track), where="label", scenario=kor.scenario)
        now = kor.clock.now()
        plan = FramePlan(
            "USA",
            sealed_label(kor.scenario, lab, now),
            track,
            now,
            prev,
            tuple(TrackUpdate.from_json(update(track, s), where="u") for s in seqs),
        )
        return TrackSealer(kor.keyring).seal_window([plan])[0]


def _send(kor_proc: NodeProc, usa: NodeProc, frames: list[bytes]) -> httpx.Response:
    body = frames_body(frames)
    with opened(kor_proc) as kor:
        headers = federation.sign_request(
            kor, "USA", body, datetime.now(UTC), method="POST", target="/peer/v1/tracks"
        )
    headers["Content-Type"] = "application/json"
    return httpx.post(f"{usa.url}/peer/v1/tracks", content=body, headers=headers)


def test_tampered_reordered_and_replayed_frames_are_refused(
    lapse: dict[str, NodeProc],
) -> None:
    kor, usa = lapse["KOR"], lapse["USA"]
    track = new_track()
    good = _frame(kor, track, range(1, 4), 0)
    flipped = bytearray(good)
    flipped[len(flipped) // 2] ^= 0x01
    refused = _send(kor, usa, [bytes(flipped)])
    assert 400 <= refused.status_code < 500
    assert refused.status_code != 409
    taken = _send(kor, usa, [good])  # nothing was stored of the tampered one
    assert taken.status_code == 200, taken.text
    assert taken.json() == {"accepted": 1}
    replayed = _send(kor, usa, [good])
    assert replayed.status_code == 409
    assert replayed.json()["next"] == {track: 4}
    gapped = _send(kor, usa, [_frame(kor, track, range(8, 9), 6)])
    assert gapped.status_code == 409
    assert gapped.json()["next"] == {track: 4}
    r = httpx.get(f"{usa.url}/native/v1/tracks/{track}", auth=usa.auth())
    assert [u["update"]["seq"] for u in r.json()["updates"]] == [1, 2, 3]


def test_without_consent_the_hub_relays_nothing(
    crossing: tuple[dict[str, NodeProc], float], tmp_path: Path
) -> None:
    nodes, lapse_wall = crossing
    kor, jpn, usa = nodes["KOR"], nodes["JPN"], nodes["USA"]
    while time.time() < lapse_wall + 0.5:
        time.sleep(0.1)
    track = new_track()
    at_jpn = Stream(jpn, track)
    try:
        assert post(kor, track, range(1, 11)).status_code == 202
        r = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            r = httpx.get(f"{usa.url}/native/v1/tracks/{track}", auth=usa.auth())
            if r.status_code == 200 and r.json()["summary"]["last_seq"] == 10:
                break
            time.sleep(0.05)
        assert r is not None
        assert r.status_code == 200
        time.sleep(0.5)
        assert at_jpn.seqs(track) == []
        assert httpx.get(f"{jpn.url}/native/v1/tracks/{track}", auth=jpn.auth()).status_code == 404
    finally:
        at_jpn.close()
    del tmp_path


def test_with_the_originators_consent_the_hub_relays(
    crossing: tuple[dict[str, NodeProc], float],
) -> None:
    nodes, lapse_wall = crossing
    kor, jpn, usa = nodes["KOR"], nodes["JPN"], nodes["USA"]
    while time.time() < lapse_wall + 0.5:
        time.sleep(0.1)
    track = new_track()
    at_jpn, at_usa = Stream(jpn, track), Stream(usa, track)
    grant = f"{kor.url}/native/v1/tracks/{track}/consents"
    try:
        assert post(kor, track, range(1, 6)).status_code == 202
        assert at_usa.wait(track, 5) == [1, 2, 3, 4, 5]
        analyst = httpx.post(grant, json={"recipient": "JPN", "via": "USA"}, auth=kor.auth())
        assert analyst.status_code == 403
        to_hub = httpx.post(grant, json={"recipient": "USA", "via": "USA"}, auth=kor.auth("admin"))
        assert to_hub.status_code == 422
        assert "via" in to_hub.json()["description"]
        r = httpx.post(grant, json={"recipient": "JPN", "via": "USA"}, auth=kor.auth("admin"))
        assert r.status_code == 201, r.text
        assert (r.json()["track"], r.json()["recipient"], r.json()["via"]) == (track, "JPN", "USA")
        assert at_jpn.seqs(track) == []
        assert post(kor, track, range(6, 16)).status_code == 202
        assert at_jpn.wait(track, 10) == list(range(6, 16))
        assert {tuple(e["route"]) for e in at_jpn.events} == {("KOR", "USA")}
    finally:
        at_jpn.close()
        at_usa.close()
