"""External Term Format: decode by walking offsets, encode into a list of parts.

Decoding
    ``decode(data, offset)`` reads one term *with* its 131 version byte starting at
    ``offset`` and returns ``(term, next_offset)``; ``binary_to_term`` insists the
    whole buffer is one term. The decoder walks one ``bytes`` object by index
    (a ``bytearray``/``memoryview`` is copied to ``bytes`` once); nothing slices
    "the rest of the buffer" per element. Every tag is a plain function
    ``f(data, pos, strings) -> (term, pos)`` looked up in a 256-entry table.
    Hot shapes have special cases: a LIST_EXT whose elements are all
    SMALL_INTEGER_EXT is recognised with one strided slice and turned into a
    list in C; STRING_EXT is ``list(bytes)``; atoms are cached by their raw bytes,
    and so are NEW_PID_EXT pids (a peer's pids recur message after message); small
    atoms and small integers inside tuples and lists are decoded inline, without a
    call. A decoded pid or reference keeps its external form (``_ext``) when it is
    byte for byte what the encoder would write, and the encoder fills it on first
    use, so an identifier is encoded once however often it is sent.

    Malformed input always raises ``ETFDecodeError`` (a ``ValueError``) whose
    ``.offset`` is the position of the problem; truncated input reports the
    offset where the data ran out.

Encoding
    ``encode_into(term, parts)`` appends ``bytes`` chunks to ``parts`` (no 131
    byte); ``term_to_binary`` joins them once. A list of ints 0..255 of length up
    to 65535 is written as STRING_EXT, exactly as Erlang itself does. Values
    with no Erlang form raise ``ETFEncodeError`` (a ``TypeError``).

Limits (documented, by design)
    * Nesting depth is bounded by Python's recursion limit (about 500 levels of
      nested tuples or lists, 1000 of maps); deeper input raises ``ETFDecodeError`` /
      ``ETFEncodeError`` ("nested too deeply"), never ``RecursionError``.
      Long lists and improper-list chains are iterative, not recursive.
    * LOCAL_EXT (tag 121, OTP 26 ``term_to_binary(T, [local])``) has an
      undocumented, node-instance-specific body whose length cannot be computed.
      It is kept as ``Opaque(121, raw)`` spanning to the end of the buffer (the
      only place OTP produces it is the top level of a ``term_to_binary``
      result), and re-encodes byte-exactly.
    * NEW_FUN_EXT (112) and EXPORT_EXT (113) become ``Opaque`` holding the tag
      and payload byte-exactly; the decoder walks a fun's free variables to
      check that its Size field matches its contents.
    * Floats: NaN and infinities have no Erlang form; they are rejected on both
      encode and decode (Erlang's ``binary_to_term`` rejects them too).
    * ATOM_CACHE_REF (82) is a distribution-header feature, not part of a
      stand-alone term, and is reported as an unknown tag.
"""
from __future__ import annotations

import re
import struct
import zlib
from itertools import repeat as _repeat
from operator import is_ as _is

from .types import (Atom, BitString, ErlMap, ImproperList, Opaque, Pid, Port, Reference,
                    pid_with_ext, reference_with_ext, set_pid_ext, set_ref_ext)

__all__ = ["ETFDecodeError", "ETFEncodeError", "binary_to_term", "decode", "encode_into",
           "term_to_binary", "VERSION"]

VERSION = 131

_unpack_H = struct.Struct(">H").unpack_from
_unpack_I = struct.Struct(">I").unpack_from
_unpack_i = struct.Struct(">i").unpack_from
_unpack_d = struct.Struct(">d").unpack_from
_unpack_II = struct.Struct(">II").unpack_from
_unpack_III = struct.Struct(">III").unpack_from
_unpack_IB = struct.Struct(">IB").unpack_from
_unpack_QI = struct.Struct(">QI").unpack_from
_unpack_IIB = struct.Struct(">IIB").unpack_from
_IDS = [struct.Struct(f">{n}I") for n in range(6)]

