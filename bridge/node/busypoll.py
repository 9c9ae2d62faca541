"""A bounded busy-poll of the event loop after distribution traffic (asyncio edge).

A caller's BEAM scheduler spins for a while after it sends a request before it
sleeps (erts' scheduler busy wait, ``+sbwt``); a reply that arrives within that
window is picked up at once, one that arrives later pays the caller's wake-up
from sleep, which on a small VM costs tens of microseconds. The bridge paid the
same twice over: it slept in ``epoll_wait`` between a caller's requests, so each
request first woke the bridge (a context switch, the bulk of its kernel time per
call), and its reply then often came after the caller stopped spinning.

``BusyPoll`` reproduces the scheduler's busy wait on the bridge's loop: each
``kick`` (a read from, or a write to, a distribution connection) keeps the loop
polling for ``window`` seconds more. It polls by keeping one callback ready,
which makes uvloop (and asyncio) poll the selector with a zero timeout instead of
sleeping, so every source (distribution, TLS sockets, timers) is served as it
would be otherwise, just without the sleep and wake-up in between. The cost is
CPU: up to ``window`` of spinning after the last event of each burst, and all
the time while requests keep coming faster than that. Off when ``window`` is 0.

Spinning pays only while the bridge has a core to itself. On a machine with no
idle core a spinning bridge takes CPU from the very processes it waits for (the
caller's BEAM, the TLS peer), and calls got slower, not faster (measured on 2
shared cores under other sessions' load, docs/performance.md). So each spell of
polling measures the share of a core the loop thread actually got (its thread CPU
time over wall time): a spell that got less than ``FAIR_SHARE`` mostly waited to
run, and the loop then sleeps as without busy-poll for ``BACKOFF`` seconds before
it tries again. The BEAM has no such check; its schedulers compete only with each other.
"""
from __future__ import annotations

import asyncio
import time

# Upper bound of the window: the BEAM's longest scheduler busy wait (+sbwt very_long)
# is of this order; past it, spinning costs a core for nothing a sleep would not give.
MAX_WINDOW_US = 10_000

# A spell that got under this share of a core was mostly waiting to run: more runnable
# threads than cores. Not higher: in an echo on 2 idle cores the loop thread, the
# caller's spinning scheduler and the TLS peer often share them (shares of 0.3-0.5
# while spinning still cut the round trip from ~200 to ~145 us; 0.25 and no check at
# all measured the same, 0.5 and 0.8 lost the gain).
FAIR_SHARE = 0.25
# How long the loop sleeps normally after a contended spell before it polls again.
BACKOFF = 0.5
# A long spell (calls keep coming) is checked this often, not only at its end.
CHECK_EVERY = 0.01


def parse_window_us(value) -> int:
    """The ``--busy-poll`` value: microseconds, an integer in 0..MAX_WINDOW_US.
    ValueError otherwise (the CLI turns it into a usage error)."""
    try:
        us = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"busy-poll window must be an integer number of microseconds, not {value!r}")
    if not 0 <= us <= MAX_WINDOW_US:
        raise ValueError(f"busy-poll window must be 0..{MAX_WINDOW_US} microseconds, not {us}")
    return us


class BusyPoll:
    """Keeps the running loop from sleeping for ``window_us`` after each ``kick``,
    while the loop thread gets a core to itself."""

    __slots__ = ("window", "_deadline", "_loop", "_spinning", "spins", "backoffs",
                 "_quiet_until", "_mark_wall", "_mark_cpu", "_clock", "_cpu_clock")

    def __init__(self, window_us: int, *, clock=time.monotonic, cpu_clock=time.thread_time):
        self.window = parse_window_us(window_us) / 1e6
        self._deadline = 0.0
        self._loop = None
        self._spinning = False
        self.spins = 0          # loop iterations spent polling (for tests and stats)
        self.backoffs = 0       # spells cut short because a core was not free
        self._quiet_until = 0.0
        self._mark_wall = 0.0   # start of the share now measured (wall, thread CPU)
        self._mark_cpu = 0.0
        self._clock = clock
        self._cpu_clock = cpu_clock

    def kick(self) -> None:
        """Activity: poll for the window from now on (called on the loop)."""
        if not self.window:
            return
        now = self._clock()
        self._deadline = now + self.window
        if not self._spinning and now >= self._quiet_until:
            self._spinning = True
            self._mark_wall = now
            self._mark_cpu = self._cpu_clock()
            if self._loop is None:
                self._loop = asyncio.get_running_loop()
            self._loop.call_soon(self._spin)

    def _spin(self) -> None:
        # One ready callback per loop iteration: the loop polls with a zero timeout
        # and comes back here; once past the deadline, it may sleep again.
        now = self._clock()
        ending = now >= self._deadline
        if (ending or now - self._mark_wall >= CHECK_EVERY) and self._preempted(now):
            self.backoffs += 1
            self._quiet_until = now + BACKOFF
            ending = True
        if ending:
            self._spinning = False
        else:
            self.spins += 1
            self._loop.call_soon(self._spin)

    def _preempted(self, now: float) -> bool:
        """Whether the loop thread got under FAIR_SHARE of a core since the mark
        (which moves to now)."""
        cpu = self._cpu_clock()
        wall = now - self._mark_wall
        got = cpu - self._mark_cpu
        self._mark_wall, self._mark_cpu = now, cpu
        return wall > 0 and got < FAIR_SHARE * wall
