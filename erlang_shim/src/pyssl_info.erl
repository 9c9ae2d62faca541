%% @doc The options part of `pyssl:connection_information/1,2'.
%%
%% ssl's answer ends with the socket's whole ssl options map
%% (`ssl_gen_statem:connection_info/1' appends `ssl_options_list/1'): every option
%% with its default filled in, in the map's own key order, funs included. The
%% bridge cannot build that map (it holds no Erlang funs of its own, and the order
%% is the one `maps:to_list/1' gives here), so it keeps the option lists the caller
%% gave (connect or listen, then any `handshake/2,3' options) and this module runs
%% ssl's own `ssl:handle_options/3' on them, on the caller's node, as `ssl:connect',
%% `ssl:listen' and the connection process (`ssl_gen_statem:initial_hello/3') do.
%% The connection's own items (protocol, suite, secrets...) come from the bridge.
-module(pyssl_info).
-export([with_options/3, ssl_options_list/1, default_versions/1]).

%% ssl_gen_statem:security_info/1 and maybe_add_keylog/1: after the options
-define(SECURITY, [client_random, server_random, master_secret, keylog,
                   client_traffic_secret_0, server_traffic_secret_0,
                   client_handshake_traffic_secret, server_handshake_traffic_secret,
                   client_early_data_secret]).
%% ssl_gen_statem:connection_info/1's own items: before the options
-define(CONNECTION, [protocol, session_id, session_data, session_resumption,
                     selected_cipher_suite, sni_hostname, srp_username, ecc,
                     max_fragment_length]).

%% @doc The bridge's `{ok, Info}' (`Items' = `all' for connection_information/1)
%% with the options added where ssl puts them; `Sources' fetches the socket's
%% option lists from the bridge (`{ok, [{Role, Opts, Host} | Handshakes]}').
-spec with_options(term(), all | [atom()], fun(() -> term())) -> term().
with_options({ok, Info}, Items, Sources) when is_list(Info) ->
    case wants_options(Items) of
        false ->
            {ok, Info};
        true ->
            {Security, Connection} =
                lists:partition(fun({K, _}) -> lists:member(K, ?SECURITY) end, Info),
            Options = [O || {K, V} = O <- options(Sources), V =/= undefined,
                            Items =:= all orelse lists:member(K, Items)],
            {ok, Connection ++ Options ++ Security}
    end;
with_options(Reply, _Items, _Sources) ->
    Reply.

wants_options(all) ->
    true;
wants_options(Items) ->
    lists:any(fun(I) -> not lists:member(I, ?SECURITY ++ ?CONNECTION) end, Items).

options(Sources) ->
    try Sources() of
        {ok, [_ | _] = Lists} -> ssl_options_list(ssl_options(Lists));
        _ -> []
    catch
        _:_ -> []
    end.

%% ssl:connect/4 and ssl:listen/2 (handle_options/3 with the Host), then the
%% connection process's handle_options/3 over that map for each later option list
%% (handshake/2,3 on a server, handshake_continue/2,3 on either side), in its role.
ssl_options([{Role, Opts, Host} | Later]) ->
    {ok, Config} = ssl:handle_options(quiet(Role, Opts), Role, Host),
    %% #config{ssl = SslOpts} (ssl_api.hrl): the record's first field
    Map0 = element(2, Config),
    lists:foldl(fun({handshake, O, _}, Map) -> ssl:handle_options(O, Role, Map) end,
                Map0, Later).

%% A client given no `verify' gets verify_none and ssl's warning
%% (ssl:maybe_client_warn_no_verify/2), logged when the socket was opened: running
%% handle_options again must not log it twice. An explicit verify_none makes the
%% same map without the warning.
quiet(client, Opts) ->
    case lists:keymember(verify, 1, Opts) of
        true -> Opts;
        false -> Opts ++ [{verify, verify_none}]
    end;
quiet(_Role, Opts) ->
    Opts.

%% @doc ssl_gen_statem:ssl_options_list/1: the user's options from the map, in its
%% order, without ssl's internal ones; max_fragment_length comes from the
%% connection instead, and the ciphers are shown as suite maps.
-spec ssl_options_list(map()) -> [{atom(), term()}].
ssl_options_list(Map) ->
    [option(K, V) || {K, V} <- maps:to_list(Map),
                     not lists:member(K, [protocol, erl_dist, renegotiate_at,
                                          max_fragment_length])].

option(ciphers, Suites) ->
    {ciphers, [ssl_cipher_format:suite_bin_to_map(S) || S <- Suites]};
option(K, V) ->
    {K, V}.

%% @doc ssl's default `versions' come from the ssl application's environment on the
%% caller's node (`tls_record:supported_protocol_versions/0' reads `protocol_version':
%% ssl_test_lib sets it to run a test group at one version). The bridge has no such
%% environment: when the caller gives no `versions' and the environment names other
%% versions than ssl's own default (which ssl writes back there once it has used it),
%% they are given as the `versions' option, with the ones ssl would drop left out
%% (tls_record:is_acceptable_version/1: no sslv3). The options map comes out the same.
-spec default_versions(term()) -> term().
default_versions([]) ->
    [];                                     % ssl:listen/2's nooptions stays
default_versions(Opts) when is_list(Opts) ->
    try lists:keymember(versions, 1, Opts) of
        true ->
            Opts;
        false ->
            case env_versions() of
                Default when Default =:= ['tlsv1.3', 'tlsv1.2']; Default =:= [] -> Opts;
                Versions -> Opts ++ [{versions, Versions}]
            end
    catch
        error:_ -> Opts                     % an improper list: ssl reports it
    end;
default_versions(Opts) ->
    Opts.

env_versions() ->
    Names = case application:get_env(ssl, protocol_version) of
                {ok, L} when is_list(L) -> L;
                {ok, V} -> [V];
                undefined -> []
            end,
    [V || V <- Names, lists:member(V, ['tlsv1.3', 'tlsv1.2', 'tlsv1.1', tlsv1])].
