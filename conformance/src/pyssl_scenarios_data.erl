%% @doc Conformance scenarios: data delivery. Packet types × active modes ×
%% sizes, payload echo 1 KB–500 KB, `{active, N}', passive receive and its
%% timeouts, and the emulated socket options (getopts/setopts, mode, header).
-module(pyssl_scenarios_data).

-export([all/0]).

-import(pyssl_scenarios, [mk/3, srv_opts/0, cli_opts/0, with_server/5, with_client/5,
                          collect/3, digest/1, flush/0, listen/2, port/2]).

-define(T, 5000).

all() ->
    packet() ++ payload() ++ active() ++ recv() ++ sockopts().

%%% packet ---------------------------------------------------------------------------

packet() ->
    Types = [raw, 1, 2, 4, line],
    Modes = [passive, once, active],
    [mk(packet, name(["packet", T, M, S]), packet_recv(T, M, S))
     || T <- Types, M <- Modes, S <- [small, big]] ++
    [mk(packet, name(["packet", T, M, small]), packet_recv(T, M, small))
     || T <- [asn1, tpkt], M <- Modes] ++
    [mk(packet, name(["packet_send", T, S]), packet_send(T, S))
     || T <- [1, 2, 4], S <- [small, big]] ++
    [mk(packet, packet_send_too_large_1, packet_too_large(1, 256)),
     mk(packet, packet_send_too_large_2, packet_too_large(2, 70000)),
     mk(packet, packet_size_exceeded_passive, packet_size_exceeded(false)),
     mk(packet, packet_size_exceeded_active, packet_size_exceeded(true)),
     mk(packet, packet_line_many_in_one_send, line_many()),
     mk(packet, packet_2_split_header, split_header()),
     mk(packet, packet_server_side_2_active, server_side_packet())] ++
    [mk(packet, name(["packet", T, M]), http_recv(T, M))
     || T <- [http, http_bin, httph, httph_bin], M <- Modes] ++
    [mk(packet, packet_http_bin_too_long, http_too_long())].

%% The HTTP types: a request, a response with an odd header and a bad line, all
%% in one peer send; the side under test reads 10 terms (ssl switches http to
%% header lines after a request/response line and back after http_eoh).
-define(HTTP_STREAM,
        <<"GET /a/b?c=d HTTP/1.1\r\nHost: example\r\ncontent-length: 0\r\n\r\n"
          "HTTP/1.0 301 Moved Permanently\r\nX-Odd: yes\r\n\r\n"
          "not an http line\r\nHost: h\r\n\r\n">>).

http_recv(Type, Mode) ->
    Active = case Mode of passive -> false; once -> once; active -> true end,
    fun(Mod) ->
            with_server(Mod, srv_opts(), [{packet, Type}, {active, Active} | cli_opts()],
                        fun({ok, S}) -> ok = ssl:send(S, ?HTTP_STREAM), ssl:recv(S, 0, ?T);
                           (E) -> E end,
                        fun(S) -> http_read(Mod, S, Mode, 10, []) end)
    end.

http_read(_Mod, _S, _Mode, 0, Acc) -> lists:reverse(Acc);
http_read(Mod, S, passive, N, Acc) ->
    case Mod:recv(S, 0, ?T) of
        {ok, T} -> http_read(Mod, S, passive, N - 1, [T | Acc]);
        Other -> lists:reverse([Other | Acc])
    end;
http_read(Mod, S, Mode, N, Acc) ->
    receive
        {ssl, S, T} ->
            Mode =:= once andalso Mod:setopts(S, [{active, once}]),
            http_read(Mod, S, Mode, N - 1, [T | Acc]);
        Other -> lists:reverse([Other | Acc])
    after ?T -> lists:reverse([timeout | Acc])
    end.

http_too_long() ->
    fun(Mod) ->
            with_server(Mod, srv_opts(), [{packet, http_bin}, {packet_size, 16}, {active, false}
                                          | cli_opts()],
                        fun({ok, S}) -> ok = ssl:send(S, <<"GET /a-rather-long-path HTTP/1.1\r\n">>),
                                        ssl:recv(S, 0, ?T);
                           (E) -> E end,
                        fun(S) -> Mod:recv(S, 0, ?T) end)
    end.

name(Parts) ->
    list_to_atom(string:join([to_s(P) || P <- Parts], "_")).

to_s(A) when is_atom(A) -> atom_to_list(A);
to_s(I) when is_integer(I) -> integer_to_list(I);
to_s(L) -> L.

%% The messages the ssl peer sends (with its own {packet, 0}: framed here).
messages(raw, small) -> [<<"hello">>, <<" tls">>, <<" world">>];
messages(raw, big) -> [bytes(100000, 1)];
messages(1, small) -> [<<"a">>, <<"bc">>, <<"def">>];
messages(1, big) -> [bytes(255, 2), bytes(200, 3), bytes(1, 4)];
messages(2, small) -> [<<"a">>, <<"bc">>, <<"def">>];
messages(2, big) -> [bytes(60000, 5), bytes(65535, 6), bytes(3, 7)];
messages(4, small) -> [<<"a">>, <<"bc">>, <<"def">>];
messages(4, big) -> [bytes(200000, 8), bytes(70000, 9), bytes(3, 10)];
messages(line, small) -> [<<"one\n">>, <<"two\n">>, <<"three\n">>];
messages(line, big) -> [<<(bytes(20000, 11))/binary, "\n">>, <<"x\n">>];
messages(asn1, small) -> [<<16#30, 3, 2, 1, 5>>, <<16#04, 2, "hi">>, <<16#05, 0>>];
messages(tpkt, small) -> [<<3, 0, 0, 9, "hello">>, <<3, 0, 0, 5, "x">>].

%% Printable bytes (line mode needs no '\n' inside), seeded for variety.
bytes(N, Seed) ->
    list_to_binary([$a + ((I * 7 + Seed) rem 26) || I <- lists:seq(1, N)]).

frame(1, M) -> <<(byte_size(M)):8, M/binary>>;
frame(2, M) -> <<(byte_size(M)):16, M/binary>>;
frame(4, M) -> <<(byte_size(M)):32, M/binary>>;
frame(_, M) -> M.

opt(raw) -> 0;
opt(T) -> T.

show(D) when byte_size(D) > 64 -> digest(D);
show(D) -> D.

%% Client under test receives the peer's messages with {packet, T} in mode M.
packet_recv(T, M, Size) ->
    Msgs = messages(T, Size),
    fun(Mod) ->
            SrvFun = fun({ok, S}) ->
                             [ok = ssl:send(S, frame(T, Msg)) || Msg <- Msgs],
                             ssl:recv(S, 0, ?T);
                        (E) -> E
                     end,
            Active = case M of passive -> false; once -> once; active -> true end,
            CliFun = fun(S) ->
                             R = receive_msgs(Mod, S, T, M, Msgs),
                             ok = Mod:close(S),
                             {M, R}
                     end,
            with_server(Mod, srv_opts(),
                        [{mode, binary}, {packet, opt(T)}, {active, Active} | cli_opts()],
                        SrvFun, CliFun)
    end.

receive_msgs(Mod, S, raw, passive, Msgs) ->
    [case Mod:recv(S, byte_size(Msg), ?T) of
         {ok, D} -> show(D);
         E -> E
     end || Msg <- Msgs];
receive_msgs(_Mod, S, raw, active, Msgs) ->
    show_collected(collect(S, {bytes, iolist_size(Msgs)}, ?T));
receive_msgs(Mod, S, raw, once, Msgs) ->
    once_bytes(Mod, S, iolist_size(Msgs), []);
receive_msgs(Mod, S, _T, passive, Msgs) ->
    [case Mod:recv(S, 0, ?T) of
         {ok, D} -> show(D);
         E -> E
     end || _ <- Msgs];
receive_msgs(_Mod, S, _T, active, Msgs) ->
    [show_event(E) || E <- collect(S, {count, length(Msgs)}, ?T)];
receive_msgs(Mod, S, _T, once, Msgs) ->
    lists:append([begin
                      Ev = [show_event(E) || E <- collect(S, {count, 1}, ?T)],
                      ok = Mod:setopts(S, [{active, once}]),
                      Ev
                  end || _ <- Msgs]).

once_bytes(_Mod, _S, N, Acc) when N =< 0 ->
    show_collected({data, iolist_to_binary(lists:reverse(Acc))});
once_bytes(Mod, S, N, Acc) ->
    case collect(S, {count, 1}, ?T) of
        [{data, D}] ->
            ok = Mod:setopts(S, [{active, once}]),
            once_bytes(Mod, S, N - iolist_size(D), [D | Acc]);
        Other ->
            Other
    end.

show_collected({data, D}) -> {data, show(D)};
show_collected(Other) -> Other.

show_event({data, D}) -> {data, show(D)};
show_event(E) -> E.

%% Client under test sends with {packet, T}; the ssl peer decodes the same way.
packet_send(T, Size) ->
    Msgs = messages(T, Size),
    fun(Mod) ->
            N = length(Msgs),
            SrvFun = fun({ok, S}) ->
                             [case ssl:recv(S, 0, ?T) of
                                  {ok, D} -> show(D);
                                  E -> E
                              end || _ <- lists:seq(1, N)];
                        (E) -> E
                     end,
            CliFun = fun(S) -> [Mod:send(S, Msg) || Msg <- Msgs] end,
            with_server(Mod, [{mode, binary}, {packet, T} | srv_opts()],
                        [{mode, binary}, {packet, T}, {active, false} | cli_opts()],
                        SrvFun, CliFun)
    end.

%% The too large send is refused and the peer gets only the next one (the
%% peer waits for it whatever the load: its arrival is the result).
packet_too_large(T, Size) ->
    fun(Mod) ->
            SrvFun = fun({ok, S}) -> ssl:recv(S, 0, ?T); (E) -> E end,
            CliFun = fun(S) -> {Mod:send(S, bytes(Size, 1)), Mod:send(S, <<"ok">>)} end,
            with_server(Mod, [{mode, binary}, {packet, T} | srv_opts()],
                        [{mode, binary}, {packet, T}, {active, false} | cli_opts()],
                        SrvFun, CliFun)
    end.

packet_size_exceeded(Active) ->
    fun(Mod) ->
            SrvFun = fun({ok, S}) -> ok = ssl:send(S, frame(2, bytes(200, 1))), ssl:recv(S, 0, ?T);
                        (E) -> E
                     end,
            CliFun = fun(S) ->
                             case Active of
                                 false -> Mod:recv(S, 0, ?T);
                                 true -> collect(S, {count, 2}, ?T)
                             end
                     end,
            with_server(Mod, srv_opts(),
                        [{mode, binary}, {packet, 2}, {packet_size, 100}, {active, Active}
                         | cli_opts()],
                        SrvFun, CliFun)
    end.

line_many() ->
    fun(Mod) ->
            SrvFun = fun({ok, S}) -> ssl:send(S, <<"a\nbb\nccc\n">>); (E) -> E end,
            CliFun = fun(S) -> [Mod:recv(S, 0, ?T) || _ <- [1, 2, 3]] end,
            with_server(Mod, srv_opts(),
                        [{packet, line}, {active, false} | cli_opts()], SrvFun, CliFun)
    end.

split_header() ->
    fun(Mod) ->
            SrvFun = fun({ok, S}) ->
                             ok = ssl:send(S, <<0>>),
                             ok = ssl:send(S, <<5, "hel">>),
                             ok = ssl:send(S, <<"lo", 0, 1, "!">>);
                        (E) -> E
                     end,
            CliFun = fun(S) -> [Mod:recv(S, 0, ?T), Mod:recv(S, 0, ?T)] end,
            with_server(Mod, srv_opts(),
                        [{mode, binary}, {packet, 2}, {active, false} | cli_opts()],
                        SrvFun, CliFun)
    end.

server_side_packet() ->
    fun(Mod) ->
            CliFun = fun({ok, S}) ->
                             ok = ssl:send(S, <<"one">>),
                             ok = ssl:send(S, <<"two">>),
                             ssl:recv(S, 0, ?T);
                        (E) -> E
                     end,
            SrvFun = fun(S) ->
                             R = collect(S, {count, 2}, ?T),
                             ok = Mod:send(S, <<"back">>),
                             R
                     end,
            with_client(Mod, [{mode, binary}, {packet, 2}, {active, true} | srv_opts()],
                        [{mode, binary}, {packet, 2} | cli_opts()], SrvFun, CliFun)
    end.

%%% payload ----------------------------------------------------------------------------

payload() ->
    [mk(payload, name(["payload", Role, Mode, Size div 1000, "k"]), payload(Role, Mode, Size))
     || Role <- [client, server], Mode <- [passive, once, active],
        Size <- [1000, 10000, 100000, 500000]].

%% The side under test sends Size bytes, the ssl peer echoes them back, the side
%% under test reads them all in Mode. The client works in binary mode, the
%% server in list mode.
payload(Role, Mode, Size) ->
    Data = bytes(Size, Size),
    fun(Mod) ->
            Echo = fun({ok, S}) ->
                           case ssl:recv(S, Size, ?T) of
                               {ok, D} -> ok = ssl:send(S, D), ssl:recv(S, 0, ?T);
                               E -> E
                           end;
                      (E) -> E
                   end,
            Active = case Mode of passive -> false; once -> once; active -> true end,
            Run = fun(S) ->
                          ok = Mod:send(S, Data),
                          R = case Mode of
                                  passive -> case Mod:recv(S, Size, ?T) of
                                                 {ok, D} -> {data, D};
                                                 E -> E
                                             end;
                                  active -> collect(S, {bytes, Size}, ?T);
                                  once -> once_all(Mod, S, Size, [])
                              end,
                          _ = Mod:close(S),
                          case R of
                              {data, Got} -> {echoed, digest(Got), iolist_to_binary(Got) =:= Data};
                              Other -> Other
                          end
                  end,
            case Role of
                client ->
                    with_server(Mod, [{mode, binary} | srv_opts()],
                                [{mode, binary}, {active, Active} | cli_opts()], Echo, Run);
                server ->
                    with_client(Mod, [{mode, list}, {active, Active} | srv_opts()],
                                [{mode, binary} | cli_opts()], Run, Echo)
            end
    end.

once_all(_Mod, _S, N, Acc) when N =< 0 -> {data, iolist_to_binary(lists:reverse(Acc))};
once_all(Mod, S, N, Acc) ->
    receive
        {ssl, S, D} ->
            ok = Mod:setopts(S, [{active, once}]),
            once_all(Mod, S, N - iolist_size(D), [D | Acc]);
        {ssl_closed, S} -> {closed, iolist_size(Acc)};
        {ssl_error, S, R} -> {{error, R}, iolist_size(Acc)}
    after ?T -> {timeout, iolist_size(Acc)}
    end.

%%% active ---------------------------------------------------------------------------

%% The ssl peer sends Count packets of {packet, 2} then waits for the client.
%% The client may close before reading them all: send errors are not results.
sender(Count) ->
    fun({ok, S}) ->
            _ = [ssl:send(S, integer_to_binary(I)) || I <- lists:seq(1, Count)],
            ssl:recv(S, 0, ?T);
       (E) -> E
    end.

sender_close(Count) ->
    fun({ok, S}) ->
            [ok = ssl:send(S, integer_to_binary(I)) || I <- lists:seq(1, Count)],
            ssl:close(S);
       (E) -> E
    end.

p2(Active) -> [{mode, binary}, {packet, 2}, {active, Active} | cli_opts()].
p2srv() -> [{mode, binary}, {packet, 2} | srv_opts()].

active() ->
    [mk(active, active_n_3_of_5,
        fun(Mod) ->
                with_server(Mod, p2srv(), p2(false), sender(5),
                            fun(S) ->
                                    ok = Mod:setopts(S, [{active, 3}]),
                                    Got = collect(S, {count, 4}, ?T),
                                    A = Mod:getopts(S, [active]),
                                    {Got, A, Mod:recv(S, 0, ?T), Mod:recv(S, 0, ?T)}
                            end)
        end),
     mk(active, active_n_adds_up,
        fun(Mod) ->
                with_server(Mod, p2srv(), p2(false), sender(5),
                            fun(S) ->
                                    ok = Mod:setopts(S, [{active, 2}]),
                                    ok = Mod:setopts(S, [{active, 3}]),
                                    {collect(S, {count, 6}, ?T), Mod:getopts(S, [active])}
                            end)
        end),
     mk(active, active_n_at_connect,
        fun(Mod) ->
                with_server(Mod, p2srv(), p2(2), sender(3),
                            fun(S) ->
                                    {collect(S, {count, 3}, ?T), Mod:getopts(S, [active]),
                                     Mod:recv(S, 0, ?T)}
                            end)
        end),
     mk(active, active_zero_on_passive,
        fun(Mod) ->
                with_server(Mod, p2srv(), p2(false), sender(0),
                            fun(S) ->
                                    R = Mod:setopts(S, [{active, 0}]),
                                    {R, collect(S, {count, 1}, ?T), Mod:getopts(S, [active])}
                            end)
        end),
     mk(active, active_negative_on_passive,
        fun(Mod) ->
                with_server(Mod, p2srv(), p2(false), sender(0),
                            fun(S) ->
                                    R = Mod:setopts(S, [{active, -1}]),
                                    {R, collect(S, {count, 1}, ?T), Mod:getopts(S, [active])}
                            end)
        end),
     mk(active, active_n_too_big_setopts,
        fun(Mod) ->
                with_server(Mod, p2srv(), p2(false), sender(0),
                            fun(S) ->
                                    {Mod:setopts(S, [{active, 32768}]), Mod:getopts(S, [active])}
                            end)
        end),
     mk(active, active_n_sum_overflow,
        fun(Mod) ->
                with_server(Mod, p2srv(), p2(false), sender(0),
                            fun(S) ->
                                    A = Mod:setopts(S, [{active, 30000}]),
                                    B = Mod:setopts(S, [{active, 30000}]),
                                    {A, B, Mod:getopts(S, [active])}
                            end)
        end),
     mk(active, active_n_decrease_to_zero,
        fun(Mod) ->
                with_server(Mod, p2srv(), p2(false), sender(0),
                            fun(S) ->
                                    ok = Mod:setopts(S, [{active, 5}]),
                                    ok = Mod:setopts(S, [{active, -5}]),
                                    {collect(S, {count, 1}, ?T), Mod:getopts(S, [active])}
                            end)
        end),
     mk(active, active_true_peer_close,
        fun(Mod) ->
                with_server(Mod, p2srv(), p2(true), sender_close(2),
                            fun(S) -> collect(S, {count, 5}, ?T) end)
        end),
     mk(active, active_once_peer_close,
        fun(Mod) ->
                with_server(Mod, p2srv(), p2(once), sender_close(1),
                            fun(S) ->
                                    A = collect(S, {count, 1}, ?T),
                                    ok = Mod:setopts(S, [{active, once}]),
                                    {A, collect(S, {count, 1}, ?T)}
                            end)
        end),
     mk(active, active_n_peer_close,
        fun(Mod) ->
                with_server(Mod, p2srv(), p2(5), sender_close(2),
                            fun(S) -> collect(S, {count, 5}, ?T) end)
        end),
     mk(active, passive_peer_close_no_message,
        fun(Mod) ->
                with_server(Mod, p2srv(), p2(false), sender_close(2),
                            fun(S) ->
                                    R = [Mod:recv(S, 0, ?T) || _ <- [1, 2, 3]],
                                    {R, flush()}
                            end)
        end),
     mk(active, recv_on_active_socket,
        fun(Mod) ->
                with_server(Mod, p2srv(), p2(true), sender(1),
                            fun(S) ->
                                    R = Mod:recv(S, 0, 100),
                                    {R, collect(S, {count, 1}, ?T)}
                            end)
        end),
     mk(active, recv_on_once_socket,
        fun(Mod) ->
                %% The server sends only when asked, so the recv surely comes
                %% while the socket is still {active, once}, however far the
                %% socket's process is.
                with_server(Mod, p2srv(), p2(once),
                            fun({ok, S}) -> {ok, _} = ssl:recv(S, 0, ?T), _ = ssl:send(S, <<"1">>), ssl:recv(S, 0, ?T);
                               (E) -> E end,
                            fun(S) ->
                                    R = Mod:recv(S, 0, 100),
                                    ok = Mod:send(S, <<"go">>),
                                    {R, collect(S, {count, 1}, ?T)}
                            end)
        end),
     mk(active, active_n_server_side,
        fun(Mod) ->
                with_client(Mod, [{active, 2} | p2srv()], [{mode, binary}, {packet, 2} | cli_opts()],
                            fun(S) ->
                                    {collect(S, {count, 3}, ?T), Mod:getopts(S, [active])}
                            end,
                            sender(3))
        end),
     mk(active, active_false_to_true_delivers_buffered,
        fun(Mod) ->
                with_server(Mod, p2srv(), p2(false), sender(3),
                            fun(S) ->
                                    First = Mod:recv(S, 0, ?T),
                                    ok = Mod:setopts(S, [{active, true}]),
                                    {First, collect(S, {count, 2}, ?T)}
                            end)
        end)].

%%% recv ---------------------------------------------------------------------------

raw(Active) -> [{mode, binary}, {active, Active} | cli_opts()].

recv() ->
    [mk(recv, recv_timeout_zero,
        fun(Mod) -> with_server(Mod, srv_opts(), raw(false), sender(0),
                                fun(S) -> Mod:recv(S, 0, 0) end) end),
     mk(recv, recv_timeout_short,
        fun(Mod) -> with_server(Mod, srv_opts(), raw(false), sender(0),
                                fun(S) -> {Mod:recv(S, 0, 50), Mod:recv(S, 5, 50)} end) end),
     mk(recv, recv_exact_across_sends,
        fun(Mod) ->
                with_server(Mod, srv_opts(), raw(false),
                            fun({ok, S}) -> ok = ssl:send(S, "abc"), ok = ssl:send(S, "defgh"),
                                            ssl:recv(S, 0, ?T);
                               (E) -> E end,
                            fun(S) -> Mod:recv(S, 8, ?T) end)
        end),
     mk(recv, recv_n_then_rest,
        fun(Mod) ->
                with_server(Mod, srv_opts(), raw(false),
                            fun({ok, S}) -> ok = ssl:send(S, "0123456789"), ssl:recv(S, 0, ?T);
                               (E) -> E end,
                            fun(S) -> [Mod:recv(S, 4, ?T), Mod:recv(S, 6, ?T)] end)
        end),
     mk(recv, recv_more_than_sent_then_close,
        fun(Mod) ->
                with_server(Mod, srv_opts(), raw(false),
                            fun({ok, S}) -> ok = ssl:send(S, "abc"), ssl:close(S);
                               (E) -> E end,
                            fun(S) -> {Mod:recv(S, 10, ?T), Mod:recv(S, 0, ?T)} end)
        end),
     mk(recv, recv_packet_ignores_length,
        fun(Mod) ->
                with_server(Mod, p2srv(), p2(false), sender(2),
                            fun(S) -> [Mod:recv(S, 1, ?T), Mod:recv(S, 100, ?T)] end)
        end),
     mk(recv, recv_list_mode,
        fun(Mod) ->
                with_server(Mod, srv_opts(), [{active, false} | cli_opts()],
                            fun({ok, S}) -> ok = ssl:send(S, <<"bytes">>), ssl:recv(S, 0, ?T);
                               (E) -> E end,
                            fun(S) -> Mod:recv(S, 5, ?T) end)
        end),
     mk(recv, recv_bad_timeout,
        fun(Mod) -> with_server(Mod, srv_opts(), raw(false), sender(0),
                                fun(S) -> catch_class(fun() -> Mod:recv(S, 0, -1) end) end) end),
     mk(recv, recv_negative_length,
        fun(Mod) -> with_server(Mod, srv_opts(), raw(false), sender(0),
                                fun(S) -> catch_class(fun() -> Mod:recv(S, -1, 50) end) end) end),
     mk(recv, transport_accept_timeout,
        fun(Mod) ->
                {ok, L} = listen(Mod, srv_opts()),
                {Mod:transport_accept(L, 50), Mod:close(L)}
        end),
     mk(recv, handshake_timeout,
        fun(Mod) ->
                {ok, L} = listen(Mod, srv_opts()),
                {ok, Tcp} = gen_tcp:connect({127, 0, 0, 1}, port(Mod, L), [binary, {active, false}]),
                R = case Mod:transport_accept(L, ?T) of
                        {ok, T} -> Mod:handshake(T, 100);
                        E -> E
                    end,
                {R, gen_tcp:recv(Tcp, 0, ?T)}
        end),
     mk(recv, connect_timeout_silent_server,
        fun(Mod) ->
                {ok, L} = gen_tcp:listen(0, [binary, {ip, {127, 0, 0, 1}}, {active, false}]),
                {ok, P} = inet:port(L),
                R = Mod:connect("localhost", P, [{verify, verify_none}], 100),
                {ok, A} = gen_tcp:accept(L, ?T),
                {R, gen_tcp:close(A)}
        end),
     mk(recv, connect_non_tls_server_closes,
        fun(Mod) ->
                {ok, L} = gen_tcp:listen(0, [binary, {ip, {127, 0, 0, 1}}, {active, false}]),
                {ok, P} = inet:port(L),
                Self = self(),
                spawn_link(fun() ->
                                   {ok, A} = gen_tcp:accept(L, ?T),
                                   _ = gen_tcp:recv(A, 0, ?T),
                                   gen_tcp:close(A),
                                   Self ! closed_it
                           end),
                R = Mod:connect("localhost", P, [{verify, verify_none}], ?T),
                receive closed_it -> ok after ?T -> ok end,
                R
        end),
     mk(recv, connect_non_tls_server_garbage,
        fun(Mod) ->
                {ok, L} = gen_tcp:listen(0, [binary, {ip, {127, 0, 0, 1}}, {active, false}]),
                {ok, P} = inet:port(L),
                spawn_link(fun() ->
                                   {ok, A} = gen_tcp:accept(L, ?T),
                                   _ = gen_tcp:recv(A, 0, ?T),
                                   _ = gen_tcp:send(A, <<"HTTP/1.0 400 Bad Request\r\n\r\n">>),
                                   receive after ?T -> ok end
                           end),
                Mod:connect("localhost", P, [{verify, verify_none}], ?T)
        end)].

catch_class(F) ->
    try F() of
        V -> {returned, V}
    catch
        C:R -> {C, R}
    end.

%%% sockopts ----------------------------------------------------------------------------

quiet() -> fun({ok, S}) -> ssl:recv(S, 0, ?T); (E) -> E end.

on_client(Opts, F) ->
    fun(Mod) -> with_server(Mod, srv_opts(), Opts ++ cli_opts(), quiet(), fun(S) -> F(Mod, S) end) end.

sockopts() ->
    [mk(sockopts, getopts_defaults,
        on_client([], fun(M, S) -> M:getopts(S, [mode, packet, header, active]) end)),
     mk(sockopts, getopts_inet,
        on_client([], fun(M, S) -> M:getopts(S, [nodelay, keepalive]) end)),
     mk(sockopts, getopts_empty,
        on_client([], fun(M, S) -> M:getopts(S, []) end)),
     mk(sockopts, getopts_unknown,
        on_client([], fun(M, S) -> M:getopts(S, [foo]) end)),
     mk(sockopts, getopts_not_list,
        on_client([], fun(M, S) -> catch_class(fun() -> M:getopts(S, mode) end) end)),
     mk(sockopts, setopts_binary_then_getopts,
        on_client([{active, false}], fun(M, S) ->
                                             {M:setopts(S, [{mode, binary}, {packet, 2}, {header, 1}]),
                                              M:getopts(S, [mode, packet, header])}
                                     end)),
     mk(sockopts, setopts_binary_atom,
        on_client([{active, false}], fun(M, S) ->
                                             {M:setopts(S, [binary]), M:getopts(S, [mode])}
                                     end)),
     mk(sockopts, setopts_bad_active,
        on_client([], fun(M, S) -> {M:setopts(S, [{active, foo}]), M:getopts(S, [active])} end)),
     mk(sockopts, setopts_bad_packet,
        on_client([], fun(M, S) -> M:setopts(S, [{packet, foo}]) end)),
     mk(sockopts, setopts_bad_mode,
        on_client([], fun(M, S) -> M:setopts(S, [{mode, foo}]) end)),
     mk(sockopts, setopts_unknown,
        on_client([], fun(M, S) -> M:setopts(S, [{foo, bar}]) end)),
     mk(sockopts, setopts_not_list,
        on_client([], fun(M, S) -> catch_class(fun() -> M:setopts(S, {active, once}) end) end)),
     mk(sockopts, setopts_nodelay,
        on_client([], fun(M, S) -> {M:setopts(S, [{nodelay, true}]), M:getopts(S, [nodelay])} end)),
     mk(sockopts, setopts_packet_size,
        on_client([], fun(M, S) ->
                              {M:setopts(S, [{packet, 4}, {packet_size, 1000}]),
                               M:getopts(S, [packet, packet_size])}
                      end)),
     mk(sockopts, setopts_ssl_option,
        on_client([], fun(M, S) -> M:setopts(S, [{verify, verify_none}]) end)),
     mk(sockopts, mode_list_data,
        fun(Mod) ->
                with_server(Mod, srv_opts(), [{mode, list}, {active, false} | cli_opts()],
                            fun({ok, S}) -> ssl:send(S, <<"list">>); (E) -> E end,
                            fun(S) -> Mod:recv(S, 4, ?T) end)
        end),
     mk(sockopts, header_binary_mode,
        fun(Mod) ->
                with_server(Mod, p2srv(), [{header, 2} | p2(false)],
                            fun({ok, S}) -> ok = ssl:send(S, <<"abcdef">>), ssl:send(S, <<"x">>);
                               (E) -> E end,
                            fun(S) -> [Mod:recv(S, 0, ?T), Mod:recv(S, 0, ?T)] end)
        end),
     mk(sockopts, header_active,
        fun(Mod) ->
                with_server(Mod, p2srv(), [{header, 3} | p2(true)],
                            fun({ok, S}) -> ssl:send(S, <<"abcdef">>); (E) -> E end,
                            fun(S) -> collect(S, {count, 1}, ?T) end)
        end),
     %% issue 10: getopts of many keys gives them in ssl's order (exit_on_close
     %% included), on a connected and on a listen socket
     mk(sockopts, getopts_many_keys,
        fun(Mod) ->
                with_server(Mod, srv_opts(), [{active, false} | cli_opts()],
                            fun({ok, S}) -> ssl:recv(S, 0, ?T); (E) -> E end,
                            fun(S) -> Mod:getopts(S, many_keys()) end)
        end),
     mk(sockopts, listen_getopts_many_keys,
        fun(Mod) ->
                {ok, L} = listen(Mod, [{exit_on_close, false} | srv_opts()]),
                R = Mod:getopts(L, many_keys()),
                ok = Mod:close(L),
                R
        end),
     %% issue 10: a password given with a key that is not encrypted is not used (ssl
     %% accepts it), both roles
     mk(sockopts, password_with_plain_key_server,
        fun(Mod) ->
                with_client(Mod, [{password, "unused"} | srv_opts()], cli_opts(),
                            fun(S) -> Mod:connection_information(S, [protocol]) end,
                            fun({ok, _}) -> ok; (E) -> E end)
        end),
     mk(sockopts, password_with_plain_key_client,
        fun(Mod) ->
                Srv = [{verify, verify_peer}, {fail_if_no_peer_cert, true} | srv_opts()],
                Cli = [{password, "unused"} | pyssl_certs:opts(rsa, client)],
                with_server(Mod, Srv, [{verify, verify_peer} | Cli],
                            fun({ok, S}) -> ssl:recv(S, 0, ?T); (E) -> E end,
                            fun(S) -> Mod:connection_information(S, [protocol]) end)
        end),
     %% issue 10: X9.42 DH parameters (openssl dhparam -dsaparam) in dhfile, a
     %% TLS 1.2 DHE suite
     mk(sockopts, dhfile_x942_params,
        fun(Mod) ->
                File = filename:join(filename:dirname(pyssl_certs:file(rsa, server, keyfile)),
                                     "dh_x942.pem"),
                ok = file:write_file(File, x942_dh_pem()),
                Dhe = #{key_exchange => dhe_rsa, cipher => aes_128_gcm, mac => aead, prf => sha256},
                with_client(Mod, [{dhfile, File}, {versions, ['tlsv1.2']} | srv_opts()],
                            [{ciphers, [Dhe]}, {versions, ['tlsv1.2']} | cli_opts()],
                            fun(S) -> Mod:connection_information(S, [protocol, selected_cipher_suite]) end,
                            fun({ok, _}) -> ok; (E) -> E end)
        end),
     %% issue 10: honor_cipher_order on the server under test (its own order wins
     %% when true, the client's when false), TLS 1.2 and 1.3
     mk(negotiation, honor_cipher_order_true_12, honor(true, 'tlsv1.2')),
     mk(negotiation, honor_cipher_order_false_12, honor(false, 'tlsv1.2')),
     mk(negotiation, honor_cipher_order_true_13, honor(true, 'tlsv1.3')),
     mk(negotiation, honor_cipher_order_false_13, honor(false, 'tlsv1.3')),
     %% issue 10: eccs (TLS 1.2) and supported_groups (TLS 1.3) take effect, both
     %% roles: the curve of a TLS 1.2 ECDHE connection is the one both allow
     mk(negotiation, eccs_client_12,
        fun(Mod) ->
                with_server(Mod, [{versions, ['tlsv1.2']} | srv_opts()],
                            [{eccs, [secp384r1]}, {versions, ['tlsv1.2']} | cli_opts()],
                            fun({ok, S}) -> ssl:recv(S, 0, ?T); (E) -> E end,
                            fun(S) -> Mod:connection_information(S, [ecc]) end)
        end),
     mk(negotiation, eccs_server_12,
        fun(Mod) ->
                with_client(Mod, [{eccs, [secp384r1]}, {versions, ['tlsv1.2']} | srv_opts()],
                            [{versions, ['tlsv1.2']} | cli_opts()],
                            fun(S) -> Mod:connection_information(S, [ecc]) end,
                            fun({ok, _}) -> ok; (E) -> E end)
        end),
     %% issue 10: fallback (TLS_FALLBACK_SCSV, RFC 7507) of the client under test:
     %% a server with a higher version refuses it (inappropriate_fallback), one
     %% whose highest version is the client's takes it
     mk(negotiation, fallback_to_12_refused, fallback_12(srv_opts())),
     mk(negotiation, fallback_to_12_taken, fallback_12([{versions, ['tlsv1.2']} | srv_opts()])),
     mk(negotiation, supported_groups_no_overlap_13,
        fun(Mod) ->
                with_client(Mod, [{supported_groups, [secp384r1]}, {versions, ['tlsv1.3']} | srv_opts()],
                            [{supported_groups, [x25519]}, {versions, ['tlsv1.3']} | cli_opts()],
                            fun(S) -> Mod:connection_information(S, [protocol]) end,
                            fun({ok, _}) -> ok; (E) -> E end)
        end),
     %% issue 10: signature_algs of the client under test (TLS 1.2 and 1.3): a scheme
     %% the RSA server signs with connects, an ECDSA-only list does not
     mk(negotiation, signature_algs_client_pss_12, sigalgs_client([rsa_pss_rsae_sha256], 'tlsv1.2')),
     mk(negotiation, signature_algs_client_ecdsa_only_12, sigalgs_client([{sha256, ecdsa}], 'tlsv1.2')),
     mk(negotiation, signature_algs_client_pss_13, sigalgs_client([rsa_pss_rsae_sha256], 'tlsv1.3')),
     mk(negotiation, signature_algs_client_ecdsa_only_13,
        sigalgs_client([ecdsa_secp256r1_sha256], 'tlsv1.3')),
     mk(sockopts, listen_getopts,
        fun(Mod) ->
                {ok, L} = listen(Mod, [{mode, binary}, {packet, 2}, {active, false} | srv_opts()]),
                {Mod:getopts(L, [mode, packet, active, header])}
        end),
     mk(sockopts, listen_setopts_then_getopts,
        fun(Mod) ->
                {ok, L} = listen(Mod, srv_opts()),
                {Mod:setopts(L, [{mode, binary}, {active, once}]),
                 Mod:getopts(L, [mode, active])}
        end),
     mk(sockopts, accepted_inherits_listen_opts,
        fun(Mod) ->
                with_client(Mod, [{mode, binary}, {packet, 4}, {active, once} | srv_opts()],
                            cli_opts(),
                            fun(S) -> Mod:getopts(S, [mode, packet, active]) end,
                            fun(_) -> ok end)
        end),
     mk(sockopts, server_setopts_then_data,
        fun(Mod) ->
                with_client(Mod, [{active, false} | srv_opts()], cli_opts(),
                            fun(S) ->
                                    ok = Mod:setopts(S, [{mode, binary}, {packet, line}]),
                                    [Mod:recv(S, 0, ?T), Mod:recv(S, 0, ?T)]
                            end,
                            fun({ok, S}) -> ssl:send(S, "ab\ncd\n"); (E) -> E end)
        end)].

%% The client under test falls back to TLS 1.2 (fallback: TLS_FALLBACK_SCSV) against
%% an ssl server with `SOpts'.
fallback_12(SOpts) ->
    fun(Mod) ->
            with_server(Mod, SOpts, [{fallback, true}, {versions, ['tlsv1.2']} | cli_opts()],
                        fun({ok, S}) -> ssl:recv(S, 0, ?T); (E) -> E end,
                        fun(S) -> Mod:connection_information(S, [protocol]) end)
    end.

