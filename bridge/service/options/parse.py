"""The option parses of each ssl call (connect, listen, handshake, setopts, getopts),
in the order ``ssl:handle_options`` runs its steps."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from bridge.etf.types import Atom
from bridge.service import socket_options as _sockopts
from bridge.service.socket_options import SocketOptions
from bridge.service.terms import LongPath

from .base import (
    _ERROR,
    _OPTIONS,
    A,
    ErlangException,
    SslOptionError,
    _akey,
    _erl_string,
    _is,
    _is_int,
)
from .expand import _expand_options, _proplists_expand
from .process import _add_missing, _process_options, cert_key_pairs
from .sockopts import (
    _PACKETS,
    EMULATED_OPTIONS,
    INET_OPTIONS,
    INTERNAL_INET_VALUES,
    SOCKET_OPTIONS,
    _emulated_options,
    _inet_ok,
    _split_inet,
)
from .unsupported import _unsupported


@dataclass
class ParsedOptions:
    role: str                                   # "client" | "server"
    # emulated: mode, packet, active, ... (a connected socket's Delivery owns a copy)
    socket: SocketOptions = field(default_factory=SocketOptions)
    inet: dict = field(default_factory=dict)    # OS socket options (name → value)
    ssl: dict = field(default_factory=dict)     # validated ssl options (name → value)
    files: list = field(default_factory=list)   # [(option_name, path_str)] to read
    given: list = field(default_factory=list)   # ssl option names the caller gave
    inet_list: list = field(default_factory=list)  # gen_tcp options as OTP passes them
    # the option lists as the caller gave them, in the order ssl:handle_options took
    # them: ((Role, Opts, Host), ("handshake", Opts, None)...). The shim runs ssl's own
    # handle_options on them for connection_information/1's options (pyssl.erl).
    sources: tuple = ()
    # server: the OpenSSL session id context of the listen socket these options came
    # from (ListenSocket.listen); None: TLSConfig's default. ssl keeps one server
    # session cache per listen socket (tls_socket:session_id_tracker/2 starts one for
    # each), so a session is resumed only through the listener that made it; libssl
    # shares a context's cache between listeners of equal options (the context
    # cache), and a session id context of their own keeps their sessions apart.
    session_id_context: Optional[bytes] = None

    @property
    def versions(self) -> list[str]:
        return list(self.ssl.get("versions", []))


def _parse(opts, role: str, host=None, key_order=None) -> ParsedOptions:
    ssl_opts, sock_opts = _expand_options(opts)
    given_values = {}
    for o in ssl_opts:
        given_values[_akey(o[0])] = o[1]
    items = _add_missing(ssl_opts, key_order)
    omap = _process_options(items, {}, {"role": role, "host": host})
    omap.pop("warn_verify_none", None)
    user_inet_rev, emulated = _emulated_options(sock_opts)
    _unsupported(omap, given_values, role)
    parsed = ParsedOptions(role=role, ssl=omap, given=list(given_values),
                           sources=((role, opts, host),))
    parsed.socket = emulated
    parsed.inet_list = user_inet_rev + list(INTERNAL_INET_VALUES)
    parsed.inet, extra_sock = _split_inet(user_inet_rev)
    parsed.socket.update(extra_sock)
    parsed.files = _files(omap)
    return parsed


def _files(omap: dict) -> list:
    out = []
    for name in ("certfile", "keyfile", "cacertfile", "dhfile"):
        v = omap.get(name)
        if isinstance(v, (bytes, bytearray)) and v:           # validated paths are binaries
            out.append((name, _erl_string(v)))
        elif v.__class__ is LongPath:
            out.append((name, v))
    # several certs_keys pairs: each pair's files (one pair was lifted into the plain options)
    pairs = cert_key_pairs(omap.get("certs_keys"))
    for conf in (pairs if pairs and len(pairs) > 1 else ()):
        for name in ("certfile", "keyfile"):
            path = _erl_string(conf[name]) if name in conf and conf[name] else None
            if path:
                out.append((name, path))
    # the certificates of sni_hosts entries are read with the listen socket's own
    for _host, sub in omap.get("sni_hosts") or []:
        for o in sub:
            if isinstance(o, tuple) and len(o) == 2 and o[0] in (A("certfile"), A("keyfile")):
                path = _erl_string(o[1])
                if path:
                    out.append((o[0].name, path))
    return out



def _parse_connect(opts, host, key_order) -> ParsedOptions:
    parsed = _parse(opts, "client", host, key_order)
    for o in parsed.inet_list:
        if not _inet_ok(o, "client"):
            raise SslOptionError((_ERROR, (_OPTIONS, (A("socket_options"), parsed.inet_list))))
    return parsed


def parse_listen_options(opts, key_order=None) -> ParsedOptions:
    """``ssl:listen(Port, Opts)``'s validation (``{error, nooptions}`` for []).

    ``ssl:listen`` only catches ``{error, _}``: a non key/value option is thrown in the
    caller (``ErlangException('throw', {option_not_a_key_value_tuple, X})``).
    """
    if opts == []:
        raise SslOptionError((_ERROR, A("nooptions")))
    try:
        parsed = _parse(opts, "server", None, key_order)
    except SslOptionError as e:
        if isinstance(e.term, tuple) and e.term and e.term[0] is A("option_not_a_key_value_tuple"):
            raise ErlangException("throw", e.term) from None
        raise
    for o in parsed.inet_list:
        if not _inet_ok(o, "server"):
            raise ErlangException("exit", A("badarg"))
    if _sockopts.active_listen_einval(parsed.socket.active):
        raise ErlangException("throw", A("einval"))
    return parsed


def parse_upgrade_server_options(opts, key_order=None) -> ParsedOptions:
    """``ssl:handshake(TcpSocket, Opts)``: server options without a listen socket
    (``ssl:handle_options/5`` for the server role; no ``nooptions`` check)."""
    return _parse(opts, "server", None, key_order)


def parse_handshake_options(opts, listen: ParsedOptions) -> ParsedOptions:
    """``ssl:handshake(S, Opts)`` on a socket from ``transport_accept``.

    Options are processed over the listen socket's validated map, as OTP does in the
    connection process; the error comes back wrapped once more (``{error, {error,
    {options, ...}}}``) because OTP replies ``{error, Thrown}``.  Socket options given
    here are ignored, as in OTP.
    """
    try:
        ssl_opts, _sock = _expand_options(opts)
        base = dict(listen.ssl)
        items = [(_akey(o[0]), o[1]) for o in ssl_opts]
        # (a client's are the paused connect's: handshake_continue after {handshake, hello})
        role = listen.role
        omap = _process_options(items, base, {"role": role})
        given = {_akey(o[0]): o[1] for o in ssl_opts}
        _unsupported(omap, given, role)
    except SslOptionError as e:
        raise SslOptionError((_ERROR, e.term)) from None
    parsed = ParsedOptions(role=role, ssl=omap, socket=listen.socket.copy(),
                           inet=dict(listen.inet), given=list(listen.given) + list(given),
                           inet_list=list(listen.inet_list),
                           sources=listen.sources + (("handshake", opts, None),),
                           session_id_context=listen.session_id_context)
    parsed.files = _files(omap)
    return parsed


# ssl_gen_statem:set_socket_opts/6's checks of the emulated options
_SETOPTS_CHECKS = {
    "mode": lambda v: _is(v, "list", "binary"),
    "packet": lambda v: (_is_int(v) and v in (0, 1, 2, 4)) or _is(v, *_PACKETS),
    "packet_size": lambda v: _is_int(v) and v >= 0,
    "header": lambda v: _is_int(v) and v >= 0,
    "active": _sockopts.active_valid_in_setopts,
}


def parse_setopts(opts, current: dict | None = None, *, listen: bool = False) -> list:
    """``ssl:setopts(S, Opts)`` on a connected socket: ``[(name, value)]`` to apply.

    ``current`` (unused) was the socket's emulated options: ``{active, N}`` comes back
    as given, the socket adds N to its count (``bridge.service.socket_options``).
    Errors as OTP 25's connection process returns them:
    ``{error, {options, {not_a_proplist, Opts}}}`` for a non-list,
    ``{error, {options, {socket_options, {Name, Value}}}}`` for a bad emulated value,
    and ``{error, {options, {socket_options, Others, einval}}}`` (``Others`` = all
    non-emulated options given) for a bad gen_tcp option.
    ``listen``: a listen socket's setopts (tls_socket:setopts/3), which takes any
    integer ``{active, N}`` here and answers a count out of range itself (einval).
    """
    if not isinstance(opts, list):
        # what OTP 25 returns for setopts(S, Opt) with a non-list (conformance run)
        raise SslOptionError((_ERROR, (_OPTIONS, (A("not_a_proplist"), opts))))
    try:
        expanded = _proplists_expand(opts)
    except Exception:
        raise SslOptionError((_ERROR, (_OPTIONS, (A("not_a_proplist"), opts)))) from None
    out = []
    others = []
    for opt in expanded:
        if isinstance(opt, tuple) and len(opt) == 2 and _akey(opt[0]) in EMULATED_OPTIONS:
            name = _akey(opt[0])
            v = opt[1]
            if not (_SETOPTS_CHECKS[name](v) or (listen and name == "active" and type(v) is int)):
                # ssl_gen_statem:set_socket_opts/6 reports {socket_options, Opt}
                raise SslOptionError((_ERROR, (_OPTIONS, (A("socket_options"), opt))))
            out.append((name, v))
        else:
            others.append(opt)
    # ssl_gen_statem:set_socket_opts/6 hands the rest to inet:setopts in one call and
    # reports {socket_options, Others, InetError} when it fails.
    for opt in others:
        if not _inet_ok(opt, "client") or (isinstance(opt, tuple) and _akey(opt[0]) in (
                "ip", "ifaddr", "port", "fd", "tcp_module", "netns")):
            raise SslOptionError((_ERROR, (_OPTIONS, (A("socket_options"), others, A("einval")))))
        name = _akey(opt[0]) if isinstance(opt, tuple) else _akey(opt)
        out.append((name, opt[1] if isinstance(opt, tuple) and len(opt) == 2 else opt))
    return out


_GETTABLE = frozenset(EMULATED_OPTIONS) | frozenset(SOCKET_OPTIONS) | frozenset(INET_OPTIONS) - {
    "ip", "ifaddr", "port", "fd", "inet", "inet6", "local", "backlog", "netns", "tcp_module", "raw"}


def parse_getopts(names) -> list[str]:
    """``ssl:getopts(S, Names)``: the option names to read, in order.

    Raises ``{error, {options, {socket_options, Names}}}``-shaped errors as OTP 25's
    connection process does for an unknown name.
    """
    if not isinstance(names, list):
        # ssl_gen_statem:get_socket_opts/6's last clause, as observed on OTP 25
        raise SslOptionError((_ERROR, (_OPTIONS, (A("socket_options"), names))))
    out = []
    for n in names:
        name = _akey(n) if isinstance(n, Atom) else None
        if name not in _GETTABLE:
            # ssl_gen_statem:get_socket_opts/6 names the one tag inet refused
            raise SslOptionError((_ERROR, (_OPTIONS, (A("socket_options"), n, A("einval")))))
        out.append(name)
    return out
