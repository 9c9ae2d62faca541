"""Everything that reaches under pyOpenSSL's public API, in one place.

pyOpenSSL does not offer what the engine needs for speed and for OTP's behaviour:
the raw memory BIOs (drain one buffer in one read, renew them after the handshake),
a verify callback with the store context (read the current certificate, choose the
alert), the PSK callbacks, host name checks, session ids, the curves list and
``SSL_CIPHER_find``. Those go through ``OpenSSL._util`` (cffi's ``ffi``/``lib``)
and private attributes (``Connection._ssl``, ``_into_ssl``, ``_from_ssl``,
``Context._context``, ``Connection._reverse_mapping``, ``X509._from_raw_x509_ptr``)
that a pyOpenSSL release may change: pyproject.toml bounds pyOpenSSL's version, and
this module is the one to check when that bound moves. No other module of ``bridge``
imports ``OpenSSL._util`` or touches a private attribute of a pyOpenSSL object.

Callers pass pyOpenSSL objects (``SSL.Context``, ``SSL.Connection``) and plain
Python values; the OpenSSL C callbacks defined here call back into plain Python
functions (``bridge.tls.callbacks``) and objects (the engine's ``on_verify``).
"""
from __future__ import annotations

import functools
import threading
import weakref
from typing import Callable, Optional

from OpenSSL import SSL, crypto
from OpenSSL._util import ffi as _ffi, lib as _lib

from . import hostnames

_no_zero = _ffi.new_allocator(should_clear_after_alloc=False)


# ---- contexts ---------------------------------------------------------------------------

def clear_partial_write(ctx: SSL.Context) -> None:
    """pyOpenSSL turns partial writes on; into a memory BIO a whole write always
    fits, so one SSL_write takes a loop iteration's plaintext, not one record."""
    _lib.SSL_CTX_clear_mode(ctx._context, _lib.SSL_MODE_ENABLE_PARTIAL_WRITE)


def set_groups(ctx: SSL.Context, groups: bytes) -> None:
    """The key exchange groups offered (``SSL_CTX_set1_curves_list``)."""
    _lib.SSL_CTX_set1_curves_list(ctx._context, groups)


def set_sigalgs(ctx: SSL.Context, sigalgs: bytes) -> None:
    """The signature schemes offered (``SSL_CTX_set1_sigalgs_list``)."""
    if _lib.SSL_CTX_set1_sigalgs_list(ctx._context, sigalgs) != 1:
        _lib.ERR_clear_error()


@functools.lru_cache(maxsize=256)
def sigalgs_supported(names: frozenset) -> frozenset:
    """Those of the signature scheme ``names`` (OpenSSL spellings: "rsa_pss_rsae_sha256",
    "RSA+SHA256"...) that libssl here accepts in a sigalgs list."""
    ctx = SSL.Context(SSL.TLS_METHOD)
    ok = frozenset(n for n in names if _lib.SSL_CTX_set1_sigalgs_list(ctx._context, n.encode()) == 1)
    _lib.ERR_clear_error()
    return ok


def set_tmp_dh_pem(ctx: SSL.Context, pem: bytes) -> bool:
    """DH parameters for DHE suites from PEM in memory (``SSL_CTX_set_tmp_dh``;
    pyOpenSSL's load_tmp_dh wants a file). False if they do not load."""
    bio = _lib.BIO_new_mem_buf(pem, len(pem))
    if bio == _ffi.NULL:
        return False
    try:
        dh = _lib.PEM_read_bio_DHparams(bio, _ffi.NULL, _ffi.NULL, _ffi.NULL)
    finally:
        _lib.BIO_free(bio)
    if dh == _ffi.NULL:
        _lib.ERR_clear_error()
        return False
    try:
        return _lib.SSL_CTX_set_tmp_dh(ctx._context, dh) == 1     # takes its own reference
    finally:
        _lib.DH_free(dh)


