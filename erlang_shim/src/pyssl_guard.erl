%% @doc The guard of one bridge node: a local stand-in for the bridge's `pyssl'
%% service, and the keeper of this node's send windows on that bridge.
%%
%% A caller of `pyssl' monitors the guard during a call instead of the bridge's
%% process (see `pyssl:forward/3'): the guard holds the one remote monitor and
%% stops when the bridge's service or the connection goes, which gives every
%% waiting caller its `DOWN'. A remote monitor per call would cost two more
%% distribution signals (monitor, demonitor) per call.
%%
%% == Send windows ==
%% The bridge learns of this guard from `{'$pyssl_guard', Pid}' (sent in
%% `init/1', behind the monitor on the connection) and grants an established
%% socket whose owner is on this node a window of bytes: `pyssl:send/2' then
%% sends without waiting for a reply while the window lasts (table
%% `pyssl_windows', see `pyssl_guards:take_credit/2'), and the bridge gives the
%% bytes back once its TLS connection has taken them. Every change to the table
%% comes from the bridge through this process, so it happens in the order the
%% bridge decided it: the bridge revokes a window (close, shutdown, a packet type
%% with a small header, a new owner elsewhere, a lost connection) before
%% anything that tells the owner, and it sends the final `{ssl_closed, S}' /
%% `{ssl_error, S, R}' of a windowed socket through the guard, which revokes
%% before passing it on. A caller that learns of a change from a reply waits for
%% the guard (`pyssl_guards:sync/2', a call to this process), which has then seen
%% everything the bridge sent before that reply; or the bridge sends the reply
%% through this process with the change (`{'$pyssl_grant', Ref, Window, To, Reply}'
%% for the reply that hands a socket over, `{'$pyssl_revoke', Ref, To, Reply}'
%% for one that ends it), which saves a message and the wait. A send call's reply
%% may come the same way with the window's refill (`{'$pyssl_ack', Ref, Bytes,
%% Window, To, Reply}'): one wake-up of this node for both.
%%
%% Guards are started on demand by `pyssl_guards' under `pyssl_guard_sup'
%% (temporary: a guard whose bridge went is not restarted; the next call makes a
%% new one).
-module(pyssl_guard).
-behaviour(gen_server).

-export([start_link/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-define(WINDOWS, pyssl_windows).

-spec start_link(node()) -> {ok, pid()}.
start_link(Node) ->
    gen_server:start_link(?MODULE, Node, []).

%%% gen_server -----------------------------------------------------------------

%% The remote monitor is set up before `start_link' returns the pid, so a
%% request a caller sends afterwards travels behind the monitor on the
%% connection. Neither the monitor nor the send waits for the connection (the
%% caller connected before asking for a guard, see `pyssl_guards:guard/1').
init(Node) ->
    Mon = pyssl_bridges:monitor({pyssl, Node}),
    _ = pyssl_bridges:send({pyssl, Node}, {'$pyssl_guard', self()}),
    {ok, #{node => Node, mon => Mon}}.

%% `pyssl_guards:sync/2': every message the bridge sent before this call has
%% been handled; given a reference, that socket's window goes too (the reply the
%% caller had said the socket is closed).
handle_call({sync, Ref}, _From, St) ->
    _ = is_reference(Ref) andalso (catch ets:delete(?WINDOWS, Ref)),
    {reply, ok, St};
handle_call(_Req, _From, St) ->
    {reply, {error, badarg}, St}.

handle_cast(_Msg, St) ->
    {noreply, St}.

handle_info({'$pyssl_ack', Ref, Bytes, Window}, St) ->
    %% never above the window: acks of a window revoked and granted again
    _ = (catch ets:update_counter(?WINDOWS, Ref, {2, Bytes, Window, Window})),
    {noreply, St};
handle_info({'$pyssl_ack', Ref, Bytes, Window, To, Reply}, St) ->
    %% a send call's reply, with the window bytes owed when it was made: credited
    %% first, so the caller's next send finds them (a sender calls when its window
    %% is used up; the refill and the reply then wake this node once)
    _ = (catch ets:update_counter(?WINDOWS, Ref, {2, Bytes, Window, Window})),
    To ! Reply,
    {noreply, St};
handle_info({'$pyssl_grant', Ref, Window}, St) ->
    _ = (catch ets:insert(?WINDOWS, {Ref, Window})),
    {noreply, St};
handle_info({'$pyssl_grant', Ref, Window, To, Reply}, St) ->
    %% the reply that hands the socket to its owner, sent with the grant: the
    %% window is there before the caller has the socket
    _ = (catch ets:insert(?WINDOWS, {Ref, Window})),
    To ! Reply,
    {noreply, St};
handle_info({'$pyssl_revoke', Ref}, St) ->
    _ = (catch ets:delete(?WINDOWS, Ref)),
    {noreply, St};
handle_info({'$pyssl_revoke', Ref, To, Msg}, St) ->
    _ = (catch ets:delete(?WINDOWS, Ref)),
    To ! Msg,
    {noreply, St};
handle_info({'DOWN', Mon, process, _, _}, #{mon := Mon} = St) ->
    {stop, normal, St};
handle_info(_Msg, St) ->
    {noreply, St}.

%% The bridge's sockets are gone with it, and so are their windows.
terminate(_Reason, #{node := Node}) ->
    _ = (catch ets:select_delete(?WINDOWS, [{{'$1', '_'}, [{'=:=', {node, '$1'}, Node}],
                                             [true]}])),
    ok.