_STRINGS = {"list": 0, "str": 1, "bytes": 2}


class ETFDecodeError(ValueError):
    """Malformed external term; ``offset`` is where in the buffer the problem is."""

    def __init__(self, message: str, offset: int):
        super().__init__(f"{message} at offset {offset}")
        self.reason = message
        self.offset = offset


class ETFEncodeError(TypeError):
    """A Python value that has no Erlang external term form."""


class _Truncated(Exception):
    """Internal: a length field points past the end of the data."""


# ---------------------------------------------------------------------------
# decoding
# ---------------------------------------------------------------------------

def binary_to_term(data, *, strings: str = "list"):
    """Decode a whole buffer holding exactly one term (with its 131 byte)."""
    if not isinstance(data, bytes):
        data = _as_bytes(data)
    term, end = decode(data, 0, strings=strings)
    if end != len(data):
        raise ETFDecodeError(f"{len(data) - end} trailing bytes after the term", end)
    return term


def _as_bytes(data) -> bytes:
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"expected a bytes-like object, not {type(data).__name__}")


def decode(data, offset: int = 0, *, strings: str = "list"):
    """Decode one term whose 131 version byte is at ``offset``: ``(term, next_offset)``.

    Pass ``bytes``: a ``bytearray``/``memoryview`` is copied once per call, so a
    frame holding several terms should be converted once by the caller.
    ``strings`` chooses what STRING_EXT becomes: ``"list"`` (list of ints, the
    default), ``"str"`` (latin-1 decoded ``str``) or ``"bytes"``.
    """
    if not isinstance(data, bytes):
        data = _as_bytes(data)
    mode = _STRINGS.get(strings)
    if mode is None:
        raise ValueError("strings must be 'list', 'str' or 'bytes'")
    n = len(data)
    if offset < 0 or offset >= n:
        raise ETFDecodeError("no data: expected the version byte 131", offset)
    if data[offset] != VERSION:
        raise ETFDecodeError(f"bad version byte {data[offset]} (expected 131)", offset)
    pos = offset + 1
    try:
        if pos < n and data[pos] == 80:
            return _compressed(data, pos + 1, mode)
        term, end = _DEC[data[pos]](data, pos + 1, mode)
        if end > n:   # the last thing read was a cached atom cut short
            raise _Truncated
        return term, end
    except (IndexError, struct.error, _Truncated):
        raise ETFDecodeError("truncated term: data ends before the term is complete",
                             n) from None
    except RecursionError:
        raise ETFDecodeError("term nested too deeply", offset) from None


def _compressed(d: bytes, pos: int, mode: int):
    size = _unpack_I(d, pos)[0]
    zpos = pos + 4
    dec = zlib.decompressobj()
    try:
        raw = dec.decompress(memoryview(d)[zpos:], size + 1)
    except zlib.error as exc:
        raise ETFDecodeError(f"bad zlib data in compressed term ({exc})", zpos) from None
    if len(raw) != size or not dec.eof:
        if len(raw) > size:
            what = "more than"
        elif not dec.eof and len(raw) == size:
            what = "truncated data for"
        else:
            what = f"only {len(raw)} bytes, not"
        raise ETFDecodeError(
            f"compressed term: uncompressed data is {what} the declared size {size}", pos)
    if size == 0:
        raise ETFDecodeError("compressed term is empty", pos)
    try:
        term, end = _DEC[raw[0]](raw, 1, mode)
    except ETFDecodeError as exc:
        raise ETFDecodeError(
            f"inside compressed term (uncompressed offset {exc.offset}): {exc.reason}",
            zpos) from None
    except (IndexError, struct.error, _Truncated):
        raise ETFDecodeError("inside compressed term: truncated term", zpos) from None
    if end != size:
        raise ETFDecodeError(
            f"compressed term: {size - end} bytes left after the term inside", zpos)
    return term, len(d) - len(dec.unused_data)


