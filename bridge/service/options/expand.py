"""The first steps of ``ssl:handle_options``: ``proplists:expand`` of
``binary``/``list``, the key/value format check (``handle_option_format/2``), and the
split into ssl options and socket options."""
from __future__ import annotations

from .base import A, ErlangException, SslOptionError, _akey, _is_atom, _is_bool, _key
from .rules import _SSL_KEYS


def _proplists_expand(opts: list) -> list:
    """``proplists:expand([{binary, [{mode, binary}]}, {list, [{mode, list}]}], Opts)``."""
    ps = list(opts)
    for name, expansion in (("binary", (A("mode"), A("binary"))), ("list", (A("mode"), A("list")))):
        key = A(name)
        out = []
        for i, p in enumerate(ps):
            if isinstance(p, _Expanded):
                out.append(p)
                continue
            k = _key(p)
            if k is key:
                prop = key if (p is key or (isinstance(p, tuple) and len(p) == 2 and p[1] is True)) else p
                if prop is key:
                    out.append(_Expanded([expansion]))
                    out.extend(q for q in ps[i + 1:] if isinstance(q, _Expanded) or _key(q) is not key)
                else:
                    out.extend(ps[i:])
                break
            out.append(p)
        ps = out
    flat = []
    for p in ps:                      # proplists:flatten: one level of lists
        if isinstance(p, _Expanded):
            flat.extend(p.items)
        elif isinstance(p, list):
            flat.extend(p)
        else:
            flat.append(p)
    return flat


class _Expanded:
    __slots__ = ("items",)

    def __init__(self, items):
        self.items = items


def _handle_option_format(opts: list) -> list:
    out: list = []
    for i, opt in enumerate(opts):
        if (isinstance(opt, tuple) and len(opt) == 2 and opt[0] is A("log_alert")
                and _is_bool(opt[1])):
            rest = opts[i + 1:]
            if not any(isinstance(o, tuple) and len(o) >= 1 and o[0] is A("log_level")
                       or o is A("log_level") for o in out + rest):
                out.append((A("log_level"), A("notice") if opt[1] else A("none")))
            continue
        if isinstance(opt, tuple) and len(opt) == 2 and _is_atom(opt[0]):
            out.append(opt)
        elif isinstance(opt, tuple) and len(opt) == 4 and opt[0] is A("raw"):
            out.append(opt)
        elif opt is A("inet") or opt is A("inet6"):
            out.append(opt)
        else:
            raise SslOptionError((A("option_not_a_key_value_tuple"), opt))
    return out


def _expand_options(opts0):
    if not isinstance(opts0, list):
        raise ErlangException("error", A("function_clause"))
    opts = _handle_option_format(_proplists_expand(opts0))
    opts = [o for o in opts if _akey(_key(o)) != "ssl_imp"]
    ssl_opts = [o for o in opts if _akey(_key(o)) in _SSL_KEYS]
    sock_opts = [o for o in opts if _akey(_key(o)) not in _SSL_KEYS]
    return ssl_opts, sock_opts
