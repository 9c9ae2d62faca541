"""The C decoder of the common shapes (bridge/etf/_speedups.c) against the Python one
(bridge/etf/decode.py): on every input, the same term, the same end offset, or the
same error. Skipped where the package was installed without a C compiler."""
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bridge.etf.decode  # noqa: F401  (the module, not the function bridge.etf exports)
from bridge.etf import Atom, ETFDecodeError, ImproperList, Pid, Reference, term_to_binary
from bridge.node import protocol as P
from bridge.node.protocol import encode_frame, parse_body

from test_etf import BATTERY, same, terms

D = sys.modules["bridge.etf.decode"]
A = Atom

pytestmark = pytest.mark.skipif(D._fast_term is None, reason="bridge.etf._speedups not built")


def outcome(blob: bytes, offset: int = 0, fast: bool = True, strings: str = "list"):
    """decode's result, or its error's (reason, offset), with the C decoder on or off."""
    saved = D._fast_term
    D._fast_term = saved if fast else None
    try:
        return ("ok",) + D.decode(blob, offset, strings=strings)
    except ETFDecodeError as exc:
        return ("error", exc.reason, exc.offset)
    finally:
        D._fast_term = saved


def agree(blob: bytes, offset: int = 0, strings: str = "list") -> None:
    c, py = outcome(blob, offset, True, strings), outcome(blob, offset, False, strings)
    assert c[0] == py[0], (c, py)
    if c[0] == "ok":
        assert same(c[1], py[1]) and c[2] == py[2], (c, py)
    else:
        assert c == py


NODE = A("drv@127.0.0.1")
CALLER = Pid(NODE, 123, 0, 1700000000)
SOCKET = (A("sslsocket"), A("pyssl"), Reference(A("pyssl@127.0.0.1"), 7, (1, 2, 3)))
GEN_CALL = (A("$gen_call"), (CALLER, ImproperList((A("alias"),), Reference(NODE, 9, (4, 5, 6, 7, 8)))),
            (A("sockname"), [SOCKET]))


@pytest.mark.parametrize("term", [
    GEN_CALL,
    (6, CALLER, A(""), A("pyssl")),
    (A("$pyssl_send"), SOCKET[2], b"x" * 1000),
    [1, 2, 3, -5, 70000, -2**31, 2**31 - 1, b"", A("true"), A("false"), True, False],
    ImproperList((1, 2), b"tail"),
    (A("\u65e5\u672c"), A("a" * 255), A(""), ()),
    [[[[[]]]]],
    tuple(range(256)),
])
def test_the_common_shapes_are_decoded_in_c_and_as_python_decodes_them(term):
    blob = term_to_binary(term)
    assert D._fast_term(blob, 1, 0) is not None       # taken on, not handed back
    agree(blob)


def test_a_gen_call_frame_parses_the_same():
    body = encode_frame((6, CALLER, A(""), A("pyssl")), GEN_CALL)[4:]
    saved = D._fast_term, P._fast_body
    try:
        fast = parse_body(body)
        D._fast_term = P._fast_body = None
        slow = parse_body(body)
    finally:
        D._fast_term, P._fast_body = saved
    assert same(fast, slow)


@pytest.mark.parametrize("blob", [
    b"\x83t\x00\x00\x00\x01a\x01a\x02",          # a map: Python's
    b"\x83l\x00\x00\x00\x01a\x01l\x00\x00\x00\x01a\x02j",   # a list tail that is a list
    b"\x83l\x00\x00\x00\x01a\x01k\x00\x02ab",     # a string tail
    b"\x83" + b"h\x01" * 150 + b"j",              # deeper than the C decoder goes
])
def test_what_it_leaves_to_python_comes_out_the_same(blob):
    assert D._fast_term(blob, 1, 0) is None
    agree(blob)


def test_an_uncached_atom_is_made_by_python_and_then_found_in_the_cache():
    name = "speedups_fresh_atom_\u00e9"
    blob = term_to_binary((A(name), 1))
    raw = name.encode()
    D._ATOMS_UTF8.pop(raw, None)
    agree(blob)
    assert D._ATOMS_UTF8[raw] is A(name)
    agree(blob)


def _ref_blob(count: int, node: bytes = b"w\x03n@h") -> bytes:
    return b"\x83Z" + count.to_bytes(2, "big") + node + bytes(range(4 + 4 * count))


