"""The bridge as a hidden node, against real erl nodes and a real epmd."""
import base64
import os
import signal
import subprocess
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.node.node import Mailbox
from bridge.etf import Atom, BitString, ImproperList, term_to_binary

from bridgenode import BridgeThread
from conftest import unique
from erlnode import ErlNode

A = Atom


@pytest.fixture(scope="module")
def dist_bridge(cookie):
    b = BridgeThread(unique("bridge"), cookie, service=False)
    yield b
    b.stop()


def lit(term) -> str:
    """An Erlang expression that evaluates to ``term``."""
    return f'binary_to_term(base64:decode("{base64.b64encode(term_to_binary(term)).decode()}"))'


def test_ping_and_hidden(erl, dist_bridge):
    b = dist_bridge.name
    assert erl.eval(f"net_adm:ping('{b}')") == A("pong")
    assert erl.true(f"lists:member('{b}', nodes(hidden))")
    assert erl.true(f"not lists:member('{b}', nodes())")


BATTERY = r"""
[1 bsl 64, -(1 bsl 64), 1 bsl 1000, -(1 bsl 1000), 0, 255, 256, -1, 2147483647, -2147483648,
 3.14159, -0.0, 1.0e300, abc, 'héllo', '日本語', list_to_atom(lists:duplicate(255, $x)),
 list_to_atom(lists:duplicate(255, 16#3042)),
 lists:duplicate(70000, $a), "", [], [1,2|3], [a|b], <<>>, <<1,2,3>>, <<1:3>>, <<255, 7:5>>,
 list_to_tuple(lists:seq(1, 300)), {}, #{}, #{[1,2] => x, #{a => 1} => y, "k" => <<"v">>},
 self(), make_ref(), hd(erlang:ports()), fun() -> ok end, fun(X) -> X + 1 end, fun lists:map/2,
 [alias | make_ref()], {ssl, self(), <<0:8192>>}, true, false, undefined]
"""


def test_echo_battery(erl, dist_bridge):
    b = dist_bridge.name
    erl.eval(f"Battery = {BATTERY}")
    assert erl.eval("length(Battery)") > 40
    bad = erl.eval(f"[T || T <- Battery, rpc:call('{b}', pyssl_bridge, echo, [T]) =/= T]")
    assert bad == []
    # the whole battery in one term, too
    assert erl.true(f"rpc:call('{b}', pyssl_bridge, echo, [Battery]) =:= Battery")


atoms = st.text(min_size=0, max_size=20).map(Atom)
leaves = st.one_of(st.integers(min_value=-(1 << 80), max_value=1 << 80),
                   st.floats(allow_nan=False, allow_infinity=False),
                   atoms, st.binary(max_size=40), st.booleans(),
                   st.tuples(st.binary(min_size=1, max_size=5), st.integers(1, 7)).map(
                       lambda t: BitString(t[0], t[1])))
terms = st.recursive(leaves, lambda kids: st.one_of(
    st.lists(kids, max_size=6), st.tuples(kids, kids), st.lists(kids, max_size=4).map(tuple),
    st.dictionaries(st.one_of(atoms, st.integers()), kids, max_size=4),
    st.tuples(st.lists(kids, min_size=1, max_size=3), leaves).map(
        lambda t: ImproperList(tuple(t[0]), t[1]))), max_leaves=25)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(terms, min_size=1, max_size=8))
def test_echo_hypothesis(erl, dist_bridge, batch):
    b = dist_bridge.name
    assert erl.true(f"(fun() -> Ts = {lit(batch)}, rpc:call('{b}', pyssl_bridge, echo, [Ts]) =:= Ts end)()")


def test_unknown_module_same_badrpc_as_erlang(erl, dist_bridge):
    b = dist_bridge.name
    assert erl.true(f"rpc:call('{b}', nosuchmod, f, [1]) =:= rpc:call(node(), nosuchmod, f, [1])")
    assert erl.true(f"rpc:call('{b}', pyssl_bridge, nosuchfun, []) =:= "
                    f"{{badrpc, {{'EXIT', {{undef, [{{pyssl_bridge, nosuchfun, [], []}}]}}}}}}")
    # the gen_server form of rex
    assert erl.eval(f"gen_server:call({{rex, '{b}'}}, {{call, pyssl_bridge, echo, [x], group_leader()}})") == A("x")


def test_monitor_noproc(erl, dist_bridge):
    b = dist_bridge.name
    r = erl.eval(f"begin R = erlang:monitor(process, {{nosuch, '{b}'}}), "
                 f"receive {{'DOWN', R, process, {{nosuch, _}}, Why}} -> Why after 5000 -> timeout end end")
    assert r == A("noproc")


