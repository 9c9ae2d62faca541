"""The ssl service: the same calls on ``ssl`` and ``pyssl`` in one Erlang node must agree.

Every scenario is an Erlang body using ``Mod``; it runs once with ``Mod = ssl``
(the BEAM's own TLS) and once with ``Mod = pyssl`` (TLS in the bridge), and the
normalised results (``pyssl_test_loop:norm/1``) are compared with ``=:=``. The
peer is always the BEAM's own ssl, so only the side under test changes.
"""
import pytest

from bridge.etf import Atom

from bridgenode import BridgeThread
from conftest import unique
from erlnode import ErlNode
from sslcompare import both, same  # noqa: F401

A = Atom


def service_set_up(bridge_name: str, p) -> str:
    """What the scenarios need on the node: ssl and pyssl (pointed at ``bridge_name``)
    started, the certificate bindings and the BEAM ssl servers they connect to. Also
    test_tls_dist's, which runs them through a TLS distribution link."""
    return f"""
        ok = ssl:start(), application:set_env(pyssl, bridge_node, '{bridge_name}'), ok = pyssl:start(),
        CaFile = "{p.ca.cert_path}", OtherCa = "{p.other_ca.cert_path}", EcCa = "{p.ec_ca.cert_path}",
        Srv = [{{certfile, "{p.server.cert_path}"}}, {{keyfile, "{p.server.key_path}"}}],
        ClientCert = [{{certfile, "{p.client.cert_path}"}}, {{keyfile, "{p.client.key_path}"}}],
        Verify = [{{verify, verify_peer}}, {{cacertfile, CaFile}}],
        EchoPort = pyssl_test_loop:server(Srv, fun pyssl_test_loop:echo/1),
        ByePort = pyssl_test_loop:server(Srv, fun(S) -> pyssl_test_loop:close_after(S, <<"bye">>) end),
        SilentPort = pyssl_test_loop:server(Srv, fun(S) -> receive after 20000 -> ssl:close(S) end end),
        EcPort = pyssl_test_loop:server([{{certfile, "{p.ec_server.cert_path}"}}, {{keyfile, "{p.ec_server.key_path}"}}],
                                        fun pyssl_test_loop:echo/1),
        WrongHostCert = "{p.wrong_host.cert_path}", WrongHostKey = "{p.wrong_host.key_path}",
        ExpiredPort = pyssl_test_loop:server([{{certfile, "{p.expired.cert_path}"}}, {{keyfile, "{p.expired.key_path}"}}],
                                             fun pyssl_test_loop:echo/1),
        WrongHostPort = pyssl_test_loop:server([{{certfile, "{p.wrong_host.cert_path}"}}, {{keyfile, "{p.wrong_host.key_path}"}}],
                                               fun pyssl_test_loop:echo/1),
        ChainedPort = pyssl_test_loop:server([{{certfile, "{p.chained_server.cert_path}"}}, {{keyfile, "{p.chained_server.key_path}"}}],
                                             fun pyssl_test_loop:echo/1),
        CriticalPort = pyssl_test_loop:server([{{certfile, "{p.critical.cert_path}"}}, {{keyfile, "{p.critical.key_path}"}}],
                                              fun pyssl_test_loop:echo/1),
        ok"""


@pytest.fixture(scope="module")
def env(cookie, pki):
    bridge = BridgeThread(unique("bridge"), cookie)
    node = ErlNode(unique("erl"), cookie)
    node.eval(service_set_up(bridge.name, pki))
    yield bridge, node
    node.stop()
    bridge.stop()


CONNECT = "{ok, S} = Mod:connect(\"localhost\", EchoPort, Verify ++ Opts)"

