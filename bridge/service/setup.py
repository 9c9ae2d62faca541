"""``ssl:connect/3,4``: the client set-up driver (options, files, TLS config, TCP
connect and handshake) that makes a ``ConnSocket``. The server's handshake is
``ConnSocket.handshake``; upgrades of gen_tcp sockets are ``bridge.service.upgrade``."""
from __future__ import annotations

import asyncio

from bridge.etf.types import Atom
from bridge.tls import transport
from bridge.tls.config import TLSConfig

from . import hello_pause, hooks, inet, options, resolve
from .conn import ConnSocket
from .errors import failure_reply
from .localsteps import connect_step
from .reply import Reply
from .sockbase import config_heavy, off_loop_if, off_loop_if_heavy, parse
from .terms import CLOSED, ERROR, OK, TIMEOUT, Raise, error, is_timeout, to_timeout


async def _after_tcp_probe(host: str, port: int, family: int, timeout, reply):
    """``reply`` if a TCP connection to host:port can be made, else its posix error."""
    try:
        _r, w = await asyncio.wait_for(asyncio.open_connection(host, port, family=family), timeout)
    except (asyncio.TimeoutError, TimeoutError):
        return error(TIMEOUT)
    except OSError as exc:
        return error(inet.posix_atom(exc))
    w.close()
    return reply


NXDOMAIN = Atom("nxdomain")
_CB_INFO = (Atom("gen_tcp"), Atom("tcp"), Atom("tcp_closed"), Atom("tcp_error"), Atom("tcp_passive"))


def _connect_target(host, port, parsed):
    """(host string, port) for gen_tcp:connect, or the error ssl:connect gives
    for what gen_tcp refuses: an address inet calls einval, or an unknown
    service name, is ``{options, {socket_options, Opts}}``; any other bad port
    (or a ``{local, Path}`` address) fails a function clause inside gen_tcp,
    which ssl reports as ``{options, {cb_info, ...}}``."""
    socket_options = error((Atom("options"), (Atom("socket_options"), list(parsed.inet_list))))
    cb_info = error((Atom("options"), (Atom("cb_info"), _CB_INFO)))
    if isinstance(host, tuple) and len(host) == 2 and host[0] == Atom("local"):
        return cb_info
    hoststr = inet.connect_address(host)
    if hoststr is None:
        return socket_options
    if isinstance(port, Atom) or port is True or port is False:
        port = inet.service_port(port)
        if port is None:
            return socket_options
    if not inet.valid_port(port):
        return cb_info
    return hoststr, port



async def connect(service, host, port, opts, timeout, caller):
    """``ssl:connect(Host, Port, Opts, Timeout)``: ``{ok, S}`` (a ``Reply`` that
    releases the socket once the caller has it) or ssl's ``{error, Reason}``."""
    if not is_timeout(timeout):
        raise Raise(Atom("function_clause"))
    # shared with other connects of the same options (copied before a setopts)
    parsed = await off_loop_if_heavy(opts, parse, options.parse_connect_options_shared, opts,
                                    host=host)
    if not isinstance(parsed, options.ParsedOptions):
        return parsed
    cb = options.user_transport(parsed.ssl)
    if cb is not None:          # a user's transport: connected on the caller's node
        return connect_step(host, port, cb, parsed, opts, timeout)
    target = _connect_target(host, port, parsed)
    if not isinstance(target, tuple) or target[0] is ERROR:
        return target
    hoststr, port = target
    dialled = resolve.connect_host(host, hoststr, parsed.inet.get("family"))
    if dialled is None:
        return error(NXDOMAIN)
    dial, family = dialled
    files = await service.read_files(caller, [p for _, p in parsed.files]) if parsed.files else {}
    cfg = await off_loop_if(config_heavy(parsed, files), parse,   # shared too
                            options.build_tls_config_shared, parsed, "client", files)
    late_error = None if isinstance(cfg, TLSConfig) else cfg
    if late_error is None:
        cfg = hooks.attach(cfg, parsed, service, caller, files)
    try:
        sock = ConnSocket(service, caller, parsed, role="client")
    except ValueError:          # a packet type the framing layer does not offer
        late_error = error((Atom("options"), (Atom("packet"), parsed.socket.get("packet"))))
    if late_error is not None:
        # OTP reads certificate files and sets up framing in the connection
        # process, after the TCP connect: a connect failure is reported first.
        return await _after_tcp_probe(dial, port, family, to_timeout(timeout), late_error)
    # the caller owns the socket from here: if it goes, so does the connect
    service.add_socket(sock)
    try:
        tls = await sock.establish(transport.open_client(
            hoststr, port, cfg, timeout=to_timeout(timeout), receiver=sock, family=family, dial=dial,
            local_addr=inet.local_addr(parsed.inet), pause_hello=hello_pause.wants_pause(parsed)))
    except BaseException as exc:
        sock.close_now()
        return failure_reply(exc, "connect", connecting=True)
    if tls.paused_hello is not None:    # {handshake, hello}: {ok, S, Ext}
        return await hello_pause.client_paused(sock, tls, parsed, files, caller)
    if not sock.established(tls):       # closed in the step that finished the handshake
        return error(CLOSED)
    return Reply((OK, sock.term), sock.release, opens=sock)
