%% Driver for bench/ssl_bench.py: every scenario takes the TLS module `Mod'
%% (`ssl' or `pyssl') so the same code measures both. Compiled at run time.
%% CPU figures are `erlang:statistics(runtime)' deltas in ms (summed over
%% scheduler threads); wall times are in microseconds.
-module(ssl_bench_drv).
-export([cpu/0, handshakes/5, warm/3, resumed/3, bulk_download/4, upload/5, dist_floor/3,
         dist_sink/1, echo/4,
         echo_open/3, echo_run/2, echo_close/0, call_open/3, call_run/2, call_close/0, echo_loop/0,
         server_start/3, server_stop/0, server_bulk_start/2, server_bulk_result/1,
         idle_open/5, idle_close/0, memory/0]).

cpu() ->
    {T, _} = erlang:statistics(runtime),
    T.

now_us() -> erlang:monotonic_time(microsecond).

%% Conc processes, each N connect+close, spread over Ports.
handshakes(Mod, Ports, Conc, N, Opts) ->
    Parent = self(),
    NP = length(Ports),
    C0 = cpu(), T0 = now_us(),
    Pids = [spawn(fun() -> Parent ! {hs_done, self(), hs_loop(Mod, Ports, NP, I, N, Opts, 0)} end)
            || I <- lists:seq(1, Conc)],
    Errs = lists:sum([receive {hs_done, P, E} -> E after 300000 -> exit(P, kill), N end
                      || P <- Pids]),
    T1 = now_us(), C1 = cpu(),
    {T1 - T0, C1 - C0, Conc * N - Errs, Errs}.

%% One connect+close to each of Ports, outside the measured loop: with TLS 1.2
%% session reuse on, the sessions the resumed handshakes then take.
warm(Mod, Ports, Opts) ->
    [case Mod:connect("localhost", P, Opts, 20000) of
         {ok, S} -> Mod:close(S);
         E -> E
     end || P <- Ports].

%% Whether connects to Port resume. OTP 25 reports session_resumption false for
%% a resumed TLS 1.2 session (so does pyssl), and a client may hold several
%% sessions for one server (one per round here) and offer any of them; a full
%% handshake always brings a fresh id from the server, so a repeated id among
%% eight connections means they resumed (fewer than eight sessions are cached).
resumed(Mod, Port, Opts) ->
    Id = fun() ->
                 {ok, S} = Mod:connect("localhost", Port, Opts, 20000),
                 {ok, [{session_id, I}]} = Mod:connection_information(S, [session_id]),
                 Mod:close(S),
                 I
         end,
    length(lists:usort([Id() || _ <- lists:seq(1, 8)])) < 8.

hs_loop(_, _, _, _, 0, _, E) -> E;
hs_loop(Mod, Ports, NP, I, K, Opts, E) ->
    Port = lists:nth(((I + K) rem NP) + 1, Ports),
    case catch Mod:connect("localhost", Port, Opts, 20000) of
        {ok, S} ->
            Mod:close(S),
            hs_loop(Mod, Ports, NP, I, K - 1, Opts, E);
        _Err ->
            hs_loop(Mod, Ports, NP, I, K - 1, Opts, E + 1)
    end.

%% Download Bytes from the Python peer ("BULK n\n"), passive recv(S, 0).
bulk_download(Mod, Port, Bytes, Opts) ->
    {ok, S} = Mod:connect("localhost", Port, Opts, 20000),
    C0 = cpu(), T0 = now_us(),
    ok = Mod:send(S, ["BULK ", integer_to_list(Bytes), "\n"]),
    Got = recv_all(Mod, S, 0),
    T1 = now_us(), C1 = cpu(),
    Mod:close(S),
    {T1 - T0, C1 - C0, Got}.

recv_all(Mod, S, Acc) ->
    case Mod:recv(S, 0, 30000) of
        {ok, D} -> recv_all(Mod, S, Acc + byte_size(D));
        {error, _} -> Acc
    end.

%% Upload Bytes in Chunk-byte sends to the Python peer ("SINK n\n"); it
%% answers "OK\n" once everything arrived.
upload(Mod, Port, Bytes, Chunk, Opts) ->
    {ok, S} = Mod:connect("localhost", Port, Opts, 20000),
    Buf = binary:copy(<<"u">>, Chunk),
    C0 = cpu(), T0 = now_us(),
    ok = Mod:send(S, ["SINK ", integer_to_list(Bytes), "\n"]),
    send_n(Mod, S, Buf, Bytes),
    {ok, <<"OK\n">>} = recv_exact(Mod, S, 3, <<>>),
    T1 = now_us(), C1 = cpu(),
    Mod:close(S),
    {T1 - T0, C1 - C0, Bytes}.

%% The distribution floor of upload: the same bytes in the same binaries, sent as
%% messages to a process on the hidden node Far, which says when it has them all.
%% What the BEAM spends here is what any design that hands the bytes to another
%% node spends before TLS (issue 14's upload BEAM CPU target is measured against it).
dist_floor(Far, Bytes, Chunk) ->
    Sink = spawn(Far, ?MODULE, dist_sink, [0]),
    Buf = binary:copy(<<"u">>, Chunk),
    C0 = cpu(), T0 = now_us(),
    dist_n(Sink, Buf, Bytes),
    Sink ! {done, self()},
    N = receive {sunk, Got} -> Got after 60000 -> 0 end,
    T1 = now_us(), C1 = cpu(),
    {T1 - T0, C1 - C0, N}.

dist_n(_, _, Left) when Left =< 0 -> ok;
dist_n(Sink, Buf, Left) ->
    Sink ! {data, Buf},
    dist_n(Sink, Buf, Left - byte_size(Buf)).

dist_sink(N) ->
    receive
        {data, B} -> dist_sink(N + byte_size(B));
        {done, From} -> From ! {sunk, N}
    end.

send_n(_, _, _, Left) when Left =< 0 -> ok;
send_n(Mod, S, Buf, Left) when Left >= byte_size(Buf) ->
    ok = Mod:send(S, Buf),
    send_n(Mod, S, Buf, Left - byte_size(Buf));
send_n(Mod, S, Buf, Left) ->
    ok = Mod:send(S, binary:part(Buf, 0, Left)).

recv_exact(_, _, Len, Acc) when byte_size(Acc) >= Len -> {ok, Acc};
recv_exact(Mod, S, Len, Acc) ->
    case Mod:recv(S, 0, 10000) of
        {ok, D} -> recv_exact(Mod, S, Len, <<Acc/binary, D/binary>>);
        Err -> Err
    end.

%% Round trips of a 17-byte line against `openssl s_server -rev'
%% (it answers the reversed line). Returns microseconds per round trip.
echo(Mod, Port, N, Opts) ->
    {ok, S} = Mod:connect("localhost", Port, Opts, 20000),
    Msg = <<"0123456789abcdef\n">>,
    Len = byte_size(Msg),
    Rt = fun(K) -> [begin ok = Mod:send(S, Msg), {ok, _} = recv_exact(Mod, S, Len, <<>>) end
                    || _ <- lists:seq(1, K)] end,
    Rt(20),
    T0 = now_us(),
    Rt(N),
    T1 = now_us(),
    Mod:close(S),
    (T1 - T0) / N.

