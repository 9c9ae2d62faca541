"""External Term Format, decoding (pure; no I/O).

Decoding
    ``decode(data, offset)`` reads one term *with* its 131 version byte starting at
    ``offset`` and returns ``(term, next_offset)``; ``binary_to_term`` insists the
    whole buffer is one term. The decoder walks one ``bytes`` object by index
    (a ``bytearray``/``memoryview`` is copied to ``bytes`` once); nothing slices
    "the rest of the buffer" per element. Every tag that is not a container is a
    plain function ``f(data, pos, strings) -> (term, pos)`` looked up in a
    256-entry table. Containers (tuples, lists, maps, funs) are decoded by one
    loop that keeps the containers under construction on an explicit stack
    (``_term``), so no Python call is made per level of nesting.
    Hot shapes have special cases: a long LIST_EXT whose elements are all
    SMALL_INTEGER_EXT is recognised with strided slices and turned into ints in
    C; STRING_EXT is ``list(bytes)``; atoms are cached by their raw bytes, and so
    are NEW_PID_EXT pids (a peer's pids recur message after message); small atoms,
    small integers and binaries inside containers are decoded inline, without a
    call. A decoded pid or reference keeps its external form (``_ext``) when it is
    byte for byte what the encoder would write, and the encoder fills it on first
    use, so an identifier is encoded once however often it is sent.

    Malformed input always raises ``ETFDecodeError`` (a ``ValueError``) whose
    ``.offset`` is the position of the problem; truncated input reports the
    offset where the data ran out.

Depth and size
    Terms nest to any depth, as in OTP: an iolist built by
    ``lists:foldl(fun(I, A) -> [A, <<I:32>>] end, [], L)`` is as deep as ``L`` is
    long. Neither direction recurses, so the depth is bounded by memory only (a
    few dozen bytes per open level), never by Python's recursion limit. Huge lists
    and maps are handled in steps of ``_CHUNK`` elements (slot allocation, runs of
    small integers in both directions, building a map), so that no single C call
    holds the GIL for long and a decode or encode in a worker thread lets other
    threads run; turning the elements of a tuple or an improper list into a
    ``tuple`` remains one C call (a pointer copy, about a millisecond per million).

Limits (documented, by design)
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

import struct
import zlib

from .accel import speedups
from .types import (Atom, BitString, ErlMap, ImproperList, Opaque, Pid, Port, Reference,
                    pid_with_ext, reference_with_ext)

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
        if _fast_term is not None and n <= _FAST_MAX:
            done = _fast_term(data, pos, mode)
            if done is not None:
                return done
        f = _DEC[data[pos]]
        term, end = f(data, pos + 1, mode) if f is not None else _term(data, pos, mode)
        if end > n:   # the last thing read was a cached atom cut short
            raise _Truncated
        return term, end
    except (IndexError, struct.error, _Truncated):
        raise ETFDecodeError("truncated term: data ends before the term is complete",
                             n) from None


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
        f = _DEC[raw[0]]
        term, end = f(raw, 1, mode) if f is not None else _term(raw, 0, mode)
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


# -- strings and binaries

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


# -- containers: one loop with an explicit stack
#
# Tuples, lists, maps and funs nest to any depth (an iolist built by
# ``[Acc, Bin]`` is as deep as it is long), so containers are not decoded by
# calling a function per level: ``_term`` keeps the containers under construction
# on a list of frames and decodes every element in one loop. The Python stack
# stays flat however deep the term is; only memory bounds the depth, and every
# slot a frame allocates is backed by at least one byte of input.
#
# A frame is ``(kind, items, i, n)``: the slots of the container being built,
# how many are filled and how many it has (a list's tail is one more slot once it
# turns out not to be NIL; a map's slots are its keys and values in turn, followed
# by the offset where they start; a fun decodes its parts into one slot, followed
# by what ``_fun_step`` needs). Leaves are decoded by the functions of ``_DEC``;
# the loop itself handles the container tags and, inline, the commonest elements
# of messages: SMALL_ATOM_UTF8 atoms from the cache, SMALL_INTEGER_EXT and
# BINARY_EXT.

# Lists and tuples of millions of elements are built in steps of this many
# elements (slot allocation, the small-integer fast path, map building), so that
# no single C call holds the GIL for long: a decode running in a worker thread
# leaves the other threads a turn between steps.
_CHUNK = 1 << 18

_TUPLE, _LIST, _TAIL, _MAP, _FUN = range(5)

# A list this long whose first element is a SMALL_INTEGER_EXT is tried as a run of
# them (what Erlang writes for a string too long for STRING_EXT); a shorter one is
# not worth the strided slice.
_LONG = 256


def _term(d: bytes, pos: int, mode: int):
    """Decode the container whose tag byte is at ``pos``: ``(term, end)``.

    ``end`` may lie past the data when the last thing read was a cached atom cut
    short; ``decode`` checks for that."""
    if d[pos] == 104:   # a tuple, what control messages and most payloads are
        kind = _TUPLE
        n = d[pos + 1]
        items = [None] * n
        i = 0
        pos += 2
    else:
        kind, items, i, n, pos = _open(d, pos, d[pos])
    dec = _DEC
    atoms = _ATOMS_UTF8
    stack: list = []
    while True:
        while i < n:
            tag = d[pos]
            if tag == 119:
                end = pos + 2 + d[pos + 1]
                v = atoms.get(d[pos + 2:end])
                if v is None:
                    v, end = _small_atom_utf8(d, pos + 1, mode)
                items[i] = v
                pos = end
            elif tag == 97:
                items[i] = d[pos + 1]
                pos += 2
            elif tag == 109:   # BINARY_EXT: the data of '$pyssl_send', {ssl, S, Data}...
                start = pos + 5
                pos = start + _unpack_I(d, pos + 1)[0]
                v = d[start:pos]
                if len(v) != pos - start:
                    raise _Truncated
                items[i] = v
            else:
                f = dec[tag]
                if f is not None:
                    items[i], pos = f(d, pos + 1, mode)
                else:   # a container: its frame becomes the current one
                    stack.append((kind, items, i, n))
                    if tag == 104:
                        n = d[pos + 1]
                        pos += 2
                        kind = _TUPLE
                        items = [None] * n
                        i = 0
                    elif tag == 108 or tag == 116:
                        n = _unpack_I(d, pos + 1)[0]
                        pos += 5
                        i = 0
                        if tag == 116:
                            kind = _MAP
                            n *= 2   # keys and values
                        else:
                            kind = _LIST
                            if n >= _LONG and d[pos] == 97:   # maybe a long string
                                items = []
                                i, pos = _list_head(d, pos, n, items)
                                continue
                        if n > _CHUNK or pos + n > len(d):
                            items = _slots(d, pos, n)
                        else:
                            items = [None] * n
                        if kind == _MAP:
                            items.append(pos)   # where its pairs start, after them
                    else:
                        kind, items, i, n, pos = _open(d, pos, tag)
                    continue
            i += 1
        # the frame is full: finish its container, or go on with a list's tail
        if kind == _TUPLE:
            v = tuple(items)
        elif kind == _LIST:
            tag = d[pos]
            if tag == 106:
                v = items
                pos += 1
            elif tag == 108:   # the tail is itself a list: the same list goes on
                m = _unpack_I(d, pos + 1)[0]
                k, pos = _list_head(d, pos + 5, m, items)
                i = n + k
                n += m
                continue
            elif tag == 107:   # a STRING_EXT tail: its bytes are more elements
                tail, pos = _string(d, pos + 1, 0)
                items += tail
                v = items
            else:              # an improper list: the tail is one more term
                kind = _TAIL
                items.append(None)
                n += 1
                continue
        elif kind == _MAP:
            if pos - items.pop() > 2 * _KEY_DEPTH and _deep_key(items):
                v = _erl_map(items)
            elif n <= _CHUNK:
                try:
                    it = iter(items)
                    v = dict(zip(it, it))
                except TypeError:   # a key Python cannot hash (list, map, ...)
                    v = None
                if v is None or 2 * len(v) != n:
                    v = _erl_map(items)
            else:
                v = _big_map(items)
        elif kind == _TAIL:
            tail = items.pop()
            v = ImproperList(tuple(items), tail) if items else tail
        else:   # _FUN: one of its parts has been walked
            v = _fun_step(d, pos, items)
            if v is None:
                i = 0
                continue
        if not stack:
            return v, pos
        kind, items, i, n = stack.pop()
        items[i] = v
        i += 1


def _open(d: bytes, pos: int, tag: int):
    """Start the container whose tag is at ``pos``: ``(kind, items, filled, size, pos)``,
    the frame ``_term`` fills and where its elements begin."""
    if tag == 104:
        n = d[pos + 1]
        return _TUPLE, [None] * n, 0, n, pos + 2
    if tag == 112:
        items, pos = _fun_start(d, pos)
        return _FUN, items, 0, 1, pos
    n = _unpack_I(d, pos + 1)[0]
    pos += 5
    if tag == 108:
        if n < _LONG or d[pos] != 97:
            return _LIST, _slots(d, pos, n), 0, n, pos
        items: list = []
        k, pos = _list_head(d, pos, n, items)
        return _LIST, items, k, n, pos
    if tag == 116:
        items = _slots(d, pos, 2 * n)
        items.append(pos)   # where its pairs start, after them
        return _MAP, items, 0, 2 * n, pos
    return _TUPLE, _slots(d, pos, n), 0, n, pos   # 105, LARGE_TUPLE_EXT


def _slots(d: bytes, pos: int, n: int) -> list:
    """``[None] * n`` for the elements of a container, after checking that the
    data can hold them (every element takes at least one byte), so a bogus count
    cannot allocate gigabytes. Allocated in steps for a huge count."""
    if pos + n > len(d):
        raise _Truncated
    if n <= _CHUNK:
        return [None] * n
    items = []
    for k in range(0, n, _CHUNK):
        items += _NONES[:min(_CHUNK, n - k)]
    return items


_NONES = [None] * _CHUNK


def _list_head(d: bytes, pos: int, m: int, items: list):
    """Start ``m`` LIST_EXT elements at ``pos``, appending to ``items``:
    ``(how many are decoded, pos)``. Runs of SMALL_INTEGER_EXT (a string longer
    than STRING_EXT allows) are recognised with a strided slice and become ints
    in C, a step of ``_CHUNK`` elements at a time; the slots of the rest are
    allocated for the loop of ``_term`` to fill."""
    n = len(d)
    if pos + m > n:
        raise _Truncated
    k = 0
    while k < m and d[pos] == 97:
        c = min(m - k, _CHUNK)
        end = pos + 2 * c
        if end > n or d[pos:end:2].count(97) != c:
            break
        items += d[pos + 1:end:2]
        pos = end
        k += c
    rest = m - k
    if rest:
        if rest <= _CHUNK:
            items += [None] * rest
        else:
            for j in range(0, rest, _CHUNK):
                items += _NONES[:min(_CHUNK, rest - j)]
    return k, pos


# Hashing a tuple recurses in C once per level of nesting (and an ImproperList,
# a dataclass, in Python), so a map key nested deeper than this is not hashed: the
# map stays an ErlMap. Only a map spanning more than twice as many bytes can hold
# such a key (each level takes at least two bytes), so others are not looked at.
_KEY_DEPTH = 100


def _deep_key(kv: list) -> bool:
    """Whether a key of the map ``kv`` (keys and values in turn) nests tuples and
    improper lists more than ``_KEY_DEPTH`` deep."""
    for key in kv[0::2]:
        if type(key) is not tuple and type(key) is not ImproperList:
            continue
        todo = [(key, 1)]   # hashable containers still to look into, with their depth
        while todo:
            x, depth = todo.pop()
            if depth > _KEY_DEPTH:
                return True
            for y in (x if type(x) is tuple else (*x.elements, x.tail)):
                if type(y) is tuple or type(y) is ImproperList:
                    todo.append((y, depth + 1))
    return False


def _erl_map(kv: list) -> ErlMap:
    """The map as an ErlMap: a key cannot be hashed, or two keys Erlang keeps apart
    are equal in Python (1, 1.0, true)."""
    return ErlMap(zip(kv[0::2], kv[1::2]))


def _big_map(kv: list):
    """``_term``'s map building for a map of more than ``_CHUNK // 2`` pairs, a
    step at a time."""
    m: dict = {}
    try:
        for k in range(0, len(kv), _CHUNK):
            m.update(zip(kv[k:k + _CHUNK:2], kv[k + 1:k + _CHUNK:2]))
    except TypeError:
        return _erl_map(kv)
    return m if 2 * len(m) == len(kv) else _erl_map(kv)


# -- NEW_FUN_EXT: kept byte-exact, but its parts are walked (they nest like any
# term) to check that its Size field matches them. The fun's frame decodes one
# part at a time, so that a Size too small is caught at the part that overruns it.

def _fun_start(d: bytes, pos: int):
    """The frame of the fun whose tag is at ``pos``: ``(items, position of its first part)``.
    ``items`` is the one slot a part is decoded into, then what ``_fun_step`` needs."""
    body = pos + 1
    size = _unpack_I(d, body)[0]
    if size < 4 + 1 + 16 + 4 + 4:
        raise ETFDecodeError(f"NEW_FUN_EXT size {size} too small", body)
    end = body + size
    _need(d, end)
    num_free = _unpack_I(d, body + 25)[0]
    # module, old index, old uniq, pid, then the free variables
    return [None, pos, end, 4 + num_free], body + 29


def _fun_step(d: bytes, pos: int, frame: list):
    """After a part of a fun: its ``Opaque`` when it is complete, else None."""
    _, start, end, left = frame
    if left > 1 and pos <= end:
        frame[3] = left - 1
        return None
    if pos != end:
        raise ETFDecodeError(f"NEW_FUN_EXT size {end - start - 1} does not match its contents "
                             f"({pos - start - 1} bytes)", start + 1)
    return Opaque(112, d[start:end])


# -- kept byte-exact (funs are above: their parts nest)

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
    106: _nil, 107: _string, 109: _binary, 77: _bit_binary, 113: _export, 121: _local,
}.items():
    _DEC[_tag] = _fn
# Containers have no function: the loop of _term decodes them.
for _tag in (104, 105, 108, 116, 112):
    _DEC[_tag] = None
del _tag, _fn


# The C decoder of the common shapes (bridge/etf/_speedups.c, built when a compiler
# is there): the same results as the Python above, or None where it leaves the term
# to it. Not for buffers over _FAST_MAX, which may hold hundreds of thousands of
# elements: those are decoded here in steps that let other threads run (_CHUNK).
# Whether it is used: bridge/etf/accel.py.
# FAST_BODY (or None): a distribution message body's control and payload in one
# C call, for bridge.node.protocol.parse_body (the same rules: _speedups.fast_body).
_FAST_MAX = _CHUNK
_fast_term = None
FAST_BODY = None
_c = speedups()
if _c is not None:
    _c.setup(_ATOMS_UTF8, _DEC, ImproperList, _PIDS, Atom, Reference)
    _fast_term, FAST_BODY = _c.fast_term, _c.fast_body
