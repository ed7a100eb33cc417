"""The event loop never waits on a publish: while a 3,000-object envelope is validated, sealed,
stored and logged at a real node (``gsomia serve``, loopback), GETs and an event stream keep
answering — each far faster than the publish itself.

Bounds are relative to the publish's own measured duration (every GET during it answered in
under a fifth of it, the stream's heartbeats never further apart than that), never absolute
times a loaded machine would break."""

from __future__ import annotations

import copy
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.integration.nodes import TAXII, NodeProc, make_nodes, report, running
from tests.integration.sse import tune

OBJECTS = 3000
HEARTBEAT = 0.05


def big_envelope() -> dict[str, Any]:
    one = report(1)
    extension, marking, obj = one["objects"]
    objects = [extension, marking]
    for n in range(OBJECTS):
        item = copy.deepcopy(obj)
        item["id"] = f"report--00000000-0000-4000-9000-{n:012d}"
        item["name"] = f"Report {n}"
        objects.append(item)
    return {"objects": objects}


class Heartbeats(threading.Thread):
    """Reads the node's event stream, noting when each line arrives."""

    def __init__(self, node: NodeProc) -> None:
        super().__init__(daemon=True)
        self.node = node
        self.arrivals: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with (
            httpx.Client(timeout=httpx.Timeout(10.0, read=None)) as client,
            client.stream(
                "GET",
                f"{self.node.url}/native/v1/events",
                auth=self.node.auth(),
                headers={"Accept": "text/event-stream"},
            ) as response,
        ):
            for line in response.iter_lines():
                if line.startswith(":"):
                    self.arrivals.append(time.monotonic())
                if self.stop.is_set():
                    return


def test_gets_and_event_streams_answer_while_a_large_publish_is_written(tmp_path: Path) -> None:
    nodes = make_nodes(tmp_path, parties=("KOR", "USA"))
    kor = nodes["KOR"]
    text = kor.config.read_text(encoding="utf-8")
    kor.config.write_text(
        text.replace("max_content_length = 1048576", "max_content_length = 16777216"),
        encoding="utf-8",
    )
    tune(kor, event_heartbeat=HEARTBEAT, cosign_interval=0)
    body = orjson.dumps(big_envelope())
    own = f"{kor.api_root}collections/originated-KOR/objects/"
    with running({"KOR": kor}):
        stream = Heartbeats(kor)
        stream.start()
        published: dict[str, Any] = {}

        def publish() -> None:
            with httpx.Client(timeout=120) as client:
                published["start"] = time.monotonic()
                response = client.post(
                    own,
                    content=body,
                    auth=kor.auth(),
                    headers={"Accept": TAXII, "Content-Type": TAXII},
                )
                published["end"] = time.monotonic()
                published["response"] = response

        publisher = threading.Thread(target=publish)
        gets: list[tuple[float, float]] = []
        with httpx.Client(timeout=60, auth=kor.auth(), headers={"Accept": TAXII}) as client:
            client.get(own, params={"limit": 5})  # a connection and a worker thread, warm
            publisher.start()
            while publisher.is_alive():
                start = time.monotonic()
                response = client.get(own, params={"limit": 5})
                gets.append((start, time.monotonic()))
                assert response.status_code == 200, response.text
        publisher.join()
        stream.stop.set()
    response = published["response"]
    assert response.status_code == 202, response.text
    assert response.json()["success_count"] == OBJECTS + 2  # the items, their label, gsomia's
    t0, t1 = published["start"], published["end"]
    took = t1 - t0
    during = [(s, e) for s, e in gets if s >= t0 and e <= t1]
    assert len(during) >= 5, (len(during), took)
    slowest = max(e - s for s, e in during)
    assert slowest < took / 5, (slowest, took)
    beats = [t for t in stream.arrivals if t0 <= t <= t1]
    assert len(beats) >= 3, (len(beats), took)
    gaps = [b - a for a, b in zip([t0, *beats], [*beats, t1], strict=True)]
    assert max(gaps) < took / 5, (max(gaps), took)
