"""External Term Format, encoding (pure; no I/O).

Encoding
    ``encode_into(term, parts)`` appends ``bytes`` chunks to ``parts`` (no 131
    byte); ``term_to_binary`` joins them once. A list of ints 0..255 of length up
    to 65535 is written as STRING_EXT, exactly as Erlang itself does. Values
    with no Erlang form raise ``ETFEncodeError`` (a ``TypeError``), and so does a
    Python container that holds itself. Like the decoder, the encoder is one loop
    over an explicit stack (of the iterators of the containers being written).

See decode.py for how depth and size are handled (the same rules, both ways).
"""
from __future__ import annotations

import re
import struct
from itertools import chain as _chain, repeat as _repeat
from operator import is_ as _is
from typing import Optional

from .accel import speedups
from .types import (Atom, BitString, ErlMap, ImproperList, Opaque, Pid, Port, Reference,
                    set_pid_ext, set_ref_ext)

# The same step size and atom-cache bound as the decoder.
from .decode import _ATOM_CACHE_MAX, _CHUNK


class ETFEncodeError(TypeError):
    """A Python value that has no Erlang external term form."""


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
_TUPLE_HEADS = [bytes((104, i)) for i in range(256)]   # SMALL_TUPLE_EXT headers
_ZERO_ONE = re.compile(rb"[\x00\x01]")


def term_to_binary(term) -> bytes:
    """Encode ``term`` with the 131 version byte."""
    parts = [b"\x83"]
    encode_into(term, parts)
    return b"".join(parts)


class EncodeBudgetExceeded(Exception):
    """``encode_into`` with a ``budget``: writing the term would take more than that.
    What was appended to ``parts`` is incomplete; encode again elsewhere."""


_NO_LIMIT = 1 << 62


def encode_into(term, parts: list, budget: Optional[int] = None) -> None:
    """Append the encoding of ``term`` (without the 131 byte) to ``parts``.

    With ``budget``, raise ``EncodeBudgetExceeded`` before ``parts`` would hold
    more than ``budget`` entries. Entries are about one per element written (a
    list of small ints, written in C, counts one per 16), so the budget bounds the
    time spent before the caller learns that a term is too big to encode where it
    is: the node encodes such a message on a worker thread, not on its loop.

    The common shapes are written in C when the extension is built (the end of
    this file): the same bytes, as one part."""
    if _fast_encode is not None and (budget is None or budget - len(parts) > _FAST_PARTS):
        raw = _fast_encode(term)
        if raw is not None:
            parts.append(raw)
            return
    try:
        _encode(term, parts, _NO_LIMIT if budget is None else budget)
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

# Once this many entries are on the encoder's stack, and again each time their
# number has grown fourfold, the containers on it are checked for one that holds
# itself (see _encode).
_CYCLE_CHECK_DEPTH = 2000