def _need(d: bytes, end: int) -> None:
    if end > len(d):
        raise _Truncated


# -- numbers

def _small_int(d, pos, mode):
    return d[pos], pos + 1


def _integer(d, pos, mode):
    return _unpack_i(d, pos)[0], pos + 4


def _check_float(v, pos):
    if v - v != 0.0:  # inf or nan
        raise ETFDecodeError(f"float {v} has no Erlang form", pos)
    return v


def _new_float(d, pos, mode):
    v = _unpack_d(d, pos)[0]
    if v - v != 0.0:
        _check_float(v, pos)
    return v, pos + 8


def _old_float(d, pos, mode):
    end = pos + 31
    _need(d, end)
    text = d[pos:end].split(b"\0", 1)[0]
    try:
        v = float(text)
    except ValueError:
        raise ETFDecodeError(f"bad FLOAT_EXT text {text!r}", pos) from None
    return _check_float(v, pos), end


def _small_big(d, pos, mode):
    n = d[pos]
    sign = d[pos + 1]
    start = pos + 2
    end = start + n
    _need(d, end)
    v = int.from_bytes(d[start:end], "little")
    return (-v if sign else v), end


def _large_big(d, pos, mode):
    n, sign = _unpack_IB(d, pos)
    start = pos + 5
    end = start + n
    _need(d, end)
    v = int.from_bytes(d[start:end], "little")
    return (-v if sign else v), end


# -- atoms (cached by raw bytes; true/false become bool)

_ATOMS_UTF8: dict = {b"true": True, b"false": False}
_ATOMS_LATIN1: dict = {b"true": True, b"false": False}
_ATOM_CACHE_MAX = 65536


def _make_atom(d, start, end, cache, encoding):
    raw = d[start:end]
    if len(raw) != end - start:
        raise _Truncated
    try:
        name = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ETFDecodeError(f"atom is not valid UTF-8 ({exc.reason})",
                             start + exc.start) from None
    if len(name) > 255:
        raise ETFDecodeError(f"atom of {len(name)} characters (max 255)", start)
    v = Atom(name)
    if len(cache) < _ATOM_CACHE_MAX:
        cache[raw] = v
    return v


def _small_atom_utf8(d, pos, mode):
    end = pos + 1 + d[pos]
    v = _ATOMS_UTF8.get(d[pos + 1:end])
    if v is None:
        v = _make_atom(d, pos + 1, end, _ATOMS_UTF8, "utf-8")
    return v, end


def _atom_utf8(d, pos, mode):
    end = pos + 2 + _unpack_H(d, pos)[0]
    v = _ATOMS_UTF8.get(d[pos + 2:end])
    if v is None:
        v = _make_atom(d, pos + 2, end, _ATOMS_UTF8, "utf-8")
    return v, end


def _small_atom(d, pos, mode):
    end = pos + 1 + d[pos]
    v = _ATOMS_LATIN1.get(d[pos + 1:end])
    if v is None:
        v = _make_atom(d, pos + 1, end, _ATOMS_LATIN1, "latin-1")
    return v, end


def _atom(d, pos, mode):
    end = pos + 2 + _unpack_H(d, pos)[0]
    v = _ATOMS_LATIN1.get(d[pos + 2:end])
    if v is None:
        v = _make_atom(d, pos + 2, end, _ATOMS_LATIN1, "latin-1")
    return v, end


_ATOM_TAGS = frozenset((100, 115, 118, 119))


def _node(d, pos):
    tag = d[pos]
    if tag == 119:   # SMALL_ATOM_UTF8, what OTP sends: the atom cache hit inline
        end = pos + 2 + d[pos + 1]
        v = _ATOMS_UTF8.get(d[pos + 2:end])
        if type(v) is Atom:
            return v, end
    if tag not in _ATOM_TAGS:
        raise ETFDecodeError(f"node name must be an atom, found tag {tag}", pos)
    v, pos = _DEC[tag](d, pos + 1, 0)
    if v is True or v is False:
        v = Atom("true" if v else "false")
    return v, pos


