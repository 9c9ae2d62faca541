"""Drive a TLS engine (``tls.engines.Engine``) over an asyncio TCP connection (the I/O edge of ``bridge.tls``).

Entry points (both raise ``OSError`` (e.g. ``ConnectionRefusedError``), ``TLSAlertError``,
``TLSClosed``, ``ContextError`` or ``asyncio.TimeoutError``; ``timeout`` bounds TCP connect
plus handshake, None = no limit)::

    conn = await open_client(host, port, cfg, timeout=..., receiver=r, local_addr=None)
    conn = await accept_tls(accepted_socket, cfg, timeout=..., receiver=r)

The *receiver* (the service's socket) gets ``data_received(bytes)``, ``eof_received()``
(close_notify or TCP close, after all data) and ``connection_failed(exc)`` (a
``TLSAlertError`` after the handshake, or ``TLSClosed``). All are called on the loop.
A receiver with ``hold_end(end)`` ends a failed handshake's connection itself, by
calling ``end()`` once it has answered (``TLSConnection._end_failed``).

``TLSConnection`` offers ``write(data)`` (never blocks; writes issued in the same loop
iteration are encrypted together: one TLS record stream and one ``send`` syscall for many
small messages — per write this is ~50x cheaper than a record each), ``drain()`` (waits
while the TCP write buffer is above the high-water mark), ``pause_reading()`` /
``resume_reading()``, ``shutdown(how)`` ("write" = close_notify + TCP half-close, "read",
"read_write"), ``shutdown_write()``, ``close()``, ``wait_closed()``, ``peername()``,
``sockname()``, ``socket()``, ``set_socket_option()``, ``renegotiate()``, ``engine``.

Handshake steps run inline on the loop, one step per flight received. With a
``verify_fun`` or ``sni_fun`` hook (which may block waiting for Erlang) they run on a thread pool
instead; while such a step runs the engine belongs to that thread: input is queued and
so are writes. Measured with ``bench/ssl_bench.py`` (2 cores, RSA-2048, TLS 1.3), the
pool cost more than it gave: the hand-off (executor queue, futures, waking the loop,
GIL hand-over) added ~0.6 ms of CPU per handshake, and the BEAM, the peers and the loop
leave no idle core for the signature to use. ``PYSSL_HANDSHAKE_POOL=1`` puts every
handshake on the pool again (for comparison). Records after the handshake are cheap
(about 2 ms per MB each way) and are processed inline on the loop.
"""
from __future__ import annotations

import asyncio
import enum
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

from . import hello
from .config import TLSConfig
from .context import ContextError
from .engine import RenegotiationError, TLSAlertError, TLSClosed
from .engines import Engine, make_engine
from .stats import UNCOUNTED, IOStats

# RFC 5246 7.2: the alert level and description a peer declines a renegotiation with
WARNING, NO_RENEGOTIATION = 1, 100

__all__ = ["TLSConnection", "TLSAlertError", "TLSClosed", "ContextError", "open_client", "accept_tls"]

CLOSE_LINGER = 5.0      # seconds a closed connection waits for the peer's FIN

_POOL_STEPS = os.environ.get("PYSSL_HANDSHAKE_POOL") == "1"
_POOL = ThreadPoolExecutor(max_workers=max(4, 2 * (os.cpu_count() or 1)),
                           thread_name_prefix="tls-handshake")


def set_handshake_workers(n: int) -> None:
    """Size the pool handshake steps with hooks run on (``workers`` in the bridge's
    config): how many handshakes may wait for an Erlang verify_fun/sni_fun/PSK
    lookup at once. Call before any connection is made."""
    global _POOL
    old, _POOL = _POOL, ThreadPoolExecutor(max_workers=n, thread_name_prefix="tls-handshake")
    old.shutdown(wait=False)


class _Done:
    """Stands for a finished handshake's future (``done()`` is all that is asked of it)."""
    __slots__ = ()

    def done(self) -> bool:
        return True

    def cancelled(self) -> bool:
        return False


_HANDSHAKE_DONE = _Done()


