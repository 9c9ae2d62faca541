"""inet packet framing over decrypted TLS data, cut exactly as ``erlang:decode_packet/3``.

OTP 25's ssl emulates gen_tcp's ``{packet, Type}`` itself: ``ssl_gen_statem:get_data``
calls ``erlang:decode_packet(Type, Buffer, [{packet_size, Size}])`` (nothing else:
``line_delimiter``/``line_length`` never reach it, so ssl lines always end in ``$\\n``)
and, in raw mode, hands out the whole buffer, or exactly ``N`` bytes for a passive
``recv(S, N)``. This module is that logic, sans-IO:

* ``PacketDecoder`` — ``feed(bytes)``; ``next_packet()`` gives one packet (``bytes``)
  or ``None`` when more data is needed, and raises ``PacketError`` where
  ``decode_packet`` answers ``{error, invalid}``; ``take(n)`` / ``take_all()`` for
  raw mode; ``set_type`` for ``setopts`` mid-stream (the buffered bytes are kept and
  cut by the new type from then on, as ssl does: its buffer survives setopts).
* ``encode_packet(type, data)`` — the send side (``tls_sender:encode_packet/2``).
* ``shape(packet, binary, header)`` — ``ssl_gen_statem:do_format_reply/4``.
* ``invalid_packet(buffered, binary)`` — the ``{invalid_packet, Data}`` reason ssl
  reports (``Data`` is the *whole* buffer, formatted as in raw mode, header ignored).

Semantics taken from erts' ``packet_get_length`` and checked against a real BEAM
(tests/integration/test_packet_erlang.py):

* ``1``/``2``/``4``: big-endian length header, stripped from the packet.
* ``sunrm``: 4-byte header, top bit masked off, header kept.
* ``line``: up to and including the delimiter. With ``packet_size`` set, a line
  (delimiter included) longer than it is an error, and so is a buffer holding more
  than ``packet_size`` bytes without a delimiter; it is not truncated (truncation is
  ``line_length``, which ssl never passes).
* ``asn1``: BER tag (long form too), short or long length (1..4 length bytes;
  more is an error; ``0x80`` "indefinite" means a zero-length body, so the packet is
  just the tag and length bytes).
* ``cdr``: 12-byte GIOP header, size in the byte order of flags bit 0.
* ``fcgi``: 8-byte header, version must be 1; the packet is header + content, the
  padding is consumed but not returned.
* ``tpkt``: 4-byte header, version 3, length includes the header.
* Sizes: ``packet_size`` (0 = no limit) bounds the *body* length (for asn1 the
  content after the tag/length bytes, for fcgi content + padding, for tpkt length -
  4); header + body may never exceed 2**31 - 1.

The HTTP types (``http``, ``httph``, ``http_bin``, ``httph_bin``) return decoded
terms instead of bytes (``bridge.service.http_packet``, byte-exact with
``decode_packet``). As ssl does, an ``http``/``http_bin`` socket decodes header
lines after an ``http_request``/``http_response`` and goes back to request lines
after ``http_eoh``; ``set_type`` starts over from the plain type.
"""
from __future__ import annotations

from typing import Optional, Union

from bridge.etf.types import Atom, ImproperList

from .packet_error import PacketError

__all__ = [
    "PacketDecoder", "PacketError", "PacketTooLarge", "encode_packet", "shape", "invalid_packet",
    "normalize_type", "SUPPORTED", "HTTP_TYPES", "INT_MAX",
]

SUPPORTED = (0, 1, 2, 4, "line", "asn1", "sunrm", "fcgi", "tpkt", "cdr")
HTTP_TYPES = ("http", "httph", "http_bin", "httph_bin")
INT_MAX = 0x7FFFFFFF
INVALID_PACKET = Atom("invalid_packet")
_BADARG = Atom("badarg")
_PACKET_TO_LARGE = Atom("packet_to_large")  # sic, OTP's spelling

# Compact the buffer once the consumed prefix is at least this large *and* at least
# half the buffer: amortised O(1) per byte, no quadratic copying.
_COMPACT_MIN = 64 * 1024


class PacketTooLarge(ValueError):
    """Send data too long for a 1/2/4-byte header.

    ``args[0]`` is ``{packet_to_large, Len, Max}``; ``reason`` is the full
    ``{badarg, {packet_to_large, Len, Max}}`` of ``tls_sender:encode_packet/2``.
    """

    def __init__(self, length: int, limit: int):
        inner = (_PACKET_TO_LARGE, length, limit)
        super().__init__(inner)
        self.reason = (_BADARG, inner)

    def __str__(self) -> str:
        _, n, limit = self.args[0]
        return f"{n} bytes do not fit a packet header (max {limit})"


def normalize_type(packet) -> Union[int, str]:
    """0/1/2/4 or a type name; accepts ``raw``, an ``Atom`` and ints. ValueError otherwise."""
    if isinstance(packet, Atom):
        packet = packet.name
    if packet == "raw":
        return 0
    if type(packet) is int and packet in (0, 1, 2, 4):
        return packet
    if type(packet) is str and packet in SUPPORTED:
        return packet
    if type(packet) is str and packet in HTTP_TYPES:
        return packet
    raise ValueError(f"unsupported packet type {packet!r}")


