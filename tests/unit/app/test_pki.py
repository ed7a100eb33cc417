"""The x509 recipes and ``write_node_tls``: a CA that signs node certificates only, node
certificates for TLS servers and clients with the node's hosts and party, keys encrypted under
the passphrase, owner-only files, nothing overwritten."""

from __future__ import annotations

import ipaddress
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gsomia import primitives
from gsomia.app.pki import tls_password, write_ca, write_node_tls
from gsomia.errors import BadInput

PASSPHRASE = b"correct horse battery staple"


@pytest.fixture(scope="module")
def kor(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, x509.Certificate, x509.Certificate]:
    directory = tmp_path_factory.mktemp("pki") / "KOR"
    tls = write_node_tls(directory, "KOR", hosts=("kor.example", "10.0.0.7"), passphrase=PASSPHRASE)
    ca = x509.load_pem_x509_certificate(tls.ca.read_bytes())
    node = x509.load_pem_x509_certificate(tls.cert.read_bytes())
    return directory, ca, node


def test_the_ca_signs_node_certificates_only(
    kor: tuple[Path, x509.Certificate, x509.Certificate],
) -> None:
    _, ca, node = kor
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    assert constraints.value.path_length == 0
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    node.verify_directly_issued_by(ca)
    assert not node.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_a_node_certificate_serves_and_calls_with_its_hosts_and_party(
    kor: tuple[Path, x509.Certificate, x509.Certificate],
) -> None:
    _, _, node = kor
    eku = node.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    san = node.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["kor.example"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.7")]
    assert node.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "KOR"


def test_keys_are_encrypted_and_files_owner_only(
    kor: tuple[Path, x509.Certificate, x509.Certificate],
) -> None:
    directory, _, _ = kor
    for key in (directory / "tls.key", directory / "ca" / "ca.key"):
        pem = key.read_bytes()
        assert b"ENCRYPTED PRIVATE KEY" in pem
        with pytest.raises(TypeError, match="encrypted"):
            load_pem_private_key(pem, None)
        load_pem_private_key(pem, PASSPHRASE)
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    for folder in (directory, directory / "ca"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    # the key opens in OpenSSL with the passphrase, as the listener opens it
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "tls.crt", directory / "tls.key", password=PASSPHRASE)


def test_nothing_is_overwritten(kor: tuple[Path, x509.Certificate, x509.Certificate]) -> None:
    directory, _, _ = kor
    with pytest.raises(BadInput, match=r"tls\.crt: already exists"):
        write_node_tls(directory, "KOR", hosts=(), passphrase=PASSPHRASE)
    with pytest.raises(BadInput, match=r"ca\.crt: already exists"):
        write_ca(directory / "ca", passphrase=PASSPHRASE)


def test_a_shared_ca_and_plaintext_keys_only_when_asked(tmp_path: Path) -> None:
    write_ca(tmp_path / "ca", passphrase=None)
    tls = write_node_tls(tmp_path / "JPN", "JPN", hosts=(), passphrase=None, ca_dir=tmp_path / "ca")
    assert tls.ca == tmp_path / "ca" / "ca.crt"
    load_pem_private_key(tls.key.read_bytes(), None)
    node = x509.load_pem_x509_certificate(tls.cert.read_bytes())
    san = node.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]  # the default hosts


def test_a_wrong_passphrase_for_the_ca_is_refused(tmp_path: Path) -> None:
    write_ca(tmp_path / "ca", passphrase=PASSPHRASE)
    with pytest.raises(BadInput, match="the CA key: cannot open the private key"):
        write_node_tls(
            tmp_path / "USA",
            "USA",
            hosts=(),
            passphrase=b"another passphrase",
            ca_dir=tmp_path / "ca",
        )


def test_fingerprint_is_the_sha256_of_the_der(
    kor: tuple[Path, x509.Certificate, x509.Certificate],
) -> None:
    directory, _, node = kor
    der = primitives.cert_der((directory / "tls.crt").read_bytes(), where="tls.crt")
    assert der == ssl.PEM_cert_to_DER_cert((directory / "tls.crt").read_text())
    assert primitives.cert_fingerprint(der) == node.fingerprint(hashes.SHA256()).hex()
    with pytest.raises(BadInput, match="where: not a PEM certificate"):
        primitives.cert_der(b"nonsense", where="where")


def test_a_bad_host_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="TLS host ' x': expected a host name"):
        write_node_tls(tmp_path, "KOR", hosts=(" x",), passphrase=None)


def test_the_tls_password_is_the_passphrase_or_from_the_key_file(tmp_path: Path) -> None:
    key_file = tmp_path / "KOR.key"
    key_file.write_bytes(b"\x00" * 32)
    assert tls_password(passphrase=PASSPHRASE, key_file=key_file) == PASSPHRASE
    derived = tls_password(passphrase=None, key_file=key_file)
    assert derived is not None
    assert len(derived) == 64
    assert derived != tls_password(passphrase=None, key_file=None)
    assert tls_password(passphrase=None, key_file=None) is None
