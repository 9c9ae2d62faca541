"""The second TLS engine: tlslite-ng over memory buffers, for SRP and NPN (sans-IO).

OpenSSL has SRP and NPN, but the bindings the bridge reaches it through
(pyOpenSSL / cryptography) expose neither. tlslite-ng (pure Python) implements
both, in both roles (docs/architecture.md says why it and not another). Its
handshake, read, write and close are generators that yield 0 when they wait for
input; they run here over ``_MemSock``, a socket whose ``recv`` says "would block"
when the bytes fed in so far are used up, so the engine has the same sans-IO shape
as ``tls.engine.TLSEngine`` (the ``tls.engines.Engine`` interface) and runs under
the same transport.

What it serves (the option parser refuses the rest by name when SRP or NPN is
asked for, ``bridge.service.options.unsupported``): TLS 1.0–1.2; SRP client
(``srp_identity``) and server (``srp_hook``: the caller's ``user_lookup_fun``,
called on the handshake thread like PSK's, as OTP's
``tls_dtls_connection:handle_srp_identity/2`` calls it); NPN both roles; a
certificate and key of our own; ALPN and SNI. Not served: peer certificate
verification, renegotiation, session resumption, TLS 1.3 (SRP and NPN are TLS 1.2
and older anyway).
"""
from __future__ import annotations

import errno
import logging
from typing import Optional

import warnings

with warnings.catch_warnings():
    # tlslite/__init__ imports its asyncore integration, deprecated in Python 3.11
    warnings.simplefilter("ignore", DeprecationWarning)
    from tlslite import HandshakeSettings, TLSConnection, X509, X509CertChain
    from tlslite.recordlayer import RecordLayer
    from tlslite.utils.cipherfactory import createAES, createAESGCM, createCHACHA20
from tlslite.constants import AlertDescription, AlertLevel, CipherSuite, ExtensionType
from tlslite.errors import TLSAbruptCloseError, TLSError, TLSLocalAlert, TLSRemoteAlert
from tlslite.mathtls import goodGroupParameters
from tlslite.messages import Alert, ClientHello

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from .config import TLSConfig
from .engine import HANDSHAKE_FAILURE, ILLEGAL_PARAMETER, INTERNAL_ERROR, RenegotiationError, \
    TLSAlertError, TLSClosed

log = logging.getLogger(__name__)

_VERSIONS = {"tlsv1": (3, 1), "tlsv1.1": (3, 2), "tlsv1.2": (3, 3)}
_NAMES = {v: k for k, v in _VERSIONS.items()}

# the SRP suites tlslite-ng negotiates (IANA codes): what ssl:cipher_suites/0,1,2 may
# list of SRP (bridge.service.ciphers); tlslite has no DSS certificates (srp_dss)
SRP_SUITES = frozenset(CipherSuite.srpSuites) | frozenset(CipherSuite.srpCertSuites)

# a part of a suite's RFC name -> tlslite-ng's name of its cipher
_CIPHER_NAMES = {"_AES_128_CBC_": "aes128", "_AES_256_CBC_": "aes256", "_3DES_EDE_CBC_": "3des",
                 "_AES_128_GCM_": "aes128gcm", "_AES_256_GCM_": "aes256gcm",
                 "_CHACHA20_POLY1305_": "chacha20-poly1305"}

# RFC 5054 groups by size, as OTP's ssl_srp_primes:get_srp_params/1 names them
# (srp_1024 ... srp_8192): tlslite-ng's table has the same primes in the same order
_SRP_GROUPS = dict(zip((1024, 1536, 2048, 3072, 4096, 6144, 8192), goodGroupParameters))


