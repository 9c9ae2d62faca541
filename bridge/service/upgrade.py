"""TLS upgrade of a ``gen_tcp`` socket that stays on the caller's node.

``ssl:connect(TcpSocket, Opts, Timeout)`` and ``ssl:handshake(TcpSocket, Opts,
Timeout)`` (also ``ssl_accept/1,2,3``) start TLS on a connected ``gen_tcp``
socket, typically after a plain-text STARTTLS exchange. The socket belongs to
another OS process, so the shim hands it to a relay process on its own node
(``erlang_shim/src/pyssl_relay.erl``) and the bridge runs the TLS session over
the relay's bytes:

* ``RelayTransport`` is an ``asyncio.Transport`` whose writes are
  ``{pyssl_relay, {send, Bin}}`` messages to the relay, and whose input comes
  as ``{pyssl_relay_in, Relay, {data, Bin} | closed | {error, R}}`` messages to
  a bridge process of its own. ``bridge.tls.transport.TLSConnection`` runs on
  it unchanged, so everything after the handshake (delivery, close, shutdown,
  renegotiation, information calls) is the same as for a socket the bridge
  connected itself.
* ``upgrade()`` serves the shim's ``'$pyssl_upgrade'`` request: the same
  option checks as ssl (for a client, the host is the peer's address, as in
  ``tls_socket:upgrade/3``), files read on the caller's node, then the
  handshake; its reply is ``{ok, SslSocket}`` or ssl's ``{error, Reason}``. On
  failure the relay closes the TCP socket, as ssl closes it.

OS-level socket options of an upgraded socket (``nodelay``, ``keepalive``, ...)
stay with the relay's ``gen_tcp`` socket: ``getopts``/``setopts`` of those are
calls to the relay (``inet:getopts/2``, ``inet:setopts/2`` on its socket), whose
answer (or error) is the reply; the emulated ones (``mode``, ``packet``,
``active``...) are the bridge's as for any socket. The ``ConnSocket`` finds the
relay as its transport's ``get_extra_info("relay")``; the downgrade
(``close(S, {Pid, T})``) is the relay's too. The relay does no write flow
control: a sender much faster than the network fills the relay's mailbox.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Optional

from bridge.etf.types import Atom, Pid
from bridge.tls import transport
from bridge.tls.config import TLSConfig

from . import hello_pause, hooks, inet, options
from .conn import ConnSocket
from .errors import HANDSHAKE_FAILURES, failure_reply
from .reply import Reply
from .sockbase import parse
from .terms import CLOSED, EINVAL, OK, TIMEOUT, Raise, error, is_timeout, to_timeout

log = logging.getLogger("bridge.service.upgrade")

_RELAY = Atom("pyssl_relay")
_RELAY_IN = Atom("pyssl_relay_in")
_RELAY_REPLY = Atom("pyssl_relay_reply")
_DATA = Atom("data")


class RelayTransport(asyncio.Transport):
    """An asyncio transport over a relay process that owns a ``gen_tcp`` socket."""

    def __init__(self, node, relay: Pid, peer: Optional[tuple], local: Optional[tuple],
                 cb: Optional[tuple] = None):
        super().__init__()
        self.node = node
        self.relay = relay
        self._peer = peer
        self._local = local
        # a user's transport (cb_info, bridge.service.cbinfo): its addresses are
        # asked of the relay (Mod:peername/sockname) when wanted
        self.cb = cb
        self._protocol: Optional[asyncio.Protocol] = None
        self._closing = False
        self._lost = False
        self.process = None            # set by node.spawn
        self._monitor = None
        self._detached = False         # downgrade: bytes from the relay are plain data now
        self.plain = bytearray()       # ... collected here
        self._replies: dict = {}       # ref -> future, for calls to the relay

    # ---- wiring -----------------------------------------------------------------
    def start(self, protocol: asyncio.Protocol) -> None:
        """Attach the relay to this transport's process and start the protocol
        (a relay bound already, paused, is told to read)."""
        self._protocol = protocol
        if self.process is None:
            proc = self.node.spawn(self)
            self._monitor = self.node.monitor(proc, self.relay)
            self.node.send(self.relay, (_RELAY, (Atom("attach"), proc.pid)), sender=proc.pid)
            protocol.connection_made(self)
            return
        protocol.connection_made(self)
        if self._lost:          # the relay went (the peer closed) before the handshake
            asyncio.get_running_loop().call_soon(protocol.connection_lost, None)
        else:
            self.resume_reading()

    def bind(self) -> None:
        """Attach the relay paused, before there is a protocol: an accepted socket
        of a user's transport, read from once its handshake starts (``start``)."""
        proc = self.node.spawn(self)
        self._monitor = self.node.monitor(proc, self.relay)
        self.node.send(self.relay, (_RELAY, (Atom("attach"), proc.pid, Atom("paused"))),
                       sender=proc.pid)

    def _to_relay(self, cmd) -> None:
        if self.process is not None and self.process.alive:
            self.node.send(self.relay, (_RELAY, cmd), sender=self.process.pid)

    # ---- process handler (messages from the relay) --------------------------------
    def handle_message(self, msg) -> None:
        if isinstance(msg, tuple) and len(msg) == 3 and msg[0] is _RELAY_REPLY:
            fut = self._replies.pop(msg[1], None)
            if fut is not None and not fut.done():
                fut.set_result(msg[2])
            return
        if not (isinstance(msg, tuple) and len(msg) == 3 and msg[0] is _RELAY_IN):
            return
        event = msg[2]
        if self._detached:
            if isinstance(event, tuple) and len(event) == 2 and event[0] is _DATA:
                self.plain += bytes(event[1])
            # the peer closing TCP after its close_notify ends nothing here: the
            # downgrade's hand-over is on its way, the relay answers it from its
            # peer_closed state, and the reply must find this process (the relay's
            # {tcp_closed} often comes in the same burst as the close_notify)
            return
        if self._lost:
            return
        if self._protocol is None:      # bound, no handshake yet: only an end can come
            if not (isinstance(event, tuple) and len(event) == 2 and event[0] is _DATA):
                self._connection_lost(None)
            return
        if isinstance(event, tuple) and len(event) == 2 and event[0] is _DATA:
            if not self._closing:
                self._protocol.data_received(bytes(event[1]))
        elif event is CLOSED:
            self._protocol.eof_received()
            self._connection_lost(None)
        else:
            reason = event[1] if isinstance(event, tuple) and len(event) == 2 else event
            self._connection_lost(ConnectionResetError(f"relayed socket: {reason!r}"))

    def handle_down(self, ref, pid, reason) -> None:
        for fut in self._replies.values():
            if not fut.done():
                fut.set_result(None)
        self._replies.clear()
        self._connection_lost(None if reason == Atom("normal") else ConnectionResetError(repr(reason)))

    def handle_exit(self, pid, reason) -> None:
        pass

    def _connection_lost(self, exc) -> None:
        if self._lost:
            return
        self._lost = True
        self._closing = True
        protocol = self._protocol
        if self.process is not None and self.process.alive:
            self.node.exit_process(self.process)      # drops the monitor on the relay too
        if protocol is not None:
            asyncio.get_running_loop().call_soon(protocol.connection_lost, exc)

    # ---- downgrade ----------------------------------------------------------------------
    def detach(self, unread: bytes) -> None:
        """From now on what the relay sends is plain data (after the peer's close_notify)."""
        self._detached = True
        self.plain += unread

    async def hand_over(self, new_owner: Pid, timeout: Optional[float]):
        """Ask the relay to give the TCP socket to ``new_owner``: ``{ok, Port, Unread}``
        from the relay (or None if it is gone). The relay ends without closing it."""
        if self._lost or self.process is None or not self.process.alive:
            return None                 # nobody would get the relay's answer
        ref = self.node.make_ref()
        fut = asyncio.get_running_loop().create_future()
        self._replies[ref] = fut
        self._to_relay((Atom("hand_over"), new_owner, self.process.pid, ref))
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._replies.pop(ref, None)

    async def call_relay(self, request, timeout: Optional[float] = 30.0):
        """``inet`` on the relayed socket, run by the relay: its result, or None."""
        if self._lost or self.process is None:
            return None
        ref = self.node.make_ref()
        fut = asyncio.get_running_loop().create_future()
        self._replies[ref] = fut
        self._to_relay((Atom("call"), self.process.pid, ref, request))
        try:
            return await asyncio.wait_for(fut, timeout)
        except (asyncio.TimeoutError, TimeoutError):
            return None
        finally:
            self._replies.pop(ref, None)

    # ---- what a ConnSocket asks of its relay (get_extra_info("relay")) -----------------
    def downgrade(self, sock, new_owner: Pid) -> "Downgrade":
        """``close(S, {NewController, Timeout})`` of ``sock``: run it with ``.run(timeout)``."""
        return Downgrade(sock, self, new_owner)

    async def getopts(self, wanted: list, emulated: dict):
        """``getopts`` of a relayed socket: emulated options from the bridge, the
        others read by the relay with ``inet:getopts/2`` (reversed, as ssl answers)."""
        os_names = [n for n in wanted if n not in emulated]
        values = {}
        if os_names:
            res = await self.call_relay((Atom("getopts"), [Atom(n) for n in os_names]))
            if isinstance(res, tuple) and len(res) == 2 and res[0] is OK and isinstance(res[1], list):
                values = {k.name: v for k, v in res[1] if isinstance(k, Atom)}
        out = []
        for name in wanted:
            if name in emulated:
                out.append((Atom(name), inet.to_term(name, emulated[name])))
            elif name in values:
                out.append((Atom(name), values[name]))
        out.reverse()
        return (OK, out)

    async def setopts(self, changes: dict):
        """The gen_tcp part of a ``setopts``, set by the relay with ``inet:setopts/2``:
        ``ok``, or as ``ssl_gen_statem:set_socket_opts/6`` words its failure
        ``{error, {options, {socket_options, Opts, Reason}}}`` (``Opts`` in the
        reverse of the order given, as ssl collects them); ``{error, closed}`` if
        the relay is gone or does not answer."""
        opts = [(Atom(k), v) for k, v in changes.items()]
        opts.reverse()
        res = await self.call_relay((Atom("setopts"), opts))
        if res is OK:
            return OK
        if isinstance(res, tuple) and len(res) == 2 and res[0] is Atom("error"):
            return error((Atom("options"), (Atom("socket_options"), opts, res[1])))
        return error(CLOSED)

    async def address(self, which: str):
        """``peername``/``sockname`` of a user's transport, as ``Mod:peername/1`` or
        ``Mod:sockname/1`` answer on the caller's node (``tls_socket:peername/2``);
        ``{error, einval}`` once the relay is gone."""
        res = await self.call_relay(Atom("peername" if which == "getpeername" else "sockname"))
        return error(EINVAL) if res is None else res

    def forget(self) -> None:
        """The relay is gone or has handed the socket over: stop without a word to it."""
        self._closing = True
        self._connection_lost(None)

    # ---- asyncio.Transport -------------------------------------------------------------
    def write(self, data) -> None:
        if self._closing or self._lost:
            return
        self._to_relay((Atom("send"), bytes(data)))

    def writelines(self, list_of_data) -> None:
        self.write(b"".join(list_of_data))

    def write_eof(self) -> None:
        self._to_relay((Atom("shutdown"), Atom("write")))

    def can_write_eof(self) -> bool:
        return True

    def get_write_buffer_size(self) -> int:
        return 0

    def pause_reading(self) -> None:
        self._to_relay(Atom("pause"))

    def resume_reading(self) -> None:
        self._to_relay(Atom("resume"))

    def is_reading(self) -> bool:
        return not self._closing

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._to_relay(Atom("close"))
        self._connection_lost(None)

    def abort(self) -> None:
        self.close()

    def get_extra_info(self, name, default=None):
        if name == "peername":
            return self._peer
        if name == "sockname":
            return self._local
        if name == "relay":            # what ConnSocket asks for options and downgrade
            return self
        return default


