"""Accepting on pyssl listen sockets.

Several acceptors on one listen socket: each gets its own connection, as with ssl.

(The event loop keeps one reader per file descriptor, so concurrent accepts on one
socket must be queued by the service, not issued side by side.)

Eager accept on pyssl listen sockets (connections accepted as soon as the listen
socket is readable, queued for transport_accept): what the Erlang side sees stays
what ssl gives."""
import pytest

from bridge.etf import Atom
import sslcompare


@pytest.fixture(scope="module")
def node(pyssl_node):
    return pyssl_node


def both(node, body):
    return sslcompare.both(node, body, norm=False)


lopts = sslcompare.server_opts


CLIENT = "[binary, {active, false}, {verify, verify_none}]"


def test_zero_timeout_takes_a_connection_that_is_already_there(node, pki):
    body = f"""
        {{ok, L}} = Mod:listen(0, {lopts(pki)}),
        {{ok, {{_, Port}}}} = Mod:sockname(L),
        First = Mod:transport_accept(L, 0),
        Self = self(),
        spawn(fun() -> Self ! {{c, ssl:connect({{127,0,0,1}}, Port, {CLIENT}, 4000)}} end),
        timer:sleep(300),
        R = case Mod:transport_accept(L, 0) of
                {{ok, T}} -> case Mod:handshake(T, 4000) of
                                {{ok, S}} -> Mod:close(S), accepted;
                                E -> {{handshake, E}}
                            end;
                E -> E
            end,
        C = receive {{c, {{ok, CS}}}} -> ssl:close(CS), ok; {{c, CE}} -> CE after 5000 -> none end,
        Mod:close(L),
        [First, R, C]"""
    ssl_res, pyssl_res = both(node, body)
    assert ssl_res == [(Atom("error"), Atom("timeout")), Atom("accepted"), Atom("ok")]
    assert pyssl_res == ssl_res


def test_connections_not_taken_are_reset_when_the_listener_closes(node, pki):
    body = f"""
        {{ok, L}} = Mod:listen(0, {lopts(pki)}),
        {{ok, {{_, Port}}}} = Mod:sockname(L),
        Self = self(),
        spawn(fun() -> Self ! {{acc, Mod:transport_accept(L, 4000)}} end),
        {{ok, C1}} = gen_tcp:connect({{127,0,0,1}}, Port, [binary, {{active, false}}]),
        {{ok, T1}} = receive {{acc, A}} -> A after 5000 -> none end,
        {{ok, C2}} = gen_tcp:connect({{127,0,0,1}}, Port, [binary, {{active, false}}]),
        timer:sleep(200),
        ok = Mod:close(L),
        R2 = gen_tcp:recv(C2, 0, 2000),
        Mod:close(T1), gen_tcp:close(C1), gen_tcp:close(C2),
        [R2, Mod:transport_accept(L, 0)]"""
    ssl_res, pyssl_res = both(node, body)
    assert ssl_res[1] == (Atom("error"), Atom("closed"))
    assert pyssl_res == ssl_res


def test_many_connections_at_once_each_acceptor_gets_one(node, pki):
    # more connections than the accept-ahead queue holds, arriving before any acceptor
    body = f"""
        {{ok, L}} = Mod:listen(0, {lopts(pki)} ++ [{{backlog, 64}}]),
        {{ok, {{_, Port}}}} = Mod:sockname(L),
        {{error, timeout}} = Mod:transport_accept(L, 0),
        Cs = [begin {{ok, C}} = gen_tcp:connect({{127,0,0,1}}, Port, [binary, {{active, false}}]), C end
              || _ <- lists:seq(1, 24)],
        timer:sleep(200),
        Ts = [Mod:transport_accept(L, 2000) || _ <- lists:seq(1, 24)],
        Last = Mod:transport_accept(L, 100),
        [Mod:close(T) || {{ok, T}} <- Ts],
        [gen_tcp:close(C) || C <- Cs],
        Mod:close(L),
        [length([ok || {{ok, _}} <- Ts]), Last]"""
    ssl_res, pyssl_res = both(node, body)
    assert ssl_res == [24, (Atom("error"), Atom("timeout"))]
    assert pyssl_res == ssl_res


def test_listen_config_errors_come_back_on_every_handshake(node, pki):
    # the listen socket's TLS config is built once and shared; a failed build is not kept
    body = f"""
        {{ok, L}} = Mod:listen(0, [binary, {{active, false}}, {{reuseaddr, true}},
                                 {{certfile, "/nonexistent/cert.pem"}}, {{keyfile, "{pki.server.key_path}"}}]),
        {{ok, {{_, Port}}}} = Mod:sockname(L),
        One = fun() ->
            spawn(fun() -> ssl:connect({{127,0,0,1}}, Port, {CLIENT}, 3000) end),
            {{ok, T}} = Mod:transport_accept(L, 3000),
            R = Mod:handshake(T, 3000),
            catch Mod:close(T),
            R
        end,
        Rs = [One(), One()],
        Mod:close(L),
        Rs"""
    ssl_res, pyssl_res = both(node, body)
    assert ssl_res[0] == ssl_res[1] and ssl_res[0][0] == Atom("error")
    assert pyssl_res == ssl_res


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
