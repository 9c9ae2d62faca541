%% @doc Owners of pyssl sockets, for the day their bridge goes away.
%%
%% `pyssl' records `{Socket, Owner}' when a call returns `{ok, Socket}'
%% (connect, listen, transport_accept, handshake) and when
%% `controlling_process/2' succeeds, and forgets the socket on `close'. When a
%% bridge node goes down, the owners of its active sockets receive
%% `{ssl_closed, S}', as if the peer had closed them, and the entries go. As
%% with ssl, the owner of a passive socket gets no message (its next call
%% returns `{error, closed}', what a call to a lost bridge returns) and neither
%% does the owner of a listen socket. Active or passive is the mode `pyssl' last
%% set: the `active' option of connect/listen (an accepted socket inherits its
%% listen socket's), handshake and setopts; an `{active, once}' or `{active, N}'
%% counts as active until it is set again (the bridge may have used it up: then
%% the owner gets an `{ssl_closed, S}' that ssl would not send). A socket
%% recorded while its bridge is already disconnected (the bridge left between its
%% reply and the recording) gets its `{ssl_closed, S}' at once, if active. An
%% owner's exit drops its entries.
%%
%% The table is ETS owned by this process; recording is a cast, so the cost on
%% the caller's side is one message per new socket (nothing on send/recv).
%%
%% Its one job: the guards of the bridges and the send windows live in
%% `pyssl_guards' and `pyssl_guard'.
-module(pyssl_monitor).
-behaviour(gen_server).

-export([start_link/0, track/2, track/3, active/2, forget/1, sockets/0, bridge_down/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-define(TAB, pyssl_sockets).

-spec start_link() -> {ok, pid()}.
start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% @doc Record `Owner' as the owner of `S' (no-op when the app is not running),
%% its mode kept (active when `S' is new).
-spec track(pyssl:sslsocket(), pid()) -> ok.
track(S, Owner) -> track(S, Owner, keep).

%% @doc Record `Owner' as the owner of `S' in the mode `Mode': `true' (active),
%% `false' (passive), `{listen, Active}' (a listen socket whose accepted sockets
%% start `Active'), `{accepted, L}' (accepted from listen socket `L') or `keep'.
-spec track(pyssl:sslsocket(), pid(), boolean() | {listen, boolean()}
            | {accepted, pyssl:sslsocket()} | keep) -> ok.
track({sslsocket, pyssl, Ref} = S, Owner, Mode) when is_reference(Ref), is_pid(Owner) ->
    cast({track, S, node(Ref), Owner, Mode});
track(_, _, _) -> ok.

%% @doc `S' is now active (`true') or passive (`false'): a setopts succeeded.
-spec active(pyssl:sslsocket(), boolean()) -> ok.
active(S, Active) when is_boolean(Active) -> cast({active, S, Active}).

%% @doc Forget `S' (it is being closed by its owner).
-spec forget(pyssl:sslsocket()) -> ok.
forget(S) -> cast({forget, S}).

%% @doc Bridge `Node' is gone as a node going down is (the port bridge: see
%% pyssl_port).
-spec bridge_down(node()) -> ok.
bridge_down(Node) -> cast({bridge_down, Node}).

%% @doc The recorded `{Socket, BridgeNode, Owner}' entries.
-spec sockets() -> [{pyssl:sslsocket(), node(), pid()}].
sockets() ->
    try [{S, N, O} || {S, N, O, _Mode} <- ets:tab2list(?TAB)] catch error:badarg -> [] end.

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

handle_cast({track, S, Node, Owner, Mode0}, Owners) ->
    Mode = mode(S, Mode0),
    case pyssl_bridges:connected(Node) of
        false ->
            %% the bridge went down between its reply and this cast: its nodedown
            %% may already have been handled, so tell the owner now
            _ = Mode =:= true andalso (Owner ! {ssl_closed, S}),
            true = ets:delete(?TAB, S),
            {noreply, Owners};
        true ->
            true = ets:insert(?TAB, {S, Node, Owner, Mode}),
            case Owners of
                #{Owner := _} -> {noreply, Owners};
                #{} -> {noreply, Owners#{Owner => erlang:monitor(process, Owner)}}
            end
    end;
handle_cast({active, S, Active}, Owners) ->
    _ = ets:update_element(?TAB, S, {4, Active}),
    {noreply, Owners};
handle_cast({forget, S}, Owners) ->
    true = ets:delete(?TAB, S),
    {noreply, Owners};
handle_cast({bridge_down, Node}, Owners) ->
    handle_info({nodedown, Node, []}, Owners);
handle_cast(_Msg, Owners) ->
    {noreply, Owners}.

handle_info({nodedown, Node, _Info}, Owners) ->
    Lost = ets:match_object(?TAB, {'_', Node, '_', '_'}),
    lists:foreach(fun({S, _, Owner, Mode}) ->
                          %% ssl tells only the owner of an active socket
                          _ = Mode =:= true andalso (Owner ! {ssl_closed, S}),
                          ets:delete(?TAB, S)
                  end, Lost),
    {noreply, Owners};
handle_info({'DOWN', _Ref, process, Owner, _}, Owners) ->
    true = ets:match_delete(?TAB, {'_', '_', Owner, '_'}),
    {noreply, maps:remove(Owner, Owners)};
handle_info(_Msg, Owners) ->
    {noreply, Owners}.

%% The mode to record for `S': see track/3.
mode(S, keep) ->
    case ets:lookup(?TAB, S) of
        [{_, _, _, Mode}] -> Mode;
        [] -> true
    end;
mode(_S, {accepted, L}) ->
    case ets:lookup(?TAB, L) of
        [{_, _, _, {listen, Active}}] -> Active;
        _ -> true
    end;
mode(_S, Mode) ->
    Mode.
