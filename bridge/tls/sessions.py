"""TLS 1.2 session resumption: the client's session cache and the session id.

ssl keeps one client session cache per node (``ssl_manager``/``ssl_client_session_cache_db``):
a client whose ``reuse_sessions`` is ``true`` offers the session it last made with the
same host, port and options; ``save`` stores the new session without offering one;
``{reuse_session, SessionId}`` offers a stored session by its id and
``{reuse_session, {SessionId, SessionData}}`` the session given. The bridge keeps one
such cache for every owner it serves (``CLIENT_SESSIONS``). Server sessions live in
OpenSSL's own cache of the listen socket's context (``bridge.tls.context``).

Sessions are kept as OpenSSL's ``SSL_SESSION`` ASN.1 encoding (``i2d_SSL_SESSION``,
``bridge.tls.ossl.session_der``): that is also what pyssl reports as ``session_data``
and takes back in ``{reuse_session, {Id, Data}}``. The session id is read from it
(``session_id_of``): SSL_SESSION_get_id is not among the bound functions.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Optional

# ssl's defaults: session_lifetime 7200 s (ssl app env), session_cache_client_max 1000
SESSION_LIFETIME = 7200
CLIENT_CACHE_MAX = 1000
# ssl's DEFAULT_MAX_EARLY_DATA_SIZE (ssl_internal.hrl): what a server with early_data
# enabled takes, when the ssl app env server_session_ticket_max_early_data is not set
MAX_EARLY_DATA = 16384


def _tlv(der: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of contents, end of contents) of the DER element at ``pos``."""
    tag = der[pos]
    n = der[pos + 1]
    pos += 2
    if n & 0x80:
        k = n & 0x7F
        if k == 0 or k > 4:
            raise ValueError("unsupported DER length")
        n = int.from_bytes(der[pos:pos + k], "big")
        pos += k
    if pos + n > len(der):
        raise ValueError("truncated DER")
    return tag, pos, pos + n


def session_id_of(der: bytes) -> bytes:
    """The session id in OpenSSL's SSL_SESSION encoding (b"" if none or unreadable):
    ``SEQUENCE { version INTEGER, sslversion INTEGER, cipher OCTET STRING,
    session_id OCTET STRING, master_key OCTET STRING, ... }`` (OpenSSL ssl/ssl_asn1.c)."""
    if not der:
        return b""
    try:
        tag, pos, end = _tlv(der, 0)
        if tag != 0x30:
            return b""
        for _field in range(3):
            _t, _s, pos = _tlv(der, pos)
        tag, start, stop = _tlv(der, pos)
        return der[start:stop] if tag == 0x04 and stop <= end else b""
    except (ValueError, IndexError):
        return b""


def max_fragment_len_mode(der: bytes) -> Optional[int]:
    """The negotiated max_fragment_length extension's code (RFC 6066: 1..4 for
    2^9..2^12 bytes) in OpenSSL's SSL_SESSION encoding (``[17] EXPLICIT INTEGER``,
    ssl/ssl_asn1.c), or None when the session has none."""
    if not der:
        return None
    try:
        tag, pos, end = _tlv(der, 0)
        if tag != 0x30:
            return None
        while pos < end:
            tag, start, pos = _tlv(der, pos)
            if tag == 0xB1:
                itag, istart, istop = _tlv(der, start)
                value = int.from_bytes(der[istart:istop], "big") if itag == 0x02 else 0
                return value if 1 <= value <= 4 else None
        return None
    except (ValueError, IndexError):
        return None


def has_ticket(der: bytes) -> bool:
    """The session carries a ticket from the server (``[10] tlsext_tick`` in OpenSSL's
    SSL_SESSION encoding): a TLS 1.3 client can offer it."""
    try:
        tag, pos, end = _tlv(der, 0)
        while pos < end:
            tag, _s, pos = _tlv(der, pos)
            if tag == 0xAA:
                return True
    except (ValueError, IndexError):
        return False
    return False


