"""TLSEngine without sockets: a client and a server engine pumping bytes between them."""
from __future__ import annotations

import hashlib
import os

import pytest
from OpenSSL import SSL

from bridge.tls.config import TLSConfig
from bridge.tls.context import ContextCache, ContextError, build_context, config_key
from bridge.tls.engine import RenegotiationError, TLSAlertError, TLSClosed, TLSEngine
from bridge.service.errors import tls_alert_parts


def _alert_name(err):
    return tls_alert_parts(err)[0]


def _alert_text(err):
    return tls_alert_parts(err)[1]


def server_cfg(pki, ident=None, **kw) -> TLSConfig:
    ident = ident or pki.server
    kw.setdefault("cacerts", [pki.ca.der, pki.ec_ca.der])
    kw.setdefault("cert_chain", ident.chain_der)
    kw.setdefault("key_der", ident.key_der)
    return TLSConfig(role="server", **kw)


def client_cfg(pki, **kw) -> TLSConfig:
    kw.setdefault("verify", "verify_peer")
    kw.setdefault("cacerts", [pki.ca.der, pki.ec_ca.der])
    kw.setdefault("server_name_indication", "localhost")
    kw.setdefault("hostname_check", "localhost")
    return TLSConfig(role="client", **kw)


def engines(ccfg, scfg):
    return TLSEngine(build_context(ccfg), ccfg), TLSEngine(build_context(scfg), scfg)


def pump(a: TLSEngine, b: TLSEngine) -> bool:
    """Move pending ciphertext both ways once; True if anything moved."""
    moved = False
    for src, dst in ((a, b), (b, a)):
        data = src.ciphertext_to_send()
        if data:
            dst.receive_ciphertext(data)
            moved = True
    return moved


def handshake(c: TLSEngine, s: TLSEngine, rounds: int = 20):
    """Run both handshakes to completion or to the first error (returned per side)."""
    errors = {}
    for _ in range(rounds):
        for name, eng in (("client", c), ("server", s)):
            if name in errors:
                continue
            try:
                eng.do_handshake()
            except TLSAlertError as exc:
                errors[name] = exc
        if not pump(c, s) and (c.handshake_done or "client" in errors) and \
                (s.handshake_done or "server" in errors):
            break
    # an engine that finished may see the peer's alert only on its next read
    for name, eng in (("client", c), ("server", s)):
        if name not in errors and eng.handshake_done:
            try:
                eng.read_plaintext()
            except TLSAlertError as exc:
                errors[name] = exc
            pump(c, s)
    return errors


def transfer(src: TLSEngine, dst: TLSEngine, payload: bytes) -> bytes:
    src.write_plaintext(payload)
    got = []
    while pump(src, dst):
        got.append(dst.read_plaintext())
    return b"".join(got)


# ---- successful handshakes -------------------------------------------------------------------
@pytest.mark.parametrize("version", ["tlsv1.2", "tlsv1.3"])
@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_handshake_and_data(pki, version, kind):
    ident = pki.server if kind == "rsa" else pki.ec_server
    c, s = engines(client_cfg(pki, versions=(version,)), server_cfg(pki, ident, versions=("tlsv1.3", "tlsv1.2")))
    assert handshake(c, s) == {}
    assert c.handshake_done and s.handshake_done
    assert c.version == s.version == version
    assert c.cipher_name() == s.cipher_name()
    assert c.cipher_suite[0] == c.cipher_name() and c.cipher_suite[1] >= 128
    if kind == "ec":
        assert "ECDSA" in c.cipher_name() or version == "tlsv1.3"
    assert c.peer_cert_der() == ident.der
    assert s.peer_cert_der() is None
    assert s.sni == "localhost"
    payload = os.urandom(100_000)
    assert transfer(c, s, payload) == payload
    assert transfer(s, c, b"pong") == b"pong"


def test_chain_with_intermediate_and_depth(pki):
    # OTP depth = number of intermediate CAs allowed; OpenSSL's verify depth counts the same
    c, s = engines(client_cfg(pki, depth=1), server_cfg(pki, pki.chained_server))
    assert handshake(c, s) == {}
    assert len(c.peer_chain_der()) == 2
    c, s = engines(client_cfg(pki, depth=0), server_cfg(pki, pki.chained_server))
    errs = handshake(c, s)
    assert _alert_name(errs["client"]) == "handshake_failure"
    assert "max_path_length_reached" in _alert_text(errs["client"])


def test_client_certificate(pki):
    scfg = server_cfg(pki, verify="verify_peer", fail_if_no_peer_cert=True)
    for ident in (pki.client, pki.ec_client):
        ccfg = client_cfg(pki, cert_chain=ident.chain_der, key_pem=ident.key_pem)
        c, s = engines(ccfg, scfg)
        assert handshake(c, s) == {}
        assert s.peer_cert_der() == ident.der


