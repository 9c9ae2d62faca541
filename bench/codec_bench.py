"""Decode/encode timings of bridge.etf against the pure-Python ``erlang-py`` package.

Run: ``python -m bench.codec_bench`` (needs the bench extra: ``pip install -e '.[bench]'``).
Two cases: a 40,000-element list of small integers, and a ``{ssl, Socket, Binary}``
message with a 1 KB binary (the shape the bridge sends for every TLS record it
delivers). Prints best-of-N microseconds per operation and the speed-up ratio
(erlang-py time / our time; > 1 means we are faster).
"""
from __future__ import annotations

import sys
import timeit

from bridge.etf import Atom, Reference, binary_to_term, term_to_binary

try:
    import erlang as erlpy
except ImportError:  # pragma: no cover - bench-only dependency
    erlpy = None


def _cases():
    node = Atom("pyssl@127.0.0.1")
    ref = Reference(node, 1700000000, (123456, 789012, 345678))
    payload = bytes(range(256)) * 4
    ints = [i % 256 for i in range(40_000)]
    ours = {
        "list of 40k small ints": ints,
        "{ssl, Socket, 1KB binary}": (Atom("ssl"), (Atom("sslsocket"), Atom("pyssl"), ref), payload),
    }
    theirs = {}
    if erlpy is not None:
        theirs["list of 40k small ints"] = ints
        eref = erlpy.OtpErlangReference(
            erlpy.OtpErlangAtom(node.name),
            b"".join(i.to_bytes(4, "big") for i in ref.ids),
            ref.creation.to_bytes(4, "big"))
        theirs["{ssl, Socket, 1KB binary}"] = (
            erlpy.OtpErlangAtom("ssl"),
            (erlpy.OtpErlangAtom("sslsocket"), erlpy.OtpErlangAtom("pyssl"), eref),
            erlpy.OtpErlangBinary(payload))
    return ours, theirs


def _list_ext_of_small_ints(items) -> bytes:
    body = b"".join(bytes((97, i)) for i in items)
    return b"\x83l" + len(items).to_bytes(4, "big") + body + b"j"


def _best(fn, number: int, repeat: int = 5) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def main(argv=None) -> int:
    ours, theirs = _cases()
    if erlpy is None:
        print("erlang-py is not installed (pip install -e '.[bench]'); timing ours only")
    print(f"{'case':28} {'op':7} {'bridge.etf us':>14} {'erlang-py us':>13} {'ratio':>7}")
    ok = True
    for name, term in ours.items():
        blob = term_to_binary(term)
        if isinstance(term, list):
            # Erlang (and we) encode a byte list of <= 65535 as STRING_EXT; time
            # the general LIST_EXT of SMALL_INTEGER_EXT form, the harder case.
            blob = _list_ext_of_small_ints(term)
            assert binary_to_term(blob) == term
        number = 20 if "40k" in name else 20_000
        for op in ("decode", "encode"):
            if op == "decode":
                t_ours = _best(lambda: binary_to_term(blob), number)
            else:
                t_ours = _best(lambda: term_to_binary(term), number)
            if erlpy is not None:
                other = theirs[name]
                if op == "decode":
                    assert erlpy.binary_to_term(blob) is not None
                    t_theirs = _best(lambda: erlpy.binary_to_term(blob), number)
                else:
                    assert erlpy.binary_to_term(erlpy.term_to_binary(other)) is not None
                    t_theirs = _best(lambda: erlpy.term_to_binary(other), number)
                ratio = t_theirs / t_ours
                ok = ok and ratio > 1
                print(f"{name:28} {op:7} {t_ours:14.2f} {t_theirs:13.2f} {ratio:6.1f}x")
            else:
                print(f"{name:28} {op:7} {t_ours:14.2f} {'-':>13} {'-':>7}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
