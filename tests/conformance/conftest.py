"""The conformance suite's node: the in-process node of tests/unit/api, its own store."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from gsomia.app.boot import load_config, open_node
from gsomia.clock import FixedClock
from tests.integration.nodes import PASSPHRASE, make_nodes
from tests.unit.api.conftest import NOW, Api, application

if TYPE_CHECKING:
    from gsomia.node.service import Node
    from tests.integration.nodes import NodeProc


@pytest.fixture(scope="module")
def procs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, NodeProc]:
    return make_nodes(tmp_path_factory.mktemp("conformance"), scenario="lapse-2019")


@pytest.fixture(scope="module")
def kor(procs: dict[str, NodeProc]) -> Node:
    return open_node(
        load_config(procs["KOR"].config), clock=FixedClock(NOW), passphrase=PASSPHRASE.encode()
    )


@pytest.fixture(scope="module")
def api(kor: Node, procs: dict[str, NodeProc]) -> Api:
    return Api(kor, application(kor), procs["KOR"].users)
