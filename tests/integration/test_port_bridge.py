"""The embedded bridge (issue 16.1): with neither ``bridge_node`` nor
``bridge_nodes`` set, the pyssl application runs ``pyssl-bridge --port-mode`` as
a port program under its supervisor (erlang_shim/src/pyssl_port.erl,
bridge/node/port.py).

Real parts throughout: ``erl`` nodes with and without distribution, the bridge
as the port program the application starts itself (``pyssl-bridge`` from the
PATH, or ``bridge_command``), BEAM ssl as the TLS peer, killed with SIGKILL.
Every wait is for an event, bounded by WAIT seconds against load; nothing sleeps.
"""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from bridge.etf import Atom as A
from conftest import unique
from erlnode import ROOT, ErlNode
from test_observe import CAPTURE

WAIT = 30
OK = A("ok")
CLOSED = (A("error"), A("closed"))


def env_with_bridge_on_path() -> dict:
    """This process's environment with the tree's pyssl-bridge first on the PATH
    (and this tree's package first on the Python path)."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT)
    return env


def quiet_bridge_command(log: Path) -> str:
    """``bridge_command`` as an Erlang term: this Python runs the bridge with its
    log in ``log``, so that nothing it writes shares the node's stdout with the
    test loop's answers. ``exec`` keeps the pid: the one the bridge reports."""
    script = 'exec "$0" -m bridge --port-mode 2>>"$1"'
    return f'["/bin/sh", "-c", "{script.replace(chr(34), chr(92) + chr(34))}", "{sys.executable}", "{log}"]'


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:   # a zombie is gone for us: read its state
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (OSError, IndexError):
        return False


def wait_gone(pid: int) -> None:
    deadline = time.monotonic() + WAIT
    while alive(pid):
        assert time.monotonic() < deadline, f"bridge {pid} still running {WAIT} s later"
        time.sleep(0.05)


def start_embedded(node: ErlNode, pki, command: str | None = None) -> None:
    """Start pyssl (no bridge node configured) and a BEAM ssl echo server."""
    setenv = f"application:set_env(pyssl, bridge_command, {command})," if command else ""
    node.eval(f"""
        ok = ssl:start(), {setenv}
        ok = pyssl:start(),
        Srv = [{{certfile, "{pki.server.cert_path}"}}, {{keyfile, "{pki.server.key_path}"}}],
        CaFile = "{pki.ca.cert_path}",
        EchoPort = pyssl_test_loop:server(Srv, fun pyssl_test_loop:echo/1),
        ok""")


def bridge_info(node: ErlNode) -> dict:
    info = node.eval("pyssl_port:info()")
    return {k.name: v for k, v in info.items()}


def echo_roundtrip(node: ErlNode) -> None:
    """connect with verification, passive send/recv, then active messages."""
    assert node.eval("""(fun() ->
        {ok, S} = pyssl:connect("localhost", EchoPort,
                                [{verify, verify_peer}, {cacertfile, CaFile}, binary,
                                 {active, false}], 30000),
        ok = pyssl:send(S, <<"passive">>),
        {ok, <<"passive">>} = pyssl:recv(S, 7, 30000),
        ok = pyssl:setopts(S, [{active, true}]),
        ok = pyssl:send(S, <<"active">>),
        receive {ssl, S, <<"active">>} -> ok after 30000 -> error(no_active_data) end,
        ok = pyssl:close(S)
    end)()""", timeout=4 * WAIT) is OK


@pytest.fixture
def pnode():
    nodes = []

    def make(name, cookie=None, **kw):
        n = ErlNode(name, cookie, **kw)
        nodes.append(n)
        return n
    yield make
    for n in nodes:
        n.stop()


