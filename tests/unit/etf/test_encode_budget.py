"""encode_into's budget: a term too big to encode on the event loop is known as
such after a bounded amount of work (the node then encodes it on a thread)."""
import pytest

from bridge.etf import Atom, Reference, binary_to_term, term_to_binary
from bridge.etf.codec import EncodeBudgetExceeded, encode_into

BUDGET = 1 << 14
REF = Reference(Atom("n@h"), 1, (1, 2, 3))


def deep_tuple(n):
    t: tuple = ()
    for i in range(n):
        t = (i, t)
    return t


@pytest.mark.parametrize("term", [
    (Atom("ssl"), (Atom("sslsocket"), Atom("pyssl"), REF), b"x" * 1_000_000),
    [97] * 65536,                    # a 64 KiB list-mode recv
    "a" * 65536,
    deep_tuple(1000),
    [(Atom("a"), 1)] * 1000,
])
def test_ordinary_messages_stay_within_the_budget(term):
    parts: list = []
    encode_into(term, parts, BUDGET)
    assert b"\x83" + b"".join(parts) == term_to_binary(term)


@pytest.mark.parametrize("make", [
    lambda: (Atom("error"), [97] * (64 << 20)),
    lambda: "a" * (64 << 20),
    lambda: deep_tuple(100_000),
    lambda: [Atom("a")] * 100_000,
    lambda: {i: i for i in range(100_000)},
], ids=["charlist", "str", "deep", "atoms", "map"])
def test_big_terms_exceed_it_quickly(make):
    parts: list = []
    with pytest.raises(EncodeBudgetExceeded):
        encode_into(make(), parts, BUDGET)
    assert len(parts) <= BUDGET      # what was done before it knew: bounded


def test_long_latin1_str_encodes_as_its_charlist():
    s = "é" * ((1 << 18) * 2 + 5)          # spans several C-level pieces
    assert binary_to_term(term_to_binary(s)) == [0xE9] * len(s)