def _encode(term, parts: list, limit: int) -> None:
    """Write ``term``: one loop over a stack of iterators, not a call per level.

    Containers nest to any depth (an iolist built by ``[Acc, Bin]`` is as deep as
    it is long), so the iterator of every container being written waits on
    ``stack`` while its elements are written. Atoms, small integers, binaries,
    pids and references, most of what messages hold, are written inline.

    A Python container can hold itself, which would grow the stack until memory
    runs out. Only a mutable one can (a tuple, or a frozen ImproperList, only
    through one inside it), so above the iterator of a list, a map or anything
    ``_enc_other`` opens (ErlMap, subclasses) sits a marker: the list itself
    (which also says "write its NIL"), else a 1-tuple of the container. A container
    that holds itself shows up on the stack twice, which ``_check_acyclic`` looks
    for once the stack is deep."""
    # the top-level term: a container is opened here, anything else written.
    # Every container checks the budget (``limit``) as it is opened, with its size.
    t = type(term)
    stack: list = []
    if t is tuple:   # what control messages and most payloads are
        n = len(term)
        if len(parts) + n > limit:
            raise EncodeBudgetExceeded
        parts.append(_TUPLE_HEADS[n] if n < 256 else _pack_BI(105, n))
        it = iter(term)
    elif t is list:
        if not term:
            parts.append(b"j")
            return
        if len(parts) + (len(term) >> 4 if type(term[0]) is int else len(term)) > limit:
            raise EncodeBudgetExceeded
        it = _enc_list_head(term, parts)
        if it is None:
            return
        stack += (_DONE, term)   # its marker (the NIL), then nothing more
    elif t is dict:
        if len(parts) + 2 * len(term) > limit:
            raise EncodeBudgetExceeded
        parts.append(_pack_BI(116, len(term)))
        it = _flatten(term.items())
    elif t is ImproperList:
        if len(parts) + len(term.elements) > limit:
            raise EncodeBudgetExceeded
        it = _improper(term, parts)
    else:
        if t is str and len(parts) + (len(term) >> 4) > limit:
            raise EncodeBudgetExceeded
        it = _enc_other(term, parts)
        if it is None:
            return
    append = parts.append
    atoms = _ATOM_BYTES
    deep = _CYCLE_CHECK_DEPTH
    while True:
        for v in it:
            t = type(v)
            if t is Atom:
                try:   # an index and no call: the cache holds any atom seen before
                    append(atoms[v])
                except KeyError:
                    append(_atom_bytes(v))
            elif t is int and 0 <= v < 256:
                append(_SMALL_INTS[v])
            elif t is Pid:
                append(v._ext or _pid_ext(v))
            elif t is Reference:
                append(v._ext or _ref_ext(v))
            elif t is tuple:
                n = len(v)
                append(_TUPLE_HEADS[n] if n < 256 else _pack_BI(105, n))
                if n:
                    if len(parts) + n > limit:
                        raise EncodeBudgetExceeded
                    stack.append(it)
                    it = iter(v)
                    break
            elif t is bytes:
                append(_pack_BI(109, len(v)))
                append(v)
            elif t is list:
                if v:
                    if type(v[0]) is int:   # perhaps a string
                        if len(parts) + (len(v) >> 4) > limit:
                            raise EncodeBudgetExceeded
                        rest = _enc_list_head(v, parts)
                        if rest is None:
                            continue
                    else:
                        if len(parts) + len(v) > limit:
                            raise EncodeBudgetExceeded
                        append(_pack_BI(108, len(v)))
                        rest = iter(v)
                    stack.append(it)
                    stack.append(v)
                    it = rest
                    if len(stack) > deep:
                        deep = _check_acyclic(stack, deep)
                    break
                append(b"j")
            elif t is dict:
                if len(parts) + 2 * len(v) > limit:
                    raise EncodeBudgetExceeded
                append(_pack_BI(116, len(v)))
                if v:
                    stack += (it, (v,))
                    it = _flatten(v.items())
                    if len(stack) > deep:
                        deep = _check_acyclic(stack, deep)
                    break
            elif t is ImproperList:   # [alias | Ref], the tag of every call and reply
                n = len(v.elements)
                tail = v.tail
                if not n or isinstance(tail, _LISTS):
                    _improper(v, parts)   # raises
                if len(parts) + n > limit:
                    raise EncodeBudgetExceeded
                append(_pack_BI(108, n))
                stack.append(it)
                it = _chain(v.elements, (tail,))
                if len(stack) > deep:
                    deep = _check_acyclic(stack, deep)
                break
            else:
                if t is str and len(parts) + (len(v) >> 4) > limit:
                    raise EncodeBudgetExceeded
                rest = _enc_other(v, parts)
                if rest is not None:
                    stack += (it, (v,))
                    it = rest
                    if len(stack) > deep:
                        deep = _check_acyclic(stack, deep)
                    break
        else:   # this container is written: back to the one holding it
            if not stack:
                return
            it = stack.pop()
            t = type(it)
            if t is list:   # a list's marker: its NIL
                append(b"j")
                it = stack.pop()
            elif t is tuple:   # any other marker
                it = stack.pop()


def _check_acyclic(stack: list, deep: int) -> int:
    """Raise if a container is on ``stack`` twice, inside itself: a Python
    container that holds itself has no Erlang form (it would be infinitely deep).
    Else the stack length at which to check again: four times ``deep``, so the
    checks of a deep term add up to about one more pass over its stack."""
    marks = [x[0] if type(x) is tuple else x for x in stack
             if type(x) is list or type(x) is tuple]
    if len(set(map(id, marks))) != len(marks):
        raise ETFEncodeError("term contains itself (a container inside its own elements)")
    return 4 * deep


_flatten = _chain.from_iterable
_LISTS = (list, ImproperList)
_DONE = iter(())   # an iterator with nothing left, ever


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


def _enc_list_head(items: list, parts: list):
    """Start writing the non-empty list ``items``. A list of ints 0..255 is written
    whole, as Erlang writes it (STRING_EXT up to 65535 elements, else LIST_EXT of
    SMALL_INTEGER_EXT): returns None. Otherwise the LIST_EXT header (and any
    leading run of small ints) is written and the iterator over the elements still
    to write is returned; the caller writes them and the NIL."""
    n = len(items)
    if type(items[0]) is int:
        if n > 65535:
            parts.append(_pack_BI(108, n))
            k = _enc_small_int_run(items, parts)
            if k == n:
                parts.append(b"j")
                return None
            rest = iter(items)
            rest.__setstate__(k)   # skip what is written, in O(1)
            return rest
        if type(items[-1]) is int:
            raw = _small_int_bytes(items)
            if raw is not None:
                parts.append(_pack_BH(107, n))
                parts.append(raw)
                return None
    parts.append(_pack_BI(108, n))
    return iter(items)


_A_RUN = b"a\0" * _CHUNK


