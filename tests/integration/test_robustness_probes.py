"""Issue 13's probes, as a careless caller or production traffic would send them,
against a bridge running as its own OS process:

* iolists built the usual Erlang way (``[Acc, <<I:32>>]``, nested N deep) reach
  the peer complete, raw and ``{packet, 2}``, exactly as with ssl;
* any request nested 100000 deep is answered (rpc echo, an option, a send);
* one caller's absurd request (an 8 or 64 MiB certfile name, terms 100000 deep)
  is answered as ssl answers it and does not stall an unrelated socket (its worst
  echo round trip is printed; see STALL_MAX_US for what is asserted).
"""
import os
import time

import pytest

from bridge.etf import Atom as A
from bridgenode import start_cli_bridge
from conftest import unique
from erlnode import ErlNode
from sslcompare import same, server_opts

OK = A("ok")


@pytest.fixture(scope="module")
def cli_bridge(cookie):
    name = unique("probebr")
    proc = start_cli_bridge(name, cookie)
    yield name
    proc.terminate()
    try:
        proc.wait(10)
    except Exception:
        proc.kill()
        proc.wait()


def _shim_node(cookie, bridge, pki):
    n = ErlNode(unique("probe"), cookie)
    n.eval(f"ok = ssl:start(), application:set_env(pyssl, bridge_node, '{bridge}'), "
           f"ok = pyssl:start(), persistent_term:put(srv_opts, {server_opts(pki)}), ok")
    # an ssl server for one connection that reports {Size, md5} of all it receives
    n.eval("""persistent_term:put(sink, fun() ->
        Parent = self(),
        spawn_link(fun() ->
            {ok, L} = ssl:listen(0, persistent_term:get(srv_opts)),
            {ok, {_, P}} = ssl:sockname(L),
            Parent ! {sink_port, P},
            {ok, T} = ssl:transport_accept(L, 30000),
            {ok, S} = ssl:handshake(T, 30000),
            Loop = fun Loop(Acc) -> case ssl:recv(S, 0, 60000) of
                {ok, D} -> Loop([Acc, D]); {error, closed} -> iolist_to_binary(Acc) end end,
            B = Loop([]),
            Parent ! {sink_got, {byte_size(B), erlang:md5(B)}} end),
        receive {sink_port, P} -> P end end), ok""")
    return n


@pytest.fixture(scope="module")
def node(cookie, cli_bridge, pki):
    n = _shim_node(cookie, cli_bridge, pki)
    yield n
    n.stop()


# ---- 1. iolists of any depth: every byte arrives --------------------------------

@pytest.mark.parametrize("packet", ["raw", "2"])
@pytest.mark.parametrize("n", [500, 700, 1000, 10000])
def test_nested_iolist_send_delivers_every_byte_like_ssl(node, n, packet):
    popt = "" if packet == "raw" else f", {{packet, {packet}}}"
    got = same(node, f"""
        P = (persistent_term:get(sink))(),
        {{ok, S}} = Mod:connect({{127,0,0,1}}, P, [binary, {{active, false}},
                                 {{verify, verify_none}}{popt}], 20000),
        IoL = lists:foldl(fun(I, A) -> [A, <<I:32>>] end, [], lists:seq(1, {n})),
        R = Mod:send(S, IoL),
        ok = Mod:close(S),
        {{R, receive {{sink_got, G}} -> G after 60000 -> no_data end}}""", timeout=120)
    assert got[0] is OK
    size = got[1][0]
    assert size == 4 * n + (0 if packet == "raw" else 2)


@pytest.mark.parametrize("active", ["false", "true"])
def test_iolist_nested_100000_deep_is_sent_whole(node, active):
    got = same(node, f"""
        P = (persistent_term:get(sink))(),
        {{ok, S}} = Mod:connect({{127,0,0,1}}, P, [binary, {{active, {active}}},
                                 {{verify, verify_none}}], 20000),
        Deep = lists:foldl(fun(_, A) -> [A, <<"x">>] end, [], lists:seq(1, 100000)),
        R = Mod:send(S, Deep),
        ok = Mod:close(S),
        {{R, receive {{sink_got, G}} -> G after 60000 -> no_data end}}""", timeout=120)
    assert got[0] is OK and got[1][0] == 100000


# ---- 2. every request is answered ------------------------------------------------

