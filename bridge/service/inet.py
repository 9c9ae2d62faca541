"""The OS side of ssl sockets: gen_tcp-style options on Python sockets, addresses, errno atoms.

``inet`` option dicts use gen_tcp's option names as keys (``"nodelay"``,
``"reuseaddr"``, ``"backlog"``, ``"ip"``, ``"keepalive"``, ``"recbuf"``,
``"sndbuf"``, ``"buffer"``, ``"send_timeout"``, ``"linger"``, ``"tos"``,
``"priority"``...) and Python values (``ip`` is an address tuple, ``linger`` a
``(bool, int)`` pair).
"""
from __future__ import annotations

import errno
import functools
import ipaddress
import socket
import struct
from typing import Optional

from bridge.etf.types import Atom

# gen_tcp defaults the emulated options report (getopts on a fresh socket).
_SOCKOPT = {
    "nodelay": (socket.IPPROTO_TCP, socket.TCP_NODELAY),
    "reuseaddr": (socket.SOL_SOCKET, socket.SO_REUSEADDR),
    "keepalive": (socket.SOL_SOCKET, socket.SO_KEEPALIVE),
    "recbuf": (socket.SOL_SOCKET, socket.SO_RCVBUF),
    "sndbuf": (socket.SOL_SOCKET, socket.SO_SNDBUF),
    "tos": (socket.IPPROTO_IP, socket.IP_TOS),
    "priority": (socket.SOL_SOCKET, getattr(socket, "SO_PRIORITY", 12)),
}
_BOOL = {"nodelay", "reuseaddr", "keepalive"}


def posix_atom(exc: OSError) -> Atom:
    if isinstance(exc, socket.gaierror):
        return Atom("nxdomain")
    if exc.errno is not None and exc.errno in errno.errorcode:
        return Atom(errno.errorcode[exc.errno].lower())
    if isinstance(exc, ConnectionRefusedError):
        return Atom("econnrefused")
    return Atom("closed")


def host_string(host) -> Optional[str]:
    """A connect/2 host (charlist, atom, IPv4/IPv6 tuple) as a string, or None."""
    if isinstance(host, Atom):
        return host.name
    if isinstance(host, str):
        return host
    if isinstance(host, list) and host and all(isinstance(c, int) and 0 < c < 0x110000 for c in host):
        return "".join(map(chr, host))
    if isinstance(host, tuple) and len(host) == 4 and all(isinstance(x, int) and 0 <= x <= 255 for x in host):
        return ".".join(map(str, host))
    if isinstance(host, tuple) and len(host) == 8 and all(isinstance(x, int) and 0 <= x <= 0xFFFF for x in host):
        return str(ipaddress.IPv6Address(b"".join(struct.pack(">H", x) for x in host)))
    return None


def _visible(name: str) -> bool:
    """inet_parse:visible_string/1: a non-empty name of printable ASCII, no space."""
    return bool(name) and all(33 <= ord(c) <= 126 for c in name)


def connect_address(host) -> Optional[str]:
    """What gen_tcp:connect accepts as an address, as a string; None where inet
    says einval (OTP's ssl then reports ``{options, {socket_options, ...}}``)."""
    if host is True or host is False:
        host = Atom(str(host).lower())
    if isinstance(host, Atom):
        return host.name if _visible(host.name) else None
    if isinstance(host, list) and all(isinstance(c, int) and not isinstance(c, bool) for c in host):
        name = "".join(map(chr, host)) if all(0 <= c < 0x110000 for c in host) else ""
        return name if _visible(name) else None
    if isinstance(host, str):
        return host if _visible(host) else None
    if isinstance(host, tuple) and len(host) in (4, 8):
        return host_string(host)
    return None


def service_port(port) -> Optional[int]:
    """inet_tcp:getserv/1 for an atom: the TCP port of a service name, or None."""
    name = str(port).lower() if port is True or port is False else port.name
    try:
        return socket.getservbyname(name, "tcp")
    except (OSError, UnicodeError):
        return None


