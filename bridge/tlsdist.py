"""Distribution over TLS, compatible with OTP's ``inet_tls_dist`` (``-proto_dist inet_tls``).

What ``inet_tls_dist`` does on the wire, and so what this does:

* EPMD registration and lookup are those of plain TCP (the port is the TLS port);
* the TCP connection carries TLS from its first byte (``ssl:handshake/3`` on the
  accepted socket, ``ssl:connect/4`` out), then the ordinary version 6 handshake —
  cookie challenge and all — inside TLS, but every handshake message with a 4-byte
  length (the ssl socket is ``{packet, 4}`` from the start: ``inet_tls_dist:gen_listen``,
  ``do_setup_connect``), then the usual 4-byte frames;
* the client sends the host part of the peer's node name as SNI and, with
  ``verify_peer``, checks the server's certificate against it (``do_setup_connect``'s
  ``{server_name_indication, Address}``);
* the server verifies the client only when configured (``server_verify verify_peer``,
  ``server_fail_if_no_peer_cert true`` in an ``ssl_dist_optfile``);
* TLS only adds an outer wall: a connection is still refused without the cookie.

The TLS itself is the bridge's own engine (``bridge.tls``: pyOpenSSL over memory
BIOs, ``tls.transport.TLSConnection``), the one the ssl service uses; ``_Channel``
makes a ``TLSConnection`` look like the asyncio transport ``node.connection.Connection``
expects, so the distribution code runs unchanged over it. The node layer imports
nothing of ``bridge.tls``: this module joins the two (``bridge.node.carrier``).
"""
from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from bridge.node.connection import Connection
from bridge.service.errors import tls_alert_parts
from bridge.service.options.pem import _certs_from_file, _key_pem_from_file
from bridge.tls.config import ALL_VERSIONS, TLSConfig
from bridge.tls.context import CONTEXTS, ContextError
from bridge.tls.engine import TLSAlertError, TLSClosed, TLSEngine
from bridge.tls.transport import TLSConnection

log = logging.getLogger("bridge.tlsdist")

# inet_tls_dist's handshake runs on a {packet, 4} ssl socket
HANDSHAKE_HEADER = 4
# plaintext one loop iteration may hand to the engine before the distribution
# connection is told to pause (a 64 MiB frame is written in pieces up to this)
WRITE_HIGH = 1 << 20


class DistTLSError(Exception):
    """The TLS distribution settings cannot be used (a file, a key, a value)."""


@dataclass
class DistTLSOptions:
    """The settings of an ``ssl_dist_optfile``, for both roles (its ``server_*`` and
    ``client_*`` options usually name the same files): certfile, keyfile, cacertfile,
    password, verify, depth, versions; ``fail_if_no_peer_cert`` is the server's."""
    certfile: str
    keyfile: Optional[str] = None          # None: the key is in certfile
    cacertfile: Optional[str] = None
    password: Optional[str] = None
    verify: str = "verify_peer"            # "verify_peer" | "verify_none"
    fail_if_no_peer_cert: bool = True
    depth: int = 10
    versions: tuple = ("tlsv1.3", "tlsv1.2")
    # client with verify_peer: check the server's certificate against the host part of
    # its node name, as ssl does with inet_tls_dist's server_name_indication
    hostname_check: bool = True

    def check(self) -> None:
        if self.verify not in ("verify_peer", "verify_none"):
            raise DistTLSError(f"verify must be verify_peer or verify_none, not {self.verify!r}")
        if self.fail_if_no_peer_cert and self.verify != "verify_peer":
            # ssl refuses the same pair: {options, incompatible, [{verify, verify_none},
            # {fail_if_no_peer_cert, true}]}
            raise DistTLSError("fail_if_no_peer_cert needs verify = verify_peer")
        if self.verify == "verify_peer" and not self.cacertfile:
            raise DistTLSError("verify_peer needs a CA file (cacertfile) to verify peers with")
        bad = [v for v in self.versions if v not in ALL_VERSIONS]
        if bad or not self.versions:
            raise DistTLSError(f"versions must be among {', '.join(ALL_VERSIONS)}, not {bad or '[]'}")
        if not isinstance(self.depth, int) or self.depth < 0:
            raise DistTLSError(f"depth must be a non-negative integer, not {self.depth!r}")


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise DistTLSError(f"cannot read the {what} {path}: {exc.strerror or exc}") from None


