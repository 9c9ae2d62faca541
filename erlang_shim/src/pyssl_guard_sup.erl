%% @doc The guards, one per bridge node this node talks to (see `pyssl_guard').
%% Started on demand by `pyssl_guards'; temporary, as a guard ends when its
%% bridge goes and the next call makes a new one.
-module(pyssl_guard_sup).
-behaviour(supervisor).
-export([start_link/0, init/1]).

-spec start_link() -> {ok, pid()}.
start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

init([]) ->
    Guard = #{id => pyssl_guard, start => {pyssl_guard, start_link, []},
              restart => temporary, shutdown => 5000, type => worker,
              modules => [pyssl_guard]},
    {ok, {#{strategy => simple_one_for_one, intensity => 10, period => 10}, [Guard]}}.
