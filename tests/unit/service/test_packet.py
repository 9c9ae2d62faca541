"""PacketDecoder / encode_packet / shape: API, error paths, round trips (hypothesis).

Exactness against Erlang is in test_packet_erlang.py (decode_packet) and
test_packet_ssl.py (ssl's delivery shapes and send errors).
"""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from bridge.etf import binary_to_term, term_to_binary
from bridge.etf.types import Atom, ImproperList
from bridge.service.packet import (
    HTTP_TYPES, PacketDecoder, PacketError, PacketTooLarge, encode_packet,
    invalid_packet, normalize_type, shape,
)


# ---- construction and set_type ---------------------------------------------------
@pytest.mark.parametrize("given_, expected", [
    (0, 0), ("raw", 0), (Atom("raw"), 0), (1, 1), (2, 2), (4, 4), (Atom("line"), "line"),
    ("asn1", "asn1"), (Atom("cdr"), "cdr"), ("sunrm", "sunrm"), ("fcgi", "fcgi"), ("tpkt", "tpkt"),
])
def test_normalize_type(given_, expected):
    assert normalize_type(given_) == expected
    assert PacketDecoder(given_).packet == expected


@pytest.mark.parametrize("bad", [3, 8, -1, True, "nope", Atom("ssl"), None, 1.0])
def test_unknown_type_is_refused(bad):
    with pytest.raises(ValueError, match="unsupported packet type"):
        PacketDecoder(bad)


