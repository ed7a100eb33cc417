"""Properties: lossless round trips, Merkle inclusion, strict decoding."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gsomia.errors import GsomiaError, VerificationFailed
from gsomia.seal.item import Item, SealedLabel
from gsomia.seal.merkle import root_and_paths, root_from_path
from gsomia.seal.opener import Opener
from gsomia.seal.sealer import Sealer, SealRequest
from gsomia.seal.verify import Verifier
from gsomia.seal.views import Grant
from tests.unit.seal.conftest import AT, Rings, make_rings

_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def module_rings(tmp_path_factory: pytest.TempPathFactory) -> Rings:
    return make_rings(Path(tmp_path_factory.mktemp("rings")))


_labels = st.builds(
    lambda item, topics, minutes: SealedLabel(
        "KR-MND-CMI",
        item,
        "KOR",
        "II",
        ("JPN", "USA"),
        tuple(sorted(set(topics))),
        AT + timedelta(minutes=minutes),
    ),
    st.text(min_size=1, max_size=40),
    st.lists(st.from_regex(r"[a-z]{1,8}(\.[a-z]{1,8}){0,2}", fullmatch=True), max_size=3),
    st.integers(min_value=0, max_value=10**6),
)


@_SETTINGS
@given(
    contents=st.lists(st.binary(max_size=2048), min_size=1, max_size=6),
    label=_labels,
    recipients=st.sets(st.sampled_from(["JPN", "USA"])),
)
def test_sealed_batches_round_trip_for_their_holders_only(
    module_rings: Rings, contents: list[bytes], label: SealedLabel, recipients: set[str]
) -> None:
    grants = tuple(Grant(p, ("some-agreement",), AT, {"party": p}) for p in sorted(recipients))
    items = Sealer(module_rings["KOR"]).seal_batch(
        [SealRequest(c, label, grants) for c in contents]
    )
    for party, ring in module_rings.items():
        opener = Opener(ring)
        for content, raw in zip(contents, items, strict=True):
            view = opener.verifier.verify(raw)
            assert view.label == label
            if party == "KOR" or party in recipients:
                assert opener.open(raw) == content
            else:
                with pytest.raises(
                    VerificationFailed, match=f"^the item cannot be opened by {party}$"
                ):
                    opener.open(raw)


@given(st.integers(min_value=1, max_value=70), st.data())
def test_every_inclusion_path_leads_to_the_root_and_no_other_index_does(
    size: int, data: st.DataObject
) -> None:
    leaves = [bytes([i % 256, i // 256]) * 16 for i in range(size)]
    root, paths = root_and_paths(leaves)
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    assert root_from_path(leaves[index], index, size, paths[index]) == root
    other = data.draw(st.integers(min_value=0, max_value=size))
    if other != index:
        with contextlib.suppress(VerificationFailed):
            assert root_from_path(leaves[index], other, size, paths[index]) != root


@_SETTINGS
@given(cut=st.integers(min_value=0), extra=st.binary(min_size=1, max_size=8))
def test_a_truncated_or_extended_item_never_decodes(
    module_rings: Rings, cut: int, extra: bytes
) -> None:
    raw = Sealer(module_rings["KOR"]).seal(
        SealRequest(b"x", SealedLabel("KR-MND-CMI", "r", "KOR", "II", (), (), AT))
    )
    verifier = Verifier(module_rings["JPN"])
    with pytest.raises(GsomiaError, match=r"^sealed item: truncated at byte "):
        Item.decode(raw[: cut % len(raw)])
    with pytest.raises(
        GsomiaError, match=r"^step 1 \(the item decodes\): sealed item: unexpected trailing"
    ):
        verifier.verify(raw + extra)
