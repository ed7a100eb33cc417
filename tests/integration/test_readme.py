"""The README's console examples are real: each is run and its shown output compared; and its
sealed-items walk-through runs as written, in a fresh directory."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"```console\n(.*?)```", re.DOTALL)
SEALED = re.compile(r"^### Sealed items\n.*?^```sh\n(.*?)^```", re.DOTALL | re.MULTILINE)
PASSPHRASE = re.compile(r"^export GSOMIA_PASSPHRASE='([^']*)'", re.MULTILINE)
#: The README writes the report's id as ``report--…``; the walk-through runs with a real one.
REPORT_ID = "report--00000000-0000-4000-8000-000000000001"


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


def test_readme_sealed_items_walk_through(tmp_path: Path) -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = SEALED.search(text)
    assert found is not None, "no sh block under '### Sealed items'"
    script = found.group(1).replace("report--…", REPORT_ID)
    passphrase = PASSPHRASE.search(script)
    assert passphrase is not None
    assert len(passphrase.group(1)) >= 12
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if k != "GSOMIA_PASSPHRASE"}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],  # every line must succeed
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "every signature holds" in result.stdout
    assert "sealed for JPN under jpn-kor-gsomia-2016" in result.stdout
    # the last command opens the item as JPN: the content is what was sealed
    opened = result.stdout.splitlines()[-1]
    assert opened == (tmp_path / "report.json").read_text(encoding="utf-8").strip()
    assert REPORT_ID in opened
