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
%% It also keeps one guard process per bridge node (`guard/1'): the guard
%% monitors the bridge's `pyssl' service and exits when it goes (service gone,
%% node down), so a caller of `pyssl' monitors the local guard during a call
%% instead of setting up and removing a remote monitor per call.
%%
%% == Send windows ==
%% The guard also keeps this node's send windows (table `pyssl_windows', read
%% by `take_credit/2'): a bridge grants an established socket whose owner is on
%% this node a window of bytes (not in `{packet, 1|2}', whose header a send could
%% overflow), and `pyssl:send/2' then sends without waiting for a reply while the
%% window lasts; the bridge gives the bytes back once its TLS connection has
%% taken them. Every change to the table comes from the bridge through the guard,
%% so it happens in the order the bridge decided it: the bridge revokes a window
%% (close, shutdown, a packet type with a small header, a new owner elsewhere, a
%% lost connection) before anything that tells the owner, and it sends the final
%% `{ssl_closed, S}' / `{ssl_error, S, R}' of a windowed socket through the
%% guard, which revokes before passing it on. A caller that learns of a change
%% from a reply waits for the guard with `sync/2', which has then seen
%% everything the bridge sent before that reply.
-module(pyssl_monitor).
-behaviour(gen_server).

-export([start_link/0, track/2, track/3, active/2, forget/1, sockets/0, guard/1]).
-export([take_credit/2, sync/2]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-define(TAB, pyssl_sockets).
-define(GUARDS, pyssl_guards).
-define(WINDOWS, pyssl_windows).

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

%% @doc The recorded `{Socket, BridgeNode, Owner}' entries.
-spec sockets() -> [{pyssl:sslsocket(), node(), pid()}].
sockets() ->
    try [{S, N, O} || {S, N, O, _Mode} <- ets:tab2list(?TAB)] catch error:badarg -> [] end.

%% @doc The live guard of `Node''s `pyssl' service: `{ok, Pid}'; `down' when
%% the node cannot be reached; `no_guards' when the app is not running.
%% The fast path is an ETS lookup in the caller.
-spec guard(node()) -> {ok, pid()} | down | no_guards.
guard(Node) ->
    try ets:lookup(?GUARDS, Node) of
        [{_, Pid}] ->
            case erlang:is_process_alive(Pid) of
                true -> {ok, Pid};
                false -> new_guard(Node)
            end;
        [] ->
            new_guard(Node)
    catch
        error:badarg -> no_guards
    end.

%% @doc Take `iolist_size(Data)' bytes of the send window of the socket with
%% reference `Ref': `ok' when the window had them (the caller then sends the
%% data without a reply), `no' otherwise (no window: not granted, revoked, the
%% app not running; or the window is used up, or `Data' is not iodata).
-spec take_credit(reference(), iodata()) -> ok | no.
take_credit(Ref, Data) ->
    try
        Size = iolist_size(Data),
        case ets:update_counter(?WINDOWS, Ref, {2, -Size}) of
            Left when Left >= 0 -> ok;
            _ ->
                _ = ets:update_counter(?WINDOWS, Ref, {2, Size}),
                no
        end
    catch
        error:badarg -> no
    end.

