"""bridge.etf at any depth and any length.

Erlang builds deep terms as a matter of course (an iolist made by
``lists:foldl(fun(I, A) -> [A, <<I:32>>] end, [], L)`` is as deep as ``L`` is
long) and decodes any depth, so the codec must too: neither direction may recurse.
Checked here: round trips 100,000 deep for every kind of container, the bytes of a
real ``erl`` in both directions, truncation offsets, terms that hold themselves,
the chunked handling of huge lists (other threads run during a long decode), and
property tests that malformed input only ever raises ETFDecodeError.

Deep terms are never compared with ``==`` or printed: both recurse in C. They
are checked level by level (``unnest``) and by their bytes.
"""
from __future__ import annotations

import struct
import sys
import threading
import time
import zlib

import pytest
from hypothesis import given, strategies as st

from bridge.etf import (Atom, ErlMap, ETFDecodeError, ETFEncodeError, ImproperList, Opaque,
                        binary_to_term, decode, encode_into, term_to_binary)
from bridge.etf import codec

A = Atom
DEPTH = 100_000
LEAF = A("leaf")
LEAF_B = b"w\x04leaf"

# kind: (wrap one level, the bytes before the inner term, the bytes after it,
#        Erlang expression of one level around A)
KINDS = {
    "list": (lambda t: [t], b"l\0\0\0\x01", b"j", "[A]"),
    "tuple": (lambda t: (t,), b"h\x01", b"", "{A}"),
    "map": (lambda t: {A("k"): t}, b"t\0\0\0\x01w\x01k", b"", "#{k => A}"),
    "improper": (lambda t: ImproperList((t,), A("z")), b"l\0\0\0\x01", b"w\x01z", "[A | z]"),
    "tail": (lambda t: ImproperList((7,), (t,)), b"l\0\0\0\x01a\x07h\x01", b"", "[7 | {A}]"),
    "erlmap": (lambda t: ErlMap([([t], 1)]), b"t\0\0\0\x01l\0\0\0\x01", b"ja\x01",
               "#{[A] => 1}"),
    "iolist": (lambda t: [t, b"\0\0\0\x01"], b"l\0\0\0\x02", b"m\0\0\0\x04\0\0\0\x01j",
               "[A, <<1:32>>]"),
}


def nest(kinds, depth: int, leaf=LEAF):
    """``leaf`` inside ``depth`` levels, the outermost of kind ``kinds[0]``, then
    ``kinds[1]``... cyclically."""
    t = leaf
    for level in reversed(range(depth)):
        t = KINDS[kinds[level % len(kinds)]][0](t)
    return t


def expected_bytes(kinds, depth: int, leaf_b: bytes = LEAF_B) -> bytes:
    heads = [KINDS[kinds[level % len(kinds)]][1] for level in range(depth)]
    tails = [KINDS[kinds[level % len(kinds)]][2] for level in reversed(range(depth))]
    return b"\x83" + b"".join(heads) + leaf_b + b"".join(tails)


def unnest(kinds, t, depth: int):
    """Check ``t`` is ``nest(kinds, depth, leaf)`` level by level; return the leaf."""
    for level in range(depth):
        kind = kinds[level % len(kinds)]
        if kind == "list":
            assert type(t) is list and len(t) == 1, level
            t = t[0]
        elif kind == "tuple":
            assert type(t) is tuple and len(t) == 1, level
            t = t[0]
        elif kind == "map":
            assert type(t) is dict and list(t) == [A("k")], level
            t = t[A("k")]
        elif kind == "improper":
            assert type(t) is ImproperList and len(t.elements) == 1 and t.tail is A("z"), level
            t = t.elements[0]
        elif kind == "tail":
            assert type(t) is ImproperList and t.elements == (7,), level
            assert type(t.tail) is tuple and len(t.tail) == 1, level
            t = t.tail[0]
        elif kind == "erlmap":
            assert type(t) is ErlMap and len(t.items) == 1 and t.items[0][1] == 1, level
            key = t.items[0][0]
            assert type(key) is list and len(key) == 1, level
            t = key[0]
        else:
            assert kind == "iolist"
            assert type(t) is list and len(t) == 2 and t[1] == b"\0\0\0\x01", level
            t = t[0]
    return t


