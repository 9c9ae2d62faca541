"""Send windows: ``pyssl:send/2`` without a round trip per call.

A caller's node keeps, through its local guard process (``pyssl_guard``), a
window of bytes per socket that this bridge granted. While the window lasts the
shim sends ``{'$pyssl_send', Ref, Data}`` and returns ``ok`` at once, as ssl's
``send`` returns once its sender process has the data; the bridge gives the
bytes back (an ack to the guard) once the TLS connection has taken them and its
TCP write buffer is below the high-water mark, so a slow peer stops the sender
as it would stop ssl's. Without a window, ``send`` is the usual call.

What the shim may not get wrong is ``{error, closed}``: a send the bridge would
refuse must not be taken without a reply. So a window exists only while a
``send`` call could not fail (established, not closed, not shut down for
writing, no ``{packet, 1|2}`` header that a send could overflow), and the bridge revokes it, through the same guard and
so in order with its grants and acks, *before* anything that tells the owner
otherwise: the final ``{ssl_closed, S}`` / ``{ssl_error, S, Reason}`` of a
windowed socket goes through the guard, which drops the window and then passes
the message on. Replies that close a socket or change its window (``close``,
``shutdown``, ``setopts`` of ``packet``, ``controlling_process``,
``{error, closed}``) make the shim wait for its guard (``pyssl_guards:sync/2``),
which has then seen every message the bridge sent before that reply. The bridge
says which replies need that (``sync_for``: the reply carries it, see
bridge.service.reply), so the shim knows no rule of its own.

Fewer messages: a shim call's reply that needs a guard travels through that
guard instead of beside it, as the final message does. The reply that hands a
socket to its owner (connect, handshake; not an upgrade's) goes with the window's grant
(``{'$pyssl_grant', Ref, Window, To, Reply}``: the guard fills the window, then
passes the reply on); a reply that ends the socket for its caller goes with the
revoke (``{'$pyssl_revoke', Ref, To, Reply}``) when it is made in its call's own
loop step (a close; see ``SslService._run``), which makes the revoke sent
during that call (``hold``) and the caller's wait for its guard unnecessary. The
guard handles each in order with everything the bridge sent it before, so the
ordering above is unchanged; the shim only passes the reply on.
"""
from __future__ import annotations

import asyncio
import logging

from bridge.etf.codec import ETFEncodeError
from bridge.etf.types import Atom, Pid, Reference

from .reply import KEEP
from .terms import CLOSED, ERROR

log = logging.getLogger("bridge.service")

# Bytes a caller may have on their way without a reply, per socket. Bytes taken
# are acked in lumps of ACK_AT or more (each ack is a write that wakes the caller's
# node): a sender never has more than ACK_AT taken and not acked, so its window
# does not run out unless the bridge or the peer falls behind, and a socket that
# sends little (a request now and then) costs no acks at all.
#
# Why 2 MiB: a bulk sender outruns the bridge, so it waits about once per ack and
# once per send that found the window used up, and the caller's node pays for
# each wait in its schedulers' busy-wait. 512 KiB (acks of 128 KiB) made ~11 such
# waits per MiB uploaded, 0.19-0.20 ms of BEAM user time per MiB; 2 MiB (acks of
# 512 KiB) makes ~3, 0.08-0.13 ms (docs/performance.md, "Round 8"); 4 and 8 MiB
# measured no better. What a stalled peer can leave in the bridge per socket is then 2 MiB
# plus the TCP buffer, no more than Linux lets ssl's own socket buffer in the
# kernel (tcp_wmem's maximum, 4 MiB by default).
SEND_WINDOW = 2 * 1024 * 1024
ACK_AT = SEND_WINDOW // 4

SEND = Atom("$pyssl_send")
GUARD = Atom("$pyssl_guard")
_ACK = Atom("$pyssl_ack")
_GRANT = Atom("$pyssl_grant")
_REVOKE = Atom("$pyssl_revoke")


