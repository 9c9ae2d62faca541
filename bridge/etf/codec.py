"""External Term Format: decode by walking offsets, encode into a list of parts.

``decode(data, offset)`` reads one term *with* its 131 version byte and returns the
term and the offset just past it; ``binary_to_term`` insists the whole buffer is
one term. Encoding appends ``bytes`` chunks to a list that is joined once.
Malformed input always raises ``ETFDecodeError`` carrying the offset.
"""
from __future__ import annotations

import struct
import zlib

from .types import Atom, BitString, ErlMap, ImproperList, Opaque, Pid, Port, Reference

VERSION = 131

_unpack_B = struct.Struct(">B").unpack_from
_unpack_H = struct.Struct(">H").unpack_from
_unpack_I = struct.Struct(">I").unpack_from
_unpack_i = struct.Struct(">i").unpack_from
_unpack_d = struct.Struct(">d").unpack_from
_pack_H = struct.Struct(">H").pack
_pack_I = struct.Struct(">I").pack
_pack_i = struct.Struct(">i").pack
_pack_d = struct.Struct(">d").pack
_pack_BH = struct.Struct(">BH").pack
_pack_BI = struct.Struct(">BI").pack
_pack_BB = struct.Struct(">BB").pack

TRUE = Atom("true")
FALSE = Atom("false")
UNDEFINED = Atom("undefined")


class ETFDecodeError(ValueError):
    def __init__(self, message: str, offset: int):
        super().__init__(f"{message} at offset {offset}")
        self.offset = offset


class ETFEncodeError(TypeError):
    pass


# ---------------------------------------------------------------------------
# decoding
# ---------------------------------------------------------------------------

def binary_to_term(data, *, strings: str = "list"):
    """Decode a whole buffer holding exactly one term (with its 131 byte)."""
    term, end = decode(data, 0, strings=strings)
    if end != len(data):
        raise ETFDecodeError(f"{len(data) - end} trailing bytes after the term", end)
    return term


def decode(data, offset: int = 0, *, strings: str = "list"):
    """Decode one term whose 131 version byte is at ``offset``: ``(term, next_offset)``."""
    if not isinstance(data, (bytes, bytearray)):
        data = bytes(data)
    if offset >= len(data):
        raise ETFDecodeError("empty input", offset)
    if data[offset] != VERSION:
        raise ETFDecodeError(f"bad version byte {data[offset]}", offset)
    if strings not in ("list", "str", "bytes"):
        raise ValueError("strings must be 'list', 'str' or 'bytes'")
    dec = _Decoder(data, strings)
    try:
        if offset + 1 < len(data) and data[offset + 1] == 80:
            return dec.compressed(offset + 2)
        return dec.term(offset + 1)
    except ETFDecodeError:
        raise
    except (struct.error, IndexError):
        raise ETFDecodeError("truncated term", len(data)) from None
    except RecursionError:
        raise ETFDecodeError("term nested too deeply", offset) from None


