"""TLS 1.2 session reuse (issue 11), ssl and pyssl side by side in both roles.

Each scenario makes connections from ``CMod`` (client) to a ``SMod`` listener and
reports, per connection, whether the client's session id equals the first
connection's, whether client and server agree on it, and ``session_resumption`` as
each side reports it; every pairing of ssl and pyssl must report what ssl with ssl does.
"""
import pytest

from bridge.etf import Atom

A = Atom
MODS = [("ssl", "ssl"), ("ssl", "pyssl"), ("pyssl", "ssl"), ("pyssl", "pyssl")]


@pytest.fixture(scope="module")
def node(pyssl_node, pki):
    n = pyssl_node
    p = pki
    # Conns(CMod, SMod, ClientOptsList, ServerOpts): one connection per client option
    # list; each answers {ClientInfo, ServerInfo}. Run(...) words them as facts.
    # FreshListen(Mod, Opts): a listener on a port no earlier test of this node used.
    # A TLS 1.2 client's session cache is keyed by {Host, Port} (ssl's, and the
    # bridge's), and ssl registers a new session only when the cache holds no
    # equivalent one for that key (ssl_manager:client_register_unique_session/4):
    # on a port the kernel gave an earlier listener again, the client offered an
    # earlier test's session. These ports are below the kernel's ephemeral range.
    n.eval("""
    FreshListen = fun(Mod, Opts) ->
      Try = fun T(0) -> {error, no_fresh_port};
                T(K) -> case Mod:listen(20000 + erlang:unique_integer([positive, monotonic]) rem 12000, Opts) of
                            {error, eaddrinuse} -> T(K - 1);
                            R -> R
                        end end,
      Try(50) end.""")
    n.eval(f"""
    Info = fun(Mod, S) -> {{ok, I}} = Mod:connection_information(S, [session_id, session_resumption, session_data]),
                          {{proplists:get_value(session_id, I), proplists:get_value(session_resumption, I),
                            proplists:get_value(session_data, I)}} end,
    Conns = fun(CMod, SMod, COptsList, SOpts) ->
      %% the scenario's options, and defaults for the keys it does not set
      With = fun(Opts, Base) -> Opts ++ [D || {{K, _}} = D <- Base, not lists:keymember(K, 1, Opts)] end,
      {{ok, L}} = FreshListen(SMod, With(SOpts, [{{mode, binary}}, {{active, false}}, {{reuseaddr, true}},
                                {{versions, ['tlsv1.2']}}, {{certfile, "{p.server.cert_path}"}},
                                {{keyfile, "{p.server.key_path}"}}])),
      {{ok, {{_, P}}}} = SMod:sockname(L),
      Self = self(),
      N = length(COptsList),
      spawn(fun() ->
          [begin {{ok, T}} = SMod:transport_accept(L, 10000), {{ok, S}} = SMod:handshake(T, 10000),
                 ok = SMod:send(S, <<"x">>),
                 Self ! {{srv, Info(SMod, S)}}, _ = SMod:recv(S, 0, 10000), SMod:close(S) end
           || _ <- lists:seq(1, N)],
          SMod:close(L) end),
      Res = [begin
               COpts = case CO of F when is_function(F) -> F(); _ -> CO end,
               {{ok, C}} = CMod:connect("localhost", P, With(COpts, [{{mode, binary}}, {{active, false}},
                                                     {{versions, ['tlsv1.2']}}, {{verify, verify_peer}},
                                                     {{cacertfile, "{p.ca.cert_path}"}}]), 10000),
               %% the server's first bytes come after any TLS 1.3 ticket it sends
               {{ok, <<"x">>}} = CMod:recv(C, 1, 10000),
               CI = Info(CMod, C),
               SI = receive {{srv, X}} -> X after 10000 -> timeout end,
               CMod:close(C),
               %% ssl registers a client session with ssl_manager by a message; a call
               %% after it makes sure it is in the cache before the next connect
               _ = sys:get_state(ssl_manager),
               _ = [sys:get_state(P) || P <- [whereis(tls_client_ticket_store)], is_pid(P)],
               %% and an ssl server its session with its listener's cache, by a cast
               %% sent before the server end reported (server_register_session/2)
               %% (one whose listener closed meanwhile has ended: hence the catch)
               _ = [catch sys:get_state(P) || {{_, P, _, _}} <- supervisor:which_children(ssl_server_session_cache_sup),
                                              is_pid(P)],
               put(last_session, CI),
               {{CI, SI}}
             end || CO <- COptsList],
      Res end,
    Facts = fun(Res) ->
      [{{{{Id0, _, _}}, _}} | _] = Res,
      [{{Cid =:= Id0, Cid =:= Sid, byte_size(Cid), CR, SR}} || {{{{Cid, CR, _}}, {{Sid, SR, _}}}} <- Res] end,
    ok""")
    return n


