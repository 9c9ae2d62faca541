"""The alerts OTP 25 sends where libssl sends others, chosen from facts (sans-IO):
the peer's first record header (``first_header_alert``), OpenSSL's error text
(``guess_alert``), and the ClientHellos an OTP server refuses with
insufficient_security (``insufficient_security``).

ssl's server answers a hello it can find no parameters for with the alert
insufficient_security (71); libssl answers the same hellos with handshake_failure
(40: "no shared cipher", "no shared signature algorithms", "no suitable signature
algorithm", "no suitable key share"). The engine asks ``insufficient_security``
in OpenSSL's servername callback, which runs for every ClientHello after the
version is chosen and before the suite, the group and the signature scheme are,
and makes OpenSSL send 71 itself when this says so (bridge.tls.callbacks).

Hellos libssl fails as well are judged (no shared suite, scheme or group), and one
it takes (below); where a rule cannot be judged from what is known (a scheme or group
name not in the tables, a key not read), pyssl goes on. The OTP functions reproduced
are named at each rule:

TLS 1.3, ``tls_handshake_1_3:do_start/2``:
  * ``select_cipher_suite/3``: no TLS 1.3 suite in common -> no_suitable_cipher
  * ``select_common_groups/2``: no group in common -> no_suitable_groups
  * ``select_sign_algo/5``: no scheme the client offers that the server's
    signature_algs hold and its key can sign with -> no_suitable_signature_algorithm
    (no signature_algorithms at all -> no_suitable_public_key)
TLS 1.2 and older, ``tls_handshake:handle_client_hello/5``: no suite left of the
  client's after ``ssl_handshake:available_suites/5`` keeps the server's own ones
  for the version, the certificate's key (``ssl_cipher:filter/3``) and the
  signature schemes both sides have (``filter_hashsigns/5``) -> no_suitable_ciphers;
  TLS 1.2, ``ssl_handshake:select_hashsign/5``: the client's signature_algorithms
  (signature_algorithms_cert if sent) lack the scheme the server's certificate is
  signed with -> no_suitable_signature_algorithm. This one libssl does not check: it
  is the one rule where pyssl refuses a hello OpenSSL would take, as ssl refuses it.
"""
from __future__ import annotations

from typing import Optional

# The certificate verdicts of the engine's verify callback (bridge.tls.engine):
# X509_V_ERR_* -> OTP's {bad_cert, Reason} reason (public_key:pkix_path_validation names)
VERIFY_REASONS = {
    2: "unknown_ca", 19: "unknown_ca", 20: "unknown_ca", 21: "unknown_ca", 24: "invalid_issuer",
    9: "cert_expired", 10: "cert_expired", 18: "selfsigned_peer",
    7: "invalid_signature", 4: "invalid_signature", 6: "invalid_signature",
    34: "unknown_critical_extension", 62: "hostname_check_failed", 64: "hostname_check_failed",
    22: "max_path_length_reached", 23: "cert_revoked", 26: "invalid_ext_key_usage",
    28: "cert_rejected",
}
# OTP's path_validation_alert/1: bad_cert reason -> alert description (default 40)
REASON_ALERT = {
    "cert_expired": 45, "invalid_issuer": 42, "invalid_signature": 42, "name_not_permitted": 42,
    "unknown_critical_extension": 43, "selfsigned_peer": 42, "unknown_ca": 48, "cert_revoked": 44,
    "verify_fun_crashed": 80, "revocation_status_undetermined": 42,
}
# an X509_V_ERR_* that makes OpenSSL send a given alert (ssl_x509err2alert)
ALERT_X509_ERR = {48: 20, 45: 10, 42: 28, 43: 26, 44: 23, 40: 50, 80: 17}
# a verify hook that raised (a verify_fun that crashed or answered nonsense): ssl's
# connection dies of it and the peer gets internal_error
HOOK_CRASHED = "verify_fun_crashed"

