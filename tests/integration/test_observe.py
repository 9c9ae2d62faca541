"""pyssl:i/0,1 and pyssl:stats/0,1 against a live bridge, with real ssl peers; the
bridge's summary line (bridge.service.observe)."""
import logging
import time

import pytest

from bridge.cli import parse_args
from bridge.etf import Atom
from bridge.service import observe

from conftest import unique
from erlnode import ErlNode

A = Atom

# Runs Fun with a group leader that keeps what is printed: the text, as a binary.
CAPTURE = """
    CaptureIO = fun(F) ->
        Self = self(),
        Collector = spawn(fun() ->
            Loop = fun L(Acc) ->
                receive
                    {io_request, From, Ref, {put_chars, Enc, Chars}} ->
                        From ! {io_reply, Ref, ok}, L([unicode:characters_to_list(Chars, Enc) | Acc]);
                    {io_request, From, Ref, {put_chars, Enc, M, Fn, As}} ->
                        From ! {io_reply, Ref, ok}, L([unicode:characters_to_list(apply(M, Fn, As), Enc) | Acc]);
                    {io_request, From, Ref, _} ->
                        From ! {io_reply, Ref, {error, enotsup}}, L(Acc);
                    {done, P} -> P ! {captured, unicode:characters_to_binary(lists:reverse(Acc))}
                end
            end,
            Loop([]) end),
        Old = group_leader(), group_leader(Collector, self()),
        try F() after group_leader(Old, self()) end,
        Collector ! {done, Self},
        receive {captured, Text} -> Text end
    end
"""


@pytest.fixture(scope="module")
def setup(cookie, pki, bridge):
    node = ErlNode(unique("erl"), cookie)
    p = pki
    node.eval(f"""
        ok = ssl:start(), application:set_env(pyssl, bridge_node, '{bridge.name}'), ok = pyssl:start(),
        B = '{bridge.name}',
        Srv = [{{certfile, "{p.server.cert_path}"}}, {{keyfile, "{p.server.key_path}"}}],
        Verify = [{{verify, verify_peer}}, {{cacertfile, "{p.ca.cert_path}"}}],
        {CAPTURE}""")
    yield bridge, node
    node.stop()


def _table(text: bytes) -> list[list[str]]:
    return [line.split() for line in text.decode().splitlines() if line.strip()]


# One client connection to an ssl server of the test, 3000 bytes echoed; the row
# of pyssl:i/0 and the server's own counters of its TCP socket.
TRANSFER = """(fun() ->
    {ok, L} = ssl:listen(0, Srv ++ [{active, false}, binary]), {ok, {_, P}} = ssl:sockname(L),
    Self = self(),
    Server = spawn_link(fun() ->
        {ok, T} = ssl:transport_accept(L, 10000), {ok, S} = ssl:handshake(T, 10000),
        {ok, D} = ssl:recv(S, 3000, 10000), ok = ssl:send(S, D),
        receive stop -> ok end,
        Self ! {server_stats, ssl:getstat(S, [recv_oct, send_oct])},
        ssl:close(S) end),
    {ok, C} = pyssl:connect("localhost", P, Verify ++ [{active, false}, binary,
                                                       {versions, ['tlsv1.3']}]),
    ok = pyssl:send(C, binary:copy(<<"x">>, 3000)),
    {ok, Echo} = pyssl:recv(C, 3000, 10000),
    {C, L, P, byte_size(Echo), Server}
end)()"""


def test_i_lists_a_client_socket_with_its_peer_and_bytes(setup):
    bridge, node = setup
    node.eval(f"{{Cli, Lst, SrvPort, 3000, Server1}} = {TRANSFER}")
    text = node.eval("CaptureIO(fun() -> pyssl:i() end)")
    rows = _table(text)
    assert rows[0] == ["Owner", "Role", "Local", "Address", "Peer", "State", "Protocol", "Recv",
                       "Sent", "Bridge"]
    me = node.eval("list_to_binary(pid_to_list(self()))").decode()
    port = node.eval("SrvPort")
    mine = [r for r in rows[1:] if r[0] == me]
    assert len(mine) == 1, text
    owner, role, local, peer, state, protocol, recv, sent, bname = mine[0]
    assert (role, peer, state, protocol, bname) == ("client", f"localhost:{port}", "open", "tlsv1.3",
                                                    bridge.name)
    assert local.startswith("localhost:")
    assert int(sent) > 3000 and int(recv) > 3000
    node.eval("""ok = pyssl:close(Cli), Server1 ! stop,
                 receive {server_stats, _} -> ok after 10000 -> timeout end, ssl:close(Lst)""")


