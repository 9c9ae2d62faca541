%% @doc The conformance scenarios (see {@link pyssl_conformance}) and the
%% helpers they share. Each area lives in its own module
%% (`pyssl_scenarios_options', `_data', `_conn', `_verify'); {@link all/0}
%% gathers them.
%%
%% Conventions: the side under test calls `Mod:F(...)'; its peer is always the
%% BEAM's own `ssl', run in a linked helper process that stays alive (and keeps
%% its socket open) until the scenario process ends. Every blocking call has a
%% timeout; results are plain terms that do not depend on timing (data is
%% reported whole or as size and digest, never as the chunks it came in).
-module(pyssl_scenarios).

-export([all/0]).
-export([srv_opts/0, srv_opts/1, cli_opts/0, cli_opts/1,
         server/2, client/3, peer_result/1, signal/2, wait_signal/0,
         connect/3, listen/2, port/2, accept/2,
         with_server/5, with_client/5,
         refused_port/0, collect/3, digest/1, flush/0, mk/3, tls_only/1, settled/1]).

-define(T, 5000).

%% @doc Every scenario, in a stable order.
-spec all() -> [pyssl_conformance:scenario()].
all() ->
    pyssl_scenarios_options:all() ++
        pyssl_scenarios_data:all() ++
        pyssl_scenarios_conn:all() ++
        pyssl_scenarios_verify:all() ++
        pyssl_scenarios_hello:all() ++
        pyssl_scenarios_sessions:all() ++
        pyssl_scenarios_info:all() ++
        pyssl_scenarios_cbinfo:all() ++
        pyssl_scenarios_srp:all().

%% @doc A scenario with its area.
mk(Area, Name, Fun) -> {Name, Fun, #{area => Area}}.

%%% Options of the two sides -----------------------------------------------------

srv_opts() -> srv_opts(rsa).
srv_opts(Chain) -> pyssl_certs:opts(Chain, server).

cli_opts() -> cli_opts(rsa).
cli_opts(Chain) -> [{verify, verify_peer} | pyssl_certs:opts(Chain, client)].

%% @doc Restrict to one version.
tls_only(V) -> [{versions, [V]}].

%%% The ssl peer -----------------------------------------------------------------

%% @doc Start an ssl server peer on 127.0.0.1, port 0. It accepts one
%% connection, runs `Fun(HandshakeResult)' and keeps the result for
%% {@link peer_result/1}. Returns `{Port, Peer}'.
server(Opts, Fun) ->
    {ok, L} = ssl:listen(0, [{ip, {127, 0, 0, 1}}, {active, false}, {reuseaddr, true} | Opts]),
    {ok, {_, Port}} = ssl:sockname(L),
    Peer = peer(fun() ->
                        case ssl:transport_accept(L, ?T) of
                            {ok, T} -> Fun(ssl:handshake(T, ?T));
                            {error, _} = E -> Fun({accept, E})
                        end
                end),
    ok = ssl:controlling_process(L, Peer),
    Peer ! {go, self()},
    {Port, Peer}.

%% @doc Start an ssl client peer that connects to 127.0.0.1:Port as "localhost"
%% and runs `Fun(ConnectResult)'.
client(Port, Opts, Fun) ->
    Peer = peer(fun() ->
                        Fun(ssl:connect("localhost", Port, [{active, false} | Opts], ?T))
                end),
    Peer ! {go, self()},
    Peer.

peer(Fun) ->
    Parent = self(),
    spawn_link(fun() ->
                       MRef = erlang:monitor(process, Parent),
                       receive {go, Parent} -> ok end,
                       R = try Fun() catch C:E -> {peer_crash, C, E} end,
                       Parent ! {peer_result, self(), R},
                       receive {'DOWN', MRef, process, Parent, _} -> ok end
               end).

%% @doc The result of a peer's fun (or `peer_timeout').
peer_result(Peer) ->
    receive {peer_result, Peer, R} -> R after 2 * ?T -> peer_timeout end.

%% @doc Tell a peer (or the scenario process) to go on.
signal(Pid, Msg) -> Pid ! {signal, Msg}, ok.

wait_signal() ->
    receive {signal, M} -> M after 2 * ?T -> signal_timeout end.

%%% The side under test ------------------------------------------------------------

connect(Mod, Port, Opts) -> Mod:connect("localhost", Port, Opts, ?T).

listen(Mod, Opts) -> Mod:listen(0, [{ip, {127, 0, 0, 1}} | Opts]).

port(Mod, L) ->
    {ok, {_, P}} = Mod:sockname(L),
    P.

accept(Mod, L) ->
    case Mod:transport_accept(L, ?T) of
        {ok, T} -> Mod:handshake(T, ?T);
        Other -> {accept, Other}
    end.

%% @doc Client under test: an ssl server peer runs `SrvFun(HandshakeResult)';
%% `Mod:connect' with `CliOpts', then `CliFun(Socket)' (or the connect error),
%% then `Mod:close(Socket)' so that the peer's pending read ends.
%% Result `{ClientSide, PeerSide}'.
with_server(Mod, SrvOpts, CliOpts, SrvFun, CliFun) ->
    {Port, Peer} = server(SrvOpts, SrvFun),
    C = case connect(Mod, Port, CliOpts) of
            {ok, S} -> R = CliFun(S), _ = Mod:close(S), R;
            Other -> {connect, Other}
        end,
    {C, peer_result(Peer)}.

%% @doc Server under test: `Mod:listen' with `SrvOpts', an ssl client peer runs
%% `CliFun(ConnectResult)', `Mod:transport_accept' and `Mod:handshake', then
%% `SrvFun(Socket)'. Result `{ServerSide, PeerSide}'.
with_client(Mod, SrvOpts, CliOpts, SrvFun, CliFun) ->
    case listen(Mod, SrvOpts) of
        {ok, L} ->
            Peer = client(port(Mod, L), CliOpts, CliFun),
            S = case accept(Mod, L) of
                    {ok, T} -> R = SrvFun(T), _ = Mod:close(T), R;
                    Other -> {handshake, Other}
                end,
            {S, peer_result(Peer)};
        Other ->
            {listen, Other}
    end.

%% @doc Wait until the processes behind a BEAM ssl socket (its connection
%% process and its sender) have ended. ssl tells the owner that the socket
%% closed (`ssl_closed', a recv's `{error, closed}', a handover to a dead
%% process) while they are still ending, and the sender still takes a send
%% made at that instant; a scenario that asks what every call answers once the
%% socket is closed waits for this instead of for some time. A pyssl socket
%% has no such processes (the bridge closes the socket before it tells).
%% An ssl listen socket is settled once its gen_tcp port has gone: a listener
%% closed by its owner's exit closes with the port, a moment after the owner's
%% monitors hear of the exit, and a transport_accept made in that moment answers
%% {error, einval} where one made after it answers {error, closed}.
settled({sslsocket, _, {Port, _}}) when is_port(Port) ->
    MRef = erlang:monitor(port, Port),
    receive {'DOWN', MRef, port, Port, _} -> ok after ?T -> still_open end;
settled({sslsocket, _, Pids}) when is_list(Pids) ->
    Ended = [receive {'DOWN', Ref, process, _, _} -> true after ?T -> false end
             || Ref <- [erlang:monitor(process, P) || P <- Pids, is_pid(P)]],
    case lists:all(fun(E) -> E end, Ended) of
        true -> ok;
        false -> still_running
    end;
settled(_) ->
    ok.

%% @doc A port on 127.0.0.1 where nothing listens.
refused_port() ->
    {ok, L} = gen_tcp:listen(0, [{ip, {127, 0, 0, 1}}]),
    {ok, P} = inet:port(L),
    ok = gen_tcp:close(L),
    P.

%% @doc Collect active-mode messages of `S': `{count, N}' messages (or until
%% closed/error), or `{bytes, N}' bytes of data (concatenated). Returns the list
%% of events: `{data, D}', `closed', `{error, R}', `passive', `timeout'.
collect(S, {count, N}, Timeout) -> collect_count(S, N, Timeout, []);
collect(S, {bytes, N}, Timeout) -> collect_bytes(S, N, Timeout, []).

collect_count(_S, 0, _T, Acc) -> lists:reverse(Acc);
collect_count(S, N, T, Acc) ->
    receive
        {ssl, S, D} -> collect_count(S, N - 1, T, [{data, D} | Acc]);
        {ssl_closed, S} -> lists:reverse([closed | Acc]);
        {ssl_error, S, R} -> lists:reverse([{error, R} | Acc]);
        {ssl_passive, S} -> collect_count(S, N - 1, T, [passive | Acc])
    after T -> lists:reverse([timeout | Acc])
    end.

collect_bytes(_S, N, _T, Acc) when N =< 0 -> {data, iolist_to_binary(lists:reverse(Acc))};
collect_bytes(S, N, T, Acc) ->
    receive
        {ssl, S, D} -> collect_bytes(S, N - iolist_size(D), T, [D | Acc]);
        {ssl_closed, S} -> {closed, iolist_size(Acc)};
        {ssl_error, S, R} -> {{error, R}, iolist_size(Acc)}
    after T -> {timeout, iolist_size(Acc)}
    end.

%% @doc Size, type and a short digest of data (for big payloads).
digest(D) when is_binary(D) -> {binary, byte_size(D), binary:part(erlang:md5(D), 0, 4)};
digest(D) when is_list(D) ->
    B = iolist_to_binary(D),
    {list, byte_size(B), binary:part(erlang:md5(B), 0, 4)}.

%% @doc ssl messages waiting in the mailbox (none expected, so no wait).
flush() ->
    receive
        {ssl, _, _} = M -> [M | flush()];
        {ssl_closed, _} = M -> [M | flush()];
        {ssl_error, _, _} = M -> [M | flush()];
        {ssl_passive, _} = M -> [M | flush()]
    after 0 -> []
    end.
