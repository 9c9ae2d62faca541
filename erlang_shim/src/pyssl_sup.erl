%% @doc Top supervisor of the pyssl shim.
-module(pyssl_sup).
-behaviour(supervisor).
-export([start_link/0, init/1]).

start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

init([]) ->
    Monitor = #{id => pyssl_monitor, start => {pyssl_monitor, start_link, []},
                restart => permanent, shutdown => 5000, type => worker,
                modules => [pyssl_monitor]},
    {ok, {#{strategy => one_for_one, intensity => 10, period => 10}, [Monitor]}}.
