"""Property tests of the distribution framing (``bridge.node.protocol``): ``Framer.feed``
and ``parse_body`` on arbitrary byte streams.

The contract these tests pin down:

* ``Framer.feed`` returns events in arrival order — ``None`` (tick), a
  ``(control, payload)`` tuple, ``BadMessage`` for a frame whose terms do not
  decode, or ``LargeBody`` for a body over ``inline_max`` (whatever its first byte;
  its ``event()``, called later and after more feeds, gives what the body decodes
  to, or raises FramingError for a body that is not pass-through) — and raises
  nothing but ``FramingError``.
* The events do not depend on how the stream is cut into reads: the same stream fed
  whole, byte by byte or in any chunking gives the same events, and a reference
  framer written here (4-byte length, 0 = tick, body parsed by ``parse_body``)
  gives them too.
* ``FramingError`` ("the connection must be closed") comes for a length above
  ``max_frame`` as soon as its 4 header bytes are in, and for a body whose first byte
  is not 112 (pass-through) once the whole frame is in. The call that raises returns
  no events: events of frames completed in that same call are lost, those of earlier
  calls were delivered. After a FramingError the Framer must not be fed again (its
  buffer is left as it was; the node closes the connection).
* ``parse_body`` on a non-empty body returns ``(control, payload)`` with an integer
  control tag and ``payload is None`` exactly when the tag carries no payload, or
  raises ``ETFDecodeError`` / ``FramingError`` (the latter iff the first byte is not 112).
  An empty body is a tick and never reaches ``parse_body``.
"""
from __future__ import annotations

import math
import struct

import pytest
from hypothesis import event, example, given, settings, strategies as st

from bridge.node import protocol as P
from bridge.node.protocol import (TICK, WITH_PAYLOAD, BadMessage, Framer, FramingError,
                                  LargeBody, body_event, encode_frame, parse_body)
from bridge.etf.codec import ETFDecodeError
from bridge.etf.types import Atom

pytestmark = pytest.mark.fuzz

_TAGS = sorted({v for k, v in vars(P).items() if k.isupper() and isinstance(v, int)
                and 0 < v < 64})

# ---- terms that survive an encode/decode round trip unchanged ----------------

# (the atoms true and false decode as Python bools: they are the booleans below)
_atoms = st.one_of(st.sampled_from(["", "rex", "net_kernel", "x@h", "undefined", "ok"]),
                   st.text(max_size=8).filter(lambda s: s not in ("true", "false"))).map(Atom)
_scalars = st.one_of(
    st.integers(min_value=-(1 << 70), max_value=1 << 70), _atoms, st.booleans(),
    st.binary(max_size=40),
    st.floats(allow_nan=False, allow_infinity=False),
)
_terms = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.lists(inner, max_size=5).map(tuple)),
    max_leaves=12,
)


@st.composite
def _controls(draw):
    tag = draw(st.one_of(st.sampled_from(_TAGS), st.integers(-5, 300)))
    rest = draw(st.lists(_terms, max_size=4))
    return (tag, *rest)


def _valid_frame(draw) -> bytes:
    control = draw(_controls())
    mode = draw(st.sampled_from(["auto", "auto", "payload", "none"]))
    if mode == "none":
        return encode_frame(control)
    payload = draw(_terms)
    if mode == "payload" or control[0] in WITH_PAYLOAD:
        return encode_frame(control, payload, has_payload=True)
    return encode_frame(control)


_valid_frames = st.composite(_valid_frame)()