class ConnState(enum.Enum):
    """Where a TLS connection is (as asyncio's sslproto ``SSLProtocolState``)::

        HANDSHAKING -> OPEN -> WRITE_SHUT -> CLOSING -> LOST
        (and from any state before it: -> WRITE_SHUT, -> CLOSING, -> LOST)

    HANDSHAKING: TCP is up, the first handshake runs (writes are queued).
    OPEN: data both ways; a TLS 1.2 renegotiation happens within OPEN.
    WRITE_SHUT: our close_notify and TCP FIN are out (``shutdown_write``); reading goes on.
    CLOSING: closed by us: ``close()`` (close_notify, FIN, waiting for the peer's
    FIN for up to CLOSE_LINGER) or a failure (the transport closes at once).
    LOST: the TCP connection is gone (``connection_lost``); final.
    ``_TRANSITIONS`` is the table; ``_set_state`` refuses any other move."""
    HANDSHAKING = "handshaking"
    OPEN = "open"
    WRITE_SHUT = "write_shut"
    CLOSING = "closing"
    LOST = "lost"


_S = ConnState
_TRANSITIONS = {
    _S.HANDSHAKING: frozenset({_S.OPEN, _S.WRITE_SHUT, _S.CLOSING, _S.LOST}),
    _S.OPEN: frozenset({_S.WRITE_SHUT, _S.CLOSING, _S.LOST}),
    _S.WRITE_SHUT: frozenset({_S.CLOSING, _S.LOST}),
    _S.CLOSING: frozenset({_S.LOST}),
    _S.LOST: frozenset(),
}
_WRITABLE = frozenset({_S.HANDSHAKING, _S.OPEN})
_ENDING = frozenset({_S.CLOSING, _S.LOST})


