%% Helpers of tests/integration/test_faults.py: TLS peers that report how their connection
%% ended, transfer loops that say when they are in flight, peers that reset TCP,
%% and TCP peers that leave a handshake pending. Everything that waits waits for
%% a message, a monitor or a socket event, with ?WAIT as the bound of a step that
%% should have happened (the test then fails with the step's name), never a sleep.
%%
%% Mod is ssl or pyssl: the same loops drive both, so results compare directly.
-module(pyssl_faults).
-export([chunk/0, collect/2,
         owner/6, owner/7, client/3, server/3, pending/3, await_request/2,
         sender/4, receiver/5, settle/1, after_end/2,
         peer/3, ssl_peer_server/3,
         reset_server/3, reset_client/4, reset/1, reset_case/5,
         hello_sink/1, stall_proxy/2]).

-define(WAIT, 30000).

chunk() -> binary:copy(<<"0123456789abcdef">>, 4096).      % 64 KiB

%% N messages {Tag, Key, Value}: a sorted list of {Key, Value}, or {timeout, What, Got}.
collect(Tag, N) -> collect(Tag, N, [], erlang:monotonic_time(millisecond) + ?WAIT).

collect(_Tag, 0, Acc, _Deadline) -> lists:sort(Acc);
collect(Tag, N, Acc, Deadline) ->
    Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
    receive
        {Tag, K, V} -> collect(Tag, N - 1, [{K, V} | Acc], Deadline)
    after Left -> {timeout, Tag, lists:sort(Acc)}
    end.

%%% Owners ---------------------------------------------------------------------------

%% An owner process: Connect() gives it its socket ({ok, S}); it sends Tag (idle:
%% the socket is passive and it reads the peer's echo, then sets Active), then
%% transfers (send: 64 KiB chunks until a send fails; recv: until the socket ends;
%% idle: waits for the end, with a pending recv(S, 0, infinity) when passive). Report gets
%% {owner_up, Pid, S}, {in_flight, Pid} (send, recv), {owner_end, Pid, Result},
%% and, when the owner is sent after_end, {after_end, Pid, after_end(Mod, S)}.
%% Result: {Bytes, End} for recv and idle; {Bytes, SendResult, End} for send,
%% where End is how the socket ended for the owner (ssl_closed, {ssl_error, R},
%% {recv_error, R}, or {timeout, Step}).
owner(Mod, Connect, Tag, Direction, Active, Report) ->
    owner(Mod, Connect, Tag, Direction, Active, Report, 1 bsl 20).

%% Threshold: the bytes after which the transfer is in flight (a sender whose peer
%% reads nothing may have to stop before 1 MiB: the kernel's buffers, pyssl's window)
owner(Mod, Connect, Tag, Direction, Active, Report, Threshold) ->
    Pid = spawn(fun() -> receive go -> ok end,
                         owner_run(Mod, Connect, Tag, Direction, Active, Report, Threshold) end),
    %% a passive idle owner's recv(S, 0, infinity) is awaited with await_request/2
    _ = Direction =:= idle andalso Active =:= false andalso erlang:trace(Pid, true, [send]),
    Pid ! go,
    Pid.

owner_run(Mod, Connect, Tag, Direction, Active, Report, Threshold) ->
    {ok, S} = Connect(),
    ok = Mod:send(S, Tag),
    case Direction of
        idle ->     % made passive: the peer's echo, then the Active mode
            {ok, Tag} = Mod:recv(S, byte_size(Tag), ?WAIT),
            ok = Mod:setopts(S, [{active, Active}]);
        _ ->
            ok
    end,
    Report ! {owner_up, self(), S},
    Result = case Direction of
                 recv ->
                     receiver(Mod, S, Active, Report, Threshold);
                 idle when Active =:= false ->
                     {0, case Mod:recv(S, 0, infinity) of
                             {error, R} -> {recv_error, R};
                             Other -> {unexpected, Other}
                         end};
                 idle ->
                     receiver(Mod, S, Active, Report, 1);
                 send ->
                     {N, SendResult} = sender(Mod, S, Report, Threshold),
                     {N, SendResult, end_of(Mod, S, Active)}
             end,
    Report ! {owner_end, self(), Result},
    receive after_end -> Report ! {after_end, self(), after_end(Mod, S)} end.

%% How the socket ends for an owner that does not read its data.
end_of(Mod, S, false) ->
    case Mod:recv(S, 0, ?WAIT) of
        {error, timeout} -> {timeout, recv};
        {error, R} -> {recv_error, R};
        {ok, _} -> end_of(Mod, S, false)
    end;
end_of(_Mod, S, _Active) ->
    receive
        {ssl_closed, S} -> ssl_closed;
        {ssl_error, S, R} -> {ssl_error, R}
    after ?WAIT -> {timeout, active_message}
    end.

%% Connect funs for owner/6: a client of Port, or a server whose listen port
%% goes to Report as {listening, self(), Port}.
client(Mod, Port, Opts) ->
    fun() -> Mod:connect({127, 0, 0, 1}, Port, Opts ++ [{verify, verify_none}], ?WAIT) end.

server(Mod, Opts, Report) ->
    fun() ->
            {ok, L} = Mod:listen(0, [{reuseaddr, true} | Opts]),
            {ok, {_, Port}} = Mod:sockname(L),
            Report ! {listening, self(), Port},
            {ok, T} = Mod:transport_accept(L, ?WAIT),
            R = Mod:handshake(T, ?WAIT),
            Mod:close(L),
            R
    end.

%% Run Fun() in a new process whose result goes to Report as {pending_result,
%% Pid, Result}; returns Pid once its request for pyssl:Function is with the bridge.
pending(Fun, Function, Report) ->
    Pid = spawn(fun() -> receive go -> ok end, Report ! {pending_result, self(), Fun()} end),
    erlang:trace(Pid, true, [send]),
    Pid ! go,
    case await_request(Pid, fun(Req) -> element(1, Req) =:= Function end) of
        ok -> Pid;
        Timeout -> Timeout
    end.

%% Returns ok once Pid (traced with [send] by the caller) has sent the bridge a
%% request that Match accepts and the bridge has taken it: a call sent after it
%% came back (the bridge's service takes the requests of a node in order).
await_request(Pid, Match) ->
    R = await_request(Pid, Match, erlang:monotonic_time(millisecond) + ?WAIT),
    catch erlang:trace(Pid, false, [send]),
    flush_trace(Pid),
    case R of
        {ok, B} -> _ = gen_server:call({pyssl, B}, {versions, []}, ?WAIT), ok;
        Timeout -> Timeout
    end.

await_request(Pid, Match, Deadline) ->
    receive
        {trace, Pid, send, {'$gen_call', _, Req}, {pyssl, B}} ->
            case Match(Req) of
                true -> {ok, B};
                false -> await_request(Pid, Match, Deadline)
            end
    after max(0, Deadline - erlang:monotonic_time(millisecond)) ->
        {timeout, request_sent}
    end.

flush_trace(Pid) ->
    receive {trace, Pid, _, _, _} -> flush_trace(Pid) after 0 -> ok end.

%%% Transfer loops of an owner ------------------------------------------------------

%% Send 64 KiB chunks until a send does not return ok; Report gets
%% {in_flight, self()} once Threshold bytes went. Returns {Bytes, Result}.
sender(Mod, S, Report, Threshold) ->
    send_loop(Mod, S, chunk(), 0, Report, Threshold).

send_loop(Mod, S, C, N, Report, T) ->
    case Mod:send(S, C) of
        ok ->
            N1 = N + byte_size(C),
            _ = N < T andalso N1 >= T andalso (Report ! {in_flight, self()}),
            send_loop(Mod, S, C, N1, Report, T);
        Other ->
            {N, Other}
    end.

%% Receive until the socket ends (Active: true | once | false, as the socket is
%% set); Report gets {in_flight, self()} once Threshold bytes came. Returns
%% {Bytes, End}: End is ssl_closed, {ssl_error, R}, {recv_error, R} or
%% {timeout, Step} (nothing for ?WAIT).
receiver(Mod, S, Active, Report, Threshold) ->
    recv_loop(Mod, S, Active, 0, Report, Threshold).

recv_loop(Mod, S, false, N, Report, T) ->
    case Mod:recv(S, 0, ?WAIT) of
        {ok, D} -> recv_loop(Mod, S, false, got(N, D, Report, T), Report, T);
        {error, timeout} -> {N, {timeout, recv}};
        {error, R} -> {N, {recv_error, R}}
    end;
recv_loop(Mod, S, Active, N, Report, T) ->
    receive
        {ssl, S, D} ->
            _ = Active =:= once andalso Mod:setopts(S, [{active, once}]),
            recv_loop(Mod, S, Active, got(N, D, Report, T), Report, T);
        {ssl_closed, S} -> {N, ssl_closed};
        {ssl_error, S, R} -> {N, {ssl_error, R}}
    after ?WAIT -> {N, {timeout, active_message}}
    end.

got(N, D, Report, T) ->
    N1 = N + iolist_size(D),
    _ = N < T andalso N1 >= T andalso (Report ! {in_flight, self()}),
    N1.

%% Returns once the socket's connection is over: for ssl, its connection and
%% sender processes have ended (ssl tells the owner while its connection process
%% is ending, and a call at that instant may still reach it); a pyssl socket is
%% over for calls once its owner has been told (the bridge guarantees it).
settle({sslsocket, pyssl, _}) -> ok;
settle({sslsocket, _, Pids}) when is_list(Pids) ->
    Mons = [erlang:monitor(process, P) || P <- Pids, is_pid(P)],
    R = [receive {'DOWN', M, process, _, _} -> ok after ?WAIT -> {timeout, ssl_connection_end} end
         || M <- Mons],
    case lists:usort(R) of [ok] -> ok; [] -> ok; Other -> Other end.

%% What calls on an ended socket give, then what is in the mailbox: the names of
%% the messages about the socket, and any other message (there should be none).
after_end(Mod, S) ->
    ok = settle(S),
    Send = Mod:send(S, <<"x">>),
    Recv = Mod:recv(S, 0, 0),
    Setopts = Mod:setopts(S, [{active, once}]),
    {messages, Msgs} = process_info(self(), messages),
    About = fun(M) -> is_tuple(M) andalso tuple_size(M) >= 2 andalso element(2, M) =:= S end,
    {Send, Recv, Setopts, [element(1, M) || M <- Msgs, About(M)], [M || M <- Msgs, not About(M)]}.

%%% TLS peers (BEAM ssl) that report ------------------------------------------------

%% Run on an ssl socket (passive, binary): the first 8 bytes are the tag the owner
%% sends; then echo | source (send until an error) | sink (receive until an error).
%% Report gets {peer_up, Tag, self()}, then {peer_end, Tag, {Role, {Bytes, {send |
%% recv, Error}}}} when the connection ends.
peer(S, Role, Report) ->
    ok = ssl:setopts(S, [{active, false}, {mode, binary}]),
    case ssl:recv(S, 8) of
        {ok, Tag} ->
            Report ! {peer_up, Tag, self()},
            _ = Role =:= echo andalso ssl:send(S, Tag),
            Res = case Role of
                      echo -> echo(S, 0);
                      source -> source(S, chunk(), 0);
                      sink -> sink(S, 0)
                  end,
            ssl:close(S),
            Report ! {peer_end, Tag, {Role, Res}};
        Error ->
            Report ! {peer_end, no_tag, Error}
    end.

echo(S, N) ->
    case ssl:recv(S, 0) of
        {ok, D} ->
            case ssl:send(S, D) of
                ok -> echo(S, N + byte_size(D));
                E -> {N, {send, E}}
            end;
        E -> {N, {recv, E}}
    end.

source(S, C, N) ->
    case ssl:send(S, C) of
        ok -> source(S, C, N + byte_size(C));
        E -> {N, {send, E}}
    end.

sink(S, N) ->
    case ssl:recv(S, 0) of
        {ok, D} -> sink(S, N + byte_size(D));
        E -> {N, {recv, E}}
    end.

%% A BEAM ssl server running peer(S, Role, Report) on each connection: its port.
ssl_peer_server(Opts, Role, Report) ->
    pyssl_test_loop:server(Opts, fun(S) -> peer(S, Role, Report) end).

%%% Peers that reset the TCP connection -----------------------------------------------

%% A TLS server over a gen_tcp socket, so that the test can reset the TCP
%% connection under it. Role: source (sends until its send fails) or stall
%% (reads nothing). Parent gets {reset_peer, Ctl} once the handshake is done; Ctl resets
%% on reset/1. Returns the port.
reset_server(SslOpts, Role, Parent) ->
    {ok, L} = gen_tcp:listen(0, [binary, {active, false}, {reuseaddr, true}]),
    {ok, Port} = inet:port(L),
    spawn(fun() ->
                  {ok, T} = gen_tcp:accept(L),
                  gen_tcp:close(L),
                  {ok, S} = ssl:handshake(T, SslOpts, ?WAIT),
                  reset_ctl(T, S, Role, Parent)
          end),
    Port.

%% The same as a client of Port.
reset_client(Port, SslOpts, Role, Parent) ->
    spawn(fun() ->
                  {ok, T} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}]),
                  {ok, S} = ssl:connect(T, SslOpts, ?WAIT),
                  reset_ctl(T, S, Role, Parent)
          end).

