"""``{cb_info, {Mod, DataTag, ClosedTag, ErrTag[, PassiveTag]}}`` with a user's
transport module: the same calls on ``ssl`` and ``pyssl``.

The transport is ``my_tcp`` (tests/support/erl/my_tcp.erl: gen_tcp under the tags
``my_data``, ``my_closed``, ``my_error``, ``my_passive``); it lives on the Erlang
node, where ``pyssl``'s relay drives it. Each scenario runs with ``Mod = ssl`` and
``Mod = pyssl`` in one node against BEAM ssl peers (plain gen_tcp), client and
server roles, and the normalised results must be equal.
"""
import pytest

from bridge.etf import Atom

from sslcompare import same

A = Atom


@pytest.fixture(scope="module")
def env(bridge, pyssl_node, pki):
    """The module's bridge and a node using it (conftest), with this module's bindings."""
    node = pyssl_node
    p = pki
    node.eval(f"""
        CaFile = "{p.ca.cert_path}",
        Srv = [{{certfile, "{p.server.cert_path}"}}, {{keyfile, "{p.server.key_path}"}}],
        Verify = [{{verify, verify_peer}}, {{cacertfile, CaFile}}],
        Cb4 = {{cb_info, {{my_tcp, my_data, my_closed, my_error}}}},
        Cb5 = {{cb_info, {{my_tcp, my_data, my_closed, my_error, my_passive}}}},
        EchoPort = pyssl_test_loop:server(Srv, fun pyssl_test_loop:echo/1),
        %% an ssl client (plain gen_tcp) of a server under test: sends Msg, then
        %% tells the test what it read back
        Client = fun(Port, Msg) -> Self = self(), spawn(fun() ->
            R = case ssl:connect({{127, 0, 0, 1}}, Port, Verify ++ [binary, {{active, false}}], 5000) of
                {{ok, C}} -> ok = ssl:send(C, Msg), X = ssl:recv(C, 0, 5000), ssl:close(C), X;
                E -> E end,
            Self ! {{client, R}} end) end,
        ClientResult = fun() -> receive {{client, R}} -> R after 10000 -> no_client end end,
        Relays = fun() -> [R || {{_, R, _, _}} <- supervisor:which_children(pyssl_relay_sup)] end,
        %% the transport's socket under an ssl socket: ssl's in its sslsocket term, pyssl's
        %% with the relay the connect made
        TransportOf = fun(ssl, {{sslsocket, {{_, T, _, _}}, _}}, _) -> T;
                         (pyssl, _, [Relay]) -> {{_, #{{socket := T}}}} = sys:get_state(Relay), T end,
        ok""")
    return bridge, node