%% The echo figure in three steps, so that the caller (bench/ssl_bench.py) can read
%% the OS CPU counters around the round trips alone: connect and warm up, N round
%% trips (microseconds per trip), close. The socket waits in the process dictionary
%% of the evaluating process (its owner).
echo_open(Mod, Port, Opts) ->
    {ok, S} = Mod:connect("localhost", Port, Opts, 20000),
    put(bench_echo, {Mod, S}),
    echo_run(Mod, 20),
    ok.

echo_run(Mod, N) ->
    {Mod, S} = get(bench_echo),
    Msg = <<"0123456789abcdef\n">>,
    Len = byte_size(Msg),
    T0 = now_us(),
    [begin ok = Mod:send(S, Msg), {ok, _} = recv_exact(Mod, S, Len, <<>>) end
     || _ <- lists:seq(1, N)],
    (now_us() - T0) / N.

echo_close() ->
    {Mod, S} = erase(bench_echo),
    Mod:close(S).

%% A call that does no TLS work, against its floor: with `pyssl', `pyssl:sockname/1'
%% on an established socket (a bridge round trip); with `ssl' (whose sockname is
%% local), a message round trip to a process on a hidden Erlang node, `Far' (the
%% distribution floor the bridge call is compared with).
call_open(pyssl, Port, Opts) ->
    {ok, S} = pyssl:connect("localhost", Port, Opts, 20000),
    put(bench_call, {pyssl, S}),
    call_run(pyssl, 20),
    ok;
call_open(ssl, Far, _Opts) ->
    Pid = spawn(Far, ?MODULE, echo_loop, []),
    put(bench_call, {ssl, Pid}),
    call_run(ssl, 20),
    ok.

call_run(Mod, N) ->
    {Mod, Target} = get(bench_call),
    T0 = now_us(),
    call_n(Mod, Target, N),
    (now_us() - T0) / N.

call_n(_, _, 0) -> ok;
call_n(pyssl, S, K) -> {ok, _} = pyssl:sockname(S), call_n(pyssl, S, K - 1);
call_n(ssl, Pid, K) ->
    Pid ! {self(), ping},
    receive {Pid, ping} -> call_n(ssl, Pid, K - 1) end.

call_close() ->
    case erase(bench_call) of
        {pyssl, S} -> pyssl:close(S);
        {ssl, Pid} -> exit(Pid, kill), ok
    end.

echo_loop() ->
    receive {From, M} -> From ! {self(), M}, echo_loop() end.