def test_encrypted_key_pem(pki):
    cfg = server_cfg(pki)
    cfg.key_der = None
    cfg.key_pem = pki.server.encrypted_key_pem(b"secret")
    cfg.password = b"secret"
    c, s = engines(client_cfg(pki), cfg)
    assert handshake(c, s) == {}


def test_close_notify(pki):
    c, s = engines(client_cfg(pki), server_cfg(pki))
    handshake(c, s)
    c.write_plaintext(b"last words")
    c.close()
    pump(c, s)
    assert s.read_plaintext() == b"last words"
    assert s.peer_closed
    # TCP EOF without close_notify is also a close, not an error
    c, s = engines(client_cfg(pki), server_cfg(pki))
    handshake(c, s)
    s.receive_eof()
    assert s.read_plaintext() == b""
    assert s.peer_closed


def test_export_keying_material_and_secrets(pki):
    for version in ("tlsv1.2", "tlsv1.3"):
        c, s = engines(client_cfg(pki, versions=(version,)), server_cfg(pki))
        handshake(c, s)
        ekm_c = c.export_keying_material(b"EXPORTER-test", 32, b"ctx")
        assert ekm_c == s.export_keying_material(b"EXPORTER-test", 32, b"ctx")
        assert len(ekm_c) == 32
        if version == "tlsv1.2":
            assert c.master_secret() == s.master_secret() and len(c.master_secret()) == 48
            assert c.client_random() == s.client_random() and len(c.client_random()) == 32
            assert c.server_random() == s.server_random()
        else:
            assert c.master_secret() is None
            assert c.client_random() == s.client_random() and len(c.client_random()) == 32
            assert c.traffic_secrets() == s.traffic_secrets() == {}     # no keep_secrets


_TLS13_LABELS = {"CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
                 "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0", "EXPORTER_SECRET"}


@pytest.mark.parametrize("suite,size", [("TLS_AES_128_GCM_SHA256", 32), ("TLS_AES_256_GCM_SHA384", 48)])
def test_keep_secrets_records_the_tls13_secrets(pki, suite, size):
    """keep_secrets: both ends of one connection record the same TLS 1.3 secrets from
    OpenSSL's keylog callback, as long as the suite's hash; a TLS 1.2 connection has none
    (its one secret is master_secret())."""
    c, s = engines(client_cfg(pki, keep_secrets=True, ciphersuites_13=suite),
                   server_cfg(pki, keep_secrets=True))
    assert handshake(c, s) == {}
    sec = c.traffic_secrets()
    assert sec == s.traffic_secrets() and set(sec) == _TLS13_LABELS
    assert {len(v) for v in sec.values()} == {size}
    # only one end keeping them: the other records nothing
    c, s = engines(client_cfg(pki, keep_secrets=True), server_cfg(pki))
    handshake(c, s)
    assert set(c.traffic_secrets()) == _TLS13_LABELS and s.traffic_secrets() == {}
    c, s = engines(client_cfg(pki, keep_secrets=True, versions=("tlsv1.2",)),
                   server_cfg(pki, keep_secrets=True))
    handshake(c, s)
    assert c.version == "tlsv1.2" and c.traffic_secrets() == s.traffic_secrets() == {}


def test_keylog_line_that_is_not_nss_is_ignored(pki):
    c, _ = engines(client_cfg(pki, keep_secrets=True), server_cfg(pki))
    for line in (b"", b"ONE TWO", b"LABEL 00 nothex", b"A B C D"):
        c.record_secret(line)
    assert not c._secrets          # nothing recorded (an unused engine holds an empty tuple)


def test_alpn(pki):
    ccfg = client_cfg(pki, alpn_advertised=[b"h2", b"http/1.1"])
    c, s = engines(ccfg, server_cfg(pki, alpn_preferred=[b"http/1.1", b"h2"]))
    assert handshake(c, s) == {}
    assert c.alpn_protocol == s.alpn_protocol == b"http/1.1"
    c, s = engines(client_cfg(pki, alpn_advertised=[b"spdy/1"]), server_cfg(pki, alpn_preferred=[b"h2"]))
    errs = handshake(c, s)
    assert _alert_name(errs["server"]) == "no_application_protocol"
    assert _alert_name(errs["client"]) == "no_application_protocol"


def test_session_resumption_tls12(pki):
    ccfg = client_cfg(pki, versions=("tlsv1.2",))
    scfg = server_cfg(pki)
    cctx, sctx = build_context(ccfg), build_context(scfg)
    c, s = TLSEngine(cctx, ccfg), TLSEngine(sctx, scfg)
    handshake(c, s)
    assert not c.session_reused
    session = c.conn.get_session()
    c2, s2 = TLSEngine(cctx, ccfg), TLSEngine(sctx, scfg)
    c2.conn.set_session(session)
    assert handshake(c2, s2) == {}
    assert c2.session_reused and s2.session_reused


