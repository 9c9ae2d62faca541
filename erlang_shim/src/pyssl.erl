%% @doc The `ssl' API, served by a pyssl bridge node.
%%
%% Every function has the arity and return shape of `ssl' (R16B03 names and
%% today's). Calls travel as `gen_server:call({pyssl, Bridge}, {Function, Args},
%% infinity)'; the bridge enforces the ssl `Timeout' arguments itself. Socket
%% calls go to the bridge that made the socket (`node(Ref)' of
%% `{sslsocket, pyssl, Ref}'); calls that create sockets go to a bridge picked
%% by `pyssl_bridges:pick/0'.
%%
%% Failure between nodes: when the bridge is down, or goes down during a call,
%% the call returns `{error, closed}' (for `format_error/1' a local text is
%% used); owners of active sockets then get `{ssl_closed, S}' from
%% `pyssl_monitor'. Where `ssl' itself would raise (a function_clause for a
%% malformed argument), the bridge replies `{'$pyssl_raise', Class, Reason}' and
%% the exception is raised here, in the caller.
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

-define(IS_SOCKET(S), (is_tuple(S) andalso tuple_size(S) =:= 3 andalso
                       element(1, S) =:= sslsocket andalso element(2, S) =:= pyssl)).

%%% Application ----------------------------------------------------------------

start() -> start(temporary).

start(Type) ->
    case application:ensure_all_started(pyssl, Type) of
        {ok, _} -> ok;
        {error, _} = E -> E
    end.

stop() ->
    _ = application:stop(pyssl),
    ok.

%%% Client and server ------------------------------------------------------------

connect(Socket, Opts) -> connect(Socket, Opts, infinity).

connect(Host, Port, Opts) when is_integer(Port) -> new_socket(connect, [Host, Port, Opts]);
connect(_Socket, _Opts, _Timeout) ->
    %% upgrading a gen_tcp socket needs the socket in the bridge: not yet built
    {error, {options, {not_supported_by_pyssl, upgrade}}}.

connect(Host, Port, Opts, Timeout) -> new_socket(connect, [Host, Port, Opts, Timeout]).

listen(Port, Opts) -> new_socket(listen, [Port, Opts]).

transport_accept(L) -> socket_call(L, transport_accept, [L], true).
transport_accept(L, Timeout) -> socket_call(L, transport_accept, [L, Timeout], true).

ssl_accept(S) -> socket_call(S, ssl_accept, [S], false).
ssl_accept(S, OptsOrTimeout) -> socket_call(S, ssl_accept, [S, OptsOrTimeout], false).
ssl_accept(S, Opts, Timeout) -> socket_call(S, ssl_accept, [S, Opts, Timeout], false).

handshake(S) -> socket_call(S, handshake, [S], true).
handshake(S, OptsOrTimeout) -> socket_call(S, handshake, [S, OptsOrTimeout], true).
handshake(S, Opts, Timeout) -> socket_call(S, handshake, [S, Opts, Timeout], true).

%%% Data ------------------------------------------------------------------------------

send(S, Data) -> socket_call(S, send, [S, Data]).
recv(S, Length) -> socket_call(S, recv, [S, Length]).
recv(S, Length, Timeout) -> socket_call(S, recv, [S, Length, Timeout]).

close(S) ->
    pyssl_monitor:forget(S),
    case socket_call(S, close, [S]) of
        {error, closed} -> ok;
        Other -> Other
    end.

close(S, How) ->
    pyssl_monitor:forget(S),
    socket_call(S, close, [S, How]).

shutdown(S, How) -> socket_call(S, shutdown, [S, How]).

controlling_process(S, Pid) ->
    case socket_call(S, controlling_process, [S, Pid]) of
        ok ->
            pyssl_monitor:track(S, Pid),
            ok;
        Other ->
            Other
    end.

%%% Options and information ----------------------------------------------------------

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

format_error(Reason) ->
    case pyssl_bridges:pick() of
        {ok, Node} ->
            case call(Node, format_error, [Reason]) of
                {error, closed} when Reason =/= closed -> local_format_error(Reason);
                Text -> Text
            end;
        {error, _} ->
            local_format_error(Reason)
    end.

%%% Internals -------------------------------------------------------------------------

new_socket(Function, Args) ->
    case pyssl_bridges:pick() of
        {ok, Node} -> tracked(call(Node, Function, Args));
        {error, _} = E -> E
    end.

bridge_call(Function, Args) ->
    case pyssl_bridges:pick() of
        {ok, Node} -> call(Node, Function, Args);
        {error, _} = E -> E
    end.

socket_call(S, Function, Args) -> socket_call(S, Function, Args, false).

socket_call({sslsocket, pyssl, Ref}, Function, Args, Track) when is_reference(Ref) ->
    Reply = call(node(Ref), Function, Args),
    case Track of
        true -> tracked(Reply);
        false -> Reply
    end;
socket_call(_S, _Function, _Args, _Track) ->
    erlang:error(function_clause).

tracked({ok, S} = Reply) when ?IS_SOCKET(S) ->
    pyssl_monitor:track(S, self()),
    Reply;
tracked(Reply) ->
    Reply.

call(Node, Function, Args) ->
    try gen_server:call({pyssl, Node}, {Function, Args}, infinity) of
        {'$pyssl_raise', Class, Reason} -> erlang:raise(Class, Reason, [{?MODULE, Function, Args, []}]);
        Reply -> Reply
    catch
        exit:{Why, {gen_server, call, _}} when Why =:= noproc; Why =:= noconnection;
                                                element(1, Why) =:= nodedown ->
            {error, closed};
        exit:{{nodedown, _}, _} ->
            {error, closed}
    end.

local_format_error(closed) -> "TLS connection is closed";
local_format_error(Reason) -> ssl:format_error(Reason).