# -- identifiers

def _pid(d, pos, mode):
    node, pos = _node(d, pos)
    i, s, c = _unpack_IIB(d, pos)
    return Pid(node, i, s, c), pos + 9


# NEW_PID_EXT bodies seen -> Pid: the same few pids (a peer's processes talking to
# us) come back in message after message. Pids are immutable, so sharing is safe.
_PIDS: dict = {}
_PID_CACHE_MAX = 4096


def _new_pid(d, pos, mode):
    if d[pos] == 119:
        v = _PIDS.get(d[pos:pos + 14 + d[pos + 1]])   # atom header, name, 3 words
        if v is not None:
            return v, pos + 14 + d[pos + 1]
    node, end = _node(d, pos)
    i, s, c = _unpack_III(d, end)
    end += 12
    # with a SMALL_ATOM_UTF8 node this is exactly what the encoder writes: keep it
    v = pid_with_ext(node, i, s, c, d[pos - 1:end] if d[pos] == 119 else None)
    if len(_PIDS) >= _PID_CACHE_MAX:
        _PIDS.clear()
    _PIDS[d[pos:end]] = v
    return v, end


def _port(d, pos, mode):
    node, pos = _node(d, pos)
    i, c = _unpack_IB(d, pos)
    return Port(node, i, c), pos + 5


def _new_port(d, pos, mode):
    node, pos = _node(d, pos)
    i, c = _unpack_II(d, pos)
    return Port(node, i, c), pos + 8


def _v4_port(d, pos, mode):
    node, pos = _node(d, pos)
    i, c = _unpack_QI(d, pos)
    return Port(node, i, c), pos + 12


def _reference(d, pos, mode):
    node, pos = _node(d, pos)
    i, c = _unpack_IB(d, pos)
    return Reference(node, c, (i,)), pos + 5


def _ref_len(d, pos):
    n = _unpack_H(d, pos)[0]
    if not 1 <= n <= 5:
        raise ETFDecodeError(f"reference with {n} id words (1..5 allowed)", pos)
    return n


def _new_reference(d, pos, mode):
    n = _ref_len(d, pos)
    node, pos = _node(d, pos + 2)
    c = d[pos]
    ids = _IDS[n].unpack_from(d, pos + 1)
    return Reference(node, c, ids), pos + 1 + 4 * n


def _newer_reference(d, pos, mode):
    n = _unpack_H(d, pos)[0]
    if not 1 <= n <= 5:
        n = _ref_len(d, pos)   # raises
    start = pos - 1
    node, pos = _node(d, pos + 2)
    c = _unpack_I(d, pos)[0]
    ids = _IDS[n].unpack_from(d, pos + 4)
    end = pos + 4 + 4 * n
    # with a SMALL_ATOM_UTF8 node this is exactly what the encoder writes: keep it
    return reference_with_ext(node, c, ids, d[start:end] if d[start + 3] == 119 else None), end


# -- containers

def _elements(d, pos, n, mode):
    """Decode ``n`` consecutive terms into a list. Small atoms and small integers,
    most of the elements of control messages, are handled inline (no call)."""
    items = [None] * n
    dec = _DEC
    atoms = _ATOMS_UTF8
    for i in range(n):
        tag = d[pos]
        if tag == 119:
            end = pos + 2 + d[pos + 1]
            v = atoms.get(d[pos + 2:end])
            if v is not None:
                items[i] = v
                pos = end
                continue
        elif tag == 97:
            items[i] = d[pos + 1]
            pos += 2
            continue
        items[i], pos = dec[tag](d, pos + 1, mode)
    return items, pos


def _tuple(d, pos, arity, mode):
    items, pos = _elements(d, pos, arity, mode)
    return tuple(items), pos


def _small_tuple(d, pos, mode):
    items, pos = _elements(d, pos + 1, d[pos], mode)
    return tuple(items), pos


