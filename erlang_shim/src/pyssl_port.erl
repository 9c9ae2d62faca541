%% @doc The embedded bridge: a `pyssl-bridge --port-mode' port program owned
%% by this process, started when neither `bridge_node' nor `bridge_nodes' is set.
%%
%% The port carries what a distribution connection carries: each `{packet, 4}'
%% frame is `<<112, Control/binary, Message/binary>>' (external terms), the
%% frame format of the distribution protocol after the handshake, so the bridge
%% serves the port with the code that serves a connection from a node. There is
%% no handshake and no cookie: the port is private to this VM.
%%
%% The bridge has a node name of its own (`pyssl_port_<OsPid>_<Hex>@localhost',
%% new for each bridge started), which the pids and references it makes carry:
%% `{sslsocket, pyssl, Ref}' routes by `node(Ref)' as with a bridge node, and
%% `pyssl_bridges' sends to that node through the port (`send/2', which any
%% process calls: `erlang:port_command/2' needs no owner), never with `!'.
%%
%% This process acts for the bridge on this node (what erts does for a node
%% connection): it delivers SEND, REG_SEND and ALIAS_SEND to local processes
%% (and passes those for processes of other nodes on), monitors for the
%% bridge (MONITOR_P, answered with MONITOR_P_EXIT), and watches bridge
%% processes for processes here (`monitor/1'). A `$gen_call' the bridge makes
%% (rpc through `rex': files, verify_fun, sni_fun, psk hooks) gets a local
%% proxy as its `From', which passes the reply back through the port: a reply
%% `!'-sent to a bridge pid would be lost.
%%
%% When the bridge exits (killed, crashed), this process tells the processes
%% that watch bridge processes (`DOWN' with `noconnection'), has `pyssl_monitor'
%% send `{ssl_closed, S}' to the owners of active sockets, and exits; its
%% supervisor starts a new bridge, as for any child, or the next pick does for a
%% bridge that died within ?MIN_UP of its start (see there). When the bridge cannot be
%% started (no executable, it exits before it is ready) `init/1' returns
%% `ignore' and keeps the reason: `pyssl_bridges:pick/0' answers
%% `{error, {bridge_unavailable, {port, Reason}}}' and tries again at the next
%% pick, so a bad `bridge_command' is never a crash loop of the application.
%% Stopping the application closes the port; the bridge exits when its stdin
%% ends (it does too when this VM dies).
-module(pyssl_port).
-behaviour(gen_server).

-export([start_link/0, current/0, node_of/0, is_bridge/1, is_port_name/1, send/2, monitor/1,
         demonitor/1, info/0, last_error/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

%% distribution control message tags (erts/emulator/beam/dist.h)
-define(LINK, 1).
-define(SEND, 2).
-define(EXIT, 3).
-define(REG_SEND, 6).
-define(MONITOR_P, 19).
-define(DEMONITOR_P, 20).
-define(MONITOR_P_EXIT, 21).
-define(SEND_SENDER, 22).
-define(ALIAS_SEND, 33).

%% persistent_term keys: the running bridge (read by every sender) and the
%% reason the last start failed
-define(CURRENT, {?MODULE, current}).
-define(ERROR, {?MODULE, error}).
%% how long a starting bridge may take to say it is ready (a Python start on a
%% loaded machine takes a second or two)
-define(READY_TIMEOUT, 60000).
%% A bridge that served at least this long is started again by the supervisor
%% when it dies (this process exits abnormally); one that died sooner is started
%% again at the next pick (this process exits with `{shutdown, Why}', which a
%% transient child is not restarted for): a bridge that keeps dying as soon as
%% it is up is never a restart loop that uses up the supervisor's intensity.
-define(MIN_UP, 5000).

-spec start_link() -> {ok, pid()} | ignore.
start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% @doc The running bridge: `{Node, Port}', or `undefined'.
-spec current() -> {node(), port()} | undefined.
current() -> persistent_term:get(?CURRENT, undefined).

%% @doc The node name of the running bridge, or `undefined'.
-spec node_of() -> node() | undefined.
node_of() ->
    case current() of
        {Node, _Port} -> Node;
        undefined -> undefined
    end.

%% @doc Whether `Node' is the running port bridge.
-spec is_bridge(node()) -> boolean().
is_bridge(Node) ->
    case current() of
        {Node, _} -> true;
        _ -> false
    end.

%% @doc Whether `Node' is the name of a port bridge, running or not (the names
%% bridge/node/port.py gives them): one that is not running is gone for good,
%% never a node to connect to.
-spec is_port_name(node()) -> boolean().
is_port_name(Node) ->
    lists:prefix("pyssl_port_", atom_to_list(Node)).

%% @doc Why the last start of a bridge failed (`undefined' if it did not).
-spec last_error() -> term().
last_error() -> persistent_term:get(?ERROR, undefined).

%% @doc `Dest ! Msg' for a pid or `{Name, Node}' of the port bridge, as
%% `erlang:send(Dest, Msg, [noconnect])': `noconnect' when that bridge is gone.
-spec send(pid() | {atom(), node()}, term()) -> ok | noconnect.
send(Dest, Msg) ->
    {Node, Control} = case Dest of
                          {Name, N} -> {N, {?REG_SEND, self(), '', Name}};
                          Pid -> {node(Pid), {?SEND, '', Pid}}
                      end,
    case current() of
        {Node, Port} ->
            try erlang:port_command(Port, frame(Control, Msg)) of
                true -> ok
            catch error:badarg -> noconnect         % closed: the bridge went
            end;
        _ ->
            noconnect
    end.

%% @doc `erlang:monitor(process, Target)' for a pid or `{Name, Node}' of the
%% port bridge: `{'DOWN', Ref, process, Target, Reason}' comes when it exits,
%% with `noconnection' when the bridge goes.
-spec monitor(pid() | {atom(), node()}) -> reference().
monitor(Target) ->
    try gen_server:call(?MODULE, {monitor, self(), Target}, infinity)
    catch exit:_ ->
            Ref = make_ref(),
            self() ! {'DOWN', Ref, process, Target, noconnection},
            Ref
    end.

%% @doc `erlang:demonitor(Ref, [flush])' for a reference from `monitor/1'.
-spec demonitor(reference()) -> true.
demonitor(Ref) ->
    gen_server:cast(?MODULE, {demonitor, Ref}),
    receive {'DOWN', Ref, _, _, _} -> true after 0 -> true end.

%% @doc The running bridge: `#{node, os_pid, executable}', or `undefined'.
-spec info() -> map() | undefined.
info() ->
    try gen_server:call(?MODULE, info, 5000) catch exit:_ -> undefined end.

%%% gen_server -----------------------------------------------------------------

init([]) ->
    process_flag(trap_exit, true),
    case start_bridge() of
        {ok, St} ->
            persistent_term:put(?CURRENT, {maps:get(node, St), maps:get(port, St)}),
            _ = persistent_term:erase(?ERROR),
            {ok, St};
        {error, Reason} ->
            logger:error("pyssl: cannot start the embedded bridge: ~tp", [Reason]),
            persistent_term:put(?ERROR, Reason),
            ignore
    end.

handle_call({monitor, Watcher, Target}, _From, #{watched := W} = St) ->
    Ref = make_ref(),
    command(St, {?MONITOR_P, Watcher, target(Target), Ref}),
    {reply, Ref, St#{watched := W#{Ref => {Watcher, Target}}}};
handle_call(info, _From, #{node := Node, os_pid := OsPid, exe := Exe} = St) ->
    {reply, #{node => Node, os_pid => OsPid, executable => Exe}, St};
handle_call(_Req, _From, St) ->
    {reply, {error, badarg}, St}.

handle_cast({demonitor, Ref}, #{watched := W} = St) ->
    case maps:take(Ref, W) of
        {{Watcher, Target}, W1} ->
            command(St, {?DEMONITOR_P, Watcher, target(Target), Ref}),
            {noreply, St#{watched := W1}};
        error ->
            {noreply, St}
    end;
handle_cast(_Msg, St) ->
    {noreply, St}.

handle_info({Port, {data, Frame}}, #{port := Port} = St) ->
    try incoming(Frame, St) of
        St1 -> {noreply, St1}
    catch Class:Reason ->
            %% a frame that does not decode: the bridge is broken, as erts takes
            %% a connection that sends one; it goes and the supervisor starts anew
            logger:error("pyssl: invalid frame from the embedded bridge (~tp:~tp), "
                         "closing it", [Class, Reason]),
            {stop, ended(St, {bad_frame, Reason}), St}
    end;
handle_info({'DOWN', Mon, process, _, Reason}, #{monitors := M} = St) ->
    %% a process of this node the bridge monitors (MONITOR_P) exited
    case maps:take(Mon, M) of
        {{Watcher, Target, Ref}, M1} ->
            command(St, {?MONITOR_P_EXIT, Target, Watcher, Ref, Reason}),
            {noreply, St#{monitors := M1, by_ref := maps:remove(Ref, maps:get(by_ref, St))}};
        error ->
            {noreply, St}
    end;
handle_info({Port, {exit_status, Status}}, #{port := Port} = St) ->
    {stop, ended(St, {bridge_exited, Status}), St#{port := closed}};
handle_info({'EXIT', Port, Reason}, #{port := Port} = St) ->
    {stop, ended(St, {bridge_port_closed, Reason}), St#{port := closed}};
handle_info(_Msg, St) ->
    {noreply, St}.

%% The exit reason when the bridge is gone: see ?MIN_UP.
ended(#{started := Started}, Why) ->
    persistent_term:put(?ERROR, Why),
    case erlang:monotonic_time(millisecond) - Started >= ?MIN_UP of
        true -> Why;
        false -> {shutdown, Why}
    end.

%% The bridge is gone (or going): its processes are, for those watching them,
%% and its active sockets are closed for their owners (see pyssl_monitor).
terminate(_Reason, #{node := Node, port := Port, watched := W}) ->
    _ = persistent_term:erase(?CURRENT),
    _ = Port =/= closed andalso (catch erlang:port_close(Port)),
    maps:foreach(fun(Ref, {Watcher, Target}) ->
                         Watcher ! {'DOWN', Ref, process, Target, noconnection}
                 end, W),
    pyssl_monitor:bridge_down(Node),
    ok.

%%% Starting the bridge ----------------------------------------------------------

start_bridge() ->
    case executable() of
        {ok, Exe, Args} ->
            try open_port({spawn_executable, Exe},
                          [{args, Args}, {packet, 4}, binary, exit_status, use_stdio]) of
                Port -> await_ready(Port, Exe)
            catch error:Why ->
                    {error, {open_port, Exe, Why}}
            end;
        {error, _} = E ->
            E
    end.

%% `bridge_command': a string (the executable) or `[Exe | Args]'; default
%% `pyssl-bridge' on the PATH. `--port-mode' is added unless given.
executable() ->
    Command = case application:get_env(pyssl, bridge_command) of
                  {ok, [C | _] = Cmd} when is_list(C) -> Cmd;
                  {ok, [I | _] = Str} when is_integer(I) -> [Str];
                  {ok, Bad} -> {bad, Bad};
                  undefined -> ["pyssl-bridge"]
              end,
    case Command of
        {bad, B} ->
            {error, {bad_bridge_command, B}};
        [Exe0 | Args0] when is_list(Exe0) ->
            Args = case lists:member("--port-mode", Args0) of
                       true -> Args0;
                       false -> Args0 ++ ["--port-mode"]
                   end,
            case find(Exe0) of
                false -> {error, {no_executable, Exe0}};
                Found -> {ok, Found, Args}
            end
    end.

find(Exe) ->
    try
        case lists:member($/, Exe) of
            true -> filelib:is_regular(Exe) andalso Exe;
            false -> os:find_executable(Exe)
        end
    catch _:_ -> false
    end.

await_ready(Port, Exe) ->
    receive
        {Port, {data, Bin}} ->
            case catch binary_to_term(Bin) of
                {pyssl_port_ready, Node, OsPid} when is_atom(Node), is_integer(OsPid) ->
                    {ok, #{port => Port, node => Node, os_pid => OsPid, exe => Exe,
                           started => erlang:monotonic_time(millisecond),
                           monitors => #{}, by_ref => #{}, watched => #{}}};
                Other ->
                    catch erlang:port_close(Port),
                    {error, {bad_ready_frame, Exe, Other}}
            end;
        {Port, {exit_status, Status}} ->
            {error, {exit_status, Exe, Status}};
        {'EXIT', Port, Why} ->
            {error, {port_closed, Exe, Why}}
    after ?READY_TIMEOUT ->
            catch erlang:port_close(Port),
            {error, {not_ready, Exe}}
    end.

%%% Frames -----------------------------------------------------------------------

frame(Control, Msg) ->
    [112, term_to_binary(Control), term_to_binary(Msg)].

command(#{port := Port}, Control) ->
    catch erlang:port_command(Port, [112, term_to_binary(Control)]),
    ok.

target({Name, _Node}) -> Name;
target(Pid) -> Pid.

%% One frame from the bridge: what erts does with a signal from a connection.
incoming(<<>>, St) ->
    St;                                            % a tick
incoming(<<112, Body/binary>>, St) ->
    {Control, Used} = binary_to_term(Body, [used]),
    Rest = binary_part(Body, Used, byte_size(Body) - Used),
    signal(Control, Rest, St);
incoming(Other, _St) ->
    erlang:error({not_a_distribution_frame, binary_part(Other, 0, min(16, byte_size(Other)))}).

signal({?SEND, _, To}, Msg, St) ->
    deliver(To, Msg, St);
signal({?SEND_SENDER, _From, To}, Msg, St) ->
    deliver(To, Msg, St);
signal({?REG_SEND, _From, _, Name}, Msg, St) ->
    deliver(Name, Msg, St);
signal({?ALIAS_SEND, _From, Alias}, Msg, St) ->
    deliver(Alias, Msg, St);
signal({?MONITOR_P, Watcher, Target, Ref}, _, #{monitors := M, by_ref := B} = St) ->
    case is_pid(Target) orelse is_atom(Target) of
        true ->
            Mon = erlang:monitor(process, Target),
            St#{monitors := M#{Mon => {Watcher, Target, Ref}}, by_ref := B#{Ref => Mon}};
        false ->
            command(St, {?MONITOR_P_EXIT, Target, Watcher, Ref, noproc}),
            St
    end;
signal({?DEMONITOR_P, _Watcher, _Target, Ref}, _, #{monitors := M, by_ref := B} = St) ->
    case maps:take(Ref, B) of
        {Mon, B1} ->
            erlang:demonitor(Mon, [flush]),
            St#{monitors := maps:remove(Mon, M), by_ref := B1};
        error ->
            St
    end;
signal({?MONITOR_P_EXIT, Target, Watcher, Ref, Reason}, _, #{watched := W} = St) ->
    %% a bridge process a process here watches (monitor/1) exited
    case maps:take(Ref, W) of
        {{Watcher, Named}, W1} ->
            Watcher ! {'DOWN', Ref, process, case Named of
                                                 {_, _} -> Named;
                                                 _ -> Target
                                             end, Reason},
            St#{watched := W1};
        _ ->
            St
    end;
signal({?LINK, From, To}, _, St) ->
    %% links to processes here are not offered (the service does not link): the
    %% bridge's link fails as one to a process that does not exist
    command(St, {?EXIT, To, From, noproc}),
    St;
signal(_Control, _, St) ->
    St.

%% A '$gen_call' the bridge makes gets a local proxy as its From (see the
%% moduledoc); anything else goes as it is.
deliver(To, <<131, _/binary>> = Bin, St) ->
    Msg = binary_to_term(Bin),
    %% to a pid of another node too (a socket handed to a process there): as
    %% erts would route it, connecting if need be; an unregistered name is
    %% dropped as a REG_SEND to one is
    _ = (catch erlang:send(To, proxied(To, Msg, St))),
    St;
deliver(_To, _, St) ->
    St.

proxied(To, {'$gen_call', {From, Tag}, Req}, #{node := Node, port := Port})
  when is_pid(From), node(From) =:= Node ->
    Proxy = spawn(fun() -> proxy(To, From, Port) end),
    {'$gen_call', {Proxy, Tag}, group_leader_here(Req, Node)};
proxied(_To, Msg, _St) ->
    Msg.

%% rex runs the call with the group leader given: a bridge pid is no leader here
group_leader_here({call, M, F, A, GL}, Node) when is_pid(GL), node(GL) =:= Node ->
    {call, M, F, A, group_leader()};
group_leader_here(Req, _Node) ->
    Req.

%% Waits for the one reply and passes it to the bridge; ends without one when
%% the callee does.
proxy(Callee, From, Port) ->
    Mon = erlang:monitor(process, Callee),
    receive
        {'DOWN', Mon, process, _, _} ->
            ok;
        Reply ->
            catch erlang:port_command(Port, frame({?SEND, '', From}, Reply))
    end.
