"""Sealing, opening, releasing: round trips, wraps, consent, rotation, batches."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest

from gsomia.domain.scenario import Scenario
from gsomia.errors import BadInput, Denied, GsomiaError, VerificationFailed
from gsomia.seal import service
from gsomia.seal.channels import ChannelCache
from gsomia.seal.item import Item, SealedLabel, Wrap
from gsomia.seal.opener import Opener
from gsomia.seal.records import append_notice, append_release, make_consent
from gsomia.seal.sealer import Sealer, SealRequest
from gsomia.seal.verify import Verifier
from gsomia.seal.views import Grant
from tests.unit.seal.conftest import AT, PARTIES, Rings, exchange, label_doc


def _seal(
    rings: Rings,
    scenario: Scenario,
    originator: str,
    recipients: tuple[str, ...],
    content: bytes = b'{"type":"bundle"}',
    **label: Any,
) -> bytes:
    return service.seal_content(
        rings[originator],
        scenario,
        content=content,
        label_doc=label_doc(originator, **label),
        recipients=recipients,
        created=AT,
    )


def _combinations() -> list[tuple[str, tuple[str, ...]]]:
    out: list[tuple[str, tuple[str, ...]]] = []
    for originator in PARTIES:
        others = [p for p in PARTIES if p != originator]
        for n in range(len(others) + 1):
            out.extend((originator, combo) for combo in itertools.combinations(others, n))
    return out


@pytest.mark.parametrize(("originator", "recipients"), _combinations())
def test_round_trip_for_every_party_combination(
    rings: Rings, scenario: Scenario, originator: str, recipients: tuple[str, ...]
) -> None:
    content = f"content from {originator} for {recipients}".encode()
    raw = _seal(rings, scenario, originator, recipients, content)
    for party in PARTIES:
        verified = service.verify_item(rings[party], scenario, raw)
        assert verified.label.originator == originator
        assert verified.holders() == (originator, *recipients)
        if party == originator or party in recipients:
            assert service.open_item(rings[party], scenario, raw, audit=None) == content
        else:
            with pytest.raises(VerificationFailed, match="cannot be opened"):
                service.open_item(rings[party], scenario, raw, audit=None)


def test_a_party_without_a_wrap_gets_one_opaque_error_and_the_reason_goes_to_audit(
    rings: Rings, scenario: Scenario
) -> None:
    raw = _seal(rings, scenario, "KOR", ("USA",))
    events: list[dict[str, Any]] = []
    with pytest.raises(VerificationFailed, match=r"^the item cannot be opened by JPN$") as no_wrap:
        service.open_item(rings["JPN"], scenario, raw, audit=events.append)
    tampered = bytearray(raw)
    tampered[200] ^= 1
    with pytest.raises(VerificationFailed, match=r"^the item cannot be opened by JPN$") as bad_item:
        service.open_item(rings["JPN"], scenario, bytes(tampered), audit=events.append)
    assert str(no_wrap.value) == str(bad_item.value) == "the item cannot be opened by JPN"
    assert events[0]["reason"] == "no wrap for JPN"
    assert events[1]["reason"].startswith("verification:")
    assert all(b"content" not in repr(e).encode() for e in events)


def test_another_party_s_wrap_does_not_unwrap_with_my_keys(
    rings: Rings, scenario: Scenario
) -> None:
    """Even handed USA's wrap as if it were its own, JPN cannot unwrap it: the channel key is
    encapsulated to USA's key."""
    raw = _seal(rings, scenario, "KOR", ("USA",))
    verified = Verifier(rings["JPN"]).verify(raw)
    with pytest.raises(VerificationFailed, match=r"^the item cannot be opened by JPN$"):
        Opener(rings["JPN"]).data_key(verified)
    usa_wrap = verified.wraps[1]
    relabelled = type(usa_wrap)(
        "JPN",
        rings["JPN"].current.key_id,
        usa_wrap.sender,
        usa_wrap.channel_id,
        usa_wrap.channel_enc,
        usa_wrap.nonce,
        usa_wrap.wrapped_key,
    )
    from dataclasses import replace

    forged_view = replace(verified, wraps=(verified.wraps[0], relabelled))
    with pytest.raises(VerificationFailed, match="cannot be opened by JPN"):
        Opener(rings["JPN"]).data_key(forged_view)