CLIENT = {
    # data both ways in each active mode, the 4-tuple (passive tag made by ssl) and the 5-tuple
    "active_true": "{ok, S} = Mod:connect(\"localhost\", EchoPort, [Cb4, binary | Verify], 5000), "
                   "ok = Mod:send(S, <<\"hello\">>), R = receive {ssl, S, D} -> D after 5000 -> timeout end, "
                   "ok = Mod:close(S), R",
    "active_once_5tuple": "{ok, S} = Mod:connect(\"localhost\", EchoPort, [Cb5, binary, {active, once} | Verify], 5000), "
                          "ok = Mod:send(S, <<\"a\">>), R1 = receive {ssl, S, D1} -> D1 after 5000 -> timeout end, "
                          "ok = Mod:send(S, <<\"b\">>), R2 = receive {ssl, S, _} -> early after 300 -> none end, "
                          "ok = Mod:setopts(S, [{active, once}]), R3 = receive {ssl, S, D3} -> D3 after 5000 -> timeout end, "
                          "Mod:close(S), {R1, R2, R3}",
    "active_n_passive": "{ok, S} = Mod:connect(\"localhost\", EchoPort, [Cb5, binary, {active, 2} | Verify], 5000), "
                        "[begin ok = Mod:send(S, <<I>>), receive {ssl, S, _} -> ok after 5000 -> timeout end end || I <- [1, 2]], "
                        "R = receive {ssl_passive, S} -> passive after 5000 -> timeout end, Mod:close(S), R",
    # many reads: the transport's passive message (the 5-tuple's tag) rearms it
    "passive_recv_big": "{ok, S} = Mod:connect(\"localhost\", EchoPort, [Cb5, binary, {active, false} | Verify], 5000), "
                        "Big = binary:copy(<<\"0123456789abcdef\">>, 16384), ok = Mod:send(S, Big), "
                        "Got = (fun R(Acc) when byte_size(Acc) >= byte_size(Big) -> Acc; "
                        "R(Acc) -> {ok, D} = Mod:recv(S, 0, 5000), R(<<Acc/binary, D/binary>>) end)(<<>>), "
                        "Mod:close(S), Got =:= Big",
    "list_mode_packet": "{ok, S} = Mod:connect(\"localhost\", EchoPort, [Cb4, list, {packet, 2}, {active, false} | Verify], 5000), "
                        "ok = Mod:send(S, \"abc\"), R = Mod:recv(S, 0, 5000), "
                        "O = Mod:getopts(S, [mode, packet, active]), Mod:close(S), {R, O}",
    "peername_sockname": "{ok, S} = Mod:connect(\"localhost\", EchoPort, [Cb4 | Verify], 5000), "
                         "{ok, {PA, PP}} = Mod:peername(S), {ok, {_, LP}} = Mod:sockname(S), Mod:close(S), "
                         "{PA, PP =:= EchoPort, is_integer(LP)}",
    "os_options": "{ok, S} = Mod:connect(\"localhost\", EchoPort, [Cb4, {nodelay, true} | Verify], 5000), "
                  "R1 = Mod:getopts(S, [nodelay, mode]), ok = Mod:setopts(S, [{nodelay, false}]), "
                  "R2 = Mod:getopts(S, [nodelay]), Mod:close(S), {R1, R2}",
    "info_and_close": "{ok, S} = Mod:connect(\"localhost\", EchoPort, [Cb4, {active, false} | Verify], 5000), "
                      "{ok, [{protocol, V}]} = Mod:connection_information(S, [protocol]), "
                      "ok = Mod:close(S), {V, Mod:send(S, <<\"x\">>), Mod:recv(S, 0, 100)}",
    "peer_closes": "{ok, L} = ssl:listen(0, Srv ++ [{reuseaddr, true}]), {ok, {_, P}} = ssl:sockname(L), "
                   "spawn(fun() -> {ok, T} = ssl:transport_accept(L), {ok, A} = ssl:handshake(T), "
                   "ssl:send(A, <<\"bye\">>), timer:sleep(200), ssl:close(A) end), "
                   "{ok, S} = Mod:connect(\"localhost\", P, [Cb4, binary | Verify], 5000), "
                   "R1 = receive {ssl, S, D} -> D after 5000 -> timeout end, "
                   "R2 = receive {ssl_closed, S} -> closed after 5000 -> timeout end, ssl:close(L), {R1, R2}",
    # TLS over a connected socket of the transport (ssl:connect/3 with cb_info)
    "upgrade": "{ok, T} = my_tcp:connect(\"localhost\", EchoPort, [binary, {active, false}, list], 5000), "
               "{ok, S} = Mod:connect(T, [Cb4 | Verify], 5000), ok = Mod:send(S, \"up\"), "
               "R = Mod:recv(S, 0, 5000), O = Mod:getopts(S, [mode, active]), Mod:close(S), {R, O}",
    "upgrade_bad_option_leaves_socket": "{ok, T} = my_tcp:connect(\"localhost\", EchoPort, [binary, {active, false}], 5000), "
                                        "R = Mod:connect(T, [Cb4, {verify, foo}], 5000), "
                                        "{R, my_tcp:send(T, <<\"still plain\">>), my_tcp:close(T)}",
    # close(S, {Pid, T}): TLS ends, the transport's socket comes back (ssl_gen_statem:downgrade/3)
    "downgrade": "{ok, L} = ssl:listen(0, Srv ++ [binary, {reuseaddr, true}, {active, false}]), {ok, {_, LP}} = ssl:sockname(L), "
                 "Srv_ = spawn(fun() -> {ok, T0} = ssl:transport_accept(L), {ok, SS} = ssl:handshake(T0, 5000), "
                 "{ok, <<\"bye\">>} = ssl:recv(SS, 0, 5000), {ok, Raw} = ssl:close(SS, {self(), 5000}), "
                 "ok = gen_tcp:send(Raw, <<\"plain again\">>), receive done -> ok after 10000 -> ok end, "
                 "gen_tcp:close(Raw) end), "
                 "{ok, S} = Mod:connect(\"localhost\", LP, [Cb4, {active, false} | Verify], 5000), "
                 "ok = Mod:send(S, <<\"bye\">>), "
                 "R = case Mod:close(S, {self(), 5000}) of "
                 "{ok, T} -> {ok, D} = my_tcp:recv(T, 0, 5000), {element(1, T), D}; "
                 "{ok, T, D0} -> {element(1, T), D0}; E -> E end, Srv_ ! done, ssl:close(L), R",
    # the transport reports an error ({my_error, S, R}) on an open connection
    "transport_error": "Before = Relays(), "
                       "{ok, S} = Mod:connect(\"localhost\", EchoPort, [Cb4, binary, {active, true} | Verify], 5000), "
                       "ok = my_tcp:inject_error(TransportOf(Mod, S, Relays() -- Before), econnreset), "
                       "receive M -> M after 5000 -> timeout end",
    # errors
    "unknown_ca": "R = Mod:connect(\"localhost\", EchoPort, [Cb4, {verify, verify_peer}, "
                  "{cacertfile, \"" + "@OTHER@" + "\"}], 5000), R",
    "refused": "{ok, L} = gen_tcp:listen(0, []), {ok, P} = inet:port(L), gen_tcp:close(L), "
               "Mod:connect(\"localhost\", P, [Cb4 | Verify], 5000)",
    "bad_port_is_socket_options": "Mod:connect(\"localhost\", foo, [Cb4 | Verify], 5000)",
    "bad_option_first": "Mod:connect(\"localhost\", EchoPort, [Cb4, {verify, foo}], 5000)",
    "bad_cb_info": "Mod:connect(\"localhost\", EchoPort, [{cb_info, {my_tcp, 1, 2, 3}} | Verify], 5000)",
    "module_missing": "try Mod:connect(\"localhost\", EchoPort, [{cb_info, {no_such_mod, d, c, e}} | Verify], 5000) "
                      "of R -> R catch C:E -> {C, if is_tuple(E) -> element(1, E); true -> E end} end",
    "module_without_controlling_process": "try Mod:connect(\"localhost\", EchoPort, "
                                          "[{cb_info, {my_tcp_noport, my_data, my_closed, my_error}} | Verify], 5000) "
                                          "of R -> R catch C:E -> {C, E} end",
    # the transport closes in the middle of the handshake: a plain server that reads the hello and closes
    "closed_mid_handshake": "{ok, L} = gen_tcp:listen(0, [binary, {active, false}]), {ok, P} = inet:port(L), "
                            "spawn(fun() -> {ok, A} = gen_tcp:accept(L), _ = gen_tcp:recv(A, 0, 5000), gen_tcp:close(A) end), "
                            "R = Mod:connect(\"localhost\", P, [Cb4 | Verify], 5000), gen_tcp:close(L), R",
    "timeout": "{ok, L} = gen_tcp:listen(0, [binary, {active, false}]), {ok, P} = inet:port(L), "
               "R = Mod:connect(\"localhost\", P, [Cb4 | Verify], 300), gen_tcp:close(L), R",
}

