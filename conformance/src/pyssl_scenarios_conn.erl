%% @doc Conformance scenarios: the life of a connection. Close, shutdown and
%% half-close, calls after close, owner handover and owner death, information
%% calls, calls on a listen socket, `format_error/1' texts.
-module(pyssl_scenarios_conn).

-export([all/0]).

-import(pyssl_scenarios, [mk/3, srv_opts/0, cli_opts/0, with_server/5, with_client/5,
                          collect/3, flush/0, listen/2, port/2, connect/3, server/2,
                          peer_result/1, refused_port/0, tls_only/1, settled/1,
                          signal/2, wait_signal/0]).

-define(T, 5000).

all() ->
    renegotiation() ++ close() ++ owner() ++ info() ++ secrets() ++ listen_socket() ++ format_error().

%%% renegotiate (issue 10) -----------------------------------------------------------------

%% TLS 1.2 renegotiation started by the module under test: as a client with the
%% peer's data in flight (ssl answers ok and the data is delivered), and as a server
%% (ssl sends HelloRequest and answers once the new handshake is done); a second
%% renegotiation at once, which the ssl server declines (its 12 s guard against
%% client-initiated renegotiation storms, tls_connection:connection/3, a
%% no_renegotiation warning); and TLS 1.3, which has none.
renegotiation() ->
    V12 = tls_only('tlsv1.2'),
    Twice = fun(Mod, S) -> R1 = Mod:renegotiate(S), {R1, Mod:renegotiate(S)} end,
    [mk(renegotiate, renegotiate_client_data_in_flight,
        fun(Mod) ->
                with_server(Mod, V12 ++ srv_opts(), [{active, false} | V12 ++ cli_opts()],
                            fun({ok, S}) -> ok = ssl:send(S, "hello"), ssl:recv(S, 0, ?T);
                               (E) -> E end,
                            fun(S) -> R = Mod:renegotiate(S),
                                      {R, Mod:recv(S, 5, ?T), Mod:send(S, "bye")} end)
        end),
     mk(renegotiate, renegotiate_server,
        fun(Mod) ->
                with_client(Mod, [{active, false} | V12 ++ srv_opts()], V12 ++ cli_opts(),
                            fun(S) -> {Mod:renegotiate(S), Mod:send(S, "after"),
                                       Mod:recv(S, 3, ?T)} end,
                            fun({ok, C}) -> R = ssl:recv(C, 5, ?T), {R, ssl:send(C, "ack")};
                               (E) -> E end)
        end),
     %% the answers only: what the connection does after the refusal is the next one's
     mk(renegotiate, renegotiate_refused_by_peer,
        fun(Mod) ->
                with_server(Mod, V12 ++ srv_opts(), [{active, false} | V12 ++ cli_opts()],
                            fun({ok, S}) -> _ = ssl:recv(S, 0, ?T), done; (E) -> E end,
                            fun(S) -> Twice(Mod, S) end)
        end),
     %% a server under test with client_renegotiation false: the ssl client's
     %% renegotiation is declined (a no_renegotiation warning) and the connection goes on
     mk(renegotiate, client_renegotiation_false,
        fun(Mod) ->
                with_client(Mod, [{client_renegotiation, false}, {active, false} | V12 ++ srv_opts()],
                            V12 ++ cli_opts(),
                            fun(S) -> {Mod:recv(S, 2, ?T), Mod:send(S, "ok")} end,
                            fun({ok, C}) -> R = ssl:renegotiate(C),
                                            {R, ssl:send(C, "hi"), ssl:recv(C, 2, ?T)};
                               (E) -> E end)
        end),
     %% ... and by default it is taken (the client renegotiates, then sends)
     mk(renegotiate, client_renegotiation_default,
        fun(Mod) ->
                with_client(Mod, [{active, false} | V12 ++ srv_opts()], V12 ++ cli_opts(),
                            fun(S) -> {Mod:recv(S, 2, ?T), Mod:send(S, "ok")} end,
                            fun({ok, C}) -> R = ssl:renegotiate(C),
                                            {R, ssl:send(C, "hi"), ssl:recv(C, 2, ?T)};
                               (E) -> E end)
        end),
     {client_renegotiates_twice,
      fun(Mod) ->
              with_client(Mod, [{active, false} | V12 ++ srv_opts()], V12 ++ cli_opts(),
                          fun(S) -> {Mod:recv(S, 2, ?T), Mod:send(S, "ok")} end,
                          fun({ok, C}) -> {Twice(ssl, C), ssl:send(C, "hi"), ssl:recv(C, 2, ?T)};
                             (E) -> E end)
      end,
      #{area => renegotiate,
        known_difference =>
            "a client's second renegotiation within 12 s: ssl's server declines it "
            "(a no_renegotiation warning, tls_connection:connection/3: its guard against "
            "renegotiation storms, ?WAIT_TO_ALLOW_RENEGOTIATION), libssl takes it; "
            "both connections go on. Turning SSL_OP_ALLOW_CLIENT_RENEGOTIATION off for "
            "12 s per connection needs SSL_clear_options, which the bindings lack"}},
     {renegotiate_refused_then_data,
      fun(Mod) ->
              with_server(Mod, V12 ++ srv_opts(), [{active, false} | V12 ++ cli_opts()],
                          fun({ok, S}) -> R = ssl:recv(S, 0, ?T), {R, ssl:send(S, "ack")};
                             (E) -> E end,
                          fun(S) -> {Twice(Mod, S), Mod:send(S, "go"), Mod:recv(S, 0, ?T)} end)
      end,
      #{area => renegotiate,
        known_difference =>
            "renegotiate/1 answers {error, renegotiation_rejected} on both; ssl then goes "
            "on with the connection (ssl_gen_statem:handle_alert/3 on the peer's "
            "no_renegotiation warning), OpenSSL cannot: ssl3_read_bytes turns that warning "
            "into a fatal handshake_failure, so pyssl's connection ends (its owner and "
            "its peer see the alert)"}},
     {renegotiate_tls13_client,
      fun(Mod) ->
              V13 = tls_only('tlsv1.3'),
              with_server(Mod, V13 ++ srv_opts(), [{active, false} | V13 ++ cli_opts()],
                          fun({ok, S}) -> _ = ssl:recv(S, 0, ?T), done; (E) -> E end,
                          fun(S) -> answer_within(fun() -> Mod:renegotiate(S) end, 1000) end)
      end,
      #{area => renegotiate,
        known_difference =>
            "TLS 1.3 has no renegotiation: OTP 25's ssl never answers renegotiate/1 on a "
            "TLS 1.3 socket (tls_connection_1_3 has no clause for the call, which "
            "ssl_gen_statem:handle_call/4 postpones for the connection's life); pyssl "
            "answers {error, notsup}"}}].

%% `F()''s result, or no_answer if it has none within `Ms' (the caller is killed).
answer_within(F, Ms) ->
    Self = self(),
    Tag = make_ref(),
    Pid = spawn(fun() -> Self ! {Tag, F()} end),
    receive {Tag, A} -> A
    after Ms -> exit(Pid, kill), no_answer
    end.

%% A peer that waits for the client to close (and reports what it read).
waiter() -> fun({ok, S}) -> ssl:recv(S, 0, ?T); (E) -> E end.

on_client(Opts, F) ->
    fun(Mod) -> with_server(Mod, srv_opts(), Opts ++ cli_opts(), waiter(), fun(S) -> F(Mod, S) end) end.

on_server(Opts, F) ->
    fun(Mod) -> with_client(Mod, Opts ++ srv_opts(), cli_opts(), fun(S) -> F(Mod, S) end, waiter()) end.

%%% close ---------------------------------------------------------------------------------

after_close(Call) ->
    on_client([{active, false}], fun(M, S) -> ok = M:close(S), Call(M, S) end).

close() ->
    [mk(close, after_close_send, after_close(fun(M, S) -> M:send(S, "x") end)),
     mk(close, after_close_recv, after_close(fun(M, S) -> M:recv(S, 0, 100) end)),
     mk(close, after_close_setopts, after_close(fun(M, S) -> M:setopts(S, [{active, once}]) end)),
     mk(close, after_close_getopts, after_close(fun(M, S) -> M:getopts(S, [active]) end)),
     mk(close, after_close_shutdown, after_close(fun(M, S) -> M:shutdown(S, write) end)),
     mk(close, after_close_connection_information,
        after_close(fun(M, S) -> M:connection_information(S) end)),
     mk(close, after_close_controlling_process,
        after_close(fun(M, S) -> M:controlling_process(S, self()) end)),
     mk(close, after_close_peername, after_close(fun(M, S) -> M:peername(S) end)),
     mk(close, after_close_sockname, after_close(fun(M, S) -> M:sockname(S) end)),
     mk(close, after_close_peercert, after_close(fun(M, S) -> M:peercert(S) end)),
     mk(close, after_close_negotiated_protocol,
        after_close(fun(M, S) -> M:negotiated_protocol(S) end)),
     mk(close, second_close, after_close(fun(M, S) -> M:close(S) end)),
     mk(close, close_server_side_peer_sees_closed,
        on_server([{active, false}], fun(M, S) -> M:close(S) end)),
     mk(close, close_after_send_delivers_data,
        fun(Mod) ->
                with_server(Mod, srv_opts(), [{active, false} | cli_opts()],
                            fun({ok, S}) -> {ssl:recv(S, 5, ?T), ssl:recv(S, 0, ?T)}; (E) -> E end,
                            fun(S) -> {Mod:send(S, "hello"), Mod:close(S)} end)
        end),
     %% After shutdown(S, write) the socket still reads: data the peer sent
     %% before it saw the half-close is read after it. (Not asked: what a
     %% later recv says once the peer has closed too. ssl with
     %% {exit_on_close, false} answers {error, closed} if the recv was waiting
     %% when the peer's FIN came, but waits out its timeout if the FIN came
     %% first.)
     mk(close, shutdown_write_half_close,
        fun(Mod) ->
                Self = self(),
                {Port, Peer} = server(srv_opts(),
                                      fun({ok, S}) ->
                                              ok = ssl:send(S, "hello"),
                                              signal(Self, sent),
                                              ssl:recv(S, 0, ?T);
                                         (E) -> E
                                      end),
                C = case connect(Mod, Port, [{active, false}, {exit_on_close, false} | cli_opts()]) of
                        {ok, S} ->
                            Sent = wait_signal(),
                            R = {Sent, Mod:shutdown(S, write), Mod:recv(S, 5, ?T)},
                            _ = Mod:close(S),
                            R;
                        Other ->
                            {connect, Other}
                    end,
                {C, peer_result(Peer)}
        end),
     mk(close, shutdown_write_then_send,
        on_client([{active, false}, {exit_on_close, false}],
                  fun(M, S) -> {M:shutdown(S, write), M:send(S, "x")} end)),
     mk(close, shutdown_read_write,
        %% (the recv's answer, closed, comes once the connection has seen its socket's
        %% close: a wait for an event, so the timeout is ?T)
        on_client([{active, false}], fun(M, S) -> {M:shutdown(S, read_write), M:recv(S, 0, ?T)} end)),
     %% issue 10: after shutdown(S, read) a recv is {error, closed} at once (ssl's
     %% tls_sender closes the read side; a recv must not wait for its timeout)
     mk(close, shutdown_read_then_recv,
        on_client([{active, false}], fun(M, S) -> {M:shutdown(S, read), M:recv(S, 0, ?T)} end)),
     %% issue 10: shutdown(S, read_write) tells an active owner {ssl_closed, S}
     mk(close, shutdown_read_write_active_told,
        on_client([{active, true}],
                  fun(M, S) ->
                          {M:shutdown(S, read_write),
                           receive {ssl_closed, S} -> ssl_closed after ?T -> timeout end}
                  end)),
     mk(close, close_listen_then_accept,
        fun(Mod) ->
                {ok, L} = listen(Mod, srv_opts()),
                ok = Mod:close(L),
                Mod:transport_accept(L, 100)
        end),
     mk(close, close_with_timeout,
        on_client([{active, false}], fun(M, S) -> M:close(S, 1000) end)),
     mk(close, peer_close_active_after_data,
        fun(Mod) ->
                with_server(Mod, srv_opts(), [{active, true}, {mode, binary} | cli_opts()],
                            fun({ok, S}) -> ok = ssl:send(S, <<"last words">>), ssl:close(S);
                               (E) -> E end,
                            fun(S) -> {collect(S, {bytes, 10}, ?T), collect(S, {count, 1}, ?T)} end)
        end),
     %% once the owner has been told that the peer closed, the socket is closed
     mk(close, calls_after_peer_close_active,
        after_told([{active, true}],
                   fun(_M, S) -> receive {ssl_closed, S} -> ssl_closed after ?T -> timeout end end)),
     mk(close, calls_after_peer_close_passive,
        after_told([{active, false}], fun(M, S) -> M:recv(S, 0, ?T) end)),
     %% the peer closes once it sees the client's half-close, never before: the
     %% shutdown meets an open connection every time
     mk(close, calls_after_shutdown_write_peer_closes,
        after_told([{active, false}],
                   fun({ok, S}) -> R = ssl:recv(S, 0, ?T), _ = ssl:close(S), R; (E) -> E end,
                   fun(M, S) -> {M:shutdown(S, write), M:recv(S, 0, ?T)} end))].

%% The ssl peer closes at once; Told(M, S) waits until the client knows, then
%% every kind of call.
after_told(Opts, Told) ->
    after_told(Opts, fun({ok, S}) -> ssl:close(S); (E) -> E end, Told).

%% The same with the peer's fun `Peer'. The calls come once the socket has
%% settled (pyssl_scenarios:settled/1): ssl tells while its connection
%% processes are still ending.
after_told(Opts, Peer, Told) ->
    fun(Mod) ->
            with_server(Mod, srv_opts(), Opts ++ [{mode, binary} | cli_opts()], Peer,
                        fun(S) ->
                                R = Told(Mod, S),
                                ok = settled(S),
                                {R, [Mod:send(S, <<"x">>), Mod:recv(S, 0, 100),
                                     Mod:setopts(S, [{active, once}]), Mod:getopts(S, [active]),
                                     Mod:sockname(S), Mod:peername(S),
                                     Mod:connection_information(S, [protocol]),
                                     Mod:shutdown(S, write), Mod:close(S)]}
                        end)
    end.

