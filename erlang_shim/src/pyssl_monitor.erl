%% @doc Remembers which local process owns which pyssl socket, so that when a
%% bridge node goes down each owner gets `{ssl_closed, S}' for its sockets on it,
%% as if the peer had closed them. Entries go on `close/1' and owner exit.
-module(pyssl_monitor).
-behaviour(gen_server).

-export([start_link/0, track/2, forget/1, sockets/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-define(TAB, pyssl_sockets).

start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% @doc Record `Owner' as the owner of `S' (called by pyssl on {ok, S}).
track({sslsocket, pyssl, Ref} = S, Owner) ->
    case whereis(?MODULE) of
        undefined -> ok;
        Pid -> gen_server:cast(Pid, {track, S, node(Ref), Owner})
    end;
track(_, _) -> ok.

forget(S) ->
    case whereis(?MODULE) of
        undefined -> ok;
        Pid -> gen_server:cast(Pid, {forget, S})
    end.

sockets() ->
    try ets:tab2list(?TAB) catch error:badarg -> [] end.

init([]) ->
    process_flag(trap_exit, true),
    ?TAB = ets:new(?TAB, [named_table, protected, set]),
    ok = net_kernel:monitor_nodes(true, [{node_type, all}]),
    {ok, #{monitors => #{}}}.

handle_call(_Req, _From, State) ->
    {reply, {error, badarg}, State}.

handle_cast({track, S, Node, Owner}, State = #{monitors := Mons}) ->
    true = ets:insert(?TAB, {S, Node, Owner}),
    Mons1 = case maps:is_key(Owner, Mons) of
                true -> Mons;
                false -> Mons#{Owner => erlang:monitor(process, Owner)}
            end,
    {noreply, State#{monitors := Mons1}};
handle_cast({forget, S}, State) ->
    ets:delete(?TAB, S),
    {noreply, State}.

handle_info({nodedown, Node, _Info}, State) ->
    Lost = ets:match_object(?TAB, {'_', Node, '_'}),
    lists:foreach(fun({S, _, Owner}) ->
                          Owner ! {ssl_closed, S},
                          ets:delete(?TAB, S)
                  end, Lost),
    {noreply, State};
handle_info({nodeup, _Node, _Info}, State) ->
    {noreply, State};
handle_info({'DOWN', _Ref, process, Owner, _}, State = #{monitors := Mons}) ->
    ets:match_delete(?TAB, {'_', '_', Owner}),
    {noreply, State#{monitors := maps:remove(Owner, Mons)}};
handle_info(_Msg, State) ->
    {noreply, State}.