def facts(node, cmod, smod, copts_list, sopts="[]"):
    return node.eval(f"Facts(Conns({cmod}, {smod}, [{', '.join(copts_list)}], {sopts}))", 60)


@pytest.mark.parametrize("cmod,smod", MODS)
def test_second_connection_resumes_the_session(node, cmod, smod):
    """reuse_sessions defaults to true on both ends: the second connection has the
    first one's 32-byte session id; OTP 25 reports session_resumption false (TLS 1.2)."""
    got = facts(node, cmod, smod, ["[]", "[]"])
    assert got == [(True, True, 32, False, False)] * 2


@pytest.mark.parametrize("cmod,smod", MODS)
def test_reuse_sessions_false_on_either_end_means_full_handshakes(node, cmod, smod):
    for copts, sopts in (("[{reuse_sessions, false}]", "[]"), ("[]", "[{reuse_sessions, false}]")):
        got = facts(node, cmod, smod, [copts, copts], sopts)
        assert got[1][:3] == (False, True, 32), (copts, sopts, got)


@pytest.mark.parametrize("cmod,smod", MODS)
def test_save_then_explicit_reuse_session_id(node, cmod, smod):
    """save: a full handshake each time, the session stored; {reuse_session, Id}
    then offers the stored session of that id."""
    got = facts(node, cmod, smod, [
        "[{reuse_sessions, save}]", "[{reuse_sessions, save}]",
        "fun() -> {Id, _, _} = get(last_session), [{reuse_session, Id}] end"])
    assert [g[:3] for g in got] == [(True, True, 32), (False, True, 32), (False, True, 32)]
    # the third connection resumed the second one's session
    ids = node.eval(f"[Cid || {{{{Cid, _, _}}, _}} <- Conns({cmod}, {smod}, [[{{reuse_sessions, save}}], "
                    "fun() -> {Id, _, _} = get(last_session), [{reuse_session, Id}] end], [])]")
    assert ids[0] == ids[1]


@pytest.mark.parametrize("cmod,smod", MODS)
def test_explicit_reuse_session_with_data(node, cmod, smod):
    """{reuse_session, {Id, Data}} with what connection_information reported, the
    client's cache aside (reuse_sessions false)."""
    ids = node.eval(f"[Cid || {{{{Cid, _, _}}, _}} <- Conns({cmod}, {smod}, [[{{reuse_sessions, false}}], "
                    "fun() -> {Id, _, D} = get(last_session), [{reuse_sessions, false}, "
                    "{reuse_session, {Id, D}}] end], [])]")
    assert ids[0] == ids[1] and len(ids[0]) == 32


@pytest.mark.parametrize("cmod,smod", MODS)
def test_verify_none_client_keeps_no_session(node, cmod, smod):
    """ssl registers a client session only when it verified the server
    (tls_dtls_connection:handle_session/6): verify_none clients never resume."""
    got = facts(node, cmod, smod, ["[{verify, verify_none}]", "[{verify, verify_none}]"])
    assert got[1][:3] == (False, True, 32)


@pytest.mark.parametrize("cmod,smod", MODS)
def test_sessions_go_by_host_and_are_kept_by_server_name(node, pki, cmod, smod):
    """ssl looks a client session up under the host it connects to and registers
    it under the server name it sent: the server name alone does not keep a
    session from a connection to the same host, and a session made with a server
    name other than the host is never found."""
    got = facts(node, cmod, smod, ["[{server_name_indication, \"localhost\"}]",
                                   "[{server_name_indication, disable}]"])
    assert got[1][:3] == (True, True, 32)
    other = f'[{{certfile, "{pki.wrong_host.cert_path}"}}, {{keyfile, "{pki.wrong_host.key_path}"}}]'
    got = facts(node, cmod, smod, ["[{server_name_indication, \"elsewhere.example\"}]"] * 2, other)
    assert got[1][:3] == (False, True, 32)


