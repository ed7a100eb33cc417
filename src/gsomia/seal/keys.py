"""A party's keys: signing (Ed25519 + ML-DSA-65) and encryption (ML-KEM-768+X25519).

Layout under a home directory ``HOME``:

- ``HOME/keys/keystore.json``: the party's own key generations. The public half is in clear
  (so that ``keys list`` and ``keys export`` need no passphrase) and is bound as associated data
  to the AES-256-GCM encryption of the private half; the key is derived with scrypt from the
  passphrase, or with HKDF-SHA256 from a key file. Plaintext private keys only with ``insecure``.
- ``HOME/keys/peers/<PARTY>.json``: the public keys of a peer party, as exported by that party.

A key generation is one signing pair and one encryption pair with one key id. Rotation appends
a generation, endorsed by the previous one; old generations stay to open and verify old items.
Each generation also yields a data key (``KeyGeneration.data_key``) under which a node encrypts
its stored content at rest. A passphrase protecting keys has at least 12 characters.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from gsomia import primitives
from gsomia.errors import BadInput, VerificationFailed
from gsomia.seal.canonical import (
    b64,
    b64_field,
    canonical_json,
    hex_field,
    int_field,
    object_at,
    parse_json_bytes,
    str_field,
)
from gsomia.seal.composite import (
    CompositeSignature,
    CompositeSigner,
    composite_sign,
    composite_verify,
)

PASSPHRASE_ENV = "GSOMIA_PASSPHRASE"  # noqa: S105 (the name of the variable, not a secret)
KEYSTORE_FORMAT = "gsomia-keystore"
EXPORT_FORMAT = "gsomia-public-keys"
FORMAT_VERSION = 1
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
KEY_FILE_MIN_LEN = 32
MIN_PASSPHRASE_CHARS = 12
_PARTY_RE = re.compile(r"^[A-Z]{3}$")
_KEY_ID_DOMAIN = b"gsomia/key-id/v1\x00"
_KEY_ENTRY_DOMAIN = b"gsomia/key-entry/v1\x00"
_ENDORSE_DOMAIN = b"gsomia/key-endorsement/v1\x00"
_KEYFILE_INFO = b"gsomia/keystore/key-file/v1"
_DATA_KEY_INFO = b"gsomia/at-rest/data-key/v1"
_DERIVED_INFO = b"gsomia/derived-secret/v1\x00"  # + the purpose: one secret per use
_ALG_SCRYPT = "scrypt+aes-256-gcm"
_ALG_KEYFILE = "key-file+hkdf-sha256+aes-256-gcm"
_ALG_NONE = "none"


def check_party(party: str, *, where: str = "party") -> str:
    if not _PARTY_RE.match(party):
        raise BadInput(f"{where}: {party!r} is not a party trigraph (three capital letters)")
    return party


def check_passphrase(passphrase: bytes, *, where: str = PASSPHRASE_ENV) -> None:
    """Refuse a passphrase shorter than ``MIN_PASSPHRASE_CHARS`` characters (BadInput)."""
    try:
        length = len(passphrase.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadInput(f"{where}: the passphrase is not UTF-8") from None
    if length < MIN_PASSPHRASE_CHARS:
        raise BadInput(
            f"{where}: the passphrase has {length} characters; a passphrase protecting keys "
            f"needs at least {MIN_PASSPHRASE_CHARS} (or use --key-file)"
        )


def passphrase_from_env() -> bytes | None:
    """The passphrase in ``GSOMIA_PASSPHRASE`` (UTF-8), or None when unset or empty."""
    value = os.environ.get(PASSPHRASE_ENV)
    if not value:
        return None
    return value.encode("utf-8")


def key_id_of(party: str, ed25519: bytes, mldsa65: bytes, kem: bytes) -> str:
    digest = primitives.sha256(
        _KEY_ID_DOMAIN + party.encode("ascii") + b"\x00" + ed25519 + mldsa65 + kem
    )
    return digest[:8].hex()


@dataclass(frozen=True, slots=True)
class PublicKeys:
    """One generation of a party's public keys."""

    party: str
    generation: int
    key_id: str
    ed25519: bytes
    mldsa65: bytes
    kem: bytes
    proof: CompositeSignature  # by this generation's own keys: proof of possession
    endorsement: CompositeSignature | None  # by the previous generation; None for the first

    def entry_message(self) -> bytes:
        return (
            _KEY_ENTRY_DOMAIN
            + self.party.encode("ascii")
            + b"\x00"
            + self.generation.to_bytes(4, "big")
            + self.ed25519
            + self.mldsa65
            + self.kem
        )

    def verify_signature(self, signature: CompositeSignature, message: bytes) -> None:
        composite_verify(self.ed25519, self.mldsa65, signature, message)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "party": self.party,
            "generation": self.generation,
            "id": self.key_id,
            "ed25519": self.ed25519.hex(),
            "ml_dsa_65": b64(self.mldsa65),
            "ml_kem_768_x25519": b64(self.kem),
            "proof": _sig_json(self.proof),
            "endorsement": None if self.endorsement is None else _sig_json(self.endorsement),
        }
        return doc

    @classmethod
    def from_json(cls, obj: object, *, where: str) -> PublicKeys:
        doc = object_at(obj, where=where)
        party = check_party(str_field(doc, "party", where=where), where=f"{where}.party")
        generation = int_field(doc, "generation", where=where)
        if not 0 <= generation < 2**31:
            raise BadInput(f"{where}: generation out of range")
        keys = cls(
            party=party,
            generation=generation,
            key_id=str_field(doc, "id", where=where),
            ed25519=hex_field(doc, "ed25519", where=where, length=primitives.ED25519_PUBLIC_LEN),
            mldsa65=b64_field(doc, "ml_dsa_65", where=where),
            kem=b64_field(doc, "ml_kem_768_x25519", where=where),
            proof=_sig_from_json(doc.get("proof"), where=f"{where}.proof"),
            endorsement=None
            if doc.get("endorsement") is None
            else _sig_from_json(doc.get("endorsement"), where=f"{where}.endorsement"),
        )
        if len(keys.mldsa65) != primitives.MLDSA65_PUBLIC_LEN:
            raise BadInput(f"{where}: ml_dsa_65 must be {primitives.MLDSA65_PUBLIC_LEN} bytes")
        if len(keys.kem) != primitives.HPKE_PUBLIC_LEN:
            raise BadInput(f"{where}: ml_kem_768_x25519 must be {primitives.HPKE_PUBLIC_LEN} bytes")
        if keys.key_id != key_id_of(party, keys.ed25519, keys.mldsa65, keys.kem):
            raise BadInput(f"{where}: key id {keys.key_id} does not match the keys")
        return keys


