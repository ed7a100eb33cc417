"""Each numbered step of ``Verifier`` refuses what it checks, and names itself in the failure.

Every test forges an item (or a record, or a consent) that is right in everything the steps
before check, signed where it must be, and wrong in the one thing its step checks.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from typing import Any

import pytest

from gsomia.domain.instants import format_instant
from gsomia.domain.labels import Label
from gsomia.domain.scenario import Scenario
from gsomia.errors import BadInput, VerificationFailed
from gsomia.scenarios import load_scenario
from gsomia.seal import service
from gsomia.seal.batch import sign_batch, sign_batch_encoded
from gsomia.seal.canonical import canonical_json
from gsomia.seal.item import (
    CONSENT_MAGIC,
    KIND_NOTICE,
    KIND_RELEASE,
    Core,
    Item,
    Record,
    SignedObject,
    consent_digest,
    encode_item,
    item_digest,
    record_digest,
)
from gsomia.seal.opener import Opener
from gsomia.seal.records import append_notice, append_release, make_consent
from gsomia.seal.sealer import Sealer, SealRequest
from gsomia.seal.verify import Verifier
from gsomia.seal.views import VerifiedItem
from tests.unit.seal.conftest import AT, Rings, label_doc

AGREEMENT = "jpn-kor-gsomia-2016"


def _sealed(rings: Rings, scenario: Scenario) -> bytes:
    """An item KOR sealed for USA."""
    return service.seal_content(
        rings["KOR"],
        scenario,
        content=b"content",
        label_doc=label_doc("KOR"),
        recipients=("USA",),
        created=AT,
    )


def _verified(rings: Rings, raw: bytes) -> VerifiedItem:
    return Verifier(rings["KOR"]).verify(raw)


def _resigned(rings: Rings, core: Core, signer: str = "KOR") -> bytes:
    """An item with ``core``, signed by ``signer`` (no records)."""
    encoded = core.encode()
    signature = sign_batch_encoded(signer, rings[signer].current, [item_digest(encoded)])[0]
    return encode_item(encoded, signature)


def _core(raw: bytes) -> Core:
    return Core.decode(Item.decode(raw).core, "core")


def _with_record(raw: bytes, record: Record) -> bytes:
    item = Item.decode(raw)
    return Item(item.core, item.signature, (*item.records, record)).encode()


def _signed_record(
    rings: Rings, kind: int, body: bytes, wrap: bytes, consent: bytes, *, signer: str
) -> Record:
    leaf = record_digest(kind, body, wrap, consent)
    return Record(kind, body, wrap, consent, sign_batch(signer, rings[signer].current, [leaf])[0])


def _release(
    rings: Rings,
    raw: bytes,
    *,
    body: bytes | None = None,
    signer: str = "KOR",
    wrap: bytes | None = None,
    consent: bytes = b"",
    **changes: Any,
) -> bytes:
    """``raw`` with a release by KOR to JPN appended, changed as asked and signed by ``signer``."""
    scenario = load_scenario("historical")
    good = service.release_item(rings["KOR"], scenario, raw, recipient="JPN", at=AT).item
    record = Item.decode(good).records[-1]
    doc = json.loads(record.body)
    doc.update(changes)
    new_body = canonical_json(doc) if body is None else body
    new_wrap = record.wrap if wrap is None else wrap
    return _with_record(
        raw, _signed_record(rings, KIND_RELEASE, new_body, new_wrap, consent, signer=signer)
    )


def _notice(
    rings: Rings, raw: bytes, *, body: bytes | None = None, signer: str = "KOR", **changes: Any
) -> bytes:
    """``raw`` with a notice by KOR appended, changed as asked and signed by ``signer``."""
    good = append_notice(rings["KOR"], _verified(rings, raw), classification="III", at=AT)
    doc = json.loads(Item.decode(good).records[-1].body)
    doc.update(changes)
    new_body = canonical_json(doc) if body is None else body
    return _with_record(raw, _signed_record(rings, KIND_NOTICE, new_body, b"", b"", signer=signer))


def _consent(rings: Rings, raw: bytes, *, signer: str = "KOR", **changes: Any) -> bytes:
    """KOR's consent to JPN for ``raw``, changed as asked and signed by ``signer``."""
    good = make_consent(
        rings["KOR"], _verified(rings, raw), recipient="JPN", granted_at=AT, expires_at=None
    )
    doc = json.loads(SignedObject.decode(good, "consent").body)
    doc.update(changes)
    body = canonical_json(doc)
    signature = sign_batch(signer, rings[signer].current, [consent_digest(body)])[0]
    return SignedObject(CONSENT_MAGIC, body, signature).encode()


