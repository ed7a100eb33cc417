"""Schemathesis over the node's generated OpenAPI spec: no input makes the server fail (5xx),
and every answer is one the spec describes (its status code, and its body's schema)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup

from .native_client import native, publish
from .nodes import TAXII, NodeProc, make_nodes, report

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProc]:
    nodes = make_nodes(tmp_path_factory.mktemp("schemathesis"))
    node = nodes["KOR"]
    node.start()
    try:
        yield node
    finally:
        node.stop()


def test_every_answer_conforms_to_the_spec(live: NodeProc) -> None:
    """Every operation of the spec, with generated valid and invalid inputs, under two roles:
    no 5xx, a status code the operation declares, a body that matches its declared schema."""
    spec = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
    # an Err result raises its schema error in .ok(): a broken spec fails the test
    operations = [result.ok() for result in spec.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 8
    failures: list[str] = []
    for operation in operations:
        check = _checker(live, failures)
        settings(
            max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )(given(case=operation.as_strategy())(check))()
    assert not failures, "\n".join(sorted(set(failures)))


def _checker(live: NodeProc, failures: list[str]) -> Callable[[Any], None]:
    def check(case: Any) -> None:  # a schemathesis Case
        accept = TAXII if case.path.startswith("/api/") else "application/json"
        for user in ("analyst", "admin"):
            headers = {"Authorization": f"Bearer {live.users[user]}", "Accept": accept}
            response = case.call(headers=headers)
            try:
                case.validate_response(response, checks=CHECKS)
            except FailureGroup as group:
                failures.extend(
                    f"{case.method} {case.path} {response.status_code}: {failure}"
                    for failure in _titles(group)
                )
            except AssertionError as exc:
                failures.append(f"{case.method} {case.path} {response.status_code}: {exc}")

    return check


def _titles(group: FailureGroup) -> list[str]:
    return [str(getattr(e, "title", e)).splitlines()[0][:200] for e in group.exceptions]


#: Answers with content, under the spec's path, and how to get them from a node holding items.
ANSWERS: list[tuple[str, str, str, dict[str, str] | None, dict[str, str] | None]] = [
    ("GET", "/native/v1/agreements", "/agreements", None, None),
    ("GET", "/native/v1/timeline", "/timeline", None, None),
    ("GET", "/native/v1/why-not", "/why-not", {"item": "{item}", "party": "JPN"}, None),
    ("GET", "/native/v1/items/{item_id}", "/items/{item}", None, None),
    ("GET", "/native/v1/items/{item_id}/sources", "/items/{item}/sources", None, None),
    ("GET", "/native/v1/items/{item_id}/derived", "/items/{item}/derived", None, None),
    ("GET", "/native/v1/consent-requests", "/consent-requests", {"box": "inbox"}, None),
    ("GET", "/native/v1/reports", "/reports", None, None),
    ("POST", "/native/v1/log/checkpoint", "/log/checkpoint", None, None),
    ("GET", "/native/v1/log/checkpoint", "/log/checkpoint", {"format": "json"}, None),
    ("GET", "/native/v1/log/proof/inclusion", "/log/proof/inclusion", {"item": "{item}"}, None),
    ("GET", "/native/v1/log/proof/inclusion", "/log/proof/inclusion", {"index": "0"}, None),
    ("GET", "/native/v1/log/proof/consistency", "/log/proof/consistency", {"old": "1"}, None),
    ("GET", "/native/v1/log/cosignatures", "/log/cosignatures", None, None),
    ("GET", "/native/v1/log/witnessed", "/log/witnessed", None, None),
    ("GET", "/native/v1/log/split-views", "/log/split-views", None, None),
    ("POST", "/native/v1/notices", "/notices", None, {"item": "{item}", "classification": "III"}),
    ("GET", "/native/v1/register", "/register", None, None),
    ("GET", "/native/v1/items/{item_id}/accesses", "/items/{item}/accesses", None, None),
    ("GET", "/native/v1/items/{item_id}/accountings", "/items/{item}/accountings", None, None),
    ("POST", "/native/v1/accountings", "/accountings", None, {"holder": "JPN"}),
    ("GET", "/native/v1/accountings", "/accountings", None, None),
]


def test_answers_with_content_conform_to_the_spec(live: NodeProc) -> None:
    """Each native route, asked something it can answer (an item is held, a checkpoint
    signed): a 2xx whose JSON body the spec declares a schema for, and that matches it."""
    item = publish(live, report(7001))
    spec = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
    paths = httpx.get(f"{live.url}/openapi.json").json()["paths"]
    for method, path, route, params, body in ANSWERS:
        answers = paths[path][method.lower()]["responses"]
        ok = next(code for code in answers if code.startswith("2"))
        assert "schema" in answers[ok]["content"]["application/json"], (method, path)
        response = native(
            live,
            method,
            route.replace("{item}", quote(item, safe="/:")),
            params=_filled(params, item),
            json=_filled(body, item),
        )
        assert response.status_code == int(ok), (method, path, params, response.text[:300])
        spec[path][method].validate_response(response)


def _filled(values: dict[str, str] | None, item: str) -> dict[str, str] | None:
    return None if values is None else {k: v.replace("{item}", item) for k, v in values.items()}


def test_the_spec_is_served(live: NodeProc, tmp_path: Path) -> None:
    spec = httpx.get(f"{live.url}/openapi.json").json()
    assert spec["info"]["title"] == "gsomia node KOR"
    assert any(path.startswith("/api/collections") for path in spec["paths"])
