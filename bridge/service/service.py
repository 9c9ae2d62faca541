"""The ssl service: requests from Erlang in, ssl-shaped replies and messages out.

Requests arrive two ways and end in ``Api.dispatch``:

* ``gen_server:call({pyssl, Bridge}, {Fun, Args}, infinity)`` from the shim: the
  registered process ``pyssl`` handles them in arrival order (cheap operations
  such as ``send`` are done inline, so one caller's ``send`` then ``close`` stay in
  order); operations that wait (connect, accept, handshake, recv) run as tasks.
* ``rpc:call(Bridge, ssl, Fun, Args)`` through the node's rex/erpc service.

The caller of connect/listen/transport_accept becomes the owner. Owners are
monitored: an owner's death closes its sockets, and a node going away takes its
owners' sockets with it.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import reprlib
import time
from typing import Any, Optional

from bridge.etf.codec import ETFEncodeError
from bridge.etf.types import Atom, Pid, Reference

from . import errors, options
from .api import Api, socket_ref
from .options import SslOptionError
from .setup import connect as connect_client
from .sockets import After, ConnSocket, ListenSocket, SocketBase
from .terms import (BADARG, CLOSED, EINVAL, ENOTCONN, ERROR, INFINITY, OK, PATH_MAX, PYSSL,
                    SSLSOCKET, Raise, error)
from .windows import GUARD, SEND, Windows

log = logging.getLogger("bridge.service")

GEN_CALL = Atom("$gen_call")
_SEND = Atom("send")
_RECV = Atom("recv")
_TRANSPORT_ACCEPT = Atom("transport_accept")
# What a caller gets when the bridge fails at something it should not (a bug):
# error:{pyssl_internal_error, Why} in the caller, never silence.
INTERNAL_ERROR = Raise((Atom("pyssl_internal_error"), Atom("reply_not_encodable")))
_NOT_ENCODABLE = INTERNAL_ERROR.as_reply()


_BRIEF = reprlib.Repr()
_BRIEF.maxlevel = 4


def brief(term) -> str:
    """A bounded repr for logs: a caller's term may be nested any depth or be huge."""
    try:
        return _BRIEF.repr(term)
    except Exception:   # a repr that recursed inside a type reprlib does not know
        return f"<{type(term).__name__}>"


def internal_error(fun) -> tuple:
    """The reply for a request whose handling failed (a bug): the function's name only,
    since the request itself may be any term (repr of a deep one fails too)."""
    return Raise((Atom("pyssl_internal_error"),
                  fun if isinstance(fun, Atom) else Atom("unknown"))).as_reply()
# How long one request may hold the event loop before it is logged as too slow.
LOOP_BUDGET = 0.010
ENAMETOOLONG = Atom("enametoolong")
# How long file contents read on a caller's node are reused (OTP's PEM cache
# cleans every 2 minutes).
FILE_CACHE_SECONDS = 120.0