def test_i_bytes_match_the_ssl_peer_and_getstat(setup):
    bridge, node = setup
    node.eval(f"{{Cli2, Lst2, _, 3000, Server2}} = {TRANSFER}")
    # no more bytes flow: the server waits for `stop`, the client for nothing
    row = node.eval("""(fun() ->
        {ok, Rows} = {ok, gen_server:call({pyssl, B}, {'$pyssl_sockets', []})},
        [R] = [R || #{socket := S} = R <- Rows, S =:= Cli2],
        R end)()""")
    stat = node.eval("pyssl:getstat(Cli2, [recv_oct, send_oct])")
    assert stat == (A("ok"), [(A("recv_oct"), row[A("recv_oct")]), (A("send_oct"), row[A("send_oct")])])
    assert row[A("owner")] == node.eval("self()")
    assert row[A("role")] == A("client") and row[A("state")] == A("open")
    assert row[A("protocol")] == A("tlsv1.3")
    # the server side of the same TCP connection: what one sent, the other received
    node.eval("Server2 ! stop")
    srv = node.eval("receive {server_stats, {ok, St}} -> St after 10000 -> timeout end")
    assert srv == [(A("recv_oct"), row[A("send_oct")]), (A("send_oct"), row[A("recv_oct")])]
    node.eval("pyssl:close(Cli2), ssl:close(Lst2)")


def test_i_shows_listen_and_accepted_sockets(setup, pki):
    bridge, node = setup
    text = node.eval("""(fun() ->
        {ok, L} = pyssl:listen(0, Srv ++ [{active, false}]), {ok, {_, P}} = pyssl:sockname(L),
        spawn(fun() -> {ok, C} = ssl:connect("localhost", P, [{verify, verify_none}]),
                       receive after 5000 -> ssl:close(C) end end),
        {ok, T} = pyssl:transport_accept(L, 10000), {ok, S} = pyssl:handshake(T, 10000),
        Text = CaptureIO(fun() -> pyssl:i(B) end),
        pyssl:close(S), pyssl:close(L), {Text, P} end)()""")
    text, port = text
    rows = _table(text)
    me = node.eval("list_to_binary(pid_to_list(self()))").decode()
    listen = [r for r in rows if r[1] == "listen" and r[0] == me]
    assert len(listen) == 1, text
    assert listen[0][2:5] == [f"*:{port}", "*:*", "listen"]
    server = [r for r in rows if r[1] == "server" and r[0] == me]
    assert len(server) == 1 and server[0][2] == f"localhost:{port}" and server[0][4] == "open", text


def test_i_and_stats_name_an_unreachable_bridge(setup):
    bridge, node = setup
    gone = "nobody_here@127.0.0.1"
    node.eval(f"application:set_env(pyssl, bridge_nodes, [B, '{gone}'])")
    try:
        text = node.eval("CaptureIO(fun() -> pyssl:i() end)").decode()
        assert f"bridge '{gone}': unavailable" in text
        stats = node.eval("pyssl:stats()")
        assert stats[A(gone)] == (A("error"), A("closed"))
        assert isinstance(stats[A(bridge.name)], dict)
        assert node.eval(f"pyssl:stats('{gone}')") == (A("error"), A("closed"))
    finally:
        node.eval("application:unset_env(pyssl, bridge_nodes)")


def test_i_prints_nothing_without_sockets(cookie, bridge):
    node = ErlNode(unique("erl"), cookie)
    try:
        node.eval(f"ok = ssl:start(), application:set_env(pyssl, bridge_node, '{bridge.name}'), "
                  f"ok = pyssl:start(), {CAPTURE}")
        # every socket of the bridge belongs to another node's process: those are listed
        text = node.eval("CaptureIO(fun() -> pyssl:i() end)").decode()
        me = node.eval("list_to_binary(pid_to_list(self()))").decode()
        assert me not in text
        node.eval("application:unset_env(pyssl, bridge_node)")
        assert node.eval("CaptureIO(fun() -> pyssl:i() end)") == b""
        assert node.eval("pyssl:stats()") == {}
    finally:
        node.stop()


STATS_KEYS = {"uptime", "connections_open", "connections_total", "sockets", "listen_sockets", "owners",
              "handshakes", "handshakes_per_sec", "handshake_errors", "connection_errors", "errors",
              "bytes_in", "bytes_out", "bytes_in_per_sec", "bytes_out_per_sec", "rate_window", "rss"}