def valid_port(port) -> bool:
    return isinstance(port, int) and not isinstance(port, bool) and 0 <= port <= 65535


def address_term(addr) -> tuple:
    """``{IP, Port}`` of a socket address (inet:sockname/peername's form)."""
    return (_ip_tuple(addr[0]), addr[1])


@functools.lru_cache(maxsize=256)
def _ip_tuple(host: str) -> tuple:
    # a sockname/peername call asks for the same few addresses again and again, and
    # ipaddress's parse was ~3 us of a ~25 us bridge call
    ip = ipaddress.ip_address(host)
    if ip.version == 4:
        return tuple(ip.packed)
    return tuple(struct.unpack(">8H", ip.packed))


def _ip_string(ip) -> str:
    return host_string(ip) or "0.0.0.0"


def open_listen_socket(port: int, opts: dict) -> socket.socket:
    family = socket.AF_INET6 if opts.get("inet6") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # gen_tcp listen sockets set SO_REUSEADDR unless told otherwise
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1 if opts.get("reuseaddr", True) else 0)
        set_options(sock, {k: v for k, v in opts.items() if k != "reuseaddr"})
        ip = opts.get("ip")
        host = _ip_string(ip) if ip is not None else ("::" if family == socket.AF_INET6 else "0.0.0.0")
        sock.bind((host, port))
        sock.listen(opts.get("backlog", 5))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def local_addr(opts: dict):
    """``local_addr`` for a client connect from the ``ip``/``ifaddr`` and ``port`` options."""
    ip = opts.get("ip", opts.get("ifaddr"))
    port = opts.get("port", 0)
    if ip is None and not port:
        return None
    return (_ip_string(ip) if ip is not None else "0.0.0.0", port or 0)


def apply_accepted(sock: socket.socket, opts: dict) -> None:
    sock.setblocking(False)
    set_options(sock, {k: v for k, v in opts.items() if k not in ("backlog", "ip", "port", "reuseaddr")})


def _open(sock):
    """``sock``, or None once its transport closed it (the peer may close right
    after a handshake, before the caller's options are applied). uvloop's socket
    of a closed transport raises ValueError on any option call, not OSError."""
    return sock if sock is not None and sock.fileno() >= 0 else None


def set_options(sock: Optional[socket.socket], opts: dict) -> None:
    sock = _open(sock)
    if sock is None:
        return
    for name, value in opts.items():
        try:
            if name in _SOCKOPT:
                level, opt = _SOCKOPT[name]
                sock.setsockopt(level, opt, int(bool(value)) if name in _BOOL else int(value))
            elif name == "buffer":
                continue  # user-level buffer size: the bridge buffers by itself
            elif name == "linger":
                on, secs = value
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", int(on), int(secs)))
        except OSError:
            pass


def get_options(sock: Optional[socket.socket], wanted: list[str], emulated: dict) -> list:
    """``[{Name, Value}]``, socket-level names read from the OS. Like ssl_gen_statem's
    accumulator, the list comes back in the reverse of the order asked."""
    sock = _open(sock)
    out = []
    for name in wanted:
        if name in emulated:
            out.append((Atom(name), to_term(name, emulated[name])))
        elif sock is not None and name in _SOCKOPT:
            level, opt = _SOCKOPT[name]
            try:
                value = sock.getsockopt(level, opt)
            except OSError:
                continue
            out.append((Atom(name), bool(value) if name in _BOOL else value))
        elif sock is not None and name == "linger":
            try:
                on, secs = struct.unpack("ii", sock.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8))
            except OSError:
                continue
            out.append((Atom("linger"), (bool(on), secs)))
    out.reverse()
    return out


def to_term(name: str, value):
    """Emulated option values as Erlang terms."""
    if isinstance(value, bool) or isinstance(value, int):
        return value
    if isinstance(value, str):
        return Atom(value)
    return value
