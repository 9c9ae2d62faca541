"""build_tls_config (file errors shaped as OTP's), setopts/getopts and handshake parsing."""
from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bridge.etf.types import Atom as A
from bridge.service.errors import format_error
from bridge.service.options import (SslOptionError, build_tls_config,
                                    parse_connect_options, parse_getopts,
                                    parse_handshake_options, parse_listen_options, parse_setopts)


def _cert():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()),
            cert.public_bytes(serialization.Encoding.DER))


def s(text):
    return [ord(c) for c in text]


def test_server_config_from_files():
    cert_pem, key_pem, cert_der = _cert()
    p = parse_listen_options([(A("certfile"), s("/c.pem")), (A("keyfile"), s("/k.pem"))])
    assert p.files == [("certfile", "/c.pem"), ("keyfile", "/k.pem")]
    cfg = build_tls_config(p, "server", {"/c.pem": cert_pem, "/k.pem": key_pem})
    assert cfg.cert_chain == [cert_der] and b"PRIVATE KEY" in cfg.key_pem
    assert cfg.versions == ("tlsv1.3", "tlsv1.2")


def test_missing_certfile_is_otp_shaped():
    p = parse_listen_options([(A("certfile"), s("/x.pem"))])
    with pytest.raises(SslOptionError) as ei:
        build_tls_config(p, "server", {"/x.pem": A("enoent")})
    assert ei.value.term == (A("error"), (A("options"), (A("certfile"), s("/x.pem"), (A("error"), A("enoent")))))
    assert format_error(ei.value.term) == "Invalid certificate file /x.pem: no such file or directory"


def test_garbage_cacertfile_is_a_decoding_error():
    p = parse_connect_options([(A("verify"), A("verify_peer")), (A("cacertfile"), s("/ca.pem"))],
                              host=s("localhost"))
    with pytest.raises(SslOptionError) as ei:
        build_tls_config(p, "client", {"/ca.pem": b"not a certificate"})
    assert format_error(ei.value.term) == "Invalid CA certificate file /ca.pem: decoding error"


def test_client_sni_and_hostname_check():
    _, _, der = _cert()
    p = parse_connect_options([(A("verify"), A("verify_peer")), (A("cacerts"), [der])],
                              host=s("example.com."))
    cfg = build_tls_config(p, "client", {})
    assert cfg.server_name_indication == "example.com" and cfg.hostname_check == "example.com"
    assert cfg.cacerts == [der] and cfg.verify == "verify_peer"
    p = parse_connect_options([(A("server_name_indication"), A("disable"))], host=s("h"))
    assert build_tls_config(p, "client", {}).server_name_indication is None


def test_ciphers_reach_the_config():
    p = parse_connect_options([(A("versions"), [A("tlsv1.2")]), (A("ciphers"), s("AES128-SHA"))])
    cfg = build_tls_config(p, "client", {})
    assert cfg.cipher_list == "AES128-SHA" and cfg.versions == ("tlsv1.2",)


def test_setopts():
    assert parse_setopts([A("binary"), (A("active"), A("once")), (A("nodelay"), True)]) == [
        ("mode", A("binary")), ("active", A("once")), ("nodelay", True)]
    with pytest.raises(SslOptionError) as ei:
        parse_setopts([(A("active"), 40000)])
    assert ei.value.term == (A("error"), (A("options"), (A("socket_options"), (A("active"), 40000))))
    with pytest.raises(SslOptionError):
        parse_setopts([(A("packet"), A("bogus"))])
    with pytest.raises(SslOptionError) as ei:
        parse_setopts([(A("nodelay"), A("foo")), (A("mode"), A("list"))])
    assert ei.value.term == (A("error"), (A("options"), (A("socket_options"), [(A("nodelay"), A("foo"))],
                                                         A("einval"))))
    # OTP 25 (seen in the conformance run): setopts(S, Opt) returns, it does not raise
    with pytest.raises(SslOptionError) as ei:
        parse_setopts(A("foo"))
    assert ei.value.term == (A("error"), (A("options"), (A("not_a_proplist"), A("foo"))))


