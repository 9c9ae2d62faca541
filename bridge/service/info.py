"""Information calls on a connection: connection_information/1,2, prf/5 and getstat/1,2."""
from __future__ import annotations

from bridge.etf.types import Atom

from .terms import BADARG, EINVAL, OK, UNDEFINED, error

_SECURITY = ("client_random", "server_random", "master_secret")


def _core(eng, sock) -> list:
    from . import ciphers
    suite_map = ciphers.suite_for(eng.cipher_name(), eng.version)[1]
    # ssl_gen_statem:connection_info/1: session_resumption is set by TLS 1.3's PSK
    # handshake only; OTP 25 reports false for a resumed TLS 1.2 session (a resumed
    # TLS 1.2 session shows as the same session_id). session_data is pyssl's own
    # (bridge.tls.sessions): ssl's is term_to_binary of its #session{} record.
    items = [
        ("protocol", Atom(eng.version)),
        ("session_id", eng.session_id() or b""),
        ("session_data", eng.session_data()),
        ("session_resumption", bool(eng.session_reused) and eng.version == "tlsv1.3"),
        ("selected_cipher_suite", suite_map),
    ]
    sni = eng.sni if sock.role == "server" else None
    if sni:
        items.append(("sni_hostname", list(sni.encode())))
    return items


def connection_information(eng, sock, items):
    info = _core(eng, sock)
    user = getattr(sock.parsed, "info_options", None)
    if user:
        info.extend(user)
    if items is None:
        return (OK, [(Atom(k), v) for k, v in info])
    if not isinstance(items, list) or not all(isinstance(i, Atom) for i in items):
        return error(BADARG)
    wanted = [i.name for i in items]
    if any(w in _SECURITY for w in wanted):
        sec = security_info(eng)
        info.extend(sec)
    return (OK, [(Atom(k), v) for k, v in info if k in wanted and v is not UNDEFINED and v is not None])


def security_info(eng) -> list:
    out = []
    for name in _SECURITY:
        getter = getattr(eng, name, None)
        value = getter() if callable(getter) else getter
        if value:
            out.append((name, bytes(value)))
    return out


def prf(eng, secret, label, seed, length):
    """``ssl:prf/5``: supported as RFC 5705 keying material export, i.e. with
    ``master_secret`` and the seed ``[client_random, server_random]`` — what every
    practical caller passes. Other seeds are refused with a clear error."""
    if not isinstance(label, (bytes, bytearray)) or not isinstance(length, int) or length < 0 \
            or not isinstance(seed, list):
        return error(BADARG)
    if eng.version == "tlsv1.3":
        return error(Atom("undefined"))
    if secret is not Atom("master_secret") or seed != [Atom("client_random"), Atom("server_random")]:
        return error((Atom("not_supported_by_pyssl"), Atom("prf")))
    try:
        return (OK, eng.export_keying_material(bytes(label), length, None))
    except Exception:
        return error(BADARG)


# inet:stats(): what ssl:getstat/1 asks for, in its order
STATS = ("recv_oct", "recv_cnt", "recv_max", "recv_avg", "recv_dvi",
         "send_oct", "send_cnt", "send_max", "send_avg", "send_pend")
_STAT_NAMES = frozenset(STATS)


def getstat(sock, items):
    """``ssl:getstat/2`` (``tls_socket:getstat/3``, i.e. ``inet:getstat/2`` on the TCP
    socket): the counters of the connection's TCP socket (bridge.tls.stats), zeros
    for a socket that has carried nothing (a listen socket, an accepted socket before
    its handshake); ``{error, einval}`` for an unknown name or a closed socket."""
    names = []
    for item in items:
        if not isinstance(item, Atom) or item.name not in _STAT_NAMES:
            return error(EINVAL)
        names.append(item.name)
    if getattr(sock, "closed", False):
        return error(EINVAL)
    tls = getattr(sock, "tls", None)
    if tls is None:
        return (OK, [(Atom(n), 0) for n in names])
    pend = tls.write_buffer_size()
    return (OK, [(Atom(n), tls.stats.value(n, pend)) for n in names])
