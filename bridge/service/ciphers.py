"""OTP 25's cipher suites (maps / legacy tuples) and their OpenSSL / IANA names.

The table at the bottom was generated from OTP 25 (ssl 10.8.7) itself:
``ssl_cipher_format:suite_bin_to_map/1`` for every 16-bit code (``S`` lines: code,
key_exchange, cipher, mac, prf, OTP's OpenSSL-style name, RFC name),
``ssl_cipher:suites/1``, ``all_suites/1``, ``anonymous_suites/1``,
``tls_v1:exclusive_suites/1``, ``exclusive_anonymous_suites/1`` and the
crypto-filtered defaults per version (``V`` lines), and the patterns of
``ssl_cipher_format:suite_map_to_bin/1`` in clause order (``M`` lines; ``*`` = the
clause does not look at ``prf``).

What OpenSSL here offers is asked of libssl by IANA code (``SSL_CIPHER_find``), so
OTP's and OpenSSL's spellings of a name never need to agree.

Public API (all pure, terms as ``bridge.etf`` values):

* ``cipher_suites(description, version, string_type=None)`` — OTP 25's
  ``ssl:cipher_suites/2,3``, restricted to suites OpenSSL here supports.
* ``cipher_suites_legacy(kind=None)`` — the R16 ``ssl:cipher_suites/0,1``
  (removed from OTP 25, where it is ``undef``): ``None``/``erlang`` → default
  ``{Kex, Cipher, Hash}`` tuples, ``openssl`` → OpenSSL names, ``all`` → all tuples.
* ``otp_cipher_suites(description, version, string_type=None)`` — the same for any
  arguments (None where ssl raises ``function_clause``).
* ``eccs(version=None)``, ``groups(kind=None)``, ``component_support()`` — OTP 25's
  ``ssl:eccs/0,1``, ``groups/0,1`` and the crypto filters of
  ``filter_cipher_suites/2``, from what libssl here offers.
* ``suite_for(openssl_name, version)`` → ``(legacy_tuple, suite_map)``.
* ``suite_map_to_code(map)``, ``openssl_str_to_code(name)``, ``tuple_to_map(t)``.
* ``openssl_config(codes)`` → ``(cipher_list, ciphersuites_13)`` for ``TLSConfig``.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

from bridge.etf.types import Atom

__all__ = ["Suite", "SUITES", "cipher_suites", "cipher_suites_legacy", "suite_for",
           "suite_map_to_code", "openssl_str_to_code", "tuple_to_map", "suite_map",
           "suite_legacy", "supported_suites", "openssl_config", "openssl_supported",
           "openssl_name", "negotiable", "openssl_groups"]

VERSIONS = ("tlsv1.3", "tlsv1.2", "tlsv1.1", "tlsv1")
DESCRIPTIONS = ("default", "all", "anonymous", "exclusive", "exclusive_anonymous")


@dataclass(frozen=True)
class Suite:
    code: int
    key_exchange: str
    cipher: str
    mac: str
    prf: str
    otp_openssl: Optional[str]   # ssl:suite_to_openssl_str/1 (None if OTP has none)
    rfc: Optional[str]           # ssl:suite_to_str/1


SUITES: dict[int, Suite] = {}
_SETS: dict[tuple[str, str], list[int]] = {}
_MAP_CLAUSES: list[tuple[str, str, str, str, int]] = []


def _load() -> None:
    for line in _TABLE.strip().splitlines():
        parts = line.split()
        if parts[0] == "S":
            code = int(parts[1])
            SUITES[code] = Suite(code, parts[2], parts[3], parts[4], parts[5],
                                 None if parts[6] == "-" else parts[6],
                                 None if parts[7] == "-" else parts[7])
        elif parts[0] == "V":
            body = parts[3].strip("[]")
            _SETS[(parts[1], parts[2])] = [int(x) for x in body.split(",")] if body else []
        elif parts[0] == "M":
            _MAP_CLAUSES.append((parts[1], parts[2], parts[3], parts[4], int(parts[5])))


_KEYS = (Atom("key_exchange"), Atom("cipher"), Atom("mac"), Atom("prf"))


def suite_map(code: int) -> dict:
    """``ssl_cipher_format:suite_bin_to_map/1``: the OTP 25 map of a suite code."""
    s = SUITES[code]
    return {Atom("key_exchange"): Atom(s.key_exchange), Atom("cipher"): Atom(s.cipher),
            Atom("mac"): Atom(s.mac), Atom("prf"): Atom(s.prf)}


def suite_legacy(code: int) -> tuple:
    """``ssl_cipher_format:suite_legacy/1``: ``{Kex, Cipher, Hash}`` or with ``Prf``."""
    s = SUITES[code]
    if s.prf == "default_prf":
        return (Atom(s.key_exchange), Atom(s.cipher), Atom(s.mac))
    return (Atom(s.key_exchange), Atom(s.cipher), Atom(s.mac), Atom(s.prf))


def _aead_mac(cipher, mac):
    if cipher in (Atom("aes_128_gcm"), Atom("aes_256_gcm"), Atom("chacha20_poly1305")):
        return Atom("aead")
    return mac


def tuple_to_map(t: tuple) -> dict:
    """OTP's ``tuple_to_map/1`` (ssl.erl) for a legacy suite tuple; raises ValueError."""
    if isinstance(t, tuple) and len(t) == 3:
        return {Atom("key_exchange"): t[0], Atom("cipher"): t[1], Atom("mac"): t[2],
                Atom("prf"): Atom("default_prf")}
    if isinstance(t, tuple) and len(t) == 4:
        return {Atom("key_exchange"): t[0], Atom("cipher"): t[1],
                Atom("mac"): _aead_mac(t[1], t[2]), Atom("prf"): t[3]}
    raise ValueError("not a cipher suite tuple")


def suite_map_to_code(m) -> Optional[int]:
    """``ssl_cipher_format:suite_map_to_bin/1``: first clause whose pattern matches."""
    if not isinstance(m, dict):
        return None
    vals = []
    for k in _KEYS:
        v = m.get(k)
        vals.append(v.name if isinstance(v, Atom) else None)
    kex, cipher, mac, prf = vals
    for ck, cc, cm, cp, code in _MAP_CLAUSES:
        if kex == ck and cipher == cc and mac == cm and (cp == "*" or prf == cp):
            return code
    return None


@lru_cache(maxsize=None)
def _name_index() -> dict[str, int]:
    idx: dict[str, int] = {}
    for s in SUITES.values():
        if s.rfc:
            idx.setdefault(s.rfc, s.code)
    for s in SUITES.values():
        name = s.otp_openssl
        if not name:
            continue
        idx.setdefault(name, s.code)
        # spellings OTP's parser folds into the same suite
        for a, b in (("EDH-RSA-", "DHE-RSA-"), ("EDH-DSS-", "DHE-DSS-"), ("ADH-", "DH-anon-"),
                     ("AECDH-", "ECDH-anon-")):
            if name.startswith(a):
                idx.setdefault(b + name[len(a):], s.code)
            if name.startswith(b) and b.startswith("DHE-"):
                idx.setdefault(a + name[len(b):], s.code)
        if s.key_exchange == "rsa" and not name.startswith(("RSA-", "TLS_")):
            idx.setdefault("RSA-" + name, s.code)
    return idx


