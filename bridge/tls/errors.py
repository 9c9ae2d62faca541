"""How a TLS connection fails, as the engines (bridge.tls.engine, bridge.tls.tlslite_engine)
report it to the transport and the service."""
from __future__ import annotations

from typing import Optional

FATAL = 2       # alert level (RFC 5246 7.2)


class TLSAlertError(Exception):
    """The TLS session failed with an alert: ``code`` (RFC 8446 AlertDescription) at
    ``level`` (1 warning, 2 fatal), ``sent`` by us or received; ``role`` ("client" or
    "server"); how far the handshake got: ``handshake_done``, ``cert_failed`` (we
    rejected the peer's certificate), ``tls13`` (None: not negotiated yet);
    ``reason``: the certificate problem (a ``VERIFY_REASONS`` name, or what the
    verify hook failed with), when known."""

    def __init__(self, code: int, *, level: int = FATAL, sent: bool, role: str,
                 handshake_done: bool = False, cert_failed: bool = False,
                 tls13: Optional[bool] = None, reason=None):
        super().__init__(f"TLS {role}: alert {code} {'sent' if sent else 'received'}")
        self.code = code
        self.level = level
        self.sent = sent
        self.role = role
        self.handshake_done = handshake_done
        self.cert_failed = cert_failed
        self.tls13 = tls13
        self.reason = reason


class TLSClosed(Exception):
    """The peer went away without a TLS alert (TCP closed mid-handshake)."""


class RenegotiationError(Exception):
    """Renegotiation is impossible (TLS 1.3, or refused by OpenSSL)."""
