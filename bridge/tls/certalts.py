"""Several certificate/key pairs (ssl's ``certs_keys``) and ssl's choice among them,
made per connection (sans-IO: the choice is a function of the pairs, the negotiated
version and what the peer's hello offered).

OpenSSL keeps one certificate per key type and picks by its own rule (the first of the
shared signature schemes, in the client's order, that has a certificate), which is not
ssl's: ssl orders its pairs by key type (ssl_config:init_certs_keys/3,
prioritize_groups/1), keeps those the negotiated version can use
(ssl_certificate:available_cert_key_pairs/2) and takes the first that fits. So a
context with pairs holds no certificate of its own; its certificate callback
(``SSL_CTX_set_cert_cb``, bridge.tls.ossl) installs the one pair ssl would choose
on the connection (``SSL_use_certificate``/``SSL_use_PrivateKey``), and OpenSSL then
has that one only. The pair's chain is OpenSSL's automatic one, built from the
trusted certificates (``cacerts``) as ssl builds a chain for a certificate given
alone (ssl_certificate:certificate_chain/3): per-pair chain certificates would need
SSL_add1_chain_cert, which the bindings lack, so pairs with chains are refused
(bridge.service.options).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Optional

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed448, ed25519
from OpenSSL import crypto

from . import ossl

# EVP_PKEY ids (OpenSSL's obj_mac.h NIDs), as PKey.type() gives them
_EVP_RSA, _EVP_DSA, _EVP_EC, _EVP_RSA_PSS, _EVP_ED25519, _EVP_ED448 = 6, 116, 408, 912, 1087, 1088
_GROUP_OF = {_EVP_RSA: "rsa", _EVP_DSA: "dsa", _EVP_EC: "ecdsa", _EVP_RSA_PSS: "rsa_pss_pss",
             _EVP_ED25519: "eddsa", _EVP_ED448: "eddsa"}

# ssl_certificate:available_cert_key_pairs/2: the key types a version can use, best first
_AVAILABLE = {
    "tlsv1.3": ("eddsa", "ecdsa", "rsa_pss_pss", "rsa"),
    "tlsv1.2": ("ecdsa", "rsa_pss_pss", "rsa", "dsa"),
}
_AVAILABLE_OLD = ("ecdsa", "rsa", "dsa")

# tls_v1:ecc_curves(all)'s order among the curves OpenSSL names (prio_ecdsa/1)
_CURVE_ORDER = ("sect571r1", "sect571k1", "secp521r1", "brainpoolP512r1", "sect409k1",
                "sect409r1", "brainpoolP384r1", "secp384r1", "sect283k1", "sect283r1",
                "brainpoolP256r1", "secp256k1", "secp256r1", "prime256v1", "sect239k1",
                "sect233k1", "sect233r1", "secp224k1", "secp224r1", "sect193r1", "sect193r2",
                "secp192k1", "secp192r1", "prime192v1", "sect163k1", "sect163r1", "sect163r2",
                "secp160k1", "secp160r1", "secp160r2")

# a certificate's own signature (OpenSSL's long name) -> (sign, hash) as
# public_key:pkix_sign_types/1 names them
_SIG = {
    b"sha1WithRSAEncryption": ("rsa", "sha"), b"sha224WithRSAEncryption": ("rsa", "sha224"),
    b"sha256WithRSAEncryption": ("rsa", "sha256"), b"sha384WithRSAEncryption": ("rsa", "sha384"),
    b"sha512WithRSAEncryption": ("rsa", "sha512"),
    b"ecdsa-with-SHA1": ("ecdsa", "sha"), b"ecdsa-with-SHA224": ("ecdsa", "sha224"),
    b"ecdsa-with-SHA256": ("ecdsa", "sha256"), b"ecdsa-with-SHA384": ("ecdsa", "sha384"),
    b"ecdsa-with-SHA512": ("ecdsa", "sha512"),
    b"dsaWithSHA1": ("dsa", "sha"), b"dsa_with_SHA224": ("dsa", "sha224"),
    b"dsa_with_SHA256": ("dsa", "sha256"),
    b"ED25519": ("eddsa", "none"), b"ED448": ("eddsa", "none"),
}
_HASH_NAME = {"sha1": "sha", "sha224": "sha224", "sha256": "sha256", "sha384": "sha384",
              "sha512": "sha512"}

# signature scheme code -> (sign, hash) (ssl_cipher:scheme_to_components/1; rsa_pkcs1
# counts as rsa, as ssl_handshake:is_supported_sign/4 and tls_handshake_1_3's
# compare_sign_algos/4 treat it for a certificate's signature)
_SCHEME = {
    0x0201: ("rsa", "sha"), 0x0301: ("rsa", "sha224"), 0x0401: ("rsa", "sha256"),
    0x0501: ("rsa", "sha384"), 0x0601: ("rsa", "sha512"),
    0x0203: ("ecdsa", "sha"), 0x0303: ("ecdsa", "sha224"), 0x0403: ("ecdsa", "sha256"),
    0x0503: ("ecdsa", "sha384"), 0x0603: ("ecdsa", "sha512"),
    0x0202: ("dsa", "sha"), 0x0302: ("dsa", "sha224"), 0x0402: ("dsa", "sha256"),
    0x0804: ("rsa_pss_rsae", "sha256"), 0x0805: ("rsa_pss_rsae", "sha384"),
    0x0806: ("rsa_pss_rsae", "sha512"),
    0x0807: ("eddsa", "none"), 0x0808: ("eddsa", "none"),
    0x0809: ("rsa_pss_pss", "sha256"), 0x080A: ("rsa_pss_pss", "sha384"),
    0x080B: ("rsa_pss_pss", "sha512"),
}
# the sign part of the schemes a key of a group signs a TLS 1.2 key exchange with
# (ssl_handshake's filter_hashsigns/5 keeps a suite only when the client offers one)
_KEY_SIGNS = {"rsa": ("rsa_pss_rsae", "rsa"), "rsa_pss_pss": ("rsa_pss_pss",),
              "ecdsa": ("ecdsa",), "eddsa": ("eddsa",), "dsa": ("dsa",)}
_EXT_SIGALGS, _EXT_SIGALGS_CERT = 13, 50


class CertAltError(ValueError):
    """A pair's certificate or key does not load, or they do not belong together."""


