"""The only module that imports ``cryptography.hazmat``.

Everything else in gsomia calls the small recipes here, which take and return bytes and raise
``VerificationFailed`` rather than returning a bool that a caller could ignore.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, hpke, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, mlkem, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gsomia.errors import BadInput, VerificationFailed

ED25519_PUBLIC_LEN = 32
ED25519_SEED_LEN = 32
ED25519_SIG_LEN = 64


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def random_bytes(n: int) -> bytes:
    return os.urandom(n)


def ed25519_generate() -> tuple[bytes, bytes]:
    """A fresh Ed25519 key pair as (32-byte private seed, 32-byte public key)."""
    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes_raw(), key.public_key().public_bytes_raw()


def ed25519_public(seed: bytes) -> bytes:
    return ed25519.Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()


def ed25519_sign(seed: bytes, message: bytes) -> bytes:
    return ed25519.Ed25519PrivateKey.from_private_bytes(seed).sign(message)


def ed25519_verify(public: bytes, signature: bytes, message: bytes) -> None:
    """Raise ``VerificationFailed`` unless ``signature`` is valid for ``message``."""
    if len(public) != ED25519_PUBLIC_LEN or len(signature) != ED25519_SIG_LEN:
        raise VerificationFailed("ed25519: malformed key or signature")
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError) as exc:
        raise VerificationFailed("ed25519: signature does not verify") from exc


# ---------------------------------------------------------------- ML-DSA-65 (FIPS 204)

MLDSA65_SEED_LEN = 32
MLDSA65_PUBLIC_LEN = 1952
MLDSA65_SIG_LEN = 3309


def mldsa65_generate() -> tuple[bytes, bytes]:
    """A fresh ML-DSA-65 key pair as (32-byte private seed, 1952-byte public key)."""
    key = mldsa.MLDSA65PrivateKey.generate()
    return key.private_bytes_raw(), key.public_key().public_bytes_raw()


def mldsa65_public(seed: bytes) -> bytes:
    return mldsa.MLDSA65PrivateKey.from_seed_bytes(seed).public_key().public_bytes_raw()


def mldsa65_sign(seed: bytes, message: bytes, context: bytes) -> bytes:
    return mldsa.MLDSA65PrivateKey.from_seed_bytes(seed).sign(message, context)


class Signer:
    """Ed25519 and ML-DSA-65 private keys expanded once, for signing many messages."""

    __slots__ = ("_ed", "_ml")

    def __init__(self, ed25519_seed: bytes, mldsa65_seed: bytes) -> None:
        self._ed = ed25519.Ed25519PrivateKey.from_private_bytes(ed25519_seed)
        self._ml = mldsa.MLDSA65PrivateKey.from_seed_bytes(mldsa65_seed)

    def sign_ed25519(self, message: bytes) -> bytes:
        return self._ed.sign(message)

    def sign_mldsa65(self, message: bytes, context: bytes) -> bytes:
        return self._ml.sign(message, context)


def mldsa65_verify(public: bytes, signature: bytes, message: bytes, context: bytes) -> None:
    """Raise ``VerificationFailed`` unless ``signature`` holds for ``message`` in ``context``."""
    if len(public) != MLDSA65_PUBLIC_LEN or len(signature) != MLDSA65_SIG_LEN:
        raise VerificationFailed("ml-dsa-65: malformed key or signature")
    try:
        mldsa.MLDSA65PublicKey.from_public_bytes(public).verify(signature, message, context)
    except (InvalidSignature, ValueError) as exc:
        raise VerificationFailed("ml-dsa-65: signature does not verify") from exc


# ---------------------------------------------------------------- HPKE (RFC 9180)
# Suite: KEM ML-KEM-768+X25519 (hybrid), KDF HKDF-SHA256, AEAD AES-256-GCM, base mode.
# A private key is stored as the 64-byte ML-KEM seed followed by the 32-byte X25519 key; a
# public key as the 1184-byte ML-KEM-768 encapsulation key followed by the 32-byte X25519 key.

HPKE_PRIVATE_LEN = 64 + 32
HPKE_PUBLIC_LEN = 1184 + 32
HPKE_ENC_LEN = 1088 + 32
_HPKE_SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)


def hpke_generate() -> tuple[bytes, bytes]:
    """A fresh ML-KEM-768+X25519 key pair as (96-byte private, 1216-byte public)."""
    kem = mlkem.MLKEM768PrivateKey.generate()
    dh = x25519.X25519PrivateKey.generate()
    private = kem.private_bytes_raw() + dh.private_bytes_raw()
    return private, hpke_public(private)


def _hpke_private(private: bytes) -> hpke.MLKEM768X25519PrivateKey:
    if len(private) != HPKE_PRIVATE_LEN:
        raise VerificationFailed("hpke: malformed private key")
    return hpke.MLKEM768X25519PrivateKey(
        mlkem.MLKEM768PrivateKey.from_seed_bytes(private[:64]),
        x25519.X25519PrivateKey.from_private_bytes(private[64:]),
    )


def hpke_public(private: bytes) -> bytes:
    if len(private) != HPKE_PRIVATE_LEN:
        raise VerificationFailed("hpke: malformed private key")
    kem = mlkem.MLKEM768PrivateKey.from_seed_bytes(private[:64]).public_key()
    dh = x25519.X25519PrivateKey.from_private_bytes(private[64:]).public_key()
    return kem.public_bytes_raw() + dh.public_bytes_raw()


def hpke_seal(public: bytes, plaintext: bytes, info: bytes) -> bytes:
    """HPKE single-shot base-mode encryption: returns ``enc || ciphertext``."""
    if len(public) != HPKE_PUBLIC_LEN:
        raise VerificationFailed("hpke: malformed public key")
    try:
        key = hpke.MLKEM768X25519PublicKey(
            mlkem.MLKEM768PublicKey.from_public_bytes(public[:1184]),
            x25519.X25519PublicKey.from_public_bytes(public[1184:]),
        )
    except ValueError as exc:
        raise VerificationFailed("hpke: malformed public key") from exc
    return _HPKE_SUITE.encrypt(plaintext, key, info)


def hpke_open(private: bytes, sealed: bytes, info: bytes) -> bytes:
    """Decrypt what ``hpke_seal`` produced; ``VerificationFailed`` for any failure."""
    key = _hpke_private(private)
    try:
        return _HPKE_SUITE.decrypt(sealed, key, info)
    except (InvalidTag, ValueError) as exc:
        raise VerificationFailed("hpke: cannot decrypt") from exc


# ---------------------------------------------------------------- symmetric recipes

AES256_KEY_LEN = 32
GCM_NONCE_LEN = 12
GCM_TAG_LEN = 16


class Aead:
    """AES-256-GCM under one key; keep the object to amortize the key schedule."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if len(key) != AES256_KEY_LEN:
            raise VerificationFailed("aes-256-gcm: the key must be 32 bytes")
        self._aead = AESGCM(key)

    def encrypt(self, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
        return self._aead.encrypt(nonce, plaintext, aad)

    def decrypt(self, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
        try:
            return self._aead.decrypt(nonce, ciphertext, aad)
        except (InvalidTag, ValueError) as exc:
            raise VerificationFailed("aes-256-gcm: cannot decrypt") from exc


def aes256gcm_encrypt(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    return Aead(key).encrypt(nonce, plaintext, aad)


def aes256gcm_decrypt(key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    return Aead(key).decrypt(nonce, ciphertext, aad)


def hkdf_sha256(ikm: bytes, *, salt: bytes, info: bytes, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def scrypt_derive(secret: bytes, *, salt: bytes, n: int, r: int, p: int, length: int = 32) -> bytes:
    """A key from a passphrase (RFC 7914). Bad parameters are ``VerificationFailed``."""
    try:
        return Scrypt(salt=salt, length=length, n=n, r=r, p=p).derive(secret)
    except (ValueError, MemoryError) as exc:
        raise VerificationFailed("scrypt: unusable parameters") from exc


def equal_digests(a: bytes, b: bytes) -> bool:
    """Constant-time comparison, for digests and MACs only."""
    return hmac.compare_digest(a, b)


# ---------------------------------------------------------------- X.509 for TLS
# A private CA (ECDSA P-256, CA:true, pathlen 0) and the certificates it signs for nodes
# (serverAuth and clientAuth, the node's hosts in the SAN, its party in O=). Private keys are
# PEM, PKCS#8, encrypted under a password unless the caller passes None explicitly.

CA_VALIDITY = timedelta(days=3 * 365)
NODE_VALIDITY = timedelta(days=2 * 365)
_BACKDATE = timedelta(minutes=5)  # tolerate a little clock skew between machines


@dataclass(frozen=True, slots=True)
class Issued:
    """A certificate and its private key, both PEM; the key encrypted unless asked not to be."""

    cert_pem: bytes
    key_pem: bytes


def _key_pem(key: ec.EllipticCurvePrivateKey, password: bytes | None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.NoEncryption()
        if password is None
        else serialization.BestAvailableEncryption(password)
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def _load_ec_key(key_pem: bytes, password: bytes | None, where: str) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(key_pem, password)
    except (ValueError, TypeError) as exc:
        raise BadInput(f"{where}: cannot open the private key (wrong passphrase?)") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise BadInput(f"{where}: not an ECDSA private key")
    return key


def _load_cert(cert_pem: bytes, where: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise BadInput(f"{where}: not a PEM certificate") from exc


def _subject(common_name: str, organization: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def tls_ca(name: str, *, password: bytes | None, now: datetime) -> Issued:
    """A new private CA named ``name``: ECDSA P-256, CA:true with pathlen 0 (it signs node
    certificates, never another CA), valid three years from ``now``."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _subject(name, name)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key, password))


def _san(hosts: Sequence[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            if not host or host.strip() != host:
                raise BadInput(
                    f"TLS host {host!r}: expected a host name or an IP address"
                ) from None
            names.append(x509.DNSName(host))
    if not names:
        raise BadInput("a node certificate needs at least one host name or IP address")
    return x509.SubjectAlternativeName(names)


def tls_node_cert(
    ca: Issued,
    *,
    ca_password: bytes | None,
    party: str,
    hosts: Sequence[str],
    password: bytes | None,
    now: datetime,
) -> Issued:
    """A certificate for ``party``'s node signed by ``ca``: ECDSA P-256, for TLS servers and
    clients both (a node serves and calls its peers), ``hosts`` in its SAN, O=``party``,
    valid two years from ``now`` (never past the CA's own end)."""
    ca_cert = _load_cert(ca.cert_pem, "the CA certificate")
    ca_key = _load_ec_key(ca.key_pem, ca_password, "the CA key")
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    not_after = min(now + NODE_VALIDITY, ca_cert.not_valid_after_utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_subject(f"gsomia node {party}", party))
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(_san(hosts), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key, password))


def cert_der(cert_pem: bytes, *, where: str) -> bytes:
    """The DER of the one PEM certificate in ``cert_pem``; BadInput naming ``where`` if none."""
    return _load_cert(cert_pem, where).public_bytes(serialization.Encoding.DER)


def cert_fingerprint(der: bytes) -> str:
    """The SHA-256 fingerprint of a certificate (its DER), as 64 lower-case hex digits."""
    return hashlib.sha256(der).hexdigest()


def cert_validity(cert_pem: bytes, *, where: str) -> tuple[datetime, datetime]:
    """When the one PEM certificate in ``cert_pem`` starts and stops being valid (UTC)."""
    cert = _load_cert(cert_pem, where)
    return cert.not_valid_before_utc, cert.not_valid_after_utc
