"""Behaviour only pyssl has: the bridge as a separate node, its failures, its rpc face."""
import hashlib
import time

import pytest

from bridge.etf import Atom

import bridgenode
from conftest import unique
from erlnode import ErlNode

A = Atom


def start_cli_bridge(cookie):
    name = unique("clib")
    return name, bridgenode.start_cli_bridge(name, cookie)


@pytest.fixture(scope="module")
def setup(cookie, pki, bridge):
    node = ErlNode(unique("erl"), cookie)
    p = pki
    node.eval(f"""
        ok = ssl:start(), application:set_env(pyssl, bridge_node, '{bridge.name}'), ok = pyssl:start(),
        B = '{bridge.name}',
        Srv = [{{certfile, "{p.server.cert_path}"}}, {{keyfile, "{p.server.key_path}"}}],
        Verify = [{{verify, verify_peer}}, {{cacertfile, "{p.ca.cert_path}"}}],
        EchoPort = pyssl_test_loop:server(Srv, fun pyssl_test_loop:echo/1), ok""")
    yield bridge, node
    node.stop()


def test_rpc_without_shim_caller_owns_socket(setup):
    bridge, node = setup
    r = node.eval("(fun() -> {ok, S} = rpc:call(B, ssl, connect, [\"localhost\", EchoPort, Verify ++ [binary]]), "
                  "ok = rpc:call(B, ssl, send, [S, <<\"via rpc\">>]), "
                  "R = receive {ssl, S, D} -> D after 5000 -> timeout end, rpc:call(B, ssl, close, [S]), R end)()")
    assert r == b"via rpc"


def test_rpc_bad_arguments_are_exceptions_like_ssl(setup):
    bridge, node = setup
    r = node.eval("rpc:call(B, ssl, send, [not_a_socket, <<\"x\">>])")
    assert r[0] == A("badrpc") and r[1][0] == A("EXIT")
    assert node.eval("rpc:call(B, ssl, nosuchfun, [])")[0] == A("badrpc")


def test_shim_raises_function_clause_like_ssl(setup):
    bridge, node = setup
    r = node.eval("(fun() -> try pyssl:send(not_a_socket, <<\"x\">>) catch C:R -> {C, R} end end)()")
    assert r == (A("error"), A("function_clause"))
    r = node.eval("(fun() -> {ok, S} = pyssl:connect(\"localhost\", EchoPort, Verify), "
                  "X = try pyssl:recv(S, 0, -1) catch C:R -> {C, R} end, pyssl:close(S), X end)()")
    assert r == (A("error"), A("function_clause"))


def test_malformed_requests_do_not_hurt_other_sockets(setup):
    bridge, node = setup
    node.eval("{ok, Keep} = pyssl:connect(\"localhost\", EchoPort, Verify ++ [{active, false}, binary])")
    for req in ["not_a_tuple", "{send}", "{send, not_a_list}", "{<<\"bin\">>, []}", "{recv, [1, 2, 3, 4, 5]}"]:
        r = node.eval(f"catch gen_server:call({{pyssl, B}}, {req}, 5000)")
        assert r is not None
    garbage = node.eval("{pyssl, B} ! garbage_message, ok")
    assert garbage == A("ok")
    assert node.eval("pyssl:send(Keep, <<\"still here\">>)") == A("ok")
    assert node.eval("pyssl:recv(Keep, 0, 5000)") == (A("ok"), b"still here")
    node.eval("pyssl:close(Keep)")


def test_owner_death_closes_socket(setup):
    bridge, node = setup
    # the peer (a BEAM ssl server) sees the close when the pyssl owner dies
    r = node.eval("""(fun() ->
        Self = self(),
        {ok, L} = ssl:listen(0, Srv ++ [{active, false}]), {ok, {_, P}} = ssl:sockname(L),
        Owner = spawn(fun() -> {ok, _S} = pyssl:connect("localhost", P, Verify), Self ! connected,
                               receive stop -> ok end end),
        {ok, T} = ssl:transport_accept(L, 5000), {ok, Srv1} = ssl:handshake(T, 5000),
        receive connected -> ok after 5000 -> error(no_connect) end,
        Owner ! stop,
        R = ssl:recv(Srv1, 0, 5000), ssl:close(L), R end)()""")
    assert r == (A("error"), A("closed"))
    time.sleep(0.2)
    assert bridge.call(lambda: len([s for s in bridge.service.sockets.values() if s.owner.node == A(node.name)])) == 0


