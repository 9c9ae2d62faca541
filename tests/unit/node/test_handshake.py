"""Handshake v6 and framing without sockets: two state machines talk to each other."""
import struct

import pytest

from bridge.node import handshake as hs
from bridge.node.protocol import (BadMessage, Framer, FramingError, REG_SEND, SEND, TICK,
                                  encode_frame)
from bridge.etf import Atom, Pid


def pump(a, b, rounds=10):
    for _ in range(rounds):
        out_a = a.data_to_send()
        if out_a:
            b.receive(out_a)
        out_b = b.data_to_send()
        if out_b:
            a.receive(out_b)
        if not out_a and not out_b:
            break


def pair(cookie_i="c1", cookie_a="c1", dialled="b@h", decide=lambda n: "ok"):
    i = hs.Initiator("a@h", cookie_i, 7, dialled)
    a = hs.Acceptor("b@h", cookie_a, 9, decide)
    return i, a


def test_handshake_succeeds_and_negotiates_flags():
    i, a = pair()
    pump(i, a)
    assert i.done and a.done
    assert i.peer_name == "b@h" and a.peer_name == "a@h"
    assert i.peer_creation == 9 and a.peer_creation == 7
    assert i.flags == a.flags == hs.OUR_FLAGS
    assert not i.flags & hs.PUBLISHED            # hidden


def test_acceptor_rejects_wrong_cookie():
    i, a = pair(cookie_i="right", cookie_a="wrong")
    with pytest.raises(hs.HandshakeError, match="cookie"):
        pump(i, a)
    assert not a.done


def test_initiator_rejects_wrong_cookie_in_ack():
    i, a = pair()
    i.receive(a.data_to_send())                    # nothing yet
    a.receive(i.data_to_send())                    # name
    i.receive(a.data_to_send())                    # status + challenge
    reply = i.data_to_send()
    a.receive(reply)
    ack = a.data_to_send()
    bad = ack[:3] + bytes([ack[3] ^ 1]) + ack[4:]
    with pytest.raises(hs.HandshakeError, match="cookie"):
        i.receive(bad)


def test_initiator_checks_the_name_it_dialled():
    i, a = pair(dialled="other@h")
    with pytest.raises(hs.HandshakeError, match="dialled"):
        pump(i, a)


def test_refusal_status_is_an_error():
    i, a = pair(decide=lambda n: "not_allowed")
    with pytest.raises(hs.HandshakeError):
        pump(i, a)


def test_challenges_are_random():
    assert len({hs.Initiator("a@h", "c", 1, "b@h")._challenge for _ in range(20)}) > 15


def test_digest_matches_otp_definition():
    import hashlib
    assert hs.digest(12345, "cookie") == hashlib.md5(b"cookie12345").digest()


def test_missing_mandatory_flags_refused():
    i = hs.Initiator("a@h", "c", 1, "b@h", flags=hs.EXTENDED_REFERENCES)
    a = hs.Acceptor("b@h", "c", 2, lambda n: "ok")
    with pytest.raises(hs.HandshakeError, match="mandatory"):
        pump(i, a)


def test_truncated_and_garbage_messages():
    a = hs.Acceptor("b@h", "c", 2, lambda n: "ok")
    with pytest.raises(hs.HandshakeError):
        a.receive(struct.pack(">H", 3) + b"Nxx")
    a2 = hs.Acceptor("b@h", "c", 2, lambda n: "ok")
    with pytest.raises(hs.HandshakeError):
        a2.receive(struct.pack(">H", 0))


def test_leftover_bytes_after_handshake_are_kept():
    i, a = pair()
    a.receive(i.data_to_send())
    i.receive(a.data_to_send())
    a.receive(i.data_to_send())
    ack = a.data_to_send()
    i.receive(ack + TICK)
    assert i.done and i.leftover == TICK


PID = Pid(Atom("x@h"), 1, 0, 3)


def test_framer_ticks_messages_and_every_split():
    frames = TICK + encode_frame((SEND, Atom(""), PID), {Atom("k"): [1, 2]}) + TICK \
        + encode_frame((REG_SEND, PID, Atom(""), Atom("rex")), (1, "ab"))
    expected = Framer().feed(frames)
    assert expected[0] is None and expected[2] is None
    assert expected[1] == ((SEND, Atom(""), PID), {Atom("k"): [1, 2]})
    assert expected[3] == ((REG_SEND, PID, Atom(""), Atom("rex")), (1, [97, 98]))
    for cut in range(len(frames)):
        f = Framer()
        assert f.feed(frames[:cut]) + f.feed(frames[cut:]) == expected


def test_framer_byte_by_byte_and_three_pieces():
    bad = b"p\x83\xff"
    frames = encode_frame((SEND, Atom(""), PID), b"x" * 300) + TICK \
        + struct.pack(">I", len(bad)) + bad + encode_frame((SEND, Atom(""), PID), [1, 2, 3])
    expected = Framer().feed(frames)
    assert len(expected) == 4 and isinstance(expected[2], BadMessage)
    f = Framer()
    got = []
    for i in range(len(frames)):
        got += f.feed(frames[i:i + 1])
    assert got[:2] + got[3:] == expected[:2] + expected[3:]
    assert isinstance(got[2], BadMessage) and got[2].frame == expected[2].frame
    n = len(frames)
    for a in range(0, n, 7):
        for b in range(a, n, 13):
            f = Framer()
            got = f.feed(frames[:a]) + f.feed(frames[a:b]) + f.feed(frames[b:])
            assert got[:2] + got[3:] == expected[:2] + expected[3:]
    assert f._buf == bytearray()


def test_framer_reports_undecodable_message_and_goes_on():
    bad = b"p\x83\xff"
    frames = struct.pack(">I", len(bad)) + bad + TICK
    events = Framer().feed(frames)
    assert isinstance(events[0], BadMessage) and events[1] is None


def test_framer_rejects_atom_cache_frames():
    body = b"D\x00"
    with pytest.raises(FramingError):
        Framer().feed(struct.pack(">I", len(body)) + body)


def test_parse_body_refuses_an_empty_body_and_a_bool_tag():
    from bridge.node.protocol import parse_body
    from bridge.etf import ETFDecodeError, term_to_binary
    with pytest.raises(FramingError):
        parse_body(b"")
    # {true, ...}: true decodes as a Python bool, which is an int; it is no tag
    with pytest.raises(ETFDecodeError):
        parse_body(b"p" + term_to_binary((True, PID, PID)))


def test_handshake_with_4_byte_prefixes_as_inet_tls_dist():
    # inet_tls_dist runs the handshake on a {packet, 4} ssl socket
    i = hs.Initiator("a@h", "c", 7, "b@h", header=4)
    a = hs.Acceptor("b@h", "c", 9, lambda n: "ok", header=4)
    first = i.data_to_send()
    assert struct.unpack(">I", first[:4])[0] == len(first) - 4 and first[4:5] == b"N"
    a.receive(first)
    pump(i, a)
    assert i.done and a.done and a.peer_name == "a@h"


def test_oversized_handshake_message_refused_before_buffering():
    a = hs.Acceptor("b@h", "c", 9, lambda n: "ok", header=4)
    with pytest.raises(hs.HandshakeError, match="handshake message of"):
        a.receive(struct.pack(">I", 1 << 30) + b"N")
