"""Delivery (bridge/service/delivery.py): what the owner of a socket sees, driven
without a network or an Erlang node — messages go to a list."""
import pytest

from bridge.etf.types import Atom as A
from bridge.etf.types import ImproperList
from bridge.service.delivery import HIGH_WATER, Delivery
from bridge.service.socket_options import ONCE, SocketOptions
from bridge.service.terms import CLOSED, ERROR, OK, SSL, SSL_CLOSED, SSL_ERROR, SSL_PASSIVE, TIMEOUT

S = ("sslsocket", "test")
OWNER = "owner"


class Sink:
    """The owner's mailbox; also counts ``ended`` and flow changes."""

    def __init__(self):
        self.msgs = []
        self.ended = 0
        self.flow = []

    def send(self, pid, msg):
        assert pid == OWNER
        self.msgs.append(msg)

    def take(self):
        out, self.msgs = self.msgs, []
        return out


def make(**opts):
    sink = Sink()
    rec = SocketOptions(**{"mode": A("binary"), **opts})
    d = Delivery(S, OWNER, sink.send, rec, flow=sink.flow.append,
                 ended=lambda: setattr(sink, "ended", sink.ended + 1))
    d.pump()                 # what release() does once the owner has the socket
    return d, sink


def replies():
    got = []
    return got, got.append


# ---- active modes -----------------------------------------------------------------

def test_active_true_one_message_per_packet():
    d, sink = make(packet=A("line"))
    d.data_received(b"a\nb\nc")
    assert sink.take() == [(SSL, S, b"a\n"), (SSL, S, b"b\n")]
    d.data_received(b"\n")
    assert sink.take() == [(SSL, S, b"c\n")]
    assert d.active is True


def test_list_mode_and_header():
    d, sink = make(mode=A("list"))
    d.data_received(b"hi")
    assert sink.take() == [(SSL, S, "hi")]
    d.set_options({"mode": A("binary"), "header": 1})
    d.data_received(b"hi")
    assert sink.take() == [(SSL, S, ImproperList((104,), b"i"))]


def test_once_turns_passive_without_a_message():
    d, sink = make(active=ONCE, packet=A("line"))
    d.data_received(b"a\nb\n")
    assert sink.take() == [(SSL, S, b"a\n")]
    assert d.active is False
    d.set_active(ONCE)
    assert sink.take() == [(SSL, S, b"b\n")]


def test_count_goes_down_and_turns_passive_with_ssl_passive():
    d, sink = make(active=2, packet=A("line"))
    d.data_received(b"a\nb\nc\n")
    assert sink.take() == [(SSL, S, b"a\n"), (SSL, S, b"b\n"), (SSL_PASSIVE, S)]
    assert d.active is False and d.opts.active is False
    d.set_active(1)
    assert sink.take() == [(SSL, S, b"c\n"), (SSL_PASSIVE, S)]


def test_setopts_counts_add_up():
    d, sink = make(active=False)
    d.set_active(3)
    d.set_active(4)
    assert d.active == 7 and sink.take() == []
    d.set_active(-7)
    assert d.active is False and sink.take() == [(SSL_PASSIVE, S)]
    d.set_active(-1)                 # passive already: told again, as ssl does
    assert sink.take() == [(SSL_PASSIVE, S)]


def test_held_socket_keeps_the_value_and_delivers_nothing():
    sink = Sink()
    d = Delivery(S, OWNER, sink.send, SocketOptions(active=5))
    d.decoder.feed(b"x")
    d.set_active(2, held=True)
    assert d.active == 2 and sink.take() == []
    d.pump()
    assert sink.take() == [(SSL, S, "x")]


# ---- passive recv -------------------------------------------------------------------

def test_recv_raw_exact_length_and_zero():
    d, sink = make(active=False)
    got, reply = replies()
    w = d.recv(4, reply)
    assert w is not None and got == []
    d.data_received(b"abcdef")
    assert got == [(OK, b"abcd")]
    assert d.recv(0, reply) is None
    assert got[-1] == (OK, b"ef") and sink.take() == []


