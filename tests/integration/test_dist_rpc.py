"""rpc/erpc serving, gen_server calls into Python, and connection set-up corner cases,
against real erl nodes."""
import asyncio
import threading
import time

import pytest

from bridge.node.kernel import RpcException
from bridge.node.node import Mailbox
from bridge.etf import Atom

from bridgenode import BridgeThread
from conftest import unique

A = Atom


class Recorder:
    """An rpc module: sync and async functions, failures of every class."""

    def __init__(self):
        self.casts = []
        self.started = threading.Event()

    def __call__(self, fun, args, caller):
        name = fun.name
        if name == "add":
            return args[0] + args[1]
        if name == "later":
            async def later():
                await asyncio.sleep(0.05)
                return (A("later"), args[0])
            return later()
        if name == "slow":
            async def slow():
                self.started.set()
                await asyncio.sleep(args[0] / 1000)
                return A("done")
            return slow()
        if name == "caller":
            return caller
        if name == "note":
            self.casts.append(args[0])
            return A("ok")
        if name == "err":
            raise RpcException("error", A("badarg"))
        if name == "ex":
            raise RpcException("exit", A("bye"))
        if name == "th":
            raise RpcException("throw", A("ball"))
        if name == "crash":
            raise ValueError("boom")
        if name == "async_crash":
            async def crash():
                raise KeyError("k")
            return crash()
        raise RpcException("error", A("undef"))


@pytest.fixture(scope="module")
def rb(cookie):
    b = BridgeThread(unique("rpcb"), cookie, service=False)
    b.rec = Recorder()
    b.call(lambda: b.node.register_rpc_module("pytest_mod", b.rec))
    yield b
    b.stop()


def test_sync_and_async_handlers_via_erpc_and_rex(erl, rb):
    b = rb.name
    assert erl.eval(f"rpc:call('{b}', pytest_mod, add, [2, 40])") == 42
    assert erl.eval(f"erpc:call('{b}', pytest_mod, later, [7])") == (A("later"), 7)
    assert erl.eval(f"gen_server:call({{rex, '{b}'}}, {{call, pytest_mod, later, [8], group_leader()}})") \
        == (A("later"), 8)
    # the handler is told who called: the spawning (erpc) or calling (rex) process
    assert erl.true(f"rpc:call('{b}', pytest_mod, caller, []) =:= self()")


def test_failures_have_erlang_shapes(erl, rb):
    b = rb.name
    assert erl.true(f"rpc:call('{b}', pytest_mod, err, []) =:= "
                    "{badrpc, {'EXIT', {badarg, [{pytest_mod, err, 0, []}]}}}")
    assert erl.true(f"rpc:call('{b}', pytest_mod, ex, []) =:= {{badrpc, {{'EXIT', bye}}}}")
    assert erl.eval(f"rpc:call('{b}', pytest_mod, th, [])") == A("ball")
    assert erl.true(f"try erpc:call('{b}', pytest_mod, err, []) catch "
                    "error:{exception, badarg, [{pytest_mod, err, 0, []}]} -> true end")
    assert erl.true(f"try erpc:call('{b}', pytest_mod, ex, []) catch exit:{{exception, bye}} -> true end")
    assert erl.true(f"try erpc:call('{b}', pytest_mod, th, []) catch throw:ball -> true end")
    # a Python bug in a handler is an error exception, not a dead bridge
    for fun in ("crash", "async_crash"):
        r = erl.eval(f"rpc:call('{b}', pytest_mod, {fun}, [])")
        assert r[0] == A("badrpc") and r[1][0] == A("EXIT")
        assert r[1][1][0][0] == A("pyssl_internal_error")
    assert erl.eval(f"rpc:call('{b}', pyssl_bridge, echo, [still_here])") == A("still_here")


def test_erpc_timeout_on_a_slow_handler(erl, rb):
    b = rb.name
    base = rb.call(lambda: len(rb.node.processes))
    rb.rec.started.clear()
    assert erl.eval(f"rpc:call('{b}', pytest_mod, slow, [600], 100)") == (A("badrpc"), A("timeout"))
    assert rb.rec.started.is_set()
    # the bridge goes on serving, and the abandoned call's process ends with its handler
    assert erl.eval(f"rpc:call('{b}', pytest_mod, add, [1, 1])") == 2
    deadline = time.time() + 5
    while time.time() < deadline and rb.call(lambda: len(rb.node.processes)) > base:
        time.sleep(0.05)
    assert rb.call(lambda: len(rb.node.processes)) == base


def test_erpc_cast_runs_the_handler(erl, rb):
    b = rb.name
    erl.eval(f"erpc:cast('{b}', pytest_mod, note, [{{cast, 1}}]), rpc:cast('{b}', pytest_mod, note, [{{cast, 2}}])")
    deadline = time.time() + 5
    while time.time() < deadline and len(rb.rec.casts) < 2:
        time.sleep(0.05)
    assert rb.rec.casts == [(A("cast"), 1), (A("cast"), 2)]


def test_spawn_of_other_functions_is_refused_with_notsup(erl, rb):
    b = rb.name
    assert erl.eval(f"begin R = spawn_request('{b}', lists, seq, [1, 3], []), "
                    "receive {spawn_reply, R, error, E} -> E after 5000 -> timeout end end") == A("notsup")
    # erpc with a fun needs erlang:apply, which the bridge cannot run: undef, like a missing module
    assert erl.eval(f"element(1, element(2, element(2, rpc:call('{b}', erlang, apply, "
                    "[fun() -> ok end, []]))))") == A("undef")


