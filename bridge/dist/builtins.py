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

from bridge.etf.types import Atom, Pid

from .protocol import EXIT, MONITOR_P_EXIT, SPAWN_REPLY

log = logging.getLogger("bridge.dist")

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
VERSION = "0.1.0"


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
                self.node.send(pid, (tag, A("yes")))
            else:
                log.debug("net_kernel: unsupported call %r", request)

    def handle_exit(self, pid, reason) -> None:
        pass


async def run_rpc(node, module, function, args, caller):
    """Run M:F(A) as an rpc on this node: ``('return', V)`` or ``(cls, reason, stack)``."""
    if not isinstance(module, Atom) or not isinstance(function, Atom) or not isinstance(args, list):
        return ("error", A("badarg"), [])
    handler = node.rpc_modules.get(module.name)
    if handler is None:
        return ("error", UNDEF, [(module, function, args, [])])
    try:
        result = handler(function, args, caller)
        if inspect.isawaitable(result):
            result = await result
        return ("return", result)
    except RpcException as exc:
        where = args if exc.reason is UNDEF else len(args)
        return (exc.cls, exc.reason, [(module, function, where, [])])
    except Exception as exc:  # a handler's own error class
        cls = getattr(exc, "cls", None)
        reason = getattr(exc, "reason", None)
        if cls is not None and reason is not None:
            return (cls, reason, [(module, function, len(args), [])])
        log.exception("rpc %s:%s failed", module.name, function.name)
        return ("error", (A("pyssl_internal_error"), str(exc)), [(module, function, len(args), [])])


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
            asyncio.get_running_loop().create_task(self._serve(pid, tag, m, f, a))
        else:
            self.node.send(pid, (tag, (BADRPC, (EXIT_ATOM, A("unsupported_request")))))

    async def _serve(self, pid, tag, m, f, a):
        res = await run_rpc(self.node, m, f, a, pid)
        if res[0] == "return":
            reply = res[1]
        elif res[0] == "throw":
            reply = res[1]
        elif res[0] == "exit":
            reply = (BADRPC, (EXIT_ATOM, res[1]))
        else:
            reply = (BADRPC, (EXIT_ATOM, (res[1], res[2])))
        self.node.send(pid, (tag, reply))

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
    link = A("link") in opts
    monitor = A("monitor") in opts
    if mod is ERPC and fun == A("execute_call") and arity == 4 and isinstance(args, list) and len(args) == 4:
        kind = "call"
    elif mod is ERPC and fun == A("execute_cast") and arity == 3 and isinstance(args, list) and len(args) == 3:
        kind = "cast"
    else:
        conn.send_control((SPAWN_REPLY, req_id, frm, 0, A("notsup")))
        return
    proc = node.spawn(_Sink())
    flags = (1 if link else 0) | (2 if monitor else 0)
    conn.send_control((SPAWN_REPLY, req_id, frm, flags, proc.pid))

    async def run():
        if kind == "call":
            ref, m, f, a = args
            res = await run_rpc(node, m, f, a, frm)
            if res[0] == "return":
                reason = (ref, RETURN, res[1])
            elif res[0] == "throw":
                reason = (ref, THROW, res[1])
            elif res[0] == "exit":
                reason = (ref, EXIT_CLS, res[1])
            else:
                reason = (ref, ERROR, res[1], res[2])
        else:
            m, f, a = args
            await run_rpc(node, m, f, a, frm)
            reason = NORMAL
        node.exit_process(proc, NORMAL)
        if monitor:
            node.send_control(frm.node, (MONITOR_P_EXIT, proc.pid, frm, req_id, reason))
        if link:
            node.send_control(frm.node, (EXIT, proc.pid, frm, reason))

    asyncio.get_running_loop().create_task(run())


def _diagnostics(node):
    def handler(fun, args, caller):
        if fun == A("echo") and len(args) == 1:
            return args[0]
        if fun == A("info") and not args:
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
