%% Test helper: evaluates Erlang expressions sent by pytest on stdin, one per line
%% (base64 of the source text), keeping variable bindings across lines, and
%% answers each with one line "@@R <base64 of term_to_binary(Result)>" where Result
%% is {ok, Value} or {raised, Class, Reason}.
-module(pyssl_test_loop).
-export([main/0]).

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
