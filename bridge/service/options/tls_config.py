"""From validated options to the TLS engine's config (``bridge.tls.config.TLSConfig``),
once the files the options name have been read on the caller's node.

OTP does this part in ``ssl_config:init/2`` (certificates and keys, trust anchors, DH
parameters) after ``ssl:handle_options``; its errors name the option and the file:
``{error, {options, {certfile, Path, {error, enoent}}}}`` when reading failed, and
``{error, {options, {Opt, Path, Reason}}}`` with a non-``{error, _}`` reason when the
file does not decode (``ssl:format_error/1`` then says "decoding error").
"""
from __future__ import annotations

from bridge.service import ciphers as _ciphers
from bridge.service.terms import LongPath

from .base import (
    _ERROR,
    _OPTIONS,
    A,
    SslOptionError,
    _chars,
    _erl_string,
    _is,
    _is_binary,
    _is_fun,
    _is_int,
    _is_list,
    _opt_error,
)
from .parse import ParsedOptions, parse_handshake_options
from .process import cert_key_pairs
from .pem import _certs_from_file, _dh_der_to_pem, _dh_pem_from_file, _key_pem_from_file
from . import groups, sigalgs
from .sessions import session_config
from .validate import _byte_chars

def build_tls_config(parsed: ParsedOptions, role: str, file_contents: dict, top: bool = True):
    """Build ``bridge.tls.config.TLSConfig`` once the files named in ``parsed.files``
    have been read on the caller's node.

    ``file_contents`` maps path → bytes, or → an error atom (``Atom('enoent')``) when
    reading failed.  Raises SslOptionError ``{error, {options, {certfile, Path,
    {error, enoent}}}}`` (and keyfile/cacertfile/dhfile alike); a file that reads but
    does not decode gives ``{error, {options, {Opt, Path, Reason}}}`` with a
    non-``{error, _}`` reason (``ssl:format_error/1`` then says "decoding error").
    """
    from bridge.tls.config import TLSConfig

    o = parsed.ssl
    cfg = TLSConfig(role=role)
    _set_protocol(cfg, o, "ciphers" in parsed.given)
    pairs = cert_key_pairs(o.get("certs_keys"))
    if pairs and len(pairs) > 1:
        # ssl_config:init_certs_keys/3: the pairs replace cert/certfile and key/keyfile
        cfg.cert_alts = tuple(_cert_alt(conf, o["certs_keys"], file_contents) for conf in pairs)
    else:
        _set_certificate(cfg, o, file_contents)
        _set_key(cfg, o, file_contents)
    _set_trust(cfg, o, file_contents)
    _set_dh(cfg, o, file_contents)
    if role == "client":
        _set_server_name(cfg, o)
    _set_negotiation(cfg, o, role, parsed.given)
    _set_srp_npn(cfg, o, role)
    cfg.keep_secrets = o.get("keep_secrets") is True
    if role == "server":
        if parsed.session_id_context is not None:
            # the listen socket's own session cache (ParsedOptions.session_id_context)
            cfg.session_id_context = parsed.session_id_context
        cfg.sni_configs = _sni_configs(parsed, file_contents)
        if top and not _is_fun(o.get("sni_fun")):
            _sha1_pair(cfg)
    return cfg


def _sha1_pair(cfg) -> None:
    """A TLS 1.3 server's SHA-1-signed certificate is sent only to a client whose
    schemes allow it (tls_handshake_1_3:select_server_cert_key_pair/7, RFC 8446
    4.4.2.2); else ssl fails the handshake. libssl looks at the certificate's own
    signature only when the client sent signature_algorithms_cert, so such a
    certificate goes the way of several pairs (bridge.tls.certalts), as one pair.
    Not with SNI switching (the switch replaces the context's certificate) nor with
    a chain given (a pair has the automatic one)."""
    if "tlsv1.3" not in cfg.versions or len(cfg.cert_chain) != 1 or cfg.cert_alts \
            or (cfg.key_der is None and cfg.key_pem is None) or cfg.sni_configs \
            or cfg.engine != "openssl":
        return
    from bridge.tls import certalts
    if certalts.sha1_signed(cfg.cert_chain[0]):
        cfg.cert_alts = ((tuple(cfg.cert_chain), cfg.key_der, cfg.key_pem, cfg.password),)
        cfg.cert_chain, cfg.key_der, cfg.key_pem = [], None, None


