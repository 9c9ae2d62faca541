"""The bridge against a peer that speaks distribution badly: a raw TCP client
that does a real v6 handshake (bridge.node.handshake.Initiator) and then sends
malformed, unknown and well-formed control messages. The bridge must drop
signals it does not understand, close a connection on broken framing or on terms
it cannot decode (as erts does), and keep serving everyone else."""
import socket
import struct

import pytest

from bridge.node import handshake
from bridge.node.protocol import encode_frame
from bridge.etf import Atom, Pid, Reference, decode, term_to_binary

from bridgenode import BridgeThread
from conftest import unique

A = Atom
RAW = "rawpeer@127.0.0.1"


@pytest.fixture(scope="module")
def bridge(cookie):
    b = BridgeThread(unique("robust"), cookie, service=False)
    yield b
    b.stop()


class RawPeer:
    def __init__(self, bridge, cookie, name=RAW):
        self.name = A(name)
        self.sock = socket.create_connection(("127.0.0.1", bridge.node.port), timeout=5)
        hs = handshake.Initiator(name, cookie, 7, bridge.name)
        self.sock.sendall(hs.data_to_send())
        while not hs.done:
            data = self.sock.recv(4096)
            if not data:
                raise ConnectionError("bridge closed the handshake")
            hs.receive(data)
            self.sock.sendall(hs.data_to_send())
        self.buf = hs.leftover
        self.pid = Pid(self.name, 1, 0, 7)

    def send(self, frame: bytes):
        self.sock.sendall(frame)

    def recv_frame(self):
        """Next frame as (control, payload), skipping ticks and the bridge's own
        question to our (absent) rex about our net_ticktime: its monitor of our rex,
        the question, and the demonitor when it gives up waiting (whenever that
        comes: it raced with the frames a test waits for)."""
        while True:
            control, payload = self._recv_any()
            if control[0] in (19, 20) and control[2] == A("rex"):     # MONITOR_P, DEMONITOR_P
                continue
            if control[0] == 6 and control[3] == A("rex"):
                continue
            return control, payload

    def _recv_any(self):
        while True:
            while len(self.buf) < 4:
                self._more()
            n = struct.unpack(">I", self.buf[:4])[0]
            while len(self.buf) < 4 + n:
                self._more()
            body, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
            if n == 0:
                continue
            assert body[0] == 112
            control, pos = decode(body, 1)
            payload = decode(body, pos)[0] if pos < len(body) else None
            return control, payload

    def _more(self):
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("closed")
        self.buf += data

    def is_closed(self) -> bool:
        self.sock.settimeout(5)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def ask_net_kernel(self, tag):
        """gen_server:call({net_kernel, Bridge}, {is_auth, Raw}) by hand."""
        self.send(encode_frame((6, self.pid, A(""), A("net_kernel")),
                               (A("$gen_call"), (self.pid, tag), (A("is_auth"), self.name)),
                               has_payload=True))
        return self.recv_frame()

    def close(self):
        self.sock.close()


