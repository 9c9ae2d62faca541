%% @doc The relays of this node, one per `gen_tcp' socket upgraded to TLS
%% through a bridge (see `pyssl_relay'). Temporary: a relay ends with its
%% socket, and a relay that failed is not restarted (its socket is gone with it,
%% as an ssl connection process takes its socket with it).
-module(pyssl_relay_sup).
-behaviour(supervisor).
-export([start_link/0, init/1]).

-spec start_link() -> {ok, pid()}.
start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

init([]) ->
    Relay = #{id => pyssl_relay, start => {pyssl_relay, start_link, []},
              restart => temporary, shutdown => 5000, type => worker,
              modules => [pyssl_relay]},
    {ok, {#{strategy => simple_one_for_one, intensity => 10, period => 10}, [Relay]}}.