class TLSConnection(asyncio.Protocol):
    # one per connection, most of them idle: no per-instance dict
    __slots__ = ("engine", "receiver", "loop", "transport", "handshake", "_pending",
                 "_stepping", "_wbuf", "_wscheduled", "_eof", "_state",
                 "_wrote_eof", "_read_shut", "_write_paused", "_drain_waiters",
                 "_lost_fut", "_tcp_eof", "_linger", "_drained_cbs", "stats", "counters",
                 "_hello_reader", "_held", "paused_hello")

    def __init__(self, engine: Engine, receiver, loop: asyncio.AbstractEventLoop):
        self.engine = engine
        self.receiver = receiver
        self.loop = loop
        self.transport: Optional[asyncio.Transport] = None
        self.handshake = loop.create_future()
        self._state = ConnState.HANDSHAKING
        self._pending: list[bytes] = []        # ciphertext received while a step runs
        # Facts that are not states of the connection, kept as flags:
        # a handshake step runs on the pool (the engine belongs to that thread), in
        # HANDSHAKING or for a renegotiation in OPEN/WRITE_SHUT
        self._stepping = False
        self._wbuf: list[bytes] = []           # plaintext written in this loop iteration
        self._wscheduled = False
        # the peer's end is finished and reported (once) to the receiver: the read
        # side, independent of ours (either side of a TLS stream may end first)
        self._eof = False
        # our TCP FIN is out: true in WRITE_SHUT and in a CLOSING that half-closed
        # (not in one that closed at once); nothing may be written after it
        self._wrote_eof = False
        # input is dropped (shutdown(read), or closing): also a read-side fact
        self._read_shut = False
        self._write_paused = False
        self._drain_waiters: list[asyncio.Future] = []
        self._lost_fut: Optional[asyncio.Future] = None   # made by wait_closed()
        self._tcp_eof = False                  # TCP FIN seen during the handshake
        self._linger: Optional[asyncio.TimerHandle] = None
        self._drained_cbs: Optional[list] = None       # when_drained() callbacks
        self.stats = IOStats()                 # the TCP socket's counters (ssl:getstat/2)
        # the bridge's totals (pyssl:stats/0): the receiver's service keeps them
        self.counters = getattr(receiver, "counters", None) or UNCOUNTED
        # client {handshake, hello}: the server's bytes are held from OpenSSL until
        # its ServerHello is complete; the handshake then pauses (paused_hello) until
        # resume()
        self._hello_reader: Optional[hello.HelloReader] = None
        self._held: list[bytes] = []
        self.paused_hello: Optional[hello.Hello] = None

    # ---- state ----------------------------------------------------------------------
    @property
    def state(self) -> ConnState:
        return self._state

    def _set_state(self, new: ConnState) -> None:
        """Move to ``new``; a move the table does not allow is a bug (RuntimeError)."""
        if new not in _TRANSITIONS[self._state]:
            raise RuntimeError(f"TLS connection: illegal transition {self._state.name} -> {new.name}")
        self._state = new

    # ---- asyncio.Protocol ---------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport
        self.counters.connections += 1
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        if self.engine.role == "client" or self._pending:
            self._step()          # a server's hello may have been read already (read_hello)

    def data_received(self, data: bytes) -> None:
        n = len(data)
        self.stats.received(n)
        self.counters.bytes_in += n
        if self._state is _S.CLOSING:
            return                  # closing: the peer's last records are of no interest
        if self._hello_reader is not None or self.paused_hello is not None:
            self._hold(data)
            return
        # while a handshake step runs on the pool the engine belongs to that thread
        if self._stepping or not self.engine.handshake_done:
            self._pending.append(data)
            if not self._stepping:
                self._step()
            return
        self.engine.receive_ciphertext(data)
        self._read()

    def _hold(self, data: bytes) -> None:
        """A pausing client's input: kept until the ServerHello is complete, then the
        handshake pauses; input that is no ServerHello goes to OpenSSL at once."""
        self._held.append(data)
        if self.paused_hello is not None:
            return
        try:
            got = self._hello_reader.feed(data)
        except hello.HelloError:
            self._hello_reader = None
            self._release_held()
            return
        if got is not None:
            self._hello_reader = None
            self.paused_hello = got
            if not self.handshake.done():
                self.handshake.set_result(self)

    def _release_held(self) -> None:
        self._pending.extend(self._held)
        self._held = []
        if not self._stepping:
            self._step()

    async def resume(self, timeout: Optional[float]) -> "TLSConnection":
        """Go on with a handshake paused after the ServerHello (``handshake_continue``)."""
        self.paused_hello = None
        self.handshake = self.loop.create_future()
        self._release_held()
        try:
            await asyncio.wait_for(self.handshake, timeout)
        except asyncio.CancelledError:      # closed by its owner: not a failure
            self._abort()
            raise
        except BaseException:
            self._end_failed()
            raise
        self.handshake = _HANDSHAKE_DONE
        return self

    def eof_received(self):
        if self._state is _S.CLOSING:
            return False            # closing and the peer is done too: close the socket
        if not self.engine.handshake_done or self._stepping:
            self._tcp_eof = True
            # an alert may still be waiting to be processed: let the running step finish
            if not self._stepping and not self._pending:
                if self._state is _S.HANDSHAKING:
                    self._handshake_eof()
                else:
                    self._renegotiation_stepped(False, None)
            return True
        self._peer_eof()
        return True  # keep our write side open: the owner may still send (half-close)

    def _peer_eof(self) -> None:
        self.engine.receive_eof()
        self._read()
        if not self._eof:
            self._eof = True
            self.receiver.eof_received()

    def _handshake_eof(self) -> None:
        if not self.handshake.done():
            self.handshake.set_exception(self.engine.failed or TLSClosed("peer closed during handshake"))

    def connection_lost(self, exc) -> None:
        self._finish("lost")

    def _finish(self, reason: str) -> None:
        """Every way the connection ends: "closed" (``close()``: close_notify, TCP
        half-close, linger for the peer's FIN), "aborted" (a failure: the transport
        closes at once) — both go to CLOSING — and "lost" (the TCP connection is
        gone, after either of those or on its own: LOST, everyone waiting is told)."""
        if reason == "closed":
            self._close_gracefully()
        elif reason == "aborted":
            if self._state not in _ENDING:
                self._set_state(_S.CLOSING)
            if self.transport is not None:
                self.transport.close()
        elif reason == "lost":
            self._on_lost()
        else:
            raise ValueError(f"unknown end {reason!r}")

    def _on_lost(self) -> None:
        closed_by_us = self._state is _S.CLOSING
        first_handshake = self._state is _S.HANDSHAKING
        if self._state is not _S.LOST:
            self._set_state(_S.LOST)
            if self.transport is not None:
                self.counters.connections_lost += 1
        if self._linger is not None:
            self._linger.cancel()
        if self._lost_fut is not None and not self._lost_fut.done():
            self._lost_fut.set_result(None)
        for w in self._drain_waiters:
            if not w.done():
                w.set_result(None)
        self._drain_waiters.clear()
        self._run_drained()
        lost = getattr(self.receiver, "connection_lost", None)
        if lost is not None:
            lost()
        if not self.handshake.done():
            if first_handshake:
                if not self._stepping and not self._pending:
                    self._handshake_eof()
                return
            if not self._stepping:          # a renegotiation ends with its connection
                self.handshake.set_exception(TLSClosed("connection lost during the renegotiation"))
        if not self._eof and not closed_by_us:
            self._eof = True
            self.receiver.eof_received()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        for w in self._drain_waiters:
            if not w.done():
                w.set_result(None)
        self._drain_waiters.clear()
        self._run_drained()

    def _run_drained(self) -> None:
        cbs, self._drained_cbs = self._drained_cbs, None
        if cbs:
            for cb in cbs:
                cb()

    # ---- handshake -----------------------------------------------------------------
    def _step(self) -> None:
        data = b"".join(self._pending)
        self._pending.clear()
        if not self.engine.cfg.blocking_hooks and not _POOL_STEPS:
            self._after_step(self._step_sync(data))
            return
        self._stepping = True
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
        except Exception as exc:      # a bug must not leave the handshake hanging
            done, err = False, TLSClosed(f"handshake step failed: {exc!r}")
        return done, err, eng.ciphertext_to_send()

    def _stepped(self, fut) -> None:
        self._stepping = False
        self._after_step(fut.result())

    def _after_step(self, result) -> None:
        done, err, out = result
        if out:
            self._send_raw(out)
        if self._state is not _S.HANDSHAKING:
            self._renegotiation_stepped(done, err)
            return
        if err is not None:
            if not self.handshake.done():
                self.handshake.set_exception(err)
                # the alert is out; the end waits for the receiver, as _establish's
                self._end_failed()
                return
            if isinstance(err, TLSAlertError):
                self.receiver.connection_failed(err)
            self._abort()
            return
        if done:
            if self._state is _S.HANDSHAKING:
                self._set_state(_S.OPEN)
            self._handshake_settled()
        elif self._pending:
            self._step()
        elif self._tcp_eof or self._state is _S.LOST:
            self._handshake_eof()

    def _handshake_settled(self) -> None:
        """The handshake, or a renegotiation, is done: its caller is answered, the
        bytes that came meanwhile go to the engine, the plaintext to the receiver
        (records that came with the last flight are already in OpenSSL), the writes
        that waited go out, and a TCP EOF seen meanwhile is acted on."""
        if not self.handshake.done():
            self.handshake.set_result(self)
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            self.engine.receive_ciphertext(data)
        self._read()
        if self._wbuf:
            self._flush_writes()
        if self._tcp_eof:
            self._peer_eof()

    def _renegotiation_stepped(self, done: bool, err) -> None:
        """After a step of a renegotiation (``renegotiate``): the application data
        that came with it goes to the receiver at once, as ssl's connection process
        delivers data in its handshake states too; then the end, if this was it.

        A failure is ssl's fatal alert in a renegotiation (``ssl_gen_statem:handle_alert``
        / ``handle_own_alert``): the owner is told (``connection_failed``, after the
        data), the connection ends, and the caller of renegotiate/1, whose call
        outlives the connection process, answers {error, closed} (``renegotiate``)."""
        if self._state in _ENDING:
            if not self.handshake.done():
                self.handshake.set_exception(err or TLSClosed("closed during the renegotiation"))
            return
        if err is not None:
            self._read()                       # the data before the failure, then it
            if not self._eof:
                self._eof = True
                self.receiver.connection_failed(err)
            if not self.handshake.done():
                self.handshake.set_exception(err)
            if self._state not in _ENDING:
                self.counters.connection_errors += 1
                self._abort()
            return
        if done:
            self._handshake_settled()
            return
        self._read()                           # what the engine kept (it reads nothing)
        if self._pending:
            self._step()
        elif self._tcp_eof:
            self._tcp_eof = False
            self._peer_eof()
            if not self.handshake.done():
                self.handshake.set_exception(TLSClosed("the peer closed during the renegotiation"))
            self._abort()

    # ---- data in ------------------------------------------------------------------
    def _read(self) -> None:
        eng = self.engine
        try:
            plain = eng.read_plaintext()
        except TLSAlertError as exc:
            self._flush()
            self._failed(exc)
            return
        self._flush()
        if eng.tickets:
            # session_tickets manual: the owner hears of a ticket before the data after it
            tickets, eng.tickets = eng.tickets, []
            sink = getattr(self.receiver, "tickets_received", None)
            if sink is not None:
                sink(tickets)
        if plain and not self._read_shut:
            self.receiver.data_received(plain)
        if eng.failed is not None:
            self._failed(eng.failed)
        elif eng.peer_closed and not self._eof:
            self._eof = True
            self.receiver.eof_received()

    def _failed(self, exc) -> None:
        self.counters.connection_errors += 1
        if not self._eof:
            self._eof = True
            self.receiver.connection_failed(exc)
        self._abort()

    # ---- data out -----------------------------------------------------------------
    def _send_raw(self, out: bytes) -> None:
        # after our TCP FIN nothing more can be sent (OpenSSL may still produce records,
        # e.g. a reply to the peer's close_notify): drop it
        if self._state is not _S.LOST and not self._wrote_eof and self.transport is not None:
            n = len(out)
            self.stats.sent(n)
            self.counters.bytes_out += n
            self.transport.write(out)

    def _flush(self) -> None:
        out = self.engine.ciphertext_to_send()
        if out:
            self._send_raw(out)

    def write(self, data) -> None:
        """Queue plaintext; it is encrypted and sent at the end of this loop iteration."""
        if self._state not in _WRITABLE:
            return
        self._wbuf.append(bytes(data))
        if not self._wscheduled:
            self._wscheduled = True
            self.loop.call_soon(self._flush_writes)

    def _flush_writes(self) -> None:
        self._wscheduled = False
        if not self._wbuf or self._stepping or self._state is _S.LOST:
            return                      # after the running step (see _stepped)
        data = self._wbuf[0] if len(self._wbuf) == 1 else b"".join(self._wbuf)
        self._wbuf.clear()
        try:
            self.engine.write_plaintext(data)
        except TLSAlertError as exc:
            self._flush()
            self._failed(exc)
            return
        self._flush()

    async def drain(self) -> None:
        """Wait until the TCP write buffer is below its high-water mark."""
        if self._wbuf:
            self._flush_writes()
        if self._write_paused and self._state is not _S.LOST:
            w = self.loop.create_future()
            self._drain_waiters.append(w)
            await w

    def write_paused(self) -> bool:
        """The TCP write buffer is above its high-water mark."""
        return self._write_paused and self._state is not _S.LOST

    def when_drained(self, callback) -> None:
        """``callback()`` once the TCP write buffer is below its high-water mark (at
        once if it is), or the connection is lost."""
        if not self.write_paused():
            callback()
            return
        if self._drained_cbs is None:
            self._drained_cbs = []
        self._drained_cbs.append(callback)

    def write_buffer_size(self) -> int:
        t = self.transport
        return (t.get_write_buffer_size() if t is not None and self._state is not _S.LOST else 0) + \
            sum(len(b) for b in self._wbuf)

    # ---- flow control and closing ----------------------------------------------------
    def is_closing(self) -> bool:
        return self._state in _ENDING or self.transport is None or self.transport.is_closing()

    def pause_reading(self) -> None:
        if self._state is not _S.LOST and self.transport is not None:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._state is not _S.LOST and self.transport is not None:
            self.transport.resume_reading()

    def shutdown_write(self) -> None:
        """close_notify, then TCP half-close; reading goes on."""
        if self._state is _S.LOST or self._wrote_eof or self.transport is None:
            return
        if self._wbuf:
            self._flush_writes()
        if self._stepping:
            return   # mid-renegotiation: too late for niceties; close() will follow
        self.engine.close()
        self._flush()
        if self.transport.can_write_eof():
            if self._state in _WRITABLE:
                self._set_state(_S.WRITE_SHUT)
            self._wrote_eof = True
            try:
                self.transport.write_eof()
            except OSError:         # the peer is already gone: reads will report it
                pass

    def shutdown(self, how: str) -> None:
        """``how``: "write" (close_notify + half-close), "read" (drop further input),
        "read_write" (both: a close)."""
        if how == "write":
            self.shutdown_write()
        elif how == "read":
            self._read_shut = True
        elif how == "read_write":
            self.close()
        else:
            raise ValueError(f"shutdown how must be read, write or read_write, not {how!r}")

    def close(self) -> None:
        """Send what is queued and a close_notify, then close gracefully like OTP's
        ``tls_gen_connection:close/5``: half-close TCP and discard input until the peer
        closes (or ``CLOSE_LINGER`` seconds pass). Closing at once would make the kernel
        answer late peer records with a RST, which destroys data the peer has not read yet."""
        self._finish("closed")

    def _close_gracefully(self) -> None:
        if self._state in _ENDING:
            self._read_shut = True
            return
        self._set_state(_S.CLOSING)
        self._read_shut = True
        if self.transport is None:
            return
        if self.engine.handshake_done and not self._stepping:
            if self._wbuf:
                self._flush_writes()
            self.engine.close()
            self._flush()
        t = self.transport
        if self._eof or not t.can_write_eof():
            t.close()
            return
        if not self._wrote_eof:
            self._wrote_eof = True
            try:
                t.write_eof()
            except OSError:         # the peer is already gone (ENOTCONN, reset)
                t.close()
                return
        t.resume_reading()
        self._linger = self.loop.call_later(CLOSE_LINGER, t.close)

    def _abort(self) -> None:
        self._finish("aborted")

    def _end_failed(self) -> None:
        """A failed handshake ends its connection. A receiver with ``hold_end(end)``
        (the service's socket) is handed the end instead, to run once it has answered
        its caller: ssl's connection process replies first and closes after
        (``ssl_gen_statem``'s ``stop_and_reply`` on the handshake timeout,
        ``handle_own_alert`` after sending the alert), so the peer must not see the
        TCP connection end before the caller could have its answer. Meanwhile nothing
        more is read: the handshake is over."""
        hold = getattr(self.receiver, "hold_end", None)
        if hold is None:
            self._abort()
            return
        if self.transport is not None and self._state not in _ENDING:
            self.transport.pause_reading()
        hold(self._abort)

    async def wait_closed(self) -> None:
        """Wait until the TCP connection is gone."""
        if self._state is _S.LOST:
            return
        if self._lost_fut is None:
            self._lost_fut = self.loop.create_future()
        await self._lost_fut

    # ---- socket -------------------------------------------------------------------
    def socket(self):
        return self.transport.get_extra_info("socket") if self.transport is not None else None

    def peername(self):
        return self.transport.get_extra_info("peername") if self.transport is not None else None

    def sockname(self):
        return self.transport.get_extra_info("sockname") if self.transport is not None else None

    def set_socket_option(self, level: int, option: int, value) -> None:
        """setsockopt on the TCP socket (raises OSError)."""
        sock = self.socket()
        if sock is None:
            raise OSError("not connected")
        sock.setsockopt(level, option, value)

    # ---- renegotiation --------------------------------------------------------------
    async def renegotiate(self, timeout: float = 30) -> Optional[str]:
        """A TLS 1.2 renegotiation: None once done, else why not: "closed", "notsup"
        (TLS 1.3) or "renegotiation_rejected" (``ssl:renegotiate/1``'s error reasons)."""
        eng = self.engine
        if self._state in _ENDING:
            return "closed"
        if eng.version == "tlsv1.3":
            return "notsup"
        if not self.handshake.done() or self._stepping:
            # ssl_gen_statem:handle_call(renegotiate, ...) out of the connection state
            return "already_renegotiating"
        if self._wbuf:
            self._flush_writes()
        try:
            eng.renegotiate()
        except RenegotiationError:
            return "renegotiation_rejected"
        self.handshake = self.loop.create_future()
        self._step()
        try:
            await asyncio.wait_for(asyncio.shield(self.handshake), timeout)
        except TLSAlertError as exc:
            if exc.code == NO_RENEGOTIATION and exc.level == WARNING and not exc.sent:
                # the peer declined (ssl_gen_statem:handle_alert/3, no_renegotiation
                # warning: {error, renegotiation_rejected}). ssl goes on with the
                # connection; OpenSSL cannot (ssl3_read_bytes makes the warning a fatal
                # handshake_failure), so this connection ends: docs/conformance.md
                return "renegotiation_rejected"
            return "closed"       # a fatal alert stops ssl's connection process mid-call
        except (TLSClosed, asyncio.TimeoutError):
            return "closed"
        return None