%%% owner ----------------------------------------------------------------------------------

owner() ->
    [mk(owner, controlling_process_moves_messages,
        fun(Mod) ->
                Self = self(),
                with_server(Mod, srv_opts(), [{active, false}, {mode, binary} | cli_opts()],
                            fun({ok, S}) -> ok = ssl:send(S, <<"for the new owner">>), ssl:recv(S, 0, ?T);
                               (E) -> E end,
                            fun(S) ->
                                    New = spawn_link(fun() ->
                                                             receive go -> ok end,
                                                             Self ! {new_owner, collect(S, {bytes, 17}, ?T)}
                                                     end),
                                    R = Mod:controlling_process(S, New),
                                    ok = Mod:setopts(S, [{active, true}]),
                                    New ! go,
                                    Got = receive {new_owner, G} -> G after 2 * ?T -> none end,
                                    {R, Got, flush()}
                            end)
        end),
     mk(owner, owner_death_closes,
        fun(Mod) ->
                {Port, Peer} = server(srv_opts(), waiter()),
                Self = self(),
                {Pid, MRef} = spawn_monitor(fun() ->
                                                    R = connect(Mod, Port, [{active, false} | cli_opts()]),
                                                    Self ! {connected, R}
                                            end),
                C = receive {connected, R} -> element(1, R) after 2 * ?T -> none end,
                receive {'DOWN', MRef, process, Pid, _} -> ok end,
                {C, peer_result(Peer)}
        end),
     mk(owner, new_owner_death_closes,
        fun(Mod) ->
                with_server(Mod, srv_opts(), [{active, false} | cli_opts()], waiter(),
                            fun(S) ->
                                    {Pid, MRef} = spawn_monitor(fun() -> receive die -> ok end end),
                                    R = Mod:controlling_process(S, Pid),
                                    Pid ! die,
                                    receive {'DOWN', MRef, process, Pid, _} -> ok end,
                                    R
                            end)
        end),
     mk(owner, controlling_process_by_non_owner,
        on_client([{active, false}],
                  fun(M, S) ->
                          Self = self(),
                          spawn_link(fun() -> Self ! {cp, M:controlling_process(S, Self)} end),
                          receive {cp, R} -> {R, M:send(S, "still mine")} after 2 * ?T -> none end
                  end)),
     mk(owner, controlling_process_to_self,
        on_client([{active, false}], fun(M, S) -> M:controlling_process(S, self()) end)),
     %% (What a send made at once answers is left out: ssl replies ok to the
     %% handover and its sender takes the send until the connection process
     %% has seen the new owner's DOWN, so it says ok or {error, closed}, and the
     %% peer gets the data or not, depending on timing.)
     %% An active socket handed to a dead process: it closes and nobody is told.
     mk(owner, controlling_process_to_dead_pid_active,
        on_client([{active, true}],
                  fun(M, S) ->
                          {Pid, MRef} = spawn_monitor(fun() -> ok end),
                          receive {'DOWN', MRef, process, Pid, _} -> ok end,
                          R = M:controlling_process(S, Pid),
                          ok = settled(S),
                          {R, M:getopts(S, [active]), flush()}
                  end)),
     %% once the handover to a dead process has been noticed, the socket is closed
     mk(owner, controlling_process_to_dead_pid_closes,
        on_client([{active, false}],
                  fun(M, S) ->
                          {Pid, MRef} = spawn_monitor(fun() -> ok end),
                          receive {'DOWN', MRef, process, Pid, _} -> ok end,
                          R = M:controlling_process(S, Pid),
                          ok = settled(S),
                          {R, M:send(S, "alive?"), M:recv(S, 0, 100)}
                  end)),
     mk(owner, controlling_process_not_a_pid,
        on_client([{active, false}],
                  fun(M, S) ->
                          try M:controlling_process(S, not_a_pid) of V -> {returned, V}
                          catch C:R -> {C, R} end
                  end)),
     mk(owner, controlling_process_listen_socket,
        fun(Mod) ->
                {ok, L} = listen(Mod, srv_opts()),
                Self = self(),
                Pid = spawn_link(fun() -> receive {L2, go} -> Self ! {ta, Mod:transport_accept(L2, 50)} end end),
                R = Mod:controlling_process(L, Pid),
                Pid ! {L, go},
                {R, receive {ta, A} -> A after 2 * ?T -> none end}
        end),
     %% The port is read while the owner lives: once it is gone the listener closes
     %% (ssl: with the gen_tcp port, which the owner's exit closes a moment after its
     %% monitors hear of it), and a sockname then said einval, or, that moment before,
     %% the port. The calls come once the listener has settled (settled/1: a
     %% transport_accept in that moment says einval, after it closed), so the connect
     %% meets no listener.
     mk(owner, listen_owner_death_closes_listener,
        fun(Mod) ->
                Self = self(),
                {Pid, MRef} = spawn_monitor(fun() ->
                                                    R = listen(Mod, srv_opts()),
                                                    Self ! {l, R, case R of
                                                                      {ok, L0} -> port(Mod, L0);
                                                                      _ -> none
                                                                  end}
                                            end),
                {{ok, L}, P} = receive {l, R, P0} -> {R, P0} after 2 * ?T -> none end,
                receive {'DOWN', MRef, process, Pid, _} -> ok end,
                ok = settled(L),
                {Mod:transport_accept(L, ?T),
                 ssl:connect("localhost", P, [{active, false} | cli_opts()], ?T)}
        end)].