%% Server offload: a listener with Acc acceptor processes that each loop
%% transport_accept -> handshake -> close. Returns the port.
server_start(Mod, Acc, Opts) ->
    Parent = self(),
    spawn(fun() ->
                  register(bench_srv, self()),
                  %% backlog 128: with the default 5, 8 connecting threads overflow the accept
                  %% queue now and then (a SYN retransmit costs the connect 1 s)
                  {ok, L} = Mod:listen(0, Opts ++ [{reuseaddr, true}, {backlog, 128}]),
                  {ok, {_, Port}} = Mod:sockname(L),
                  Cnt = counters:new(2, []),
                  Pids = [spawn_link(fun() -> acceptor(Mod, L, Cnt) end) || _ <- lists:seq(1, Acc)],
                  Parent ! {srv_port, Port},
                  receive {stop, From} ->
                          [begin unlink(P), exit(P, kill) end || P <- Pids],
                          Mod:close(L),
                          From ! {srv_count, counters:get(Cnt, 1), counters:get(Cnt, 2)}
                  end
          end),
    receive {srv_port, Port} -> Port after 20000 -> exit(server_start_timeout) end.

acceptor(Mod, L, Cnt) ->
    case Mod:transport_accept(L, 60000) of
        {ok, T} ->
            case catch Mod:handshake(T, 20000) of
                {ok, S} -> counters:add(Cnt, 1, 1), Mod:close(S);
                _ -> counters:add(Cnt, 2, 1), catch Mod:close(T)
            end,
            acceptor(Mod, L, Cnt);
        {error, _} ->
            timer:sleep(10),
            acceptor(Mod, L, Cnt)
    end.

server_stop() ->
    bench_srv ! {stop, self()},
    receive {srv_count, Ok, Err} -> {Ok, Err} after 20000 -> timeout end.

%% Server bulk receive in active mode: accept one connection, count bytes until
%% ssl_closed. server_bulk_result/1 waits for {Us, CpuMs, Bytes}.
server_bulk_start(Mod, Opts) ->
    Parent = self(),
    spawn(fun() ->
                  register(bench_bulk, self()),
                  {ok, L} = Mod:listen(0, Opts ++ [{reuseaddr, true}, {active, true}]),
                  {ok, {_, Port}} = Mod:sockname(L),
                  Parent ! {bulk_port, Port},
                  {ok, T} = Mod:transport_accept(L, 30000),
                  {ok, S} = Mod:handshake(T, 20000),
                  C0 = cpu(), T0 = now_us(),
                  Got = active_loop(S, 0),
                  T1 = now_us(), C1 = cpu(),
                  Mod:close(S), Mod:close(L),
                  receive {get, From} -> From ! {bulk_result, {T1 - T0, C1 - C0, Got}} end
          end),
    receive {bulk_port, Port} -> Port after 20000 -> exit(server_bulk_timeout) end.

active_loop(S, Acc) ->
    receive
        {ssl, S, D} -> active_loop(S, Acc + iolist_size(D));
        {ssl_closed, S} -> Acc;
        {ssl_error, S, R} -> io:format("bench: ssl_error ~p~n", [R]), Acc
        %% (other messages stay: the result request may come before ssl_closed,
        %% as the sender's close can be answered before the owner hears of it)
    after 30000 -> io:format("bench: receive timeout~n"), Acc
    end.

server_bulk_result(Timeout) ->
    bench_bulk ! {get, self()},
    receive {bulk_result, R} -> R after Timeout -> timeout end.

%% Memory: a holder process opens N idle connections ("IDLE\n") with Par openers.
idle_open(Mod, Port, N, Par, Opts) ->
    Parent = self(),
    spawn(fun() ->
                  register(bench_idle, self()),
                  Me = self(),
                  Per = N div Par,
                  [spawn(fun() -> Me ! {opened, idle_conns(Mod, Port, Per, Opts, [])} end)
                   || _ <- lists:seq(1, Par)],
                  Socks = lists:append([receive {opened, L} -> L after 120000 -> [] end
                                        || _ <- lists:seq(1, Par)]),
                  Parent ! {idle_open, length(Socks)},
                  receive {close, From} ->
                          [Mod:close(S) || S <- Socks],
                          From ! idle_closed
                  end
          end),
    receive {idle_open, K} -> K after 180000 -> timeout end.

idle_conns(_, _, 0, _, Acc) -> Acc;
idle_conns(Mod, Port, K, Opts, Acc) ->
    case catch Mod:connect("localhost", Port, Opts, 20000) of
        {ok, S} ->
            ok = Mod:send(S, <<"IDLE\n">>),
            %% the holder must own it (it closes them); ownership moves with it
            ok = Mod:controlling_process(S, whereis(bench_idle)),
            idle_conns(Mod, Port, K - 1, Opts, [S | Acc]);
        _ ->
            idle_conns(Mod, Port, K - 1, Opts, Acc)
    end.

idle_close() ->
    bench_idle ! {close, self()},
    receive idle_closed -> ok after 60000 -> timeout end.

memory() ->
    [garbage_collect(P) || P <- processes()],
    erlang:memory(total).