def test_recv_cancel_answers_timeout_once():
    d, _sink = make(active=False)
    got, reply = replies()
    w = d.recv(10, reply)
    d.cancel(w)
    d.cancel(w)
    assert got == [(ERROR, TIMEOUT)]


def test_expire_answers_the_due_recvs_in_order_and_tells_the_next_deadline():
    d, _sink = make(active=False)
    got, reply = replies()
    first = d.recv(10, lambda v: reply(("first", v)))
    first.deadline = 5.0
    second = d.recv(10, lambda v: reply(("second", v)))
    second.deadline = 7.0
    d.recv(0, lambda v: reply(("forever", v)))           # no timeout: deadline None
    assert d.expire(4.9) == 5.0 and got == []
    assert d.expire(5.0) == 7.0
    assert got == [("first", (ERROR, TIMEOUT))]
    assert d.expire(100.0) is None
    assert got[1:] == [("second", (ERROR, TIMEOUT))] and len(d.waiters) == 1
    d.data_received(b"x")
    assert got[2:] == [("forever", (OK, b"x"))]


def test_fail_waiters():
    d, _sink = make(active=False)
    got, reply = replies()
    d.recv(1, reply)
    d.recv(1, reply)
    d.fail_waiters(CLOSED)
    assert got == [(ERROR, CLOSED), (ERROR, CLOSED)]


# ---- end of stream and errors -----------------------------------------------------------

def test_peer_close_active_data_first_then_ssl_closed():
    d, sink = make()
    d.data_received(b"tail")
    d.peer_closed()
    assert sink.take() == [(SSL, S, b"tail"), (SSL_CLOSED, S)]
    assert sink.ended == 1
    d.peer_closed()
    assert sink.take() == [] and sink.ended == 1


def test_peer_close_drops_a_partial_packet():
    d, sink = make(packet=2)
    d.data_received(b"\x00\x05ab")
    d.peer_closed()
    assert sink.take() == [(SSL_CLOSED, S)]


def test_peer_close_passive():
    d, sink = make(active=False)
    got, reply = replies()
    d.data_received(b"ab")
    d.recv(5, reply)
    d.peer_closed()
    assert got == [(ERROR, CLOSED)] and sink.take() == [] and sink.ended == 1
    d.recv(0, reply)
    assert got[-1] == (ERROR, CLOSED)


def test_failure_is_an_ssl_error_sent_through_final_send():
    d, sink = make()
    finals = []
    d.final_send = finals.append
    d.failed(A("boom"))
    assert sink.take() == [] and finals == [(SSL_ERROR, S, A("boom"))]


def test_packet_size_exceeded():
    d, sink = make(packet=2, packet_size=3)
    d.data_received(b"\x00\x05hello")
    msgs = sink.take()
    assert msgs == [(SSL_ERROR, S, (A("invalid_packet"), b"\x00\x05hello"))]
    assert sink.ended == 1


# ---- option changes -------------------------------------------------------------------

def test_set_options_reframes_buffered_bytes():
    d, _sink = make(active=False, packet=A("line"))
    d.data_received(b"\x00\x02hi")
    assert d.set_options({"packet": 2}) is True
    assert d.packet == 2 and d.opts.packet == 2
    got, reply = replies()
    d.recv(0, reply)
    assert got == [(OK, b"hi")]
    assert d.set_options({"mode": A("list")}) is False
    assert d.set_options({"line_delimiter": 0}) is True
    assert d.opts.get("line_delimiter") == 0 and d.decoder.delimiter == 10   # kept only


def test_unknown_packet_type():
    with pytest.raises(ValueError):
        Delivery(S, OWNER, Sink().send, SocketOptions(packet=A("nope")))


def test_flow_pauses_a_passive_socket_with_a_full_buffer():
    d, sink = make(active=False)
    d.data_received(b"x" * HIGH_WATER)
    assert sink.flow == [True]
    got, reply = replies()
    d.recv(0, reply)
    assert sink.flow == [True, False] and got[0][0] is OK
