"""OpenSSL contexts built from a ``TLSConfig``; cached, since building one is costly."""
from __future__ import annotations

import hashlib
import threading
from typing import Optional

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL, crypto

from .config import TLSConfig

_VERSION_CONST = {
    "tlsv1": SSL.TLS1_VERSION,
    "tlsv1.1": SSL.TLS1_1_VERSION,
    "tlsv1.2": SSL.TLS1_2_VERSION,
    "tlsv1.3": SSL.TLS1_3_VERSION,
}
_ORDER = ["tlsv1", "tlsv1.1", "tlsv1.2", "tlsv1.3"]


class ContextError(Exception):
    """The configuration cannot be turned into a context (bad key, bad cipher list...)."""


def _load_key(cfg: TLSConfig):
    if cfg.key_der is not None:
        try:
            key = serialization.load_der_private_key(cfg.key_der, password=cfg.password)
        except (ValueError, TypeError) as exc:
            raise ContextError(f"bad key: {exc}") from None
        return crypto.PKey.from_cryptography_key(key)
    if cfg.key_pem is not None:
        try:
            key = serialization.load_pem_private_key(cfg.key_pem, password=cfg.password)
        except (ValueError, TypeError) as exc:
            raise ContextError(f"bad key: {exc}") from None
        return crypto.PKey.from_cryptography_key(key)
    return None


def _x509(der: bytes):
    return crypto.X509.from_cryptography(x509.load_der_x509_certificate(der))


def config_key(cfg: TLSConfig) -> Optional[bytes]:
    """A digest of everything that shapes the context, or None if it must not be shared."""
    if cfg.verify_hook is not None:
        return None
    h = hashlib.sha256()
    for part in (cfg.role, cfg.versions, cfg.cipher_list, cfg.ciphersuites_13, cfg.verify,
                 cfg.depth, cfg.fail_if_no_peer_cert, tuple(cfg.cert_chain), cfg.key_der,
                 cfg.key_pem, cfg.password, tuple(cfg.cacerts), cfg.dh_pem,
                 cfg.secure_renegotiate, cfg.reuse_sessions, tuple(cfg.alpn_advertised),
                 tuple(cfg.alpn_preferred)):
        h.update(repr(part).encode())
        h.update(b"\0")
    return h.digest()


class ContextCache:
    def __init__(self, size: int = 64):
        self._cache: dict[bytes, SSL.Context] = {}
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
    versions = [v for v in _ORDER if v in cfg.versions] or ["tlsv1.2", "tlsv1.3"]
    ctx.set_min_proto_version(_VERSION_CONST[versions[0]])
    ctx.set_max_proto_version(_VERSION_CONST[versions[-1]])
    options = SSL.OP_NO_COMPRESSION
    for v in _ORDER[_ORDER.index(versions[0]):_ORDER.index(versions[-1]) + 1]:
        if v not in versions:  # a hole in the set: OpenSSL takes a range, so mask it out
            options |= {"tlsv1.1": SSL.OP_NO_TLSv1_1, "tlsv1.2": SSL.OP_NO_TLSv1_2}.get(v, 0)
    if not cfg.reuse_sessions:
        options |= SSL.OP_NO_TICKET
    ctx.set_options(options)
    cipher_list = cfg.cipher_list
    legacy = versions[0] in ("tlsv1", "tlsv1.1")
    try:
        if cipher_list:
            ctx.set_cipher_list((cipher_list + (":@SECLEVEL=0" if legacy else "")).encode())
        elif legacy:
            ctx.set_cipher_list(b"DEFAULT:@SECLEVEL=0")
        if cfg.ciphersuites_13:
            ctx.set_tls13_ciphersuites(cfg.ciphersuites_13.encode())
    except SSL.Error as exc:
        raise ContextError(f"no usable cipher suites: {exc}") from None
    # identity
    if cfg.cert_chain:
        try:
            ctx.use_certificate(_x509(cfg.cert_chain[0]))
            for der in cfg.cert_chain[1:]:
                ctx.add_extra_chain_cert(_x509(der))
        except (ValueError, SSL.Error) as exc:
            raise ContextError(f"bad certificate: {exc}") from None
        key = _load_key(cfg)
        if key is not None:
            try:
                ctx.use_privatekey(key)
                ctx.check_privatekey()
            except SSL.Error as exc:
                raise ContextError(f"key does not match certificate: {exc}") from None
    # trust
    store = ctx.get_cert_store()
    for der in cfg.cacerts:
        try:
            store.add_cert(_x509(der))
        except (ValueError, crypto.Error):
            pass  # duplicates and unparsable entries are skipped, as OTP does
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
    if cfg.role == "server":
        ctx.set_session_id(b"pyssl-bridge")
        ctx.set_session_cache_mode(SSL.SESS_CACHE_SERVER if cfg.reuse_sessions else SSL.SESS_CACHE_OFF)
        if cfg.alpn_advertised:
            advertised = list(cfg.alpn_advertised)

            def select(conn, offered):
                for proto in advertised:      # server preference, as OTP does
                    if proto in offered:
                        return proto
                return SSL.NO_OVERLAPPING_PROTOCOLS
            ctx.set_alpn_select_callback(select)
    else:
        ctx.set_session_cache_mode(SSL.SESS_CACHE_CLIENT if cfg.reuse_sessions else SSL.SESS_CACHE_OFF)
        if cfg.alpn_preferred:
            ctx.set_alpn_protos(list(cfg.alpn_preferred))
    return ctx
