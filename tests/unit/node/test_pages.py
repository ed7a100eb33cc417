"""Reading a collection on an in-process node: a page asks the store for rows until the page is
full or the store has no more to give, and not once more (a last, empty query would search the
rest of the collection for nothing)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from gsomia.app.boot import load_config, open_node
from gsomia.clock import FixedClock
from gsomia.node.service import Filters, Node
from gsomia.store.sqlite_node import SqliteNodeReader
from tests.integration.nodes import PASSPHRASE, make_nodes, report

if TYPE_CHECKING:
    from gsomia.node.config import User
    from gsomia.store.ports import ObjectRow

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def rid(n: int) -> str:
    return f"report--00000000-0000-4000-8000-{n:012d}"


HIDDEN = (3, *range(10, 30))  # on a topic "low" does not need to know
REPORTS = (*range(1, 6), *range(10, 32))


@pytest.fixture(scope="module")
def kor(tmp_path_factory: pytest.TempPathFactory) -> Node:
    procs = make_nodes(tmp_path_factory.mktemp("pages"), parties=("KOR", "USA"))
    node = open_node(
        load_config(procs["KOR"].config), clock=FixedClock(NOW), passphrase=PASSPHRASE.encode()
    )
    analyst = user(node, "analyst")
    for n in REPORTS:
        topics = ("dprk.missile",) if n in HIDDEN else ("dprk.nuclear",)
        envelope = report(n, topics=topics, classification="III")
        node.publish(analyst, envelope["objects"], node.collection_id("KOR"))
    return node


def user(node: Node, name: str) -> User:
    return next(u for u in node.config.users if u.name == name)


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The batch size of each query the node makes for a page (the real reader answers)."""
    sizes: list[int] = []
    page = SqliteNodeReader.page

    def counted(self: SqliteNodeReader, *args: Any, **kw: Any) -> list[ObjectRow]:
        sizes.append(kw["batch"])
        return page(self, *args, **kw)

    monkeypatch.setattr(SqliteNodeReader, "page", counted)
    return sizes


@pytest.mark.parametrize(
    ("name", "filters", "limit", "expected"),
    [
        ("analyst", Filters(ids=(rid(3),)), None, [rid(3)]),
        ("analyst", Filters(ids=(rid(4), rid(2), "report--absent")), None, [rid(2), rid(4)]),
        ("low", Filters(ids=(rid(3),)), None, []),  # hidden: as if missing
        ("low", Filters(types=("report",)), 3, [rid(1), rid(2), rid(4)]),
        ("analyst", Filters(types=("report",)), None, [rid(n) for n in REPORTS]),
    ],
)
def test_a_page_stops_asking_when_the_store_has_no_more(
    kor: Node,
    asked: list[int],
    *,
    name: str,
    filters: Filters,
    limit: int | None,
    expected: list[str],
) -> None:
    page = kor.page(user(kor, name), kor.collection_id("KOR"), filters, limit, None)
    assert [r.stix_id for r in page.rows] == expected
    assert len(asked) == 1


def test_a_page_cut_short_by_hidden_rows_asks_again(kor: Node, asked: list[int]) -> None:
    """Rows the user may not see are left out after the query, so a batch that came back full
    but left the page short is followed by another; the cursor then resumes after the last
    row given, and no row is missed or given twice."""
    low = user(kor, "low")
    cid = kor.collection_id("KOR")
    page = kor.page(low, cid, Filters(types=("report",)), 4, None)
    assert [r.stix_id for r in page.rows] == [rid(1), rid(2), rid(4), rid(5)]
    assert page.more
    assert len(asked) == 2  # 21 rows of which 4 seen, then the rest: 30 shows there is more
    rest = kor.page(low, cid, Filters(types=("report",)), 4, page.next)
    assert [r.stix_id for r in rest.rows] == [rid(30), rid(31)]
    assert not rest.more
