"""The record of emulated socket options and the rules of ``active``
(bridge/service/socket_options.py): no network, no Erlang node."""
import pytest

from bridge.etf.types import Atom as A
from bridge.service import options
from bridge.service import socket_options as so
from bridge.service.options import SslOptionError
from bridge.service.socket_options import ONCE, SocketOptions


# ---- the record ----------------------------------------------------------------

def test_defaults_are_tls_sockets():
    r = SocketOptions()
    assert r.as_dict() == {"mode": A("list"), "packet": 0, "packet_size": 0, "header": 0,
                           "active": True}
    assert r.binary is False


def test_fields_and_extra_by_name():
    r = SocketOptions()
    r.set("mode", A("binary"))
    r.set("line_delimiter", 0)
    r.update({"active": ONCE, "exit_on_close": False})
    assert r.mode is A("binary") and r.binary and r.active is ONCE
    assert r.extra == {"line_delimiter": 0, "exit_on_close": False}
    assert r.get("line_delimiter") == 0 and r.get("deliver") is None
    assert r.get("deliver", A("term")) is A("term")
    assert r.as_dict()["exit_on_close"] is False


def test_copy_is_independent():
    r = SocketOptions(active=5, extra={"deliver": A("term")})
    c = r.copy()
    assert c == r and c is not r
    c.active = False
    c.set("deliver", A("port"))
    assert r.active == 5 and r.get("deliver") is A("term")
    assert c != r


def test_not_hashable():
    with pytest.raises(TypeError):
        hash(SocketOptions())


# ---- the rules of active ---------------------------------------------------------

@pytest.mark.parametrize("v, ok", [
    (True, True), (False, True), (ONCE, True), (0, True), (-32768, True), (32767, True),
    (-32769, False), (32768, False), (1.5, True), (40000.0, False), (A("foo"), False),
    (A("true"), False), (None, False), ([], False),
])
def test_valid_at_open(v, ok):
    assert so.active_valid_at_open(v) is ok


@pytest.mark.parametrize("v, ok", [
    (True, True), (False, True), (ONCE, True), (-32768, True), (32767, True),
    (32768, False), (1.5, False), (A("foo"), False),
])
def test_valid_in_setopts(v, ok):
    assert so.active_valid_in_setopts(v) is ok


def test_listen_einval_only_for_counts_out_of_range():
    assert so.active_listen_einval(40000) and so.active_listen_einval(-40000)
    assert not so.active_listen_einval(5) and not so.active_listen_einval(True)
    assert not so.active_listen_einval(40000.0)


@pytest.mark.parametrize("current, n, over", [
    (32767, 1, True), (-32768, -1, True), (5, -5, False), (32000, 767, False),
    (True, 32767, False), (ONCE, 32767, False), (False, 5, False), (5, True, False),
])
def test_overflow_of_the_running_count(current, n, over):
    assert so.active_overflows(current, n) is over


@pytest.mark.parametrize("current, new, after", [
    (5, 3, (8, False)),                  # counts add up
    (True, 3, (3, False)),               # a socket not counting counts from 0
    (ONCE, 2, (2, False)),
    (5, -5, (False, True)),              # 0: passive, the owner is told
    (False, -1, (False, True)),
    (False, 0, (False, True)),
    (3, ONCE, (ONCE, False)),            # anything else replaces the count
    (3, True, (True, False)),
    (3, False, (False, False)),
])
def test_after_setopts(current, new, after):
    assert so.active_after_setopts(current, new) == after


@pytest.mark.parametrize("current, after", [
    (True, (True, False)), (ONCE, (False, False)), (2, (1, False)), (1, (False, True)),
])
def test_after_packet(current, after):
    assert so.active_after_packet(current) == after


# ---- the record made by the option parse ------------------------------------------

def test_parse_makes_the_record():
    p = options.parse_connect_options([A("binary"), (A("active"), A("once")), (A("packet"), 2),
                                       (A("line_delimiter"), 0), (A("nodelay"), True)])
    assert isinstance(p.socket, SocketOptions)
    assert p.socket.binary and p.socket.active is ONCE and p.socket.packet == 2
    assert p.socket.extra == {"line_delimiter": 0}
    assert p.inet == {"nodelay": True}
    # gen_tcp gets the caller's options, then ssl's own: binary, passive, no framing
    assert p.inet_list == [(A("nodelay"), True), (A("line_delimiter"), 0),
                           (A("packet_size"), 0), (A("packet"), 0), (A("header"), 0),
                           (A("active"), False), (A("mode"), A("binary"))]


def test_parse_refuses_as_the_rules_say():
    with pytest.raises(SslOptionError) as ei:
        options.parse_connect_options([(A("active"), 40000)])
    assert ei.value.term == (A("error"), (A("options"), (A("active"), 40000)))
    assert options.parse_connect_options([(A("active"), 2.0)]).socket.active == 2.0
    with pytest.raises(SslOptionError) as ei:
        options.parse_setopts([(A("active"), 2.0)])
    assert ei.value.term == (A("error"), (A("options"), (A("socket_options"), (A("active"), 2.0))))
    assert options.parse_setopts([(A("active"), -3)]) == [("active", -3)]


def test_handshake_parse_copies_the_listen_record():
    listen = options.parse_listen_options([(A("active"), False)])
    p = options.parse_handshake_options([], listen)
    assert p.socket == listen.socket and p.socket is not listen.socket