%%% secrets (keep_secrets) -------------------------------------------------------------

%% connection_information/2's secret items and NSS key log lines, both roles, TLS 1.3
%% and 1.2, keep_secrets true and false (ssl_gen_statem:security_info/1 and
%% maybe_add_keylog/1). The secrets differ from run to run: compared by shape (items
%% and their order, sizes, line labels, hex widths and case).
-define(SECRET_ITEMS, [protocol, client_traffic_secret_0, server_traffic_secret_0,
                       client_handshake_traffic_secret, server_handshake_traffic_secret,
                       client_random, server_random, master_secret, keylog]).

secrets() ->
    [mk(info, list_to_atom(lists:flatten(io_lib:format("keep_secrets_~s_~s_~s", [Role, V, K]))),
        secrets_case(Role, V, K))
     || Role <- [client, server], V <- ['tlsv1.3', 'tlsv1.2'], K <- [true, false]].

secrets_case(client, V, K) -> on_client(tls_only(V) ++ [{keep_secrets, K}], fun secret_info/2);
secrets_case(server, V, K) -> on_server(tls_only(V) ++ [{keep_secrets, K}], fun secret_info/2).

secret_info(M, S) ->
    {secret_shape(M:connection_information(S, [keylog])),
     secret_shape(M:connection_information(S, ?SECRET_ITEMS))}.

