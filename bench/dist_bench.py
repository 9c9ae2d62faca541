"""Distribution benchmark: the bridge against a hidden Erlang node, in one run.

Run: ``python -m bench.dist_bench [--rounds N] [--messages M]``.

An Erlang node ``drv`` drives both measurements, once against the bridge and
once against a second Erlang node started with ``-hidden``:

* **rpc round trip**: ``rpc:call(Peer, M, F, [T])`` that returns ``T`` (the
  bridge's ``pyssl_bridge:echo/1``; ``erlang:hd([T])`` on the Erlang peer),
  ``T`` a small tuple, N times in a row; microseconds per call.
* **one-way throughput**: ``drv`` sends M messages ``{msg, I, <<64 bytes>>}`` to a
  registered counting process on the peer, then ``{done, self()}``; the peer
  answers ``{count, M}`` once everything has been handled. Messages per second.

Printed ratios: round trip ``bridge / erlang`` (target <= 1.5) and throughput
``bridge / erlang`` (target >= 0.5), each from the best of ``--repeat`` rounds.
The rounds alternate bridge and Erlang, so that load from other work on the
machine falls on both alike; the ratio of each pair is printed too (median and
range), as the steadier figure on a busy machine.
"""
from __future__ import annotations

import argparse
import secrets
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))

import asyncio  # noqa: E402
import threading  # noqa: E402

from bridge.node.node import Node  # noqa: E402
from bridge.etf.types import Atom  # noqa: E402
from erlnode import ErlNode  # noqa: E402

A = Atom


class Counter:
    """Bridge-side sink: counts messages, answers ``{done, From}`` with ``{count, N}``."""

    def __init__(self, node):
        self.node = node
        self.n = 0

    def handle_message(self, msg):
        if isinstance(msg, tuple) and len(msg) == 2 and msg[0] is A("done"):
            self.node.send(msg[1], (A("count"), self.n))
            self.n = 0
        else:
            self.n += 1


class Bridge:
    """The bridge node on its own event-loop thread, on uvloop when it is
    installed (as the ``pyssl-bridge`` command runs it)."""

    def __init__(self, name: str, cookie: str):
        self.name = name
        try:
            import uvloop
            self.loop, self.loop_kind = uvloop.new_event_loop(), "uvloop"
        except ImportError:
            self.loop, self.loop_kind = asyncio.new_event_loop(), "asyncio"
        self.node = Node(name, cookie)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.run(self.node.start())

    def run(self, coro, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn):
        async def wrapper():
            return fn()
        return self.run(wrapper())

    def stop(self):
        try:
            self.run(self.node.stop(), timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)


ERL_COUNTER = ("register(bench_sink, spawn(fun() -> (fun Loop(N) -> receive "
               "{done, From} -> From ! {count, N}, Loop(0); _ -> Loop(N + 1) end end)(0) end))")


_seq = iter(range(1, 1 << 30))


def rpc_us(drv: ErlNode, peer: str, mod: str, fun: str, arg_wrap: str, rounds: int) -> float:
    # ErlNode keeps bindings between evaluations: fresh variable names each time
    n = next(_seq)
    t, us = f"T{n}", f"Us{n}"
    expr = (f"begin {t} = {{req, 12345, <<\"payload\">>, [a, b]}}, "
            f"[{t} = rpc:call('{peer}', {mod}, {fun}, [{arg_wrap.replace('T', t)}]) "
            f"|| _ <- lists:seq(1, 50)], "
            f"{{{us}, _}} = timer:tc(fun() -> [{t} = rpc:call('{peer}', {mod}, {fun}, "
            f"[{arg_wrap.replace('T', t)}]) || _ <- lists:seq(1, {rounds})] end), {us} end")
    return drv.eval(expr, timeout=300) / rounds


def throughput(drv: ErlNode, peer: str, messages: int) -> float:
    n = next(_seq)
    d, b, us, c = f"Dst{n}", f"B{n}", f"Us{n}", f"C{n}"
    expr = (f"begin {d} = {{bench_sink, '{peer}'}}, {b} = binary:copy(<<7>>, 64), "
            f"{{{us}, {messages}}} = timer:tc(fun() -> "
            f"[{d} ! {{msg, I, {b}}} || I <- lists:seq(1, {messages})], {d} ! {{done, self()}}, "
            f"receive {{count, {c}}} -> {c} after 120000 -> timeout end end), {us} end")
    us = drv.eval(expr, timeout=300)
    return messages / (us / 1e6)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=2000)
    p.add_argument("--messages", type=int, default=50000)
    p.add_argument("--repeat", type=int, default=5, help="best of N alternating rounds")
    args = p.parse_args(argv)

    cookie = "B" + secrets.token_hex(8)
    tag = f"{secrets.token_hex(3)}"
    bridge = Bridge(f"bench_bridge_{tag}@127.0.0.1", cookie)
    drv = peer = None
    try:
        drv = ErlNode(f"bench_drv_{tag}@127.0.0.1", cookie)
        peer = ErlNode(f"bench_peer_{tag}@127.0.0.1", cookie, hidden=True)
        bridge.call(lambda: bridge.node.spawn(Counter(bridge.node), name="bench_sink"))
        peer.eval(ERL_COUNTER)
        for n in (bridge.name, peer.name):
            assert drv.eval(f"net_adm:ping('{n}')") is A("pong"), n

        rts_b, rts_e, tps_b, tps_e = [], [], [], []
        for _ in range(args.repeat):
            rts_b.append(rpc_us(drv, bridge.name, "pyssl_bridge", "echo", "T", args.rounds))
            rts_e.append(rpc_us(drv, peer.name, "erlang", "hd", "[T]", args.rounds))
        for _ in range(args.repeat):
            tps_b.append(throughput(drv, bridge.name, args.messages))
            tps_e.append(throughput(drv, peer.name, args.messages))
    finally:
        for n in (drv, peer):
            if n is not None:
                n.stop()
        bridge.stop()

    rt_b, rt_e, tp_b, tp_e = min(rts_b), min(rts_e), max(tps_b), max(tps_e)
    rt_pairs = sorted(b / e for b, e in zip(rts_b, rts_e))
    tp_pairs = sorted(b / e for b, e in zip(tps_b, tps_e))
    print(f"bridge event loop: {bridge.loop_kind}; {args.rounds} calls, {args.messages} messages, "
          f"best of {args.repeat}")
    print(f"rpc round trip      bridge {rt_b:8.1f} us   erlang(hidden) {rt_e:8.1f} us   "
          f"ratio {rt_b / rt_e:5.2f}x  (target <= 1.5x)")
    print(f"one-way throughput  bridge {tp_b:8.0f} msg/s  erlang(hidden) {tp_e:8.0f} msg/s  "
          f"ratio {tp_b / tp_e:5.2f}x  (target >= 0.5x)")
    print(f"per round: rpc ratio median {statistics.median(rt_pairs):.2f}x "
          f"({rt_pairs[0]:.2f}-{rt_pairs[-1]:.2f}), throughput ratio median "
          f"{statistics.median(tp_pairs):.2f}x ({tp_pairs[0]:.2f}-{tp_pairs[-1]:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