class _MemSock:
    """The socket tlslite-ng reads and writes: input fed by the engine, output kept
    for ``ciphertext_to_send``; "would block" when the input is used up."""
    __slots__ = ("inbuf", "out", "eof")

    def __init__(self):
        self.inbuf = bytearray()
        self.out: list[bytes] = []
        self.eof = False

    def recv(self, n: int) -> bytes:
        if not self.inbuf:
            if self.eof:
                return b""
            raise BlockingIOError(errno.EWOULDBLOCK, "no input yet")
        data = bytes(self.inbuf[:n])
        del self.inbuf[:n]
        return data

    def send(self, data) -> int:
        self.out.append(bytes(data))
        return len(data)

    def sendall(self, data) -> None:
        self.out.append(bytes(data))

    def close(self) -> None:
        pass

    def shutdown(self, how) -> None:
        pass


class _SRPVerifiers:
    """tlslite-ng's verifier database for one connection: the caller's
    ``user_lookup_fun`` through ``cfg.srp_hook``, whose ``(bits, salt, x)`` gives the
    verifier as OTP computes it (``crypto:mod_pow(G, DerivedKey, N)``). A failed
    lookup is a ``KeyError`` to tlslite-ng (its ``unknown_psk_identity``), which the
    engine turns into OTP's ``illegal_parameter``."""

    def __init__(self, engine: "TLSLiteEngine"):
        self.engine = engine

    def __getitem__(self, username):
        eng = self.engine
        try:
            bits, salt, x = eng.cfg.srp_hook(bytes(username))
            g, n = _SRP_GROUPS[bits]
        except Exception as exc:
            log.info("SRP user_lookup_fun failed: %r", exc)
            eng.srp_failed = True
            raise KeyError(username) from None
        return n, g, bytearray(salt), pow(g, int.from_bytes(x, "big"), n)

    def lookup_for_nobody(self) -> None:
        try:
            self.engine.cfg.srp_hook(None)
        except Exception:
            pass

    def __contains__(self, username) -> bool:
        return True


class _AESCBC:
    """AES-CBC for tlslite-ng's record layer from ``cryptography`` (OpenSSL's C code)
    instead of its pure-Python AES (measured: ~0.4 MiB/s). One object per direction,
    the CBC chain carried across records as tlslite-ng's own does."""
    isBlockCipher, isAEAD, block_size, implementation = True, False, 16, "cryptography"

    def __init__(self, key, iv, impl_list=None):
        self.name = "aes%d" % (len(key) * 8)
        cipher = Cipher(algorithms.AES(bytes(key)), modes.CBC(bytes(iv)))
        self._enc = cipher.encryptor()
        self._dec = cipher.decryptor()

    def encrypt(self, plaintext):
        return bytearray(self._enc.update(bytes(plaintext)))

    def decrypt(self, ciphertext):
        return bytearray(self._dec.update(bytes(ciphertext)))


class _AEAD:
    """AES-GCM and ChaCha20-Poly1305 (RFC 7905) for tlslite-ng's record layer from
    ``cryptography`` (see ``_AESCBC``); ``open`` answers None for a bad tag, as
    tlslite-ng's own (bad_record_mac)."""
    isBlockCipher, isAEAD, nonceLength, tagLength, implementation = False, True, 12, 16, "cryptography"

    def __init__(self, key, name, aead):
        self.name = name
        self.key = key
        self._aead = aead(bytes(key))

    def seal(self, nonce, plaintext, data):
        return bytearray(self._aead.encrypt(bytes(nonce), bytes(plaintext), bytes(data)))

    def open(self, nonce, ciphertext, data):
        try:
            return bytearray(self._aead.decrypt(bytes(nonce), bytes(ciphertext), bytes(data)))
        except InvalidTag:
            return None


def _aes_gcm(key, impl_list=None):
    return _AEAD(key, "aes%dgcm" % (len(key) * 8), AESGCM)


def _chacha20(key, impl_list=None):
    return _AEAD(key, "chacha20-poly1305", ChaCha20Poly1305)


