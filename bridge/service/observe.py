"""What the bridge tells about itself: ``pyssl:i/0`` rows, ``pyssl:stats/0`` and the
summary line it logs every interval.

* ``socket_rows(service)``: one map per ssl socket (``'$pyssl_sockets'/0``), what
  the shim's ``pyssl:i/0`` prints as ``inet:i/0`` prints its ports (inet.erl's
  ``i/2``: owner, addresses, state, bytes received and sent on the TCP socket).
* ``Observer``: the bridge's figures (``'$pyssl_stats'/0``) from the service's
  ``bridge.tls.stats.BridgeCounters`` (the data path only adds to those), and the
  one-line summary logged at info level every ``interval`` seconds. Rates are
  averaged since the summary before the last one (one to two intervals; since
  start until then), so an idle minute shows as falling rates, not as zero at once.
"""
from __future__ import annotations

import asyncio
import collections
import inspect
import logging
import os
import resource
import time

from bridge.etf.types import Atom

from .listen import ListenSocket
from .terms import OK, UNDEFINED

log = logging.getLogger("bridge.stats")

INTERVAL_ENV = "PYSSL_BRIDGE_STATS_INTERVAL"
DEFAULT_INTERVAL = 60.0
_LISTEN = Atom("listen")


def interval_from_env(default: float = DEFAULT_INTERVAL) -> float:
    """``$PYSSL_BRIDGE_STATS_INTERVAL`` in seconds (0 turns the summary off); a value
    that is not a number is ignored with a warning."""
    text = os.environ.get(INTERVAL_ENV)
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        log.warning("%s=%r is not a number of seconds: using %s", INTERVAL_ENV, text, default)
        return default


def rss_bytes() -> int:
    """The resident set size of this process now (Linux's /proc), else its peak."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _address(answer):
    # a socket's peername()/sockname() answer: {ok, {IP, Port}} or an error tuple;
    # a user transport's socket (cb_info) would ask its relay (a coroutine, not run
    # here) or the caller's node (a local step): undefined
    if inspect.iscoroutine(answer):
        answer.close()
        return UNDEFINED
    if isinstance(answer, tuple) and len(answer) == 2 and answer[0] is OK:
        return answer[1]
    return UNDEFINED


def socket_row(sock) -> dict:
    """One socket as the map ``pyssl:i/0`` formats. Nothing here may fail the call:
    a socket half-way through closing answers what it can."""
    tls = getattr(sock, "tls", None)
    listen = isinstance(sock, ListenSocket)
    try:
        local = _address(sock.sockname())
    except Exception:
        local = UNDEFINED
    try:
        peer = UNDEFINED if listen else _address(sock.peername())
    except Exception:
        peer = UNDEFINED
    protocol = UNDEFINED
    if tls is not None and tls.engine.handshake_done:
        try:
            protocol = Atom(tls.engine.version)
        except Exception:
            protocol = UNDEFINED
    stats = tls.stats if tls is not None else None
    return {
        Atom("socket"): sock.term,
        Atom("owner"): sock.owner,
        Atom("role"): _LISTEN if listen else Atom(sock.role),
        Atom("state"): _LISTEN if listen else Atom(sock.state.value),
        Atom("local"): local,
        Atom("peer"): peer,
        Atom("protocol"): protocol,
        Atom("recv_oct"): stats.recv_oct if stats is not None else 0,
        Atom("send_oct"): stats.send_oct if stats is not None else 0,
    }


def socket_rows(service) -> list:
    """``'$pyssl_sockets'/0``: every open ssl socket of the bridge, listen sockets
    first, then by owner (the order of inet:i/0 is the ports' creation order;
    grouping by owner reads better with many sockets)."""
    socks = list(service.sockets.values())
    rows = [socket_row(s) for s in socks if not getattr(s, "closed", False)]
    rows.sort(key=lambda r: (r[Atom("role")] is not _LISTEN, str(r[Atom("owner")])))
    return rows


class Observer:
    """The bridge's figures and its periodic summary line."""

    def __init__(self, service, counters, interval: float):
        self.service = service
        self.counters = counters
        self.interval = interval
        self.started = time.monotonic()
        # (time, handshakes, bytes in, bytes out) at start and at the last summaries
        self._marks = collections.deque([self._mark(self.started)], maxlen=2)
        self._timer = None

    def _mark(self, now: float) -> tuple:
        c = self.counters
        return (now, c.handshakes, c.bytes_in, c.bytes_out)

    def start(self) -> None:
        """Log a summary every ``interval`` seconds (none when it is 0 or less)."""
        if self.interval > 0:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._timer = loop.call_later(self.interval, self._tick)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _tick(self) -> None:
        try:
            log.info("%s", self.summary_line())
        except Exception:       # a summary is not worth the bridge
            log.exception("stats summary failed")
        self._marks.append(self._mark(time.monotonic()))
        self._timer = asyncio.get_running_loop().call_later(self.interval, self._tick)

    def figures(self) -> dict:
        """The figures as Python values (names as ``pyssl:stats/0`` gives them)."""
        now = time.monotonic()
        c = self.counters
        t0, hs0, in0, out0 = self._marks[0]
        window = max(now - t0, 1e-9)
        socks = self.service.sockets.values()
        listen = sum(1 for s in socks if isinstance(s, ListenSocket))
        return {
            "uptime": round(now - self.started, 3),
            "connections_open": c.connections_open,
            "connections_total": c.connections,
            "sockets": len(self.service.sockets) - listen,
            "listen_sockets": listen,
            "owners": len(self.service.by_owner),
            "handshakes": c.handshakes,
            "handshakes_per_sec": round((c.handshakes - hs0) / window, 3),
            "handshake_errors": c.handshake_errors,
            "connection_errors": c.connection_errors,
            "errors": c.handshake_errors + c.connection_errors,
            "bytes_in": c.bytes_in,
            "bytes_out": c.bytes_out,
            "bytes_in_per_sec": round((c.bytes_in - in0) / window, 3),
            "bytes_out_per_sec": round((c.bytes_out - out0) / window, 3),
            "rate_window": round(window, 3),
            "rss": rss_bytes(),
        }

    def stats(self) -> dict:
        """``'$pyssl_stats'/0``: the figures as an Erlang map with atom keys."""
        return {Atom(k): v for k, v in self.figures().items()}

    def summary_line(self) -> str:
        f = self.figures()
        return ("summary: {connections_open} connections open ({connections_total} total), "
                "{sockets} sockets, {listen_sockets} listening, {handshakes} handshakes "
                "({handshakes_per_sec:.1f}/s), {errors} errors ({handshake_errors} in handshakes), "
                "in {bytes_in} B ({bytes_in_per_sec:.0f} B/s), out {bytes_out} B "
                "({bytes_out_per_sec:.0f} B/s), rss {rss_mib:.1f} MiB, up {uptime:.0f} s"
                ).format(rss_mib=f["rss"] / 1048576, **f)
