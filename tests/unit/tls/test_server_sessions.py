"""The server side of the reuse_session fun (bridge.tls.sessions): the session id
read from a ClientHello's first bytes, and the registry of what the fun is told."""
from bridge.tls import sessions
from bridge.tls.engine import _twin_sid_ctx


def hello(sid: bytes, record_len=None) -> bytes:
    body = b"\x03\x03" + b"r" * 32 + bytes([len(sid)]) + sid + b"\x00\x02\x00\x2f\x01\x00"
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    n = len(hs) if record_len is None else record_len
    return b"\x16\x03\x01" + n.to_bytes(2, "big") + hs


def test_the_session_id_of_a_client_hello():
    sid = bytes(range(32))
    data = hello(sid)
    assert sessions.offered_session_id(data) == sid
    assert sessions.offered_session_id(hello(b"")) == b""


def test_too_few_bytes_wait_for_more():
    data = hello(bytes(32))
    for cut in (0, 5, 43, 44, 75):
        assert sessions.offered_session_id(data[:cut]) is None, cut
    assert sessions.offered_session_id(data[:76]) == bytes(32)


def test_what_is_not_a_client_hello_offers_nothing():
    assert sessions.offered_session_id(b"\x17" + hello(b"x")[1:]) == b""   # not handshake
    bad = bytearray(hello(b"x"))
    bad[5] = 2                                                             # not ClientHello
    assert sessions.offered_session_id(bytes(bad)) == b""
    bad = bytearray(hello(bytes(32)))
    bad[43] = 33                                                           # id over 32 bytes
    assert sessions.offered_session_id(bytes(bad)) == b""
    # an id cut by the end of a (tiny) first record is not looked at
    assert sessions.offered_session_id(hello(bytes(32), record_len=40)) == b""


def test_registry_keeps_and_forgets():
    reg = sessions.ServerSessions(size=2, lifetime=3600)
    reg.store(b"a", None, "AES128-SHA", b"ctx")
    reg.store(b"b", b"cert", "AES256-SHA", b"ctx/refused")
    assert reg.get(b"a") == (None, "AES128-SHA", b"ctx")
    reg.store(b"c", None, "X", b"ctx")
    assert reg.get(b"a") is None and reg.get(b"b") == (b"cert", "AES256-SHA", b"ctx/refused")
    reg.store(b"", None, "X", b"ctx")               # no id: nothing to keep
    assert reg.get(b"") is None
    old = sessions.ServerSessions(lifetime=-1)
    old.store(b"a", None, "X", b"ctx")
    assert old.get(b"a") is None                    # past its lifetime


def test_the_twin_of_the_twin_is_the_context_itself():
    assert _twin_sid_ctx(b"pyssl-bridge") == b"pyssl-bridge/refused"
    assert _twin_sid_ctx(b"pyssl-bridge/refused") == b"pyssl-bridge"
