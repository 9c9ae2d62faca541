%% @doc Which bridge serves a new socket: the one place that decides it.
%%
%% Configuration (application environment of `pyssl'):
%% <ul>
%% <li>`bridge_nodes': a list of bridge nodes; new sockets are spread
%%     round-robin over those that can be reached (default: unset);</li>
%% <li>`bridge_node': a single bridge node (used when `bridge_nodes' is unset
%%     or empty; default: unset).</li>
%% </ul>
%% Both are read at every pick, so a change applies to the next new socket;
%% with neither set, `pick/0' answers `{error, {bridge_unavailable, []}}'.
%% (They have no defaults in pyssl.app.src, which says why.)
%% A bridge is reachable when this node is connected to it or can connect to
%% it now (`net_kernel:connect_node/1'). Socket calls do not come here: they go
%% to the node of the socket's reference.
-module(pyssl_bridges).
-export([pick/0, configured/0, init/0]).

-define(COUNTER, {?MODULE, counter}).

%% @doc The configured bridges, in order (`[]' when none).
-spec configured() -> [node()].
configured() ->
    case application:get_env(pyssl, bridge_nodes) of
        {ok, [_ | _] = Nodes} -> [N || N <- Nodes, is_atom(N)];
        _ ->
            case application:get_env(pyssl, bridge_node) of
                {ok, Node} when is_atom(Node), Node =/= undefined -> [Node];
                _ -> []
            end
    end.

%% @doc Create the round-robin counter (once per VM; done by `pyssl_app:start/2').
-spec init() -> ok.
init() ->
    case persistent_term:get(?COUNTER, undefined) of
        undefined -> persistent_term:put(?COUNTER, atomics:new(1, [{signed, false}]));
        _ -> ok
    end.

%% @doc `{ok, Node}', or `{error, {bridge_unavailable, Configured}}' when no
%% configured bridge can be reached (`Configured' is `[]' when none is set).
%% With several bridges each pick starts one further along the list and takes
%% the first reachable one from there.
-spec pick() -> {ok, node()} | {error, {bridge_unavailable, [node()]}}.
pick() ->
    case configured() of
        [Node] = Nodes ->
            case reachable(Node) of
                true -> {ok, Node};
                false -> {error, {bridge_unavailable, Nodes}}
            end;
        Nodes ->
            Len = length(Nodes),
            Start = case Len of
                        0 -> 0;
                        _ -> next() rem Len
                    end,
            {Tail, Head} = lists:split(Start, Nodes),
            first_reachable(Head ++ Tail, Nodes)
    end.

next() ->
    case persistent_term:get(?COUNTER, undefined) of
        undefined ->
            erlang:unique_integer([positive, monotonic]);
        Ref ->
            atomics:add_get(Ref, 1, 1)
    end.

first_reachable([], Configured) -> {error, {bridge_unavailable, Configured}};
first_reachable([N | Rest], Configured) ->
    case reachable(N) of
        true -> {ok, N};
        false -> first_reachable(Rest, Configured)
    end.

reachable(Node) when Node =:= node() -> false;
reachable(Node) ->
    lists:member(Node, nodes(connected)) orelse net_kernel:connect_node(Node) =:= true.
