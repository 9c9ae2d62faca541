%% @doc Conformance scenarios: certificate verification on both sides, and
%% protocol versions and cipher selection.
%%
%% In TLS 1.3 a client whose certificate the server rejects may see its
%% `connect' succeed and the alert on its next read, or the alert from
%% `connect' itself, depending on timing; {@link outcome/2} folds both into
%% the one result `{error, Alert}' so that the scenarios stay deterministic.
-module(pyssl_scenarios_verify).

-export([all/0]).

-import(pyssl_scenarios, [mk/3, srv_opts/1, cli_opts/0, cli_opts/1, srv_opts/0,
                          with_server/5, with_client/5, tls_only/1, server/2, connect/3,
                          peer_result/1]).

-define(T, 5000).

all() -> verify() ++ verify_options() ++ versions().

%% The client's view: connect, then a read that shows a late alert.
outcome(Mod, S) ->
    case Mod:recv(S, 0, ?T) of
        {ok, D} -> {ok, D};
        {error, {tls_alert, _}} = E -> E;
        Other -> {connected_then, Other}
    end.

%% An ssl peer client's view of the same.
%% The BEAM client's view of a server under test. When the server rejects the
%% client after the client's connect returned (TLS 1.3 client certificates),
%% the alert reaches a read, or, if it came while nobody read, the read sees
%% only `closed': both are `rejected_after_connect'.
peer_outcome({ok, S}) ->
    case ssl:recv(S, 0, ?T) of
        {ok, D} -> {ok, D};
        {error, {tls_alert, _}} -> rejected_after_connect;
        {error, closed} -> rejected_after_connect;
        Other -> {connected_then, Other}
    end;
peer_outcome(E) -> E.

%% TLS 1.3 rejection of the client's certificate: the client sees the alert
%% from connect, or from its next read, or (when the alert came while nobody
%% read) only `closed'. All three are `rejected'.
rejected13({ok, S}, Recv) ->
    case Recv(S) of
        {ok, D} -> {ok, D};
        {error, _} -> rejected
    end;
rejected13({error, {tls_alert, _}}, _) -> rejected;
rejected13(Other, _) -> Other.