def _sig_json(sig: CompositeSignature) -> dict[str, str]:
    return {"ed25519": sig.ed25519.hex(), "ml_dsa_65": b64(sig.mldsa65)}


def _sig_from_json(obj: object, *, where: str) -> CompositeSignature:
    doc = object_at(obj, where=where)
    return CompositeSignature(
        ed25519=hex_field(doc, "ed25519", where=where, length=primitives.ED25519_SIG_LEN),
        mldsa65=b64_field(doc, "ml_dsa_65", where=where),
    )


def _check_chain(chain: Sequence[PublicKeys], *, party: str, where: str) -> None:
    """Every generation proves possession, and each is endorsed by the one before it."""
    for index, keys in enumerate(chain):
        if keys.party != party or keys.generation != index:
            raise BadInput(f"{where}: generation {index} is missing or belongs to another party")
        if (index == 0) != (keys.endorsement is None):
            raise BadInput(
                f"{where}: key {keys.key_id} of {party}: only generations after the first "
                "are endorsed, and each of them must be"
            )
        try:
            keys.verify_signature(keys.proof, keys.entry_message())
            if keys.endorsement is not None:
                chain[index - 1].verify_signature(
                    keys.endorsement, _ENDORSE_DOMAIN + keys.entry_message()
                )
        except VerificationFailed as exc:
            raise BadInput(f"{where}: key {keys.key_id} of {party}: {exc}") from exc


@dataclass(frozen=True)
class KeyGeneration:
    """One generation of the party's own keys, private halves included."""

    public: PublicKeys
    ed25519_seed: bytes
    mldsa65_seed: bytes
    kem_private: bytes

    @property
    def key_id(self) -> str:
        return self.public.key_id

    @cached_property
    def _signer(self) -> CompositeSigner:
        return CompositeSigner(self.ed25519_seed, self.mldsa65_seed)

    def sign(self, message: bytes) -> CompositeSignature:
        return self._signer.sign(message)

    @cached_property
    def data_key(self) -> bytes:
        """This generation's at-rest data key (AES-256-GCM, for the node's store).

        Derived with HKDF-SHA256 from the generation's private key material, which only the
        key store's encrypted section holds, salted with the key id: a new generation (key
        rotation) brings a new data key, and the key store format is unchanged. The derivation
        is domain-separated (its own ``info``) from every other use of these secrets.
        """
        secret = self.ed25519_seed + self.mldsa65_seed + self.kem_private
        return primitives.hkdf_sha256(
            secret, salt=bytes.fromhex(self.key_id), info=_DATA_KEY_INFO, length=32
        )


