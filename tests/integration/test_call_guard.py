"""The shim's calls monitor a local guard process per bridge instead of the bridge's
service (one remote monitor per bridge, not one per call): what callers see stays
the same — replies, {error, closed} when the service is not there or goes, nothing
left in their mailbox, and a restarted bridge is served again."""
import time

import pytest

from bridge.etf import Atom as A
from bridgenode import start_cli_bridge as start_bridge
from conftest import unique
from erlnode import ErlNode


@pytest.fixture(scope="module")
def node(pyssl_node):
    return pyssl_node


def test_calls_leave_no_monitor_and_no_message(node):
    r = node.eval("""(fun() ->
        V = pyssl:versions(),
        {ok, L} = pyssl:listen(0, [{certfile, "/nonexistent.pem"}]),
        Name = pyssl:sockname(L), ok = pyssl:close(L), Closed = pyssl:sockname(L),
        {is_list(V), element(1, Name), Closed,
         process_info(self(), monitors), process_info(self(), message_queue_len)} end)()""")
    assert r == (True, A("ok"), (A("error"), A("einval")), (A("monitors"), []),
                 (A("message_queue_len"), 0))


def test_node_without_the_service_gives_closed(node, cookie):
    other = ErlNode(unique("plain"), cookie)
    try:
        r = node.eval(f"""(fun() ->
            S = {{sslsocket, pyssl, rpc:call('{other.name}', erlang, make_ref, [])}},
            {{pyssl:send(S, <<"x">>), pyssl:recv(S, 0, 100), pyssl:close(S),
              process_info(self(), monitors), process_info(self(), message_queue_len)}} end)()""")
        assert r == ((A("error"), A("closed")), (A("error"), A("closed")), A("ok"),
                     (A("monitors"), []), (A("message_queue_len"), 0))
    finally:
        other.stop()


def test_restarted_bridge_is_served_again(cookie):
    name = unique("guardb")
    proc = start_bridge(name, cookie)
    n = ErlNode(unique("erl"), cookie)
    try:
        n.eval(f"application:set_env(pyssl, bridge_node, '{name}'), ok = pyssl:start()")
        assert isinstance(n.eval("pyssl:versions()"), list)
        n.eval("{ok, L} = pyssl:listen(0, [{certfile, \"/x.pem\"}]), ok")
        proc.kill()
        proc.wait()
        deadline = time.time() + 10
        while time.time() < deadline and n.eval(f"lists:member('{name}', nodes(hidden))"):
            time.sleep(0.1)
        assert n.eval("pyssl:sockname(L)") == (A("error"), A("closed"))
        proc = start_bridge(name, cookie)
        deadline = time.time() + 10
        res = None
        while time.time() < deadline:
            res = n.eval("pyssl:versions()")
            if isinstance(res, list):
                break
            time.sleep(0.2)
        assert isinstance(res, list)
        # the old bridge's socket is gone with it; the new bridge says so as ssl would
        assert n.eval("pyssl:sockname(L)") == (A("error"), A("einval"))
        assert n.eval("process_info(self(), monitors)") == (A("monitors"), [])
    finally:
        if proc.poll() is None:
            proc.kill()
        n.stop()