def py_address(term) -> Optional[tuple]:
    """``{IP, Port}`` from inet:peername/sockname as a Python socket address."""
    if isinstance(term, tuple) and len(term) == 2 and isinstance(term[1], int):
        host = inet.host_string(term[0])
        if host is not None:
            return (host, term[1])
    return None


async def upgrade(service, role, relay, peer, local, inherited, opts, timeout, caller: Pid):
    """The ``'$pyssl_upgrade'`` request: see the module docstring."""
    if not isinstance(relay, Pid) or not is_timeout(timeout) or not isinstance(opts, list) \
            or role not in (Atom("client"), Atom("server")):
        raise Raise(Atom("function_clause"))
    peer_addr, local_addr = py_address(peer), py_address(local)
    if peer_addr is None or local_addr is None:
        raise Raise(Atom("badarg"))
    client = role is Atom("client")
    try:
        if client:
            parsed = parse(options.parse_connect_options, opts, host=peer[0])
        else:
            parsed = parse(options.parse_upgrade_server_options, opts)
    except Raise:
        service.node.send(relay, (_RELAY, (Atom("give_back"), caller)))
        raise
    if isinstance(parsed, options.ParsedOptions) and options.user_transport(parsed.ssl):
        # a gen_tcp socket with another module's callbacks: not offered (ssl would
        # call that module on the port)
        parsed = error((Atom("options"), (Atom("not_supported_by_pyssl"),
                                          (Atom("cb_info"), parsed.ssl["cb_info"]))))
    if not isinstance(parsed, options.ParsedOptions):
        # ssl refuses options before it touches the socket: hand it back unchanged
        service.node.send(relay, (_RELAY, (Atom("give_back"), caller)))
        return parsed
    if hello_pause.wants_pause(parsed):
        # the pause reads the hello off an OS socket (or holds a client's input in
        # its TLS connection), which a relayed gen_tcp socket does not go through
        service.node.send(relay, (_RELAY, (Atom("give_back"), caller)))
        return error((Atom("options"), (Atom("not_supported_by_pyssl"), (Atom("handshake"), Atom("hello")))))
    apply_inherited(parsed, inherited)
    return await relayed_handshake(
        service, relay, parsed, client, timeout, caller,
        lambda: RelayTransport(service.node, relay, peer_addr, local_addr),
        peer_addr if client else None)