@pytest.mark.parametrize("cmod,smod", MODS)
@pytest.mark.parametrize("fun", [False, True])
def test_a_new_listener_on_a_closed_ones_port_has_sessions_of_its_own(node, pki, cmod, smod, fun):
    """ssl keeps a server's sessions per listen socket (tls_socket:session_id_tracker/2):
    a client that connects to a new listener with the same options on the port of a
    closed one offers the old listener's session (its cache goes by host and port)
    and gets a new one. libssl's cache is the context's, which listeners of equal
    options share: each pyssl listener has a session id context of its own. A
    reuse_session fun is not asked about the other listener's session (ssl asks it
    only of a session its listener's cache holds)."""
    reuse = "[{reuse_session, fun(_, _, _, _) -> Self ! reuse_fun_asked, true end}]" if fun else "[]"
    ids = node.eval(f"""(fun() ->
      Self = self(),
      Stale = fun S() -> receive reuse_fun_asked -> S() after 0 -> ok end end, Stale(),
      Opts = {reuse} ++ [{{versions, ['tlsv1.2']}}, {{mode, binary}}, {{active, false}}, {{reuseaddr, true}},
              {{certfile, "{pki.server.cert_path}"}}, {{keyfile, "{pki.server.key_path}"}}],
      One = fun(Port) ->
          {{ok, L}} = {smod}:listen(Port, Opts),
          {{ok, {{_, P}}}} = {smod}:sockname(L),
          spawn(fun() -> {{ok, T}} = {smod}:transport_accept(L, 10000), {{ok, S}} = {smod}:handshake(T, 10000),
                         ok = {smod}:send(S, <<"x">>), _ = {smod}:recv(S, 0, 10000), {smod}:close(S),
                         Self ! {{listener, {smod}:close(L)}} end),
          {{ok, C}} = {cmod}:connect("localhost", P, [{{versions, ['tlsv1.2']}}, {{mode, binary}}, {{active, false}},
                                                    {{verify, verify_peer}}, {{cacertfile, "{pki.ca.cert_path}"}}], 10000),
          {{ok, <<"x">>}} = {cmod}:recv(C, 1, 10000),
          {{ok, [{{session_id, Id}}]}} = {cmod}:connection_information(C, [session_id]),
          {cmod}:close(C),
          ok = receive {{listener, R}} -> R after 10000 -> timeout end,
          _ = sys:get_state(ssl_manager),
          {{P, Id}} end,
      {{P1, Id1}} = One(0),
      {{P1, Id2}} = One(P1),
      %% the fun tells before it answers, so before the handshake and the reads above
      Asked = fun F(N) -> receive reuse_fun_asked -> F(N + 1) after 0 -> N end end,
      {{Id1, Id2, Asked(0)}} end)()""", 60)
    assert len(ids[0]) == 32 and len(ids[1]) == 32 and ids[0] != ids[1]
    assert ids[2] == 0


@pytest.mark.parametrize("cmod", ["ssl", "pyssl"])
@pytest.mark.parametrize("answer,resumed", [("true", True), ("false", False)])
def test_server_reuse_session_fun_decides(node, cmod, answer, resumed):
    """A server's reuse_session fun is asked about the session the second connection
    offers, with what ssl gives it (ssl_session:is_resumable/4: the id, the peer's
    certificate or undefined, compression 0, the cipher suite's two bytes); false makes
    a new session. Both servers, side by side."""
    got = {}
    for smod in ("ssl", "pyssl"):
        got[smod] = node.eval(f"""(fun() ->
            T = self(),
            Stale = fun S() -> receive {{asked, _, _, _, _}} -> S() after 0 -> ok end end, Stale(),
            Fun = fun(Id, PC, Co, CS) -> T ! {{asked, Id, PC, Co, CS}}, {answer} end,
            R = Facts(Conns({cmod}, {smod}, [[], []], [{{reuse_session, Fun}}])),
            Asked = fun F(Acc) -> receive {{asked, Id, PC, Co, CS}} -> F([{{byte_size(Id), PC, Co, CS}} | Acc])
                                 after 0 -> lists:reverse(Acc) end end,
            {{R, Asked([])}} end)()""", 60)
    assert got["ssl"] == got["pyssl"], got
    facts_, asked = got["pyssl"]
    assert facts_[1][0] is resumed and facts_[1][2] == 32
    assert len(asked) == 1 and asked[0][:3] == (32, A("undefined"), 0) and len(asked[0][3]) == 2


