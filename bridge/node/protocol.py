"""Post-handshake distribution framing and control messages (sans-IO).

Every frame is a 4-byte length and a body; an empty body is a tick. A body is
``112`` (pass-through), the control tuple, and for message-carrying controls the
payload term — each term with its own 131 version byte (no atom cache, no
fragments: neither flag is offered).
"""
from __future__ import annotations

import struct
from typing import Optional

from bridge.etf.codec import _FAST_MAX, FAST_BODY, FAST_FRAME, ETFDecodeError, decode, encode_into
from bridge.etf.types import Atom

from . import bigterms

LINK = 1
SEND = 2
EXIT = 3
UNLINK = 4
REG_SEND = 6
GROUP_LEADER = 7
EXIT2 = 8
SEND_TT = 12
EXIT_TT = 13
REG_SEND_TT = 16
EXIT2_TT = 18
MONITOR_P = 19
DEMONITOR_P = 20
MONITOR_P_EXIT = 21
SEND_SENDER = 22
SEND_SENDER_TT = 23
PAYLOAD_EXIT = 24
PAYLOAD_EXIT_TT = 25
PAYLOAD_EXIT2 = 26
PAYLOAD_EXIT2_TT = 27
PAYLOAD_MONITOR_P_EXIT = 28
SPAWN_REQUEST = 29
SPAWN_REQUEST_TT = 30
SPAWN_REPLY = 31
SPAWN_REPLY_TT = 32
ALIAS_SEND = 33
ALIAS_SEND_TT = 34
UNLINK_ID = 35
UNLINK_ID_ACK = 36

# Controls followed by a payload term.
WITH_PAYLOAD = {SEND, REG_SEND, SEND_TT, REG_SEND_TT, SEND_SENDER, SEND_SENDER_TT,
                PAYLOAD_EXIT, PAYLOAD_EXIT_TT, PAYLOAD_EXIT2, PAYLOAD_EXIT2_TT,
                PAYLOAD_MONITOR_P_EXIT, SPAWN_REQUEST, SPAWN_REQUEST_TT,
                ALIAS_SEND, ALIAS_SEND_TT}

EMPTY_ATOM = Atom("")
_pack_size = struct.Struct(">I").pack
_unpack_size = struct.Struct(">I").unpack_from
TICK = b"\x00\x00\x00\x00"


class FramingError(Exception):
    """The byte stream is broken: the connection must be closed."""


class BadMessage:
    """A frame whose terms did not decode. The connection reports it and closes, as
    erts does (``erts_net_message`` -> ``data_error``: "Got invalid data on
    distribution channel" and the channel is killed): a peer that sent it is broken,
    and a dropped message would leave whoever waits for its reply waiting forever."""

    __slots__ = ("error", "frame")

    def __init__(self, error: Exception, frame: bytes):
        self.error = error
        self.frame = frame


# A frame longer than this is returned by ``encode_frame`` as a list of pieces,
# never joined: joining (or writing) 128 MiB at once is one C call that holds the
# GIL 40 ms and more; pieces are written one at a time (``Connection``).
FRAME_PIECES_MIN = 1 << 20
# Small parts are joined into pieces of about this many bytes.
PIECE = 256 * 1024


# The C codec's frame calls (bridge.etf._speedups), or None: module names, so that
# tests can compare with them off. Its encoder gives up past 4,096 elements, so a
# budget over that many steps (x3: encode_into's count, and a margin for the
# frame's own parts) is never cut short by it.
_fast_body = FAST_BODY
_fast_frame = FAST_FRAME
_FAST_FRAME_BUDGET = 3 * 4096 + 16