many_keys() ->
    [packet_size, exit_on_close, header, active, mode, packet, nodelay, keepalive].

%% openssl dhparam -dsaparam 2048 (X9.42: p, g and q)
x942_dh_pem() ->
    <<
      "-----BEGIN X9.42 DH PARAMETERS-----\n"
      "MIICKQKCAQEA2EDMef5/5GHezwLWvTzbA1+HWUTdPIUW4O/OzQv0j7Nzz2mTQPDG\n"
      "ht6iiYlqCeC3QNK0TlB5nAHbZ8rtfE+hSmkcD8ZPfxwohJ053Uvs7tXnw2coY9IX\n"
      "WCHj1ZaFSQvJwLXhAwGAY36JNHRndkxb7DDLYvKhy11RNJj0MawNr51/l1/e511W\n"
      "J3fsZ9AUzsTs4n/MqlPPy+t6JzULzlNJhwjQU9OpKwxXk5QhzGm8TN1wd2GQla/R\n"
      "qTmznAu3oWyudFm62bARBUZK47qF4ScZzds8VNpTRLdg54ZL4DVLNQRba/lH4s77\n"
      "jy2e12pXuyAdgWWNT8fPVfkuicVFh2W2tQKCAQEAosuFKbtBaRnv9oeoWgK1bQKS\n"
      "hGw8K1BRrT4WYmMfv8i39I6uiSfZ34NBDd683oxAl3cORIiNzlh2YvaOwzwEfucm\n"
      "bckCEOKt6XPuj8BmSZB/RCqGw5oIWoFH15YZRIaCEynpmkcqQKRdtFsUXJ0kdiDV\n"
      "iyXoAMhp+z0X5t7n5/cB1Vhg2yoBzvwD6zuj1Z8QBdmTFBfUHXKT2k+8RjMIaYQa\n"
      "cWgZgwHW0d8eIw//mDE1EQ1c9JeWT4dhUYditar9x7zEN+c7L4WiSWVQsfkRG8vG\n"
      "xuaut5QKDEXNsWATPxlsvpNOM+9D8ZaTTz82zvKG31XHMm6Z8a+Esm7nL7qNJwId\n"
      "AK+EYmd7O4JUjtVd8ikQz7Z3RXi9TCfdoXOawWk=\n"
      "-----END X9.42 DH PARAMETERS-----\n">>.