SCENARIOS = {
    # --- client side, data ---------------------------------------------------------
    "active_list_echo": f"Opts = [], {CONNECT}, ok = Mod:send(S, \"hello\"), "
                        "R = receive {ssl, S, D} -> D after 5000 -> timeout end, Mod:close(S), R",
    "active_binary_echo": f"Opts = [binary], {CONNECT}, ok = Mod:send(S, [<<\"he\">>, $l, \"lo\"]), "
                          "R = receive {ssl, S, D} -> D after 5000 -> timeout end, Mod:close(S), R",
    "passive_exact_length": f"Opts = [{{active, false}}, binary], {CONNECT}, ok = Mod:send(S, <<\"0123456789\">>), "
                            "R = [Mod:recv(S, 4, 5000), Mod:recv(S, 6, 5000)], Mod:close(S), R",
    "passive_recv_timeout": "{ok, S} = Mod:connect(\"localhost\", SilentPort, Verify ++ [{active, false}]), "
                            "R = Mod:recv(S, 0, 200), Mod:close(S), R",
    # a recv answered in time leaves the socket's timer armed for its deadline (the
    # bridge keeps one per socket): a later recv with a shorter timeout still times
    # out on its own, long before that deadline (the bound only catches a timeout
    # that waited for the 10 s one)
    "recv_timeouts_in_turn": f"Opts = [{{active, false}}, binary], {CONNECT}, "
                             "ok = Mod:send(S, <<\"a\">>), R1 = Mod:recv(S, 0, 10000), "
                             "T0 = erlang:monotonic_time(millisecond), R2 = Mod:recv(S, 0, 150), "
                             "T1 = erlang:monotonic_time(millisecond), "
                             "ok = Mod:send(S, <<\"b\">>), R3 = Mod:recv(S, 0, 5000), R4 = Mod:recv(S, 0, 100), "
                             "R5 = Mod:recv(S, 0, 100), Mod:close(S), {R1, R2, T1 - T0 < 5000, R3, R4, R5}",
    "recv_bad_length": "{ok, S} = Mod:connect(\"localhost\", SilentPort, Verify ++ [{active, false}]), "
                       "R = [Mod:recv(S, -1, 100), Mod:recv(S, foo, 100), catch Mod:recv(S, 0, -1)], Mod:close(S), "
                       "{ok, S2} = Mod:connect(\"localhost\", SilentPort, Verify), R2 = Mod:recv(S2, -1, 100), Mod:close(S2), "
                       "{[case X of {'EXIT', {E, _}} -> E; _ -> X end || X <- R], R2}",
    "recv_on_active_is_einval": f"Opts = [], {CONNECT}, R = Mod:recv(S, 0, 100), Mod:close(S), R",
    "active_once": f"Opts = [{{active, once}}, binary, {{packet, 2}}], {CONNECT}, "
                   "ok = Mod:send(S, <<\"a\">>), ok = Mod:send(S, <<\"b\">>), "
                   "M1 = receive {ssl, S, D1} -> D1 after 5000 -> timeout end, "
                   "M2 = receive {ssl, S, D2} -> D2 after 300 -> nothing end, "
                   "{ok, [{active, A1}]} = Mod:getopts(S, [active]), ok = Mod:setopts(S, [{active, once}]), "
                   "M3 = receive {ssl, S, D3} -> D3 after 5000 -> timeout end, Mod:close(S), [M1, M2, A1, M3]",
    "active_n_passive_message": f"Opts = [{{active, 2}}, binary, {{packet, 1}}], {CONNECT}, "
                                "[ok = Mod:send(S, <<X>>) || X <- [1, 2, 3]], "
                                "Ms = [receive {ssl, S, D} -> D after 5000 -> timeout end || _ <- [1, 2]], "
                                "P = receive {ssl_passive, S} -> passive after 5000 -> no_passive end, "
                                "{ok, [{active, A1}]} = Mod:getopts(S, [active]), "
                                "ok = Mod:setopts(S, [{active, 1}]), "
                                "M3 = receive {ssl, S, D3} -> D3 after 5000 -> timeout end, "
                                "P2 = receive {ssl_passive, S} -> passive after 5000 -> no_passive end, "
                                "Mod:close(S), [Ms, P, A1, M3, P2]",
    "packet_line": f"Opts = [{{packet, line}}, {{active, false}}], {CONNECT}, ok = Mod:send(S, \"one\\ntwo\\nthr\"), "
                   "R = [Mod:recv(S, 0, 5000), Mod:recv(S, 0, 5000), Mod:recv(S, 0, 300)], Mod:close(S), R",
    "packet_4_big": f"Opts = [{{packet, 4}}, {{active, false}}, binary], {CONNECT}, B = crypto:strong_rand_bytes(300000), "
                    "ok = Mod:send(S, B), {ok, B2} = Mod:recv(S, 0, 10000), Mod:close(S), B =:= B2",
    "header_mode": f"Opts = [binary, {{header, 2}}], {CONNECT}, ok = Mod:send(S, <<1, 2, 3, 4>>), "
                   "R = receive {ssl, S, D} -> D after 5000 -> timeout end, Mod:close(S), R",
    "packet_too_large_on_send": f"Opts = [{{packet, 1}}], {CONNECT}, R = Mod:send(S, lists:duplicate(300, $a)), Mod:close(S), R",
    "invalid_packet_passive": f"Opts = [{{packet, raw}}, {{active, false}}, binary], {CONNECT}, "
                              "ok = Mod:send(S, <<0, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10>>), timer:sleep(300), "
                              "R1 = Mod:setopts(S, [{packet, 2}, {packet_size, 4}]), R2 = Mod:recv(S, 0, 2000), Mod:close(S), "
                              "[R1, R2]",
    "getopts_defaults": f"Opts = [], {CONNECT}, R = Mod:getopts(S, [mode, active, packet, header, packet_size]), Mod:close(S), R",
    "setopts_bad_value": f"Opts = [], {CONNECT}, R = [Mod:setopts(S, [{{active, maybe}}]), Mod:setopts(S, [{{mode, foo}}])], Mod:close(S), R",
    "getopts_unknown": f"Opts = [], {CONNECT}, R = Mod:getopts(S, [nosuchopt]), Mod:close(S), R",
    "calls_after_close": f"Opts = [], {CONNECT}, ok = Mod:close(S), "
                         "[Mod:send(S, \"x\"), Mod:recv(S, 0, 100), Mod:close(S), Mod:getopts(S, [mode]), "
                         "Mod:setopts(S, [{active, false}]), Mod:peername(S), Mod:shutdown(S, write), "
                         "Mod:connection_information(S), Mod:controlling_process(S, self())]",
    "peer_close_active": "{ok, S} = Mod:connect(\"localhost\", ByePort, Verify), "
                         "R1 = receive {ssl, S, D} -> D after 5000 -> timeout end, "
                         "R2 = receive {ssl_closed, S} -> closed after 5000 -> timeout end, [R1, R2]",
    "peer_close_passive": "{ok, S} = Mod:connect(\"localhost\", ByePort, Verify ++ [{active, false}]), timer:sleep(300), "
                          "R = [Mod:recv(S, 0, 5000), Mod:recv(S, 0, 1000)], "
                          "Left = receive Msg -> Msg after 200 -> none end, Mod:close(S), [R, Left]",
    "peer_close_short_exact_recv": "{ok, S} = Mod:connect(\"localhost\", ByePort, Verify ++ [{active, false}]), timer:sleep(300), "
                                   "R = [Mod:recv(S, 10, 5000), Mod:recv(S, 0, 1000)], Mod:close(S), R",
    "peer_close_partial_exact_recv": "{ok, S} = Mod:connect(\"localhost\", ByePort, Verify ++ [{active, false}]), timer:sleep(300), "
                                     "R = [Mod:recv(S, 2, 5000), Mod:recv(S, 2, 5000), Mod:recv(S, 0, 1000)], Mod:close(S), R",
    "controlling_process_handover": f"Opts = [], {CONNECT}, Self = self(), "
                                    "P = spawn(fun() -> receive {ssl, _, D} -> Self ! {got, D} after 5000 -> Self ! none end end), "
                                    "ok = Mod:controlling_process(S, P), ok = Mod:send(S, \"x\"), "
                                    "R = receive {got, D} -> D; none -> none after 5000 -> timeout end, Mod:close(S), R",
    "peername": f"Opts = [], {CONNECT}, {{ok, {{Ip, P}}}} = Mod:peername(S), Mod:close(S), {{Ip, P =:= EchoPort}}",
    "sockname_shape": f"Opts = [], {CONNECT}, {{ok, {{Ip, P}}}} = Mod:sockname(S), Mod:close(S), {{Ip, is_integer(P)}}",
    "peercert": f"Opts = [], {CONNECT}, {{ok, C}} = Mod:peercert(S), Mod:close(S), "
                "element(1, public_key:pkix_decode_cert(C, otp))",
    "no_alpn": f"Opts = [], {CONNECT}, R = Mod:negotiated_protocol(S), Mod:close(S), R",
    "connection_information_tls12": f"Opts = [{{versions, ['tlsv1.2']}}], {CONNECT}, "
                                    "R = Mod:connection_information(S, [protocol, selected_cipher_suite]), Mod:close(S), R",
    "connection_information_tls13": f"Opts = [], {CONNECT}, R = Mod:connection_information(S, [protocol, selected_cipher_suite]), "
                                    "Mod:close(S), R",
    "ecdsa_server": "{ok, S} = Mod:connect(\"localhost\", EcPort, [{verify, verify_peer}, {cacertfile, EcCa}, binary]), "
                    "ok = Mod:send(S, <<\"ec\">>), R = receive {ssl, S, D} -> D after 5000 -> timeout end, Mod:close(S), R",
    "shutdown_write_keeps_reading": f"Opts = [{{exit_on_close, false}}, {{active, false}}, binary], {CONNECT}, "
                                    "ok = Mod:send(S, <<\"x\">>), {ok, <<\"x\">>} = Mod:recv(S, 0, 5000), "
                                    "R = Mod:shutdown(S, write), Mod:close(S), R",
    "alpn_negotiated": "Port = pyssl_test_loop:server(Srv ++ [{alpn_preferred_protocols, [<<\"h2\">>, <<\"http/1.1\">>]}], "
                       "fun pyssl_test_loop:echo/1), {ok, S} = Mod:connect(\"localhost\", Port, Verify ++ "
                       "[{alpn_advertised_protocols, [<<\"http/1.1\">>]}]), R = Mod:negotiated_protocol(S), Mod:close(S), R",
    # --- verification --------------------------------------------------------------
    "unknown_ca": "Mod:connect(\"localhost\", EchoPort, [{verify, verify_peer}, {cacertfile, OtherCa}])",
    "expired_cert": "Mod:connect(\"localhost\", ExpiredPort, Verify)",
    "hostname_mismatch": "Mod:connect(\"localhost\", WrongHostPort, Verify)",
    "hostname_mismatch_verify_none": "{ok, S} = Mod:connect(\"localhost\", WrongHostPort, [{verify, verify_none}]), Mod:close(S)",
    "unknown_critical_extension": "Mod:connect(\"localhost\", CriticalPort, Verify)",
    "missing_cacertfile": "Mod:connect(\"localhost\", EchoPort, [{verify, verify_peer}, {cacertfile, \"/nonexistent/ca.pem\"}])",
    "verify_peer_without_ca": "Mod:connect(\"localhost\", EchoPort, [{verify, verify_peer}])",
    "version_mismatch": "Port = pyssl_test_loop:server(Srv ++ [{versions, ['tlsv1.3']}], fun pyssl_test_loop:echo/1), "
                        "Mod:connect(\"localhost\", Port, Verify ++ [{versions, ['tlsv1.2']}])",
    # --- errors before any TLS -------------------------------------------------------
    "econnrefused": "{ok, L} = gen_tcp:listen(0, []), {ok, P} = inet:port(L), gen_tcp:close(L), "
                    "Mod:connect(\"localhost\", P, [])",
    # gen_tcp resolves a name for the socket's family only (inet unless inet6), and
    # an address string of the other family is no name: nxdomain (bridge.service.resolve)
    "connect_inet6_name_of_ipv4_host": "Mod:connect(\"localhost\", EchoPort, [inet6, {verify, verify_none}])",
    "connect_ipv6_string_on_inet": "Mod:connect(\"::1\", EchoPort, [{verify, verify_none}])",
    "connect_ipv4_string_on_inet6": "Mod:connect(\"127.0.0.1\", EchoPort, [inet6, {verify, verify_none}])",
    "connect_ipv4_name_to_ipv6_only_server": "Port = pyssl_test_loop:server(Srv ++ [inet6, {ip, {0,0,0,0,0,0,0,1}}], "
                                             "fun pyssl_test_loop:echo/1), "
                                             "Mod:connect(\"localhost\", Port, [{verify, verify_none}])",
    "connect_ipv6_tuple_and_string": "Port = pyssl_test_loop:server(Srv ++ [inet6, {ip, {0,0,0,0,0,0,0,1}}], "
                                     "fun pyssl_test_loop:echo/1), "
                                     "[begin {ok, S} = Mod:connect(H, Port, O ++ [{verify, verify_none}, {active, false}]), "
                                     "ok = Mod:send(S, <<\"v6\">>), {ok, D} = Mod:recv(S, 0, 5000), "
                                     "{ok, {Ip, _}} = Mod:peername(S), Mod:close(S), {D, Ip} end "
                                     "|| {H, O} <- [{{0,0,0,0,0,0,0,1}, []}, {\"::1\", [inet6]}]]",
    "bad_verify_option": "Mod:connect(\"localhost\", EchoPort, [{verify, foo}])",
    "bad_depth_option": "Mod:connect(\"localhost\", EchoPort, [{depth, -1}])",
    "sslv3_refused": "Mod:connect(\"localhost\", EchoPort, [{versions, [sslv3]}])",
    "not_a_tuple_option": "Mod:connect(\"localhost\", EchoPort, [foo])",
    "unknown_socket_option": "Mod:connect(\"localhost\", EchoPort, [{nosuchoption, 1}])",
    "connect_timeout": "{ok, L} = gen_tcp:listen(0, []), {ok, P} = inet:port(L), "
                       "R = Mod:connect(\"localhost\", P, [], 300), gen_tcp:close(L), R",
    "listen_nooptions": "Mod:listen(0, [])",
    "close_2_bad_how": f"Opts = [], {CONNECT}, "
                       "R = [try Mod:close(S, H) of V -> V catch C:E -> {C, E} end || H <- [foo, -1, {self(), foo}, {foo, 1}]], "
                       "{R, Mod:close(S, 100)}",
    "tls13_ccm_suites": "[begin Suite = #{key_exchange => any, cipher => C, mac => aead, prf => sha256}, "
                        "{ok, S} = Mod:connect(\"localhost\", EchoPort, Verify ++ [{versions, ['tlsv1.3']}, {ciphers, [Suite]}]), "
                        "R = Mod:connection_information(S, [selected_cipher_suite]), Mod:close(S), R end "
                        "|| C <- [aes_128_ccm, aes_128_ccm_8]]",
    "os_options_client": "[begin {ok, S} = Mod:connect(\"localhost\", EchoPort, Verify ++ O), "
                         "R = Mod:getopts(S, [nodelay, keepalive, tos]), Mod:close(S), R end "
                         "|| O <- [[], [{nodelay, true}], [{keepalive, true}, {tos, 16}]]]",
    "os_options_server": "[begin {ok, L} = Mod:listen(0, Srv ++ O), {ok, {_, P}} = Mod:sockname(L), "
                         "spawn(fun() -> {ok, C} = ssl:connect(\"localhost\", P, [], 5000), timer:sleep(1000), ssl:close(C) end), "
                         "{ok, T} = Mod:transport_accept(L, 5000), {ok, S} = Mod:handshake(T, 5000), "
                         "R = Mod:getopts(S, [nodelay, keepalive]), Mod:close(S), Mod:close(L), R end "
                         "|| O <- [[], [{nodelay, true}, {keepalive, true}]]]",
    # a peer that is not TLS: OTP's record layer names the first bad header
    "connect_non_tls_peers": "[begin {ok, L} = gen_tcp:listen(0, [binary, {active, false}, {ip, {127, 0, 0, 1}}]), "
                             "{ok, P} = inet:port(L), "
                             "spawn(fun() -> {ok, A} = gen_tcp:accept(L, 5000), _ = gen_tcp:recv(A, 0, 5000), "
                             "gen_tcp:send(A, Garbage), timer:sleep(2000), gen_tcp:close(A) end), "
                             "R = Mod:connect(\"localhost\", P, [{verify, verify_none}], 5000), gen_tcp:close(L), R end "
                             "|| Garbage <- [<<\"HTTP/1.0 400 Bad Request\\r\\n\\r\\n\">>, <<22, 3, 7, 0, 5, 1, 2, 3, 4, 5>>, "
                             "<<22, 2, 0, 0, 5, 1, 2, 3, 4, 5>>, <<22, 3, 3, 255, 255, 0>>, <<24, 3, 3, 0, 1, 0>>]]",
    "server_non_tls_client": "{ok, L} = Mod:listen(0, Srv), {ok, {_, P}} = Mod:sockname(L), "
                             "spawn(fun() -> {ok, C} = gen_tcp:connect(\"localhost\", P, [binary, {active, false}]), "
                             "gen_tcp:send(C, <<\"GET / HTTP/1.0\\r\\n\\r\\n\">>), timer:sleep(2000), gen_tcp:close(C) end), "
                             "{ok, T} = Mod:transport_accept(L, 5000), R = Mod:handshake(T, 5000), Mod:close(L), R",
    # gen_tcp's own refusals, as ssl reports them: einval → socket_options, no clause → cb_info
    "connect_bad_ports": "[Mod:connect(\"localhost\", P, [{nodelay, true}, {verify, verify_none}, {keepalive, true}], 2000) "
                         "|| P <- [70000, -1, 65536, nosuchservice, true, <<\"80\">>, 1.0, \"80\", {80}]]",
    "connect_bad_hosts": "[Mod:connect(H, EchoPort, [{verify, verify_none}, {reuseaddr, true}], 2000) "
                         "|| H <- [{1, 2, 3}, 123, \"a b\", \"\", [300], [0], {300, 0, 0, 1}, {127, 0, 0, 1.0}, "
                         "<<\"localhost\">>, {local, \"/tmp/x\"}, 'no.such.host.invalid', \"no.such.host.invalid\"]]",
    "connect_bad_port_bad_option": "Mod:connect(\"localhost\", 70000, [{verify, foo}], 2000)",
    "listen_bad_ports": "[try Mod:listen(P, Srv) of R -> {returned, R} catch C:E -> {C, E} end "
                        "|| P <- [70000, -1, nosuchservice, 1.0, \"80\", <<\"1\">>]]",
    "listen_bad_port_bad_option": "Mod:listen(70000, [{verify, foo} | Srv])",
    "incompatible_options": "Mod:listen(0, Srv ++ [{verify, verify_none}, {fail_if_no_peer_cert, true}])",
    # --- server side ----------------------------------------------------------------------
    "server_accept_echo": "{ok, L} = Mod:listen(0, Srv ++ [{active, false}, binary]), {ok, {_, P}} = Mod:sockname(L), "
                          "Self = self(), spawn(fun() -> {ok, C} = ssl:connect(\"localhost\", P, Verify ++ [binary]), "
                          "ssl:send(C, <<\"ping\">>), receive {ssl, C, D} -> Self ! {client, D} after 5000 -> Self ! {client, timeout} end, ssl:close(C) end), "
                          "{ok, T} = Mod:transport_accept(L, 5000), {ok, S} = Mod:handshake(T, 5000), {ok, D} = Mod:recv(S, 0, 5000), "
                          "ok = Mod:send(S, [D, <<\"!\">>]), R = receive {client, X} -> X after 5000 -> timeout end, "
                          "Mod:close(S), Mod:close(L), {D, R}",
    "transport_accept_timeout": "{ok, L} = Mod:listen(0, Srv), R = Mod:transport_accept(L, 200), Mod:close(L), R",
    "listen_socket_enotconn": "{ok, L} = Mod:listen(0, Srv), R = [Mod:send(L, \"x\"), Mod:recv(L, 0), Mod:peercert(L), "
                              "Mod:connection_information(L), Mod:shutdown(L, write), Mod:peername(L)], Mod:close(L), R",
    "listen_getopts": "{ok, L} = Mod:listen(0, Srv ++ [{active, false}, binary]), R = Mod:getopts(L, [active, mode]), Mod:close(L), R",
    "server_missing_certfile": "{ok, L} = Mod:listen(0, [{certfile, \"/nonexistent/cert.pem\"}]), {ok, {_, P}} = Mod:sockname(L), "
                               "Self = self(), spawn(fun() -> Self ! {client, ssl:connect(\"localhost\", P, [], 5000)} end), "
                               "{ok, T} = Mod:transport_accept(L, 5000), R = Mod:handshake(T, 5000), "
                               "C = receive {client, X} -> X after 5000 -> timeout end, Mod:close(L), {R, C}",
    "server_requires_client_cert_tls12": "{ok, L} = Mod:listen(0, Srv ++ Verify ++ [{fail_if_no_peer_cert, true}, {versions, ['tlsv1.2']}]), "
                                         "{ok, {_, P}} = Mod:sockname(L), Self = self(), "
                                         "spawn(fun() -> Self ! {client, ssl:connect(\"localhost\", P, [{versions, ['tlsv1.2']}], 5000)} end), "
                                         "{ok, T} = Mod:transport_accept(L, 5000), R = Mod:handshake(T, 5000), "
                                         "C = receive {client, X} -> X after 5000 -> timeout end, Mod:close(L), {R, C}",
    "server_client_cert_accepted": "{ok, L} = Mod:listen(0, Srv ++ Verify ++ [{fail_if_no_peer_cert, true}]), "
                                   "{ok, {_, P}} = Mod:sockname(L), "
                                   "spawn(fun() -> {ok, C} = ssl:connect(\"localhost\", P, Verify ++ ClientCert, 5000), timer:sleep(500), ssl:close(C) end), "
                                   "{ok, T} = Mod:transport_accept(L, 5000), {ok, S} = Mod:handshake(T, 5000), "
                                   "{ok, Der} = Mod:peercert(S), Mod:close(L), "
                                   "element(1, public_key:pkix_decode_cert(Der, otp))",
    "listen_port_in_use": "{ok, L} = gen_tcp:listen(0, [{reuseaddr, false}]), {ok, P} = inet:port(L), "
                          "R = Mod:listen(P, Srv ++ [{reuseaddr, false}]), gen_tcp:close(L), R",
    # --- misc -------------------------------------------------------------------------------
    "format_error_closed": "Mod:format_error(closed)",
    "format_error_posix": "Mod:format_error(econnrefused)",
    "format_error_options": "Mod:format_error({options, {verify, foo}})",
    "format_error_other": "Mod:format_error({foo, bar})",
}