%% Client under test against a server with chain `Chain'.
client_vs(Chain, CliOpts) ->
    fun(Mod) ->
            with_server(Mod, srv_opts(Chain), [{active, false} | CliOpts],
                        fun({ok, S}) -> ok = ssl:send(S, "hi"), ssl:recv(S, 0, ?T);
                           (E) -> E end,
                        fun(S) -> R = outcome(Mod, S), _ = Mod:close(S), R end)
    end.

%% Server under test (SrvOpts) against an ssl client peer with CliOpts.
server_vs(SrvOpts, CliOpts) ->
    fun(Mod) ->
            with_client(Mod, [{active, false} | SrvOpts], CliOpts,
                        fun(S) -> R = Mod:send(S, "hi"), {R, Mod:recv(S, 0, ?T)} end,
                        fun(R) -> Out = peer_outcome(R),
                                  _ = case R of {ok, S} -> ssl:close(S); _ -> ok end,
                                  Out
                        end)
    end.

no_cert_client() ->
    [{verify, verify_peer}, {cacertfile, pyssl_certs:file(rsa, client, cacertfile)}].

verify_fun(Accept) ->
    {fun(_Cert, {bad_cert, _} = Reason, State) ->
             case Accept of true -> {valid, State}; false -> {fail, Reason} end;
        (_Cert, {extension, _}, State) -> {unknown, State};
        (_Cert, valid, State) -> {valid, State};
        (_Cert, valid_peer, State) ->
             case Accept of true -> {valid, State}; false -> {fail, rejected_by_fun} end
     end, []}.

verify() ->
    [mk(verify, client_ok_rsa, client_vs(rsa, cli_opts())),
     mk(verify, client_ok_ecdsa, client_vs(ecdsa, cli_opts(ecdsa))),
     mk(verify, client_unknown_ca, client_vs(unknown_ca, cli_opts())),
     mk(verify, client_expired, client_vs(expired, cli_opts())),
     mk(verify, client_critical_extension, client_vs(critical_ext, cli_opts())),
     mk(verify, client_hostname_mismatch, client_vs(wrong_host, cli_opts())),
     mk(verify, client_hostname_mismatch_sni_disable,
        client_vs(wrong_host, [{server_name_indication, disable} | cli_opts()])),
     mk(verify, client_hostname_via_sni,
        client_vs(wrong_host, [{server_name_indication, "other.example"} | cli_opts()])),
     mk(verify, client_verify_none_unknown_ca,
        client_vs(unknown_ca, [{verify, verify_none}])),
     mk(verify, client_verify_none_expired, client_vs(expired, [{verify, verify_none}])),
     mk(verify, client_verify_none_critical_extension,
        client_vs(critical_ext, [{verify, verify_none}])),
     mk(verify, client_depth_zero, client_vs(rsa, [{depth, 0} | cli_opts()])),
     mk(verify, client_cacerts_der,
        client_vs(rsa, [{verify, verify_peer},
                        {cacerts, [D || {'Certificate', D, _} <- pem(rsa, client, cacertfile)]}])),
     mk(verify, server_requires_cert_12,
        server_vs([{verify, verify_peer}, {fail_if_no_peer_cert, true} | srv_opts()],
                  tls_only('tlsv1.2') ++ no_cert_client())),
     mk(verify, server_requires_cert_13,
        fun(Mod) ->
                with_client(Mod, [{active, false}, {verify, verify_peer},
                                  {fail_if_no_peer_cert, true} | srv_opts()],
                            tls_only('tlsv1.3') ++ no_cert_client(),
                            fun(S) -> Mod:recv(S, 0, ?T) end,
                            fun(R) -> rejected13(R, fun(S) -> ssl:recv(S, 0, ?T) end) end)
        end),
     mk(verify, client_missing_cert_12,
        fun(Mod) ->
                with_server(Mod, [{verify, verify_peer}, {fail_if_no_peer_cert, true} | srv_opts()],
                            [{active, false} | tls_only('tlsv1.2') ++ no_cert_client()],
                            fun(R) -> R end,
                            fun(S) -> outcome(Mod, S) end)
        end),
     mk(verify, client_missing_cert_13,
        fun(Mod) ->
                {Port, Peer} = server([{verify, verify_peer}, {fail_if_no_peer_cert, true}
                                       | srv_opts()], fun(R) -> R end),
                C = connect(Mod, Port, [{active, false} | tls_only('tlsv1.3') ++ no_cert_client()]),
                {rejected13(C, fun(S) -> Mod:recv(S, 0, ?T) end), peer_result(Peer)}
        end),
     mk(verify, server_verify_peer_optional_cert,
        server_vs([{verify, verify_peer}, {fail_if_no_peer_cert, false} | srv_opts()],
                  no_cert_client())),
     mk(verify, server_client_cert_ok,
        server_vs([{verify, verify_peer}, {fail_if_no_peer_cert, true} | srv_opts()], cli_opts())),
     mk(verify, server_client_cert_unknown_ca,
        server_vs([{verify, verify_peer} | srv_opts()],
                  [{verify, verify_peer},
                   {cacertfile, pyssl_certs:file(rsa, client, cacertfile)},
                   {certfile, pyssl_certs:file(unknown_ca, client, certfile)},
                   {keyfile, pyssl_certs:file(unknown_ca, client, keyfile)}])),
     mk(verify, server_client_cert_expired,
        server_vs([{verify, verify_peer} | srv_opts()],
                  [{verify, verify_peer},
                   {cacertfile, pyssl_certs:file(rsa, client, cacertfile)},
                   {certfile, pyssl_certs:file(expired, client, certfile)},
                   {keyfile, pyssl_certs:file(expired, client, keyfile)}])),
     mk(verify, server_missing_certfile,
        server_vs([{certfile, "/nonexistent/pyssl/none.pem"},
                   {keyfile, pyssl_certs:file(rsa, server, keyfile)}], cli_opts())),
     mk(verify, server_ecdsa_chain, server_vs(srv_opts(ecdsa), cli_opts(ecdsa))),
     mk(verify, verify_fun_accepts_unknown_ca,
        client_vs(unknown_ca, [{verify, verify_peer}, {verify_fun, verify_fun(true)} | cli_opts()])),
     mk(verify, verify_fun_rejects_valid,
        client_vs(rsa, [{verify_fun, verify_fun(false)} | cli_opts()]))].

pem(Chain, Role, Which) ->
    {ok, Bin} = file:read_file(pyssl_certs:file(Chain, Role, Which)),
    public_key:pem_decode(Bin).

%%% customize_hostname_check and partial_chain: the caller's funs --------------------

%% Funs that crash, to see what ssl does with them (named, so dialyzer is told).
-dialyzer({nowarn_function, [crashing_match_fun/2, crashing_partial_chain/1]}).
crashing_match_fun(_, _) -> error(boom).
crashing_partial_chain(_) -> error(boom).

%% The issuer of the peer in the path a partial_chain fun gets (anchor side first).
trust_issuer(Ders) -> {trusted_ca, lists:nth(length(Ders) - 1, Ders)}.

%% The rejections run TLS 1.2: in TLS 1.3 the BEAM server reports an OpenSSL
%% client's rejection as bad_record_mac (?OPENSSL_13_ALERT in pyssl_conformance);
%% the pyssl client's own result is compared in TLS 1.3 by the pytest tests.
verify_options() ->
    V12 = tls_only('tlsv1.2'),
    Https = [{customize_hostname_check,
              [{match_fun, public_key:pkix_verify_hostname_match_fun(https)}]}],
    Www = {server_name_indication, "www.example.test"},
    [mk(verify_options, hostname_wildcard_default_refused,
        client_vs(wildcard, V12 ++ [Www | cli_opts()])),
     mk(verify_options, hostname_wildcard_https_match_fun,
        client_vs(wildcard, [Www | Https ++ cli_opts()])),
     mk(verify_options, hostname_wildcard_https_two_labels,
        client_vs(wildcard, V12 ++ [{server_name_indication, "a.www.example.test"} | Https ++ cli_opts()])),
     mk(verify_options, hostname_match_fun_accepts_all,
        client_vs(wrong_host, [{customize_hostname_check, [{match_fun, fun(_, _) -> true end}]}
                               | cli_opts()])),
     mk(verify_options, hostname_match_fun_crashes,
        client_vs(rsa, V12 ++ [{customize_hostname_check, [{match_fun, fun crashing_match_fun/2}]}
                        | cli_opts()])),
     mk(verify_options, hostname_fqdn_fun,
        client_vs(wrong_host, [{customize_hostname_check, [{fqdn_fun, fun(_) -> "other.example" end}]}
                               | cli_opts()])),
     mk(verify_options, partial_chain_trusts_intermediate,
        client_vs(unknown_ca, [{partial_chain, fun trust_issuer/1} | cli_opts()])),
     mk(verify_options, partial_chain_unknown_ca,
        client_vs(unknown_ca, V12 ++ [{partial_chain, fun(_) -> unknown_ca end} | cli_opts()])),
     mk(verify_options, partial_chain_crashes,
        client_vs(unknown_ca, V12 ++ [{partial_chain, fun crashing_partial_chain/1} | cli_opts()])),
     mk(verify_options, partial_chain_bad_answer,
        client_vs(unknown_ca, V12 ++ [{partial_chain, fun(_) -> perhaps end} | cli_opts()])),
     mk(verify_options, server_partial_chain_trusts_intermediate,
        server_vs([{verify, verify_peer}, {fail_if_no_peer_cert, true},
                   {partial_chain, fun trust_issuer/1} | srv_opts()],
                  [{verify, verify_peer},
                   {cacertfile, pyssl_certs:file(rsa, client, cacertfile)},
                   {certfile, pyssl_certs:file(unknown_ca, client, certfile)},
                   {keyfile, pyssl_certs:file(unknown_ca, client, keyfile)}])),
     mk(verify_options, server_partial_chain_unknown_ca,
        server_vs([{verify, verify_peer}, {fail_if_no_peer_cert, true},
                   {partial_chain, fun(_) -> unknown_ca end} | srv_opts()],
                  V12 ++ [{verify, verify_peer},
                          {cacertfile, pyssl_certs:file(rsa, client, cacertfile)},
                          {certfile, pyssl_certs:file(unknown_ca, client, certfile)},
                          {keyfile, pyssl_certs:file(unknown_ca, client, keyfile)}]))] ++
        crl_scenarios(V12).

%% crl_check with ssl's CRL cache: the CRL of the `revoked' server's issuer is
%% inserted (ssl_crl_cache:insert/1, node-wide, as in any program) before connecting.
crl_vs(Chain, CliOpts) ->
    Run = client_vs(Chain, CliOpts),
    fun(Mod) -> ok = ssl_crl_cache:insert({der, [pyssl_certs:crl()]}), Run(Mod) end.