def _cipher_settings(suite):
    """``RecordLayer._getCipherSettings`` with AES and ChaCha20 from ``cryptography``."""
    key_len, iv_len, create = RecordLayer._getCipherSettings(suite)
    if create is createAES:
        create = _AESCBC
    elif create is createAESGCM:
        create = _aes_gcm
    elif create is createCHACHA20 and suite in CipherSuite.chacha20Suites:
        create = _chacha20             # (the draft-00 suites keep tlslite-ng's own)
    return key_len, iv_len, create


class _Conn(TLSConnection):
    """tlslite-ng's connection with the two places OTP's rules differ: the NPN
    choice of the seed's ``client_preferred_next_protocols`` and the alert of a failed
    SRP lookup (both are hooks of its own, ``_clientSelectNextProto`` and
    ``_sendError``)."""

    engine: "TLSLiteEngine"

    def __init__(self, sock):
        super().__init__(sock)
        # this connection's record layer takes its AES from cryptography (an
        # instance attribute: nothing of tlslite-ng changes for anyone else)
        self._recordLayer._getCipherSettings = _cipher_settings

    def _clientSelectNextProto(self, nextProtos, serverHello):
        return self.engine.select_next_protocol(serverHello.next_protos)

    def _sendMsg(self, msg, randomizeFirstBlock=True, update_hashes=True):
        # a client offers its suites in the caller's order, as ssl does (tlslite-ng
        # orders them by its own table); the hello is reordered before it is hashed
        if isinstance(msg, ClientHello):
            if self.engine.cfg.suites:
                msg.cipher_suites = self.engine.ordered(msg.cipher_suites, self.engine.cfg.suites)
            if self.engine.cfg.srp_identity == (b"", b"") and msg.extensions:
                # SRP suites without an identity: no SRP extension, as ssl sends them
                msg.extensions = [e for e in msg.extensions if e.extType != ExtensionType.srp]
        return super()._sendMsg(msg, randomizeFirstBlock, update_hashes)

    def _server_select_certificate(self, settings, client_hello, cipher_suites, cert_chain,
                                   private_key, version):
        # ssl's server takes the client's order unless honor_cipher_order
        # (ssl_handshake:select_cipher_suite/3); tlslite-ng takes its own
        order = self.engine.cfg.suites if self.engine.cfg.honor_cipher_order else client_hello.cipher_suites
        return super()._server_select_certificate(settings, client_hello,
                                                  self.engine.ordered(cipher_suites, order),
                                                  cert_chain, private_key, version)

    def _serverSRPKeyExchange(self, clientHello, serverHello, verifierDB, *args):
        if not clientHello.srp_username:
            # an SRP suite without the SRP extension: ssl asks its lookup fun for
            # ``undefined``, fails on it and sends handshake_failure
            # (tls_dtls_connection:gen_handshake/4's malformed_handshake_data)
            verifierDB.lookup_for_nobody()
            for result in self._sendError(AlertDescription.handshake_failure, "no SRP user name"):
                yield result
        for result in super()._serverSRPKeyExchange(clientHello, serverHello, verifierDB, *args):
            yield result

    def _sendError(self, alertDescription, errorStr=None):
        if self.engine.srp_failed and alertDescription == AlertDescription.unknown_psk_identity:
            # OTP's handle_srp_identity/2: any answer but {ok, ...} is illegal_parameter
            alertDescription = AlertDescription.illegal_parameter
        return super()._sendError(alertDescription, errorStr)