def test_renegotiation(pki):
    c, s = engines(client_cfg(pki, versions=("tlsv1.2",)), server_cfg(pki))
    handshake(c, s)
    c.renegotiate()
    s.write_plaintext(b"during")
    done = False
    got = b""
    for _ in range(20):
        done = c.do_handshake()
        pump(c, s)
        got += s.read_plaintext() + c.read_plaintext()
        pump(c, s)
        if done:
            break
    assert done
    assert b"during" in got + c.read_plaintext()
    assert transfer(c, s, b"after") == b"after"
    c13, s13 = engines(client_cfg(pki, versions=("tlsv1.3",)), server_cfg(pki))
    handshake(c13, s13)
    with pytest.raises(RenegotiationError, match="TLS 1.3"):
        c13.renegotiate()


def _drive_renegotiation(eng: TLSEngine, peer: TLSEngine, rounds: int = 20) -> tuple[bool, bytes]:
    """Run ``eng``'s renegotiation by ``do_handshake`` alone (as the transport does),
    the peer by ``read_plaintext`` (OpenSSL answers a renegotiation inside SSL_read);
    (done, what the peer read meanwhile)."""
    peer_got = b""
    for _ in range(rounds):
        if eng.do_handshake():
            return True, peer_got
        pump(eng, peer)
        peer_got += peer.read_plaintext()
        pump(eng, peer)
    return False, peer_got


def test_client_renegotiation_keeps_the_peer_data_in_flight(pki):
    """ssl:renegotiate/1 answers ok and the peer's data sent meanwhile reaches a later
    recv. The server's records come after the client's new ClientHello is out and
    before the server has read it: libssl takes them only inside SSL_read (it failed
    the connection with unexpected_message when the engine drove SSL_do_handshake)."""
    c, s = engines(client_cfg(pki, versions=("tlsv1.2",)), server_cfg(pki))
    assert handshake(c, s) == {}
    old_random = c.client_random()
    s.write_plaintext(b"one;")
    c.renegotiate()
    assert not c.handshake_done and c.renegotiating
    assert c.do_handshake() is False               # the ClientHello goes out
    hello = c.ciphertext_to_send()
    assert hello
    s.write_plaintext(b"two;")                     # in flight: the server has not seen it
    c.receive_ciphertext(s.ciphertext_to_send())
    assert c.do_handshake() is False               # takes the data, waits for the ServerHello
    assert c.read_plaintext() == b"one;two;"       # handed out during the renegotiation
    c.write_plaintext(b"queued;")                  # waits for the end, as ssl's sender
    assert c.pending_writes and not c.ciphertext_to_send()
    s.receive_ciphertext(hello)
    s.write_plaintext(b"three;")
    done, server_got = _drive_renegotiation(c, s)
    assert done and c.handshake_done and not c.renegotiating
    assert c.client_random() != old_random         # a new handshake ran
    assert c.read_plaintext() == b"three;"
    assert not c.pending_writes
    pump(c, s)
    assert server_got + s.read_plaintext() == b"queued;"
    assert transfer(c, s, b"after") == b"after" and transfer(s, c, b"back") == b"back"


def test_server_renegotiation_is_done_with_the_new_handshake(pki):
    """A server's renegotiate/1 answers once the client's new handshake is done, not when
    its HelloRequest is out (SSL_renegotiate_pending stays set until then), and the
    client's ClientHello, which comes when the server is out of init, is taken."""
    c, s = engines(client_cfg(pki, versions=("tlsv1.2",)), server_cfg(pki))
    assert handshake(c, s) == {}
    old_random = s.server_random()
    s.renegotiate()
    assert s.do_handshake() is False               # HelloRequest out, not done
    hello_request = s.ciphertext_to_send()
    assert hello_request
    assert s.do_handshake() is False               # still waiting for the client
    c.write_plaintext(b"hi;")                      # sent before the client saw it
    c.receive_ciphertext(hello_request)
    done, client_got = _drive_renegotiation(s, c)
    assert done and s.handshake_done and not s.renegotiating
    assert s.server_random() != old_random
    assert s.read_plaintext() == b"hi;"
    assert transfer(s, c, b"after") == b"after" and transfer(c, s, b"back") == b"back"