def _set_protocol(cfg, o: dict, ciphers_given: bool) -> None:
    """Versions, cipher suites, verification, renegotiation, ALPN, PSK."""
    cfg.versions = tuple(o.get("versions") or ("tlsv1.3", "tlsv1.2"))
    codes = o.get("ciphers") or []
    if not ciphers_given:
        # TLS_AES_128_CCM_8_SHA256 needs OpenSSL's security level 0 (see
        # bridge.tls.context): only a caller who names it gets it
        codes = [c for c in codes if c != 0x1305]
    if codes:
        cfg.cipher_list, cfg.ciphersuites_13 = _ciphers.openssl_config(codes)
        if ciphers_given and cfg.cipher_list and any(
                c in _ciphers.SUITES and _ciphers.SUITES[c].key_exchange.startswith("dhe_")
                for c in codes):
            # DHE suites the caller named: ssl takes the server's DH group whatever its
            # size (ssl_api_SUITE dh_params: 1024 bits), which OpenSSL's default
            # security level refuses ("dh key too small"); level 0 for this list only
            cfg.cipher_list += ":@SECLEVEL=0"
    cfg.verify = o["verify"].name
    cfg.depth = o["depth"] if _is_int(o.get("depth")) else 10
    cfg.fail_if_no_peer_cert = o.get("fail_if_no_peer_cert") is True
    cfg.secure_renegotiate = o.get("secure_renegotiate") is not False
    session_config(o, cfg)
    alpn_a = o.get("alpn_advertised_protocols")
    alpn_p = o.get("alpn_preferred_protocols")
    cfg.alpn_advertised = list(alpn_a) if isinstance(alpn_a, list) else []
    cfg.alpn_preferred = list(alpn_p) if isinstance(alpn_p, list) else []
    # PSK (TLS 1.2): the key comes from user_lookup_fun (bridge.service.psk)
    cfg.psk = isinstance(o.get("user_lookup_fun"), tuple)
    ident = _erl_string(o.get("psk_identity"))
    cfg.psk_identity = ident.encode("utf-8", "surrogatepass") if ident else None


def _set_srp_npn(cfg, o: dict, role: str) -> None:
    """SRP and NPN, which make the connection run on the tlslite-ng engine
    (``bridge.tls.engines``): ``srp_identity`` (a client's, UTF-8 as ssl's
    ``validate_option/3`` makes it binaries), a server's ``user_lookup_fun`` with
    SRP suites, ``next_protocols_advertised``, ``client_preferred_next_protocols``
    (``{P, L}`` is ``{P, L, <<>>}`` in ssl: no default)."""
    cfg.suites = tuple(o.get("ciphers") or ())
    srp = o.get("srp_identity")
    if isinstance(srp, tuple) and len(srp) == 2:
        cfg.srp_identity = tuple(_chars(x).encode("utf-8", "surrogatepass") for x in srp)
    elif role == "client" and cfg.suites and all(_is_srp(c) for c in cfg.suites):
        # only SRP suites and no identity: ssl offers them without the SRP
        # extension (the server then fails the handshake); so does tlslite-ng
        cfg.srp_identity = (b"", b"")
    if role == "server" and cfg.psk:
        cfg.srp_server = any(_is_srp(c) for c in cfg.suites)
    adv = o.get("next_protocols_advertised")
    if role == "server" and isinstance(adv, list):
        cfg.npn_advertised = [bytes(p) for p in adv]
    sel = o.get("next_protocol_selector")
    if role == "client" and isinstance(sel, tuple) and len(sel) == 3:
        cfg.npn_selector = (sel[0].name, [bytes(p) for p in sel[1]], bytes(sel[2]) or None)


def _is_srp(code: int) -> bool:
    suite = _ciphers.SUITES.get(code)
    return suite is not None and suite.key_exchange.startswith("srp_")