def test_onward_release_with_consent_is_accepted_and_marked_for_the_recipient(
    rings: Rings, scenario: Scenario
) -> None:
    raw = _seal(rings, scenario, "KOR", ("USA",))
    consent = service.grant_consent(
        rings["KOR"], scenario, raw, recipient="JPN", granted_at=AT, expires_at=None
    )
    released = service.release_item(
        rings["USA"], scenario, raw, recipient="JPN", at=AT + timedelta(hours=1), consent=consent
    )
    assert service.open_item(rings["JPN"], scenario, released.item, audit=None) == (
        b'{"type":"bundle"}'
    )
    view = service.verify_item(rings["JPN"], scenario, released.item)
    (release,) = view.releases
    assert (release.holder, release.recipient) == ("USA", "JPN")
    assert release.consent is not None
    assert release.marking["level"] == "GOKUHI"
    assert release.marking["originator"] == "KOR"
    assert view.label.classification == "II"  # the originator's label is kept, beside


def test_onward_release_without_consent_is_denied_by_the_engine(
    rings: Rings, scenario: Scenario
) -> None:
    raw = _seal(rings, scenario, "KOR", ("USA",))
    with pytest.raises(Denied, match="rule 7"):
        service.release_item(rings["USA"], scenario, raw, recipient="JPN", at=AT)


def test_a_forged_onward_release_without_consent_is_rejected_by_the_recipient(
    rings: Rings, scenario: Scenario
) -> None:
    """USA bypasses the engine and appends a release record to JPN with no consent."""
    raw = _seal(rings, scenario, "KOR", ("USA",))
    verified = Verifier(rings["USA"]).verify(raw)
    forged = append_release(
        rings["USA"],
        Opener(rings["USA"]),
        verified,
        recipient="JPN",
        at=AT,
        agreements=("jpn-usa-gsomia-2007",),
        marking={"party": "JPN", "originator": "KOR"},
        standing_consent=None,
        consent=None,
    )
    for verifier in (Verifier(rings["JPN"]), Verifier(rings["JPN"], scenario=scenario)):
        with pytest.raises(VerificationFailed, match="without its consent"):
            verifier.verify(forged)
    with pytest.raises(VerificationFailed, match="cannot be opened"):
        service.open_item(rings["JPN"], scenario, forged, audit=None)


def test_a_forged_claim_of_standing_consent_is_rejected(rings: Rings, scenario: Scenario) -> None:
    raw = _seal(rings, scenario, "KOR", ("USA",))
    verified = Verifier(rings["USA"]).verify(raw)
    forged = append_release(
        rings["USA"],
        Opener(rings["USA"]),
        verified,
        recipient="JPN",
        at=AT,
        agreements=("trilateral-missile-warning-2023",),
        marking={"party": "JPN", "originator": "KOR"},
        standing_consent="trilateral-missile-warning-2023",
        consent=None,
    )
    with pytest.raises(VerificationFailed, match="standing consent"):
        Verifier(rings["JPN"], scenario=scenario).verify(forged)
    with pytest.raises(VerificationFailed, match="only be checked with a scenario"):
        Verifier(rings["JPN"]).verify(forged)


def test_standing_consent_of_the_scenario_serves_for_missile_warnings(
    rings: Rings, scenario: Scenario
) -> None:
    raw = _seal(rings, scenario, "KOR", ("USA",), topics=("dprk.missile.warning",))
    released = service.release_item(rings["USA"], scenario, raw, recipient="JPN", at=AT)
    (release,) = released.verified.releases
    assert release.standing_consent == "trilateral-missile-warning-2023"
    assert release.consent is None
    assert service.open_item(rings["JPN"], scenario, released.item, audit=None)


