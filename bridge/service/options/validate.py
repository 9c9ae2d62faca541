"""OTP 25's ``ssl:validate_option/3``: one validator per option, each answering the
value to keep or ``_NO`` (then the option's ``{error, {options, {Name, Value}}}``)."""
from __future__ import annotations

from bridge.etf.types import Atom
from bridge.service.terms import PATH_MAX, LongPath, charlist_str

from .base import (
    _ERROR,
    _OPTIONS,
    _UNDEF,
    A,
    ErlangException,
    SslOptionError,
    _is,
    _is_atom,
    _is_binary,
    _is_bool,
    _is_fun,
    _is_int,
    _is_list,
    _is_undef,
    _opt_error,
)
from .rules import _RULES


def _validate(opt: str, value, role: str | None = None):
    """OTP's ``validate_option/3``."""
    v = value
    ok = _VALIDATORS.get(opt)
    if ok is not None:
        res = ok(v, role)
        if res is not _NO:
            return res
    if _is_undef(v):
        if opt in _RULES:
            return _UNDEF
    raise _opt_error(opt, v)


_NO = object()


def _v_bool(v, _r):
    return v if _is_bool(v) else _NO


def _v_binary_list(opt):
    def check(v, _r):
        if isinstance(v, list):
            for b in v:
                if not (_is_binary(b) and 0 < len(b) < 256):
                    raise _opt_error(opt, (A("invalid_protocol"), b))
            return v
        return _UNDEF if _is_undef(v) else _NO
    return check


def _v_path(nonempty: bool, undefined_to):
    def check(v, _r):
        if _is_undef(v):
            return undefined_to
        if v.__class__ is LongPath:     # keyfile defaulting to a long certfile
            return v
        if (_is_binary(v) or _is_list(v)) and len(v) >= PATH_MAX:
            # no file has such a name (each character is a byte or more): kept in
            # pieces for the enametoolong error that quotes it (terms.LongPath)
            long = LongPath.of(v)
            if long is not None:
                return long
        if _is_binary(v):
            return _hashed(bytes(v))
        if _is_list(v) and (not nonempty or len(v) > 0):
            text = v if isinstance(v, str) else charlist_str(v)
            if text is None:
                raise ErlangException("error", A("badarg"))
            try:
                return _hashed(text.encode("utf-8"))
            except UnicodeEncodeError as exc:   # a surrogate: what unicode:characters_to_binary gives
                return (_ERROR, text[:exc.start].encode("utf-8"), list(map(ord, text[exc.start:])))
        return _NO
    return check


def _byte_chars(raw: bytes):
    """The charlist of ``raw``'s bytes, as OTP quotes a file name in an error. A
    long one is kept as a latin-1 str, which the codec writes as that same list, in
    C-level pieces: a list of 64 Mi ints takes ~300 ms to build, holding the GIL."""
    return list(raw) if len(raw) <= 65535 else raw.decode("latin-1")


def _hashed(path: bytes) -> bytes:
    """``path`` with its hash computed: bytes keep it, and paths are dict keys later
    on the event loop, where hashing a 64 MiB name would cost ~40 ms (here it runs
    where the parse runs, on a worker thread for such a name)."""
    hash(path)
    return path


def _v_key(v, _r):
    if _is_undef(v):
        return _UNDEF
    if isinstance(v, tuple) and len(v) == 2:
        kt, der = v
        if (_is_binary(der) and _is(kt, "rsa")) or _is(kt, "dsa", "RSAPrivateKey", "DSAPrivateKey",
                                                         "ECPrivateKey", "PrivateKeyInfo"):
            return v
    if isinstance(v, dict) and A("algorithm") in v:
        return v
    return _NO


def _v_cnp(v, _r):
    if _is_undef(v):
        return _UNDEF
    if isinstance(v, tuple) and len(v) == 2 and isinstance(v[1], list):
        _v_binary_list("client_preferred_next_protocols")(v[1], None)
        _npn_ordering(v[0])
        return (v[0], v[1], b"")
    if (isinstance(v, tuple) and len(v) == 3 and isinstance(v[1], list) and _is_binary(v[2])
            and 0 < len(v[2]) < 256):
        _v_binary_list("client_preferred_next_protocols")(v[1], None)
        _npn_ordering(v[0])
        return v
    return _NO