def groups_supported(names) -> frozenset:
    """Those of the curve/group ``names`` (OpenSSL spellings: "x25519", "secp256r1",
    "ffdhe2048"...) that libssl here accepts for a handshake."""
    ctx = SSL.Context(SSL.TLS_METHOD)
    return frozenset(n for n in names if _lib.SSL_CTX_set1_curves_list(ctx._context, n.encode()) == 1)


# ---- the servername callback ------------------------------------------------------------

# the Python function that answers every server context's servername callback, and the
# engine of each connection (by SSL*, weakly: a connection gone is forgotten)
_SERVERNAME: dict[str, Callable] = {}
_TLSEXT_ERR_ALERT_FATAL = 2


@_ffi.callback("int (*)(SSL *, int *, void *)")
def _servername_cb(ssl, al, _arg):
    """SSL_CTX_set_tlsext_servername_callback's C side. pyOpenSSL's wrapper always
    answers SSL_TLSEXT_ERR_OK (or a fatal alert with OpenSSL's default
    unrecognized_name on an exception); this one lets the Python function choose the
    alert OpenSSL sends: ``fn(conn, owner) -> None | alert code``. Never raises."""
    try:
        conn = SSL.Connection._reverse_mapping.get(ssl)
        if conn is None:
            return 0
        alert = _SERVERNAME["fn"](conn, conn.get_app_data())
    except Exception:           # a bug must not change the handshake, nor escape into C
        import logging
        logging.getLogger(__name__).exception("servername callback failed")
        return 0
    if alert is None:
        return 0
    al[0] = alert
    return _TLSEXT_ERR_ALERT_FATAL


def set_servername_callback(ctx: SSL.Context, fn) -> None:
    """``fn(conn, owner) -> None | alert`` on the context's ClientHellos (OpenSSL's
    final_server_name calls it for each, with or without SNI, once the version is
    chosen and before the suite, group and signature scheme are); an alert code makes
    OpenSSL end the handshake with that fatal alert. ``owner``: what ``set_owner``
    made the connection's, or None."""
    _SERVERNAME["fn"] = fn
    _lib.SSL_CTX_set_tlsext_servername_callback(ctx._context, _servername_cb)


def _info(ssl, where, ret):
    try:
        conn = SSL.Connection._reverse_mapping.get(ssl)
        owner = conn.get_app_data() if conn is not None else None
        if owner is not None:
            owner._info(conn, where, ret)
    except Exception:           # a bug must not escape into C
        import logging
        logging.getLogger(__name__).exception("info callback failed")


_CB_ALERT = 0x4000      # SSL_CB_ALERT


@_ffi.callback("void (*)(const SSL *, int, int)")
def _alert_cb(ssl, where, ret):
    """SSL_set_info_callback's C side, one for every connection: pyOpenSSL's
    set_info_callback makes a C closure per connection (measured ~10 us of each
    accepted handshake's ~30 us engine set-up). Of the ~14 calls of a handshake
    only alerts go on to the owner (what it records; ``watch_states`` for the
    rest). Never raises."""
    if where & _CB_ALERT:
        _info(ssl, where, ret)


@_ffi.callback("void (*)(const SSL *, int, int)")
def _state_cb(ssl, where, ret):
    _info(ssl, where, ret)


def set_owner(conn: SSL.Connection, owner) -> None:
    """Make ``owner`` (a bridge.tls.engine.TLSEngine) the connection's app data, where
    the callbacks find it: OpenSSL's info callback, ``owner._info(conn, where, ret)``
    for the alerts sent and received, the servername callback
    (``set_servername_callback``), the PSK and keylog ones (bridge.tls.callbacks). The
    connection and its owner hold each other: they go together."""
    conn.set_app_data(owner)
    _lib.SSL_set_info_callback(conn._ssl, _alert_cb)


def watch_states(conn: SSL.Connection) -> None:
    """From now on the owner's ``_info`` hears of every state change too, not only of
    alerts (a client's early data: whether it sends EndOfEarlyData)."""
    _lib.SSL_set_info_callback(conn._ssl, _state_cb)


