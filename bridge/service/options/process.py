"""OTP 25's ``ssl:process_options/3``: the multi-pass walk over the ssl options in
dependency order, and one rule function per option (``handle_option/3``'s clauses,
cut by option as OTP 26's ``opt_*`` functions cut them by concern).

Each rule is ``opt_<name>(key, value, omap, env)``: ``value`` is ``_UNBOUND`` when the
caller did not give the option (``add_missing_options``), ``omap`` is the options
processed so far (the rule stores its own result there), ``env`` holds the role and
the connect's host. An option without a rule of its own is validated against its
``?RULES`` default (``opt_default``).
"""
from __future__ import annotations

from bridge.etf.types import Atom

from .base import (
    _ERROR,
    _OPTIONS,
    _UNBOUND,
    _UNDEF,
    DEFAULT_REUSE_SESSION,
    DEFAULT_VERIFY_FUN,
    A,
    ErlangException,
    SslOptionError,
    _akey,
    _as_list,
    _is,
    _is_fun,
    _is_list,
    _is_undef,
    _opt_error,
)
from . import sigalgs
from .cipher_suites import _handle_cipher_option
from .rules import _PRE13, _RULES, _RULES_KEY_ORDER, _VERSION_RANK
from .validate import _validate, _validate_versions


def _external(k: str) -> str:
    return "client_preferred_next_protocols" if k == "next_protocol_selector" else k


def _internal(k: str) -> str:
    return "next_protocol_selector" if k == "client_preferred_next_protocols" else k


def _add_missing(ssl_opts: list, key_order=None) -> list:
    lst = [(_akey(o[0]), o[1]) for o in ssl_opts]
    for k0 in (key_order or _RULES_KEY_ORDER):
        k = _external(k0)
        if not any(name == k for name, _ in lst):
            lst.insert(0, (k, _UNBOUND))
    return lst


def _process_options(items: list, omap: dict, env: dict) -> dict:
    todo, skipped, counter = items, [], len(items)
    while True:
        for k0, v in todo:
            k = _internal(k0)
            if _deps_ok(k, omap):
                _handle_option(k, v, omap, env)
            else:
                skipped.insert(0, (k0, v))
        if not skipped:
            lift_certs_keys(omap)
            return omap
        if len(skipped) < counter:
            todo, skipped, counter = skipped, [], len(skipped)
            continue
        raise SslOptionError((_ERROR, A("faulty_configuration")))


def _deps_ok(k: str, omap: dict) -> bool:
    if k in ("cb_info", "log_alert"):
        return True
    deps = _RULES[k][1]
    if not deps:
        return True
    if omap.get(k, _UNBOUND) is not _UNBOUND:
        return True
    return all(omap.get(d, _UNBOUND) is not _UNBOUND for d in deps)


def _assert_dep(option: str, dep: str, values: list, allowed: list[str]):
    names = set(values)
    if not names & set(allowed):
        raise SslOptionError((_ERROR, (_OPTIONS, A("dependency"),
                                       (A(option), (A(dep), [A(a) for a in allowed])))))


def _assert_role(kind: str, role: str, key: str, value):
    if (kind == "client_only" and role == "client") or (kind == "server_only" and role == "server"):
        return
    if _is_undef(value):
        return
    raise SslOptionError((_ERROR, (A("option"), A(kind), A(key))))


def _role_default(which: str, value, role: str):
    return value if which == role else _UNDEF



def _handle_option(k: str, v, omap: dict, env: dict):
    """``ssl:handle_option/3``: the rule of option ``k``."""
    _OPTION_RULES.get(k, opt_default)(k, v, omap, env)


def opt_default(k: str, v, omap: dict, env: dict):
    """An option validated on its own, its ``?RULES`` default when not given."""
    omap[k] = _validate(k, _RULES[k][0] if v is _UNBOUND else v)


def _given_only(rule):
    """A rule for a given option; a missing one takes its ``?RULES`` default."""
    def opt(k, v, omap, env):
        if v is _UNBOUND:
            opt_default(k, v, omap, env)
        else:
            rule(k, v, omap, env)
    opt.__name__ = rule.__name__
    opt.__doc__ = rule.__doc__
    return opt


def _unbound_only(rule):
    """A rule for a missing option's default; a given one is validated as it is."""
    def opt(k, v, omap, env):
        if v is _UNBOUND:
            rule(k, v, omap, env)
        else:
            opt_default(k, v, omap, env)
    opt.__name__ = rule.__name__
    opt.__doc__ = rule.__doc__
    return opt


# ---- protocol versions ------------------------------------------------------------