class Windows:
    """The guards of the caller nodes, and the acks owed to them."""

    def __init__(self, service):
        self.service = service
        self.node = service.node
        self.guards: dict[Atom, Pid] = {}          # caller node -> its guard
        self._guard_monitors: dict = {}            # monitor ref -> guard pid
        self._due: list = []                       # (socket, bytes) to ack after this step
        self._flush_scheduled = False
        self._held: list | None = None             # revokes of the call being dispatched

    # ---- guards ------------------------------------------------------------------
    def guard_started(self, pid) -> None:
        if not isinstance(pid, Pid):
            log.warning("pyssl: malformed guard registration %r", pid)
            return
        self.guards[pid.node] = pid
        self._guard_monitors[self.node.monitor(self.service.proc, pid)] = pid

    def guard_down(self, ref) -> bool:
        """A monitored guard went (its node, or its app): True if ``ref`` was one."""
        pid = self._guard_monitors.pop(ref, None)
        if pid is None:
            return False
        if self.guards.get(pid.node) == pid:
            del self.guards[pid.node]
        return True

    # ---- grant and revoke ------------------------------------------------------------
    def grant(self, sock, carry=None) -> None:
        """Give ``sock``'s owner node a window if a send call could not fail now.

        ``carry``: the reply that hands ``sock`` to its owner, not sent yet, as
        ``(to, msg, send)`` (``to``, ``msg``: what the guard sends on; ``send()``
        sends it the usual way). It goes with the grant when the guard is on the
        caller's node; else it is sent first, as always before the grant."""
        guard = None
        if sock.window_guard is None and sock.can_take_window():
            guard = self.guards.get(sock.owner.node)
        if carry is not None and (guard is None or carry[0].node is not guard.node):
            carry[2]()
            carry = None
        if guard is None:
            return
        sock.window_guard = guard
        sock.window_changes += 1
        sock.delivery.final_send = sock.final_message
        if carry is None:
            self.node.send(guard, (_GRANT, sock.ref, SEND_WINDOW))
        else:
            self.node.send(guard, (_GRANT, sock.ref, SEND_WINDOW, carry[0], carry[1]))

    def revoke(self, sock) -> None:
        guard = sock.window_guard
        if guard is not None:
            sock.window_guard = None
            sock.window_changes += 1
            sock.delivery.final_send = None
            sock.window_owed = 0
            if self._held is not None:
                self._held.append((guard, sock.ref))
            else:
                self.node.send(guard, (_REVOKE, sock.ref))

    # ---- revokes that go with the reply ----------------------------------------------
    def hold(self) -> list:
        """Revokes made from now until ``unhold`` wait in the list returned, for
        ``send_held`` (or ``reply_revoking``, which lets its reply carry the one of
        its socket): around the synchronous dispatch of one shim call, so they
        still go before its reply, as ever."""
        self._held = held = []
        return held

    def unhold(self) -> None:
        self._held = None

    def send_held(self, held: list, skip=None) -> None:
        """Send the revokes ``hold`` kept, but ``skip`` (a ``(guard, ref)``); idempotent."""
        for guard, ref in held:
            if skip is None or guard is not skip[0] or ref != skip[1]:
                self.node.send(guard, (_REVOKE, ref))
        held.clear()

    def reply_revoking(self, ref, to, msg, fallback, held: list | None) -> bool:
        """A shim call's reply that ends socket ``ref`` for its caller (its sync is
        ``ref``): through the guard of the caller's node, which drops the window
        and then passes ``msg`` on to ``to`` (what ``pyssl_guards:sync/2`` after a
        plain reply would do); a revoke of the same window to that guard held
        during the call is not sent. False if that node has no guard."""
        guard = self.guards.get(to.node)
        if guard is None:
            return False
        if held:
            self.send_held(held, (guard, ref))
        try:
            self.node.send(guard, (_REVOKE, ref, to, msg), fallback=(_REVOKE, ref, to, fallback))
        except ETFEncodeError:
            # no external form (a bug): the caller still gets exactly one answer
            log.exception("pyssl: reply to %r has no external form", to)
            self.node.send(guard, (_REVOKE, ref, to, fallback))
        return True

    def reply_crediting(self, sock, to, msg) -> bool:
        """A send call's reply through the guard of the caller's node, with the bytes
        of ``sock``'s window owed now (``{'$pyssl_ack', Ref, Bytes, Window, To, Msg}``:
        the guard credits them, then passes ``msg`` on to ``to``). A sender calls
        when its window is used up and sleeps until the reply: this way the reply and
        the window's refill wake its node once, not once each (in 256 MiB uploads its
        sleeps fell from 2.2-2.7 to 0.5-0.8 per MiB). The bytes of a due ack not sent
        yet go with it.
        The reply's bytes themselves went through the call, not the window. False
        (the reply goes as usual) when nothing is owed, or the caller's node is not
        the window's."""
        guard = sock.window_guard
        if guard is None or guard.node is not to.node:
            return False
        n = sock.window_owed
        if self._due:
            # an ack made in this loop step, still waiting for _flush_acks: it goes now
            rest = [d for d in self._due if d[0] is not sock]
            n += sum(k for s, k in self._due if s is sock)
            self._due[:] = rest
        if n == 0:
            return False
        sock.window_owed = 0
        self.node.send(guard, (_ACK, sock.ref, n, SEND_WINDOW, to, msg))
        return True

    def final_message(self, sock, msg) -> None:
        """The socket's last message to its owner: the guard drops the window first."""
        guard = sock.window_guard
        if guard is None:
            self.node.send(sock.owner, msg)
            return
        sock.window_guard = None
        sock.window_changes += 1
        sock.delivery.final_send = None
        sock.window_owed = 0
        self.node.send(guard, (_REVOKE, sock.ref, sock.owner, msg))

    # ---- replies that wait for the guard ------------------------------------------
    @staticmethod
    def sync_for(ref, sock, before: int, value, ends: bool):
        """The guard sync a reply to a call on socket ``ref`` needs (what
        ``pyssl_guards:sync/2`` takes): ``ref`` when the reply ends the socket for
        the caller (``close``, ``{error, closed}``: the guard drops that window,
        even if the bridge's revoke is still on its way); ``KEEP`` when the call
        granted or revoked the window (``setopts`` of ``packet``, ``shutdown``,
        ``controlling_process`` to another node); else None. ``sock`` is None when
        the socket is gone already; ``before`` its ``window_changes`` at the call's start.
        A socket that never had a window needs no sync at all."""
        changes = getattr(sock, "window_changes", 0) if sock is not None else None
        if changes == 0:
            return None
        if ends or (value.__class__ is tuple and len(value) == 2 and value[0] is ERROR
                    and value[1] is CLOSED):
            return ref
        if changes is not None and changes != before:
            return KEEP
        return None

    # ---- sends without a reply ---------------------------------------------------------
    def send(self, ref, data) -> None:
        """``{'$pyssl_send', Ref, Data}``: what a ``send`` call would do, minus the reply."""
        if ref.__class__ is not Reference:
            # not from the shim; and never hash a caller's term here: hashing a
            # tuple nested a million deep overflows CPython's C stack
            return
        sock = self.service.sockets.get(ref)
        if sock is None or sock.window_guard is None:
            return          # revoked meanwhile: the shim has stopped taking from it
        try:
            n = sock.send_unreplied(data)
        except Exception:
            log.exception("pyssl: send without reply failed")
            return
        n += sock.window_owed
        if n < ACK_AT:
            sock.window_owed = n
            return
        sock.window_owed = 0
        self._due.append((sock, n))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_acks)

    def _flush_acks(self) -> None:
        # after the loop step's TLS writes (scheduled before this): the ack says
        # the bytes are in the TLS connection and its TCP buffer is not full
        self._flush_scheduled = False
        due, self._due = self._due, []
        for sock, n in due:
            tls = sock.tls
            if tls is not None and tls.write_paused():
                tls.when_drained(lambda sock=sock, n=n: self._ack(sock, n))
            else:
                self._ack(sock, n)

    def _ack(self, sock, n: int) -> None:
        guard = sock.window_guard
        if guard is not None:
            self.node.send(guard, (_ACK, sock.ref, n, SEND_WINDOW))
