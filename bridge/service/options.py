"""ssl option lists, validated the way OTP 25 (ssl 10.8.7) validates them.

Pure functions, no I/O.  Input is the option list exactly as given to
``ssl:connect/3,4``, ``ssl:listen/2``, ``ssl:handshake/2,3``, ``ssl:setopts/2`` and
``ssl:getopts/2``, as decoded by ``bridge.etf``.  Either a result comes back or one
of two exceptions is raised:

* ``SslOptionError(term)`` — ``term`` is exactly what the OTP call *returns*, e.g.
  ``{error, {options, {verify, foo}}}``, ``{option_not_a_key_value_tuple, foo}``
  (not wrapped in ``error``), ``{error, nooptions}``.
* ``ErlangException(cls, reason)`` — where OTP does not return but raises in the
  caller (``ssl:connect(H, P, foo)`` → ``error:function_clause``;
  ``{ciphers, foo}`` → ``error:function_clause``; ``ssl:listen`` with an unknown
  socket option → ``exit:badarg``).  The shim re-raises it with ``erlang:raise``.

How OTP orders its checks (and so which error wins) is reproduced, not guessed:
``proplists:expand`` of ``binary``/``list``; the key/value format check; the split
into ssl and socket options; the multi-pass dependency resolution of
``ssl:process_options/3`` over ``maps:keys(?RULES)`` (whose hash order is copied in
``_RULES_KEY_ORDER``); then the emulated socket options (mode, header, active,
packet, packet_size); then, for ``connect``, ``gen_tcp``'s own check giving
``{error, {options, {socket_options, [...]}}}``.

Options the bridge does not implement are validated as OTP validates them and
then refused, naming the option (a known, documented difference from OTP)::

    {error, {options, {not_supported_by_pyssl, {Name, Value}}}}

This applies to options needing a callback or another transport (``verify_fun``,
``user_lookup_fun``, ``partial_chain``, ``sni_fun``, ``customize_hostname_check``
with entries, ``cb_info`` other than gen_tcp's, ``password`` as a fun), to PSK/SRP
(``psk_identity``, ``srp_identity``), NPN (``next_protocols_advertised``,
``client_preferred_next_protocols``), explicit session reuse (``reuse_session``),
TLS 1.3 tickets/early data (``session_tickets`` other than ``disabled``,
``use_ticket``, ``early_data``, ``anti_replay``), ``handshake`` = ``hello``,
``protocol`` = ``dtls``, ``sni_hosts`` with entries, CRL checks, OCSP stapling,
``certs_keys``, ``key`` given as an engine map, ``erl_dist`` = true.
The check runs after OTP's validation succeeded, so an invalid value still gets
OTP's own error.

Other known differences: ``{versions, []}`` makes OTP 25 hang; here it is
``{error, {options, {versions, []}}}``.  ``cacertfile`` is kept as given (OTP makes
it absolute on the calling node and resolves a symlink; the caller's node does the
reading anyway).  The textual cipher parser knows the names OTP prints (OpenSSL
style and RFC) and the EDH-/DHE- and RSA- aliases; odd spellings OTP's grammar
would still accept are rejected.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from bridge.etf.types import Atom, ImproperList, Opaque
from bridge.service import ciphers as _ciphers
from bridge.service.terms import PATH_MAX, LongPath, charlist_str, heavy

__all__ = [
    "SslOptionError", "ErlangException", "ParsedOptions",
    "parse_connect_options", "parse_listen_options", "parse_handshake_options",
    "parse_setopts", "parse_getopts", "build_tls_config",
    "EMULATED_OPTIONS", "SOCKET_OPTIONS", "INET_OPTIONS",
]

A = Atom
_ERROR = A("error")
_OPTIONS = A("options")
_UNDEF = A("undefined")
_UNBOUND = object()          # OTP's 'unbound' marker of add_missing_options


class SslOptionError(Exception):
    """The option list is refused; ``term`` is what the OTP call returns."""

    def __init__(self, term):
        super().__init__(term)
        self.term = term


class ErlangException(Exception):
    """OTP raises in the caller instead of returning (``cls`` is error|exit|throw)."""

    def __init__(self, cls: str, reason):
        super().__init__(cls, reason)
        self.cls = A(cls)
        self.reason = reason


class _DefaultFun:
    """Stands for a fun OTP puts in as a default (verify_fun, partial_chain)."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"<default {self.name}>"


DEFAULT_VERIFY_FUN = _DefaultFun("verify_none verify_fun")
DEFAULT_PARTIAL_CHAIN = _DefaultFun("partial_chain")
DEFAULT_REUSE_SESSION = _DefaultFun("server reuse_session")


def _opt_error(opt, value):
    return SslOptionError((_ERROR, (_OPTIONS, (A(opt) if isinstance(opt, str) else opt, value))))


# --- term predicates --------------------------------------------------------------

def _is_undef(v) -> bool:
    return v is None or v is _UNDEF


def _is_atom(v) -> bool:
    return isinstance(v, (Atom, bool)) or v is None


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_bool(v) -> bool:
    return isinstance(v, bool)


def _is_list(v) -> bool:
    return isinstance(v, (list, str))


def _is_binary(v) -> bool:
    return isinstance(v, (bytes, bytearray))


def _is(v, *names) -> bool:
    return isinstance(v, Atom) and v.name in names


def _fun_arity(v) -> Optional[int]:
    if isinstance(v, _DefaultFun):
        return -1
    if isinstance(v, Opaque) and v.raw:
        if v.raw[0] == 112 and len(v.raw) > 5:      # NEW_FUN_EXT: tag, size:32, arity:8
            return v.raw[5]
        if v.raw[0] == 113 and len(v.raw) >= 2 and v.raw[-2] == 97:   # EXPORT_EXT
            return v.raw[-1]
        return -1
    return None


fun_arity = _fun_arity       # for the service: the arity of a caller's fun term


def _is_fun(v, arity: Optional[int] = None) -> bool:
    a = _fun_arity(v)
    if a is None:
        return False
    return arity is None or a == arity or a == -1


def _as_list(v) -> list:
    return [ord(c) for c in v] if isinstance(v, str) else v


def _is_charlist(v) -> bool:
    return isinstance(v, str) or (isinstance(v, list) and charlist_str(v) is not None)


def _chars(v) -> str:
    return v if isinstance(v, str) else charlist_str(v)


def _erl_string(v) -> Optional[str]:
    """An Erlang string (charlist or binary) as str, or None."""
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).decode("utf-8", "surrogateescape")
    if isinstance(v, list):
        return charlist_str(v)
    return None


def _key(v):
    """Key of a proplist entry as proplists sees it (atom or first tuple element)."""
    if isinstance(v, tuple) and len(v) >= 1:
        return v[0]
    if isinstance(v, (Atom, bool)) or v is None:
        return v
    return _NOKEY


_NOKEY = object()


