"""`gsomia serve --workers N` refuses what several worker processes cannot serve (exit 2, one
line naming what to set), before it opens keys, a store or a socket."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gsomia.cli.app import main
from gsomia.node.config import render_config

PG = "postgresql://postgres@127.0.0.1:5432/gsomia?schema=kor"
NATS = "nats://127.0.0.1:4222"


def config(tmp_path: Path, **settings: Any) -> Path:
    path = tmp_path / "KOR.toml"
    text = render_config(party="KOR", listen="127.0.0.1:8701", data_dir="KOR", **settings)
    path.write_text(text, encoding="utf-8")
    return path


def serve(capsys: pytest.CaptureFixture[str], path: Path, *args: str) -> tuple[int, str]:
    code = main(["serve", "--config", str(path), *args])
    return code, capsys.readouterr().err


STORE = 'a shared store (store = "postgresql://HOST[:PORT]/DBNAME?schema=NAME")'
BUS = 'a shared bus (bus = "nats://HOST:PORT")'


@pytest.mark.parametrize(
    ("settings", "missing"),
    [
        ({}, (STORE, BUS)),
        ({"bus": NATS}, (STORE,)),
        ({"store": PG}, (BUS,)),
        ({"store": PG, "bus": "memory:"}, (BUS,)),
        ({"store": "sqlite:///node.sqlite3", "bus": NATS}, (STORE,)),
    ],
    ids=["sqlite-no-bus", "sqlite", "no-bus", "memory-bus", "sqlite-url"],
)
def test_several_workers_need_a_shared_store_and_bus(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    settings: dict[str, str],
    missing: tuple[str, ...],
) -> None:
    path = config(tmp_path, **settings)
    code, err = serve(capsys, path, "--workers", "2")
    assert code == 2
    assert err.startswith("error: --workers 2: several worker processes need ")
    assert f"in node config {path};" in err
    for what in (STORE, BUS):
        assert (what in err) == (what in missing)
    assert "Traceback" not in err
    assert not (tmp_path / "KOR").exists(), "nothing is opened before the refusal"


@pytest.mark.parametrize("workers", ["0", "65", "-1"])
def test_workers_out_of_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], workers: str
) -> None:
    code, err = serve(capsys, config(tmp_path, store=PG, bus=NATS), "--workers", workers)
    assert code == 2
    assert err == f"error: --workers: expected 1 to 64, not {workers}\n"


@pytest.mark.parametrize("listen", ["8701", "127.0.0.1:", "127.0.0.1:70000", ":8701"])
def test_listen_must_be_host_and_port(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], listen: str
) -> None:
    code, err = serve(capsys, config(tmp_path), "--listen", listen)
    assert code == 2
    assert err == f"error: --listen: expected HOST:PORT, e.g. 127.0.0.1:8701, not {listen!r}\n"


def test_a_worker_serves_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = config(tmp_path, store=PG, bus=NATS)
    code, err = serve(capsys, path, "--workers", "2", "--listen-fd", "3")
    assert code == 2
    assert err == "error: --listen-fd is for a worker: it serves alone (no --workers)\n"


def test_a_worker_needs_an_inherited_socket(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config(tmp_path)
    code, err = serve(capsys, path, "--listen-fd", "999")
    assert (code, err) == (2, "error: --listen-fd 999: no such file descriptor\n")
    with path.open("rb") as file:
        fd = file.fileno()
        code, err = serve(capsys, path, "--listen-fd", str(fd))
    assert (code, err) == (2, f"error: --listen-fd {fd}: not a socket\n")