@pytest.mark.parametrize("shape", ["list", "tuple", "map"])
def test_rpc_echo_of_a_term_nested_100000_deep(node, cli_bridge, shape):
    build = {"list": "fun(_, A) -> [A] end", "tuple": "fun(I, A) -> {I, A} end",
             "map": "fun(I, A) -> #{I => A} end"}[shape]
    t0 = time.monotonic()
    assert node.true(f"""(fun() ->
        Deep = lists:foldl({build}, [], lists:seq(1, 100000)),
        rpc:call('{cli_bridge}', pyssl_bridge, echo, [Deep], 60000) =:= Deep end)()""", timeout=90)
    assert time.monotonic() - t0 < 60


def test_deeply_nested_option_gets_ssls_answer(node):
    # ssl refuses the option; so must pyssl, promptly and with the same reply
    # compared on the Erlang side: the results hold the deep term
    r = node.eval("""(fun() ->
        Deep = lists:foldl(fun(_, Acc) -> [Acc] end, [], lists:seq(1, 100000)),
        [A, B] = [pyssl_test_loop:norm(M:connect({127,0,0,1}, 9, [{verify, verify_none},
                      {alpn_advertised_protocols, Deep}], 20000)) || M <- [ssl, pyssl]],
        {A =:= B, element(1, A)} end)()""", timeout=90)
    assert r == (True, A("error"))


def test_deep_term_as_the_whole_request_is_answered(node, cli_bridge):
    # not a request the service knows: an exception in the caller, not silence
    r = node.eval(f"""(fun() ->
        Deep = lists:foldl(fun(I, A) -> {{I, A}} end, [], lists:seq(1, 100000)),
        catch gen_server:call({{pyssl, '{cli_bridge}'}}, {{Deep, [Deep]}}, 60000) end)()""",
                  timeout=90)
    assert r != A("timeout")


def test_sni_label_longer_than_dns_allows_connects_like_ssl(node):
    # Python's idna codec refuses a 100-character label; OTP sends it as given
    r = same(node, """
        P = (persistent_term:get(sink))(),
        {R, S} = case Mod:connect({127,0,0,1}, P, [{verify, verify_none},
                        {server_name_indication, lists:duplicate(100, $a)}], 20000) of
            {ok, S0} -> {ok, S0}; Other -> {Other, none} end,
        S =/= none andalso Mod:close(S),
        receive {sink_got, _} -> ok after 20000 -> no_sink end,
        R""")
    assert r is OK


# ---- 3. one caller's absurd input stalls nobody else -----------------------------

@pytest.fixture(scope="module")
def abuser(cookie, cli_bridge, pki):
    n = _shim_node(cookie, cli_bridge, pki)
    # what is measured is the bridge's stall: the abuser's own work on 64 Mi-element
    # lists (building, sending, decoding 1 GiB of reply) runs at the lowest CPU
    # priority, else on a 2-core machine it takes the CPU from the echo's node and
    # the bridge alike (an echo stalled 56-281 ms with no bridge work at all)
    _lowest_priority(int(n.eval("list_to_integer(os:getpid())")))
    yield n
    n.stop()


def _lowest_priority(pid: int) -> None:
    """nice 19 for every thread of process ``pid`` (Linux sets it per thread)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            os.setpriority(os.PRIO_PROCESS, int(tid), 19)
        except OSError:         # a thread that just ended
            pass


def _start_echo_rtt(node):
    """On ``node``: a pyssl socket to an ssl echo server and a process measuring its
    round trips until ``_stop_echo_rtt``. Both ends set nodelay: with Nagle, the
    first echo waits ~40 ms for the delayed ACK of the TLS 1.3 session tickets the
    server sent after its handshake (ssl to ssl alike), a stall of nobody's making."""
    node.eval("""(fun() ->
        Parent = self(),
        spawn_link(fun() ->
            {ok, L} = ssl:listen(0, [{nodelay, true} | persistent_term:get(srv_opts)]),
            {ok, {_, P}} = ssl:sockname(L),
            Parent ! {echo_port, P},
            {ok, T} = ssl:transport_accept(L, 30000),
            {ok, S} = ssl:handshake(T, 30000),
            Loop = fun Loop() -> case ssl:recv(S, 0) of
                {ok, D} -> ok = ssl:send(S, D), Loop(); _ -> ok end end,
            Loop() end),
        EchoP = receive {echo_port, P} -> P end,
        {ok, EchoS} = pyssl:connect({127,0,0,1}, EchoP, [binary, {active, false},
                                     {nodelay, true}, {verify, verify_none}], 20000),
        Rtt = fun Rtt(Max, N) ->
            receive {stop, From} -> pyssl:close(EchoS), From ! {rtt, Max, N}
            after 0 ->
                T0 = erlang:monotonic_time(microsecond),
                ok = pyssl:send(EchoS, <<"ping">>),
                {ok, <<"ping">>} = pyssl:recv(EchoS, 4, 30000),
                T = erlang:monotonic_time(microsecond) - T0,
                receive after 2 -> ok end,
                Rtt(max(Max, T), N + 1)
            end end,
        persistent_term:put(rtt_pid, spawn_link(fun() -> Rtt(0, 0) end)) end)()""")


