"""The bridge's bounded busy-poll (bridge/node/busypoll.py) and its CLI flag."""
import asyncio
import time

import pytest

from bridge.cli import DEFAULT_BUSY_POLL_US, parse_args
from bridge.node.busypoll import BACKOFF, CHECK_EVERY, FAIR_SHARE, MAX_WINDOW_US, BusyPoll, parse_window_us


@pytest.mark.parametrize("value, us", [("0", 0), ("50", 50), (str(MAX_WINDOW_US), MAX_WINDOW_US), (7, 7)])
def test_window_parsed(value, us):
    assert parse_window_us(value) == us


@pytest.mark.parametrize("value", ["-1", str(MAX_WINDOW_US + 1), "abc", "1.5", "", None])
def test_window_out_of_bounds_or_not_an_integer_is_refused(value):
    with pytest.raises(ValueError):
        parse_window_us(value)
    with pytest.raises(ValueError):
        BusyPoll(value)


def test_cli_flag_default_and_value():
    assert parse_args(["--name", "a@b"]).busy_poll == DEFAULT_BUSY_POLL_US
    assert parse_args(["--name", "a@b", "--busy-poll", "80"]).busy_poll == 80


@pytest.mark.parametrize("value", ["-5", str(MAX_WINDOW_US + 1), "fast"])
def test_cli_flag_out_of_bounds_is_a_usage_error(value, capsys):
    with pytest.raises(SystemExit) as exc:
        parse_args(["--name", "a@b", "--busy-poll", value])
    assert exc.value.code == 2
    assert "busy-poll" in capsys.readouterr().err


def test_off_never_spins():
    async def run():
        bp = BusyPoll(0)
        bp.kick()
        for _ in range(10):
            await asyncio.sleep(0)
        return bp.spins, bp._spinning
    assert asyncio.run(run()) == (0, False)


def test_a_kick_keeps_the_loop_polling_then_it_stops_by_itself():
    async def run():
        # 1 ms; its thread CPU clock is the wall clock (a core of its own), so a
        # loaded test machine cannot make it back off
        bp = BusyPoll(1000, cpu_clock=time.monotonic)
        bp.kick()
        assert bp._spinning
        for _ in range(3):        # each loop iteration runs the spinner once
            await asyncio.sleep(0)
        spun = bp.spins
        # bounded: it ends on its own once the window is past (no kick since);
        # waited for by sleeping, which lets the loop run the spinner
        while bp._spinning:
            await asyncio.sleep(0.01)
        ended = bp.spins
        for _ in range(5):
            await asyncio.sleep(0)
        return spun, ended, bp.spins

    spun, ended, after = asyncio.run(run())
    assert spun >= 1
    assert after == ended         # nothing runs once it stopped


def test_kicks_while_spinning_schedule_one_spinner():
    async def run():
        bp = BusyPoll(MAX_WINDOW_US)
        bp.kick()
        bp.kick()
        bp.kick()
        ready = len(asyncio.get_running_loop()._ready)
        bp._deadline = 0.0        # end the window without waiting for it
        while bp._spinning:
            await asyncio.sleep(0)
        return ready
    assert asyncio.run(run()) == 1


class _Clocks:
    """Wall and thread-CPU clocks the test moves by hand."""

    def __init__(self):
        self.wall = 100.0
        self.cpu = 5.0

    def run(self, wall: float, share: float) -> None:
        """``wall`` seconds pass, of which the loop thread ran ``share``."""
        self.wall += wall
        self.cpu += wall * share


def _spinner(clocks: _Clocks, window_us: int = 1000) -> BusyPoll:
    return BusyPoll(window_us, clock=lambda: clocks.wall, cpu_clock=lambda: clocks.cpu)


def test_the_default_window_is_on_and_bounded():
    assert 0 < DEFAULT_BUSY_POLL_US <= MAX_WINDOW_US


def test_a_spell_that_had_its_core_keeps_polling_and_never_backs_off():
    clocks = _Clocks()

    async def run():
        bp = _spinner(clocks)
        bp.kick()
        for _ in range(50):                 # 50 iterations over ~3 ms, on a core of its own
            clocks.run(0.00006, 0.95)
            bp.kick()                       # traffic keeps coming
            await asyncio.sleep(0)
        clocks.run(0.002, 1.0)              # past the window
        while bp._spinning:
            await asyncio.sleep(0)
        return bp
    bp = asyncio.run(run())
    assert bp.spins >= 40 and bp.backoffs == 0


def test_a_preempted_spell_stops_and_the_loop_sleeps_for_the_backoff():
    """A spell in which the loop thread got under FAIR_SHARE of a core (more runnable
    threads than cores): it ends, and kicks start none until BACKOFF has passed."""
    clocks = _Clocks()

    async def run():
        bp = _spinner(clocks, MAX_WINDOW_US)
        bp.kick()
        clocks.run(CHECK_EVERY * 1.5, FAIR_SHARE / 2)   # mostly waiting to run
        await asyncio.sleep(0)              # the spinner checks: preempted
        await asyncio.sleep(0)
        stopped = not bp._spinning
        clocks.run(BACKOFF / 2, 0.0)
        bp.kick()                           # within the back-off: no spell
        during = bp._spinning
        clocks.run(BACKOFF, 0.0)
        bp.kick()                           # after it: polling again
        after = bp._spinning
        bp._deadline = 0.0
        while bp._spinning:
            await asyncio.sleep(0)
        return stopped, during, after, bp.backoffs
    assert asyncio.run(run()) == (True, False, True, 1)


def test_a_short_preempted_spell_is_checked_at_its_end():
    clocks = _Clocks()

    async def run():
        bp = _spinner(clocks, 100)
        bp.kick()
        clocks.run(0.0005, 0.1)             # past the 100 us window, mostly not running
        while bp._spinning:
            await asyncio.sleep(0)
        bp.kick()
        return bp.backoffs, bp._spinning
    assert asyncio.run(run()) == (1, False)
