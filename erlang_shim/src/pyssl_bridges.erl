%% @doc Which bridge serves a new socket: the one place that decides it.
%%
%% Configuration (application environment of `pyssl'):
%% <ul>
%% <li>`bridge_nodes': a list of bridge nodes; new sockets are spread
%%     round-robin over those that can be reached (default: unset);</li>
%% <li>`bridge_node': a single bridge node (used when `bridge_nodes' is unset
%%     or empty; default: unset).</li>
%% </ul>
%% Both are read at every pick, so a change applies to the next new socket.
%% A configured bridge stands for its group: a bridge started with
%% `pyssl-bridge --processes N' answers with itself and its N-1 workers, and
%% new sockets are spread over all of them (asked once, then again after
%% ?GROUP_TTL ms at a pick; a bridge that cannot be asked stands for itself).
%% With neither set the bridge is the embedded one, a port program this node
%% runs (`pyssl_port'); when it cannot be started, `pick/0' answers
%% `{error, {bridge_unavailable, {port, Reason}}}' (`{bridge_unavailable, []}'
%% when the application is not running).
%% (They have no defaults in pyssl.app.src, which says why.)
%% A bridge is reachable when this node is connected to it or can connect to
%% it now (`net_kernel:connect_node/1'). Socket calls do not come here: they go
%% to the node of the socket's reference.
%%
%% Messages and monitors to a bridge's processes go through `send/2' and
%% `monitor/1' here: those of the port bridge go through its port.
-module(pyssl_bridges).
-export([pick/0, configured/0, init/0, new_groups_table/0]).
-export([send/2, monitor/1, demonitor/2, connected/1, known/0, members/0]).

-define(COUNTER, {?MODULE, counter}).
%% the groups of the configured bridges: {Node, Members, AskedAt} (owned by pyssl_sup)
-define(GROUPS, pyssl_bridge_groups).
-define(GROUP_TTL, 10000).

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
        [] ->
            port_pick();
        Configured ->
            Seen = members_seen(Configured),
            {Tail, Head} = lists:split(next() rem length(Seen), Seen),
            first_reachable(Head ++ Tail, Configured)
    end.

%% @doc The bridge nodes new sockets may go to: the configured ones, each with
%% its group.
-spec members() -> [node()].
members() -> [N || {N, _} <- members_seen(configured())].

%% `{Member, Seen}' for every member of each configured bridge's group, where
%% Seen is what asking for the group learnt of the member's reachability:
%% `true' (it answered), `false' (no connection could be made: pick does not
%% try again, a second connect_node to a node that is down costs a second
%% timeout) or `unknown' (the group came from the cache).
members_seen(Configured) -> lists:append([group(N) || N <- Configured]).

%% The members of `Node''s group, `Node' first. Asked of the bridge when not
%% known or older than ?GROUP_TTL; kept only when the bridge answered, so that
%% a bridge that comes up later is asked again at the next pick.
group(Node) ->
    Now = erlang:monotonic_time(millisecond),
    case catch ets:lookup(?GROUPS, Node) of
        [{Node, Members, At}] when Now - At < ?GROUP_TTL ->
            [{M, unknown} || M <- Members];
        Cached ->
            case ask_group(Node) of
                {ok, [Node | Others] = Members} ->
                    _ = catch ets:insert(?GROUPS, {Node, Members, Now}),
                    [{Node, true} | [{M, unknown} || M <- Others]];
                Failed ->
                    Reach = case Failed of unreachable -> false; error -> unknown end,
                    case Cached of
                        [{Node, [Node | Others], _}] -> [{Node, Reach} | [{M, unknown} || M <- Others]];
                        _ -> [{Node, Reach}]
                    end
            end
    end.

%% `{ok, Members}', `unreachable' (no connection), or `error' (connected, but
%% no usable answer).
ask_group(Node) when Node =:= node() -> unreachable;
ask_group(Node) ->
    case reachable(Node) of
        true ->
            try gen_server:call({pyssl, Node}, {'$pyssl_group', []}, 5000) of
                [Node | _] = Members ->
                    case lists:all(fun erlang:is_atom/1, Members) of
                        true -> {ok, Members};
                        false -> error
                    end;
                _Other ->
                    %% a bridge that does not know the request: it is its own group
                    {ok, [Node]}
            catch
                exit:_ -> error
            end;
        false ->
            unreachable
    end.

%% @private The table of the groups; made by pyssl_sup, which owns it.
-spec new_groups_table() -> ok.
new_groups_table() ->
    _ = ets:new(?GROUPS, [named_table, public, set, {read_concurrency, true}]),
    ok.

next() ->
    case persistent_term:get(?COUNTER, undefined) of
        undefined ->
            erlang:unique_integer([positive, monotonic]);
        Ref ->
            atomics:add_get(Ref, 1, 1)
    end.

first_reachable([], Configured) -> {error, {bridge_unavailable, Configured}};
first_reachable([{N, true} | _], _Configured) -> {ok, N};
first_reachable([{_, false} | Rest], Configured) -> first_reachable(Rest, Configured);
first_reachable([{N, unknown} | Rest], Configured) ->
    case reachable(N) of
        true -> {ok, N};
        false -> first_reachable(Rest, Configured)
    end.

reachable(Node) when Node =:= node() -> false;
reachable(Node) ->
    lists:member(Node, nodes(connected)) orelse net_kernel:connect_node(Node) =:= true.

%% @doc The bridges this node uses: the configured ones with their groups, then the embedded
%% bridge when it is running.
-spec known() -> [node()].
known() ->
    members() ++ case pyssl_port:node_of() of
                        undefined -> [];
                        Node -> [Node]
                    end.

%%% The embedded bridge -----------------------------------------------------------

%% The running port bridge; when there is none (its start failed, or the
%% application started with a bridge node configured), one more start.
port_pick() ->
    case pyssl_port:node_of() of
        undefined ->
            case whereis(pyssl_sup) of
                undefined -> {error, {bridge_unavailable, []}};
                _ -> start_port(3)
            end;
        Node ->
            {ok, Node}
    end.

%% The supervisor starts a bridge again: after the one that failed to start
%% (its child is not running) at this pick, and after one that died as soon as
%% the supervisor sees its exit. A pick can come between the end of a bridge
%% (pyssl_port:terminate/2, which tells owners) and that exit: it waits for the
%% exit, then for the restart (the supervisor answers once it is done).
start_port(Tries) ->
    Started = case supervisor:restart_child(pyssl_sup, pyssl_port) of
                  {error, not_found} ->
                      supervisor:start_child(pyssl_sup, pyssl_sup:port_child());
                  Other ->
                      Other
              end,
    case {pyssl_port:node_of(), Started} of
        {undefined, {error, running}} when Tries > 0 ->
            _ = [await_exit(Pid) || {pyssl_port, Pid, _, _} <- supervisor:which_children(pyssl_sup),
                                    is_pid(Pid)],
            start_port(Tries - 1);
        {undefined, _} ->
            {error, {bridge_unavailable, {port, pyssl_port:last_error()}}};
        {Node, _} ->
            {ok, Node}
    end.

%% A child whose bridge is gone, or already the next one (which has published
%% its node before the supervisor has its pid): then there is nothing to wait for.
await_exit(Pid) ->
    Mon = erlang:monitor(process, Pid),
    case pyssl_port:node_of() of
        undefined -> receive {'DOWN', Mon, process, Pid, _} -> ok end;
        _ -> erlang:demonitor(Mon, [flush])
    end.

%% @doc `erlang:send(Dest, Msg, [noconnect])' for a bridge's pid or `{Name, Node}':
%% through the port for the port bridge.
-spec send(pid() | {atom(), node()}, term()) -> ok | noconnect.
send(Dest, Msg) ->
    case pyssl_port:is_bridge(dest_node(Dest)) of
        true -> pyssl_port:send(Dest, Msg);
        false -> erlang:send(Dest, Msg, [noconnect])
    end.

%% @doc `erlang:monitor(process, Target)' for a bridge's pid or `{Name, Node}'.
-spec monitor(pid() | {atom(), node()}) -> reference().
monitor(Target) ->
    case pyssl_port:is_bridge(dest_node(Target)) of
        true -> pyssl_port:monitor(Target);
        false -> erlang:monitor(process, Target)
    end.

%% @doc `erlang:demonitor(Ref, [flush])' for a monitor from `monitor/1' of a
%% process of bridge `Node'.
-spec demonitor(node(), reference()) -> true.
demonitor(Node, Ref) ->
    _ = erlang:demonitor(Ref, [flush]),
    case pyssl_port:is_bridge(Node) of
        true -> pyssl_port:demonitor(Ref);
        false -> true
    end.

%% @doc Whether bridge `Node' is there now: a connected node or the port bridge.
-spec connected(node()) -> boolean().
connected(Node) ->
    pyssl_port:is_bridge(Node) orelse lists:member(Node, nodes(connected)).

dest_node({_Name, Node}) -> Node;
dest_node(Pid) -> node(Pid).
