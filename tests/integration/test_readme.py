"""The README's console examples are real: each is run and its shown output compared."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"```console\n(.*?)```", re.DOTALL)


def examples() -> list[tuple[str, str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = []
    for block in BLOCK.findall(text):
        command, _, output = block.partition("\n")
        assert command.startswith("$ gsomia "), command
        found.append((command[2:], output))
    return found


@pytest.mark.parametrize(("command", "output"), examples(), ids=[c for c, _ in examples()])
def test_readme_example(command: str, output: str) -> None:
    exe = Path(sys.executable).with_name("gsomia")
    argv = [str(exe), *shlex.split(command)[1:]]
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, result.stderr
    if output.strip():
        assert result.stdout == output
