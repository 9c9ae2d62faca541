"""Differential conformance run: every scenario of ``pyssl_conformance`` with
the BEAM's ``ssl`` and with ``pyssl`` (through a bridge started here).

    python -m bench.conformance                 # ssl vs pyssl (starts a bridge)
    python -m bench.conformance --self-check    # ssl vs ssl, no bridge
    python -m bench.conformance --bridge NODE   # use a bridge that is running
    python -m bench.conformance --area packet   # one area only

Prints the table and the summary line
``N scenarios, M identical, K known differences, F unexpected``, and writes the
run as JUnit XML and as a self-contained HTML page (``pyssl_conformance_report``):
``--junit PATH`` / ``--html PATH``, else ``$PYSSL_CONFORMANCE_JUNIT`` /
``$PYSSL_CONFORMANCE_HTML``, else ``_build/conformance/conformance.{xml,html}``
(``--no-reports``: neither). The exit status is 0 when nothing unexpected
differs, 2 when a report cannot be written.
"""
from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# the shim (`pyssl`) and the runner with its scenarios (`pyssl_conformance`), two
# applications of the one rebar3 project
EBINS = [ROOT / "_build" / "default" / "lib" / app / "ebin" for app in ("pyssl", "pyssl_conformance")]
# where the reports go unless told otherwise (_build is git-ignored)
REPORT_DIR = ROOT / "_build" / "conformance"
JUNIT_ENV, HTML_ENV = "PYSSL_CONFORMANCE_JUNIT", "PYSSL_CONFORMANCE_HTML"


def report_paths(args, environ=os.environ) -> list[tuple[str, Path]]:
    """``[("junit", Path), ("html", Path)]``: the flag, else the environment, else
    the default under _build/conformance; none with ``--no-reports``."""
    if args.no_reports:
        return []
    junit = args.junit or environ.get(JUNIT_ENV) or REPORT_DIR / "conformance.xml"
    html = args.html or environ.get(HTML_ENV) or REPORT_DIR / "conformance.html"
    return [("junit", Path(junit).resolve()), ("html", Path(html).resolve())]


def start_bridge(name: str, cookie: str, log_path: Path) -> subprocess.Popen:
    """Start a bridge whose output goes to ``log_path`` (a pipe nobody reads after
    ``ready`` would fill up and stall the bridge's logging)."""
    exe = Path(sys.executable).parent / "pyssl-bridge"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "bridge"]
    log = open(log_path, "w")
    # the cookie through the environment: a --cookie argument is visible in ps
    proc = subprocess.Popen(cmd + ["--name", name], env={**os.environ, "PYSSL_BRIDGE_COOKIE": cookie},
                            stdout=log, stderr=subprocess.STDOUT, text=True)
    log.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        if "ready" in log_path.read_text():
            return proc
        time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"bridge {name} did not become ready; its output is in {log_path}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--self-check", action="store_true", help="ssl vs ssl, no bridge")
    ap.add_argument("--bridge", help="node name of a running bridge")
    ap.add_argument("--cookie", help="cookie of that bridge")
    ap.add_argument("--area", help="run one area only")
    ap.add_argument("--junit", metavar="PATH", help=f"JUnit XML report (default ${JUNIT_ENV} "
                    "or _build/conformance/conformance.xml)")
    ap.add_argument("--html", metavar="PATH", help=f"HTML report (default ${HTML_ENV} "
                    "or _build/conformance/conformance.html)")
    ap.add_argument("--no-reports", action="store_true", help="write neither report")
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
            bridge_log = Path(tempfile.gettempdir()) / f"pyssl_conformance_bridge_{os.getpid()}.log"
            bridge = start_bridge(node, cookie, bridge_log)
            print(f"bridge {node}: output in {bridge_log}", flush=True)
        erl_args += ["bridge", node]
    if args.area:
        erl_args += ["area", args.area]
    for kind, path in report_paths(args):
        erl_args += [kind, str(path)]
    cmd = ["erl", "-noshell", "-name", f"conformance{os.getpid()}@127.0.0.1"]
    for ebin in EBINS:
        cmd += ["-pa", str(ebin)]
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