SERVER = {
    "accept_echo": "{ok, L} = Mod:listen(0, [Cb4, binary, {active, false}, {reuseaddr, true} | Srv]), "
                   "{ok, {_, P}} = Mod:sockname(L), Client(P, <<\"ping\">>), "
                   "{ok, T} = Mod:transport_accept(L, 5000), {ok, S} = Mod:handshake(T, 5000), "
                   "{ok, D} = Mod:recv(S, 0, 5000), ok = Mod:send(S, D), R = ClientResult(), "
                   "Mod:close(S), {Mod:close(L), R}",
    "accept_active_5tuple": "{ok, L} = Mod:listen(0, [Cb5, binary, {active, true}, {reuseaddr, true} | Srv]), "
                            "{ok, {_, P}} = Mod:sockname(L), Client(P, <<\"ping\">>), "
                            "{ok, T} = Mod:transport_accept(L, 5000), {ok, S} = Mod:handshake(T, 5000), "
                            "R1 = receive {ssl, S, D} -> ok = Mod:send(S, D), D after 5000 -> timeout end, "
                            "R2 = ClientResult(), R3 = receive {ssl_closed, S} -> closed after 5000 -> timeout end, "
                            "Mod:close(L), {R1, R2, R3}",
    "accepted_addresses": "{ok, L} = Mod:listen(0, [Cb4, binary, {active, false}, {reuseaddr, true} | Srv]), "
                          "{ok, {_, P}} = Mod:sockname(L), Client(P, <<\"x\">>), "
                          "{ok, T} = Mod:transport_accept(L, 5000), {ok, S} = Mod:handshake(T, 5000), "
                          "{ok, {LA, LP}} = Mod:sockname(S), {ok, {PA, _}} = Mod:peername(S), "
                          "{ok, D} = Mod:recv(S, 0, 5000), ok = Mod:send(S, D), ClientResult(), "
                          "Mod:close(S), Mod:close(L), {LA, LP =:= P, PA}",
    "listen_options": "{ok, L} = Mod:listen(0, [Cb4, list, {active, false}, {reuseaddr, true} | Srv]), "
                      "R1 = Mod:getopts(L, [mode, active, reuseaddr]), "
                      "R2 = Mod:setopts(L, [binary, {active, once}]), R3 = Mod:getopts(L, [active, mode]), "
                      "R4 = Mod:peername(L), Mod:close(L), {R1, R2, R3, R4}",
    "accepted_inherits_options": "{ok, L} = Mod:listen(0, [Cb4, list, {active, false}, {packet, 0}, {reuseaddr, true} | Srv]), "
                                 "ok = Mod:setopts(L, [binary]), {ok, {_, P}} = Mod:sockname(L), Client(P, <<\"x\">>), "
                                 "{ok, T} = Mod:transport_accept(L, 5000), {ok, S} = Mod:handshake(T, 5000), "
                                 "R = Mod:getopts(S, [mode, active]), {ok, D} = Mod:recv(S, 0, 5000), "
                                 "ok = Mod:send(S, D), ClientResult(), Mod:close(S), Mod:close(L), R",
    # (getopts/setopts before the handshake: ssl answers notsup_on_transport_accept_socket,
    # the bridge answers as for its own accepted sockets; the addresses are the transport's)
    "accepted_addresses_before_handshake": "{ok, L} = Mod:listen(0, [Cb4, binary, {active, false}, {reuseaddr, true} | Srv]), "
                                           "{ok, {_, P}} = Mod:sockname(L), Client(P, <<\"x\">>), "
                                           "{ok, T} = Mod:transport_accept(L, 5000), "
                                           "{ok, {PA, _}} = Mod:peername(T), {ok, {_, LP}} = Mod:sockname(T), "
                                           "{ok, S} = Mod:handshake(T, 5000), {ok, D} = Mod:recv(S, 0, 5000), ok = Mod:send(S, D), "
                                           "ClientResult(), Mod:close(S), Mod:close(L), {PA, LP =:= P}",
    "accept_timeout": "{ok, L} = Mod:listen(0, [Cb4 | Srv]), R = Mod:transport_accept(L, 100), Mod:close(L), R",
    "accept_after_close": "{ok, L} = Mod:listen(0, [Cb4 | Srv]), ok = Mod:close(L), "
                          "try Mod:transport_accept(L, 100) of R -> R catch C:E -> {C, E} end",
    "handshake_bad_client": "{ok, L} = Mod:listen(0, [Cb4, {reuseaddr, true} | Srv]), {ok, {_, P}} = Mod:sockname(L), "
                            "spawn(fun() -> {ok, C} = gen_tcp:connect({127, 0, 0, 1}, P, [binary]), "
                            "gen_tcp:send(C, <<\"GET / HTTP/1.0\\r\\n\\r\\n\">>), timer:sleep(1000), gen_tcp:close(C) end), "
                            "{ok, T} = Mod:transport_accept(L, 5000), R = Mod:handshake(T, 5000), Mod:close(L), R",
    "client_leaves_before_handshake": "{ok, L} = Mod:listen(0, [Cb4, {reuseaddr, true} | Srv]), {ok, {_, P}} = Mod:sockname(L), "
                                      "{ok, C} = gen_tcp:connect({127, 0, 0, 1}, P, [binary]), "
                                      "{ok, T} = Mod:transport_accept(L, 5000), ok = gen_tcp:close(C), timer:sleep(200), "
                                      "R = Mod:handshake(T, 5000), Mod:close(L), R",
    "accept_module_without_port": "{ok, L} = Mod:listen(0, [{cb_info, {my_tcp_noport, my_data, my_closed, my_error}}, "
                                  "{reuseaddr, true} | Srv]), {ok, {_, P}} = Mod:sockname(L), "
                                  "{ok, C} = gen_tcp:connect({127, 0, 0, 1}, P, [binary]), "
                                  "R = try Mod:transport_accept(L, 5000) of X -> X catch Cl:E -> {Cl, E} end, "
                                  "gen_tcp:close(C), Mod:close(L), R",
    "upgrade_server": "{ok, L} = my_tcp:listen(0, [binary, {active, false}, {reuseaddr, true}]), {ok, P} = inet:port(L), "
                      "Client(P, <<\"up\">>), {ok, T} = my_tcp:accept(L, 5000), "
                      "{ok, S} = Mod:handshake(T, [Cb5, {active, false} | Srv], 5000), "
                      "{ok, D} = Mod:recv(S, 0, 5000), ok = Mod:send(S, D), R = ClientResult(), "
                      "Mod:close(S), my_tcp:close(L), {D, R}",
    # a listener's sessions are its own (ssl: a session cache per listen socket): an ssl
    # client offers a closed listener's session to a new one on its port, which makes
    # a new session (TLS 1.2)
    "new_listener_same_port_12": "One = fun(Port) -> {ok, L} = Mod:listen(Port, [Cb4, binary, {active, false}, "
                                 "{reuseaddr, true}, {versions, ['tlsv1.2']} | Srv]), {ok, {_, P}} = Mod:sockname(L), "
                                 "Self = self(), spawn(fun() -> {ok, C} = ssl:connect({127, 0, 0, 1}, P, "
                                 "Verify ++ [binary, {active, false}, {versions, ['tlsv1.2']}], 5000), "
                                 "{ok, [{session_id, Id}]} = ssl:connection_information(C, [session_id]), "
                                 "{ok, _} = ssl:recv(C, 1, 5000), ssl:close(C), Self ! {id, Id} end), "
                                 "{ok, T} = Mod:transport_accept(L, 5000), {ok, S} = Mod:handshake(T, 5000), "
                                 "ok = Mod:send(S, <<\"x\">>), Id = receive {id, I} -> I after 5000 -> timeout end, "
                                 "_ = Mod:recv(S, 0, 5000), Mod:close(S), Mod:close(L), _ = sys:get_state(ssl_manager), "
                                 "{P, Id} end, {P1, Id1} = One(0), {P1, Id2} = One(P1), "
                                 "{byte_size(Id1), Id1 =:= Id2}",
    "listen_bad_port": "try Mod:listen(-1, [Cb4 | Srv]) of R -> R catch C:E -> {C, E} end",
    "listen_bad_option": "Mod:listen(0, [Cb4, {verify, foo} | Srv])",
    "listen_port_in_use": "{ok, L0} = gen_tcp:listen(0, []), {ok, P} = inet:port(L0), "
                          "R = Mod:listen(P, [Cb4 | Srv]), gen_tcp:close(L0), R",
}