def _npn_ordering(p):
    if not _is(p, "client", "server"):
        raise _opt_error("client_preferred_next_protocols", (A("invalid_precedence"), p))


def _v_session_tickets(v, role):
    allowed = {"server": ["disabled", "stateful", "stateless"],
               "client": ["disabled", "manual", "auto"]}.get(role)
    if allowed is None:
        return _NO
    if _is(v, *allowed):
        return v
    raise SslOptionError((_ERROR, (_OPTIONS, A("role"), (A("session_tickets"),
                                                         (v, (A(role), [A(a) for a in allowed]))))))


def _v_early_data(v, role):
    if role == "server":
        if _is(v, "disabled", "enabled"):
            return v
        raise SslOptionError((_ERROR, (_OPTIONS, A("role"), (A("early_data"), (
            v, (A("server"), [A("disabled"), A("enabled")]))))))
    if role == "client":
        if _is_binary(v):
            return v
        raise SslOptionError((_ERROR, (_OPTIONS, A("type"), (A("early_data"), (v, A("not_binary"))))))
    return _NO


def _v_sni_hosts(v, _r):
    if v == []:
        return []
    if isinstance(v, list) and all(isinstance(e, tuple) and len(e) == 2 and _is_list(e[0])
                                   and isinstance(e[1], list) for e in v):
        for _host, sub in v:
            for o in sub:
                if isinstance(o, tuple) and len(o) == 2 and o[0] is A("sni_hosts"):
                    raise _opt_error("sni_hosts", o[1])
                if isinstance(o, tuple) and len(o) == 2 and isinstance(o[0], Atom):
                    _validate(o[0].name, o[1])
        return v
    return _NO


_LOG_LEVELS = ("none", "all", "emergency", "alert", "critical", "error", "warning", "notice",
               "info", "debug")


def _validate_versions(vsns):
    """ssl:validate_versions/2 (a versions list given, as in the options or an sni_hosts entry)."""
    if not isinstance(vsns, list):
        raise ErlangException("error", A("function_clause"))
    for v in vsns:
        if not _is(v, "tlsv1.3", "tlsv1.2", "tlsv1.1", "tlsv1"):
            if _is(v, "dtlsv1", "dtlsv1.2") and v is vsns[0]:
                continue
            raise SslOptionError((_ERROR, (_OPTIONS, (v, (A("versions"), vsns)))))
    if vsns and _is(vsns[0], "dtlsv1", "dtlsv1.2"):
        raise SslOptionError((_ERROR, (_OPTIONS, (A("not_supported_by_pyssl"), (A("versions"), vsns)))))
    names = [x.name for x in vsns]
    if "tlsv1.3" in names and len(names) >= 2 and "tlsv1.2" not in names:
        raise SslOptionError((_ERROR, (_OPTIONS, A("missing_version"),
                                       (A("tlsv1.2"), (A("versions"), vsns)))))