%% @doc Wait until the guard of `Node' has handled every message its bridge sent
%% before the reply the caller just had (a revoke or a grant is then in place);
%% given a reference, the guard then also drops that socket's window (the reply
%% said the socket is closed).
-spec sync(node(), reference() | keep) -> ok.
sync(Node, Ref) ->
    case ets_lookup(?GUARDS, Node) of
        [{_, Guard}] ->
            Mref = erlang:monitor(process, Guard),
            Guard ! {'$pyssl_sync', self(), Mref, Ref},
            receive
                {Mref, done} -> erlang:demonitor(Mref, [flush]), ok;
                {'DOWN', Mref, _, _, _} -> ok
            end;
        [] ->
            ok
    end.

ets_lookup(Tab, Key) ->
    try ets:lookup(Tab, Key) catch error:badarg -> [] end.

new_guard(Node) ->
    try gen_server:call(?MODULE, {guard, Node}, infinity)
    catch exit:_ -> no_guards
    end.

cast(Msg) ->
    case whereis(?MODULE) of
        undefined -> ok;
        Pid -> gen_server:cast(Pid, Msg)
    end.

%%% gen_server -----------------------------------------------------------------

init([]) ->
    ok = pyssl_bridges:init(),
    ?TAB = ets:new(?TAB, [named_table, protected, set, {read_concurrency, true}]),
    ?GUARDS = ets:new(?GUARDS, [named_table, protected, set, {read_concurrency, true}]),
    %% written by the guards, read and decremented by the senders
    ?WINDOWS = ets:new(?WINDOWS, [named_table, public, set, {write_concurrency, true},
                                  {read_concurrency, true}]),
    ok = net_kernel:monitor_nodes(true, [{node_type, all}]),
    {ok, #{}}.

handle_call({guard, Node}, _From, Owners) ->
    case ets:lookup(?GUARDS, Node) of
        [{_, Pid}] ->
            case erlang:is_process_alive(Pid) of
                true -> {reply, {ok, Pid}, Owners};
                false -> {reply, start_guard(Node), Owners}
            end;
        [] ->
            {reply, start_guard(Node), Owners}
    end;
handle_call(_Req, _From, Owners) ->
    {reply, {error, badarg}, Owners}.

handle_cast({track, S, Node, Owner, Mode0}, Owners) ->
    Mode = mode(S, Mode0),
    case lists:member(Node, nodes(connected)) of
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

%%% guards ---------------------------------------------------------------------

%% A guard's remote monitor is set up before its pid is handed out, so a
%% request sent afterwards travels behind the monitor on the connection.
start_guard(Node) when Node =:= node() ->
    down;
start_guard(Node) ->
    case net_kernel:connect_node(Node) of
        true ->
            Self = self(),
            {Pid, Ref} = spawn_monitor(fun() -> guard_init(Self, Node) end),
            receive
                {guard_ready, Pid} ->
                    erlang:demonitor(Ref, [flush]),
                    true = ets:insert(?GUARDS, {Node, Pid}),
                    {ok, Pid};
                {'DOWN', Ref, process, Pid, _} ->
                    down
            end;
        _ ->
            down
    end.

guard_init(Parent, Node) ->
    Mon = erlang:monitor(process, {pyssl, Node}),
    %% behind the monitor on the connection: the bridge learns where this
    %% node's send windows are kept
    {pyssl, Node} ! {'$pyssl_guard', self()},
    Parent ! {guard_ready, self()},
    guard_loop(Mon, Node).

guard_loop(Mon, Node) ->
    receive
        {'$pyssl_ack', Ref, Bytes, Window} ->
            %% never above the window: acks of a window revoked and granted again
            _ = (catch ets:update_counter(?WINDOWS, Ref, {2, Bytes, Window, Window})),
            guard_loop(Mon, Node);
        {'$pyssl_grant', Ref, Window} ->
            _ = (catch ets:insert(?WINDOWS, {Ref, Window})),
            guard_loop(Mon, Node);
        {'$pyssl_revoke', Ref} ->
            _ = (catch ets:delete(?WINDOWS, Ref)),
            guard_loop(Mon, Node);
        {'$pyssl_revoke', Ref, To, Msg} ->
            _ = (catch ets:delete(?WINDOWS, Ref)),
            To ! Msg,
            guard_loop(Mon, Node);
        {'$pyssl_sync', From, Tag, Ref} ->
            _ = is_reference(Ref) andalso (catch ets:delete(?WINDOWS, Ref)),
            From ! {Tag, done},
            guard_loop(Mon, Node);
        {'DOWN', Mon, process, _, _} ->
            %% the bridge's sockets are gone with it, and so are their windows
            _ = (catch ets:select_delete(?WINDOWS, [{{'$1', '_'}, [{'=:=', {node, '$1'}, Node}],
                                                     [true]}])),
            exit(normal);
        _Other ->
            guard_loop(Mon, Node)
    end.
