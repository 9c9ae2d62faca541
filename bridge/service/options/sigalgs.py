"""``signature_algs`` / ``signature_algs_cert``: OTP 25's checks, and OpenSSL's names.

OTP keeps a given list if at least one entry survives ``tls_v1:signature_schemes/2``
(highest version TLS 1.3) or ``tls_v1:signature_algs/2`` (TLS 1.2), which drop what
the crypto library cannot do; an empty result is an option error. The bridge's crypto
library is OpenSSL, which has every hash, key type and curve those functions ask
about (sha..sha512, md5; rsa, dss, ecdsa, eddsa; RSA-PSS), so the checks below are
theirs with that answer built in.
"""
from __future__ import annotations

from bridge.etf.types import Atom

from .base import _ERROR, _OPTIONS, A, ErlangException, SslOptionError

# ssl_cipher:scheme_to_components/1: the TLS 1.3 scheme atoms -> OpenSSL's sigalg
# names (IANA's, but for the EdDSA ones)
_SCHEMES = {
    "rsa_pkcs1_sha256": "rsa_pkcs1_sha256", "rsa_pkcs1_sha384": "rsa_pkcs1_sha384",
    "rsa_pkcs1_sha512": "rsa_pkcs1_sha512", "ecdsa_secp256r1_sha256": "ecdsa_secp256r1_sha256",
    "ecdsa_secp384r1_sha384": "ecdsa_secp384r1_sha384",
    "ecdsa_secp521r1_sha512": "ecdsa_secp521r1_sha512",
    "rsa_pss_rsae_sha256": "rsa_pss_rsae_sha256", "rsa_pss_rsae_sha384": "rsa_pss_rsae_sha384",
    "rsa_pss_rsae_sha512": "rsa_pss_rsae_sha512", "eddsa_ed25519": "ed25519",
    "eddsa_ed448": "ed448", "rsa_pss_pss_sha256": "rsa_pss_pss_sha256",
    "rsa_pss_pss_sha384": "rsa_pss_pss_sha384", "rsa_pss_pss_sha512": "rsa_pss_pss_sha512",
    "rsa_pkcs1_sha1": "rsa_pkcs1_sha1", "ecdsa_sha1": "ecdsa_sha1",
}
# tls_v1:rsa_schemes/0 (PSS supported): the atoms tls_v1:signature_algs/2 keeps
_RSA_SCHEMES = frozenset(n for n in _SCHEMES if n.startswith("rsa_pss_"))
# {Hash, Sign} tuples: crypto:supports()'s hashs and public_keys, as OpenSSL has them
_HASHES = {"sha": "SHA1", "sha224": "SHA224", "sha256": "SHA256", "sha384": "SHA384",
           "sha512": "SHA512", "md5": "MD5"}
_OTHER_HASHES = frozenset(("md4", "ripemd160", "sha3_224", "sha3_256", "sha3_384", "sha3_512",
                           "blake2b", "blake2s"))
_SIGNS = {"rsa": "RSA", "ecdsa": "ECDSA", "dsa": "DSA"}


def _pair_ok(h: str, s: str) -> bool:
    """tls_v1:is_pair/3 with the hash and key type known to crypto."""
    if h not in _HASHES and h not in _OTHER_HASHES or s not in _SIGNS:
        return False
    if s == "dsa":
        return h == "sha"
    if s == "ecdsa":
        return h not in ("md4", "md5")
    return h != "md4"


def _tuple_ok(v) -> bool:
    return (isinstance(v, tuple) and len(v) == 2 and all(isinstance(x, Atom) for x in v)
            and _pair_ok(v[0].name, v[1].name))


def check(opt: str, value: list, highest: str) -> None:
    """OTP 25's ``handle_hashsigns_option/2`` (signature_algs) and
    ``handle_signature_algorithms_option/2`` (signature_algs_cert) on a given list."""
    if highest == "tlsv1.3" or opt == "signature_algs_cert":
        # tls_v1:signature_schemes/2 (an empty list has no clause but the last: [])
        kept = []
        for v in value:
            if isinstance(v, Atom):
                if v.name not in _SCHEMES:       # ssl_cipher:scheme_to_components/1
                    raise ErlangException("error", A("function_clause"))
                kept.append(v)
            elif isinstance(v, tuple) and len(v) == 2:
                if _tuple_ok(v):
                    kept.append(v)
            else:
                raise ErlangException("error", A("function_clause"))
        if not kept:
            raise SslOptionError((_ERROR, (_OPTIONS, A("no_supported_signature_schemes"), (A(opt), value))))
        return
    if not all(isinstance(v, Atom) or (isinstance(v, tuple) and len(v) == 2) for v in value):
        raise ErlangException("error", A("function_clause"))
    kept = [v for v in value if (isinstance(v, Atom) and v.name in _RSA_SCHEMES) or _tuple_ok(v)]
    if not kept:
        raise SslOptionError((_ERROR, (_OPTIONS, A("no_supported_algorithms"), (A(opt), value))))


def openssl_names(value: list) -> list[str]:
    """OpenSSL's sigalgs-list names of the entries of a checked list that libssl here
    takes (it lacks some ssl takes: MD5, schemes its security level forbids)."""
    from bridge.tls import ossl
    out = []
    for v in value:
        if isinstance(v, Atom) and v.name in _SCHEMES:
            out.append(_SCHEMES[v.name])
        elif _tuple_ok(v) and v[0].name in _HASHES:
            out.append(f"{_SIGNS[v[1].name]}+{_HASHES[v[0].name]}")
    have = ossl.sigalgs_supported(frozenset(out))
    return [n for n in dict.fromkeys(out) if n in have]
