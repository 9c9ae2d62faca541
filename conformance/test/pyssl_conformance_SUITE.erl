%% The differential conformance run.
%%
%% - `runner': the runner itself (verdicts, normalisation, crashes, timeouts,
%%   the summary line) on small scenarios of its own.
%% - `self_check': every scenario with `{modules, [ssl, ssl]}'; any difference
%%   (known or not) fails: the scenarios must be deterministic.
%% - `bridge': when the environment variable PYSSL_BRIDGE_NODE names a running
%%   bridge (e.g. pyssl@127.0.0.1), every scenario with `[ssl, pyssl]'; any
%%   unexpected difference fails (those of known_differences/0 are allowed).
%%   PYSSL_BRIDGE_COOKIE sets the cookie (default: ~/.erlang.cookie).
-module(pyssl_conformance_SUITE).
-include_lib("common_test/include/ct.hrl").

-export([all/0, groups/0, suite/0, init_per_group/2, end_per_group/2]).
-export([catalogue_shape/1, verdicts_and_summary/1, normalisation/1,
         crash_timeout_and_death/1, selection/1,
         ssl_vs_ssl/1, ssl_vs_pyssl/1]).

suite() -> [{timetrap, {minutes, 10}}].

all() -> [{group, runner}, {group, self_check}, {group, bridge}].

groups() ->
    [{runner, [], [catalogue_shape, verdicts_and_summary, normalisation,
                   crash_timeout_and_death, selection]},
     {self_check, [], [ssl_vs_ssl]},
     {bridge, [], [ssl_vs_pyssl]}].

init_per_group(bridge, Config) ->
    case os:getenv("PYSSL_BRIDGE_NODE") of
        false -> {skip, "PYSSL_BRIDGE_NODE not set"};
        "" -> {skip, "PYSSL_BRIDGE_NODE not set"};
        Node ->
            _ = os:cmd("epmd -daemon"),
            case net_kernel:start(['ct_conformance@127.0.0.1', longnames]) of
                {ok, _} -> ok;
                {error, {already_started, _}} -> ok
            end,
            case os:getenv("PYSSL_BRIDGE_COOKIE") of
                false -> ok;
                Cookie -> erlang:set_cookie(node(), list_to_atom(Cookie))
            end,
            [{bridge_node, list_to_atom(Node)} | Config]
    end;
init_per_group(_, Config) ->
    Config.

end_per_group(bridge, _Config) ->
    _ = pyssl:stop(),
    ok;
end_per_group(_, _Config) ->
    ok.

%%% runner ------------------------------------------------------------------------

catalogue_shape(_Config) ->
    All = pyssl_conformance:scenarios(),
    true = length(All) >= 150,
    Names = [element(1, S) || S <- All],
    true = length(Names) =:= length(lists:usort(Names)),
    %% every scenario has an area and a fun of arity 1
    [true = is_atom(maps:get(area, M)) andalso is_function(F, 1) || {_, F, M} <- All],
    %% every known difference names a scenario and gives a reason
    [{true, N} = {lists:member(N, Names), N} || {N, _} <- pyssl_conformance:known_differences()],
    [true = is_list(R) andalso R =/= [] || {_, R} <- pyssl_conformance:known_differences()],
    ct:pal("~b scenarios by area: ~p",
           [length(All), count_by_area(All)]).