@dataclass(frozen=True)
class Pair:
    """One ``certs_keys`` entry, loaded: pyOpenSSL objects for SSL_use_*, and what
    ssl's choice looks at."""
    index: int                 # its place in the caller's list
    cert: crypto.X509
    key: crypto.PKey
    group: str                 # eddsa | ecdsa | rsa_pss_pss | rsa | dsa
    curve: Optional[str]       # ecdsa: the key's curve
    bits: int                  # the key's size (prio_rsa_pss/1 orders by modulus)
    sig: tuple                 # the certificate's own signature: (sign, hash)


# the ECPrivateKey (RFC 5915) of an EdDSA key as public_key encodes one
# ({'ECPrivateKey', Der} with parameters {namedCurve, id-Ed25519 | id-Ed448}): the
# seed in the privateKey octet string; neither cryptography nor OpenSSL reads it
_ED_OIDS = {b"\x06\x03\x2b\x65\x70": ed25519.Ed25519PrivateKey,
            b"\x06\x03\x2b\x65\x71": ed448.Ed448PrivateKey}


def otp_eddsa_key(der: bytes):
    """The EdDSA key of such an ECPrivateKey, or None (any other encoding)."""
    # SEQUENCE { INTEGER 1, OCTET STRING seed, [0] { OID } , ... }, short lengths only
    if len(der) < 2 or der[0] != 0x30 or der[1] >= 0x80 or der[2:5] != b"\x02\x01\x01" \
            or len(der) < 7 or der[5] != 0x04:
        return None
    n = der[6]
    seed, rest = der[7:7 + n], der[7 + n:]
    if len(seed) != n or len(rest) < 2 or rest[0] != 0xA0:
        return None
    cls = _ED_OIDS.get(rest[2:2 + rest[1]])
    try:
        return cls.from_private_bytes(seed) if cls else None
    except ValueError:
        return None


