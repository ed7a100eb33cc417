"""Schemathesis over the node's generated OpenAPI spec: no input makes the server fail (5xx),
and every answer is one the spec describes (its status code, and its body's schema)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup

from .nodes import TAXII, NodeProc, make_nodes


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


def test_the_spec_is_served(live: NodeProc, tmp_path: Path) -> None:
    import httpx

    spec = httpx.get(f"{live.url}/openapi.json").json()
    assert spec["info"]["title"] == "gsomia node KOR"
    assert any(path.startswith("/api/collections") for path in spec["paths"])