# the clock of a handshake's deadline (a test sets it)
_now = time.monotonic


def _engine(cfg: TLSConfig, peer: Optional[tuple] = None) -> Engine:
    # the engine of this connection's options (bridge.tls.engines); the
    # transport talks to either through the same interface
    return make_engine(cfg, peer)


async def _establish(proto: TLSConnection, connect, timeout: Optional[float]) -> TLSConnection:
    """Run ``connect()`` (which gives ``proto`` its transport) and the handshake within
    ``timeout``; on any failure the connection is ended (``_end_failed``: at once,
    or by the receiver after its reply)."""
    deadline = None if timeout is None else _now() + timeout
    try:
        # asyncio.timeout cancels this task when due (TimeoutError, as wait_for): no
        # task and no future of its own per handshake, as wait_for makes
        async with asyncio.timeout(timeout):
            await connect()
            conn = await proto.handshake
        if deadline is not None and _now() >= deadline:
            # ssl's handshake timeout ({timeout, handshake}, ssl_gen_statem) is a
            # message: once due it is handled before a flight that comes after it,
            # and the handshake ends {error, timeout}. The timeout lets through the
            # result of a handshake that completed in the loop step its timer fired
            # in (or after a step that held the loop past it): a
            # handshake_continue(S, O, 1) came back {ok, S} a third of the time,
            # where ssl never does
            raise asyncio.TimeoutError()
    except asyncio.CancelledError:         # closed by its owner: not a failure
        proto._abort()
        raise
    except BaseException:
        proto.counters.handshake_errors += 1
        proto._end_failed()
        raise
    proto.counters.handshakes += 1
    proto.handshake = _HANDSHAKE_DONE      # no future kept per idle connection
    return conn