@pytest.mark.parametrize("cmod", ["ssl", "pyssl"])
def test_session_refused_once_is_resumed_when_the_fun_says_so(node, cmod):
    """A refused session stays in the cache, and so does the one made instead: the
    next connection resumes what the client offers when the fun says true."""
    # the answer alternates false, true through an Erlang process the fun asks
    got = {}
    for smod in ("ssl", "pyssl"):
        got[smod] = node.eval(f"""(fun() ->
            Agent = spawn(fun() -> Loop = fun L(Answers) -> receive {{ask, From}} ->
                          [A | Rest] = Answers, From ! {{answer, A}}, L(Rest) end end,
                          Loop([false, true]) end),
            Fun = fun(_, _, _, _) -> Agent ! {{ask, self()}}, receive {{answer, A}} -> A end end,
            [I1, I2, I3] = [Cid || {{{{Cid, _, _}}, _}} <- Conns({cmod}, {smod}, [[], [], []],
                                                                [{{reuse_session, Fun}}])],
            exit(Agent, kill),
            [I2 =:= I1, I3 =:= I2, I3 =:= I1] end)()""", 60)
    # ssl's client offers the older session again (the first of its cache's list):
    # the third connection resumes the first connection's session
    assert got["ssl"] == got["pyssl"], got
    assert got["pyssl"][0] is False and True in got["pyssl"][1:], got


@pytest.mark.parametrize("cmod", ["ssl", "pyssl"])
def test_session_made_after_a_refusal_resumes(node, cmod):
    """The session made because the fun said false is resumable: offered with its
    data, and the fun saying true, it resumes (pyssl made it in the twin context; see
    bridge.tls.engine.TLSEngine._ask_reuse_hook)."""
    got = {}
    for smod in ("ssl", "pyssl"):
        got[smod] = node.eval(f"""(fun() ->
            Agent = spawn(fun() -> Loop = fun L(Answers) -> receive {{ask, From}} ->
                          [A | Rest] = Answers, From ! {{answer, A}}, L(Rest) end end,
                          Loop([false, true]) end),
            Fun = fun(_, _, _, _) -> Agent ! {{ask, self()}}, receive {{answer, A}} -> A end end,
            %% (neither client registers a session it made after offering another)
            Third = fun() -> {{Id, _, D}} = get(last_session), [{{reuse_session, {{Id, D}}}}] end,
            [I1, I2, I3] = [Cid || {{{{Cid, _, _}}, _}} <- Conns({cmod}, {smod}, [[], [], Third],
                                                                [{{reuse_session, Fun}}])],
            exit(Agent, kill),
            [I2 =:= I1, I3 =:= I2] end)()""", 60)
    assert got["ssl"] == got["pyssl"] == [False, True], got


