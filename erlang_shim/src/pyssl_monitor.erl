%% @doc Owners of pyssl sockets, for the day their bridge goes away.
%%
%% `pyssl' records `{Socket, Owner}' when a call returns `{ok, Socket}'
%% (connect, listen, transport_accept, handshake) and when
%% `controlling_process/2' succeeds, and forgets the socket on `close'. When a
%% bridge node goes down, every recorded owner receives `{ssl_closed, S}' for
%% each of its sockets on that bridge, as if the peer had closed them, and the
%% entries go. A socket recorded while its bridge is already disconnected (the
%% bridge left between its reply and the recording) gets its `{ssl_closed, S}'
%% at once. An owner's exit drops its entries.
%%
%% The table is ETS owned by this process; recording is a cast, so the cost on
%% the caller's side is one message per new socket (nothing on send/recv).
%%
%% Its one job: the guards of the bridges and the send windows live in
%% `pyssl_guards' and `pyssl_guard'.
-module(pyssl_monitor).
-behaviour(gen_server).

-export([start_link/0, track/2, forget/1, sockets/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-define(TAB, pyssl_sockets).

-spec start_link() -> {ok, pid()}.
start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% @doc Record `Owner' as the owner of `S' (no-op when the app is not running).
-spec track(pyssl:sslsocket(), pid()) -> ok.
track({sslsocket, pyssl, Ref} = S, Owner) when is_reference(Ref), is_pid(Owner) ->
    cast({track, S, node(Ref), Owner});
track(_, _) -> ok.

%% @doc Forget `S' (it is being closed by its owner).
-spec forget(pyssl:sslsocket()) -> ok.
forget(S) -> cast({forget, S}).

%% @doc The recorded `{Socket, BridgeNode, Owner}' entries.
-spec sockets() -> [{pyssl:sslsocket(), node(), pid()}].
sockets() ->
    try ets:tab2list(?TAB) catch error:badarg -> [] end.

cast(Msg) ->
    case whereis(?MODULE) of
        undefined -> ok;
        Pid -> gen_server:cast(Pid, Msg)
    end.

%%% gen_server -----------------------------------------------------------------

init([]) ->
    ?TAB = ets:new(?TAB, [named_table, protected, set, {read_concurrency, true}]),
    ok = net_kernel:monitor_nodes(true, [{node_type, all}]),
    {ok, #{}}.

handle_call(_Req, _From, Owners) ->
    {reply, {error, badarg}, Owners}.

handle_cast({track, S, Node, Owner}, Owners) ->
    case lists:member(Node, nodes(connected)) of
        false ->
            %% the bridge went down between its reply and this cast: its nodedown
            %% may already have been handled, so tell the owner now
            Owner ! {ssl_closed, S},
            true = ets:delete(?TAB, S),
            {noreply, Owners};
        true ->
            true = ets:insert(?TAB, {S, Node, Owner}),
            case Owners of
                #{Owner := _} -> {noreply, Owners};
                #{} -> {noreply, Owners#{Owner => erlang:monitor(process, Owner)}}
            end
    end;
handle_cast({forget, S}, Owners) ->
    true = ets:delete(?TAB, S),
    {noreply, Owners};
handle_cast(_Msg, Owners) ->
    {noreply, Owners}.

handle_info({nodedown, Node, _Info}, Owners) ->
    Lost = ets:match_object(?TAB, {'_', Node, '_'}),
    lists:foreach(fun({S, _, Owner}) ->
                          Owner ! {ssl_closed, S},
                          ets:delete(?TAB, S)
                  end, Lost),
    {noreply, Owners};
handle_info({'DOWN', _Ref, process, Owner, _}, Owners) ->
    true = ets:match_delete(?TAB, {'_', '_', Owner}),
    {noreply, maps:remove(Owner, Owners)};
handle_info(_Msg, Owners) ->
    {noreply, Owners}.