@functools.lru_cache(maxsize=1024)
def _cipher_by_code(code: int) -> Optional[tuple[str, str]]:
    """(OpenSSL name, SSL_CIPHER_get_version) of the suite with IANA ``code`` that
    libssl here has, or None (``SSL_CIPHER_find``)."""
    cptr = _lib.SSL_CIPHER_find(_lookup_ssl()._ssl, bytes([code >> 8, code & 0xFF]))
    if cptr == _ffi.NULL:
        return None
    return (_ffi.string(_lib.SSL_CIPHER_get_name(cptr)).decode(),
            _ffi.string(_lib.SSL_CIPHER_get_version(cptr)).decode())


@functools.lru_cache(maxsize=1)
def _lookup_ssl() -> SSL.Connection:
    return SSL.Connection(SSL.Context(SSL.TLS_METHOD), None)


# a context's enabled suite names (SSL_get_cipher_list), by context
_ENABLED: "weakref.WeakKeyDictionary[SSL.Context, frozenset]" = weakref.WeakKeyDictionary()


def enabled_suites(conn: SSL.Connection, codes) -> dict[int, tuple[str, str]]:
    """code -> (name, SSL_CIPHER_get_version) for those of ``codes`` the connection's
    current context enables (its cipher list and TLS 1.3 ciphersuites)."""
    ctx = conn.get_context()
    names = _ENABLED.get(ctx)
    if names is None:
        names = _ENABLED[ctx] = frozenset(conn.get_cipher_list())
    out = {}
    for code in codes:
        got = _cipher_by_code(code)
        if got is not None and got[0] in names:
            out[code] = got
    return out


_KEY_KINDS = {crypto.TYPE_RSA: "rsa", crypto.TYPE_EC: "ec", crypto.TYPE_DSA: "dsa",
              912: "rsa_pss", 1087: "ed25519", 1088: "ed448"}   # EVP_PKEY_RSA_PSS, _ED25519, _ED448


# the key of a context's certificate, by context (own_key)
_OWN_KEYS: "weakref.WeakKeyDictionary[SSL.Context, object]" = weakref.WeakKeyDictionary()


def own_key(conn: SSL.Connection):
    """(kind, bits, EC curve name, (hash, sign) of its own signature or None) of the
    certificate the connection would send (its context's: SSL_get_certificate), None
    without one, "unknown" if unreadable."""
    ctx = conn.get_context()
    key = _OWN_KEYS.get(ctx, _OWN_KEYS)
    if key is _OWN_KEYS:
        key = _OWN_KEYS[ctx] = key_of_cert(conn.get_certificate())
    return key


def key_of_cert(cert):
    """own_key's figures of one certificate (a certs_keys pair's)."""
    if cert is None:
        return None
    try:
        pkey = cert.get_pubkey()
        kind = _KEY_KINDS.get(pkey.type())
        if kind is None:
            return "unknown"
        curve = None
        if kind == "ec":
            curve = pkey.to_cryptography_key().curve.name
        return (kind, pkey.bits(), curve, _CERT_SIGS.get(cert.get_signature_algorithm()))
    except Exception:
        return "unknown"


# (hash, sign) of a certificate's own signature (OpenSSL's short names), as
# ssl_handshake:sign_algo/2 names the PKCS#1 v1.5 and ECDSA ones
_CERT_SIGS = {f"{h}WithRSAEncryption".encode(): (h, "rsa") for h in ("sha1", "sha224", "sha256", "sha384", "sha512")}
_CERT_SIGS.update({f"ecdsa-with-{h.upper()}".encode(): (h, "ecdsa")
                   for h in ("sha1", "sha224", "sha256", "sha384", "sha512")})


# PSK: one Python function per role answers every connection's callback
_PSK: dict[str, Callable] = {}


