-module(pyssl_app_SUITE).
-include_lib("common_test/include/ct.hrl").
-export([all/0, app_starts_and_stops/1]).

all() -> [app_starts_and_stops].

app_starts_and_stops(_Config) ->
    ok = application:start(pyssl),
    true = is_pid(whereis(pyssl_sup)),
    ok = application:stop(pyssl),
    undefined = whereis(pyssl_sup).