reset_ctl(T, S, Role, Parent) ->
    Self = self(),
    _ = Role =:= source andalso
        spawn(fun() -> Self ! {source_end, source(S, chunk(), 0)} end),
    Parent ! {reset_peer, Self},
    receive {reset, From} -> ok end,
    %% the reset: with SO_LINGER 0 the socket's close sends an RST; the ssl
    %% connection process that owns it is killed, so no close_notify goes first
    ok = inet:setopts(T, [{linger, {true, 0}}]),
    {sslsocket, _, Pids} = S,
    Mons = [erlang:monitor(port, T) | [erlang:monitor(process, P) || P <- Pids, is_pid(P)]],
    [exit(P, kill) || P <- Pids, is_pid(P)],
    [receive {'DOWN', M, _, _, _} -> ok end || M <- Mons],
    From ! {reset_done, Self},
    receive stop -> ok end,
    %% the source's send failed when its connection processes were killed
    _ = Role =:= source andalso receive {source_end, _} -> ok after ?WAIT -> ok end,
    ok.

reset(Ctl) ->
    Ctl ! {reset, self()},
    receive {reset_done, Ctl} -> ok after ?WAIT -> {timeout, reset} end.

%% One reset scenario for Mod (ssl or pyssl): an owner in Role transfers in
%% Direction (recv: the peer sends; send: the owner sends, the peer reads nothing)
%% with a BEAM ssl peer over gen_tcp; once the transfer is in flight the peer
%% resets the TCP connection. Returns {OwnerResult, after_end(Mod, S)} with byte
%% counts replaced by whether they passed the in-flight mark (1 MiB received,
%% 256 KiB sent).
reset_case(Mod, Role, Direction, Active, SrvOpts) ->
    Self = self(),
    PeerRole = case Direction of recv -> source; send -> stall end,
    Opts = [binary, {active, Active}],
    Connect = case Role of
                  client -> client(Mod, reset_server(SrvOpts, PeerRole, Self), Opts);
                  server -> server(Mod, SrvOpts ++ Opts, Self)
              end,
    Threshold = case Direction of recv -> 1 bsl 20; send -> 1 bsl 18 end,
    Owner = owner(Mod, Connect, <<"tag00001">>, Direction, Active, Self, Threshold),
    _ = Role =:= server andalso
        receive {listening, Owner, Port} -> reset_client(Port, [{verify, verify_none}], PeerRole, Self)
        after ?WAIT -> error({timeout, listening})
        end,
    Ctl = receive {reset_peer, C} -> C after ?WAIT -> error({timeout, peer_handshake}) end,
    receive {in_flight, Owner} -> ok after ?WAIT -> error({timeout, in_flight}) end,
    ok = reset(Ctl),
    End = receive {owner_end, Owner, E} -> E after ?WAIT -> {timeout, owner_end} end,
    Owner ! after_end,
    After = receive {after_end, Owner, A} -> A after ?WAIT -> {timeout, after_end} end,
    Ctl ! stop,
    Mark = fun(N) -> N >= Threshold end,
    {case End of
         {N, How} -> {Mark(N), How};
         {N, SendResult, How} -> {Mark(N), SendResult, How};
         Other -> Other
     end, After}.

