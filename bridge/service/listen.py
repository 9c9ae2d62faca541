"""``ssl:listen/2`` sockets: a bound TCP socket, eager accepting, and the options
the connections accepted from it inherit (``transport_accept`` hands out
not-yet-handshaken ``ConnSocket``s)."""
from __future__ import annotations

import asyncio
import itertools
import socket as pysocket
import struct
from collections import deque
from typing import Optional

from bridge.etf.types import Atom, Pid

from . import inet, options, socket_options
from .conn import ConnSocket
from .localsteps import listen_step
from .options import SslOptionError
from .sockbase import SocketBase, config_heavy, off_loop_if_heavy, parse, split_changes
from .terms import (BADARG, CLOSED, ENOTCONN, OK, SSL_PASSIVE, TIMEOUT, Raise, error, is_timeout,
                    to_timeout)


_LINGER_RESET = struct.pack("ii", 1, 0)

# numbers the listen sockets' session id contexts (new_session_id_context)
_LISTENERS = itertools.count(1)


def new_session_id_context() -> bytes:
    """A session id context no other listen socket has. ssl's server session cache
    is the listen socket's (tls_socket:session_id_tracker/2); libssl's is the
    context's, shared by listeners of equal options, so each listener gets an id
    context of its own and a client never resumes, through a new listener on a
    port an old one had, a session the old one made."""
    return b"pyssl-bridge/listen/%d" % next(_LISTENERS)


# tls_socket:emulated_options/0
_LISTEN_EMULATED = frozenset(("mode", "packet", "active", "header", "packet_size"))