def _sized(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


_CLEAN = ["valid"] * 5 + ["tick", "junkbody", "junkbody"]
_DIRTY = _CLEAN + ["nonpass", "raw", "raw", "mutated", "mutated", "bigheader"]


@st.composite
def _segment(draw, kinds) -> bytes:
    kind = draw(st.sampled_from(kinds))
    if kind == "valid":
        return _valid_frame(draw)
    if kind == "tick":
        return TICK
    if kind == "junkbody":          # right length, body of pass-through + junk terms
        return _sized(draw(st.sampled_from([b"p\x83", b"p", b"p\x83h\x01", b"p\x83a"]))
                      + draw(st.binary(max_size=30)))
    if kind == "nonpass":           # right length, wrong frame type (atom cache, ...)
        return _sized(draw(st.binary(min_size=1, max_size=20).filter(lambda b: b[0] != 112)))
    if kind == "mutated":           # a valid frame with one byte changed
        frame = bytearray(_valid_frame(draw))
        i = draw(st.integers(0, len(frame) - 1))
        frame[i] = draw(st.integers(0, 255))
        return bytes(frame)
    if kind == "bigheader":
        return struct.pack(">I", draw(st.sampled_from([0x7FFFFFFF, 0x80000000, 0x80000001,
                                                       0xFFFFFFFF]))) + draw(st.binary(max_size=8))
    return draw(st.binary(max_size=24))


# streams of well-formed frames (some with undecodable terms), and streams that may
# also hold garbage that breaks the framing
_streams = st.one_of(st.lists(_segment(_CLEAN), min_size=1, max_size=8),
                     st.lists(_segment(_DIRTY), max_size=8)).map(b"".join)
_inline_maxes = st.sampled_from([None, None, 0, 1, 8, 30, 100])
_max_frames = st.sampled_from([1 << 31] * 6 + [0, 1, 5, 16, 40, 200])


# ---- reference framer ----------------------------------------------------------

def reference(stream: bytes, max_frame: int, inline_max=None):
    """``(events, end_offsets, error_at)``: the events with the offset where each frame
    ends, and the offset at which a FramingError is due (None if none is). A body over
    ``inline_max`` is ``("large", body)``: the Framer hands it over undecoded."""
    inline = max_frame if inline_max is None else inline_max
    events, ends = [], []
    pos, n = 0, len(stream)
    while n - pos >= 4:
        size = struct.unpack_from(">I", stream, pos)[0]
        if size > max_frame:
            return events, ends, pos + 4
        end = pos + 4 + size
        if end > n:
            break
        body = stream[pos + 4:end]
        if size == 0:
            ev = None
        elif size > inline:
            ev = ("large", body)
        elif body[0] != 112:
            return events, ends, end
        else:
            try:
                ev = parse_body(body)
            except ETFDecodeError as exc:
                ev = BadMessage(exc, body)
        events.append(ev)
        ends.append(end)
        pos = end
    return events, ends, None


def _norm(ev):
    """Events as comparable values: BadMessage by its frame and error type, LargeBody
    by what its ``event()`` gives (the node calls it on a thread)."""
    if isinstance(ev, LargeBody) or (type(ev) is tuple and ev and ev[0] == "large"):
        body = ev[1] if type(ev) is tuple else None
        try:
            decoded = ev.event() if body is None else body_event(body)
        except FramingError:
            return ("large", "FramingError")
        return ("large", _norm(decoded))
    if isinstance(ev, BadMessage):
        assert isinstance(ev.error, ValueError), ev.error
        return ("bad", bytes(ev.frame), type(ev.error))
    if ev is None:
        return None
    assert type(ev) is tuple and len(ev) == 2, ev
    return ("msg", _strict(ev[0]), _strict(ev[1]))


def _strict(t):
    """Python equates True and 1, 1.0 and 1: tag the types so the comparison does not."""
    if isinstance(t, (list, tuple)):
        return (type(t).__name__, tuple(_strict(x) for x in t))
    if isinstance(t, float):
        return ("float", t, math.copysign(1.0, t))
    return (type(t).__name__, t)


def _feed_chunks(stream: bytes, cuts: list[int], max_frame: int, inline_max=None):
    """Feed stream cut at ``cuts``: ``(delivered events, end of the read that raised
    FramingError or None, its start)``."""
    f = Framer(max_frame, inline_max)
    got = []
    bounds = sorted(cuts) + [len(stream)]
    start = 0
    for b in bounds:
        try:
            evs = f.feed(stream[start:b])
        except FramingError:
            return got, b, start
        assert isinstance(evs, list)
        got += evs
        start = b
    return got, None, None


def _check(stream: bytes, cuts: list[int], max_frame: int, inline_max=None):
    ref_events, ref_ends, error_at = reference(stream, max_frame, inline_max)
    event("error" if error_at is not None else "clean")
    event("has BadMessage" if any(isinstance(e, BadMessage) for e in ref_events) else "no BadMessage")
    event(f"{min(len([e for e in ref_events if type(e) is tuple]), 3)} messages")
    got, raised_end, raised_start = _feed_chunks(stream, cuts, max_frame, inline_max)
    if error_at is None:
        assert raised_end is None, "FramingError where the reference frames the stream"
        assert [_norm(e) for e in got] == [_norm(e) for e in ref_events]
    else:
        # the error comes in the read that completes its detection point ...
        assert raised_end is not None, "no FramingError where the reference has one"
        assert raised_start < error_at <= raised_end
        # ... and exactly the frames completed in earlier reads were delivered
        expect = [e for e, end in zip(ref_events, ref_ends) if end <= raised_start]
        assert [_norm(e) for e in got] == [_norm(e) for e in expect]


# ---- properties -------------------------------------------------------------------

@settings(deadline=None)
@given(stream=_streams, max_frame=_max_frames, inline_max=_inline_maxes, data=st.data())
@example(stream=TICK + _sized(b"D\x00"), max_frame=1 << 31, inline_max=None, data=None)
@example(stream=TICK + _sized(b"D\x00") + TICK, max_frame=1 << 31, inline_max=1, data=None)
@example(stream=encode_frame((P.SEND, Atom(""), Atom("p")), 1) + b"\xff\xff\xff\xff",
         max_frame=1 << 31, inline_max=None, data=None)
def test_framer_any_chunking_matches_reference(stream, max_frame, inline_max, data):
    """Whole, in random chunks (empty chunks included) and byte by byte: the same
    events as the reference framer, and FramingError exactly where it says."""
    _check(stream, [], max_frame, inline_max)
    if data is not None:
        cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=12), label="cuts")
        _check(stream, cuts, max_frame, inline_max)
    if len(stream) <= 600:
        _check(stream, list(range(1, len(stream))), max_frame, inline_max)


