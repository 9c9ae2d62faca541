"""bridge.tls.transport: our client against our server over 127.0.0.1."""
from __future__ import annotations

import asyncio
import os
import socket
import threading

import pytest

from bridge.tls import transport
from bridge.tls.config import TLSConfig
from bridge.service.errors import tls_alert_parts


def _alert_name(err):
    return tls_alert_parts(err)[0]


def _alert_text(err):
    return tls_alert_parts(err)[1]


class Collector:
    def __init__(self):
        self.data = bytearray()
        self.eof = asyncio.Event()
        self.error = None
        self.events = []

    def data_received(self, data):
        self.data += data
        self.events.append("data")

    def eof_received(self):
        self.events.append("eof")
        self.eof.set()

    def connection_failed(self, exc):
        self.events.append("failed")
        self.error = exc
        self.eof.set()

    async def wait_for(self, n):
        while len(self.data) < n and not self.eof.is_set():
            await asyncio.sleep(0.005)


def ccfg(pki, **kw):
    kw.setdefault("verify", "verify_peer")
    return TLSConfig(role="client", cacerts=[pki.ca.der], server_name_indication="localhost",
                     hostname_check="localhost", **kw)


def scfg(pki, **kw):
    return TLSConfig(role="server", cert_chain=pki.server.chain_der, key_der=pki.server.key_der,
                     cacerts=[pki.ca.der], **kw)


async def pair(pki, client_kw=None, server_kw=None):
    """(client conn, client rx, server conn, server rx) connected over loopback."""
    loop = asyncio.get_running_loop()
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    lsock.setblocking(False)
    srx, crx = Collector(), Collector()

    async def server():
        csock, _ = await loop.sock_accept(lsock)
        return await transport.accept_tls(csock, scfg(pki, **(server_kw or {})), timeout=10, receiver=srx)

    task = asyncio.ensure_future(server())
    try:
        c = await transport.open_client("127.0.0.1", lsock.getsockname()[1], ccfg(pki, **(client_kw or {})),
                                        timeout=10, receiver=crx)
        s = await task
    finally:
        lsock.close()
    return c, crx, s, srx


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_many_small_writes_keep_order(pki):
    async def go():
        c, crx, s, srx = await pair(pki)
        msgs = [f"{i};".encode() for i in range(5000)]
        for m in msgs:
            c.write(m)
        expected = b"".join(msgs)
        await srx.wait_for(len(expected))
        c.close()
        s.close()
        return bytes(srx.data), expected

    got, expected = run(go())
    assert got == expected


def test_peer_close_delivers_data_before_eof(pki):
    async def go():
        c, crx, s, srx = await pair(pki)
        payload = os.urandom(300_000)
        s.write(payload)
        s.close()
        await asyncio.wait_for(crx.eof.wait(), 10)
        c.close()
        return crx, payload

    crx, payload = run(go())
    assert bytes(crx.data) == payload
    assert crx.events[-1] == "eof" and crx.error is None
    assert crx.events.count("eof") == 1


def test_shutdown_write_keeps_reading(pki):
    async def go():
        c, crx, s, srx = await pair(pki)
        c.write(b"request")
        c.shutdown("write")
        await asyncio.wait_for(srx.eof.wait(), 10)      # close_notify reached the server
        s.write(b"response after half-close")
        s.close()
        await asyncio.wait_for(crx.eof.wait(), 10)
        c.write(b"ignored")                             # after shutdown(write): dropped, no crash
        c.close()
        return bytes(srx.data), bytes(crx.data)

    assert run(go()) == (b"request", b"response after half-close")


def test_shutdown_read_drops_input_and_bad_how(pki):
    async def go():
        c, crx, s, srx = await pair(pki)
        c.shutdown("read")
        s.write(b"nobody listens")
        await asyncio.sleep(0.2)
        with pytest.raises(ValueError, match="read, write or read_write"):
            c.shutdown("sideways")
        c.shutdown("read_write")
        s.close()
        await asyncio.wait_for(c.wait_closed(), 10)
        return bytes(crx.data)

    assert run(go()) == b""


def test_pause_and_resume_reading(pki):
    async def go():
        c, crx, s, srx = await pair(pki)
        s.pause_reading()
        c.write(b"x" * 100_000)
        await asyncio.sleep(0.2)
        paused_got = len(srx.data)
        s.resume_reading()
        await srx.wait_for(100_000)
        c.close()
        s.close()
        return paused_got, len(srx.data)

    paused_got, total = run(go())
    assert paused_got < 100_000 and total == 100_000


def test_close_after_peer_vanished_is_quiet(pki):
    async def go():
        c, crx, s, srx = await pair(pki)
        sock = s.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s._abort()                          # RST: the client's write_eof meets ENOTCONN/EPIPE
        await asyncio.wait_for(crx.eof.wait(), 10)
        c.close()                           # must not raise
        c.shutdown_write()
        c.close()
        await asyncio.wait_for(c.wait_closed(), 10)
        return crx.events

    events = run(go())
    assert events[-1] in ("eof", "failed")


