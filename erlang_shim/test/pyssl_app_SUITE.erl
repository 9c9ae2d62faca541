%% The shim without a Python bridge: application life cycle, the errors of a
%% bridge that is not configured, not running or gone, and the owner tracking.
%%
%% "Fake bridges" are real Erlang nodes (started with `peer') on which a process
%% registered as `pyssl' answers `gen_server' calls with canned ssl-shaped
%% replies; stopping such a node is a real nodedown.
-module(pyssl_app_SUITE).
-include_lib("common_test/include/ct.hrl").

-export([all/0, groups/0, init_per_suite/1, end_per_suite/1,
         init_per_group/2, end_per_group/2, init_per_testcase/2, end_per_testcase/2]).
-export([app_starts_and_stops/1, start_type_and_errors/1, supervision_tree/1,
         unconfigured_is_bridge_unavailable/1,
         new_socket_calls_unreachable_bridge/1, socket_calls_on_absent_bridge_are_closed/1,
         upgrade_without_bridge/1, not_a_socket_raises/1, bad_timeout_raises/1,
         format_error_fallback/1,
         forwards_and_tracks/1, raise_is_reraised/1, bad_raise_class_is_a_reply/1,
         format_error_is_forwarded/1, noproc_is_closed/1,
         nodedown_delivers_ssl_closed/1, nodedown_during_call_is_closed/1,
         owner_exit_forgets/1, round_robin_over_reachable_bridges/1,
         guards_are_supervised/1, guard_registry_does_not_connect/1,
         relay_is_supervised/1, relay_without_the_application/1]).
-export([observe_unconfigured/1, observe_unreachable_bridge/1]).
%% run on the fake bridge node
-export([start_fake_bridge/0]).

-define(NOBRIDGE, 'nobridge@127.0.0.1').
%% With no bridge node configured the application runs an embedded bridge
%% (pyssl_port): here always this command, which does not exist, so that no
%% case starts a Python bridge (pyssl_port_SUITE runs real ones).
-define(NO_EXE, "/nonexistent/pyssl-bridge").

all() ->
    [{group, app}, {group, unconfigured}, {group, nobridge}, {group, fake_bridge}].

groups() ->
    [{app, [], [app_starts_and_stops, start_type_and_errors, supervision_tree]},
     {unconfigured, [], [unconfigured_is_bridge_unavailable, observe_unconfigured]},
     {nobridge, [], [new_socket_calls_unreachable_bridge, socket_calls_on_absent_bridge_are_closed,
                     upgrade_without_bridge, not_a_socket_raises, bad_timeout_raises,
                     format_error_fallback, observe_unreachable_bridge]},
     {fake_bridge, [], [forwards_and_tracks, raise_is_reraised, bad_raise_class_is_a_reply,
                        format_error_is_forwarded, noproc_is_closed,
                        nodedown_delivers_ssl_closed, nodedown_during_call_is_closed,
                        owner_exit_forgets, round_robin_over_reachable_bridges,
                        guards_are_supervised, guard_registry_does_not_connect,
                        relay_is_supervised, relay_without_the_application]}].

init_per_suite(Config) ->
    _ = os:cmd("epmd -daemon"),
    %% unique names: several test runs may share this host's epmd
    case net_kernel:start([list_to_atom("ct_pyssl_" ++ os:getpid() ++ "@127.0.0.1"), longnames]) of
        {ok, _} -> ok;
        {error, {already_started, _}} -> ok
    end,
    ok = application:set_env(pyssl, bridge_command, ?NO_EXE),
    Config.

end_per_suite(_Config) ->
    application:unset_env(pyssl, bridge_command),
    ok.

init_per_group(app, Config) ->
    Config;
init_per_group(unconfigured, Config) ->
    ok = pyssl:start(),
    Config;
init_per_group(nobridge, Config) ->
    ok = application:set_env(pyssl, bridge_node, ?NOBRIDGE),
    ok = pyssl:start(),
    Config;
init_per_group(fake_bridge, Config) ->
    ok = pyssl:start(),
    Config.

end_per_group(_Group, _Config) ->
    ok = pyssl:stop(),
    application:unset_env(pyssl, bridge_node),
    application:unset_env(pyssl, bridge_nodes),
    ok.

init_per_testcase(_Case, Config) ->
    Config.

end_per_testcase(_Case, _Config) ->
    case erase(peers) of
        undefined -> ok;
        Peers -> [catch peer:stop(P) || P <- Peers]
    end,
    ok.

%%% app -------------------------------------------------------------------------

app_starts_and_stops(_Config) ->
    ok = pyssl:start(),
    true = is_pid(whereis(pyssl_sup)),
    true = is_pid(whereis(pyssl_monitor)),
    ok = pyssl:start(),                       % already started: ok, as ssl:start/0
    ok = pyssl:stop(),
    undefined = whereis(pyssl_sup),
    undefined = whereis(pyssl_monitor),
    ok = pyssl:stop(),                        % stopping twice is fine too
    [] = pyssl_monitor:sockets(),             % no table when not running
    ok = pyssl_monitor:track({sslsocket, pyssl, make_ref()}, self()).  % no-op, no crash

start_type_and_errors(_Config) ->
    ok = pyssl:start(permanent),
    {pyssl, _, _} = lists:keyfind(pyssl, 1, application:which_applications()),
    ok = pyssl:stop(),
    {error, _} = pyssl:start(not_a_restart_type).

%% The processes of the shim, and what the application is made of: it needs ssl,
%% and holds none of the conformance runner's modules (their own application).
supervision_tree(_Config) ->
    ok = pyssl:start(),
    Top = lists:sort([{Id, Type} || {Id, _, Type, _} <- supervisor:which_children(pyssl_sup)]),
    [{pyssl_guards_sup, supervisor}, {pyssl_monitor, worker}, {pyssl_port, worker},
     {pyssl_relay_sup, supervisor}] = Top,
    %% the embedded bridge's child: not running, its command does not exist
    [undefined] = [Pid || {pyssl_port, Pid, _, _} <- supervisor:which_children(pyssl_sup)],
    Guards = lists:sort([{Id, Type} || {Id, _, Type, _} <- supervisor:which_children(pyssl_guards_sup)]),
    [{pyssl_guard_sup, supervisor}, {pyssl_guards, worker}] = Guards,
    %% guards and relays are made on demand
    [] = supervisor:which_children(pyssl_guard_sup),
    [] = supervisor:which_children(pyssl_relay_sup),
    {ok, Apps} = application:get_key(pyssl, applications),
    true = lists:member(ssl, Apps),
    {ssl, _, _} = lists:keyfind(ssl, 1, application:which_applications()),
    {ok, Mods} = application:get_key(pyssl, modules),
    [] = [M || M <- Mods, lists:prefix("pyssl_scenarios", atom_to_list(M)) orelse
                              M =:= pyssl_conformance orelse M =:= pyssl_certs],
    ok = pyssl:stop().

%%% unconfigured -----------------------------------------------------------------

%% No bridge node configured: the embedded bridge, whose command here does not
%% exist; without the application, no bridge at all.
unconfigured_is_bridge_unavailable(_Config) ->
    E = {error, {bridge_unavailable, {port, {no_executable, ?NO_EXE}}}},
    E = pyssl:connect("localhost", 443, []),
    E = pyssl:connect("localhost", 443, [], 1000),
    E = pyssl:listen(0, []),
    E = pyssl:cipher_suites(),
    E = pyssl:versions(),
    "The embedded pyssl bridge" ++ _ = pyssl:format_error(E),
    true = is_pid(whereis(pyssl_sup)),
    ok = pyssl:stop(),
    {error, {bridge_unavailable, []}} = pyssl:versions(),
    ok = pyssl:start(),
    "No pyssl bridge node configured" ++ _ = pyssl:format_error({bridge_unavailable, []}),
    %% other reasons get the local texts
    "TLS connection is closed" = pyssl:format_error(closed).

%% No bridge, no sockets, no figures: pyssl:i/0 prints nothing, as inet:i/0 with no ports.
observe_unconfigured(_Config) ->
    <<>> = capture_io(fun pyssl:i/0),
    #{} = Stats = pyssl:stats(),
    0 = map_size(Stats).

%%% nobridge ---------------------------------------------------------------------

%% A configured bridge that cannot be reached is named, not skipped silently.
observe_unreachable_bridge(_Config) ->
    Line = <<"bridge 'nobridge@127.0.0.1': unavailable\n">>,
    Line = capture_io(fun pyssl:i/0),
    Line = capture_io(fun() -> pyssl:i(?NOBRIDGE) end),
    #{?NOBRIDGE := {error, closed}} = pyssl:stats(),
    {error, closed} = pyssl:stats(?NOBRIDGE).

%% What Fun prints (through its group leader), as a binary (Common Test's capture).
capture_io(Fun) ->
    ok = ct:capture_start(),
    try Fun() after ct:capture_stop() end,
    iolist_to_binary(ct:capture_get([])).


new_socket_calls_unreachable_bridge(_Config) ->
    E = {error, {bridge_unavailable, [?NOBRIDGE]}},
    E = pyssl:connect("localhost", 443, []),
    E = pyssl:connect("localhost", 443, [], 1000),
    E = pyssl:connect({127, 0, 0, 1}, 443, [], infinity),
    E = pyssl:listen(0, [{certfile, "x.pem"}]),
    E = pyssl:cipher_suites(),
    E = pyssl:cipher_suites(all),
    E = pyssl:cipher_suites(default, 'tlsv1.3'),
    E = pyssl:cipher_suites(default, 'tlsv1.3', rfc),
    E = pyssl:filter_cipher_suites([], []),
    E = pyssl:prepend_cipher_suites([{cipher, fun(_) -> true end}], []),
    E = pyssl:append_cipher_suites([{cipher, fun(_) -> true end}], []),
    E = pyssl:eccs(),
    E = pyssl:eccs('tlsv1.2'),
    E = pyssl:groups(),
    E = pyssl:groups(default),
    E = pyssl:versions(),
    %% what needs no bridge: OTP's own conversions, and a cache with nothing to clear
    "TLS_AES_128_GCM_SHA256" = pyssl:suite_to_str(#{key_exchange => any, cipher => aes_128_gcm,
                                                    mac => aead, prf => sha256}),
    "TLS_AES_128_GCM_SHA256" = pyssl:suite_to_openssl_str(#{key_exchange => any,
                                                            cipher => aes_128_gcm,
                                                            mac => aead, prf => sha256}),
    #{cipher := aes_128_gcm} = pyssl:str_to_suite("TLS_AES_128_GCM_SHA256"),
    {3, 3} = pyssl:tls_version({3, 3}),
    ok = pyssl:clear_pem_cache(),
    {error, {illegal_parameter, read}} = pyssl:update_keys(not_a_socket, read),
    Text = pyssl:format_error(E),
    Text = pyssl:format_error({bridge_unavailable, [?NOBRIDGE]}),
    {match, _} = re:run(Text, "nobridge@127.0.0.1"),
    [] = pyssl_monitor:sockets().