def test_erlang_node_going_away_closes_its_sockets(cookie, pki, bridge):
    p = pki
    other = ErlNode(unique("erl"), cookie)
    other.eval(f"""ok = ssl:start(), application:set_env(pyssl, bridge_node, '{bridge.name}'), ok = pyssl:start(),
        Port = pyssl_test_loop:server([{{certfile, "{p.server.cert_path}"}}, {{keyfile, "{p.server.key_path}"}}],
                                      fun pyssl_test_loop:echo/1),
        {{ok, S}} = pyssl:connect("localhost", Port, [{{verify, verify_none}}]), ok""")
    mine = lambda: len([s for s in bridge.service.sockets.values() if s.owner.node == A(other.name)])
    assert bridge.call(mine) == 1
    other.kill()
    deadline = time.time() + 10
    while time.time() < deadline and bridge.call(mine):
        time.sleep(0.1)
    assert bridge.call(mine) == 0


def test_bridge_down_gives_closed_and_ssl_closed(cookie, pki):
    p = pki
    name, proc = start_cli_bridge(cookie)
    node = ErlNode(unique("erl"), cookie)
    try:
        node.eval(f"""ok = ssl:start(), application:set_env(pyssl, bridge_node, '{name}'), ok = pyssl:start(),
            Port = pyssl_test_loop:server([{{certfile, "{p.server.cert_path}"}}, {{keyfile, "{p.server.key_path}"}}],
                                          fun pyssl_test_loop:echo/1),
            {{ok, S}} = pyssl:connect("localhost", Port, [{{verify, verify_none}}]),
            {{ok, P}} = pyssl:connect("localhost", Port, [{{verify, verify_none}}, {{active, false}}]),
            Self = self(), Waiter = spawn(fun() -> Self ! {{pending, pyssl:recv(P, 0)}} end), ok""")
        time.sleep(0.3)
        proc.kill()
        proc.wait()
        assert node.eval("receive {ssl_closed, S} -> closed after 5000 -> timeout end") == A("closed")
        assert node.eval("receive {pending, R} -> R after 5000 -> timeout end") == (A("error"), A("closed"))
        assert node.eval("pyssl:send(S, <<\"x\">>)") == (A("error"), A("closed"))
        r = node.eval("pyssl:connect(\"localhost\", Port, [])")
        assert r[0] == A("error")
    finally:
        if proc.poll() is None:
            proc.kill()
        node.stop()


