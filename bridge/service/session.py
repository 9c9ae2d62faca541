"""Calls that act on a connection's TLS session: update_keys/2, handshake_continue/2,3
and handshake_cancel/1 (OTP 25's ``ssl``; what each reproduces is named below)."""
from __future__ import annotations

from bridge.etf.types import Atom

from . import hello_pause
from .terms import CLOSED, INFINITY, Raise, error

_WRITE = Atom("write")
_READ_WRITE = Atom("read_write")
ILLEGAL_PARAMETER = Atom("illegal_parameter")
# pyOpenSSL and cryptography's bindings have no SSL_key_update (the only way to send
# a TLS 1.3 KeyUpdate through OpenSSL), so a key update is refused by name
UPDATE_KEYS_REFUSED = error((Atom("not_supported_by_pyssl"), Atom("update_keys")))
_MINOR = {"tlsv1.2": 3, "tlsv1.1": 2, "tlsv1": 1}


def update_keys(service, sock, kind):
    """``ssl:update_keys/2``: ``{error, {illegal_parameter, Type}}`` for what is not a
    connected socket with ``write | read_write`` (ssl's catch-all clause),
    ``{error, closed}`` on a closed connection. Below TLS 1.3, ssl's sender process
    crashes encoding the KeyUpdate (``ssl_handshake:encode_handshake/2`` has no clause
    for it) and the call exits with that: the same exit here, and the connection
    ends as it does there. On TLS 1.3 it is refused (UPDATE_KEYS_REFUSED)."""
    from .sockets import ConnSocket
    if not isinstance(sock, ConnSocket) or kind not in (_WRITE, _READ_WRITE):
        return error((ILLEGAL_PARAMETER, kind))
    eng = None if sock.closed or sock.tls is None else sock.tls.engine
    if eng is None:
        return error(CLOSED)
    if eng.version == "tlsv1.3":
        return UPDATE_KEYS_REFUSED
    update = (Atom("key_update"),
              Atom("update_not_requested") if kind is _WRITE else Atom("update_requested"))
    sock.close_now()
    raise Raise(((Atom("function_clause"),
                  [(Atom("ssl_handshake"), Atom("encode_handshake"),
                    [update, (3, _MINOR.get(eng.version, 3))], [])]),
                 (Atom("gen_statem"), Atom("call"),
                  [service.proc.pid, (Atom("post_handshake_data"), update), INFINITY])),
                Atom("exit"))


def handshake_continue(sock, opts, timeout, caller):
    """``ssl:handshake_continue/2,3`` (``ssl_gen_statem:handshake_continue/3``): on a
    server paused after its hello (``{handshake, hello}``), the handshake goes on
    (bridge.service.hello_pause). ssl's connection process, in any state but the
    paused hello, takes the call as fatal: the caller gets ``{error, closed}`` and
    the connection ends (the peer sees it closed), whatever the options and
    timeout were."""
    from .sockets import ListenSocket
    if isinstance(sock, ListenSocket):
        raise Raise(Atom("function_clause"))   # no clause for a listen socket
    if getattr(sock, "paused", None) is not None:
        return hello_pause.handshake_continue(sock, opts, timeout, caller)
    sock.close_now()
    return error(CLOSED)


def handshake_cancel(sock):
    """``ssl:handshake_cancel/1``: ``ok`` and the connection's end on a paused
    hello (see hello_pause.handshake_cancel); elsewhere as ``handshake_continue`` (fatal: ``{error, closed}``)."""
    from .sockets import ListenSocket
    if isinstance(sock, ListenSocket):
        raise Raise(Atom("function_clause"))
    if getattr(sock, "paused", None) is not None:
        return hello_pause.handshake_cancel(sock)
    sock.close_now()
    return error(CLOSED)
