"""A TLS connection over memory BIOs: ciphertext in, plaintext out, and back (sans-IO).

``TLSEngine(ctx, cfg)`` never touches a socket. Its API:

* ``receive_ciphertext(data)`` — bytes the peer sent; ``receive_eof()`` — the peer's TCP
  stream ended.
* ``ciphertext_to_send() -> bytes`` — drain what must go to the peer (b"" if nothing).
* ``do_handshake() -> bool`` — advance the handshake; True once complete. Raises
  ``TLSAlertError``. May call ``cfg.verify_hook`` (which may block): run it off the loop.
* ``read_plaintext() -> bytes`` — all application data decryptable now (b"" if none); sets
  ``peer_closed`` on close_notify or TCP EOF. A failure after some data was decrypted is
  kept in ``failed`` (deliver the data, then the error); without data it is raised.
* ``write_plaintext(data)`` — encrypt; during a TLS 1.2 renegotiation (or if OpenSSL
  cannot take it now) it is queued and sent once the renegotiation is done (or by the
  next ``read_plaintext``/``do_handshake``); ``pending_writes`` tells.
* ``close()`` / ``shutdown_write()`` — queue a close_notify (idempotent).
* ``renegotiate()`` — start a TLS 1.2 renegotiation (``RenegotiationError`` otherwise);
  progress it with ``do_handshake()`` until True. The peer's data meanwhile is kept for
  ``read_plaintext``, which then only hands it out (it never drives a renegotiation).
* Information: ``version`` (OTP atom name), ``cipher_name()``, ``cipher_suite``,
  ``peer_cert_der()``, ``peer_chain_der()``, ``session_reused``, ``session_id()``,
  ``alpn_protocol``, ``sni``, ``client_random()``, ``server_random()``,
  ``master_secret()`` (TLS <= 1.2 only, else None), ``traffic_secrets()`` (TLS 1.3,
  with ``cfg.keep_secrets``), ``export_keying_material()``.

Failures come out as ``TLSAlertError``: plain facts (the alert's level and RFC 8446
description code, who sent it, the handshake's progress, the certificate problem if
any). This package speaks no Erlang: ``bridge.service.errors.tls_alert`` words them as
OTP's ``{tls_alert, {Name, Text}}`` (``ssl_alert:reason_code/4``).

Certificate verification runs in our own OpenSSL verify callback, which translates
``X509_V_ERR_*`` to OTP's ``{bad_cert, Reason}`` reasons, calls the ``verify_fun`` hook
and steers OpenSSL's outgoing alert to the one OTP's ``ssl_handshake:path_validation_alert/1``
would send (e.g. ``bad_certificate`` for a self-signed peer, where OpenSSL says unknown_ca).

The verify hook contract (``cfg.verify_hook``) and the other certificate hooks are
described at ``TLSConfig.verify_hook`` (bridge.tls.config).
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any, Optional

from OpenSSL import SSL, crypto

from . import alerts, callbacks, hostnames, ossl, sessions
# VERIFY_REASONS: imported from here by the service
from .alerts import ALERT_X509_ERR as _ALERT_X509_ERR, HOOK_CRASHED as _HOOK_CRASHED  # noqa: F401
from .alerts import REASON_ALERT as _REASON_ALERT, VERIFY_REASONS
from .certalts import CertChooser
from .config import TLSConfig
from .context import CONTEXTS, config_key
# the engine's exceptions, imported from here by the transport and the service
from .errors import FATAL, RenegotiationError, TLSAlertError, TLSClosed  # noqa: F401
from .hello import CLIENT_HELLO, SERVER_NAME, Hello, HelloError, HelloReader, server_name

log = logging.getLogger(__name__)

# RFC 8446 6 / RFC 5246 7.2 AlertDescription codes used here
CLOSE_NOTIFY, UNEXPECTED_MESSAGE, BAD_RECORD_MAC, RECORD_OVERFLOW = 0, 10, 20, 22
HANDSHAKE_FAILURE, ILLEGAL_PARAMETER, INSUFFICIENT_SECURITY, INTERNAL_ERROR = 40, 47, 71, 80
_CB_ALERT = 0x4000
_CB_READ = 0x04
_CB_WRITE = 0x08
_VERSION_NAMES = {"TLSv1": "tlsv1", "TLSv1.1": "tlsv1.1", "TLSv1.2": "tlsv1.2", "TLSv1.3": "tlsv1.3"}

# an empty list/dict an engine has not needed yet (see TLSEngine.__init__)
_EMPTY: Any = ()


class TLSEngine:
    # over 30 attributes (CPython 3.11's shared-keys limit): each engine had its own ~1.3 KB
    # dict (issue 14). __weakref__: the verify/servername callbacks' weak maps (ossl)
    __slots__ = ("_anchor_depth", "_bios_used", "_chooser", "_early_accepted", "_kept_plain",
                 "_early_reading", "_early_sent", "_early_wanted", "_first_header", "_held",
                 "_hello", "_host_checked", "_judged", "_out_pending", "_secrets",
                 "_session_name", "_session_peer", "_sid_ctx", "_sni_host", "_sniff",
                 "_tickets_wanted", "_vf", "alert_received", "alert_sent", "cfg", "client_hello",
                 "conn", "early_data_status", "eof", "failed", "handshake_done", "peer_closed",
                 "psk_failed", "refusal", "renegotiating", "reuse_failed", "role", "sni_error",
                 "tickets", "verify_error", "verify_reason", "__weakref__")

    def __init__(self, ctx: SSL.Context, cfg: TLSConfig, peer: Optional[tuple] = None):
        """``peer``: a client's (host, port), which names its sessions in the cache."""
        self.cfg = cfg
        self.role = cfg.role
        conn = SSL.Connection(ctx, None)
        self.conn = conn
        self.alert_sent: Optional[tuple[int, int]] = None
        self.alert_received: Optional[tuple[int, int]] = None
        self.verify_error: Optional[int] = None     # X509_V_ERR_* we rejected the peer for
        self.verify_reason = None                   # OTP reason for it (or the hook's)
        self.handshake_done = False
        self.renegotiating = False
        self.peer_closed = False        # close_notify (or TCP EOF) received
        self.eof = False
        self.failed: Optional[TLSAlertError] = None
        self._out_pending: list[bytes] = []
        self._first_header = b""         # the peer's first record header (5 bytes)
        self.sni_error: Optional[Exception] = None   # the sni hook raised
        # server with a reuse_session fun: the connection's first bytes, until the
        # ClientHello's session id is in them (see _ask_reuse_hook)
        self._hello: Optional[bytes] = b"" if cfg.role == "server" and cfg.reuse_hook else None
        # server: the ClientHello read as it comes (bridge.tls.hello), for what OpenSSL
        # does not tell: the suites, schemes and groups offered (callbacks.refuse_hello)
        # and the server name; dropped once the handshake is done. With sni_hosts/sni_fun
        # its bytes are held back until it is whole (_release_hello): the host's options
        # choose the version, which OpenSSL settles before its servername callback runs
        self._sniff: Optional[HelloReader] = HelloReader(CLIENT_HELLO) if cfg.role == "server" else None
        self.client_hello: Optional[Hello] = None
        self._held: Optional[bytearray] = bytearray() \
            if cfg.role == "server" and (cfg.sni_configs or cfg.sni_hook is not None) else None
        self._sni_host: Optional[tuple] = None       # (name, host TLSConfig or None), once asked
        self.refusal: Optional[str] = None           # OTP's reason for an insufficient_security
        self._judged = False
        self._sid_ctx = cfg.session_id_context
        # certs_keys with several pairs: ssl's choice among them, per connection
        # (sni_fun may switch to options that hold several)
        self._chooser = CertChooser(conn, cfg) \
            if cfg.cert_alts or (cfg.role == "server" and cfg.sni_hook is not None) else None
        # TLS 1.3 early data: a server reads it before the handshake goes on (OpenSSL
        # wants SSL_read_early_data first) and gives it as the first plaintext; a
        # client tells its owner whether the server took what it sent
        self._early_reading = cfg.role == "server" and cfg.early_data is True \
            and cfg.session_tickets in ("stateless", "stateful")
        # plaintext read before the owner may have it: accepted early data (TLS 1.3
        # server), application data that came during a renegotiation. It and the two
        # below start as the shared empty tuple and become a list/dict only when
        # used: an idle connection's empty ones cost ~0.2 KB (issue 14)
        self._kept_plain: list[bytes] = _EMPTY
        self._early_wanted = False       # client: early data to send with a ticket
        self._early_sent = False         # ... and OpenSSL took it
        self._early_accepted = False
        self.early_data_status: Optional[str] = None   # client: "accepted" | "rejected"
        self.psk_failed = False          # the PSK hook gave no key: illegal_parameter, as OTP
        self.reuse_failed = False        # the reuse_session hook failed: handshake_failure
        # verify hook bookkeeping: (depth, reason) already told, the depth of an
        # accepted unknown CA, a host name mismatch waiting for the leaf's turn
        self._vf: Optional[dict] = None            # made on the hook's first call
        # partial_chain: asked once (None: not yet); the depth of the cert its fun
        # made the trust anchor (-1: none); customize_hostname_check: checked once
        self._anchor_depth: Optional[int] = None
        self._host_checked = False
        self._bios_used = True           # the handshake's BIOs, renewed once it is over
        self._session_peer: Optional[tuple] = None   # client: where it looks sessions up
        self._session_name: Optional[tuple] = None   # client: where it keeps its own
        self._tickets_wanted = False     # client, session_tickets auto|manual: take a ticket
        self.tickets: list[bytes] = _EMPTY   # manual: tickets for the owner, taken by the transport
        # keep_secrets: NSS key log label -> secret, as OpenSSL's keylog callback
        # reported them (bridge.tls.callbacks.on_keylog)
        self._secrets: dict[str, bytes] = _EMPTY
        # the callbacks (info, servername, PSK, keylog) find the engine as the
        # connection's app data, through one shared C callback each (bridge.tls.ossl)
        ossl.set_owner(conn, self)
        self._set_verify(cfg)
        if cfg.role == "client":
            conn.set_connect_state()
            sni = cfg.server_name_indication
            if sni:
                if hostnames.ip_literal(sni) is None:   # no SNI for IP literals (RFC 6066)
                    try:
                        name = hostnames.idna(sni)
                    except UnicodeError:
                        # a label over 63 characters, a surrogate...: the idna codec
                        # refuses what OTP sends as given; so do we
                        name = sni.encode("utf-8", "surrogatepass")
                    conn.set_tlsext_host_name(name)
            self._set_host_check(cfg)
            if peer is not None:
                # ssl looks a session up under the host it connects to and registers
                # it under the server name it sent (tls_dtls_connection:host_id/3), so
                # a session made with another server name is not found; each key also
                # holds the options, so no session is offered under other ones
                ck = config_key(cfg)
                self._session_peer = (peer, ck)
                self._session_name = ((cfg.server_name_indication or peer[0], peer[1]), ck)
            self._tickets_wanted = (cfg.session_tickets == "auto" and peer is not None) \
                or cfg.session_tickets == "manual"
            self._offer_session()
        else:
            self._accept_with(conn)

    def _accept_with(self, conn: SSL.Connection) -> None:
        """A server connection's per-SSL set-up (once made, or made anew by _release_hello)."""
        conn.set_accept_state()

    def _set_verify(self, cfg: TLSConfig) -> None:
        conn = self.conn
        if cfg.verify == "verify_peer" or (cfg.verify_hook is not None and cfg.role == "client"):
            mode = SSL.VERIFY_PEER
            if cfg.role == "server" and cfg.fail_if_no_peer_cert:
                mode |= SSL.VERIFY_FAIL_IF_NO_PEER_CERT
            # our own callback (on_verify): pyOpenSSL's does not give access to the
            # store context, which we need to read the current certificate and to
            # choose the alert; the shared C callback finds this engine by SSL*
            ossl.set_verify(conn, mode, self)
        else:
            conn.set_verify(SSL.VERIFY_NONE, None)

    def _set_host_check(self, cfg: TLSConfig) -> None:
        if cfg.hostname_check and cfg.verify == "verify_peer" and cfg.hostname_hook is None:
            ossl.set_host_check(self.conn, cfg.hostname_check)

    def continue_with(self, cfg: TLSConfig) -> None:
        """A client paused after the ServerHello goes on with ``cfg`` (ssl's
        ``handshake_continue``: the options apply to what is still to come). The
        ClientHello is out: what can still change is the context's trust store,
        certificate and key (``SSL_set_SSL_CTX``), verification and the hooks."""
        self.cfg = cfg
        self.conn.set_context(CONTEXTS.get(cfg))
        self._set_verify(cfg)
        self._set_host_check(cfg)

    # ---- sessions (TLS 1.2 resumption; bridge.tls.sessions) ---------------------
    def _offer_session(self) -> None:
        """The client session to offer, as ssl's ``ssl_session:client_select_session``
        picks it: an explicit ``reuse_session`` first, else (``reuse_sessions`` true)
        the last session with this peer and options."""
        cfg = self.cfg
        der = None
        explicit = cfg.reuse_session
        if isinstance(explicit, (bytes, bytearray)):
            der = sessions.CLIENT_SESSIONS.for_id(bytes(explicit))
        elif isinstance(explicit, tuple):
            sid, data = explicit
            if sessions.session_id_of(data) == sid:
                der = data
        elif cfg.session_tickets == "manual":
            # {use_ticket, [Ticket]}: the first of pyssl's tickets given
            der = next((t for t in cfg.use_ticket if sessions.has_ticket(t)), None)
        elif self._session_peer is not None:
            if cfg.session_tickets == "auto" and "tlsv1.3" in cfg.versions:
                # ssl's automatic TLS 1.3 resumption: a ticket this peer gave earlier
                # (ssl's ticket store goes by the server name too)
                der = sessions.CLIENT_TICKETS.for_peer(self._session_name)
            if der is None and cfg.reuse_sessions is True:
                der = sessions.CLIENT_SESSIONS.for_peer(self._session_peer)
        if der and cfg.early_data is not None and "tlsv1.3" in cfg.versions:
            room = ossl.session_max_early_data(der)
            if cfg.session_tickets == "auto" and room < len(cfg.early_data):
                # auto: ssl resumes with no ticket rather than one that cannot take the
                # early data (tls_handshake_1_3:choose_ticket/2)
                der = None
            elif ossl.offer_session(self.conn, der):
                # a ticket the owner chose: ssl sends the early data even when the ticket
                # says the server takes none, and hears it was rejected; OpenSSL will
                # not send it then, and the owner hears the same
                self._early_wanted = True
                if room >= len(cfg.early_data):
                    self._early_sent = ossl.write_early_data(self.conn, cfg.early_data)
                    if self._early_sent:
                        ossl.watch_states(self.conn)     # for _info's EndOfEarlyData
                return
        if der:
            ossl.offer_session(self.conn, der)

    def _keep_session(self) -> None:
        """A client's new TLS 1.2 session goes into the cache when it verified the
        server and ``reuse_sessions`` is true or save, as ssl registers it
        (``tls_dtls_connection:handle_session/6``)."""
        if self.role != "client" or not self.cfg.reuse_sessions or self._session_peer is None \
                or self.cfg.verify != "verify_peer":
            return
        if self.version == "tlsv1.3" or ossl.session_reused(self.conn):
            return
        der = ossl.session_der(self.conn)
        if der:
            sessions.CLIENT_SESSIONS.store(self._session_name, der)

    def _keep_ticket(self) -> None:
        """session_tickets auto (or manual: for the owner): a TLS 1.3 client keeps the first ticket the server
        sends after the handshake (each connection's reads look until one came; OpenSSL
        updates the connection's session in place, so its encoding tells)."""
        if self.version != "tlsv1.3":
            self._tickets_wanted = False
            return
        der = ossl.session_der(self.conn)
        if sessions.has_ticket(der):
            self._tickets_wanted = False
            if self.cfg.session_tickets == "manual":
                self.tickets = [*self.tickets, der]   # {ssl, session_ticket, Ticket} to the owner
                return
            # a TLS 1.3 session's id may be empty: the ticket store keys it by peer
            sessions.CLIENT_TICKETS.store(self._session_name, der, sid=b"%d" % id(self))

    def session_data(self) -> bytes:
        """pyssl's ``session_data``: the session's encoding, which a client's
        ``{reuse_session, {Id, Data}}`` takes back (ssl's is its own #session{} record)."""
        return ossl.session_der(self.conn)

    # ---- callbacks ------------------------------------------------------------
    def _info(self, conn, where, ret) -> None:
        # OpenSSL's info callback (bridge.tls.ossl.set_owner): alerts only, every state
        # change too once a client's early data is out (ossl.watch_states)
        if self._early_sent and not self._early_accepted \
                and conn.get_state_string() == b"TLSv1.3 write end of early data":
            # a client sends EndOfEarlyData only when the server accepted its early data
            # (RFC 8446 4.5): SSL_get_early_data_status is not among the bound functions
            self._early_accepted = True
        if where & _CB_ALERT:
            alert = ((ret >> 8) & 0xFF, ret & 0xFF)
            if alert[1] == 0:
                return
            if where & _CB_WRITE:
                if self.alert_sent is None:
                    self.alert_sent = alert
            elif self.alert_received is None:
                self.alert_received = alert

    @staticmethod
    def context_for(cfg: TLSConfig) -> SSL.Context:
        """The (cached) context of another configuration (SNI switches to it)."""
        return CONTEXTS.get(cfg)

    def switched_to(self, cfg: TLSConfig) -> None:
        """SNI switched the connection to ``cfg``'s context: its pairs are chosen from."""
        if self._chooser is not None:
            self._chooser.cfg = cfg

    def on_verify(self, ok: int, store) -> int:
        try:
            return self._verify_step(ok, store)
        except BaseException:      # never let an exception escape into OpenSSL
            self.verify_error = 17
            self.verify_reason = _HOOK_CRASHED
            ossl.store_set_error(store, 17)
            return 0

    def _verify_step(self, ok: int, store) -> int:
        err = ossl.store_error(store)
        depth = ossl.store_depth(store)
        cfg = self.cfg
        if cfg.partial_chain_hook is not None:
            if self._anchor_depth is None:
                self._anchor_depth = self._partial_chain_anchor(store)
                if self._anchor_depth == -2:
                    return self._reject(store, 17, _HOOK_CRASHED)
            if 0 <= self._anchor_depth <= depth:
                # the anchor the fun chose and what is above it are not validated
                ossl.store_set_error(store, 0)
                return 1
        if ok and cfg.crl_hook is not None:
            refused = self._crl_check(store, depth)
            if refused is not None:
                return refused
        hook = cfg.verify_hook
        host_failed = False
        if ok and depth == 0 and cfg.hostname_hook is not None and not self._host_checked:
            # ssl_certificate:validate(Cert, valid_peer, ...) with customize_hostname_check
            self._host_checked = True
            try:
                host_failed = not cfg.hostname_hook(ossl.store_current_der(store))
            except Exception as exc:
                log.warning("customize_hostname_check failed: %r", exc)
                return self._reject(store, 17, _HOOK_CRASHED)
            if host_failed and hook is None:
                return self._reject(store, 62, "hostname_check_failed")
        if not ok and hook is None:
            return self._reject(store, err, VERIFY_REASONS.get(err, f"x509_error_{err}"))
        if hook is None:
            return 1
        # OpenSSL calls back once per error and once more per certificate; the
        # hook sees what OTP's path validation shows a verify_fun: each
        # certificate once, top down, with {bad_cert, R} for each problem first.
        vf = self._vf
        if vf is None:
            vf = self._vf = {"told": set(), "anchor": None, "hostname": False}
        if host_failed:
            vf["hostname"] = True
        if ok:
            der = ossl.store_current_der(store)
            if depth > 0 and der in self.cfg.cacerts:
                return 1                       # OTP does not show the trust anchor
            if vf["anchor"] is not None and depth >= vf["anchor"]:
                return 1                       # the unknown CA the fun accepted is the anchor
            if depth == 0 and vf["hostname"]:
                # OTP checks the host name in place of valid_peer
                event = ("bad_cert", "hostname_check_failed")
            else:
                event = "valid_peer" if depth == 0 else "valid"
        else:
            reason = VERIFY_REASONS.get(err, f"x509_error_{err}")
            if reason == "hostname_check_failed" and depth == 0:
                vf["hostname"] = True          # told to the hook at the leaf's turn
                ossl.store_set_error(store, 0)
                return 1
            if (depth, reason) in vf["told"] or (reason == "unknown_ca" and vf["anchor"] is not None):
                ossl.store_set_error(store, 0)
                return 1                       # the same problem, already accepted
            vf["told"].add((depth, reason))
            event = ("bad_cert", reason)
            der = ossl.store_current_der(store)
        try:
            verdict, value = hook(der, depth, event)
        except Exception as exc:
            log.warning("verify hook failed: %r", exc)
            return self._reject(store, 17, _HOOK_CRASHED)
        bad = isinstance(event, tuple)
        if verdict == "fail":
            return self._reject(store, err or (62 if event[1:] == ("hostname_check_failed",) else 50), value)
        if bad and event[1] == "unknown_ca":
            vf["anchor"] = depth
        ossl.store_set_error(store, 0)
        return 1

    def _crl_check(self, store, depth: int) -> Optional[int]:
        """ssl_handshake:cert_status_check/5 with crl_check: the certificate at
        ``depth`` (the trust anchor is not checked) by the CRL hook; None: go on."""
        chain = ossl.store_chain_der(store)
        if depth >= len(chain) - 1:
            return None
        try:
            status = self.cfg.crl_hook(chain[depth], chain[depth + 1], depth)
        except Exception as exc:
            log.warning("crl_check failed: %r", exc)
            status = "undetermined"
        if isinstance(status, tuple):
            return self._reject(store, 23, "cert_revoked")
        if status == "undetermined":
            return self._reject(store, 3, "revocation_status_undetermined")
        return None

    def _partial_chain_anchor(self, store) -> int:
        """ssl_certificate:maybe_shorten_path/3: the ``partial_chain`` fun sees the
        chain OpenSSL built (its trusted root included when found), anchor side
        first, and may name one of its certificates the trust anchor. A peer
        sending its certificate alone is not asked about (ssl's
        trusted_cert_and_paths/4 with one certificate); -1: no anchor chosen,
        -2: the hook raised (an answer ssl's try has no clause for)."""
        chain = ossl.store_chain_der(store)
        if len(chain) < 2:
            return -1
        try:
            der = self.cfg.partial_chain_hook(list(reversed(chain)))
        except Exception as exc:
            log.warning("partial_chain hook failed: %r", exc)
            return -2
        return chain.index(der) if der in chain else -1

    def _reject(self, store, err: int, reason) -> int:
        if self.verify_error is None:
            self.verify_error = err
            self.verify_reason = reason
        # make OpenSSL send the alert OTP would send for this reason
        xerr = _ALERT_X509_ERR.get(self._reason_alert(reason))
        if xerr is not None:
            ossl.store_set_error(store, xerr)
        return 0

    @staticmethod
    def _reason_alert(reason) -> int:
        if isinstance(reason, tuple) and len(reason) == 2 and str(reason[0]) == "bad_cert":
            reason = str(reason[1])
        if isinstance(reason, str):
            return _REASON_ALERT.get(reason, 40)
        return 40

    # ---- bytes in and out -------------------------------------------------------
    def receive_ciphertext(self, data: bytes) -> None:
        if len(self._first_header) < 5:
            self._first_header += data[:5 - len(self._first_header)]
        if self._hello is not None and len(self._hello) < 76:
            self._hello += data[:76 - len(self._hello)]
        if self._sniff is not None:
            try:
                got = self._sniff.feed(data)
            except HelloError:
                got, self._sniff = None, None     # not a ClientHello: OpenSSL says what it is
            if got is not None:
                self.client_hello, self._sniff = got, None
                if self._chooser is not None:
                    self._chooser.take_hello(got)
        if self._held is not None:
            self._held += data
            return
        ossl.feed(self.conn, data)

    def receive_eof(self) -> None:
        self.eof = True
        if self._held is not None:
            self._release_hello(resolve=False)
        self.conn.bio_shutdown()

    def _release_hello(self, resolve: bool = True) -> None:
        """Give OpenSSL the held-back ClientHello, after applying the options of the
        host it names (ssl_gen_statem:handle_sni_extension/2 runs before the version
        is chosen, tls_connection:hello/3): a host whose versions differ gets a new
        SSL made from its context, as libssl takes its version bounds from the
        context at SSL_new (SSL_set_min_proto_version is not bound, and
        SSL_set_SSL_CTX keeps them)."""
        held, self._held = bytes(self._held), None
        name = None
        if resolve and self.client_hello is not None:
            exts = self.client_hello.ext_map()
            raw = server_name(exts.get(SERVER_NAME))
            name = raw.decode("ascii", "replace") if raw else None
        if name is not None:
            host_cfg = callbacks.sni_config(self, name)
            if self.sni_error is None and host_cfg is not None \
                    and tuple(host_cfg.versions) != tuple(self.cfg.versions):
                conn = SSL.Connection(CONTEXTS.get(host_cfg), None)
                self.conn = conn
                ossl.set_owner(conn, self)
                self._set_verify(self.cfg)
                self._accept_with(conn)
                if self._chooser is not None:
                    self._chooser.attach(conn, host_cfg)
        if held:
            self.conn.bio_write(held)

    def ciphertext_to_send(self) -> bytes:
        out = ossl.drain_output(self.conn)
        if self._bios_used and self.handshake_done and not self.renegotiating:
            # once the handshake's flights are through, new and empty BIOs: the old
            # ones keep the capacity of the largest flight for the connection's life
            self._bios_used = False
            ossl.renew_bios(self.conn, self.eof)
        return out

    def do_handshake(self) -> bool:
        """Advance the handshake (or a renegotiation); True once complete."""
        if self.handshake_done and not self.renegotiating:
            return True
        if self.renegotiating:
            return self._renegotiation_step()
        if self._held is not None:
            if self._sniff is not None and not self.eof:
                return False                 # the ClientHello is not all here yet
            self._release_hello()
            self._check_sni_hook()
        if self.client_hello is not None and not self._judged:
            self._judged = True              # before OpenSSL reads the hello it has
            callbacks.judge_tls13_suites(self)
        if self._hello is not None:
            self._ask_reuse_hook()
        if self._early_reading and not self._read_early_data():
            return False
        try:
            self.conn.do_handshake()
        except SSL.WantReadError:
            self._check_sni_hook()
            return False
        except (SSL.Error, SSL.SysCallError) as exc:
            raise self._fail(exc) from None
        self._check_sni_hook()
        self._handshake_complete()
        return True

    def _handshake_complete(self) -> None:
        if not self.handshake_done:
            self.handshake_done = True
            self.client_hello = None
            self._keep_session()
            if self._early_wanted:
                self.early_data_status = "accepted" if self._early_accepted else "rejected"
            if self.cfg.reuse_hook is not None:
                self._keep_server_session()

    def _renegotiation_step(self) -> bool:
        """Advance the renegotiation ``renegotiate()`` started; True once it is done.

        It runs inside SSL_read, not SSL_do_handshake: libssl takes the peer's
        application data in mid-renegotiation (a client's before the ServerHello, a
        server's before its own) only from SSL_read (``ossl_statem_app_data_allowed``
        wants ``s3.in_read_app_data``, set by ssl3_read_internal), else it is an
        unexpected_message. ssl delivers such data (``tls_gen_connection:
        handle_protocol_record/3``, in any state): it is kept for ``read_plaintext``.
        And only ssl3_read_bytes takes a server back into init for the ClientHello
        that answers its HelloRequest (that flight ends in TLS_ST_OK).
        Done when SSL_renegotiate_pending clears (tls_finish_handshake after a
        Finished, not after a HelloRequest): a server's renegotiate/1 answers after
        the new handshake, as ssl's (``ssl_gen_statem:ack_connection/1``)."""
        kept = self._kept_plain or []
        err = self._recv_all(kept)
        self._kept_plain = kept or _EMPTY
        if err is not None or (self.peer_closed and self.conn.renegotiate_pending()):
            self.renegotiating = False   # over: read_plaintext reads (kept data, the end)
            raise err or TLSClosed("the peer closed during the renegotiation")
        self._check_sni_hook()
        if self.conn.renegotiate_pending():
            return False
        self.renegotiating = False
        self._handshake_complete()
        self._flush_pending()
        return True

    def _read_early_data(self) -> bool:
        """A server with early_data enabled: SSL_read_early_data until OpenSSL says the
        early data is over (or none came, or it was rejected); True then, and the
        handshake goes on. ssl hands accepted early data to the owner as the first
        application data; so does read_plaintext."""
        while True:
            what, data = ossl.read_early_data(self.conn)
            if what == "data":
                self._kept_plain = [*self._kept_plain, data]
                continue
            if what == "want":
                self._check_sni_hook()
                return False
            self._early_reading = False       # "finish", or "error": do_handshake reports it
            return True

    # ---- server: the reuse_session fun ---------------------------------------------
    def _ask_reuse_hook(self) -> None:
        """ssl's ``ssl_session:is_resumable/4`` for a server with a ``reuse_session``
        fun: a session the client offers that is in the cache is resumed only if the
        fun says ``true``. OpenSSL decides while it reads the ClientHello and has no
        callback in the bindings to ask, so the id is read from the first bytes before
        OpenSSL sees them, the fun asked, and a refused session made to miss OpenSSL's
        cache: the connection moves to the twin context whose session id context
        differs (OpenSSL's ssl_get_prev_session treats a session of another id context
        as a cache miss). A session made in the twin is found the other way round."""
        sid = sessions.offered_session_id(self._hello)
        if sid is None and not self.eof:
            return                       # the session id has not come yet
        self._hello = None
        got = sessions.SERVER_SESSIONS.get(sid) if sid else None
        if got is None:
            return
        peer_cert, cipher, made_in = got
        own = self.cfg.session_id_context
        if made_in != own and made_in != _twin_sid_ctx(own):
            # another listen socket's session (each has an id context of its own):
            # ssl looks in this listener's cache only, misses, and asks no fun
            return
        try:
            reuse = self.cfg.reuse_hook(sid, peer_cert, cipher)
        except Exception as exc:
            # ssl catches a fun that crashes (or answers other than a boolean) in its
            # hello handling and sends handshake_failure, reason malformed_handshake_data.
            # OpenSSL is made to send that alert itself: the connection moves to a
            # context with no suite a client offers (no shared cipher: handshake_failure)
            # and an id context of its own (no session to resume)
            log.warning("reuse_session fun failed: %r", exc)
            self.reuse_failed = True
            self.conn.set_context(CONTEXTS.get(dataclasses.replace(
                self.cfg, versions=("tlsv1.2",), cipher_list=_NO_SHARED_SUITE,
                session_id_context=b"pyssl-bridge/failed")))
            return
        target = made_in if reuse else _twin_sid_ctx(made_in)
        if target != self._sid_ctx:
            self.conn.set_context(CONTEXTS.get(dataclasses.replace(self.cfg, session_id_context=target)))
            self._sid_ctx = target

    def _keep_server_session(self) -> None:
        """Remember what the reuse_session fun is told of a new TLS 1.2 session."""
        if self.role != "server" or not self.cfg.reuse_sessions or self.version == "tlsv1.3" \
                or ossl.session_reused(self.conn):
            return
        sessions.SERVER_SESSIONS.store(self.session_id(), self.peer_cert_der(),
                                       self.cipher_name(), self._sid_ctx)

    def _check_sni_hook(self) -> None:
        # an sni_fun that failed kills the connection as it kills ssl's: nothing
        # more goes out (not even the server's flight) and the peer sees TCP close
        if self.sni_error is not None:
            self.ciphertext_to_send()
            raise TLSClosed(f"sni_fun failed: {self.sni_error!r}")

    def read_plaintext(self) -> bytes:
        """All plaintext available now (b"" if none). Sets ``peer_closed`` on close_notify."""
        chunks = []
        if self._kept_plain:
            chunks, self._kept_plain = self._kept_plain, _EMPTY   # a list once non-empty
        if self.renegotiating:
            # do_handshake drives the renegotiation (and reads what comes with it)
            return b"".join(chunks)
        err = self._recv_all(chunks)
        if err is not None and not chunks:
            raise err                    # with data, kept in ``failed`` (by _fail)
        if self._tickets_wanted:
            self._keep_ticket()
        if self._out_pending:
            self._flush_pending()
        if not chunks:
            return b""
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _recv_all(self, chunks: list) -> Optional[TLSAlertError]:
        """SSL_read into ``chunks`` until OpenSSL wants input; ``peer_closed`` on
        close_notify or TCP EOF. A failure is returned (made by ``_fail``)."""
        conn, read = self.conn, ossl.read
        while True:
            try:
                chunk = read(conn)
            except SSL.ZeroReturnError:
                self.peer_closed = True
                return None
            except (SSL.SysCallError, SSL.Error) as exc:
                if self.eof and (isinstance(exc, SSL.SysCallError) or "unexpected eof" in str(exc).lower()):
                    self.peer_closed = True      # TCP closed without close_notify
                    return None
                return self._fail(exc)
            if not chunk:
                return None
            chunks.append(chunk)

    @property
    def pending_writes(self) -> bool:
        return bool(self._out_pending)

    def write_plaintext(self, data) -> None:
        if self.renegotiating:
            # ssl's sender waits while its connection renegotiates (tls_sender:renegotiate/1);
            # and an SSL_write now would run the handshake outside SSL_read, where
            # the peer's application data in flight is an unexpected_message
            self._out_pending.append(bytes(data))
            return
        if self._out_pending:
            self._out_pending.append(bytes(data))
            self._flush_pending()
            return
        self._send(memoryview(data))

    def _send(self, view: memoryview) -> bool:
        conn, write = self.conn, ossl.write
        while view:
            try:
                n = write(conn, view[:1 << 20])
            except SSL.WantReadError:
                # a renegotiation waits for the peer: keep the rest for later
                self._out_pending.insert(0, bytes(view))
                return False
            except (SSL.Error, SSL.SysCallError) as exc:
                raise self._fail(exc) from None
            view = view[n:]
        return True

    def _flush_pending(self) -> None:
        pending, self._out_pending = self._out_pending, []
        for i, chunk in enumerate(pending):
            if not self._send(memoryview(chunk)):
                self._out_pending.extend(pending[i + 1:])
                return

    def close(self) -> None:
        """Queue a close_notify (idempotent)."""
        try:
            self.conn.shutdown()
        except (SSL.Error, SSL.SysCallError):
            pass

    shutdown_write = close

    def unread_input(self) -> bytes:
        """Bytes fed in that OpenSSL has not consumed. After the peer's close_notify
        these are what the peer sent in the clear afterwards (a TLS downgrade)."""
        return ossl.unread_input(self.conn)

    def renegotiate(self) -> None:
        """Start a renegotiation (TLS 1.2 and older). Drive it with ``do_handshake``
        (``_renegotiation_step``); nothing is sent before its first call."""
        if not self.handshake_done:
            raise RenegotiationError("handshake not complete")
        if self.version == "tlsv1.3":
            raise RenegotiationError("renegotiation does not exist in TLS 1.3")
        if not self.conn.renegotiate():
            raise RenegotiationError("renegotiation refused by OpenSSL")
        self.renegotiating = True
        self.handshake_done = False      # the transport's input goes to do_handshake again

    # ---- errors -------------------------------------------------------------------
    def _is_13(self) -> Optional[bool]:
        name = self.conn.get_protocol_version_name()
        return None if not name or name == "Unknown" else name == "TLSv1.3"

    def _fail(self, exc) -> TLSAlertError:
        """The alert that ends the session, as OTP would report it: one received
        (unless we had rejected the peer's certificate), else the one we send."""
        facts = dict(role=self.role, handshake_done=self.handshake_done,
                     cert_failed=self.verify_error is not None, tls13=self._is_13())
        if self.alert_received is not None and self.verify_error is None:
            level, desc = self.alert_received
            err = TLSAlertError(desc, level=level, sent=False, **facts)
        else:
            reason = None
            if self.verify_error is not None:
                reason = self.verify_reason
                desc = self._reason_alert(reason)
            elif self.psk_failed:
                desc = ILLEGAL_PARAMETER    # OTP: illegal_parameter when no key is found
            elif self.reuse_failed:
                desc, reason = HANDSHAKE_FAILURE, "malformed_handshake_data"
            elif self.refusal is not None and self.alert_sent == (FATAL, INSUFFICIENT_SECURITY):
                desc, reason = INSUFFICIENT_SECURITY, self.refusal
            elif not self.handshake_done and alerts.first_header_alert(self._first_header) is not None:
                # OTP's record layer judges the first header before anything else
                desc = alerts.first_header_alert(self._first_header)
            elif self.alert_sent is not None:
                desc = self.alert_sent[1]
            else:
                desc = alerts.guess_alert(exc)
            err = TLSAlertError(desc, sent=True, reason=reason, **facts)
        self.failed = err
        return err

    # ---- information ----------------------------------------------------------------
    @property
    def version(self) -> str:
        return _VERSION_NAMES.get(self.conn.get_protocol_version_name(), "tlsv1.2")

    def cipher_name(self) -> str:
        return self.conn.get_cipher_name() or ""

    @property
    def cipher_suite(self) -> Optional[tuple[str, int, str]]:
        """(OpenSSL cipher name, secret bits, protocol name) or None before the handshake."""
        name = self.conn.get_cipher_name()
        if not name:
            return None
        return name, self.conn.get_cipher_bits(), self.conn.get_cipher_version()

    def peer_cert_der(self) -> Optional[bytes]:
        cert = self.conn.get_peer_certificate()
        if cert is None:
            return None
        return crypto.dump_certificate(crypto.FILETYPE_ASN1, cert)

    def peer_chain_der(self) -> list[bytes]:
        chain = self.conn.get_peer_cert_chain() or []
        return [crypto.dump_certificate(crypto.FILETYPE_ASN1, c) for c in chain]

    @property
    def session_reused(self) -> bool:
        return ossl.session_reused(self.conn)

    def session_id(self) -> bytes:
        return sessions.session_id_of(ossl.session_der(self.conn))

    def group_name(self) -> Optional[str]:
        """The (EC)DHE group of the handshake, OpenSSL's name for it."""
        return ossl.group_name(self.conn)

    def max_fragment_length(self) -> Optional[int]:
        """The record size limit the max_fragment_length extension set (bytes), or None."""
        mode = sessions.max_fragment_len_mode(ossl.session_der(self.conn))
        return None if mode is None else 256 << mode

    @property
    def alpn_protocol(self) -> Optional[bytes]:
        p = self.conn.get_alpn_proto_negotiated()
        return p or None

    @property
    def next_protocol(self) -> Optional[bytes]:
        return None                 # NPN is the tlslite-ng engine's (bridge.tls.engines)

    @property
    def sni(self) -> Optional[str]:
        name = self.conn.get_servername()
        return name.decode("idna") if name else None

    def client_random(self) -> Optional[bytes]:
        return self.conn.client_random()

    def server_random(self) -> Optional[bytes]:
        return self.conn.server_random()

    def master_secret(self) -> Optional[bytes]:
        return self.conn.master_key() if self.version != "tlsv1.3" else None

    def record_secret(self, line: bytes) -> None:
        """One NSS key log line from OpenSSL (``LABEL <client random> <secret>``, hex)."""
        parts = line.split()
        if len(parts) != 3:
            return
        try:
            secret = bytes.fromhex(parts[2].decode("ascii"))
        except ValueError:
            return
        self._secrets = self._secrets or {}
        self._secrets[parts[0].decode("ascii", "replace")] = secret

    def traffic_secrets(self) -> dict[str, bytes]:
        """With ``keep_secrets``: the TLS 1.3 secrets by their NSS key log label
        (``CLIENT_HANDSHAKE_TRAFFIC_SECRET``, ``SERVER_HANDSHAKE_TRAFFIC_SECRET``,
        ``CLIENT_TRAFFIC_SECRET_0``, ``SERVER_TRAFFIC_SECRET_0``, ``EXPORTER_SECRET``...);
        empty otherwise, and for TLS 1.2 (whose one secret is ``master_secret()``)."""
        return dict(self._secrets) if self.version == "tlsv1.3" else {}

    def export_keying_material(self, label: bytes, length: int, context: Optional[bytes] = None) -> bytes:
        """RFC 5705 / RFC 8446 7.5 exporter."""
        return self.conn.export_keying_material(label, length, context)


# a TLS 1.2 suite no client offers unasked (PSK without a PSK callback can never be
# chosen): OpenSSL's answer to every ClientHello is then handshake_failure
_NO_SHARED_SUITE = "PSK-AES128-GCM-SHA256"


def _twin_sid_ctx(sid_ctx: bytes) -> bytes:
    """The other of a server's two session id contexts (see TLSEngine._ask_reuse_hook)."""
    twin = b"/refused"
    return sid_ctx[:-len(twin)] if sid_ctx.endswith(twin) else sid_ctx + twin
