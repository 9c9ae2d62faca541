"""Built-in processes every Erlang node has, in the measure the bridge needs them.

* ``net_kernel`` answers ``is_auth`` so ``net_adm:ping/1`` gives ``pong``;
* ``rex`` serves ``gen_server:call({rex, Bridge}, {call, M, F, A, GL})``;
* SPAWN_REQUEST of ``erpc:execute_call/4`` and ``erpc:execute_cast/3``, which is how
  ``rpc:call/4`` and ``erpc:call`` reach a node in OTP 23+, is served by running
  the registered Python module handler and exiting with erpc's result tuple;
* a group leader that accepts io requests (output is logged, not lost silently);
* the diagnostics module ``pyssl_bridge``: ``echo/1`` and ``info/0``.
"""
from __future__ import annotations

import asyncio
import inspect
import logging

from bridge.etf.codec import EncodeBudgetExceeded, ETFEncodeError, encode_into
from bridge.etf.types import Atom, Pid

from .protocol import EXIT, MONITOR_P_EXIT, SPAWN_REPLY

log = logging.getLogger("bridge.node")

A = Atom
GEN_CALL = A("$gen_call")
ERPC = A("erpc")
BADRPC = A("badrpc")
EXIT_ATOM = A("EXIT")
UNDEF = A("undef")
RETURN = A("return")
ERROR = A("error")
THROW = A("throw")
EXIT_CLS = A("exit")
NORMAL = A("normal")
EXECUTE_CALL = A("execute_call")
EXECUTE_CAST = A("execute_cast")
LINK_OPT = A("link")
MONITOR_OPT = A("monitor")
ECHO = A("echo")
INFO = A("info")
VERSION = "0.1.0"

# Result types that are certainly not awaitable: checked before inspect.isawaitable,
# which is slow for plain values (it asks the Awaitable ABC).
_PLAIN = frozenset((tuple, list, dict, bytes, str, int, float, bool, type(None), Atom, Pid))


class RpcException(Exception):
    """Raise from an rpc handler to make the call fail as ``Class:Reason`` in Erlang."""

    def __init__(self, cls: str, reason):
        super().__init__(reason)
        self.cls = cls
        self.reason = reason


class _Sink:
    def handle_message(self, msg) -> None:
        log.debug("system process got %r", msg)

    def handle_exit(self, pid, reason) -> None:
        pass


class GroupLeader:
    """Answers io protocol requests so remote code run for us never blocks on output."""

    def __init__(self, node):
        self.node = node

    def handle_message(self, msg) -> None:
        if isinstance(msg, tuple) and len(msg) == 4 and msg[0] == A("io_request"):
            _, frm, reply_as, request = msg
            log.info("io from remote code: %r", request)
            if isinstance(frm, Pid):
                self.node.send(frm, (A("io_reply"), reply_as, A("ok")))

    def handle_exit(self, pid, reason) -> None:
        pass


class NetKernel:
    def __init__(self, node):
        self.node = node

    def handle_message(self, msg) -> None:
        if isinstance(msg, tuple) and len(msg) == 3 and msg[0] is GEN_CALL:
            (pid, tag), request = msg[1], msg[2]
            if isinstance(request, tuple) and request and request[0] == A("is_auth"):
                self.node.reply(pid, tag, A("yes"))
            else:
                log.debug("net_kernel: unsupported call %r", request)

    def handle_exit(self, pid, reason) -> None:
        pass


def _failure(exc, module, function, args):
    if isinstance(exc, RpcException):
        where = args if exc.reason is UNDEF else len(args)
        return (exc.cls, exc.reason, [(module, function, where, [])])
    cls = getattr(exc, "cls", None)
    reason = getattr(exc, "reason", None)
    if cls is not None and reason is not None:   # a handler's own error class
        return (cls, reason, [(module, function, len(args), [])])
    log.error("rpc %s:%s failed", module.name, function.name, exc_info=exc)
    return ("error", (A("pyssl_internal_error"), str(exc)), [(module, function, len(args), [])])


def start_rpc(node, module, function, args, caller):
    """Start M:F(A) as an rpc on this node. Returns the outcome at once when the
    handler is synchronous -- ``('return', V)`` or ``(cls, reason, stack)``, always a
    tuple -- or an awaitable of that outcome when the handler returned one."""
    if not isinstance(module, Atom) or not isinstance(function, Atom) or not isinstance(args, list):
        return ("error", A("badarg"), [])
    handler = node.rpc_modules.get(module.name)
    if handler is None:
        return ("error", UNDEF, [(module, function, args, [])])
    try:
        result = handler(function, args, caller)
    except Exception as exc:
        return _failure(exc, module, function, args)
    if type(result) not in _PLAIN and inspect.isawaitable(result):
        return _finish(result, module, function, args)
    return _returned(result, module, function, args)


async def _finish(awaitable, module, function, args):
    try:
        result = await awaitable
    except Exception as exc:
        return _failure(exc, module, function, args)
    return _returned(result, module, function, args)


def _returned(result, module, function, args):
    """``('return', result)`` if the result has an external form; otherwise (a bug
    in a handler) the call fails in the caller instead of never being answered."""
    try:
        # within the loop's budget only: a bigger result is encoded on a worker
        # thread when it is sent (Connection.send_control), not checked here first
        encode_into(result, [], _CHECK_BUDGET)
    except EncodeBudgetExceeded:
        pass
    except ETFEncodeError as exc:
        return _failure(exc, module, function, args)
    return ("return", result)


