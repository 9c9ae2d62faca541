"""What every part of the option checks shares: the two exceptions, the Erlang-term
predicates and the atoms the errors are made of."""
from __future__ import annotations

from bridge.etf.types import Atom, Opaque
from bridge.service.terms import charlist_str

A = Atom
_ERROR = A("error")
_OPTIONS = A("options")
_UNDEF = A("undefined")
_UNBOUND = object()          # OTP's 'unbound' marker of add_missing_options


class SslOptionError(Exception):
    """The option list is refused; ``term`` is what the OTP call returns."""

    def __init__(self, term):
        super().__init__(term)
        self.term = term


class ErlangException(Exception):
    """OTP raises in the caller instead of returning (``cls`` is error|exit|throw)."""

    def __init__(self, cls: str, reason):
        super().__init__(cls, reason)
        self.cls = A(cls)
        self.reason = reason


class _DefaultFun:
    """Stands for a fun OTP puts in as a default (verify_fun, partial_chain)."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"<default {self.name}>"


DEFAULT_VERIFY_FUN = _DefaultFun("verify_none verify_fun")
DEFAULT_PARTIAL_CHAIN = _DefaultFun("partial_chain")
DEFAULT_REUSE_SESSION = _DefaultFun("server reuse_session")


def _opt_error(opt, value):
    return SslOptionError((_ERROR, (_OPTIONS, (A(opt) if isinstance(opt, str) else opt, value))))


# --- term predicates --------------------------------------------------------------

def _is_undef(v) -> bool:
    return v is None or v is _UNDEF


def _is_atom(v) -> bool:
    return isinstance(v, (Atom, bool)) or v is None


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_bool(v) -> bool:
    return isinstance(v, bool)


def _is_list(v) -> bool:
    return isinstance(v, (list, str))


def _is_binary(v) -> bool:
    return isinstance(v, (bytes, bytearray))


def _is(v, *names) -> bool:
    return isinstance(v, Atom) and v.name in names


def _fun_arity(v) -> int | None:
    if isinstance(v, _DefaultFun):
        return -1
    if isinstance(v, Opaque) and v.raw:
        if v.raw[0] == 112 and len(v.raw) > 5:      # NEW_FUN_EXT: tag, size:32, arity:8
            return v.raw[5]
        if v.raw[0] == 113 and len(v.raw) >= 2 and v.raw[-2] == 97:   # EXPORT_EXT
            return v.raw[-1]
        return -1
    return None


fun_arity = _fun_arity       # for the service: the arity of a caller's fun term


def _is_fun(v, arity: int | None = None) -> bool:
    a = _fun_arity(v)
    if a is None:
        return False
    return arity is None or a == arity or a == -1


def _as_list(v) -> list:
    return [ord(c) for c in v] if isinstance(v, str) else v


def _is_charlist(v) -> bool:
    return isinstance(v, str) or (isinstance(v, list) and charlist_str(v) is not None)


def _chars(v) -> str:
    return v if isinstance(v, str) else charlist_str(v)


def _erl_string(v) -> str | None:
    """An Erlang string (charlist or binary) as str, or None."""
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).decode("utf-8", "surrogateescape")
    if isinstance(v, list):
        return charlist_str(v)
    return None


def _key(v):
    """Key of a proplist entry as proplists sees it (atom or first tuple element)."""
    if isinstance(v, tuple) and len(v) >= 1:
        return v[0]
    if isinstance(v, (Atom, bool)) or v is None:
        return v
    return _NOKEY


_NOKEY = object()


def _akey(k):
    """Normalise an Erlang atom key to its name (str) or None."""
    if isinstance(k, Atom):
        return k.name
    if k is True:
        return "true"
    if k is False:
        return "false"
    if k is None:
        return "undefined"
    return None

