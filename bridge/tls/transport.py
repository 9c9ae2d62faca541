"""Drive a ``TLSEngine`` over an asyncio TCP connection (the I/O edge of ``bridge.tls``).

The handshake runs on a thread pool, one step at a time, because it is where
OpenSSL spends its CPU (signatures, key exchange) — OpenSSL releases the GIL, so
handshakes use every core — and because a verification hook may block waiting for
Erlang. Records after the handshake are cheap and are processed on the loop.

A *receiver* (the service's socket) gets ``data_received(bytes)``,
``eof_received()`` and ``connection_failed(exc)``.
"""
from __future__ import annotations

import asyncio
import os
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

from OpenSSL import SSL

from .config import TLSConfig
from .context import CONTEXTS, ContextError
from .engine import TLSAlertError, TLSClosed, TLSEngine

__all__ = ["TLSConnection", "TLSAlertError", "TLSClosed", "ContextError", "open_client", "accept_tls"]

_POOL = ThreadPoolExecutor(max_workers=max(4, 2 * (os.cpu_count() or 1)),
                           thread_name_prefix="tls-handshake")


class TLSConnection(asyncio.Protocol):
    def __init__(self, engine: TLSEngine, receiver, loop: asyncio.AbstractEventLoop):
        self.engine = engine
        self.receiver = receiver
        self.loop = loop
        self.transport: Optional[asyncio.Transport] = None
        self.handshake = loop.create_future()
        self._pending: list[bytes] = []
        self._stepping = False
        self._eof = False
        self._closed = False
        self._lost = False

    # ---- asyncio.Protocol ---------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        if self.engine.role == "client":
            self._step()

    def data_received(self, data: bytes) -> None:
        if not self.engine.handshake_done:
            self._pending.append(data)
            if not self._stepping:
                self._step()
            return
        eng = self.engine
        eng.receive_ciphertext(data)
        self._read()

    def eof_received(self):
        self._eof = True
        if not self.engine.handshake_done:
            if not self.handshake.done():
                self.handshake.set_exception(self.engine.failed or TLSClosed("peer closed during handshake"))
            return False
        self.engine.receive_eof()
        self._read()
        self.receiver.eof_received()
        return True  # keep our write side open: the owner may still send (half-close)

    def connection_lost(self, exc) -> None:
        self._lost = True
        if not self.handshake.done():
            self.handshake.set_exception(self.engine.failed or TLSClosed(f"connection lost: {exc}"))
            return
        if not self._eof and not self._closed:
            self.receiver.eof_received()

    # ---- handshake -----------------------------------------------------------------
    def _step(self) -> None:
        self._stepping = True
        data = b"".join(self._pending)
        self._pending.clear()
        fut = self.loop.run_in_executor(_POOL, self._step_sync, data)
        fut.add_done_callback(self._stepped)

    def _step_sync(self, data: bytes):
        eng = self.engine
        if data:
            eng.receive_ciphertext(data)
        try:
            done = eng.do_handshake()
            err = None
        except TLSAlertError as exc:
            done, err = False, exc
        return done, err, eng.ciphertext_to_send()

    def _stepped(self, fut) -> None:
        self._stepping = False
        done, err, out = fut.result()
        if out and not self._lost:
            self.transport.write(out)
        if err is not None:
            if not self.handshake.done():
                self.handshake.set_exception(err)
            self._abort()
            return
        if done:
            if not self.handshake.done():
                self.handshake.set_result(self)
            if self._pending:
                data = b"".join(self._pending)
                self._pending.clear()
                self.engine.receive_ciphertext(data)
                self._read()
        elif self._pending:
            self._step()

    # ---- data ---------------------------------------------------------------------
    def _read(self) -> None:
        eng = self.engine
        try:
            plain = eng.read_plaintext()
        except TLSAlertError as exc:
            self._flush()
            self.receiver.connection_failed(exc)
            self._abort()
            return
        self._flush()
        if plain:
            self.receiver.data_received(plain)
        if eng.failed is not None:
            self.receiver.connection_failed(eng.failed)
            self._abort()
        elif eng.peer_closed and not self._eof:
            self._eof = True
            self.receiver.eof_received()

    def _flush(self) -> None:
        out = self.engine.ciphertext_to_send()
        if out and not self._lost:
            self.transport.write(out)

    def write(self, data: bytes) -> None:
        if self._closed or self._lost:
            return
        try:
            self.engine.write_plaintext(data)
        except TLSAlertError as exc:
            self.receiver.connection_failed(exc)
            self._abort()
            return
        except SSL.WantReadError:
            pass
        self._flush()

    def is_closing(self) -> bool:
        return self._closed or self._lost or self.transport is None or self.transport.is_closing()

    def pause_reading(self) -> None:
        if not self._lost:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if not self._lost:
            self.transport.resume_reading()

    def socket(self):
        return self.transport.get_extra_info("socket") if self.transport is not None else None

    def shutdown_write(self) -> None:
        if self._lost:
            return
        self.engine.close()
        self._flush()
        if self.transport.can_write_eof():
            self.transport.write_eof()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if not self._lost and self.transport is not None:
            if self.engine.handshake_done:
                self.engine.close()
                self._flush()
            self.transport.close()

    def _abort(self) -> None:
        self._closed = True
        if self.transport is not None:
            self.transport.close()

    async def renegotiate(self):
        from bridge.etf.types import Atom
        eng = self.engine
        if eng.version == "tlsv1.3":
            return (Atom("error"), Atom("notsup"))
        if not eng.renegotiate():
            return (Atom("error"), Atom("renegotiation_rejected"))
        eng.handshake_done = False
        self.handshake = self.loop.create_future()
        self._step()
        try:
            await asyncio.wait_for(asyncio.shield(self.handshake), 30)
        except TLSAlertError:
            return (Atom("error"), Atom("renegotiation_rejected"))
        except (TLSClosed, asyncio.TimeoutError):
            return (Atom("error"), Atom("closed"))
        return Atom("ok")


def _engine(cfg: TLSConfig) -> TLSEngine:
    return TLSEngine(CONTEXTS.get(cfg), cfg)


async def open_client(host: str, port: int, cfg: TLSConfig, *, timeout: Optional[float],
                      receiver, local_addr=None) -> TLSConnection:
    """TCP connect and TLS handshake as a client. Raises OSError, TLSAlertError,
    TLSClosed, ContextError or asyncio.TimeoutError."""
    loop = asyncio.get_running_loop()
    engine = _engine(cfg)
    proto = TLSConnection(engine, receiver, loop)

    async def run():
        await loop.create_connection(lambda: proto, host, port, local_addr=local_addr)
        return await proto.handshake

    try:
        return await asyncio.wait_for(run(), timeout)
    except BaseException:
        proto._abort()
        raise


async def accept_tls(sock: socket.socket, cfg: TLSConfig, *, timeout: Optional[float],
                     receiver) -> TLSConnection:
    """TLS server handshake on an accepted TCP socket."""
    loop = asyncio.get_running_loop()
    engine = _engine(cfg)
    proto = TLSConnection(engine, receiver, loop)

    async def run():
        await loop.connect_accepted_socket(lambda: proto, sock)
        return await proto.handshake

    try:
        return await asyncio.wait_for(run(), timeout)
    except BaseException:
        proto._abort()
        raise
