"""Test PKI generated with `cryptography`: CAs, server/client leaves, broken certs."""
from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID, ObjectIdentifier

NOW = dt.datetime.now(dt.timezone.utc)


def _key(kind: str):
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass
class Issued:
    cert: x509.Certificate
    key: object
    cert_path: str = ""
    key_path: str = ""

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)


def make_ca(cn: str, kind: str = "rsa") -> Issued:
    key = _key(kind)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=1)).not_valid_after(NOW + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return Issued(cert, key)


def issue(ca: Issued, cn: str, kind: str = "rsa", *, expired=False, server=True,
          unknown_critical=False, sans=("localhost",), ips=("127.0.0.1",)) -> Issued:
    key = _key(kind)
    start = NOW - dt.timedelta(days=10 if expired else 1)
    end = NOW - dt.timedelta(days=1) if expired else NOW + dt.timedelta(days=30)
    b = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca.cert.subject)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(start).not_valid_after(end)
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
         .add_extension(x509.SubjectAlternativeName(
             [x509.DNSName(s) for s in sans] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]),
             critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
                        critical=False))
    if unknown_critical:
        b = b.add_extension(x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00"),
                            critical=True)
    cert = b.sign(ca.key, hashes.SHA256())
    return Issued(cert, key)


def write(issued: Issued, directory: Path, stem: str) -> Issued:
    cp = directory / f"{stem}.pem"
    kp = directory / f"{stem}.key"
    cp.write_bytes(issued.cert.public_bytes(serialization.Encoding.PEM))
    kp.write_bytes(issued.key.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    issued.cert_path, issued.key_path = str(cp), str(kp)
    return issued


class PKI:
    """Everything the TLS tests need, written under ``directory``."""

    def __init__(self, directory: Path):
        d = Path(directory)
        self.dir = d
        self.ca = write(make_ca("pyssl test CA"), d, "ca")
        self.other_ca = write(make_ca("unrelated CA"), d, "other_ca")
        self.ec_ca = write(make_ca("pyssl EC CA", "ec"), d, "ec_ca")
        self.server = write(issue(self.ca, "localhost"), d, "server")
        self.client = write(issue(self.ca, "client", server=False), d, "client")
        self.ec_server = write(issue(self.ec_ca, "localhost", "ec"), d, "ec_server")
        self.expired = write(issue(self.ca, "localhost", expired=True), d, "expired")
        self.critical = write(issue(self.ca, "localhost", unknown_critical=True), d, "critical")
        self.wrong_host = write(issue(self.ca, "elsewhere", sans=("elsewhere.example",), ips=()), d,
                                "wrong_host")
        self.foreign = write(issue(self.other_ca, "localhost"), d, "foreign")
