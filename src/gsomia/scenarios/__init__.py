"""The built-in scenarios (TOML package data) and the loader for scenario files.

``load_scenario("historical")`` loads a built-in scenario; any other argument that names a file
(or contains a path separator or ends in ``.toml``) loads that file. A scenario may
``extends = "NAME"`` (a built-in) or ``extends = "path.toml"`` (relative to its own file).
Every error names the file, the key or line, and what is wrong.

Every file and upload is bounded before it is parsed (``MAX_SCENARIO_BYTES``) and its decoded
document before it is read (``gsomia.domain.scenario.check_document``: nesting, integers); the
parser then holds it to the counts and years of ``gsomia.domain.scenario``.
"""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from gsomia.domain.scenario import (
    MAX_INTEGER,
    MAX_NESTING,
    Scenario,
    check_document,
    merge_documents,
    parse_scenario,
)
from gsomia.errors import BadInput

__all__ = [
    "BUILTIN",
    "MAX_SCENARIO_BYTES",
    "load_scenario",
    "load_scenario_text",
    "read_document",
]

BUILTIN = ("historical", "lapse-2019")
MAX_SCENARIO_BYTES = 64 * 1024  # a file or an upload; the largest built-in is under 6 KiB
_MAX_DEPTH = 8
_LONG_NUMBER = re.compile(r"[0-9][0-9_]{40,}")


def _decode_document(text: str, source: str) -> dict[str, Any]:
    """The document of one scenario's TOML text, within the bounds; BadInput naming ``source``
    and the key or line otherwise (never another exception)."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_SCENARIO_BYTES:
        raise BadInput(
            f"{source}: larger than {MAX_SCENARIO_BYTES // 1024} KiB ({size} bytes), the most "
            "a scenario may be"
        )
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{source}: invalid TOML: {exc}") from None
    except RecursionError:  # the parser recurses once per level: far too deep
        raise BadInput(
            f"{source}: {_deepest(text)}: tables and arrays nest deeper than {MAX_NESTING} levels"
        ) from None
    except ValueError:  # an integer with more digits than Python converts from text
        raise BadInput(f"{source}: {_long_number(text)}") from None
    check_document(document, source)
    return document


def _deepest(text: str) -> str:
    """The line (and its key) that opens the most tables and arrays: where the nesting is."""
    lines = text.split("\n")
    i = max(range(len(lines)), key=lambda n: lines[n].count("[") + lines[n].count("{"))
    return _line_and_key(lines[i], i + 1)


def _line_and_key(line: str, line_no: int) -> str:
    key = line.split("=", 1)[0].strip()[:40] if "=" in line else ""
    return f"line {line_no}" + (f", key {key!r}" if key else "")


def _long_number(text: str) -> str:
    """Where the number too long to convert is (its line and key), and what is wrong."""
    found = max(_LONG_NUMBER.finditer(text), key=lambda m: len(m.group()), default=None)
    what = f"an integer beyond {MAX_INTEGER}, which a scenario cannot hold"
    if found is None:
        return f"a number that cannot be read: {what}"
    line_no = text.count("\n", 0, found.start()) + 1
    line = text[text.rfind("\n", 0, found.start()) + 1 : found.start()]
    return f"{_line_and_key(line, line_no)}: a number of {len(found.group())} digits; {what}"


def _builtin_text(name: str) -> str:
    return resources.files(__package__).joinpath(f"{name}.toml").read_text(encoding="utf-8")


def _is_path(ref: str) -> bool:
    return ref.endswith(".toml") or "/" in ref or "\\\\" in ref or Path(ref).exists()


def read_document(
    ref: str, *, base_dir: Path | None = None, depth: int = 0
) -> tuple[dict[str, Any], str]:
    """The fully derived document of a scenario reference, and the name to cite in errors."""
    if depth > _MAX_DEPTH:
        raise BadInput(f"scenario {ref!r}: 'extends' nests deeper than {_MAX_DEPTH} levels")
    if ref in BUILTIN and not (base_dir and (base_dir / ref).exists()):
        text, source, here = _builtin_text(ref), f"scenario {ref}", None
    elif _is_path(ref):
        path = (
            (base_dir / ref) if base_dir is not None and not Path(ref).is_absolute() else Path(ref)
        )
        text = _read_file(path)
        source, here = str(path), path.parent
    else:
        known = ", ".join(BUILTIN)
        raise BadInput(f"unknown scenario {ref!r}: not a built-in ({known}) nor a .toml file")
    document = _decode_document(text, source)
    parent = document.get("extends")
    if parent is None:
        return document, source
    if not isinstance(parent, str):
        raise BadInput(f"{source}.extends: expected the name or path of a scenario")
    try:
        base, _ = read_document(parent, base_dir=here, depth=depth + 1)
    except BadInput as exc:
        raise BadInput(f"{source}.extends: {exc}") from None
    return merge_documents(base, document, source), source


def _read_file(path: Path) -> str:
    """A scenario file's text; never more than ``MAX_SCENARIO_BYTES`` (and one) read."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_SCENARIO_BYTES + 1)
    except FileNotFoundError:
        raise BadInput(f"scenario file {path}: no such file") from None
    except OSError as exc:
        raise BadInput(f"scenario file {path}: cannot read ({exc.strerror})") from None
    if len(data) > MAX_SCENARIO_BYTES:
        raise BadInput(
            f"scenario file {path}: larger than {MAX_SCENARIO_BYTES // 1024} KiB, the most "
            "a scenario may be"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput(f"scenario file {path}: not UTF-8 text") from None


def load_scenario(ref: str) -> Scenario:
    """Load a built-in scenario by name, or a scenario file by path."""
    document, source = read_document(ref)
    return parse_scenario(document, source)


def load_scenario_text(text: str, source: str) -> Scenario:
    """Parse a scenario given as TOML text (an upload, named ``source`` in errors) exactly as a
    file is parsed; it may extend a built-in scenario, never a file."""
    document = _decode_document(text, source)
    parent = document.get("extends")
    if parent is not None:
        if not isinstance(parent, str):
            raise BadInput(f"{source}.extends: expected the name or path of a scenario")
        if parent not in BUILTIN:
            known = ", ".join(BUILTIN)
            raise BadInput(
                f"{source}.extends: {parent[:80]!r} is not a built-in scenario ({known})"
            )
        base, _ = read_document(parent, depth=1)
        document = merge_documents(base, document, source)
    return parse_scenario(document, source)
