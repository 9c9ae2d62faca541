%% @doc Conformance scenarios: what a connection tells about itself.
%% `connection_information/1,2' in full (the connection's items, then every ssl
%% option of the socket in ssl's order, then the secrets), and `prf/5' on both
%% ends of one connection (the side under test and its ssl peer must derive the
%% same bytes), `max_fragment_length' as a server sees it.
-module(pyssl_scenarios_info).

-export([all/0]).

-import(pyssl_scenarios, [mk/3, srv_opts/0, cli_opts/0, with_server/5, with_client/5,
                          tls_only/1]).

-define(T, 5000).

all() ->
    connection_information() ++ prf() ++ max_fragment_length() ++ protocol_version_env() ++
        sni_versions() ++ certs_keys().

%%% connection_information ------------------------------------------------------------

%% The run-dependent values made comparable: funs (made on each run), the session
%% id and data (random; pyssl's session_data is its own encoding), and the curve,
%% which depends on the two TLS stacks: it must be the one the ssl peer reports.
norm_info({ok, Info}, PeerEcc) ->
    {ok, [{K, norm_value(K, V, PeerEcc)} || {K, V} <- Info]};
norm_info(Other, _) ->
    Other.

%% (the TLS 1.3 client's id: ssl's legacy_session_id, empty in OpenSSL until a ticket)
norm_value(session_id, V, _) -> is_binary(V);
norm_value(session_data, V, _) -> is_binary(V);
norm_value(ecc, V, PeerEcc) -> {same_as_peer, {ok, [{ecc, V}]} =:= PeerEcc};
norm_value(keylog, Lines, _) -> [length(L) || L <- Lines];
norm_value(K, V, _) when K =:= client_random; K =:= server_random; K =:= master_secret ->
    {bytes, byte_size(V)};
norm_value(_, V, _) -> no_funs(V).

no_funs(F) when is_function(F) -> 'FUN';
no_funs(T) when is_tuple(T) -> list_to_tuple(no_funs(tuple_to_list(T)));
no_funs([H | T]) -> [no_funs(H) | no_funs(T)];
no_funs(M) when is_map(M) -> maps:map(fun(_, V) -> no_funs(V) end, M);
no_funs(X) -> X.

peer_ecc() ->
    fun({ok, S}) -> R = ssl:connection_information(S, [ecc]), _ = ssl:recv(S, 0, ?T), R;
       (E) -> E
    end.

info_client(Version, Extra, Call) ->
    fun(Mod) ->
            {C, PeerEcc} = with_server(Mod, srv_opts(), tls_only(Version) ++ Extra ++ cli_opts(),
                                       peer_ecc(), fun(S) -> Call(Mod, S) end),
            norm_info(C, PeerEcc)
    end.

info_server(Version, Extra, Call) ->
    fun(Mod) ->
            Self = self(),
            {S, _} = with_client(Mod, tls_only(Version) ++ Extra ++ srv_opts(), cli_opts(),
                                 fun(T) -> Call(Mod, T) end,
                                 fun(R) -> Self ! {peer_ecc, (peer_ecc())(R)} end),
            PeerEcc = receive {peer_ecc, E} -> E after 2 * ?T -> peer_timeout end,
            norm_info(S, PeerEcc)
    end.

all_info() -> fun(M, S) -> M:connection_information(S) end.
items(Items) -> fun(M, S) -> M:connection_information(S, Items) end.

connection_information() ->
    Some = [protocol, log_level, verify, ciphers, keylog, client_random, sni_hostname,
            session_resumption, no_such_item],
    [mk(info, conn_info_all_client_12, info_client('tlsv1.2', [], all_info())),
     mk(info, conn_info_all_client_13, info_client('tlsv1.3', [], all_info())),
     mk(info, conn_info_all_server_12, info_server('tlsv1.2', [], all_info())),
     mk(info, conn_info_all_server_13, info_server('tlsv1.3', [], all_info())),
     %% a client without a verify option (ssl warns once, at connect) and with SNI
     mk(info, conn_info_all_client_defaults,
        fun(Mod) ->
                {C, _} = with_server(Mod, srv_opts(), [{server_name_indication, "localhost"}],
                                     fun({ok, S}) -> ssl:recv(S, 0, ?T); (E) -> E end,
                                     fun(S) -> Mod:connection_information(S) end),
                norm_info(C, none)
        end),
     mk(info, conn_info_items_client, info_client('tlsv1.2', [{log_level, error}], items(Some))),
     mk(info, conn_info_items_server, info_server('tlsv1.3', [{log_level, none}], items(Some))),
     %% ssl_api_SUITE:log_alert reads the log level back this way
     mk(info, conn_info_log_level_only,
        info_client('tlsv1.2', [{log_level, none}], items([log_level]))),
     %% handshake/2's options are processed over the listen socket's
     mk(info, conn_info_handshake_options,
        fun(Mod) ->
                {ok, L} = Mod:listen(0, [{ip, {127, 0, 0, 1}}, {active, false},
                                         {log_level, warning} | srv_opts()]),
                {ok, {_, Port}} = Mod:sockname(L),
                Peer = spawn_link(fun() ->
                                          R = ssl:connect("localhost", Port, cli_opts(), ?T),
                                          receive stop -> R end
                                  end),
                {ok, T} = Mod:transport_accept(L, ?T),
                R = case Mod:handshake(T, [{log_level, error}, {keep_secrets, true}], ?T) of
                        {ok, S} -> norm_info(Mod:connection_information(S), none);
                        Other -> Other
                    end,
                Peer ! stop,
                _ = Mod:close(T),
                _ = Mod:close(L),
                R
        end),
     mk(info, conn_info_bad_items,
        info_client('tlsv1.2', [], fun(M, S) -> catch M:connection_information(S, [1, <<"x">>]) end))].

%%% prf ----------------------------------------------------------------------------------

%% The calls each end makes: the standard key expansion, binary secrets with mixed
%% seeds, lengths 0 and 1, a long output, and the errors ssl's catch makes.
prf_calls(Mod, S) ->
    [catch Mod:prf(S, master_secret, <<"key expansion">>, [server_random, client_random], 40),
     catch Mod:prf(S, master_secret, <<"EXPORTER">>, [client_random, server_random], 16),
     catch Mod:prf(S, <<"secret">>, <<"label">>, [<<"seed">>, client_random], 33),
     catch Mod:prf(S, <<>>, <<>>, [<<>>], 16),
     catch Mod:prf(S, <<1, 2, 3>>, "iolist label", [], 1),
     catch Mod:prf(S, master_secret, <<"l">>, [], 200),
     catch Mod:prf(S, master_secret, <<"l">>, [], 0),
     catch Mod:prf(S, master_secret, <<"l">>, [], -5),
     catch Mod:prf(S, master_secret, <<"l">>, [bad_seed], 16),
     catch Mod:prf(S, not_a_secret, <<"l">>, [], 16),
     catch Mod:prf(S, master_secret, <<"l">>, not_a_list, 16),
     catch Mod:prf(S, master_secret, bad_label, [], 16),
     catch Mod:prf(S, master_secret, <<"l">>, [], not_a_length)].

%% The peer's results go over the connection, length-prefixed, so that the side
%% under test can check that both ends derived the same bytes.
prf_peer() ->
    fun({ok, S}) ->
            Bin = term_to_binary(prf_calls(ssl, S)),
            ok = ssl:send(S, <<(byte_size(Bin)):32, Bin/binary>>),
            _ = ssl:recv(S, 0, ?T),
            sent;
       (E) -> E
    end.

prf_check(Mod, S) ->
    Mine = prf_calls(Mod, S),
    {ok, <<Len:32>>} = Mod:recv(S, 4, ?T),
    {ok, Bin} = Mod:recv(S, Len, ?T),
    Peer = binary_to_term(Bin),
    [case {M, P} of
         {{ok, B}, {ok, B}} when is_binary(B) -> {same_as_peer, byte_size(B)};
         _ -> {M, P}
     end || {M, P} <- lists:zip(Mine, Peer)].

prf_client(Version, Extra) ->
    fun(Mod) ->
            with_server(Mod, srv_opts(), [{active, false}, {mode, binary} | tls_only(Version)]
                        ++ Extra ++ cli_opts(),
                        prf_peer(), fun(S) -> prf_check(Mod, S) end)
    end.

prf_server(Version, Extra) ->
    fun(Mod) ->
            with_client(Mod, [{active, false}, {mode, binary} | tls_only(Version)] ++ Extra
                        ++ srv_opts(), cli_opts(),
                        fun(S) -> prf_check(Mod, S) end, prf_peer())
    end.

suite(Kex, Cipher, Mac, Prf) ->
    [{ciphers, [#{key_exchange => Kex, cipher => Cipher, mac => Mac, prf => Prf}]}].

prf() ->
    [mk(info, prf_client_12, prf_client('tlsv1.2', [])),
     mk(info, prf_server_12, prf_server('tlsv1.2', [])),
     %% each PRF hash TLS 1.2 suites name: sha256 (default_prf), sha384
     mk(info, prf_client_12_sha256,
        prf_client('tlsv1.2', suite(ecdhe_rsa, aes_128_gcm, aead, sha256))),
     mk(info, prf_server_12_default_prf,
        prf_server('tlsv1.2', suite(ecdhe_rsa, aes_128_cbc, sha, default_prf))),
     mk(info, prf_server_12_sha384,
        prf_server('tlsv1.2', suite(ecdhe_rsa, aes_256_cbc, sha384, sha384))),
     %% TLS 1.3: ssl 10.8.7's connection state has no clause for the prf call and
     %% postpones it: it is answered when the connection ends
     mk(info, prf_13_answered_at_close,
        fun(Mod) ->
                {C, _} = with_server(Mod, srv_opts(), tls_only('tlsv1.3') ++ cli_opts(),
                                     fun({ok, S}) -> ssl:recv(S, 0, ?T); (E) -> E end,
                                     fun(S) ->
                                             Self = self(),
                                             Pid = spawn(fun() ->
                                                                 Self ! {prf, Mod:prf(S, master_secret, <<"l">>,
                                                                                      [client_random], 8)}
                                                         end),
                                             true = is_pid(Pid),
                                             ok = Mod:close(S),
                                             receive {prf, R} -> R after 2 * ?T -> prf_timeout end
                                     end),
                C
        end)].

%%% max_fragment_length -----------------------------------------------------------------

%% An ssl client asks for smaller records; the server under test takes the extension
%% (OpenSSL answers it by itself) and reports it.
max_fragment_length() ->
    [mk(info, max_fragment_length_server_12,
        mfl_server('tlsv1.2', 1024)),
     mk(info, max_fragment_length_server_13,
        mfl_server('tlsv1.3', 2048)),
     mk(info, max_fragment_length_server_none,
        fun(Mod) ->
                {S, _} = with_client(Mod, srv_opts(), cli_opts(),
                                     fun(T) -> Mod:connection_information(T, [max_fragment_length]) end,
                                     fun({ok, C}) -> ssl:recv(C, 0, ?T); (E) -> E end),
                S
        end)].

mfl_server(Version, Size) ->
    fun(Mod) ->
            with_client(Mod, tls_only(Version) ++ srv_opts(),
                        [{max_fragment_length, Size} | cli_opts()],
                        fun(T) ->
                                {Mod:connection_information(T, [max_fragment_length]),
                                 Mod:send(T, binary:copy(<<"x">>, 3 * Size))}
                        end,
                        fun({ok, C}) ->
                                {ssl:connection_information(C, [max_fragment_length]),
                                 recv_all(C, 3 * Size)};
                           (E) -> E
                        end)
    end.

recv_all(_S, 0) -> ok;
recv_all(S, N) ->
    case ssl:recv(S, 0, ?T) of
        {ok, D} -> recv_all(S, N - iolist_size(D));
        E -> E
    end.

%%% the ssl application's protocol_version -------------------------------------------------

%% ssl's default versions come from its application environment (ssl_test_lib sets
%% it per test group): a side given no versions follows it, given ones win.
with_env(Versions, F) ->
    Old = application:get_env(ssl, protocol_version),
    ok = application:set_env(ssl, protocol_version, Versions),
    try F()
    after
        case Old of
            {ok, V} -> application:set_env(ssl, protocol_version, V);
            undefined -> application:unset_env(ssl, protocol_version)
        end
    end.

protocol() ->
    fun(M, S) -> M:connection_information(S, [protocol]) end.

protocol_version_env() ->
    [mk(info, protocol_version_env_client,
        fun(Mod) ->
                with_env(['tlsv1.2'],
                         fun() ->
                                 with_server(Mod, [{versions, ['tlsv1.3', 'tlsv1.2']} | srv_opts()],
                                             cli_opts(),
                                             fun({ok, S}) -> R = (protocol())(ssl, S), _ = ssl:recv(S, 0, ?T), R;
                                                (E) -> E end,
                                             fun(S) -> (protocol())(Mod, S) end)
                         end)
        end),
     mk(info, protocol_version_env_server,
        fun(Mod) ->
                with_env(['tlsv1.2'],
                         fun() ->
                                 with_client(Mod, srv_opts(), [{versions, ['tlsv1.3', 'tlsv1.2']} | cli_opts()],
                                             fun(S) -> (protocol())(Mod, S) end,
                                             fun({ok, S}) -> R = (protocol())(ssl, S), _ = ssl:recv(S, 0, ?T), R;
                                                (E) -> E end)
                         end)
        end),
     mk(info, protocol_version_env_given_versions_win,
        fun(Mod) ->
                with_env(['tlsv1.2'],
                         fun() ->
                                 with_server(Mod, [{versions, ['tlsv1.3', 'tlsv1.2']} | srv_opts()],
                                             tls_only('tlsv1.3') ++ cli_opts(),
                                             fun({ok, S}) -> ssl:recv(S, 0, ?T); (E) -> E end,
                                             fun(S) -> (protocol())(Mod, S) end)
                         end)
        end)].

%%% versions chosen by sni_fun ---------------------------------------------------------------

sni_versions_server(SniOpt) ->
    fun(Mod) ->
            {S, C} = with_client(Mod, [{versions, ['tlsv1.3', 'tlsv1.2']}, SniOpt | srv_opts()],
                                 [{versions, ['tlsv1.3', 'tlsv1.2']} | cli_opts()],
                                 fun(T) -> (protocol())(Mod, T) end,
                                 fun({ok, T}) -> R = (protocol())(ssl, T), _ = ssl:recv(T, 0, ?T), R;
                                    (E) -> E end),
            {S, C}
    end.

sni_fun_versions(SniVersions) ->
    {sni_fun, fun("localhost") -> [{versions, SniVersions}]; (_) -> undefined end}.

%% ssl negotiates the version with the versions of the host the client names
%% (ssl_gen_statem:handle_sni_extension/2 runs first): TLS 1.2 where the listen
%% socket's would give 1.3. pyssl applies them before OpenSSL reads the hello.
sni_versions() ->
    [mk(options, sni_fun_versions_include_negotiated, sni_versions_server(sni_fun_versions(['tlsv1.3']))),
     mk(options, sni_fun_versions_exclude_negotiated, sni_versions_server(sni_fun_versions(['tlsv1.2']))),
     mk(options, sni_hosts_versions_exclude_negotiated,
        sni_versions_server({sni_hosts, [{"localhost", [{versions, ['tlsv1.2']}]}]}))].

%%% certs_keys ------------------------------------------------------------------------------

pair(Role) ->
    #{certfile => pyssl_certs:file(rsa, Role, certfile),
      keyfile => pyssl_certs:file(rsa, Role, keyfile)}.

der_pair(Role) ->
    {ok, KeyPem} = file:read_file(pyssl_certs:file(rsa, Role, keyfile)),
    [{KeyType, KeyDer, not_encrypted}] = public_key:pem_decode(KeyPem),
    #{cert => pyssl_certs:der(rsa, Role), key => {KeyType, KeyDer}}.

cacert(Role) -> {cacertfile, pyssl_certs:file(rsa, Role, cacertfile)}.

certs_keys() ->
    [mk(options, certs_keys_server_one_pair,
        fun(Mod) ->
                with_client(Mod, [{certs_keys, [pair(server)]}, cacert(server)], cli_opts(),
                            fun(T) -> Mod:connection_information(T, [protocol]) end,
                            fun({ok, C}) -> R = ssl:peercert(C), _ = ssl:recv(C, 0, ?T),
                                            R =:= {ok, pyssl_certs:der(rsa, server)};
                               (E) -> E end)
        end),
     mk(options, certs_keys_client_one_pair_der,
        fun(Mod) ->
                with_server(Mod, [{verify, verify_peer}, {fail_if_no_peer_cert, true} | srv_opts()],
                            [{certs_keys, [der_pair(client)]}, {verify, verify_peer}, cacert(client)],
                            fun({ok, S}) -> R = ssl:peercert(S), _ = ssl:recv(S, 0, ?T),
                                            R =:= {ok, pyssl_certs:der(rsa, client)};
                               (E) -> E end,
                            fun(S) -> Mod:connection_information(S, [protocol]) end)
        end),
     mk(options, certs_keys_two_pairs,
        fun(Mod) ->
                case Mod:listen(0, [{certs_keys, [pair(server), der_pair(server)]}, cacert(server)]) of
                    {ok, L} -> Mod:close(L), ok;
                    Other -> Other
                end
        end),
     %% several key types: ssl takes ECDSA before RSA whatever the list's order
     %% (ssl_config:init_certs_keys/3, ssl_certificate:available_cert_key_pairs/2)
     mk(options, certs_keys_server_picks_ecdsa, certs_keys_pick(['tlsv1.2'])),
     mk(options, certs_keys_server_picks_ecdsa_tls13, certs_keys_pick(['tlsv1.3'])),
     {certs_keys_pair_with_chain,
      fun(Mod) ->
              Leaf = pyssl_certs:der(rsa, server),
              #{key := Key} = der_pair(server),
              Mod:listen(0, [{certs_keys, [#{cert => [Leaf, Leaf], key => Key}, der_pair(server)]}])
      end,
      #{area => options,
        known_difference =>
            "a pair's own chain certificates among several pairs: ssl sends them with "
            "that pair; libssl has one set of extra chain certificates per context and "
            "the bindings lack SSL_add1_chain_cert, so such pairs are refused by name "
            "(not_supported_by_pyssl); pairs given without a chain are sent with the "
            "chain built from cacerts, as ssl does"}}].

ec_der_pair(Role) ->
    {ok, KeyPem} = file:read_file(pyssl_certs:file(ecdsa, Role, keyfile)),
    [{KeyType, KeyDer, not_encrypted}] = public_key:pem_decode(KeyPem),
    #{cert => pyssl_certs:der(ecdsa, Role), key => {KeyType, KeyDer}}.

certs_keys_pick(Versions) ->
    fun(Mod) ->
            with_client(Mod, [{certs_keys, [der_pair(server), ec_der_pair(server)]},
                              {versions, Versions}, cacert(server)],
                        [{verify, verify_none}, {versions, Versions}],
                        fun(T) -> Mod:connection_information(T, [protocol]) end,
                        fun({ok, C}) -> R = ssl:peercert(C), _ = ssl:recv(C, 0, ?T),
                                        R =:= {ok, pyssl_certs:der(ecdsa, server)};
                           (E) -> E end)
    end.