secret_shape({ok, Items}) -> {ok, [{K, secret_value(K, V)} || {K, V} <- Items]};
secret_shape(E) -> E.

secret_value(keylog, Lines) ->
    [case string:lexemes(L, " ") of
         [Label, R, S] -> {Label, length(R), length(S), L =:= string:uppercase(L)};
         _ -> {bad_line, L}
     end || L <- Lines];
secret_value(_, B) when is_binary(B) -> {bytes, byte_size(B)};
secret_value(_, V) -> V.

%%% info -----------------------------------------------------------------------------------

keys({ok, L}) -> {ok, lists:sort([K || {K, _} <- L])};
keys(E) -> E.

info() ->
    [mk(info, connection_information_keys,
        on_client([], fun(M, S) -> keys(M:connection_information(S)) end)),
     mk(info, connection_information_keys_server,
        on_server([], fun(M, S) -> keys(M:connection_information(S)) end)),
     mk(info, connection_information_items_13,
        on_client(tls_only('tlsv1.3'),
                  fun(M, S) -> M:connection_information(S, [protocol, selected_cipher_suite]) end)),
     mk(info, connection_information_items_12,
        on_client(tls_only('tlsv1.2') ++ [{ciphers, [#{key_exchange => ecdhe_rsa, cipher => aes_128_gcm,
                                                       mac => aead, prf => sha256}]}],
                  fun(M, S) -> M:connection_information(S, [protocol, selected_cipher_suite]) end)),
     mk(info, connection_information_sni,
        on_client([], fun(M, S) -> M:connection_information(S, [sni_hostname]) end)),
     mk(info, connection_information_unknown_item,
        on_client([], fun(M, S) -> M:connection_information(S, [no_such_item]) end)),
     mk(info, connection_information_empty_items,
        on_client([], fun(M, S) -> M:connection_information(S, []) end)),
     mk(info, peername_sockname,
        on_client([], fun(M, S) -> {M:peername(S), M:sockname(S)} end)),
     mk(info, peername_sockname_server,
        on_server([], fun(M, S) -> {M:peername(S), M:sockname(S)} end)),
     mk(info, peercert_client,
        on_client([], fun(M, S) ->
                              case M:peercert(S) of
                                  {ok, D} -> {ok, D =:= pyssl_certs:der(rsa, server)};
                                  E -> E
                              end
                      end)),
     mk(info, peercert_server_no_client_cert,
        on_server([], fun(M, S) -> M:peercert(S) end)),
     mk(info, peercert_server_with_client_cert,
        on_server([{verify, verify_peer}],
                  fun(M, S) ->
                          case M:peercert(S) of
                              {ok, D} -> {ok, D =:= pyssl_certs:der(rsa, client)};
                              E -> E
                          end
                  end)),
     mk(info, negotiated_protocol_none,
        on_client([], fun(M, S) -> M:negotiated_protocol(S) end)),
     mk(info, alpn_client,
        fun(Mod) ->
                with_server(Mod, [{alpn_preferred_protocols, [<<"h2">>, <<"http/1.1">>]} | srv_opts()],
                            [{alpn_advertised_protocols, [<<"http/1.1">>, <<"h2">>]} | cli_opts()],
                            fun({ok, S}) -> ssl:negotiated_protocol(S); (E) -> E end,
                            fun(S) -> Mod:negotiated_protocol(S) end)
        end),
     mk(info, alpn_server,
        fun(Mod) ->
                with_client(Mod, [{alpn_preferred_protocols, [<<"h2">>, <<"http/1.1">>]} | srv_opts()],
                            [{alpn_advertised_protocols, [<<"http/1.1">>, <<"h2">>]} | cli_opts()],
                            fun(S) -> Mod:negotiated_protocol(S) end,
                            fun({ok, S}) -> ssl:negotiated_protocol(S); (E) -> E end)
        end),
     mk(info, alpn_no_overlap_client,
        fun(Mod) ->
                with_server(Mod, [{alpn_preferred_protocols, [<<"h2">>]} | srv_opts()],
                            [{alpn_advertised_protocols, [<<"spdy/3">>]} | cli_opts()],
                            fun(R) -> R end,
                            fun(S) -> Mod:recv(S, 0, ?T) end)
        end),
     mk(info, alpn_server_only_client_silent,
        fun(Mod) ->
                with_client(Mod, [{alpn_preferred_protocols, [<<"h2">>]} | srv_opts()], cli_opts(),
                            fun(S) -> Mod:negotiated_protocol(S) end,
                            fun({ok, S}) -> ssl:negotiated_protocol(S); (E) -> E end)
        end),
     mk(info, versions_keys,
        fun(Mod) -> lists:sort(proplists:get_keys(Mod:versions())) end),
     mk(info, versions_supported,
        fun(Mod) -> proplists:get_value(supported, Mod:versions()) end),
     mk(info, cipher_suites_default_13,
        fun(Mod) -> lists:sort(Mod:cipher_suites(default, 'tlsv1.3')) end),
     %% the same list without the static ECDH suites OpenSSL 3 no longer has
     mk(info, cipher_suites_default_13_but_static_ecdh,
        fun(Mod) -> lists:sort([S || #{key_exchange := KX} = S <- Mod:cipher_suites(default, 'tlsv1.3'),
                                     KX =/= ecdh_ecdsa, KX =/= ecdh_rsa]) end),
     mk(info, cipher_suites_default_12_but_static_ecdh,
        fun(Mod) -> lists:sort([S || #{key_exchange := KX} = S <- Mod:cipher_suites(default, 'tlsv1.2'),
                                     KX =/= ecdh_ecdsa, KX =/= ecdh_rsa]) end),
     mk(info, listen_sockname,
        fun(Mod) ->
                {ok, L} = listen(Mod, srv_opts()),
                {ok, {IP, P}} = Mod:sockname(L),
                {IP, is_integer(P) andalso P > 0}
        end),
     mk(info, connection_info_r16_shape,
        on_client(tls_only('tlsv1.2'),
                  fun(M, S) ->
                          case erlang:function_exported(M, connection_info, 1) of
                              true -> element(1, M:connection_info(S));
                              false -> ok
                          end
                  end)),
     mk(info, prf_master_secret_length,
        fun(Mod) ->
                with_server(Mod, srv_opts(), tls_only('tlsv1.2') ++ cli_opts(),
                            fun({ok, S}) ->
                                    R = ssl:prf(S, master_secret, <<"pyssl test">>,
                                                [client_random, server_random], 16),
                                    {ok, Got} = ssl:recv(S, 16, ?T),
                                    {ok, Mine} = R,
                                    Got =:= binary_to_list(Mine);
                               (E) -> E
                            end,
                            fun(S) ->
                                    {ok, D} = Mod:prf(S, master_secret, <<"pyssl test">>,
                                                      [client_random, server_random], 16),
                                    ok = Mod:send(S, D),
                                    byte_size(D)
                            end)
        end)].

