"""Unit tests of the send windows (bridge/service/windows.py) and the hooks that run a
caller's funs (verify.py, psk.py, sni.py) against a fake node: what each sends
and when, without distribution, sockets or TLS.

The fake node records what is sent and answers rpc calls from a script; it has
the three methods these modules use (send, monitor, rpc).
"""
import asyncio

import pytest

from bridge.etf.types import Atom, Pid, Reference
from bridge.service import psk, sni, verify
from bridge.service.reply import KEEP
from bridge.service.terms import CLOSED, ERROR, OK
from bridge.service.windows import ACK_AT, SEND_WINDOW, Windows

A = Atom
NODE = A("bridge@127.0.0.1")
CALLER_NODE = A("erl@127.0.0.1")


def pid(n: int, node=CALLER_NODE) -> Pid:
    return Pid(node, n, 0, 1)


def ref(n: int) -> Reference:
    return Reference(NODE, 1, (n, 0, 0))


class FakeNode:
    def __init__(self, answers=None):
        self.sent = []              # (to, msg)
        self.monitors = []          # (watcher, target, ref)
        self.rpcs = []              # (node, m, f, args)
        self.answers = list(answers or [])
        self._n = 0

    def send(self, to, msg) -> None:
        self.sent.append((to, msg))

    def monitor(self, watcher, target) -> Reference:
        self._n += 1
        r = ref(1000 + self._n)
        self.monitors.append((watcher, target, r))
        return r

    async def rpc(self, node, m, f, args, timeout=None):
        self.rpcs.append((node, m, f, args))
        answer = self.answers.pop(0)
        return answer(args) if callable(answer) else answer


class FakeDelivery:
    final_send = None


class FakeTLS:
    def __init__(self, paused=False):
        self.paused = paused
        self.drained = []

    def write_paused(self) -> bool:
        return self.paused

    def when_drained(self, cb) -> None:
        self.drained.append(cb)


class FakeSock:
    """What Windows reads and writes of a ConnSocket."""
    window_guard = None
    window_owed = 0
    window_changes = 0

    def __init__(self, n=1, owner=None, can=True, tls=None):
        self.ref = ref(n)
        self.owner = owner or pid(50)
        self.delivery = FakeDelivery()
        self.can = can
        self.tls = tls or FakeTLS()
        self.written = []

    def can_take_window(self) -> bool:
        return self.can

    def final_message(self, msg) -> None:
        pass

    def send_unreplied(self, data) -> int:
        self.written.append(data)
        return len(data)


class FakeService:
    def __init__(self, node):
        self.node = node
        self.proc = object()
        self.sockets = {}


@pytest.fixture
def win():
    node = FakeNode()
    service = FakeService(node)
    return Windows(service), node, service


GUARD = pid(7)


# ---- guards, grants, revokes -------------------------------------------------------

def test_a_guard_is_monitored_and_forgotten_when_down(win):
    w, node, _ = win
    w.guard_started(GUARD)
    assert w.guards == {CALLER_NODE: GUARD}
    (_, target, mref), = node.monitors
    assert target == GUARD
    assert w.guard_down(ref(999)) is False        # not a guard's monitor
    assert w.guard_down(mref) is True
    assert w.guards == {}


def test_a_malformed_guard_registration_is_ignored(win):
    w, node, _ = win
    w.guard_started("not a pid")
    assert w.guards == {} and node.monitors == []


def test_no_window_without_a_guard_on_the_owners_node(win):
    w, node, _ = win
    sock = FakeSock()
    w.grant(sock)
    assert sock.window_guard is None and node.sent == [] and sock.window_changes == 0


def test_no_window_while_a_send_could_fail(win):
    w, node, _ = win
    w.guard_started(GUARD)
    sock = FakeSock(can=False)
    w.grant(sock)
    assert node.sent == [] and sock.window_guard is None


def test_grant_once_then_revoke(win):
    w, node, _ = win
    w.guard_started(GUARD)
    sock = FakeSock()
    w.grant(sock)
    w.grant(sock)                     # already granted: nothing more
    assert node.sent == [(GUARD, (A("$pyssl_grant"), sock.ref, SEND_WINDOW))]
    assert sock.delivery.final_send == sock.final_message
    w.revoke(sock)
    w.revoke(sock)                    # nothing to revoke any more
    assert node.sent[1:] == [(GUARD, (A("$pyssl_revoke"), sock.ref))]
    assert sock.window_guard is None and sock.delivery.final_send is None
    assert sock.window_changes == 2


