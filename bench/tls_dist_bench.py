"""TLS distribution benchmark: what ``inet_tls_dist`` costs, for the bridge and for Erlang.

Run: ``python -m bench.tls_dist_bench [--rounds N] [--mib M] [--repeat R]``.

Four pairs, each driven by an Erlang node: the bridge over plain TCP and over TLS
(``bridge.tlsdist``), and two Erlang nodes over plain TCP and over ``-proto_dist
inet_tls`` (TLS 1.2, as OTP defaults to for distribution; RSA-2048 certificates).
For each: the first connection (``net_adm:ping``: TCP, TLS and distribution
handshakes), the ``rpc:call`` round trip (small term, best of ``--repeat``) and a
``--mib`` MiB binary echoed by rpc (MiB/s counting both ways, best of ``--repeat``).
The figures in docs/operations.md come from here.
"""
from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))

from bridge.tlsdist import TLSCarrier  # noqa: E402
from bridgenode import BridgeThread  # noqa: E402
from distpki import DistPKI, tls_erl  # noqa: E402
from erlnode import ErlNode  # noqa: E402


def measure(drv: ErlNode, peer: str, mod: str, fun: str, wrap: str, rounds: int, mib: int,
            repeat: int) -> tuple[float, float, float]:
    connect_us = drv.eval(f"element(1, timer:tc(fun() -> pong = net_adm:ping('{peer}') end))")
    call = f"rpc:call('{peer}', {mod}, {fun}, [{wrap}])"
    rt = min(drv.eval(f"(fun() -> X = x, X = {call}, element(1, timer:tc(fun() -> "
                      f"[X = {call} || _ <- lists:seq(1, {rounds})] end)) / {rounds} end)()",
                      timeout=300)
             for _ in range(repeat))
    big = min(drv.eval(f"(fun() -> X = crypto:strong_rand_bytes({mib} bsl 20), "
                       f"element(1, timer:tc(fun() -> X = {call} end)) end)()",
                       timeout=300)
              for _ in range(repeat))
    return connect_us / 1000, rt, 2 * mib / (big / 1e6)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=2000)
    p.add_argument("--mib", type=int, default=16)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    cookie = "T" + secrets.token_hex(8)
    tag = secrets.token_hex(3)
    pki = DistPKI(Path(tempfile.mkdtemp(prefix="tlsdist_bench_")))
    opt = pki.optfile("bench", pki.node)
    rows = []
    for kind in ("tcp", "tls"):
        carrier = TLSCarrier(pki.options()) if kind == "tls" else None
        bridge = BridgeThread(f"tdb_bridge_{kind}_{tag}@127.0.0.1", cookie, carrier=carrier)

        def node(role):
            name = f"tdb_{role}_{kind}_{tag}@127.0.0.1"
            return tls_erl(name, cookie, opt) if kind == "tls" else ErlNode(name, cookie)
        drv = peer = None
        try:
            drv, peer = node("drv"), node("peer")
            rows.append((f"bridge, {kind}", measure(drv, bridge.name, "pyssl_bridge", "echo", "X",
                                                    args.rounds, args.mib, args.repeat)))
            rows.append((f"erlang, {kind}", measure(drv, peer.name, "erlang", "hd", "[X]",
                                                    args.rounds, args.mib, args.repeat)))
        finally:
            for n in (drv, peer):
                if n is not None:
                    n.stop()
            bridge.stop()
    print(f"{'pair':<14} {'connect ms':>10} {'rpc us':>8} {'echo MiB/s':>11}")
    for label, (conn, rt, mibs) in rows:
        print(f"{label:<14} {conn:>10.1f} {rt:>8.0f} {mibs:>11.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