def test_renegotiation_refused_by_the_peer(pki):
    """The peer declines (a no_renegotiation warning, as an ssl server sends within
    its 12 s guard): the engine reports that alert, received, at warning level
    (the transport answers renegotiation_rejected); OpenSSL ends the session
    (handshake_failure to the peer), and the engine stays consistent: no longer
    renegotiating, its reads and writes fail with the same alert, never hang."""
    ccfg, scfg = client_cfg(pki, versions=("tlsv1.2",)), server_cfg(pki)
    sctx = build_context(scfg)
    sctx.set_options(getattr(SSL, "OP_NO_RENEGOTIATION", 0x40000000))
    c, s = TLSEngine(build_context(ccfg), ccfg), TLSEngine(sctx, scfg)
    assert handshake(c, s) == {}
    s.write_plaintext(b"before;")
    c.renegotiate()
    with pytest.raises(TLSAlertError) as got:
        _drive_renegotiation(c, s)
    err = got.value
    assert (err.code, err.level, err.sent) == (100, 1, False)
    assert _alert_name(err) == "no_renegotiation"
    assert not c.renegotiating and c.failed is err
    # the data that came before the refusal is still delivered, then the failure
    assert c.read_plaintext() == b"before;"
    assert c.failed is not None
    with pytest.raises(TLSAlertError):
        c.write_plaintext(b"x")
    pump(c, s)
    with pytest.raises(TLSAlertError) as peer:
        s.read_plaintext()
    assert _alert_name(peer.value) == "handshake_failure"


def test_renegotiation_peer_closes_midway(pki):
    """The peer's close_notify before the new handshake is done: TLSClosed (the
    transport answers closed), peer_closed set, not left renegotiating."""
    c, s = engines(client_cfg(pki, versions=("tlsv1.2",)), server_cfg(pki))
    assert handshake(c, s) == {}
    c.renegotiate()
    assert c.do_handshake() is False
    c.ciphertext_to_send()                         # the ClientHello is lost
    s.write_plaintext(b"last;")
    s.close()
    c.receive_ciphertext(s.ciphertext_to_send())
    with pytest.raises(TLSClosed):
        c.do_handshake()
    assert c.peer_closed and not c.renegotiating
    assert c.read_plaintext() == b"last;"


# ---- failures -----------------------------------------------------------------------------
def _alerts(errs):
    return {side: _alert_name(e) for side, e in errs.items()}


@pytest.mark.parametrize("version", ["tlsv1.2", "tlsv1.3"])
def test_unknown_ca(pki, version):
    c, s = engines(client_cfg(pki, versions=(version,), cacerts=[pki.other_ca.der]), server_cfg(pki))
    errs = handshake(c, s)
    assert _alerts(errs) == {"client": "unknown_ca", "server": "unknown_ca"}
    assert errs["client"].sent and not errs["server"].sent
    assert _alert_text(errs["client"]).startswith("TLS client: In state ")
    assert "generated CLIENT ALERT: Fatal - Unknown CA\n" in _alert_text(errs["client"])
    assert _alert_text(errs["server"]).startswith("TLS server: In state ")
    assert "received CLIENT ALERT: Fatal - Unknown CA\n" in _alert_text(errs["server"])


@pytest.mark.parametrize("ident,alert", [("expired", "certificate_expired"),
                                          ("not_yet_valid", "certificate_expired"),
                                          ("critical", "unsupported_certificate"),
                                          ("self_signed", "bad_certificate"),
                                          ("foreign", "unknown_ca")])
def test_bad_server_certificates(pki, ident, alert):
    c, s = engines(client_cfg(pki), server_cfg(pki, getattr(pki, ident)))
    errs = handshake(c, s)
    # the server receives the same alert the client reports: what OTP sends too
    assert _alerts(errs) == {"client": alert, "server": alert}


def test_verify_none_accepts_anything(pki):
    for ident in (pki.expired, pki.critical, pki.self_signed, pki.wrong_host):
        c, s = engines(client_cfg(pki, verify="verify_none", cacerts=[]), server_cfg(pki, ident))
        assert handshake(c, s) == {}


def test_hostname_mismatch(pki):
    c, s = engines(client_cfg(pki), server_cfg(pki, pki.wrong_host))
    errs = handshake(c, s)
    assert _alerts(errs) == {"client": "handshake_failure", "server": "handshake_failure"}
    assert _alert_text(errs["client"]).endswith("Handshake Failure\n {bad_cert,hostname_check_failed}")
    # an IP literal is checked against the IP SANs
    c, s = engines(client_cfg(pki, hostname_check="127.0.0.1", server_name_indication=None),
                   server_cfg(pki))
    assert handshake(c, s) == {}
    c, s = engines(client_cfg(pki, hostname_check="127.0.0.2", server_name_indication=None),
                   server_cfg(pki))
    assert _alerts(handshake(c, s))["client"] == "handshake_failure"


def test_protocol_version_mismatch(pki):
    c, s = engines(client_cfg(pki, versions=("tlsv1.3",)), server_cfg(pki, versions=("tlsv1.2",)))
    errs = handshake(c, s)
    assert _alerts(errs) == {"client": "protocol_version", "server": "protocol_version"}
    assert errs["server"].sent and _alert_text(errs["server"]).startswith("TLS server: ")


