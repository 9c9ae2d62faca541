"""Option validation compared, case by case, with the BEAM's own ssl (OTP 25).

Each case is Erlang source text of an option list.  One ``erl`` per module runs
``ssl:connect({127,0,0,1}, ClosedPort, Opts, 2000)`` / ``ssl:listen(0, Opts)`` and
prints the result with ``~w``; the parser in ``bridge.service.options`` must give the
same term (``{error, econnrefused}`` from OTP means validation passed, for ``listen``
``{ok, S}`` is normalised to ``ok``).
"""
from __future__ import annotations

import pytest

from bridge.etf.types import Atom
from bridge.service.errors import format_term
from bridge.service.options import (ErlangException, SslOptionError, parse_connect_options,
                                    parse_listen_options)
from erleval import ErlEval, parse_w, rules_key_order

CONNECT_CASES = [
    "[{verify, foo}]",
    "[foo]",
    "[{foo, bar}]",
    "[{active, 40000}]",
    "[{active, -40000}]",
    "[{versions, [sslv3]}]",
    "[{versions, [foo]}]",
    "[{verify, verify_peer}]",
    "[{ciphers, [{foo, bar, baz}]}]",
    "[{ciphers, \"FOO\"}]",
    "[{ciphers, \"FOO:AES128-SHA\"}]",
    "[{versions, ['tlsv1.3']}, {secure_renegotiate, true}]",
    "[{verify, verify_none}, {fail_if_no_peer_cert, true}]",
    "foo",
    "[{mode, foo}]",
    "[{packet, \"x\"}]",
    "[{nodelay, foo}]",
    "[{foo, bar}, {verify, foo}]",
    "[{verify, foo}, {depth, foo}]",
    "[{depth, foo}, {verify, foo}]",
    "[{ciphers, foo}]",
    "[{ssl_imp, foo}]",
    "[{log_alert, foo}]",
    "[{log_alert, true}]",
    "[{cacertfile, \"\"}]",
    "[{verify_fun, foo}]",
    "[{server_name_indication, foo}]",
    "[{versions, ['tlsv1.3', tlsv1]}]",
    "[{versions, foo}]",
    "[{depth, 256}]",
    "[{depth, -1}]",
    "[{depth, 5}]",
    "[{fail_if_no_peer_cert, foo}]",
    "[{cert, foo}]",
    "[{cert, <<1,2,3>>}]",
    "[{key, {foo, <<1>>}}]",
    "[{key, {'RSAPrivateKey', foo}}]",
    "[{key, {rsa, <<1>>}}]",
    "[{keyfile, \"\"}]",
    "[{certfile, \"\"}]",
    "[{password, foo}]",
    "[{cacerts, foo}]",
    "[{dh, foo}]",
    "[{dhfile, \"\"}]",
    "[{secure_renegotiate, foo}]",
    "[{reuse_sessions, save}]",
    "[{reuse_sessions, foo}]",
    "[{hibernate_after, -1}]",
    "[{hibernate_after, undefined}]",
    "[{log_level, foo}]",
    "[{log_level, debug}]",
    "[{alpn_preferred_protocols, [<<>>]}]",
    "[{alpn_advertised_protocols, foo}]",
    "[{alpn_preferred_protocols, [<<\"h2\">>, <<\"http/1.1\">>]}]",
    "[{handshake, foo}]",
    "[{honor_cipher_order, true}]",
    "[{fallback, true}]",
    "[{server_name_indication, disable}]",
    "[{server_name_indication, \"example.com\"}]",
    "[{ciphers, [{rsa, aes_128_cbc, sha}]}]",
    "[{ciphers, [#{key_exchange => rsa, cipher => aes_128_cbc, mac => sha, prf => default_prf}]}]",
    "[{ciphers, [#{key_exchange => rsa}]}]",
    "[{ciphers, [\"AES128-SHA\", \"FOO\"]}]",
    "[{ciphers, [\"AES128-SHA\", \"ECDHE-RSA-AES128-GCM-SHA256\"]}]",
    "[{ciphers, []}]",
    "[{ciphers, \"TLS_AES_128_GCM_SHA256\"}]",
    "[{versions, ['tlsv1.2']}, {ciphers, [{ecdhe_rsa, aes_128_gcm, null, sha256}]}]",
    "[{ciphers, [{ecdhe_rsa, aes_128_gcm, null}]}]",
    "[{ciphers, [{rsa, rc4_128, md5}]}]",
    "[binary, {packet, 4}]",
    "[{header, foo}]",
    "[{packet_size, foo}]",
    "[{active, once}, {active, foo}]",
    "[{verify, verify_peer}, {cacerts, []}]",
    "[{verify, verify_peer}, {cacertfile, \"/nonexistent/ca.pem\"}]",
    "[{verify, verify_peer}, {cacerts, [<<1>>]}]",
    "[{session_tickets, foo}]",
    "[{session_tickets, manual}, {versions, ['tlsv1.2']}]",
    "[{early_data, <<\"x\">>}]",
    "[{cookie, true}]",
    "[{client_renegotiation, true}]",
    "[{key_update_at, 0}]",
    "[{max_handshake_size, foo}]",
    "[{padding_check, true}]",
    "[{beast_mitigation, zero_n}]",
    "[{cb_info, foo}]",
    "[{reuse_session, foo}]",
    "[{srp_identity, foo}]",
    "[{user_lookup_fun, foo}]",
    "[{partial_chain, foo}]",
    "[{eccs, foo}]",
    "[{ip, {127,0,0,1}}]",
    "[{reuseaddr, foo}]",
    "[{linger, foo}]",
    "[{send_timeout, foo}]",
    "[{tos, foo}]",
    "[inet]",
    "[{binary, true}]",
    "[{verify, verify_peer}, {verify, verify_none}]",
    "[{mode, binary}, list]",
    "[{versions, ['tlsv1.2', tlsv1]}, {verify, foo}]",
    "[{sni_hosts, foo}]",
    "[{crl_check, foo}]",
    "[{customize_hostname_check, foo}]",
    "[{signature_algs, foo}]",
    "[{middlebox_comp_mode, foo}]",
    "[{max_fragment_length, 100}]",
    "[{renegotiate_at, foo}]",
    "[{next_protocols_advertised, foo}]",
    "[{client_preferred_next_protocols, {foo, [<<\"h2\">>]}}]",
    "[{keep_secrets, foo}]",
    "[{depth, undefined}]",
    "[{fail_if_no_peer_cert, undefined}]",
    "[{packet, line}, {active, 10}, {exit_on_close, false}, {nodelay, true}]",
    "[{versions, ['tlsv1.2', 'tlsv1.1']}, {ciphers, \"AES128-SHA\"}]",
    "[{verify, verify_peer}, {fail_if_no_peer_cert, true}, {cacerts, [<<1>>]}]",
    "[{fail_if_no_peer_cert, true}, {verify, foo}, {depth, 300}]",
    "[{versions, ['tlsv1.3']}, {honor_cipher_order, true}]",
    "[{active, 32767}, {mode, foo}]",
    "[{nodelay, foo}, {verify, foo}]",
    "[{mode, foo}, {verify, foo}]",
    "[{verify, verify_peer}, {versions, [sslv3]}]",
]

