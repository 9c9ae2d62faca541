"""The engine interface (bridge.tls.engines): the choice per config, and the tlslite-ng
engine (SRP, NPN) pumped against itself and against the OpenSSL engine, without sockets."""
from __future__ import annotations

import hashlib
import os

import pytest

from bridge.service.errors import tls_alert_parts
from bridge.tls.config import TLSConfig
from bridge.tls.engine import RenegotiationError, TLSAlertError, TLSEngine
from bridge.tls.engines import Engine, make_engine
from bridge.tls.tlslite_engine import SRP_SUITES, TLSLiteEngine

SRP_AES128, SRP_AES256, SRP_3DES = 0xC01D, 0xC020, 0xC01A


def lookup(password=b"secret"):
    """ssl_test_lib:user_lookup/3's derivation: x = SHA1(salt | SHA1(user ":" password))."""
    def hook(user):
        if user is None:
            raise ValueError("no user")
        salt = os.urandom(16)
        return 1024, salt, hashlib.sha1(salt + hashlib.sha1(user + b":" + password).digest()).digest()
    return hook


def srp_pair(password=b"secret", hook=None, client_suites=(SRP_AES128,), server_suites=(SRP_AES256, SRP_AES128)):
    c = make_engine(TLSConfig(role="client", versions=("tlsv1.2",), srp_identity=(b"alice", password),
                              suites=client_suites))
    s = make_engine(TLSConfig(role="server", versions=("tlsv1.2",), srp_server=True,
                              srp_hook=hook or lookup(), suites=server_suites))
    return c, s


def handshake(c, s, rounds=10):
    done_c = done_s = False
    for _ in range(rounds):
        done_c = c.do_handshake()
        out = c.ciphertext_to_send()
        if out:
            s.receive_ciphertext(out)
        done_s = s.do_handshake()
        out = s.ciphertext_to_send()
        if out:
            c.receive_ciphertext(out)
        if done_c and done_s:
            return
    raise AssertionError("handshake did not finish")


def test_engine_choice_follows_the_config(pki):
    plain = TLSConfig(role="client")
    assert plain.engine == "openssl"
    assert isinstance(make_engine(plain), TLSEngine)
    for cfg in (TLSConfig(role="client", srp_identity=(b"u", b"p")),
                TLSConfig(role="client", npn_selector=("client", [b"h2"], None)),
                TLSConfig(role="server", srp_server=True),
                TLSConfig(role="server", npn_advertised=[b"h2"], cert_chain=pki.server.chain_der,
                          key_der=pki.server.key_der)):
        assert cfg.engine == "tlslite"
        assert isinstance(make_engine(cfg), TLSLiteEngine)


def test_both_engines_implement_the_interface(pki):
    assert isinstance(make_engine(TLSConfig(role="client")), Engine)
    assert isinstance(make_engine(TLSConfig(role="client", srp_identity=(b"u", b"p"))), Engine)


def test_srp_hook_makes_handshakes_blocking():
    # the lookup waits for Erlang: handshake steps go to the thread pool
    assert TLSConfig(role="server", srp_hook=lookup()).blocking_hooks
    # so do all of tlslite-ng's (pure-Python public-key steps), and none of OpenSSL's
    assert TLSConfig(role="client", npn_selector=("client", [b"h2"], None)).blocking_hooks
    assert not TLSConfig(role="client").blocking_hooks


def test_srp_handshake_and_data_both_ways():
    c, s = srp_pair()
    handshake(c, s)
    assert c.version == s.version == "tlsv1.2"
    # the client's suite order wins on a server without honor_cipher_order, as in ssl
    assert c.cipher_name() == s.cipher_name() == "TLS_SRP_SHA_WITH_AES_128_CBC_SHA"
    c.write_plaintext(b"x" * 100000)
    s.receive_ciphertext(c.ciphertext_to_send())
    assert s.read_plaintext() == b"x" * 100000
    s.write_plaintext(b"back")
    c.receive_ciphertext(s.ciphertext_to_send())
    assert c.read_plaintext() == b"back"
    assert c.export_keying_material(b"EXPERIMENTAL", 16) == s.export_keying_material(b"EXPERIMENTAL", 16)
    c.close()
    s.receive_ciphertext(c.ciphertext_to_send())
    assert s.read_plaintext() == b"" and s.peer_closed
    assert c.master_secret() == s.master_secret() and len(c.master_secret()) == 48


def test_records_split_across_feeds_are_kept():
    c, s = srp_pair()
    handshake(c, s)
    c.write_plaintext(b"hello world")
    data = c.ciphertext_to_send()
    for i in range(len(data)):
        s.receive_ciphertext(data[i:i + 1])
        got = s.read_plaintext()
        if i < len(data) - 1:
            assert got == b""
    assert got == b"hello world"


