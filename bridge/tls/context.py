"""OpenSSL contexts built from a ``TLSConfig``; cached, since building one is costly."""
from __future__ import annotations

import threading
from typing import Optional

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL, crypto

from . import certalts, ossl, sessions
from .callbacks import DEFAULT_GROUPS, install_psk_callbacks, on_keylog, on_servername
from .config import TLSConfig

_VERSION_CONST = {
    "tlsv1": SSL.TLS1_VERSION,
    "tlsv1.1": SSL.TLS1_1_VERSION,
    "tlsv1.2": SSL.TLS1_2_VERSION,
    "tlsv1.3": SSL.TLS1_3_VERSION,
}
_OP_ALLOW_CLIENT_RENEGOTIATION = 1 << 8       # OpenSSL >= 3.0
_OP_ALLOW_UNSAFE_LEGACY_RENEGOTIATION = 1 << 18
_MODE_ACCEPT_MOVING_WRITE_BUFFER = 2
_MODE_RELEASE_BUFFERS = 0x10
_MODE_SEND_CLIENTHELLO_TIME = 0x20
_MODE_SEND_SERVERHELLO_TIME = 0x40
_MODE_SEND_FALLBACK_SCSV = 0x80
_ORDER = ["tlsv1", "tlsv1.1", "tlsv1.2", "tlsv1.3"]
# OTP 25's default signature schemes (ssl:signature_algs/2 default, TLS 1.3 and 1.2)
_OTP25_SIGALGS = (b"ECDSA+SHA512:ECDSA+SHA384:ECDSA+SHA256:ed25519:ed448:"
                  b"rsa_pss_pss_sha512:rsa_pss_pss_sha384:rsa_pss_pss_sha256:"
                  b"rsa_pss_rsae_sha512:rsa_pss_rsae_sha384:rsa_pss_rsae_sha256:"
                  b"RSA+SHA512:RSA+SHA384:RSA+SHA256")
# the DHE-DSS suites of ssl:cipher_suites(default, 'tlsv1.2') (OTP 25)
_OTP25_DSS = ("DHE-DSS-AES256-GCM-SHA384:DHE-DSS-AES256-SHA256:DHE-DSS-AES128-GCM-SHA256:"
              "DHE-DSS-AES128-SHA256")


# A server's DH group when no dh/dhfile is given: ssl then uses its built-in 2048-bit
# group (?DEFAULT_DIFFIE_HELLMAN_PARAMS) and DHE suites work; OpenSSL has none unless
# told (SSL_CTX_set_dh_auto is not bound). This is RFC 7919's ffdhe2048, as
# `openssl genpkey -genparam -algorithm DH -pkeyopt group:ffdhe2048` writes it.
_DEFAULT_DH = b"""-----BEGIN DH PARAMETERS-----
MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==
-----END DH PARAMETERS-----
"""


class NoALPNOverlap(SSL.Error):
    """Raised from the ALPN selection callback when client and server share no protocol."""


class ContextError(Exception):
    """The configuration cannot be turned into a context (bad key, bad cipher list...)."""


# cryptography's RSA private-key consistency check costs ~60 ms per 2048-bit key; OpenSSL
# does not do it when loading keys either, and check_privatekey() below still proves the
# key belongs to the certificate.
_FAST = {"unsafe_skip_rsa_key_validation": True}


def _load_key(cfg: TLSConfig):
    if cfg.key_der is not None:
        try:
            key = serialization.load_der_private_key(cfg.key_der, password=cfg.password, **_FAST)
        except (ValueError, TypeError) as exc:
            raise ContextError(f"bad key: {exc}") from None
        return key
    if cfg.key_pem is not None:
        try:
            key = serialization.load_pem_private_key(cfg.key_pem, password=cfg.password, **_FAST)
        except (ValueError, TypeError) as exc:
            raise ContextError(f"bad key: {exc}") from None
        return key
    return None


def _x509(der: bytes):
    """A certificate object OpenSSL can use. `cryptography` refuses some encodings
    that OpenSSL and OTP accept (ECDSA signature algorithms with parameters, as
    public_key:pkix_test_data/1 makes them); those go through OpenSSL's parser."""
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:
        return crypto.load_certificate(crypto.FILETYPE_ASN1, der)


def _store_x509(der: bytes):
    return crypto.load_certificate(crypto.FILETYPE_ASN1, der)