class _Decoder:
    __slots__ = ("data", "strings", "n")

    def __init__(self, data, strings):
        self.data = data
        self.strings = strings
        self.n = len(data)

    def need(self, pos: int, count: int) -> None:
        if pos + count > self.n:
            raise ETFDecodeError(f"truncated: need {count} bytes", pos)

    def compressed(self, pos: int):
        self.need(pos, 4)
        size = _unpack_I(self.data, pos)[0]
        try:
            d = zlib.decompressobj()
            raw = d.decompress(bytes(self.data[pos + 4:]), size + 1)
        except zlib.error as exc:
            raise ETFDecodeError(f"bad compressed term ({exc})", pos + 4) from None
        if len(raw) != size:
            raise ETFDecodeError(f"compressed size {size} does not match {len(raw)}", pos)
        if not d.eof:
            raise ETFDecodeError("compressed data longer than declared", pos)
        inner = _Decoder(raw, self.strings)
        try:
            term, end = inner.term(0)
        except ETFDecodeError as exc:
            raise ETFDecodeError(f"in compressed term: {exc}", pos) from None
        if end != size:
            raise ETFDecodeError("trailing bytes inside compressed term", pos)
        return term, self.n - len(d.unused_data)

    def term(self, pos: int):
        if pos >= self.n:
            raise ETFDecodeError("truncated: expected a tag", pos)
        tag = self.data[pos]
        fn = _DISPATCH.get(tag)
        if fn is None:
            raise ETFDecodeError(f"unknown tag {tag}", pos)
        return fn(self, pos + 1)

    # -- numbers
    def small_int(self, pos):
        self.need(pos, 1)
        return self.data[pos], pos + 1

    def integer(self, pos):
        self.need(pos, 4)
        return _unpack_i(self.data, pos)[0], pos + 4

    def new_float(self, pos):
        self.need(pos, 8)
        return _unpack_d(self.data, pos)[0], pos + 8

    def old_float(self, pos):
        self.need(pos, 31)
        text = bytes(self.data[pos:pos + 31]).split(b"\0", 1)[0]
        try:
            return float(text), pos + 31
        except ValueError:
            raise ETFDecodeError("bad FLOAT_EXT text", pos) from None

    def small_big(self, pos):
        self.need(pos, 2)
        n = self.data[pos]
        sign = self.data[pos + 1]
        start = pos + 2
        self.need(start, n)
        v = int.from_bytes(self.data[start:start + n], "little")
        return (-v if sign else v), start + n

    def large_big(self, pos):
        self.need(pos, 5)
        n = _unpack_I(self.data, pos)[0]
        sign = self.data[pos + 4]
        start = pos + 5
        self.need(start, n)
        v = int.from_bytes(self.data[start:start + n], "little")
        return (-v if sign else v), start + n

    # -- atoms
    def _atom(self, pos, length, latin1):
        self.need(pos, length)
        raw = bytes(self.data[pos:pos + length])
        try:
            name = raw.decode("latin-1" if latin1 else "utf-8")
        except UnicodeDecodeError:
            raise ETFDecodeError("atom is not valid UTF-8", pos) from None
        if name == "true":
            return True, pos + length
        if name == "false":
            return False, pos + length
        try:
            return Atom(name), pos + length
        except ValueError:
            raise ETFDecodeError("atom longer than 255 characters", pos) from None

    def atom_ext(self, pos):
        self.need(pos, 2)
        return self._atom(pos + 2, _unpack_H(self.data, pos)[0], True)

    def small_atom_ext(self, pos):
        self.need(pos, 1)
        return self._atom(pos + 1, self.data[pos], True)

    def atom_utf8(self, pos):
        self.need(pos, 2)
        return self._atom(pos + 2, _unpack_H(self.data, pos)[0], False)

    def small_atom_utf8(self, pos):
        self.need(pos, 1)
        return self._atom(pos + 1, self.data[pos], False)

    def node_atom(self, pos):
        node, pos = self.term(pos)
        if isinstance(node, bool):
            node = Atom("true" if node else "false")
        if not isinstance(node, Atom):
            raise ETFDecodeError("node name is not an atom", pos)
        return node, pos

    # -- identifiers
    def pid(self, pos):
        node, pos = self.node_atom(pos)
        self.need(pos, 9)
        i, s = _unpack_I(self.data, pos)[0], _unpack_I(self.data, pos + 4)[0]
        return Pid(node, i, s, self.data[pos + 8]), pos + 9

    def new_pid(self, pos):
        node, pos = self.node_atom(pos)
        self.need(pos, 12)
        d = self.data
        return Pid(node, _unpack_I(d, pos)[0], _unpack_I(d, pos + 4)[0], _unpack_I(d, pos + 8)[0]), pos + 12

    def port(self, pos):
        node, pos = self.node_atom(pos)
        self.need(pos, 5)
        return Port(node, _unpack_I(self.data, pos)[0], self.data[pos + 4]), pos + 5

    def new_port(self, pos):
        node, pos = self.node_atom(pos)
        self.need(pos, 8)
        return Port(node, _unpack_I(self.data, pos)[0], _unpack_I(self.data, pos + 4)[0]), pos + 8

    def v4_port(self, pos):
        node, pos = self.node_atom(pos)
        self.need(pos, 12)
        pid = int.from_bytes(self.data[pos:pos + 8], "big")
        return Port(node, pid, _unpack_I(self.data, pos + 8)[0]), pos + 12

    def reference(self, pos):
        node, pos = self.node_atom(pos)
        self.need(pos, 5)
        return Reference(node, self.data[pos + 4], (_unpack_I(self.data, pos)[0],)), pos + 5

    def new_reference(self, pos):
        self.need(pos, 2)
        n = _unpack_H(self.data, pos)[0]
        node, p = self.node_atom(pos + 2)
        self.need(p, 1 + 4 * n)
        creation = self.data[p]
        ids = struct.unpack_from(f">{n}I", self.data, p + 1)
        return Reference(node, creation, ids), p + 1 + 4 * n

    def newer_reference(self, pos):
        self.need(pos, 2)
        n = _unpack_H(self.data, pos)[0]
        if n > 5:
            raise ETFDecodeError(f"reference with {n} words", pos)
        node, p = self.node_atom(pos + 2)
        self.need(p, 4 + 4 * n)
        creation = _unpack_I(self.data, p)[0]
        ids = struct.unpack_from(f">{n}I", self.data, p + 4)
        return Reference(node, creation, ids), p + 4 + 4 * n

    # -- containers
    def small_tuple(self, pos):
        self.need(pos, 1)
        return self._tuple(pos + 1, self.data[pos])

    def large_tuple(self, pos):
        self.need(pos, 4)
        return self._tuple(pos + 4, _unpack_I(self.data, pos)[0])

    def _tuple(self, pos, arity):
        items = []
        term = self.term
        for _ in range(arity):
            v, pos = term(pos)
            items.append(v)
        return tuple(items), pos

    def nil(self, pos):
        return [], pos

    def string(self, pos):
        self.need(pos, 2)
        n = _unpack_H(self.data, pos)[0]
        start = pos + 2
        self.need(start, n)
        raw = self.data[start:start + n]
        if self.strings == "list":
            return list(raw), start + n
        if self.strings == "str":
            return bytes(raw).decode("latin-1"), start + n
        return bytes(raw), start + n

    def list_ext(self, pos):
        self.need(pos, 4)
        n = _unpack_I(self.data, pos)[0]
        pos += 4
        data = self.data
        items = []
        append = items.append
        term = self.term
        end = self.n
        for _ in range(n):
            if pos + 1 < end and data[pos] == 97:       # SMALL_INTEGER_EXT fast path
                append(data[pos + 1])
                pos += 2
            else:
                v, pos = term(pos)
                append(v)
        if pos < end and data[pos] == 106:
            return items, pos + 1
        tail, pos = term(pos)
        if isinstance(tail, list):
            # a proper list written in two parts is still a proper list
            return items + tail, pos
        if isinstance(tail, ImproperList):
            return ImproperList(tuple(items) + tail.elements, tail.tail), pos
        return ImproperList(tuple(items), tail), pos

    def map_ext(self, pos):
        self.need(pos, 4)
        n = _unpack_I(self.data, pos)[0]
        pos += 4
        pairs = []
        term = self.term
        for _ in range(n):
            k, pos = term(pos)
            v, pos = term(pos)
            pairs.append((k, v))
        try:
            return dict(pairs), pos
        except TypeError:
            return ErlMap(pairs), pos

    def binary(self, pos):
        self.need(pos, 4)
        n = _unpack_I(self.data, pos)[0]
        start = pos + 4
        self.need(start, n)
        return bytes(self.data[start:start + n]), start + n

    def bit_binary(self, pos):
        self.need(pos, 5)
        n = _unpack_I(self.data, pos)[0]
        bits = self.data[pos + 4]
        start = pos + 5
        self.need(start, n)
        if not 1 <= bits <= 8 or n == 0:
            raise ETFDecodeError(f"bad bit count {bits}", pos + 4)
        raw = bytes(self.data[start:start + n])
        if bits == 8:
            return raw, start + n
        return BitString(raw, bits), start + n

    # -- opaque
    def new_fun(self, pos):
        self.need(pos, 4)
        size = _unpack_I(self.data, pos)[0]
        if size < 4:
            raise ETFDecodeError("bad NEW_FUN_EXT size", pos)
        self.need(pos, size)
        # Size counts itself and everything after the tag; check the free
        # variables are well formed by walking them.
        end = pos + size
        p = pos + 4 + 1 + 16 + 4
        self.need(p, 4)
        num_free = _unpack_I(self.data, p)[0]
        p += 4
        for _ in range(3):                       # module, old index, old uniq
            _, p = self.term(p)
        _, p = self.term(p)                      # pid
        for _ in range(num_free):
            _, p = self.term(p)
        if p != end:
            raise ETFDecodeError("NEW_FUN_EXT size does not match its contents", pos)
        return Opaque(112, bytes(self.data[pos - 1:end])), end

    def export(self, pos):
        start = pos - 1
        for _ in range(3):
            _, pos = self.term(pos)
        return Opaque(113, bytes(self.data[start:pos])), pos

    def local_ext(self, pos):
        # LOCAL_EXT (OTP 26): a node-local encoding we cannot interpret; it carries
        # a hash and then a term in ordinary encoding, which tells us its length.
        start = pos - 1
        self.need(pos, 8)
        _, end = self.term(pos + 8)
        return Opaque(121, bytes(self.data[start:end])), end


