"""{handshake, hello} on a server, handshake_continue/2,3 and handshake_cancel/1
(issue 10): side by side with ssl on one real node (``Mod = ssl | pyssl``); the
client is always the BEAM's ssl."""
import socket
import threading

import pytest
from sslcompare import same

from bridge.etf import Atom

A = Atom


@pytest.fixture(scope="module")
def env(bridge, pyssl_node, pki):
    """The module's bridge and a node using it (conftest), with this module's bindings."""
    node = pyssl_node
    p = pki
    node.eval(f"""
        Srv = [{{certfile, "{p.server.cert_path}"}}, {{keyfile, "{p.server.key_path}"}}],
        WrongSrv = [{{certfile, "{p.wrong_host.cert_path}"}}, {{keyfile, "{p.wrong_host.key_path}"}}],
        Verify = [{{verify, verify_peer}}, {{cacertfile, "{p.ca.cert_path}"}}],
        ok""")
    return bridge, node


# Listen with LOpts, an ssl client connects with COpts (its result is sent back),
# the server under test takes the hello with handshake(T, 5000) and then runs Then(S, Ext).
def _pair(lopts: str, copts: str, then: str) -> str:
    return ("Self = self(), Ref = make_ref(), "
            f"{{ok, L}} = Mod:listen(0, [binary, {{active, false}}, {{reuseaddr, true}} | {lopts}]), "
            "{ok, {_, P}} = Mod:sockname(L), "
            f"spawn(fun() -> C = ssl:connect(\"localhost\", P, [binary, {{active, false}} | {copts}], 5000), "
            "Self ! {client, Ref, case C of {ok, CS} -> R = ssl:recv(CS, 0, 5000), ssl:close(CS), {ok, R}; E -> E end} end), "
            "{ok, T} = Mod:transport_accept(L, 5000), "
            f"Out = (fun(HS) -> {then} end)(Mod:handshake(T, 5000)), "
            "Client = receive {client, Ref, X} -> X after 10000 -> timeout end, Mod:close(L), {Out, Client}")


# the extensions that do not change from one connection to the next
EXT = ("Ext2 = maps:without([key_share], Ext), "
       "Shape = {lists:sort(maps:keys(Ext)), Ext2}, ")

