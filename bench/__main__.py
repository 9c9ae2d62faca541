"""``make bench``: every benchmark, each printing ratios against Erlang in the same run."""
import runpy
import sys

for mod in ("bench.codec_bench", "bench.dist_bench", "bench.ssl_bench", "bench.engine_bench"):
    print(f"== {mod}", flush=True)
    try:
        runpy.run_module(mod, run_name="__main__")
    except SystemExit as exc:
        if exc.code not in (0, None):
            sys.exit(exc.code)
