"""service.conn.ConnSocket's explicit state: the transition table, the one end
(_finish), and what each state lets through, with a stand-in service (no node)."""
from __future__ import annotations

import itertools

import pytest

from bridge.etf.types import Atom, Pid, Reference
from bridge.service.conn import _TRANSITIONS, ConnSocket, SockState
from bridge.service.options import ParsedOptions
from bridge.service.socket_options import SocketOptions

S = SockState
CLOSED_REPLY = (Atom("error"), Atom("closed"))


class _Node:
    def __init__(self):
        self.sent = []
        self._ids = itertools.count(1)

    def make_ref(self):
        return Reference("bridge@127.0.0.1", 1, [next(self._ids), 0, 0])

    def send(self, pid, msg):
        self.sent.append((pid, msg))


class _Windows:
    def __init__(self):
        self.revoked = 0

    def revoke(self, sock):
        self.revoked += 1

    def grant(self, sock):
        pass


class _Service:
    def __init__(self):
        self.node = _Node()
        self.windows = _Windows()
        self.forgotten = []

    def new_ref(self):
        return self.node.make_ref()

    def forget(self, sock):
        self.forgotten.append(sock)


class _TLS:
    """Enough of a tls.transport.TLSConnection for the socket's bookkeeping."""
    def __init__(self):
        self.closed = 0
        self.written = []
        self.shut = 0
        self.engine = type("Engine", (), {"early_data_status": None})()

    def close(self):
        self.closed += 1

    def is_closing(self):
        return self.closed > 0

    def write(self, data):
        self.written.append(bytes(data))

    def write_paused(self):
        return False

    def shutdown_write(self):
        self.shut += 1

    def socket(self):
        return None

    transport = None


OWNER = Pid("erl@127.0.0.1", 1, 0, 0)


def _sock(accepted=False):
    service = _Service()
    parsed = ParsedOptions(role="server" if accepted else "client",
                           socket=SocketOptions(mode=Atom("binary"), active=False))
    return ConnSocket(service, OWNER, parsed, role=parsed.role, accepted=accepted), service


def test_every_state_can_close_and_closed_is_final():
    for state, nexts in _TRANSITIONS.items():
        assert (S.CLOSED in nexts) == (state is not S.CLOSED)
    assert _TRANSITIONS[S.CLOSED] == frozenset()


def test_life_of_an_accepted_socket():
    sock, service = _sock(accepted=True)
    assert sock.state is S.ACCEPTED
    sock._set_state(S.HANDSHAKING)
    tls = _TLS()
    assert sock.established(tls) and sock.state is S.HELD
    sock.data_received(b"early")               # held: kept, not delivered
    assert service.node.sent == []
    sock.release()
    assert sock.state is S.OPEN
    assert sock.send(b"x") == Atom("ok") and tls.written == [b"x"]
    assert sock.shutdown(Atom("write")) == Atom("ok") and sock.state is S.WRITE_SHUT
    assert sock.send(b"y") == CLOSED_REPLY     # the write side is shut
    assert sock.shutdown(Atom("write")) == Atom("ok") and tls.shut == 1
    sock.close_now()
    assert sock.state is S.CLOSED and tls.closed == 1 and service.forgotten == [sock]
    sock.close_now()                           # one end only
    assert tls.closed == 1 and service.forgotten == [sock]


def test_illegal_transitions_are_refused():
    sock, _ = _sock()
    assert sock.state is S.HANDSHAKING
    with pytest.raises(RuntimeError, match="HANDSHAKING -> OPEN"):
        sock._set_state(S.OPEN)                # the owner must get {ok, S} first (HELD)
    sock.close_now()
    for target in S:
        with pytest.raises(RuntimeError, match="CLOSED"):
            sock._set_state(target)


def test_closed_during_the_handshake_is_not_established():
    sock, _ = _sock()
    sock.close_now()
    tls = _TLS()
    assert not sock.established(tls) and tls.closed == 1 and sock.state is S.CLOSED


def test_a_downgrading_socket_refuses_sends_and_a_second_downgrade():
    sock, _ = _sock()
    tls = _TLS()
    sock.established(tls)
    sock.release()

    class _Relay:
        def downgrade(self, s, new_owner):
            class _Run:
                def run(self, timeout):
                    return s.begin_downgrade(self) and "running"
            return _Run()

    class _Transport:
        def get_extra_info(self, name, default=None):
            return _Relay() if name == "relay" else default

    tls.transport = _Transport()
    assert sock.close((OWNER, 1000)) == "running" and sock.state is S.DOWNGRADING
    assert sock.send(b"x") == CLOSED_REPLY     # our close_notify is out
    assert sock.close((OWNER, 1000)) == CLOSED_REPLY
    sock._finish("handed_over")                # the relay gave TCP away: no TLS close
    assert sock.state is S.CLOSED and tls.closed == 0


def test_a_socket_without_a_relay_cannot_downgrade():
    sock, _ = _sock()
    tls = _TLS()

    class _Transport:
        def get_extra_info(self, name, default=None):
            return default

    tls.transport = _Transport()
    sock.established(tls)
    sock.release()
    assert sock.close((OWNER, 1000)) == (Atom("error"), (Atom("not_supported_by_pyssl"), Atom("downgrade")))
    assert sock.state is S.OPEN