def test_stats_count_handshakes_bytes_and_errors(setup, pki):
    bridge, node = setup
    before = node.eval("pyssl:stats()")[A(bridge.name)]
    assert {k.name for k in before} == STATS_KEYS
    assert before[A("rss")] > 1 << 20 and before[A("uptime")] > 0
    # three connections of 5000 bytes each way, one failed handshake (unknown CA)
    node.eval(f"""(fun() ->
        {{ok, L}} = ssl:listen(0, Srv ++ [{{active, false}}, binary]), {{ok, {{_, P}}}} = ssl:sockname(L),
        spawn_link(fun() -> [begin {{ok, T}} = ssl:transport_accept(L, 10000),
                                   case ssl:handshake(T, 10000) of
                                       {{ok, S}} -> {{ok, D}} = ssl:recv(S, 5000, 10000), ok = ssl:send(S, D);
                                       _ -> ok
                                   end end || _ <- [1, 2, 3, 4]] end),
        Cs = [begin {{ok, C}} = pyssl:connect("localhost", P, Verify ++ [{{active, false}}, binary]),
                    ok = pyssl:send(C, binary:copy(<<"y">>, 5000)),
                    {{ok, _}} = pyssl:recv(C, 5000, 10000), C end || _ <- [1, 2, 3]],
        {{error, _}} = pyssl:connect("localhost", P, [{{verify, verify_peer}},
                                                    {{cacertfile, "{pki.other_ca.cert_path}"}}]),
        put(stats_conns, Cs), put(stats_listen, L), ok end)()""")
    mid = node.eval("pyssl:stats(B)")
    d = {k.name: mid[k] - before[k] for k in mid}
    assert d["handshakes"] == 3 and d["handshake_errors"] == 1 and d["connections_total"] == 4
    assert d["errors"] == 1 and d["connection_errors"] == 0
    assert d["bytes_in"] > 15000 and d["bytes_out"] > 15000
    assert d["sockets"] == 3 and d["connections_open"] == 3
    assert mid[A("handshakes_per_sec")] > 0 and mid[A("bytes_in_per_sec")] > 0
    # the totals are the sums of the sockets' own counters while nothing else moves
    rows = node.eval("gen_server:call({pyssl, B}, {'$pyssl_sockets', []})")
    mine = [r for r in rows if r[A("socket")] in node.eval("get(stats_conns)")]
    assert len(mine) == 3
    assert all(r[A("recv_oct")] > 5000 and r[A("send_oct")] > 5000 for r in mine)
    node.eval("[pyssl:close(C) || C <- get(stats_conns)], ssl:close(get(stats_listen))")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        after = node.eval("pyssl:stats(B)")
        if after[A("connections_open")] == before[A("connections_open")]:
            break
        time.sleep(0.05)
    assert after[A("connections_open")] == before[A("connections_open")]
    assert after[A("sockets")] == before[A("sockets")]


def test_stats_through_rpc_as_well(setup):
    bridge, node = setup
    r = node.eval("rpc:call(B, pyssl, '$pyssl_stats', [])")
    assert {k.name for k in r} == STATS_KEYS


def test_summary_line_is_logged_every_interval(setup, caplog):
    bridge, node = setup
    caplog.set_level(logging.INFO, logger="bridge.stats")
    obs = bridge.service.observer

    def restart(interval):
        obs.stop()
        obs.interval = interval
        obs.start()
    bridge.call(restart, 0.05)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            lines = [r for r in caplog.records if r.name == "bridge.stats" and r.levelno == logging.INFO]
            if len(lines) >= 2:
                break
            time.sleep(0.05)
    finally:
        bridge.call(restart, 0)
    assert len(lines) >= 2
    msg = lines[0].getMessage()
    assert msg.startswith("summary: ") and "connections open" in msg and "handshakes" in msg
    assert "rss" in msg and "\n" not in msg
    # after a summary the rates cover the time since the one before it
    assert bridge.call(lambda: obs.figures()["rate_window"]) < 10


def test_interval_comes_from_flag_or_environment(monkeypatch, caplog):
    assert parse_args(["--stats-interval", "5"]).stats_interval == 5.0
    assert parse_args([]).stats_interval is None
    monkeypatch.setenv(observe.INTERVAL_ENV, "2.5")
    assert observe.interval_from_env() == 2.5
    monkeypatch.setenv(observe.INTERVAL_ENV, "soon")
    with caplog.at_level(logging.WARNING, logger="bridge.stats"):
        assert observe.interval_from_env() == observe.DEFAULT_INTERVAL
    assert "not a number" in caplog.text
    monkeypatch.delenv(observe.INTERVAL_ENV)
    assert observe.interval_from_env() == observe.DEFAULT_INTERVAL


def test_a_socket_that_cannot_answer_still_gets_a_row():
    class Broken:
        term = (A("sslsocket"), A("pyssl"), None)
        owner = None
        role = "client"
        tls = None
        state = type("S", (), {"value": "closed"})()

        def sockname(self):
            raise OSError("bad file descriptor")

        def peername(self):
            raise OSError("bad file descriptor")
    row = observe.socket_row(Broken())
    assert row[A("local")] == A("undefined") and row[A("peer")] == A("undefined")
    assert row[A("recv_oct")] == 0 and row[A("protocol")] == A("undefined")


def test_a_bridge_without_the_calls_is_named_not_crashed_on(setup):
    bridge, node = setup
    table = bridge.service.api.table
    saved = {k: table.pop(k) for k in [("$pyssl_sockets", 0), ("$pyssl_stats", 0)]}
    try:
        assert node.eval("pyssl:stats(B)") == (A("error"), (A("not_supported_by_bridge"), A("$pyssl_stats")))
        text = node.eval("CaptureIO(fun() -> pyssl:i() end)").decode()
        assert text == f"bridge '{bridge.name}': cannot list its sockets (an older bridge)\n"
    finally:
        table.update(saved)
    assert isinstance(node.eval("pyssl:stats(B)"), dict)