def _new_generation(party: str, previous: KeyGeneration | None) -> KeyGeneration:
    ed_seed, ed_pub = primitives.ed25519_generate()
    ml_seed, ml_pub = primitives.mldsa65_generate()
    kem_private, kem_pub = primitives.hpke_generate()
    generation = 0 if previous is None else previous.public.generation + 1
    key_id = key_id_of(party, ed_pub, ml_pub, kem_pub)
    unsigned = PublicKeys(
        party=party,
        generation=generation,
        key_id=key_id,
        ed25519=ed_pub,
        mldsa65=ml_pub,
        kem=kem_pub,
        proof=CompositeSignature(b"", b""),
        endorsement=None,
    )
    message = unsigned.entry_message()
    proof = composite_sign(ed_seed, ml_seed, message)
    endorsement = None if previous is None else previous.sign(_ENDORSE_DOMAIN + message)
    public = PublicKeys(
        party=party,
        generation=generation,
        key_id=key_id,
        ed25519=ed_pub,
        mldsa65=ml_pub,
        kem=kem_pub,
        proof=proof,
        endorsement=endorsement,
    )
    return KeyGeneration(public, ed_seed, ml_seed, kem_private)


def keys_dir(home: Path) -> Path:
    return home / "keys"


def keystore_path(home: Path) -> Path:
    return keys_dir(home) / "keystore.json"


def peers_dir(home: Path) -> Path:
    return keys_dir(home) / "peers"


