%% @doc The guards of this node, one per bridge node (see `pyssl_guard'), and
%% the tables callers read without asking a process: `pyssl_guards' (bridge node
%% to guard) and `pyssl_windows' (socket reference to the bytes of its send
%% window, written by the guards, taken by the senders).
%%
%% This process owns both tables and is the one that starts guards, so two
%% callers never start two guards for one bridge. It never waits for the
%% network: a caller that finds no guard connects to the bridge itself (which
%% can take seconds for a node that does not answer) and only then asks here.
-module(pyssl_guards).
-behaviour(gen_server).

-export([start_link/0, guard/1, take_credit/2, sync/2]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-define(GUARDS, pyssl_guards).
-define(WINDOWS, pyssl_windows).

-spec start_link() -> {ok, pid()}.
start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

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
%% said the socket is closed). `ok' also when there is no guard or it went.
-spec sync(node(), reference() | keep) -> ok.
sync(Node, Ref) ->
    case ets_lookup(?GUARDS, Node) of
        [{_, Guard}] ->
            try gen_server:call(Guard, {sync, Ref}, infinity)
            catch exit:_ -> ok
            end;
        [] ->
            ok
    end.

ets_lookup(Tab, Key) ->
    try ets:lookup(Tab, Key) catch error:badarg -> [] end.

%% net_kernel:connect_node/1 here, in the caller, not in this server: it waits
%% for the connection set-up, and a bridge that does not answer would hold up
%% every other caller behind it.
new_guard(Node) when Node =:= node() ->
    down;
new_guard(Node) ->
    %% the port bridge is there without a connection; a port bridge that is not
    %% running has ended (a socket of it outlived it): no node to connect to
    Reachable = pyssl_port:is_bridge(Node)
        orelse (not pyssl_port:is_port_name(Node) andalso net_kernel:connect_node(Node)),
    case Reachable of
        true ->
            try gen_server:call(?MODULE, {guard, Node}, infinity)
            catch exit:_ -> no_guards
            end;
        _ ->
            down
    end.

%%% gen_server -----------------------------------------------------------------

init([]) ->
    ?GUARDS = ets:new(?GUARDS, [named_table, protected, set, {read_concurrency, true}]),
    %% written by the guards, read and decremented by the senders
    ?WINDOWS = ets:new(?WINDOWS, [named_table, public, set, {write_concurrency, true},
                                  {read_concurrency, true}]),
    {ok, #{}}.

handle_call({guard, Node}, _From, St) ->
    case ets:lookup(?GUARDS, Node) of
        [{_, Pid}] ->
            case erlang:is_process_alive(Pid) of
                true -> {reply, {ok, Pid}, St};
                false -> {reply, start_guard(Node), St}
            end;
        [] ->
            {reply, start_guard(Node), St}
    end;
handle_call(_Req, _From, St) ->
    {reply, {error, badarg}, St}.

handle_cast(_Msg, St) ->
    {noreply, St}.

handle_info({'DOWN', _Mref, process, Pid, _}, St) ->
    true = ets:match_delete(?GUARDS, {'_', Pid}),
    {noreply, St};
handle_info(_Msg, St) ->
    {noreply, St}.

start_guard(Node) ->
    case supervisor:start_child(pyssl_guard_sup, [Node]) of
        {ok, Pid} ->
            _ = erlang:monitor(process, Pid),
            true = ets:insert(?GUARDS, {Node, Pid}),
            {ok, Pid};
        _ ->
            down
    end.
