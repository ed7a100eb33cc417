"""Key stores: encrypted at rest, key files, rotation, export and import of peers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gsomia.errors import BadInput, VerificationFailed
from gsomia.seal.keys import (
    KeyRing,
    PublicKeyring,
    init_keys,
    keystore_path,
    passphrase_from_env,
    peers_dir,
)


def test_a_passphrase_store_round_trips_and_keeps_no_private_key_in_clear(tmp_path: Path) -> None:
    ring = init_keys(tmp_path, "KOR", passphrase=b"correct horse")
    text = keystore_path(tmp_path).read_text()
    gen = ring.current
    for secret in (gen.ed25519_seed, gen.mldsa65_seed, gen.kem_private):
        assert secret.hex() not in text
    assert oct(keystore_path(tmp_path).stat().st_mode & 0o777) == "0o600"
    loaded = KeyRing.load(tmp_path, passphrase=b"correct horse")
    assert loaded.party == "KOR"
    assert loaded.note_signer() == (gen.key_id, gen.ed25519_seed)
    assert loaded.peer_ed25519("KOR") == [gen.public.ed25519]
    assert loaded.peer_ed25519("JPN") == []


def test_a_wrong_passphrase_is_a_clear_bad_input(tmp_path: Path) -> None:
    init_keys(tmp_path, "KOR", passphrase=b"right passphrase")
    with pytest.raises(BadInput, match="wrong passphrase or corrupted key store"):
        KeyRing.load(tmp_path, passphrase=b"wrong")
    with pytest.raises(BadInput, match="GSOMIA_PASSPHRASE"):
        KeyRing.load(tmp_path, passphrase=None)


def test_a_corrupted_store_is_bad_input_never_a_traceback(tmp_path: Path) -> None:
    init_keys(tmp_path, "KOR", passphrase=b"pw-long-enough")
    path = keystore_path(tmp_path)
    doc = json.loads(path.read_text())
    secret = bytearray(doc["secret"].encode())
    secret[10] = ord("A") if secret[10] != ord("A") else ord("B")
    doc["secret"] = secret.decode()
    path.write_text(json.dumps(doc))
    with pytest.raises(BadInput, match="wrong passphrase or corrupted key store"):
        KeyRing.load(tmp_path, passphrase=b"pw-long-enough")
    path.write_text("{not json")
    with pytest.raises(BadInput, match="malformed JSON"):
        KeyRing.load(tmp_path, passphrase=b"pw-long-enough")


def test_the_public_half_is_bound_to_the_private_half(tmp_path: Path) -> None:
    init_keys(tmp_path, "KOR", passphrase=b"pw-long-enough")
    other = init_keys(tmp_path / "other", "KOR", passphrase=b"pw-long-enough")
    path = keystore_path(tmp_path)
    doc = json.loads(path.read_text())
    doc["public"] = [other.current.public.to_json()]
    path.write_text(json.dumps(doc))
    with pytest.raises(BadInput, match="wrong passphrase or corrupted key store"):
        KeyRing.load(tmp_path, passphrase=b"pw-long-enough")


def test_no_keys_no_passphrase_and_insecure(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no keys under"):
        KeyRing.load(tmp_path, passphrase=b"pw-long-enough")
    with pytest.raises(BadInput, match="--insecure"):
        init_keys(tmp_path, "KOR", passphrase=None)
    ring = init_keys(tmp_path, "KOR", passphrase=None, insecure=True)
    assert ring.current.ed25519_seed.hex() in keystore_path(tmp_path).read_text()
    assert KeyRing.load(tmp_path, passphrase=None).current.key_id == ring.current.key_id
    with pytest.raises(BadInput, match="already exist"):
        init_keys(tmp_path, "KOR", passphrase=None, insecure=True)
    with pytest.raises(BadInput, match="trigraph"):
        init_keys(tmp_path / "x", "korea", passphrase=None, insecure=True)


def test_a_key_file_protects_the_store(tmp_path: Path) -> None:
    key_file = tmp_path / "store.key"
    ring = init_keys(tmp_path / "home", "JPN", passphrase=None, key_file=key_file)
    assert key_file.stat().st_size >= 32
    loaded = KeyRing.load(tmp_path / "home", passphrase=None, key_file=key_file)
    assert loaded.current.key_id == ring.current.key_id
    with pytest.raises(BadInput, match="--key-file"):
        KeyRing.load(tmp_path / "home", passphrase=b"pw-long-enough")
    other = tmp_path / "other.key"
    other.write_bytes(b"y" * 32)
    with pytest.raises(BadInput, match="wrong passphrase or corrupted key store"):
        KeyRing.load(tmp_path / "home", passphrase=None, key_file=other)
    short = tmp_path / "short.key"
    short.write_bytes(b"short")
    with pytest.raises(BadInput, match="at least 32 bytes"):
        KeyRing.load(tmp_path / "home", passphrase=None, key_file=short)


def test_rotation_keeps_every_generation_and_chains_them(tmp_path: Path) -> None:
    ring = init_keys(tmp_path, "USA", passphrase=b"pw-long-enough")
    first = ring.current.key_id
    second = ring.rotate().key_id
    loaded = KeyRing.load(tmp_path, passphrase=b"pw-long-enough")
    assert [g.key_id for g in loaded.generations] == [first, second]
    assert loaded.note_signer()[0] == second
    assert len(loaded.peer_ed25519("USA")) == 2
    assert loaded.generation(first).public.generation == 0
    with pytest.raises(VerificationFailed, match="USA holds no key 0000000000000000"):
        loaded.generation("0000000000000000")


def test_peers_are_imported_checked_and_kept_consistent(tmp_path: Path) -> None:
    kor = init_keys(tmp_path / "kor", "KOR", passphrase=None, insecure=True)
    jpn = init_keys(tmp_path / "jpn", "JPN", passphrase=None, insecure=True)
    jpn.import_peer(kor.export_document(), where="kor.pub")
    assert PublicKeyring.load_public(tmp_path / "jpn").peer_ed25519("KOR") == [
        kor.current.public.ed25519
    ]
    kor.rotate()
    jpn.import_peer(kor.export_document(), where="kor.pub")  # an endorsed rotation: accepted
    assert len(PublicKeyring.load_public(tmp_path / "jpn").peer_ed25519("KOR")) == 2
    impostor = init_keys(tmp_path / "imp", "KOR", passphrase=None, insecure=True)
    with pytest.raises(BadInput, match="contradicts the trusted key"):
        jpn.import_peer(impostor.export_document(), where="imp.pub")
    with pytest.raises(BadInput, match="the party of this home"):
        jpn.import_peer(jpn.export_document(), where="own.pub")
    assert (peers_dir(tmp_path / "jpn") / "KOR.json").is_file()


def test_a_tampered_export_is_refused(tmp_path: Path) -> None:
    kor = init_keys(tmp_path / "kor", "KOR", passphrase=None, insecure=True)
    kor.rotate()
    jpn = init_keys(tmp_path / "jpn", "JPN", passphrase=None, insecure=True)
    doc = kor.export_document()
    other = init_keys(tmp_path / "other", "KOR", passphrase=None, insecure=True).export_document()
    swapped = {**doc, "keys": [doc["keys"][0], {**other["keys"][0], "generation": 1}]}
    with pytest.raises(BadInput, match="only generations after the first are endorsed"):
        jpn.import_peer(swapped, where="swapped.pub")
    wrong_id = {**doc, "keys": [{**doc["keys"][0], "id": "0123456789abcdef"}]}
    with pytest.raises(BadInput, match="does not match the keys"):
        jpn.import_peer(wrong_id, where="wrong.pub")
    with pytest.raises(BadInput, match="not a gsomia public-key export"):
        jpn.import_peer({"format": "x"}, where="x.pub")


def test_the_passphrase_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GSOMIA_PASSPHRASE", "s3cret")
    assert passphrase_from_env() == b"s3cret"
    monkeypatch.setenv("GSOMIA_PASSPHRASE", "")
    assert passphrase_from_env() is None
    monkeypatch.delenv("GSOMIA_PASSPHRASE")
    assert passphrase_from_env() is None
