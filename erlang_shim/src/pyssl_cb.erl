%% @doc The caller's side of `{cb_info, {Mod, DataTag, ClosedTag, ErrTag[, PassiveTag]}}'
%% with a transport module other than gen_tcp.
%%
%% A user's transport lives on the caller's node, so what OTP 25's ssl calls on
%% `Mod' in the caller's process runs here, in the caller's process too: the
%% bridge checks the options (as ssl:handle_options does first) and answers the
%% shim's call with `{'$pyssl_apply', Function, Args}'; `pyssl:call/3' then runs
%% `pyssl_cb:Function(BridgeNode, Args...)', whose result is the call's result.
%% A connected socket then goes to a `pyssl_relay', which carries its bytes to
%% and from the bridge (see pyssl_relay), as for a STARTTLS upgrade:
%% <ul>
%% <li>`connect': `Mod:connect(Host, Port, SockOpts, Timeout)' as
%%     tls_socket:connect/4 (its `function_clause' and `badarg' exits are the
%%     same errors), then the relay and the handshake.</li>
%% <li>`listen': `Mod:listen(Port, Opts)' as tls_socket:listen/3; the bridge
%%     keeps the listen socket's ssl and emulated options.</li>
%% <li>`accept': `Mod:accept(LSock, Timeout)' and `Mod:port/1' as
%%     tls_socket:accept/3; the new socket is relayed (paused until its
%%     handshake).</li>
%% <li>`call', `setopts', `getopts': the calls ssl.erl makes on a listen socket
%%     of a user's transport (`Mod:close/1', `Mod:sockname/1', ...).</li>
%% <li>`upgrade/6' (not a step: `pyssl:connect/2,3' and `handshake/1,2,3' on a
%%     socket that is not a port, with a `cb_info' option): TLS over a connected
%%     socket of the user's transport, as ssl's upgrade.</li>
%% </ul>
-module(pyssl_cb).

-export([connect/7, listen/5, accept/5, call/4, setopts/5, getopts/6]).
-export([user_transport/1, upgrade/6]).

%% @private
connect(Node, Host, Port, {Mod, _, _, _, _} = Cb, SockOpts, Opts, Timeout) ->
    try Mod:connect(Host, Port, SockOpts, Timeout) of
        {ok, Socket} ->
            pyssl_relay:hand_over(Node, Socket, Cb,
                                  {'$pyssl_cb_connect', [Host, Port, Cb, Opts, Timeout]});
        {error, Reason} ->
            {error, Reason}
    catch
        exit:{function_clause, _} ->
            {error, {options, {cb_info, Cb}}};
        exit:badarg ->
            {error, {options, {socket_options, SockOpts}}};
        exit:{badarg, _} ->
            {error, {options, {socket_options, SockOpts}}}
    end.

%% @private
listen(Node, Port, {Mod, _, _, _, _} = Cb, ListenOpts, Opts) ->
    case Mod:listen(Port, ListenOpts) of
        {ok, LSock} ->
            pyssl:cb_call(Node, '$pyssl_cb_listen', [LSock, Cb, Opts]);
        {error, _} = Error ->
            Error
    end.

%% @private
accept(Node, L, {Mod, _, _, _, _} = Cb, LSock, Timeout) ->
    case Mod:accept(LSock, Timeout) of
        {ok, Socket} ->
            {ok, _Port} = Mod:port(Socket),
            pyssl_relay:hand_over(Node, Socket, Cb, {'$pyssl_cb_accepted', [L]});
        {error, Reason} ->
            {error, Reason}
    end.

%% @private
call(_Node, Mod, Function, Args) ->
    apply(Mod, Function, Args).

%% @private tls_socket:setopts/3 of a listen socket: the bridge has set the
%% emulated options; the others go to the transport, worded by ssl:setopts/2.
setopts(_Node, Mod, LSock, SockOpts, Options) ->
    try Mod:setopts(LSock, SockOpts) of
        ok -> ok;
        {error, InetError} -> {error, {options, {socket_options, Options, InetError}}}
    catch
        _:Error -> {error, {options, {socket_options, Options, Error}}}
    end.

%% @private tls_socket:getopts/3 of a listen socket: the emulated values from the
%% bridge, the others from the transport (tls_socket:get_socket_opts/3).
getopts(_Node, Mod, LSock, Emulated, SockNames, Tags) ->
    try
        SocketOpts = case SockNames of
                         [] -> [];
                         _ -> {ok, Opts} = Mod:getopts(LSock, SockNames), Opts
                     end,
        {ok, Emulated ++ SocketOpts}
    catch
        _:Error -> {error, {options, {socket_options, Tags, Error}}}
    end.

%% @doc The `cb_info' of `Opts' if it names a transport module other than gen_tcp,
%% as ssl:handle_option_cb_info/2 reads it (the first one; a 4-tuple's passive
%% tag is `DataTag_passive'); `undefined' otherwise (the bridge judges the value).
-spec user_transport(list()) -> tuple() | undefined.
user_transport(Opts) ->
    case proplists:get_value(cb_info, Opts) of
        {gen_tcp, tcp, tcp_closed, tcp_error} -> undefined;
        {gen_tcp, tcp, tcp_closed, tcp_error, _} -> undefined;
        {M, D, C, E} when is_atom(M), is_atom(D), is_atom(C), is_atom(E) ->
            {M, D, C, E, list_to_atom(atom_to_list(D) ++ "_passive")};
        {M, D, C, E, P} = Cb when is_atom(M), is_atom(D), is_atom(C), is_atom(E), is_atom(P) ->
            Cb;
        _ ->
            undefined
    end.

%% @doc TLS over `Socket', a connected socket of the user's transport `Cb' owned
%% by the caller, as `Role': ssl:connect/3 and ssl:handshake/3 with cb_info. As
%% ssl: the options are checked first (then `Socket' is untouched), its emulated
%% options are read (`Mod:getopts/2') and merged under the caller's, it gets
%% ssl's internal ones (`Mod:setopts/2'), a client's host is `Mod:peername/1''s
%% address (tls_socket:upgrade/3), a server asks `Mod:port/1'; the relay and the
%% handshake follow.
-spec upgrade(node(), client | server, term(), tuple(), list(), timeout()) -> term().
upgrade(Node, Role, Socket, {Mod, _, _, _, _} = Cb, Opts, Timeout) ->
    case pyssl:cb_call(Node, '$pyssl_cb_check', [Role, Opts]) of
        ok ->
            {ok, Original} = Mod:getopts(Socket, tls_socket:emulated_options()),
            Inherited = pyssl_relay:inherited_from(Original, Opts),
            ok = Mod:setopts(Socket, tls_socket:internal_inet_values()),
            Peer = case Role of
                       client -> Mod:peername(Socket);
                       server -> {ok, _} = Mod:port(Socket), {ok, undefined}
                   end,
            case Peer of
                {ok, Address} ->
                    Reply = pyssl_relay:hand_over(
                              Node, Socket, Cb,
                              {'$pyssl_cb_upgrade', [Role, Address, Cb, Inherited, Opts, Timeout]}),
                    track(Reply);
                {error, _} = Error ->
                    Error
            end;
        Error ->
            Error
    end.

track({ok, S} = Reply) -> pyssl_monitor:track(S, self(), keep), Reply;
track(Reply) -> Reply.
