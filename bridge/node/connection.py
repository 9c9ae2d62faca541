"""One distribution connection (asyncio edge): the handshake as acceptor or
initiator, then framed control messages handed to the node in arrival order.

Large bodies are decoded, and large messages encoded, on CODEC_POOL so a caller's
huge term never holds the event loop (docs/architecture.md, "Robustness rules");
the connection's later events wait behind them so nothing is reordered.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import socket
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional, Protocol

from bridge.etf.codec import EncodeBudgetExceeded
from bridge.etf.types import Atom, Pid, Reference

from .handshake import Acceptor, HandshakeError, Initiator
from .protocol import (DEMONITOR_P, EXIT, EXIT2, LINK, MONITOR_P, MONITOR_P_EXIT, PIECE, REG_SEND,
                       SEND, SEND_SENDER, SPAWN_REQUEST, TICK, UNLINK, UNLINK_ID, UNLINK_ID_ACK,
                       BadMessage, Framer, FramingError, LargeBody, encode_frame)

log = logging.getLogger("bridge.node")


class ConnectionOwner(Protocol):
    """What a Connection needs of the node that owns it: its identity for the
    handshake, and where to hand the connection and its control messages.
    ``node.Node`` is the one implementation; naming the interface here keeps this
    module from importing the node (they would be one cycle otherwise)."""

    name: Atom
    cookie: str
    creation: int
    handshake_timeout: float
    # control tag -> handler(owner, connection, control tuple, payload)
    _control_handlers: dict[int, Callable]

    def _accept_decision(self, peer_name: str) -> str: ...

    def _register_connection(self, conn: "Connection") -> bool: ...

    def _connection_lost(self, conn: "Connection") -> None: ...

# Frame bodies over this many bytes are decoded on CODEC_POOL, off the event loop
# (see Framer): 64 KiB sends with their envelope stay inline, where a thread hop
# would cost more than the decode.
INLINE_DECODE_MAX = 128 * 1024
# A message whose encoding would take more than about this many element steps is
# encoded on CODEC_POOL instead (a reply holding a caller's 64 MiB option value
# takes ~1 s); what the loop spends before it knows is bounded by the same number.
ENCODE_BUDGET = 1 << 14
# Its own threads: the default executor also runs TLS handshake steps that wait for
# Erlang hooks, and codec work must never queue behind those.
CODEC_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="dist-codec")


# The classes of a control message's fields after its tag (None: any term), for
# those the handlers use as dict keys or set members: a field of another class is
# a malformed signal, dropped before anything hashes it (hashing a tuple nested a
# million deep overflows CPython's C stack; erts would kill the channel). The
# target of MONITOR_P/DEMONITOR_P may be a pid or a name: their handlers check it.
_FIELDS = {
    LINK: (Pid, Pid), SEND: (None, Pid), EXIT: (Pid, Pid, None), UNLINK: (Pid, Pid),
    REG_SEND: (Pid, None, Atom), EXIT2: (Pid, Pid, None),
    MONITOR_P: (Pid, None, Reference), DEMONITOR_P: (Pid, None, Reference),
    MONITOR_P_EXIT: (None, Pid, Reference, None), SEND_SENDER: (Pid, Pid),
    SPAWN_REQUEST: (Reference, Pid, None, None, None),
    UNLINK_ID: (None, Pid, Pid), UNLINK_ID_ACK: (None, Pid, Pid),
}


def _field_check(spec: tuple) -> Callable[[tuple], bool]:
    """The check of one tag's fields, made once: it runs for every control message
    (a generic loop over the spec was ~4% of a bridge call's Python)."""
    size = len(spec) + 1
    checks = tuple((i + 1, want) for i, want in enumerate(spec) if want is not None)
    if len(checks) == 2:
        (i, a), (j, b) = checks
        return lambda ctl: len(ctl) == size and ctl[i].__class__ is a and ctl[j].__class__ is b
    return lambda ctl: len(ctl) == size and all(ctl[i].__class__ is want for i, want in checks)


_CHECKS = {tag: _field_check(spec) for tag, spec in _FIELDS.items()}


def _fields_ok(ctl: tuple) -> bool:
    check = _CHECKS.get(ctl[0])
    return check is None or check(ctl)


def _slices(pieces: list) -> deque:
    """The pieces of a big frame as writes of at most about 2 PIECEs each (a big
    part, such as a 64 MiB binary, in memoryview slices: no copy)."""
    out: deque = deque()
    for p in pieces:
        n = len(p)
        if n <= 2 * PIECE:
            out.append(p)
        else:
            mv = memoryview(p)
            out.extend(mv[i:i + PIECE] for i in range(0, n, PIECE))
    return out


def _consume(fut: asyncio.Future) -> None:
    if not fut.cancelled():
        fut.exception()


class Connection(asyncio.Protocol):
    """One distribution connection: handshake, then framed control messages."""

    def __init__(self, node: ConnectionOwner, *, initiator_for: Optional[str] = None,
                 hs_header: int = 2):
        self.node = node
        self.transport: Optional[asyncio.Transport] = None
        self.peer: Optional[Atom] = None
        self.flags = 0
        self.ready = asyncio.get_running_loop().create_future()
        if initiator_for is not None:
            self.hs = Initiator(node.name.name, node.cookie, node.creation, initiator_for,
                                header=hs_header)
        else:
            self.hs = Acceptor(node.name.name, node.cookie, node.creation, node._accept_decision,
                               header=hs_header)
            # nobody awaits an acceptor's: its failure (a bad cookie, a port scanner)
            # is logged by _fail, not again as "Future exception was never retrieved"
            self.ready.add_done_callback(_consume)
        self.framer: Optional[Framer] = None
        self.last_recv = time.monotonic()
        self.last_send = time.monotonic()
        self.tick_interval: Optional[float] = None   # shortest idle gap seen from the peer
        self.peer_ticktime: Optional[float] = None   # the peer's net_ticktime, asked via rex
        self._last_tick_seen: Optional[float] = None
        self.closed = False
        self._hs_timer = None
        # While the frames of one read are handled, outgoing frames are collected
        # and written with one syscall at the end (replies, spawn reply + DOWN...).
        self._corked: Optional[list] = None
        # Events that arrived behind a LargeBody being decoded off the loop; reading
        # is paused until they are all handled, so signals keep their order.
        self._waiting: Optional[deque] = None
        # Outgoing frames behind one being encoded off the loop (a future in the
        # deque) or a big one being written in pieces: written in order (``_pump``).
        self._out: Optional[deque] = None
        self._write_paused = False      # the transport is over its high-water mark
        self._yielding = False          # reading paused until the next loop iteration
        # the node's BusyPoll (node.busy_poll), kicked by this connection's traffic
        busy = getattr(node, "busy_poll", None)
        self._kick = busy.kick if busy is not None and busy.window else None

    # -- asyncio.Protocol
    def connection_made(self, transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        self._flush_hs()
        self._hs_timer = asyncio.get_running_loop().call_later(
            self.node.handshake_timeout, self._handshake_timeout)

    def _handshake_timeout(self) -> None:
        if self.framer is None:
            self._fail(HandshakeError("handshake timed out"))

    def data_received(self, data: bytes) -> None:
        self.last_recv = time.monotonic()
        if self.framer is not None:
            self._frames(data)
            if self._kick is not None:      # the caller's next request may come soon
                self._kick()
            return
        try:
            self.hs.receive(data)
        except HandshakeError as exc:
            self._flush_hs()
            self._fail(exc)
            return
        self._flush_hs()
        if self.hs.done:
            self._established()

    def _flush_hs(self) -> None:
        out = self.hs.data_to_send()
        if out and self.transport is not None:
            self.transport.write(out)

    def _fail(self, exc: Exception) -> None:
        log.warning("distribution handshake with %s failed: %s", self.hs.peer_name or "?", exc)
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(str(exc)))
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _established(self) -> None:
        if self._hs_timer is not None:
            self._hs_timer.cancel()
        self.peer = Atom(self.hs.peer_name)
        self.flags = self.hs.flags
        self.framer = Framer(inline_max=INLINE_DECODE_MAX)
        leftover = self.hs.leftover
        if not self.node._register_connection(self):
            self._fail(HandshakeError(f"duplicate connection to {self.peer.name}"))
            return
        log.info("connected to %s", self.peer.name)
        if not self.ready.done():
            self.ready.set_result(self)
        if leftover:
            self._frames(leftover)

    def _frames(self, data: bytes) -> None:
        try:
            events = self.framer.feed(data)
        except FramingError as exc:
            log.error("broken distribution stream from %s: %s", self.peer, exc)
            self.transport.close()
            return
        if self.framer.receiving_big and not self._yielding:
            # one read per loop iteration while a big body comes in: the transport
            # reads up to 32 times per wake-up (8 MiB), each into fresh memory,
            # and on a VM whose pages are touched the first time that held the
            # loop ~45 ms per wake-up
            self._yielding = True
            self.transport.pause_reading()
            asyncio.get_running_loop().call_soon(self._read_on)
        if self._waiting is not None:   # behind a large body still being decoded
            self._waiting.extend(events)
            return
        self._handle_corked(events, self.last_recv)

    def _read_on(self) -> None:
        self._yielding = False
        if not self.closed and self._waiting is None:   # else _decoded resumes
            self.transport.resume_reading()

    def _handle_corked(self, events, now: float) -> None:
        self._corked = corked = []
        try:
            self._handle_events(events, now)
        finally:
            self._corked = None
            if corked and not self.closed:
                self.transport.write(b"".join(corked) if len(corked) > 1 else corked[0])
                self.last_send = time.monotonic()
            if self._out is not None:   # a big frame, or frames behind an encoding
                self._pump()

    def _handle_events(self, events, now: float) -> None:
        node = self.node
        handlers = node._control_handlers
        for i, ev in enumerate(events):
            if self.closed:
                return
            if ev is None:
                if self._last_tick_seen is not None:
                    gap = now - self._last_tick_seen
                    if gap > 0.05 and (self.tick_interval is None or gap < self.tick_interval):
                        self.tick_interval = gap
                self._last_tick_seen = now
            elif ev.__class__ is LargeBody:
                self._decode_off_loop(ev, events[i + 1:])
                return
            elif ev.__class__ is BadMessage:
                # erts kills the channel on a message it cannot decode: the peer is
                # broken, and dropping the message silently could leave a caller
                # waiting forever for the reply to it
                log.error("invalid data on the distribution channel from %s, closing it: %s",
                          self.peer, ev.error)
                self.closed = True
                self.transport.abort()
                return
            else:
                ctl, payload = ev
                handler = handlers.get(ctl[0])
                if handler is None:
                    log.debug("ignoring control message %d from %s", ctl[0], self.peer)
                    continue
                if not _fields_ok(ctl):
                    log.warning("malformed control message %d from %s dropped", ctl[0], self.peer)
                    continue
                try:
                    handler(node, self, ctl, payload)
                except Exception:   # one bad signal must not take the connection down
                    log.exception("error handling %r from %s", ctl[:1], self.peer)

    def _decode_off_loop(self, large: LargeBody, rest) -> None:
        """Decode a large body on CODEC_POOL; this connection's later events (``rest``,
        and all it reads meanwhile) wait, so that nothing overtakes it."""
        self._waiting = deque(rest)
        if self.transport.is_reading():
            self.transport.pause_reading()
        fut = asyncio.get_running_loop().run_in_executor(CODEC_POOL, large.event)
        fut.add_done_callback(self._decoded)

    def _decoded(self, fut: asyncio.Future) -> None:
        if self.closed:
            return
        try:
            event = fut.result()
        except Exception as exc:   # FramingError (not a 'p' frame), MemoryError...
            event = BadMessage(exc, b"")
        events = [event]
        events += self._waiting
        self._waiting = None
        self._handle_corked(events, time.monotonic())
        if self._waiting is None and not self.closed and not self._yielding:
            self.transport.resume_reading()

    def connection_lost(self, exc) -> None:
        self.closed = True
        if self._hs_timer is not None:
            self._hs_timer.cancel()
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"connection lost during handshake: {exc}"))
        self.node._connection_lost(self)

    # -- sending
    # Writing: a frame is ``bytes``, or for a big one a ``list`` of pieces
    # (``encode_frame``). Frames behind a big one or behind one still being encoded
    # (a future) wait in ``_out``, in order; a big one is written a piece at a time
    # while the transport is not over its high-water mark (``pause_writing``), so
    # no single write copies more than a piece (128 MiB in one call held the loop
    # ~50 ms) and the loop serves everyone else between pieces.
    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._out is not None:
            self._pump()

    def send_frame(self, frame) -> None:
        if self.closed:
            return
        if self._out is not None:       # behind a big frame or one still being encoded
            self._out.append(frame)
            return
        if frame.__class__ is list:
            self._out = deque((frame,))
            if self._corked is None:    # else written after the corked ones
                self._pump()
            return
        if self._corked is not None:
            self._corked.append(frame)
            return
        self.transport.write(frame)
        self.last_send = time.monotonic()
        if self._kick is not None:          # a reply: its caller's next request may come soon
            self._kick()

    def send_control(self, control: tuple, payload=None, has_payload=False,
                     fallback=None) -> None:
        """Encode and send; raises ETFEncodeError for a term with no external form,
        found while the encoding stays within ENCODE_BUDGET on the loop. Found past
        it, on CODEC_POOL, the message is dropped and logged, or with ``fallback``
        given, ``fallback`` is sent in its place (a reply: the caller must still
        get one answer)."""
        try:
            frame = encode_frame(control, payload, has_payload=has_payload, budget=ENCODE_BUDGET)
        except EncodeBudgetExceeded:
            self._encode_off_loop(control, payload, has_payload, fallback)
            return
        self.send_frame(frame)

    def _encode_off_loop(self, control, payload, has_payload, fallback=None) -> None:
        if self.closed:
            return
        fut = asyncio.get_running_loop().run_in_executor(
            CODEC_POOL, functools.partial(encode_frame, control, payload, has_payload=has_payload))
        if self._out is None:
            self._out = deque()
        self._out.append(fut if fallback is None else (fut, control, fallback))
        fut.add_done_callback(self._encoded)

    def _encoded(self, _fut) -> None:
        if self._out is not None and self._corked is None:
            self._pump()

    def _pump(self) -> None:
        """Write what ``_out`` holds, in order, up to a future not done yet or, for
        the pieces of a big frame, until the transport asks to pause."""
        out = self._out
        while out:
            if self.closed:
                out.clear()
                break
            head = out[0]
            cls = head.__class__
            if cls is bytes:
                out.popleft()
            elif cls is deque:          # the pieces of a big frame, being written
                if self._write_paused:
                    return
                piece = head.popleft()
                if not head:
                    out.popleft()
                head = piece
            elif cls is list:
                out[0] = _slices(head)
                continue
            else:                       # a future of an encoding (with its fallback)
                fut, control, fallback = head if cls is tuple else (head, None, None)
                if not fut.done():
                    return
                out.popleft()
                try:
                    frame = fut.result()
                except Exception as exc:   # a term with no external form: a bug here
                    if fallback is None:
                        log.error("message to %s with no external form dropped: %s",
                                  self.peer, exc)
                        continue
                    log.error("message to %s with no external form, its fallback sent: %s",
                              self.peer, exc)
                    try:
                        frame = encode_frame(control, fallback, has_payload=True)
                    except Exception:
                        log.exception("the fallback has no external form either")
                        continue
                out.appendleft(frame)
                continue
            self.transport.write(head)
            self.last_send = time.monotonic()
        self._out = None

    def tick(self, now: float, ticktime: float) -> None:
        """Called periodically: send a tick when idle, drop a silent peer."""
        if self.framer is None or self.closed:
            return
        if self.peer_ticktime:
            peer_period = self.peer_ticktime
        elif self.tick_interval:
            peer_period = self.tick_interval * 4
        else:
            peer_period = ticktime
        send_every = min(ticktime, peer_period) / 4
        if now - self.last_send >= send_every * 0.9:
            self.send_frame(TICK)
        silence_limit = max(ticktime, peer_period) * 1.25
        if now - self.last_recv > silence_limit:
            log.warning("connection to %s silent for %.1fs: closing", self.peer, now - self.last_recv)
            self.transport.close()
