"""bridge.service.observe.Observer: the figures from the counters, without a network."""
import time

from bridge.service.observe import Observer, rss_bytes
from bridge.tls.stats import BridgeCounters


class FakeService:
    def __init__(self):
        self.sockets = {}
        self.by_owner = {}


def test_figures_are_the_counters_and_rates_cover_the_window():
    c = BridgeCounters()
    obs = Observer(FakeService(), c, interval=0)
    c.connections, c.connections_lost = 5, 2
    c.handshakes, c.handshake_errors, c.connection_errors = 4, 1, 1
    c.bytes_in, c.bytes_out = 4000, 3000
    # as if the service had started 100 s ago with every counter at 0
    obs._marks[0] = (time.monotonic() - 100, 0, 0, 0)
    f = obs.figures()
    assert (f["connections_open"], f["connections_total"]) == (3, 5)
    assert (f["handshakes"], f["errors"], f["bytes_in"], f["bytes_out"]) == (4, 2, 4000, 3000)
    assert (f["sockets"], f["listen_sockets"], f["owners"]) == (0, 0, 0)
    # the rates are the counters over the window since the oldest kept mark
    assert 100 <= f["rate_window"] < 200
    assert 0.02 < f["handshakes_per_sec"] <= 0.04 and 20 < f["bytes_in_per_sec"] <= 40
    # two summaries later, the window starts at the first of them: what came before
    # no longer counts in the rates
    obs._marks.append(obs._mark(time.monotonic()))
    obs._marks.append(obs._mark(time.monotonic()))
    f = obs.figures()
    assert f["handshakes_per_sec"] == 0 and f["bytes_in_per_sec"] == 0
    assert f["handshakes"] == 4


def test_summary_is_one_line_with_the_figures():
    c = BridgeCounters()
    c.connections, c.handshakes, c.bytes_in = 2, 2, 2048
    line = Observer(FakeService(), c, interval=0).summary_line()
    assert "\n" not in line
    assert line.startswith("summary: 2 connections open (2 total), 0 sockets, 0 listening, 2 handshakes")
    assert "in 2048 B" in line and "rss " in line


def test_no_interval_no_timer():
    obs = Observer(FakeService(), BridgeCounters(), interval=0)
    obs.start()                 # no loop needed, none started
    assert obs._timer is None
    obs.stop()


def test_rss_is_a_positive_byte_count():
    assert rss_bytes() > 1 << 20