def test_erlang_gen_server_call_into_a_python_process(erl, rb):
    class Echoer:
        def __init__(self):
            self.node = rb.node

        def handle_message(self, msg):
            if isinstance(msg, tuple) and len(msg) == 3 and msg[0] == A("$gen_call"):
                (pid, tag), req = msg[1], msg[2]
                self.node.send(pid, (tag, (A("echo"), req)))

    rb.call(lambda: rb.node.spawn(Echoer(), name="py_echoer"))
    b = rb.name
    assert erl.eval(f"gen_server:call({{py_echoer, '{b}'}}, hello)") == (A("echo"), A("hello"))
    # a call to a missing name exits with noproc, without waiting for the timeout
    assert erl.true(f"try gen_server:call({{no_such_py, '{b}'}}, x, 20000) catch "
                    f"exit:{{noproc, _}} -> true end")


def test_messages_keep_their_order(erl, rb):
    mb = Mailbox()
    proc = rb.call(lambda: rb.node.spawn(mb, name="py_order"))
    erl.eval(f"[{{py_order, '{rb.name}'}} ! {{n, I}} || I <- lists:seq(1, 2000)]")
    got = [rb.run(mb.receive(5)) for _ in range(2000)]
    assert got == [(A("n"), i) for i in range(1, 2001)]
    rb.call(lambda: rb.node.exit_process(proc))


def test_bridge_dialling_with_a_wrong_cookie_is_refused(make_erl, rb):
    other = make_erl(cookie="not_the_same_cookie")
    assert rb.run(rb.node.connect(other.name)) is False
    assert A(other.name) not in rb.call(rb.node.connected_nodes)
    # sending there is not an error: the message is dropped, as Erlang drops it
    rb.call(lambda: rb.node.send((A("inbox"), A(other.name)), hello))
    assert other.eval("nodes(hidden)") == []


hello = A("hello")


def test_simultaneous_connects_end_with_one_working_connection(make_erl, rb):
    node = make_erl()
    node.eval("register(inbox, self())")
    for i in range(4):
        # both sides dial at the same moment; whichever handshake wins, one
        # connection remains and both the ping and the message get through
        t = threading.Thread(target=lambda i=i: rb.call(
            lambda: rb.node.send((A("inbox"), A(node.name)), (A("sim"), i))))
        t.start()
        assert node.eval(f"net_adm:ping('{rb.name}')") == A("pong")
        t.join()
        assert node.eval(f"receive {{sim, N{i}}} -> N{i} after 5000 -> none end") == i
        assert rb.call(rb.node.connected_nodes).count(A(node.name)) == 1
        node.eval(f"erlang:disconnect_node('{rb.name}')")
        deadline = time.time() + 5
        while time.time() < deadline and A(node.name) in rb.call(rb.node.connected_nodes):
            time.sleep(0.02)


def test_async_handler_keeps_order_and_does_not_block_others(erl, rb):
    class Slow:
        def __init__(self):
            self.seen = []

        async def handle_message(self, msg):
            await asyncio.sleep(0.01 if msg[1] % 2 else 0.0)
            self.seen.append(msg[1])

    slow = Slow()
    fast = Mailbox()
    rb.call(lambda: rb.node.spawn(slow, name="py_slow"))
    rb.call(lambda: rb.node.spawn(fast, name="py_fast"))
    erl.eval(f"[{{py_slow, '{rb.name}'}} ! {{n, I}} || I <- lists:seq(1, 40)], "
             f"{{py_fast, '{rb.name}'}} ! quick")
    # the fast process is served while the slow one still works through its backlog
    assert rb.run(fast.receive(5)) == A("quick")
    assert len(slow.seen) < 40
    deadline = time.time() + 10
    while time.time() < deadline and len(slow.seen) < 40:
        time.sleep(0.05)
    assert slow.seen == list(range(1, 41))


def test_async_handler_crash_ends_only_its_process(erl, rb):
    class Bad:
        async def handle_message(self, msg):
            raise RuntimeError("bad handler")

    proc = rb.call(lambda: rb.node.spawn(Bad(), name="py_bad"))
    erl.eval(f"Mbad = erlang:monitor(process, {{py_bad, '{rb.name}'}}), {{py_bad, '{rb.name}'}} ! x")
    assert erl.eval("receive {'DOWN', Mbad, process, _, Rbad} -> Rbad after 5000 -> none end") \
        == A("crashed")
    assert proc.alive is False
    assert erl.eval(f"rpc:call('{rb.name}', pyssl_bridge, echo, [ok])") == A("ok")


def test_erlang_monitor_by_name_fires_with_the_name(erl, rb):
    mb = Mailbox()
    proc = rb.call(lambda: rb.node.spawn(mb, name="py_named"))
    b = rb.name
    erl.eval(f"Mn = erlang:monitor(process, {{py_named, '{b}'}})")
    deadline = time.time() + 5      # the MONITOR_P signal is on its way
    while time.time() < deadline and not rb.call(lambda: len(proc.monitored_by)):
        time.sleep(0.02)
    rb.call(lambda: rb.node.exit_process(proc, A("bye_named")))
    assert erl.true(f"receive {{'DOWN', Mn, process, {{py_named, '{b}'}}, bye_named}} -> true "
                    "after 5000 -> false end")
    # the connection survived the signal (a malformed one makes erts disconnect)
    assert erl.true(f"lists:member('{b}', nodes(hidden))")
