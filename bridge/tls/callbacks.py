"""OpenSSL's per-connection callbacks that ask the connection's configuration: SNI
(``sni_hosts``/``sni_fun``) and PSK (``user_lookup_fun``).

They are installed on contexts (``bridge.tls.context``) and find the connection's
engine (``bridge.tls.engine``) through the connection's app data, which the engine
sets when its configuration needs them; neither module is imported here, so the
context and the engine do not import each other.
"""
from __future__ import annotations

import logging
from typing import Optional

from OpenSSL import SSL

from . import ossl
from .config import TLSConfig

log = logging.getLogger(__name__)


def on_servername(conn) -> None:
    """OpenSSL's servername callback (set on every server context; a no-op unless
    the connection's engine has ``sni_configs`` or an ``sni_hook``):
    switch to the context of the host the client named, if one is configured.
    A name with no entry keeps the listen socket's certificate, as in OTP; a
    failing sni_fun ends the connection.

    It also turns session tickets off, as ssl's session_tickets default (disabled)
    has it: OpenSSL sends TLS 1.3 tickets unless SSL_CTX_set_num_tickets(0), which
    the bindings lack, and a context with SSL_OP_NO_TICKET still sends (stateful)
    ones. Setting the option here, in the servername step of the ClientHello, makes
    OpenSSL (final_server_name) drop the ticket it planned: no NewSessionTicket
    in TLS 1.3, no ticket extension in TLS 1.2. ``stateless`` and ``stateful``
    keep OpenSSL's tickets (the context's app data says which; bridge.tls.context)."""
    tickets = conn.get_context().get_app_data() not in ("stateless", "stateful")
    if tickets:
        conn.set_options(SSL.OP_NO_TICKET)
    engine = conn.get_app_data()          # set only when the server has SNI settings
    if engine is None:
        return
    raw = conn.get_servername()
    if not raw:
        return
    name = raw.decode("ascii", "replace")
    host_cfg = engine.cfg.sni_configs.get(name)
    if host_cfg is None and engine.cfg.sni_hook is not None:
        try:
            host_cfg = engine.cfg.sni_hook(name)       # sni_fun: may wait for Erlang
        except Exception as exc:
            log.warning("sni_fun for %r failed: %r", name, exc)
            engine.sni_error = exc                       # ends the handshake, see do_handshake
            return
    if host_cfg is not None and engine.version not in host_cfg.versions:
        # ssl negotiates the version again with the host's own versions
        # (ssl_gen_statem:handle_sni_extension/2, then the hello's version check);
        # libssl chose it before this callback (ssl_choose_server_version runs first)
        # and the bindings have no client hello callback to choose earlier: a
        # version the host's options exclude ends the connection, not run anyway
        log.warning("server name %r: versions %r exclude the negotiated %s", name,
                    host_cfg.versions, engine.version)
        engine.sni_error = ValueError(f"sni versions {host_cfg.versions!r} exclude {engine.version}")
        return
    if host_cfg is not None:
        conn.set_context(engine.context_for(host_cfg))
        engine.switched_to(host_cfg)
        if tickets:
            conn.set_options(SSL.OP_NO_TICKET)


def _psk_key(conn, identity: Optional[bytes], limit: int) -> Optional[tuple]:
    """(engine, key) from the connection's PSK hook, or None (and the engine marked)."""
    engine = conn.get_app_data() if conn is not None else None
    if engine is None or engine.cfg.psk_hook is None:
        return None
    try:
        key = engine.cfg.psk_hook(identity)
    except Exception as exc:
        log.warning("user_lookup_fun for %r failed: %r", identity, exc)
        key = None
    if not isinstance(key, (bytes, bytearray)) or not 0 < len(key) <= limit:
        engine.psk_failed = True
        return None
    return engine, bytes(key)


def _psk_client(conn, hint, max_identity_len: int, max_psk_len: int):
    got = _psk_key(conn, hint, max_psk_len)
    if got is None:
        return None
    engine, key = got
    ident = engine.cfg.psk_identity or b"psk_identity"      # what OTP sends without one
    if len(ident) >= max_identity_len:
        engine.psk_failed = True
        return None
    return ident, key


def _psk_server(conn, identity, max_psk_len: int):
    got = _psk_key(conn, identity, max_psk_len)
    return None if got is None else got[1]


def install_psk_callbacks(ctx: SSL.Context, cfg: TLSConfig) -> None:
    """PSK key exchange on a context (before its first connection): the callbacks ask
    the connection's ``psk_hook``; a server also sends its hint (``psk_identity``)."""
    if cfg.role == "client":
        ossl.set_psk_client(ctx, _psk_client)
    else:
        ossl.set_psk_server(ctx, _psk_server, cfg.psk_identity)


def on_keylog(conn, line: bytes) -> None:
    """OpenSSL's keylog callback (set on contexts whose configuration has
    ``keep_secrets``): one NSS key log line, handed to the connection's engine,
    which the engine set as the connection's app data. Never raises (a C callback)."""
    engine = conn.get_app_data() if conn is not None else None
    if engine is not None:
        engine.record_secret(line)
