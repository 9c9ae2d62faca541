"""Decode/encode timings of bridge.etf against the pure-Python ``erlang-py`` package.

Run: ``python -m bench.codec_bench`` (needs the bench extra: ``pip install -e '.[bench]'``).
Cases:

* a 40,000-element list of small integers (as LIST_EXT, the harder form);
* ``{ssl, Socket, Binary}`` with a 1 KB binary, the message the bridge sends for
  every TLS record it delivers;
* a ``gen_server:call`` request as OTP 25's shim sends it,
  ``{'$gen_call', {Pid, [alias | Ref]}, {send, [Socket, Binary]}}``, and the
  distribution control message in front of it, ``{6, Pid, '', pyssl}`` (REG_SEND);
* the iolist ``lists:foldl(fun(I, A) -> [A, <<I:32>>] end, [], lists:seq(1, 10000))``,
  a list nested 10,000 deep;
* a tuple nested 100,000 deep.

Prints best-of-N microseconds per operation and the speed-up ratio (erlang-py
time / our time; > 1 means we are faster). erlang-py recurses, so it cannot take
the deep cases: those show only our time.
"""
from __future__ import annotations

import sys
import timeit

from bridge.etf import Atom, ImproperList, Pid, Reference, binary_to_term, term_to_binary

try:
    import erlang as erlpy
except ImportError:  # pragma: no cover - bench-only dependency
    erlpy = None

IOLIST_DEPTH = 10_000
DEEP = 100_000


def _iolist(n: int) -> list:
    acc: list = []
    for i in range(1, n + 1):
        acc = [acc, i.to_bytes(4, "big")]
    return acc


def _nested_tuples(n: int) -> tuple:
    t: tuple = (Atom("ok"),)
    for _ in range(n - 1):
        t = (t,)
    return t


def _cases():
    """``{name: (term, iterations per timing)}``."""
    node = Atom("pyssl@127.0.0.1")
    peer = Atom("erl@127.0.0.1")
    ref = Reference(node, 1700000000, (123456, 789012, 345678))
    pid = Pid(peer, 93, 0, 1700000001)
    payload = bytes(range(256)) * 4
    socket = (Atom("sslsocket"), Atom("pyssl"), ref)
    call_tag = ImproperList((Atom("alias"),), Reference(peer, 1700000001, (7, 8, 9)))
    return {
        "list of 40k small ints": ([i % 256 for i in range(40_000)], 20),
        "{ssl, Socket, 1KB binary}": ((Atom("ssl"), socket, payload), 20_000),
        "gen_call send request": ((Atom("$gen_call"), (pid, call_tag),
                                   (Atom("send"), [socket, payload[:100]])), 20_000),
        "control {6, Pid, '', pyssl}": ((6, pid, Atom(""), Atom("pyssl")), 20_000),
        f"iolist {IOLIST_DEPTH} deep": (_iolist(IOLIST_DEPTH), 10),
        f"tuple {DEEP} deep": (_nested_tuples(DEEP), 2),
    }


def _list_ext_of_small_ints(items) -> bytes:
    body = b"".join(bytes((97, i)) for i in items)
    return b"\x83l" + len(items).to_bytes(4, "big") + body + b"j"


def _best(fn, number: int, repeat: int = 5) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def _theirs(blob: bytes):
    """erlang-py's form of the term in ``blob``, or None if it cannot decode it."""
    if erlpy is None:
        return None
    try:
        return erlpy.binary_to_term(blob)
    except RecursionError:
        return None


def main(argv=None) -> int:
    if erlpy is None:
        print("erlang-py is not installed (pip install -e '.[bench]'); timing ours only")
    print(f"{'case':28} {'op':7} {'bridge.etf us':>14} {'erlang-py us':>13} {'ratio':>7}")
    ok = True
    for name, (term, number) in _cases().items():
        blob = term_to_binary(term)
        if "small ints" in name:
            # Erlang (and we) encode a byte list of <= 65535 as STRING_EXT; time
            # the general LIST_EXT of SMALL_INTEGER_EXT form, the harder case.
            blob = _list_ext_of_small_ints(term)
            assert binary_to_term(blob) == term
        other = _theirs(blob)
        for op in ("decode", "encode"):
            if op == "decode":
                t_ours = _best(lambda: binary_to_term(blob), number)
            else:
                t_ours = _best(lambda: term_to_binary(term), number)
            if other is not None:
                if op == "decode":
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
