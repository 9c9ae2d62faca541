"""TLS upgrade of gen_tcp sockets (STARTTLS): the same calls on ``ssl`` and ``pyssl``.

The socket stays on the Erlang node with a relay process; the bridge runs TLS
over the relayed bytes. Each scenario runs with ``Mod = ssl`` and ``Mod = pyssl``
in one node against BEAM ssl peers that upgrade their own gen_tcp sockets, and
the normalised results must be equal.
"""
import pytest

from bridge.etf import Atom

from bridgenode import BridgeThread
from conftest import unique
from erlnode import ErlNode
from sslcompare import both, same  # noqa: F401

A = Atom


@pytest.fixture(scope="module")
def env(cookie, pki):
    bridge = BridgeThread(unique("bridge"), cookie)
    node = ErlNode(unique("erl"), cookie)
    p = pki
    node.eval(f"""
        ok = ssl:start(), application:set_env(pyssl, bridge_node, '{bridge.name}'), ok = pyssl:start(),
        CaFile = "{p.ca.cert_path}", OtherCa = "{p.other_ca.cert_path}",
        Srv = [{{certfile, "{p.server.cert_path}"}}, {{keyfile, "{p.server.key_path}"}}],
        Verify = [{{verify, verify_peer}}, {{cacertfile, CaFile}}],
        %% a plain-text server that answers STARTTLS, then upgrades with BEAM ssl and echoes
        StartTls = fun(SrvOpts) ->
            {{ok, L}} = gen_tcp:listen(0, [binary, {{active, false}}, {{ip, {{127, 0, 0, 1}}}}, {{reuseaddr, true}}]),
            {{ok, P}} = inet:port(L),
            Loop = fun Loop() ->
                case gen_tcp:accept(L) of
                    {{ok, T}} ->
                        Pid = spawn(fun() ->
                            receive go -> ok end,
                            {{ok, <<"STARTTLS\\r\\n">>}} = gen_tcp:recv(T, 0, 5000),
                            ok = gen_tcp:send(T, <<"OK\\r\\n">>),
                            case ssl:handshake(T, SrvOpts, 5000) of
                                {{ok, S}} -> pyssl_test_loop:echo(S);
                                _ -> gen_tcp:close(T)
                            end end),
                        ok = gen_tcp:controlling_process(T, Pid), Pid ! go, Loop();
                    _ -> ok
                end end,
            spawn(fun() -> Loop() end), P end,
        EchoPort = StartTls(Srv),
        Plain = fun(Port) ->
            {{ok, T}} = gen_tcp:connect({{127, 0, 0, 1}}, Port, [binary, {{active, false}}]),
            ok = gen_tcp:send(T, <<"STARTTLS\\r\\n">>),
            {{ok, <<"OK\\r\\n">>}} = gen_tcp:recv(T, 0, 5000),
            T end,
        ok""")
    yield bridge, node
    node.stop()
    bridge.stop()


# a server side: a plain gen_tcp listener whose accepted socket Mod upgrades, with a
# BEAM ssl client that upgrades its own socket after the plain exchange
SERVER = ("{ok, L} = gen_tcp:listen(0, [binary, {active, false}, {ip, {127, 0, 0, 1}}]), {ok, P} = inet:port(L), "
          "Self = self(), "
          "spawn(fun() -> {ok, C} = gen_tcp:connect({127, 0, 0, 1}, P, [binary, {active, false}]), "
          "ok = gen_tcp:send(C, <<\"STARTTLS\\r\\n\">>), {ok, <<\"OK\\r\\n\">>} = gen_tcp:recv(C, 0, 5000), "
          "R = case ssl:connect(C, Verify ++ ClientOpts, 5000) of "
          "{ok, S} -> ok = ssl:send(S, <<\"ping\">>), X = ssl:recv(S, 0, 5000), ssl:close(S), X; E -> E end, "
          "Self ! {client, R} end), "
          "{ok, T} = gen_tcp:accept(L, 5000), gen_tcp:close(L), "
          "{ok, <<\"STARTTLS\\r\\n\">>} = gen_tcp:recv(T, 0, 5000), ok = gen_tcp:send(T, <<\"OK\\r\\n\">>), ")

