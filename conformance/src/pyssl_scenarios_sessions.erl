%% @doc Conformance scenarios: sessions and resumption (issue 11), in both
%% roles. A scenario makes two or three connections from one client to one
%% listener and reports, per connection, what each end says of the session:
%% TLS 1.2 session reuse (`reuse_sessions' `true | false | save',
%% `{reuse_session, Id}'), TLS 1.3 tickets (`session_tickets'
%% `stateless | stateful' with a client in `auto'; `manual' with
%% `{ssl, session_ticket, Ticket}' and `{use_ticket, [Ticket]}').
%%
%% Every step waits for an event: the server end reports its view to the
%% scenario process before the client closes, and the client's next connect
%% comes after ssl's session and ticket stores have taken what the last
%% connection registered (a call to them after the registering message).
-module(pyssl_scenarios_sessions).

-export([all/0]).

-import(pyssl_scenarios, [mk/3, srv_opts/0, cli_opts/0]).

-define(T, 5000).

all() ->
    tls12() ++ tls13().

%%% TLS 1.2 -------------------------------------------------------------------------

v12() -> [{versions, ['tlsv1.2']}].

%% The client under test (Mod) against an ssl server, or an ssl client against
%% the server under test.
as_client(SOpts, COptsList) ->
    fun(Mod) -> facts(conns(Mod, ssl, SOpts ++ srv_opts(), COptsList)) end.

as_server(SOpts, COptsList) ->
    fun(Mod) -> facts(conns(ssl, Mod, SOpts ++ srv_opts(), COptsList)) end.

cli12(Opts) -> Opts ++ v12() ++ cli_opts().

%% {reuse_session, Id} with the previous connection's session id
reuse_previous(Opts) ->
    fun({Id, _}) -> cli12([{reuse_session, Id} | Opts]); (_) -> cli12(Opts) end.

tls12() ->
    Save = [{reuse_sessions, save}],
    [mk(sessions, client_reuse_sessions_default_12, as_client(v12(), [cli12([]), cli12([])])),
     mk(sessions, client_reuse_sessions_true_12,
        as_client(v12(), [cli12([{reuse_sessions, true}]), cli12([{reuse_sessions, true}])])),
     mk(sessions, client_reuse_sessions_false_12,
        as_client(v12(), [cli12([{reuse_sessions, false}]), cli12([{reuse_sessions, false}])])),
     mk(sessions, client_reuse_sessions_save_12,
        as_client(v12(), [cli12(Save), cli12(Save), reuse_previous([])])),
     mk(sessions, client_server_refuses_reuse_12,
        as_client([{reuse_sessions, false} | v12()], [cli12([]), cli12([])])),
     mk(sessions, server_reuse_sessions_default_12, as_server(v12(), [cli12([]), cli12([])])),
     mk(sessions, server_reuse_sessions_true_12,
        as_server([{reuse_sessions, true} | v12()], [cli12([]), cli12([])])),
     mk(sessions, server_reuse_sessions_false_12,
        as_server([{reuse_sessions, false} | v12()], [cli12([]), cli12([])])),
     mk(sessions, server_client_reuse_sessions_false_12,
        as_server(v12(), [cli12([{reuse_sessions, false}]), cli12([{reuse_sessions, false}])])),
     mk(sessions, server_client_save_then_reuse_session_12,
        as_server(v12(), [cli12(Save), cli12(Save), reuse_previous([])])),
     %% a server's reuse_session fun (ssl_session:is_resumable/4) decides
     mk(sessions, server_reuse_session_fun_true_12,
        as_server([{reuse_session, fun(_, _, _, _) -> true end} | v12()], [cli12([]), cli12([])])),
     mk(sessions, server_reuse_session_fun_false_12,
        as_server([{reuse_session, fun(_, _, _, _) -> false end} | v12()], [cli12([]), cli12([])])),
     mk(sessions, server_reuse_session_fun_crashes_12,
        as_server([{reuse_session, fun crashing_reuse_fun/4} | v12()], [cli12([]), cli12([])])),
     mk(sessions, client_new_listener_same_port_12, new_listener_same_port(client)),
     mk(sessions, server_new_listener_same_port_12, new_listener_same_port(server)),
     mk(sessions, server_new_listener_same_port_reuse_fun_12,
        new_listener_same_port(server, true))].

%% a reuse_session fun that crashes: ssl fails the handshake (handshake_failure)
-dialyzer({nowarn_function, crashing_reuse_fun/4}).
crashing_reuse_fun(_Id, _PeerCert, _Compression, _Suite) ->
    erlang:error(boom).

%%% TLS 1.3 -------------------------------------------------------------------------

v13() -> [{versions, ['tlsv1.3']}].

%% ssl's client takes any ticket it holds for the server name
%% (tls_client_ticket_store): each run names a server of its own, so no ticket
%% of an earlier run (another listener) is offered. Not verified: the
%% certificate says localhost.
cli13(Name, Opts) ->
    Opts ++ v13() ++ [{verify, verify_none}, {server_name_indication, Name}
        | pyssl_certs:opts(rsa, client)].

server_name() ->
    "s" ++ integer_to_list(erlang:unique_integer([positive])) ++ ".example".

auto(Role, Mode) ->
    fun(Mod) ->
            N = server_name(),
            C = cli13(N, [{session_tickets, auto}]),
            {CMod, SMod} = mods(Role, Mod),
            facts13(conns(CMod, SMod, [{session_tickets, Mode} | v13()] ++ srv_opts(), [C, C]))
    end.

%% TLS 1.3 has no session id of its own: ssl reports the ClientHello's
%% legacy_session_id (the client's random, echoed by the server), the same on
%% both ends, which OpenSSL does not expose; the bridge reports OpenSSL's
%% SSL_SESSION id, its own on each end. The ticket scenarios compare
%% resumption; session_id_agrees_13_* (a known difference) the ids.
facts13(Res) when is_list(Res) ->
    [case F of
         {R, _, _, _, Size, CR, SR} -> {R, Size, CR, SR};
         Other -> Other
     end || F <- facts(Res)];
facts13(Other) -> Other.

id_agrees(Role) ->
    fun(Mod) ->
            {CMod, SMod} = mods(Role, Mod),
            C = cli13(server_name(), [{session_tickets, auto}]),
            [{R, Cid =:= Sid} || {R, {Cid, _}, {Sid, _}} <-
                                     conns(CMod, SMod, [{session_tickets, stateless} | v13()] ++ srv_opts(),
                                           [C])]
    end.

%% manual: the first connection's ticket comes as {ssl, session_ticket, T}
%% (ssl's is a map, pyssl's a binary: only its arrival is compared; ssl's
%% server sends three tickets, OpenSSL's two, and pyssl passes its first on, so
%% the count is not compared either); the second connection gives it back with
%% {use_ticket, [T]} and resumes.
manual(Role) ->
    fun(Mod) ->
            N = server_name(),
            Base = [{session_tickets, manual}],
            {CMod, SMod} = mods(Role, Mod),
            Second = fun(_) ->
                             T = receive {ssl, session_ticket, X} -> X after 2 * ?T -> none end,
                             put(ticket, T),
                             cli13(N, [{use_ticket, [T]} | Base])
                     end,
            Facts = facts13(conns(CMod, SMod, [{session_tickets, stateless} | v13()] ++ srv_opts(),
                                [cli13(N, Base), Second])),
            T = get(ticket),
            {{ticket_arrived, is_binary(T) orelse is_map(T)}, Facts}
    end.

%% early_data: the first connection takes a ticket (manual), the second sends
%% {early_data, <<"EARLY">>} with it, then <<"late">>. Compared: the client's
%% {ssl, S, {early_data, accepted | rejected}} (heard before connect returned) and
%% all the server's owner read on the second connection.
early(Role, ServerEarly) ->
    fun(Mod) ->
            {CMod, SMod} = mods(Role, Mod),
            N = server_name(),
            {ok, L} = SMod:listen(0, [{ip, {127, 0, 0, 1}}, {mode, binary}, {active, false},
                                      {session_tickets, stateful}, {early_data, ServerEarly}
                                      | v13() ++ srv_opts()]),
            {ok, {_, Port}} = SMod:sockname(L),
            Self = self(),
            Srv = spawn_link(fun() -> early_serve(SMod, L, Self) end),
            ok = SMod:controlling_process(L, Srv),
            Srv ! go,
            CO = [{mode, binary}, {active, false} | cli13(N, [{session_tickets, manual}])],
            {ok, C1} = CMod:connect("localhost", Port, CO, ?T),
            {ok, <<"x">>} = CMod:recv(C1, 1, ?T),
            T = receive {ssl, session_ticket, X} -> X after 2 * ?T -> none end,
            ok = CMod:send(C1, <<"late">>),
            First = receive {srv, F} -> F after 2 * ?T -> srv_timeout end,
            _ = CMod:close(C1),
            ok = stores_settled(),
            {ok, C2} = CMod:connect("localhost", Port, [{use_ticket, [T]}, {early_data, <<"EARLY">>} | CO], ?T),
            Signal = receive {ssl, C2, {early_data, E}} -> E after 0 -> none end,
            _ = CMod:recv(C2, 1, ?T),
            _ = CMod:send(C2, <<"late">>),
            Second = receive {srv, S} -> S after 2 * ?T -> srv_timeout end,
            _ = CMod:close(C2),
            Flush = fun F() -> receive {ssl, session_ticket, _} -> F() after 0 -> ok end end,
            Flush(),
            {First, Signal, Second}
    end.

early_serve(SMod, L, Parent) ->
    MRef = erlang:monitor(process, Parent),
    receive go -> ok end,
    _ = [case SMod:transport_accept(L, ?T) of
         {ok, T} ->
             case SMod:handshake(T, ?T) of
                 {ok, S} ->
                     ok = SMod:send(S, <<"x">>),
                     Parent ! {srv, early_upto(SMod, S, <<>>)},
                     SMod:close(S);
                 Other -> Parent ! {srv, {handshake, Other}}
             end;
         Other -> Parent ! {srv, {accept, Other}}
     end || _ <- [1, 2]],
    receive {'DOWN', MRef, process, Parent, _} -> ok end.

%% what the client sent, up to its closing <<"late">> (closing with unread data
%% would reset the connection under the client's reads)
early_upto(SMod, S, Acc) ->
    case SMod:recv(S, 0, ?T) of
        {ok, D} ->
            A = <<Acc/binary, D/binary>>,
            case binary:longest_common_suffix([A, <<"late">>]) of
                4 -> {ok, A};
                _ -> early_upto(SMod, S, A)
            end;
        E -> E
    end.

mods(client, Mod) -> {Mod, ssl};
mods(server, Mod) -> {ssl, Mod}.

tls13() ->
    [mk(sessions, client_tickets_auto_stateless_13, auto(client, stateless)),
     mk(sessions, client_tickets_auto_stateful_13, auto(client, stateful)),
     mk(sessions, server_tickets_auto_stateless_13, auto(server, stateless)),
     mk(sessions, server_tickets_auto_stateful_13, auto(server, stateful)),
     mk(sessions, client_tickets_manual_13, manual(client)),
     mk(sessions, server_tickets_manual_13, manual(server)),
     %% early data with a stateful server (OTP 25's stateless server fails the
     %% handshake on early data: pyssl's takes it, tested in test_sessions.py)
     mk(sessions, client_early_data_accepted_13, early(client, enabled)),
     mk(sessions, server_early_data_accepted_13, early(server, enabled)),
     mk(sessions, client_early_data_rejected_13, early(client, disabled)),
     mk(sessions, server_early_data_rejected_13, early(server, disabled)),
     {session_id_agrees_13_client, id_agrees(client), #{area => sessions}},
     {session_id_agrees_13_server, id_agrees(server), #{area => sessions}}].

%%% The connections -----------------------------------------------------------------

%% One connection per client option list (or fun(PreviousClientInfo) -> Opts),
%% each `{RecvResult, ClientInfo, ServerInfo}'; Info is `{SessionId, Resumed}'.
conns(CMod, SMod, SOpts, COptsList) ->
    case fresh_listen(SMod, listen_opts(SOpts), 50) of
        {ok, L} ->
            {_Srv, Res} = conns_on(CMod, SMod, L, COptsList),
            Res;
        Other ->
            {listen, Other}
    end.

listen_opts(SOpts) ->
    [{ip, {127, 0, 0, 1}}, {mode, binary}, {active, false}, {reuseaddr, true} | SOpts].

%% The connections to the listener L (a serve/4 process takes it): `{Srv, Results}'.
conns_on(CMod, SMod, L, COptsList) ->
    {ok, {_, Port}} = SMod:sockname(L),
    Self = self(),
    Srv = spawn_link(fun() -> serve(SMod, L, length(COptsList), Self) end),
    ok = SMod:controlling_process(L, Srv),
    Srv ! {go, Self},
    {Srv, conns(CMod, Port, COptsList, none, [])}.

%% A server's sessions are its listener's (ssl keeps a session cache per listen
%% socket, tls_socket:session_id_tracker/2): a client that connects to a new
%% listener on the port of a closed one, with the same options, offers the old
%% listener's session (its cache is keyed by {Host, Port}) and gets a new one.
%% Compared as the other scenarios: the second connection's id is not the first's;
%% and how often a reuse_session fun was asked (ssl asks it only of a session its
%% listener's cache holds: never here). The fun tells the scenario process before it
%% answers, so before the handshake it belongs to ends and the server end reports.
new_listener_same_port(Role) -> new_listener_same_port(Role, false).

new_listener_same_port(Role, WithFun) ->
    fun(Mod) ->
            {CMod, SMod} = mods(Role, Mod),
            Self = self(),
            Fun = [{reuse_session, fun(_, _, _, _) -> Self ! reuse_fun_asked, true end} || WithFun],
            Opts = listen_opts(Fun ++ v12() ++ srv_opts()),
            case fresh_listen(SMod, Opts, 50) of
                {ok, L1} ->
                    {ok, {_, Port}} = SMod:sockname(L1),
                    {Srv1, First} = conns_on(CMod, SMod, L1, [cli12([])]),
                    Srv1 ! {close, self()},
                    Closed = receive {closed, Srv1, C} -> C after 2 * ?T -> close_timeout end,
                    R = case SMod:listen(Port, Opts) of
                            {ok, L2} ->
                                {_, Second} = conns_on(CMod, SMod, L2, [cli12([])]),
                                facts(First ++ Second);
                            Other ->
                                {relisten, Other}
                        end,
                    {Closed, R, {reuse_fun_asked, asked(0)}};
                Other ->
                    {listen, Other}
            end
    end.

asked(N) -> receive reuse_fun_asked -> asked(N + 1) after 0 -> N end.

%% A listener on a port no earlier scenario of this run listened on. A client's
%% session cache is keyed by {Host, Port} (ssl_session:select_session/4; the
%% bridge's as well), and ssl registers a new session only if the cache holds
%% no equivalent one for that key (ssl_manager:client_register_unique_session/4):
%% on an ephemeral port the kernel gave an earlier scenario's listener, the
%% client could offer that scenario's session instead of this one's, and which
%% scenario met a reused port changed from run to run. These ports lie below the
%% kernel's ephemeral range (32768 and up on Linux), which the other areas'
%% listeners (port 0) use.
fresh_listen(SMod, Opts, Tries) ->
    Port = 20000 + erlang:unique_integer([positive, monotonic]) rem 12000,
    case SMod:listen(Port, Opts) of
        {error, eaddrinuse} when Tries > 1 -> fresh_listen(SMod, Opts, Tries - 1);
        Other -> Other
    end.

conns(_CMod, _Port, [], _Prev, Acc) ->
    lists:reverse(Acc);
conns(CMod, Port, [COpts0 | T], Prev, Acc) ->
    COpts = case COpts0 of
                F when is_function(F, 1) -> F(Prev);
                _ -> COpts0
            end,
    case CMod:connect("localhost", Port, [{mode, binary}, {active, false} | COpts], ?T) of
        {ok, C} ->
            %% the server's first bytes come after any TLS 1.3 ticket it sends
            R = CMod:recv(C, 1, ?T),
            CI = info(CMod, C),
            SI = srv_info(),
            _ = CMod:close(C),
            ok = stores_settled(),
            conns(CMod, Port, T, CI, [{R, CI, SI} | Acc]);
        Other ->
            lists:reverse([{{connect, Other}, srv_info()} | Acc])
    end.

srv_info() ->
    receive {srv, X} -> X after 2 * ?T -> srv_timeout end.

%% ssl registers a client session with ssl_manager, and a TLS 1.3 ticket with
%% tls_client_ticket_store, by a message sent before the data or the
%% connect's answer: a call to each after it makes sure the next connect sees it.
stores_settled() ->
    _ = [sys:get_state(P) || Name <- [ssl_manager, tls_client_ticket_store],
                             P <- [whereis(Name)], is_pid(P)],
    %% an ssl server registers its new session with its listener's session cache
    %% by a cast (tls_dtls_connection:server_register_session/2), sent before the
    %% server end reported its view: a call to each cache after that report makes
    %% sure it is there before the next connect offers it
    %% (a cache whose listener closed meanwhile has ended: hence the catch)
    _ = [catch sys:get_state(P) || Sup <- [ssl_server_session_cache_sup, ssl_upgrade_server_session_cache_sup],
                             is_pid(whereis(Sup)),
                             {_, P, _, _} <- supervisor:which_children(Sup), is_pid(P)],
    ok.

%% The server end: N connections in turn; each sends one byte, reports its view
%% of the session, then waits for the client to close. Stays (with the listen
%% socket) until the scenario process ends.
serve(SMod, L, N, Parent) ->
    MRef = erlang:monitor(process, Parent),
    receive {go, Parent} -> ok end,
    lists:foreach(
      fun(_) ->
              case SMod:transport_accept(L, ?T) of
                  {ok, T} -> serve_one(SMod, SMod:handshake(T, ?T), Parent);
                  Other -> Parent ! {srv, {accept, Other}}
              end
      end, lists:seq(1, N)),
    receive
        {'DOWN', MRef, process, Parent, _} -> ok;
        {close, Parent} ->
            Parent ! {closed, self(), SMod:close(L)},
            receive {'DOWN', MRef, process, Parent, _} -> ok end
    end.

serve_one(SMod, {ok, S}, Parent) ->
    ok = SMod:send(S, <<"x">>),
    Parent ! {srv, info(SMod, S)},
    %% until the client closes, once it has read the byte and this view
    _ = SMod:recv(S, 0, ?T),
    SMod:close(S);
serve_one(_SMod, Other, Parent) ->
    Parent ! {srv, {handshake, Other}}.

info(Mod, S) ->
    case Mod:connection_information(S, [session_id, session_resumption]) of
        {ok, I} -> {proplists:get_value(session_id, I), proplists:get_value(session_resumption, I)};
        Other -> Other
    end.

%% What is compared, per connection: the byte read; whether the client's session
%% id is the first connection's and the previous one's, whether both ends agree
%% on it, its size; session_resumption as each end reports it.
facts({listen, _} = L) -> L;
facts([{_, {Id0, _}, _} | _] = Res) ->
    facts(Res, Id0, Id0);
facts(Other) -> Other.

facts([{R, {Cid, CR}, {Sid, SR}} | T], Id0, Prev) ->
    [{R, Cid =:= Id0, Cid =:= Prev, Cid =:= Sid, id_size(Cid), CR, SR} | facts(T, Id0, Cid)];
facts([Other | T], Id0, Prev) ->
    [Other | facts(T, Id0, Prev)];
facts([], _, _) -> [].

id_size(B) when is_binary(B) -> byte_size(B);
id_size(X) -> X.
