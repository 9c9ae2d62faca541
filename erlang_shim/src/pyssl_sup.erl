%% @doc Top supervisor of the pyssl shim.
%%
%% ```
%% pyssl_sup (one_for_one)
%%   pyssl_monitor        owners of this node's sockets: {ssl_closed, S} on nodedown
%%   pyssl_guards_sup     (rest_for_one)
%%     pyssl_guards       the guard and send-window tables; starts guards
%%     pyssl_guard_sup    (simple_one_for_one) pyssl_guard, one per bridge node
%%   pyssl_relay_sup      (simple_one_for_one) pyssl_relay, one per upgraded gen_tcp socket
%%   pyssl_port           the embedded bridge (a port program), when no bridge node
%%                        is configured
%% '''
%% The three branches share nothing: one restarting leaves the others alone.
-module(pyssl_sup).
-behaviour(supervisor).
-export([start_link/0, init/1, port_child/0]).

-spec start_link() -> {ok, pid()}.
start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

init([]) ->
    ok = pyssl_bridges:new_groups_table(),
    Monitor = #{id => pyssl_monitor, start => {pyssl_monitor, start_link, []},
                restart => permanent, shutdown => 5000, type => worker,
                modules => [pyssl_monitor]},
    Guards = #{id => pyssl_guards_sup, start => {pyssl_guards_sup, start_link, []},
               restart => permanent, shutdown => infinity, type => supervisor,
               modules => [pyssl_guards_sup]},
    Relays = #{id => pyssl_relay_sup, start => {pyssl_relay_sup, start_link, []},
               restart => permanent, shutdown => infinity, type => supervisor,
               modules => [pyssl_relay_sup]},
    %% last: started once the others are there, stopped first
    Port = case pyssl_bridges:configured() of
               [] -> [port_child()];
               _ -> []
           end,
    {ok, {#{strategy => one_for_one, intensity => 10, period => 10},
          [Monitor, Guards, Relays | Port]}}.

%% @doc The embedded bridge's child (see pyssl_port): transient, so a bridge
%% that dies is started again, except one that died right after its start
%% (`{shutdown, _}'); that one and one that cannot start (`ignore') are started
%% again at the next pick (pyssl_bridges).
-spec port_child() -> supervisor:child_spec().
port_child() ->
    #{id => pyssl_port, start => {pyssl_port, start_link, []},
      restart => transient, shutdown => 5000, type => worker, modules => [pyssl_port]}.