crl_scenarios(V12) ->
    [mk(verify_options, crl_check_peer_revoked, crl_vs(revoked, V12 ++ [{crl_check, peer} | cli_opts()])),
     mk(verify_options, crl_check_true_revoked, crl_vs(revoked, V12 ++ [{crl_check, true} | cli_opts()])),
     mk(verify_options, crl_check_best_effort_revoked,
        crl_vs(revoked, V12 ++ [{crl_check, best_effort} | cli_opts()])),
     mk(verify_options, crl_check_peer_no_crl, crl_vs(ecdsa, V12 ++ [{crl_check, peer} | cli_opts(ecdsa)])),
     mk(verify_options, crl_check_best_effort_no_crl,
        crl_vs(ecdsa, [{crl_check, best_effort} | cli_opts(ecdsa)])),
     mk(verify_options, crl_check_verify_none, crl_vs(revoked, [{verify, verify_none}, {crl_check, true}]))].

%%% versions and ciphers ----------------------------------------------------------------

proto(Mod, S) ->
    R = Mod:connection_information(S, [protocol, selected_cipher_suite]),
    _ = Mod:close(S),
    R.

peer_proto({ok, S}) -> ssl:connection_information(S, [protocol]);
peer_proto(E) -> E.

client_versions(SrvVs, CliVs) ->
    fun(Mod) ->
            with_server(Mod, SrvVs ++ srv_opts(), CliVs ++ cli_opts(),
                        fun(R) -> peer_proto(R) end, fun(S) -> proto(Mod, S) end)
    end.