def _large_tuple(d, pos, mode):
    n = _unpack_I(d, pos)[0]
    _need(d, pos + 4 + n)  # every element takes at least one byte
    return _tuple(d, pos + 4, n, mode)


def _nil(d, pos, mode):
    return [], pos


def _string(d, pos, mode):
    start = pos + 2
    end = start + _unpack_H(d, pos)[0]
    raw = d[start:end]
    if len(raw) != end - start:
        raise _Truncated
    if mode == 0:
        return list(raw), end
    if mode == 1:
        return raw.decode("latin-1"), end
    return raw, end


def _list(d, pos, mode):
    """LIST_EXT: proper lists, improper lists, and the iterative improper tail."""
    elements: list = []
    while True:
        n = _unpack_I(d, pos)[0]
        pos += 4
        end2 = pos + 2 * n
        # Fast path: every element is SMALL_INTEGER_EXT (97, byte).
        if n and d[pos] == 97 and end2 <= len(d) and d[pos:end2:2].count(97) == n:
            elements += d[pos + 1:end2:2]
            pos = end2
        else:
            if pos + n > len(d):   # every element takes at least one byte
                raise _Truncated
            if elements:
                items, pos = _elements(d, pos, n, mode)
                elements += items
            else:
                elements, pos = _elements(d, pos, n, mode)
        tag = d[pos]
        if tag == 106:
            return elements, pos + 1
        if tag == 108:  # tail is itself a list: keep walking without recursion
            pos += 1
            continue
        if tag == 107:  # tail is a STRING_EXT
            tail, pos = _string(d, pos + 1, 0)
            elements += tail
            return elements, pos
        tail, pos = _DEC[tag](d, pos + 1, mode)
        if not elements:
            return tail, pos
        return ImproperList(tuple(elements), tail), pos


def _map(d, pos, mode):
    n = _unpack_I(d, pos)[0]
    pos += 4
    _need(d, pos + 2 * n)
    dec = _DEC
    pairs = [None] * n
    for i in range(n):
        k, pos = dec[d[pos]](d, pos + 1, mode)
        v, pos = dec[d[pos]](d, pos + 1, mode)
        pairs[i] = (k, v)
    try:
        m = dict(pairs)
    except TypeError:  # a key Python cannot hash (list, map, ...)
        return ErlMap(pairs), pos
    if len(m) != n:
        # Keys Erlang keeps apart but Python merges (1, 1.0, true): keep them all.
        return ErlMap(pairs), pos
    return m, pos


def _binary(d, pos, mode):
    start = pos + 4
    end = start + _unpack_I(d, pos)[0]
    raw = d[start:end]
    if len(raw) != end - start:
        raise _Truncated
    return raw, end


def _bit_binary(d, pos, mode):
    n, bits = _unpack_IB(d, pos)
    start = pos + 5
    end = start + n
    if not 1 <= bits <= 8 or n == 0:
        raise ETFDecodeError(f"BIT_BINARY_EXT with {n} bytes and {bits} bits in the last",
                             pos + 4)
    raw = d[start:end]
    if len(raw) != n:
        raise _Truncated
    if bits == 8:
        return raw, end
    return BitString(raw, bits), end


# -- kept byte-exact

def _new_fun(d, pos, mode):
    size = _unpack_I(d, pos)[0]
    end = pos + size
    if size < 4 + 1 + 16 + 4 + 4:
        raise ETFDecodeError(f"NEW_FUN_EXT size {size} too small", pos)
    _need(d, end)
    num_free = _unpack_I(d, pos + 25)[0]
    p = pos + 29
    dec = _DEC
    for _ in range(4 + num_free):  # module, old index, old uniq, pid, free vars
        _, p = dec[d[p]](d, p + 1, mode)
        if p > end:
            break
    if p != end:
        raise ETFDecodeError(f"NEW_FUN_EXT size {size} does not match its contents "
                             f"({p - pos} bytes)", pos)
    return Opaque(112, d[pos - 1:end]), end