_CHECK_BUDGET = 1 << 14


async def run_rpc(node, module, function, args, caller):
    """Run M:F(A) as an rpc on this node: ``('return', V)`` or ``(cls, reason, stack)``."""
    res = start_rpc(node, module, function, args, caller)
    if type(res) is not tuple:
        res = await res
    return res


def _rex_reply(res):
    if res[0] in ("return", "throw"):
        return res[1]
    if res[0] == "exit":
        return (BADRPC, (EXIT_ATOM, res[1]))
    return (BADRPC, (EXIT_ATOM, (res[1], res[2])))


def _erpc_reason(ref, res):
    if res[0] == "return":
        return (ref, RETURN, res[1])
    if res[0] == "throw":
        return (ref, THROW, res[1])
    if res[0] == "exit":
        return (ref, EXIT_CLS, res[1])
    return (ref, ERROR, res[1], res[2])


class Rex:
    def __init__(self, node):
        self.node = node

    def handle_message(self, msg) -> None:
        if not (isinstance(msg, tuple) and len(msg) == 3 and msg[0] is GEN_CALL):
            return
        from_, request = msg[1], msg[2]
        if not (isinstance(from_, tuple) and len(from_) == 2 and isinstance(from_[0], Pid)):
            return
        pid, tag = from_
        if (isinstance(request, tuple) and len(request) == 5
                and request[0] in (A("call"), A("block_call"))):
            _, m, f, a, _gl = request
            res = start_rpc(self.node, m, f, a, pid)
            if type(res) is not tuple:
                asyncio.get_running_loop().create_task(self._serve(pid, tag, res))
            else:
                self.node.reply(pid, tag, _rex_reply(res))
        else:
            self.node.reply(pid, tag, (BADRPC, (EXIT_ATOM, A("unsupported_request"))))

    async def _serve(self, pid, tag, pending):
        self.node.reply(pid, tag, _rex_reply(await pending))

    def handle_exit(self, pid, reason) -> None:
        pass


def spawn_request(node, conn, ctl, args) -> None:
    """SPAWN_REQUEST ``{29, ReqId, From, GroupLeader, {M, F, Arity}, Opts}`` + args."""
    try:
        _, req_id, frm, _gl, mfa, opts = ctl
        mod, fun, arity = mfa
    except (TypeError, ValueError):
        log.error("malformed spawn request %r", ctl)
        return
    opts = opts if isinstance(opts, list) else []
    link = LINK_OPT in opts
    monitor = MONITOR_OPT in opts
    if mod is ERPC and fun is EXECUTE_CALL and arity == 4 and isinstance(args, list) and len(args) == 4:
        kind = "call"
    elif mod is ERPC and fun is EXECUTE_CAST and arity == 3 and isinstance(args, list) and len(args) == 3:
        kind = "cast"
    else:
        conn.send_control((SPAWN_REPLY, req_id, frm, 0, A("notsup")))
        return
    flags = (1 if link else 0) | (2 if monitor else 0)
    if kind == "call":
        ref, m, f, a = args
        res = start_rpc(node, m, f, a, frm)
        if type(res) is tuple:
            # Answered at once (the common case): the "process" lives and dies within
            # this signal, so it needs no Process object. Reply, then its exit, in one
            # write batch: erpc monitors with the request id as reference.
            pid = node.make_pid()
            reason = _erpc_reason(ref, res)
            conn.send_control((SPAWN_REPLY, req_id, frm, flags, pid))
            if monitor:
                conn.send_control((MONITOR_P_EXIT, pid, frm, req_id, reason))
            if link:
                conn.send_control((EXIT, pid, frm, reason))
            return
    proc = node.spawn(_Sink())
    conn.send_control((SPAWN_REPLY, req_id, frm, flags, proc.pid))
    # the requester's monitor uses the request id as its reference
    if link:
        proc.links.add(frm)
    if monitor:
        proc.monitored_by[req_id] = (frm, None)

    def done(reason):
        # exit_process fires the link (EXIT) and monitor (MONITOR_P_EXIT) with
        # erpc's result tuple as the reason; a no-op if the process was killed
        # meanwhile (erpc abandoning a timed-out call sends exit(Pid, kill)).
        node.exit_process(proc, reason)

    if kind == "call":
        async def finish_call():
            done(_erpc_reason(ref, await res))
        asyncio.get_running_loop().create_task(finish_call())
    else:
        m, f, a = args
        res = start_rpc(node, m, f, a, frm)
        if type(res) is tuple:
            done(NORMAL)
            return

        async def finish_cast():
            await res
            done(NORMAL)
        asyncio.get_running_loop().create_task(finish_cast())


def _diagnostics(node):
    def handler(fun, args, caller):
        if fun is ECHO and len(args) == 1:
            return args[0]
        if fun is INFO and not args:
            return {
                A("version"): VERSION.encode(),
                A("node"): node.name,
                A("connected_nodes"): node.connected_nodes(),
                A("processes"): len(node.processes),
                A("connections"): len(node.connections),
                A("uptime_ms"): int((__import__("time").time() - node.started) * 1000),
                A("rpc_modules"): sorted(A(m) for m in node.rpc_modules),
            }
        raise RpcException("error", UNDEF)
    return handler


def install(node) -> None:
    node._system = node.spawn(_Sink())
    node._group_leader = node.spawn(GroupLeader(node))
    node.spawn(NetKernel(node), name="net_kernel")
    node.spawn(Rex(node), name="rex")
    node.register_rpc_module("pyssl_bridge", _diagnostics(node))