def test_a_consent_for_another_item_does_not_serve(rings: Rings, scenario: Scenario) -> None:
    raw = _seal(rings, scenario, "KOR", ("USA",))
    other = _seal(rings, scenario, "KOR", ("USA",))  # same label id, another item
    consent = service.grant_consent(
        rings["KOR"], scenario, other, recipient="JPN", granted_at=AT, expires_at=None
    )
    with pytest.raises(VerificationFailed, match="another item"):
        service.release_item(rings["USA"], scenario, raw, recipient="JPN", at=AT, consent=consent)
    verified = Verifier(rings["USA"]).verify(raw)
    forged = append_release(
        rings["USA"],
        Opener(rings["USA"]),
        verified,
        recipient="JPN",
        at=AT,
        agreements=("jpn-usa-gsomia-2007",),
        marking={"party": "JPN", "originator": "KOR"},
        standing_consent=None,
        consent=consent,
    )
    with pytest.raises(VerificationFailed, match="another item"):
        Verifier(rings["JPN"]).verify(forged)


def test_a_consent_for_another_recipient_does_not_serve(
    rings: Rings, scenario: Scenario, tmp_path: Any
) -> None:
    from tests.unit.seal.conftest import make_rings

    extra = make_rings(tmp_path / "more", ("KOR", "JPN", "USA", "GBR"))
    raw = _seal(extra, scenario, "KOR", ("USA",))
    consent = service.grant_consent(
        extra["KOR"], scenario, raw, recipient="GBR", granted_at=AT, expires_at=None
    )
    with pytest.raises(VerificationFailed, match="not for JPN"):
        service.release_item(extra["USA"], scenario, raw, recipient="JPN", at=AT, consent=consent)
    verified = Verifier(extra["USA"]).verify(raw)
    forged = append_release(
        extra["USA"],
        Opener(extra["USA"]),
        verified,
        recipient="JPN",
        at=AT,
        agreements=("jpn-usa-gsomia-2007",),
        marking={"party": "JPN", "originator": "KOR"},
        standing_consent=None,
        consent=consent,
    )
    with pytest.raises(VerificationFailed, match="does not cover JPN"):
        Verifier(extra["JPN"]).verify(forged)
    del rings


def test_an_expired_or_premature_consent_does_not_serve(rings: Rings, scenario: Scenario) -> None:
    raw = _seal(rings, scenario, "KOR", ("USA",))
    consent = service.grant_consent(
        rings["KOR"],
        scenario,
        raw,
        recipient="JPN",
        granted_at=AT + timedelta(hours=1),
        expires_at=AT + timedelta(days=1),
    )
    for at in (AT + timedelta(minutes=30), AT + timedelta(days=1), AT + timedelta(days=2)):
        with pytest.raises(Denied, match="rule 7 \\(consent\\) fails"):
            service.release_item(
                rings["USA"], scenario, raw, recipient="JPN", at=at, consent=consent
            )
    released = service.release_item(
        rings["USA"], scenario, raw, recipient="JPN", at=AT + timedelta(hours=2), consent=consent
    )
    assert released.verified.releases[0].consent is not None


def test_only_the_originator_grants_consent_or_changes_the_classification(
    rings: Rings, scenario: Scenario
) -> None:
    raw = _seal(rings, scenario, "KOR", ("USA",))
    verified = Verifier(rings["USA"]).verify(raw)
    with pytest.raises(BadInput, match="only the originator"):
        make_consent(rings["USA"], verified, recipient="JPN", granted_at=AT, expires_at=None)
    with pytest.raises(BadInput, match="only the originator"):
        append_notice(rings["USA"], verified, classification="III", at=AT)


def test_a_classification_notice_is_signed_and_changes_the_current_classification(
    rings: Rings, scenario: Scenario
) -> None:
    raw = _seal(rings, scenario, "KOR", ("USA",))
    updated = service.reclassify_item(
        rings["KOR"], scenario, raw, classification="군사III급비밀", at=AT + timedelta(days=30)
    )
    view = service.verify_item(rings["USA"], scenario, updated)
    assert view.label.classification == "II"
    assert view.classification == "III"
    assert view.notices[0].classification == "III"