@pytest.mark.parametrize("name", sorted(CLIENT))
def test_cb_info_client_same_as_ssl(env, pki, name):
    _bridge, node = env
    same(node, CLIENT[name].replace("@OTHER@", str(pki.other_ca.cert_path)))


@pytest.mark.parametrize("name", sorted(SERVER))
def test_cb_info_server_same_as_ssl(env, name):
    _bridge, node = env
    same(node, SERVER[name])


def test_default_cb_info_takes_the_fast_path(env):
    """gen_tcp's own cb_info is the bridge's TCP: no relay process on the caller's node."""
    _bridge, node = env
    r = node.eval("(fun() -> Before = Relays(), "
                  "{ok, S} = pyssl:connect(\"localhost\", EchoPort, "
                  "[{cb_info, {gen_tcp, tcp, tcp_closed, tcp_error}}, {active, false} | Verify], 5000), "
                  "New = Relays() -- Before, "
                  "ok = pyssl:send(S, <<\"x\">>), {ok, _} = pyssl:recv(S, 0, 5000), "
                  "pyssl:close(S), New end)()")
    assert r == []


def test_user_transport_socket_has_a_relay_and_closes_with_it(env):
    _bridge, node = env
    r = node.eval("(fun() -> Before = Relays(), "
                  "{ok, S} = pyssl:connect(\"localhost\", EchoPort, [Cb4, {active, false} | Verify], 5000), "
                  "[Relay] = Relays() -- Before, "
                  "MRef = monitor(process, Relay), ok = pyssl:close(S), "
                  "receive {'DOWN', MRef, _, _, _} -> gone after 5000 -> alive end end)()")
    assert r == A("gone")


