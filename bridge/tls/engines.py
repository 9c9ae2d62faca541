"""The engine interface: what ``tls.transport`` and the service ask of the TLS
session of one connection, whichever library runs it.

Two engines implement it:

* ``tls.engine.TLSEngine`` — OpenSSL through pyOpenSSL, over memory BIOs: the
  default, for every connection whose options it can serve.
* ``tls.tlslite_engine.TLSLiteEngine`` — tlslite-ng (pure Python), for the
  features OpenSSL's Python bindings do not reach: SRP (RFC 5054) and NPN.

The choice is made per connection from its config (``TLSConfig.engine``) when the
connection is made (``make_engine``); the service never names an engine. The
option parser refuses, by name, an option set that neither engine can serve
(``bridge.service.options.unsupported``).

The per-record path costs the default engine nothing: the transport holds the engine
object and calls its methods directly (one attribute lookup, as before).
"""
from __future__ import annotations

from typing import Optional, Protocol, runtime_checkable

from .config import TLSConfig
from .context import CONTEXTS
from .engine import TLSEngine


@runtime_checkable
class Engine(Protocol):
    """One TLS session, sans-IO: ciphertext in, plaintext and events out.

    Failures are ``tls.engine.TLSAlertError`` (an alert sent or received, as plain
    facts) or ``tls.engine.TLSClosed`` (the peer went away without an alert);
    ``renegotiate`` raises ``tls.engine.RenegotiationError`` where it cannot."""

    cfg: TLSConfig
    role: str                   # "client" | "server"
    handshake_done: bool        # False again while a renegotiation runs (renegotiate())
    peer_closed: bool           # close_notify (or TCP EOF) seen by read_plaintext
    failed: Optional[Exception]  # a failure kept until the data before it is delivered
    tickets: list               # TLS 1.3 tickets for the owner (session_tickets manual)
    early_data_status: Optional[str]   # client: "accepted" | "rejected" early data, or None

    # ---- bytes in and out
    def receive_ciphertext(self, data: bytes) -> None: ...
    def receive_eof(self) -> None: ...
    def ciphertext_to_send(self) -> bytes: ...
    def do_handshake(self) -> bool: ...
    def read_plaintext(self) -> bytes: ...
    def write_plaintext(self, data) -> None: ...
    def close(self) -> None: ...
    def shutdown_write(self) -> None: ...
    def unread_input(self) -> bytes: ...
    def renegotiate(self) -> None: ...
    def continue_with(self, cfg: TLSConfig) -> None: ...   # after {handshake, hello}

    # ---- information
    @property
    def version(self) -> str: ...
    def cipher_name(self) -> str: ...
    def peer_cert_der(self) -> Optional[bytes]: ...
    def peer_chain_der(self) -> list[bytes]: ...
    @property
    def session_reused(self) -> bool: ...
    def session_id(self) -> bytes: ...
    def session_data(self) -> bytes: ...
    @property
    def alpn_protocol(self) -> Optional[bytes]: ...
    @property
    def next_protocol(self) -> Optional[bytes]: ...
    @property
    def sni(self) -> Optional[str]: ...
    def client_random(self) -> Optional[bytes]: ...
    def server_random(self) -> Optional[bytes]: ...
    def master_secret(self) -> Optional[bytes]: ...
    def traffic_secrets(self) -> dict[str, bytes]: ...
    def export_keying_material(self, label: bytes, length: int,
                               context: Optional[bytes] = None) -> bytes: ...


def make_engine(cfg: TLSConfig, peer: Optional[tuple] = None) -> Engine:
    """The engine for one connection of ``cfg``; ``peer``: a client's (host, port)."""
    if cfg.engine == "tlslite":
        from .tlslite_engine import TLSLiteEngine    # loaded by the first connection that needs it
        return TLSLiteEngine(cfg, peer)
    return TLSEngine(CONTEXTS.get(cfg), cfg, peer)