def _sealed_with(
    rings: Rings,
    scenario: Scenario,
    *,
    classification: str | None = None,
    policy: str | None = None,
    grant: dict[str, Any] | None = None,
) -> bytes:
    """An item KOR sealed for USA with a label or a grant the engine would not have made."""
    label = Label.from_json(label_doc("KOR"), where="label", scenario=scenario)
    sealed = service.sealed_label(scenario, label, AT)
    sealed = dataclasses.replace(
        sealed,
        classification=classification or sealed.classification,
        policy=policy or sealed.policy,
    )
    (good,) = service.grants_for(scenario, label, ["USA"], AT)
    request = SealRequest(b"content", sealed, (dataclasses.replace(good, **(grant or {})),))
    return Sealer(rings["KOR"]).seal(request)


# ---------------------------------------------------------------- the item


def test_step_1_refuses_bytes_that_are_not_an_item(rings: Rings) -> None:
    with pytest.raises(BadInput, match=r"^step 1 \(the item decodes\): sealed item"):
        Verifier(rings["USA"]).verify(b"GSMI not an item")


def test_step_2_refuses_an_item_not_signed_by_its_originator(
    rings: Rings, scenario: Scenario
) -> None:
    forged = _resigned(rings, _core(_sealed(rings, scenario)), signer="USA")
    with pytest.raises(VerificationFailed, match=r"^step 2 \(.*signed by USA, expected KOR"):
        Verifier(rings["JPN"]).verify(forged)


def test_step_3_refuses_a_wrap_that_does_not_decode(rings: Rings, scenario: Scenario) -> None:
    core = _core(_sealed(rings, scenario))
    forged = _resigned(rings, dataclasses.replace(core, wraps=(*core.wraps[:1], b"\x00\x01")))
    with pytest.raises(BadInput, match=r"^step 3 \(the wraps decode\): sealed item: wrap 1"):
        Verifier(rings["JPN"]).verify(forged)


def test_step_4_refuses_grants_that_are_not_a_list(rings: Rings, scenario: Scenario) -> None:
    core = _core(_sealed(rings, scenario))
    forged = _resigned(rings, dataclasses.replace(core, grants=b"{}"))
    with pytest.raises(BadInput, match=r"^step 4 \(the grants decode\)"):
        Verifier(rings["JPN"]).verify(forged)


def test_step_5_refuses_an_item_whose_first_wrap_is_not_the_originators(
    rings: Rings, scenario: Scenario
) -> None:
    core = _core(_sealed(rings, scenario))
    forged = _resigned(rings, dataclasses.replace(core, wraps=core.wraps[::-1]))
    with pytest.raises(VerificationFailed, match=r"^step 5 \(the first wrap is the originator"):
        Verifier(rings["JPN"]).verify(forged)


def test_step_6_refuses_wraps_that_the_grants_do_not_name(rings: Rings, scenario: Scenario) -> None:
    core = _core(_sealed(rings, scenario))
    forged = _resigned(rings, dataclasses.replace(core, grants=b"[]"))
    with pytest.raises(VerificationFailed, match=r"^step 6 \(.*name other parties"):
        Verifier(rings["JPN"]).verify(forged)


def test_step_7_refuses_a_party_wrapped_for_twice(rings: Rings, scenario: Scenario) -> None:
    core = _core(_sealed(rings, scenario))
    grants = json.loads(core.grants)
    twice = dataclasses.replace(
        core, wraps=(*core.wraps, core.wraps[1]), grants=canonical_json(grants * 2)
    )
    with pytest.raises(VerificationFailed, match=r"^step 7 \(.*wrap 2 is for a party it may not"):
        Verifier(rings["JPN"]).verify(_resigned(rings, twice))


def test_step_8_refuses_a_label_under_another_policy(rings: Rings, scenario: Scenario) -> None:
    forged = _sealed_with(rings, scenario, policy="kor-other-policy")
    Verifier(rings["USA"]).verify(forged)  # without a scenario, nothing to check it against
    with pytest.raises(VerificationFailed, match=r"^step 8 \(the label names the originator"):
        Verifier(rings["USA"], scenario=scenario).verify(forged)


def test_step_9_refuses_a_classification_that_is_not_a_level_id(
    rings: Rings, scenario: Scenario
) -> None:
    forged = _sealed_with(rings, scenario, classification="군사II급비밀")
    with pytest.raises(VerificationFailed, match=r"^step 9 \(.*not a level id"):
        Verifier(rings["USA"], scenario=scenario).verify(forged)


# ---------------------------------------------------------------- decisions (step 10)


