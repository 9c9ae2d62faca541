"""OpenSSL's per-connection callbacks that ask the connection's configuration: SNI
(``sni_hosts``/``sni_fun``) and PSK (``user_lookup_fun``).

They are installed on contexts (``bridge.tls.context``) and find the connection's
engine (``bridge.tls.engine``) through the connection's app data, which the engine
sets when its configuration needs them; neither module is imported here, so the
context and the engine do not import each other.
"""
from __future__ import annotations

import dataclasses
import logging
import weakref
from typing import Optional

from OpenSSL import SSL

from . import alerts, certalts, ossl
from .config import TLSConfig
from .hello import (PRE_SHARED_KEY, SIGNATURE_ALGORITHMS, SIGNATURE_ALGORITHMS_CERT, SUPPORTED_GROUPS,
                    SUPPORTED_VERSIONS, supported_versions, u16_list)

# the key exchange groups when no eccs / supported_groups are given (bridge.tls.context)
DEFAULT_GROUPS = "X25519:P-256:P-384:P-521:X448"

log = logging.getLogger(__name__)


def on_servername(conn, engine) -> Optional[int]:
    """OpenSSL's servername callback (set on every server context, run for every
    ClientHello, SNI or not; ``engine``: the connection's, bridge.tls.ossl finds it):
    switch to the context of the host the client named, if one is configured, then
    judge the hello as ssl's server would (``engine.refuse_hello``): the alert to
    end the handshake with, or None to go on.
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
    if engine is None:
        return None
    if engine.refusal is not None and not engine.handshake_done:
        return _INSUFFICIENT_SECURITY                    # judged before OpenSSL read it: judge_tls13_suites
    host_cfg = None
    raw = conn.get_servername()
    if raw:
        host_cfg = sni_config(engine, raw.decode("ascii", "replace"))
        if engine.sni_error is not None:
            return None                                  # ends the handshake, see do_handshake
    if host_cfg is not None and engine.version not in host_cfg.versions:
        # ssl negotiates the version again with the host's own versions
        # (ssl_gen_statem:handle_sni_extension/2, then the hello's version check);
        # the engine applies them before OpenSSL reads the hello (TLSEngine._release_hello),
        # so this is a host the engine could not know then: a version the host's
        # options exclude ends the connection, not run anyway
        log.warning("server name %r: versions %r exclude the negotiated %s", raw,
                    host_cfg.versions, engine.version)
        engine.sni_error = ValueError(f"sni versions {host_cfg.versions!r} exclude {engine.version}")
        return None
    if host_cfg is not None:
        conn.set_context(engine.context_for(host_cfg))
        engine.switched_to(host_cfg)
        if tickets:
            conn.set_options(SSL.OP_NO_TICKET)
    return refuse_hello(engine, host_cfg or engine.cfg)


def sni_config(engine, name: str) -> Optional[TLSConfig]:
    """The configuration of the host ``name`` for the engine's connection
    (sni_hosts, else sni_fun: asked once per connection, and may wait for Erlang),
    or None: the listen socket's. A failing sni_fun sets ``engine.sni_error``."""
    if engine._sni_host is not None and engine._sni_host[0] == name:
        return engine._sni_host[1]
    cfg = engine.cfg
    host_cfg = cfg.sni_configs.get(name)
    if host_cfg is None and cfg.sni_hook is not None:
        try:
            host_cfg = cfg.sni_hook(name)       # sni_fun: may wait for Erlang
        except Exception as exc:
            log.warning("sni_fun for %r failed: %r", name, exc)
            engine.sni_error = exc               # ends the handshake, see do_handshake
            host_cfg = None
    engine._sni_host = (name, host_cfg)
    return host_cfg


_INSUFFICIENT_SECURITY = 71


