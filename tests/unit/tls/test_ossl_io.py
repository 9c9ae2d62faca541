"""bridge.tls.ossl's read/write/feed: pyOpenSSL's recv/send/bio_write, outcome for
outcome, on a plain pyOpenSSL memory-BIO pair (no engine in between)."""
from __future__ import annotations

import threading

import pytest
from OpenSSL import SSL

from bridge.tls import ossl


def _pair(pki, alpn_fail: bool = False):
    sctx = SSL.Context(SSL.TLS_METHOD)
    sctx.use_certificate(pki.server.cert)
    sctx.use_privatekey(pki.server.key)
    cctx = SSL.Context(SSL.TLS_METHOD)
    ossl.clear_partial_write(cctx)             # as the bridge's contexts: whole writes
    if alpn_fail:
        def select(conn, offered):
            raise RuntimeError("select failed")
        sctx.set_alpn_select_callback(select)
        cctx.set_alpn_protos([b"h2"])
    s = SSL.Connection(sctx, None)
    s.set_accept_state()
    c = SSL.Connection(cctx, None)
    c.set_connect_state()
    return c, s


def _move(a, b):
    data = ossl.drain_output(a)
    if data:
        ossl.feed(b, data)
    return bool(data)


def _handshake(c, s):
    for _ in range(10):
        for conn in (c, s):
            try:
                conn.do_handshake()
            except SSL.WantReadError:
                pass
        if not (_move(c, s) | _move(s, c)):
            break


def test_read_gives_each_record_then_none(pki):
    c, s = _pair(pki)
    _handshake(c, s)
    for msg in (b"x", b"0123456789abcdef\n", b"y" * 40000):
        assert ossl.write(c, memoryview(msg)) == len(msg)
        _move(c, s)
        got = []
        while (chunk := ossl.read(s)) is not None:
            got.append(chunk)
        assert b"".join(got) == msg
        assert ossl.read(s) is None           # pyOpenSSL's recv: WantReadError
        with pytest.raises(SSL.WantReadError):
            s.recv(100)


def test_read_raises_what_recv_raises(pki):
    # close_notify: ZeroReturnError, as recv
    c, s = _pair(pki)
    _handshake(c, s)
    c.shutdown()
    _move(c, s)
    with pytest.raises(SSL.ZeroReturnError):
        ossl.read(s)
    # a corrupt record: SSL.Error, as recv, with OpenSSL's reason
    c, s = _pair(pki)
    _handshake(c, s)
    ossl.write(c, memoryview(b"hello"))
    record = bytearray(ossl.drain_output(c))
    record[-1] ^= 0xFF
    ossl.feed(s, bytes(record))
    with pytest.raises(SSL.Error) as exc:
        ossl.read(s)
    assert "bad record mac" in str(exc.value).lower() or "decrypt" in str(exc.value).lower()


def test_write_before_the_handshake_drives_it_as_send_does(pki):
    c, s = _pair(pki)
    with pytest.raises(SSL.WantReadError):
        ossl.write(c, memoryview(b"early"))   # the ClientHello goes out first
    assert ossl.drain_output(c)[:1] == b"\x16"


def test_a_callback_exception_is_raised_as_pyopenssl_raises_it(pki):
    # the server's ALPN select callback raises inside the handshake SSL_read runs:
    # recv raises the callback's exception, not OpenSSL's error, and so does read
    c, s = _pair(pki, alpn_fail=True)
    try:
        c.do_handshake()
    except SSL.WantReadError:
        pass
    _move(c, s)
    with pytest.raises(RuntimeError, match="select failed"):
        ossl.read(s)                          # SSL_read runs the server's handshake


def test_feed_takes_other_buffers_and_nothing_as_bio_write(pki):
    c, s = _pair(pki)
    try:
        c.do_handshake()
    except SSL.WantReadError:
        pass
    hello = ossl.drain_output(c)
    ossl.feed(s, bytearray(hello[:10]))      # not bytes: through bio_write
    ossl.feed(s, hello[10:])
    with pytest.raises(SSL.WantReadError):
        s.do_handshake()
    assert ossl.drain_output(s)[:1] == b"\x16"   # the whole ClientHello arrived
    with pytest.raises(SSL.Error):
        ossl.feed(s, b"")                     # as bio_write(b"") raises


def test_each_thread_reads_into_its_own_buffer(pki):
    pairs = [_pair(pki) for _ in range(4)]
    for c, s in pairs:
        _handshake(c, s)
    out = {}

    def run(i, c, s):
        got = []
        for k in range(200):
            msg = bytes([i]) * (k + 1)
            ossl.write(c, memoryview(msg))
            _move(c, s)
            while (chunk := ossl.read(s)) is not None:
                got.append(chunk)
        out[i] = b"".join(got)

    threads = [threading.Thread(target=run, args=(i, c, s)) for i, (c, s) in enumerate(pairs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(4):
        assert out[i] == b"".join(bytes([i]) * (k + 1) for k in range(200))
