"""The README documents every exit code the CLI can give (one per class of gsomia.errors)."""

from __future__ import annotations

import re
from pathlib import Path

from gsomia import errors

README = Path(__file__).resolve().parents[2] / "README.md"


def _classes(base: type[errors.GsomiaError]) -> list[type[errors.GsomiaError]]:
    return [base, *(c for sub in base.__subclasses__() for c in _classes(sub))]


def test_every_exit_code_is_in_the_readme() -> None:
    text = " ".join(README.read_text(encoding="utf-8").split())
    start = text.index("exit 0 on success")
    sentence = text[start : text.index(".", text.index("interrupted", start))]
    documented = {int(n) for n in re.findall(r"\b(\d+) [a-z]", sentence)}
    defined = {c.exit_code for c in _classes(errors.GsomiaError)}
    assert defined == {1, 2, 3, 4, 5, 6}
    assert defined <= documented, sorted(defined - documented)