def config_key(cfg: TLSConfig) -> Optional[tuple]:
    """Everything that shapes the context, as a hashable tuple (None: must not be shared).

    Per-connection settings are not part of it: the verify callback and hook, SNI and the
    hostname check are installed on each ``SSL`` object by the engine, so configurations
    differing only in those share a context (a listen socket's context serves every
    accepted connection). A plain tuple: hashing it costs ~1 us per connect, where a
    digest of its ``repr`` cost ~50 us (the DER blobs dominate)."""
    return (cfg.role, tuple(cfg.versions), cfg.cipher_list, cfg.ciphersuites_13, cfg.verify,
            cfg.depth, cfg.fail_if_no_peer_cert, tuple(cfg.cert_chain), cfg.key_der,
            cfg.key_pem, cfg.password, tuple(cfg.cacerts), cfg.dh_pem,
            cfg.secure_renegotiate, cfg.reuse_sessions, cfg.session_tickets, tuple(cfg.alpn_advertised),
            tuple(cfg.alpn_preferred), cfg.psk, cfg.psk_identity, cfg.honor_cipher_order,
            cfg.client_renegotiation, cfg.ca_names, cfg.split_records, cfg.fallback,
            cfg.sigalgs, cfg.groups, cfg.keep_secrets, cfg.session_id_context,
            cfg.early_data is True, cfg.cert_alts)


class ContextCache:
    def __init__(self, size: int = 64):
        self._cache: dict[tuple, SSL.Context] = {}
        self._size = size
        self._lock = threading.Lock()

    def get(self, cfg: TLSConfig) -> SSL.Context:
        key = config_key(cfg)
        if key is None:
            return build_context(cfg)
        with self._lock:
            ctx = self._cache.get(key)
        if ctx is None:
            ctx = build_context(cfg)
            with self._lock:
                if len(self._cache) >= self._size:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[key] = ctx
        return ctx


CONTEXTS = ContextCache()


