"""Fault injection with real parts: the bridge as its own OS process (killed with
SIGKILL), real ``erl`` nodes (disconnected, killed), BEAM ssl as the TLS peer
(resetting its TCP connection).

Whatever breaks, every owner gets what ssl gives: ``{ssl_closed, S}`` /
``{ssl_error, S, Reason}`` when active, ``{error, closed}`` from a pending or later
``recv`` / ``send``; every call returns; the TLS peer sees its connection end.

1. The bridge killed (SIGKILL) mid-transfer in each direction (pyssl sending with its
   send window, or receiving), with recv(S, 0, infinity) pending, with a connect or a
   server handshake pending; then a new bridge of the same name serves.
2. An owner's node lost (erlang:disconnect_node/1 to the bridge, or SIGKILL): the
   bridge closes that node's sockets and ends its pending connect and handshake,
   another node's socket carries on, the node's new calls work.
3. The TLS peer resets TCP (BEAM ssl with SO_LINGER 0; openssl s_server killed with
   SIGKILL) mid-transfer: ssl and pyssl owners on one node get the same results.

Every step waits for an event (a message, a monitor, a socket's end) with a bound
of WAIT seconds (tests/support/erl/pyssl_faults.erl, ``?WAIT``) after which it fails and
says which step it was; nothing sleeps. The Erlang side of the scenarios is in
tests/support/erl/pyssl_faults.erl.

When the connection between an owner's node and the bridge goes, a passive owner
gets no {ssl_closed, S} (as with ssl), and the bridge's replies to calls that had
already returned {error, closed} never reach their callers' mailboxes: calls are
made on an alias, as gen_server:call makes them, and the bridge replies to it
(tests/test_late_replies.py).
"""
from __future__ import annotations

import itertools
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading

import pytest

from bridge.etf import Atom as A
from conftest import unique
from erlnode import HERE, ROOT, ErlNode
from sslcompare import both

WAIT = 30           # seconds: a step that should happen; long, so that load cannot fail it
EVAL = 4 * WAIT     # an eval that waits for a few such steps

OK = A("ok")
CLOSED = (A("error"), A("closed"))
EINVAL = (A("error"), A("einval"))
SSL_CLOSED = A("ssl_closed")
ACTIVE = ["true", "once", "false"]
MiB = 1 << 20


def erl(template: str, **values) -> str:
    """Erlang text with @NAME@ replaced (Erlang is all braces: no f-strings)."""
    for k, v in values.items():
        template = template.replace(f"@{k}@", str(v))
    assert not re.search(r"@[A-Z_]+@", template), template
    return template


# ---- the parts ---------------------------------------------------------------------