SCENARIOS = {
    "client_upgrade_echo_active": "T = Plain(EchoPort), {ok, S} = Mod:connect(T, Verify, 5000), "
                                  "ok = Mod:send(S, <<\"hello\">>), R = receive {ssl, S, D} -> D after 5000 -> timeout end, "
                                  "{ok, [{protocol, V}]} = Mod:connection_information(S, [protocol]), "
                                  "ok = Mod:close(S), {R, V}",
    "client_upgrade_inherits_socket_options": "T = Plain(EchoPort), ok = inet:setopts(T, [list, {packet, 2}]), "
                                              "{ok, S} = Mod:connect(T, Verify ++ [{active, once}]), "
                                              "R = Mod:getopts(S, [mode, packet, active, header, packet_size]), Mod:close(S), R",
    "client_upgrade_os_options": "T = Plain(EchoPort), ok = inet:setopts(T, [{keepalive, true}]), "
                                 "{ok, S} = Mod:connect(T, Verify ++ [{nodelay, true}]), "
                                 "R1 = Mod:getopts(S, [nodelay, keepalive, mode, sndbuf]), "
                                 "ok = Mod:setopts(S, [{keepalive, false}, {nodelay, false}, binary]), "
                                 "R2 = Mod:getopts(S, [keepalive, nodelay, mode]), Mod:close(S), "
                                 "{[case X of {sndbuf, N} -> {sndbuf, is_integer(N)}; _ -> X end || X <- element(2, R1)], R2}",
    "client_upgrade_passive_binary": "T = Plain(EchoPort), {ok, S} = Mod:connect(T, Verify ++ [{active, false}, binary, {packet, 2}]), "
                                     "ok = Mod:send(S, <<\"abc\">>), R = Mod:recv(S, 0, 5000), "
                                     "O = Mod:getopts(S, [active, mode, packet]), Mod:close(S), {R, O}",
    "client_upgrade_big_payload": "T = Plain(EchoPort), {ok, S} = Mod:connect(T, Verify ++ [{active, false}, binary]), "
                                  "Big = binary:copy(<<\"0123456789abcdef\">>, 65536), ok = Mod:send(S, Big), "
                                  "Got = (fun R(Acc) when byte_size(Acc) >= byte_size(Big) -> Acc; "
                                  "R(Acc) -> {ok, D} = Mod:recv(S, 0, 5000), R(<<Acc/binary, D/binary>>) end)(<<>>), "
                                  "Mod:close(S), Got =:= Big",
    "client_upgrade_peername": "T = Plain(EchoPort), {ok, Want} = inet:peername(T), {ok, S} = Mod:connect(T, Verify), "
                               "{ok, Got} = Mod:peername(S), Mod:close(S), Got =:= Want",
    "client_upgrade_unknown_ca": "T = Plain(EchoPort), R = Mod:connect(T, [{verify, verify_peer}, {cacertfile, OtherCa}], 5000), "
                                 "timer:sleep(200), {R, gen_tcp:send(T, <<\"x\">>)}",
    "client_upgrade_bad_option_leaves_socket": "T = Plain(EchoPort), R = Mod:connect(T, [{verify, foo}], 5000), "
                                               "{R, erlang:port_info(T, connected) =:= {connected, self()}, "
                                               "gen_tcp:send(T, <<\"still plain\">>)}",
    "client_upgrade_not_owner": "T = Plain(EchoPort), Self = self(), "
                                "spawn(fun() -> Self ! {r, Mod:connect(T, Verify, 5000)} end), "
                                "R = receive {r, X} -> X after 5000 -> timeout end, gen_tcp:close(T), R",
    "client_upgrade_closed_socket": "T = Plain(EchoPort), ok = gen_tcp:close(T), "
                                    "try Mod:connect(T, Verify, 5000) of R -> R catch C:E -> {C, E} end",
    "client_upgrade_peer_closes": "{ok, L} = gen_tcp:listen(0, [binary, {active, false}, {ip, {127, 0, 0, 1}}]), "
                                  "{ok, P} = inet:port(L), spawn(fun() -> {ok, A} = gen_tcp:accept(L), "
                                  "_ = gen_tcp:recv(A, 0, 5000), gen_tcp:close(A) end), "
                                  "{ok, T} = gen_tcp:connect({127, 0, 0, 1}, P, [binary, {active, false}]), "
                                  "R = Mod:connect(T, Verify, 5000), gen_tcp:close(L), R",
    "client_upgrade_timeout": "{ok, L} = gen_tcp:listen(0, [binary, {active, false}, {ip, {127, 0, 0, 1}}]), "
                              "{ok, P} = inet:port(L), {ok, T} = gen_tcp:connect({127, 0, 0, 1}, P, [binary, {active, false}]), "
                              "R = Mod:connect(T, Verify, 300), gen_tcp:close(L), R",
    "client_upgrade_peer_close_after": "T = Plain(EchoPort), {ok, S} = Mod:connect(T, Verify ++ [{active, false}]), "
                                       "ok = Mod:send(S, <<\"x\">>), {ok, _} = Mod:recv(S, 0, 5000), "
                                       "ok = Mod:close(S), {Mod:send(S, <<\"y\">>), Mod:recv(S, 0, 100)}",
    # downgrade: close(S, {NewController, Timeout}) gives the TCP socket back
    "client_downgrade": "T = Plain(EchoPort), {ok, S} = Mod:connect(T, Verify ++ [{active, false}]), "
                        "ok = Mod:send(S, <<\"x\">>), {ok, _} = Mod:recv(S, 0, 30000), "
                        "case Mod:close(S, {self(), 30000}) of "
                        "{ok, P} -> {is_port(P), P =:= T, Mod:send(S, <<\"y\">>)}; E -> E end",
    "client_downgrade_timeout": "{ok, L} = gen_tcp:listen(0, [binary, {active, false}, {ip, {127, 0, 0, 1}}]), "
                                "{ok, LP} = inet:port(L), "
                                "spawn(fun() -> {ok, A} = gen_tcp:accept(L), {ok, SS} = ssl:handshake(A, Srv, 5000), "
                                "timer:sleep(3000), ssl:close(SS) end), "
                                "{ok, T} = gen_tcp:connect({127, 0, 0, 1}, LP, [binary, {active, false}]), "
                                "{ok, S} = Mod:connect(T, Verify ++ [{active, false}], 5000), "
                                "R = Mod:close(S, {self(), 300}), gen_tcp:close(L), {R, Mod:send(S, <<\"x\">>)}",
    "server_upgrade_echo": "ClientOpts = [], " + SERVER +
                           "R = case Mod:handshake(T, Srv ++ [{active, false}, binary], 5000) of "
                           "{ok, S} -> {ok, D} = Mod:recv(S, 0, 5000), ok = Mod:send(S, <<D/binary, \"!\">>), "
                           "timer:sleep(200), Mod:close(S), D; E -> E end, "
                           "{R, receive {client, C} -> C after 5000 -> timeout end}",
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_upgrade_same_as_ssl(env, name):
    _bridge, node = env
    same(node, SCENARIOS[name])


# The server downgrades first (ssl:close(S, {Pid, T})) and speaks plain text after.
# pyssl's client reads the text whichever close_notify comes first; ssl's own
# result depends on that order (its connection closes the TCP socket when the
# peer's close_notify came before the downgrade request: {error, closed}), so
# this is checked for pyssl alone, not side by side.
DOWNGRADE_THEN_PLAIN = (
    "{ok, L} = gen_tcp:listen(0, [binary, {active, false}, {ip, {127, 0, 0, 1}}]), "
    "{ok, LP} = inet:port(L), "
    "Srv_ = spawn(fun() -> {ok, A} = gen_tcp:accept(L), {ok, SS} = ssl:handshake(A, Srv, 30000), "
    "{ok, <<\"bye\">>} = ssl:recv(SS, 0, 30000), {ok, Raw} = ssl:close(SS, {self(), 30000}), "
    "ok = gen_tcp:send(Raw, <<\"plain again\">>), "
    "receive done -> ok after 30000 -> ok end, gen_tcp:close(Raw) end), "
    "{ok, T} = gen_tcp:connect({127, 0, 0, 1}, LP, [binary, {active, false}]), "
    "{ok, S} = Mod:connect(T, Verify ++ [{active, false}], 30000), ok = Mod:send(S, <<\"bye\">>), "
    # (the pause lets the server's close_notify come first, as a
    # rule; either order gives the same text, read to its end)
    "timer:sleep(300), "
    "Upto = fun U(P, Acc) when byte_size(Acc) >= 11 -> Acc; "
    "U(P, Acc) -> case gen_tcp:recv(P, 0, 30000) of "
    "{ok, D} -> U(P, <<Acc/binary, D/binary>>); E -> {Acc, E} end end, "
    "R = case Mod:close(S, {self(), 30000}) of "
    "{ok, P} -> Upto(P, <<>>); "
    "{ok, P, D0} -> Upto(P, D0); "
    "E -> E end, Srv_ ! done, gen_tcp:close(L), R")


def test_client_downgrade_then_plain(env):
    _bridge, node = env
    r = node.eval("(fun() -> Mod = pyssl, " + DOWNGRADE_THEN_PLAIN + " end)()", 90)
    assert r == b"plain again"


def test_ssl_accept_on_a_gen_tcp_socket_returns_the_socket(env):
    """R16B03's ssl_accept/2,3 on a gen_tcp socket (removed from OTP 25): {ok, SslSocket}."""
    _bridge, node = env
    r = node.eval("""(fun() -> Verify2 = Verify, ClientOpts = [], Mod = pyssl, """ + SERVER.replace("Verify", "Verify2") +
                  """R = case pyssl:ssl_accept(T, Srv ++ [{active, false}], 5000) of
                       {ok, S} -> {ok, D} = pyssl:recv(S, 0, 5000), ok = pyssl:send(S, D), timer:sleep(200),
                                  pyssl:close(S), ok;
                       E -> E end,
                  {R, receive {client, C} -> C after 5000 -> timeout end} end)()""")
    assert r == (A("ok"), (A("ok"), b"ping"))


def test_downgrade_of_a_socket_the_bridge_connected_is_refused_and_keeps_it(env):
    """Only a relayed socket has a TCP socket on the caller's node to give back."""
    _bridge, node = env
    r = node.eval("""(fun() ->
        TlsPort = pyssl_test_loop:server(Srv, fun pyssl_test_loop:echo/1),
        {ok, S} = pyssl:connect("localhost", TlsPort, Verify ++ [{active, false}]),
        R = pyssl:close(S, {self(), 1000}),
        Sent = pyssl:send(S, <<"still tls">>), Echo = pyssl:recv(S, 0, 5000),
        pyssl:close(S), {R, Sent, Echo} end)()""")
    assert r == ((A("error"), (A("not_supported_by_pyssl"), A("downgrade"))), A("ok"), (A("ok"), list(b"still tls")))


def test_upgraded_socket_closes_when_owner_dies(env):
    """The relayed socket is closed (the peer sees it) when the owner of the pyssl socket dies."""
    _bridge, node = env
    r = node.eval("""(fun() ->
        Self = self(),
        {Pid, MRef} = spawn_monitor(fun() ->
            T = Plain(EchoPort), {ok, S} = pyssl:connect(T, Verify ++ [{active, false}]),
            ok = pyssl:send(S, <<"x">>), {ok, _} = pyssl:recv(S, 0, 5000), Self ! {port, T} end),
        T = receive {port, P} -> P after 5000 -> none end,
        receive {'DOWN', MRef, process, Pid, _} -> ok end,
        timer:sleep(500),
        erlang:port_info(T) end)()""")
    assert r == A("undefined")


def test_upgraded_socket_os_option_error_is_the_reply(env):
    """setopts of a gen_tcp option is a call to the relay: inet:setopts's error is
    ssl's reply ({options, {socket_options, Opts, Reason}}), after the emulated
    option of the same call took effect; the socket stays usable (as with ssl)."""
    _bridge, node = env
    r = same(node, "T = Plain(EchoPort), {ok, S} = Mod:connect(T, Verify ++ [{active, false}]), "
                   "R = Mod:setopts(S, [{bind_to_device, <<\"nosuchdev0\">>}, list]), "
                   "O = Mod:getopts(S, [mode]), "
                   "ok = Mod:send(S, <<\"still\">>), E = Mod:recv(S, 0, 5000), Mod:close(S), {R, O, E}")
    reply, opts, echo = r
    assert reply[0] == Atom("error")
    kind, (what, given, reason) = reply[1]
    assert (kind, what) == (Atom("options"), Atom("socket_options")) and isinstance(reason, Atom)
    assert given == [(Atom("bind_to_device"), b"nosuchdev0")]
    assert opts == (Atom("ok"), [(Atom("mode"), Atom("list"))])
    assert echo == (Atom("ok"), list(b"still"))
