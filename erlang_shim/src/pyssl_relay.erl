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
-module(pyssl_relay).
-behaviour(gen_statem).

-export([upgrade/5]).
-export([start_link/2]).
-export([callback_mode/0, init/1, handing_over/3, attaching/3, relaying/3, peer_closed/3]).

-define(ATTACH_TIMEOUT, 30000).

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
    Names = tls_socket:emulated_options(),
    case inet:getopts(Socket, Names) of
        {ok, Original} ->
            Expanded = [case O of binary -> {mode, binary}; list -> {mode, list}; _ -> O end
                        || O <- Opts],
            try tls_socket:emulated_options(Expanded) of
                {_Inet, Emulated} ->
                    Merged = lists:ukeymerge(1, Emulated, Original),
                    [{Name, proplists:get_value(Name, Merged)} || Name <- Names,
                                                                  lists:keymember(Name, 1, Merged)]
            catch
                _:_ -> []
            end;
        {error, _} ->
            []
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

%%% The relay process --------------------------------------------------------------

start(Socket, Caller) ->
    try supervisor:start_child(pyssl_relay_sup, [Socket, Caller])
    catch exit:{noproc, _} -> gen_statem:start(?MODULE, {Socket, Caller}, [])
    end.

%% @private
-spec start_link(port(), pid()) -> {ok, pid()}.
start_link(Socket, Caller) ->
    gen_statem:start_link(?MODULE, {Socket, Caller}, []).

%% @private
callback_mode() -> state_functions.

%% @private
init({Socket, Caller}) ->
    MRef = monitor(process, Caller),
    {ok, handing_over, #{socket => Socket, caller => MRef},
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
attaching(info, {pyssl_relay, {give_back, To}}, #{socket := Socket}) ->
    %% the options were refused: as with ssl, the socket is untouched
    ok = gen_tcp:controlling_process(Socket, To),
    {stop, normal};
attaching(info, {pyssl_relay, close}, #{socket := Socket}) ->
    gen_tcp:close(Socket),
    {stop, normal};
attaching(info, {pyssl_relay, {attach, Bridge}}, #{socket := Socket, caller := MRef}) ->
    demonitor(MRef, [flush]),
    BRef = pyssl_bridges:monitor(Bridge),
    %% ssl sets these on an upgraded socket too; the bridge does the framing
    ok = inet:setopts(Socket, [binary, {packet, 0}, {header, 0}, {active, once}]),
    {next_state, relaying, #{socket => Socket, bridge => Bridge, bref => BRef,
                             paused => false, armed => true}};
attaching(info, {'DOWN', MRef, process, _, _}, #{socket := Socket, caller := MRef}) ->
    gen_tcp:close(Socket),
    {stop, normal};
attaching(state_timeout, give_up, #{socket := Socket}) ->
    gen_tcp:close(Socket),
    {stop, normal};
attaching(info, _Other, _Data) ->
    %% e.g. {tcp, S, Data} of a socket that was active: relayed once attached
    {keep_state_and_data, [postpone]}.

%% @private Ciphertext both ways.
relaying(info, {tcp, S, Bytes}, #{socket := S, bridge := B} = St) ->
    to_bridge(B, {pyssl_relay_in, self(), {data, Bytes}}),
    {keep_state, arm(St#{armed := false})};
relaying(info, {tcp_closed, S}, #{socket := S, bridge := B} = St) ->
    to_bridge(B, {pyssl_relay_in, self(), closed}),
    {next_state, peer_closed, St, [{state_timeout, 5000, give_up}]};
relaying(info, {tcp_error, S, Reason}, #{socket := S, bridge := B}) ->
    to_bridge(B, {pyssl_relay_in, self(), {error, Reason}}),
    gen_tcp:close(S),
    {stop, normal};
relaying(info, {pyssl_relay, {send, Bin}}, #{socket := S, bridge := B}) ->
    case gen_tcp:send(S, Bin) of
        ok -> keep_state_and_data;
        {error, Reason} ->
            to_bridge(B, {pyssl_relay_in, self(), {error, Reason}}),
            gen_tcp:close(S),
            {stop, normal}
    end;
relaying(info, {pyssl_relay, {shutdown, How}}, #{socket := S}) ->
    _ = gen_tcp:shutdown(S, How),
    keep_state_and_data;
relaying(info, {pyssl_relay, pause}, St) ->
    {keep_state, St#{paused := true}};
relaying(info, {pyssl_relay, resume}, St) ->
    {keep_state, arm(St#{paused := false})};
relaying(info, {pyssl_relay, {call, From, Ref, Request}}, #{socket := S}) ->
    to_bridge(From, {pyssl_relay_reply, Ref, request(S, Request)}),
    keep_state_and_data;
relaying(info, {pyssl_relay, close}, #{socket := S}) ->
    gen_tcp:close(S),
    {stop, normal};
relaying(info, {pyssl_relay, {hand_over, To, From, Ref}}, #{socket := S}) ->
    %% TLS is over (ssl:close(S, {To, Timeout})): the socket goes to To as
    %% ssl leaves it, with what this relay read but did not pass on yet
    _ = inet:setopts(S, [{active, false}, {packet, 0}, {mode, binary}]),
    Unread = drain(S, []),
    Reply = case gen_tcp:controlling_process(S, To) of
                ok -> {ok, S, Unread};
                {error, _} = E -> gen_tcp:close(S), E
            end,
    to_bridge(From, {pyssl_relay_reply, Ref, Reply}),
    {stop, normal};
relaying(info, {'DOWN', BRef, process, B, _}, #{socket := S, bridge := B, bref := BRef}) ->
    gen_tcp:close(S),
    {stop, normal};
relaying(info, _Other, _St) ->
    keep_state_and_data.

%% @private The peer closed TCP; the bridge may still answer a downgrade that
%% raced with it (the socket then goes to the new owner closed, as from ssl), or
%% close.
peer_closed(info, {pyssl_relay, {hand_over, To, From, Ref}}, #{socket := S}) ->
    _ = gen_tcp:controlling_process(S, To),
    to_bridge(From, {pyssl_relay_reply, Ref, {ok, S, <<>>}}),
    {stop, normal};
peer_closed(info, {pyssl_relay, close}, #{socket := S}) ->
    gen_tcp:close(S),
    {stop, normal};
peer_closed(info, {'DOWN', BRef, process, B, _}, #{socket := S, bridge := B, bref := BRef}) ->
    gen_tcp:close(S),
    {stop, normal};
peer_closed(state_timeout, give_up, #{socket := S}) ->
    gen_tcp:close(S),
    {stop, normal};
peer_closed(info, _Other, _St) ->
    keep_state_and_data.

%% The bytes this relay was sent but has not passed on: the `{tcp, S, Data}'
%% messages in its mailbox, taken without waiting.
drain(S, Acc) ->
    receive
        {tcp, S, Data} -> drain(S, [Data | Acc])
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
arm(#{socket := S} = St) ->
    _ = inet:setopts(S, [{active, once}]),
    St#{armed := true}.

request(S, {getopts, Names}) -> inet:getopts(S, Names);
request(S, {setopts, Opts}) -> inet:setopts(S, Opts);
request(S, peername) -> inet:peername(S);
request(S, sockname) -> inet:sockname(S);
request(_S, Other) -> {error, {badarg, Other}}.