class SslService:
    """One per bridge node. Holds every socket, keyed by its reference."""

    def __init__(self, node):
        self.node = node
        self.sockets: dict[Reference, SocketBase] = {}
        self.by_owner: dict[Pid, set[Reference]] = {}
        self.owner_monitors: dict[Pid, Reference] = {}
        self.api = Api(self)
        self.proc = None
        self.windows = Windows(self)
        self._file_cache: dict[tuple, tuple[bytes, float]] = {}

    # ---- wiring -----------------------------------------------------------
    def install(self) -> None:
        self.proc = self.node.spawn(self, name="pyssl")
        self.node.register_rpc_module("ssl", self.rpc)
        self.node.register_rpc_module("pyssl", self.rpc)

    # Process handler: gen_server calls from the shim, owner DOWN signals.
    def handle_message(self, msg) -> None:
        # Nothing may escape: the process would die, and every later call with it.
        try:
            self._handle_message(msg)
        except Exception:
            log.exception("pyssl: handling a message failed")

    def _handle_message(self, msg) -> None:
        if msg.__class__ is tuple and len(msg) == 3 and msg[0] is SEND:
            # {'$pyssl_send', Ref, Data}: a send taken from its window
            self.windows.send(msg[1], msg[2])
        elif isinstance(msg, tuple) and len(msg) == 3 and msg[0] is GEN_CALL:
            _, from_, request = msg
            if not (isinstance(from_, tuple) and len(from_) == 2 and isinstance(from_[0], Pid)):
                # gen_server drops these too: there is nobody to answer
                log.warning("dropping a call with no caller to answer")
                return
            pid, tag = from_

            def reply(value, pid=pid, tag=tag):
                # to the call's alias when it has one (Node.reply): a reply after the
                # caller gave up is dropped by its node, not left in its mailbox
                sender = self.proc.pid if self.proc is not None else None
                try:
                    self.node.reply(pid, tag, value, sender=sender, fallback=_NOT_ENCODABLE)
                except ETFEncodeError:
                    # a value with no external form is a bug here; the caller must
                    # still get exactly one answer, not wait forever (found on the
                    # loop; found on a codec thread, the connection sends the fallback)
                    log.exception("pyssl: reply to %r has no external form", pid)
                    self.node.reply(pid, tag, _NOT_ENCODABLE, sender=sender)

            if not (isinstance(request, tuple) and len(request) == 2):
                reply(Raise(BADARG).as_reply())
                return
            self._run(request[0], request[1], pid, reply)
        elif msg.__class__ is tuple and len(msg) == 2 and msg[0] is GUARD:
            self.windows.guard_started(msg[1])
        else:
            log.warning("pyssl: unexpected message %s", brief(msg))

    def handle_down(self, ref, pid, reason) -> None:
        if self.windows.guard_down(ref):
            return
        if self.owner_monitors.get(pid) == ref:
            del self.owner_monitors[pid]
            for sref in list(self.by_owner.pop(pid, ())):
                sock = self.sockets.get(sref)
                if sock is not None and sock.owner == pid:
                    log.debug("owner %r down (%r): closing %r", pid, reason, sref)
                    sock.close_now()

    def handle_exit(self, pid, reason) -> None:
        pass

    def rpc(self, fun, args, caller):
        """rex/erpc entry: returns the reply (or an awaitable of it); raises for EXITs."""
        result = self.api.dispatch(fun, args, caller)
        if isinstance(result, After):
            asyncio.get_running_loop().call_soon(result.then)
            return result.value
        if inspect.isawaitable(result):
            return self._await_rpc(result)
        return result

    async def _await_rpc(self, awaitable):
        result = await awaitable
        if isinstance(result, After):
            # the rpc layer sends the reply in this same loop step, before `then` runs
            asyncio.get_running_loop().call_soon(result.then)
            return result.value
        return result

    def _run(self, fun, args, caller: Pid, reply) -> None:
        # Nothing raised here may escape: the registered process would die with it
        # and every later call would find no service.
        started = time.perf_counter()
        try:
            self._run_unguarded(fun, args, caller, reply)
        except Exception:
            log.exception("pyssl: %r failed", fun)
            try:
                reply(internal_error(fun))
            except Exception:
                log.exception("pyssl: cannot even reply to %r", fun)
        # The loop's budget per request: what is heavier belongs on a worker thread
        # (see sockets.off_loop_if_heavy); say so when a request went over it.
        spent = time.perf_counter() - started
        if spent > LOOP_BUDGET:
            log.warning("pyssl: %s held the event loop %.0f ms (budget %.0f ms)",
                        fun.name if isinstance(fun, Atom) else "a request", spent * 1000,
                        LOOP_BUDGET * 1000)

    def _run_unguarded(self, fun, args, caller: Pid, reply) -> None:
        # send and recv are most calls: straight to the socket (what the Api table's
        # entries for send/2, recv/2,3 do); a recv that waits replies by itself
        if args.__class__ is list:
            n = len(args)
            if fun is _SEND and n == 2:
                try:
                    result = self.send(args[0], args[1])
                except Raise as exc:
                    reply(exc.as_reply())
                    return
                if result is OK or result.__class__ is tuple:
                    reply(result)
                    return
                self._reply_result(result, fun, args, reply)
                return
            if fun is _RECV and (n == 2 or n == 3):
                try:
                    sock = self.lookup(args[0])
                    if sock is None:
                        result = error(CLOSED)
                    elif isinstance(sock, ConnSocket):
                        result = sock.recv(args[1], INFINITY if n == 2 else args[2], reply)
                        if result is None:
                            return          # the socket replies when the data is there
                    else:
                        result = sock.recv(args[1], INFINITY if n == 2 else args[2])
                except Raise as exc:
                    reply(exc.as_reply())
                    return
                self._reply_result(result, fun, args, reply)
                return
            if fun is _TRANSPORT_ACCEPT and (n == 1 or n == 2):
                try:
                    sock = self.lookup(args[0])
                    if sock is None:
                        result = error(CLOSED)
                    elif isinstance(sock, ListenSocket):
                        result = sock.transport_accept(INFINITY if n == 1 else args[1], caller, reply)
                        if result is None:
                            return          # the listen socket replies on a connection
                    else:
                        result = sock.transport_accept(INFINITY if n == 1 else args[1], caller)
                except Raise as exc:
                    reply(exc.as_reply())
                    return
                self._reply_result(result, fun, args, reply)
                return
        try:
            result = self.api.dispatch(fun, args, caller)
        except Raise as exc:
            reply(exc.as_reply())
            return
        except Exception:  # a bug must not kill the service or the caller's wait
            log.exception("pyssl: %r failed", fun)
            reply(internal_error(fun))
            return
        self._reply_result(result, fun, args, reply)

    def _reply_result(self, result, fun, args, reply) -> None:
        if asyncio.iscoroutine(result):
            task = asyncio.get_running_loop().create_task(result)
            task.add_done_callback(lambda t: self._finish(t, fun, args, reply))
        elif isinstance(result, asyncio.Future):
            result.add_done_callback(lambda t: self._finish(t, fun, args, reply))
        elif isinstance(result, After):
            reply(result.value)
            result.then()
        else:
            reply(result)

    @staticmethod
    def _finish(task: asyncio.Task, fun, args, reply) -> None:
        try:
            SslService._finish_reply(task, fun, args, reply)
        except Exception:  # the caller must get an answer, whatever went wrong
            log.exception("pyssl: replying to %r failed", fun)
            reply(internal_error(fun))

    @staticmethod
    def _finish_reply(task: asyncio.Task, fun, args, reply) -> None:
        if task.cancelled():
            reply(error(CLOSED))
            return
        exc = task.exception()
        if exc is None:
            value = task.result()
            if isinstance(value, After):
                reply(value.value)
                value.then()
            else:
                reply(value)
        elif isinstance(exc, Raise):
            reply(exc.as_reply())
        else:
            log.error("pyssl: %r failed: %r", fun, exc, exc_info=exc)
            reply(internal_error(fun))

    # ---- bookkeeping --------------------------------------------------------
    def new_ref(self) -> Reference:
        return self.node.make_ref()

    def add_socket(self, sock: SocketBase) -> None:
        self.sockets[sock.ref] = sock
        self._own(sock, sock.owner)

    def _own(self, sock: SocketBase, owner: Pid) -> None:
        self.by_owner.setdefault(owner, set()).add(sock.ref)
        if owner not in self.owner_monitors:
            self.owner_monitors[owner] = self.node.monitor(self.proc, owner)

    def change_owner(self, sock: SocketBase, new_owner: Pid) -> None:
        old = sock.owner
        refs = self.by_owner.get(old)
        if refs is not None:
            refs.discard(sock.ref)
            if not refs:
                del self.by_owner[old]
                mon = self.owner_monitors.pop(old, None)
                if mon is not None:
                    self.node.demonitor(mon)
        sock.owner = new_owner
        self._own(sock, new_owner)

    def forget(self, sock: SocketBase) -> None:
        self.sockets.pop(sock.ref, None)
        refs = self.by_owner.get(sock.owner)
        if refs is not None:
            refs.discard(sock.ref)
            if not refs:
                del self.by_owner[sock.owner]
                mon = self.owner_monitors.pop(sock.owner, None)
                if mon is not None:
                    self.node.demonitor(mon)

    def lookup(self, term) -> Optional[SocketBase]:
        """The live socket for a socket term; None if closed; Raise if not a socket."""
        ref = socket_ref(term)
        if ref is None:
            raise Raise(Atom("function_clause"))
        return self.sockets.get(ref)

    async def read_files(self, caller: Pid, paths: list[str]) -> dict:
        """Read files on the caller's node (paths mean what they mean there).

        Contents read successfully are kept for FILE_CACHE_SECONDS per (node, path),
        as OTP's own ssl_pem_cache keeps PEM files, so a burst of connects does not
        pay one distribution round trip per file each. Errors are never cached."""
        out: dict[str, Any] = {}
        now = asyncio.get_running_loop().time()
        for path in paths:
            if len(path) >= PATH_MAX:
                # what file:read_file answers there (Linux's PATH_MAX counts the NUL);
                # a 64 MiB name is not worth a trip to the caller's node (it is a
                # terms.LongPath, hashed by identity: not by its 64 MiB here, on the loop)
                out[path] = ENAMETOOLONG
                continue
            if path in out:
                continue
            key = (caller.node, path)
            hit = self._file_cache.get(key)
            if hit is not None and now - hit[1] < FILE_CACHE_SECONDS:
                out[path] = hit[0]
                continue
            res = await self.node.rpc(caller.node, Atom("file"), Atom("read_file"), [path],
                                      timeout=30.0)
            if isinstance(res, tuple) and len(res) == 2 and res[0] is OK:
                out[path] = bytes(res[1])
                if len(self._file_cache) >= 256:
                    self._file_cache.clear()
                self._file_cache[key] = (out[path], now)
            elif isinstance(res, tuple) and len(res) == 2 and res[0] is ERROR:
                out[path] = res[1]
                self._file_cache.pop(key, None)
            else:
                out[path] = Atom("eio")
        return out

    # ---- the API ------------------------------------------------------------
    def connect_upgrade(self, args, caller):
        return error((Atom("options"), (Atom("not_supported_by_pyssl"), Atom("upgrade"))))

    async def connect(self, host, port, opts, timeout, caller):
        return await connect_client(self, host, port, opts, timeout, caller)

    async def listen(self, port, opts, caller):
        return await ListenSocket.listen(self, port, opts, caller)

    def transport_accept(self, lterm, timeout, caller):
        # ListenSocket queues acceptors itself (one reader per listen socket, FIFO)
        sock = self.lookup(lterm)
        if sock is None:
            return error(CLOSED)
        return sock.transport_accept(timeout, caller)

    def handshake(self, term, opts, timeout, caller, *, new_api):
        sock = self.lookup(term)
        if sock is None:
            return error(CLOSED)
        return sock.handshake(opts, timeout, caller, new_api=new_api)

    def send(self, term, data):
        sock = self.lookup(term)
        return error(CLOSED) if sock is None else sock.send(data)

    def recv(self, term, length, timeout):
        sock = self.lookup(term)
        return error(CLOSED) if sock is None else sock.recv(length, timeout)

    def close(self, term, how):
        sock = self.lookup(term)
        return OK if sock is None else sock.close(how)

    def shutdown(self, term, how):
        sock = self.lookup(term)
        return error(CLOSED) if sock is None else sock.shutdown(how)

    def controlling_process(self, term, new_owner, caller):
        if not isinstance(new_owner, Pid):
            raise Raise(Atom("function_clause"))
        sock = self.lookup(term)
        return error(CLOSED) if sock is None else sock.controlling_process(new_owner)

    def setopts(self, term, opts):
        sock = self.lookup(term)
        return error(CLOSED) if sock is None else sock.setopts(opts)

    def getopts(self, term, names):
        sock = self.lookup(term)
        return error(CLOSED) if sock is None else sock.getopts(names)

    def peername(self, term):
        sock = self.lookup(term)
        return error(EINVAL) if sock is None else sock.peername()

    def sockname(self, term):
        sock = self.lookup(term)
        return error(EINVAL) if sock is None else sock.sockname()

    def peercert(self, term):
        sock = self.lookup(term)
        return error(CLOSED) if sock is None else sock.peercert()

    def connection_info(self, term):
        sock = self.lookup(term)
        return error(CLOSED) if sock is None else sock.connection_info()

    def connection_information(self, term, items):
        sock = self.lookup(term)
        return error(CLOSED) if sock is None else sock.connection_information(items)

    def negotiated_protocol(self, term, *, new_api):
        sock = self.lookup(term)
        return error(CLOSED) if sock is None else sock.negotiated_protocol(new_api)

    def prf(self, term, secret, label, seed, length):
        sock = self.lookup(term)
        return error(CLOSED) if sock is None else sock.prf(secret, label, seed, length)

    def renegotiate(self, term):
        sock = self.lookup(term)
        return error(CLOSED) if sock is None else sock.renegotiate()

    def cipher_suites(self, *args):
        from . import ciphers
        if len(args) == 2:
            return ciphers.cipher_suites(*args)
        return ciphers.cipher_suites_legacy(*args)

    def versions(self):
        return errors.versions()

    def format_error(self, reason):
        return errors.format_error(reason)


def install(node) -> SslService:
    service = SslService(node)
    service.install()
    return service