%%% listen socket ---------------------------------------------------------------------------

on_listen(F) ->
    fun(Mod) ->
            {ok, L} = listen(Mod, srv_opts()),
            R = F(Mod, L),
            _ = Mod:close(L),
            R
    end.

listen_socket() ->
    [mk(listen, listen_send, on_listen(fun(M, L) -> M:send(L, "x") end)),
     mk(listen, listen_recv, on_listen(fun(M, L) -> M:recv(L, 0, 100) end)),
     mk(listen, listen_peercert, on_listen(fun(M, L) -> M:peercert(L) end)),
     mk(listen, listen_connection_information,
        on_listen(fun(M, L) -> M:connection_information(L) end)),
     mk(listen, listen_renegotiate, on_listen(fun(M, L) -> M:renegotiate(L) end)),
     mk(listen, listen_prf,
        on_listen(fun(M, L) -> M:prf(L, master_secret, <<"l">>, [client_random], 16) end)),
     mk(listen, listen_shutdown, on_listen(fun(M, L) -> M:shutdown(L, write) end)),
     mk(listen, listen_peername, on_listen(fun(M, L) -> M:peername(L) end)),
     mk(listen, listen_negotiated_protocol, on_listen(fun(M, L) -> M:negotiated_protocol(L) end)),
     mk(listen, listen_handshake,
        on_listen(fun(M, L) ->
                          try M:handshake(L, 100) of V -> {returned, V}
                          catch C:R -> {C, R} end
                  end)),
     mk(listen, two_accepts_in_a_row,
        fun(Mod) ->
                {ok, L} = listen(Mod, [{active, false} | srv_opts()]),
                P = port(Mod, L),
                Self = self(),
                Clients = [spawn_link(fun() ->
                                              R = ssl:connect("localhost", P, [{active, false} | cli_opts()], ?T),
                                              Self ! {client, self(), element(1, R)},
                                              %% kept alive until the scenario ends (nobody sends stop)
                                              receive stop -> ok end
                                      end) || _ <- [1, 2]],
                Got = [begin
                           {ok, T} = Mod:transport_accept(L, ?T),
                           element(1, Mod:handshake(T, ?T))
                       end || _ <- Clients],
                {Got, [receive {client, C, R} -> R after 2 * ?T -> none end || C <- Clients]}
        end)].

