%% @doc The conformance run as files people and CI systems read: JUnit XML and a
%% self-contained HTML page, from the map {@link pyssl_conformance:run/2} returns.
%%
%% JUnit XML (`junit/1'): one `testsuite' per area, one `testcase' per scenario
%% (classname `pyssl_conformance.Area', time the two runs' milliseconds). An
%% unexpected difference is a `failure' holding both results; a known difference
%% is `skipped' with its reason as the message (and a `known_difference'
%% property), so a CI system shows it without failing the build; identical
%% results pass.
%%
%% HTML (`html/1'): the summary line, then one table row per scenario with both
%% results side by side; rows that differ are coloured (unexpected red, known
%% amber, with the reason under the results), and in each result the part that
%% differs from the other side is marked. A checkbox hides the identical rows.
%% Styles are inline and there are no scripts or external assets: the page can
%% be mailed or archived as one file.
%%
%% Terms are printed with `~tp' (at most ?CHARS_LIMIT characters each) and every
%% text is escaped for XML, so names and results with `<', `&', quotes or control
%% characters cannot break either file.
-module(pyssl_conformance_report).

-export([junit/1, html/1, write/2]).

-define(CHARS_LIMIT, 4000).

%% @doc Write the reports `Outputs' asks for: `[{junit, Path} | {html, Path}]'
%% (directories are made as needed). `ok', or the first `{error, {Path, Reason}}'.
-spec write(map(), [{junit | html, file:filename()}]) -> ok | {error, {file:filename(), term()}}.
write(_Report, []) -> ok;
write(Report, [{Kind, Path} | Rest]) when Kind =:= junit; Kind =:= html ->
    Data = case Kind of
               junit -> junit(Report);
               html -> html(Report)
           end,
    case filelib:ensure_dir(Path) of
        ok ->
            case file:write_file(Path, Data) of
                ok -> write(Report, Rest);
                {error, Why} -> {error, {Path, Why}}
            end;
        {error, Why} ->
            {error, {Path, Why}}
    end.

%%% JUnit XML ---------------------------------------------------------------------

%% @doc The report as JUnit XML (UTF-8).
-spec junit(map()) -> binary().
junit(#{results := Results} = Report) ->
    [ModA, ModB] = modules(Report),
    Areas = areas(Results),
    Suites = [suite(Area, [R || R <- Results, area(R) =:= Area], ModA, ModB) || Area <- Areas],
    Title = io_lib:format("pyssl conformance: ~s vs ~s", [ModA, ModB]),
    utf8(["<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
          "<testsuites", attrs([{name, Title} | counts(Results)]), ">\n",
          Suites,
          "</testsuites>\n"]).

suite(Area, Results, ModA, ModB) ->
    Name = ["pyssl_conformance.", text(Area)],
    ["  <testsuite", attrs([{name, Name} | counts(Results)]), ">\n",
     [testcase(Name, R, ModA, ModB) || R <- Results],
     "  </testsuite>\n"].

counts(Results) ->
    [{tests, length(Results)},
     {failures, length([R || #{verdict := different} = R <- Results])},
     {errors, 0},
     {skipped, length([R || #{verdict := known_difference} = R <- Results])},
     {time, seconds(lists:sum([ms(R) || R <- Results]))}].

testcase(Class, #{verdict := Verdict} = R, ModA, ModB) ->
    Head = ["    <testcase", attrs([{classname, Class}, {name, text(name(R))},
                                    {time, seconds(ms(R))}])],
    Both = [text(ModA), ": ", term(maps:get(a, R)), "\n",
            text(ModB), ": ", term(maps:get(b, R)), "\n"],
    case Verdict of
        identical ->
            [Head, "/>\n"];
        known_difference ->
            Reason = maps:get(reason, R, ""),
            [Head, ">\n",
             "      <properties><property", attrs([{name, known_difference}, {value, Reason}]),
             "/></properties>\n",
             "      <skipped", attrs([{message, ["known difference: ", Reason]}]), "/>\n",
             "      <system-out>", escape(Both), "</system-out>\n",
             "    </testcase>\n"];
        different ->
            [Head, ">\n",
             "      <failure", attrs([{message, io_lib:format("~s and ~s results differ", [ModA, ModB])},
                                  {type, unexpected_difference}]), ">",
             escape(Both), "</failure>\n",
             "    </testcase>\n"]
    end.

%%% HTML ----------------------------------------------------------------------------

-define(STYLE, "
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; margin: 0 0 .3em; }
.summary { font-size: 1.1em; margin: .3em 0 1em; }
.summary .unexpected { color: #b00020; font-weight: bold; }
table { border-collapse: collapse; width: 100%; table-layout: fixed; }
th, td { border: 1px solid #ccc; padding: 3px 6px; vertical-align: top; text-align: left;
         overflow-wrap: anywhere; word-break: break-word; }
th { background: #eee; position: sticky; top: 0; }
col.n { width: 3em; } col.name { width: 18%; } col.area { width: 7em; }
col.verdict { width: 9em; } col.ms { width: 6em; }
pre { margin: 0; white-space: pre-wrap; word-break: break-all; font-size: 12px; }
tr.known_difference td { background: #fff4d6; }
tr.different td { background: #fde2e4; }
tr.reason td { background: #fffaf0; font-style: italic; }
mark { background: #ffb3b3; padding: 0; }
tr.known_difference mark { background: #ffd966; }
.verdict-different { color: #b00020; font-weight: bold; }
.verdict-known_difference { color: #8a5a00; font-weight: bold; }
#only-differences:checked ~ table tr.identical { display: none; }
table.areas { width: auto; margin-bottom: 1em; }
").

%% @doc The report as one self-contained HTML page (UTF-8, also well-formed XML).
-spec html(map()) -> binary().
html(#{results := Results} = Report) ->
    [ModA, ModB] = modules(Report),
    Title = io_lib:format("pyssl conformance: ~s vs ~s", [ModA, ModB]),
    Summary = pyssl_conformance:summary_line(Report),
    Rows = [row(N, R) || {N, R} <- lists:zip(lists:seq(1, length(Results)), Results)],
    utf8(["<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n",
          "<title>", escape(Title), "</title>\n<style>", ?STYLE, "</style>\n</head>\n<body>\n",
          "<h1>", escape(Title), "</h1>\n",
          "<p class=\"summary\">", summary_html(Summary, Report), "</p>\n",
          by_area(Results),
          "<p>Each scenario runs once with each module; results are compared after "
          "normalisation (sockets, pids, references, ports and port numbers, alert texts). "
          "The part of a result that differs from the other side is marked.</p>\n",
          "<input type=\"checkbox\" id=\"only-differences\"/>",
          "<label for=\"only-differences\"> show differences only</label>\n",
          "<table>\n<colgroup><col class=\"n\"/><col class=\"name\"/><col class=\"area\"/>"
          "<col class=\"verdict\"/><col/><col/><col class=\"ms\"/></colgroup>\n",
          "<thead><tr><th>#</th><th>scenario</th><th>area</th><th>verdict</th><th>",
          escape(text(ModA)), "</th><th>", escape(text(ModB)), "</th><th>ms</th></tr></thead>\n",
          "<tbody>\n", Rows, "</tbody>\n</table>\n</body>\n</html>\n"]).

%% One line per area: how many scenarios, how many differ (a link to the first).
by_area(Results) ->
    Numbered = lists:zip(lists:seq(1, length(Results)), Results),
    Line = fun(Area) ->
                   In = [{N, R} || {N, R} <- Numbered, area(R) =:= Area],
                   Diff = [N || {N, #{verdict := V}} <- In, V =/= identical],
                   Known = length([N || {N, #{verdict := known_difference}} <- In]),
                   ["<tr><td>", escape(text(Area)), "</td><td>", integer_to_list(length(In)),
                    "</td><td>", integer_to_list(Known), "</td><td>",
                    integer_to_list(length(Diff) - Known), "</td><td>",
                    case Diff of
                        [] -> "";
                        [First | _] -> ["<a href=\"#s", integer_to_list(First), "\">#",
                                        integer_to_list(First), "</a>"]
                    end, "</td></tr>\n"]
           end,
    ["<table class=\"areas\">\n<thead><tr><th>area</th><th>scenarios</th><th>known</th>"
     "<th>unexpected</th><th>first difference</th></tr></thead>\n<tbody>\n",
     [Line(A) || A <- areas(Results)], "</tbody>\n</table>\n"].

summary_html(Summary, #{unexpected := F}) when F > 0 ->
    ["<span class=\"unexpected\">", escape(Summary), "</span>"];
summary_html(Summary, _) ->
    escape(Summary).

row(N, #{verdict := Verdict} = R) ->
    A = term(maps:get(a, R)),
    B = term(maps:get(b, R)),
    {CellA, CellB} = case Verdict of
                         identical -> {escape(A), escape(B)};
                         _ -> marked(A, B)
                     end,
    {MsA, MsB} = maps:get(ms, R, {0, 0}),
    V = atom_to_list(Verdict),
    Main = ["<tr class=\"", V, "\" id=\"s", integer_to_list(N), "\"><td>", integer_to_list(N),
            "</td><td>", escape(text(name(R))), "</td><td>", escape(text(area(R))),
            "</td><td class=\"verdict-", V, "\">", verdict_text(Verdict),
            "</td><td><pre>", CellA, "</pre></td><td><pre>", CellB, "</pre></td><td>",
            integer_to_list(MsA), " / ", integer_to_list(MsB), "</td></tr>\n"],
    case R of
        #{reason := Why} ->
            [Main, "<tr class=\"reason ", V, "\"><td></td><td colspan=\"6\">known difference: ",
             escape(Why), "</td></tr>\n"];
        _ ->
            Main
    end.

verdict_text(identical) -> "identical";
verdict_text(known_difference) -> "known difference";
verdict_text(different) -> "UNEXPECTED".

%% Both texts escaped, the part between their common prefix and suffix marked.
marked(A, B) ->
    P = common_prefix(A, B, 0),
    {A1, B1} = {lists:nthtail(P, A), lists:nthtail(P, B)},
    S = common_prefix(lists:reverse(A1), lists:reverse(B1), 0),
    {mark(lists:sublist(A, P), A1, S), mark(lists:sublist(B, P), B1, S)}.

mark(Prefix, Rest, SuffixLen) ->
    {Middle, Suffix} = lists:split(length(Rest) - SuffixLen, Rest),
    [escape(Prefix), "<mark>", escape(Middle), "</mark>", escape(Suffix)].

common_prefix([C | A], [C | B], N) -> common_prefix(A, B, N + 1);
common_prefix(_, _, N) -> N.

%%% Shared ---------------------------------------------------------------------------

modules(Report) -> maps:get(modules, Report, [ssl, pyssl]).

areas(Results) ->
    lists:reverse(lists:foldl(fun(R, Acc) ->
                                      A = area(R),
                                      case lists:member(A, Acc) of
                                          true -> Acc;
                                          false -> [A | Acc]
                                      end
                              end, [], Results)).

name(R) -> maps:get(name, R, unnamed).
area(R) -> maps:get(area, R, other).

ms(R) ->
    case maps:get(ms, R, {0, 0}) of
        {A, B} when is_integer(A), is_integer(B) -> A + B;
        _ -> 0
    end.

seconds(Ms) -> io_lib:format("~.3f", [Ms / 1000]).

%% A result as people read it: ~tp, bounded.
term(T) -> lists:flatten(io_lib:format("~tp", [T], [{chars_limit, ?CHARS_LIMIT}])).

text(A) when is_atom(A) -> atom_to_list(A);
text(T) ->
    case io_lib:char_list(T) of
        true -> T;
        false -> term(T)
    end.

attrs(Pairs) ->
    [[" ", atom_to_list(K), "=\"", escape(value(V)), "\""] || {K, V} <- Pairs].

value(V) when is_integer(V) -> integer_to_list(V);
value(V) when is_atom(V) -> atom_to_list(V);
value(V) -> V.

%% XML text and attribute escaping; characters XML 1.0 does not allow (controls
%% other than tab, newline and return) are written as \x{..} text.
escape(Text) ->
    [esc(C) || C <- unicode:characters_to_list(Text)].

esc($&) -> "&amp;";
esc($<) -> "&lt;";
esc($>) -> "&gt;";
esc($") -> "&quot;";
esc($') -> "&#39;";
esc(C) when C =:= $\t; C =:= $\n; C =:= $\r -> C;
esc(C) when C < 32; C =:= 16#FFFE; C =:= 16#FFFF; C >= 16#D800, C =< 16#DFFF ->
    io_lib:format("\\x{~.16B}", [C]);
esc(C) -> C.

utf8(IoData) -> unicode:characters_to_binary(IoData).
