"""Byte and packet counters of a connection's TCP socket, as ``inet:getstat/2`` keeps them.

The inet driver counts each read that delivered data and each write it was given
(``inet_input_count`` / ``inet_output_count`` in erts' inet_drv.c): octets, count,
largest, running average and, for reads, the running average deviation from it.
``ssl:getstat/1,2`` reports these for the TCP socket under the TLS connection, so
what is counted here is ciphertext: every chunk read from the socket and every
chunk handed to it.
"""
from __future__ import annotations


class IOStats:
    __slots__ = (
        "recv_avg",
        "recv_cnt",
        "recv_dvi",
        "recv_max",
        "recv_oct",
        "send_avg",
        "send_cnt",
        "send_max",
        "send_oct",
    )

    def __init__(self):
        self.recv_oct = self.recv_cnt = self.recv_max = 0
        self.send_oct = self.send_cnt = self.send_max = 0
        self.recv_avg = self.recv_dvi = self.send_avg = 0.0

    def received(self, n: int) -> None:
        cnt = self.recv_cnt + 1
        self.recv_cnt = cnt
        self.recv_oct += n
        self.recv_max = max(self.recv_max, n)
        avg = self.recv_avg + (n - self.recv_avg) / cnt
        self.recv_avg = avg
        self.recv_dvi += (abs(n - avg) - self.recv_dvi) / cnt

    def sent(self, n: int) -> None:
        cnt = self.send_cnt + 1
        self.send_cnt = cnt
        self.send_oct += n
        self.send_max = max(self.send_max, n)
        self.send_avg += (n - self.send_avg) / cnt

    def value(self, name: str, send_pend: int) -> int:
        """One ``inet:stat_option()``'s value (an integer, as inet reports them)."""
        if name == "send_pend":
            return send_pend
        return int(getattr(self, name))


class BridgeCounters:
    """Totals over every TLS connection of one bridge, for ``pyssl:stats/0``.

    The data path pays one integer add per read and per write (``bytes_in``,
    ``bytes_out``); the rest moves once per connection. Rates and gauges are worked
    out when asked (bridge.service.observe), never on the data path.
    """
    __slots__ = ("bytes_in", "bytes_out", "connection_errors", "connections", "connections_lost",
                 "handshake_errors", "handshakes")

    def __init__(self):
        self.bytes_in = self.bytes_out = 0
        self.connections = self.connections_lost = 0      # TCP connections made / gone
        self.handshakes = self.handshake_errors = 0       # completed / failed (not cancelled)
        self.connection_errors = 0                        # a TLS failure after the handshake

    @property
    def connections_open(self) -> int:
        return self.connections - self.connections_lost


# the counters of a connection whose receiver keeps none (tests driving the transport alone)
UNCOUNTED = BridgeCounters()