def opt_versions(k, v, omap, env):
    if v is _UNBOUND:
        omap[k] = ["tlsv1.3", "tlsv1.2"]
        return
    if v == []:
        raise _opt_error("versions", [])       # OTP 25 hangs here
    _validate_versions(v)
    names = [x.name for x in v]
    omap[k] = sorted(names, key=lambda n: -_VERSION_RANK[n])


def opt_ciphers(k, v, omap, env):
    omap[k] = _handle_cipher_option([] if v is _UNBOUND else v, omap.get("versions"))


def opt_groups(k, v, omap, env):
    """``eccs`` and ``supported_groups``."""
    vs = omap.get("versions")
    if not vs:
        omap[k] = _validate(k, _UNDEF if v is _UNBOUND else v)
        return
    if v is _UNBOUND:
        omap[k] = _UNDEF
        return
    if k == "supported_groups":
        _assert_dep(k, "versions", vs, ["tlsv1.3"])
    if not isinstance(v, list):
        raise ErlangException("error", A("function_clause"))
    # tls_v1:ecc_curves/2 and groups/2 keep what crypto has and drop the rest, whatever
    # it is (bridge.service.options.groups does so with libssl's names)
    omap[k] = v


def opt_signature_algs(k, v, omap, env):
    """``signature_algs`` and ``signature_algs_cert``."""
    if v is _UNBOUND or not omap.get("versions"):
        omap[k] = _UNDEF if v is _UNBOUND else _validate(k, v)
        return
    if isinstance(v, list) and omap["versions"][0] in ("tlsv1.3", "tlsv1.2"):
        sigalgs.check(k, v, omap["versions"][0])
        omap[k] = v
    else:
        omap[k] = _UNDEF


@_given_only
def opt_tls13_only(k, v, omap, env):
    """``key_update_at`` and ``use_ticket``: TLS 1.3 options."""
    _assert_dep(k, "versions", omap.get("versions"), ["tlsv1.3"])
    omap[k] = _validate(k, v)


@_given_only
def opt_pre13_only(k, v, omap, env):
    """``psk_identity``, ``secure_renegotiate``, ``reuse_sessions``, ``srp_identity``,
    ``user_lookup_fun``, ``next_protocols_advertised``: options of TLS 1.2 and older."""
    _assert_dep(k, "versions", omap.get("versions"), _PRE13)
    omap[k] = _validate(k, v)


@_given_only
def opt_mitigation(k, v, omap, env):
    """``beast_mitigation`` and ``padding_check``: TLS 1.0 only."""
    _assert_dep(k, "versions", omap.get("versions"), ["tlsv1"])
    omap[k] = _validate(k, v)


# ---- verification and certificates --------------------------------------------------

def opt_verify(k, v, omap, env):
    if v is _UNBOUND:
        omap["warn_verify_none"] = True
        _handle_verify_option(A("verify_none"), omap)
    else:
        _handle_verify_option(v, omap)


@_unbound_only
def opt_verify_fun(k, v, omap, env):
    verify = omap.get("verify")
    if _is(verify, "verify_none"):
        omap[k] = DEFAULT_VERIFY_FUN
    elif _is(verify, "verify_peer"):
        omap[k] = _UNDEF
    else:
        omap[k] = _validate(k, v)


@_unbound_only
def opt_cacertfile(k, v, omap, env):
    verify = omap.get("verify")
    if _is(verify, "verify_none") or verify == 0:
        omap[k] = _validate(k, _ca_cert_default("verify_none", omap["verify_fun"], omap["cacerts"]))
    elif _is(verify, "verify_peer") or verify in (1, 2):
        omap[k] = _validate(k, _ca_cert_default("verify_peer", omap["verify_fun"], omap["cacerts"]))
    else:
        omap[k] = _validate(k, v)


@_unbound_only
def opt_keyfile(k, v, omap, env):
    omap[k] = _validate(k, omap["certfile"])


def opt_certs_keys(k, v, omap, env):
    if v is not _UNBOUND:
        opt_default(k, v, omap, env)


def cert_key_pairs(v):
    """The ``#{cert|certfile, key|keyfile, password}`` maps of a ``certs_keys``, by
    name, or None when one is not such a map (ssl_config:cert_key_pair/3 has no
    clause for it)."""
    if not isinstance(v, list) or not v:
        return None
    out = []
    for entry in v:
        if not isinstance(entry, dict):
            return None
        conf = {key.name: val for key, val in entry.items() if isinstance(key, Atom)}
        if not ("key" in conf or "keyfile" in conf) or not ("cert" in conf or "certfile" in conf):
            return None
        out.append(conf)
    return out