def _write_private(path: Path, data: bytes) -> None:
    """Write atomically, readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(path)


def _read_key_file(key_file: Path) -> bytes:
    try:
        secret = key_file.read_bytes()
    except OSError as exc:
        raise BadInput(f"key file {key_file}: cannot read ({exc.strerror})") from exc
    if len(secret) < KEY_FILE_MIN_LEN:
        raise BadInput(f"key file {key_file}: must hold at least {KEY_FILE_MIN_LEN} bytes")
    return secret


def create_key_file(key_file: Path) -> None:
    """Create a fresh random key file (owner-only); BadInput if it already exists."""
    if key_file.exists():
        raise BadInput(f"key file {key_file}: already exists")
    _write_private(key_file, primitives.random_bytes(KEY_FILE_MIN_LEN))


def _public_section(party: str, chain: Sequence[PublicKeys]) -> dict[str, Any]:
    return {
        "format": KEYSTORE_FORMAT,
        "version": FORMAT_VERSION,
        "party": party,
        "public": [keys.to_json() for keys in chain],
    }


def _secret_json(generations: Sequence[KeyGeneration]) -> dict[str, Any]:
    return {
        "keys": [
            {
                "id": gen.key_id,
                "ed25519": gen.ed25519_seed.hex(),
                "ml_dsa_65": gen.mldsa65_seed.hex(),
                "ml_kem_768_x25519": gen.kem_private.hex(),
            }
            for gen in generations
        ]
    }


class PublicKeyring:
    """The public keys a home trusts: its own party's (every generation) and its peers'."""

    def __init__(
        self,
        home: Path,
        party: str,
        own: Sequence[PublicKeys],
        peers: dict[str, tuple[PublicKeys, ...]],
    ) -> None:
        self.home = home
        self.party = party
        self._own: tuple[PublicKeys, ...] = tuple(own)
        self._peers = dict(peers)
        self.revision = 0  # changes whenever the keys change (rotation, import)

    @classmethod
    def load_public(cls, home: Path) -> PublicKeyring:
        """The public keys under ``home``; needs no passphrase."""
        path = keystore_path(home)
        if not path.is_file():
            raise BadInput(f"no keys under {home}: run `gsomia keys init --party P`")
        party, chain = _parse_public_section(_read_json(path, "key store"), where=str(path))
        return cls(home, party, chain, _load_peers(home))

    def own_public(self) -> tuple[PublicKeys, ...]:
        return self._own

    def export_document(self) -> dict[str, Any]:
        return export_document(self.party, self._own)

    def parties(self) -> tuple[str, ...]:
        return tuple(sorted({self.party, *self._peers}))

    def public_keys(self, party: str) -> tuple[PublicKeys, ...]:
        if party == self.party:
            return self._own
        return self._peers.get(party, ())

    def peer_ed25519(self, party: str) -> list[bytes]:
        """Every known Ed25519 public key of ``party`` (all generations); [] if none."""
        return [keys.ed25519 for keys in self.public_keys(party)]

    def signing_key(self, party: str, key_id: str) -> PublicKeys:
        """The public keys of ``party`` with ``key_id``; VerificationFailed if not trusted."""
        for keys in self.public_keys(party):
            if keys.key_id == key_id:
                return keys
        raise VerificationFailed(f"no trusted key {key_id} of {party}")

    def current_public(self, party: str) -> PublicKeys:
        chain = self.public_keys(party)
        if not chain:
            raise BadInput(f"no public keys of {party}: import them with `gsomia keys import`")
        return chain[-1]

    def import_peer(self, document: object, *, where: str) -> tuple[str, tuple[PublicKeys, ...]]:
        """Trust the public keys in an exported document; keep the longer consistent chain."""
        party, chain = parse_export_document(document, where=where)
        if party == self.party:
            raise BadInput(f"{where}: these are {party}'s keys, the party of this home")
        known = self._peers.get(party, ())
        shorter, longer = (known, chain) if len(known) <= len(chain) else (chain, known)
        for mine, theirs in zip(shorter, longer, strict=False):
            if mine.key_id != theirs.key_id:
                raise BadInput(
                    f"{where}: key {theirs.key_id} of {party} (generation {theirs.generation}) "
                    f"contradicts the trusted key {mine.key_id}"
                )
        self._peers[party] = longer
        self.revision += 1
        _write_private(
            peers_dir(self.home) / f"{party}.json",
            canonical_json(export_document(party, longer)) + b"\n",
        )
        return party, longer


class KeyRing(PublicKeyring):
    """A party's own keys, private halves included, with the public keys it trusts."""

    def __init__(
        self,
        home: Path,
        party: str,
        generations: Sequence[KeyGeneration],
        peers: dict[str, tuple[PublicKeys, ...]],
        protection: tuple[bytes | None, Path | None, bool],
    ) -> None:
        if not generations:
            raise BadInput(f"no keys under {home}: run `gsomia keys init --party P`")
        super().__init__(home, party, [gen.public for gen in generations], peers)
        self.generations: tuple[KeyGeneration, ...] = tuple(generations)
        self._protection = protection
        self._by_id = {gen.key_id: gen for gen in self.generations}

    @property
    def protected(self) -> bool:
        """Whether the private keys are encrypted on disk (False only for ``--insecure``)."""
        return not self._protection[2]

    @classmethod
    def load(cls, home: Path, *, passphrase: bytes | None, key_file: Path | None = None) -> KeyRing:
        path = keystore_path(home)
        if not path.is_file():
            raise BadInput(f"no keys under {home}: run `gsomia keys init --party P`")
        doc = _read_json(path, "key store")
        party, chain = _parse_public_section(doc, where=str(path))
        protection = object_at(doc.get("protection"), where=f"{path}: protection")
        alg = protection.get("alg")
        aad = canonical_json(_public_section(party, chain))
        if alg == _ALG_NONE:
            secret_doc = doc.get("secret")
            insecure = True
        elif alg in (_ALG_SCRYPT, _ALG_KEYFILE):
            key = _protection_key(protection, alg, passphrase, key_file, where=str(path))
            nonce = hex_field(protection, "nonce", where=f"{path}: protection", length=12)
            sealed = b64_field(doc, "secret", where=str(path))
            try:
                plain = primitives.aes256gcm_decrypt(key, nonce, sealed, aad)
            except VerificationFailed as exc:
                raise BadInput(f"wrong passphrase or corrupted key store ({path})") from exc
            secret_doc = parse_json_bytes(plain, where=f"{path}: secret")
            insecure = False
        else:
            raise BadInput(f"{path}: unknown protection {alg!r}")
        generations = _parse_secret(secret_doc, chain, where=f"{path}: secret")
        peers = _load_peers(home)
        return cls(home, party, generations, peers, (passphrase, key_file, insecure))

    def save(self) -> None:
        passphrase, key_file, insecure = self._protection
        if key_file is None and passphrase is not None:
            check_passphrase(passphrase)
        chain = [gen.public for gen in self.generations]
        doc = _public_section(self.party, chain)
        aad = canonical_json(doc)
        secret = canonical_json(_secret_json(self.generations))
        if key_file is not None:
            salt = primitives.random_bytes(16)
            key = primitives.hkdf_sha256(_read_key_file(key_file), salt=salt, info=_KEYFILE_INFO)
            nonce = primitives.random_bytes(12)
            doc["protection"] = {"alg": _ALG_KEYFILE, "salt": salt.hex(), "nonce": nonce.hex()}
            doc["secret"] = b64(primitives.aes256gcm_encrypt(key, nonce, secret, aad))
        elif passphrase is not None:
            salt = primitives.random_bytes(16)
            key = primitives.scrypt_derive(
                passphrase, salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P
            )
            nonce = primitives.random_bytes(12)
            doc["protection"] = {
                "alg": _ALG_SCRYPT,
                "salt": salt.hex(),
                "n": SCRYPT_N,
                "r": SCRYPT_R,
                "p": SCRYPT_P,
                "nonce": nonce.hex(),
            }
            doc["secret"] = b64(primitives.aes256gcm_encrypt(key, nonce, secret, aad))
        elif insecure:
            doc["protection"] = {"alg": _ALG_NONE}
            doc["secret"] = _secret_json(self.generations)
        else:
            raise BadInput(
                "no passphrase: set GSOMIA_PASSPHRASE, pass --key-file, "
                "or pass --insecure to keep private keys in plaintext"
            )
        _write_private(keystore_path(self.home), canonical_json(doc) + b"\n")

    @property
    def current(self) -> KeyGeneration:
        return self.generations[-1]

    def derived_secret(self, purpose: bytes) -> bytes:
        """A 32-byte secret for ``purpose`` (e.g. the console's session MACs), the same
        wherever this key ring is opened — every worker of a node, on every machine, agrees on
        it without a file to copy — and across key rotations (it comes from the first
        generation). HKDF-SHA256 over the generation's private material, domain-separated from
        the data key and from every other purpose."""
        first = self.generations[0]
        secret = first.ed25519_seed + first.mldsa65_seed + first.kem_private
        return primitives.hkdf_sha256(
            secret, salt=bytes.fromhex(first.key_id), info=_DERIVED_INFO + purpose, length=32
        )

    def generation(self, key_id: str) -> KeyGeneration:
        gen = self._by_id.get(key_id)
        if gen is None:
            raise VerificationFailed(f"{self.party} holds no key {key_id}")
        return gen

    def note_signer(self) -> tuple[str, bytes]:
        """(key id, Ed25519 private seed) of the current signing key."""
        return self.current.key_id, self.current.ed25519_seed

    def rotate(self) -> KeyGeneration:
        """Append a new generation endorsed by the current one, and save."""
        gen = _new_generation(self.party, self.current)
        self.generations = (*self.generations, gen)
        self._by_id[gen.key_id] = gen
        self._own = (*self._own, gen.public)
        self.revision += 1
        self.save()
        return gen


