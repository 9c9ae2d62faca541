"""Erlang atoms and small term helpers shared by the ssl service."""
from __future__ import annotations

from bridge.etf.types import Atom, ImproperList

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
    """Flatten Erlang iodata (bytes, ints 0..255, nested lists, improper binary tails)."""
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    if isinstance(data, str):
        # a charlist decoded as str by the codec's string option
        try:
            return data.encode("latin-1")
        except UnicodeEncodeError:
            raise Raise(BADARG) from None
    out = bytearray()
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, (bytes, bytearray)):
            out += item
        elif isinstance(item, int) and not isinstance(item, bool):
            if not 0 <= item <= 255:
                raise Raise(BADARG)
            out.append(item)
        elif isinstance(item, list):
            stack.extend(reversed(item))
        elif isinstance(item, ImproperList):
            if not isinstance(item.tail, (bytes, bytearray)):
                raise Raise(BADARG)
            stack.append(item.tail)
            stack.extend(reversed(item.elements))
        elif isinstance(item, str):
            try:
                out += item.encode("latin-1")
            except UnicodeEncodeError:
                raise Raise(BADARG) from None
        else:
            raise Raise(BADARG)
    return bytes(out)


def to_timeout(value):
    """An Erlang timeout (ms integer >= 0 or ``infinity``) as seconds or None; else ValueError."""
    if value is INFINITY:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value / 1000.0
    raise ValueError(value)


def is_timeout(value) -> bool:
    return value is INFINITY or (isinstance(value, int) and not isinstance(value, bool) and value >= 0)