@pytest.mark.parametrize("version,alert", [("tlsv1.3", "certificate_required"),
                                           ("tlsv1.2", "handshake_failure")])
def test_missing_client_certificate(pki, version, alert):
    scfg = server_cfg(pki, verify="verify_peer", fail_if_no_peer_cert=True, versions=(version,))
    c, s = engines(client_cfg(pki), scfg)
    errs = handshake(c, s)
    assert _alert_name(errs["server"]) == alert
    assert _alert_name(errs["client"]) == alert
    if version == "tlsv1.3":
        # as with OTP, the 1.3 client finished its side and learns it on its next read
        assert c.handshake_done


def test_client_certificate_from_unknown_ca(pki):
    scfg = server_cfg(pki, verify="verify_peer", cacerts=[pki.other_ca.der])
    ccfg = client_cfg(pki, cert_chain=pki.client.chain_der, key_der=pki.client.key_der)
    errs = handshake(*engines(ccfg, scfg))
    assert _alerts(errs) == {"client": "unknown_ca", "server": "unknown_ca"}
    assert _alert_text(errs["server"]).startswith("TLS server: ") and errs["server"].sent


def test_no_shared_cipher(pki):
    """ssl's server refuses a hello it has no suite for with insufficient_security
    (tls_handshake:handle_client_hello/5, no_suitable_ciphers); OpenSSL is made to send it."""
    ccfg = client_cfg(pki, versions=("tlsv1.2",), cipher_list="ECDHE-ECDSA-AES128-GCM-SHA256")
    errs = handshake(*engines(ccfg, server_cfg(pki)))   # RSA server: no ECDSA suite possible
    assert _alerts(errs) == {"client": "insufficient_security", "server": "insufficient_security"}
    assert errs["server"].sent and errs["server"].reason == "no_suitable_ciphers"


# ---- verify hook ----------------------------------------------------------------------------
def test_verify_hook_sees_path_and_accepts(pki):
    seen = []

    def hook(der, depth, event):
        seen.append((depth, event, der))
        return ("valid", None)

    c, s = engines(client_cfg(pki, verify_hook=hook), server_cfg(pki, pki.chained_server))
    assert handshake(c, s) == {}
    assert [(d, e) for d, e, _ in seen] == [(1, "valid"), (0, "valid_peer")]
    assert seen[-1][2] == pki.chained_server.der


def test_verify_hook_overrides_bad_cert(pki):
    events = []

    def hook(der, depth, event):
        events.append(event)
        return ("valid", None)

    c, s = engines(client_cfg(pki, verify_hook=hook), server_cfg(pki, pki.expired))
    assert handshake(c, s) == {}
    assert ("bad_cert", "cert_expired") in events


def test_verify_hook_unknown_accepts_a_bad_cert_like_public_key(pki):
    c, s = engines(client_cfg(pki, verify_hook=lambda d, n, e: ("unknown", None)),
                   server_cfg(pki, pki.expired))
    assert handshake(c, s) == {}


def _events(pki, server, **client_kw):
    seen = []

    def hook(der, depth, event):
        seen.append((depth, event))
        return "valid", None

    c, s = engines(client_cfg(pki, verify_hook=hook, **client_kw), server_cfg(pki, server))
    assert handshake(c, s) == {}
    return seen


def test_verify_hook_sees_otp_events(pki):
    # each certificate once, top down, problems first; the trust anchor is not shown
    assert _events(pki, pki.server) == [(0, "valid_peer")]
    assert _events(pki, pki.chained_server) == [(1, "valid"), (0, "valid_peer")]
    assert _events(pki, pki.expired) == [(0, ("bad_cert", "cert_expired")), (0, "valid_peer")]
    # a host name mismatch comes in place of valid_peer, after the intermediates
    assert _events(pki, pki.wrong_host) == [(0, ("bad_cert", "hostname_check_failed"))]
    # an unknown CA that the hook accepts is the anchor: nothing more about it
    # (this server sends its CA after its own certificate)
    assert _events(pki, pki.server, cacerts=[pki.other_ca.der]) == [(1, ("bad_cert", "unknown_ca")),
                                                                     (0, "valid_peer")]


def test_verify_hook_rejects(pki):
    def hook(der, depth, event):
        return ("fail", "not_my_favourite") if event == "valid_peer" else ("valid", None)

    c, s = engines(client_cfg(pki, verify_hook=hook), server_cfg(pki))
    errs = handshake(c, s)
    assert _alerts(errs) == {"client": "handshake_failure", "server": "handshake_failure"}
    assert _alert_text(errs["client"]).endswith("Handshake Failure\n not_my_favourite")
    assert errs["client"].reason == "not_my_favourite"

    c, s = engines(client_cfg(pki, verify_hook=lambda d, n, e: ("fail", ("bad_cert", "unknown_ca"))),
                   server_cfg(pki))
    assert _alerts(handshake(c, s)) == {"client": "unknown_ca", "server": "unknown_ca"}


