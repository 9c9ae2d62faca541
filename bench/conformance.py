"""Differential conformance run: every scenario of ``pyssl_conformance`` with
the BEAM's ``ssl`` and with ``pyssl`` (through a bridge started here).

    python -m bench.conformance                 # ssl vs pyssl (starts a bridge)
    python -m bench.conformance --self-check    # ssl vs ssl, no bridge
    python -m bench.conformance --bridge NODE   # use a bridge that is running
    python -m bench.conformance --area packet   # one area only

Prints the table and the summary line
``N scenarios, M identical, K known differences, F unexpected``; the exit
status is 0 when nothing unexpected differs.
"""
from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EBIN = ROOT / "_build" / "default" / "lib" / "pyssl" / "ebin"


def start_bridge(name: str, cookie: str) -> subprocess.Popen:
    exe = Path(sys.executable).parent / "pyssl-bridge"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "bridge"]
    proc = subprocess.Popen(cmd + ["--name", name, "--cookie", cookie],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 30
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if "ready" in line:
            return proc
    proc.kill()
    raise SystemExit(f"bridge {name} did not become ready")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--self-check", action="store_true", help="ssl vs ssl, no bridge")
    ap.add_argument("--bridge", help="node name of a running bridge")
    ap.add_argument("--cookie", help="cookie of that bridge")
    ap.add_argument("--area", help="run one area only")
    args = ap.parse_args(argv)

    subprocess.run(["rebar3", "compile"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["epmd", "-daemon"], check=False)
    bridge = None
    erl_args = []
    cookie = args.cookie
    if args.self_check:
        erl_args.append("self_check")
    else:
        node = args.bridge
        if node is None:
            cookie = secrets.token_hex(10)
            node = f"pyssl_conf{os.getpid()}@127.0.0.1"
            bridge = start_bridge(node, cookie)
        erl_args += ["bridge", node]
    if args.area:
        erl_args += ["area", args.area]
    cmd = ["erl", "-noshell", "-name", f"conformance{os.getpid()}@127.0.0.1",
           "-pa", str(EBIN)]
    if cookie:
        cmd += ["-setcookie", cookie]
    cmd += ["-run", "pyssl_conformance", "main"] + erl_args
    try:
        return subprocess.run(cmd, cwd=ROOT).returncode
    finally:
        if bridge is not None:
            bridge.terminate()
            try:
                bridge.wait(10)
            except subprocess.TimeoutExpired:
                bridge.kill()


if __name__ == "__main__":
    sys.exit(main())
