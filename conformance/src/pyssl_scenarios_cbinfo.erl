%% @doc Conformance scenarios: `{cb_info, {Mod, DataTag, ClosedTag, ErrTag[,
%% PassiveTag]}}' with a user's transport module, `my_tcp' (gen_tcp under the
%% tags `my_data', `my_closed', `my_error', `my_passive'; the file is the tests'
%% own, tests/support/erl/my_tcp.erl). ssl and pyssl run the same module on this
%% node; the peer is the BEAM's ssl over plain gen_tcp. Client side
%% (`cb_client_*': `Mod:connect') and server side (`cb_server_*': `Mod:listen',
%% `transport_accept', `handshake'), data both ways, active modes, addresses,
%% listen socket options and the error paths.
-module(pyssl_scenarios_cbinfo).

-export([all/0]).

-import(pyssl_scenarios, [mk/3, srv_opts/0, cli_opts/0, with_server/5, with_client/5,
                          collect/3, digest/1, refused_port/0, listen/2, port/2]).

-define(T, 5000).
-define(CB4, {cb_info, {my_tcp, my_data, my_closed, my_error}}).
-define(CB5, {cb_info, {my_tcp, my_data, my_closed, my_error, my_passive}}).

all() -> client() ++ server().

%% A peer that echoes what it reads until the other side closes.
echo() ->
    fun({ok, S}) -> echo_loop(S, 0); (E) -> E end.

echo_loop(S, N) ->
    case ssl:recv(S, 0, ?T) of
        {ok, D} -> ok = ssl:send(S, D), echo_loop(S, N + iolist_size(D));
        {error, closed} -> {echoed, N};
        E -> E
    end.

%% An ssl client peer: sends Msg and reports what came back.
sender(Msg) ->
    fun({ok, S}) -> ok = ssl:send(S, Msg), R = ssl:recv(S, 0, ?T), _ = ssl:close(S), R;
       (E) -> E end.

recv_all(Mod, S, N) -> recv_all(Mod, S, N, []).
recv_all(_Mod, _S, N, Acc) when N =< 0 -> {data, digest(iolist_to_binary(lists:reverse(Acc)))};
recv_all(Mod, S, N, Acc) ->
    case Mod:recv(S, 0, ?T) of
        {ok, D} -> recv_all(Mod, S, N - iolist_size(D), [D | Acc]);
        E -> {E, iolist_size(Acc)}
    end.

on_client(Opts, F) ->
    fun(Mod) -> with_server(Mod, srv_opts(), Opts ++ cli_opts(), echo(),
                            fun(S) -> F(Mod, S) end) end.

on_server(Opts, Msg, F) ->
    fun(Mod) -> with_client(Mod, Opts ++ srv_opts(), cli_opts(), fun(S) -> F(Mod, S) end,
                            sender(Msg)) end.

client() ->
    Big = binary:copy(<<"0123456789abcdef">>, 6400),
    [mk(cb_info, cb_client_passive_echo,
        on_client([?CB4, binary, {active, false}],
                  fun(M, S) -> ok = M:send(S, <<"ping">>), M:recv(S, 0, ?T) end)),
     mk(cb_info, cb_client_active_echo,
        on_client([?CB4, binary, {active, true}],
                  fun(M, S) -> ok = M:send(S, <<"ping">>), collect(S, {bytes, 4}, ?T) end)),
     mk(cb_info, cb_client_active_n_5tuple,
        on_client([?CB5, binary, {active, 2}],
                  fun(M, S) -> ok = M:send(S, <<"a">>), A = collect(S, {count, 1}, ?T),
                               ok = M:send(S, <<"b">>), B = collect(S, {count, 2}, ?T),
                               {A, B} end)),
     mk(cb_info, cb_client_list_packet_2,
        on_client([?CB4, list, {packet, 2}, {active, false}],
                  fun(M, S) -> ok = M:send(S, "abc"), {M:recv(S, 0, ?T),
                                                       M:getopts(S, [mode, packet])} end)),
     mk(cb_info, cb_client_payload_100k_5tuple,
        on_client([?CB5, binary, {active, false}],
                  fun(M, S) -> ok = M:send(S, Big), recv_all(M, S, byte_size(Big)) end)),
     mk(cb_info, cb_client_addresses_and_options,
        on_client([?CB4, {nodelay, true}],
                  fun(M, S) -> {ok, {PA, _}} = M:peername(S), {ok, {LA, _}} = M:sockname(S),
                               {PA, LA, M:getopts(S, [nodelay, active]),
                                M:setopts(S, [{nodelay, false}]), M:getopts(S, [nodelay])} end)),
     mk(cb_info, cb_client_calls_after_close,
        on_client([?CB4, {active, false}],
                  fun(M, S) -> ok = M:close(S), {M:send(S, "x"), M:recv(S, 0, 100),
                                                 M:peername(S)} end)),
     mk(cb_info, cb_client_upgrade,
        fun(Mod) ->
                {Port, Peer} = pyssl_scenarios:server(srv_opts(), echo()),
                {ok, T} = my_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}], ?T),
                C = case Mod:connect(T, [?CB5, {server_name_indication, "localhost"},
                                         {active, false} | cli_opts()], ?T) of
                        {ok, S} -> ok = Mod:send(S, <<"up">>), R = Mod:recv(S, 0, ?T),
                                   _ = Mod:close(S), R;
                        E -> {connect, E}
                    end,
                {C, pyssl_scenarios:peer_result(Peer)}
        end),
     mk(cb_info, cb_client_bad_option,
        fun(Mod) -> Mod:connect("localhost", refused_port(), [?CB4, {verify, foo}], ?T) end),
     mk(cb_info, cb_client_bad_cb_info,
        fun(Mod) -> Mod:connect("localhost", refused_port(), [{cb_info, {my_tcp, 1, 2, 3}}], ?T) end),
     mk(cb_info, cb_client_refused,
        fun(Mod) -> Mod:connect("localhost", refused_port(), [?CB4 | cli_opts()], ?T) end),
     mk(cb_info, cb_client_bad_port,
        fun(Mod) -> Mod:connect("localhost", no_such_service, [?CB4 | cli_opts()], ?T) end),
     mk(cb_info, cb_client_module_missing,
        fun(Mod) ->
                try Mod:connect("localhost", refused_port(),
                                [{cb_info, {no_such_transport, d, c, e}} | cli_opts()], ?T)
                of R -> R
                catch C:E -> {C, E}
                end
        end),
     mk(cb_info, cb_client_closed_mid_handshake,
        fun(Mod) ->
                {ok, L} = gen_tcp:listen(0, [binary, {active, false}, {ip, {127, 0, 0, 1}}]),
                {ok, P} = inet:port(L),
                Self = self(),
                spawn_link(fun() -> {ok, A} = gen_tcp:accept(L, ?T),
                                    _ = gen_tcp:recv(A, 0, ?T), gen_tcp:close(A),
                                    Self ! closed end),
                R = Mod:connect("localhost", P, [?CB4 | cli_opts()], ?T),
                receive closed -> ok after ?T -> ok end,
                gen_tcp:close(L),
                R
        end)].