def test_verify_hook_crash_is_an_internal_error(pki, caplog):
    # as a crashing verify_fun kills ssl's connection: the peer gets internal_error
    def hook(der, depth, event):
        raise RuntimeError("boom")

    c, s = engines(client_cfg(pki, verify_hook=hook), server_cfg(pki))
    errs = handshake(c, s)
    assert _alerts(errs) == {"client": "internal_error", "server": "internal_error"}
    assert errs["client"].reason == "verify_fun_crashed"
    assert "boom" in caplog.text


def test_verify_hook_with_verify_none_still_decides(pki):
    c, s = engines(client_cfg(pki, verify="verify_none", cacerts=[],
                              verify_hook=lambda d, n, e: ("fail", "nope")), server_cfg(pki))
    assert _alerts(handshake(c, s))["client"] == "handshake_failure"


# ---- contexts -------------------------------------------------------------------------------
def test_context_errors(pki):
    with pytest.raises(ContextError, match="key"):
        build_context(server_cfg(pki, key_der=b"garbage"))
    cfg = server_cfg(pki)
    cfg.key_der = pki.client.key_der                      # not the certificate's key
    with pytest.raises(ContextError, match="does not match"):
        build_context(cfg)
    with pytest.raises(ContextError, match="cipher"):
        build_context(client_cfg(pki, cipher_list="NO-SUCH-CIPHER"))
    with pytest.raises(ContextError, match="certificate"):
        build_context(TLSConfig(role="server", cert_chain=[b"not der"], key_der=pki.server.key_der))
    cfg = server_cfg(pki)
    cfg.key_pem = pki.server.encrypted_key_pem(b"right")
    cfg.key_der = None
    cfg.password = b"wrong"
    with pytest.raises(ContextError, match="key"):
        build_context(cfg)
    with pytest.raises(ContextError, match="DH"):
        build_context(server_cfg(pki, dh_pem=b"-----BEGIN DH PARAMETERS-----\nxx\n"))


def test_noncontiguous_versions_use_the_range(pki):
    # [tlsv1.3, tlsv1.1]: OpenSSL only takes a min..max range (a masked hole would cut off
    # everything above it), so the hole is filled: a deliberate, documented deviation
    c, s = engines(client_cfg(pki, versions=("tlsv1.3", "tlsv1.1")), server_cfg(pki))
    assert handshake(c, s) == {}
    assert c.version == "tlsv1.3"
    c, s = engines(client_cfg(pki, versions=("tlsv1.3", "tlsv1.1")),
                   server_cfg(pki, versions=("tlsv1.2",)))
    assert handshake(c, s) == {}
    assert c.version == "tlsv1.2"


def test_context_cache(pki):
    cache = ContextCache(size=2)
    a = server_cfg(pki)
    b = server_cfg(pki)
    assert config_key(a) == config_key(b)
    assert cache.get(a) is cache.get(b)
    assert cache.get(server_cfg(pki, versions=("tlsv1.2",))) is not cache.get(a)
    # the hook lives on the connection, not the context: shared
    hooked = client_cfg(pki, verify_hook=lambda *a: ("fail", "no"))
    assert cache.get(hooked) is cache.get(client_cfg(pki))
    c, s = TLSEngine(cache.get(hooked), hooked), TLSEngine(cache.get(a), a)
    assert _alerts(handshake(c, s))["client"] == "handshake_failure"
    c, s = TLSEngine(cache.get(client_cfg(pki)), client_cfg(pki)), TLSEngine(cache.get(a), a)
    assert handshake(c, s) == {}


def test_bulk_throughput_is_consistent(pki):
    c, s = engines(client_cfg(pki), server_cfg(pki))
    handshake(c, s)
    payload = os.urandom(1 << 20)
    got = transfer(c, s, payload)
    assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()


def test_groups_supported_asks_libssl():
    from bridge.tls.ossl import groups_supported
    got = groups_supported(["x25519", "secp256r1", "no_such_group"])
    assert got == frozenset({"x25519", "secp256r1"})


def test_hello_random_starts_with_the_time_below_tls13(pki):
    """ssl_record:make_random/1: with TLS 1.2 the highest version configured, the hello
    randoms start with the time in seconds (OTP's check_random_nonce); with TLS 1.3
    configured they are random throughout (a chance of 2^-25 to fall within the minute)."""
    import time

    def near_now(random: bytes) -> bool:
        return abs(int.from_bytes(random[:4], "big") - time.time()) < 60

    c, s = engines(client_cfg(pki, versions=("tlsv1.2",)), server_cfg(pki, versions=("tlsv1.2",)))
    handshake(c, s)
    assert near_now(c.client_random()) and near_now(s.server_random())
    c, s = engines(client_cfg(pki), server_cfg(pki))
    handshake(c, s)
    assert c.version == "tlsv1.3"
    assert not near_now(c.client_random()) and not near_now(s.server_random())


