"""bridge.tls.transport against real TLS peers: `openssl s_server`/`s_client` and the BEAM's ssl."""
from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
import socket
import subprocess
import threading
import time

import pytest

from bridge.tls import transport
from bridge.tls.config import TLSConfig
from bridge.service.errors import tls_alert_parts


def _alert_name(err):
    return tls_alert_parts(err)[0]


def _alert_text(err):
    return tls_alert_parts(err)[1]

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI missing")

MB = 1 << 20
FLAG = {"tlsv1.2": "-tls1_2", "tlsv1.3": "-tls1_3"}


class Collector:
    """A transport receiver that keeps everything it gets."""

    def __init__(self):
        self.data = bytearray()
        self.eof = asyncio.Event()
        self.error = None

    def data_received(self, data: bytes) -> None:
        self.data += data

    def eof_received(self) -> None:
        self.eof.set()

    def connection_failed(self, exc) -> None:
        self.error = exc
        self.eof.set()


def client_cfg(pki, version, **kw) -> TLSConfig:
    kw.setdefault("verify", "verify_peer")
    kw.setdefault("cacerts", [pki.ca.der, pki.ec_ca.der])
    return TLSConfig(role="client", versions=(version,), server_name_indication="localhost",
                     hostname_check="localhost", **kw)


def server_cfg(pki, ident, **kw) -> TLSConfig:
    return TLSConfig(role="server", cert_chain=ident.chain_der, key_der=ident.key_der,
                     cacerts=[pki.ca.der, pki.ec_ca.der], **kw)


class SServer:
    """`openssl s_server` on 127.0.0.1 with a kernel-chosen port (read from its ACCEPT line)."""

    def __init__(self, ident, version, *extra, cwd=None):
        self.proc = subprocess.Popen(
            ["openssl", "s_server", "-accept", "127.0.0.1:0", "-cert", ident.cert_path,
             "-key", ident.key_path, FLAG[version], *extra],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd)
        line = b""
        while b"ACCEPT" not in line:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("s_server did not start: " + self.proc.stderr.read().decode())
        self.port = int(re.search(rb":(\d+)", line).group(1))
        # drain stdout from now on: s_server does not retry short writes to a full pipe
        self.out = bytearray()
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self):
        while chunk := self.proc.stdout.read1(1 << 16):
            self.out += chunk

    def finish(self, timeout=10) -> tuple[bytes, bytes]:
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.proc.stdin.close()
        self.reader.join(5)
        return bytes(self.out), self.proc.stderr.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.reader.join(5)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            f.close()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


# ---- our client -> openssl s_server ----------------------------------------------------------
@pytest.mark.parametrize("version", ["tlsv1.2", "tlsv1.3"])
@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_client_uploads_to_s_server(pki, version, kind):
    ident = pki.server if kind == "rsa" else pki.ec_server
    srv = SServer(ident, version, "-naccept", "1")
    payload = os.urandom(MB)

    async def go():
        rx = Collector()
        conn = await transport.open_client("127.0.0.1", srv.port, client_cfg(pki, version),
                                           timeout=10, receiver=rx)
        assert conn.engine.version == version
        assert conn.engine.peer_cert_der() == ident.der
        for i in range(0, MB, 64 * 1024):       # many writes, like a chatty owner
            conn.write(payload[i:i + 64 * 1024])
        await asyncio.sleep(0)
        conn.close()
        await conn.wait_closed()

    try:
        run(go())
        out, _ = srv.finish()
    finally:
        srv.stop()
    start = out.find(payload[:64])
    assert start >= 0, out[-2000:]
    assert hashlib.sha256(out[start:start + MB]).hexdigest() == hashlib.sha256(payload).hexdigest()


@pytest.mark.parametrize("version", ["tlsv1.2", "tlsv1.3"])
def test_client_downloads_from_s_server(pki, version, tmp_path):
    payload = os.urandom(MB)
    (tmp_path / "blob").write_bytes(payload)
    srv = SServer(pki.server, version, "-WWW", "-naccept", "1", cwd=tmp_path)

    async def go():
        rx = Collector()
        conn = await transport.open_client("127.0.0.1", srv.port, client_cfg(pki, version),
                                           timeout=10, receiver=rx)
        conn.write(b"GET /blob HTTP/1.0\r\n\r\n")
        await asyncio.wait_for(rx.eof.wait(), 20)
        conn.close()
        return rx

    try:
        rx = run(go())
    finally:
        srv.stop()
    assert rx.error is None
    head, _, body = bytes(rx.data).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200")
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(payload).hexdigest()


