"""Socket options in an ssl option list: the emulated ones (``tls_socket``'s
``emulated_options/1``, kept in a ``SocketOptions`` record) and those gen_tcp gets
(``inet``'s checks, as ssl:connect/listen meet them)."""
from __future__ import annotations

from bridge.service import socket_options as _sockopts
from bridge.service.socket_options import SocketOptions

from .base import (
    A,
    _akey,
    _is,
    _is_atom,
    _is_binary,
    _is_bool,
    _is_int,
    _key,
    _opt_error,
)

EMULATED_OPTIONS = ("mode", "packet", "active", "header", "packet_size")
# Emulated by the bridge's socket runtime though OTP hands them to gen_tcp.
SOCKET_OPTIONS = ("deliver", "line_delimiter", "exit_on_close", "high_watermark",
                  "low_watermark", "high_msgq_watermark", "low_msgq_watermark",
                  "send_timeout", "send_timeout_close", "delay_send", "show_econnreset")
INET_OPTIONS = ("debug", "tos", "tclass", "priority", "reuseaddr", "reuseport",
                "reuseport_lb", "keepalive", "linger", "nodelay", "sndbuf", "recbuf",
                "recvtos", "recvtclass", "ttl", "recvttl", "buffer", "raw",
                "bind_to_device", "ip", "ifaddr", "port", "fd", "inet", "inet6", "local",
                "backlog", "ipv6_v6only", "netns", "tcp_module", "dontroute")

# What ssl asks of gen_tcp underneath (tls_socket:internal_inet_values/0): no framing,
# binaries, passive. They end the option list OTP passes to gen_tcp.
INTERNAL_INET_VALUES = ((A("packet_size"), 0), (A("packet"), 0), (A("header"), 0),
                        (A("active"), False), (A("mode"), A("binary")))


def _emulated_options(sock_opts: list):
    """``tls_socket:emulated_options/1``: (the caller's gen_tcp options, reversed as
    OTP's accumulator leaves them; the emulated options as a record)."""
    emulated = SocketOptions()
    inet_rev: list = []
    for opt in sock_opts:
        name = _akey(_key(opt)) if isinstance(opt, tuple) and len(opt) == 2 else None
        if name in EMULATED_OPTIONS:
            _validate_inet_option(name, opt[1])
            setattr(emulated, name, opt[1])
        else:
            inet_rev.insert(0, opt)
    return inet_rev, emulated


def _validate_inet_option(name, v):
    if name == "mode" and not _is(v, "list", "binary"):
        raise _opt_error(name, v)
    if name == "packet" and not (_is_atom(v) or _is_int(v)):
        raise _opt_error(name, v)
    if name in ("packet_size", "header") and not _is_int(v):
        raise _opt_error(name, v)
    if name == "active" and not _sockopts.active_valid_at_open(v):
        raise _opt_error(name, v)


_PACKETS = ("raw", "line", "asn1", "cdr", "sunrm", "fcgi", "tpkt", "http", "httph", "http_bin",
            "httph_bin")

_INET_CHECKS = {
    "debug": _is_bool, "reuseaddr": _is_bool, "reuseport": _is_bool, "reuseport_lb": _is_bool,
    "keepalive": _is_bool, "nodelay": _is_bool, "recvtos": _is_bool, "recvtclass": _is_bool,
    "recvttl": _is_bool, "exit_on_close": _is_bool, "send_timeout_close": _is_bool,
    "delay_send": _is_bool, "show_econnreset": _is_bool, "dontroute": _is_bool,
    "ipv6_v6only": _is_bool,
    "tos": _is_int, "tclass": _is_int, "priority": _is_int, "ttl": _is_int,
    "sndbuf": lambda v: _is_int(v) and v >= 0, "recbuf": lambda v: _is_int(v) and v >= 0,
    "buffer": lambda v: _is_int(v) and v >= 0,
    "high_watermark": lambda v: _is_int(v) and v >= 0, "low_watermark": lambda v: _is_int(v) and v >= 0,
    "high_msgq_watermark": lambda v: _is_int(v) and v > 0,
    "low_msgq_watermark": lambda v: _is_int(v) and v > 0,
    "send_timeout": lambda v: (_is_int(v) and v >= 0) or _is(v, "infinity"),
    "linger": lambda v: isinstance(v, tuple) and len(v) == 2 and _is_bool(v[0]) and _is_int(v[1]) and v[1] >= 0,
    "deliver": lambda v: _is(v, "port", "term"),
    "line_delimiter": lambda v: _is_int(v) and 0 <= v <= 255,
    "bind_to_device": _is_binary,
    "backlog": lambda v: _is_int(v) and v >= 0,
}


def _inet_ok(opt, role: str) -> bool:
    if opt is A("inet") or opt is A("inet6") or opt is A("local"):
        return True
    if isinstance(opt, tuple) and len(opt) == 4 and opt[0] is A("raw"):
        return all(_is_int(x) for x in opt[1:3]) and (_is_binary(opt[3]) or _is_int(opt[3]))
    if not (isinstance(opt, tuple) and len(opt) == 2):
        return False
    name = _akey(opt[0])
    v = opt[1]
    if name in ("packet_size", "header", "mode", "packet", "active"):
        return True           # internal values OTP adds itself
    if name in ("ip", "ifaddr", "port", "fd", "tcp_module", "netns"):
        return True           # accepted by inet's option parser as they are
    if name == "backlog" and role == "client":
        return False
    check = _INET_CHECKS.get(name)
    return bool(check and check(v))


def _split_inet(user_inet_rev: list):
    """The caller's gen_tcp options (as ``_emulated_options`` returns them): (OS
    socket options by name, the gen_tcp options the bridge emulates by name)."""
    inet: dict = {}
    sock: dict = {}
    for opt in reversed(user_inet_rev):
        if opt is A("inet") or opt is A("inet6") or opt is A("local"):
            inet["family"] = opt
            continue
        if isinstance(opt, tuple) and len(opt) == 4:
            inet.setdefault("raw", []).append(opt[1:])
            continue
        name = _akey(opt[0])
        if name == "raw":
            continue            # {raw, X} is no inet option (_inet_ok refuses it)
        if name in SOCKET_OPTIONS:
            sock[name] = opt[1]
        else:
            inet[name] = opt[1]
    return inet, sock

