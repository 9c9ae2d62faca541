"""Delivery of decrypted data to an Erlang owner: active modes, passive recv, close.

This is the part of an ssl socket that decides *what the owner sees*; it knows
nothing of TLS or TCP. It gets plaintext (``data_received``), end of stream
(``peer_closed``) and errors (``failed``), and produces either messages to the
owner (``{ssl, S, Data}``, ``{ssl_closed, S}``, ``{ssl_error, S, R}``,
``{ssl_passive, S}``) or replies to pending ``recv`` calls, following OTP 25's
ssl_gen_statem rules:

* active ``true`` / ``once`` / ``N``: one message per packet; ``once`` and ``N``
  fall back to passive (``N`` announces it with ``{ssl_passive, S}``);
* passive: ``recv(S, Len)`` waits for one packet (or exactly ``Len`` bytes in raw
  mode, or whatever is buffered for ``Len = 0``);
* peer close: all data first, then ``{ssl_closed, S}`` (active) or
  ``{error, closed}`` for the next ``recv`` (passive);
* a packet that breaks ``packet_size``: ``{ssl_error, S, {invalid_packet, Raw}}``
  or ``{error, {invalid_packet, Raw}}``.
"""
from __future__ import annotations

from typing import Callable, Optional

from .packet import PacketDecoder, PacketError, shape
from .socket_options import BINARY, SocketOptions, active_after_packet, active_after_setopts
from .terms import CLOSED, ERROR, OK, SSL, SSL_CLOSED, SSL_ERROR, SSL_PASSIVE, TIMEOUT, Atom

INVALID_PACKET = Atom("invalid_packet")
# Stop reading from the network when this much undelivered plaintext is buffered.
HIGH_WATER = 256 * 1024


class Recv:
    """A pending passive ``recv``: ``reply`` is called exactly once. ``deadline``:
    when it times out (the loop's clock), None for ``infinity``; the socket keeps
    one timer for all its recvs (``ConnSocket._recv_deadline``), which ``expire``
    answers."""

    __slots__ = ("length", "reply", "deadline")

    def __init__(self, length: int, reply: Callable, deadline: Optional[float] = None):
        self.length = length
        self.reply = reply
        self.deadline = deadline