def configs(opts: DistTLSOptions) -> tuple[TLSConfig, TLSConfig]:
    """The server and client ``TLSConfig`` of ``opts``, files read and the contexts
    built now, so that a bad setting stops the bridge at start (DistTLSError)."""
    opts.check()
    try:
        chain = _certs_from_file(_read(opts.certfile, "certificate file"))
    except ValueError:
        raise DistTLSError(f"no usable certificate in {opts.certfile}") from None
    if not chain:
        raise DistTLSError(f"no certificate in {opts.certfile}")
    key_file = opts.keyfile or opts.certfile
    key_pem = _key_pem_from_file(_read(key_file, "key file"))
    if key_pem is None:
        raise DistTLSError(f"no private key in {key_file}")
    cacerts: list[bytes] = []
    if opts.cacertfile:
        try:
            cacerts = _certs_from_file(_read(opts.cacertfile, "CA file"))
        except ValueError:
            raise DistTLSError(f"no usable certificate in the CA file {opts.cacertfile}") from None
        if not cacerts:
            raise DistTLSError(f"no certificate in the CA file {opts.cacertfile}")
    common = dict(versions=tuple(opts.versions), verify=opts.verify, depth=opts.depth,
                  cert_chain=chain, key_pem=key_pem, cacerts=cacerts,
                  password=opts.password.encode() if opts.password else None,
                  reuse_sessions=False)
    server = TLSConfig(role="server", fail_if_no_peer_cert=opts.fail_if_no_peer_cert, **common)
    client = TLSConfig(role="client", **common)
    for cfg in (server, client):
        try:
            CONTEXTS.get(cfg)
        except ContextError as exc:
            raise DistTLSError(str(exc)) from None
    return server, client