def certs_keys_unsupported(v) -> bool:
    """A ``certs_keys`` the bridge refuses by name. One pair takes the place of the
    plain options (lift_certs_keys). Several are chosen among per connection as ssl
    does (bridge.tls.certalts), each served with the chain OpenSSL builds from the
    trusted certificates: a pair's own chain certificates (a ``cert`` list of more
    than one) would need SSL_add1_chain_cert, which the bindings lack (a
    ``certfile`` holding a chain is refused when read: tls_config)."""
    pairs = cert_key_pairs(v)
    if pairs is None:
        return True
    if len(pairs) == 1:
        return False
    return any(isinstance(c.get("cert"), list) and len(c["cert"]) > 1 for c in pairs)


def single_cert_key(v):
    """The one pair of a single-pair ``certs_keys``, or None."""
    pairs = cert_key_pairs(v)
    return pairs[0] if pairs is not None and len(pairs) == 1 else None


def lift_certs_keys(omap: dict) -> None:
    """A single ``certs_keys`` pair takes the place of ``cert``/``certfile``,
    ``key``/``keyfile`` and ``password``, as ssl_config:cert_key_pair/3 makes its
    pair (key_conf/1, cert_conf/1): ``key`` wins over ``keyfile``, ``cert`` over
    ``certfile``; the plain options are not used then (init_certs_keys/3)."""
    conf = single_cert_key(omap.get("certs_keys"))
    if conf is None:
        return
    if "key" in conf:
        omap.update(key=_validate("key", conf["key"]), keyfile=b"", password=[])
    else:
        omap.update(key=_UNDEF_ATOM, keyfile=_validate("keyfile", conf["keyfile"]),
                    password=_validate("password", conf.get("password", [])))
    if "cert" in conf:
        cert = conf["cert"]
        omap.update(cert=_validate("cert", [cert] if isinstance(cert, bytes) else cert), certfile=b"")
    else:
        omap.update(cert=_UNDEF_ATOM, certfile=_validate("certfile", conf["certfile"]))


_UNDEF_ATOM = Atom("undefined")


def opt_certificate_authorities(k, v, omap, env):
    if v is _UNBOUND:
        omap[k] = env["role"] == "server"
        return
    _assert_dep(k, "versions", omap.get("versions"), ["tlsv1.3"])
    omap[k] = _validate(k, v)


# ---- role-specific options ------------------------------------------------------------

def opt_client_renegotiation(k, v, omap, env):
    if v is _UNBOUND:
        omap[k] = _role_default("server", True, env["role"])
        return
    _assert_role("server_only", env["role"], k, v)
    _assert_dep(k, "versions", omap.get("versions"), _PRE13)
    omap[k] = _validate(k, v)


def opt_fallback(k, v, omap, env):
    if v is _UNBOUND:
        omap[k] = _role_default("client", False, env["role"])
        return
    _assert_role("client_only", env["role"], k, v)
    omap[k] = _validate(k, v)


def opt_cookie(k, v, omap, env):
    if v is _UNBOUND:
        omap[k] = _role_default("server", True, env["role"])
        return
    _assert_dep(k, "versions", omap.get("versions"), ["tlsv1.3"])
    _assert_role("server_only", env["role"], k, v)
    omap[k] = _validate(k, v)


def opt_honor_order(k, v, omap, env):
    """``honor_cipher_order`` and ``honor_ecc_order``: server only."""
    if v is _UNBOUND:
        omap[k] = _role_default("server", False, env["role"])
        return
    _assert_role("server_only", env["role"], k, v)
    omap[k] = _validate(k, v)


# ---- sessions, tickets and early data --------------------------------------------------

def opt_reuse_session(k, v, omap, env):
    if v is _UNBOUND:
        omap[k] = _UNDEF if env["role"] == "client" else DEFAULT_REUSE_SESSION
        return
    _assert_dep(k, "versions", omap.get("versions"), _PRE13)
    omap[k] = _validate(k, v)


def opt_session_tickets(k, v, omap, env):
    if v is not _UNBOUND:
        _assert_dep(k, "versions", omap.get("versions"), ["tlsv1.3"])
    omap[k] = _validate(k, _RULES[k][0] if v is _UNBOUND else v, env["role"])


def opt_anti_replay(k, v, omap, env):
    if v is _UNBOUND:
        omap[k] = _validate(k, _RULES[k][0])
        return
    _assert_dep(k, "versions", omap.get("versions"), ["tlsv1.3"])
    st = omap["session_tickets"]
    _assert_dep(k, "session_tickets", [st.name if isinstance(st, Atom) else st], ["stateless"])
    omap[k] = _validate(k, v)