@pytest.mark.parametrize("active", ["true", "once", "false"])
def test_big_transfer_sha256(setup, active):
    """100 MB from a BEAM ssl server to a pyssl client, checked with sha256."""
    bridge, node = setup
    size = 100 * 1024 * 1024
    node.eval(f"""BigPort_{active} = pyssl_test_loop:server(Srv, fun(S) ->
                      Chunk = binary:copy(<<"0123456789abcdef">>, 4096),
                      [ssl:send(S, Chunk) || _ <- lists:seq(1, {size} div byte_size(Chunk))],
                      timer:sleep(200), ssl:close(S) end), ok""")
    body = {
        "true": "Loop = fun Lp(Ctx, N) -> receive {ssl, S, D} -> Lp(crypto:hash_update(Ctx, D), N + byte_size(D)); "
                "{ssl_closed, S} -> {N, crypto:hash_final(Ctx)} after 30000 -> timeout end end",
        "once": "Loop = fun Lp(Ctx, N) -> receive {ssl, S, D} -> pyssl:setopts(S, [{active, once}]), "
                "Lp(crypto:hash_update(Ctx, D), N + byte_size(D)); "
                "{ssl_closed, S} -> {N, crypto:hash_final(Ctx)} after 30000 -> timeout end end",
        "false": "Loop = fun Lp(Ctx, N) -> case pyssl:recv(S, 0, 30000) of {ok, D} -> "
                 "Lp(crypto:hash_update(Ctx, D), N + byte_size(D)); {error, closed} -> {N, crypto:hash_final(Ctx)}; "
                 "E -> E end end",
    }[active]
    r = node.eval(f"""(fun() ->
        {{ok, S}} = pyssl:connect("localhost", BigPort_{active}, Verify ++ [binary, {{active, {active}}}]),
        {body}, Res = Loop(crypto:hash_init(sha256), 0), pyssl:close(S), Res end)()""", timeout=300)
    chunk = b"0123456789abcdef" * 4096
    h = hashlib.sha256()
    for _ in range(size // len(chunk)):
        h.update(chunk)
    assert r == (size, h.digest())


def test_file_contents_are_reused_for_a_while_errors_are_not(setup, pki, tmp_path):
    """Like OTP's PEM cache: a file read for one connect serves the next ones for a while;
    a file that could not be read is asked for again."""
    bridge, node = setup
    ca = tmp_path / "ca_copy.pem"
    ca.write_bytes(open(pki.ca.cert_path, "rb").read())
    conn = ("(fun() -> case pyssl:connect(\"localhost\", EchoPort, [{verify, verify_peer}, "
            f"{{cacertfile, \"{ca}\"}}]) of {{ok, S}} -> pyssl:close(S), ok; E -> E end end)()")
    missing = tmp_path / "not_yet.pem"
    conn_missing = ("(fun() -> case pyssl:connect(\"localhost\", EchoPort, [{verify, verify_peer}, "
                    f"{{cacertfile, \"{missing}\"}}]) of {{ok, S}} -> pyssl:close(S), ok; E -> E end end)()")
    assert node.eval(conn) == A("ok")
    ca.unlink()
    assert node.eval(conn) == A("ok")            # served from the cache
    r = node.eval(conn_missing)
    assert r[0] == A("error") and r[1][1][0] == A("cacertfile")
    missing.write_bytes(open(pki.ca.cert_path, "rb").read())
    assert node.eval(conn_missing) == A("ok")    # the error was not cached


def test_failing_sni_fun_ends_the_handshake_on_both_sides(setup):
    """ssl's connection process dies of a crashing sni_fun; here the client sees the
    TCP close and the server's handshake returns {error, closed}; the listen socket
    and the bridge go on."""
    bridge, node = setup
    r = node.eval("""(fun() ->
        {ok, L} = pyssl:listen(0, Srv ++ [{active, false},
                                          {sni_fun, fun("ok.example") -> undefined; (_) -> erlang:error(boom) end}]),
        {ok, {_, P}} = pyssl:sockname(L), Self = self(),
        spawn(fun() -> [begin {ok, T} = pyssl:transport_accept(L, 5000), Self ! {srv, pyssl:handshake(T, 5000)} end
                        || _ <- [1, 2]] end),
        C1 = ssl:connect("localhost", P, [{verify, verify_none}, {server_name_indication, "bad.example"}], 5000),
        S1 = receive {srv, X1} -> X1 after 5000 -> timeout end,
        C2 = ssl:connect("localhost", P, [{verify, verify_none}, {server_name_indication, "ok.example"}], 5000),
        S2 = receive {srv, X2} -> element(1, X2) after 5000 -> timeout end,
        pyssl:close(L), {C1, S1, element(1, C2), S2} end)()""")
    assert r == ((A("error"), A("closed")), (A("error"), A("closed")), A("ok"), A("ok"))


def test_owner_exit_during_connect_ends_the_connect(setup):
    """ssl's connection process ends with its owner, handshake or not: a connect whose
    caller dies while the peer is silent must not keep its TCP connection (with
    timeout infinity, for ever)."""
    bridge, node = setup
    r = node.eval("""(fun() ->
        {ok, Silent} = gen_tcp:listen(0, [binary, {active, false}]),
        {ok, SilentPort} = inet:port(Silent),
        Caller = spawn(fun() -> pyssl:connect({127,0,0,1}, SilentPort, [{verify, verify_none}], infinity) end),
        {ok, Conn} = gen_tcp:accept(Silent, 30000),
        {ok, _ClientHello} = gen_tcp:recv(Conn, 0, 30000),
        exit(Caller, kill),
        R = gen_tcp:recv(Conn, 0, 30000),
        gen_tcp:close(Silent), R end)()""", 60)
    assert r == (A("error"), A("closed"))


def test_close_during_server_handshake_ends_it(setup):
    """close(T) while handshake(T, infinity) waits for the client's next flight (the
    client's verify_fun holds it): the handshake returns {error, closed} and the
    client finds its connection gone, as with ssl."""
    bridge, node = setup
    r = node.eval("""(fun() ->
        Me = self(),
        {ok, L} = pyssl:listen(0, Srv ++ [{active, false}]), {ok, {_, LPort}} = pyssl:sockname(L),
        Hold = fun(_, _, St) -> case get(held) of     % the first call only
                                    undefined -> put(held, true), Me ! {in_verify, self()},
                                                 receive go -> {valid, St} end;
                                    _ -> {valid, St}
                                end end,
        Client = spawn(fun() -> Me ! {client, self(), ssl:connect({127,0,0,1}, LPort,
            [{verify, verify_peer}, {verify_fun, {Hold, []}}, {active, false}], 30000)} end),
        {ok, T} = pyssl:transport_accept(L, 30000),
        Hs = spawn(fun() -> Me ! {hs, self(), pyssl:handshake(T, infinity)} end),
        Verifying = receive {in_verify, V} -> V after 30000 -> error(no_server_flight) end,
        ok = pyssl:close(T),
        HsResult = receive {hs, Hs, HR} -> HR after 30000 -> {timeout, handshake} end,
        Verifying ! go,
        ClientResult = receive {client, Client, {ok, CS}} -> ssl:recv(CS, 0, 30000);
                               {client, Client, CR} -> CR
                       after 30000 -> {timeout, client} end,
        pyssl:close(L),
        {HsResult, ClientResult} end)()""", 120)
    assert r == ((A("error"), A("closed")), (A("error"), A("closed")))