def test_through_rpc_a_user_transport_is_refused_by_name(env):
    bridge, node = env
    r = node.eval(f"rpc:call('{bridge.name}', ssl, connect, [\"localhost\", EchoPort, [Cb4 | Verify], 5000])")
    assert r == (A("error"), (A("options"), (A("not_supported_by_pyssl"), A("cb_info"))))


def test_paused_handshakes_are_refused_by_name_over_a_user_transport(env):
    """{handshake, hello} reads the hello off an OS socket: not over a relay."""
    _bridge, node = env
    r = node.eval("(fun() -> H = [{handshake, hello}], "
                  "R1 = pyssl:connect(\"localhost\", EchoPort, [Cb4 | H ++ Verify], 5000), "
                  "R2 = pyssl:listen(0, [Cb4 | H ++ Srv]), "
                  "{ok, T} = my_tcp:connect(\"localhost\", EchoPort, [binary, {active, false}], 5000), "
                  "R3 = pyssl:connect(T, [Cb4 | H ++ Verify], 5000), my_tcp:close(T), {R1, R2, R3} end)()")
    refused = (A("error"), (A("options"), (A("not_supported_by_pyssl"), (A("handshake"), A("hello")))))
    assert r == (refused, refused, refused)


def test_upgrade_of_a_gen_tcp_socket_with_another_module_is_refused(env):
    _bridge, node = env
    r = node.eval("(fun() -> {ok, T} = gen_tcp:connect(\"localhost\", EchoPort, [binary, {active, false}]), "
                  "R = pyssl:connect(T, [Cb4 | Verify], 5000), "
                  "{R, erlang:port_info(T, connected) =:= {connected, self()}} end)()")
    assert r[0] == (A("error"), (A("options"), (A("not_supported_by_pyssl"),
                                               (A("cb_info"), (A("my_tcp"), A("my_data"), A("my_closed"),
                                                               A("my_error"))))))
    assert r[1] is True


