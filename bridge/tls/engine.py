"""A TLS connection over memory BIOs: ciphertext in, plaintext out, and back (sans-IO).

``TLSEngine`` never touches a socket. The transport feeds it what the peer sent
(``receive_ciphertext``), asks it to progress (``do_handshake``/``read_plaintext``)
and sends whatever ``ciphertext_to_send`` returns. Failures come out as
``TLSAlertError`` carrying OTP's alert atom and an OTP-style text, so the service
can return ``{error, {tls_alert, {Atom, Text}}}`` unchanged.
"""
from __future__ import annotations

import ipaddress
from typing import Optional

from OpenSSL import SSL, crypto
from OpenSSL._util import ffi as _ffi, lib as _lib

from .config import TLSConfig

ALERTS = {
    0: ("close_notify", "Close Notify"), 10: ("unexpected_message", "Unexpected Message"),
    20: ("bad_record_mac", "Bad Record MAC"), 22: ("record_overflow", "Record Overflow"),
    30: ("decompression_failure", "Decompression Failure"),
    40: ("handshake_failure", "Handshake Failure"), 42: ("bad_certificate", "Bad Certificate"),
    43: ("unsupported_certificate", "Unsupported Certificate"),
    44: ("certificate_revoked", "Certificate Revoked"),
    45: ("certificate_expired", "Certificate Expired"),
    46: ("certificate_unknown", "Certificate Unknown"),
    47: ("illegal_parameter", "Illegal Parameter"), 48: ("unknown_ca", "Unknown CA"),
    49: ("access_denied", "Access Denied"), 50: ("decode_error", "Decode Error"),
    51: ("decrypt_error", "Decrypt Error"), 60: ("export_restriction", "Export Restriction"),
    70: ("protocol_version", "Protocol Version"),
    71: ("insufficient_security", "Insufficient Security"),
    80: ("internal_error", "Internal Error"), 86: ("inappropriate_fallback", "Inappropriate Fallback"),
    90: ("user_canceled", "User Canceled"), 100: ("no_renegotiation", "No Renegotiation"),
    109: ("missing_extension", "Missing extension"),
    110: ("unsupported_extension", "Unsupported Extension"),
    112: ("unrecognized_name", "Unrecognized Name"),
    115: ("unknown_psk_identity", "Unknown Psk Identity"),
    116: ("certificate_required", "Certificate required"),
    120: ("no_application_protocol", "No application protocol"),
}
_CB_ALERT = 0x4000
_CB_READ = 0x04
_CB_WRITE = 0x08
_VERSION_NAMES = {"TLSv1": "tlsv1", "TLSv1.1": "tlsv1.1", "TLSv1.2": "tlsv1.2", "TLSv1.3": "tlsv1.3"}


class TLSAlertError(Exception):
    """The TLS session failed. ``description`` is OTP's alert atom name; ``text`` is the
    ``{tls_alert, {_, Text}}`` string; ``sent`` tells whether we sent the alert."""

    def __init__(self, description: str, text: str, sent: bool):
        super().__init__(text)
        self.description = description
        self.text = text
        self.sent = sent


class TLSClosed(Exception):
    """The peer went away without a TLS alert (TCP closed mid-handshake)."""