@_ffi.callback("unsigned int (*)(SSL *, char *, char *, unsigned int, unsigned char *, unsigned int)")
def _psk_client_cb(ssl, hint, identity_out, max_identity_len, psk_out, max_psk_len):
    conn = SSL.Connection._reverse_mapping.get(ssl)
    got = _PSK["client"](conn, _ffi.string(hint) if hint != _ffi.NULL else None,
                         max_identity_len, max_psk_len)
    if got is None:
        return 0
    ident, key = got
    _ffi.memmove(identity_out, ident + b"\0", len(ident) + 1)
    _ffi.memmove(psk_out, key, len(key))
    return len(key)


@_ffi.callback("unsigned int (*)(SSL *, char *, unsigned char *, unsigned int)")
def _psk_server_cb(ssl, identity, psk_out, max_psk_len):
    conn = SSL.Connection._reverse_mapping.get(ssl)
    key = _PSK["server"](conn, _ffi.string(identity) if identity != _ffi.NULL else b"", max_psk_len)
    if key is None:
        return 0
    _ffi.memmove(psk_out, key, len(key))
    return len(key)


def set_psk_client(ctx: SSL.Context, fn) -> None:
    """``fn(conn, hint, max_identity_len, max_psk_len) -> (identity, key) | None``;
    the identity must be shorter than max_identity_len, the key at most max_psk_len."""
    _PSK["client"] = fn
    _lib.SSL_CTX_set_psk_client_callback(ctx._context, _psk_client_cb)


def set_psk_server(ctx: SSL.Context, fn, hint: Optional[bytes]) -> None:
    """``fn(conn, identity, max_psk_len) -> key | None``; ``hint`` is sent to clients."""
    _PSK["server"] = fn
    _lib.SSL_CTX_set_psk_server_callback(ctx._context, _psk_server_cb)
    if hint:
        _lib.SSL_CTX_use_psk_identity_hint(ctx._context, hint)


# ---- certificate verification -------------------------------------------------------------

# SSL* (as an int) -> the object whose on_verify(ok, store) answers for it; weak: an
# owner that is gone is forgotten with its connection. One shared C callback (made
# once), not one per connection.
_VERIFIERS: "weakref.WeakValueDictionary[int, object]" = weakref.WeakValueDictionary()


@_ffi.callback("int (*)(int, X509_STORE_CTX *)")
def _verify_cb(ok, store):
    ssl = _lib.X509_STORE_CTX_get_ex_data(store, _lib.SSL_get_ex_data_X509_STORE_CTX_idx())
    owner = _VERIFIERS.get(int(_ffi.cast("uintptr_t", ssl))) if ssl != _ffi.NULL else None
    if owner is None:
        return 0
    return owner.on_verify(ok, store)


def set_verify(conn: SSL.Connection, mode: int, owner) -> None:
    """Verify the peer with ``owner.on_verify(ok, store) -> 0 | 1`` as the callback
    (pyOpenSSL's own does not give access to the store context)."""
    _VERIFIERS[int(_ffi.cast("uintptr_t", conn._ssl))] = owner
    _lib.SSL_set_verify(conn._ssl, mode, _verify_cb)


def store_error(store) -> int:
    return _lib.X509_STORE_CTX_get_error(store)


def store_depth(store) -> int:
    return _lib.X509_STORE_CTX_get_error_depth(store)


def store_set_error(store, err: int) -> None:
    _lib.X509_STORE_CTX_set_error(store, err)


def store_current_der(store) -> bytes:
    """The DER of the certificate the store is verifying now (b"" if none)."""
    x = _lib.X509_STORE_CTX_get_current_cert(store)
    if x == _ffi.NULL:
        return b""
    _lib.X509_up_ref(x)
    cert = crypto.X509._from_raw_x509_ptr(x)
    return crypto.dump_certificate(crypto.FILETYPE_ASN1, cert)