def only_decode_errors(blob: bytes, **kw):
    """Decode ``blob``: the term, or None for an ETFDecodeError; anything else fails."""
    try:
        return binary_to_term(blob, **kw)
    except ETFDecodeError as exc:
        assert isinstance(exc, ValueError) and 0 <= exc.offset <= len(blob)
        return None


# ---------------------------------------------------------------------------
# 100,000 deep, every kind of container
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kinds", [[k] for k in KINDS] + [list(KINDS)],
                         ids=list(KINDS) + ["mixed"])
def test_round_trip_100000_deep(kinds):
    term = nest(kinds, DEPTH)
    blob = term_to_binary(term)
    assert blob == expected_bytes(kinds, DEPTH)
    back = binary_to_term(blob)
    assert unnest(kinds, back, DEPTH) is LEAF
    assert term_to_binary(back) == blob
    if len(kinds) > 1:
        parts: list = []
        encode_into(back, parts)
        assert b"\x83" + b"".join(parts) == blob
        # inside a buffer of several terms, decode() finds where the deep one ends
        buf = b"xx" + blob + b"\x83a\x05"
        t, end = decode(buf, 2)
        assert end == 2 + len(blob) and decode(buf, end)[0] == 5


def test_deep_strings_modes_and_compression():
    blob = expected_bytes(["tuple", "list"], DEPTH, b"k\0\x02hi")
    assert unnest(["tuple", "list"], binary_to_term(blob), DEPTH) == [104, 105]
    assert unnest(["tuple", "list"], binary_to_term(blob, strings="str"), DEPTH) == "hi"
    assert unnest(["tuple", "list"], binary_to_term(blob, strings="bytes"), DEPTH) == b"hi"
    inner = blob[1:]
    packed = b"\x83P" + struct.pack(">I", len(inner)) + zlib.compress(inner)
    t, end = decode(packed + b"\x83j")
    assert end == len(packed) and unnest(["tuple", "list"], t, DEPTH) == [104, 105]


def _fun(free_vars: list) -> bytes:
    body = (b"\x01" + bytes(range(16)) + struct.pack(">II", 3, len(free_vars))
            + b"w\x01m" + b"a\x03" + b"b\x00\x00\x00\x07"
            + b"X" + b"w\x0dnonode@nohost" + struct.pack(">III", 1, 2, 0)
            + b"".join(free_vars))
    return b"p" + struct.pack(">I", 4 + len(body)) + body


def test_fun_with_deep_free_variables_and_funs_nested_in_funs():
    deep = expected_bytes(["tuple", "map"], DEPTH)[1:]
    fun = _fun([b"a\x01", deep, b"j"])
    assert binary_to_term(b"\x83" + fun) == Opaque(112, fun)
    # funs whose free variable is a fun whose free variable is a fun...
    nested = b"a\x01"
    for _ in range(2000):
        nested = _fun([nested])
    blob = b"\x83h\x02" + nested + b"w\x03end"
    t = binary_to_term(blob)
    assert t == (Opaque(112, nested), A("end")) and term_to_binary(t) == blob
    # a deep free variable that runs past the fun's Size is caught at the fun
    bad = bytearray(fun)
    bad[1:5] = struct.pack(">I", len(fun) - 1 - 10)
    with pytest.raises(ETFDecodeError, match="does not match its contents") as info:
        binary_to_term(b"\x83" + bytes(bad))
    assert info.value.offset == 2


@pytest.mark.parametrize("cut", [1, 2, 3, 1000, DEPTH, 2 * DEPTH, -5, -2, -1])
def test_truncated_deep_term_reports_where_the_data_ran_out(cut):
    for kinds in (["list"], ["iolist", "map", "tail"]):
        blob = expected_bytes(kinds, DEPTH)
        short = blob[:cut]
        with pytest.raises(ETFDecodeError, match="truncated") as info:
            binary_to_term(short)
        assert info.value.offset == len(short)