verdicts_and_summary(_Config) ->
    %% a fun that depends on the module is "different" unless declared known
    Differs = fun(Mod) -> {module_is, Mod} end,
    Scenarios = [{same, fun(_) -> {ok, 1} end, #{area => t}},
                 {differs, Differs, #{area => t}},
                 {differs_known, Differs, #{area => t, known_difference => "on purpose"}},
                 {no_meta, fun(_) -> ok end}],
    R = pyssl_conformance:run(Scenarios, [{modules, [ssl, other_mod]}, {print, false}]),
    #{total := 4, identical := 2, known := 1, unexpected := 1, results := Results} = R,
    [identical, different, known_difference, identical] =
        [maps:get(verdict, X) || X <- Results],
    #{a := {module_is, ssl}, b := {module_is, other_mod}} = lists:nth(2, Results),
    #{reason := "on purpose"} = lists:nth(3, Results),
    other = maps:get(area, lists:nth(4, Results)),
    "4 scenarios, 2 identical, 1 known differences, 1 unexpected" =
        pyssl_conformance:summary_line(R),
    %% a scenario named in known_differences/0 counts as known when it differs
    [{KName, _} | _] = pyssl_conformance:known_differences(),
    #{known := 1, unexpected := 0} =
        pyssl_conformance:run([{KName, Differs}], [{modules, [a, b]}, {print, false}]).

normalisation(_Config) ->
    Pid = self(),
    Ref = make_ref(),
    [Port | _] = erlang:ports(),
    In = {ok, [{sslsocket, pyssl, Ref}, {sslsocket, {gen_tcp, Port, tls_connection, x}, [Pid]},
               {{127, 0, 0, 1}, 4711}, {{0, 0, 0, 0, 0, 0, 0, 1}, 443}, {{127, 0, 0, 1}, foo},
               Pid, Ref, Port, #{Pid => Ref},
               {tls_alert, {unknown_ca, "TLS client: In state x generated CLIENT ALERT: y"}},
               {tls_alert, {unknown_ca, "TLS server: received"}},
               {tls_alert, {unknown_ca, "other text"}},
               "TLS client: a plain string stays", 70000, {1, 2, 3, 4}]},
    {ok, [socket, socket, {{127, 0, 0, 1}, port}, {{0, 0, 0, 0, 0, 0, 0, 1}, port},
          {{127, 0, 0, 1}, foo}, pid, ref, port, #{pid := ref},
          {tls_alert, {unknown_ca, "TLS client"}}, {tls_alert, {unknown_ca, "TLS server"}},
          {tls_alert, {unknown_ca, "other text"}},
          "TLS client: a plain string stays", 70000, {1, 2, 3, 4}]} =
        pyssl_conformance:normalise(In),
    %% improper lists survive
    [pid | ref] = pyssl_conformance:normalise([Pid | Ref]).

crash_timeout_and_death(_Config) ->
    {crash, error, boom} = pyssl_conformance:run_one(fun(_) -> error(boom) end, ssl, 1000),
    {crash, throw, {pid, x}} = pyssl_conformance:run_one(fun(_) -> throw({self(), x}) end, ssl, 1000),
    scenario_timeout = pyssl_conformance:run_one(fun(_) -> receive after infinity -> ok end end,
                                                 ssl, 100),
    %% a linked helper that dies takes the scenario with it
    {died, {bye, pid}} =
        pyssl_conformance:run_one(fun(_) ->
                                          Self = self(),
                                          spawn_link(fun() -> exit({bye, Self}) end),
                                          receive after infinity -> ok end
                                  end, ssl, 5000),
    %% the runner's own process is left clean
    [] = [M || {_, _} = M <- flush()].

selection(_Config) ->
    #{total := 3} = pyssl_conformance:run([{modules, [ssl, ssl]}, {print, false},
                                           {only, [format_error_closed, format_error_timeout,
                                                   listen_no_options]}]),
    #{total := N, unexpected := 0} =
        pyssl_conformance:run([{modules, [ssl, ssl]}, {print, false}, {areas, [format_error]}]),
    true = N >= 10.

%%% self_check / bridge --------------------------------------------------------------

ssl_vs_ssl(_Config) ->
    R = pyssl_conformance:run([{modules, [ssl, ssl]}]),
    Line = pyssl_conformance:summary_line(R),
    ct:comment(Line),
    #{total := N, identical := N, known := 0, unexpected := 0} = check(R).

%% ssl vs pyssl against the live bridge: any difference not listed in
%% pyssl_conformance:known_differences/0 fails the case.
ssl_vs_pyssl(Config) ->
    Node = ?config(bridge_node, Config),
    %% the reports beside the case's log (linked from it)
    Html = filename:join(?config(priv_dir, Config), "conformance.html"),
    Junit = filename:join(?config(priv_dir, Config), "conformance.xml"),
    R = pyssl_conformance:run([{modules, [ssl, pyssl]}, {bridge_node, Node},
                               {junit, Junit}, {html, Html}]),
    Line = pyssl_conformance:summary_line(R),
    #{reports := ok} = R,
    ct:log("reports: <a href=\"~ts\">HTML</a>, <a href=\"~ts\">JUnit XML</a>", [Html, Junit]),
    #{unexpected := 0} = check(R),
    {comment, Line}.

%%% helpers -------------------------------------------------------------------------------

check(#{results := Results} = R) ->
    ct:pal("~s", [pyssl_conformance:summary_line(R)]),
    [ct:pal("~p (~p): ~p~n  a: ~p~n  b: ~p", [N, A, V, Ra, Rb])
     || #{name := N, area := A, verdict := V, a := Ra, b := Rb} <- Results, V =/= identical],
    R.

count_by_area(All) ->
    lists:foldl(fun({_, _, #{area := A}}, Acc) -> maps:update_with(A, fun(C) -> C + 1 end, 1, Acc) end,
                #{}, All).

flush() ->
    receive M -> [M | flush()] after 0 -> [] end.