def test_user_transport_socket_closes_when_its_owner_dies(env):
    """ssl's connection process ends with its owner and closes the transport
    (Mod:close/1); so does the relay, told by the bridge."""
    _bridge, node = env
    r = node.eval("(fun() -> Self = self(), "
                  "Before = Relays(), "
                  "Owner = spawn(fun() -> {ok, S} = pyssl:connect(\"localhost\", EchoPort, [Cb4 | Verify], 5000), "
                  "[Relay] = Relays() -- Before, Self ! {relay, Relay}, "
                  "receive stop -> S end end), "
                  "Relay = receive {relay, R} -> R after 5000 -> none end, MRef = monitor(process, Relay), "
                  "Owner ! stop, receive {'DOWN', MRef, _, _, _} -> gone after 10000 -> alive end end)()")
    assert r == A("gone")


def test_accepted_socket_is_not_read_before_its_handshake(env):
    """transport_accept hands the socket to a paused relay: the client's hello waits
    in the transport until handshake/2, and an owner change before it is kept."""
    _bridge, node = env
    r = node.eval("(fun() -> {ok, L} = pyssl:listen(0, [Cb4, binary, {active, false}, {reuseaddr, true} | Srv]), "
                  "{ok, {_, P}} = pyssl:sockname(L), Client(P, <<\"late\">>), "
                  "{ok, T} = pyssl:transport_accept(L, 5000), timer:sleep(300), Self = self(), "
                  "Pid = spawn(fun() -> receive go -> ok end, {ok, S} = pyssl:handshake(T, 5000), "
                  "{ok, D} = pyssl:recv(S, 0, 5000), ok = pyssl:send(S, D), Self ! {done, D} end), "
                  "ok = pyssl:controlling_process(T, Pid), Pid ! go, "
                  "R = receive {done, D} -> D after 10000 -> timeout end, "
                  "C = ClientResult(), pyssl:close(L), {R, C} end)()")
    assert r == (b"late", (A("ok"), b"late"))