class TLSEngine:
    def __init__(self, ctx: SSL.Context, cfg: TLSConfig):
        self.cfg = cfg
        self.role = cfg.role
        conn = SSL.Connection(ctx, None)
        self.conn = conn
        self.alert_sent: Optional[tuple[int, int]] = None
        self.alert_received: Optional[tuple[int, int]] = None
        self.verify_error: Optional[int] = None
        self.handshake_done = False
        self.peer_closed = False        # close_notify received
        self.failed: Optional[TLSAlertError] = None
        conn.set_info_callback(self._info)
        if cfg.verify == "verify_peer":
            mode = SSL.VERIFY_PEER
            if cfg.role == "server" and cfg.fail_if_no_peer_cert:
                mode |= SSL.VERIFY_FAIL_IF_NO_PEER_CERT
            conn.set_verify(mode, self._verify)
        if cfg.role == "client":
            conn.set_connect_state()
            if cfg.server_name_indication:
                try:
                    ipaddress.ip_address(cfg.server_name_indication)
                except ValueError:
                    conn.set_tlsext_host_name(cfg.server_name_indication.encode("idna"))
            if cfg.hostname_check:
                self._set_host_check(cfg.hostname_check)
        else:
            conn.set_accept_state()

    # ---- callbacks ------------------------------------------------------------
    def _info(self, conn, where, ret) -> None:
        if where & _CB_ALERT:
            alert = ((ret >> 8) & 0xFF, ret & 0xFF)
            if where & _CB_WRITE:
                if self.alert_sent is None and alert[1] != 0:
                    self.alert_sent = alert
            elif self.alert_received is None and alert[1] != 0:
                self.alert_received = alert

    def _verify(self, conn, cert, errnum, depth, ok) -> bool:
        if not ok and self.verify_error is None:
            self.verify_error = errnum
        hook = self.cfg.verify_hook
        if hook is not None:
            return bool(hook(cert, depth, errnum, ok))
        return bool(ok)

    def _set_host_check(self, host: str) -> None:
        param = _lib.SSL_get0_param(self.conn._ssl)
        try:
            ipaddress.ip_address(host)
            return  # IP addresses are checked against the SAN after the handshake
        except ValueError:
            pass
        raw = host.encode("idna")
        _lib.X509_VERIFY_PARAM_set1_host(param, raw, len(raw))

    # ---- bytes in and out -------------------------------------------------------
    def receive_ciphertext(self, data: bytes) -> None:
        self.conn.bio_write(data)

    def receive_eof(self) -> None:
        self.conn.bio_shutdown()

    def ciphertext_to_send(self) -> bytes:
        chunks = []
        while True:
            try:
                chunk = self.conn.bio_read(262144)
            except SSL.WantReadError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks) if len(chunks) != 1 else chunks[0]

    def do_handshake(self) -> bool:
        """Advance the handshake; True once complete. Raises TLSAlertError."""
        if self.handshake_done:
            return True
        try:
            self.conn.do_handshake()
        except SSL.WantReadError:
            return False
        except (SSL.Error, SSL.SysCallError) as exc:
            raise self._fail(exc) from None
        self.handshake_done = True
        if self.cfg.hostname_check and self.role == "client":
            self._check_ip_host(self.cfg.hostname_check)
        return True

    def _check_ip_host(self, host: str) -> None:
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return
        from cryptography import x509
        cert = self.conn.get_peer_certificate()
        ok = False
        if cert is not None:
            try:
                san = cert.to_cryptography().extensions.get_extension_for_class(x509.SubjectAlternativeName)
                ok = ip in san.value.get_values_for_type(x509.IPAddress)
            except x509.ExtensionNotFound:
                ok = False
        if not ok:
            self.alert_sent = (2, 40)
            raise self._fail(None)

    def read_plaintext(self) -> bytes:
        """All plaintext available now (b"" if none). Sets ``peer_closed`` on close_notify."""
        chunks = []
        recv = self.conn.recv
        while True:
            try:
                chunk = recv(262144)
            except SSL.WantReadError:
                break
            except SSL.ZeroReturnError:
                self.peer_closed = True
                break
            except (SSL.Error, SSL.SysCallError) as exc:
                if chunks:
                    self.failed = self._fail(exc)
                    break
                raise self._fail(exc) from None
            if not chunk:
                break
            chunks.append(chunk)
        if not chunks:
            return b""
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def write_plaintext(self, data) -> None:
        view = memoryview(data)
        send = self.conn.send
        while view:
            try:
                n = send(view[:1 << 20])
            except SSL.WantReadError:
                # renegotiation in progress; OpenSSL buffers nothing: retry after input
                raise
            except (SSL.Error, SSL.SysCallError) as exc:
                raise self._fail(exc) from None
            view = view[n:]

    def close(self) -> None:
        """Queue a close_notify (idempotent)."""
        try:
            self.conn.shutdown()
        except (SSL.Error, SSL.SysCallError):
            pass

    # ---- errors -------------------------------------------------------------------
    def _fail(self, exc) -> TLSAlertError:
        role = self.role
        peer = "server" if role == "client" else "client"
        state = "connection" if self.handshake_done else ("certify" if self.verify_error else "hello")
        if self.alert_received is not None:
            level, desc = self.alert_received
            atom, text = ALERTS.get(desc, (f"unknown_alert_{desc}", f"unsupported/unknown alert: {desc}"))
            lvl = "Fatal - " if level == 2 else "Warning - "
            err = TLSAlertError(atom, f"TLS {role}: In state {state} received {peer.upper()} ALERT: {lvl}{text}\n",
                                sent=False)
        else:
            if self.alert_sent is not None:
                desc = self.alert_sent[1]
            else:
                desc = _guess_alert(exc)
            atom, text = ALERTS.get(desc, ("internal_error", "Internal Error"))
            reason = ""
            if self.verify_error is not None:
                reason = f"\n {{bad_cert,{_VERIFY_REASONS.get(self.verify_error, 'unknown')}}}"
            err = TLSAlertError(atom, f"TLS {role}: In state {state} at pyssl generated "
                                      f"{role.upper()} ALERT: Fatal - {text}\n{reason}", sent=True)
        self.failed = err
        return err

    # ---- information ----------------------------------------------------------------
    @property
    def version(self) -> str:
        return _VERSION_NAMES.get(self.conn.get_protocol_version_name(), "tlsv1.2")

    def cipher_name(self) -> str:
        return self.conn.get_cipher_name() or ""

    def peer_cert_der(self) -> Optional[bytes]:
        cert = self.conn.get_peer_certificate()
        if cert is None:
            return None
        return crypto.dump_certificate(crypto.FILETYPE_ASN1, cert)

    @property
    def session_reused(self) -> bool:
        return bool(_lib.SSL_session_reused(self.conn._ssl))

    def session_id(self) -> bytes:
        sess = _lib.SSL_get_session(self.conn._ssl)
        if sess == _ffi.NULL or not hasattr(_lib, "SSL_SESSION_get_id"):
            return b""
        n = _ffi.new("unsigned int *")
        p = _lib.SSL_SESSION_get_id(sess, n)
        return bytes(_ffi.buffer(p, n[0]))

    @property
    def alpn_protocol(self) -> Optional[bytes]:
        p = self.conn.get_alpn_proto_negotiated()
        return p or None

    @property
    def sni(self) -> Optional[str]:
        name = self.conn.get_servername()
        return name.decode("idna") if name else None

    def client_random(self) -> Optional[bytes]:
        return self.conn.client_random() if self.version != "tlsv1.3" else None

    def server_random(self) -> Optional[bytes]:
        return self.conn.server_random() if self.version != "tlsv1.3" else None

    def master_secret(self) -> Optional[bytes]:
        return self.conn.master_key() if self.version != "tlsv1.3" else None

    def export_keying_material(self, label: bytes, length: int, context: Optional[bytes]) -> bytes:
        return self.conn.export_keying_material(label, length, context)

    def renegotiate(self) -> bool:
        return self.conn.renegotiate()


def _guess_alert(exc) -> int:
    text = str(exc).lower()
    for needle, desc in (("unsupported protocol", 70), ("version", 70), ("no shared cipher", 40),
                         ("certificate verify failed", 42), ("peer did not return a certificate", 116),
                         ("wrong version", 70), ("no protocols available", 70)):
        if needle in text:
            return desc
    return 40


_VERIFY_REASONS = {
    2: "unknown_ca", 10: "cert_expired", 9: "cert_expired", 18: "selfsigned_peer",
    19: "unknown_ca", 20: "unknown_ca", 21: "unknown_ca", 7: "invalid_signature",
    34: "unsupported_certificate", 62: "hostname_check_failed", 22: "max_path_length_reached",
}
