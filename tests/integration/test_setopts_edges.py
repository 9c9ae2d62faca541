"""setopts corner cases found by OTP's own suites (ssl_api_SUITE active_n,
ssl_packet_SUITE packet_http_*), side by side with ssl on one real node:

* ``{active, N}`` on a *listen* socket follows tls_socket:setopts/3 (a running
  count stored even when refused, ``{ssl_passive, LS}`` to the caller, ``einval`` in
  the listen socket's error shape, the first of two values given for one name);
* a framing change reframes the bytes already buffered at once: after ``http_eoh``,
  ``setopts(S, [{packet, 0}])`` delivers the body that was waiting (it was held
  until the next record arrived: a lost reply for a caller that waits for it).
"""
import pytest
from bridgenode import BridgeThread
from conftest import unique
from erlnode import ErlNode
from sslcompare import same, server_opts


@pytest.fixture(scope="module")
def node(cookie, pki):
    bridge = BridgeThread(unique("bridge"), cookie)
    n = ErlNode(unique("erl"), cookie)
    n.eval(f"ok = ssl:start(), application:set_env(pyssl, bridge_node, '{bridge.name}'), "
           f"ok = pyssl:start(), persistent_term:put(srv_opts, {server_opts(pki)}), ok")
    yield n
    n.stop()
    bridge.stop()


def test_active_n_on_a_listen_socket_like_ssl(node):
    # every step of ssl_api_SUITE:active_n_common/2 on a listen socket, and more
    same(node, """
        {ok, L} = Mod:listen(0, [{active, 3} | persistent_term:get(srv_opts)]),
        F = fun() -> receive {ssl_passive, X} when X =:= L -> passive; M -> {other, M}
                     after 200 -> none end end,
        R = [{Mod:setopts(L, [{active, -3}]), F(), Mod:getopts(L, [active])},
             {Mod:setopts(L, [{active, 0}]), F()},
             {Mod:setopts(L, [{active, 32767}]), Mod:setopts(L, [{active, 1}]),
              Mod:getopts(L, [active])},
             {Mod:setopts(L, [{active, -32769}]), Mod:setopts(L, [{active, -32768}]), F()},
             {Mod:setopts(L, [{active, 5}, {active, false}]), F(), Mod:getopts(L, [active])},
             {Mod:setopts(L, [{active, 40000}]), Mod:getopts(L, [active]), F()},
             {Mod:setopts(L, [{active, true}]), Mod:getopts(L, [active]), F()},
             {Mod:setopts(L, [{packet, 1}, {packet, 2}]), Mod:getopts(L, [packet])}],
        Mod:close(L),
        R""")


def test_ssl_passive_of_a_listen_socket_goes_to_the_caller(node):
    # ssl's check_active_n/2 does self() ! {ssl_passive, LS}: the caller, not the owner
    same(node, """
        Self = self(),
        {ok, L} = Mod:listen(0, [{active, 1} | persistent_term:get(srv_opts)]),
        Other = spawn(fun() -> Self ! {other, Mod:setopts(L, [{active, -1}]),
                                       receive M -> got after 300 -> none end} end),
        R = receive {other, A, B} -> {A, B} after 5000 -> timeout end,
        Mine = receive {ssl_passive, _} -> owner_got_it after 300 -> none end,
        Mod:close(L), exit(Other, kill),
        {R, Mine}""")


@pytest.mark.parametrize("mode", ["binary", "list"])
def test_packet_change_after_http_eoh_delivers_the_buffered_body(node, mode):
    same(node, f"""
        Self = self(),
        {{ok, L}} = ssl:listen(0, persistent_term:get(srv_opts)),
        {{ok, {{_, P}}}} = ssl:sockname(L),
        Srv = spawn(fun() ->
            {{ok, T}} = ssl:transport_accept(L, 10000), {{ok, S}} = ssl:handshake(T, 10000),
            {{ok, _}} = ssl:recv(S, 0, 10000),
            ok = ssl:send(S, "HTTP/1.1 200 OK\\r\\n\\r\\nHello!"),
            receive stop -> ssl:close(S) end end),
        {{ok, C}} = Mod:connect({{127,0,0,1}}, P, [{{verify, verify_none}}, {{active, true}},
                                                {mode}, {{packet, http}}], 10000),
        ok = Mod:send(C, "GET / HTTP/1.1\\r\\n\\r\\n"),
        Get = fun() -> receive {{ssl, X, D}} when X =:= C -> D after 5000 -> timeout end end,
        Head = [Get(), Get()],
        ok = Mod:setopts(C, [{{packet, 0}}]),
        Body = Get(),
        Srv ! stop, Mod:close(C), ssl:close(L),
        {{Head, Body}}""")


@pytest.mark.parametrize("n", [0, -2, 3])
def test_listen_with_active_n_at_most_0_is_passive_and_tells_the_caller(node, n):
    # tls_socket:listen/3 checks {active, N} as setopts does (ssl_api_SUITE active_n)
    same(node, f"""
        {{ok, L}} = Mod:listen(0, [{{active, {n}}} | persistent_term:get(srv_opts)]),
        M = receive {{ssl_passive, X}} when X =:= L -> passive after 200 -> none end,
        G = Mod:getopts(L, [active]),
        Mod:close(L),
        {{M, G}}""")


def test_accepted_socket_of_a_listen_socket_with_a_bad_config_like_ssl(node):
    # OTP's call_in_error_state: the accepted socket's process waits in
    # ssl_gen_statem:config_error/3 — calls get {error, closed}, a handshake with
    # options too, the handshake without gets the config's error, close gets ok
    same(node, """
        {ok, L} = Mod:listen(0, [{cacertfile, "/nonexistent/foo.pem"}
                                 | persistent_term:get(srv_opts)]),
        {ok, {_, P}} = Mod:sockname(L),
        Self = self(),
        spawn(fun() -> Self ! {client, ssl:connect({127,0,0,1}, P, [{verify, verify_none}], 10000)} end),
        {ok, T} = Mod:transport_accept(L, 10000),
        C = fun(F) -> try F() catch Class:Reason -> {Class, Reason} end end,
        Calls = [C(fun() -> Mod:controlling_process(T, self()) end),
                 C(fun() -> Mod:setopts(T, [{active, false}]) end),
                 C(fun() -> Mod:getopts(T, [active]) end),
                 C(fun() -> Mod:recv(T, 0, 100) end),
                 C(fun() -> Mod:connection_information(T) end),
                 C(fun() -> Mod:peercert(T) end),
                 C(fun() -> Mod:handshake(T, [{verify, verify_none}], 1000) end)],
        {ok, T2} = case Mod:handshake(T, 5000) of
                       {error, {options, {cacertfile, _, _}}} ->
                           spawn(fun() -> ssl:connect({127,0,0,1}, P, [{verify, verify_none}], 10000) end),
                           Mod:transport_accept(L, 10000);
                       Other -> {ok, {unexpected, Other}}
                   end,
        Closed = Mod:close(T2),
        Mod:close(L),
        {Calls, Closed}""")
