"""The ssl API surface: which function/arity does what, and its argument checks.

``Api.dispatch(fun, args, caller)`` returns the exact reply ``ssl:Fun(Args...)``
would return, either directly or as an awaitable. Argument shapes that ssl's own
function clauses would reject raise ``Raise(function_clause)``/``badarg``, which
the shim re-raises in the caller.
"""
from __future__ import annotations

import logging
from typing import Any

from bridge.etf.types import Atom, Pid, Reference

from . import upgrade
from .terms import (BADARG, CLOSED, EINVAL, ENOTCONN, ERROR, INFINITY, OK, PYSSL,
                    SSLSOCKET, Raise, is_timeout)

log = logging.getLogger("bridge.service")

FUNCTION_CLAUSE = Atom("function_clause")


def socket_ref(term) -> Reference | None:
    if (isinstance(term, tuple) and len(term) == 3 and term[0] is SSLSOCKET
            and term[1] is PYSSL and isinstance(term[2], Reference)):
        return term[2]
    return None


class Api:
    """Maps ``(fun, arity)`` to service methods; each entry validates shapes first."""

    def __init__(self, service):
        self.s = service
        s = service
        self.table = {
            ("connect", 2): s.connect_upgrade,
            ("connect", 3): lambda a, c: s.connect(a[0], a[1], a[2], INFINITY, c),
            ("connect", 4): lambda a, c: s.connect(a[0], a[1], a[2], a[3], c),
            ("listen", 2): lambda a, c: s.listen(a[0], a[1], c),
            ("transport_accept", 1): lambda a, c: s.transport_accept(a[0], INFINITY, c),
            ("transport_accept", 2): lambda a, c: s.transport_accept(a[0], a[1], c),
            ("handshake", 1): lambda a, c: s.handshake(a[0], [], INFINITY, c, new_api=True),
            ("handshake", 2): lambda a, c: self._handshake2(a, c, True),
            ("handshake", 3): lambda a, c: s.handshake(a[0], a[1], a[2], c, new_api=True),
            ("ssl_accept", 1): lambda a, c: s.handshake(a[0], [], INFINITY, c, new_api=False),
            ("ssl_accept", 2): lambda a, c: self._handshake2(a, c, False),
            ("ssl_accept", 3): lambda a, c: s.handshake(a[0], a[1], a[2], c, new_api=False),
            ("send", 2): lambda a, c: s.send(a[0], a[1]),
            ("recv", 2): lambda a, c: s.recv(a[0], a[1], INFINITY),
            ("recv", 3): lambda a, c: s.recv(a[0], a[1], a[2]),
            ("close", 1): lambda a, c: s.close(a[0], None),
            ("close", 2): lambda a, c: s.close(a[0], self._close_how(a[1])),
            ("shutdown", 2): lambda a, c: s.shutdown(a[0], a[1]),
            ("controlling_process", 2): lambda a, c: s.controlling_process(a[0], a[1], c),
            ("setopts", 2): lambda a, c: s.setopts(a[0], a[1]),
            ("getopts", 2): lambda a, c: s.getopts(a[0], a[1]),
            ("peername", 1): lambda a, c: s.peername(a[0]),
            ("sockname", 1): lambda a, c: s.sockname(a[0]),
            ("peercert", 1): lambda a, c: s.peercert(a[0]),
            ("connection_info", 1): lambda a, c: s.connection_info(a[0]),
            ("connection_information", 1): lambda a, c: s.connection_information(a[0], None),
            ("connection_information", 2): lambda a, c: s.connection_information(a[0], a[1]),
            ("negotiated_protocol", 1): lambda a, c: s.negotiated_protocol(a[0], new_api=True),
            ("negotiated_next_protocol", 1): lambda a, c: s.negotiated_protocol(a[0], new_api=False),
            ("prf", 5): lambda a, c: s.prf(*a),
            ("renegotiate", 1): lambda a, c: s.renegotiate(a[0]),
            ("cipher_suites", 0): lambda a, c: s.cipher_suites(),
            ("cipher_suites", 1): lambda a, c: s.cipher_suites(a[0]),
            ("cipher_suites", 2): lambda a, c: s.cipher_suites(a[0], a[1]),
            ("versions", 0): lambda a, c: s.versions(),
            ("format_error", 1): lambda a, c: s.format_error(a[0]),
            # the shim's TLS upgrade of a gen_tcp socket through a relay (bridge.service.upgrade)
            ("$pyssl_upgrade", 7): lambda a, c: upgrade.upgrade(s, *a, c),
            ("start", 0): lambda a, c: OK,
            ("start", 1): lambda a, c: OK,
            ("stop", 0): lambda a, c: OK,
        }

    def _handshake2(self, args, caller, new_api):
        sock, second = args
        if is_timeout(second):
            return self.s.handshake(sock, [], second, caller, new_api=new_api)
        return self.s.handshake(sock, second, INFINITY, caller, new_api=new_api)

    @staticmethod
    def _close_how(how):
        """close/2's second argument: a timeout or {NewController, Timeout} (downgrade)."""
        if is_timeout(how):
            return how
        if isinstance(how, tuple) and len(how) == 2 and isinstance(how[0], Pid) and is_timeout(how[1]):
            return how
        raise Raise(FUNCTION_CLAUSE)

    def exports(self) -> set[tuple[str, int]]:
        return set(self.table)

    def dispatch(self, fun: Atom, args: list, caller: Pid) -> Any:
        if not isinstance(fun, Atom) or not isinstance(args, list):
            raise Raise(BADARG)
        entry = self.table.get((fun.name, len(args)))
        if entry is None:
            raise Raise((Atom("undef"), [(Atom("pyssl"), fun, args, [])]))
        return entry(args, caller)
