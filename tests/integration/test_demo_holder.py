"""`gsomia demo`'s chapter on what a holder owes the originator (DOMAIN.md §7), as a person
runs it: the replay resumed just before 2024, the chapter after its first launch, once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import orjson

from gsomia.cli.demo import CHAPTER_FILE, CHAPTER_FROM, chapter_due, remaining_launches
from gsomia.scenarios import load_scenario
from tests.integration.test_demo import REPLAYED, start_demo, stop
from tests.ports import free_ports


def test_the_demo_shows_a_holders_duties_once(tmp_path: Path) -> None:
    data = tmp_path / "demo-data"
    data.mkdir(mode=0o700)
    launches = remaining_launches(Path("/nonexistent"), load_scenario("historical"))
    first = next(i for i, e in enumerate(launches) if e.instant >= CHAPTER_FROM)
    done = launches[first - 1]
    (data / "replay-progress.json").write_bytes(orjson.dumps({"done": done.id}))
    proc = start_demo(data, free_ports(3), "--speed", "20000000")
    lines: list[str] = []
    stdout = proc.stdout
    assert stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(iter(stdout.readline, "")))
    reader.start()
    try:
        deadline = time.monotonic() + 45
        while not any("holds it now" in x or "5. derived item: FAILED" in x for x in lines):
            assert proc.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.1)
    finally:
        stop(proc)
        reader.join(5)
    out = "".join(lines)
    assert "FAILED" not in out, out
    assert f"replaying {len(REPLAYED) - first} launches" in out
    assert "what a holder owes the originator (DOMAIN.md §7), played once, on 2024-01-14" in out
    assert "1. purpose approval: KOR's warning" in out
    assert "could not read it (404)" in out
    assert "the planner reads it now (200)" in out
    assert "2. accounting: JPN's signed accounting of KOR's items:" in out
    assert "defense.policy ×1" in out  # the planner's read, on the approval
    assert "3. destruction at the originator's request: JPN destroyed" in out
    assert "(reason: originator-request;" in out
    assert "4. reconciliation:" in out
    assert ": 1 finding — see KOR's console → Reconciliation" in out
    assert "destroyed: report--" in out
    assert "(the warning destroyed in step 3)" in out
    assert "(certificate verified)" in out
    assert "5. derived item: JPN's analyst published the assessment" in out
    assert "(assessment), USA's report--" in out
    assert "(translation, ja)" in out
    assert "KOR granted it and USA holds it now" in out
    record = orjson.loads((data / CHAPTER_FILE).read_bytes())
    assert record["failed"] == []
    assert out.count("what a holder owes") == 1
    assert not chapter_due(data, launches[first])  # a resumed demo does not play it again
