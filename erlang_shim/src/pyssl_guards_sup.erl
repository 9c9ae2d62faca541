%% @doc The guards and their tables: `pyssl_guards' (which owns the tables and
%% starts guards) and `pyssl_guard_sup' (the guards themselves).
%%
%% rest_for_one: the guards write the tables `pyssl_guards' owns; when it
%% restarts the tables are new and the guards go with the old ones (the next
%% call makes a new guard, which the bridge learns of).
-module(pyssl_guards_sup).
-behaviour(supervisor).
-export([start_link/0, init/1]).

-spec start_link() -> {ok, pid()}.
start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

init([]) ->
    Registry = #{id => pyssl_guards, start => {pyssl_guards, start_link, []},
                 restart => permanent, shutdown => 5000, type => worker,
                 modules => [pyssl_guards]},
    Guards = #{id => pyssl_guard_sup, start => {pyssl_guard_sup, start_link, []},
               restart => permanent, shutdown => infinity, type => supervisor,
               modules => [pyssl_guard_sup]},
    {ok, {#{strategy => rest_for_one, intensity => 10, period => 10}, [Registry, Guards]}}.