@settings(deadline=None)
@given(frames=st.lists(st.one_of(st.just(TICK), _valid_frames), max_size=10),
       inline_max=_inline_maxes, data=st.data())
def test_valid_frames_in_any_chunking_give_their_terms(frames, inline_max, data):
    """Frames built with encode_frame come back as (control, payload) (or BadMessage
    when the control and payload disagree) in any chunking, never a FramingError."""
    stream = b"".join(frames)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=12), label="cuts")
    got, raised, _ = _feed_chunks(stream, cuts, 1 << 31, inline_max)
    assert raised is None
    assert len(got) == len(frames)
    for frame, ev in zip(frames, got):
        if isinstance(ev, LargeBody):
            assert inline_max is not None and len(frame) - 4 > inline_max
            ev = ev.event()
        if frame == TICK:
            assert ev is None
        elif isinstance(ev, BadMessage):
            assert bytes(ev.frame) == frame[4:]
        else:
            control, payload = ev
            assert type(control) is tuple and isinstance(control[0], int)
            assert (payload is None) == (control[0] not in WITH_PAYLOAD)
            if payload is None:
                assert encode_frame(control) == frame
            else:
                assert encode_frame(control, payload, has_payload=True) == frame


@settings(deadline=None)
@given(control=_controls(), payload=_terms)
def test_parse_body_round_trip(control, payload):
    with_payload = control[0] in WITH_PAYLOAD
    frame = encode_frame(control, payload, has_payload=True) if with_payload else encode_frame(control)
    assert struct.unpack_from(">I", frame)[0] == len(frame) - 4
    got = parse_body(frame[4:])
    expect = (control, payload if with_payload else None)
    assert _strict(got) == _strict(expect)


@settings(deadline=None)
@given(body=st.one_of(
    st.binary(min_size=1, max_size=60),
    st.tuples(st.sampled_from([b"p\x83", b"p\x83h\x02a\x02", b"p\x83h\x01a\x16\x83"]),
              st.binary(max_size=40)).map(b"".join),
    st.tuples(_controls(), _terms, st.binary(max_size=6), st.integers(0, 80)).map(
        lambda t: (encode_frame(t[0], t[1], has_payload=True)[4:] + t[2])[:t[3] or None]),
))
@example(body=b"p")
@example(body=b"\x83")
@example(body=b"p\x83h\x01d\x00\x04true")   # {true}: an atom tag (bool is an int in Python)
def test_parse_body_arbitrary(body):
    try:
        control, payload = parse_body(body)
    except FramingError:
        assert body[0] != 112
        return
    except ETFDecodeError as exc:
        assert body[0] == 112
        assert isinstance(exc.offset, int)
        return
    assert body[0] == 112
    assert type(control) is tuple and control and isinstance(control[0], int)
    assert (payload is None) == (control[0] not in WITH_PAYLOAD)


@settings(deadline=None)
@given(stream=_streams, data=st.data())
def test_framer_state_survives_many_small_feeds(stream, data):
    """A stream that frames cleanly, then valid frames: what the framer carried over
    between reads (a partial header, a partial body) does not leak into later frames."""
    ref_events, _, error_at = reference(stream, 1 << 31)
    if error_at is not None:
        return
    tail = b"".join([TICK, encode_frame((P.LINK, Atom("a"), Atom("b"))), TICK])
    steps = data.draw(st.lists(st.integers(1, 7), min_size=1, max_size=8), label="steps")
    f = Framer()
    got = []
    pos = 0
    i = 0
    while pos < len(stream):
        k = steps[i % len(steps)]
        i += 1
        got += f.feed(stream[pos:pos + k])
        pos += k
    # whatever incomplete frame the stream ends with swallows the tail's bytes first
    full = stream + tail
    ref_full, _, err_full = reference(full, 1 << 31)
    try:
        got += f.feed(tail)
    except FramingError:
        assert err_full is not None
        return
    assert err_full is None
    assert [_norm(e) for e in got] == [_norm(e) for e in ref_full]