honor(Honor, V) ->
    Suites = case V of
                 'tlsv1.2' -> [#{key_exchange => ecdhe_rsa, cipher => aes_128_gcm, mac => aead, prf => sha256},
                               #{key_exchange => ecdhe_rsa, cipher => aes_256_gcm, mac => aead, prf => sha384}];
                 'tlsv1.3' -> [#{key_exchange => any, cipher => aes_128_gcm, mac => aead, prf => sha256},
                               #{key_exchange => any, cipher => aes_256_gcm, mac => aead, prf => sha384}]
             end,
    fun(Mod) ->
            with_client(Mod, [{honor_cipher_order, Honor}, {ciphers, lists:reverse(Suites)},
                              {versions, [V]} | srv_opts()],
                        [{ciphers, Suites}, {versions, [V]} | cli_opts()],
                        fun(S) -> Mod:connection_information(S, [selected_cipher_suite]) end,
                        fun({ok, _}) -> ok; (E) -> E end)
    end.

sigalgs_client(Algs, V) ->
    fun(Mod) ->
            with_server(Mod, [{versions, [V]} | srv_opts()],
                        [{signature_algs, Algs}, {versions, [V]} | cli_opts()],
                        fun({ok, S}) -> ssl:recv(S, 0, ?T); ({error, {tls_alert, {A, _}}}) -> A; (E) -> E end,
                        fun(S) -> Mod:connection_information(S, [protocol]) end)
    end.