socket_calls_on_absent_bridge_are_closed(_Config) ->
    S = {sslsocket, pyssl, ref_on(?NOBRIDGE)},
    ?NOBRIDGE = node(element(3, S)),
    C = {error, closed},
    Calls = [{transport_accept, [S]}, {transport_accept, [S, 1000]},
             {ssl_accept, [S]}, {ssl_accept, [S, 1000]}, {ssl_accept, [S, [], 1000]},
             {handshake, [S]}, {handshake, [S, 1000]}, {handshake, [S, [], 1000]},
             {send, [S, <<"x">>]}, {recv, [S, 0]}, {recv, [S, 0, 1000]},
             {close, [S, 1000]}, {shutdown, [S, write]},
             {controlling_process, [S, self()]}, {setopts, [S, [{active, false}]]},
             {getopts, [S, [active]]}, {peername, [S]}, {sockname, [S]}, {peercert, [S]},
             {connection_info, [S]}, {connection_information, [S]},
             {connection_information, [S, [protocol]]},
             {negotiated_protocol, [S]}, {negotiated_next_protocol, [S]},
             {prf, [S, master_secret, <<"label">>, [client_random], 16]},
             {renegotiate, [S]}, {getstat, [S]}, {getstat, [S, [recv_oct]]},
             {update_keys, [S, write]}, {handshake_continue, [S, []]},
             {handshake_continue, [S, [], 1000]}, {handshake_cancel, [S]},
             %% the shim's own request for a user's transport (pyssl_cb)
             {cb_call, [?NOBRIDGE, '$pyssl_cb_check', [client, []]]}],
    [{F, C} = {F, apply(pyssl, F, A)} || {F, A} <- Calls],
    ok = pyssl:close(S),                      % like a second ssl:close/1
    %% a failed controlling_process or handshake records nothing
    [] = monitor_sockets(),
    %% a socket recorded while its bridge is not connected (it left between its
    %% reply and the recording) is reported closed at once
    ok = pyssl_monitor:track(S, self()),
    receive {ssl_closed, S} -> ok after 10000 -> ct:fail(no_ssl_closed) end,
    [] = monitor_sockets(),
    %% every exported function of the module is covered by this group
    Exported = [FA || {F, _} = FA <- pyssl:module_info(exports),
                      F =/= module_info],
    Covered = [{F, length(A)} || {F, A} <- Calls] ++
        [{close, 1}, {connect, 2}, {connect, 3}, {connect, 4}, {listen, 2},
         {cipher_suites, 0}, {cipher_suites, 1}, {cipher_suites, 2}, {versions, 0},
         {format_error, 1}, {start, 0}, {start, 1}, {stop, 0}, {upgrade_call, 2},
         %% new_socket_calls_unreachable_bridge
         {cipher_suites, 3}, {filter_cipher_suites, 2}, {prepend_cipher_suites, 2},
         {append_cipher_suites, 2}, {suite_to_str, 1}, {suite_to_openssl_str, 1},
         {str_to_suite, 1}, {tls_version, 1}, {eccs, 0}, {eccs, 1}, {groups, 0},
         {groups, 1}, {clear_pem_cache, 0}]
        %% observe_unconfigured, observe_unreachable_bridge
        ++ [{i, 0}, {i, 1}, {stats, 0}, {stats, 1}],
    [] = Exported -- Covered.