server_versions(SrvVs, CliVs) ->
    fun(Mod) ->
            with_client(Mod, SrvVs ++ srv_opts(), CliVs ++ cli_opts(),
                        fun(S) -> proto(Mod, S) end, fun(R) -> peer_proto(R) end)
    end.

suite(Kex, Cipher, Mac, Prf) ->
    #{key_exchange => Kex, cipher => Cipher, mac => Mac, prf => Prf}.

versions() ->
    V12 = tls_only('tlsv1.2'),
    V13 = tls_only('tlsv1.3'),
    Gcm128 = suite(ecdhe_rsa, aes_128_gcm, aead, sha256),
    Gcm256 = suite(ecdhe_rsa, aes_256_gcm, aead, sha384),
    Chacha = suite(ecdhe_rsa, chacha20_poly1305, aead, sha256),
    [mk(versions, client_default_versions, client_versions([], [])),
     mk(versions, client_12_only, client_versions([], V12)),
     mk(versions, client_13_only, client_versions([], V13)),
     mk(versions, client_12_vs_server_13, client_versions(V13, V12)),
     mk(versions, client_13_vs_server_12, client_versions(V12, V13)),
     mk(versions, client_11_vs_default_server,
        client_versions([], [{versions, ['tlsv1.1']}, {ciphers, ssl:cipher_suites(all, 'tlsv1.1')}])),
     mk(versions, server_12_only, server_versions(V12, [])),
     mk(versions, server_13_only, server_versions(V13, [])),
     mk(versions, server_12_vs_client_13, server_versions(V12, V13)),
     mk(versions, server_both_client_12, server_versions([], V12)),
     mk(versions, client_cipher_gcm128_12, client_versions([], [{ciphers, [Gcm128]} | V12])),
     mk(versions, client_cipher_gcm256_12, client_versions([], [{ciphers, [Gcm256]} | V12])),
     mk(versions, client_cipher_chacha_12, client_versions([], [{ciphers, [Chacha]} | V12])),
     mk(versions, client_cipher_no_overlap_12,
        client_versions([{ciphers, [Gcm256]} | V12], [{ciphers, [Gcm128]} | V12])),
     mk(versions, server_cipher_gcm128_12, server_versions([{ciphers, [Gcm128]} | V12], [])),
     mk(versions, server_cipher_no_overlap_12,
        server_versions([{ciphers, [Gcm256]} | V12], [{ciphers, [Chacha]} | V12])),
     %% the hellos ssl's server refuses with insufficient_security (bridge.tls.alerts)
     mk(versions, server_cipher_no_overlap_13,
        server_versions([{ciphers, [suite(any, aes_256_gcm, aead, sha384)]} | V13],
                        [{ciphers, [suite(any, aes_128_gcm, aead, sha256)]} | V13])),
     mk(versions, server_no_common_signature_algs_12,
        server_versions([{signature_algs, [{sha256, rsa}]} | V12], [{signature_algs, [{sha384, rsa}]} | V12])),
     mk(versions, server_no_common_signature_algs_13,
        server_versions([{signature_algs, [rsa_pss_rsae_sha384]} | V13],
                        [{signature_algs, [rsa_pss_rsae_sha256]} | V13])),
     mk(versions, server_default_reject_anonymous_12,
        server_versions(V12, [{ciphers, [suite(ecdh_anon, aes_128_cbc, sha, default_prf)]} | V12])),
     mk(versions, server_cert_signature_not_offered_12,
        server_versions(V12, [{signature_algs, [{sha384, rsa}]} | V12])),
     mk(versions, server_no_common_group_13,
        server_versions([{supported_groups, [x25519]} | V13], [{supported_groups, [secp384r1]} | V13])),
     mk(versions, client_13_cipher_aes128,
        client_versions([], [{ciphers, [suite(any, aes_128_gcm, aead, sha256)]} | V13])),
     mk(versions, client_ecdsa_12,
        fun(Mod) ->
                with_server(Mod, V12 ++ srv_opts(ecdsa), V12 ++ cli_opts(ecdsa),
                            fun(R) -> peer_proto(R) end, fun(S) -> proto(Mod, S) end)
        end)].