async def open_client(host: str, port: int, cfg: TLSConfig, *, timeout: Optional[float],
                      receiver, local_addr=None, pause_hello: bool = False,
                      family: int = 0, dial: Optional[str] = None) -> TLSConnection:
    """TCP connect and TLS handshake as a client; ``pause_hello``: stop after the
    ServerHello (the connection's ``paused_hello``; ``resume`` goes on); ``family``:
    the addresses a name may resolve to (0: any); ``dial``: the address to connect
    to when known already (``host`` still names the sessions, as ssl's host_id)."""
    loop = asyncio.get_running_loop()
    proto = TLSConnection(_engine(cfg, (host, port)), receiver, loop)
    if pause_hello:
        proto._hello_reader = hello.HelloReader(hello.SERVER_HELLO)
    return await _establish(
        proto, lambda: loop.create_connection(lambda: proto, dial or host, port,
                                              local_addr=local_addr, family=family),
        timeout)


async def accept_tls(sock: socket.socket, cfg: TLSConfig, *, timeout: Optional[float],
                     receiver, initial: bytes = b"") -> TLSConnection:
    """TLS server handshake on an accepted TCP socket; ``initial``: what the
    client sent that was read before (``read_hello``)."""
    loop = asyncio.get_running_loop()
    proto = TLSConnection(_engine(cfg), receiver, loop)
    if initial:
        proto._pending.append(initial)
    return await _establish(proto, lambda: loop.connect_accepted_socket(lambda: proto, sock), timeout)