def test_non_distributed_node_runs_the_bridge_from_path_and_stop_ends_it(pnode, pki):
    node = pnode(None, env=env_with_bridge_on_path())
    assert node.eval("node()") == A("nonode@nohost")
    start_embedded(node, pki)
    info = bridge_info(node)
    assert node.true('lists:suffix("/pyssl-bridge", maps:get(executable, pyssl_port:info()))')
    assert alive(info["os_pid"])
    echo_roundtrip(node)
    # pyssl:i/0 and pyssl:stats/0 list the embedded bridge
    node.eval(CAPTURE)
    assert node.true("""(fun() ->
        {ok, S} = pyssl:connect("localhost", EchoPort, [{verify, verify_peer}, {cacertfile, CaFile}],
                                30000),
        Bridge = pyssl_port:node_of(),
        #{Bridge := #{} = Stats} = pyssl:stats(),
        1 = map_size(pyssl:stats()),
        Text = CaptureIO(fun() -> pyssl:i() end),
        ok = pyssl:close(S),
        is_map(Stats) andalso binary:match(Text, atom_to_binary(Bridge)) =/= nomatch
    end)()""", timeout=2 * WAIT)
    assert node.eval("pyssl:stop()") is OK
    wait_gone(info["os_pid"])


def test_distributed_node_server_side_and_callbacks(pnode, pki, cookie, tmp_path):
    """A pyssl listen socket (its certfile read on this node through rex: the
    bridge's rpc, whose reply comes back through the port), accepted from a BEAM
    ssl client; a verify_fun run on this node for the bridge."""
    node = pnode(unique("port"), cookie)
    start_embedded(node, pki, quiet_bridge_command(tmp_path / "bridge.log"))
    assert node.eval("""(fun() ->
        {ok, L} = pyssl:listen(0, Srv ++ [binary, {active, false}]),
        {ok, {_, P}} = pyssl:sockname(L),
        Self = self(),
        spawn(fun() ->
            {ok, C} = ssl:connect("localhost", P, [{verify, verify_peer}, {cacertfile, CaFile},
                                                   binary, {active, false}], 30000),
            ok = ssl:send(C, <<"from ssl">>),
            Self ! {client, ssl:recv(C, 0, 30000)},
            ssl:close(C)
        end),
        {ok, T} = pyssl:transport_accept(L, 30000),
        {ok, S} = pyssl:handshake(T, 30000),
        {ok, <<"from ssl">>} = pyssl:recv(S, 0, 30000),
        ok = pyssl:send(S, <<"from pyssl">>),
        {ok, <<"from pyssl">>} = receive {client, R} -> R after 30000 -> timeout end,
        ok = pyssl:close(S),
        ok = pyssl:close(L)
    end)()""", timeout=4 * WAIT) is OK
    assert node.eval("""(fun() ->
        Me = self(),
        Fun = fun(_Cert, Event, St) -> Me ! {verify_fun, Event}, {valid, St} end,
        {ok, S} = pyssl:connect("localhost", EchoPort,
                                [{verify, verify_peer}, {verify_fun, {Fun, []}}, binary,
                                 {active, false}], 30000),
        receive {verify_fun, _} -> ok after 30000 -> error(no_verify_fun_call) end,
        ok = pyssl:close(S)
    end)()""", timeout=4 * WAIT) is OK


def test_tls_upgrade_of_a_gen_tcp_socket(pnode, pki, cookie, tmp_path):
    """pyssl_relay's messages and monitor of the bridge's process go through the port."""
    node = pnode(unique("port"), cookie)
    start_embedded(node, pki, quiet_bridge_command(tmp_path / "bridge.log"))
    assert node.eval("""(fun() ->
        {ok, T} = gen_tcp:connect("localhost", EchoPort, [binary, {active, false}]),
        {ok, S} = pyssl:connect(T, [{verify, verify_peer}, {cacertfile, CaFile}], 30000),
        ok = pyssl:send(S, <<"upgraded">>),
        {ok, <<"upgraded">>} = pyssl:recv(S, 8, 30000),
        ok = pyssl:close(S)
    end)()""", timeout=4 * WAIT) is OK