def openssl_str_to_code(name: str) -> Optional[int]:
    """``ssl_cipher_format:suite_openssl_str_to_map/1`` then ``suite_map_to_bin``.

    Accepts OTP's OpenSSL-style names and their aliases (EDH-/DHE-, RSA- prefix),
    and RFC names (``TLS_...``).  Returns None for a name OTP would reject.
    """
    return _name_index().get(name)


def supported_suites(description: str, version: str) -> list[int]:
    """OTP's ``supported_suites/2`` codes (not filtered by OpenSSL)."""
    return list(_SETS[(version, description)])


def default_binary_suites(versions: list[str]) -> list[int]:
    """What ``{ciphers, []}`` means for a (sorted, highest first) version list."""
    if versions == ["tlsv1.3"]:
        return list(_SETS[("tlsv1.3", "filtered_exclusive")])
    return list(_SETS[(versions[0], "filtered_default")])


def all_suites(versions: list[str]) -> list[int]:
    """OTP's ``all_suites/1`` (ssl.erl) for a sorted version list."""
    if versions == ["tlsv1.3"]:
        return list(_SETS[("tlsv1.3", "exclusive")])
    if versions[0] == "tlsv1.3":
        return (_SETS[("tlsv1.3", "exclusive")] + _SETS[(versions[1], "all")]
                + _SETS[(versions[1], "anonymous")])
    return _SETS[(versions[0], "all")] + _SETS[(versions[0], "anonymous")]


# --- OpenSSL side -----------------------------------------------------------------

@lru_cache(maxsize=None)
def _openssl_table() -> dict[int, str]:
    """IANA code → OpenSSL name, for suites libssl here enables at security level 0."""
    from bridge.tls.ossl import cipher_names

    # every TLS 1.3 suite libssl implements, not only its default three
    return cipher_names(SUITES, b"ALL:COMPLEMENTOFALL:@SECLEVEL=0",
                        b"TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:"
                        b"TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256")


def openssl_supported(code: int) -> bool:
    return code in _openssl_table()


# SRP key exchanges: libssl has the suites, but a handshake needs SRP parameters that
# pyOpenSSL cannot give it; the tlslite-ng engine negotiates those of its own
# (bridge.tls.tlslite_engine.SRP_SUITES: no srp_dss)
_NOT_NEGOTIABLE_KEX = frozenset(("srp_anon", "srp_rsa", "srp_dss"))


@lru_cache(maxsize=None)
def _tlslite_srp() -> frozenset:
    from bridge.tls.tlslite_engine import SRP_SUITES
    return SRP_SUITES


def negotiable(code: int) -> bool:
    """Whether the bridge can negotiate the suite: what the listings offer
    (cipher_suites/0,1,2,3, the crypto filters of filter_cipher_suites/2)."""
    if code in _openssl_table() and SUITES[code].key_exchange not in _NOT_NEGOTIABLE_KEX:
        return True
    return code in _tlslite_srp()


def openssl_name(code: int) -> Optional[str]:
    return _openssl_table().get(code)


def openssl_config(codes: list[int]) -> tuple[str, str]:
    """``(cipher_list, ciphersuites_13)`` strings for OpenSSL from suite codes.

    Codes OpenSSL here lacks are left out (OTP likewise filters by crypto support).
    """
    pre, tls13 = [], []
    for code in codes:
        name = openssl_name(code)
        if name is None:
            continue
        (tls13 if code >> 8 == 0x13 else pre).append(name)
    return ":".join(dict.fromkeys(pre)), ":".join(dict.fromkeys(tls13))


def _version_name(version) -> str:
    v = version.name if isinstance(version, Atom) else str(version)
    if v not in VERSIONS:
        raise ValueError(f"unknown TLS version {v!r}")
    return v


def cipher_suites(description, version, string_type=None) -> list:
    """``ssl:cipher_suites/2,3`` of OTP 25, limited to suites OpenSSL here supports.

    ``string_type`` None → maps; ``rfc`` → RFC names; ``openssl`` → OTP's
    OpenSSL-style names (as ``ssl:cipher_suites(D, V, openssl)`` spells them).
    """
    d = description.name if isinstance(description, Atom) else str(description)
    if d not in DESCRIPTIONS:
        raise ValueError(f"unknown description {d!r}")
    codes = [c for c in _SETS[(_version_name(version), d)] if negotiable(c)]
    st = string_type.name if isinstance(string_type, Atom) else string_type
    if st is None:
        return [suite_map(c) for c in codes]
    if st == "rfc":
        return [SUITES[c].rfc for c in codes]
    if st == "openssl":
        return [SUITES[c].otp_openssl for c in codes]
    raise ValueError(f"unknown string type {st!r}")


# ssl:cipher_suites/2,3's version argument: the TLS names and record versions
# (tls_record:protocol_version/1); DTLS ones are valid in ssl but the bridge speaks
# no DTLS, so no suite of theirs can be negotiated here.
_TLS_VERSION = {"tlsv1.3": "tlsv1.3", "tlsv1.2": "tlsv1.2", "tlsv1.1": "tlsv1.1", "tlsv1": "tlsv1",
                (3, 4): "tlsv1.3", (3, 3): "tlsv1.2", (3, 2): "tlsv1.1", (3, 1): "tlsv1"}
_DTLS_VERSION = ("dtlsv1.2", "dtlsv1", (254, 253), (254, 255))


def _version_key(v):
    if isinstance(v, Atom):
        return v.name
    if isinstance(v, tuple) and len(v) == 2 and all(type(x) is int for x in v):
        return v
    return None


def otp_cipher_suites(description, version, string_type=None) -> Optional[list]:
    """``ssl:cipher_suites/2,3`` for any arguments: the list, or None where ssl's
    clauses raise ``function_clause`` (unknown description, version or string
    type). Lists only suites the bridge's OpenSSL negotiates; none for DTLS."""
    if not isinstance(description, Atom) or description.name not in DESCRIPTIONS:
        return None
    if string_type is not None and string_type not in (Atom("rfc"), Atom("openssl")):
        return None
    key = _version_key(version)
    if key in _DTLS_VERSION:
        return []
    if key not in _TLS_VERSION:
        return None
    return cipher_suites(description, Atom(_TLS_VERSION[key]), string_type)


# ssl:eccs/0,1 and groups/0,1 (OTP 25's tls_v1:ecc_curves(all), groups(4) and
# default_groups(4), in their order), limited to what the bridge's OpenSSL offers
# in a handshake.
ECC_CURVES = ["sect571r1", "sect571k1", "secp521r1", "brainpoolP512r1", "sect409k1", "sect409r1", "brainpoolP384r1", "secp384r1", "sect283k1", "sect283r1", "brainpoolP256r1", "secp256k1", "secp256r1", "sect239k1", "sect233k1", "sect233r1", "secp224k1", "secp224r1", "sect193r1", "sect193r2", "secp192k1", "secp192r1", "sect163k1", "sect163r1", "sect163r2", "secp160k1", "secp160r1", "secp160r2"]
GROUPS = ("x25519", "x448", "secp256r1", "secp384r1", "secp521r1", "ffdhe2048", "ffdhe3072",
          "ffdhe4096", "ffdhe6144", "ffdhe8192")