# IANA SignatureScheme codes by OpenSSL sigalgs-list name (the names TLSConfig.sigalgs
# holds, bridge.service.options.sigalgs)
SCHEMES = {
    "RSA+SHA1": 0x0201, "DSA+SHA1": 0x0202, "ECDSA+SHA1": 0x0203,
    "RSA+SHA224": 0x0301, "DSA+SHA224": 0x0302, "ECDSA+SHA224": 0x0303,
    "RSA+SHA256": 0x0401, "DSA+SHA256": 0x0402, "ECDSA+SHA256": 0x0403,
    "RSA+SHA384": 0x0501, "DSA+SHA384": 0x0502, "ECDSA+SHA384": 0x0503,
    "RSA+SHA512": 0x0601, "DSA+SHA512": 0x0602, "ECDSA+SHA512": 0x0603,
    "rsa_pkcs1_sha1": 0x0201, "ecdsa_sha1": 0x0203,
    "rsa_pkcs1_sha256": 0x0401, "rsa_pkcs1_sha384": 0x0501, "rsa_pkcs1_sha512": 0x0601,
    "ecdsa_secp256r1_sha256": 0x0403, "ecdsa_secp384r1_sha384": 0x0503,
    "ecdsa_secp521r1_sha512": 0x0603,
    "rsa_pss_rsae_sha256": 0x0804, "rsa_pss_rsae_sha384": 0x0805, "rsa_pss_rsae_sha512": 0x0806,
    "ed25519": 0x0807, "ed448": 0x0808,
    "rsa_pss_pss_sha256": 0x0809, "rsa_pss_pss_sha384": 0x080A, "rsa_pss_pss_sha512": 0x080B,
}
# IANA NamedGroup codes by OpenSSL groups-list name (TLSConfig.groups)
GROUPS = {
    "x25519": 0x001D, "x448": 0x001E, "p-256": 0x0017, "p-384": 0x0018, "p-521": 0x0019,
    "secp256r1": 0x0017, "prime256v1": 0x0017, "secp384r1": 0x0018, "secp521r1": 0x0019,
    "ffdhe2048": 0x0100, "ffdhe3072": 0x0101, "ffdhe4096": 0x0102, "ffdhe6144": 0x0103,
    "ffdhe8192": 0x0104,
}
_PSS_HASH = {0x0804: 32, 0x0805: 48, 0x0806: 64, 0x0809: 32, 0x080A: 48, 0x080B: 64}
_EC13 = {"secp256r1": 0x0403, "secp384r1": 0x0503, "secp521r1": 0x0603}
# the schemes each key type signs with (TLS 1.2 / TLS 1.3: ssl's select_sign_algo/5
# and RFC 8446 4.2.3 allow no PKCS#1 v1.5 or SHA-1 there, and tie ECDSA to the curve)
_FITS12 = {
    "rsa": frozenset((0x0201, 0x0301, 0x0401, 0x0501, 0x0601, 0x0804, 0x0805, 0x0806)),
    "rsa_pss": frozenset((0x0809, 0x080A, 0x080B)),
    "ec": frozenset((0x0203, 0x0303, 0x0403, 0x0503, 0x0603)),
    "dsa": frozenset((0x0202, 0x0302, 0x0402, 0x0502, 0x0602)),
    "ed25519": frozenset((0x0807,)), "ed448": frozenset((0x0808,)),
}
# the certificate key a TLS 1.2 suite's authentication needs ("none": anonymous, PSK, SRP)
_AUTH_KEYS = {"rsa": ("rsa", "rsa_pss"), "ec": ("ec", "ed25519", "ed448"), "dsa": ("dsa",)}


def names_to_codes(names: Optional[str], table: dict) -> Optional[frozenset]:
    """The codes of an OpenSSL list ("A:B:C"); None when not given or when a name
    is not in ``table`` (then every code counts as configured: no refusal on it)."""
    if not names:
        return None
    out = set()
    for n in names.split(":"):
        code = table.get(n) if n in table else table.get(n.lower())
        if code is None:
            return None
        out.add(code)
    return frozenset(out)


def suite_auth(name: str) -> str:
    """The certificate key kind an OpenSSL TLS 1.2 suite name authenticates with."""
    if "ECDSA" in name:
        return "ec"
    if "DSS" in name:
        return "dsa"
    if name.startswith(("RSA-PSK", "SRP-RSA")):
        return "rsa"
    if "PSK" in name or name.startswith(("ADH-", "AECDH-", "SRP-")):
        return "none"
    return "rsa"


def _usable_in(proto: str, version: str) -> bool:
    """A suite of OpenSSL's ``SSL_CIPHER_get_version`` ``proto`` at ``version``
    (ssl_cipher:all_suites/1 for the version)."""
    if version == "tlsv1.3":
        return proto == "TLSv1.3"
    if proto == "TLSv1.3":
        return False
    return version == "tlsv1.2" or proto != "TLSv1.2"


def _signs(key: tuple, code: int, tls13: bool) -> bool:
    """Whether the server's key (kind, size in bits, EC curve name, ...) signs with ``code``."""
    kind, bits, curve = key[:3]
    if tls13:
        if kind == "rsa":
            ok = code in (0x0804, 0x0805, 0x0806)
        elif kind == "ec":
            ok = _EC13.get(curve) == code
        else:
            ok = kind != "dsa" and code in _FITS12.get(kind, ())
    else:
        ok = code in _FITS12.get(kind, ())
    if ok and code in _PSS_HASH and bits:
        # tls_handshake_1_3:is_rsa_key_compatible/2 (and OpenSSL's
        # rsa_pss_check_min_key_size): the key holds the salt and two hashes
        return bits // 8 >= 2 * _PSS_HASH[code] + 2
    return ok


