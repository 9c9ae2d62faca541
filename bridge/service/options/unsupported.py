"""Options the bridge does not implement: validated as OTP validates them, then
refused by name (``{error, {options, {not_supported_by_pyssl, {Name, Value}}}}``)."""
from __future__ import annotations

from bridge.etf.types import Atom

from .base import _ERROR, _OPTIONS, A, SslOptionError, _is, _is_fun, _is_undef
from bridge.service import ciphers

from . import groups, sigalgs
from .process import certs_keys_unsupported
from .rules import _RULES
from .sessions import use_ticket_unsupported

def user_transport(omap: dict):
    """The ``cb_info`` of a transport module other than gen_tcp, as the 5-tuple
    ``ssl:handle_cb_info/1`` makes (a 4-tuple's passive tag is ``DataTag_passive``);
    None for gen_tcp (the bridge's own TCP). The bridge.service.cbinfo sockets
    run such a transport on the caller's node."""
    cb = omap.get("cb_info")
    if cb is None or cb[:4] == (A("gen_tcp"), A("tcp"), A("tcp_closed"), A("tcp_error")):
        return None
    if len(cb) == 4:
        cb = cb + (A(cb[1].name + "_passive"),)
    return cb


# What a sni_hosts entry may set: the bridge switches the certificate and key when
# the client names the host (OpenSSL's servername callback), and applies its versions
# before OpenSSL reads the hello (bridge.tls.engine, _release_hello); other per-host
# options are refused by name.
_UNDEF_A = Atom("undefined")
_SNI_HOST_OPTIONS = frozenset(("certfile", "keyfile", "cert", "key", "password", "versions"))


def _sni_hosts_unsupported(v) -> bool:
    if not isinstance(v, list):
        return False
    return any(not (isinstance(o, tuple) and len(o) == 2 and isinstance(o[0], Atom)
                    and o[0].name in _SNI_HOST_OPTIONS)
               for _host, sub in v for o in sub)


def uses_tlslite(omap: dict, role: str) -> bool:
    """The options ask for SRP or NPN, which only the tlslite-ng engine serves
    (the same rule as ``bridge.tls.config.TLSConfig.engine``, on the options)."""
    suites = omap.get("ciphers") or ()
    if role == "client":
        return not _is_undef(omap.get("srp_identity", _UNDEF_A)) \
            or not _is_undef(omap.get("next_protocol_selector", _UNDEF_A)) \
            or (bool(suites) and all(_is_srp(c) for c in suites))
    if isinstance(omap.get("next_protocols_advertised"), list):
        return True
    return isinstance(omap.get("user_lookup_fun"), tuple) and any(_is_srp(c) for c in suites)


def _is_srp(code) -> bool:
    suite = ciphers.SUITES.get(code)
    return suite is not None and suite.key_exchange.startswith("srp_")


# what the tlslite-ng engine cannot do (docs/architecture.md): with SRP or NPN these
# options are refused by name, as no engine serves both at once
_TLSLITE_CANNOT = (
    ("verify", lambda v: _is(v, "verify_peer")),      # no certificate path validation
    ("verify_fun", lambda v: not _is_undef(v)),
    ("sni_fun", lambda v: not _is_undef(v)),
    ("sni_hosts", lambda v: isinstance(v, list) and v != []),
    ("session_tickets", lambda v: not _is(v, "disabled")),
    ("reuse_session", lambda v: not _is_undef(v)),
    ("early_data", lambda v: not _is_undef(v)),
    ("handshake", lambda v: _is(v, "hello")),     # no pause after the hello there
    ("keep_secrets", lambda v: v is True),
    ("dh", lambda v: not _is_undef(v)),
    ("dhfile", lambda v: not _is_undef(v)),
    ("signature_algs", lambda v: isinstance(v, list)),
    ("eccs", lambda v: isinstance(v, list)),
    ("supported_groups", lambda v: not _is_undef(v)),
    # several pairs are chosen among in OpenSSL's certificate callback
    ("certs_keys", lambda v: isinstance(v, list) and len(v) > 1),
)


def _tlslite_unsupported(omap: dict, given: dict, refuse) -> None:
    for name, bad in _TLSLITE_CANNOT:
        if name in given and bad(omap.get(name, _UNDEF_A)):
            refuse(name, given.get(name, omap.get(name)))


def _default(name: str):
    """ssl's default of an option (?RULES)."""
    return _RULES[name][0]


