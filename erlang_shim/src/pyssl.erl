%% @doc The `ssl' API, served by a pyssl bridge node.
%%
%% Every function has the arity and the return shape of `ssl': the R16B03 names
%% (`ssl_accept/1,2,3', `connection_info/1', `negotiated_next_protocol/1',
%% `cipher_suites/0,1') and today's (`handshake/1,2,3',
%% `connection_information/1,2', `negotiated_protocol/1', `close/2',
%% `cipher_suites/2').
%%
%% == Configuration ==
%% With nothing configured, `pyssl:start()' starts an embedded bridge, a
%% `pyssl-bridge --port-mode' port program under the application's supervisor
%% (see {@link pyssl_port}; `bridge_command' names another executable). To
%% use bridge nodes instead (several VMs sharing bridges, bridges on other hosts):
%% ```
%% application:set_env(pyssl, bridge_node, 'pyssl@127.0.0.1'),
%% ok = pyssl:start().
%% '''
%% or `{bridge_nodes, [Node, ...]}': new sockets are then spread round-robin
%% over the reachable ones (see {@link pyssl_bridges:pick/0}).
%%
%% == How calls travel ==
%% Each call sends the message of `gen_server:call({pyssl, Bridge}, {Function,
%% Args}, infinity)' and returns exactly what the bridge replies, which is what
%% `ssl:Function(Args...)' returns. The wait itself never times out: the bridge
%% enforces the ssl `Timeout' arguments. While it waits the caller monitors a
%% local guard of that bridge (`pyssl_guard'), not the bridge's process,
%% so a call costs the bridge one request and one reply (see `forward/3'). Calls on a socket
%% `{sslsocket, pyssl, Ref}' go to the bridge that made it, `node(Ref)'; calls
%% that make a socket (`connect', `listen') or need no socket (`cipher_suites',
%% `versions', `format_error') go to the bridge chosen by
%% `pyssl_bridges:pick/0'. The calling process becomes the owner of new sockets.
%%
%% `send/2' is the exception: while the socket's send window lasts (granted by
%% the bridge, kept by this node's guard, see `pyssl_guard') the data goes to
%% the bridge as a plain message and `ok' comes back at once, as ssl returns once
%% its sender has the data; the window comes back as the bridge passes the bytes
%% on, so a peer that does not read stops the sender. `{error, closed}' comes
%% exactly when a call would give it.
%%
%% == Errors of the shim itself ==
%% <ul>
%% <li>`{error, {bridge_unavailable, Nodes}}': no configured bridge could be
%%     reached when a bridge had to be picked (`connect', `listen',
%%     `cipher_suites', `versions'). `Nodes' is the configured list, `[]' when
%%     neither `bridge_nodes' nor `bridge_node' is set. Functions that return a
%%     list in `ssl' (`cipher_suites', `versions') return this tuple too.
%%     With no bridge node configured, `{error, {bridge_unavailable, {port,
%%     Reason}}}' when the embedded bridge cannot be started.</li>
%% <li>`{error, closed}': the bridge serving the call was reached but is gone
%%     (node down, connection lost during the call, or its `pyssl' service not
%%     running). This is what a call on a socket of a lost bridge returns, as for
%%     a socket whose peer went away; `close/1' then returns `ok', as a second
%%     `ssl:close/1' does.</li>
%% <li>Options the bridge does not support yet are reported by the bridge as
%%     `{error, {options, {not_supported_by_pyssl, {Name, Value}}}}'.</li>
%% <li>Argument shapes `ssl' rejects with an exception (a `function_clause' for a
%%     term that is not a socket, a bad timeout) raise the same exception here;
%%     the bridge replies `{'$pyssl_raise', Class, Reason}' for those it detects
%%     and the exception is raised in the caller.</li>
%% </ul>
%% `format_error/1' asks the bridge (it holds the texts of its own reasons) and
%% falls back to local texts (those of `ssl:format_error/1', plus the shim's own
%% reasons) when no bridge answers.
%%
%% == TLS upgrade of a gen_tcp socket ==
%% `connect/2,3', `handshake/1,2,3' and `ssl_accept/1,2,3' on a connected
%% `gen_tcp' socket owned by the caller start TLS on it: the socket stays on
%% this node, owned by a `pyssl_relay' process that carries its bytes to and
%% from the bridge, where the TLS session runs. The result is an ordinary pyssl
%% socket. `ssl_accept/2,3' on a `gen_tcp' socket return `{ok, SslSocket}', as
%% in R16B03.
%%
%% == A user's transport (cb_info) ==
%% With `{cb_info, {Mod, ...}}' naming a module other than gen_tcp, the
%% transport lives on this node: what ssl calls in the caller (`Mod:connect/4',
%% `Mod:listen/2', `Mod:accept/2', `Mod:port/1', the calls on a listen socket)
%% runs in the caller when the bridge answers `{'$pyssl_apply', Step, Args}'
%% (see pyssl_cb), and a connected socket is driven by a `pyssl_relay'.
%%
%% == Bridge loss and active sockets ==
%% `pyssl_monitor' remembers the owner of every socket this node got from a
%% bridge (on `{ok, S}' or `{ok, S, Ext}' from connect/listen/transport_accept/
%% handshake and on a
%% successful `controlling_process'; forgotten on `close'). When a bridge node
%% goes down, each owner receives `{ssl_closed, S}' for each of its recorded
%% sockets on that bridge, whatever their active mode, as if the peer had closed
%% them.
-module(pyssl).

-export([start/0, start/1, stop/0,
         connect/2, connect/3, connect/4,
         listen/2, transport_accept/1, transport_accept/2,
         ssl_accept/1, ssl_accept/2, ssl_accept/3,
         handshake/1, handshake/2, handshake/3,
         send/2, recv/2, recv/3, close/1, close/2, shutdown/2,
         controlling_process/2, setopts/2, getopts/2,
         peername/1, sockname/1, peercert/1,
         connection_info/1, connection_information/1, connection_information/2,
         negotiated_protocol/1, negotiated_next_protocol/1,
         prf/5, renegotiate/1,
         cipher_suites/0, cipher_suites/1, cipher_suites/2,
         versions/0, format_error/1]).
%% OTP 25's functions beyond the above (see "OTP 25 additions" below)
-export([cipher_suites/3, filter_cipher_suites/2, prepend_cipher_suites/2,
         append_cipher_suites/2, suite_to_str/1, suite_to_openssl_str/1, str_to_suite/1,
         tls_version/1, eccs/0, eccs/1, groups/0, groups/1, getstat/1, getstat/2,
         clear_pem_cache/0, update_keys/2, handshake_continue/2, handshake_continue/3,
         handshake_cancel/1]).
-export([upgrade_call/2]).
-export([cb_call/3]).
%% Observability: the bridges' sockets and figures (see "Observability" below)
-export([i/0, i/1, stats/0, stats/1]).

-export_type([sslsocket/0, reason/0]).
-export_type([bridge_stats/0]).

%% The specs mirror those of OTP 25's ssl.erl, with ssl's exported types; the
%% R16B03 names (ssl_accept, connection_info, negotiated_next_protocol,
%% cipher_suites/0,1) follow the R16B03 man page.
-type sslsocket() :: {sslsocket, pyssl, reference()}.
%% ssl's reason() is any(): its own reasons and alerts, and here also
%% `closed' for a lost bridge and `{bridge_unavailable, [node()]}'.
-type reason() :: term().

-define(IS_SOCKET(S), (is_tuple(S) andalso tuple_size(S) =:= 3 andalso
                       element(1, S) =:= sslsocket andalso element(2, S) =:= pyssl andalso
                       is_reference(element(3, S)))).
-define(IS_TIMEOUT(T), ((is_integer(T) andalso T >= 0) orelse T =:= infinity)).

%%% Application ----------------------------------------------------------------

%% @doc Start the `pyssl' application (and what it needs), like `ssl:start/0'.
-spec start() -> ok | {error, term()}.
start() -> start(temporary).

-spec start(application:restart_type()) -> ok | {error, term()}.
start(Type) ->
    case application:ensure_all_started(pyssl, Type) of
        {ok, _} -> ok;
        {error, _} = E -> E
    end.

-spec stop() -> ok.
stop() ->
    _ = application:stop(pyssl),
    ok.

%%% Client and server ------------------------------------------------------------

-spec connect(TCPSocket, TLSOptions) ->
          {ok, sslsocket()} | {error, reason()} | {option_not_a_key_value_tuple, any()}
              when TCPSocket :: port(), TLSOptions :: [ssl:tls_client_option()].
connect(Socket, Opts) -> connect(Socket, Opts, infinity).

%% The same clause order as ssl: a list and a timeout make it an upgrade.
-spec connect(TCPSocket, TLSOptions, Timeout) -> {ok, sslsocket()} | {error, reason()}
              when TCPSocket :: port(), TLSOptions :: [ssl:tls_client_option()],
                   Timeout :: timeout();
             (Host, Port, TLSOptions) ->
          {ok, sslsocket()} | {ok, sslsocket(), Ext :: ssl:protocol_extensions()}
          | {error, reason()} | {option_not_a_key_value_tuple, any()}
              when Host :: ssl:host(), Port :: inet:port_number(),
                   TLSOptions :: [ssl:tls_client_option()].
connect(Socket, Opts, Timeout) when is_list(Opts), ?IS_TIMEOUT(Timeout) ->
    warn_no_verify(upgrade(client, Socket, Opts, Timeout), Opts);
connect(Host, Port, Opts) -> connect(Host, Port, Opts, infinity).

-spec connect(Host, Port, TLSOptions, Timeout) ->
          {ok, sslsocket()} | {ok, sslsocket(), Ext :: ssl:protocol_extensions()}
          | {error, reason()} | {option_not_a_key_value_tuple, any()}
              when Host :: ssl:host(), Port :: inet:port_number(),
                   TLSOptions :: [ssl:tls_client_option()], Timeout :: timeout().
connect(Host, Port, Opts, Timeout) when ?IS_TIMEOUT(Timeout) ->
    warn_no_verify(new_socket(connect, [Host, Port, pyssl_info:default_versions(Opts), Timeout]),
                   Opts).

%% ssl:handle_options/4's maybe_client_warn_no_verify/2: a client given no `verify'
%% option runs verify_none (OTP 25's default) and says so at warning level on the
%% caller's node, through ssl's own logger and its log_level rule. ssl logs once
%% the options are accepted, whatever the connection then does; here it is once
%% the bridge has answered, for the same cases.
warn_no_verify({error, {options, _}} = Result, _Opts) ->
    Result;
warn_no_verify(Result, Opts) when is_list(Opts) ->
    case lists:keymember(verify, 1, Opts) of
        true ->
            ok;
        false ->
            LogLevel = proplists:get_value(log_level, Opts, notice),
            try ssl_logger:log(warning, LogLevel,
                               #{description => "Server authenticity is not verified since "
                                                "certificate path validation is not enabled",
                                 reason => "The option {verify, verify_peer} and one of the "
                                           "options 'cacertfile' or 'cacerts' are required "
                                           "to enable this."},
                               #{mfa => {?MODULE, connect, 4}, line => ?LINE, file => ?FILE})
            catch _:_ -> ok                 % a log_level logger does not compare
            end
    end,
    Result;
warn_no_verify(Result, _Opts) ->
    Result.

-spec listen(Port, Options) -> {ok, ListenSocket} | {error, reason()}
              when Port :: inet:port_number(), Options :: [ssl:tls_server_option()],
                   ListenSocket :: sslsocket().
listen(Port, Opts) -> new_socket(listen, [Port, pyssl_info:default_versions(Opts)]).

-spec transport_accept(ListenSocket) -> {ok, SslSocket} | {error, reason()}
              when ListenSocket :: sslsocket(), SslSocket :: sslsocket().
transport_accept(L) -> socket_call(L, transport_accept, [L], {track, {accepted, L}}).
-spec transport_accept(ListenSocket, Timeout) -> {ok, SslSocket} | {error, reason()}
              when ListenSocket :: sslsocket(), Timeout :: timeout(), SslSocket :: sslsocket().
transport_accept(L, Timeout) ->
    socket_call(L, transport_accept, [L, Timeout], {track, {accepted, L}}).

%% R16B03: on an ssl socket `ok'; on a gen_tcp socket (an upgrade) `{ok, SslSocket}'.
-spec ssl_accept(Socket) -> ok | {ok, sslsocket()} | {error, reason()}
              when Socket :: sslsocket() | port().
ssl_accept(S) when is_port(S) -> upgrade(server, S, [], infinity);
ssl_accept(S) -> socket_call(S, ssl_accept, [S]).
-spec ssl_accept(Socket, TLSOptionsOrTimeout) -> ok | {ok, sslsocket()} | {error, reason()}
              when Socket :: sslsocket() | port(),
                   TLSOptionsOrTimeout :: [ssl:tls_server_option()] | timeout().
ssl_accept(S, OptsOrTimeout) when is_port(S) -> upgrade_2(S, OptsOrTimeout);
ssl_accept(S, OptsOrTimeout) -> socket_call(S, ssl_accept, [S, OptsOrTimeout]).
-spec ssl_accept(Socket, TLSOptions, Timeout) -> ok | {ok, sslsocket()} | {error, reason()}
              when Socket :: sslsocket() | port(), TLSOptions :: [ssl:tls_server_option()],
                   Timeout :: timeout().
ssl_accept(S, Opts, Timeout) when is_port(S) -> upgrade(server, S, Opts, Timeout);
ssl_accept(S, Opts, Timeout) -> socket_call(S, ssl_accept, [S, Opts, Timeout]).

-spec handshake(HsSocket) ->
          {ok, SslSocket} | {ok, SslSocket, Ext} | {error, Reason}
              when HsSocket :: sslsocket() | port(), SslSocket :: sslsocket(),
                   Ext :: ssl:protocol_extensions(), Reason :: reason().
handshake(S) when is_port(S) -> upgrade(server, S, [], infinity);
handshake(S) -> socket_call(S, handshake, [S], track).
-spec handshake(HsSocket, Timeout) ->
          {ok, SslSocket} | {ok, SslSocket, Ext} | {error, Reason}
              when HsSocket :: sslsocket() | port(), Timeout :: timeout(),
                   SslSocket :: sslsocket(), Ext :: ssl:protocol_extensions(),
                   Reason :: reason();
               (Socket, Options) ->
          {ok, SslSocket} | {ok, SslSocket, Ext} | {error, Reason}
              when Socket :: port() | sslsocket(), Options :: [ssl:tls_server_option()],
                   SslSocket :: sslsocket(), Ext :: ssl:protocol_extensions(),
                   Reason :: reason().
handshake(S, OptsOrTimeout) when is_port(S) -> upgrade_2(S, OptsOrTimeout);
handshake(S, Opts) when not ?IS_SOCKET(S), is_list(Opts) -> upgrade(server, S, Opts, infinity);
handshake(S, OptsOrTimeout) ->
    socket_call(S, handshake, [S, OptsOrTimeout], {track, mode(OptsOrTimeout, keep)}).
-spec handshake(Socket, Options, Timeout) ->
          {ok, SslSocket} | {ok, SslSocket, Ext} | {error, Reason}
              when Socket :: port() | sslsocket(), Options :: [ssl:tls_server_option()],
                   Timeout :: timeout(), SslSocket :: sslsocket(),
                   Ext :: ssl:protocol_extensions(), Reason :: reason().
handshake(S, Opts, Timeout) when is_port(S) -> upgrade(server, S, Opts, Timeout);
%% a socket of a user's transport (cb_info in Opts), else function_clause as before
handshake(S, Opts, Timeout) when not ?IS_SOCKET(S), is_list(Opts) ->
    upgrade(server, S, Opts, Timeout);
handshake(S, Opts, Timeout) ->
    socket_call(S, handshake, [S, Opts, Timeout], {track, mode(Opts, keep)}).

%%% Data ------------------------------------------------------------------------------

%% Within the socket's send window (see pyssl_guard) the data goes to the
%% bridge without waiting for a reply, as ssl's sender takes it; otherwise
%% (no window, window used up) the call waits for the bridge's answer.
-spec send(SslSocket, Data) -> ok | {error, reason()}
              when SslSocket :: sslsocket(), Data :: iodata().
send({sslsocket, pyssl, Ref} = S, Data) when is_reference(Ref) ->
    case pyssl_guards:take_credit(Ref, Data) of
        ok ->
            case pyssl_bridges:send({pyssl, node(Ref)}, {'$pyssl_send', Ref, Data}) of
                ok -> ok;
                _NoConnect -> socket_call(S, send, [S, Data])
            end;
        no ->
            socket_call(S, send, [S, Data])
    end;
send(S, Data) -> socket_call(S, send, [S, Data]).

-spec recv(SslSocket, Length) -> {ok, Data} | {error, reason()}
              when SslSocket :: sslsocket(), Length :: integer(),
                   Data :: binary() | list() | HttpPacket, HttpPacket :: any().
recv(S, Length) -> socket_call(S, recv, [S, Length]).
-spec recv(SslSocket, Length, Timeout) -> {ok, Data} | {error, reason()}
              when SslSocket :: sslsocket(), Length :: integer(),
                   Data :: binary() | list() | HttpPacket, Timeout :: timeout(),
                   HttpPacket :: any().
recv(S, Length, Timeout) -> socket_call(S, recv, [S, Length, Timeout]).

-spec close(SslSocket) -> ok | {error, Reason}
              when SslSocket :: sslsocket(), Reason :: any().
close(S) ->
    case socket_call(S, close, [S], forget) of
        {error, closed} -> ok;
        Other -> Other
    end.

-spec close(SslSocket, How) -> ok | {ok, port()} | {ok, port(), Data} | {error, Reason}
              when SslSocket :: sslsocket(),
                   How :: timeout() | {NewController :: pid(), timeout()},
                   Data :: binary(), Reason :: any().
close(S, How) -> socket_call(S, close, [S, How], forget).

-spec shutdown(SslSocket, How) -> ok | {error, reason()}
              when SslSocket :: sslsocket(), How :: read | write | read_write.
shutdown(S, How) -> socket_call(S, shutdown, [S, How]).

-spec controlling_process(SslSocket, NewOwner) -> ok | {error, Reason}
              when SslSocket :: sslsocket(), NewOwner :: pid(), Reason :: any().
controlling_process(S, Pid) ->
    case socket_call(S, controlling_process, [S, Pid]) of
        ok when is_pid(Pid) ->
            pyssl_monitor:track(S, Pid),
            drop_window_if_dead(S, Pid),
            ok;
        Other ->
            Other
    end.

%% A handover to a process of this node that is dead already closes the socket
%% once the bridge sees the new owner's `DOWN' (noproc). That comes before the
%% next call from this node, not before a send taken from the window, which
%% said ok and was dropped: the window goes now, so the next send is a call
%% and answers `{error, closed}'.
drop_window_if_dead({sslsocket, pyssl, Ref}, Pid) when node(Pid) =:= node() ->
    case is_process_alive(Pid) of
        true -> ok;
        false -> pyssl_guards:sync(node(Ref), Ref)
    end;
drop_window_if_dead(_S, _Pid) ->
    ok.

%%% Options and information ----------------------------------------------------------

-spec setopts(SslSocket, Options) -> ok | {error, reason()}
              when SslSocket :: sslsocket(), Options :: [gen_tcp:option()].
setopts(S, Opts) when is_list(Opts) ->
    Reply = socket_call(S, setopts, [S, Opts]),
    _ = Reply =:= ok andalso lists:keymember(active, 1, Opts)
        andalso pyssl_monitor:active(S, mode(Opts, true)),
    Reply;
setopts(S, Opts) -> socket_call(S, setopts, [S, Opts]).
-spec getopts(SslSocket, OptionNames) -> {ok, [gen_tcp:option()]} | {error, reason()}
              when SslSocket :: sslsocket(), OptionNames :: [gen_tcp:option_name()].
getopts(S, Names) -> socket_call(S, getopts, [S, Names]).
-spec peername(SslSocket) -> {ok, {Address, Port}} | {error, reason()}
              when SslSocket :: sslsocket(), Address :: inet:ip_address(),
                   Port :: inet:port_number().
peername(S) -> socket_call(S, peername, [S]).
-spec sockname(SslSocket) -> {ok, {Address, Port}} | {error, reason()}
              when SslSocket :: sslsocket(), Address :: inet:ip_address(),
                   Port :: inet:port_number().
sockname(S) -> socket_call(S, sockname, [S]).
-spec peercert(SslSocket) -> {ok, Cert} | {error, reason()}
              when SslSocket :: sslsocket(), Cert :: public_key:der_encoded().
peercert(S) -> socket_call(S, peercert, [S]).
%% R16B03: `{ok, {ProtocolVersion, CipherSuite}}'.
-spec connection_info(SslSocket) -> {ok, {ProtocolVersion, CipherSuite}} | {error, reason()}
              when SslSocket :: sslsocket(), ProtocolVersion :: ssl:protocol_version(),
                   CipherSuite :: ssl:old_cipher_suite().
connection_info(S) -> socket_call(S, connection_info, [S]).
-spec connection_information(SslSocket) -> {ok, Result} | {error, reason()}
              when SslSocket :: sslsocket(), Result :: [{atom(), term()}].
connection_information(S) ->
    pyssl_info:with_options(socket_call(S, connection_information, [S]), all,
                            fun() -> socket_call(S, ssl_option_sources, [S]) end).
-spec connection_information(SslSocket, Items) -> {ok, Result} | {error, reason()}
              when SslSocket :: sslsocket(), Items :: [atom()], Result :: [{atom(), term()}].
connection_information(S, Items) ->
    pyssl_info:with_options(socket_call(S, connection_information, [S, Items]), Items,
                            fun() -> socket_call(S, ssl_option_sources, [S]) end).
-spec negotiated_protocol(SslSocket) -> {ok, Protocol} | {error, Reason}
              when SslSocket :: sslsocket(), Protocol :: binary(),
                   Reason :: protocol_not_negotiated | reason().
negotiated_protocol(S) -> socket_call(S, negotiated_protocol, [S]).
%% R16B03's name for negotiated_protocol/1 (next protocol negotiation).
-spec negotiated_next_protocol(SslSocket) -> {ok, Protocol} | {error, Reason}
              when SslSocket :: sslsocket(), Protocol :: binary(),
                   Reason :: next_protocol_not_negotiated | reason().
negotiated_next_protocol(S) -> socket_call(S, negotiated_next_protocol, [S]).
-spec prf(SslSocket, Secret, Label, Seed, WantedLength) -> {ok, binary()} | {error, reason()}
              when SslSocket :: sslsocket(), Secret :: binary() | master_secret,
                   Label :: binary(), Seed :: [binary() | ssl:prf_random()],
                   WantedLength :: non_neg_integer().
prf(S, Secret, Label, Seed, Len) -> socket_call(S, prf, [S, Secret, Label, Seed, Len]).
-spec renegotiate(SslSocket) -> ok | {error, reason()}
              when SslSocket :: sslsocket().
renegotiate(S) -> socket_call(S, renegotiate, [S]).

%% The functions that need no socket return `{error, {bridge_unavailable, _}}'
%% or `{error, closed}' when no bridge serves them, though ssl's return a list.
%% R16B03: cipher_suites() is cipher_suites(erlang).
-spec cipher_suites() -> ssl:ciphers() | [ssl:old_cipher_suite()] | {error, reason()}.
cipher_suites() -> bridge_call(cipher_suites, []).
-spec cipher_suites(Type) -> ssl:ciphers() | [ssl:old_cipher_suite() | string()] | {error, reason()}
              when Type :: erlang | openssl | all.
cipher_suites(Type) -> bridge_call(cipher_suites, [Type]).
-spec cipher_suites(Description, Version) -> ssl:ciphers() | {error, reason()}
              when Description :: default | all | exclusive | anonymous | exclusive_anonymous,
                   Version :: ssl:protocol_version().
cipher_suites(Description, Version) -> bridge_call(cipher_suites, [Description, Version]).
-spec versions() -> [VersionInfo] | {error, reason()}
              when VersionInfo :: {ssl_app, string()}
                                | {supported | available | implemented, [ssl:protocol_version()]}
                                | {supported_dtls | available_dtls | implemented_dtls,
                                   [ssl:protocol_version()]}.
versions() -> bridge_call(versions, []).

%% @doc The bridge's text for `Reason'; local texts when no bridge answers.
-spec format_error(term()) -> string().
format_error({bridge_unavailable, _} = Reason) ->
    local_format_error(Reason);
format_error({error, {bridge_unavailable, _} = Reason}) ->
    local_format_error(Reason);
format_error(Reason) ->
    case pyssl_bridges:pick() of
        {ok, Node} ->
            case forward(Node, format_error, [Reason]) of
                {reply, Text} -> Text;
                down -> local_format_error(Reason)
            end;
        {error, _} ->
            local_format_error(Reason)
    end.

%%% OTP 25 additions -----------------------------------------------------------------
%%
%% The functions OTP 25's `ssl' has beyond R16B03's, with ssl.erl's specs (plus the
%% shim's own `{error, {bridge_unavailable, Nodes}}' where a bridge is asked).
%% What depends on the TLS library (the suites, curves and groups on offer, the
%% crypto filters of `filter_cipher_suites/2') is the bridge's OpenSSL's; pure
%% conversions between suite names and terms are OTP's own code, run here: the
%% answer is then the same as ssl's for every input, errors included, without a
%% trip to the bridge.

-type bridge_unavailable() :: {error, {bridge_unavailable, [node()] | {port, term()}}}.

-spec cipher_suites(Description, Version, rfc | openssl) -> [string()] | bridge_unavailable()
          when Description :: default | all | exclusive | anonymous | exclusive_anonymous,
               Version :: ssl:protocol_version().
cipher_suites(Description, Version, StringType) ->
    bridge_call(cipher_suites, [Description, Version, StringType]).

%% ssl's own filter (ssl_cipher:filter_suites/2, so order, errors and the calls of
%% the caller's funs are ssl's) with the bridge's crypto support in place of this
%% node's crypto library's (ssl_cipher:crypto_support_filters/0).
-spec filter_cipher_suites(Suites, Filters) -> Ciphers | bridge_unavailable()
          when Suites :: ssl:ciphers(), Filters :: ssl:cipher_filters(),
               Ciphers :: ssl:ciphers().
filter_cipher_suites(Suites, Filters0) ->
    case bridge_call('$pyssl_cipher_support', []) of
        #{} = Support ->
            Filters = #{key_exchange_filters =>
                            add_filter(proplists:get_value(key_exchange, Filters0),
                                       [supported(key_exchange, Support)]),
                        cipher_filters =>
                            add_filter(proplists:get_value(cipher, Filters0),
                                       [supported(cipher, Support)]),
                        mac_filters =>
                            add_filter(proplists:get_value(mac, Filters0),
                                       [supported(mac, Support)]),
                        prf_filters =>
                            add_filter(proplists:get_value(prf, Filters0),
                                       [supported(prf, Support)])},
            ssl_cipher:filter_suites(Suites, Filters);
        {error, _} = Error ->
            Error
    end.

-spec prepend_cipher_suites(Preferred, Suites) -> ssl:ciphers() | bridge_unavailable()
          when Preferred :: ssl:ciphers() | ssl:cipher_filters(), Suites :: ssl:ciphers().
prepend_cipher_suites([First | _] = Preferred, Suites0) when is_map(First) ->
    Preferred ++ (Suites0 -- Preferred);
prepend_cipher_suites(Filters, Suites) ->
    case filter_cipher_suites(Suites, Filters) of
        {error, {bridge_unavailable, _}} = Error -> Error;
        Preferred -> Preferred ++ (Suites -- Preferred)
    end.

-spec append_cipher_suites(Deferred, Suites) -> ssl:ciphers() | bridge_unavailable()
          when Deferred :: ssl:ciphers() | ssl:cipher_filters(), Suites :: ssl:ciphers().
append_cipher_suites([First | _] = Deferred, Suites0) when is_map(First) ->
    (Suites0 -- Deferred) ++ Deferred;
append_cipher_suites(Filters, Suites) ->
    case filter_cipher_suites(Suites, Filters) of
        {error, {bridge_unavailable, _}} = Error -> Error;
        Deferred -> (Suites -- Deferred) ++ Deferred
    end.

-spec suite_to_str(CipherSuite) -> string() when CipherSuite :: ssl:erl_cipher_suite().
suite_to_str(Cipher) -> ssl:suite_to_str(Cipher).

-spec suite_to_openssl_str(CipherSuite) -> string() when CipherSuite :: ssl:erl_cipher_suite().
suite_to_openssl_str(Cipher) -> ssl:suite_to_openssl_str(Cipher).

-spec str_to_suite(CipherSuiteName) ->
          ssl:erl_cipher_suite() | {error, {not_recognized, CipherSuiteName}}
          when CipherSuiteName :: string().
str_to_suite(CipherSuiteName) -> ssl:str_to_suite(CipherSuiteName).

-spec tls_version(tuple()) -> tuple().
tls_version(Version) -> ssl:tls_version(Version).

-spec eccs() -> [ssl:named_curve()] | bridge_unavailable().
eccs() -> bridge_call(eccs, []).

-spec eccs(Version) -> [ssl:named_curve()] | bridge_unavailable()
          when Version :: ssl:protocol_version().
eccs(Version) -> bridge_call(eccs, [Version]).

-spec groups() -> [ssl:group()] | bridge_unavailable().
groups() -> bridge_call(groups, []).

-spec groups(default) -> [ssl:group()] | bridge_unavailable().
groups(Default) -> bridge_call(groups, [Default]).

%% The counters of the bridge's TCP socket under the connection.
-spec getstat(SslSocket) -> {ok, OptionValues} | {error, inet:posix()}
          when SslSocket :: sslsocket(), OptionValues :: [{inet:stat_option(), integer()}].
getstat(Socket) -> getstat(Socket, inet:stats()).

-spec getstat(SslSocket, Options) -> {ok, OptionValues} | {error, inet:posix()}
          when SslSocket :: sslsocket(), Options :: [inet:stat_option()],
               OptionValues :: [{inet:stat_option(), integer()}].
getstat(Socket, Options) -> socket_call(Socket, getstat, [Socket, Options]).

%% The PEM cache here is the bridges' cache of files read on callers' nodes:
%% every reachable bridge this node uses drops its copies.
-spec clear_pem_cache() -> ok.
clear_pem_cache() ->
    lists:foreach(fun(Node) ->
                          _ = pyssl_bridges:connected(Node)
                              andalso forward(Node, clear_pem_cache, []),
                          ok
                  end, pyssl_bridges:known()).

%% ssl's catch-all clause answers for anything but a socket and write | read_write.
-spec update_keys(SslSocket, Type) -> ok | {error, term()}
          when SslSocket :: sslsocket(), Type :: write | read_write.
update_keys({sslsocket, pyssl, Ref} = S, Type) when is_reference(Ref) ->
    socket_call(S, update_keys, [S, Type]);
update_keys(_, Type) ->
    {error, {illegal_parameter, Type}}.

%% `{handshake, hello}' is not offered: no socket is ever paused after the hello,
%% and these answer as ssl's do for such a socket.
-spec handshake_continue(HsSocket, Options) -> {ok, SslSocket} | {error, Reason}
          when HsSocket :: sslsocket(), Options :: [ssl:tls_client_option() | ssl:tls_server_option()],
               SslSocket :: sslsocket(), Reason :: closed | timeout | ssl:error_alert().
handshake_continue(Socket, Options) -> handshake_continue(Socket, Options, infinity).

-spec handshake_continue(HsSocket, Options, Timeout) -> {ok, SslSocket} | {error, Reason}
          when HsSocket :: sslsocket(), Options :: [ssl:tls_client_option() | ssl:tls_server_option()],
               Timeout :: timeout(), SslSocket :: sslsocket(),
               Reason :: closed | timeout | ssl:error_alert().
handshake_continue(Socket, Options, Timeout) ->
    socket_call(Socket, handshake_continue, [Socket, Options, Timeout]).

-spec handshake_cancel(sslsocket()) -> any().
handshake_cancel(Socket) -> socket_call(Socket, handshake_cancel, [Socket]).

add_filter(undefined, Filters) -> Filters;
add_filter(Filter, Filters) -> [Filter | Filters].

supported(Component, Support) ->
    Values = maps:get(Component, Support),
    fun(Value) -> lists:member(Value, Values) end.

%%% Observability --------------------------------------------------------------------
%%
%% `i/0' prints the sockets of every bridge (configured, or the embedded one) as `inet:i/0' prints this
%% node's ports (inet.erl's i/2: one header line, columns as wide as their widest
%% entry); `stats/0' gives each bridge's figures. Both ask each bridge with the
%% same call as every other function (`'$pyssl_sockets'/0', `'$pyssl_stats'/0'),
%% so a bridge that cannot be reached answers `{error, closed}'; a bridge too old
%% to know the call, `{error, {not_supported_by_bridge, Call}}'.

-type bridge_stats() ::
        #{uptime := number(), connections_open := non_neg_integer(),
          connections_total := non_neg_integer(), sockets := non_neg_integer(),
          listen_sockets := non_neg_integer(), owners := non_neg_integer(),
          handshakes := non_neg_integer(), handshakes_per_sec := number(),
          handshake_errors := non_neg_integer(), connection_errors := non_neg_integer(),
          errors := non_neg_integer(), bytes_in := non_neg_integer(),
          bytes_out := non_neg_integer(), bytes_in_per_sec := number(),
          bytes_out_per_sec := number(), rate_window := number(),
          rss := non_neg_integer()}.

%% The columns of i/0, in order.
-define(I_FIELDS, [owner, role, local_address, peer, state, protocol, recv, sent, bridge]).

%% @doc Print a table of the sockets of every bridge this node uses
%% (`pyssl_bridges:known/0': the configured ones, or the embedded one), one line each, as `inet:i/0' does for ports:
%% owner, role (client, server or listen), local address, peer, state (the
%% socket's: handshaking, open, write_shut...), protocol (the negotiated TLS
%% version), the bytes received and sent on its TCP socket (what `getstat/2'
%% counts: ciphertext) and the bridge. A bridge that cannot be reached gets a
%% line saying so after the table.
-spec i() -> ok.
i() -> print_sockets(pyssl_bridges:known()).

%% @doc `i/0' for one bridge node.
-spec i(Bridge :: node()) -> ok.
i(Bridge) when is_atom(Bridge) -> print_sockets([Bridge]).

%% @doc The figures of every bridge this node uses (`pyssl_bridges:known/0'): `#{Bridge => Stats}', with
%% `{error, closed}' for a bridge that cannot be reached (and
%% ``{error, {not_supported_by_bridge, '$pyssl_stats'}}'' for one without them). Totals are since the
%% bridge started (`uptime' seconds); rates (`*_per_sec') are averaged over the
%% last `rate_window' seconds (one to two of the bridge's summary intervals);
%% `bytes_in'/`bytes_out' are the bytes of its TLS connections' TCP sockets,
%% `errors' the handshakes that failed plus the connections that failed after
%% theirs, `rss' the bridge process's resident memory in bytes.
-spec stats() -> #{node() => bridge_stats() | {error, observe_error()}}.
stats() -> maps:from_list([{Bridge, stats(Bridge)} || Bridge <- pyssl_bridges:known()]).

%% @doc The figures of one bridge node (see `stats/0').
-spec stats(Bridge :: node()) -> bridge_stats() | {error, observe_error()}.
stats(Bridge) when is_atom(Bridge) ->
    case observe_call(Bridge, '$pyssl_stats') of
        #{} = Stats -> Stats;
        {error, _} = Error -> Error;
        _ -> {error, closed}
    end.

-type observe_error() :: closed | {not_supported_by_bridge, atom()}.

%% A bridge that answers undef for the call is older than the call.
observe_call(Bridge, Call) ->
    try call(Bridge, Call, [])
    catch error:{undef, _} -> {error, {not_supported_by_bridge, Call}}
    end.

print_sockets(Bridges) ->
    Answers = [{Bridge, observe_call(Bridge, '$pyssl_sockets')} || Bridge <- Bridges],
    Lines = [[i_field(F, Row, Bridge) || F <- ?I_FIELDS]
             || {Bridge, Rows} <- Answers, is_list(Rows), Row <- Rows, is_map(Row)],
    Table = case Lines of
                [] -> [];
                _ -> [[i_header(F) || F <- ?I_FIELDS] | Lines]
            end,
    %% inet:ii/3: each column as wide as its widest entry
    Widths = lists:foldl(fun(Line, Max) -> [max(length(S), M) || {S, M} <- lists:zip(Line, Max)] end,
                         [0 || _ <- ?I_FIELDS], Table),
    Fmt = lists:append(["~-" ++ integer_to_list(W) ++ "s " || W <- Widths]) ++ "~n",
    lists:foreach(fun(Line) -> io:format(Fmt, Line) end, Table),
    lists:foreach(fun({_Bridge, Rows}) when is_list(Rows) -> ok;
                     ({Bridge, {error, {not_supported_by_bridge, _}}}) ->
                          io:format("bridge ~w: cannot list its sockets (an older bridge)~n", [Bridge]);
                     ({Bridge, _}) -> io:format("bridge ~w: unavailable~n", [Bridge])
                  end, Answers).

%% inet:h_field/1: "local_address" -> "Local Address"
i_header(Field) ->
    lists:flatten(lists:join($\s, [string:titlecase(W) || W <- string:lexemes(atom_to_list(Field), "_")])).

i_field(owner, #{owner := Pid}, _) when is_pid(Pid) -> pid_to_list(Pid);
i_field(role, #{role := Role}, _) when is_atom(Role) -> atom_to_list(Role);
i_field(local_address, #{local := Addr}, _) -> i_address(Addr, " ");
i_field(peer, #{role := listen}, _) -> "*:*";
i_field(peer, #{peer := Addr}, _) -> i_address(Addr, " ");
i_field(state, #{state := State}, _) when is_atom(State) -> atom_to_list(State);
i_field(protocol, #{protocol := undefined}, _) -> " ";
i_field(protocol, #{protocol := P}, _) when is_atom(P) -> atom_to_list(P);
i_field(recv, #{recv_oct := N}, _) when is_integer(N) -> integer_to_list(N);
i_field(sent, #{send_oct := N}, _) when is_integer(N) -> integer_to_list(N);
i_field(bridge, _, Bridge) -> atom_to_list(Bridge);
i_field(_, _, _) -> " ".

%% inet:fmt_addr/2, without the services lookup of the port
i_address({{0, 0, 0, 0}, Port}, _) when is_integer(Port) -> "*:" ++ integer_to_list(Port);
i_address({{0, 0, 0, 0, 0, 0, 0, 0}, Port}, _) when is_integer(Port) -> "*:" ++ integer_to_list(Port);
i_address({{127, 0, 0, 1}, Port}, _) when is_integer(Port) -> "localhost:" ++ integer_to_list(Port);
i_address({{0, 0, 0, 0, 0, 0, 0, 1}, Port}, _) when is_integer(Port) -> "localhost:" ++ integer_to_list(Port);
i_address({IP, Port}, Default) when is_tuple(IP), is_integer(Port) ->
    case inet:ntoa(IP) of
        {error, _} -> Default;
        Text -> Text ++ ":" ++ integer_to_list(Port)
    end;
i_address(_, Default) -> Default.

%%% Internals -------------------------------------------------------------------------

%% TLS on a gen_tcp socket: the socket stays here with a relay process and the
%% bridge runs TLS over its bytes (see pyssl_relay).
upgrade_2(S, Timeout) when ?IS_TIMEOUT(Timeout) -> upgrade(server, S, [], Timeout);
upgrade_2(S, Opts) -> upgrade(server, S, Opts, infinity).

upgrade(Role, Socket, Opts, Timeout) when is_port(Socket), is_list(Opts), ?IS_TIMEOUT(Timeout) ->
    case pyssl_bridges:pick() of
        {ok, Node} ->
            pyssl_relay:upgrade(Node, Role, Socket, pyssl_info:default_versions(Opts), Timeout);
        {error, _} = E -> E
    end;
upgrade(Role, Socket, Opts, Timeout) when is_list(Opts), ?IS_TIMEOUT(Timeout) ->
    %% a socket of a user's transport (cb_info), see pyssl_cb:upgrade/6
    case pyssl_cb:user_transport(Opts) of
        undefined ->
            erlang:error(function_clause);
        Cb ->
            case pyssl_bridges:pick() of
                {ok, Node} -> pyssl_cb:upgrade(Node, Role, Socket, Cb, Opts, Timeout);
                {error, _} = E -> E
            end
    end;
upgrade(_Role, _Socket, _Opts, _Timeout) ->
    erlang:error(function_clause).

%% @private A request of pyssl_cb/pyssl_relay for a user's transport (cb_info).
-spec cb_call(node(), atom(), list()) -> term().
cb_call(Node, Function, Args) ->
    call(Node, Function, Args).

%% @private The bridge's side of an upgrade, called by pyssl_relay.
-spec upgrade_call(node(), list()) -> term().
upgrade_call(Node, Args) ->
    after_call(call(Node, '$pyssl_upgrade', Args), track).

new_socket(Function, Args) ->
    Mode = case {Function, Args} of
               {connect, [_Host, _Port, Opts, _Timeout]} -> mode(Opts, true);
               {listen, [_Port, Opts]} -> {listen, mode(Opts, true)};
               _ -> keep
           end,
    case pyssl_bridges:pick() of
        {ok, Node} -> after_call(call(Node, Function, Args), {track, Mode});
        {error, _} = E -> E
    end.

%% Whether options `Opts' make a socket active, as ssl reads them (the first
%% `active' option; `false' and `{active, 0}' are passive): `Default' without one.
%% What pyssl_monitor needs to know on the day the bridge goes (see its track/3).
mode(Opts, Default) when is_list(Opts) ->
    case lists:keyfind(active, 1, Opts) of
        {active, false} -> false;
        {active, 0} -> false;
        {active, _} -> true;
        false -> Default
    end;
mode(_NotOpts, Default) ->
    Default.

bridge_call(Function, Args) ->
    case pyssl_bridges:pick() of
        {ok, Node} -> call(Node, Function, Args);
        {error, _} = E -> E
    end.

socket_call(S, Function, Args) -> socket_call(S, Function, Args, none).

socket_call({sslsocket, pyssl, Ref} = S, Function, Args, Then) when is_reference(Ref) ->
    case Then of
        forget -> pyssl_monitor:forget(S);
        _ -> ok
    end,
    after_call(call(node(Ref), Function, Args), Then);
socket_call(_S, _Function, _Args, _Then) ->
    erlang:error(function_clause).

after_call(Reply, track) ->
    after_call(Reply, {track, keep});
after_call({ok, S} = Reply, {track, Mode}) when ?IS_SOCKET(S) ->
    pyssl_monitor:track(S, self(), Mode),
    Reply;
after_call({ok, S, _Ext} = Reply, {track, Mode}) when ?IS_SOCKET(S) ->
    %% {handshake, hello}: paused after the hello, the socket exists already
    pyssl_monitor:track(S, self(), Mode),
    Reply;
after_call(Reply, _) ->
    Reply.

%% The send window is kept by the local guard from the bridge's messages; a
%% reply the bridge marks `{'$pyssl_sync', Ref | keep, Reply}' (it closed the
%% socket or changed its window) waits for the guard to catch up first (see
%% pyssl_guards:sync/2 and the bridge's Windows.sync_for).
call(Node, Function, Args) ->
    answer(Node, Function, Args, forward(Node, Function, Args)).

answer(Node, Function, Args, Answer) ->
    case Answer of
        {reply, {'$pyssl_sync', Sync, Reply}} ->
            %% what it wraps is answered as it would be unwrapped: a raise too
            %% (a call that raises after it ended the socket)
            pyssl_guards:sync(Node, Sync),
            answer(Node, Function, Args, {reply, Reply});
        {reply, {'$pyssl_ack', Ack, Reply}} when is_reference(Ack) ->
            %% the reply ends a connection (handshake_cancel/1, a failed handshake):
            %% ssl's connection process answers and then closes, and the bridge
            %% closes once told that this caller has its answer
            _ = pyssl_bridges:send({pyssl, Node}, {'$pyssl_ack', Ack}),
            Reply;
        {reply, {'$pyssl_raise', Class, Reason}}
          when Class =:= error; Class =:= exit; Class =:= throw ->
            erlang:raise(Class, Reason, [{?MODULE, Function, Args, []}]);
        {reply, {'$pyssl_apply', Step, StepArgs}} when is_atom(Step), is_list(StepArgs) ->
            %% a user's transport (cb_info): this step of the call runs here, in
            %% the caller, as ssl runs it (see pyssl_cb)
            apply(pyssl_cb, Step, [Node | StepArgs]);
        {reply, Reply} ->
            Reply;
        down ->
            {error, closed}
    end.

%% `{reply, Reply}', or `down' when the bridge is not there or left during the
%% call. Any exit of the call means the service is gone for this caller.
%%
%% The request is the message `gen_server:call' sends (`{'$gen_call', From, Req}'
%% to `{pyssl, Node}'), but the caller monitors a local guard process instead of
%% the bridge's `pyssl' process: the guard (one per bridge node, see
%% `pyssl_guard') holds the one remote monitor and exits when the
%% bridge's service or the connection goes. A remote monitor per call cost two
%% more distribution signals (monitor, demonitor) per call, a third of the bridge's
%% CPU for a short call. Without the app's guard table, plain gen_server:call.
%%
%% As in gen:do_call/4 (OTP 24+), the monitor is also an alias and the call's tag
%% `[alias|Mref]': the bridge replies to the alias, which is gone once the call
%% returned or the guard went down, so a reply that comes after that (the bridge
%% answers a call whose connection was lost) is dropped, never left in the mailbox.
%% The tag is an improper list on purpose, as gen.erl's (which tells dialyzer so too).
-dialyzer({no_improper_lists, forward/3}).
forward(Node, Function, Args) ->
    case pyssl_guards:guard(Node) of
        {ok, Guard} ->
            Mref = erlang:monitor(process, Guard, [{alias, demonitor}]),
            Tag = [alias | Mref],
            case pyssl_bridges:send({pyssl, Node}, {'$gen_call', {self(), Tag}, {Function, Args}}) of
                ok ->
                    receive
                        {Tag, Reply} ->
                            erlang:demonitor(Mref, [flush]),
                            {reply, Reply};
                        {'DOWN', Mref, _, _, _} ->
                            down
                    end;
                _NoConnect ->
                    %% the connection went between the guard's check and the send
                    erlang:demonitor(Mref, [flush]),
                    down
            end;
        down ->
            down;
        no_guards ->
            try gen_server:call({pyssl, Node}, {Function, Args}, infinity) of
                Reply -> {reply, Reply}
            catch
                exit:{_Why, {gen_server, call, _}} -> down
            end
    end.

local_format_error({bridge_unavailable, {port, Reason}}) ->
    lists:flatten(io_lib:format("The embedded pyssl bridge (a port program; see the pyssl "
                                "application environment bridge_command) cannot be started: ~tp",
                                [Reason]));
local_format_error({bridge_unavailable, []}) ->
    "No pyssl bridge node configured (set the pyssl application environment "
    "bridge_node or bridge_nodes)";
local_format_error({bridge_unavailable, Nodes}) ->
    lists:flatten(io_lib:format("No pyssl bridge node reachable from ~w (tried ~w)",
                                [node(), Nodes]));
local_format_error(Reason) ->
    try ssl:format_error(Reason)
    catch error:undef ->
        lists:flatten(io_lib:format("Unexpected error: ~p", [Reason]))
    end.
