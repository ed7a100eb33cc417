"""Schemathesis over the node's generated OpenAPI spec: no input makes the server fail (5xx)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from .nodes import TAXII, NodeProc, make_nodes


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProc]:
    nodes = make_nodes(tmp_path_factory.mktemp("schemathesis"))
    node = nodes["KOR"]
    node.start()
    try:
        yield node
    finally:
        node.stop()


def test_no_input_makes_the_server_fail(live: NodeProc) -> None:
    """Every operation of the spec, with generated valid and invalid inputs, under two roles."""
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
    assert failures == []


def _checker(live: NodeProc, failures: list[str]) -> Callable[[Any], None]:
    def check(case: Any) -> None:  # a schemathesis Case
        for headers in (
            {"Authorization": f"Bearer {live.users['analyst']}", "Accept": TAXII},
            {"Authorization": f"Bearer {live.users['admin']}", "Accept": "application/json"},
        ):
            response = case.call(headers=headers)
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.path}: {response.status_code} {response.text[:300]}"
                )

    return check


def test_the_spec_is_served(live: NodeProc, tmp_path: Path) -> None:
    import httpx

    spec = httpx.get(f"{live.url}/openapi.json").json()
    assert spec["info"]["title"] == "gsomia node KOR"
    assert any(path.startswith("/api/collections") for path in spec["paths"])
