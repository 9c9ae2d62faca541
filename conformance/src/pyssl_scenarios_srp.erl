%% @doc Conformance scenarios: SRP (RFC 5054, TLS 1.2; issue 12), in both roles.
%% The client under test (`srp_identity') against an ssl server, and an ssl
%% client against the server under test (`user_lookup_fun' answering `srp');
%% data both ways, a wrong password, a client without an identity, a lookup
%% fun that fails. In pyssl these connections run on the tlslite-ng engine.
%%
%% The lookup is ssl's own test suite's (`ssl_test_lib:user_lookup/3'): a
%% fresh salt, `x = SHA1(Salt | SHA1(User ":" "secret"))' with `srp_1024'.
-module(pyssl_scenarios_srp).

-export([all/0, user_lookup/3]).

-import(pyssl_scenarios, [mk/3, with_server/5, with_client/5, digest/1]).

-define(T, 5000).

all() ->
    [mk(srp, srp_client_echo, as_client(id("alice", "secret"), fun echo/1)),
     mk(srp, srp_client_data_both_ways, as_client(id("alice", "secret"), fun bulk/1)),
     mk(srp, srp_client_aes_256_first, as_client_suites(id("alice", "secret"), [aes_256_cbc, aes_128_cbc])),
     mk(srp, srp_client_wrong_password, as_client(id("alice", "guess"), fun echo/1)),
     mk(srp, srp_client_no_identity, as_client([], fun echo/1)),
     mk(srp, srp_server_echo, as_server(fun user_lookup/3, id("bob", "secret"), fun echo_back/1)),
     mk(srp, srp_server_data_both_ways, as_server(fun user_lookup/3, id("bob", "secret"), fun bulk_back/1,
                                                  fun cli_bulk/1)),
     {srp_server_wrong_password,
      as_server(fun user_lookup/3, id("bob", "nope"), fun echo_back/1),
      #{area => srp, known_difference =>
            "ssl's server answers the client's Finished it cannot decrypt with its "
            "bad_record_mac alert in a way its own client reports as {error, closed}; "
            "the bridge's server (tlslite-ng) sends bad_record_mac, which the ssl client "
            "reports as {tls_alert, {bad_record_mac, ...}}. The server side is the same"}},
     mk(srp, srp_server_no_identity, as_server(fun user_lookup/3, [], fun echo_back/1)),
     mk(srp, srp_server_lookup_fails, as_server(fun(srp, _, _) -> error end, id("bob", "secret"),
                                                fun echo_back/1)),
     mk(srp, srp_cipher_suites, fun(Mod) -> [S || S <- Mod:cipher_suites(anonymous, 'tlsv1.2'),
                                                  maps:get(key_exchange, S) =:= srp_anon] end)].

user_lookup(srp, Username, _UserState) ->
    Salt = crypto:strong_rand_bytes(16),
    UserPassHash = crypto:hash(sha, [Salt, crypto:hash(sha, [Username, <<$:>>, <<"secret">>])]),
    {ok, {srp_1024, Salt, UserPassHash}}.

id(User, Password) -> [{srp_identity, {User, Password}}].

suites() -> suites([aes_128_cbc, aes_256_cbc, '3des_ede_cbc']).

suites(Ciphers) ->
    All = ssl:cipher_suites(anonymous, 'tlsv1.2'),
    [S || C <- Ciphers, S <- All, maps:get(key_exchange, S) =:= srp_anon, maps:get(cipher, S) =:= C].

base() -> base(suites()).

base(Suites) -> [{versions, ['tlsv1.2']}, {ciphers, Suites}, {verify, verify_none}, binary].

%% The client under test against an ssl server that echoes one message.
as_client(CliOpts, CliFun) ->
    fun(Mod) ->
            with_server(Mod, base() ++ [{user_lookup_fun, {fun user_lookup/3, state}}],
                        [{active, false} | base()] ++ CliOpts, fun srv_echo/1,
                        fun(S) -> CliFun({Mod, S}) end)
    end.

as_client_suites(CliOpts, Ciphers) ->
    fun(Mod) ->
            with_server(Mod, base() ++ [{user_lookup_fun, {fun user_lookup/3, state}}],
                        [{active, false} | base(suites(Ciphers))] ++ CliOpts, fun srv_echo/1,
                        fun(S) -> echo({Mod, S}) end)
    end.

%% An ssl client against the server under test.
as_server(Lookup, CliOpts, SrvFun) ->
    as_server(Lookup, CliOpts, SrvFun, fun cli_echo/1).

as_server(Lookup, CliOpts, SrvFun, CliFun) ->
    fun(Mod) ->
            with_client(Mod, base() ++ [{active, false}, {user_lookup_fun, {Lookup, state}}], base() ++ CliOpts,
                        fun(S) -> SrvFun({Mod, S}) end, CliFun)
    end.

info(Mod, S) -> Mod:connection_information(S, [protocol, selected_cipher_suite]).

echo({Mod, S}) ->
    ok = Mod:send(S, <<"srp ping">>),
    {Mod:recv(S, 0, ?T), info(Mod, S)}.

bulk({Mod, S}) ->
    Data = binary:copy(<<"0123456789abcdef">>, 8192),
    ok = Mod:send(S, Data),
    {recv_all(Mod, S, 2 * byte_size(Data), []), info(Mod, S)}.

echo_back({Mod, S}) ->
    R = Mod:recv(S, 0, ?T),
    case R of
        {ok, D} -> ok = Mod:send(S, <<D/binary, "!">>);
        _ -> ok
    end,
    {R, info(Mod, S)}.

bulk_back({Mod, S}) ->
    Got = recv_all(Mod, S, 131072, []),
    case Got of
        {data, _, _} -> ok = Mod:send(S, binary:copy(<<"fedcba9876543210">>, 16384));
        _ -> ok
    end,
    {Got, info(Mod, S)}.

cli_bulk({ok, S}) ->
    ok = ssl:send(S, binary:copy(<<"0123456789abcdef">>, 8192)),
    recv_all(ssl, S, 262144, []);
cli_bulk(E) -> E.

recv_all(_Mod, _S, N, Acc) when N =< 0 ->
    D = iolist_to_binary(lists:reverse(Acc)),
    {data, digest(D), N};
recv_all(Mod, S, N, Acc) ->
    case Mod:recv(S, 0, ?T) of
        {ok, D} -> recv_all(Mod, S, N - byte_size(D), [D | Acc]);
        E -> {E, iolist_size(Acc)}
    end.

%% the ssl peers
srv_echo({ok, S}) ->
    R = recv_echo(S, 0),
    {ok, R};
srv_echo(E) -> E.

%% echo everything back, doubled in size for the bulk scenario's check
recv_echo(S, N) ->
    case ssl:recv(S, 0, ?T) of
        {ok, D} -> ok = ssl:send(S, [D, D]), recv_echo(S, N + byte_size(D));
        {error, timeout} -> N;
        {error, closed} -> N;
        E -> E
    end.

cli_echo({ok, S}) ->
    ok = ssl:send(S, <<"hi">>),
    R = ssl:recv(S, 0, ?T),
    R;
cli_echo(E) -> E.
