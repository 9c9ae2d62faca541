"""iodata flattening (bridge.service.terms.iodata_to_bytes) and charlists
(charlist_str): any depth, any length, and iolist_to_binary's badarg."""
import pytest
from hypothesis import given, strategies as st

from bridge.etf.types import ImproperList
from bridge.service.terms import Raise, charlist_str, iodata_to_bytes

iodata = st.recursive(
    st.one_of(st.binary(max_size=8), st.integers(0, 255)),
    lambda inner: st.lists(inner, max_size=5), max_leaves=60)


def reference(x) -> bytes:
    if isinstance(x, bytes):
        return x
    if isinstance(x, int):
        return bytes((x,))
    return b"".join(map(reference, x))


@pytest.mark.fuzz
@given(st.lists(iodata, max_size=6))
def test_flattens_like_iolist_to_binary(x):
    assert iodata_to_bytes(x) == reference(x)


@pytest.mark.parametrize("depth", [10_000, 100_000, 1_000_000])
def test_nested_any_depth(depth):
    acc: list = []
    for i in range(depth):
        acc = [acc, (i % 256).to_bytes(1, "big")]
    assert iodata_to_bytes(acc) == bytes(i % 256 for i in range(depth))
    deep: list = [b"end"]
    for _ in range(depth):
        deep = [deep]
    assert iodata_to_bytes(deep) == b"end"


def test_improper_tails_strings_and_bytearrays():
    assert iodata_to_bytes([1, 2, [b"a", [3]], ImproperList((b"x", 5), b"t"), "ab",
                            bytearray(b"z")]) == b"\x01\x02a\x03x\x05tabz"
    assert iodata_to_bytes([0, 1, []]) == b"\x00\x01"


@pytest.mark.parametrize("bad", [[True], [False, 2], [256], [-1], [1.0], [[None]],
                                 ImproperList((1,), 2), ["\u0100"], None])
def test_not_iodata_is_badarg(bad):
    with pytest.raises(Raise):
        iodata_to_bytes(bad)


def test_charlist_str():
    assert charlist_str([]) == ""
    assert charlist_str([104, 105]) == "hi"
    assert charlist_str([0x263A, 97]) == "\u263aa"
    assert charlist_str([0, 1]) == "\x00\x01"
    for bad in ([True], [0x263A, True], [-1], [0x110000], [1.0], [[97]]):
        assert charlist_str(bad) is None
    big = [97] * (3 << 18) + [0x263A]     # spans several of its C-level pieces
    assert charlist_str(big) == "a" * (3 << 18) + "\u263a"