def test_socket_information_and_options(pki):
    async def go():
        c, crx, s, srx = await pair(pki)
        assert c.peername() == s.sockname()
        assert s.peername() == c.sockname()
        c.set_socket_option(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        assert c.socket().getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        c.close()
        s.close()
        await c.wait_closed()
        with pytest.raises(OSError):
            c.set_socket_option(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)

    run(go())


def test_drain_and_write_buffer(pki):
    async def go():
        c, crx, s, srx = await pair(pki)
        s.pause_reading()
        for _ in range(64):
            c.write(b"y" * 65536)
        await asyncio.sleep(0)
        size = c.write_buffer_size()
        s.resume_reading()
        await asyncio.wait_for(c.drain(), 10)
        await srx.wait_for(64 * 65536)
        c.close()
        s.close()
        return size, len(srx.data)

    size, got = run(go())
    assert size > 0 and got == 64 * 65536


def test_blocking_verify_hook_does_not_block_the_loop(pki):
    release = threading.Event()
    ticks = []

    def hook(der, depth, event):
        release.wait(5)          # like waiting for an Erlang verify_fun's answer
        return ("valid", None)

    async def ticker():
        for _ in range(5):
            ticks.append(1)
            await asyncio.sleep(0.01)
        release.set()

    async def go():
        t = asyncio.ensure_future(ticker())
        c, crx, s, srx = await pair(pki, client_kw={"verify_hook": hook})
        await t
        c.close()
        s.close()

    run(go())
    assert len(ticks) == 5      # the loop kept running while the hook was blocked


def test_renegotiation_over_sockets(pki):
    async def go():
        c, crx, s, srx = await pair(pki, client_kw={"versions": ("tlsv1.2",)})
        r1 = await c.renegotiate()
        c.write(b"after")
        await srx.wait_for(5)
        c13, _, s13, _ = await pair(pki)
        r2 = await c13.renegotiate()
        for conn in (c, s, c13, s13):
            conn.close()
        r3 = await c.renegotiate()
        return r1, r2, r3, bytes(srx.data)

    r1, r2, r3, data = run(go())
    assert r1 is None
    assert r2 == "notsup"
    assert r3 == "closed"
    assert data == b"after"


def test_server_renegotiation_over_sockets(pki):
    """A server's renegotiate answers once the new handshake is done (ssl's
    renegotiate/1 on an accepted socket); a second call meanwhile is
    already_renegotiating; data goes both ways after."""
    async def go():
        c, crx, s, srx = await pair(pki, client_kw={"versions": ("tlsv1.2",)})
        before = s.engine.server_random()
        first, second = await asyncio.gather(s.renegotiate(), s.renegotiate())
        after = s.engine.server_random()
        s.write(b"from server")
        c.write(b"from client")
        await crx.wait_for(11)
        await srx.wait_for(11)
        for conn in (c, s):
            conn.close()
        return first, second, before != after, bytes(crx.data), bytes(srx.data)

    assert run(go()) == (None, "already_renegotiating", True, b"from server", b"from client")


def test_renegotiation_refused_by_peer_over_sockets(pki, monkeypatch):
    """The server declines with a no_renegotiation warning: renegotiate answers
    renegotiation_rejected (ssl_gen_statem:handle_alert/3). OpenSSL cannot go on
    after it (it sends handshake_failure): the owner is told of the failure, the
    connection ends, and later calls answer closed; nothing hangs."""
    from bridge.tls.context import build_context
    from bridge.tls.engine import TLSEngine
    from OpenSSL import SSL

    made = transport._engine

    def engine(cfg, peer=None):
        if cfg.role != "server":
            return made(cfg, peer)
        ctx = build_context(cfg)
        ctx.set_options(getattr(SSL, "OP_NO_RENEGOTIATION", 0x40000000))
        return TLSEngine(ctx, cfg)

    monkeypatch.setattr(transport, "_engine", engine)

    async def go():
        c, crx, s, srx = await pair(pki, client_kw={"versions": ("tlsv1.2",)})
        s.write(b"before")
        await crx.wait_for(6)
        r1 = await c.renegotiate()
        await c.wait_closed()
        await srx.eof.wait()
        r2 = await c.renegotiate()
        s.close()
        return r1, r2, c.state, crx, srx

    r1, r2, state, crx, srx = run(go())
    assert (r1, r2) == ("renegotiation_rejected", "closed")
    assert state is transport.ConnState.LOST
    assert bytes(crx.data) == b"before" and crx.events[-1] == "failed"
    assert _alert_name(crx.error) == "no_renegotiation"
    assert _alert_name(srx.error) == "handshake_failure"


def test_server_handshake_timeout_and_peer_gone(pki):
    async def go():
        a, b = socket.socketpair()
        with pytest.raises(asyncio.TimeoutError):
            await transport.accept_tls(a, scfg(pki), timeout=0.2, receiver=Collector())
        b.close()
        a2, b2 = socket.socketpair()
        b2.sendall(b"\x16\x03\x01\x00")     # a truncated ClientHello, then EOF
        b2.close()
        with pytest.raises((transport.TLSClosed, transport.TLSAlertError)):
            await transport.accept_tls(a2, scfg(pki), timeout=5, receiver=Collector())
        a3, b3 = socket.socketpair()
        b3.sendall(b"GET / HTTP/1.0\r\n\r\n")   # not TLS at all
        with pytest.raises(transport.TLSAlertError) as info:
            await transport.accept_tls(a3, scfg(pki), timeout=5, receiver=Collector())
        b3.close()
        return info.value

    err = run(go())
    assert _alert_text(err).startswith("TLS server: ") and err.sent


def test_context_error_is_raised_before_connecting(pki):
    async def go():
        with pytest.raises(transport.ContextError):
            await transport.open_client("127.0.0.1", 9, ccfg(pki, cipher_list="NOPE"), timeout=5,
                                        receiver=Collector())

    run(go())


def test_connection_states_follow_the_table(pki):
    """HANDSHAKING -> OPEN -> WRITE_SHUT -> CLOSING -> LOST on a real pair; the
    peer's end is a read-side fact, not a state; an illegal move is refused."""
    S = transport.ConnState

    async def go():
        c, crx, s, srx = await pair(pki)
        seen = [c.state]
        c.shutdown_write()
        seen.append(c.state)
        await asyncio.wait_for(srx.eof.wait(), 10)
        server_after_peer_eof = s.state       # the peer ended: s is still OPEN
        s.write(b"late")
        await crx.wait_for(4)
        s.close()
        c.close()
        seen.append(c.state)
        await asyncio.wait_for(c.wait_closed(), 10)
        seen.append(c.state)
        with pytest.raises(RuntimeError, match="illegal transition LOST -> OPEN"):
            c._set_state(S.OPEN)
        c.close()                              # idempotent once ended
        return seen, server_after_peer_eof, bytes(crx.data), c.write(b"x")

    seen, server_state, data, wrote = run(go())
    assert seen == [S.OPEN, S.WRITE_SHUT, S.CLOSING, S.LOST]
    assert server_state is S.OPEN
    assert data == b"late" and wrote is None


def test_failed_handshake_ends_closing_then_lost(pki):
    async def go():
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        b.close()                              # the peer is gone before the handshake
        proto = transport.TLSConnection(transport._engine(ccfg(pki)), Collector(), loop)
        assert proto.state is transport.ConnState.HANDSHAKING
        with pytest.raises((transport.TLSClosed, transport.TLSAlertError, OSError)):
            await transport._establish(
                proto, lambda: loop.connect_accepted_socket(lambda: proto, a), 10)
        await asyncio.wait_for(proto.wait_closed(), 10)
        return proto.state

    assert run(go()) is transport.ConnState.LOST


class Holder(Collector):
    """A receiver that ends a failed handshake's connection itself (the service's
    socket does, once its caller has the reply)."""

    def __init__(self):
        super().__init__()
        self.end = None

    def hold_end(self, end):
        self.end = end


def test_a_failed_handshake_is_ended_by_a_receiver_that_holds_it(pki):
    """The TCP connection stays until the receiver calls the end it was handed:
    the peer reads what the server sent and no EOF before that."""
    async def go():
        a, b = socket.socketpair()
        b.sendall(b"GET / HTTP/1.0\r\n\r\n")   # not TLS: the server answers an alert
        rx = Holder()
        with pytest.raises(transport.TLSAlertError):
            await transport.accept_tls(a, scfg(pki), timeout=5, receiver=rx)
        b.setblocking(False)
        got = b""
        while True:
            try:
                chunk = b.recv(4096)
            except BlockingIOError:
                break
            assert chunk, "EOF before the receiver ended the connection"
            got += chunk
        rx.end()
        eof = await asyncio.wait_for(asyncio.get_running_loop().sock_recv(b, 4096), 10)
        b.close()
        return got, eof

    got, eof = run(go())
    assert got[:1] in (b"", b"\x15")      # an alert record, if OpenSSL sends one
    assert eof == b""


def test_a_handshake_done_past_its_deadline_is_a_timeout(pki, monkeypatch):
    """ssl's handshake timeout is a message handled before a later flight: a
    handshake that completes once its deadline has passed ends {error, timeout}
    (asyncio.wait_for would return it). The clock jumps past the deadline while the
    handshake runs: no real waiting."""
    clock = iter([0.0])
    monkeypatch.setattr(transport, "_now", lambda: next(clock, 1000.0))

    async def go():
        loop = asyncio.get_running_loop()
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(1)
        lsock.setblocking(False)

        async def server():
            csock, _ = await loop.sock_accept(lsock)
            return await transport.accept_tls(csock, scfg(pki), timeout=30, receiver=Collector())

        task = asyncio.ensure_future(server())
        crx = Collector()
        c = await transport.open_client("127.0.0.1", lsock.getsockname()[1], ccfg(pki),
                                        timeout=None, receiver=crx)
        with pytest.raises(asyncio.TimeoutError):
            await task
        lsock.close()
        await asyncio.wait_for(crx.eof.wait(), 10)     # the server's end reaches the client
        c.close()

    run(go())
