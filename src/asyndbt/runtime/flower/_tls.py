"""Test credentials for a secure local deployment: a CA, a SuperLink certificate, SuperNode key pairs.

``asyndbt flower local --secure`` runs the same protocol as a deployment across organisations: TLS on
every connection to the SuperLink, and node authentication (only SuperNodes whose public key was
registered may join). Across machines the parties use real certificates and their own keys
(README, "Running across machines"); these are generated on the spot, valid for two days, for
127.0.0.1 only. ``cryptography`` comes with Flower (``flwr`` depends on it).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Credentials:
    """Paths of the files :func:`write_test_credentials` wrote."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    node_keys: tuple[Path, ...]  # OpenSSH private keys; the public key is beside each, with ".pub"


def _write_private(path: Path, data: bytes) -> None:
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def node_key_pair(path: Path) -> Path:
    """Write a SuperNode's ECDSA P-384 key pair (``path``, ``path.pub``, OpenSSH format); return ``path``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP384R1())
    _write_private(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                           serialization.NoEncryption()))
    Path(str(path) + ".pub").write_bytes(key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                                       serialization.PublicFormat.OpenSSH))
    return path


def write_test_credentials(out_dir: str | Path, nodes: int) -> Credentials:
    """A throwaway CA, a SuperLink certificate for 127.0.0.1/localhost, and one key pair per SuperNode."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def builder(subject: str, issuer: x509.Name, public_key: object) -> x509.CertificateBuilder:
        return (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(issuer)
                .public_key(public_key).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2)))

    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca = (builder("asyndbt local test CA", name("asyndbt local test CA"), ca_key.public_key())
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True).sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP384R1())
    san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")])
    cert = builder("127.0.0.1", ca.subject, key.public_key()).add_extension(san, critical=False).sign(
        ca_key, hashes.SHA256())
    pem = serialization.Encoding.PEM
    creds = Credentials(out / "ca.crt", out / "server.pem", out / "server.key",
                        tuple(out / f"node{i}" for i in range(nodes)))
    creds.ca_cert.write_bytes(ca.public_bytes(pem))
    creds.server_cert.write_bytes(cert.public_bytes(pem))
    _write_private(creds.server_key, key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    for path in creds.node_keys:
        node_key_pair(path)
    return creds