def _frame(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


def test_bad_signals_are_dropped_and_the_connection_goes_on(bridge, cookie):
    peer = RawPeer(bridge, cookie)
    try:
        ref = Reference(peer.name, 7, (1, 2, 3))
        garbage = [
            encode_frame((99, A("what"))),                               # unknown control
            encode_frame((2, A(""), A("not_a_pid")), A("x"), has_payload=True),  # SEND to an atom
            encode_frame((1, peer.pid)),                                 # LINK of the wrong arity
            encode_frame((29, ref), [], has_payload=True),               # short SPAWN_REQUEST
        ]
        for frame in garbage:
            peer.send(frame)
        # a monitor of something that is neither pid nor name: noproc at once
        peer.send(encode_frame((19, peer.pid, 42, ref)))
        assert peer.recv_frame()[0] == (21, 42, peer.pid, ref, A("noproc"))
        # still served, in order, on the same connection
        ctl, payload = peer.ask_net_kernel(A("t1"))
        assert ctl[0] == 2 and ctl[2] == peer.pid
        assert payload == (A("t1"), A("yes"))
    finally:
        peer.close()


def test_monitor_of_a_missing_name_is_answered_at_once_with_noproc(bridge, cookie):
    peer = RawPeer(bridge, cookie)
    try:
        ref = Reference(peer.name, 7, (9, 9, 9))
        peer.send(encode_frame((19, peer.pid, A("nobody_here"), ref)))
        ctl, _ = peer.recv_frame()
        assert ctl == (21, A("nobody_here"), peer.pid, ref, A("noproc"))
        # a LINK to a pid that does not exist is answered with EXIT noproc
        ghost = Pid(bridge.node.name, 99999, 0, bridge.node.creation)
        peer.send(encode_frame((1, peer.pid, ghost)))
        assert peer.recv_frame()[0] == (3, ghost, peer.pid, A("noproc"))
    finally:
        peer.close()


def test_unlink_id_is_acknowledged(bridge, cookie):
    peer = RawPeer(bridge, cookie)
    try:
        rex = bridge.call(lambda: bridge.node.whereis("rex")).pid
        peer.send(encode_frame((1, peer.pid, rex)))
        peer.send(encode_frame((35, 77, peer.pid, rex)))
        assert peer.recv_frame()[0] == (36, 77, rex, peer.pid)
        assert bridge.call(lambda: peer.pid in bridge.node.whereis("rex").links) is False
    finally:
        peer.close()


def test_broken_framing_closes_only_that_connection(bridge, cookie):
    peer = RawPeer(bridge, cookie)
    other = RawPeer(bridge, cookie, name="rawother@127.0.0.1")
    try:
        # a frame that is not a pass-through ('p') message: atom cache header
        peer.send(_frame(b"\x83D\x00"))
        assert peer.is_closed()
        assert A(RAW) not in bridge.call(bridge.node.connected_nodes)
        # the other connection and new ones still work
        assert other.ask_net_kernel(A("t2"))[1] == (A("t2"), A("yes"))
        again = RawPeer(bridge, cookie)
        assert again.ask_net_kernel(A("t3"))[1] == (A("t3"), A("yes"))
        again.close()
    finally:
        peer.close()
        other.close()


@pytest.mark.parametrize("body", [
    b"p\x83h\x02a\x02",                                    # truncated control term
    b"p\x83h\x03a\x02d\x00\x00" + b"\x83" + b"\xff\xff",    # undecodable payload
    b"p\x83h\x04a\x06" + b"\x83",                           # control cut off after its tag
    b"p" + term_to_binary((6, Pid(A(RAW), 1, 0, 7), A(""), A("rex")))
    + b"\x83l\x00\x01\x00\x00",                              # payload list with no elements sent
    encode_frame((A("notatag"), 1))[4:],                      # tag is not an integer
    b"p" + term_to_binary((6, Pid(A(RAW), 1, 0, 7), A(""), A("net_kernel"))),  # payload missing
], ids=["control", "payload", "cut", "list", "tag", "nopayload"])
def test_undecodable_frame_closes_that_connection_like_erts(bridge, cookie, body):
    """erts closes a distribution channel that delivers a term it cannot decode
    (erts_net_message -> data_error); the message is never silently dropped, so no
    caller waits forever for the reply to a request the bridge never saw."""
    peer = RawPeer(bridge, cookie)
    other = RawPeer(bridge, cookie, name="rawother2@127.0.0.1")
    try:
        peer.send(_frame(body))
        assert peer.is_closed()
        assert other.ask_net_kernel(A("u1"))[1] == (A("u1"), A("yes"))
        again = RawPeer(bridge, cookie)
        assert again.ask_net_kernel(A("u2"))[1] == (A("u2"), A("yes"))
        again.close()
    finally:
        peer.close()
        other.close()


def test_large_frames_are_decoded_in_order_with_the_small_ones(bridge, cookie):
    """A frame over the inline limit is decoded off the loop; the frames behind it,
    small ones included, must still be handled after it."""
    peer = RawPeer(bridge, cookie)
    try:
        big = [i % 256 for i in range(300_000)] + [A("x")]   # a LIST_EXT over 128 KiB
        frames = b""
        for k in range(6):
            tag = A(f"o{k}")
            payload = (A("$gen_call"), (peer.pid, tag), (A("is_auth"), big if k % 2 else A("n")))
            frames += encode_frame((6, peer.pid, A(""), A("net_kernel")), payload,
                                   has_payload=True)
        peer.send(frames)
        got = [peer.recv_frame()[1] for _ in range(6)]
        assert got == [(A(f"o{k}"), A("yes")) for k in range(6)]
        # and a large frame that does not decode closes the connection too
        bad = term_to_binary(big)[:-3]
        peer.send(_frame(b"p" + term_to_binary((6, peer.pid, A(""), A("net_kernel"))) + bad))
        assert peer.is_closed()
    finally:
        peer.close()


def test_a_million_deep_tuple_where_a_pid_or_name_belongs_is_dropped(bridge, cookie):
    """Hashing a tuple nested a million deep overflows CPython's C stack (a crash,
    not an exception): such a term in a field used as a key is dropped unhashed."""
    peer = RawPeer(bridge, cookie)
    peer.sock.settimeout(120)       # each frame takes about a second to decode
    try:
        deep = b"h\x01" * 1_000_000 + b"j"        # {{{...[]...}}}, as a term body
        pid = term_to_binary(peer.pid)[1:]
        ref = term_to_binary(Reference(peer.name, 7, (1, 2, 3)))[1:]
        for ctl in (b"h\x03a\x02" + b"d\x00\x00" + deep,                 # SEND to it
                    b"h\x03a\x01" + deep + pid,                            # LINK from it
                    b"h\x04a\x06" + pid + b"d\x00\x00" + deep,           # REG_SEND to it
                    b"h\x04a\x13" + pid + deep + ref):                   # MONITOR_P of it
            payload = b"\x83j" if ctl[3] in (2, 6) else b""
            peer.send(_frame(b"p\x83" + ctl + payload))
        # the monitor of a non-process is answered noproc at once, as for 42 above
        assert peer.recv_frame()[0][0] == 21
        ctl, payload = peer.ask_net_kernel(A("d1"))   # answered: the bridge lives on
        assert payload == (A("d1"), A("yes"))
    finally:
        peer.close()


def test_wrong_cookie_raw_peer_is_refused(bridge):
    with pytest.raises((ConnectionError, handshake.HandshakeError, OSError)):
        RawPeer(bridge, "definitely-wrong")
    assert A(RAW) not in bridge.call(bridge.node.connected_nodes)


def test_garbage_instead_of_a_handshake_is_refused(bridge, cookie):
    s = socket.create_connection(("127.0.0.1", bridge.node.port), timeout=5)
    try:
        s.sendall(b"\x00\x05hello")
        assert s.recv(100) in (b"",)
    except ConnectionResetError:
        pass
    finally:
        s.close()
    # and the node is fine afterwards
    peer = RawPeer(bridge, cookie)
    assert peer.ask_net_kernel(A("t4"))[1] == (A("t4"), A("yes"))
    peer.close()


def test_same_node_reconnecting_replaces_the_old_connection(bridge, cookie):
    # a peer that restarted before the bridge noticed: the handshake status is
    # 'alive', the initiator confirms, and the old connection is replaced
    first = RawPeer(bridge, cookie, name="rawre@127.0.0.1")
    try:
        assert first.ask_net_kernel(A("a1"))[1] == (A("a1"), A("yes"))
        second = RawPeer(bridge, cookie, name="rawre@127.0.0.1")
        try:
            assert first.is_closed()
            assert second.ask_net_kernel(A("a2"))[1] == (A("a2"), A("yes"))
            assert bridge.call(bridge.node.connected_nodes).count(A("rawre@127.0.0.1")) == 1
        finally:
            second.close()
    finally:
        first.close()