def _akey(k):
    """Normalise an Erlang atom key to its name (str) or None."""
    if isinstance(k, Atom):
        return k.name
    if k is True:
        return "true"
    if k is False:
        return "false"
    if k is None:
        return "undefined"
    return None


# --- OTP's ?RULES -----------------------------------------------------------------

_V = ["versions"]
_RULES: dict[str, tuple[Any, list[str]]] = {
    "alpn_advertised_protocols": (_UNDEF, _V), "alpn_preferred_protocols": (_UNDEF, _V),
    "anti_replay": (_UNDEF, ["versions", "session_tickets"]),
    "beast_mitigation": (A("one_n_minus_one"), _V),
    "cacertfile": (_UNDEF, ["versions", "verify_fun", "cacerts"]),
    "cacerts": (_UNDEF, _V), "cert": (_UNDEF, _V), "certs_keys": (_UNDEF, _V),
    "certfile": (b"", _V), "certificate_authorities": (False, _V), "ciphers": ([], _V),
    "client_renegotiation": (_UNDEF, _V), "cookie": (True, _V),
    "crl_cache": ((A("ssl_crl_cache"), (A("internal"), [])), _V), "crl_check": (False, _V),
    "customize_hostname_check": ([], _V), "depth": (10, _V), "dh": (_UNDEF, _V),
    "dhfile": (_UNDEF, _V),
    "early_data": (_UNDEF, ["versions", "session_tickets", "use_ticket"]),
    "eccs": (_UNDEF, _V), "erl_dist": (False, _V), "fail_if_no_peer_cert": (False, _V),
    "fallback": (False, _V), "handshake": (A("full"), _V), "hibernate_after": (A("infinity"), _V),
    "honor_cipher_order": (False, _V), "honor_ecc_order": (_UNDEF, _V),
    "keep_secrets": (False, _V), "key": (_UNDEF, _V), "keyfile": (_UNDEF, ["versions", "certfile"]),
    "key_update_at": (388736063997, _V), "log_level": (A("notice"), _V),
    "max_handshake_size": (256 * 1024, _V), "middlebox_comp_mode": (True, _V),
    "max_fragment_length": (_UNDEF, _V), "next_protocol_selector": (_UNDEF, _V),
    "next_protocols_advertised": (_UNDEF, _V), "ocsp_stapling": (False, _V),
    "ocsp_responder_certs": ([], ["versions", "ocsp_stapling"]),
    "ocsp_nonce": (True, ["versions", "ocsp_stapling"]), "padding_check": (True, _V),
    "partial_chain": (DEFAULT_PARTIAL_CHAIN, _V), "password": ([], _V), "protocol": (A("tls"), []),
    "psk_identity": (_UNDEF, _V), "receiver_spawn_opts": ([], _V),
    "renegotiate_at": (268435456, _V), "reuse_session": (_UNDEF, _V),
    "reuse_sessions": (True, _V), "secure_renegotiate": (True, _V),
    "sender_spawn_opts": ([], _V), "server_name_indication": (_UNDEF, _V),
    "session_tickets": (A("disabled"), _V), "signature_algs": (_UNDEF, _V),
    "signature_algs_cert": (_UNDEF, _V), "sni_fun": (_UNDEF, ["versions", "sni_hosts"]),
    "sni_hosts": ([], _V), "srp_identity": (_UNDEF, _V), "supported_groups": (_UNDEF, _V),
    "use_ticket": (_UNDEF, _V), "user_lookup_fun": (_UNDEF, _V),
    "verify": (A("verify_none"), ["versions", "fail_if_no_peer_cert", "partial_chain"]),
    "verify_fun": (DEFAULT_VERIFY_FUN, ["versions", "verify"]),
    "versions": ([], ["protocol"]),
}

# maps:keys(?RULES) as ssl.erl saw it on one OTP 25 (ssl 10.8.7) node, observed by
# tracing ssl:check_dependencies/3 in a real ssl:connect.  This order is NOT the same
# on every node: the hash order of a large map of atoms depends on the node's atom
# table, so two VMs may iterate ?RULES differently.  It only decides which error
# wins when several options are invalid at once; callers that know the order of the
# node they answer for can pass ``key_order=``.
_RULES_KEY_ORDER = (
    "next_protocols_advertised crl_cache customize_hostname_check next_protocol_selector "
    "reuse_session cacerts cacertfile secure_renegotiate alpn_preferred_protocols "
    "certificate_authorities handshake alpn_advertised_protocols fallback psk_identity "
    "ocsp_responder_certs srp_identity key_update_at erl_dist honor_ecc_order anti_replay "
    "receiver_spawn_opts use_ticket sni_fun keyfile certfile key eccs certs_keys "
    "server_name_indication user_lookup_fun hibernate_after versions keep_secrets "
    "sender_spawn_opts signature_algs renegotiate_at padding_check depth supported_groups "
    "dh protocol dhfile max_fragment_length middlebox_comp_mode log_level ocsp_nonce "
    "crl_check ocsp_stapling fail_if_no_peer_cert signature_algs_cert early_data "
    "max_handshake_size session_tickets sni_hosts verify_fun partial_chain cookie "
    "client_renegotiation ciphers password verify reuse_sessions beast_mitigation cert "
    "honor_cipher_order").split()
assert set(_RULES_KEY_ORDER) == set(_RULES)

_SSL_KEYS = frozenset(_RULES) | {"ssl_imp", "cb_info", "client_preferred_next_protocols",
                                  "log_alert"}

_VERSION_RANK = {"tlsv1.3": 4, "tlsv1.2": 3, "tlsv1.1": 2, "tlsv1": 1}
_PRE13 = ["tlsv1", "tlsv1.1", "tlsv1.2"]

EMULATED_OPTIONS = ("mode", "packet", "active", "header", "packet_size")
# Emulated by the bridge's socket runtime though OTP hands them to gen_tcp.
SOCKET_OPTIONS = ("deliver", "line_delimiter", "exit_on_close", "high_watermark",
                  "low_watermark", "high_msgq_watermark", "low_msgq_watermark",
                  "send_timeout", "send_timeout_close", "delay_send", "show_econnreset")
INET_OPTIONS = ("debug", "tos", "tclass", "priority", "reuseaddr", "reuseport",
                "reuseport_lb", "keepalive", "linger", "nodelay", "sndbuf", "recbuf",
                "recvtos", "recvtclass", "ttl", "recvttl", "buffer", "raw",
                "bind_to_device", "ip", "ifaddr", "port", "fd", "inet", "inet6", "local",
                "backlog", "ipv6_v6only", "netns", "tcp_module", "dontroute")


# --- the parse result ------------------------------------------------------------

