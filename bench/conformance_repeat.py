"""Run the differential conformance suite many times to find scenarios whose
result depends on timing.

    python -m bench.conformance_repeat                  # 20 x ssl-vs-pyssl, 20 x self-check
    python -m bench.conformance_repeat -n 5 --mode self-check
    python -m bench.conformance_repeat --area close --mode pyssl
    python -m bench.conformance_repeat --bridge pyssl@127.0.0.1 --cookie C

Each run is one ``python -m bench.conformance`` (a fresh Erlang node, and for
ssl-vs-pyssl a fresh bridge unless ``--bridge`` names a running one); the
two kinds alternate. Every run's full output goes to its own file in a
temporary folder (printed first, kept). One line per run, then the count of
unexpected differences per scenario name and the total. For the self-check any
difference counts (ssl against itself must be identical, known differences
included); for ssl-vs-pyssl only the ``different`` verdicts do. A run that
ends without a summary line counts as one unexpected difference named
``<run failed>``. Exit status 1 when any run had an unexpected difference.
"""
from __future__ import annotations

import argparse
import collections
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SUMMARY = re.compile(r"^(\d+) scenarios, (\d+) identical, (\d+) known differences, (\d+) unexpected$")
# pyssl_conformance:print/3: "~-48s ~-12s ~-16s ~6b ~6b ms"
ROW = re.compile(r"^(\S+)\s+(\S+)\s+(identical|known_difference|different)\s+(\d+)\s+(\d+) ms$")


def parse(text: str, self_check: bool) -> tuple[str | None, list[str]]:
    """The summary line and the names of the scenarios that count as unexpected."""
    summary = None
    bad = []
    for line in text.splitlines():
        if SUMMARY.match(line):
            summary = line
            continue
        m = ROW.match(line)
        if m is None:
            continue
        verdict = m.group(3)
        if verdict == "different" or (self_check and verdict == "known_difference"):
            bad.append(m.group(1))
    return summary, bad


def run_once(mode: str, index: int, out_dir: Path, extra: list[str]) -> tuple[str | None, list[str], float, Path]:
    log = out_dir / f"run{index:02d}-{mode}.log"
    cmd = [sys.executable, "-m", "bench.conformance"] + extra
    if mode == "self-check":
        cmd.append("--self-check")
    t0 = time.monotonic()
    with open(log, "w") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        rc = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT).returncode
    elapsed = time.monotonic() - t0
    summary, bad = parse(log.read_text(errors="replace"), mode == "self-check")
    if summary is None:
        bad.append("<run failed>")
        summary = f"no summary line (exit status {rc})"
    return summary, bad, elapsed, log


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--runs", type=int, default=20, help="runs of each kind (default 20)")
    ap.add_argument("--mode", choices=["both", "pyssl", "self-check"], default="both")
    ap.add_argument("--area", help="run one area only")
    ap.add_argument("--bridge", help="node name of a running bridge (ssl-vs-pyssl runs)")
    ap.add_argument("--cookie", help="cookie of that bridge")
    ap.add_argument("--out", help="folder for the run logs (default: a new temporary folder)")
    args = ap.parse_args(argv)

    modes = {"both": ["pyssl", "self-check"], "pyssl": ["pyssl"], "self-check": ["self-check"]}[args.mode]
    out_dir = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="pyssl_conformance_repeat_"))
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"logs in {out_dir}", flush=True)
    extra = []
    if args.area:
        extra += ["--area", args.area]
    pyssl_extra = []
    if args.bridge:
        pyssl_extra += ["--bridge", args.bridge]
    if args.cookie:
        pyssl_extra += ["--cookie", args.cookie]

    counts: dict[str, collections.Counter] = {m: collections.Counter() for m in modes}
    failed_runs = {m: 0 for m in modes}
    for i in range(1, args.runs + 1):
        for mode in modes:
            summary, bad, elapsed, log = run_once(mode, i, out_dir,
                                                  extra + (pyssl_extra if mode == "pyssl" else []))
            counts[mode].update(bad)
            failed_runs[mode] += bool(bad)
            tail = f"  unexpected: {', '.join(bad)}" if bad else ""
            print(f"run {i:2d}/{args.runs} {mode:<10} {summary}  ({elapsed:.0f} s, {log.name}){tail}",
                  flush=True)

    total = 0
    print()
    for mode in modes:
        n = sum(counts[mode].values())
        total += n
        print(f"{mode}: {failed_runs[mode]} of {args.runs} runs with unexpected differences, {n} in all")
        for name, c in sorted(counts[mode].items(), key=lambda kv: (-kv[1], kv[0])):
            print(f"  {c:3d}  {name}")
    print(f"total unexpected differences: {total}  (logs in {out_dir})")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