def test_step_d1_refuses_a_grant_the_rules_do_not_allow(rings: Rings, scenario: Scenario) -> None:
    forged = _sealed_with(rings, scenario, grant={"at": AT.replace(year=1980)})
    with pytest.raises(VerificationFailed, match=r"^step D1 \(the rules allow it\): grant to USA"):
        Verifier(rings["USA"], scenario=scenario).verify(forged)


def test_step_d2_refuses_a_grant_naming_agreements_that_do_not_allow_it(
    rings: Rings, scenario: Scenario
) -> None:
    forged = _sealed_with(rings, scenario, grant={"agreements": ("made-up-agreement",)})
    with pytest.raises(VerificationFailed, match=r"^step D2 \(.*grant to USA: names agreements"):
        Verifier(rings["USA"], scenario=scenario).verify(forged)


def test_step_d3_refuses_a_grant_with_another_marking(rings: Rings, scenario: Scenario) -> None:
    forged = _sealed_with(rings, scenario, grant={"marking": {"party": "USA"}})
    with pytest.raises(VerificationFailed, match=r"^step D3 \(.*the recipient's marking"):
        Verifier(rings["USA"], scenario=scenario).verify(forged)


def test_the_decision_steps_also_check_every_release(rings: Rings, scenario: Scenario) -> None:
    forged = _release(rings, _sealed(rings, scenario), agreements=["made-up-agreement"])
    Verifier(rings["USA"]).verify(forged)  # every step but the decisions holds
    with pytest.raises(VerificationFailed, match=r"^step D2 \(.*record 0: names agreements"):
        Verifier(rings["USA"], scenario=scenario).verify(forged)


# ---------------------------------------------------------------- release records


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        ({"body": b'{"type":"release"}'}, BadInput, r"^step R1 \(.*record 0: body"),
        ({"type": "classification-change"}, VerificationFailed, r"^step R2 \(.*not a release"),
        ({"prev": "11" * 32}, VerificationFailed, r"^step R3 \(.*out of order"),
        ({"holder": 7}, BadInput, r"^step R4 \(.*must be party codes"),
        ({"signer": "USA"}, VerificationFailed, r"^step R5 \(.*signed by USA, expected KOR"),
        ({"holder": "JPN", "signer": "JPN"}, VerificationFailed, r"^step R6 \(.*JPN did not"),
        ({"recipient": "USA"}, VerificationFailed, r"^step R7 \(.*USA may not receive"),
        (
            {"at": format_instant(AT - timedelta(days=1))},
            VerificationFailed,
            r"^step R8 \(.*before the item was created",
        ),
        ({"agreements": AGREEMENT}, BadInput, r"^step R9 \(.*a list of ids"),
        (
            {"marking": {"party": "JPN", "originator": "USA"}},
            VerificationFailed,
            r"^step R10 \(.*must name the originator",
        ),
        (
            {"marking": {"party": "USA", "originator": "KOR"}},
            VerificationFailed,
            r"^step R11 \(.*not the recipient's",
        ),
        ({"standing_consent": 5}, BadInput, r"^step R12 \(.*an id or null"),
    ],
    ids=[f"R{n}" for n in range(1, 13)],
)
def test_steps_r1_to_r12_refuse_a_release_record(
    rings: Rings,
    scenario: Scenario,
    changes: dict[str, Any],
    error: type[Exception],
    match: str,
) -> None:
    forged = _release(rings, _sealed(rings, scenario), **changes)
    with pytest.raises(error, match=match):
        Verifier(rings["USA"]).verify(forged)


def test_step_r13_refuses_a_wrap_for_another_party(rings: Rings, scenario: Scenario) -> None:
    raw = _sealed(rings, scenario)
    usa_wrap = _core(raw).wraps[1]
    with pytest.raises(VerificationFailed, match=r"^step R13 \(.*not from KOR to JPN"):
        Verifier(rings["USA"]).verify(_release(rings, raw, wrap=usa_wrap))


def test_step_r14_refuses_a_consent_for_another_recipient(rings: Rings, scenario: Scenario) -> None:
    raw = _sealed(rings, scenario)
    for_usa = _consent(rings, raw, recipient="USA")
    with pytest.raises(VerificationFailed, match=r"^step R14 \(.*does not cover JPN"):
        Verifier(rings["USA"]).verify(_release(rings, raw, consent=for_usa))


def _release_by_usa(rings: Rings, raw: bytes, standing: str | None) -> bytes:
    return append_release(
        rings["USA"],
        Opener(rings["USA"]),
        _verified(rings, raw),
        recipient="JPN",
        at=AT,
        agreements=(AGREEMENT,),
        marking={"party": "JPN", "originator": "KOR"},
        standing_consent=standing,
        consent=None,
    )