def store_chain_der(store) -> list[bytes]:
    """The chain OpenSSL built for the peer so far, leaf first, as DER
    (``X509_STORE_CTX_get1_chain``: with the trust anchor when it found one)."""
    sk = _lib.X509_STORE_CTX_get1_chain(store)
    if sk == _ffi.NULL:
        return []
    out = []
    try:
        for i in range(_lib.sk_X509_num(sk)):
            # the stack holds a reference to each certificate: the wrapper takes it over
            cert = crypto.X509._from_raw_x509_ptr(_lib.sk_X509_value(sk, i))
            out.append(crypto.dump_certificate(crypto.FILETYPE_ASN1, cert))
    finally:
        _lib.sk_X509_free(sk)
    return out


def set_host_check(conn: SSL.Connection, host: str) -> None:
    """Verification also checks the peer's certificate names ``host`` (a name or an IP)."""
    param = _lib.SSL_get0_param(conn._ssl)
    ip = hostnames.ip_literal(host)
    if ip is None:
        raw = hostnames.idna(host)
        _lib.X509_VERIFY_PARAM_set1_host(param, raw, len(raw))
        # public_key:pkix_verify_hostname/3 without a match_fun takes no wildcard
        # ("*.example.com" does not name www.example.com); OpenSSL does by default
        _lib.X509_VERIFY_PARAM_set_hostflags(param, _lib.X509_CHECK_FLAG_NO_WILDCARDS)
        return
    packed = ip.packed
    _lib.X509_VERIFY_PARAM_set1_ip(param, packed, len(packed))


def der_certificate_ok(der: bytes) -> bool:
    """OpenSSL parses ``der`` as a certificate (it accepts encodings, e.g. ECDSA
    signature algorithms with parameters, that the `cryptography` parser refuses)."""
    try:
        crypto.load_certificate(crypto.FILETYPE_ASN1, der)
    except crypto.Error:
        return False
    return True


# ---- memory BIOs ----------------------------------------------------------------------------

def drain_output(conn: SSL.Connection) -> bytes:
    """Exactly what the outgoing memory BIO holds, in one read: pyOpenSSL's bio_read
    would allocate its whole size argument each time and end every drain with a
    WantReadError."""
    bio = conn._from_ssl
    n = _lib.BIO_get_mem_data(bio, _ffi.NULL)
    if n <= 0:
        return b""
    buf = _no_zero("char[]", n)
    got = _lib.BIO_read(bio, buf, n)
    return _ffi.buffer(buf, got)[:] if got > 0 else b""


# ---- reading and writing ---------------------------------------------------------------
# pyOpenSSL's recv/send/bio_write as calls of their own: on the path of every record.
# Its recv allocates its whole buffer per call and ends every drain with a
# WantReadError; its send and bio_write convert and check what the engine already
# has in shape. Measured on a memory-BIO pair, a 17-byte record: recv until
# WantReadError 8.3 us, read() until None 4.8 us; send 5.5 us, write() 4.2 us.
# Every outcome but "wants input" is raised by pyOpenSSL's own _raise_ssl_error, so
# errors (and what a context's Python callbacks raised) are recv's and send's.

_READ_SIZE = 262144
_read_buffers = threading.local()      # one buffer per thread, kept: no per-call malloc


def _callback_problems(conn: SSL.Connection) -> None:
    # what pyOpenSSL's _raise_ssl_error checks first: an exception a context's
    # Python callback (verify, ALPN select, OCSP) raised inside the OpenSSL call
    ctx = conn._context
    for helper in (ctx._verify_helper, ctx._alpn_select_helper, ctx._ocsp_helper):
        if helper is not None:
            helper.raise_if_problem()


def feed(conn: SSL.Connection, data: bytes) -> None:
    """``conn.bio_write(data)``: ciphertext into the incoming memory BIO."""
    if data.__class__ is not bytes or not data or _lib.BIO_write(conn._into_ssl, data, len(data)) <= 0:
        conn.bio_write(data)    # another buffer type, nothing, or out of memory: as before