def test_bridge_side_requests_check_their_arguments(env):
    """The shim's requests of a user's transport, misused: Erlang-shaped errors, the
    bridge lives on."""
    bridge, node = env
    r = node.eval(f"(fun() -> B = '{bridge.name}', "
                  "R1 = catch pyssl:cb_call(B, '$pyssl_cb_accepted', [not_a_pid, x]), "
                  "{ok, L} = pyssl:listen(0, [Cb4 | Srv]), ok = pyssl:close(L), "
                  "Relay = spawn(fun() -> receive M -> exit({got, M}) after 5000 -> ok end end), "
                  "MRef = monitor(process, Relay), "
                  "R2 = pyssl:cb_call(B, '$pyssl_cb_accepted', [Relay, L]), "
                  "R3 = receive {'DOWN', MRef, _, _, Why} -> Why after 5000 -> none end, "
                  "R4 = catch pyssl:cb_call(B, '$pyssl_cb_connect', [not_a_pid, \"h\", 1, x, [], 5000]), "
                  "{R1, R2, R3, R4, pyssl:versions() =/= []} end)()")
    fc = (A("EXIT"), (A("function_clause"), r[0][1][1]))
    assert r[0] == fc
    assert r[1] == (A("error"), A("closed"))
    assert r[2] == (A("got"), (A("pyssl_relay"), A("close")))
    assert r[3][0] == A("EXIT") and r[3][1][0] == A("function_clause")
    assert r[4] is True


def test_handshake_ends_with_its_owner(env):
    """A user transport's client whose owner dies during the handshake (a silent
    server, timeout infinity): the handshake ends and the relay closes the
    transport, as ssl's connection process ends with its owner."""
    _bridge, node = env
    r = node.eval("(fun() -> {ok, L} = gen_tcp:listen(0, [binary, {active, false}]), {ok, P} = inet:port(L), "
                  "Self = self(), Before = Relays(), "
                  "Owner = spawn(fun() -> Self ! {result, pyssl:connect(\"localhost\", P, [Cb4 | Verify], infinity)} end), "
                  "{ok, A} = gen_tcp:accept(L, 5000), {ok, _Hello} = gen_tcp:recv(A, 0, 5000), "
                  "[Relay] = Relays() -- Before, MRef = monitor(process, Relay), exit(Owner, kill), "
                  "R1 = receive {'DOWN', MRef, _, _, _} -> relay_gone after 10000 -> relay_alive end, "
                  "R2 = gen_tcp:recv(A, 0, 10000), gen_tcp:close(L), {R1, R2} end)()")
    assert r == (A("relay_gone"), (A("error"), A("closed")))


def test_bridge_socket_list_shows_user_transport_sockets(env):
    """pyssl:i/0's rows ('$pyssl_sockets') with a user transport's sockets open: they
    are listed, their addresses undefined (the bridge does not ask the caller's node)."""
    bridge, node = env
    r = node.eval(f"(fun() -> {{ok, L}} = pyssl:listen(0, [Cb4 | Srv]), "
                  "{ok, S} = pyssl:connect(\"localhost\", EchoPort, [Cb4 | Verify], 5000), "
                  f"Rows = pyssl:cb_call('{bridge.name}', '$pyssl_sockets', []), "
                  "Mine = [{maps:get(role, R), maps:get(local, R), maps:get(peer, R)} "
                  "|| R <- Rows, lists:member(maps:get(socket, R), [L, S])], "
                  "ok = pyssl:i(), pyssl:close(S), pyssl:close(L), lists:sort(Mine) end)()")
    assert r == sorted([(A("client"), A("undefined"), A("undefined")),
                        (A("listen"), A("undefined"), A("undefined"))])