def _export(d, pos, mode):
    start = pos - 1
    for _ in range(2):
        tag = d[pos]
        if tag not in _ATOM_TAGS:
            raise ETFDecodeError(f"EXPORT_EXT module/function must be an atom, found tag {tag}",
                                 pos)
        _, pos = _DEC[tag](d, pos + 1, mode)
    if d[pos] != 97:
        raise ETFDecodeError("EXPORT_EXT arity must be a SMALL_INTEGER_EXT", pos)
    pos += 2
    _need(d, pos)
    return Opaque(113, d[start:pos]), pos


def _local(d, pos, mode):
    # Undocumented node-local body: keep everything to the end of the buffer.
    return Opaque(121, d[pos - 1:]), len(d)


def _unknown(d, pos, mode):
    raise ETFDecodeError(f"unknown term tag {d[pos - 1]}", pos - 1)


_DEC = [_unknown] * 256
for _tag, _fn in {
    97: _small_int, 98: _integer, 99: _old_float, 70: _new_float,
    110: _small_big, 111: _large_big,
    100: _atom, 115: _small_atom, 118: _atom_utf8, 119: _small_atom_utf8,
    103: _pid, 88: _new_pid, 102: _port, 89: _new_port, 120: _v4_port,
    101: _reference, 114: _new_reference, 90: _newer_reference,
    104: _small_tuple, 105: _large_tuple, 106: _nil, 107: _string, 108: _list,
    116: _map, 109: _binary, 77: _bit_binary, 112: _new_fun, 113: _export, 121: _local,
}.items():
    _DEC[_tag] = _fn
del _tag, _fn


# ---------------------------------------------------------------------------
# encoding
# ---------------------------------------------------------------------------

_pack_BB = struct.Struct(">BB").pack
_pack_BH = struct.Struct(">BH").pack
_pack_BI = struct.Struct(">BI").pack
_pack_Bi = struct.Struct(">Bi").pack
_pack_Bd = struct.Struct(">Bd").pack
_pack_BIB = struct.Struct(">BIB").pack
_pack_III = struct.Struct(">III").pack
_pack_II = struct.Struct(">II").pack
_pack_QI = struct.Struct(">QI").pack
_REF_IDS = [struct.Struct(f">I{n}I") for n in range(6)]

_SMALL_INTS = [bytes((97, i)) for i in range(256)]
_ZERO_ONE = re.compile(rb"[\x00\x01]")


def term_to_binary(term) -> bytes:
    """Encode ``term`` with the 131 version byte."""
    parts = [b"\x83"]
    encode_into(term, parts)
    return b"".join(parts)


def encode_into(term, parts: list) -> None:
    """Append the encoding of ``term`` (without the 131 byte) to ``parts``."""
    try:
        _enc(term, parts)
    except RecursionError:
        raise ETFEncodeError("term nested too deeply (or contains itself)") from None
    except (struct.error, OverflowError) as exc:
        raise ETFEncodeError(f"value out of range for the external format: {exc}") from None


_ATOM_BYTES: dict = {}


def _atom_bytes(a: Atom) -> bytes:
    b = _ATOM_BYTES.get(a)
    if b is None:
        raw = a.name.encode("utf-8")
        n = len(raw)
        b = (_pack_BB(119, n) if n < 256 else _pack_BH(118, n)) + raw
        if len(_ATOM_BYTES) < _ATOM_CACHE_MAX:
            _ATOM_BYTES[a] = b
    return b


_TRUE_B = _atom_bytes(Atom("true"))
_FALSE_B = _atom_bytes(Atom("false"))
_UNDEF_B = _atom_bytes(Atom("undefined"))