def test_the_last_message_of_a_windowed_socket_goes_through_the_guard(win):
    w, node, _ = win
    w.guard_started(GUARD)
    sock = FakeSock()
    w.grant(sock)
    msg = (A("ssl_closed"), ("sslsocket",))
    w.final_message(sock, msg)
    assert node.sent[-1] == (GUARD, (A("$pyssl_revoke"), sock.ref, sock.owner, msg))
    assert sock.window_guard is None
    w.final_message(sock, msg)        # no window: straight to the owner
    assert node.sent[-1] == (sock.owner, msg)


# ---- sends taken from the window and their acks ----------------------------------------

def granted(w, service, **kw) -> FakeSock:
    """A socket of the service with a window on GUARD's node."""
    w.guard_started(GUARD)
    sock = FakeSock(**kw)
    service.sockets[sock.ref] = sock
    w.grant(sock)
    return sock


def test_small_sends_are_acked_in_lumps_after_the_loop_step(win):
    w, node, service = win

    async def run():
        sock = granted(w, service)
        chunk = b"x" * (ACK_AT // 4)
        for _ in range(3):
            w.send(sock.ref, chunk)
        assert sock.window_owed == 3 * len(chunk)
        w.send(sock.ref, chunk)        # reaches ACK_AT: one ack, once this step is over
        assert [m for _, m in node.sent if m[0] == A("$pyssl_ack")] == []
        await asyncio.sleep(0)
        acks = [m for _, m in node.sent if m[0] == A("$pyssl_ack")]
        assert acks == [(A("$pyssl_ack"), sock.ref, 4 * len(chunk), SEND_WINDOW)]
        assert sock.written == [chunk] * 4 and sock.window_owed == 0
    asyncio.run(run())


def test_an_ack_waits_for_a_full_tcp_buffer_to_drain(win):
    w, node, service = win

    async def run():
        sock = granted(w, service, tls=FakeTLS(paused=True))
        w.send(sock.ref, b"y" * ACK_AT)
        await asyncio.sleep(0)
        assert not [m for _, m in node.sent if m[0] == A("$pyssl_ack")]
        (drained,) = sock.tls.drained
        drained()
        assert node.sent[-1] == (GUARD, (A("$pyssl_ack"), sock.ref, ACK_AT, SEND_WINDOW))
    asyncio.run(run())


def test_a_send_calls_reply_carries_the_bytes_owed_and_a_due_ack(win):
    # the caller's window was used up, so it called: the reply and the refill go
    # to its guard together, the ack of this loop step with them
    w, node, service = win

    async def run():
        sock = granted(w, service)
        w.send(sock.ref, b"a" * ACK_AT)           # an ack due after this step
        w.send(sock.ref, b"b" * 100)              # owed, below ACK_AT
        caller = pid(60)
        assert w.reply_crediting(sock, caller, ("tag", OK)) is True
        assert node.sent[-1] == (GUARD, (A("$pyssl_ack"), sock.ref, ACK_AT + 100, SEND_WINDOW,
                                         caller, ("tag", OK)))
        assert sock.window_owed == 0
        await asyncio.sleep(0)                    # the step's flush: nothing left to ack
        assert [m for _, m in node.sent if m[0] == A("$pyssl_ack")] == [node.sent[-1][1]]
    asyncio.run(run())


def test_a_send_calls_reply_goes_as_usual_when_nothing_is_owed_or_elsewhere(win):
    w, node, service = win
    w.guard_started(GUARD)
    sock = FakeSock()
    service.sockets[sock.ref] = sock
    assert w.reply_crediting(sock, pid(60), ("tag", OK)) is False     # no window
    w.grant(sock)
    assert w.reply_crediting(sock, pid(60), ("tag", OK)) is False     # nothing owed
    sock.window_owed = 10
    other = pid(61, A("other@127.0.0.1"))
    assert w.reply_crediting(sock, other, ("tag", OK)) is False       # another node
    assert sock.window_owed == 10
    assert not [m for _, m in node.sent if m[0] == A("$pyssl_ack")]


def test_sends_for_unknown_revoked_or_malformed_refs_are_dropped(win):
    w, node, service = win
    sock = FakeSock()
    service.sockets[sock.ref] = sock
    w.send(sock.ref, b"no window")               # not granted (or revoked meanwhile)
    w.send(ref(77), b"nobody")                   # no such socket
    w.send((((1,),),), b"not a ref")             # never hashed, never looked up
    assert sock.written == [] and node.sent == []


# ---- which replies make the shim wait for its guard -------------------------------------

CLOSED_REPLY = (ERROR, CLOSED)


def test_sync_for_a_socket_that_never_had_a_window():
    sock = FakeSock()
    assert Windows.sync_for(sock.ref, sock, 0, CLOSED_REPLY, True) is None
    assert Windows.sync_for(sock.ref, sock, 0, OK, False) is None


def test_sync_for_replies_that_end_the_socket():
    sock = FakeSock()
    sock.window_changes = 1
    assert Windows.sync_for(sock.ref, sock, 1, OK, True) == sock.ref            # close
    assert Windows.sync_for(sock.ref, sock, 1, CLOSED_REPLY, False) == sock.ref
    # gone from the table already: its window may still be on the caller's node
    assert Windows.sync_for(sock.ref, None, 0, CLOSED_REPLY, False) == sock.ref
    assert Windows.sync_for(sock.ref, None, 0, OK, True) == sock.ref


def test_sync_for_a_call_that_granted_or_revoked():
    sock = FakeSock()
    sock.window_changes = 3
    assert Windows.sync_for(sock.ref, sock, 2, OK, False) == KEEP
    assert Windows.sync_for(sock.ref, sock, 3, OK, False) is None
    assert Windows.sync_for(sock.ref, sock, 3, (OK, b"data"), False) is None
    assert Windows.sync_for(sock.ref, None, 0, (ERROR, A("einval")), False) is None


# ---- hooks: the caller's funs, run through the fake node's rpc ----------------------------

FUN = ("a fun term",)
CERT = ("OTPCertificate", ("tbs",) * 11)


def test_verify_fun_threads_the_user_state_and_decodes_each_cert_once():
    node = FakeNode([CERT,
                     lambda args: (A("valid"), args[1][2] + 1),
                     lambda args: (A("valid_peer"), args[1][2] + 1)])

    async def run():
        vf = verify.VerifyFun(node, pid(5), FUN, 0, 3, asyncio.get_running_loop())
        assert await vf.apply(b"der", "valid", 1) == ("valid", None)
        assert await vf.apply(b"der", "valid_peer", 0) == ("valid", None)
        return vf
    vf = asyncio.run(run())
    assert vf.state == 2
    assert [r[1:3] for r in node.rpcs] == [(A("public_key"), A("pkix_decode_cert")),
                                          (A("erlang"), A("apply")), (A("erlang"), A("apply"))]
    assert all(r[0] == CALLER_NODE for r in node.rpcs)
    # the fun got (OtpCert, Event, State) on the caller's node
    assert node.rpcs[1][3] == [FUN, [CERT, A("valid"), 0]]


def test_verify_fun_verdicts():
    async def one(answer, event=("bad_cert", "unknown_ca"), arity=3):
        node = FakeNode([CERT, answer])
        vf = verify.VerifyFun(node, pid(5), FUN, A("st"), arity, asyncio.get_running_loop())
        return await vf.apply(b"der", event, 1), node

    r, _ = asyncio.run(one((A("fail"), (A("bad_cert"), A("unknown_ca")))))
    assert r == ("fail", ("bad_cert", "unknown_ca"))
    r, _ = asyncio.run(one((A("unknown"), A("st2"))))
    assert r == ("unknown", None)
    r, node = asyncio.run(one((A("valid"), A("st")), arity=4))
    assert node.rpcs[1][3] == [FUN, [CERT, b"der", (A("bad_cert"), A("unknown_ca")), A("st")]]
    with pytest.raises(verify.VerifyFunError):
        asyncio.run(one(A("not_a_verdict")))
    with pytest.raises(verify.VerifyFunError):
        asyncio.run(one((A("badrpc"), A("nodedown"))))


def test_legacy_verify_fun_is_asked_about_bad_certificates_only():
    async def run(answers, event):
        node = FakeNode(answers)
        vf = verify.VerifyFun(node, pid(5), FUN, None, 1, asyncio.get_running_loop(), legacy=True)
        return await vf.apply(b"der", event), node

    r, node = asyncio.run(run([], "valid"))
    assert r == ("valid", None) and node.rpcs == []
    r, node = asyncio.run(run([True], ("bad_cert", "cert_expired")))
    assert r == ("valid", None)
    assert node.rpcs[0][3] == [FUN, [[(A("bad_cert"), A("cert_expired"))]]]
    r, _ = asyncio.run(run([False], ("bad_cert", "cert_expired")))
    assert r == ("fail", ("bad_cert", "cert_expired"))


def test_psk_lookup():
    async def run(answer, identity):
        node = FakeNode([answer])
        fun = psk.PskFun(node, pid(5), FUN, A("st"), asyncio.get_running_loop())
        return await fun.lookup(identity), node

    key, node = asyncio.run(run((A("ok"), b"secret"), b"client-id"))
    assert key == b"secret"
    assert node.rpcs == [(CALLER_NODE, A("erlang"), A("apply"),
                          [FUN, [A("psk"), b"client-id", A("st")]])]
    _, node = asyncio.run(run((A("ok"), b"k"), None))       # no hint from the server
    assert node.rpcs[0][3][1][1] == A("undefined")
    for bad in [A("error"), (A("ok"), "not a binary"), (A("badrpc"), A("x"))]:
        with pytest.raises(ValueError):
            asyncio.run(run(bad, b"id"))


def test_psk_hook_only_for_a_fun_of_arity_3():
    assert psk.hook_for({}, FakeNode(), pid(5), lambda f: 3) is None
    assert psk.hook_for({"user_lookup_fun": (FUN, 1)}, FakeNode(), pid(5), lambda f: 2) is None

    async def made():
        return psk.hook_for({"user_lookup_fun": (FUN, 1)}, FakeNode(), pid(5), lambda f: 3)
    assert isinstance(asyncio.run(made()), psk.PskFun)


def test_sni_fun_undefined_keeps_the_listen_options_and_other_answers_fail():
    class Svc:
        def __init__(self, node):
            self.node = node

    async def run(answer):
        node = FakeNode([answer])
        fun = sni.SniFun(Svc(node), pid(5), FUN, None, {}, asyncio.get_running_loop())
        return await fun.lookup("example.org"), node

    r, node = asyncio.run(run(A("undefined")))
    assert r is None
    assert node.rpcs == [(CALLER_NODE, A("erlang"), A("apply"), [FUN, [list(b"example.org")]])]
    with pytest.raises(ValueError):
        asyncio.run(run(A("not_a_list")))


# ---- hooks.attach: which of the caller's funs become hooks of a connection's config -------

def _fun(arity: int):
    from bridge.etf.types import Opaque
    return Opaque(112, bytes([112, 0, 0, 0, 9, arity]))     # NEW_FUN_EXT: tag, size, arity


class _Parsed:
    def __init__(self, **ssl):
        self.ssl = ssl


def test_attach_hooks_for_the_callers_funs():
    from bridge.service import hooks
    from bridge.tls.config import TLSConfig

    async def run():
        service = FakeService(FakeNode())
        client = TLSConfig(role="client")
        server = TLSConfig(role="server")
        # no funs: the config itself, shared as it is
        assert hooks.attach(client, _Parsed(), service, pid(5), {}) is client
        cfg = hooks.attach(client, _Parsed(verify_fun=(_fun(3), A("st")),
                                           user_lookup_fun=(_fun(3), A("u")),
                                           sni_fun=_fun(1)), service, pid(5), {})
        assert cfg is not client and client.verify_hook is None      # a copy gets the hooks
        assert isinstance(cfg.verify_hook, verify.VerifyFun) and cfg.verify_hook.state == A("st")
        assert isinstance(cfg.psk_hook, psk.PskFun)
        assert cfg.sni_hook is None                                    # sni_fun: servers only
        scfg = hooks.attach(server, _Parsed(sni_fun=_fun(1)), service, pid(5), {})
        assert isinstance(scfg.sni_hook, sni.SniFun) and scfg.verify_hook is None
        # a psk fun of another arity is no hook (ssl's option check refuses it before)
        assert hooks.attach(client, _Parsed(user_lookup_fun=(_fun(2), 0)), service, pid(5),
                            {}) is client
    asyncio.run(run())
