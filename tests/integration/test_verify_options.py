"""customize_hostname_check and partial_chain (issue 10): the caller's funs run on
its node, and every answer is ssl's, side by side on one real node (``Mod = ssl | pyssl``)."""
import pytest
from certgen import issue, write
from sslcompare import same

from bridge.etf import Atom

A = Atom


@pytest.fixture(scope="module")
def env(bridge, pyssl_node, pki):
    """The module's bridge and a node using it (conftest), with this module's bindings."""
    node = pyssl_node
    p = pki
    wild = write(issue(p.ca, "*.example.test", sans=("*.example.test",), ips=(), slot="wildcard"),
                 p.dir, "wildcard")
    cn_only = write(issue(p.ca, "cn.example.test", sans=(), ips=(), slot="cn_only"), p.dir, "cn_only")
    node.eval(f"""
        Srv = [{{certfile, "{p.server.cert_path}"}}, {{keyfile, "{p.server.key_path}"}}],
        CaFile = "{p.ca.cert_path}", OtherCa = "{p.other_ca.cert_path}",
        IntFile = "{p.intermediate.cert_path}",
        Verify = [{{verify, verify_peer}}, {{cacertfile, CaFile}}],
        WildPort = pyssl_test_loop:server([{{certfile, "{wild.cert_path}"}}, {{keyfile, "{wild.key_path}"}}],
                                          fun pyssl_test_loop:echo/1),
        CnPort = pyssl_test_loop:server([{{certfile, "{cn_only.cert_path}"}}, {{keyfile, "{cn_only.key_path}"}}],
                                        fun pyssl_test_loop:echo/1),
        ChainedPort = pyssl_test_loop:server([{{certfile, "{p.chained_server.cert_path}"}},
                                              {{keyfile, "{p.chained_server.key_path}"}}],
                                             fun pyssl_test_loop:echo/1),
        EchoPort = pyssl_test_loop:server(Srv, fun pyssl_test_loop:echo/1),
        Https = public_key:pkix_verify_hostname_match_fun(https),
        ok""")
    return bridge, node


# connect, send, read the echo, close: {ok, Data} or the connect's error
def _conn(port: str, opts: str, host: str = '"localhost"') -> str:
    return (f"case Mod:connect({host}, {port}, {opts}, 5000) of "
            "{ok, S} -> ok = Mod:send(S, <<\"x\">>), "
            "X = receive {ssl, S, D} -> D after 5000 -> timeout end, Mod:close(S), {ok, X}; "
            "Err -> Err end")


HOSTNAME_CASES = {
    # public_key's default match: no wildcards (OpenSSL's own check takes them)
    "wildcard_default_refused": _conn("WildPort", 'Verify ++ [{server_name_indication, "www.example.test"}]'),
    "wildcard_https_accepted": _conn("WildPort", 'Verify ++ [{server_name_indication, "www.example.test"}, '
                                     '{customize_hostname_check, [{match_fun, Https}]}]'),
    "wildcard_https_two_labels_refused": _conn("WildPort", 'Verify ++ [{server_name_indication, "a.www.example.test"}, '
                                               '{customize_hostname_check, [{match_fun, Https}]}]'),
    "wildcard_https_other_domain_refused": _conn("WildPort", 'Verify ++ [{server_name_indication, "www.example.org"}, '
                                                 '{customize_hostname_check, [{match_fun, Https}]}]'),
    "match_fun_says_true": _conn("EchoPort", 'Verify ++ [{server_name_indication, "nowhere.example"}, '
                                 '{customize_hostname_check, [{match_fun, fun(_, _) -> true end}]}]'),
    "match_fun_says_false": _conn("EchoPort", 'Verify ++ [{customize_hostname_check, [{match_fun, fun(_, _) -> false end}]}]'),
    "match_fun_default_keeps_public_key": _conn("EchoPort", 'Verify ++ [{customize_hostname_check, '
                                                '[{match_fun, fun(_, _) -> default end}]}]'),
    "match_fun_sees_ids": "Self = self(), F = fun(R, P) -> Self ! {ids, R, P}, default end, "
                          + _conn("EchoPort", 'Verify ++ [{customize_hostname_check, [{match_fun, F}]}]')
                          + ", lists:sort((fun L(Acc) -> receive {ids, R, P} -> L([{R, P} | Acc]) after 0 -> Acc end end)([]))",
    "match_fun_crashes": _conn("EchoPort", 'Verify ++ [{customize_hostname_check, [{match_fun, fun(_, _) -> error(boom) end}]}]'),
    "fqdn_fun": _conn("EchoPort", 'Verify ++ [{server_name_indication, "nowhere.example"}, '
                      '{customize_hostname_check, [{fqdn_fun, fun(_) -> "localhost" end}]}]'),
    "fail_callback": _conn("EchoPort", 'Verify ++ [{server_name_indication, "nowhere.example"}, '
                           '{customize_hostname_check, [{fail_callback, fun(_) -> true end}]}]'),
    "cn_fallback_with_https": _conn("CnPort", 'Verify ++ [{server_name_indication, "cn.example.test"}, '
                                    '{customize_hostname_check, [{match_fun, Https}]}]'),
    "with_verify_fun_hostname_event": "Self = self(), VF = fun(_, {extension, _}, St) -> {unknown, St}; "
                                      "(_, E, St) -> Self ! {ev, E}, {valid, St} end, "
                                      + _conn("WildPort", 'Verify ++ [{server_name_indication, "a.www.example.test"}, '
                                              '{verify_fun, {VF, []}}, {customize_hostname_check, [{match_fun, Https}]}]')
                                      + ", (fun L(Acc) -> receive {ev, E} -> L([E | Acc]) after 0 -> lists:reverse(Acc) end end)([])",
    "verify_none_ignores_it": _conn("WildPort", '[{verify, verify_none}, {server_name_indication, "x.y"}, '
                                    '{customize_hostname_check, [{match_fun, fun(_, _) -> false end}]}]'),
    "server_ignores_it": "{ok, L} = Mod:listen(0, Srv ++ [{customize_hostname_check, [{match_fun, Https}]}]), "
                         "{ok, {_, P}} = Mod:sockname(L), Self = self(), "
                         "spawn(fun() -> Self ! {c, ssl:connect(\"localhost\", P, Verify, 5000)} end), "
                         "{ok, T} = Mod:transport_accept(L, 5000), {ok, _} = Mod:handshake(T, 5000), Mod:close(L), "
                         "receive {c, {ok, C}} -> ssl:close(C), ok after 5000 -> timeout end",
}


