"""A connected ssl socket: ``ConnSocket`` ties a TLS connection (``bridge.tls``)
carrying bytes to and from the peer, a ``Delivery`` deciding what its Erlang owner
sees, and the socket options. Its life is one explicit ``SockState`` (see the
class); every way it ends goes through ``_finish``.

It does not know how its bytes travel: a socket the bridge connected or accepted
has an OS socket here; an upgraded gen_tcp socket (``bridge.service.upgrade``)
has a relay process instead, which the transport offers as ``get_extra_info("relay")``
for gen_tcp options and the downgrade.
"""
from __future__ import annotations

import asyncio
import enum
import socket as pysocket
from typing import Optional

from bridge.etf.types import Atom, Pid
from bridge.tls import transport

from . import hello_pause, hooks, inet, options, socket_options
from .conn_info import ConnInfo
from .delivery import Delivery
from .errors import HANDSHAKE_FAILURES, failure_reply, tls_alert
from .options import SslOptionError
from .packet import encode_packet
from .reply import Reply
from .sockbase import (SMALL_HEADERS, SocketBase, config_heavy, off_loop_if,
                       off_loop_if_heavy, parse, split_changes)
from .terms import CLOSED, EINVAL, OK, Raise, error, iodata_to_bytes, is_timeout, to_timeout


class SockState(enum.Enum):
    """Where an ssl socket is, as its owner sees it (OTP: ssl_gen_statem's states
    plus the socket's owner handshake)::

        ACCEPTED --> HANDSHAKING --> HELD --> OPEN --> WRITE_SHUT
                                               |          |
                                               +--> DOWNGRADING
        (every state --> CLOSED)

    ACCEPTED: from ``transport_accept``: a TCP socket (``pending_tcp``), no TLS yet.
    HANDSHAKING: TCP connect and/or TLS handshake under way (``opening``).
    HELD: handshaken, but the owner does not have its ``{ok, S}`` yet: input is
    kept in the decoder, nothing is delivered (``release`` opens it).
    OPEN: data both ways, delivered as the ``active`` option says.
    WRITE_SHUT: ``shutdown(S, write)``: close_notify sent; reading goes on.
    DOWNGRADING: ``close(S, {Pid, T})`` waits for the peer's close_notify.
    CLOSED: closed by us (close/1, the owner's death, a failed set-up), after the
    owner was told of the end of the stream, or handed over by a downgrade.
    """
    ACCEPTED = "accepted"
    HANDSHAKING = "handshaking"
    HELD = "held"
    OPEN = "open"
    WRITE_SHUT = "write_shut"
    DOWNGRADING = "downgrading"
    CLOSED = "closed"


_S = SockState
_TRANSITIONS = {
    _S.ACCEPTED: frozenset({_S.HANDSHAKING, _S.CLOSED}),
    _S.HANDSHAKING: frozenset({_S.HELD, _S.CLOSED}),
    _S.HELD: frozenset({_S.OPEN, _S.CLOSED}),
    _S.OPEN: frozenset({_S.WRITE_SHUT, _S.DOWNGRADING, _S.CLOSED}),
    _S.WRITE_SHUT: frozenset({_S.DOWNGRADING, _S.CLOSED}),
    _S.DOWNGRADING: frozenset({_S.CLOSED}),
    _S.CLOSED: frozenset(),
}
# no delivery to the owner before it has its {ok, S}
_HELD = frozenset({_S.ACCEPTED, _S.HANDSHAKING, _S.HELD})

_NEVER = 1 << 62          # a raw-mode recv length no buffer reaches
_A_SSL, _A_SESSION_TICKET, _A_EARLY_DATA = Atom("ssl"), Atom("session_ticket"), Atom("early_data")


