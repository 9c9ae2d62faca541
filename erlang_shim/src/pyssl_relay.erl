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
-module(pyssl_relay).

-export([upgrade/5]).
-export([init/2]).

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
            Relay = proc_lib:spawn(?MODULE, init, [Socket, self()]),
            case gen_tcp:controlling_process(Socket, Relay) of
                ok ->
                    MRef = monitor(process, Relay),
                    Relay ! {pyssl_relay, socket_handed_over},
                    Reply = pyssl:upgrade_call(Node, [Role, Relay, Peer, Local, Inherited, Opts, Timeout]),
                    settled(Reply, MRef),
                    Reply;
                {error, _} = E ->
                    exit(Relay, kill),
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

%% @private
init(Socket, Caller) ->
    MRef = monitor(process, Caller),
    receive
        {pyssl_relay, socket_handed_over} -> ok
    after ?ATTACH_TIMEOUT -> exit(normal)
    end,
    receive
        {pyssl_relay, {give_back, To}} ->
            %% the options were refused: as with ssl, the socket is untouched
            ok = gen_tcp:controlling_process(Socket, To);
        {pyssl_relay, close} ->
            gen_tcp:close(Socket);
        {pyssl_relay, {attach, Bridge}} ->
            demonitor(MRef, [flush]),
            BRef = monitor(process, Bridge),
            %% ssl sets these on an upgraded socket too; the bridge does the framing
            ok = inet:setopts(Socket, [binary, {packet, 0}, {header, 0}, {active, once}]),
            loop(#{socket => Socket, bridge => Bridge, bref => BRef, paused => false,
                   armed => true});
        {'DOWN', MRef, process, Caller, _} ->
            gen_tcp:close(Socket)
    after ?ATTACH_TIMEOUT ->
            gen_tcp:close(Socket)
    end.

loop(#{socket := S, bridge := B, bref := BRef} = St) ->
    receive
        {tcp, S, Data} ->
            B ! {pyssl_relay_in, self(), {data, Data}},
            loop(arm(St#{armed := false}));
        {tcp_closed, S} ->
            B ! {pyssl_relay_in, self(), closed},
            closed(St);
        {tcp_error, S, Reason} ->
            B ! {pyssl_relay_in, self(), {error, Reason}},
            gen_tcp:close(S);
        {pyssl_relay, {send, Bin}} ->
            case gen_tcp:send(S, Bin) of
                ok -> loop(St);
                {error, Reason} ->
                    B ! {pyssl_relay_in, self(), {error, Reason}},
                    gen_tcp:close(S)
            end;
        {pyssl_relay, {shutdown, How}} ->
            _ = gen_tcp:shutdown(S, How),
            loop(St);
        {pyssl_relay, pause} ->
            loop(St#{paused := true});
        {pyssl_relay, resume} ->
            loop(arm(St#{paused := false}));
        {pyssl_relay, {call, From, Ref, Request}} ->
            From ! {pyssl_relay_reply, Ref, request(S, Request)},
            loop(St);
        {pyssl_relay, close} ->
            gen_tcp:close(S);
        {pyssl_relay, {hand_over, To, From, Ref}} ->
            %% TLS is over (ssl:close(S, {To, Timeout})): the socket goes to To as
            %% ssl leaves it, with what this relay read but did not pass on yet
            _ = inet:setopts(S, [{active, false}, {packet, 0}, {mode, binary}]),
            Unread = drain(S, []),
            Reply = case gen_tcp:controlling_process(S, To) of
                        ok -> {ok, S, Unread};
                        {error, _} = E -> gen_tcp:close(S), E
                    end,
            From ! {pyssl_relay_reply, Ref, Reply};
        {'DOWN', BRef, process, B, _} ->
            gen_tcp:close(S);
        _Other ->
            loop(St)
    end.

%% The peer closed TCP; the bridge may still answer a downgrade that raced with
%% it (the socket then goes to the new owner closed, as from ssl), or close.
closed(#{socket := S, bridge := B, bref := BRef}) ->
    receive
        {pyssl_relay, {hand_over, To, From, Ref}} ->
            _ = gen_tcp:controlling_process(S, To),
            From ! {pyssl_relay_reply, Ref, {ok, S, <<>>}};
        {pyssl_relay, close} ->
            gen_tcp:close(S);
        {'DOWN', BRef, process, B, _} ->
            gen_tcp:close(S)
    after 5000 ->
            gen_tcp:close(S)
    end.

drain(S, Acc) ->
    receive
        {tcp, S, Data} -> drain(S, [Data | Acc])
    after 0 ->
        iolist_to_binary(lists:reverse(Acc))
    end.

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