%%% format_error -----------------------------------------------------------------------------

format_error() ->
    Reasons = [{closed, closed},
               {timeout, timeout},
               {econnrefused, econnrefused},
               {einval, einval},
               {enotconn, enotconn},
               {eaddrinuse, eaddrinuse},
               {options_verify, {options, {verify, foo}}},
               {options_socket, {options, {socket_options, [{foo, bar}]}}},
               {options_certfile, {options, {certfile, "/x.pem", {error, enoent}}}},
               {options_incompatible, {options, incompatible, {verify, verify_none},
                                       {fail_if_no_peer_cert, true}}},
               {no_peercert, no_peercert},
               {unknown_term, {strange, reason}},
               {text, "already a text"},
               {error_wrapped, {error, closed}}],
    [mk(format_error, list_to_atom("format_error_" ++ atom_to_list(N)),
        fun(Mod) -> Mod:format_error(R) end) || {N, R} <- Reasons] ++
    [mk(format_error, format_error_real_alert,
        fun(Mod) ->
                {Port, _Peer} = server(srv_opts(unknown_ca), fun(R) -> R end),
                case connect(Mod, Port, cli_opts()) of
                    {error, {tls_alert, {A, _}} = E} ->
                        Text = Mod:format_error(E),
                        {A, lists:prefix("TLS client", Text)};
                    Other -> Other
                end
        end),
     %% issue 10: the state the text names is ssl's (wait_cert_cr, a TLS 1.3 client
     %% waiting for the server's certificate; wait_cert, a TLS 1.3 server; certify)
     mk(format_error, format_error_state_client_13, alert_state(client, 'tlsv1.3')),
     mk(format_error, format_error_state_client_12, alert_state(client, 'tlsv1.2')),
     mk(format_error, format_error_state_server_13, alert_state(server, 'tlsv1.3')),
     mk(format_error, format_error_state_server_12, alert_state(server, 'tlsv1.2')),
     mk(format_error, format_error_refused,
        fun(Mod) ->
                {error, R} = Mod:connect("localhost", refused_port(), [{verify, verify_none}], ?T),
                Mod:format_error(R)
        end)].