def test_http_decoder_switches_to_headers_and_back_like_ssl():
    d = PacketDecoder(Atom("http_bin"))
    d.feed(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\nHTTP/1.0 200 OK\r\n\r\n")
    got = []
    while (t := d.next_packet()) is not None:
        got.append(t)
    assert got == [(Atom("http_request"), Atom("GET"), (Atom("abs_path"), b"/x"), (1, 1)),
                   (Atom("http_header"), 14, Atom("Host"), b"Host", b"a"),
                   Atom("http_eoh"),
                   (Atom("http_response"), (1, 0), 200, b"OK"),
                   Atom("http_eoh")]
    # setopts starts over from the plain type: a header line is now an http_error
    d.feed(b"GET / HTTP/1.1\r\n")
    d.next_packet()
    d.set_type("http_bin")
    d.feed(b"Host: a\r\n")
    assert d.next_packet() == (Atom("http_error"), b"Host: a\r\n")


@pytest.mark.parametrize("http", HTTP_TYPES)
def test_http_types_wait_for_a_whole_line_and_refuse_long_ones(http):
    d = PacketDecoder(Atom(http), 16)
    d.feed(b"GET / HT")
    assert d.next_packet() is None
    d.feed(b"TP/1.1 and more than eight bytes\r\n")
    with pytest.raises(PacketError):
        d.next_packet()


@pytest.mark.parametrize("size", [-1, 1 << 32, "4", True, 2.0])
def test_bad_packet_size(size):
    with pytest.raises(ValueError, match="packet_size"):
        PacketDecoder(1, size)


@pytest.mark.parametrize("delim", [-1, 256, "a", False])
def test_bad_line_delimiter(delim):
    with pytest.raises(ValueError, match="line_delimiter"):
        PacketDecoder("line", 0, delim)


def test_failed_set_type_changes_nothing():
    d = PacketDecoder(2, 10)
    with pytest.raises(ValueError):
        d.set_type("line", -5)
    assert (d.packet, d.packet_size) == (2, 10)


def test_set_type_reinterprets_buffered_bytes():
    d = PacketDecoder("line")
    d.feed(b"hello\n\x00\x03abc\x02xy")
    assert d.next_packet() == b"hello\n"
    d.set_type(2)
    assert d.next_packet() == b"abc"
    d.set_type(1, None)
    assert d.next_packet() == b"xy"
    assert d.next_packet() is None and d.buffered == 0


def test_set_type_keeps_size_and_delimiter_when_none():
    d = PacketDecoder("line", 7, ord(";"))
    d.set_type(4)
    d.set_type("line")
    assert (d.packet_size, d.delimiter) == (7, ord(";"))
    d.feed(b"a;b")
    assert d.next_packet() == b"a;"


def test_line_scan_restarts_after_delimiter_change():
    d = PacketDecoder("line")
    d.feed(b"ab;cd")
    assert d.next_packet() is None          # no \n; the scan offset moved on
    d.set_type("line", None, ord(";"))
    assert d.next_packet() == b"ab;"


# ---- raw mode -------------------------------------------------------------------
def test_raw_take_exact_and_all():
    d = PacketDecoder(0)
    assert d.next_packet() is None
    d.feed(b"abcdef")
    d.feed(b"")
    assert d.take(2) == b"ab"
    assert d.take(0) == b""
    assert d.buffered == len(d) == 4
    assert d.peek() == b"cdef"
    with pytest.raises(ValueError, match="cannot take 5 bytes, 4 buffered"):
        d.take(5)
    with pytest.raises(ValueError):
        d.take(-1)
    assert d.take_all() == b"cdef"
    assert d.take_all() == b""
    d.feed(bytearray(b"xy"))
    assert d.next_packet() == b"xy"


# ---- errors ---------------------------------------------------------------------
@pytest.mark.parametrize("ptype, size, data", [
    (1, 2, b"\x03abc"), (2, 100, b"\x01\x00"), (4, 0, b"\xff\xff\xff\xff"),
    ("line", 3, b"abcd"), ("line", 3, b"abc\n"), ("asn1", 0, b"\x30\x85\x00\x00\x00\x00\x01"),
    ("cdr", 0, b"GIOX\x01\x00\x00\x00\x00\x00\x00\x00"), ("fcgi", 0, b"\x02" + bytes(7)),
    ("tpkt", 0, b"\x03\x00\x00\x03"), ("tpkt", 0, b"\x02\x00\x00\x05x"), ("sunrm", 1, b"\x80\x00\x00\x02"),
])
def test_invalid_packets_raise_and_keep_the_buffer(ptype, size, data):
    d = PacketDecoder(ptype, size)
    d.feed(b"junk-before")
    d.take(len(b"junk-before")) if ptype != "line" else d.take_all()
    d.feed(data)
    with pytest.raises(PacketError) as ei:
        d.next_packet()
    assert ei.value.reason is None
    assert d.peek() == data     # nothing consumed: ssl reports the whole buffer
    assert invalid_packet(d.take_all(), True) == (Atom("invalid_packet"), data)


def test_invalid_packet_reason_in_list_mode_is_a_charlist():
    reason = invalid_packet(b"\x05\x01", False)
    assert binary_to_term(term_to_binary(reason)) == (Atom("invalid_packet"), [5, 1])


# ---- encode_packet --------------------------------------------------------------
@pytest.mark.parametrize("ptype, n, limit", [(1, 256, 255), (2, 65536, 65535)])
def test_encode_too_large(ptype, n, limit):
    with pytest.raises(PacketTooLarge) as ei:
        encode_packet(ptype, b"\x00" * n)
    exc = ei.value
    assert isinstance(exc, ValueError)
    assert exc.args[0] == (Atom("packet_to_large"), n, limit)
    assert exc.reason == (Atom("badarg"), (Atom("packet_to_large"), n, limit))
    assert str(n) in str(exc)


def test_encode_boundaries_and_other_types():
    assert encode_packet(1, b"x" * 255)[:1] == b"\xff"
    assert encode_packet(2, b"") == b"\x00\x00"
    assert encode_packet(4, memoryview(b"ab")) == b"\x00\x00\x00\x02ab"
    for t in (0, Atom("raw"), "line", Atom("asn1"), "tpkt", "cdr", "fcgi", "sunrm"):
        assert encode_packet(t, bytearray(b"\x00" * 70000)) == b"\x00" * 70000


# ---- shape ----------------------------------------------------------------------
def test_shape_values():
    assert shape(b"abc", True) == b"abc"
    assert shape(b"abc", False) == "abc"
    assert shape(b"abc", False, 2) == "abc"          # header is a binary-mode thing
    assert shape(b"abcd", True, 2) == ImproperList((97, 98), b"cd")
    assert shape(b"ab", True, 2) == ImproperList((97, 98), b"")
    assert shape(b"a", True, 2) == [97]
    assert shape(b"", True, 2) == []
    assert shape(b"", True) == b""
    term = (Atom("http_eoh"),)
    assert shape(term, False) is term


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=3000))
def test_list_shape_encodes_as_erlang_byte_list(data):
    enc = term_to_binary(shape(data, False))
    assert binary_to_term(enc) == list(data)
    if 0 < len(data) <= 65535:
        assert enc == b"\x83k" + len(data).to_bytes(2, "big") + data  # STRING_EXT
    elif not data:
        assert enc == b"\x83j"


