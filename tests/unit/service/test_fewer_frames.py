"""Unit tests of the messages saved per socket: replies that travel with a window's
grant or revoke through the caller's guard (bridge/service/windows.py), and owner
monitors kept while an owner has no socket (bridge/service/service.py), against
fake nodes that record what is sent."""
import pytest

from bridge.etf.types import Atom, Pid, Reference
from bridge.service import service as service_mod
from bridge.service.service import SslService
from bridge.service.windows import SEND_WINDOW, Windows

A = Atom
NODE = A("bridge@127.0.0.1")
CALLER_NODE = A("erl@127.0.0.1")
OTHER_NODE = A("other@127.0.0.1")


def pid(n: int, node=CALLER_NODE) -> Pid:
    return Pid(node, n, 0, 1)


def ref(n: int, node=NODE) -> Reference:
    return Reference(node, 1, (n, 0, 0))


class FakeNode:
    def __init__(self):
        self.sent = []              # (to, msg)
        self.monitors = {}          # ref -> target
        self.demonitored = []
        self._n = 0

    def send(self, to, msg, sender=None, *, fallback=None) -> None:
        self.sent.append((to, msg))

    def monitor(self, watcher, target) -> Reference:
        self._n += 1
        r = ref(1000 + self._n)
        self.monitors[r] = target
        return r

    def demonitor(self, r) -> None:
        self.demonitored.append(r)
        self.monitors.pop(r, None)


class FakeDelivery:
    final_send = None


class FakeSock:
    window_guard = None
    window_owed = 0
    window_changes = 0

    def __init__(self, n=1, owner=None):
        self.ref = ref(n)
        self.owner = owner or pid(50)
        self.delivery = FakeDelivery()
        self.closed = 0

    def can_take_window(self) -> bool:
        return True

    def final_message(self, msg) -> None:
        pass

    def close_now(self) -> None:
        self.closed += 1


class FakeService:
    def __init__(self, node):
        self.node = node
        self.proc = object()
        self.sockets = {}


GUARD = pid(7)
GRANT, REVOKE = A("$pyssl_grant"), A("$pyssl_revoke")


@pytest.fixture
def win():
    node = FakeNode()
    w = Windows(FakeService(node))
    w.guard_started(GUARD)
    return w, node


def _carry(to, msg):
    sent = []
    return (to, msg, lambda: sent.append(msg)), sent


# ---- the reply that hands a socket over goes with the grant ---------------------------

def test_the_reply_goes_with_the_grant_through_the_callers_guard(win):
    w, node = win
    sock = FakeSock()
    alias = ref(5, CALLER_NODE)
    carry, direct = _carry(alias, ("tag", "reply"))
    w.grant(sock, carry)
    assert direct == []
    assert node.sent == [(GUARD, (GRANT, sock.ref, SEND_WINDOW, alias, ("tag", "reply")))]
    assert sock.window_guard == GUARD and sock.window_changes == 1


def test_a_caller_on_another_node_has_its_reply_first_then_the_grant(win):
    w, node = win
    sock = FakeSock()
    carry, direct = _carry(pid(9, OTHER_NODE), ("tag", "reply"))
    w.grant(sock, carry)
    assert direct == [("tag", "reply")]
    assert node.sent == [(GUARD, (GRANT, sock.ref, SEND_WINDOW))]


def test_no_window_the_reply_goes_the_usual_way(win):
    w, node = win
    sock = FakeSock(owner=pid(50, OTHER_NODE))      # no guard on the owner's node
    carry, direct = _carry(pid(50, OTHER_NODE), ("tag", "reply"))
    w.grant(sock, carry)
    assert direct == [("tag", "reply")] and node.sent == [] and sock.window_guard is None


# ---- the reply that ends a socket goes with the revoke ----------------------------------

def test_a_revoke_held_during_the_call_goes_with_its_reply(win):
    w, node = win
    sock, other = FakeSock(1), FakeSock(2)
    w.grant(sock)
    w.grant(other)
    node.sent.clear()
    held = w.hold()
    w.revoke(other)
    w.revoke(sock)
    w.unhold()
    assert node.sent == []
    assert sock.window_guard is None and sock.window_changes == 2
    to = ref(5, CALLER_NODE)
    assert w.reply_revoking(sock.ref, to, ("tag", A("ok")), ("tag", A("err")), held) is True
    # the other socket's revoke first, then the reply with its own socket's revoke
    assert node.sent == [(GUARD, (REVOKE, other.ref)),
                         (GUARD, (REVOKE, sock.ref, to, ("tag", A("ok"))))]
    w.revoke(sock)                    # revoked already: nothing more
    assert len(node.sent) == 2


