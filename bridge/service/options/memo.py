"""The memo of parse results and of TLS configs built from them.

A client connects again and again with the same option list: the parse is a pure
function of (options, host, key order), so its result is kept by a hashable form of
those terms.  Each caller gets its own copy of the containers (sockets update their
``socket``/``inet`` on setopts).  Only successful parses are kept; errors are
recomputed (rare, and their exceptions carry fresh terms).
"""
from __future__ import annotations

from bridge.etf.types import Atom, ImproperList, Opaque
from bridge.service.terms import exact_key, heavy

from .parse import ParsedOptions, _parse_connect
from .tls_config import build_tls_config

_MEMO_MAX = 256
_parse_memo: dict = {}


class _Unhashable(Exception):
    pass


def _frozen(t):
    """A hashable key for an option term, keeping apart what Python equates but Erlang
    does not (``true``/``1``, ``1.0``/``1``, a string and a list). Raises _Unhashable."""
    tp = type(t)
    if tp is Atom or tp is int or t is None:
        return t
    if tp is list:
        return ("L",) + tuple(_frozen(x) for x in t)
    if tp is tuple:
        return ("T",) + tuple(_frozen(x) for x in t)
    if tp is bool:
        return ("B", t)
    if tp is bytes or tp is bytearray:
        return ("Y", bytes(t))
    if tp is float:
        return ("F", t)
    if tp is str:
        return ("S", t)
    if tp is Opaque:
        return ("O", t)
    if tp is ImproperList:
        return ("I", _frozen(t.elements), _frozen(t.tail))
    try:
        hash(t)
    except TypeError:
        raise _Unhashable from None
    if isinstance(t, (list, tuple, dict, bool, int, float, str, bytes)):
        raise _Unhashable            # a subclass: do not guess what it means
    return ("X", tp.__name__, t)


def _copy_parsed(p: ParsedOptions) -> ParsedOptions:
    return ParsedOptions(role=p.role, socket=p.socket.copy(), inet=dict(p.inet), ssl=dict(p.ssl),
                         files=list(p.files), given=list(p.given), inet_list=list(p.inet_list),
                         sources=p.sources, session_id_context=p.session_id_context)


def _key_part(t):
    # the term's external form (bytes, from C), else _frozen's tuple: never equal
    raw = exact_key(t)
    return raw if raw is not None else _frozen(t)


def _memo_key(kind, opts, host, key_order):
    opts_key = exact_key(opts)      # one C call for the common option lists
    if opts_key is None:
        if heavy(opts):
            return None     # not worth keeping, and hashing it would hold the GIL for long
        try:
            opts_key = _frozen(opts)
        except (_Unhashable, RecursionError):
            return None
    try:
        return (kind, opts_key, _key_part(host), _key_part(key_order))
    except (_Unhashable, RecursionError):
        return None


def _memo_put(key, parsed: ParsedOptions) -> None:
    if len(_parse_memo) >= _MEMO_MAX:
        _parse_memo.clear()
    _parse_memo[key] = _copy_parsed(parsed)


def parse_connect_options(opts, host=None, key_order=None) -> ParsedOptions:
    """``ssl:connect(Host, Port, Opts)``'s validation; ``host`` is the Host argument.

    Raises SslOptionError with ``{error, {options, {socket_options, L}}}`` when gen_tcp
    would refuse a socket option (``L`` as OTP reports it).  Results are memoized (see
    ``_frozen``); each call returns its own copy.
    """
    key = _memo_key("connect", opts, host, key_order)
    hit = _parse_memo.get(key) if key is not None else None
    if hit is not None:
        return _copy_parsed(hit)
    parsed = _parse_connect(opts, host, key_order)
    if key is not None:
        _memo_put(key, parsed)
    return parsed


def parse_connect_options_shared(opts, host=None) -> ParsedOptions:
    """``parse_connect_options`` without the copy: the memo's own object, shared by
    every connect with these options. The caller must not change it (a socket
    copies before its setopts)."""
    key = _memo_key("connect", opts, host, None)
    hit = _parse_memo.get(key) if key is not None else None
    if hit is None:
        hit = _parse_connect(opts, host, None)
        if key is not None:
            if len(_parse_memo) >= _MEMO_MAX:
                _parse_memo.clear()
            _parse_memo[key] = hit
    return hit


def build_tls_config_shared(parsed: ParsedOptions, role: str, file_contents: dict):
    """``build_tls_config`` kept on ``parsed`` by the contents of its files: the same
    object for every connect with the same options and files. The caller must not
    change it (``dataclasses.replace`` to set a verify hook)."""
    memo = parsed.__dict__.get("_cfg_memo")
    if memo is None:
        memo = parsed.__dict__["_cfg_memo"] = {}
    try:
        key = (role,) + tuple((path, file_contents.get(path)) for _, path in parsed.files)
        hash(key)
    except TypeError:
        return build_tls_config(parsed, role, file_contents)
    cfg = memo.get(key)
    if cfg is None:
        cfg = build_tls_config(parsed, role, file_contents)
        if len(memo) >= 8:
            memo.clear()
        memo[key] = cfg
    return cfg


