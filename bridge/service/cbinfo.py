"""``{cb_info, {Mod, DataTag, ClosedTag, ErrTag[, PassiveTag]}}`` with a transport
module other than gen_tcp: the transport lives on the caller's node.

OTP 25's ssl calls the module in the caller's process (``tls_socket:connect/4``,
``listen/3``, ``accept/3``: ``Mod:connect/4``, ``Mod:listen/2``, ``Mod:accept/2``,
``Mod:port/1``, ``Mod:controlling_process/2``) and then in its connection process
(``Mod:send/2``, ``Mod:setopts/2`` with ``{active, N}``, the tags' messages,
``Mod:close/1``, ``Mod:peername/1``...). Here:

* the calls ssl makes in the caller are made in the caller by the shim
  (``pyssl_cb``): the bridge checks the options first, as ``ssl:handle_options``
  does, and replies with a local step (bridge.service.localsteps), which the shim runs
  and whose result is the call's;
* a connected socket is handed to a ``pyssl_relay`` (the relay of STARTTLS
  upgrades, which calls ``Mod`` where it calls gen_tcp) and its TLS session runs
  here over a ``upgrade.RelayTransport``, as an upgraded socket's does;
* a listen socket is a ``CbListenSocket``: the bridge keeps its ssl and emulated
  options (ssl's ``#config{}`` and option tracker); the calls ssl.erl makes on the
  transport's listen socket (``Mod:close/1``, ``Mod:setopts/2``...) are local
  steps; ``transport_accept`` is one too (``Mod:accept/2`` in the caller), after
  which the shim registers the new socket (``'$pyssl_cb_accepted'``), its relay
  attached paused until the handshake reads from it.

Through rpc (no shim, no caller's side to run a step) a user's transport is
refused by name (``localsteps.rpc_reply``).
"""
from __future__ import annotations

from bridge.etf.types import Atom, Pid
from bridge.tls import transport

from . import inet, options
from .conn import ConnSocket
from .listen import ListenSocket, new_session_id_context
from .sockbase import parse
from .localsteps import local_step, refusal
from .terms import CLOSED, OK, Raise, error, is_timeout
from .upgrade import RelayTransport, apply_inherited, py_address, relayed_handshake

_RELAY = Atom("pyssl_relay")
_CLOSE = Atom("close")


async def connect(service, relay, host, port, cb, opts, timeout, caller: Pid):
    """``'$pyssl_cb_connect'``: the handshake over the connected socket's relay."""
    if not isinstance(relay, Pid) or not is_timeout(timeout) or not isinstance(opts, list):
        raise Raise(Atom("function_clause"))
    parsed = parse(options.parse_connect_options, opts, host=host)
    if not isinstance(parsed, options.ParsedOptions):     # checked before: cannot change
        service.node.send(relay, (_RELAY, _CLOSE))
        return parsed
    hoststr = inet.connect_address(host)
    peer = (hoststr, port) if hoststr is not None and isinstance(port, int) else None
    return await relayed_handshake(
        service, relay, parsed, True, timeout, caller,
        lambda: RelayTransport(service.node, relay, None, None, cb=cb), peer)


def check(service, role, opts, caller: Pid):
    """``'$pyssl_cb_check'``: the options of an upgrade of a user transport's socket
    (ssl:connect/3, ssl:handshake/3 with cb_info), checked before the shim touches
    the socket, as ssl:handle_options/5 runs first: ``ok`` or ssl's error."""
    if role not in (Atom("client"), Atom("server")) or not isinstance(opts, list):
        raise Raise(Atom("function_clause"))
    if role is Atom("client"):
        parsed = parse(options.parse_connect_options, opts, host=None)
    else:
        parsed = parse(options.parse_upgrade_server_options, opts)
    if not isinstance(parsed, options.ParsedOptions):
        return parsed
    return refusal(parsed) or OK


async def upgrade(service, relay, role, address, cb, inherited, opts, timeout, caller: Pid):
    """``'$pyssl_cb_upgrade'``: TLS over a user transport's socket, now the relay's
    (options checked, emulated options inherited as for a gen_tcp upgrade; a client's
    host is the peer's address, as tls_socket:upgrade/3 has it)."""
    if not isinstance(relay, Pid) or not is_timeout(timeout) or not isinstance(opts, list) \
            or role not in (Atom("client"), Atom("server")):
        raise Raise(Atom("function_clause"))
    client = role is Atom("client")
    host = address[0] if client and isinstance(address, tuple) and len(address) == 2 else None
    if client:
        parsed = parse(options.parse_connect_options, opts, host=host)
    else:
        parsed = parse(options.parse_upgrade_server_options, opts)
    if not isinstance(parsed, options.ParsedOptions):     # checked before: cannot change
        service.node.send(relay, (_RELAY, _CLOSE))
        return parsed
    apply_inherited(parsed, inherited)
    return await relayed_handshake(
        service, relay, parsed, client, timeout, caller,
        lambda: RelayTransport(service.node, relay, None, None, cb=cb),
        py_address(address) if client else None)


# ---- server ------------------------------------------------------------------------------