DEFAULT_GROUPS = ("x25519", "x448", "secp256r1", "secp384r1")
_ECCS_VERSIONS = ("tlsv1.2", "tlsv1.1", "tlsv1", "dtlsv1.2", "dtlsv1")


@lru_cache(maxsize=None)
def openssl_groups() -> frozenset:
    """The curve and group names libssl here accepts for a handshake."""
    from bridge.tls import ossl
    return ossl.groups_supported(sorted(set(ECC_CURVES) | set(GROUPS)))


def eccs(version=None) -> Optional[list]:
    """``ssl:eccs/0,1``; None where ssl raises ``function_clause`` (``'tlsv1.3'``
    included: OTP 25 has no clause for it)."""
    if version is not None and (not isinstance(version, Atom) or version.name not in _ECCS_VERSIONS):
        return None
    have = openssl_groups()
    return [Atom(c) for c in ECC_CURVES if c in have]


def groups(kind=None) -> Optional[list]:
    """``ssl:groups/0`` and ``groups(default)``; None for any other argument."""
    if kind is not None and kind is not Atom("default"):
        return None
    have = openssl_groups()
    return [Atom(g) for g in (DEFAULT_GROUPS if kind is not None else GROUPS) if g in have]


# What ssl_cipher:crypto_support_filters/0 accepts whatever the crypto library has.
_ALWAYS = {"key_exchange": ("psk", "null", "any"), "cipher": ("null",),
           "mac": ("null", "aead"), "prf": ("default_prf",)}


@lru_cache(maxsize=None)
def component_support() -> dict:
    """For ``ssl:filter_cipher_suites/2``'s crypto filters, per suite component
    (key_exchange, cipher, mac, prf): the values found in suites the bridge's
    OpenSSL negotiates, plus those OTP accepts always."""
    seen: dict[str, set] = {k: set(v) for k, v in _ALWAYS.items()}
    for code in SUITES:
        if negotiable(code):
            s = SUITES[code]
            seen["key_exchange"].add(s.key_exchange)
            seen["cipher"].add(s.cipher)
            seen["mac"].add(s.mac)
            seen["prf"].add(s.prf)
    return {Atom(k): [Atom(v) for v in sorted(vals)] for k, vals in seen.items()}


def cipher_suites_legacy(kind=None) -> list:
    """R16's ``ssl:cipher_suites/0,1`` (gone from OTP 25), for TLS 1.2 and below.

    ``None``/``erlang``: the default suites as ``{Kex, Cipher, Hash}`` tuples (4-tuples
    where the PRF is not the default); ``openssl``: OpenSSL names; ``all``: all suites.
    """
    k = kind.name if isinstance(kind, Atom) else kind
    if k in (None, "erlang", "openssl"):
        codes = _SETS[("tlsv1.2", "default")]
    elif k == "all":
        codes = _SETS[("tlsv1.2", "all")]
    else:
        raise ValueError(f"unknown kind {k!r}")
    codes = [c for c in codes if negotiable(c)]
    if k == "openssl":
        return [openssl_name(c) for c in codes]
    return [suite_legacy(c) for c in codes]


def suite_for(openssl_name_: str, version) -> tuple[tuple, dict]:
    """The negotiated suite (OpenSSL's name) as ``(legacy tuple, OTP 25 map)``.

    ``version`` picks among suites sharing a name (none do in practice). Raises
    KeyError for a name OTP does not know.
    """
    v = _version_name(version)
    matches = [c for c, n in _openssl_table().items() if n == openssl_name_]
    if not matches:
        code = openssl_str_to_code(openssl_name_)
        if code is None:
            raise KeyError(openssl_name_)
        matches = [code]
    pref = [c for c in matches if (c >> 8 == 0x13) == (v == "tlsv1.3")]
    code = (pref or matches)[0]
    return suite_legacy(code), suite_map(code)


