"""Known-answer vectors (tests/vectors/seal/vectors.json), read by an independent decoder.

The decoder below is written from docs/formats.md ("Sealed items") with the standard
library and pyca/cryptography only: it imports nothing from ``gsomia.seal``. It parses each
item, recomputes the item digest and the Merkle root from the inclusion path, verifies both
halves of the composite signature, the release records and the embedded consent, decapsulates
the channel key with HPKE, unwraps the data key and decrypts the content. The production code
must read the same vectors, and items it seals now must pass the independent decoder.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import ed25519, mldsa, mlkem, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VECTORS = Path(__file__).parents[2] / "vectors" / "seal" / "vectors.json"


# ---------------------------------------------------------------- the independent decoder


class Malformed(Exception):
    pass


class Cursor:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise Malformed("truncated")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int(struct.unpack(">H", self.take(2))[0])

    def u32(self) -> int:
        return int(struct.unpack(">I", self.take(4))[0])

    def vec(self) -> bytes:
        return self.take(self.u32())

    def vecs(self) -> list[bytes]:
        return [self.vec() for _ in range(self.u16())]

    def done(self) -> None:
        if self.pos != len(self.data):
            raise Malformed("trailing bytes")


@dataclass
class Sig:
    signer: str
    key_id: str
    size: int
    index: int
    path: list[bytes]
    ed: bytes
    ml: bytes


def parse_sig(raw: bytes) -> Sig:
    c = Cursor(raw)
    signer, key_id = c.vec().decode(), c.vec().decode()
    if c.u16() != 1:
        raise Malformed("signature algorithm")
    size, index = c.u32(), c.u32()
    path = c.vecs()
    ed, ml = c.vec(), c.vec()
    c.done()
    return Sig(signer, key_id, size, index, path, ed, ml)


def mth_leaf(d: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + d).digest()


def mth_node(a: bytes, b: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + a + b).digest()


def root_from_inclusion(leaf: bytes, index: int, size: int, path: list[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2, written out again."""
    if index >= size:
        raise Malformed("index")
    fn, sn, r = index, size - 1, mth_leaf(leaf)
    for p in path:
        if sn == 0:
            raise Malformed("path too long")
        if fn % 2 == 1 or fn == sn:
            r = mth_node(p, r)
            while fn % 2 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = mth_node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise Malformed("path too short")
    return r


def public_keys(doc: dict[str, Any], key_id: str) -> dict[str, Any]:
    for entry in doc["keys"]:
        if entry["id"] == key_id:
            found: dict[str, Any] = entry
            return found
    raise Malformed(f"unknown key {key_id}")


def check_sig(sig: Sig, leaf: bytes, signer: str, keys: dict[str, Any]) -> None:
    if sig.signer != signer:
        raise Malformed("signer")
    root = root_from_inclusion(leaf, sig.index, sig.size, sig.path)
    message = (
        b"gsomia/seal/v1/batch\x00"
        + sig.signer.encode()
        + b"\x00"
        + sig.key_id.encode()
        + b"\x00"
        + struct.pack(">I", sig.size)
        + root
    )
    signed = b"gsomia/composite/ed25519+ml-dsa-65/v1\x00" + message
    entry = public_keys(keys[signer]["public"], sig.key_id)
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(entry["ed25519"])).verify(
            sig.ed, signed
        )
        mldsa.MLDSA65PublicKey.from_public_bytes(base64.b64decode(entry["ml_dsa_65"])).verify(
            sig.ml, signed, b"gsomia-composite-v1"
        )
    except InvalidSignature as exc:
        raise Malformed(f"signature of {signer} does not verify") from exc


@dataclass
class WrapFields:
    recipient: str
    recipient_key: str
    sender: str
    channel_id: bytes
    enc: bytes
    nonce: bytes
    wrapped: bytes


