%% @doc The `ssl' API, served by a pyssl bridge node.
%%
%% Every function has the arity and the return shape of `ssl': the R16B03 names
%% (`ssl_accept/1,2,3', `connection_info/1', `negotiated_next_protocol/1',
%% `cipher_suites/0,1') and today's (`handshake/1,2,3',
%% `connection_information/1,2', `negotiated_protocol/1', `close/2',
%% `cipher_suites/2').
%%
%% == Configuration ==
%% ```
%% application:set_env(pyssl, bridge_node, 'pyssl@127.0.0.1'),
%% ok = pyssl:start().
%% '''
%% or `{bridge_nodes, [Node, ...]}': new sockets are then spread round-robin
%% over the reachable ones (see {@link pyssl_bridges:pick/0}).
%%
%% == How calls travel ==
%% Each call sends the message of `gen_server:call({pyssl, Bridge}, {Function,
%% Args}, infinity)' and returns exactly what the bridge replies, which is what
%% `ssl:Function(Args...)' returns. The wait itself never times out: the bridge
%% enforces the ssl `Timeout' arguments. While it waits the caller monitors a
%% local guard of that bridge (`pyssl_monitor:guard/1'), not the bridge's process,
%% so a call costs the bridge one request and one reply (see `forward/3'). Calls on a socket
%% `{sslsocket, pyssl, Ref}' go to the bridge that made it, `node(Ref)'; calls
%% that make a socket (`connect', `listen') or need no socket (`cipher_suites',
%% `versions', `format_error') go to the bridge chosen by
%% `pyssl_bridges:pick/0'. The calling process becomes the owner of new sockets.
%%
%% `send/2' is the exception: while the socket's send window lasts (granted by
%% the bridge, kept by this node's guard, see `pyssl_monitor') the data goes to
%% the bridge as a plain message and `ok' comes back at once, as ssl returns once
%% its sender has the data; the window comes back as the bridge passes the bytes
%% on, so a peer that does not read stops the sender. `{error, closed}' comes
%% exactly when a call would give it.
%%
%% == Errors of the shim itself ==
%% <ul>
%% <li>`{error, {bridge_unavailable, Nodes}}': no configured bridge could be
%%     reached when a bridge had to be picked (`connect', `listen',
%%     `cipher_suites', `versions'). `Nodes' is the configured list, `[]' when
%%     neither `bridge_nodes' nor `bridge_node' is set. Functions that return a
%%     list in `ssl' (`cipher_suites', `versions') return this tuple too.</li>
%% <li>`{error, closed}': the bridge serving the call was reached but is gone
%%     (node down, connection lost during the call, or its `pyssl' service not
%%     running). This is what a call on a socket of a lost bridge returns, as for
%%     a socket whose peer went away; `close/1' then returns `ok', as a second
%%     `ssl:close/1' does.</li>
%% <li>Options the bridge does not support yet are reported by the bridge as
%%     `{error, {options, {not_supported_by_pyssl, {Name, Value}}}}'.</li>
%% <li>Argument shapes `ssl' rejects with an exception (a `function_clause' for a
%%     term that is not a socket, a bad timeout) raise the same exception here;
%%     the bridge replies `{'$pyssl_raise', Class, Reason}' for those it detects
%%     and the exception is raised in the caller.</li>
%% </ul>
%% `format_error/1' asks the bridge (it holds the texts of its own reasons) and
%% falls back to local texts (those of `ssl:format_error/1', plus the shim's own
%% reasons) when no bridge answers.
%%
%% == TLS upgrade of a gen_tcp socket ==
%% `connect/2,3', `handshake/1,2,3' and `ssl_accept/1,2,3' on a connected
%% `gen_tcp' socket owned by the caller start TLS on it: the socket stays on
%% this node, owned by a `pyssl_relay' process that carries its bytes to and
%% from the bridge, where the TLS session runs. The result is an ordinary pyssl
%% socket. `ssl_accept/2,3' on a `gen_tcp' socket return `{ok, SslSocket}', as
%% in R16B03.
%%
%% == Bridge loss and active sockets ==
%% `pyssl_monitor' remembers the owner of every socket this node got from a
%% bridge (on `{ok, S}' or `{ok, S, Ext}' from connect/listen/transport_accept/
%% handshake and on a
%% successful `controlling_process'; forgotten on `close'). When a bridge node
%% goes down, each owner receives `{ssl_closed, S}' for each of its recorded
%% sockets on that bridge, whatever their active mode, as if the peer had closed
%% them.
-module(pyssl).

-export([start/0, start/1, stop/0,
         connect/2, connect/3, connect/4,
         listen/2, transport_accept/1, transport_accept/2,
         ssl_accept/1, ssl_accept/2, ssl_accept/3,
         handshake/1, handshake/2, handshake/3,
         send/2, recv/2, recv/3, close/1, close/2, shutdown/2,
         controlling_process/2, setopts/2, getopts/2,
         peername/1, sockname/1, peercert/1,
         connection_info/1, connection_information/1, connection_information/2,
         negotiated_protocol/1, negotiated_next_protocol/1,
         prf/5, renegotiate/1,
         cipher_suites/0, cipher_suites/1, cipher_suites/2,
         versions/0, format_error/1]).
-export([upgrade_call/2]).

-export_type([sslsocket/0]).

-type sslsocket() :: {sslsocket, pyssl, reference()}.

-define(IS_SOCKET(S), (is_tuple(S) andalso tuple_size(S) =:= 3 andalso
                       element(1, S) =:= sslsocket andalso element(2, S) =:= pyssl andalso
                       is_reference(element(3, S)))).
-define(IS_TIMEOUT(T), ((is_integer(T) andalso T >= 0) orelse T =:= infinity)).

%%% Application ----------------------------------------------------------------

%% @doc Start the `pyssl' application (and what it needs), like `ssl:start/0'.
-spec start() -> ok | {error, term()}.
start() -> start(temporary).

-spec start(application:restart_type()) -> ok | {error, term()}.
start(Type) ->
    case application:ensure_all_started(pyssl, Type) of
        {ok, _} -> ok;
        {error, _} = E -> E
    end.

-spec stop() -> ok.
stop() ->
    _ = application:stop(pyssl),
    ok.

%%% Client and server ------------------------------------------------------------

connect(Socket, Opts) -> connect(Socket, Opts, infinity).

%% The same clause order as ssl: a list and a timeout make it an upgrade.
connect(Socket, Opts, Timeout) when is_list(Opts), ?IS_TIMEOUT(Timeout) ->
    upgrade(client, Socket, Opts, Timeout);
connect(Host, Port, Opts) -> connect(Host, Port, Opts, infinity).

connect(Host, Port, Opts, Timeout) when ?IS_TIMEOUT(Timeout) ->
    new_socket(connect, [Host, Port, Opts, Timeout]).

listen(Port, Opts) -> new_socket(listen, [Port, Opts]).

transport_accept(L) -> socket_call(L, transport_accept, [L], {track, {accepted, L}}).
transport_accept(L, Timeout) ->
    socket_call(L, transport_accept, [L, Timeout], {track, {accepted, L}}).

ssl_accept(S) when is_port(S) -> upgrade(server, S, [], infinity);
ssl_accept(S) -> socket_call(S, ssl_accept, [S]).
ssl_accept(S, OptsOrTimeout) when is_port(S) -> upgrade_2(S, OptsOrTimeout);
ssl_accept(S, OptsOrTimeout) -> socket_call(S, ssl_accept, [S, OptsOrTimeout]).
ssl_accept(S, Opts, Timeout) when is_port(S) -> upgrade(server, S, Opts, Timeout);
ssl_accept(S, Opts, Timeout) -> socket_call(S, ssl_accept, [S, Opts, Timeout]).

handshake(S) when is_port(S) -> upgrade(server, S, [], infinity);
handshake(S) -> socket_call(S, handshake, [S], track).
handshake(S, OptsOrTimeout) when is_port(S) -> upgrade_2(S, OptsOrTimeout);
handshake(S, OptsOrTimeout) ->
    socket_call(S, handshake, [S, OptsOrTimeout], {track, mode(OptsOrTimeout, keep)}).
handshake(S, Opts, Timeout) when is_port(S) -> upgrade(server, S, Opts, Timeout);
handshake(S, Opts, Timeout) ->
    socket_call(S, handshake, [S, Opts, Timeout], {track, mode(Opts, keep)}).

%%% Data ------------------------------------------------------------------------------

%% Within the socket's send window (see pyssl_monitor) the data goes to the
%% bridge without waiting for a reply, as ssl's sender takes it; otherwise
%% (no window, window used up) the call waits for the bridge's answer.
send({sslsocket, pyssl, Ref} = S, Data) when is_reference(Ref) ->
    case pyssl_monitor:take_credit(Ref, Data) of
        ok ->
            case erlang:send({pyssl, node(Ref)}, {'$pyssl_send', Ref, Data}, [noconnect]) of
                ok -> ok;
                _NoConnect -> socket_call(S, send, [S, Data])
            end;
        no ->
            socket_call(S, send, [S, Data])
    end;
send(S, Data) -> socket_call(S, send, [S, Data]).

recv(S, Length) -> socket_call(S, recv, [S, Length]).
recv(S, Length, Timeout) -> socket_call(S, recv, [S, Length, Timeout]).

close(S) ->
    case socket_call(S, close, [S], forget) of
        {error, closed} -> ok;
        Other -> Other
    end.

close(S, How) -> socket_call(S, close, [S, How], forget).

shutdown(S, How) -> socket_call(S, shutdown, [S, How], sync).

controlling_process(S, Pid) ->
    case socket_call(S, controlling_process, [S, Pid], sync) of
        ok when is_pid(Pid) ->
            pyssl_monitor:track(S, Pid),
            drop_window_if_dead(S, Pid),
            ok;
        Other ->
            Other
    end.

%% A handover to a process of this node that is dead already closes the socket
%% once the bridge sees the new owner's `DOWN' (noproc). That comes before the
%% next call from this node, not before a send taken from the window, which
%% said ok and was dropped: the window goes now, so the next send is a call
%% and answers `{error, closed}'.
drop_window_if_dead({sslsocket, pyssl, Ref}, Pid) when node(Pid) =:= node() ->
    case is_process_alive(Pid) of
        true -> ok;
        false -> pyssl_monitor:sync(node(Ref), Ref)
    end;
drop_window_if_dead(_S, _Pid) ->
    ok.

%%% Options and information ----------------------------------------------------------

setopts(S, Opts) when is_list(Opts) ->
    %% a packet type decides whether the socket has a send window
    Then = case lists:keymember(packet, 1, Opts) of true -> sync; false -> none end,
    Reply = socket_call(S, setopts, [S, Opts], Then),
    _ = Reply =:= ok andalso lists:keymember(active, 1, Opts)
        andalso pyssl_monitor:active(S, mode(Opts, true)),
    Reply;
setopts(S, Opts) -> socket_call(S, setopts, [S, Opts]).
getopts(S, Names) -> socket_call(S, getopts, [S, Names]).
peername(S) -> socket_call(S, peername, [S]).
sockname(S) -> socket_call(S, sockname, [S]).
peercert(S) -> socket_call(S, peercert, [S]).
connection_info(S) -> socket_call(S, connection_info, [S]).
connection_information(S) -> socket_call(S, connection_information, [S]).
connection_information(S, Items) -> socket_call(S, connection_information, [S, Items]).
negotiated_protocol(S) -> socket_call(S, negotiated_protocol, [S]).
negotiated_next_protocol(S) -> socket_call(S, negotiated_next_protocol, [S]).
prf(S, Secret, Label, Seed, Len) -> socket_call(S, prf, [S, Secret, Label, Seed, Len]).
renegotiate(S) -> socket_call(S, renegotiate, [S]).

cipher_suites() -> bridge_call(cipher_suites, []).
cipher_suites(Type) -> bridge_call(cipher_suites, [Type]).
cipher_suites(Description, Version) -> bridge_call(cipher_suites, [Description, Version]).
versions() -> bridge_call(versions, []).

%% @doc The bridge's text for `Reason'; local texts when no bridge answers.
-spec format_error(term()) -> string().
format_error({bridge_unavailable, _} = Reason) ->
    local_format_error(Reason);
format_error({error, {bridge_unavailable, _} = Reason}) ->
    local_format_error(Reason);
format_error(Reason) ->
    case pyssl_bridges:pick() of
        {ok, Node} ->
            case forward(Node, format_error, [Reason]) of
                {reply, Text} -> Text;
                down -> local_format_error(Reason)
            end;
        {error, _} ->
            local_format_error(Reason)
    end.

%%% Internals -------------------------------------------------------------------------

%% TLS on a gen_tcp socket: the socket stays here with a relay process and the
%% bridge runs TLS over its bytes (see pyssl_relay).
upgrade_2(S, Timeout) when ?IS_TIMEOUT(Timeout) -> upgrade(server, S, [], Timeout);
upgrade_2(S, Opts) -> upgrade(server, S, Opts, infinity).

upgrade(Role, Socket, Opts, Timeout) when is_port(Socket), is_list(Opts), ?IS_TIMEOUT(Timeout) ->
    case pyssl_bridges:pick() of
        {ok, Node} -> pyssl_relay:upgrade(Node, Role, Socket, Opts, Timeout);
        {error, _} = E -> E
    end;
upgrade(_Role, _Socket, _Opts, _Timeout) ->
    erlang:error(function_clause).

%% @private The bridge's side of an upgrade, called by pyssl_relay.
upgrade_call(Node, Args) ->
    after_call(call(Node, '$pyssl_upgrade', Args), track).

new_socket(Function, Args) ->
    Mode = case {Function, Args} of
               {connect, [_Host, _Port, Opts, _Timeout]} -> mode(Opts, true);
               {listen, [_Port, Opts]} -> {listen, mode(Opts, true)};
               _ -> keep
           end,
    case pyssl_bridges:pick() of
        {ok, Node} -> after_call(call(Node, Function, Args), {track, Mode});
        {error, _} = E -> E
    end.

%% Whether options `Opts' make a socket active, as ssl reads them (the first
%% `active' option; `false' and `{active, 0}' are passive): `Default' without one.
%% What pyssl_monitor needs to know on the day the bridge goes (see its track/3).
mode(Opts, Default) when is_list(Opts) ->
    case lists:keyfind(active, 1, Opts) of
        {active, false} -> false;
        {active, 0} -> false;
        {active, _} -> true;
        false -> Default
    end;
mode(_NotOpts, Default) ->
    Default.

bridge_call(Function, Args) ->
    case pyssl_bridges:pick() of
        {ok, Node} -> call(Node, Function, Args);
        {error, _} = E -> E
    end.

socket_call(S, Function, Args) -> socket_call(S, Function, Args, none).

socket_call({sslsocket, pyssl, Ref} = S, Function, Args, Then) when is_reference(Ref) ->
    case Then of
        forget -> pyssl_monitor:forget(S);
        _ -> ok
    end,
    Reply = after_call(call(node(Ref), Function, Args), Then),
    sync_window(Ref, Reply, Then),
    Reply;
socket_call(_S, _Function, _Args, _Then) ->
    erlang:error(function_clause).

%% The send window is kept by the local guard from the bridge's messages; a
%% reply that closed the socket or changed what decides its window waits for
%% the guard to catch up (see pyssl_monitor:sync/2).
sync_window(Ref, {error, closed}, _) -> pyssl_monitor:sync(node(Ref), Ref);
sync_window(Ref, _, forget) -> pyssl_monitor:sync(node(Ref), Ref);
sync_window(Ref, _, sync) -> pyssl_monitor:sync(node(Ref), keep);
sync_window(_Ref, _, _) -> ok.

after_call(Reply, track) ->
    after_call(Reply, {track, keep});
after_call({ok, S} = Reply, {track, Mode}) when ?IS_SOCKET(S) ->
    pyssl_monitor:track(S, self(), Mode),
    Reply;
after_call({ok, S, _Ext} = Reply, {track, Mode}) when ?IS_SOCKET(S) ->
    %% {handshake, hello}: paused after the hello, the socket exists already
    pyssl_monitor:track(S, self(), Mode),
    Reply;
after_call(Reply, _) ->
    Reply.

call(Node, Function, Args) ->
    case forward(Node, Function, Args) of
        {reply, {'$pyssl_raise', Class, Reason}}
          when Class =:= error; Class =:= exit; Class =:= throw ->
            erlang:raise(Class, Reason, [{?MODULE, Function, Args, []}]);
        {reply, Reply} ->
            Reply;
        down ->
            {error, closed}
    end.

%% `{reply, Reply}', or `down' when the bridge is not there or left during the
%% call. Any exit of the call means the service is gone for this caller.
%%
%% The request is the message `gen_server:call' sends (`{'$gen_call', From, Req}'
%% to `{pyssl, Node}'), but the caller monitors a local guard process instead of
%% the bridge's `pyssl' process: the guard (one per bridge node, see
%% `pyssl_monitor:guard/1') holds the one remote monitor and exits when the
%% bridge's service or the connection goes. A remote monitor per call cost two
%% more distribution signals (monitor, demonitor) per call, a third of the bridge's
%% CPU for a short call. Without the app's guard table, plain gen_server:call.
%%
%% As in gen:do_call/4 (OTP 24+), the monitor is also an alias and the call's tag
%% `[alias|Mref]': the bridge replies to the alias, which is gone once the call
%% returned or the guard went down, so a reply that comes after that (the bridge
%% answers a call whose connection was lost) is dropped, never left in the mailbox.
forward(Node, Function, Args) ->
    case pyssl_monitor:guard(Node) of
        {ok, Guard} ->
            Mref = erlang:monitor(process, Guard, [{alias, demonitor}]),
            Tag = [alias | Mref],
            case erlang:send({pyssl, Node}, {'$gen_call', {self(), Tag}, {Function, Args}},
                             [noconnect]) of
                ok ->
                    receive
                        {Tag, Reply} ->
                            erlang:demonitor(Mref, [flush]),
                            {reply, Reply};
                        {'DOWN', Mref, _, _, _} ->
                            down
                    end;
                _NoConnect ->
                    %% the connection went between the guard's check and the send
                    erlang:demonitor(Mref, [flush]),
                    down
            end;
        down ->
            down;
        no_guards ->
            try gen_server:call({pyssl, Node}, {Function, Args}, infinity) of
                Reply -> {reply, Reply}
            catch
                exit:{_Why, {gen_server, call, _}} -> down
            end
    end.

local_format_error({bridge_unavailable, []}) ->
    "No pyssl bridge node configured (set the pyssl application environment "
    "bridge_node or bridge_nodes)";
local_format_error({bridge_unavailable, Nodes}) ->
    lists:flatten(io_lib:format("No pyssl bridge node reachable from ~w (tried ~w)",
                                [node(), Nodes]));
local_format_error(Reason) ->
    try ssl:format_error(Reason)
    catch error:undef ->
        lists:flatten(io_lib:format("Unexpected error: ~p", [Reason]))
    end.
