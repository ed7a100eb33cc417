"""Exhaustive tampering: every single byte of a sealed item changed in turn is detected.

The item carries every part the format has: the label, the encrypted content, two wraps with
their grants, the originator's batch signature, a release record by a holder that is not the
originator with the originator's consent embedded, and a classification notice. Each of its
bytes is changed in turn (XOR 0x01, so lengths move by one) and the recipient's verifier must
refuse every change. The consent token alone gets the same treatment.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from gsomia.domain.scenario import Scenario
from gsomia.errors import GsomiaError
from gsomia.seal import service
from gsomia.seal.item import Item
from gsomia.seal.verify import Verifier
from tests.unit.seal.conftest import AT, Rings, label_doc


def _full_item(rings: Rings, scenario: Scenario) -> tuple[bytes, bytes]:
    raw = service.seal_content(
        rings["KOR"],
        scenario,
        content=b"x",
        label_doc=label_doc("KOR", item="r"),
        recipients=["USA"],
        created=AT,
    )
    consent = service.grant_consent(
        rings["KOR"], scenario, raw, recipient="JPN", granted_at=AT, expires_at=None
    )
    released = service.release_item(
        rings["USA"], scenario, raw, recipient="JPN", at=AT + timedelta(hours=1), consent=consent
    ).item
    full = service.reclassify_item(
        rings["KOR"], scenario, released, classification="III", at=AT + timedelta(days=1)
    )
    return full, consent


def _undetected(verify: Callable[[bytes], object], raw: bytes) -> list[int]:
    missed = []
    buf = bytearray(raw)
    for i in range(len(buf)):
        buf[i] ^= 0x01
        try:
            verify(bytes(buf))
        except GsomiaError:
            pass
        else:
            missed.append(i)
        buf[i] ^= 0x01
    return missed


def test_every_byte_of_a_sealed_item_is_covered(rings: Rings, scenario: Scenario) -> None:
    full, _ = _full_item(rings, scenario)
    item = Item.decode(full)
    assert len(item.records) == 2
    assert item.records[0].consent  # the consent is embedded in the release record
    verifier = Verifier(rings["JPN"], scenario=scenario)
    verifier.verify(full)  # the untouched item verifies (and its roots are now cached)
    assert _undetected(verifier.verify, full) == []
    verifier.verify(full)  # and still does


def test_every_byte_of_a_consent_is_covered(rings: Rings, scenario: Scenario) -> None:
    full, consent = _full_item(rings, scenario)
    verifier = Verifier(rings["USA"], scenario=scenario)
    view = verifier.verify(full)

    def check(raw: bytes) -> None:
        verifier.verify_consent(raw, label=view.label, digest=view.digest)
        # the holder also checks that it is for this recipient (service.release_item)
        if verifier.verify_consent(raw, label=view.label, digest=view.digest).recipient != "JPN":
            raise GsomiaError("another recipient")

    check(consent)
    assert _undetected(check, consent) == []
