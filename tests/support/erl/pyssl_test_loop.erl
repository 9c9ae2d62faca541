%% Test helper: evaluates Erlang expressions sent by pytest on stdin, one per line
%% (base64 of the source text), keeping variable bindings across lines, and
%% answers each with one line "@@R <base64 of term_to_binary(Result)>" where Result
%% is {ok, Value} or {raised, Class, Reason}.
-module(pyssl_test_loop).
-export([main/0, norm/1, server/2, echo/1, close_after/2]).
%% a logger handler (logger:add_handler(Id, pyssl_test_loop, #{config => Pid})):
%% every report logged goes to Pid as {logged, Level, Report}
-export([log/2]).

main() ->
    io:setopts([binary]),
    io:format("@@READY~n"),
    loop(erl_eval:new_bindings()).

loop(Bindings) ->
    case io:get_line('') of
        eof -> halt(0);
        {error, _} -> halt(1);
        Line ->
            Src = binary_to_list(base64:decode(string:trim(Line))),
            {Result, Bindings1} = eval(Src, Bindings),
            Bin = base64:encode(term_to_binary(Result)),
            io:put_chars([<<"@@R ">>, Bin, <<"\n">>]),
            loop(Bindings1)
    end.

eval(Src, Bindings) ->
    try
        {ok, Tokens, _} = erl_scan:string(Src),
        {ok, Exprs} = erl_parse:parse_exprs(Tokens),
        {value, Value, NewBindings} = erl_eval:exprs(Exprs, Bindings),
        {{ok, Value}, NewBindings}
    catch
        Class:Reason ->
            {{raised, Class, Reason}, Bindings}
    end.

%% --- helpers for ssl/pyssl comparisons ---------------------------------------

%% Replace what may legitimately differ between ssl and pyssl: socket handles,
%% pids, refs, and alert texts beyond their "TLS client"/"TLS server" prefix.
norm({sslsocket, _, _}) -> socket;
norm({tls_alert, {Desc, Text}}) when is_list(Text) ->
    {tls_alert, {Desc, hd(string:split(Text, ":"))}};
norm(P) when is_pid(P) -> pid;
norm(R) when is_reference(R) -> ref;
norm(T) when is_tuple(T) -> list_to_tuple([norm(E) || E <- tuple_to_list(T)]);
norm([H | T]) -> [norm(H) | norm(T)];
norm(M) when is_map(M) -> maps:from_list([{norm(K), norm(V)} || {K, V} <- maps:to_list(M)]);
norm(X) -> X.

%% A BEAM ssl server on an ephemeral port; each handshaken connection runs Handler(S).
server(Opts, Handler) ->
    {ok, L} = ssl:listen(0, [{reuseaddr, true}, {active, false} | Opts]),
    {ok, {_, Port}} = ssl:sockname(L),
    Pid = spawn(fun() -> accept_loop(L, Handler) end),
    ok = ssl:controlling_process(L, Pid),
    Port.

accept_loop(L, Handler) ->
    case ssl:transport_accept(L) of
        {ok, T} ->
            P = spawn(fun() ->
                              receive go -> ok end,
                              case ssl:handshake(T, 10000) of
                                  {ok, S} -> Handler(S);
                                  _ -> ok
                              end
                      end),
            ssl:controlling_process(T, P),
            P ! go,
            accept_loop(L, Handler);
        _ -> ok
    end.

echo(S) ->
    ssl:setopts(S, [{active, false}, {mode, binary}]),
    echo_loop(S).

echo_loop(S) ->
    case ssl:recv(S, 0) of
        {ok, D} -> ssl:send(S, D), echo_loop(S);
        _ -> ssl:close(S)
    end.

%% Send Data, then close.
close_after(S, Data) ->
    ssl:send(S, Data),
    timer:sleep(100),
    ssl:close(S).

log(#{level := Level, msg := {report, Report}}, #{config := Pid}) ->
    Pid ! {logged, Level, Report};
log(_, _) ->
    ok.