def build_context(cfg: TLSConfig) -> SSL.Context:
    ctx = SSL.Context(SSL.TLS_METHOD)
    if cfg.role == "server":
        # sni_hosts switches the context per connection in this callback, which also
        # judges the hello as ssl's server would (callbacks.on_servername); set before
        # the context makes its first connection
        ossl.set_servername_callback(ctx, on_servername)
    if cfg.psk:
        install_psk_callbacks(ctx, cfg)
    if cfg.keep_secrets:
        # SSL_CTX_set_keylog_callback: OpenSSL reports each TLS 1.3 secret as it
        # derives it; the engine keeps them (ssl's keep_secrets, see TLSEngine)
        ctx.set_keylog_callback(on_keylog)
    versions = [v for v in _ORDER if v in cfg.versions] or ["tlsv1.2", "tlsv1.3"]
    if cfg.ciphersuites_13 == "" and len(versions) > 1 and versions[-1] == "tlsv1.3":
        # the caller's ciphers hold no TLS 1.3 suite: OpenSSL would refuse to send a
        # hello at all ("no ciphers available"); ssl's hello carries no TLS 1.3 suite
        # either, so no TLS 1.3 session can come of it: TLS 1.2 at most
        versions = versions[:-1]
    ctx.set_min_proto_version(_VERSION_CONST[versions[0]])
    ctx.set_max_proto_version(_VERSION_CONST[versions[-1]])
    # OpenSSL enables a contiguous range only (an OP_NO_* hole disables every version
    # above it), so a set with a hole such as [tlsv1.3, tlsv1.1] becomes tlsv1.1..tlsv1.3.
    options = SSL.OP_NO_COMPRESSION | SSL.OP_IGNORE_UNEXPECTED_EOF
    if cfg.role == "client" and cfg.session_tickets not in ("auto", "manual"):
        # ssl resumes TLS 1.2 sessions by session id and never asks for RFC 5077
        # tickets (a ticket resumption would show a new, random session id). A
        # server's tickets are turned off per connection: see callbacks.on_servername.
        # (An OpenSSL client with it sends no psk_key_exchange_modes, and an OpenSSL
        # server then sends no TLS 1.3 ticket: session_tickets auto goes without.)
        options |= SSL.OP_NO_TICKET
    elif cfg.session_tickets == "stateful":
        # OpenSSL's stateful TLS 1.3 tickets: the ticket names a session in the cache
        options |= SSL.OP_NO_TICKET
    if cfg.role == "server" and cfg.client_renegotiation:
        # OTP servers accept client-initiated renegotiation (client_renegotiation, default
        # true); OpenSSL 3+ refuses it unless SSL_OP_ALLOW_CLIENT_RENEGOTIATION is set.
        # Refused, libssl sends a no_renegotiation warning and the connection goes on,
        # as ssl's (tls_connection:connection/3 with allow_renegotiate false)
        options |= _OP_ALLOW_CLIENT_RENEGOTIATION
    if not cfg.split_records:
        # beast_mitigation disabled: no empty fragment before each TLS 1.0 CBC record
        # (OpenSSL's 0/n split is on by default; ssl's default is a 1/n-1 split)
        options |= SSL.OP_DONT_INSERT_EMPTY_FRAGMENTS
    if cfg.honor_cipher_order:
        # ssl's honor_cipher_order: the server takes the first of its own suites the
        # client offers (ssl_handshake:select_cipher_suite/3 with HonorCipherOrder)
        options |= SSL.OP_CIPHER_SERVER_PREFERENCE
    if not cfg.secure_renegotiate:
        options |= SSL.OP_LEGACY_SERVER_CONNECT | _OP_ALLOW_UNSAFE_LEGACY_RENEGOTIATION
    ctx.set_options(options)
    # a retried SSL_write may pass a new buffer object holding the same bytes;
    # release the ~34 KB of record buffers while a connection has nothing buffered
    # (an idle connection then holds only its SSL state)
    mode = _MODE_ACCEPT_MOVING_WRITE_BUFFER | _MODE_RELEASE_BUFFERS
    if versions[-1] != "tlsv1.3":
        # ssl_record:make_random/1 for the highest version configured: below TLS 1.3
        # the hello random starts with the time in seconds (gmt_unix_time), which
        # OpenSSL writes only when asked (ssl_fill_hello_random)
        mode |= _MODE_SEND_CLIENTHELLO_TIME if cfg.role == "client" else _MODE_SEND_SERVERHELLO_TIME
    if cfg.role == "client" and cfg.fallback:
        # ssl's fallback: TLS_FALLBACK_SCSV among the offered suites (RFC 7507), so a
        # server that speaks a higher version answers inappropriate_fallback
        mode |= _MODE_SEND_FALLBACK_SCSV
    ctx.set_mode(mode)
    ossl.clear_partial_write(ctx)
    cipher_list = cfg.cipher_list
    # TLS 1.0/1.1 (SHA-1 MACs), TLS_AES_128_CCM_8_SHA256 (64-bit tag) and the
    # caller's own DH parameters (ssl takes 1024-bit ones, which OpenSSL's default
    # level 2 refuses: "dh key too small") need OpenSSL's security level 0; OTP has
    # no such levels;
    # anonymous suites (ADH-, AECDH-: OTP's dh_anon, ecdh_anon, offered when named
    # in ciphers) too
    low = (versions[0] in ("tlsv1", "tlsv1.1") or "CCM_8" in (cfg.ciphersuites_13 or "")
           or bool(cfg.dh_pem) or "ADH-" in (cipher_list or "") or "AECDH-" in (cipher_list or ""))
    if cfg.sigalgs and any(n.endswith(("SHA1", "_sha1")) for n in cfg.sigalgs.split(":")):
        # the caller's signature_algs allow SHA-1 ({sha, rsa}, ecdsa_sha1...): OpenSSL
        # offers, signs and verifies SHA-1 signatures at security level 0 only
        low = True
    pairs = ()
    if cfg.cert_alts:
        try:
            pairs = certalts.load_pairs(cfg.cert_alts)
        except certalts.CertAltError as exc:
            raise ContextError(str(exc)) from None
    if any(p.group == "dsa" for p in pairs):
        # a DSA pair: ssl's default suites hold DHE-DSS ones, OpenSSL's DEFAULT none;
        # and DSA keys as ssl takes them (1024 bits, SHA-1 signed, as
        # public_key:pkix_test_data/1 makes them) need security level 0
        low = True
        if not cipher_list:
            cipher_list = "DEFAULT:" + _OTP25_DSS
    try:
        if cipher_list:
            ctx.set_cipher_list((cipher_list + (":@SECLEVEL=0" if low else "")).encode())
        elif low:
            ctx.set_cipher_list(b"DEFAULT:@SECLEVEL=0")
        if cfg.ciphersuites_13 is not None:
            # "" when the caller's ciphers hold no TLS 1.3 suite: ssl then offers none
            # (its client's TLS 1.3 hello fails: insufficient_security), and OpenSSL
            # with no TLS 1.3 suites speaks TLS 1.2 at most instead of its defaults
            ctx.set_tls13_ciphersuites(cfg.ciphersuites_13.encode())
    except SSL.Error as exc:
        raise ContextError(f"no usable cipher suites: {exc}") from None
    # Key exchange groups OTP 25 also offers. OpenSSL's default adds a hybrid
    # post-quantum share, which doubles the ClientHello for a group OTP 25 lacks.
    # eccs / supported_groups, when given, replace them
    ossl.set_groups(ctx, (cfg.groups or DEFAULT_GROUPS).encode())
    if cfg.sigalgs:
        # ssl's signature_algs: the schemes offered, and those a server signs with or
        # asks a client certificate to use (OpenSSL's one list does both)
        ossl.set_sigalgs(ctx, cfg.sigalgs.encode())
    elif cfg.role == "client" and cfg.session_tickets in ("auto", "manual"):
        # An OTP 25 server checks a ticket's binder by re-encoding the ClientHello and
        # crashes (ssl_cipher:hash_algorithm(unassigned)) on schemes it does not know,
        # which OpenSSL offers by default (ML-DSA, brainpool TLS 1.3): a client that
        # may resume offers OTP 25's own schemes only.
        ossl.set_sigalgs(ctx, _OTP25_SIGALGS)
    # identity
    if cfg.cert_chain:
        try:
            ctx.use_certificate(_x509(cfg.cert_chain[0]))
            for der in cfg.cert_chain[1:]:
                ctx.add_extra_chain_cert(_x509(der))
        except (ValueError, SSL.Error, crypto.Error) as exc:
            raise ContextError(f"bad certificate: {exc}") from None
        key = _load_key(cfg)
        if key is not None:
            try:
                ctx.use_privatekey(key)
                ctx.check_privatekey()
            except SSL.Error as exc:
                raise ContextError(f"key does not match certificate: {exc}") from None
    if pairs:
        # several pairs: none on the context, one per connection (bridge.tls.certalts)
        ossl.set_cert_cb(ctx)
    # trust
    store = ctx.get_cert_store()
    for der in cfg.cacerts:
        try:
            store.add_cert(_store_x509(der))
        except (ValueError, TypeError, crypto.Error):
            pass  # duplicates and unparsable entries are skipped, as OTP does
    if cfg.role == "server" and cfg.verify == "verify_peer" and cfg.ca_names and cfg.cacerts:
        # the CertificateRequest names the trusted CAs (certificate_authorities), as
        # ssl's does (ssl_handshake:certificate_authorities/2: the subjects of cacerts)
        for der in cfg.cacerts:
            try:
                ctx.add_client_ca(x509.load_der_x509_certificate(der))
            except (ValueError, TypeError, crypto.Error, SSL.Error):
                pass
    mode = SSL.VERIFY_NONE
    if cfg.verify == "verify_peer":
        mode = SSL.VERIFY_PEER
        if cfg.role == "server" and cfg.fail_if_no_peer_cert:
            mode |= SSL.VERIFY_FAIL_IF_NO_PEER_CERT
    ctx.set_verify(mode, None)
    ctx.set_verify_depth(cfg.depth)
    if cfg.dh_pem:
        import tempfile, os
        fd, path = tempfile.mkstemp()
        try:
            os.write(fd, cfg.dh_pem)
            os.close(fd)
            ctx.load_tmp_dh(path.encode())
        except SSL.Error as exc:
            raise ContextError(f"bad DH parameters: {exc}") from None
        finally:
            os.unlink(path)
    elif cfg.role == "server":
        ossl.set_tmp_dh_pem(ctx, _DEFAULT_DH)
    if cfg.role == "server":
        ctx.set_session_id(cfg.session_id_context)
        # ssl's server session cache (reuse_sessions, default true); sessions live as
        # long as ssl's session_lifetime default (bridge.tls.sessions). Without reuse
        # ssl still sends a 32-byte session id, so OpenSSL's cache stays in server mode
        # (with the cache off it sends an empty id) but stores and finds nothing.
        # (stateful tickets live in the same cache, whatever reuse_sessions says)
        cache = cfg.reuse_sessions or cfg.session_tickets == "stateful"
        ossl.set_session_cache(ctx, "server" if cache else "server_no_store")
        # which tickets callbacks.on_servername leaves on (none unless asked for)
        ctx.set_app_data(cfg.session_tickets)
        if cfg.early_data is True and cfg.session_tickets in ("stateless", "stateful"):
            # early_data enabled: tickets say how much the server takes (ssl's default
            # server_session_ticket_max_early_data); the engine reads it (TLSEngine.do_handshake)
            ossl.set_max_early_data(ctx, sessions.MAX_EARLY_DATA)
        ossl.set_session_timeout(ctx, sessions.SESSION_LIFETIME)
        if cfg.alpn_preferred:
            preferred = list(cfg.alpn_preferred)

            def select(conn, offered):
                for proto in preferred:       # server preference, as OTP does
                    if proto in offered:
                        return proto
                # OTP aborts with no_application_protocol; raising makes pyOpenSSL return
                # SSL_TLSEXT_ERR_ALERT_FATAL, which sends exactly that alert
                raise NoALPNOverlap("no application protocol in common")
            ctx.set_alpn_select_callback(select)
    else:
        # the client's cache is the bridge's own (bridge.tls.sessions), shared by owners
        # (an OpenSSL client whose cache is off ignores TLS 1.3 tickets)
        ossl.set_session_cache(ctx, "client_no_store" if cfg.session_tickets in ("auto", "manual") else "off")
        if cfg.alpn_advertised:
            ctx.set_alpn_protos(list(cfg.alpn_advertised))
    return ctx