%% With no bridge reachable an upgrade leaves the gen_tcp socket alone.
upgrade_without_bridge(_Config) ->
    {ok, L} = gen_tcp:listen(0, [{ip, {127, 0, 0, 1}}, {active, false}]),
    {ok, Port} = inet:port(L),
    {ok, T} = gen_tcp:connect({127, 0, 0, 1}, Port, []),
    {ok, A} = gen_tcp:accept(L, 5000),
    E = {error, {bridge_unavailable, [?NOBRIDGE]}},
    E = pyssl:connect(T, []),
    E = pyssl:connect(T, [], 1000),
    E = pyssl:connect(T, [], infinity),
    E = pyssl:handshake(T),
    E = pyssl:handshake(T, 1000),
    E = pyssl:handshake(T, [], 1000),
    E = pyssl:ssl_accept(T),
    E = pyssl:ssl_accept(T, []),
    E = pyssl:ssl_accept(T, [], 1000),
    ok = gen_tcp:send(T, <<"still mine">>),
    {ok, "still mine"} = gen_tcp:recv(A, 0, 5000),
    ok = gen_tcp:close(T),
    ok = gen_tcp:close(A),
    ok = gen_tcp:close(L).

not_a_socket_raises(_Config) ->
    %% as ssl: a term that is not a socket is a function_clause in the caller
    Bad = [foo, {sslsocket, pyssl, not_a_ref}, {sslsocket, other, make_ref()}, {sslsocket, pyssl}],
    [{'EXIT', {function_clause, _}} = catch pyssl:send(B, <<"x">>) || B <- Bad],
    {'EXIT', {function_clause, _}} = catch pyssl:close(foo),
    {'EXIT', {function_clause, _}} = catch pyssl:recv(foo, 0),
    {'EXIT', {function_clause, _}} = catch pyssl:handshake(foo),
    {'EXIT', {function_clause, _}} = catch pyssl:controlling_process(foo, self()),
    [] = pyssl_monitor:sockets().