# ---- a server's refusals and the SNI host's versions (bridge.tls.alerts, _release_hello) ----
@pytest.mark.parametrize("ckw, skw, reason", [
    # tls_handshake_1_3:select_cipher_suite/3 (libssl picks a TLS 1.3 suite before its
    # servername callback: the engine judges those before OpenSSL reads the hello)
    ({"ciphersuites_13": "TLS_AES_128_GCM_SHA256"}, {"ciphersuites_13": "TLS_AES_256_GCM_SHA384"},
     "no_suitable_cipher"),
    # select_common_groups/2
    ({"groups": "P-384"}, {"groups": "X25519"}, "no_suitable_groups"),
    # select_sign_algo/5
    ({"sigalgs": "ecdsa_secp256r1_sha256"}, {}, "no_suitable_signature_algorithm"),
    ({"sigalgs": "rsa_pss_rsae_sha256"}, {"sigalgs": "rsa_pss_rsae_sha384"}, "no_suitable_signature_algorithm"),
])
def test_tls13_refusals_are_insufficient_security(pki, ckw, skw, reason):
    c, s = engines(client_cfg(pki, versions=("tlsv1.3",), **ckw), server_cfg(pki, versions=("tlsv1.3",), **skw))
    errs = handshake(c, s)
    assert _alerts(errs) == {"client": "insufficient_security", "server": "insufficient_security"}
    assert errs["server"].sent and errs["server"].reason == reason
    assert _alert_text(errs["server"]).endswith("Insufficient Security\n " + reason)


@pytest.mark.parametrize("ckw, skw", [
    ({"sigalgs": "ECDSA+SHA256"}, {}),                                    # nothing for an RSA key
    ({"sigalgs": "RSA+SHA384"}, {"sigalgs": "RSA+SHA256"}),               # no_common_signature_algs
    ({"cipher_list": "AECDH-AES128-SHA"}, {}),                            # default_reject_anonymous
])
def test_tls12_refusals_are_insufficient_security(pki, ckw, skw):
    c, s = engines(client_cfg(pki, versions=("tlsv1.2",), **ckw), server_cfg(pki, versions=("tlsv1.2",), **skw))
    errs = handshake(c, s)
    assert _alerts(errs) == {"client": "insufficient_security", "server": "insufficient_security"}
    assert errs["server"].reason == "no_suitable_ciphers"


def test_one_context_judges_each_offer_on_its_own(pki):
    """The refusal is judged once per context and offer (callbacks._JUDGED): on one
    server context a refused offer, a taken one and the refused one again each get
    their own verdict."""
    from bridge.tls import callbacks
    scfg = server_cfg(pki, versions=("tlsv1.3",))
    sctx = build_context(scfg)
    verdicts = []
    for sigalgs in ("ecdsa_secp256r1_sha256", None, "ecdsa_secp256r1_sha256", None):
        ccfg = client_cfg(pki, versions=("tlsv1.3",), sigalgs=sigalgs)
        c, s = TLSEngine(build_context(ccfg), ccfg), TLSEngine(sctx, scfg)
        errs = handshake(c, s)
        verdicts.append(errs["server"].reason if errs else None)
    assert verdicts == ["no_suitable_signature_algorithm", None] * 2
    keys = list(callbacks._JUDGED[sctx])
    # two offers judged by refuse_hello; one suite list by judge_tls13_suites
    assert sum(k[0] != "tls13_suites" for k in keys) == 2
    assert sum(k[0] == "tls13_suites" for k in keys) == 1


def test_tls13_suites_judged_once_per_context_and_offer(pki):
    """judge_tls13_suites remembers per context and suite list: an offer with no
    suite the server has is refused each time, one with a suite never."""
    from bridge.tls import callbacks
    scfg = server_cfg(pki, versions=("tlsv1.3",), ciphersuites_13="TLS_AES_256_GCM_SHA384")
    sctx = build_context(scfg)
    reasons = []
    for suite in ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384") * 2:
        ccfg = client_cfg(pki, versions=("tlsv1.3",), ciphersuites_13=suite)
        c, s = TLSEngine(build_context(ccfg), ccfg), TLSEngine(sctx, scfg)
        errs = handshake(c, s)
        reasons.append(errs["server"].reason if errs else None)
    assert reasons == ["no_suitable_cipher", None] * 2
    assert sorted(v for k, v in callbacks._JUDGED[sctx].items() if k[0] == "tls13_suites") == [False, True]


