%% @doc The pyssl application: starts the shim's supervisor.
-module(pyssl_app).
-behaviour(application).
-export([start/2, stop/1]).

start(_Type, _Args) ->
    ok = pyssl_bridges:init(),
    pyssl_sup:start_link().

stop(_State) ->
    ok.
