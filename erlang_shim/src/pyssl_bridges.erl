%% @doc Which bridge serves new sockets. One place to decide it: the `bridge_nodes'
%% list (spread round-robin over the connected ones) or the single `bridge_node'.
-module(pyssl_bridges).
-export([pick/0, configured/0]).

configured() ->
    case application:get_env(pyssl, bridge_nodes) of
        {ok, [_ | _] = Nodes} -> Nodes;
        _ ->
            case application:get_env(pyssl, bridge_node) of
                {ok, Node} when is_atom(Node), Node =/= undefined -> [Node];
                _ -> []
            end
    end.

%% @doc `{ok, Node}' or `{error, closed}' when no configured bridge is reachable.
pick() ->
    case configured() of
        [] -> {error, {options, {bridge_node, undefined}}};
        [Node] -> reachable(Node);
        Nodes ->
            N = erlang:unique_integer([positive]),
            Rotated = rotate(N rem length(Nodes), Nodes),
            first_reachable(Rotated)
    end.

rotate(0, L) -> L;
rotate(K, L) -> {A, B} = lists:split(K, L), B ++ A.

first_reachable([]) -> {error, closed};
first_reachable([N | Rest]) ->
    case reachable(N) of
        {ok, _} = Ok -> Ok;
        _ -> first_reachable(Rest)
    end.

reachable(Node) ->
    case lists:member(Node, nodes([connected])) orelse net_kernel:connect_node(Node) of
        true -> {ok, Node};
        _ -> {error, closed}
    end.