CASES = {
    "continue_with_no_options": _pair(
        "Srv ++ [{handshake, hello}]", "Verify ++ [{server_name_indication, \"localhost\"}]",
        "{ok, S, Ext} = HS, " + EXT + "{ok, S2} = Mod:handshake_continue(S, [], 5000), "
        "ok = Mod:send(S2, <<\"hi\">>), {Shape, S2 =:= S}"),
    "continue_tls12_client": _pair(
        "Srv ++ [{handshake, hello}]", "Verify ++ [{versions, ['tlsv1.2']}, {alpn_advertised_protocols, [<<\"h2\">>]}]",
        "{ok, S, Ext} = HS, " + EXT + "{ok, S2} = Mod:handshake_continue(S, []), "
        "ok = Mod:send(S2, <<\"hi\">>), Shape"),
    "continue_picks_the_certificate": _pair(
        "WrongSrv ++ [{handshake, hello}]", "Verify ++ [{versions, ['tlsv1.2']}]",
        "{ok, S, #{sni := Sni}} = HS, {ok, S2} = Mod:handshake_continue(S, Srv, 5000), "
        "ok = Mod:send(S2, <<\"hi\">>), Sni"),
    "continue_without_picking": _pair(
        "WrongSrv ++ [{handshake, hello}]", "Verify",
        "{ok, S, _} = HS, Mod:handshake_continue(S, [], 5000)"),
    "continue_bad_option": _pair(
        "Srv ++ [{handshake, hello}]", "Verify",
        "{ok, S, _} = HS, try Mod:handshake_continue(S, [{verify, maybe_not}], 5000) catch C:_ -> C end"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_hello_pause_same_as_ssl(env, name):
    _, node = env
    same(node, CASES[name])


def test_hello_timeout_same_as_ssl(env):
    """A client that sends nothing: handshake(T, 300) with the pause times out as without."""
    _, node = env
    same(node, """
        {ok, L} = Mod:listen(0, Srv ++ [{handshake, hello}, {reuseaddr, true}]), {ok, {_, P}} = Mod:sockname(L),
        {ok, Tcp} = gen_tcp:connect("localhost", P, []),
        {ok, T} = Mod:transport_accept(L, 5000), R = Mod:handshake(T, 300),
        gen_tcp:close(Tcp), Mod:close(L), R""")


# The client under test pauses after the ServerHello; the server is ssl.
def _client(sopts: str, copts: str, then: str) -> str:
    return ("Self = self(), Ref = make_ref(), "
            f"{{ok, L}} = ssl:listen(0, [binary, {{active, false}}, {{reuseaddr, true}} | {sopts}]), "
            "{ok, {_, P}} = ssl:sockname(L), "
            "spawn(fun() -> {ok, T} = ssl:transport_accept(L, 5000), "
            "R = case ssl:handshake(T, 5000) of {ok, SS} -> X = ssl:recv(SS, 0, 5000), ssl:close(SS), {ok, X}; "
            "E -> E end, Self ! {server, Ref, R} end), "
            f"Out = (fun(HS) -> {then} end)(Mod:connect(\"localhost\", P, [binary, {{active, false}} | {copts}], 5000)), "
            "Server = receive {server, Ref, Y} -> Y after 10000 -> timeout end, ssl:close(L), {Out, Server}")


CLIENT_CASES = {
    "client_continue": _client(
        "Srv", "Verify ++ [{handshake, hello}]",
        "{ok, S, Ext} = HS, {ok, S2} = Mod:handshake_continue(S, [], 5000), "
        "ok = Mod:send(S2, <<\"hi\">>), {lists:sort(maps:keys(Ext)), maps:without([key_share], Ext), S2 =:= S}"),
    "client_continue_tls12": _client(
        "Srv ++ [{versions, ['tlsv1.2']}]", "Verify ++ [{handshake, hello}, {versions, ['tlsv1.2']}]",
        "{ok, S, Ext} = HS, {ok, S2} = Mod:handshake_continue(S, []), "
        "ok = Mod:send(S2, <<\"hi\">>), maps:without([renegotiation_info], Ext)"),
    # TLS 1.2: in TLS 1.3 the BEAM server reports an OpenSSL client's rejection as
    # bad_record_mac (docs/conformance.md, OPENSSL_13_ALERT); the client's own result is the same
    "client_continue_turns_verification_on": _client(
        "Srv", "[{handshake, hello}, {server_name_indication, \"foobar\"}, {versions, ['tlsv1.2']}]",
        "{ok, S, _} = HS, Mod:handshake_continue(S, Verify, 5000)"),
    "client_continue_accepts_with_new_cacerts": _client(
        "Srv", "[{handshake, hello}, {verify, verify_peer}, {cacertfile, OtherCa}]",
        "{ok, S, _} = HS, {ok, S2} = Mod:handshake_continue(S, Verify, 5000), Mod:send(S2, <<\"hi\">>)"),
}


@pytest.mark.parametrize("name", sorted(CLIENT_CASES))
def test_client_hello_pause_same_as_ssl(env, pki, name):
    _, node = env
    same(node, f'OtherCa = "{pki.other_ca.cert_path}", ' + CLIENT_CASES[name])


# handshake_cancel/1: ok, and the peer's handshake fails. ssl's peer gets the
# user_canceled alert ssl sends; pyssl's sees the connection close (the bridge writes
# no TLS record of its own, and OpenSSL sends no alert of the caller's choice).
CANCEL = {
    "server": _pair("Srv ++ [{handshake, hello}]", "Verify", "{ok, S, _} = HS, Mod:handshake_cancel(S)"),
    "client": _client("Srv", "Verify ++ [{handshake, hello}]", "{ok, S, _} = HS, Mod:handshake_cancel(S)"),
    "client_tls12": _client("Srv", "Verify ++ [{handshake, hello}, {versions, ['tlsv1.2']}]",
                            "{ok, S, _} = HS, Mod:handshake_cancel(S)"),
}


@pytest.mark.parametrize("name", sorted(CANCEL))
def test_cancel_ends_the_peers_handshake(env, name):
    _, node = env
    got = {mod: node.eval(f"(fun() -> Mod = {mod}, {CANCEL[name]} end)()", 30) for mod in ("ssl", "pyssl")}
    assert got["ssl"][0] == got["pyssl"][0] == A("ok")
    assert got["ssl"][1][0] == A("error") and got["ssl"][1][1][0] == A("tls_alert")
    assert got["ssl"][1][1][1][0] == A("user_canceled")
    assert got["pyssl"][1] == (A("error"), A("closed"))


# The peer must not see the connection end before the caller has its answer: ssl's
# connection process replies first and ends after (user_hello's cancel;
# stop_and_reply on a handshake timeout), so an OTP test that waits for both (the
# server's result, the client's {error, closed}) gets the server's first. The bridge
# closes the accepted TCP socket only once the shim has acknowledged the reply
# ({'$pyssl_ack', Ack, Reply}), which it does after its caller received it: checked on
# the bridge's loop, where the order is made. No timing: the three ends are certain
# (a cancel; a client that never sends its hello; a client held in its verify_fun
# until the server has answered).
ORDER_CASES = {
    "cancel": ("""
        {ok, T} = pyssl:transport_accept(L, 5000), {ok, S, _} = pyssl:handshake(T, 5000),
        R = pyssl:handshake_cancel(S),
        C = receive {client, Ref, X} -> X end""",
               "spawn(fun() -> Self ! {client, Ref, ssl:connect(\"localhost\", P, "
               "[binary, {active, false} | Verify], 5000)} end)",
               A("ok"), (A("error"), A("closed"))),
    "hello_timeout": ("""
        {ok, T} = pyssl:transport_accept(L, 5000), R = pyssl:handshake(T, 200),
        C = receive {client, Ref, X} -> receive {tcp_closed, X} -> closed end end""",
                      "{ok, Tcp} = gen_tcp:connect(\"localhost\", P, []), Self ! {client, Ref, Tcp}",
                      (A("error"), A("timeout")), A("closed")),
    "continue_timeout": ("""
        {ok, T} = pyssl:transport_accept(L, 5000), {ok, S, _} = pyssl:handshake(T, 5000),
        R = pyssl:handshake_continue(S, [], 200),
        receive {verifying, Ref, V} -> V ! {go, Ref} end,
        C = receive {client, Ref, {ok, CS}} -> ssl:close(CS), none; {client, Ref, _} -> none end""",
                         # the client's connection process waits in its verify_fun for
                         # the server's answer: it cannot finish the handshake before
                         "Hold = fun(_, {extension, _}, U) -> {unknown, U}; "
                         "(_, Ev, U) -> case get(held) of undefined -> put(held, true), "
                         "Self ! {verifying, Ref, self()}, receive {go, Ref} -> ok end; _ -> ok end, "
                         "case Ev of {bad_cert, _} -> {fail, Ev}; _ -> {valid, U} end end, "
                         "spawn(fun() -> Self ! {client, Ref, ssl:connect(\"localhost\", P, "
                         "[binary, {active, false}, {verify_fun, {Hold, []}} | Verify], 5000)} end)",
                         # (what the client makes of the end, once let go, depends
                         # on whether it has sent its Finished: not checked)
                         (A("error"), A("timeout")), None),
}

ACK = A("$pyssl_ack")


@pytest.mark.parametrize("name", sorted(ORDER_CASES))
def test_the_peer_sees_the_end_after_the_caller_has_its_answer(env, monkeypatch, name):
    bridge, node = env
    then, client, expected, peer_sees = ORDER_CASES[name]
    events: list = []
    service = type(bridge.service)

    orig_reply = type(bridge.node).reply

    def reply(self, to, tag, value, **kw):
        if value.__class__ is tuple and len(value) == 3 and value[0] is ACK:
            events.append(("reply", value[1], value[2]))
        return orig_reply(self, to, tag, value, **kw)

    orig_handle = service._handle_message

    def handle(self, msg):
        if msg.__class__ is tuple and len(msg) == 2 and msg[0] is ACK:
            events.append(("ack", msg[1]))
        return orig_handle(self, msg)

    orig_close = socket.socket.close
    closed = threading.Condition()

    def close(sock):
        try:
            with closed:
                events.append(("close", sock.getsockname()[1], sock.getpeername()))
                closed.notify_all()
        except OSError:     # not connected (a listen socket) or closed already
            pass
        return orig_close(sock)

    monkeypatch.setattr(type(bridge.node), "reply", reply)
    monkeypatch.setattr(service, "_handle_message", handle)
    monkeypatch.setattr(socket.socket, "close", close)
    port, got, seen = node.eval(f"""(fun() ->
        Self = self(), Ref = make_ref(),
        {{ok, L}} = pyssl:listen(0, [binary, {{active, false}}, {{reuseaddr, true}}, {{handshake, hello}} | Srv]),
        {{ok, {{_, P}}}} = pyssl:sockname(L),
        {client},
        {then},
        pyssl:close(L), {{P, R, C}} end)()""", 30)
    assert (got, seen) == (expected, peer_sees or A("none"))
    [(_, ack, value)] = [e for e in events if e[0] == "reply"]
    assert value == expected
    # the caller can have its answers before the bridge's close of the socket has run
    # (a TLS 1.3 client is done once it has sent its Finished): wait for that close
    with closed:
        closed.wait_for(lambda: any(e[0] == "close" and e[1] == port for e in events), timeout=10)
    ended = [i for i, e in enumerate(events) if e[0] == "close" and e[1] == port]
    assert len(ended) == 1 and events.index(("ack", ack)) < ended[0], events
    assert not bridge.service.awaiting_ack


def test_a_caller_gone_before_its_ack_ends_the_connection(env):
    """A caller that never acknowledges (here a plain gen_server:call, which does not
    know the marker; in life one killed between the reply and its ack): the monitor
    on it ends the connection when it goes, so no TCP socket waits forever."""
    bridge, node = env
    raw, seen = node.eval("""(fun() ->
        Self = self(), Ref = make_ref(), {ok, B} = application:get_env(pyssl, bridge_node),
        {ok, L} = pyssl:listen(0, [binary, {active, false}, {reuseaddr, true}, {handshake, hello} | Srv]),
        {ok, {_, P}} = pyssl:sockname(L),
        spawn(fun() -> Self ! {client, Ref, ssl:connect("localhost", P, [binary, {active, false} | Verify], 5000)} end),
        {ok, T} = pyssl:transport_accept(L, 5000), {ok, S, _} = pyssl:handshake(T, 5000),
        {_, M} = spawn_monitor(fun() -> Self ! {raw, Ref, gen_server:call({pyssl, B}, {handshake_cancel, [S]})} end),
        Raw = receive {raw, Ref, X} -> X end,
        receive {'DOWN', M, _, _, _} -> ok end,
        C = receive {client, Ref, Y} -> Y end,
        pyssl:close(L), {Raw, C} end)()""", 30)
    assert raw[0] == ACK and raw[2] == A("ok")
    assert seen == (A("error"), A("closed"))
    assert not bridge.call(lambda: dict(bridge.service.awaiting_ack))


def test_an_ack_for_nothing_is_ignored(env):
    """An ack whose reference the bridge does not wait for (twice, after the caller
    went, or not a reference at all): nothing happens, the service goes on."""
    _, node = env
    assert node.eval("""(fun() ->
        {ok, B} = application:get_env(pyssl, bridge_node),
        {pyssl, B} ! {'$pyssl_ack', make_ref()}, {pyssl, B} ! {'$pyssl_ack', not_a_ref},
        is_list(pyssl:eccs()) end)()""") is True