def _set_negotiation(cfg, o: dict, role: str, given) -> None:
    """honor_cipher_order, client_renegotiation, certificate_authorities,
    beast_mitigation, fallback, signature_algs and eccs / supported_groups (issue 10)."""
    cfg.honor_cipher_order = role == "server" and o.get("honor_cipher_order") is True
    cfg.client_renegotiation = o.get("client_renegotiation") is not False
    cfg.ca_names = o.get("certificate_authorities") is not False
    cfg.split_records = not _is(o.get("beast_mitigation"), "disabled")
    cfg.fallback = role == "client" and o.get("fallback") is True
    algs = o.get("signature_algs")
    if "signature_algs" in given and isinstance(algs, list):
        # ssl's checks passed (options.sigalgs); one libssl takes is there (unsupported.py)
        cfg.sigalgs = ":".join(sigalgs.openssl_names(algs))
    cfg.groups = groups.openssl_list(o, role, cfg.versions, given)


def _read(o: dict, file_contents: dict, opt: str):
    """(path, contents) of the file option ``opt`` names, or (None, None) if none."""
    v = o.get(opt)
    if v.__class__ is LongPath:         # a name of PATH_MAX bytes or more
        path = v
    elif isinstance(v, (bytes, bytearray)) and v:
        path = bytes(v).decode("utf-8", "surrogateescape")
    else:
        return None, None
    data = file_contents.get(path, A("enoent"))
    if not isinstance(data, (bytes, bytearray)):
        err = data if isinstance(data, A) else A("enoent")
        name = v.quoted() if path is v else _byte_chars(bytes(v))
        raise SslOptionError((_ERROR, (_OPTIONS, (A(opt), name, (_ERROR, err)))))
    return path, bytes(data)


_DECODING_ERROR = A("decoding_error")


def _decode_error(opt: str, path: str, reason=_DECODING_ERROR) -> SslOptionError:
    return SslOptionError((_ERROR, (_OPTIONS, (A(opt), _byte_chars(path.encode("utf-8", "surrogateescape")),
                                               reason))))


def _set_certificate(cfg, o: dict, file_contents: dict) -> None:
    """The certificate chain: ``cert`` (DER) or ``certfile``."""
    cert = o.get("cert")
    if isinstance(cert, list) and cert:
        if not all(_is_binary(c) for c in cert):
            raise _opt_error("cert", cert)
        cfg.cert_chain = [bytes(c) for c in cert]
        return
    path, data = _read(o, file_contents, "certfile")
    if path is not None:
        try:
            cfg.cert_chain = _certs_from_file(data)
        except ValueError:
            raise _decode_error("certfile", path) from None
        if not cfg.cert_chain:
            raise _decode_error("certfile", path)


def _set_key(cfg, o: dict, file_contents: dict) -> None:
    """The private key (``key`` or ``keyfile``) and its ``password``."""
    key = o.get("key")
    pw = o.get("password")
    pw_text = _chars(pw) if _is_list(pw) and pw else None       # None: not a charlist
    cfg.password = (pw_text.encode("utf-8", "surrogatepass") if pw_text
                    else bytes(pw) if _is_binary(pw) and pw else None)
    if isinstance(key, tuple):
        # a {Type, Der} key is never encrypted: ssl does not use the password
        cfg.key_der = bytes(key[1]) if _is_binary(key[1]) else None
        cfg.password = None
        return
    path, data = _read(o, file_contents, "keyfile")
    if path is not None:
        pem = _key_pem_from_file(data)
        if pem is None and cfg.cert_chain:
            raise _decode_error("keyfile", path)
        cfg.key_pem = pem
    if cfg.key_pem is not None and b"ENCRYPTED" not in cfg.key_pem:
        # ssl_config:private_key/1 decodes a not_encrypted PEM entry without the
        # password (public_key:pem_entry_decode/2 ignores it); cryptography refuses
        # a password given with a plain key
        cfg.password = None