@pytest.mark.parametrize("distributed", [True, False], ids=["distributed", "nonode"])
def test_bridge_killed_then_a_new_bridge_serves(pnode, pki, cookie, tmp_path, distributed):
    """The distributed case lets the bridge serve past pyssl_port's ?MIN_UP (5 s)
    first: the supervisor then starts the next bridge by itself; the other case
    kills it at once, and the next pick starts it."""
    node = pnode(unique("port") if distributed else None, cookie if distributed else None)
    start_embedded(node, pki, quiet_bridge_command(tmp_path / "bridge.log"))
    if distributed:
        node.eval("timer:sleep(5000)", timeout=WAIT)
    node.eval("""
        Opts = [{verify, verify_peer}, {cacertfile, CaFile}, binary],
        {ok, Active} = pyssl:connect("localhost", EchoPort, [{active, true} | Opts], 30000),
        Main = self(),
        Waiter = spawn(fun() ->
            {ok, P} = pyssl:connect("localhost", EchoPort, [{active, false} | Opts], 30000),
            Main ! {passive, P},
            Main ! {pending_recv, pyssl:recv(P, 0)},
            receive stop -> ok end
        end),
        Passive = receive {passive, P} -> P after 30000 -> error(no_passive_socket) end,
        ok""", timeout=4 * WAIT)
    first = bridge_info(node)
    os.kill(first["os_pid"], signal.SIGKILL)
    assert node.eval("""(fun() ->
        receive {ssl_closed, Active} -> ok after 30000 -> error(no_ssl_closed) end,
        {error, closed} = receive {pending_recv, R} -> R after 30000 -> timeout end,
        {error, closed} = pyssl:recv(Passive, 0, 1000),
        {error, closed} = pyssl:send(Passive, <<"x">>),
        ok = pyssl:close(Active),
        ok
    end)()""", timeout=4 * WAIT) is OK
    if distributed:   # started again without a pick
        old = f"'{first['node'].name}'"
        assert node.true(f"""(fun Wait(0) -> false;
                                  Wait(N) -> case pyssl_port:node_of() of
                                                 undefined -> timer:sleep(50), Wait(N - 1);
                                                 {old} -> timer:sleep(50), Wait(N - 1);
                                                 _ -> true
                                             end
                              end)({WAIT * 20})""", timeout=2 * WAIT)
    echo_roundtrip(node)
    second = bridge_info(node)
    assert second["os_pid"] != first["os_pid"]
    assert second["node"] != first["node"]
    assert node.true("is_pid(whereis(pyssl_sup))")
    wait_gone(first["os_pid"])


def test_bad_bridge_command_answers_bridge_unavailable_and_recovers(pnode, pki, tmp_path):
    node = pnode(None)
    start_embedded(node, pki, '"/nonexistent/pyssl-bridge"')
    assert node.true("""
        {error, {bridge_unavailable, {port, {no_executable, "/nonexistent/pyssl-bridge"}}}}
            =:= pyssl:connect("localhost", EchoPort, [{verify, verify_none}])""")
    text = node.eval("""
        {error, Reason} = pyssl:versions(), list_to_binary(pyssl:format_error(Reason))""")
    assert b"embedded pyssl bridge" in text and b"bridge_command" in text
    # an executable that exits at once, and one that is not a bridge: each
    # pick tries once more and says why; the application stays up
    assert node.true("""
        application:set_env(pyssl, bridge_command, "/bin/false"),
        {error, {bridge_unavailable, {port, {exit_status, "/bin/false", 1}}}}
            =:= pyssl:connect("localhost", EchoPort, [{verify, verify_none}])""")
    assert node.true("""
        application:set_env(pyssl, bridge_command, ["/bin/echo", "not a bridge"]),
        {error, {bridge_unavailable, {port, {_, "/bin/echo", _}}}}
            = pyssl:connect("localhost", EchoPort, [{verify, verify_none}]),
        is_pid(whereis(pyssl_sup))""")
    assert node.true("""
        application:set_env(pyssl, bridge_command, 42),
        {error, {bridge_unavailable, {port, {bad_bridge_command, 42}}}}
            =:= pyssl:versions()""")
    node.eval(f"application:set_env(pyssl, bridge_command, {quiet_bridge_command(tmp_path / 'b.log')})")
    echo_roundtrip(node)


