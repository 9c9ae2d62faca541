%% @doc Differential conformance runner: the same black-box scenario is run
%% with two modules that offer the `ssl' API (normally `ssl' and `pyssl') and
%% the two results are compared after normalising what may legitimately differ.
%%
%% A scenario is `{Name, Fun}' or `{Name, Fun, Meta}' where `Fun' is
%% `fun(Mod) -> Result' and `Meta' a map with optional keys `area' (an atom)
%% and `known_difference' (a string: why the results are allowed to differ).
%% Inside the fun the side under test calls `Mod:Function(...)' and its peer
%% is always the BEAM's own `ssl'.
%%
%% Each run of a fun happens in a fresh process with a timeout; a crash
%% becomes the result `{crash, Class, Reason}', a timeout
%% `scenario_timeout', the death of the process from a linked exit
%% `{died, Reason}'.
%%
%% Normalisation (see {@link normalise/1}): any `{sslsocket, _, _}' becomes
%% `socket', pids `pid', references `ref', ports `port', an `{IP, Port}' pair
%% becomes `{IP, port}', and the description text of a `{tls_alert, {A, Text}}'
%% is cut to its "TLS client"/"TLS server" prefix.
%%
%% Options of {@link run/2} (a proplist):
%% <ul>
%% <li>`{modules, [A, B]}' (default `[ssl, pyssl]'); `[ssl, ssl]' is the
%%     self-check and must come out identical.</li>
%% <li>`{timeout, Ms}' per run of a fun (default 20000).</li>
%% <li>`{print, Bool}' print the table and the summary (default true).</li>
%% <li>`{only, [Name]}' / `{areas, [Area]}' select scenarios.</li>
%% <li>`{bridge_node, Node}' configure and start the `pyssl' shim for that
%%     bridge first.</li>
%% <li>`{junit, Path}' / `{html, Path}' also write the run as JUnit XML / as a
%%     self-contained HTML page (see {@link pyssl_conformance_report}); the
%%     returned map then has `reports => ok | {error, {Path, Reason}}'.</li>
%% </ul>
-module(pyssl_conformance).

-export([run/0, run/1, run/2, run_one/3, scenarios/0, known_differences/0,
         normalise/1, setup_bridge/1, summary_line/1, main/1]).
%% logger filter
-export([drop_ssl/2]).

-type scenario() :: {term(), fun((module()) -> term())}
                  | {term(), fun((module()) -> term()), map()}.
-type verdict() :: identical | known_difference | different.
-type result() :: #{name := term(), area := atom(), verdict := verdict(),
                    a := term(), b := term(), reason => string()}.
-export_type([scenario/0, result/0]).

-define(DEFAULT_TIMEOUT, 20000).
-define(IS_BYTE(X), (is_integer(X) andalso X >= 0 andalso X =< 255)).

%% @doc Every scenario of the pyssl_scenarios_* modules.
-spec scenarios() -> [scenario()].
scenarios() ->
    pyssl_scenarios:all().

%% @doc The deliberate differences of pyssl from ssl: `{ScenarioName, Reason}'.
%% A scenario named here whose results differ counts as a known difference,
%% not as a failure. Mirrored in docs/conformance.md.
-define(OPENSSL_13_ALERT,
        "the pyssl client's own result is identical; its BEAM peer differs: an OpenSSL "
        "TLS 1.3 client that rejects the server certificate sends its alert in a "
        "plaintext record (openssl s_client does the same), which the OTP 25 server "
        "reports as bad_record_mac ({record_type_mismatch, 21}) instead of the alert").

-define(TLS13_SESSION_ID,
        "TLS 1.3 has no session id of its own: ssl reports the ClientHello's "
        "legacy_session_id (the client's random, echoed by the server), the same on both "
        "ends; OpenSSL does not expose it, and the bridge reports OpenSSL's SSL_SESSION id, "
        "its own on each end (32 bytes, as ssl's). Resumption itself is identical "
        "(the *_tickets_*_13 scenarios)").

-define(CANCEL,
        "handshake_cancel/1 answers ok on both; ssl then sends a fatal user_canceled "
        "alert, which its peer reports; the bridge writes no TLS record of its own and "
        "OpenSSL sends no alert of the caller's choice, so pyssl's peer sees the "
        "connection close ({error, closed})").

-spec known_differences() -> [{term(), string()}].
known_differences() ->
    [{verify_fun_rejects_valid, ?OPENSSL_13_ALERT},
     {server_pause_cancel, ?CANCEL},
     {client_pause_cancel, ?CANCEL},
     {client_unknown_ca, ?OPENSSL_13_ALERT},
     {client_expired, ?OPENSSL_13_ALERT},
     {client_critical_extension, ?OPENSSL_13_ALERT},
     {client_hostname_mismatch, ?OPENSSL_13_ALERT},
     {client_depth_zero, ?OPENSSL_13_ALERT},
     {session_id_agrees_13_client, ?TLS13_SESSION_ID},
     {session_id_agrees_13_server, ?TLS13_SESSION_ID},
     {cipher_suites_default_13,
      "the bridge lists the suites it can negotiate: OpenSSL 3 has no static ECDH "
      "suites (ecdh_ecdsa, ecdh_rsa key exchange), which OTP 25 still lists; "
      "the rest of the list is the same (cipher_suites_default_13_but_static_ecdh)"}].