@pytest.mark.parametrize("cmod", ["ssl", "pyssl"])
@pytest.mark.parametrize("body", ["erlang:error(boom)", "not_a_boolean"])
def test_failing_reuse_session_fun_fails_the_handshake_as_ssl(node, pki, cmod, body):
    """ssl catches a reuse_session fun that crashes or answers a non-boolean in its
    hello handling: handshake_failure (malformed_handshake_data) on both ends."""
    import re
    got = {}
    for smod in ("ssl", "pyssl"):
        got[smod] = node.eval(f"""(fun() ->
            {{ok, L}} = FreshListen({smod}, [{{versions, ['tlsv1.2']}}, {{certfile, "{pki.server.cert_path}"}},
                {{keyfile, "{pki.server.key_path}"}}, {{active, false}},
                {{reuse_session, fun(_, _, _, _) -> {body} end}}]),
            {{ok, {{_, P}}}} = {smod}:sockname(L),
            Srv = fun() -> {{ok, T}} = {smod}:transport_accept(L, 10000), {smod}:handshake(T, 10000) end,
            Self = self(),
            spawn(fun() -> Self ! {{s1, Srv()}}, Self ! {{s2, Srv()}} end),
            CO = [{{versions, ['tlsv1.2']}}, {{verify, verify_peer}}, {{active, false}},
                  {{cacertfile, "{pki.ca.cert_path}"}}],
            {{ok, C1}} = {cmod}:connect("localhost", P, CO, 10000),
            S1 = receive {{s1, {{ok, X}}}} -> ok = {smod}:close(X) end,
            %% the client's session is registered with ssl_manager, an ssl server's
            %% with its listener's cache, each by a message sent before the answers
            %% above: a call to each makes sure the next connect finds it
            _ = sys:get_state(ssl_manager),
            _ = [catch sys:get_state(Pid) || {{_, Pid, _, _}} <- supervisor:which_children(ssl_server_session_cache_sup),
                                             is_pid(Pid)],
            R2 = {cmod}:connect("localhost", P, CO, 10000),
            S2 = receive {{s2, Y}} -> Y end,
            {cmod}:close(C1), {smod}:close(L),
            {{S1, R2, S2}} end)()""", 60)
    def text(t):       # the alert texts, with where ssl generated the alert left out
        if isinstance(t, list) and t and all(isinstance(c, int) for c in t):
            return re.sub(r" at \S+ generated", " at X generated", bytes(t).decode())
        return tuple(text(e) for e in t) if isinstance(t, tuple) else t
    assert text(got["ssl"]) == text(got["pyssl"]), got
    assert "malformed_handshake_data" in text(got["pyssl"])[2][1][1][1]


def test_tls13_server_sends_no_ticket_by_default(node):
    """session_tickets disabled (the default) on the server: an ssl client asking for
    tickets (auto) gets none from either server, so its second connection is a full
    handshake (OpenSSL would send two; see bridge.tls.callbacks.on_servername)."""
    copts = "[{versions, ['tlsv1.3']}, {session_tickets, auto}]"
    sopts = "[{versions, ['tlsv1.3']}]"
    got = {smod: node.eval(f"[{{CR, SR}} || {{{{_, CR, _}}, {{_, SR, _}}}} <- "
                           f"Conns(ssl, {smod}, [{copts}, {copts}], {sopts})]", 60)
           for smod in ("ssl", "pyssl")}
    assert got["ssl"] == got["pyssl"] == [(False, False), (False, False)]


@pytest.mark.parametrize("cmod,smod", MODS)
@pytest.mark.parametrize("mode", ["stateless", "stateful"])
def test_tls13_tickets_auto_resume(node, cmod, smod, mode):
    """A server with session_tickets stateless or stateful, a client with auto: the
    second connection resumes with a ticket of the first, and both ends say so.
    ssl's client picks any ticket it holds for the server name (tls_client_ticket_store),
    so each scenario names a server of its own (not verified: the certificate says
    localhost)."""
    sni = f"{cmod}-{smod}-{mode}.example"
    copts = (f"[{{versions, ['tlsv1.3']}}, {{session_tickets, auto}}, {{verify, verify_none}}, "
             f"{{server_name_indication, \"{sni}\"}}]")
    sopts = f"[{{versions, ['tlsv1.3']}}, {{session_tickets, {mode}}}]"
    got = node.eval(f"[{{CR, SR}} || {{{{_, CR, _}}, {{_, SR, _}}}} <- "
                    f"Conns({cmod}, {smod}, [{copts}, {copts}], {sopts})]", 60)
    assert got == [(False, False), (True, True)]


@pytest.mark.parametrize("cmod,smod", MODS)
def test_tls13_manual_tickets(node, cmod, smod):
    """session_tickets manual: the owner gets {ssl, session_ticket, Ticket} (ssl's a
    map, pyssl's a binary) and resumes with {use_ticket, [Ticket]}."""
    base = (f"{{versions, ['tlsv1.3']}}, {{session_tickets, manual}}, {{verify, verify_none}}, "
            f"{{server_name_indication, \"{cmod}-{smod}-manual.example\"}}")
    second = (f"fun() -> T = receive {{ssl, session_ticket, X}} -> X after 5000 -> none end, "
              f"put(ticket, T), [{{use_ticket, [T]}}, {base}] end")
    got = node.eval(f"(fun() -> R = [{{CR, SR}} || {{{{_, CR, _}}, {{_, SR, _}}}} <- "
                    f"Conns({cmod}, {smod}, [[{base}], {second}], [{{versions, ['tlsv1.3']}}, "
                    "{session_tickets, stateless}])], "
                    "Flush = fun F() -> receive {ssl, session_ticket, _} -> F() after 0 -> ok end end, Flush(), "
                    "{R, get(ticket) =/= none} end)()", 60)
    assert got == ([(False, False), (True, True)], True)