def _protection_key(
    protection: dict[str, Any],
    alg: str,
    passphrase: bytes | None,
    key_file: Path | None,
    *,
    where: str,
) -> bytes:
    salt = hex_field(protection, "salt", where=f"{where}: protection", length=16)
    if alg == _ALG_KEYFILE:
        if key_file is None:
            raise BadInput(f"the key store {where} is protected by a key file: pass --key-file")
        return primitives.hkdf_sha256(_read_key_file(key_file), salt=salt, info=_KEYFILE_INFO)
    if passphrase is None:
        raise BadInput(
            f"the key store {where} is encrypted: set GSOMIA_PASSPHRASE (or pass --key-file)"
        )
    n = int_field(protection, "n", where=f"{where}: protection")
    r = int_field(protection, "r", where=f"{where}: protection")
    p = int_field(protection, "p", where=f"{where}: protection")
    if not (2**10 <= n <= 2**20 and 1 <= r <= 32 and 1 <= p <= 16):
        raise BadInput(f"wrong passphrase or corrupted key store ({where})")
    try:
        return primitives.scrypt_derive(passphrase, salt=salt, n=n, r=r, p=p)
    except VerificationFailed as exc:
        raise BadInput(f"wrong passphrase or corrupted key store ({where})") from exc


def _read_json(path: Path, what: str) -> Any:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BadInput(f"{what} {path}: cannot read ({exc.strerror})") from exc
    return parse_json_bytes(raw, where=f"{what} {path}")