def load_der_key(der: bytes, password: Optional[bytes]):
    """A DER private key as ``key`` gives it (cryptography's key object)."""
    try:
        return serialization.load_der_private_key(der, password=password,
                                                  unsafe_skip_rsa_key_validation=True)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        key = otp_eddsa_key(der)
        if key is None:
            raise
        return key


def _load_key(der: Optional[bytes], pem: Optional[bytes], password: Optional[bytes]):
    try:
        if der is not None:
            key = load_der_key(der, password)
        else:
            key = serialization.load_pem_private_key(pem or b"", password=password,
                                                     unsafe_skip_rsa_key_validation=True)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise CertAltError(f"bad key: {exc}") from None
    return crypto.PKey.from_cryptography_key(key)


def _signature(cert: crypto.X509) -> tuple:
    name = cert.get_signature_algorithm()
    if name in _SIG:
        return _SIG[name]
    if name == b"rsassaPss":
        # the hash of an RSASSA-PSS signature is in its parameters (oids_to_atoms/2)
        try:
            h = cert.to_cryptography().signature_hash_algorithm
            return ("rsa_pss_pss", _HASH_NAME.get(h.name if h else "", "sha256"))
        except ValueError:
            return ("rsa_pss_pss", "sha256")
    return ("unknown", "unknown")


def load_pair(index: int, chain: list, key_der, key_pem, password) -> Pair:
    """A pair as the context uses it (CertAltError when it cannot)."""
    try:
        try:
            cert = crypto.X509.from_cryptography(x509.load_der_x509_certificate(chain[0]))
        except ValueError:
            cert = crypto.load_certificate(crypto.FILETYPE_ASN1, chain[0])
    except (ValueError, crypto.Error) as exc:
        raise CertAltError(f"bad certificate: {exc}") from None
    key = _load_key(key_der, key_pem, password)
    kind = key.type()
    group = _GROUP_OF.get(kind)
    if group is None or cert.get_pubkey().type() != kind:
        raise CertAltError("key does not match certificate")
    curve = None
    if group == "ecdsa":
        curve = key.to_cryptography_key().curve.name
    return Pair(index, cert, key, group, curve, key.bits(), _signature(cert))


def sha1_signed(der: bytes) -> bool:
    """The certificate is signed with SHA-1 (False when it does not parse)."""
    try:
        return _signature(crypto.load_certificate(crypto.FILETYPE_ASN1, der))[1] == "sha"
    except crypto.Error:
        return False


@functools.lru_cache(maxsize=32)
def load_pairs(entries: tuple) -> tuple:
    """``entries``: (chain, key_der, key_pem, password) tuples, in the caller's order.
    Loaded once per distinct list (loading keys is the costly part)."""
    return tuple(load_pair(i, list(chain), kd, kp, pw) for i, (chain, kd, kp, pw) in enumerate(entries))


def prioritized(pairs: tuple) -> dict:
    """ssl_config:init_certs_keys/3: the pairs grouped by key type and ordered within
    each group as ssl's sorts leave them. group_pairs/2 collects each group reversed;
    prio_rsa/1 and prio_dsa/1 sort with a comparison that never holds (it matches a
    ``key`` field the pairs do not have), which reverses again: the caller's order.
    prio_rsa_pss/1's holds for a smaller modulus: ascending size, ties in the
    caller's order. prio_ecdsa/1 and prio_eddsa/1 keep the reversed order within a
    curve, the curves in tls_v1:ecc_curves(all)'s order, Ed25519 before Ed448."""
    groups: dict[str, list] = {g: [] for g in ("eddsa", "ecdsa", "rsa_pss_pss", "rsa", "dsa")}
    for p in pairs:
        groups[p.group].append(p)
    rev = {g: list(reversed(v)) for g, v in groups.items()}
    groups["rsa"] = list(groups["rsa"])
    groups["dsa"] = list(groups["dsa"])
    groups["rsa_pss_pss"] = sorted(groups["rsa_pss_pss"], key=lambda p: p.bits)
    groups["ecdsa"] = [p for c in _CURVE_ORDER for p in rev["ecdsa"] if p.curve == c]
    groups["eddsa"] = ([p for p in rev["eddsa"] if p.key.type() == _EVP_ED25519]
                       + [p for p in rev["eddsa"] if p.key.type() == _EVP_ED448])
    return groups