@pytest.mark.parametrize("blob", [
    _ref_blob(1), _ref_blob(3), _ref_blob(5),
    _ref_blob(0), _ref_blob(6),                                  # id counts ssl never sends
    _ref_blob(2, b"w\x04true"),                                  # a node the cache holds as a bool
    _ref_blob(2, b"w\x17speedups_uncached_node@x"),              # a node not cached yet
    _ref_blob(2, b"v\x00\x03n@h"), _ref_blob(2, b"d\x00\x03n@h"),  # other atom forms
    _ref_blob(2, b"a\x01"),                                      # not an atom
])
def test_references_decode_the_same_with_their_external_form(blob):
    agree(blob)
    ok = outcome(blob)
    if ok[0] == "ok":
        c, py = ok[1], outcome(blob, fast=False)[1]
        assert c.__class__ is Reference and c._ext == py._ext
        assert hash(c) == hash(py) and c.node is py.node


def test_a_reference_is_made_in_c_with_the_bytes_it_came_in():
    ref = Reference(NODE, 0xFFFFFFFF, (0, 1, 0xFFFFFFFF))
    blob = term_to_binary(ref)
    made, end = D._fast_term(blob, 1, 0)
    assert end == len(blob) and made == ref and made._ext == blob[1:]
    assert term_to_binary(made) == blob


@pytest.mark.parametrize("strings", ["list", "str", "bytes"])
def test_strings_mode_reaches_the_leaf(strings):
    agree(b"\x83h\x02k\x00\x03abcj", strings=strings)


@pytest.mark.parametrize("term", BATTERY + [GEN_CALL])
def test_every_truncation_gives_the_same_error(term):
    blob = term_to_binary(term)
    for cut in range(1, len(blob)):
        agree(blob[:cut])


def test_terms_at_an_offset_and_after_one_another():
    blob = term_to_binary(GEN_CALL) + term_to_binary((1, [2])) + b"\x83j"
    agree(blob)
    first = outcome(blob)
    agree(blob, first[2])


# (the shared strategy's repr is large; hypothesis says so once per module)
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(terms)
def test_random_terms_decode_alike(term):
    agree(term_to_binary(term))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=60))
def test_random_bytes_decode_or_fail_alike(tail):
    for head in (b"\x83", b"\x83l\x00\x00\x00\x02", b"\x83h\x02", b"\x83h\x03w\x01a"):
        agree(head + tail)


# ---- encoding: the same bytes as encode.py's _encode, or left to it

E = sys.modules["bridge.etf.encode"]


def python_bytes(term) -> bytes:
    parts: list = []
    E._encode(term, parts, E._NO_LIMIT)
    return b"".join(parts)


def agree_encoding(term, taken=None) -> None:
    fast = E._fast_encode(term)
    if taken is not None:
        assert (fast is not None) == taken
    if fast is not None:
        assert fast == python_bytes(term)


@pytest.mark.parametrize("term", [
    GEN_CALL,
    (2, A(""), CALLER),
    (ImproperList((A("alias"),), SOCKET[2]), (A("ok"), ((127, 0, 0, 1), 40000))),
    [1, 2, 3], [0, 255], [256, 1], [True, 1], [1, True], [-1, 5], list(range(256)),
    [A("a"), [], [[]], ()], (None, True, False, -2**31, 2**31 - 1, 255, 256, -1),
    b"", b"x" * 1024, ImproperList((1, 2), A("t")), ImproperList((1,), b"x"),
    Pid(A("fresh@node"), 5, 6, 7), Reference(A("fresh@node"), 1, (9,)),
    A("\u65e5\u672c"), A("brand_new_atom_for_the_encoder"),
])
def test_the_common_shapes_are_encoded_in_c_as_python_writes_them(term):
    agree_encoding(term, taken=True)


@pytest.mark.parametrize("term", [
    2**31, -2**31 - 1, 2**80, 1.5, "str", {1: 2}, b"x" * 1025, [1] * 65536,
    [A("a")] * 5000, (A("x"),) * 5000,
    ImproperList((), 1), ImproperList((1,), [2]), ImproperList((1,), ImproperList((2,), 3)),
    Pid("not an atom", 1, 2, 3), object(),
])
def test_what_it_leaves_to_python(term):
    assert E._fast_encode(term) is None


def test_a_list_that_holds_itself_is_python_s_error():
    x: list = [1]
    x.append(x)
    assert E._fast_encode(x) is None
    with pytest.raises(Exception, match="contains itself"):
        term_to_binary(x)


