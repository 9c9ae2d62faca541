"""PacketDecoder against the real ``erlang:decode_packet/3`` (one ``erl`` for the module).

Every case is run through Erlang the way ssl does it: ``decode_packet`` repeatedly on
the rest until ``{more, _}`` or ``{error, _}``. The Python decoder must give the same
packets, the same final state (more / error) and the same remaining bytes, when fed
the whole input at once, at every split point, and one byte at a time.
"""
from __future__ import annotations

import random

import pytest

import erlbatch
from bridge.etf.types import Atom
from bridge.service.packet import PacketDecoder, PacketError

ERL_LOOP = r"""
{ok, In} = file:read_file(InFile),
Cases = binary_to_term(In),
Loop = fun L(T, B, O, Acc) ->
           case catch erlang:decode_packet(T, B, O) of
               {ok, P, R} -> L(T, R, O, [P | Acc]);
               {more, _} -> {lists:reverse(Acc), more, B};
               {error, E} -> {lists:reverse(Acc), {error, E}, B};
               {'EXIT', {badarg, _}} -> {lists:reverse(Acc), badarg, B}
           end
       end,
Res = [Loop(T, B, O, []) || {T, B, O} <- Cases],
ok = file:write_file(OutFile, term_to_binary(Res)),
halt().
"""

TYPES = [1, 2, 4, "raw", "line", "asn1", "cdr", "sunrm", "fcgi", "tpkt"]
SIZES = [0, 1, 3, 4, 5, 8, 300]


def _erl_type(t):
    return t if isinstance(t, int) else Atom(t)


def _rand_header(rng: random.Random, t) -> bytes:
    """A header of type t with a small random length (sometimes broken)."""
    n = rng.choice([0, 1, 2, 3, 5, 7, rng.randrange(0, 600)])
    if t in (1, 2, 4):
        return min(n, (1 << (8 * t)) - 1).to_bytes(t, "big")
    if t == "sunrm":
        return (n | (rng.getrandbits(1) << 31)).to_bytes(4, "big")
    if t == "line":
        return b"x" * rng.randrange(0, 8) + rng.choice([b"\n", b"", b"\r\n", b";"])
    if t == "asn1":
        tag = rng.choice([b"\x30", b"\x04", b"\x1f\x81\x01", b"\x3f\x02", b"\x1f\x80\x80\x05"])
        form = rng.randrange(5)
        if form == 0:
            ln = bytes([n & 0x7F])
        elif form == 4:
            ln = b"\x80"
        else:
            k = rng.randrange(1, 6)
            ln = bytes([0x80 | k]) + n.to_bytes(8, "big")[-k:]
        return tag + ln
    if t == "cdr":
        magic = b"GIOP" if rng.random() < 0.9 else b"GIOX"
        flags = rng.randrange(4)
        size = n.to_bytes(4, "little" if flags & 1 else "big")
        return magic + bytes([1, 2, flags, 0]) + size
    if t == "fcgi":
        version = 1 if rng.random() < 0.9 else rng.randrange(256)
        return bytes([version, 1, 0, 1]) + (n % 70).to_bytes(2, "big") + bytes([rng.randrange(4), 0])
    if t == "tpkt":
        version = 3 if rng.random() < 0.9 else 2
        return bytes([version, 0]) + rng.choice([n, 0, 3, 4, 5]).to_bytes(2, "big")
    return b""