def read(conn: SSL.Connection) -> Optional[bytes]:
    """``conn.recv(262144)``, with None where recv raises WantReadError (OpenSSL
    wants more input); every other outcome as recv's."""
    buf = getattr(_read_buffers, "buf", None)
    if buf is None:
        buf = _read_buffers.buf = _no_zero("char[]", _READ_SIZE)
    ssl = conn._ssl
    n = _lib.SSL_read(ssl, buf, _READ_SIZE)
    _callback_problems(conn)
    if n > 0:
        return _ffi.buffer(buf, n)[:]
    if _lib.SSL_get_error(ssl, n) == _lib.SSL_ERROR_WANT_READ:
        return None
    conn._raise_ssl_error(ssl, n)       # ZeroReturnError, SysCallError, Error
    return None                         # pragma: no cover - it raised


def write(conn: SSL.Connection, view: memoryview) -> int:
    """``conn.send(view)`` (at most 2**31-1 bytes): the bytes SSL_write took."""
    ssl = conn._ssl
    with _ffi.from_buffer(view) as data:
        n = _lib.SSL_write(ssl, data, len(view))
    _callback_problems(conn)
    if n > 0:
        return n
    conn._raise_ssl_error(ssl, n)       # WantReadError (a renegotiation), Error...
    return 0                            # pragma: no cover - it raised


def unread_input(conn: SSL.Connection) -> bytes:
    """Bytes written into the incoming BIO that OpenSSL has not consumed (taken out)."""
    bio = conn._into_ssl
    buf = _ffi.new("char[]", 4096)        # small: a big temporary fragments the heap
    out = []
    while True:
        n = _lib.BIO_read(bio, buf, 4096)
        if n <= 0:
            break
        out.append(_ffi.buffer(buf, n)[:])
    return b"".join(out)


def renew_bios(conn: SSL.Connection, eof: bool) -> None:
    """Give OpenSSL new, empty memory BIOs: the old ones keep the capacity of the
    largest flight (kilobytes per connection) for as long as the connection lives.
    Bytes already received but not yet read by OpenSSL move over; ``eof``: the
    incoming stream had ended."""
    rest = unread_input(conn)
    new_in = _lib.BIO_new(_lib.BIO_s_mem())
    new_out = _lib.BIO_new(_lib.BIO_s_mem())
    if new_in == _ffi.NULL or new_out == _ffi.NULL:
        for b in (new_in, new_out):
            if b != _ffi.NULL:
                _lib.BIO_free(b)
        if rest:
            conn.bio_write(rest)
        return
    _lib.SSL_set_bio(conn._ssl, new_in, new_out)      # frees the old pair
    conn._into_ssl, conn._from_ssl = new_in, new_out
    if eof:
        conn.bio_shutdown()
    if rest:
        conn.bio_write(rest)


# ---- information -----------------------------------------------------------------------------

def session_reused(conn: SSL.Connection) -> bool:
    return bool(_lib.SSL_session_reused(conn._ssl))


def group_name(conn: SSL.Connection) -> Optional[str]:
    """The key exchange group the handshake used (``SSL_get0_group_name``: "x25519",
    "secp256r1"...), or None (no (EC)DHE exchange, or bindings without it)."""
    if not getattr(_lib, "Cryptography_HAS_SSL_GET0_GROUP_NAME", False):
        return None
    name = _lib.SSL_get0_group_name(conn._ssl)
    return None if name == _ffi.NULL else _ffi.string(name).decode("ascii", "replace")


