"""Cipher suite tables compared with OTP 25's ssl:cipher_suites/2,3 and names."""
from __future__ import annotations

import pytest

from bridge.etf.types import Atom
from bridge.service import ciphers
from bridge.tls.tlslite_engine import SRP_SUITES
from erleval import ErlEval, parse_w


@pytest.fixture(scope="module")
def erl():
    e = ErlEval()
    yield e
    e.close()


@pytest.mark.parametrize("version", ["tlsv1.3", "tlsv1.2", "tlsv1.1", "tlsv1"])
@pytest.mark.parametrize("desc", ["default", "all", "anonymous", "exclusive"])
def test_cipher_suites_are_otp_suites_openssl_supports(erl, desc, version):
    otp = parse_w(erl.eval(f"ssl:cipher_suites({desc}, '{version}')"))
    ours = ciphers.cipher_suites(Atom(desc), Atom(version))
    assert ours == [m for m in otp if m in ours]          # same order, subset
    for m in otp:                        # only what the engine cannot negotiate is dropped
        code = ciphers.suite_map_to_code(m)
        assert (m in ours) == ciphers.negotiable(code)
    # SRP: the suites the tlslite-ng engine runs are listed, srp_dss (no DSS there) is not
    srp = [ciphers.suite_map_to_code(m) for m in ours if m[Atom("key_exchange")].name.startswith("srp")]
    assert all(code in SRP_SUITES for code in srp)
    assert not [m for m in ours if m[Atom("key_exchange")] is Atom("srp_dss")]
    if desc == "anonymous" and version != "tlsv1.3":
        assert srp                        # OTP's anonymous list has srp_anon ones


@pytest.mark.parametrize("string_type", ["rfc", "openssl"])
def test_cipher_suite_names_match_otp(erl, string_type):
    otp = [bytes(s).decode() for s in parse_w(erl.eval(f"ssl:cipher_suites(all, 'tlsv1.2', {string_type})"))]
    ours = ciphers.cipher_suites("all", "tlsv1.2", string_type)
    assert ours == [n for n in otp if n in ours] and ours


def test_suite_for_negotiated_name():
    legacy, m = ciphers.suite_for("ECDHE-RSA-AES128-GCM-SHA256", "tlsv1.2")
    assert legacy == (Atom("ecdhe_rsa"), Atom("aes_128_gcm"), Atom("aead"), Atom("sha256"))
    assert m[Atom("prf")] is Atom("sha256")
    legacy, _ = ciphers.suite_for("TLS_AES_256_GCM_SHA384", "tlsv1.3")
    assert legacy == (Atom("any"), Atom("aes_256_gcm"), Atom("aead"), Atom("sha384"))
    with pytest.raises(KeyError):
        ciphers.suite_for("NOT-A-SUITE", "tlsv1.2")


def test_openssl_config_splits_tls13():
    codes = ciphers.default_binary_suites(["tlsv1.3", "tlsv1.2"])
    pre, tls13 = ciphers.openssl_config(codes)
    assert "TLS_AES_128_GCM_SHA256" in tls13 and "TLS_" not in pre and "ECDHE-RSA-AES128-GCM-SHA256" in pre


def test_str_to_suite_agrees_with_otp(erl):
    for name in ["AES128-SHA", "ECDHE-ECDSA-AES256-GCM-SHA384", "TLS_AES_128_GCM_SHA256",
                 "DHE-RSA-AES256-SHA256", "EDH-RSA-DES-CBC3-SHA"]:
        otp = parse_w(erl.eval(f'ssl:str_to_suite("{name}")'))
        code = ciphers.openssl_str_to_code(name)
        assert ciphers.suite_map(code) == otp, name


def test_legacy_cipher_suites_are_tuples():
    suites = ciphers.cipher_suites_legacy()
    assert suites and all(isinstance(s, tuple) and len(s) in (3, 4) for s in suites)
    assert all(isinstance(n, str) for n in ciphers.cipher_suites_legacy(Atom("openssl")))
    with pytest.raises(ValueError):
        ciphers.cipher_suites_legacy(Atom("bogus"))
