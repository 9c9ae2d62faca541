"""Test PKI generated with `cryptography`: CAs, intermediates, leaves and broken certificates.

Reusable by every test suite::

    pki = PKI(tmp_path)            # writes PEM files under tmp_path
    pki.server.cert_path, pki.server.key_path, pki.server.der, pki.server.key_der
    pki.ca.der                     # trust anchor (DER)

Private keys are cached per process by (kind, slot) — RSA-2048 generation costs tens of
milliseconds and a PKI needs a dozen keys — so a second ``PKI(...)`` in the same test
session only signs certificates (about a millisecond each).

Available on ``PKI``:

* ``ca`` (RSA), ``ec_ca`` (ECDSA P-256), ``other_ca`` (unrelated RSA CA), ``intermediate``
  (RSA, signed by ``ca``)
* ``server`` / ``client`` (RSA, by ``ca``), ``ec_server`` / ``ec_client`` (ECDSA, by ``ec_ca``)
* ``chained_server`` (by ``intermediate``; ``chained_server.chain_der`` = [leaf, intermediate])
* ``expired``, ``not_yet_valid``, ``critical`` (unknown critical extension), ``wrong_host``
  (SAN elsewhere.example only), ``foreign`` (by ``other_ca``), ``self_signed`` (localhost)

Every leaf has SAN DNS:localhost and IP:127.0.0.1 unless stated otherwise.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

NOW = dt.datetime.now(dt.timezone.utc)
_KEYS: dict[tuple[str, str], object] = {}


def key_for(kind: str, slot: str):
    """A private key of ``kind`` ("rsa" | "ec"), generated once per process per slot."""
    k = _KEYS.get((kind, slot))
    if k is None:
        if kind == "rsa":
            k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        elif kind == "ec":
            k = ec.generate_private_key(ec.SECP256R1())
        else:
            raise ValueError(f"unknown key kind {kind!r}")
        _KEYS[(kind, slot)] = k
    return k


def _name(cn: str):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass
class Issued:
    cert: x509.Certificate
    key: object
    cert_path: str = ""
    key_path: str = ""
    chain: list = field(default_factory=list)   # issuing CAs below the root, nearest first

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def chain_der(self) -> list[bytes]:
        """Leaf first, then the intermediates (what a TLS peer sends)."""
        return [self.der] + [c.der for c in self.chain]

    @property
    def key_der(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())

    def encrypted_key_pem(self, password: bytes) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.BestAvailableEncryption(password))


def make_ca(cn: str, kind: str = "rsa", *, slot: str | None = None, issuer: Issued | None = None,
            path_length: int | None = None) -> Issued:
    """A CA certificate: self-signed root, or an intermediate when ``issuer`` is given."""
    key = key_for(kind, slot or f"ca:{cn}")
    signer = issuer.key if issuer else key
    b = (x509.CertificateBuilder().subject_name(_name(cn))
         .issuer_name(issuer.cert.subject if issuer else _name(cn))
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(NOW - dt.timedelta(days=1)).not_valid_after(NOW + dt.timedelta(days=30))
         .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
         .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False),
                        critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if issuer is not None:
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
                            critical=False)
    cert = b.sign(signer, hashes.SHA256())
    chain = [issuer] + issuer.chain if issuer is not None and issuer.cert.issuer != issuer.cert.subject else []
    return Issued(cert, key, chain=chain)


def issue(ca: Issued, cn: str, kind: str = "rsa", *, expired=False, not_yet_valid=False, server=True,
          unknown_critical=False, sans=("localhost",), ips=("127.0.0.1",), slot: str | None = None) -> Issued:
    """A leaf certificate signed by ``ca``; ``server``: True (serverAuth), False
    (clientAuth) or "both" (a distribution node's: it accepts and dials)."""
    key = key_for(kind, slot or f"leaf:{cn}:{'server' if server else 'client'}")
    if expired:
        start, end = NOW - dt.timedelta(days=10), NOW - dt.timedelta(days=1)
    elif not_yet_valid:
        start, end = NOW + dt.timedelta(days=1), NOW + dt.timedelta(days=10)
    else:
        start, end = NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=30)
    names = [x509.DNSName(s) for s in sans] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    b = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca.cert.subject)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(start).not_valid_after(end)
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
         .add_extension(x509.ExtendedKeyUsage(
             [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH] if server == "both"
             else [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
             critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
                        critical=False))
    if names:
        b = b.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if unknown_critical:
        b = b.add_extension(x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00"),
                            critical=True)
    cert = b.sign(ca.key, hashes.SHA256())
    chain = ([ca] + ca.chain) if ca.cert.issuer != ca.cert.subject else []
    return Issued(cert, key, chain=chain)


def self_signed(cn: str = "localhost", kind: str = "rsa") -> Issued:
    """A self-signed end-entity certificate (not a CA)."""
    key = key_for(kind, f"self:{cn}")
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=1)).not_valid_after(NOW + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return Issued(cert, key)


def write(issued: Issued, directory: Path, stem: str) -> Issued:
    """Write ``<stem>.pem`` (the certificate followed by its intermediates) and ``<stem>.key``."""
    cp = Path(directory) / f"{stem}.pem"
    kp = Path(directory) / f"{stem}.key"
    cp.write_bytes(issued.pem + b"".join(c.pem for c in issued.chain))
    kp.write_bytes(issued.key_pem)
    issued.cert_path, issued.key_path = str(cp), str(kp)
    return issued


class PKI:
    """Everything the TLS tests need, written under ``directory``."""

    def __init__(self, directory: Path):
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        self.dir = d
        self.ca = write(make_ca("pyssl test CA"), d, "ca")
        self.other_ca = write(make_ca("unrelated CA"), d, "other_ca")
        self.ec_ca = write(make_ca("pyssl EC CA", "ec"), d, "ec_ca")
        self.intermediate = write(make_ca("pyssl intermediate CA", issuer=self.ca), d, "intermediate")
        self.server = write(issue(self.ca, "localhost"), d, "server")
        self.client = write(issue(self.ca, "client", server=False), d, "client")
        self.ec_server = write(issue(self.ec_ca, "localhost", "ec"), d, "ec_server")
        self.ec_client = write(issue(self.ec_ca, "client", "ec", server=False), d, "ec_client")
        self.chained_server = write(issue(self.intermediate, "localhost", slot="chained"), d, "chained_server")
        self.expired = write(issue(self.ca, "localhost", expired=True, slot="expired"), d, "expired")
        self.not_yet_valid = write(issue(self.ca, "localhost", not_yet_valid=True, slot="future"), d,
                                   "not_yet_valid")
        self.critical = write(issue(self.ca, "localhost", unknown_critical=True, slot="critical"), d,
                              "critical")
        self.wrong_host = write(issue(self.ca, "elsewhere", sans=("elsewhere.example",), ips=()), d,
                                "wrong_host")
        self.foreign = write(issue(self.other_ca, "localhost", slot="foreign"), d, "foreign")
        self.self_signed = write(self_signed("localhost"), d, "self_signed")


def crl(ca: Issued, revoked=(), reason=None) -> bytes:
    """A DER CRL signed by ``ca`` listing the certificates ``revoked`` (with ``reason``,
    an ``x509.ReasonFlags``, when given)."""
    b = (x509.CertificateRevocationListBuilder().issuer_name(ca.cert.subject)
         .last_update(NOW - dt.timedelta(days=1)).next_update(NOW + dt.timedelta(days=30)))
    for issued in revoked:
        entry = (x509.RevokedCertificateBuilder().serial_number(issued.cert.serial_number)
                 .revocation_date(NOW - dt.timedelta(hours=1)))
        if reason is not None:
            entry = entry.add_extension(x509.CRLReason(reason), critical=False)
        b = b.add_revoked_certificate(entry.build())
    return b.sign(ca.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
