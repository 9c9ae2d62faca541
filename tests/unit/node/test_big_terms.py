"""Huge terms without long pauses (docs/architecture.md, "Robustness rules"): the
pieces that keep every C call short — big lists out of the collector's reach and
freed in steps (bridge.node.bigterms), big bodies copied and big frames joined
without the GIL or not at all, big frames written a piece at a time under the
transport's flow control, and file names of PATH_MAX bytes or more kept in pieces
(service.terms.LongPath). The stall they prevent is measured end to end in
test_robustness_probes."""
import asyncio
import gc
import time
import types

import pytest

from bridge.etf import Atom, binary_to_term, term_to_binary
from bridge.node import bigterms
from bridge.node.connection import Connection
from bridge.node.protocol import FRAME_PIECES_MIN, SEND, LargeBody, encode_frame, parse_body
from bridge.service import options
from bridge.service.terms import PATH_MAX, LongPath

A = Atom


def _wait(cond, what, limit=30.0):
    # waits for an event (the janitor's pass); the limit only bounds a failure
    end = time.monotonic() + limit
    while not cond():
        assert time.monotonic() < end, f"never: {what}"
        time.sleep(0.01)


# ---- bigterms ---------------------------------------------------------------------

def test_a_big_list_is_adopted_frozen_and_freed_in_steps_once_unused():
    big = [97] * (bigterms.BIG_LIST + 5)
    term = (A("x"), [1, (2, big)], {A("k"): [3]})
    bigterms.pause_gc()
    try:
        assert not gc.isenabled()
        assert bigterms.adopt_big_lists(term) == 1
    finally:
        bigterms.resume_gc()
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0          # out of every collection's reach
    keep = big
    del term, big
    time.sleep(3 * bigterms.JANITOR_PERIOD)   # still used here: not touched
    assert len(keep) == bigterms.BIG_LIST + 5 and bigterms.adopted() == 1
    del keep
    _wait(lambda: bigterms.adopted() == 0, "the janitor frees the list")
    _wait(lambda: gc.get_freeze_count() == 0, "the janitor unfreezes")


def test_small_lists_are_left_alone():
    assert bigterms.adopt_big_lists(([1] * 1000, (2, [3]))) == 0


def test_join_bytes_of_a_big_result_is_the_join():
    pieces = [bytes([i]) * (1 << 20) for i in range(6)] + [memoryview(b"tail")]
    want = b"".join(pieces)
    assert len(want) >= bigterms.JOIN_OFF_GIL_MIN
    assert bigterms.join_bytes(pieces) == want
    assert pieces == []                       # let go before the copy is read back


# ---- frames -----------------------------------------------------------------------

def test_a_big_frame_is_encoded_in_pieces_and_a_small_one_whole():
    small = encode_frame((SEND, A(""), A("p")), [1, 2, 3])
    assert type(small) is bytes
    payload = (A("error"), b"x" * (FRAME_PIECES_MIN + 1), [97] * 300_000)
    big = encode_frame((SEND, A(""), A("p")), payload)
    assert type(big) is list and len(big) > 2
    whole = b"".join(big)
    assert int.from_bytes(whole[:4], "big") == len(whole) - 4
    ctl, got = parse_body(whole[4:])
    assert got == payload
    assert any(p is payload[1] for p in big)   # a big part is not copied


def test_a_large_body_decodes_with_its_big_list_adopted():
    payload = [A("ok"), [7] * bigterms.BIG_LIST]
    frame = b"".join(encode_frame((SEND, A(""), A("p")), payload))
    buf = bytearray(frame)                     # the framer's carry-over buffer
    ctl, got = LargeBody(buf, 4).event()
    assert got == payload
    assert bigterms.adopted() >= 1
    del got
    _wait(lambda: bigterms.adopted() == 0, "the janitor frees the list")