def test_a_notice_signed_by_another_party_is_rejected(rings: Rings, scenario: Scenario) -> None:
    raw = _seal(rings, scenario, "KOR", ("USA",))
    updated = service.reclassify_item(rings["KOR"], scenario, raw, classification="III", at=AT)
    record = Item.decode(updated).records[0]
    usa = rings["USA"]
    from gsomia.seal.batch import sign_batch

    forged_sig = sign_batch("USA", usa.current, [record.digest()])[0]
    forged_record = type(record)(record.kind, record.body, b"", b"", forged_sig)
    item = Item.decode(raw)
    forged = Item(item.core, item.signature, (forged_record,)).encode()
    with pytest.raises(VerificationFailed, match="signed by USA, expected KOR"):
        Verifier(rings["JPN"]).verify(forged)


def test_rotation_keeps_old_items_readable_and_new_items_use_the_new_keys(
    rings: Rings, scenario: Scenario
) -> None:
    old = _seal(rings, scenario, "KOR", ("USA",), b"old")
    rings["USA"].rotate()
    rings["KOR"].rotate()
    exchange(rings)
    assert service.open_item(rings["USA"], scenario, old, audit=None) == b"old"
    assert service.verify_item(rings["JPN"], scenario, old).label.id == "report-1"
    new = _seal(rings, scenario, "KOR", ("USA",), b"new")
    view = service.verify_item(rings["USA"], scenario, new)
    assert view.wraps[1].recipient_key == rings["USA"].current.key_id
    assert view.item.signature.key_id == rings["KOR"].current.key_id
    assert service.open_item(rings["USA"], scenario, new, audit=None) == b"new"


def test_a_peer_that_does_not_know_the_new_key_rejects_new_items(
    rings: Rings, scenario: Scenario
) -> None:
    rings["KOR"].rotate()
    new = _seal(rings, scenario, "KOR", ("USA",), b"new")
    with pytest.raises(VerificationFailed, match="no trusted key"):
        service.verify_item(rings["USA"], scenario, new)


def _requests(rings: Rings, n: int, size: int = 64) -> list[SealRequest]:
    grants = (Grant("USA", ("kor-usa-security-1987",), AT, {"party": "USA"}),)
    return [
        SealRequest(
            bytes([i % 256]) * size,
            SealedLabel("KR-MND-CMI", f"r-{i}", "KOR", "II", ("JPN", "USA"), ("dprk",), AT),
            grants,
        )
        for i in range(n)
    ]


def test_each_item_of_a_batch_verifies_on_its_own(rings: Rings) -> None:
    sealer = Sealer(rings["KOR"])
    items = sealer.seal_batch(_requests(rings, 13))
    for i, raw in enumerate(items):
        opener = Opener(rings["USA"])  # a fresh verifier each time: no cached root
        assert opener.open(raw) == bytes([i]) * 64
        assert Item.decode(raw).signature.size == 13


def test_a_signature_moved_to_another_item_of_the_batch_fails(rings: Rings) -> None:
    items = [Item.decode(raw) for raw in Sealer(rings["KOR"]).seal_batch(_requests(rings, 5))]
    verifier = Verifier(rings["USA"])
    for item in items:
        verifier.verify(item.encode())  # the root is now cached
    swapped = Item(items[0].core, items[1].signature).encode()
    with pytest.raises(VerificationFailed, match="signature of KOR does not hold"):
        verifier.verify(swapped)