LISTEN_CASES = [
    "[]",
    "[{foo, bar}]",
    "[{active, 40000}]",
    "[{verify, verify_peer}]",
    "[{verify, verify_none}, {fail_if_no_peer_cert, true}]",
    "[{certfile, \"/nonexistent/cert.pem\"}]",
    "[{honor_cipher_order, true}]",
    "[{fallback, true}]",
    "[{session_tickets, manual}]",
    "[{cookie, foo}]",
    "[{verify, verify_peer}, {fail_if_no_peer_cert, true}, {cacertfile, \"/x.pem\"}]",
    "[{active, 5}]",
    "[{nodelay, true}]",
    "[{backlog, 5}, {reuseaddr, true}]",
    "[{mode, foo}]",
    "[{early_data, enabled}]",
    "[{client_renegotiation, false}]",
    "[{max_handshake_size, 8388607}]",      # looser than ssl's default: taken
    "[{versions, ['tlsv1.3']}, {client_renegotiation, false}]",
    "[{ip, {127,0,0,1}}, {certfile, \"/x\"}, {keyfile, \"/y\"}]",
    "[foo]",
    "[{verify, foo}]",
]


@pytest.fixture(scope="module")
def erl():
    e = ErlEval()
    e.key_order = rules_key_order(e)
    yield e
    e.close()


def _ours(fn, opts, **kw):
    try:
        fn(opts, **kw)
    except SslOptionError as e:
        return format_term(e.term, pretty=False)
    except ErlangException as e:
        return format_term((Atom("EXCEPTION"), e.cls, e.reason), pretty=False)
    return None


@pytest.mark.parametrize("opts_text", CONNECT_CASES)
def test_connect_options_match_otp(erl, opts_text):
    otp = erl.eval(f"ssl:connect({{127,0,0,1}}, P, {opts_text}, 2000)")
    opts = parse_w(erl.eval(opts_text))
    ours = _ours(parse_connect_options, opts, host=(127, 0, 0, 1), key_order=erl.key_order)
    assert (ours or "{error,econnrefused}") == otp