class _Transport:
    """Records writes; over ``high`` buffered bytes it asks the protocol to pause,
    as asyncio's transports do."""

    def __init__(self, high):
        self.proto = None
        self.high = high
        self.buffered = 0
        self.writes = []
        self.paused = False

    def write(self, data):
        self.writes.append(bytes(data))
        self.buffered += len(data)
        if self.buffered > self.high and not self.paused:
            self.paused = True
            self.proto.pause_writing()

    def drain(self):
        self.buffered = 0
        if self.paused:
            self.paused = False
            self.proto.resume_writing()


def _connection():
    node = types.SimpleNamespace(name=A("a@h"), cookie="c", creation=1,
                                 _accept_decision=None)
    conn = Connection(node, initiator_for="b@h")
    conn.transport = _Transport(high=64 * 1024)
    conn.transport.proto = conn
    return conn


def test_a_big_frame_is_written_a_piece_at_a_time_under_flow_control():
    async def run():
        conn = _connection()
        t = conn.transport
        big = encode_frame((SEND, A(""), A("p")), b"y" * (8 << 20))
        conn.send_frame(b"before")
        conn.send_frame(big)
        conn.send_frame(b"after")         # behind the big frame, in order
        # pieces until the transport is over its mark, then nothing until it drains
        limit = t.high + 512 * 1024
        assert t.writes[0] == b"before" and t.paused and t.buffered <= limit
        while conn._out is not None:
            n = len(t.writes)
            t.drain()
            assert len(t.writes) > n and t.buffered <= limit
        assert t.writes[-1] == b"after"
        assert b"".join(t.writes[1:-1]) == b"".join(big)
        assert max(len(w) for w in t.writes) <= 512 * 1024
        t.drain()
        conn.send_frame(b"direct")                 # nothing queued: written at once
        assert t.writes[-1] == b"direct" and conn._out is None
    asyncio.run(run())


def test_frames_corked_before_a_big_one_go_first():
    async def run():
        conn = _connection()
        t = conn.transport
        big = encode_frame((SEND, A(""), A("p")), b"z" * (2 << 20))
        conn._corked = []
        conn.send_frame(b"one")
        conn.send_frame(big)
        conn.send_frame(b"two")
        corked, conn._corked = conn._corked, None
        assert t.writes == []
        t.write(b"".join(corked))                  # as _handle_corked does
        conn._pump()
        while conn._out is not None:
            t.drain()
        assert t.writes[0] == b"one" and t.writes[-1] == b"two"
        assert b"".join(t.writes[1:-1]) == b"".join(big)
    asyncio.run(run())


# ---- long file names ----------------------------------------------------------------

@pytest.mark.parametrize("name", [
    [97] * PATH_MAX,
    [0xE9] * 3000 + [0x1F600] * 300,                   # non-ASCII: quoted as UTF-8 bytes
    b"\xff" * (PATH_MAX + 1),
    "b" * (1 << 19),
], ids=["ascii", "unicode", "binary", "str"])
def test_a_long_path_is_kept_in_pieces_and_quoted_as_its_bytes(name):
    lp = LongPath.of(name)
    raw = bytes(name) if isinstance(name, bytes) else (
        name.encode() if isinstance(name, str) else "".join(map(chr, name)).encode())
    assert len(lp) == len(raw)
    assert binary_to_term(term_to_binary(lp.quoted())) == list(raw)


@pytest.mark.parametrize("name", [[97] * 5000 + [A("x")], [0xD800] * 5000, [-1] * 5000])
def test_a_long_non_path_is_not_a_long_path(name):
    assert LongPath.of(name) is None


def test_a_long_certfile_name_answers_enametoolong_quoting_it():
    name = [0xE9] * 5000
    parsed = options.parse_listen_options([(A("certfile"), name)])
    (opt, path), = [f for f in parsed.files if f[0] == "certfile"]
    assert isinstance(path, LongPath)
    with pytest.raises(options.SslOptionError) as err:
        options.build_tls_config(parsed, "server", {path: A("enametoolong")})
    e, (o, (which, quoted, reason)) = err.value.term
    assert (e, o, which, reason) == (A("error"), A("options"), A("certfile"),
                                     (A("error"), A("enametoolong")))
    assert binary_to_term(term_to_binary(quoted)) == list(("\xe9" * 5000).encode())