def test_ssl_tickets_are_refused_by_name_in_use_ticket(node):
    r = node.eval("pyssl:connect(\"localhost\", 1, [{versions, ['tlsv1.3']}, {session_tickets, manual}, "
                  "{use_ticket, [#{ticket => x}]}])")
    assert r[0] == A("error") and r[1][1][0] == A("not_supported_by_pyssl")
    assert r[1][1][1][0] == A("use_ticket")


def test_anti_replay_is_accepted(node, pki):
    srv = f'{{certfile, "{pki.server.cert_path}"}}, {{keyfile, "{pki.server.key_path}"}}'
    r = node.eval(f"(fun() -> {{ok, L}} = pyssl:listen(0, [{srv}, {{versions, ['tlsv1.3']}}, "
                  "{session_tickets, stateless}, {anti_replay, '10k'}]), pyssl:close(L) end)()")
    assert r == A("ok")


def early_data_run(node, pki, cmod, smod, mode, server_early):
    """Two connections: the first takes a ticket, the second sends {early_data,
    <<"EARLY">>} with it and <<"late">> after connect. {First's server data,
    the client's early_data signal (none if it heard none), what the second's server
    read (until "late") or its handshake error}."""
    sni = f"early-{cmod}-{smod}-{mode}-{server_early}.example"
    base = (f"{{versions, ['tlsv1.3']}}, {{session_tickets, manual}}, {{verify, verify_none}}, "
            f"{{server_name_indication, \"{sni}\"}}")
    return node.eval(f"""(fun() ->
        {{ok, L}} = {smod}:listen(0, [{{versions, ['tlsv1.3']}}, {{session_tickets, {mode}}},
            {{early_data, {server_early}}}, {{certfile, "{pki.server.cert_path}"}},
            {{keyfile, "{pki.server.key_path}"}}, {{active, false}}, {{mode, binary}}]),
        {{ok, {{_, P}}}} = {smod}:sockname(L),
        Self = self(),
        %% reads until the client's last bytes: closing with unread data would reset
        %% the connection under the client's own reads
        Upto = fun U(S, End, Acc) -> case {smod}:recv(S, 0, 10000) of
                   {{ok, D}} -> A = <<Acc/binary, D/binary>>,
                              case binary:longest_common_suffix([A, End]) =:= byte_size(End) of
                                  true -> {{ok, A}}; false -> U(S, End, A) end;
                   E -> E end end,
        Srv = fun(End) -> {{ok, T}} = {smod}:transport_accept(L, 10000),
                  case {smod}:handshake(T, 10000) of
                      {{ok, S}} -> ok = {smod}:send(S, <<"x">>), R = Upto(S, End, <<>>), {smod}:close(S), R;
                      {{error, {{tls_alert, {{Alert, _}}}}}} -> {{handshake, Alert}} end end,
        spawn(fun() -> Self ! {{s1, Srv(<<"first">>)}}, Self ! {{s2, Srv(<<"late">>)}} end),
        CO = [{base}, {{active, false}}, {{mode, binary}}],
        {{ok, C1}} = {cmod}:connect("localhost", P, CO, 10000),
        {{ok, <<"x">>}} = {cmod}:recv(C1, 1, 10000),
        T1 = receive {{ssl, session_ticket, X}} -> X after 10000 -> none end,
        ok = {cmod}:send(C1, <<"first">>),
        R1 = receive {{s1, Y1}} -> Y1 end,
        {cmod}:close(C1),
        {{ok, C2}} = {cmod}:connect("localhost", P, [{{use_ticket, [T1]}}, {{early_data, <<"EARLY">>}} | CO], 10000),
        Signal = receive {{ssl, C2, {{early_data, E}}}} -> E after 0 -> none end,
        _ = {cmod}:recv(C2, 1, 10000),
        _ = {cmod}:send(C2, <<"late">>),
        R2 = receive {{s2, Y2}} -> Y2 end,
        {cmod}:close(C2), {smod}:close(L),
        Flush = fun F() -> receive {{ssl, session_ticket, _}} -> F() after 0 -> ok end end, Flush(),
        {{R1, Signal, R2}} end)()""", 60)