def test_client_rejects_s_server_from_unknown_ca(pki):
    srv = SServer(pki.foreign, "tlsv1.3", "-naccept", "1")

    async def go():
        with pytest.raises(transport.TLSAlertError) as info:
            await transport.open_client("127.0.0.1", srv.port, client_cfg(pki, "tlsv1.3"),
                                        timeout=10, receiver=Collector())
        return info.value

    try:
        err = run(go())
        _, serr = srv.finish()
    finally:
        srv.stop()
    assert _alert_name(err) == "unknown_ca" and err.sent
    assert _alert_text(err).startswith("TLS client: ")
    assert b"unknown ca" in serr.lower()


def test_version_mismatch_with_s_server(pki):
    srv = SServer(pki.server, "tlsv1.2", "-naccept", "1")

    async def go():
        with pytest.raises(transport.TLSAlertError) as info:
            await transport.open_client("127.0.0.1", srv.port, client_cfg(pki, "tlsv1.3"),
                                        timeout=10, receiver=Collector())
        return info.value

    try:
        err = run(go())
    finally:
        srv.stop()
    assert _alert_name(err) == "protocol_version"
    assert not err.sent and "received SERVER ALERT" in _alert_text(err)


# ---- openssl s_client -> our server ---------------------------------------------------------
async def _serve_once(cfg, handler):
    """Listen on 127.0.0.1:0; accept one TCP connection, run the TLS server handshake on it
    and hand the connection to ``handler``. Returns (port, task)."""
    loop = asyncio.get_running_loop()
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    lsock.setblocking(False)
    port = lsock.getsockname()[1]

    async def serve():
        try:
            csock, _ = await loop.sock_accept(lsock)
        finally:
            lsock.close()
        rx = Collector()
        try:
            conn = await transport.accept_tls(csock, cfg, timeout=10, receiver=rx)
        except Exception as exc:
            return exc
        return await handler(conn, rx)

    return port, asyncio.ensure_future(serve())