def test_list_shape_over_65535_bytes():
    data = bytes(range(256)) * 300
    assert binary_to_term(term_to_binary(shape(data, False))) == list(data)


# ---- round trips ----------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(st.sampled_from([1, 2, 4]), st.lists(st.binary(max_size=300), max_size=20),
       st.lists(st.integers(min_value=1, max_value=50), max_size=30))
def test_length_prefixed_round_trip(ptype, payloads, cuts):
    stream = b"".join(encode_packet(ptype, p) for p in payloads)
    d = PacketDecoder(ptype)
    got, i = [], 0
    for c in cuts + [len(stream)]:
        d.feed(stream[i:i + c])
        i += c
        while (p := d.next_packet()) is not None:
            got.append(p)
    assert got == [p for p in payloads] and d.buffered == 0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"") + b"\n"), max_size=20),
       st.integers(min_value=1, max_value=17))
def test_line_round_trip(lines, chunk):
    stream = b"".join(lines)
    d = PacketDecoder("line")
    got = []
    for i in range(0, len(stream), chunk):
        d.feed(stream[i:i + chunk])
        while (p := d.next_packet()) is not None:
            got.append(p)
    assert got == lines


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([1, 2, 4, "sunrm", "line"]), st.integers(min_value=1, max_value=64),
       st.binary(min_size=1, max_size=200))
def test_packet_size_limit_is_exact(ptype, size, body):
    if ptype == "line":
        body = body.replace(b"\n", b"") + b"\n"
        frame = body
    elif ptype == "sunrm":
        frame = (len(body) | 0x80000000).to_bytes(4, "big") + body
    else:
        body = body[:(1 << (8 * ptype)) - 1]
        frame = encode_packet(ptype, body)
    d = PacketDecoder(ptype, size)
    d.feed(frame)
    if len(body) > size:
        with pytest.raises(PacketError):
            d.next_packet()
    else:
        assert d.next_packet() in (body, frame)


# ---- buffer management ----------------------------------------------------------
def test_many_small_packets_compact_the_buffer():
    d = PacketDecoder(1)
    frame = encode_packet(1, b"x" * 9)
    n = 0
    for _ in range(50):
        d.feed(frame * 2000 + frame[:3])
        while d.next_packet() is not None:
            n += 1
        d.feed(frame[3:])
        assert d.next_packet() == b"x" * 9
        n += 1
        assert len(d._buf) < 2 * 2000 * len(frame) + 64 * 1024   # consumed bytes get dropped
    assert n == 50 * 2001 and d.buffered == 0


def test_big_packet_in_small_pieces():
    payload = bytes(range(256)) * 4096                     # 1 MiB
    stream = encode_packet(4, payload)
    d = PacketDecoder(4)
    for i in range(0, len(stream), 16384):
        d.feed(stream[i:i + 16384])
        p = d.next_packet()
        if p is not None:
            assert p == payload
    assert d.buffered == 0


def test_long_line_is_scanned_incrementally():
    d = PacketDecoder("line")
    for _ in range(1000):
        d.feed(b"y" * 1000)
        assert d.next_packet() is None
    assert d._scan == 1_000_000
    d.feed(b"\nrest")
    assert d.next_packet() == b"y" * 1_000_000 + b"\n"
    assert d.peek() == b"rest"


@pytest.mark.parametrize("chunk", [16384, 4093, 65537])
def test_big_packets_back_to_back_across_compactions(chunk):
    import random
    rng = random.Random(chunk)
    payloads = [rng.randbytes(rng.choice([0, 1, 300000, 70000, 5])) for _ in range(12)]
    stream = b"".join(encode_packet(4, p) for p in payloads)
    d = PacketDecoder(4)
    got = []
    for i in range(0, len(stream), chunk):
        d.feed(stream[i:i + chunk])
        while (p := d.next_packet()) is not None:
            got.append(p)
    assert got == payloads and d.buffered == 0