@pytest.mark.parametrize("name", sorted(HOSTNAME_CASES))
def test_customize_hostname_check_same_as_ssl(env, name):
    _, node = env
    same(node, HOSTNAME_CASES[name])


PC = "{ok, IntPem} = file:read_file(IntFile), [{_, IntDer, _}] = public_key:pem_decode(IntPem), "
PARTIAL_CASES = {
    "trusts_the_intermediate": PC + _conn("ChainedPort", '[{verify, verify_peer}, {cacertfile, OtherCa}, '
                                          '{partial_chain, fun(Ders) -> case lists:member(IntDer, Ders) of '
                                          'true -> {trusted_ca, IntDer}; false -> unknown_ca end end}]'),
    "unknown_ca": _conn("ChainedPort", '[{verify, verify_peer}, {cacertfile, OtherCa}, '
                        '{partial_chain, fun(_) -> unknown_ca end}]'),
    "fun_crashes": _conn("ChainedPort", '[{verify, verify_peer}, {cacertfile, OtherCa}, '
                         '{partial_chain, fun(_) -> error(boom) end}]'),
    "fun_crashes_trusted_chain": _conn("ChainedPort", 'Verify ++ [{partial_chain, fun(_) -> error(boom) end}]'),
    "names_a_cert_not_in_chain": "{ok, OPem} = file:read_file(OtherCa), [{_, ODer, _}] = public_key:pem_decode(OPem), "
                                 + _conn("ChainedPort", '[{verify, verify_peer}, {cacertfile, OtherCa}, '
                                         '{partial_chain, fun(_) -> {trusted_ca, ODer} end}]'),
    "bad_answer": _conn("ChainedPort", '[{verify, verify_peer}, {cacertfile, OtherCa}, {partial_chain, fun(_) -> yes end}]'),
    "wrong_arity": _conn("ChainedPort", '[{verify, verify_peer}, {cacertfile, OtherCa}, {partial_chain, fun(_, _) -> yes end}]'),
    "sees_the_path": PC + "Self = self(), "
                     + _conn("ChainedPort", 'Verify ++ [{partial_chain, fun(D) -> Self ! {path, D}, unknown_ca end}]')
                     + ", {ok, CaPem} = file:read_file(CaFile), [{_, CaDer, _}] = public_key:pem_decode(CaPem), "
                       "receive {path, [Ca, Int, _Leaf]} -> {Ca =:= CaDer, Int =:= IntDer} after 0 -> none end",
    "leaf_alone_not_asked": "Self = self(), "
                            + _conn("EchoPort", '[{verify, verify_peer}, {cacertfile, OtherCa}, '
                                    '{partial_chain, fun(D) -> Self ! asked, {trusted_ca, hd(D)} end}]')
                            + ", receive asked -> asked after 0 -> not_asked end",
    "anchor_hidden_from_verify_fun": PC + "Self = self(), VF = fun(_, {extension, _}, St) -> {unknown, St}; "
                                     "(_, E, St) -> Self ! {ev, E}, {valid, St} end, "
                                     + _conn("ChainedPort", '[{verify, verify_peer}, {cacertfile, OtherCa}, {verify_fun, {VF, []}}, '
                                             '{partial_chain, fun(_) -> {trusted_ca, IntDer} end}]')
                                     + ", (fun L(Acc) -> receive {ev, E} -> L([E | Acc]) after 0 -> lists:reverse(Acc) end end)([])",
    "server_trusts_client_intermediate": PC + "{ok, L} = Mod:listen(0, Srv ++ [{verify, verify_peer}, {cacertfile, OtherCa}, "
                                         "{fail_if_no_peer_cert, true}, "
                                         "{partial_chain, fun(_) -> {trusted_ca, IntDer} end}]), "
                                         "{ok, {_, P}} = Mod:sockname(L), Self = self(), "
                                         "spawn(fun() -> Self ! {c, ssl:connect(\"localhost\", P, [{verify, verify_none}, "
                                         "{certfile, ChainedCert}, {keyfile, ChainedKey}], 5000)} end), "
                                         "{ok, T} = Mod:transport_accept(L, 5000), R = Mod:handshake(T, 5000), Mod:close(L), "
                                         "C = receive {c, X} -> X after 5000 -> timeout end, "
                                         "case C of {ok, CS} -> ssl:close(CS); _ -> ok end, "
                                         "{element(1, R), element(1, C)}",
}


@pytest.mark.parametrize("name", sorted(PARTIAL_CASES))
def test_partial_chain_same_as_ssl(env, pki, name):
    _, node = env
    body = PARTIAL_CASES[name]
    if "ChainedCert" in body:
        body = (f'ChainedCert = "{pki.chained_server.cert_path}", ChainedKey = "{pki.chained_server.key_path}", '
                + body)
    same(node, body)