_TABLE = """
S 4 rsa rc4_128 md5 default_prf RC4-MD5 TLS_RSA_WITH_RC4_128_MD5
S 5 rsa rc4_128 sha default_prf RC4-SHA TLS_RSA_WITH_RC4_128_SHA
S 9 rsa des_cbc sha default_prf DES-CBC-SHA TLS_RSA_WITH_DES_CBC_SHA
S 10 rsa 3des_ede_cbc sha default_prf DES-CBC3-SHA TLS_RSA_WITH_3DES_EDE_CBC_SHA
S 18 dhe_dss des_cbc sha default_prf DHE-DSS-DES-CBC-SHA TLS_DHE_DSS_WITH_DES_CBC_SHA
S 19 dhe_dss 3des_ede_cbc sha default_prf DHE-DSS-DES-CBC3-SHA TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA
S 21 dhe_rsa des_cbc sha default_prf EDH-RSA-DES-CBC-SHA TLS_DHE_RSA_WITH_DES_CBC_SHA
S 22 dhe_rsa 3des_ede_cbc sha default_prf EDH-RSA-DES-CBC3-SHA TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA
S 24 dh_anon rc4_128 md5 default_prf ADH-RC4-MD5 TLS_DH_anon_WITH_RC4_128_MD5
S 26 dh_anon des_cbc sha default_prf ADH-DES-CBC-SHA TLS_DH_anon_WITH_DES_CBC_SHA
S 27 dh_anon 3des_ede_cbc sha default_prf ADH-DES-CBC3-SHA TLS_DH_anon_WITH_3DES_EDE_CBC_SHA
S 44 psk null sha default_prf PSK-NULL-SHA TLS_PSK_WITH_NULL_SHA
S 45 dhe_psk null sha default_prf DHE-PSK-NULL-SHA TLS_DHE_PSK_WITH_NULL_SHA
S 46 rsa_psk null sha default_prf RSA-PSK-NULL-SHA TLS_RSA_PSK_WITH_NULL_SHA
S 47 rsa aes_128_cbc sha default_prf AES128-SHA TLS_RSA_WITH_AES_128_CBC_SHA
S 50 dhe_dss aes_128_cbc sha default_prf DHE-DSS-AES128-SHA TLS_DHE_DSS_WITH_AES_128_CBC_SHA
S 51 dhe_rsa aes_128_cbc sha default_prf DHE-RSA-AES128-SHA TLS_DHE_RSA_WITH_AES_128_CBC_SHA
S 52 dh_anon aes_128_cbc sha default_prf ADH-AES128-SHA TLS_DH_anon_WITH_AES_128_CBC_SHA
S 53 rsa aes_256_cbc sha default_prf AES256-SHA TLS_RSA_WITH_AES_256_CBC_SHA
S 56 dhe_dss aes_256_cbc sha default_prf DHE-DSS-AES256-SHA TLS_DHE_DSS_WITH_AES_256_CBC_SHA
S 57 dhe_rsa aes_256_cbc sha default_prf DHE-RSA-AES256-SHA TLS_DHE_RSA_WITH_AES_256_CBC_SHA
S 58 dh_anon aes_256_cbc sha default_prf ADH-AES256-SHA TLS_DH_anon_WITH_AES_256_CBC_SHA
S 60 rsa aes_128_cbc sha256 default_prf AES128-SHA256 TLS_RSA_WITH_AES_128_CBC_SHA256
S 61 rsa aes_256_cbc sha256 default_prf AES256-SHA256 TLS_RSA_WITH_AES_256_CBC_SHA256
S 64 dhe_dss aes_128_cbc sha256 default_prf DHE-DSS-AES128-SHA256 TLS_DHE_DSS_WITH_AES_128_CBC_SHA256
S 103 dhe_rsa aes_128_cbc sha256 default_prf DHE-RSA-AES128-SHA256 TLS_DHE_RSA_WITH_AES_128_CBC_SHA256
S 106 dhe_dss aes_256_cbc sha256 default_prf DHE-DSS-AES256-SHA256 TLS_DHE_DSS_WITH_AES_256_CBC_SHA256
S 107 dhe_rsa aes_256_cbc sha256 default_prf DHE-RSA-AES256-SHA256 TLS_DHE_RSA_WITH_AES_256_CBC_SHA256
S 108 dh_anon aes_128_cbc sha256 sha256 ADH-AES128-SHA256 TLS_DH_anon_WITH_AES_128_CBC_SHA256
S 109 dh_anon aes_256_cbc sha256 sha256 ADH-AES256-SHA256 TLS_DH_anon_WITH_AES_256_CBC_SHA256
S 138 psk rc4_128 sha default_prf PSK-RC4-SHA TLS_PSK_WITH_RC4_128_SHA
S 139 psk 3des_ede_cbc sha default_prf PSK-3DES-EDE-CBC-SHA TLS_PSK_WITH_3DES_EDE_CBC_SHA
S 140 psk aes_128_cbc sha default_prf PSK-AES128-CBC-SHA TLS_PSK_WITH_AES_128_CBC_SHA
S 141 psk aes_256_cbc sha default_prf PSK-AES256-CBC-SHA TLS_PSK_WITH_AES_256_CBC_SHA
S 142 dhe_psk rc4_128 sha default_prf DHE-PSK-RC4-SHA TLS_DHE_PSK_WITH_RC4_128_SHA
S 143 dhe_psk 3des_ede_cbc sha default_prf DHE-PSK-3DES-EDE-CBC-SHA TLS_DHE_PSK_WITH_3DES_EDE_CBC_SHA
S 144 dhe_psk aes_128_cbc sha default_prf DHE-PSK-AES128-CBC-SHA TLS_DHE_PSK_WITH_AES_128_CBC_SHA
S 145 dhe_psk aes_256_cbc sha default_prf DHE-PSK-AES256-CBC-SHA TLS_DHE_PSK_WITH_AES_256_CBC_SHA
S 146 rsa_psk rc4_128 sha default_prf RSA-PSK-RC4-SHA TLS_RSA_PSK_WITH_RC4_128_SHA
S 147 rsa_psk 3des_ede_cbc sha default_prf RSA-PSK-DES-CBC3-SHA TLS_RSA_PSK_WITH_3DES_EDE_CBC_SHA
S 148 rsa_psk aes_128_cbc sha default_prf RSA-PSK-AES128-CBC-SHA TLS_RSA_PSK_WITH_AES_128_CBC_SHA
S 149 rsa_psk aes_256_cbc sha default_prf RSA-PSK-AES256-CBC-SHA TLS_RSA_PSK_WITH_AES_256_CBC_SHA
S 156 rsa aes_128_gcm aead sha256 AES128-GCM-SHA256 TLS_RSA_WITH_AES_128_GCM_SHA256
S 157 rsa aes_256_gcm aead sha384 AES256-GCM-SHA384 TLS_RSA_WITH_AES_256_GCM_SHA384
S 158 dhe_rsa aes_128_gcm aead sha256 DHE-RSA-AES128-GCM-SHA256 TLS_DHE_RSA_WITH_AES_128_GCM_SHA256
S 159 dhe_rsa aes_256_gcm aead sha384 DHE-RSA-AES256-GCM-SHA384 TLS_DHE_RSA_WITH_AES_256_GCM_SHA384
S 160 dh_rsa aes_128_gcm aead sha256 DH-RSA-AES128-GCM-SHA256 TLS_DH_RSA_WITH_AES_128_GCM_SHA256
S 161 dh_rsa aes_256_gcm aead sha384 DH-RSA-AES256-GCM-SHA384 TLS_DH_RSA_WITH_AES_256_GCM_SHA384
S 162 dhe_dss aes_128_gcm aead sha256 DHE-DSS-AES128-GCM-SHA256 TLS_DHE_DSS_WITH_AES_128_GCM_SHA256
S 163 dhe_dss aes_256_gcm aead sha384 DHE-DSS-AES256-GCM-SHA384 TLS_DHE_DSS_WITH_AES_256_GCM_SHA384
S 164 dh_dss aes_128_gcm aead sha256 DH-DSS-AES128-GCM-SHA256 TLS_DH_DSS_WITH_AES_128_GCM_SHA256
S 165 dh_dss aes_256_gcm aead sha384 DH-DSS-AES256-GCM-SHA384 TLS_DH_DSS_WITH_AES_256_GCM_SHA384
S 166 dh_anon aes_128_gcm aead sha256 ADH-AES128-GCM-SHA256 TLS_DH_anon_WITH_AES_128_GCM_SHA256
S 167 dh_anon aes_256_gcm aead sha384 ADH-AES256-GCM-SHA384 TLS_DH_anon_WITH_AES_256_GCM_SHA384
S 168 psk aes_128_gcm aead sha256 PSK-AES128-GCM-SHA256 TLS_PSK_WITH_AES_128_GCM_SHA256
S 169 psk aes_256_gcm aead sha384 PSK-AES256-GCM-SHA384 TLS_PSK_WITH_AES_256_GCM_SHA384
S 170 dhe_psk aes_128_gcm aead sha256 DHE-PSK-AES128-GCM-SHA256 TLS_DHE_PSK_WITH_AES_128_GCM_SHA256
S 171 dhe_psk aes_256_gcm aead sha384 DHE-PSK-AES256-GCM-SHA384 TLS_DHE_PSK_WITH_AES_256_GCM_SHA384
S 172 rsa_psk aes_128_gcm aead sha256 RSA-PSK-AES128-GCM-SHA256 TLS_RSA_PSK_WITH_AES_128_GCM_SHA256
S 173 rsa_psk aes_256_gcm aead sha384 RSA-PSK-AES256-GCM-SHA384 TLS_RSA_PSK_WITH_AES_256_GCM_SHA384
S 174 psk aes_128_cbc sha256 sha256 PSK-AES128-CBC-SHA256 TLS_PSK_WITH_AES_128_CBC_SHA256
S 175 psk aes_256_cbc sha384 sha384 PSK-AES256-CBC-SHA384 TLS_PSK_WITH_AES_256_CBC_SHA384
S 176 psk null sha256 default_prf PSK-NULL-SHA256 TLS_PSK_WITH_NULL_SHA256
S 177 psk null sha384 sha384 PSK-NULL-SHA384 TLS_PSK_WITH_NULL_SHA384
S 178 dhe_psk aes_128_cbc sha256 sha256 DHE-PSK-AES128-CBC-SHA256 TLS_DHE_PSK_WITH_AES_128_CBC_SHA256
S 179 dhe_psk aes_256_cbc sha384 sha384 DHE-PSK-AES256-CBC-SHA384 TLS_DHE_PSK_WITH_AES_256_CBC_SHA384
S 180 dhe_psk null sha256 sha256 DHE-PSK-NULL-SHA256 TLS_DHE_PSK_WITH_NULL_SHA256
S 181 dhe_psk null sha384 sha384 DHE-PSK-NULL-SHA384 TLS_DHE_PSK_WITH_NULL_SHA384
S 182 rsa_psk aes_128_cbc sha256 default_prf RSA-PSK-AES128-CBC-SHA256 TLS_RSA_PSK_WITH_AES_128_CBC_SHA256
S 183 rsa_psk aes_256_cbc sha384 sha384 RSA-PSK-AES256-CBC-SHA384 TLS_RSA_PSK_WITH_AES_256_CBC_SHA384
S 184 rsa_psk null sha256 sha256 RSA-PSK-NULL-SHA256 TLS_RSA_PSK_WITH_NULL_SHA256
S 185 rsa_psk null sha384 sha384 RSA-PSK-NULL-SHA384 TLS_RSA_PSK_WITH_NULL_SHA384
S 255 null null null null TLS_EMPTY_RENEGOTIATION_INFO_SCSV TLS_EMPTY_RENEGOTIATION_INFO_SCSV
S 4865 any aes_128_gcm aead sha256 TLS_AES_128_GCM_SHA256 TLS_AES_128_GCM_SHA256
S 4866 any aes_256_gcm aead sha384 TLS_AES_256_GCM_SHA384 TLS_AES_256_GCM_SHA384
S 4867 any chacha20_poly1305 aead sha256 TLS_CHACHA20_POLY1305_SHA256 TLS_CHACHA20_POLY1305_SHA256
S 4868 any aes_128_ccm aead sha256 TLS_AES_128_CCM_SHA256 TLS_AES_128_CCM_SHA256
S 4869 any aes_128_ccm_8 aead sha256 TLS_AES_128_CCM_8_SHA256 TLS_AES_128_CCM_8_SHA256
S 49153 ecdh_ecdsa null sha default_prf ECDH-ECDSA-NULL-SHA TLS_ECDH_ECDSA_WITH_NULL_SHA
S 49154 ecdh_ecdsa rc4_128 sha default_prf ECDH-ECDSA-RC4-SHA TLS_ECDH_ECDSA_WITH_RC4_128_SHA
S 49155 ecdh_ecdsa 3des_ede_cbc sha default_prf ECDH-ECDSA-DES-CBC3-SHA TLS_ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA
S 49156 ecdh_ecdsa aes_128_cbc sha default_prf ECDH-ECDSA-AES128-SHA TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA
S 49157 ecdh_ecdsa aes_256_cbc sha default_prf ECDH-ECDSA-AES256-SHA TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA
S 49158 ecdhe_ecdsa null sha default_prf ECDHE-ECDSA-NULL-SHA TLS_ECDHE_ECDSA_WITH_NULL_SHA
S 49159 ecdhe_ecdsa rc4_128 sha default_prf ECDHE-ECDSA-RC4-SHA TLS_ECDHE_ECDSA_WITH_RC4_128_SHA
S 49160 ecdhe_ecdsa 3des_ede_cbc sha default_prf ECDHE-ECDSA-DES-CBC3-SHA TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA
S 49161 ecdhe_ecdsa aes_128_cbc sha default_prf ECDHE-ECDSA-AES128-SHA TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA
S 49162 ecdhe_ecdsa aes_256_cbc sha default_prf ECDHE-ECDSA-AES256-SHA TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA
S 49163 ecdh_rsa null sha default_prf ECDH-RSA-NULL-SHA TLS_ECDH_RSA_WITH_NULL_SHA
S 49164 ecdh_rsa rc4_128 sha default_prf ECDH-RSA-RC4-SHA TLS_ECDH_RSA_WITH_RC4_128_SHA
S 49165 ecdh_rsa 3des_ede_cbc sha default_prf ECDH-RSA-DES-CBC3-SHA TLS_ECDH_RSA_WITH_3DES_EDE_CBC_SHA
S 49166 ecdh_rsa aes_128_cbc sha default_prf ECDH-RSA-AES128-SHA TLS_ECDH_RSA_WITH_AES_128_CBC_SHA
S 49167 ecdh_rsa aes_256_cbc sha default_prf ECDH-RSA-AES256-SHA TLS_ECDH_RSA_WITH_AES_256_CBC_SHA
S 49168 ecdhe_rsa null sha default_prf ECDHE-RSA-NULL-SHA TLS_ECDHE_RSA_WITH_NULL_SHA
S 49169 ecdhe_rsa rc4_128 sha default_prf ECDHE-RSA-RC4-SHA TLS_ECDHE_RSA_WITH_RC4_128_SHA
S 49170 ecdhe_rsa 3des_ede_cbc sha default_prf ECDHE-RSA-DES-CBC3-SHA TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA
S 49171 ecdhe_rsa aes_128_cbc sha default_prf ECDHE-RSA-AES128-SHA TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA
S 49172 ecdhe_rsa aes_256_cbc sha default_prf ECDHE-RSA-AES256-SHA TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA
S 49173 ecdh_anon null sha default_prf AECDH-NULL-SHA TLS_ECDH_anon_WITH_NULL_SHA
S 49174 ecdh_anon rc4_128 sha default_prf AECDH-RC4-SHA TLS_ECDH_anon_WITH_RC4_128_SHA
S 49175 ecdh_anon 3des_ede_cbc sha default_prf AECDH-DES-CBC3-SHA TLS_ECDH_anon_WITH_3DES_EDE_CBC_SHA
S 49176 ecdh_anon aes_128_cbc sha default_prf AECDH-AES128-SHA TLS_ECDH_anon_WITH_AES_128_CBC_SHA
S 49177 ecdh_anon aes_256_cbc sha default_prf AECDH-AES256-SHA TLS_ECDH_anon_WITH_AES_256_CBC_SHA
S 49178 srp_anon 3des_ede_cbc sha default_prf SRP-3DES-EDE-CBC-SHA TLS_SRP_SHA_WITH_3DES_EDE_CBC_SHA
S 49179 srp_rsa 3des_ede_cbc sha default_prf SRP-RSA-DES-CBC3-SHA TLS_SRP_SHA_RSA_WITH_3DES_EDE_CBC_SHA
S 49180 srp_dss 3des_ede_cbc sha default_prf SRP-DSS-DES-CBC3-SHA TLS_SRP_SHA_DSS_WITH_3DES_EDE_CBC_SHA
S 49181 srp_anon aes_128_cbc sha default_prf SRP-AES-128-CBC-SHA TLS_SRP_SHA_WITH_AES_128_CBC_SHA
S 49182 srp_rsa aes_128_cbc sha default_prf SRP-RSA-AES-128-CBC-SHA TLS_SRP_SHA_RSA_WITH_AES_128_CBC_SHA
S 49183 srp_dss aes_128_cbc sha default_prf SRP-DSS-AES128-CBC-SHA TLS_SRP_SHA_DSS_WITH_AES_128_CBC_SHA
S 49184 srp_anon aes_256_cbc sha default_prf SRP-AES-256-CBC-SHA TLS_SRP_SHA_WITH_AES_256_CBC_SHA
S 49185 srp_rsa aes_256_cbc sha default_prf SRP-RSA-AES-256-CBC-SHA TLS_SRP_SHA_RSA_WITH_AES_256_CBC_SHA
S 49186 srp_dss aes_256_cbc sha default_prf SRP-DSS-AES256-CBC-SHA TLS_SRP_SHA_DSS_WITH_AES_256_CBC_SHA
S 49187 ecdhe_ecdsa aes_128_cbc sha256 sha256 ECDHE-ECDSA-AES128-SHA256 TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256
S 49188 ecdhe_ecdsa aes_256_cbc sha384 sha384 ECDHE-ECDSA-AES256-SHA384 TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384
S 49189 ecdh_ecdsa aes_128_cbc sha256 sha256 ECDH-ECDSA-AES128-SHA256 TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256
S 49190 ecdh_ecdsa aes_256_cbc sha384 sha384 ECDH-ECDSA-AES256-SHA384 TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA384
S 49191 ecdhe_rsa aes_128_cbc sha256 sha256 ECDHE-RSA-AES128-SHA256 TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256
S 49192 ecdhe_rsa aes_256_cbc sha384 sha384 ECDHE-RSA-AES256-SHA384 TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384
S 49193 ecdh_rsa aes_128_cbc sha256 sha256 ECDH-RSA-AES128-SHA256 TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256
S 49194 ecdh_rsa aes_256_cbc sha384 sha384 ECDH-RSA-AES256-SHA384 TLS_ECDH_RSA_WITH_AES_256_CBC_SHA384
S 49195 ecdhe_ecdsa aes_128_gcm aead sha256 ECDHE-ECDSA-AES128-GCM-SHA256 TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
S 49196 ecdhe_ecdsa aes_256_gcm aead sha384 ECDHE-ECDSA-AES256-GCM-SHA384 TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
S 49197 ecdh_ecdsa aes_128_gcm aead sha256 ECDH-ECDSA-AES128-GCM-SHA256 TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256
S 49198 ecdh_ecdsa aes_256_gcm aead sha384 ECDH-ECDSA-AES256-GCM-SHA384 TLS_ECDH_ECDSA_WITH_AES_256_GCM_SHA384
S 49199 ecdhe_rsa aes_128_gcm aead sha256 ECDHE-RSA-AES128-GCM-SHA256 TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
S 49200 ecdhe_rsa aes_256_gcm aead sha384 ECDHE-RSA-AES256-GCM-SHA384 TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
S 49201 ecdh_rsa aes_128_gcm aead sha256 ECDH-RSA-AES128-GCM-SHA256 TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256
S 49202 ecdh_rsa aes_256_gcm aead sha384 ECDH-RSA-AES256-GCM-SHA384 TLS_ECDH_RSA_WITH_AES_256_GCM_SHA384
S 49203 ecdhe_psk rc4_128 sha default_prf ECDHE-PSK-RC4-SHA TLS_ECDHE_PSK_WITH_RC4_128_SHA
S 49204 ecdhe_psk 3des_ede_cbc sha default_prf ECDHE-PSK-3DES-EDE-CBC-SHA TLS_ECDHE_PSK_WITH_3DES_EDE_CBC_SHA
S 49205 ecdhe_psk aes_128_cbc sha default_prf ECDHE-PSK-AES128-CBC-SHA TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA
S 49206 ecdhe_psk aes_256_cbc sha default_prf ECDHE-PSK-AES256-CBC-SHA TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA
S 49207 ecdhe_psk aes_128_cbc sha256 sha256 ECDHE-PSK-AES128-CBC-SHA256 TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256
S 49208 ecdhe_psk aes_256_cbc sha384 sha384 ECDHE-PSK-AES256-CBC-SHA384 TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA384
S 49210 ecdhe_psk null sha256 sha256 ECDHE-PSK-NULL-SHA256 TLS_ECDHE_PSK_WITH_NULL_SHA256
S 49211 ecdhe_psk null sha384 sha384 ECDHE-PSK-NULL-SHA384 TLS_ECDHE_PSK_WITH_NULL_SHA384
S 49316 psk aes_128_ccm aead default_prf PSK-AES128-CCM TLS_PSK_WITH_AES_128_CCM
S 49317 psk aes_256_ccm aead default_prf PSK-AES256-CCM TLS_PSK_WITH_AES_256_CCM
S 49318 dhe_psk aes_128_ccm aead default_prf DHE-PSK-AES128-CCM TLS_DHE_PSK_WITH_AES_128_CCM
S 49319 dhe_psk aes_256_ccm aead default_prf DHE-PSK-AES256-CCM TLS_DHE_PSK_WITH_AES_256_CCM
S 49320 psk aes_128_ccm_8 aead default_prf PSK-AES128-CCM8 TLS_PSK_WITH_AES_128_CCM_8
S 49321 psk aes_256_ccm_8 aead default_prf PSK-AES256-CCM8 TLS_PSK_WITH_AES_256_CCM_8
S 49322 dhe_psk aes_128_ccm_8 aead default_prf DHE-PSK-AES128-CCM8 TLS_DHE_PSK_WITH_AES_128_CCM_8
S 49323 dhe_psk aes_256_ccm_8 aead default_prf DHE-PSK-AES256-CCM8 TLS_DHE_PSK_WITH_AES_256_CCM_8
S 49324 ecdhe_ecdsa aes_128_ccm aead default_prf ECDHE-ECDSA-AES128-CCM TLS_ECDHE_ECDSA_WITH_AES_128_CCM
S 49325 ecdhe_ecdsa aes_256_ccm aead default_prf ECDHE-ECDSA-AES256-CCM TLS_ECDHE_ECDSA_WITH_AES_256_CCM
S 49326 ecdhe_ecdsa aes_128_ccm_8 aead default_prf ECDHE-ECDSA-AES128-CCM8 TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8
S 49327 ecdhe_ecdsa aes_256_ccm_8 aead default_prf ECDHE-ECDSA-AES256-CCM8 TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8
S 52392 ecdhe_rsa chacha20_poly1305 aead sha256 ECDHE-RSA-CHACHA20-POLY1305 TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
S 52393 ecdhe_ecdsa chacha20_poly1305 aead sha256 ECDHE-ECDSA-CHACHA20-POLY1305 TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
S 52394 dhe_rsa chacha20_poly1305 aead sha256 DHE-RSA-CHACHA20-POLY1305 TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256
S 53249 ecdhe_psk aes_128_gcm aead sha256 ECDHE-PSK-AES128-GCM-SHA256 TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256
S 53250 ecdhe_psk aes_256_gcm aead sha384 ECDHE-PSK-AES256-GCM-SHA384 TLS_ECDHE_PSK_WITH_AES_256_GCM_SHA384
S 53251 ecdhe_psk aes_128_ccm_8 aead sha256 ECDHE-PSK-AES128-CCM8-SHA256 TLS_ECDHE_PSK_WITH_AES_128_CCM_8_SHA256
S 53253 ecdhe_psk aes_128_ccm aead sha256 ECDHE-PSK-AES128-CCM-SHA256 TLS_ECDHE_PSK_WITH_AES_128_CCM_SHA256
V tlsv1.3 default [4866,4865,4867,4868,4869,49196,49200,49325,49327,49188,49192,52393,52392,49195,49199,49324,49326,49198,49202,49190,49194,49197,49201,49187,49191,49189,49193,159,163,107,106,158,162,52394,103,64,49162,49172,49157,49167,49161,49171,49156,49166,57,56,51,50]
V tlsv1.3 all [4866,4865,4867,4868,4869,49196,49200,49325,49327,49188,49192,52393,52392,49195,49199,49324,49326,49198,49202,49190,49194,49197,49201,49187,49191,49189,49193,159,163,107,106,158,162,52394,103,64,49162,49172,49157,49167,49161,49171,49156,49166,57,56,51,50,173,183,172,182,149,148,146,49185,49186,49182,49183,157,61,156,60,53,47,10,49160,49170,22,19,49155,49165,21,9,49159,49169,49154,49164,5,4]
V tlsv1.3 anonymous []
V tlsv1.3 exclusive [4866,4865,4867,4868,4869]
V tlsv1.3 exclusive_anonymous []
V tlsv1.3 filtered_default [4866,4865,4867,4868,4869,49196,49200,49325,49327,49188,49192,52393,52392,49195,49199,49324,49326,49198,49202,49190,49194,49197,49201,49187,49191,49189,49193,159,163,107,106,158,162,52394,103,64,49162,49172,49157,49167,49161,49171,49156,49166,57,56,51,50]
V tlsv1.3 filtered_exclusive [4866,4865,4867,4868,4869]
V tlsv1.2 default [49196,49200,49325,49327,49188,49192,52393,52392,49195,49199,49324,49326,49198,49202,49190,49194,49197,49201,49187,49191,49189,49193,159,163,107,106,158,162,52394,103,64,49162,49172,49157,49167,49161,49171,49156,49166,57,56,51,50]
V tlsv1.2 all [49196,49200,49325,49327,49188,49192,52393,52392,49195,49199,49324,49326,49198,49202,49190,49194,49197,49201,49187,49191,49189,49193,159,163,107,106,158,162,52394,103,64,49162,49172,49157,49167,49161,49171,49156,49166,57,56,51,50,173,183,172,182,149,148,146,49185,49186,49182,49183,157,61,156,60,53,47,10,49160,49170,22,19,49155,49165,21,9,49159,49169,49154,49164,5,4]
V tlsv1.2 anonymous [171,169,49319,49323,49317,49321,53249,53253,53251,170,168,53249,53251,49318,49322,49316,49320,166,167,108,109,49176,49177,49175,24,49176,49177,49175,26,24,49208,179,175,49207,178,174,49203,145,141,49205,144,140,49204,143,139,49203,142,138,24,27,26,49181,49184,49178]
V tlsv1.2 exclusive [49196,49200,49325,49327,49188,49192,52393,52392,49195,49199,49324,49326,49198,49202,49190,49194,49197,49201,49187,49191,49189,49193,159,163,107,106,158,162,52394,103,64]
V tlsv1.2 exclusive_anonymous [171,169,49319,49323,49317,49321,53249,53253,53251,170,168,53249,53251,49318,49322,49316,49320,166,167,108,109,49176,49177,49175,24]
V tlsv1.2 filtered_default [49196,49200,49325,49327,49188,49192,52393,52392,49195,49199,49324,49326,49198,49202,49190,49194,49197,49201,49187,49191,49189,49193,159,163,107,106,158,162,52394,103,64,49162,49172,49157,49167,49161,49171,49156,49166,57,56,51,50]
V tlsv1.2 filtered_exclusive [49196,49200,49325,49327,49188,49192,52393,52392,49195,49199,49324,49326,49198,49202,49190,49194,49197,49201,49187,49191,49189,49193,159,163,107,106,158,162,52394,103,64]
V tlsv1.1 default [49162,49172,49157,49167,49161,49171,49156,49166,57,56,51,50]
V tlsv1.1 all [49162,49172,49157,49167,49161,49171,49156,49166,57,56,51,50,49185,49186,49182,49183,49179,49180,53,47,10,49160,49170,22,19,49155,49165,21,9,49159,49169,49154,49164,5,4]
V tlsv1.1 anonymous [49176,49177,49175,26,24,49208,179,175,49207,178,174,49203,145,141,49205,144,140,49204,143,139,49203,142,138,24,27,26,49181,49184,49178]
V tlsv1.1 exclusive []
V tlsv1.1 exclusive_anonymous [49176,49177,49175,26,24]
V tlsv1.1 filtered_default [49162,49172,49157,49167,49161,49171,49156,49166,57,56,51,50]
V tlsv1.1 filtered_exclusive []
V tlsv1 default [49162,49172,49157,49167,49161,49171,49156,49166,57,56,51,50]
V tlsv1 all [49162,49172,49157,49167,49161,49171,49156,49166,57,56,51,50,173,183,172,182,149,148,147,146,49185,49186,49182,49183,49179,49180,53,47,10,49160,49170,22,19,49155,49165,21,9,49159,49169,49154,49164,5,4]
V tlsv1 anonymous [49208,179,175,49207,178,174,49203,145,141,49205,144,140,49204,143,139,49203,142,138,24,27,26,49181,49184,49178]
V tlsv1 exclusive [49162,49172,49157,49167,49161,49171,49156,49166,57,56,51,50]
V tlsv1 exclusive_anonymous [49208,179,175,49207,178,174,49203,145,141,49205,144,140,49204,143,139,49203,142,138,24,27,26,49181,49184,49178]
V tlsv1 filtered_default [49162,49172,49157,49167,49161,49171,49156,49166,57,56,51,50]
V tlsv1 filtered_exclusive [49162,49172,49157,49167,49161,49171,49156,49166,57,56,51,50]
M rsa rc4_128 md5 * 4
M rsa rc4_128 sha * 5
M rsa des_cbc sha * 9
M rsa 3des_ede_cbc sha * 10
M dhe_dss des_cbc sha * 18
M dhe_dss 3des_ede_cbc sha * 19
M dhe_rsa des_cbc sha * 21
M dhe_rsa 3des_ede_cbc sha * 22
M dh_anon rc4_128 md5 * 24
M dh_anon des_cbc sha * 26
M dh_anon 3des_ede_cbc sha * 27
M rsa aes_128_cbc sha * 47
M dhe_dss aes_128_cbc sha * 50
M dhe_rsa aes_128_cbc sha * 51
M dh_anon aes_128_cbc sha * 52
M rsa aes_256_cbc sha * 53
M dhe_dss aes_256_cbc sha * 56
M dhe_rsa aes_256_cbc sha * 57
M dh_anon aes_256_cbc sha * 58
M rsa aes_128_cbc sha256 * 60
M rsa aes_256_cbc sha256 * 61
M dhe_dss aes_128_cbc sha256 * 64
M dhe_rsa aes_128_cbc sha256 * 103
M dhe_dss aes_256_cbc sha256 * 106
M dhe_rsa aes_256_cbc sha256 * 107
M dh_anon aes_128_cbc sha256 * 108
M dh_anon aes_256_cbc sha256 * 109
M psk rc4_128 sha * 138
M psk 3des_ede_cbc sha * 139
M psk aes_128_cbc sha * 140
M psk aes_256_cbc sha * 141
M dhe_psk rc4_128 sha * 142
M dhe_psk 3des_ede_cbc sha * 143
M dhe_psk aes_128_cbc sha * 144
M dhe_psk aes_256_cbc sha * 145
M rsa_psk rc4_128 sha * 146
M rsa_psk 3des_ede_cbc sha * 147
M rsa_psk aes_128_cbc sha * 148
M rsa_psk aes_256_cbc sha * 149
M psk null sha * 44
M dhe_psk null sha * 45
M rsa_psk null sha * 46
M psk aes_128_gcm aead sha256 168
M psk aes_256_gcm aead sha384 169
M dhe_psk aes_128_gcm aead sha256 170
M dhe_psk aes_256_gcm aead sha384 171
M rsa_psk aes_128_gcm aead sha256 172
M rsa_psk aes_256_gcm aead sha384 173
M psk aes_128_cbc sha256 * 174
M psk aes_256_cbc sha384 * 175
M dhe_psk aes_128_cbc sha256 * 178
M dhe_psk aes_256_cbc sha384 * 179
M rsa_psk aes_128_cbc sha256 * 182
M rsa_psk aes_256_cbc sha384 * 183
M psk null sha256 * 176
M psk null sha384 * 177
M dhe_psk null sha256 * 180
M dhe_psk null sha384 * 181
M rsa_psk null sha256 * 184
M rsa_psk null sha384 * 185
M ecdhe_psk rc4_128 sha * 49203
M ecdhe_psk 3des_ede_cbc sha * 49204
M ecdhe_psk aes_128_cbc sha * 49205
M ecdhe_psk aes_256_cbc sha * 49206
M ecdhe_psk aes_128_cbc sha256 * 49207
M ecdhe_psk aes_256_cbc sha384 * 49208
M ecdhe_psk null sha256 * 49210
M ecdhe_psk null sha384 * 49211
M ecdhe_psk aes_128_gcm aead sha256 53249
M ecdhe_psk aes_256_gcm aead sha384 53250
M ecdhe_psk aes_128_ccm_8 aead sha256 53251
M ecdhe_psk aes_128_ccm aead sha256 53253
M srp_anon 3des_ede_cbc sha * 49178
M srp_rsa 3des_ede_cbc sha * 49179
M srp_dss 3des_ede_cbc sha * 49180
M srp_anon aes_128_cbc sha * 49181
M srp_rsa aes_128_cbc sha * 49182
M srp_dss aes_128_cbc sha * 49183
M srp_anon aes_256_cbc sha * 49184
M srp_rsa aes_256_cbc sha * 49185
M srp_dss aes_256_cbc sha * 49186
M ecdh_ecdsa null sha * 49153
M ecdh_ecdsa rc4_128 sha * 49154
M ecdh_ecdsa 3des_ede_cbc sha * 49155
M ecdh_ecdsa aes_128_cbc sha * 49156
M ecdh_ecdsa aes_256_cbc sha * 49157
M ecdhe_ecdsa null sha * 49158
M ecdhe_ecdsa rc4_128 sha * 49159
M ecdhe_ecdsa 3des_ede_cbc sha * 49160
M ecdhe_ecdsa aes_128_cbc sha * 49161
M ecdhe_ecdsa aes_256_cbc sha * 49162
M ecdhe_ecdsa aes_128_ccm aead * 49324
M ecdhe_ecdsa aes_256_ccm aead * 49325
M ecdhe_ecdsa aes_128_ccm_8 aead * 49326
M ecdhe_ecdsa aes_256_ccm_8 aead * 49327
M ecdh_rsa null sha * 49163
M ecdh_rsa rc4_128 sha * 49164
M ecdh_rsa 3des_ede_cbc sha * 49165
M ecdh_rsa aes_128_cbc sha * 49166
M ecdh_rsa aes_256_cbc sha * 49167
M ecdhe_rsa null sha * 49168
M ecdhe_rsa rc4_128 sha * 49169
M ecdhe_rsa 3des_ede_cbc sha * 49170
M ecdhe_rsa aes_128_cbc sha * 49171
M ecdhe_rsa aes_256_cbc sha * 49172
M ecdh_anon null sha * 49173
M ecdh_anon rc4_128 sha * 49174
M ecdh_anon 3des_ede_cbc sha * 49175
M ecdh_anon aes_128_cbc sha * 49176
M ecdh_anon aes_256_cbc sha * 49177
M ecdhe_ecdsa aes_128_cbc sha256 sha256 49187
M ecdhe_ecdsa aes_256_cbc sha384 sha384 49188
M ecdh_ecdsa aes_128_cbc sha256 sha256 49189
M ecdh_ecdsa aes_256_cbc sha384 sha384 49190
M ecdhe_rsa aes_128_cbc sha256 sha256 49191
M ecdhe_rsa aes_256_cbc sha384 sha384 49192
M ecdh_rsa aes_128_cbc sha256 sha256 49193
M ecdh_rsa aes_256_cbc sha384 sha384 49194
M rsa aes_128_gcm aead sha256 156
M rsa aes_256_gcm aead sha384 157
M dhe_rsa aes_128_gcm aead sha256 158
M dhe_rsa aes_256_gcm aead sha384 159
M dh_rsa aes_128_gcm aead sha256 160
M dh_rsa aes_256_gcm aead sha384 161
M dhe_dss aes_128_gcm aead sha256 162
M dhe_dss aes_256_gcm aead sha384 163
M dh_dss aes_128_gcm aead sha256 164
M dh_dss aes_256_gcm aead sha384 165
M dh_anon aes_128_gcm aead sha256 166
M dh_anon aes_256_gcm aead sha384 167
M ecdhe_ecdsa aes_128_gcm aead sha256 49195
M ecdhe_ecdsa aes_256_gcm aead sha384 49196
M ecdh_ecdsa aes_128_gcm aead sha256 49197
M ecdh_ecdsa aes_256_gcm aead sha384 49198
M ecdhe_rsa aes_128_gcm aead sha256 49199
M ecdhe_rsa aes_256_gcm aead sha384 49200
M ecdh_rsa aes_128_gcm aead sha256 49201
M ecdh_rsa aes_256_gcm aead sha384 49202
M ecdhe_rsa chacha20_poly1305 aead sha256 52392
M ecdhe_ecdsa chacha20_poly1305 aead sha256 52393
M dhe_rsa chacha20_poly1305 aead sha256 52394
M psk aes_128_ccm aead default_prf 49316
M psk aes_256_ccm aead default_prf 49317
M dhe_psk aes_128_ccm aead default_prf 49318
M dhe_psk aes_256_ccm aead default_prf 49319
M rsa aes_128_ccm aead sha256 49308
M rsa aes_256_ccm aead default_prf 49309
M dhe_rsa aes_128_ccm aead sha256 49311
M dhe_rsa aes_256_ccm aead default_prf 49310
M psk aes_128_ccm_8 aead default_prf 49320
M psk aes_256_ccm_8 aead default_prf 49321
M dhe_psk aes_128_ccm_8 aead default_prf 49322
M dhe_psk aes_256_ccm_8 aead default_prf 49323
M rsa aes_128_ccm_8 aead default_prf 49313
M rsa aes_256_ccm_8 aead default_prf 49312
M dhe_rsa aes_128_ccm_8 aead default_prf 49314
M dhe_rsa aes_256_ccm_8 aead default_prf 49315
M any aes_128_gcm aead sha256 4865
M any aes_256_gcm aead sha384 4866
M any chacha20_poly1305 aead sha256 4867
M any aes_128_ccm aead sha256 4868
M any aes_128_ccm_8 aead sha256 4869
"""

_load()