def session_der(conn: SSL.Connection) -> bytes:
    """The connection's session in OpenSSL's SSL_SESSION ASN.1 form (``i2d_SSL_SESSION``;
    b"" if none): the session id, the master secret and the resumption facts, which
    ``bridge.tls.sessions`` reads and keeps (SSL_SESSION_get_id is not bound)."""
    sess = _lib.SSL_get_session(conn._ssl)
    if sess == _ffi.NULL:
        return b""
    n = _lib.i2d_SSL_SESSION(sess, _ffi.NULL)
    if n <= 0:
        return b""
    buf = _ffi.new("unsigned char[]", n)
    pp = _ffi.new("unsigned char **", buf)
    got = _lib.i2d_SSL_SESSION(sess, pp)
    return _ffi.buffer(buf, got)[:] if got > 0 else b""


def offer_session(conn: SSL.Connection, der: bytes) -> bool:
    """A client offers the session ``der`` (``session_der``'s form) in its next
    handshake (``d2i_SSL_SESSION`` + ``SSL_set_session``); False if OpenSSL refuses it."""
    src = _ffi.new("unsigned char[]", der)
    pp = _ffi.new("unsigned char **", src)
    sess = _lib.d2i_SSL_SESSION(_ffi.NULL, pp, len(der))
    if sess == _ffi.NULL:
        _lib.ERR_clear_error()
        return False
    try:
        return _lib.SSL_set_session(conn._ssl, sess) == 1
    finally:
        _lib.SSL_SESSION_free(sess)        # SSL_set_session took its own reference


def set_session_cache(ctx: SSL.Context, mode: str) -> None:
    """OpenSSL's session cache: "server", "server_no_store" (session ids are made,
    nothing is kept or looked up), "client_no_store" (a client that takes TLS 1.3
    tickets in, kept elsewhere) or "off"."""
    value = {"server": _lib.SSL_SESS_CACHE_SERVER,
             "server_no_store": _lib.SSL_SESS_CACHE_SERVER | _lib.SSL_SESS_CACHE_NO_INTERNAL,
             "client_no_store": _lib.SSL_SESS_CACHE_CLIENT | _lib.SSL_SESS_CACHE_NO_INTERNAL_STORE,
             "off": _lib.SSL_SESS_CACHE_OFF}[mode]
    _lib.SSL_CTX_set_session_cache_mode(ctx._context, value)


def set_session_timeout(ctx: SSL.Context, seconds: int) -> None:
    """How long a server's cached session may be resumed (``SSL_CTX_set_timeout``)."""
    _lib.SSL_CTX_set_timeout(ctx._context, seconds)


def cipher_names(codes, cipher_list: bytes, ciphersuites_13: bytes) -> dict[int, str]:
    """IANA code -> OpenSSL name, for those of ``codes`` that libssl here has and a
    context with these cipher settings enables (``SSL_CIPHER_find``)."""
    ctx = SSL.Context(SSL.TLS_METHOD)
    ctx.set_cipher_list(cipher_list)
    ctx.set_tls13_ciphersuites(ciphersuites_13)
    conn = SSL.Connection(ctx, None)
    enabled = set(conn.get_cipher_list())
    table: dict[int, str] = {}
    for code in codes:
        cptr = _lib.SSL_CIPHER_find(conn._ssl, bytes([code >> 8, code & 0xFF]))
        if cptr == _ffi.NULL:
            continue
        name = _ffi.string(_lib.SSL_CIPHER_get_name(cptr)).decode()
        if name in enabled:
            table[code] = name
    return table


# ---- TLS 1.3 early data (0-RTT; ssl's early_data option) --------------------------------

def set_max_early_data(ctx: SSL.Context, size: int) -> None:
    """A server accepts up to ``size`` bytes of early data and says so in its tickets
    (``SSL_CTX_set_max_early_data``; ssl's server_session_ticket_max_early_data)."""
    _lib.SSL_CTX_set_max_early_data(ctx._context, size)


def session_max_early_data(der: bytes) -> int:
    """How much early data the server that issued the ticket in ``der`` takes (0: none)."""
    src = _ffi.new("unsigned char[]", der)
    pp = _ffi.new("unsigned char **", src)
    sess = _lib.d2i_SSL_SESSION(_ffi.NULL, pp, len(der))
    if sess == _ffi.NULL:
        _lib.ERR_clear_error()
        return 0
    try:
        return int(_lib.SSL_SESSION_get_max_early_data(sess))
    finally:
        _lib.SSL_SESSION_free(sess)