class ListenSocket(SocketBase):
    """``ssl:listen/2``: a bound TCP socket plus the options new connections inherit.

    Accepting is eager: while acceptors wait, or once there has been one, a reader
    on the listen socket accepts every connection the kernel has ready (up to
    ``ACCEPT_AHEAD`` not yet taken) and hands them to waiting ``transport_accept``
    calls in arrival order, so a waiting acceptor is answered in the loop step that
    saw the connection and the next one finds its connection already accepted. What
    ``transport_accept`` returns does not change: ``{ok, S}``, ``{error, timeout}``
    (the timeout counts from the call), ``{error, closed}`` when the listener closes.
    Connections accepted but not taken when the listener closes are closed with it,
    as the kernel drops its backlog."""

    ACCEPT_AHEAD = 16

    def __init__(self, service, owner, lsock: pysocket.socket, parsed, files: dict):
        super().__init__(service, owner)
        self.lsock = lsock
        self.parsed = parsed          # ParsedOptions from options.parse_listen_options
        self.files = files            # contents read on the caller's node at listen time
        self.closed = False
        self._ready: deque = deque()      # accepted TCP sockets nobody took yet
        self._waiters: deque = deque()    # [future, caller, timer] of waiting acceptors
        self._reading = False
        self._cfg = None                  # TLSConfig for handshakes without options

    def server_config(self):
        """The TLSConfig of handshakes without options (built once; raises
        SslOptionError as ``options.build_tls_config`` does, and is not kept then)."""
        if self._cfg is None:
            self._cfg = options.build_tls_config(self.parsed, "server", self.files)
        return self._cfg

    def _config_error(self):
        """The reply a handshake without options will get when this listen socket's
        TLS config cannot be built (a cacertfile that is not there...), or None. ssl
        finds it at transport_accept: the accepted socket's connection process builds
        its config in init and, failing, waits in ssl_gen_statem:config_error/3,
        where a handshake gets the error, close gets ok and every other call on the
        socket gets {error, closed}. A config too big to build on the loop is left
        to the handshake, as before."""
        if config_heavy(self.parsed, self.files):
            return None
        try:
            self.server_config()
        except SslOptionError as exc:
            return exc.term
        except options.ErlangException:
            return None         # raised in the caller by the handshake, as ssl does
        return None

    @classmethod
    async def listen(cls, service, port, opts, caller: Pid):
        parsed = await off_loop_if_heavy(opts, parse, options.parse_listen_options, opts)
        if not isinstance(parsed, options.ParsedOptions):
            return parsed
        cb = options.user_transport(parsed.ssl)
        if cb is not None:      # a user's transport: listens on the caller's node
            return listen_step(port, cb, parsed, opts)
        # gen_tcp:listen: getserv/1 resolves atoms (exit badarg if unknown) and has
        # no clause for other non-integers; an integer out of range exits badarg.
        if isinstance(port, Atom) or port is True or port is False:
            port = inet.service_port(port)
            if port is None:
                raise Raise(BADARG, Atom("exit"))
        elif not isinstance(port, int) or isinstance(port, bool):
            raise Raise(Atom("function_clause"))
        if not inet.valid_port(port):
            raise Raise(BADARG, Atom("exit"))
        files = await service.read_files(caller, [p for _, p in parsed.files])
        try:
            lsock = inet.open_listen_socket(port, parsed.inet)
        except OSError as exc:
            return error(inet.posix_atom(exc))
        parsed.session_id_context = new_session_id_context()
        sock = cls(service, caller, lsock, parsed, files)
        service.add_socket(sock)
        active = parsed.socket.active
        if socket_options.is_count(active) and active <= 0:
            # tls_socket:listen/3 ends with check_active_n/2: {active, N} with N =< 0
            # is stored as false and the caller gets {ssl_passive, LS}
            sock._set_emulated(opts, [("active", active)], caller, fresh=True)
        return (OK, sock.term)

    def transport_accept(self, timeout, caller, reply=None):
        """The reply now (a connection is ready, or timeout 0), else a future of it;
        with ``reply`` given, a reply that has to wait goes to ``reply`` (the shim's
        calls: no future, no extra loop step) and None is returned."""
        if not is_timeout(timeout):
            raise Raise(Atom("function_clause"))
        if self.closed:
            return error(CLOSED)
        secs = to_timeout(timeout)
        if not self._ready and not self._waiters:
            self._accept_ready()      # what the kernel has now (no waiting on the loop)
        if self._ready and not self._waiters:
            reply = self._take(self._ready.popleft(), caller)
            self._want_reader()
            return reply
        if secs == 0:
            return error(TIMEOUT)
        loop = asyncio.get_running_loop()
        fut = loop.create_future() if reply is None else None
        waiter = [fut, caller, None, reply]
        if secs is not None:
            waiter[2] = loop.call_later(secs, self._expire, waiter)
        self._waiters.append(waiter)
        self._want_reader()
        return fut

    @staticmethod
    def _waiting(waiter) -> bool:
        """Still wants its reply (a future may have been cancelled by an rpc caller)."""
        return waiter[0] is None or not waiter[0].done()

    @staticmethod
    def _answer(waiter, value) -> None:
        if waiter[2] is not None:
            waiter[2].cancel()
        if waiter[0] is None:
            waiter[3](value)
        elif not waiter[0].done():
            waiter[0].set_result(value)

    def _expire(self, waiter) -> None:
        try:
            self._waiters.remove(waiter)
        except ValueError:
            return
        waiter[2] = None
        self._answer(waiter, error(TIMEOUT))

    def _take(self, csock, caller):
        """A new not-yet-handshaken socket for an accepted connection: ``{ok, S}``."""
        try:
            inet.apply_accepted(csock, self.parsed.inet)
        except OSError as exc:
            csock.close()
            return error(inet.posix_atom(exc))
        conn = ConnSocket(self.service, caller, self.parsed, role="server", accepted=True)
        conn.pending_tcp = csock
        conn.listen_files = self.files
        conn.listen_sock = self
        conn.config_error = self._config_error()
        self.service.add_socket(conn)
        return (OK, conn.term)

    def _want_reader(self) -> None:
        want = not self.closed and len(self._ready) < self.ACCEPT_AHEAD
        if want and not self._reading:
            asyncio.get_running_loop().add_reader(self.lsock.fileno(), self._on_readable)
            self._reading = True
        elif not want and self._reading:
            self._stop_reader()

    def _stop_reader(self) -> None:
        if self._reading:
            self._reading = False
            try:
                asyncio.get_running_loop().remove_reader(self.lsock.fileno())
            except (OSError, ValueError):
                pass

    def _accept_ready(self) -> Optional[OSError]:
        """Accept what the kernel has ready into ``_ready``; the error that stopped it."""
        while len(self._ready) < self.ACCEPT_AHEAD:
            try:
                csock, _addr = self.lsock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return None
            except OSError as exc:
                return exc
            self._ready.append(csock)
        return None

    def _on_readable(self) -> None:
        if self.closed:
            return
        exc = self._accept_ready()
        while self._ready and self._waiters:
            waiter = self._waiters.popleft()
            if self._waiting(waiter):
                self._answer(waiter, self._take(self._ready.popleft(), waiter[1]))
            elif waiter[2] is not None:
                waiter[2].cancel()
        if exc is not None:
            # e.g. EMFILE: the first waiter gets the error, as its accept would have;
            # no busy loop on a socket that stays readable until the next acceptor
            if self._waiters:
                self._answer(self._waiters.popleft(), error(inet.posix_atom(exc)))
            self._stop_reader()
            return
        self._want_reader()

    def close_now(self):
        if self.closed:
            return
        self.closed = True
        self._stop_reader()
        while self._waiters:
            self._answer(self._waiters.popleft(), error(CLOSED))
        while self._ready:         # reset, as the kernel resets its unaccepted backlog
            csock = self._ready.popleft()
            try:
                csock.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_LINGER, _LINGER_RESET)
            except OSError:
                pass
            csock.close()
        try:
            self.lsock.close()
        except OSError:
            pass
        self.service.forget(self)

    def setopts(self, opts, caller: Optional[Pid] = None):
        changes = parse(options.parse_setopts, opts, self.parsed.socket, listen=True)
        if not isinstance(changes, list):
            return changes
        _, inet_changes = split_changes(changes)
        self._fresh_parsed()
        inet.set_options(self.lsock, inet_changes)
        self.parsed.inet.update(inet_changes)
        return self._set_emulated(opts, [(k, v) for k, v in changes if k not in inet_changes],
                                  caller)

    def _fresh_parsed(self) -> None:
        """Own copies of the options to change (they may be shared with the memo):
        sockets accepted so far keep the options they were accepted with."""
        p = self.parsed
        self.parsed = options.ParsedOptions(
            role=p.role, socket=p.socket.copy(), inet=dict(p.inet), ssl=p.ssl,
            files=p.files, given=p.given, inet_list=p.inet_list, sources=p.sources)

    def _set_emulated(self, opts, emulated: list, caller, *, fresh: bool = False):
        """The emulated options of a listen socket's setopts, as OTP 25's
        tls_socket:setopts/3: split_options/4 reverses them, so of two values given
        for one name the first is stored; ``{active, N}`` is added to a running count
        (update_active_n/2) and stored even when check_active_n/2 then refuses it.
        check_active_n looks at the last ``active`` given: an integer outside
        -32768..32767, or a sum outside it, is ``einval`` in the listen socket's
        error shape; a result of ``false`` sends ``{ssl_passive, LS}`` to the
        *caller* (ssl does ``self() !``), not to the owner."""
        sock = self.parsed.socket
        if fresh:   # at listen: the count starts from false, not from the value given
            self._fresh_parsed()
            sock = self.parsed.socket
            sock.active = False
        for name, value in reversed(emulated):
            if name == "active" and socket_options.is_count(value):
                sock.active, _ = socket_options.active_after_setopts(sock.active, value)
            else:
                sock.set(name, value)
        checked = next((v for k, v in reversed(emulated) if k == "active"), None)
        if not socket_options.is_count(checked):
            return OK
        lo, hi = socket_options.ACTIVE_MIN, socket_options.ACTIVE_MAX
        total = sock.active
        if not lo <= checked <= hi or (socket_options.is_count(total) and not lo <= total <= hi):
            return error((Atom("options"), (Atom("socket_options"), opts, Atom("einval"))))
        if total is False and caller is not None:
            self.service.node.send(caller, (SSL_PASSIVE, self.term))
        return OK

    def getopts(self, names):
        wanted = parse(options.parse_getopts, names)
        if not isinstance(wanted, list):
            return wanted
        # tls_socket:getopts/3 on a listen socket: the emulated options (its tracker's
        # emulated_options/0) first, then the TCP socket's, each in the reverse of
        # the order asked; exit_on_close is the TCP socket's (true by default, as gen_tcp)
        sopts = self.parsed.socket.as_dict()
        sopts.setdefault("exit_on_close", True)
        emulated = [n for n in wanted if n in _LISTEN_EMULATED]
        rest = [n for n in wanted if n not in _LISTEN_EMULATED]
        return (OK, inet.get_options(self.lsock, emulated, sopts)
                + inet.get_options(self.lsock, rest, sopts))

    def peername(self):
        return error(ENOTCONN)

    def sockname(self):
        return (OK, inet.address_term(self.lsock.getsockname()))

    def shutdown(self, how):
        return error(ENOTCONN)
