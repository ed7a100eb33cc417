"""The sealing commands as users run them: three homes (KOR, JPN, USA) exchange public keys,
seal, open, verify, release with and without consent, and meet tampering and bad input."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gsomia.cli.app import main

PARTIES = ("KOR", "JPN", "USA")
LABEL = {
    "id": "kor-2024-0007",
    "originator": "KOR",
    "classification": "군사II급비밀",
    "releasable_to": ["JPN", "USA"],
    "topics": ["dprk.missile"],
}
AT = "2024-01-10T09:00:00+09:00"
Capture = pytest.CaptureFixture[bytes]


def run(cap: Capture, *args: str) -> tuple[int, bytes, str]:
    code = main(list(args))
    out, err = cap.readouterr()
    return code, out, err.decode()


def ok(cap: Capture, *args: str) -> bytes:
    code, out, err = run(cap, *args)
    assert code == 0, err
    return out


def ok_json(cap: Capture, *args: str) -> Any:
    return json.loads(ok(cap, *args, "--json"))


def fails(cap: Capture, code: int, *args: str) -> str:
    got, _, err = run(cap, *args)
    assert got == code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in err
    return lines[0]


def quiet(*args: str) -> None:
    """Run a command whose output does not matter (module fixtures have no capture fixture)."""
    out = io.TextIOWrapper(io.BytesIO())
    with contextlib.redirect_stdout(out):
        code = main(list(args))
    assert code == 0, args


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Three homes that trust each other's public keys (plaintext stores, for speed; the
    passphrase and key-file stores have their own tests)."""
    tmp_path = tmp_path_factory.mktemp("world")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("GSOMIA_PASSPHRASE", raising=False)
        mp.delenv("GSOMIA_HOME", raising=False)
        for p in PARTIES:
            quiet("keys", "init", "--party", p, "--home", str(tmp_path / p), "--insecure")
            quiet("keys", "export", "--home", str(tmp_path / p), "-o", str(tmp_path / f"{p}.pub"))
        for p in PARTIES:
            for q in PARTIES:
                if p != q:
                    quiet("keys", "import", str(tmp_path / f"{q}.pub"), "--home", str(tmp_path / p))
        (tmp_path / "label.json").write_text(
            json.dumps(LABEL, ensure_ascii=False), encoding="utf-8"
        )
        (tmp_path / "report.json").write_bytes(b'{"type":"bundle","objects":[]}')
        yield tmp_path