def write_early_data(conn: SSL.Connection, data: bytes) -> bool:
    """A client writes ``data`` as early data with its ClientHello (``SSL_write_early_data``,
    before the handshake; over memory BIOs it never waits). False if OpenSSL refused."""
    written = _ffi.new("size_t *")
    if _lib.SSL_write_early_data(conn._ssl, data, len(data), written) == 1:
        return True
    _lib.ERR_clear_error()
    return False


_EARLY_BUF = 16384


def read_early_data(conn: SSL.Connection) -> tuple[str, bytes]:
    """A server's step of ``SSL_read_early_data``: ("data", bytes) read, ("want", b"")
    more input needed, ("finish", b"") the early data is over (or there was none) and
    ``do_handshake`` goes on; ("error", b"") OpenSSL failed (do_handshake reports it)."""
    buf = _ffi.new("char[]", _EARLY_BUF)
    got = _ffi.new("size_t *")
    r = _lib.SSL_read_early_data(conn._ssl, buf, _EARLY_BUF, got)
    if r == 1:                                   # SSL_READ_EARLY_DATA_SUCCESS
        return "data", _ffi.buffer(buf, got[0])[:]
    if r == 2:                                   # SSL_READ_EARLY_DATA_FINISH
        return "finish", b""
    if _lib.SSL_get_error(conn._ssl, r) == _lib.SSL_ERROR_WANT_READ:
        return "want", b""
    return "error", b""


# ---- certificate choice (ssl's certs_keys; bridge.tls.certalts) ---------------------------

# SSL* (as an int) -> the object whose on_cert(ssl) installs the connection's certificate
_CERT_CHOOSERS: "weakref.WeakValueDictionary[int, object]" = weakref.WeakValueDictionary()


@_ffi.callback("int (*)(SSL *, void *)")
def _cert_cb(ssl, arg):
    owner = _CERT_CHOOSERS.get(int(_ffi.cast("uintptr_t", ssl)))
    if owner is None:
        return 1                  # nobody to choose: the connection goes on without one
    try:
        return 1 if owner.on_cert() else 0
    except Exception:             # a failure here is the handshake's, not the bridge's
        return 0


def set_cert_cb(ctx: SSL.Context) -> None:
    """The context asks for its certificate per connection (``SSL_CTX_set_cert_cb``:
    a server after the ClientHello, a client on a certificate request)."""
    _lib.SSL_CTX_set_cert_cb(ctx._context, _cert_cb, _ffi.NULL)


def choose_cert_with(conn: SSL.Connection, owner) -> None:
    """``owner.on_cert() -> bool`` answers the certificate callback for ``conn``."""
    _CERT_CHOOSERS[int(_ffi.cast("uintptr_t", conn._ssl))] = owner


def use_cert_key(conn: SSL.Connection, cert, key) -> bool:
    """Install a certificate and its key on one connection (``SSL_use_certificate``,
    ``SSL_use_PrivateKey``; pyOpenSSL X509/PKey objects)."""
    ok = _lib.SSL_use_certificate(conn._ssl, cert._x509) == 1 \
        and _lib.SSL_use_PrivateKey(conn._ssl, key._pkey) == 1
    if not ok:
        _lib.ERR_clear_error()
    return ok


def suite_names(conn: SSL.Connection, codes: list) -> list:
    """The OpenSSL names of suites given by their 2-byte codes (``SSL_CIPHER_find``);
    codes OpenSSL does not know are left out."""
    out = []
    for code in codes:
        c = _lib.SSL_CIPHER_find(conn._ssl, code)
        if c != _ffi.NULL:
            out.append(_ffi.string(_lib.SSL_CIPHER_get_name(c)).decode())
    return out
