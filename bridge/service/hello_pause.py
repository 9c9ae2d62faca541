"""``{handshake, hello}``: the handshake pauses after the peer's hello (ssl's
``user_hello`` state) and the owner decides how to go on. A server pauses after
the ClientHello, a client after the ServerHello.

ssl (``tls_connection:hello/3`` with ``continue_status = pause``) answers
``handshake(S, T)`` with ``{ok, S, Ext}``, ``Ext`` the ClientHello's extensions as
``ssl_handshake:decode_hello_extensions/4`` decodes them, and then waits for
``handshake_continue(S, Opts, T)`` (the handshake goes on with ``Opts`` processed
over the listen options: ``ssl:handle_options/3``) or ``handshake_cancel(S)`` (a
fatal user_canceled alert, and the connection ends).

Here a server's ClientHello is read from the TCP socket before OpenSSL sees
anything (``bridge.tls.transport.read_hello``); a client's TLS connection holds
the server's bytes back from OpenSSL until its ServerHello is complete
(``open_client(pause_hello=True)``, ``TLSConnection.resume``). The hello's extensions are decoded by that same
ssl function on the caller's node (so ``Ext`` is ssl's own map, records
included), and the bytes read are handed to the engine when the owner continues.
Bytes that are not a ClientHello, or extensions ssl cannot decode, are left to
OpenSSL at once, with the options the handshake had: it answers them with the
alert it would have sent anyway.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from bridge.etf.types import Atom
from bridge.tls import hello as tls_hello
from bridge.tls import transport

from . import hooks, options
from .errors import HANDSHAKE_FAILURES, failure_reply
from .options import SslOptionError
from .reply import Reply
from .sockbase import config_heavy, off_loop_if, off_loop_if_heavy
from .terms import CLOSED, OK, Raise, error, is_timeout, to_timeout

log = logging.getLogger(__name__)

RPC_TIMEOUT = 30.0
_HELLO = Atom("hello")
_BADRPC = Atom("badrpc")
# OTP's version tuples: the server decodes the hello with its highest version
# (tls_gen_connection:handle_unnegotiated_version/6 before any is negotiated)
_VERSION = {"tlsv1.3": (3, 4), "tlsv1.2": (3, 3), "tlsv1.1": (3, 2), "tlsv1": (3, 1)}


async def _extensions(sock, parsed, got, caller, msg: str):
    """ssl's ``Ext`` of a hello: ``ssl_handshake:decode_hello_extensions/4`` on the
    caller's node, then ``no_records``; None if ssl cannot decode them."""
    versions = parsed.ssl.get("versions") or ["tlsv1.3", "tlsv1.2"]
    highest = max(_VERSION.get(v, (3, 3)) for v in versions)
    ext = await sock.service.node.rpc(
        caller.node, Atom("ssl_handshake"), Atom("decode_hello_extensions"),
        [got.extensions, highest, got.legacy_version, Atom(msg)], timeout=RPC_TIMEOUT)
    if not isinstance(ext, dict):
        log.info("hello extensions not decoded: %r", ext)
        return None
    return {k: _no_record(v) for k, v in ext.items()}


@dataclass
class Paused:
    raw: bytes                          # what the client sent so far
    parsed: options.ParsedOptions       # the handshake's options
    files: dict                         # the files they name, read


def wants_pause(parsed: options.ParsedOptions) -> bool:
    return parsed.ssl.get("handshake") is _HELLO


async def pause(sock, parsed, files, cfg, timeout, caller):
    """``handshake/2,3`` with ``{handshake, hello}``: ``{ok, S, Ext}`` once the
    ClientHello is in, or the handshake's error."""
    csock = sock.pending_tcp
    try:
        got = await transport.read_hello(csock, timeout)
    except tls_hello.HelloError as exc:
        return await sock._accept(cfg, timeout, True, initial=exc.raw)
    except (transport.TLSClosed, asyncio.TimeoutError, TimeoutError, OSError) as exc:
        # the reply first, the TCP close once the caller has it (ssl_gen_statem's
        # stop_and_reply on the handshake timeout)
        return Reply(failure_reply(exc, "handshake"), sock.close_after_reply(), ack=True)
    ext = await _extensions(sock, parsed, got, caller, "client_hello")
    if ext is None:
        return await sock._accept(cfg, timeout, True, initial=got.raw)
    if sock.closed:
        return error(CLOSED)
    sock.paused = Paused(got.raw, parsed, files)
    return Reply((OK, sock.term, ext))


