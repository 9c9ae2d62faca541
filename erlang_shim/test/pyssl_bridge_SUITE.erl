%% `ssl' and `pyssl' side by side against a real pyssl bridge.
%%
%% Runs only when the environment variable PYSSL_BRIDGE_NODE names a running
%% bridge (PYSSL_BRIDGE_COOKIE, if set, is the cookie to use for it; otherwise
%% this node's cookie, normally ~/.erlang.cookie). Without it every case is
%% skipped. The TLS peer is always this node's own `ssl' (a listener started in
%% init_per_suite), so only the side under test changes between `Mod = ssl' and
%% `Mod = pyssl'; each case runs its body with both and compares the results.
-module(pyssl_bridge_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("public_key/include/public_key.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1]).
-export([passive_send_recv_close/1, active_echo/1, calls_after_close/1,
         peer_close_active/1, recv_timeout/1, unknown_ca/1,
         socket_belongs_to_bridge/1, controlling_process_moves_tracking/1,
         format_error_matches/1, versions_shape/1, listen_and_accept/1]).
-export([observe_sockets_and_stats/1]).

all() ->
    [passive_send_recv_close, active_echo, calls_after_close, peer_close_active,
     recv_timeout, unknown_ca, socket_belongs_to_bridge,
     controlling_process_moves_tracking, format_error_matches, versions_shape,
     listen_and_accept, observe_sockets_and_stats].

init_per_suite(Config) ->
    case os:getenv("PYSSL_BRIDGE_NODE") of
        V when V =:= false; V =:= "" ->
            {skip, "PYSSL_BRIDGE_NODE not set: no bridge to test against"};
        NodeName ->
            setup(list_to_atom(NodeName), Config)
    end.

setup(Bridge, Config) ->
    _ = os:cmd("epmd -daemon"),
    case net_kernel:start([list_to_atom("ct_pyssl_bridge_" ++ os:getpid() ++ "@127.0.0.1"),
                           longnames]) of
        {ok, _} -> ok;
        {error, {already_started, _}} -> ok
    end,
    case os:getenv("PYSSL_BRIDGE_COOKIE") of
        C when C =:= false; C =:= "" -> ok;
        Cookie -> true = erlang:set_cookie(Bridge, list_to_atom(Cookie))
    end,
    pong = net_adm:ping(Bridge),
    {ok, _} = application:ensure_all_started(ssl),
    ok = application:set_env(pyssl, bridge_node, Bridge),
    ok = pyssl:start(),
    Dir = ?config(priv_dir, Config),
    {Srv, Ca, OtherCa} = make_pki(Dir, "localhost"),
    {Echo, P1} = start_server(Srv, fun echo/1),
    {Bye, P2} = start_server(Srv, fun(S) -> ok = ssl:send(S, <<"bye">>), ok = ssl:close(S) end),
    {Silent, P3} = start_server(Srv, fun(S) -> receive after 30000 -> ssl:close(S) end end),
    [{bridge, Bridge}, {ca, Ca}, {other_ca, OtherCa}, {srv, Srv}, {servers, [P1, P2, P3]},
     {echo, Echo}, {bye, Bye}, {silent, Silent} | Config].

end_per_suite(Config) ->
    [exit(P, kill) || P <- ?config(servers, Config)],
    _ = pyssl:stop(),
    ok.

%%% Cases ---------------------------------------------------------------------------

%% pyssl:i/1 lists a connection with its owner, state and protocol, and its byte
%% counts are getstat's; pyssl:stats/1 counts the handshake and the bytes.
observe_sockets_and_stats(Config) ->
    Bridge = ?config(bridge, Config),
    #{handshakes := H0, bytes_in := In0, bytes_out := Out0} = pyssl:stats(Bridge),
    {ok, S} = connect(pyssl, echo, [binary, {active, false}], Config),
    ok = pyssl:send(S, binary:copy(<<"z">>, 1000)),
    {ok, <<_:1000/binary>>} = pyssl:recv(S, 1000, 5000),
    #{handshakes := H1, bytes_in := In1, bytes_out := Out1, rss := Rss} = pyssl:stats(Bridge),
    true = H1 > H0 andalso In1 - In0 > 1000 andalso Out1 - Out0 > 1000 andalso Rss > 0,
    #{Bridge := #{}} = pyssl:stats(),
    {ok, [{recv_oct, Recv}, {send_oct, Sent}]} = pyssl:getstat(S, [recv_oct, send_oct]),
    Text = binary_to_list(capture_io(fun() -> pyssl:i(Bridge) end)),
    Owner = pid_to_list(self()),
    [Line] = [L || L <- string:split(Text, "\n", all), lists:prefix(Owner ++ " client", L)],
    [Owner, "client", _Local, _Peer, "open", "tlsv1.3", R, W, B] = string:lexemes(Line, " "),
    {Recv, Sent, Bridge} = {list_to_integer(R), list_to_integer(W), list_to_atom(B)},
    ok = pyssl:close(S).

%% What Fun prints (through its group leader), as a binary (Common Test's capture).
capture_io(Fun) ->
    ok = ct:capture_start(),
    try Fun() after ct:capture_stop() end,
    iolist_to_binary(ct:capture_get([])).

passive_send_recv_close(Config) ->
    same(fun(Mod) ->
                 {ok, S} = connect(Mod, echo, [binary, {active, false}], Config),
                 ok = Mod:send(S, <<"0123456789">>),
                 R = [Mod:recv(S, 4, 5000), Mod:recv(S, 6, 5000)],
                 [R, Mod:close(S)]
         end).

active_echo(Config) ->
    same(fun(Mod) ->
                 {ok, S} = connect(Mod, echo, [], Config),
                 ok = Mod:send(S, "hello"),
                 R = receive {ssl, S, D} -> D after 5000 -> timeout end,
                 [R, Mod:close(S)]
         end).

calls_after_close(Config) ->
    same(fun(Mod) ->
                 {ok, S} = connect(Mod, echo, [], Config),
                 ok = Mod:close(S),
                 [Mod:send(S, "x"), Mod:recv(S, 0, 100), Mod:close(S),
                  Mod:getopts(S, [mode]), Mod:setopts(S, [{active, false}])]
         end).

peer_close_active(Config) ->
    same(fun(Mod) ->
                 {ok, S} = connect(Mod, bye, [binary], Config),
                 R1 = receive {ssl, S, D} -> D after 5000 -> timeout end,
                 R2 = receive {ssl_closed, S} -> closed after 5000 -> timeout end,
                 [R1, R2]
         end).

recv_timeout(Config) ->
    same(fun(Mod) ->
                 {ok, S} = connect(Mod, silent, [{active, false}], Config),
                 R = Mod:recv(S, 0, 200),
                 [R, Mod:close(S)]
         end).

unknown_ca(Config) ->
    same(fun(Mod) ->
                 Opts = [{verify, verify_peer}, {cacertfile, ?config(other_ca, Config)}],
                 case Mod:connect("localhost", ?config(echo, Config), Opts, 5000) of
                     {error, {tls_alert, {Alert, "TLS client:" ++ _}}} -> {alert, Alert};
                     Other -> Other
                 end
         end).

socket_belongs_to_bridge(Config) ->
    Bridge = ?config(bridge, Config),
    {ok, {sslsocket, pyssl, Ref} = S} = connect(pyssl, echo, [], Config),
    Bridge = node(Ref),
    Self = self(),
    true = lists:member({S, Bridge, Self}, monitor_sockets()),
    ok = pyssl:close(S),
    false = lists:keymember(S, 1, monitor_sockets()).

controlling_process_moves_tracking(Config) ->
    Bridge = ?config(bridge, Config),
    {ok, S} = connect(pyssl, echo, [binary], Config),
    Self = self(),
    P = spawn_link(fun() ->
                           receive {ssl, S, D} -> Self ! {got, D} after 5000 -> Self ! none end,
                           receive stop -> ok end
                   end),
    ok = pyssl:controlling_process(S, P),
    true = lists:member({S, Bridge, P}, monitor_sockets()),
    ok = pyssl:send(S, <<"moved">>),
    receive {got, <<"moved">>} -> ok; none -> ct:fail(not_delivered_to_new_owner)
    after 10000 -> ct:fail(timeout) end,
    ok = pyssl:close(S),
    P ! stop.

format_error_matches(_Config) ->
    Reasons = [closed, timeout, econnrefused, {options, {verify, maybe}},
               {options, {certfile, "/x.pem", {error, enoent}}}],
    [{R, T} = {R, pyssl:format_error(R)} || R <- Reasons, T <- [ssl:format_error(R)]],
    "TLS connection is closed" = pyssl:format_error(closed).

versions_shape(_Config) ->
    Vs = pyssl:versions(),
    true = is_list(Vs),
    {supported, Supported} = lists:keyfind(supported, 1, Vs),
    true = lists:member('tlsv1.2', Supported),
    true = is_list(pyssl:cipher_suites(default, 'tlsv1.2')).

listen_and_accept(Config) ->
    %% pyssl listens (on the bridge's host), ssl connects
    {ok, L} = pyssl:listen(0, ?config(srv, Config) ++ [{active, false}, binary,
                                                       {reuseaddr, true}]),
    {ok, {_, Port}} = pyssl:sockname(L),
    Self = self(),
    spawn_link(fun() ->
                       {ok, C} = ssl:connect("localhost", Port,
                                             [{verify, verify_peer}, {cacertfile, ?config(ca, Config)},
                                              binary, {active, false}], 10000),
                       ok = ssl:send(C, <<"ping">>),
                       Self ! {client, ssl:recv(C, 4, 10000)},
                       ssl:close(C)
               end),
    {ok, T} = pyssl:transport_accept(L, 10000),
    {ok, S} = pyssl:handshake(T, 10000),
    {ok, <<"ping">>} = pyssl:recv(S, 4, 10000),
    ok = pyssl:send(S, <<"pong">>),
    receive {client, R} -> {ok, <<"pong">>} = R after 10000 -> ct:fail(no_client_reply) end,
    ok = pyssl:close(S),
    ok = pyssl:close(L).

%%% Helpers ---------------------------------------------------------------------------

same(Body) ->
    A = norm(Body(ssl)),
    B = norm(Body(pyssl)),
    case A =:= B of
        true -> A;
        false -> ct:fail({differ, [{ssl, A}, {pyssl, B}]})
    end.

norm({sslsocket, _, _}) -> socket;
norm(T) when is_tuple(T) -> list_to_tuple(norm(tuple_to_list(T)));
norm([H | T]) -> [norm(H) | norm(T)];
norm(X) -> X.

connect(Mod, Server, Opts, Config) ->
    Mod:connect("localhost", ?config(Server, Config),
                [{verify, verify_peer}, {cacertfile, ?config(ca, Config)} | Opts], 10000).

monitor_sockets() ->
    _ = sys:get_state(pyssl_monitor),
    pyssl_monitor:sockets().

%% An ssl server on 127.0.0.1 running Handler(S) for each connection: {Port, Pid}.
start_server(Opts, Handler) ->
    Self = self(),
    Pid = spawn(fun() ->
                        {ok, L} = ssl:listen(0, [{ip, {127, 0, 0, 1}}, {reuseaddr, true} | Opts]),
                        {ok, {_, Port}} = ssl:sockname(L),
                        Self ! {port, self(), Port},
                        accept_loop(L, Handler)
                end),
    receive {port, Pid, Port} -> {Port, Pid} after 10000 -> error(server_not_started) end.

accept_loop(L, Handler) ->
    {ok, T} = ssl:transport_accept(L),
    P = spawn(fun() ->
                      receive go -> ok end,
                      case ssl:handshake(T, 10000) of
                          {ok, S} -> Handler(S);
                          _ -> ok
                      end
              end),
    _ = ssl:controlling_process(T, P),
    P ! go,
    accept_loop(L, Handler).

echo(S) ->
    receive
        {ssl, S, D} -> ok = ssl:send(S, D), echo(S);
        {ssl_closed, S} -> ok
    after 30000 -> ssl:close(S)
    end.

%% A CA and a server certificate for Host, written as PEM files under Dir.
%% Returns {ServerOpts (certfile/keyfile), CaFile, OtherCaFile}; OtherCaFile is
%% the root of the client chain, a CA with another name that did not sign the
%% server's certificate.
make_pki(Dir, Host) ->
    ok = filelib:ensure_path(Dir),
    San = #'Extension'{extnID = ?'id-ce-subjectAltName', critical = false,
                       extnValue = [{dNSName, Host}]},
    %% RSA: pkix_test_data's ECDSA certificates carry curve parameters in the
    %% signature AlgorithmIdentifier, which ssl accepts and pyca/cryptography does not
    Key = [{key, {rsa, 2048, 65537}}, {digest, sha256}],
    #{server_config := SConf, client_config := CConf} =
        public_key:pkix_test_data(#{server_chain => #{root => Key, intermediates => [],
                                                      peer => [{extensions, [San]} | Key]},
                                    client_chain => #{root => Key, intermediates => [],
                                                      peer => Key}}),
    Cert = proplists:get_value(cert, SConf),
    {KeyType, KeyDer} = proplists:get_value(key, SConf),
    Cas = proplists:get_value(cacerts, CConf),
    CertFile = filename:join(Dir, "server.pem"),
    KeyFile = filename:join(Dir, "server.key"),
    CaFile = filename:join(Dir, "ca.pem"),
    OtherCaFile = filename:join(Dir, "other_ca.pem"),
    ok = file:write_file(OtherCaFile, public_key:pem_encode([{'Certificate', C, not_encrypted}
                                                             || C <- proplists:get_value(cacerts, SConf)])),
    ok = file:write_file(CertFile, public_key:pem_encode([{'Certificate', Cert, not_encrypted}])),
    ok = file:write_file(KeyFile, public_key:pem_encode([{KeyType, KeyDer, not_encrypted}])),
    ok = file:write_file(CaFile, public_key:pem_encode([{'Certificate', C, not_encrypted} || C <- Cas])),
    {[{certfile, CertFile}, {keyfile, KeyFile}], CaFile, OtherCaFile}.
