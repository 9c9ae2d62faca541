"""Several acceptors on one listen socket: each gets its own connection, as with ssl.

(The event loop keeps one reader per file descriptor, so concurrent accepts on one
socket must be queued by the service, not issued side by side.)"""
import pytest

from bridge.etf import Atom
import sslcompare


@pytest.fixture(scope="module")
def node(pyssl_node):
    return pyssl_node


def both(node, body):
    return sslcompare.both(node, body, norm=False)


lopts = sslcompare.server_opts


def test_concurrent_acceptors_each_get_a_connection(node, pki):
    body = f"""
        Self = self(),
        {{ok, L}} = Mod:listen(0, {lopts(pki)}),
        {{ok, {{_, Port}}}} = Mod:sockname(L),
        Acc = fun() ->
            R = case Mod:transport_accept(L, 4000) of
                    {{ok, T}} ->
                        case Mod:handshake(T, 4000) of
                            {{ok, S}} -> Got = Mod:recv(S, 0, 4000), Mod:close(S), Got;
                            E -> {{handshake, E}}
                        end;
                    E -> {{accept, E}}
                end,
            Self ! {{acc, R}}
        end,
        [spawn(Acc) || _ <- lists:seq(1, 4)],
        timer:sleep(200),
        [spawn(fun() ->
                   {{ok, C}} = ssl:connect({{127,0,0,1}}, Port, [binary, {{active, false}},
                                                            {{verify, verify_none}}], 4000),
                   ok = ssl:send(C, <<"x">>), timer:sleep(1000), ssl:close(C)
               end) || _ <- lists:seq(1, 4)],
        Rs = [receive {{acc, R}} -> R after 10000 -> no_result end || _ <- lists:seq(1, 4)],
        Mod:close(L),
        Rs"""
    ssl_res, pyssl_res = both(node, body)
    assert ssl_res == [(Atom("ok"), b"x")] * 4
    assert pyssl_res == ssl_res


def test_queued_acceptors_time_out_and_see_the_close(node, pki):
    body = f"""
        Self = self(),
        {{ok, L}} = Mod:listen(0, {lopts(pki)}),
        [spawn(fun() -> Self ! {{K, Mod:transport_accept(L, T)}} end)
         || {{K, T}} <- [{{a, infinity}}, {{b, infinity}}, {{c, 300}}]],
        C = receive {{c, RC}} -> RC after 5000 -> no_result end,
        timer:sleep(100),
        ok = Mod:close(L),
        A = receive {{a, RA}} -> RA after 5000 -> no_result end,
        B = receive {{b, RB}} -> RB after 5000 -> no_result end,
        [A, B, C, Mod:transport_accept(L, 100)]"""
    ssl_res, pyssl_res = both(node, body)
    err = Atom("error")
    assert ssl_res[:3] == [(err, Atom("closed")), (err, Atom("closed")), (err, Atom("timeout"))]
    assert pyssl_res == ssl_res
