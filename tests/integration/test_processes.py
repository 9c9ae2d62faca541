"""``pyssl-bridge --processes N`` (bridge.group): one command, N bridge processes,
new sockets spread over them by the shim (pyssl_bridges), workers started again,
no worker outliving its leader."""
import os
import signal
import subprocess
import sys
import time

import pytest

from bridge.etf import Atom
from bridge.group import worker_argv, worker_name

from conftest import unique

A = Atom
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEADLINE = 30.0


def _start(name, cookie, *extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen([sys.executable, "-m", "bridge", "--name", name, "--cookie", cookie,
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=ROOT)
    line = proc.stdout.readline()       # printed once the whole group is up
    assert "ready" in line, proc.stderr.read()
    return proc


def _names() -> str:
    return subprocess.run(["epmd", "-names"], capture_output=True, text=True).stdout


def _registered(alive: str) -> bool:
    return any(line.split()[1:2] == [alive] for line in _names().splitlines())


def _until(cond, what):
    """Poll a state that another process reaches on its own (no fixed sleep)."""
    end = time.monotonic() + DEADLINE
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"not reached in {DEADLINE} s: {what}")
        time.sleep(0.05)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:   # a zombie (exited, not yet reaped by its parent) is gone for us
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _worker_pids(leader_pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(leader_pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


@pytest.fixture
def group(cookie):
    name = unique("grp")
    proc = _start(name, cookie, "--processes", "3")
    yield name, proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_worker_names_and_flags():
    assert worker_name("pyssl@127.0.0.1", 2) == "pyssl_w2@127.0.0.1"
    argv = ["--name", "a@h", "--cookie", "c", "--dist-port=4000", "--processes", "4", "-v"]
    assert worker_argv(argv, "a_w1@h", short=False) == [
        "--cookie", "c", "-v", "--name", "a_w1@h", "--dist-port", "0", "--processes", "1",
        "--group-worker"]
    assert worker_argv(["--sname", "a", "--processes=2"], "a_w1@host", short=True) == [
        "--sname", "a_w1", "--dist-port", "0", "--processes", "1", "--group-worker"]


def test_sockets_are_spread_over_the_group(group, make_erl, pki):
    name, proc = group
    workers = [worker_name(name, k) for k in (1, 2)]
    n = make_erl()
    n.eval(f"ok = ssl:start(), application:set_env(pyssl, bridge_node, '{name}'), ok = pyssl:start()")
    assert n.eval("pyssl_bridges:members()") == [A(name), *map(A, workers)]
    n.eval(f"""{{ok, L}} = ssl:listen(0, [{{certfile, "{pki.server.cert_path}"}},
                                         {{keyfile, "{pki.server.key_path}"}}]),
               {{ok, {{_, Port}}}} = ssl:sockname(L),
               Acc = fun Acc() -> {{ok, T}} = ssl:transport_accept(L),
                                  spawn(fun() -> {{ok, _}} = ssl:handshake(T),
                                                 receive stop -> ok end end),
                                  Acc() end,
               spawn(Acc), ok.""")
    socks = n.eval("""Socks = [begin {ok, S} = pyssl:connect("127.0.0.1", Port,
                                              [{verify, verify_none}, {active, false}]), S end
                               || _ <- lists:seq(1, 6)],
                      [node(element(3, S)) || S <- Socks].""")
    # round-robin: each process of the group holds two of the six
    assert sorted(socks, key=str) == sorted([A(name), *map(A, workers)] * 2, key=str)
    # a socket's calls go to the process that holds it
    assert n.eval("""lists:all(fun(S) -> {ok, {_, _}} = pyssl:sockname(S),
                                         ok =:= pyssl:close(S) end, Socks)""") is True
    # the table of pyssl:i() shows every process's sockets
    assert set(n.eval("maps:keys(pyssl:stats())")) == {A(name), *map(A, workers)}


def test_a_worker_that_dies_is_started_again(group, make_erl):
    name, proc = group
    w1 = worker_name(name, 1)
    pids = _worker_pids(proc.pid)
    assert len(pids) == 2
    victim = next(p for p in pids if w1 in open(f"/proc/{p}/cmdline").read().replace("\0", " "))
    os.kill(victim, signal.SIGKILL)
    _until(lambda: len([p for p in _worker_pids(proc.pid) if p != victim and _pid_alive(p)]) == 2
           and _registered(w1.split("@")[0]), "the worker started again")
    n = make_erl()
    n.eval("ok = ssl:start()")
    _until(lambda: n.eval(f"catch gen_server:call({{pyssl, '{name}'}}, {{'$pyssl_group', []}}, 5000)")
           == [A(name), A(w1), A(worker_name(name, 2))], "the worker back in the group")


def test_no_worker_outlives_its_leader(group):
    name, proc = group
    pids = _worker_pids(proc.pid)
    assert len(pids) == 2
    proc.kill()                          # SIGKILL: the leader cannot stop them itself
    proc.wait()
    _until(lambda: not any(_pid_alive(p) for p in pids), "the workers ended")
    alive = name.split("@")[0]
    _until(lambda: not any(_registered(f"{alive}_w{k}") for k in (1, 2)), "EPMD forgot them")


def test_sigterm_stops_the_whole_group(group):
    name, proc = group
    pids = _worker_pids(proc.pid)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    _until(lambda: not any(_pid_alive(p) for p in pids), "the workers ended")


def test_processes_is_checked_like_the_other_settings(cookie):
    for bad in ("0", "65"):
        r = subprocess.run([sys.executable, "-m", "bridge", "--name", unique("grpbad"),
                            "--cookie", cookie, "--processes", bad],
                           capture_output=True, text=True, cwd=ROOT, timeout=30)
        assert r.returncode == 2 and "--processes" in r.stderr, r.stderr
    r = subprocess.run([sys.executable, "-m", "bridge", "--port-mode", "--processes", "2"],
                       capture_output=True, text=True, cwd=ROOT, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and "--processes" in r.stderr


def test_a_single_bridge_is_its_own_group(pyssl_node, bridge):
    assert pyssl_node.eval("pyssl_bridges:members()") == [A(bridge.name)]
    assert pyssl_node.eval(f"gen_server:call({{pyssl, '{bridge.name}'}}, {{'$pyssl_group', []}})") \
        == [A(bridge.name)]


def test_an_unreachable_bridge_stands_for_itself(make_erl):
    n = make_erl()
    gone = unique("nobridge")
    n.eval(f"ok = ssl:start(), application:set_env(pyssl, bridge_node, '{gone}'), ok = pyssl:start()")
    assert n.eval("pyssl_bridges:members()") == [A(gone)]
    assert n.eval('pyssl:connect("127.0.0.1", 1, [])') == \
        (A("error"), (A("bridge_unavailable"), [A(gone)]))


def test_a_bridge_that_is_down_is_dialled_once_per_connect(make_erl):
    # asking for its group already found it unreachable: a second connect_node
    # would cost a second setup timeout when its host does not answer
    n = make_erl()
    gone = unique("nobridge")
    n.eval(f"ok = ssl:start(), application:set_env(pyssl, bridge_node, '{gone}'), ok = pyssl:start()")
    n.eval("Tracer = spawn(fun() -> Count = fun C(K) -> receive "
           "{trace, _, call, {net_kernel, connect_node, _}} -> C(K + 1); "
           "{count, P} -> P ! {dials, K}, C(K) end end, Count(0) end), "
           "register(dial_counter, Tracer), "
           "1 = erlang:trace_pattern({net_kernel, connect_node, 1}, true, [global]), "
           "erlang:trace(all, true, [call, {tracer, Tracer}]), ok")
    assert n.eval('pyssl:connect("127.0.0.1", 1, [])') == \
        (A("error"), (A("bridge_unavailable"), [A(gone)]))
    assert n.eval("erlang:trace(all, false, [call]), dial_counter ! {count, self()}, "
                  "receive {dials, K} -> K after 5000 -> timeout end") == 1
