"""What every command shares: JSON output, JSON input files, the --home directory."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import orjson
import typer

from gsomia.errors import BadInput

JSON_OPTION = typer.Option(False, "--json", help="Print exactly one JSON document on stdout.")
HOME_OPTION = typer.Option(
    None,
    "--home",
    help="State directory (default: $GSOMIA_HOME, else ~/.gsomia).",
    show_default=False,
)


def resolve_home(home: Path | None) -> Path:
    if home is not None:
        return home
    env = os.environ.get("GSOMIA_HOME")
    if env:
        return Path(env)
    return Path.home() / ".gsomia"


def emit_json(document: Any) -> None:
    """Write one JSON document (and a newline) to stdout."""
    sys.stdout.buffer.write(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    sys.stdout.flush()


def read_bytes(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise BadInput(f"{what} {path}: no such file") from exc
    except IsADirectoryError as exc:
        raise BadInput(f"{what} {path}: is a directory") from exc
    except OSError as exc:
        raise BadInput(f"{what} {path}: cannot read ({exc.strerror})") from exc


def read_json_file(path: Path, what: str) -> Any:
    """Parse a JSON file, naming the file and the position of any syntax error."""
    raw = read_bytes(path, what)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadInput(
            f"{what} {path}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc
