"""Track frames: a window sealed under one signature, opened only by its recipient, relayed by
a hub, and refused when any byte, key, label, route or seq is out of place."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from gsomia import primitives
from gsomia.domain.tracks import (
    TRACK_PURPOSE,
    TRACK_TOPIC,
    Ellipse,
    Phase,
    Position,
    TrackUpdate,
    Velocity,
)
from gsomia.errors import BadInput, GsomiaError, VerificationFailed
from gsomia.seal import trackwire as tw
from gsomia.seal import wire
from gsomia.seal.batch import sign_batch_encoded
from gsomia.seal.canonical import canonical_json
from gsomia.seal.channels import ChannelCache, wrap_with
from gsomia.seal.item import SealedLabel, Wrap
from gsomia.seal.tracks import FramePlan, OpenedFrame, RelayPlan, TrackOpener, TrackSealer
from tests.unit.seal.conftest import AT, Rings, make_rings

OPAQUE = "cannot be opened by"


def _track() -> str:
    return f"track--{uuid.uuid4()}"


def _label(track: str, originator: str = "KOR") -> SealedLabel:
    return SealedLabel(
        policy="KR-MND-CMI",
        id=track,
        originator=originator,
        classification="II",
        releasable_to=tuple(p for p in ("JPN", "KOR", "USA") if p != originator),
        topics=(TRACK_TOPIC,),
        created=AT,
        purposes=(TRACK_PURPOSE,),
    )


def _update(track: str, seq: int, party: str = "KOR") -> TrackUpdate:
    return TrackUpdate(
        track=track,
        seq=seq,
        at=AT + timedelta(seconds=seq / 10),
        party=party,
        sensor="radar-1",
        position=Position(39.0 + seq / 1000, 125.5, 10.0 * seq),
        velocity=Velocity(0.5, 0.1, 2.0),
        phase=Phase.BOOST,
        launch=Position(39.0, 125.5, 0.0),
        impact=Ellipse(40.0, 134.0, 300.0, 100.0, 45.0),
        synthesized=True,
    )


def _plan(
    recipient: str, track: str, seqs: range, *, prev: int = 0, origin: str = "KOR"
) -> FramePlan:
    return FramePlan(
        recipient=recipient,
        label=_label(track, origin),
        track=track,
        at=AT,
        prev=prev,
        updates=[_update(track, s, origin) for s in seqs],
    )


@pytest.fixture(scope="module")
def rings(tmp_path_factory: pytest.TempPathFactory) -> Rings:
    return make_rings(tmp_path_factory.mktemp("homes"))


def _opener(rings: Rings, party: str, audit: list[dict[str, Any]] | None = None) -> TrackOpener:
    return TrackOpener(rings[party], audit=None if audit is None else audit.append)


def _refused(opener: TrackOpener, raw: bytes) -> None:
    with pytest.raises(VerificationFailed, match=OPAQUE):
        opener.open(raw)


# ---------------------------------------------------------------- the window


def test_a_window_opens_at_each_recipient_only(rings: Rings) -> None:
    t1, t2 = _track(), _track()
    sealer = TrackSealer(rings["KOR"])
    plans = [
        _plan("JPN", t1, range(1, 4)),
        _plan("USA", t1, range(1, 6)),
        _plan("USA", t2, range(7, 9), prev=6),
    ]
    frames = sealer.seal_window(plans)
    assert len(frames) == 3
    opened = _opener(rings, "JPN").open(frames[0])
    assert (opened.origin, opened.sender, opened.recipient, opened.route) == (
        "KOR",
        "KOR",
        "JPN",
        ("KOR",),
    )
    assert opened.track == t1
    assert opened.label == _label(t1).domain("II")
    assert opened.at == AT
    assert opened.prev == 0
    assert opened.updates == tuple(_update(t1, s) for s in range(1, 4))
    assert (opened.first, opened.last, opened.relayed) == (1, 3, False)
    usa = _opener(rings, "USA")
    assert [u.seq for u in usa.open(frames[1]).updates] == [1, 2, 3, 4, 5]
    second = usa.open(frames[2])
    assert (second.track, second.prev, second.first, second.last) == (t2, 6, 7, 8)
    # nobody else opens them: the other recipient, the sender, the third party
    _refused(_opener(rings, "USA"), frames[0])
    _refused(_opener(rings, "JPN"), frames[1])
    _refused(_opener(rings, "KOR"), frames[0])


def test_one_signature_per_window(rings: Rings) -> None:
    sealer = TrackSealer(rings["KOR"])
    track = _track()
    frames = sealer.seal_window(
        [_plan(p, track, range(1, 3)) for p in ("JPN", "USA")]
        + [_plan("USA", _track(), range(1, 2)) for _ in range(8)]
    )
    assert sealer.signatures == 1
    signatures = [tw.Frame.decode(f).signature for f in frames]
    assert {(s.signature.ed25519, s.signature.mldsa65) for s in signatures} == {
        (signatures[0].signature.ed25519, signatures[0].signature.mldsa65)
    }
    assert [(s.index, s.size) for s in signatures] == [(i, 10) for i in range(10)]
    sealer.seal_window([_plan("JPN", track, range(3, 4), prev=2)])
    assert sealer.signatures == 2


def test_the_digest_from_the_frame_bytes_is_the_frame_digest(rings: Rings) -> None:
    """What the opener hashes in place (``raw_frame_digest``) is the digest the sender signed,
    for frames of every size (each frame's bytes a different layout)."""
    sealer = TrackSealer(rings["KOR"])
    frames = sealer.seal_window([_plan("USA", _track(), range(1, n)) for n in (2, 5, 40)])
    for raw in frames:
        frame = tw.Frame.decode(raw)
        assert tw.raw_frame_digest(raw, frame) == frame.digest()
        assert tw.raw_frame_digest(raw + b"\x00", frame) == frame.digest()  # bounded by lengths
        other = tw.Frame.decode(frames[0])
        if raw != frames[0]:
            assert tw.raw_frame_digest(frames[0], other) != frame.digest()


def test_update_dicts_are_checked_and_sealed(rings: Rings) -> None:
    track = _track()
    plan = replace(_plan("JPN", track, range(1, 3)), updates=[_update(track, 1).to_json()])
    opened = _opener(rings, "JPN").open(TrackSealer(rings["KOR"]).seal_window([plan])[0])
    assert opened.updates == (_update(track, 1),)
    bad = {**_update(track, 2).to_json(), "phase": "coasting"}
    with pytest.raises(BadInput, match="frame 0: update 0: field 'phase'"):
        TrackSealer(rings["KOR"]).seal_window([replace(plan, updates=[bad])])


# ---------------------------------------------------------------- refused


def _all_parts_frames(rings: Rings) -> tuple[bytes, bytes]:
    """An origin frame for USA and its relay to JPN."""
    track = _track()
    origin = TrackSealer(rings["KOR"]).seal_window(
        [_plan("USA", track, range(1, 3)), _plan("USA", _track(), range(1, 2))]
    )[0]
    relayed = TrackSealer(rings["USA"]).relay_window(
        [RelayPlan(origin, "JPN", AT + timedelta(seconds=1), 0)]
    )[0]
    return origin, relayed


def _undetected(opener: TrackOpener, raw: bytes, signatures: list[bytes]) -> list[int]:
    """The positions whose change ``opener`` does not detect: every byte, but only every 13th
    byte of the ML-DSA signatures and channel encapsulations in ``signatures`` (each change
    there costs a full verification or decapsulation)."""
    sampled: set[int] = set()
    for sig in signatures:
        at = raw.index(sig)
        sampled.update(i for i in range(at, at + len(sig)) if (i - at) % 13)
    missed = []
    buf = bytearray(raw)
    for i in range(len(buf)):
        if i in sampled:
            continue
        buf[i] ^= 0x01
        try:
            opener.open(bytes(buf))
        except GsomiaError:
            pass
        else:
            missed.append(i)
        buf[i] ^= 0x01
    return missed


def test_every_byte_of_a_frame_is_covered(rings: Rings) -> None:
    origin, relayed = _all_parts_frames(rings)
    usa, jpn = _opener(rings, "USA"), _opener(rings, "JPN")
    usa.open(origin)
    jpn.open(relayed)
    frame, relay = tw.Frame.decode(origin), tw.Relayed.decode(relayed)
    origin_sig, relay_sig = frame.signature.signature.mldsa65, relay.signature.signature.mldsa65
    origin_enc = Wrap.decode(frame.wrap, "wrap").channel_enc
    relay_enc = Wrap.decode(tw.RelayRecord.decode(relay.record, "record").wrap, "wrap").channel_enc
    assert _undetected(usa, origin, [origin_sig, origin_enc]) == []
    assert _undetected(jpn, relayed, [origin_sig, relay_sig, origin_enc, relay_enc]) == []
    assert usa.open(origin).digest == jpn.open(relayed).digest


def test_a_frame_for_jpn_is_refused_at_usa_and_audited(rings: Rings) -> None:
    frame = TrackSealer(rings["KOR"]).seal_window([_plan("JPN", _track(), range(1, 2))])[0]
    audit: list[dict[str, Any]] = []
    _refused(_opener(rings, "USA", audit), frame)
    assert [a["event"] for a in audit] == ["track-open-failed"]
    assert "step T6" in audit[0]["reason"]
    assert "for JPN, not USA" in audit[0]["reason"]


def test_wrong_origin_keys_are_refused(
    rings: Rings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    impostor = make_rings(tmp_path_factory.mktemp("impostor"))  # another KOR, not trusted
    frame = TrackSealer(impostor["KOR"]).seal_window([_plan("JPN", _track(), range(1, 2))])[0]
    audit: list[dict[str, Any]] = []
    _refused(_opener(rings, "JPN", audit), frame)
    assert "step T3" in audit[0]["reason"]


def test_a_relayed_frame_opens_at_the_next_recipient(rings: Rings) -> None:
    track = _track()
    origin = TrackSealer(rings["KOR"]).seal_window([_plan("USA", track, range(4, 7), prev=3)])[0]
    hub = TrackSealer(rings["USA"])
    at = AT + timedelta(milliseconds=20)
    relayed = hub.relay_window([RelayPlan(origin, "JPN", at, 2)])
    assert hub.signatures == 1
    opened = _opener(rings, "JPN").open(relayed[0])
    assert isinstance(opened, OpenedFrame)
    assert (opened.origin, opened.sender, opened.recipient, opened.route) == (
        "KOR",
        "USA",
        "JPN",
        ("KOR", "USA"),
    )
    assert (opened.at, opened.prev, opened.origin_at, opened.origin_prev) == (at, 2, AT, 3)
    assert [u.seq for u in opened.updates] == [4, 5, 6]
    assert opened.relayed
    assert opened.frame == origin
    assert opened.digest == tw.Frame.decode(origin).digest()
    # the origin frame inside is unchanged, and still only USA's
    _refused(_opener(rings, "JPN"), origin)
    _refused(_opener(rings, "KOR"), relayed[0])


def test_a_hub_relays_only_what_it_may(rings: Rings) -> None:
    track = _track()
    origin = TrackSealer(rings["KOR"]).seal_window([_plan("USA", track, range(1, 3))])[0]
    for_jpn = TrackSealer(rings["KOR"]).seal_window([_plan("JPN", track, range(1, 3))])[0]
    hub = TrackSealer(rings["USA"])
    with pytest.raises(BadInput, match="relay 0: KOR is the origin or this node"):
        hub.relay_window([RelayPlan(origin, "KOR", AT, 0)])
    with pytest.raises(BadInput, match="relay 0: prev 1 must be below"):
        hub.relay_window([RelayPlan(origin, "JPN", AT, 1)])
    with pytest.raises(VerificationFailed, match=OPAQUE):
        hub.relay_window([RelayPlan(for_jpn, "JPN", AT, 0)])
    relayed = hub.relay_window([RelayPlan(origin, "JPN", AT, 0)])[0]
    with pytest.raises(BadInput, match="only an origin frame"):
        TrackSealer(rings["JPN"]).relay_window([RelayPlan(relayed, "KOR", AT, 0)])


def test_a_relay_record_moved_onto_another_frame_is_refused(rings: Rings) -> None:
    kor = TrackSealer(rings["KOR"])
    a, b = kor.seal_window([_plan("USA", _track(), range(1, 2)) for _ in range(2)])
    relayed = tw.Relayed.decode(
        TrackSealer(rings["USA"]).relay_window([RelayPlan(a, "JPN", AT, 0)])[0]
    )
    moved = tw.encode_relayed(b, relayed.record, relayed.signature.encode())
    audit: list[dict[str, Any]] = []
    _refused(_opener(rings, "JPN", audit), moved)
    assert "step T4" in audit[0]["reason"]
    assert "names another frame" in audit[0]["reason"]


def test_updates_out_of_order_are_refused_to_seal(rings: Rings) -> None:
    track = _track()
    sealer = TrackSealer(rings["KOR"])
    bad = replace(_plan("JPN", track, range(1, 2)), updates=[_update(track, 2), _update(track, 1)])
    with pytest.raises(BadInput, match="frame 0: update 1 has seq 1, not above 2"):
        sealer.seal_window([bad])
    with pytest.raises(BadInput, match="frame 0: update 0 has seq 3, not above 3"):
        sealer.seal_window([_plan("JPN", track, range(3, 4), prev=3)])
    with pytest.raises(BadInput, match="update 0 is of track--"):
        sealer.seal_window([replace(bad, updates=[_update(_track(), 1)])])
    with pytest.raises(BadInput, match="update 0 is JPN's, not KOR's"):
        sealer.seal_window([replace(bad, updates=[_update(track, 1, "JPN")])])
    with pytest.raises(BadInput, match="the label's originator is JPN, not KOR"):
        sealer.seal_window([replace(bad, label=_label(track, "JPN"))])
    assert sealer.signatures == 0


def _hand_built(
    rings: Rings, track: str, updates: list[dict[str, object]], first: int, count: int = 0
) -> bytes:
    """A frame KOR signs with whatever updates inside (the sealer would refuse them)."""
    channels = ChannelCache(rings["KOR"])
    nonce = primitives.random_bytes(12)
    header = tw.FrameHeader(
        "KOR",
        "KOR",
        "JPN",
        track,
        _label(track).encode(),
        AT,
        0,
        first,
        count or len(updates),
        nonce,
    ).encode()
    key = primitives.random_bytes(32)
    ciphertext = primitives.aes256gcm_encrypt(
        key, nonce, canonical_json(updates), tw.content_aad(header)
    )
    wrap = wrap_with(channels.channel("JPN", AT), key, nonce)
    digest = tw.frame_digest(header, ciphertext, wrap)
    sig = sign_batch_encoded("KOR", rings["KOR"].current, [digest])[0]
    return tw.encode_frame(header, ciphertext, wrap, sig)


def test_hand_built_frames_with_bad_updates_are_refused(rings: Rings) -> None:
    track = _track()
    ok = [_update(track, 1).to_json(), _update(track, 2).to_json()]
    _opener(rings, "JPN").open(_hand_built(rings, track, ok, 1))  # the builder is sound
    cases = {
        "has seq 1, not above 2": ([ok[1], ok[0]], 2),
        "the first update has seq 1, not 2": (ok, 2),
        "is JPN's, not KOR's": ([_update(track, 1, "JPN").to_json(), ok[1]], 1),
        "is of track--": ([ok[0], _update(_track(), 2).to_json()], 1),
        "updates: 1, the header says 2": ([ok[0]], 1),
    }
    for reason, (updates, first) in cases.items():
        audit: list[dict[str, Any]] = []
        built = _hand_built(rings, track, updates, first, count=2)
        _refused(_opener(rings, "JPN", audit), built)
        assert "step T9" in audit[0]["reason"]
        assert reason in audit[0]["reason"]


def test_the_label_is_bound(rings: Rings) -> None:
    track = _track()
    frame = tw.Frame.decode(
        TrackSealer(rings["KOR"]).seal_window([_plan("JPN", track, range(1, 2))])[0]
    )
    header = tw.FrameHeader.decode(frame.header, "header")
    swapped = replace(_label(track), classification="III").encode()
    forged = replace(header, label=swapped).encode()
    raw = tw.encode_frame(forged, frame.ciphertext, frame.wrap, frame.signature.encode())
    audit: list[dict[str, Any]] = []
    _refused(_opener(rings, "JPN", audit), raw)
    assert "step T3" in audit[0]["reason"]
    # and a label for another track is refused before any signature is checked
    other = replace(header, label=_label(_track()).encode()).encode()
    raw = tw.encode_frame(other, frame.ciphertext, frame.wrap, frame.signature.encode())
    audit.clear()
    _refused(_opener(rings, "JPN", audit), raw)
    assert "step T2" in audit[0]["reason"]


def test_malformed_frames_are_bad_input(rings: Rings) -> None:
    opener = _opener(rings, "JPN")
    frame = TrackSealer(rings["KOR"]).seal_window([_plan("JPN", _track(), range(1, 2))])[0]
    with pytest.raises(BadInput, match=r"step T1 .* not a gsomia track frame"):
        opener.open(b"GSMI" + frame[4:])
    with pytest.raises(BadInput, match=r"step T1 .* unexpected trailing bytes"):
        opener.open(frame + b"\x00")
    with pytest.raises(BadInput, match=r"step T1 .* unsupported version 2"):
        opener.open(b"GSMT\x02" + frame[5:])
    header = tw.FrameHeader.decode(tw.Frame.decode(frame).header, "header")
    with pytest.raises(BadInput, match="seqs must satisfy prev < first"):
        replace(header, prev=1).check("header")
    with pytest.raises(BadInput, match="not in canonical form"):
        tw.decode_instant(b"2024-01-10T09:00:00.000000+00:00", "at")
    with pytest.raises(BadInput, match="a frame from KOR to itself"):
        replace(header, recipient="KOR").check("header")
    with pytest.raises(BadInput, match="relays to itself"):
        tw.RelayRecord.decode(
            tw.RelayRecord("USA", "USA", AT, 0, bytes(32), b"w").encode(), "record"
        )
    assert wire.u32(1) == b"\x00\x00\x00\x01"