_DISPATCH = {
    97: _Decoder.small_int, 98: _Decoder.integer, 99: _Decoder.old_float,
    70: _Decoder.new_float, 110: _Decoder.small_big, 111: _Decoder.large_big,
    100: _Decoder.atom_ext, 115: _Decoder.small_atom_ext, 118: _Decoder.atom_utf8,
    119: _Decoder.small_atom_utf8, 103: _Decoder.pid, 88: _Decoder.new_pid,
    102: _Decoder.port, 89: _Decoder.new_port, 120: _Decoder.v4_port,
    101: _Decoder.reference, 114: _Decoder.new_reference, 90: _Decoder.newer_reference,
    104: _Decoder.small_tuple, 105: _Decoder.large_tuple, 106: _Decoder.nil,
    107: _Decoder.string, 108: _Decoder.list_ext, 116: _Decoder.map_ext,
    109: _Decoder.binary, 77: _Decoder.bit_binary, 112: _Decoder.new_fun,
    113: _Decoder.export, 121: _Decoder.local_ext,
}


# ---------------------------------------------------------------------------
# encoding
# ---------------------------------------------------------------------------

def term_to_binary(term) -> bytes:
    parts = [b"\x83"]
    encode_into(term, parts)
    return b"".join(parts)


_SMALL_INTS = [bytes((97, i)) for i in range(256)]