def test_step_r15_refuses_a_release_by_another_holder_without_consent(
    rings: Rings, scenario: Scenario
) -> None:
    forged = _release_by_usa(rings, _sealed(rings, scenario), None)
    with pytest.raises(VerificationFailed, match=r"^step R15 \(.*without its consent"):
        Verifier(rings["JPN"]).verify(forged)


def test_step_r16_refuses_a_standing_consent_without_a_scenario(
    rings: Rings, scenario: Scenario
) -> None:
    forged = _release_by_usa(rings, _sealed(rings, scenario), "some-standing-consent")
    with pytest.raises(VerificationFailed, match=r"^step R16 \(.*only be checked with a scen"):
        Verifier(rings["JPN"]).verify(forged)


def test_step_r17_refuses_a_standing_consent_the_scenario_does_not_hold(
    rings: Rings, scenario: Scenario
) -> None:
    forged = _release_by_usa(rings, _sealed(rings, scenario), "no-such-consent")
    with pytest.raises(VerificationFailed, match=r"^step R17 \(.*no standing consent 'no-such"):
        Verifier(rings["JPN"], scenario=scenario).verify(forged)


# ---------------------------------------------------------------- classification notices


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        ({"body": b"[]"}, BadInput, r"^step N1 \(.*record 0: body"),
        ({"type": "release"}, VerificationFailed, r"^step N2 \(.*not a classification notice"),
        ({"prev": "11" * 32}, VerificationFailed, r"^step N3 \(.*out of order"),
        ({"originator": "USA"}, VerificationFailed, r"^step N4 \(.*only the originator"),
        ({"signer": "USA"}, VerificationFailed, r"^step N5 \(.*signed by USA, expected KOR"),
        ({"classification": ""}, BadInput, r"^step N6 \(.*must be a level id"),
    ],
    ids=[f"N{n}" for n in range(1, 7)],
)
def test_steps_n1_to_n6_refuse_a_classification_notice(
    rings: Rings,
    scenario: Scenario,
    changes: dict[str, Any],
    error: type[Exception],
    match: str,
) -> None:
    forged = _notice(rings, _sealed(rings, scenario), **changes)
    with pytest.raises(error, match=match):
        Verifier(rings["USA"]).verify(forged)


def test_step_n7_refuses_a_classification_outside_the_originators_policy(
    rings: Rings, scenario: Scenario
) -> None:
    forged = _notice(rings, _sealed(rings, scenario), classification="NO-SUCH-LEVEL")
    Verifier(rings["USA"]).verify(forged)  # without a scenario, any level id
    with pytest.raises(BadInput, match=r"^step N7 \(.*NO-SUCH-LEVEL"):
        Verifier(rings["USA"], scenario=scenario).verify(forged)


# ---------------------------------------------------------------- consent tokens


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        ({"garbage": True}, BadInput, r"^step C1 \(the consent decodes\): consent: body"),
        ({"signer": "USA"}, VerificationFailed, r"^step C2 \(.*signed by USA, expected KOR"),
        ({"item": "report-2"}, VerificationFailed, r"^step C3 \(.*given for another item"),
        ({"recipient": None}, BadInput, r"^step C4 \(.*recipient must be a party code"),
        (
            {"expires_at": format_instant(AT)},
            VerificationFailed,
            r"^step C5 \(.*expires before it is granted",
        ),
    ],
    ids=[f"C{n}" for n in range(1, 6)],
)
def test_steps_c1_to_c5_refuse_a_consent(
    rings: Rings,
    scenario: Scenario,
    changes: dict[str, Any],
    error: type[Exception],
    match: str,
) -> None:
    raw = _sealed(rings, scenario)
    verified = _verified(rings, raw)
    consent = _consent(rings, raw, **changes)
    with pytest.raises(error, match=match):
        Verifier(rings["USA"]).verify_consent(consent, label=verified.label, digest=verified.digest)
    with pytest.raises(error, match=match):  # and the same inside a release record
        Verifier(rings["USA"]).verify(_release(rings, raw, consent=consent))


def test_an_item_that_passes_every_step_verifies(rings: Rings, scenario: Scenario) -> None:
    raw = _sealed(rings, scenario)
    consent = _consent(rings, raw)
    released = _release(rings, raw, consent=consent)
    noticed = _notice(rings, released)
    view = Verifier(rings["JPN"], scenario=scenario).verify(noticed)
    assert [r.recipient for r in view.releases] == ["JPN"]
    assert view.classification == "III"


def test_grants_without_a_scenario_are_not_decided(rings: Rings, scenario: Scenario) -> None:
    forged = _sealed_with(rings, scenario, grant={"agreements": ("made-up-agreement",)})
    grant = Verifier(rings["USA"]).verify(forged).grants[0]
    assert grant.agreements == ("made-up-agreement",)
