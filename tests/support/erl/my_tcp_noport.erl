%% @doc my_tcp without port/1 and controlling_process/2: a user's transport that
%% lacks functions ssl calls (the cb_info error paths of tests/integration/test_cbinfo.py).
-module(my_tcp_noport).

-export([connect/4, listen/2, accept/2, send/2, recv/2, recv/3, setopts/2, getopts/2,
         close/1, shutdown/2, peername/1, sockname/1]).

connect(Host, Port, Opts, Timeout) -> my_tcp:connect(Host, Port, Opts, Timeout).
listen(Port, Opts) -> my_tcp:listen(Port, Opts).
accept(L, Timeout) -> my_tcp:accept(L, Timeout).
send(S, Data) -> my_tcp:send(S, Data).
recv(S, Len) -> my_tcp:recv(S, Len).
recv(S, Len, Timeout) -> my_tcp:recv(S, Len, Timeout).
setopts(S, Opts) -> my_tcp:setopts(S, Opts).
getopts(S, Names) -> my_tcp:getopts(S, Names).
close(S) -> my_tcp:close(S).
shutdown(S, How) -> my_tcp:shutdown(S, How).
peername(S) -> my_tcp:peername(S).
sockname(S) -> my_tcp:sockname(S).
