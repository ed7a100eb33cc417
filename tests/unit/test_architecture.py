"""The layers of STYLE.md, checked by import-linter as part of the tests; and the one reader of
the wall clock, checked on the syntax tree of every module."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: What reads the wall clock (or a clock of the machine), by its qualified name.
WALL_CLOCK = frozenset(
    {
        "datetime.datetime.now",
        "datetime.datetime.utcnow",
        "datetime.datetime.today",
        "datetime.date.today",
        "time.time",
        "time.time_ns",
        "time.monotonic",
        "time.monotonic_ns",
        "time.perf_counter",
        "time.perf_counter_ns",
    }
)


def _imported_names(tree: ast.Module) -> dict[str, str]:
    """Each name bound by an import anywhere in the module, with what it names:
    ``import time as t`` binds ``t`` to ``time``; ``from time import monotonic as m`` binds
    ``m`` to ``time.monotonic``."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname is not None:
                    names[alias.asname] = alias.name
                else:
                    head = alias.name.partition(".")[0]
                    names[head] = head
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _qualified(node: ast.expr, names: dict[str, str]) -> str | None:
    """The qualified name a name or a chain of attributes stands for (None if it does not
    start at an imported name)."""
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _qualified(node.value, names)
        return None if base is None else f"{base}.{node.attr}"
    return None


def wall_clock_reads(source: str) -> list[str]:
    """Every place in ``source`` that reads the wall clock directly: a call of it, a reference
    to it (``default_factory=time.monotonic``), or its import by name, however imported."""
    tree = ast.parse(source)
    names = _imported_names(tree)
    found = [
        f"{node.lineno}: {node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module is not None
        for alias in node.names
        if f"{node.module}.{alias.name}" in WALL_CLOCK
    ]
    for node in ast.walk(tree):
        if isinstance(node, ast.Name | ast.Attribute):
            name = _qualified(node, names)
            if name in WALL_CLOCK:
                found.append(f"{node.lineno}: {name}")
    return sorted(set(found), key=lambda s: (int(s.partition(":")[0]), s))


def test_import_contracts_hold() -> None:
    exe = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(exe), "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_only_clock_reads_the_wall_clock() -> None:
    offenders = []
    modules = sorted((ROOT / "src" / "gsomia").rglob("*.py"))
    assert len(modules) > 50  # the walk sees the package
    for path in modules:
        if path.relative_to(ROOT).as_posix() == "src/gsomia/clock.py":
            continue
        for read in wall_clock_reads(path.read_text(encoding="utf-8")):
            offenders.append(f"{path.relative_to(ROOT)}:{read}")
    assert offenders == []


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("import datetime\ndatetime.datetime.now()", "datetime.datetime.now"),
        ("from datetime import datetime\ndatetime.now(UTC)", "datetime.datetime.now"),
        ("from datetime import datetime as D\nD.utcnow()", "datetime.datetime.utcnow"),
        ("import datetime as dt\ndt.date.today()", "datetime.date.today"),
        ("from datetime import date\nx = date.today", "datetime.date.today"),
        ("from datetime import datetime\ndatetime.today()", "datetime.datetime.today"),
        ("import time\ntime.time()", "time.time"),
        ("import time as t\nt.monotonic()", "time.monotonic"),
        ("from time import monotonic\nmonotonic()", "time.monotonic"),
        ("from time import perf_counter as pc\npc()", "time.perf_counter"),
        ("import time\nf(default_factory=time.perf_counter)", "time.perf_counter"),
        ("import time\ntime.time_ns()", "time.time_ns"),
        ("def f():\n    import time\n    return time.monotonic()", "time.monotonic"),
    ],
)
def test_the_wall_clock_guard_catches_every_form(source: str, name: str) -> None:
    reads = wall_clock_reads(textwrap.dedent(source))
    assert reads
    assert all(read.endswith(name) for read in reads), reads


@pytest.mark.parametrize(
    "source",
    [
        "from datetime import datetime\ndatetime.fromisoformat(s)",
        "from datetime import time\ntime(9, 0)",
        "import time\ntime.sleep(0.1)",
        "self.clock.now()\nwall.monotonic()",
        "def f(time):\n    return time.time()",  # a parameter, not the module
        "from gsomia.clock import SystemClock\nSystemClock().now()",
    ],
)
def test_the_wall_clock_guard_passes_what_does_not_read_it(source: str) -> None:
    assert wall_clock_reads(source) == []