bad_timeout_raises(_Config) ->
    {'EXIT', {function_clause, _}} = catch pyssl:connect("localhost", 443, [], -1),
    {'EXIT', {function_clause, _}} = catch pyssl:connect("localhost", 443, [], soon),
    %% connect/3 with a non-timeout third argument is (Host, Port, Opts): the bridge
    %% is asked, and it is not there
    {error, {bridge_unavailable, [?NOBRIDGE]}} = pyssl:connect("localhost", 443, [active]).

format_error_fallback(_Config) ->
    %% with no bridge, the texts are ssl's own
    Reasons = [closed, timeout, econnrefused, einval, {tls_alert, {unknown_ca, "TLS client: x"}},
               {options, {verify, maybe}}, {options, {certfile, "/x.pem", {error, enoent}}},
               {options, {socket_options, [foo]}}, {error, closed}, "already a text",
               {strange, reason}],
    [{R, T} = {R, pyssl:format_error(R)} || R <- Reasons, T <- [ssl:format_error(R)]],
    "TLS connection is closed" = pyssl:format_error(closed).

%%% fake_bridge --------------------------------------------------------------------

forwards_and_tracks(Config) ->
    B = fake_bridge(Config),
    ok = application:set_env(pyssl, bridge_node, B),
    [{bridge, B}] = pyssl:versions(),
    {echo, cipher_suites, [default, 'tlsv1.2']} = pyssl:cipher_suites(default, 'tlsv1.2'),
    {ok, S} = pyssl:connect("localhost", 443, []),
    {sslsocket, pyssl, Ref} = S,
    B = node(Ref),
    {ok, L} = pyssl:listen(0, []),
    {ok, T} = pyssl:transport_accept(L),
    {ok, T} = pyssl:handshake(T),
    ok = pyssl:ssl_accept(T),                 % R16 shape: no socket, nothing new recorded
    {echo, send, [S, <<"x">>]} = pyssl:send(S, <<"x">>),
    Self = self(),
    Entries = lists:sort([{S, B, Self}, {L, B, Self}, {T, B, Self}]),
    Entries = lists:sort(monitor_sockets()),
    ok = pyssl:close(L),
    ok = pyssl:close(T, write),
    [{S, B, Self}] = monitor_sockets(),
    ok = pyssl:close(S),
    [] = monitor_sockets(),
    %% paused handshakes ({handshake, hello}) give {ok, S, Ext}: recorded too
    {ok, H, #{sni := "h"}} = pyssl:connect("h", 1, [{handshake, hello}], 1000),
    [{H, B, Self}] = monitor_sockets(),
    %% replies that are not sockets record nothing
    {echo, connect, _} = pyssl:connect("h", 1, [{not_a_socket_reply, x}], 1000),
    [{H, B, Self}] = monitor_sockets().

raise_is_reraised(Config) ->
    B = fake_bridge(Config),
    ok = application:set_env(pyssl, bridge_node, B),
    {ok, S} = pyssl:connect("localhost", 443, []),
    try pyssl:send(S, raise_function_clause) of
        Other -> ct:fail({no_exception, Other})
    catch
        error:function_clause:Stack ->
            [{pyssl, send, [S, raise_function_clause], _} | _] = Stack
    end,
    {'EXIT', badarg} = catch pyssl:send(S, raise_exit_badarg),
    thrown = catch pyssl:send(S, raise_throw),
    ok = pyssl:close(S).

bad_raise_class_is_a_reply(Config) ->
    %% a malformed raise request from a bridge is not turned into erlang:raise/3's badarg
    B = fake_bridge(Config),
    ok = application:set_env(pyssl, bridge_node, B),
    {ok, S} = pyssl:connect("localhost", 443, []),
    {'$pyssl_raise', bogus, x} = pyssl:send(S, raise_bogus),
    ok = pyssl:close(S).

format_error_is_forwarded(Config) ->
    B = fake_bridge(Config),
    ok = application:set_env(pyssl, bridge_node, B),
    "fake bridge text for closed" = pyssl:format_error(closed),
    %% the shim's own reasons are never sent
    "No pyssl bridge node reachable" ++ _ = pyssl:format_error({bridge_unavailable, [x@y]}).

noproc_is_closed(Config) ->
    %% a reachable node without the pyssl service
    {ok, Peer, B} = start_peer(?FUNCTION_NAME),
    put(peers, [Peer]),
    ok = application:set_env(pyssl, bridge_node, B),
    {error, closed} = pyssl:connect("localhost", 443, []),
    {error, closed} = pyssl:listen(0, []),
    {error, closed} = pyssl:versions(),
    S = {sslsocket, pyssl, ref_on(B)},
    {error, closed} = pyssl:send(S, <<"x">>),
    {error, closed} = pyssl:recv(S, 0, 1000),
    ok = pyssl:close(S),
    "TLS connection is closed" = pyssl:format_error(closed),
    "connection refused" = pyssl:format_error(econnrefused),
    [] = pyssl_monitor:sockets(),
    _ = Config.

nodedown_delivers_ssl_closed(Config) ->
    B = fake_bridge(Config),
    ok = application:set_env(pyssl, bridge_node, B),
    Self = self(),
    Other = spawn_link(fun() -> forwarder(Self) end),
    {ok, S1} = pyssl:connect("localhost", 443, []),
    {ok, S2} = pyssl:connect("localhost", 443, []),
    {ok, S3} = pyssl:connect("localhost", 443, []),
    {ok, L} = pyssl:listen(0, []),
    ok = pyssl:controlling_process(S2, Other),
    ok = pyssl:close(S3),
    Entries = lists:sort([{S1, B, Self}, {S2, B, Other}, {L, B, Self}]),
    Entries = lists:sort(monitor_sockets()),
    stop_peers(),
    receive {ssl_closed, S1} -> ok after 10000 -> ct:fail(no_ssl_closed_s1) end,
    receive {forwarded, Other, {ssl_closed, S2}} -> ok after 10000 -> ct:fail(no_ssl_closed_s2) end,
    [] = monitor_sockets(),
    %% as ssl, nothing for a listen socket
    receive {ssl_closed, L} -> ct:fail(ssl_closed_for_listen_socket) after 0 -> ok end,
    %% calls on the lost sockets: closed
    {error, closed} = pyssl:send(S1, <<"x">>),
    ok = pyssl:close(S1),
    %% exactly once, and nothing for the closed socket
    receive {ssl_closed, _} = M -> ct:fail({unexpected, M}) after 0 -> ok end,
    unlink(Other),
    exit(Other, kill).

nodedown_during_call_is_closed(Config) ->
    B = fake_bridge(Config),
    ok = application:set_env(pyssl, bridge_node, B),
    {ok, S} = pyssl:connect("localhost", 443, [{active, false}]),
    Self = self(),
    %% the fake bridge never answers recv; it tells us when it has the request
    Caller = spawn_link(fun() -> Self ! {recv_result, pyssl:recv(S, {notify, Self})} end),
    receive {fake_bridge, got, recv} -> ok after 10000 -> ct:fail(recv_not_received) end,
    stop_peers(),
    receive {recv_result, R} -> {error, closed} = R after 10000 -> ct:fail(recv_hangs) end,
    false = is_process_alive(Caller),
    %% as ssl, no message for a passive socket once pyssl_monitor saw the nodedown
    WaitGone = fun W() -> case monitor_sockets() of
                              [] -> ok;
                              _ -> receive after 1 -> W() end
                          end end,
    ok = WaitGone(),
    receive {ssl_closed, S} -> ct:fail(ssl_closed_for_passive_socket) after 0 -> ok end,
    {error, closed} = pyssl:recv(S, 0, 1000).

owner_exit_forgets(Config) ->
    B = fake_bridge(Config),
    ok = application:set_env(pyssl, bridge_node, B),
    Self = self(),
    {Owner, Mref} = spawn_monitor(fun() ->
                                          {ok, S} = pyssl:connect("localhost", 443, []),
                                          Self ! {socket, S},
                                          receive stop -> ok end
                                  end),
    S = receive {socket, S0} -> S0 after 10000 -> ct:fail(no_socket) end,
    [{S, B, Owner}] = monitor_sockets(),
    Owner ! stop,
    receive {'DOWN', Mref, process, Owner, normal} -> ok end,
    [] = monitor_sockets().

round_robin_over_reachable_bridges(Config) ->
    B1 = fake_bridge(Config),
    B2 = fake_bridge(Config),
    ok = application:set_env(pyssl, bridge_nodes, [B1, ?NOBRIDGE, B2]),
    %% three picks in a row start at three different places in the list
    Nodes = [begin {ok, {sslsocket, pyssl, R}} = pyssl:connect("h", 1, []), node(R) end
             || _ <- [1, 2, 3]],
    %% (both bridges served; their names need not sort in creation order)
    Served = lists:usort(Nodes) -- [?NOBRIDGE],
    Served = lists:usort([B1, B2]),
    3 = length([N || N <- Nodes, N =:= B1 orelse N =:= B2]),
    %% only reachable ones are picked
    ok = application:set_env(pyssl, bridge_nodes, [?NOBRIDGE, B2]),
    [B2, B2, B2] = [begin {ok, {sslsocket, pyssl, R}} = pyssl:connect("h", 1, []), node(R) end
                    || _ <- [1, 2, 3]],
    %% bridge_nodes wins over bridge_node
    ok = application:set_env(pyssl, bridge_node, B1),
    [{bridge, B2}] = pyssl:versions(),
    ok = application:set_env(pyssl, bridge_nodes, [?NOBRIDGE]),
    {error, {bridge_unavailable, [?NOBRIDGE]}} = pyssl:versions().

%% A guard is a child of pyssl_guard_sup, made by the first call to its bridge;
%% it ends with its bridge, and the next call to that node finds none.
guards_are_supervised(Config) ->
    B = fake_bridge(Config),
    ok = application:unset_env(pyssl, bridge_nodes),
    ok = application:set_env(pyssl, bridge_node, B),
    [{bridge, B}] = pyssl:versions(),
    [{B, Guard}] = ets:lookup(pyssl_guards, B),
    [{_, Guard, worker, [pyssl_guard]}] = supervisor:which_children(pyssl_guard_sup),
    {links, Links} = process_info(Guard, links),
    true = lists:member(whereis(pyssl_guard_sup), Links),
    MRef = monitor(process, Guard),
    stop_peers(),
    receive {'DOWN', MRef, process, Guard, normal} -> ok
    after 10000 -> ct:fail(guard_outlives_its_bridge)
    end,
    [] = supervisor:which_children(pyssl_guard_sup),
    down = pyssl_guards:guard(B),
    {error, {bridge_unavailable, [B]}} = pyssl:versions().

%% The registry answers without net_kernel: the caller connects to the bridge
%% before it asks, so a connection set-up that hangs (here: net_kernel
%% suspended) holds up that caller only, not the registry and every caller
%% behind it.
guard_registry_does_not_connect(Config) ->
    B = fake_bridge(Config),
    pong = net_adm:ping(B),
    [] = ets:lookup(pyssl_guards, B),
    Self = self(),
    ok = sys:suspend(net_kernel),
    try
        Waiting = spawn_link(fun() -> Self ! {waited, pyssl_guards:guard(?NOBRIDGE)} end),
        {ok, Guard} = gen_server:call(pyssl_guards, {guard, B}, 30000),
        [{B, Guard}] = ets:lookup(pyssl_guards, B),
        true = is_process_alive(Waiting)
    after
        ok = sys:resume(net_kernel)
    end,
    receive {waited, down} -> ok after 30000 -> ct:fail(connect_never_answered) end,
    {ok, Guard2} = pyssl_guards:guard(B),
    [{B, Guard2}] = ets:lookup(pyssl_guards, B).

%% A relay (TLS upgrade of a gen_tcp socket) is a child of pyssl_relay_sup and
%% owns the socket; when its bridge goes it closes the socket and ends.
relay_is_supervised(Config) ->
    B = fake_bridge(Config),
    ok = application:unset_env(pyssl, bridge_nodes),
    ok = application:set_env(pyssl, bridge_node, B),
    {ok, L} = gen_tcp:listen(0, [{ip, {127, 0, 0, 1}}, {active, false}]),
    {ok, Port} = inet:port(L),
    {ok, T} = gen_tcp:connect({127, 0, 0, 1}, Port, [{active, false}]),
    {ok, A} = gen_tcp:accept(L, 5000),
    {ok, {sslsocket, pyssl, _}} = pyssl:connect(T, []),
    [{_, Relay, worker, [pyssl_relay]}] = supervisor:which_children(pyssl_relay_sup),
    {connected, Relay} = erlang:port_info(T, connected),
    {links, Links} = process_info(Relay, links),
    true = lists:member(whereis(pyssl_relay_sup), Links),
    MRef = monitor(process, Relay),
    stop_peers(),
    receive {'DOWN', MRef, process, Relay, normal} -> ok
    after 10000 -> ct:fail(relay_outlives_its_bridge)
    end,
    {error, closed} = gen_tcp:recv(A, 0, 10000),
    [] = supervisor:which_children(pyssl_relay_sup),
    ok = gen_tcp:close(A),
    ok = gen_tcp:close(L).

%% Without the application the shim works with plain calls, and an upgrade's
%% relay is a process of its own (no supervisor to start it under).
relay_without_the_application(Config) ->
    B = fake_bridge(Config),
    ok = application:unset_env(pyssl, bridge_nodes),
    ok = application:set_env(pyssl, bridge_node, B),
    ok = pyssl:stop(),
    try
        {ok, L} = gen_tcp:listen(0, [{ip, {127, 0, 0, 1}}, {active, false}]),
        {ok, Port} = inet:port(L),
        {ok, T} = gen_tcp:connect({127, 0, 0, 1}, Port, [{active, false}]),
        {ok, A} = gen_tcp:accept(L, 5000),
        {ok, {sslsocket, pyssl, _}} = pyssl:connect(T, []),
        {connected, Relay} = erlang:port_info(T, connected),
        {links, [T]} = process_info(Relay, links),
        MRef = monitor(process, Relay),
        stop_peers(),
        receive {'DOWN', MRef, process, Relay, normal} -> ok
        after 10000 -> ct:fail(relay_outlives_its_bridge)
        end,
        {error, closed} = gen_tcp:recv(A, 0, 10000),
        ok = gen_tcp:close(A),
        ok = gen_tcp:close(L)
    after
        ok = pyssl:start()
    end.

%%% Helpers ---------------------------------------------------------------------------

%% A reference that claims to be made on Node (NEWER_REFERENCE_EXT).
ref_on(Node) ->
    Name = atom_to_binary(Node, utf8),
    binary_to_term(<<131, 90, 3:16, 119, (byte_size(Name)):8, Name/binary,
                     0:32, 1:32, 2:32, 3:32>>).

monitor_sockets() ->
    _ = sys:get_state(pyssl_monitor),        % the casts before this are handled
    pyssl_monitor:sockets().

forwarder(To) ->
    receive M -> To ! {forwarded, self(), M}, forwarder(To) end.

start_peer(Case) ->
    Name = list_to_atom(lists:concat([Case, "_", os:getpid(), "_", erlang:unique_integer([positive])])),
    Dir = filename:dirname(code:which(?MODULE)),
    peer:start_link(#{name => Name, host => "127.0.0.1", longnames => true,
                      args => ["-pa", Dir]}).

