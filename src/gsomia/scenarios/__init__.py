"""The built-in scenarios (TOML package data) and the loader for scenario files.

``load_scenario("historical")`` loads a built-in scenario; any other argument that names a file
(or contains a path separator or ends in ``.toml``) loads that file. A scenario may
``extends = "NAME"`` (a built-in) or ``extends = "path.toml"`` (relative to its own file).
Every error names the file, the key or line, and what is wrong.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from gsomia.domain.scenario import Scenario, merge_documents, parse_scenario
from gsomia.errors import BadInput

__all__ = ["BUILTIN", "load_scenario", "load_scenario_text", "read_document"]

BUILTIN = ("historical", "lapse-2019")
_MAX_DEPTH = 8


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
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise BadInput(f"scenario file {path}: no such file") from None
        except UnicodeDecodeError:
            raise BadInput(f"scenario file {path}: not UTF-8 text") from None
        except OSError as exc:
            raise BadInput(f"scenario file {path}: cannot read ({exc.strerror})") from None
        source, here = str(path), path.parent
    else:
        known = ", ".join(BUILTIN)
        raise BadInput(f"unknown scenario {ref!r}: not a built-in ({known}) nor a .toml file")
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{source}: invalid TOML: {exc}") from None
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


def load_scenario(ref: str) -> Scenario:
    """Load a built-in scenario by name, or a scenario file by path."""
    document, source = read_document(ref)
    return parse_scenario(document, source)


def load_scenario_text(text: str, source: str) -> Scenario:
    """Parse a scenario given as TOML text (an upload, named ``source`` in errors) exactly as a
    file is parsed; it may extend a built-in scenario, never a file."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{source}: invalid TOML: {exc}") from None
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