class ConnSocket(ConnInfo, SocketBase):
    """A TLS connection (client, or server after ``transport_accept``)."""

    window_guard = None     # the guard holding this socket's send window (windows.py)
    window_owed = 0         # bytes taken from the window and not acked yet
    window_changes = 0      # grants and revokes so far (Windows.sync_for)
    opening = None          # the connect or handshake under way (establish())
    # ACCEPTED from a user's transport (cb_info): its relay, bound and paused, with
    # open(cfg, timeout, receiver) -> the handshake coroutine, and close()
    # (bridge.service.cbinfo.PendingRelay)
    pending_relay = None

    @property
    def counters(self):
        """The bridge's totals, which this socket's TLS connection adds to."""
        return self.service.counters

    def __init__(self, service, owner, parsed, *, role: str, accepted: bool = False):
        super().__init__(service, owner)
        self.role = role
        self.parsed = parsed
        # the socket's own emulated options (parsed may be shared)
        self.delivery = Delivery(self.term, owner, service.node.send, parsed.socket.copy(),
                                 flow=self._flow, ended=self._ended)
        self.state = _S.ACCEPTED if accepted else _S.HANDSHAKING
        self.tls = None               # bridge.tls.transport connection, once handshaken
        self.pending_tcp: Optional[pysocket.socket] = None   # ACCEPTED: the TCP socket
        self.listen_files: dict = {}
        self.listen_sock = None       # accepted: the ListenSocket it came from
        # accepted from a listen socket whose TLS config cannot be built: the
        # handshake's error reply (see ListenSocket._config_error)
        self.config_error = None
        self.downgrade = None         # DOWNGRADING: the upgrade.Downgrade under way
        # {handshake, hello}: a server paused after the ClientHello (hello_pause.Paused;
        # the TCP socket stays in pending_tcp, so close/1 and the owner's end close it)
        self.paused = None
        # a failed handshake's TCP end, held until the caller has its reply
        # (hold_end; run by close_after_reply's end, or by _finish)
        self._held_end = None

    # ---- state ----------------------------------------------------------------
    def _set_state(self, new: SockState) -> None:
        """Move to ``new``; a move the table does not allow is a bug (RuntimeError)."""
        if new not in _TRANSITIONS[self.state]:
            raise RuntimeError(f"ssl socket: illegal transition {self.state.name} -> {new.name}")
        self.state = new

    @property
    def closed(self) -> bool:
        return self.state is _S.CLOSED

    def _finish(self, reason: str) -> None:
        """Every way the socket ends, once: "closed" (close/1, the owner's death or
        node gone, a failed or cancelled set-up, a downgrade that timed out) ends the
        TLS connection too; "handed_over" (a downgrade gave the TCP socket away) leaves
        it to the relay. Waiting recvs get ``{error, closed}``, the send window goes,
        later calls answer as for a closed socket."""
        if self.state is _S.CLOSED:
            return
        self.service.windows.revoke(self)
        self._set_state(_S.CLOSED)
        self.downgrade = None
        self.delivery.fail_waiters(CLOSED)
        if self._recv_timer is not None:
            self._recv_timer.cancel()
            self._recv_timer = None
        self.release_postponed()
        self.delivery.closed_reported = True
        if reason == "closed":
            if self.tls is not None:
                self.tls.close()
            if self.opening is not None:      # a connect or handshake: it ends here
                self.opening.cancel()
            if self.pending_tcp is not None:
                self.pending_tcp.close()
                self.pending_tcp = None
            if self.pending_relay is not None:
                self.pending_relay.close()
                self.pending_relay = None
        elif reason != "handed_over":
            raise ValueError(f"unknown end {reason!r}")
        held, self._held_end = self._held_end, None
        if held is not None:
            held()
        self.service.forget(self)

    def close_now(self):
        self._finish("closed")

    def hold_end(self, end) -> None:
        """The TLS transport's ``_end_failed``: this socket's failed handshake ends its
        connection by ``end()`` once the caller has the reply (``handshake_failed``);
        a close meanwhile runs it at once."""
        self._held_end = end

    def close_after_reply(self):
        """Closed now for every later call, as ``close_now``; but the connection itself
        (what the peer sees end) ends in the function returned, which the caller's
        Reply runs as its ``then`` once the caller has the reply (``Reply.ack``).
        ssl's order: the connection process answers its caller and then ends
        (``user_hello``'s cancel replies ``ok`` before its alert; ``ssl_gen_statem``'s
        ``stop_and_reply`` on a handshake timeout; ``handle_own_alert`` replies before
        its process stops), so the peer cannot see the end before the caller has
        its answer."""
        tls, self.tls = self.tls, None
        tcp, self.pending_tcp = self.pending_tcp, None
        held, self._held_end = self._held_end, None
        self.close_now()

        def end() -> None:
            if tls is not None:
                tls.close()
            if tcp is not None:
                tcp.close()
            if held is not None:
                held()
        return end

    # ---- set-up -------------------------------------------------------------
    async def establish(self, opening):
        """The TLS connection that ``opening`` (a bridge.tls.transport coroutine: TCP
        connect and handshake) makes. ``close_now()`` meanwhile (close/1, the owner's
        exit or node gone) aborts it with ``TLSClosed``: ssl's connection process
        ends with its owner, handshake or not, and a handshake that waits for a
        silent peer with timeout infinity would otherwise keep the connection."""
        task = self.opening = asyncio.ensure_future(opening)
        try:
            return await task
        except asyncio.CancelledError:
            if self.closed and task.cancelled():
                raise transport.TLSClosed("closed during the handshake") from None
            raise
        finally:
            self.opening = None

    def established(self, tls) -> bool:
        """The handshake made ``tls``: HELD until the owner has its socket. False (and
        the connection closed) if the socket was closed in the step that finished it."""
        self.tls = tls
        if self.closed:
            tls.close()
            return False
        self._set_state(_S.HELD)
        self.apply_os_options()
        status = tls.engine.early_data_status
        if status is not None:
            # tls_handshake_1_3:signal_user_early_data/2: a client's owner hears whether
            # the server took its early data before connect returns (the reply follows
            # on the same connection, so in order)
            self.service.node.send(self.delivery.owner, (_A_SSL, self.term, (_A_EARLY_DATA, Atom(status))))
        return True

    def handshake(self, opts, timeout, caller, *, new_api):
        if not is_timeout(timeout) or not isinstance(opts, list):
            raise Raise(Atom("function_clause"))
        if self.role != "server" or self.state is not _S.ACCEPTED:
            return error(Atom("not_allowed_in_state")) if self.tls is None else error(EINVAL)
        if self.config_error is not None and opts:
            # ssl_gen_statem:config_error/3 answers {start, Opts, T} like any call
            return error(CLOSED)
        return self._handshake(opts, to_timeout(timeout), caller, new_api)

    async def _handshake(self, opts, timeout, caller, new_api):
        self._set_state(_S.HANDSHAKING)
        try:
            if opts:
                parsed = await off_loop_if_heavy(opts, options.parse_handshake_options, opts,
                                                self.parsed)
                files = dict(self.listen_files)
                missing = [p for _, p in parsed.files if p not in files]
                if missing:
                    files.update(await self.service.read_files(caller, missing))
                cfg = await off_loop_if(config_heavy(parsed, files), options.build_tls_config,
                                        parsed, "server", files)
                cfg = hooks.attach(cfg, parsed, self.service, caller, files)
                self.option_sources = parsed.sources      # connection_information/1
            else:
                # the listen socket's options: its config is built once (raises
                # for a bad file as building it here would) and shared
                heavy_cfg = config_heavy(self.parsed, self.listen_files)
                cfg = await (off_loop_if(heavy_cfg, self.listen_sock.server_config)
                             if self.listen_sock is not None
                             else off_loop_if(heavy_cfg, options.build_tls_config,
                                              self.parsed, "server", self.listen_files))
                cfg = hooks.attach(cfg, self.parsed, self.service, caller, self.listen_files)
            if hello_pause.wants_pause(parsed if opts else self.parsed) and self.pending_tcp is not None:
                return await hello_pause.pause(self, parsed if opts else self.parsed,
                                               files if opts else self.listen_files, cfg, timeout, caller)
            return await self._accept(cfg, timeout, new_api)
        except (SslOptionError, options.ErlangException) as exc:
            return self.handshake_failed(exc)

    async def _accept(self, cfg, timeout, new_api, initial: bytes = b""):
        """The server handshake on the accepted TCP socket (``initial``: the client's
        bytes a paused hello read already); the reply of handshake/1,2,3 and of
        handshake_continue/2,3."""
        try:
            relayed, self.pending_relay = self.pending_relay, None
            csock, self.pending_tcp = self.pending_tcp, None
            if relayed is not None:     # a user's transport (cb_info): TLS over its relay
                tls = await self.establish(relayed.open(cfg, timeout, self))
            else:
                if csock is None:
                    return error(CLOSED)
                inet.set_options(csock, {})
                tls = await self.establish(transport.accept_tls(csock, cfg, timeout=timeout,
                                                                receiver=self, initial=initial))
        except (SslOptionError, options.ErlangException, *HANDSHAKE_FAILURES) as exc:
            return self.handshake_failed(exc)
        if not self.established(tls):
            return error(CLOSED)
        return Reply((OK, self.term) if new_api else OK, self.release, opens=self)

    def handshake_failed(self, exc):
        """ssl's answer to what a handshake's set-up or run raised: an option error's
        term, an Erlang exception raised in the caller, or the ``{error, Reason}`` of a
        failed handshake (``failure_reply``). The socket is closed at once; the
        connection ends once the caller has the reply (``close_after_reply``: ssl
        answers the caller before its connection process stops)."""
        end = self.close_after_reply()
        try:
            if isinstance(exc, SslOptionError):
                return Reply(exc.term, end, ack=True)
            if isinstance(exc, options.ErlangException):
                raise Raise(exc.reason, exc.cls) from None
            return Reply(failure_reply(exc, "handshake"), end, ack=True)
        except BaseException:
            end()       # no reply to wait for
            raise

    def release(self, carry=None):
        """The owner has its socket: start delivering. ``carry``: the shim's reply
        that hands the socket over, not sent yet, which goes with the window's grant
        or before it (``Windows.grant``); either way before any delivery."""
        if self.state is _S.HELD:
            self._set_state(_S.OPEN)
        self.service.windows.grant(self, carry)
        self.delivery.pump()

    # ---- receiver callbacks (called by the TLS transport) ------------------
    def data_received(self, data: bytes) -> None:
        if self.state in _HELD:
            self.delivery.decoder.feed(data)
        else:
            self.delivery.data_received(data)

    def tickets_received(self, tickets) -> None:
        """session_tickets manual: ``{ssl, session_ticket, Ticket}`` to the owner, as
        ``tls_connection_1_3:send_ticket_data/5`` sends it; pyssl's Ticket is a binary
        (OpenSSL's session with the ticket), which ``{use_ticket, [Ticket]}`` takes."""
        for der in tickets:
            self.service.node.send(self.delivery.owner, (_A_SSL, _A_SESSION_TICKET, der))

    def eof_received(self) -> None:
        if self.state is _S.DOWNGRADING:   # the peer's answer to our close_notify
            self.downgrade.peer_closed()
            return
        self.delivery.peer_closed(deliver=self.state not in _HELD)

    def connection_failed(self, exc) -> None:
        reason = tls_alert(exc) if isinstance(exc, transport.TLSAlertError) else CLOSED
        # an active owner's ssl_error revokes the window on its way
        self.delivery.failed(reason, deliver=self.state not in _HELD)
        self.service.windows.revoke(self)

    def connection_lost(self) -> None:
        """The TCP connection is gone: a send would now say closed, so the window goes.
        Not before this step's end of stream, which the transport reports right
        after this (an RST, a failed write): an active owner's {ssl_closed, S} then
        revokes the window on its way through the guard. A revoke sent first would
        leave that message to go straight to the owner, who could then send on the
        window before the guard had the revoke (ok, for data that goes nowhere)."""
        asyncio.get_running_loop().call_soon(self.service.windows.revoke, self)

    def _ended(self) -> None:
        # ssl's connection process ends once it has told its owner that the socket is
        # closed ({ssl_closed, S}, {ssl_error, S, R}, or a recv's error): every later
        # call answers as for a closed socket. So the socket leaves the table now: the
        # owner's next call can be served before a callback scheduled here runs
        # (uvloop polls for I/O first). Only the TLS close waits for the loop, as
        # this runs inside the transport's callbacks.
        self.service.forget(self)
        asyncio.get_running_loop().call_soon(self.close_now)

    def _flow(self, paused: bool) -> None:
        if self.tls is not None:
            if paused:
                self.tls.pause_reading()
            else:
                self.tls.resume_reading()

    # ---- data ---------------------------------------------------------------
    def send(self, data):
        try:
            payload = iodata_to_bytes(data)
        except Raise:
            raise Raise(Atom("function_clause"))
        return self._write(payload)

    def _write(self, payload: bytes):
        # HELD too: a send of a socket the owner cannot know yet is not refused
        if self.state not in (_S.OPEN, _S.HELD) or self.tls is None or self.tls.is_closing():
            return error(CLOSED)
        try:
            framed = packet_encode(self.delivery.packet, payload)
        except ValueError as exc:
            return error((Atom("badarg"), exc.args[0]))
        tls = self.tls
        tls.write(framed)
        if tls.write_paused():
            # the peer is not reading: the caller waits, as ssl's send does when its
            # socket's buffer is full (sends taken from a window wait for their ack)
            fut = asyncio.get_running_loop().create_future()
            tls.when_drained(lambda: fut.done() or fut.set_result(OK))
            return fut
        return OK

    # ---- send window (windows.py) -------------------------------------------------
    def can_take_window(self) -> bool:
        """Whether a send call could only answer ok now: open for writing, and a packet
        type whose header holds any send a window allows ({packet, 1} and {packet, 2}
        refuse sends over 255 / 65535 bytes; 4 only over 4 GiB)."""
        return (self.state is _S.OPEN and self.tls is not None and not self.tls.is_closing()
                and self.delivery.packet not in SMALL_HEADERS)

    def send_unreplied(self, data) -> int:
        """A send taken from the window: as ``send``, without a reply; returns its size."""
        payload = iodata_to_bytes(data)
        self._write(payload)
        return len(payload)

    def final_message(self, msg) -> None:
        self.service.windows.final_message(self, msg)

    def recv(self, length, timeout, reply=None):
        """The reply now, or a future of it; with ``reply`` given, a reply that has to
        wait is passed to ``reply`` when it is known (the shim's calls: no future,
        no extra loop step) and None is returned."""
        if not is_timeout(timeout):
            raise Raise(Atom("function_clause"))
        if not isinstance(length, int) or isinstance(length, bool) or length < 0:
            # ssl:recv/3 has no guard on Length: in raw mode such a recv is never
            # satisfied (OTP 25 times out, or crashes its connection once data is
            # there); here it waits for its timeout or the close, data left intact.
            length = _NEVER
        if self.closed:
            return error(CLOSED)
        if self.delivery.active is not False:
            return error(EINVAL)
        if self.tls is None:
            return error(CLOSED)
        if reply is not None:
            box = []
            waiter = self.delivery.recv(length, box.append)
            if waiter is None:
                return box[0] if box else error(CLOSED)
            waiter.reply = reply      # the Recv replies exactly once
            self._recv_deadline(waiter, timeout)
            return None
        loop = asyncio.get_running_loop()
        fut = loop.create_future()

        def set_reply(value):
            if not fut.done():
                fut.set_result(value)

        waiter = self.delivery.recv(length, set_reply)
        if fut.done():
            return fut.result()
        if waiter is not None:
            self._recv_deadline(waiter, timeout)
        return fut

    # ---- recv timeouts ----------------------------------------------------------
    # One loop timer per socket for all its recvs, kept when a recv is answered in
    # time: the next recv finds it armed and only notes its own deadline. A timer
    # per recv (call_later, then cancel when the data came) cost ~10 us of each
    # recv with a timeout (uvloop makes and closes a libuv timer for each); with
    # the same timeout recv after recv, the kept timer fires once per timeout
    # period, finds the current recv's deadline later, and is set again for it.
    _recv_timer = None          # the armed timer (an asyncio.TimerHandle), or None
    _recv_timer_at = 0.0        # when it fires (loop time)

    def _recv_deadline(self, waiter, timeout) -> None:
        secs = to_timeout(timeout)
        if secs is None:
            return
        loop = asyncio.get_running_loop()
        waiter.deadline = deadline = loop.time() + secs
        if self._recv_timer is not None:
            if self._recv_timer_at <= deadline:
                return              # fires first; then sets itself for this one
            self._recv_timer.cancel()
        self._recv_timer_at = deadline
        self._recv_timer = loop.call_at(deadline, self._recv_timer_fired)

    def _recv_timer_fired(self) -> None:
        self._recv_timer = None
        if self.closed:
            return
        loop = asyncio.get_running_loop()
        later = self.delivery.expire(loop.time())
        if later is not None:
            self._recv_timer_at = later
            self._recv_timer = loop.call_at(later, self._recv_timer_fired)

    # ---- close --------------------------------------------------------------
    def _relay(self):
        """The relay under an upgraded socket (``upgrade.RelayTransport``), which owns
        the TCP socket on the caller's node; None for a socket with an OS socket here."""
        t = getattr(self.tls, "transport", None)
        if t is None:       # accepted from a user's transport, before its handshake
            return None if self.pending_relay is None else self.pending_relay.rt
        return t.get_extra_info("relay")

    def close(self, how):
        if isinstance(how, tuple):        # {NewController, Timeout}: give TCP back
            return self._downgrade(how[0], how[1])
        return super().close(how)

    def _downgrade(self, new_owner: Pid, timeout):
        """``close(S, {NewController, Timeout})``: only an upgraded socket has a TCP
        socket on the caller's node to give back (its relay runs the downgrade); a
        socket the bridge connected itself answers ``{error, {not_supported_by_pyssl,
        downgrade}}`` and stays open."""
        if self.closed or self.tls is None:
            return error(CLOSED)
        relay = self._relay()
        if relay is None:
            return error((Atom("not_supported_by_pyssl"), Atom("downgrade")))
        if self.state is _S.DOWNGRADING:
            return error(CLOSED)
        running = relay.downgrade(self, new_owner).run(to_timeout(timeout))
        self.service.windows.revoke(self)
        return running

    def begin_downgrade(self, downgrade) -> bool:
        """The downgrade starts (its first step, not the close call: until then input
        is the owner's as before). False if the socket closed meanwhile."""
        if self.state not in (_S.OPEN, _S.WRITE_SHUT):
            return False
        self.downgrade = downgrade
        self._set_state(_S.DOWNGRADING)
        return True

    def shutdown(self, how):
        if how not in (Atom("read"), Atom("write"), Atom("read_write")):
            raise Raise(Atom("function_clause"))
        if self.closed or self.tls is None:
            return error(CLOSED)
        if how is Atom("read_write"):
            # ssl_gen_statem:handle_call({shutdown, read_write}, ...): close_notify, then
            # gen_tcp:shutdown(read_write); the TCP port's tcp_closed that follows makes
            # the connection tell an active owner {ssl_closed, S} and end
            self.delivery.peer_closed(deliver=self.state not in _HELD)
            self.close_now()
            return OK
        if how is Atom("write"):
            if self.state is _S.OPEN:
                self.service.windows.revoke(self)
                self._set_state(_S.WRITE_SHUT)
                self.tls.shutdown_write()
            return OK
        # read: ssl runs gen_tcp:shutdown(S, read); the TCP port then reads end of
        # stream and the connection ends as if the peer had closed (a recv, waiting
        # or later, is {error, closed}; an active owner gets {ssl_closed, S})
        self.tls.shutdown("read")
        self.delivery.peer_closed(deliver=self.state not in _HELD)
        return OK

    def controlling_process(self, new_owner: Pid):
        moved = new_owner.node is not self.owner.node
        if moved:           # the window is kept on the owner's node
            self.service.windows.revoke(self)
        self.service.change_owner(self, new_owner)
        self.delivery.owner = new_owner
        if moved:
            self.service.windows.grant(self)
        return OK

    # ---- options ------------------------------------------------------------
    def setopts(self, opts, caller=None):
        if self.closed:
            return error(CLOSED)
        changes = parse(options.parse_setopts, opts, self.parsed.socket)
        if not isinstance(changes, list):
            return changes
        s, inet_changes = split_changes(changes)
        self._own_parsed()
        d = self.delivery
        if "active" in s and socket_options.active_overflows(d.active, s["active"]):
            return error((Atom("options"), (Atom("socket_options"), (Atom("active"), s["active"]))))
        reframed = d.set_options(s)
        if reframed:
            if d.packet in SMALL_HEADERS:    # a send may now be refused (too big)
                self.service.windows.revoke(self)
            else:
                self.service.windows.grant(self)
        relayed = None
        if inet_changes:
            sock = self._raw_socket()
            if sock is not None:
                inet.set_options(sock, inet_changes)
            else:
                relay = self._relay()
                if relay is not None:       # the relay's gen_tcp socket: asked, answered
                    relayed = relay.setopts(inet_changes)
            self.parsed.inet.update(inet_changes)
        if "active" in s:
            d.set_active(s["active"], held=self.state in _HELD)
        elif reframed and self.state not in _HELD:
            # bytes kept under the old framing may make packets under the new one
            # (after http_eoh, {packet, 0} delivers the body at once): OTP's
            # ssl_gen_statem handles set_opts by reading its buffer again
            d.pump()
        # as ssl_gen_statem:set_socket_opts/6: the emulated options first, then the
        # others, whose error is the reply
        return OK if relayed is None else relayed

    # The parsed options are shared (with other connects of the same options, or
    # with the listen socket and its other accepted sockets) until a setopts: its OS
    # options (``inet``) are copied then. The emulated ones are the Delivery's own.
    _parsed_own = False

    def _own_parsed(self) -> None:
        if not self._parsed_own:
            p = self.parsed
            self.parsed = options.ParsedOptions(
                role=p.role, socket=p.socket, inet=dict(p.inet), ssl=p.ssl,
                files=p.files, given=p.given, inet_list=p.inet_list, sources=p.sources)
            self._parsed_own = True

    def getopts(self, names):
        if self.closed:
            return error(CLOSED)
        wanted = parse(options.parse_getopts, names)
        if not isinstance(wanted, list):
            return wanted
        sopts = self.delivery.opts.as_dict()
        # ssl answers exit_on_close (true unless set), as gen_tcp does
        sopts.setdefault("exit_on_close", True)
        sock = self._raw_socket()
        if sock is None:
            relay = self._relay()
            if relay is not None:
                return relay.getopts(wanted, sopts)
        return (OK, inet.get_options(sock, wanted, sopts))

    def apply_os_options(self) -> None:
        """The caller's gen_tcp options on the established socket. The transport
        turns Nagle off for the handshake; afterwards ``nodelay`` is what the
        caller asked for, false by default as in gen_tcp."""
        opts = dict(self.parsed.inet)
        opts.setdefault("nodelay", False)
        inet.set_options(self._raw_socket(), opts)

    def _raw_socket(self):
        if self.tls is not None:
            return self.tls.socket()
        return self.pending_tcp


def packet_encode(packet, payload: bytes) -> bytes:
    if packet == 0 or packet == "raw":      # raw: the data as it is (most sends)
        return payload
    return encode_packet(packet, payload)