class _Channel:
    """A ``TLSConnection`` seen as the asyncio transport of a distribution
    ``Connection``, and the ``TLSConnection``'s receiver: plaintext both ways.

    Plaintext that arrives before the ``Connection`` is attached (the client's first
    handshake message can come with its TLS Finished) is kept and handed over then."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.tls: Optional[TLSConnection] = None
        self.conn: Optional[Connection] = None
        self._early: list[bytes] = []
        self._ended = False            # the TLS connection (its socket) is gone
        self._reading = True
        self._written = 0              # plaintext written in this loop iteration
        self._check_scheduled = False
        self._conn_paused = False
        self._told = False             # conn.connection_lost called (once)

    def attach(self, conn: Connection) -> None:
        self.conn = conn
        conn.connection_made(self)
        early, self._early = self._early, []
        for data in early:
            if not conn.closed:
                conn.data_received(data)
        if self._ended or (self.tls is not None and self.tls.is_closing()):
            self._lost()

    # -- receiver of the TLSConnection
    def data_received(self, data: bytes) -> None:
        if self.conn is None:
            self._early.append(data)
        else:
            self.conn.data_received(data)

    def eof_received(self) -> None:
        # the peer closed (close_notify or TCP FIN): a distribution connection has
        # no half-close, so this is its end
        if self.tls is not None:
            self.tls.close()

    def connection_failed(self, exc) -> None:
        who = self._who()
        log.warning("TLS distribution connection with %s failed: %s", who, _why(exc),
                    extra={"fields": {"event": "tls_dist_failed", "peer": who,
                                      "alert": _alert_name(exc)}})

    def connection_lost(self) -> None:
        self._ended = True
        self._lost()

    def _lost(self) -> None:
        conn = self.conn
        if conn is not None and not self._told:
            self._told = True
            conn.connection_lost(None)

    def _who(self) -> str:
        if self.conn is not None and self.conn.hs.peer_name:
            return self.conn.hs.peer_name
        peer = self.tls.peername() if self.tls is not None else None
        return f"{peer[0]}:{peer[1]}" if peer else "?"

    # -- the transport of the Connection
    def write(self, data) -> None:
        tls = self.tls
        if tls is None or tls.is_closing():
            return
        tls.write(data)
        self._written += len(data)
        if self._written >= WRITE_HIGH and not self._conn_paused and self.conn is not None:
            # the engine encrypts at the end of this iteration: stop the connection
            # handing it more (a big frame's pieces) until that is on the wire
            self._conn_paused = True
            self.conn.pause_writing()
        if not self._check_scheduled:
            self._check_scheduled = True
            self.loop.call_soon(self._after_flush)   # after TLSConnection's own flush

    def _after_flush(self) -> None:
        self._check_scheduled = False
        self._written = 0
        tls = self.tls
        if tls.write_paused():
            if not self._conn_paused and self.conn is not None:
                self._conn_paused = True
                self.conn.pause_writing()
            tls.when_drained(self._drained)
        elif self._conn_paused:
            self._drained()

    def _drained(self) -> None:
        if self._conn_paused:
            self._conn_paused = False
            if self.conn is not None and not self.conn.closed:
                self.conn.resume_writing()

    def close(self) -> None:
        if self.tls is not None:
            self.tls.close()

    def abort(self) -> None:
        # invalid data from an authenticated peer: no close_notify, close the socket now
        t = self.tls.transport if self.tls is not None else None
        if t is not None:
            t.abort()

    def is_closing(self) -> bool:
        return self.tls is None or self.tls.is_closing()

    def pause_reading(self) -> None:
        self._reading = False
        if self.tls is not None:
            self.tls.pause_reading()

    def resume_reading(self) -> None:
        self._reading = True
        if self.tls is not None:
            self.tls.resume_reading()

    def is_reading(self) -> bool:
        return self._reading

    def get_extra_info(self, name: str, default=None):
        if self.tls is None:
            return default
        if name == "socket":
            return self.tls.socket()
        if name == "peername":
            return self.tls.peername()
        if name == "sockname":
            return self.tls.sockname()
        if name == "tls":
            return self.tls.engine
        return default

    def get_write_buffer_size(self) -> int:
        return self.tls.write_buffer_size() if self.tls is not None else 0


class TLSCarrier:
    """``inet_tls_dist``: TLS from the first byte, the handshake with 4-byte prefixes.
    A node with this carrier accepts and dials TLS only (as an Erlang node started
    with ``-proto_dist inet_tls`` does)."""
    name = "tls"

    def __init__(self, opts: DistTLSOptions):
        self.opts = opts
        self.server_cfg, self.client_cfg = configs(opts)
        self._accepting: set = set()     # handshakes in progress (tasks kept referenced)

    async def listen(self, node, host: str, port: int):
        loop = asyncio.get_running_loop()

        def accepted():
            chan = _Channel(loop)
            tls = TLSConnection(TLSEngine(CONTEXTS.get(self.server_cfg), self.server_cfg), chan, loop)
            chan.tls = tls
            task = loop.create_task(self._accept(node, chan, tls))
            self._accepting.add(task)
            task.add_done_callback(self._accepting.discard)
            return tls
        return await loop.create_server(accepted, host, port)

    async def _accept(self, node, chan: _Channel, tls: TLSConnection) -> None:
        try:
            await asyncio.wait_for(asyncio.shield(tls.handshake), node.handshake_timeout)
        except (TLSAlertError, TLSClosed, asyncio.TimeoutError, OSError) as exc:
            peer = tls.peername()
            who = f"{peer[0]}:{peer[1]}" if peer else "?"
            # json logs carry these as fields (bridge.logsetup): alerts by peer, scanners
            log.warning("TLS distribution handshake from %s failed: %s", who, _why(exc),
                        extra={"fields": {"event": "tls_dist_handshake_failed", "peer": who,
                                          "alert": _alert_name(exc)}})
            _give_up(tls)
            return
        _log_established(tls, "from")
        chan.attach(Connection(node, hs_header=HANDSHAKE_HEADER))

    async def connect(self, node, peer: str, host: str, port: int, timeout: float) -> Connection:
        """TCP, TLS as a client (SNI and, with verify_peer, the certificate checked
        against ``host``, the host part of ``peer``), then the distribution handshake
        as initiator. ConnectionError if TLS fails."""
        loop = asyncio.get_running_loop()
        cfg = self.client_cfg
        # the engine sends no SNI for an IP literal (RFC 6066) but checks it as an IP
        cfg = dataclasses.replace(
            cfg, server_name_indication=host,
            hostname_check=host if self.opts.hostname_check and cfg.verify == "verify_peer" else None)
        chan = _Channel(loop)
        tls = TLSConnection(TLSEngine(CONTEXTS.get(cfg), cfg, (host, port)), chan, loop)
        chan.tls = tls

        async def run():
            await loop.create_connection(lambda: tls, host, port)
            await tls.handshake
        try:
            await asyncio.wait_for(run(), timeout)
        except (TLSAlertError, TLSClosed) as exc:
            _give_up(tls)
            raise ConnectionError(f"TLS with {peer} failed: {_why(exc)}") from None
        except BaseException:
            _give_up(tls)
            raise
        _log_established(tls, "to")
        conn = Connection(node, initiator_for=peer, hs_header=HANDSHAKE_HEADER)
        chan.attach(conn)
        return conn


def _log_established(tls: TLSConnection, direction: str) -> None:
    if log.isEnabledFor(logging.DEBUG):
        peer = tls.peername()
        log.debug("TLS distribution %s %s: %s %s", direction,
                  f"{peer[0]}:{peer[1]}" if peer else "?", tls.engine.version,
                  tls.engine.cipher_name())


def _give_up(tls: TLSConnection) -> None:
    """Close a connection whose TLS handshake failed or timed out; its handshake
    future ends later (when the socket is gone) with no one left to read it."""
    if not tls.handshake.done():
        tls.handshake.add_done_callback(lambda f: f.cancelled() or f.exception())
    if tls.transport is not None:
        tls.transport.abort()


def _alert_name(exc) -> Optional[str]:
    """OTP's name of a failure's TLS alert (unknown_ca...), None if it had none."""
    return tls_alert_parts(exc)[0] if isinstance(exc, TLSAlertError) else None


def _why(exc) -> str:
    """A TLS failure as an Erlang operator reads it in ssl's own logs
    (``ssl_alert:reason_code/4``'s text, e.g. "... Fatal - Unknown CA")."""
    if isinstance(exc, TLSAlertError):
        name, text = tls_alert_parts(exc)
        return f"{name}: {' '.join(text.split())}"
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


def is_loopback(host: str) -> bool:
    """Whether listening on ``host`` keeps distribution on this machine: a loopback
    address or ``localhost``; anything else (``0.0.0.0``, ``::``, a host name, a LAN
    address) is reachable from the network."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
