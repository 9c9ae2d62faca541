"""The ssl API surface: the one dispatch table, from ``(fun, arity)`` to a handler.

``Api.dispatch(fun, args, caller)`` returns a ``Reply`` (bridge.service.reply) or
an awaitable of one, whose value is exactly what ``ssl:Fun(Args...)`` would return.
Argument shapes that ssl's own function clauses would reject raise
``Raise(function_clause)``/``badarg``, which the shim re-raises in the caller.

Calls on a socket go through ``_on_socket``: the socket term is looked up once
(what a closed socket answers is in the table), the socket's method runs, and the
reply gets the guard sync the send window needs (``Windows.sync_for``).
"""
from __future__ import annotations

import logging
from typing import Any

from bridge.etf.types import Atom, Pid, Reference

from . import cbinfo, ciphers, errors, info, observe, session, upgrade
from .reply import Pending, Reply, mapped, normalized
from .sockets import ConnSocket, ListenSocket, connect
from .terms import (
    BADARG,
    CLOSED,
    EINVAL,
    INFINITY,
    OK,
    PYSSL,
    SSLSOCKET,
    Raise,
    error,
    is_timeout,
)
from .windows import Windows

log = logging.getLogger("bridge.service")

FUNCTION_CLAUSE = Atom("function_clause")
_CLOSED = error(CLOSED)
_EINVAL = error(EINVAL)
_WRITE = Atom("write")
_READ_WRITE = Atom("read_write")
_UPGRADE_REFUSED = error((Atom("options"), (Atom("not_supported_by_pyssl"), Atom("upgrade"))))


def socket_ref(term) -> Reference | None:
    if (isinstance(term, tuple) and len(term) == 3 and term[0] is SSLSOCKET
            and term[1] is PYSSL and isinstance(term[2], Reference)):
        return term[2]
    return None


def _recv(sock, length, timeout):
    """A connected socket's recv answers through a Pending when it has to wait
    (no future, no extra loop step); a listen socket answers at once."""
    if isinstance(sock, ConnSocket):
        pending = Pending()
        now = sock.recv(length, timeout, pending.resolve)
        return pending if now is None else now
    return sock.recv(length, timeout)


def _send(sock, data):
    """A send call; its reply may carry the window bytes owed to the caller's node
    (Windows.reply_crediting): a windowed socket's caller calls when its window
    is used up."""
    result = sock.send(data)
    if getattr(sock, "window_guard", None) is None:
        return result
    return mapped(result, lambda r: Reply(r.value, r.then, r.sync, r.opens, r.ack, credits=sock))


def _transport_accept(sock, timeout, caller):
    if isinstance(sock, ListenSocket):
        pending = Pending()
        now = sock.transport_accept(timeout, caller, pending.resolve)
        return pending if now is None else now
    return sock.transport_accept(timeout, caller)


def _close_how(how):
    """close/2's second argument: a timeout or {NewController, Timeout} (downgrade)."""
    if is_timeout(how):
        return how
    if isinstance(how, tuple) and len(how) == 2 and isinstance(how[0], Pid) and is_timeout(how[1]):
        return how
    raise Raise(FUNCTION_CLAUSE)


def _or_function_clause(result):
    """A pure helper's answer; None where ssl's clauses raise function_clause."""
    if result is None:
        raise Raise(FUNCTION_CLAUSE)
    return result


def _legacy_suites(kind):
    # R16B03's cipher_suites/1 has clauses for erlang, openssl and all only
    try:
        return ciphers.cipher_suites_legacy(kind)
    except ValueError:
        raise Raise(FUNCTION_CLAUSE) from None


def _stat_list(args) -> None:
    # ssl:getstat/2's is_list guard (an improper list fails inside inet the same way)
    if args[1].__class__ is not list:
        raise Raise(FUNCTION_CLAUSE)


def _connection_information2(sock, items):
    # ssl:connection_information/2 has no clause for a listen socket (/1 has one)
    if isinstance(sock, ListenSocket):
        raise Raise(FUNCTION_CLAUSE)
    return sock.connection_information(items)


def _option_sources(sock):
    # a listen socket has no connection options to report (ssl: enotconn)
    if isinstance(sock, ListenSocket):
        return error(Atom("enotconn"))
    return sock.ssl_option_sources()


def _new_owner_is_pid(args) -> None:
    # ssl:controlling_process/2 has an is_pid guard: checked before the socket is
    if not isinstance(args[1], Pid):
        raise Raise(FUNCTION_CLAUSE)


