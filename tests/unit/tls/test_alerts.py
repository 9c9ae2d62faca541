"""bridge.tls.alerts.insufficient_security: OTP 25's refusals of a ClientHello,
judged from facts (no OpenSSL)."""
import pytest

from bridge.tls import alerts

RSA = ("rsa", 2048, None)
EC256 = ("ec", 256, "secp256r1")
S13 = {0x1301: ("TLS_AES_128_GCM_SHA256", "TLSv1.3"), 0x1302: ("TLS_AES_256_GCM_SHA384", "TLSv1.3")}
S12 = {0xC02F: ("ECDHE-RSA-AES128-GCM-SHA256", "TLSv1.2"), 0xC02B: ("ECDHE-ECDSA-AES128-GCM-SHA256", "TLSv1.2"),
       0xC018: ("AECDH-AES128-SHA", "SSLv3"), 0x002F: ("AES128-SHA", "SSLv3"), 0x00A8: ("PSK-AES128-GCM-SHA256", "TLSv1.2")}


def judge(version, offered, key=RSA, enabled=None, csig=None, cgroups=None, ssig=None, sgroups=None, psk=False):
    enabled = enabled if enabled is not None else {**S13, **S12}
    return alerts.insufficient_security(version, offered, {c: enabled[c] for c in offered if c in enabled},
                                        key, csig, cgroups, ssig, sgroups, psk)


@pytest.mark.parametrize("kw, reason", [
    ({"offered": [0x1303]}, "no_suitable_cipher"),
    ({"offered": [0xC02F]}, "no_suitable_cipher"),                     # a TLS 1.2 suite only
    ({"offered": [0x1301], "cgroups": [0x0018], "sgroups": frozenset({0x001D})}, "no_suitable_groups"),
    ({"offered": [0x1301], "csig": None}, "no_suitable_public_key"),
    ({"offered": [0x1301], "csig": [0x0401, 0x0403]}, "no_suitable_signature_algorithm"),   # no PKCS#1 in 1.3
    ({"offered": [0x1301], "csig": [0x0804], "ssig": frozenset({0x0805})}, "no_suitable_signature_algorithm"),
    ({"offered": [0x1301], "csig": [0x0503], "key": EC256}, "no_suitable_signature_algorithm"),   # curve
    ({"offered": [0x1301], "csig": [0x0806], "key": ("rsa", 1024, None)}, "no_suitable_signature_algorithm"),
])
def test_tls13_refusals(kw, reason):
    kw.setdefault("csig", [0x0804])
    assert judge("tlsv1.3", **kw) == reason


@pytest.mark.parametrize("kw", [
    {"offered": [0x1302, 0x1301], "csig": [0x0804]},
    {"offered": [0x1301], "csig": [0x0403], "key": EC256},
    {"offered": [0x1301], "csig": [0x0804], "cgroups": [0x001D], "sgroups": None},
    {"offered": [0x1301], "csig": None, "psk": True},                 # resumption: not judged
    {"offered": [0x1301], "csig": [0x0807], "key": "unknown"},
    {"offered": [0x1301], "csig": [0x0806], "key": ("rsa", 2048, None)},
])
def test_tls13_goes_on(kw):
    assert judge("tlsv1.3", **kw) is None


@pytest.mark.parametrize("kw", [
    {"offered": [0xC018]},                                            # anonymous, not enabled
    {"offered": [0xC02B]},                                            # an ECDSA suite, an RSA key
    {"offered": [0xC02F], "csig": [0x0501], "ssig": frozenset({0x0401})},
    {"offered": [0xC02F], "csig": [0x0403]},                          # no scheme for RSA
    {"offered": [0x1301]},                                            # a TLS 1.3 suite only
    {"offered": [0xC02F], "key": None},                               # no certificate
])
def test_tls12_refusals(kw):
    if kw["offered"] == [0xC018]:
        kw["enabled"] = {c: v for c, v in S12.items() if c != 0xC018}
    assert judge("tlsv1.2", **kw) == "no_suitable_ciphers"


@pytest.mark.parametrize("kw", [
    {"offered": [0xC018]},                                            # anonymous, enabled
    {"offered": [0xC02F], "csig": [0x0401]},
    {"offered": [0xC02F]},                                            # no signature_algorithms
    {"offered": [0xC02F, 0x00A8], "csig": [0x0403]},                  # PSK needs no signature
    {"offered": [0xC02B], "key": ("ed25519", 256, None), "csig": [0x0807]},
    {"offered": [0xC02F], "key": "unknown", "csig": [0x0403]},
])
def test_tls12_goes_on(kw):
    assert judge("tlsv1.2", **kw) is None


def test_tls1_2_only_suites_are_not_used_in_tls1_1():
    assert judge("tlsv1.1", [0xC02F]) == "no_suitable_ciphers"
    assert judge("tlsv1.1", [0xC02F, 0x002F]) is None


@pytest.mark.parametrize("names, table, codes", [
    (None, alerts.SCHEMES, None),
    ("RSA+SHA256:rsa_pss_rsae_sha256", alerts.SCHEMES, frozenset({0x0401, 0x0804})),
    ("RSA+SHA256:brainpoolP256r1", alerts.SCHEMES, None),            # unknown: not judged
    ("X25519:P-256", alerts.GROUPS, frozenset({0x001D, 0x0017})),
])
def test_names_to_codes(names, table, codes):
    assert alerts.names_to_codes(names, table) == codes


@pytest.mark.parametrize("name, auth", [("ECDHE-RSA-AES128-GCM-SHA256", "rsa"), ("AES128-SHA", "rsa"),
                                        ("ECDHE-ECDSA-AES128-SHA", "ec"), ("DHE-DSS-AES128-SHA", "dsa"),
                                        ("RSA-PSK-AES128-GCM-SHA256", "rsa"), ("ECDHE-PSK-AES128-CBC-SHA", "none"),
                                        ("ADH-AES128-SHA", "none"), ("SRP-AES-128-CBC-SHA", "none"),
                                        ("SRP-RSA-AES-128-CBC-SHA", "rsa")])
def test_suite_auth(name, auth):
    assert alerts.suite_auth(name) == auth


RSA_SIGNED = ("rsa", 2048, None, ("sha256", "rsa"))


@pytest.mark.parametrize("csig, ccert, reason", [
    ([0x0501], None, "no_suitable_signature_algorithm"),      # the certificate's scheme not listed
    ([0x0501, 0x0401], None, None),
    ([0x0501, 0x0804], None, None),                           # RSAE-PSS covers sha256WithRSA
    ([0x0501], [0x0401], None),                               # signature_algorithms_cert decides
    ([0x0401], [0x0804], "no_suitable_signature_algorithm"),  # ... and there PSS does not
    (None, None, None),                                       # no signature_algorithms: not judged
])
def test_tls12_the_certificates_own_signature(csig, ccert, reason):
    got = alerts.insufficient_security("tlsv1.2", [0xC02F], {0xC02F: S12[0xC02F]}, RSA_SIGNED,
                                       csig, None, None, None, client_sigalgs_cert=ccert)
    assert got == reason


def test_the_certificates_signature_is_not_judged_with_an_anonymous_suite_or_in_tls1_1():
    enabled = {0xC02F: S12[0xC02F], 0xC018: S12[0xC018], 0x002F: S12[0x002F]}
    assert alerts.insufficient_security("tlsv1.2", [0xC02F, 0xC018], enabled, RSA_SIGNED,
                                        [0x0501], None, None, None) is None
    assert alerts.insufficient_security("tlsv1.1", [0x002F], enabled, RSA_SIGNED,
                                        [0x0501], None, None, None) is None