def _python_process(bridge):
    mb = Mailbox()
    proc = bridge.call(lambda: bridge.node.spawn(mb))
    return mb, proc


def test_erlang_monitors_and_links_python_process(erl, dist_bridge):
    mb, proc = _python_process(dist_bridge)
    erl.eval(f"P = {lit(proc.pid)}, process_flag(trap_exit, true), link(P), M = erlang:monitor(process, P)")
    time.sleep(0.3)
    assert dist_bridge.call(lambda: len(proc.links)) == 1
    dist_bridge.call(lambda: dist_bridge.node.exit_process(proc, A("boom")))
    got = erl.eval("[receive {'EXIT', P, R1} -> R1 after 5000 -> none end,"
                   " receive {'DOWN', M, process, P, R2} -> R2 after 5000 -> none end]")
    assert got == [A("boom"), A("boom")]
    # a dead pid: monitor gives noproc, link gives an EXIT noproc
    got = erl.eval("begin M2 = erlang:monitor(process, P), link(P), "
                   "[receive {'DOWN', M2, process, P, R3} -> R3 after 5000 -> none end,"
                   " receive {'EXIT', P, R4} -> R4 after 5000 -> none end] end")
    assert got == [A("noproc"), A("noproc")]


def test_python_links_and_monitors_erlang_process(erl, dist_bridge):
    mb, proc = _python_process(dist_bridge)
    pid = erl.eval("Victim = spawn(fun() -> receive stop -> exit(went_away) end end)")
    dist_bridge.call(lambda: dist_bridge.node.monitor(proc, pid))
    dist_bridge.call(lambda: dist_bridge.node.link(proc, pid))
    time.sleep(0.3)
    assert erl.eval("element(2, process_info(Victim, links))") == [proc.pid]
    erl.eval("Victim ! stop")
    msgs = {dist_bridge.run(mb.receive(5))[0], dist_bridge.run(mb.receive(5))[0]}
    assert msgs == {A("EXIT"), A("DOWN")}
    # unlink is seen by Erlang
    pid2 = erl.eval("V2 = spawn(fun() -> receive stop -> ok end end)")
    dist_bridge.call(lambda: dist_bridge.node.link(proc, pid2))
    time.sleep(0.2)
    assert erl.eval("element(2, process_info(V2, links))") == [proc.pid]
    dist_bridge.call(lambda: dist_bridge.node.unlink(proc, pid2))
    time.sleep(0.2)
    assert erl.eval("element(2, process_info(V2, links))") == []


def test_python_monitor_of_missing_erlang_name_is_noproc(erl, dist_bridge):
    mb, proc = _python_process(dist_bridge)
    erl.eval(f"net_adm:ping('{dist_bridge.name}')")
    ref = dist_bridge.call(lambda: dist_bridge.node.monitor(proc, (A("no_such_name"), A(erl.name))))
    msg = dist_bridge.run(mb.receive(5))
    assert msg[0] == A("DOWN") and msg[1] == ref and msg[4] == A("noproc")


def test_bridge_connects_out_on_its_own(make_erl, dist_bridge):
    node = make_erl()
    node.eval("register(inbox, self())")
    assert node.eval("nodes(hidden)") == []
    for i in range(3):
        dist_bridge.call(lambda i=i: dist_bridge.node.send((A("inbox"), A(node.name)), (A("hello"), i)))
    assert node.eval("[receive M -> M after 5000 -> none end || _ <- [1,2,3]]") == \
        [(A("hello"), 0), (A("hello"), 1), (A("hello"), 2)]


def test_python_call_and_rpc_into_erlang(erl, dist_bridge):
    erl.eval(f"net_adm:ping('{dist_bridge.name}')")
    assert dist_bridge.run(dist_bridge.node.rpc(erl.name, "erlang", "abs", [-5])) == 5
    res = dist_bridge.run(dist_bridge.node.rpc(erl.name, "file", "read_file", [b"/nonexistent/x"]))
    assert res == (A("error"), A("enoent"))
    res = dist_bridge.run(dist_bridge.node.rpc(erl.name, "erlang", "error", [A("oops")]))
    assert res[0] == A("badrpc")


def test_wrong_cookie_refused(make_erl, dist_bridge):
    node = make_erl(cookie="wrongcookie")
    assert node.eval(f"net_adm:ping('{dist_bridge.name}')") == A("pang")