%% A peer node with a fake `pyssl' service; stopped at the end of the test case.
fake_bridge(_Config) ->
    {ok, Peer, Node} = start_peer(fake),
    put(peers, [Peer | case get(peers) of undefined -> []; Ps -> Ps end]),
    ok = erpc:call(Node, ?MODULE, start_fake_bridge, []),
    Node.

stop_peers() ->
    [peer:stop(P) || P <- erase(peers)],
    ok.

start_fake_bridge() ->
    Parent = self(),
    Pid = spawn(fun() -> register(pyssl, self()), Parent ! registered, fake_loop() end),
    receive registered -> ok after 5000 -> {error, Pid} end.

fake_loop() ->
    receive
        {'$gen_call', From, {F, A}} ->
            case fake_reply(F, A) of
                noreply -> ok;
                Reply -> gen_server:reply(From, Reply)
            end
    end,
    fake_loop().

fake_reply(connect, [_, _, [{handshake, hello}], _]) ->
    {ok, {sslsocket, pyssl, make_ref()}, #{sni => "h"}};
fake_reply(connect, [_, _, [{not_a_socket_reply, _}], _] = A) ->
    {echo, connect, A};
fake_reply(F, _) when F =:= connect; F =:= listen; F =:= transport_accept ->
    {ok, {sslsocket, pyssl, make_ref()}};
fake_reply(handshake, [S | _]) -> {ok, S};
fake_reply('$pyssl_upgrade', [_Role, Relay | _]) ->
    %% the relay carries the bytes to this process from now on
    Relay ! {pyssl_relay, {attach, self()}},
    {ok, {sslsocket, pyssl, make_ref()}};
fake_reply(ssl_accept, _) -> ok;
fake_reply(close, _) -> ok;
fake_reply(controlling_process, _) -> ok;
fake_reply(versions, []) -> [{bridge, node()}];
fake_reply(format_error, [R]) -> lists:flatten(io_lib:format("fake bridge text for ~p", [R]));
fake_reply(send, [_, raise_function_clause]) -> {'$pyssl_raise', error, function_clause};
fake_reply(send, [_, raise_exit_badarg]) -> {'$pyssl_raise', exit, badarg};
fake_reply(send, [_, raise_throw]) -> {'$pyssl_raise', throw, thrown};
fake_reply(send, [_, raise_bogus]) -> {'$pyssl_raise', bogus, x};
fake_reply(recv, [_, {notify, Pid}]) -> Pid ! {fake_bridge, got, recv}, noreply;
fake_reply(F, A) -> {echo, F, A}.