def _stop_echo_rtt(node, what: str, t0: float) -> int:
    elapsed = time.monotonic() - t0
    max_us, rounds = node.eval("""(fun() -> persistent_term:get(rtt_pid) ! {stop, self()},
        receive {rtt, M, N} -> {M, N} end end)()""")
    print(f"{what} took {elapsed:.1f} s; echo: {rounds} round trips, "
          f"worst {max_us / 1000:.1f} ms")
    assert rounds > 0
    return max_us


# The bound asserted is one only the defect can break: before the fixes of
# docs/architecture.md "Robustness rules" a 64 MiB name stalled an unrelated socket
# 15-20 s and an 8 MiB one 1-2 s; now the worst echo round trip is 7-67 ms (the
# figure is printed: run with -s). The design's target, under 50 ms, is a speed
# figure and speed is not asserted in tests (another test session sharing the two
# cores adds its own delays), so the test asserts a tenth of the old stall and the
# closing notes of issue 13 give the measured figures.
STALL_MAX_US = 1_000_000


def _least_stall(node, what: str, probe, prepare=lambda: None, check=lambda: None) -> int:
    """The worst echo round trip during ``probe()`` (``prepare()`` before and
    ``check()`` after, untimed)."""
    prepare()
    _start_echo_rtt(node)
    t0 = time.monotonic()
    probe()
    stall = _stop_echo_rtt(node, what, t0)
    check()
    return stall


def test_deep_terms_do_not_stall_another_socket(node, abuser, cli_bridge):
    # the echo socket is owned by `node`; the absurd requests come from `abuser`,
    # another node, so they share nothing but the bridge
    def probe():
        assert abuser.true(f"""(fun() ->
            Deep = lists:foldl(fun(I, A) -> {{I, A}} end, [], lists:seq(1, 100000)),
            rpc:call('{cli_bridge}', pyssl_bridge, echo, [Deep], 120000) =:= Deep end)()""",
                           timeout=150)
    max_us = _least_stall(node, "a 100000-deep rpc echo", probe)
    assert max_us < STALL_MAX_US, f"an unrelated socket stalled {max_us / 1000:.1f} ms"


@pytest.mark.parametrize("mib", [8, 64])
def test_huge_certfile_name_is_answered_like_ssl_and_stalls_nobody(node, abuser, mib):
    # listen is ok, the handshake says enametoolong with the name quoted back whole,
    # as ssl answers; meanwhile an unrelated socket's echo keeps going. The name is
    # built before and compared after the echo is timed: on a small machine the
    # abuser node's own work on 64 Mi-element lists takes the CPU from the echo's
    # node too, and that is not the bridge's stall.
    def prepare():
        abuser.eval(f"put(probe_name, lists:duplicate({mib} bsl 20, $a)), ok", timeout=120)

    def probe():
        abuser.eval(NAME_PROBE, timeout=300)

    def check():
        r = abuser.eval("""(fun() -> Name = erase(probe_name),
            case erase(probe_result) of
                {error, {options, {certfile, N, E}}} -> {N =:= Name, E};
                Other -> Other
            end end)()""", timeout=120)
        assert r == (True, (A("error"), A("enametoolong")))
    max_us = _least_stall(node, f"a {mib} MiB certfile name", probe, prepare, check)
    assert max_us < STALL_MAX_US, f"an unrelated socket stalled {max_us / 1000:.1f} ms"


NAME_PROBE = """(fun() ->
        Name = get(probe_name),
        {ok, L} = pyssl:listen(0, [binary, {certfile, Name}, {keyfile, Name}]),
        {ok, {_, P}} = pyssl:sockname(L),
        spawn(fun() -> ssl:connect({127,0,0,1}, P, [{verify, verify_none}], 30000) end),
        {ok, T} = pyssl:transport_accept(L, 30000),
        put(probe_result, pyssl:handshake(T, 30000)),
        pyssl:close(L),
        ok end)()"""
