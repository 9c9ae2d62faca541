"""The bridge's Erlang node: connections, processes, links, monitors (asyncio edge).

Processes here are Python objects with a pid. A process's *handler* gets its
signals synchronously and in arrival order:

* ``handle_message(msg)`` — every message;
* ``handle_exit(from_pid, reason)`` — exit signals from links (optional: without
  it, a non-normal exit signal terminates the process, as in Erlang);
* ``handle_down(ref, pid_or_name, reason)`` — monitors (optional).

A handler method may return an awaitable (e.g. be an ``async def``): the
process's later signals then wait until it completes, so a slow handler delays
only its own process and never reorders its signals. No task is made per
message otherwise; signals of a connection are handled in arrival order.

``Mailbox`` is a ready-made handler with ``await receive(timeout)``.

Messages to a node we are not connected to are queued while the node connects
out (EPMD lookup, handshake as initiator) and sent in order once it is up; if
the connection cannot be made they are dropped, as Erlang drops them.
"""
from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import os
import time
from collections import deque
from typing import Any, Callable, Optional

from bridge.etf.types import Atom, ImproperList, Pid, Reference

from . import epmd, kernel
from .busypoll import BusyPoll
from .carrier import TCPCarrier
from .connection import CODEC_POOL, ENCODE_BUDGET, INLINE_DECODE_MAX, Connection  # noqa: F401 (re-exported)
from .protocol import (ALIAS_SEND, DEMONITOR_P, EMPTY_ATOM, EXIT, EXIT2, LINK, MONITOR_P,
                       MONITOR_P_EXIT, REG_SEND, SEND, SEND_SENDER, SPAWN_REQUEST, UNLINK,
                       UNLINK_ID, UNLINK_ID_ACK)

log = logging.getLogger("bridge.node")

ALIAS = Atom("alias")


def alias_of(tag) -> Optional[Reference]:
    """The alias in a gen call tag ``[alias|Alias]`` (OTP 24+), else None."""
    if tag.__class__ is ImproperList and tag.tail.__class__ is Reference:
        elements = tag.elements
        if len(elements) == 1 and elements[0] is ALIAS:
            return tag.tail
    return None

NORMAL = Atom("normal")
KILL = Atom("kill")
KILLED = Atom("killed")
NOPROC = Atom("noproc")
NOCONNECTION = Atom("noconnection")
DOWN = Atom("DOWN")
EXIT_ATOM = Atom("EXIT")
PROCESS = Atom("process")
GEN_CALL = Atom("$gen_call")
TIMEOUT = Atom("timeout")