class PacketDecoder:
    """Buffers plaintext and cuts packets. Not thread-safe; one per socket."""

    __slots__ = ("_buf", "_pos", "_scan", "packet", "packet_size", "delimiter", "_http")

    def __init__(self, packet_type=0, packet_size: int = 0, line_delimiter: int = 10):
        self._buf = bytearray()
        self._pos = 0          # start of unconsumed data in _buf
        self._scan = 0         # line mode: bytes from _pos known to hold no delimiter
        self.packet = 0
        self.packet_size = 0
        self.delimiter = 10
        self._http = None      # HTTP types: ssl's packet state, e.g. ("http", "headers")
        self.set_type(packet_type, packet_size, line_delimiter)

    def set_type(self, packet_type, packet_size: Optional[int] = None,
                 line_delimiter: Optional[int] = None) -> None:
        """Change the framing (``setopts``); buffered bytes are cut by the new rules.

        ``None`` keeps the current ``packet_size`` / ``line_delimiter``.
        ValueError for an unknown type, ``packet_size`` outside 0..2**32-1 or a
        delimiter outside 0..255 (``decode_packet`` raises badarg for those).
        """
        packet = normalize_type(packet_type)
        if packet_size is not None:
            if (not isinstance(packet_size, int) or isinstance(packet_size, bool)
                    or not 0 <= packet_size <= 0xFFFFFFFF):
                raise ValueError(f"packet_size must be an integer 0..4294967295, not {packet_size!r}")
        if line_delimiter is not None:
            if (not isinstance(line_delimiter, int) or isinstance(line_delimiter, bool)
                    or not 0 <= line_delimiter <= 255):
                raise ValueError(f"line_delimiter must be a byte 0..255, not {line_delimiter!r}")
        self.packet = packet
        self._http = packet if packet in HTTP_TYPES else None
        if packet_size is not None:
            self.packet_size = packet_size
        if line_delimiter is not None and line_delimiter != self.delimiter:
            self.delimiter = line_delimiter
        self._scan = 0

    # ---- buffer -------------------------------------------------------------
    @property
    def buffered(self) -> int:
        return len(self._buf) - self._pos

    def __len__(self) -> int:
        return len(self._buf) - self._pos

    def feed(self, data) -> None:
        if not data:
            return
        if self._pos and self._pos == len(self._buf):
            self._buf.clear()
            self._pos = 0
        self._buf += data

    def peek(self) -> bytes:
        """All buffered bytes, without consuming them."""
        return bytes(self._buf[self._pos:])

    def _consume(self, start: int, end: int, skip_to: Optional[int] = None) -> bytes:
        buf = self._buf
        if start == 0 and end == len(buf):
            out = bytes(buf)
            buf.clear()
            self._pos = 0
            self._scan = 0
            return out
        out = bytes(buf[start:end])
        pos = end if skip_to is None else skip_to
        self._scan = 0
        if pos >= _COMPACT_MIN and pos * 2 >= len(buf):
            del buf[:pos]
            pos = 0
        self._pos = pos
        return out

    def take(self, n: int) -> bytes:
        """Exactly ``n`` buffered bytes (raw mode ``recv(S, N)``); ValueError if fewer."""
        if n < 0 or n > self.buffered:
            raise ValueError(f"cannot take {n} bytes, {self.buffered} buffered")
        return self._consume(self._pos, self._pos + n)

    def take_all(self) -> bytes:
        """Everything buffered (raw mode delivery, ``recv(S, 0)``, error reports)."""
        return self._consume(self._pos, len(self._buf))

    def _http_packet(self):
        from . import http_packet
        state = self._http
        got = http_packet.decode_http(http_packet.decode_type(state), self._buf, self._pos,
                                      self.packet_size)
        if got is None:
            return None
        term, consumed = got
        self._consume(self._pos, self._pos + consumed)
        self._http = http_packet.ssl_state_after(state, term)
        return term

    # ---- framing ------------------------------------------------------------
    def next_packet(self) -> Optional[bytes]:
        """One complete packet, or None when more data is needed. Raises PacketError."""
        avail = len(self._buf) - self._pos
        if avail == 0:
            return None
        p = self.packet
        if p == 0:
            return self.take_all()
        if p == "line":
            return self._line(avail)
        if self._http is not None:
            return self._http_packet()
        buf, pos = self._buf, self._pos
        if p == 4 or p == "sunrm":
            if avail < 4:
                return None
            plen = int.from_bytes(buf[pos:pos + 4], "big")
            if p == 4:
                return self._remain(4, plen, avail, strip=True)
            return self._remain(4, plen & 0x7FFFFFFF, avail)
        if p == 1:
            return self._remain(1, buf[pos], avail, strip=True)
        if p == 2:
            if avail < 2:
                return None
            return self._remain(2, (buf[pos] << 8) | buf[pos + 1], avail, strip=True)
        if p == "asn1":
            return self._asn1(avail)
        if p == "cdr":
            if avail < 12:
                return None
            if buf[pos:pos + 4] != b"GIOP":
                raise PacketError()
            order = "little" if buf[pos + 6] & 1 else "big"
            return self._remain(12, int.from_bytes(buf[pos + 8:pos + 12], order), avail)
        if p == "fcgi":
            if avail < 8:
                return None
            if buf[pos] != 1:
                raise PacketError()
            padding = buf[pos + 6]
            plen = ((buf[pos + 4] << 8) | buf[pos + 5]) + padding
            return self._remain(8, plen, avail, padding=padding)
        if p == "tpkt":
            if avail < 4:
                return None
            if buf[pos] != 3:
                raise PacketError()
            plen = ((buf[pos + 2] << 8) | buf[pos + 3]) - 4
            if plen < 0:       # unsigned wrap-around in C: always too big
                raise PacketError()
            return self._remain(4, plen, avail)
        raise AssertionError(p)  # set_type admits nothing else

    def _remain(self, hlen: int, plen: int, avail: int, *, strip: bool = False,
                padding: int = 0) -> Optional[bytes]:
        limit = self.packet_size or INT_MAX - hlen
        if plen > limit or hlen + plen > INT_MAX:
            raise PacketError()
        total = hlen + plen
        if avail < total:
            return None
        pos = self._pos
        start = pos + hlen if strip else pos
        if padding:
            return self._consume(start, pos + total - padding, skip_to=pos + total)
        return self._consume(start, pos + total)

    def _line(self, avail: int) -> Optional[bytes]:
        buf, pos = self._buf, self._pos
        i = buf.find(self.delimiter.to_bytes(1, "big"), pos + self._scan)
        size = self.packet_size
        if i < 0:
            if size and avail > size:
                raise PacketError()
            self._scan = avail        # don't rescan what we've seen
            return None
        if size and i + 1 - pos > size:
            raise PacketError()
        return self._consume(pos, i + 1)

    def _asn1(self, avail: int) -> Optional[bytes]:
        if avail < 2:
            return None
        buf, pos = self._buf, self._pos
        t = pos
        nn = avail - 1
        first = buf[t]
        t += 1
        if first & 0x1F == 0x1F:            # long tag: continuation bytes, then one more
            while nn and buf[t] & 0x80:
                t += 1
                nn -= 1
            if nn < 2:
                return None
            t += 1
            nn -= 1
        lb = buf[t]
        if lb & 0x80:
            n = lb & 0x7F
            t += 1
            nn -= 1
            if nn < n:
                return None
            if n > 4:
                raise PacketError()
            plen = int.from_bytes(buf[t:t + n], "big") if n else 0
            t += n
        else:
            t += 1
            plen = lb
        return self._remain(t - pos, plen, avail)