def encode_frame(control: tuple, payload=None, *, has_payload: bool = False,
                 budget: Optional[int] = None):
    """The frame of a control message and its payload: ``bytes``, or for a frame
    over FRAME_PIECES_MIN bytes a ``list`` of its pieces in order. With ``budget``,
    raises ``EncodeBudgetExceeded`` once the encoding would take more element steps
    than that (the caller then encodes it elsewhere, without the budget)."""
    # the common shapes in one C call (the same bytes); a budget below what the C
    # part may write before it gives up is kept by encode_into below
    if _fast_frame is not None and (budget is None or budget > _FAST_FRAME_BUDGET):
        frame = _fast_frame(control, payload) if has_payload or payload is not None \
            else _fast_frame(control)
        if frame is not None:
            return frame
    parts = [b"", b"p\x83"]
    encode_into(control, parts, budget)
    if has_payload or payload is not None:
        parts.append(b"\x83")
        encode_into(payload, parts, budget)
    size = sum(map(len, parts))
    parts[0] = _pack_size(size)
    if size <= FRAME_PIECES_MIN:
        return b"".join(parts)
    return _pieces(parts)


def _pieces(parts: list) -> list:
    """``parts`` with runs of small ones joined into pieces of about PIECE bytes;
    a big part stays as it is, uncopied."""
    out = []
    start = 0
    run = 0
    for i, p in enumerate(parts):
        n = len(p)
        if n >= PIECE:
            if start < i:
                out.append(b"".join(parts[start:i]))
            out.append(p)
            start = i + 1
            run = 0
            continue
        run += n
        if run >= PIECE:
            out.append(b"".join(parts[start:i + 1]))
            start = i + 1
            run = 0
    if start < len(parts):
        out.append(b"".join(parts[start:]))
    return out


def parse_body(body: bytes):
    """``(control_tuple, payload_or_None)``; raises ETFDecodeError / FramingError."""
    if _fast_body is not None and len(body) <= _FAST_MAX:
        done = _fast_body(body, WITH_PAYLOAD)    # the same, in one C call
        if done is not None:
            return done
    if not body:
        raise FramingError("empty body (a tick has no body to parse)")
    if body[0] != 112:
        raise FramingError(f"unsupported frame type {body[0]} (atom cache/fragments not offered)")
    control, pos = decode(body, 1)
    # exactly int: the codec makes true/false bools, and bool is an int subclass
    if control.__class__ is not tuple or not control or control[0].__class__ is not int:
        raise ETFDecodeError("control message is not a tuple with an integer tag", 1)
    payload = None
    if control[0] in WITH_PAYLOAD:
        payload, pos = decode(body, pos)
    if pos != len(body):
        raise ETFDecodeError("trailing bytes after the control message", pos)
    return control, payload


def body_event(body: bytes):
    """``(control, payload)``, or ``BadMessage`` when the body does not decode."""
    try:
        return parse_body(body)
    except (ETFDecodeError, ValueError) as exc:
        return BadMessage(exc, body)


class LargeBody:
    """A frame body too big to decode inline (see ``Framer.inline_max``): the caller
    runs ``event()`` off its event loop, in order with the other events. The body
    may be the framer's carry-over buffer (``offset`` 4) or the list of pieces it
    came in: joining them into one ``bytes`` is work for that thread too, not for
    the loop, and is done without holding the GIL (``bigterms.join_bytes``)."""

    __slots__ = ("data", "offset")

    def __init__(self, data, offset: int = 0):
        self.data = data
        self.offset = offset

    def event(self):
        """``body_event`` of the body; a big one decoded with the collector paused
        and its big lists adopted (``bigterms``)."""
        if self.offset == 0 and type(self.data) is bytes:
            body, self.data = self.data, None
        elif type(self.data) is list:     # the pieces it came in (Framer)
            pieces, self.data = self.data, None
            body = bigterms.join_bytes(pieces)
        else:
            # bytes(memoryview) would hold the GIL over the whole copy (~200 ms for
            # 256 MiB into fresh pages); the decoder needs one bytes object
            pieces = [memoryview(self.data)[self.offset:]]
            self.data = None
            body = bigterms.join_bytes(pieces)
        if len(body) < bigterms.BIG_LIST:     # too short to hold a big list
            return body_event(body)
        bigterms.pause_gc()
        try:
            event = body_event(body)
            del body
            if event.__class__ is tuple:
                bigterms.adopt_big_lists(event)
        finally:
            bigterms.resume_gc()
        return event