def test_revokes_are_sent_at_once_outside_a_held_call(win):
    w, node = win
    sock = FakeSock()
    w.grant(sock)
    held = w.hold()
    w.unhold()
    w.revoke(sock)
    assert held == [] and node.sent[-1] == (GUARD, (REVOKE, sock.ref))


def test_held_revokes_are_sent_when_the_reply_cannot_carry_them(win):
    w, node = win
    sock = FakeSock()
    w.grant(sock)
    held = w.hold()
    w.revoke(sock)
    w.unhold()
    # the caller's node has no guard: the reply goes the usual way, the revoke first
    assert w.reply_revoking(sock.ref, pid(9, OTHER_NODE), ("t", 1), ("t", 2), held) is False
    assert node.sent[-1] != (GUARD, (REVOKE, sock.ref))
    w.send_held(held)
    w.send_held(held)                 # once
    assert node.sent[1:] == [(GUARD, (REVOKE, sock.ref))]


# ---- owner monitors kept while the owner has no socket ---------------------------------

@pytest.fixture
def svc():
    node = FakeNode()
    s = SslService(node, stats_interval=0)
    s.proc = object()
    return s, node


def _add(s, n, owner):
    sock = FakeSock(n, owner)
    s.add_socket(sock)
    return sock


def test_one_monitor_for_an_owner_opening_socket_after_socket(svc):
    s, node = svc
    owner = pid(60)
    for n in range(5):
        sock = _add(s, n, owner)
        s.forget(sock)
    assert len(node.monitors) == 1 and node.demonitored == []
    assert list(s.idle_owners) == [owner] and owner not in s.by_owner
    # the DOWN of an owner without sockets closes nothing and forgets it
    (mref,) = node.monitors
    s.handle_down(mref, owner, A("normal"))
    assert s.owner_monitors == {} and not s.idle_owners
    # its next socket (a pid reused) is monitored afresh
    _add(s, 9, owner)
    assert len(node.monitors) == 2


def test_an_owners_death_closes_its_sockets_only(svc):
    s, node = svc
    a, b = pid(61), pid(62)
    first = _add(s, 1, a)
    s.forget(first)                   # a is idle, then opens another socket
    mine = _add(s, 2, a)
    theirs = _add(s, 3, b)
    assert a not in s.idle_owners
    s.handle_down(s.owner_monitors[a], a, A("killed"))
    assert mine.closed == 1 and theirs.closed == 0 and first.closed == 0


def test_idle_owner_monitors_are_bounded_oldest_dropped_first(svc, monkeypatch):
    s, node = svc
    monkeypatch.setattr(service_mod, "IDLE_OWNER_MONITORS", 3)
    owners = [pid(100 + i) for i in range(6)]
    for i, owner in enumerate(owners):
        s.forget(_add(s, i, owner))
    assert list(s.idle_owners) == owners[3:]
    assert set(s.owner_monitors) == set(owners[3:])
    assert len(node.demonitored) == 3 and set(node.monitors.values()) == set(owners[3:])
    # an idle owner used again is no longer idle, and becomes the newest when idle again
    sock = _add(s, 10, owners[3])
    assert list(s.idle_owners) == owners[4:]
    s.forget(sock)
    assert list(s.idle_owners) == [owners[4], owners[5], owners[3]]


def test_many_owners_keep_the_bound(svc):
    s, node = svc
    for i in range(service_mod.IDLE_OWNER_MONITORS * 3):
        s.forget(_add(s, i, pid(1000 + i)))
    assert len(s.idle_owners) == service_mod.IDLE_OWNER_MONITORS
    assert len(node.monitors) == service_mod.IDLE_OWNER_MONITORS == len(s.owner_monitors)


def test_a_handover_leaves_the_old_owner_idle_and_monitored(svc):
    s, node = svc
    a, b = pid(70), pid(71)
    sock = _add(s, 1, a)
    s.change_owner(sock, b)
    assert sock.owner == b and list(s.idle_owners) == [a]
    assert set(s.owner_monitors) == {a, b}
    s.handle_down(s.owner_monitors[a], a, A("normal"))
    assert sock.closed == 0
    s.handle_down(s.owner_monitors[b], b, A("normal"))
    assert sock.closed == 1
