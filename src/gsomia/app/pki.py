"""TLS material for a test or demo deployment: a private CA and a certificate per node.

``write_ca`` makes the CA (``ca.crt``, ``ca.key``) in a directory; ``write_node_tls`` makes a
node's certificate and key (``tls.crt``, ``tls.key``) signed by it, for TLS servers and clients
both, with the node's hosts in its SAN and its party in O=. Private keys are PKCS#8 PEM
encrypted under the given passphrase; ``passphrase=None`` writes them in plaintext, which the
command line offers only behind an explicit flag. Files are created 0600 in 0700 directories
and never overwritten: a second run refuses rather than replace a key someone may rely on.

``tls_password`` is the password a node opens its TLS key with: the node's passphrase, or,
for a node whose keys are protected by a key file, a password derived from that file, so that
every secret of a node opens with the one thing its operator holds.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gsomia import primitives
from gsomia.app.boot import private_dir
from gsomia.clock import Clock, SystemClock
from gsomia.errors import BadInput

DEFAULT_HOSTS = ("127.0.0.1", "localhost")
CA_CERT = "ca.crt"
CA_KEY = "ca.key"
NODE_CERT = "tls.crt"
NODE_KEY = "tls.key"
_KEY_FILE_DOMAIN = b"gsomia/tls-key-password/v1\x00"


@dataclass(frozen=True, slots=True)
class NodeTls:
    """Where a node's TLS material was written: its certificate, its key, the CA's certificate."""

    cert: Path
    key: Path
    ca: Path


def _write_new(path: Path, data: bytes) -> None:
    """Create ``path`` owner-only with ``data``; refuse if it exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise BadInput(f"{path}: already exists; not replacing TLS material") from None
    except OSError as exc:
        raise BadInput(f"{path}: cannot write ({exc.strerror})") from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise BadInput(f"{what} {path}: no such file") from None
    except OSError as exc:
        raise BadInput(f"{what} {path}: cannot read ({exc.strerror})") from None


def write_ca(
    ca_dir: Path, *, passphrase: bytes | None, name: str = "gsomia CA", clock: Clock | None = None
) -> Path:
    """A new private CA in ``ca_dir`` (its key under ``passphrase``); the certificate's path."""
    private_dir(ca_dir)
    now = (clock or SystemClock()).now()
    ca = primitives.tls_ca(name, password=passphrase, now=now)
    cert = ca_dir / CA_CERT
    for path in (cert, ca_dir / CA_KEY):
        if path.exists():
            raise BadInput(f"{path}: already exists; not replacing TLS material")
    _write_new(ca_dir / CA_KEY, ca.key_pem)
    _write_new(cert, ca.cert_pem)
    return cert


def write_node_tls(
    directory: Path,
    party: str,
    *,
    hosts: Sequence[str],
    passphrase: bytes | None,
    ca_dir: Path | None = None,
) -> NodeTls:
    """``party``'s node certificate and key in ``directory``, signed by the CA in ``ca_dir``
    (its key opened with ``passphrase``), or by a new CA made in ``directory/ca`` when
    ``ca_dir`` is None. ``hosts`` go into the SAN (``DEFAULT_HOSTS`` when empty)."""
    private_dir(directory)
    cert, key = directory / NODE_CERT, directory / NODE_KEY
    for path in (cert, key):
        if path.exists():
            raise BadInput(f"{path}: already exists; not replacing TLS material")
    if ca_dir is None:
        ca_dir = directory / "ca"
        write_ca(ca_dir, passphrase=passphrase)
    ca_cert = ca_dir / CA_CERT
    ca = primitives.Issued(_read(ca_cert, "CA certificate"), _read(ca_dir / CA_KEY, "CA key"))
    issued = primitives.tls_node_cert(
        ca,
        ca_password=passphrase,
        party=party,
        hosts=tuple(hosts) or DEFAULT_HOSTS,
        password=passphrase,
        now=SystemClock().now(),
    )
    _write_new(key, issued.key_pem)
    _write_new(cert, issued.cert_pem)
    return NodeTls(cert=cert, key=key, ca=ca_cert)


def tls_password(*, passphrase: bytes | None, key_file: Path | None) -> bytes | None:
    """The password of a node's TLS key: its passphrase when it has one, else one derived from
    its key file (hex, so OpenSSL takes it as text), else None (a plaintext key, or none)."""
    if passphrase is not None:
        return passphrase
    if key_file is None:
        return None
    secret = _read(key_file, "key file")
    return primitives.sha256(_KEY_FILE_DOMAIN + secret).hex().encode("ascii")


def write_demo_tls(
    directory: Path, passwords: Mapping[str, bytes | None], *, hosts: Sequence[str] = ()
) -> tuple[Path, dict[str, NodeTls]]:
    """For ``gsomia demo --tls``: a CA certificate (``directory/ca.crt``) and each party's
    certificate and key (``directory/<PARTY>/``, the key under that party's password). The
    CA's key signs them in memory and is never written: a demo CA signs nothing else. Kept on
    resume when complete; a partial set is refused (remove ``directory`` to make a new one)."""
    ca_cert = directory / CA_CERT
    made = {
        party: NodeTls(directory / party / NODE_CERT, directory / party / NODE_KEY, ca_cert)
        for party in passwords
    }
    files = [ca_cert, *(p for tls in made.values() for p in (tls.cert, tls.key))]
    present = [path.exists() for path in files]
    if all(present):
        return ca_cert, made
    if any(present):
        raise BadInput(f"{directory}: incomplete TLS material; remove the directory to remake it")
    private_dir(directory)
    now = SystemClock().now()
    ca_password = primitives.random_bytes(32).hex().encode("ascii")  # forgotten on return
    ca = primitives.tls_ca("gsomia demo CA", password=ca_password, now=now)
    for party, tls in made.items():
        private_dir(tls.cert.parent)
        issued = primitives.tls_node_cert(
            ca,
            ca_password=ca_password,
            party=party,
            hosts=tuple(hosts) or DEFAULT_HOSTS,
            password=passwords[party],
            now=now,
        )
        _write_new(tls.key, issued.key_pem)
        _write_new(tls.cert, issued.cert_pem)
    _write_new(ca_cert, ca.cert_pem)  # last: its presence says the set is complete
    return ca_cert, made