class Framer:
    """Bytes in, frames out. ``feed`` returns the list of events in arrival order:
    ``None`` for a tick, ``(control, payload)``, ``BadMessage`` or ``LargeBody``.

    A body over ``inline_max`` bytes comes out undecoded as ``LargeBody``: decoding
    costs up to ~1 s per 64 MiB of small terms, which must not run on a loop that
    serves every other socket. Bodies up to ``inline_max`` (a 64 KiB send with its
    envelope included) decode here, in a few milliseconds at the worst."""

    def __init__(self, max_frame: int = 1 << 31, inline_max: Optional[int] = None):
        self._buf = bytearray()   # an incomplete frame carried over between reads
        # The body of a big frame being received, in the pieces it came in, and how
        # many bytes it still needs: grown in one bytearray, tens of MiB are copied
        # whole at each reallocation, on the loop (~10 ms for 32 MiB).
        self._big: Optional[list] = None
        self._need = 0
        self.max_frame = max_frame
        self.inline_max = max_frame if inline_max is None else inline_max

    @property
    def receiving_big(self) -> bool:
        """Whether a big body (over ``inline_max``) is partly received."""
        return self._big is not None

    def feed(self, data: bytes) -> list:
        events: list = []
        big = self._big
        if big is not None:
            n = len(data)
            need = self._need
            if n < need:
                big.append(data)
                self._need = need - n
                return events
            big.append(data if n == need else memoryview(data)[:need])
            self._big = None
            events.append(LargeBody(big))
            if n == need:
                return events
            data = memoryview(data)[need:]
        buf = self._buf
        if buf:
            # finish the frame begun in an earlier read with just the bytes it
            # needs; the rest of ``data`` is framed in place (big messages span
            # reads: copying every read onto the carried bytes moved each byte
            # several times)
            mv = memoryview(data)
            if len(buf) < 4:
                k = 4 - len(buf)
                buf += mv[:k]
                mv = mv[k:]
                if len(buf) < 4:
                    return events
            size = _unpack_size(buf, 0)[0]
            if size > self.max_frame:
                raise FramingError(f"frame of {size} bytes")
            need = 4 + size - len(buf)
            if len(mv) < need:
                if size > self.inline_max:      # a big body: kept in pieces from now
                    self._big = [bytes(memoryview(buf)[4:]), mv]
                    self._need = need - len(mv)
                    buf.clear()
                else:
                    buf += mv
                return events
            buf += mv[:need]
            if size == 0:
                events.append(None)
                buf.clear()
            elif size > self.inline_max:
                events.append(LargeBody(buf, 4))   # handed over whole, uncopied
                self._buf = buf = bytearray()
            else:
                with memoryview(buf) as whole, whole[4:] as body:
                    events.append(body_event(bytes(body)))
                buf.clear()
            data = mv[need:]
        pos = self._frames(data, events)
        if pos < len(data):
            buf += data[pos:] if type(data) is memoryview else memoryview(data)[pos:]
        return events

    def _body(self, body: bytes, events: list) -> None:
        events.append(LargeBody(body) if len(body) > self.inline_max else body_event(body))

    def _frames(self, data, events: list) -> int:
        """Append the events of the complete frames in ``data``; the end of the last."""
        pos = 0
        n = len(data)
        while n - pos >= 4:
            size = _unpack_size(data, pos)[0]
            if size > self.max_frame:
                raise FramingError(f"frame of {size} bytes")
            end = pos + 4 + size
            if end > n:
                break
            if size == 0:
                events.append(None)
            else:
                body = data[pos + 4:end]
                self._body(body if type(body) is bytes else bytes(body), events)
            pos = end
        return pos