async def _s_client(port, version, *extra, stdin=b""):
    proc = await asyncio.create_subprocess_exec(
        "openssl", "s_client", "-connect", f"127.0.0.1:{port}", FLAG[version], "-quiet", *extra,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate(stdin)
    return proc.returncode, out, err


@pytest.mark.parametrize("version", ["tlsv1.2", "tlsv1.3"])
@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_s_client_to_our_server(pki, version, kind):
    ident = pki.server if kind == "rsa" else pki.ec_server
    upload, download = os.urandom(MB), os.urandom(MB)

    async def handler(conn, rx):
        while len(rx.data) < MB and not rx.eof.is_set():
            await asyncio.sleep(0.01)
        info = (conn.engine.version, bytes(rx.data))
        conn.write(download)
        conn.close()
        await conn.wait_closed()
        return info

    async def go():
        port, task = await _serve_once(server_cfg(pki, ident), handler)
        ca = pki.ca.cert_path if kind == "rsa" else pki.ec_ca.cert_path
        rc, out, err = await _s_client(port, version, "-CAfile", ca, "-verify_return_error",
                                       "-servername", "localhost", stdin=upload)
        return await task, rc, out, err

    (ver, got), rc, out, err = run(go())
    assert ver == version
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(upload).hexdigest()
    assert hashlib.sha256(out).hexdigest() == hashlib.sha256(download).hexdigest(), err[-500:]


def test_s_client_with_client_cert(pki):
    async def handler(conn, rx):
        der = conn.engine.peer_cert_der()
        conn.close()
        return der

    async def go():
        cfg = server_cfg(pki, pki.server, verify="verify_peer", fail_if_no_peer_cert=True)
        port, task = await _serve_once(cfg, handler)
        await _s_client(port, "tlsv1.3", "-CAfile", pki.ca.cert_path, "-cert", pki.client.cert_path,
                        "-key", pki.client.key_path)
        return await task

    assert run(go()) == pki.client.der


def test_s_client_without_cert_is_refused(pki):
    async def handler(conn, rx):
        return "unexpected success"

    async def go():
        cfg = server_cfg(pki, pki.server, verify="verify_peer", fail_if_no_peer_cert=True,
                         versions=("tlsv1.2",))
        port, task = await _serve_once(cfg, handler)
        await _s_client(port, "tlsv1.2", "-CAfile", pki.ca.cert_path)
        return await task

    err = run(go())
    assert isinstance(err, transport.TLSAlertError)
    assert _alert_name(err) == "handshake_failure" and _alert_text(err).startswith("TLS server: ")


def test_s_client_rejecting_our_certificate(pki):
    async def handler(conn, rx):
        return "unexpected success"

    async def go():
        port, task = await _serve_once(server_cfg(pki, pki.server), handler)
        await _s_client(port, "tlsv1.3", "-CAfile", pki.other_ca.cert_path, "-verify_return_error")
        return await task

    err = run(go())
    assert isinstance(err, transport.TLSAlertError)
    assert _alert_name(err) == "unknown_ca" and not err.sent
    assert _alert_text(err).startswith("TLS server: In state ") and "received CLIENT ALERT" in _alert_text(err)


def test_handshake_timeout_against_silent_peer(pki):
    async def go():
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(1)
        try:
            t0 = time.monotonic()
            with pytest.raises(asyncio.TimeoutError):
                await transport.open_client("127.0.0.1", lsock.getsockname()[1],
                                            client_cfg(pki, "tlsv1.3"), timeout=0.3, receiver=Collector())
            return time.monotonic() - t0
        finally:
            lsock.close()

    run(go())


def test_connection_refused(pki):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()

    async def go():
        with pytest.raises(ConnectionRefusedError):
            await transport.open_client("127.0.0.1", port, client_cfg(pki, "tlsv1.3"), timeout=5,
                                        receiver=Collector())

    run(go())


# ---- the BEAM's ssl ---------------------------------------------------------------------------
_ERL_SERVER = """
{ok, _} = application:ensure_all_started(ssl),
[Cert, Key, Vsn] = init:get_plain_arguments(),
{ok, L} = ssl:listen(0, [{certfile, Cert}, {keyfile, Key}, {versions, [list_to_atom(Vsn)]},
                         binary, {active, false}, {reuseaddr, true}, {ip, {127,0,0,1}}]),
{ok, {_, Port}} = ssl:sockname(L),
io:format("PORT ~p~n", [Port]),
{ok, T} = ssl:transport_accept(L, 20000),
{ok, S} = ssl:handshake(T, 20000),
Recv = fun Loop(Acc, 0) -> Acc;
           Loop(Acc, N) -> {ok, D} = ssl:recv(S, 0, 20000), Loop([Acc, D], N - byte_size(D)) end,
Data = iolist_to_binary(Recv([], 1048576)),
ok = ssl:send(S, crypto:hash(sha256, Data)),
ok = ssl:send(S, binary:copy(<<7>>, 1048576)),
ok = ssl:close(S),
halt(0).
"""


@pytest.mark.skipif(shutil.which("erl") is None, reason="erl missing")
@pytest.mark.parametrize("version", ["tlsv1.2", "tlsv1.3"])
def test_client_against_beam_ssl_server(pki, version):
    proc = subprocess.Popen(["erl", "-noshell", "-eval", _ERL_SERVER, "-extra", pki.ec_server.cert_path,
                             pki.ec_server.key_path, version],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        line = b""
        while not line.startswith(b"PORT "):
            line = proc.stdout.readline()
            assert line, "erl ssl server did not start"
        port = int(line.split()[1])
        payload = os.urandom(MB)

        async def go():
            rx = Collector()
            conn = await transport.open_client("127.0.0.1", port, client_cfg(pki, version),
                                               timeout=20, receiver=rx)
            conn.write(payload)
            await asyncio.wait_for(rx.eof.wait(), 20)
            conn.close()
            return conn.engine.version, rx

        ver, rx = run(go())
        assert ver == version
        assert rx.error is None
        assert bytes(rx.data[:32]) == hashlib.sha256(payload).digest()
        assert bytes(rx.data[32:]) == b"\x07" * MB
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
