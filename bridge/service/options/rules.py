"""OTP 25's ``?RULES`` of ssl.erl: each ssl option's default and the options it
depends on, and the order ``maps:keys(?RULES)`` walks them in."""
from __future__ import annotations

from typing import Any

from .base import _UNDEF, DEFAULT_PARTIAL_CHAIN, DEFAULT_VERIFY_FUN, A

# most options are processed once `versions` is (the second element of each rule)
_ON_VERSIONS = ["versions"]
_RULES: dict[str, tuple[Any, list[str]]] = {
    "alpn_advertised_protocols": (_UNDEF, _ON_VERSIONS),
    "alpn_preferred_protocols": (_UNDEF, _ON_VERSIONS),
    "anti_replay": (_UNDEF, ["versions", "session_tickets"]),
    "beast_mitigation": (A("one_n_minus_one"), _ON_VERSIONS),
    "cacertfile": (_UNDEF, ["versions", "verify_fun", "cacerts"]),
    "cacerts": (_UNDEF, _ON_VERSIONS),
    "cert": (_UNDEF, _ON_VERSIONS),
    "certs_keys": (_UNDEF, _ON_VERSIONS),
    "certfile": (b"", _ON_VERSIONS),
    "certificate_authorities": (False, _ON_VERSIONS),
    "ciphers": ([], _ON_VERSIONS),
    "client_renegotiation": (_UNDEF, _ON_VERSIONS),
    "cookie": (True, _ON_VERSIONS),
    "crl_cache": ((A("ssl_crl_cache"), (A("internal"), [])), _ON_VERSIONS),
    "crl_check": (False, _ON_VERSIONS),
    "customize_hostname_check": ([], _ON_VERSIONS),
    "depth": (10, _ON_VERSIONS),
    "dh": (_UNDEF, _ON_VERSIONS),
    "dhfile": (_UNDEF, _ON_VERSIONS),
    "early_data": (_UNDEF, ["versions", "session_tickets", "use_ticket"]),
    "eccs": (_UNDEF, _ON_VERSIONS),
    "erl_dist": (False, _ON_VERSIONS),
    "fail_if_no_peer_cert": (False, _ON_VERSIONS),
    "fallback": (False, _ON_VERSIONS),
    "handshake": (A("full"), _ON_VERSIONS),
    "hibernate_after": (A("infinity"), _ON_VERSIONS),
    "honor_cipher_order": (False, _ON_VERSIONS),
    "honor_ecc_order": (_UNDEF, _ON_VERSIONS),
    "keep_secrets": (False, _ON_VERSIONS),
    "key": (_UNDEF, _ON_VERSIONS),
    "keyfile": (_UNDEF, ["versions", "certfile"]),
    "key_update_at": (388736063997, _ON_VERSIONS),
    "log_level": (A("notice"), _ON_VERSIONS),
    "max_handshake_size": (256 * 1024, _ON_VERSIONS),
    "middlebox_comp_mode": (True, _ON_VERSIONS),
    "max_fragment_length": (_UNDEF, _ON_VERSIONS),
    "next_protocol_selector": (_UNDEF, _ON_VERSIONS),
    "next_protocols_advertised": (_UNDEF, _ON_VERSIONS),
    "ocsp_stapling": (False, _ON_VERSIONS),
    "ocsp_responder_certs": ([], ["versions", "ocsp_stapling"]),
    "ocsp_nonce": (True, ["versions", "ocsp_stapling"]),
    "padding_check": (True, _ON_VERSIONS),
    "partial_chain": (DEFAULT_PARTIAL_CHAIN, _ON_VERSIONS),
    "password": ([], _ON_VERSIONS),
    "protocol": (A("tls"), []),
    "psk_identity": (_UNDEF, _ON_VERSIONS),
    "receiver_spawn_opts": ([], _ON_VERSIONS),
    "renegotiate_at": (268435456, _ON_VERSIONS),
    "reuse_session": (_UNDEF, _ON_VERSIONS),
    "reuse_sessions": (True, _ON_VERSIONS),
    "secure_renegotiate": (True, _ON_VERSIONS),
    "sender_spawn_opts": ([], _ON_VERSIONS),
    "server_name_indication": (_UNDEF, _ON_VERSIONS),
    "session_tickets": (A("disabled"), _ON_VERSIONS),
    "signature_algs": (_UNDEF, _ON_VERSIONS),
    "signature_algs_cert": (_UNDEF, _ON_VERSIONS),
    "sni_fun": (_UNDEF, ["versions", "sni_hosts"]),
    "sni_hosts": ([], _ON_VERSIONS),
    "srp_identity": (_UNDEF, _ON_VERSIONS),
    "supported_groups": (_UNDEF, _ON_VERSIONS),
    "use_ticket": (_UNDEF, _ON_VERSIONS),
    "user_lookup_fun": (_UNDEF, _ON_VERSIONS),
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
