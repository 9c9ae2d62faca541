"""Unit and property tests of bridge.etf (no Erlang needed; see test_etf_erlang.py)."""
from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.etf import (Atom, BitString, ErlMap, ETFDecodeError, ETFEncodeError, ImproperList,
                        Opaque, Pid, Port, Reference, binary_to_term, decode, encode_into,
                        term_to_binary)

A = Atom
NODE = A("pyssl@127.0.0.1")


def same(a, b) -> bool:
    """Strict equality: same types all the way down (1 != 1.0 != True)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return len(a) == len(b) and all(
            same(k1, k2) and same(v1, v2) for (k1, v1), (k2, v2) in zip(a.items(), b.items()))
    if isinstance(a, ErlMap):
        return same(a.items, b.items)
    if isinstance(a, ImproperList):
        return same(a.elements, b.elements) and same(a.tail, b.tail)
    if isinstance(a, float):
        return struct.pack(">d", a) == struct.pack(">d", b)
    return a == b


def rt(term, **kw):
    return binary_to_term(term_to_binary(term), **kw)


# ---------------------------------------------------------------------------
# decoding, tag by tag (hand-made bytes as Erlang writes them)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("blob, expected", [
    (b"\x83a\x00", 0),
    (b"\x83a\xff", 255),
    (b"\x83b\xff\xff\xff\xff", -1),
    (b"\x83b\x7f\xff\xff\xff", 2**31 - 1),
    (b"\x83b\x80\x00\x00\x00", -2**31),
    (b"\x83n\x09\x00" + b"\x00" * 8 + b"\x01", 2**64),
    (b"\x83n\x09\x01" + b"\x00" * 8 + b"\x01", -2**64),
    (b"\x83n\x00\x00", 0),
    (b"\x83o\x00\x00\x00\x02\x01\x00\x01", -256),
    (b"\x83F" + struct.pack(">d", 3.25), 3.25),
    (b"\x83c" + b"3.25000000000000000000e+00".ljust(31, b"\0"), 3.25),
    (b"\x83d\x00\x02ok", A("ok")),
    (b"\x83s\x02ok", A("ok")),
    (b"\x83v\x00\x02ok", A("ok")),
    (b"\x83w\x02ok", A("ok")),
    (b"\x83d\x00\x05h\xe9llo", A("h\xe9llo")),          # ATOM_EXT is latin-1
    (b"\x83w\x06h\xc3\xa9llo", A("h\xe9llo")),          # SMALL_ATOM_UTF8 is UTF-8
    (b"\x83w\x04true", True),
    (b"\x83d\x00\x05false", False),
    (b"\x83w\x09undefined", A("undefined")),
    (b"\x83j", []),
    (b"\x83k\x00\x03abc", [97, 98, 99]),
    (b"\x83l\x00\x00\x00\x02a\x01a\x02j", [1, 2]),
    (b"\x83l\x00\x00\x00\x02a\x01w\x01xj", [1, A("x")]),
    (b"\x83l\x00\x00\x00\x02a\x01a\x02a\x03", ImproperList((1, 2), 3)),
    (b"\x83l\x00\x00\x00\x01a\x01l\x00\x00\x00\x01a\x02j", [1, 2]),    # list tail
    (b"\x83l\x00\x00\x00\x01a\x01k\x00\x01\x02", [1, 2]),              # string tail
    (b"\x83h\x00", ()),
    (b"\x83h\x02a\x01a\x02", (1, 2)),
    (b"\x83i\x00\x00\x00\x01a\x07", (7,)),
    (b"\x83t\x00\x00\x00\x00", {}),
    (b"\x83t\x00\x00\x00\x01w\x01ka\x01", {A("k"): 1}),
    (b"\x83m\x00\x00\x00\x00", b""),
    (b"\x83m\x00\x00\x00\x02hi", b"hi"),
    (b"\x83M\x00\x00\x00\x01\x03\xe0", BitString(b"\xe0", 3)),
    (b"\x83M\x00\x00\x00\x01\x08\xe0", b"\xe0"),
])
def test_decode_tags(blob, expected):
    assert same(binary_to_term(blob), expected)


def test_identifiers_every_tag():
    n = b"w\x0fpyssl@127.0.0.1"
    assert binary_to_term(b"\x83g" + n + struct.pack(">IIB", 5, 6, 2)) == Pid(NODE, 5, 6, 2)
    assert binary_to_term(b"\x83X" + n + struct.pack(">III", 5, 6, 7)) == Pid(NODE, 5, 6, 7)
    assert binary_to_term(b"\x83f" + n + struct.pack(">IB", 9, 1)) == Port(NODE, 9, 1)
    assert binary_to_term(b"\x83Y" + n + struct.pack(">II", 9, 7)) == Port(NODE, 9, 7)
    assert binary_to_term(b"\x83x" + n + struct.pack(">QI", 2**40, 7)) == Port(NODE, 2**40, 7)
    assert binary_to_term(b"\x83e" + n + struct.pack(">IB", 9, 1)) == Reference(NODE, 1, (9,))
    assert binary_to_term(b"\x83r\x00\x03" + n + struct.pack(">B3I", 2, 1, 2, 3)) == \
        Reference(NODE, 2, (1, 2, 3))
    for k in range(1, 6):
        ids = tuple(range(10, 10 + k))
        blob = b"\x83Z" + struct.pack(">H", k) + n + struct.pack(f">I{k}I", 99, *ids)
        assert binary_to_term(blob) == Reference(NODE, 99, ids)


def test_node_named_true_stays_an_atom():
    blob = b"\x83X" + b"w\x04true" + struct.pack(">III", 1, 2, 3)
    assert binary_to_term(blob) == Pid(A("true"), 1, 2, 3)


def test_atoms_are_interned_with_identity_equality_and_hash():
    import copy
    import pickle
    a = A("ok")
    assert a is A("ok") and a == A("ok") and a != A("ko") and a != "ok"
    assert {a: 1}[A("ok")] == 1 and len({A("x"), A("x"), A("y")}) == 2
    assert pickle.loads(pickle.dumps(a)) is a and copy.deepcopy(a) is a
    with pytest.raises(AttributeError):
        a.name = "other"


def test_identifiers_decoded_twice_are_equal_and_reencode_byte_exactly():
    n = b"w\x0fpyssl@127.0.0.1"
    pid_blob = b"\x83X" + n + struct.pack(">III", 5, 6, 7)
    ref_blob = b"\x83Z\x00\x03" + n + struct.pack(">4I", 99, 1, 2, 3)
    p1, p2 = binary_to_term(pid_blob), binary_to_term(pid_blob)
    assert p1 == p2 == Pid(NODE, 5, 6, 7) and hash(p1) == hash(Pid(NODE, 5, 6, 7))
    assert term_to_binary(p1) == term_to_binary(Pid(NODE, 5, 6, 7)) == pid_blob
    r = binary_to_term(ref_blob)
    assert r == Reference(NODE, 99, (1, 2, 3)) and term_to_binary(r) == ref_blob
    assert repr(r) == repr(Reference(NODE, 99, (1, 2, 3)))
    # in containers, twice in one term, and encoded twice: the same bytes
    both = binary_to_term(b"\x83h\x03" + pid_blob[1:] + pid_blob[1:] + ref_blob[1:])
    assert both == (p1, p1, r)
    assert term_to_binary(both) == term_to_binary(both) == b"\x83h\x03" + pid_blob[1:] * 2 + ref_blob[1:]
    fresh = Pid(NODE, 8, 0, 7)
    assert term_to_binary((fresh, fresh)) == b"\x83h\x02" + (b"X" + n + struct.pack(">III", 8, 0, 7)) * 2


def test_identifiers_with_other_node_atom_forms_encode_canonically():
    # a node atom as ATOM_EXT / ATOM_UTF8 decodes to the same pid, and the encoder
    # writes its own (SMALL_ATOM_UTF8) form, not the bytes it was decoded from
    canonical = term_to_binary(Pid(NODE, 5, 6, 7))
    for node in (b"d\x00\x0fpyssl@127.0.0.1", b"v\x00\x0fpyssl@127.0.0.1", b"s\x0fpyssl@127.0.0.1"):
        pid = binary_to_term(b"\x83X" + node + struct.pack(">III", 5, 6, 7))
        assert pid == Pid(NODE, 5, 6, 7) and term_to_binary(pid) == canonical
        ref = binary_to_term(b"\x83Z\x00\x01" + node + struct.pack(">II", 4, 9))
        assert term_to_binary(ref) == term_to_binary(Reference(NODE, 4, (9,)))


def test_identifiers_stay_frozen_and_take_keywords():
    pid = Pid(node=NODE, id=1, serial=2, creation=3)
    assert pid == Pid(NODE, 1, 2, 3) and repr(pid) == "<pyssl@127.0.0.1.1.2>"
    assert Reference(node=NODE, creation=1, ids=(5,)) == Reference(NODE, 1, (5,))
    assert Port(node=NODE, id=4, creation=1) == Port(NODE, 4, 1)
    with pytest.raises(AttributeError):
        pid.id = 9
    with pytest.raises(TypeError):
        Pid(NODE, 1, 2)


def test_truncated_atom_that_matches_a_known_atom_is_truncation():
    A("ok")   # known (cached) atom: the cut-short name "ok" must not be taken for it
    for blob in (b"\x83w\x07ok", b"\x83h\x01w\x07ok", b"\x83l\x00\x00\x00\x01w\x07ok"):
        binary_to_term(b"\x83w\x02ok")
        with pytest.raises(ETFDecodeError, match="truncated"):
            binary_to_term(blob)


def test_strings_option():
    blob = b"\x83k\x00\x03a\xe9c"
    assert binary_to_term(blob) == [97, 233, 99]
    assert binary_to_term(blob, strings="str") == "a\xe9c"
    assert binary_to_term(blob, strings="bytes") == b"a\xe9c"
    with pytest.raises(ValueError):
        binary_to_term(blob, strings="chars")


def test_maps_with_unhashable_or_colliding_keys():
    # #{[1] => a}: a list key makes an ErlMap
    m = binary_to_term(b"\x83t\x00\x00\x00\x01k\x00\x01\x01w\x01a")
    assert isinstance(m, ErlMap) and m.items == [([1], A("a"))]
    # with strings="str" the same key is hashable
    assert binary_to_term(b"\x83t\x00\x00\x00\x01k\x00\x01\x01w\x01a", strings="str") == \
        {"\x01": A("a")}
    # #{1 => a, 1.0 => b, true => c}: distinct in Erlang, equal in Python
    blob = term_to_binary(ErlMap([(1, A("a")), (1.0, A("b")), (True, A("c"))]))
    m = binary_to_term(blob)
    assert isinstance(m, ErlMap) and same(m.items, [(1, A("a")), (1.0, A("b")), (True, A("c"))])


def test_decode_at_offset_several_terms():
    a, b = term_to_binary((A("x"), 1)), term_to_binary([1, 2, 3])
    buf = b"junk" + a + b
    t1, off = decode(buf, 4)
    assert t1 == (A("x"), 1) and off == 4 + len(a)
    t2, off = decode(buf, off)
    assert t2 == [1, 2, 3] and off == len(buf)
    # memoryview and bytearray inputs
    assert decode(memoryview(buf), 4)[0] == (A("x"), 1)
    assert binary_to_term(bytearray(b)) == [1, 2, 3]


def test_compressed():
    inner = term_to_binary(list(range(1000)))[1:]
    blob = b"\x83P" + struct.pack(">I", len(inner)) + zlib.compress(inner)
    assert binary_to_term(blob) == list(range(1000))
    # decode() finds the end of a compressed term inside a larger buffer
    t, off = decode(blob + b"\x83a\x05")
    assert t == list(range(1000)) and off == len(blob)
    assert decode(blob + b"\x83a\x05", off)[0] == 5


def test_funs_and_exports_are_byte_exact():
    export = b"q" + b"w\x05lists" + b"w\x03map" + b"a\x02"
    t = binary_to_term(b"\x83" + export)
    assert t == Opaque(113, export)
    assert term_to_binary(t) == b"\x83" + export
    fun = _fun([b"a\x07", b"k\x00\x02hi"])
    t = binary_to_term(b"\x83" + fun)
    assert t == Opaque(112, fun) and term_to_binary(t) == b"\x83" + fun
    # a fun inside a tuple, followed by more elements: the end is found exactly
    t = binary_to_term(b"\x83h\x03" + fun + export + b"a\x01")
    assert t == (Opaque(112, fun), Opaque(113, export), 1)


def _fun(free_vars, size_delta=0):
    body = (b"\x01" + bytes(range(16)) + struct.pack(">II", 3, len(free_vars))
            + b"w\x01m" + b"a\x03" + b"b\x00\x00\x00\x07"
            + b"X" + b"w\x0dnonode@nohost" + struct.pack(">III", 1, 2, 0)
            + b"".join(free_vars))
    return b"p" + struct.pack(">I", 4 + len(body) + size_delta) + body


def test_local_ext_kept_opaque_to_end_of_buffer():
    blob = b"\x83y" + b"\x00" * 8 + b"whatever follows"
    t = binary_to_term(blob)
    assert t == Opaque(121, blob[1:])
    assert term_to_binary(t) == blob


# ---------------------------------------------------------------------------
# malformed input: always ETFDecodeError with an offset
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("blob, offset, words", [
    (b"", 0, "version"),
    (b"\x82a\x01", 0, "version byte 130"),
    (b"\x83", 1, "truncated"),
    (b"\x83a", 2, "truncated"),
    (b"\x83a\x01\x00", 3, "trailing"),
    (b"\x83\x01", 1, "unknown term tag 1"),
    (b"\x83R\x00", 1, "unknown term tag 82"),
    (b"\x83h\x01\xff", 3, "unknown term tag 255"),
    (b"\x83w\x02\xff\xfe", 3, "UTF-8"),
    (b"\x83v\x00\x02a\xc3", 5, "UTF-8"),
    (b"\x83d\x01\x00" + b"a" * 256, 4, "256 characters"),
    (b"\x83k\x00\x05ab", 6, "truncated"),
    (b"\x83m\x00\x00\x00\x05ab", 8, "truncated"),
    (b"\x83l\x00\x00\x00\x03a\x01a\x02", 10, "truncated"),
    (b"\x83l\xff\xff\xff\xff", 6, "truncated"),
    (b"\x83i\xff\xff\xff\xff", 6, "truncated"),
    (b"\x83t\xff\xff\xff\xff", 6, "truncated"),
    (b"\x83n\x05\x00\x01", 5, "truncated"),
    (b"\x83F\x7f\xf0\x00\x00\x00\x00\x00\x00", 2, "no Erlang form"),
    (b"\x83c" + b"nonsense".ljust(31, b"\0"), 2, "FLOAT_EXT"),
    (b"\x83c" + b"inf".ljust(31, b"\0"), 2, "no Erlang form"),
    (b"\x83c" + b"1.0", 5, "truncated"),
    (b"\x83M\x00\x00\x00\x01\x00\x00", 6, "bits"),
    (b"\x83M\x00\x00\x00\x01\x09\x00", 6, "bits"),
    (b"\x83Z\x00\x06w\x01n", 2, "6 id words"),
    (b"\x83Z\x00\x00w\x01n", 2, "0 id words"),
    (b"\x83Xa\x01", 2, "node name must be an atom"),
    (b"\x83qw\x01mw\x01fb\x00\x00\x00\x01", 8, "arity"),
    (b"\x83qa\x01", 2, "must be an atom"),
    (b"\x83p\x00\x00\x00\x05", 2, "too small"),
])
def test_malformed(blob, offset, words):
    with pytest.raises(ETFDecodeError) as info:
        binary_to_term(blob)
    assert info.value.offset == offset
    assert words in str(info.value) and f"offset {offset}" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_fun_size_mismatch():
    good = _fun([b"a\x07"])
    for delta in (-1, 1, 5):
        bad = _fun([b"a\x07"], size_delta=delta) + b"\x00" * 8
        with pytest.raises(ETFDecodeError) as info:
            binary_to_term(b"\x83" + bad)
        assert info.value.offset in (2, len(bad) + 1) or "size" in str(info.value)
    assert binary_to_term(b"\x83" + good) == Opaque(112, good)


def test_compressed_errors():
    inner = b"k\x00\x03abc"
    z = zlib.compress(inner)
    with pytest.raises(ETFDecodeError, match="declared size 9") as info:
        binary_to_term(b"\x83P" + struct.pack(">I", 9) + z)
    assert info.value.offset == 2
    with pytest.raises(ETFDecodeError, match="more than the declared size 3"):
        binary_to_term(b"\x83P" + struct.pack(">I", 3) + z)
    with pytest.raises(ETFDecodeError, match="zlib"):
        binary_to_term(b"\x83P" + struct.pack(">I", 6) + b"not zlib at all")
    with pytest.raises(ETFDecodeError, match="truncated data for"):
        binary_to_term(b"\x83P" + struct.pack(">I", 6) + z[:-3])
    with pytest.raises(ETFDecodeError, match="inside compressed term"):
        bad = b"w\x02\xff\xfe"
        binary_to_term(b"\x83P" + struct.pack(">I", len(bad)) + zlib.compress(bad))
    with pytest.raises(ETFDecodeError, match="inside compressed term: truncated") as info:
        short = b"k\x00\x05ab"
        binary_to_term(b"\x83P" + struct.pack(">I", len(short)) + zlib.compress(short))
    assert info.value.offset == 6
    with pytest.raises(ETFDecodeError, match="left after"):
        two = b"a\x01a\x02"
        binary_to_term(b"\x83P" + struct.pack(">I", len(two)) + zlib.compress(two))
    with pytest.raises(ETFDecodeError, match="empty"):
        binary_to_term(b"\x83P" + struct.pack(">I", 0) + zlib.compress(b""))
    with pytest.raises(ETFDecodeError, match="truncated"):
        binary_to_term(b"\x83P\x00\x00")
    with pytest.raises(ETFDecodeError) as info:  # trailing garbage after compressed term
        binary_to_term(b"\x83P" + struct.pack(">I", len(inner)) + z + b"!")
    assert "trailing" in str(info.value)


def test_decode_offset_out_of_range_and_bad_input_type():
    with pytest.raises(ETFDecodeError):
        decode(b"\x83a\x01", 3)
    with pytest.raises(ETFDecodeError):
        decode(b"\x83a\x01", -1)
    with pytest.raises(TypeError):
        binary_to_term("\x83a\x01")


def test_deep_nesting_decodes_and_a_term_holding_itself_does_not_encode():
    # no depth limit (test_etf_deep.py has the rest); a cycle is an error, not a hang
    deep = b"\x83" + b"h\x01" * 100_000 + b"j"
    t = binary_to_term(deep)
    assert term_to_binary(t) == deep
    with pytest.raises(ETFEncodeError, match="contains itself"):
        x: list = []
        x.append(x)
        term_to_binary(x)


BATTERY = [
    (A("ssl"), (A("sslsocket"), A("pyssl"), Reference(NODE, 3, (1, 2, 3))), b"x" * 100),
    [1, 2.5, -70000, 2**70, A("\u65e5\u672c"), "str", ImproperList((1,), A("t"))],
    {A("k"): [BitString(b"\xe0", 3), Pid(NODE, 1, 2, 3), Port(NODE, 2**33, 4)]},
    ErlMap([([1, 2], {})]),
    tuple(range(300)),
]


@pytest.mark.parametrize("term", BATTERY)
def test_every_truncation_raises_decode_error(term):
    blob = term_to_binary(term)
    for cut in range(len(blob)):
        with pytest.raises(ETFDecodeError):
            binary_to_term(blob[:cut])


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=60))
def test_fuzz_only_decode_errors(tail):
    for head in (b"\x83", b"\x83l\x00\x00\x00\x02", b"\x83t\x00\x00\x00\x01", b"\x83h\x02"):
        try:
            binary_to_term(head + tail)
        except ETFDecodeError:
            pass


# ---------------------------------------------------------------------------
# encoding forms
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("term, blob", [
    (A("ok"), b"\x83w\x02ok"),
    (A("\u00e9"), b"\x83w\x02\xc3\xa9"),
    (A("\u65e5" * 100), b"\x83v\x01\x2c" + "\u65e5".encode() * 100),
    (True, b"\x83w\x04true"),
    (False, b"\x83w\x05false"),
    (None, b"\x83w\x09undefined"),
    (0, b"\x83a\x00"),
    (255, b"\x83a\xff"),
    (256, b"\x83b\x00\x00\x01\x00"),
    (-1, b"\x83b\xff\xff\xff\xff"),
    (2**31, b"\x83n\x04\x00\x00\x00\x00\x80"),
    (-2**31 - 1, b"\x83n\x04\x01\x01\x00\x00\x80"),
    (2**2048, b"\x83o\x00\x00\x01\x01\x00" + b"\x00" * 256 + b"\x01"),
    (1.5, b"\x83F" + struct.pack(">d", 1.5)),
    ("", b"\x83j"),
    ([], b"\x83j"),
    ("ab", b"\x83k\x00\x02ab"),
    ("\u20ac", b"\x83l\x00\x00\x00\x01b\x00\x00\x20\xacj"),
    ([1, 2], b"\x83k\x00\x02\x01\x02"),
    ([1, True], b"\x83l\x00\x00\x00\x02a\x01w\x04truej"),
    ([256], b"\x83l\x00\x00\x00\x01b\x00\x00\x01\x00j"),
    (b"ab", b"\x83m\x00\x00\x00\x02ab"),
    (bytearray(b"ab"), b"\x83m\x00\x00\x00\x02ab"),
    (memoryview(b"ab"), b"\x83m\x00\x00\x00\x02ab"),
    (BitString(b"\xe0", 3), b"\x83M\x00\x00\x00\x01\x03\xe0"),
    ((), b"\x83h\x00"),
    ((1,), b"\x83h\x01a\x01"),
    ({}, b"\x83t\x00\x00\x00\x00"),
    (ErlMap([([], 1)]), b"\x83t\x00\x00\x00\x01ja\x01"),
    (ImproperList((1,), 2), b"\x83l\x00\x00\x00\x01a\x01a\x02"),
    (Pid(A("n"), 1, 2, 3), b"\x83Xw\x01n" + struct.pack(">III", 1, 2, 3)),
    (Reference(A("n"), 7, (1, 2)), b"\x83Z\x00\x02w\x01n" + struct.pack(">III", 7, 1, 2)),
    (Port(A("n"), 5, 7), b"\x83Yw\x01n" + struct.pack(">II", 5, 7)),
    (Port(A("n"), 2**32, 7), b"\x83xw\x01n" + struct.pack(">QI", 2**32, 7)),
])
def test_encode_forms(term, blob):
    assert term_to_binary(term) == blob
    parts: list = []
    encode_into(term, parts)
    assert b"\x83" + b"".join(parts) == blob


def test_long_and_wide_forms():
    assert term_to_binary(tuple(range(256)))[:6] == b"\x83i\x00\x00\x01\x00"
    s = "x" * 70_000
    blob = term_to_binary(s)
    assert blob[:6] == b"\x83l\x00\x01\x11\x70" and binary_to_term(blob) == [120] * 70_000
    ints = [i % 256 for i in range(70_000)]
    blob = term_to_binary(ints)
    assert blob[:2] == b"\x83l" and binary_to_term(blob) == ints
    mixed = [7] * 100 + [True, 0, False] + [1] * 100
    assert binary_to_term(term_to_binary(mixed)) == mixed
    assert [type(x) for x in binary_to_term(term_to_binary(mixed))][100:103] == [bool, int, bool]
    zeros = [0] * 1000 + [False]
    assert same(binary_to_term(term_to_binary(zeros)), zeros)


@pytest.mark.parametrize("term, words", [
    (object(), "cannot encode object"),
    ({1, 2}, "cannot encode set"),
    (float("nan"), "no Erlang form"),
    (float("inf"), "no Erlang form"),
    (ImproperList((), 1), "at least one element"),
    (ImproperList((1,), [2]), "tail must not be a list"),
    (Reference(A("n"), 1, ()), "1..5"),
    (Reference(A("n"), 1, (1,) * 6), "1..5"),
    (Pid(A("n"), 2**32, 0, 0), "out of range"),
    (Pid("n", 1, 0, 0), "node must be an Atom"),
    (BitString(b"", 3), "bad BitString"),
    (BitString(b"\x00", 9), "bad BitString"),
    (Opaque(112, b"q"), "bad Opaque"),
    ([1, 2, object()], "cannot encode"),
])
def test_encode_errors(term, words):
    with pytest.raises(ETFEncodeError, match=words) as info:
        term_to_binary(term)
    assert isinstance(info.value, TypeError)


def test_subclasses_encode_as_their_base():
    import enum

    class Color(enum.IntEnum):
        RED = 300

    class MyList(list):
        pass

    assert binary_to_term(term_to_binary(Color.RED)) == 300
    assert binary_to_term(term_to_binary(MyList([1, 2]))) == [1, 2]


# ---------------------------------------------------------------------------
# hypothesis round trip over nested terms of every type
# ---------------------------------------------------------------------------

atoms = st.text(max_size=255).filter(lambda s: s not in ("true", "false")).map(Atom)
nodes = st.sampled_from([A("a@b"), A("pyssl@127.0.0.1"), A("\u00e9@h")])
u32 = st.integers(0, 2**32 - 1)
leaves = st.one_of(
    st.integers(-2**80, 2**80),
    st.integers(-2**3000, 2**3000),
    st.floats(allow_nan=False, allow_infinity=False),
    atoms, st.booleans(), st.binary(max_size=40),
    st.builds(BitString, st.binary(min_size=1, max_size=5), st.integers(1, 7)),
    st.builds(Pid, nodes, u32, u32, u32),
    st.builds(Port, nodes, st.integers(0, 2**64 - 1), u32),
    st.builds(Reference, nodes, u32, st.lists(u32, min_size=1, max_size=5).map(tuple)),
)
hashable = st.recursive(st.one_of(st.integers(), atoms, st.binary(max_size=8)),
                        lambda c: st.tuples(c, c), max_leaves=4)


def containers(children):
    return st.one_of(
        st.lists(children, max_size=6),
        st.lists(children, max_size=20).map(tuple),
        st.builds(lambda els, tail: ImproperList(tuple(els), tail),
                  st.lists(children, min_size=1, max_size=4),
                  children.filter(lambda t: not isinstance(t, (list, ImproperList)))),
        st.dictionaries(hashable, children, max_size=5),
        st.lists(st.tuples(st.lists(children, max_size=2), children), min_size=1,
                 max_size=3).map(ErlMap),
    )


terms = st.recursive(leaves, containers, max_leaves=30)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(terms)
def test_roundtrip(term):
    blob = term_to_binary(term)
    back = binary_to_term(blob)
    assert back == term
    assert same(back, term)
    assert term_to_binary(back) == blob


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_roundtrip_str_as_charlist(s):
    assert rt(s) == [ord(c) for c in s]
    if all(ord(c) < 256 for c in s):
        assert rt(s, strings="str") == (s if s else [])