class Delivery:
    """What the owner of one connected socket sees. It owns the socket's emulated
    options (``opts``, a ``SocketOptions`` record: mode, packet, header, active...);
    ``setopts`` changes them through ``set_options``/``set_active``, ``getopts``
    reads them."""

    # one per connection, most of them idle: no per-instance dict
    __slots__ = ("term", "owner", "_send", "opts", "decoder",
                 "waiters", "eof", "error_reason", "closed_reported", "_flow", "_paused",
                 "final_send", "_ended")

    def __init__(self, term, owner, send: Callable, opts: Optional[SocketOptions] = None, *,
                 flow: Optional[Callable[[bool], None]] = None,
                 ended: Optional[Callable[[], None]] = None):
        self.term = term              # the socket term the owner sees
        self.owner = owner            # owner pid
        self._send = send             # send(pid, msg)
        self.opts = SocketOptions() if opts is None else opts   # this socket's own record
        # ssl hands decode_packet only packet_size: line_delimiter does not apply.
        # ValueError for a packet type the framing layer does not offer.
        self.decoder = PacketDecoder(self.opts.packet, self.opts.packet_size)
        # pending recvs, oldest first (a list: rarely more than one, and an empty
        # deque costs 760 bytes on every idle connection)
        self.waiters: list[Recv] = []
        self.eof = False              # peer closed its side (or the TCP stream ended)
        self.error_reason = None      # fatal error already seen (alert, packet error)
        self.closed_reported = False  # ssl_closed / ssl_error sent or recv told
        self._flow = flow             # flow(paused: bool)
        self._ended = ended           # ended(): the owner has been told the socket is closed
        self._paused = False
        # final_send(msg) sends the last ssl_closed / ssl_error when the socket has a
        # send window (it goes through the owner node's guard: see windows.py)
        self.final_send = None

    # ---- the options, as delivery reads them --------------------------------
    @property
    def active(self):
        """True | False | Atom('once') | a count, as ``getopts`` returns it."""
        return self.opts.active

    @property
    def binary(self) -> bool:
        return self.opts.mode is BINARY

    @property
    def header(self) -> int:
        return self.opts.header

    @property
    def packet(self):
        """The framing as the packet layer names it: 0/1/2/4 or a type name."""
        return self.decoder.packet

    # ---- formatting -------------------------------------------------------
    def format(self, data):
        if not isinstance(data, (bytes, bytearray)):
            return data  # http packet types give terms already
        opts = self.opts
        return shape(data, opts.mode is BINARY, opts.header)

    def _raw_formatted(self, data: bytes):
        return shape(data, self.binary, 0)

    # ---- input ------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if data:
            self.decoder.feed(data)
        self.pump()

    def peer_closed(self, deliver: bool = True) -> None:
        """The peer's end of the stream (reported after the data). ``deliver`` False:
        the owner does not have its socket yet; the next ``pump`` tells."""
        self.eof = True
        if deliver:
            self.pump()

    def failed(self, reason, deliver: bool = True) -> None:
        """A fatal error (alert, transport error): reported once, then closed."""
        if self.error_reason is None:
            self.error_reason = reason
        self.eof = True
        if deliver:
            self.pump()

    # ---- option changes (setopts) -----------------------------------------
    def set_options(self, changes: dict) -> bool:
        """Emulated options but ``active`` (see ``set_active``); True when the
        framing changed. Buffered bytes are cut by the new framing."""
        for name in ("mode", "header"):
            if name in changes:
                self.opts.set(name, changes[name])
        reframe = any(k in changes for k in ("packet", "packet_size", "line_delimiter"))
        if reframe:
            # ssl hands decode_packet only packet_size: line_delimiter is only kept
            self.decoder.set_type(changes.get("packet", self.opts.packet), changes.get("packet_size"))
        for name, value in changes.items():
            if name != "active":
                self.opts.set(name, value)
        return reframe

    def set_active(self, value, *, held: bool = False) -> None:
        """``{active, Value}`` from setopts (validated, and checked with
        ``socket_options.active_overflows``). ``held``: the owner does not have the
        socket yet; the value is kept as given and nothing is delivered."""
        if held:
            self.opts.active = value
            return
        self.opts.active, passive = active_after_setopts(self.opts.active, value)
        if passive:
            self._send(self.owner, (SSL_PASSIVE, self.term))
        self.pump()

    # ---- passive recv -----------------------------------------------------
    def recv(self, length: int, reply: Callable) -> Optional[Recv]:
        """Queue a recv; returns the Recv (to attach a timer) if it must wait."""
        waiter = Recv(length, reply)
        self.waiters.append(waiter)
        self.pump()
        return waiter if waiter in self.waiters else None

    def cancel(self, waiter: Recv, reason=TIMEOUT) -> None:
        try:
            self.waiters.remove(waiter)
        except ValueError:
            return
        waiter.reply((ERROR, reason))
        self._update_flow()

    def expire(self, now: float) -> Optional[float]:
        """Answer ``{error, timeout}`` to the recvs whose deadline is ``now`` or
        earlier (oldest first, as their timers would have fired); the earliest
        deadline still waiting, or None."""
        due = [w for w in self.waiters if w.deadline is not None and w.deadline <= now]
        for w in due:
            self.cancel(w)
        later = [w.deadline for w in self.waiters if w.deadline is not None]
        return min(later) if later else None

    def fail_waiters(self, reason) -> None:
        while self.waiters:
            w = self.waiters.pop(0)
            w.reply((ERROR, reason))

    # ---- the engine -------------------------------------------------------
    def _next_packet(self, length: int = 0):
        """A complete packet, or None. Raises PacketError."""
        if length and self.decoder.packet == 0:
            if self.decoder.buffered >= length:
                return self.decoder.take(length)
            return None
        return self.decoder.next_packet()

    def pump(self) -> None:
        reported = self.closed_reported
        send = self._send
        opts = self.opts
        try:
            while True:
                if opts.active is not False:
                    packet = self._next_packet()
                    if packet is None:
                        break
                    send(self.owner, (SSL, self.term, self.format(packet)))
                    if opts.active is not True:
                        opts.active, passive = active_after_packet(opts.active)
                        if passive:
                            send(self.owner, (SSL_PASSIVE, self.term))
                elif self.waiters:
                    waiter = self.waiters[0]
                    packet = self._next_packet(waiter.length)
                    if packet is None:
                        break
                    self.waiters.pop(0)
                    waiter.reply((OK, self.format(packet)))
                else:
                    break
        except PacketError as exc:
            raw = self.decoder.take_all()
            reason = (INVALID_PACKET, self._raw_formatted(raw)) if exc.reason is None else exc.reason
            self.error_reason = self.error_reason or reason
            self.eof = True
            if self.active is not False:
                self._send_final((SSL_ERROR, self.term, reason))
                self.closed_reported = True
            elif self.waiters:
                w = self.waiters.pop(0)
                w.reply((ERROR, reason))
                self.closed_reported = True
        if self.eof:
            self._end_of_stream()
        self._update_flow()
        if self.closed_reported and not reported and self._ended is not None:
            self._ended()

    def _end_of_stream(self) -> None:
        # Leftover bytes that do not make a packet are dropped at close, as ssl does,
        # except in raw mode, where a short read gets what is left.
        if self.active is not False:
            if self.decoder.buffered and self.packet in ("raw", 0):
                self._send(self.owner, (SSL, self.term, self.format(self.decoder.take_all())))
            if not self.closed_reported:
                self.closed_reported = True
                if self.error_reason is not None and self.error_reason is not CLOSED:
                    self._send_final((SSL_ERROR, self.term, self.error_reason))
                else:
                    self._send_final((SSL_CLOSED, self.term))
        elif self.waiters:
            while self.waiters:
                w = self.waiters.pop(0)
                if (self.decoder.buffered and self.packet in ("raw", 0) and w.length == 0):
                    w.reply((OK, self.format(self.decoder.take_all())))
                    continue
                reason = self.error_reason if self.error_reason is not None else CLOSED
                if not self.closed_reported and self.error_reason is not None:
                    w.reply((ERROR, reason))
                else:
                    w.reply((ERROR, CLOSED))
                self.closed_reported = True
                # ssl's connection process ends with this reply: what it still
                # buffered (less than the recv asked for) is gone with it.
                self.decoder.take_all()

    def _send_final(self, msg) -> None:
        if self.final_send is None:
            self._send(self.owner, msg)
        else:
            self.final_send(msg)

    def _update_flow(self) -> None:
        if self._flow is None:
            return
        want_pause = self.active is False and not self.waiters and self.decoder.buffered >= HIGH_WATER
        if want_pause != self._paused:
            self._paused = want_pause
            self._flow(want_pause)