@pytest.mark.parametrize("cmod", ["ssl", "pyssl"])
@pytest.mark.parametrize("mode", ["stateless", "stateful"])
@pytest.mark.parametrize("server_early", ["enabled", "disabled"])
def test_tls13_early_data_to_a_pyssl_server(node, pki, cmod, mode, server_early):
    """A client with a ticket sends {early_data, Bin} with its ClientHello and hears
    {ssl, S, {early_data, accepted}} before connect returns; the server gives the
    bytes to its owner first. A server with early_data disabled issues tickets that
    take none; with such a ticket ssl's client still sends the early data
    (tls_handshake_1_3:maybe_send_early_data/1 compares its size with an undefined
    maximum) and hears it was rejected; pyssl's sends none and hears the same. OTP 25's
    own stateless server fails the handshake on early data (unexpected_message in
    wait_finished); pyssl's takes it."""
    first, signal, second = early_data_run(node, pki, cmod, "pyssl", mode, server_early)
    assert first == (A("ok"), b"first")
    if server_early == "enabled":
        assert (signal, second) == (A("accepted"), (A("ok"), b"EARLYlate"))
    else:
        assert (signal, second) == (A("rejected"), (A("ok"), b"late"))


@pytest.mark.parametrize("mode", ["stateless", "stateful"])
@pytest.mark.parametrize("server_early", ["enabled", "disabled"])
def test_tls13_early_data_from_a_pyssl_client_as_from_ssl(node, pki, mode, server_early):
    """Against an ssl server, the pyssl client does what ssl's does, OTP's
    stateless quirk included."""
    assert early_data_run(node, pki, "pyssl", "ssl", mode, server_early) \
        == early_data_run(node, pki, "ssl", "ssl", mode, server_early)


@pytest.mark.parametrize("cmod", ["ssl", "pyssl"])
@pytest.mark.parametrize("sni,resumed", [("disable", True), ('"localhost"', False)])
def test_upgraded_client_resumes_by_peer_address(node, pki, cmod, sni, resumed):
    """connect/3 on a gen_tcp socket looks sessions up under the peer's address and
    keeps them under the server name it sent: with one, it never resumes (as ssl)."""
    ids = node.eval(f"""(fun() ->
      {{ok, L}} = FreshListen(ssl, [{{versions, ['tlsv1.2']}}, {{mode, binary}}, {{active, false}}, {{reuseaddr, true}},
                             {{certfile, "{pki.server.cert_path}"}}, {{keyfile, "{pki.server.key_path}"}}]),
      {{ok, {{_, P}}}} = ssl:sockname(L),
      spawn(fun() -> [begin {{ok, T}} = ssl:transport_accept(L, 10000), {{ok, S}} = ssl:handshake(T, 10000),
                            ok = ssl:send(S, <<"x">>), _ = ssl:recv(S, 0, 10000), ssl:close(S) end
                      || _ <- [1, 2]], ssl:close(L) end),
      [begin {{ok, T}} = gen_tcp:connect({{127, 0, 0, 1}}, P, [binary, {{active, false}}]),
             {{ok, C}} = {cmod}:connect(T, [{{versions, ['tlsv1.2']}}, {{verify, verify_peer}},
                                          {{cacertfile, "{pki.ca.cert_path}"}},
                                          {{server_name_indication, {sni}}}], 10000),
             {{ok, <<"x">>}} = {cmod}:recv(C, 1, 10000),
             {{ok, [{{session_id, Id}}]}} = {cmod}:connection_information(C, [session_id]),
             {cmod}:close(C), _ = sys:get_state(ssl_manager), Id end || _ <- [1, 2]] end)()""", 60)
    assert len(ids[0]) == 32 and (ids[0] == ids[1]) is resumed