async def read_hello(sock: socket.socket, timeout: Optional[float]) -> hello.Hello:
    """Read an accepted socket's ClientHello, and nothing past its records
    (``{handshake, hello}``: the owner sees its extensions before OpenSSL runs).
    Raises ``hello.HelloError`` (not a hello), ``TLSClosed`` (the peer closed)
    or ``asyncio.TimeoutError``."""
    loop = asyncio.get_running_loop()
    reader = hello.HelloReader(hello.CLIENT_HELLO)

    async def run():
        while True:
            data = await loop.sock_recv(sock, 16384)
            if not data:
                raise TLSClosed("peer closed before its hello")
            try:
                got = reader.feed(data)
            except hello.HelloError as exc:
                exc.raw = reader.raw
                raise
            if got is not None:
                return got
    return await asyncio.wait_for(run(), timeout)


async def start_tls(attach, cfg: TLSConfig, *, timeout: Optional[float], receiver,
                    peer: Optional[tuple] = None) -> TLSConnection:
    """TLS handshake (as ``cfg.role``) over a transport that is not a local socket:
    ``attach(protocol)`` makes the transport and calls ``protocol.connection_made``
    (the relayed sockets of ``bridge.service.upgrade``); ``peer``: a client's
    (host, port), naming its sessions (bridge.tls.sessions)."""
    loop = asyncio.get_running_loop()
    proto = TLSConnection(_engine(cfg, peer), receiver, loop)

    async def connect():
        attach(proto)
    return await _establish(proto, connect, timeout)
