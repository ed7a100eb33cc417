"""The composition root on top of the layers: ``gsomia.app`` wires the api and the console,
which sit side by side below it and import neither each other nor it, with no exceptions
(``test_architecture.py`` runs import-linter on this contract)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def layers_contract() -> dict[str, Any]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    (layers,) = [c for c in contracts if c["type"] == "layers"]
    assert isinstance(layers, dict)
    return layers


def test_the_composition_root_is_below_the_cli_and_above_api_and_console() -> None:
    layers = [layer.replace(" ", "") for layer in layers_contract()["layers"]]
    assert layers[:3] == ["gsomia.cli", "gsomia.app", "gsomia.api|gsomia.console"]


def test_the_layers_have_no_exceptions() -> None:
    contract = layers_contract()
    assert "ignore_imports" not in contract