class ClientSessions:
    """Client sessions by peer (host, port, options) and by session id; the oldest
    go first past ``size`` entries, and none is offered after ``lifetime`` seconds."""

    def __init__(self, size: int = CLIENT_CACHE_MAX, lifetime: float = SESSION_LIFETIME):
        self._by_peer: OrderedDict = OrderedDict()     # peer key -> (session id, der, time)
        self._by_id: dict[bytes, tuple[bytes, float]] = {}
        self._size = size
        self.lifetime = lifetime
        self._lock = threading.Lock()      # engines run handshake steps on worker threads

    def store(self, peer, der: bytes, sid: Optional[bytes] = None) -> None:
        """Keep ``der`` as ``peer``'s session (by its session id, or ``sid``)."""
        sid = sid or session_id_of(der)
        if not sid:
            return
        now = time.monotonic()
        with self._lock:
            old = self._by_peer.pop(peer, None)
            if old is not None:
                self._by_id.pop(old[0], None)
            self._by_peer[peer] = (sid, der, now)
            self._by_id[sid] = (der, now)
            while len(self._by_peer) > self._size:
                _k, (old_sid, _d, _t) = self._by_peer.popitem(last=False)
                self._by_id.pop(old_sid, None)

    def for_peer(self, peer) -> Optional[bytes]:
        with self._lock:
            got = self._by_peer.get(peer)
        if got is None or time.monotonic() - got[2] > self.lifetime:
            return None
        return got[1]

    def for_id(self, sid: bytes) -> Optional[bytes]:
        with self._lock:
            got = self._by_id.get(sid)
        if got is None or time.monotonic() - got[1] > self.lifetime:
            return None
        return got[0]

    def clear(self) -> None:
        with self._lock:
            self._by_peer.clear()
            self._by_id.clear()


CLIENT_SESSIONS = ClientSessions()
# TLS 1.3 tickets of session_tickets auto clients (a ticket's session has no id of its
# own worth the name: OpenSSL gives it a random one), by the same peer keys
CLIENT_TICKETS = ClientSessions()


# ---- server: what a reuse_session fun is told ------------------------------------------

# OpenSSL's default server cache size (SSL_SESSION_CACHE_MAX_SIZE_DEFAULT)
SERVER_CACHE_MAX = 1024 * 20


class ServerSessions:
    """The TLS 1.2 sessions servers with a ``reuse_session`` fun made, by session id:
    what ssl's ``ssl_session:is_resumable/4`` passes the fun (the peer's certificate
    and the cipher suite) and which id context the session was made in. OpenSSL's own
    cache (the listen context's) holds the sessions themselves; it cannot be searched
    from Python (SSL_CTX_sess_set_get_cb is not bound), so this mirrors what is needed,
    with the same lifetime."""

    def __init__(self, size: int = SERVER_CACHE_MAX, lifetime: float = SESSION_LIFETIME):
        self._by_id: OrderedDict = OrderedDict()   # id -> (peer cert, cipher, sid ctx, time)
        self._size = size
        self.lifetime = lifetime
        self._lock = threading.Lock()

    def store(self, sid: bytes, peer_cert: Optional[bytes], cipher: str, sid_ctx: bytes) -> None:
        if not sid:
            return
        with self._lock:
            self._by_id.pop(sid, None)
            self._by_id[sid] = (peer_cert, cipher, sid_ctx, time.monotonic())
            while len(self._by_id) > self._size:
                self._by_id.popitem(last=False)

    def get(self, sid: bytes) -> Optional[tuple]:
        """(peer certificate DER or None, OpenSSL cipher name, id context) or None."""
        with self._lock:
            got = self._by_id.get(sid)
        if got is None or time.monotonic() - got[3] > self.lifetime:
            return None
        return got[:3]


SERVER_SESSIONS = ServerSessions()


def offered_session_id(first_bytes: bytes) -> Optional[bytes]:
    """The legacy_session_id of a ClientHello from the first bytes of a connection
    (b"" when the client offers none; None while too few bytes came, or when they are
    not a TLS handshake record with a ClientHello, RFC 5246 7.4.1.2):
    record header (5) + handshake header (4) + client_version (2) + random (32), then
    the id's length and the id."""
    if len(first_bytes) < 44:
        return None
    if first_bytes[0] != 0x16 or first_bytes[5] != 0x01:
        return b""
    n = first_bytes[43]
    if n > 32:
        return b""
    if len(first_bytes) < 44 + n:
        return None
    record_len = int.from_bytes(first_bytes[3:5], "big")
    if record_len < 39 + n:          # the id is not all in the first record: not looked at
        return b""
    return bytes(first_bytes[44:44 + n])