class Api:
    """``(fun, arity)`` -> handler(args, caller); each handler validates shapes first."""

    def __init__(self, service):
        self.service = service
        s = service
        on = self._socket_entry
        self.table = {
            ("connect", 2): lambda a, c: _UPGRADE_REFUSED,
            ("connect", 3): lambda a, c: connect(s, a[0], a[1], a[2], INFINITY, c),
            ("connect", 4): lambda a, c: connect(s, a[0], a[1], a[2], a[3], c),
            ("listen", 2): lambda a, c: ListenSocket.listen(s, a[0], a[1], c),
            ("transport_accept", 1): on(_CLOSED, lambda k, a, c: _transport_accept(k, INFINITY, c)),
            ("transport_accept", 2): on(_CLOSED, lambda k, a, c: _transport_accept(k, a[1], c)),
            ("handshake", 1): on(_CLOSED, lambda k, a, c: k.handshake([], INFINITY, c, new_api=True)),
            ("handshake", 2): on(_CLOSED, lambda k, a, c: self._handshake2(k, a[1], c, True)),
            ("handshake", 3): on(_CLOSED, lambda k, a, c: k.handshake(a[1], a[2], c, new_api=True)),
            ("ssl_accept", 1): on(_CLOSED, lambda k, a, c: k.handshake([], INFINITY, c, new_api=False)),
            ("ssl_accept", 2): on(_CLOSED, lambda k, a, c: self._handshake2(k, a[1], c, False)),
            ("ssl_accept", 3): on(_CLOSED, lambda k, a, c: k.handshake(a[1], a[2], c, new_api=False)),
            ("send", 2): on(_CLOSED, lambda k, a, c: _send(k, a[1])),
            ("recv", 2): on(_CLOSED, lambda k, a, c: _recv(k, a[1], INFINITY), in_config_error=_CLOSED),
            ("recv", 3): on(_CLOSED, lambda k, a, c: _recv(k, a[1], a[2]), in_config_error=_CLOSED),
            ("close", 1): on(OK, lambda k, a, c: k.close(None), ends=True),
            ("close", 2): on(OK, lambda k, a, c: k.close(_close_how(a[1])), ends=True),
            ("shutdown", 2): on(_CLOSED, lambda k, a, c: k.shutdown(a[1]), in_config_error=_CLOSED),
            ("controlling_process", 2): on(_CLOSED, lambda k, a, c: k.controlling_process(a[1]),
                                           check=_new_owner_is_pid, in_config_error=_CLOSED),
            ("setopts", 2): on(_CLOSED, lambda k, a, c: k.setopts(a[1], c), in_config_error=_CLOSED),
            ("getopts", 2): on(_CLOSED, lambda k, a, c: k.getopts(a[1]), in_config_error=_CLOSED),
            ("peername", 1): on(_EINVAL, lambda k, a, c: k.peername()),
            ("sockname", 1): on(_EINVAL, lambda k, a, c: k.sockname()),
            ("peercert", 1): on(_CLOSED, lambda k, a, c: k.peercert(), in_config_error=_CLOSED),
            ("connection_info", 1): on(_CLOSED, lambda k, a, c: k.connection_info(), in_config_error=_CLOSED),
            ("connection_information", 1): on(_CLOSED, lambda k, a, c: k.connection_information(None), in_config_error=_CLOSED),
            ("connection_information", 2): on(_CLOSED, lambda k, a, c: _connection_information2(k, a[1]),
                                                    check=info.items_list, in_config_error=_CLOSED),
            # pyssl_info:with_options/3: the option lists the socket was made with
            ("ssl_option_sources", 1): on(_CLOSED, lambda k, a, c: _option_sources(k), in_config_error=_CLOSED),
            ("negotiated_protocol", 1): on(_CLOSED, lambda k, a, c: k.negotiated_protocol(True), in_config_error=_CLOSED),
            ("negotiated_next_protocol", 1): on(_CLOSED, lambda k, a, c: k.negotiated_protocol(False), in_config_error=_CLOSED),
            ("prf", 5): on(_CLOSED, lambda k, a, c: k.prf(a[1], a[2], a[3], a[4]), in_config_error=_CLOSED),
            ("renegotiate", 1): on(_CLOSED, lambda k, a, c: k.renegotiate(), in_config_error=_CLOSED),
            ("cipher_suites", 0): lambda a, c: ciphers.cipher_suites_legacy(),
            ("cipher_suites", 1): lambda a, c: _legacy_suites(a[0]),
            ("cipher_suites", 2): lambda a, c: _or_function_clause(ciphers.otp_cipher_suites(a[0], a[1])),
            ("cipher_suites", 3): lambda a, c: _or_function_clause(
                ciphers.otp_cipher_suites(a[0], a[1], a[2])),
            # for the shim's filter_cipher_suites/2 (pyssl.erl): the crypto filters'
            # values, from what the bridge's OpenSSL negotiates
            ("$pyssl_cipher_support", 0): lambda a, c: ciphers.component_support(),
            # for pyssl_bridges: the processes of a `pyssl-bridge --processes N` group
            ("$pyssl_group", 0): lambda a, c: s.group(),
            ("eccs", 0): lambda a, c: ciphers.eccs(),
            ("eccs", 1): lambda a, c: _or_function_clause(ciphers.eccs(a[0])),
            ("groups", 0): lambda a, c: ciphers.groups(),
            ("groups", 1): lambda a, c: _or_function_clause(ciphers.groups(a[0])),
            ("clear_pem_cache", 0): lambda a, c: s.clear_pem_cache(c),
            ("getstat", 1): on(_EINVAL, lambda k, a, c: info.getstat(k, list(map(Atom, info.STATS)))),
            ("getstat", 2): on(_EINVAL, lambda k, a, c: info.getstat(k, a[1]), check=_stat_list),
            ("update_keys", 2): self._update_keys,
            ("handshake_continue", 2): on(_CLOSED, lambda k, a, c: session.handshake_continue(k, a[1], INFINITY, c)),
            ("handshake_continue", 3): on(_CLOSED, lambda k, a, c: session.handshake_continue(k, a[1], a[2], c)),
            ("handshake_cancel", 1): on(_CLOSED, lambda k, a, c: session.handshake_cancel(k)),
            ("versions", 0): lambda a, c: errors.versions(),
            ("format_error", 1): lambda a, c: errors.format_error(a[0]),
            # the shim's TLS upgrade of a gen_tcp socket through a relay (bridge.service.upgrade)
            ("$pyssl_upgrade", 7): lambda a, c: upgrade.upgrade(s, *a, c),
            # a user's transport (cb_info) on the caller's node (bridge.service.cbinfo)
            ("$pyssl_cb_connect", 6): lambda a, c: cbinfo.connect(s, *a, c),
            ("$pyssl_cb_listen", 3): lambda a, c: cbinfo.listen(s, *a, c),
            ("$pyssl_cb_accepted", 2): lambda a, c: cbinfo.accepted(s, *a, c),
            ("$pyssl_cb_check", 2): lambda a, c: cbinfo.check(s, *a, c),
            ("$pyssl_cb_upgrade", 7): lambda a, c: cbinfo.upgrade(s, *a, c),
            ("start", 0): lambda a, c: OK,
            ("start", 1): lambda a, c: OK,
            ("stop", 0): lambda a, c: OK,
            # the shim's pyssl:i/0 and pyssl:stats/0 (bridge.service.observe)
            ("$pyssl_sockets", 0): lambda a, c: observe.socket_rows(s),
            ("$pyssl_stats", 0): lambda a, c: s.observer.stats(),
        }
        self._update_keys_on = on(_CLOSED, lambda k, a, c: session.update_keys(s, k, a[1]))

    def _socket_entry(self, if_gone, fn, *, ends: bool = False, check=None, in_config_error=None):
        """The handler of a call whose first argument is a socket: ``if_gone`` is the
        reply for a socket that is closed (not in the table any more); ``ends`` says
        the reply ends the socket for its caller (close); ``check`` validates the other
        arguments first, as ssl's function clauses do before looking at the socket;
        ``in_config_error`` is the reply of a call that ssl makes to the connection
        process, for an accepted socket whose listen config cannot be built (its
        process waits in ssl_gen_statem:config_error/3, which answers such calls
        {error, closed})."""
        def handler(args, caller):
            term = args[0]
            ref = socket_ref(term)
            if ref is None:
                raise Raise(FUNCTION_CLAUSE)
            if check is not None:
                check(args)
            sock = self.service.sockets.get(ref)
            if sock is None:
                return Reply(if_gone, sync=Windows.sync_for(ref, None, 0, if_gone, ends))
            if in_config_error is not None and getattr(sock, "config_error", None) is not None:
                return Reply(in_config_error)
            before = getattr(sock, "window_changes", 0)
            try:
                result = fn(sock, args, caller)
            except Raise as exc:
                # a call that raises after it ended the socket (update_keys below TLS
                # 1.3): the caller's next send must not be taken from a window the
                # guard has not dropped yet, so the raise waits for the guard too
                sync = Windows.sync_for(ref, sock, before, None, getattr(sock, "closed", False))
                if sync is None:
                    raise
                return Reply(exc.as_reply(), sync=sync)
            return mapped(result, lambda r: _with_sync(
                r, Windows.sync_for(ref, sock, before, r.value, ends)))
        return handler

    def _update_keys(self, args, caller):
        # ssl:update_keys/2's catch-all clause answers for what is not a socket with
        # write | read_write, before anything looks at the socket
        kind = args[1]
        if socket_ref(args[0]) is None or kind not in (_WRITE, _READ_WRITE):
            return error((session.ILLEGAL_PARAMETER, kind))
        return self._update_keys_on(args, caller)

    def _handshake2(self, sock, second, caller, new_api):
        if is_timeout(second):
            return sock.handshake([], second, caller, new_api=new_api)
        return sock.handshake(second, INFINITY, caller, new_api=new_api)

    def exports(self) -> set[tuple[str, int]]:
        return set(self.table)

    def dispatch(self, fun: Atom, args: list, caller: Pid) -> Any:
        """A Reply, or an awaitable of one (a ``Pending``, a coroutine); raises
        ``Raise`` for what ssl raises."""
        if fun.__class__ is not Atom or args.__class__ is not list:
            raise Raise(BADARG)
        entry = self.table.get((fun.name, len(args)))
        if entry is None:
            raise Raise((Atom("undef"), [(Atom("pyssl"), fun, args, [])]))
        return normalized(entry(args, caller))


def _with_sync(reply: Reply, sync) -> Reply:
    # a new Reply: a handler may return a shared one
    return reply if sync is None else Reply(reply.value, reply.then, sync, reply.opens, reply.ack)