def parse_wrap(raw: bytes) -> WrapFields:
    c = Cursor(raw)
    fields = [c.vec() for _ in range(7)]
    c.done()
    return WrapFields(
        fields[0].decode(),
        fields[1].decode(),
        fields[2].decode(),
        fields[3],
        fields[4],
        fields[5],
        fields[6],
    )


def unwrap(wrap: WrapFields, private: dict[str, str], content_nonce: bytes) -> bytes:
    key = hpke.MLKEM768X25519PrivateKey(
        mlkem.MLKEM768PrivateKey.from_seed_bytes(bytes.fromhex(private["ml_kem_768_seed"])),
        x25519.X25519PrivateKey.from_private_bytes(bytes.fromhex(private["x25519"])),
    )
    info = b"\x00".join(
        (
            b"gsomia/seal/v1/channel",
            wrap.sender.encode(),
            wrap.recipient.encode(),
            wrap.recipient_key.encode(),
            wrap.channel_id,
        )
    )
    suite = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
    channel_key = suite.decrypt(wrap.enc, key, info)
    aad = b"gsomia/seal/v1/wrap\x00" + wrap.recipient.encode() + b"\x00" + content_nonce
    return AESGCM(channel_key).decrypt(wrap.nonce, wrap.wrapped, aad)


@dataclass
class Decoded:
    digest: bytes
    label: dict[str, Any]
    content: bytes | None
    releases: list[dict[str, Any]]
    notices: list[dict[str, Any]]