PSK = ("Self = self(), Key = <<\"0123456789abcdef\">>, "
       "Suite = #{key_exchange => psk, cipher => aes_128_gcm, mac => aead, prf => sha256}, "
       "Lookup = fun(Who, K) -> fun(psk, Id, St) -> Self ! {looked_up, Who, Id, St}, {ok, K} end end, "
       "Seen = fun() -> lists:sort((fun F(Acc) -> receive {looked_up, W, I, St} -> F([{W, I, St} | Acc]) "
       "after 300 -> Acc end end)([])) end, ")

# --- verify_fun: the caller's fun runs during the handshake ----------------------------------
# VF reports every event to the calling process and accepts everything.
VF = ("Self = self(), "
      "VF = fun(_, {extension, _}, St) -> {unknown, St}; (_, E, St) -> Self ! {ev, E}, {valid, St} end, "
      "Evs = fun Loop(Acc) -> receive {ev, E} -> Loop([E | Acc]) after 0 -> lists:reverse(Acc) end end, ")


def _vf_connect(port: str, opts: str, then: str = "") -> str:
    return (VF + f"R = case Mod:connect(\"localhost\", {port}, {opts}, 5000) of "
            "{ok, S} -> ok = Mod:send(S, <<\"x\">>), X = receive {ssl, S, D} -> D after 5000 -> timeout end, "
            f"{then} Mod:close(S), {{ok, X}}; Err -> Err end, {{R, Evs([])}}")