@dataclass
class ParsedOptions:
    role: str                                   # "client" | "server"
    socket: dict = field(default_factory=dict)  # emulated: mode, packet, active, ...
    inet: dict = field(default_factory=dict)    # OS socket options (name → value)
    ssl: dict = field(default_factory=dict)     # validated ssl options (name → value)
    files: list = field(default_factory=list)   # [(option_name, path_str)] to read
    given: list = field(default_factory=list)   # ssl option names the caller gave
    inet_list: list = field(default_factory=list)  # gen_tcp options as OTP passes them

    @property
    def versions(self) -> list[str]:
        return list(self.ssl.get("versions", []))


# --- expansion and format check --------------------------------------------------

def _proplists_expand(opts: list) -> list:
    """``proplists:expand([{binary, [{mode, binary}]}, {list, [{mode, list}]}], Opts)``."""
    ps = list(opts)
    for name, expansion in (("binary", (A("mode"), A("binary"))), ("list", (A("mode"), A("list")))):
        key = A(name)
        out = []
        for i, p in enumerate(ps):
            if isinstance(p, _Expanded):
                out.append(p)
                continue
            k = _key(p)
            if k is key:
                prop = key if (p is key or (isinstance(p, tuple) and len(p) == 2 and p[1] is True)) else p
                if prop is key:
                    out.append(_Expanded([expansion]))
                    out.extend(q for q in ps[i + 1:] if isinstance(q, _Expanded) or _key(q) is not key)
                else:
                    out.extend(ps[i:])
                break
            out.append(p)
        ps = out
    flat = []
    for p in ps:                      # proplists:flatten: one level of lists
        if isinstance(p, _Expanded):
            flat.extend(p.items)
        elif isinstance(p, list):
            flat.extend(p)
        else:
            flat.append(p)
    return flat


class _Expanded:
    __slots__ = ("items",)

    def __init__(self, items):
        self.items = items


def _handle_option_format(opts: list) -> list:
    out: list = []
    for i, opt in enumerate(opts):
        if (isinstance(opt, tuple) and len(opt) == 2 and opt[0] is A("log_alert")
                and _is_bool(opt[1])):
            rest = opts[i + 1:]
            if not any(isinstance(o, tuple) and len(o) >= 1 and o[0] is A("log_level")
                       or o is A("log_level") for o in out + rest):
                out.append((A("log_level"), A("notice") if opt[1] else A("none")))
            continue
        if isinstance(opt, tuple) and len(opt) == 2 and _is_atom(opt[0]):
            out.append(opt)
        elif isinstance(opt, tuple) and len(opt) == 4 and opt[0] is A("raw"):
            out.append(opt)
        elif opt is A("inet") or opt is A("inet6"):
            out.append(opt)
        else:
            raise SslOptionError((A("option_not_a_key_value_tuple"), opt))
    return out


def _expand_options(opts0):
    if not isinstance(opts0, list):
        raise ErlangException("error", A("function_clause"))
    opts = _handle_option_format(_proplists_expand(opts0))
    opts = [o for o in opts if _akey(_key(o)) != "ssl_imp"]
    ssl_opts = [o for o in opts if _akey(_key(o)) in _SSL_KEYS]
    sock_opts = [o for o in opts if _akey(_key(o)) not in _SSL_KEYS]
    return ssl_opts, sock_opts


# --- process_options --------------------------------------------------------------

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
    role = env["role"]
    unbound = v is _UNBOUND
    vs = omap.get("versions")
    if k == "anti_replay":
        if unbound:
            omap[k] = _validate(k, _RULES[k][0])
            return
        _assert_dep(k, "versions", vs, ["tlsv1.3"])
        st = omap["session_tickets"]
        _assert_dep(k, "session_tickets", [st.name if isinstance(st, Atom) else st], ["stateless"])
        omap[k] = _validate(k, v)
    elif k in ("beast_mitigation", "padding_check") and not unbound:
        _assert_dep(k, "versions", vs, ["tlsv1"])
        omap[k] = _validate(k, v)
    elif k == "cacertfile" and unbound:
        verify = omap.get("verify")
        if _is(verify, "verify_none") or verify == 0:
            omap[k] = _validate(k, _ca_cert_default("verify_none", omap["verify_fun"], omap["cacerts"]))
        elif _is(verify, "verify_peer") or verify in (1, 2):
            omap[k] = _validate(k, _ca_cert_default("verify_peer", omap["verify_fun"], omap["cacerts"]))
        else:
            omap[k] = _validate(k, v)
    elif k == "ciphers":
        omap[k] = _handle_cipher_option([] if unbound else v, vs)
    elif k == "client_renegotiation":
        if unbound:
            omap[k] = _role_default("server", True, role)
            return
        _assert_role("server_only", role, k, v)
        _assert_dep(k, "versions", vs, _PRE13)
        omap[k] = _validate(k, v)
    elif k == "early_data" and not unbound:
        _assert_dep(k, "versions", vs, ["tlsv1.3"])
        st = omap["session_tickets"].name
        if role == "server":
            _assert_dep(k, "session_tickets", [st], ["stateful", "stateless"])
        else:
            _assert_dep(k, "session_tickets", [st], ["manual", "auto"])
            if _is_undef(omap["use_ticket"]) and st != "auto":
                raise SslOptionError((_ERROR, (_OPTIONS, A("dependency"), (A(k), A("use_ticket")))))
        omap[k] = _validate(k, v, role)
    elif k in ("eccs", "supported_groups"):
        if not vs:
            omap[k] = _validate(k, _UNDEF if unbound else v)
            return
        if unbound:
            omap[k] = _UNDEF
            return
        if k == "supported_groups":
            _assert_dep(k, "versions", vs, ["tlsv1.3"])
        if not isinstance(v, list):
            raise ErlangException("error", A("function_clause"))
        if not all(isinstance(x, Atom) for x in v):
            raise _opt_error(k, v)
        omap[k] = v
    elif k == "fallback":
        if unbound:
            omap[k] = _role_default("client", False, role)
            return
        _assert_role("client_only", role, k, v)
        omap[k] = _validate(k, v)
    elif k == "certificate_authorities":
        if unbound:
            omap[k] = role == "server"
            return
        _assert_dep(k, "versions", vs, ["tlsv1.3"])
        omap[k] = _validate(k, v)
    elif k == "cookie":
        if unbound:
            omap[k] = _role_default("server", True, role)
            return
        _assert_dep(k, "versions", vs, ["tlsv1.3"])
        _assert_role("server_only", role, k, v)
        omap[k] = _validate(k, v)
    elif k in ("honor_cipher_order", "honor_ecc_order"):
        if unbound:
            omap[k] = _role_default("server", False, role)
            return
        _assert_role("server_only", role, k, v)
        omap[k] = _validate(k, v)
    elif k == "keyfile" and unbound:
        omap[k] = _validate(k, omap["certfile"])
    elif k in ("key_update_at", "use_ticket") and not unbound:
        _assert_dep(k, "versions", vs, ["tlsv1.3"])
        omap[k] = _validate(k, v)
    elif k == "log_level" and unbound:
        omap[k] = A("notice")
    elif k == "next_protocols_advertised" and not unbound:
        _assert_dep(k, "versions", vs, _PRE13)
        omap[k] = _validate(k, v)
    elif k == "next_protocol_selector":
        if unbound:
            omap[k] = _UNDEF
            return
        _assert_dep("client_preferred_next_protocols", "versions", vs, _PRE13)
        omap[k] = _validate("client_preferred_next_protocols", v)
    elif k == "certs_keys" and unbound:
        return
    elif k in ("psk_identity", "secure_renegotiate", "reuse_sessions", "srp_identity",
               "user_lookup_fun") and not unbound:
        _assert_dep(k, "versions", vs, _PRE13)
        omap[k] = _validate(k, v)
    elif k == "reuse_session":
        if unbound:
            omap[k] = _UNDEF if role == "client" else DEFAULT_REUSE_SESSION
            return
        _assert_dep(k, "versions", vs, _PRE13)
        omap[k] = _validate(k, v)
    elif k == "server_name_indication" and unbound:
        host = env.get("host")
        if role == "client" and _is_list(host):
            chars = _as_list(host)
            while chars and chars[-1] == 0x2E:
                chars = chars[:-1]
            omap[k] = chars
        else:
            omap[k] = _UNDEF
    elif k == "session_tickets":
        if not unbound:
            _assert_dep(k, "versions", vs, ["tlsv1.3"])
        omap[k] = _validate(k, _RULES[k][0] if unbound else v, role)
    elif k in ("signature_algs", "signature_algs_cert"):
        if unbound or not vs:
            omap[k] = _UNDEF if unbound else _validate(k, v)
            return
        if isinstance(v, list):
            if not v:
                raise SslOptionError((_ERROR, (_OPTIONS, A("no_supported_signature_schemes"), (A(k), v))))
            omap[k] = v
        else:
            omap[k] = _UNDEF
    elif k == "sni_fun" and not unbound:
        _validate(k, v)
        hosts = omap.get("sni_hosts", _UNDEF)
        if _is_undef(v) or hosts == []:
            omap[k] = v
        else:
            raise SslOptionError((_ERROR, (A("conflict_options"), [A("sni_fun"), A("sni_hosts")])))
    elif k == "verify":
        if unbound:
            omap["warn_verify_none"] = True
            _handle_verify_option(A("verify_none"), omap)
        else:
            _handle_verify_option(v, omap)
    elif k == "verify_fun" and unbound:
        verify = omap.get("verify")
        if _is(verify, "verify_none"):
            omap[k] = DEFAULT_VERIFY_FUN
        elif _is(verify, "verify_peer"):
            omap[k] = _UNDEF
        else:
            omap[k] = _validate(k, v)
    elif k == "versions":
        if unbound:
            omap[k] = ["tlsv1.3", "tlsv1.2"]
            return
        if v == []:
            raise _opt_error("versions", [])       # OTP 25 hangs here
        _validate_versions(v)
        names = [x.name for x in v]
        omap[k] = sorted(names, key=lambda n: -_VERSION_RANK[n])
    elif k == "cb_info":
        omap[k] = _validate(k, v)
    else:
        omap[k] = _validate(k, _RULES[k][0] if unbound else v)


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


