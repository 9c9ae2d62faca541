"""The bridge's bounded busy-poll (bridge/node/busypoll.py) and its CLI flag."""
import asyncio

import pytest

from bridge.cli import DEFAULT_BUSY_POLL_US, parse_args
from bridge.node.busypoll import MAX_WINDOW_US, BusyPoll, parse_window_us


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
        bp = BusyPoll(1000)       # 1 ms
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