srv_opts(Chain) -> pyssl_scenarios:srv_opts(Chain).

%% The module under test rejects its peer's certificate (signed by roots it does not
%% trust); the result is the alert and the state its format_error/1 text names.
alert_state(client, V) ->
    fun(Mod) ->
            {Port, _Peer} = server(tls_only(V) ++ srv_opts(unknown_ca), fun(R) -> R end),
            alert_state_of(Mod, connect(Mod, Port, tls_only(V) ++ cli_opts()))
    end;
alert_state(server, V) ->
    fun(Mod) ->
            {ok, L} = listen(Mod, [{verify, verify_peer}, {fail_if_no_peer_cert, true}
                                   | tls_only(V) ++ srv_opts()]),
            Peer = pyssl_scenarios:client(port(Mod, L), [{verify, verify_none} | tls_only(V)]
                                          ++ pyssl_certs:opts(expired, client),
                                          fun(R) -> R end),
            R = alert_state_of(Mod, pyssl_scenarios:accept(Mod, L)),
            _ = peer_result(Peer),
            ok = Mod:close(L),
            R
    end.

alert_state_of(Mod, {error, {tls_alert, {A, _}} = E}) ->
    Text = Mod:format_error(E),
    case string:split(Text, "In state ") of
        [Role, Rest] -> {A, Role, hd(string:split(Rest, " "))};
        _ -> {A, Text}
    end;
alert_state_of(_Mod, Other) ->
    Other.
