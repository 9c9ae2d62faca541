"""Erlang atoms and small term helpers shared by the ssl service."""
from __future__ import annotations

import struct

from bridge.etf.codec import FAST_ENCODE
from bridge.etf.types import Atom, ImproperList, Opaque
from bridge.node.bigterms import join_bytes

OK = Atom("ok")
ERROR = Atom("error")
CLOSED = Atom("closed")
TIMEOUT = Atom("timeout")
EINVAL = Atom("einval")
ENOTCONN = Atom("enotconn")
BADARG = Atom("badarg")
INFINITY = Atom("infinity")
SSL = Atom("ssl")
SSL_CLOSED = Atom("ssl_closed")
SSL_ERROR = Atom("ssl_error")
SSL_PASSIVE = Atom("ssl_passive")
SSLSOCKET = Atom("sslsocket")
PYSSL = Atom("pyssl")
UNDEFINED = Atom("undefined")


def error(reason) -> tuple:
    return (ERROR, reason)


class Raise(Exception):
    """Raise ``Class:Reason`` in the caller, as ssl's own function clauses would.

    The shim turns the reply ``{'$pyssl_raise', Class, Reason}`` into
    ``erlang:raise/3``; through rex/erpc it becomes the usual badrpc EXIT.
    """

    def __init__(self, reason, cls="error"):
        super().__init__(reason)
        self.reason = reason
        self.cls = cls.name if isinstance(cls, Atom) else str(cls)

    def as_reply(self) -> tuple:
        return (Atom("$pyssl_raise"), Atom(self.cls), self.reason)


def function_clause(fun: str, args: list) -> Raise:
    return Raise(Atom("function_clause"))


def iodata_to_bytes(data) -> bytes:
    """Flatten Erlang iodata (bytes, ints 0..255, nested lists, improper binary
    tails) of any depth: an explicit stack, no recursion. Iolists built the usual
    way (``[Acc, Bin]`` folded N times) are N deep, so the two-element list and
    the all-bytes list are the cases made cheap; raises ``Raise(badarg)`` as
    ``iolist_to_binary`` would."""
    cls = data.__class__
    if cls is bytes:
        return data
    if cls is bytearray:
        return bytes(data)
    if cls is str:
        # a charlist decoded as str by the codec's string option
        try:
            return data.encode("latin-1")
        except UnicodeEncodeError:
            raise Raise(BADARG) from None
    out: list = []
    put = out.append
    stack = [data]
    push = stack.append
    pop = stack.pop
    while stack:
        item = pop()
        cls = item.__class__
        if cls is bytes:
            put(item)
        elif cls is list:
            if len(item) == 2:
                push(item[1])
                push(item[0])
            elif item:
                first = item[0].__class__
                if first is int:
                    raw = _int_run(item)
                    if raw is not None:
                        put(raw)
                        continue
                stack.extend(reversed(item))
        elif cls is int:
            if not 0 <= item <= 255:
                raise Raise(BADARG)
            put(_BYTE[item])
        elif cls is ImproperList:
            if item.tail.__class__ not in (bytes, bytearray):
                raise Raise(BADARG)
            push(item.tail)
            stack.extend(reversed(item.elements))
        elif cls is bytearray:
            put(bytes(item))
        elif cls is str:
            try:
                put(item.encode("latin-1"))
            except UnicodeEncodeError:
                raise Raise(BADARG) from None
        else:
            raise Raise(BADARG)
    return b"".join(out)


_BYTE = [bytes((i,)) for i in range(256)]
_ONLY_INT = {int}


def _int_run(items: list):
    """``bytes(items)`` for a list of ints 0..255 only (no bool, nothing else)."""
    try:
        raw = bytes(items)
    except (TypeError, ValueError):
        return None
    if (0 in raw or 1 in raw) and not set(map(type, items)) <= _ONLY_INT:
        return None     # a true/false (bool) where a 0/1 byte should be
    return raw


def to_timeout(value):
    """An Erlang timeout (ms integer >= 0 or ``infinity``) as seconds or None; else ValueError."""
    if value is INFINITY:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value / 1000.0
    raise ValueError(value)


def is_timeout(value) -> bool:
    return value is INFINITY or (isinstance(value, int) and not isinstance(value, bool) and value >= 0)


# Pieces of a long charlist converted per C call: every call holds the GIL, so a
# 64 Mi-character name converted on a worker thread still lets the event loop
# run between pieces. A piece is ~0.2 ms: the loop waits up to that long each
# time it takes the GIL back, a few dozen times per request it serves meanwhile
# (pieces of 256 Ki, ~1 ms, stalled an echo round trip 40-80 ms).
_CHUNK = 1 << 16


