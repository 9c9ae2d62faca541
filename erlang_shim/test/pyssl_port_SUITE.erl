%% The embedded bridge (port mode): with no bridge node configured, the
%% application runs `pyssl-bridge --port-mode' itself (pyssl_port).
%%
%% Runs only when the environment variable PYSSL_BRIDGE_EXE names the bridge's
%% executable (scripts/ct-with-bridge.sh sets it to .venv/bin/pyssl-bridge);
%% without it every case is skipped. The TLS peer is this node's own `ssl'.
-module(pyssl_port_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("public_key/include/public_key.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1, init_per_testcase/2, end_per_testcase/2]).
-export([echo_through_the_port/1, killed_bridge_closes_and_restarts/1,
         stop_ends_the_bridge/1]).

all() ->
    [echo_through_the_port, killed_bridge_closes_and_restarts, stop_ends_the_bridge].

init_per_suite(Config) ->
    case os:getenv("PYSSL_BRIDGE_EXE") of
        V when V =:= false; V =:= "" ->
            {skip, "PYSSL_BRIDGE_EXE not set: no bridge executable to run"};
        Exe ->
            {ok, _} = application:ensure_all_started(ssl),
            {Srv, Ca} = make_pki(?config(priv_dir, Config)),
            Echo = start_echo_server(Srv),
            [{exe, Exe}, {ca, Ca}, {echo_port, Echo} | Config]
    end.

end_per_suite(_Config) ->
    ok.

init_per_testcase(_Case, Config) ->
    application:unset_env(pyssl, bridge_node),
    application:unset_env(pyssl, bridge_nodes),
    ok = application:set_env(pyssl, bridge_command, ?config(exe, Config)),
    ok = pyssl:start(),
    Config.

end_per_testcase(_Case, _Config) ->
    _ = pyssl:stop(),
    application:unset_env(pyssl, bridge_command),
    ok.

%%% Cases ---------------------------------------------------------------------------

echo_through_the_port(Config) ->
    #{node := Node} = pyssl_port:info(),
    {ok, S} = connect(Config, [{active, false}]),
    {sslsocket, pyssl, Ref} = S,
    Node = node(Ref),
    ok = pyssl:send(S, <<"ping">>),
    {ok, <<"ping">>} = pyssl:recv(S, 4, 10000),
    ok = pyssl:setopts(S, [{active, once}]),
    ok = pyssl:send(S, <<"pong">>),
    receive {ssl, S, <<"pong">>} -> ok after 10000 -> ct:fail(no_active_data) end,
    ok = pyssl:close(S).

killed_bridge_closes_and_restarts(Config) ->
    #{os_pid := OsPid, node := Old} = pyssl_port:info(),
    {ok, S} = connect(Config, [{active, true}]),
    _ = os:cmd("kill -9 " ++ integer_to_list(OsPid)),
    receive {ssl_closed, S} -> ok after 30000 -> ct:fail(no_ssl_closed) end,
    {error, closed} = pyssl:send(S, <<"x">>),
    {ok, S2} = connect(Config, [{active, false}]),
    #{node := New} = pyssl_port:info(),
    true = New =/= Old,
    ok = pyssl:send(S2, <<"again">>),
    {ok, <<"again">>} = pyssl:recv(S2, 5, 10000),
    ok = pyssl:close(S2).

stop_ends_the_bridge(_Config) ->
    #{os_pid := OsPid} = pyssl_port:info(),
    ok = pyssl:stop(),
    wait_gone(OsPid, 600).

%%% Helpers -------------------------------------------------------------------------

connect(Config, Opts) ->
    pyssl:connect("localhost", ?config(echo_port, Config),
                  [binary, {verify, verify_peer}, {cacertfile, ?config(ca, Config)} | Opts],
                  30000).

%% The bridge's process ends once its stdin does: wait for it, 50 ms a step.
wait_gone(OsPid, 0) ->
    ct:fail({bridge_still_running, OsPid});
wait_gone(OsPid, N) ->
    case file:read_file_info("/proc/" ++ integer_to_list(OsPid)) of
        {error, enoent} ->
            ok;
        {ok, _} ->
            case file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/stat") of
                {ok, Stat} ->
                    case string:split(Stat, ") ") of
                        [_, <<"Z", _/binary>>] -> ok;   % a zombie: it has exited
                        _ -> timer:sleep(50), wait_gone(OsPid, N - 1)
                    end;
                _ ->
                    ok
            end
    end.

start_echo_server(Opts) ->
    Self = self(),
    Pid = spawn(fun() ->
                        {ok, L} = ssl:listen(0, [{ip, {127, 0, 0, 1}}, {reuseaddr, true},
                                                 {active, false}, binary | Opts]),
                        {ok, {_, Port}} = ssl:sockname(L),
                        Self ! {port, self(), Port},
                        accept_loop(L)
                end),
    receive {port, Pid, Port} -> Port after 10000 -> error(server_not_started) end.

accept_loop(L) ->
    {ok, T} = ssl:transport_accept(L),
    P = spawn(fun() ->
                      receive go -> ok end,
                      case ssl:handshake(T, 10000) of
                          {ok, S} -> echo(S);
                          _ -> ok
                      end
              end),
    _ = ssl:controlling_process(T, P),
    P ! go,
    accept_loop(L).

echo(S) ->
    case ssl:recv(S, 0) of
        {ok, D} -> ok = ssl:send(S, D), echo(S);
        _ -> ssl:close(S)
    end.

make_pki(Dir) ->
    ok = filelib:ensure_path(Dir),
    San = #'Extension'{extnID = ?'id-ce-subjectAltName', critical = false,
                       extnValue = [{dNSName, "localhost"}]},
    Key = [{key, {rsa, 2048, 65537}}, {digest, sha256}],
    #{server_config := SConf, client_config := CConf} =
        public_key:pkix_test_data(#{server_chain => #{root => Key, intermediates => [],
                                                      peer => [{extensions, [San]} | Key]},
                                    client_chain => #{root => Key, intermediates => [],
                                                      peer => Key}}),
    CaFile = filename:join(Dir, "ca.pem"),
    ok = file:write_file(CaFile, public_key:pem_encode([{'Certificate', C, not_encrypted}
                                                        || C <- proplists:get_value(cacerts, CConf)])),
    {[{cert, proplists:get_value(cert, SConf)}, {key, proplists:get_value(key, SConf)}], CaFile}.