def test_srp_wrong_password_is_bad_record_mac():
    c, s = srp_pair(password=b"wrong")
    with pytest.raises(TLSAlertError) as ei:
        handshake(c, s)
    assert tls_alert_parts(ei.value)[0] == "bad_record_mac" and ei.value.sent and ei.value.role == "server"
    c.receive_ciphertext(s.ciphertext_to_send())
    with pytest.raises(TLSAlertError) as ei:
        c.do_handshake()
    assert ei.value.code == 20 and not ei.value.sent


def test_srp_lookup_failure_is_illegal_parameter():
    def failing(user):
        raise ValueError("user_lookup_fun returned error")
    c, s = srp_pair(hook=failing)
    with pytest.raises(TLSAlertError) as ei:
        handshake(c, s)
    assert ei.value.code == 47 and ei.value.sent       # OTP's handle_srp_identity/2
    c.receive_ciphertext(s.ciphertext_to_send())
    with pytest.raises(TLSAlertError) as ei:
        c.do_handshake()
    assert ei.value.code == 47 and not ei.value.sent


def test_srp_unknown_group_fails():
    c, s = srp_pair(hook=lambda user: (999, b"salt", b"x"))
    with pytest.raises(TLSAlertError):
        handshake(c, s)


def test_srp_without_identity_offers_suites_without_the_extension():
    c = make_engine(TLSConfig(role="client", versions=("tlsv1.2",), srp_identity=(b"", b""),
                              suites=(SRP_AES128,)))
    s = make_engine(TLSConfig(role="server", versions=("tlsv1.2",), srp_server=True, srp_hook=lookup(),
                              suites=(SRP_AES128,)))
    with pytest.raises(TLSAlertError) as ei:
        handshake(c, s)
    assert tls_alert_parts(ei.value)[0] == "handshake_failure"


def test_no_renegotiation_on_tlslite():
    c, s = srp_pair()
    handshake(c, s)
    with pytest.raises(RenegotiationError):
        c.renegotiate()


def test_srp_suites_listed():
    assert {SRP_AES128, SRP_AES256, SRP_3DES} <= SRP_SUITES
    assert 0xC01C not in SRP_SUITES         # srp_dss: tlslite-ng has no DSS certificates


# ---- NPN ------------------------------------------------------------------------------

def npn_pair(pki, advertised, selector):
    s = make_engine(TLSConfig(role="server", versions=("tlsv1.2",), cert_chain=pki.server.chain_der,
                              key_der=pki.server.key_der, npn_advertised=advertised))
    c = make_engine(TLSConfig(role="client", versions=("tlsv1.2",), npn_selector=selector))
    return c, s


@pytest.mark.parametrize("advertised,selector,expected", [
    ([b"http/1.1", b"spdy/2"], ("client", [b"spdy/2", b"http/1.1"], None), b"spdy/2"),
    ([b"http/1.1", b"spdy/2"], ("server", [b"spdy/2", b"http/1.1"], None), b"http/1.1"),
    ([b"http/1.1"], ("client", [b"x", b"y"], None), b"x"),            # no overlap: the client's first
    ([b"http/1.1"], ("server", [b"x", b"y"], b"dflt"), b"dflt"),      # ... or its default
    ([], ("client", [b"x"], None), b"x"),                              # nothing advertised
])
def test_npn_selection(pki, advertised, selector, expected):
    c, s = npn_pair(pki, advertised, selector)
    handshake(c, s)
    assert c.next_protocol == s.next_protocol == expected
    assert c.alpn_protocol is None
    assert c.peer_cert_der() == pki.server.chain_der[0]


def test_npn_server_without_npn_aborts_without_default(pki):
    srv = make_engine(TLSConfig(role="server", versions=("tlsv1.2",), cert_chain=pki.server.chain_der,
                                key_der=pki.server.key_der, srp_server=False))
    # a server without NPN: the tlslite-ng engine only when asked for NPN or SRP,
    # so the peer here is the OpenSSL engine
    assert isinstance(srv, TLSEngine)
    c = make_engine(TLSConfig(role="client", versions=("tlsv1.2",), npn_selector=("client", [b"h2"], None)))
    with pytest.raises(TLSAlertError) as ei:
        handshake(c, srv)
    assert tls_alert_parts(ei.value)[0] == "handshake_failure" and ei.value.role == "client"
    c = make_engine(TLSConfig(role="client", versions=("tlsv1.2",), npn_selector=("client", [b"h2"], b"d")))
    srv = make_engine(TLSConfig(role="server", versions=("tlsv1.2",), cert_chain=pki.server.chain_der,
                                key_der=pki.server.key_der))
    handshake(c, srv)
    assert c.next_protocol is None and srv.next_protocol is None