FAKE_BRIDGE = """
import os, struct, sys
from bridge.etf import Atom, term_to_binary
ready = term_to_binary((Atom("pyssl_port_ready"), Atom(f"fake_{os.getpid()}@localhost"), os.getpid()))
out = os.fdopen(1, "wb", buffering=0)
out.write(struct.pack(">I", len(ready)) + ready + struct.pack(">I", 5) + b"junk!")
sys.stdin.buffer.read()
"""


def test_a_bridge_that_breaks_at_once_is_no_restart_loop(pnode, pki, tmp_path):
    """A bridge that sends a frame that is not a distribution frame right after
    it is ready, each time it is started: every call answers (a closed bridge or
    none available), the application stays up, and a working bridge serves next."""
    fake = tmp_path / "fake_bridge.py"
    fake.write_text(FAKE_BRIDGE)
    node = pnode(None)
    start_embedded(node, pki, f'["{sys.executable}", "{fake}"]')
    assert node.true("""(fun() ->
        Answers = [pyssl:versions() || _ <- lists:seq(1, 15)],
        lists:all(fun({error, closed}) -> true;
                     ({error, {bridge_unavailable, {port, _}}}) -> true;
                     (_) -> false
                  end, Answers)
            andalso is_pid(whereis(pyssl_sup))
    end)()""", timeout=4 * WAIT)
    node.eval(f"application:set_env(pyssl, bridge_command, {quiet_bridge_command(tmp_path / 'b.log')})")
    echo_roundtrip(node)


def test_configured_bridge_node_starts_no_port(pnode, cookie):
    node = pnode(unique("port"), cookie)
    assert node.true("""
        application:set_env(pyssl, bridge_node, 'nobridge@127.0.0.1'),
        ok = pyssl:start(),
        undefined =:= whereis(pyssl_port) andalso undefined =:= pyssl_port:info()""")
    assert node.true("""
        {error, {bridge_unavailable, ['nobridge@127.0.0.1']}} =:= pyssl:versions()""")


def test_socket_handed_to_another_node(pnode, pki, cookie, tmp_path):
    """A socket of the embedded bridge serves the node that runs it: its active
    messages reach an owner on another node (pyssl_port passes them on as erts
    routes them), but that node has no port to the bridge, so its calls on the
    socket answer {error, closed}, as calls on a bridge it cannot reach do."""
    node = pnode(unique("port"), cookie)
    other = pnode(unique("other"), cookie)
    start_embedded(node, pki, quiet_bridge_command(tmp_path / "bridge.log"))
    # (its own embedded bridge is not wanted here: a command that does not exist)
    other.eval('ok = ssl:start(), application:set_env(pyssl, bridge_command, "/nonexistent"), '
               "ok = pyssl:start(), Me = self(), ok")
    other_name = other.name
    node.eval(f"""
        {{ok, S2}} = pyssl:connect("localhost", EchoPort,
                                  [{{verify, verify_peer}}, {{cacertfile, CaFile}}, binary,
                                   {{active, true}}], 30000),
        true = is_pid(rpc:call('{other_name}', erlang, whereis, [pyssl_sup])),
        ok""", timeout=4 * WAIT)
    # an owner on the other node: a process there that reports what it gets
    owner = other.eval("""
        Owner = spawn(fun Loop() -> receive M -> Me ! {owner_got, M}, Loop() end end),
        list_to_binary(pid_to_list(Owner))""").decode()
    assert node.true(f"""(fun() ->
        Owner = rpc:call('{other_name}', erlang, list_to_pid, ["{owner}"]),
        ok = pyssl:controlling_process(S2, Owner),
        ok = pyssl:send(S2, <<"to the other node">>),
        true
    end)()""", timeout=4 * WAIT)
    assert other.true("""
        receive {owner_got, {ssl, S, <<"to the other node">>}} ->
            {error, closed} =:= pyssl:send(S, <<"x">>)
        after 30000 -> false end""", timeout=2 * WAIT)