@pytest.mark.parametrize("opts_text", LISTEN_CASES)
def test_listen_options_match_otp(erl, opts_text):
    otp = erl.eval(f"case ssl:listen(0, {opts_text}) of {{ok, S}} -> ssl:close(S), ok; E -> E end")
    opts = parse_w(erl.eval(opts_text))
    ours = _ours(parse_listen_options, opts, key_order=erl.key_order)
    assert (ours or "ok") == otp


# Options OTP accepts but the bridge refuses on purpose, naming them.
DELIBERATE = [
    # NPN and SRP run on the tlslite-ng engine: what it cannot do with them is refused
    ("connect", "[{client_preferred_next_protocols, {client, [<<\"h2\">>]}}, {keep_secrets, true}]",
     "keep_secrets"),
    ("connect", "[{srp_identity, {\"u\", \"p\"}}, {versions, ['tlsv1.2']}, {reuse_session, <<1>>}]",
     "reuse_session"),
    ("connect", "[{srp_identity, {\"u\", \"p\"}}, {versions, ['tlsv1.2']}, {handshake, hello}]", "handshake"),
    ("listen", "[{next_protocols_advertised, [<<\"h2\">>]}, {keep_secrets, true}]", "keep_secrets"),
    ("connect", "[{crl_check, true}, {crl_cache, {ssl_crl_cache, {internal, [{http, 5000}]}}}]", "crl_cache"),
    ("connect", "[{crl_cache, {ssl_crl_hash_dir, {internal, [{dir, \"/tmp\"}]}}}]", "crl_cache"),
    # per-host options other than the certificate and key
    ("listen", "[{sni_hosts, [{\"a.example\", [{verify, verify_peer}]}]}]", "sni_hosts"),
    # the bindings cannot clear SSL_OP_ENABLE_MIDDLEBOX_COMPAT (issue 10: no option is
    # accepted and dropped)
    ("connect", "[{middlebox_comp_mode, false}, {verify, verify_none}]", "middlebox_comp_mode"),
    ("listen", "[{middlebox_comp_mode, false}]", "middlebox_comp_mode"),
    # no KeyUpdate without SSL_key_update; padding is always checked by libssl; a
    # client's CA names need SSL_CTX_set0_CA_list
    ("connect", "[{key_update_at, 1000}, {verify, verify_none}]", "key_update_at"),
    ("listen", "[{key_update_at, 1000}]", "key_update_at"),
    ("connect", "[{versions, [tlsv1]}, {padding_check, false}, {verify, verify_none}]", "padding_check"),
    ("connect", "[{certificate_authorities, true}, {verify, verify_none}]", "certificate_authorities"),
    # libssl never renegotiates by itself; its handshake size limits are its own
    ("connect", "[{renegotiate_at, 100}, {verify, verify_none}]", "renegotiate_at"),
    ("listen", "[{max_handshake_size, 1000}]", "max_handshake_size"),
]


@pytest.mark.parametrize("kind,opts_text,name", DELIBERATE)
def test_unsupported_options_are_named(erl, kind, opts_text, name):
    if kind == "connect":
        otp = erl.eval(f"ssl:connect({{127,0,0,1}}, P, {opts_text}, 2000)")
        assert otp == "{error,econnrefused}"          # OTP accepts it
        fn = lambda o: parse_connect_options(o, host=(127, 0, 0, 1))
    else:
        otp = erl.eval(f"case ssl:listen(0, {opts_text}) of {{ok, S}} -> ssl:close(S), ok; E -> E end")
        assert otp == "ok"
        fn = parse_listen_options
    with pytest.raises(SslOptionError) as ei:
        fn(parse_w(erl.eval(opts_text)))
    term = ei.value.term
    assert term[0] is Atom("error") and term[1][0] is Atom("options")
    assert term[1][1][0] is Atom("not_supported_by_pyssl")
    assert term[1][1][1][0] is Atom(name)


def test_versions_empty_is_an_error_not_a_hang():
    # OTP 25 never returns for {versions, []}; the bridge answers with an options error.
    with pytest.raises(SslOptionError) as ei:
        parse_connect_options([(Atom("versions"), [])])
    assert format_term(ei.value.term, pretty=False) == "{error,{options,{versions,[]}}}"


def test_every_option_rule_names_an_option():
    """A misspelt key in the table of rules would leave its option to the default
    rule without a word: every key is an option of ?RULES (or cb_info)."""
    from bridge.service.options import process, rules
    assert set(process._OPTION_RULES) <= set(rules._RULES) | {"cb_info"}
    assert all(callable(r) for r in process._OPTION_RULES.values())