async def client_paused(sock, tls, parsed, files, caller):
    """``connect`` with ``{handshake, hello}``: the TLS connection ``tls`` stopped
    after the ServerHello (``tls_connection_1_3:wait_sh/3``, ``tls_connection:hello/3``
    with the pause): ``{ok, S, Ext}`` with the ServerHello's extensions."""
    sock.tls = tls
    ext = await _extensions(sock, parsed, tls.paused_hello, caller, "server_hello")
    if sock.closed:
        return error(CLOSED)
    sock.paused = Paused(b"", parsed, files)
    if ext is None:                    # OpenSSL answers what ssl cannot decode
        return await _client_resume(sock, tls.engine.cfg, None)
    return Reply((OK, sock.term, ext))


async def _client_resume(sock, cfg, timeout):
    sock.paused = None
    tls = sock.tls
    try:
        tls.engine.continue_with(cfg)
        await sock.establish(tls.resume(timeout))
    except HANDSHAKE_FAILURES as exc:
        return sock.handshake_failed(exc)
    if not sock.established(tls):
        return error(CLOSED)
    return Reply((OK, sock.term), sock.release, opens=sock)


# the records ssl_handshake:extension_value/1 takes the one field of
_EXT_RECORDS = frozenset(map(Atom, (
    "sni", "ec_point_formats", "elliptic_curves", "supported_groups", "hash_sign_algos", "alpn",
    "max_frag_enum", "next_protocol_negotiation", "srp", "renegotiation_info",
    "signature_algorithms", "signature_algorithms_cert", "key_share_client_hello",
    "key_share_server_hello", "client_hello_versions", "server_hello_selected_version",
    "pre_shared_key_client_hello", "pre_shared_key_server_hello", "psk_key_exchange_modes",
    "cookie")))


def _no_record(value):
    """ssl_gen_statem:no_records/1: what ``handshake/2`` gives the owner is each
    extension's value, not its record (``ssl_handshake:extension_value/1``)."""
    if isinstance(value, tuple) and len(value) == 2 and value[0] in _EXT_RECORDS:
        return value[1]
    return value


async def handshake_continue(sock, opts, timeout, caller):
    """``handshake_continue/2,3`` on a paused socket: the handshake goes on with
    ``opts`` over the paused options; ``{ok, S}`` or the handshake's error."""
    paused, sock.paused = sock.paused, None
    t = to_timeout(timeout) if is_timeout(timeout) else None
    try:
        if not isinstance(opts, list):
            raise Raise(Atom("function_clause"))
        parsed = await off_loop_if_heavy(opts, options.parse_handshake_options, opts, paused.parsed)
        sock.option_sources = parsed.sources      # connection_information/1 (pyssl_info)
        files = dict(paused.files)
        missing = [p for _, p in parsed.files if p not in files]
        if missing:
            files.update(await sock.service.read_files(caller, missing))
        cfg = await off_loop_if(config_heavy(parsed, files), options.build_tls_config,
                                parsed, sock.role, files)
        cfg = hooks.attach(cfg, parsed, sock.service, caller, files)
    except (SslOptionError, options.ErlangException) as exc:
        # ssl:handle_options/3 throws in the connection process, which dies of it
        # (bad_return_from_state_function): the caller's gen_statem:call exits
        sock.close_now()
        term = exc.term if isinstance(exc, SslOptionError) else (exc.cls, exc.reason)
        raise Raise(((Atom("bad_return_from_state_function"), term),
                     (Atom("gen_statem"), Atom("call"),
                      [sock.service.proc.pid, (Atom("handshake_continue"), opts, timeout), Atom("infinity")])),
                    Atom("exit")) from None
    if sock.role == "client":
        return await _client_resume(sock, cfg, t)
    return await sock._accept(cfg, t, True, initial=paused.raw)


def handshake_cancel(sock):
    """``handshake_cancel/1`` on a paused socket: ``ok``, and the connection ends.
    ssl's ``user_hello({call, From}, cancel, _)`` sends a fatal user_canceled alert
    first; the bridge writes no TLS record of its own and OpenSSL has no call that
    sends an alert of the caller's choice, so the peer sees the TCP connection close
    (its handshake fails with ``closed`` where ssl's peer gets the alert)."""
    sock.paused = None
    # the reply first, then the close, in ssl's order (user_hello answers the caller
    # and then ends the connection): the peer hears of the end after the caller has
    # ok. The socket is closed for later calls at once; its TCP connection ends once
    # the caller has the reply (Reply.ack: the shim acknowledges it, see
    # service.SslService._run)
    return Reply(OK, sock.close_after_reply(), ack=True)
