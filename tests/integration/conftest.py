from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .nodes import NodeProc, make_nodes


@pytest.fixture
def kor_node(tmp_path: Path) -> Iterator[NodeProc]:
    nodes = make_nodes(tmp_path, ("KOR", "JPN", "USA"))
    node = nodes["KOR"]
    node.start()
    try:
        yield node
    finally:
        node.stop()
