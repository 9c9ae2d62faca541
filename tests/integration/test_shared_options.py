"""Sockets share their parsed options (connects with the same option list; sockets
accepted from one listen socket) until a setopts: one socket's setopts must not show
on another, as with ssl, where every connection has its own options."""
import pytest

from bridge.etf import Atom
import sslcompare
from conftest import unique
from erlnode import ErlNode


@pytest.fixture(scope="module")
def node(cookie, bridge, pki):
    n = ErlNode(unique("erl"), cookie)
    n.eval(f"""ok = ssl:start(), application:set_env(pyssl, bridge_node, '{bridge.name}'), ok = pyssl:start(),
        SharedPort = pyssl_test_loop:server([{{certfile, "{pki.server.cert_path}"}},
                                             {{keyfile, "{pki.server.key_path}"}}],
                                            fun pyssl_test_loop:echo/1), ok""")
    yield n
    n.stop()


def both(node, body):
    return sslcompare.both(node, body, norm=False)


def test_setopts_on_one_client_socket_leaves_the_other(node):
    body = """
        Opts = [binary, {active, false}, {packet, 0}, {verify, verify_none}],
        {ok, A} = Mod:connect("localhost", SharedPort, Opts),
        {ok, B} = Mod:connect("localhost", SharedPort, Opts),
        ok = Mod:setopts(A, [list, {packet, 2}, {nodelay, true}]),
        {ok, C} = Mod:connect("localhost", SharedPort, Opts),
        R = [Mod:getopts(X, [mode, packet, nodelay]) || X <- [A, B, C]],
        [Mod:close(X) || X <- [A, B, C]],
        R"""
    ssl_res, pyssl_res = both(node, body)
    assert ssl_res[0][0] == Atom("ok") and set(ssl_res[0][1]) == {
        (Atom("mode"), Atom("list")), (Atom("packet"), 2), (Atom("nodelay"), True)}
    assert ssl_res[1] == ssl_res[2] != ssl_res[0]
    assert pyssl_res == ssl_res


def test_accepted_sockets_keep_their_own_options(node, pki):
    body = f"""
        {{ok, L}} = Mod:listen(0, [binary, {{active, false}}, {{reuseaddr, true}},
                                 {{certfile, "{pki.server.cert_path}"}}, {{keyfile, "{pki.server.key_path}"}}]),
        {{ok, {{_, Port}}}} = Mod:sockname(L),
        Accept = fun() ->
            Self = self(),
            spawn(fun() -> {{ok, C}} = ssl:connect({{127,0,0,1}}, Port, [{{verify, verify_none}}], 3000),
                           receive stop -> ssl:close(C) end end),
            {{ok, T}} = Mod:transport_accept(L, 3000),
            {{ok, S}} = Mod:handshake(T, 3000),
            S
        end,
        S1 = Accept(),
        ok = Mod:setopts(S1, [list, {{packet, 4}}]),
        S2 = Accept(),
        ok = Mod:setopts(L, [{{packet, 1}}]),
        S3 = Accept(),
        R = [Mod:getopts(X, [mode, packet]) || X <- [S1, S2, S3, L]],
        [Mod:close(X) || X <- [S1, S2, S3, L]],
        R"""
    ssl_res, pyssl_res = both(node, body)
    ok = Atom("ok")
    assert ssl_res[0][0] == ok and set(ssl_res[0][1]) == {(Atom("mode"), Atom("list")), (Atom("packet"), 4)}
    assert ssl_res[1][0] == ok and set(ssl_res[1][1]) == {(Atom("mode"), Atom("binary")), (Atom("packet"), 0)}
    assert pyssl_res == ssl_res