def test_deep_map_key_is_not_hashed():
    # hashing a tuple recurses in C (a million levels would crash the process): a
    # key nested deeper than the codec hashes keeps the map an ErlMap
    key = expected_bytes(["tuple"], 1_000_000)[1:]
    m = binary_to_term(b"\x83t\0\0\0\x01" + key + b"a\x01")
    assert type(m) is ErlMap and m.items[0][1] == 1
    assert unnest(["tuple"], m.items[0][0], 1_000_000) is LEAF
    for kinds in (["improper"], ["tail"]):
        deep = term_to_binary(nest(kinds, 5000))[1:]
        m = binary_to_term(b"\x83t\0\0\0\x02a\x01a\x02" + deep + b"a\x03")
        assert type(m) is ErlMap and m.items[0] == (1, 2)
    shallow = nest(["tuple", "improper"], 50)
    m = binary_to_term(term_to_binary({shallow: 1, 2: 3}))
    assert type(m) is dict and m[shallow] == 1 and m[2] == 3


# ---------------------------------------------------------------------------
# Python containers that hold themselves: an error, not a hang
# ---------------------------------------------------------------------------

class MyList(list):
    pass


class MyTuple(tuple):
    def __iter__(self):   # a tuple subclass that yields itself
        yield self


def _cycles():
    a: list = []
    a.append(a)
    b: dict = {}
    b[A("me")] = (1, [b])
    c = ErlMap([])
    c.items.append(([c], 1))
    d = MyList()
    d.append((d,))
    e: list = [1]
    head = e
    for _ in range(5000):   # the cycle closes 5000 levels down
        e = [e, b"x"]
    head.append(e)
    f = ImproperList((1,), {A("k"): None})
    f.tail[A("k")] = [f]
    return [a, b, c, d, MyTuple(), e, f, (1, (2, [a]))]


@pytest.mark.parametrize("term", _cycles(), ids=["list", "dict", "erlmap", "subclass",
                                                 "tuple-subclass", "deep", "improper",
                                                 "inside"])
def test_a_term_that_holds_itself_raises(term):
    with pytest.raises(ETFEncodeError, match="contains itself") as info:
        term_to_binary(term)
    assert isinstance(info.value, TypeError)


def test_shared_containers_are_not_cycles():
    shared = [1, [2, b"x"]]
    t: list = []
    for _ in range(10_000):   # the same list at every level, never inside itself
        t = [t, shared, (shared,)]
    back = binary_to_term(term_to_binary(t))
    for _ in range(10_000):
        assert len(back) == 3 and back[1] == [1, [2, b"x"]] and back[2] == ([1, [2, b"x"]],)
        back = back[0]
    assert back == []


# ---------------------------------------------------------------------------
# huge lists: handled in chunks, and other threads run meanwhile
# ---------------------------------------------------------------------------

def _small_int_list_ext(values: bytes) -> bytes:
    body = bytearray(2 * len(values))
    body[0::2] = b"a" * len(values)
    body[1::2] = values
    return b"\x83l" + struct.pack(">I", len(values)) + bytes(body) + b"j"