class TLSLiteEngine:
    """A ``tls.engines.Engine`` on tlslite-ng (see the module docstring)."""

    def __init__(self, cfg: TLSConfig, peer: Optional[tuple] = None):
        self.cfg = cfg
        self.role = cfg.role
        self.handshake_done = False
        self.peer_closed = False
        self.failed: Optional[Exception] = None
        self.tickets: list = []
        self.early_data_status: Optional[str] = None    # no TLS 1.3, so no early data
        self.eof = False
        self.srp_failed = False
        self.npn_failed = False        # the server has no NPN and the client no default
        self._sock = _MemSock()
        conn = _Conn(self._sock)
        conn.engine = self
        self.conn = conn
        self._version: Optional[tuple] = None
        self._reader = None            # a read waiting for input (keeps its partial record)
        self._wrote_close = False
        self._handshaker = self._start(cfg)

    # ---- set-up -------------------------------------------------------------------
    def _settings(self, cfg: TLSConfig) -> HandshakeSettings:
        s = HandshakeSettings()
        versions = sorted((_VERSIONS[v] for v in cfg.versions if v in _VERSIONS), reverse=True)
        if not versions:
            versions = [(3, 3)]
        s.minVersion, s.maxVersion = versions[-1], versions[0]
        s.versions = versions
        # OTP 25's ssl has neither encrypt-then-MAC nor extended master secret for
        # SRP; offering them costs nothing (they are negotiated), but keeping the hello
        # close to ssl's keeps the peer's choices the same
        s.useEncryptThenMAC = False
        s.useExtendedMasterSecret = False
        if cfg.suites:
            # the caller's suites as tlslite-ng's filters (ciphers, MACs): it offers or
            # accepts the suites of its own that pass both
            ciphers, macs = [], []
            for code in cfg.suites:
                name = CipherSuite.ietfNames.get(code, "")
                for part, tl in _CIPHER_NAMES.items():
                    if part in name and tl not in ciphers:
                        ciphers.append(tl)
                mac = "aead" if "_GCM_" in name or "POLY1305" in name \
                    else "sha384" if name.endswith("SHA384") else "sha256" if name.endswith("SHA256") \
                    else "sha" if name.endswith("_SHA") else None
                if mac and mac not in macs:
                    macs.append(mac)
            if ciphers:
                s.cipherNames = ciphers
            if macs:
                s.macNames = macs
        return s

    def _own_certificate(self, cfg: TLSConfig):
        """(X509CertChain, private key) of ``cert``/``key`` options, or (None, None)."""
        if not cfg.cert_chain or not (cfg.key_der or cfg.key_pem):
            return None, None
        from cryptography.hazmat.primitives import serialization as ser
        from tlslite.utils.keyfactory import parsePEMKey
        if cfg.key_der:
            key = ser.load_der_private_key(cfg.key_der, None)
        else:
            key = ser.load_pem_private_key(cfg.key_pem, cfg.password)
        pem = key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption())
        certs = []
        for der in cfg.cert_chain:
            cert = X509()
            cert.parseBinary(bytearray(der))
            certs.append(cert)
        chain = X509CertChain(certs)
        return chain, parsePEMKey(pem.decode("ascii"), private=True)

    def _start(self, cfg: TLSConfig):
        settings = self._settings(cfg)
        chain, key = self._own_certificate(cfg)
        alpn = [bytearray(p) for p in (cfg.alpn_advertised if cfg.role == "client" else cfg.alpn_preferred)] \
            or None
        if cfg.role == "client":
            npn = [bytearray(p) for p in cfg.npn_selector[1]] if cfg.npn_selector else None
            server_name = cfg.server_name_indication
            if server_name:
                import ipaddress
                try:
                    ipaddress.ip_address(server_name)
                    server_name = None           # no SNI for IP literals (RFC 6066)
                except ValueError:
                    pass
            if cfg.srp_identity is not None:
                user, password = cfg.srp_identity
                return self.conn._handshakeClientAsync(
                    srpParams=(bytearray(user), bytearray(password)), settings=settings,
                    nextProtos=npn, serverName=server_name, alpn=alpn)
            return self.conn._handshakeClientAsync(
                certParams=(chain, key), settings=settings, nextProtos=npn,
                serverName=server_name, alpn=alpn)
        verifiers = _SRPVerifiers(self) if cfg.srp_server else None
        npn = [bytearray(p) for p in cfg.npn_advertised] if cfg.npn_advertised is not None else None
        return self.conn.handshakeServerAsync(
            verifierDB=verifiers, certChain=chain, privateKey=key, settings=settings,
            nextProtos=npn, alpn=alpn, anon=False)

    @staticmethod
    def ordered(suites, order) -> list:
        """``suites`` in the order of ``order`` (those not in it keep theirs, after)."""
        rank = {c: i for i, c in enumerate(order)}
        return sorted(suites, key=lambda c: rank.get(c, len(rank)))

    # ---- NPN -----------------------------------------------------------------------
    def select_next_protocol(self, advertised) -> Optional[bytearray]:
        """The client's choice as the seed (R16B03's ssl man page) describes
        ``client_preferred_next_protocols``: by the client's or the server's order
        the first protocol on both lists; with no overlap (or an empty list) the
        default if given, else the client's first. A server without NPN: no
        protocol, and the handshake fails unless a default was given."""
        sel = self.cfg.npn_selector
        if sel is None:
            return None
        precedence, mine, default = sel
        if advertised is None:
            if default is None:
                self.npn_failed = True
            return None
        theirs = [bytes(p) for p in advertised]
        if precedence == "client":
            pick = next((p for p in mine if p in theirs), None)
        else:
            pick = next((p for p in theirs if p in mine), None)
        if pick is None:
            pick = default if default is not None else mine[0]
        return bytearray(pick)

    # ---- bytes in and out -----------------------------------------------------------
    def receive_ciphertext(self, data: bytes) -> None:
        self._sock.inbuf += data

    def receive_eof(self) -> None:
        self.eof = True
        self._sock.eof = True

    def ciphertext_to_send(self) -> bytes:
        out = self._sock.out
        if not out:
            return b""
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        return data

    def do_handshake(self) -> bool:
        if self.handshake_done:
            return True
        gen = self._handshaker
        try:
            for result in gen:
                if result == 0:
                    return False          # waits for the peer
        except Exception as exc:
            raise self._fail(exc) from None
        self._handshaker = None
        self.handshake_done = True
        self._version = self.conn.version
        if self.npn_failed:
            # the seed: "If the server does not support Next Protocol Negotiation the
            # connection will be aborted if no default protocol is supplied"
            try:
                for _ in self.conn._sendError(AlertDescription.handshake_failure, "no NPN from server"):
                    pass
            except Exception as exc:
                self.handshake_done = False
                raise self._fail(exc) from None
        return True

    def read_plaintext(self) -> bytes:
        """All plaintext available now (b"" if none); ``peer_closed`` on close_notify
        or TCP EOF. A failure after some data is kept in ``failed``."""
        chunks = []
        conn = self.conn
        while not conn.closed:
            gen, self._reader = self._reader or conn.readAsync(), None
            data = None
            try:
                for result in gen:
                    if result == 0:
                        self._reader = gen      # keeps its place in a partial record
                        break
                    if result != 1:
                        data = result
            except TLSAbruptCloseError:
                self.peer_closed = True         # TCP closed without close_notify, as ssl
                break
            except Exception as exc:
                err = self._fail(exc)
                if not chunks:
                    raise err from None
                break
            if self._reader is not None:
                break
            if data:
                chunks.append(bytes(data))
        if conn.closed and self.failed is None:
            self.peer_closed = True
        return b"".join(chunks)

    @property
    def pending_writes(self) -> bool:
        return False

    def write_plaintext(self, data) -> None:
        if self._wrote_close:
            return
        try:
            for _ in self.conn.writeAsync(bytes(data)):
                pass
        except Exception as exc:
            raise self._fail(exc) from None

    def close(self) -> None:
        """Queue a close_notify (idempotent); reading goes on (a half-close)."""
        if self._wrote_close or not self.handshake_done or self.conn.closed:
            self._wrote_close = True
            return
        self._wrote_close = True
        try:
            for _ in self.conn._sendMsg(Alert().create(AlertDescription.close_notify, AlertLevel.warning)):
                pass
        except Exception:
            pass

    shutdown_write = close

    def unread_input(self) -> bytes:
        return bytes(self.conn.sock._read_buffer) + bytes(self._sock.inbuf)

    def renegotiate(self) -> None:
        raise RenegotiationError("tlslite-ng does not renegotiate")

    def continue_with(self, cfg: TLSConfig) -> None:
        # {handshake, hello} is refused with SRP and NPN (service.options.unsupported)
        raise TLSClosed("no pause after the hello on the tlslite-ng engine")

    # ---- errors -----------------------------------------------------------------------
    def _fail(self, exc) -> Exception:
        facts = dict(role=self.role, handshake_done=self.handshake_done, tls13=False)
        if isinstance(exc, TLSRemoteAlert):
            err = TLSAlertError(exc.description, level=exc.level, sent=False, **facts)
        elif isinstance(exc, TLSLocalAlert):
            err = TLSAlertError(exc.description, sent=True, **facts)
        elif isinstance(exc, TLSAbruptCloseError):
            err = TLSClosed("peer closed during handshake")
        elif isinstance(exc, TLSError):
            err = TLSAlertError(HANDSHAKE_FAILURE, sent=True, **facts)
        else:
            log.warning("tlslite-ng engine: %r", exc)
            err = TLSAlertError(ILLEGAL_PARAMETER if self.srp_failed else INTERNAL_ERROR, sent=True, **facts)
        self.failed = err
        return err

    # ---- information --------------------------------------------------------------------
    @property
    def version(self) -> str:
        return _NAMES.get(self._version or self.conn.version, "tlsv1.2")

    def cipher_name(self) -> str:
        """The suite's RFC name (bridge.service.ciphers.suite_for takes both spellings)."""
        s = self.conn.session
        return CipherSuite.ietfNames.get(s.cipherSuite, "") if s is not None else ""

    @property
    def cipher_suite(self) -> Optional[tuple[str, int, str]]:
        name = self.cipher_name()
        return (name, 0, "TLSv1.2") if name else None

    def _peer_chain(self):
        s = self.conn.session
        if s is None:
            return None
        return s.serverCertChain if self.role == "client" else s.clientCertChain

    def peer_cert_der(self) -> Optional[bytes]:
        chain = self._peer_chain()
        return bytes(chain.x509List[0].bytes) if chain and chain.x509List else None

    def peer_chain_der(self) -> list[bytes]:
        chain = self._peer_chain()
        return [bytes(c.bytes) for c in chain.x509List] if chain else []

    @property
    def session_reused(self) -> bool:
        return bool(self.conn.resumed)

    def session_id(self) -> bytes:
        s = self.conn.session
        return bytes(s.sessionID) if s is not None else b""

    def session_data(self) -> bytes:
        return b""                 # no resumption on this engine

    @property
    def alpn_protocol(self) -> Optional[bytes]:
        s = self.conn.session
        return bytes(s.appProto) if s is not None and s.appProto else None

    @property
    def next_protocol(self) -> Optional[bytes]:
        p = self.conn.next_proto
        return bytes(p) if p else None

    @property
    def sni(self) -> Optional[str]:
        s = self.conn.session
        return s.serverName or None if s is not None else None

    def srp_username(self) -> Optional[bytes]:
        """The SRP user of the session (ssl's connection_information srp_username)."""
        s = self.conn.session
        name = s.srpUsername if s is not None else None
        if not name:
            return None
        return name.encode() if isinstance(name, str) else bytes(name)

    def client_random(self) -> Optional[bytes]:
        return bytes(self.conn._clientRandom) or None

    def server_random(self) -> Optional[bytes]:
        return bytes(self.conn._serverRandom) or None

    def master_secret(self) -> Optional[bytes]:
        s = self.conn.session
        return bytes(s.masterSecret) if s is not None else None

    def traffic_secrets(self) -> dict[str, bytes]:
        return {}

    def export_keying_material(self, label: bytes, length: int, context: Optional[bytes] = None) -> bytes:
        if context is not None:
            raise ValueError("no context in TLS 1.2's exporter here")
        return bytes(self.conn.keyingMaterialExporter(bytearray(label), length))