def available(pairs: tuple, version: str) -> list:
    """ssl_certificate:available_cert_key_pairs/2: the pairs the version can use, best first."""
    groups = prioritized(pairs)
    return [p for g in _AVAILABLE.get(version, _AVAILABLE_OLD) for p in groups[g]]


# ---- the peer's offer -------------------------------------------------------------

@dataclass
class Offer:
    """What a ClientHello offers that ssl's choice looks at (None: extension absent)."""
    sigalgs: Optional[list] = None          # scheme codes, the client's order
    sigalgs_cert: Optional[list] = None
    suites: list = None                     # cipher suite codes (2 bytes each)


def _codes(data: bytes) -> list:
    if len(data) < 2:
        return []
    n = int.from_bytes(data[:2], "big")
    body = data[2:2 + n]
    return [int.from_bytes(body[i:i + 2], "big") for i in range(0, len(body) - 1, 2)]


def client_offer(suites: bytes, extensions: bytes) -> Offer:
    """The signature schemes and suites of a ClientHello (its extension block and
    suite list as bridge.tls.hello reads them)."""
    offer = Offer(suites=[suites[i:i + 2] for i in range(0, len(suites) - 1, 2)])
    pos = 0
    while pos + 4 <= len(extensions):
        etype = int.from_bytes(extensions[pos:pos + 2], "big")
        n = int.from_bytes(extensions[pos + 2:pos + 4], "big")
        body = extensions[pos + 4:pos + 4 + n]
        if etype == _EXT_SIGALGS:
            offer.sigalgs = _codes(body)
        elif etype == _EXT_SIGALGS_CERT:
            offer.sigalgs_cert = _codes(body)
        pos += 4 + n
    return offer


def _sig_in(sig: tuple, codes: Optional[list]) -> bool:
    """A certificate's signature among the peer's schemes (tls_handshake_1_3's
    do_check_cert_sign_algo/3, ssl_handshake:is_supported_sign/4): an rsaEncryption
    signature matches rsa_pkcs1 and rsa_pss_rsae schemes of its hash."""
    sign, hash_ = sig
    for code in codes or ():
        s, h = _SCHEME.get(code, (None, None))
        if h == hash_ and (s == sign or (sign == "rsa" and s == "rsa_pss_rsae")):
            return True
    return False


def _key_signs(group: str, codes: Optional[list], table: dict) -> bool:
    if codes is None:
        return True
    signs = table.get(group, ())
    return any(_SCHEME.get(c, (None,))[0] in signs for c in codes)


def suite_auth(name: str) -> Optional[str]:
    """The key type an OpenSSL TLS <= 1.2 suite name authenticates with (None: none,
    as PSK, SRP and anonymous suites; "rsa" also for plain RSA key exchange)."""
    if name.startswith("ECDHE-ECDSA-"):
        return "ecdsa"
    if name.startswith("DHE-DSS-"):
        return "dsa"
    if name.startswith(("ECDHE-RSA-", "DHE-RSA-")):
        return "rsa"
    if any(t in name for t in ("PSK", "SRP", "ADH", "AECDH", "ECDH-", "DH-")) or name.startswith("TLS_"):
        return None
    return "rsa"


def _suite_fits(group: str, suites: list) -> bool:
    """ssl_handshake:available_suites/5 and select_cipher_suite/3: a shared suite
    the pair's key can authenticate (``suites``: OpenSSL names of the suites both
    offer). An RSA-PSS key signs RSA suites' key exchange."""
    want = {"rsa_pss_pss": "rsa", "eddsa": "ecdsa"}.get(group, group)
    return any(suite_auth(n) == want for n in suites)