def _enc_atom(name: str, parts: list) -> None:
    raw = name.encode("utf-8")
    n = len(raw)
    if n < 256:
        parts.append(_pack_BB(119, n))
    else:
        parts.append(_pack_BH(118, n))
    parts.append(raw)


_ATOM_CACHE: dict[Atom, bytes] = {}


def _atom_bytes(a: Atom) -> bytes:
    b = _ATOM_CACHE.get(a)
    if b is None:
        parts: list = []
        _enc_atom(a.name, parts)
        b = b"".join(parts)
        if len(_ATOM_CACHE) < 100_000:
            _ATOM_CACHE[a] = b
    return b


_TRUE_B = _atom_bytes(TRUE)
_FALSE_B = _atom_bytes(FALSE)
_UNDEF_B = _atom_bytes(UNDEFINED)


def _enc_int(v: int, parts: list) -> None:
    if 0 <= v < 256:
        parts.append(_SMALL_INTS[v])
    elif -2147483648 <= v <= 2147483647:
        parts.append(b"b" + _pack_i(v))
    else:
        sign = 1 if v < 0 else 0
        mag = -v if sign else v
        raw = mag.to_bytes((mag.bit_length() + 7) // 8, "little")
        if len(raw) < 256:
            parts.append(bytes((110, len(raw), sign)))
        else:
            parts.append(b"o" + _pack_I(len(raw)) + bytes((sign,)))
        parts.append(raw)


def _enc_str(s: str, parts: list) -> None:
    n = len(s)
    if n == 0:
        parts.append(b"j")
        return
    if n <= 65535:
        try:
            raw = s.encode("latin-1")
        except UnicodeEncodeError:
            raw = None
        if raw is not None:
            parts.append(b"k" + _pack_H(n))
            parts.append(raw)
            return
    parts.append(b"l" + _pack_I(n))
    for ch in s:
        _enc_int(ord(ch), parts)
    parts.append(b"j")


def _enc_list(items: list, parts: list) -> None:
    n = len(items)
    if n == 0:
        parts.append(b"j")
        return
    parts.append(b"l" + _pack_I(n))
    small = _SMALL_INTS
    for v in items:
        if type(v) is int and 0 <= v < 256:
            parts.append(small[v])
        else:
            encode_into(v, parts)
    parts.append(b"j")


def encode_into(term, parts: list) -> None:
    """Append the encoding of ``term`` (without the 131 byte) to ``parts``."""
    t = type(term)
    if t is Atom:
        parts.append(_atom_bytes(term))
    elif t is bytes or t is bytearray or t is memoryview:
        parts.append(b"m" + _pack_I(len(term)))
        parts.append(bytes(term) if t is not bytes else term)
    elif t is int:
        _enc_int(term, parts)
    elif t is tuple:
        n = len(term)
        parts.append(_pack_BB(104, n) if n < 256 else b"i" + _pack_I(n))
        for item in term:
            encode_into(item, parts)
    elif t is list:
        _enc_list(term, parts)
    elif t is bool:
        parts.append(_TRUE_B if term else _FALSE_B)
    elif term is None:
        parts.append(_UNDEF_B)
    elif t is float:
        parts.append(b"F" + _pack_d(term))
    elif t is str:
        _enc_str(term, parts)
    elif t is Pid:
        parts.append(b"X")
        parts.append(_atom_bytes(term.node))
        parts.append(struct.pack(">III", term.id, term.serial, term.creation))
    elif t is Reference:
        ids = term.ids
        parts.append(b"Z" + _pack_H(len(ids)))
        parts.append(_atom_bytes(term.node))
        parts.append(struct.pack(f">I{len(ids)}I", term.creation, *ids))
    elif t is Port:
        if term.id > 0xFFFFFFFF:
            parts.append(b"x")
            parts.append(_atom_bytes(term.node))
            parts.append(term.id.to_bytes(8, "big") + _pack_I(term.creation))
        else:
            parts.append(b"Y")
            parts.append(_atom_bytes(term.node))
            parts.append(struct.pack(">II", term.id, term.creation))
    elif t is dict:
        parts.append(b"t" + _pack_I(len(term)))
        for k, v in term.items():
            encode_into(k, parts)
            encode_into(v, parts)
    elif t is ErlMap:
        parts.append(b"t" + _pack_I(len(term.items)))
        for k, v in term.items:
            encode_into(k, parts)
            encode_into(v, parts)
    elif t is ImproperList:
        if isinstance(term.tail, list):
            raise ETFEncodeError("ImproperList tail must not be a list")
        parts.append(b"l" + _pack_I(len(term.elements)))
        for v in term.elements:
            encode_into(v, parts)
        encode_into(term.tail, parts)
    elif t is BitString:
        if not 1 <= term.bits <= 8 or not term.data:
            raise ETFEncodeError(f"bad BitString {term!r}")
        parts.append(b"M" + _pack_I(len(term.data)) + bytes((term.bits,)))
        parts.append(term.data)
    elif t is Opaque:
        parts.append(term.raw)
    elif isinstance(term, Atom):
        parts.append(_atom_bytes(term))
    elif isinstance(term, bool):
        parts.append(_TRUE_B if term else _FALSE_B)
    elif isinstance(term, int):
        _enc_int(int(term), parts)
    elif isinstance(term, str):
        _enc_str(str(term), parts)
    elif isinstance(term, (bytes, bytearray, memoryview)):
        encode_into(bytes(term), parts)
    elif isinstance(term, tuple):
        encode_into(tuple(term), parts)
    elif isinstance(term, list):
        _enc_list(term, parts)
    elif isinstance(term, dict):
        encode_into(dict(term), parts)
    else:
        raise ETFEncodeError(f"cannot encode {t.__name__} value {term!r} as an Erlang term")
