from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gsomia.node.service import Node

from .nodes import NodeProc, make_nodes, opened


@pytest.fixture
def kor_node(tmp_path: Path) -> Iterator[NodeProc]:
    nodes = make_nodes(tmp_path, ("KOR", "JPN", "USA"))
    node = nodes["KOR"]
    node.start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="module")
def usa_offline(pair: dict[str, NodeProc]) -> Iterator[Node]:
    """USA's node opened in-process (not serving): it signs peer requests for the tests of a
    module whose ``pair`` fixture runs KOR and JPN."""
    with opened(pair["USA"]) as node:
        yield node