def _fixed_cases():
    big = [b"\x7f\xff\xff\xfb", b"\x7f\xff\xff\xfc", b"\x80\x00\x00\x00", b"\xff\xff\xff\xff"]
    cases = []
    for t in (4, "sunrm"):
        for h in big:
            cases.append((t, h + b"abc", 0))
            cases.append((t, h, 0x7FFFFFFF))
            cases.append((t, h, 0xFFFFFFFF))
    for h in (b"\x84\x7f\xff\xff\xfa", b"\x84\x7f\xff\xff\xf9", b"\x84\xff\xff\xff\xff",
              b"\x85\x00\x00\x00\x00\x01", b"\x86\x01", b"\x80", b"\x00", b"\x81\x00"):
        cases.append(("asn1", b"\x30" + h + b"xyz", 0))
        cases.append(("asn1", b"\x30" + h, 1))
    cases += [
        ("asn1", b"\x1f", 0), ("asn1", b"\x1f\x80", 0), ("asn1", b"\x1f\x80\x80", 0),
        ("asn1", b"\x1f\x80\x80\x01", 0), ("asn1", b"\x1f\x80\x80\x01\x02\x00", 0),
        ("asn1", b"\x1f\x01", 0), ("asn1", b"\x1f\x01\x00", 0),
        ("line", b"abcdefgh\nxy", 4), ("line", b"abcd", 4), ("line", b"abcde", 4),
        ("line", b"abc\n", 4), ("line", b"abcd\n", 4), ("line", b"\n\n\n", 1),
        ("line", b"", 0), ("line", b"abc", 0), ("line", b"a\nb\nc", 0),
        ("tpkt", b"\x03\x00\x00\x00", 0), ("tpkt", b"\x03\x00\x00\x03", 0),
        ("tpkt", b"\x03\x00\x00\x04", 0), ("tpkt", b"\x03\x00\xff\xff", 0xFFFB),
        ("tpkt", b"\x03\x00\xff\xff", 0xFFFA),
        ("fcgi", b"\x01\x01\x00\x01\x00\x02\x03\x00AB\x00\x00\x09rest", 0),
        ("fcgi", b"\x01\x01\x00\x01\x00\x02\x03\x00AB\x00\x00\x09rest", 4),
        ("fcgi", b"\x01\x01\x00\x01\x00\x02\x03\x00AB\x00\x00\x09rest", 5),
        ("fcgi", b"\x01\x01\x00\x01\x00\x00\x00\x00", 0),
        ("cdr", b"GIOP\x01\x00\x01\x00\x02\x00\x00\x00abc", 0),
        ("cdr", b"GIOP\x01\x00\x00\x00\x00\x00\x00\x02abc", 1),
        ("cdr", b"GIOP\x01\x00\x00\x00\xff\xff\xff\xff", 0),
        ("cdr", b"giop\x01\x00\x00\x00\x00\x00\x00\x00", 0),
        (1, b"\x05\x01\x02\x03\x04\x05\x06", 4), (1, b"\x05\x01\x02\x03\x04\x05\x06", 5),
        (1, b"\x00\x00\x00", 0), (2, b"\x00", 0), (2, b"\x00\x00", 0),
        (4, b"\x00\x00\x00\x01", 0), (4, b"\x00\x00\x00\x00\x00\x00\x00\x00", 0),
        ("raw", b"", 0), ("raw", b"\x01", 0), ("raw", b"abc", 1),
    ]
    return cases


def _random_cases(seed=20240, per_type=160):
    rng = random.Random(seed)
    cases = []
    for t in TYPES:
        for _ in range(per_type):
            parts = []
            for _ in range(rng.randrange(1, 5)):
                head = _rand_header(rng, t)
                parts.append(head)
                body_len = rng.choice([0, 1, 2, 3, 5, 8, rng.randrange(0, 80)])
                parts.append(bytes(rng.randrange(256) if rng.random() < 0.3 else 0x61
                                    for _ in range(body_len)))
                if t == "line" and rng.random() < 0.5:
                    parts.append(b"\n")
            if rng.random() < 0.2:
                parts.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 6))))
            cases.append((t, b"".join(parts), rng.choice(SIZES)))
    return cases


CASES = _fixed_cases() + _random_cases()


@pytest.fixture(scope="module")
def erlang_results():
    terms = [(_erl_type(t), b, [(Atom("packet_size"), size)]) for t, b, size in CASES]
    results = erlbatch.run(terms, ERL_LOOP)
    assert len(results) == len(CASES)
    return results


def _drain(dec: PacketDecoder, packets: list):
    while True:
        try:
            p = dec.next_packet()
        except PacketError:
            return "error"
        if p is None:
            return "more"
        packets.append(p)


def _run(t, data: bytes, size: int, chunks):
    dec = PacketDecoder(t, size)
    packets: list = []
    state = "more"
    for c in chunks:
        dec.feed(c)
        if state != "error":  # after an error ssl stops cutting; the bytes pile up
            state = _drain(dec, packets)
    return packets, state, dec.peek()


def _expected(res):
    packets, final, rest = res
    if final == Atom("more"):
        state = "more"
    elif isinstance(final, tuple) and final[0] == Atom("error"):
        state = "error"
    else:
        state = repr(final)
    return [bytes(p) for p in packets], state, bytes(rest)


def test_table_size():
    # Sanity: the comparison below covers every type, and both outcomes.
    assert {t for t, _, _ in CASES} == set(TYPES)
    assert len(CASES) > 1500


def test_whole_input_matches_decode_packet(erlang_results):
    states = {"more": 0, "error": 0}
    for (t, data, size), res in zip(CASES, erlang_results):
        exp = _expected(res)
        got = _run(t, data, size, [data])
        assert got == exp, (t, data, size)
        states[exp[1]] += 1
    assert states["more"] > 100 and states["error"] > 100, states


def test_every_split_matches(erlang_results):
    checked = 0
    for (t, data, size), res in zip(CASES, erlang_results):
        exp = _expected(res)
        if len(data) > 200:
            continue
        for k in range(1, len(data)):
            got = _run(t, data, size, [data[:k], data[k:]])
            if t == "raw":
                assert got == ([data[:k], data[k:]], "more", b"")
            else:
                assert got == exp, (t, data, size, k)
            checked += 1
        bytewise = _run(t, data, size, [data[i:i + 1] for i in range(len(data))])
        if t == "raw":   # raw hands out whatever is there
            assert b"".join(bytewise[0]) + bytewise[2] == b"".join(exp[0]) + exp[2]
        else:
            assert bytewise == exp, (t, data, size, "bytewise")
    assert checked > 10000