def encode_packet(packet_type, data) -> bytes:
    """Frame outgoing data as ``tls_sender:encode_packet/2``: a big-endian length
    header for 1/2/4, the data unchanged for every other type.

    Raises ``PacketTooLarge`` when the header cannot hold the length; ``ssl:send``
    then returns ``{error, exc.reason}`` = ``{error, {badarg, {packet_to_large, Len, Max}}}``.
    """
    packet = packet_type.name if isinstance(packet_type, Atom) else packet_type
    if packet in (1, 2, 4) and not isinstance(packet, bool):
        n = len(data)
        limit = (1 << (8 * packet)) - 1
        if n > limit:
            raise PacketTooLarge(n, limit)
        return n.to_bytes(packet, "big") + bytes(data)
    return bytes(data)


def shape(packet: bytes, binary: bool, header: int = 0, packet_type=None):
    """The delivered value, as ``ssl_gen_statem:do_format_reply/4``.

    * list mode: the bytes as a list of integers. Returned as a latin-1 ``str``: the
      ETF codec writes a ``str`` of code points < 256 as STRING_EXT (or a list of
      small integers past 65535 chars, or NIL for ""), byte-for-byte what Erlang
      sends for ``binary_to_list(Bin)`` — and ``bytes.decode('latin-1')`` is done in
      C, where ``list(bytes)`` makes one Python int per byte. ``header`` is ignored.
    * binary mode, ``header`` 0: ``bytes``.
    * binary mode, ``header`` N > 0: ``[B1, ..., BN | Rest]`` as ``ImproperList``
      (``Rest`` may be ``<<>>``); a packet shorter than N gives the plain list.
    * HTTP packet types deliver terms; those are passed through untouched.
    """
    if not isinstance(packet, (bytes, bytearray, memoryview)):
        return packet
    if binary:
        if header > 0:
            if len(packet) < header:
                return list(packet)
            return ImproperList(tuple(packet[:header]), bytes(packet[header:]))
        return bytes(packet)
    return bytes(packet).decode("latin-1")


def invalid_packet(buffered: bytes, binary: bool):
    """``{invalid_packet, Data}``: Data is the whole buffer in raw-mode format."""
    return (INVALID_PACKET, shape(buffered, binary, 0))