def test_an_ecdsa_server_takes_an_ecdsa_scheme(pki):
    """The key decides which schemes count: an ECDSA key signs with the P-256 one."""
    scfg = server_cfg(pki, pki.ec_server, versions=("tlsv1.3",))
    c, s = engines(client_cfg(pki, versions=("tlsv1.3",), sigalgs="ecdsa_secp256r1_sha256"), scfg)
    assert handshake(c, s) == {}


def _sni_server(pki, host_versions, listen_versions=("tlsv1.3", "tlsv1.2"), **kw):
    host = server_cfg(pki, versions=host_versions)
    return server_cfg(pki, versions=listen_versions, **kw, sni_configs={"localhost": host})


@pytest.mark.parametrize("listen, host", [(("tlsv1.3", "tlsv1.2"), ("tlsv1.2",)),
                                          (("tlsv1.2", "tlsv1.1"), ("tlsv1.1",)),
                                          (("tlsv1.2",), ("tlsv1.3",))])
def test_the_named_hosts_versions_choose_the_version(pki, listen, host):
    """ssl_gen_statem:handle_sni_extension/2 runs before the version is chosen: the host's
    versions apply, also outside the listen socket's (a new SSL from the host's context)."""
    ccfg = client_cfg(pki, versions=("tlsv1.3", "tlsv1.2", "tlsv1.1"))
    c = TLSEngine(build_context(ccfg), ccfg)
    s = TLSEngine(build_context(_sni_server(pki, host, listen)), _sni_server(pki, host, listen))
    assert handshake(c, s) == {}
    assert c.version == s.version == host[0]
    assert s.sni == "localhost"


def test_a_hello_held_back_byte_by_byte(pki):
    """With sni_hosts the ClientHello's bytes wait for its end; nothing reaches OpenSSL
    (and nothing goes out) before."""
    scfg = _sni_server(pki, ("tlsv1.2",))
    ccfg = client_cfg(pki)
    c, s = TLSEngine(build_context(ccfg), ccfg), TLSEngine(build_context(scfg), scfg)
    c.do_handshake()
    hello = c.ciphertext_to_send()
    for i in range(len(hello) - 1):
        s.receive_ciphertext(hello[i:i + 1])
        assert s.do_handshake() is False and s.ciphertext_to_send() == b""
    s.receive_ciphertext(hello[-1:])
    s.do_handshake()
    c.receive_ciphertext(s.ciphertext_to_send())
    assert handshake(c, s) == {} and s.version == "tlsv1.2"


def test_the_sni_fun_is_asked_once(pki):
    asked = []
    host = server_cfg(pki, versions=("tlsv1.2",))
    scfg = server_cfg(pki, sni_hook=lambda name: asked.append(name) or host)
    c, s = engines(client_cfg(pki), scfg)
    assert handshake(c, s) == {} and s.version == "tlsv1.2"
    assert asked == ["localhost"]


def test_a_failing_sni_fun_before_openssl_reads_the_hello(pki):
    def boom(name):
        raise RuntimeError("sni_fun crashed")
    c, s = engines(client_cfg(pki), server_cfg(pki, sni_hook=boom))
    c.do_handshake()
    s.receive_ciphertext(c.ciphertext_to_send())
    with pytest.raises(TLSClosed):
        s.do_handshake()
    assert s.ciphertext_to_send() == b""


@pytest.mark.parametrize("sni", [True, False])
def test_eof_inside_the_hello(pki, sni):
    """The peer leaves mid-hello: the same end with the hello held back or not."""
    scfg = _sni_server(pki, ("tlsv1.2",)) if sni else server_cfg(pki)
    ccfg = client_cfg(pki)
    c, s = TLSEngine(build_context(ccfg), ccfg), TLSEngine(build_context(scfg), scfg)
    c.do_handshake()
    s.receive_ciphertext(c.ciphertext_to_send()[:20])
    s.receive_eof()
    with pytest.raises(TLSAlertError) as err:
        s.do_handshake()
    assert not err.value.handshake_done


def test_the_info_callback_survives_its_owner_failing(pki, caplog):
    """The shared C info callback (bridge.tls.ossl) never lets an exception escape into
    OpenSSL: an owner whose ``_info`` raises is logged, and alerts still reach a sound one."""
    from bridge.tls import ossl

    class Broken:
        def _info(self, conn, where, ret):
            raise RuntimeError("boom")

    scfg = server_cfg(pki)
    s = TLSEngine(build_context(scfg), scfg)
    ossl.set_owner(s.conn, Broken())
    ossl._info(s.conn._ssl, 0x4008, (2 << 8) | 40)       # a fatal handshake_failure written
    assert "info callback failed" in caplog.text
    ossl.set_owner(s.conn, s)
    ossl._info(s.conn._ssl, 0x4008, (2 << 8) | 40)
    assert s.alert_sent == (2, 40)
    ossl._info(s.conn._ssl, 0x01, 1)                      # a state change: nothing recorded
    assert s.alert_received is None
