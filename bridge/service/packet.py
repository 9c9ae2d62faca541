"""inet packet framing over decrypted data, as ``erlang:decode_packet/3`` does it.

``PacketDecoder`` buffers bytes and cuts packets: ``0``/raw (whatever is there, or
exactly N bytes with ``take``), ``1``/``2``/``4`` (big-endian length header,
stripped), ``line`` (up to and including the delimiter; a line longer than
``packet_size`` is cut there, as decode_packet does), ``asn1`` (BER TLV),
``sunrm``, ``fcgi``, ``tpkt``, ``cdr``. The HTTP packet types, which return parsed
terms, are not offered (the service refuses them with an options error).
``encode_packet`` adds the length header on send.
"""
from __future__ import annotations

from typing import Optional

from bridge.etf.types import Atom

SUPPORTED = (0, 1, 2, 4, "line", "asn1", "sunrm", "fcgi", "tpkt", "cdr")


class PacketError(Exception):
    """A packet that cannot be framed; ``reason`` is None for OTP's
    ``{invalid_packet, Data}`` (the caller fills in the data), or a term."""

    def __init__(self, reason=None):
        super().__init__(reason)
        self.reason = reason


class PacketDecoder:
    def __init__(self, packet=0, packet_size: int = 0, line_delimiter: int = 10):
        self._buf = bytearray()
        self._pos = 0
        self.set_type(packet, packet_size, line_delimiter)

    def set_type(self, packet, packet_size: Optional[int] = None,
                 line_delimiter: Optional[int] = None) -> None:
        if packet == "raw":
            packet = 0
        if packet not in SUPPORTED:
            raise ValueError(f"unsupported packet type {packet!r}")
        self.packet = packet
        if packet_size is not None:
            self.packet_size = packet_size
        if line_delimiter is not None:
            self.delimiter = line_delimiter

    # ---- buffer -------------------------------------------------------------
    @property
    def buffered(self) -> int:
        return len(self._buf) - self._pos

    def feed(self, data: bytes) -> None:
        if self._pos and self._pos == len(self._buf):
            self._buf.clear()
            self._pos = 0
        self._buf += data

    def _consume(self, start: int, end: int) -> bytes:
        out = bytes(self._buf[start:end])
        self._pos = end
        if self._pos > 1 << 20 and self._pos * 2 > len(self._buf):
            del self._buf[:self._pos]
            self._pos = 0
        return out

    def take(self, n: int) -> bytes:
        """Exactly ``n`` buffered bytes (raw mode ``recv(S, N)``)."""
        if n > self.buffered:
            raise ValueError("not enough data")
        return self._consume(self._pos, self._pos + n)

    def take_all(self) -> bytes:
        return self._consume(self._pos, len(self._buf))

    # ---- framing ------------------------------------------------------------
    def next_packet(self) -> Optional[bytes]:
        """One complete packet, or None when more data is needed. Raises PacketError."""
        if self.buffered == 0:
            return None
        p = self.packet
        if p == 0:
            return self.take_all()
        if p in (1, 2, 4):
            return self._length_prefixed(p, 0, p)
        if p == "line":
            return self._line()
        if p == "asn1":
            return self._asn1()
        if p == "tpkt":
            return self._fixed_header(4, lambda h: int.from_bytes(h[2:4], "big"), check=lambda h: h[0] == 3)
        if p == "sunrm":
            return self._length_prefixed(4, 0, 4, mask=0x7FFFFFFF, keep_header=True)
        if p == "fcgi":
            return self._fixed_header(
                8, lambda h: 8 + int.from_bytes(h[4:6], "big") + h[6], check=lambda h: h[0] == 1)
        if p == "cdr":
            return self._cdr()
        raise PacketError(Atom("badarg"))

    def _too_big(self, length: int) -> bool:
        return self.packet_size and length > self.packet_size

    def _length_prefixed(self, hlen, hoff, size, *, mask=None, keep_header=False):
        buf, pos = self._buf, self._pos
        if self.buffered < hlen:
            return None
        length = int.from_bytes(buf[pos + hoff:pos + hoff + size], "big")
        if mask is not None:
            length &= mask
        if self._too_big(length):
            raise PacketError()
        if self.buffered < hlen + length:
            return None
        start = pos if keep_header else pos + hlen
        return self._consume(start, pos + hlen + length)

    def _fixed_header(self, hlen, total_len, check):
        buf, pos = self._buf, self._pos
        if self.buffered < hlen:
            return None
        head = buf[pos:pos + hlen]
        if not check(head):
            raise PacketError()
        total = total_len(head)
        if total < hlen or self._too_big(total):
            raise PacketError()
        if self.buffered < total:
            return None
        return self._consume(pos, pos + total)

    def _line(self):
        buf, pos = self._buf, self._pos
        limit = len(buf)
        if self.packet_size:
            limit = min(limit, pos + self.packet_size)
        i = buf.find(bytes((self.delimiter,)), pos, limit)
        if i >= 0:
            return self._consume(pos, i + 1)
        if self.packet_size and self.buffered >= self.packet_size:
            # decode_packet returns the line cut at packet_size
            return self._consume(pos, pos + self.packet_size)
        return None

    def _asn1(self):
        buf, pos = self._buf, self._pos
        end = len(buf)
        p = pos
        if p >= end:
            return None
        tag = buf[p]
        p += 1
        if tag & 0x1F == 0x1F:                  # long tag number
            while True:
                if p >= end:
                    return None
                b = buf[p]
                p += 1
                if not b & 0x80:
                    break
        if p >= end:
            return None
        first = buf[p]
        p += 1
        if first < 0x80:
            length = first
        elif first == 0x80:
            raise PacketError()                 # indefinite length: not framed by decode_packet
        else:
            n = first & 0x7F
            if p + n > end:
                return None
            length = int.from_bytes(buf[p:p + n], "big")
            p += n
        total = p - pos + length
        if self._too_big(total):
            raise PacketError()
        if end - pos < total:
            return None
        return self._consume(pos, pos + total)

    def _cdr(self):
        buf, pos = self._buf, self._pos
        if self.buffered < 12:
            return None
        if bytes(buf[pos:pos + 4]) != b"GIOP":
            raise PacketError()
        little = buf[pos + 6] & 1
        length = int.from_bytes(buf[pos + 8:pos + 12], "little" if little else "big")
        total = 12 + length
        if self._too_big(total):
            raise PacketError()
        if self.buffered < total:
            return None
        return self._consume(pos, pos + total)


def encode_packet(packet, payload: bytes) -> bytes:
    """Frame outgoing data: a length header for 1/2/4, the data unchanged otherwise.
    Raises ValueError(reason) with OTP's ``{packet_to_large, Len, Max}`` when the
    header cannot hold the length (ssl:send then returns ``{error, {badarg, Reason}}``)."""
    if packet in (1, 2, 4):
        n = len(payload)
        limit = (1 << (8 * packet)) - 1
        if n > limit:
            raise ValueError((Atom("packet_to_large"), n, limit))
        return n.to_bytes(packet, "big") + payload
    return payload
