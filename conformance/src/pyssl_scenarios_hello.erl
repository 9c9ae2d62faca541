%% @doc Conformance scenarios: `{handshake, hello}' (the pause after the peer's
%% hello), `handshake_continue/2,3' and `handshake_cancel/1', on both sides.
%%
%% The extensions map holds the peer's key shares, new in each connection: the
%% scenarios compare its keys and the values that do not change.
-module(pyssl_scenarios_hello).

-export([all/0]).

-import(pyssl_scenarios, [mk/3, srv_opts/0, srv_opts/1, cli_opts/0, tls_only/1, server/2,
                          client/3, connect/3, listen/2, port/2, peer_result/1]).

-define(T, 5000).

all() ->
    V12 = tls_only('tlsv1.2'),
    [mk(hello, server_pause_continue, server_pause([], cli_opts(), continue([]))),
     mk(hello, server_pause_continue_12, server_pause([], V12 ++ cli_opts(), continue([]))),
     mk(hello, server_pause_picks_certificate,
        server_pause([], V12 ++ [{server_name_indication, "localhost"} | cli_opts()],
                     fun(S, _Ext) -> ok_send(pyssl_mod(S), S, srv_opts()) end,
                     srv_opts(wrong_host))),
     mk(hello, server_pause_cancel,
        server_pause([], cli_opts(), fun(S, _) -> (pyssl_mod(S)):handshake_cancel(S) end)),
     mk(hello, client_pause_continue, client_pause([], continue_client([]))),
     mk(hello, client_pause_continue_12, client_pause(V12, continue_client([]))),
     mk(hello, client_pause_cancel,
        client_pause([], fun(Mod, S, _) -> Mod:handshake_cancel(S) end)),
     mk(hello, client_pause_continue_verifies,
        client_pause_with(V12 ++ [{server_name_indication, "foobar"}],
                          fun(Mod, S, _) -> Mod:handshake_continue(S, cli_opts(), ?T) end))].

%% The module of a socket: pyssl's sockets are {sslsocket, pyssl, Ref}.
pyssl_mod({sslsocket, pyssl, _}) -> pyssl;
pyssl_mod(_) -> ssl.

shape(Ext) -> {lists:sort(maps:keys(Ext)), maps:without([key_share, renegotiation_info], Ext)}.

continue(Opts) ->
    fun(S, Ext) -> {shape(Ext), ok_send(pyssl_mod(S), S, Opts)} end.

ok_send(Mod, S, Opts) ->
    case Mod:handshake_continue(S, Opts, ?T) of
        {ok, S2} -> {Mod:send(S2, "hi"), S2 =:= S};
        E -> E
    end.

%% Server under test, listening with {handshake, hello}; an ssl client peer.
server_pause(Extra, CliOpts, Then) -> server_pause(Extra, CliOpts, Then, srv_opts()).

server_pause(Extra, CliOpts, Then, SrvOpts) ->
    fun(Mod) ->
            {ok, L} = listen(Mod, [{active, false}, {handshake, hello} | Extra ++ SrvOpts]),
            Peer = client(port(Mod, L), CliOpts,
                          fun({ok, C}) -> R = ssl:recv(C, 0, ?T), _ = ssl:close(C), R;
                             (E) -> E end),
            Out = case Mod:transport_accept(L, ?T) of
                      {ok, T} ->
                          case Mod:handshake(T, ?T) of
                              {ok, S, Ext} -> Then(S, Ext);
                              Other -> {handshake, Other}
                          end;
                      Other -> {accept, Other}
                  end,
            Mod:close(L),
            {Out, peer_result(Peer)}
    end.

continue_client(Opts) ->
    fun(Mod, S, Ext) ->
            case Mod:handshake_continue(S, Opts, ?T) of
                {ok, S2} -> {shape(Ext), Mod:send(S2, "hi"), S2 =:= S};
                E -> E
            end
    end.

%% Client under test, connecting with {handshake, hello}; an ssl server peer.
client_pause(Extra, Then) ->
    client_pause_with(Extra ++ cli_opts(), Then).

client_pause_with(CliOpts, Then) ->
    fun(Mod) ->
            {Port, Peer} = server(srv_opts(), fun({ok, S}) -> R = ssl:recv(S, 0, ?T), _ = ssl:close(S), R;
                                                 (E) -> E end),
            Out = case connect(Mod, Port, [{active, false}, {handshake, hello} | CliOpts]) of
                      {ok, S, Ext} -> R = Then(Mod, S, Ext), _ = Mod:close(S), R;
                      Other -> {connect, Other}
                  end,
            {Out, peer_result(Peer)}
    end.