def test_the_budget_is_still_python_s():
    from bridge.etf.codec import EncodeBudgetExceeded, encode_into
    with pytest.raises(EncodeBudgetExceeded):
        encode_into((1, 2, 3, 4), [], 3)          # a budget under _FAST_PARTS: Python's
    parts: list = []
    encode_into(GEN_CALL, parts, 1 << 14)
    assert parts == [python_bytes(GEN_CALL)]      # one part, from C


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(terms)
def test_random_terms_encode_alike(term):
    agree_encoding(term)


# ---- whole distribution frames: parse_body's and encode_frame's C calls

def parsed(body: bytes, fast: bool):
    saved = P._fast_body
    P._fast_body = saved if fast else None
    try:
        return ("ok",) + P.parse_body(body)
    except Exception as exc:      # FramingError, ETFDecodeError: the same class and text
        return ("error", exc.__class__, str(exc))
    finally:
        P._fast_body = saved


def agree_body(body: bytes) -> None:
    c, py = parsed(body, True), parsed(body, False)
    assert c[0] == py[0], (c, py)
    if c[0] == "ok":
        assert same(c[1], py[1]) and same(c[2], py[2]), (c, py)
    else:
        assert c == py


def _body(control, payload=None, has_payload=False) -> bytes:
    saved = P._fast_frame
    P._fast_frame = None
    try:
        return P.encode_frame(control, payload, has_payload=has_payload)[4:]
    finally:
        P._fast_frame = saved


BODIES = [
    _body((6, CALLER, A(""), A("pyssl")), GEN_CALL),
    _body((2, A(""), CALLER), (A("$pyssl_send"), SOCKET[2], b"x" * 100)),
    _body((34, CALLER, SOCKET[2]), (SOCKET[2], (A("ok"), ((127, 0, 0, 1), 4))), True),
    _body((19, CALLER, CALLER, SOCKET[2])),                 # MONITOR_P: no payload
    _body((1, CALLER, CALLER)),                             # LINK
    _body((6, CALLER, A(""), A("pyssl")), {A("k"): 1.5}),   # a payload Python decodes
]


@pytest.mark.parametrize("body", BODIES)
def test_message_bodies_parse_alike_whole_and_cut(body):
    assert P._fast_body is not None
    agree_body(body)
    for cut in range(len(body)):
        agree_body(body[:cut])
    agree_body(body + b"\x00")                              # trailing bytes


@pytest.mark.parametrize("body", [
    b"p\x83h\x01a\x01",                      # a tag with no payload expected: ok, None
    b"p\x83h\x00", b"p\x83a\x01", b"p\x83h\x01w\x04true",   # not a tuple with an int tag
    b"p\x83h\x01d\x00\x01x",
    b"q\x83h\x01a\x01", b"p\x82h\x01a\x01",            # not 'p', not 131
    b"p\x83h\x02a\x06a\x01",                  # REG_SEND without its payload
    b"p\x83h\x02a\x02a\x01\x82a\x01",         # a payload without 131
    b"p\x83P\x00\x00\x00\x01x\x9c\x03\x00\x00\x00\x00\x01",   # compressed: Python's
    b"p\x83h\x01b\xff\xff\xff\xff",
])
def test_odd_bodies_parse_alike(body):
    agree_body(body)


@pytest.mark.parametrize("control,payload,has", [
    ((6, CALLER, A(""), A("pyssl")), GEN_CALL, False),
    ((34, CALLER, SOCKET[2]), (SOCKET[2], (A("ok"), ((127, 0, 0, 1), 4))), False),
    ((2, A(""), CALLER), None, True),                       # an explicit payload of undefined
    ((19, CALLER, CALLER, SOCKET[2]), None, False),
])
def test_frames_are_written_in_c_as_python_writes_them(control, payload, has):
    fast = P.encode_frame(control, payload, has_payload=has)
    saved = P._fast_frame
    assert saved(control, payload) if has or payload is not None else saved(control)
    P._fast_frame = None
    try:
        assert fast == P.encode_frame(control, payload, has_payload=has)
    finally:
        P._fast_frame = saved


@pytest.mark.parametrize("payload", [{1: 2}, 1.5, b"x" * 5000, [A("a")] * 5000])
def test_frames_it_leaves_to_python(payload):
    control = (2, A(""), CALLER)
    assert P._fast_frame(control, payload) is None
    assert P.parse_body(P.encode_frame(control, payload)[4:])[1] == payload


def test_a_small_budget_is_still_kept():
    from bridge.etf.codec import EncodeBudgetExceeded
    with pytest.raises(EncodeBudgetExceeded):
        P.encode_frame((2, A(""), CALLER), tuple(range(20)), budget=5)