# the scheme codes a certificate signed with (hash, sign) is covered by in a TLS 1.2
# signature_algorithms list (ssl_cipher:is_supported_sign/2: PKCS#1 v1.5 or RSAE-PSS
# with the hash for RSA) and in signature_algorithms_cert (is_supported_sign/4: the same
# hash and sign, rsa_pkcs1 as rsa)
_HASH_CODE = {"sha1": 0x02, "sha224": 0x03, "sha256": 0x04, "sha384": 0x05, "sha512": 0x06}
_PSS_RSAE = {"sha256": 0x0804, "sha384": 0x0805, "sha512": 0x0806}


def _cert_sig_offered(sig: tuple, sigalgs: list[int], sigalgs_cert: Optional[list[int]]) -> bool:
    h, sign = sig
    code = (_HASH_CODE[h] << 8) | (1 if sign == "rsa" else 3)
    if sigalgs_cert is not None:
        return code in sigalgs_cert
    return code in sigalgs or (sign == "rsa" and _PSS_RSAE.get(h) in sigalgs)


def insufficient_security(version: str, offered: list[int], enabled: dict, key: Optional[tuple],
                          client_sigalgs: Optional[list[int]], client_groups: Optional[list[int]],
                          server_sigalgs: Optional[frozenset], server_groups: Optional[frozenset],
                          psk_offered: bool = False,
                          client_sigalgs_cert: Optional[list[int]] = None) -> Optional[str]:
    """OTP's reason for refusing the hello with insufficient_security, or None.

    ``version``: the version OpenSSL chose; ``offered``: the client's suite codes;
    ``enabled``: code -> (OpenSSL name, SSL_CIPHER_get_version) of those the server
    has enabled; ``key``: (kind, bits, curve) of the server certificate's key
    ("rsa", "rsa_pss", "ec", "ed25519", "ed448", "dsa"), optionally with the
    certificate's own (hash, sign) fourth, None without a certificate, "unknown"
    when it could not be read; ``client_sigalgs``/``client_groups``: the
    hello's signature_algorithms / supported_groups (None: absent); ``server_*``:
    the server's configured codes (None: its defaults, not judged);
    ``client_sigalgs_cert``: the hello's signature_algorithms_cert (None: absent)."""
    suites = [enabled[c] for c in offered if c in enabled and _usable_in(enabled[c][1], version)]
    if version == "tlsv1.3":
        if not suites:
            return "no_suitable_cipher"
        if client_groups is not None and server_groups is not None \
                and not server_groups.intersection(client_groups):
            return "no_suitable_groups"
        if key is None or key == "unknown" or psk_offered:
            return None
        if client_sigalgs is None:
            return "no_suitable_public_key"
        if not any((server_sigalgs is None or s in server_sigalgs) and _signs(key, s, True)
                   for s in client_sigalgs):
            return "no_suitable_signature_algorithm"
        return None
    if key == "unknown":
        return None if suites else "no_suitable_ciphers"
    signs = True
    if key is not None and client_sigalgs is not None:
        signs = any((server_sigalgs is None or s in server_sigalgs) and _signs(key, s, False)
                    for s in client_sigalgs)
    auths = [suite_auth(name) for name, _proto in suites]
    if not any(a == "none" or (key is not None and key[0] in _AUTH_KEYS[a] and signs) for a in auths):
        return "no_suitable_ciphers"
    if version == "tlsv1.2" and client_sigalgs is not None and "none" not in auths \
            and key is not None and len(key) > 3 and key[3] is not None \
            and not _cert_sig_offered(key[3], client_sigalgs, client_sigalgs_cert):
        # ssl_handshake:select_hashsign/5 (RFC 5246 7.4.2): the server's certificate
        # must be signed with a scheme the client lists; libssl goes on, so this is
        # ssl's refusal alone (judged only when every suite left needs the certificate)
        return "no_suitable_signature_algorithm"
    return None


_HELLO_MAX_RECORD = 16384 + 2048      # OTP's ?MAX_CIPHER_TEXT_LENGTH


def first_header_alert(header: bytes) -> Optional[int]:
    """The alert OTP's record layer raises for the peer's first record header
    (tls_record: unknown content type → unexpected_message; a version other
    than {3, 0..4} during hello → bad_record_mac; a length past the hello
    maximum → record_overflow), or None if the header is acceptable."""
    if not header:
        return None
    if not 20 <= header[0] <= 23:
        return 10
    if len(header) >= 3 and not (header[1] == 3 and header[2] <= 4):
        return 20
    if len(header) >= 5 and int.from_bytes(header[3:5], "big") > _HELLO_MAX_RECORD:
        return 22
    return None


def guess_alert(exc) -> int:
    text = str(exc).lower()
    for needle, desc in (("unsupported protocol", 70), ("wrong version", 70), ("no protocols available", 70),
                         ("version", 70), ("no shared cipher", 40), ("no suitable signature", 40),
                         ("peer did not return a certificate", 116), ("certificate verify failed", 42),
                         ("no application protocol", 120), ("decryption failed", 20), ("bad record mac", 20),
                         ("unexpected message", 10), ("record layer failure", 10), ("packet length too long", 22)):
        if needle in text:
            return desc
    return 40
