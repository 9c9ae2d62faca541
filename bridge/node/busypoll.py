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
"""
from __future__ import annotations

import asyncio
import time

# Upper bound of the window: the BEAM's longest scheduler busy wait (+sbwt very_long)
# is of this order; past it, spinning costs a core for nothing a sleep would not give.
MAX_WINDOW_US = 10_000


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
    """Keeps the running loop from sleeping for ``window_us`` after each ``kick``."""

    __slots__ = ("window", "_deadline", "_loop", "_spinning", "spins")

    def __init__(self, window_us: int):
        self.window = parse_window_us(window_us) / 1e6
        self._deadline = 0.0
        self._loop = None
        self._spinning = False
        self.spins = 0          # loop iterations spent polling (for tests and stats)

    def kick(self) -> None:
        """Activity: poll for the window from now on (called on the loop)."""
        if not self.window:
            return
        self._deadline = time.monotonic() + self.window
        if not self._spinning:
            self._spinning = True
            if self._loop is None:
                self._loop = asyncio.get_running_loop()
            self._loop.call_soon(self._spin)

    def _spin(self) -> None:
        # One ready callback per loop iteration: the loop polls with a zero timeout
        # and comes back here; once past the deadline, it may sleep again.
        if time.monotonic() < self._deadline:
            self.spins += 1
            self._loop.call_soon(self._spin)
        else:
            self._spinning = False