%%% Peers that leave a handshake pending ------------------------------------------------

%% Accepts one TCP connection and answers nothing: Parent gets {hello, self(), Bytes}
%% once the client's first TLS bytes came, then {tcp_end, self(), Result} when the
%% connection ends. Returns the port.
hello_sink(Parent) ->
    {ok, L} = gen_tcp:listen(0, [binary, {active, false}, {reuseaddr, true}]),
    {ok, Port} = inet:port(L),
    spawn(fun() ->
                  {ok, A} = gen_tcp:accept(L),
                  gen_tcp:close(L),
                  {ok, Hello} = gen_tcp:recv(A, 0),
                  Parent ! {hello, self(), byte_size(Hello)},
                  Parent ! {tcp_end, self(), drain(A)}
          end),
    Port.

drain(A) ->
    case gen_tcp:recv(A, 0) of
        {ok, _} -> drain(A);
        E -> E
    end.

%% A TCP proxy to Target that passes the client's first flight (its hello, in as
%% many pieces as it comes) and the first piece of the server's answer, then
%% nothing more: the server's handshake is left waiting for the client's next
%% flight. Parent gets {stalled, self()} once the server answered, then
%% {tcp_end, self(), Result} when the server side ends. Returns the port.
stall_proxy(Target, Parent) ->
    {ok, L} = gen_tcp:listen(0, [binary, {active, false}, {reuseaddr, true}]),
    {ok, Port} = inet:port(L),
    spawn(fun() ->
                  {ok, C} = gen_tcp:accept(L),
                  gen_tcp:close(L),
                  {ok, U} = gen_tcp:connect({127, 0, 0, 1}, Target, [binary, {active, once}]),
                  ok = inet:setopts(C, [{active, true}]),
                  Answer = pass_hello(C, U),
                  ok = gen_tcp:send(C, Answer),
                  Parent ! {stalled, self()},
                  End = drain(U),
                  gen_tcp:close(C),
                  Parent ! {tcp_end, self(), End}
          end),
    Port.

%% Client bytes go to the server until the server's first bytes come (U is
%% {active, once}): those are returned, and the client is no longer read.
pass_hello(C, U) ->
    receive
        {tcp, C, Data} ->
            ok = gen_tcp:send(U, Data),
            pass_hello(C, U);
        {tcp, U, Answer} ->
            ok = inet:setopts(C, [{active, false}]),
            Early = fun Early() -> receive {tcp, C, D} -> ok = gen_tcp:send(U, D), Early()
                                  after 0 -> ok end end,
            Early(),
            Answer
    end.