def _parse_public_section(doc: Any, *, where: str) -> tuple[str, tuple[PublicKeys, ...]]:
    obj = object_at(doc, where=where)
    if obj.get("format") != KEYSTORE_FORMAT or obj.get("version") != FORMAT_VERSION:
        raise BadInput(f"{where}: not a gsomia key store of version {FORMAT_VERSION}")
    party = check_party(str_field(obj, "party", where=where), where=f"{where}: party")
    entries = obj.get("public")
    if not isinstance(entries, list) or not entries:
        raise BadInput(f"{where}: field 'public' must be a non-empty list")
    chain = tuple(
        PublicKeys.from_json(entry, where=f"{where}: public[{i}]")
        for i, entry in enumerate(entries)
    )
    _check_chain(chain, party=party, where=where)
    return party, chain


def _parse_secret(
    doc: Any, chain: Sequence[PublicKeys], *, where: str
) -> tuple[KeyGeneration, ...]:
    obj = object_at(doc, where=where)
    entries = obj.get("keys")
    if not isinstance(entries, list) or len(entries) != len(chain):
        raise BadInput(f"{where}: the private keys do not match the public keys")
    generations = []
    for i, (entry, public) in enumerate(zip(entries, chain, strict=True)):
        at = f"{where}.keys[{i}]"
        item = object_at(entry, where=at)
        gen = KeyGeneration(
            public=public,
            ed25519_seed=hex_field(item, "ed25519", where=at, length=32),
            mldsa65_seed=hex_field(item, "ml_dsa_65", where=at, length=32),
            kem_private=hex_field(
                item, "ml_kem_768_x25519", where=at, length=primitives.HPKE_PRIVATE_LEN
            ),
        )
        if (
            item.get("id") != public.key_id
            or primitives.ed25519_public(gen.ed25519_seed) != public.ed25519
            or primitives.mldsa65_public(gen.mldsa65_seed) != public.mldsa65
            or primitives.hpke_public(gen.kem_private) != public.kem
        ):
            raise BadInput(f"{at}: the private keys do not match the public key {public.key_id}")
        generations.append(gen)
    return tuple(generations)


def export_document(party: str, chain: Iterable[PublicKeys]) -> dict[str, Any]:
    return {
        "format": EXPORT_FORMAT,
        "version": FORMAT_VERSION,
        "party": party,
        "keys": [keys.to_json() for keys in chain],
    }


def parse_export_document(document: object, *, where: str) -> tuple[str, tuple[PublicKeys, ...]]:
    obj = object_at(document, where=where)
    if obj.get("format") != EXPORT_FORMAT or obj.get("version") != FORMAT_VERSION:
        raise BadInput(f"{where}: not a gsomia public-key export of version {FORMAT_VERSION}")
    party = check_party(str_field(obj, "party", where=where), where=f"{where}: party")
    entries = obj.get("keys")
    if not isinstance(entries, list) or not entries:
        raise BadInput(f"{where}: field 'keys' must be a non-empty list")
    chain = tuple(
        PublicKeys.from_json(entry, where=f"{where}: keys[{i}]") for i, entry in enumerate(entries)
    )
    _check_chain(chain, party=party, where=where)
    return party, chain


def _load_peers(home: Path) -> dict[str, tuple[PublicKeys, ...]]:
    directory = peers_dir(home)
    peers: dict[str, tuple[PublicKeys, ...]] = {}
    if not directory.is_dir():
        return peers
    for path in sorted(directory.glob("*.json")):
        party, chain = parse_export_document(_read_json(path, "peer keys"), where=str(path))
        if path.stem != party:
            raise BadInput(f"{path}: holds the keys of {party}, not {path.stem}")
        peers[party] = chain
    return peers


def init_keys(
    home: Path,
    party: str,
    *,
    passphrase: bytes | None,
    insecure: bool = False,
    key_file: Path | None = None,
) -> KeyRing:
    """Create the first key generation of ``party`` under ``home`` and save it."""
    check_party(party)
    if keystore_path(home).exists():
        raise BadInput(f"keys already exist under {home} (use `gsomia keys rotate`)")
    if passphrase is None and key_file is None and not insecure:
        raise BadInput(
            "no passphrase: set GSOMIA_PASSPHRASE, pass --key-file, "
            "or pass --insecure to keep private keys in plaintext"
        )
    if key_file is None and passphrase is not None:
        check_passphrase(passphrase)
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    if key_file is not None and not key_file.exists():
        create_key_file(key_file)
    ring = KeyRing(
        home,
        party,
        [_new_generation(party, None)],
        _load_peers(home),
        (passphrase, key_file, insecure and passphrase is None and key_file is None),
    )
    ring.save()
    return ring
