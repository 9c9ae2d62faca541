%% @doc TLS upgrade of a `gen_tcp' socket: the bytes of the socket travel to
%% and from the bridge, which runs the TLS session over them.
%%
%% `ssl:connect(TcpSocket, Opts, Timeout)' and `ssl:handshake(TcpSocket, Opts,
%% Timeout)' take over a connected `gen_tcp' socket. A bridge cannot take a
%% socket of another OS process, so the socket stays on this node, owned by a
%% relay process, and its ciphertext is carried over distribution:
%%
%% ```
%% peer <-TCP-> relay (this node) <-distribution-> bridge (TLS) <-> owner
%% '''
%%
%% The relay reads with `{active, once}' and sends each chunk to the bridge's
%% side of the relay (`{pyssl_relay_in, Relay, {data, Bin} | closed | {error, R}}');
%% the bridge sends it `{pyssl_relay, Cmd}' messages: `{attach, BridgePid}',
%% `{send, Bin}', `{shutdown, write}', `pause', `resume', `close',
%% `{hand_over, NewOwner, From, Ref}' (a downgrade: the socket goes to NewOwner
%% and the relay ends) and `{call, From, Ref, Request}' for `inet' options and
%% addresses of the socket.
%% The relay ends (closing the socket) on `close', on the peer's close, and when
%% the bridge's side goes away (process exit or node down). The TLS work stays on
%% the bridge; this node only moves ciphertext.
%%
%% The relay is a `gen_statem' under `pyssl_relay_sup' (linked, temporary):
%% `handing_over' (the caller is giving it the socket), `attaching' (the bridge
%% is setting up TLS: it attaches, gives the socket back or closes it),
%% `relaying', and `peer_closed' (the peer closed TCP; a downgrade may still
%% come). Without the application running it is started unsupervised, as the
%% rest of the shim then works with plain calls.
%%
%% The same relay carries the sockets of a user's transport (the `cb_info'
%% option, `{Mod, DataTag, ClosedTag, ErrTag, PassiveTag}'; see pyssl_cb): it
%% calls `Mod' where it calls gen_tcp/inet for a gen_tcp socket (as
%% tls_socket's `Transport:' calls do), reads with `{active, N}' and rearms on
%% `{PassiveTag, S}' (as tls_gen_connection:activate_socket/1; gen_tcp sockets
%% keep `{active, once}'), and maps the module's tags into the same
%% `{pyssl_relay_in, ...}' messages. The addresses of such a socket are asked
%% (`Mod:peername/1', `Mod:sockname/1') when the bridge needs them. A socket
%% accepted from a user's listen socket is attached `paused' at
%% `transport_accept' and read from once the bridge's handshake starts.
-module(pyssl_relay).
-behaviour(gen_statem).

-export([upgrade/5, hand_over/4, inherited_from/2]).
-export([start_link/2, start_link/3]).
-export([callback_mode/0, init/1, handing_over/3, attaching/3, relaying/3, peer_closed/3]).

-define(ATTACH_TIMEOUT, 30000).
%% ssl's internal_active_n default: how many reads a user's transport delivers
%% before its passive message
-define(ACTIVE_N, 100).
-define(GEN_TCP, {gen_tcp, tcp, tcp_closed, tcp_error, tcp_passive}).

%% @doc Upgrade `Socket' as `Role' (`client' or `server') through a bridge.
%% Returns what the bridge returns for the handshake: `{ok, SslSocket}' or
%% `{error, Reason}'. The caller must own `Socket' (else `{error, not_owner}',
%% as `gen_tcp:controlling_process/2' says); on failure the socket is closed, as
%% ssl closes it.
-spec upgrade(node(), client | server, port(), list(), timeout()) -> term().
upgrade(Node, Role, Socket, Opts, Timeout) ->
    case addresses(Socket) of
        {ok, Peer, Local} ->
            Inherited = inherited(Socket, Opts),
            {ok, Relay} = start(Socket, self()),
            case gen_tcp:controlling_process(Socket, Relay) of
                ok ->
                    MRef = monitor(process, Relay),
                    Relay ! {pyssl_relay, socket_handed_over},
                    Reply = pyssl:upgrade_call(Node, [Role, Relay, Peer, Local, Inherited, Opts, Timeout]),
                    settled(Reply, MRef),
                    Reply;
                {error, _} = E ->
                    Relay ! {pyssl_relay, not_handed_over},
                    E
            end;
        {error, _} = E ->
            E
    end.

%% The emulated options (mode, packet, active, header, packet_size) the ssl
%% socket starts with: as ssl:handle_options/5 computes them for an upgrade, the
%% caller's merged over the gen_tcp socket's current ones (the first of a key
%% wins, as tls_socket:emulated_socket_options/2 reads them). An option ssl
%% would refuse leaves them to the bridge, which reports it.
inherited(Socket, Opts) ->
    case inet:getopts(Socket, tls_socket:emulated_options()) of
        {ok, Original} -> inherited_from(Original, Opts);
        {error, _} -> []
    end.

%% @doc The same, from the socket's emulated options `Original' as its transport
%% module reports them (a user's transport, see pyssl_cb).
-spec inherited_from(list(), list()) -> list().
inherited_from(Original, Opts) ->
    Names = tls_socket:emulated_options(),
    Expanded = [case O of binary -> {mode, binary}; list -> {mode, list}; _ -> O end
                || O <- Opts],
    try tls_socket:emulated_options(Expanded) of
        {_Inet, Emulated} ->
            Merged = lists:ukeymerge(1, Emulated, Original),
            [{Name, proplists:get_value(Name, Merged)} || Name <- Names,
                                                          lists:keymember(Name, 1, Merged)]
    catch
        _:_ -> []
    end.

%% On failure the bridge has told the relay to close the socket (or to give it
%% back): wait until it has, so the caller sees the socket as ssl leaves it.
settled({ok, _}, MRef) ->
    demonitor(MRef, [flush]);
settled(_Error, MRef) ->
    receive {'DOWN', MRef, process, _, _} -> ok
    after 5000 -> demonitor(MRef, [flush])
    end.

addresses(Socket) ->
    %% ssl's upgrade starts with `ok = inet:setopts(...)': a closed socket is a badmatch
    case inet:setopts(Socket, []) of
        ok -> ok;
        Error -> erlang:error({badmatch, Error})
    end,
    case {inet:peername(Socket), inet:sockname(Socket)} of
        {{ok, Peer}, {ok, Local}} -> {ok, Peer, Local};
        {{error, _} = E, _} -> E;
        {_, {error, _} = E} -> E
    end.

%% @doc A user transport's socket `Socket' (made by `Mod:connect/4' or
%% `Mod:accept/2' in the caller, who owns it) goes to a new relay: `Mod:
%% controlling_process/2' makes the relay its owner (the call ssl's
%% ssl_gen_statem:socket_control/5 makes, in the caller, exceptions included),
%% then `Request' goes to the bridge with the relay's pid before `Args'. Returns
%% the bridge's reply.
-spec hand_over(node(), term(), tuple(), {atom(), list()}) -> term().
hand_over(Node, Socket, {Mod, _, _, _, _} = Cb, {Request, Args}) ->
    {ok, Relay} = start(Socket, self(), Cb),
    try Mod:controlling_process(Socket, Relay) of
        ok ->
            MRef = monitor(process, Relay),
            Relay ! {pyssl_relay, socket_handed_over},
            Reply = pyssl:cb_call(Node, Request, [Relay | Args]),
            settled(Reply, MRef),
            Reply;
        Error ->
            Relay ! {pyssl_relay, not_handed_over},
            Error
    catch
        Class:Reason:Stack ->
            Relay ! {pyssl_relay, not_handed_over},
            erlang:raise(Class, Reason, Stack)
    end.

%%% The relay process --------------------------------------------------------------

start(Socket, Caller) -> start(Socket, Caller, ?GEN_TCP).

start(Socket, Caller, Cb) ->
    try supervisor:start_child(pyssl_relay_sup, [Socket, Caller, Cb])
    catch exit:{noproc, _} -> gen_statem:start(?MODULE, {Socket, Caller, Cb}, [])
    end.

%% @private
-spec start_link(port(), pid()) -> {ok, pid()}.
start_link(Socket, Caller) ->
    start_link(Socket, Caller, ?GEN_TCP).

%% @private
-spec start_link(term(), pid(), tuple()) -> {ok, pid()}.
start_link(Socket, Caller, Cb) ->
    gen_statem:start_link(?MODULE, {Socket, Caller, Cb}, []).

%% @private
callback_mode() -> state_functions.

%% @private
init({Socket, Caller, Cb}) ->
    MRef = monitor(process, Caller),
    {ok, handing_over, #{socket => Socket, caller => MRef, cb => Cb},
     [{state_timeout, ?ATTACH_TIMEOUT, give_up}]}.

%% @private The caller is making this process the socket's owner.
handing_over(info, {pyssl_relay, socket_handed_over}, Data) ->
    {next_state, attaching, Data, [{state_timeout, ?ATTACH_TIMEOUT, give_up}]};
handing_over(info, {pyssl_relay, not_handed_over}, _Data) ->
    {stop, normal};
handing_over(info, {'DOWN', MRef, process, _, _}, #{caller := MRef}) ->
    %% the caller died before the handover: the socket went with it
    {stop, normal};
handing_over(state_timeout, give_up, _Data) ->
    {stop, normal};
handing_over(info, _Other, _Data) ->
    {keep_state_and_data, [postpone]}.

%% @private The bridge sets up TLS: it attaches, or refuses and gives the socket
%% back or closes it.
attaching(info, {pyssl_relay, {give_back, To}}, #{socket := Socket, cb := Cb}) ->
    %% the options were refused: as with ssl, the socket is untouched
    ok = controlling_process(Cb, Socket, To),
    {stop, normal};
attaching(info, {pyssl_relay, close}, #{socket := Socket, cb := Cb}) ->
    close(Cb, Socket),
    {stop, normal};
attaching(info, {pyssl_relay, {attach, Bridge}}, #{socket := Socket, caller := MRef,
                                                   cb := ?GEN_TCP = Cb}) ->
    demonitor(MRef, [flush]),
    BRef = pyssl_bridges:monitor(Bridge),
    %% ssl sets these on an upgraded socket too; the bridge does the framing
    ok = inet:setopts(Socket, [binary, {packet, 0}, {header, 0}, {active, once}]),
    {next_state, relaying, #{socket => Socket, bridge => Bridge, bref => BRef, cb => Cb,
                             paused => false, armed => true}};
attaching(info, {pyssl_relay, {attach, Bridge}}, #{socket := Socket, caller := MRef, cb := Cb}) ->
    %% a user's transport: made with ssl's internal options, read with {active, N}
    demonitor(MRef, [flush]),
    BRef = pyssl_bridges:monitor(Bridge),
    {next_state, relaying, arm(#{socket => Socket, bridge => Bridge, bref => BRef, cb => Cb,
                                 paused => false, armed => false})};
attaching(info, {pyssl_relay, {attach, Bridge, paused}}, #{socket := Socket, caller := MRef,
                                                           cb := Cb}) ->
    %% accepted, not handshaken yet: nothing is read until the bridge resumes
    demonitor(MRef, [flush]),
    BRef = pyssl_bridges:monitor(Bridge),
    {next_state, relaying, #{socket => Socket, bridge => Bridge, bref => BRef, cb => Cb,
                             paused => true, armed => false}};
attaching(info, {'DOWN', MRef, process, _, _}, #{socket := Socket, caller := MRef, cb := Cb}) ->
    close(Cb, Socket),
    {stop, normal};
attaching(state_timeout, give_up, #{socket := Socket, cb := Cb}) ->
    close(Cb, Socket),
    {stop, normal};
attaching(info, _Other, _Data) ->
    %% e.g. {tcp, S, Data} of a socket that was active: relayed once attached
    {keep_state_and_data, [postpone]}.

%% @private Ciphertext both ways.
relaying(info, {Data, S, Bytes}, #{socket := S, bridge := B, cb := {_, Data, _, _, _} = Cb} = St) ->
    to_bridge(B, {pyssl_relay_in, self(), {data, Bytes}}),
    case Cb of
        ?GEN_TCP -> {keep_state, arm(St#{armed := false})};
        _ -> keep_state_and_data                    % {active, N}: until the passive message
    end;
relaying(info, {Passive, S}, #{socket := S, cb := {_, _, _, _, Passive}} = St) ->
    {keep_state, arm(St#{armed := false})};
relaying(info, {Closed, S}, #{socket := S, bridge := B, cb := {_, _, Closed, _, _}} = St) ->
    to_bridge(B, {pyssl_relay_in, self(), closed}),
    {next_state, peer_closed, St, [{state_timeout, 5000, give_up}]};
relaying(info, {Err, S, Reason}, #{socket := S, bridge := B, cb := {_, _, _, Err, _} = Cb}) ->
    to_bridge(B, {pyssl_relay_in, self(), {error, Reason}}),
    close(Cb, S),
    {stop, normal};
relaying(info, {pyssl_relay, {send, Bin}}, #{socket := S, bridge := B, cb := Cb}) ->
    case send(Cb, S, Bin) of
        ok -> keep_state_and_data;
        Error ->
            to_bridge(B, {pyssl_relay_in, self(), {error, reason(Error)}}),
            close(Cb, S),
            {stop, normal}
    end;
relaying(info, {pyssl_relay, {shutdown, How}}, #{socket := S, cb := {Mod, _, _, _, _}}) ->
    _ = catch Mod:shutdown(S, How),
    keep_state_and_data;
relaying(info, {pyssl_relay, pause}, St) ->
    {keep_state, St#{paused := true}};
relaying(info, {pyssl_relay, resume}, St) ->
    {keep_state, arm(St#{paused := false})};
relaying(info, {pyssl_relay, {call, From, Ref, Request}}, #{socket := S, cb := Cb}) ->
    to_bridge(From, {pyssl_relay_reply, Ref, request(Cb, S, Request)}),
    keep_state_and_data;
relaying(info, {pyssl_relay, close}, #{socket := S, cb := Cb}) ->
    close(Cb, S),
    {stop, normal};
relaying(info, {pyssl_relay, {hand_over, To, From, Ref}}, #{socket := S, cb := Cb}) ->
    %% TLS is over (ssl:close(S, {To, Timeout})): the socket goes to To as
    %% ssl leaves it (ssl_gen_statem:downgrade/3), with what this relay read but
    %% did not pass on yet
    _ = setopts(Cb, S, [{active, false}, {packet, 0}, {mode, binary}]),
    Unread = drain(Cb, S, []),
    Reply = case controlling_process(Cb, S, To) of
                ok -> {ok, S, Unread};
                E -> close(Cb, S), E
            end,
    to_bridge(From, {pyssl_relay_reply, Ref, Reply}),
    {stop, normal};
relaying(info, {'DOWN', BRef, process, B, _}, #{socket := S, bridge := B, bref := BRef, cb := Cb}) ->
    close(Cb, S),
    {stop, normal};
relaying(info, _Other, _St) ->
    keep_state_and_data.

%% @private The peer closed TCP; the bridge may still answer a downgrade that
%% raced with it (the socket then goes to the new owner closed, as from ssl), or
%% close.
peer_closed(info, {pyssl_relay, {hand_over, To, From, Ref}}, #{socket := S, cb := Cb}) ->
    _ = controlling_process(Cb, S, To),
    to_bridge(From, {pyssl_relay_reply, Ref, {ok, S, <<>>}}),
    {stop, normal};
peer_closed(info, {pyssl_relay, {call, From, Ref, Request}}, #{socket := S, cb := Cb}) ->
    to_bridge(From, {pyssl_relay_reply, Ref, request(Cb, S, Request)}),
    keep_state_and_data;
peer_closed(info, {pyssl_relay, close}, #{socket := S, cb := Cb}) ->
    close(Cb, S),
    {stop, normal};
peer_closed(info, {'DOWN', BRef, process, B, _}, #{socket := S, bridge := B, bref := BRef, cb := Cb}) ->
    close(Cb, S),
    {stop, normal};
peer_closed(state_timeout, give_up, #{socket := S, cb := Cb}) ->
    close(Cb, S),
    {stop, normal};
peer_closed(info, _Other, _St) ->
    keep_state_and_data.

%% The bytes this relay was sent but has not passed on: the `{DataTag, S, Data}'
%% messages in its mailbox, taken without waiting.
drain({_, Tag, _, _, _} = Cb, S, Acc) ->
    receive
        {Tag, S, Data} -> drain(Cb, S, [Data | Acc])
    after 0 ->
        iolist_to_binary(lists:reverse(Acc))
    end.

%% The bridge's processes are reached through pyssl_bridges (the port bridge's
%% through its port).
to_bridge(Dest, Msg) ->
    _ = pyssl_bridges:send(Dest, Msg),
    ok.

arm(#{paused := true} = St) -> St;
arm(#{armed := true} = St) -> St;
arm(#{socket := S, cb := ?GEN_TCP} = St) ->
    _ = inet:setopts(S, [{active, once}]),
    St#{armed := true};
arm(#{socket := S, cb := {_, _, Closed, _, _} = Cb} = St) ->
    %% tls_gen_connection:activate_socket/1: a refusal is taken as the close
    _ = case setopts(Cb, S, [{active, ?ACTIVE_N}]) of
            ok -> ok;
            _ -> self() ! {Closed, S}
        end,
    St#{armed := true}.

request(Cb, S, {getopts, Names}) -> getopts(Cb, S, Names);
request(Cb, S, {setopts, Opts}) -> setopts(Cb, S, Opts);
request(Cb, S, peername) -> apply_cb(Cb, peername, [S]);
request(Cb, S, sockname) -> apply_cb(Cb, sockname, [S]);
request(Cb, S, {getstat, Opts}) -> apply_cb(Cb, getstat, [S, Opts]);
request(_Cb, _S, Other) -> {error, {badarg, Other}}.

%% The transport's functions as tls_socket calls them: gen_tcp's options and
%% addresses are inet's. A user's module that fails or lacks the function
%% answers `{error, Reason}' here: the relay must outlive it.
setopts(?GEN_TCP, S, Opts) -> inet:setopts(S, Opts);
setopts(Cb, S, Opts) -> apply_cb(Cb, setopts, [S, Opts]).

getopts(?GEN_TCP, S, Names) -> inet:getopts(S, Names);
getopts(Cb, S, Names) -> apply_cb(Cb, getopts, [S, Names]).

send(Cb, S, Bin) -> apply_cb(Cb, send, [S, Bin]).

close(?GEN_TCP, S) -> gen_tcp:close(S);
close(Cb, S) -> _ = apply_cb(Cb, close, [S]), ok.

controlling_process(Cb, S, To) -> apply_cb(Cb, controlling_process, [S, To]).

apply_cb(?GEN_TCP, peername, [S]) -> inet:peername(S);
apply_cb(?GEN_TCP, sockname, [S]) -> inet:sockname(S);
apply_cb(?GEN_TCP, getstat, [S, Opts]) -> inet:getstat(S, Opts);
apply_cb({Mod, _, _, _, _}, Fun, Args) ->
    try apply(Mod, Fun, Args)
    catch Class:Reason -> {error, {Class, Reason}}
    end.

reason({error, Reason}) -> Reason;
reason(Other) -> Other.