@_given_only
def opt_early_data(k, v, omap, env):
    role = env["role"]
    _assert_dep(k, "versions", omap.get("versions"), ["tlsv1.3"])
    st = omap["session_tickets"].name
    if role == "server":
        _assert_dep(k, "session_tickets", [st], ["stateful", "stateless"])
    else:
        _assert_dep(k, "session_tickets", [st], ["manual", "auto"])
        if _is_undef(omap["use_ticket"]) and st != "auto":
            raise SslOptionError((_ERROR, (_OPTIONS, A("dependency"), (A(k), A("use_ticket")))))
    omap[k] = _validate(k, v, role)


# ---- server name and next protocol ------------------------------------------------------

@_unbound_only
def opt_server_name_indication(k, v, omap, env):
    """The default is the connect's host, without trailing dots (clients only)."""
    host = env.get("host")
    if env["role"] == "client" and _is_list(host):
        chars = _as_list(host)
        while chars and chars[-1] == 0x2E:
            chars = chars[:-1]
        omap[k] = chars
    else:
        omap[k] = _UNDEF


@_given_only
def opt_sni_fun(k, v, omap, env):
    _validate(k, v)
    hosts = omap.get("sni_hosts", _UNDEF)
    if _is_undef(v) or hosts == []:
        omap[k] = v
    else:
        raise SslOptionError((_ERROR, (A("conflict_options"), [A("sni_fun"), A("sni_hosts")])))


def opt_next_protocol_selector(k, v, omap, env):
    """``client_preferred_next_protocols`` (kept as ``next_protocol_selector``)."""
    if v is _UNBOUND:
        omap[k] = _UNDEF
        return
    _assert_dep("client_preferred_next_protocols", "versions", omap.get("versions"), _PRE13)
    omap[k] = _validate("client_preferred_next_protocols", v)


# ---- others ----------------------------------------------------------------------------

@_unbound_only
def opt_log_level(k, v, omap, env):
    omap[k] = A("notice")


def opt_cb_info(k, v, omap, env):
    omap[k] = _validate(k, v)     # never missing: it has no ?RULES entry


_OPTION_RULES = {
    "versions": opt_versions, "ciphers": opt_ciphers,
    "eccs": opt_groups, "supported_groups": opt_groups,
    "signature_algs": opt_signature_algs, "signature_algs_cert": opt_signature_algs,
    "key_update_at": opt_tls13_only, "use_ticket": opt_tls13_only,
    "psk_identity": opt_pre13_only, "secure_renegotiate": opt_pre13_only,
    "reuse_sessions": opt_pre13_only, "srp_identity": opt_pre13_only,
    "user_lookup_fun": opt_pre13_only, "next_protocols_advertised": opt_pre13_only,
    "beast_mitigation": opt_mitigation, "padding_check": opt_mitigation,
    "verify": opt_verify, "verify_fun": opt_verify_fun, "cacertfile": opt_cacertfile,
    "keyfile": opt_keyfile, "certs_keys": opt_certs_keys,
    "certificate_authorities": opt_certificate_authorities,
    "client_renegotiation": opt_client_renegotiation, "fallback": opt_fallback,
    "cookie": opt_cookie, "honor_cipher_order": opt_honor_order, "honor_ecc_order": opt_honor_order,
    "reuse_session": opt_reuse_session, "session_tickets": opt_session_tickets,
    "anti_replay": opt_anti_replay, "early_data": opt_early_data,
    "server_name_indication": opt_server_name_indication, "sni_fun": opt_sni_fun,
    "next_protocol_selector": opt_next_protocol_selector,
    "log_level": opt_log_level, "cb_info": opt_cb_info,
}


def _ca_cert_default(verify: str, verify_fun, cacerts):
    if isinstance(cacerts, list) and cacerts:
        return _UNDEF
    if verify == "verify_none":
        return _UNDEF
    if isinstance(verify_fun, tuple) and len(verify_fun) == 2 and _is_fun(verify_fun[0]):
        return _UNDEF
    if _is_undef(verify_fun):
        return []
    raise ErlangException("error", A("function_clause"))


def _handle_verify_option(v, omap):
    fail = omap.get("fail_if_no_peer_cert")
    if _is(v, "verify_none") and fail is False:
        omap["verify"] = A("verify_none")
    elif _is(v, "verify_none") and fail is True:
        raise SslOptionError((_ERROR, (_OPTIONS, A("incompatible"), (A("verify"), A("verify_none")),
                                       (A("fail_if_no_peer_cert"), True))))
    elif _is(v, "verify_peer"):
        if _is(omap.get("verify"), "verify_none"):
            omap["verify_fun"] = _UNDEF
        omap["verify"] = A("verify_peer")
    else:
        raise _opt_error("verify", v)