class BridgeProcess:
    """``python -m bridge`` as its own OS process. Its log goes to a file: a pipe that
    nobody reads would stop it once full."""

    def __init__(self, name: str, cookie: str, log_dir):
        self.name = name
        self.log_path = log_dir / (name.split("@")[0] + ".log")
        env = dict(os.environ, PYSSL_BRIDGE_COOKIE=cookie)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "bridge", "--name", name],
                                         stdout=subprocess.PIPE, stderr=log, env=env, cwd=ROOT)
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in self.proc.stdout] + [lines.put(b"")],
                         daemon=True).start()
        try:
            line = lines.get(timeout=WAIT)
        except queue.Empty:
            line = b""
        if b"ready" not in line:
            self.kill()
            raise RuntimeError(f"bridge {name} did not start: {line!r}\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no chance to close anything; the kernel closes its sockets."""
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(WAIT)


@pytest.fixture(scope="module")
def faults_ebin(tmp_path_factory):
    d = tmp_path_factory.mktemp("faults_ebin")
    subprocess.run(["erlc", "-o", str(d), str(HERE / "erl" / "pyssl_faults.erl")], check=True)
    return str(d)


@pytest.fixture
def make_bridge(cookie, tmp_path):
    made = []

    def make(name=None):
        b = BridgeProcess(name or unique("fbridge"), cookie, tmp_path)
        made.append(b)
        return b
    yield make
    for b in made:
        b.kill()
        print(f"--- log of {b.name} (last 4000 characters)\n{b.log()}")


def start_node(name, cookie, ebin, pki, bridge) -> ErlNode:
    n = ErlNode(name, cookie, args=["-pa", ebin])
    n.eval(erl("""ok = ssl:start(), ok = pyssl:start(),
        SrvOpts = [{certfile, "@CERT@"}, {keyfile, "@KEY@"}],
        Self = self(), ok""", CERT=pki.server.cert_path, KEY=pki.server.key_path))
    use_bridge(n, bridge)
    return n


def use_bridge(node: ErlNode, bridge) -> None:
    node.eval(f"application:set_env(pyssl, bridge_node, '{bridge.name}')")


@pytest.fixture
def make_node(cookie, faults_ebin, pki):
    made = []

    def make(bridge, name=None):
        n = start_node(name or unique("fnode"), cookie, faults_ebin, pki, bridge)
        made.append(n)
        return n
    yield make
    for n in made:
        n.stop()


def wait_unregistered(node: ErlNode, name: str) -> None:
    """Until EPMD has dropped ``name`` (it learns of a killed node from its closed
    socket): a new node of that name can then register."""
    alive = name.split("@")[0]
    assert node.eval(erl("""(fun() ->
        Deadline = erlang:monotonic_time(millisecond) + @WAIT@,
        Poll = fun Poll() ->
            case erl_epmd:port_please("@ALIVE@", {127,0,0,1}) of
                noport -> gone;
                _ -> case erlang:monotonic_time(millisecond) > Deadline of
                         true -> still_registered;
                         false -> receive after 20 -> Poll() end
                     end
            end end,
        Poll() end)()""", WAIT=WAIT * 1000, ALIVE=alive), EVAL) == A("gone"), \
        f"EPMD still has {name} {WAIT} s after it was killed"


# ---- owners and peers (tests/support/erl/pyssl_faults.erl) -----------------------------------

def start_owner(node: ErlNode, role: str, direction: str, active: str, peer_role: str,
                *, var: str = "Owner", tag: str = "tag00001", mod: str = "pyssl",
                peer_at: ErlNode | None = None, port: int | None = None,
                threshold: int = MiB) -> None:
    """Bind ``var`` on ``node`` to an owner process of a ``mod`` socket in ``role``, with
    a BEAM ssl peer running ``peer_role`` on ``peer_at`` (default: the same node, which
    then gets the peer's reports); returns once the transfer is in flight (``send`` /
    ``recv``) or the socket is set up (``idle``: for a passive owner, once its
    recv(S, 0, infinity) is with the bridge). The owner's socket is bound to ``var``
    ++ "S". ``tag`` (8 bytes) names the connection in the peer's reports. A client
    given ``port`` connects there (a peer that is not BEAM ssl). ``threshold``: the
    bytes sent or received that make the transfer in flight."""
    assert len(tag) == 8
    peer_at = peer_at or node
    # Mind erl_eval's bindings: only Self, SrvOpts and what a test binds on purpose
    # live at top level; the names inside the funs (ending in _) must not be bound there.
    opts = f"[binary, {{active, {'false' if direction == 'idle' else active}}}]"
    if role == "client":
        if port is None:
            port = peer_at.eval(f"pyssl_faults:ssl_peer_server(SrvOpts, {peer_role}, Self)")
        connect = f"pyssl_faults:client({mod}, {port}, {opts})"
    else:
        connect = f"pyssl_faults:server({mod}, SrvOpts ++ {opts}, Self)"
    node.eval(erl("@VAR@ = pyssl_faults:owner(@MOD@, @CONNECT@, <<\"@TAG@\">>, @DIR@, @ACTIVE@, Self, @T@)",
                  VAR=var, MOD=mod, CONNECT=connect, TAG=tag, DIR=direction, ACTIVE=active, T=threshold))
    if role == "server":
        port = node.eval(erl("""(fun() ->
            receive {listening, @VAR@, P_} -> P_ after @W@ -> error({timeout, listening}) end end)()""",
            VAR=var, W=WAIT * 1000))
        peer_at.eval(erl("""spawn(fun() ->
            {ok, C_} = ssl:connect({127,0,0,1}, @PORT@, [binary, {active, false}, {verify, verify_none}], @W@),
            pyssl_faults:peer(C_, @PEER@, Self) end), ok""", PORT=port, PEER=peer_role, W=WAIT * 1000))
    if direction == "idle":
        ready = erl("""
            ok = case @ACTIVE@ of
                     false -> pyssl_faults:await_request(@VAR@, fun({recv, [_, 0, infinity]}) -> true;
                                                                   (_) -> false end);
                     _ -> ok
                 end,""", ACTIVE=active, VAR=var)
    else:
        ready = erl("receive {in_flight, @VAR@} -> ok after @W@ -> error({timeout, in_flight}) end,",
                    VAR=var, W=WAIT * 1000)
    node.eval(erl("""@VAR@S = (fun() ->
        S_ = receive {owner_up, @VAR@, X_} -> X_ after @W@ -> error({timeout, owner_up}) end,
        @READY@
        S_ end)()""", VAR=var, READY=ready, W=WAIT * 1000), EVAL)


def finish_owner(node: ErlNode, *, var: str = "Owner", tag: str = "tag00001", peer: bool = True):
    """(how the owner's transfer ended, how its peer's ended (``peer``: the peer
    reports to this node), what later calls give)."""
    return node.eval(erl("""(fun() ->
        End_ = receive {owner_end, @VAR@, E_} -> E_ after @W@ -> {timeout, owner_end} end,
        PeerEnd_ = case @PEER@ of
                       true -> receive {peer_end, <<"@TAG@">>, P_} -> P_ after @W@ -> {timeout, peer_end} end;
                       false -> no_peer
                   end,
        @VAR@ ! after_end,
        After_ = receive {after_end, @VAR@, A_} -> A_ after @W@ -> {timeout, after_end} end,
        {End_, PeerEnd_, After_} end)()""", VAR=var, TAG=tag, PEER=str(peer).lower(),
        W=WAIT * 1000), EVAL)


def has_window(node: ErlNode, sock_var: str) -> bool:
    """Whether the socket has a send window on its owner's node. The bridge grants it
    right after the reply that gave the owner its socket: once a later call of ours
    came back, the grant is in the guard's queue, and a sync with the guard has it
    handled."""
    return node.true(erl("""(fun() ->
        {sslsocket, pyssl, Ref_} = @S@,
        _ = pyssl:versions(),
        ok = pyssl_guards:sync(node(Ref_), keep),
        ets:member(pyssl_windows, Ref_) end)()""", S=sock_var))


def owner_end(active: str):
    return SSL_CLOSED if active != "false" else (A("recv_error"), A("closed"))


def check_peer_end(peer_end, peer_role: str):
    """The peer's loop ended on an error (it saw the connection go)."""
    assert isinstance(peer_end, tuple) and peer_end[0] == A(peer_role), peer_end
    _bytes, (where, result) = peer_end[1]
    assert where == A("recv" if peer_role in ("sink", "echo") else "send"), peer_end
    assert result[0] == A("error"), peer_end


def check_after_end(after, active: str):
    """Calls on an ended socket say closed; an owner has no more messages for it
    (a passive one had none), and no owner has any other message (no late reply)."""
    send, recv, setopts, about, other = after
    assert (send, recv, setopts) == (CLOSED, CLOSED, CLOSED), after
    assert about == [], after
    assert other == [], after


# ---- 1. the bridge killed -----------------------------------------------------------

@pytest.mark.parametrize("active", ACTIVE)
@pytest.mark.parametrize("role", ["client", "server"])
@pytest.mark.parametrize("direction", ["send", "recv"])
def test_bridge_killed_mid_transfer(make_bridge, make_node, direction, role, active):
    """SIGKILL of the bridge while 64 KiB chunks flow: pyssl sending with its send
    window, or receiving; the owner's loop ends as on a closed ssl socket, the peer
    sees the end, later calls say closed."""
    bridge = make_bridge()
    n = make_node(bridge)
    peer_role = "sink" if direction == "send" else "source"
    start_owner(n, role, direction, active, peer_role)
    if direction == "send":
        assert has_window(n, "OwnerS"), "the sender has no send window"
    bridge.kill()
    end, peer_end, after = finish_owner(n)
    if direction == "send":
        sent, send_result, how = end
        assert sent >= MiB and send_result == CLOSED and how == owner_end(active), end
    else:
        got, how = end
        assert got >= MiB and how == owner_end(active), end
    check_peer_end(peer_end, peer_role)
    check_after_end(after, active)


@pytest.mark.parametrize("role", ["client", "server"])
def test_bridge_killed_during_pending_recv(make_bridge, make_node, role):
    """recv(S, 0, infinity) is with the bridge when it dies: it returns {error, closed}."""
    bridge = make_bridge()
    n = make_node(bridge)
    start_owner(n, role, "idle", "false", "echo")
    bridge.kill()
    end, peer_end, after = finish_owner(n)
    assert end == (0, (A("recv_error"), A("closed")))
    check_peer_end(peer_end, "echo")
    check_after_end(after, "false")


# a new connect, send and recv (an echo from a BEAM ssl peer)
ECHO_CLIENT = erl("""(fun() ->
    EchoPort_ = pyssl_faults:ssl_peer_server(SrvOpts, echo, Self),
    {ok, S_} = pyssl:connect({127,0,0,1}, EchoPort_, [binary, {active, false}, {verify, verify_none}], @W@),
    ok = pyssl:send(S_, <<"tag00009">>),
    {ok, <<"tag00009">>} = pyssl:recv(S_, 8, @W@),
    ok = pyssl:send(S_, <<"again">>),
    R_ = pyssl:recv(S_, 5, @W@),
    ok = pyssl:close(S_), R_ end)()""", W=WAIT * 1000)


def test_bridge_killed_during_connect_then_a_new_bridge_serves(make_bridge, make_node):
    """The peer accepts TCP and never answers the ClientHello: connect(..., infinity)
    returns {error, closed} when the bridge dies, and the peer sees the TCP end. A new
    bridge of the same name then serves new connects from the same node."""
    bridge = make_bridge()
    n = make_node(bridge)
    n.eval(erl("""{Conn, Sink} = (fun() ->
        HelloPort_ = pyssl_faults:hello_sink(Self),
        C_ = spawn(fun() -> Self ! {connect_result, self(),
            pyssl:connect({127,0,0,1}, HelloPort_, [{verify, verify_none}], infinity)} end),
        receive {hello, Sink_, _} -> {C_, Sink_} after @W@ -> error({timeout, client_hello}) end
        end)()""", W=WAIT * 1000))
    bridge.kill()
    r = n.eval(erl("""(fun() -> {
        receive {connect_result, Conn, R_} -> R_ after @W@ -> {timeout, connect_result} end,
        receive {tcp_end, Sink, E_} -> E_ after @W@ -> {timeout, tcp_end} end} end)()""",
        W=WAIT * 1000), EVAL)
    assert r[0] == CLOSED, r
    assert r[1][0] == A("error"), r
    wait_unregistered(n, bridge.name)
    make_bridge(bridge.name)
    assert n.eval(ECHO_CLIENT, EVAL) == (OK, b"again")


def test_bridge_killed_during_server_handshake_then_a_new_bridge_serves(make_bridge, make_node):
    """A pyssl server's handshake waits for the client's second flight (a proxy passed
    the ClientHello and the server's answer, then nothing), and another
    transport_accept waits: both return {error, closed} when the bridge dies; the
    client sees the end. A new bridge of the same name then serves a new listen."""
    bridge = make_bridge()
    n = make_node(bridge)
    n.eval(erl("""{L, Client, Hs, Proxy, Acc} = (fun() ->
        {ok, L_} = pyssl:listen(0, SrvOpts ++ [binary, {active, false}]),
        {ok, {_, LPort_}} = pyssl:sockname(L_),
        ProxyPort_ = pyssl_faults:stall_proxy(LPort_, Self),
        %% (with TLS 1.3 the client is done with the server's first flight: then
        %% its recv tells what it sees)
        Client_ = spawn(fun() -> Self ! {client_result, self(),
            case ssl:connect({127,0,0,1}, ProxyPort_, [{verify, verify_none}, {active, false}], infinity) of
                {ok, CS_} -> ssl:recv(CS_, 0);
                CE_ -> CE_
            end} end),
        {ok, T_} = pyssl:transport_accept(L_, @W@),
        Hs_ = spawn(fun() -> Self ! {hs_result, self(), pyssl:handshake(T_, infinity)} end),
        Proxy_ = receive {stalled, P_} -> P_ after @W@ -> error({timeout, server_hello}) end,
        Acc_ = pyssl_faults:pending(fun() -> pyssl:transport_accept(L_, infinity) end,
                                    transport_accept, Self),
        true = is_pid(Acc_),
        {L_, Client_, Hs_, Proxy_, Acc_} end)()""", W=WAIT * 1000), EVAL)
    bridge.kill()
    r = n.eval(erl("""(fun() -> {
        receive {hs_result, Hs, R1_} -> R1_ after @W@ -> {timeout, handshake_result} end,
        receive {pending_result, Acc, R2_} -> R2_ after @W@ -> {timeout, transport_accept_result} end,
        receive {tcp_end, Proxy, R3_} -> R3_ after @W@ -> {timeout, proxy_tcp_end} end,
        receive {client_result, Client, R4_} -> R4_ after @W@ -> {timeout, client_result} end,
        pyssl:transport_accept(L, 0), pyssl:close(L)} end)()""", W=WAIT * 1000), EVAL)
    hs, acc, proxy_end, client, later_accept, close = r
    assert (hs, acc, later_accept, close) == (CLOSED, CLOSED, CLOSED, OK), r
    assert proxy_end[0] == A("error") and client[0] == A("error"), r
    wait_unregistered(n, bridge.name)
    make_bridge(bridge.name)
    r = n.eval(erl("""(fun() ->
        {ok, L_} = pyssl:listen(0, SrvOpts ++ [binary, {active, false}]),
        {ok, {_, P_}} = pyssl:sockname(L_),
        spawn(fun() -> {ok, C_} = ssl:connect({127,0,0,1}, P_, [binary, {active, false},
                                              {verify, verify_none}], @W@),
                       pyssl_faults:peer(C_, echo, Self) end),
        {ok, T_} = pyssl:transport_accept(L_, @W@),
        {ok, S_} = pyssl:handshake(T_, @W@),
        ok = pyssl:send(S_, <<"tag00009">>),
        {ok, <<"tag00009">>} = pyssl:recv(S_, 8, @W@),
        ok = pyssl:send(S_, <<"again">>),
        R_ = pyssl:recv(S_, 5, @W@),
        ok = pyssl:close(S_), ok = pyssl:close(L_), R_ end)()""", W=WAIT * 1000), EVAL)
    assert r == (OK, b"again")


# ---- 2. an owner's node lost ------------------------------------------------------------

# A's sockets: (var, role, direction, active, peer role); the tag is the var, padded
A_OWNERS = [("CliTrue", "client", "idle", "true", "echo"),
            ("CliOnce", "client", "idle", "once", "echo"),
            ("CliPassive", "client", "idle", "false", "echo"),
            ("SrvTrue", "server", "idle", "true", "echo"),
            ("SrvOnce", "server", "idle", "once", "echo"),
            ("SrvPassive", "server", "idle", "false", "echo"),
            ("Sender", "client", "send", "true", "sink"),
            ("Receiver", "server", "recv", "false", "source")]


def tag_of(var: str) -> str:
    return (var.lower() + "________")[:8]


@pytest.mark.parametrize("how", ["disconnect_node", "kill"])
def test_owner_node_lost(make_bridge, make_node, how):
    """Node A owns sockets in every mode and role (idle, sending, receiving) and has a
    connect and a server handshake pending; B owns one more socket and runs every TLS
    peer. A is disconnected from the bridge (erlang:disconnect_node/1 on A) or killed
    (SIGKILL): the bridge closes A's sockets and ends its pending connect and
    handshake (each peer sees its end), B's socket still echoes, A's owners see their
    sockets closed, and A (reconnected, or started again under its name) gets new
    sockets."""
    bridge = make_bridge()
    a = make_node(bridge)
    b = make_node(bridge)
    for var, role, direction, active, peer_role in A_OWNERS:
        start_owner(a, role, direction, active, peer_role, var=var, tag=tag_of(var), peer_at=b)
    # a connect waiting for a peer that never answers
    hello_port = b.eval("pyssl_faults:hello_sink(Self)")
    a.eval(erl("""Conn = spawn(fun() -> Self ! {connect_result, self(),
        pyssl:connect({127,0,0,1}, @PORT@, [{verify, verify_none}], infinity)} end), ok""", PORT=hello_port))
    b.eval(erl("""HelloSink = (fun() ->
        receive {hello, H_, _} -> H_ after @W@ -> error({timeout, client_hello}) end end)()""",
        W=WAIT * 1000))
    # a server handshake waiting for the client's second flight (held by a proxy)
    a.eval(erl("""Hs = spawn(fun() ->
        {ok, L_} = pyssl:listen(0, SrvOpts ++ [binary, {active, false}]),
        {ok, {_, P_}} = pyssl:sockname(L_),
        Self ! {listening, self(), P_},
        {ok, T_} = pyssl:transport_accept(L_, @W@),
        Self ! {hs_result, self(), pyssl:handshake(T_, infinity)} end), ok""", W=WAIT * 1000))
    listen_port = a.eval(erl("""(fun() ->
        receive {listening, Hs, P_} -> P_ after @W@ -> error({timeout, listening}) end end)()""",
        W=WAIT * 1000))
    b.eval(erl("""Proxy = (fun() ->
        PP_ = pyssl_faults:stall_proxy(@PORT@, Self),
        spawn(fun() -> ssl:connect({127,0,0,1}, PP_, [{verify, verify_none}], infinity) end),
        receive {stalled, X_} -> X_ after @W@ -> error({timeout, server_hello}) end end)()""",
        PORT=listen_port, W=WAIT * 1000))
    b.eval(erl("""BS = (fun() ->
        {ok, S_} = pyssl:connect({127,0,0,1}, pyssl_faults:ssl_peer_server(SrvOpts, echo, Self),
                                 [binary, {active, false}, {verify, verify_none}], @W@),
        ok = pyssl:send(S_, <<"bsocket_">>),
        {ok, <<"bsocket_">>} = pyssl:recv(S_, 8, @W@),
        S_ end)()""", W=WAIT * 1000))

    if how == "disconnect_node":
        assert a.eval(f"erlang:disconnect_node('{bridge.name}')") is True
    else:
        a.kill()

    # the bridge closed every socket of A: each peer (on B) saw its connection end
    peer_ends = b.eval(erl("pyssl_faults:collect(peer_end, @N@)", N=len(A_OWNERS)), EVAL)
    assert [tag for tag, _ in peer_ends] == sorted(tag_of(v).encode() for v, *_ in A_OWNERS), peer_ends
    for (_tag, end), (var, _role, _dir, _active, peer_role) in zip(
            peer_ends, sorted(A_OWNERS, key=lambda o: tag_of(o[0]))):
        check_peer_end(end, peer_role)
    # the pending connect too: its peer saw the TCP connection end
    tcp_end = b.eval(erl("""(fun() ->
        receive {tcp_end, HelloSink, E_} -> E_ after @W@ -> {timeout, tcp_end} end end)()""",
        W=WAIT * 1000), EVAL)
    assert tcp_end[0] == A("error"), tcp_end
    # and the server handshake's
    tcp_end = b.eval(erl("""(fun() ->
        receive {tcp_end, Proxy, E_} -> E_ after @W@ -> {timeout, proxy_tcp_end} end end)()""",
        W=WAIT * 1000), EVAL)
    assert tcp_end[0] == A("error"), tcp_end
    # B's socket carries on
    assert b.eval(erl("""(fun() ->
        ok = pyssl:send(BS, <<"still here">>),
        R_ = pyssl:recv(BS, 10, @W@),
        ok = pyssl:close(BS), R_ end)()""", W=WAIT * 1000), EVAL) == (OK, b"still here")

    if how == "disconnect_node":
        # A's owners were told, pending calls returned, later calls say closed
        for var, _role, direction, active, _peer in A_OWNERS:
            end, _, after = finish_owner(a, var=var, peer=False)
            if direction == "send":
                assert end[1:] == (CLOSED, owner_end(active)), (var, end)
            else:
                assert end[1] == owner_end(active), (var, end)
            check_after_end(after, active)
        assert a.eval(erl("""(fun() -> {
            receive {connect_result, Conn, R_} -> R_ after @W@ -> {timeout, connect_result} end,
            receive {hs_result, Hs, H_} -> H_ after @W@ -> {timeout, handshake_result} end}
            end)()""", W=WAIT * 1000), EVAL) == (CLOSED, CLOSED)
        again = a
    else:
        wait_unregistered(b, a.name)
        again = make_node(bridge, name=a.name)
    assert again.eval(ECHO_CLIENT, EVAL) == (OK, b"again")


# ---- 3. the TLS peer resets the connection ----------------------------------------------

@pytest.fixture(scope="module")
def reset_node(cookie, faults_ebin, pki, tmp_path_factory):
    bridge = BridgeProcess(unique("fbridge"), cookie, tmp_path_factory.mktemp("bridge_log"))
    n = start_node(unique("fnode"), cookie, faults_ebin, pki, bridge)
    yield n
    n.stop()
    bridge.kill()


_vars = itertools.count()    # owner names on the module's node


@pytest.mark.parametrize("active", ACTIVE)
@pytest.mark.parametrize("role", ["client", "server"])
@pytest.mark.parametrize("direction", ["send", "recv"])
def test_peer_reset_mid_transfer_matches_ssl(reset_node, direction, role, active):
    """The BEAM ssl peer (over a gen_tcp socket) resets TCP (SO_LINGER 0, no
    close_notify) while data flows: the same scenario with ssl and with pyssl on one
    node, and the owner sees the same end and the same results of later calls."""
    ssl_r, pyssl_r = both(reset_node, timeout=EVAL, body=(
        f"pyssl_faults:reset_case(Mod, {role}, {direction}, {active}, SrvOpts)"))
    assert ssl_r[0][0] is True and pyssl_r[0][0] is True, (ssl_r, pyssl_r)   # in flight
    if direction == "send":
        # ssl's send answers closed, or einval when it races its port; pyssl's closed
        (_, ssl_send, ssl_end), (_, pyssl_send, pyssl_end) = ssl_r[0], pyssl_r[0]
        assert ssl_send in (CLOSED, EINVAL) and pyssl_send == CLOSED, (ssl_r, pyssl_r)
        assert pyssl_end == ssl_end == owner_end(active), (ssl_r, pyssl_r)
    else:
        assert pyssl_r[0] == ssl_r[0] == (True, owner_end(active)), (ssl_r, pyssl_r)
    assert pyssl_r[1] == ssl_r[1], (ssl_r, pyssl_r)


class OpensslServer:
    """``openssl s_server`` for one connection. ``feed``: it sends the client an endless
    stream (its stdin); otherwise it reads what the client sends into a pipe nobody
    reads, so that it soon stops reading."""

    def __init__(self, pki, *, feed: bool):
        self.proc = subprocess.Popen(
            ["openssl", "s_server", "-accept", "0", "-naccept", "1",
             "-cert", pki.server.cert_path, "-key", pki.server.key_path],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        lines: queue.Queue = queue.Queue()

        def read_until_accept():
            for line in self.proc.stdout:
                lines.put(line)
                if line.startswith(b"ACCEPT"):
                    return            # then nobody reads its output
            lines.put(b"")
        threading.Thread(target=read_until_accept, daemon=True).start()
        if feed:
            threading.Thread(target=self._feed, daemon=True).start()
        while True:
            try:
                line = lines.get(timeout=WAIT)
            except queue.Empty:
                self.kill()
                raise RuntimeError("openssl s_server did not say where it listens")
            if line.startswith(b"ACCEPT"):
                self.port = int(line.rsplit(b":", 1)[1])
                return
            if not line:
                raise RuntimeError("openssl s_server ended")

    def _feed(self):
        chunk = b"0123456789abcdef" * 4096      # no command letters for s_server
        try:
            while True:
                self.proc.stdin.write(chunk)
        except (BrokenPipeError, ValueError, OSError):
            pass

    def kill(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(WAIT)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl command")
@pytest.mark.parametrize("active", ACTIVE)
@pytest.mark.parametrize("direction", ["send", "recv"])
def test_openssl_server_killed_mid_transfer_matches_ssl(reset_node, pki, direction, active):
    """An openssl s_server killed with SIGKILL while data flows (receiving: the kernel
    sends a FIN; sending, with data it did not read: an RST): ssl and pyssl owners
    on one node see the same end and the same results of later calls."""
    # what s_server does not read stops a sender early: in flight at 256 KiB
    threshold = MiB if direction == "recv" else MiB // 4
    results = {}
    for mod in ("ssl", "pyssl"):
        var = f"Ossl{next(_vars)}"
        server = OpensslServer(pki, feed=direction == "recv")
        try:
            start_owner(reset_node, "client", direction, active, "none", var=var,
                        mod=mod, port=server.port, threshold=threshold)
        finally:
            server.kill()
        end, _, after = finish_owner(reset_node, var=var, peer=False)
        results[mod] = (end[0] >= threshold,) + tuple(end[1:]), after
    (ssl_end, ssl_after), (pyssl_end, pyssl_after) = results["ssl"], results["pyssl"]
    if direction == "send":
        assert ssl_end[1] in (CLOSED, EINVAL) and pyssl_end[1] == CLOSED, results
        ssl_end, pyssl_end = ssl_end[::2], pyssl_end[::2]
    assert pyssl_end == ssl_end == (True, owner_end(active)), results
    # ssl's socket term is not pyssl's: what is left for it is compared by name
    assert pyssl_after == ssl_after, results