def test_chunk_boundaries():
    c = codec._CHUNK
    for n in (c - 1, c, c + 1, 2 * c + 5):
        values = bytes(i % 251 for i in range(n))
        blob = _small_int_list_ext(values)
        lst = binary_to_term(blob)
        assert lst == list(values) and term_to_binary(lst) == blob
    # a run of small ints that stops in a later chunk, both directions
    n = 2 * c + 5
    lst = [i % 256 for i in range(n)]
    lst[c + 3] = A("x")
    lst[-1] = True
    blob = term_to_binary(lst)
    assert blob == (b"\x83l" + struct.pack(">I", n)
                    + b"".join(b"w\x01x" if i == c + 3 else b"w\x04true" if i == n - 1
                               else bytes((97, i % 256)) for i in range(n)) + b"j")
    assert binary_to_term(blob) == lst
    # a long list that starts like a string but is not
    blob = b"\x83l" + struct.pack(">I", 300) + b"a\x01" * 299 + b"b\0\0\x01\0j"
    assert binary_to_term(blob) == [1] * 299 + [256]
    # LARGE_TUPLE_EXT and maps over a chunk
    tup = tuple(range(c + 10))
    assert binary_to_term(term_to_binary(tup)) == tup
    m = {i: i % 7 for i in range(c // 2 + 10)}
    assert binary_to_term(term_to_binary(m)) == m
    m2 = ErlMap([(i, 0) for i in range(c // 2 + 10)] + [([1], 2)])
    back = binary_to_term(term_to_binary(m2))
    assert type(back) is ErlMap and back.items == m2.items


def _other_thread_turns(work) -> int:
    """How many times this thread gets the GIL while ``work`` runs in another."""
    done = threading.Event()
    failure: list = []

    def run():
        try:
            work()
        except BaseException as exc:   # pragma: no cover - reported below
            failure.append(exc)
        finally:
            done.set()

    old = sys.getswitchinterval()
    sys.setswitchinterval(0.001)
    try:
        worker = threading.Thread(target=run)
        worker.start()
        turns = 0
        while not done.is_set():
            time.sleep(0.0005)
            turns += 1
        worker.join()
    finally:
        sys.setswitchinterval(old)
    assert not failure, failure
    return turns


def test_huge_list_lets_other_threads_run():
    # 16 Mi elements, 64 chunks, each a few C calls of a millisecond or two: the
    # other thread gets a turn at about every chunk. One C call for the whole list
    # (as before chunking) gives it a couple. No 0 or 1 among the values, as the
    # encoder looks for bools there in Python code, which would give turns anyway.
    n = 1 << 24
    values = (bytes(range(2, 256)) * (n // 254 + 1))[:n]
    blob = _small_int_list_ext(values)
    out: dict = {}
    turns = _other_thread_turns(lambda: out.setdefault("list", binary_to_term(blob)))
    assert turns >= 16
    lst = out.pop("list")
    assert len(lst) == n and lst[:3] == [2, 3, 4] and lst[-1] == values[-1]
    parts: list = []
    turns = _other_thread_turns(lambda: encode_into(lst, parts))
    assert turns >= 16
    assert b"\x83" + b"".join(parts) == blob


# ---------------------------------------------------------------------------
# a real erl: its bytes decode, ours are what it writes and decode there
# ---------------------------------------------------------------------------

def _erl_nested(kinds, depth: int) -> str:
    """Erlang expression for ``nest(kinds, depth)``."""
    assert len(kinds) == 1
    return (f"lists:foldl(fun(_, A) -> {KINDS[kinds[0]][3]} end, leaf, "
            f"lists:seq(1, {depth}))")


def test_erlang_iolist_10000_deep(erl, tmp_path):
    build = "lists:foldl(fun(I, A) -> [A, <<I:32>>] end, [], lists:seq(1, 10000))"
    for t in (erl.eval(build), binary_to_term(erl.eval(f"term_to_binary({build})"))):
        for i in range(10_000, 0, -1):
            assert type(t) is list and len(t) == 2 and t[1] == i.to_bytes(4, "big")
            t = t[0]
        assert t == []
    ours = term_to_binary(erl.eval(build))
    assert ours == erl.eval(f"term_to_binary({build})")
    path = tmp_path / "iolist.bin"
    path.write_bytes(ours)
    assert erl.true(f'(fun() -> {{ok, B}} = file:read_file("{path}"), '
                    f'binary_to_term(B) =:= {build} end)()')


@pytest.mark.parametrize("kind", list(KINDS))
def test_erlang_100000_deep(erl, tmp_path, kind):
    build = _erl_nested([kind], DEPTH)
    theirs = erl.eval(f"term_to_binary({build}, [{{minor_version, 2}}])")
    assert theirs == expected_bytes([kind], DEPTH)
    assert unnest([kind], binary_to_term(theirs), DEPTH) is LEAF
    path = tmp_path / f"{kind}.bin"
    path.write_bytes(term_to_binary(nest([kind], DEPTH)))
    assert erl.true(f'(fun() -> {{ok, B}} = file:read_file("{path}"), '
                    f'binary_to_term(B) =:= {build} end)()')


def test_erlang_deep_compressed_and_fun(erl):
    build = _erl_nested(["tuple"], DEPTH)
    packed = erl.eval(f"term_to_binary({build}, [compressed])")
    assert packed[1] == 80
    assert unnest(["tuple"], binary_to_term(packed), DEPTH) is LEAF
    fun = erl.eval(f"(fun() -> D = {build}, term_to_binary(fun() -> D end) end)()")
    t = binary_to_term(fun)
    assert type(t) is Opaque and t.tag == 112 and term_to_binary(t) == fun


# ---------------------------------------------------------------------------
# properties: round trips, truncations, mutations, garbage
# ---------------------------------------------------------------------------

atoms = st.text(max_size=8).filter(lambda s: s not in ("true", "false")).map(Atom)
leaves = st.one_of(
    st.integers(-2**70, 2**70), st.floats(allow_nan=False, allow_infinity=False),
    atoms, st.booleans(), st.none(), st.binary(max_size=16), st.text(max_size=8),
)
keys = st.one_of(st.integers(), atoms, st.binary(max_size=4),
                 st.tuples(atoms, st.integers(0, 3)))


def _containers(children):
    return st.one_of(
        st.lists(children, max_size=5),
        st.lists(children, max_size=5).map(tuple),
        st.builds(lambda els, tail: ImproperList(tuple(els), tail),
                  st.lists(children, min_size=1, max_size=3),
                  children.filter(lambda t: not isinstance(t, (list, str, ImproperList)))),
        st.dictionaries(keys, children, max_size=4),
        st.lists(st.tuples(st.lists(children, max_size=2), children), min_size=1,
                 max_size=2).map(ErlMap),
    )


shallow_terms = st.recursive(leaves, _containers, max_leaves=15)
# A term is drawn as (kinds, depth, shallow term), and built by the test: Hypothesis
# prints a failing example with repr(), which recurses, so it gets this recipe and
# not a deep term.
term_recipes = st.one_of(
    st.tuples(st.just(("list",)), st.just(0), shallow_terms),
    st.tuples(st.lists(st.sampled_from(list(KINDS)), min_size=1, max_size=4).map(tuple),
              st.integers(1, 1000), shallow_terms),
)


def build(recipe):
    return nest(*recipe)


@pytest.mark.fuzz
@given(term_recipes)
def test_property_round_trip(recipe):
    blob = term_to_binary(build(recipe))
    back, end = decode(blob + b"\x83j", 0)
    assert end == len(blob)
    assert term_to_binary(back) == blob


@pytest.mark.fuzz
@given(term_recipes, st.data())
def test_property_truncation_offset(recipe, data):
    blob = term_to_binary(build(recipe))
    cut = data.draw(st.integers(0, len(blob) - 1), label="cut")
    with pytest.raises(ETFDecodeError, match="truncated|no data") as info:
        binary_to_term(blob[:cut])
    assert info.value.offset == cut


mutations = st.lists(st.tuples(st.sampled_from(["set", "insert", "delete", "cut"]),
                               st.integers(0, 2**32), st.integers(0, 255)),
                     min_size=1, max_size=5)


@pytest.mark.fuzz
@given(term_recipes, mutations)
def test_property_mutations_only_decode_errors(recipe, edits):
    blob = bytearray(term_to_binary(build(recipe)))
    for op, where, byte in edits:
        i = where % (len(blob) + 1)
        if op == "set" and i < len(blob):
            blob[i] = byte
        elif op == "insert":
            blob[i:i] = bytes((byte,))
        elif op == "delete":
            del blob[i:i + 1 + byte % 4]
        elif op == "cut":
            del blob[i:]
    for strings in ("list", "str", "bytes"):
        t = only_decode_errors(bytes(blob), strings=strings)
        if t is not None and strings == "list":
            # whatever decodes encodes, and then round trips exactly
            again = term_to_binary(t)
            assert term_to_binary(binary_to_term(again)) == again


@pytest.mark.fuzz
@given(st.binary(max_size=300))
def test_property_garbage_only_decode_errors(data):
    for head in (b"", b"\x83", b"\x83l\0\0\0\x03", b"\x83h\x02", b"\x83t\0\0\0\x02",
                 b"\x83p\0\0\0\x40", b"\x83l\0\0\x01\x00a\x01a\x02",
                 b"\x83P\0\0\0\x20" + zlib.compress(data[:32])):
        only_decode_errors(head + data)