_VALIDATORS = {
    "versions": lambda v, r: (_validate_versions(v), v)[1],     # (an sni_hosts entry's)
    "alpn_advertised_protocols": _v_binary_list("alpn_advertised_protocols"),
    "alpn_preferred_protocols": _v_binary_list("alpn_preferred_protocols"),
    "anti_replay": lambda v, r: ((10, 5, 72985) if _is(v, "10k") else (10, 5, 729845)
                                 if _is(v, "100k") else v if isinstance(v, tuple) and len(v) == 3
                                 else _NO),
    "beast_mitigation": lambda v, r: v if _is(v, "one_n_minus_one", "zero_n", "disabled") else _NO,
    "cacertfile": _v_path(True, b""),
    "cacerts": lambda v, r: v if _is_undef(v) or isinstance(v, list) else _NO,
    "cb_info": lambda v, r: v if isinstance(v, tuple) and len(v) in (4, 5) and all(
        _is_atom(x) for x in v) else _NO,
    "cert": lambda v, r: (_UNDEF if _is_undef(v) else v if isinstance(v, list)
                          else [bytes(v)] if _is_binary(v) else _NO),
    "certificate_authorities": _v_bool,
    "certfile": _v_path(False, _UNDEF),
    "client_preferred_next_protocols": _v_cnp,
    "client_renegotiation": _v_bool, "cookie": _v_bool,
    "crl_cache": lambda v, r: v if (isinstance(v, tuple) and len(v) == 2 and _is_atom(v[0])
                                    and isinstance(v[1], tuple) and len(v[1]) == 2
                                    and isinstance(v[1][1], list)) else _NO,
    "crl_check": lambda v, r: v if _is_bool(v) or _is(v, "best_effort", "peer") else _NO,
    "customize_hostname_check": lambda v, r: v if isinstance(v, list) else _NO,
    "depth": lambda v, r: v if _is_int(v) and 0 <= v <= 255 else _NO,
    "dh": lambda v, r: v if _is_undef(v) or _is_binary(v) else _NO,
    "dhfile": _v_path(True, _UNDEF),
    "early_data": _v_early_data,
    "erl_dist": _v_bool, "fail_if_no_peer_cert": _v_bool, "fallback": _v_bool,
    "handshake": lambda v, r: v if _is(v, "hello", "full") else _NO,
    "hibernate_after": lambda v, r: (A("infinity") if _is_undef(v) or _is(v, "infinity")
                                     else v if _is_int(v) and v >= 0 else _NO),
    "honor_cipher_order": _v_bool, "honor_ecc_order": _v_bool, "keep_secrets": _v_bool,
    "key": _v_key,
    "keyfile": _v_path(True, b""),
    "key_update_at": lambda v, r: v if _is_int(v) and v > 0 else _NO,
    "log_level": lambda v, r: v if _is(v, *_LOG_LEVELS) else _NO,
    "max_fragment_length": lambda v, r: v if v in (512, 1024, 2048, 4096) and _is_int(v) else _NO,
    "max_handshake_size": lambda v, r: v if _is_int(v) and v <= 8388607 else _NO,
    "middlebox_comp_mode": _v_bool,
    "next_protocols_advertised": _v_binary_list("next_protocols_advertised"),
    "ocsp_nonce": _v_bool, "ocsp_stapling": _v_bool,
    "ocsp_responder_certs": lambda v, r: v if isinstance(v, list) else _NO,
    "padding_check": _v_bool,
    "partial_chain": lambda v, r: v if _is_fun(v) else _NO,
    "password": lambda v, r: v if _is_list(v) or _is_binary(v) or _is_fun(v, 0) else _NO,
    "certs_keys": lambda v, r: v if isinstance(v, list) else _NO,
    "protocol": lambda v, r: v if _is(v, "tls", "dtls") else _NO,
    "psk_identity": lambda v, r: (_UNDEF if _is_undef(v) else v if _is_list(v) and
                                  0 < len(v) <= 65535 else _NO),
    "receiver_spawn_opts": lambda v, r: v if isinstance(v, list) else _NO,
    "renegotiate_at": lambda v, r: min(v, 268435456) if _is_int(v) else _NO,
    "reuse_session": lambda v, r: (_UNDEF if _is_undef(v) else v if _is_fun(v) or _is_binary(v)
                                   or (isinstance(v, tuple) and len(v) == 2 and _is_binary(v[0])
                                       and _is_binary(v[1])) else _NO),
    "reuse_sessions": lambda v, r: v if _is_bool(v) or _is(v, "save") else _NO,
    "secure_renegotiate": _v_bool,
    "sender_spawn_opts": lambda v, r: v if isinstance(v, list) else _NO,
    "server_name_indication": lambda v, r: (v if _is_list(v) else _UNDEF if _is_undef(v)
                                            else v if _is(v, "disable") else _NO),
    "session_tickets": _v_session_tickets,
    "sni_fun": lambda v, r: _UNDEF if _is_undef(v) else v if _is_fun(v) else _NO,
    "sni_hosts": _v_sni_hosts,
    "srp_identity": lambda v, r: (_UNDEF if _is_undef(v) else v if isinstance(v, tuple) and len(v) == 2
                                  and _is_list(v[0]) and _is_list(v[1]) and 0 < len(v[0]) <= 255
                                  else _NO),
    "user_lookup_fun": lambda v, r: (_UNDEF if _is_undef(v) else v if isinstance(v, tuple)
                                     and len(v) == 2 and _is_fun(v[0], 3) else _NO),
    "use_ticket": lambda v, r: v if isinstance(v, list) else _NO,
    "verify": lambda v, r: v if _is(v, "verify_none", "verify_peer") else _NO,
    "verify_fun": lambda v, r: (_UNDEF if _is_undef(v) else v if _is_fun(v) or (
        isinstance(v, tuple) and len(v) == 2 and _is_fun(v[0])) else _NO),
}