def _cert_alt(conf: dict, certs_keys, file_contents: dict) -> tuple:
    """One of several ``certs_keys`` pairs as TLSConfig.cert_alts holds it:
    (chain, key DER, key PEM, password), read as the plain options are
    (ssl_config:cert_conf/1, key_conf/1: ``cert`` wins over ``certfile``, ``key``
    over ``keyfile``). A pair whose certfile holds a chain is refused by name: its
    chain could not be sent (process.certs_keys_unsupported)."""
    from bridge.tls.config import TLSConfig
    one = TLSConfig(role="client")
    sub = {"cert": conf["cert"] if "cert" in conf else None,
           "certfile": None if "cert" in conf else conf.get("certfile"),
           "key": conf["key"] if "key" in conf else None,
           "keyfile": None if "key" in conf else conf.get("keyfile"),
           "password": conf.get("password", [])}
    if isinstance(sub["cert"], (bytes, bytearray)):
        sub["cert"] = [sub["cert"]]
    for name in ("certfile", "keyfile"):
        path = _erl_string(sub[name])
        # file names as parse._files listed them for reading
        sub[name] = path.encode("utf-8", "surrogateescape") if path else None
    _set_certificate(one, sub, file_contents)
    _set_key(one, sub, file_contents)
    if len(one.cert_chain) != 1 or (one.key_der is None and one.key_pem is None):
        raise SslOptionError((_ERROR, (_OPTIONS, (A("not_supported_by_pyssl"),
                                                  (A("certs_keys"), certs_keys)))))
    return (tuple(one.cert_chain), one.key_der, one.key_pem, one.password)


def _set_trust(cfg, o: dict, file_contents: dict) -> None:
    """The trust anchors: ``cacerts`` or ``cacertfile``."""
    cacerts = o.get("cacerts")
    if isinstance(cacerts, list) and cacerts:
        # DER binaries, or #cert{der, otp} records (public_key.hrl), which OTP 25 takes
        # too (ssl_api_SUITE der_input); OTP ignores the others
        cfg.cacerts = [bytes(c) for c in (_cert_record_der(c) for c in cacerts) if _is_binary(c)]
        return
    path, data = _read(o, file_contents, "cacertfile")
    if path is not None:
        try:
            cfg.cacerts = _certs_from_file(data)
        except ValueError:
            raise _decode_error("cacertfile", path) from None


def _set_dh(cfg, o: dict, file_contents: dict) -> None:
    """DH parameters: ``dh`` (DER) or ``dhfile``."""
    dh = o.get("dh")
    if _is_binary(dh):
        cfg.dh_pem = _dh_der_to_pem(bytes(dh))
        return
    path, data = _read(o, file_contents, "dhfile")
    if path is not None:
        pem = _dh_pem_from_file(data)
        if pem is None:
            raise _decode_error("dhfile", path)
        cfg.dh_pem = pem


def _set_server_name(cfg, o: dict) -> None:
    """A client's SNI, and the host name checked when it verifies its peer."""
    sni = o.get("server_name_indication")
    if _is_list(sni):
        cfg.server_name_indication = _chars(sni)
        if cfg.verify == "verify_peer":
            cfg.hostname_check = cfg.server_name_indication
    else:
        cfg.server_name_indication = None


def _sni_configs(parsed: ParsedOptions, file_contents: dict) -> dict:
    """``sni_hosts``: host name → the TLSConfig of its options processed over the
    listen socket's (as ``ssl_gen_statem:update_ssl_options_from_sni/2`` does)."""
    out = {}
    for host, sub in parsed.ssl.get("sni_hosts") or []:
        name = _erl_string(host)
        if name is None or name in out:
            continue                  # proplists:get_value/2: the first entry wins
        host_parsed = parse_handshake_options(sub, parsed)
        host_parsed.ssl["sni_hosts"] = []
        out[name] = build_tls_config(host_parsed, "server", file_contents, top=False)
    return out


_CERT = A("cert")


def _cert_record_der(c):
    """The DER of a ``#cert{der = Der, otp = Otp}`` record; anything else as it is."""
    if isinstance(c, tuple) and len(c) == 3 and c[0] == _CERT:
        return c[1]
    return c