-spec run() -> map().
run() -> run(scenarios(), []).

-spec run(list()) -> map().
run(Opts) -> run(scenarios(), Opts).

%% @doc Run `Scenarios' with both modules and compare. Returns
%% `#{total, identical, known, unexpected, results => [result()]}'.
-spec run([scenario()], list()) -> map().
run(Scenarios0, Opts) ->
    {ok, _} = application:ensure_all_started(ssl),
    case proplists:get_value(bridge_node, Opts) of
        undefined -> ok;
        Node -> ok = setup_bridge(Node)
    end,
    [ModA, ModB] = proplists:get_value(modules, Opts, [ssl, pyssl]),
    Timeout = proplists:get_value(timeout, Opts, ?DEFAULT_TIMEOUT),
    Print = proplists:get_value(print, Opts, true),
    Scenarios = select(Scenarios0, Opts),
    _ = pyssl_certs:ensure(),
    Known = known_differences(),
    quiet_ssl_logs(),
    Results = try
                  [compare(S, ModA, ModB, Timeout, Known, Print) || S <- Scenarios]
              after
                  _ = logger:remove_primary_filter(?MODULE)
              end,
    Count = fun(V) -> length([R || #{verdict := V1} = R <- Results, V1 =:= V]) end,
    Report = #{total => length(Results), identical => Count(identical),
               known => Count(known_difference), unexpected => Count(different),
               modules => [ModA, ModB], results => Results},
    case Print of
        true -> io:format("~s~n", [summary_line(Report)]);
        false -> ok
    end,
    write_reports(Report, [O || {K, _} = O <- Opts, K =:= junit orelse K =:= html], Print).

write_reports(Report, [], _Print) ->
    Report;
write_reports(Report, Outputs, Print) ->
    Written = pyssl_conformance_report:write(Report, Outputs),
    _ = case Print of
            false -> ok;
            true ->
                case Written of
                    ok -> [io:format("~s report: ~ts~n", [K, P]) || {K, P} <- Outputs];
                    {error, {Path, Why}} ->
                        io:format("cannot write the report ~ts: ~ts~n", [Path, file:format_error(Why)])
                end
        end,
    Report#{reports => Written}.

%% @doc `N scenarios, M identical, K known differences, F unexpected'.
-spec summary_line(map()) -> string().
summary_line(#{total := N, identical := M, known := K, unexpected := F}) ->
    lists:flatten(io_lib:format("~b scenarios, ~b identical, ~b known differences, ~b unexpected",
                                [N, M, K, F])).

%% @doc Configure the `pyssl' shim for one bridge node and start it.
-spec setup_bridge(node()) -> ok.
setup_bridge(Node) ->
    ok = application:set_env(pyssl, bridge_node, Node),
    pong = net_adm:ping(Node),
    ok = pyssl:start().

%% @doc Run one scenario fun with one module: the normalised result.
-spec run_one(fun((module()) -> term()), module(), timeout()) -> term().
run_one(Fun, Mod, Timeout) ->
    Parent = self(),
    Tag = make_ref(),
    {Pid, MRef} = spawn_monitor(
                    fun() ->
                            R = try Fun(Mod) of
                                    V -> V
                                catch
                                    Class:Reason -> {crash, Class, Reason}
                                end,
                            Parent ! {Tag, R}
                    end),
    Result = receive
                 {Tag, R} ->
                     receive {'DOWN', MRef, process, Pid, _} -> ok end,
                     R;
                 {'DOWN', MRef, process, Pid, Why} ->
                     receive {Tag, R} -> R after 0 -> {died, Why} end
             after Timeout ->
                     exit(Pid, kill),
                     receive {'DOWN', MRef, process, Pid, _} -> ok end,
                     scenario_timeout
             end,
    normalise(Result).

%% @doc The normalisation applied to each result before comparing.
-spec normalise(term()) -> term().
normalise({sslsocket, _, _}) -> socket;
normalise({tls_alert, {Alert, Text}}) when is_atom(Alert), is_list(Text) ->
    {tls_alert, {Alert, alert_prefix(Text)}};
normalise({{A, B, C, D} = IP, Port})
  when ?IS_BYTE(A), ?IS_BYTE(B), ?IS_BYTE(C), ?IS_BYTE(D), is_integer(Port),
       Port >= 0, Port =< 65535 ->
    {IP, port};
normalise({{_, _, _, _, _, _, _, _} = IP, Port}) when is_integer(Port), Port >= 0, Port =< 65535 ->
    {IP, port};
normalise(T) when is_pid(T) -> pid;
normalise(T) when is_reference(T) -> ref;
normalise(T) when is_port(T) -> port;
normalise(T) when is_tuple(T) -> list_to_tuple(normalise_list(tuple_to_list(T)));
normalise(T) when is_list(T) -> normalise_list(T);
normalise(T) when is_map(T) -> maps:from_list(normalise_list(maps:to_list(T)));
normalise(T) -> T.

%% @doc Command-line entry (used by `make conformance'):
%% `erl -noshell -pa EBIN -run pyssl_conformance main [self_check]
%% [bridge Node] [area Area] [junit Path] [html Path]' (words without dashes:
%% erl takes those as flags). Halts with 2 when a report cannot be written, else with 0 when nothing unexpected differs;
%% for the self-check (the same module twice), when nothing differs at all,
%% known differences included, as the CT suite's self_check requires.
-spec main([string() | atom()]) -> no_return().
main(Args) ->
    Strs = [if is_atom(A) -> atom_to_list(A); true -> A end || A <- Args],
    Opts = main_opts(Strs, []),
    Report = run(Opts),
    halt(case Report of
             #{reports := {error, _}} -> 2;
             #{modules := [M, M], total := N, identical := N} -> 0;
             #{modules := [M, M]} -> 1;
             #{unexpected := 0} -> 0;
             _ -> 1
         end).

%%% Internals -------------------------------------------------------------------

main_opts(["self_check" | T], Acc) -> main_opts(T, [{modules, [ssl, ssl]} | Acc]);
main_opts(["bridge", N | T], Acc) ->
    main_opts(T, [{bridge_node, list_to_atom(N)}, {modules, [ssl, pyssl]} | Acc]);
main_opts(["area", A | T], Acc) -> main_opts(T, [{areas, [list_to_atom(A)]} | Acc]);
main_opts(["junit", Path | T], Acc) -> main_opts(T, [{junit, Path} | Acc]);
main_opts(["html", Path | T], Acc) -> main_opts(T, [{html, Path} | Acc]);
main_opts([], Acc) -> Acc.

normalise_list([H | T]) -> [normalise(H) | normalise_list(T)];
normalise_list([]) -> [];
normalise_list(Tail) -> normalise(Tail).

alert_prefix("TLS client" ++ _) -> "TLS client";
alert_prefix("TLS server" ++ _) -> "TLS server";
alert_prefix(Text) -> Text.

select(Scenarios, Opts) ->
    Only = proplists:get_value(only, Opts),
    Areas = proplists:get_value(areas, Opts),
    [S || S <- Scenarios,
          Only =:= undefined orelse lists:member(name(S), Only),
          Areas =:= undefined orelse lists:member(area(S), Areas)].

name({Name, _}) -> Name;
name({Name, _, _}) -> Name.

area({_, _}) -> other;
area({_, _, Meta}) -> maps:get(area, Meta, other).

fun_of({_, F}) -> F;
fun_of({_, F, _}) -> F.

known_reason({_, _}, Name, Known) -> proplists:get_value(Name, Known);
known_reason({_, _, Meta}, Name, Known) ->
    case maps:get(known_difference, Meta, undefined) of
        undefined -> proplists:get_value(Name, Known);
        Reason -> Reason
    end.

compare(S, ModA, ModB, Timeout, Known, Print) ->
    Name = name(S),
    Fun = fun_of(S),
    T0 = erlang:monotonic_time(millisecond),
    A = run_one(Fun, ModA, Timeout),
    T1 = erlang:monotonic_time(millisecond),
    B = run_one(Fun, ModB, Timeout),
    T2 = erlang:monotonic_time(millisecond),
    Base = #{name => Name, area => area(S), a => A, b => B, ms => {T1 - T0, T2 - T1}},
    R = case A =:= B of
            true ->
                Base#{verdict => identical};
            false ->
                case known_reason(S, Name, Known) of
                    undefined -> Base#{verdict => different};
                    Reason -> Base#{verdict => known_difference, reason => Reason}
                end
        end,
    case Print of
        true -> print(R, ModA, ModB);
        false -> ok
    end,
    R.

print(#{name := Name, area := Area, verdict := V, ms := {MsA, MsB}} = R, ModA, ModB) ->
    io:format("~-48s ~-12s ~-16s ~6b ~6b ms~n", [to_text(Name), to_text(Area), V, MsA, MsB]),
    case V of
        identical -> ok;
        _ ->
            io:format("    ~-6s ~P~n    ~-6s ~P~n",
                      [to_text(ModA), maps:get(a, R), 40, to_text(ModB), maps:get(b, R), 40]),
            case R of
                #{reason := Why} -> io:format("    known: ~s~n", [Why]);
                _ -> ok
            end
    end.

to_text(A) when is_atom(A) -> atom_to_list(A);
to_text(L) when is_list(L) -> L;
to_text(T) -> lists:flatten(io_lib:format("~p", [T])).

%% ssl logs every alert it sends or receives as a notice; a run provokes
%% hundreds of them on purpose.
quiet_ssl_logs() ->
    _ = logger:remove_primary_filter(?MODULE),
    ok = logger:add_primary_filter(?MODULE, {fun ?MODULE:drop_ssl/2, []}).

drop_ssl(#{meta := #{domain := [otp, ssl | _]}}, _) -> stop;
drop_ssl(#{msg := {report, #{protocol := _, alert := _}}}, _) -> stop;
drop_ssl(Event, _) -> Event.
