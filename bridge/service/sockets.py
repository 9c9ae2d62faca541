"""ssl sockets living in the bridge: listen sockets and connected TLS sockets.

A ``ConnSocket`` ties three things together: a TLS connection (``bridge.tls``)
carrying bytes to and from the peer, a ``Delivery`` deciding what its Erlang
owner sees, and the socket options. A ``ListenSocket`` owns a bound TCP socket
and hands out not-yet-handshaken ``ConnSocket``s from ``transport_accept``.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import socket as pysocket
import struct
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

from bridge.etf.types import Atom, Pid, Reference

from . import hooks, inet, options, socket_options, upgrade
from .delivery import Delivery
from .packet import encode_packet
from .options import SslOptionError
from bridge.tls import transport
from bridge.tls.config import TLSConfig
from .terms import (BADARG, CLOSED, EINVAL, ENOTCONN, ERROR, OK, PYSSL, SSLSOCKET,
                    TIMEOUT, Raise, error, heavy, iodata_to_bytes, is_timeout, to_timeout)

log = logging.getLogger("bridge.service")


def parse(fn, *args, **kw):
    """Run an option parser: its result, or the Erlang reply for a refused option list."""
    try:
        return fn(*args, **kw)
    except SslOptionError as exc:
        return exc.term
    except options.ErlangException as exc:
        raise Raise(exc.reason, exc.cls) from None


# Parsing and certificate work too big for the event loop (a 64 MiB file name, a
# huge cacertfile) runs here; its own threads, so that it never queues behind TLS
# handshake steps that wait for Erlang hooks on the default pool.
HEAVY_WORK = ThreadPoolExecutor(max_workers=2, thread_name_prefix="heavy")


async def off_loop_if(cond: bool, fn, *args, **kw):
    """``fn(*args, **kw)``, on HEAVY_WORK when ``cond``. Exceptions come back as
    raised; ``fn`` must not touch state the loop uses meanwhile."""
    if not cond:
        return fn(*args, **kw)
    return await asyncio.get_running_loop().run_in_executor(
        HEAVY_WORK, functools.partial(fn, *args, **kw))


def off_loop_if_heavy(term, fn, *args, **kw):
    """``off_loop_if`` for a parse of ``term``, what the caller sent: an absurd
    option list must not stall every other socket while it is checked."""
    return off_loop_if(heavy(term), fn, *args, **kw)


# Above this many bytes of file names and contents, a TLS config is built on
# HEAVY_WORK: PEM parsing of a large cacertfile, or errors that quote a huge name.
CONFIG_INLINE_MAX = 256 * 1024


def config_heavy(parsed, files: dict) -> bool:
    n = sum(len(p) for _, p in parsed.files)
    for data in files.values():
        if data.__class__ is bytes:
            n += len(data)
    return n > CONFIG_INLINE_MAX


def split_changes(changes: list) -> tuple[dict, dict]:
    """setopts changes: (emulated socket options, OS socket options)."""
    emulated, osopts = {}, {}
    for name, value in changes:
        if name in options.EMULATED_OPTIONS or name in ("line_delimiter", "exit_on_close",
                                                        "deliver", "send_timeout"):
            emulated[name] = value
        else:
            osopts[name] = value
    return emulated, osopts


# packet types whose length header can refuse a send smaller than a send window
_SMALL_HEADERS = (1, 2)


class SocketBase:
    def __init__(self, service, owner: Pid):
        self.service = service
        self.ref: Reference = service.new_ref()
        self.term = (SSLSOCKET, PYSSL, self.ref)
        self.owner = owner

    def close(self, how):
        self.close_now()
        return OK

    # Defaults for calls that make no sense on this kind of socket.
    def send(self, data):
        return error(ENOTCONN)

    def recv(self, length, timeout):
        return error(ENOTCONN)

    def shutdown(self, how):
        return error(ENOTCONN)

    def peercert(self):
        return error(ENOTCONN)

    def connection_info(self):
        return error(ENOTCONN)

    def connection_information(self, items):
        return error(ENOTCONN)

    def negotiated_protocol(self, new_api):
        raise Raise(Atom("function_clause"))   # ssl has no clause for listen sockets

    def prf(self, secret, label, seed, length):
        return error(ENOTCONN)

    def renegotiate(self):
        return error(ENOTCONN)

    def transport_accept(self, timeout, caller):
        raise Raise(Atom("function_clause"))

    def handshake(self, opts, timeout, caller, *, new_api):
        raise Raise(Atom("function_clause"))

    def controlling_process(self, new_owner: Pid):
        self.service.change_owner(self, new_owner)
        return OK


_LINGER_RESET = struct.pack("ii", 1, 0)


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

    @classmethod
    async def listen(cls, service, port, opts, caller: Pid):
        parsed = await off_loop_if_heavy(opts, parse, options.parse_listen_options, opts)
        if not isinstance(parsed, options.ParsedOptions):
            return parsed
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
        sock = cls(service, caller, lsock, parsed, files)
        service.add_socket(sock)
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
        conn = ConnSocket(self.service, caller, self.parsed, role="server")
        conn.pending_tcp = csock
        conn.listen_files = self.files
        conn.listen_sock = self
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

    def setopts(self, opts):
        changes = parse(options.parse_setopts, opts, self.parsed.socket)
        if not isinstance(changes, list):
            return changes
        sock_changes, inet_changes = split_changes(changes)
        # a fresh copy: sockets accepted so far keep the options they were accepted with
        p = self.parsed
        self.parsed = options.ParsedOptions(
            role=p.role, socket=p.socket.copy(), inet=dict(p.inet), ssl=p.ssl,
            files=p.files, given=p.given, inet_list=p.inet_list)
        self.parsed.socket.update(sock_changes)
        inet.set_options(self.lsock, inet_changes)
        self.parsed.inet.update(inet_changes)
        return OK

    def getopts(self, names):
        wanted = parse(options.parse_getopts, names)
        if not isinstance(wanted, list):
            return wanted
        return (OK, inet.get_options(self.lsock, wanted, self.parsed.socket.as_dict()))

    def peername(self):
        return error(ENOTCONN)

    def sockname(self):
        return (OK, inet.address_term(self.lsock.getsockname()))

    def shutdown(self, how):
        return error(ENOTCONN)


class After:
    """A reply plus something to do once the reply has been sent (release held data)."""

    __slots__ = ("value", "then")

    def __init__(self, value, then):
        self.value = value
        self.then = then


async def _after_tcp_probe(host: str, port: int, timeout, reply):
    """``reply`` if a TCP connection to host:port can be made, else its posix error."""
    try:
        _r, w = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (asyncio.TimeoutError, TimeoutError):
        return error(TIMEOUT)
    except OSError as exc:
        return error(inet.posix_atom(exc))
    w.close()
    return reply


_NEVER = 1 << 62          # a raw-mode recv length no buffer reaches

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


def tls_alert_term(exc):
    return error((Atom("tls_alert"), (Atom(exc.description), list(exc.text.encode()))))


def _connect_failed(exc):
    """What ssl:connect returns for the exception its TCP connect or handshake
    raised; anything else (a bug, a cancelled request) goes on up."""
    if isinstance(exc, transport.TLSAlertError):
        return tls_alert_term(exc)
    if isinstance(exc, transport.TLSClosed):
        return error(CLOSED)
    if isinstance(exc, transport.ContextError):
        log.warning("connect: %s", exc)
        return error((Atom("options"), (Atom("pyssl_context"), str(exc))))
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return error(TIMEOUT)
    if isinstance(exc, OSError):
        return error(inet.posix_atom(exc))
    if isinstance(exc, ConnectionError):
        return error(CLOSED)
    raise exc


class ConnSocket(SocketBase):
    """A TLS connection (client, or server after ``transport_accept``)."""

    window_guard = None     # the guard holding this socket's send window (windows.py)
    window_owed = 0         # bytes taken from the window and not acked yet
    opening = None          # the connect or handshake under way (establish())

    def __init__(self, service, owner, parsed, *, role: str):
        super().__init__(service, owner)
        self.role = role
        self.parsed = parsed
        # the socket's own emulated options (parsed may be shared)
        self.delivery = Delivery(self.term, owner, service.node.send, parsed.socket.copy(),
                                 flow=self._flow, ended=self._ended)
        self.held = True              # no delivery until the owner has its {ok, S}
        self.tls = None               # bridge.tls.transport connection, once handshaken
        self.pending_tcp: Optional[pysocket.socket] = None   # accepted, not handshaken
        self.listen_files: dict = {}
        self.listen_sock: Optional[ListenSocket] = None   # accepted: where from
        self.closed = False           # closed by us (close/1, owner death)
        self.write_closed = False
        self.handshaking = False
        self.downgrading = None       # upgrade.Downgrade while close(S, {Pid, T}) runs

    # ---- set-up -------------------------------------------------------------
    @classmethod
    async def connect(cls, service, host, port, opts, timeout, caller):
        if not is_timeout(timeout):
            raise Raise(Atom("function_clause"))
        # shared with other connects of the same options (copied before a setopts)
        parsed = await off_loop_if_heavy(opts, parse, options.parse_connect_options_shared, opts,
                                        host=host)
        if not isinstance(parsed, options.ParsedOptions):
            return parsed
        target = _connect_target(host, port, parsed)
        if not isinstance(target, tuple) or target[0] is ERROR:
            return target
        hoststr, port = target
        files = await service.read_files(caller, [p for _, p in parsed.files]) if parsed.files else {}
        cfg = await off_loop_if(config_heavy(parsed, files), parse,   # shared too
                                options.build_tls_config_shared, parsed, "client", files)
        late_error = None if isinstance(cfg, TLSConfig) else cfg
        if late_error is None:
            cfg = hooks.attach(cfg, parsed, service, caller, files)
        try:
            sock = cls(service, caller, parsed, role="client")
        except ValueError:          # a packet type the framing layer does not offer
            late_error = error((Atom("options"), (Atom("packet"), parsed.socket.get("packet"))))
        if late_error is not None:
            # OTP reads certificate files and sets up framing in the connection
            # process, after the TCP connect: a connect failure is reported first.
            return await _after_tcp_probe(hoststr, port, to_timeout(timeout), late_error)
        # the caller owns the socket from here: if it goes, so does the connect
        service.add_socket(sock)
        try:
            sock.tls = await sock.establish(transport.open_client(
                hoststr, port, cfg, timeout=to_timeout(timeout), receiver=sock,
                local_addr=inet.local_addr(parsed.inet)))
        except BaseException as exc:
            sock.close_now()
            return _connect_failed(exc)
        if sock.closed:             # closed in the step that finished the handshake
            sock.tls.close()
            return error(CLOSED)
        sock.apply_os_options()
        return After((OK, sock.term), sock.release)

    async def establish(self, opening):
        """The TLS connection that ``opening`` (a bridge.tls.transport coroutine: TCP
        connect and handshake) makes. ``close_now()`` meanwhile (close/1, the owner's
        exit or node gone) aborts it with ``TLSClosed``: ssl's connection process
        ends with its owner, handshake or not, and a handshake that waits for a
        silent peer with timeout infinity would otherwise keep the connection."""
        task = self.opening = asyncio.ensure_future(opening)
        try:
            return await task
        except asyncio.CancelledError:
            if self.closed and task.cancelled():
                raise transport.TLSClosed("closed during the handshake") from None
            raise
        finally:
            self.opening = None

    def handshake(self, opts, timeout, caller, *, new_api):
        if not is_timeout(timeout) or not isinstance(opts, list):
            raise Raise(Atom("function_clause"))
        if self.role != "server" or self.tls is not None or self.handshaking:
            return error(Atom("not_allowed_in_state")) if self.tls is None else error(EINVAL)
        return self._handshake(opts, to_timeout(timeout), caller, new_api)

    async def _handshake(self, opts, timeout, caller, new_api):
        self.handshaking = True
        try:
            try:
                if opts:
                    parsed = await off_loop_if_heavy(opts, options.parse_handshake_options, opts,
                                                    self.parsed)
                    files = dict(self.listen_files)
                    missing = [p for _, p in parsed.files if p not in files]
                    if missing:
                        files.update(await self.service.read_files(caller, missing))
                    cfg = await off_loop_if(config_heavy(parsed, files), options.build_tls_config,
                                            parsed, "server", files)
                    cfg = hooks.attach(cfg, parsed, self.service, caller, files)
                else:
                    # the listen socket's options: its config is built once (raises
                    # for a bad file as building it here would) and shared
                    heavy_cfg = config_heavy(self.parsed, self.listen_files)
                    cfg = await (off_loop_if(heavy_cfg, self.listen_sock.server_config)
                                 if self.listen_sock is not None
                                 else off_loop_if(heavy_cfg, options.build_tls_config,
                                                  self.parsed, "server", self.listen_files))
                    cfg = hooks.attach(cfg, self.parsed, self.service, caller, self.listen_files)
            except SslOptionError as exc:
                self._abort()
                return exc.term
            except options.ErlangException as exc:
                self._abort()
                raise Raise(exc.reason, exc.cls) from None
            csock, self.pending_tcp = self.pending_tcp, None
            if csock is None:
                return error(CLOSED)
            inet.set_options(csock, {})
            self.tls = await self.establish(
                transport.accept_tls(csock, cfg, timeout=timeout, receiver=self))
        except transport.TLSAlertError as exc:
            self._abort()
            return tls_alert_term(exc)
        except transport.TLSClosed:
            self._abort()
            return error(CLOSED)
        except transport.ContextError as exc:
            log.warning("handshake: %s", exc)
            self._abort()
            return error((Atom("options"), (Atom("pyssl_context"), str(exc))))
        except (asyncio.TimeoutError, TimeoutError):
            self._abort()
            return error(TIMEOUT)
        except (OSError, ConnectionError):
            self._abort()
            return error(CLOSED)
        finally:
            self.handshaking = False
        if self.closed:
            self.tls.close()
            return error(CLOSED)
        self.apply_os_options()
        return After((OK, self.term) if new_api else OK, self.release)

    def _abort(self):
        if self.pending_tcp is not None:
            self.pending_tcp.close()
            self.pending_tcp = None
        self.close_now()

    def release(self):
        """The owner has its socket: start delivering."""
        self.held = False
        self.service.windows.grant(self)
        self.delivery.pump()

    # ---- receiver callbacks (called by the TLS transport) ------------------
    def data_received(self, data: bytes) -> None:
        if self.held:
            self.delivery.decoder.feed(data)
        else:
            self.delivery.data_received(data)

    def eof_received(self) -> None:
        if self.downgrading is not None:   # the peer's answer to our close_notify
            self.downgrading.peer_closed()
            return
        self.delivery.eof = True
        if not self.held:
            self.delivery.pump()

    def connection_failed(self, exc) -> None:
        from bridge.tls.engine import TLSAlertError
        if isinstance(exc, TLSAlertError):
            reason = (Atom("tls_alert"), (Atom(exc.description), list(exc.text.encode())))
        else:
            reason = CLOSED
        if self.delivery.error_reason is None:
            self.delivery.error_reason = reason
        self.delivery.eof = True
        if not self.held:
            self.delivery.pump()      # an active owner's ssl_error revokes the window
        self.service.windows.revoke(self)

    def connection_lost(self) -> None:
        """The TCP connection is gone: a send would now say closed, so the window goes.
        Not before this step's end of stream, which the transport reports right
        after this (an RST, a failed write): an active owner's {ssl_closed, S} then
        revokes the window on its way through the guard. A revoke sent first would
        leave that message to go straight to the owner, who could then send on the
        window before the guard had the revoke (ok, for data that goes nowhere)."""
        asyncio.get_running_loop().call_soon(self.service.windows.revoke, self)

    def _ended(self) -> None:
        # ssl's connection process ends once it has told its owner that the socket is
        # closed ({ssl_closed, S}, {ssl_error, S, R}, or a recv's error): every later
        # call answers as for a closed socket. So the socket leaves the table now: the
        # owner's next call can be served before a callback scheduled here runs
        # (uvloop polls for I/O first). Only the TLS close waits for the loop, as
        # this runs inside the transport's callbacks.
        self.service.forget(self)
        asyncio.get_running_loop().call_soon(self.close_now)

    def _flow(self, paused: bool) -> None:
        if self.tls is not None:
            if paused:
                self.tls.pause_reading()
            else:
                self.tls.resume_reading()

    # ---- data ---------------------------------------------------------------
    def send(self, data):
        try:
            payload = iodata_to_bytes(data)
        except Raise:
            raise Raise(Atom("function_clause"))
        return self._write(payload)

    def _write(self, payload: bytes):
        if self.closed or self.tls is None or self.write_closed or self.tls.is_closing():
            return error(CLOSED)
        try:
            framed = packet_encode(self.delivery.packet, payload)
        except ValueError as exc:
            return error((BADARG, exc.args[0]))
        tls = self.tls
        tls.write(framed)
        if tls.write_paused():
            # the peer is not reading: the caller waits, as ssl's send does when its
            # socket's buffer is full (sends taken from a window wait for their ack)
            fut = asyncio.get_running_loop().create_future()
            tls.when_drained(lambda: fut.done() or fut.set_result(OK))
            return fut
        return OK

    # ---- send window (windows.py) -------------------------------------------------
    def can_take_window(self) -> bool:
        """Whether a send call could only answer ok now: open for writing, and a packet
        type whose header holds any send a window allows ({packet, 1} and {packet, 2}
        refuse sends over 255 / 65535 bytes; 4 only over 4 GiB)."""
        return (not self.held and not self.closed and not self.write_closed
                and self.tls is not None and not self.tls.is_closing()
                and self.downgrading is None and self.delivery.packet not in _SMALL_HEADERS)

    def send_unreplied(self, data) -> int:
        """A send taken from the window: as ``send``, without a reply; returns its size."""
        payload = iodata_to_bytes(data)
        self._write(payload)
        return len(payload)

    def final_message(self, msg) -> None:
        self.service.windows.final_message(self, msg)

    def recv(self, length, timeout, reply=None):
        """The reply now, or a future of it; with ``reply`` given, a reply that has to
        wait is passed to ``reply`` when it is known (the shim's calls: no future,
        no extra loop step) and None is returned."""
        if not is_timeout(timeout):
            raise Raise(Atom("function_clause"))
        if not isinstance(length, int) or isinstance(length, bool) or length < 0:
            # ssl:recv/3 has no guard on Length: in raw mode such a recv is never
            # satisfied (OTP 25 times out, or crashes its connection once data is
            # there); here it waits for its timeout or the close, data left intact.
            length = _NEVER
        if self.closed:
            return error(CLOSED)
        if self.delivery.active is not False:
            return error(EINVAL)
        if self.tls is None:
            return error(CLOSED)
        loop = asyncio.get_running_loop()
        if reply is not None:
            box = []
            waiter = self.delivery.recv(length, box.append)
            if waiter is None:
                return box[0] if box else error(CLOSED)
            waiter.reply = reply      # the Recv replies exactly once
            secs = to_timeout(timeout)
            if secs is not None:
                waiter.timer = loop.call_later(secs, self.delivery.cancel, waiter)
            return None
        fut = loop.create_future()

        def set_reply(value):
            if not fut.done():
                fut.set_result(value)

        waiter = self.delivery.recv(length, set_reply)
        if fut.done():
            return fut.result()
        secs = to_timeout(timeout)
        if secs is not None and waiter is not None:
            waiter.timer = loop.call_later(secs, self.delivery.cancel, waiter)
        return fut

    # ---- close --------------------------------------------------------------
    def close(self, how):
        if isinstance(how, tuple):        # {NewController, Timeout}: give TCP back
            result = upgrade.downgrade(self, how[0], how[1])
            if result.__class__ is not tuple:        # it goes ahead
                self.service.windows.revoke(self)
            return result
        return super().close(how)

    def close_now(self):
        if self.closed:
            return
        self.service.windows.revoke(self)
        self.closed = True
        self.delivery.fail_waiters(CLOSED)
        self.delivery.closed_reported = True
        if self.tls is not None:
            self.tls.close()
        if self.opening is not None:      # a connect or handshake: it ends here
            self.opening.cancel()
        if self.pending_tcp is not None:
            self.pending_tcp.close()
            self.pending_tcp = None
        self.service.forget(self)

    def shutdown(self, how):
        if how not in (Atom("read"), Atom("write"), Atom("read_write")):
            raise Raise(Atom("function_clause"))
        if self.closed or self.tls is None:
            return error(CLOSED)
        if how is Atom("read_write"):
            self.close_now()
            return OK
        if how is Atom("write"):
            if not self.write_closed:
                self.service.windows.revoke(self)
                self.write_closed = True
                self.tls.shutdown_write()
            return OK
        # read: stop delivering to the owner; data that still arrives is dropped
        self.delivery.fail_waiters(CLOSED)
        return OK

    def controlling_process(self, new_owner: Pid):
        moved = new_owner.node is not self.owner.node
        if moved:           # the window is kept on the owner's node
            self.service.windows.revoke(self)
        self.service.change_owner(self, new_owner)
        self.delivery.owner = new_owner
        if moved:
            self.service.windows.grant(self)
        return OK

    # ---- options ------------------------------------------------------------
    def setopts(self, opts):
        if self.closed:
            return error(CLOSED)
        changes = parse(options.parse_setopts, opts, self.parsed.socket)
        if not isinstance(changes, list):
            return changes
        s, inet_changes = split_changes(changes)
        self._own_parsed()
        d = self.delivery
        if "active" in s and socket_options.active_overflows(d.active, s["active"]):
            return error((Atom("options"), (Atom("socket_options"), (Atom("active"), s["active"]))))
        if d.set_options(s):
            if d.packet in _SMALL_HEADERS:    # a send may now be refused (too big)
                self.service.windows.revoke(self)
            else:
                self.service.windows.grant(self)
        if inet_changes:
            sock = self._raw_socket()
            if sock is not None:
                inet.set_options(sock, inet_changes)
            elif upgrade.relayed(self.tls) is not None:     # the relay's gen_tcp socket
                asyncio.ensure_future(upgrade.relayed(self.tls).call_relay(
                    (Atom("setopts"), [(Atom(k), v) for k, v in inet_changes.items()])))
            self.parsed.inet.update(inet_changes)
        if "active" in s:
            d.set_active(s["active"], held=self.held)
        return OK

    # The parsed options are shared (with other connects of the same options, or
    # with the listen socket and its other accepted sockets) until a setopts: its OS
    # options (``inet``) are copied then. The emulated ones are the Delivery's own.
    _parsed_own = False

    def _own_parsed(self) -> None:
        if not self._parsed_own:
            p = self.parsed
            self.parsed = options.ParsedOptions(
                role=p.role, socket=p.socket, inet=dict(p.inet), ssl=p.ssl,
                files=p.files, given=p.given, inet_list=p.inet_list)
            self._parsed_own = True

    def getopts(self, names):
        if self.closed:
            return error(CLOSED)
        wanted = parse(options.parse_getopts, names)
        if not isinstance(wanted, list):
            return wanted
        sopts = self.delivery.opts.as_dict()
        sock = self._raw_socket()
        if sock is None and upgrade.relayed(self.tls) is not None:
            return upgrade.getopts(upgrade.relayed(self.tls), wanted, sopts)
        return (OK, inet.get_options(sock, wanted, sopts))

    def apply_os_options(self) -> None:
        """The caller's gen_tcp options on the established socket. The transport
        turns Nagle off for the handshake; afterwards ``nodelay`` is what the
        caller asked for, false by default as in gen_tcp."""
        opts = dict(self.parsed.inet)
        opts.setdefault("nodelay", False)
        inet.set_options(self._raw_socket(), opts)

    def _raw_socket(self):
        if self.tls is not None:
            return self.tls.socket()
        return self.pending_tcp

    # ---- information --------------------------------------------------------
    def peername(self):
        return self._address("getpeername")

    def sockname(self):
        return self._address("getsockname")

    def _address(self, which: str):
        sock = self._raw_socket()
        if self.closed:
            return error(EINVAL)
        if sock is None:
            # no OS socket here (a relayed upgrade): the transport knows the addresses
            addr = None if self.tls is None else \
                (self.tls.peername() if which == "getpeername" else self.tls.sockname())
            return error(EINVAL) if addr is None else (OK, inet.address_term(addr))
        try:
            return (OK, inet.address_term(getattr(sock, which)()))
        except OSError as exc:
            return error(inet.posix_atom(exc))

    def _engine(self):
        if self.closed or self.tls is None:
            return None
        return self.tls.engine

    def peercert(self):
        eng = self._engine()
        if eng is None:
            return error(CLOSED)
        der = eng.peer_cert_der()
        return (OK, der) if der else error(Atom("no_peercert"))

    def connection_info(self):
        eng = self._engine()
        if eng is None:
            return error(CLOSED)
        from . import ciphers
        suite = ciphers.suite_for(eng.cipher_name(), eng.version)
        return (OK, (Atom(eng.version), suite[0]))

    def connection_information(self, items):
        eng = self._engine()
        if eng is None:
            return error(CLOSED)
        from . import info
        return info.connection_information(eng, self, items)

    def negotiated_protocol(self, new_api):
        eng = self._engine()
        if eng is None:
            return error(CLOSED)
        proto = eng.alpn_protocol
        if proto:
            return (OK, proto)
        return error(Atom("protocol_not_negotiated") if new_api else Atom("next_protocol_not_negotiated"))

    def prf(self, secret, label, seed, length):
        eng = self._engine()
        if eng is None:
            return error(CLOSED)
        from . import info
        return info.prf(eng, secret, label, seed, length)

    def renegotiate(self):
        eng = self._engine()
        if eng is None:
            return error(CLOSED)
        return self.tls.renegotiate()


def packet_encode(packet, payload: bytes) -> bytes:
    if packet == 0 or packet == "raw":      # raw: the data as it is (most sends)
        return payload
    return encode_packet(packet, payload)