SCENARIOS.update({
    "verify_fun_accepts_unknown_ca": _vf_connect("EchoPort", "[{verify, verify_peer}, {cacertfile, OtherCa}, {verify_fun, {VF, []}}]"),
    "verify_fun_events_trusted": _vf_connect("EchoPort", "[{verify, verify_peer}, {cacertfile, CaFile}, {verify_fun, {VF, []}}]"),
    "verify_fun_events_chain": _vf_connect("ChainedPort", "[{verify, verify_peer}, {cacertfile, CaFile}, {verify_fun, {VF, []}}]"),
    "verify_fun_events_expired": _vf_connect("ExpiredPort", "[{verify, verify_peer}, {cacertfile, CaFile}, {verify_fun, {VF, []}}]"),
    "verify_fun_events_hostname": _vf_connect("WrongHostPort", "[{verify, verify_peer}, {cacertfile, CaFile}, {verify_fun, {VF, []}}]"),
    "verify_fun_under_verify_none": _vf_connect("EchoPort", "[{verify, verify_none}, {cacertfile, OtherCa}, {verify_fun, {VF, []}}]"),
    "verify_fun_fail_valid_peer": "Fun = fun(_, valid_peer, _) -> {fail, not_this_one}; (_, _, St) -> {valid, St} end, "
                                  "Mod:connect(\"localhost\", EchoPort, Verify ++ [{verify_fun, {Fun, []}}], 5000)",
    "verify_fun_fail_bad_cert": "Fun = fun(_, {bad_cert, _} = R, _) -> {fail, R}; (_, _, St) -> {valid, St} end, "
                                "[Mod:connect(\"localhost\", P, Verify ++ [{verify_fun, {Fun, []}}], 5000) "
                                "|| P <- [ExpiredPort, WrongHostPort]]",
    "verify_fun_unknown_on_bad_cert": "Fun = fun(_, {bad_cert, _}, St) -> {unknown, St}; (_, _, St) -> {valid, St} end, "
                                      "Mod:connect(\"localhost\", ExpiredPort, Verify ++ [{verify_fun, {Fun, []}}], 5000)",
    "verify_fun_state_threads": "Self = self(), Fun = fun(_, E, N) -> Self ! {n, E, N}, {valid, N + 1} end, "
                                "{ok, S} = Mod:connect(\"localhost\", ChainedPort, Verify ++ [{verify_fun, {Fun, 10}}], 5000), "
                                "Mod:close(S), Ns = fun L(Acc) -> receive {n, E, N} -> L([{E, N} | Acc]) after 0 -> lists:reverse(Acc) end end, "
                                "Ns([])",
    "verify_fun_arity_4_gets_der": "Self = self(), Fun = fun(_, Der, valid_peer, St) -> Self ! {der, Der}, {valid, St}; "
                                   "(_, _, _, St) -> {valid, St} end, "
                                   "{ok, S} = Mod:connect(\"localhost\", EchoPort, Verify ++ [{verify_fun, {Fun, []}}], 5000), "
                                   "{ok, Peer} = Mod:peercert(S), Mod:close(S), receive {der, D} -> D =:= Peer after 0 -> none end",
    "verify_fun_crashes": "Fun = fun(_, _, _) -> erlang:error(boom) end, "
                          "Mod:connect(\"localhost\", EchoPort, Verify ++ [{verify_fun, {Fun, []}}], 5000)",
    "verify_fun_bad_answer": "Fun = fun(_, _, _) -> what end, "
                             "Mod:connect(\"localhost\", EchoPort, Verify ++ [{verify_fun, {Fun, []}}], 5000)",
    "verify_fun_fail_other_reason_server": "Fun = fun(_, valid_peer, _) -> {fail, {nope, 1}}; (_, _, St) -> {valid, St} end, "
                                           "{ok, L} = Mod:listen(0, Srv ++ [{verify, verify_peer}, {cacertfile, CaFile}, "
                                           "{verify_fun, {Fun, []}}, {versions, ['tlsv1.2']}]), {ok, {_, P}} = Mod:sockname(L), "
                                           "Self = self(), spawn(fun() -> Self ! {c, ssl:connect(\"localhost\", P, Verify ++ ClientCert "
                                           "++ [{versions, ['tlsv1.2']}], 5000)} end), "
                                           "{ok, T} = Mod:transport_accept(L, 5000), R = Mod:handshake(T, 5000), Mod:close(L), "
                                           "{R, receive {c, C} -> C after 5000 -> timeout end}",
    "verify_fun_legacy_one_arity": "Self = self(), Fun = fun(Errs) -> Self ! {errs, Errs}, true end, "
                                   "{ok, S} = Mod:connect(\"localhost\", ExpiredPort, Verify ++ [{verify_fun, Fun}], 5000), "
                                   "Mod:close(S), receive {errs, E} -> E after 0 -> none end",
    "verify_fun_legacy_refuses": "Mod:connect(\"localhost\", ExpiredPort, Verify ++ [{verify_fun, fun(Errs) -> not is_list(Errs) end}], 5000)",
    # HTTP packet types: decoded terms, request line then headers then http_eoh
    "http_packet_passive": f"Opts = [{{active, false}}, {{packet, http_bin}}], {CONNECT}, "
                           "ok = Mod:send(S, <<\"GET /a?b HTTP/1.1\\r\\nHost: x\\r\\nX-Odd-Name: z\\r\\n\\r\\n\">>), "
                           "R = [Mod:recv(S, 0, 5000) || _ <- lists:seq(1, 4)], "
                           "O = Mod:getopts(S, [packet]), Mod:close(S), {R, O}",
    "http_packet_active_list": f"Opts = [{{packet, http}}], {CONNECT}, "
                               "ok = Mod:send(S, \"HTTP/1.0 404 Not Found\\r\\nContent-Length: 0\\r\\n\\r\\nbad line\\r\\n\"), "
                               "R = [receive {ssl, S, D} -> D after 5000 -> timeout end || _ <- lists:seq(1, 4)], "
                               "Mod:close(S), R",
    "http_packet_then_raw_body": f"Opts = [{{active, false}}, binary, {{packet, http_bin}}], {CONNECT}, "
                                 "ok = Mod:send(S, <<\"POST / HTTP/1.1\\r\\nContent-Length: 5\\r\\n\\r\\nhello\">>), "
                                 "R1 = [Mod:recv(S, 0, 5000) || _ <- lists:seq(1, 3)], ok = Mod:setopts(S, [{packet, raw}]), "
                                 "R2 = Mod:recv(S, 5, 5000), Mod:close(S), {R1, R2}",
    "http_packet_too_long": f"Opts = [{{active, false}}, binary, {{packet, httph_bin}}, {{packet_size, 10}}], {CONNECT}, "
                            "ok = Mod:send(S, <<\"X-Very-Long-Header-Name: some value\\r\\n\">>), "
                            "R = Mod:recv(S, 0, 5000), Mod:close(S), R",
    # sni_hosts: the server's certificate follows the name the client sends
    "server_sni_hosts": "{ok, L} = Mod:listen(0, Srv ++ [{active, false}, {sni_hosts, [{\"elsewhere.example\", "
                        "[{certfile, WrongHostCert}, {keyfile, WrongHostKey}]}]}]), {ok, {_, P}} = Mod:sockname(L), "
                        "Self = self(), "
                        "Acc = fun A(0) -> ok; A(N) -> {ok, T} = Mod:transport_accept(L, 5000), "
                        "R = case Mod:handshake(T, 5000) of {ok, S} -> I = Mod:connection_information(S, [sni_hostname]), "
                        "timer:sleep(100), Mod:close(S), I; E -> E end, Self ! {srv, R}, A(N - 1) end, "
                        "spawn(fun() -> Acc(3) end), "
                        "C = [case ssl:connect(\"localhost\", P, Verify ++ O, 5000) of {ok, CS} -> ssl:close(CS), ok; E -> E end "
                        "|| O <- [[{server_name_indication, \"elsewhere.example\"}], [], "
                        "[{server_name_indication, \"unknown.example\"}, {verify, verify_none}]]], "
                        "Srvs = [receive {srv, X} -> X after 5000 -> timeout end || _ <- C], Mod:close(L), {C, Srvs}",
    # PSK (TLS 1.2): keys from user_lookup_fun on each side, identities and hints passed on
    "psk_client": PSK + "{ok, L} = ssl:listen(0, [{versions, ['tlsv1.2']}, {ciphers, [Suite]}, {active, false}, "
                  "{user_lookup_fun, {Lookup(srv, Key), x}}, {psk_identity, \"server-hint\"}]), {ok, {_, P}} = ssl:sockname(L), "
                  "spawn(fun() -> {ok, T} = ssl:transport_accept(L, 5000), R = ssl:handshake(T, 5000), "
                  "case R of {ok, S} -> {ok, D} = ssl:recv(S, 0, 5000), ssl:send(S, D), timer:sleep(200), ssl:close(S); _ -> ok end, "
                  "Self ! {done, element(1, R)} end), "
                  "R = [case Mod:connect(\"localhost\", P, [{versions, ['tlsv1.2']}, {ciphers, [Suite]}, {active, false}, "
                  "{psk_identity, \"client-1\"}, {user_lookup_fun, {Lookup(cli, CliKey), y}}], 5000) of "
                  "{ok, C} -> ok = Mod:send(C, <<\"psk!\">>), X = Mod:recv(C, 0, 5000), "
                  "I = Mod:connection_information(C, [selected_cipher_suite]), Mod:close(C), {X, I}; E -> E end "
                  "|| CliKey <- [Key]], ssl:close(L), {R, Seen()}",
    "psk_server": PSK + "{ok, L} = Mod:listen(0, [{versions, ['tlsv1.2']}, {ciphers, [Suite]}, {active, false}, "
                  "{user_lookup_fun, {Lookup(srv, Key), x}}, {psk_identity, \"server-hint\"}]), {ok, {_, P}} = Mod:sockname(L), "
                  "spawn(fun() -> R = ssl:connect(\"localhost\", P, [{versions, ['tlsv1.2']}, {ciphers, [Suite]}, {active, false}, "
                  "{psk_identity, \"client-1\"}, {user_lookup_fun, {Lookup(cli, Key), y}}], 5000), "
                  "case R of {ok, C} -> ok = ssl:send(C, <<\"hi\">>), Self ! {client, ssl:recv(C, 0, 5000)}, ssl:close(C); "
                  "E -> Self ! {client, E} end end), "
                  "{ok, T} = Mod:transport_accept(L, 5000), R = case Mod:handshake(T, 5000) of "
                  "{ok, S} -> {ok, D} = Mod:recv(S, 0, 5000), ok = Mod:send(S, D), timer:sleep(200), Mod:close(S), ok; E -> E end, "
                  "Mod:close(L), {R, receive {client, CR} -> CR after 5000 -> timeout end, Seen()}",
    "psk_server_no_key": PSK + "{ok, L} = Mod:listen(0, [{versions, ['tlsv1.2']}, {ciphers, [Suite]}, {active, false}, "
                         "{user_lookup_fun, {fun(psk, _, _) -> error end, x}}]), {ok, {_, P}} = Mod:sockname(L), "
                         "spawn(fun() -> Self ! {client, ssl:connect(\"localhost\", P, [{versions, ['tlsv1.2']}, {ciphers, [Suite]}, "
                         "{user_lookup_fun, {Lookup(cli, Key), y}}], 5000)} end), "
                         "{ok, T} = Mod:transport_accept(L, 5000), R = Mod:handshake(T, 5000), Mod:close(L), "
                         "{R, receive {client, CR} -> element(1, CR) after 5000 -> timeout end}",
    "psk_client_no_key": PSK + "{ok, L} = ssl:listen(0, [{versions, ['tlsv1.2']}, {ciphers, [Suite]}, {active, false}, "
                         "{user_lookup_fun, {Lookup(srv, Key), x}}]), {ok, {_, P}} = ssl:sockname(L), "
                         "spawn(fun() -> {ok, T} = ssl:transport_accept(L, 5000), Self ! {srv, ssl:handshake(T, 5000)} end), "
                         "R = Mod:connect(\"localhost\", P, [{versions, ['tlsv1.2']}, {ciphers, [Suite]}, "
                         "{user_lookup_fun, {fun(psk, _, _) -> error end, y}}], 5000), "
                         "receive {srv, _} -> ok after 5000 -> ok end, ssl:close(L), R",
    # sni_fun: the listen caller's fun picks the options by name (undefined: keep them)
    "server_sni_fun": "Self = self(), "
                      "SniFun = fun(\"elsewhere.example\" = H) -> Self ! {sni, H}, "
                      "[{certfile, WrongHostCert}, {keyfile, WrongHostKey}]; (H) -> Self ! {sni, H}, undefined end, "
                      "{ok, L} = Mod:listen(0, Srv ++ [{active, false}, {sni_fun, SniFun}]), {ok, {_, P}} = Mod:sockname(L), "
                      "Acc = fun A(0) -> ok; A(N) -> {ok, T} = Mod:transport_accept(L, 5000), "
                      "R = case Mod:handshake(T, 5000) of {ok, S} -> I = Mod:connection_information(S, [sni_hostname]), "
                      "timer:sleep(100), Mod:close(S), I; E -> E end, Self ! {srv, R}, A(N - 1) end, "
                      "spawn(fun() -> Acc(2) end), "
                      "C = [case ssl:connect(\"localhost\", P, Verify ++ O, 5000) of {ok, CS} -> ssl:close(CS), ok; E -> E end "
                      "|| O <- [[{server_name_indication, \"elsewhere.example\"}], [{server_name_indication, \"localhost\"}]]], "
                      "Srvs = [receive {srv, X} -> X after 5000 -> timeout end || _ <- C], "
                      "Names = (fun F(Acc) -> receive {sni, X} -> F([X | Acc]) after 300 -> lists:usort(Acc) end end)([]), "
                      "Mod:close(L), {C, Srvs, Names}",
    "server_sni_fun_crashes": "{ok, L} = Mod:listen(0, Srv ++ [{active, false}, {sni_fun, fun(_) -> erlang:error(boom) end}]), "
                              "{ok, {_, P}} = Mod:sockname(L), Self = self(), "
                              "spawn(fun() -> {ok, T} = Mod:transport_accept(L, 5000), Self ! {srv, Mod:handshake(T, 5000)} end), "
                              "C = ssl:connect(\"localhost\", P, [{verify, verify_none}, {server_name_indication, \"x.example\"}], 5000), "
                              "receive {srv, _} -> ok after 1000 -> ok end, Mod:close(L), C",
    "server_sni_fun_and_hosts_conflict": "Mod:listen(0, Srv ++ [{sni_fun, fun(_) -> undefined end}, "
                                         "{sni_hosts, [{\"a.example\", [{certfile, WrongHostCert}]}]}])",
    "server_verify_fun_accepts_foreign_client":
        VF + "{ok, L} = Mod:listen(0, Srv ++ [{verify, verify_peer}, {cacertfile, OtherCa}, {fail_if_no_peer_cert, true}, "
             "{verify_fun, {VF, []}}, {versions, ['tlsv1.2']}]), {ok, {_, P}} = Mod:sockname(L), "
             "spawn(fun() -> {ok, C} = ssl:connect(\"localhost\", P, Verify ++ ClientCert ++ [{versions, ['tlsv1.2']}], 5000), "
             "timer:sleep(500), ssl:close(C) end), "
             "{ok, T} = Mod:transport_accept(L, 5000), R = Mod:handshake(T, 5000), "
             "case R of {ok, S} -> Mod:close(S); _ -> ok end, Mod:close(L), {element(1, R), Evs([])}",
})


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_same_as_ssl(env, name):
    _bridge, node = env
    same(node, SCENARIOS[name])
