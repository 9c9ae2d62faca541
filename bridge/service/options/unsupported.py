"""Options the bridge does not implement: validated as OTP validates them, then
refused by name (``{error, {options, {not_supported_by_pyssl, {Name, Value}}}}``)."""
from __future__ import annotations

from bridge.etf.types import Atom

from .base import _ERROR, _OPTIONS, A, SslOptionError, _is, _is_fun, _is_undef
from . import groups, sigalgs
from .sessions import use_ticket_unsupported

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


def _unsupported(omap: dict, given: dict, role: str):
    """Refuse the first unsupported option; ``given`` maps the options the caller
    gave to their values as given."""
    def refuse(name, value):
        raise SslOptionError((_ERROR, (_OPTIONS, (A("not_supported_by_pyssl"), (A(name), value)))))

    for name in ("srp_identity",
                 "next_protocols_advertised",
                 "certs_keys"):
        if name in given and not _is_undef(omap.get(name)):
            refuse(name, given.get(name, omap.get(name)))
    if "client_preferred_next_protocols" in given and not _is_undef(omap.get("next_protocol_selector")):
        refuse("client_preferred_next_protocols", omap["next_protocol_selector"])
    cb = omap.get("cb_info")
    if cb is not None and not (cb[:4] == (A("gen_tcp"), A("tcp"), A("tcp_closed"), A("tcp_error"))):
        refuse("cb_info", cb)
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
    if omap.get("versions"):
        groups.openssl_list(omap, role, omap["versions"], given)     # refuses what libssl lacks

