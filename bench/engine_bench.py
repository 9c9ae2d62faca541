"""The price of the second TLS engine: tlslite-ng (SRP, NPN) next to OpenSSL, sans-IO.

Run: ``python -m bench.engine_bench [--seconds S] [--mib N]``.

A client and a server engine of ``bridge.tls.engines`` in one process, bytes moved
between them in memory (no sockets, no Erlang): what the bridge's CPU pays per
handshake and per MiB for a connection on each engine, both ends counted (halve for
one end). TLS 1.2 throughout (SRP and NPN exist only there):

* ``openssl ecdhe-rsa``: the default engine, ECDHE-RSA-AES128-GCM-SHA256, RSA-2048;
* ``tlslite srp``: SRP (srp_1024, TLS_SRP_SHA_WITH_AES_128_CBC_SHA), as the SRP scenarios;
* ``tlslite npn``: NPN over ECDHE-RSA (RSA-2048; tlslite-ng picks its AES-GCM suite).

Bulk: 16 KiB writes one way, read as they come. Results: ``bench/results/engine_bench.json``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))

from bridge.tls.config import TLSConfig  # noqa: E402
from bridge.tls.engines import make_engine  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def _srp_hook(user):
    salt = b"s" * 16
    return 1024, salt, hashlib.sha1(salt + hashlib.sha1(user + b":secret").digest()).digest()


def configs(pki):
    cert = dict(cert_chain=pki.server.chain_der, key_der=pki.server.key_der)
    return {
        "openssl ecdhe-rsa": (
            TLSConfig(role="client", versions=("tlsv1.2",), cipher_list="ECDHE-RSA-AES128-GCM-SHA256"),
            TLSConfig(role="server", versions=("tlsv1.2",), cipher_list="ECDHE-RSA-AES128-GCM-SHA256", **cert)),
        "tlslite srp": (
            TLSConfig(role="client", versions=("tlsv1.2",), srp_identity=(b"alice", b"secret"), suites=(0xC01D,)),
            TLSConfig(role="server", versions=("tlsv1.2",), srp_server=True, srp_hook=_srp_hook,
                      suites=(0xC01D,))),
        "tlslite npn": (
            TLSConfig(role="client", versions=("tlsv1.2",), npn_selector=("client", [b"h2"], None)),
            TLSConfig(role="server", versions=("tlsv1.2",), npn_advertised=[b"h2"], **cert)),
    }


def handshake(ccfg, scfg):
    c, s = make_engine(ccfg), make_engine(scfg)
    for _ in range(20):
        dc = c.do_handshake()
        out = c.ciphertext_to_send()
        if out:
            s.receive_ciphertext(out)
        ds = s.do_handshake()
        out = s.ciphertext_to_send()
        if out:
            c.receive_ciphertext(out)
        if dc and ds:
            return c, s
    raise RuntimeError("handshake did not finish")


def bench_handshakes(ccfg, scfg, seconds):
    n, t0 = 0, time.process_time()
    while time.process_time() - t0 < seconds:
        handshake(ccfg, scfg)
        n += 1
    return n / (time.process_time() - t0)


def bench_bulk(ccfg, scfg, mib):
    c, s = handshake(ccfg, scfg)
    chunk = os.urandom(16384)
    total = mib * 1024 * 1024
    got = 0
    t0 = time.process_time()
    for _ in range(total // len(chunk)):
        c.write_plaintext(chunk)
        s.receive_ciphertext(c.ciphertext_to_send())
        got += len(s.read_plaintext())
    dt = time.process_time() - t0
    assert got == total, (got, total)
    return total / dt / (1024 * 1024)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="CPU seconds per handshake figure")
    ap.add_argument("--mib", type=int, default=16, help="MiB per bulk figure (tlslite: a quarter)")
    args = ap.parse_args(argv)
    import tempfile
    from certgen import PKI
    pki = PKI(Path(tempfile.mkdtemp(prefix="engine_bench_")))
    results = {}
    print(f"{'engine':22} {'handshakes/s':>13} {'MiB/s':>8}   (both ends, CPU time)")
    for name, (ccfg, scfg) in configs(pki).items():
        hs = bench_handshakes(ccfg, scfg, args.seconds)
        mib = args.mib if name.startswith("openssl") else max(1, args.mib // 4)
        bw = bench_bulk(ccfg, scfg, mib)
        results[name] = {"handshakes_per_s": round(hs, 1), "mib_per_s": round(bw, 2)}
        print(f"{name:22} {hs:13.1f} {bw:8.2f}", flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "engine_bench.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