def _unsupported(omap: dict, given: dict, role: str):
    """Refuse the first unsupported option; ``given`` maps the options the caller
    gave to their values as given."""
    def refuse(name, value):
        raise SslOptionError((_ERROR, (_OPTIONS, (A("not_supported_by_pyssl"), (A(name), value)))))

    if uses_tlslite(omap, role):
        _tlslite_unsupported(omap, given, refuse)
    checks = [
        ("password", lambda v: _is_fun(v)),
        ("sni_hosts", _sni_hosts_unsupported),
        # CRLs come from the caller node's ssl_crl_cache (bridge.service.crl); a
        # cache module of the caller's own, or fetching distribution points over
        # HTTP ({internal, [{http, T}]}), is not done
        ("crl_cache", lambda v: not (isinstance(v, tuple) and len(v) == 2 and _is(v[0], "ssl_crl_cache")
                                     and isinstance(v[1], tuple) and len(v[1]) == 2
                                     and _is(v[1][0], "internal") and v[1][1] == [])),
        ("ocsp_stapling", lambda v: v is True),
        ("use_ticket", use_ticket_unsupported),
        ("protocol", lambda v: _is(v, "dtls")),
        ("erl_dist", lambda v: v is True),
        ("key", lambda v: isinstance(v, dict)),
        # libssl parses a peer's signature_algorithms_cert but never sends one (no
        # constructor in ssl/statem/extensions.c, no SSL_CTX_set1_*sigalgs* for it)
        ("signature_algs_cert", lambda v: isinstance(v, list)),
        # false: libssl's SSL_OP_ENABLE_MIDDLEBOX_COMPAT is on by default and the
        # bindings have no SSL_CTX_clear_options to turn it off
        ("middlebox_comp_mode", lambda v: v is False),
        # ssl sends a KeyUpdate after so many bytes; libssl never does on its own and
        # SSL_key_update is not bound (update_keys/2 is refused too). The default
        # (2^38.5 bytes) is taken as given
        ("key_update_at", lambda v: v != _default("key_update_at")),
        # ssl renegotiates by itself after so many records sent (TLS 1.2); libssl never
        # does, and the bridge renegotiates only when renegotiate/1 asks. ssl's own
        # cap (2^28 records) is its default, taken as given
        ("renegotiate_at", lambda v: isinstance(v, int) and v < _default("renegotiate_at")),
        # libssl bounds handshake messages itself (a certificate list: 100 KiB) and
        # the bindings cannot change it (no SSL_CTX_set_max_cert_list): a bound
        # tighter than ssl's default cannot be kept; a looser one is taken (OTP's
        # ssl_api_SUITE:max_handshake_size gives 8388607), libssl's limits staying
        ("max_handshake_size", lambda v: isinstance(v, int) and v < _default("max_handshake_size")),
        # false accepts a TLS 1.0 peer's bad CBC padding; libssl always checks it
        ("padding_check", lambda v: v is False),
        # a client's certificate_authorities extension needs SSL_CTX_set0_CA_list,
        # which the bindings lack (a server's CA names: TLSConfig.ca_names)
        ("certificate_authorities", lambda v: v is True and role == "client"),
        # valid for ssl, but nothing in it that libssl signs with ({md5, rsa})
        ("signature_algs", lambda v: isinstance(v, list) and not sigalgs.openssl_names(v)),
    ]
    for name, bad in checks:
        if name in given and bad(omap.get(name)):
            refuse(name, omap.get(name))
    if "honor_ecc_order" in given and omap.get("honor_ecc_order") is True \
            and omap.get("honor_cipher_order") is not True:
        # OpenSSL takes the server's curve order only with the server's suite order
        # (SSL_OP_CIPHER_SERVER_PREFERENCE drives both; there is no option for curves alone)
        refuse("honor_ecc_order", True)
    if "certs_keys" in given and not _is_undef(omap.get("certs_keys")) \
            and certs_keys_unsupported(omap.get("certs_keys")):
        refuse("certs_keys", given["certs_keys"])        # see process.certs_keys_unsupported
    if role == "client" and "max_fragment_length" in given \
            and isinstance(omap.get("max_fragment_length"), int):
        # a client asks with SSL_CTX_set_tlsext_max_fragment_length, which the
        # OpenSSL bindings (cryptography's, OpenSSL linked in statically) do not
        # offer. A server needs nothing: libssl answers a client's request itself.
        refuse("max_fragment_length", omap["max_fragment_length"])
    if omap.get("versions"):
        groups.openssl_list(omap, role, omap["versions"], given)     # refuses what libssl lacks