def _enc_int(v: int, parts: list) -> None:
    if 0 <= v < 256:
        parts.append(_SMALL_INTS[v])
    elif -2147483648 <= v <= 2147483647:
        parts.append(_pack_Bi(98, v))
    else:
        sign = 1 if v < 0 else 0
        mag = -v if sign else v
        raw = mag.to_bytes((mag.bit_length() + 7) // 8, "little")
        n = len(raw)
        parts.append(bytes((110, n, sign)) if n < 256 else _pack_BIB(111, n, sign))
        parts.append(raw)


def _small_int_bytes(items: list):
    """``bytes(items)`` if every item is an int 0..255 (and not a bool), else None."""
    try:
        raw = bytes(items)
    except (TypeError, ValueError):
        return None
    # bytes() also accepts bools (as 0/1); look at the items where those bytes are.
    k = raw.count(0) + raw.count(1)
    if k:
        if k <= 64 or k <= len(raw) >> 3:
            for m in _ZERO_ONE.finditer(raw):
                if type(items[m.start()]) is bool:
                    return None
        elif any(map(_is, items, _repeat(True))) or any(map(_is, items, _repeat(False))):
            return None
    return raw


def _enc_list(items: list, parts: list) -> None:
    n = len(items)
    if n == 0:
        parts.append(b"j")
        return
    if type(items[0]) is int and type(items[-1]) is int:
        raw = _small_int_bytes(items)
        if raw is not None:
            if n <= 65535:
                parts.append(_pack_BH(107, n))
                parts.append(raw)
            else:
                out = bytearray(2 * n)
                out[0::2] = b"a" * n
                out[1::2] = raw
                parts.append(_pack_BI(108, n))
                parts.append(bytes(out))
                parts.append(b"j")
            return
    parts.append(_pack_BI(108, n))
    _enc_items(items, parts)
    parts.append(b"j")


def _enc_items(items, parts: list) -> None:
    """The elements of a tuple or list. Atoms, small integers, pids and references,
    most of what control messages hold, are written inline (no call)."""
    append = parts.append
    atoms = _ATOM_BYTES
    small = _SMALL_INTS
    for v in items:
        t = type(v)
        if t is Atom:
            append(atoms.get(v) or _atom_bytes(v))
        elif t is int and 0 <= v < 256:
            append(small[v])
        elif t is Pid:
            append(v._ext or _pid_ext(v))
        elif t is Reference:
            append(v._ext or _ref_ext(v))
        elif t is tuple:
            n = len(v)
            append(_pack_BB(104, n) if n < 256 else _pack_BI(105, n))
            _enc_items(v, parts)
        elif t is bytes:
            append(_pack_BI(109, len(v)))
            append(v)
        else:
            _enc(v, parts)


def _enc_str(s: str, parts: list) -> None:
    n = len(s)
    if n == 0:
        parts.append(b"j")
        return
    if n <= 65535:
        try:
            raw = s.encode("latin-1")
        except UnicodeEncodeError:
            pass
        else:
            parts.append(_pack_BH(107, n))
            parts.append(raw)
            return
    parts.append(_pack_BI(108, n))
    small = _SMALL_INTS
    append = parts.append
    for ch in s:
        c = ord(ch)
        append(small[c] if c < 256 else _pack_Bi(98, c))
    append(b"j")


def _enc_bin(raw: bytes, parts: list) -> None:
    parts.append(_pack_BI(109, len(raw)))
    parts.append(raw)


def _enc(term, parts: list) -> None:
    t = type(term)
    if t is Atom:
        parts.append(_ATOM_BYTES.get(term) or _atom_bytes(term))
    elif t is bytes:
        parts.append(_pack_BI(109, len(term)))
        parts.append(term)
    elif t is int:
        if 0 <= term < 256:
            parts.append(_SMALL_INTS[term])
        else:
            _enc_int(term, parts)
    elif t is tuple:
        n = len(term)
        parts.append(_pack_BB(104, n) if n < 256 else _pack_BI(105, n))
        _enc_items(term, parts)
    elif t is list:
        _enc_list(term, parts)
    elif t is Pid:
        parts.append(term._ext or _pid_ext(term))
    elif t is Reference:
        parts.append(term._ext or _ref_ext(term))
    elif t is bool:
        parts.append(_TRUE_B if term else _FALSE_B)
    elif term is None:
        parts.append(_UNDEF_B)
    elif t is float:
        if term - term != 0.0:
            raise ETFEncodeError(f"float {term!r} has no Erlang form")
        parts.append(_pack_Bd(70, term))
    elif t is str:
        _enc_str(term, parts)
    elif t is dict:
        parts.append(_pack_BI(116, len(term)))
        for k, v in term.items():
            _enc(k, parts)
            _enc(v, parts)
    elif t is Port:
        node = _atom_bytes(_check_node(term))
        if term.id > 0xFFFFFFFF:
            parts.append(b"x")
            parts.append(node)
            parts.append(_pack_QI(term.id, term.creation))
        else:
            parts.append(b"Y")
            parts.append(node)
            parts.append(_pack_II(term.id, term.creation))
    elif t is ErlMap:
        items = term.items
        parts.append(_pack_BI(116, len(items)))
        for k, v in items:
            _enc(k, parts)
            _enc(v, parts)
    elif t is ImproperList:
        elements = term.elements
        if not elements:
            raise ETFEncodeError("ImproperList needs at least one element")
        if isinstance(term.tail, (list, ImproperList)):
            raise ETFEncodeError("ImproperList tail must not be a list")
        parts.append(_pack_BI(108, len(elements)))
        for v in elements:
            _enc(v, parts)
        _enc(term.tail, parts)
    elif t is BitString:
        data, bits = term.data, term.bits
        if type(data) is not bytes or not data or not 1 <= bits <= 8:
            raise ETFEncodeError(f"bad BitString {term!r}: need non-empty bytes and 1..8 bits")
        if bits == 8:
            _enc_bin(data, parts)
        else:
            parts.append(_pack_BIB(77, len(data), bits))
            parts.append(data)
    elif t is Opaque:
        raw = term.raw
        if type(raw) is not bytes or not raw or raw[0] != term.tag:
            raise ETFEncodeError(f"bad Opaque {term!r}: raw must start with its tag byte")
        parts.append(raw)
    elif t is bytearray or t is memoryview:
        _enc_bin(bytes(term), parts)
    # subclasses of the built-in types
    elif isinstance(term, Atom):
        parts.append(_atom_bytes(term))
    elif isinstance(term, bool):
        parts.append(_TRUE_B if term else _FALSE_B)
    elif isinstance(term, int):
        _enc_int(int(term), parts)
    elif isinstance(term, float):
        _enc(float(term), parts)
    elif isinstance(term, str):
        _enc_str(str(term), parts)
    elif isinstance(term, (bytes, bytearray, memoryview)):
        _enc_bin(bytes(term), parts)
    elif isinstance(term, tuple):
        _enc(tuple(term), parts)
    elif isinstance(term, list):
        _enc_list(list(term), parts)
    elif isinstance(term, dict):
        _enc(dict(term), parts)
    else:
        raise ETFEncodeError(f"cannot encode {t.__name__} value {term!r} as an Erlang term")


def _pid_ext(pid: Pid) -> bytes:
    ext = b"X" + _atom_bytes(_check_node(pid)) + _pack_III(pid.id, pid.serial, pid.creation)
    set_pid_ext(pid, ext)
    return ext


def _ref_ext(ref: Reference) -> bytes:
    ids = ref.ids
    n = len(ids)
    if not 1 <= n <= 5:
        raise ETFEncodeError(f"Reference needs 1..5 ids, has {n}")
    ext = _pack_BH(90, n) + _atom_bytes(_check_node(ref)) + _REF_IDS[n].pack(ref.creation, *ids)
    set_ref_ext(ref, ext)
    return ext


def _check_node(x):
    node = x.node
    if type(node) is not Atom:
        raise ETFEncodeError(f"{type(x).__name__} node must be an Atom, not {node!r}")
    return node