def test_idle_connection_survives_net_ticktime(make_erl, cookie):
    bridge = BridgeThread(unique("tick"), cookie, ticktime=60, service=False)
    try:
        node = make_erl(args=["-kernel", "net_ticktime", "2"])
        node.eval(f"pong = net_adm:ping('{bridge.name}'), erlang:monitor_node('{bridge.name}', true)")
        time.sleep(7)
        assert node.eval("receive {nodedown, N} -> {down, N} after 0 -> up end") == A("up")
        assert node.true(f"lists:member('{bridge.name}', nodes(hidden))")
    finally:
        bridge.stop()


def test_bridge_drops_a_silent_peer(cookie):
    # a peer that stops answering (SIGSTOP) is dropped after the (peer's) tick time
    bridge = BridgeThread(unique("tick"), cookie, ticktime=2, service=False)
    node = ErlNode(unique("erl"), cookie, args=["-kernel", "net_ticktime", "2"])
    try:
        node.eval(f"pong = net_adm:ping('{bridge.name}')")
        deadline = time.time() + 5      # the bridge has asked the peer its net_ticktime
        while time.time() < deadline and not bridge.call(
                lambda: [c.peer_ticktime for c in bridge.node.connections.values()] == [2.0]):
            time.sleep(0.05)
        os.kill(node.proc.pid, signal.SIGSTOP)
        deadline = time.time() + 10
        while time.time() < deadline and bridge.call(lambda: len(bridge.node.connections)):
            time.sleep(0.2)
        assert bridge.call(lambda: len(bridge.node.connections)) == 0
    finally:
        os.kill(node.proc.pid, signal.SIGCONT)
        node.stop()
        bridge.stop()


def test_peer_with_a_longer_ticktime_is_not_dropped(cookie):
    # the bridge's own ticktime is 2 s; the peer (net_ticktime 12) ticks only
    # every 3 s when idle. Following the peer's ticktime keeps the connection.
    bridge = BridgeThread(unique("tick"), cookie, ticktime=2, service=False)
    node = ErlNode(unique("erl"), cookie, args=["-kernel", "net_ticktime", "12"])
    try:
        node.eval(f"pong = net_adm:ping('{bridge.name}'), erlang:monitor_node('{bridge.name}', true)")
        time.sleep(7)
        assert node.eval("receive {nodedown, N} -> {down, N} after 0 -> up end") == A("up")
        assert bridge.call(lambda: [c.peer_ticktime for c in bridge.node.connections.values()]) == [12.0]
    finally:
        node.stop()
        bridge.stop()


def test_bridge_cleans_up_when_erlang_node_goes_away(make_erl, dist_bridge):
    node = make_erl()
    mb, proc = _python_process(dist_bridge)
    pid = node.eval("spawn(fun() -> receive after infinity -> ok end end)")
    dist_bridge.call(lambda: dist_bridge.node.link(proc, pid))
    dist_bridge.call(lambda: dist_bridge.node.monitor(proc, pid))
    time.sleep(0.3)
    node.kill()
    msgs = [dist_bridge.run(mb.receive(5)) for _ in range(2)]
    assert {m[0] for m in msgs} == {A("EXIT"), A("DOWN")}
    assert all(m[-1] == A("noconnection") for m in msgs)
    assert A(node.name) not in dist_bridge.call(dist_bridge.node.connected_nodes)


def _cli(name, cookie):
    return subprocess.Popen([sys.executable, "-m", "bridge", "--name", name, "--cookie", cookie],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_cli_ready_nodedown_and_clean_exit(erl, cookie):
    name = unique("cli")
    proc = _cli(name, cookie)
    try:
        line = proc.stdout.readline()
        assert "ready" in line and name in line
        erl.eval(f"pong = net_adm:ping('{name}'), erlang:monitor_node('{name}', true)")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert erl.eval(f"receive {{nodedown, '{name}'}} -> down after 5000 -> up end") == A("down")
        names = subprocess.run(["epmd", "-names"], capture_output=True, text=True).stdout
        assert name.split("@")[0] not in names
    finally:
        if proc.poll() is None:
            proc.kill()


def test_killed_bridge_gives_nodedown(erl, cookie):
    name = unique("cli")
    proc = _cli(name, cookie)
    try:
        assert "ready" in proc.stdout.readline()
        erl.eval(f"pong = net_adm:ping('{name}'), erlang:monitor_node('{name}', true)")
        proc.kill()
        assert erl.eval(f"receive {{nodedown, '{name}'}} -> down after 5000 -> up end") == A("down")
    finally:
        if proc.poll() is None:
            proc.kill()


def test_cli_name_in_use_fails_cleanly(cookie, dist_bridge):
    proc = _cli(dist_bridge.name, cookie)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 1 and "cannot start" in err