def refuse_hello(engine, cfg: TLSConfig) -> Optional[int]:
    """In the servername callback: insufficient_security when ssl's server would
    refuse the engine's ClientHello with it and libssl fails it too
    (bridge.tls.alerts; ``cfg``: the options of the host the client named, whose
    context the connection now has); None: go on. The reason goes to ``engine.refusal``."""
    hello = engine.client_hello
    if hello is None or engine.handshake_done or engine.reuse_failed:
        return None                 # (a failed reuse_session fun has its own alert)
    exts = hello.ext_map()
    # the judgement is a function of the context (its suites, its certificate's key),
    # the options' pairs, schemes and groups, the version and what the hello offers:
    # the same client sends the same, so it is made once per context and offer
    sigalgs, groups = exts.get(SIGNATURE_ALGORITHMS), exts.get(SUPPORTED_GROUPS)
    sigalgs_cert, psk = exts.get(SIGNATURE_ALGORITHMS_CERT), PRE_SHARED_KEY in exts
    memo_key = (cfg.cert_alts, cfg.sigalgs, cfg.groups, engine.version, hello.cipher_suites,
                sigalgs, groups, sigalgs_cert, psk)
    memo = _memo(engine.conn.get_context())
    reason = memo.get(memo_key, memo)
    if reason is memo:
        reason = _judge(engine, cfg, hello, sigalgs, groups, sigalgs_cert, psk)
        _remember(memo, memo_key, reason)
    if reason is None:
        return None
    engine.refusal = reason
    return _INSUFFICIENT_SECURITY


# refuse_hello's and judge_tls13_suites' judgements by context, then by offer
# (bounded: an offer a client varies, as a test does, must not grow it without end)
_JUDGED: "weakref.WeakKeyDictionary[SSL.Context, dict]" = weakref.WeakKeyDictionary()
_JUDGED_MAX = 64


def _memo(ctx: SSL.Context) -> dict:
    memo = _JUDGED.get(ctx)
    if memo is None:
        memo = _JUDGED[ctx] = {}
    return memo


def _remember(memo: dict, key, value) -> None:
    if len(memo) >= _JUDGED_MAX:
        memo.clear()
    memo[key] = value


def _judge(engine, cfg: TLSConfig, hello, sigalgs, groups, sigalgs_cert, psk) -> Optional[str]:
    codes = hello.suite_codes()
    enabled = ossl.enabled_suites(engine.conn, codes)
    # several certs_keys pairs (bridge.tls.certalts): the context holds none, the
    # certificate callback installs one; ssl refuses only if no pair would do
    keys = [ossl.key_of_cert(p.cert) for p in certalts.load_pairs(cfg.cert_alts)] \
        if cfg.cert_alts else [ossl.own_key(engine.conn)]
    reason = None
    for key in keys:
        reason = alerts.insufficient_security(
            engine.version, codes, enabled, key, u16_list(sigalgs), u16_list(groups),
            alerts.names_to_codes(cfg.sigalgs, alerts.SCHEMES),
            alerts.names_to_codes(cfg.groups or DEFAULT_GROUPS, alerts.GROUPS),
            psk_offered=psk, client_sigalgs_cert=u16_list(sigalgs_cert))
        if reason is None:
            return None
    return reason


# every TLS 1.3 suite libssl has (the context judge_tls13_suites lends a connection)
_ALL_TLS13 = ("TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:"
              "TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256")


def judge_tls13_suites(engine) -> None:
    """Before OpenSSL reads the engine's (whole) ClientHello: a TLS 1.3 hello with no
    suite the server has is refused by ssl with insufficient_security
    (tls_handshake_1_3:select_cipher_suite/3, no_suitable_cipher). libssl chooses a
    TLS 1.3 suite before its servername callback runs, and fails with handshake_failure
    there; so the connection borrows a context with every TLS 1.3 suite (the server's
    options otherwise), and the callback refuses the hello with the right alert."""
    hello = engine.client_hello
    versions = supported_versions(hello.ext_map().get(SUPPORTED_VERSIONS))
    if not versions or 0x0304 not in versions:
        return
    host = engine._sni_host[1] if engine._sni_host is not None else None
    cfg = host or engine.cfg
    if "tlsv1.3" not in cfg.versions or (cfg.ciphersuites_13 == "" and len(cfg.versions) > 1):
        return                                  # the server speaks TLS 1.2 at most (bridge.tls.context)
    # whether the context enables a TLS 1.3 suite the hello offers: once per
    # context and offer, as refuse_hello's judgement
    memo = _memo(engine.conn.get_context())
    key = ("tls13_suites", hello.cipher_suites)
    has13 = memo.get(key)
    if has13 is None:
        has13 = any(proto == "TLSv1.3"
                    for _name, proto in ossl.enabled_suites(engine.conn, hello.suite_codes()).values())
        _remember(memo, key, has13)
    if has13:
        return
    engine.refusal = "no_suitable_cipher"
    engine.conn.set_context(engine.context_for(dataclasses.replace(cfg, ciphersuites_13=_ALL_TLS13)))


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