def _enc_small_int_run(items: list, parts: list) -> int:
    """Write the leading elements of ``items`` that are ints 0..255 as
    SMALL_INTEGER_EXT, ``_CHUNK`` at a time (so a list of millions never holds the
    GIL in one long C call); returns how many were written. A chunk holding
    anything else is left whole to the caller."""
    n = len(items)
    k = 0
    while k < n:
        chunk = items[k:k + _CHUNK]
        if type(chunk[0]) is not int or type(chunk[-1]) is not int:
            break
        raw = _small_int_bytes(chunk)
        if raw is None:
            break
        c = len(raw)
        out = bytearray(_A_RUN[:2 * c])
        out[1::2] = raw
        parts.append(bytes(out))
        k += c
    return k


def _enc_str(s: str, parts: list) -> None:
    """A str is a charlist. Latin-1 text is written in C-level pieces of _CHUNK
    characters (STRING_EXT up to 65535, else LIST_EXT of SMALL_INTEGER_EXT), so a
    64 Mi-character string lets other threads take the GIL between pieces."""
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
    else:
        pieces = []
        try:
            for i in range(0, n, _CHUNK):
                raw = s[i:i + _CHUNK].encode("latin-1")
                out = bytearray(_A_RUN[:2 * len(raw)])
                out[1::2] = raw
                pieces.append(bytes(out))
        except UnicodeEncodeError:
            pass
        else:
            parts.append(_pack_BI(108, n))
            parts += pieces
            parts.append(b"j")
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


def _improper(term: ImproperList, parts: list):
    """Write an ImproperList's header: the iterator over its elements, then its tail."""
    elements = term.elements
    if not elements:
        raise ETFEncodeError("ImproperList needs at least one element")
    tail = term.tail
    if isinstance(tail, (list, ImproperList)):
        raise ETFEncodeError("ImproperList tail must not be a list")
    parts.append(_pack_BI(108, len(elements)))
    return _chain(elements, (tail,))


def _map_pairs(pairs):
    """An ErlMap's keys and values in turn (a pair that is not a pair fails, as
    unpacking it would)."""
    for k, v in pairs:
        yield k
        yield v


def _enc_other(term, parts: list):
    """Write what the loop of ``_encode`` does not write inline. Returns None, or,
    for a container, an iterator over the terms still to write after what was
    appended (a subclass of a built-in container is written as its base type)."""
    t = type(term)
    if t is int:
        _enc_int(term, parts)
    elif t is Atom:   # only as the whole term: _encode's loop writes atoms inline
        parts.append(_ATOM_BYTES.get(term) or _atom_bytes(term))
    elif t is bool:
        parts.append(_TRUE_B if term else _FALSE_B)
    elif term is None:
        parts.append(_UNDEF_B)
    elif t is str:
        _enc_str(term, parts)
    elif t is float:
        if term - term != 0.0:
            raise ETFEncodeError(f"float {term!r} has no Erlang form")
        parts.append(_pack_Bd(70, term))
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
        return _map_pairs(items)
    elif t is ImproperList:
        return _improper(term, parts)
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
    # written inline by _encode's loop, so here only as the whole term
    elif t is bytes:
        _enc_bin(term, parts)
    elif t is Pid:
        parts.append(term._ext or _pid_ext(term))
    elif t is Reference:
        parts.append(term._ext or _ref_ext(term))
    # subclasses of the built-in types
    elif isinstance(term, Atom):
        parts.append(_atom_bytes(term))
    elif isinstance(term, bool):
        parts.append(_TRUE_B if term else _FALSE_B)
    elif isinstance(term, int):
        _enc_int(int(term), parts)
    elif isinstance(term, float):
        return iter((float(term),))
    elif isinstance(term, str):
        _enc_str(str(term), parts)
    elif isinstance(term, (bytes, bytearray, memoryview)):
        _enc_bin(bytes(term), parts)
    elif isinstance(term, tuple):
        return iter((tuple(term),))
    elif isinstance(term, list):
        return iter((list(term),))
    elif isinstance(term, dict):
        return iter((dict(term),))
    else:
        raise ETFEncodeError(f"cannot encode {t.__name__} value {term!r} as an Erlang term")
    return None


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


# The C encoder of the common shapes (bridge/etf/_speedups.c, with the decoder): the
# same bytes as _encode, in one part, or None where it leaves the term to _encode
# (more than 4,096 elements, a binary over 1 KiB, 64 KiB of output, a float, a map,
# a str, a big integer...). Python's parts for those 4,096 elements stay well under
# any budget it is used with (_FAST_PARTS); a smaller budget is kept by _encode.
# FAST_FRAME (or None): a whole distribution frame of such terms in one C call, for
# bridge.node.protocol.encode_frame (_speedups.fast_frame). FAST_ENCODE (or None):
# fast_encode itself, for bridge.service.terms.exact_key.
_FAST_PARTS = 3 * 4096
_fast_encode = None
FAST_FRAME = None
FAST_ENCODE = None
_c = speedups()
if _c is not None:
    _c.setup_encode(_ATOM_BYTES, _atom_bytes, _pid_ext, _ref_ext, Atom, Pid, Reference,
                    ImproperList, _TRUE_B, _FALSE_B, _UNDEF_B)
    _fast_encode = FAST_ENCODE = _c.fast_encode
    FAST_FRAME = _c.fast_frame