def _validate_versions(vsns):
    if not isinstance(vsns, list):
        raise ErlangException("error", A("function_clause"))
    for v in vsns:
        if not _is(v, "tlsv1.3", "tlsv1.2", "tlsv1.1", "tlsv1"):
            if _is(v, "dtlsv1", "dtlsv1.2") and v is vsns[0]:
                continue
            raise SslOptionError((_ERROR, (_OPTIONS, (v, (A("versions"), vsns)))))
    if _is(vsns[0], "dtlsv1", "dtlsv1.2"):
        raise SslOptionError((_ERROR, (_OPTIONS, (A("not_supported_by_pyssl"), (A("versions"), vsns)))))
    names = [x.name for x in vsns]
    if "tlsv1.3" in names and len(names) >= 2 and "tlsv1.2" not in names:
        raise SslOptionError((_ERROR, (_OPTIONS, A("missing_version"),
                                       (A("tlsv1.2"), (A("versions"), vsns)))))


def _validate(opt: str, value, role: Optional[str] = None):
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

_VALIDATORS = {
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


# --- ciphers ------------------------------------------------------------------

def _handle_cipher_option(value, versions: list[str]) -> list[int]:
    if not _is_list(value):
        raise ErlangException("error", A("function_clause"))
    try:
        return _binary_cipher_suites(versions, _as_list(value))
    except _CipherError:
        raise _opt_error("ciphers", value) from None


class _CipherError(Exception):
    pass


def _binary_cipher_suites(versions: list[str], cs: list) -> list[int]:
    if not cs:
        return _ciphers.default_binary_suites(versions)
    head = cs[0]
    if isinstance(head, dict):
        codes = []
        for c in cs:
            code = _ciphers.suite_map_to_code(c) if isinstance(c, dict) else None
            if code is None:
                raise _CipherError
            codes.append(code)
        return _filter_codes(versions, codes)
    if isinstance(head, tuple):
        codes = []
        for c in cs:
            try:
                m = _ciphers.tuple_to_map(c)
            except ValueError:
                raise _CipherError from None
            code = _ciphers.suite_map_to_code(m)
            if code is None:
                raise _CipherError
            codes.append(code)
        return _filter_codes(versions, codes)
    if _is_binary(head):
        codes = [int.from_bytes(c, "big") if _is_binary(c) and len(c) == 2 else None for c in cs]
        return _filter_codes(versions, codes)
    if _is_list(head):
        names = []
        for c in cs:
            if not _is_charlist(c):
                raise _CipherError
            names.append(_chars(c))
        return _filter_codes(versions, _names_to_codes(names))
    if not _is_charlist(cs):
        raise _CipherError
    names = [n for n in _chars(cs).split(":") if n]
    if not names:
        return _ciphers.default_binary_suites(versions)
    return _filter_codes(versions, _names_to_codes(names))


def _names_to_codes(names):
    codes = []
    for n in names:
        code = _ciphers.openssl_str_to_code(n)
        if code is None:
            raise _CipherError
        codes.append(code)
    return codes


def _filter_codes(versions, codes):
    all_ = set(_ciphers.all_suites(versions))
    kept = [c for c in codes if c is not None and c in all_]
    return kept if kept else _ciphers.default_binary_suites(versions)


# --- emulated and gen_tcp options ------------------------------------------------

def _emulated_options(sock_opts: list, internal: bool):
    """tls_socket:emulated_options/1: returns (inet_list, emulated dict)."""
    emulated = {"packet_size": 0, "packet": 0, "header": 0, "active": True, "mode": A("list")}
    inet_rev: list = []
    for opt in sock_opts:
        name = _akey(_key(opt)) if isinstance(opt, tuple) and len(opt) == 2 else None
        if name in EMULATED_OPTIONS:
            _validate_inet_option(name, opt[1])
            emulated[name] = opt[1]
        else:
            inet_rev.insert(0, opt)
    internal_vals = [(A("packet_size"), 0), (A("packet"), 0), (A("header"), 0), (A("active"), False),
                     (A("mode"), A("binary"))]
    return inet_rev + internal_vals, emulated


def _validate_inet_option(name, v):
    if name == "mode" and not _is(v, "list", "binary"):
        raise _opt_error(name, v)
    if name == "packet" and not (_is_atom(v) or _is_int(v)):
        raise _opt_error(name, v)
    if name in ("packet_size", "header") and not _is_int(v):
        raise _opt_error(name, v)
    if name == "active":
        # Erlang term order: numbers < atoms, so any atom passes ">= -32768" and fails "=< 32767"
        if _is_int(v) and -32768 <= v <= 32767:
            return
        if isinstance(v, float) and -32768 <= v <= 32767:
            return
        if not (v is True or v is False or _is(v, "once")):
            raise _opt_error(name, v)


def _is_ip(v) -> bool:
    return (isinstance(v, tuple) and len(v) in (4, 8)
            and all(_is_int(x) and 0 <= x <= (255 if len(v) == 4 else 65535) for x in v))


_PACKETS = ("raw", "line", "asn1", "cdr", "sunrm", "fcgi", "tpkt", "http", "httph", "http_bin",
            "httph_bin")

_INET_CHECKS = {
    "debug": _is_bool, "reuseaddr": _is_bool, "reuseport": _is_bool, "reuseport_lb": _is_bool,
    "keepalive": _is_bool, "nodelay": _is_bool, "recvtos": _is_bool, "recvtclass": _is_bool,
    "recvttl": _is_bool, "exit_on_close": _is_bool, "send_timeout_close": _is_bool,
    "delay_send": _is_bool, "show_econnreset": _is_bool, "dontroute": _is_bool,
    "ipv6_v6only": _is_bool,
    "tos": _is_int, "tclass": _is_int, "priority": _is_int, "ttl": _is_int,
    "sndbuf": lambda v: _is_int(v) and v >= 0, "recbuf": lambda v: _is_int(v) and v >= 0,
    "buffer": lambda v: _is_int(v) and v >= 0,
    "high_watermark": lambda v: _is_int(v) and v >= 0, "low_watermark": lambda v: _is_int(v) and v >= 0,
    "high_msgq_watermark": lambda v: _is_int(v) and v > 0,
    "low_msgq_watermark": lambda v: _is_int(v) and v > 0,
    "send_timeout": lambda v: (_is_int(v) and v >= 0) or _is(v, "infinity"),
    "linger": lambda v: isinstance(v, tuple) and len(v) == 2 and _is_bool(v[0]) and _is_int(v[1]) and v[1] >= 0,
    "deliver": lambda v: _is(v, "port", "term"),
    "line_delimiter": lambda v: _is_int(v) and 0 <= v <= 255,
    "bind_to_device": _is_binary,
    "backlog": lambda v: _is_int(v) and v >= 0,
}


def _inet_ok(opt, role: str) -> bool:
    if opt is A("inet") or opt is A("inet6") or opt is A("local"):
        return True
    if isinstance(opt, tuple) and len(opt) == 4 and opt[0] is A("raw"):
        return all(_is_int(x) for x in opt[1:3]) and (_is_binary(opt[3]) or _is_int(opt[3]))
    if not (isinstance(opt, tuple) and len(opt) == 2):
        return False
    name = _akey(opt[0])
    v = opt[1]
    if name in ("packet_size", "header", "mode", "packet", "active"):
        return True           # internal values OTP adds itself
    if name in ("ip", "ifaddr", "port", "fd", "tcp_module", "netns"):
        return True           # accepted by inet's option parser as they are
    if name == "backlog" and role == "client":
        return False
    check = _INET_CHECKS.get(name)
    return bool(check and check(v))


def _split_inet(inet_list: list, user_sock_opts: list):
    inet: dict = {}
    sock: dict = {}
    for opt in reversed(inet_list[:len(inet_list) - 5]):
        if opt is A("inet") or opt is A("inet6") or opt is A("local"):
            inet["family"] = opt
            continue
        if isinstance(opt, tuple) and len(opt) == 4:
            inet.setdefault("raw", []).append(opt[1:])
            continue
        name = _akey(opt[0])
        if name == "raw":
            continue            # {raw, X} is no inet option (_inet_ok refuses it)
        if name in SOCKET_OPTIONS:
            sock[name] = opt[1]
        else:
            inet[name] = opt[1]
    return inet, sock


# --- unsupported options -------------------------------------------------------

# What a sni_hosts entry may set: the bridge switches the certificate and key when
# the client names the host (OpenSSL's servername callback); other per-host options
# are refused by name.
_SNI_HOST_OPTIONS = frozenset(("certfile", "keyfile", "cert", "key", "password"))


def _sni_hosts_unsupported(v) -> bool:
    if not isinstance(v, list):
        return False
    return any(not (isinstance(o, tuple) and len(o) == 2 and isinstance(o[0], Atom)
                    and o[0].name in _SNI_HOST_OPTIONS)
               for _host, sub in v for o in sub)


def _unsupported(omap: dict, given: set, role: str):
    def refuse(name, value):
        raise SslOptionError((_ERROR, (_OPTIONS, (A("not_supported_by_pyssl"), (A(name), value)))))

    for name in ("srp_identity", "reuse_session",
                 "next_protocols_advertised", "partial_chain", "use_ticket",
                 "anti_replay", "certs_keys"):
        if name in given and not _is_undef(omap.get(name)):
            refuse(name, _original(omap, name))
    if "client_preferred_next_protocols" in given and not _is_undef(omap.get("next_protocol_selector")):
        refuse("client_preferred_next_protocols", omap["next_protocol_selector"])
    cb = omap.get("cb_info")
    if cb is not None and not (cb[:4] == (A("gen_tcp"), A("tcp"), A("tcp_closed"), A("tcp_error"))):
        refuse("cb_info", cb)
    checks = [
        ("password", lambda v: _is_fun(v)),
        ("customize_hostname_check", lambda v: v != []),
        ("sni_hosts", _sni_hosts_unsupported),
        ("crl_check", lambda v: v is not False),
        ("ocsp_stapling", lambda v: v is True),
        ("session_tickets", lambda v: not _is(v, "disabled")),
        ("early_data", lambda v: not _is_undef(v)),
        ("handshake", lambda v: _is(v, "hello")),
        ("protocol", lambda v: _is(v, "dtls")),
        ("erl_dist", lambda v: v is True),
        ("key", lambda v: isinstance(v, dict)),
    ]
    for name, bad in checks:
        if name in given and bad(omap.get(name)):
            refuse(name, omap.get(name))


def _original(omap, name):
    return omap.get("_given_values", {}).get(name, omap.get(name))


# --- public parse functions -----------------------------------------------------

def _parse(opts, role: str, host=None, key_order=None) -> ParsedOptions:
    ssl_opts, sock_opts = _expand_options(opts)
    given_values = {}
    for o in ssl_opts:
        given_values[_akey(o[0])] = o[1]
    items = _add_missing(ssl_opts, key_order)
    omap = _process_options(items, {}, {"role": role, "host": host})
    omap.pop("warn_verify_none", None)
    inet_list, emulated = _emulated_options(sock_opts, True)
    omap["_given_values"] = given_values
    _unsupported(omap, set(given_values), role)
    omap.pop("_given_values", None)
    parsed = ParsedOptions(role=role, ssl=omap, given=list(given_values))
    parsed.socket = emulated
    parsed.inet_list = inet_list
    parsed.inet, extra_sock = _split_inet(inet_list, sock_opts)
    parsed.socket.update(extra_sock)
    parsed.files = _files(omap)
    return parsed


def _files(omap: dict) -> list:
    out = []
    for name in ("certfile", "keyfile", "cacertfile", "dhfile"):
        v = omap.get(name)
        if isinstance(v, (bytes, bytearray)) and v:           # validated paths are binaries
            out.append((name, _erl_string(v)))
        elif v.__class__ is LongPath:
            out.append((name, v))
    # the certificates of sni_hosts entries are read with the listen socket's own
    for _host, sub in omap.get("sni_hosts") or []:
        for o in sub:
            if isinstance(o, tuple) and len(o) == 2 and o[0] in (A("certfile"), A("keyfile")):
                path = _erl_string(o[1])
                if path:
                    out.append((o[0].name, path))
    return out


# --- memo of parse results ----------------------------------------------------------
#
# A client connects again and again with the same option list: the parse is a pure
# function of (options, host, key order), so its result is kept by a hashable form of
# those terms.  Each caller gets its own copy of the containers (sockets update their
# ``socket``/``inet`` dicts on setopts).  Only successful parses are kept; errors are
# recomputed (rare, and their exceptions carry fresh terms).

_MEMO_MAX = 256
_parse_memo: dict = {}


class _Unhashable(Exception):
    pass


def _frozen(t):
    """A hashable key for an option term, keeping apart what Python equates but Erlang
    does not (``true``/``1``, ``1.0``/``1``, a string and a list). Raises _Unhashable."""
    tp = type(t)
    if tp is Atom or tp is int or t is None:
        return t
    if tp is list:
        return ("L",) + tuple(_frozen(x) for x in t)
    if tp is tuple:
        return ("T",) + tuple(_frozen(x) for x in t)
    if tp is bool:
        return ("B", t)
    if tp is bytes or tp is bytearray:
        return ("Y", bytes(t))
    if tp is float:
        return ("F", t)
    if tp is str:
        return ("S", t)
    if tp is Opaque:
        return ("O", t)
    if tp is ImproperList:
        return ("I", _frozen(t.elements), _frozen(t.tail))
    try:
        hash(t)
    except TypeError:
        raise _Unhashable from None
    if isinstance(t, (list, tuple, dict, bool, int, float, str, bytes)):
        raise _Unhashable            # a subclass: do not guess what it means
    return ("X", tp.__name__, t)


def _copy_parsed(p: ParsedOptions) -> ParsedOptions:
    return ParsedOptions(role=p.role, socket=dict(p.socket), inet=dict(p.inet), ssl=dict(p.ssl),
                         files=list(p.files), given=list(p.given), inet_list=list(p.inet_list))


def _memo_key(kind, opts, host, key_order):
    if heavy(opts):
        return None     # not worth keeping, and hashing it would hold the GIL for long
    try:
        return (kind, _frozen(opts), _frozen(host), _frozen(key_order))
    except (_Unhashable, RecursionError):
        return None


def _memo_put(key, parsed: ParsedOptions) -> None:
    if len(_parse_memo) >= _MEMO_MAX:
        _parse_memo.clear()
    _parse_memo[key] = _copy_parsed(parsed)


def parse_connect_options(opts, host=None, key_order=None) -> ParsedOptions:
    """``ssl:connect(Host, Port, Opts)``'s validation; ``host`` is the Host argument.

    Raises SslOptionError with ``{error, {options, {socket_options, L}}}`` when gen_tcp
    would refuse a socket option (``L`` as OTP reports it).  Results are memoized (see
    ``_frozen``); each call returns its own copy.
    """
    key = _memo_key("connect", opts, host, key_order)
    hit = _parse_memo.get(key) if key is not None else None
    if hit is not None:
        return _copy_parsed(hit)
    parsed = _parse_connect(opts, host, key_order)
    if key is not None:
        _memo_put(key, parsed)
    return parsed


def parse_connect_options_shared(opts, host=None) -> ParsedOptions:
    """``parse_connect_options`` without the copy: the memo's own object, shared by
    every connect with these options. The caller must not change it (a socket
    copies before its setopts)."""
    key = _memo_key("connect", opts, host, None)
    hit = _parse_memo.get(key) if key is not None else None
    if hit is None:
        hit = _parse_connect(opts, host, None)
        if key is not None:
            if len(_parse_memo) >= _MEMO_MAX:
                _parse_memo.clear()
            _parse_memo[key] = hit
    return hit


def build_tls_config_shared(parsed: ParsedOptions, role: str, file_contents: dict):
    """``build_tls_config`` kept on ``parsed`` by the contents of its files: the same
    object for every connect with the same options and files. The caller must not
    change it (``dataclasses.replace`` to set a verify hook)."""
    memo = parsed.__dict__.get("_cfg_memo")
    if memo is None:
        memo = parsed.__dict__["_cfg_memo"] = {}
    try:
        key = (role,) + tuple((path, file_contents.get(path)) for _, path in parsed.files)
        hash(key)
    except TypeError:
        return build_tls_config(parsed, role, file_contents)
    cfg = memo.get(key)
    if cfg is None:
        cfg = build_tls_config(parsed, role, file_contents)
        if len(memo) >= 8:
            memo.clear()
        memo[key] = cfg
    return cfg


def _parse_connect(opts, host, key_order) -> ParsedOptions:
    parsed = _parse(opts, "client", host, key_order)
    for o in parsed.inet_list:
        if not _inet_ok(o, "client"):
            raise SslOptionError((_ERROR, (_OPTIONS, (A("socket_options"), parsed.inet_list))))
    return parsed


def parse_listen_options(opts, key_order=None) -> ParsedOptions:
    """``ssl:listen(Port, Opts)``'s validation (``{error, nooptions}`` for []).

    ``ssl:listen`` only catches ``{error, _}``: a non key/value option is thrown in the
    caller (``ErlangException('throw', {option_not_a_key_value_tuple, X})``).
    """
    if opts == []:
        raise SslOptionError((_ERROR, A("nooptions")))
    try:
        parsed = _parse(opts, "server", None, key_order)
    except SslOptionError as e:
        if isinstance(e.term, tuple) and e.term and e.term[0] is A("option_not_a_key_value_tuple"):
            raise ErlangException("throw", e.term) from None
        raise
    for o in parsed.inet_list:
        if not _inet_ok(o, "server"):
            raise ErlangException("exit", A("badarg"))
    active = parsed.socket.get("active")
    if _is_int(active) and not -32768 <= active <= 32767:
        raise ErlangException("throw", A("einval"))
    return parsed


def parse_upgrade_server_options(opts, key_order=None) -> ParsedOptions:
    """``ssl:handshake(TcpSocket, Opts)``: server options without a listen socket
    (``ssl:handle_options/5`` for the server role; no ``nooptions`` check)."""
    return _parse(opts, "server", None, key_order)


def parse_handshake_options(opts, listen: ParsedOptions) -> ParsedOptions:
    """``ssl:handshake(S, Opts)`` on a socket from ``transport_accept``.

    Options are processed over the listen socket's validated map, as OTP does in the
    connection process; the error comes back wrapped once more (``{error, {error,
    {options, ...}}}``) because OTP replies ``{error, Thrown}``.  Socket options given
    here are ignored, as in OTP.
    """
    try:
        ssl_opts, _sock = _expand_options(opts)
        base = dict(listen.ssl)
        items = [(_akey(o[0]), o[1]) for o in ssl_opts]
        omap = _process_options(items, base, {"role": "server"})
        given = {_akey(o[0]): o[1] for o in ssl_opts}
        omap["_given_values"] = given
        _unsupported(omap, set(given), "server")
        omap.pop("_given_values", None)
    except SslOptionError as e:
        raise SslOptionError((_ERROR, e.term)) from None
    parsed = ParsedOptions(role="server", ssl=omap, socket=dict(listen.socket),
                           inet=dict(listen.inet), given=list(listen.given) + list(given),
                           inet_list=list(listen.inet_list))
    parsed.files = _files(omap)
    return parsed


def parse_setopts(opts, current: Optional[dict] = None) -> list:
    """``ssl:setopts(S, Opts)`` on a connected socket: ``[(name, value)]`` to apply.

    ``current`` is the socket's emulated options (for ``{active, N}`` arithmetic the
    runtime adds N itself).  Errors as OTP 25's connection process returns them:
    ``{error, {options, {not_a_proplist, Opts}}}`` for a non-list,
    ``{error, {options, {socket_options, {Name, Value}}}}`` for a bad emulated value,
    and ``{error, {options, {socket_options, Others, einval}}}`` (``Others`` = all
    non-emulated options given) for a bad gen_tcp option.
    """
    if not isinstance(opts, list):
        # what OTP 25 returns for setopts(S, Opt) with a non-list (conformance run)
        raise SslOptionError((_ERROR, (_OPTIONS, (A("not_a_proplist"), opts))))
    try:
        expanded = _proplists_expand(opts)
    except Exception:
        raise SslOptionError((_ERROR, (_OPTIONS, (A("not_a_proplist"), opts)))) from None
    out = []
    others = []
    for opt in expanded:
        if isinstance(opt, tuple) and len(opt) == 2 and _akey(opt[0]) in EMULATED_OPTIONS:
            name = _akey(opt[0])
            v = opt[1]
            ok = {
                "mode": lambda: _is(v, "list", "binary"),
                "packet": lambda: (_is_int(v) and v in (0, 1, 2, 4)) or _is(v, *_PACKETS),
                "packet_size": lambda: _is_int(v) and v >= 0,
                "header": lambda: _is_int(v) and v >= 0,
                "active": lambda: v is True or v is False or _is(v, "once") or (
                    _is_int(v) and -32768 <= v <= 32767),
            }[name]()
            if not ok:
                # ssl_gen_statem:set_socket_opts/6 reports {socket_options, Opt}
                raise SslOptionError((_ERROR, (_OPTIONS, (A("socket_options"), opt))))
            out.append((name, v))
        else:
            others.append(opt)
    # ssl_gen_statem:set_socket_opts/6 hands the rest to inet:setopts in one call and
    # reports {socket_options, Others, InetError} when it fails.
    for opt in others:
        if not _inet_ok(opt, "client") or (isinstance(opt, tuple) and _akey(opt[0]) in (
                "ip", "ifaddr", "port", "fd", "tcp_module", "netns")):
            raise SslOptionError((_ERROR, (_OPTIONS, (A("socket_options"), others, A("einval")))))
        name = _akey(opt[0]) if isinstance(opt, tuple) else _akey(opt)
        out.append((name, opt[1] if isinstance(opt, tuple) and len(opt) == 2 else opt))
    return out


_GETTABLE = frozenset(EMULATED_OPTIONS) | frozenset(SOCKET_OPTIONS) | frozenset(INET_OPTIONS) - {
    "ip", "ifaddr", "port", "fd", "inet", "inet6", "local", "backlog", "netns", "tcp_module", "raw"}


def parse_getopts(names) -> list[str]:
    """``ssl:getopts(S, Names)``: the option names to read, in order.

    Raises ``{error, {options, {socket_options, Names}}}``-shaped errors as OTP 25's
    connection process does for an unknown name.
    """
    if not isinstance(names, list):
        # ssl_gen_statem:get_socket_opts/6's last clause, as observed on OTP 25
        raise SslOptionError((_ERROR, (_OPTIONS, (A("socket_options"), names))))
    out = []
    for n in names:
        name = _akey(n) if isinstance(n, Atom) else None
        if name not in _GETTABLE:
            # ssl_gen_statem:get_socket_opts/6 names the one tag inet refused
            raise SslOptionError((_ERROR, (_OPTIONS, (A("socket_options"), n, A("einval")))))
        out.append(name)
    return out


# --- TLS config --------------------------------------------------------------------

def build_tls_config(parsed: ParsedOptions, role: str, file_contents: dict):
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
    cfg.versions = tuple(o.get("versions") or ("tlsv1.3", "tlsv1.2"))
    codes = o.get("ciphers") or []
    if "ciphers" not in parsed.given:
        # TLS_AES_128_CCM_8_SHA256 needs OpenSSL's security level 0 (see
        # bridge.tls.context): only a caller who names it gets it
        codes = [c for c in codes if c != 0x1305]
    if codes:
        cfg.cipher_list, cfg.ciphersuites_13 = _ciphers.openssl_config(codes)
    cfg.verify = o["verify"].name
    cfg.depth = o["depth"] if _is_int(o.get("depth")) else 10
    cfg.fail_if_no_peer_cert = o.get("fail_if_no_peer_cert") is True
    cfg.secure_renegotiate = o.get("secure_renegotiate") is not False
    cfg.reuse_sessions = o.get("reuse_sessions") is not False
    alpn_a = o.get("alpn_advertised_protocols")
    alpn_p = o.get("alpn_preferred_protocols")
    cfg.alpn_advertised = list(alpn_a) if isinstance(alpn_a, list) else []
    cfg.alpn_preferred = list(alpn_p) if isinstance(alpn_p, list) else []
    # PSK (TLS 1.2): the key comes from user_lookup_fun (bridge.service.psk)
    cfg.psk = isinstance(o.get("user_lookup_fun"), tuple)
    ident = _erl_string(o.get("psk_identity"))
    cfg.psk_identity = ident.encode("utf-8", "surrogatepass") if ident else None

    def read(opt):
        v = o.get(opt)
        if v.__class__ is LongPath:
            path = v
        elif isinstance(v, (bytes, bytearray)) and v:
            path = bytes(v).decode("utf-8", "surrogateescape")
        else:
            return None, None
        data = file_contents.get(path, A("enoent"))
        if not isinstance(data, (bytes, bytearray)):
            err = data if isinstance(data, Atom) else A("enoent")
            name = v.quoted() if path is v else _byte_chars(bytes(v))
            raise SslOptionError((_ERROR, (_OPTIONS, (A(opt), name, (_ERROR, err)))))
        return path, bytes(data)

    def decode_err(opt, path, reason=A("decoding_error")):
        return SslOptionError((_ERROR, (_OPTIONS, (A(opt), _byte_chars(path.encode("utf-8", "surrogateescape")),
                                                   reason))))

    # certificate chain
    cert = o.get("cert")
    if isinstance(cert, list) and cert:
        if not all(_is_binary(c) for c in cert):
            raise _opt_error("cert", cert)
        cfg.cert_chain = [bytes(c) for c in cert]
    else:
        path, data = read("certfile")
        if path is not None:
            try:
                cfg.cert_chain = _certs_from_file(data)
            except ValueError:
                raise decode_err("certfile", path) from None
            if not cfg.cert_chain:
                raise decode_err("certfile", path)
    # key
    key = o.get("key")
    pw = o.get("password")
    pw_text = _chars(pw) if _is_list(pw) and pw else None       # None: not a charlist
    cfg.password = (pw_text.encode("utf-8", "surrogatepass") if pw_text
                    else bytes(pw) if _is_binary(pw) and pw else None)
    if isinstance(key, tuple):
        cfg.key_der = bytes(key[1]) if _is_binary(key[1]) else None
    else:
        path, data = read("keyfile")
        if path is not None:
            pem = _key_pem_from_file(data)
            if pem is None and cfg.cert_chain:
                raise decode_err("keyfile", path)
            cfg.key_pem = pem
    # trust anchors
    cacerts = o.get("cacerts")
    if isinstance(cacerts, list) and cacerts:
        cfg.cacerts = [bytes(c) for c in cacerts if _is_binary(c)]   # OTP ignores the others
    else:
        path, data = read("cacertfile")
        if path is not None:
            try:
                cfg.cacerts = _certs_from_file(data)
            except ValueError:
                raise decode_err("cacertfile", path) from None
    # DH
    dh = o.get("dh")
    if _is_binary(dh):
        cfg.dh_pem = _dh_der_to_pem(bytes(dh))
    else:
        path, data = read("dhfile")
        if path is not None:
            pem = _dh_pem_from_file(data)
            if pem is None:
                raise decode_err("dhfile", path)
            cfg.dh_pem = pem
    # SNI and hostname check (client)
    if role == "client":
        sni = o.get("server_name_indication")
        if _is_list(sni):
            cfg.server_name_indication = _chars(sni)
            if cfg.verify == "verify_peer":
                cfg.hostname_check = cfg.server_name_indication
        else:
            cfg.server_name_indication = None
    cfg.extra = {k: o[k] for k in ("honor_cipher_order", "keep_secrets", "signature_algs",
                                   "eccs", "supported_groups", "max_fragment_length",
                                   "log_level", "hibernate_after", "middlebox_comp_mode")
                 if k in o}
    if role == "server":
        cfg.sni_configs = _sni_configs(parsed, file_contents)
    return cfg


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
        out[name] = build_tls_config(host_parsed, "server", file_contents)
    return out


# --- PEM / DER helpers -----------------------------------------------------------

import re as _re

_PEM_RE = _re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", _re.S)


def _pem_blocks(data: bytes):
    return [(m.group(1).decode(), m.group(0)) for m in _PEM_RE.finditer(data)]


_certs_memo: dict = {}


def _certs_from_file(data: bytes) -> list[bytes]:
    """DER certificates of a PEM (or single DER) file; ValueError if undecodable.
    Kept by file contents (a connect burst reads the same cacertfile each time)."""
    data = bytes(data)
    hit = _certs_memo.get(data)
    if hit is None:
        try:
            hit = tuple(_parse_certs(data))
        except ValueError:
            hit = None
            bad = True
        else:
            bad = False
        if len(_certs_memo) >= 64:
            _certs_memo.clear()
        _certs_memo[data] = (hit, bad)
    else:
        hit, bad = hit
    if bad:
        raise ValueError("bad certificate")
    return list(hit)


def _parse_certs(data: bytes) -> list[bytes]:
    """DER certificates of a PEM (or single DER) file; ValueError if undecodable.

    Parsed by OpenSSL, which (like OTP's public_key) accepts encodings that the
    stricter `cryptography` parser refuses, e.g. ECDSA signature algorithms that
    carry curve parameters, as public_key:pkix_test_data/1 makes them."""
    import base64
    import binascii

    from OpenSSL import crypto

    def check(der: bytes) -> bytes:
        try:
            crypto.load_certificate(crypto.FILETYPE_ASN1, der)
        except crypto.Error:
            raise ValueError("bad certificate") from None
        return der

    blocks = _pem_blocks(data)
    if not blocks:
        return [check(data)]
    out = []
    for label, block in blocks:
        if label in ("CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"):
            body = b"".join(line for line in block.splitlines() if not line.startswith(b"-----"))
            try:
                der = base64.b64decode(body, validate=False)
            except (binascii.Error, ValueError):
                raise ValueError("bad certificate") from None
            out.append(check(der))
    return out


def _key_pem_from_file(data: bytes):
    """The first private key PEM block (possibly encrypted), or None."""
    for label, block in _pem_blocks(data):
        if "PRIVATE KEY" in label:
            return block
    return None


def _dh_pem_from_file(data: bytes):
    for label, block in _pem_blocks(data):
        if label == "DH PARAMETERS":
            return block
    return None


def _dh_der_to_pem(der: bytes) -> bytes:
    import base64
    body = base64.encodebytes(der).replace(b"\n", b"")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return b"-----BEGIN DH PARAMETERS-----\n" + b"\n".join(lines) + b"\n-----END DH PARAMETERS-----\n"