@pytest.fixture
def fresh(world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the world for a test that changes keys."""
    monkeypatch.delenv("GSOMIA_PASSPHRASE", raising=False)
    copy = tmp_path / "world"
    shutil.copytree(world, copy)
    return copy


@pytest.fixture(autouse=True)
def _no_passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GSOMIA_PASSPHRASE", raising=False)
    monkeypatch.delenv("GSOMIA_HOME", raising=False)


_counter = itertools.count()


def _seal(cap: Capture, w: Path, *, to: str = "USA", name: str | None = None) -> Path:
    item = w / (name or f"item-{next(_counter)}.gsm")
    ok(
        cap,
        "seal",
        str(w / "report.json"),
        "--label",
        str(w / "label.json"),
        "--for",
        to,
        "-o",
        str(item),
        "--at",
        AT,
        "--home",
        str(w / "KOR"),
    )
    return item


def test_keys_commands(fresh: Path, capsysbinary: Capture) -> None:
    world = fresh
    listed = ok_json(capsysbinary, "keys", "list", "--home", str(world / "JPN"))
    assert listed["party"] == "JPN"
    assert {k["party"] for k in listed["keys"]} == set(PARTIES)
    rotated = ok_json(capsysbinary, "keys", "rotate", "--home", str(world / "KOR"))
    assert rotated["key"]["generation"] == 1
    exported = ok_json(capsysbinary, "keys", "export", "--home", str(world / "KOR"))
    assert [k["generation"] for k in exported["keys"]] == [0, 1]
    (world / "KOR2.pub").write_text(json.dumps(exported))
    imported = ok_json(
        capsysbinary, "keys", "import", str(world / "KOR2.pub"), "--home", str(world / "JPN")
    )
    assert imported == {"party": "KOR", "keys": [k["id"] for k in exported["keys"]]}
    text = ok(capsysbinary, "keys", "list", "--home", str(world / "JPN")).decode()
    assert "generation 1  current" in text


def test_seal_open_verify_release_with_consent(world: Path, capsysbinary: Capture) -> None:
    cap = capsysbinary
    item = _seal(cap, world)
    assert ok(cap, "open", str(item), "--as", "USA", "--home", str(world / "USA")) == (
        b'{"type":"bundle","objects":[]}'
    )
    fails(cap, 3, "open", str(item), "--as", "JPN", "--home", str(world / "JPN"))
    audit = (world / "JPN" / "audit.jsonl").read_text()
    assert "no wrap for JPN" in audit
    assert "bundle" not in audit

    denied = fails(
        cap,
        4,
        "release",
        str(item),
        "--from",
        "USA",
        "--to",
        "JPN",
        "--at",
        AT,
        "--home",
        str(world / "USA"),
    )
    assert "rule 7 (consent)" in denied

    consent = world / "jpn.consent"
    ok(
        cap,
        "consent",
        "grant",
        str(item),
        "--to",
        "JPN",
        "-o",
        str(consent),
        "--at",
        AT,
        "--home",
        str(world / "KOR"),
    )
    released = ok_json(
        cap,
        "release",
        str(item),
        "--from",
        "USA",
        "--to",
        "JPN",
        "--at",
        "2024-01-10T10:00:00+09:00",
        "--consent",
        str(consent),
        "--home",
        str(world / "USA"),
    )
    assert released["decision"]["decision"] == "allow"
    out = ok_json(cap, "open", str(item), "--as", "JPN", "--home", str(world / "JPN"))
    assert out["bytes"] == 30

    view = ok_json(cap, "verify", str(item), "--home", str(world / "JPN"))
    assert view["originator"] == "KOR"
    assert view["label"]["classification"] == "II"
    assert view["signatures_hold"] is True
    (release,) = view["releases"]
    assert release["holder"] == "USA"
    assert release["recipient"] == "JPN"
    assert release["consent"]["recipient"] == "JPN"
    assert {m["party"]: m["level"] for m in view["equivalent_labels"]} == {
        "USA": "SECRET",
        "JPN": "GOKUHI",
    }
    text = ok(cap, "verify", str(item), "--home", str(world / "KOR")).decode()
    assert "release 1: USA -> JPN" in text
    assert "every signature holds" in text


def test_a_consent_for_another_recipient_or_item_is_refused(
    world: Path, capsysbinary: Capture
) -> None:
    cap = capsysbinary
    item = _seal(cap, world)
    other = _seal(cap, world)
    consent = world / "c"
    ok(
        cap,
        "consent",
        "grant",
        str(other),
        "--to",
        "JPN",
        "-o",
        str(consent),
        "--at",
        AT,
        "--home",
        str(world / "KOR"),
    )
    line = fails(
        cap,
        3,
        "release",
        str(item),
        "--from",
        "USA",
        "--to",
        "JPN",
        "--at",
        AT,
        "--consent",
        str(consent),
        "--home",
        str(world / "USA"),
    )
    assert "another item" in line


def test_tampering_is_exit_3_for_verify_and_open(world: Path, capsysbinary: Capture) -> None:
    cap = capsysbinary
    item = _seal(cap, world)
    raw = bytearray(item.read_bytes())
    raw[len(raw) // 3] ^= 0x01
    item.write_bytes(bytes(raw))
    fails(cap, 3, "open", str(item), "--as", "USA", "--home", str(world / "USA"))
    code, _, err = run(cap, "verify", str(item), "--home", str(world / "USA"))
    assert code in (2, 3), err  # malformed structure is bad input; a broken signature is 3
    assert err.startswith("error: ")


def test_reclassify_appends_a_signed_notice(world: Path, capsysbinary: Capture) -> None:
    cap = capsysbinary
    item = _seal(cap, world)
    ok(
        cap,
        "reclassify",
        str(item),
        "--classification",
        "III",
        "--at",
        AT,
        "--home",
        str(world / "KOR"),
    )
    view = ok_json(cap, "verify", str(item), "--home", str(world / "USA"))
    assert view["classification"] == "III"
    assert view["label"]["classification"] == "II"
    fails(
        cap,
        2,
        "reclassify",
        str(item),
        "--classification",
        "III",
        "--at",
        AT,
        "--home",
        str(world / "USA"),
    )


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["open", "{item}", "--as", "JPN", "--home", "{w}/USA"], "holds the keys of USA"),
        (["open", "{w}/missing.gsm", "--as", "USA", "--home", "{w}/USA"], "no such file"),
        (["open", "{item}", "--as", "USA", "--home", "{w}/nobody"], "no keys under"),
        (
            [
                "seal",
                "{w}/report.json",
                "--label",
                "{w}/report.json",
                "--for",
                "USA",
                "-o",
                "{w}/x",
                "--home",
                "{w}/KOR",
            ],
            "label file",
        ),
        (
            [
                "seal",
                "{w}/report.json",
                "--label",
                "{w}/label.json",
                "--for",
                "USA",
                "-o",
                "{w}/x",
                "--at",
                "2024-01-10T09:00:00",
                "--home",
                "{w}/KOR",
            ],
            "UTC offset",
        ),
        (
            [
                "seal",
                "{w}/report.json",
                "--label",
                "{w}/label.json",
                "--for",
                "",
                "-o",
                "{w}/x",
                "--home",
                "{w}/KOR",
            ],
            "--for",
        ),
        (
            [
                "seal",
                "{w}/report.json",
                "--label",
                "{w}/label.json",
                "--for",
                "USA",
                "-o",
                "{w}/x",
                "--home",
                "{w}/JPN",
            ],
            "not this home's party",
        ),
        (
            ["release", "{item}", "--from", "KOR", "--to", "JPN", "--at", AT, "--home", "{w}/USA"],
            "holds the keys of USA",
        ),
        (
            [
                "release",
                "{item}",
                "--from",
                "USA",
                "--to",
                "JPN",
                "--at",
                "yesterday",
                "--home",
                "{w}/USA",
            ],
            "not an ISO 8601 time",
        ),
        (
            [
                "release",
                "{item}",
                "--from",
                "USA",
                "--to",
                "JPN",
                "--at",
                AT,
                "--scenario",
                "nowhere",
                "--home",
                "{w}/USA",
            ],
            "scenario",
        ),
        (
            ["consent", "grant", "{item}", "--to", "JPN", "-o", "{w}/c", "--home", "{w}/USA"],
            "only the originator",
        ),
        (
            [
                "consent",
                "grant",
                "{item}",
                "--to",
                "JPN",
                "-o",
                "{w}/c",
                "--at",
                AT,
                "--expires",
                "2020-01-01T00:00:00+00:00",
                "--home",
                "{w}/KOR",
            ],
            "expire",
        ),
        (["keys", "import", "{w}/report.json", "--home", "{w}/USA"], "public-key export"),
        (["keys", "init", "--party", "KOR", "--home", "{w}/KOR"], "already exist"),
        (["keys", "list", "--home", "{w}/nobody"], "no keys under"),
        (["verify", "{w}/report.json", "--home", "{w}/USA"], "not a gsomia sealed item"),
        (["open", "{item}", "--home", "{w}/USA"], "--as"),
    ],
)
def test_bad_input_is_exit_2_with_one_error_line(
    world: Path, capsysbinary: Capture, args: list[str], needle: str
) -> None:
    item = world / "shared.gsm"
    if not item.exists():
        _seal(capsysbinary, world, name="shared.gsm")
    argv = [a.format(w=world, item=item) for a in args]
    line = fails(capsysbinary, 2, *argv)
    assert needle in line


def test_a_passphrase_store_and_a_wrong_passphrase(
    tmp_path: Path, capsysbinary: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = str(tmp_path / "KOR")
    monkeypatch.setenv("GSOMIA_PASSPHRASE", "right passphrase")
    ok(capsysbinary, "keys", "init", "--party", "KOR", "--home", home)
    assert "right" not in (tmp_path / "KOR" / "keys" / "keystore.json").read_text()
    ok(capsysbinary, "keys", "rotate", "--home", home)
    monkeypatch.setenv("GSOMIA_PASSPHRASE", "not it, not it at all")
    line = fails(capsysbinary, 2, "keys", "rotate", "--home", home)
    assert "wrong passphrase or corrupted key store" in line
    monkeypatch.delenv("GSOMIA_PASSPHRASE")
    line = fails(capsysbinary, 2, "keys", "rotate", "--home", home)
    assert "GSOMIA_PASSPHRASE" in line
    assert len(ok_json(capsysbinary, "keys", "list", "--home", home)["keys"]) == 2


def test_a_passphrase_shorter_than_12_characters_is_refused(
    tmp_path: Path, capsysbinary: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "KOR"
    monkeypatch.setenv("GSOMIA_PASSPHRASE", "elevenchars")  # 11 characters
    line = fails(capsysbinary, 2, "keys", "init", "--party", "KOR", "--home", str(home))
    assert "the passphrase has 11 characters" in line
    assert "at least 12" in line
    assert not (home / "keys" / "keystore.json").exists()
    monkeypatch.setenv("GSOMIA_PASSPHRASE", "twelve chars")  # 12 characters: enough
    ok(capsysbinary, "keys", "init", "--party", "KOR", "--home", str(home))


def test_insecure_and_key_file_stores(
    tmp_path: Path, capsysbinary: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GSOMIA_PASSPHRASE", raising=False)
    line = fails(capsysbinary, 2, "keys", "init", "--party", "KOR", "--home", str(tmp_path / "a"))
    assert "--insecure" in line
    ok(capsysbinary, "keys", "init", "--party", "KOR", "--home", str(tmp_path / "a"), "--insecure")
    key_file = tmp_path / "k.key"
    ok(
        capsysbinary,
        "keys",
        "init",
        "--party",
        "JPN",
        "--home",
        str(tmp_path / "b"),
        "--key-file",
        str(key_file),
    )
    ok(capsysbinary, "keys", "rotate", "--home", str(tmp_path / "b"), "--key-file", str(key_file))
    fails(capsysbinary, 2, "keys", "rotate", "--home", str(tmp_path / "b"))


def test_the_real_command_in_a_process(world: Path, capsysbinary: Capture) -> None:
    """The installed entry point: a sealed item opens, and a tampered one exits 3."""
    item = _seal(capsysbinary, world)
    env = {k: v for k, v in os.environ.items() if k != "GSOMIA_PASSPHRASE"}
    cmd = [sys.executable, "-m", "gsomia.cli.app"]
    opened = subprocess.run(
        [*cmd, "open", str(item), "--as", "USA", "--home", str(world / "USA")],
        capture_output=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout == b'{"type":"bundle","objects":[]}'
    raw = bytearray(item.read_bytes())
    raw[-100] ^= 0x01
    item.write_bytes(bytes(raw))
    tampered = subprocess.run(
        [*cmd, "verify", str(item), "--home", str(world / "USA")],
        capture_output=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert tampered.returncode == 3
    assert tampered.stderr.decode().startswith("error: ")
    assert b"Traceback" not in tampered.stderr