def decode_item(raw: bytes, keys: dict[str, Any], reader: str) -> Decoded:
    c = Cursor(raw)
    if c.take(4) != b"GSMI" or c.u8() != 1 or c.u16() != 1:
        raise Malformed("header")
    core_raw, sig_raw, records = c.vec(), c.vec(), c.vecs()
    c.done()
    digest = hashlib.sha256(b"gsomia/seal/v1/item\x00" + b"\x00\x01" + core_raw).digest()
    core = Cursor(core_raw)
    label_raw, nonce, ciphertext, wraps_raw, grants_raw = (
        core.vec(),
        core.vec(),
        core.vec(),
        core.vecs(),
        core.vec(),
    )
    core.done()
    label = json.loads(label_raw)
    if json.dumps(label, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() != (
        label_raw
    ):
        raise Malformed("label not canonical")
    check_sig(parse_sig(sig_raw), digest, label["originator"], keys)
    wraps = [parse_wrap(w) for w in wraps_raw]
    grants = json.loads(grants_raw)
    if [w.recipient for w in wraps] != [label["originator"]] + [g["party"] for g in grants]:
        raise Malformed("wraps and grants")
    prev = bytes(32)
    releases, notices = [], []
    for rec_raw in records:
        rc = Cursor(rec_raw)
        kind, body_raw, wrap_raw, consent_raw, rsig_raw = (
            rc.u8(),
            rc.vec(),
            rc.vec(),
            rc.vec(),
            rc.vec(),
        )
        rc.done()
        signed_part = rec_raw[: len(rec_raw) - 4 - len(rsig_raw)]
        rdigest = hashlib.sha256(b"gsomia/seal/v1/record\x00" + signed_part).digest()
        body = json.loads(body_raw)
        if body["item_digest"] != digest.hex() or body["prev"] != prev.hex():
            raise Malformed("record chain")
        if kind == 1:
            check_sig(parse_sig(rsig_raw), rdigest, body["holder"], keys)
            if body["holder"] != label["originator"]:
                token = Cursor(consent_raw)
                if token.take(4) != b"GSMC" or token.u8() != 1:
                    raise Malformed("consent header")
                cbody_raw, csig_raw = token.vec(), token.vec()
                token.done()
                cdigest = hashlib.sha256(b"gsomia/seal/v1/consent\x00" + cbody_raw).digest()
                check_sig(parse_sig(csig_raw), cdigest, label["originator"], keys)
                cbody = json.loads(cbody_raw)
                if (cbody["item_digest"], cbody["recipient"]) != (digest.hex(), body["recipient"]):
                    raise Malformed("consent for another item or recipient")
            wraps.append(parse_wrap(wrap_raw))
            releases.append(body)
        elif kind == 2:
            check_sig(parse_sig(rsig_raw), rdigest, label["originator"], keys)
            notices.append(body)
        else:
            raise Malformed("record kind")
        prev = rdigest
    content = None
    mine = [w for w in wraps if w.recipient == reader]
    if mine:
        data_key = unwrap(mine[0], keys[reader]["private"], nonce)
        aad = b"gsomia/seal/v1/content\x00" + label_raw
        content = AESGCM(data_key).decrypt(nonce, ciphertext, aad)
    return Decoded(digest, label, content, releases, notices)


# ---------------------------------------------------------------- the tests


@pytest.fixture(scope="module")
def vectors() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(VECTORS.read_text())
    return doc


def test_the_independent_decoder_reads_every_vector(vectors: dict[str, Any]) -> None:
    keys = vectors["keys"]
    for case in vectors["items"]:
        raw = bytes.fromhex(case["item"])
        for reader in ("KOR", "JPN", "USA"):
            decoded = decode_item(raw, keys, reader)
            assert decoded.label["originator"] == "KOR"
            assert len(decoded.releases) == case["releases"]
            if reader in case["readers"]:
                assert decoded.content == bytes.fromhex(case["content"]), case["name"]
            else:
                assert decoded.content is None


def test_the_independent_decoder_refuses_a_tampered_vector(vectors: dict[str, Any]) -> None:
    raw = bytearray(bytes.fromhex(vectors["items"][1]["item"]))
    raw[len(raw) // 2] ^= 0x01
    with pytest.raises(Malformed, match="signature of USA does not verify"):
        decode_item(bytes(raw), vectors["keys"], "JPN")


def test_the_production_code_reads_the_vectors(vectors: dict[str, Any], tmp_path: Path) -> None:
    from gsomia.scenarios import load_scenario
    from gsomia.seal.keys import PublicKeyring, parse_export_document
    from gsomia.seal.opener import Opener
    from gsomia.seal.verify import Verifier

    keys = vectors["keys"]
    peers = {
        p: parse_export_document(k["public"], where=p)[1] for p, k in keys.items() if p != "JPN"
    }
    trust = PublicKeyring(
        tmp_path, "JPN", parse_export_document(keys["JPN"]["public"], where="JPN")[1], peers
    )
    verifier = Verifier(trust, scenario=load_scenario("historical"))
    for case in vectors["items"]:
        view = verifier.verify(bytes.fromhex(case["item"]))
        assert view.label.id
        assert len(view.releases) == case["releases"]
    del Opener


def test_items_sealed_now_pass_the_independent_decoder(tmp_path: Path) -> None:
    from datetime import timedelta

    from gsomia.scenarios import load_scenario
    from gsomia.seal import service
    from tests.unit.seal.conftest import AT, label_doc, make_rings

    scenario = load_scenario("historical")
    rings = make_rings(tmp_path)
    raw = service.seal_content(
        rings["JPN"],
        scenario,
        content=b"now",
        label_doc=label_doc("JPN"),
        recipients=["USA"],
        created=AT,
    )
    consent = service.grant_consent(
        rings["JPN"], scenario, raw, recipient="KOR", granted_at=AT, expires_at=None
    )
    released = service.release_item(
        rings["USA"], scenario, raw, recipient="KOR", at=AT + timedelta(hours=1), consent=consent
    ).item
    keys = {
        p: {
            "public": ring.export_document(),
            "private": {
                "ml_kem_768_seed": ring.current.kem_private[:64].hex(),
                "x25519": ring.current.kem_private[64:].hex(),
            },
        }
        for p, ring in rings.items()
    }
    for reader in ("JPN", "USA", "KOR"):
        assert decode_item(released, keys, reader).content == b"now"