def apply_inherited(parsed, inherited) -> None:
    """The emulated options the upgraded socket passes on (computed by the shim as
    ssl:handle_options/5 does: the caller's over the socket's own)."""
    if isinstance(inherited, list):
        for item in inherited:
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], Atom) \
                    and item[0].name in options.EMULATED_OPTIONS:
                parsed.socket.set(item[0].name, item[1])


async def relayed_handshake(service, relay, parsed, client: bool, timeout, caller: Pid,
                            make_transport, session_peer):
    """Files, TLS config and the handshake over a relay, once the options are
    checked (an upgrade, a user transport's connect): ``{ok, S}`` (a Reply) or
    ssl's error; the relay closes the socket on failure. ``make_transport()``: the
    ``RelayTransport``; ``session_peer``: a client's (host, port) for its sessions."""
    close_relay = lambda: service.node.send(relay, (_RELAY, Atom("close")))     # noqa: E731
    files = await service.read_files(caller, [p for _, p in parsed.files]) if parsed.files else {}
    cfg = parse(options.build_tls_config, parsed, "client" if client else "server", files)
    if not isinstance(cfg, TLSConfig):
        close_relay()
        return cfg
    cfg = hooks.attach(cfg, parsed, service, caller, files)
    try:
        sock = ConnSocket(service, caller, parsed, role="client" if client else "server")
    except ValueError:
        close_relay()
        return error((Atom("options"), (Atom("packet"), parsed.socket.get("packet"))))
    def attach(proto):
        make_transport().start(proto)
    # the caller owns the socket from here: if it goes, the handshake ends with it
    # (ssl's connection process ends with its owner, handshake or not)
    service.add_socket(sock)
    try:
        # a failed handshake aborts the transport, which tells the relay to close
        # a client's sessions are the peer address's, as ssl keys an upgraded one
        tls = await sock.establish(transport.start_tls(
            attach, cfg, timeout=to_timeout(timeout), receiver=sock, peer=session_peer))
    except HANDSHAKE_FAILURES as exc:
        sock.close_now()
        if isinstance(exc, transport.ContextError):     # before the relay was attached
            close_relay()
        return failure_reply(exc, "upgrade")
    if not sock.established(tls):       # closed in the step that finished the handshake
        return error(CLOSED)
    # (its reply and window grant go apart, as before: the relay's hand-over around
    # it was not checked against a reply that travels through the guard)
    return Reply((OK, sock.term), sock.release)