class CallError(Exception):
    """A gen_server call from Python failed; ``reason`` is the Erlang exit reason."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class Process:
    __slots__ = ("node", "pid", "handler", "name", "links", "monitors", "monitored_by", "alive",
                 "backlog")

    def __init__(self, node: "Node", pid: Pid, handler):
        self.node = node
        self.pid = pid
        self.handler = handler
        self.name: Optional[Atom] = None
        self.links: set[Pid] = set()
        self.monitors: dict[Reference, Any] = {}          # ref -> target (we watch)
        self.monitored_by: dict[Reference, tuple] = {}    # ref -> (watcher pid, target as named)
        self.alive = True
        # signals that arrived while an awaitable returned by the handler runs
        self.backlog: Optional[deque] = None

    def __repr__(self) -> str:
        return f"<Process {self.pid!r} {self.name.name if self.name else ''}>"


class Mailbox:
    """A handler that queues everything; EXIT and DOWN become Erlang-shaped tuples."""

    def __init__(self):
        self.queue: asyncio.Queue = asyncio.Queue()
        self.process: Optional[Process] = None

    def handle_message(self, msg) -> None:
        self.queue.put_nowait(msg)

    def handle_exit(self, pid, reason) -> None:
        self.queue.put_nowait((EXIT_ATOM, pid, reason))

    def handle_down(self, ref, pid, reason) -> None:
        self.queue.put_nowait((DOWN, ref, PROCESS, pid, reason))

    async def receive(self, timeout: Optional[float] = None):
        return await asyncio.wait_for(self.queue.get(), timeout)

    @property
    def pid(self) -> Pid:
        return self.process.pid


class _CallWaiter:
    """Temporary process for one gen_server call made from Python."""

    def __init__(self, ref: Reference, future: asyncio.Future):
        self.ref = ref
        self.future = future

    def handle_message(self, msg) -> None:
        if isinstance(msg, tuple) and len(msg) == 2 and msg[0] == self.ref and not self.future.done():
            self.future.set_result(msg[1])

    def handle_down(self, ref, pid, reason) -> None:
        if ref == self.ref and not self.future.done():
            self.future.set_exception(CallError(reason))

    def handle_exit(self, pid, reason) -> None:
        pass


def _proc_key_ok(target) -> bool:
    """A MONITOR_P/DEMONITOR_P target the handlers may look up: a pid or an atom."""
    return target.__class__ is Pid or target.__class__ is Atom


class Node:
    def __init__(self, name: str, cookie: str, *, hidden: bool = True, ticktime: float = 60.0,
                 handshake_timeout: float = 10.0, busy_poll_us: int = 0, carrier=None):
        if "@" not in name:
            raise ValueError("node name must be name@host")
        self.name = Atom(name)
        self.alive, self.host = name.split("@", 1)
        self.cookie = cookie
        self.hidden = hidden
        self.ticktime = ticktime
        self.handshake_timeout = handshake_timeout
        # plain TCP or TLS (bridge.node.carrier): how connections are made, not what they carry
        self.carrier = carrier if carrier is not None else TCPCarrier()
        self.creation = 0
        self.processes: dict[Pid, Process] = {}
        self.registry: dict[Atom, Process] = {}
        self.connections: dict[Atom, Connection] = {}
        self._connecting: dict[Atom, asyncio.Future] = {}
        self._queued: dict[Atom, list[tuple]] = {}
        self._pid_ids = itertools.count(1)
        self._ref_ids = itertools.count(1)
        self._ref_salt = int.from_bytes(os.urandom(8), "big")
        self._node_monitors: list[Callable[[Atom, bool], None]] = []
        self.rpc_modules: dict[str, Callable] = {}
        self._server = None
        self._registration = None
        self._ticker = None
        self.port = 0
        self.started = time.time()
        # the loop keeps polling this long after distribution traffic (busypoll.py)
        self.busy_poll = BusyPoll(busy_poll_us)

    # ---- life cycle ---------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0, *, epmd_port: int = epmd.EPMD_PORT) -> None:
        loop = asyncio.get_running_loop()
        await epmd.ensure_epmd(epmd_port=epmd_port)
        self._server = await self.carrier.listen(self, host, port)
        self.port = self._server.sockets[0].getsockname()[1]
        self._registration = await epmd.register(self.alive, self.port, hidden=self.hidden,
                                                 epmd_port=epmd_port)
        self.creation = self._registration.creation
        self.epmd_port = epmd_port
        kernel.install(self)
        self._ticker = loop.create_task(self._tick_loop())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        if self._registration is not None:
            await self._registration.close()
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections.values()):
            conn.transport.close()
        if self._server is not None:
            await self._server.wait_closed()

    async def _tick_loop(self) -> None:
        while True:
            fastest = min([c.tick_interval for c in self.connections.values() if c.tick_interval]
                          + [c.peer_ticktime / 4 for c in self.connections.values() if c.peer_ticktime]
                          + [self.ticktime / 4])
            await asyncio.sleep(max(0.05, min(1.0, fastest / 2)))
            now = time.monotonic()
            for conn in list(self.connections.values()):
                conn.tick(now, self.ticktime)

    # ---- identifiers --------------------------------------------------------
    def make_pid(self) -> Pid:
        n = next(self._pid_ids)
        return Pid(self.name, n & 0x7FFF_FFFF, n >> 31, self.creation)

    def make_ref(self) -> Reference:
        n = next(self._ref_ids)
        salt = self._ref_salt
        return Reference(self.name, self.creation,
                         (n & 0x3FFFF, (n >> 18) & 0xFFFFFFFF, salt & 0xFFFFFFFF))

    # ---- processes ----------------------------------------------------------
    def spawn(self, handler, *, name: Optional[str] = None) -> Process:
        proc = Process(self, self.make_pid(), handler)
        self.processes[proc.pid] = proc
        if hasattr(handler, "process"):
            try:
                handler.process = proc
            except AttributeError:
                pass
        if name is not None:
            self.register(name, proc)
        return proc

    def register(self, name, proc: Process) -> None:
        atom = name if isinstance(name, Atom) else Atom(name)
        if atom in self.registry and self.registry[atom] is not proc:
            raise ValueError(f"name {atom.name} already registered")
        self.registry[atom] = proc
        proc.name = atom

    def whereis(self, name) -> Optional[Process]:
        return self.registry.get(name if isinstance(name, Atom) else Atom(name))

    def exit_process(self, proc: Process, reason=NORMAL) -> None:
        """Terminate a local process: its links and monitors fire."""
        if not proc.alive:
            return
        proc.alive = False
        self.processes.pop(proc.pid, None)
        if proc.name is not None and self.registry.get(proc.name) is proc:
            del self.registry[proc.name]
        for other in list(proc.links):
            self._send_exit(proc.pid, other, reason, EXIT)
        proc.links.clear()
        for ref, (watcher, named) in list(proc.monitored_by.items()):
            self._send_down(proc.pid if named is None else named, watcher, ref, reason)
        proc.monitored_by.clear()
        for ref, target in list(proc.monitors.items()):
            self.demonitor(ref, proc)

    def _send_exit(self, from_pid: Pid, to: Pid, reason, kind: int) -> None:
        if to.node is self.name:
            target = self.processes.get(to)
            if target is not None:
                target.links.discard(from_pid)
                self._deliver_exit(target, from_pid, reason, linked=(kind == EXIT))
        else:
            conn = self.connections.get(to.node)
            if conn is not None:
                conn.send_control((kind, from_pid, to, reason))

    def _send_down(self, what, watcher: Pid, ref: Reference, reason) -> None:
        if watcher.node is self.name:
            proc = self.processes.get(watcher)
            if proc is not None and proc.monitors.pop(ref, None) is not None:
                self._call(proc, "handle_down", ref, what, reason)
        else:
            conn = self.connections.get(watcher.node)
            if conn is not None:
                # FromProc must be a pid or, for a monitor by name, the name atom:
                # erts takes anything else as a broken signal and drops the connection
                if isinstance(what, tuple):
                    what = what[0]
                conn.send_control((MONITOR_P_EXIT, what, watcher, ref, reason))

    def _deliver_exit(self, proc: Process, from_pid: Pid, reason, *, linked: bool) -> None:
        handler = proc.handler
        if reason is KILL and not linked:
            self.exit_process(proc, KILLED)
        elif hasattr(handler, "handle_exit"):
            self._call(proc, "handle_exit", from_pid, reason)
        elif reason is not NORMAL:
            self.exit_process(proc, reason)

    def _call(self, proc: Process, method: str, *args) -> None:
        """Hand one signal to the handler. A handler method may return an
        awaitable: later signals then wait in ``proc.backlog`` until it is done,
        so a slow handler delays its own process without reordering anything."""
        if proc.backlog is not None:
            proc.backlog.append((method, args))
            return
        result = self._invoke(proc, method, args)
        if result is not None:
            proc.backlog = deque()
            asyncio.get_running_loop().create_task(self._drain(proc, result))

    def _invoke(self, proc: Process, method: str, args):
        """Run a handler method: its awaitable result, or None."""
        try:
            result = getattr(proc.handler, method)(*args)
        except Exception:
            log.exception("process %r crashed in %s", proc, method)
            self.exit_process(proc, Atom("crashed"))
            return None
        return result if result is not None and inspect.isawaitable(result) else None

    async def _drain(self, proc: Process, awaitable) -> None:
        try:
            while awaitable is not None or proc.backlog:
                if awaitable is not None:
                    try:
                        await awaitable
                    except Exception:
                        log.exception("process %r crashed", proc)
                        self.exit_process(proc, Atom("crashed"))
                        return
                if not proc.alive:
                    return
                awaitable = None
                if proc.backlog:
                    method, args = proc.backlog.popleft()
                    awaitable = self._invoke(proc, method, args)
        finally:
            proc.backlog = None

    def _deliver(self, proc: Process, msg) -> None:
        if proc.alive:
            self._call(proc, "handle_message", msg)

    # ---- sending ------------------------------------------------------------
    def send(self, dest, msg, sender: Optional[Pid] = None, *, fallback=None) -> None:
        """Send ``msg`` to a Pid, a local registered name (Atom/str) or ``(name, node)``.

        ``fallback`` (to a remote pid): sent instead when ``msg`` turns out to have
        no external form while it is encoded off the loop (``Connection``); found
        on the loop, ETFEncodeError is raised here."""
        if isinstance(dest, Pid):
            if dest.node is self.name:
                proc = self.processes.get(dest)
                if proc is not None:
                    self._deliver(proc, msg)
                return
            self._to_node(dest.node, (SEND, EMPTY_ATOM, dest), msg, fallback=fallback)
            return
        if isinstance(dest, str):
            dest = Atom(dest)
        if isinstance(dest, Atom):
            proc = self.registry.get(dest)
            if proc is None:
                raise ValueError(f"no process registered as {dest.name}")
            self._deliver(proc, msg)
            return
        if isinstance(dest, tuple) and len(dest) == 2:
            name, node = dest
            name = Atom(name) if isinstance(name, str) else name
            node = Atom(node) if isinstance(node, str) else node
            if node is self.name:
                proc = self.registry.get(name)
                if proc is not None:
                    self._deliver(proc, msg)
                return
            self._to_node(node, (REG_SEND, sender or self._system.pid, EMPTY_ATOM, name), msg)
            return
        raise TypeError(f"bad destination {dest!r}")

    def reply(self, to: Pid, tag, value, *, sender: Optional[Pid] = None, fallback=None) -> None:
        """``gen:reply/2`` to a gen call from ``to`` tagged ``tag``: ``{Tag, Value}``.

        OTP 24+ calls with the tag ``[alias|Mref]`` (``gen:do_call/4``: Mref is also
        a process alias, active until the call returns, times out or its monitor
        fires) and ``gen:reply/2`` sends to that alias, ALIAS_SEND: the caller's node
        drops a reply that comes after the caller gave up, instead of leaving it in
        its mailbox. Any other tag: a plain send to ``to``. ``fallback``: replied as
        ``{Tag, Fallback}`` instead if ``value`` has no external form (see ``send``)."""
        msg = (tag, value)
        fb = None if fallback is None else (tag, fallback)
        alias = alias_of(tag)
        if alias is not None and to.__class__ is Pid and alias.node is to.node \
                and alias.node is not self.name:
            self._to_node(alias.node, (ALIAS_SEND, sender or self._system.pid, alias), msg,
                          fallback=fb)
            return
        self.send(to, msg, sender, fallback=fb)

    def _to_node(self, node: Atom, control: tuple, payload=None, has_payload=True,
                 fallback=None) -> None:
        conn = self.connections.get(node)
        if conn is not None:
            conn.send_control(control, payload, has_payload=has_payload, fallback=fallback)
            return
        self._queued.setdefault(node, []).append((control, payload, has_payload, fallback))
        self._ensure_connecting(node)

    def send_control(self, node: Atom, control: tuple) -> None:
        self._to_node(node, control, None, False)

    def _ensure_connecting(self, node: Atom) -> asyncio.Future:
        fut = self._connecting.get(node)
        if fut is None:
            fut = asyncio.get_running_loop().create_task(self._connect(node))
            self._connecting[node] = fut
        return fut

    async def connect(self, node) -> bool:
        """Connect to ``node`` (no-op if connected). True on success."""
        node = Atom(node) if isinstance(node, str) else node
        if node in self.connections:
            return True
        return await asyncio.shield(self._ensure_connecting(node))

    async def _connect(self, node: Atom) -> bool:
        loop = asyncio.get_running_loop()
        try:
            alive, host = node.name.split("@", 1)
            port, _high, low = await epmd.port_please(alive, host, epmd_port=getattr(self, "epmd_port", epmd.EPMD_PORT))
            if low > 6:
                raise ConnectionError(f"{node.name} needs distribution version {low}")
            conn = await self.carrier.connect(self, node.name, host, port, self.handshake_timeout)
            try:
                await asyncio.wait_for(asyncio.shield(conn.ready), self.handshake_timeout)
            except ConnectionError:
                if conn.hs.status != "nok":
                    raise
                # simultaneous connect that the peer won: its connection comes in
                deadline = loop.time() + self.handshake_timeout
                while node not in self.connections and loop.time() < deadline:
                    await asyncio.sleep(0.01)
                if node not in self.connections:
                    raise
            return True
        except (OSError, ValueError, ConnectionError, asyncio.TimeoutError, epmd.EpmdError) as exc:
            log.warning("cannot connect to %s: %s", node.name, exc)
            queued = self._queued.pop(node, [])
            self._connecting.pop(node, None)
            self._fail_queued(node, queued)
            return False
        finally:
            self._connecting.pop(node, None)

    def _fail_queued(self, node: Atom, queued: list) -> None:
        # monitors and links asked for while connecting fire with noconnection
        for control, _payload, _hp, _fb in queued:
            if control[0] == MONITOR_P:
                self._send_down(control[2], control[1], control[3], NOCONNECTION)
            elif control[0] == LINK:
                proc = self.processes.get(control[1])
                if proc is not None:
                    proc.links.discard(control[2])
                    self._deliver_exit(proc, control[2], NOCONNECTION, linked=True)

    def _accept_decision(self, peer_name: str) -> str:
        peer = Atom(peer_name)
        if peer in self.connections:
            return "alive"
        if peer in self._connecting:
            # simultaneous connect: the node with the greater name keeps its own attempt
            return "nok" if self.name.name > peer_name else "ok_simultaneous"
        return "ok"

    def _register_connection(self, conn: Connection) -> bool:
        old = self.connections.get(conn.peer)
        if old is not None and old is not conn:
            old.closed = True
            old.transport.close()
            self._node_down(conn.peer, old)
        self.connections[conn.peer] = conn
        for control, payload, hp, fb in self._queued.pop(conn.peer, []):
            conn.send_control(control, payload, has_payload=hp, fallback=fb)
        for cb in list(self._node_monitors):
            try:
                cb(conn.peer, True)
            except Exception:
                log.exception("node monitor callback failed")
        asyncio.get_running_loop().create_task(self._learn_ticktime(conn))
        return True

    async def _learn_ticktime(self, conn: Connection) -> None:
        """Ask the peer's ``net_kernel:get_net_ticktime()`` so that ticks and the
        silence limit follow the peer's net_ticktime, whatever ours is (a peer
        with a longer ticktime ticks less often than we would expect)."""
        try:
            res = await self.rpc(conn.peer, "net_kernel", "get_net_ticktime", [], timeout=10)
        except Exception as exc:   # not an Erlang node with rex: keep learning from ticks
            log.debug("cannot ask %s for its net_ticktime: %s", conn.peer, exc)
            return
        if isinstance(res, tuple) and len(res) == 2 and res[0] == Atom("ongoing_change_to"):
            res = res[1]
        if isinstance(res, int) and not isinstance(res, bool) and res > 0:
            conn.peer_ticktime = float(res)
            log.debug("%s has net_ticktime %d", conn.peer, res)
        else:
            log.debug("%s gave no net_ticktime: %r", conn.peer, res)

    def _connection_lost(self, conn: Connection) -> None:
        if conn.peer is not None and self.connections.get(conn.peer) is conn:
            del self.connections[conn.peer]
            log.info("connection to %s closed", conn.peer.name)
            self._node_down(conn.peer, conn)

    def _node_down(self, node: Atom, conn: Connection) -> None:
        for proc in list(self.processes.values()):
            for other in [p for p in proc.links if p.node is node]:
                proc.links.discard(other)
                self._deliver_exit(proc, other, NOCONNECTION, linked=True)
            for ref, target in list(proc.monitors.items()):
                tnode = target.node if isinstance(target, Pid) else target[1]
                if tnode is node:
                    del proc.monitors[ref]
                    what = target if isinstance(target, Pid) else target
                    self._call(proc, "handle_down", ref, what, NOCONNECTION)
            for ref, (watcher, _named) in list(proc.monitored_by.items()):
                if watcher.node is node:
                    del proc.monitored_by[ref]
        for cb in list(self._node_monitors):
            try:
                cb(node, False)
            except Exception:
                log.exception("node monitor callback failed")

    def monitor_nodes(self, callback: Callable[[Atom, bool], None]) -> None:
        """``callback(node, up)`` on every nodeup/nodedown."""
        self._node_monitors.append(callback)

    def connected_nodes(self) -> list[Atom]:
        return list(self.connections)

    # ---- links and monitors -------------------------------------------------
    def link(self, proc: Process, pid: Pid) -> None:
        if pid in proc.links:
            return
        proc.links.add(pid)
        if pid.node is self.name:
            other = self.processes.get(pid)
            if other is None:
                proc.links.discard(pid)
                self._deliver_exit(proc, pid, NOPROC, linked=True)
            else:
                other.links.add(proc.pid)
        else:
            self._to_node(pid.node, (LINK, proc.pid, pid), None, False)

    def unlink(self, proc: Process, pid: Pid) -> None:
        if pid not in proc.links:
            return
        proc.links.discard(pid)
        if pid.node is self.name:
            other = self.processes.get(pid)
            if other is not None:
                other.links.discard(proc.pid)
        else:
            conn = self.connections.get(pid.node)
            if conn is not None:
                if conn.flags & 0x2000000:
                    conn.send_control((UNLINK_ID, next(self._ref_ids), proc.pid, pid))
                else:
                    conn.send_control((UNLINK, proc.pid, pid))

    def monitor(self, proc: Process, target) -> Reference:
        """Monitor a Pid or a ``(name, node)``; DOWN arrives at ``handle_down``."""
        ref = self.make_ref()
        if isinstance(target, tuple):
            name, node = target
            name = Atom(name) if isinstance(name, str) else name
            node = Atom(node) if isinstance(node, str) else node
            target = (name, node)
            if node is self.name:
                local = self.registry.get(name)
                proc.monitors[ref] = target
                if local is None:
                    self._send_down(target, proc.pid, ref, NOPROC)
                else:
                    local.monitored_by[ref] = (proc.pid, target)
                return ref
            proc.monitors[ref] = target
            self._to_node(node, (MONITOR_P, proc.pid, name, ref), None, False)
            return ref
        proc.monitors[ref] = target
        if target.node is self.name:
            local = self.processes.get(target)
            if local is None:
                self._send_down(target, proc.pid, ref, NOPROC)
            else:
                local.monitored_by[ref] = (proc.pid, None)
        else:
            self._to_node(target.node, (MONITOR_P, proc.pid, target, ref), None, False)
        return ref

    def demonitor(self, ref: Reference, proc: Optional[Process] = None) -> None:
        if proc is None:
            proc = next((p for p in self.processes.values() if ref in p.monitors), None)
            if proc is None:
                return
        target = proc.monitors.pop(ref, None)
        if target is None:
            return
        if isinstance(target, Pid):
            node, to = target.node, target
        else:
            node, to = target[1], target[0]
        if node is self.name:
            local = self.processes.get(target) if isinstance(target, Pid) else self.registry.get(to)
            if local is not None:
                local.monitored_by.pop(ref, None)
        else:
            conn = self.connections.get(node)
            if conn is not None:
                conn.send_control((DEMONITOR_P, proc.pid, to, ref))

    # ---- calls from Python to Erlang -----------------------------------------
    async def call(self, dest, request, timeout: Optional[float] = 5.0):
        """``gen_server:call(Dest, Request)`` from Python. Raises CallError."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        waiter = _CallWaiter(None, fut)
        proc = self.spawn(waiter)
        try:
            mref = self.monitor(proc, dest if isinstance(dest, (Pid, tuple)) else (dest, self.name))
            waiter.ref = mref
            self.send(dest, (GEN_CALL, (proc.pid, mref), request), sender=proc.pid)
            try:
                return await asyncio.wait_for(fut, timeout)
            except asyncio.TimeoutError:
                raise CallError(TIMEOUT) from None
        finally:
            self.exit_process(proc, NORMAL)

    async def rpc(self, node, module, function, args: list, timeout: Optional[float] = 30.0):
        """``rpc:call/5`` through the peer's ``rex``; returns the result or ``{badrpc, R}``."""
        node = Atom(node) if isinstance(node, str) else node
        m = Atom(module) if isinstance(module, str) else module
        f = Atom(function) if isinstance(function, str) else function
        try:
            return await self.call((Atom("rex"), node), (Atom("call"), m, f, args, self._group_leader.pid),
                                   timeout)
        except CallError as exc:
            reason = exc.reason
            if reason is NOCONNECTION:
                return (Atom("badrpc"), Atom("nodedown"))
            return (Atom("badrpc"), reason if reason is TIMEOUT else (EXIT_ATOM, reason))

    def register_rpc_module(self, module: str, handler: Callable) -> None:
        """Serve ``rpc:call(ThisNode, Module, F, A)``: ``handler(fun, args, caller)``
        returns the result or an awaitable of it; exceptions become badrpc EXITs."""
        self.rpc_modules[module] = handler

    # ---- incoming control messages ------------------------------------------
    # Each handler is called as ``handler(node, conn, control, payload)``, from
    # ``Connection._handle_events`` through ``_control_handlers`` below.
    def _on_send(self, conn: Connection, ctl: tuple, payload) -> None:
        proc = self.processes.get(ctl[2])
        if proc is not None:
            self._deliver(proc, payload)

    def _on_reg_send(self, conn: Connection, ctl: tuple, payload) -> None:
        proc = self.registry.get(ctl[3])
        if proc is not None:
            self._deliver(proc, payload)
        else:
            log.debug("message to unregistered name %r dropped", ctl[3])

    def _on_send_sender(self, conn: Connection, ctl: tuple, payload) -> None:
        proc = self.processes.get(ctl[2])
        if proc is not None:
            self._deliver(proc, payload)

    def _on_link(self, conn: Connection, ctl: tuple, payload) -> None:
        _, frm, to = ctl
        proc = self.processes.get(to)
        if proc is None:
            conn.send_control((EXIT, to, frm, NOPROC))
        else:
            proc.links.add(frm)

    def _on_unlink(self, conn: Connection, ctl: tuple, payload) -> None:
        proc = self.processes.get(ctl[2])
        if proc is not None:
            proc.links.discard(ctl[1])

    def _on_unlink_id(self, conn: Connection, ctl: tuple, payload) -> None:
        _, uid, frm, to = ctl
        proc = self.processes.get(to)
        if proc is not None:
            proc.links.discard(frm)
        conn.send_control((UNLINK_ID_ACK, uid, to, frm))

    def _on_unlink_id_ack(self, conn: Connection, ctl: tuple, payload) -> None:
        pass

    def _on_exit(self, conn: Connection, ctl: tuple, payload) -> None:
        op, frm, to, reason = ctl
        proc = self.processes.get(to)
        if proc is not None:
            if op == EXIT:
                if frm not in proc.links:
                    return
                proc.links.discard(frm)
            self._deliver_exit(proc, frm, reason, linked=(op == EXIT))

    def _on_monitor(self, conn: Connection, ctl: tuple, payload) -> None:
        _, frm, target, ref = ctl
        if not _proc_key_ok(target):
            proc = None
        elif target.__class__ is Pid:
            proc = self.processes.get(target)
        else:
            proc = self.registry.get(target)
        if proc is None:
            conn.send_control((MONITOR_P_EXIT, target, frm, ref, NOPROC))
        else:
            named = None if isinstance(target, Pid) else (target, self.name)
            proc.monitored_by[ref] = (frm, named)

    def _on_demonitor(self, conn: Connection, ctl: tuple, payload) -> None:
        _, frm, target, ref = ctl
        if not _proc_key_ok(target):
            return
        proc = self.processes.get(target) if target.__class__ is Pid else self.registry.get(target)
        if proc is not None:
            proc.monitored_by.pop(ref, None)

    def _on_monitor_exit(self, conn: Connection, ctl: tuple, payload) -> None:
        _, frm, to, ref, reason = ctl
        proc = self.processes.get(to)
        if proc is not None:
            target = proc.monitors.pop(ref, None)
            if target is not None:
                what = frm if isinstance(frm, Pid) else (frm, conn.peer)
                self._call(proc, "handle_down", ref, what, reason)

    # control message tag -> handler (looked up once per incoming signal)
    _control_handlers = {
        SEND: _on_send, REG_SEND: _on_reg_send, SEND_SENDER: _on_send_sender,
        LINK: _on_link, UNLINK: _on_unlink, UNLINK_ID: _on_unlink_id,
        UNLINK_ID_ACK: _on_unlink_id_ack, EXIT: _on_exit, EXIT2: _on_exit,
        MONITOR_P: _on_monitor, DEMONITOR_P: _on_demonitor, MONITOR_P_EXIT: _on_monitor_exit,
        SPAWN_REQUEST: kernel.spawn_request,
    }
