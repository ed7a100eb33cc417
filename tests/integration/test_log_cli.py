"""`gsomia log ...` end to end: two nodes with real key rings and real SQLite logs."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from gsomia.cli.app import main
from gsomia.ledger.hashing import hash_leaf
from gsomia.ledger.proofs import ConsistencyProof, InclusionProof
from gsomia.ledger.verify import verify_consistency, verify_inclusion
from gsomia.seal.keys import init_keys

DIGEST = "ab" * 32


def entry(i: int, **extra: Any) -> str:
    doc = {
        "v": 1,
        "type": "release.sent",
        "at": "2023-12-19T09:00:00+09:00",
        "party": "KOR",
        "item": f"kor-{i:04d}",
        "recipient": "JPN",
        "digest": DIGEST,
        **extra,
    }
    return orjson.dumps(doc).decode()


class Run:
    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def __call__(self, *argv: str | Path, code: int = 0) -> str:
        got = main([str(a) for a in argv])
        out, err = self.capsys.readouterr()
        assert got == code, (argv, out, err)
        if code:
            assert err.startswith("error: ")
            assert "Traceback" not in err
            return err
        return out

    def json(self, *argv: str | Path) -> Any:
        return orjson.loads(self(*argv, "--json"))


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.delenv("GSOMIA_PASSPHRASE", raising=False)
    monkeypatch.delenv("GSOMIA_HOME", raising=False)
    return Run(capsys)


@pytest.fixture
def homes(tmp_path: Path) -> dict[str, Path]:
    out = {p: tmp_path / p.lower() for p in ("KOR", "JPN")}
    rings = {p: init_keys(h, p, passphrase=None, insecure=True) for p, h in out.items()}
    rings["KOR"].import_peer(rings["JPN"].export_document(), where="test")
    rings["JPN"].import_peer(rings["KOR"].export_document(), where="test")
    return out


def test_append_prove_consistency(run: Run, homes: dict[str, Path]) -> None:
    kor = ("--home", homes["KOR"])
    assert "appended entry 0 to gsomia/KOR (tree size 1)" in run(
        "log", "append", *kor, "--json-entry", entry(0)
    )
    batch = "[" + ",".join(entry(i) for i in range(1, 6)) + "]"
    assert run.json("log", "append", *kor, "--json-entry", batch) == {
        "origin": "gsomia/KOR",
        "first": 1,
        "count": 5,
        "size": 6,
    }
    cp = run.json("log", "checkpoint", *kor)
    assert cp["size"] == 6
    assert cp["checkpoint"].startswith("gsomia/KOR\n6\n")
    assert run("log", "checkpoint", *kor) == cp["checkpoint"]
    doc = run.json("log", "prove", *kor, "--index", "4")
    proof = InclusionProof.from_json(doc)
    assert doc["root"] == cp["root"]
    verify_inclusion(proof.leaf_hash, 4, 6, proof.path, proof.root)
    assert "inclusion of entry 2" in run("log", "prove", *kor, "--index", "2", "--size", "3")
    c = ConsistencyProof.from_json(run.json("log", "consistency", *kor, "3", "6"))
    old = InclusionProof.from_json(
        run.json("log", "prove", *kor, "--index", "0", "--size", "3")
    ).root
    verify_consistency(3, 6, old, proof.root, c.path)
    assert "from size 3 to size 6" in run("log", "consistency", *kor, "3", "6")
    assert proof.leaf_hash == hash_leaf(
        orjson.dumps(orjson.loads(entry(4)), option=orjson.OPT_SORT_KEYS)
    )


def test_bad_input_exits_2(run: Run, homes: dict[str, Path], tmp_path: Path) -> None:
    kor = ("--home", homes["KOR"])
    assert "malformed JSON" in run("log", "append", *kor, "--json-entry", "{", code=2)
    assert "--json-entry.recipient" in run(
        "log", "append", *kor, "--json-entry", entry(0, recipient="x"), code=2
    )
    assert "no UTC offset" in run(
        "log", "append", *kor, "--json-entry", entry(0, at="2023-12-19T09:00:00"), code=2
    )
    assert "no log at" in run("log", "prove", *kor, "--index", "0", code=2)
    run("log", "append", *kor, "--json-entry", entry(0))
    assert "not below" in run("log", "prove", *kor, "--index", "1", code=2)
    assert "between 0 and the log size 1" in run(
        "log", "prove", *kor, "--index", "0", "--size", "5", code=2
    )
    assert "NEW_SIZE <= 1" in run("log", "consistency", *kor, "0", "2", code=2)
    run("log", "consistency", *kor, "x", "2", code=2)
    assert "no keys" in run("log", "checkpoint", "--home", tmp_path / "nobody", code=2)
    assert "no such file" in run(
        "log",
        "cosign",
        tmp_path / "nope",
        "--proof",
        tmp_path / "nope",
        "--home",
        homes["JPN"],
        code=2,
    )
    bad = tmp_path / "bad.json"
    bad.write_text('{"v": 1, "type": "consistency"}')
    note = tmp_path / "cp"
    note.write_text(run("log", "checkpoint", *kor))
    assert "origin" in run("log", "cosign", note, "--proof", bad, "--home", homes["JPN"], code=2)
    garbage = tmp_path / "garbage"
    garbage.write_text("not a note\n")
    proof = tmp_path / "p.json"
    proof.write_text(run("log", "consistency", *kor, "0", "1", "--json"))
    assert "blank line" in run(
        "log", "cosign", garbage, "--proof", proof, "--home", homes["JPN"], code=2
    )


def test_witnessing_across_two_homes(run: Run, homes: dict[str, Path], tmp_path: Path) -> None:
    kor, jpn = ("--home", homes["KOR"]), ("--home", homes["JPN"])
    run("log", "append", *kor, "--json-entry", "[" + ",".join(entry(i) for i in range(4)) + "]")
    cp1, p1, cs1 = tmp_path / "cp1", tmp_path / "p1.json", tmp_path / "cs1"
    cp1.write_text(run("log", "checkpoint", *kor))
    p1.write_text(run("log", "consistency", *kor, "0", "4", "--json"))
    cs1.write_text(run("log", "cosign", cp1, "--proof", p1, *jpn))
    assert "— gsomia/JPN " in cs1.read_text()
    assert "co-signatures of gsomia/JPN" in run("log", "attach", cs1, *kor)
    run("log", "append", *kor, "--json-entry", entry(4))
    cp2, p2 = tmp_path / "cp2.json", tmp_path / "p2.json"
    cp2.write_text(run("log", "checkpoint", *kor, "--json"))
    p2.write_text(run("log", "consistency", *kor, "4", "5", "--json"))
    done = run.json("log", "cosign", cp2, "--proof", p2, *jpn)
    assert (done["size"], done["previous_size"]) == (5, 4)
    report = run.json("log", "verify", *kor)
    assert (report["size"], report["checkpoints"], report["cosignatures"]) == (5, 2, 1)
    assert run.json("log", "verify", *jpn)["witnessed"] == 2
    assert "re-hashed" in run("log", "verify", *kor)


def test_a_rewritten_history_is_refused_and_a_split_view_reported(
    run: Run, homes: dict[str, Path], tmp_path: Path
) -> None:
    kor, jpn = ("--home", homes["KOR"]), ("--home", homes["JPN"])
    run("log", "append", *kor, "--json-entry", "[" + ",".join(entry(i) for i in range(3)) + "]")
    cp, proof = tmp_path / "cp", tmp_path / "p.json"
    cp.write_text(run("log", "checkpoint", *kor))
    proof.write_text(run("log", "consistency", *kor, "0", "3", "--json"))
    run("log", "cosign", cp, "--proof", proof, *jpn)
    # KOR rewrites entry 1 behind its own back, re-signs, and shows JPN the other history.
    con = sqlite3.connect(homes["KOR"] / "log.sqlite3")
    with con:
        con.execute("DELETE FROM checkpoints")
        con.execute("DELETE FROM nodes")
        con.execute("DELETE FROM entries")
    con.close()
    rewritten = [entry(0), entry(1, recipient="USA"), entry(2)]
    run("log", "append", *kor, "--json-entry", "[" + ",".join(rewritten) + "]")
    cp.write_text(run("log", "checkpoint", *kor))
    proof.write_text(run("log", "consistency", *kor, "3", "3", "--json"))
    assert "split view" in run("log", "cosign", cp, "--proof", proof, *jpn, code=5)
    # `log verify` checks the evidence, prints its report, and exits 5 (split view), not 0
    assert "split view: 1 split-view evidence record" in run("log", "verify", *jpn, code=5)
    assert main(["log", "verify", "--json", "--home", str(homes["JPN"])]) == 5
    out, err = run.capsys.readouterr()
    report = orjson.loads(out)
    assert report["split_views"] == 1
    [evidence] = report["split_view_evidence"]
    assert (evidence["origin"], evidence["size"], len(set(evidence["roots"]))) == (
        "gsomia/KOR",
        3,
        2,
    )
    assert err.startswith("error: split view")
    run("log", "append", *kor, "--json-entry", entry(3))
    cp.write_text(run("log", "checkpoint", *kor))
    proof.write_text(run("log", "consistency", *kor, "3", "4", "--json"))
    # KOR signed two histories: none of its checkpoints is co-signed again
    assert "no longer co-signed" in run("log", "cosign", cp, "--proof", proof, *jpn, code=5)
    with sqlite3.connect(homes["JPN"] / "log.sqlite3") as con:
        assert con.execute("SELECT max(size) FROM witnessed").fetchone()[0] == 3
    con.close()


def test_verify_exits_3_naming_the_first_tampered_place(run: Run, homes: dict[str, Path]) -> None:
    kor = ("--home", homes["KOR"])
    run("log", "append", *kor, "--json-entry", "[" + ",".join(entry(i) for i in range(5)) + "]")
    run("log", "checkpoint", *kor)
    run("log", "verify", *kor)
    con = sqlite3.connect(homes["KOR"] / "log.sqlite3", isolation_level=None)
    data = con.execute("SELECT data FROM entries WHERE idx = 3").fetchone()[0]
    con.execute(
        "UPDATE entries SET data = ? WHERE idx = 3", (data.replace(b"kor-0003", b"kor-0004"),)
    )
    assert run("log", "verify", *kor, code=3).startswith("error: entry 3: ")
    con.execute("UPDATE entries SET data = ? WHERE idx = 3", (data,))
    note = con.execute("SELECT note FROM checkpoints").fetchone()[0]
    con.execute("UPDATE checkpoints SET note = ?", (note.replace(b"\n5\n", b"\n4\n"),))
    assert run("log", "verify", *kor, code=3).startswith("error: checkpoint 1 (size 5): ")
    con.close()
    proc = subprocess.run(
        [sys.executable, "-c", "from gsomia.cli.app import main; main()", "log", "verify", *kor],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 3
    assert proc.stderr.startswith("error: checkpoint 1 (size 5)")


def test_attach_refuses_what_this_log_did_not_issue(
    run: Run, homes: dict[str, Path], tmp_path: Path
) -> None:
    kor, jpn = ("--home", homes["KOR"]), ("--home", homes["JPN"])
    run("log", "append", *kor, "--json-entry", entry(0))
    cp, proof, cosigned = tmp_path / "cp", tmp_path / "p.json", tmp_path / "cs"
    cp.write_text(run("log", "checkpoint", *kor))
    proof.write_text(run("log", "consistency", *kor, "0", "1", "--json"))
    cosigned.write_text(run("log", "cosign", cp, "--proof", proof, *jpn))
    text = cosigned.read_text()
    lines = text.split("\n")
    sig = lines[-2]
    flipped = sig[:-6] + ("A" if sig[-6] != "A" else "B") + sig[-5:]
    cosigned.write_text("\n".join([*lines[:-2], flipped, ""]))
    assert "cosignature of gsomia/JPN" in run("log", "attach", cosigned, *kor, code=3)
    cosigned.write_text(text.replace("gsomia/KOR\n1\n", "gsomia/KOR\n2\n", 1))
    assert "no checkpoint of size 2" in run("log", "attach", cosigned, *kor, code=2)
    assert "not this log's" in run("log", "attach", cp, *jpn, code=2)
    cosigned.write_text(text)
    assert run.json("log", "attach", cosigned, *kor)["added"] == ["gsomia/JPN"]
