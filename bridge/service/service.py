"""The ssl service: requests from Erlang in, ssl-shaped replies and messages out.

Requests arrive two ways and end in ``Api.dispatch`` (the one table of handlers; each
returns a ``bridge.service.reply.Reply`` or an awaitable of one):

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
import functools
import logging
import reprlib
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from bridge.etf.codec import ETFEncodeError
from bridge.etf.types import Atom, Pid, Reference
from bridge.node.node import alias_of
from bridge.tls.stats import BridgeCounters

from .api import Api, socket_ref
from .localsteps import rpc_reply
from .observe import Observer, interval_from_env
from .reply import Reply, settle
from .sockets import SocketBase
from .terms import BADARG, CLOSED, ERROR, OK, PATH_MAX, Raise, error
from .windows import GUARD, SEND, Windows

log = logging.getLogger("bridge.service")

GEN_CALL = Atom("$gen_call")
SYNC = Atom("$pyssl_sync")
# {'$pyssl_ack', Ack, Reply}: the shim returns Reply and sends {'$pyssl_ack', Ack} back
ACK = Atom("$pyssl_ack")
KEEP_ATOM = Atom("keep")
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
# Owners without sockets whose monitor is kept (least recently used dropped first):
# a process that opens one socket after another (an acceptor, a client making
# request after request) then costs no MONITOR_P and DEMONITOR_P per socket.
IDLE_OWNER_MONITORS = 1024


class SslService:
    """One per bridge node. Holds every socket, keyed by its reference."""

    def __init__(self, node, *, stats_interval: float | None = None):
        self.node = node
        # the bridge's totals (the TLS connections add to them) and what reports them
        self.counters = BridgeCounters()
        self.observer = Observer(self, self.counters,
                                 interval_from_env() if stats_interval is None else stats_interval)
        self.sockets: dict[Reference, SocketBase] = {}
        self.by_owner: dict[Pid, set[Reference]] = {}
        self.owner_monitors: dict[Pid, Reference] = {}
        # owners in owner_monitors with no socket left, oldest first (see _idle)
        self.idle_owners: OrderedDict[Pid, None] = OrderedDict()
        self.api = Api(self)
        self.proc = None
        self.windows = Windows(self)
        self._file_cache: dict[tuple, tuple[bytes, float]] = {}
        # a Reply's `then` waiting for its caller's ack, by the monitor on the caller
        # that is also the ack's token (see _run)
        self.awaiting_ack: dict[Reference, Callable[[], None]] = {}
        # the bridge processes of this one's group (bridge.group), when it leads one
        self.group_members = None

    def group(self) -> list:
        """``'$pyssl_group'``: the nodes new sockets may go to, this one first
        (pyssl_bridges:pick/0 spreads over them)."""
        if self.group_members is None:
            return [self.node.name]
        return [Atom(n) for n in self.group_members()]

    # ---- wiring -----------------------------------------------------------
    def install(self) -> None:
        self.proc = self.node.spawn(self, name="pyssl")
        self.node.register_rpc_module("ssl", self.rpc)
        self.node.register_rpc_module("pyssl", self.rpc)
        self.observer.start()

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
            self._run(request[0], request[1], pid, reply, tag)
        elif msg.__class__ is tuple and len(msg) == 2 and msg[0] is GUARD:
            self.windows.guard_started(msg[1])
        elif msg.__class__ is tuple and len(msg) == 2 and msg[0] is ACK:
            # the caller has its reply: what was to follow it now can (_run)
            then = self.awaiting_ack.pop(msg[1], None) if msg[1].__class__ is Reference else None
            if then is not None:
                self.node.demonitor(msg[1], self.proc)
                then()
        else:
            log.warning("pyssl: unexpected message %s", brief(msg))

    def handle_down(self, ref, pid, reason) -> None:
        then = self.awaiting_ack.pop(ref, None)
        if then is not None:
            # the caller (or its node) went before its ack: nobody waits for the reply
            then()
            return
        if self.windows.guard_down(ref):
            return
        if self.owner_monitors.get(pid) == ref:
            del self.owner_monitors[pid]
            # an idle owner (no sockets) leaves nothing to close
            self.idle_owners.pop(pid, None)
            for sref in list(self.by_owner.pop(pid, ())):
                sock = self.sockets.get(sref)
                if sock is not None and sock.owner == pid:
                    log.debug("owner %r down (%r): closing %r", pid, reason, sref)
                    sock.close_now()

    def handle_exit(self, pid, reason) -> None:
        pass

    def rpc(self, fun, args, caller):
        """rex/erpc entry: returns the reply (or an awaitable of it); raises for EXITs.
        A reply's guard sync is for the shim's calls only: rpc callers have no window."""
        result = self.api.dispatch(fun, args, caller)
        if result.__class__ is Reply:
            if result.then is not None:
                # the rpc layer sends the reply in this same loop step, before `then` runs
                asyncio.get_running_loop().call_soon(result.then)
            return rpc_reply(result.value)
        return self._await_rpc(result)

    async def _await_rpc(self, awaitable):
        result = await awaitable
        if result.then is not None:
            asyncio.get_running_loop().call_soon(result.then)
        return rpc_reply(result.value)

    def _run(self, fun, args, caller: Pid, reply, tag=None) -> None:
        # Nothing raised here may escape: the registered process would die with it
        # and every later call would find no service.
        started = time.perf_counter()
        windows = self.windows
        # where the reply goes when a guard passes it on (as Node.reply sends it)
        alias = alias_of(tag)
        to = alias if alias is not None and alias.node is caller.node else caller

        def deliver(r: Reply, held: list | None = None) -> None:
            if r.ack and r.then is not None and r.sync is None and r.opens is None:
                self._deliver_acked(r, held, caller, reply)
                return
            sync = r.sync
            # only a reply made in the call's own step (a close): one that came later
            # (a downgrade, a recv's {error, closed}) goes as before, marked
            if held is not None and sync.__class__ is Reference and windows.reply_revoking(
                    sync, to, (tag, r.value), (tag, _NOT_ENCODABLE), held):
                pass    # through the caller's guard, which drops the window first
            else:
                if held:
                    windows.send_held(held)
                if sync is None and r.opens is not None:
                    # the reply that hands the socket over goes with its window's
                    # grant (the socket's release sends it, before any delivery)
                    value = r.value
                    r.opens.release((to, (tag, value), lambda: reply(value)))
                    return
                if sync is None and r.credits is not None and windows.reply_crediting(
                        r.credits, to, (tag, r.value)):
                    pass    # through the caller's guard, with its window's refill
                else:
                    # {'$pyssl_sync', Ref | keep, Value}: the shim waits for its guard first
                    reply(r.value if sync is None else
                          (SYNC, sync if sync.__class__ is Reference else KEEP_ATOM, r.value))
            if r.then is not None:
                # once the reply is out, as in the rpc path: a reply made while the
                # distribution connection handles what it read is held back until that
                # read is handled (Connection._handle_corked writes its replies together,
                # at its end), so run now `then` would come first
                asyncio.get_running_loop().call_soon(r.then)

        held = windows.hold()
        try:
            try:
                result = self.api.dispatch(fun, args, caller)
            except Raise as exc:
                windows.unhold()
                windows.send_held(held)
                reply(exc.as_reply())
            else:
                windows.unhold()
                if result.__class__ is Reply:
                    deliver(result, held)
                else:
                    windows.send_held(held)
                    settle(result, deliver, functools.partial(self._failed, fun, reply))
        except Exception:
            log.exception("pyssl: %r failed", fun)
            windows.unhold()
            windows.send_held(held)
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

    # _run's rarer steps: methods, not closures made for every call
    def _deliver_acked(self, r: Reply, held: list | None, caller: Pid, reply) -> None:
        # `then` ends a connection (handshake_cancel, a failed handshake): ssl's
        # connection process answers its caller and then closes, so its caller has
        # the answer before the peer can see the end (a test that waits for both
        # gets them in that order). A reply being out on the distribution
        # connection is not yet the caller having it, so the shim acknowledges
        # ({'$pyssl_ack', Ack, Value}: pyssl:call/3) and `then` runs on the ack,
        # or when the monitored caller or its node goes first.
        if held:
            self.windows.send_held(held)
        ack = self.node.monitor(self.proc, caller)
        self.awaiting_ack[ack] = r.then
        reply((ACK, ack, r.value))

    @staticmethod
    def _failed(fun, reply, exc: BaseException) -> None:
        # an awaitable handler's failure (settle's on_error)
        if isinstance(exc, Raise):
            reply(exc.as_reply())
        elif isinstance(exc, asyncio.CancelledError):
            reply(error(CLOSED))
        else:
            log.error("pyssl: %r failed: %r", fun, exc, exc_info=exc)
            reply(internal_error(fun))

    def clear_pem_cache(self, caller: Pid):
        """``ssl:clear_pem_cache/0``: the files read on the caller's node are read again
        on their next use (OTP's ssl_pem_cache:clear/0 empties its node's cache: other
        nodes' entries are theirs)."""
        for key in [k for k in self._file_cache if k[0] == caller.node]:
            del self._file_cache[key]
        return OK

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
        elif self.idle_owners:
            self.idle_owners.pop(owner, None)

    def _disown(self, ref: Reference, owner: Pid) -> None:
        refs = self.by_owner.get(owner)
        if refs is not None:
            refs.discard(ref)
            if not refs:
                del self.by_owner[owner]
                self._idle(owner)

    def _idle(self, owner: Pid) -> None:
        """``owner`` has no socket left: its monitor stays (its next socket needs
        none made), up to IDLE_OWNER_MONITORS such owners; past that the one idle
        longest is demonitored. Its DOWN meanwhile closes nothing (handle_down)."""
        if owner not in self.owner_monitors:
            return
        idle = self.idle_owners
        idle[owner] = None
        while len(idle) > IDLE_OWNER_MONITORS:
            oldest, _ = idle.popitem(last=False)
            mon = self.owner_monitors.pop(oldest, None)
            if mon is not None:
                self.node.demonitor(mon)

    def change_owner(self, sock: SocketBase, new_owner: Pid) -> None:
        self._disown(sock.ref, sock.owner)
        sock.owner = new_owner
        self._own(sock, new_owner)

    def forget(self, sock: SocketBase) -> None:
        self.sockets.pop(sock.ref, None)
        self._disown(sock.ref, sock.owner)

    def lookup(self, term) -> SocketBase | None:
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

def install(node, *, stats_interval: float | None = None) -> SslService:
    """The ssl service on ``node``; ``stats_interval``: seconds between summary lines
    (None: ``$PYSSL_BRIDGE_STATS_INTERVAL`` or 60; 0: none)."""
    service = SslService(node, stats_interval=stats_interval)
    service.install()
    return service