def test_channels_are_reused_then_rotated_on_schedule_and_on_demand(rings: Rings) -> None:
    channels = ChannelCache(rings["KOR"], max_uses=4, lifetime=timedelta(hours=1))
    sealer = Sealer(rings["KOR"], channels)
    first = [Item.decode(r) for r in sealer.seal_batch(_requests(rings, 3))]

    def usa_channel(item: Item) -> bytes:
        from gsomia.seal.item import Core

        return Wrap.decode(Core.decode(item.core, "core").wraps[1], "wrap").channel_id

    assert len({usa_channel(i) for i in first}) == 1  # one channel for the batch
    more = [Item.decode(r) for r in sealer.seal_batch(_requests(rings, 2))]
    assert usa_channel(more[1]) != usa_channel(first[0])  # after 4 uses: a new channel
    before = usa_channel(more[1])
    channels.rotate("USA")
    again = Item.decode(sealer.seal(_requests(rings, 1)[0]))
    assert usa_channel(again) != before
    late = _requests(rings, 1)[0]
    later = SealRequest(
        late.content,
        SealedLabel("KR-MND-CMI", "late", "KOR", "II", ("USA",), (), AT + timedelta(hours=2)),
        late.grants,
    )
    assert usa_channel(Item.decode(sealer.seal(later))) != usa_channel(again)
    opener = Opener(rings["USA"])
    for item in (*first, *more, again):
        opener.open(item.encode())


def test_sealing_refuses_recipients_outside_the_label_and_foreign_labels(
    rings: Rings, scenario: Scenario
) -> None:
    with pytest.raises(BadInput, match=r"originator KOR is not this home.s party JPN"):
        service.seal_content(
            rings["JPN"],
            scenario,
            content=b"x",
            label_doc=label_doc("KOR"),
            recipients=["USA"],
            created=AT,
        )
    with pytest.raises(Denied, match=r"release of report-1 from KOR to JPN .* denied"):
        _seal(rings, scenario, "KOR", ("JPN",), releasable_to=("USA",))
    with pytest.raises(BadInput, match="not among the parties"):
        Sealer(rings["KOR"]).seal(
            SealRequest(
                b"x",
                SealedLabel("KR-MND-CMI", "r", "KOR", "II", ("USA",), (), AT),
                (Grant("JPN", ("a",), AT, {}),),
            )
        )


def test_a_lapsed_agreement_refuses_sealing_for_that_party(
    rings: Rings, scenario: Scenario
) -> None:
    from gsomia.scenarios import load_scenario

    lapse = load_scenario("lapse-2019")
    at = AT.replace(year=2020)
    with pytest.raises(Denied, match="jpn-kor-gsomia-2016"):
        service.seal_content(
            rings["KOR"],
            lapse,
            content=b"x",
            label_doc=label_doc("KOR", topics=("dprk.nuclear",)),
            recipients=["JPN"],
            created=at,
        )
    del scenario


def test_a_release_record_cannot_be_reordered_or_dropped_from_the_chain(
    rings: Rings, scenario: Scenario
) -> None:
    raw = _seal(rings, scenario, "KOR", ("USA",))
    one = service.release_item(rings["KOR"], scenario, raw, recipient="JPN", at=AT).item
    two = service.reclassify_item(rings["KOR"], scenario, one, classification="III", at=AT)
    item = Item.decode(two)
    dropped = Item(item.core, item.signature, (item.records[1],)).encode()
    with pytest.raises(VerificationFailed, match="out of order"):
        Verifier(rings["USA"]).verify(dropped)
    swapped = Item(item.core, item.signature, tuple(reversed(item.records))).encode()
    with pytest.raises(GsomiaError, match="out of order in the chain of records"):
        Verifier(rings["USA"]).verify(swapped)


def test_a_release_before_the_item_existed_is_refused(rings: Rings, scenario: Scenario) -> None:
    raw = _seal(rings, scenario, "KOR", ("USA",))
    with pytest.raises(BadInput, match="before the item was created"):
        service.release_item(rings["KOR"], scenario, raw, recipient="JPN", at=AT - timedelta(1))
    forged = append_release(
        rings["KOR"],
        Opener(rings["KOR"]),
        Verifier(rings["KOR"]).verify(raw),
        recipient="JPN",
        at=AT - timedelta(days=1),
        agreements=("jpn-kor-gsomia-2016",),
        marking={"party": "JPN", "originator": "KOR"},
        standing_consent=None,
        consent=None,
    )
    with pytest.raises(VerificationFailed, match="before the item was created"):
        Verifier(rings["JPN"]).verify(forged)
