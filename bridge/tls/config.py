"""What the TLS engine needs to know, already validated.

The service's option parser (``bridge.service.options``) turns an Erlang ssl option
list into one of these; ``bridge.tls.context`` turns it into an OpenSSL
context. Everything here is plain Python data: no Erlang terms, no file paths
(files are read on the calling Erlang node before this is built).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

# OTP protocol atoms, in OTP's order of preference.
ALL_VERSIONS = ("tlsv1.3", "tlsv1.2", "tlsv1.1", "tlsv1")
DEFAULT_VERSIONS = ("tlsv1.3", "tlsv1.2")


@dataclass
class TLSConfig:
    role: str                                   # "client" | "server"
    versions: tuple[str, ...] = DEFAULT_VERSIONS  # OTP names, e.g. ("tlsv1.3", "tlsv1.2")
    # OpenSSL cipher list for TLS <= 1.2 and TLS 1.3 ciphersuites; None = defaults.
    cipher_list: Optional[str] = None
    ciphersuites_13: Optional[str] = None
    verify: str = "verify_none"                 # "verify_none" | "verify_peer"
    depth: int = 10                             # OTP 25 default
    fail_if_no_peer_cert: bool = False
    cert_chain: list[bytes] = field(default_factory=list)  # DER, leaf first
    key_der: Optional[bytes] = None            # PKCS#8 / traditional DER private key
    key_pem: Optional[bytes] = None            # PEM (possibly encrypted)
    password: Optional[bytes] = None
    # ssl's certs_keys with several pairs: (chain, key DER, key PEM, password) each, in
    # the caller's order; the connection's pair is chosen per handshake (bridge.tls.certalts)
    cert_alts: tuple = ()
    cacerts: list[bytes] = field(default_factory=list)  # DER trust anchors
    dh_pem: Optional[bytes] = None              # PEM DH parameters
    server_name_indication: Optional[str] = None  # client: SNI to send; None = none
    hostname_check: Optional[str] = None        # client verify_peer: name to check
    secure_renegotiate: bool = True
    # True | False | "save" (client: store the new session, offer none), as ssl's option
    reuse_sessions: object = True
    # client: {reuse_session, Id} -> the session id (bytes) to offer from the cache;
    # {reuse_session, {Id, Data}} -> (id, data) with data as pyssl's session_data
    reuse_session: object = None
    # TLS 1.3 tickets, ssl's session_tickets: server "disabled" | "stateless" |
    # "stateful"; client "disabled" | "auto" | "manual" (bridge.tls.sessions)
    session_tickets: str = "disabled"
    # client, manual: the tickets to offer (use_ticket; what "manual" handed out)
    use_ticket: tuple = ()
    # TLS 1.3 early data (ssl's early_data): a server's ``enabled`` (True) takes up to
    # MAX_EARLY_DATA bytes with a ticket; a client's binary goes with its ClientHello
    early_data: object = None
    # server: the caller's reuse_session fun, asked (on the handshake thread, may block)
    # whether the TLS 1.2 session a client offers may be resumed:
    # reuse_hook(session id, peer certificate DER or None, OpenSSL cipher name) -> bool
    reuse_hook: Optional[object] = None
    # server: OpenSSL's session id context. A session is resumed only in the context
    # it was made in; bridge.tls.engine switches a connection to a twin context (other
    # id context, same everything else) to make OpenSSL miss a session reuse_hook refused
    session_id_context: bytes = b"pyssl-bridge"
    alpn_advertised: list[bytes] = field(default_factory=list)   # client: protocols offered
    alpn_preferred: list[bytes] = field(default_factory=list)    # server: preference order
    # Verification callback hook (verify_fun): set by the service; the engine
    # (bridge.tls.engine) calls it from its handshake thread and it may block.
    # The contract::
    #
    #     hook(der: bytes, depth: int, event) -> (verdict, value)
    #       event   = ("bad_cert", reason_atom_name) | "valid" | "valid_peer"
    #       verdict = "valid" | "valid_peer" | "unknown"   accept (as public_key does, unknown
    #                                                      fails only a critical extension)
    #               | "fail"                               value is the reason: ("bad_cert", name)
    #                                                      or any other value (handshake_failure)
    #
    # It is called as OTP's path validation calls a ``verify_fun``: for each certificate of the
    # peer's path except the trust anchor, top down, first ``("bad_cert", R)`` for each problem
    # OpenSSL found with it, then ``"valid"`` (``"valid_peer"`` for the peer's own certificate,
    # or ``("bad_cert", "hostname_check_failed")`` in its place when the name does not match).
    # An unknown CA the hook accepts becomes the anchor (no more calls for it).
    #
    # The same callback runs the other certificate hooks of ``cfg``, all on the handshake
    # thread: ``partial_chain_hook(path)`` once, at its first call (a certificate of the
    # chain it returns becomes the anchor), ``crl_hook(der, issuer_der, depth)`` for each
    # certificate OpenSSL validated but the anchor, and ``hostname_hook(der)`` for the
    # peer's certificate in place of OpenSSL's host check (customize_hostname_check).
    # With a hook, a client verifies even under verify_none (OTP does too: the hook
    # decides). An exception in the hook fails the handshake with handshake_failure.
    verify_hook: Optional[object] = None
    # client, customize_hostname_check: hook(der) -> bool replaces OpenSSL's host
    # name check (called on the handshake thread, may block; raises if it crashed)
    hostname_hook: Optional[object] = None
    # partial_chain: hook(path) -> der | None, path = the DER chain, anchor side
    # first; the cert returned becomes the trust anchor (handshake thread, may block)
    partial_chain_hook: Optional[object] = None
    # crl_check: hook(der, issuer_der, depth) -> "valid" | ("revoked", reason) |
    # "undetermined", for each certificate OpenSSL validated but the anchor
    crl_hook: Optional[object] = None
    # server: SNI host name -> TLSConfig to switch to (sni_hosts; certificate and key)
    sni_configs: dict = field(default_factory=dict)
    # server: sni_fun: called (on the handshake thread, may block) with a host name
    # sni_configs lacks; returns the TLSConfig to switch to, or None
    sni_hook: Optional[object] = None
    # TLS 1.2 PSK suites: psk turns OpenSSL's PSK callbacks on; psk_identity is the
    # client's identity or the server's hint; psk_hook(identity or hint) -> key
    # (the caller's user_lookup_fun; called on the handshake thread, may block)
    psk: bool = False
    psk_identity: Optional[bytes] = None
    psk_hook: Optional[object] = None
    # server: choose the suite by our own cipher order (ssl's honor_cipher_order)
    honor_cipher_order: bool = False
    # server: accept a renegotiation the client starts (ssl's client_renegotiation);
    # False: libssl answers it with a no_renegotiation warning and goes on, as ssl
    client_renegotiation: bool = True
    # server, verify_peer: name the trusted CAs in the CertificateRequest, as ssl
    # (ssl_handshake:certificate_request/4; TLS 1.3 only with certificate_authorities)
    ca_names: bool = True
    # TLS 1.0 CBC records: False (beast_mitigation disabled) sends them unsplit
    split_records: bool = True
    # client: TLS_FALLBACK_SCSV in the ClientHello (ssl's fallback, RFC 7507)
    fallback: bool = False
    # OpenSSL sigalgs list (signature_algs, OTP's schemes in OpenSSL's names); None = default
    sigalgs: Optional[str] = None
    # OpenSSL groups list (eccs / supported_groups); None = the engine's default
    groups: Optional[str] = None
    # keep_secrets: record the TLS 1.3 traffic secrets OpenSSL's keylog callback
    # reports (TLSEngine.traffic_secrets), as ssl keeps them for connection_information
    keep_secrets: bool = False
    # SRP (RFC 5054, TLS 1.2; the tlslite-ng engine, bridge.tls.engines): a client's
    # (user, password) from srp_identity; a server's srp_hook(user) -> (N, g, salt,
    # verifier) or None (the caller's user_lookup_fun; may block); srp_server: a
    # server whose suites include SRP ones and that has a user_lookup_fun
    srp_identity: Optional[tuple[bytes, bytes]] = None
    srp_hook: Optional[object] = None
    srp_server: bool = False
    # NPN (TLS 1.2 and older; the tlslite-ng engine): a server's advertised protocols
    # (next_protocols_advertised); a client's (precedence "client" | "server",
    # protocols, default or None) from client_preferred_next_protocols
    npn_advertised: Optional[list[bytes]] = None
    npn_selector: Optional[tuple] = None
    # the IANA codes of the caller's cipher suites, in order (the tlslite-ng engine
    # picks its suites from them; the OpenSSL one reads cipher_list)
    suites: tuple[int, ...] = ()
    # No free-form bag (issue 10): every option the engine honours is a named field
    # above; hibernate_after and log_level are the shim's and the bridge logger's
    # (docs/options.md), middlebox_comp_mode false is refused by name

    @property
    def engine(self) -> str:
        """Which engine runs a connection of this config: "tlslite" for SRP and NPN,
        which OpenSSL's Python bindings cannot reach; "openssl" for the rest."""
        if self.srp_identity is not None or self.srp_server or self.npn_advertised is not None \
                or self.npn_selector is not None:
            return "tlslite"
        return "openssl"

    @property
    def blocking_hooks(self) -> bool:
        """Hooks that may wait for Erlang: handshake steps must run off the loop. So
        do the tlslite-ng engine's (pure Python public-key arithmetic: its RSA-2048
        signature or SRP's exponentiations take milliseconds, bench.engine_bench)."""
        return (self.verify_hook is not None or self.sni_hook is not None or self.psk_hook is not None
                or self.reuse_hook is not None or self.hostname_hook is not None
                or self.partial_chain_hook is not None or self.crl_hook is not None
                or self.srp_hook is not None or self.engine == "tlslite")