server() ->
    [mk(cb_info, cb_server_passive_echo,
        on_server([?CB4, binary, {active, false}], <<"ping">>,
                  fun(M, S) -> {ok, D} = M:recv(S, 0, ?T), ok = M:send(S, D), D end)),
     mk(cb_info, cb_server_active_5tuple,
        on_server([?CB5, binary, {active, true}], <<"ping">>,
                  fun(M, S) -> [{data, D}] = collect(S, {count, 1}, ?T), ok = M:send(S, D),
                               collect(S, {count, 1}, ?T) end)),
     mk(cb_info, cb_server_addresses,
        on_server([?CB4, binary, {active, false}], <<"x">>,
                  fun(M, S) -> {ok, {PA, _}} = M:peername(S), {ok, {LA, _}} = M:sockname(S),
                               {ok, D} = M:recv(S, 0, ?T), ok = M:send(S, D), {PA, LA} end)),
     mk(cb_info, cb_server_listen_options,
        fun(Mod) ->
                {ok, L} = listen(Mod, [?CB4, list, {active, false} | srv_opts()]),
                R = {Mod:getopts(L, [mode, active]), Mod:setopts(L, [binary, {active, once}]),
                     Mod:getopts(L, [active, mode]), Mod:peername(L), is_integer(port(Mod, L))},
                {R, Mod:close(L)}
        end),
     mk(cb_info, cb_server_accept_timeout,
        fun(Mod) ->
                {ok, L} = listen(Mod, [?CB4 | srv_opts()]),
                R = Mod:transport_accept(L, 100),
                {R, Mod:close(L)}
        end),
     mk(cb_info, cb_server_peer_leaves_before_handshake,
        fun(Mod) ->
                {ok, L} = listen(Mod, [?CB4 | srv_opts()]),
                {ok, C} = gen_tcp:connect({127, 0, 0, 1}, port(Mod, L), [binary]),
                {ok, T} = Mod:transport_accept(L, ?T),
                ok = gen_tcp:close(C),
                R = Mod:handshake(T, ?T),
                Mod:close(L),
                R
        end),
     mk(cb_info, cb_server_upgrade,
        fun(Mod) ->
                {ok, L} = my_tcp:listen(0, [binary, {active, false}, {ip, {127, 0, 0, 1}}]),
                {ok, P} = inet:port(L),
                Peer = pyssl_scenarios:client(P, cli_opts(), sender(<<"up">>)),
                {ok, T} = my_tcp:accept(L, ?T),
                S = case Mod:handshake(T, [?CB4, {active, false} | srv_opts()], ?T) of
                        {ok, H} -> {ok, D} = Mod:recv(H, 0, ?T), ok = Mod:send(H, D),
                                   _ = Mod:close(H), D;
                        E -> {handshake, E}
                    end,
                _ = my_tcp:close(L),
                {S, pyssl_scenarios:peer_result(Peer)}
        end),
     mk(cb_info, cb_server_bad_option,
        fun(Mod) -> Mod:listen(0, [?CB4, {verify, foo} | srv_opts()]) end)].