# ---- downgrade: ssl:close(S, {NewController, Timeout}) ------------------------------------

class Downgrade:
    """``close(S, {NewController, Timeout})`` of an upgraded socket: end TLS and give
    the TCP socket back, as ``ssl_gen_statem``'s downgrade: send close_notify, wait
    (``Timeout``) for the peer's, then hand the still open TCP socket to
    ``NewController`` in ``{active, false}``, binary, raw mode; the reply is ``{ok,
    Port}``, or ``{ok, Port, Data}`` with what the peer already sent in the clear.
    The socket is DOWNGRADING meanwhile (``ConnSocket._downgrade``)."""

    def __init__(self, sock, rt: RelayTransport, new_owner: Pid):
        self.sock = sock
        self.rt = rt
        self.new_owner = new_owner
        self.done = asyncio.get_running_loop().create_future()
        self._handing = None           # the hand-over task (kept: a task nobody holds may go)

    async def run(self, timeout: Optional[float]):
        sock, tls = self.sock, self.sock.tls
        if not sock.begin_downgrade(self):
            return error(CLOSED)
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        await tls.drain()                          # what the owner sent goes first
        eng = tls.engine
        eng.close()                                # our close_notify
        out = eng.ciphertext_to_send()
        if out:
            self.rt.write(out)
        if eng.peer_closed:                         # the peer's came already
            self.peer_closed()
        try:
            left = None if deadline is None else max(0.0, deadline - loop.time())
            return await asyncio.wait_for(asyncio.shield(self.done), left)
        except (asyncio.TimeoutError, TimeoutError):
            sock.close_now()
            return error(TIMEOUT)

    def peer_closed(self) -> None:
        """The engine saw the end of the peer's TLS stream."""
        if self.done.done():
            return
        eng = self.sock.tls.engine
        if eng.eof:                                 # TCP closed, no close_notify
            self.sock.close_now()
            self.done.set_result(error(Atom("tcp_closed")))
            return
        self.rt.detach(eng.unread_input())
        self._handing = asyncio.ensure_future(self._hand_over())

    async def _hand_over(self):
        sock, rt = self.sock, self.rt
        try:
            reply = await rt.hand_over(self.new_owner, 30.0)
        except (asyncio.TimeoutError, TimeoutError):
            reply = None                        # the relay did not answer: closed
        sock._finish("handed_over")
        rt.forget()
        if not (isinstance(reply, tuple) and len(reply) == 3 and reply[0] is OK):
            self.done.set_result(error(CLOSED))
            return
        _ok, port, unread = reply
        data = bytes(rt.plain) + bytes(unread)
        self.done.set_result((OK, port, data) if data else (OK, port))