def test_getopts():
    assert parse_getopts([A("active"), A("mode"), A("nodelay")]) == ["active", "mode", "nodelay"]
    with pytest.raises(SslOptionError):
        parse_getopts([A("bogus")])
    # OTP 25 (seen in the conformance run): getopts(S, mode) returns, it does not raise
    with pytest.raises(SslOptionError) as ei:
        parse_getopts(A("active"))
    assert ei.value.term == (A("error"), (A("options"), (A("socket_options"), A("active"))))


def test_handshake_options_over_listen():
    listen = parse_listen_options([(A("certfile"), s("/c.pem")), (A("active"), False)])
    p = parse_handshake_options([(A("verify"), A("verify_peer")), (A("cacertfile"), s("/ca.pem"))], listen)
    assert p.ssl["verify"] is A("verify_peer") and ("cacertfile", "/ca.pem") in p.files
    assert p.socket.active is False
    with pytest.raises(SslOptionError) as ei:
        parse_handshake_options([(A("verify"), A("foo"))], listen)
    assert ei.value.term == (A("error"), (A("error"), (A("options"), (A("verify"), A("foo")))))


@pytest.mark.parametrize("given,taken", [([], True), ([(A("client_renegotiation"), True)], True),
                                         ([(A("client_renegotiation"), False)], False)])
def test_client_renegotiation_reaches_the_server_context(given, taken):
    # ssl's client_renegotiation: false leaves OpenSSL 3's SSL_OP_ALLOW_CLIENT_RENEGOTIATION
    # off, so libssl declines the client's renegotiation with a warning, as ssl
    from bridge.tls.context import CONTEXTS
    cert_pem, key_pem, _ = _cert()
    p = parse_listen_options([(A("certfile"), s("/c.pem")), (A("keyfile"), s("/k.pem")),
                              (A("versions"), [A("tlsv1.2")])] + given)
    cfg = build_tls_config(p, "server", {"/c.pem": cert_pem, "/k.pem": key_pem})
    assert cfg.client_renegotiation is taken
    allow = 1 << 8                      # SSL_OP_ALLOW_CLIENT_RENEGOTIATION
    assert bool(CONTEXTS.get(cfg).set_options(0) & allow) is taken   # (0 adds none: reads them)


@pytest.mark.parametrize("given,named", [([], True), ([(A("certificate_authorities"), False)], False)])
def test_a_verifying_server_names_its_cas_as_ssl(given, named):
    # ssl's CertificateRequest carries the subjects of its cacerts
    # (ssl_handshake:certificate_authorities/2; in TLS 1.3 with certificate_authorities)
    from OpenSSL import SSL
    from bridge.tls.context import CONTEXTS
    cert_pem, key_pem, cert_der = _cert()
    p = parse_listen_options([(A("certfile"), s("/c.pem")), (A("keyfile"), s("/k.pem")),
                              (A("verify"), A("verify_peer")), (A("cacerts"), [cert_der])] + given)
    cfg = build_tls_config(p, "server", {"/c.pem": cert_pem, "/k.pem": key_pem})
    conn = SSL.Connection(CONTEXTS.get(cfg), None)
    got = [n.CN for n in conn.get_client_ca_list()]
    assert got == (["localhost"] if named else [])


@pytest.mark.parametrize("value,split", [("one_n_minus_one", True), ("zero_n", True), ("disabled", False)])
def test_beast_mitigation_disabled_sends_tls10_records_unsplit(value, split):
    from OpenSSL import SSL
    from bridge.tls.context import CONTEXTS
    cert_pem, key_pem, _ = _cert()
    p = parse_listen_options([(A("certfile"), s("/c.pem")), (A("keyfile"), s("/k.pem")),
                              (A("versions"), [A("tlsv1")]), (A("beast_mitigation"), A(value))])
    cfg = build_tls_config(p, "server", {"/c.pem": cert_pem, "/k.pem": key_pem})
    opts = CONTEXTS.get(cfg).set_options(0)
    assert bool(opts & SSL.OP_DONT_INSERT_EMPTY_FRAGMENTS) is not split