def charlist_pieces(v: list):
    """``charlist_str`` in pieces of at most ``_CHUNK`` characters (a list of str),
    or None if ``v`` is not a list of Unicode code points: what a 64 Mi-character
    name needs, without a C call over the whole of it."""
    out = []
    for i in range(0, len(v), _CHUNK):
        piece = v[i:i + _CHUNK]
        try:
            raw = bytes(piece)      # ints 0..255 (and bools, checked below)
        except TypeError:           # not all ints
            return None
        except ValueError:          # code points over 255, or negative
            try:
                text = "".join(map(chr, piece))
            except (TypeError, ValueError, OverflowError):
                return None
        else:
            # bool is an int subclass and the codec makes true/false bools; they can
            # only stand where the bytes are 0 or 1
            if (0 in raw or 1 in raw) and not set(map(type, piece)) <= _ONLY_INT:
                return None
            out.append(raw.decode("latin-1"))
            continue
        if not set(map(type, piece)) <= _ONLY_INT:
            return None
        out.append(text)
    return out


def charlist_str(v: list):
    """A list of Unicode code points as ``str``, or None if it is not one.

    Done with C-level passes (``bytes``, ``map``) instead of a Python loop per
    character: option values and paths can be millions of characters long."""
    pieces = charlist_pieces(v)
    return None if pieces is None else "".join(pieces)


# Linux's PATH_MAX, which counts the terminating NUL: file:read_file of a name of
# this many bytes or more answers {error, enametoolong}.
PATH_MAX = 4096


class LongPath:
    """A file name option (certfile, keyfile...) of ``PATH_MAX`` bytes or more, kept
    in pieces: no file of that name can be read (``enametoolong``), so the only use
    of it is to be quoted back in that error. Making one ``str`` or ``bytes`` of a
    64 MiB name, hashing it, or quoting it back as a list of 64 Mi ints costs
    30-260 ms per C call (or per garbage collection, for the list), holding the
    GIL; this is built and quoted in pieces and looked up by identity instead.

    ``pieces`` are the name's UTF-8 bytes, in pieces of at most _CHUNK bytes."""

    __slots__ = ("pieces", "_len")

    def __init__(self, pieces: list):
        self.pieces = pieces
        self._len = sum(map(len, pieces))

    @classmethod
    def of(cls, v):
        """The LongPath of a charlist or binary ``v``; None if ``v`` is a charlist
        with no UTF-8 form (a surrogate: ``_v_path`` gives the caller's error) or
        no charlist at all."""
        if isinstance(v, (bytes, bytearray)):
            return cls([bytes(v[i:i + _CHUNK]) for i in range(0, len(v), _CHUNK)])
        if isinstance(v, str):
            pieces = [v[i:i + _CHUNK] for i in range(0, len(v), _CHUNK)]
        else:
            pieces = charlist_pieces(v)
            if pieces is None:
                return None
        try:
            return cls([p.encode("utf-8") for p in pieces])
        except UnicodeEncodeError:
            return None

    def __len__(self) -> int:
        """The name's length in bytes (UTF-8)."""
        return self._len

    def quoted(self) -> Opaque:
        """The name as OTP quotes a file name in an error, the list of its bytes,
        in its external form (LIST_EXT of SMALL_INTEGER_EXT), made in pieces and
        joined with the GIL released (``bigterms.join_bytes``)."""
        out = [_pack_BI(108, self._len)]
        for raw in self.pieces:
            pairs = bytearray(_A_RUN[:2 * len(raw)])
            pairs[1::2] = raw
            out.append(pairs)
        out.append(b"j")
        return Opaque(108, join_bytes(out))

    def __repr__(self) -> str:
        return f"<LongPath of {self._len} bytes>"


_A_RUN = b"a\0" * _CHUNK
_pack_BI = struct.Struct(">BI").pack


# The C encoder's fast_encode (None without it): its work is bounded (it gives up
# past _EXACT_MAX elements or 64 KiB), and its bytes are a term's identity as
# Erlang sees it (true is not 1, 1.0 is not 1, a binary is not a string).
_EXACT_MAX = 4096


def exact_key(term):
    """``term``'s external form when it is small and of the common shapes, else
    None: a dict key as exact as Erlang's term equality, made in one C call (the
    option memo's key of a connect's option list)."""
    return FAST_ENCODE(term) if FAST_ENCODE is not None else None


def heavy(term, limit: int = 1 << 16) -> bool:
    """Whether ``term`` holds more than ``limit`` list/tuple/map elements, counted
    without walking further than that: a request this big is parsed off the event
    loop. A long list counts its length at once, unscanned. A term the C encoder
    writes has at most _EXACT_MAX elements: one C call answers for it."""
    if limit >= _EXACT_MAX and FAST_ENCODE is not None and FAST_ENCODE(term) is not None:
        return False
    count = 0
    stack = [term]
    while stack:
        t = stack.pop()
        if t.__class__ is list or t.__class__ is tuple:
            count += len(t)
            if count > limit:
                return True
            stack.extend(t)
        elif t.__class__ is dict:
            count += len(t)
            if count > limit:
                return True
            stack.extend(t.values())
        elif t.__class__ is str:
            count += len(t) >> 4        # a charlist the codec gave as str: cheap per char
            if count > limit:
                return True
    return False
