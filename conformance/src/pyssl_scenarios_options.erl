%% @doc Conformance scenarios: option validation of `connect' and `listen'
%% (bad values, unknown options, non-tuple options, incompatible pairs,
%% versions, files). Client cases connect to a port where nothing listens, so
%% options that are accepted end in `{error, econnrefused}'.
-module(pyssl_scenarios_options).

-export([all/0]).

-import(pyssl_scenarios, [mk/3, srv_opts/0, cli_opts/0, refused_port/0, listen/2]).

-define(NOFILE, "/nonexistent/pyssl/none.pem").

all() ->
    [mk(options, list_to_atom("connect_" ++ atom_to_list(N)), connect_case(Opts))
     || {N, Opts} <- connect_cases()] ++
    [mk(options, list_to_atom("listen_" ++ atom_to_list(N)), listen_case(Opts))
     || {N, Opts} <- listen_cases()] ++
    [mk(options, connect_port_out_of_range,
        fun(Mod) -> Mod:connect("localhost", 70000, [{verify, verify_none}], 5000) end),
     %% (connect with timeout 0 to a refused port is left out: ssl itself answers
     %% timeout or econnrefused depending on which wins the race)
     mk(options, connect_3_refused,
        fun(Mod) -> Mod:connect("localhost", refused_port(), [{verify, verify_none}]) end),
     mk(options, connect_ip_tuple_refused,
        fun(Mod) -> Mod:connect({127, 0, 0, 1}, refused_port(), [{verify, verify_none}], 5000) end),
     mk(options, connect_bad_timeout,
        fun(Mod) -> Mod:connect("localhost", refused_port(), [], -5) end),
     mk(options, listen_port_in_use,
        fun(Mod) ->
                {ok, L} = ssl:listen(0, [{ip, {127, 0, 0, 1}} | srv_opts()]),
                {ok, {_, P}} = ssl:sockname(L),
                Mod:listen(P, [{ip, {127, 0, 0, 1}} | srv_opts()])
        end),
     mk(options, listen_then_close,
        fun(Mod) ->
                {ok, L} = listen(Mod, srv_opts()),
                {Mod:close(L), Mod:close(L)}
        end)].

connect_case(Opts) ->
    fun(Mod) ->
            Mod:connect("localhost", refused_port(), Opts, 5000)
    end.

listen_case(Opts) ->
    fun(Mod) ->
            case listen(Mod, Opts) of
                {ok, L} -> {listened, Mod:close(L)};
                Other -> Other
            end
    end.

connect_cases() ->
    Ok = [{verify, verify_none}],
    [{verify_bad, [{verify, foo}]},
     {depth_bad, [{depth, foo} | Ok]},
     {depth_negative, [{depth, -1} | Ok]},
     {ciphers_bad, [{ciphers, foo} | Ok]},
     {ciphers_unknown_name, [{ciphers, ["NOT-A-CIPHER"]} | Ok]},
     {active_bad, [{active, foo} | Ok]},
     {active_too_big, [{active, 32768} | Ok]},
     {active_too_small, [{active, -32769} | Ok]},
     {sni_bad, [{server_name_indication, 1} | Ok]},
     {sni_disable, [{server_name_indication, disable} | Ok]},
     {versions_sslv3, [{versions, [sslv3]} | Ok]},
     {versions_unknown, [{versions, ['tlsv1.4']} | Ok]},
     {versions_not_list, [{versions, 'tlsv1.2'} | Ok]},
     {versions_tls10_only, [{versions, [tlsv1]} | Ok]},
     {unknown_option, [{foo, bar} | Ok]},
     {non_tuple, [foo | Ok]},
     {binary_atom, [binary | Ok]},
     {verify_peer_no_ca, [{verify, verify_peer}]},
     {cacertfile_missing, [{verify, verify_peer}, {cacertfile, ?NOFILE}]},
     {certfile_missing, [{certfile, ?NOFILE} | Ok]},
     {keyfile_missing, [{certfile, pyssl_certs:file(rsa, client, certfile)},
                        {keyfile, ?NOFILE} | Ok]},
     {cacerts_bad, [{cacerts, foo} | Ok]},
     {mode_bad, [{mode, foo} | Ok]},
     {packet_bad, [{packet, foo} | Ok]},
     {packet_3, [{packet, 3} | Ok]},
     {header_bad, [{header, foo} | Ok]},
     {packet_size_bad, [{packet_size, foo} | Ok]},
     {reuse_sessions_bad, [{reuse_sessions, foo} | Ok]},
     {alpn_empty_protocol, [{alpn_advertised_protocols, [<<>>]} | Ok]},
     {alpn_not_binary, [{alpn_advertised_protocols, ["h2"]} | Ok]},
     {log_level_bad, [{log_level, foo} | Ok]},
     {hibernate_bad, [{hibernate_after, foo} | Ok]},
     {fail_if_no_peer_cert_on_client, [{fail_if_no_peer_cert, true} | Ok]},
     {verify_none_ok, Ok},
     {full_client_ok, cli_opts()},
     {nodelay_ok, [{nodelay, true} | Ok]},
     {exit_on_close_bad, [{exit_on_close, foo} | Ok]},
     {secure_renegotiate_bad, [{secure_renegotiate, foo} | Ok]},
     {not_a_list_option_value, [{versions, ["tlsv1.2"]} | Ok]}].

listen_cases() ->
    Srv = srv_opts(),
    [{no_options, []},
     {no_cert, [{active, false}]},
     {ok, Srv},
     {incompatible_fail_if_no_peer_cert,
      [{verify, verify_none}, {fail_if_no_peer_cert, true} | Srv]},
     {unknown_option, [{foo, bar} | Srv]},
     {non_tuple, [foo | Srv]},
     {verify_peer_no_ca, [{verify, verify_peer},
                          {certfile, pyssl_certs:file(rsa, server, certfile)},
                          {keyfile, pyssl_certs:file(rsa, server, keyfile)}]},
     {sslv3, [{versions, [sslv3]} | Srv]},
     {versions_13_only, [{versions, ['tlsv1.3']} | Srv]},
     {sni_on_server, [{server_name_indication, "localhost"} | Srv]},
     {packet_bad, [{packet, foo} | Srv]},
     {active_bad, [{active, foo} | Srv]},
     {certfile_missing, [{certfile, ?NOFILE},
                         {keyfile, pyssl_certs:file(rsa, server, keyfile)}]},
     {verify_bad, [{verify, foo} | Srv]},
     {reuseaddr, [{reuseaddr, true} | Srv]},
     {alpn_preferred_bad, [{alpn_preferred_protocols, foo} | Srv]}].