def server_choice(pairs: tuple, version: str, offer: Offer, shared_suites: list) -> Optional[Pair]:
    """The pair an ssl server authenticates with, None: none fits (ssl then fails the
    handshake). TLS 1.3: tls_handshake_1_3:select_server_cert_key_pair/7, the first
    pair whose certificate's signature the client takes (signature_algorithms_cert,
    else signature_algorithms), else the first other pair not signed with SHA-1.
    TLS 1.2 and older: ssl_handshake:server_select_cert_key_pair_and_params/6, the
    first pair with a suite in common and, in TLS 1.2, a certificate signature the
    client takes; the last pair is taken as it is."""
    cands = available(pairs, version)
    if version == "tlsv1.3":
        fallback = None
        codes = offer.sigalgs_cert if offer.sigalgs_cert is not None else offer.sigalgs
        for p in cands:
            if _sig_in(p.sig, codes):
                return p
            if fallback is None and p.sig[1] != "sha":
                fallback = p
        return fallback
    for i, p in enumerate(cands):
        if i == len(cands) - 1:
            return p
        if not _suite_fits(p.group, shared_suites) or not _key_signs(p.group, offer.sigalgs, _KEY_SIGNS):
            continue
        if version != "tlsv1.2" or offer.sigalgs is None or _sig_in(p.sig, offer.sigalgs):
            return p
    return None


def client_choice(pairs: tuple, version: str) -> Optional[Pair]:
    """The pair an ssl client answers a certificate request with: the first its
    version can use (tls_handshake_1_3:select_client_cert_key_pair/9,
    tls_dtls_connection:select_client_cert_key_pair/8). ssl also passes over pairs
    the request's signature schemes exclude; the request is encrypted in TLS 1.3 and
    OpenSSL's copy of its schemes is not reachable (SSL_get_sigalgs is not bound),
    so pyssl offers the first pair and OpenSSL sends no certificate when the server
    does not take it (docs/options.md)."""
    cands = available(pairs, version)
    return cands[0] if cands else None


class CertChooser:
    """One connection's certificate callback (bridge.tls.ossl.set_cert_cb): installs
    the pair ssl would choose. A server reads the first ClientHello's schemes and
    suites for it from the hello the engine read (``take_hello``)."""

    _VERSIONS = {"TLSv1": "tlsv1", "TLSv1.1": "tlsv1.1", "TLSv1.2": "tlsv1.2", "TLSv1.3": "tlsv1.3"}

    def __init__(self, conn, cfg):
        self._conn = conn
        self.cfg = cfg
        self._offer: Optional[Offer] = None
        self._chosen = False
        ossl.choose_cert_with(conn, self)

    def take_hello(self, got) -> None:
        """The first ClientHello, as the engine read it (bridge.tls.hello; a hello that
        does not parse is OpenSSL's to refuse: the choice then sees no offer)."""
        if self._offer is None:
            self._offer = client_offer(got.cipher_suites, got.extensions)

    def attach(self, conn, cfg) -> None:
        """The engine made a new SSL for the connection (an SNI host's versions)."""
        self._conn, self.cfg = conn, cfg
        ossl.choose_cert_with(conn, self)

    def on_cert(self) -> bool:
        """Install ssl's choice (the version is negotiated by now, on either side).
        None fits: the connection goes on without one, and OpenSSL fails a server's
        handshake as ssl does (handshake_failure)."""
        if self._chosen:
            return True           # a second ClientHello (after a HelloRetryRequest)
        self._chosen = True
        conn, cfg = self._conn, self.cfg
        if not cfg.cert_alts:
            return True
        pairs = load_pairs(cfg.cert_alts)
        version = self._VERSIONS.get(conn.get_protocol_version_name(), "tlsv1.2")
        if cfg.role == "server":
            offer = self._offer or Offer(suites=[])
            ours = set(conn.get_cipher_list())
            shared = [n for n in ossl.suite_names(conn, offer.suites or []) if n in ours]
            pair = server_choice(pairs, version, offer, shared)
        else:
            pair = client_choice(pairs, version)
        if pair is None:
            return True
        return ossl.use_cert_key(conn, pair.cert, pair.key)