async def listen(service, lsock, cb, opts, caller: Pid):
    """``'$pyssl_cb_listen'``: the transport's listen socket ``lsock`` is open on the
    caller's node; the ssl listen socket keeps its options."""
    parsed = parse(options.parse_listen_options, opts)
    if not isinstance(parsed, options.ParsedOptions):
        return parsed
    files = await service.read_files(caller, [p for _, p in parsed.files])
    parsed.session_id_context = new_session_id_context()      # sessions of its own
    sock = CbListenSocket(service, caller, parsed, files, cb, lsock)
    service.add_socket(sock)
    return sock.opened(opts, caller)


def accepted(service, relay, lterm, caller: Pid):
    """``'$pyssl_cb_accepted'``: ``Mod:accept/2`` gave the caller a socket, now owned
    by ``relay``: a not-yet-handshaken ssl socket, ``{ok, S}``."""
    if not isinstance(relay, Pid):
        raise Raise(Atom("function_clause"))
    lsock = service.lookup(lterm)
    if not isinstance(lsock, CbListenSocket):
        service.node.send(relay, (_RELAY, _CLOSE))
        return error(CLOSED)
    return lsock.take(relay, caller)


class PendingRelay:
    """An accepted socket's relay before its handshake (``ConnSocket.pending_relay``)."""

    def __init__(self, rt: RelayTransport):
        self.rt = rt

    def open(self, cfg, timeout, receiver):
        return transport.start_tls(self.rt.start, cfg, timeout=timeout, receiver=receiver)

    def close(self) -> None:
        self.rt.close()


class CbListenSocket(ListenSocket):
    """``ssl:listen/2`` over a user's transport: the transport's listen socket stays
    with the caller; this keeps ssl's options of it (its ``#config{}`` and option
    tracker) and answers the calls ssl.erl makes on it as local steps."""

    def __init__(self, service, owner, parsed, files: dict, cb: tuple, lsock):
        super().__init__(service, owner, None, parsed, files)
        self.cb = cb
        self.mod = cb[0]
        self.transport_socket = lsock

    def opened(self, opts, caller):
        active = self.parsed.socket.active
        if isinstance(active, int) and not isinstance(active, bool) and active <= 0:
            # tls_socket:listen/3's check_active_n/2, as ListenSocket.listen
            self._set_emulated(opts, [("active", active)], caller, fresh=True)
        return (OK, self.term)

    def _call(self, fun: str, *args):
        return local_step("call", [self.mod, Atom(fun), [self.transport_socket, *args]])

    def transport_accept(self, timeout, caller, reply=None):
        if not is_timeout(timeout):
            raise Raise(Atom("function_clause"))
        if self.closed:
            return error(CLOSED)
        return local_step("accept", [self.term, self.cb, self.transport_socket, timeout])

    def take(self, relay: Pid, caller: Pid):
        rt = RelayTransport(self.service.node, relay, None, None, cb=self.cb)
        conn = ConnSocket(self.service, caller, self.parsed, role="server", accepted=True)
        conn.pending_relay = PendingRelay(rt)
        conn.listen_files = self.files
        conn.listen_sock = self
        conn.config_error = self._config_error()
        rt.bind()
        self.service.add_socket(conn)
        return (OK, conn.term)

    def close(self, how):
        self.close_now()
        return self._call("close")        # ssl:close/1 of a listen socket: Mod:close/1

    def close_now(self):
        # the owner gone or closed: the transport's socket is the caller's (for
        # gen_tcp-like modules it goes with its owner)
        if not self.closed:
            self.closed = True
            self.service.forget(self)

    def setopts(self, opts, caller=None):
        changes = parse(options.parse_setopts, opts, self.parsed.socket, listen=True)
        if not isinstance(changes, list):
            return changes
        self._fresh_parsed()
        # tls_socket:setopts/3 splits the list as given (split_options/1): only
        # {Name, Value} of an emulated name is emulated; `binary' or `list' alone
        # goes to the transport with the others
        emulated = self._set_emulated(opts, [(o[0].name, o[1]) for o in opts if _emulated_option(o)],
                                      caller)
        if emulated is not OK:
            return emulated
        # tls_socket:setopts/3: split_options/1 reverses the others too
        sock_opts = [o for o in reversed(opts) if not _emulated_option(o)]
        return local_step("setopts", [self.mod, self.transport_socket, sock_opts, opts])

    def getopts(self, names):
        wanted = parse(options.parse_getopts, names)
        if not isinstance(wanted, list):
            return wanted
        # tls_socket:getopts/3: split_options/1 reverses both kinds of names
        current = self.parsed.socket.as_dict()
        emulated = [(Atom(n), inet.to_term(n, current[n]))
                    for n in reversed(wanted) if n in options.EMULATED_OPTIONS]
        sock_names = [Atom(n) for n in reversed(wanted) if n not in options.EMULATED_OPTIONS]
        return local_step("getopts", [self.mod, self.transport_socket, emulated, sock_names,
                                      names])

    def sockname(self):
        return self._call("sockname")

    def peername(self):
        return self._call("peername")

    def shutdown(self, how):
        return self._call("shutdown", how)

    def send(self, data):
        return self._call("send", data)

    def recv(self, length, timeout):
        return self._call("recv", 0)

    def controlling_process(self, new_owner: Pid):
        self.service.change_owner(self, new_owner)
        return self._call("controlling_process", new_owner)


def _emulated_option(o) -> bool:
    return isinstance(o, tuple) and len(o) == 2 and isinstance(o[0], Atom) \
        and o[0].name in options.EMULATED_OPTIONS

